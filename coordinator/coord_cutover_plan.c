/*
 * A cutover's steps from the fleet as the coordinator knows it: every
 * GitLab node's services, every Gitaly node's repositories, the chart's
 * release on the kubernetes node and the database node's file rows.
 * Refused before anything is journaled when a node is missing, not
 * connected or on another GitLab version.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_cutover_int.h"
#include "ls_error.h"
#include "ls_log.h"
#include "ls_util.h"

#define MAX_STEPS 4096

struct co_build {
	Ls__CutoverStepDef *defs;
	Ls__CutoverStepDef **dp;
	char (*names)[COORD_STEP_NAME_MAX];
	size_t n, cap;
};

static int node_cmp(const void *a, const void *b)
{
	const struct coord_node *const *x = a, *const *y = b;
	return strcmp((*x)->name, (*y)->name);
}

/* RFC 1123 label, as Helm and Kubernetes take release and namespace. */
static int k8s_name_ok(const char *s, size_t max)
{
	size_t i, n = s ? strlen(s) : 0;

	if (n == 0 || n > max || s[0] == '-' || s[n - 1] == '-')
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

static int step(struct co_build *b, uint32_t phase, const char *node,
                enum co_kind kind, const char *name)
{
	Ls__CutoverStepDef *d;

	if (b->n == b->cap)
		return LS_ETOOBIG;
	d = &b->defs[b->n];
	ls__cutover_step_def__init(d);
	d->phase = phase;
	d->node = (char *)node;
	d->kind = kind;
	ls_strlcpy(b->names[b->n], name, sizeof(b->names[b->n]));
	d->name = b->names[b->n];
	b->dp[b->n] = d;
	b->n++;
	return 0;
}

/* Every GitLab node connected and on one version; kube, deploy and
 * database nodes picked. */
static int pick_nodes(struct coord *c, const Ls__CutoverReq *req,
                      struct coord_node **v, size_t nv, char *version,
                      size_t vlen, const char **kube, const char **deploy,
                      const char **db, char *err, size_t errlen)
{
	int64_t now = coord_now_us() / 1000;
	const char *first_v = NULL, *leader = NULL;
	size_t i, kubes = 0;

	*kube = *deploy = *db = NULL;
	for (i = 0; i < nv; i++) {
		struct coord_node *n = v[i];
		const char *fv = n->facts ? n->facts->gitlab_version : NULL;
		char core[32];

		if (!coord_node_connected(c, n, now)) {
			snprintf(err, errlen,
			         "node %s is not connected: every node takes "
			         "part in a cutover",
			         n->name);
			return LS_ESTATE;
		}
		if (coord_node_has_role(n, "kubernetes") &&
		    (req->kube_node == NULL ||
		     strcmp(req->kube_node, n->name) == 0)) {
			kubes++;
			if (*kube == NULL)
				*kube = n->name;
		}
		if (!coord_node_runs_gitlab(n))
			continue;
		if (fv == NULL || co_version_core(fv, core, sizeof(core)) < 0) {
			snprintf(err, errlen,
			         "node %s has not reported its GitLab version",
			         n->name);
			return LS_ESTATE;
		}
		if (first_v == NULL) {
			first_v = n->name;
			ls_strlcpy(version, core, vlen);
		} else if (strcmp(version, core) != 0) {
			snprintf(err, errlen,
			         "nodes %s and %s run GitLab %s and %s: finish "
			         "the upgrade first",
			         first_v, n->name, version, core);
			return LS_ESTATE;
		}
		if (coord_node_has_role(n, "rails") && *deploy == NULL &&
		    (req->deploy_node == NULL ||
		     strcmp(req->deploy_node, n->name) == 0))
			*deploy = n->name;
		if (coord_node_has_role(n, "postgresql")) {
			if (*db == NULL)
				*db = n->name;
			if (n->facts && n->facts->patroni_role &&
			    strcmp(n->facts->patroni_role, "leader") == 0)
				leader = n->name;
		}
	}
	if (leader != NULL)
		*db = leader;
	if (*kube == NULL) {
		snprintf(
		    err, errlen, "%s%s%s", req->kube_node ? "--kube-node " : "",
		    req->kube_node ? req->kube_node
		                   : "no node has the kubernetes role",
		    req->kube_node
		        ? " is not a node with the kubernetes role"
		        : ": enroll the machine that runs kubectl and helm "
		          "with `lockstep node add NAME --roles kubernetes`");
		return LS_ESTATE;
	}
	if (kubes > 1) {
		snprintf(err, errlen,
		         "%zu nodes have the kubernetes role: name one with "
		         "--kube-node",
		         kubes);
		return LS_ESTATE;
	}
	if (first_v == NULL || *deploy == NULL || *db == NULL) {
		snprintf(err, errlen, "%s",
		         first_v == NULL ? "the fleet has no GitLab node"
		         : *deploy == NULL
		             ? (req->deploy_node
		                    ? "--deploy-node is not a Rails node"
		                    : "no node has the rails role")
		             : "no node has the postgresql role");
		return LS_ESTATE;
	}
	return 0;
}

static int build_steps(struct co_build *b, struct coord_node **v, size_t nv,
                       const char *kube, const char *deploy, const char *db,
                       const Ls__CutoverReq *req)
{
	char rel[COORD_STEP_NAME_MAX];
	size_t i;
	int rv = 0;

	for (i = 0; i < nv && rv == 0; i++)
		if (coord_node_runs_gitlab(v[i]))
			rv = step(b, 1, v[i]->name, CO_SERVICES,
			          "every service up (gitlab-ctl status)");
	for (i = 0; i < nv && rv == 0; i++)
		if (coord_node_has_role(v[i], "gitaly"))
			rv = step(b, 1, v[i]->name, CO_FSCK,
			          "git fsck of every repository");
	ls_fmt(rel, sizeof(rel), "Helm release %s in namespace %s",
	       req->release, req->namespace_);
	if (rv == 0)
		rv = step(b, 1, kube, CO_RELEASE, rel);
	if (rv == 0)
		rv = step(b, 1, db, CO_STORAGE, "files still on local storage");
	if (req->has_plan && req->plan)
		return rv;
	/* The cutover itself (gitlab-facts §8), a phase per step. */
	if (rv == 0)
		rv = step(b, 2, deploy, CO_MIGRATE,
		          "move local files to object storage (GitLab's Rake "
		          "tasks), wait for 0 local rows");
	if (rv == 0)
		rv = step(b, 3, "", CO_BACKUP,
		          "fleet backup, the moved components skipped");
	if (rv == 0)
		rv = step(b, 4, kube, CO_SECRETS,
		          "the chart's Secrets from gitlab-secrets.json");
	if (rv == 0)
		rv = step(b, 5, kube, CO_SCALE_DOWN,
		          "scale webservice and sidekiq to 0");
	if (rv == 0)
		rv =
		    step(b, 6, kube, CO_RESTORE,
		         "copy the backup into the toolbox pod, backup-utility "
		         "--restore");
	if (rv == 0)
		rv = step(b, 7, kube, CO_SCALE_UP,
		          "scale webservice and sidekiq back");
	if (rv == 0)
		rv = step(b, 8, kube, CO_RESTART,
		          "kubectl delete pods -lrelease, wait for every pod "
		          "ready");
	if (rv == 0)
		rv = step(b, 9, kube, CO_VERIFY,
		          "verify the chart side against the backup");
	return rv;
}

void co_reply(struct control_ctx *cc, const char *run,
              const Ls__CutoverRunParams *p)
{
	Ls__ControlResp resp = LS__CONTROL_RESP__INIT;
	Ls__CutoverResp cr = LS__CUTOVER_RESP__INIT;
	Ls__PlanStep *ps = calloc(p->n_steps + 1, sizeof(*ps));
	Ls__PlanStep **pp = calloc(p->n_steps + 1, sizeof(*pp));
	size_t i;

	if (ps == NULL || pp == NULL) {
		coord_control_fail(cc, LS_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < p->n_steps; i++) {
		ls__plan_step__init(&ps[i]);
		ps[i].seq = (uint32_t)(i + 1);
		ps[i].node = p->steps[i]->node;
		ps[i].name = p->steps[i]->name;
		ps[i].phase = p->steps[i]->phase;
		pp[i] = &ps[i];
	}
	cr.run_id = (char *)run;
	cr.kube_node = p->kube_node;
	cr.deploy_node = p->deploy_node;
	cr.fleet_version = p->fleet_version;
	cr.n_plan = p->n_steps;
	cr.plan = pp;
	resp.kind_case = LS__CONTROL_RESP__KIND_CUTOVER;
	resp.cutover = &cr;
	coord_control_reply(cc, &resp);
out:
	free(ps);
	free(pp);
}

void coord_cutover_request(struct coord *c, struct control_ctx *cc,
                           const Ls__CutoverReq *req)
{
	Ls__CutoverRunParams p = LS__CUTOVER_RUN_PARAMS__INIT;
	struct co_build b = {0};
	struct coord_node **v = NULL;
	const char *kube, *deploy, *db;
	char err[1024] = "", version[32] = "", run[COORD_RUN_ID_MAX];
	uint8_t *buf = NULL;
	size_t i, nv = 0, len;
	int rv;

	if (req->rollback_run != NULL && req->rollback_run[0] != '\0') {
		coord_cutover_rollback(c, cc, req);
		return;
	}
	if (!k8s_name_ok(req->release, 53) ||
	    !k8s_name_ok(req->namespace_, 63)) {
		snprintf(err, sizeof(err),
		         "%s '%.80s' is not a valid Kubernetes name (lowercase "
		         "letters, digits and '-')",
		         k8s_name_ok(req->release, 53) ? "namespace"
		                                       : "release",
		         k8s_name_ok(req->release, 53) ? req->namespace_
		                                       : req->release);
		rv = LS_EINVAL;
		goto out;
	}
	if (c->backup || c->restore || c->upgrade || c->cutover) {
		snprintf(err, sizeof(err), "a %s is running",
		         c->backup    ? "backup"
		         : c->restore ? "restore"
		         : c->upgrade ? "upgrade"
		                      : "cutover");
		rv = LS_EBUSY;
		goto out;
	}
	if ((v = calloc(c->nnodes + 1, sizeof(*v))) == NULL ||
	    (b.defs = calloc(MAX_STEPS, sizeof(*b.defs))) == NULL ||
	    (b.dp = calloc(MAX_STEPS, sizeof(*b.dp))) == NULL ||
	    (b.names = calloc(MAX_STEPS, sizeof(*b.names))) == NULL) {
		rv = LS_ENOMEM;
		goto out;
	}
	b.cap = MAX_STEPS;
	for (i = 0; i < c->nnodes; i++)
		if (c->nodes[i]->enrolled && !c->nodes[i]->removed)
			v[nv++] = c->nodes[i];
	qsort(v, nv, sizeof(*v), node_cmp);
	if ((rv = pick_nodes(c, req, v, nv, version, sizeof(version), &kube,
	                     &deploy, &db, err, sizeof(err))) < 0)
		goto out;
	if ((rv = build_steps(&b, v, nv, kube, deploy, db, req)) < 0) {
		snprintf(err, sizeof(err), "too many steps");
		goto out;
	}
	p.req = (Ls__CutoverReq *)req;
	p.fleet_version = version;
	p.kube_node = (char *)kube;
	p.deploy_node = (char *)deploy;
	p.db_node = (char *)db;
	p.n_steps = b.n;
	p.steps = b.dp;
	len = ls__cutover_run_params__get_packed_size(&p);
	if ((buf = malloc(len ? len : 1)) == NULL) {
		rv = LS_ENOMEM;
		goto out;
	}
	ls__cutover_run_params__pack(&p, buf);
	if ((rv = coord_cutover_begin(c, buf, len, run, sizeof(run), err,
	                              sizeof(err))) < 0)
		goto out;
	co_reply(cc, run, &p);
out:
	if (rv < 0) {
		log_warnx("cutover: %s", err[0] ? err : ls_strerror(rv));
		coord_control_fail(cc, rv, err[0] ? err : ls_strerror(rv));
	}
	free(buf);
	free(v);
	free(b.defs);
	free(b.dp);
	free(b.names);
}
