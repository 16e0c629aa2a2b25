/*
 * The fleet's X.509 material (OpenSSL 3): an ECDSA P-256 CA, the
 * coordinator's server certificate, agent CSRs and their signing. nng's
 * mbedTLS build loads only ECDSA P-256 (not Ed25519), hence the curve.
 */
#ifndef LS_PKI_H
#define LS_PKI_H

#include <stddef.h>
#include <stdint.h>

struct ls_buf {
	uint8_t *data;
	size_t len;
};

void ls_buf_free(struct ls_buf *b); /* wipes, then frees; NULL-safe */

/* A new self-signed CA valid for `days`; PEM outputs are NUL-terminated. */
int ls_pki_ca_create(const char *cn, int days, struct ls_buf *cert_pem,
                     struct ls_buf *key_pem);

/* A server certificate for the given DNS names, signed by the CA. */
int ls_pki_server_cert(const struct ls_buf *ca_cert_pem,
                       const struct ls_buf *ca_key_pem, const char *cn,
                       const char *const *dns, size_t ndns, int days,
                       struct ls_buf *cert_pem, struct ls_buf *key_pem);

/* A fresh key and a CSR (DER) for it. */
int ls_pki_csr_create(const char *cn, struct ls_buf *csr_der,
                      struct ls_buf *key_pem);

/*
 * Signs a CSR as a client certificate for `cn`. The CSR's own subject is
 * ignored: the coordinator decides the name. The CSR signature is checked.
 */
int ls_pki_sign_csr(const struct ls_buf *ca_cert_pem,
                    const struct ls_buf *ca_key_pem, const uint8_t *csr_der,
                    size_t csr_len, const char *cn, int days,
                    struct ls_buf *cert_der);

int ls_pki_cert_der_to_pem(const uint8_t *der, size_t len, struct ls_buf *pem);
int ls_pki_cert_pem_to_der(const struct ls_buf *pem, struct ls_buf *der);

/* SHA-256 of a DER certificate. */
int ls_pki_fingerprint(const uint8_t *der, size_t len, uint8_t out[32]);

/* 0 if cert (DER) is signed by ca (DER) and matches key_pem's public key. */
int ls_pki_check_issued(const uint8_t *ca_der, size_t ca_len,
                        const uint8_t *cert_der, size_t cert_len,
                        const struct ls_buf *key_pem);

#endif
