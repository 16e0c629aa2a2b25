/*
 * The identity file alone (<state_dir>/identity/identity.pb), read and
 * checked: what the executor needs of the identity (its signing key, for
 * the Geo secrets copy) without the TLS half of agent_identity.c.
 */
#include <stdlib.h>

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
