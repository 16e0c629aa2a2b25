/*
 * The cutover's steps after its prerequisites (gitlab-facts §8): files to
 * object storage, the fleet backup, the chart's Secrets, the restore in the
 * toolbox pod, the pods back, the chart side checked against the backup.
 * A step that changes the chart is sent under the operation id journaled
 * when it started, so a resumed run gets the agent's stored answer (the
 * replica counts, the previous Secrets as they were) instead of running it
 * again. Steps of several operations (migrate, secrets, backup) keep where
 * they are in struct coord_cutover and start over from their beginning on
 * resume: each of their parts may safely run twice.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "coord_backup.h"
#include "coord_catalog.h"
#include "coord_cutover_int.h"
#include "coord_restore.h"
#include "ls_error.h"
#include "ls_log.h"
#include "ls_util.h"

#define QUERY_TIMEOUT_MS (10LL * 60 * 1000)
#define LONG_TIMEOUT_MS (24LL * 3600 * 1000)
#define MIGRATE_TIMEOUT_MS (60LL * 60 * 1000)
#define READY_TIMEOUT_MS (15LL * 60 * 1000)
#define POLL_MS 2000
#define UPLOAD_SAMPLE 20

/* GitLab's Rake task moving each component to object storage; the
 * component names are also GitLab's backup SKIP= names. */
static const struct {
	const char *component, *task;
} rake_tasks[] = {
    {"uploads", "gitlab:uploads:migrate:all"},
    {"artifacts", "gitlab:artifacts:migrate"},
    {"lfs", "gitlab:lfs:migrate"},
    {"packages", "gitlab:packages:migrate"},
    {"terraform_state", "gitlab:terraform_states:migrate"},
    {"pages", "gitlab:pages:deployments:migrate"},
    {"ci_secure_files", "gitlab:ci_secure_files:migrate"},
};

/* The tables the verify step counts on both sides. */
static const char *const verify_tables[] = {
    "public.projects", "public.namespaces",     "public.users",
    "public.issues",   "public.merge_requests", "public.uploads",
};

static const char *rake_task(const char *component)
{
	size_t i;

	for (i = 0; i < sizeof(rake_tasks) / sizeof(rake_tasks[0]); i++)
		if (strcmp(rake_tasks[i].component, component) == 0)
			return rake_tasks[i].task;
	return NULL;
}

static Ls__KubeTarget target(const struct coord_cutover *u)
{
	Ls__KubeTarget t = LS__KUBE_TARGET__INIT;

	t.release = u->p->req->release;
	t.namespace_ = u->p->req->namespace_;
	return t;
}

/* An answer's failure in words, or "" when it succeeded with kind. */
static void failed(const Ls__OpResult *res, int kind, char *why, size_t len)
{
	why[0] = '\0';
	if (res == NULL)
		ls_fmt(why, len, "no answer in time");
	else if (res->status < 0)
		ls_fmt(why, len, "%s",
		       res->error && res->error[0] ? res->error
		                                   : ls_strerror(res->status));
	else if ((int)res->kind_case != kind)
		ls_fmt(why, len,
		       "the node answered with another kind of "
		       "result");
}

static void end_detail(struct coord *c, struct coord_cutover *u, size_t i,
                       const char *why, const char *detail)
{
	Ls__CutoverStepResult r = LS__CUTOVER_STEP_RESULT__INIT;

	r.detail = (char *)detail;
	co_step_end(c, u, i, why, &r);
}

/* ---- files to object storage */

static void migrate_answered(struct coord *c, struct coord_cutover *u, size_t i,
                             const Ls__OpResult *res);

static void send_counts(struct coord *c, struct coord_cutover *u, size_t i)
{
	Ls__Operation op = LS__OPERATION__INIT;
	Ls__StorageCounts sc = LS__STORAGE_COUNTS__INIT;

	op.kind_case = LS__OPERATION__KIND_STORAGE_COUNTS;
	op.storage_counts = &sc;
	co_send(c, u, i, u->p->db_node, &op, ++c->next_op_id, QUERY_TIMEOUT_MS,
	        migrate_answered);
}

static void send_rake(struct coord *c, struct coord_cutover *u, size_t i)
{
	Ls__Operation op = LS__OPERATION__INIT;
	Ls__RakeTask rt = LS__RAKE_TASK__INIT;

	rt.task = (char *)rake_task(u->comp[u->comp_k]);
	op.kind_case = LS__OPERATION__KIND_RAKE_TASK;
	op.rake_task = &rt;
	ls_fmt(u->live, sizeof(u->live), "gitlab-rake %s on %s (%zu of %zu)",
	       rt.task, u->p->deploy_node, u->comp_k + 1, u->ncomp);
	co_send(c, u, i, u->p->deploy_node, &op, ++c->next_op_id,
	        LONG_TIMEOUT_MS, migrate_answered);
}

/* Components with local rows into u->comp (the first count), or the
 * moved ones still local into left (a later one); 0, or 1 if any is. */
static int local_rows(struct coord_cutover *u, const Ls__StorageCountsResult *r,
                      int first, char *left, size_t len)
{
	size_t i, k;
	int any = 0;

	left[0] = '\0';
	for (i = 0; i < r->n_counts; i++) {
		const Ls__StorageCount *s = r->counts[i];
		int ours = first;

		if ((s->error != NULL && s->error[0] != '\0') ||
		    s->local == 0 || rake_task(s->component) == NULL)
			continue;
		for (k = 0; k < u->ncomp && !ours; k++)
			ours = strcmp(u->comp[k], s->component) == 0;
		if (!ours)
			continue;
		if (first && u->ncomp < CO_MAX_COMPONENTS)
			ls_strlcpy(u->comp[u->ncomp++], s->component,
			           sizeof(u->comp[0]));
		ls_fmt(left + strlen(left), len - strlen(left), "%s%s %llu",
		       any ? ", " : "", s->component,
		       (unsigned long long)s->local);
		any = 1;
	}
	return any;
}

/* Every component counted without error and with nothing local: what
 * the backup skips (its files are in object storage, not on disk). */
static void finish_migrate(struct coord *c, struct coord_cutover *u, size_t i,
                           const Ls__StorageCountsResult *r)
{
	Ls__CutoverStepResult out = LS__CUTOVER_STEP_RESULT__INIT;
	char *names[CO_MAX_COMPONENTS], detail[600], moved[300] = "";
	size_t k;

	for (k = 0; k < u->ncomp; k++)
		ls_fmt(moved + strlen(moved), sizeof(moved) - strlen(moved),
		       "%s%s", k ? ", " : "", u->comp[k]);
	for (k = 0; k < r->n_counts && out.n_components < CO_MAX_COMPONENTS;
	     k++) {
		const Ls__StorageCount *s = r->counts[k];
		if ((s->error == NULL || s->error[0] == '\0') &&
		    s->local == 0 && rake_task(s->component) != NULL)
			names[out.n_components++] = s->component;
	}
	out.components = names;
	ls_fmt(detail, sizeof(detail),
	       "%s%s; in object storage: %zu "
	       "components",
	       u->ncomp ? "moved to object storage: "
	                : "nothing was on "
	                  "local storage",
	       moved, out.n_components);
	out.detail = detail;
	co_step_end(c, u, i, "", &out);
}

static void migrate_answered(struct coord *c, struct coord_cutover *u, size_t i,
                             const Ls__OpResult *res)
{
	int kind = u->sub == CO_SUB_RAKE ? LS__OP_RESULT__KIND_RAKE_TASK
	                                 : LS__OP_RESULT__KIND_STORAGE_COUNTS;
	char why[1200], left[600];

	failed(res, kind, why, sizeof(why));
	if (why[0] != '\0') {
		char at[1400];
		if (u->sub == CO_SUB_RAKE)
			ls_fmt(at, sizeof(at), "gitlab-rake %s on %s: %s",
			       rake_task(u->comp[u->comp_k]), u->p->deploy_node,
			       why);
		else
			ls_fmt(at, sizeof(at), "counting file rows on %s: %s",
			       u->p->db_node, why);
		end_detail(c, u, i, at, NULL);
		return;
	}
	switch (u->sub) {
	case CO_SUB_COUNT:
		if (!local_rows(u, res->storage_counts, 1, left,
		                sizeof(left))) {
			finish_migrate(c, u, i, res->storage_counts);
			return;
		}
		log_info("cutover %s: on local storage (rows): %s", u->run,
		         left);
		u->sub = CO_SUB_RAKE;
		u->comp_k = 0;
		send_rake(c, u, i);
		return;
	case CO_SUB_RAKE:
		if (++u->comp_k < u->ncomp) {
			send_rake(c, u, i);
			return;
		}
		/* Uploads move in Sidekiq jobs the task enqueues: the rows
		 * say when they are done. */
		u->sub = CO_SUB_POLL;
		u->poll_deadline_ms =
		    ls_mono_ms() + (u->p->req->has_migrate_timeout_ms
		                        ? (int64_t)u->p->req->migrate_timeout_ms
		                        : MIGRATE_TIMEOUT_MS);
		send_counts(c, u, i);
		return;
	case CO_SUB_POLL:
		if (!local_rows(u, res->storage_counts, 0, left,
		                sizeof(left))) {
			finish_migrate(c, u, i, res->storage_counts);
			return;
		}
		if (ls_mono_ms() >= u->poll_deadline_ms) {
			ls_fmt(
			    why, sizeof(why),
			    "still on local storage after the migrate "
			    "timeout (rows): %s. GitLab's Rake tasks did not "
			    "move them: see Sidekiq's log on %s",
			    left, u->p->deploy_node);
			end_detail(c, u, i, why, NULL);
			return;
		}
		ls_fmt(u->live, sizeof(u->live),
		       "waiting for rows to leave local storage: %s", left);
		u->next_poll_ms = ls_mono_ms() + POLL_MS;
		u->poll_due = 1;
		u->inflight++; /* the step stays in flight until the poll */
		return;
	default:
		end_detail(c, u, i, "the step lost its place", NULL);
	}
}

static void migrate_step(struct coord *c, struct coord_cutover *u, size_t i)
{
	u->sub_step = (long)i;
	u->sub = CO_SUB_COUNT;
	u->ncomp = u->comp_k = 0;
	ls_fmt(u->live, sizeof(u->live), "counting rows on local storage");
	send_counts(c, u, i);
}

/* ---- the fleet backup */

static void backup_step(struct coord *c, struct coord_cutover *u, size_t i)
{
	Ls__BackupCreateReq br = LS__BACKUP_CREATE_REQ__INIT;
	Ls__CutoverStepResult *m = co_prior(c, u, CO_MIGRATE);
	char skip[400] = "", err[1024] = "";
	size_t k;
	int rv;

	for (k = 0; m != NULL && k < m->n_components; k++)
		ls_fmt(skip + strlen(skip), sizeof(skip) - strlen(skip), "%s%s",
		       k ? "," : "", m->components[k]);
	if (m != NULL)
		ls__cutover_step_result__free_unpacked(m, NULL);
	br.skip = skip;
	if ((rv = coord_backup_start(c, &br, u->backup_id, sizeof(u->backup_id),
	                             err, sizeof(err))) < 0) {
		end_detail(c, u, i, err[0] ? err : ls_strerror(rv), NULL);
		return;
	}
	log_info("cutover %s: backup %s started (skipping %s)", u->run,
	         u->backup_id, skip[0] ? skip : "nothing");
	u->sub_step = (long)i;
	u->sub = CO_SUB_BACKUP;
	ls_fmt(u->live, sizeof(u->live), "backup %s running (skipping %s)",
	       u->backup_id, skip[0] ? skip : "nothing");
	u->inflight++;
}

static void backup_tick(struct coord *c, struct coord_cutover *u)
{
	Ls__CutoverStepResult r = LS__CUTOVER_STEP_RESULT__INIT;
	Ls__BackupInfo *bi = NULL;
	size_t i = (size_t)u->sub_step;
	char why[1024] = "", detail[300];
	int rv;

	if (c->backup != NULL && strcmp(c->backup->id, u->backup_id) == 0)
		return;
	u->inflight--;
	if ((rv = coord_backup_info(c, u->backup_id, &bi)) < 0) {
		end_detail(c, u, i, "the backup left no catalog entry", NULL);
		co_advance(c, u);
		return;
	}
	if (strcmp(bi->state, "complete") != 0)
		ls_fmt(why, sizeof(why), "backup %s %s: %s", u->backup_id,
		       bi->state, bi->reason ? bi->reason : "no reason given");
	ls_fmt(detail, sizeof(detail), "backup %s (%s_gitlab_backup.tar)",
	       u->backup_id, u->backup_id);
	r.detail = detail;
	r.backup_id = u->backup_id;
	if (rv == 1)
		coord_catalog_info_free(bi);
	else
		ls__backup_info__free_unpacked(bi, NULL);
	co_step_end(c, u, i, why, &r);
	co_advance(c, u);
}

/* The backup a later step restores or checks against, into id. */
static int backup_of_run(struct coord *c, struct coord_cutover *u, char *id,
                         size_t len, char *dir, size_t dirlen)
{
	Ls__CutoverStepResult *b = co_prior(c, u, CO_BACKUP);
	char store[4096];
	int rv = LS_ENOENT;

	if (b != NULL && b->backup_id != NULL && b->backup_id[0] &&
	    coord_backup_store(c, store, sizeof(store)) == 0) {
		ls_strlcpy(id, b->backup_id, len);
		rv = ls_fmt(dir, dirlen, "%s/%s", store, b->backup_id);
	}
	if (b != NULL)
		ls__cutover_step_result__free_unpacked(b, NULL);
	return rv < 0 ? rv : 0;
}

/* ---- the chart's Secrets */

static void secrets_answered(struct coord *c, struct coord_cutover *u, size_t i,
                             const Ls__OpResult *res);

static void send_apply(struct coord *c, struct coord_cutover *u, size_t i)
{
	Ls__Operation op = LS__OPERATION__INIT;
	Ls__KubeSecretsApply ap = LS__KUBE_SECRETS_APPLY__INIT;
	Ls__KubeTarget t = target(u);
	char *from[CO_MAX_RAILS];
	size_t k;

	for (k = 1; k < u->nrails; k++)
		from[k - 1] = u->rails[k];
	ap.target = &t;
	ap.sealed = u->sealed[0];
	ap.from_node = u->rails[0];
	ap.n_others = ap.n_others_from = u->nrails - 1;
	ap.others = u->sealed + 1;
	ap.others_from = from;
	op.kind_case = LS__OPERATION__KIND_KUBE_SECRETS_APPLY;
	op.kube_secrets_apply = &ap;
	u->sub = CO_SUB_APPLY;
	ls_fmt(u->live, sizeof(u->live), "replacing the chart's Secrets");
	/* The step's own id: a resumed run gets the Secrets as they were
	 * before the first apply, not the ones it put there. */
	co_send(c, u, i, u->p->kube_node, &op, u->st[i].op_id, QUERY_TIMEOUT_MS,
	        secrets_answered);
}

static void send_export(struct coord *c, struct coord_cutover *u, size_t i)
{
	struct coord_node *kube = coord_node_find(c, u->p->kube_node);
	Ls__Operation op = LS__OPERATION__INIT;
	Ls__SecretsExport ex = LS__SECRETS_EXPORT__INIT;

	if (kube == NULL || !kube->enrolled || kube->removed) {
		end_detail(c, u, i,
		           "the kubernetes node is no longer in the fleet",
		           NULL);
		return;
	}
	ls_fmt(u->live, sizeof(u->live),
	       "sealing gitlab-secrets.json on %s (%zu of %zu)",
	       u->rails[u->rails_k], u->rails_k + 1, u->nrails);
	/* Sealed to the kubernetes node: the coordinator relays what it
	 * cannot read. */
	ex.to_sign_pk.data = kube->sign_pk;
	ex.to_sign_pk.len = sizeof(kube->sign_pk);
	op.kind_case = LS__OPERATION__KIND_SECRETS_EXPORT;
	op.secrets_export = &ex;
	co_send(c, u, i, u->rails[u->rails_k], &op, ++c->next_op_id,
	        QUERY_TIMEOUT_MS, secrets_answered);
}

static void secrets_answered(struct coord *c, struct coord_cutover *u, size_t i,
                             const Ls__OpResult *res)
{
	Ls__CutoverStepResult r = LS__CUTOVER_STEP_RESULT__INIT;
	const Ls__KubeSecretsApplyResult *a;
	ProtobufCBinaryData *s;
	char why[1200], at[1400], detail[700] = "";
	size_t k;

	if (u->sub == CO_SUB_EXPORT) {
		failed(res, LS__OP_RESULT__KIND_SECRETS_EXPORT, why,
		       sizeof(why));
		if (why[0] != '\0') {
			ls_fmt(at, sizeof(at),
			       "reading gitlab-secrets.json on %s: %s",
			       u->rails[u->rails_k], why);
			end_detail(c, u, i, at, NULL);
			return;
		}
		s = &u->sealed[u->rails_k];
		if ((s->data = malloc(res->secrets_export->sealed.len + 1)) ==
		    NULL) {
			end_detail(c, u, i, "out of memory", NULL);
			return;
		}
		memcpy(s->data, res->secrets_export->sealed.data,
		       res->secrets_export->sealed.len);
		s->len = res->secrets_export->sealed.len;
		if (++u->rails_k < u->nrails)
			send_export(c, u, i);
		else
			send_apply(c, u, i);
		return;
	}
	failed(res, LS__OP_RESULT__KIND_KUBE_SECRETS_APPLY, why, sizeof(why));
	if (why[0] != '\0') {
		end_detail(c, u, i, why, NULL);
		return;
	}
	a = res->kube_secrets_apply;
	ls_fmt(detail, sizeof(detail),
	       "%zu Secrets from %s's gitlab-secrets.json (%zu Rails nodes "
	       "agree):",
	       a->n_secrets, u->rails[0], u->nrails);
	for (k = 0; k < a->n_secrets; k++)
		ls_fmt(detail + strlen(detail), sizeof(detail) - strlen(detail),
		       "%s %s", k ? "," : "", a->secrets[k]);
	r.detail = detail;
	r.has_saved_secrets = 1;
	r.saved_secrets = a->saved;
	co_step_end(c, u, i, "", &r);
}

static void secrets_step(struct coord *c, struct coord_cutover *u, size_t i)
{
	size_t k;

	co_sealed_clear(u);
	u->sub_step = (long)i;
	u->sub = CO_SUB_EXPORT;
	/* The deploy node's file, then every other Rails node's: the agent
	 * refuses when they differ. */
	ls_strlcpy(u->rails[u->nrails++], u->p->deploy_node,
	           sizeof(u->rails[0]));
	for (k = 0; k < c->nnodes && u->nrails < CO_MAX_RAILS; k++) {
		const struct coord_node *n = c->nodes[k];
		if (!n->enrolled || n->removed || !coord_node_runs_gitlab(n) ||
		    !coord_node_has_role(n, "rails") ||
		    strcmp(n->name, u->p->deploy_node) == 0)
			continue;
		ls_strlcpy(u->rails[u->nrails++], n->name, sizeof(u->rails[0]));
	}
	send_export(c, u, i);
}

/* ---- one operation on the kubernetes node */

static void deployments_line(char *buf, size_t len,
                             Ls__KubeDeployment *const *d, size_t n)
{
	size_t k;

	buf[0] = '\0';
	for (k = 0; k < n; k++)
		ls_fmt(buf + strlen(buf), len - strlen(buf), "%s%s=%u",
		       k ? ", " : "", d[k]->name, (unsigned)d[k]->replicas);
}

static void kube_answered(struct coord *c, struct coord_cutover *u, size_t i,
                          const Ls__OpResult *res)
{
	const Ls__CutoverStepDef *d = co_def(u, i);
	Ls__CutoverStepResult r = LS__CUTOVER_STEP_RESULT__INIT;
	char why[1500] = "", detail[900] = "", list[400];
	int kind;
	size_t k;

	switch ((enum co_kind)d->kind) {
	case CO_SCALE_DOWN:
	case CO_SCALE_UP:
	case CO_UNDO_SCALE:
		kind = LS__OP_RESULT__KIND_KUBE_SCALE;
		break;
	case CO_RESTORE:
		kind = LS__OP_RESULT__KIND_KUBE_RESTORE;
		break;
	case CO_RESTART:
		kind = LS__OP_RESULT__KIND_KUBE_RESTART_PODS;
		break;
	case CO_VERIFY:
		kind = LS__OP_RESULT__KIND_KUBE_VERIFY;
		break;
	default:
		/* KubeSecretsRestore: the names put back or deleted. */
		kind = LS__OP_RESULT__KIND_KUBE_SECRETS_APPLY;
	}
	failed(res, kind, why, sizeof(why));
	if (why[0] != '\0') {
		end_detail(c, u, i, why, NULL);
		return;
	}
	r.detail = detail;
	switch ((enum co_kind)d->kind) {
	case CO_SCALE_DOWN:
		/* What they were: the counts the scale up puts back. */
		r.n_replicas = res->kube_scale->n_before;
		r.replicas = res->kube_scale->before;
		deployments_line(list, sizeof(list), r.replicas, r.n_replicas);
		ls_fmt(detail, sizeof(detail), "scaled to 0 from %s", list);
		break;
	case CO_SCALE_UP:
	case CO_UNDO_SCALE:
		ls_fmt(detail, sizeof(detail), "%zu deployments scaled back",
		       res->kube_scale->n_before);
		break;
	case CO_RESTORE:
		ls_fmt(detail, sizeof(detail),
		       "backup-utility --restore in pod %s: %llu bytes in "
		       "%llu s",
		       res->kube_restore->pod ? res->kube_restore->pod : "?",
		       (unsigned long long)res->kube_restore->bytes,
		       (unsigned long long)res->kube_restore->ms / 1000);
		break;
	case CO_RESTART:
		ls_fmt(detail, sizeof(detail), "%u pods restarted and ready",
		       (unsigned)res->kube_restart_pods->pods);
		break;
	case CO_VERIFY: {
		const Ls__KubeVerifyResult *v = res->kube_verify;
		ls_fmt(detail, sizeof(detail),
		       "%zu tables, %llu repositories' refs and %llu uploads "
		       "compared: %zu differences",
		       v->n_chart, (unsigned long long)v->repositories,
		       (unsigned long long)v->uploads_checked,
		       v->n_differences + (size_t)v->more_differences);
		for (k = 0; k < v->n_differences && k < 5; k++)
			ls_fmt(why + strlen(why), sizeof(why) - strlen(why),
			       "%s%s", k ? "; " : "the chart side differs: ",
			       v->differences[k]);
		if (v->n_differences + v->more_differences > 5)
			ls_fmt(why + strlen(why), sizeof(why) - strlen(why),
			       "; and %llu more (lockstep run show)",
			       (unsigned long long)(v->n_differences +
			                            v->more_differences - 5));
		/* Every one in the journal: the report names each. */
		r.n_differences = v->n_differences;
		r.differences = v->differences;
		r.has_more_differences = v->more_differences > 0;
		r.more_differences = v->more_differences;
		break;
	}
	default:
		ls_fmt(detail, sizeof(detail),
		       "the chart's previous Secrets "
		       "are back");
	}
	co_step_end(c, u, i, why, &r);
}

/* Expected rows of the verified tables from the backup's own counts. */
static int expected_rows(struct coord *c, const char *id, Ls__TableCount *tc,
                         Ls__TableCount **tp, size_t *n, char *err,
                         size_t errlen)
{
	struct rs_backup b;
	char store[4096];
	json_t *rows;
	size_t k;
	int rv;

	memset(&b, 0, sizeof(b));
	*n = 0;
	if ((rv = coord_backup_store(c, store, sizeof(store))) < 0 ||
	    (rv = rs_backup_load(store, id, c->sign_pk, 0, &b, err, errlen)) <
	        0)
		return rv;
	rows = rs_backup_table_rows(&b);
	for (k = 0; rows != NULL &&
	            k < sizeof(verify_tables) / sizeof(verify_tables[0]);
	     k++) {
		json_t *v = json_object_get(rows, verify_tables[k]);
		if (!json_is_integer(v) || json_integer_value(v) < 0)
			continue;
		ls__table_count__init(&tc[*n]);
		tc[*n].table = (char *)verify_tables[k];
		tc[*n].rows = (uint64_t)json_integer_value(v);
		tp[*n] = &tc[*n];
		(*n)++;
	}
	rs_backup_clear(&b);
	if (*n == 0) {
		ls_fmt(err, errlen, "backup %s records no row counts of %s", id,
		       verify_tables[0]);
		return LS_EINVAL;
	}
	return 0;
}

static void kube_step(struct coord *c, struct coord_cutover *u, size_t i,
                      uint64_t id)
{
	const Ls__CutoverStepDef *d = co_def(u, i);
	Ls__Operation op = LS__OPERATION__INIT;
	Ls__KubeTarget t = target(u);
	Ls__KubeScale ks = LS__KUBE_SCALE__INIT;
	Ls__KubeRestore kr = LS__KUBE_RESTORE__INIT;
	Ls__KubeRestartPods rp = LS__KUBE_RESTART_PODS__INIT;
	Ls__KubeVerify kv = LS__KUBE_VERIFY__INIT;
	Ls__KubeSecretsRestore sr = LS__KUBE_SECRETS_RESTORE__INIT;
	Ls__KubeDeployment dep[64], *depp[64];
	Ls__TableCount tc[8], *tp[8];
	Ls__CutoverStepResult *prior = NULL;
	char bid[128], bdir[4200], err[1024] = "";
	int64_t timeout = QUERY_TIMEOUT_MS;
	size_t k;

	switch ((enum co_kind)d->kind) {
	case CO_SCALE_DOWN:
	case CO_SCALE_UP:
	case CO_UNDO_SCALE:
		if (d->kind == CO_UNDO_SCALE) {
			ks.n_deployments = u->p->n_replicas;
			ks.deployments = u->p->replicas;
		} else {
			prior =
			    co_prior(c, u,
			             d->kind == CO_SCALE_DOWN ? CO_RELEASE
			                                      : CO_SCALE_DOWN);
			if (prior == NULL || prior->n_replicas > 64) {
				ls_fmt(err, sizeof(err),
				       "the run's journal has no replica "
				       "counts of the release");
				break;
			}
			for (k = 0; k < prior->n_replicas; k++) {
				dep[k] = *prior->replicas[k];
				if (d->kind == CO_SCALE_DOWN)
					dep[k].replicas = 0;
				depp[k] = &dep[k];
			}
			ks.n_deployments = prior->n_replicas;
			ks.deployments = depp;
		}
		ks.target = &t;
		op.kind_case = LS__OPERATION__KIND_KUBE_SCALE;
		op.kube_scale = &ks;
		break;
	case CO_RESTORE:
		if (backup_of_run(c, u, bid, sizeof(bid), bdir, sizeof(bdir)) <
		    0) {
			ls_fmt(err, sizeof(err),
			       "the run's journal has no backup to restore");
			break;
		}
		kr.target = &t;
		kr.backup_dir = bdir;
		kr.backup_id = bid;
		op.kind_case = LS__OPERATION__KIND_KUBE_RESTORE;
		op.kube_restore = &kr;
		timeout = LONG_TIMEOUT_MS;
		break;
	case CO_RESTART:
		rp.target = &t;
		rp.has_ready_timeout_ms = 1;
		rp.ready_timeout_ms =
		    u->p->req->has_ready_timeout_ms &&
		            u->p->req->ready_timeout_ms <= UINT32_MAX
		        ? (uint32_t)u->p->req->ready_timeout_ms
		        : (uint32_t)READY_TIMEOUT_MS;
		op.kind_case = LS__OPERATION__KIND_KUBE_RESTART_PODS;
		op.kube_restart_pods = &rp;
		timeout = (int64_t)rp.ready_timeout_ms + QUERY_TIMEOUT_MS;
		break;
	case CO_VERIFY:
		if (backup_of_run(c, u, bid, sizeof(bid), bdir, sizeof(bdir)) <
		    0) {
			ls_fmt(err, sizeof(err),
			       "the run's journal has no backup to verify "
			       "against");
			break;
		}
		if (expected_rows(c, bid, tc, tp, &kv.n_expected, err,
		                  sizeof(err)) < 0)
			break;
		kv.target = &t;
		kv.backup_dir = bdir;
		kv.backup_id = bid;
		kv.expected = tp;
		kv.has_upload_sample = 1;
		kv.upload_sample = UPLOAD_SAMPLE;
		op.kind_case = LS__OPERATION__KIND_KUBE_VERIFY;
		op.kube_verify = &kv;
		timeout = LONG_TIMEOUT_MS;
		break;
	case CO_UNDO_SECRETS:
		sr.target = &t;
		sr.saved = u->p->saved_secrets;
		op.kind_case = LS__OPERATION__KIND_KUBE_SECRETS_RESTORE;
		op.kube_secrets_restore = &sr;
		break;
	default:
		ls_fmt(err, sizeof(err), "the step has no operation");
	}
	if (err[0] != '\0')
		end_detail(c, u, i, err, NULL);
	else
		co_send(c, u, i, u->p->kube_node, &op, id, timeout,
		        kube_answered);
	if (prior != NULL)
		ls__cutover_step_result__free_unpacked(prior, NULL);
}

void co_run_step(struct coord *c, struct coord_cutover *u, size_t i,
                 uint64_t id)
{
	switch ((enum co_kind)co_def(u, i)->kind) {
	case CO_MIGRATE:
		migrate_step(c, u, i);
		break;
	case CO_BACKUP:
		backup_step(c, u, i);
		break;
	case CO_SECRETS:
		secrets_step(c, u, i);
		break;
	default:
		kube_step(c, u, i, id);
	}
}

void co_run_tick(struct coord *c, struct coord_cutover *u)
{
	if (u->sub_step < 0)
		return;
	if (u->sub == CO_SUB_BACKUP) {
		backup_tick(c, u);
		return;
	}
	if (u->sub == CO_SUB_POLL && u->poll_due &&
	    ls_mono_ms() >= u->next_poll_ms) {
		u->poll_due = 0;
		u->inflight--; /* co_send counts it again */
		send_counts(c, u, (size_t)u->sub_step);
		if (u->inflight == 0)
			co_advance(c, u);
	}
}
