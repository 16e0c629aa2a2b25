/*
 * File components: GitLab's table, and the cut (a hard-link snapshot).
 *
 * The cut runs while GitLab is frozen, so it must be quick and must not read
 * file contents: it recreates the directory tree and hard-links every
 * regular file. GitLab writes these files once and replaces them by rename,
 * so the linked inode keeps the cut's content whatever happens to the live
 * tree afterwards, and the copy archives the snapshot at leisure.
 */
#include "backup_files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ls_error.h"
#include "ls_log.h"
#include "ls_util.h"

/* Deeper trees are not GitLab's; the walk holds two descriptors a level. */
#define BACKUP_FILES_MAX_DEPTH 256
#define BACKUP_FILES_COPY_BUF 65536

static const char *const backup_component_tmp[] = {"tmp", NULL};
static const char *const backup_component_pages_tmp[] = {"@pages.tmp", NULL};
static const char *const backup_component_none[] = {NULL};

/* lib/backup/manager.rb's order and --exclude=./<x> lists. */
static const struct backup_component backup_component_table[] = {
    {"uploads", backup_component_tmp},
    {"builds", backup_component_none},
    {"artifacts", backup_component_tmp},
    {"pages", backup_component_pages_tmp},
    {"lfs", backup_component_none},
    {"terraform_state", backup_component_tmp},
    {"registry", backup_component_none},
    {"packages", backup_component_tmp},
    {"ci_secure_files", backup_component_tmp},
};

#define BACKUP_COMPONENT_N                                                     \
	(sizeof(backup_component_table) / sizeof(backup_component_table[0]))

const struct backup_component *backup_components(size_t *n)
{
	*n = BACKUP_COMPONENT_N;
	return backup_component_table;
}

const struct backup_component *backup_component_find(const char *name)
{
	size_t i;

	if (name == NULL)
		return NULL;
	for (i = 0; i < BACKUP_COMPONENT_N; i++)
		if (strcmp(backup_component_table[i].name, name) == 0)
			return &backup_component_table[i];
	return NULL;
}

const char *backup_component_dir(const struct agent_config *cfg,
                                 const char *name)
{
	if (cfg == NULL || name == NULL)
		return NULL;
	if (strcmp(name, "uploads") == 0)
		return cfg->backup.uploads;
	if (strcmp(name, "builds") == 0)
		return cfg->backup.builds;
	if (strcmp(name, "artifacts") == 0)
		return cfg->backup.artifacts;
	if (strcmp(name, "pages") == 0)
		return cfg->backup.pages;
	if (strcmp(name, "lfs") == 0)
		return cfg->backup.lfs;
	if (strcmp(name, "terraform_state") == 0)
		return cfg->backup.terraform_state;
	if (strcmp(name, "registry") == 0)
		return cfg->backup.registry;
	if (strcmp(name, "packages") == 0)
		return cfg->backup.packages;
	if (strcmp(name, "ci_secure_files") == 0)
		return cfg->backup.ci_secure_files;
	return NULL;
}

struct backup_files_cutctx {
	const struct backup_component *comp;
	struct backup_files_cut *out;
	dev_t snap_dev; /* the snapshot itself, if it lies inside the source */
	ino_t snap_ino;
	char rel[LS_PATH_MAX]; /* "./a/b" of the directory walked, for errors */
	char *err;
	size_t errlen;
};

static int backup_files_cut_fail(struct backup_files_cutctx *c, int rv,
                                 const char *what, const char *name)
{
	snprintf(c->err, c->errlen, "%s: %s %s/%s: %s", c->comp->name, what,
	         c->rel, name, ls_strerror(rv));
	return rv;
}

static int backup_files_excluded(const struct backup_component *comp, int depth,
                                 const char *name)
{
	const char *const *x;

	/* GNU tar's --exclude=lost+found is unanchored: every depth. */
	if (strcmp(name, "lost+found") == 0)
		return 1;
	if (depth != 0)
		return 0;
	for (x = comp->excludes; *x != NULL; x++)
		if (strcmp(name, *x) == 0)
			return 1;
	return 0;
}

/* Owner, mode and times of a recreated entry. Owner changes need root; an
 * unprivileged agent keeps its own ownership rather than failing. */
static int backup_files_set_meta(int fd, const struct stat *st)
{
	struct timespec ts[2] = {st->st_atim, st->st_mtim};
	int rv = 0;

	if (fchown(fd, st->st_uid, st->st_gid) < 0 && errno != EPERM)
		rv = -errno;
	else if (fchmod(fd, st->st_mode & 07777) < 0)
		rv = -errno;
	else if (futimens(fd, ts) < 0)
		rv = -errno;
	return rv;
}

/* Data of sfd into dfd: a reflink where the filesystem shares extents,
 * copy_file_range where the kernel can, read/write otherwise. */
static int backup_files_copy_data(int sfd, int dfd)
{
	char *buf = NULL;
	ssize_t n, w;
	int rv = 0, use_cfr = 1;

	if (ioctl(dfd, FICLONE, sfd) == 0)
		goto out;
	for (;;) {
		if (!use_cfr && buf == NULL &&
		    (buf = malloc(BACKUP_FILES_COPY_BUF)) == NULL) {
			rv = LS_ENOMEM;
			goto out;
		}
		if (use_cfr) {
			n = copy_file_range(sfd, NULL, dfd, NULL, 1 << 30, 0);
			if (n < 0 && (errno == EXDEV || errno == ENOSYS ||
			              errno == EINVAL || errno == EOPNOTSUPP)) {
				use_cfr = 0;
				continue;
			}
		} else {
			n = read(sfd, buf, BACKUP_FILES_COPY_BUF);
			if (n > 0 &&
			    (w = ls_write_all(dfd, buf, (size_t)n)) < 0) {
				rv = (int)w;
				goto out;
			}
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rv = -errno;
			goto out;
		}
		if (n == 0)
			break;
	}
out:
	free(buf);
	return rv;
}

/*
 * The fallback when a hard link cannot be made: copy the file into the
 * snapshot. Returns 1 if the file vanished (skipped).
 */
static int backup_files_cut_copy(struct backup_files_cutctx *c, int sdir,
                                 int ddir, const char *name)
{
	struct stat st;
	int sfd = -1, dfd = -1, rv = 0;

	/* O_NONBLOCK: a fifo swapped in since fstatat must not hang us. */
	sfd = openat(sdir, name,
	             O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (sfd < 0) {
		rv = (errno == ENOENT || errno == ELOOP) ? 1 : -errno;
		goto out;
	}
	if (fstat(sfd, &st) < 0) {
		rv = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rv = 1;
		goto out;
	}
	dfd =
	    openat(ddir, name,
	           O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (dfd < 0) {
		rv = -errno;
		goto out;
	}
	if ((rv = backup_files_copy_data(sfd, dfd)) < 0)
		goto out;
	rv = backup_files_set_meta(dfd, &st);
	c->out->copied_fallback = 1;
out:
	if (sfd >= 0)
		close(sfd);
	if (dfd >= 0 && close(dfd) < 0 && rv == 0)
		rv = -errno;
	if (rv < 0)
		backup_files_cut_fail(c, rv, "copying", name);
	return rv;
}

static int backup_files_cut_symlink(struct backup_files_cutctx *c, int sdir,
                                    int ddir, const char *name,
                                    const struct stat *st)
{
	char target[LS_PATH_MAX];
	struct timespec ts[2] = {st->st_atim, st->st_mtim};
	ssize_t n;
	int rv = 0;

	n = readlinkat(sdir, name, target, sizeof(target));
	if (n < 0) {
		/* Gone, or no longer a symlink: it was not there at the cut. */
		rv = (errno == ENOENT || errno == EINVAL) ? 1 : -errno;
		goto out;
	}
	if ((size_t)n >= sizeof(target)) {
		rv = LS_ETOOBIG;
		goto out;
	}
	target[n] = '\0';
	if (symlinkat(target, ddir, name) < 0) {
		rv = -errno;
		goto out;
	}
	if (fchownat(ddir, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) <
	        0 &&
	    errno != EPERM) {
		rv = -errno;
		goto out;
	}
	if (utimensat(ddir, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		rv = -errno;
out:
	if (rv < 0)
		backup_files_cut_fail(c, rv, "recreating symlink", name);
	return rv;
}

static int backup_files_cut_dir(struct backup_files_cutctx *c, int sdir,
                                int ddir, int depth);

/* Returns 1 if the directory vanished (skipped). */
static int backup_files_cut_subdir(struct backup_files_cutctx *c, int sdir,
                                   int ddir, const char *name, int depth)
{
	struct stat st;
	size_t rlen = strlen(c->rel);
	int cs = -1, cd = -1, rv = 0;

	/* O_NOFOLLOW: a directory swapped for a symlink must not take the
	 * walk out of the tree. */
	cs =
	    openat(sdir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (cs < 0) {
		rv = (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
		         ? 1
		         : backup_files_cut_fail(c, -errno, "opening", name);
		goto out;
	}
	if (fstat(cs, &st) < 0) {
		rv = backup_files_cut_fail(c, -errno, "reading", name);
		goto out;
	}
	if (st.st_dev == c->snap_dev && st.st_ino == c->snap_ino) {
		rv = 1; /* the snapshot dir lies inside the source */
		goto out;
	}
	if (depth + 1 >= BACKUP_FILES_MAX_DEPTH) {
		rv = backup_files_cut_fail(c, LS_ETOOBIG, "too deep at", name);
		goto out;
	}
	if (mkdirat(ddir, name, 0700) < 0) {
		rv = backup_files_cut_fail(c, -errno, "creating", name);
		goto out;
	}
	cd =
	    openat(ddir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (cd < 0) {
		rv = backup_files_cut_fail(c, -errno, "opening", name);
		goto out;
	}
	if (ls_fmt(c->rel + rlen, sizeof(c->rel) - rlen, "/%s", name) < 0) {
		c->rel[rlen] = '\0';
		rv =
		    backup_files_cut_fail(c, LS_ETOOBIG, "path too long", name);
		goto out;
	}
	rv = backup_files_cut_dir(c, cs, cd, depth + 1);
	c->rel[rlen] = '\0';
	if (rv < 0)
		goto out;
	/* After the children: adding them changed the mtime, and a
	 * read-only mode would have stopped us adding them. */
	if ((rv = backup_files_set_meta(cd, &st)) < 0) {
		backup_files_cut_fail(c, rv, "setting owner/mode/time of",
		                      name);
		goto out;
	}
	c->out->dirs++;
out:
	if (cs >= 0)
		close(cs);
	if (cd >= 0)
		close(cd);
	return rv;
}

static int backup_files_cut_entry(struct backup_files_cutctx *c, int sdir,
                                  int ddir, const char *name, int depth)
{
	struct stat st;
	int rv = 0;

	if (backup_files_excluded(c->comp, depth, name))
		goto out;
	/* The archive name, with a directory's slash, stays within the
	 * 4096 bytes the lister accepts. */
	if (strlen(c->rel) + 1 + strlen(name) + 1 > 4096) {
		rv =
		    backup_files_cut_fail(c, LS_ETOOBIG, "path too long", name);
		goto out;
	}
	if (fstatat(sdir, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			rv = backup_files_cut_fail(c, -errno, "reading", name);
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		rv = backup_files_cut_subdir(c, sdir, ddir, name, depth);
	} else if (S_ISREG(st.st_mode)) {
		/* flags 0: a symlink swapped in is linked as itself. */
		if (linkat(sdir, name, ddir, name, 0) == 0) {
			rv = 0;
		} else if (errno == EXDEV || errno == EMLINK ||
		           errno == EPERM) {
			/* Another filesystem, too many links, or an agent
			 * without root facing protected_hardlinks. */
			rv = backup_files_cut_copy(c, sdir, ddir, name);
		} else if (errno == ENOENT) {
			rv = 1;
		} else {
			rv = backup_files_cut_fail(c, -errno, "linking", name);
		}
		if (rv == 0) {
			c->out->files++;
			c->out->bytes += (uint64_t)st.st_size;
		}
	} else if (S_ISLNK(st.st_mode)) {
		rv = backup_files_cut_symlink(c, sdir, ddir, name, &st);
		if (rv == 0)
			c->out->files++;
	}
	/* Sockets, fifos and devices: GitLab has none; tar could not
	 * restore them usefully either. */
out:
	return rv < 0 ? rv : 0;
}

static int backup_files_cut_dir(struct backup_files_cutctx *c, int sdir,
                                int ddir, int depth)
{
	DIR *d = NULL;
	struct dirent *de;
	int fd, rv = 0;

	if ((fd = dup(sdir)) < 0 || (d = fdopendir(fd)) == NULL) {
		rv = -errno;
		if (fd >= 0)
			close(fd);
		snprintf(c->err, c->errlen, "%s: reading %s: %s", c->comp->name,
		         c->rel, ls_strerror(rv));
		goto out;
	}
	/* The dup shares the offset of a descriptor that may have been
	 * read before. */
	rewinddir(d);
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL) {
			if (errno != 0) {
				rv = -errno;
				snprintf(c->err, c->errlen,
				         "%s: reading %s: %s", c->comp->name,
				         c->rel, ls_strerror(rv));
			}
			break;
		}
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if ((rv = backup_files_cut_entry(c, sdir, ddir, de->d_name,
		                                 depth)) < 0)
			break;
	}
out:
	if (d != NULL)
		closedir(d);
	return rv;
}

int backup_files_cut(const char *component, const char *src_dir,
                     const char *snapdir, struct backup_files_cut *out,
                     char *err, size_t errlen)
{
	struct backup_files_cutctx c;
	struct stat st, sst;
	char parent[LS_PATH_MAX], *slash;
	int sfd = -1, dfd = -1, created = 0, rv = 0;

	memset(out, 0, sizeof(*out));
	memset(&c, 0, sizeof(c));
	c.out = out;
	c.err = err;
	c.errlen = errlen;
	if (errlen > 0)
		err[0] = '\0';
	if ((c.comp = backup_component_find(component)) == NULL) {
		rv = LS_EINVAL;
		snprintf(err, errlen, "unknown file component \"%s\"",
		         component ? component : "");
		goto out;
	}
	/* The component dir itself may be a symlink (to a mount): follow it,
	 * as tar -C does. Nothing below it is followed. */
	sfd = open(src_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sfd < 0 && errno == ENOENT) {
		log_info("%s: %s does not exist, component absent", component,
		         src_dir);
		goto out;
	}
	if (sfd < 0 || fstat(sfd, &sst) < 0) {
		rv = -errno;
		snprintf(err, errlen, "%s: opening %s: %s", component, src_dir,
		         ls_strerror(rv));
		goto out;
	}
	out->present = 1;
	if (ls_strlcpy(parent, snapdir, sizeof(parent)) >= sizeof(parent)) {
		rv = LS_ETOOBIG;
		snprintf(err, errlen, "%s: snapshot path too long", component);
		goto out;
	}
	if ((slash = strrchr(parent, '/')) != NULL && slash != parent) {
		*slash = '\0';
		if ((rv = ls_mkdirs(parent, 0700)) < 0) {
			snprintf(err, errlen, "%s: creating %s: %s", component,
			         parent, ls_strerror(rv));
			goto out;
		}
	}
	if (mkdir(snapdir, 0700) < 0) {
		rv = -errno;
		snprintf(err, errlen, "%s: creating snapshot %s: %s", component,
		         snapdir, ls_strerror(rv));
		goto out;
	}
	created = 1;
	dfd = open(snapdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0 || fstat(dfd, &st) < 0) {
		rv = -errno;
		snprintf(err, errlen, "%s: opening snapshot %s: %s", component,
		         snapdir, ls_strerror(rv));
		goto out;
	}
	c.snap_dev = st.st_dev;
	c.snap_ino = st.st_ino;
	ls_strlcpy(c.rel, ".", sizeof(c.rel));
	if ((rv = backup_files_cut_dir(&c, sfd, dfd, 0)) < 0)
		goto out;
	if ((rv = backup_files_set_meta(dfd, &sst)) < 0) {
		snprintf(err, errlen, "%s: setting owner/mode/time of %s: %s",
		         component, snapdir, ls_strerror(rv));
		goto out;
	}
	out->dirs++;
	log_debug("%s: cut %llu files, %llu dirs, %llu bytes%s", component,
	          (unsigned long long)out->files, (unsigned long long)out->dirs,
	          (unsigned long long)out->bytes,
	          out->copied_fallback ? " (copied, not linked)" : "");
out:
	if (sfd >= 0)
		close(sfd);
	if (dfd >= 0)
		close(dfd);
	if (rv < 0 && created && ls_rmtree(snapdir) < 0)
		log_warnx("%s: could not remove partial snapshot %s", component,
		          snapdir);
	return rv;
}
