#include "agent_join.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <sodium.h>

#include "agent_identity.h"
#include "ls_error.h"
#include "ls_nng.h"
#include "ls_token.h"
#include "ls_util.h"

#define JOIN_MAX_MSG (64 * 1024)

/* One round trip to the enroll listener. */
static int exchange(const char *url, const uint8_t *req, size_t reqlen,
                    int timeout_ms, Ls__JoinResponse **resp, char *msg,
                    size_t msglen)
{
	nng_socket s;
	nng_tls_config *tls = NULL;
	nng_dialer d;
	nng_msg *m = NULL;
	int rv;

	*resp = NULL;
	if ((rv = nng_req0_open(&s)) != 0) {
		snprintf(msg, msglen, "nng: %s", nng_strerror(rv));
		return ls_from_nng(rv);
	}
	nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, JOIN_MAX_MSG);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, timeout_ms);
	nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, timeout_ms);
	nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	/* No CA yet: the answer is authenticated by the token's MAC and
	 * the CA by its fingerprint, not by this TLS session. */
	if ((rv = ls_nng_tls_client(&tls, NULL, NULL, NULL, NULL)) < 0) {
		snprintf(msg, msglen, "TLS setup: %s", ls_strerror(rv));
		goto out;
	}
	if ((rv = nng_dialer_create(&d, s, url)) != 0 ||
	    (rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, tls)) != 0 ||
	    (rv = nng_dialer_start(d, 0)) != 0) {
		snprintf(msg, msglen, "cannot reach the coordinator at %s: %s",
		         url, nng_strerror(rv));
		rv = ls_from_nng(rv);
		goto out;
	}
	if ((rv = nng_msg_alloc(&m, 0)) != 0 ||
	    (rv = nng_msg_append(m, req, reqlen)) != 0 ||
	    (rv = nng_sendmsg(s, m, 0)) != 0) {
		nng_msg_free(m);
		snprintf(msg, msglen, "sending the join request: %s",
		         nng_strerror(rv));
		rv = ls_from_nng(rv);
		goto out;
	}
	if ((rv = nng_recvmsg(s, &m, 0)) != 0) {
		snprintf(msg, msglen,
		         "no answer from the coordinator at %s: %s", url,
		         nng_strerror(rv));
		rv = ls_from_nng(rv);
		goto out;
	}
	*resp =
	    ls__join_response__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
	nng_msg_free(m);
	if (*resp == NULL) {
		snprintf(msg, msglen,
		         "undecodable answer from the coordinator");
		rv = LS_EPROTO;
		goto out;
	}
	rv = 0;
out:
	if (tls)
		nng_tls_config_free(tls);
	nng_close(s);
	return rv;
}

static int check_grant(const Ls__JoinToken *tok, const Ls__JoinResponse *resp,
                       uint64_t nonce, const struct ls_buf *key_pem,
                       Ls__JoinGrant **grantp, char *msg, size_t msglen)
{
	Ls__JoinGrant *g;
	uint8_t fp[32];

	*grantp = NULL;
	if (resp->status != 0) {
		snprintf(msg, msglen, "the coordinator refused the join: %s",
		         resp->error ? resp->error : ls_strerror(resp->status));
		return resp->status < 0 ? resp->status : LS_EPROTO;
	}
	if (!resp->has_payload || !resp->has_mac ||
	    ls_mac_verify(resp->mac.data, resp->mac.len, tok->secret.data,
	                  LS_MAC_JOIN_RESP, resp->payload.data,
	                  resp->payload.len) < 0) {
		snprintf(msg, msglen,
		         "the answer is not authenticated by the token: this "
		         "is not the coordinator that issued it");
		return LS_EAUTH;
	}
	g = ls__join_grant__unpack(NULL, resp->payload.len, resp->payload.data);
	if (g == NULL || g->nonce != nonce || strcmp(g->node, tok->node) != 0 ||
	    g->coord_sign_pk.len != LS_SIGN_PK_LEN ||
	    g->n_roles > AGENT_MAX_ROLES) {
		snprintf(msg, msglen, "malformed grant from the coordinator");
		if (g)
			ls__join_grant__free_unpacked(g, NULL);
		return LS_EPROTO;
	}
	if (ls_pki_fingerprint(g->ca_der.data, g->ca_der.len, fp) < 0 ||
	    sodium_memcmp(fp, tok->ca_sha256.data, 32) != 0) {
		snprintf(msg, msglen,
		         "the coordinator's CA does not match the "
		         "fingerprint in the token");
		ls__join_grant__free_unpacked(g, NULL);
		return LS_EAUTH;
	}
	if (ls_pki_check_issued(g->ca_der.data, g->ca_der.len, g->cert_der.data,
	                        g->cert_der.len, key_pem) < 0) {
		snprintf(msg, msglen,
		         "the certificate received is not issued "
		         "by the fleet CA for this node's key");
		ls__join_grant__free_unpacked(g, NULL);
		return LS_EAUTH;
	}
	*grantp = g;
	return 0;
}

int agent_join(const char *state_dir, const char *token, int timeout_ms,
               char *msg, size_t msglen)
{
	Ls__JoinToken *tok = NULL;
	Ls__JoinAsk ask = LS__JOIN_ASK__INIT;
	Ls__JoinRequest req = LS__JOIN_REQUEST__INIT;
	Ls__JoinResponse *resp = NULL;
	Ls__JoinGrant *g = NULL;
	struct agent_identity id;
	struct ls_buf csr = {0}, key_pem = {0};
	uint8_t pk[LS_SIGN_PK_LEN], mac[LS_MAC_LEN];
	uint8_t *payload = NULL, *reqbuf = NULL;
	size_t plen = 0, rlen = 0, i;
	char path[LS_PATH_MAX];
	struct stat st;
	int rv;

	memset(&id, 0, sizeof(id));
	if (sodium_init() < 0)
		return LS_ECRYPTO;
	if ((rv = ls_token_decode(token, &tok)) < 0) {
		snprintf(msg, msglen,
		         "invalid join token (%s): copy it whole from "
		         "'lockstep node add'",
		         ls_strerror(rv));
		return rv;
	}
	if ((int64_t)tok->expires <= ls_now()) {
		char when[64];
		time_t t = (time_t)tok->expires;
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
		snprintf(msg, msglen,
		         "join token for %s expired at %s; create a new one "
		         "with 'lockstep node add %s --role ...'",
		         tok->node, when, tok->node);
		rv = LS_EEXPIRED;
		goto out;
	}
	if (ls_fmt(path, sizeof(path), "%s/identity", state_dir) == 0 &&
	    lstat(path, &st) == 0) {
		snprintf(msg, msglen,
		         "%s already holds an identity; remove it to join "
		         "again",
		         path);
		rv = LS_EEXIST;
		goto out;
	}
	if ((rv = ls_pki_csr_create(tok->node, &csr, &key_pem)) < 0 ||
	    (rv = ls_sign_keypair(pk, id.sign_sk)) < 0) {
		snprintf(msg, msglen, "cannot make keys: %s", ls_strerror(rv));
		goto out;
	}
	ask.node = tok->node;
	ask.csr_der.data = csr.data;
	ask.csr_der.len = csr.len;
	ask.sign_pk.data = pk;
	ask.sign_pk.len = sizeof(pk);
	randombytes_buf(&ask.nonce, sizeof(ask.nonce));
	plen = ls__join_ask__get_packed_size(&ask);
	if ((payload = malloc(plen)) == NULL) {
		rv = LS_ENOMEM;
		goto out;
	}
	ls__join_ask__pack(&ask, payload);
	ls_mac(mac, tok->secret.data, LS_MAC_JOIN_REQ, payload, plen);
	req.token_id = tok->token_id;
	req.payload.data = payload;
	req.payload.len = plen;
	req.mac.data = mac;
	req.mac.len = sizeof(mac);
	rlen = ls__join_request__get_packed_size(&req);
	if ((reqbuf = malloc(rlen)) == NULL) {
		rv = LS_ENOMEM;
		goto out;
	}
	ls__join_request__pack(&req, reqbuf);
	if ((rv = exchange(tok->enroll_url, reqbuf, rlen, timeout_ms, &resp,
	                   msg, msglen)) < 0)
		goto out;
	if ((rv = check_grant(tok, resp, ask.nonce, &key_pem, &g, msg,
	                      msglen)) < 0)
		goto out;

	ls_strlcpy(id.node, g->node, sizeof(id.node));
	ls_strlcpy(id.fleet_url, g->fleet_url, sizeof(id.fleet_url));
	ls_strlcpy(id.server_name, g->server_name, sizeof(id.server_name));
	memcpy(id.coord_pk, g->coord_sign_pk.data, LS_SIGN_PK_LEN);
	for (i = 0; i < g->n_roles; i++)
		ls_strlcpy(id.roles[i], g->roles[i], sizeof(id.roles[i]));
	id.nroles = g->n_roles;
	ls_strlcpy(id.site, g->site ? g->site : "", sizeof(id.site));
	if ((rv = ls_pki_cert_der_to_pem(g->ca_der.data, g->ca_der.len,
	                                 &id.ca_pem)) < 0 ||
	    (rv = ls_pki_cert_der_to_pem(g->cert_der.data, g->cert_der.len,
	                                 &id.cert_pem)) < 0) {
		snprintf(msg, msglen, "certificate conversion failed");
		goto out;
	}
	id.key_pem = key_pem;
	key_pem.data = NULL;
	key_pem.len = 0;
	if ((rv = agent_identity_save(state_dir, &id)) < 0) {
		snprintf(msg, msglen, "cannot write the identity into %s: %s",
		         state_dir, ls_strerror(rv));
		goto out;
	}
	snprintf(msg, msglen, "joined the fleet as %s", id.node);
	rv = 0;
out:
	if (g)
		ls__join_grant__free_unpacked(g, NULL);
	if (resp)
		ls__join_response__free_unpacked(resp, NULL);
	if (tok) {
		ls_wipe(tok->secret.data, tok->secret.len);
		ls__join_token__free_unpacked(tok, NULL);
	}
	free(payload);
	free(reqbuf);
	ls_buf_free(&csr);
	ls_buf_free(&key_pem);
	ls_wipe(mac, sizeof(mac));
	agent_identity_clear(&id);
	return rv;
}
