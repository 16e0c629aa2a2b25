/*
 * custom_hooks.tar with libarchive (what gitaly gets from `tar -c -f - -C
 * <repo> custom_hooks`), and TOML strings quoted as gitaly's go-toml v2
 * quotes them.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "backup_repos.h"
#include "ls_afile.h"
#include "ls_error.h"
#include "ls_util.h"

#define HOOKS_MAX_DEPTH 16
#define HOOKS_CHUNK 65536

struct hooks {
	struct archive *a;
	struct ls_afile *f;
	const char *repo;
	int sink_rv; /* the artifact's write error, if that failed */
	char *why;
	size_t whylen;
};

static la_ssize_t hooks_write(struct archive *a, void *cd, const void *buf,
                              size_t n)
{
	struct hooks *h = cd;
	int rv = ls_afile_write(h->f, buf, n);

	if (rv < 0) {
		h->sink_rv = rv;
		archive_set_error(a, EIO, "%s", ls_strerror(rv));
		return -1;
	}
	return (la_ssize_t)n;
}

/* A libarchive failure: the sink's error if it was the sink, else EIO. */
static int hooks_archive_err(struct hooks *h, const char *name)
{
	(void)ls_fmt(h->why, h->whylen, "custom hooks tar: %s: %s", name,
	             archive_error_string(h->a) ? archive_error_string(h->a)
	                                        : "error");
	return h->sink_rv < 0 ? h->sink_rv : LS_EIO;
}

/* The source's failure: the repository's, not ours. */
static int hooks_src_err(struct hooks *h, const char *path, int e)
{
	(void)ls_fmt(h->why, h->whylen, "%s: %s", path, strerror(e));
	return LS_ECHILD;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Regular file data, exactly st_size bytes even if the file changes. */
static int hooks_data(struct hooks *h, int fd, const char *path, int64_t size)
{
	char *buf = malloc(HOOKS_CHUNK);
	int64_t left = size;
	int rv = 0;

	if (buf == NULL)
		return LS_ENOMEM;
	while (left > 0) {
		size_t want = left > HOOKS_CHUNK ? HOOKS_CHUNK : (size_t)left;
		ssize_t n = read(fd, buf, want);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rv = hooks_src_err(h, path, errno);
			break;
		}
		/* Shrunk since the header: pad so the archive stays whole. */
		if (n == 0) {
			memset(buf, 0, want);
			n = (ssize_t)want;
		}
		if (archive_write_data(h->a, buf, (size_t)n) != n) {
			rv = hooks_archive_err(h, path);
			break;
		}
		left -= n;
	}
	free(buf);
	return rv;
}

static int hooks_add(struct hooks *h, const char *name, int depth);

static int hooks_dir(struct hooks *h, const char *path, const char *name,
                     int depth)
{
	char **names = NULL, sub[LS_PATH_MAX];
	size_t n = 0, cap = 0, i;
	struct dirent *de;
	DIR *d;
	int rv = 0;

	if ((d = opendir(path)) == NULL)
		return hooks_src_err(h, path, errno);
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if ((rv = ls_names_push(&names, &n, &cap, de->d_name)) < 0)
			goto out;
	}
	if (errno != 0) {
		rv = hooks_src_err(h, path, errno);
		goto out;
	}
	/* Sorted, so that the same hooks give the same archive. */
	if (n > 0)
		qsort(names, n, sizeof(*names), name_cmp);
	for (i = 0; i < n && rv == 0; i++) {
		if ((rv = ls_fmt(sub, sizeof(sub), "%s/%s", name, names[i])) ==
		    0)
			rv = hooks_add(h, sub, depth + 1);
	}
out:
	closedir(d);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rv;
}

/* Adds name (relative to the repository) and, for a directory, its tree. */
static int hooks_add(struct hooks *h, const char *name, int depth)
{
	char path[LS_PATH_MAX], target[LS_PATH_MAX], ename[LS_PATH_MAX];
	struct archive_entry *e = NULL;
	struct stat sb;
	ssize_t tl;
	int fd = -1, rv;

	if ((rv = ls_fmt(path, sizeof(path), "%s/%s", h->repo, name)) < 0)
		goto out;
	if (depth > HOOKS_MAX_DEPTH) {
		(void)ls_fmt(h->why, h->whylen, "%s: nested too deep", path);
		rv = LS_ECHILD;
		goto out;
	}
	if (lstat(path, &sb) < 0) {
		rv = hooks_src_err(h, path, errno);
		goto out;
	}
	if (S_ISREG(sb.st_mode)) {
		/* The size in the header is the open file's. */
		if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
		    fstat(fd, &sb) < 0) {
			rv = hooks_src_err(h, path, errno);
			goto out;
		}
	} else if (!S_ISDIR(sb.st_mode) && !S_ISLNK(sb.st_mode)) {
		rv = 0; /* sockets, fifos, devices: not hooks */
		goto out;
	}
	if ((e = archive_entry_new()) == NULL) {
		rv = LS_ENOMEM;
		goto out;
	}
	if ((rv = ls_fmt(ename, sizeof(ename), "%s%s", name,
	                 S_ISDIR(sb.st_mode) ? "/" : "")) < 0)
		goto out;
	archive_entry_copy_pathname(e, ename);
	archive_entry_copy_stat(e, &sb);
	if (S_ISLNK(sb.st_mode)) {
		if ((tl = readlink(path, target, sizeof(target) - 1)) < 0) {
			rv = hooks_src_err(h, path, errno);
			goto out;
		}
		target[tl] = '\0';
		archive_entry_copy_symlink(e, target);
		archive_entry_set_size(e, 0);
	} else if (S_ISDIR(sb.st_mode)) {
		archive_entry_set_size(e, 0);
	}
	if (archive_write_header(h->a, e) < ARCHIVE_WARN) {
		rv = hooks_archive_err(h, path);
		goto out;
	}
	rv = 0;
	if (S_ISREG(sb.st_mode))
		rv = hooks_data(h, fd, path, (int64_t)sb.st_size);
	else if (S_ISDIR(sb.st_mode))
		rv = hooks_dir(h, path, name, depth);
out:
	if (fd >= 0)
		close(fd);
	archive_entry_free(e);
	return rv;
}

int backup_repos_hooks_tar(const char *repo_path, struct ls_afile *f, char *why,
                           size_t whylen)
{
	struct hooks h;
	int rv;

	memset(&h, 0, sizeof(h));
	h.f = f;
	h.repo = repo_path;
	h.why = why;
	h.whylen = whylen;
	if ((h.a = archive_write_new()) == NULL) {
		rv = LS_ENOMEM;
		goto out;
	}
	/* Plain ustar headers unless a name or size needs an extension. */
	if (archive_write_set_format_pax_restricted(h.a) != ARCHIVE_OK ||
	    archive_write_add_filter_none(h.a) != ARCHIVE_OK ||
	    archive_write_open(h.a, &h, NULL, hooks_write, NULL) !=
	        ARCHIVE_OK) {
		rv = hooks_archive_err(&h, "open");
		goto out;
	}
	if ((rv = hooks_add(&h, "custom_hooks", 0)) < 0)
		goto out;
	if (archive_write_close(h.a) != ARCHIVE_OK) {
		rv = hooks_archive_err(&h, "close");
		goto out;
	}
	rv = 0;
out:
	if (h.a != NULL)
		archive_write_free(h.a);
	return rv;
}

int backup_repos_toml_str(char *dst, size_t size, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;
	size_t n = 0;
	int basic = 0;

	/* go-toml's needsQuoting: ', CR, LF and control bytes but tab. */
	for (p = (const unsigned char *)s; *p; p++)
		if (*p == '\'' || *p == 0x7f || (*p < 0x20 && *p != '\t'))
			basic = 1;
	if (!basic) {
		return ls_fmt(dst, size, "'%s'", s);
	}
	if (size < 3)
		return LS_ETOOBIG;
	dst[n++] = '"';
	for (p = (const unsigned char *)s; *p; p++) {
		const char *rep = NULL;
		char esc[8];
		size_t el;

		switch (*p) {
		case '\\':
			rep = "\\\\";
			break;
		case '"':
			rep = "\\\"";
			break;
		case '\b':
			rep = "\\b";
			break;
		case '\f':
			rep = "\\f";
			break;
		case '\n':
			rep = "\\n";
			break;
		case '\r':
			rep = "\\r";
			break;
		case '\t':
			rep = "\\t";
			break;
		default:
			break;
		}
		if (rep != NULL) {
			el = strlen(rep);
			memcpy(esc, rep, el);
		} else if (*p < 0x20 || *p == 0x7f) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[*p >> 4];
			esc[5] = hex[*p & 0x0f];
			el = 6;
		} else {
			esc[0] = (char)*p;
			el = 1;
		}
		if (n + el + 2 > size)
			return LS_ETOOBIG;
		memcpy(dst + n, esc, el);
		n += el;
	}
	dst[n++] = '"';
	dst[n] = '\0';
	return 0;
}
