/*
 * The parsers of a restore's input, which may come from anywhere (an
 * imported backup, a damaged disk): gitaly-backup's TOML manifests, .refs
 * files and bundle headers. Only the TOML gitaly's go-toml v2 and
 * backup_repos_toml_str write is needed: one "key = value" a line, bare
 * keys, [[steps]] tables; anything else is refused or, for unknown keys,
 * skipped. Every error names the file and line (tests/fuzz).
 */
#include <stdlib.h>
#include <string.h>

#include "backup_repos.h"
#include "ls_error.h"
#include "ls_util.h"
#include "restore_repos.h"

int restore_repos_path_ok(const char *p)
{
	const char *c = p, *slash;
	size_t n = strlen(p), i, len;

	if (n == 0 || n > RESTORE_REPOS_PATH_MAX || p[0] == '/')
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return 0;
	/* Joined to <backup>/repositories: no way out of it. */
	for (;;) {
		slash = strchr(c, '/');
		len = slash ? (size_t)(slash - c) : strlen(c);
		if (len == 0 || (len == 1 && c[0] == '.') ||
		    (len == 2 && c[0] == '.' && c[1] == '.'))
			return 0;
		if (slash == NULL)
			return 1;
		c = slash + 1;
	}
}

static void ws(const char **p, const char *end)
{
	while (*p < end && (**p == ' ' || **p == '\t'))
		(*p)++;
}

/* Appends the UTF-8 of code point cp; 0, or <0 for one TOML refuses. */
static int put_utf8(char *out, size_t *o, unsigned long cp)
{
	if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return LS_EPROTO;
	if (cp < 0x80) {
		out[(*o)++] = (char)cp;
	} else if (cp < 0x800) {
		out[(*o)++] = (char)(0xc0 | (cp >> 6));
		out[(*o)++] = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		out[(*o)++] = (char)(0xe0 | (cp >> 12));
		out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[(*o)++] = (char)(0x80 | (cp & 0x3f));
	} else {
		out[(*o)++] = (char)(0xf0 | (cp >> 18));
		out[(*o)++] = (char)(0x80 | ((cp >> 12) & 0x3f));
		out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[(*o)++] = (char)(0x80 | (cp & 0x3f));
	}
	return 0;
}

/*
 * A one-line string at *p: 'literal' or "basic". *out is a new string (no
 * NUL inside; an escape never makes one longer than its source).
 */
static int toml_str(const char **p, const char *end, char **out,
                    const char **why)
{
	const char *s = *p;
	char q = *s++, *o;
	size_t n = 0;
	int rv = LS_EPROTO;

	*out = NULL;
	if ((o = malloc((size_t)(end - s) + 1)) == NULL)
		return LS_ENOMEM;
	*why = "unterminated string";
	while (s < end && *s != q) {
		unsigned char ch = (unsigned char)*s;

		if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
			*why = "control character in a string";
			goto out;
		}
		if (q == '\'' || ch != '\\') {
			o[n++] = *s++;
			continue;
		}
		if (++s >= end)
			goto out;
		switch (*s) {
		case 'b':
		case 't':
		case 'n':
		case 'f':
		case 'r':
			o[n++] = *s == 'b'   ? '\b'
			         : *s == 't' ? '\t'
			         : *s == 'n' ? '\n'
			         : *s == 'f' ? '\f'
			                     : '\r';
			s++;
			break;
		case '"':
		case '\\':
			o[n++] = *s++;
			break;
		case 'u':
		case 'U': {
			size_t k, digits = *s == 'u' ? 4 : 8;
			unsigned long cp = 0;

			*why = "bad \\u escape";
			if ((size_t)(end - s) <= digits)
				goto out;
			for (k = 1; k <= digits; k++) {
				char h = s[k];
				int v = h >= '0' && h <= '9'   ? h - '0'
				        : h >= 'a' && h <= 'f' ? h - 'a' + 10
				        : h >= 'A' && h <= 'F' ? h - 'A' + 10
				                               : -1;
				if (v < 0)
					goto out;
				cp = cp * 16 + (unsigned long)v;
			}
			/* \uXXXX is 6 bytes of source, at most 4 of UTF-8. */
			if (put_utf8(o, &n, cp) < 0)
				goto out;
			s += digits + 1;
			break;
		}
		default:
			*why = "unknown escape";
			goto out;
		}
	}
	if (s >= end)
		goto out;
	o[n] = '\0';
	*p = s + 1;
	*out = o;
	o = NULL;
	rv = 0;
out:
	free(o);
	return rv;
}

void restore_repos_manifest_free(struct restore_repos_manifest *m)
{
	size_t i;

	for (i = 0; i < m->nsteps; i++) {
		free(m->steps[i].bundle);
		free(m->steps[i].refs);
		free(m->steps[i].prev_refs);
		free(m->steps[i].hooks);
	}
	free(m->steps);
	free(m->head);
	memset(m, 0, sizeof(*m));
}

/* Where a known key's value goes; NULL for an unknown key. */
static char **manifest_slot(struct restore_repos_manifest *m, int in_steps,
                            const char *key, size_t klen, int **flag)
{
	struct restore_repos_step *st =
	    m->nsteps ? &m->steps[m->nsteps - 1] : NULL;

	*flag = NULL;
#define KEY(k) (klen == sizeof(k) - 1 && memcmp(key, k, klen) == 0)
	if (in_steps == 1) {
		if (KEY("bundle_path"))
			return &st->bundle;
		if (KEY("ref_path"))
			return &st->refs;
		if (KEY("previous_ref_path"))
			return &st->prev_refs;
		if (KEY("custom_hooks_path"))
			return &st->hooks;
	} else if (in_steps == 0) {
		if (KEY("empty"))
			*flag = &m->empty;
		else if (KEY("non_existent"))
			*flag = &m->non_existent;
		else if (KEY("head_reference"))
			return &m->head;
	}
#undef KEY
	return NULL;
}

static int manifest_table(struct restore_repos_manifest *m, const char *p,
                          const char *end, int *in_steps, const char **why)
{
	struct restore_repos_step *nv;

	if (end - p >= 9 && memcmp(p, "[[steps]]", 9) == 0) {
		p += 9;
		ws(&p, end);
		if (p < end && *p != '#') {
			*why = "text after a table header";
			return LS_EPROTO;
		}
		if (m->nsteps >= RESTORE_REPOS_MAX_STEPS) {
			*why = "too many steps";
			return LS_ETOOBIG;
		}
		nv = realloc(m->steps, (m->nsteps + 1) * sizeof(*nv));
		if (nv == NULL)
			return LS_ENOMEM;
		m->steps = nv;
		memset(&m->steps[m->nsteps++], 0, sizeof(*nv));
		*in_steps = 1;
		return 0;
	}
	/* Another table: its keys are not ours. */
	if (memchr(p, ']', (size_t)(end - p)) == NULL) {
		*why = "unterminated table header";
		return LS_EPROTO;
	}
	*in_steps = 2;
	return 0;
}

static int manifest_line(struct restore_repos_manifest *m, const char *p,
                         const char *end, int *in_steps, const char **why)
{
	const char *key = p;
	char *str = NULL, **slot, fmt_key = 0;
	int *flag = NULL, rv = 0;
	size_t klen;

	while (p < end &&
	       ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
	        (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
		p++;
	klen = (size_t)(p - key);
	ws(&p, end);
	if (klen == 0 || p >= end || *p != '=') {
		*why = "not a key = value line";
		return LS_EPROTO;
	}
	p++;
	ws(&p, end);
	slot = manifest_slot(m, *in_steps, key, klen, &flag);
	fmt_key = *in_steps == 0 && klen == 13 &&
	          memcmp(key, "object_format", 13) == 0;
	if (p < end && (*p == '\'' || *p == '"')) {
		if ((rv = toml_str(&p, end, &str, why)) < 0)
			goto out;
	} else if (flag != NULL && end - p >= 4 && memcmp(p, "true", 4) == 0) {
		*flag = 1;
		p += 4;
	} else if (flag != NULL && end - p >= 5 && memcmp(p, "false", 5) == 0) {
		*flag = 0;
		p += 5;
	} else if (flag != NULL || slot != NULL || fmt_key) {
		*why = "value of the wrong type";
		rv = LS_EPROTO;
		goto out;
	} else {
		p = end; /* an unknown key's value, whatever it is */
	}
	ws(&p, end);
	if (p < end && *p != '#') {
		*why = "text after the value";
		rv = LS_EPROTO;
		goto out;
	}
	if (str != NULL && flag != NULL) {
		*why = "value of the wrong type";
		rv = LS_EPROTO;
	} else if (fmt_key) {
		if (strcmp(str, "sha1") != 0 && strcmp(str, "sha256") != 0) {
			*why = "unknown object_format";
			rv = LS_EPROTO;
		} else {
			ls_strlcpy(m->fmt, str, sizeof(m->fmt));
		}
	} else if (slot != NULL && *slot != NULL) {
		*why = "key given twice";
		rv = LS_EPROTO;
	} else if (slot != NULL && str[0] != '\0') {
		/* An empty string is an absent path (and HEAD). */
		if (slot == &m->head
		        ? !backup_repos_refname_ok(str, strlen(str))
		        : !restore_repos_path_ok(str)) {
			*why = slot == &m->head
			           ? "bad head_reference"
			           : "path not inside repositories/ (absolute, "
			             "'..' or empty component)";
			rv = LS_EPROTO;
		} else {
			*slot = str;
			str = NULL;
		}
	}
out:
	free(str);
	return rv;
}

int restore_repos_manifest_parse(const char *text, size_t len, const char *name,
                                 struct restore_repos_manifest *m, char *err,
                                 size_t errlen)
{
	const char *p = text, *end = text + len, *why = NULL;
	int in_steps = 0, rv = 0;
	size_t line = 0;

	memset(m, 0, sizeof(*m));
	ls_strlcpy(m->fmt, "sha1", sizeof(m->fmt));
	if (len > RESTORE_REPOS_MANIFEST_MAX) {
		rv = LS_ETOOBIG;
		(void)ls_fmt(err, errlen, "%s: over %zu bytes", name,
		             RESTORE_REPOS_MANIFEST_MAX);
		goto out;
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;

		line++;
		if (le > p && le[-1] == '\r')
			le--;
		ws(&p, le);
		if (memchr(p, '\0', (size_t)(le - p)) != NULL) {
			why = "NUL byte";
			rv = LS_EPROTO;
		} else if (p < le && *p == '[') {
			rv = manifest_table(m, p, le, &in_steps, &why);
		} else if (p < le && *p != '#') {
			rv = manifest_line(m, p, le, &in_steps, &why);
		}
		if (rv < 0)
			break;
		p = nl ? nl + 1 : end;
	}
	if (rv < 0) {
		(void)ls_fmt(err, errlen, "%s:%zu: %s", name, line,
		             why ? why : ls_strerror(rv));
		goto out;
	}
	if (!m->empty && !m->non_existent &&
	    (m->nsteps == 0 || m->steps[m->nsteps - 1].refs == NULL)) {
		rv = LS_EPROTO;
		(void)ls_fmt(err, errlen, "%s: no step with a ref_path", name);
	}
out:
	if (rv < 0)
		restore_repos_manifest_free(m);
	return rv;
}

void restore_repos_refs_free(struct restore_repos_refs *r)
{
	free(r->v);
	free(r->text);
	memset(r, 0, sizeof(*r));
}

static int ref_cmp(const void *a, const void *b)
{
	return strcmp(((const struct restore_repos_ref *)a)->name,
	              ((const struct restore_repos_ref *)b)->name);
}

const struct restore_repos_ref *
restore_repos_refs_find(const struct restore_repos_refs *r, const char *name)
{
	struct restore_repos_ref k = {name, NULL};

	if (r->n == 0)
		return NULL;
	return bsearch(&k, r->v, r->n, sizeof(k), ref_cmp);
}

/* One "<oid> <name>" line (NUL-terminated in place) into r. */
static int refs_line(struct restore_repos_refs *r, char *s, size_t len,
                     size_t oidlen, int bundle, size_t *cap, const char **why)
{
	char *name = s + oidlen + 1;
	size_t nlen = len > oidlen + 1 ? len - oidlen - 1 : 0;

	if (len <= oidlen + 1 || s[oidlen] != ' ' ||
	    !backup_repos_oid_ok(s, oidlen)) {
		*why = "not '<object id> <refname>' (or an id of the wrong "
		       "object format)";
		return LS_EPROTO;
	}
	s[oidlen] = '\0';
	if (nlen == 4 && memcmp(name, "HEAD", 4) == 0) {
		if (!bundle && (r->n > 0 || r->head[0] != '\0')) {
			*why = "HEAD not on the first line";
			return LS_EPROTO;
		}
		ls_strlcpy(r->head, s, sizeof(r->head));
		return 0;
	}
	if (!backup_repos_refname_ok(name, nlen)) {
		*why = "bad refname";
		return LS_EPROTO;
	}
	if (r->n == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		struct restore_repos_ref *nv = realloc(r->v, nc * sizeof(*nv));

		if (nv == NULL)
			return LS_ENOMEM;
		r->v = nv;
		*cap = nc;
	}
	r->v[r->n].name = name;
	r->v[r->n++].oid = s;
	return 0;
}

int restore_repos_refs_parse(const char *text, size_t len, size_t oidlen,
                             int bundle, const char *name,
                             struct restore_repos_refs *r, char *err,
                             size_t errlen)
{
	const char *why = NULL;
	size_t line = 0, cap = 0, i;
	char *p, *end;
	int rv = 0;

	memset(r, 0, sizeof(*r));
	if (len > RESTORE_REPOS_REFS_MAX) {
		rv = LS_ETOOBIG;
		(void)ls_fmt(err, errlen, "%s: over the size limit", name);
		goto out;
	}
	if ((oidlen != 40 && oidlen != 64) ||
	    (r->text = malloc(len + 1)) == NULL) {
		rv = oidlen != 40 && oidlen != 64 ? LS_EINVAL : LS_ENOMEM;
		(void)ls_fmt(err, errlen, "%s: %s", name, ls_strerror(rv));
		goto out;
	}
	memcpy(r->text, text, len);
	r->text[len] = '\0';
	p = r->text;
	end = r->text + len;
	while (p < end && rv == 0) {
		char *nl = memchr(p, '\n', (size_t)(end - p));

		line++;
		if (nl == NULL) {
			why = "last line not terminated";
			rv = LS_EPROTO;
			break;
		}
		*nl = '\0';
		if (memchr(p, '\0', (size_t)(nl - p)) != NULL) {
			why = "NUL byte";
			rv = LS_EPROTO;
		} else if (bundle && nl == p) {
			break; /* the blank line ending a bundle's header */
		} else if (bundle && (*p == '@' || *p == '-')) {
			; /* a capability or a prerequisite */
		} else {
			rv = refs_line(r, p, (size_t)(nl - p), oidlen, bundle,
			               &cap, &why);
		}
		p = nl + 1;
	}
	if (rv == 0 && r->n > 1) {
		qsort(r->v, r->n, sizeof(*r->v), ref_cmp);
		for (i = 1; i < r->n && rv == 0; i++)
			if (strcmp(r->v[i - 1].name, r->v[i].name) == 0) {
				why = "a refname listed twice";
				line = 0;
				rv = LS_EPROTO;
			}
	}
	if (rv < 0 && line > 0)
		(void)ls_fmt(err, errlen, "%s:%zu: %s", name, line,
		             why ? why : ls_strerror(rv));
	else if (rv < 0)
		(void)ls_fmt(err, errlen, "%s: %s", name,
		             why ? why : ls_strerror(rv));
out:
	if (rv < 0)
		restore_repos_refs_free(r);
	return rv;
}

/* Beside the parsers: the reading that feeds them, shared by restore
 * (restore_repos_one.c) and verify. */
int restore_repos_load(const char *backup_dir, const char *backup_id,
                       const struct restore_repos_job *job,
                       struct restore_repos_manifest *m,
                       struct restore_repos_refs *want, char *why,
                       size_t whylen)
{
	char path[LS_PATH_MAX], *text = NULL;
	const char *refs;
	size_t len = 0;
	int rv;

	memset(want, 0, sizeof(*want));
	if ((rv = ls_fmt(path, sizeof(path),
	                 "%s/repositories/manifests/%s/%s/%s.toml", backup_dir,
	                 job->storage, job->rel, backup_id)) < 0 ||
	    (rv = ls_read_file(path, RESTORE_REPOS_MANIFEST_MAX, &text, &len)) <
	        0) {
		(void)ls_fmt(why, whylen, "%s: %s", path, ls_strerror(rv));
		return rv;
	}
	rv = restore_repos_manifest_parse(text, len, path, m, why, whylen);
	free(text);
	text = NULL;
	if (rv < 0)
		return rv;
	if (m->non_existent)
		return 1;
	refs = m->nsteps ? m->steps[m->nsteps - 1].refs : NULL;
	if (refs == NULL) /* an empty repository: no ref */
		return 0;
	if ((rv = ls_fmt(path, sizeof(path), "%s/repositories/%s", backup_dir,
	                 refs)) < 0 ||
	    (rv = ls_read_file(path, RESTORE_REPOS_REFS_MAX, &text, &len)) <
	        0) {
		/* gitaly writes no .refs for an empty repository either */
		if (rv == LS_ENOENT && m->empty)
			return 0;
		(void)ls_fmt(why, whylen, "%s: %s", path, ls_strerror(rv));
		return rv;
	}
	rv = restore_repos_refs_parse(text, len,
	                              strcmp(m->fmt, "sha256") == 0 ? 64 : 40,
	                              0, path, want, why, whylen);
	free(text);
	return rv;
}
