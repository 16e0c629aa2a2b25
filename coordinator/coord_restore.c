/*
 * The restore run: the plan's steps in the run journal, phase after phase,
 * the steps of a phase on their nodes at once. Each step is journaled as
 * started (with its operation id) before it is sent and as done or failed
 * when it is answered; a failure halts the run where it is, with GitLab
 * left in maintenance mode and Puma and Sidekiq stopped, until `lockstep
 * run resume`. A restarted coordinator sends a started step again under
 * its first id, which the agent answers from its store.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "coord_cutover.h"
#include "coord_restore.h"
#include "coord_upgrade.h"
#include "ls_error.h"
#include "ls_log.h"
#include "ls_util.h"

#define DATA_TIMEOUT_MS (12LL * 3600 * 1000)
#define STEP_TIMEOUT_MS (10LL * 60 * 1000)
#define PACKAGE_TIMEOUT_MS (2LL * 3600 * 1000)

struct coord_restore {
	char run[COORD_RUN_ID_MAX];
	struct rs_backup b;
	struct rs_step *steps;
	size_t n;
	uint8_t key[32];
	int have_key;
	size_t inflight;
	int halt;
	char reason[1024];
};

struct slot {
	struct coord_restore *r;
	size_t idx;
};

int coord_restore_active(const struct coord *c)
{
	return c->restore != NULL;
}

static void rs_free(struct coord_restore *r)
{
	if (r == NULL)
		return;
	rs_backup_clear(&r->b);
	free(r->steps);
	sodium_memzero(r->key, sizeof(r->key));
	free(r);
}

static void advance(struct coord *c, struct coord_restore *r);

static void halt(struct coord_restore *r, const struct rs_step *s,
                 const char *why)
{
	if (r->halt)
		return;
	r->halt = 1;
	snprintf(r->reason, sizeof(r->reason), "step %u (%s on %s) failed: %s",
	         s->seq, s->name, s->node, why);
}

/* A restore or verify step keeps its RestoreResult in the journal. */
static uint8_t *pack_result(const Ls__OpResult *res, size_t *len)
{
	uint8_t *buf;

	*len = 0;
	if (res == NULL || res->kind_case != LS__OP_RESULT__KIND_RESTORE)
		return NULL;
	*len = ls__restore_result__get_packed_size(res->restore);
	if ((buf = malloc(*len ? *len : 1)) != NULL)
		ls__restore_result__pack(res->restore, buf);
	return buf;
}

/* Why an answered step did not do its job, or "" when it did. */
static void judge(const struct rs_step *s, const Ls__OpResult *res,
                  int64_t timeout_ms, char *why, size_t len)
{
	size_t i;

	why[0] = '\0';
	if (res == NULL) {
		snprintf(why, len,
		         "no answer from %s within %lld s (the node is lost "
		         "or the step is still running there)",
		         s->node, (long long)timeout_ms / 1000);
		return;
	}
	if (res->status < 0) {
		const char *e =
		    res->error ? res->error : ls_strerror(res->status);
		const char *tail =
		    res->kind_case == LS__OP_RESULT__KIND_UPGRADE_ACTION
		        ? res->upgrade_action->output_tail
		        : NULL;
		if (tail != NULL && tail[0] != '\0' && strstr(e, tail) == NULL)
			snprintf(why, len, "%s; output: %s", e, tail);
		else
			snprintf(why, len, "%s", e);
		return;
	}
	if (res->kind_case == LS__OP_RESULT__KIND_RESTORE &&
	    res->restore->has_mismatch_count &&
	    res->restore->mismatch_count > 0) {
		const Ls__Mismatch *m = res->restore->n_mismatches
		                            ? res->restore->mismatches[0]
		                            : NULL;
		snprintf(why, len,
		         "%llu difference(s) from the backup; the first: %s "
		         "%s: expected '%s', found '%s'",
		         (unsigned long long)res->restore->mismatch_count,
		         m ? m->component : "?", m ? m->item : "?",
		         m ? m->expected : "", m ? m->found : "");
		return;
	}
	for (i = 0; res->kind_case == LS__OP_RESULT__KIND_RESTORE &&
	            i < res->restore->n_components;
	     i++) {
		const Ls__ComponentOutcome *o = res->restore->components[i];
		if (!o->ok) {
			snprintf(why, len, "%s: %s", o->component,
			         o->error ? o->error : "did not compare equal");
			return;
		}
	}
	for (i = 0; res->kind_case == LS__OP_RESULT__KIND_CHECKS &&
	            i < res->checks->n_results;
	     i++) {
		const Ls__CheckResult *cr = res->checks->results[i];
		if (cr->status == LS__CHECK_STATUS__CHECK_FAIL) {
			snprintf(why, len, "check %s failed: %s", cr->name,
			         cr->reason);
			return;
		}
	}
}

/* Data, verification and a package install take long; the rest not. */
static int64_t step_timeout(const struct rs_step *s)
{
	switch (s->phase) {
	case RS_DATA:
	case RS_VERIFY:
		return DATA_TIMEOUT_MS;
	case RS_DOWN_REMOVE:
	case RS_DOWN_INSTALL:
	case RS_DOWN_RECONFIGURE:
		return PACKAGE_TIMEOUT_MS;
	default:
		return STEP_TIMEOUT_MS;
	}
}

static void step_done(struct coord *c, struct coord_waiter *w)
{
	struct slot *sl = w->arg;
	struct coord_restore *r = sl->r;
	struct rs_step *s = &r->steps[sl->idx];
	const Ls__OpResult *res = w->results[0];
	int64_t timeout = step_timeout(s);
	char why[900];
	uint8_t *blob;
	size_t len;
	int rv;

	judge(s, res, timeout, why, sizeof(why));
	blob = pack_result(res, &len);
	if (why[0] != '\0') {
		rv = coord_journal_step_failed(c->db, r->run, s->seq, why, blob,
		                               len);
		s->state = COORD_STEP_FAILED;
		halt(r, s, why);
		log_warnx("restore %s: step %u (%s on %s) failed: %s", r->run,
		          s->seq, s->name, s->node, why);
	} else {
		rv = coord_journal_step_done(c->db, r->run, s->seq, blob, len);
		s->state = COORD_STEP_DONE;
		log_info("restore %s: step %u (%s on %s) done", r->run, s->seq,
		         s->name, s->node);
	}
	if (rv < 0)
		halt(r, s, "cannot write the run journal");
	free(blob);
	free(sl);
	w->arg = NULL;
	coord_waiter_free(w);
	r->inflight--;
	advance(c, r);
}

/* The restore-database result of s's node: an import's expected rows. */
static Ls__RestoreResult *prior_rows(struct coord *c,
                                     const struct coord_restore *r,
                                     const struct rs_step *s)
{
	size_t i, len = 0;
	uint8_t *buf = NULL;
	Ls__RestoreResult *res = NULL;

	if (strcmp(s->name, "verify") != 0)
		return NULL;
	for (i = 0; i < r->n; i++)
		if (strcmp(r->steps[i].node, s->node) == 0 &&
		    strncmp(r->steps[i].name, "restore database ", 17) == 0)
			break;
	if (i == r->n || coord_journal_result(c->db, r->run, r->steps[i].seq,
	                                      &buf, &len) < 0)
		return NULL;
	res = ls__restore_result__unpack(NULL, len, buf);
	free(buf);
	return res;
}

static void start_step(struct coord *c, struct coord_restore *r, size_t idx)
{
	struct rs_step *s = &r->steps[idx];
	struct coord_node *n = coord_node_find(c, s->node);
	struct rs_op_scratch *scratch = NULL;
	Ls__RestoreResult *prior = NULL;
	Ls__Operation op;
	struct coord_waiter *w = NULL;
	struct slot *sl = NULL;
	uint64_t id;
	char err[600];
	int rv;

	err[0] = '\0';
	if (n == NULL || !n->enrolled || n->removed) {
		halt(r, s, "the node is no longer in the fleet");
		return;
	}
	prior = prior_rows(c, r, s);
	rv =
	    rs_step_op(&r->b, r->steps, r->n, s, n, r->have_key ? r->key : NULL,
	               prior, &op, &scratch, err, sizeof(err));
	if (rv < 0) {
		halt(r, s, err[0] ? err : ls_strerror(rv));
		goto out;
	}
	id = s->state == COORD_STEP_STARTED && s->op_id ? s->op_id
	                                                : ++c->next_op_id;
	if ((rv = coord_journal_step_start(c->db, r->run, s->seq, id)) < 0) {
		halt(r, s, "cannot write the run journal");
		goto out;
	}
	if ((sl = malloc(sizeof(*sl))) == NULL ||
	    (w = coord_waiter_new(c, 1, step_timeout(s), step_done, sl)) ==
	        NULL) {
		free(sl);
		halt(r, s, "out of memory");
		goto out;
	}
	sl->r = r;
	sl->idx = idx;
	w->arg_free = free;
	s->state = COORD_STEP_STARTED;
	s->op_id = id;
	r->inflight++;
	log_info("restore %s: step %u (%s on %s) sent as operation %llu",
	         r->run, s->seq, s->name, s->node, (unsigned long long)id);
	if ((rv = coord_op_enqueue_id(c, n, &op, w, 0, id)) < 0) {
		/* The waiter finishes at once with no answer. */
		halt(r, s, "out of memory");
		w->pending = 0;
		coord_waiter_arm(c, w);
	}
out:
	if (prior)
		ls__restore_result__free_unpacked(prior, NULL);
	rs_op_scratch_free(scratch);
}

static void finish(struct coord *c, struct coord_restore *r)
{
	if (r->halt) {
		char reason[1300];
		snprintf(
		    reason, sizeof(reason),
		    "%s. GitLab is left as this step found it (maintenance "
		    "mode on, Puma and Sidekiq stopped if they were); "
		    "`lockstep run resume %s` retries it",
		    r->reason, r->run);
		coord_journal_run_end(c->db, r->run, COORD_RUN_HALTED, reason);
		log_warnx("restore %s halted: %s", r->run, r->reason);
	} else {
		coord_journal_run_end(c->db, r->run, COORD_RUN_DONE, "");
		log_info("restore %s: done; backup %s restored and verified",
		         r->run, r->b.id);
	}
	if (c->restore == r)
		c->restore = NULL;
	rs_free(r);
}

static void advance(struct coord *c, struct coord_restore *r)
{
	enum rs_phase phase;
	size_t i;

	for (;;) {
		if (r->inflight > 0)
			return;
		for (i = 0; i < r->n && r->steps[i].state == COORD_STEP_DONE;
		     i++)
			;
		if (r->halt || i == r->n) {
			finish(c, r);
			return;
		}
		phase = r->steps[i].phase;
		for (; i < r->n && !r->halt; i++)
			if (r->steps[i].phase == phase &&
			    r->steps[i].state != COORD_STEP_DONE)
				start_step(c, r, i);
	}
}

/* Starts the run with the steps as journaled (all pending when new). */
static int run_start(struct coord *c, struct coord_restore *r)
{
	c->restore = r;
	advance(c, r);
	return 0;
}

void coord_restore_drop(struct coord *c)
{
	/* At shutdown the waiters are gone; the journal says where it was. */
	rs_free(c->restore);
	c->restore = NULL;
}

/* ---- The control requests. ---- */

struct request {
	struct coord *c;
	struct control_ctx *cc;
	Ls__RestoreReq *req;
	char store[4096];
	uint8_t pk[32];  /* the coordinator's signing key */
	uint8_t key[32]; /* the backup key, checked */
	int have_key;
};

static void reply_plan(struct control_ctx *cc, const char *run,
                       const struct rs_plan *p)
{
	Ls__ControlResp resp = LS__CONTROL_RESP__INIT;
	Ls__RestoreResp rr = LS__RESTORE_RESP__INIT;
	Ls__PlanStep *ps = calloc(p->n + 1, sizeof(*ps));
	Ls__PlanStep **pp = calloc(p->n + 1, sizeof(*pp));
	char *notes[8];
	size_t i;

	if (ps == NULL || pp == NULL) {
		coord_control_fail(cc, LS_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < p->n; i++) {
		ls__plan_step__init(&ps[i]);
		ps[i].seq = p->steps[i].seq;
		ps[i].node = (char *)p->steps[i].node;
		ps[i].name = (char *)p->steps[i].name;
		ps[i].phase = p->steps[i].phase;
		pp[i] = &ps[i];
	}
	for (i = 0; i < p->nnotes; i++)
		notes[i] = (char *)p->notes[i];
	rr.run_id = (char *)run;
	rr.n_plan = p->n;
	rr.plan = pp;
	rr.n_notes = p->nnotes;
	rr.notes = notes;
	resp.kind_case = LS__CONTROL_RESP__KIND_RESTORE;
	resp.restore = &rr;
	coord_control_reply(cc, &resp);
out:
	free(ps);
	free(pp);
}

/* Under c->mtx, after the backup was read back without it. */
static void request_locked(struct request *q, struct rs_backup *b)
{
	struct coord *c = q->c;
	Ls__RestoreReq *req = q->req;
	struct rs_plan p;
	struct coord_step_def *defs = NULL;
	struct coord_restore *r = NULL;
	char err[1024], run[COORD_RUN_ID_MAX];
	uint8_t *params = NULL;
	size_t i, plen;
	struct coord_run prior;
	int rollback = req->rollback_of != NULL && req->rollback_of[0] != '\0';
	int rv;

	err[0] = '\0';
	memset(&p, 0, sizeof(p));
	if (c->backup != NULL || c->restore != NULL || c->upgrade != NULL ||
	    c->cutover != NULL) {
		coord_control_failf(q->cc, LS_EBUSY,
		                    "a %s is running: restore once it is done "
		                    "(lockstep run list)",
		                    c->backup    ? "backup"
		                    : c->restore ? "restore"
		                    : c->upgrade ? "upgrade"
		                                 : "cutover");
		return;
	}
	if ((rv = rs_plan_make(c, b, req, 0, &p, err, sizeof(err))) < 0) {
		coord_control_fail(q->cc, rv, err);
		return;
	}
	if (req->has_dry_run && req->dry_run) {
		reply_plan(q->cc, NULL, &p);
		goto out;
	}
	/* The key is not journaled: a resume asks for it again. */
	req->backup_key.len = 0;
	req->has_backup_key = 0;
	plen = ls__restore_req__get_packed_size(req);
	if ((params = malloc(plen ? plen : 1)) == NULL ||
	    (defs = calloc(p.n, sizeof(*defs))) == NULL ||
	    (r = calloc(1, sizeof(*r))) == NULL) {
		coord_control_fail(q->cc, LS_ENOMEM, "out of memory");
		goto out;
	}
	ls__restore_req__pack(req, params);
	for (i = 0; i < p.n; i++) {
		defs[i].node = p.steps[i].node;
		defs[i].name = p.steps[i].name;
	}
	if (rollback && (rv = coord_rollback_supersede(c, req, &prior, err,
	                                               sizeof(err))) < 0) {
		coord_control_fail(q->cc, rv, err);
		goto out;
	}
	rv = coord_journal_create(c->db, rollback ? "rollback" : "restore",
	                          params, plen, defs, p.n, run, sizeof(run));
	if (rv < 0 && rollback)
		coord_rollback_unsupersede(c, &prior);
	if (rv < 0) {
		coord_control_fail(q->cc, rv,
		                   rv == LS_EBUSY
		                       ? "another run is running or halted: "
		                         "finish it first (lockstep run list)"
		                       : "cannot write the run journal");
		goto out;
	}
	ls_strlcpy(r->run, run, sizeof(r->run));
	r->b = *b;
	b->manifest = NULL; /* r owns it now */
	r->steps = p.steps;
	r->n = p.n;
	p.steps = NULL;
	if (q->have_key) {
		memcpy(r->key, q->key, sizeof(r->key));
		r->have_key = 1;
	}
	log_info("restore %s: restoring backup %s, %zu steps", run, r->b.id,
	         r->n);
	reply_plan(q->cc, run, &(struct rs_plan){.steps = r->steps, .n = r->n});
	run_start(c, r);
	r = NULL;
out:
	rs_free(r);
	free(defs);
	free(params);
	rs_plan_free(&p);
}

static void *request_thread(void *arg)
{
	struct request *q = arg;
	struct coord *c = q->c;
	struct rs_backup b;
	char err[1024];
	int rv;

	err[0] = '\0';
	/* Every artifact read back before anything is touched. */
	rv = rs_backup_load(q->store, q->req->backup_id, q->pk, 1, &b, err,
	                    sizeof(err));
	if (rv == 0 && q->req->with_secrets) {
		rv = rs_backup_check_key(&b, q->req->backup_key.data, err,
		                         sizeof(err));
		memcpy(q->key, q->req->backup_key.data, sizeof(q->key));
		q->have_key = 1;
	}
	pthread_mutex_lock(&c->mtx);
	if (rv < 0)
		coord_control_fail(q->cc, rv, err);
	else
		request_locked(q, &b);
	pthread_mutex_unlock(&c->mtx);
	rs_backup_clear(&b);
	if (q->req->backup_key.data)
		sodium_memzero(q->req->backup_key.data, q->req->backup_key.len);
	sodium_memzero(q->key, sizeof(q->key));
	ls__restore_req__free_unpacked(q->req, NULL);
	free(q);
	return NULL;
}

void coord_restore_request(struct coord *c, struct control_ctx *cc,
                           const Ls__RestoreReq *req)
{
	struct request *q = calloc(1, sizeof(*q));
	size_t len = ls__restore_req__get_packed_size(req);
	uint8_t *buf = malloc(len ? len : 1);
	pthread_t th;

	if (q == NULL || buf == NULL)
		goto nomem;
	if (req->with_secrets &&
	    (!req->has_backup_key || req->backup_key.len != 32)) {
		coord_control_fail(
		    cc, LS_EINVAL,
		    "--with-secrets needs --backup-key FILE (the "
		    "key `lockstep keys export` wrote)");
		goto out;
	}
	ls__restore_req__pack(req, buf);
	q->c = c;
	q->cc = cc;
	q->req = ls__restore_req__unpack(NULL, len, buf);
	memcpy(q->pk, c->sign_pk, sizeof(q->pk));
	if (q->req == NULL ||
	    coord_backup_store(c, q->store, sizeof(q->store)) < 0)
		goto nomem;
	if (pthread_create(&th, NULL, request_thread, q) != 0)
		goto nomem;
	pthread_detach(th);
	sodium_memzero(buf, len);
	free(buf);
	return;
nomem:
	coord_control_fail(cc, LS_ENOMEM, "cannot start the restore checks");
out:
	if (q && q->req)
		ls__restore_req__free_unpacked(q->req, NULL);
	free(q);
	if (buf)
		sodium_memzero(buf, len);
	free(buf);
}

/* A secrets step still to run needs the key again. */
static int needs_key(const struct coord_step *steps, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (steps[i].state != COORD_STEP_DONE &&
		    strncmp(steps[i].name, "restore secrets ", 16) == 0)
			return 1;
	return 0;
}

void coord_restore_resume(struct coord *c, struct control_ctx *cc,
                          const Ls__RunResumeReq *req)
{
	struct coord_run run;
	struct coord_step *steps = NULL;
	struct coord_restore *r = NULL;
	Ls__RestoreReq *params = NULL;
	uint8_t *pbuf = NULL;
	size_t n = 0, plen = 0, i;
	char err[1024], store[4096];
	int rv;

	err[0] = '\0';
	if ((rv = coord_journal_get(c->db, req->id, &run, &steps, &n)) < 0) {
		snprintf(err, sizeof(err), "no run with id '%.100s'", req->id);
		goto fail;
	}
	if (strcmp(run.kind, "upgrade") == 0 && run.state == COORD_RUN_HALTED &&
	    c->upgrade == NULL && c->restore == NULL && c->backup == NULL &&
	    c->cutover == NULL) {
		coord_upgrade_resume(c, cc, &run, steps, n);
		goto out;
	}
	if (coord_cutover_kind(run.kind) && run.state == COORD_RUN_HALTED &&
	    c->upgrade == NULL && c->restore == NULL && c->backup == NULL &&
	    c->cutover == NULL) {
		coord_cutover_resume(c, cc, &run, steps, n);
		goto out;
	}
	if (strcmp(run.kind, "restore") != 0 &&
	    strcmp(run.kind, "rollback") != 0 &&
	    strcmp(run.kind, "upgrade") != 0 && !coord_cutover_kind(run.kind)) {
		snprintf(err, sizeof(err),
		         "run %s is a %s: only a restore, an upgrade or a "
		         "cutover resumes",
		         run.id, run.kind);
		rv = LS_EINVAL;
		goto fail;
	}
	if (run.state != COORD_RUN_HALTED || c->restore != NULL ||
	    c->upgrade != NULL || c->cutover != NULL) {
		snprintf(err, sizeof(err),
		         "run %s is %s: only a halted run "
		         "resumes",
		         run.id,
		         c->restore || c->upgrade || c->cutover
		             ? "being driven"
		             : coord_run_state_name(run.state));
		rv = LS_ESTATE;
		goto fail;
	}
	if (c->backup != NULL) {
		snprintf(err, sizeof(err),
		         "a backup is running: resume once "
		         "it is done");
		rv = LS_EBUSY;
		goto fail;
	}
	if ((rv = coord_journal_params(c->db, run.id, &pbuf, &plen)) < 0 ||
	    (params = ls__restore_req__unpack(NULL, plen, pbuf)) == NULL) {
		snprintf(err, sizeof(err),
		         "run %s: its parameters cannot be "
		         "read from the journal",
		         run.id);
		rv = rv < 0 ? rv : LS_EDB;
		goto fail;
	}
	if (needs_key(steps, n) &&
	    (!req->has_backup_key || req->backup_key.len != 32)) {
		snprintf(err, sizeof(err),
		         "run %s still has to restore secrets: "
		         "resume with --backup-key FILE",
		         run.id);
		rv = LS_EINVAL;
		goto fail;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->steps = calloc(n ? n : 1, sizeof(*r->steps))) == NULL) {
		rv = LS_ENOMEM;
		goto fail;
	}
	/* The signature only: the artifacts were read back at the start. */
	if ((rv = coord_backup_store(c, store, sizeof(store))) < 0 ||
	    (rv = rs_backup_load(store, params->backup_id, c->sign_pk, 0, &r->b,
	                         err, sizeof(err))) < 0)
		goto fail;
	if (req->has_backup_key && req->backup_key.len == 32) {
		if ((rv = rs_backup_check_key(&r->b, req->backup_key.data, err,
		                              sizeof(err))) < 0)
			goto fail;
		memcpy(r->key, req->backup_key.data, sizeof(r->key));
		r->have_key = 1;
	}
	ls_strlcpy(r->run, run.id, sizeof(r->run));
	r->n = n;
	for (i = 0; i < n; i++) {
		struct rs_step *s = &r->steps[i];
		s->seq = steps[i].seq;
		ls_strlcpy(s->node, steps[i].node, sizeof(s->node));
		ls_strlcpy(s->name, steps[i].name, sizeof(s->name));
		s->phase = rs_step_phase(s->name);
		s->state = steps[i].state;
		s->op_id = steps[i].op_id;
		if (s->state == COORD_STEP_FAILED) {
			s->state = COORD_STEP_PENDING;
			s->op_id = 0;
		}
	}
	if ((rv = coord_journal_resume(c->db, run.id, steps, n)) < 0)
		goto fail;
	log_info("restore %s: resumed (%u of %zu steps done)", run.id,
	         run.ndone, n);
	{
		struct rs_plan p = {.steps = r->steps, .n = r->n};
		reply_plan(cc, run.id, &p);
	}
	run_start(c, r);
	r = NULL;
	goto out;
fail:
	coord_control_fail(cc, rv, err[0] ? err : ls_strerror(rv));
out:
	rs_free(r);
	if (params)
		ls__restore_req__free_unpacked(params, NULL);
	free(pbuf);
	free(steps);
}
