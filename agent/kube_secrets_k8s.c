/*
 * The Kubernetes side of kube_secrets.h: sets of Secret items, the
 * manifest kubectl applies, kubectl's Secret read back, and the saved
 * state an undo restores. Every value passes through buffers this file
 * wipes; jansson trees holding values are wiped before they are dropped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "kube_secrets.h"
#include "kube_secrets_int.h"
#include "ls_error.h"

#define SAVED_FORMAT "lockstep_kube_saved"

int kube_buf_add(struct kube_buf *b, const void *data, size_t n)
{
	uint8_t *p;
	size_t cap, len = b->len;

	if (n > KUBE_SAVED_MAX * 4 || len > KUBE_SAVED_MAX * 4)
		return LS_ETOOBIG;
	if (len + n + 1 > b->cap) {
		/* No realloc: it would free the old copy unwiped. */
		cap = b->cap ? b->cap : 256;
		while (cap < len + n + 1)
			cap *= 2;
		if ((p = malloc(cap)) == NULL)
			return LS_ENOMEM;
		if (len)
			memcpy(p, b->p, len);
		kube_buf_clear(b);
		b->p = p;
		b->cap = cap;
		b->len = len;
	}
	if (n)
		memcpy(b->p + len, data, n);
	b->len = len + n;
	b->p[b->len] = '\0';
	return 0;
}

void kube_buf_clear(struct kube_buf *b)
{
	if (b->p != NULL) {
		sodium_memzero(b->p, b->cap);
		free(b->p);
	}
	b->p = NULL;
	b->len = b->cap = 0;
}

int kube_buf_dump(const char *data, size_t n, void *arg)
{
	return kube_buf_add(arg, data, n) < 0 ? -1 : 0;
}

void kube_buf_free(uint8_t *buf, size_t len)
{
	if (buf == NULL)
		return;
	sodium_memzero(buf, len);
	free(buf);
}

static void json_wipe(json_t *j)
{
	const char *k;
	json_t *v;
	size_t i;

	if (json_is_string(j)) {
		/* jansson owns the bytes; they are overwritten in place so
		 * that json_decref frees none of a secret. */
		sodium_memzero((char *)json_string_value(j),
		               json_string_length(j));
	} else if (json_is_object(j)) {
		json_object_foreach(j, k, v) json_wipe(v);
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v) json_wipe(v);
	}
}

void kube_json_free(json_t *j)
{
	if (j == NULL)
		return;
	/* Only the last reference wipes: a tree still shared keeps values. */
	if (j->refcount == 1)
		json_wipe(j);
	json_decref(j);
}

static int is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

int kube_dns_label(const char *s, size_t max)
{
	size_t i, n = s ? strlen(s) : 0;

	if (n == 0 || n > max || !is_lower_alnum(s[0]) ||
	    !is_lower_alnum(s[n - 1]))
		return LS_EINVAL;
	for (i = 0; i < n; i++)
		if (!is_lower_alnum(s[i]) && s[i] != '-')
			return LS_EINVAL;
	return 0;
}

int kube_dns_subdomain(const char *s)
{
	size_t i, n = s ? strlen(s) : 0;

	if (n == 0 || n > KUBE_NAME_MAX || !is_lower_alnum(s[0]) ||
	    !is_lower_alnum(s[n - 1]))
		return LS_EINVAL;
	for (i = 0; i < n; i++) {
		if (s[i] == '.' &&
		    (s[i - 1] == '.' || s[i - 1] == '-' || s[i + 1] == '-'))
			return LS_EINVAL;
		if (!is_lower_alnum(s[i]) && s[i] != '-' && s[i] != '.')
			return LS_EINVAL;
	}
	return 0;
}

int kube_data_key(const char *s)
{
	size_t i, n = s ? strlen(s) : 0;

	if (n == 0 || n > KUBE_NAME_MAX || strcmp(s, ".") == 0 ||
	    strcmp(s, "..") == 0)
		return LS_EINVAL;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		      c == '_'))
			return LS_EINVAL;
	}
	return 0;
}

void kube_key_print(char *dst, size_t size, const char *key)
{
	size_t i;

	if (size == 0)
		return;
	for (i = 0; key[i] != '\0' && i + 1 < size && i < 120; i++)
		dst[i] = key[i] > 0x20 && key[i] < 0x7f ? key[i] : '?';
	dst[i] = '\0';
}

int kube_b64(const uint8_t *in, size_t len, char **out, size_t *outlen)
{
	size_t cap;

	if (len > KUBE_JSON_MAX * 4)
		return LS_ETOOBIG;
	cap = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
	if ((*out = malloc(cap)) == NULL)
		return LS_ENOMEM;
	sodium_bin2base64(*out, cap, in, len, sodium_base64_VARIANT_ORIGINAL);
	*outlen = strlen(*out);
	return 0;
}

int kube_unb64(const char *s, size_t slen, size_t max, uint8_t **out,
               size_t *outlen)
{
	size_t cap = slen / 4 * 3, n = 0;
	const char *end = NULL;

	*out = NULL;
	*outlen = 0;
	if (slen % 4 != 0)
		return LS_EINVAL;
	if (cap > max + 2)
		return LS_ETOOBIG;
	if ((*out = malloc(cap + 1)) == NULL)
		return LS_ENOMEM;
	if (slen > 0 &&
	    (sodium_base642bin(*out, cap, s, slen, NULL, &n, &end,
	                       sodium_base64_VARIANT_ORIGINAL) != 0 ||
	     end != s + slen)) {
		kube_buf_free(*out, cap + 1);
		*out = NULL;
		return LS_EINVAL;
	}
	if (n > max) {
		kube_buf_free(*out, cap + 1);
		*out = NULL;
		return LS_ETOOBIG;
	}
	(*out)[n] = '\0';
	*outlen = n;
	return 0;
}

static void item_clear(struct kube_secret_item *it)
{
	free(it->name);
	free(it->key);
	kube_buf_free(it->value, it->len + 1);
	memset(it, 0, sizeof(*it));
}

/* Drops the items past the first n (a failed addition's partial work). */
static void set_truncate(struct kube_secret_set *s, size_t n)
{
	while (s->n > n)
		item_clear(&s->items[--s->n]);
}

void kube_secret_set_free(struct kube_secret_set *s)
{
	if (s == NULL)
		return;
	set_truncate(s, 0);
	free(s->items);
	s->items = NULL;
	s->n = s->cap = 0;
}

int kube_secret_set_add(struct kube_secret_set *s, const char *name,
                        const char *key, const uint8_t *value, size_t len)
{
	struct kube_secret_item *it;
	size_t i;

	if (kube_dns_subdomain(name) < 0 || kube_data_key(key) < 0)
		return LS_EINVAL;
	if (len > KUBE_JSON_MAX * 4)
		return LS_ETOOBIG;
	for (i = 0; i < s->n; i++)
		if (strcmp(s->items[i].name, name) == 0 &&
		    strcmp(s->items[i].key, key) == 0)
			return LS_EEXIST;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;

		/* Items hold pointers only: realloc moves no secret. */
		it = realloc(s->items, cap * sizeof(*it));
		if (it == NULL)
			return LS_ENOMEM;
		s->items = it;
		s->cap = cap;
	}
	it = &s->items[s->n];
	memset(it, 0, sizeof(*it));
	it->name = strdup(name);
	it->key = strdup(key);
	it->value = malloc(len + 1);
	if (it->name == NULL || it->key == NULL || it->value == NULL) {
		free(it->name);
		free(it->key);
		free(it->value);
		memset(it, 0, sizeof(*it));
		return LS_ENOMEM;
	}
	if (len)
		memcpy(it->value, value, len);
	it->value[len] = '\0';
	it->len = len;
	s->n++;
	return 0;
}

/* data: {key: base64} of the items of s named name. */
static int data_object(const struct kube_secret_set *s, const char *name,
                       json_t *data)
{
	char *b64 = NULL;
	size_t i, blen = 0;
	int rv;

	for (i = 0; i < s->n; i++) {
		if (strcmp(s->items[i].name, name) != 0)
			continue;
		if ((rv = kube_b64(s->items[i].value, s->items[i].len, &b64,
		                   &blen)) < 0)
			return rv;
		rv = json_object_set_new(data, s->items[i].key,
		                         json_stringn(b64, blen));
		kube_buf_free((uint8_t *)b64, blen + 1);
		if (rv != 0)
			return LS_ENOMEM;
	}
	return 0;
}

static int first_of_name(const struct kube_secret_set *s, size_t i)
{
	size_t j;

	for (j = 0; j < i; j++)
		if (strcmp(s->items[j].name, s->items[i].name) == 0)
			return 0;
	return 1;
}

/* Dumps j into a fresh wiped-on-free buffer. */
static int dump(const json_t *j, uint8_t **out, size_t *outlen)
{
	struct kube_buf b = {0};

	if (json_dump_callback(j, kube_buf_dump, &b,
	                       JSON_COMPACT | JSON_ENSURE_ASCII) != 0 ||
	    kube_buf_add(&b, "", 0) < 0) {
		kube_buf_clear(&b);
		return LS_ENOMEM;
	}
	/* The caller frees with kube_buf_free(out, outlen): wipe the spare
	 * capacity now, it is not reachable through outlen. */
	sodium_memzero(b.p + b.len, b.cap - b.len);
	*out = b.p;
	*outlen = b.len;
	return 0;
}

int kube_secrets_manifest(const struct kube_secret_set *s, const char *ns,
                          uint8_t **out, size_t *outlen)
{
	json_t *list, *items, *sec, *data;
	size_t i;
	int rv = LS_ENOMEM;

	*out = NULL;
	*outlen = 0;
	if (kube_dns_label(ns, 63) < 0)
		return LS_EINVAL;
	list = json_pack("{s:s, s:s, s:[]}", "apiVersion", "v1", "kind", "List",
	                 "items");
	if (list == NULL)
		return LS_ENOMEM;
	items = json_object_get(list, "items");
	for (i = 0; i < s->n; i++) {
		if (!first_of_name(s, i))
			continue;
		sec = json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:{}}",
		                "apiVersion", "v1", "kind", "Secret", "type",
		                "Opaque", "metadata", "name", s->items[i].name,
		                "namespace", ns, "labels",
		                "app.kubernetes.io/managed-by", "lockstep",
		                "data");
		if (sec == NULL || json_array_append_new(items, sec) != 0)
			goto out;
		data = json_object_get(sec, "data");
		if ((rv = data_object(s, s->items[i].name, data)) < 0)
			goto out;
	}
	rv = dump(list, out, outlen);
out:
	kube_json_free(list);
	return rv;
}

/* Adds the data object's members (key: base64) as items named name. */
static int add_data(struct kube_secret_set *out, const char *name,
                    const json_t *data, const char *where, char *err,
                    size_t errlen)
{
	const char *k;
	json_t *v;
	uint8_t *val;
	size_t vlen;
	char kp[72];
	int rv;

	if (json_object_size(data) > KUBE_SECRET_KEYS_MAX) {
		snprintf(err, errlen, "%s has %zu keys, more than %d", where,
		         json_object_size(data), KUBE_SECRET_KEYS_MAX);
		return LS_ETOOBIG;
	}
	json_object_foreach((json_t *)data, k, v)
	{
		kube_key_print(kp, sizeof(kp), k);
		if (kube_data_key(k) < 0) {
			snprintf(err, errlen, "%s.%s is not a Secret key",
			         where, kp);
			return LS_EINVAL;
		}
		if (!json_is_string(v)) {
			snprintf(err, errlen, "%s.%s is not a string", where,
			         kp);
			return LS_EINVAL;
		}
		rv = kube_unb64(json_string_value(v), json_string_length(v),
		                KUBE_VALUE_MAX, &val, &vlen);
		if (rv < 0) {
			snprintf(err, errlen,
			         rv == LS_ETOOBIG
			             ? "%s.%s is over the value limit"
			             : "%s.%s is not base64",
			         where, kp);
			return rv;
		}
		rv = kube_secret_set_add(out, name, k, val, vlen);
		kube_buf_free(val, vlen + 1);
		if (rv < 0) {
			snprintf(err, errlen, "%s.%s: %s", where, kp,
			         ls_strerror(rv));
			return rv;
		}
	}
	return 0;
}

json_t *kube_json_load(const char *json, size_t len, size_t max, char *err,
                       size_t errlen)
{
	json_error_t je;
	json_t *j;

	if (len > max) {
		snprintf(err, errlen, "the input is %zu bytes, more than %zu",
		         len, max);
		return NULL;
	}
	j = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
	if (j == NULL) {
		/* je.text may quote the input: give the place only. */
		snprintf(err, errlen, "not JSON (line %d, column %d)", je.line,
		         je.column);
		return NULL;
	}
	if (!json_is_object(j)) {
		snprintf(err, errlen, "not a JSON object");
		kube_json_free(j);
		return NULL;
	}
	return j;
}

int kube_secret_parse(const char *json, size_t len, struct kube_secret_set *out,
                      char *err, size_t errlen)
{
	json_t *j, *md, *name, *data;
	int rv = LS_EINVAL;

	memset(out, 0, sizeof(*out));
	if ((j = kube_json_load(json, len, KUBE_JSON_MAX, err, errlen)) == NULL)
		return len > KUBE_JSON_MAX ? LS_ETOOBIG : LS_EINVAL;
	if (!json_is_string(json_object_get(j, "kind")) ||
	    strcmp(json_string_value(json_object_get(j, "kind")), "Secret") !=
	        0) {
		snprintf(err, errlen, "kind is not Secret");
		goto out;
	}
	md = json_object_get(j, "metadata");
	name = json_object_get(md, "name");
	if (!json_is_string(name) ||
	    kube_dns_subdomain(json_string_value(name)) < 0) {
		snprintf(err, errlen, "metadata.name is not a Secret name");
		goto out;
	}
	data = json_object_get(j, "data");
	if (data != NULL && !json_is_null(data) && !json_is_object(data)) {
		snprintf(err, errlen, "data is not an object");
		goto out;
	}
	rv = 0;
	if (json_is_object(data))
		rv = add_data(out, json_string_value(name), data, "data", err,
		              errlen);
out:
	if (rv < 0)
		kube_secret_set_free(out);
	kube_json_free(j);
	return rv;
}

int kube_saved_add(struct kube_saved *s, const char *name,
                   const struct kube_secret_set *items)
{
	struct kube_saved_secret *ns;
	size_t i, n0 = s->data.n;
	int rv;

	if (kube_dns_subdomain(name) < 0)
		return LS_EINVAL;
	if (s->n >= KUBE_SAVED_SECRETS_MAX)
		return LS_ETOOBIG;
	for (i = 0; i < s->n; i++)
		if (strcmp(s->secrets[i].name, name) == 0)
			return LS_EEXIST;
	for (i = 0; items != NULL && i < items->n; i++) {
		if (strcmp(items->items[i].name, name) != 0)
			continue;
		if ((rv = kube_secret_set_add(
		         &s->data, name, items->items[i].key,
		         items->items[i].value, items->items[i].len)) < 0)
			goto fail;
	}
	rv = LS_ENOMEM;
	ns = realloc(s->secrets, (s->n + 1) * sizeof(*ns));
	if (ns == NULL)
		goto fail;
	s->secrets = ns;
	if ((ns[s->n].name = strdup(name)) == NULL)
		goto fail;
	ns[s->n].exists = items != NULL;
	s->n++;
	return 0;
fail:
	set_truncate(&s->data, n0);
	return rv;
}

void kube_saved_free(struct kube_saved *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->n; i++)
		free(s->secrets[i].name);
	free(s->secrets);
	s->secrets = NULL;
	s->n = 0;
	kube_secret_set_free(&s->data);
}

int kube_saved_encode(const struct kube_saved *s, uint8_t **out, size_t *outlen)
{
	json_t *root, *arr, *e, *data;
	size_t i;
	int rv = LS_ENOMEM;

	*out = NULL;
	*outlen = 0;
	root = json_pack("{s:i, s:[]}", SAVED_FORMAT, 1, "secrets");
	if (root == NULL)
		return LS_ENOMEM;
	arr = json_object_get(root, "secrets");
	for (i = 0; i < s->n; i++) {
		e = json_pack("{s:s, s:b}", "name", s->secrets[i].name,
		              "exists", s->secrets[i].exists);
		if (e == NULL || json_array_append_new(arr, e) != 0)
			goto out;
		if (!s->secrets[i].exists)
			continue;
		if ((data = json_object()) == NULL ||
		    json_object_set_new(e, "data", data) != 0)
			goto out;
		if ((rv = data_object(&s->data, s->secrets[i].name, data)) < 0)
			goto out;
		rv = LS_ENOMEM;
	}
	rv = dump(root, out, outlen);
out:
	kube_json_free(root);
	return rv;
}

/* One element of "secrets". */
static int saved_one(struct kube_saved *out, size_t idx, const json_t *e,
                     char *err, size_t errlen)
{
	json_t *name = json_object_get(e, "name"),
	       *exists = json_object_get(e, "exists"),
	       *data = json_object_get(e, "data");
	struct kube_secret_set tmp = {0};
	char where[64];
	int rv;

	snprintf(where, sizeof(where), "secrets[%zu]", idx);
	if (!json_is_object(e) || !json_is_string(name) ||
	    kube_dns_subdomain(json_string_value(name)) < 0) {
		snprintf(err, errlen, "%s.name is not a Secret name", where);
		return LS_EINVAL;
	}
	if (!json_is_boolean(exists) ||
	    (json_is_false(exists) && data != NULL) ||
	    (data != NULL && !json_is_object(data))) {
		snprintf(err, errlen,
		         "%s: exists is not a boolean, or data is not an "
		         "object of an existing Secret",
		         where);
		return LS_EINVAL;
	}
	snprintf(where, sizeof(where), "secrets[%zu].data", idx);
	if (data != NULL && (rv = add_data(&tmp, json_string_value(name), data,
	                                   where, err, errlen)) < 0)
		goto out;
	rv = kube_saved_add(out, json_string_value(name),
	                    json_is_true(exists) ? &tmp : NULL);
	if (rv < 0)
		snprintf(err, errlen, "secrets[%zu].name: %s", idx,
		         rv == LS_EEXIST ? "a name saved twice"
		                         : ls_strerror(rv));
out:
	kube_secret_set_free(&tmp);
	return rv;
}

int kube_saved_decode(const uint8_t *buf, size_t len, struct kube_saved *out,
                      char *err, size_t errlen)
{
	json_t *j, *arr, *e;
	size_t i;
	int rv = LS_EINVAL;

	memset(out, 0, sizeof(*out));
	if ((j = kube_json_load((const char *)buf, len, KUBE_SAVED_MAX, err,
	                        errlen)) == NULL)
		return len > KUBE_SAVED_MAX ? LS_ETOOBIG : LS_EINVAL;
	if (!json_is_integer(json_object_get(j, SAVED_FORMAT)) ||
	    json_integer_value(json_object_get(j, SAVED_FORMAT)) != 1) {
		snprintf(err, errlen, "%s is not 1: not a saved state",
		         SAVED_FORMAT);
		goto out;
	}
	arr = json_object_get(j, "secrets");
	if (!json_is_array(arr) ||
	    json_array_size(arr) > KUBE_SAVED_SECRETS_MAX) {
		snprintf(err, errlen, "secrets is not a list of at most %d",
		         KUBE_SAVED_SECRETS_MAX);
		goto out;
	}
	rv = 0;
	json_array_foreach(arr, i, e)
	{
		if ((rv = saved_one(out, i, e, err, errlen)) < 0)
			break;
	}
out:
	if (rv < 0)
		kube_saved_free(out);
	kube_json_free(j);
	return rv;
}
