/* gitlab-ctl status parser: real runit lines, odd variants and garbage. */
#include <string.h>

#include "check_gitlabctl_parse.h"
#include "ls_error.h"
#include "testutil.h"

#define MAXS 16

static size_t parse(const char *text, struct gitlabctl_service *s)
{
	size_t n = 99;
	int rv = gitlabctl_parse(text, strlen(text), s, MAXS, &n);

	CHECK_EQ_INT(rv, 0);
	return n;
}

static void test_real_lines(void)
{
	struct gitlabctl_service s[MAXS];
	const char *text =
	    "run: alertmanager: (pid 1001) 350709s; run: log: (pid 999) "
	    "350709s\n"
	    "run: nginx: (pid 972) 7s; run: log: (pid 971) 7s\n"
	    "down: sidekiq: 251000s, normally up; run: log: (pid 14999) "
	    "350709s\n"
	    "run: gitlab-workhorse: (pid 1234) 5s; run: log: (pid 1233) 5s\n";
	size_t n = parse(text, s);

	CHECK_EQ_INT(n, 4);
	CHECK_STR(s[0].name, "alertmanager");
	CHECK_EQ_INT(s[0].state, GITLABCTL_RUN);
	CHECK_EQ_INT(s[0].pid, 1001);
	CHECK_EQ_INT(s[0].seconds, 350709);
	CHECK_EQ_INT(s[0].has_log, 1);
	CHECK_EQ_INT(s[0].log_state, GITLABCTL_RUN);
	CHECK_STR(s[1].name, "nginx");
	CHECK_EQ_INT(s[1].pid, 972);
	CHECK_EQ_INT(s[1].seconds, 7);
	CHECK_STR(s[2].name, "sidekiq");
	CHECK_EQ_INT(s[2].state, GITLABCTL_DOWN);
	CHECK_EQ_INT(s[2].seconds, 251000);
	CHECK_EQ_INT(s[2].pid, -1);
	CHECK_EQ_INT(s[2].flags, GITLABCTL_NORMALLY_UP);
	CHECK_EQ_INT(s[2].has_log, 1);
	CHECK_STR(s[3].name, "gitlab-workhorse");
}

static void test_variants(void)
{
	struct gitlabctl_service s[MAXS];
	const char *text = "down: x: 3s, normally up, want up\r\n"
	                   "run: y: (pid 5) 10s, normally down\n"
	                   "\n"
	                   "   \n"
	                   "fail: z: runsv not running\n"
	                   "finish: w: (pid 77) 1s\n"
	                   "run: v: (pid 8) 2s, want down, got TERM\n"
	                   "down: u: 0s\n";
	size_t n = parse(text, s);

	CHECK_EQ_INT(n, 6);
	CHECK_STR(s[0].name, "x");
	CHECK_EQ_INT(s[0].state, GITLABCTL_DOWN);
	CHECK_EQ_INT(s[0].seconds, 3);
	CHECK_EQ_INT(s[0].flags, GITLABCTL_NORMALLY_UP | GITLABCTL_WANT_UP);
	CHECK_EQ_INT(s[0].has_log, 0);
	CHECK_STR(s[1].name, "y");
	CHECK_EQ_INT(s[1].state, GITLABCTL_RUN);
	CHECK_EQ_INT(s[1].pid, 5);
	CHECK_EQ_INT(s[1].flags, GITLABCTL_NORMALLY_DOWN);
	CHECK_STR(s[2].name, "z");
	CHECK_EQ_INT(s[2].state, GITLABCTL_FAIL);
	CHECK_STR(s[2].text, "runsv not running");
	CHECK_EQ_INT(s[3].state, GITLABCTL_FINISH);
	CHECK_EQ_INT(s[3].pid, 77);
	CHECK_EQ_INT(s[4].flags, GITLABCTL_WANT_DOWN | GITLABCTL_GOT_TERM);
	CHECK_STR(s[5].name, "u");
	CHECK_EQ_INT(s[5].seconds, 0);
	CHECK_EQ_INT(s[5].flags, 0);
}

static void test_log_down(void)
{
	struct gitlabctl_service s[MAXS];
	size_t n = parse("run: redis: (pid 3) 9s; down: log: 9s\n", s);

	CHECK_EQ_INT(n, 1);
	CHECK_EQ_INT(s[0].state, GITLABCTL_RUN);
	CHECK_EQ_INT(s[0].has_log, 1);
	CHECK_EQ_INT(s[0].log_state, GITLABCTL_DOWN);
}

static void test_garbage(void)
{
	struct gitlabctl_service s[MAXS];
	const char *text = "warning: gitaly: unable to open supervise/ok: file "
	                   "does not exist\n"
	                   "run: nginx (pid 972) 7s\n"
	                   "run: nginx: (pid abc) 7s\n"
	                   "run: nginx: (pid 972) 7s; run: notlog: (pid 1) 1s\n"
	                   "run: : (pid 1) 1s\n"
	                   "down: x: 3\n"
	                   "run: ok: (pid 1) 1s\n"
	                   "\x01\x02\xff binary\n"
	                   "run: x: (pid 99999999999999999999) 1s\n"
	                   "fail: x:\n";
	size_t n = parse(text, s), i;

	CHECK_EQ_INT(n, 10);
	for (i = 0; i < n; i++) {
		if (i == 6)
			continue;
		CHECK_EQ_INT(s[i].state, GITLABCTL_GARBAGE);
		CHECK_STR(s[i].name, "");
	}
	CHECK_STR(s[0].text,
	          "warning: gitaly: unable to open supervise/ok: file does "
	          "not exist");
	CHECK_STR(s[1].text, "run: nginx (pid 972) 7s");
	CHECK_EQ_INT(s[6].state, GITLABCTL_RUN);
	CHECK_STR(s[6].name, "ok");
	CHECK_STR(s[7].text, "??? binary");
}

static void test_truncated(void)
{
	struct gitlabctl_service s[MAXS];
	const char *full = "run: nginx: (pid 972) 7s; run: log: (pid 971) 7s\n"
	                   "run: redis: (pid 980) 7s; run: log: (pid 979) 7s\n";
	size_t len = strlen(full), cut, n;

	/* Every prefix must parse without crashing; a cut inside the second
	 * line leaves the first intact. */
	for (cut = 0; cut <= len; cut++) {
		int rv = gitlabctl_parse(full, cut, s, MAXS, &n);
		CHECK_EQ_INT(rv, 0);
		if (cut > 50) {
			CHECK_STR(s[0].name, "nginx");
			CHECK_EQ_INT(n, 2);
		}
	}
	/* The prefix that stops mid-pid. */
	gitlabctl_parse(full, 68, s, MAXS, &n);
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_INT(s[1].state, GITLABCTL_GARBAGE);
	CHECK_STR(s[1].text, "run: redis: (pid 98");
	/* No trailing newline on a complete line is fine. */
	gitlabctl_parse(full, len - 1, s, MAXS, &n);
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_INT(s[1].state, GITLABCTL_RUN);
	CHECK_EQ_INT(s[1].pid, 980);
}

static void test_empty_and_limits(void)
{
	struct gitlabctl_service s[2];
	size_t n = 42;
	char longname[200];

	CHECK_EQ_INT(gitlabctl_parse("", 0, s, 2, &n), 0);
	CHECK_EQ_INT(n, 0);
	CHECK_EQ_INT(gitlabctl_parse(NULL, 0, s, 2, &n), 0);
	CHECK_EQ_INT(n, 0);
	CHECK_EQ_INT(gitlabctl_parse("\n\n  \n", 5, s, 2, &n), 0);
	CHECK_EQ_INT(n, 0);
	CHECK_EQ_INT(gitlabctl_parse("down: a: 1s\ndown: b: 1s\ndown: c: 1s\n",
	                             36, s, 2, &n),
	             LS_ETOOBIG);
	CHECK_EQ_INT(n, 2);
	CHECK_STR(s[1].name, "b");

	memset(longname, 'a', sizeof(longname));
	memcpy(longname, "down: ", 6);
	memcpy(longname + 180, ": 1s", 5);
	CHECK_EQ_INT(gitlabctl_parse(longname, strlen(longname), s, 2, &n), 0);
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_INT(s[0].state, GITLABCTL_GARBAGE);
	CHECK_EQ_INT(strlen(s[0].text), GITLABCTL_TEXT_MAX - 1);
	/* An embedded NUL is just another garbage byte. */
	CHECK_EQ_INT(gitlabctl_parse("run: a\0: (pid 1) 1s", 19, s, 2, &n), 0);
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_INT(s[0].state, GITLABCTL_GARBAGE);
}

int main(void)
{
	test_real_lines();
	test_variants();
	test_log_down();
	test_garbage();
	test_truncated();
	test_empty_and_limits();
	CHECK_STR(gitlabctl_state_name(GITLABCTL_DOWN), "down");
	return tu_done();
}
