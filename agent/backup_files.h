/*
 * GitLab's file components (uploads, builds, artifacts, ...) in a fleet
 * backup. The cut, taken while GitLab is frozen, is a hard-link snapshot of
 * the component's tree; the copy, run after the thaw, archives the snapshot
 * as GitLab's `tar --exclude=lost+found [--exclude=./tmp] -C DIR -cf - . |
 * gzip -c -1` would have archived the tree at the cut (gitlab-facts §1).
 */
#ifndef BACKUP_FILES_H
#define BACKUP_FILES_H

#include <stddef.h>
#include <stdint.h>

#include "agent_config.h"
#include "backup_artifact.h"

/*
 * A file component: its name (also the agent.yml key under backup: and the
 * archive's base name) and GitLab's top-level exclusions (NULL-terminated;
 * `--exclude=./<x>`). lost+found is excluded at every depth for every
 * component, as GitLab's unanchored `--exclude=lost+found` does, and is not
 * listed here.
 */
struct backup_component {
	const char *name;
	const char *const *excludes;
};

/* NULL if unknown. */
const struct backup_component *backup_component_find(const char *name);
/* All, in GitLab's order: uploads builds artifacts pages lfs terraform_state
 * registry packages ci_secure_files. */
const struct backup_component *backup_components(size_t *n);
/* The component's source dir from agent.yml; NULL if the name is unknown. */
const char *backup_component_dir(const struct agent_config *cfg,
                                 const char *name);

struct backup_files_cut {
	int present;    /* 0: the source dir does not exist (not an error) */
	uint64_t files; /* regular files and symlinks in the snapshot */
	uint64_t dirs;  /* directories, the top one included */
	uint64_t bytes; /* sum of the regular files' sizes */
	int copied_fallback; /* some files were copied, not hard-linked (the
	                        snapshot dir is on another filesystem) */
};

/*
 * Hard-link snapshot of src_dir (minus exclusions, sockets, fifos and
 * devices) into snapdir, which is created (its parents with mode 0700) and
 * must not exist. Directories are recreated with their mode, owner and
 * mtime, regular files hard-linked (copied, FICLONE first, on EXDEV,
 * EMLINK or EPERM), symlinks recreated with the same target. Files that vanish
 * while the tree is walked are skipped. On failure snapdir is removed again.
 */
int backup_files_cut(const char *component, const char *src_dir,
                     const char *snapdir, struct backup_files_cut *out,
                     char *err, size_t errlen);

/*
 * Archives snapdir into dest_path (e.g. <backup>/uploads.tar.gz) atomically,
 * mode 0600: GNU tar format (GNU tar's default, so what gitlab-backup
 * writes: raw name bytes, ././@LongLink for long names, base-256 for big
 * sizes), entries "./", then "./a/..." (directories "./a/") in byte order
 * of names within each directory; owner names with the ids; hard links
 * within the tree are stored as regular files. gzip level 1 (what GitLab
 * writes) or zstd level 1. Appends the artifact (component, relpath, size,
 * SHA-256) to out. progress (may be NULL) is called at most every 250 ms, and
 * once at the end, with (component, file bytes archived, entries done, entries
 * total).
 */
int backup_files_copy(const char *component, const char *snapdir,
                      const char *dest_path, const char *relpath,
                      enum backup_compression comp, backup_progress_fn progress,
                      void *arg, struct backup_artifacts *out, char *err,
                      size_t errlen);

/*
 * Lists a tar archive (gzip, zstd or uncompressed, detected) as
 * "path\tsize\tmode\n" lines in archive order: names as stored, except that
 * backslash, tab, newline and other control bytes are escaped (\\, \t, \n,
 * \ooo); size in decimal; mode in octal with the file type (100644,
 * 040755, 120777). Every entry's data is read through, so a truncated or
 * corrupt archive fails; so does one without entries. Refuses a name over
 * 4096 bytes or more than max_entries entries. *listing (NUL-terminated) is
 * freed by the caller.
 */
int backup_files_list(const char *archive_path, size_t max_entries,
                      char **listing, char *err, size_t errlen);

#endif
