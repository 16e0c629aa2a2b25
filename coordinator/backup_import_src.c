/*
 * Bringing an import's source into its staging directory: the Rake tar
 * extracted with libarchive's secure flags, or the gitlab-backup-cli
 * directory copied file by file. Only regular files and directories are
 * taken: a GitLab backup holds nothing else, and a symlink, hard link or
 * device in one is either damage or an attempt to write outside the store.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "backup_import.h"
#include "ls_error.h"
#include "ls_log.h"
#include "ls_util.h"

/* A large fleet's backup: ~3 files per repository plus manifests. */
#define IMPORT_MAX_ENTRIES 4000000
/* Entry names: gitaly's hashed paths are ~130 bytes. */
#define IMPORT_NAME_MAX 1024
#define IMPORT_MAX_DEPTH 32
#define IMPORT_PROGRESS_MS 5000

void import_progress_init(struct import_progress *p, const char *what)
{
	memset(p, 0, sizeof(*p));
	p->what = what;
	p->start_ms = p->last_ms = ls_mono_ms();
}

void import_progress_add(struct import_progress *p, uint64_t bytes,
                         uint64_t files)
{
	int64_t now = ls_mono_ms();

	p->bytes += bytes;
	p->files += files;
	if (now - p->last_ms < IMPORT_PROGRESS_MS)
		return;
	p->last_ms = now;
	log_info("import: %s: %llu MiB, %llu files, %llds", p->what,
	         (unsigned long long)(p->bytes >> 20),
	         (unsigned long long)p->files,
	         (long long)(now - p->start_ms) / 1000);
}

int import_warn(struct backup_import *imp, const char *fmt, ...)
{
	char line[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_warnx("import %s: %s", imp->src, line);
	return ls_names_push(&imp->warnings, &imp->nwarnings, &imp->capwarnings,
	                     line);
}

static int cancelled(const struct backup_import *imp)
{
	return imp->cancel != NULL && *imp->cancel;
}

/*
 * The entry's name made relative and checked: `./` as the Helm toolbox
 * writes it is dropped, `..`, absolute names and overlong ones refused.
 * Returns 0, 1 for the top directory itself, or -1 with why set.
 */
static int clean_name(const char *name, char *out, size_t len, const char **why)
{
	const char *p;
	size_t n;

	if (name == NULL || name[0] == '\0') {
		*why = "entry without a name";
		return -1;
	}
	if (strlen(name) >= IMPORT_NAME_MAX) {
		*why = "name too long";
		return -1;
	}
	if (name[0] == '/') {
		*why = "absolute path";
		return -1;
	}
	while (name[0] == '.' && name[1] == '/')
		name += 2;
	while (name[0] == '/')
		name++;
	if (name[0] == '\0' || strcmp(name, ".") == 0)
		return 1;
	for (p = name; *p; p += n + (p[n] == '/')) {
		n = strcspn(p, "/");
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			*why = "path with '..'";
			return -1;
		}
	}
	ls_strlcpy(out, name, len);
	n = strlen(out);
	while (n > 0 && out[n - 1] == '/')
		out[--n] = '\0';
	return 0;
}

struct tar_ctx {
	struct backup_import *imp;
	struct archive *r, *w;
	int dirfd;
	uint64_t entries;
	struct import_progress prog;
	char rel[IMPORT_NAME_MAX];
	char *err;
	size_t errlen;
};

static int tar_refuse(struct tar_ctx *c, const char *name, const char *why)
{
	snprintf(c->err, c->errlen, "%s: entry '%.300s' refused: %s",
	         c->imp->src, name ? name : "", why);
	return LS_EPERM;
}

static int tar_fail(struct tar_ctx *c, struct archive *a, const char *what,
                    const char *name)
{
	const char *e = archive_error_string(a);

	snprintf(c->err, c->errlen, "%s: %s '%.300s': %s", c->imp->src, what,
	         name, e ? e : "truncated or corrupt archive");
	return LS_EIO;
}

/* Checks e and rewrites its name; 1 when it is to be skipped. */
static int tar_check(struct tar_ctx *c, struct archive_entry *e)
{
	const char *name = archive_entry_pathname(e), *why = NULL;
	mode_t type = archive_entry_filetype(e);
	struct stat st;
	int rv;

	if (++c->entries > IMPORT_MAX_ENTRIES)
		return tar_refuse(c, name, "too many entries");
	if (archive_entry_hardlink(e) != NULL)
		return tar_refuse(c, name, "hard link");
	if (type == AE_IFLNK)
		return tar_refuse(c, name, "symlink");
	if (type != AE_IFREG && type != AE_IFDIR)
		return tar_refuse(c, name, "not a regular file or directory");
	if ((rv = clean_name(name, c->rel, sizeof(c->rel), &why)) < 0)
		return tar_refuse(c, name, why);
	if (rv == 1)
		return 1; /* `./`: the staging directory is its own */
	/* A second entry of one name would replace the first unseen. */
	if (type == AE_IFREG &&
	    fstatat(c->dirfd, c->rel, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return tar_refuse(c, name, "duplicate entry");
	archive_entry_copy_pathname(e, c->rel);
	/* Readable by the coordinator whatever the archive says, never
	 * set-id; the owner stays the coordinator's. */
	archive_entry_set_perm(e, (archive_entry_perm(e) & 0755) |
	                              (type == AE_IFDIR ? 0700 : 0600));
	return 0;
}

static int tar_entry(struct tar_ctx *c, struct archive_entry *e)
{
	const void *buf;
	char name[IMPORT_NAME_MAX];
	size_t len;
	la_int64_t off;
	int rv, r;

	ls_strlcpy(name,
	           archive_entry_pathname(e) ? archive_entry_pathname(e) : "",
	           sizeof(name));
	if ((rv = tar_check(c, e)) != 0)
		return rv < 0 ? rv : 0;
	if (archive_write_header(c->w, e) < ARCHIVE_WARN)
		return tar_fail(c, c->w, "extracting", name);
	while (archive_entry_size(e) > 0) {
		r = archive_read_data_block(c->r, &buf, &len, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN)
			return tar_fail(c, c->r, "reading", name);
		if (archive_write_data_block(c->w, buf, len, off) <
		    ARCHIVE_WARN)
			return tar_fail(c, c->w, "writing", name);
		import_progress_add(&c->prog, len, 0);
		if (cancelled(c->imp)) {
			snprintf(c->err, c->errlen, "%s: cancelled",
			         c->imp->src);
			return LS_ESTATE;
		}
	}
	if (archive_write_finish_entry(c->w) < ARCHIVE_WARN)
		return tar_fail(c, c->w, "finishing", name);
	import_progress_add(&c->prog, 0, 1);
	return 0;
}

int import_extract_tar(struct backup_import *imp, char *err, size_t errlen)
{
	/* SECURE_NOABSOLUTEPATHS needs relative names: extraction runs from
	 * inside the staging directory, in a working directory of this
	 * thread's own (unshare(CLONE_FS)) so no other thread's moves. */
	const int flags = ARCHIVE_EXTRACT_SECURE_NODOTDOT |
	                  ARCHIVE_EXTRACT_SECURE_SYMLINKS |
	                  ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS |
	                  ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM;
	struct tar_ctx c;
	struct archive_entry *e;
	char what[LS_PATH_MAX + 16];
	int cwd = -1, rv = 0, r;

	memset(&c, 0, sizeof(c));
	c.imp = imp;
	c.err = err;
	c.errlen = errlen;
	c.dirfd = -1;
	snprintf(what, sizeof(what), "extracting %s", imp->src);
	import_progress_init(&c.prog, what);
	if (unshare(CLONE_FS) < 0 ||
	    (cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (c.dirfd = open(imp->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) <
	        0 ||
	    fchdir(c.dirfd) < 0) {
		rv = -errno;
		snprintf(err, errlen, "%s: entering %s: %s", imp->src, imp->tmp,
		         ls_strerror(rv));
		goto out;
	}
	if ((c.r = archive_read_new()) == NULL ||
	    (c.w = archive_write_disk_new()) == NULL) {
		rv = LS_ENOMEM;
		snprintf(err, errlen, "%s: out of memory", imp->src);
		goto out;
	}
	/* Rake's archive is a plain tar: no filter is registered. */
	archive_read_support_format_tar(c.r);
	archive_read_support_format_gnutar(c.r);
	archive_write_disk_set_options(c.w, flags);
	if (archive_read_open_filename(c.r, imp->src, 1 << 16) != ARCHIVE_OK) {
		rv = tar_fail(&c, c.r, "opening", imp->src);
		goto out;
	}
	while ((r = archive_read_next_header(c.r, &e)) == ARCHIVE_OK ||
	       r == ARCHIVE_WARN)
		if ((rv = tar_entry(&c, e)) < 0)
			goto out;
	if (r != ARCHIVE_EOF) {
		rv = tar_fail(&c, c.r, "reading after", c.rel);
		goto out;
	}
	if (c.entries == 0) {
		rv = LS_EINVAL;
		snprintf(err, errlen, "%s: not a tar archive, or empty",
		         imp->src);
		goto out;
	}
	log_info("import: %s: %llu MiB, %llu entries extracted", imp->src,
	         (unsigned long long)(c.prog.bytes >> 20),
	         (unsigned long long)c.entries);
out:
	if (c.w)
		archive_write_free(c.w);
	if (c.r)
		archive_read_free(c.r);
	if (cwd >= 0) {
		if (fchdir(cwd) < 0)
			log_warn("import: back to the working directory");
		close(cwd);
	}
	if (c.dirfd >= 0)
		close(c.dirfd);
	return rv;
}

/* Copies one open file into dst (a new file in dirfd), kernel-side where
 * the filesystems allow it: the source may be on another mount. */
static int copy_fd(int in, int out, struct import_progress *p,
                   const struct backup_import *imp)
{
	char buf[1 << 16];
	int use_cfr = 1;
	ssize_t n;

	for (;;) {
		if (cancelled(imp))
			return LS_ESTATE;
		if (use_cfr) {
			n = copy_file_range(in, NULL, out, NULL, 1 << 24, 0);
			if (n < 0 && (errno == EXDEV || errno == EINVAL ||
			              errno == ENOSYS || errno == EOPNOTSUPP)) {
				use_cfr = 0;
				continue;
			}
		} else {
			n = read(in, buf, sizeof(buf));
			if (n > 0 && ls_write_all(out, buf, (size_t)n) < 0)
				return -errno;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		import_progress_add(p, (uint64_t)n, 0);
	}
}

struct copy_ctx {
	struct backup_import *imp;
	struct import_progress prog;
	uint64_t entries;
	char *err;
	size_t errlen;
};

static int copy_tree(struct copy_ctx *c, int sfd, int dfd, const char *rel,
                     int depth);

static int copy_one(struct copy_ctx *c, int sfd, int dfd, const char *name,
                    const char *rel, int depth)
{
	struct stat st;
	int in = -1, out = -1, rv = 0;

	if (++c->entries > IMPORT_MAX_ENTRIES || depth > IMPORT_MAX_DEPTH ||
	    strlen(rel) >= IMPORT_NAME_MAX) {
		snprintf(c->err, c->errlen, "%s: '%.300s' refused: %s",
		         c->imp->src, rel,
		         depth > IMPORT_MAX_DEPTH ? "nested too deeply"
		                                  : "too many files");
		return LS_ETOOBIG;
	}
	if (fstatat(sfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		rv = -errno;
		snprintf(c->err, c->errlen, "%s/%s: %s", c->imp->src, rel,
		         ls_strerror(rv));
		return rv;
	}
	if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
		snprintf(
		    c->err, c->errlen, "%s/%s refused: %s", c->imp->src, rel,
		    S_ISLNK(st.st_mode) ? "symlink"
		                        : "not a regular file or directory");
		return LS_EPERM;
	}
	if (S_ISDIR(st.st_mode)) {
		if (mkdirat(dfd, name, (st.st_mode & 0755) | 0700) < 0 ||
		    (in = openat(sfd, name,
		                 O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		                     O_CLOEXEC)) < 0 ||
		    (out = openat(dfd, name,
		                  O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		                      O_CLOEXEC)) < 0) {
			rv = -errno;
			snprintf(c->err, c->errlen, "%s/%s: %s", c->imp->src,
			         rel, ls_strerror(rv));
			goto out;
		}
		rv = copy_tree(c, in, out, rel, depth + 1);
		goto out;
	}
	if ((in = openat(sfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
	    (out = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	                  (st.st_mode & 0755) | 0600)) < 0 ||
	    (rv = copy_fd(in, out, &c->prog, c->imp)) < 0 || fsync(out) < 0) {
		rv = rv < 0 ? rv : -errno;
		snprintf(c->err, c->errlen, "copying %s/%s: %s", c->imp->src,
		         rel, ls_strerror(rv));
		goto out;
	}
	import_progress_add(&c->prog, 0, 1);
out:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return rv;
}

static int copy_tree(struct copy_ctx *c, int sfd, int dfd, const char *rel,
                     int depth)
{
	char **names = NULL, sub[IMPORT_NAME_MAX + 256];
	size_t n = 0, i;
	int rv;

	if ((rv = ls_dir_names(sfd, NULL, NULL, 1, &names, &n)) < 0) {
		snprintf(c->err, c->errlen, "listing %s/%s: %s", c->imp->src,
		         rel, ls_strerror(rv));
		return rv;
	}
	for (i = 0; i < n && rv == 0; i++) {
		if (ls_fmt(sub, sizeof(sub), "%s%s%s", rel, rel[0] ? "/" : "",
		           names[i]) < 0) {
			snprintf(c->err, c->errlen, "%s/%s: name too long",
			         c->imp->src, rel);
			rv = LS_ETOOBIG;
			break;
		}
		rv = copy_one(c, sfd, dfd, names[i], sub, depth);
	}
	ls_names_free(names, n);
	return rv;
}

int import_copy_dir(struct backup_import *imp, char *err, size_t errlen)
{
	struct copy_ctx c;
	char what[LS_PATH_MAX + 16];
	int sfd = -1, dfd = -1, rv;

	memset(&c, 0, sizeof(c));
	c.imp = imp;
	c.err = err;
	c.errlen = errlen;
	snprintf(what, sizeof(what), "copying %s", imp->src);
	import_progress_init(&c.prog, what);
	if ((sfd = open(imp->src, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (dfd = open(imp->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rv = -errno;
		snprintf(err, errlen, "%s: %s", sfd < 0 ? imp->src : imp->tmp,
		         ls_strerror(rv));
		goto out;
	}
	if ((rv = copy_tree(&c, sfd, dfd, "", 0)) == 0)
		log_info("import: %s: %llu MiB, %llu files copied", imp->src,
		         (unsigned long long)(c.prog.bytes >> 20),
		         (unsigned long long)c.prog.files);
	else if (rv == LS_ESTATE)
		snprintf(err, errlen, "%s: cancelled", imp->src);
out:
	if (sfd >= 0)
		close(sfd);
	if (dfd >= 0)
		close(dfd);
	return rv;
}
