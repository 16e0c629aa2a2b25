/*
 * The operator's control socket: ipc://, mode 0600, so only the
 * coordinator's own user (root) can drive it. Requests that fan out to the
 * fleet (check, ping) answer later, from the waiter's completion.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/transport/ipc/ipc.h>

#include "coord_catalog.h"
#include "coord_cutover.h"
#include "coord_import.h"
#include "coord_maint.h"
#include "coord_registry.h"
#include "coord_restore.h"
#include "coord_state.h"
#include "coord_upgrade.h"
#include "ls_error.h"
#include "ls_log.h"
#include "ls_util.h"

#define CONTROL_CTX 8
#define CONTROL_MAX_MSG (1024 * 1024)

struct control_ctx {
	struct coord *c;
	nng_ctx ctx;
	nng_aio *aio;
	int sending;
	int waiting;
};

/* What a fan-out request remembers about each slot. */
struct fanout {
	struct control_ctx *cc;
	int kind; /* LS__CONTROL_REQ__KIND_CHECK or _PING */
	size_t n;
	struct coord_node **nodes;
	char **errors; /* why a node was not asked, or NULL */
};

static struct control_ctx control_ctxs[CONTROL_CTX];

static void send_resp(struct control_ctx *cc, Ls__ControlResp *resp)
{
	size_t len = ls__control_resp__get_packed_size(resp);
	uint8_t *buf = malloc(len ? len : 1);
	nng_msg *msg = NULL;

	if (buf == NULL || nng_msg_alloc(&msg, 0) != 0)
		goto fail;
	ls__control_resp__pack(resp, buf);
	if (nng_msg_append(msg, buf, len) != 0)
		goto fail;
	free(buf);
	cc->sending = 1;
	cc->waiting = 0;
	nng_aio_set_msg(cc->aio, msg);
	nng_ctx_send(cc->ctx, cc->aio);
	return;
fail:
	free(buf);
	nng_msg_free(msg);
	cc->waiting = 0;
	nng_ctx_recv(cc->ctx, cc->aio);
}

static void send_error(struct control_ctx *cc, int code, const char *text)
{
	Ls__ControlResp resp = LS__CONTROL_RESP__INIT;

	resp.status = code;
	resp.error = (char *)text;
	send_resp(cc, &resp);
}

void coord_control_reply(struct control_ctx *cc, Ls__ControlResp *resp)
{
	send_resp(cc, resp);
}

void coord_control_fail(struct control_ctx *cc, int code, const char *text)
{
	send_error(cc, code, text);
}

void coord_control_failf(struct control_ctx *cc, int code, const char *fmt, ...)
{
	char text[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	send_error(cc, code, text);
}

static void fanout_free(void *arg)
{
	struct fanout *fo = arg;
	size_t i;

	if (fo == NULL)
		return;
	for (i = 0; i < fo->n && fo->errors; i++)
		free(fo->errors[i]);
	free(fo->errors);
	free(fo->nodes);
	free(fo);
}

static void check_done(struct coord *c, struct coord_waiter *w)
{
	struct fanout *fo = w->arg;
	Ls__ControlResp resp = LS__CONTROL_RESP__INIT;
	Ls__CheckResp cr = LS__CHECK_RESP__INIT;
	Ls__NodeCheck *nc = calloc(fo->n ? fo->n : 1, sizeof(*nc));
	Ls__NodeCheck **ncp = calloc(fo->n ? fo->n : 1, sizeof(*ncp));
	char **roles =
	    calloc((fo->n ? fo->n : 1) * COORD_MAX_ROLES, sizeof(*roles));
	Ls__CheckResult **findings = NULL;
	size_t i, nfind;

	if (nc == NULL || ncp == NULL || roles == NULL) {
		send_error(fo->cc, LS_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < fo->n; i++) {
		struct coord_node *n = fo->nodes[i];
		Ls__OpResult *r = w->results[i];
		size_t k;

		ls__node_check__init(&nc[i]);
		ncp[i] = &nc[i];
		nc[i].node = n->name;
		nc[i].roles = roles + i * COORD_MAX_ROLES;
		for (k = 0; k < n->nroles; k++)
			nc[i].roles[k] = n->roles[k];
		nc[i].n_roles = n->nroles;
		if (n->facts && n->facts->gitlab_version)
			nc[i].gitlab_version = n->facts->gitlab_version;
		if (r != NULL && r->status == 0 &&
		    r->kind_case == LS__OP_RESULT__KIND_CHECKS) {
			nc[i].answered = 1;
			nc[i].report = r->checks;
		} else if (r != NULL) {
			nc[i].answered = 1;
			nc[i].error = r->error ? r->error
			                       : (char *)ls_strerror(r->status);
		} else {
			nc[i].answered = 0;
			nc[i].error =
			    fo->errors[i]
			        ? fo->errors[i]
			        : "did not answer before the deadline";
		}
	}
	nfind = coord_admin_fleet_findings(c, &findings);
	cr.n_nodes = fo->n;
	cr.nodes = ncp;
	cr.n_fleet = nfind;
	cr.fleet = findings;
	resp.status = 0;
	resp.kind_case = LS__CONTROL_RESP__KIND_CHECK;
	resp.check = &cr;
	send_resp(fo->cc, &resp);
	coord_admin_findings_free(findings, nfind);
out:
	free(nc);
	free(ncp);
	free(roles);
	fanout_free(fo);
	coord_waiter_free(w);
}

static void ping_done(struct coord *c, struct coord_waiter *w)
{
	struct fanout *fo = w->arg;
	Ls__ControlResp resp = LS__CONTROL_RESP__INIT;
	Ls__PingResp pr = LS__PING_RESP__INIT;
	Ls__NodePing *np = calloc(fo->n ? fo->n : 1, sizeof(*np));
	Ls__NodePing **npp = calloc(fo->n ? fo->n : 1, sizeof(*npp));
	size_t i;

	if (np == NULL || npp == NULL) {
		send_error(fo->cc, LS_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < fo->n; i++) {
		ls__node_ping__init(&np[i]);
		npp[i] = &np[i];
		np[i].node = fo->nodes[i]->name;
		if (w->results[i] != NULL) {
			np[i].answered = 1;
			np[i].has_rtt_us = 1;
			np[i].rtt_us = (uint64_t)w->rtt_us[i];
		} else {
			np[i].error =
			    fo->errors[i]
			        ? fo->errors[i]
			        : "did not answer before the deadline";
		}
	}
	pr.n_nodes = fo->n;
	pr.nodes = npp;
	resp.kind_case = LS__CONTROL_RESP__KIND_PING;
	resp.ping = &pr;
	send_resp(fo->cc, &resp);
out:
	free(np);
	free(npp);
	fanout_free(fo);
	coord_waiter_free(w);
}

static void start_fanout(struct control_ctx *cc, int kind, uint64_t timeout_ms)
{
	struct coord *c = cc->c;
	struct fanout *fo = calloc(1, sizeof(*fo));
	struct coord_waiter *w = NULL;
	int64_t now_ms = coord_now_us() / 1000;
	size_t i, n = 0;

	if (fo == NULL)
		goto nomem;
	fo->cc = cc;
	fo->kind = kind;
	fo->nodes = calloc(c->nnodes ? c->nnodes : 1, sizeof(*fo->nodes));
	fo->errors = calloc(c->nnodes ? c->nnodes : 1, sizeof(*fo->errors));
	if (fo->nodes == NULL || fo->errors == NULL)
		goto nomem;
	for (i = 0; i < c->nnodes; i++)
		if (c->nodes[i]->enrolled && !c->nodes[i]->removed)
			fo->nodes[n++] = c->nodes[i];
	fo->n = n;
	if (timeout_ms == 0)
		timeout_ms = (uint64_t)c->cfg->check_timeout;
	w = coord_waiter_new(
	    c, n, (int64_t)timeout_ms,
	    kind == LS__CONTROL_REQ__KIND_CHECK ? check_done : ping_done, fo);
	if (w == NULL)
		goto nomem;
	w->arg_free = fanout_free;
	cc->waiting = 1;
	for (i = 0; i < n; i++) {
		struct coord_node *nd = fo->nodes[i];
		Ls__Operation op = LS__OPERATION__INIT;
		Ls__RunChecks rc = LS__RUN_CHECKS__INIT;
		Ls__NoOp noop = LS__NO_OP__INIT;
		char *roles[COORD_MAX_ROLES];
		size_t r;

		if (!coord_node_connected(c, nd, now_ms)) {
			char buf[128];
			if (nd->last_seen)
				snprintf(buf, sizeof(buf),
				         "not connected (last seen %llds ago)",
				         (long long)(ls_now() - nd->last_seen));
			else
				snprintf(buf, sizeof(buf),
				         "not connected (never seen)");
			fo->errors[i] = strdup(buf);
			continue;
		}
		if (kind == LS__CONTROL_REQ__KIND_CHECK) {
			for (r = 0; r < nd->nroles; r++)
				roles[r] = nd->roles[r];
			rc.n_roles = nd->nroles;
			rc.roles = roles;
			op.kind_case = LS__OPERATION__KIND_RUN_CHECKS;
			op.run_checks = &rc;
		} else {
			op.kind_case = LS__OPERATION__KIND_NOOP;
			op.noop = &noop;
		}
		if (coord_op_enqueue(c, nd, &op, w, i) < 0)
			fo->errors[i] = strdup("cannot queue the operation");
	}
	coord_waiter_arm(c, w);
	return;
nomem:
	fanout_free(fo);
	send_error(cc, LS_ENOMEM, "out of memory");
}

static void do_status(struct control_ctx *cc)
{
	struct coord *c = cc->c;
	Ls__ControlResp resp = LS__CONTROL_RESP__INIT;
	Ls__StatusResp sr = LS__STATUS_RESP__INIT;
	Ls__FleetCounters fc = LS__FLEET_COUNTERS__INIT;
	Ls__NodeInfo *infos = calloc(c->nnodes ? c->nnodes : 1, sizeof(*infos));
	Ls__NodeInfo **ip = calloc(c->nnodes ? c->nnodes : 1, sizeof(*ip));
	int64_t now_ms = coord_now_us() / 1000;
	size_t i, n = 0;

	if (infos == NULL || ip == NULL) {
		send_error(cc, LS_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < c->nnodes; i++) {
		if (c->nodes[i]->removed)
			continue;
		coord_nodeinfo_fill(c, c->nodes[i], now_ms, &infos[n]);
		ip[n] = &infos[n];
		n++;
	}
	fc.dropped_undecodable = c->counters.dropped_undecodable;
	fc.dropped_oversize = c->counters.dropped_oversize;
	fc.rejected_signature = c->counters.rejected_signature;
	fc.rejected_unknown = c->counters.rejected_unknown;
	fc.rejected_removed = c->counters.rejected_removed;
	fc.rejected_replay = c->counters.rejected_replay;
	fc.messages = c->counters.messages;
	sr.n_nodes = n;
	sr.nodes = ip;
	sr.counters = &fc;
	sr.fleet_url = c->fleet_url;
	sr.poll_timeout_ms = (uint64_t)c->cfg->poll_timeout;
	sr.has_coordinator_sign_pk = 1;
	sr.coordinator_sign_pk.data = c->sign_pk;
	sr.coordinator_sign_pk.len = sizeof(c->sign_pk);
	resp.kind_case = LS__CONTROL_RESP__KIND_STATUS_RESP;
	resp.status_resp = &sr;
	send_resp(cc, &resp);
	for (i = 0; i < n; i++)
		coord_nodeinfo_clear(&infos[i]);
out:
	free(infos);
	free(ip);
}

static void do_backup_create(struct control_ctx *cc,
                             const Ls__BackupCreateReq *req)
{
	Ls__ControlResp resp = LS__CONTROL_RESP__INIT;
	Ls__BackupCreateResp br = LS__BACKUP_CREATE_RESP__INIT;
	char id[128], err[1024];
	int rv;

	err[0] = '\0';
	/* Both take their own backups, with coord_backup_start. */
	if (cc->c->upgrade != NULL || cc->c->cutover != NULL) {
		send_error(cc, LS_EBUSY,
		           cc->c->upgrade != NULL
		               ? "an upgrade is running: it takes a backup at "
		                 "each stop (lockstep run list)"
		               : "a cutover is running: it takes its own "
		                 "backup (lockstep run list)");
		return;
	}
	rv = coord_backup_start(cc->c, req, id, sizeof(id), err, sizeof(err));
	if (rv < 0) {
		send_error(cc, rv, err[0] ? err : ls_strerror(rv));
		return;
	}
	br.backup_id = id;
	resp.kind_case = LS__CONTROL_RESP__KIND_BACKUP_CREATE;
	resp.backup_create = &br;
	send_resp(cc, &resp);
}

static void do_backup_list(struct control_ctx *cc)
{
	Ls__ControlResp resp = LS__CONTROL_RESP__INIT;
	Ls__BackupListResp lr = LS__BACKUP_LIST_RESP__INIT;
	Ls__BackupInfo **l = NULL;
	size_t n = 0;

	if (coord_catalog_list(cc->c->db, &l, &n) < 0) {
		send_error(cc, LS_EDB, "cannot read the backup catalog");
		return;
	}
	lr.n_backups = n;
	lr.backups = l;
	resp.kind_case = LS__CONTROL_RESP__KIND_BACKUP_LIST;
	resp.backup_list = &lr;
	send_resp(cc, &resp);
	coord_catalog_free(l, n);
}

/* lockstep backup verify's outcome, kept for the upgrade plan. */
static void do_backup_verified(struct control_ctx *cc,
                               const Ls__BackupVerifiedReq *v)
{
	Ls__ControlResp resp = LS__CONTROL_RESP__INIT;
	char err[300];
	int rv = coord_catalog_verified(cc->c->db, v->id, v->ok, ls_now());

	if (rv < 0) {
		snprintf(err, sizeof(err), "%s",
		         rv == LS_ENOENT ? "no such backup in the catalog"
		                         : "cannot write the catalog");
		send_error(cc, rv, err);
		return;
	}
	send_resp(cc, &resp);
}

static void do_backup_show(struct control_ctx *cc, const char *id)
{
	Ls__ControlResp resp = LS__CONTROL_RESP__INIT;
	Ls__BackupInfo *b = NULL;
	char err[300];
	int rv = coord_backup_info(cc->c, id, &b);

	if (rv < 0) {
		snprintf(err, sizeof(err), "no backup with id '%s'", id);
		send_error(cc, LS_ENOENT, err);
		return;
	}
	resp.kind_case = LS__CONTROL_RESP__KIND_BACKUP_SHOW;
	resp.backup_show = b;
	send_resp(cc, &resp);
	if (rv == 0)
		ls__backup_info__free_unpacked(b, NULL);
	else
		coord_catalog_info_free(b);
}

/* The import's thread answers when it is done (coord_import.h). */
static void import_done(struct coord *c, void *arg, Ls__ControlResp *resp)
{
	send_resp(arg, resp);
}

static void dispatch(struct control_ctx *cc, nng_msg *in)
{
	struct coord *c = cc->c;
	Ls__ControlReq *req;
	Ls__ControlResp resp = LS__CONTROL_RESP__INIT;
	Ls__NodeAddResp nar = LS__NODE_ADD_RESP__INIT;
	char err[512];
	char *token = NULL;
	int64_t expires = 0;
	int rv;

	if (nng_msg_len(in) > CONTROL_MAX_MSG ||
	    (req = ls__control_req__unpack(NULL, nng_msg_len(in),
	                                   nng_msg_body(in))) == NULL) {
		send_error(cc, LS_EPROTO, "malformed control request");
		return;
	}
	err[0] = '\0';
	switch (req->kind_case) {
	case LS__CONTROL_REQ__KIND_NODE_ADD:
		rv = coord_admin_node_add(c, req->node_add, &token, &expires,
		                          err, sizeof(err));
		if (rv < 0) {
			send_error(cc, rv, err);
			break;
		}
		nar.token = token;
		nar.expires = (uint64_t)expires;
		resp.kind_case = LS__CONTROL_RESP__KIND_NODE_ADD;
		resp.node_add = &nar;
		send_resp(cc, &resp);
		ls_wipe(token, strlen(token));
		free(token);
		break;
	case LS__CONTROL_REQ__KIND_NODE_REMOVE:
		rv = coord_admin_node_remove(c, req->node_remove->name, err,
		                             sizeof(err));
		if (rv < 0)
			send_error(cc, rv, err);
		else
			send_resp(cc, &resp);
		break;
	case LS__CONTROL_REQ__KIND_STATUS:
		do_status(cc);
		break;
	case LS__CONTROL_REQ__KIND_CHECK:
		start_fanout(cc, LS__CONTROL_REQ__KIND_CHECK,
		             req->check->has_timeout_ms ? req->check->timeout_ms
		                                        : 0);
		break;
	case LS__CONTROL_REQ__KIND_BACKUP_CREATE:
		do_backup_create(cc, req->backup_create);
		break;
	case LS__CONTROL_REQ__KIND_BACKUP_LIST:
		do_backup_list(cc);
		break;
	case LS__CONTROL_REQ__KIND_BACKUP_PRUNE: {
		Ls__BackupPruneResp pr = LS__BACKUP_PRUNE_RESP__INIT;

		rv = coord_prune(c, req->backup_prune, &pr, err, sizeof(err));
		if (rv < 0) {
			send_error(cc, rv, err);
		} else {
			resp.kind_case = LS__CONTROL_RESP__KIND_BACKUP_PRUNE;
			resp.backup_prune = &pr;
			send_resp(cc, &resp);
		}
		coord_prune_resp_free(&pr);
		break;
	}
	case LS__CONTROL_REQ__KIND_BACKUP_SHOW:
		do_backup_show(cc, req->backup_show->id);
		break;
	case LS__CONTROL_REQ__KIND_BACKUP_VERIFIED:
		do_backup_verified(cc, req->backup_verified);
		break;
	/* Restore and drill read the backup back first: they answer from
	 * their own thread (coord_control_reply). */
	case LS__CONTROL_REQ__KIND_RESTORE:
		cc->waiting = 1;
		coord_restore_request(c, cc, req->restore);
		break;
	case LS__CONTROL_REQ__KIND_BACKUP_DRILL:
		cc->waiting = 1;
		coord_drill_request(c, cc, req->backup_drill);
		break;
	case LS__CONTROL_REQ__KIND_ROLLBACK:
		cc->waiting = 1;
		coord_rollback_request(c, cc, req->rollback);
		break;
	case LS__CONTROL_REQ__KIND_UPGRADE:
		/* Answered once every node has listed its packages. */
		cc->waiting = 1;
		coord_upgrade_request(c, cc, req->upgrade);
		break;
	case LS__CONTROL_REQ__KIND_CUTOVER:
		coord_cutover_request(c, cc, req->cutover);
		break;
	case LS__CONTROL_REQ__KIND_RUN_RESUME:
		coord_restore_resume(c, cc, req->run_resume);
		break;
	case LS__CONTROL_REQ__KIND_RUN_LIST:
		coord_run_list(c, cc);
		break;
	case LS__CONTROL_REQ__KIND_RUN_SHOW:
		coord_run_show(c, cc, req->run_show->id);
		break;
	case LS__CONTROL_REQ__KIND_KEYS_EXPORT: {
		Ls__KeysExportResp kr = LS__KEYS_EXPORT_RESP__INIT;

		/* Only over the 0600 control socket, to the coordinator's
		 * own user; never logged. */
		kr.secret_key.data = c->backup_sk;
		kr.secret_key.len = sizeof(c->backup_sk);
		kr.public_key.data = c->backup_pk;
		kr.public_key.len = sizeof(c->backup_pk);
		resp.kind_case = LS__CONTROL_RESP__KIND_KEYS_EXPORT;
		resp.keys_export = &kr;
		log_info("control: the backup private key was exported");
		send_resp(cc, &resp);
		break;
	}
	case LS__CONTROL_REQ__KIND_BACKUP_IMPORT:
		cc->waiting = 1;
		rv = coord_import_start(c, req->backup_import, import_done, cc,
		                        err, sizeof(err));
		if (rv < 0)
			send_error(cc, rv, err);
		break;
	case LS__CONTROL_REQ__KIND_MAINTENANCE:
		/* Answered once the rails node has. */
		cc->waiting = 1;
		coord_maint_request(c, cc, req->maintenance);
		break;
	case LS__CONTROL_REQ__KIND_REGISTRY_MIGRATE:
		/* Answered once the node has run the migrations. */
		cc->waiting = 1;
		coord_registry_request(c, cc, req->registry_migrate);
		break;
	case LS__CONTROL_REQ__KIND_PING:
		start_fanout(cc, LS__CONTROL_REQ__KIND_PING,
		             req->ping->has_timeout_ms ? req->ping->timeout_ms
		                                       : 10000);
		break;
	default:
		send_error(cc, LS_EPROTO, "unknown control request");
		break;
	}
	ls__control_req__free_unpacked(req, NULL);
}

static void control_cb(void *arg)
{
	struct control_ctx *cc = arg;
	struct coord *c = cc->c;
	int rv = nng_aio_result(cc->aio);
	nng_msg *in;

	pthread_mutex_lock(&c->mtx);
	if (cc->sending) {
		cc->sending = 0;
		if (rv != 0)
			nng_msg_free(nng_aio_get_msg(cc->aio));
		if (!c->stopping)
			nng_ctx_recv(cc->ctx, cc->aio);
		goto out;
	}
	if (rv != 0) {
		if (rv != NNG_ECLOSED && !c->stopping)
			nng_ctx_recv(cc->ctx, cc->aio);
		goto out;
	}
	in = nng_aio_get_msg(cc->aio);
	dispatch(cc, in);
	nng_msg_free(in);
out:
	pthread_mutex_unlock(&c->mtx);
}

int coord_control_start(struct coord *c)
{
	char url[LS_PATH_MAX + 8];
	nng_listener l;
	int rv, i;

	if ((rv = ls_fmt(url, sizeof(url), "ipc://%s",
	                 c->cfg->control_socket)) < 0)
		return rv;
	if ((rv = nng_rep0_open(&c->control_sock)) != 0)
		return ls_from_nng(rv);
	nng_socket_set_size(c->control_sock, NNG_OPT_RECVMAXSZ,
	                    CONTROL_MAX_MSG);
	/* A socket left by a coordinator that died would block the bind. */
	unlink(c->cfg->control_socket);
	if ((rv = nng_listener_create(&l, c->control_sock, url)) != 0 ||
	    (rv = nng_listener_set_int(l, NNG_OPT_IPC_PERMISSIONS, 0600)) !=
	        0 ||
	    (rv = nng_listener_start(l, 0)) != 0) {
		log_warnx("control: cannot listen on %s: %s", url,
		          nng_strerror(rv));
		return ls_from_nng(rv);
	}
	for (i = 0; i < CONTROL_CTX; i++) {
		struct control_ctx *cc = &control_ctxs[i];
		cc->c = c;
		if ((rv = nng_aio_alloc(&cc->aio, control_cb, cc)) != 0 ||
		    (rv = nng_ctx_open(&cc->ctx, c->control_sock)) != 0)
			return ls_from_nng(rv);
		nng_ctx_recv(cc->ctx, cc->aio);
	}
	log_info("control: listening on %s", url);
	return 0;
}

void coord_control_stop(struct coord *c)
{
	int i;

	for (i = 0; i < CONTROL_CTX; i++)
		if (control_ctxs[i].aio)
			nng_aio_stop(control_ctxs[i].aio);
	for (i = 0; i < CONTROL_CTX; i++) {
		if (control_ctxs[i].aio == NULL)
			continue;
		nng_ctx_close(control_ctxs[i].ctx);
		nng_aio_free(control_ctxs[i].aio);
		control_ctxs[i].aio = NULL;
	}
	nng_close(c->control_sock);
	unlink(c->cfg->control_socket);
}
