/*
 * Secure extraction of a component archive.
 *
 * libarchive's archive_write_disk does the writing, with its secure flags,
 * but those alone are not enough (DESIGN §3): it still creates a symlink
 * that points outside, and with ARCHIVE_EXTRACT_UNLINK it replaces a
 * symlink met on the way by a directory instead of refusing the entry. So
 * every entry is checked here first and a bad one fails the whole restore.
 *
 * The secure flags only work on relative names (absolute ones are refused,
 * as they should be), resolved from the working directory. The agent runs
 * copies in threads, so the working directory is made private to the
 * calling thread (unshare(CLONE_FS)) before it is changed.
 */
#include "restore_tar.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <openssl/evp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ls_error.h"
#include "ls_log.h"
#include "ls_util.h"

#define RESTORE_TAR_PROGRESS_MS 250

int restore_tar_name(const char *name, char *out, size_t outlen,
                     const char **why)
{
	const char *p = name, *seg;
	size_t len, o = 0;

	*why = NULL;
	if (outlen == 0)
		return LS_EINVAL;
	out[0] = '\0';
	if (name == NULL || name[0] == '\0') {
		*why = "empty name";
		return LS_EPROTO;
	}
	if (name[0] == '/') {
		*why = "absolute path";
		return LS_EPROTO;
	}
	if (strlen(name) > RESTORE_TAR_MAX_NAME) {
		*why = "name too long";
		return LS_ETOOBIG;
	}
	while (*p != '\0') {
		seg = p;
		while (*p != '\0' && *p != '/')
			p++;
		len = (size_t)(p - seg);
		if (*p == '/')
			p++;
		if (len == 0 || (len == 1 && seg[0] == '.'))
			continue;
		if (len == 2 && seg[0] == '.' && seg[1] == '.') {
			*why = "path has a .. component";
			return LS_EPROTO;
		}
		if (o + len + 2 > outlen) {
			*why = "name too long";
			return LS_ETOOBIG;
		}
		if (o > 0)
			out[o++] = '/';
		memcpy(out + o, seg, len);
		o += len;
		out[o] = '\0';
	}
	return o == 0 ? 1 : 0;
}

int restore_tar_excluded(const struct backup_component *comp, const char *rel)
{
	const char *const *x;
	const char *p = rel, *seg;
	size_t len;
	int first = 1;

	while (*p != '\0') {
		seg = p;
		while (*p != '\0' && *p != '/')
			p++;
		len = (size_t)(p - seg);
		if (len == 10 && memcmp(seg, "lost+found", 10) == 0)
			return 1;
		if (first && comp != NULL)
			for (x = comp->excludes; *x != NULL; x++)
				if (strlen(*x) == len &&
				    memcmp(seg, *x, len) == 0)
					return 1;
		first = 0;
		if (*p == '/')
			p++;
	}
	return 0;
}

int restore_tar_link_inside(const char *rel, const char *target)
{
	const char *p = target, *seg;
	long depth = 0;
	size_t len;

	if (target == NULL || target[0] == '\0' || target[0] == '/')
		return 0;
	/* The link's directory: as deep as rel has slashes. */
	for (seg = rel; *seg != '\0'; seg++)
		if (*seg == '/')
			depth++;
	while (*p != '\0') {
		seg = p;
		while (*p != '\0' && *p != '/')
			p++;
		len = (size_t)(p - seg);
		if (*p == '/')
			p++;
		if (len == 0 || (len == 1 && seg[0] == '.'))
			continue;
		if (len == 2 && seg[0] == '.' && seg[1] == '.') {
			/* Even a path that comes back in has looked at the
			 * directory above ours. */
			if (--depth < 0)
				return 0;
		} else {
			depth++;
		}
	}
	return 1;
}

struct restore_tar_ctx {
	const struct restore_tar_opts *o;
	struct restore_tar_stats *st;
	struct archive *r, *w;
	int dirfd;
	int64_t last_ms;
	char **links;   /* symlinks extracted, for the final check */
	EVP_MD_CTX *md; /* the listing's file hashes */
	size_t cur;     /* listing index of the file being hashed */
	int hashing;    /* its data goes into md */
	uint64_t pos;   /* bytes of it hashed, holes included */
	size_t nlinks, caplinks;
	char rel[RESTORE_TAR_MAX_NAME + 2];
	char hl[RESTORE_TAR_MAX_NAME + 2];
	char *err;
	size_t errlen;
};

static const char *restore_tar_aerr(struct archive *a)
{
	const char *s = a ? archive_error_string(a) : NULL;

	return s ? s : "archive error";
}

static int restore_tar_refuse(struct restore_tar_ctx *c, const char *name,
                              const char *why)
{
	snprintf(c->err, c->errlen, "%s: refusing archive entry \"%s\": %s",
	         c->o->component, name ? name : "", why);
	return LS_EPROTO;
}

/* 0 if no existing parent of rel is a symlink (or anything but a
 * directory): nothing is written through a link, whatever it points to. */
static int restore_tar_parents(struct restore_tar_ctx *c, const char *rel)
{
	char buf[RESTORE_TAR_MAX_NAME + 2];
	struct stat st;
	char *p;

	ls_strlcpy(buf, rel, sizeof(buf));
	for (p = strchr(buf, '/'); p != NULL; p = strchr(p + 1, '/')) {
		*p = '\0';
		if (fstatat(c->dirfd, buf, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				return 0; /* libarchive makes the rest */
			return -errno;
		}
		if (!S_ISDIR(st.st_mode))
			return LS_EPROTO;
		*p = '/';
	}
	return 0;
}

/* Checks one entry and rewrites its names to the clean relative ones.
 * Returns 0, 1 to skip it, or a negative error (err set). */
static int restore_tar_check(struct restore_tar_ctx *c, struct archive_entry *e)
{
	const char *name = archive_entry_pathname(e), *why = NULL;
	const char *hl = archive_entry_hardlink(e), *sl;
	mode_t type = archive_entry_filetype(e);
	struct stat st;
	int rv;

	rv = restore_tar_name(name, c->rel, sizeof(c->rel), &why);
	if (rv < 0)
		return restore_tar_refuse(c, name, why);
	if (rv == 1) {
		if (hl == NULL && type == AE_IFDIR)
			return 1; /* dir itself: its mode and owner stay */
		return restore_tar_refuse(c, name, "not a directory");
	}
	if (restore_tar_excluded(c->o->comp, c->rel)) {
		c->st->skipped++;
		return 1;
	}
	if (hl != NULL) {
		rv = restore_tar_name(hl, c->hl, sizeof(c->hl), &why);
		if (rv != 0)
			return restore_tar_refuse(
			    c, name,
			    rv == 1 ? "hard link to the top directory"
			            : "hard link target outside");
		if (restore_tar_excluded(c->o->comp, c->hl))
			return restore_tar_refuse(
			    c, name, "hard link to an excluded path");
		if (restore_tar_parents(c, c->hl) != 0)
			return restore_tar_refuse(
			    c, name, "hard link target under a symlink");
		/* A second name for a symlink would resolve from another
		 * directory: it could escape. */
		if (fstatat(c->dirfd, c->hl, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    !S_ISREG(st.st_mode))
			return restore_tar_refuse(
			    c, name, "hard link to a symlink or directory");
		archive_entry_copy_hardlink(e, c->hl);
	} else if (type == AE_IFLNK) {
		sl = archive_entry_symlink(e);
		if (!restore_tar_link_inside(c->rel, sl))
			return restore_tar_refuse(c, name,
			                          "symlink target outside");
	} else if (type != AE_IFREG && type != AE_IFDIR) {
		return restore_tar_refuse(
		    c, name, "device, fifo or socket entries are not restored");
	}
	if ((rv = restore_tar_parents(c, c->rel)) != 0)
		return restore_tar_refuse(
		    c, name,
		    rv == LS_EPROTO ? "a parent is a symlink or a file"
		                    : ls_strerror(rv));
	archive_entry_copy_pathname(e, c->rel);
	/* Owner from the directory, after extraction; never the archive's. */
	archive_entry_set_uid(e, c->o->uid);
	archive_entry_set_gid(e, c->o->gid);
	if (type == AE_IFLNK &&
	    ls_names_push(&c->links, &c->nlinks, &c->caplinks, c->rel) < 0) {
		snprintf(c->err, c->errlen, "%s: out of memory",
		         c->o->component);
		return LS_ENOMEM;
	}
	return 0;
}

static void restore_tar_report(struct restore_tar_ctx *c, int force)
{
	int64_t now;

	if (c->o->progress == NULL)
		return;
	now = ls_mono_ms();
	if (!force && now - c->last_ms < RESTORE_TAR_PROGRESS_MS)
		return;
	c->last_ms = now;
	c->o->progress(c->o->arg, c->o->component, c->st->bytes, c->st->entries,
	               0);
}

static int restore_tar_fail(struct restore_tar_ctx *c, struct archive *a,
                            const char *what, const char *name)
{
	snprintf(c->err, c->errlen, "%s: %s \"%s\": %s", c->o->component, what,
	         name, restore_tar_aerr(a));
	return LS_EIO;
}

/*
 * The listing's hash of a block at off: what archive_read_data, which the
 * verification reads with, gives. It fills holes of a sparse entry with
 * zeros and fails on a warning or a block out of order: then the listing
 * is marked bad, so that the verification reads the archive and fails
 * the same way.
 */
static void restore_tar_hash(struct restore_tar_ctx *c, int r, const void *buf,
                             size_t len, la_int64_t off)
{
	static const char zeros[4096];
	uint64_t gap;
	size_t z;
	int ok = 1;

	if (!c->hashing)
		return;
	if ((r != ARCHIVE_OK && r != ARCHIVE_EOF) || off < 0 ||
	    (uint64_t)off < c->pos)
		ok = 0;
	/* At the end too: a trailing hole is read as zeros. */
	for (gap = ok ? (uint64_t)off - c->pos : 0; gap > 0; gap -= z) {
		z = gap < sizeof(zeros) ? (size_t)gap : sizeof(zeros);
		ok &= EVP_DigestUpdate(c->md, zeros, z) == 1;
	}
	if (ok && len > 0)
		ok = EVP_DigestUpdate(c->md, buf, len) == 1;
	if (!ok) {
		c->o->listing->bad = 1;
		c->hashing = 0;
		return;
	}
	c->pos = (uint64_t)off + len;
}

static int restore_tar_data(struct restore_tar_ctx *c, const char *name)
{
	const void *buf;
	size_t len;
	la_int64_t off;
	int r;

	for (;;) {
		r = archive_read_data_block(c->r, &buf, &len, &off);
		if (r == ARCHIVE_EOF) {
			restore_tar_hash(c, r, buf, 0, off);
			return 0;
		}
		if (r < ARCHIVE_WARN)
			return restore_tar_fail(c, c->r, "reading", name);
		restore_tar_hash(c, r, buf, len, off);
		if (archive_write_data_block(c->w, buf, len, off) <
		    ARCHIVE_WARN)
			return restore_tar_fail(c, c->w, "writing", name);
		c->st->bytes += len;
		restore_tar_report(c, 0);
	}
}

/*
 * The entry into the listing, as restore_files_verify's archive side would
 * have it (rv_archive_entry there): a hard link is its target's content
 * as listed, a file's data is hashed as it is extracted. Whatever that
 * side would refuse marks the listing bad instead.
 */
static void restore_tar_list(struct restore_tar_ctx *c, struct archive_entry *e)
{
	struct rfl_list *l = c->o->listing;
	mode_t type = archive_entry_filetype(e);
	const char *why, *sl;
	char vrel[LS_PATH_MAX];
	const struct rfl_ent *t;
	struct rfl_ent *x;
	uint8_t sha[32];
	uint64_t size;

	c->hashing = 0;
	if (l == NULL || l->bad)
		return;
	/* The verification's name buffer is a little shorter. */
	if (restore_tar_name(archive_entry_pathname(e), vrel, sizeof(vrel),
	                     &why) != 0) {
		l->bad = 1;
	} else if (archive_entry_hardlink(e) != NULL) {
		if ((t = rfl_find_file(l, c->hl)) == NULL) {
			l->bad = 1;
			return;
		}
		size = t->size;
		memcpy(sha, t->sha, 32);
		if ((x = rfl_list_add(l, c->rel, 'f', NULL)) == NULL) {
			l->bad = 1;
			return;
		}
		x->size = size;
		memcpy(x->sha, sha, 32);
	} else if (type == AE_IFDIR) {
		l->bad |= rfl_list_add(l, c->rel, 'd', NULL) == NULL;
	} else if (type == AE_IFLNK) {
		sl = archive_entry_symlink(e);
		l->bad |= rfl_list_add(l, c->rel, 'l', sl ? sl : "") == NULL;
	} else if (type != AE_IFREG || c->md == NULL ||
	           rfl_list_add(l, c->rel, 'f', NULL) == NULL ||
	           EVP_DigestInit_ex(c->md, EVP_sha256(), NULL) != 1) {
		l->bad = 1;
	} else {
		c->cur = l->n - 1;
		c->pos = 0;
		c->hashing = 1;
	}
}

/* The end of a file's data: its hash into the listing. */
static void restore_tar_list_done(struct restore_tar_ctx *c)
{
	struct rfl_ent *x;
	unsigned int mdlen = 0;

	if (!c->hashing)
		return;
	c->hashing = 0;
	x = &c->o->listing->e[c->cur];
	x->size = c->pos;
	if (EVP_DigestFinal_ex(c->md, x->sha, &mdlen) != 1 || mdlen != 32)
		c->o->listing->bad = 1;
}

/* One entry: checked, written, given the directory's owner. */
static int restore_tar_entry(struct restore_tar_ctx *c, struct archive_entry *e)
{
	char name[256];
	int rv, r;

	/* For messages: the name as stored, cut short. */
	ls_strlcpy(name,
	           archive_entry_pathname(e) ? archive_entry_pathname(e) : "",
	           sizeof(name));
	if ((rv = restore_tar_check(c, e)) != 0)
		return rv < 0 ? rv : 0;
	restore_tar_list(c, e);
	r = archive_write_header(c->w, e);
	if (r < ARCHIVE_WARN)
		return restore_tar_fail(c, c->w, "extracting", name);
	if (archive_entry_size(e) > 0 && (rv = restore_tar_data(c, name)) < 0)
		return rv;
	restore_tar_list_done(c);
	if (archive_write_finish_entry(c->w) < ARCHIVE_WARN)
		return restore_tar_fail(c, c->w, "finishing", name);
	if (fchownat(c->dirfd, c->rel, c->o->uid, c->o->gid,
	             AT_SYMLINK_NOFOLLOW) < 0 &&
	    !(errno == EPERM && geteuid() != 0)) {
		rv = -errno;
		snprintf(c->err, c->errlen, "%s: chown of \"%s\": %s",
		         c->o->component, name, ls_strerror(rv));
		return rv;
	}
	c->st->entries++;
	restore_tar_report(c, 0);
	return 0;
}

/*
 * Symlinks checked one by one can still escape together (a/up -> .., then
 * b -> a/up/..): resolve each from the directory with RESOLVE_BENEATH,
 * which fails with EXDEV for any path leaving it. A dangling or looping
 * link is not an escape. Kernels before 5.6 lack openat2: the lexical
 * check is all there is.
 */
static int restore_tar_links(struct restore_tar_ctx *c)
{
	struct open_how how;
	size_t i;
	long fd;

	for (i = 0; i < c->nlinks; i++) {
		memset(&how, 0, sizeof(how));
		how.flags = O_PATH | O_CLOEXEC;
		how.resolve = RESOLVE_BENEATH;
		fd = syscall(SYS_openat2, c->dirfd, c->links[i], &how,
		             sizeof(how));
		if (fd >= 0) {
			close((int)fd);
			continue;
		}
		if (errno == ENOSYS)
			return 0;
		if (errno == EXDEV)
			return restore_tar_refuse(c, c->links[i],
			                          "symlink resolves outside");
	}
	return 0;
}

static int restore_tar_open(struct restore_tar_ctx *c, const char *path)
{
	int flags = ARCHIVE_EXTRACT_SECURE_NODOTDOT |
	            ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS |
	            ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_UNLINK |
	            ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME;

	if ((c->r = archive_read_new()) == NULL ||
	    (c->w = archive_write_disk_new()) == NULL) {
		snprintf(c->err, c->errlen, "%s: out of memory",
		         c->o->component);
		return LS_ENOMEM;
	}
	/* What Lockstep and GitLab write: tar, gzip, zstd or plain. */
	archive_read_support_filter_gzip(c->r);
	archive_read_support_filter_zstd(c->r);
	archive_read_support_format_tar(c->r);
	if (archive_write_disk_set_options(c->w, flags) != ARCHIVE_OK)
		return restore_tar_fail(c, c->w, "setting up", path);
	if (archive_read_open_filename(c->r, path, 65536) != ARCHIVE_OK)
		return restore_tar_fail(c, c->r, "opening", path);
	return 0;
}

int restore_tar_extract(const char *archive_path, int dirfd,
                        const struct restore_tar_opts *o,
                        struct restore_tar_stats *st, char *err, size_t errlen)
{
	struct restore_tar_ctx c;
	struct archive_entry *e;
	int cwd = -1, rv = 0, r;
	uint64_t n = 0;
	size_t i;

	memset(&c, 0, sizeof(c));
	memset(st, 0, sizeof(*st));
	c.o = o;
	c.st = st;
	c.dirfd = dirfd;
	c.err = err;
	c.errlen = errlen;
	if (errlen > 0)
		err[0] = '\0';
	/* Before archive_write_disk_new too: it reads the umask by
	 * setting it. */
	if (unshare(CLONE_FS) < 0 ||
	    (cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    fchdir(dirfd) < 0) {
		rv = -errno;
		snprintf(err, errlen, "%s: entering the directory: %s",
		         o->component, ls_strerror(rv));
		goto out;
	}
	if ((rv = restore_tar_open(&c, archive_path)) < 0)
		goto out;
	/* Without a hash context the listing cannot be made: not an error,
	 * the verification then reads the archive. */
	if (o->listing != NULL && (c.md = EVP_MD_CTX_new()) == NULL)
		o->listing->bad = 1;
	for (;;) {
		r = archive_read_next_header(c.r, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			rv = restore_tar_fail(&c, c.r, "reading", archive_path);
			goto out;
		}
		if (++n > RESTORE_TAR_MAX_ENTRIES) {
			rv = LS_ETOOBIG;
			snprintf(err, errlen, "%s: %s: more than %u entries",
			         o->component, archive_path,
			         RESTORE_TAR_MAX_ENTRIES);
			goto out;
		}
		if ((rv = restore_tar_entry(&c, e)) < 0)
			goto out;
	}
	/* Directory modes and times are applied here, deepest first. */
	if (archive_write_close(c.w) != ARCHIVE_OK) {
		rv = restore_tar_fail(&c, c.w, "finishing", archive_path);
		goto out;
	}
	if ((rv = restore_tar_links(&c)) < 0)
		goto out;
	restore_tar_report(&c, 1);
out:
	if (c.w != NULL)
		archive_write_free(c.w);
	if (c.r != NULL)
		archive_read_free(c.r);
	EVP_MD_CTX_free(c.md);
	for (i = 0; i < c.nlinks; i++)
		free(c.links[i]);
	free(c.links);
	if (cwd >= 0) {
		if (fchdir(cwd) < 0)
			log_warnx("%s: cannot return to the working directory",
			          o->component);
		close(cwd);
	}
	return rv;
}
