/*
 * libFuzzer: the Geo check over arbitrary replies. The input is the sites
 * reply, a NUL byte, then the status reply (either may be invalid JSON,
 * which the check gets as NULL, as when GitLab's answer does not parse).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "check.h"
#include "check_geo_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	const char *nul = memchr(p, '\0', size);
	size_t n1 = nul ? (size_t)(nul - p) : size;
	json_t *sites = json_loadb(p, n1, 0, NULL);
	json_t *st = nul ? json_loadb(nul + 1, size - n1 - 1, 0, NULL) : NULL;
	struct check_report r = {0};
	size_t i;

	check_geo_eval(sites, st, &r);
	for (i = 0; i < r.n; i++) {
		/* Every check is one of ours, bounded and printable. */
		if (strncmp(r.items[i].name, "geo:replication", 15) != 0 ||
		    strlen(r.items[i].reason) > CHECK_REASON_MAX ||
		    r.items[i].status > CHECK_ST_FAIL)
			__builtin_trap();
	}
	/* One check per site at most, plus one for a list cut short. */
	if (r.n > GEO_SITES_MAX + 1)
		__builtin_trap();
	check_report_free(&r);
	json_decref(sites);
	json_decref(st);
	return 0;
}
