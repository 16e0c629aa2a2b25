/*
 * Restoring the repositories of one Gitaly node from a backup in
 * gitaly-backup's manifest layout (gitlab-facts §2), as Gitaly's restore
 * does, and the proof that every repository's refs equal its last .refs.
 *
 * Each repository is built as a new bare repository beside its final path
 * under a temporary name, and only renamed into place once complete: a
 * failure never leaves a half-restored repository at the real path. The
 * repository it replaces, and every repository of the storages that the
 * backup does not hold, are moved into
 * <storage>/+gitaly/lockstep-restore.<unix time>/ (same filesystem, so a
 * rename; +gitaly/ is never walked by a backup), as GitLab's restore
 * removes them.
 */
#ifndef RESTORE_REPOS_H
#define RESTORE_REPOS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent_config.h"
#include "backup_artifact.h"
#include "ls_yaml.h"

/* Bounds on what a backup may hand us. */
#define RESTORE_REPOS_MANIFEST_MAX ((size_t)1 << 20)
#define RESTORE_REPOS_MAX_STEPS 1024
#define RESTORE_REPOS_PATH_MAX 3072
#define RESTORE_REPOS_REFS_MAX ((size_t)512 << 20)

struct restore_repos_result {
	uint64_t repos;   /* restored, empty ones included */
	uint64_t empty;   /* restored as empty repositories */
	uint64_t removed; /* not in the backup: moved aside */
	uint64_t bytes;   /* bundle bytes read */
};

/*
 * Restores every repository whose manifest
 * repositories/manifests/<storage>/<rel>/<backup_id>.toml is in backup_dir,
 * for the configured storages named in storages (NULL: every configured
 * storage; a name not configured is LS_EINVAL), into <storage path>/<rel>,
 * then moves aside every repository of those storages that the backup does
 * not hold (non_existent = true counts as not held). cfg->backup.jobs
 * repositories run in parallel. Every file of a restored repository is
 * given the storage directory's owner.
 *
 * A repository that cannot be restored (a hostile manifest, .refs or
 * bundle; git failing) fails the call with err naming storage, relative
 * path and the file; the other repositories already restored stay
 * restored, no repository is moved aside as not held, and the failed one's
 * real path is as it was. With allow_partial it is listed in failed as
 * "storage/rel" (the caller frees the strings and the array) and the
 * restore goes on. progress (may be NULL) receives ("repositories", bundle
 * bytes read, repositories done, total) at most every 250 ms and once at
 * the end. res (may be NULL) gets the counts.
 */
int restore_repos(const struct agent_config *cfg, const char *backup_dir,
                  const char *backup_id, const struct ls_strlist *storages,
                  int allow_partial, backup_progress_fn progress, void *arg,
                  struct restore_repos_result *res, struct ls_strlist *failed,
                  char *err, size_t errlen);

/* repo is "storage/rel"; ref is "HEAD" or a refname, or NULL when the
 * repository itself is missing; expected and found are ids, "" for none. */
typedef void (*restore_repos_mismatch_fn)(void *arg, const char *repo,
                                          const char *ref, const char *expected,
                                          const char *found);

/*
 * For every manifest restore_repos would restore, compares the
 * repository's refs and resolved HEAD (as `git show-ref --head` lists them,
 * read without git as the backup's cut reads them; git itself only for a
 * repository that reader leaves to git) with its last .refs, reporting
 * each difference through cb (may be NULL; called from one thread at a
 * time). Returns the number of mismatches (0: every repository equals
 * its backup), or a negative error (err set) when the backup cannot be
 * read or git cannot run.
 */
int restore_repos_verify(const struct agent_config *cfg, const char *backup_dir,
                         const char *backup_id,
                         const struct ls_strlist *storages,
                         restore_repos_mismatch_fn cb, void *arg, char *err,
                         size_t errlen);

/* ---- Parsers (restore_repos_parse.c), also for fuzzing. ---- */

struct restore_repos_step {
	char *bundle, *refs, *prev_refs, *hooks; /* NULL when absent */
};

struct restore_repos_manifest {
	int empty, non_existent;
	char fmt[8]; /* sha1 (the default) or sha256 */
	char *head;  /* head_reference; NULL when absent */
	struct restore_repos_step *steps;
	size_t nsteps;
};

/*
 * Parses a manifest (name is used in errors: "name:line: why"). Strings
 * 'literal' or "basic" with TOML's escapes; unknown keys and tables are
 * ignored; the paths must be relative to repositories/ and stay inside it.
 */
int restore_repos_manifest_parse(const char *text, size_t len, const char *name,
                                 struct restore_repos_manifest *m, char *err,
                                 size_t errlen);
void restore_repos_manifest_free(struct restore_repos_manifest *m);

struct restore_repos_ref {
	const char *name; /* into the list's text */
	const char *oid;
};

/* A .refs file or a bundle's header, sorted by name, names unique. */
struct restore_repos_refs {
	struct restore_repos_ref *v;
	size_t n;
	char *text;
	char head[72]; /* the HEAD line's id; "" when there is none */
};

/*
 * Parses a .refs file: "<oid> <refname>\n" lines, "<oid> HEAD" only first,
 * ids of oidlen (40 or 64) hex digits, refnames as the backup checks them,
 * no name twice. bundle: text is a bundle's header after its signature
 * line (capability and prerequisite lines skipped, HEAD anywhere, up to
 * the blank line ending it).
 */
int restore_repos_refs_parse(const char *text, size_t len, size_t oidlen,
                             int bundle, const char *name,
                             struct restore_repos_refs *r, char *err,
                             size_t errlen);
void restore_repos_refs_free(struct restore_repos_refs *r);
/* The ref named name, or NULL. */
const struct restore_repos_ref *
restore_repos_refs_find(const struct restore_repos_refs *r, const char *name);

/* A path of a manifest: relative, no "", "." or ".." component, no
 * control character, bounded. */
int restore_repos_path_ok(const char *p);

/* ---- Shared by restore_repos*.c only; not part of the API. ---- */

struct restore_repos_job {
	size_t st;           /* index into cfg->gitaly.storages */
	const char *storage; /* name */
	const char *path;    /* the storage directory */
	uid_t uid;           /* its owner, given to every restored file */
	gid_t gid;
	char *rel;
	int held; /* restored (not non_existent): not removed as extra */
};

struct restore_repos_ctx;
void restore_repos_add_bytes(struct restore_repos_ctx *c, uint64_t n);
/* The storage's aside directory, made on first use. */
int restore_repos_aside(struct restore_repos_ctx *c,
                        const struct restore_repos_job *job, char *out,
                        size_t len, char *why, size_t whylen);
/* mkdir of path (mode), given uid/gid when made; 0 also when it exists. */
int restore_repos_mkdir(const char *path, mode_t mode, uid_t uid, gid_t gid);

/* A repository's manifest and last .refs, as restore and verify read them:
 * 1 when the manifest says non_existent (nothing else read). */
int restore_repos_load(const char *backup_dir, const char *backup_id,
                       const struct restore_repos_job *job,
                       struct restore_repos_manifest *m,
                       struct restore_repos_refs *want, char *why,
                       size_t whylen);
/* Restores one repository (restore_repos_one.c): 0, 1 when the manifest
 * says non_existent (nothing done), <0 with why set. */
int restore_repos_one(const struct agent_config *cfg, const char *backup_dir,
                      const char *backup_id, struct restore_repos_job *job,
                      struct restore_repos_ctx *ctx, int *empty, char *why,
                      size_t whylen);

#endif
