/*
 * The proof of a file component's restore (issue 4, point 4): the tree
 * under the directory equals the archive, path by path. Both sides become
 * a sorted list of (path, type, size, SHA-256 or link target) and are
 * merged; neither is trusted to be small, so counts and names are capped.
 */
#include "restore_files.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup_files.h"
#include "ls_error.h"
#include "ls_log.h"
#include "ls_util.h"
#include "restore_files_listing.h"
#include "restore_tar.h"

/* The listing holds what the archive side would: the same caps. */
_Static_assert(RFL_MAX_ENTRIES == RESTORE_TAR_MAX_ENTRIES &&
                   RFL_MAX_PATH == RESTORE_TAR_MAX_NAME,
               "a listing's caps are the archive's");

#define RESTORE_VERIFY_MAX_DEPTH 256
#define RESTORE_VERIFY_BUF 65536

struct rv_ctx {
	const char *component;
	const struct backup_component *comp;
	EVP_MD_CTX *md;
	char *buf;
	char rel[LS_PATH_MAX];
	char *err;
	size_t errlen;
};

static int rv_oom(struct rv_ctx *c)
{
	snprintf(c->err, c->errlen,
	         "%s: out of memory or more than %u "
	         "entries",
	         c->component, RESTORE_TAR_MAX_ENTRIES);
	return LS_ENOMEM;
}

static int rv_archive_data(struct rv_ctx *c, struct archive *a,
                           struct rfl_ent *x)
{
	unsigned int mdlen = 0;
	la_ssize_t n;

	if (EVP_DigestInit_ex(c->md, EVP_sha256(), NULL) != 1)
		return LS_ECRYPTO;
	while ((n = archive_read_data(a, c->buf, RESTORE_VERIFY_BUF)) > 0) {
		EVP_DigestUpdate(c->md, c->buf, (size_t)n);
		x->size += (uint64_t)n;
	}
	if (n < 0)
		return LS_EIO;
	if (EVP_DigestFinal_ex(c->md, x->sha, &mdlen) != 1 || mdlen != 32)
		return LS_ECRYPTO;
	return 0;
}

static int rv_archive_entry(struct rv_ctx *c, struct archive *a,
                            struct archive_entry *e, struct rfl_list *l)
{
	const char *name = archive_entry_pathname(e), *why = NULL;
	const char *hl = archive_entry_hardlink(e);
	mode_t type = archive_entry_filetype(e);
	char hrel[RESTORE_TAR_MAX_NAME + 2];
	const struct rfl_ent *t;
	struct rfl_ent *x;
	int rv;

	rv = restore_tar_name(name, c->rel, sizeof(c->rel), &why);
	if (rv < 0) {
		snprintf(c->err, c->errlen, "%s: archive entry \"%s\": %s",
		         c->component, name ? name : "", why);
		return rv;
	}
	if (rv == 1 || restore_tar_excluded(c->comp, c->rel))
		return 0;
	if (hl != NULL) {
		if (restore_tar_name(hl, hrel, sizeof(hrel), &why) != 0 ||
		    (t = rfl_find_file(l, hrel)) == NULL) {
			snprintf(c->err, c->errlen,
			         "%s: archive entry \"%s\": hard link to "
			         "\"%s\", not an earlier file",
			         c->component, name, hl);
			return LS_EPROTO;
		}
		/* An archive hard link is its target's content. */
		if ((x = rfl_list_add(l, c->rel, 'f', NULL)) == NULL)
			return rv_oom(c);
		/* t may have moved with the list. */
		t = rfl_find_file(l, hrel);
		x->size = t->size;
		memcpy(x->sha, t->sha, 32);
		return 0;
	}
	if (type == AE_IFDIR)
		return rfl_list_add(l, c->rel, 'd', NULL) ? 0 : rv_oom(c);
	if (type == AE_IFLNK)
		return rfl_list_add(l, c->rel, 'l',
		                    archive_entry_symlink(e)
		                        ? archive_entry_symlink(e)
		                        : "")
		           ? 0
		           : rv_oom(c);
	if (type != AE_IFREG)
		return rfl_list_add(l, c->rel, '?', NULL) ? 0 : rv_oom(c);
	if ((x = rfl_list_add(l, c->rel, 'f', NULL)) == NULL)
		return rv_oom(c);
	if ((rv = rv_archive_data(c, a, x)) < 0)
		snprintf(c->err, c->errlen, "%s: reading \"%s\": %s",
		         c->component, name,
		         archive_error_string(a) ? archive_error_string(a)
		                                 : ls_strerror(rv));
	return rv;
}

static int rv_archive(struct rv_ctx *c, const char *path, struct rfl_list *l)
{
	struct archive *a;
	struct archive_entry *e;
	int r, rv = 0;

	if ((a = archive_read_new()) == NULL)
		return rv_oom(c);
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_filename(a, path, 65536) != ARCHIVE_OK) {
		rv = LS_EIO;
		snprintf(c->err, c->errlen, "%s: opening %s: %s", c->component,
		         path,
		         archive_error_string(a) ? archive_error_string(a)
		                                 : "archive error");
		goto out;
	}
	for (;;) {
		r = archive_read_next_header(a, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			rv = LS_EIO;
			snprintf(c->err, c->errlen, "%s: reading %s: %s",
			         c->component, path,
			         archive_error_string(a)
			             ? archive_error_string(a)
			             : "archive error");
			goto out;
		}
		if ((rv = rv_archive_entry(c, a, e, l)) < 0)
			goto out;
	}
out:
	archive_read_free(a);
	return rv;
}

static int rv_file(struct rv_ctx *c, int dir, const char *name,
                   struct rfl_ent *x)
{
	unsigned int mdlen = 0;
	ssize_t n;
	int fd, rv = 0;

	/* O_NONBLOCK: never hang on a fifo swapped in. */
	fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (EVP_DigestInit_ex(c->md, EVP_sha256(), NULL) != 1) {
		rv = LS_ECRYPTO;
		goto out;
	}
	while ((n = read(fd, c->buf, RESTORE_VERIFY_BUF)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rv = -errno;
			goto out;
		}
		EVP_DigestUpdate(c->md, c->buf, (size_t)n);
		x->size += (uint64_t)n;
	}
	if (EVP_DigestFinal_ex(c->md, x->sha, &mdlen) != 1 || mdlen != 32)
		rv = LS_ECRYPTO;
out:
	close(fd);
	return rv;
}

/* The tree under dir, c->rel being dir's path relative to the top. */
static int rv_tree(struct rv_ctx *c, int dir, int depth, struct rfl_list *l)
{
	char target[LS_PATH_MAX];
	size_t plen = strlen(c->rel);
	struct rfl_ent *x;
	struct dirent *de;
	struct stat st;
	DIR *d = NULL;
	ssize_t n;
	int fd, sub, rv = 0;

	if (depth >= RESTORE_VERIFY_MAX_DEPTH) {
		rv = LS_ETOOBIG;
		goto out;
	}
	if ((fd = dup(dir)) < 0 || (d = fdopendir(fd)) == NULL) {
		rv = -errno;
		if (fd >= 0)
			close(fd);
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		c->rel[plen] = '\0';
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (ls_fmt(c->rel + plen, sizeof(c->rel) - plen, "%s%s",
		           plen ? "/" : "", de->d_name) < 0) {
			rv = LS_ETOOBIG;
			goto out;
		}
		if (restore_tar_excluded(c->comp, c->rel))
			continue;
		if (fstatat(dir, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rv = -errno;
			goto out;
		}
		if (S_ISLNK(st.st_mode)) {
			n = readlinkat(dir, de->d_name, target, sizeof(target));
			if (n < 0 || (size_t)n >= sizeof(target)) {
				rv = n < 0 ? -errno : LS_ETOOBIG;
				goto out;
			}
			target[n] = '\0';
			if (rfl_list_add(l, c->rel, 'l', target) == NULL) {
				rv = rv_oom(c);
				goto out;
			}
		} else if (S_ISREG(st.st_mode)) {
			if ((x = rfl_list_add(l, c->rel, 'f', NULL)) == NULL) {
				rv = rv_oom(c);
				goto out;
			}
			if ((rv = rv_file(c, dir, de->d_name, x)) < 0)
				goto out;
		} else if (S_ISDIR(st.st_mode)) {
			if (rfl_list_add(l, c->rel, 'd', NULL) == NULL) {
				rv = rv_oom(c);
				goto out;
			}
			sub = openat(dir, de->d_name,
			             O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			                 O_CLOEXEC);
			if (sub < 0) {
				rv = -errno;
				goto out;
			}
			rv = rv_tree(c, sub, depth + 1, l);
			close(sub);
			if (rv < 0)
				goto out;
		} else if (rfl_list_add(l, c->rel, '?', NULL) == NULL) {
			rv = rv_oom(c);
			goto out;
		}
		c->rel[plen] = '\0';
	}
out:
	if (d != NULL)
		closedir(d);
	/* The first failure, deepest, says where. */
	if (rv < 0 && c->errlen > 0 && c->err[0] == '\0')
		snprintf(c->err, c->errlen, "%s: reading %s: %s", c->component,
		         c->rel[0] ? c->rel : ".", ls_strerror(rv));
	c->rel[plen] = '\0';
	return rv;
}

static int rv_same(const struct rfl_ent *a, const struct rfl_ent *b)
{
	if (a->type != b->type)
		return 0;
	if (a->type == 'f')
		return a->size == b->size && memcmp(a->sha, b->sha, 32) == 0;
	if (a->type == 'l')
		return strcmp(a->link, b->link) == 0;
	return a->type == 'd';
}

static int rv_merge(const struct rfl_list *want, const struct rfl_list *have,
                    restore_mismatch_fn cb, void *arg)
{
	size_t i = 0, j = 0;
	int n = 0, c;

	while (i < want->n || j < have->n) {
		if (i == want->n)
			c = 1;
		else if (j == have->n)
			c = -1;
		else
			c = strcmp(want->e[i].path, have->e[j].path);
		if (c < 0) {
			if (cb)
				cb(arg, RESTORE_MISSING, want->e[i].path);
			i++;
		} else if (c > 0) {
			if (cb)
				cb(arg, RESTORE_EXTRA, have->e[j].path);
			j++;
		} else {
			if (!rv_same(&want->e[i], &have->e[j]) && cb)
				cb(arg, RESTORE_DIFFERENT, want->e[i].path);
			if (!rv_same(&want->e[i], &have->e[j]))
				n++;
			i++;
			j++;
			continue;
		}
		n++;
	}
	return n;
}

/*
 * The archive side from restore_files' listing: 0 if it was there, bound
 * to this archive file as it is now, and sound. Anything else is only a
 * reason to read the archive.
 */
static int rv_listing(const char *component, const char *archive_path,
                      const char *dir, const char *listing_dir,
                      struct rfl_list *want)
{
	struct rfl_bind b = {component, dir, archive_path, 0, 0, 0, 0, 0, 0, 0};
	struct stat st;
	int rv;

	if (stat(archive_path, &st) < 0)
		return -errno;
	rfl_bind_stat(&b, &st);
	rv = rfl_load(listing_dir, &b, want);
	if (rv == 0)
		log_debug("%s: the archive's side from the listing in %s",
		          component, listing_dir);
	else if (rv != LS_ENOENT)
		log_debug("%s: listing in %s not used (%s): reading %s",
		          component, listing_dir,
		          rv == LS_ESTATE ? "for another archive or directory"
		                          : ls_strerror(rv),
		          archive_path);
	return rv;
}

int restore_files_verify(const char *component, const char *archive_path,
                         const char *dir, const char *listing_dir,
                         restore_mismatch_fn mismatch_cb, void *arg,
                         int *from_listing, char *err, size_t errlen)
{
	struct rfl_list want = {0}, have = {0};
	struct rv_ctx c;
	int dirfd = -1, rv = 0, listed = 0;

	memset(&c, 0, sizeof(c));
	c.component = component;
	c.comp = backup_component_find(component);
	c.err = err;
	c.errlen = errlen;
	if (errlen > 0)
		err[0] = '\0';
	if (c.comp == NULL) {
		rv = LS_EINVAL;
		snprintf(err, errlen, "unknown file component \"%s\"",
		         component ? component : "");
		goto out;
	}
	if ((c.md = EVP_MD_CTX_new()) == NULL ||
	    (c.buf = malloc(RESTORE_VERIFY_BUF)) == NULL) {
		rv = rv_oom(&c);
		goto out;
	}
	if (listing_dir != NULL &&
	    rv_listing(component, archive_path, dir, listing_dir, &want) == 0)
		listed = 1;
	else if ((rv = rv_archive(&c, archive_path, &want)) < 0)
		goto out;
	if ((dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rv = -errno;
		snprintf(err, errlen, "%s: opening %s: %s", component, dir,
		         ls_strerror(rv));
		goto out;
	}
	c.rel[0] = '\0';
	if ((rv = rv_tree(&c, dirfd, 0, &have)) < 0)
		goto out;
	/* A listing is sorted already. */
	if (!listed)
		rfl_list_sort(&want);
	rfl_list_sort(&have);
	rv = rv_merge(&want, &have, mismatch_cb, arg);
out:
	if (from_listing != NULL)
		*from_listing = listed;
	rfl_list_free(&want);
	rfl_list_free(&have);
	EVP_MD_CTX_free(c.md);
	free(c.buf);
	if (dirfd >= 0)
		close(dirfd);
	return rv;
}
