/*
 * lockstep rollback RUN_ID: an upgrade run goes back to the rollback point
 * of one of its stops. The journal says which nodes the run touched from
 * that stop on and which backup the stop took before touching anything;
 * the rollback is then a restore of that backup (coord_restore.c) that
 * first takes the touched nodes' packages back to the backup's version
 * (gitlab-facts §7, Downgrade). The upgrade run ends as the rollback run
 * is journaled: only one long operation is open at a time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_restore.h"
#include "coord_upgrade.h"
#include "ls_error.h"
#include "ls_util.h"
#include "ls_version.h"

#define MAX_STOPS 64

struct rollback {
	char backup[MAX_STOPS + 1]
	           [128]; /* per stop, from 1: its rollback point */
	uint32_t stop;
	const char *version; /* the fleet's version before that stop */
	char **touched;      /* room for every step's node and every node */
	size_t ntouched;
};

static void add_touched(struct rollback *rb, const char *node)
{
	size_t i;

	for (i = 0; i < rb->ntouched; i++)
		if (strcmp(rb->touched[i], node) == 0)
			return;
	rb->touched[rb->ntouched++] = (char *)node;
}

/* The backup id each stop's backup step journaled when it was done. */
static int rollback_points(struct coord *c, const char *run,
                           const Ls__UpgradeRunParams *p,
                           const struct coord_step *steps, struct rollback *rb)
{
	size_t i;

	for (i = 0; i < p->n_steps; i++) {
		const Ls__UpgradeStepDef *d = p->steps[i];
		uint8_t *buf = NULL;
		size_t len = 0;
		int rv;

		if (d->kind != UG_BACKUP || d->stop == 0 ||
		    d->stop > MAX_STOPS || steps[i].state != COORD_STEP_DONE)
			continue;
		rv = coord_journal_result(c->db, run, steps[i].seq, &buf, &len);
		if (rv == 0 && len > 0 && len < sizeof(rb->backup[0]) &&
		    memchr(buf, '\0', len) == NULL) {
			memcpy(rb->backup[d->stop], buf, len);
			rb->backup[d->stop][len] = '\0';
		}
		free(buf);
		if (rv < 0 && rv != LS_ENOENT)
			return rv;
	}
	return 0;
}

/* Nodes the run changed from stop on: an install started there. Nodes
 * that report a newer version than the rollback point's go back too. */
static void touched_nodes(struct coord *c, const Ls__UpgradeRunParams *p,
                          const struct coord_step *steps, struct rollback *rb)
{
	struct ls_version want, have;
	size_t i;

	for (i = 0; i < p->n_steps; i++) {
		const Ls__UpgradeStepDef *d = p->steps[i];
		if (d->stop >= rb->stop && d->kind == UG_ACTION &&
		    d->action != NULL &&
		    d->action->kind == LS__UPGRADE_ACTION_KIND__UA_INSTALL &&
		    steps[i].state != COORD_STEP_PENDING)
			add_touched(rb, d->node);
	}
	if (ls_version_parse(rb->version, strlen(rb->version), &want) < 0)
		return;
	for (i = 0; i < c->nnodes; i++) {
		const struct coord_node *n = c->nodes[i];
		const char *v = n->facts ? n->facts->gitlab_version : NULL;
		if (!n->enrolled || n->removed || v == NULL ||
		    !coord_node_runs_gitlab(n))
			continue;
		if (ls_version_parse(v, strlen(v), &have) == 0 &&
		    ls_version_cmp(&have, &want) > 0)
			add_touched(rb, n->name);
	}
}

static void list_points(const struct rollback *rb, size_t nstops, char *out,
                        size_t len)
{
	size_t s, off = 0;

	out[0] = '\0';
	for (s = 1; s <= nstops && s <= MAX_STOPS && off < len; s++)
		if (rb->backup[s][0] != '\0')
			off += (size_t)snprintf(out + off, len - off, "%s%zu",
			                        off ? ", " : "", s);
	if (off == 0)
		snprintf(out, len, "none");
}

void coord_rollback_request(struct coord *c, struct control_ctx *cc,
                            const Ls__RollbackReq *req)
{
	Ls__RestoreReq rr = LS__RESTORE_REQ__INIT;
	Ls__UpgradeRunParams *p = NULL;
	struct coord_run run;
	struct coord_step *steps = NULL;
	struct rollback *rb = calloc(1, sizeof(*rb));
	uint8_t *buf = NULL;
	size_t n = 0, len = 0, s;
	char err[1024], points[256];
	int rv;

	if (rb == NULL) {
		coord_control_fail(cc, LS_ENOMEM, "out of memory");
		return;
	}
	if ((rv = coord_journal_get(c->db, req->run_id, &run, &steps, &n)) <
	    0) {
		snprintf(err, sizeof(err), "no run with id '%.100s'",
		         req->run_id);
		goto fail;
	}
	if (strcmp(run.kind, "upgrade") != 0) {
		snprintf(err, sizeof(err),
		         "run %s is a %s: lockstep rollback takes an upgrade "
		         "run",
		         run.id, run.kind);
		rv = LS_EINVAL;
		goto fail;
	}
	if (run.state == COORD_RUN_RUNNING) {
		snprintf(err, sizeof(err),
		         "upgrade %s is running: a rollback starts once it "
		         "has halted or ended",
		         run.id);
		rv = LS_EBUSY;
		goto fail;
	}
	if ((rv = coord_journal_params(c->db, run.id, &buf, &len)) < 0 ||
	    (p = ls__upgrade_run_params__unpack(NULL, len, buf)) == NULL ||
	    p->n_steps != n || p->n_stops == 0) {
		snprintf(err, sizeof(err),
		         "upgrade %s: its parameters cannot be read from the "
		         "journal",
		         run.id);
		rv = rv < 0 ? rv : LS_EDB;
		goto fail;
	}
	if ((rv = rollback_points(c, run.id, p, steps, rb)) < 0) {
		snprintf(err, sizeof(err),
		         "upgrade %s: cannot read its journal", run.id);
		goto fail;
	}
	list_points(rb, p->n_stops, points, sizeof(points));
	if (req->has_to_stop) {
		rb->stop = req->to_stop;
	} else {
		for (s = p->n_stops < MAX_STOPS ? p->n_stops : MAX_STOPS; s > 0;
		     s--)
			if (rb->backup[s][0] != '\0')
				break;
		rb->stop = (uint32_t)s;
	}
	if (rb->stop == 0 || rb->stop > p->n_stops || rb->stop > MAX_STOPS ||
	    rb->backup[rb->stop][0] == '\0') {
		if (req->has_to_stop)
			snprintf(err, sizeof(err),
			         "--to-stop %u: upgrade %s has no rollback "
			         "point there (stops with one: %s)",
			         req->to_stop, run.id, points);
		else
			snprintf(err, sizeof(err),
			         "upgrade %s took no rollback point: it "
			         "halted before its first backup, so nothing "
			         "was upgraded by it",
			         run.id);
		rv = LS_ENOENT;
		goto fail;
	}
	rb->version = rb->stop == 1 ? p->from : p->stops[rb->stop - 2]->version;
	if ((rb->touched = calloc(p->n_steps + c->nnodes + 1,
	                          sizeof(*rb->touched))) == NULL) {
		snprintf(err, sizeof(err), "out of memory");
		rv = LS_ENOMEM;
		goto fail;
	}
	touched_nodes(c, p, steps, rb);
	rr.backup_id = rb->backup[rb->stop];
	rr.has_with_secrets = req->has_with_secrets;
	rr.with_secrets = req->with_secrets;
	rr.has_backup_key = req->has_backup_key;
	rr.backup_key = req->backup_key;
	rr.has_dry_run = req->has_dry_run;
	rr.dry_run = req->dry_run;
	rr.n_downgrade = rb->ntouched;
	rr.downgrade = rb->touched;
	rr.rollback_of = run.id;
	rr.has_rollback_stop = 1;
	rr.rollback_stop = rb->stop;
	coord_restore_request(c, cc, &rr);
	goto out;
fail:
	coord_control_fail(cc, rv, err);
out:
	if (p)
		ls__upgrade_run_params__free_unpacked(p, NULL);
	free(buf);
	free(steps);
	free(rb->touched);
	free(rb);
}

int coord_rollback_supersede(struct coord *c, const Ls__RestoreReq *req,
                             struct coord_run *saved, char *err, size_t errlen)
{
	char reason[512];
	int rv;

	if ((rv = coord_journal_get(c->db, req->rollback_of, saved, NULL,
	                            NULL)) < 0) {
		snprintf(err, errlen, "no run with id '%.100s'",
		         req->rollback_of);
		return rv;
	}
	if (saved->state == COORD_RUN_RUNNING || coord_upgrade_active(c)) {
		snprintf(err, errlen,
		         "upgrade %s is running: a rollback starts once it "
		         "has halted or ended",
		         saved->id);
		return LS_EBUSY;
	}
	if (saved->state != COORD_RUN_HALTED)
		return 0;
	snprintf(reason, sizeof(reason),
	         "rolled back to the rollback point of stop %u (backup %s): "
	         "see the rollback run that follows (lockstep run list)",
	         req->rollback_stop, req->backup_id);
	if ((rv = coord_journal_run_end(c->db, saved->id, COORD_RUN_FAILED,
	                                reason)) < 0)
		snprintf(err, errlen, "cannot write the run journal");
	return rv;
}

void coord_rollback_unsupersede(struct coord *c, const struct coord_run *saved)
{
	if (saved->state == COORD_RUN_HALTED)
		(void)coord_journal_run_end(c->db, saved->id, COORD_RUN_HALTED,
		                            saved->reason);
}
