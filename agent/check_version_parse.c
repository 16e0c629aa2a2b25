#include "check_version_parse.h"

#include <string.h>

#include <jansson.h>

#include "ls_error.h"

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int is_alnum(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* 1-5 digits, no leading zeros beyond a lone "0". */
static int component(const char **p, const char *end, int *out)
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

static void set_edition(struct gitlab_version *v, const char *ed)
{
	memcpy(v->edition, ed, 3);
	memcpy(v->package, "gitlab-", 7);
	memcpy(v->package + 7, ed, 3);
}

int check_version_parse_build(const char *s, size_t len,
                              struct gitlab_version *v)
{
	const char *p = s, *end = s + len, *vend;
	int ee = 0, ce = 0;

	memset(v, 0, sizeof(*v));
	if (s == NULL || len == 0 || len > 64)
		return LS_EINVAL;
	if (!component(&p, end, &v->major) || p == end || *p++ != '.' ||
	    !component(&p, end, &v->minor) || p == end || *p++ != '.' ||
	    !component(&p, end, &v->patch))
		goto bad;
	vend = p;
	if (p < end) {
		if (*p != '-' && *p != '+')
			goto bad;
		p++;
		/* Dot-separated alphanumeric tokens; ee/ce names the edition.
		 */
		for (;;) {
			const char *t = p;

			while (p < end && is_alnum(*p))
				p++;
			if (p == t)
				goto bad;
			if (p - t == 2 && memcmp(t, "ee", 2) == 0)
				ee = 1;
			if (p - t == 2 && memcmp(t, "ce", 2) == 0)
				ce = 1;
			if (p == end)
				break;
			if (*p++ != '.')
				goto bad;
		}
		if (ee && ce)
			goto bad;
	}
	memcpy(v->version, s, (size_t)(vend - s));
	v->version[vend - s] = '\0';
	if (ee)
		set_edition(v, "ee");
	else if (ce)
		set_edition(v, "ce");
	return 0;
bad:
	memset(v, 0, sizeof(*v));
	return LS_EINVAL;
}

int check_version_parse_manifest_json(const char *buf, size_t len,
                                      struct gitlab_version *v)
{
	json_error_t jerr;
	json_t *root, *bv;
	int rv = LS_EINVAL;

	memset(v, 0, sizeof(*v));
	root = json_loadb(buf, len, 0, &jerr);
	if (root == NULL)
		return LS_EINVAL;
	bv = json_object_get(root, "build_version");
	if (json_is_string(bv))
		rv = check_version_parse_build(json_string_value(bv),
		                               json_string_length(bv), v);
	json_decref(root);
	return rv;
}

int check_version_parse_manifest_txt(const char *buf, size_t len,
                                     struct gitlab_version *v)
{
	const char *nl = memchr(buf, '\n', len);
	size_t ll = nl ? (size_t)(nl - buf) : len;

	if (ll >= 10 && memcmp(buf, "gitlab-", 7) == 0 && buf[9] == ' ' &&
	    (memcmp(buf + 7, "ee", 2) == 0 || memcmp(buf + 7, "ce", 2) == 0)) {
		char ed[3] = {buf[7], buf[8], '\0'};
		set_edition(v, ed);
		return 0;
	}
	return LS_EINVAL;
}
