/* libFuzzer: one line of an available-versions list (ls_version). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ls_version.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ls_version_line l;
	struct ls_version v;
	char why[128];
	int rv = ls_version_parse_line((const char *)data, size, &l, why,
	                               sizeof(why));

	/* A release's package version starts with its X.Y.Z. */
	if (rv == 1) {
		char s[LS_VERSION_STR_MAX];
		ls_version_fmt(&l.v, s, sizeof(s));
		if (strncmp(l.pkgver, s, strlen(s)) != 0 ||
		    memchr(l.pkgver, '\0', sizeof(l.pkgver)) == NULL)
			__builtin_trap();
	}
	if (rv < 0 && why[0] == '\0')
		__builtin_trap();
	ls_version_parse((const char *)data, size, &v);
	ls_version_parse_pkg((const char *)data, size, &v);
	return 0;
}
