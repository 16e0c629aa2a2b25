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
#include <time.h>
#include <unistd.h>

#include "backup_files.h"
#include "ls_error.h"
#include "ls_log.h"
#include "ls_util.h"
#include "restore_files_listing.h"
#include "restore_tar.h"

/* Same-second restores of one component get a suffix. */
#define RESTORE_FILES_ASIDE_TRIES 100
/* An archive changed this recently may change again without its ctime
 * moving (coarse timestamps): its listing is not saved. */
#define RESTORE_FILES_RACY_NS (2LL * 1000000000)

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

int restore_files_listing_dir(const char *state_dir, char *out, size_t len)
{
	if (state_dir == NULL || state_dir[0] == '\0')
		return LS_EINVAL;
	return ls_fmt(out, len, "%s/restore-listings", state_dir);
}

static int restore_files_same(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	       a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	       a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/*
 * Saves the listing the extraction made, bound to the archive as it was
 * before (before, from the open descriptor) if it is still that file now,
 * unchanged. Otherwise, or if it cannot be saved, the old listing goes:
 * the verification then reads the archive. Never fails the restore.
 */
static void restore_files_listing(const char *component,
                                  const char *archive_path, const char *dir,
                                  const char *listing_dir,
                                  const struct stat *before, struct rfl_list *l)
{
	struct rfl_bind b = {component, dir, archive_path, 0, 0, 0, 0, 0, 0, 0};
	char path[LS_PATH_MAX];
	const char *why = NULL;
	struct timespec now;
	struct stat st;
	int rv = 0;

	if (l->bad)
		why = "some entry is not listed as the verification reads it";
	else if (stat(archive_path, &st) < 0 ||
	         !restore_files_same(before, &st))
		why = "the archive changed during the restore";
	else if (clock_gettime(CLOCK_REALTIME, &now) < 0 ||
	         (long long)(now.tv_sec - st.st_ctim.tv_sec) * 1000000000 +
	                 (now.tv_nsec - st.st_ctim.tv_nsec) <
	             RESTORE_FILES_RACY_NS)
		why = "the archive was changed too recently";
	if (why == NULL) {
		rfl_bind_stat(&b, &st);
		rfl_list_sort(l);
		if ((rv = rfl_save(listing_dir, &b, l)) == 0)
			return;
		log_warnx("%s: saving the archive's listing in %s: %s; the "
		          "verification will read the archive",
		          component, listing_dir, ls_strerror(rv));
	} else {
		log_debug("%s: no listing of %s saved: %s", component,
		          archive_path, why);
	}
	if (rfl_path(path, sizeof(path), listing_dir, component) == 0 &&
	    unlink(path) < 0 && errno != ENOENT)
		log_warnx("%s: removing the old listing %s: %s", component,
		          path, ls_strerror(-errno));
}

int restore_files(const char *component, const char *archive_path,
                  const char *dir, const char *scratch_dir,
                  const char *listing_dir, backup_progress_fn progress,
                  void *arg, char *err, size_t errlen)
{
	const struct backup_component *comp = backup_component_find(component);
	struct restore_tar_opts o;
	struct restore_tar_stats ts;
	char aside[LS_PATH_MAX], **names = NULL;
	size_t n = 0, moved = 0;
	struct rfl_list listing = {0};
	struct stat st, ast;
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
	if ((afd = open(archive_path, O_RDONLY | O_CLOEXEC)) < 0 ||
	    fstat(afd, &ast) < 0) {
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
	o.listing = listing_dir != NULL ? &listing : NULL;
	extracting = 1;
	rv = restore_tar_extract(archive_path, dirfd, &o, &ts, err, errlen);
	if (rv < 0)
		goto out;
	log_info("%s: restored %llu entries (%llu bytes) into %s; the old "
	         "tree is in %s",
	         component, (unsigned long long)ts.entries,
	         (unsigned long long)ts.bytes, dir, aside);
	if (listing_dir != NULL)
		restore_files_listing(component, archive_path, dir, listing_dir,
		                      &ast, &listing);
out:
	if (rv < 0 && asidefd >= 0)
		restore_files_undo(comp, dir, dirfd, aside, asidefd, names,
		                   moved, extracting, err, errlen);
	ls_names_free(names, n);
	rfl_list_free(&listing);
	if (asidefd >= 0)
		close(asidefd);
	if (dirfd >= 0)
		close(dirfd);
	if (afd >= 0)
		close(afd);
	return rv;
}
