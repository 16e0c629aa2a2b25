#include "ls_nng.h"

#include "ls_error.h"

int ls_nng_tls_server(nng_tls_config **cfgp, const char *cert_pem,
                      const char *key_pem, const char *ca_pem)
{
	nng_tls_config *cfg;
	int rv;

	*cfgp = NULL;
	if ((rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_SERVER)) != 0)
		return ls_from_nng(rv);
	if ((rv = nng_tls_config_version(cfg, NNG_TLS_1_2, NNG_TLS_1_3)) != 0 ||
	    (rv = nng_tls_config_own_cert(cfg, cert_pem, key_pem, NULL)) != 0)
		goto fail;
	if (ca_pem != NULL) {
		if ((rv = nng_tls_config_ca_chain(cfg, ca_pem, NULL)) != 0 ||
		    (rv = nng_tls_config_auth_mode(
		         cfg, NNG_TLS_AUTH_MODE_REQUIRED)) != 0)
			goto fail;
	} else if ((rv = nng_tls_config_auth_mode(
	                cfg, NNG_TLS_AUTH_MODE_NONE)) != 0) {
		goto fail;
	}
	*cfgp = cfg;
	return 0;
fail:
	nng_tls_config_free(cfg);
	return ls_from_nng(rv);
}

int ls_nng_tls_client(nng_tls_config **cfgp, const char *ca_pem,
                      const char *cert_pem, const char *key_pem,
                      const char *server_name)
{
	nng_tls_config *cfg;
	int rv;

	*cfgp = NULL;
	if ((rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_CLIENT)) != 0)
		return ls_from_nng(rv);
	if ((rv = nng_tls_config_version(cfg, NNG_TLS_1_2, NNG_TLS_1_3)) != 0)
		goto fail;
	if (ca_pem != NULL) {
		if ((rv = nng_tls_config_ca_chain(cfg, ca_pem, NULL)) != 0 ||
		    (rv = nng_tls_config_server_name(cfg, server_name)) != 0 ||
		    (rv = nng_tls_config_auth_mode(
		         cfg, NNG_TLS_AUTH_MODE_REQUIRED)) != 0)
			goto fail;
	} else if ((rv = nng_tls_config_auth_mode(
	                cfg, NNG_TLS_AUTH_MODE_NONE)) != 0) {
		goto fail;
	}
	if (cert_pem != NULL &&
	    (rv = nng_tls_config_own_cert(cfg, cert_pem, key_pem, NULL)) != 0)
		goto fail;
	*cfgp = cfg;
	return 0;
fail:
	nng_tls_config_free(cfg);
	return ls_from_nng(rv);
}

int ls_nng_socket_limits(nng_socket s, size_t max_msg, int reconn_min_ms,
                         int reconn_max_ms)
{
	int rv;

	if ((rv = nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, max_msg)) != 0 ||
	    (rv = nng_socket_set_ms(s, NNG_OPT_RECONNMINT, reconn_min_ms)) !=
	        0 ||
	    (rv = nng_socket_set_ms(s, NNG_OPT_RECONNMAXT, reconn_max_ms)) != 0)
		return ls_from_nng(rv);
	return 0;
}

int ls_nng_listen_tls(nng_socket s, const char *url, nng_tls_config *cfg,
                      nng_listener *out)
{
	nng_listener l;
	int rv;

	if ((rv = nng_listener_create(&l, s, url)) != 0)
		return ls_from_nng(rv);
	if ((rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, cfg)) != 0 ||
	    (rv = nng_listener_start(l, 0)) != 0) {
		nng_listener_close(l);
		return ls_from_nng(rv);
	}
	if (out != NULL)
		*out = l;
	return 0;
}

int ls_nng_dial_tls(nng_socket s, const char *url, nng_tls_config *cfg,
                    nng_dialer *out)
{
	nng_dialer d;
	int rv;

	if ((rv = nng_dialer_create(&d, s, url)) != 0)
		return ls_from_nng(rv);
	if ((rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg)) != 0 ||
	    (rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK)) != 0) {
		nng_dialer_close(d);
		return ls_from_nng(rv);
	}
	if (out != NULL)
		*out = d;
	return 0;
}
