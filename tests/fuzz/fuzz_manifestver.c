/* libFuzzer: build_version parser, the JSON manifest and the txt line. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "check_version_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gitlab_version v;
	const char *p = (const char *)data;

	if (check_version_parse_build(p, size, &v) == 0) {
		/* An accepted version is X.Y.Z with nothing else. */
		if (strlen(v.version) < 5 || strlen(v.version) > size ||
		    memcmp(v.version, p, strlen(v.version)) != 0)
			__builtin_trap();
	}
	check_version_parse_manifest_json(p, size, &v);
	check_version_parse_manifest_txt(p, size, &v);
	return 0;
}
