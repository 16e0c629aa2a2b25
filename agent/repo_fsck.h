/*
 * RepoFsck: `git fsck` of every repository of this node's Gitaly storages,
 * in parallel, in the framed restore child (its Progress frames say how
 * many repositories are done).
 */
#ifndef REPO_FSCK_H
#define REPO_FSCK_H

#include "exec_restore_int.h"

/* Jobs when the operation names none: the cores, at most this many. */
#define REPO_FSCK_JOBS_MAX 16
/* Failure entries carried in the result; more make the operation fail
 * (with these still sent) rather than understate the damage. */
#define REPO_FSCK_FAILURES_MAX 1000

/*
 * Fills x->fsck (checked, and a failure entry per repository fsck found
 * corrupt, sorted by storage then path). A corrupt repository is not an
 * error; a storage directory that cannot be read, or a walk or deadline
 * that leaves repositories unchecked, is, naming it in x->err.
 */
int xr_repo_fsck(struct xr *x, const Ls__RepoFsck *f);

#endif
