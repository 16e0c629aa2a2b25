/* The gitlab.yml object storage reader on arbitrary input. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "backup_objstore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct backup_objstore o;
	char err[256];
	const char *const *t;

	if (size > 64 * 1024)
		return 0;
	if (backup_objstore_parse("fuzz.yml", (const char *)data, size, &o, err,
	                          sizeof(err)) == 0) {
		for (t = backup_objstore_types(); *t != NULL; t++)
			(void)backup_objstore_enabled(&o, *t);
	} else if (o.mask != 0) {
		__builtin_trap(); /* an error must enable nothing */
	}
	return 0;
}
