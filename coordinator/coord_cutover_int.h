/*
 * The cutover run's insides, shared by the driver (coord_cutover.c) and
 * the steps that change things (coord_cutover_run.c).
 */
#ifndef COORD_CUTOVER_INT_H
#define COORD_CUTOVER_INT_H

#include "coord_cutover.h"

#define CO_PREREQ_PHASE 1
#define CO_MAX_COMPONENTS 16
#define CO_MAX_RAILS 32

struct co_run_step {
	enum coord_step_state state;
	uint64_t op_id;
};

/* Where a step made of several operations is (migrate, secrets). */
enum co_sub {
	CO_SUB_NONE,
	CO_SUB_COUNT,  /* first StorageCounts: what is still local */
	CO_SUB_RAKE,   /* one Rake task per component */
	CO_SUB_POLL,   /* StorageCounts until none is local */
	CO_SUB_EXPORT, /* SecretsExport on the deploy node */
	CO_SUB_APPLY,  /* KubeSecretsApply on the kubernetes node */
	CO_SUB_BACKUP, /* a fleet backup, followed in the catalog */
};

struct coord_cutover {
	char run[COORD_RUN_ID_MAX];
	int plan;
	int rollback;
	Ls__CutoverRunParams *p;
	struct co_run_step *st;
	size_t n;
	size_t inflight;
	int failed_prereq;
	int halt;
	char reason[1024];

	/* The step of several operations in flight, or -1. */
	long sub_step;
	enum co_sub sub;
	char comp[CO_MAX_COMPONENTS][32];
	size_t ncomp, comp_k;
	int64_t poll_deadline_ms, next_poll_ms;
	int poll_due;
	char backup_id[128];
	/* The secrets step: each Rails node's gitlab-secrets.json, sealed
	 * to the kubernetes node, the deploy node's first. */
	char rails[CO_MAX_RAILS][64];
	ProtobufCBinaryData sealed[CO_MAX_RAILS];
	size_t nrails, rails_k;
	char live[512]; /* the step in flight in one line, for run show */
};

typedef void (*co_answer_fn)(struct coord *c, struct coord_cutover *u, size_t i,
                             const Ls__OpResult *res);

const Ls__CutoverStepDef *co_def(const struct coord_cutover *u, size_t i);
/* The step ends: failed with why (non-empty), or done; r (may be NULL)
 * journaled as its result. */
void co_step_end(struct coord *c, struct coord_cutover *u, size_t i,
                 const char *why, const Ls__CutoverStepResult *r);
/* Sends op to node for step i under id; fn gets the answer (NULL when
 * none came in timeout_ms). */
void co_send(struct coord *c, struct coord_cutover *u, size_t i,
             const char *node, Ls__Operation *op, uint64_t id,
             int64_t timeout_ms, co_answer_fn fn);
void co_advance(struct coord *c, struct coord_cutover *u);
/* Drops what the secrets step gathered. */
void co_sealed_clear(struct coord_cutover *u);
/* The journaled result of the run's last step of kind, or NULL. */
Ls__CutoverStepResult *co_prior(struct coord *c, const struct coord_cutover *u,
                                enum co_kind kind);

/* coord_cutover_plan.c: the run and its steps to the CLI. */
void co_reply(struct control_ctx *cc, const char *run,
              const Ls__CutoverRunParams *p);
/* coord_cutover_undo.c: `lockstep cutover rollback RUN_ID`. */
void coord_cutover_rollback(struct coord *c, struct control_ctx *cc,
                            const Ls__CutoverReq *req);

/* coord_cutover_run.c: the steps after the prerequisites. */
void co_run_step(struct coord *c, struct coord_cutover *u, size_t i,
                 uint64_t id);
/* Timers: the next poll of a migration, the end of the backup. */
void co_run_tick(struct coord *c, struct coord_cutover *u);

#endif
