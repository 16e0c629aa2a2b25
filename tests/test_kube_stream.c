/* kube_stream (a kubectl exec whose stdout is handed over line by line)
 * with /bin/sh standing in for kubectl, and the df -Pk parser used before
 * a KubeRestore copies its tar into the toolbox pod (kube_cmd.c). */
#include <string.h>

#include "kube_cmd.h"
#include "ls_error.h"
#include "ls_util.h"
#include "testutil.h"

#define MAXL 16

struct got {
	char *lines[MAXL];
	size_t n;
	int ticks;
	int stop_after; /* > 0: fail on that line */
};

static int on_line(void *arg, const char *line)
{
	struct got *g = arg;

	if (line == NULL) {
		g->ticks++;
		return 0;
	}
	if (g->n < MAXL)
		g->lines[g->n++] = strdup(line);
	if (g->stop_after > 0 && g->n == (size_t)g->stop_after)
		return LS_EINTEGRITY;
	return 0;
}

static void got_free(struct got *g)
{
	size_t i;

	for (i = 0; i < g->n; i++)
		free(g->lines[i]);
	memset(g, 0, sizeof(*g));
}

static void sh(struct kube_cmd *c, const char *script)
{
	memset(c, 0, sizeof(*c));
	c->what = "sh";
	c->argv[0] = "/bin/sh";
	c->argv[1] = "-c";
	c->argv[2] = script;
	c->argv[3] = NULL;
	c->n = 3;
}

static void test_lines(struct agent_config *cfg)
{
	struct kube_cmd c;
	struct ls_exec_result res;
	struct got g = {0};
	char err[256] = "", script[4200], longline[KUBE_LINE_MAX + 1];

	/* CRLF, a control character, an empty line, a line over the cap and
	 * a last line without its newline. */
	memset(longline, 'x', KUBE_LINE_MAX);
	longline[KUBE_LINE_MAX] = '\0';
	ls_fmt(script, sizeof(script),
	       "printf 'one\\r\\ntw\\033o\\n\\n%syz\\nlast'; echo oops >&2",
	       longline);
	sh(&c, script);
	CHECK_EQ_INT(
	    kube_stream(cfg, &c, 10000, on_line, &g, &res, err, sizeof(err)),
	    0);
	CHECK_EQ_INT(g.n, 5);
	if (g.n == 5) {
		CHECK_STR(g.lines[0], "one");
		CHECK_STR(g.lines[1], "tw o");
		CHECK_STR(g.lines[2], "");
		CHECK_STR(g.lines[3], longline);
		CHECK_STR(g.lines[4], "last");
	}
	CHECK_STR(res.err, "oops\n");
	ls_exec_result_free(&res);
	got_free(&g);
}

static void test_exit_and_ticks(struct agent_config *cfg)
{
	struct kube_cmd c;
	struct ls_exec_result res;
	struct got g = {0};
	char err[256] = "";

	/* Quiet for over a second: the caller is called with NULL. */
	sh(&c, "echo start; sleep 1.3; echo failed >&2; exit 3");
	CHECK_EQ_INT(
	    kube_stream(cfg, &c, 10000, on_line, &g, &res, err, sizeof(err)),
	    LS_ECHILD);
	CHECK_STR(err, "sh: exit 3");
	CHECK_EQ_INT(g.n, 1);
	CHECK(g.ticks >= 1);
	CHECK_STR(res.err, "failed\n");
	ls_exec_result_free(&res);
	got_free(&g);
}

static void test_deadline_and_stop(struct agent_config *cfg)
{
	struct kube_cmd c;
	struct ls_exec_result res;
	struct got g = {0};
	char err[256] = "";
	int64_t t0 = ls_mono_ms();

	sh(&c, "echo a; exec sleep 30");
	CHECK_EQ_INT(
	    kube_stream(cfg, &c, 400, on_line, &g, &res, err, sizeof(err)),
	    LS_ETIMEDOUT);
	CHECK(ls_mono_ms() - t0 < 5000);
	CHECK_CONTAINS(err, "sh: did not finish within");
	CHECK_EQ_INT(g.n, 1);
	ls_exec_result_free(&res);
	got_free(&g);

	/* The caller's error stops the command and comes back. */
	g.stop_after = 2;
	t0 = ls_mono_ms();
	sh(&c, "echo a; echo b; echo c; exec sleep 30");
	CHECK_EQ_INT(
	    kube_stream(cfg, &c, 20000, on_line, &g, &res, err, sizeof(err)),
	    LS_EINTEGRITY);
	CHECK(ls_mono_ms() - t0 < 5000);
	CHECK_EQ_INT(g.n, 2);
	ls_exec_result_free(&res);
	got_free(&g);
}

static int df(const char *s, uint64_t *b)
{
	return kube_df_avail(s, strlen(s), b);
}

static void test_df(void)
{
	static const char ok[] =
	    "Filesystem     1024-blocks     Used Available Capacity Mounted "
	    "on\n"
	    "overlay          104857600 10485800  94371800      11% /\n";
	uint64_t b = 0;

	CHECK_EQ_INT(df(ok, &b), 0);
	CHECK_EQ_INT(b, 94371800ULL * 1024);
	/* No trailing newline is fine too. */
	CHECK_EQ_INT(kube_df_avail(ok, strlen(ok) - 1, &b), 0);
	CHECK_EQ_INT(b, 94371800ULL * 1024);
	CHECK_EQ_INT(df("Filesystem 1024-blocks Used Available Capacity "
	                "Mounted on\nx 1 1 99999999999999999999 1% /\n",
	                &b),
	             LS_EPROTO);
	/* Fits 64 bits in KiB, not in bytes (found by fuzz_kube_df). */
	CHECK_EQ_INT(df("Filesystem 1024-blocks Used Available Capacity "
	                "Mounted on\nx 1 1 9999999999999999999 1% /\n",
	                &b),
	             LS_EPROTO);
	CHECK_EQ_INT(df("", &b), LS_EPROTO);
	CHECK_EQ_INT(df("Filesystem\n", &b), LS_EPROTO);
	CHECK_EQ_INT(df("Files\n", &b), LS_EPROTO);
	CHECK_EQ_INT(df("df: /x: No such file or directory\n", &b), LS_EPROTO);
	CHECK_EQ_INT(df("Filesystem 1024-blocks Used Available\n"
	                "overlay 10 5 -3\n",
	                &b),
	             LS_EPROTO);
	CHECK_EQ_INT(df("Filesystem 1024-blocks Used Available\n"
	                "overlay 10 5\n",
	                &b),
	             LS_EPROTO);
	CHECK_EQ_INT(df("Filesystem 1024-blocks Used Available\n"
	                "overlay 10 5 12x\n",
	                &b),
	             LS_EPROTO);
}

int main(void)
{
	struct agent_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.kubernetes.call_timeout = 10000;
	test_lines(&cfg);
	test_exit_and_ticks(&cfg);
	test_deadline_and_stop(&cfg);
	test_df();
	return tu_done();
}
