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
	CO_MIGRATE = 5,  /* deploy node: Rake tasks, then no local rows */
	CO_BACKUP = 6, /* the coordinator: a fleet backup, moved ones skipped */
	CO_SECRETS = 7,    /* kubernetes node: the chart's Secrets replaced */
	CO_SCALE_DOWN = 8, /* webservice and sidekiq to 0 */
	CO_RESTORE = 9,    /* backup-utility --restore in the toolbox pod */
	CO_SCALE_UP = 10,  /* back to the counts before */
	CO_RESTART = 11,   /* kubectl delete pods -lrelease=, all ready */
	CO_VERIFY = 12,    /* the chart side against the backup */
	CO_UNDO_SECRETS = 13, /* rollback: the previous Secrets back */
	CO_UNDO_SCALE = 14,   /* rollback: the replica counts back */
};
#define CO_KIND_MAX CO_UNDO_SCALE

/* Run kinds in the journal. */
#define CO_RUN_PLAN "cutover-plan"
#define CO_RUN "cutover"
#define CO_RUN_ROLLBACK "cutover-rollback"

/* A journal run kind of this module. */
int coord_cutover_kind(const char *kind);
/* The step in flight of the running cutover in one line, or NULL. */
char *coord_cutover_live(struct coord *c, const char *run, uint32_t seq);

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
/* What a later step needs of a prerequisite's answer into r: the release's
 * webservice and sidekiq deployments. Arrays point into res; the caller
 * frees r->replicas (not its items). */
int co_keep(const Ls__CutoverStepDef *d, const Ls__OpResult *res,
            Ls__CutoverStepResult *r);
/* The operation of a node step (room for its parts in the args). */
void co_step_op(const Ls__CutoverStepDef *d, const Ls__CutoverRunParams *p,
                const struct coord_node *n, char **roles, Ls__Operation *op,
                Ls__RunChecks *rc, Ls__RepoFsck *fs, Ls__KubeQuery *kq,
                Ls__KubeTarget *kt, Ls__StorageCounts *sc);
/* "17.8.2-ee" / "v17.8.2" -> "17.8.2"; 0, or LS_EINVAL. */
int co_version_core(const char *v, char *out, size_t len);

#endif
