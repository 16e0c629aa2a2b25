/*
 * lockstep registry migrate. With --release the kubernetes node runs
 * `registry database migrate` in one registry pod of the release; without
 * it the registry node runs `gitlab-ctl registry-database migrate`. The
 * agent lists the migrations, refuses without a metadata database or
 * through PgBouncer, then applies them (unless a dry run): one operation,
 * answered when it is done.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_registry.h"
#include "ls_error.h"
#include "ls_log.h"
#include "ls_util.h"

struct reg_wait {
	struct control_ctx *cc;
	int unqueued; /* the operation could not be queued */
	int dry_run;
	int64_t timeout_ms;
	char node[LS_NODE_NAME_MAX + 1];
	char release[128], ns[128];
	char sep[128], sep_ns[128]; /* the separate migrations release */
};

static int usable(const struct coord_node *n)
{
	return n->enrolled && !n->removed;
}

/* The node named, with role; or the one node with role. */
static struct coord_node *pick(struct coord *c, struct control_ctx *cc,
                               const char *name, const char *role,
                               const char *flag, const char *why)
{
	int64_t now_ms = coord_now_us() / 1000;
	struct coord_node *found = NULL, *n;
	char names[512] = "";
	size_t i, count = 0, off = 0;

	if (name != NULL && name[0] != '\0') {
		n = coord_node_find(c, name);
		if (n == NULL || !usable(n)) {
			coord_control_failf(
			    cc, LS_ENOENT,
			    "no enrolled node named '%.64s' (lockstep node "
			    "list)",
			    name);
			return NULL;
		}
		if (!coord_node_has_role(n, role)) {
			coord_control_failf(cc, LS_EINVAL,
			                    "node '%s' has no %s role: %s",
			                    n->name, role, why);
			return NULL;
		}
		found = n;
	} else {
		for (i = 0; i < c->nnodes; i++) {
			n = c->nodes[i];
			if (!usable(n) || !coord_node_has_role(n, role))
				continue;
			if (found == NULL || strcmp(n->name, found->name) < 0)
				found = n;
			count++;
			if (off < sizeof(names))
				off += (size_t)snprintf(
				    names + off, sizeof(names) - off, "%s%s",
				    off ? ", " : "", n->name);
		}
		if (count == 0) {
			coord_control_failf(cc, LS_ESTATE,
			                    "the fleet has no node with the %s "
			                    "role (lockstep node list)",
			                    role);
			return NULL;
		}
		if (count > 1) {
			coord_control_failf(
			    cc, LS_EINVAL,
			    "%zu nodes have the %s role (%s): name one with %s",
			    count, role, names, flag);
			return NULL;
		}
	}
	if (!coord_node_connected(c, found, now_ms)) {
		coord_control_failf(cc, LS_ESTATE,
		                    "node '%s' is not connected (lockstep "
		                    "status)",
		                    found->name);
		return NULL;
	}
	return found;
}

/* The agent's error, with the last line of the tool's output when the
 * error does not carry it already. */
static void agent_failed(struct reg_wait *rw, const Ls__OpResult *r)
{
	const Ls__RegistryMigrateResult *g =
	    r->kind_case == LS__OP_RESULT__KIND_REGISTRY_MIGRATE
	        ? r->registry_migrate
	        : NULL;
	const char *err = r->error ? r->error : ls_strerror(r->status);
	const char *tail = g ? g->output_tail : NULL;
	const char *last = NULL;

	if (tail != NULL && tail[0] != '\0' && strstr(err, tail) == NULL) {
		last = strrchr(tail, '\n');
		last = last ? last + 1 : tail;
	}
	coord_control_failf(
	    rw->cc, r->status, "node '%s': registry migrate%s%s failed: %s%s%s",
	    rw->node, rw->release[0] ? " of release " : "", rw->release, err,
	    last && last[0] ? "; output ends: " : "", last ? last : "");
}

static void answered(struct coord *c, struct coord_waiter *w)
{
	struct reg_wait *rw = w->arg;
	const Ls__OpResult *r = w->results[0];
	Ls__ControlResp resp = LS__CONTROL_RESP__INIT;
	Ls__RegistryMigrateResp rr = LS__REGISTRY_MIGRATE_RESP__INIT;

	(void)c;
	if (rw->unqueued) {
		coord_control_failf(
		    rw->cc, LS_ENOMEM,
		    "cannot queue registry migrate for node '%s': out of "
		    "memory",
		    rw->node);
	} else if (r == NULL) {
		coord_control_failf(
		    rw->cc, LS_ETIMEDOUT,
		    "node '%s' did not answer registry migrate within %lld "
		    "s; %s",
		    rw->node, (long long)(rw->timeout_ms / 1000),
		    rw->dry_run ? "a longer --timeout may help"
		                : "it may still be applying migrations: "
		                  "`lockstep registry migrate --dry-run` "
		                  "shows what is left");
	} else if (r->status != 0) {
		agent_failed(rw, r);
	} else if (r->kind_case != LS__OP_RESULT__KIND_REGISTRY_MIGRATE ||
	           r->registry_migrate == NULL) {
		coord_control_failf(
		    rw->cc, LS_EPROTO,
		    "node '%s' answered registry migrate without the "
		    "migrations",
		    rw->node);
	} else {
		rr.node = rw->node;
		rr.release = rw->release[0] ? rw->release : NULL;
		rr.namespace_ = rw->ns[0] ? rw->ns : NULL;
		rr.dry_run = rw->dry_run;
		rr.separate_release = rw->sep[0] ? rw->sep : NULL;
		rr.migrations_namespace = rw->sep_ns[0] ? rw->sep_ns : NULL;
		rr.result = r->registry_migrate;
		resp.kind_case = LS__CONTROL_RESP__KIND_REGISTRY_MIGRATE;
		resp.registry_migrate = &rr;
		if (!rw->dry_run)
			log_info("registry migrate on %s%s%s: %zu migration(s) "
			         "applied",
			         rw->node, rw->release[0] ? ", release " : "",
			         rw->release, r->registry_migrate->n_applied);
		coord_control_reply(rw->cc, &resp);
	}
	free(rw);
	w->arg = NULL;
	coord_waiter_free(w);
}

/* The request's values; 0 or an error already sent. */
static int check_request(struct control_ctx *cc,
                         const Ls__RegistryMigrateReq *req)
{
	int rel = req->release != NULL && req->release[0] != '\0';
	int ns = req->namespace_ != NULL && req->namespace_[0] != '\0';

	if (rel != ns) {
		coord_control_failf(cc, LS_EINVAL,
		                    "--release and --namespace go together");
		return -1;
	}
	if (rel && req->node != NULL && req->node[0] != '\0') {
		coord_control_failf(
		    cc, LS_EINVAL,
		    "--release (a chart's registry pod) or --node (a "
		    "Linux-package registry node), not both");
		return -1;
	}
	if (!rel && req->kube_node != NULL && req->kube_node[0] != '\0') {
		coord_control_failf(cc, LS_EINVAL,
		                    "--kube-node goes only with --release");
		return -1;
	}
	if (rel &&
	    (strlen(req->release) >= 128 || strlen(req->namespace_) >= 128)) {
		coord_control_failf(cc, LS_EINVAL,
		                    "--release or --namespace is too long");
		return -1;
	}
	if ((req->separate_release != NULL && req->separate_release[0]) !=
	    (req->migrations_namespace != NULL &&
	     req->migrations_namespace[0])) {
		coord_control_failf(
		    cc, LS_EINVAL,
		    "--separate-release and --migrations-namespace go "
		    "together");
		return -1;
	}
	if (req->separate_release != NULL && req->separate_release[0] &&
	    (!rel || strlen(req->separate_release) >= 128 ||
	     strlen(req->migrations_namespace) >= 128 ||
	     strcmp(req->separate_release, req->release) == 0)) {
		coord_control_failf(
		    cc, LS_EINVAL,
		    "--separate-release needs --release, and names another "
		    "release");
		return -1;
	}
	if (req->has_timeout_ms &&
	    (req->timeout_ms == 0 ||
	     req->timeout_ms > (uint64_t)COORD_REGISTRY_TIMEOUT_MAX_MS)) {
		coord_control_failf(cc, LS_EINVAL, "--timeout is 1 s to %lld h",
		                    COORD_REGISTRY_TIMEOUT_MAX_MS / 3600000);
		return -1;
	}
	return 0;
}

void coord_registry_request(struct coord *c, struct control_ctx *cc,
                            const Ls__RegistryMigrateReq *req)
{
	Ls__Operation op = LS__OPERATION__INIT;
	Ls__RegistryMigrate m = LS__REGISTRY_MIGRATE__INIT;
	Ls__KubeTarget t = LS__KUBE_TARGET__INIT, sep = LS__KUBE_TARGET__INIT;
	struct coord_node *n;
	struct coord_waiter *w;
	struct reg_wait *rw;
	int rel = req->release != NULL && req->release[0] != '\0';
	int64_t timeout = req->has_timeout_ms ? (int64_t)req->timeout_ms
	                                      : COORD_REGISTRY_TIMEOUT_MS;

	if (check_request(cc, req) < 0)
		return;
	n = rel ? pick(c, cc, req->kube_node, "kubernetes", "--kube-node",
	               "kubectl runs on a node with the kubernetes role")
	        : pick(c, cc, req->node, "registry", "--node",
	               "gitlab-ctl registry-database runs on the registry "
	               "node");
	if (n == NULL)
		return;
	if (rel) {
		t.release = req->release;
		t.namespace_ = req->namespace_;
		m.target = &t;
	}
	if (req->separate_release != NULL && req->separate_release[0]) {
		sep.release = req->separate_release;
		sep.namespace_ = req->migrations_namespace;
		m.separate = &sep;
	}
	m.has_dry_run = m.dry_run = req->has_dry_run && req->dry_run;
	m.has_skip_post_deployment = m.skip_post_deployment =
	    req->has_skip_post_deployment && req->skip_post_deployment;
	op.kind_case = LS__OPERATION__KIND_REGISTRY_MIGRATE;
	op.registry_migrate = &m;
	if ((rw = calloc(1, sizeof(*rw))) == NULL ||
	    (w = coord_waiter_new(c, 1, timeout, answered, rw)) == NULL) {
		free(rw);
		coord_control_fail(cc, LS_ENOMEM, "out of memory");
		return;
	}
	rw->cc = cc;
	rw->dry_run = m.dry_run;
	rw->timeout_ms = timeout;
	ls_strlcpy(rw->node, n->name, sizeof(rw->node));
	if (rel) {
		ls_strlcpy(rw->release, req->release, sizeof(rw->release));
		ls_strlcpy(rw->ns, req->namespace_, sizeof(rw->ns));
	}
	if (m.separate != NULL) {
		ls_strlcpy(rw->sep, sep.release, sizeof(rw->sep));
		ls_strlcpy(rw->sep_ns, sep.namespace_, sizeof(rw->sep_ns));
	}
	w->arg_free = free;
	log_info("registry migrate%s on %s%s%s", m.dry_run ? " (dry run)" : "",
	         n->name, rel ? ", release " : "", rel ? req->release : "");
	if (coord_op_enqueue(c, n, &op, w, 0) < 0) {
		/* Nothing pending: the waiter finishes at once. */
		rw->unqueued = 1;
		coord_waiter_arm(c, w);
	}
}
