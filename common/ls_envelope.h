/*
 * Signed envelopes (DESIGN §4). TLS proves "member of this fleet"; the
 * envelope proves which member, and its session/counter pair makes replays
 * and old messages fail.
 */
#ifndef LS_ENVELOPE_H
#define LS_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "lockstep.pb-c.h"
#include "ls_util.h"

#define LS_ENVELOPE_VERSION 1
#define LS_COORD_NODE "coordinator"
#define LS_NODE_NAME_MAX 63
#define LS_SIGN_PK_LEN 32
#define LS_SIGN_SK_LEN 64

struct ls_signer {
	char node[LS_NODE_NAME_MAX + 1];
	uint8_t sk[LS_SIGN_SK_LEN];
	uint64_t session;
	uint64_t counter; /* last counter used; the next seal uses counter+1 */
};


/* Fresh Ed25519 key pair. */
int ls_sign_keypair(uint8_t pk[LS_SIGN_PK_LEN], uint8_t sk[LS_SIGN_SK_LEN]);

/*
 * Wraps body in a signed envelope with the next counter. *out is a heap
 * buffer of *outlen bytes (free with free()).
 */
int ls_envelope_seal(struct ls_signer *s, const uint8_t *body, size_t len,
                     uint8_t **out, size_t *outlen);

/*
 * Decodes and validates the frame of msg (length cap first, then unpack,
 * then field checks). It does not verify the signature: the caller looks
 * up the sender's key by env->node and calls ls_envelope_verify.
 * Free *env with ls__envelope__free_unpacked(env, NULL).
 */
int ls_envelope_open(const uint8_t *msg, size_t len, size_t max,
                     Ls__Envelope **env);

/* 0 if env's signature is valid for pk, else LS_EAUTH. */
int ls_envelope_verify(const Ls__Envelope *env,
                       const uint8_t pk[LS_SIGN_PK_LEN]);

/*
 * Replay window of one sender. After a restart of the receiver the counter
 * of the last known session is unknown; the sender is then asked for a new
 * session (LS_ESESSION) rather than trusted.
 */
struct ls_replay {
	uint64_t session;
	uint64_t counter;
	int counter_known;
};

/* Accepts (and records) or returns LS_EREPLAY / LS_ESESSION. */
int ls_replay_check(struct ls_replay *r, uint64_t session, uint64_t counter);

#endif
