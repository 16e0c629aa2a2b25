/*
 * Operations queued for nodes, and waiters: a CLI request that fans an
 * operation out to several nodes waits on one waiter until every result is
 * in or its deadline passes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coord_state.h"
#include "ls_error.h"
#include "ls_log.h"
#include "ls_util.h"

static void op_free(struct coord_op *op)
{
	if (op == NULL)
		return;
	/* A restore's secrets step carries the backup key. */
	ls_wipe(op->packed, op->packed_len);
	free(op->packed);
	free(op);
}

static void waiter_maybe_finish(struct coord *c, struct coord_waiter *w)
{
	struct coord_waiter **pp;

	if (w->finished || w->pending > 0)
		return;
	w->finished = 1;
	for (pp = &c->waiters; *pp != NULL; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	w->done(c, w);
}

struct coord_waiter *coord_waiter_new(struct coord *c, size_t nops,
                                      int64_t timeout_ms,
                                      coord_waiter_done_fn done, void *arg)
{
	struct coord_waiter *w = calloc(1, sizeof(*w));
	size_t n = nops ? nops : 1;

	if (w == NULL)
		return NULL;
	w->ops = calloc(n, sizeof(*w->ops));
	w->results = calloc(n, sizeof(*w->results));
	w->rtt_us = calloc(n, sizeof(*w->rtt_us));
	if (w->ops == NULL || w->results == NULL || w->rtt_us == NULL) {
		coord_waiter_free(w);
		return NULL;
	}
	w->nops = nops;
	w->deadline_ms = coord_now_us() / 1000 + timeout_ms;
	w->done = done;
	w->arg = arg;
	w->next = c->waiters;
	c->waiters = w;
	return w;
}

void coord_waiter_free(struct coord_waiter *w)
{
	size_t i;

	if (w == NULL)
		return;
	for (i = 0; i < w->nops && w->results; i++)
		if (w->results[i])
			ls__op_result__free_unpacked(w->results[i], NULL);
	free(w->ops);
	free(w->results);
	free(w->rtt_us);
	free(w);
}

int coord_op_enqueue(struct coord *c, struct coord_node *n,
                     Ls__Operation *opmsg, struct coord_waiter *w, size_t slot)
{
	return coord_op_enqueue_id(c, n, opmsg, w, slot, 0);
}

int coord_op_enqueue_id(struct coord *c, struct coord_node *n,
                        Ls__Operation *opmsg, struct coord_waiter *w,
                        size_t slot, uint64_t id)
{
	struct coord_op *op = calloc(1, sizeof(*op)), **pp;

	if (op == NULL)
		return LS_ENOMEM;
	op->id = id != 0 ? id : ++c->next_op_id;
	opmsg->id = op->id;
	op->packed_len = ls__operation__get_packed_size(opmsg);
	op->packed = malloc(op->packed_len ? op->packed_len : 1);
	if (op->packed == NULL) {
		free(op);
		return LS_ENOMEM;
	}
	ls__operation__pack(opmsg, op->packed);
	op->node = n;
	op->queued_us = coord_now_us();
	op->waiter = w;
	if (w != NULL) {
		w->ops[slot] = op;
		w->pending++;
	}
	for (pp = &n->ops; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = op;
	coord_fleet_kick(c, n);
	return 0;
}

/* Detaches op from its waiter, filling the slot with res (may be NULL). */
static void waiter_settle(struct coord *c, struct coord_op *op,
                          Ls__OpResult *res)
{
	struct coord_waiter *w = op->waiter;
	size_t i;

	if (w == NULL) {
		if (res)
			ls__op_result__free_unpacked(res, NULL);
		return;
	}
	for (i = 0; i < w->nops; i++)
		if (w->ops[i] == op)
			break;
	op->waiter = NULL;
	if (i == w->nops) {
		if (res)
			ls__op_result__free_unpacked(res, NULL);
		return;
	}
	w->ops[i] = NULL;
	w->results[i] = res;
	w->rtt_us[i] = coord_now_us() - op->queued_us;
	if (w->pending > 0)
		w->pending--;
	waiter_maybe_finish(c, w);
}

void coord_op_result(struct coord *c, struct coord_node *n, Ls__OpResult *res)
{
	struct coord_op **pp, *op;

	for (pp = &n->ops; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->id == res->op_id)
			break;
	if (*pp == NULL) {
		log_debug("node %s: result for operation %llu that is no "
		          "longer pending",
		          n->name, (unsigned long long)res->op_id);
		ls__op_result__free_unpacked(res, NULL);
		return;
	}
	op = *pp;
	*pp = op->next;
	waiter_settle(c, op, res);
	op_free(op);
}

void coord_waiters_sweep(struct coord *c, int64_t now_ms)
{
	struct coord_waiter *w, *next;
	size_t i;

	for (w = c->waiters; w != NULL; w = next) {
		next = w->next;
		if (w->finished || now_ms < w->deadline_ms)
			continue;
		/* Unsent operations are withdrawn: a node that comes back
		 * later must not run a check nobody waits for. */
		for (i = 0; i < w->nops; i++) {
			struct coord_op *op = w->ops[i], **pp;

			if (op == NULL)
				continue;
			op->waiter = NULL;
			w->ops[i] = NULL;
			if (!op->sent) {
				for (pp = &op->node->ops; *pp != NULL;
				     pp = &(*pp)->next)
					if (*pp == op) {
						*pp = op->next;
						break;
					}
				op_free(op);
			}
		}
		w->pending = 0;
		waiter_maybe_finish(c, w);
	}
}

void coord_ops_drop_node(struct coord *c, struct coord_node *n, const char *why)
{
	struct coord_op *op, *next;

	for (op = n->ops; op != NULL; op = next) {
		next = op->next;
		log_info("node %s: dropping operation %llu: %s", n->name,
		         (unsigned long long)op->id, why);
		n->ops = next;
		waiter_settle(c, op, NULL);
		op_free(op);
	}
	n->ops = NULL;
}

void coord_waiter_arm(struct coord *c, struct coord_waiter *w)
{
	waiter_maybe_finish(c, w);
}

void coord_ops_fail_node(struct coord *c, struct coord_node *n, int rv,
			 const char *why)
{
	while (n->ops != NULL) {
		Ls__OpResult *r = calloc(1, sizeof(*r));

		if (r == NULL || (ls__op_result__init(r),
				  (r->error = strdup(why)) == NULL)) {
			free(r);
			coord_ops_drop_node(c, n, why);
			return;
		}
		r->op_id = n->ops->id;
		r->status = rv;
		log_warnx("node %s: operation %llu failed: %s", n->name,
			  (unsigned long long)r->op_id, why);
		coord_op_result(c, n, r);
	}
}
