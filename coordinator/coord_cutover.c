/*
 * The cutover run: its steps in the run journal, phase after phase, the
 * steps of a phase at once. A node step is journaled as started (with its
 * operation id) before it is sent and as done or failed when answered,
 * with its one-line outcome; a restarted coordinator sends a started step
 * again under its first id, which the agent answers from its store. The
 * prerequisites are one phase: each is reported, pass or fail, and any
 * failure ends the run before anything is changed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_cutover_int.h"
#include "coord_restore.h"
#include "ls_error.h"
#include "ls_log.h"
#include "ls_util.h"

/* git fsck of every repository of a large storage takes its time. */
#define STEP_TIMEOUT_MS (12LL * 3600 * 1000)
#define QUERY_TIMEOUT_MS (10LL * 60 * 1000)

struct slot {
	struct coord_cutover *u;
	size_t idx;
	co_answer_fn fn;
};

void co_sealed_clear(struct coord_cutover *u)
{
	size_t i;

	for (i = 0; i < u->nrails; i++) {
		free(u->sealed[i].data);
		u->sealed[i].data = NULL;
		u->sealed[i].len = 0;
	}
	u->nrails = u->rails_k = 0;
}

static void co_free(struct coord_cutover *u)
{
	if (u == NULL)
		return;
	co_sealed_clear(u);
	if (u->p)
		ls__cutover_run_params__free_unpacked(u->p, NULL);
	free(u->st);
	free(u);
}

const Ls__CutoverStepDef *co_def(const struct coord_cutover *u, size_t i)
{
	return u->p->steps[i];
}

int coord_cutover_kind(const char *kind)
{
	return strcmp(kind, CO_RUN) == 0 || strcmp(kind, CO_RUN_PLAN) == 0 ||
	       strcmp(kind, CO_RUN_ROLLBACK) == 0;
}

static void add_reason(struct coord_cutover *u, size_t i, const char *why)
{
	const Ls__CutoverStepDef *d = co_def(u, i);
	size_t used = strlen(u->reason);

	snprintf(u->reason + used, sizeof(u->reason) - used, "%s%s on %s: %s",
	         used ? "; " : "", d->name,
	         d->node[0] ? d->node : "the coordinator", why);
}

void co_step_end(struct coord *c, struct coord_cutover *u, size_t i,
                 const char *why, const Ls__CutoverStepResult *r)
{
	const Ls__CutoverStepDef *d = co_def(u, i);
	Ls__CutoverStepResult empty = LS__CUTOVER_STEP_RESULT__INIT;
	const char *detail;
	uint8_t *blob;
	size_t len;
	int rv;

	if (r == NULL)
		r = &empty;
	detail = r->detail && r->detail[0] ? r->detail : "done";
	len = ls__cutover_step_result__get_packed_size(r);
	if ((blob = malloc(len ? len : 1)) != NULL)
		ls__cutover_step_result__pack(r, blob);
	if ((long)i == u->sub_step) {
		co_sealed_clear(u);
		u->sub_step = -1;
		u->sub = CO_SUB_NONE;
		u->live[0] = '\0';
	}
	if (why != NULL && why[0] != '\0') {
		rv = coord_journal_step_failed(c->db, u->run, (uint32_t)(i + 1),
		                               why, blob, blob ? len : 0);
		u->st[i].state = COORD_STEP_FAILED;
		if (d->phase == CO_PREREQ_PHASE && !u->rollback)
			u->failed_prereq = 1;
		else
			u->halt = 1;
		add_reason(u, i, why);
		log_warnx("cutover %s: %s on %s failed: %s", u->run, d->name,
		          d->node[0] ? d->node : "the coordinator", why);
	} else {
		rv = coord_journal_step_done(c->db, u->run, (uint32_t)(i + 1),
		                             blob, blob ? len : 0);
		u->st[i].state = COORD_STEP_DONE;
		log_info("cutover %s: %s on %s: %s", u->run, d->name,
		         d->node[0] ? d->node : "the coordinator", detail);
	}
	free(blob);
	if (rv < 0) {
		u->halt = 1;
		add_reason(u, i, "cannot write the run journal");
	}
}

static void answered(struct coord *c, struct coord_waiter *w)
{
	struct slot *sl = w->arg;
	struct coord_cutover *u = sl->u;

	u->inflight--;
	sl->fn(c, u, sl->idx, w->results[0]);
	free(sl);
	w->arg = NULL;
	coord_waiter_free(w);
	co_advance(c, u);
}

void co_send(struct coord *c, struct coord_cutover *u, size_t i,
             const char *node, Ls__Operation *op, uint64_t id,
             int64_t timeout_ms, co_answer_fn fn)
{
	struct coord_node *n = coord_node_find(c, node);
	struct coord_waiter *w;
	struct slot *sl;
	char why[200];

	if (n == NULL || !n->enrolled || n->removed) {
		snprintf(why, sizeof(why),
		         "node %.64s is no longer in the fleet", node);
		co_step_end(c, u, i, why, NULL);
		return;
	}
	if ((sl = calloc(1, sizeof(*sl))) == NULL ||
	    (w = coord_waiter_new(c, 1, timeout_ms, answered, sl)) == NULL) {
		free(sl);
		co_step_end(c, u, i, "out of memory", NULL);
		return;
	}
	sl->u = u;
	sl->idx = i;
	sl->fn = fn;
	w->arg_free = free;
	u->inflight++;
	if (coord_op_enqueue_id(c, n, op, w, 0, id) < 0) {
		w->pending = 0;
		coord_waiter_arm(c, w);
	}
}

Ls__CutoverStepResult *co_prior(struct coord *c, const struct coord_cutover *u,
                                enum co_kind kind)
{
	Ls__CutoverStepResult *r = NULL;
	uint8_t *buf = NULL;
	size_t i, len = 0;

	for (i = u->n; i-- > 0;) {
		if (co_def(u, i)->kind != (uint32_t)kind)
			continue;
		if (coord_journal_result(c->db, u->run, (uint32_t)(i + 1), &buf,
		                         &len) == 0)
			r = ls__cutover_step_result__unpack(NULL, len, buf);
		free(buf);
		return r;
	}
	return NULL;
}

static void prereq_answered(struct coord *c, struct coord_cutover *u, size_t i,
                            const Ls__OpResult *res)
{
	Ls__CutoverStepResult r = LS__CUTOVER_STEP_RESULT__INIT;
	char why[1500], detail[1000];

	co_judge(co_def(u, i), u->p, res, why, sizeof(why), detail,
	         sizeof(detail));
	r.detail = detail;
	if (why[0] == '\0' && co_keep(co_def(u, i), res, &r) < 0)
		snprintf(why, sizeof(why), "out of memory");
	co_step_end(c, u, i, why, &r);
	free(r.replicas);
}

static void send_prereq(struct coord *c, struct coord_cutover *u, size_t i,
                        uint64_t id)
{
	const Ls__CutoverStepDef *d = co_def(u, i);
	struct coord_node *n = coord_node_find(c, d->node);
	char *roles[COORD_MAX_ROLES];
	Ls__Operation op;
	Ls__RunChecks rc;
	Ls__RepoFsck fs;
	Ls__KubeQuery kq;
	Ls__KubeTarget kt;
	Ls__StorageCounts sc;
	size_t k;

	if (n == NULL || !n->enrolled || n->removed) {
		co_step_end(c, u, i, "the node is no longer in the fleet",
		            NULL);
		return;
	}
	for (k = 0; k < n->nroles && k < COORD_MAX_ROLES; k++)
		roles[k] = (char *)n->roles[k];
	co_step_op(d, u->p, n, roles, &op, &rc, &fs, &kq, &kt, &sc);
	co_send(c, u, i, d->node, &op, id,
	        d->kind == CO_FSCK ? STEP_TIMEOUT_MS : QUERY_TIMEOUT_MS,
	        prereq_answered);
}

static void start_step(struct coord *c, struct coord_cutover *u, size_t i)
{
	const Ls__CutoverStepDef *d = co_def(u, i);
	uint64_t id = u->st[i].state == COORD_STEP_STARTED && u->st[i].op_id
	                  ? u->st[i].op_id
	                  : ++c->next_op_id;

	if (coord_journal_step_start(c->db, u->run, (uint32_t)(i + 1), id) <
	    0) {
		u->halt = 1;
		add_reason(u, i, "cannot write the run journal");
		return;
	}
	u->st[i].state = COORD_STEP_STARTED;
	u->st[i].op_id = id;
	log_info("cutover %s: step %zu (%s on %s) started", u->run, i + 1,
	         d->name, d->node[0] ? d->node : "the coordinator");
	if (d->kind < CO_SERVICES || d->kind > CO_KIND_MAX)
		co_step_end(c, u, i,
		            "the journaled step has no kind Lockstep knows",
		            NULL);
	else if (d->kind <= CO_STORAGE)
		send_prereq(c, u, i, id);
	else
		co_run_step(c, u, i, id);
}

static void finish(struct coord *c, struct coord_cutover *u)
{
	char reason[1400];

	if (u->failed_prereq) {
		snprintf(reason, sizeof(reason),
		         "prerequisites not met, nothing was changed: %s",
		         u->reason);
		coord_journal_run_end(c->db, u->run, COORD_RUN_FAILED, reason);
		log_warnx("cutover %s: %s", u->run, reason);
	} else if (u->halt) {
		snprintf(reason, sizeof(reason),
		         "%s. `lockstep run show %s` has each step, `lockstep "
		         "run resume %s` retries it",
		         u->reason, u->run, u->run);
		coord_journal_run_end(c->db, u->run, COORD_RUN_HALTED, reason);
		log_warnx("cutover %s halted: %s", u->run, u->reason);
	} else {
		const char *done =
		    u->plan ? "every prerequisite met"
		    : u->rollback
		        ? "the chart's previous Secrets and replica counts "
		          "are back"
		        : "the chart side matches the backup. The "
		          "Linux-package "
		          "fleet was left untouched and is still serving: "
		          "switch traffic to the chart when ready";
		coord_journal_run_end(c->db, u->run, COORD_RUN_DONE, done);
		log_info("cutover %s: %s", u->run, done);
	}
	if (c->cutover == u)
		c->cutover = NULL;
	co_free(u);
}

void co_advance(struct coord *c, struct coord_cutover *u)
{
	uint32_t phase;
	size_t i;

	for (;;) {
		if (u->inflight > 0)
			return;
		for (i = 0; i < u->n && u->st[i].state == COORD_STEP_DONE; i++)
			;
		if (u->halt || u->failed_prereq || i == u->n) {
			finish(c, u);
			return;
		}
		phase = co_def(u, i)->phase;
		for (; i < u->n && !u->halt; i++)
			if (co_def(u, i)->phase == phase &&
			    u->st[i].state != COORD_STEP_DONE)
				start_step(c, u, i);
	}
}

void coord_cutover_sweep(struct coord *c, int64_t now_ms)
{
	(void)now_ms;
	if (c->cutover == NULL)
		return;
	if (c->cutover->halt && c->cutover->inflight == 0)
		co_advance(c, c->cutover);
	else
		co_run_tick(c, c->cutover);
}

char *coord_cutover_live(struct coord *c, const char *run, uint32_t seq)
{
	const struct coord_cutover *u = c->cutover;

	if (u == NULL || strcmp(u->run, run) != 0 || u->sub_step < 0 ||
	    (uint32_t)u->sub_step + 1 != seq || u->live[0] == '\0')
		return NULL;
	return strdup(u->live);
}

void coord_cutover_drop(struct coord *c)
{
	co_free(c->cutover);
	c->cutover = NULL;
}

char *coord_cutover_detail(const uint8_t *blob, size_t len)
{
	Ls__CutoverStepResult *r =
	    ls__cutover_step_result__unpack(NULL, len, blob);
	char *d = NULL;

	if (r == NULL)
		return NULL;
	if (r->n_differences > 0) {
		/* The verify step's report: every difference it journaled. */
		size_t i, cap = strlen(r->detail) + 64;
		for (i = 0; i < r->n_differences; i++)
			cap += strlen(r->differences[i]) + 3;
		if ((d = malloc(cap)) != NULL) {
			size_t used = (size_t)snprintf(d, cap, "%s", r->detail);
			for (i = 0; i < r->n_differences && used < cap; i++)
				used += (size_t)snprintf(
				    d + used, cap - used, "%s%s",
				    i ? "; " : "; differences: ",
				    r->differences[i]);
			if (r->more_differences && used < cap)
				snprintf(
				    d + used, cap - used, "; %llu more",
				    (unsigned long long)r->more_differences);
		}
	} else if (r->detail[0] != '\0') {
		d = strdup(r->detail);
	}
	ls__cutover_step_result__free_unpacked(r, NULL);
	return d;
}

/* Takes p; the steps as journaled (states and op ids from steps). */
static int run_start(struct coord *c, const char *run, int plan,
                     Ls__CutoverRunParams *p, const struct coord_step *steps,
                     size_t n)
{
	struct coord_cutover *u = calloc(1, sizeof(*u));
	size_t i;

	if (u == NULL || (u->st = calloc(n ? n : 1, sizeof(*u->st))) == NULL) {
		free(u);
		ls__cutover_run_params__free_unpacked(p, NULL);
		return LS_ENOMEM;
	}
	ls_strlcpy(u->run, run, sizeof(u->run));
	u->plan = plan;
	u->rollback = p->req->rollback_run != NULL && p->req->rollback_run[0];
	u->sub_step = -1;
	u->p = p;
	u->n = n;
	for (i = 0; steps != NULL && i < n; i++) {
		u->st[i].state = steps[i].state;
		u->st[i].op_id = steps[i].op_id;
	}
	c->cutover = u;
	co_advance(c, u);
	return 0;
}

int coord_cutover_begin(struct coord *c, const uint8_t *params, size_t len,
                        char *run, size_t runlen, char *err, size_t errlen)
{
	Ls__CutoverRunParams *p =
	    ls__cutover_run_params__unpack(NULL, len, params);
	struct coord_step_def *defs = NULL;
	int plan;
	size_t i;
	int rv;

	if (p == NULL)
		return LS_ENOMEM;
	plan = p->req->has_plan && p->req->plan;
	if ((defs = calloc(p->n_steps + 1, sizeof(*defs))) == NULL) {
		ls__cutover_run_params__free_unpacked(p, NULL);
		return LS_ENOMEM;
	}
	for (i = 0; i < p->n_steps; i++) {
		defs[i].node = p->steps[i]->node;
		defs[i].name = p->steps[i]->name;
	}
	rv = coord_journal_create(
	    c->db,
	    plan                                              ? CO_RUN_PLAN
	    : p->req->rollback_run && p->req->rollback_run[0] ? CO_RUN_ROLLBACK
	                                                      : CO_RUN,
	    params, len, defs, p->n_steps, run, runlen);
	free(defs);
	if (rv < 0) {
		snprintf(err, errlen, "%s",
		         rv == LS_EBUSY ? "another run is running or halted: "
		                          "finish it first (lockstep run list)"
		                        : "cannot write the run journal");
		ls__cutover_run_params__free_unpacked(p, NULL);
		return rv;
	}
	log_info("cutover %s: release %s in %s, %zu steps, fleet at %s", run,
	         p->req->release, p->req->namespace_, p->n_steps,
	         p->fleet_version);
	return run_start(c, run, plan, p, NULL, p->n_steps);
}

void coord_cutover_resume(struct coord *c, struct control_ctx *cc,
                          const struct coord_run *run, struct coord_step *steps,
                          size_t n)
{
	Ls__ControlResp resp = LS__CONTROL_RESP__INIT;
	Ls__CutoverResp cr = LS__CUTOVER_RESP__INIT;
	Ls__CutoverRunParams *p;
	int rv;

	p = (Ls__CutoverRunParams *)coord_run_resume_params(
	    c, cc, run, steps, n, &ls__cutover_run_params__descriptor);
	if (p == NULL)
		return;
	log_info("cutover %s: resumed (%u of %zu steps done)", run->id,
	         run->ndone, n);
	cr.run_id = (char *)run->id;
	resp.kind_case = LS__CONTROL_RESP__KIND_CUTOVER;
	resp.cutover = &cr;
	coord_control_reply(cc, &resp);
	rv = run_start(c, run->id, strcmp(run->kind, CO_RUN_PLAN) == 0, p,
	               steps, n);
	if (rv < 0)
		log_warnx("cutover %s: cannot resume: %s", run->id,
		          ls_strerror(rv));
}
