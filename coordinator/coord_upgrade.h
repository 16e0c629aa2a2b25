/*
 * A fleet upgrade (issue 5): the plan (coord_upgrade_plan.c) asks every
 * node which versions its package repositories offer, computes GitLab's
 * path through the required stops and lays out each stop's steps
 * (upgrade_steps.c); the run (coord_upgrade.c) drives them through the run
 * journal, resumable after a coordinator restart.
 */
#ifndef COORD_UPGRADE_H
#define COORD_UPGRADE_H

#include "control.pb-c.h"
#include "coord_journal.h"
#include "coord_state.h"
#include "upgrade_steps.h"

/* A step's kind in UpgradeStepDef.kind is enum ug_step_kind. */

/* lockstep upgrade plan|run. Caller holds c->mtx; answers later. */
void coord_upgrade_request(struct coord *c, struct control_ctx *cc,
                           const Ls__UpgradeReq *req);

/*
 * Packs the run parameters of a plan: the request, the version the fleet
 * is on, the path and the steps. Caller frees *buf.
 */
int coord_upgrade_params_pack(const Ls__UpgradeReq *req, const char *from,
                              const Ls__UpgradeStop *const *stops,
                              size_t nstops, const struct ug_steps *steps,
                              uint8_t **buf, size_t *len);

/* The answer to plan and run (and a resume): the plan and the run id. */
void coord_upgrade_reply(struct control_ctx *cc, const Ls__UpgradeRunParams *p,
                         const char *run_id, const char *const *notes,
                         size_t nnotes, Ls__NodeVersions **nodes,
                         size_t nnodes);

/* coord_upgrade.c. Caller holds c->mtx. */
/*
 * Journals a new upgrade run with the packed UpgradeRunParams and starts
 * it; its id goes to run. LS_EBUSY when another long operation runs.
 */
int coord_upgrade_begin(struct coord *c, const uint8_t *params, size_t len,
                        char *run, size_t runlen, char *err, size_t errlen);
/* `lockstep run resume` of a halted upgrade run (its journal rows). */
void coord_upgrade_resume(struct coord *c, struct control_ctx *cc,
                          const struct coord_run *run, struct coord_step *steps,
                          size_t n);
/* From the main loop: background-migration polls, the backup's end. */
void coord_upgrade_sweep(struct coord *c, int64_t now_ms);
/* The one-line outcomes of run's registry steps, from the journal: detail
 * (n of them) gets a malloc'd string for each such ended step, the others
 * are left as they are. */
void coord_upgrade_details(struct coord *c, const char *run,
                           const struct coord_step *steps, size_t n,
                           char **detail);
int coord_upgrade_active(const struct coord *c);
/* At shutdown: the journal keeps where the run was. */
void coord_upgrade_drop(struct coord *c);

#endif
