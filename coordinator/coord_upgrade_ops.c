/*
 * The upgrade run's pure parts: the operation a step sends, and how an
 * answer is judged, kept and listed. coord_upgrade.c drives the run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_upgrade_int.h"
#include "ls_error.h"

/* Maintenance mode a downtime run turns on is lifted by the agent after
 * this long if the coordinator is gone. */
#define MAINT_LEASE_MS (4u * 3600 * 1000)

/* An unfinished background migration fails a check; the run waits for
 * them in their own step, and a new version queues new ones. */
static int ugo_bbm_check(const char *name)
{
	return strstr(name, "batched-background-migrations") != NULL;
}

void ugo_judge(const Ls__UpgradeStepDef *d, const Ls__OpResult *res, char *why,
               size_t len)
{
	size_t i;

	why[0] = '\0';
	if (res == NULL) {
		snprintf(why, len,
		         "no answer from %s in time (the node is lost or the "
		         "step is still running there)",
		         d->node);
		return;
	}
	/* Nothing to migrate is not a failure: the step says skipped. */
	if (res->status < 0 &&
	    res->kind_case == LS__OP_RESULT__KIND_REGISTRY_MIGRATE &&
	    res->registry_migrate->has_no_database &&
	    res->registry_migrate->no_database)
		return;
	if (res->status < 0) {
		const char *tail =
		    res->kind_case == LS__OP_RESULT__KIND_UPGRADE_ACTION
		        ? res->upgrade_action->output_tail
		    : res->kind_case == LS__OP_RESULT__KIND_REGISTRY_MIGRATE
		        ? res->registry_migrate->output_tail
		        : NULL;
		snprintf(why, len, "%s%s%s",
		         res->error ? res->error : ls_strerror(res->status),
		         tail && tail[0] &&
		                 (!res->error || !strstr(res->error, tail))
		             ? "; output: "
		             : "",
		         tail && tail[0] &&
		                 (!res->error || !strstr(res->error, tail))
		             ? tail
		             : "");
		return;
	}
	for (i = 0; res->kind_case == LS__OP_RESULT__KIND_CHECKS &&
	            i < res->checks->n_results;
	     i++) {
		const Ls__CheckResult *cr = res->checks->results[i];
		if (cr->status == LS__CHECK_STATUS__CHECK_FAIL &&
		    !ugo_bbm_check(cr->name)) {
			snprintf(why, len, "check %s failed: %s", cr->name,
			         cr->reason);
			return;
		}
	}
}

/* "skipped: why", "applied 2 migration(s): a, b", "nothing to do ...". */
static uint8_t *registry_detail(const Ls__OpResult *res, size_t *len)
{
	const Ls__RegistryMigrateResult *g = res->registry_migrate;
	char *t = malloc(UGO_DETAIL_MAX);
	size_t i, off;

	if (t == NULL)
		return NULL;
	if (res->status < 0 && g->has_no_database && g->no_database)
		off = (size_t)snprintf(t, UGO_DETAIL_MAX, "skipped: %s",
		                       res->error ? res->error
		                                  : "no metadata database");
	else if (res->status < 0)
		off = (size_t)snprintf(t, UGO_DETAIL_MAX, "failed: %s",
		                       res->error ? res->error
		                                  : ls_strerror(res->status));
	else if (g->n_applied == 0)
		off = (size_t)snprintf(t, UGO_DETAIL_MAX,
		                       "nothing to do: all %zu migrations are "
		                       "applied",
		                       g->n_before);
	else
		off =
		    (size_t)snprintf(t, UGO_DETAIL_MAX,
		                     "applied %zu migration(s):", g->n_applied);
	for (i = 0;
	     res->status == 0 && i < g->n_applied && off < UGO_DETAIL_MAX; i++)
		off += (size_t)snprintf(t + off, UGO_DETAIL_MAX - off, "%s %s",
		                        i ? "," : "", g->applied[i]);
	*len = strlen(t);
	return (uint8_t *)t;
}

uint8_t *ugo_pack_result(const Ls__OpResult *res, size_t *len)
{
	uint8_t *buf;

	*len = 0;
	if (res != NULL &&
	    res->kind_case == LS__OP_RESULT__KIND_REGISTRY_MIGRATE &&
	    res->registry_migrate != NULL)
		return registry_detail(res, len);
	if (res == NULL || res->kind_case != LS__OP_RESULT__KIND_UPGRADE_ACTION)
		return NULL;
	*len = ls__upgrade_action_result__get_packed_size(res->upgrade_action);
	if ((buf = malloc(*len ? *len : 1)) != NULL)
		ls__upgrade_action_result__pack(res->upgrade_action, buf);
	return buf;
}

/* Waiting migrations as "main:Class(table.column), ...". */
void ugo_bbm_list(const Ls__BbmStatusResult *r, char *out, size_t len)
{
	size_t i, off = 0;

	out[0] = '\0';
	for (i = 0; i < r->n_unfinished && off < len; i++) {
		const Ls__BackgroundMigration *m = r->unfinished[i];
		off += (size_t)snprintf(out + off, len - off, "%s%s:%s(%s.%s)",
		                        i ? ", " : "", m->database,
		                        m->job_class, m->table, m->column);
	}
}

/* The operation of a node step. */
void ugo_step_op(const Ls__UpgradeStepDef *d, const struct coord_node *n,
                 char **roles, Ls__Operation *op, struct ugo_room *room)
{
	Ls__RunChecks *rc = &room->rc;
	Ls__Maintenance *m = &room->m;
	Ls__BbmStatus *bs = &room->bs;

	ls__operation__init(op);
	switch ((enum ug_step_kind)d->kind) {
	case UG_CHECK:
		ls__run_checks__init(rc);
		rc->n_roles = n->nroles;
		rc->roles = roles;
		op->kind_case = LS__OPERATION__KIND_RUN_CHECKS;
		op->run_checks = rc;
		break;
	case UG_MAINT_ON:
	case UG_MAINT_OFF:
		ls__maintenance__init(m);
		m->on = d->kind == UG_MAINT_ON;
		if (m->on) {
			m->message = "GitLab is being upgraded";
			m->has_lease_ms = 1;
			m->lease_ms = MAINT_LEASE_MS;
		}
		op->kind_case = LS__OPERATION__KIND_MAINTENANCE;
		op->maintenance = m;
		break;
	case UG_BBM_WAIT:
		ls__bbm_status__init(bs);
		op->kind_case = LS__OPERATION__KIND_BBM_STATUS;
		op->bbm_status = bs;
		break;
	case UG_REGISTRY_MIGRATE:
		/* Every pending migration, the post-deployment ones too: the
		 * whole fleet runs the new registry by now. */
		ls__registry_migrate__init(&room->rm);
		op->kind_case = LS__OPERATION__KIND_REGISTRY_MIGRATE;
		op->registry_migrate = &room->rm;
		break;
	default:
		op->kind_case = LS__OPERATION__KIND_UPGRADE_ACTION;
		op->upgrade_action = d->action;
		break;
	}
}
