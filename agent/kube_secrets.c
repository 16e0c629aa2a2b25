/*
 * gitlab-secrets.json to the Helm chart's Secrets (gitlab-facts §8): the
 * mapping table, and secrets.yml for <release>-rails-secret written with
 * libyaml's emitter and read back with its parser before it is trusted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>
#include <yaml.h>

#include "kube_secrets.h"
#include "kube_secrets_int.h"
#include "ls_error.h"

/* The keys Rails refuses to start without (config/initializers/
 * 01_secret_token.rb raises when one is missing in production). */
static const char *const rails_required[] = {"secret_key_base", "db_key_base",
                                             "otp_key_base"};

/* The one-field Secrets of the table: section.field -> Secret/key. */
static const struct {
	const char *suffix, *key, *section, *field;
} simple_map[] = {
    {"-gitlab-shell-secret", "secret", "gitlab_shell", "secret_token"},
    {"-gitlab-workhorse-secret", "shared_secret", "gitlab_workhorse",
     "secret_token"},
    {"-registry-httpsecret", "secret", "registry", "http_secret"},
    {"-gitlab-pages-secret", "shared_secret", "gitlab_pages", "api_secret_key"},
    {"-gitlab-kas-secret", "kas_shared_secret", "gitlab_kas", "api_secret_key"},
    {"-kas-private-api", "kas_private_api_secret", "gitlab_kas",
     "private_api_secret_key"},
    {"-incoming-email-auth-token", "authToken", "mailroom",
     "incoming_email_auth_token"},
};

/* Error context: the JSON path of the member at fault. */
static int fail(char *err, size_t errlen, int rv, const char *path,
                const char *what)
{
	char p[200];

	kube_key_print(p, sizeof(p), path);
	snprintf(err, errlen, "%s %s", p, what);
	return rv;
}

/*
 * The string at path (keys separated by '.', none holding a dot): *out
 * NULL when a part is missing or null or the string is empty; LS_EINVAL
 * naming the part when one is of the wrong type.
 */
static int lookup(const json_t *root, const char *path, const char **out,
                  size_t *len, char *err, size_t errlen)
{
	char part[128], shown[256];
	const char *p = path, *dot;
	const json_t *v = root;
	size_t n;

	*out = NULL;
	*len = 0;
	for (;;) {
		dot = strchr(p, '.');
		n = dot ? (size_t)(dot - p) : strlen(p);
		if (n >= sizeof(part))
			return LS_EINVAL;
		memcpy(part, p, n);
		part[n] = '\0';
		v = json_object_get(v, part);
		snprintf(shown, sizeof(shown), "%.*s", (int)(p + n - path),
		         path);
		if (v == NULL || json_is_null(v))
			return 0;
		if (dot == NULL)
			break;
		if (!json_is_object(v))
			return fail(err, errlen, LS_EINVAL, shown,
			            "is not an object");
		p = dot + 1;
	}
	if (!json_is_string(v))
		return fail(err, errlen, LS_EINVAL, path, "is not a string");
	if (json_string_length(v) == 0)
		return 0;
	*out = json_string_value(v);
	*len = json_string_length(v);
	return 0;
}

static int add(struct kube_secret_set *out, const char *release,
               const char *suffix, const char *key, const void *v, size_t len,
               char *err, size_t errlen)
{
	char name[KUBE_NAME_MAX + 1];
	int rv;

	snprintf(name, sizeof(name), "%s%s", release, suffix);
	if ((rv = kube_secret_set_add(out, name, key, v, len)) < 0)
		snprintf(err, errlen, "%s/%s: %s", name, key, ls_strerror(rv));
	return rv;
}

/* ---- secrets.yml ---- */

static int yaml_write(void *data, unsigned char *buf, size_t size)
{
	return kube_buf_add(data, buf, size) == 0;
}

/* YAML 1.1 words that a plain scalar would turn into a boolean or null. */
static int plain_key_ok(const char *k)
{
	static const char *const words[] = {"y",   "n",    "yes",   "no",  "on",
	                                    "off", "true", "false", "null"};
	size_t i;

	if (!(k[0] >= 'a' && k[0] <= 'z'))
		return 0;
	for (i = 0; k[i] != '\0'; i++)
		if (!((k[i] >= 'a' && k[i] <= 'z') ||
		      (k[i] >= '0' && k[i] <= '9') || k[i] == '_'))
			return 0;
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcmp(k, words[i]) == 0)
			return 0;
	return 1;
}

/*
 * A string value: multi-line ones as literal blocks (the PEM keys stay
 * readable PEM; libyaml picks the chomping indicator that keeps the
 * trailing newlines exactly), others single-quoted so that Rails reads a
 * string whatever it looks like. libyaml falls back to double quotes
 * (escapes) where a style cannot hold the text; a CR or a Unicode line
 * break goes there directly, since a block scalar would read it back as \n.
 */
static int emit_str(yaml_emitter_t *em, const char *s, size_t len)
{
	yaml_scalar_style_t style = YAML_SINGLE_QUOTED_SCALAR_STYLE;
	yaml_event_t ev;

	if (memchr(s, '\n', len) != NULL)
		style = YAML_LITERAL_SCALAR_STYLE;
	if (memchr(s, '\r', len) != NULL || strstr(s, "\xc2\x85") != NULL ||
	    strstr(s, "\xe2\x80\xa8") != NULL ||
	    strstr(s, "\xe2\x80\xa9") != NULL)
		style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
	if (!yaml_scalar_event_initialize(&ev, NULL, NULL,
	                                  (yaml_char_t *)(uintptr_t)s, (int)len,
	                                  0, 1, style))
		return 0;
	return yaml_emitter_emit(em, &ev);
}

static int emit_plain(yaml_emitter_t *em, const char *s, int plain)
{
	yaml_event_t ev;

	if (!yaml_scalar_event_initialize(
	        &ev, NULL, NULL, (yaml_char_t *)(uintptr_t)s, (int)strlen(s),
	        plain, 1,
	        plain ? YAML_ANY_SCALAR_STYLE
	              : YAML_SINGLE_QUOTED_SCALAR_STYLE))
		return 0;
	return yaml_emitter_emit(em, &ev);
}

/* One member of gitlab_rails: a string, or a list of strings. */
static int emit_member(yaml_emitter_t *em, const char *key, const json_t *v,
                       char *err, size_t errlen)
{
	char path[200];
	yaml_event_t ev;
	const json_t *e;
	size_t i;

	snprintf(path, sizeof(path), "gitlab_rails.%.150s", key);
	if (json_is_string(v)) {
		if (!emit_plain(em, key, plain_key_ok(key)) ||
		    !emit_str(em, json_string_value(v), json_string_length(v)))
			return fail(err, errlen, LS_EINVAL, path,
			            "cannot be written as YAML");
		return 0;
	}
	if (!json_is_array(v))
		return fail(err, errlen, LS_EINVAL, path,
		            "is neither a string nor a list of strings");
	json_array_foreach(v, i, e)
	{
		if (!json_is_string(e))
			return fail(err, errlen, LS_EINVAL, path,
			            "has a member that is not a string");
	}
	if (!emit_plain(em, key, plain_key_ok(key)) ||
	    !yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
	                                          YAML_BLOCK_SEQUENCE_STYLE) ||
	    !yaml_emitter_emit(em, &ev))
		return fail(err, errlen, LS_EINVAL, path,
		            "cannot be written as YAML");
	json_array_foreach(v, i, e)
	{
		if (!emit_str(em, json_string_value(e), json_string_length(e)))
			return fail(err, errlen, LS_EINVAL, path,
			            "cannot be written as YAML");
	}
	if (!yaml_sequence_end_event_initialize(&ev) ||
	    !yaml_emitter_emit(em, &ev))
		return fail(err, errlen, LS_EINVAL, path,
		            "cannot be written as YAML");
	return 0;
}

static int cmp_keys(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The members of rails in key order (a stable secrets.yml), nulls left
 * out: Rails reads a missing key as it reads a nil one. */
static int sorted_keys(const json_t *rails, const char ***keys, size_t *n)
{
	const char *k;
	json_t *v;

	*n = 0;
	*keys = malloc((json_object_size(rails) + 1) * sizeof(**keys));
	if (*keys == NULL)
		return LS_ENOMEM;
	json_object_foreach((json_t *)rails, k, v)
	{
		if (!json_is_null(v))
			(*keys)[(*n)++] = k;
	}
	qsort(*keys, *n, sizeof(**keys), cmp_keys);
	return 0;
}

static int emit_rails(const json_t *rails, struct kube_buf *out, char *err,
                      size_t errlen)
{
	yaml_emitter_t em;
	yaml_event_t ev;
	const char **keys = NULL;
	size_t i, n = 0;
	int rv;

	if (!yaml_emitter_initialize(&em))
		return LS_ENOMEM;
	yaml_emitter_set_output(&em, yaml_write, out);
	yaml_emitter_set_unicode(&em, 1);
	/* No folding of long quoted lines: one value, one line. */
	yaml_emitter_set_width(&em, -1);
	yaml_emitter_set_indent(&em, 2);
	yaml_emitter_set_break(&em, YAML_LN_BREAK);
	if ((rv = sorted_keys(rails, &keys, &n)) < 0)
		goto out;
	rv = fail(err, errlen, LS_EINVAL, "gitlab_rails",
	          "cannot be written as YAML");
	if (!(yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) &&
	      yaml_emitter_emit(&em, &ev)) ||
	    !(yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1) &&
	      yaml_emitter_emit(&em, &ev)) ||
	    !(yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
	                                          YAML_BLOCK_MAPPING_STYLE) &&
	      yaml_emitter_emit(&em, &ev)) ||
	    !emit_plain(&em, "production", 1) ||
	    !(yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
	                                          YAML_BLOCK_MAPPING_STYLE) &&
	      yaml_emitter_emit(&em, &ev)))
		goto out;
	for (i = 0; i < n; i++)
		if ((rv = emit_member(&em, keys[i],
		                      json_object_get(rails, keys[i]), err,
		                      errlen)) < 0)
			goto out;
	rv = fail(err, errlen, LS_EINVAL, "gitlab_rails",
	          "cannot be written as YAML");
	if (!(yaml_mapping_end_event_initialize(&ev) &&
	      yaml_emitter_emit(&em, &ev)) ||
	    !(yaml_mapping_end_event_initialize(&ev) &&
	      yaml_emitter_emit(&em, &ev)) ||
	    !(yaml_document_end_event_initialize(&ev, 1) &&
	      yaml_emitter_emit(&em, &ev)) ||
	    !(yaml_stream_end_event_initialize(&ev) &&
	      yaml_emitter_emit(&em, &ev)) ||
	    !yaml_emitter_flush(&em))
		goto out;
	if (errlen > 0)
		err[0] = '\0';
	rv = 0;
out:
	free(keys);
	/* The emitter's own buffers hold the text last written. */
	sodium_memzero(em.buffer.start,
	               (size_t)(em.buffer.end - em.buffer.start));
	sodium_memzero(em.raw_buffer.start,
	               (size_t)(em.raw_buffer.end - em.raw_buffer.start));
	yaml_emitter_delete(&em);
	return rv;
}

/* ---- reading secrets.yml back ---- */

static void event_drop(yaml_event_t *ev)
{
	if (ev->type == YAML_SCALAR_EVENT && ev->data.scalar.value != NULL)
		sodium_memzero(ev->data.scalar.value, ev->data.scalar.length);
	yaml_event_delete(ev);
}

/* The next event, which must be of type want (dropped when it is not). */
static int expect(yaml_parser_t *p, yaml_event_t *ev, yaml_event_type_t want)
{
	if (!yaml_parser_parse(p, ev)) {
		memset(ev, 0, sizeof(*ev));
		return 0;
	}
	if (ev->type != want) {
		event_drop(ev);
		return 0;
	}
	return 1;
}

/* The next event is a quoted or block scalar, untagged, equal to s. */
static int expect_str(yaml_parser_t *p, const json_t *s)
{
	yaml_event_t ev;
	int ok;

	if (!expect(p, &ev, YAML_SCALAR_EVENT))
		return 0;
	ok = ev.data.scalar.tag == NULL &&
	     ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE &&
	     ev.data.scalar.length == json_string_length(s) &&
	     memcmp(ev.data.scalar.value, json_string_value(s),
	            ev.data.scalar.length) == 0;
	event_drop(&ev);
	return ok;
}

static int expect_key(yaml_parser_t *p, const char *key)
{
	yaml_event_t ev;
	int ok;

	if (!expect(p, &ev, YAML_SCALAR_EVENT))
		return 0;
	ok = ev.data.scalar.tag == NULL &&
	     ev.data.scalar.length == strlen(key) &&
	     memcmp(ev.data.scalar.value, key, ev.data.scalar.length) == 0;
	event_drop(&ev);
	return ok;
}

static int expect_bare(yaml_parser_t *p, yaml_event_type_t want)
{
	yaml_event_t ev;

	if (!expect(p, &ev, want))
		return 0;
	event_drop(&ev);
	return 1;
}

/*
 * 1 if yml is exactly {production: rails}: the members in key order, each
 * string byte-equal, each list of the same strings. The emitter's choices
 * (chomping, fallbacks to escapes) are proven here rather than trusted.
 */
static int reads_back(const json_t *rails, const uint8_t *yml, size_t len)
{
	yaml_parser_t p;
	const char **keys = NULL;
	const json_t *v, *e;
	size_t i, j, n = 0;
	int ok = 0;

	if (!yaml_parser_initialize(&p))
		return 0;
	yaml_parser_set_input_string(&p, yml, len);
	if (sorted_keys(rails, &keys, &n) < 0)
		goto out;
	if (!expect_bare(&p, YAML_STREAM_START_EVENT) ||
	    !expect_bare(&p, YAML_DOCUMENT_START_EVENT) ||
	    !expect_bare(&p, YAML_MAPPING_START_EVENT) ||
	    !expect_key(&p, "production") ||
	    !expect_bare(&p, YAML_MAPPING_START_EVENT))
		goto out;
	for (i = 0; i < n; i++) {
		v = json_object_get(rails, keys[i]);
		if (!expect_key(&p, keys[i]))
			goto out;
		if (json_is_string(v)) {
			if (!expect_str(&p, v))
				goto out;
			continue;
		}
		if (!expect_bare(&p, YAML_SEQUENCE_START_EVENT))
			goto out;
		json_array_foreach(v, j, e)
		{
			if (!expect_str(&p, e))
				goto out;
		}
		if (!expect_bare(&p, YAML_SEQUENCE_END_EVENT))
			goto out;
	}
	ok = expect_bare(&p, YAML_MAPPING_END_EVENT) &&
	     expect_bare(&p, YAML_MAPPING_END_EVENT) &&
	     expect_bare(&p, YAML_DOCUMENT_END_EVENT) &&
	     expect_bare(&p, YAML_STREAM_END_EVENT);
out:
	free(keys);
	/* The parser's buffers hold decoded text of the values. */
	sodium_memzero(p.buffer.start, (size_t)(p.buffer.end - p.buffer.start));
	sodium_memzero(p.raw_buffer.start,
	               (size_t)(p.raw_buffer.end - p.raw_buffer.start));
	yaml_parser_delete(&p);
	return ok;
}

/* ---- the table ---- */

static int add_gitaly(const json_t *root, struct kube_secret_set *out,
                      const char *release, char *err, size_t errlen)
{
	/* The Rails side's copy first: it is what Rails sends to Gitaly. */
	static const char *const paths[] = {"gitlab_rails.gitaly_token",
	                                    "gitaly.configuration.auth.token",
	                                    "gitaly.auth.token"};
	const char *v = NULL;
	size_t i, len = 0;
	int rv;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]) && v == NULL; i++)
		if ((rv = lookup(root, paths[i], &v, &len, err, errlen)) < 0)
			return rv;
	if (v == NULL)
		return 0;
	return add(out, release, "-gitaly-secret", "token", v, len, err,
	           errlen);
}

static int add_registry(const json_t *root, struct kube_secret_set *out,
                        const char *release, char *err, size_t errlen)
{
	const char *key = NULL, *crt = NULL;
	size_t klen = 0, clen = 0;
	int rv;

	if ((rv = lookup(root, "registry.internal_key", &key, &klen, err,
	                 errlen)) < 0 ||
	    (rv = lookup(root, "registry.internal_certificate", &crt, &clen,
	                 err, errlen)) < 0)
		return rv;
	if (key == NULL && crt == NULL)
		return 0;
	/* The registry checks tokens with the certificate that Rails signs
	 * them with the key of: one without the other is a broken pair. */
	if (key == NULL)
		return fail(err, errlen, LS_EINVAL, "registry.internal_key",
		            "is missing while registry.internal_certificate "
		            "is set");
	if (crt == NULL)
		return fail(err, errlen, LS_EINVAL,
		            "registry.internal_certificate",
		            "is missing while registry.internal_key is set");
	if ((rv = add(out, release, "-registry-secret", "registry-auth.key",
	              key, klen, err, errlen)) < 0)
		return rv;
	return add(out, release, "-registry-secret", "registry-auth.crt", crt,
	           clen, err, errlen);
}

static int check_rails(const json_t *root, char *err, size_t errlen)
{
	const json_t *rails = json_object_get(root, "gitlab_rails");
	char path[64];
	const char *v;
	size_t i, len;
	int rv;

	if (rails == NULL)
		return fail(err, errlen, LS_EINVAL, "gitlab_rails",
		            "is missing");
	if (!json_is_object(rails))
		return fail(err, errlen, LS_EINVAL, "gitlab_rails",
		            "is not an object");
	for (i = 0; i < sizeof(rails_required) / sizeof(rails_required[0]);
	     i++) {
		snprintf(path, sizeof(path), "gitlab_rails.%s",
		         rails_required[i]);
		if ((rv = lookup(root, path, &v, &len, err, errlen)) < 0)
			return rv;
		if (v == NULL)
			return fail(err, errlen, LS_EINVAL, path,
			            "is missing or empty");
	}
	return 0;
}

int kube_secrets_from_gitlab(const char *json, size_t len, const char *release,
                             struct kube_secret_set *out, char *err,
                             size_t errlen)
{
	struct kube_buf yml = {0};
	json_t *root = NULL, *rails;
	const char *v;
	size_t i, vlen;
	int rv;

	memset(out, 0, sizeof(*out));
	if (errlen > 0)
		err[0] = '\0';
	if (kube_dns_label(release, KUBE_RELEASE_MAX) < 0) {
		snprintf(err, errlen,
		         "the release name is not a DNS-1123 label of at most "
		         "%d characters",
		         KUBE_RELEASE_MAX);
		return LS_EINVAL;
	}
	if ((root = kube_json_load(json, len, KUBE_JSON_MAX, err, errlen)) ==
	    NULL)
		return len > KUBE_JSON_MAX ? LS_ETOOBIG : LS_EINVAL;
	if ((rv = check_rails(root, err, errlen)) < 0)
		goto out;
	rails = json_object_get(root, "gitlab_rails");
	if ((rv = emit_rails(rails, &yml, err, errlen)) < 0)
		goto out;
	if (!reads_back(rails, yml.p, yml.len)) {
		rv = fail(err, errlen, LS_EINTEGRITY, "gitlab_rails",
		          "does not read back from secrets.yml as it was "
		          "written");
		goto out;
	}
	if ((rv = add(out, release, "-rails-secret", "secrets.yml", yml.p,
	              yml.len, err, errlen)) < 0)
		goto out;
	for (i = 0; i < sizeof(simple_map) / sizeof(simple_map[0]); i++) {
		char path[128];

		snprintf(path, sizeof(path), "%s.%s", simple_map[i].section,
		         simple_map[i].field);
		if ((rv = lookup(root, path, &v, &vlen, err, errlen)) < 0)
			goto out;
		if (v != NULL &&
		    (rv = add(out, release, simple_map[i].suffix,
		              simple_map[i].key, v, vlen, err, errlen)) < 0)
			goto out;
	}
	if ((rv = add_gitaly(root, out, release, err, errlen)) < 0 ||
	    (rv = add_registry(root, out, release, err, errlen)) < 0)
		goto out;
	rv = 0;
out:
	if (rv < 0)
		kube_secret_set_free(out);
	kube_buf_clear(&yml);
	kube_json_free(root);
	return rv;
}
