/*
 * The identity file alone (<state_dir>/identity/identity.pb), read and
 * checked: what the executor needs of the identity (its signing key, for
 * the Geo secrets copy and the chart's Secrets) without the TLS half of
 * agent_identity.c.
 */
#include <stdio.h>
#include <stdlib.h>

#include <sodium.h>

#include "agent_identity.h"
#include "ls_error.h"
#include "ls_util.h"

#define ID_FILE_MAX (64 * 1024)

int agent_identity_read(const char *state_dir, Ls__AgentIdentity **out)
{
	char path[LS_PATH_MAX];
	Ls__AgentIdentity *pb = NULL;
	char *raw = NULL;
	size_t len = 0;
	int rv;

	*out = NULL;
	if ((rv = ls_fmt(path, sizeof(path), "%s/identity/identity.pb",
	                 state_dir)) < 0)
		return rv;
	rv = ls_read_file(path, ID_FILE_MAX, &raw, &len);
	if (rv == LS_ENOENT)
		return LS_ENOTJOINED;
	if (rv < 0)
		return rv;
	pb = ls__agent_identity__unpack(NULL, len, (uint8_t *)raw);
	ls_wipe(raw, len);
	free(raw);
	if (pb == NULL || pb->coord_sign_pk.len != LS_SIGN_PK_LEN ||
	    pb->sign_sk.len != LS_SIGN_SK_LEN ||
	    ls_node_name_valid(pb->node) < 0 || pb->n_roles > AGENT_MAX_ROLES) {
		agent_identity_pb_free(pb);
		return LS_EPROTO;
	}
	*out = pb;
	return 0;
}

void agent_identity_pb_free(Ls__AgentIdentity *pb)
{
	if (pb == NULL)
		return;
	if (pb->sign_sk.data != NULL)
		ls_wipe(pb->sign_sk.data, pb->sign_sk.len);
	ls__agent_identity__free_unpacked(pb, NULL);
}

int agent_identity_box_keys(const char *state_dir, uint8_t *pk, uint8_t *sk,
                            char *err, size_t errlen)
{
	Ls__AgentIdentity *id = NULL;
	int rv;

	if ((rv = agent_identity_read(state_dir, &id)) < 0) {
		snprintf(err, errlen, "this node's identity in %.900s: %s",
		         state_dir, ls_strerror(rv));
		return rv;
	}
	/* libsodium's Ed25519 secret key ends with the public key. */
	if (crypto_sign_ed25519_sk_to_curve25519(sk, id->sign_sk.data) != 0 ||
	    crypto_sign_ed25519_pk_to_curve25519(
	        pk, id->sign_sk.data + crypto_sign_SEEDBYTES) != 0) {
		sodium_memzero(sk, crypto_box_SECRETKEYBYTES);
		snprintf(err, errlen, "this node's identity key is unusable");
		rv = LS_ECRYPTO;
	}
	agent_identity_pb_free(id);
	return rv;
}
