/*
 * `lockstep cutover rollback RUN_ID`: the chart's Secrets as they were
 * before the cutover run replaced them, and its webservice and sidekiq
 * deployments at the replica counts they had, then every pod of the
 * release restarted so that they read those Secrets. A run of its own
 * (kind cutover-rollback), journaled and resumable like the cutover; what
 * it puts back is what the cutover run journaled (the previous Secrets
 * sealed to the kubernetes node, the counts), copied into its parameters.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_cutover_int.h"
#include "ls_error.h"
#include "ls_log.h"
#include "ls_util.h"

struct undo {
	Ls__CutoverRunParams *old; /* the cutover run's parameters */
	Ls__CutoverStepResult *secrets, *scale;
	struct coord_step *steps;
	size_t nsteps;
};

static void undo_clear(struct undo *d)
{
	if (d->old)
		ls__cutover_run_params__free_unpacked(d->old, NULL);
	if (d->secrets)
		ls__cutover_step_result__free_unpacked(d->secrets, NULL);
	if (d->scale)
		ls__cutover_step_result__free_unpacked(d->scale, NULL);
	free(d->steps);
}

/* The journaled result of the last step of kind that ran, or NULL. */
static Ls__CutoverStepResult *result_of(struct coord *c, const char *run,
                                        const struct undo *d, enum co_kind kind)
{
	Ls__CutoverStepResult *r = NULL;
	uint8_t *buf = NULL;
	size_t i, len = 0;

	for (i = d->old->n_steps; i-- > 0;) {
		if (d->old->steps[i]->kind != (uint32_t)kind)
			continue;
		if (coord_journal_result(c->db, run, (uint32_t)(i + 1), &buf,
		                         &len) == 0 &&
		    len > 0)
			r = ls__cutover_step_result__unpack(NULL, len, buf);
		free(buf);
		return r;
	}
	return NULL;
}

static int load(struct coord *c, const char *id, struct undo *d,
                struct coord_run *run, char *err, size_t errlen)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rv;

	if ((rv = coord_journal_get(c->db, id, run, &d->steps, &d->nsteps)) <
	    0) {
		ls_fmt(err, errlen, "no run with id '%.100s'", id);
		return rv;
	}
	if (strcmp(run->kind, CO_RUN) != 0) {
		ls_fmt(err, errlen,
		       "run %s is a %s, not a cutover: only a cutover run is "
		       "rolled back this way",
		       id, run->kind);
		return LS_EINVAL;
	}
	if (run->state == COORD_RUN_RUNNING || c->cutover != NULL) {
		ls_fmt(err, errlen,
		       "run %s is still running: wait for it to end or halt "
		       "(lockstep run show %s)",
		       id, id);
		return LS_EBUSY;
	}
	if ((rv = coord_journal_params(c->db, id, &buf, &len)) < 0 ||
	    (d->old = ls__cutover_run_params__unpack(NULL, len, buf)) == NULL ||
	    d->old->n_steps != d->nsteps) {
		free(buf);
		ls_fmt(err, errlen,
		       "the parameters of run %s cannot be read from the "
		       "journal",
		       id);
		return rv < 0 ? rv : LS_EDB;
	}
	free(buf);
	d->secrets = result_of(c, id, d, CO_SECRETS);
	d->scale = result_of(c, id, d, CO_SCALE_DOWN);
	return 0;
}

static void step_def(Ls__CutoverStepDef *s, Ls__CutoverStepDef **sp, size_t *n,
                     uint32_t phase, const char *node, enum co_kind kind,
                     const char *name)
{
	ls__cutover_step_def__init(&s[*n]);
	s[*n].phase = phase;
	s[*n].node = (char *)node;
	s[*n].kind = kind;
	s[*n].name = (char *)name;
	sp[*n] = &s[*n];
	(*n)++;
}

void coord_cutover_rollback(struct coord *c, struct control_ctx *cc,
                            const Ls__CutoverReq *req)
{
	Ls__CutoverRunParams p = LS__CUTOVER_RUN_PARAMS__INIT;
	Ls__CutoverReq r = LS__CUTOVER_REQ__INIT;
	Ls__CutoverStepDef s[3], *sp[3];
	struct undo d = {0};
	struct coord_run run;
	struct coord_node *kube;
	char err[1024] = "", id[COORD_RUN_ID_MAX], reason[256];
	uint8_t *buf = NULL;
	size_t n = 0, len;
	int rv;

	if (c->backup || c->restore || c->upgrade || c->cutover) {
		ls_fmt(err, sizeof(err), "a %s is running",
		       c->backup    ? "backup"
		       : c->restore ? "restore"
		       : c->upgrade ? "upgrade"
		                    : "cutover");
		rv = LS_EBUSY;
		goto out;
	}
	if ((rv = load(c, req->rollback_run, &d, &run, err, sizeof(err))) < 0)
		goto out;
	if (d.secrets != NULL && d.secrets->has_saved_secrets &&
	    d.secrets->saved_secrets.len > 0)
		step_def(s, sp, &n, 1, d.old->kube_node, CO_UNDO_SECRETS,
		         "put the chart's previous Secrets back");
	if (d.scale != NULL && d.scale->n_replicas > 0)
		step_def(s, sp, &n, 2, d.old->kube_node, CO_UNDO_SCALE,
		         "scale webservice and sidekiq to their counts before");
	if (n == 0) {
		ls_fmt(err, sizeof(err),
		       "run %s changed neither the chart's Secrets nor its "
		       "replica counts: nothing to roll back",
		       req->rollback_run);
		rv = LS_ESTATE;
		goto out;
	}
	step_def(s, sp, &n, 3, d.old->kube_node, CO_RESTART,
	         "kubectl delete pods -lrelease, wait for every pod ready");
	kube = coord_node_find(c, d.old->kube_node);
	if (kube == NULL || !kube->enrolled || kube->removed ||
	    !coord_node_connected(c, kube, coord_now_us() / 1000)) {
		ls_fmt(err, sizeof(err),
		       "the kubernetes node %s of run %s is not connected",
		       d.old->kube_node, req->rollback_run);
		rv = LS_ESTATE;
		goto out;
	}
	r.release = d.old->req->release;
	r.namespace_ = d.old->req->namespace_;
	r.rollback_run = req->rollback_run;
	r.has_ready_timeout_ms = req->has_ready_timeout_ms;
	r.ready_timeout_ms = req->ready_timeout_ms;
	p.req = &r;
	p.fleet_version = d.old->fleet_version;
	p.kube_node = d.old->kube_node;
	p.deploy_node = d.old->deploy_node;
	p.db_node = d.old->db_node;
	p.n_steps = n;
	p.steps = sp;
	if (d.secrets != NULL && d.secrets->has_saved_secrets) {
		p.has_saved_secrets = 1;
		p.saved_secrets = d.secrets->saved_secrets;
	}
	if (d.scale != NULL) {
		p.n_replicas = d.scale->n_replicas;
		p.replicas = d.scale->replicas;
	}
	len = ls__cutover_run_params__get_packed_size(&p);
	if ((buf = malloc(len ? len : 1)) == NULL) {
		rv = LS_ENOMEM;
		goto out;
	}
	ls__cutover_run_params__pack(&p, buf);
	if (run.state == COORD_RUN_HALTED) {
		/* One run at a time: the halted cutover ends here, for good. */
		ls_fmt(reason, sizeof(reason),
		       "given up: rolled back by "
		       "lockstep cutover rollback");
		if ((rv = coord_journal_run_end(c->db, run.id, COORD_RUN_FAILED,
		                                reason)) < 0) {
			ls_fmt(err, sizeof(err), "cannot write the journal");
			goto out;
		}
	}
	if ((rv = coord_cutover_begin(c, buf, len, id, sizeof(id), err,
	                              sizeof(err))) < 0)
		goto out;
	log_info("cutover %s: rolling back run %s", id, req->rollback_run);
	co_reply(cc, id, &p);
out:
	if (rv < 0) {
		log_warnx("cutover rollback: %s",
		          err[0] ? err : ls_strerror(rv));
		coord_control_fail(cc, rv, err[0] ? err : ls_strerror(rv));
	}
	free(buf);
	undo_clear(&d);
}
