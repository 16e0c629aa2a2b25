/*
 * Restoring a file component: move the tree aside, extract, and on failure
 * put the tree back as it was.
 *
 * GitLab's restore moves the old tree to <backup>/tmp/<name>.<unix time>
 * and extracts with `tar --unlink-first --recursive-unlink`. The directory
 * itself stays (it is often a mount point); only its entries move, by
 * rename, so the scratch directory must share its filesystem: a copy of a
 * large tree at restore time is not something to do silently.
 */
#include "restore_files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup_files.h"
#include "ls_error.h"
#include "ls_log.h"
#include "ls_util.h"
#include "restore_tar.h"

/* Same-second restores of one component get a suffix. */
#define RESTORE_FILES_ASIDE_TRIES 100

static int restore_files_covered(void *arg, const char *name)
{
	return !restore_tar_excluded(arg, name);
}

/* The entries of dirfd that GitLab's backup covers; all read before any
 * is renamed, so that the listing is not disturbed by the moves. */
static int restore_files_entries(const struct backup_component *comp, int dirfd,
                                 char ***names, size_t *n)
{
	return ls_dir_names(dirfd, restore_files_covered, (void *)comp, 0,
	                    names, n);
}

/* Renames names[0..n) from one directory to the other; *done says how
 * many moved. */
static int restore_files_move(int from, int to, char **names, size_t n,
                              size_t *done)
{
	size_t i;

	*done = 0;
	for (i = 0; i < n; i++) {
		if (renameat(from, names[i], to, names[i]) < 0)
			return -errno;
		(*done)++;
	}
	return 0;
}

/* Removes every non-excluded entry of dir: what a failed extraction
 * left. */
static int restore_files_clear(const struct backup_component *comp,
                               const char *dir, int dirfd)
{
	char **names = NULL, path[LS_PATH_MAX];
	size_t n = 0, i;
	int rv, r;

	if ((rv = restore_files_entries(comp, dirfd, &names, &n)) < 0)
		goto out;
	for (i = 0; i < n; i++) {
		if (ls_fmt(path, sizeof(path), "%s/%s", dir, names[i]) < 0)
			r = LS_ETOOBIG;
		else
			r = ls_rmtree(path);
		if (r < 0 && rv == 0)
			rv = r;
	}
out:
	ls_names_free(names, n);
	return rv;
}

/* A fresh scratch_dir/<component>.<unix time>[.<n>] on dir's filesystem. */
static int restore_files_aside(const char *component, const char *scratch_dir,
                               const struct stat *dirst, char *aside,
                               size_t asidelen, int *asidefd, char *err,
                               size_t errlen)
{
	struct stat st;
	int64_t now = ls_now();
	int i, rv = 0;

	*asidefd = -1;
	if ((rv = ls_mkdirs(scratch_dir, 0700)) < 0) {
		snprintf(err, errlen, "%s: creating %s: %s", component,
		         scratch_dir, ls_strerror(rv));
		goto out;
	}
	for (i = 0; i < RESTORE_FILES_ASIDE_TRIES; i++) {
		rv = i == 0 ? ls_fmt(aside, asidelen, "%s/%s.%lld", scratch_dir,
		                     component, (long long)now)
		            : ls_fmt(aside, asidelen, "%s/%s.%lld.%d",
		                     scratch_dir, component, (long long)now, i);
		if (rv < 0)
			break;
		if (mkdir(aside, 0700) == 0 || errno != EEXIST)
			break;
	}
	if (rv == 0 && i == RESTORE_FILES_ASIDE_TRIES)
		errno = EEXIST;
	if (rv < 0 || i == RESTORE_FILES_ASIDE_TRIES ||
	    (*asidefd = open(aside, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	                                O_CLOEXEC)) < 0) {
		rv = rv < 0 ? rv : -errno;
		snprintf(err, errlen, "%s: creating %s: %s", component, aside,
		         ls_strerror(rv));
		goto out;
	}
	if (fstat(*asidefd, &st) < 0 || st.st_dev != dirst->st_dev) {
		rv = -EXDEV;
		snprintf(err, errlen,
		         "%s: %s is not on the filesystem of the directory "
		         "restored: the old entries cannot be moved aside by "
		         "rename (a copy is not attempted)",
		         component, aside);
		close(*asidefd);
		*asidefd = -1;
		rmdir(aside);
	}
out:
	return rv;
}

/* After a failed extraction: dir as it was, or err says where it is. */
static void restore_files_undo(const struct backup_component *comp,
                               const char *dir, int dirfd, const char *aside,
                               int asidefd, char **names, size_t moved,
                               int extracting, char *err, size_t errlen)
{
	size_t len = strlen(err), done = 0;
	int rv = 0;

	/* Only an extraction leaves anything to remove: before it, dir
	 * holds the entries not moved yet. */
	if ((extracting && (rv = restore_files_clear(comp, dir, dirfd)) < 0) ||
	    (rv = restore_files_move(asidefd, dirfd, names, moved, &done)) <
	        0) {
		snprintf(err + len, errlen - len,
		         "; putting %s back failed (%s): its old entries are "
		         "in %s",
		         dir, ls_strerror(rv), aside);
		log_warnx("%s", err);
		return;
	}
	rmdir(aside);
	snprintf(err + len, errlen - len, "; %s was put back as it was", dir);
}

int restore_files(const char *component, const char *archive_path,
                  const char *dir, const char *scratch_dir,
                  backup_progress_fn progress, void *arg, char *err,
                  size_t errlen)
{
	const struct backup_component *comp = backup_component_find(component);
	struct restore_tar_opts o;
	struct restore_tar_stats ts;
	char aside[LS_PATH_MAX], **names = NULL;
	size_t n = 0, moved = 0;
	struct stat st;
	int dirfd = -1, asidefd = -1, afd = -1, rv = 0, extracting = 0;

	if (errlen > 0)
		err[0] = '\0';
	if (comp == NULL || archive_path == NULL || dir == NULL ||
	    scratch_dir == NULL) {
		rv = LS_EINVAL;
		snprintf(err, errlen,
		         "unknown file component \"%s\" or no path",
		         component ? component : "");
		goto out;
	}
	/* Readable before anything moves. */
	if ((afd = open(archive_path, O_RDONLY | O_CLOEXEC)) < 0) {
		rv = -errno;
		snprintf(err, errlen, "%s: opening %s: %s", component,
		         archive_path, ls_strerror(rv));
		goto out;
	}
	/* dir itself may be a symlink (to a mount, say): followed. */
	if ((dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    fstat(dirfd, &st) < 0) {
		rv = -errno;
		snprintf(err, errlen, "%s: opening %s: %s", component, dir,
		         ls_strerror(rv));
		goto out;
	}
	if ((rv = restore_files_aside(component, scratch_dir, &st, aside,
	                              sizeof(aside), &asidefd, err, errlen)) <
	    0)
		goto out;
	if ((rv = restore_files_entries(comp, dirfd, &names, &n)) < 0) {
		snprintf(err, errlen, "%s: listing %s: %s", component, dir,
		         ls_strerror(rv));
		goto out;
	}
	if ((rv = restore_files_move(dirfd, asidefd, names, n, &moved)) < 0) {
		snprintf(err, errlen, "%s: moving %s/%s to %s: %s", component,
		         dir, names[moved], aside, ls_strerror(rv));
		goto out;
	}
	memset(&o, 0, sizeof(o));
	o.component = component;
	o.comp = comp;
	o.uid = st.st_uid;
	o.gid = st.st_gid;
	o.progress = progress;
	o.arg = arg;
	extracting = 1;
	rv = restore_tar_extract(archive_path, dirfd, &o, &ts, err, errlen);
	if (rv < 0)
		goto out;
	log_info("%s: restored %llu entries (%llu bytes) into %s; the old "
	         "tree is in %s",
	         component, (unsigned long long)ts.entries,
	         (unsigned long long)ts.bytes, dir, aside);
out:
	if (rv < 0 && asidefd >= 0)
		restore_files_undo(comp, dir, dirfd, aside, asidefd, names,
		                   moved, extracting, err, errlen);
	ls_names_free(names, n);
	if (asidefd >= 0)
		close(asidefd);
	if (dirfd >= 0)
		close(dirfd);
	if (afd >= 0)
		close(afd);
	return rv;
}
