/*
 * lockstep cutover (issue 9): a Linux-package fleet moved onto the GitLab
 * Helm chart as one journaled run, its steps driven on the fleet's nodes
 * and on the node with the kubernetes role. A plan is the same run cut
 * short after its prerequisites: nothing is changed.
 */
#ifndef COORD_CUTOVER_H
#define COORD_CUTOVER_H

#include <stddef.h>
#include <stdint.h>

#include "control.pb-c.h"
#include "coord_journal.h"
#include "coord_state.h"
#include "lockstep.pb-c.h"

/* CutoverStepDef.kind */
enum co_kind {
	CO_SERVICES = 1, /* a GitLab node: every gitlab-ctl service up */
	CO_FSCK = 2,     /* a Gitaly node: git fsck of every repository */
	CO_RELEASE = 3,  /* the kubernetes node: the chart's release */
	CO_STORAGE = 4,  /* the database node: rows still on local storage */
};

/* Run kinds in the journal. */
#define CO_RUN_PLAN "cutover-plan"
#define CO_RUN "cutover"

void coord_cutover_request(struct coord *c, struct control_ctx *cc,
                           const Ls__CutoverReq *req);
/* Journals a new run from packed CutoverRunParams and starts it. */
int coord_cutover_begin(struct coord *c, const uint8_t *params, size_t len,
                        char *run, size_t runlen, char *err, size_t errlen);
void coord_cutover_resume(struct coord *c, struct control_ctx *cc,
                          const struct coord_run *run, struct coord_step *steps,
                          size_t n);
void coord_cutover_sweep(struct coord *c, int64_t now_ms);
void coord_cutover_drop(struct coord *c);
/* The journaled result's one line, for run show (NULL when none). */
char *coord_cutover_detail(const uint8_t *blob, size_t len);

/* coord_cutover_steps.c: the pure parts. */
/* Why an answered step failed its check, or "" (then detail says what it
 * found). fleet_version is X.Y.Z. */
void co_judge(const Ls__CutoverStepDef *d, const Ls__CutoverRunParams *p,
              const Ls__OpResult *res, char *why, size_t whylen, char *detail,
              size_t detlen);
/* The operation of a node step (room for its parts in the args). */
void co_step_op(const Ls__CutoverStepDef *d, const Ls__CutoverRunParams *p,
                const struct coord_node *n, char **roles, Ls__Operation *op,
                Ls__RunChecks *rc, Ls__RepoFsck *fs, Ls__KubeQuery *kq,
                Ls__KubeTarget *kt, Ls__StorageCounts *sc);
/* "17.8.2-ee" / "v17.8.2" -> "17.8.2"; 0, or LS_EINVAL. */
int co_version_core(const char *v, char *out, size_t len);

#endif
