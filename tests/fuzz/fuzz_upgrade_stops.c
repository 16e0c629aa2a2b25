/*
 * libFuzzer: GitLab's upgrade_path.yml and available-versions lists
 * (upgrade_path). The input is a stops file, a NUL, then a version list;
 * when both parse, every path between the first and last versions is
 * checked against what upgrade_path.h promises.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "upgrade_path.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_path(const struct up_stops *s, const struct up_available *a,
                       const struct ls_version *from,
                       const struct ls_version *to)
{
	struct up_path p;
	char err[512];
	int rv = up_path_compute(s, a, from, to, &p, err, sizeof(err));

	if (rv < 0) {
		/* Only a downgrade is refused: both are in the list. */
		if (ls_version_cmp(to, from) >= 0 || err[0] == '\0')
			__builtin_trap();
		return;
	}
	if (ls_version_cmp(to, from) == 0 && (p.n != 0 || p.nnotes == 0))
		__builtin_trap();
	for (size_t i = 0; i < p.n; i++) {
		const struct ls_version *prev = i ? &p.steps[i - 1].v : from;

		/* Strictly ascending, each step offered, the target last. */
		if (ls_version_cmp(prev, &p.steps[i].v) >= 0 ||
		    up_available_find(a, &p.steps[i].v) == NULL ||
		    memchr(p.steps[i].comment, '\0', UP_COMMENT_MAX) == NULL)
			__builtin_trap();
	}
	if (p.n > 0 && (ls_version_cmp(&p.steps[p.n - 1].v, to) != 0 ||
	                p.steps[p.n - 1].why != UP_WHY_TARGET))
		__builtin_trap();
	up_path_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	const char *nul = memchr(buf, '\0', size);
	size_t slen = nul ? (size_t)(nul - buf) : size;
	struct up_stops s;
	struct up_available a = {0};
	char err[512];
	int srv, arv;

	srv = up_stops_parse("fuzz.yml", buf, slen, &s, err, sizeof(err));
	if (srv < 0 && err[0] == '\0')
		__builtin_trap();
	for (size_t i = 1; srv == 0 && i < s.n; i++)
		if (s.v[i - 1].major > s.v[i].major ||
		    (s.v[i - 1].major == s.v[i].major &&
		     s.v[i - 1].minor >= s.v[i].minor))
			__builtin_trap();
	arv = up_available_parse("fuzz.txt", nul ? nul + 1 : buf,
	                         nul ? size - slen - 1 : size, &a, err,
	                         sizeof(err));
	if (arv < 0 && (err[0] == '\0' || a.n != 0 || a.v != NULL))
		__builtin_trap();
	for (size_t i = 1; arv == 0 && i < a.n; i++)
		if (ls_version_cmp(&a.v[i - 1].v, &a.v[i].v) >= 0)
			__builtin_trap();
	if (srv == 0 && arv == 0 && a.n > 0) {
		check_path(&s, &a, &a.v[0].v, &a.v[a.n - 1].v);
		check_path(&s, &a, &a.v[a.n / 2].v, &a.v[a.n - 1].v);
		check_path(&s, &a, &a.v[a.n - 1].v, &a.v[0].v);
	}
	if (srv == 0)
		up_stops_free(&s);
	up_available_free(&a);
	return 0;
}
