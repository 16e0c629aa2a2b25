/*
 * The fleet listener: rep0 contexts over mutual TLS. A context that
 * receives a Poll with nothing to do is parked (its reply withheld) until an
 * operation is queued for that node or the poll timeout passes; new
 * contexts are added so that enough are always receiving.
 */
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "coord_db.h"
#include "coord_state.h"
#include "ls_error.h"
#include "ls_log.h"
#include "ls_nng.h"
#include "ls_util.h"

#define FLEET_MIN_RECEIVING 8
#define FLEET_MAX_CTX 65536
#define FLEET_CAP_SLACK (1024 * 1024)

enum { FC_RECV, FC_PARKED, FC_SENDING };

struct fleet_ctx {
	struct coord *c;
	nng_ctx ctx;
	nng_aio *aio;
	int state;
	struct coord_node *node; /* while parked */
	uint64_t req_session, req_counter;
};

static void fctx_cb(void *arg);

static void fctx_recv(struct fleet_ctx *f)
{
	f->state = FC_RECV;
	f->c->nfctx_receiving++;
	nng_ctx_recv(f->ctx, f->aio);
}

static int fctx_add(struct coord *c)
{
	struct fleet_ctx *f;
	int rv;

	if (c->nfctx >= FLEET_MAX_CTX)
		return LS_EBUSY;
	if (c->nfctx == c->cap_fctx) {
		size_t cap = c->cap_fctx ? c->cap_fctx * 2 : 32;
		struct fleet_ctx **n = realloc(c->fctxs, cap * sizeof(*n));
		if (n == NULL)
			return LS_ENOMEM;
		c->fctxs = n;
		c->cap_fctx = cap;
	}
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return LS_ENOMEM;
	f->c = c;
	if ((rv = nng_aio_alloc(&f->aio, fctx_cb, f)) != 0) {
		free(f);
		return ls_from_nng(rv);
	}
	if ((rv = nng_ctx_open(&f->ctx, c->fleet_sock)) != 0) {
		nng_aio_free(f->aio);
		free(f);
		return ls_from_nng(rv);
	}
	c->fctxs[c->nfctx++] = f;
	fctx_recv(f);
	return 0;
}

/* Signs and sends body as the answer to the request f holds. */
static void fctx_reply(struct fleet_ctx *f, Ls__CoordMsg *body)
{
	struct coord *c = f->c;
	uint8_t *packed = NULL, *sealed = NULL;
	size_t plen, slen;
	nng_msg *msg = NULL;
	int rv;

	body->reply_session = f->req_session;
	body->reply_counter = f->req_counter;
	plen = ls__coord_msg__get_packed_size(body);
	packed = malloc(plen ? plen : 1);
	if (packed == NULL)
		goto fail;
	ls__coord_msg__pack(body, packed);
	if (ls_envelope_seal(&c->signer, packed, plen, &sealed, &slen) < 0)
		goto fail;
	if ((rv = nng_msg_alloc(&msg, 0)) != 0 ||
	    (rv = nng_msg_append(msg, sealed, slen)) != 0)
		goto fail;
	free(packed);
	free(sealed);
	f->state = FC_SENDING;
	f->node = NULL;
	nng_aio_set_msg(f->aio, msg);
	nng_ctx_send(f->ctx, f->aio);
	return;
fail:
	log_warnx("fleet: cannot build a reply");
	free(packed);
	free(sealed);
	nng_msg_free(msg);
	fctx_recv(f);
}

static void reply_kind(struct fleet_ctx *f, int kind)
{
	Ls__CoordMsg m = LS__COORD_MSG__INIT;
	Ls__Idle idle = LS__IDLE__INIT;
	Ls__Ack ack = LS__ACK__INIT;

	m.kind_case = kind;
	if (kind == LS__COORD_MSG__KIND_IDLE)
		m.idle = &idle;
	else
		m.ack = &ack;
	fctx_reply(f, &m);
}

static void reply_reject(struct fleet_ctx *f, int code, const char *reason)
{
	Ls__CoordMsg m = LS__COORD_MSG__INIT;
	Ls__Reject rj = LS__REJECT__INIT;

	rj.code = code;
	rj.reason = (char *)reason;
	m.kind_case = LS__COORD_MSG__KIND_REJECT;
	m.reject = &rj;
	fctx_reply(f, &m);
}

static void reply_op(struct fleet_ctx *f, struct coord_op *op)
{
	Ls__CoordMsg m = LS__COORD_MSG__INIT;
	Ls__Operation *o;

	o = ls__operation__unpack(NULL, op->packed_len, op->packed);
	if (o == NULL) {
		reply_kind(f, LS__COORD_MSG__KIND_IDLE);
		return;
	}
	op->sent = 1;
	m.kind_case = LS__COORD_MSG__KIND_OP;
	m.op = o;
	fctx_reply(f, &m);
	ls__operation__free_unpacked(o, NULL);
}

static void unpark(struct coord_node *n)
{
	if (n->parked != NULL) {
		n->parked->node = NULL;
		n->parked = NULL;
	}
}

void coord_fleet_kick(struct coord *c, struct coord_node *n)
{
	struct fleet_ctx *f = n->parked;

	if (f == NULL || n->ops == NULL)
		return;
	unpark(n);
	reply_op(f, n->ops);
}

void coord_fleet_reject_parked(struct coord *c, struct coord_node *n, int code,
                               const char *reason)
{
	struct fleet_ctx *f = n->parked;

	if (f == NULL)
		return;
	unpark(n);
	reply_reject(f, code, reason);
}

void coord_fleet_sweep(struct coord *c, int64_t now_ms)
{
	size_t i;

	for (i = 0; i < c->nnodes; i++) {
		struct coord_node *n = c->nodes[i];
		struct fleet_ctx *f = n->parked;

		if (f != NULL && now_ms >= n->parked_deadline_ms) {
			unpark(n);
			reply_kind(f, LS__COORD_MSG__KIND_IDLE);
		}
		/* An agent that comes back within a poll interval gets its
		 * operation again; one that does not fails it. */
		if (!n->pipe_alive && n->ops != NULL &&
		    now_ms - n->down_since_ms > c->cfg->poll_timeout)
			coord_ops_fail_node(c, n, LS_EIO,
			                    "the node disconnected during the "
			                    "operation and did not come back");
	}
}

/* Keeps a copy of a submessage by packing and unpacking it. */
static ProtobufCMessage *msg_copy(const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(len ? len : 1);
	ProtobufCMessage *copy;

	if (buf == NULL)
		return NULL;
	protobuf_c_message_pack(m, buf);
	copy = protobuf_c_message_unpack(m->descriptor, NULL, len, buf);
	free(buf);
	return copy;
}

static int facts_equal(const Ls__NodeFacts *a, const Ls__NodeFacts *b)
{
	size_t la, lb;
	uint8_t *ba, *bb;
	int eq = 0;

	if (a == NULL || b == NULL)
		return a == b;
	la = ls__node_facts__get_packed_size(a);
	lb = ls__node_facts__get_packed_size(b);
	if (la != lb)
		return 0;
	ba = malloc(la + 1);
	bb = malloc(lb + 1);
	if (ba && bb) {
		ls__node_facts__pack(a, ba);
		ls__node_facts__pack(b, bb);
		eq = memcmp(ba, bb, la) == 0;
	}
	free(ba);
	free(bb);
	return eq;
}

static void store_facts(struct coord *c, struct coord_node *n,
                        const Ls__NodeFacts *facts)
{
	Ls__NodeFacts *copy;

	if (facts == NULL || facts_equal(n->facts, facts))
		return;
	copy = (Ls__NodeFacts *)msg_copy(&facts->base);
	if (copy == NULL)
		return;
	if (n->facts)
		ls__node_facts__free_unpacked(n->facts, NULL);
	n->facts = copy;
	coord_db_node_report(c->db, n);
}

static void handle_poll(struct coord *c, struct fleet_ctx *f,
                        struct coord_node *n, Ls__Poll *poll, int64_t now_ms)
{
	if (poll->facts)
		store_facts(c, n, poll->facts);
	if (n->parked != NULL && n->parked != f) {
		/* The agent gave up on its older poll (reconnect). */
		struct fleet_ctx *old = n->parked;
		unpark(n);
		reply_kind(old, LS__COORD_MSG__KIND_IDLE);
	}
	if (n->ops != NULL) {
		/* The first op is either new or one the agent lost by
		 * restarting; agents dedupe on the id, so resend it. */
		reply_op(f, n->ops);
		return;
	}
	f->state = FC_PARKED;
	f->node = n;
	n->parked = f;
	n->parked_deadline_ms = now_ms + c->cfg->poll_timeout;
	while (c->nfctx_receiving < FLEET_MIN_RECEIVING)
		if (fctx_add(c) < 0)
			break;
}

/* Each line bounded and with control characters shown as '?': the text
 * comes from a tool on the node. */
static void log_progress_lines(const struct coord_node *n,
                               const Ls__Progress *p)
{
	char line[1100];
	size_t i, k;

	for (i = 0; i < p->n_lines && i < 200; i++) {
		const char *s = p->lines[i] ? p->lines[i] : "";
		for (k = 0; s[k] != '\0' && k + 1 < sizeof(line); k++)
			line[k] = (unsigned char)s[k] < 0x20 || s[k] == 0x7f
			              ? '?'
			              : s[k];
		line[k] = '\0';
		log_info("%s [op %llu %s]: %s", n->name,
		         (unsigned long long)p->op_id, p->component, line);
	}
}

static void handle_result(struct coord *c, struct fleet_ctx *f,
                          struct coord_node *n, Ls__AgentMsg *am)
{
	Ls__OpResult *res = am->result;

	am->result = NULL;
	am->kind_case = LS__AGENT_MSG__KIND__NOT_SET;
	if (res->facts)
		store_facts(c, n, res->facts);
	if (res->kind_case == LS__OP_RESULT__KIND_CHECKS && res->checks) {
		Ls__CheckReport *copy =
		    (Ls__CheckReport *)msg_copy(&res->checks->base);
		if (copy != NULL) {
			if (n->checks)
				ls__check_report__free_unpacked(n->checks,
				                                NULL);
			n->checks = copy;
			n->checks_at = ls_now();
			coord_db_node_report(c->db, n);
		}
	}
	coord_op_result(c, n, res);
	reply_kind(f, LS__COORD_MSG__KIND_ACK);
}

/* Logs the first few of a kind of event, then every 100th. */
static int log_worthy(uint64_t count)
{
	return count <= 10 || count % 100 == 0;
}

static void handle_msg(struct coord *c, struct fleet_ctx *f, nng_msg *msg)
{
	Ls__Envelope *env = NULL;
	Ls__AgentMsg *am = NULL;
	struct coord_node *n;
	size_t len = nng_msg_len(msg);
	int64_t now_ms = coord_now_us() / 1000;
	uint64_t old_session;
	int rv;

	c->counters.messages++;
	if (len > c->cfg->max_message_size) {
		c->counters.dropped_oversize++;
		if (log_worthy(c->counters.dropped_oversize))
			log_warnx(
			    "fleet: dropped a %zu-byte message over the "
			    "%llu-byte cap (%llu so far)",
			    len, (unsigned long long)c->cfg->max_message_size,
			    (unsigned long long)c->counters.dropped_oversize);
		fctx_recv(f);
		return;
	}
	rv = ls_envelope_open(nng_msg_body(msg), len, c->cfg->max_message_size,
	                      &env);
	if (rv < 0) {
		c->counters.dropped_undecodable++;
		if (log_worthy(c->counters.dropped_undecodable))
			log_warnx("fleet: dropped an undecodable %zu-byte "
			          "message (%llu so far)",
			          len,
			          (unsigned long long)
			              c->counters.dropped_undecodable);
		fctx_recv(f);
		return;
	}
	f->req_session = env->session;
	f->req_counter = env->counter;
	n = coord_node_find(c, env->node);
	if (n == NULL || !n->enrolled) {
		c->counters.rejected_unknown++;
		log_warnx("fleet: rejected message from node %s: unknown node",
		          env->node);
		reply_reject(f, LS_EUNKNOWN, "unknown node");
		goto out;
	}
	if (ls_envelope_verify(env, n->sign_pk) < 0) {
		c->counters.rejected_signature++;
		log_warnx("fleet: rejected message from node %s: bad signature "
		          "(not signed by the key enrolled for %s)",
		          env->node, env->node);
		reply_reject(f, LS_EAUTH, "bad signature");
		goto out;
	}
	if (n->removed) {
		c->counters.rejected_removed++;
		log_warnx("fleet: rejected message from node %s: node removed "
		          "from the fleet",
		          env->node);
		reply_reject(f, LS_EREMOVED, "node removed from the fleet");
		goto out;
	}
	old_session = n->replay.session;
	rv = ls_replay_check(&n->replay, env->session, env->counter);
	if (rv == LS_ESESSION) {
		log_info("fleet: node %s: asking for a new session", n->name);
		reply_reject(f, LS_ESESSION, "start a new session");
		goto out;
	}
	if (rv < 0) {
		c->counters.rejected_replay++;
		log_warnx("fleet: rejected message from node %s: replayed or "
		          "old counter (session %llu counter %llu; last seen "
		          "session %llu counter %llu)",
		          n->name, (unsigned long long)env->session,
		          (unsigned long long)env->counter,
		          (unsigned long long)n->replay.session,
		          (unsigned long long)n->replay.counter);
		reply_reject(f, LS_EREPLAY, "replayed or old message counter");
		goto out;
	}
	if (n->replay.session != old_session)
		coord_db_node_session(c->db, n->name, n->replay.session);
	if (!n->pipe_alive)
		log_info("fleet: node %s connected", n->name);
	n->last_seen = ls_now();
	n->pipe_id = nng_pipe_id(nng_msg_get_pipe(msg));
	n->pipe_alive = 1;
	am = ls__agent_msg__unpack(NULL, env->body.len, env->body.data);
	if (am == NULL) {
		c->counters.dropped_undecodable++;
		log_warnx("fleet: node %s sent an undecodable body", n->name);
		reply_reject(f, LS_EPROTO, "undecodable message body");
		goto out;
	}
	switch (am->kind_case) {
	case LS__AGENT_MSG__KIND_POLL:
		handle_poll(c, f, n, am->poll, now_ms);
		break;
	case LS__AGENT_MSG__KIND_RESULT:
		handle_result(c, f, n, am);
		break;
	case LS__AGENT_MSG__KIND_PROGRESS:
		/* A tool's output (backup-utility in a cutover's restore):
		 * into the coordinator's log, the run's log, line by line. */
		log_progress_lines(n, am->progress);
		/* Kept as it came: the unpacked message is ours now. */
		if (n->progress)
			ls__progress__free_unpacked(n->progress, NULL);
		n->progress = am->progress;
		n->progress_ms = now_ms;
		am->progress = NULL;
		am->kind_case = LS__AGENT_MSG__KIND__NOT_SET;
		reply_kind(f, LS__COORD_MSG__KIND_ACK);
		break;
	default:
		reply_reject(f, LS_EPROTO, "unknown message kind");
		break;
	}
out:
	if (am)
		ls__agent_msg__free_unpacked(am, NULL);
	ls__envelope__free_unpacked(env, NULL);
}

static void fctx_cb(void *arg)
{
	struct fleet_ctx *f = arg;
	struct coord *c = f->c;
	int rv = nng_aio_result(f->aio);
	nng_msg *msg;

	pthread_mutex_lock(&c->mtx);
	if (f->state == FC_SENDING) {
		if (rv != 0)
			nng_msg_free(nng_aio_get_msg(f->aio));
		if (!c->stopping)
			fctx_recv(f);
		goto out;
	}
	c->nfctx_receiving--;
	if (rv != 0) {
		if (rv != NNG_ECLOSED && !c->stopping) {
			log_warnx("fleet: receive: %s", nng_strerror(rv));
			fctx_recv(f);
		}
		goto out;
	}
	msg = nng_aio_get_msg(f->aio);
	handle_msg(c, f, msg);
	nng_msg_free(msg);
out:
	pthread_mutex_unlock(&c->mtx);
}

static void pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct coord *c = arg;
	uint32_t id = nng_pipe_id(p);
	size_t i;

	if (ev != NNG_PIPE_EV_REM_POST)
		return;
	pthread_mutex_lock(&c->mtx);
	for (i = 0; !c->stopping && i < c->nnodes; i++) {
		struct coord_node *n = c->nodes[i];
		if (!n->pipe_alive || n->pipe_id != id)
			continue;
		n->pipe_alive = 0;
		n->down_since_ms = coord_now_us() / 1000;
		log_info("fleet: node %s disconnected", n->name);
		coord_db_node_report(c->db, n);
		if (n->parked != NULL) {
			struct fleet_ctx *f = n->parked;
			unpark(n);
			/* Frees the context; the pipe is gone. */
			reply_kind(f, LS__COORD_MSG__KIND_IDLE);
		}
	}
	pthread_mutex_unlock(&c->mtx);
}

int coord_fleet_start(struct coord *c)
{
	nng_tls_config *tls = NULL;
	int rv, i;

	if ((rv = nng_rep0_open(&c->fleet_sock)) != 0)
		return ls_from_nng(rv);
	/* nng's own cap closes the connection without telling us; leave it
	 * some slack above ours so that most oversized messages reach
	 * handle_msg and are dropped and counted there. */
	if ((rv = ls_nng_socket_limits(c->fleet_sock,
	                               (size_t)c->cfg->max_message_size +
	                                   FLEET_CAP_SLACK,
	                               100, 1000)) < 0)
		return rv;
	nng_pipe_notify(c->fleet_sock, NNG_PIPE_EV_REM_POST, pipe_cb, c);
	rv = ls_nng_tls_server(&tls, (const char *)c->server_pem.data,
	                       (const char *)c->server_key_pem.data,
	                       (const char *)c->ca_pem.data);
	if (rv < 0)
		return rv;
	rv = ls_nng_listen_tls(c->fleet_sock, c->cfg->listen, tls, NULL);
	nng_tls_config_free(tls);
	if (rv < 0) {
		log_warnx("fleet: cannot listen on %s: %s", c->cfg->listen,
		          ls_strerror(rv));
		return rv;
	}
	pthread_mutex_lock(&c->mtx);
	for (i = 0; i < FLEET_MIN_RECEIVING * 2; i++)
		if ((rv = fctx_add(c)) < 0)
			break;
	pthread_mutex_unlock(&c->mtx);
	log_info("fleet: listening on %s", c->cfg->listen);
	return rv < 0 ? rv : 0;
}

void coord_fleet_stop(struct coord *c)
{
	size_t i;

	pthread_mutex_lock(&c->mtx);
	c->stopping = 1;
	/* The contexts are freed below: no node may still point at one (a
	 * pipe closing during nng_close would answer it). */
	for (i = 0; i < c->nnodes; i++)
		unpark(c->nodes[i]);
	pthread_mutex_unlock(&c->mtx);
	/* Contexts close before the socket (DESIGN §3). */
	for (i = 0; i < c->nfctx; i++)
		nng_aio_stop(c->fctxs[i]->aio);
	for (i = 0; i < c->nfctx; i++) {
		nng_ctx_close(c->fctxs[i]->ctx);
		nng_aio_free(c->fctxs[i]->aio);
		free(c->fctxs[i]);
	}
	free(c->fctxs);
	c->fctxs = NULL;
	c->nfctx = 0;
	nng_close(c->fleet_sock);
}
