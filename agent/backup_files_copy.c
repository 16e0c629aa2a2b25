/*
 * The copy: archive a cut's snapshot as GitLab's component tar, through
 * libarchive into an atomic artifact (never a tar or gzip child).
 *
 * Entries come out as `tar -C DIR -cf - .` names them: "./" first, then
 * "./name", directories with a trailing slash. Names within a directory are
 * sorted so that the same snapshot gives the same archive. Every snapshot
 * file has at least two links (the live tree's and ours), so link counts
 * mean nothing here: hard links are stored as regular files.
 */
#include "backup_files.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ls_afile.h"
#include "ls_error.h"
#include "ls_log.h"
#include "ls_util.h"

#define BACKUP_FILES_MAX_DEPTH 256
#define BACKUP_FILES_BUF 65536
#define BACKUP_FILES_PROGRESS_MS 250

/* libarchive may have no message to give. */
static const char *backup_files_aerr(struct archive *a)
{
	const char *s = a ? archive_error_string(a) : NULL;

	return s ? s : "archive error";
}

struct backup_files_copyctx {
	const char *component;
	const char *dest; /* the archive being written */
	int wrv;          /* why writing it failed (ENOSPC...), or 0 */
	struct archive *a;
	struct archive_entry *e;
	struct ls_afile *af;
	backup_progress_fn progress;
	void *arg;
	uint64_t bytes, done, total;
	int64_t last_ms;
	char *buf;
	char path[LS_PATH_MAX + 2]; /* "./a/b/" of the directory walked */
	/* One-entry caches: a component's files share an owner. */
	uid_t uid;
	gid_t gid;
	int have_uid, have_gid;
	char uname[64], gname[64];
	char *err;
	size_t errlen;
};

static la_ssize_t backup_files_write_cb(struct archive *a, void *ud,
                                        const void *buf, size_t len)
{
	struct backup_files_copyctx *c = ud;
	int rv;

	if (c->af == NULL)
		return -1;
	if ((rv = ls_afile_write(c->af, buf, len)) < 0) {
		c->wrv = rv;
		archive_set_error(a, rv > -1000 ? -rv : EIO, "writing %s: %s",
		                  c->dest, ls_strerror(rv));
		return -1;
	}
	return (la_ssize_t)len;
}

static void backup_files_report(struct backup_files_copyctx *c, int force)
{
	int64_t now;

	if (c->progress == NULL)
		return;
	now = ls_mono_ms();
	if (!force && now - c->last_ms < BACKUP_FILES_PROGRESS_MS)
		return;
	c->last_ms = now;
	c->progress(c->arg, c->component, c->bytes, c->done, c->total);
}

/* Entries in the snapshot, for the progress total. */
static int backup_files_count(int dir, int depth, uint64_t *n)
{
	DIR *d = NULL;
	struct dirent *de;
	int fd, sub, rv = 0;

	if (depth >= BACKUP_FILES_MAX_DEPTH) {
		rv = LS_ETOOBIG;
		goto out;
	}
	if ((fd = dup(dir)) < 0 || (d = fdopendir(fd)) == NULL) {
		rv = -errno;
		if (fd >= 0)
			close(fd);
		goto out;
	}
	/* The dup shares the offset of a descriptor that may have been
	 * read before. */
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		(*n)++;
		if (de->d_type != DT_DIR)
			continue;
		sub = openat(dir, de->d_name,
		             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			continue;
		rv = backup_files_count(sub, depth + 1, n);
		close(sub);
		if (rv < 0)
			break;
	}
out:
	if (d != NULL)
		closedir(d);
	return rv;
}

/* A directory's names, sorted. */
static int backup_files_names(int dir, char ***namesp, size_t *np)
{
	return ls_dir_names(dir, NULL, NULL, 1, namesp, np);
}

/* Header fields as GNU tar fills them: owner names too, so that a restore
 * as root maps git:git by name; no atime/ctime. */
static void backup_files_fill(struct backup_files_copyctx *c,
                              const struct stat *st)
{
	struct passwd pw, *pwp = NULL;
	struct group gr, *grp = NULL;
	char buf[1024];

	archive_entry_clear(c->e);
	archive_entry_copy_stat(c->e, st);
	archive_entry_unset_atime(c->e);
	archive_entry_unset_ctime(c->e);
	archive_entry_unset_birthtime(c->e);
	archive_entry_set_nlink(c->e, 1);
	if (!S_ISREG(st->st_mode))
		archive_entry_set_size(c->e, 0);
	if (!c->have_uid || c->uid != st->st_uid) {
		c->uid = st->st_uid;
		c->have_uid = 1;
		c->uname[0] = '\0';
		if (getpwuid_r(st->st_uid, &pw, buf, sizeof(buf), &pwp) == 0 &&
		    pwp != NULL)
			ls_strlcpy(c->uname, pw.pw_name, sizeof(c->uname));
	}
	if (!c->have_gid || c->gid != st->st_gid) {
		c->gid = st->st_gid;
		c->have_gid = 1;
		c->gname[0] = '\0';
		if (getgrgid_r(st->st_gid, &gr, buf, sizeof(buf), &grp) == 0 &&
		    grp != NULL)
			ls_strlcpy(c->gname, gr.gr_name, sizeof(c->gname));
	}
	if (c->uname[0])
		archive_entry_copy_uname(c->e, c->uname);
	if (c->gname[0])
		archive_entry_copy_gname(c->e, c->gname);
}

/*
 * An archive call failed while at c->path. A failed write names the
 * archive and its error (the store is full: ENOSPC), not just the entry.
 */
static int backup_files_failed(struct backup_files_copyctx *c)
{
	if (c->wrv < 0) {
		snprintf(c->err, c->errlen, "%s: writing %s: %s (archiving %s)",
		         c->component, c->dest, ls_strerror(c->wrv), c->path);
		return c->wrv;
	}
	snprintf(c->err, c->errlen, "%s: archiving %s: %s", c->component,
	         c->path, backup_files_aerr(c->a));
	return LS_EIO;
}

static int backup_files_header(struct backup_files_copyctx *c)
{
	int r = archive_write_header(c->a, c->e);

	if (r == ARCHIVE_WARN)
		log_debug("%s: %s: %s", c->component, c->path,
		          backup_files_aerr(c->a));
	if (r < ARCHIVE_WARN)
		return backup_files_failed(c);
	return 0;
}

static int backup_files_data(struct backup_files_copyctx *c, int fd,
                             uint64_t size)
{
	uint64_t left = size;
	ssize_t n;
	la_ssize_t w;
	int rv = 0;

	while (left > 0) {
		n = read(fd, c->buf,
		         left < BACKUP_FILES_BUF ? (size_t)left
		                                 : BACKUP_FILES_BUF);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rv = -errno;
			snprintf(c->err, c->errlen, "%s: reading %s: %s",
			         c->component, c->path, ls_strerror(rv));
			goto out;
		}
		if (n == 0) {
			/* Changed in place after the cut (GitLab does not):
			 * libarchive pads with zeros, as tar does. */
			log_warnx("%s: %s shrank by %llu bytes, padded with "
			          "zeros",
			          c->component, c->path,
			          (unsigned long long)left);
			break;
		}
		w = archive_write_data(c->a, c->buf, (size_t)n);
		if (w < 0) {
			rv = backup_files_failed(c);
			goto out;
		}
		left -= (uint64_t)n;
		c->bytes += (uint64_t)n;
		backup_files_report(c, 0);
	}
out:
	return rv;
}

static int backup_files_walk(struct backup_files_copyctx *c, int dir,
                             int depth);

static int backup_files_entry(struct backup_files_copyctx *c, int dir,
                              const char *name, int depth)
{
	struct stat st;
	char target[LS_PATH_MAX];
	size_t plen = strlen(c->path);
	ssize_t n;
	int fd = -1, rv = 0;

	if (ls_fmt(c->path + plen, sizeof(c->path) - plen, "%s", name) < 0) {
		rv = LS_ETOOBIG;
		snprintf(c->err, c->errlen, "%s: name too long in %s",
		         c->component, c->path);
		goto out;
	}
	if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		rv = -errno;
		snprintf(c->err, c->errlen, "%s: reading %s: %s", c->component,
		         c->path, ls_strerror(rv));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		fd = openat(dir, name,
		            O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) < 0 ||
		    ls_fmt(c->path + plen, sizeof(c->path) - plen, "%s/",
		           name) < 0) {
			rv = fd < 0 ? -errno : LS_ETOOBIG;
			snprintf(c->err, c->errlen, "%s: opening %s: %s",
			         c->component, c->path, ls_strerror(rv));
			goto out;
		}
		backup_files_fill(c, &st);
		archive_entry_copy_pathname(c->e, c->path);
		if ((rv = backup_files_header(c)) < 0)
			goto out;
		c->done++;
		rv = backup_files_walk(c, fd, depth + 1);
		goto out;
	}
	if (S_ISREG(st.st_mode)) {
		/* O_NONBLOCK: never hang on a fifo swapped in. */
		fd = openat(dir, name,
		            O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
			rv = fd < 0 ? -errno : LS_EINVAL;
			snprintf(c->err, c->errlen, "%s: opening %s: %s",
			         c->component, c->path, ls_strerror(rv));
			goto out;
		}
		backup_files_fill(c, &st);
		archive_entry_copy_pathname(c->e, c->path);
		if ((rv = backup_files_header(c)) < 0 ||
		    (rv = backup_files_data(c, fd, (uint64_t)st.st_size)) < 0)
			goto out;
	} else if (S_ISLNK(st.st_mode)) {
		n = readlinkat(dir, name, target, sizeof(target));
		if (n < 0 || (size_t)n >= sizeof(target)) {
			rv = n < 0 ? -errno : LS_ETOOBIG;
			snprintf(c->err, c->errlen, "%s: reading link %s: %s",
			         c->component, c->path, ls_strerror(rv));
			goto out;
		}
		target[n] = '\0';
		backup_files_fill(c, &st);
		archive_entry_copy_pathname(c->e, c->path);
		archive_entry_copy_symlink(c->e, target);
		if ((rv = backup_files_header(c)) < 0)
			goto out;
	} else {
		goto out; /* the cut left none; skip rather than guess */
	}
	c->done++;
	backup_files_report(c, 0);
out:
	if (fd >= 0)
		close(fd);
	c->path[plen] = '\0';
	return rv;
}

static int backup_files_walk(struct backup_files_copyctx *c, int dir, int depth)
{
	char **names = NULL;
	size_t n = 0, i;
	int rv;

	if (depth >= BACKUP_FILES_MAX_DEPTH) {
		rv = LS_ETOOBIG;
		snprintf(c->err, c->errlen, "%s: %s is too deep", c->component,
		         c->path);
		goto out;
	}
	if ((rv = backup_files_names(dir, &names, &n)) < 0) {
		snprintf(c->err, c->errlen, "%s: listing %s: %s", c->component,
		         c->path, ls_strerror(rv));
		goto out;
	}
	for (i = 0; i < n && rv == 0; i++)
		rv = backup_files_entry(c, dir, names[i], depth);
out:
	ls_names_free(names, n);
	return rv;
}

static int backup_files_setup(struct backup_files_copyctx *c,
                              enum backup_compression comp)
{
	int rv = 0;

	if ((c->a = archive_write_new()) == NULL ||
	    (c->e = archive_entry_new()) == NULL) {
		rv = LS_ENOMEM;
		goto out;
	}
	/* GNU tar's own default format (what gitlab-backup writes): names
	 * stored as raw bytes, long ones in ././@LongLink. pax would tag a
	 * non-UTF-8-convertible name with hdrcharset, a keyword GNU tar
	 * warns about on every restore. No padding of the compressed
	 * stream to a tar record: zstd rejects trailing zeros. */
	if (archive_write_set_format_gnutar(c->a) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(c->a, 1) != ARCHIVE_OK) {
		rv = LS_EIO;
		goto out;
	}
	if (comp == BACKUP_ZSTD) {
		if (archive_write_add_filter_zstd(c->a) != ARCHIVE_OK ||
		    archive_write_set_filter_option(
		        c->a, "zstd", "compression-level", "1") != ARCHIVE_OK) {
			rv = LS_EIO;
			goto out;
		}
		/* Two threads at most: GitLab is serving while we copy.
		 * Not fatal where libzstd has no threads. */
		archive_write_set_filter_option(
		    c->a, "zstd", "threads",
		    sysconf(_SC_NPROCESSORS_ONLN) > 1 ? "2" : "1");
	} else if (archive_write_add_filter_gzip(c->a) != ARCHIVE_OK ||
	           archive_write_set_filter_option(
	               c->a, "gzip", "compression-level", "1") != ARCHIVE_OK) {
		rv = LS_EIO;
		goto out;
	}
	if (archive_write_open2(c->a, c, NULL, backup_files_write_cb, NULL,
	                        NULL) != ARCHIVE_OK)
		rv = LS_EIO;
out:
	if (rv < 0)
		snprintf(c->err, c->errlen, "%s: setting up the archive: %s",
		         c->component,
		         c->a && archive_error_string(c->a)
		             ? archive_error_string(c->a)
		             : ls_strerror(rv));
	return rv;
}

int backup_files_copy(const char *component, const char *snapdir,
                      const char *dest_path, const char *relpath,
                      enum backup_compression comp, backup_progress_fn progress,
                      void *arg, struct backup_artifacts *out, char *err,
                      size_t errlen)
{
	struct backup_files_copyctx c;
	struct ls_afile *af;
	struct stat st;
	uint8_t sha[32];
	uint64_t size = 0;
	int dfd = -1, rv = 0, committed = 0;

	memset(&c, 0, sizeof(c));
	c.component = component;
	c.dest = dest_path;
	c.progress = progress;
	c.arg = arg;
	c.err = err;
	c.errlen = errlen;
	if (errlen > 0)
		err[0] = '\0';
	if (backup_component_find(component) == NULL) {
		rv = LS_EINVAL;
		snprintf(err, errlen, "unknown file component \"%s\"",
		         component ? component : "");
		goto out;
	}
	if (relpath == NULL || (comp != BACKUP_GZIP && comp != BACKUP_ZSTD)) {
		rv = LS_EINVAL;
		snprintf(err, errlen, "%s: no artifact path or bad compression",
		         component);
		goto out;
	}
	dfd = open(snapdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0 || fstat(dfd, &st) < 0) {
		rv = -errno;
		snprintf(err, errlen, "%s: opening snapshot %s: %s", component,
		         snapdir, ls_strerror(rv));
		goto out;
	}
	c.total = 1;
	if ((rv = backup_files_count(dfd, 0, &c.total)) < 0) {
		snprintf(err, errlen, "%s: walking snapshot %s: %s", component,
		         snapdir, ls_strerror(rv));
		goto out;
	}
	if ((c.buf = malloc(BACKUP_FILES_BUF)) == NULL) {
		rv = LS_ENOMEM;
		snprintf(err, errlen, "%s: out of memory", component);
		goto out;
	}
	if ((rv = ls_afile_open(&c.af, dest_path, 0600)) < 0) {
		snprintf(err, errlen, "%s: creating %s: %s", component,
		         dest_path, ls_strerror(rv));
		goto out;
	}
	if ((rv = backup_files_setup(&c, comp)) < 0)
		goto out;
	/* The top directory is "./", as tar -C DIR . names it. */
	ls_strlcpy(c.path, "./", sizeof(c.path));
	backup_files_fill(&c, &st);
	archive_entry_copy_pathname(c.e, c.path);
	if ((rv = backup_files_header(&c)) < 0)
		goto out;
	c.done = 1;
	if ((rv = backup_files_walk(&c, dfd, 0)) < 0)
		goto out;
	if (archive_write_close(c.a) != ARCHIVE_OK) {
		rv = c.wrv < 0 ? c.wrv : LS_EIO;
		if (c.wrv < 0)
			snprintf(err, errlen, "%s: writing %s: %s", component,
			         dest_path, ls_strerror(c.wrv));
		else
			snprintf(err, errlen, "%s: finishing %s: %s", component,
			         dest_path, backup_files_aerr(c.a));
		goto out;
	}
	rv = ls_afile_commit(c.af, &size, sha);
	c.af = NULL;
	if (rv < 0) {
		snprintf(err, errlen, "%s: writing %s: %s", component,
		         dest_path, ls_strerror(rv));
		goto out;
	}
	committed = 1;
	if ((rv = backup_artifacts_add(out, component, relpath, size, sha)) <
	    0) {
		snprintf(err, errlen, "%s: recording %s: %s", component,
		         relpath, ls_strerror(rv));
		goto out;
	}
	backup_files_report(&c, 1);
out:
	/* Detach the artifact first: freeing an archive that is still open
	 * would write its trailer into a file about to be removed. */
	af = c.af;
	c.af = NULL;
	if (c.a != NULL)
		archive_write_free(c.a);
	archive_entry_free(c.e);
	ls_afile_abort(af);
	if (rv < 0 && committed)
		unlink(dest_path);
	free(c.buf);
	if (dfd >= 0)
		close(dfd);
	return rv;
}
