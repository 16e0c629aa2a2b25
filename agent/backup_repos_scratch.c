/*
 * The scratch bare repository of one repository's copy (see
 * backup_repos_one.c): git's documented repository format written directly
 * (no `git init`), HEAD as at the cut, a packed-refs of the cut's ref lines
 * and objects/info/alternates borrowing the real repository's objects.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup_repos.h"
#include "ls_error.h"
#include "ls_util.h"

/* A config, HEAD or alternates file of the scratch repository. */
#define SCRATCH_TEXT_MAX (LS_PATH_MAX + BACKUP_REPOS_LINE_MAX + 256)

struct scratch {
	const char *repo; /* the real repository */
	const char *tmp;  /* the scratch repository */
	const char *fmt;  /* object format */
	int *fatal;       /* the failure is ours, not the repository's */
	char *why;
	size_t whylen;
};

/* Writes dir/name anew: unlinked first, so that a hard link of the real
 * repository's can never be written through. */
static int put_file(struct scratch *o, const char *name, const char *text)
{
	char path[LS_PATH_MAX];
	size_t len = strlen(text), off = 0;
	ssize_t w;
	int fd = -1, rv;

	if ((rv = ls_fmt(path, sizeof(path), "%s/%s", o->tmp, name)) < 0)
		goto out;
	if (unlink(path) < 0 && errno != ENOENT) {
		rv = -errno;
		goto out;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	          0600);
	if (fd < 0) {
		rv = -errno;
		goto out;
	}
	while (off < len) {
		if ((w = write(fd, text + off, len - off)) < 0) {
			if (errno == EINTR)
				continue;
			rv = -errno;
			goto out;
		}
		off += (size_t)w;
	}
	rv = 0;
out:
	if (fd >= 0 && close(fd) < 0 && rv == 0)
		rv = -errno;
	if (rv < 0) {
		*o->fatal = 1; /* the scratch space is ours */
		(void)ls_fmt(o->why, o->whylen, "%s: %s", path,
		             ls_strerror(rv));
	}
	return rv;
}

/*
 * The snapshot as a bare repository: git's repository format (version 1
 * only for the extensions it needs), HEAD as at the cut, the real objects
 * borrowed.
 */
static int scratch_make(struct scratch *o, const struct backup_repos_snap *s)
{
	char objs[LS_PATH_MAX], dir[LS_PATH_MAX], *real = NULL, *text = NULL;
	int rv, ext = strcmp(s->fmt, "sha1") != 0 || s->reftable;

	if (!s->reftable &&
	    ((rv = ls_fmt(dir, sizeof(dir), "%s/refs", o->tmp)) < 0 ||
	     (rv = ls_mkdirs(dir, 0700)) < 0)) {
		*o->fatal = 1;
		(void)ls_fmt(o->why, o->whylen, "%s: %s", dir, ls_strerror(rv));
		goto out;
	}
	if ((rv = ls_fmt(objs, sizeof(objs), "%s/objects", o->repo)) < 0)
		goto out;
	if ((real = realpath(objs, NULL)) == NULL) {
		rv = LS_ECHILD;
		(void)ls_fmt(o->why, o->whylen, "%s: %s", objs,
		             strerror(errno));
		goto out;
	}
	if ((text = malloc(SCRATCH_TEXT_MAX)) == NULL) {
		rv = LS_ENOMEM;
		*o->fatal = 1;
		goto out;
	}
	if ((rv = ls_fmt(dir, sizeof(dir), "%s/objects/info", o->tmp)) < 0 ||
	    (rv = ls_mkdirs(dir, 0700)) < 0) {
		*o->fatal = 1;
		(void)ls_fmt(o->why, o->whylen, "%s: %s", dir, ls_strerror(rv));
		goto out;
	}
	(void)ls_fmt(text, SCRATCH_TEXT_MAX, "%s\n", real);
	if ((rv = put_file(o, "objects/info/alternates", text)) < 0)
		goto out;
	(void)ls_fmt(text, SCRATCH_TEXT_MAX,
	             "[core]\n\trepositoryformatversion = %d\n"
	             "\tbare = true\n%s%s%s%s%s",
	             ext, ext ? "[extensions]\n" : "",
	             strcmp(s->fmt, "sha1") != 0 ? "\tobjectformat = " : "",
	             strcmp(s->fmt, "sha1") != 0 ? s->fmt : "",
	             strcmp(s->fmt, "sha1") != 0 ? "\n" : "",
	             s->reftable ? "\trefstorage = reftable\n" : "");
	if ((rv = put_file(o, "config", text)) < 0)
		goto out;
	/* reftable keeps HEAD in its tables; the HEAD file is a placeholder. */
	if (s->head[0] != '\0')
		(void)ls_fmt(text, SCRATCH_TEXT_MAX, "ref: %s\n", s->head);
	else if (s->headoid[0] != '\0')
		(void)ls_fmt(text, SCRATCH_TEXT_MAX, "%s\n", s->headoid);
	else
		(void)ls_fmt(text, SCRATCH_TEXT_MAX,
		             "ref: refs/heads/.invalid\n");
	rv = put_file(o, "HEAD", text);
out:
	free(real);
	free(text);
	return rv;
}

/* Where the cut's ref lines go: the scratch repository's packed-refs
 * (unsorted: git sorts it when reading), symbolic refs as loose files. */
struct scratch_packed {
	struct scratch *o;
	FILE *f;
	size_t oidlen;
	int bad_oid;
};

static int on_ref(void *arg, const char *oid, const char *name,
                  const char *target)
{
	struct scratch_packed *p = arg;
	char path[LS_PATH_MAX + BACKUP_REPOS_LINE_MAX], *slash;
	int rv;

	if (oid != NULL && strlen(oid) != p->oidlen) {
		p->bad_oid = 1;
		return LS_EPROTO;
	}
	if (oid != NULL) {
		if (fprintf(p->f, "%s %s\n", oid, name) < 0) {
			rv = errno ? -errno : LS_EIO;
			*p->o->fatal = 1;
			(void)ls_fmt(p->o->why, p->o->whylen,
			             "writing %s/packed-refs: %s", p->o->tmp,
			             ls_strerror(rv));
			return rv;
		}
		return 0;
	}
	if ((rv = ls_fmt(path, sizeof(path), "%s/%s", p->o->tmp, name)) < 0)
		return rv;
	if ((slash = strrchr(path, '/')) != NULL)
		*slash = '\0';
	if ((rv = ls_mkdirs(path, 0700)) < 0) {
		*p->o->fatal = 1;
		(void)ls_fmt(p->o->why, p->o->whylen, "%s: %s", path,
		             ls_strerror(rv));
		return rv;
	}
	(void)ls_fmt(path, sizeof(path), "ref: %s\n", target);
	return put_file(p->o, name, path);
}

/* The scratch repository's refs from the cut file's block. */
static int scratch_packed(struct scratch *o, FILE *cut, char *line,
                          struct backup_repos_block *b)
{
	struct scratch_packed p = {o, NULL, 0, 0};
	char path[LS_PATH_MAX];
	uint64_t n = 0;
	int rv;

	p.oidlen = strcmp(o->fmt, "sha256") == 0 ? 64 : 40;
	if (b->s.headoid[0] != '\0' && strlen(b->s.headoid) != p.oidlen) {
		(void)ls_fmt(o->why, o->whylen, "recorded ids are not %s ids",
		             o->fmt);
		return LS_ECHILD;
	}
	if ((rv = ls_fmt(path, sizeof(path), "%s/packed-refs", o->tmp)) < 0)
		return rv;
	if ((p.f = fopen(path, "wxe")) == NULL) {
		rv = -errno;
		*o->fatal = 1;
		(void)ls_fmt(o->why, o->whylen, "%s: %s", path,
		             strerror(errno));
		return rv;
	}
	rv = backup_repos_block_refs(cut, line, b, on_ref, &p, &n);
	if (fclose(p.f) != 0 && rv == 0) {
		rv = -errno;
		*o->fatal = 1;
	}
	if (rv < 0 && p.bad_oid) {
		(void)ls_fmt(o->why, o->whylen, "recorded ids are not %s ids",
		             o->fmt);
		rv = LS_ECHILD;
	} else if (rv < 0 && !o->why[0]) {
		*o->fatal = 1;
		(void)ls_fmt(o->why, o->whylen, "reading the cut: %s",
		             ls_strerror(rv));
	}
	return rv;
}

int backup_repos_scratch(const char *repo, const char *tmp, FILE *cut,
                         char *line, struct backup_repos_block *b, int *fatal,
                         char *why, size_t whylen)
{
	struct scratch o = {repo, tmp, b->s.fmt, fatal, why, whylen};
	int rv;

	if ((rv = scratch_make(&o, &b->s)) < 0 ||
	    (!b->s.reftable && (rv = scratch_packed(&o, cut, line, b)) < 0))
		return rv;
	return 0;
}
