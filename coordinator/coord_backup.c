/*
 * A fleet backup: preflight on every node, the cut on every node in
 * parallel, the copy while GitLab serves writes again, the seal, and the
 * release of every node's session whatever happened. Each phase is a
 * fan-out with a deadline; its waiter's completion starts the next.
 */
#include "coord_backup.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backup_meta.h"
#include "coord_catalog.h"
#include "coord_restore.h"
#include "ls_error.h"
#include "ls_log.h"
#include "ls_util.h"

const char *coord_backup_phase_name(enum bk_phase p)
{
	static const char *names[] = {"preflight", "freeze", "cut",     "thaw",
	                              "copy",      "seal",   "release", "done"};
	return p <= BK_DONE ? names[p] : "?";
}

int coord_backup_store(const struct coord *c, char *out, size_t len)
{
	const char *s = c->cfg->backup_store;

	if (s == NULL || s[0] == '\0')
		return ls_fmt(out, len, "%s/backups", c->cfg->state_dir);
	if (strncmp(s, "file://", 7) == 0)
		s += 7;
	if (s[0] != '/')
		return LS_EINVAL;
	return ls_fmt(out, len, "%s", s);
}

static void bk_free(struct coord_backup *b)
{
	size_t i;

	if (b == NULL)
		return;
	for (i = 0; i < b->nnodes; i++) {
		if (b->nodes[i].cut)
			ls__backup_cut_result__free_unpacked(b->nodes[i].cut,
			                                     NULL);
		if (b->nodes[i].copy)
			ls__backup_copy_result__free_unpacked(b->nodes[i].copy,
			                                      NULL);
	}
	free(b->nodes);
	free(b);
}

/* The catalog's view of b; strings point into b. */
static void bk_info(const struct coord_backup *b, Ls__BackupInfo *bi,
                    Ls__BackupNodeInfo *ni, Ls__BackupNodeInfo **nip,
                    char **failed, size_t *nfailed)
{
	size_t i, j, nf = 0;

	ls__backup_info__init(bi);
	bi->id = (char *)b->id;
	bi->state = b->phase != BK_DONE ? "running"
	            : b->failed         ? "failed"
	            : *nfailed > 0      ? "partial"
	                                : "complete";
	bi->phase = (char *)coord_backup_phase_name(b->phase);
	bi->reason = (char *)b->reason;
	bi->created_at = b->created_at;
	bi->has_size = bi->has_freeze_ms = bi->has_artifacts = 1;
	bi->size = b->size;
	bi->freeze_ms = b->thaw_us > b->freeze_start_us
	                    ? (uint64_t)(b->thaw_us - b->freeze_start_us) / 1000
	                    : 0;
	bi->artifacts = b->nartifacts;
	bi->gitlab_version = (char *)b->version;
	bi->path = (char *)b->dest;
	bi->skipped = (char *)b->skipped;
	for (i = 0; i < b->nnodes; i++) {
		const struct bk_node *bn = &b->nodes[i];
		ls__backup_node_info__init(&ni[i]);
		ni[i].node = bn->node->name;
		ni[i].phase = (char *)bn->phase;
		/* Progress belongs to this backup's copy while it runs. */
		if (b->phase == BK_COPY && strcmp(bn->phase, "cut") == 0 &&
		    bn->node->progress != NULL) {
			ni[i].progress = bn->node->progress;
			ni[i].has_progress_age_ms = 1;
			ni[i].progress_age_ms =
			    (uint64_t)(coord_now_us() / 1000 -
			               bn->node->progress_ms);
		}
		if (bn->error[0])
			ni[i].error = (char *)bn->error;
		nip[i] = &ni[i];
		for (j = 0; bn->copy && j < bn->copy->n_failed_repos; j++)
			if (failed != NULL)
				failed[nf++] = bn->copy->failed_repos[j];
	}
	bi->n_nodes = b->nnodes;
	bi->nodes = nip;
	bi->n_failed_repos = nf;
	bi->failed_repos = failed;
}

static size_t count_failed(const struct coord_backup *b)
{
	size_t i, n = 0;

	for (i = 0; i < b->nnodes; i++)
		if (b->nodes[i].copy)
			n += b->nodes[i].copy->n_failed_repos;
	return n;
}

/* Builds the catalog row of b and hands it to fn. */
void coord_bk_record(struct coord *c, struct coord_backup *b,
                     int (*fn)(sqlite3 *, const Ls__BackupInfo *))
{
	size_t nf = count_failed(b);
	Ls__BackupNodeInfo *ni = calloc(b->nnodes + 1, sizeof(*ni));
	Ls__BackupNodeInfo **nip = calloc(b->nnodes + 1, sizeof(*nip));
	char **failed = calloc(nf + 1, sizeof(*failed));
	Ls__BackupInfo bi;
	int64_t now = coord_now_us();

	/* Where a backup's time goes, for administrators and benchmarks. */
	if (b->phase != b->logged_phase) {
		if (b->phase_start_us != 0)
			log_info("backup %s: %s took %lld ms", b->id,
			         coord_backup_phase_name(b->logged_phase),
			         (long long)(now - b->phase_start_us) / 1000);
		b->logged_phase = b->phase;
		b->phase_start_us = now;
	}
	if (ni && nip && failed) {
		bk_info(b, &bi, ni, nip, failed, &nf);
		if (b->phase == BK_DONE) {
			bi.has_finished_at = 1;
			bi.finished_at = ls_now();
		}
		fn(c->db, &bi);
	}
	free(ni);
	free(nip);
	free(failed);
}

void coord_bk_release(struct coord *c, struct coord_backup *b);
void coord_bk_copy(struct coord *c, struct coord_backup *b);

void coord_bk_fail(struct coord *c, struct coord_backup *b, const char *fmt,
                   ...) __attribute__((format(printf, 3, 4)));

/* Records the first failure; the run goes on to release every node. */
void coord_bk_fail(struct coord *c, struct coord_backup *b, const char *fmt,
                   ...)
{
	va_list ap;

	if (!b->failed) {
		va_start(ap, fmt);
		vsnprintf(b->reason, sizeof(b->reason), fmt, ap);
		va_end(ap);
		b->failed = 1;
		log_warnx("backup %s failed: %s", b->id, b->reason);
	}
}

/* One operation per node of b (those with `only` set, if given). */
int coord_bk_fan_out(struct coord *c, struct coord_backup *b, int64_t timeout,
                     coord_waiter_done_fn done, build_op_fn build,
                     int (*wanted)(const struct bk_node *))
{
	struct coord_waiter *w =
	    coord_waiter_new(c, b->nnodes, timeout, done, b);
	size_t i;

	if (w == NULL)
		return LS_ENOMEM;
	for (i = 0; i < b->nnodes; i++) {
		union {
			Ls__BackupCut cut;
			Ls__BackupCopy copy;
			Ls__BackupRelease rel;
			Ls__RunChecks checks;
		} scratch;
		char *roles[COORD_MAX_ROLES];
		Ls__Operation op = LS__OPERATION__INIT;
		struct bk_node *bn = &b->nodes[i];
		size_t r;

		if (wanted != NULL && !wanted(bn))
			continue;
		if (build == NULL) {
			ls__run_checks__init(&scratch.checks);
			for (r = 0; r < bn->node->nroles; r++)
				roles[r] = bn->node->roles[r];
			scratch.checks.n_roles = bn->node->nroles;
			scratch.checks.roles = roles;
			scratch.checks.has_backup = scratch.checks.backup = 1;
			op.kind_case = LS__OPERATION__KIND_RUN_CHECKS;
			op.run_checks = &scratch.checks;
		} else {
			build(b, bn, &op, &scratch);
		}
		if (coord_op_enqueue(c, bn->node, &op, w, i) < 0)
			snprintf(bn->error, sizeof(bn->error),
			         "cannot queue the operation");
	}
	coord_waiter_arm(c, w);
	return 0;
}

/* The result of node i in w, or an error text naming what went wrong. */
const Ls__OpResult *coord_bk_result_of(const struct coord_waiter *w, size_t i,
                                       const struct bk_node *bn, char *why,
                                       size_t len)
{
	const Ls__OpResult *r = w->results[i];

	if (r == NULL) {
		snprintf(why, len,
		         "%s did not answer before the deadline%s%.300s",
		         bn->node->name, bn->error[0] ? ": " : "", bn->error);
		return NULL;
	}
	if (r->status != 0) {
		snprintf(why, len, "%s: %s", bn->node->name,
		         r->error ? r->error : ls_strerror(r->status));
		return NULL;
	}
	return r;
}

/* Ends b once nothing runs for it any more: a failed backup's files are
 * removed, the catalog gets its final state. */
static void bk_finish(struct coord *c, struct coord_backup *b)
{
	if (b->sealing || b->releasing)
		return;
	if (b->failed && b->dest[0] != '\0') {
		int rv = ls_rmtree(b->dest);
		if (rv < 0)
			log_warnx("backup %s: cannot remove %s: %s", b->id,
			          b->dest, ls_strerror(rv));
	}
	b->phase = BK_DONE;
	coord_bk_record(c, b, coord_catalog_update);
	log_info("backup %s %s%s", b->id, b->failed ? "failed: " : "complete",
	         b->failed ? b->reason : "");
	c->backup = NULL;
	bk_free(b);
}

static void release_done(struct coord *c, struct coord_waiter *w)
{
	struct coord_backup *b = w->arg;
	size_t i;

	for (i = 0; i < b->nnodes; i++)
		if (w->results[i] != NULL && w->results[i]->status == 0)
			b->nodes[i].phase = b->failed ? "failed" : "released";
	coord_waiter_free(w);
	if (b->phase == BK_SEAL)
		log_info(
		    "backup %s: release took %lld ms (beside the seal)", b->id,
		    (long long)(coord_now_us() - b->release_start_us) / 1000);
	b->releasing = 0;
	bk_finish(c, b);
}

static void build_release(struct coord_backup *b, struct bk_node *bn,
                          Ls__Operation *op, void *scratch)
{
	Ls__BackupRelease *rel = scratch;

	ls__backup_release__init(rel);
	rel->backup_id = b->id;
	op->kind_case = LS__OPERATION__KIND_BACKUP_RELEASE;
	op->backup_release = rel;
}

static int was_cut(const struct bk_node *bn)
{
	return bn->cut != NULL || strcmp(bn->phase, "waiting") != 0;
}

/* Ends every node's session. The nodes are done with their cut once their
 * copy is: a seal runs beside it. b may be freed on return (the fan-out
 * can finish at once). */
static void bk_release_nodes(struct coord *c, struct coord_backup *b)
{
	b->release_start_us = coord_now_us();
	b->releasing = 1;
	if (coord_bk_fan_out(c, b, 60000, release_done, build_release,
	                     was_cut) < 0) {
		coord_bk_fail(c, b, "release: out of memory");
		b->releasing = 0;
		bk_finish(c, b);
	}
}

void coord_bk_release(struct coord *c, struct coord_backup *b)
{
	if (b->frozen && !b->thawed && !b->was_on) {
		/* Never leave GitLab frozen on the way out. */
		coord_bk_thaw_then_release(c, b);
		return;
	}
	b->phase = BK_RELEASE;
	coord_bk_record(c, b, coord_catalog_update);
	bk_release_nodes(c, b);
}

struct seal_job {
	struct coord *c;
	struct coord_backup *b;
};

/* Checksums every artifact off the network threads, then releases. */
static void *seal_thread(void *arg)
{
	struct seal_job *j = arg;
	struct coord *c = j->c;
	struct coord_backup *b = j->b;
	char err[1024];
	uint64_t size = 0;
	uint32_t count = 0;
	int rv;

	free(j);
	rv = coord_backup_seal(c, b, &size, &count, err, sizeof(err));
	pthread_mutex_lock(&c->mtx);
	b->size = size;
	b->nartifacts = count;
	if (rv < 0)
		coord_bk_fail(c, b, "seal: %s", err);
	b->sealing = 0;
	bk_finish(c, b);
	pthread_mutex_unlock(&c->mtx);
	return NULL;
}

/* The seal off the network threads, the nodes' release beside it. */
static void bk_seal(struct coord *c, struct coord_backup *b)
{
	struct seal_job *j;
	pthread_t th;

	b->phase = BK_SEAL;
	coord_bk_record(c, b, coord_catalog_update);
	if ((j = malloc(sizeof(*j))) == NULL) {
		coord_bk_fail(c, b, "out of memory");
		coord_bk_release(c, b);
		return;
	}
	j->c = c;
	j->b = b;
	b->sealing = 1;
	if (pthread_create(&th, NULL, seal_thread, j) != 0) {
		free(j);
		b->sealing = 0;
		coord_bk_fail(c, b, "cannot start the seal");
		coord_bk_release(c, b);
		return;
	}
	pthread_detach(th);
	bk_release_nodes(c, b);
}

static void copy_done(struct coord *c, struct coord_waiter *w)
{
	struct coord_backup *b = w->arg;
	char why[600];
	size_t i;

	for (i = 0; i < b->nnodes; i++) {
		struct bk_node *bn = &b->nodes[i];
		const Ls__OpResult *r =
		    coord_bk_result_of(w, i, bn, why, sizeof(why));

		if (r == NULL ||
		    r->kind_case != LS__OP_RESULT__KIND_BACKUP_COPY) {
			bn->phase = "failed";
			coord_bk_fail(c, b, "copy on %s",
			              r ? "a node: unexpected answer" : why);
			continue;
		}
		bn->copy = w->results[i]->backup_copy;
		w->results[i]->backup_copy = NULL;
		w->results[i]->kind_case = LS__OP_RESULT__KIND__NOT_SET;
		bn->phase = "copied";
		if (bn->copy->n_failed_repos > 0 && !b->allow_partial)
			coord_bk_fail(c, b,
			              "copy on %s: %zu repositories failed",
			              bn->node->name, bn->copy->n_failed_repos);
	}
	coord_waiter_free(w);
	if (b->failed) {
		coord_bk_release(c, b);
		return;
	}
	bk_seal(c, b);
}

static void build_copy(struct coord_backup *b, struct bk_node *bn,
                       Ls__Operation *op, void *scratch)
{
	Ls__BackupCopy *cp = scratch;

	ls__backup_copy__init(cp);
	cp->backup_id = b->id;
	cp->dest_dir = b->dest;
	cp->compression = b->compression;
	cp->allow_partial = b->allow_partial;
	cp->has_backup_pk = 1;
	cp->backup_pk.data = b->backup_pk;
	cp->backup_pk.len = sizeof(b->backup_pk);
	cp->node = bn->node->name;
	op->kind_case = LS__OPERATION__KIND_BACKUP_COPY;
	op->backup_copy = cp;
}

static void cut_done(struct coord *c, struct coord_waiter *w)
{
	struct coord_backup *b = w->arg;
	char why[600];
	size_t i;

	/* Thaw as soon as every node has answered its cut. */
	b->thaw_us = coord_now_us();
	for (i = 0; i < b->nnodes; i++) {
		struct bk_node *bn = &b->nodes[i];
		const Ls__OpResult *r =
		    coord_bk_result_of(w, i, bn, why, sizeof(why));

		if (r == NULL ||
		    r->kind_case != LS__OP_RESULT__KIND_BACKUP_CUT) {
			bn->phase = "failed";
			coord_bk_fail(c, b, "cut on %s",
			              r ? "a node: unexpected answer" : why);
			continue;
		}
		bn->cut = w->results[i]->backup_cut;
		w->results[i]->backup_cut = NULL;
		w->results[i]->kind_case = LS__OP_RESULT__KIND__NOT_SET;
		bn->phase = "cut";
		/* An agent that predates backup_redis ignores the request:
		 * the backup must not silently lack Redis. */
		if (bn->redis && bn->cut->redis == NULL)
			coord_bk_fail(c, b,
			              "cut on %s: no Redis snapshot (is its "
			              "agent older than backup_redis?)",
			              bn->node->name);
		coord_bk_skip_absent(b, bn);
	}
	coord_waiter_free(w);
	log_info("backup %s: cut on %zu node(s) %lld ms after the freeze began",
	         b->id, b->nnodes,
	         (long long)(b->thaw_us - b->freeze_start_us) / 1000);
	if (b->failed) {
		coord_bk_release(c, b);
		return;
	}
	/* Not beside the copy: on a node shared with the copy, the thaw
	 * waits for CPU and the freeze window grows with the data. */
	if (b->frozen && !b->was_on) {
		coord_bk_thaw_then_copy(c, b);
		return;
	}
	coord_bk_copy(c, b);
}

void coord_bk_copy(struct coord *c, struct coord_backup *b)
{
	size_t i;

	/* Progress shown from now on is this copy's. */
	for (i = 0; i < b->nnodes; i++)
		if (b->nodes[i].node->progress != NULL) {
			ls__progress__free_unpacked(b->nodes[i].node->progress,
			                            NULL);
			b->nodes[i].node->progress = NULL;
		}
	b->phase = BK_COPY;
	coord_bk_record(c, b, coord_catalog_update);
	/* Every node copies: each seals its own secrets and configuration. */
	if (coord_bk_fan_out(c, b, c->cfg->backup_timeout, copy_done,
	                     build_copy, NULL) < 0) {
		coord_bk_fail(c, b, "out of memory");
		coord_bk_release(c, b);
	}
}

static void build_cut(struct coord_backup *b, struct bk_node *bn,
                      Ls__Operation *op, void *scratch)
{
	Ls__BackupCut *cut = scratch;

	ls__backup_cut__init(cut);
	cut->backup_id = b->id;
	cut->database = bn->database;
	cut->repositories = bn->repositories;
	cut->n_components = bn->ncomponents;
	cut->components = (char **)bn->components;
	if (bn->redis)
		cut->has_redis = cut->redis = 1;
	/* A node that waits on something (a BGSAVE) answers with its own
	 * error before the fan-out gives up on it. */
	cut->has_deadline_ms = 1;
	cut->deadline_ms = b->cut_ms;
	op->kind_case = LS__OPERATION__KIND_BACKUP_CUT;
	op->backup_cut = cut;
}

void coord_bk_cut(struct coord *c, struct coord_backup *b);

static void preflight_done(struct coord *c, struct coord_waiter *w)
{
	struct coord_backup *b = w->arg;
	char why[600];
	size_t i, k;
	int rv;

	for (i = 0; i < b->nnodes && !b->failed; i++) {
		struct bk_node *bn = &b->nodes[i];
		const Ls__OpResult *r =
		    coord_bk_result_of(w, i, bn, why, sizeof(why));

		if (r == NULL || r->checks == NULL) {
			coord_bk_fail(c, b, "preflight: %s",
			              r ? "no check report" : why);
			break;
		}
		for (k = 0; k < r->checks->n_results; k++) {
			const Ls__CheckResult *cr = r->checks->results[k];
			if (cr->status == LS__CHECK_STATUS__CHECK_FAIL) {
				coord_bk_fail(
				    c, b,
				    "preflight: node %s: check %s failed: "
				    "%s",
				    bn->node->name, cr->name, cr->reason);
				break;
			}
		}
	}
	coord_waiter_free(w);
	if (b->failed) {
		/* Nothing was cut: no node to release. */
		b->phase = BK_DONE;
		coord_bk_record(c, b, coord_catalog_update);
		c->backup = NULL;
		bk_free(b);
		return;
	}
	/* Created only now: a refused backup leaves nothing in the store. */
	if ((rv = ls_mkdirs(b->dest, 0750)) < 0) {
		coord_bk_fail(c, b, "cannot create %s: %s", b->dest,
		              ls_strerror(rv));
		b->phase = BK_DONE;
		coord_bk_record(c, b, coord_catalog_update);
		c->backup = NULL;
		bk_free(b);
		return;
	}
	coord_bk_freeze(c, b);
}

void coord_bk_cut(struct coord *c, struct coord_backup *b)
{
	int64_t timeout = c->cfg->cut_timeout;

	/* The cut must end inside the lease, or the lease ends the freeze
	 * under it. */
	if (b->frozen && timeout > (int64_t)b->lease_ms - 5000)
		timeout = (int64_t)b->lease_ms - 5000;
	b->phase = BK_CUT;
	/* The nodes' share: time left to send their answer. */
	b->cut_ms = timeout > (int64_t)UINT32_MAX ? UINT32_MAX
	            : timeout > 4000              ? (uint32_t)(timeout - 2000)
	            : timeout > 2                 ? (uint32_t)(timeout / 2)
	                                          : 1;
	coord_bk_record(c, b, coord_catalog_update);
	if (coord_bk_fan_out(c, b, timeout, cut_done, build_cut, NULL) < 0) {
		coord_bk_fail(c, b, "out of memory");
		coord_bk_release(c, b);
	}
}

int coord_backup_start(struct coord *c, const Ls__BackupCreateReq *req,
                       char *id, size_t idlen, char *err, size_t errlen)
{
	struct coord_backup *b;
	char store[4096];
	int rv;

	if (c->backup != NULL) {
		snprintf(err, errlen, "another backup is running: %s",
		         c->backup->id);
		return LS_EBUSY;
	}
	if (coord_restore_active(c)) {
		snprintf(err, errlen, "a restore is running: back up once it "
		         "is done (lockstep run list)");
		return LS_EBUSY;
	}
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return LS_ENOMEM;
	if ((rv = backup_skip_normalize(req->skip ? req->skip : "", b->skipped,
	                                sizeof(b->skipped), err, errlen)) < 0)
		goto fail;
	b->compression = req->has_compression ? req->compression : 0;
	b->allow_partial = req->has_allow_partial && req->allow_partial;
	if (b->compression > 1) {
		snprintf(err, errlen, "unknown compression %u", b->compression);
		rv = LS_EINVAL;
		goto fail;
	}
	if ((rv = coord_bk_plan_nodes(c, b, err, errlen)) < 0 ||
	    (rv = coord_bk_fleet_version(c, b, err, errlen)) < 0)
		goto fail;
	b->created_at = ls_now();
	if ((rv = backup_id_make(b->created_at, b->version, b->id,
	                         sizeof(b->id))) < 0 ||
	    (rv = coord_backup_store(c, store, sizeof(store))) < 0 ||
	    (rv = ls_fmt(b->dest, sizeof(b->dest), "%s/%s", store, b->id)) <
	        0) {
		snprintf(err, errlen, "backup store %s: %s",
		         c->cfg->backup_store, ls_strerror(rv));
		goto fail;
	}
	memcpy(b->backup_pk, c->backup_pk, sizeof(b->backup_pk));
	b->lease_ms = (uint32_t)c->cfg->freeze_lease;
	b->sidekiq_wait_ms = (uint32_t)c->cfg->sidekiq_wait;
	ls_strlcpy(b->message, c->cfg->maintenance_message, sizeof(b->message));
	b->phase = b->logged_phase = BK_PREFLIGHT;
	b->phase_start_us = coord_now_us();
	coord_bk_record(c, b, coord_catalog_insert);
	c->backup = b;
	ls_strlcpy(id, b->id, idlen);
	log_info("backup %s: started on %zu node(s)%s%s", b->id, b->nnodes,
	         b->skipped[0] ? ", skipping " : "", b->skipped);
	if ((rv = coord_bk_fan_out(c, b, c->cfg->check_timeout, preflight_done,
	                           NULL, NULL)) < 0) {
		c->backup = NULL;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	return 0;
fail:
	bk_free(b);
	return rv;
}

int coord_backup_info(struct coord *c, const char *id, Ls__BackupInfo **out)
{
	struct coord_backup *b = c->backup;
	Ls__BackupNodeInfo *ni;
	Ls__BackupNodeInfo **nip;
	Ls__BackupInfo bi;
	char **failed;
	size_t nf, len;
	uint8_t *buf;
	int rv = LS_ENOMEM;

	*out = NULL;
	if (b == NULL || strcmp(b->id, id) != 0)
		return coord_catalog_get(c->db, id, out) < 0 ? LS_ENOENT : 1;
	nf = count_failed(b);
	ni = calloc(b->nnodes + 1, sizeof(*ni));
	nip = calloc(b->nnodes + 1, sizeof(*nip));
	failed = calloc(nf + 1, sizeof(*failed));
	if (ni && nip && failed) {
		/* A copy the caller owns, independent of b. */
		bk_info(b, &bi, ni, nip, failed, &nf);
		len = ls__backup_info__get_packed_size(&bi);
		if ((buf = malloc(len ? len : 1)) != NULL) {
			ls__backup_info__pack(&bi, buf);
			*out = ls__backup_info__unpack(NULL, len, buf);
			free(buf);
			rv = *out ? 0 : LS_ENOMEM;
		}
	}
	free(ni);
	free(nip);
	free(failed);
	return rv;
}

void coord_backup_recover(struct coord *c)
{
	Ls__BackupInfo **l = NULL;
	size_t n = 0, i;

	if (coord_catalog_fail_running(c->db,
	                               "the coordinator stopped during the "
	                               "backup",
	                               &l, &n) < 0)
		return;
	for (i = 0; i < n; i++) {
		log_warnx("backup %s: marked failed (the coordinator stopped "
		          "during it); removing %s",
		          l[i]->id, l[i]->path);
		if (l[i]->path[0] == '/')
			ls_rmtree(l[i]->path);
	}
	coord_catalog_free(l, n);
}
