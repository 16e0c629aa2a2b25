/*
 * libFuzzer: GitLab's supported operating systems table (os_support).
 * Whatever the input, a parse either fails with an error naming the file
 * or yields rows that hold what os_support.h promises; every row then
 * answers the check for versions around its bounds as promised.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ls_error.h"
#include "os_support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_row(const struct os_support *s,
                      const struct os_release_support *r)
{
	struct ls_version v = {r->first_major, r->first_minor, 0};
	char last[LS_VERSION_STR_MAX];

	/* Its own first version is always packaged. */
	if (os_support_check(s, r->id, r->version_id, &v, last, sizeof(last)) !=
	    1)
		__builtin_trap();
	if (r->last_major >= 0) {
		v.major = r->last_major;
		v.minor = r->last_minor + 1;
		if (os_support_check(s, r->id, r->version_id, &v, last,
		                     sizeof(last)) != 0 ||
		    last[0] == '\0')
			__builtin_trap();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct os_support s;
	char err[512];
	int rv = os_support_parse("fuzz.txt", (const char *)data, size, &s, err,
	                          sizeof(err));

	if (rv < 0) {
		if (strncmp(err, "fuzz.txt", 8) != 0 || s.v != NULL || s.n != 0)
			__builtin_trap();
		return 0;
	}
	if (s.n == 0 || s.n > OS_SUPPORT_MAX)
		__builtin_trap();
	for (size_t i = 0; i < s.n; i++) {
		const struct os_release_support *r = &s.v[i];

		if (memchr(r->id, '\0', OS_ID_MAX) == NULL ||
		    memchr(r->version_id, '\0', OS_ID_MAX) == NULL ||
		    r->id[0] == '\0' || r->version_id[0] == '\0')
			__builtin_trap();
		check_row(&s, r);
	}
	os_support_free(&s);
	return 0;
}
