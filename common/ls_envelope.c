#include "ls_envelope.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ls_error.h"

/*
 * What is signed: a fixed layout, so that the signature never depends on
 * how protobuf-c happens to encode the frame. The body is hashed first so
 * that a large body is not copied.
 */
#define SIGNED_MAX (4 + 4 + 4 + LS_NODE_NAME_MAX + 8 + 8 + 8 + 32)

static size_t put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return 4;
}

static size_t put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
	return 8;
}

static size_t signed_bytes(uint8_t *out, uint32_t version, const char *node,
                           uint64_t session, uint64_t counter,
                           const uint8_t *body, size_t len)
{
	size_t nlen = strlen(node), o = 0;

	memcpy(out, "LSE1", 4);
	o += 4;
	o += put32(out + o, version);
	o += put32(out + o, (uint32_t)nlen);
	memcpy(out + o, node, nlen);
	o += nlen;
	o += put64(out + o, session);
	o += put64(out + o, counter);
	o += put64(out + o, (uint64_t)len);
	crypto_generichash(out + o, 32, body, len, NULL, 0);
	return o + 32;
}

int ls_sign_keypair(uint8_t pk[LS_SIGN_PK_LEN], uint8_t sk[LS_SIGN_SK_LEN])
{
	if (sodium_init() < 0)
		return LS_ECRYPTO;
	return crypto_sign_keypair(pk, sk) == 0 ? 0 : LS_ECRYPTO;
}

int ls_envelope_seal(struct ls_signer *s, const uint8_t *body, size_t len,
                     uint8_t **out, size_t *outlen)
{
	Ls__Envelope env = LS__ENVELOPE__INIT;
	uint8_t tbs[SIGNED_MAX], sig[crypto_sign_BYTES];
	size_t tlen, plen;
	uint8_t *buf;

	*out = NULL;
	*outlen = 0;
	if (ls_node_name_valid(s->node) < 0 || s->counter == UINT64_MAX)
		return LS_EINVAL;
	s->counter++;
	tlen = signed_bytes(tbs, LS_ENVELOPE_VERSION, s->node, s->session,
	                    s->counter, body, len);
	crypto_sign_detached(sig, NULL, tbs, tlen, s->sk);
	env.version = LS_ENVELOPE_VERSION;
	env.node = s->node;
	env.session = s->session;
	env.counter = s->counter;
	env.body.data = (uint8_t *)body;
	env.body.len = len;
	env.sig.data = sig;
	env.sig.len = sizeof(sig);
	plen = ls__envelope__get_packed_size(&env);
	buf = malloc(plen ? plen : 1);
	if (buf == NULL)
		return LS_ENOMEM;
	ls__envelope__pack(&env, buf);
	*out = buf;
	*outlen = plen;
	return 0;
}

int ls_envelope_open(const uint8_t *msg, size_t len, size_t max,
                     Ls__Envelope **envp)
{
	Ls__Envelope *env;

	*envp = NULL;
	if (len > max)
		return LS_ETOOBIG;
	if (len == 0)
		return LS_EPROTO;
	env = ls__envelope__unpack(NULL, len, msg);
	if (env == NULL)
		return LS_EPROTO;
	if (env->version != LS_ENVELOPE_VERSION ||
	    env->sig.len != crypto_sign_BYTES ||
	    (strcmp(env->node, LS_COORD_NODE) != 0 &&
	     ls_node_name_valid(env->node) < 0) ||
	    env->session == 0 || env->counter == 0) {
		ls__envelope__free_unpacked(env, NULL);
		return LS_EPROTO;
	}
	*envp = env;
	return 0;
}

int ls_envelope_verify(const Ls__Envelope *env,
                       const uint8_t pk[LS_SIGN_PK_LEN])
{
	uint8_t tbs[SIGNED_MAX];
	size_t tlen;

	if (env->sig.len != crypto_sign_BYTES ||
	    strlen(env->node) > LS_NODE_NAME_MAX)
		return LS_EAUTH;
	tlen = signed_bytes(tbs, env->version, env->node, env->session,
	                    env->counter, env->body.data, env->body.len);
	if (crypto_sign_verify_detached(env->sig.data, tbs, tlen, pk) != 0)
		return LS_EAUTH;
	return 0;
}

int ls_replay_check(struct ls_replay *r, uint64_t session, uint64_t counter)
{
	if (session < r->session)
		return LS_EREPLAY;
	if (session == r->session) {
		if (!r->counter_known)
			return LS_ESESSION;
		if (counter <= r->counter)
			return LS_EREPLAY;
		r->counter = counter;
		return 0;
	}
	r->session = session;
	r->counter = counter;
	r->counter_known = 1;
	return 0;
}
