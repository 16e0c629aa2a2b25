/* ls_exec: capture, stdin, caps, deadlines and process-group cleanup. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ls_error.h"
#include "ls_exec.h"
#include "ls_util.h"
#include "testutil.h"

#define MIB (1024 * 1024)

static int run(const char *const *argv, struct ls_exec_result *res)
{
	struct ls_exec_opts o = {.argv = argv,
	                         .max_stdout = MIB,
	                         .max_stderr = 4096,
	                         .timeout_ms = 10000};

	return ls_exec_run(&o, res);
}

/* Neither a zombie nor any other child of ours is left behind. */
static void check_no_children(void)
{
	int st;

	CHECK_EQ_INT(waitpid(-1, &st, WNOHANG), -1);
	CHECK_EQ_INT(errno, ECHILD);
}

static void test_echo(void)
{
	const char *argv[] = {"/bin/echo", "hello", "world", NULL};
	struct ls_exec_result res;

	CHECK_EQ_INT(run(argv, &res), 0);
	CHECK_EQ_INT(res.exited, 1);
	CHECK_EQ_INT(res.status, 0);
	CHECK_EQ_INT(res.timed_out, 0);
	CHECK_STR((char *)res.out, "hello world\n");
	CHECK_EQ_INT(res.out_len, 12);
	CHECK_STR(res.err, "");
	ls_exec_result_free(&res);
	check_no_children();
}

static void test_exit_status_and_stderr(void)
{
	const char *f[] = {"/bin/false", NULL};
	const char *sh[] = {"/bin/sh", "-c", "echo oops >&2; exit 3", NULL};
	const char *sig[] = {"/bin/sh", "-c", "kill -9 $$", NULL};
	struct ls_exec_result res;

	CHECK_EQ_INT(run(f, &res), 0);
	CHECK_EQ_INT(res.exited, 1);
	CHECK_EQ_INT(res.status, 1);
	ls_exec_result_free(&res);

	CHECK_EQ_INT(run(sh, &res), 0);
	CHECK_EQ_INT(res.status, 3);
	CHECK_STR(res.err, "oops\n");
	CHECK_EQ_INT(res.out_len, 0);
	ls_exec_result_free(&res);

	CHECK_EQ_INT(run(sig, &res), 0);
	CHECK_EQ_INT(res.exited, 0);
	CHECK_EQ_INT(res.status, SIGKILL);
	ls_exec_result_free(&res);
	check_no_children();
}

static void test_stdin_roundtrip(void)
{
	const char *argv[] = {"/bin/cat", NULL};
	struct ls_exec_opts o = {.argv = argv,
	                         .max_stdout = 2 * MIB,
	                         .max_stderr = 4096,
	                         .timeout_ms = 10000};
	struct ls_exec_result res;
	uint8_t *data = malloc(MIB);
	size_t i;

	for (i = 0; i < MIB; i++)
		data[i] = (uint8_t)(i * 7 + i / 4096);
	o.stdin_data = data;
	o.stdin_len = MIB;
	CHECK_EQ_INT(ls_exec_run(&o, &res), 0);
	CHECK_EQ_INT(res.status, 0);
	CHECK_EQ_INT(res.out_len, MIB);
	CHECK(res.out_len == MIB && memcmp(res.out, data, MIB) == 0);
	ls_exec_result_free(&res);

	/* An empty stdin buffer is an immediate EOF. */
	o.stdin_len = 0;
	CHECK_EQ_INT(ls_exec_run(&o, &res), 0);
	CHECK_EQ_INT(res.out_len, 0);
	ls_exec_result_free(&res);
	free(data);
}

static void test_stdin_epipe(void)
{
	const char *argv[] = {"/bin/true", NULL};
	struct ls_exec_opts o = {.argv = argv,
	                         .max_stdout = 1024,
	                         .max_stderr = 1024,
	                         .timeout_ms = 10000};
	struct ls_exec_result res;
	uint8_t *data = calloc(1, 4 * MIB);

	/* The child exits without reading: the EPIPE must not kill us. */
	o.stdin_data = data;
	o.stdin_len = 4 * MIB;
	CHECK_EQ_INT(ls_exec_run(&o, &res), 0);
	CHECK_EQ_INT(res.exited, 1);
	CHECK_EQ_INT(res.status, 0);
	ls_exec_result_free(&res);
	free(data);
	check_no_children();
}

static void test_default_stdin_is_devnull(void)
{
	const char *argv[] = {"/bin/cat", NULL};
	struct ls_exec_result res;

	CHECK_EQ_INT(run(argv, &res), 0);
	CHECK_EQ_INT(res.status, 0);
	CHECK_EQ_INT(res.out_len, 0);
	ls_exec_result_free(&res);
}

static void test_stdout_cap(void)
{
	const char *argv[] = {"/bin/cat", NULL};
	struct ls_exec_opts o = {.argv = argv,
	                         .max_stdout = 1000,
	                         .max_stderr = 4096,
	                         .timeout_ms = 10000};
	struct ls_exec_result res;
	uint8_t *data = malloc(MIB);

	memset(data, 'x', MIB);
	o.stdin_data = data;
	o.stdin_len = MIB;
	CHECK_EQ_INT(ls_exec_run(&o, &res), LS_ETOOBIG);
	CHECK_EQ_INT(res.out_len, 1000);
	CHECK_EQ_INT(res.out[1000], '\0');
	CHECK_EQ_INT(res.timed_out, 0);
	ls_exec_result_free(&res);
	free(data);
	check_no_children();
}

static void test_stderr_cap(void)
{
	const char *argv[] = {"/bin/sh", "-c", "echo 0123456789 >&2; echo fine",
	                      NULL};
	struct ls_exec_opts o = {.argv = argv,
	                         .max_stdout = 100,
	                         .max_stderr = 4,
	                         .timeout_ms = 10000};
	struct ls_exec_result res;

	CHECK_EQ_INT(ls_exec_run(&o, &res), 0);
	CHECK_STR(res.err, "0123");
	CHECK_STR((char *)res.out, "fine\n");
	ls_exec_result_free(&res);
}

static void test_timeout(void)
{
	const char *argv[] = {"/bin/sleep", "30", NULL};
	struct ls_exec_opts o = {.argv = argv,
	                         .max_stdout = 100,
	                         .max_stderr = 100,
	                         .timeout_ms = 200};
	struct ls_exec_result res;
	int64_t t0 = ls_mono_ms();

	CHECK_EQ_INT(ls_exec_run(&o, &res), LS_ETIMEDOUT);
	CHECK_EQ_INT(res.timed_out, 1);
	CHECK_EQ_INT(res.exited, 0);
	CHECK_EQ_INT(res.status, SIGTERM);
	CHECK(ls_mono_ms() - t0 < 5000);
	ls_exec_result_free(&res);
	check_no_children();
}

/* The child closes its output and lingers: the deadline still holds. */
static void test_timeout_after_close(void)
{
	const char *argv[] = {"/bin/sh", "-c", "exec >&- 2>&-; sleep 30", NULL};
	struct ls_exec_opts o = {.argv = argv,
	                         .max_stdout = 100,
	                         .max_stderr = 100,
	                         .timeout_ms = 300};
	struct ls_exec_result res;
	int64_t t0 = ls_mono_ms();

	CHECK_EQ_INT(ls_exec_run(&o, &res), LS_ETIMEDOUT);
	CHECK(ls_mono_ms() - t0 < 5000);
	ls_exec_result_free(&res);
	check_no_children();
}

/* A grandchild in the background is killed with the group. */
static void test_group_killed(void)
{
	const char *argv[] = {"/bin/sh", "-c",
	                      "echo $$; sleep 30 & sleep 30; wait", NULL};
	struct ls_exec_opts o = {.argv = argv,
	                         .max_stdout = 100,
	                         .max_stderr = 100,
	                         .timeout_ms = 300};
	struct ls_exec_result res;
	long long pgid = 0;
	char *nl;
	int st, reaped = 0;

	/* Orphans come to us, so their end can be observed and reaped. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	CHECK_EQ_INT(ls_exec_run(&o, &res), LS_ETIMEDOUT);
	nl = strchr((char *)res.out, '\n');
	if (nl)
		*nl = '\0';
	CHECK_EQ_INT(ls_parse_int((char *)res.out, 2, 1 << 30, &pgid), 0);
	alarm(10);
	while (waitpid(-1, &st, 0) > 0) {
		CHECK(WIFSIGNALED(st));
		reaped++;
	}
	alarm(0);
	/* The shell may reap its sleeps itself before it dies. */
	CHECK(reaped <= 2);
	CHECK(pgid > 1 && kill(-(pid_t)pgid, 0) < 0 && errno == ESRCH);
	prctl(PR_SET_CHILD_SUBREAPER, 0);
	ls_exec_result_free(&res);
}

/* A daemon that keeps the pipes open does not hold us after the child
 * itself exited. */
static void test_lingering_grandchild(void)
{
	const char *argv[] = {"/bin/sh", "-c", "sleep 5 & echo done", NULL};
	struct ls_exec_result res;
	int64_t t0 = ls_mono_ms();
	int st;

	prctl(PR_SET_CHILD_SUBREAPER, 1);
	CHECK_EQ_INT(run(argv, &res), 0);
	CHECK_STR((char *)res.out, "done\n");
	CHECK_EQ_INT(res.status, 0);
	CHECK(ls_mono_ms() - t0 < 3000);
	alarm(10);
	while (waitpid(-1, &st, 0) > 0)
		;
	alarm(0);
	prctl(PR_SET_CHILD_SUBREAPER, 0);
	ls_exec_result_free(&res);
}

static void test_env_cwd_fds(void)
{
	const char *env[] = {"/usr/bin/env", NULL};
	const char *pwd[] = {"/bin/pwd", NULL};
	const char *ls[] = {"/bin/ls", "/proc/self/fd", NULL};
	const char *own_env[] = {"A=1", NULL};
	struct ls_exec_opts o = {.argv = env,
	                         .max_stdout = 4096,
	                         .max_stderr = 4096,
	                         .timeout_ms = 10000};
	struct ls_exec_result res;
	int leak = dup2(STDERR_FILENO, 57);

	CHECK_EQ_INT(ls_exec_run(&o, &res), 0);
	CHECK_STR((char *)res.out,
	          "PATH=/usr/sbin:/usr/bin:/sbin:/bin\nLANG=C\nLC_ALL=C\n");
	ls_exec_result_free(&res);
	o.envp = own_env;
	CHECK_EQ_INT(ls_exec_run(&o, &res), 0);
	CHECK_STR((char *)res.out, "A=1\n");
	ls_exec_result_free(&res);

	o.envp = NULL;
	o.argv = pwd;
	o.cwd = "/proc";
	CHECK_EQ_INT(ls_exec_run(&o, &res), 0);
	CHECK_STR((char *)res.out, "/proc\n");
	ls_exec_result_free(&res);

	/* fd 57 is inheritable here but must not reach the child. */
	CHECK_EQ_INT(leak, 57);
	o.argv = ls;
	o.cwd = NULL;
	CHECK_EQ_INT(ls_exec_run(&o, &res), 0);
	CHECK_STR((char *)res.out, "0\n1\n2\n3\n");
	ls_exec_result_free(&res);
	close(leak);
}

static void test_cannot_start(void)
{
	const char *missing[] = {"/nonexistent/prog", NULL};
	const char *relative[] = {"echo", "x", NULL};
	const char *pwd[] = {"/bin/pwd", NULL};
	struct ls_exec_opts o = {.argv = missing,
	                         .max_stdout = 100,
	                         .max_stderr = 100,
	                         .timeout_ms = 1000};
	struct ls_exec_result res;

	CHECK_EQ_INT(ls_exec_run(&o, &res), -ENOENT);
	ls_exec_result_free(&res);
	o.argv = relative;
	CHECK_EQ_INT(ls_exec_run(&o, &res), LS_EINVAL);
	CHECK_EQ_INT(res.exited, 0);
	ls_exec_result_free(&res);
	o.argv = pwd;
	o.cwd = "/nonexistent-dir";
	CHECK_EQ_INT(ls_exec_run(&o, &res), -ENOENT);
	ls_exec_result_free(&res);
	check_no_children();
}

/* A child reads its stdin from our file at the offset we left it at. */
static void test_spawn_from_file(void)
{
	const char *cat[] = {"/bin/cat", NULL};
	struct ls_exec_opts o = {.argv = cat};
	struct ls_exec_result res;
	struct ls_proc p;
	char tmpl[] = "/tmp/ls-exec-from.XXXXXX", got[32];
	int in, out[2];
	ssize_t n;

	CHECK((in = mkstemp(tmpl)) >= 0);
	CHECK(unlink(tmpl) == 0);
	CHECK(write(in, "headerPAYLOAD", 13) == 13);
	CHECK(lseek(in, 6, SEEK_SET) == 6);
	CHECK(pipe(out) == 0);
	CHECK_EQ_INT(ls_exec_spawn_from(&o, in, out[1], &p), 0);
	CHECK_EQ_INT(p.in_fd, -1);
	close(out[1]);
	n = read(out[0], got, sizeof(got) - 1);
	CHECK_EQ_INT(n, 7);
	got[n > 0 ? n : 0] = '\0';
	CHECK_STR(got, "PAYLOAD");
	CHECK_EQ_INT(ls_exec_wait(&p, 10000, 4096, &res), 0);
	CHECK_EQ_INT(res.exited, 1);
	CHECK_EQ_INT(res.status, 0);
	ls_exec_result_free(&res);
	CHECK_EQ_INT(ls_exec_spawn_from(&o, -1, -1, &p), LS_EINVAL);
	close(out[0]);
	close(in);
	check_no_children();
}

int main(void)
{
	test_echo();
	test_exit_status_and_stderr();
	test_stdin_roundtrip();
	test_stdin_epipe();
	test_default_stdin_is_devnull();
	test_stdout_cap();
	test_stderr_cap();
	test_timeout();
	test_timeout_after_close();
	test_group_killed();
	test_lingering_grandchild();
	test_env_cwd_fds();
	test_cannot_start();
	test_spawn_from_file();
	return tu_done();
}
