/* Scratch directories: a live owner's is kept, a dead owner's is swept. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ls_error.h"
#include "ls_scratch.h"
#include "ls_util.h"
#include "testutil.h"

static int exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* Entries of dir starting with prefix, hidden ones included. */
static int count_prefixed(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(d);
	return n;
}

static void write_file(const char *path, const char *text)
{
	CHECK_EQ_INT(ls_write_atomic(path, text, strlen(text), 0600), 0);
}

/* A child opens a scratch directory, fills it and is killed (SIGKILL):
 * the directory stays behind with its lock no longer held. */
static void killed_owner(const char *base, char *left, size_t len)
{
	int fds[2], status;
	pid_t pid;
	ssize_t n;

	CHECK_EQ_INT(pipe(fds), 0);
	pid = fork();
	if (pid == 0) {
		struct ls_scratch s;
		char err[256], f[LS_PATH_MAX];

		close(fds[0]);
		if (ls_scratch_open(&s, base, "restore", NULL, err,
		                    sizeof(err)) < 0)
			_exit(1);
		if (ls_fmt(f, sizeof(f), "%s/big.tar", s.path) < 0)
			_exit(1);
		if (ls_write_atomic(f, "x", 1, 0600) < 0)
			_exit(1);
		if (write(fds[1], s.path, strlen(s.path) + 1) < 0)
			_exit(1);
		pause();
		_exit(0);
	}
	close(fds[1]);
	memset(left, 0, len);
	n = read(fds[0], left, len - 1);
	CHECK(n > 0);
	close(fds[0]);
	kill(pid, SIGKILL);
	CHECK_EQ_INT(waitpid(pid, &status, 0), pid);
	CHECK(WIFSIGNALED(status));
}

static void test_sweep(const char *base)
{
	struct ls_scratch live, next;
	char err[256], dead[LS_PATH_MAX], legacy[LS_PATH_MAX];
	char other[LS_PATH_MAX], f[LS_PATH_MAX];
	int swept = -1;

	/* A live owner's directory, in this process. */
	CHECK_EQ_INT(
	    ls_scratch_open(&live, base, "restore", &swept, err, sizeof(err)),
	    0);
	CHECK_EQ_INT(swept, 0);
	CHECK(exists(live.path));
	CHECK_CONTAINS(live.path, "/restore.");

	killed_owner(base, dead, sizeof(dead));
	CHECK(exists(dead));

	/* From before directories had locks: nobody can hold it. */
	CHECK_EQ_INT(ls_fmt(legacy, sizeof(legacy), "%s/restore.legacy", base),
	             0);
	CHECK_EQ_INT(mkdir(legacy, 0700), 0);
	CHECK_EQ_INT(ls_fmt(f, sizeof(f), "%s/file", legacy), 0);
	write_file(f, "old");
	/* Another prefix, and a plain file: not ours to touch. */
	CHECK_EQ_INT(ls_fmt(other, sizeof(other), "%s/restored.keep", base), 0);
	CHECK_EQ_INT(mkdir(other, 0700), 0);
	CHECK_EQ_INT(ls_fmt(f, sizeof(f), "%s/restore.notadir", base), 0);
	write_file(f, "keep");

	CHECK_EQ_INT(
	    ls_scratch_open(&next, base, "restore", &swept, err, sizeof(err)),
	    0);
	CHECK_EQ_INT(swept, 2);
	CHECK(!exists(dead));
	CHECK(!exists(legacy));
	CHECK(exists(live.path));
	CHECK(exists(other));
	CHECK(exists(f));
	CHECK(exists(next.path));
	CHECK(strcmp(next.path, live.path) != 0);
	/* Nothing hidden left from the creation. */
	CHECK_EQ_INT(count_prefixed(base, ".restore"), 0);

	CHECK_EQ_INT(ls_scratch_close(&next), 0);
	CHECK(!exists(next.path) && next.path[0] == '\0');
	CHECK_EQ_INT(ls_scratch_close(&next), 0);
	{
		char path[LS_PATH_MAX];

		ls_strlcpy(path, live.path, sizeof(path));
		CHECK_EQ_INT(ls_scratch_close(&live), 0);
		CHECK(!exists(path));
	}
}

static void test_errors(const char *base)
{
	struct ls_scratch s;
	char err[256] = "", file[LS_PATH_MAX];

	CHECK_EQ_INT(ls_scratch_open(&s, base, "../x", NULL, err, sizeof(err)),
	             LS_EINVAL);
	CHECK_EQ_INT(ls_scratch_open(&s, base, "", NULL, err, sizeof(err)),
	             LS_EINVAL);
	CHECK_EQ_INT(s.path[0], '\0');
	/* A base that is a file: named in the error, nothing created. */
	CHECK_EQ_INT(ls_fmt(file, sizeof(file), "%s/plain", base), 0);
	write_file(file, "f");
	CHECK(ls_scratch_open(&s, file, "restore", NULL, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, file);
	CHECK_EQ_INT(s.path[0], '\0');
	CHECK_EQ_INT(ls_scratch_close(&s), 0);
}

int main(void)
{
	char dir[] = "/tmp/ls-test-scratch-XXXXXX";
	char base[LS_PATH_MAX];

	CHECK(mkdtemp(dir) != NULL);
	snprintf(base, sizeof(base), "%s/staging", dir);
	test_sweep(base);
	test_errors(dir);
	ls_rmtree(dir);
	return tu_done();
}
