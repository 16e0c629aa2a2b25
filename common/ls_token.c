#include "ls_token.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ls_envelope.h"
#include "ls_error.h"
#include "ls_util.h"

#define URL_MAX 256

int ls_token_encode(const Ls__JoinToken *tok, char **out)
{
	size_t plen = ls__join_token__get_packed_size(tok);
	size_t blen, prefix = strlen(LS_TOKEN_PREFIX);
	uint8_t *packed;
	char *text;

	*out = NULL;
	if (plen > 1024)
		return LS_ETOOBIG;
	packed = malloc(plen ? plen : 1);
	if (packed == NULL)
		return LS_ENOMEM;
	ls__join_token__pack(tok, packed);
	blen = sodium_base64_encoded_len(
	    plen, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	text = malloc(prefix + blen);
	if (text == NULL) {
		ls_wipe(packed, plen);
		free(packed);
		return LS_ENOMEM;
	}
	memcpy(text, LS_TOKEN_PREFIX, prefix);
	sodium_bin2base64(text + prefix, blen, packed, plen,
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	ls_wipe(packed, plen);
	free(packed);
	*out = text;
	return 0;
}

static int url_valid(const char *u)
{
	size_t n = strlen(u);

	if (n <= strlen("tls+tcp://") || n > URL_MAX ||
	    strncmp(u, "tls+tcp://", 10) != 0)
		return 0;
	return strchr(u + 10, ':') != NULL;
}

int ls_token_decode(const char *text, Ls__JoinToken **tokp)
{
	size_t prefix = strlen(LS_TOKEN_PREFIX), n, binlen = 0;
	uint8_t bin[LS_TOKEN_MAX];
	Ls__JoinToken *tok;

	*tokp = NULL;
	n = strnlen(text, LS_TOKEN_MAX + 1);
	if (n > LS_TOKEN_MAX)
		return LS_ETOOBIG;
	if (n <= prefix || strncmp(text, LS_TOKEN_PREFIX, prefix) != 0)
		return LS_EPROTO;
	if (sodium_base642bin(bin, sizeof(bin), text + prefix, n - prefix, NULL,
	                      &binlen, NULL,
	                      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
		return LS_EPROTO;
	tok = ls__join_token__unpack(NULL, binlen, bin);
	ls_wipe(bin, sizeof(bin));
	if (tok == NULL)
		return LS_EPROTO;
	if (tok->version != 1 || tok->ca_sha256.len != 32 ||
	    tok->token_id.len != LS_TOKEN_ID_LEN ||
	    tok->secret.len != LS_TOKEN_SECRET_LEN ||
	    !url_valid(tok->enroll_url) || !url_valid(tok->fleet_url) ||
	    strlen(tok->server_name) == 0 || strlen(tok->server_name) > 253 ||
	    ls_node_name_valid(tok->node) < 0) {
		ls__join_token__free_unpacked(tok, NULL);
		return LS_EPROTO;
	}
	*tokp = tok;
	return 0;
}

void ls_mac(uint8_t out[LS_MAC_LEN], const uint8_t *secret, const char *label,
            const uint8_t *data, size_t len)
{
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, secret, LS_TOKEN_SECRET_LEN);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)label,
	                              strlen(label) + 1);
	crypto_auth_hmacsha256_update(&st, data, len);
	crypto_auth_hmacsha256_final(&st, out);
	ls_wipe(&st, sizeof(st));
}

int ls_mac_verify(const uint8_t *mac, size_t maclen, const uint8_t *secret,
                  const char *label, const uint8_t *data, size_t len)
{
	uint8_t want[LS_MAC_LEN];
	int rv;

	if (maclen != LS_MAC_LEN)
		return LS_EAUTH;
	ls_mac(want, secret, label, data, len);
	rv = sodium_memcmp(want, mac, LS_MAC_LEN) == 0 ? 0 : LS_EAUTH;
	ls_wipe(want, sizeof(want));
	return rv;
}
