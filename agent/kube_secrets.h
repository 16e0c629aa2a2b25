/*
 * The move from the Linux package to the Helm chart starts with the
 * secrets (gitlab-facts §8): /etc/gitlab/gitlab-secrets.json becomes the
 * chart's Kubernetes Secrets, so that the chart's pods decrypt the restored
 * database and keep every token the fleet's other parts already trust.
 *
 * Kept free of I/O so that it can be unit-tested and fuzzed: the executor
 * runs kubectl and feeds it what these functions build.
 *
 * Secrets: every value buffer returned here is wiped before it is freed
 * (the *_free functions), and error messages name JSON keys, never values.
 * jansson's and libyaml's own internal copies (parser tokens, queued
 * emitter events) are freed by those libraries without a wipe: they
 * offer no allocator hook per call, and a process-wide one would change
 * every other jansson user in the executor.
 */
#ifndef KUBE_SECRETS_H
#define KUBE_SECRETS_H

#include <stddef.h>
#include <stdint.h>

/* gitlab-secrets.json is a few KiB, a kubectl Secret at most 1 MiB of
 * data (the API server's limit) plus metadata: refuse anything larger. */
#define KUBE_JSON_MAX (4u * 1024 * 1024)
/* Helm refuses release names longer than 53 characters. */
#define KUBE_RELEASE_MAX 53
/* A DNS-1123 subdomain, which a Secret's name must be. */
#define KUBE_NAME_MAX 253
/* What kube_secret_parse accepts from one Secret. */
#define KUBE_SECRET_KEYS_MAX 64
#define KUBE_VALUE_MAX (1024u * 1024)
/* Secrets in one saved state, and its encoded size. */
#define KUBE_SAVED_SECRETS_MAX 64
#define KUBE_SAVED_MAX (16u * 1024 * 1024)

/* One data key of one Secret; value holds len bytes and a NUL after them
 * (values may be binary: use len). */
struct kube_secret_item {
	char *name;
	char *key;
	uint8_t *value;
	size_t len;
};

struct kube_secret_set {
	struct kube_secret_item *items;
	size_t n, cap;
};

/*
 * Every chart Secret of gitlab-facts §8 whose source field is present in
 * gitlab-secrets.json (json, len bytes), named after the Helm release:
 *   <release>-rails-secret/secrets.yml   {production: the gitlab_rails hash}
 *   <release>-gitlab-shell-secret/secret, -gitlab-workhorse-secret/
 *   shared_secret, -gitaly-secret/token, -registry-httpsecret/secret,
 *   -registry-secret/registry-auth.key + registry-auth.crt,
 *   -gitlab-pages-secret/shared_secret, -gitlab-kas-secret/
 *   kas_shared_secret, -kas-private-api/kas_private_api_secret,
 *   -incoming-email-auth-token/authToken.
 * secrets.yml is emitted with libyaml: strings quoted (Rails reads them as
 * strings whatever they look like), multi-line ones as literal blocks,
 * lists as sequences, null members left out; it is parsed back and
 * compared with the JSON before it is returned (LS_EINTEGRITY if it does
 * not read back byte for byte).
 * A missing or null optional field, or an empty string, means no Secret.
 * Returns 0, or LS_EINVAL / LS_ETOOBIG / LS_ENOMEM with err naming the
 * JSON key at fault (never a value); *out is empty then.
 */
int kube_secrets_from_gitlab(const char *json, size_t len, const char *release,
                             struct kube_secret_set *out, char *err,
                             size_t errlen);

/* Wipes every value and frees; NULL-safe; leaves an empty set. */
void kube_secret_set_free(struct kube_secret_set *s);

/* Appends a copy of one item (name and key validated as Kubernetes
 * names); for callers that build sets of their own. */
int kube_secret_set_add(struct kube_secret_set *s, const char *name,
                        const char *key, const uint8_t *value, size_t len);

/*
 * The input of `kubectl apply --server-side -f -`: a v1 List of v1
 * Secrets, one per name in s (in order of first appearance), type Opaque,
 * in namespace ns, labelled app.kubernetes.io/managed-by=lockstep, data
 * in base64. *out (NUL-terminated, *outlen without the NUL) is freed with
 * kube_buf_free, which wipes it.
 */
int kube_secrets_manifest(const struct kube_secret_set *s, const char *ns,
                          uint8_t **out, size_t *outlen);

/* Wipes and frees a buffer returned by this module; NULL-safe. */
void kube_buf_free(uint8_t *buf, size_t len);

/*
 * `kubectl get secret NAME -o json` (a v1 Secret) to items: metadata.name
 * and each data key with its value decoded from base64. A Secret without
 * data gives no items. Bounded: over KUBE_SECRET_KEYS_MAX keys or a value
 * over KUBE_VALUE_MAX is refused. Errors name the field, never a value.
 */
int kube_secret_parse(const char *json, size_t len, struct kube_secret_set *out,
                      char *err, size_t errlen);

/*
 * The chart's Secrets as they were before a cutover wrote them, so that an
 * undo puts them back: for each name, its data, or that it did not exist
 * (the undo deletes it). An existing Secret without data is kept apart
 * from an absent one.
 */
struct kube_saved_secret {
	char *name;
	int exists;
};

struct kube_saved {
	struct kube_saved_secret *secrets;
	size_t n;
	struct kube_secret_set data; /* the items of the existing ones */
};

/* Records name: absent when items is NULL, else existing with the items of
 * items whose name is name (those of kube_secret_parse). A name recorded
 * twice is LS_EEXIST. */
int kube_saved_add(struct kube_saved *s, const char *name,
                   const struct kube_secret_set *items);

/*
 * Self-describing JSON,
 *   {"lockstep_kube_saved":1,"secrets":[{"name":N,"exists":true,
 *    "data":{KEY:BASE64...}}, {"name":N,"exists":false}]}
 * meant to be sealed (crypto_box_seal) by the caller. *out is freed with
 * kube_buf_free.
 */
int kube_saved_encode(const struct kube_saved *s, uint8_t **out,
                      size_t *outlen);
int kube_saved_decode(const uint8_t *buf, size_t len, struct kube_saved *out,
                      char *err, size_t errlen);
/* Wipes and frees; NULL-safe; leaves it empty. */
void kube_saved_free(struct kube_saved *s);

#endif
