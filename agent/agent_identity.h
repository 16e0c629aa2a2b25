/* What a joined agent keeps in <state_dir>/identity/ (all 0600). */
#ifndef AGENT_IDENTITY_H
#define AGENT_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include "lockstep.pb-c.h"
#include "ls_envelope.h"
#include "ls_pki.h"

#define AGENT_MAX_ROLES 16

struct agent_identity {
	char node[LS_NODE_NAME_MAX + 1];
	char fleet_url[300];
	char server_name[256];
	uint8_t coord_pk[LS_SIGN_PK_LEN];
	uint8_t sign_sk[LS_SIGN_SK_LEN];
	char roles[AGENT_MAX_ROLES][32];
	size_t nroles;
	char site[64];
	struct ls_buf ca_pem, cert_pem, key_pem; /* NUL-terminated PEM */
};

/* agent_identity_pb.c: identity.pb read and checked (caller frees with
 * agent_identity_pb_free, which wipes the key). LS_ENOTJOINED if absent. */
int agent_identity_read(const char *state_dir, Ls__AgentIdentity **out);
void agent_identity_pb_free(Ls__AgentIdentity *pb);
/* This node's X25519 key pair (crypto_box), converted from its identity's
 * Ed25519 key: what a peer seals to with the node's signing public key,
 * and what this node seals its own saved state to. sk is the caller's to
 * wipe. err names the state directory when the identity cannot be read. */
int agent_identity_box_keys(const char *state_dir, uint8_t *pk, uint8_t *sk,
                            char *err, size_t errlen);

/* LS_ENOTJOINED when the state directory holds no identity. */
int agent_identity_load(const char *state_dir, struct agent_identity *id);
/* Writes every file into a temporary directory, then renames it into
 * place: an identity is whole or absent. LS_EEXIST if one exists. */
int agent_identity_save(const char *state_dir, const struct agent_identity *id);
void agent_identity_clear(struct agent_identity *id);

/* Next session number, persisted before use so it never repeats. */
int agent_session_next(const char *state_dir, uint64_t *out);

#endif
