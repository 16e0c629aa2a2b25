/*
 * Shared by exec_restore*.c (one restore operation in the executor); not
 * part of the exec helper's API.
 */
#ifndef EXEC_RESTORE_INT_H
#define EXEC_RESTORE_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "agent_config.h"
#include "lockstep.pb-c.h"
#include "ls_yaml.h"

/* Mismatches carried in the result; all of them are counted. */
#define XR_MISMATCH_MAX 100
/* db, repositories and every file component, with room to spare. */
#define XR_OUTCOME_MAX 24
#define XR_PROGRESS_MS 250

struct xr {
	const struct agent_config *cfg;
	uint64_t op_id;
	char err[2048];
	/* Progress frames come from the libraries' worker threads too: one
	 * writer at a time, at most one frame every XR_PROGRESS_MS. */
	pthread_mutex_t mu;
	int64_t sent_ms;
	/* The answer. Every string and array below it is malloc'ed, so the
	 * whole message is freed by ls__restore_result__free_unpacked. */
	Ls__RestoreResult *res;
	/* RepoFsck's answer instead, when that is the operation (freed by
	 * ls__repo_fsck_result__free_unpacked). */
	Ls__RepoFsckResult *fsck;
	/* KubeRestore's (ls__kube_restore_result__free_unpacked). */
	Ls__KubeRestoreResult *kres;
	/* KubeVerify's (ls__kube_verify_result__free_unpacked). */
	Ls__KubeVerifyResult *kverify;
	size_t mcap; /* allocated entries of res->mismatches */
	/* mismatches found by the component being compared */
	const char *comp;
	uint64_t comp_mismatches;
	int oom;
};

/* Sends a Progress frame (rate-limited); a backup_progress_fn. */
void xr_progress(void *arg, const char *component, uint64_t bytes,
                 uint64_t done, uint64_t total);
/* Sends a Progress frame carrying output lines at once (lines are not
 * rate-limited: each is sent once). 0 or the write error. */
int xr_progress_lines(struct xr *x, const char *component, uint64_t bytes,
                      char **lines, size_t n);
/* Records a mismatch of x->comp; the first XR_MISMATCH_MAX are kept. */
void xr_mismatch(struct xr *x, const char *item, const char *expected,
                 const char *found);
/* A new outcome for component (ok until told otherwise); NULL on ENOMEM. */
Ls__ComponentOutcome *xr_outcome(struct xr *x, const char *component);
/* Sets o's error (copied) and clears ok. */
void xr_outcome_fail(struct xr *x, Ls__ComponentOutcome *o, const char *err);
int xr_table_rows(struct xr *x, Ls__TableCount ***v, size_t *n,
                  const char *table, uint64_t rows);
/* A path inside the backup: relative, no "..", no control character. */
/* err says why not. */
int xr_rel_ok(const char *what, const char *rel, char *err, size_t errlen);
/* backup_dir must be absolute and clean; out = backup_dir/rel (rel may be
 * NULL: backup_dir itself). */
int xr_backup_path(const char *backup_dir, const char *rel, char *out,
                   size_t len, char *err, size_t errlen);
/* op's storage names as the repository libraries take them: NULL for
 * none (every configured storage). */
const struct ls_strlist *xr_storages(struct ls_strlist *l, char **names,
                                     size_t n);

/* The comparisons (exec_restore_verify.c), also used by the drill. */
int xr_verify_db(struct xr *x, const char *conninfo,
                 Ls__TableCount *const *want, size_t nwant,
                 Ls__ComponentOutcome *o);
int xr_verify_repos(struct xr *x, const struct agent_config *cfg,
                    const char *backup_dir, const char *backup_id,
                    const struct ls_strlist *storages, Ls__ComponentOutcome *o);
int xr_verify_files(struct xr *x, const char *component, const char *archive,
                    const char *dir, Ls__ComponentOutcome *o);

int xr_restore_verify(struct xr *x, const Ls__RestoreVerify *v);
/* exec_restore_drill.c */
int xr_restore_drill(struct xr *x, const Ls__RestoreDrill *d);
/* exec_restore_node.c: secrets and services */
int xr_restore_secrets(struct xr *x, Ls__RestoreSecrets *s);
int xr_services(struct xr *x, const Ls__Services *s);

#endif
