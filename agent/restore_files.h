/*
 * Restoring one file component (uploads, builds, artifacts, ...) from its
 * archive, as GitLab's lib/backup/targets/files.rb does: the existing tree
 * is moved aside, then the archive is extracted, securely, into the
 * directory; and the proof that the tree equals the archive afterwards.
 */
#ifndef RESTORE_FILES_H
#define RESTORE_FILES_H

#include <stddef.h>

#include "backup_artifact.h"

/*
 * Restores component from archive_path (<component>.tar.gz as Lockstep or
 * GitLab wrote it; gzip, zstd or uncompressed) into dir, which must exist
 * (it may be a mount point: only its entries move). Every entry of dir but
 * the excluded ones (lost+found, the component's top-level excludes such as
 * tmp) is renamed into a new scratch_dir/<component>.<unix time> (created,
 * mode 0700, with scratch_dir if missing); scratch_dir must be on dir's
 * filesystem (a copy is never made: EXDEV fails, naming both). Then the
 * archive is extracted (restore_tar.h: hostile entries fail the restore,
 * nothing is written outside dir) and every entry given dir's owner. On
 * failure after the move, what was extracted is removed and the old entries
 * are moved back; err says what happened. progress (may be NULL) gets
 * (component, bytes, entries, 0) at most every 250 ms and once at the end.
 * The moved-aside tree is left under scratch_dir, as GitLab leaves it.
 *
 * listing_dir (may be NULL: none) gets <component>.listing, replacing the
 * one there: what the archive holds as restore_files_verify compares it,
 * computed during the extraction and bound to the archive file as it is
 * (restore_files_listing.h). Created 0700 if missing. Failing to write it
 * is a warning, never a failed restore.
 */
int restore_files(const char *component, const char *archive_path,
                  const char *dir, const char *scratch_dir,
                  const char *listing_dir, backup_progress_fn progress,
                  void *arg, char *err, size_t errlen);

/* The agent's listing directory: <state_dir>/restore-listings; LS_EINVAL
 * without a state_dir. */
int restore_files_listing_dir(const char *state_dir, char *out, size_t len);

enum restore_mismatch {
	RESTORE_MISSING = 1,   /* in the archive, not in the tree */
	RESTORE_EXTRA = 2,     /* in the tree, not in the archive */
	RESTORE_DIFFERENT = 3, /* type, size, SHA-256 or link target differ */
};

/* path is relative to dir ("a/b.txt"), as in the archive without "./". */
typedef void (*restore_mismatch_fn)(void *arg, enum restore_mismatch kind,
                                    const char *path);

/*
 * Compares the tree under dir (minus the excluded entries) with the
 * archive: every directory, every regular file's size and SHA-256, every
 * symlink's target (a hard link in the archive is its target's content).
 * Modes, owners and times are not compared. Reports each mismatch through
 * mismatch_cb (may be NULL) in path order and returns their number (0: the
 * tree equals the archive), or a negative error (err set) when either
 * cannot be read.
 *
 * If listing_dir (may be NULL) holds restore_files' listing for this
 * component, directory and archive path, and the archive file is still
 * the one listed (device, inode, size, mtime and ctime), the archive side
 * is taken from it instead of reading the archive again; otherwise the
 * archive is read. Either way the result is the same. *from_listing (may
 * be NULL) says which: 1 the listing, 0 the archive.
 */
int restore_files_verify(const char *component, const char *archive_path,
                         const char *dir, const char *listing_dir,
                         restore_mismatch_fn mismatch_cb, void *arg,
                         int *from_listing, char *err, size_t errlen);

#endif
