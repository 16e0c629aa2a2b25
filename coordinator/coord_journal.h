/*
 * The run journal: a long operation (a restore, an upgrade, a cutover) as
 * a run of numbered steps in the coordinator's database, each written
 * before it is sent and after it is answered, one transaction per write.
 * A coordinator killed at any point finds on restart the step it was in:
 * a step journaled as started is sent again under the operation id it was
 * first sent with, which the agent answers from its store if it already
 * ran it (agent_opstore.h), so nothing runs twice.
 */
#ifndef COORD_JOURNAL_H
#define COORD_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#define COORD_RUN_ID_MAX 64
#define COORD_STEP_NAME_MAX 128
#define COORD_RUN_MAX_STEPS 100000
/* A step's result or a run's parameters: a serialized message. */
#define COORD_JOURNAL_BLOB_MAX (16u << 20)

enum coord_step_state {
	COORD_STEP_PENDING,
	COORD_STEP_STARTED, /* sent; its answer not journaled */
	COORD_STEP_DONE,
	COORD_STEP_FAILED,
};

enum coord_run_state {
	COORD_RUN_RUNNING,
	COORD_RUN_HALTED, /* stopped at a step; `lockstep run resume` */
	COORD_RUN_DONE,
	COORD_RUN_FAILED,
};

struct coord_step_def {
	const char *node; /* "" for a step of the coordinator itself */
	const char *name;
};

struct coord_step {
	uint32_t seq; /* from 1 */
	char node[64];
	char name[COORD_STEP_NAME_MAX];
	enum coord_step_state state;
	uint64_t op_id; /* 0 until sent */
	int64_t started_at, finished_at;
	char error[512];
};

struct coord_run {
	char id[COORD_RUN_ID_MAX];
	char kind[32];
	enum coord_run_state state;
	int64_t created_at, finished_at;
	char reason[512];
	uint32_t nsteps, ndone;
};

const char *coord_step_state_name(enum coord_step_state s);
const char *coord_run_state_name(enum coord_run_state s);

/*
 * A new run of kind ("restore", "upgrade", "cutover") with its parameters
 * (may be NULL) and its steps, all pending, in one transaction; its id
 * ("<kind>-<unix>-<8 hex>") goes to id. LS_EINVAL for an empty plan, an
 * overlong name or kind; LS_EBUSY when a run of any kind is running or
 * halted (one long operation at a time).
 */
int coord_journal_create(sqlite3 *db, const char *kind, const void *params,
                         size_t params_len, const struct coord_step_def *steps,
                         size_t nsteps, char *id, size_t idlen);
/* The step is being sent as operation op_id: journaled first. */
int coord_journal_step_start(sqlite3 *db, const char *run, uint32_t seq,
                             uint64_t op_id);
/* Its answer: done, or failed with why; result (may be NULL) is kept
 * either way (a verification's mismatches explain its failure). Only a
 * started step can end; LS_ESTATE otherwise (also for a step_start of a
 * step that is neither pending nor started under that op id). */
int coord_journal_step_done(sqlite3 *db, const char *run, uint32_t seq,
                            const void *result, size_t result_len);
int coord_journal_step_failed(sqlite3 *db, const char *run, uint32_t seq,
                              const char *why, const void *result,
                              size_t result_len);
/* Back to pending (a halted run resumed after a failed step). */
int coord_journal_step_retry(sqlite3 *db, const char *run, uint32_t seq);
/*
 * A halted run taken up again: every failed step of steps (n of them, as
 * coord_journal_get gave them) back to pending, in the journal and in
 * steps (state pending, op id 0), then the run running.
 */
int coord_journal_resume(sqlite3 *db, const char *run, struct coord_step *steps,
                         size_t n);
int coord_journal_run_end(sqlite3 *db, const char *run,
                          enum coord_run_state state, const char *reason);

/* The run and, when steps is not NULL, its steps (caller frees *steps). */
int coord_journal_get(sqlite3 *db, const char *run, struct coord_run *out,
                      struct coord_step **steps, size_t *nsteps);
/* Where to go on: the first step that is not done (1-based; 0 when all
 * are), with its state and the op id it was sent with. */
int coord_journal_next(sqlite3 *db, const char *run, struct coord_step *next);
/* Parameters or a step's result (caller frees *buf); LS_ENOENT if none. */
int coord_journal_params(sqlite3 *db, const char *run, uint8_t **buf,
                         size_t *len);
int coord_journal_result(sqlite3 *db, const char *run, uint32_t seq,
                         uint8_t **buf, size_t *len);
/* Newest first, at most max (caller frees *runs). */
int coord_journal_list(sqlite3 *db, size_t max, struct coord_run **runs,
                       size_t *n);
/* On start: every running run becomes halted (the process that ran it is
 * gone); returns how many. */
int coord_journal_halt_running(sqlite3 *db, const char *reason);

#endif
