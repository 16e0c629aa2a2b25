/*
 * The repositories of a Gitaly storage, found by walking its directory
 * (@hashed/ab/cd/<sha256>.git and legacy namespaces), and `git fsck` of
 * one of them. Shared by the gitaly:fsck check (a sample) and the
 * RepoFsck operation (every repository).
 */
#ifndef GITALY_WALK_H
#define GITALY_WALK_H

#include <stddef.h>
#include <stdint.h>

#include "agent_config.h"
#include "ls_util.h"

/* Bounds the walk on a pathological tree. */
#define GITALY_WALK_MAX_ENTRIES 5000000

/* Called with each repository's path relative to the storage root. A
 * negative return stops the walk and is returned by gitaly_walk. */
typedef int (*gitaly_repo_fn)(void *arg, const struct agent_gitaly_storage *st,
                              const char *rel);

struct gitaly_walk {
	uint64_t entries; /* directory entries read, over every storage */
	/* The first directory that could not be read (walking goes on past
	 * it: a check may live with it, a full fsck may not). */
	int err;
	char err_path[LS_PATH_MAX];
};

/*
 * Walks one storage, calling fn for each repository. Returns 0 (see
 * w->err for unreadable directories and w->entries against
 * GITALY_WALK_MAX_ENTRIES for an early stop), or fn's negative return.
 */
int gitaly_walk(const struct agent_gitaly_storage *st, struct gitaly_walk *w,
                gitaly_repo_fn fn, void *arg);

enum gitaly_fsck_line {
	GITALY_FSCK_FIRST_LINE, /* the check's reason */
	GITALY_FSCK_LAST_LINE,  /* what git said last: the operation's */
};

/*
 * `git --git-dir=<storage>/<rel> fsck --no-progress --no-dangling` within
 * gitaly.fsck_timeout. Returns 1 when it passed; otherwise 0 with why
 * (one printable line: git's first or last stderr line, a timeout or a
 * start failure).
 */
int gitaly_fsck(const struct agent_config *cfg,
                const struct agent_gitaly_storage *st, const char *rel,
                enum gitaly_fsck_line which, char *why, size_t whylen);

#endif
