/*
 * The upgrade run: the plan's steps in the run journal, phase after
 * phase, the steps of a phase at once. A node step is journaled as
 * started (with its operation id) before it is sent and as done or failed
 * when answered; a restarted coordinator sends a started step again under
 * its first id, which the agent answers from its store, so no package is
 * installed twice. Two steps are the coordinator's own: the wait for
 * batched background migrations polls the database node (read-only, a new
 * id each time) until none is left, and the rollback-point backup runs a
 * fleet backup and waits for its end in the catalog. A failure halts the
 * run; maintenance mode the run turned on is turned off.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_backup.h"
#include "coord_catalog.h"
#include "coord_restore.h"
#include "coord_upgrade.h"
#include "coord_upgrade_int.h"
#include "ls_error.h"
#include "ls_log.h"
#include "ls_util.h"

#define STEP_TIMEOUT_MS (2LL * 3600 * 1000)
#define CHECK_TIMEOUT_MS (10LL * 60 * 1000)
#define BBM_TIMEOUT_MS (6LL * 3600 * 1000)
#define BBM_POLL_MS 2000

struct ug_run_step {
	enum coord_step_state state;
	uint64_t op_id;
	/* Started before a restart and sent again under its first id: its
	 * node may still be running it and cannot answer until it is done.
	 * Asked again at again_ms (0: not waiting), until until_ms. */
	int resent;
	int64_t again_ms, until_ms;
};

struct coord_upgrade {
	char run[COORD_RUN_ID_MAX];
	Ls__UpgradeRunParams *p;
	struct ug_run_step *st;
	size_t n;
	size_t inflight;
	int halt;
	char reason[1024];
	/* The coordinator's own steps in progress (index, or -1). */
	long bbm, backup;
	int64_t bbm_deadline_ms, bbm_next_ms;
	int bbm_polling;
	char backup_id[128];
	int maint_on; /* the run turned maintenance mode on */
};

struct slot {
	struct coord_upgrade *u;
	size_t idx;
	int poll;   /* a background-migrations poll */
	int import; /* a secrets copy's second half, on the secondary */
};

static void advance(struct coord *c, struct coord_upgrade *u);

static void ug_free(struct coord_upgrade *u)
{
	if (u == NULL)
		return;
	if (u->p)
		ls__upgrade_run_params__free_unpacked(u->p, NULL);
	free(u->st);
	free(u);
}

static const Ls__UpgradeStepDef *def(const struct coord_upgrade *u, size_t i)
{
	return u->p->steps[i];
}

static void halt(struct coord_upgrade *u, size_t i, const char *why)
{
	const Ls__UpgradeStepDef *d = def(u, i);

	if (u->halt)
		return;
	u->halt = 1;
	snprintf(u->reason, sizeof(u->reason), "step %zu (%s on %s) failed: %s",
	         i + 1, d->name, d->node[0] ? d->node : "the coordinator", why);
}

static void step_end(struct coord *c, struct coord_upgrade *u, size_t i,
                     const char *why, const void *blob, size_t len)
{
	const Ls__UpgradeStepDef *d = def(u, i);
	int rv;

	if (why != NULL && why[0] != '\0') {
		rv = coord_journal_step_failed(c->db, u->run, (uint32_t)(i + 1),
		                               why, blob, len);
		u->st[i].state = COORD_STEP_FAILED;
		halt(u, i, why);
		log_warnx("upgrade %s: step %zu (%s on %s) failed: %s", u->run,
		          i + 1, d->name, d->node, why);
	} else {
		rv = coord_journal_step_done(c->db, u->run, (uint32_t)(i + 1),
		                             blob, len);
		u->st[i].state = COORD_STEP_DONE;
		if (d->kind == UG_MAINT_ON)
			u->maint_on = 1;
		else if (d->kind == UG_MAINT_OFF)
			u->maint_on = 0;
		log_info("upgrade %s: step %zu (%s on %s) done", u->run, i + 1,
		         d->name, d->node[0] ? d->node : "coordinator");
	}
	if (rv < 0)
		halt(u, i, "cannot write the run journal");
}

static void send_secrets(struct coord *c, struct coord_upgrade *u, size_t i,
                         uint64_t id, const ProtobufCBinaryData *sealed);

static void step_answered(struct coord *c, struct coord_waiter *w)
{
	struct slot *sl = w->arg;
	struct coord_upgrade *u = sl->u;
	size_t i = sl->idx;
	const Ls__UpgradeStepDef *d = def(u, i);
	const Ls__OpResult *res = w->results[0];
	char why[1200];
	uint8_t *blob = NULL;
	size_t len = 0;

	u->inflight--;
	if (sl->poll) {
		/* A background-migrations poll: done when none is left. */
		u->bbm_polling = 0;
		ugo_judge(d, res, why, sizeof(why));
		if (why[0] == '\0' &&
		    res->kind_case != LS__OP_RESULT__KIND_BBM_STATUS)
			snprintf(why, sizeof(why), "no migrations list");
		if (why[0] != '\0') {
			step_end(c, u, i, why, NULL, 0);
			u->bbm = -1;
		} else if (res->bbm_status->n_unfinished == 0) {
			step_end(c, u, i, "", NULL, 0);
			u->bbm = -1;
		} else if (ls_mono_ms() >= u->bbm_deadline_ms) {
			char list[900];
			ugo_bbm_list(res->bbm_status, list, sizeof(list));
			snprintf(why, sizeof(why),
			         "%zu batched background migration(s) still "
			         "unfinished after the --bbm-timeout: %s",
			         res->bbm_status->n_unfinished, list);
			step_end(c, u, i, why, NULL, 0);
			u->bbm = -1;
		} else {
			char list[600];
			ugo_bbm_list(res->bbm_status, list, sizeof(list));
			log_info("upgrade %s: waiting for %zu batched "
			         "background migration(s): %s",
			         u->run, res->bbm_status->n_unfinished, list);
			u->bbm_next_ms = ls_mono_ms() + BBM_POLL_MS;
			u->inflight++; /* the step stays in flight */
		}
	} else if (d->kind == UG_SECRETS_COPY && !sl->import) {
		/* The primary sealed its file: on to the secondary. */
		ugo_judge(d, res, why, sizeof(why));
		if (why[0] == '\0' &&
		    res->kind_case != LS__OP_RESULT__KIND_SECRETS_EXPORT)
			snprintf(why, sizeof(why), "%s sent no sealed secrets",
			         d->from_node);
		if (why[0] != '\0') {
			char at[1300];
			snprintf(at, sizeof(at), "on the primary %s: %s",
			         d->from_node, why);
			step_end(c, u, i, at, NULL, 0);
		} else {
			send_secrets(c, u, i, ++c->next_op_id,
			             &res->secrets_export->sealed);
		}
	} else if (u->st[i].resent && res != NULL && res->status == LS_EIO &&
	           res->kind_case == LS__OP_RESULT__KIND__NOT_SET &&
	           (u->st[i].until_ms == 0 ||
	            ls_mono_ms() < u->st[i].until_ms)) {
		/* No word from a node busy with the step (the coordinator's
		 * own failure, not the agent's): the same id again later is
		 * answered from the agent's store, never run twice. */
		if (u->st[i].until_ms == 0)
			u->st[i].until_ms = ls_mono_ms() + STEP_TIMEOUT_MS;
		u->st[i].again_ms = ls_mono_ms() + BBM_POLL_MS;
		u->inflight++; /* the step stays in flight */
		log_info("upgrade %s: step %zu (%s on %s): %s; asking again",
		         u->run, i + 1, d->name, d->node,
		         res->error ? res->error : ls_strerror(res->status));
	} else {
		ugo_judge(d, res, why, sizeof(why));
		blob = ugo_pack_result(res, &len);
		step_end(c, u, i, why, blob, len);
		free(blob);
	}
	free(sl);
	w->arg = NULL;
	coord_waiter_free(w);
	advance(c, u);
}

/* Sends step i (or a poll of it) to its node. */
static int send_step(struct coord *c, struct coord_upgrade *u, size_t i,
                     uint64_t id, int poll)
{
	const Ls__UpgradeStepDef *d = def(u, i);
	struct coord_node *n = coord_node_find(c, d->node);
	char *roles[COORD_MAX_ROLES];
	size_t k;
	Ls__Operation op;
	struct ugo_room room;
	struct coord_waiter *w;
	struct slot *sl;
	int64_t timeout =
	    d->kind == UG_CHECK || poll ? CHECK_TIMEOUT_MS : STEP_TIMEOUT_MS;

	if (n == NULL || !n->enrolled || n->removed) {
		halt(u, i, "the node is no longer in the fleet");
		return LS_ESTATE;
	}
	if (d->kind == UG_SECRETS_COPY && !poll) {
		/* From the export: sent again under its first id, the primary
		 * answers from its store, and the import only writes again. */
		send_secrets(c, u, i, id, NULL);
		return 0;
	}
	if ((d->kind == UG_ACTION && d->action == NULL) ||
	    d->kind > UG_REGISTRY_MIGRATE) {
		halt(u, i, "the journaled step has no action Lockstep knows");
		return LS_EPROTO;
	}
	for (k = 0; k < n->nroles && k < COORD_MAX_ROLES; k++)
		roles[k] = (char *)n->roles[k];
	ugo_step_op(d, n, roles, &op, &room);
	if ((sl = calloc(1, sizeof(*sl))) == NULL ||
	    (w = coord_waiter_new(c, 1, timeout, step_answered, sl)) == NULL) {
		free(sl);
		halt(u, i, "out of memory");
		return LS_ENOMEM;
	}
	sl->u = u;
	sl->idx = i;
	sl->poll = poll;
	w->arg_free = free;
	u->inflight++;
	if (coord_op_enqueue_id(c, n, &op, w, 0, id) < 0) {
		halt(u, i, "out of memory");
		w->pending = 0;
		coord_waiter_arm(c, w);
	}
	return 0;
}

/*
 * A Geo secrets copy: SecretsExport on the primary, sealed to the
 * secondary's key (sealed NULL), then SecretsImport of what it sealed on
 * the secondary. The coordinator holds only the sealed bytes. On a resume
 * the export goes again under its journaled id (the primary answers from
 * its store) and the import, which only writes the same file again, under
 * a new one.
 */
static void send_secrets(struct coord *c, struct coord_upgrade *u, size_t i,
                         uint64_t id, const ProtobufCBinaryData *sealed)
{
	const Ls__UpgradeStepDef *d = def(u, i);
	const char *to = sealed ? d->node : d->from_node;
	struct coord_node *n = coord_node_find(c, to ? to : "");
	struct coord_node *dst = coord_node_find(c, d->node);
	Ls__Operation op = LS__OPERATION__INIT;
	Ls__SecretsExport ex = LS__SECRETS_EXPORT__INIT;
	Ls__SecretsImport im = LS__SECRETS_IMPORT__INIT;
	struct coord_waiter *w;
	struct slot *sl;

	if (n == NULL || !n->enrolled || n->removed || dst == NULL ||
	    !dst->enrolled || dst->removed) {
		step_end(c, u, i,
		         to == NULL || to[0] == '\0'
		             ? "the journaled step names no primary node"
		             : "a node of the copy is no longer in the fleet",
		         NULL, 0);
		return;
	}
	if (sealed == NULL) {
		ex.to_sign_pk.data = dst->sign_pk;
		ex.to_sign_pk.len = sizeof(dst->sign_pk);
		op.kind_case = LS__OPERATION__KIND_SECRETS_EXPORT;
		op.secrets_export = &ex;
	} else {
		im.sealed = *sealed;
		im.from_node = d->from_node;
		op.kind_case = LS__OPERATION__KIND_SECRETS_IMPORT;
		op.secrets_import = &im;
	}
	if ((sl = calloc(1, sizeof(*sl))) == NULL ||
	    (w = coord_waiter_new(c, 1, CHECK_TIMEOUT_MS, step_answered, sl)) ==
	        NULL) {
		free(sl);
		step_end(c, u, i, "out of memory", NULL, 0);
		return;
	}
	sl->u = u;
	sl->idx = i;
	sl->import = sealed != NULL;
	w->arg_free = free;
	u->inflight++;
	if (coord_op_enqueue_id(c, n, &op, w, 0, id) < 0) {
		halt(u, i, "out of memory");
		w->pending = 0;
		coord_waiter_arm(c, w);
	}
}

static void backup_step(struct coord *c, struct coord_upgrade *u, size_t i)
{
	Ls__BackupCreateReq br = LS__BACKUP_CREATE_REQ__INIT;
	const Ls__UpgradeReq *req = u->p->req;
	Ls__BackupInfo *bi = NULL;
	char err[1024];
	int rv;

	err[0] = '\0';
	if (def(u, i)->stop == 1 && req->backup_id != NULL &&
	    req->backup_id[0] != '\0') {
		/* The operator's own backup, taken at this exact version. */
		rv = coord_backup_info(c, req->backup_id, &bi);
		if (rv < 0)
			snprintf(err, sizeof(err),
			         "--backup-id %s: no such "
			         "backup",
			         req->backup_id);
		else if (strcmp(bi->state, "complete") != 0)
			snprintf(err, sizeof(err),
			         "--backup-id %s is %s, not "
			         "complete",
			         bi->id, bi->state);
		else if (bi->gitlab_version == NULL ||
		         strncmp(bi->gitlab_version, u->p->from,
		                 strlen(u->p->from)) != 0)
			snprintf(err, sizeof(err),
			         "--backup-id %s was taken at GitLab %s, not "
			         "at %s: a rollback restores only onto its "
			         "own version",
			         bi->id,
			         bi->gitlab_version ? bi->gitlab_version
			                            : "(unknown)",
			         u->p->from);
		if (rv == 1)
			coord_catalog_info_free(bi);
		else if (rv == 0)
			ls__backup_info__free_unpacked(bi, NULL);
		step_end(c, u, i, err, req->backup_id, strlen(req->backup_id));
		return;
	}
	if ((rv = coord_backup_start(c, &br, u->backup_id, sizeof(u->backup_id),
	                             err, sizeof(err))) < 0) {
		step_end(c, u, i, err[0] ? err : ls_strerror(rv), NULL, 0);
		return;
	}
	log_info("upgrade %s: rollback point: backup %s", u->run, u->backup_id);
	u->backup = (long)i;
	u->inflight++;
}

static void start_step(struct coord *c, struct coord_upgrade *u, size_t i)
{
	const Ls__UpgradeStepDef *d = def(u, i);
	uint64_t id = u->st[i].state == COORD_STEP_STARTED && u->st[i].op_id
	                  ? u->st[i].op_id
	                  : ++c->next_op_id;

	if (coord_journal_step_start(c->db, u->run, (uint32_t)(i + 1), id) <
	    0) {
		halt(u, i, "cannot write the run journal");
		return;
	}
	u->st[i].state = COORD_STEP_STARTED;
	u->st[i].op_id = id;
	log_info("upgrade %s: step %zu (%s on %s) started", u->run, i + 1,
	         d->name, d->node[0] ? d->node : "coordinator");
	switch ((enum ug_step_kind)d->kind) {
	case UG_BACKUP:
		backup_step(c, u, i);
		break;
	case UG_BBM_WAIT:
		u->bbm = (long)i;
		u->bbm_deadline_ms =
		    ls_mono_ms() + (u->p->req->has_bbm_timeout_ms
		                        ? (int64_t)u->p->req->bbm_timeout_ms
		                        : BBM_TIMEOUT_MS);
		u->bbm_polling = 1;
		send_step(c, u, i, id, 1);
		break;
	default:
		send_step(c, u, i, id, 0);
		break;
	}
}

/* Maintenance mode the run turned on goes off when it halts. */
static void lift_maintenance(struct coord *c, struct coord_upgrade *u)
{
	Ls__Operation op = LS__OPERATION__INIT;
	Ls__Maintenance m = LS__MAINTENANCE__INIT;
	size_t i;

	if (!u->maint_on)
		return;
	for (i = 0; i < u->n; i++) {
		struct coord_node *n;
		if (def(u, i)->kind != UG_MAINT_ON ||
		    (n = coord_node_find(c, def(u, i)->node)) == NULL)
			continue;
		m.on = 0;
		op.kind_case = LS__OPERATION__KIND_MAINTENANCE;
		op.maintenance = &m;
		if (coord_op_enqueue(c, n, &op, NULL, 0) == 0)
			log_info("upgrade %s: maintenance mode off on %s (the "
			         "run halted)",
			         u->run, n->name);
		break;
	}
	u->maint_on = 0;
}

static void finish(struct coord *c, struct coord_upgrade *u)
{
	if (u->halt) {
		char reason[1400];
		lift_maintenance(c, u);
		snprintf(reason, sizeof(reason),
		         "%s. The nodes are left as this step found them; "
		         "`lockstep run show %s` has each step, `lockstep run "
		         "resume %s` retries it, `lockstep rollback %s` goes "
		         "back to the last rollback point",
		         u->reason, u->run, u->run, u->run);
		coord_journal_run_end(c->db, u->run, COORD_RUN_HALTED, reason);
		log_warnx("upgrade %s halted: %s", u->run, u->reason);
	} else {
		coord_journal_run_end(c->db, u->run, COORD_RUN_DONE, "");
		log_info("upgrade %s: done; the fleet runs %s", u->run,
		         u->p->req->to);
	}
	if (c->upgrade == u)
		c->upgrade = NULL;
	ug_free(u);
}

static void advance(struct coord *c, struct coord_upgrade *u)
{
	uint32_t phase;
	size_t i;

	for (;;) {
		if (u->inflight > 0)
			return;
		for (i = 0; i < u->n && u->st[i].state == COORD_STEP_DONE; i++)
			;
		if (u->halt || i == u->n) {
			finish(c, u);
			return;
		}
		phase = def(u, i)->phase;
		for (; i < u->n && !u->halt; i++)
			if (def(u, i)->phase == phase &&
			    u->st[i].state != COORD_STEP_DONE)
				start_step(c, u, i);
	}
}

void coord_upgrade_sweep(struct coord *c, int64_t now_ms)
{
	struct coord_upgrade *u = c->upgrade;
	Ls__BackupInfo *bi = NULL;
	size_t i;
	int rv;

	(void)now_ms;
	if (u == NULL)
		return;
	for (i = 0; i < u->n && !u->halt; i++) {
		if (u->st[i].again_ms == 0 || ls_mono_ms() < u->st[i].again_ms)
			continue;
		u->st[i].again_ms = 0;
		u->inflight--; /* send_step counts it again */
		send_step(c, u, i, u->st[i].op_id, 0);
	}
	if (u->halt && u->inflight == 0) {
		advance(c, u);
		return;
	}
	if (u->bbm >= 0 && !u->bbm_polling && ls_mono_ms() >= u->bbm_next_ms) {
		i = (size_t)u->bbm;
		u->bbm_polling = 1;
		u->inflight--; /* send_step counts it again */
		send_step(c, u, i, ++c->next_op_id, 1);
		if (u->halt && u->inflight == 0)
			advance(c, u);
		return;
	}
	if (u->backup < 0 ||
	    (c->backup != NULL && strcmp(c->backup->id, u->backup_id) == 0))
		return;
	/* The backup ended: the catalog has its state. */
	i = (size_t)u->backup;
	u->backup = -1;
	u->inflight--;
	rv = coord_backup_info(c, u->backup_id, &bi);
	if (rv < 0) {
		step_end(c, u, i, "the backup left no catalog entry", NULL, 0);
	} else {
		char why[1024] = "";
		if (strcmp(bi->state, "complete") != 0)
			snprintf(why, sizeof(why), "backup %s %s: %s",
			         u->backup_id, bi->state,
			         bi->reason ? bi->reason : "no reason given");
		step_end(c, u, i, why, u->backup_id, strlen(u->backup_id));
		if (rv == 1)
			coord_catalog_info_free(bi);
		else
			ls__backup_info__free_unpacked(bi, NULL);
	}
	advance(c, u);
}

void coord_upgrade_details(struct coord *c, const char *run,
                           const struct coord_step *steps, size_t n,
                           char **detail)
{
	Ls__UpgradeRunParams *p = NULL;
	uint8_t *buf = NULL, *res;
	size_t len = 0, rlen, i;

	if (coord_journal_params(c->db, run, &buf, &len) < 0 ||
	    (p = ls__upgrade_run_params__unpack(NULL, len, buf)) == NULL)
		goto out;
	for (i = 0; i < n && i < p->n_steps; i++) {
		if (p->steps[i]->kind != UG_REGISTRY_MIGRATE ||
		    steps[i].state == COORD_STEP_PENDING ||
		    coord_journal_result(c->db, run, steps[i].seq, &res,
		                         &rlen) < 0)
			continue;
		/* Journaled as text by ugo_pack_result. */
		if (rlen > 0 && rlen < UGO_DETAIL_MAX &&
		    (detail[i] = malloc(rlen + 1)) != NULL) {
			memcpy(detail[i], res, rlen);
			detail[i][rlen] = '\0';
		}
		free(res);
	}
out:
	if (p)
		ls__upgrade_run_params__free_unpacked(p, NULL);
	free(buf);
}

int coord_upgrade_active(const struct coord *c)
{
	return c->upgrade != NULL;
}

void coord_upgrade_drop(struct coord *c)
{
	ug_free(c->upgrade);
	c->upgrade = NULL;
}

/* Takes p; the steps as journaled (states and op ids from steps). */
static int run_start(struct coord *c, const char *run, Ls__UpgradeRunParams *p,
                     const struct coord_step *steps, size_t n)
{
	struct coord_upgrade *u = calloc(1, sizeof(*u));
	size_t i;

	if (u == NULL || (u->st = calloc(n ? n : 1, sizeof(*u->st))) == NULL) {
		free(u);
		ls__upgrade_run_params__free_unpacked(p, NULL);
		return LS_ENOMEM;
	}
	ls_strlcpy(u->run, run, sizeof(u->run));
	u->p = p;
	u->n = n;
	u->bbm = u->backup = -1;
	for (i = 0; steps != NULL && i < n; i++) {
		u->st[i].state = steps[i].state;
		u->st[i].op_id = steps[i].op_id;
		u->st[i].resent = steps[i].state == COORD_STEP_STARTED;
		/* Maintenance mode turned on and not yet off. */
		if (p->steps[i]->kind == UG_MAINT_ON &&
		    steps[i].state == COORD_STEP_DONE)
			u->maint_on = 1;
		if (p->steps[i]->kind == UG_MAINT_OFF &&
		    steps[i].state == COORD_STEP_DONE)
			u->maint_on = 0;
	}
	c->upgrade = u;
	advance(c, u);
	return 0;
}

int coord_upgrade_begin(struct coord *c, const uint8_t *params, size_t len,
                        char *run, size_t runlen, char *err, size_t errlen)
{
	Ls__UpgradeRunParams *p =
	    ls__upgrade_run_params__unpack(NULL, len, params);
	struct coord_step_def *defs = NULL;
	size_t i;
	int rv;

	if (p == NULL)
		return LS_ENOMEM;
	if (c->backup != NULL || coord_restore_active(c) || c->upgrade ||
	    c->cutover) {
		snprintf(err, errlen, "a %s is running",
		         c->backup    ? "backup"
		         : c->upgrade ? "upgrade"
		         : c->cutover ? "cutover"
		                      : "restore");
		rv = LS_EBUSY;
		goto fail;
	}
	if ((defs = calloc(p->n_steps + 1, sizeof(*defs))) == NULL) {
		rv = LS_ENOMEM;
		goto fail;
	}
	for (i = 0; i < p->n_steps; i++) {
		defs[i].node = p->steps[i]->node;
		defs[i].name = p->steps[i]->name;
	}
	rv = coord_journal_create(c->db, "upgrade", params, len, defs,
	                          p->n_steps, run, runlen);
	free(defs);
	if (rv < 0) {
		snprintf(err, errlen, "%s",
		         rv == LS_EBUSY ? "another run is running or halted: "
		                          "finish it first (lockstep run list)"
		                        : "cannot write the run journal");
		goto fail;
	}
	log_info("upgrade %s: %s -> %s, %zu stop(s), %zu steps", run, p->from,
	         p->req->to, p->n_stops, p->n_steps);
	return run_start(c, run, p, NULL, p->n_steps);
fail:
	ls__upgrade_run_params__free_unpacked(p, NULL);
	return rv;
}

void coord_upgrade_resume(struct coord *c, struct control_ctx *cc,
                          const struct coord_run *run, struct coord_step *steps,
                          size_t n)
{
	Ls__UpgradeRunParams *p;
	int rv;

	p = (Ls__UpgradeRunParams *)coord_run_resume_params(
	    c, cc, run, steps, n, &ls__upgrade_run_params__descriptor);
	if (p == NULL)
		return;
	log_info("upgrade %s: resumed (%u of %zu steps done)", run->id,
	         run->ndone, n);
	coord_upgrade_reply(cc, p, run->id, NULL, 0, NULL, 0);
	rv = run_start(c, run->id, p, steps, n);
	if (rv < 0)
		log_warnx("upgrade %s: cannot resume: %s", run->id,
		          ls_strerror(rv));
}
