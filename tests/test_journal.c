/*
 * The run journal (coord_journal.c) on a real SQLite file: steps written
 * before and after, what a restarted coordinator finds, and refusals.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coord_db.h"
#include "coord_journal.h"
#include "ls_error.h"
#include "ls_util.h"
#include "testutil.h"

static char dir[] = "/tmp/test_journal.XXXXXX";
static char path[128];

static sqlite3 *reopen(sqlite3 *db)
{
	if (db != NULL)
		coord_db_close(db);
	db = NULL;
	CHECK_EQ_INT(coord_db_open(path, &db), 0);
	return db;
}

static void test_run(void)
{
	static const struct coord_step_def plan[] = {
	    {"", "maintenance on"},
	    {"rails-1", "stop puma"},
	    {"postgresql-1", "load db/database.sql.gz"},
	    {"gitaly-1", "restore repositories"},
	};
	struct coord_run r;
	struct coord_step next, *steps = NULL;
	char id[COORD_RUN_ID_MAX], id2[COORD_RUN_ID_MAX];
	uint8_t *buf = NULL;
	size_t n = 0, len = 0;
	sqlite3 *db = reopen(NULL);

	if (db == NULL)
		return;
	CHECK_EQ_INT(coord_journal_create(db, "restore", "params", 6, plan, 4,
	                                  id, sizeof(id)),
	             0);
	CHECK(strncmp(id, "restore-", 8) == 0);
	/* One long operation at a time. */
	CHECK_EQ_INT(coord_journal_create(db, "upgrade", NULL, 0, plan, 1, id2,
	                                  sizeof(id2)),
	             LS_EBUSY);

	/* Step 1 done, step 2 sent: then the coordinator dies. */
	CHECK_EQ_INT(coord_journal_step_start(db, id, 1, 1001), 0);
	CHECK_EQ_INT(coord_journal_step_done(db, id, 1, "ok", 2), 0);
	CHECK_EQ_INT(coord_journal_step_start(db, id, 2, 1002), 0);
	db = reopen(db);
	CHECK_EQ_INT(coord_journal_halt_running(db, "coordinator restarted"),
	             1);
	CHECK_EQ_INT(coord_journal_get(db, id, &r, &steps, &n), 0);
	CHECK_EQ_INT(r.state, COORD_RUN_HALTED);
	CHECK_STR(r.reason, "coordinator restarted");
	CHECK_EQ_INT(r.nsteps, 4);
	CHECK_EQ_INT(r.ndone, 1);
	CHECK_EQ_INT(n, 4);
	if (n == 4) {
		CHECK_STR(steps[2].node, "postgresql-1");
		CHECK_EQ_INT(steps[1].state, COORD_STEP_STARTED);
		CHECK_EQ_INT(steps[1].op_id, 1002);
		CHECK_EQ_INT(steps[3].state, COORD_STEP_PENDING);
	}
	free(steps);

	/* Resume: the step it was in, under the id it was sent with. */
	CHECK_EQ_INT(coord_journal_next(db, id, &next), 0);
	CHECK_EQ_INT(next.seq, 2);
	CHECK_EQ_INT(next.state, COORD_STEP_STARTED);
	CHECK_EQ_INT(next.op_id, 1002);
	CHECK_EQ_INT(coord_journal_step_start(db, id, 2, 1002), 0);
	CHECK_EQ_INT(coord_journal_step_start(db, id, 2, 2002), LS_ESTATE);
	/* A done step is never started again. */
	CHECK_EQ_INT(coord_journal_step_start(db, id, 1, 3001), LS_ESTATE);
	CHECK_EQ_INT(coord_journal_step_done(db, id, 1, NULL, 0), LS_ESTATE);
	CHECK_EQ_INT(coord_journal_run_end(db, id, COORD_RUN_RUNNING, ""), 0);

	/* A failed step halts the run; a retry is a new operation. */
	CHECK_EQ_INT(coord_journal_step_failed(db, id, 2, "puma did not stop", NULL, 0),
	             0);
	CHECK_EQ_INT(coord_journal_run_end(db, id, COORD_RUN_HALTED,
	                                   "rails-1: puma did not stop"),
	             0);
	CHECK_EQ_INT(coord_journal_next(db, id, &next), 0);
	CHECK_EQ_INT(next.state, COORD_STEP_FAILED);
	CHECK_STR(next.error, "puma did not stop");
	CHECK_EQ_INT(coord_journal_step_retry(db, id, 2), 0);
	CHECK_EQ_INT(coord_journal_next(db, id, &next), 0);
	CHECK_EQ_INT(next.state, COORD_STEP_PENDING);
	CHECK_EQ_INT(next.op_id, 0);
	CHECK_EQ_INT(coord_journal_step_start(db, id, 2, 4002), 0);
	CHECK_EQ_INT(coord_journal_step_done(db, id, 2, NULL, 0), 0);
	CHECK_EQ_INT(coord_journal_step_start(db, id, 3, 4003), 0);
	CHECK_EQ_INT(coord_journal_step_done(db, id, 3, "rows", 4), 0);
	CHECK_EQ_INT(coord_journal_step_start(db, id, 4, 4004), 0);
	CHECK_EQ_INT(coord_journal_step_done(db, id, 4, NULL, 0), 0);
	CHECK_EQ_INT(coord_journal_next(db, id, &next), 0);
	CHECK_EQ_INT(next.seq, 0);
	CHECK_EQ_INT(coord_journal_run_end(db, id, COORD_RUN_DONE, ""), 0);

	/* What was kept. */
	CHECK_EQ_INT(coord_journal_params(db, id, &buf, &len), 0);
	CHECK(len == 6 && buf && memcmp(buf, "params", 6) == 0);
	free(buf);
	CHECK_EQ_INT(coord_journal_result(db, id, 3, &buf, &len), 0);
	CHECK(len == 4 && buf && memcmp(buf, "rows", 4) == 0);
	free(buf);
	CHECK_EQ_INT(coord_journal_result(db, id, 2, &buf, &len), LS_ENOENT);
	CHECK_EQ_INT(coord_journal_get(db, id, &r, NULL, NULL), 0);
	CHECK_EQ_INT(r.state, COORD_RUN_DONE);
	CHECK_EQ_INT(r.ndone, 4);
	CHECK(r.finished_at > 0);

	/* Now another may start; the list is newest first. */
	CHECK_EQ_INT(coord_journal_create(db, "upgrade", NULL, 0, plan, 1, id2,
	                                  sizeof(id2)),
	             0);
	{
		struct coord_run *runs = NULL;

		CHECK_EQ_INT(coord_journal_list(db, 10, &runs, &n), 0);
		CHECK_EQ_INT(n, 2);
		if (n == 2) {
			CHECK(runs[0].created_at >= runs[1].created_at);
			CHECK(strcmp(runs[0].id, id) == 0 ||
			      strcmp(runs[1].id, id) == 0);
			CHECK(strcmp(runs[0].id, id2) == 0 ||
			      strcmp(runs[1].id, id2) == 0);
		}
		free(runs);
	}
	CHECK_EQ_INT(
	    coord_journal_get(db, "restore-0-00000000", &r, NULL, NULL),
	    LS_ENOENT);
	coord_db_close(db);
}

static void test_refusals(void)
{
	static const struct coord_step_def bad[] = {{"n", ""}};
	struct coord_step_def big = {"n", NULL};
	char id[COORD_RUN_ID_MAX], name[200];
	sqlite3 *db = reopen(NULL);

	if (db == NULL)
		return;
	CHECK_EQ_INT(coord_journal_create(db, "restore", NULL, 0, NULL, 0, id,
	                                  sizeof(id)),
	             LS_EINVAL);
	CHECK_EQ_INT(coord_journal_create(db, "restore", NULL, 0, bad, 1, id,
	                                  sizeof(id)),
	             LS_EINVAL);
	memset(name, 'x', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	big.name = name;
	CHECK_EQ_INT(coord_journal_create(db, "restore", NULL, 0, &big, 1, id,
	                                  sizeof(id)),
	             LS_EINVAL);
	CHECK_EQ_INT(
	    coord_journal_create(db, "", NULL, 0, bad, 1, id, sizeof(id)),
	    LS_EINVAL);
	CHECK_EQ_INT(coord_journal_step_start(db, "nope", 1, 5), LS_ESTATE);
	CHECK_EQ_INT(coord_journal_step_start(db, "nope", 1, 0), LS_EINVAL);
	CHECK_EQ_INT(coord_journal_run_end(db, "nope", COORD_RUN_DONE, ""),
	             LS_ENOENT);
	coord_db_close(db);
}

int main(void)
{
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/coordinator.db", dir);
	test_run();
	test_refusals();
	ls_rmtree(dir);
	return tu_done();
}
