#include "agent_session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>
#include <nng/transport/tcp/tcp.h>

#include "agent_backup.h"
#include "agent_identity.h"
#include "agent_opstore.h"
#include "agent_restore.h"
#include "lockstep.pb-c.h"
#include "ls_error.h"
#include "ls_exec.h"
#include "ls_log.h"
#include "ls_nng.h"
#include "ls_util.h"

#define REPLY_WAIT_MS (10 * 60 * 1000)
#define SEND_WAIT_MS 5000
#define EXEC_OUT_MAX (16 * 1024 * 1024)

struct agent_session {
	const struct agent_config *cfg;
	char config_path[LS_PATH_MAX];
	char state_dir[LS_PATH_MAX];
	struct agent_identity id;
	struct ls_signer signer;
	nng_socket sock;
	int sock_open;
	Ls__NodeFacts *facts;
	int64_t facts_at_ms;
	/* An upgrade step may have changed the installed version: the next
	 * poll reports facts collected afresh. */
	int facts_stale;
	struct agent_backup *backup;
	/* Maintenance mode this agent turned on and must turn off when the
	 * lease ends, unless the coordinator does first. */
	int lease_active;
	int64_t lease_deadline_ms;
	int64_t progress_sent_ms;
	volatile int stop;
};

int agent_session_new(struct agent_session **sp, const struct agent_config *cfg,
                      const char *config_path, const char *state_dir)
{
	struct agent_session *s = calloc(1, sizeof(*s));
	int rv;

	*sp = NULL;
	if (s == NULL)
		return LS_ENOMEM;
	s->cfg = cfg;
	ls_strlcpy(s->config_path, config_path, sizeof(s->config_path));
	ls_strlcpy(s->state_dir, state_dir ? state_dir : cfg->state_dir,
	           sizeof(s->state_dir));
	if ((rv = agent_identity_load(s->state_dir, &s->id)) < 0) {
		free(s);
		return rv;
	}
	ls_strlcpy(s->signer.node, s->id.node, sizeof(s->signer.node));
	memcpy(s->signer.sk, s->id.sign_sk, LS_SIGN_SK_LEN);
	*sp = s;
	return 0;
}

void agent_session_free(struct agent_session *s)
{
	if (s == NULL)
		return;
	if (s->facts)
		ls__node_facts__free_unpacked(s->facts, NULL);
	agent_backup_free(s->backup);
	agent_identity_clear(&s->id);
	ls_wipe(&s->signer, sizeof(s->signer));
	free(s);
}

void agent_session_stop(struct agent_session *s)
{
	s->stop = 1;
	if (s->sock_open)
		nng_close(s->sock);
}

static int new_session(struct agent_session *s)
{
	int rv = agent_session_next(s->state_dir, &s->signer.session);

	if (rv < 0)
		log_warnx("%s: cannot record a new session in %s: %s",
		          s->id.node, s->state_dir, ls_strerror(rv));
	s->signer.counter = 0;
	return rv;
}

/* Runs the executor with argv tail `what`, stdin `in`; stdout in res. */
static int run_exec(struct agent_session *s, const char *what,
                    const uint8_t *in, size_t inlen, int timeout_ms,
                    struct ls_exec_result *res)
{
	const char *argv[] = {s->cfg->exec_helper, "--config", s->config_path,
	                      what, NULL};
	struct ls_exec_opts o;

	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.stdin_data = in;
	o.stdin_len = inlen;
	o.max_stdout = EXEC_OUT_MAX;
	o.max_stderr = 64 * 1024;
	o.timeout_ms = timeout_ms;
	return ls_exec_run(&o, res);
}

static void refresh_facts(struct agent_session *s)
{
	struct ls_exec_result res;
	Ls__NodeFacts *f;
	int rv;

	if (s->facts != NULL && !s->facts_stale &&
	    ls_mono_ms() - s->facts_at_ms < s->cfg->facts_interval)
		return;
	s->facts_stale = 0;
	s->facts_at_ms = ls_mono_ms();
	rv = run_exec(s, "facts", NULL, 0, 60000, &res);
	if (rv < 0 || !res.exited || res.status != 0) {
		log_warnx("%s: collecting facts failed: %s%s%.200s", s->id.node,
		          rv < 0 ? ls_strerror(rv) : "executor failed",
		          res.err_len ? ": " : "", res.err ? res.err : "");
		ls_exec_result_free(&res);
		return;
	}
	f = ls__node_facts__unpack(NULL, res.out_len, res.out);
	ls_exec_result_free(&res);
	if (f == NULL) {
		log_warnx("%s: executor returned undecodable facts",
		          s->id.node);
		return;
	}
	if (s->facts)
		ls__node_facts__free_unpacked(s->facts, NULL);
	s->facts = f;
}

/*
 * One request/reply. The reply must be signed by the pinned coordinator
 * key and bound to this request's session and counter.
 */
static int request(struct agent_session *s, const Ls__AgentMsg *am,
                   Ls__CoordMsg **out)
{
	size_t plen = ls__agent_msg__get_packed_size(am), slen;
	uint8_t *packed = malloc(plen ? plen : 1), *sealed = NULL;
	Ls__Envelope *env = NULL;
	nng_msg *m = NULL;
	uint64_t counter;
	int rv;

	*out = NULL;
	if (packed == NULL)
		return LS_ENOMEM;
	ls__agent_msg__pack(am, packed);
	rv = ls_envelope_seal(&s->signer, packed, plen, &sealed, &slen);
	free(packed);
	if (rv < 0)
		return rv;
	counter = s->signer.counter;
	if ((rv = nng_msg_alloc(&m, 0)) != 0 ||
	    (rv = nng_msg_append(m, sealed, slen)) != 0) {
		nng_msg_free(m);
		free(sealed);
		return ls_from_nng(rv);
	}
	free(sealed);
	if ((rv = nng_sendmsg(s->sock, m, 0)) != 0) {
		nng_msg_free(m);
		return ls_from_nng(rv);
	}
	if ((rv = nng_recvmsg(s->sock, &m, 0)) != 0)
		return rv == NNG_ECLOSED ? LS_ESTATE : ls_from_nng(rv);
	rv = ls_envelope_open(nng_msg_body(m), nng_msg_len(m),
	                      s->cfg->max_message_size, &env);
	if (rv == 0 && (strcmp(env->node, LS_COORD_NODE) != 0 ||
	                ls_envelope_verify(env, s->id.coord_pk) < 0))
		rv = LS_EAUTH;
	if (rv == 0) {
		*out =
		    ls__coord_msg__unpack(NULL, env->body.len, env->body.data);
		if (*out == NULL)
			rv = LS_EPROTO;
		else if ((*out)->reply_session != s->signer.session ||
		         (*out)->reply_counter != counter) {
			ls__coord_msg__free_unpacked(*out, NULL);
			*out = NULL;
			rv = LS_EREPLAY;
		}
	}
	if (rv < 0)
		log_warnx("%s: ignoring a reply: %s (not signed by the pinned "
		          "coordinator key, or not for this request)",
		          s->id.node, ls_strerror(rv));
	if (env)
		ls__envelope__free_unpacked(env, NULL);
	nng_msg_free(m);
	return rv;
}

static int pack_result(const Ls__OpResult *r, uint8_t **res, size_t *reslen)
{
	*reslen = ls__op_result__get_packed_size(r);
	if ((*res = malloc(*reslen ? *reslen : 1)) == NULL)
		return LS_ENOMEM;
	ls__op_result__pack(r, *res);
	return 0;
}

/* Forwards a long operation's progress; the answer only acknowledges. */
static void forward_progress(void *arg, const Ls__Progress *p)
{
	struct agent_session *s = arg;
	Ls__AgentMsg am = LS__AGENT_MSG__INIT;
	Ls__CoordMsg *reply = NULL;
	int64_t now = ls_mono_ms();

	/* Counters may be thinned out; output lines (a KubeRestore's
	 * backup-utility) come once and go into the run's log. */
	if (p->n_lines == 0 && now - s->progress_sent_ms < 500)
		return;
	s->progress_sent_ms = now;
	am.kind_case = LS__AGENT_MSG__KIND_PROGRESS;
	am.progress = (Ls__Progress *)p;
	nng_socket_set_ms(s->sock, NNG_OPT_RECVTIMEO, 10000);
	if (request(s, &am, &reply) == 0)
		ls__coord_msg__free_unpacked(reply, NULL);
}

/* Produces the packed OpResult for op, running it at most once. */
static int perform(struct agent_session *s, const Ls__Operation *op,
                   uint8_t **res, size_t *reslen)
{
	Ls__OpResult r = LS__OP_RESULT__INIT;
	struct ls_exec_result ex;
	size_t olen;
	uint8_t *obuf;
	char err[256];
	int held = 0; /* maintenance mode on under a lease of ours */
	int maint_query;
	int rv;

	if (agent_opstore_get(s->state_dir, op->id, res, reslen) == 0) {
		log_info("%s: operation %llu already ran; answering from the "
		         "store",
		         s->id.node, (unsigned long long)op->id);
		return 0;
	}
	r.op_id = op->id;
	/* An upgrade step may change the version; a check carries facts of
	 * its own, newer than ours: either way the next poll must not send
	 * older ones after it. */
	if (op->kind_case == LS__OPERATION__KIND_UPGRADE_ACTION ||
	    op->kind_case == LS__OPERATION__KIND_RUN_CHECKS)
		s->facts_stale = 1;
	if (op->kind_case == LS__OPERATION__KIND_BACKUP_CUT ||
	    op->kind_case == LS__OPERATION__KIND_BACKUP_COPY ||
	    op->kind_case == LS__OPERATION__KIND_BACKUP_RELEASE) {
		if (s->backup == NULL &&
		    (s->backup = agent_backup_new(s->cfg, s->config_path,
		                                  forward_progress, s)) == NULL)
			return LS_ENOMEM;
		if ((rv = agent_backup_perform(s->backup, op, res, reslen)) < 0)
			return rv;
		goto store;
	}
	if (agent_restore_handles(op)) {
		if ((rv = agent_restore_perform(s->cfg, s->config_path, op,
		                                forward_progress, s, res,
		                                reslen)) < 0)
			return rv;
		goto store;
	}
	if (op->kind_case == LS__OPERATION__KIND_NOOP) {
		/* Running a no-op twice is harmless: not worth an fsync. */
		r.status = 0;
		return pack_result(&r, res, reslen);
	}
	/* A query (lockstep maintenance status) only reads: it neither
	 * starts nor ends a lease. */
	maint_query = op->kind_case == LS__OPERATION__KIND_MAINTENANCE &&
	              op->maintenance->has_query && op->maintenance->query;
	if (op->kind_case == LS__OPERATION__KIND_MAINTENANCE && !maint_query &&
	    op->maintenance->on && op->maintenance->has_lease_ms) {
		/* Before the call: maintenance mode turns on during it. */
		held = s->lease_active;
		s->lease_active = 1;
		s->lease_deadline_ms = ls_mono_ms() + op->maintenance->lease_ms;
	}
	olen = ls__operation__get_packed_size(op);
	if ((obuf = malloc(olen ? olen : 1)) == NULL)
		return LS_ENOMEM;
	ls__operation__pack(op, obuf);
	rv = run_exec(s, "op", obuf, olen, (int)s->cfg->op_timeout, &ex);
	free(obuf);
	if (rv == 0 && ex.exited && ex.status == 0) {
		Ls__OpResult *got =
		    ls__op_result__unpack(NULL, ex.out_len, ex.out);
		if (got != NULL && got->op_id == op->id && held &&
		    got->kind_case == LS__OP_RESULT__KIND_MAINTENANCE &&
		    got->maintenance != NULL && got->maintenance->was_on) {
			/* On only under our lease that nobody ended: its
			 * coordinator went away (a restart mid-freeze). The
			 * new holder takes the lease over and must turn the
			 * mode off, so it was not on before it. */
			got->maintenance->was_on = 0;
			free(ex.out);
			ex.out = NULL;
			if ((rv = pack_result(got, &ex.out, &ex.out_len)) < 0) {
				ls__op_result__free_unpacked(got, NULL);
				ls_exec_result_free(&ex);
				return rv;
			}
		} else if (got != NULL && got->op_id == op->id &&
		           !maint_query &&
		           got->kind_case == LS__OP_RESULT__KIND_MAINTENANCE &&
		           got->maintenance != NULL &&
		           (got->maintenance->was_on ||
		            (!op->maintenance->on && got->status == 0))) {
			/* Already on before us, or turned off: no lease. */
			s->lease_active = 0;
		}
		if (got != NULL && got->op_id == op->id) {
			*res = ex.out;
			*reslen = ex.out_len;
			ex.out = NULL;
			ls__op_result__free_unpacked(got, NULL);
			ls_exec_result_free(&ex);
			goto store;
		}
		if (got)
			ls__op_result__free_unpacked(got, NULL);
		rv = LS_EPROTO;
	}
	snprintf(err, sizeof(err), "executor %s: %s%s%.180s",
	         s->cfg->exec_helper,
	         rv < 0 ? ls_strerror(rv) : "exited with failure",
	         ex.err_len ? ": " : "", ex.err ? ex.err : "");
	ls_exec_result_free(&ex);
	log_warnx("%s: operation %llu: %s", s->id.node,
	          (unsigned long long)op->id, err);
	r.status = rv < 0 ? rv : LS_ECHILD;
	r.error = err;
	if ((rv = pack_result(&r, res, reslen)) < 0)
		return rv;
store:
	if ((rv = agent_opstore_put(s->state_dir, op->id, *res, *reslen)) < 0)
		log_warnx("%s: cannot store the result of operation %llu: %s",
		          s->id.node, (unsigned long long)op->id,
		          ls_strerror(rv));
	return 0;
}

static void pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct agent_session *s = arg;

	if (ev == NNG_PIPE_EV_ADD_POST)
		log_info("%s: connected to %s", s->id.node, s->id.fleet_url);
	else if (ev == NNG_PIPE_EV_REM_POST && !s->stop)
		log_warnx("%s: connection to %s lost; redialing", s->id.node,
		          s->id.fleet_url);
}

static int open_channel(struct agent_session *s)
{
	nng_tls_config *tls = NULL;
	int rv;

	if ((rv = nng_req0_open(&s->sock)) != 0)
		return ls_from_nng(rv);
	s->sock_open = 1;
	if ((rv = ls_nng_socket_limits(s->sock, s->cfg->max_message_size,
	                               (int)s->cfg->reconnect_min,
	                               (int)s->cfg->reconnect_max)) < 0)
		return rv;
	nng_socket_set_ms(s->sock, NNG_OPT_RECVTIMEO, REPLY_WAIT_MS);
	nng_socket_set_ms(s->sock, NNG_OPT_SENDTIMEO, SEND_WAIT_MS);
	/* A held poll must not be resent: the coordinator would see a
	 * replayed counter. */
	nng_socket_set_ms(s->sock, NNG_OPT_REQ_RESENDTIME,
	                  NNG_DURATION_INFINITE);
	nng_socket_set_bool(s->sock, NNG_OPT_TCP_KEEPALIVE, true);
	nng_pipe_notify(s->sock, NNG_PIPE_EV_ADD_POST, pipe_cb, s);
	nng_pipe_notify(s->sock, NNG_PIPE_EV_REM_POST, pipe_cb, s);
	rv = ls_nng_tls_client(&tls, (const char *)s->id.ca_pem.data,
	                       (const char *)s->id.cert_pem.data,
	                       (const char *)s->id.key_pem.data,
	                       s->id.server_name);
	if (rv < 0)
		return rv;
	rv = ls_nng_dial_tls(s->sock, s->id.fleet_url, tls, NULL);
	nng_tls_config_free(tls);
	return rv;
}

/*
 * The coordinator went silent past the lease: maintenance mode goes off so
 * that a crash never leaves GitLab frozen.
 */
static void lease_expired(struct agent_session *s)
{
	Ls__Operation op = LS__OPERATION__INIT;
	Ls__Maintenance m = LS__MAINTENANCE__INIT;
	struct ls_exec_result ex;
	uint8_t buf[64];
	size_t len;
	int rv;

	log_warnx("%s: the maintenance-mode lease ended without word from the "
	          "coordinator; turning maintenance mode off",
	          s->id.node);
	m.on = 0;
	op.kind_case = LS__OPERATION__KIND_MAINTENANCE;
	op.maintenance = &m;
	len = ls__operation__pack(&op, buf);
	rv = run_exec(s, "op", buf, len, 60000, &ex);
	if (rv == 0 && ex.exited && ex.status == 0) {
		Ls__OpResult *r =
		    ls__op_result__unpack(NULL, ex.out_len, ex.out);
		if (r != NULL && r->status == 0) {
			s->lease_active = 0;
			log_info("%s: maintenance mode is off", s->id.node);
		} else {
			log_warnx("%s: turning maintenance mode off failed: "
			          "%s; retrying",
			          s->id.node,
			          r && r->error ? r->error : "no result");
		}
		if (r)
			ls__op_result__free_unpacked(r, NULL);
	}
	if (s->lease_active)
		s->lease_deadline_ms = ls_mono_ms() + 5000;
	ls_exec_result_free(&ex);
}

/* Handles a rejection; returns an exit status, or -1 to carry on. */
static int on_reject(struct agent_session *s, const Ls__Reject *rj)
{
	switch (rj->code) {
	case LS_EREMOVED:
		log_warnx("%s: the coordinator rejected us: %s; stopping",
		          s->id.node, rj->reason);
		return AGENT_EXIT_REMOVED;
	case LS_EUNKNOWN:
	case LS_EAUTH:
		log_warnx("%s: the coordinator does not accept this identity "
		          "(%s); join again with a new token",
		          s->id.node, rj->reason);
		return AGENT_EXIT_REJECTED;
	case LS_ESESSION:
	case LS_EREPLAY:
		log_info("%s: starting a new session (%s)", s->id.node,
		         rj->reason);
		new_session(s);
		return -1;
	default:
		log_warnx("%s: the coordinator rejected a message: %s",
		          s->id.node, rj->reason);
		nng_msleep(1000);
		return -1;
	}
}

int agent_session_run(struct agent_session *s)
{
	Ls__AgentMsg am = LS__AGENT_MSG__INIT;
	Ls__Poll poll = LS__POLL__INIT;
	Ls__OpResult *pending = NULL;
	int status = AGENT_EXIT_FAIL, rv;

	if ((rv = open_channel(s)) < 0) {
		log_warnx("%s: cannot dial %s: %s", s->id.node, s->id.fleet_url,
		          ls_strerror(rv));
		goto out;
	}
	if (new_session(s) < 0)
		goto out;
	log_info("%s: agent running (session %llu), coordinator %s", s->id.node,
	         (unsigned long long)s->signer.session, s->id.fleet_url);
	while (!s->stop) {
		Ls__CoordMsg *reply = NULL;

		if (pending != NULL) {
			am.kind_case = LS__AGENT_MSG__KIND_RESULT;
			am.result = pending;
		} else {
			refresh_facts(s);
			poll.facts = s->facts;
			am.kind_case = LS__AGENT_MSG__KIND_POLL;
			am.poll = &poll;
		}
		if (s->lease_active) {
			int64_t left = s->lease_deadline_ms - ls_mono_ms();
			nng_socket_set_ms(s->sock, NNG_OPT_RECVTIMEO,
			                  left < 100             ? 100
			                  : left > REPLY_WAIT_MS ? REPLY_WAIT_MS
			                                         : (int)left);
		} else {
			nng_socket_set_ms(s->sock, NNG_OPT_RECVTIMEO,
			                  REPLY_WAIT_MS);
		}
		rv = request(s, &am, &reply);
		if (rv == LS_ESTATE || s->stop)
			break;
		if (s->lease_active && ls_mono_ms() >= s->lease_deadline_ms)
			lease_expired(s);
		if (rv < 0) {
			/* Timeouts while disconnected are expected; the dialer
			 * backs off on its own. */
			if (rv != LS_ETIMEDOUT)
				nng_msleep(500);
			continue;
		}
		switch (reply->kind_case) {
		case LS__COORD_MSG__KIND_IDLE:
			break;
		case LS__COORD_MSG__KIND_ACK:
			if (pending) {
				ls__op_result__free_unpacked(pending, NULL);
				pending = NULL;
			}
			break;
		case LS__COORD_MSG__KIND_REJECT:
			rv = on_reject(s, reply->reject);
			if (rv >= 0) {
				status = rv;
				ls__coord_msg__free_unpacked(reply, NULL);
				goto out;
			}
			break;
		case LS__COORD_MSG__KIND_OP: {
			uint8_t *res = NULL;
			size_t reslen = 0;

			if (pending) {
				ls__op_result__free_unpacked(pending, NULL);
				pending = NULL;
			}
			if (perform(s, reply->op, &res, &reslen) == 0)
				pending =
				    ls__op_result__unpack(NULL, reslen, res);
			free(res);
			break;
		}
		default:
			log_warnx("%s: unknown reply kind %d", s->id.node,
			          reply->kind_case);
			break;
		}
		ls__coord_msg__free_unpacked(reply, NULL);
	}
	status = AGENT_EXIT_OK;
out:
	if (pending)
		ls__op_result__free_unpacked(pending, NULL);
	if (s->sock_open) {
		s->sock_open = 0;
		nng_close(s->sock);
	}
	return status;
}
