/* The fleet's X.509 material. */
#include <stdlib.h>
#include <string.h>

#include "ls_error.h"
#include "ls_pki.h"
#include "testutil.h"

int main(void)
{
	struct ls_buf ca = {0}, ca_key = {0}, srv = {0}, srv_key = {0};
	struct ls_buf csr = {0}, node_key = {0}, cert = {0}, ca_der = {0};
	struct ls_buf other = {0}, other_key = {0}, pem = {0};
	const char *names[] = {"localhost", "coord.example.com"};
	uint8_t fp1[32], fp2[32];

	CHECK_EQ_INT(ls_pki_ca_create("test CA", 30, &ca, &ca_key), 0);
	CHECK_CONTAINS((char *)ca.data, "BEGIN CERTIFICATE");
	CHECK_CONTAINS((char *)ca_key.data, "PRIVATE KEY");
	CHECK_EQ_INT(ls_pki_server_cert(&ca, &ca_key, "localhost", names, 2, 30,
	                                &srv, &srv_key),
	             0);
	ls_buf_free(&srv);
	ls_buf_free(&srv_key);
	CHECK_EQ_INT(
	    ls_pki_server_cert(&ca, &ca_key, "x", names, 0, 30, &srv, &srv_key),
	    LS_EINVAL);
	CHECK_EQ_INT(ls_pki_server_cert(&ca, &ca_key, "localhost", names, 2, 30,
	                                &srv, &srv_key),
	             0);
	CHECK_EQ_INT(ls_pki_csr_create("gitaly-1", &csr, &node_key), 0);
	CHECK_EQ_INT(ls_pki_sign_csr(&ca, &ca_key, csr.data, csr.len,
	                             "gitaly-1", 30, &cert),
	             0);
	CHECK_EQ_INT(ls_pki_cert_pem_to_der(&ca, &ca_der), 0);
	CHECK_EQ_INT(ls_pki_check_issued(ca_der.data, ca_der.len, cert.data,
	                                 cert.len, &node_key),
	             0);
	/* A certificate does not match another key. */
	CHECK_EQ_INT(ls_pki_check_issued(ca_der.data, ca_der.len, cert.data,
	                                 cert.len, &srv_key),
	             LS_EAUTH);
	/* Another CA did not issue it. */
	CHECK_EQ_INT(ls_pki_ca_create("other", 30, &other, &other_key), 0);
	{
		struct ls_buf od = {0};
		CHECK_EQ_INT(ls_pki_cert_pem_to_der(&other, &od), 0);
		CHECK_EQ_INT(ls_pki_check_issued(od.data, od.len, cert.data,
		                                 cert.len, NULL),
		             LS_EAUTH);
		ls_buf_free(&od);
	}
	/* A CSR whose signature is broken is refused. */
	csr.data[csr.len - 5] ^= 0x40;
	{
		struct ls_buf bad = {0};
		CHECK(ls_pki_sign_csr(&ca, &ca_key, csr.data, csr.len, "x", 30,
		                      &bad) < 0);
		CHECK(ls_pki_sign_csr(&ca, &ca_key, (const uint8_t *)"junk", 4,
		                      "x", 30, &bad) < 0);
	}
	CHECK_EQ_INT(ls_pki_fingerprint(ca_der.data, ca_der.len, fp1), 0);
	CHECK_EQ_INT(ls_pki_cert_der_to_pem(ca_der.data, ca_der.len, &pem), 0);
	{
		struct ls_buf d2 = {0};
		CHECK_EQ_INT(ls_pki_cert_pem_to_der(&pem, &d2), 0);
		CHECK_EQ_INT(ls_pki_fingerprint(d2.data, d2.len, fp2), 0);
		CHECK(memcmp(fp1, fp2, 32) == 0);
		ls_buf_free(&d2);
	}
	ls_buf_free(&ca);
	ls_buf_free(&ca_key);
	ls_buf_free(&srv);
	ls_buf_free(&srv_key);
	ls_buf_free(&csr);
	ls_buf_free(&node_key);
	ls_buf_free(&cert);
	ls_buf_free(&ca_der);
	ls_buf_free(&other);
	ls_buf_free(&other_key);
	ls_buf_free(&pem);
	return tu_done();
}
