/* Envelope sealing, verification, tampering and replay windows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ls_envelope.h"
#include "ls_error.h"
#include "testutil.h"

static struct ls_signer signer(const char *node, uint8_t pk[32])
{
	struct ls_signer s;

	memset(&s, 0, sizeof(s));
	snprintf(s.node, sizeof(s.node), "%s", node);
	ls_sign_keypair(pk, s.sk);
	s.session = 7;
	return s;
}

static void test_roundtrip(void)
{
	uint8_t pk[32], *msg = NULL;
	size_t len = 0;
	struct ls_signer s = signer("gitaly-1", pk);
	Ls__Envelope *env = NULL;
	const char body[] = "poll";

	CHECK_EQ_INT(ls_envelope_seal(&s, (const uint8_t *)body, 4, &msg, &len),
	             0);
	CHECK_EQ_INT(s.counter, 1);
	CHECK_EQ_INT(ls_envelope_open(msg, len, 1 << 20, &env), 0);
	if (env == NULL)
		return;
	CHECK_STR(env->node, "gitaly-1");
	CHECK_EQ_INT(env->session, 7);
	CHECK_EQ_INT(env->counter, 1);
	CHECK_EQ_INT(env->body.len, 4);
	CHECK_EQ_INT(ls_envelope_verify(env, pk), 0);
	ls__envelope__free_unpacked(env, NULL);
	free(msg);
}

/* Every single-bit flip of a sealed message must fail to open or verify. */
static void test_tamper_every_bit(void)
{
	uint8_t pk[32], *msg = NULL;
	size_t len = 0, bit;
	struct ls_signer s = signer("rails-1", pk);
	int accepted = 0;

	ls_envelope_seal(&s, (const uint8_t *)"hello world", 11, &msg, &len);
	for (bit = 0; bit < len * 8; bit++) {
		Ls__Envelope *env = NULL;

		msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		if (ls_envelope_open(msg, len, 1 << 20, &env) == 0) {
			if (ls_envelope_verify(env, pk) == 0)
				accepted++;
			ls__envelope__free_unpacked(env, NULL);
		}
		msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	CHECK_EQ_INT(accepted, 0);
	free(msg);
}

static void test_wrong_key_and_impersonation(void)
{
	uint8_t pk_a[32], pk_b[32], *msg = NULL;
	size_t len = 0;
	struct ls_signer a = signer("gitaly-1", pk_a);
	struct ls_signer b = signer("rails-1", pk_b);
	Ls__Envelope *env = NULL;

	/* gitaly-1's key claiming to be rails-1. */
	snprintf(a.node, sizeof(a.node), "%s", "rails-1");
	ls_envelope_seal(&a, (const uint8_t *)"x", 1, &msg, &len);
	CHECK_EQ_INT(ls_envelope_open(msg, len, 1 << 20, &env), 0);
	CHECK_EQ_INT(ls_envelope_verify(env, pk_b), LS_EAUTH);
	CHECK_EQ_INT(ls_envelope_verify(env, pk_a), 0);
	ls__envelope__free_unpacked(env, NULL);
	free(msg);
	(void)b;
}

static void test_malformed(void)
{
	uint8_t pk[32], *msg = NULL, junk[64];
	size_t len = 0, cut;
	struct ls_signer s = signer("redis-1", pk);
	Ls__Envelope *env = NULL;
	int opened_verified = 0;

	CHECK_EQ_INT(ls_envelope_open((const uint8_t *)"", 0, 100, &env),
	             LS_EPROTO);
	memset(junk, 0xff, sizeof(junk));
	CHECK_EQ_INT(ls_envelope_open(junk, sizeof(junk), 100, &env),
	             LS_EPROTO);
	ls_envelope_seal(&s, (const uint8_t *)"body", 4, &msg, &len);
	CHECK_EQ_INT(ls_envelope_open(msg, len, len - 1, &env), LS_ETOOBIG);
	for (cut = 0; cut < len; cut++) {
		if (ls_envelope_open(msg, cut, 1 << 20, &env) == 0) {
			if (ls_envelope_verify(env, pk) == 0)
				opened_verified++;
			ls__envelope__free_unpacked(env, NULL);
		}
	}
	CHECK_EQ_INT(opened_verified, 0);
	free(msg);
	/* Invalid sender names never open. */
	snprintf(s.node, sizeof(s.node), "%s", "Bad Name");
	CHECK_EQ_INT(ls_envelope_seal(&s, (const uint8_t *)"b", 1, &msg, &len),
	             LS_EINVAL);
}

static void test_replay(void)
{
	struct ls_replay r;

	memset(&r, 0, sizeof(r));
	r.counter_known = 1;
	CHECK_EQ_INT(ls_replay_check(&r, 5, 1), 0);
	CHECK_EQ_INT(ls_replay_check(&r, 5, 2), 0);
	CHECK_EQ_INT(ls_replay_check(&r, 5, 2), LS_EREPLAY);  /* replay */
	CHECK_EQ_INT(ls_replay_check(&r, 5, 1), LS_EREPLAY);  /* old */
	CHECK_EQ_INT(ls_replay_check(&r, 4, 99), LS_EREPLAY); /* old session */
	CHECK_EQ_INT(ls_replay_check(&r, 6, 1), 0);           /* new session */
	CHECK_EQ_INT(ls_replay_check(&r, 5, 100), LS_EREPLAY);
	/* After a coordinator restart the last counter is unknown. */
	r.counter_known = 0;
	CHECK_EQ_INT(ls_replay_check(&r, 6, 50), LS_ESESSION);
	CHECK_EQ_INT(ls_replay_check(&r, 5, 50), LS_EREPLAY);
	CHECK_EQ_INT(ls_replay_check(&r, 7, 1), 0);
	CHECK_EQ_INT(ls_replay_check(&r, 7, 2), 0);
}

static void test_names(void)
{
	CHECK_EQ_INT(ls_node_name_valid("gitaly-1"), 0);
	CHECK_EQ_INT(ls_node_name_valid("a"), 0);
	CHECK_EQ_INT(ls_node_name_valid("db.example_1"), 0);
	CHECK(ls_node_name_valid("") < 0);
	CHECK(ls_node_name_valid("-x") < 0);
	CHECK(ls_node_name_valid("UPPER") < 0);
	CHECK(ls_node_name_valid("a/b") < 0);
	CHECK(ls_node_name_valid("0123456789012345678901234567890123456789"
	                         "012345678901234567890123") < 0);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	test_roundtrip();
	test_tamper_every_bit();
	test_wrong_key_and_impersonation();
	test_malformed();
	test_replay();
	test_names();
	return tu_done();
}
