#include "ls_version.h"

#include <stdio.h>
#include <string.h>

#include "ls_error.h"
#include "ls_util.h"

#define LINE_MAX_LEN 1024
#define FIELDS_MAX 8

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* 1-5 digits, no leading zero unless it is a lone "0". */
static int number(const char **p, const char *end, int *out)
{
	const char *s = *p;
	int v = 0, n = 0;

	while (s < end && is_digit(*s)) {
		if (++n > 5)
			return 0;
		v = v * 10 + (*s - '0');
		s++;
	}
	if (n == 0 || (n > 1 && **p == '0'))
		return 0;
	*p = s;
	*out = v;
	return 1;
}

/* X.Y.Z at *p; *p moves past it. */
static int triple(const char **p, const char *end, struct ls_version *v)
{
	return number(p, end, &v->major) && *p < end && *(*p)++ == '.' &&
	       number(p, end, &v->minor) && *p < end && *(*p)++ == '.' &&
	       number(p, end, &v->patch);
}

int ls_version_parse(const char *s, size_t len, struct ls_version *v)
{
	const char *p = s, *end = s + len;

	memset(v, 0, sizeof(*v));
	if (s == NULL || len == 0 || len >= LS_VERSION_STR_MAX ||
	    !triple(&p, end, v) || p != end) {
		memset(v, 0, sizeof(*v));
		return LS_EINVAL;
	}
	return 0;
}

int ls_version_cmp_minor(const struct ls_version *a, const struct ls_version *b)
{
	if (a->major != b->major)
		return a->major < b->major ? -1 : 1;
	if (a->minor != b->minor)
		return a->minor < b->minor ? -1 : 1;
	return 0;
}

int ls_version_cmp(const struct ls_version *a, const struct ls_version *b)
{
	int c = ls_version_cmp_minor(a, b);

	if (c != 0)
		return c;
	if (a->patch != b->patch)
		return a->patch < b->patch ? -1 : 1;
	return 0;
}

void ls_version_fmt(const struct ls_version *v, char *buf, size_t len)
{
	snprintf(buf, len, "%d.%d.%d", v->major, v->minor, v->patch);
}

static int suffix_char(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') || c == '.' || c == '-' || c == '+' ||
	       c == '_' || c == '~';
}

int ls_version_parse_pkg(const char *s, size_t len, struct ls_version *v)
{
	const char *p = s, *end = s + len;

	memset(v, 0, sizeof(*v));
	if (s == NULL || len == 0 || len >= LS_PKGVER_MAX ||
	    !triple(&p, end, v))
		goto bad;
	if (p == end)
		return 1;
	if (*p != '-' && *p != '+')
		goto bad;
	for (const char *q = p + 1; q < end; q++)
		if (!suffix_char(*q))
			goto bad;
	if (end - p < 2)
		goto bad;
	/* "-rc42.ee.0", "+rc1.ee.0": a release candidate is never a stop. */
	if (end - p >= 3 && p[1] == 'r' && p[2] == 'c')
		return 0;
	return 1;
bad:
	memset(v, 0, sizeof(*v));
	return LS_EINVAL;
}

struct field {
	const char *s;
	size_t len;
};

static void trim(struct field *f)
{
	while (f->len > 0 && is_space(f->s[0])) {
		f->s++;
		f->len--;
	}
	while (f->len > 0 && is_space(f->s[f->len - 1]))
		f->len--;
}

/* Splits on sep (or on runs of blanks when sep is 0). */
static size_t split(const char *s, size_t len, char sep, struct field *f,
                    size_t max)
{
	size_t n = 0, i = 0;

	while (i <= len && n < max + 1) {
		size_t start;

		if (sep == 0) {
			while (i < len && is_space(s[i]))
				i++;
			if (i == len)
				break;
		}
		start = i;
		while (i < len && (sep ? s[i] != sep : !is_space(s[i])))
			i++;
		if (n < max) {
			f[n].s = s + start;
			f[n].len = i - start;
			trim(&f[n]);
		}
		n++;
		i++;
	}
	return n;
}

static int package_name(const struct field *f, int with_arch, char *out,
                        size_t outlen)
{
	size_t n = f->len, i;

	if (with_arch) {
		/* "gitlab-ee.x86_64": the name ends at the last dot. */
		while (n > 0 && f->s[n - 1] != '.')
			n--;
		if (n < 2)
			return LS_EINVAL;
		n--;
	}
	if (n == 0 || n >= outlen)
		return LS_EINVAL;
	for (i = 0; i < n; i++) {
		char c = f->s[i];
		if (!(is_digit(c) || (c >= 'a' && c <= 'z') || c == '-' ||
		      c == '+' || c == '.' || c == '_'))
			return LS_EINVAL;
	}
	memcpy(out, f->s, n);
	out[n] = '\0';
	return 0;
}

static int version_field(const struct field *f, struct ls_version_line *out,
                         char *why, size_t whylen)
{
	int rv = ls_version_parse_pkg(f->s, f->len, &out->v);

	if (rv < 0) {
		snprintf(why, whylen, "'%.*s' is not a version (X.Y.Z)",
		         (int)(f->len > 40 ? 40 : f->len), f->s);
		return rv;
	}
	if (rv == 0)
		return 0; /* a pre-release */
	memcpy(out->pkgver, f->s, f->len);
	out->pkgver[f->len] = '\0';
	return 1;
}

int ls_version_parse_line(const char *line, size_t len,
                          struct ls_version_line *out, char *why, size_t whylen)
{
	struct field all = {line, len}, f[FIELDS_MAX];
	size_t n;

	memset(out, 0, sizeof(*out));
	if (whylen > 0)
		why[0] = '\0';
	if (line == NULL || len > LINE_MAX_LEN) {
		snprintf(why, whylen, "line longer than %d bytes",
		         LINE_MAX_LEN);
		return LS_EINVAL;
	}
	if (memchr(line, '\0', len) != NULL) {
		snprintf(why, whylen, "NUL byte in the line");
		return LS_EINVAL;
	}
	trim(&all);
	if (all.len == 0 || all.s[0] == '#')
		return 0;
	/* yum's headings and notices start with a capital letter; package
	 * names never do. */
	if (all.s[0] >= 'A' && all.s[0] <= 'Z')
		return 0;
	if (memchr(all.s, '|', all.len) != NULL) {
		/* apt-cache madison: PACKAGE | VERSION | SOURCE */
		n = split(all.s, all.len, '|', f, FIELDS_MAX);
		if (n != 3 || package_name(&f[0], 0, out->package,
		                           sizeof(out->package)) < 0) {
			snprintf(why, whylen,
			         "not an apt-cache madison line "
			         "(PACKAGE | VERSION | SOURCE)");
			return LS_EINVAL;
		}
		return version_field(&f[1], out, why, whylen);
	}
	n = split(all.s, all.len, 0, f, FIELDS_MAX);
	if (n == 1)
		return version_field(&f[0], out, why, whylen);
	if (n == 3 && !is_digit(f[0].s[0])) {
		/* yum --showduplicates list: NAME.ARCH VERSION REPO */
		if (package_name(&f[0], 1, out->package, sizeof(out->package)) <
		    0) {
			snprintf(why, whylen,
			         "not a yum line (NAME.ARCH VERSION REPO)");
			return LS_EINVAL;
		}
		return version_field(&f[1], out, why, whylen);
	}
	snprintf(why, whylen,
	         "expected a version (X.Y.Z), an apt-cache madison line "
	         "or a yum list line");
	return LS_EINVAL;
}
