#include "coord_journal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ls_error.h"
#include "ls_log.h"
#include "ls_util.h"

static const char *const step_names[] = {"pending", "started", "done",
                                         "failed"};
static const char *const run_names[] = {"running", "halted", "done", "failed"};

const char *coord_step_state_name(enum coord_step_state s)
{
	return (unsigned)s < 4 ? step_names[s] : "?";
}

const char *coord_run_state_name(enum coord_run_state s)
{
	return (unsigned)s < 4 ? run_names[s] : "?";
}

static int name_index(const char *const *names, const char *s)
{
	int i;

	for (i = 0; s != NULL && i < 4; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return -1;
}

static int jexec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		log_warnx("journal: %s", msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return LS_EDB;
	}
	return 0;
}

static int prep(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK) {
		log_warnx("journal: %s", sqlite3_errmsg(db));
		*st = NULL;
		return LS_EDB;
	}
	return 0;
}

/* Runs st to its end; the number of rows it changed. */
static int run_stmt(sqlite3 *db, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	if (rc != SQLITE_DONE) {
		log_warnx("journal: %s", sqlite3_errmsg(db));
		return LS_EDB;
	}
	return sqlite3_changes(db);
}

static int busy(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int rv;

	if ((rv = prep(db,
	               "SELECT count(*) FROM runs WHERE state IN "
	               "('running', 'halted')",
	               &st)) < 0)
		return rv;
	rv =
	    sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : LS_EDB;
	sqlite3_finalize(st);
	return rv;
}

int coord_journal_create(sqlite3 *db, const char *kind, const void *params,
                         size_t params_len, const struct coord_step_def *steps,
                         size_t nsteps, char *id, size_t idlen)
{
	sqlite3_stmt *st = NULL;
	uint8_t rnd[4];
	int64_t now = ls_now();
	size_t i;
	int rv;

	if (kind == NULL || kind[0] == '\0' || strlen(kind) >= 32 ||
	    nsteps == 0 || nsteps > COORD_RUN_MAX_STEPS ||
	    params_len > COORD_JOURNAL_BLOB_MAX ||
	    (params == NULL && params_len > 0))
		return LS_EINVAL;
	for (i = 0; i < nsteps; i++)
		if (steps[i].name == NULL || steps[i].name[0] == '\0' ||
		    strlen(steps[i].name) >= COORD_STEP_NAME_MAX ||
		    (steps[i].node != NULL && strlen(steps[i].node) >= 64))
			return LS_EINVAL;
	randombytes_buf(rnd, sizeof(rnd));
	if ((rv = ls_fmt(id, idlen, "%s-%lld-%02x%02x%02x%02x", kind,
	                 (long long)now, rnd[0], rnd[1], rnd[2], rnd[3])) < 0)
		return rv;
	if ((rv = jexec(db, "BEGIN IMMEDIATE")) < 0)
		return rv;
	if ((rv = busy(db)) != 0) {
		rv = rv > 0 ? LS_EBUSY : rv;
		goto out;
	}
	if ((rv = prep(db,
	               "INSERT INTO runs (id, kind, state, created_at, params) "
	               "VALUES (?, ?, 'running', ?, ?)",
	               &st)) < 0)
		goto out;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	if (params != NULL)
		sqlite3_bind_blob(st, 4, params, (int)params_len,
		                  SQLITE_STATIC);
	if ((rv = run_stmt(db, st)) < 0)
		goto out;
	sqlite3_finalize(st);
	if ((rv = prep(db,
	               "INSERT INTO run_steps (run_id, seq, node, name, "
	               "state) VALUES (?, ?, ?, ?, 'pending')",
	               &st)) < 0)
		goto out;
	for (i = 0; i < nsteps; i++) {
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)(i + 1));
		sqlite3_bind_text(st, 3, steps[i].node ? steps[i].node : "", -1,
		                  SQLITE_STATIC);
		sqlite3_bind_text(st, 4, steps[i].name, -1, SQLITE_STATIC);
		if ((rv = run_stmt(db, st)) < 0)
			goto out;
	}
	rv = 0;
out:
	sqlite3_finalize(st);
	if (rv < 0) {
		(void)jexec(db, "ROLLBACK");
		return rv;
	}
	return jexec(db, "COMMIT");
}

/* One UPDATE of a step; its WHERE names the state the change needs.
 * Parameters: ?1 run, ?2 seq, ?3 now, ?4 text, ?5 blob, ?6 op id. */
static int step_update(sqlite3 *db, const char *sql, const char *run,
                       uint32_t seq, const char *text, const void *blob,
                       size_t bloblen, uint64_t op_id)
{
	sqlite3_stmt *st = NULL;
	int rv;

	if (bloblen > COORD_JOURNAL_BLOB_MAX)
		return LS_ETOOBIG;
	if ((rv = prep(db, sql, &st)) < 0)
		return rv;
	sqlite3_bind_text(st, 1, run, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, seq);
	sqlite3_bind_int64(st, 3, ls_now());
	if (text != NULL)
		sqlite3_bind_text(st, 4, text, -1, SQLITE_STATIC);
	if (blob != NULL)
		sqlite3_bind_blob(st, 5, blob, (int)bloblen, SQLITE_STATIC);
	if (op_id != 0)
		sqlite3_bind_int64(st, 6, (sqlite3_int64)op_id);
	rv = run_stmt(db, st);
	sqlite3_finalize(st);
	/* No row: no such step, or not in the state the change needs. */
	return rv == 0 ? LS_ESTATE : rv < 0 ? rv : 0;
}

int coord_journal_step_start(sqlite3 *db, const char *run, uint32_t seq,
                             uint64_t op_id)
{
	/* A started step is sent again under its first id, never a new
	 * one: the agent must recognise it. */
	if (op_id == 0 || op_id > (uint64_t)INT64_MAX)
		return LS_EINVAL;
	return step_update(db,
	                   "UPDATE run_steps SET state = 'started', "
	                   "started_at = ?3, op_id = ?6, error = '' "
	                   "WHERE run_id = ?1 AND seq = ?2 AND "
	                   "(state = 'pending' OR (state = 'started' AND "
	                   "op_id = ?6))",
	                   run, seq, NULL, NULL, 0, op_id);
}

int coord_journal_step_done(sqlite3 *db, const char *run, uint32_t seq,
                            const void *result, size_t result_len)
{
	return step_update(db,
	                   "UPDATE run_steps SET state = 'done', "
	                   "finished_at = ?3, result = ?5 "
	                   "WHERE run_id = ?1 AND seq = ?2 AND "
	                   "state = 'started'",
	                   run, seq, NULL, result, result_len, 0);
}

int coord_journal_step_failed(sqlite3 *db, const char *run, uint32_t seq,
                              const char *why, const void *result,
                              size_t result_len)
{
	return step_update(db,
	                   "UPDATE run_steps SET state = 'failed', "
	                   "finished_at = ?3, error = ?4, result = ?5 "
	                   "WHERE run_id = ?1 AND seq = ?2 AND "
	                   "state = 'started'",
	                   run, seq, why ? why : "", result, result_len, 0);
}

int coord_journal_resume(sqlite3 *db, const char *run, struct coord_step *steps,
                         size_t n)
{
	size_t i;
	int rv;

	for (i = 0; i < n; i++) {
		if (steps[i].state != COORD_STEP_FAILED)
			continue;
		if ((rv = coord_journal_step_retry(db, run, steps[i].seq)) < 0)
			return rv;
		steps[i].state = COORD_STEP_PENDING;
		steps[i].op_id = 0;
	}
	return coord_journal_run_end(db, run, COORD_RUN_RUNNING, "");
}

int coord_journal_step_retry(sqlite3 *db, const char *run, uint32_t seq)
{
	/* A new attempt is a new operation: its id is cleared. */
	return step_update(db,
	                   "UPDATE run_steps SET state = 'pending', "
	                   "op_id = 0, started_at = 0, finished_at = 0, "
	                   "result = NULL "
	                   "WHERE run_id = ?1 AND seq = ?2 AND "
	                   "state = 'failed'",
	                   run, seq, NULL, NULL, 0, 0);
}

int coord_journal_run_end(sqlite3 *db, const char *run,
                          enum coord_run_state state, const char *reason)
{
	sqlite3_stmt *st = NULL;
	int rv;

	if ((unsigned)state > COORD_RUN_FAILED)
		return LS_EINVAL;
	if ((rv = prep(db,
	               "UPDATE runs SET state = ?2, reason = ?3, "
	               "finished_at = CASE WHEN ?2 IN ('done', 'failed') "
	               "THEN ?4 ELSE 0 END WHERE id = ?1",
	               &st)) < 0)
		return rv;
	sqlite3_bind_text(st, 1, run, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, coord_run_state_name(state), -1,
	                  SQLITE_STATIC);
	sqlite3_bind_text(st, 3, reason ? reason : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, ls_now());
	rv = run_stmt(db, st);
	sqlite3_finalize(st);
	return rv == 0 ? LS_ENOENT : rv < 0 ? rv : 0;
}

static void copy_col(sqlite3_stmt *st, int col, char *out, size_t len)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	ls_strlcpy(out, s ? (const char *)s : "", len);
}

static int read_run(sqlite3_stmt *st, struct coord_run *r)
{
	int s;

	memset(r, 0, sizeof(*r));
	copy_col(st, 0, r->id, sizeof(r->id));
	copy_col(st, 1, r->kind, sizeof(r->kind));
	if ((s = name_index(run_names,
	                    (const char *)sqlite3_column_text(st, 2))) < 0)
		return LS_EDB;
	r->state = (enum coord_run_state)s;
	r->created_at = sqlite3_column_int64(st, 3);
	r->finished_at = sqlite3_column_int64(st, 4);
	copy_col(st, 5, r->reason, sizeof(r->reason));
	r->nsteps = (uint32_t)sqlite3_column_int64(st, 6);
	r->ndone = (uint32_t)sqlite3_column_int64(st, 7);
	return 0;
}

#define RUN_COLS                                                               \
	"r.id, r.kind, r.state, r.created_at, r.finished_at, r.reason, "       \
	"(SELECT count(*) FROM run_steps s WHERE s.run_id = r.id), "           \
	"(SELECT count(*) FROM run_steps s WHERE s.run_id = r.id AND "         \
	"s.state = 'done')"

static int read_step(sqlite3_stmt *st, struct coord_step *s)
{
	int k;

	memset(s, 0, sizeof(*s));
	s->seq = (uint32_t)sqlite3_column_int64(st, 0);
	copy_col(st, 1, s->node, sizeof(s->node));
	copy_col(st, 2, s->name, sizeof(s->name));
	if ((k = name_index(step_names,
	                    (const char *)sqlite3_column_text(st, 3))) < 0)
		return LS_EDB;
	s->state = (enum coord_step_state)k;
	s->op_id = (uint64_t)sqlite3_column_int64(st, 4);
	s->started_at = sqlite3_column_int64(st, 5);
	s->finished_at = sqlite3_column_int64(st, 6);
	copy_col(st, 7, s->error, sizeof(s->error));
	return 0;
}

#define STEP_COLS                                                              \
	"seq, node, name, state, op_id, started_at, finished_at, error"

int coord_journal_get(sqlite3 *db, const char *run, struct coord_run *out,
                      struct coord_step **steps, size_t *nsteps)
{
	sqlite3_stmt *st = NULL;
	struct coord_step *v = NULL;
	size_t n = 0;
	int rv, rc;

	if (steps != NULL) {
		*steps = NULL;
		*nsteps = 0;
	}
	if ((rv = prep(db, "SELECT " RUN_COLS " FROM runs r WHERE r.id = ?",
	               &st)) < 0)
		return rv;
	sqlite3_bind_text(st, 1, run, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	rv = rc == SQLITE_ROW    ? read_run(st, out)
	     : rc == SQLITE_DONE ? LS_ENOENT
	                         : LS_EDB;
	sqlite3_finalize(st);
	st = NULL;
	if (rv < 0 || steps == NULL)
		return rv;
	if ((v = calloc(out->nsteps ? out->nsteps : 1, sizeof(*v))) == NULL)
		return LS_ENOMEM;
	if ((rv = prep(db,
	               "SELECT " STEP_COLS " FROM run_steps WHERE run_id = ? "
	               "ORDER BY seq",
	               &st)) < 0)
		goto out;
	sqlite3_bind_text(st, 1, run, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < out->nsteps)
		if ((rv = read_step(st, &v[n++])) < 0)
			goto out;
	rv = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : LS_EDB;
out:
	sqlite3_finalize(st);
	if (rv < 0) {
		free(v);
		return rv;
	}
	*steps = v;
	*nsteps = n;
	return 0;
}

int coord_journal_next(sqlite3 *db, const char *run, struct coord_step *next)
{
	sqlite3_stmt *st = NULL;
	int rv, rc;

	memset(next, 0, sizeof(*next));
	if ((rv = prep(db,
	               "SELECT " STEP_COLS " FROM run_steps WHERE run_id = ? "
	               "AND state <> 'done' ORDER BY seq LIMIT 1",
	               &st)) < 0)
		return rv;
	sqlite3_bind_text(st, 1, run, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	rv = rc == SQLITE_ROW    ? read_step(st, next)
	     : rc == SQLITE_DONE ? 0
	                         : LS_EDB;
	sqlite3_finalize(st);
	return rv;
}

static int get_blob(sqlite3 *db, const char *sql, const char *run, uint32_t seq,
                    uint8_t **buf, size_t *len)
{
	sqlite3_stmt *st = NULL;
	const void *p;
	int rv, n;

	*buf = NULL;
	*len = 0;
	if ((rv = prep(db, sql, &st)) < 0)
		return rv;
	sqlite3_bind_text(st, 1, run, -1, SQLITE_STATIC);
	if (sqlite3_bind_parameter_count(st) >= 2)
		sqlite3_bind_int64(st, 2, seq);
	if (sqlite3_step(st) != SQLITE_ROW ||
	    sqlite3_column_type(st, 0) == SQLITE_NULL) {
		rv = LS_ENOENT;
		goto out;
	}
	p = sqlite3_column_blob(st, 0);
	n = sqlite3_column_bytes(st, 0);
	if (n < 0 || (size_t)n > COORD_JOURNAL_BLOB_MAX) {
		rv = LS_ETOOBIG;
		goto out;
	}
	if ((*buf = malloc(n ? (size_t)n : 1)) == NULL) {
		rv = LS_ENOMEM;
		goto out;
	}
	if (n > 0)
		memcpy(*buf, p, (size_t)n);
	*len = (size_t)n;
	rv = 0;
out:
	sqlite3_finalize(st);
	return rv;
}

int coord_journal_params(sqlite3 *db, const char *run, uint8_t **buf,
                         size_t *len)
{
	return get_blob(db, "SELECT params FROM runs WHERE id = ?1", run, 0,
	                buf, len);
}

int coord_journal_result(sqlite3 *db, const char *run, uint32_t seq,
                         uint8_t **buf, size_t *len)
{
	return get_blob(db,
	                "SELECT result FROM run_steps WHERE run_id = ?1 AND "
	                "seq = ?2",
	                run, seq, buf, len);
}

int coord_journal_list(sqlite3 *db, size_t max, struct coord_run **runs,
                       size_t *n)
{
	sqlite3_stmt *st = NULL;
	struct coord_run *v;
	size_t k = 0;
	int rv, rc;

	*runs = NULL;
	*n = 0;
	if (max == 0 || max > 100000)
		return LS_EINVAL;
	if ((v = calloc(max, sizeof(*v))) == NULL)
		return LS_ENOMEM;
	if ((rv = prep(db,
	               "SELECT " RUN_COLS " FROM runs r ORDER BY "
	               "r.created_at DESC, r.id DESC LIMIT ?",
	               &st)) < 0)
		goto out;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)max);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && k < max)
		if ((rv = read_run(st, &v[k++])) < 0)
			goto out;
	rv = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : LS_EDB;
out:
	sqlite3_finalize(st);
	if (rv < 0) {
		free(v);
		return rv;
	}
	*runs = v;
	*n = k;
	return 0;
}

int coord_journal_halt_running(sqlite3 *db, const char *reason)
{
	sqlite3_stmt *st = NULL;
	int rv;

	if ((rv = prep(db,
	               "UPDATE runs SET state = 'halted', reason = ? "
	               "WHERE state = 'running'",
	               &st)) < 0)
		return rv;
	sqlite3_bind_text(st, 1, reason ? reason : "", -1, SQLITE_STATIC);
	rv = run_stmt(db, st);
	sqlite3_finalize(st);
	return rv;
}
