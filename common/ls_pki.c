#include "ls_pki.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ls_error.h"
#include "ls_util.h"

#define PKI_MAX_DNS 32

void ls_buf_free(struct ls_buf *b)
{
	if (b == NULL)
		return;
	if (b->data != NULL) {
		ls_wipe(b->data, b->len);
		free(b->data);
	}
	b->data = NULL;
	b->len = 0;
}

static int bio_to_buf(BIO *bio, struct ls_buf *out)
{
	char *p;
	long n = BIO_get_mem_data(bio, &p);

	if (n <= 0)
		return LS_ECRYPTO;
	out->data = malloc((size_t)n + 1);
	if (out->data == NULL)
		return LS_ENOMEM;
	memcpy(out->data, p, (size_t)n);
	out->data[n] = '\0';
	out->len = (size_t)n;
	return 0;
}

static int key_to_pem(EVP_PKEY *key, struct ls_buf *out)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int rv = LS_ECRYPTO;

	if (bio == NULL)
		return LS_ENOMEM;
	if (PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) == 1)
		rv = bio_to_buf(bio, out);
	BIO_free(bio);
	return rv;
}

static int cert_to_pem(X509 *x, struct ls_buf *out)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int rv = LS_ECRYPTO;

	if (bio == NULL)
		return LS_ENOMEM;
	if (PEM_write_bio_X509(bio, x) == 1)
		rv = bio_to_buf(bio, out);
	BIO_free(bio);
	return rv;
}

static X509 *pem_to_cert(const struct ls_buf *pem)
{
	BIO *bio;
	X509 *x;

	if (pem->len > INT32_MAX)
		return NULL;
	bio = BIO_new_mem_buf(pem->data, (int)pem->len);
	if (bio == NULL)
		return NULL;
	x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	return x;
}

static EVP_PKEY *pem_to_key(const struct ls_buf *pem)
{
	BIO *bio;
	EVP_PKEY *k;

	if (pem->len > INT32_MAX)
		return NULL;
	bio = BIO_new_mem_buf(pem->data, (int)pem->len);
	if (bio == NULL)
		return NULL;
	k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	return k;
}

static EVP_PKEY *new_p256(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

static int set_serial(X509 *x)
{
	unsigned char raw[16];
	BIGNUM *bn;
	int ok;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return LS_ECRYPTO;
	raw[0] &= 0x7f; /* positive, as RFC 5280 requires */
	bn = BN_bin2bn(raw, sizeof(raw), NULL);
	if (bn == NULL)
		return LS_ENOMEM;
	ok = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
	BN_free(bn);
	return ok ? 0 : LS_ECRYPTO;
}

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ext == NULL)
		return LS_ECRYPTO;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : LS_ECRYPTO;
}

/* Subject, validity, serial, key; extensions are added by the caller. */
static X509 *cert_skeleton(const char *cn, int days, EVP_PKEY *pub)
{
	X509 *x = X509_new();
	X509_NAME *name;

	if (x == NULL)
		return NULL;
	name = X509_get_subject_name(x);
	if (X509_set_version(x, 2) != 1 || set_serial(x) < 0 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -300) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), (long)days * 86400) ==
	        NULL ||
	    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
	                               (const unsigned char *)"Lockstep fleet",
	                               -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	                               (const unsigned char *)cn, -1, -1,
	                               0) != 1 ||
	    X509_set_pubkey(x, pub) != 1) {
		X509_free(x);
		return NULL;
	}
	return x;
}

int ls_pki_ca_create(const char *cn, int days, struct ls_buf *cert_pem,
                     struct ls_buf *key_pem)
{
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	int rv = LS_ECRYPTO;

	memset(cert_pem, 0, sizeof(*cert_pem));
	memset(key_pem, 0, sizeof(*key_pem));
	if ((key = new_p256()) == NULL)
		goto out;
	if ((x = cert_skeleton(cn, days, key)) == NULL)
		goto out;
	if (X509_set_issuer_name(x, X509_get_subject_name(x)) != 1)
		goto out;
	if ((rv = add_ext(x, x, NID_basic_constraints,
	                  "critical,CA:TRUE,pathlen:0")) < 0 ||
	    (rv = add_ext(x, x, NID_key_usage,
	                  "critical,keyCertSign,cRLSign")) < 0 ||
	    (rv = add_ext(x, x, NID_subject_key_identifier, "hash")) < 0)
		goto out;
	rv = LS_ECRYPTO;
	if (X509_sign(x, key, EVP_sha256()) <= 0)
		goto out;
	if ((rv = cert_to_pem(x, cert_pem)) < 0 ||
	    (rv = key_to_pem(key, key_pem)) < 0)
		goto out;
	rv = 0;
out:
	if (rv < 0) {
		ls_buf_free(cert_pem);
		ls_buf_free(key_pem);
	}
	X509_free(x);
	EVP_PKEY_free(key);
	return rv;
}

/* Signs x with the CA and adds the authority key identifier. */
static int ca_sign(X509 *x, X509 *ca, EVP_PKEY *ca_key)
{
	int rv;

	if (X509_set_issuer_name(x, X509_get_subject_name(ca)) != 1)
		return LS_ECRYPTO;
	if ((rv = add_ext(x, ca, NID_authority_key_identifier,
	                  "keyid:always")) < 0)
		return rv;
	if (X509_sign(x, ca_key, EVP_sha256()) <= 0)
		return LS_ECRYPTO;
	return 0;
}

int ls_pki_server_cert(const struct ls_buf *ca_cert_pem,
                       const struct ls_buf *ca_key_pem, const char *cn,
                       const char *const *dns, size_t ndns, int days,
                       struct ls_buf *cert_pem, struct ls_buf *key_pem)
{
	EVP_PKEY *key = NULL, *ca_key = NULL;
	X509 *x = NULL, *ca = NULL;
	char san[4096];
	size_t i, used = 0;
	int rv = LS_ECRYPTO;

	memset(cert_pem, 0, sizeof(*cert_pem));
	memset(key_pem, 0, sizeof(*key_pem));
	if (ndns == 0 || ndns > PKI_MAX_DNS)
		return LS_EINVAL;
	san[0] = '\0';
	for (i = 0; i < ndns; i++) {
		int n = snprintf(san + used, sizeof(san) - used, "%sDNS:%s",
		                 i ? "," : "", dns[i]);
		if (n < 0 || (size_t)n >= sizeof(san) - used ||
		    strchr(dns[i], ',') != NULL)
			return LS_EINVAL;
		used += (size_t)n;
	}
	if ((ca = pem_to_cert(ca_cert_pem)) == NULL ||
	    (ca_key = pem_to_key(ca_key_pem)) == NULL ||
	    (key = new_p256()) == NULL ||
	    (x = cert_skeleton(cn, days, key)) == NULL)
		goto out;
	if ((rv = add_ext(x, ca, NID_basic_constraints, "critical,CA:FALSE")) <
	        0 ||
	    (rv = add_ext(x, ca, NID_key_usage,
	                  "critical,digitalSignature,keyAgreement")) < 0 ||
	    (rv = add_ext(x, ca, NID_ext_key_usage, "serverAuth")) < 0 ||
	    (rv = add_ext(x, ca, NID_subject_alt_name, san)) < 0 ||
	    (rv = ca_sign(x, ca, ca_key)) < 0)
		goto out;
	if ((rv = cert_to_pem(x, cert_pem)) < 0 ||
	    (rv = key_to_pem(key, key_pem)) < 0)
		goto out;
	rv = 0;
out:
	if (rv < 0) {
		ls_buf_free(cert_pem);
		ls_buf_free(key_pem);
	}
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ca_key);
	return rv;
}

int ls_pki_csr_create(const char *cn, struct ls_buf *csr_der,
                      struct ls_buf *key_pem)
{
	EVP_PKEY *key = NULL;
	X509_REQ *req = NULL;
	unsigned char *der = NULL;
	int n, rv = LS_ECRYPTO;

	memset(csr_der, 0, sizeof(*csr_der));
	memset(key_pem, 0, sizeof(*key_pem));
	if ((key = new_p256()) == NULL || (req = X509_REQ_new()) == NULL)
		goto out;
	if (X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN",
	                               MBSTRING_UTF8, (const unsigned char *)cn,
	                               -1, -1, 0) != 1 ||
	    X509_REQ_set_pubkey(req, key) != 1 ||
	    X509_REQ_sign(req, key, EVP_sha256()) <= 0)
		goto out;
	n = i2d_X509_REQ(req, &der);
	if (n <= 0)
		goto out;
	csr_der->data = malloc((size_t)n);
	if (csr_der->data == NULL) {
		rv = LS_ENOMEM;
		goto out;
	}
	memcpy(csr_der->data, der, (size_t)n);
	csr_der->len = (size_t)n;
	if ((rv = key_to_pem(key, key_pem)) < 0)
		goto out;
	rv = 0;
out:
	if (rv < 0) {
		ls_buf_free(csr_der);
		ls_buf_free(key_pem);
	}
	OPENSSL_free(der);
	X509_REQ_free(req);
	EVP_PKEY_free(key);
	return rv;
}

int ls_pki_sign_csr(const struct ls_buf *ca_cert_pem,
                    const struct ls_buf *ca_key_pem, const uint8_t *csr_der,
                    size_t csr_len, const char *cn, int days,
                    struct ls_buf *cert_der)
{
	const unsigned char *p = csr_der;
	X509_REQ *req = NULL;
	EVP_PKEY *pub = NULL, *ca_key = NULL;
	X509 *x = NULL, *ca = NULL;
	unsigned char *der = NULL;
	int n, rv = LS_ECRYPTO;

	memset(cert_der, 0, sizeof(*cert_der));
	if (csr_len == 0 || csr_len > 16384)
		return LS_ETOOBIG;
	req = d2i_X509_REQ(NULL, &p, (long)csr_len);
	if (req == NULL || p != csr_der + csr_len) {
		rv = LS_EPROTO;
		goto out;
	}
	pub = X509_REQ_get_pubkey(req);
	if (pub == NULL || X509_REQ_verify(req, pub) != 1) {
		rv = LS_EAUTH;
		goto out;
	}
	/* Only P-256 keys load in the agents' TLS stack. */
	if (!EVP_PKEY_is_a(pub, "EC")) {
		rv = LS_EINVAL;
		goto out;
	}
	if ((ca = pem_to_cert(ca_cert_pem)) == NULL ||
	    (ca_key = pem_to_key(ca_key_pem)) == NULL ||
	    (x = cert_skeleton(cn, days, pub)) == NULL)
		goto out;
	if ((rv = add_ext(x, ca, NID_basic_constraints, "critical,CA:FALSE")) <
	        0 ||
	    (rv = add_ext(x, ca, NID_key_usage,
	                  "critical,digitalSignature,keyAgreement")) < 0 ||
	    (rv = add_ext(x, ca, NID_ext_key_usage, "clientAuth")) < 0 ||
	    (rv = ca_sign(x, ca, ca_key)) < 0)
		goto out;
	rv = LS_ECRYPTO;
	n = i2d_X509(x, &der);
	if (n <= 0)
		goto out;
	cert_der->data = malloc((size_t)n);
	if (cert_der->data == NULL) {
		rv = LS_ENOMEM;
		goto out;
	}
	memcpy(cert_der->data, der, (size_t)n);
	cert_der->len = (size_t)n;
	rv = 0;
out:
	OPENSSL_free(der);
	X509_REQ_free(req);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(ca_key);
	X509_free(x);
	X509_free(ca);
	return rv;
}

static X509 *der_to_cert(const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x;

	if (len == 0 || len > 65536)
		return NULL;
	x = d2i_X509(NULL, &p, (long)len);
	if (x != NULL && p != der + len) {
		X509_free(x);
		return NULL;
	}
	return x;
}

int ls_pki_cert_der_to_pem(const uint8_t *der, size_t len, struct ls_buf *pem)
{
	X509 *x = der_to_cert(der, len);
	int rv;

	memset(pem, 0, sizeof(*pem));
	if (x == NULL)
		return LS_EPROTO;
	rv = cert_to_pem(x, pem);
	X509_free(x);
	return rv;
}

int ls_pki_cert_pem_to_der(const struct ls_buf *pem, struct ls_buf *der)
{
	X509 *x = pem_to_cert(pem);
	unsigned char *d = NULL;
	int n, rv = LS_ECRYPTO;

	memset(der, 0, sizeof(*der));
	if (x == NULL)
		return LS_EPROTO;
	n = i2d_X509(x, &d);
	if (n > 0) {
		der->data = malloc((size_t)n);
		if (der->data == NULL) {
			rv = LS_ENOMEM;
		} else {
			memcpy(der->data, d, (size_t)n);
			der->len = (size_t)n;
			rv = 0;
		}
	}
	OPENSSL_free(d);
	X509_free(x);
	return rv;
}

int ls_pki_fingerprint(const uint8_t *der, size_t len, uint8_t out[32])
{
	unsigned int n = 0;

	if (EVP_Digest(der, len, out, &n, EVP_sha256(), NULL) != 1 || n != 32)
		return LS_ECRYPTO;
	return 0;
}

int ls_pki_check_issued(const uint8_t *ca_der, size_t ca_len,
                        const uint8_t *cert_der, size_t cert_len,
                        const struct ls_buf *key_pem)
{
	X509 *ca = der_to_cert(ca_der, ca_len);
	X509 *x = der_to_cert(cert_der, cert_len);
	EVP_PKEY *ca_pub = NULL, *key = NULL;
	int rv = LS_EAUTH;

	if (ca == NULL || x == NULL) {
		rv = LS_EPROTO;
		goto out;
	}
	ca_pub = X509_get_pubkey(ca);
	if (ca_pub == NULL || X509_verify(x, ca_pub) != 1)
		goto out;
	if (key_pem != NULL) {
		key = pem_to_key(key_pem);
		if (key == NULL || X509_check_private_key(x, key) != 1)
			goto out;
	}
	rv = 0;
out:
	EVP_PKEY_free(ca_pub);
	EVP_PKEY_free(key);
	X509_free(ca);
	X509_free(x);
	return rv;
}
