/* Atomic artifact files with SHA-256, and streaming child processes. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ls_afile.h"
#include "ls_error.h"
#include "ls_exec.h"
#include "ls_util.h"
#include "testutil.h"

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void test_afile(const char *dir)
{
	struct ls_afile *f = NULL;
	char path[512], sub[512];
	uint8_t sha[32], sha2[32];
	uint64_t size = 0, size2 = 0;
	struct stat st;

	snprintf(path, sizeof(path), "%s/a/b/artifact.bin", dir);
	snprintf(sub, sizeof(sub), "%s/a/b", dir);
	CHECK_EQ_INT(ls_afile_open(&f, path, 0600), 0);
	CHECK_EQ_INT(ls_afile_write(f, "hello ", 6), 0);
	CHECK_EQ_INT(ls_afile_write(f, "world", 5), 0);
	/* Not visible under its name before commit. */
	CHECK(stat(path, &st) < 0);
	CHECK_EQ_INT(ls_afile_commit(f, &size, sha), 0);
	CHECK_EQ_INT(size, 11);
	CHECK_EQ_INT(stat(path, &st), 0);
	CHECK_EQ_INT(st.st_mode & 0777, 0600);
	CHECK_EQ_INT(ls_sha256_file(path, &size2, sha2), 0);
	CHECK_EQ_INT(size2, 11);
	CHECK(memcmp(sha, sha2, 32) == 0);
	/* sha256("hello world") */
	{
		char hex[65];
		ls_hex(hex, sha, 32);
		CHECK_STR(hex, "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee"
			       "9088f7ace2efcde9");
	}
	/* An aborted artifact leaves nothing behind. */
	snprintf(path, sizeof(path), "%s/a/b/other.bin", dir);
	CHECK_EQ_INT(ls_afile_open(&f, path, 0600), 0);
	CHECK_EQ_INT(ls_afile_write(f, "x", 1), 0);
	ls_afile_abort(f);
	CHECK_EQ_INT(count_entries(sub), 1);
}

static void test_spawn(const char *dir)
{
	const char *echo[] = {"/bin/echo", "streamed", NULL};
	const char *ls[] = {"/bin/ls", "/nonexistent-ls-test", NULL};
	const char *sleep_argv[] = {"/bin/sleep", "30", NULL};
	struct ls_exec_opts o;
	struct ls_exec_result res;
	struct ls_proc p;
	struct ls_afile *f = NULL;
	char buf[64], path[512];
	uint64_t size = 0;
	ssize_t n;

	memset(&o, 0, sizeof(o));
	o.argv = echo;
	CHECK_EQ_INT(ls_exec_spawn(&o, 0, -1, &p), 0);
	n = read(p.out_fd, buf, sizeof(buf) - 1);
	CHECK_EQ_INT(n, 9);
	CHECK_EQ_INT(ls_exec_wait(&p, 5000, 1024, &res), 0);
	CHECK_EQ_INT(res.exited, 1);
	CHECK_EQ_INT(res.status, 0);
	ls_exec_result_free(&res);

	/* stdout straight into an artifact. */
	snprintf(path, sizeof(path), "%s/echo.out", dir);
	CHECK_EQ_INT(ls_afile_open(&f, path, 0600), 0);
	CHECK_EQ_INT(ls_exec_spawn(&o, 0, ls_afile_fd(f), &p), 0);
	CHECK_EQ_INT(ls_exec_wait(&p, 5000, 1024, &res), 0);
	ls_exec_result_free(&res);
	CHECK_EQ_INT(ls_afile_absorb(f), 0);
	CHECK_EQ_INT(ls_afile_commit(f, &size, NULL), 0);
	CHECK_EQ_INT(size, 9);

	/* stderr is captured, capped. */
	o.argv = ls;
	CHECK_EQ_INT(ls_exec_spawn(&o, 0, -1, &p), 0);
	CHECK_EQ_INT(ls_exec_wait(&p, 5000, 10, &res), 0);
	CHECK_EQ_INT(res.exited, 1);
	CHECK(res.status != 0);
	CHECK_EQ_INT(res.err_len, 10);
	ls_exec_result_free(&res);

	/* A deadline kills it. */
	o.argv = sleep_argv;
	CHECK_EQ_INT(ls_exec_spawn(&o, 1, -1, &p), 0);
	CHECK_EQ_INT(ls_exec_wait(&p, 200, 1024, &res), LS_ETIMEDOUT);
	CHECK_EQ_INT(res.timed_out, 1);
	ls_exec_result_free(&res);
	CHECK_EQ_INT(ls_exec_spawn(&o, 1, -1, &p), 0);
	ls_exec_kill(&p);
	CHECK_EQ_INT(p.pid, -1);
	/* Not started: a relative path. */
	echo[0] = "echo";
	o.argv = echo;
	CHECK_EQ_INT(ls_exec_spawn(&o, 0, -1, &p), LS_EINVAL);
}

int main(void)
{
	char dir[] = "/tmp/ls-test-afile-XXXXXX";

	CHECK(mkdtemp(dir) != NULL);
	test_afile(dir);
	test_spawn(dir);
	ls_rmtree(dir);
	return tu_done();
}
