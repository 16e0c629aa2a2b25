/*
 * `lockstep backup drill`: the backup read back, then restored on every
 * node that holds a part of it into scratch space (a scratch database,
 * scratch storages and directories), compared with the backup the way a
 * restore is verified, and cleaned up. Nothing live is touched, so it is
 * not journaled: a drill cut short is run again.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_catalog.h"
#include "coord_restore.h"
#include "ls_error.h"
#include "ls_log.h"
#include "ls_util.h"

#define DRILL_TIMEOUT_MS (12LL * 3600 * 1000)

struct drill {
	struct coord *c;
	struct control_ctx *cc;
	Ls__BackupDrillReq *req;
	char store[4096];
	uint8_t pk[32];
	struct rs_backup b;
	char nodes[64][64];
	size_t n;
};

static void drill_free(void *arg)
{
	struct drill *d = arg;

	if (d == NULL)
		return;
	rs_backup_clear(&d->b);
	if (d->req)
		ls__backup_drill_req__free_unpacked(d->req, NULL);
	free(d);
}

static int outcome_ok(const Ls__OpResult *r)
{
	size_t i;

	if (r == NULL || r->status < 0 ||
	    r->kind_case != LS__OP_RESULT__KIND_RESTORE)
		return 0;
	if (r->restore->has_mismatch_count && r->restore->mismatch_count > 0)
		return 0;
	for (i = 0; i < r->restore->n_components; i++)
		if (!r->restore->components[i]->ok)
			return 0;
	return 1;
}

static void drill_done(struct coord *c, struct coord_waiter *w)
{
	struct drill *d = w->arg;
	Ls__ControlResp resp = LS__CONTROL_RESP__INIT;
	Ls__BackupDrillResp dr = LS__BACKUP_DRILL_RESP__INIT;
	Ls__NodeDrill nd[64], *ndp[64];
	size_t i;
	int ok = 1;

	for (i = 0; i < d->n; i++) {
		const Ls__OpResult *r = w->results[i];

		ls__node_drill__init(&nd[i]);
		nd[i].node = d->nodes[i];
		nd[i].answered = r != NULL;
		if (r == NULL)
			nd[i].error = "no answer within the drill's deadline";
		else if (r->status < 0)
			nd[i].error = r->error ? r->error
			                       : (char *)ls_strerror(r->status);
		if (r != NULL && r->kind_case == LS__OP_RESULT__KIND_RESTORE)
			nd[i].result = r->restore;
		ok = ok && outcome_ok(r);
		ndp[i] = &nd[i];
	}
	dr.ok = ok;
	dr.n_nodes = d->n;
	dr.nodes = ndp;
	resp.kind_case = LS__CONTROL_RESP__KIND_BACKUP_DRILL;
	resp.backup_drill = &dr;
	log_info("drill of backup %s: %s", d->b.id, ok ? "passed" : "FAILED");
	/* The upgrade plan names a backup never drilled, or one that failed. */
	if (coord_catalog_drilled(c->db, d->b.id, ok, ls_now()) < 0)
		log_warnx("drill of backup %s: cannot record its outcome in "
		          "the catalog",
		          d->b.id);
	coord_control_reply(d->cc, &resp);
	coord_waiter_free(w);
	drill_free(d);
}

static void drill_locked(struct drill *d)
{
	struct coord *c = d->c;
	Ls__RestoreReq rq = LS__RESTORE_REQ__INIT;
	struct rs_plan p;
	struct coord_waiter *w = NULL;
	char err[1024];
	size_t i, k = 0;
	int rv;

	err[0] = '\0';
	rq.backup_id = d->req->backup_id;
	rq.n_map = d->req->n_map;
	rq.map = d->req->map;
	if ((rv = rs_plan_make(c, &d->b, &rq, 1, &p, err, sizeof(err))) < 0) {
		coord_control_fail(d->cc, rv, err);
		drill_free(d);
		return;
	}
	for (i = 0; i < p.n; i++)
		if (strcmp(p.steps[i].name, "drill") == 0 &&
		    d->n < sizeof(d->nodes) / sizeof(d->nodes[0]))
			ls_strlcpy(d->nodes[d->n++], p.steps[i].node, 64);
	w = coord_waiter_new(c, d->n,
	                     d->req->has_timeout_ms
	                         ? (int64_t)d->req->timeout_ms
	                         : DRILL_TIMEOUT_MS,
	                     drill_done, d);
	if (w == NULL) {
		coord_control_fail(d->cc, LS_ENOMEM, "out of memory");
		drill_free(d);
		goto out;
	}
	w->arg_free = drill_free;
	for (i = 0; i < p.n; i++) {
		struct rs_op_scratch *s = NULL;
		struct coord_node *n = coord_node_find(c, p.steps[i].node);
		Ls__Operation op;

		if (strcmp(p.steps[i].name, "drill") != 0 || k == d->n)
			continue;
		rv = rs_step_op(&d->b, p.steps, p.n, &p.steps[i], n, NULL, NULL,
		                &op, &s, err, sizeof(err));
		if (rv == 0)
			rv = coord_op_enqueue(c, n, &op, w, k);
		if (rv < 0)
			log_warnx("drill of %s on %s: %s", d->b.id, n->name,
			          err[0] ? err : ls_strerror(rv));
		rs_op_scratch_free(s);
		k++;
	}
	log_info("drill of backup %s on %zu node(s)", d->b.id, d->n);
	coord_waiter_arm(c, w);
out:
	rs_plan_free(&p);
}

static void *drill_thread(void *arg)
{
	struct drill *d = arg;
	struct coord *c = d->c;
	char err[1024];
	int rv;

	err[0] = '\0';
	rv = rs_backup_load(d->store, d->req->backup_id, d->pk, 1, &d->b, err,
	                    sizeof(err));
	pthread_mutex_lock(&c->mtx);
	if (rv < 0) {
		coord_control_fail(d->cc, rv, err);
		drill_free(d);
	} else {
		drill_locked(d);
	}
	pthread_mutex_unlock(&c->mtx);
	return NULL;
}

void coord_drill_request(struct coord *c, struct control_ctx *cc,
                         const Ls__BackupDrillReq *req)
{
	struct drill *d = calloc(1, sizeof(*d));
	size_t len = ls__backup_drill_req__get_packed_size(req);
	uint8_t *buf = malloc(len ? len : 1);
	pthread_t th;

	if (d == NULL || buf == NULL)
		goto fail;
	ls__backup_drill_req__pack(req, buf);
	d->c = c;
	d->cc = cc;
	d->req = ls__backup_drill_req__unpack(NULL, len, buf);
	memcpy(d->pk, c->sign_pk, sizeof(d->pk));
	if (d->req == NULL ||
	    coord_backup_store(c, d->store, sizeof(d->store)) < 0 ||
	    pthread_create(&th, NULL, drill_thread, d) != 0)
		goto fail;
	pthread_detach(th);
	free(buf);
	return;
fail:
	coord_control_fail(cc, LS_ENOMEM, "cannot start the drill");
	drill_free(d);
	free(buf);
}
