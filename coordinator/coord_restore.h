/*
 * A fleet restore (issue 4): the refusals and the plan
 * (coord_restore_plan.c), the backup read back and checked
 * (coord_restore_manifest.c), and the run itself, step by step in the run
 * journal (coord_restore.c), resumable after a coordinator restart.
 */
#ifndef COORD_RESTORE_H
#define COORD_RESTORE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "coord_journal.h"
#include "coord_state.h"

/* Steps of one phase run together; phases run in this order. */
enum rs_phase {
	RS_MAINT_ON = 1,
	RS_STOP,
	/* A rollback (lockstep rollback): the touched nodes' packages go back
	 * to the backup's version while Puma and Sidekiq are stopped, each
	 * phase on every such node at once (gitlab-facts §7, Downgrade). */
	RS_DOWN_REMOVE,
	RS_DOWN_INSTALL,
	RS_DOWN_RECONFIGURE,
	RS_DATA, /* database, repositories, files, secrets: every node at once
	          */
	RS_START,
	RS_READY, /* only in runs journaled before readiness joined start */
	RS_MAINT_OFF,
	/* Each node's verification and its `lockstep check` together: both
	 * only read, and neither needs the other's answer. */
	RS_VERIFY,
};

/* Step names of a downgrade; the install's is followed by X.Y.Z. */
#define RS_DOWN_REMOVE_NAME "downgrade: remove the package"
#define RS_DOWN_INSTALL_NAME "downgrade: install"
#define RS_DOWN_RECONFIGURE_NAME "downgrade: reconfigure"

/* "start puma sidekiq" + this: start, then wait for /-/readiness. */
#define RS_READY_SUFFIX "and wait for readiness"

struct rs_step {
	uint32_t seq;
	char node[64];
	char name[COORD_STEP_NAME_MAX];
	enum rs_phase phase;
	enum coord_step_state state;
	uint64_t op_id;
};

/* What the manifest says, read once per run. */
struct rs_backup {
	char id[128];
	char dir[4096];
	char version[64];
	json_t *manifest; /* signed, verified */
};

struct rs_plan {
	struct rs_step *steps;
	size_t n, cap;
	char notes[8][256];
	size_t nnotes;
};

/* coord_restore_manifest.c: no lock held (reads the store). */
/*
 * Reads <store>/<id>/lockstep/manifest.json, checks its signature with the
 * coordinator's key (sign_pk) and, with artifacts set, every artifact's
 * size and SHA-256 (err names the first one that differs).
 */
int rs_backup_load(const char *store, const char *id, const uint8_t sign_pk[32],
                   int artifacts, struct rs_backup *b, char *err,
                   size_t errlen);
void rs_backup_clear(struct rs_backup *b);
/* Opens one sealed secrets file of the backup with key sk: the key is the
 * backup's (LS_ECRYPTO otherwise); 0 also when there is none to try. */
int rs_backup_check_key(const struct rs_backup *b, const uint8_t sk[32],
                        char *err, size_t errlen);
/* The expected table rows of the backup's database node, or NULL. */
json_t *rs_backup_table_rows(const struct rs_backup *b);

/* coord_restore_plan.c: caller holds c->mtx. */
/*
 * The refusals (GitLab versions, a node for every node, role and storage
 * of the backup, --map) and the plan. drill: no version check, and the
 * plan holds one drill step per node.
 */
int rs_plan_make(struct coord *c, const struct rs_backup *b,
                 const Ls__RestoreReq *req, int drill, struct rs_plan *p,
                 char *err, size_t errlen);
void rs_plan_free(struct rs_plan *p);
/* The phase of a step from its name (a resumed run has only the names). */
enum rs_phase rs_step_phase(const char *name);
/*
 * The operation for step s of the plan steps[nsteps] (a verify or drill
 * compares what its node restored), on node (its roles, for a check).
 * op->id is set by the enqueue. Strings it points to live in *scratch (free
 * with rs_op_scratch_free). key: the backup key for a secrets step, or NULL.
 * prior_rows: a restore-database step's result, for a backup without
 * counts at the cut (an import).
 */
struct rs_op_scratch;
int rs_step_op(const struct rs_backup *b, const struct rs_step *steps,
               size_t nsteps, const struct rs_step *s,
               const struct coord_node *node, const uint8_t *key,
               const Ls__RestoreResult *prior_rows, Ls__Operation *op,
               struct rs_op_scratch **scratch, char *err, size_t errlen);
void rs_op_scratch_free(struct rs_op_scratch *s);

/* coord_restore.c: the control requests. Caller holds c->mtx. */
void coord_restore_request(struct coord *c, struct control_ctx *cc,
                           const Ls__RestoreReq *req);
void coord_restore_resume(struct coord *c, struct control_ctx *cc,
                          const Ls__RunResumeReq *req);
void coord_run_list(struct coord *c, struct control_ctx *cc);
void coord_run_show(struct coord *c, struct control_ctx *cc, const char *id);
/*
 * A halted run of n steps taken up again: its journaled parameters, a
 * message of desc with a repeated field "steps" of n entries, and the
 * journal marked resumed. NULL when not, after answering cc; the caller
 * frees the message (protobuf_c_message_free_unpacked).
 */
ProtobufCMessage *
coord_run_resume_params(struct coord *c, struct control_ctx *cc,
                        const struct coord_run *run, struct coord_step *steps,
                        size_t n, const ProtobufCMessageDescriptor *desc);
/* coord_drill.c */
void coord_drill_request(struct coord *c, struct control_ctx *cc,
                         const Ls__BackupDrillReq *req);
/* coord_rollback.c */
void coord_rollback_request(struct coord *c, struct control_ctx *cc,
                            const Ls__RollbackReq *req);
/*
 * Before a rollback run is journaled: the halted upgrade run it replaces
 * ends (only one run is open at a time); *saved keeps its state for
 * coord_rollback_unsupersede when the new run cannot be journaled.
 */
int coord_rollback_supersede(struct coord *c, const Ls__RestoreReq *req,
                             struct coord_run *saved, char *err, size_t errlen);
void coord_rollback_unsupersede(struct coord *c, const struct coord_run *saved);
/* Whether a run (restore) is being driven: backups wait for it. */
int coord_restore_active(const struct coord *c);
/* At shutdown: the journal keeps where the run was. */
void coord_restore_drop(struct coord *c);

#endif
