/* Scratch directories swept when their owner died (see ls_scratch.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ls_error.h"
#include "ls_log.h"
#include "ls_scratch.h"

#define LOCK_NAME ".lock"
#define PREFIX_MAX 64

/* Nobody holds dir's lock: its owner is gone (or predates locks). */
static int is_stale(const char *dir)
{
	char lock[LS_PATH_MAX];
	int fd, stale;

	if (ls_fmt(lock, sizeof(lock), "%s/" LOCK_NAME, dir) < 0)
		return 0;
	fd = open(lock, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT;
	stale = flock(fd, LOCK_EX | LOCK_NB) == 0;
	close(fd);
	return stale;
}

static int sweep(const char *base, const char *prefix)
{
	char dir[LS_PATH_MAX];
	size_t plen = strlen(prefix);
	struct dirent *de;
	struct stat st;
	DIR *d;
	int n = 0, rv;

	if ((d = opendir(base)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, prefix, plen) != 0 ||
		    de->d_name[plen] != '.' ||
		    ls_fmt(dir, sizeof(dir), "%s/%s", base, de->d_name) < 0 ||
		    lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode) ||
		    !is_stale(dir))
			continue;
		if ((rv = ls_rmtree(dir)) < 0) {
			log_warnx(
			    "removing %s, left by a process that died: %s", dir,
			    ls_strerror(rv));
			continue;
		}
		log_info("removed %s, left by a process that died", dir);
		n++;
	}
	closedir(d);
	return n;
}

int ls_scratch_open(struct ls_scratch *s, const char *base, const char *prefix,
                    int *swept, char *err, size_t errlen)
{
	char hidden[LS_PATH_MAX], lock[LS_PATH_MAX];
	const char *suffix;
	int rv, n;

	s->path[0] = '\0';
	s->lockfd = -1;
	if (prefix[0] == '\0' || prefix[0] == '.' || strchr(prefix, '/') ||
	    strlen(prefix) > PREFIX_MAX) {
		ls_fmt(err, errlen, "invalid scratch prefix");
		return LS_EINVAL;
	}
	if ((rv = ls_mkdirs(base, 0700)) < 0) {
		ls_fmt(err, errlen, "%s: %s", base, ls_strerror(rv));
		return rv;
	}
	n = sweep(base, prefix);
	if (swept != NULL)
		*swept = n;
	/* Created hidden, where no sweep looks, and renamed once locked. */
	if ((rv = ls_fmt(hidden, sizeof(hidden), "%s/.%s.XXXXXX", base,
	                 prefix)) < 0) {
		ls_fmt(err, errlen, "%s: %s", base, ls_strerror(rv));
		return rv;
	}
	if (mkdtemp(hidden) == NULL) {
		rv = -errno;
		ls_fmt(err, errlen, "creating a directory in %s: %s", base,
		       ls_strerror(rv));
		return rv;
	}
	suffix = strrchr(hidden, '.') + 1;
	if ((rv = ls_fmt(lock, sizeof(lock), "%s/" LOCK_NAME, hidden)) < 0 ||
	    (rv = ls_fmt(s->path, sizeof(s->path), "%s/%s.%s", base, prefix,
	                 suffix)) < 0)
		goto fail;
	s->lockfd = open(lock, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (s->lockfd < 0 || flock(s->lockfd, LOCK_EX) < 0 ||
	    rename(hidden, s->path) < 0) {
		rv = -errno;
		goto fail;
	}
	return 0;
fail:
	ls_fmt(err, errlen, "%s: %s", hidden, ls_strerror(rv));
	if (s->lockfd >= 0)
		close(s->lockfd);
	s->lockfd = -1;
	(void)ls_rmtree(hidden);
	s->path[0] = '\0';
	return rv;
}

int ls_scratch_close(struct ls_scratch *s)
{
	int rv = 0;

	if (s->path[0] != '\0' && (rv = ls_rmtree(s->path)) < 0)
		log_warnx("cannot remove %s: %s", s->path, ls_strerror(rv));
	if (s->lockfd >= 0)
		close(s->lockfd);
	s->lockfd = -1;
	s->path[0] = '\0';
	return rv;
}
