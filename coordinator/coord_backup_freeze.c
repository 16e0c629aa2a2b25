/*
 * The freeze around the cut: maintenance mode on through the rails node's
 * GitLab API with a lease and a bounded wait for idle Sidekiq, and the
 * thaw as soon as every node has its cut. A maintenance mode that was on
 * before the backup stays on.
 */
#include <stdio.h>
#include <string.h>

#include "coord_backup.h"
#include "ls_error.h"
#include "ls_log.h"

static int is_freezer(const struct bk_node *bn)
{
	return bn->freezer;
}

static void build_maintenance(struct coord_backup *b, struct bk_node *bn,
                              Ls__Operation *op, void *scratch)
{
	Ls__Maintenance *m = scratch;

	ls__maintenance__init(m);
	m->on = b->phase == BK_FREEZE;
	if (m->on) {
		m->message = b->message;
		m->has_lease_ms = m->has_sidekiq_wait_ms = 1;
		m->lease_ms = b->lease_ms;
		m->sidekiq_wait_ms = b->sidekiq_wait_ms;
	}
	op->kind_case = LS__OPERATION__KIND_MAINTENANCE;
	op->maintenance = m;
}

static void thaw_done_common(struct coord *c, struct coord_waiter *w)
{
	struct coord_backup *b = w->arg;
	char why[600];
	size_t i;

	b->thaw_us = coord_now_us();
	for (i = 0; i < b->nnodes; i++) {
		if (!b->nodes[i].freezer)
			continue;
		if (coord_bk_result_of(w, i, &b->nodes[i], why, sizeof(why)) ==
		    NULL) {
			/* The lease still turns it off on the node. */
			log_warnx("backup %s: maintenance mode off failed: %s",
			          b->id, why);
			coord_bk_fail(
			    c, b,
			    "thaw: %s (maintenance mode goes off when "
			    "the lease ends)",
			    why);
		}
	}
	b->thawed = 1;
	coord_waiter_free(w);
}

static void copy_after_thaw(struct coord *c, struct coord_waiter *w)
{
	struct coord_backup *b = w->arg;

	thaw_done_common(c, w);
	if (b->failed)
		coord_bk_release(c, b);
	else
		coord_bk_copy(c, b);
}

static void release_after_thaw(struct coord *c, struct coord_waiter *w)
{
	struct coord_backup *b = w->arg;

	thaw_done_common(c, w);
	coord_bk_release(c, b);
}

static void thaw_then(struct coord *c, struct coord_backup *b,
                      coord_waiter_done_fn next)
{
	b->phase = BK_THAW;
	coord_bk_record(c, b, coord_catalog_update);
	if (coord_bk_fan_out(c, b, 60000, next, build_maintenance, is_freezer) <
	    0) {
		b->thawed = 1; /* the lease will do it */
		coord_bk_release(c, b);
	}
}

static void freeze_done(struct coord *c, struct coord_waiter *w)
{
	struct coord_backup *b = w->arg;
	char why[600];
	size_t i;

	for (i = 0; i < b->nnodes; i++) {
		struct bk_node *bn = &b->nodes[i];
		const Ls__OpResult *r = w->results[i];

		if (!bn->freezer)
			continue;
		if (r == NULL || r->maintenance == NULL) {
			/* Unknown: assume on, so that it is turned off. */
			b->frozen = 1;
		} else {
			b->was_on = r->maintenance->was_on;
			b->frozen = r->maintenance->now_on;
		}
		if (coord_bk_result_of(w, i, bn, why, sizeof(why)) == NULL)
			coord_bk_fail(c, b, "freeze on %s", why);
		else if (b->was_on)
			log_info("backup %s: maintenance mode was already on; "
			         "it stays on",
			         b->id);
	}
	coord_waiter_free(w);
	if (b->failed)
		coord_bk_release(c, b);
	else
		coord_bk_cut(c, b);
}

void coord_bk_freeze(struct coord *c, struct coord_backup *b)
{
	size_t i;

	b->freeze_start_us = coord_now_us();
	for (i = 0; i < b->nnodes; i++)
		if (b->nodes[i].freezer)
			break;
	if (i == b->nnodes) {
		log_warnx("backup %s: no rails node: the cut is taken without "
		          "maintenance mode",
		          b->id);
		coord_bk_cut(c, b);
		return;
	}
	b->phase = BK_FREEZE;
	coord_bk_record(c, b, coord_catalog_update);
	if (coord_bk_fan_out(c, b, (int64_t)b->sidekiq_wait_ms + 60000,
	                     freeze_done, build_maintenance, is_freezer) < 0) {
		coord_bk_fail(c, b, "out of memory");
		coord_bk_release(c, b);
	}
}

void coord_bk_thaw_then_copy(struct coord *c, struct coord_backup *b)
{
	thaw_then(c, b, copy_after_thaw);
}

void coord_bk_thaw_then_release(struct coord *c, struct coord_backup *b)
{
	thaw_then(c, b, release_after_thaw);
}
