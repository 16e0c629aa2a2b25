/*
 * lockstep maintenance on|off|status. One rails node's agent reads or sets
 * maintenance mode through the GitLab API; GitLab keeps the setting in the
 * database, so one node speaks for the whole instance. An `on` with a
 * lease is turned off by that agent itself when the lease ends.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_backup.h"
#include "coord_maint.h"
#include "coord_restore.h"
#include "coord_upgrade.h"
#include "ls_error.h"
#include "ls_log.h"
#include "ls_util.h"

/*
 * The rails agent may be finishing another operation first (one at a
 * time per node); the API call itself takes a second.
 */
#define MAINT_TIMEOUT_MS 120000

enum maint_action { MAINT_STATUS, MAINT_ON, MAINT_OFF };

struct maint_wait {
	struct control_ctx *cc;
	enum maint_action action;
	int unqueued; /* the operation could not be queued */
	char node[LS_NODE_NAME_MAX + 1];
};

static const char *action_name(enum maint_action a)
{
	return a == MAINT_ON ? "on" : a == MAINT_OFF ? "off" : "status";
}

static void not_connected(char *out, size_t len, const struct coord_node *n)
{
	if (n->last_seen > 0)
		snprintf(out, len, "not connected (last seen %llds ago)",
		         (long long)(ls_now() - n->last_seen));
	else
		snprintf(out, len, "not connected (never seen)");
}

/* The node named, or the first connected rails node by name. */
static struct coord_node *pick_node(struct coord *c, struct control_ctx *cc,
                                    const char *name)
{
	int64_t now_ms = coord_now_us() / 1000;
	struct coord_node *best = NULL, *n;
	char why[128];
	size_t i;

	if (name != NULL && name[0] != '\0') {
		n = coord_node_find(c, name);
		if (n == NULL || !n->enrolled || n->removed) {
			coord_control_failf(
			    cc, LS_ENOENT,
			    "no enrolled node named '%.64s' (lockstep node "
			    "list)",
			    name);
			return NULL;
		}
		if (!coord_node_has_role(n, "rails")) {
			coord_control_failf(
			    cc, LS_EINVAL,
			    "node '%s' has no rails role: maintenance mode is "
			    "set through a rails node's GitLab API",
			    n->name);
			return NULL;
		}
		if (!coord_node_connected(c, n, now_ms)) {
			not_connected(why, sizeof(why), n);
			coord_control_failf(cc, LS_ESTATE, "node '%s' is %s",
			                    n->name, why);
			return NULL;
		}
		return n;
	}
	for (i = 0; i < c->nnodes; i++) {
		n = c->nodes[i];
		if (!n->enrolled || n->removed ||
		    !coord_node_has_role(n, "rails") ||
		    !coord_node_connected(c, n, now_ms))
			continue;
		if (best == NULL || strcmp(n->name, best->name) < 0)
			best = n;
	}
	if (best == NULL)
		coord_control_failf(
		    cc, LS_ESTATE,
		    "no connected node with the rails role: maintenance mode "
		    "is set through a rails node's GitLab API (lockstep "
		    "status)");
	return best;
}

/* Which run holds maintenance mode now, or NULL. */
static const char *run_holding(const struct coord *c, char *buf, size_t len)
{
	if (c->backup != NULL) {
		snprintf(buf, len, "backup %s", c->backup->id);
		return buf;
	}
	if (coord_restore_active(c))
		return "a restore run (lockstep run list)";
	if (coord_upgrade_active(c))
		return "an upgrade run (lockstep run list)";
	return NULL;
}

static void answered(struct coord *c, struct coord_waiter *w)
{
	struct maint_wait *mw = w->arg;
	const Ls__OpResult *r = w->results[0];
	Ls__ControlResp resp = LS__CONTROL_RESP__INIT;
	Ls__MaintenanceResp mr = LS__MAINTENANCE_RESP__INIT;

	(void)c;
	if (mw->unqueued) {
		coord_control_failf(
		    mw->cc, LS_ENOMEM,
		    "cannot queue maintenance %s for node '%s': out of memory",
		    action_name(mw->action), mw->node);
	} else if (r == NULL) {
		coord_control_failf(
		    mw->cc, LS_ETIMEDOUT,
		    "node '%s' did not answer maintenance %s within %d s%s",
		    mw->node, action_name(mw->action), MAINT_TIMEOUT_MS / 1000,
		    mw->action == MAINT_STATUS
		        ? ""
		        : "; it may still act on it: see `lockstep "
		          "maintenance status`");
	} else if (r->status != 0) {
		coord_control_failf(
		    mw->cc, r->status, "node '%s': maintenance %s failed: %s",
		    mw->node, action_name(mw->action),
		    r->error ? r->error : ls_strerror(r->status));
	} else if (r->kind_case != LS__OP_RESULT__KIND_MAINTENANCE ||
	           r->maintenance == NULL) {
		coord_control_failf(
		    mw->cc, LS_EPROTO,
		    "node '%s' answered maintenance %s without its state",
		    mw->node, action_name(mw->action));
	} else {
		mr.node = mw->node;
		mr.was_on = r->maintenance->was_on;
		mr.now_on = r->maintenance->now_on;
		mr.message = r->maintenance->message;
		resp.kind_case = LS__CONTROL_RESP__KIND_MAINTENANCE;
		resp.maintenance = &mr;
		if (mw->action != MAINT_STATUS)
			log_info("maintenance mode %s on %s (was %s)",
			         mr.now_on ? "on" : "off", mw->node,
			         mr.was_on ? "on" : "off");
		coord_control_reply(mw->cc, &resp);
	}
	free(mw);
	coord_waiter_free(w);
}

/* The request's values, checked; 0 or an error already sent. */
static int check_request(struct coord *c, struct control_ctx *cc,
                         const Ls__MaintenanceReq *req, enum maint_action *a)
{
	const char *act = req->action ? req->action : "";
	char run[200];
	const char *holder;

	if (strcmp(act, "on") == 0) {
		*a = MAINT_ON;
	} else if (strcmp(act, "off") == 0) {
		*a = MAINT_OFF;
	} else if (strcmp(act, "status") == 0) {
		*a = MAINT_STATUS;
	} else {
		coord_control_failf(
		    cc, LS_EINVAL,
		    "unknown maintenance action '%.32s': on, off or status",
		    act);
		return -1;
	}
	if (*a != MAINT_ON && req->has_lease_s) {
		coord_control_failf(cc, LS_EINVAL,
		                    "--lease goes only with `on`, not `%s`",
		                    act);
		return -1;
	}
	if (*a != MAINT_ON && req->message != NULL && req->message[0]) {
		coord_control_failf(cc, LS_EINVAL,
		                    "--message goes only with `on`, not `%s`",
		                    act);
		return -1;
	}
	if (req->has_lease_s &&
	    (req->lease_s == 0 || req->lease_s > COORD_MAINT_LEASE_MAX_S)) {
		coord_control_failf(
		    cc, LS_EINVAL,
		    "--lease %u: the lease is 1 to %u seconds (7 days); "
		    "without --lease maintenance mode stays on until `off`",
		    req->lease_s, COORD_MAINT_LEASE_MAX_S);
		return -1;
	}
	if (req->message != NULL &&
	    strnlen(req->message, COORD_MAINT_MESSAGE_MAX + 1) >
	        COORD_MAINT_MESSAGE_MAX) {
		coord_control_failf(
		    cc, LS_ETOOBIG, "--message is %zu bytes; at most %d",
		    strlen(req->message), COORD_MAINT_MESSAGE_MAX);
		return -1;
	}
	/* The run turns it off itself when it is done with it; an `off`
	 * now would let writes in under its feet. */
	if (*a == MAINT_OFF && !(req->has_force && req->force) &&
	    (holder = run_holding(c, run, sizeof(run))) != NULL) {
		coord_control_failf(
		    cc, LS_EBUSY,
		    "%s is running and turns maintenance mode off itself "
		    "when it is done; --force turns it off now",
		    holder);
		return -1;
	}
	return 0;
}

void coord_maint_request(struct coord *c, struct control_ctx *cc,
                         const Ls__MaintenanceReq *req)
{
	Ls__Operation op = LS__OPERATION__INIT;
	Ls__Maintenance m = LS__MAINTENANCE__INIT;
	struct coord_node *n;
	struct coord_waiter *w;
	struct maint_wait *mw;
	enum maint_action a;
	char run[200];
	const char *holder;

	if (check_request(c, cc, req, &a) < 0 ||
	    (n = pick_node(c, cc, req->node)) == NULL)
		return;
	if (a == MAINT_OFF &&
	    (holder = run_holding(c, run, sizeof(run))) != NULL)
		log_warnx("maintenance off on %s with --force while %s runs",
		          n->name, holder);
	m.on = a == MAINT_ON;
	if (a == MAINT_STATUS)
		m.has_query = m.query = 1;
	if (a == MAINT_ON) {
		m.message = req->message;
		if (req->has_lease_s) {
			m.has_lease_ms = 1;
			m.lease_ms = req->lease_s * 1000u;
		}
	}
	op.kind_case = LS__OPERATION__KIND_MAINTENANCE;
	op.maintenance = &m;
	if ((mw = calloc(1, sizeof(*mw))) == NULL ||
	    (w = coord_waiter_new(c, 1, MAINT_TIMEOUT_MS, answered, mw)) ==
	        NULL) {
		free(mw);
		coord_control_fail(cc, LS_ENOMEM, "out of memory");
		return;
	}
	mw->cc = cc;
	mw->action = a;
	ls_strlcpy(mw->node, n->name, sizeof(mw->node));
	w->arg_free = free;
	if (coord_op_enqueue(c, n, &op, w, 0) < 0) {
		/* Nothing pending: the waiter finishes at once. */
		mw->unqueued = 1;
		coord_waiter_arm(c, w);
	}
}
