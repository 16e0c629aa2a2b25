/* What a joined agent keeps in <state_dir>/identity/ (all 0600). */
#ifndef AGENT_IDENTITY_H
#define AGENT_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

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

/* LS_ENOTJOINED when the state directory holds no identity. */
int agent_identity_load(const char *state_dir, struct agent_identity *id);
/* Writes every file into a temporary directory, then renames it into
 * place: an identity is whole or absent. LS_EEXIST if one exists. */
int agent_identity_save(const char *state_dir, const struct agent_identity *id);
void agent_identity_clear(struct agent_identity *id);

/* Next session number, persisted before use so it never repeats. */
int agent_session_next(const char *state_dir, uint64_t *out);

#endif
