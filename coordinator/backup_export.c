/*
 * The export tar, shaped like the one GitLab's Rake backup packs
 * (lib/backup/manager.rb #pack and #backup_contents, through
 * gitlab-backup-cli's Utils::Tar#pack_cmd):
 *
 *   tar --exclude=lost+found --directory=<backup_path> --create --file=- \
 *       backup_information.yml db repositories uploads.tar.gz ...
 *
 * GNU tar's default format is "gnu", so libarchive's gnutar writer is
 * used (long names become ././@LongLink records as GNU tar writes them);
 * no compression; 10240-byte records padded at the end like GNU tar's.
 */
#include "backup_export.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ls_afile.h"
#include "ls_error.h"
#include "ls_util.h"

/* Bounds on what one export walks. */
#define BACKUP_EXPORT_DEPTH 64
#define BACKUP_EXPORT_DIR_ENTRIES (1u << 20)
#define BACKUP_EXPORT_BUF 65536
#define BACKUP_EXPORT_RECORD 10240
/* Long-name headers still in libarchive's buffer (a record holds 20
 * blocks, so at most ~7 of them). */
#define BACKUP_EXPORT_PENDING 32

/* Manager#backup_contents: the manifest, then the tasks in definition
 * order (Database, Repositories, Uploads, Builds, Artifacts, Pages, Lfs,
 * TerraformState, Registry, Packages, CiSecureFiles, ExternalDiffs). */
static const char *const backup_export_order[] = {
    "backup_information.yml", "db",
    "repositories",           "uploads.tar.gz",
    "builds.tar.gz",          "artifacts.tar.gz",
    "pages.tar.gz",           "lfs.tar.gz",
    "terraform_state.tar.gz", "registry.tar.gz",
    "packages.tar.gz",        "ci_secure_files.tar.gz",
    "external_diffs.tar.gz",
};
#define BACKUP_EXPORT_NORDER                                                   \
	(sizeof(backup_export_order) / sizeof(backup_export_order[0]))

struct backup_exp {
	struct archive *a;
	struct archive_entry *e;
	struct ls_afile *f;
	int wrv; /* why the last write callback failed */
	/* Stream offsets of ././@LongLink headers not yet written out, and
	 * how many bytes the write callback has passed on. */
	int64_t longlink[BACKUP_EXPORT_PENDING];
	int nlong;
	int64_t written;
	uint8_t record[BACKUP_EXPORT_RECORD];
	/* Files never to archive: our own temporary and an older export. */
	dev_t skip_dev[2];
	ino_t skip_ino[2];
	int nskip;
	char *err;
	size_t errlen;
	char path[LS_PATH_MAX]; /* entry name being written */
	uint8_t buf[BACKUP_EXPORT_BUF];
};

static int backup_exp_fail(struct backup_exp *x, int rv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int backup_exp_fail(struct backup_exp *x, int rv, const char *fmt, ...)
{
	va_list ap;

	if (x->err != NULL && x->errlen > 0 && x->err[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(x->err, x->errlen, fmt, ap);
		va_end(ap);
	}
	return rv;
}

/*
 * libarchive's gnutar writer fills a ././@LongLink header as GNU tar does
 * except for two fields no reader uses: mode 0000000 and group "wheel"
 * where GNU tar writes 0000644 and "root". Set them as GNU tar has them,
 * with the checksum to match, so those headers too are byte for byte.
 */
static void backup_exp_fix_longlink(uint8_t *h)
{
	unsigned sum = 0;

	if (memcmp(h, "././@LongLink", 14) != 0 || h[156] != 'L')
		return; /* not such a header: never touch file data */
	memcpy(h + 100, "0000644", 8);
	memset(h + 297, 0, 32);
	memcpy(h + 297, "root", 4);
	memset(h + 148, ' ', 8);
	for (int i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum & 0777777);
	h[155] = ' ';
}

static la_ssize_t backup_exp_write(struct archive *a, void *ctx,
                                   const void *buf, size_t len)
{
	struct backup_exp *x = ctx;
	const void *out = buf;
	int keep = 0, rv = 0;

	for (int i = 0; i < x->nlong; i++) {
		int64_t at = x->longlink[i] - x->written;

		if (at >= (int64_t)len) { /* in a later record */
			x->longlink[keep++] = x->longlink[i];
			continue;
		}
		/* libarchive hands over whole 10240-byte records, so a
		 * 512-byte header never straddles two calls. */
		if (at < 0 || at + 512 > (int64_t)len ||
		    len > sizeof(x->record)) {
			rv = LS_EIO;
			continue;
		}
		if (out == buf) {
			memcpy(x->record, buf, len);
			out = x->record;
		}
		backup_exp_fix_longlink(x->record + at);
	}
	x->nlong = keep;
	if (rv == 0)
		rv = x->f ? ls_afile_write(x->f, out, len) : LS_EIO;
	if (rv < 0) {
		x->wrv = rv;
		archive_set_error(a, EIO, "%s", ls_strerror(rv));
		return -1;
	}
	x->written += (int64_t)len;
	return (la_ssize_t)len;
}

/*
 * Modes as GitLab's archive holds them, whatever our staging wrote:
 * backup_information.yml 0644 (File.open under umask 022); db/ 0755
 * (FileUtils.mkdir_p under umask 022, an inference) with its dumps 0600
 * (Backup::Dump::Postgres opens them 0600); the component tarballs 0600
 * (written with FILE_PERMISSION 0600); under repositories/ gitaly-backup
 * makes directories 0700 and files 0644. Extra entries keep their own.
 */
static mode_t backup_exp_mode(const char *rel, bool dir, mode_t disk,
                              bool known)
{
	size_t top = strcspn(rel, "/");

	if (!known)
		return disk & 0777;
	if (strcmp(rel, "backup_information.yml") == 0)
		return 0644;
	if (top == 12 && strncmp(rel, "repositories", 12) == 0)
		return dir ? 0700 : 0644;
	if (strcmp(rel, "db") == 0 && dir)
		return 0755;
	return dir ? 0700 : 0600;
}

static int backup_exp_header(struct backup_exp *x, const struct stat *st,
                             bool dir, bool known)
{
	struct archive_entry *e = x->e;
	size_t n = strlen(x->path);

	/* GNU tar names directories with a trailing slash ("db/"). */
	if (dir && (n + 2 > sizeof(x->path)))
		return backup_exp_fail(x, LS_ETOOBIG, "path too long: %s",
		                       x->path);
	archive_entry_clear(e);
	if (dir) {
		x->path[n] = '/';
		x->path[n + 1] = '\0';
	}
	archive_entry_set_pathname(e, x->path);
	if (dir)
		x->path[n] = '\0';
	archive_entry_set_filetype(e, dir ? AE_IFDIR : AE_IFREG);
	archive_entry_set_perm(
	    e, backup_exp_mode(x->path, dir, st->st_mode, known));
	archive_entry_set_size(e, dir ? 0 : (la_int64_t)st->st_size);
	archive_entry_set_mtime(e, st->st_mtime, 0);
	archive_entry_set_uid(e, BACKUP_EXPORT_UID);
	archive_entry_set_gid(e, BACKUP_EXPORT_GID);
	archive_entry_set_uname(e, BACKUP_EXPORT_OWNER);
	archive_entry_set_gname(e, BACKUP_EXPORT_OWNER);
	/* Names over 100 bytes get a ././@LongLink header first. It lands
	 * where the stream stands (filter 0 counts what the format wrote)
	 * once the previous entry's data is padded to a 512-byte block,
	 * which libarchive does only when the next header comes. */
	if (n + (dir ? 1 : 0) > 100) {
		if (x->nlong == BACKUP_EXPORT_PENDING)
			return backup_exp_fail(x, LS_EIO,
			                       "too many long names");
		x->longlink[x->nlong++] =
		    (archive_filter_bytes(x->a, 0) + 511) & ~(int64_t)511;
	}
	if (archive_write_header(x->a, e) != ARCHIVE_OK)
		return backup_exp_fail(x, x->wrv ? x->wrv : LS_EIO,
		                       "writing header of %s: %s", x->path,
		                       archive_error_string(x->a));
	return 0;
}

static int backup_exp_file(struct backup_exp *x, int fd, const struct stat *st,
                           bool known)
{
	uint64_t left = (uint64_t)st->st_size;
	int rv;

	if ((rv = backup_exp_header(x, st, false, known)) < 0)
		return rv;
	for (;;) {
		ssize_t n = read(fd, x->buf, sizeof(x->buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return backup_exp_fail(x, -errno, "reading %s: %s",
			                       x->path, strerror(errno));
		if (n == 0)
			break;
		/* The header already holds the size: a file that grew or
		 * shrank would make a corrupt archive. */
		if ((uint64_t)n > left)
			break;
		if (archive_write_data(x->a, x->buf, (size_t)n) != n)
			return backup_exp_fail(x, x->wrv ? x->wrv : LS_EIO,
			                       "writing %s: %s", x->path,
			                       archive_error_string(x->a));
		left -= (uint64_t)n;
	}
	if (left != 0 || read(fd, x->buf, 1) != 0)
		return backup_exp_fail(x, LS_EIO, "%s changed as we read it",
		                       x->path);
	return 0;
}

static int backup_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void backup_free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* The names in a directory, sorted byte-wise, without . and .. */
static int backup_exp_list(struct backup_exp *x, DIR *d, char ***out,
                           size_t *count)
{
	char **names = NULL, **grown;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int rv = 0;

	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (n == BACKUP_EXPORT_DIR_ENTRIES) {
			rv = backup_exp_fail(x, LS_ETOOBIG,
			                     "too many entries in %s", x->path);
			goto out;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			if ((grown = realloc(names, cap * sizeof(*names))) ==
			    NULL) {
				rv = LS_ENOMEM;
				goto out;
			}
			names = grown;
		}
		if ((names[n] = strdup(de->d_name)) == NULL) {
			rv = LS_ENOMEM;
			goto out;
		}
		n++;
		errno = 0;
	}
	if (errno != 0) {
		rv = backup_exp_fail(x, -errno, "listing %s: %s", x->path,
		                     strerror(errno));
		goto out;
	}
	if (n > 1)
		qsort(names, n, sizeof(*names), backup_cmp);
out:
	if (rv < 0) {
		backup_free_names(names, n);
		names = NULL;
		n = 0;
	}
	*out = names;
	*count = n;
	return rv;
}

static bool backup_exp_skipped(const struct backup_exp *x,
                               const struct stat *st)
{
	for (int i = 0; i < x->nskip; i++)
		if (st->st_dev == x->skip_dev[i] &&
		    st->st_ino == x->skip_ino[i])
			return true;
	return false;
}

/*
 * Adds parent/name (x->path already ends with it) and, for a directory,
 * everything below it in sorted order.
 */
static int backup_exp_entry(struct backup_exp *x, int parent, const char *name,
                            bool known, int depth)
{
	struct stat st;
	char **names = NULL;
	size_t n = 0, len = strlen(x->path);
	DIR *d = NULL;
	int fd = -1, rv = 0;

	if (depth > BACKUP_EXPORT_DEPTH) {
		rv = backup_exp_fail(x, LS_ETOOBIG, "%s is nested too deep",
		                     x->path);
		goto out;
	}
	if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		rv = backup_exp_fail(x, -errno, "%s: %s", x->path,
		                     strerror(errno));
		goto out;
	}
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
		rv = backup_exp_fail(x, LS_EINVAL,
		                     "%s is neither a file nor a directory",
		                     x->path);
		goto out;
	}
	if (backup_exp_skipped(x, &st))
		goto out;
	fd = openat(parent, name,
	            O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
	                (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0));
	if (fd < 0 || fstat(fd, &st) < 0) {
		rv = backup_exp_fail(x, -errno, "opening %s: %s", x->path,
		                     strerror(errno));
		goto out;
	}
	if (S_ISREG(st.st_mode)) {
		rv = backup_exp_file(x, fd, &st, known);
		goto out;
	}
	if ((rv = backup_exp_header(x, &st, true, known)) < 0)
		goto out;
	if ((d = fdopendir(fd)) == NULL) {
		rv = backup_exp_fail(x, -errno, "opening %s: %s", x->path,
		                     strerror(errno));
		goto out;
	}
	fd = -1; /* now d's */
	if ((rv = backup_exp_list(x, d, &names, &n)) < 0)
		goto out;
	for (size_t i = 0; i < n && rv == 0; i++) {
		/* tar --exclude=lost+found matches it at any depth. */
		if (strcmp(names[i], "lost+found") == 0)
			continue;
		if (ls_fmt(x->path + len, sizeof(x->path) - len, "/%s",
		           names[i]) < 0) {
			x->path[len] = '\0';
			rv = backup_exp_fail(x, LS_ETOOBIG,
			                     "path too long under %s", x->path);
			break;
		}
		rv = backup_exp_entry(x, dirfd(d), names[i], known, depth + 1);
		x->path[len] = '\0';
	}
out:
	backup_free_names(names, n);
	if (d != NULL)
		closedir(d);
	if (fd >= 0)
		close(fd);
	return rv;
}

static bool backup_exp_known(const char *name)
{
	for (size_t i = 0; i < BACKUP_EXPORT_NORDER; i++)
		if (strcmp(name, backup_export_order[i]) == 0)
			return true;
	return false;
}

/* The top level: GitLab's list in its order, then (maybe) the rest. */
static int backup_exp_top(struct backup_exp *x, int root, int include_extra)
{
	char **names = NULL;
	size_t n = 0;
	struct stat st;
	DIR *d = NULL;
	int fd = -1, rv = 0;

	for (size_t i = 0; i < BACKUP_EXPORT_NORDER && rv == 0; i++) {
		const char *name = backup_export_order[i];

		if (fstatat(root, name, &st, AT_SYMLINK_NOFOLLOW) < 0 &&
		    errno == ENOENT)
			continue; /* skipped or absent: left out, as GitLab */
		ls_strlcpy(x->path, name, sizeof(x->path));
		rv = backup_exp_entry(x, root, name, true, 0);
	}
	if (rv < 0 || !include_extra)
		goto out;
	if ((fd = dup(root)) < 0 || (d = fdopendir(fd)) == NULL) {
		rv = backup_exp_fail(x, -errno, "listing the backup: %s",
		                     strerror(errno));
		goto out;
	}
	fd = -1;
	x->path[0] = '\0';
	if ((rv = backup_exp_list(x, d, &names, &n)) < 0)
		goto out;
	for (size_t i = 0; i < n && rv == 0; i++) {
		if (backup_exp_known(names[i]) ||
		    strcmp(names[i], "lost+found") == 0)
			continue;
		if (ls_strlcpy(x->path, names[i], sizeof(x->path)) >=
		    sizeof(x->path)) {
			rv = backup_exp_fail(x, LS_ETOOBIG, "name too long");
			break;
		}
		rv = backup_exp_entry(x, root, names[i], false, 0);
	}
out:
	backup_free_names(names, n);
	if (d != NULL)
		closedir(d);
	if (fd >= 0)
		close(fd);
	return rv;
}

int backup_export_tar(const char *backup_dir, const char *out_path,
                      int include_extra, char *err, size_t errlen)
{
	struct backup_exp *x = NULL;
	struct stat st;
	int root = -1, rv;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (backup_dir == NULL || out_path == NULL || out_path[0] == '\0')
		return LS_EINVAL;
	if ((x = calloc(1, sizeof(*x))) == NULL)
		return LS_ENOMEM;
	x->err = err;
	x->errlen = errlen;
	/* Everything that can fail cheaply fails before out_path exists. */
	root = open(backup_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0) {
		rv = backup_exp_fail(x, -errno, "backup directory %s: %s",
		                     backup_dir, strerror(errno));
		goto out;
	}
	if (fstatat(root, "backup_information.yml", &st, 0) < 0 ||
	    !S_ISREG(st.st_mode)) {
		rv = backup_exp_fail(x, LS_ENOENT,
		                     "%s has no backup_information.yml",
		                     backup_dir);
		goto out;
	}
	if (stat(out_path, &st) == 0) {
		x->skip_dev[x->nskip] = st.st_dev;
		x->skip_ino[x->nskip++] = st.st_ino;
	}
	if ((rv = ls_afile_open(&x->f, out_path, 0600)) < 0) {
		rv = backup_exp_fail(x, rv, "creating %s: %s", out_path,
		                     ls_strerror(rv));
		goto out;
	}
	if (fstat(ls_afile_fd(x->f), &st) == 0) {
		x->skip_dev[x->nskip] = st.st_dev;
		x->skip_ino[x->nskip++] = st.st_ino;
	}
	if ((x->a = archive_write_new()) == NULL ||
	    (x->e = archive_entry_new()) == NULL) {
		rv = LS_ENOMEM;
		goto out;
	}
	/* GNU tar's blocking: 20 x 512-byte blocks, the last one padded. */
	if (archive_write_set_format_gnutar(x->a) != ARCHIVE_OK ||
	    archive_write_add_filter_none(x->a) != ARCHIVE_OK ||
	    archive_write_set_bytes_per_block(x->a, 10240) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(x->a, 10240) != ARCHIVE_OK ||
	    archive_write_open2(x->a, x, NULL, backup_exp_write, NULL, NULL) !=
	        ARCHIVE_OK) {
		rv = backup_exp_fail(x, LS_EIO, "libarchive: %s",
		                     archive_error_string(x->a));
		goto out;
	}
	if ((rv = backup_exp_top(x, root, include_extra)) < 0)
		goto out;
	if (archive_write_close(x->a) != ARCHIVE_OK) {
		rv = backup_exp_fail(x, x->wrv ? x->wrv : LS_EIO,
		                     "finishing %s: %s", out_path,
		                     archive_error_string(x->a));
		goto out;
	}
	rv = ls_afile_commit(x->f, NULL, NULL);
	x->f = NULL;
	if (rv < 0)
		backup_exp_fail(x, rv, "committing %s: %s", out_path,
		                ls_strerror(rv));
out:
	/* The archive first: freeing it may still write through x->f. */
	if (x->a != NULL)
		archive_write_free(x->a);
	archive_entry_free(x->e);
	ls_afile_abort(x->f);
	if (root >= 0)
		close(root);
	free(x);
	return rv;
}
