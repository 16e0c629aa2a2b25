#include "agent_identity.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lockstep.pb-c.h"
#include "ls_error.h"
#include "ls_util.h"

#define ID_FILE_MAX (64 * 1024)

static int read_pem(const char *dir, const char *name, struct ls_buf *out)
{
	char path[LS_PATH_MAX];
	size_t len = 0;
	int rv;

	if ((rv = ls_fmt(path, sizeof(path), "%s/%s", dir, name)) < 0)
		return rv;
	rv = ls_read_file(path, ID_FILE_MAX, (char **)&out->data, &len);
	out->len = len;
	return rv;
}

int agent_identity_load(const char *state_dir, struct agent_identity *id)
{
	char dir[LS_PATH_MAX];
	Ls__AgentIdentity *pb = NULL;
	size_t i;
	int rv;

	memset(id, 0, sizeof(*id));
	if ((rv = ls_fmt(dir, sizeof(dir), "%s/identity", state_dir)) < 0 ||
	    (rv = agent_identity_read(state_dir, &pb)) < 0)
		return rv;
	ls_strlcpy(id->node, pb->node, sizeof(id->node));
	ls_strlcpy(id->fleet_url, pb->fleet_url, sizeof(id->fleet_url));
	ls_strlcpy(id->server_name, pb->server_name, sizeof(id->server_name));
	memcpy(id->coord_pk, pb->coord_sign_pk.data, LS_SIGN_PK_LEN);
	memcpy(id->sign_sk, pb->sign_sk.data, LS_SIGN_SK_LEN);
	for (i = 0; i < pb->n_roles; i++)
		ls_strlcpy(id->roles[i], pb->roles[i], sizeof(id->roles[i]));
	id->nroles = pb->n_roles;
	ls_strlcpy(id->site, pb->site ? pb->site : "", sizeof(id->site));
	if ((rv = read_pem(dir, "ca.pem", &id->ca_pem)) < 0 ||
	    (rv = read_pem(dir, "node.crt", &id->cert_pem)) < 0 ||
	    (rv = read_pem(dir, "node.key", &id->key_pem)) < 0)
		goto out;
	rv = 0;
out:
	agent_identity_pb_free(pb);
	if (rv < 0)
		agent_identity_clear(id);
	return rv;
}

static int put(const char *dir, const char *name, const void *data, size_t len)
{
	char path[LS_PATH_MAX];
	int rv;

	if ((rv = ls_fmt(path, sizeof(path), "%s/%s", dir, name)) < 0)
		return rv;
	return ls_write_atomic(path, data, len, 0600);
}

int agent_identity_save(const char *state_dir, const struct agent_identity *id)
{
	Ls__AgentIdentity pb = LS__AGENT_IDENTITY__INIT;
	char tmp[LS_PATH_MAX], dst[LS_PATH_MAX];
	char *roles[AGENT_MAX_ROLES];
	uint8_t *packed = NULL;
	size_t plen, i;
	struct stat st;
	int rv;

	if ((rv = ls_fmt(dst, sizeof(dst), "%s/identity", state_dir)) < 0 ||
	    (rv = ls_fmt(tmp, sizeof(tmp), "%s/.identity.tmp-XXXXXX",
	                 state_dir)) < 0)
		return rv;
	if (lstat(dst, &st) == 0)
		return LS_EEXIST;
	if ((rv = ls_mkdirs(state_dir, 0700)) < 0)
		return rv;
	if (mkdtemp(tmp) == NULL)
		return -errno;
	for (i = 0; i < id->nroles; i++)
		roles[i] = (char *)id->roles[i];
	pb.node = (char *)id->node;
	pb.fleet_url = (char *)id->fleet_url;
	pb.server_name = (char *)id->server_name;
	pb.coord_sign_pk.data = (uint8_t *)id->coord_pk;
	pb.coord_sign_pk.len = LS_SIGN_PK_LEN;
	pb.sign_sk.data = (uint8_t *)id->sign_sk;
	pb.sign_sk.len = LS_SIGN_SK_LEN;
	pb.n_roles = id->nroles;
	pb.roles = roles;
	pb.site = (char *)id->site;
	plen = ls__agent_identity__get_packed_size(&pb);
	packed = malloc(plen ? plen : 1);
	if (packed == NULL) {
		rv = LS_ENOMEM;
		goto fail;
	}
	ls__agent_identity__pack(&pb, packed);
	if ((rv = put(tmp, "ca.pem", id->ca_pem.data, id->ca_pem.len)) < 0 ||
	    (rv = put(tmp, "node.crt", id->cert_pem.data, id->cert_pem.len)) <
	        0 ||
	    (rv = put(tmp, "node.key", id->key_pem.data, id->key_pem.len)) <
	        0 ||
	    (rv = put(tmp, "identity.pb", packed, plen)) < 0)
		goto fail;
	if (rename(tmp, dst) < 0) {
		rv = -errno;
		goto fail;
	}
	ls_wipe(packed, plen);
	free(packed);
	return 0;
fail:
	if (packed) {
		ls_wipe(packed, plen);
		free(packed);
	}
	ls_rmtree(tmp);
	return rv;
}

void agent_identity_clear(struct agent_identity *id)
{
	ls_buf_free(&id->ca_pem);
	ls_buf_free(&id->cert_pem);
	ls_buf_free(&id->key_pem);
	ls_wipe(id, sizeof(*id));
}

int agent_session_next(const char *state_dir, uint64_t *out)
{
	char path[LS_PATH_MAX], text[32];
	char *buf = NULL;
	long long prev = 0;
	int rv;

	if ((rv = ls_fmt(path, sizeof(path), "%s/session", state_dir)) < 0)
		return rv;
	rv = ls_read_file(path, 64, &buf, NULL);
	if (rv == 0) {
		buf[strcspn(buf, "\n")] = '\0';
		if (ls_parse_int(buf, 0, INT64_MAX - 1, &prev) < 0) {
			free(buf);
			return LS_EPROTO;
		}
	} else if (rv != LS_ENOENT) {
		return rv;
	}
	free(buf);
	snprintf(text, sizeof(text), "%lld\n", prev + 1);
	if ((rv = ls_write_atomic(path, text, strlen(text), 0600)) < 0)
		return rv;
	*out = (uint64_t)(prev + 1);
	return 0;
}
