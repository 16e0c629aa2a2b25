/* Node administration: join tokens, removal, fleet-level findings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "coord_db.h"
#include "coord_state.h"
#include "ls_error.h"
#include "ls_log.h"
#include "ls_token.h"
#include "ls_util.h"

#define TTL_MIN_S 1
#define TTL_MAX_S (30LL * 86400)

static int site_valid(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n >= COORD_SITE_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
		      ch == '.'))
			return 0;
	}
	return 1;
}

int coord_admin_node_add(struct coord *c, const Ls__NodeAddReq *req,
                         char **token, int64_t *expires, char *err,
                         size_t errlen)
{
	char roles[COORD_MAX_ROLES][COORD_ROLE_MAX];
	char csv[COORD_MAX_ROLES * COORD_ROLE_MAX];
	Ls__JoinToken tok = LS__JOIN_TOKEN__INIT;
	struct coord_node tmp, *n;
	uint8_t id[LS_TOKEN_ID_LEN], secret[LS_TOKEN_SECRET_LEN], fp[32];
	size_t nroles = 0, i, used = 0;
	int64_t ttl;
	int rv;

	*token = NULL;
	if (ls_node_name_valid(req->name) < 0) {
		snprintf(err, errlen,
		         "invalid node name '%s': use lower-case letters, "
		         "digits, '.', '_' and '-' (at most 63, starting with "
		         "a letter or digit)",
		         req->name);
		return LS_EINVAL;
	}
	csv[0] = '\0';
	for (i = 0; i < req->n_roles; i++) {
		int k = snprintf(csv + used, sizeof(csv) - used, "%s%s",
		                 i ? "," : "", req->roles[i]);
		if (k < 0 || (size_t)k >= sizeof(csv) - used) {
			snprintf(err, errlen, "too many roles");
			return LS_EINVAL;
		}
		used += (size_t)k;
	}
	if (coord_roles_parse(csv, roles, &nroles, err, errlen) < 0)
		return LS_EINVAL;
	if (req->site != NULL && !site_valid(req->site)) {
		snprintf(err, errlen,
		         "invalid site '%s': letters, digits, '.', '_', '-'",
		         req->site);
		return LS_EINVAL;
	}
	ttl = req->has_ttl_seconds ? (int64_t)req->ttl_seconds
	                           : c->cfg->token_ttl / 1000;
	if (ttl < TTL_MIN_S || ttl > TTL_MAX_S) {
		snprintf(err, errlen, "--ttl must be between 1s and 30d");
		return LS_EINVAL;
	}
	n = coord_node_find(c, req->name);
	if (n != NULL && n->enrolled && !n->removed) {
		snprintf(err, errlen,
		         "node %s is already enrolled; run 'lockstep node "
		         "remove %s' first to replace it",
		         req->name, req->name);
		return LS_EEXIST;
	}
	memset(&tmp, 0, sizeof(tmp));
	ls_strlcpy(tmp.name, req->name, sizeof(tmp.name));
	memcpy(tmp.roles, roles, sizeof(roles));
	tmp.nroles = nroles;
	ls_strlcpy(tmp.site, req->site ? req->site : "", sizeof(tmp.site));
	randombytes_buf(id, sizeof(id));
	randombytes_buf(secret, sizeof(secret));
	*expires = ls_now() + ttl;
	rv = coord_db_node_add(c->db, &tmp, id, secret, *expires);
	if (rv < 0) {
		snprintf(err, errlen, "coordinator database error");
		goto out;
	}
	if (n == NULL && (n = coord_node_add(c, req->name)) == NULL) {
		rv = LS_ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	coord_ops_drop_node(c, n, "node re-added");
	memcpy(n->roles, roles, sizeof(roles));
	n->nroles = nroles;
	ls_strlcpy(n->site, tmp.site, sizeof(n->site));
	n->enrolled = 0;
	n->removed = 0;
	n->last_seen = 0;
	n->pipe_alive = 0;
	memset(&n->replay, 0, sizeof(n->replay));
	if (n->facts)
		ls__node_facts__free_unpacked(n->facts, NULL);
	if (n->checks)
		ls__check_report__free_unpacked(n->checks, NULL);
	n->facts = NULL;
	n->checks = NULL;

	ls_pki_fingerprint(c->ca_der.data, c->ca_der.len, fp);
	tok.version = 1;
	tok.enroll_url = c->enroll_url;
	tok.fleet_url = c->fleet_url;
	tok.server_name = c->server_name;
	tok.ca_sha256.data = fp;
	tok.ca_sha256.len = sizeof(fp);
	tok.token_id.data = id;
	tok.token_id.len = sizeof(id);
	tok.secret.data = secret;
	tok.secret.len = sizeof(secret);
	tok.expires = (uint64_t)*expires;
	tok.node = n->name;
	rv = ls_token_encode(&tok, token);
	if (rv < 0)
		snprintf(err, errlen, "cannot encode token");
	else
		log_info("node %s added (roles %s%s%s); join token expires in "
		         "%llds",
		         n->name, csv, n->site[0] ? ", site " : "", n->site,
		         (long long)ttl);
out:
	ls_wipe(secret, sizeof(secret));
	return rv;
}

int coord_admin_node_remove(struct coord *c, const char *name, char *err,
                            size_t errlen)
{
	struct coord_node *n = coord_node_find(c, name);
	int rv;

	if (n == NULL || n->removed) {
		snprintf(err, errlen, "no node named '%s' in the fleet", name);
		return LS_ENOENT;
	}
	rv = coord_db_node_remove(c->db, name, ls_now());
	if (rv < 0) {
		snprintf(err, errlen, "coordinator database error");
		return rv;
	}
	n->removed = 1;
	coord_ops_drop_node(c, n, "node removed");
	coord_fleet_reject_parked(c, n, LS_EREMOVED,
	                          "node removed from the fleet");
	log_info("node %s removed from the fleet; its messages are now "
	         "rejected",
	         name);
	return 0;
}

struct ver_group {
	const char *version;
	char nodes[512];
};

size_t coord_admin_fleet_findings(struct coord *c, Ls__CheckResult ***out)
{
	struct ver_group groups[16];
	size_t ngroups = 0, i, j;
	Ls__CheckResult *r;
	char reason[1024];
	size_t used = 0;

	*out = NULL;
	for (i = 0; i < c->nnodes; i++) {
		struct coord_node *n = c->nodes[i];
		const char *v;

		if (!n->enrolled || n->removed || n->facts == NULL ||
		    n->facts->gitlab_version == NULL ||
		    !coord_node_runs_gitlab(n))
			continue;
		v = n->facts->gitlab_version;
		for (j = 0; j < ngroups; j++)
			if (strcmp(groups[j].version, v) == 0)
				break;
		if (j == ngroups) {
			if (ngroups == 16)
				continue;
			groups[ngroups].version = v;
			groups[ngroups].nodes[0] = '\0';
			ngroups++;
		}
		size_t l = strlen(groups[j].nodes);
		snprintf(groups[j].nodes + l, sizeof(groups[j].nodes) - l,
		         "%s%s", l ? ", " : "", n->name);
	}
	if (ngroups < 2)
		return 0;
	used = (size_t)snprintf(reason, sizeof(reason),
	                        "nodes run different GitLab versions:");
	for (j = 0; j < ngroups && used < sizeof(reason); j++)
		used += (size_t)snprintf(reason + used, sizeof(reason) - used,
		                         "%s %s (%s)", j ? ";" : "",
		                         groups[j].version, groups[j].nodes);
	r = calloc(1, sizeof(*r));
	*out = calloc(1, sizeof(**out));
	if (r == NULL || *out == NULL) {
		free(r);
		free(*out);
		*out = NULL;
		return 0;
	}
	ls__check_result__init(r);
	r->name = strdup("gitlab-version-skew");
	r->status = LS__CHECK_STATUS__CHECK_WARN;
	r->reason = strdup(reason);
	(*out)[0] = r;
	return 1;
}

void coord_admin_findings_free(Ls__CheckResult **r, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(r[i]->name);
		free(r[i]->reason);
		free(r[i]);
	}
	free(r);
}
