/*
 * GitLab's supported operating systems table (see os_support.h): the
 * parser, the check, and where the shipped copy lives.
 */
#include "os_support.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ls_error.h"
#include "ls_util.h"
#include "upgrade_path.h"

#define FIELDS 4

/* os-release(5): ID and VERSION_ID are lowercase letters, digits, '.',
 * '_' and '-'; anything else is a typo or not an os-release value. */
static int valid_os_token(const char *t, size_t n)
{
	size_t i;

	if (n == 0 || n >= OS_ID_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		char c = t[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* One number of X.Y: 1-5 digits, no leading zero (as ls_version_parse). */
static int parse_num(const char *t, size_t n, int *out)
{
	size_t i;
	int v = 0;

	if (n == 0 || n > 5 || (n > 1 && t[0] == '0'))
		return -1;
	for (i = 0; i < n; i++) {
		if (t[i] < '0' || t[i] > '9')
			return -1;
		v = v * 10 + (t[i] - '0');
	}
	*out = v;
	return 0;
}

/* Exactly "X.Y". */
static int parse_minor(const char *t, size_t n, int *major, int *minor)
{
	const char *dot = memchr(t, '.', n);

	if (dot == NULL)
		return -1;
	return parse_num(t, (size_t)(dot - t), major) < 0 ||
	               parse_num(dot + 1, n - (size_t)(dot - t) - 1, minor) < 0
	           ? -1
	           : 0;
}

static int cmp_minor(int amaj, int amin, int bmaj, int bmin)
{
	if (amaj != bmaj)
		return amaj < bmaj ? -1 : 1;
	return amin < bmin ? -1 : amin > bmin;
}

static const struct os_release_support *
find_exact(const struct os_support *s, const char *id, const char *vid)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->v[i].id, id) == 0 &&
		    strcmp(s->v[i].version_id, vid) == 0)
			return &s->v[i];
	return NULL;
}

/* Parses one non-comment line of n bytes into r; why set on failure. */
static int parse_row(const char *p, size_t n, struct os_release_support *r,
                     const char **why)
{
	const char *tok[FIELDS];
	size_t tlen[FIELDS], nt = 0, i = 0;

	while (i < n) {
		while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r'))
			i++;
		if (i == n)
			break;
		if (nt == FIELDS) {
			*why = "more than 4 fields (ID VERSION_ID FIRST LAST)";
			return LS_EINVAL;
		}
		tok[nt] = p + i;
		while (i < n && p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
			i++;
		tlen[nt] = (size_t)(p + i - tok[nt]);
		nt++;
	}
	if (nt != FIELDS) {
		*why = "expected 4 fields: ID VERSION_ID FIRST LAST";
		return LS_EINVAL;
	}
	if (!valid_os_token(tok[0], tlen[0])) {
		*why = "ID is not an os-release ID ([a-z0-9._-], < 64 bytes)";
		return LS_EINVAL;
	}
	if (!valid_os_token(tok[1], tlen[1])) {
		*why = "VERSION_ID is not an os-release VERSION_ID "
		       "([a-z0-9._-], < 64 bytes)";
		return LS_EINVAL;
	}
	memcpy(r->id, tok[0], tlen[0]);
	r->id[tlen[0]] = '\0';
	memcpy(r->version_id, tok[1], tlen[1]);
	r->version_id[tlen[1]] = '\0';
	if (parse_minor(tok[2], tlen[2], &r->first_major, &r->first_minor) <
	    0) {
		*why = "FIRST is not a GitLab version X.Y";
		return LS_EINVAL;
	}
	if (tlen[3] == 1 && tok[3][0] == '-') {
		r->last_major = r->last_minor = -1;
		return 0;
	}
	if (parse_minor(tok[3], tlen[3], &r->last_major, &r->last_minor) < 0) {
		*why = "LAST is not a GitLab version X.Y or -";
		return LS_EINVAL;
	}
	if (cmp_minor(r->last_major, r->last_minor, r->first_major,
	              r->first_minor) < 0) {
		*why = "LAST is older than FIRST";
		return LS_EINVAL;
	}
	return 0;
}

int os_support_parse(const char *name, const char *buf, size_t len,
                     struct os_support *s, char *err, size_t errlen)
{
	const char *p = buf, *end = buf + len;
	unsigned long line = 0;
	size_t cap = 0;
	int rv = 0;

	if (errlen > 0)
		err[0] = '\0';
	if (s == NULL)
		return LS_EINVAL;
	memset(s, 0, sizeof(*s));
	if (buf == NULL || len > OS_SUPPORT_FILE_MAX) {
		snprintf(err, errlen, "%s: larger than %d bytes", name,
		         OS_SUPPORT_FILE_MAX);
		return LS_ETOOBIG;
	}
	/* A NUL would end the fields early and hide what follows it. */
	if (memchr(buf, '\0', len) != NULL) {
		snprintf(err, errlen, "%s: contains a NUL byte", name);
		return LS_EINVAL;
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p), i = 0;
		struct os_release_support r;
		const char *why = NULL, *l = p;

		line++;
		if (n > OS_SUPPORT_LINE_MAX) {
			snprintf(err, errlen, "%s:%lu: longer than %d bytes",
			         name, line, OS_SUPPORT_LINE_MAX);
			rv = LS_ETOOBIG;
			goto out;
		}
		p += n + (nl != NULL);
		while (i < n && (l[i] == ' ' || l[i] == '\t' || l[i] == '\r'))
			i++;
		if (i == n || l[i] == '#')
			continue;
		if ((rv = parse_row(l, n, &r, &why)) < 0) {
			snprintf(err, errlen, "%s:%lu: %s", name, line, why);
			goto out;
		}
		if (find_exact(s, r.id, r.version_id) != NULL) {
			snprintf(err, errlen, "%s:%lu: %s %s listed twice",
			         name, line, r.id, r.version_id);
			rv = LS_EINVAL;
			goto out;
		}
		if (s->n >= OS_SUPPORT_MAX) {
			snprintf(err, errlen,
			         "%s:%lu: more than %d OS releases", name, line,
			         OS_SUPPORT_MAX);
			rv = LS_ETOOBIG;
			goto out;
		}
		if (s->n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			struct os_release_support *nv =
			    realloc(s->v, nc * sizeof(*nv));

			if (nv == NULL) {
				snprintf(err, errlen, "%s:%lu: out of memory",
				         name, line);
				rv = LS_ENOMEM;
				goto out;
			}
			s->v = nv;
			cap = nc;
		}
		s->v[s->n++] = r;
	}
	if (s->n == 0) {
		snprintf(err, errlen, "%s: no OS releases in the table", name);
		rv = LS_EINVAL;
	}
out:
	if (rv < 0)
		os_support_free(s);
	return rv;
}

int os_support_load(const char *path, struct os_support *s, char *err,
                    size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	int rv;

	if (s == NULL || path == NULL)
		return LS_EINVAL;
	memset(s, 0, sizeof(*s));
	if ((rv = ls_read_file(path, OS_SUPPORT_FILE_MAX, &buf, &len)) < 0) {
		snprintf(err, errlen, "%s: %s", path, ls_strerror(rv));
		return rv;
	}
	rv = os_support_parse(path, buf, len, s, err, errlen);
	free(buf);
	return rv;
}

void os_support_free(struct os_support *s)
{
	if (s == NULL)
		return;
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* The row for a node's os-release values: the exact one, else the
 * major-only row ("9") for a point release ("9.4"), see os_support.h. */
static const struct os_release_support *
find_row(const struct os_support *s, const char *id, const char *vid)
{
	const struct os_release_support *r = find_exact(s, id, vid);
	const char *dot;
	size_t i, n;

	if (r != NULL)
		return r;
	if ((dot = strchr(vid, '.')) == NULL)
		return NULL;
	n = (size_t)(dot - vid);
	for (i = 0; i < s->n; i++)
		if (strcmp(s->v[i].id, id) == 0 &&
		    strlen(s->v[i].version_id) == n &&
		    memcmp(s->v[i].version_id, vid, n) == 0)
			return &s->v[i];
	return NULL;
}

int os_support_check(const struct os_support *s, const char *os_id,
                     const char *version_id, const struct ls_version *v,
                     char *last, size_t lastlen)
{
	const struct os_release_support *r;
	int rv;

	if (s == NULL || os_id == NULL || version_id == NULL || v == NULL ||
	    last == NULL || lastlen == 0)
		return LS_EINVAL;
	last[0] = '\0';
	if ((r = find_row(s, os_id, version_id)) == NULL)
		return LS_ENOENT;
	if (cmp_minor(v->major, v->minor, r->first_major, r->first_minor) < 0) {
		rv = ls_fmt(last, lastlen, "%d.%d", r->first_major,
		            r->first_minor);
		return rv < 0 ? rv : 0;
	}
	if (r->last_major < 0)
		return 1;
	rv = ls_fmt(last, lastlen, "%d.%d", r->last_major, r->last_minor);
	if (rv < 0)
		return rv;
	return cmp_minor(v->major, v->minor, r->last_major, r->last_minor) <= 0;
}

const char *os_support_data_path(void)
{
	static _Thread_local char path[LS_PATH_MAX];

	if (up_data_path(OS_SUPPORT_FILE, path, sizeof(path)) < 0)
		return NULL;
	return path;
}
