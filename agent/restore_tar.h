/*
 * Secure extraction of a component archive into a directory. The archive
 * may come from anywhere (an imported backup, a damaged or hostile disk):
 * entries are checked before libarchive sees them, and nothing is ever
 * written outside the directory (tests/fuzz/fuzz_restore_tar.c).
 */
#ifndef RESTORE_TAR_H
#define RESTORE_TAR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "backup_artifact.h"
#include "backup_files.h"
#include "restore_files_listing.h"

/* Entries and name length one archive may hold; more is LS_ETOOBIG. */
#define RESTORE_TAR_MAX_ENTRIES (1u << 24)
#define RESTORE_TAR_MAX_NAME 4096

/*
 * An archive name made relative and clean: "./a//b/./c" is "a/b/c".
 * Returns 0, 1 for the top directory itself ("./", "."), or a negative
 * error with *why set: an absolute path, a ".." component, an empty or
 * overlong name.
 */
int restore_tar_name(const char *name, char *out, size_t outlen,
                     const char **why);

/* 1 if GitLab's backup leaves rel (a clean relative path) out: lost+found
 * at any depth, the component's top-level excludes (comp may be NULL). */
int restore_tar_excluded(const struct backup_component *comp, const char *rel);

/* 1 if a symlink at rel with this target stays inside the top directory
 * when resolved lexically against rel's directory; 0 if it escapes or is
 * absolute or empty. */
int restore_tar_link_inside(const char *rel, const char *target);

struct restore_tar_opts {
	const char *component;               /* for messages and progress */
	const struct backup_component *comp; /* excludes; NULL: lost+found */
	uid_t uid;                           /* every entry is given these */
	gid_t gid;
	backup_progress_fn progress; /* may be NULL */
	void *arg;
	/* May be NULL. Else gets every entry as restore_files_verify reads
	 * it from the archive, in archive order, unsorted; marked bad if
	 * that reading would not give the same. */
	struct rfl_list *listing;
};

struct restore_tar_stats {
	uint64_t entries; /* entries extracted */
	uint64_t bytes;   /* file bytes written */
	uint64_t skipped; /* excluded entries left out */
};

/*
 * Extracts archive_path (tar; gzip, zstd or none, detected) into the
 * directory dirfd. Refuses, naming the entry, an absolute name, a ".."
 * component, a symlink escaping the directory, a hard link to outside or
 * to a symlink, a device, fifo or socket, and any entry under a symlink.
 * The top directory's own entry and excluded entries are skipped. Every
 * entry gets o->uid/o->gid. On failure what was extracted stays: the
 * caller removes it. The calling thread's working directory is private to
 * it afterwards (unshare(CLONE_FS)); other threads are not affected.
 */
int restore_tar_extract(const char *archive_path, int dirfd,
                        const struct restore_tar_opts *o,
                        struct restore_tar_stats *st, char *err, size_t errlen);

#endif
