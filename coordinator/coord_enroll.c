/*
 * The enrollment listener. Clients have no certificate yet, so TLS here
 * only encrypts; the join token's secret authenticates both directions
 * (HMAC over the exact payload bytes), and the agent pins the CA by the
 * fingerprint its token carries.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <sodium.h>

#include "coord_db.h"
#include "coord_state.h"
#include "ls_error.h"
#include "ls_log.h"
#include "ls_nng.h"
#include "ls_token.h"
#include "ls_util.h"

#define ENROLL_CTX 4
#define ENROLL_MAX_MSG (64 * 1024)
#define CERT_DAYS (5 * 365)

struct enroll_ctx {
	struct coord *c;
	nng_ctx ctx;
	nng_aio *aio;
	int sending;
};

static struct enroll_ctx enroll_ctxs[ENROLL_CTX];

static int grant(struct coord *c, const Ls__JoinRequest *req,
                 const struct coord_token *tok, Ls__JoinResponse *resp,
                 char *err, size_t errlen)
{
	Ls__JoinAsk *ask = NULL;
	Ls__JoinGrant g = LS__JOIN_GRANT__INIT;
	struct coord_node *n;
	struct ls_buf cert = {0};
	uint8_t fp[32];
	char fphex[65];
	char *roles[COORD_MAX_ROLES];
	uint8_t *payload = NULL, *mac = NULL;
	size_t i, plen;
	int rv;

	ask = ls__join_ask__unpack(NULL, req->payload.len, req->payload.data);
	if (ask == NULL || ask->sign_pk.len != LS_SIGN_PK_LEN) {
		snprintf(err, errlen, "malformed join request");
		rv = LS_EPROTO;
		goto out;
	}
	if (strcmp(ask->node, tok->node) != 0) {
		snprintf(err, errlen, "token is for node %s, not %s", tok->node,
		         ask->node);
		rv = LS_EAUTH;
		goto out;
	}
	n = coord_node_find(c, tok->node);
	if (n == NULL || n->removed) {
		snprintf(err, errlen, "node %s was removed", tok->node);
		rv = LS_EREMOVED;
		goto out;
	}
	rv = ls_pki_sign_csr(&c->ca_pem, &c->ca_key_pem, ask->csr_der.data,
	                     ask->csr_der.len, n->name, CERT_DAYS, &cert);
	if (rv < 0) {
		snprintf(err, errlen, "certificate request refused: %s",
		         ls_strerror(rv));
		goto out;
	}
	ls_pki_fingerprint(cert.data, cert.len, fp);
	ls_hex(fphex, fp, sizeof(fp));
	memcpy(n->sign_pk, ask->sign_pk.data, LS_SIGN_PK_LEN);
	n->enrolled_at = ls_now();
	rv = coord_db_enroll(c->db, req->token_id.data, n, fphex);
	if (rv < 0) {
		snprintf(err, errlen, "%s",
		         rv == LS_EUSED ? "join token already used"
		                        : "coordinator database error");
		goto out;
	}
	n->enrolled = 1;
	memset(&n->replay, 0, sizeof(n->replay));
	n->replay.counter_known = 1;

	for (i = 0; i < n->nroles; i++)
		roles[i] = n->roles[i];
	g.node = n->name;
	g.ca_der.data = c->ca_der.data;
	g.ca_der.len = c->ca_der.len;
	g.cert_der.data = cert.data;
	g.cert_der.len = cert.len;
	g.coord_sign_pk.data = c->sign_pk;
	g.coord_sign_pk.len = LS_SIGN_PK_LEN;
	g.fleet_url = c->fleet_url;
	g.server_name = c->server_name;
	g.n_roles = n->nroles;
	g.roles = roles;
	g.site = n->site;
	g.nonce = ask->nonce;
	plen = ls__join_grant__get_packed_size(&g);
	payload = malloc(plen ? plen : 1);
	mac = malloc(LS_MAC_LEN);
	if (payload == NULL || mac == NULL) {
		rv = LS_ENOMEM;
		goto out;
	}
	ls__join_grant__pack(&g, payload);
	ls_mac(mac, tok->secret, LS_MAC_JOIN_RESP, payload, plen);
	resp->payload.data = payload;
	resp->payload.len = plen;
	resp->has_payload = 1;
	resp->mac.data = mac;
	resp->mac.len = LS_MAC_LEN;
	resp->has_mac = 1;
	payload = mac = NULL;
	log_info("enroll: node %s enrolled (certificate sha256 %.16s...)",
	         n->name, fphex);
	rv = 0;
out:
	free(payload);
	free(mac);
	ls_buf_free(&cert);
	if (ask)
		ls__join_ask__free_unpacked(ask, NULL);
	return rv;
}

static void handle(struct coord *c, nng_msg *in, Ls__JoinResponse *resp,
                   char *err, size_t errlen)
{
	Ls__JoinRequest *req = NULL;
	struct coord_token tok;
	char idhex[9];
	int rv;

	err[0] = '\0';
	if (nng_msg_len(in) > ENROLL_MAX_MSG) {
		rv = LS_ETOOBIG;
		snprintf(err, errlen, "join request too large");
		goto out;
	}
	req = ls__join_request__unpack(NULL, nng_msg_len(in), nng_msg_body(in));
	if (req == NULL || req->token_id.len != LS_TOKEN_ID_LEN ||
	    req->mac.len != LS_MAC_LEN) {
		rv = LS_EPROTO;
		snprintf(err, errlen, "malformed join request");
		goto out;
	}
	ls_hex(idhex, req->token_id.data, 4);
	rv = coord_db_token_get(c->db, req->token_id.data, &tok);
	if (rv == LS_EUNKNOWN) {
		snprintf(err, errlen, "unknown join token");
		goto out;
	} else if (rv < 0) {
		snprintf(err, errlen, "coordinator database error");
		goto out;
	}
	/* Authenticate before revealing anything about the token's state. */
	rv =
	    ls_mac_verify(req->mac.data, req->mac.len, tok.secret,
	                  LS_MAC_JOIN_REQ, req->payload.data, req->payload.len);
	if (rv < 0) {
		snprintf(err, errlen,
		         "join token does not match (forged or altered)");
	} else if ((rv = coord_token_usable(&tok, ls_now())) == LS_EUSED) {
		snprintf(err, errlen, "join token already used");
	} else if (rv == LS_EEXPIRED) {
		snprintf(err, errlen,
		         "join token expired; create a new one with "
		         "'lockstep node add %s'",
		         tok.node);
	} else {
		rv = grant(c, req, &tok, resp, err, errlen);
	}
	if (rv < 0)
		log_warnx("enroll: refused join for node %s (token %s...): %s",
		          tok.node, idhex, err);
	ls_wipe(&tok, sizeof(tok));
out:
	resp->status = rv;
	if (rv < 0)
		resp->error = err;
	if (req)
		ls__join_request__free_unpacked(req, NULL);
}

static void enroll_cb(void *arg)
{
	struct enroll_ctx *e = arg;
	struct coord *c = e->c;
	Ls__JoinResponse resp = LS__JOIN_RESPONSE__INIT;
	char err[256];
	nng_msg *in, *out = NULL;
	uint8_t *buf = NULL;
	size_t len;
	int rv = nng_aio_result(e->aio);

	if (e->sending) {
		e->sending = 0;
		if (rv != 0)
			nng_msg_free(nng_aio_get_msg(e->aio));
		if (!c->stopping)
			nng_ctx_recv(e->ctx, e->aio);
		return;
	}
	if (rv != 0) {
		if (rv != NNG_ECLOSED && !c->stopping)
			nng_ctx_recv(e->ctx, e->aio);
		return;
	}
	in = nng_aio_get_msg(e->aio);
	pthread_mutex_lock(&c->mtx);
	handle(c, in, &resp, err, sizeof(err));
	pthread_mutex_unlock(&c->mtx);
	nng_msg_free(in);
	len = ls__join_response__get_packed_size(&resp);
	buf = malloc(len ? len : 1);
	if (buf != NULL) {
		ls__join_response__pack(&resp, buf);
		if (nng_msg_alloc(&out, 0) == 0 &&
		    nng_msg_append(out, buf, len) != 0) {
			nng_msg_free(out);
			out = NULL;
		}
	}
	free(buf);
	free(resp.payload.data);
	free(resp.mac.data);
	if (out == NULL) {
		nng_ctx_recv(e->ctx, e->aio);
		return;
	}
	e->sending = 1;
	nng_aio_set_msg(e->aio, out);
	nng_ctx_send(e->ctx, e->aio);
}

int coord_enroll_start(struct coord *c)
{
	nng_tls_config *tls = NULL;
	int rv, i;

	if ((rv = nng_rep0_open(&c->enroll_sock)) != 0)
		return ls_from_nng(rv);
	if ((rv = ls_nng_socket_limits(c->enroll_sock, ENROLL_MAX_MSG, 100,
	                               1000)) < 0)
		return rv;
	rv = ls_nng_tls_server(&tls, (const char *)c->server_pem.data,
	                       (const char *)c->server_key_pem.data, NULL);
	if (rv < 0)
		return rv;
	rv =
	    ls_nng_listen_tls(c->enroll_sock, c->cfg->enroll_listen, tls, NULL);
	nng_tls_config_free(tls);
	if (rv < 0) {
		log_warnx("enroll: cannot listen on %s: %s",
		          c->cfg->enroll_listen, ls_strerror(rv));
		return rv;
	}
	for (i = 0; i < ENROLL_CTX; i++) {
		struct enroll_ctx *e = &enroll_ctxs[i];
		e->c = c;
		if ((rv = nng_aio_alloc(&e->aio, enroll_cb, e)) != 0 ||
		    (rv = nng_ctx_open(&e->ctx, c->enroll_sock)) != 0)
			return ls_from_nng(rv);
		nng_ctx_recv(e->ctx, e->aio);
	}
	log_info("enroll: listening on %s", c->cfg->enroll_listen);
	return 0;
}

void coord_enroll_stop(struct coord *c)
{
	int i;

	for (i = 0; i < ENROLL_CTX; i++)
		if (enroll_ctxs[i].aio)
			nng_aio_stop(enroll_ctxs[i].aio);
	for (i = 0; i < ENROLL_CTX; i++) {
		if (enroll_ctxs[i].aio == NULL)
			continue;
		nng_ctx_close(enroll_ctxs[i].ctx);
		nng_aio_free(enroll_ctxs[i].aio);
		enroll_ctxs[i].aio = NULL;
	}
	nng_close(c->enroll_sock);
}
