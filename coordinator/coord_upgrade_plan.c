/*
 * `lockstep upgrade plan|run`: the refusals and the plan. Every node must
 * be connected and on the same GitLab version; every node is asked which
 * versions its own package repositories offer, the path is computed from
 * each node's list, and nodes whose lists give different paths are
 * named. Then each stop of the path gets its steps in GitLab's order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_restore.h"
#include "coord_upgrade.h"
#include "ls_error.h"
#include "ls_log.h"
#include "ls_util.h"
#include "upgrade_path.h"

#define VERSIONS_TIMEOUT_MS (5LL * 60 * 1000)
#define MAX_NOTES 16
#define NOTE_MAX 512

struct plan_req {
	struct control_ctx *cc;
	Ls__UpgradeReq *req; /* our own copy */
	struct up_stops stops;
	struct ls_version from, to;
	enum ug_mode mode;
	char (*nodes)[64];
	size_t n;
};

static void plan_req_free(void *arg)
{
	struct plan_req *q = arg;

	if (q == NULL)
		return;
	if (q->req)
		ls__upgrade_req__free_unpacked(q->req, NULL);
	up_stops_free(&q->stops);
	free(q->nodes);
	free(q);
}

static int live(const struct coord_node *n)
{
	return n->enrolled && !n->removed && coord_node_runs_gitlab(n);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

/* "X.Y.Z" of a node's facts, or -1. */
static int node_version(const struct coord_node *n, struct ls_version *v)
{
	const char *s = n->facts ? n->facts->gitlab_version : NULL;

	return s != NULL && ls_version_parse_pkg(s, strlen(s), v) == 1 ? 0 : -1;
}

/* The refusals that need no node's answer. */
static int check_fleet(struct coord *c, struct plan_req *q, char *err,
                       size_t errlen)
{
	int64_t now = coord_now_us() / 1000;
	size_t i;

	if ((q->nodes = calloc(c->nnodes ? c->nnodes : 1, sizeof(*q->nodes))) ==
	    NULL)
		return LS_ENOMEM;
	for (i = 0; i < c->nnodes; i++) {
		struct coord_node *n = c->nodes[i];

		if (!live(n))
			continue;
		if (!coord_node_connected(c, n, now)) {
			snprintf(err, errlen,
			         "node %s is not connected: every node takes "
			         "part in an upgrade",
			         n->name);
			return LS_ESTATE;
		}
		ls_strlcpy(q->nodes[q->n++], n->name, 64);
	}
	if (q->n == 0) {
		snprintf(err, errlen, "the fleet has no enrolled node");
		return LS_ESTATE;
	}
	qsort(q->nodes, q->n, sizeof(*q->nodes), name_cmp);
	return 0;
}

/* Every node on one version: what its package listing found installed
 * just now, else its last facts. */
static int fleet_version(struct coord *c, struct plan_req *q,
                         struct coord_waiter *w, char *err, size_t errlen)
{
	struct ls_version *v = calloc(q->n ? q->n : 1, sizeof(*v));
	size_t i, off;
	int skew = 0, rv = 0;

	if (v == NULL)
		return LS_ENOMEM;
	for (i = 0; i < q->n; i++) {
		const Ls__OpResult *r = w->results[i];
		const char *inst =
		    r && r->kind_case == LS__OP_RESULT__KIND_PACKAGE_VERSIONS
		        ? r->package_versions->installed
		        : NULL;
		struct coord_node *n = coord_node_find(c, q->nodes[i]);

		if ((inst == NULL ||
		     ls_version_parse_pkg(inst, strlen(inst), &v[i]) != 1) &&
		    (n == NULL || node_version(n, &v[i]) < 0)) {
			snprintf(err, errlen,
			         "node %s has not reported its GitLab version",
			         q->nodes[i]);
			rv = LS_ESTATE;
			goto out;
		}
		if (ls_version_cmp(&v[i], &v[0]) != 0)
			skew = 1;
	}
	q->from = v[0];
	if (!skew)
		goto out;
	off = (size_t)snprintf(err, errlen,
	                       "the nodes run different GitLab versions; "
	                       "bring them to one version first:");
	for (i = 0; i < q->n && off < errlen; i++) {
		char vs[LS_VERSION_STR_MAX];
		ls_version_fmt(&v[i], vs, sizeof(vs));
		off += (size_t)snprintf(err + off, errlen - off, " %s %s",
		                        q->nodes[i], vs);
	}
	rv = LS_ESTATE;
out:
	free(v);
	return rv;
}

/* The path computed from one node's list, as "a b c" for comparison. */
static int node_path(const struct plan_req *q, const Ls__OpResult *r,
                     const char *node, struct up_path *p, char *text,
                     size_t textlen, char *err, size_t errlen)
{
	struct up_available a = {0};
	struct ls_version_line l;
	char why[200], e[600];
	size_t i, off = 0;
	int rv;

	text[0] = '\0';
	if (r == NULL) {
		snprintf(err, errlen,
		         "node %s did not say which versions its package "
		         "repositories offer within %lld s",
		         node, VERSIONS_TIMEOUT_MS / 1000);
		return LS_ETIMEDOUT;
	}
	if (r->status < 0 ||
	    r->kind_case != LS__OP_RESULT__KIND_PACKAGE_VERSIONS) {
		snprintf(err, errlen, "node %s: listing package versions: %s",
		         node,
		         r->error        ? r->error
		         : r->status < 0 ? ls_strerror(r->status)
		                         : "no list in the answer");
		return r->status < 0 ? r->status : LS_EPROTO;
	}
	for (i = 0; i < r->package_versions->n_versions; i++) {
		const char *s = r->package_versions->versions[i];
		if (ls_version_parse_line(s, strlen(s), &l, why, sizeof(why)) !=
		        1 ||
		    (rv = up_available_add(&a, &l)) < 0) {
			snprintf(err, errlen,
			         "node %s: its package list has '%.40s': %s",
			         node, s, why);
			up_available_free(&a);
			return LS_EPROTO;
		}
	}
	rv = up_path_compute(&q->stops, &a, &q->from, &q->to, p, e, sizeof(e));
	up_available_free(&a);
	if (rv < 0) {
		snprintf(err, errlen, "node %s (%s repositories): %s", node,
		         r->package_versions->manager, e);
		return rv;
	}
	for (i = 0; i < p->n && off < textlen; i++) {
		char vs[LS_VERSION_STR_MAX];
		ls_version_fmt(&p->steps[i].v, vs, sizeof(vs));
		off += (size_t)snprintf(text + off, textlen - off, "%s%s",
		                        i ? " → " : "", vs);
	}
	return 0;
}

static void fill_nodes(const struct plan_req *q, struct coord_waiter *w,
                       Ls__NodeVersions *nv, Ls__NodeVersions **nvp)
{
	size_t i;

	for (i = 0; i < q->n; i++) {
		const Ls__OpResult *r = w->results[i];
		ls__node_versions__init(&nv[i]);
		nv[i].node = (char *)q->nodes[i];
		nvp[i] = &nv[i];
		if (r == NULL) {
			nv[i].error = "no answer";
			continue;
		}
		if (r->status < 0 ||
		    r->kind_case != LS__OP_RESULT__KIND_PACKAGE_VERSIONS) {
			nv[i].error = r->error ? r->error : "failed";
			continue;
		}
		nv[i].version = r->package_versions->installed;
		nv[i].package = r->package_versions->package;
		nv[i].manager = r->package_versions->manager;
		nv[i].has_available = 1;
		nv[i].available = (uint32_t)r->package_versions->n_versions;
	}
}

/* The fleet as the step planner sees it. */
static int ug_fleet_of(struct coord *c, const struct plan_req *q,
                       struct ug_node *un, char *err, size_t errlen)
{
	size_t i, k;

	for (i = 0; i < q->n; i++) {
		const struct coord_node *n = coord_node_find(c, q->nodes[i]);
		memset(&un[i], 0, sizeof(un[i]));
		if (n == NULL) {
			snprintf(err, errlen, "node %s left the fleet",
			         q->nodes[i]);
			return LS_ESTATE;
		}
		ls_strlcpy(un[i].name, n->name, sizeof(un[i].name));
		ls_strlcpy(un[i].site, n->site, sizeof(un[i].site));
		for (k = 0; k < n->nroles; k++)
			un[i].roles |= ug_role_bit(n->roles[k]);
		/* What the agent's `gitlab-ctl patroni check-leader` said at
		 * its last facts: replicas are upgraded before the leader. */
		un[i].pg_role =
		    ug_pg_role_parse(n->facts ? n->facts->patroni_role : NULL);
	}
	return 0;
}

static void plan_done(struct coord *c, struct coord_waiter *w)
{
	struct plan_req *q = w->arg;
	struct up_path first = {0}, p = {0};
	char first_text[600], text[600], err[1500], vs[LS_VERSION_STR_MAX];
	char pg_note[NOTE_MAX];
	struct ug_node *un = NULL;
	struct ug_steps steps = {0};
	struct ug_fleet f;
	Ls__UpgradeStop *st = NULL, **stp = NULL;
	Ls__UpgradeRunParams *params = NULL;
	Ls__NodeVersions *nv = NULL, **nvp = NULL;
	const char *notes[MAX_NOTES];
	uint8_t *buf = NULL;
	size_t i, len = 0, nnotes = 0;
	int rv = 0;

	err[0] = '\0';
	rv = fleet_version(c, q, w, err, sizeof(err));
	for (i = 0; i < q->n && rv == 0; i++) {
		struct up_path *dst = i == 0 ? &first : &p;
		rv = node_path(q, w->results[i], q->nodes[i], dst,
		               i == 0 ? first_text : text,
		               i == 0 ? sizeof(first_text) : sizeof(text), err,
		               sizeof(err));
		if (rv == 0 && i > 0 && strcmp(text, first_text) != 0) {
			snprintf(err, sizeof(err),
			         "the nodes' package repositories disagree: "
			         "from %s's list the path is %s, from %s's it "
			         "is %s; give every node the same repository",
			         q->nodes[0], first_text, q->nodes[i], text);
			rv = LS_ESTATE;
		}
		if (i > 0)
			up_path_free(&p);
	}
	if (rv < 0)
		goto out;
	if ((un = calloc(q->n, sizeof(*un))) == NULL ||
	    (st = calloc(first.n + 1, sizeof(*st))) == NULL ||
	    (stp = calloc(first.n + 1, sizeof(*stp))) == NULL ||
	    (nv = calloc(q->n, sizeof(*nv))) == NULL ||
	    (nvp = calloc(q->n, sizeof(*nvp))) == NULL) {
		rv = LS_ENOMEM;
		goto out;
	}
	if ((rv = ug_fleet_of(c, q, un, err, sizeof(err))) < 0)
		goto out;
	memset(&f, 0, sizeof(f));
	f.nodes = un;
	f.n = q->n;
	f.deploy_node = q->req->deploy_node;
	for (i = 0; i < first.n && rv == 0; i++)
		rv = ug_stop_steps(&f, q->mode, (uint32_t)(i + 1),
		                   &first.steps[i].v, &steps, err, sizeof(err));
	/* Once every node runs the target: the registry's own. */
	if (rv == 0 && first.n > 0)
		rv = ug_registry_step(&f, (uint32_t)first.n,
		                      &first.steps[first.n - 1].v, &steps);
	if (rv < 0)
		goto out;
	for (i = 0; i < first.n; i++) {
		ls__upgrade_stop__init(&st[i]);
		st[i].version = malloc(LS_VERSION_STR_MAX);
		if (st[i].version == NULL) {
			rv = LS_ENOMEM;
			goto out;
		}
		ls_version_fmt(&first.steps[i].v, st[i].version,
		               LS_VERSION_STR_MAX);
		st[i].why = (char *)up_why_str(first.steps[i].why);
		st[i].comment =
		    first.steps[i].comment[0] ? first.steps[i].comment : NULL;
		stp[i] = &st[i];
	}
	ls_version_fmt(&q->from, vs, sizeof(vs));
	if ((rv = coord_upgrade_params_pack(q->req, vs,
	                                    (const Ls__UpgradeStop *const *)stp,
	                                    first.n, &steps, &buf, &len)) < 0 ||
	    (params = ls__upgrade_run_params__unpack(NULL, len, buf)) == NULL) {
		rv = rv < 0 ? rv : LS_ENOMEM;
		goto out;
	}
	for (i = 0; i < first.nnotes && nnotes < MAX_NOTES; i++)
		notes[nnotes++] = first.notes[i];
	if (nnotes < MAX_NOTES && ug_pg_note(&f, pg_note, sizeof(pg_note)))
		notes[nnotes++] = pg_note;
	fill_nodes(q, w, nv, nvp);
	if (q->req->has_dry_run && q->req->dry_run) {
		coord_upgrade_reply(q->cc, params, NULL, notes, nnotes, nvp,
		                    q->n);
	} else {
		char run[COORD_RUN_ID_MAX];
		rv = coord_upgrade_begin(c, buf, len, run, sizeof(run), err,
		                         sizeof(err));
		if (rv == 0)
			coord_upgrade_reply(q->cc, params, run, notes, nnotes,
			                    nvp, q->n);
	}
out:
	if (rv < 0) {
		log_warnx("upgrade plan: %s", err[0] ? err : ls_strerror(rv));
		coord_control_fail(q->cc, rv, err[0] ? err : ls_strerror(rv));
	}
	for (i = 0; st != NULL && i < first.n; i++)
		free(st[i].version);
	free(st);
	free(stp);
	free(nv);
	free(nvp);
	free(un);
	free(buf);
	if (params)
		ls__upgrade_run_params__free_unpacked(params, NULL);
	ug_steps_free(&steps);
	up_path_free(&first);
	w->arg = NULL;
	coord_waiter_free(w);
	plan_req_free(q);
}

static int load_stops(const Ls__UpgradeReq *req, struct up_stops *s, char *err,
                      size_t errlen)
{
	char path[4096];
	int rv;

	if (req->has_stops)
		return up_stops_parse("--stops", (const char *)req->stops.data,
		                      req->stops.len, s, err, errlen);
	if ((rv = up_data_path(UP_STOPS_FILE, path, sizeof(path))) < 0) {
		snprintf(err, errlen, "cannot find %s: %s", UP_STOPS_FILE,
		         ls_strerror(rv));
		return rv;
	}
	return up_stops_load(path, s, err, errlen);
}

static Ls__UpgradeReq *copy_req(const Ls__UpgradeReq *req)
{
	size_t len = ls__upgrade_req__get_packed_size(req);
	uint8_t *buf = malloc(len ? len : 1);
	Ls__UpgradeReq *out = NULL;

	if (buf != NULL) {
		ls__upgrade_req__pack(req, buf);
		out = ls__upgrade_req__unpack(NULL, len, buf);
	}
	free(buf);
	return out;
}

void coord_upgrade_request(struct coord *c, struct control_ctx *cc,
                           const Ls__UpgradeReq *req)
{
	struct plan_req *q = calloc(1, sizeof(*q));
	struct coord_waiter *w = NULL;
	char err[1500];
	size_t i;
	int rv, run;

	err[0] = '\0';
	if (q == NULL || (q->req = copy_req(req)) == NULL) {
		rv = LS_ENOMEM;
		goto fail;
	}
	q->cc = cc;
	/* A plan only reads; a run refuses before planning, not after. */
	run = !(req->has_dry_run && req->dry_run);
	if (c->backup != NULL || coord_restore_active(c) ||
	    (run && (c->upgrade != NULL || c->cutover != NULL))) {
		snprintf(err, sizeof(err),
		         "a %s is running: %s once it is done",
		         c->backup                 ? "backup"
		         : coord_restore_active(c) ? "restore"
		         : c->upgrade              ? "upgrade"
		                                   : "cutover",
		         run ? "upgrade" : "plan");
		rv = LS_EBUSY;
		goto fail;
	}
	if (ls_version_parse(req->to, strlen(req->to), &q->to) < 0) {
		snprintf(err, sizeof(err),
		         "'%.40s' is not a GitLab version (X.Y.Z)", req->to);
		rv = LS_EINVAL;
		goto fail;
	}
	if (req->mode != NULL && req->mode[0] != '\0' &&
	    ug_mode_parse(req->mode, &q->mode) < 0) {
		snprintf(err, sizeof(err),
		         "unknown mode '%.40s' (zero-downtime or downtime)",
		         req->mode);
		rv = LS_EINVAL;
		goto fail;
	}
	if ((rv = load_stops(req, &q->stops, err, sizeof(err))) < 0 ||
	    (rv = check_fleet(c, q, err, sizeof(err))) < 0)
		goto fail;
	if ((w = coord_waiter_new(c, q->n, VERSIONS_TIMEOUT_MS, plan_done,
	                          q)) == NULL) {
		rv = LS_ENOMEM;
		goto fail;
	}
	w->arg_free = plan_req_free;
	for (i = 0; i < q->n; i++) {
		Ls__Operation op = LS__OPERATION__INIT;
		Ls__PackageVersions pv = LS__PACKAGE_VERSIONS__INIT;

		pv.has_refresh = req->has_refresh;
		pv.refresh = req->refresh;
		op.kind_case = LS__OPERATION__KIND_PACKAGE_VERSIONS;
		op.package_versions = &pv;
		if ((rv = coord_op_enqueue(c, coord_node_find(c, q->nodes[i]),
		                           &op, w, i)) < 0)
			log_warnx("upgrade plan: cannot ask %s: %s",
			          q->nodes[i], ls_strerror(rv));
	}
	coord_waiter_arm(c, w);
	return;
fail:
	coord_control_fail(cc, rv, err[0] ? err : ls_strerror(rv));
	plan_req_free(q);
}

/* ---- Parameters and the answer. ---- */

int coord_upgrade_params_pack(const Ls__UpgradeReq *req, const char *from,
                              const Ls__UpgradeStop *const *stops,
                              size_t nstops, const struct ug_steps *steps,
                              uint8_t **buf, size_t *len)
{
	Ls__UpgradeRunParams p = LS__UPGRADE_RUN_PARAMS__INIT;
	Ls__UpgradeStepDef *d = calloc(steps->n + 1, sizeof(*d));
	Ls__UpgradeStepDef **dp = calloc(steps->n + 1, sizeof(*dp));
	Ls__UpgradeAction *a = calloc(steps->n + 1, sizeof(*a));
	char **svc = calloc(steps->n * 8 + 1, sizeof(*svc));
	char *svcbuf = NULL;
	size_t i, nsvc = 0;
	int rv = LS_ENOMEM;

	*buf = NULL;
	*len = 0;
	if (d == NULL || dp == NULL || a == NULL || svc == NULL ||
	    (svcbuf = malloc(steps->n * 64 + 1)) == NULL)
		goto out;
	for (i = 0; i < steps->n; i++) {
		const struct ug_step *s = &steps->v[i];
		ls__upgrade_step_def__init(&d[i]);
		d[i].stop = s->stop;
		d[i].phase = s->phase;
		d[i].node = (char *)s->node;
		d[i].name = (char *)s->name;
		d[i].kind = (uint32_t)s->kind;
		dp[i] = &d[i];
		if (s->kind == UG_SECRETS_COPY)
			d[i].from_node = (char *)s->from;
		if (s->kind != UG_ACTION)
			continue;
		ls__upgrade_action__init(&a[i]);
		a[i].kind = s->action;
		a[i].version = (char *)s->version;
		a[i].has_skip_post_deploy = s->skip_post_deploy != 0;
		a[i].skip_post_deploy = s->skip_post_deploy != 0;
		a[i].has_ready_wait_ms = s->ready_wait_ms != 0;
		a[i].ready_wait_ms = s->ready_wait_ms;
		a[i].has_allow_downgrade = s->allow_downgrade != 0;
		a[i].allow_downgrade = s->allow_downgrade != 0;
		if (s->services[0] != '\0') {
			/* "puma,sidekiq" -> two entries. */
			char *b = svcbuf + i * 64, *tok, *save = NULL;
			size_t first = nsvc;
			ls_strlcpy(b, s->services, 64);
			for (tok = strtok_r(b, ",", &save);
			     tok != NULL && nsvc - first < 8;
			     tok = strtok_r(NULL, ",", &save))
				svc[nsvc++] = tok;
			a[i].services = &svc[first];
			a[i].n_services = nsvc - first;
		}
		d[i].action = &a[i];
	}
	p.req = (Ls__UpgradeReq *)req;
	p.from = (char *)from;
	p.n_stops = nstops;
	p.stops = (Ls__UpgradeStop **)stops;
	p.n_steps = steps->n;
	p.steps = dp;
	*len = ls__upgrade_run_params__get_packed_size(&p);
	if ((*buf = malloc(*len ? *len : 1)) == NULL)
		goto out;
	ls__upgrade_run_params__pack(&p, *buf);
	rv = 0;
out:
	free(d);
	free(dp);
	free(a);
	free(svc);
	free(svcbuf);
	return rv;
}

void coord_upgrade_reply(struct control_ctx *cc, const Ls__UpgradeRunParams *p,
                         const char *run_id, const char *const *notes,
                         size_t nnotes, Ls__NodeVersions **nodes, size_t nnodes)
{
	Ls__ControlResp resp = LS__CONTROL_RESP__INIT;
	Ls__UpgradeResp ur = LS__UPGRADE_RESP__INIT;
	Ls__PlanStep *ps = calloc(p->n_steps + 1, sizeof(*ps));
	Ls__PlanStep **pp = calloc(p->n_steps + 1, sizeof(*pp));
	const char *deploy = NULL;
	size_t i;

	if (ps == NULL || pp == NULL) {
		coord_control_fail(cc, LS_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < p->n_steps; i++) {
		const Ls__UpgradeStepDef *d = p->steps[i];
		ls__plan_step__init(&ps[i]);
		ps[i].seq = (uint32_t)(i + 1);
		ps[i].node = d->node;
		ps[i].name = d->name;
		ps[i].phase = d->phase;
		pp[i] = &ps[i];
		/* The node that runs the migrations. */
		if (deploy == NULL &&
		    (d->kind == UG_MAINT_ON ||
		     (d->action != NULL &&
		      ((d->action->has_skip_post_deploy &&
		        d->action->skip_post_deploy) ||
		       d->action->kind ==
		           LS__UPGRADE_ACTION_KIND__UA_POST_DEPLOY_MIGRATE))))
			deploy = d->node;
	}
	ur.run_id = (char *)run_id;
	ur.from = p->from;
	ur.to = p->req->to;
	ur.mode = (char *)(p->req->mode && p->req->mode[0] ? p->req->mode
	                                                   : "zero-downtime");
	ur.n_stops = p->n_stops;
	ur.stops = p->stops;
	ur.n_plan = p->n_steps;
	ur.plan = pp;
	ur.n_notes = nnotes;
	ur.notes = (char **)notes;
	ur.deploy_node = (char *)deploy;
	ur.n_nodes = nnodes;
	ur.nodes = nodes;
	resp.kind_case = LS__CONTROL_RESP__KIND_UPGRADE;
	resp.upgrade = &ur;
	coord_control_reply(cc, &resp);
out:
	free(ps);
	free(pp);
}
