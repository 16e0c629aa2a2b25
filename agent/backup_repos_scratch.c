/*
 * A reftable repository's snapshot made a bare repository of its own, for
 * the copy's git to read its refs from (see backup_repos_one.c): git's
 * documented repository format written directly (no `git init`, one process
 * fewer), a placeholder HEAD (reftable keeps HEAD in its tables) and
 * objects/info/alternates borrowing the real repository's objects. A files
 * backend repository needs none of this: its refs come from the cut and
 * pack-objects runs in the real repository.
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

/* A config, HEAD or alternates file of the snapshot. */
#define SCRATCH_TEXT_MAX (LS_PATH_MAX + BACKUP_REPOS_LINE_MAX + 256)

struct scratch {
	const char *repo; /* the real repository */
	const char *tmp;  /* the snapshot */
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

int backup_repos_scratch(const char *repo, const char *snapdir,
                         const struct backup_repos_snap *s, int *fatal,
                         char *why, size_t whylen)
{
	struct scratch o = {repo, snapdir, fatal, why, whylen};
	char objs[LS_PATH_MAX], dir[LS_PATH_MAX], *real = NULL, *text = NULL;
	int rv;

	if ((rv = ls_fmt(objs, sizeof(objs), "%s/objects", o.repo)) < 0)
		goto out;
	if ((real = realpath(objs, NULL)) == NULL) {
		rv = LS_ECHILD;
		(void)ls_fmt(o.why, o.whylen, "%s: %s", objs, strerror(errno));
		goto out;
	}
	if ((text = malloc(SCRATCH_TEXT_MAX)) == NULL) {
		rv = LS_ENOMEM;
		*o.fatal = 1;
		goto out;
	}
	if ((rv = ls_fmt(dir, sizeof(dir), "%s/objects/info", o.tmp)) < 0 ||
	    (rv = ls_mkdirs(dir, 0700)) < 0) {
		*o.fatal = 1;
		(void)ls_fmt(o.why, o.whylen, "%s: %s", dir, ls_strerror(rv));
		goto out;
	}
	(void)ls_fmt(text, SCRATCH_TEXT_MAX, "%s\n", real);
	if ((rv = put_file(&o, "objects/info/alternates", text)) < 0)
		goto out;
	/* Version 1: the extensions reftable and another hash need. */
	(void)ls_fmt(text, SCRATCH_TEXT_MAX,
	             "[core]\n\trepositoryformatversion = 1\n"
	             "\tbare = true\n[extensions]\n%s%s%s"
	             "\trefstorage = reftable\n",
	             strcmp(s->fmt, "sha1") != 0 ? "\tobjectformat = " : "",
	             strcmp(s->fmt, "sha1") != 0 ? s->fmt : "",
	             strcmp(s->fmt, "sha1") != 0 ? "\n" : "");
	if ((rv = put_file(&o, "config", text)) < 0)
		goto out;
	rv = put_file(&o, "HEAD", "ref: refs/heads/.invalid\n");
out:
	free(real);
	free(text);
	return rv;
}
