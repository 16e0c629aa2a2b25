/*
 * Exports a backup directory as `<backup_id>_gitlab_backup.tar`, the
 * archive `gitlab-backup create` leaves, so that `gitlab-backup restore`
 * (and the Helm toolbox) can unpack it.
 */
#ifndef BACKUP_EXPORT_H
#define BACKUP_EXPORT_H

#include <stddef.h>

/* Owner GitLab's archive carries (Linux package's git user). */
#define BACKUP_EXPORT_OWNER "git"
#define BACKUP_EXPORT_UID 998
#define BACKUP_EXPORT_GID 998

/*
 * Writes the uncompressed tar of backup_dir to out_path (atomically,
 * mode 0600): backup_information.yml, db, repositories, then the
 * component tarballs in GitLab's order, each only when present; entry
 * names relative to backup_dir without "./"; directory entries included;
 * entries inside a directory in byte-wise sorted order; lost+found left
 * out everywhere. Any other top-level entry (Lockstep's own lockstep/,
 * backup_information.json, ...) is added after them, sorted, only when
 * include_extra is set. Regular files and directories only.
 *
 * On failure nothing is left at out_path and err (may be NULL) says why.
 */
int backup_export_tar(const char *backup_dir, const char *out_path,
                      int include_extra, char *err, size_t errlen);

#endif
