/*
 * One-time join tokens: "LS1-" + base64url(JoinToken). The token carries
 * the coordinator's addresses, the CA fingerprint to pin and a 32-byte
 * secret; both ends prove they know the secret with HMAC-SHA256 over the
 * exact bytes they send, so the secret itself never crosses the wire.
 */
#ifndef LS_TOKEN_H
#define LS_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "lockstep.pb-c.h"

#define LS_TOKEN_PREFIX "LS1-"
#define LS_TOKEN_MAX 2048
#define LS_TOKEN_ID_LEN 16
#define LS_TOKEN_SECRET_LEN 32
#define LS_MAC_LEN 32

#define LS_MAC_JOIN_REQ "ls-join-req"
#define LS_MAC_JOIN_RESP "ls-join-resp"

/* Encodes tok; *out is a heap string. */
int ls_token_encode(const Ls__JoinToken *tok, char **out);

/*
 * Decodes and validates a token string (shape only: lengths, URLs, name).
 * Free *tok with ls__join_token__free_unpacked(*tok, NULL).
 */
int ls_token_decode(const char *text, Ls__JoinToken **tok);

void ls_mac(uint8_t out[LS_MAC_LEN], const uint8_t *secret, const char *label,
            const uint8_t *data, size_t len);
/* Constant-time check; 0 or LS_EAUTH. */
int ls_mac_verify(const uint8_t *mac, size_t maclen, const uint8_t *secret,
                  const char *label, const uint8_t *data, size_t len);

#endif
