/*
 * nng socket setup with Lockstep's defaults (DESIGN §3): every socket gets
 * a receive cap, reconnect back-off, and TLS configured explicitly, since
 * nng's defaults are unlimited messages, no back-off and no client auth.
 */
#ifndef LS_NNG_H
#define LS_NNG_H

#include <stddef.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

/*
 * Server TLS: own certificate and key (PEM, NUL-terminated). With ca_pem,
 * client certificates chaining to it are required; without, none are asked.
 */
int ls_nng_tls_server(nng_tls_config **cfg, const char *cert_pem,
                      const char *key_pem, const char *ca_pem);

/*
 * Client TLS. With ca_pem the server must chain to it and carry
 * server_name as a DNS SAN; without (enrollment only) nothing is verified
 * and the caller must authenticate the answer by other means.
 */
int ls_nng_tls_client(nng_tls_config **cfg, const char *ca_pem,
                      const char *cert_pem, const char *key_pem,
                      const char *server_name);

/* RECVMAXSZ and reconnect back-off on a socket. */
int ls_nng_socket_limits(nng_socket s, size_t max_msg, int reconn_min_ms,
                         int reconn_max_ms);

int ls_nng_listen_tls(nng_socket s, const char *url, nng_tls_config *cfg,
                      nng_listener *out);
/* A non-blocking dial: nng keeps redialing with back-off. */
int ls_nng_dial_tls(nng_socket s, const char *url, nng_tls_config *cfg,
                    nng_dialer *out);

#endif
