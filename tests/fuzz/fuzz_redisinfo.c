/* Fuzzes the parser of Redis `INFO persistence` replies. */
#include <stddef.h>
#include <stdint.h>

#include "check_redisinfo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct redis_persistence p;
	char val[64];

	(void)check_redisinfo_persistence((const char *)data, size, &p);
	(void)check_redisinfo_get((const char *)data, size, "loading", val,
	                          sizeof(val));
	return 0;
}
