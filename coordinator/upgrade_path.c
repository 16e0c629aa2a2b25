/*
 * The upgrade path through GitLab's required stops (see upgrade_path.h),
 * the list of versions a package repository offers, and where the shipped
 * copies of GitLab's data live.
 */
#include "upgrade_path.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ls_error.h"
#include "ls_util.h"

#ifndef LOCKSTEP_DATADIR
#define LOCKSTEP_DATADIR "/usr/local/share/lockstep"
#endif

/* ---- available versions --------------------------------------------- */

/* Index of the first entry >= v (a->n when none). */
static size_t lower_bound(const struct up_available *a,
                          const struct ls_version *v)
{
	size_t lo = 0, hi = a->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ls_version_cmp(&a->v[mid].v, v) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int up_available_add(struct up_available *a, const struct ls_version_line *l)
{
	size_t at;

	/* Lists come in order: appending is the common case. */
	if (a->n > 0 && ls_version_cmp(&a->v[a->n - 1].v, &l->v) < 0)
		at = a->n;
	else
		at = lower_bound(a, &l->v);
	if (at < a->n && ls_version_cmp(&a->v[at].v, &l->v) == 0)
		return 0;
	if (a->n >= UP_AVAILABLE_MAX)
		return LS_ETOOBIG;
	if (a->n == a->cap) {
		size_t nc = a->cap ? a->cap * 2 : 256;
		struct ls_version_line *nv = realloc(a->v, nc * sizeof(*nv));

		if (nv == NULL)
			return LS_ENOMEM;
		a->v = nv;
		a->cap = nc;
	}
	memmove(&a->v[at + 1], &a->v[at], (a->n - at) * sizeof(*a->v));
	a->v[at] = *l;
	a->n++;
	return 0;
}

const struct ls_version_line *up_available_find(const struct up_available *a,
                                                const struct ls_version *v)
{
	size_t at = lower_bound(a, v);

	if (at < a->n && ls_version_cmp(&a->v[at].v, v) == 0)
		return &a->v[at];
	return NULL;
}

int up_available_parse(const char *name, const char *buf, size_t len,
                       struct up_available *a, char *err, size_t errlen)
{
	const char *p = buf, *end = buf + len;
	unsigned long line = 0;
	int rv = 0;

	if (errlen > 0)
		err[0] = '\0';
	if (buf == NULL || len > UP_AVAILABLE_FILE_MAX) {
		snprintf(err, errlen, "%s: larger than %d bytes", name,
		         UP_AVAILABLE_FILE_MAX);
		rv = LS_ETOOBIG;
		goto out;
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct ls_version_line l;
		char why[128];
		int got;

		line++;
		got = ls_version_parse_line(p, n, &l, why, sizeof(why));
		if (got < 0) {
			snprintf(err, errlen, "%s:%lu: %s", name, line, why);
			rv = got;
			goto out;
		}
		if (got == 1 && (rv = up_available_add(a, &l)) < 0) {
			snprintf(err, errlen, "%s:%lu: %s", name, line,
			         rv == LS_ETOOBIG ? "too many versions"
			                          : ls_strerror(rv));
			goto out;
		}
		p += n + (nl != NULL);
	}
	if (a->n == 0) {
		snprintf(err, errlen, "%s: no release versions in the list",
		         name);
		rv = LS_EINVAL;
	}
out:
	if (rv < 0)
		up_available_free(a);
	return rv;
}

int up_available_load(const char *path, struct up_available *a, char *err,
                      size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	int rv;

	if ((rv = ls_read_file(path, UP_AVAILABLE_FILE_MAX, &buf, &len)) < 0) {
		snprintf(err, errlen, "%s: %s", path, ls_strerror(rv));
		up_available_free(a);
		return rv;
	}
	rv = up_available_parse(path, buf, len, a, err, errlen);
	free(buf);
	return rv;
}

void up_available_free(struct up_available *a)
{
	if (a == NULL)
		return;
	free(a->v);
	memset(a, 0, sizeof(*a));
}

/* ---- the path ------------------------------------------------------- */

/*
 * Stops GitLab's upgrade paths page lists for some instances only, with
 * the instances it names. They are not in upgrade_path.yml and GitLab's
 * tool never routes through them: we warn when a path goes past one.
 */
static const struct {
	struct ls_version v;
	const char *who;
} conditional[] = {
    {{15, 1, 6}, "GitLab instances with multiple web nodes"},
    {{16, 0, 10},
     "instances with lots of users or large pipeline variables history"},
    {{16, 1, 8}, "instances with NPM packages in their package registry"},
    {{16, 2, 11}, "instances with large pipeline variables history"},
};

const char *up_why_str(enum up_step_why why)
{
	switch (why) {
	case UP_WHY_STOP:
		return "required upgrade stop";
	case UP_WHY_CURRENT_MINOR_PATCH:
		return "latest patch of your current minor";
	case UP_WHY_TARGET:
		return "the target";
	}
	return "?";
}

__attribute__((format(printf, 2, 3))) static int note(struct up_path *p,
                                                      const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return ls_names_push(&p->notes, &p->nnotes, &p->notes_cap, buf);
}

static void add_step(struct up_path *p, const struct ls_version *v,
                     enum up_step_why why, const char *comment)
{
	struct up_path_step *st = &p->steps[p->n++];

	st->v = *v;
	st->why = why;
	ls_strlcpy(st->comment, comment ? comment : "", sizeof(st->comment));
}

/* The stop of to's minor, for its comment on the last step. */
static const struct up_stop *stop_of(const struct up_stops *s,
                                     const struct ls_version *v)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].major == v->major && s->v[i].minor == v->minor)
			return &s->v[i];
	return NULL;
}

/* Warnings about the versions between from and to; not the path itself. */
static int path_notes(const struct up_stops *s, const struct up_available *a,
                      const struct ls_version *from,
                      const struct ls_version *to, struct up_path *p)
{
	char vs[LS_VERSION_STR_MAX], mm[32];
	int rv = 0;

	for (size_t i = 0; i < s->n && rv == 0; i++) {
		struct ls_version m = {s->v[i].major, s->v[i].minor, 0};
		size_t at = lower_bound(a, &m);

		if (ls_version_cmp_minor(&m, from) <= 0 ||
		    ls_version_cmp_minor(&m, to) >= 0)
			continue;
		if (at < a->n && ls_version_cmp_minor(&a->v[at].v, &m) == 0)
			continue;
		snprintf(mm, sizeof(mm), "%d.%d", m.major, m.minor);
		rv = note(p,
		          "required stop %s skipped: no %s release in the "
		          "available list (GitLab's tool skips it too; check "
		          "your package repository)",
		          mm, mm);
	}
	/*
	 * An older patch of the conditional minor counts as before it: the
	 * fix the stop is for came in that patch.
	 */
	for (size_t i = 0;
	     i < sizeof(conditional) / sizeof(conditional[0]) && rv == 0; i++) {
		const struct ls_version *c = &conditional[i].v;

		if (ls_version_cmp(from, c) >= 0 ||
		    ls_version_cmp_minor(to, c) <= 0)
			continue;
		ls_version_fmt(c, vs, sizeof(vs));
		rv = note(p,
		          "conditional stop %s: GitLab's upgrade paths page "
		          "lists it as a required stop for %s; if that is "
		          "you, upgrade to it before the next step",
		          vs, conditional[i].who);
	}
	return rv;
}

int up_path_compute(const struct up_stops *s, const struct up_available *a,
                    const struct ls_version *from, const struct ls_version *to,
                    struct up_path *p, char *err, size_t errlen)
{
	char fs[LS_VERSION_STR_MAX], ts[LS_VERSION_STR_MAX];
	int rv = LS_EINVAL;

	memset(p, 0, sizeof(*p));
	if (errlen > 0)
		err[0] = '\0';
	ls_version_fmt(from, fs, sizeof(fs));
	ls_version_fmt(to, ts, sizeof(ts));
	if (up_available_find(a, from) == NULL) {
		snprintf(err, errlen, "%s is not in the available versions",
		         fs);
		goto out;
	}
	if (up_available_find(a, to) == NULL) {
		snprintf(err, errlen, "%s is not in the available versions",
		         ts);
		goto out;
	}
	if (ls_version_cmp(to, from) < 0) {
		snprintf(err, errlen,
		         "%s is older than %s: that is a downgrade, not an "
		         "upgrade; use `lockstep rollback` to return to a "
		         "backup taken on %s",
		         ts, fs, ts);
		goto out;
	}
	if (ls_version_cmp(to, from) == 0) {
		rv = note(p, "already at %s: nothing to upgrade", fs);
		goto out;
	}
	rv = LS_ENOMEM;
	if ((p->steps = calloc(s->n + 1, sizeof(*p->steps))) == NULL)
		goto out;
	for (size_t i = 0; i < s->n; i++) {
		struct ls_version m = {s->v[i].major, s->v[i].minor, 0};
		size_t at = lower_bound(a, &m), last = at;

		/* The stop's latest released patch, if it has any. */
		while (last < a->n &&
		       ls_version_cmp_minor(&a->v[last].v, &m) == 0)
			last++;
		if (last == at)
			continue;
		m = a->v[last - 1].v;
		if (ls_version_cmp(&m, from) <= 0 ||
		    ls_version_cmp(&m, to) >= 0)
			continue;
		add_step(p, &m,
		         ls_version_cmp_minor(&m, from) == 0
		             ? UP_WHY_CURRENT_MINOR_PATCH
		             : UP_WHY_STOP,
		         s->v[i].comment);
	}
	{
		const struct up_stop *ts_stop = stop_of(s, to);

		add_step(p, to, UP_WHY_TARGET,
		         ts_stop ? ts_stop->comment : NULL);
	}
	rv = path_notes(s, a, from, to, p);
out:
	if (rv < 0)
		up_path_free(p);
	return rv;
}

void up_path_free(struct up_path *p)
{
	if (p == NULL)
		return;
	free(p->steps);
	ls_names_free(p->notes, p->nnotes);
	memset(p, 0, sizeof(*p));
}

/* ---- shipped data ------------------------------------------------------ */

/* FILE in the executable's ../share/lockstep, when it is there. */
static int beside_exe(const char *file, char *out, size_t outlen)
{
	char exe[PATH_MAX], dir[PATH_MAX], real[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n <= 0)
		return LS_ENOENT;
	exe[n] = '\0';
	if ((slash = strrchr(exe, '/')) == NULL)
		return LS_ENOENT;
	*slash = '\0';
	if (ls_fmt(dir, sizeof(dir), "%s/../share/lockstep", exe) < 0 ||
	    realpath(dir, real) == NULL ||
	    ls_fmt(out, outlen, "%s/%s", real, file) < 0 ||
	    access(out, R_OK) != 0)
		return LS_ENOENT;
	return 0;
}

int up_data_path(const char *file, char *out, size_t outlen)
{
	if (beside_exe(file, out, outlen) == 0)
		return 0;
	return ls_fmt(out, outlen, "%s/%s", LOCKSTEP_DATADIR, file);
}
