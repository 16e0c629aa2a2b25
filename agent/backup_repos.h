/*
 * The repositories part of a node's consistent backup (DESIGN §5).
 *
 * The cut, taken while GitLab is frozen, records every repository's refs
 * and HEAD. The copy, run after the thaw while pushes continue, writes
 * gitaly-backup's manifest layout (gitlab-facts §2) with bundles whose refs
 * are exactly the recorded ones. Each bundle is written here, as `git bundle
 * create - --all` writes it: a header of the recorded refs, then the pack of
 * ONE `git pack-objects --stdout` run in the real repository on their ids,
 * so pushes since the cut do not show and the real repository is never
 * written to. One process a repository, because process creation dominates
 * the copy's CPU on paravirtualised machines (three were ~35 ms a
 * repository, pack-objects alone ~23 ms).
 */
#ifndef BACKUP_REPOS_H
#define BACKUP_REPOS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "agent_config.h"
#include "backup_artifact.h"
#include "ls_exec.h"
#include "ls_yaml.h"

struct backup_repos_cut {
	uint64_t repos; /* repositories recorded, unreadable ones included */
	uint64_t refs;  /* refs under refs/ over all repositories (files
	                 * backend; reftable repositories count 0 here: their
	                 * refs are counted by the copy's 001.refs only) */
	uint64_t empty; /* repositories with no ref and no detached HEAD */
};

/*
 * Walks every configured storage for repositories (directories named
 * *.git: @hashed/ab/cd/<sha256>.git and legacy <namespace>/<project>.git;
 * +gitaly/ is skipped and no *.git directory is descended into), and
 * records each one's refs, HEAD and object format without running git
 * (backup_repos_snap.c reads loose refs, packed-refs and HEAD as git's
 * files backend does; a reftable repository's tables are hard-linked into
 * workdir/repos.<storage>.snap/<n>.git) into workdir/repos.<storage>.cut, one
 * file per storage, each written atomically. Symlinks are never followed. Runs
 * cfg->backup.jobs repositories in parallel (0 = cores). A repository
 * that cannot be read is recorded as unreadable (and logged) rather than
 * failing the cut: the copy then fails it, or skips it with allow_partial.
 * A missing or unreadable storage directory, or a storage name unusable as
 * a path component, fails the cut. Counts go to out.
 */
int backup_repos_cut(const struct agent_config *cfg, const char *workdir,
                     struct backup_repos_cut *out, char *err, size_t errlen);

/*
 * For every repository recorded in workdir, writes under backup_dir
 * gitaly-backup's manifest layout for backup_id:
 *   repositories/<storage>/<rel>/<id>/001.bundle  (not for empty repos)
 *   repositories/<storage>/<rel>/<id>/001.refs    (HEAD first when it
 *                                                  resolves; empty if none)
 *   repositories/<storage>/<rel>/<id>/001.custom_hooks.tar (if custom_hooks/)
 *   repositories/manifests/<storage>/<rel>/<id>.toml and +latest.toml
 * Every file mode 0644 through ls_afile, appended to out with component
 * "repositories". cfg->backup.jobs repositories run in parallel.
 *
 * A repository that cannot be copied (git fails, it was unreadable at the
 * cut, it vanished) fails the call with an error naming storage and
 * relative path, and every file this call wrote is removed again; with
 * allow_partial it is skipped instead and "storage/rel" is appended to
 * failed (the caller frees the strings and the array). Failures to write
 * the destination (ENOSPC, EIO...) fail the call even with allow_partial.
 * progress (may be NULL) receives ("repositories", bytes written, repositories
 * done, repositories total) at most every 250 ms, and once at the end.
 */
int backup_repos_copy(const struct agent_config *cfg, const char *workdir,
                      const char *backup_dir, const char *backup_id,
                      int allow_partial, backup_progress_fn progress, void *arg,
                      struct backup_artifacts *out, struct ls_strlist *failed,
                      char *err, size_t errlen);

/* ---- Shared by backup_repos*.c only; not part of the API. ---- */

/* workdir/repos.<storage>.cut */
#define BACKUP_REPOS_CUT_PREFIX "repos."
#define BACKUP_REPOS_CUT_SUFFIX ".cut"
#define BACKUP_REPOS_CUT_MAGIC "lockstep-repos-cut 2"
#define BACKUP_REPOS_SNAP_SUFFIX ".snap"
/* Longest line of a cut file, and so of a relative path or a refname. */
#define BACKUP_REPOS_LINE_MAX 8192
/* Bound on one repository's refs held in memory (its ref list, or
 * for-each-ref's output). */
#define BACKUP_REPOS_REFS_OUT_MAX ((size_t)512 << 20)
#define BACKUP_REPOS_STDERR_MAX 8192

/* A storage name usable as a file and path component. */
int backup_repos_storage_name_ok(const char *name);
/* Relative path as recorded: no "." / ".." / empty component, ends .git. */
int backup_repos_rel_ok(const char *rel);
/* Lowercase hex of SHA-1 (40) or SHA-256 (64) length. */
int backup_repos_oid_ok(const char *s, size_t len);
/* A full refname under refs/ that git would accept for our purposes. */
int backup_repos_refname_ok(const char *s, size_t len);

/* Worker threads for work items: cfg->backup.jobs (0 = cores), at most
 * BACKUP_REPOS_MAX_THREADS. */
#define BACKUP_REPOS_MAX_THREADS 128
size_t backup_repos_threads(const struct agent_config *cfg, size_t work);
/* The git timeout for one command, from cfg->op_timeout. */
int backup_repos_timeout_ms(const struct agent_config *cfg);
/*
 * Runs cfg->gitaly.git [--git-dir=<gitdir>] <args...> (no --git-dir when
 * gitdir is NULL); returns ls_exec_run's result (res always to be freed).
 */
int backup_repos_git(const struct agent_config *cfg, const char *gitdir,
                     const char *const *args, size_t max_out,
                     struct ls_exec_result *res);
/* Why a git run failed: "<what>: <first stderr line or status>". */
void backup_repos_why(char *why, size_t len, const char *what, int rv,
                      const struct ls_exec_result *res);

/* What the cut took of one repository (backup_repos_snap.c). */
struct backup_repos_snap {
	char head[BACKUP_REPOS_LINE_MAX]; /* HEAD's target when symbolic */
	char headoid[72];                 /* HEAD's id when detached */
	char fmt[8];                      /* object format: sha1, sha256 */
	int reftable;                     /* refs in reftable/ */
	uint64_t nrefs;                   /* files backend: refs under refs/ */
};
/* Receives the snapshot's "ref"/"symref" lines; <0 stops it. */
typedef int (*backup_repos_emit_fn)(void *arg, const char *s, size_t len);
/*
 * Snapshots the refs of the repository at repo: files backend, every ref
 * as a line to emit ("ref <oid> <refname>\n", or "symref <refname>
 * <target>\n" for a loose symbolic ref), HEAD and counts into s; reftable,
 * its tables hard-linked into the new directory dst. 0: taken; 1: the
 * repository cannot be read (why says why; lines emitted are void); <0:
 * our own failure (dst's filesystem, memory, emit's).
 */
int backup_repos_snapshot(const struct agent_config *cfg, const char *repo,
                          const char *dst, backup_repos_emit_fn emit, void *arg,
                          struct backup_repos_snap *s, char *why,
                          size_t whylen);

/* One repository's block of a cut file, as read back. */
struct backup_repos_block {
	char rel[BACKUP_REPOS_LINE_MAX];
	char broken[BACKUP_REPOS_LINE_MAX]; /* why it could not be read */
	uint64_t snap; /* reftable: its snapshot, <snap>.git */
	struct backup_repos_snap s;
	uint64_t total; /* from the closing "total" line */
	int pending;    /* the scratch line holds the first ref line or "end" */
};
/*
 * Reads a block's header at f's position into b, with line (of
 * BACKUP_REPOS_LINE_MAX bytes) as scratch for backup_repos_block_refs.
 * 1: a block (complete if b->broken[0]); 0: the "total" line; <0: the
 * file is malformed.
 */
int backup_repos_block_head(FILE *f, char *line, struct backup_repos_block *b);
/* A ref line: target is NULL for "ref", oid NULL for "symref". */
typedef int (*backup_repos_ref_fn)(void *arg, const char *oid,
                                   const char *refname, const char *target);
/* Reads the block's refs through "end", calling fn (may be NULL) on each;
 * fn's negative return stops and is returned. */
int backup_repos_block_refs(FILE *f, char *line, struct backup_repos_block *b,
                            backup_repos_ref_fn fn, void *arg, uint64_t *n);

/* A repository of the cut, as the copy schedules it. */
struct backup_repos_job {
	const char *storage;      /* name */
	const char *storage_path; /* from cfg */
	const char *cut_path;     /* the cut file holding its block */
	const char *snap_root; /* reftable snapshots: workdir/repos.<st>.snap */
	long offset;           /* of its "repo" line */
	uint64_t nrefs;
	char *rel;
};

/* Progress and shared state of one copy (backup_repos_copy.c). */
struct backup_repos_copy_ctx;
void backup_repos_add_bytes(struct backup_repos_copy_ctx *c, uint64_t n);
/* Unlinks the artifacts of a from index from on (paths relative to
 * backup_dir), removes the directories this leaves empty below backup_dir,
 * and forgets them. */
void backup_repos_undo(const char *backup_dir, struct backup_artifacts *a,
                       size_t from);

/*
 * Copies one repository (backup_repos_one.c). The written files' artifacts
 * go to arts (relative to backup_dir); on failure nothing of it is left
 * behind. *fatal is set when the failure is the destination's, not the
 * repository's.
 */
int backup_repos_copy_one(const struct agent_config *cfg,
                          const struct backup_repos_job *job,
                          const char *backup_dir, const char *backup_id,
                          struct backup_repos_copy_ctx *ctx,
                          struct backup_artifacts *arts, int *fatal, char *why,
                          size_t whylen);

/*
 * Makes a reftable repository's snapshot snapdir a bare repository of its
 * own (backup_repos_scratch.c): config, a placeholder HEAD and alternates
 * to the real repository repo's objects. <0 on failure, why says why,
 * *fatal set when the failure is ours.
 */
int backup_repos_scratch(const char *repo, const char *snapdir,
                         const struct backup_repos_snap *s, int *fatal,
                         char *why, size_t whylen);

/* One ref of a repository's copy (backup_repos_bundle.c). */
struct backup_repos_ref {
	const char *name;
	const char *oid;          /* its own id; NULL when symbolic */
	const char *target;       /* symbolic: the ref it names; else NULL */
	const char *tip;          /* the id it resolves to; NULL: it does not */
	size_t name_off, val_off; /* into text, while it grows */
};
/* A repository's refs as its copy writes them: sorted by refname as git
 * sorts them, symbolic ones resolved as git resolves them. */
struct backup_repos_reflist {
	struct backup_repos_ref *v;
	size_t n, cap;
	char *text; /* names, ids and targets, each NUL-terminated */
	size_t len, tcap;
	size_t oidlen; /* 40 (sha1) or 64 (sha256) */
	const char *fmt;
	size_t ntips;     /* refs that resolve */
	char headoid[72]; /* HEAD's id when it resolves */
};
void backup_repos_reflist_free(struct backup_repos_reflist *l);
/*
 * The files backend: the refs of the block b (its header read from cut,
 * line the scratch of backup_repos_block_refs), HEAD from b->s. A bad id
 * or a name git refuses fails the repository (LS_ECHILD, why says why);
 * *fatal set when the failure is ours (memory, the cut file).
 */
int backup_repos_reflist_cut(struct backup_repos_reflist *l, FILE *cut,
                             char *line, struct backup_repos_block *b,
                             int *fatal, char *why, size_t whylen);
/* reftable: the refs from `git for-each-ref --format=%(objectname)
 * %(refname)` output out (resolved by git), HEAD from s. LS_ECHILD on
 * output not of that form, LS_ENOMEM. */
int backup_repos_reflist_git(struct backup_repos_reflist *l, const char *out,
                             size_t len, const struct backup_repos_snap *s,
                             char *why, size_t whylen);
/* Receives a copy's bytes; <0 stops the writer and is returned (the sink
 * says why itself). */
typedef int (*backup_repos_sink_fn)(void *arg, const void *buf, size_t len);
/* 001.refs: "<id> HEAD" first when HEAD resolves, then "<id> <refname>". */
int backup_repos_refs_write(const struct backup_repos_reflist *l,
                            backup_repos_sink_fn sink, void *arg);
/*
 * 001.bundle as `git bundle create - --all` writes it: the header, then
 * `git pack-objects` run in gitdir on the header's ids. <0 on failure,
 * why says why unless the sink failed; *fatal set when it is ours.
 */
int backup_repos_bundle_write(const struct agent_config *cfg,
                              const char *gitdir,
                              const struct backup_repos_reflist *l,
                              backup_repos_sink_fn sink, void *arg, int *fatal,
                              char *why, size_t whylen);

/*
 * Writes the uncompressed tar (pax restricted) of <repo_path>/custom_hooks
 * into f (backup_repos_hooks.c). LS_ECHILD when the hooks cannot be read
 * (the repository's failure, why says why); other errors are f's.
 */
struct ls_afile;
int backup_repos_hooks_tar(const char *repo_path, struct ls_afile *f, char *why,
                           size_t whylen);
/* Writes s into dst as gitaly's go-toml v2 writes a string: 'literal'
 * unless s holds ' or control characters, then "basic" with escapes. */
int backup_repos_toml_str(char *dst, size_t size, const char *s);

#endif
