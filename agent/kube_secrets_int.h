/* Helpers shared by kube_secrets.c and kube_secrets_k8s.c. */
#ifndef KUBE_SECRETS_INT_H
#define KUBE_SECRETS_INT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* A growing buffer for secret text: every old copy is wiped when it grows,
 * so no secret is left behind in freed memory. */
struct kube_buf {
	uint8_t *p;
	size_t len, cap;
};

int kube_buf_add(struct kube_buf *b, const void *data, size_t n);
/* Wipes and frees; leaves it empty. */
void kube_buf_clear(struct kube_buf *b);
/* jansson's json_dump_callback into a kube_buf. */
int kube_buf_dump(const char *data, size_t n, void *arg);

/* Overwrites every string value in j (keys are not secret) so that
 * json_decref frees no secret; then drops the reference. NULL-safe. */
void kube_json_free(json_t *j);

/* A JSON object of at most max bytes, or NULL with err saying why (never
 * quoting the input). Free with kube_json_free. */
json_t *kube_json_load(const char *json, size_t len, size_t max, char *err,
                       size_t errlen);

/* 0 if s is a DNS-1123 label of at most max characters. */
int kube_dns_label(const char *s, size_t max);
/* 0 if s is a DNS-1123 subdomain (a Secret's name). */
int kube_dns_subdomain(const char *s);
/* 0 if s is a Secret data key: [-._a-zA-Z0-9]{1,253}. */
int kube_data_key(const char *s);
/* A key from an input, fit for an error message: printable ASCII only,
 * others as '?', cut at 120 characters. */
void kube_key_print(char *dst, size_t size, const char *key);

/* Standard base64 (with padding) of in into a NUL-terminated heap buffer
 * that the caller wipes (its length is *outlen) and frees. */
int kube_b64(const uint8_t *in, size_t len, char **out, size_t *outlen);
/* Decodes standard base64; *out holds *outlen bytes and a NUL, freed by
 * the caller after a wipe. LS_EINVAL if s is not base64, LS_ETOOBIG if
 * the result would pass max. */
int kube_unb64(const char *s, size_t slen, size_t max, uint8_t **out,
               size_t *outlen);

#endif
