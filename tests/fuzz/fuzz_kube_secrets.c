/*
 * libFuzzer: kube_secrets over arbitrary input. The first byte picks the
 * reader, the rest is its input:
 *   0  gitlab-secrets.json -> Secrets; the manifest of the result read
 *      back Secret by Secret, saved and restored; an error never quotes a
 *      value and is never LS_EINTEGRITY (secrets.yml that does not read
 *      back is our emitter misused, not a bad input)
 *   1  kubectl's Secret -> items within bounds, through the manifest again
 *   2  a saved state -> decoded, encoded, decoded to the same
 *   3  raw text for secrets.yml: split at NUL bytes into gitlab_rails
 *      values (and a list), so the YAML emitter meets any UTF-8 text
 *      without the fuzzer having to write JSON escapes first
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kube_secrets.h"
#include "ls_error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_sets(const struct kube_secret_set *a,
                      const struct kube_secret_set *b)
{
	size_t i;

	if (a->n != b->n)
		__builtin_trap();
	for (i = 0; i < a->n; i++)
		if (strcmp(a->items[i].name, b->items[i].name) != 0 ||
		    strcmp(a->items[i].key, b->items[i].key) != 0 ||
		    a->items[i].len != b->items[i].len ||
		    memcmp(a->items[i].value, b->items[i].value,
		           a->items[i].len) != 0)
			__builtin_trap();
}

/* The manifest of s, each Secret in it read back as kubectl would give
 * it: together they are s again (in the manifest's order: by name). */
static void through_manifest(const struct kube_secret_set *s)
{
	struct kube_secret_set back = {0}, one;
	json_t *list, *sec;
	uint8_t *m = NULL;
	size_t mlen = 0, i, j;
	char err[256], *text;

	if (kube_secrets_manifest(s, "ns", &m, &mlen) != 0)
		__builtin_trap();
	if ((list = json_loadb((const char *)m, mlen, 0, NULL)) == NULL)
		__builtin_trap();
	json_array_foreach(json_object_get(list, "items"), i, sec)
	{
		text = json_dumps(sec, 0);
		if (text == NULL || kube_secret_parse(text, strlen(text), &one,
		                                      err, sizeof(err)) != 0)
			__builtin_trap();
		for (j = 0; j < one.n; j++)
			if (kube_secret_set_add(
			        &back, one.items[j].name, one.items[j].key,
			        one.items[j].value, one.items[j].len) != 0)
				__builtin_trap();
		kube_secret_set_free(&one);
		free(text);
	}
	/* Same items, maybe in another order. */
	if (back.n != s->n)
		__builtin_trap();
	for (i = 0; i < s->n; i++) {
		for (j = 0; j < back.n; j++)
			if (strcmp(s->items[i].name, back.items[j].name) == 0 &&
			    strcmp(s->items[i].key, back.items[j].key) == 0)
				break;
		if (j == back.n || back.items[j].len != s->items[i].len ||
		    memcmp(back.items[j].value, s->items[i].value,
		           s->items[i].len) != 0)
			__builtin_trap();
	}
	json_decref(list);
	kube_buf_free(m, mlen);
	kube_secret_set_free(&back);
}

static void saved_roundtrip(const struct kube_saved *sv)
{
	struct kube_saved back;
	uint8_t *enc = NULL;
	size_t len = 0, i;
	char err[256];

	if (kube_saved_encode(sv, &enc, &len) != 0 ||
	    kube_saved_decode(enc, len, &back, err, sizeof(err)) != 0)
		__builtin_trap();
	if (back.n != sv->n)
		__builtin_trap();
	for (i = 0; i < sv->n; i++)
		if (strcmp(back.secrets[i].name, sv->secrets[i].name) != 0 ||
		    back.secrets[i].exists != sv->secrets[i].exists)
			__builtin_trap();
	same_sets(&sv->data, &back.data);
	kube_saved_free(&back);
	kube_buf_free(enc, len);
}

/* 1 if some object key of j contains s. */
static int in_a_key(const json_t *j, const char *s)
{
	const char *k;
	json_t *v;
	size_t i;

	if (json_is_object(j)) {
		json_object_foreach((json_t *)j, k, v)
		{
			if (strstr(k, s) != NULL || in_a_key(v, s))
				return 1;
		}
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v)
		{
			if (in_a_key(v, s))
				return 1;
		}
	}
	return 0;
}

/* Secrets are hex, base64 or PEM: they hold a character that no message of
 * ours does, since those are key paths and English words ([A-Za-z_.-] and
 * spaces). A value made only of such characters ("db_key_base is") may be
 * matched by our own words, so it tells nothing. */
static int could_be_ours(const char *s)
{
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      *s == '_' || *s == '.' || *s == '-' || *s == ' '))
			return 0;
	return 1;
}

/* No string value of the input (long enough to mean something, and not
 * also a key's text, which errors do name) appears in err. */
static void no_value_in(const char *err, const json_t *root, const json_t *j)
{
	json_t *v;
	const char *k;
	size_t i;

	if (json_is_string(j)) {
		if (json_string_length(j) >= 12 &&
		    strlen(json_string_value(j)) == json_string_length(j) &&
		    strstr(err, json_string_value(j)) != NULL &&
		    !could_be_ours(json_string_value(j)) &&
		    !in_a_key(root, json_string_value(j)))
			__builtin_trap();
	} else if (json_is_object(j)) {
		json_object_foreach((json_t *)j, k, v)
		    no_value_in(err, root, v);
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v) no_value_in(err, root, v);
	}
}

static void from_gitlab(const char *p, size_t n)
{
	struct kube_secret_set s;
	struct kube_saved sv = {0};
	char err[512];
	json_t *j;
	size_t i;
	int rv;

	rv = kube_secrets_from_gitlab(p, n, "gitlab", &s, err, sizeof(err));
	if (rv < 0) {
		if (rv == LS_EINTEGRITY || err[0] == '\0' || s.n != 0)
			__builtin_trap();
		if ((j = json_loadb(p, n, 0, NULL)) != NULL)
			no_value_in(err, j, j);
		json_decref(j);
		return;
	}
	if (s.n == 0 || strcmp(s.items[0].name, "gitlab-rails-secret") != 0)
		__builtin_trap();
	through_manifest(&s);
	for (i = 0; i < s.n; i++)
		if ((i == 0 || strcmp(s.items[i].name, s.items[i - 1].name)) &&
		    kube_saved_add(&sv, s.items[i].name, &s) != 0)
			__builtin_trap();
	if (kube_saved_add(&sv, "gone", NULL) != 0)
		__builtin_trap();
	saved_roundtrip(&sv);
	kube_saved_free(&sv);
	kube_secret_set_free(&s);
}

static void yaml_values(const char *p, size_t n)
{
	static const char *const keys[] = {"secret_key_base", "db_key_base",
	                                   "otp_key_base", "k1", "k2"};
	json_t *root = json_object(), *rails = json_object(),
	       *list = json_array(), *v;
	const char *end = p + n, *nul;
	size_t i = 0;
	char *text;

	json_object_set_new(root, "gitlab_rails", rails);
	json_object_set_new(rails, "list", list);
	for (; p <= end; p = nul + 1, i++) {
		nul = memchr(p, '\0', (size_t)(end - p));
		if (nul == NULL)
			nul = end;
		/* NULL for text that is not UTF-8: a JSON file cannot hold it.
		 */
		if ((v = json_stringn(p, (size_t)(nul - p))) == NULL)
			v = json_string("x");
		if (i < 5)
			json_object_set_new(rails, keys[i], v);
		else
			json_array_append_new(list, v);
	}
	for (; i < 3; i++)
		json_object_set_new(rails, keys[i], json_string("x"));
	text = json_dumps(root, 0);
	if (text != NULL)
		from_gitlab(text, strlen(text));
	free(text);
	json_decref(root);
}

static void secret(const char *p, size_t n)
{
	struct kube_secret_set s;
	char err[256];
	size_t i;

	if (kube_secret_parse(p, n, &s, err, sizeof(err)) != 0) {
		if (err[0] == '\0' || s.n != 0)
			__builtin_trap();
		return;
	}
	if (s.n > KUBE_SECRET_KEYS_MAX)
		__builtin_trap();
	for (i = 0; i < s.n; i++)
		if (s.items[i].len > KUBE_VALUE_MAX ||
		    s.items[i].value[s.items[i].len] != '\0')
			__builtin_trap();
	if (s.n > 0)
		through_manifest(&s);
	kube_secret_set_free(&s);
}

static void saved(const uint8_t *p, size_t n)
{
	struct kube_saved sv;
	char err[256];

	if (kube_saved_decode(p, n, &sv, err, sizeof(err)) != 0) {
		if (err[0] == '\0' || sv.n != 0)
			__builtin_trap();
		return;
	}
	saved_roundtrip(&sv);
	kube_saved_free(&sv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 4) {
	case 0:
		from_gitlab((const char *)data + 1, size - 1);
		break;
	case 1:
		secret((const char *)data + 1, size - 1);
		break;
	case 2:
		saved(data + 1, size - 1);
		break;
	default:
		yaml_values((const char *)data + 1, size - 1);
		break;
	}
	return 0;
}
