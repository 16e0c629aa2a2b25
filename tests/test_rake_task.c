/* RakeTask's pure parts: the task list and the output it sends back. */
#include <string.h>

#include "rake_task.h"
#include "testutil.h"

static void test_allowlist(void)
{
	size_t i, n = 0;

	for (i = 0; rake_tasks[i] != NULL; i++, n++)
		CHECK(rake_task_allowed(rake_tasks[i]));
	CHECK_EQ_INT(n, 7);
	CHECK(rake_task_allowed("gitlab:uploads:migrate:all"));
	CHECK(rake_task_allowed("gitlab:pages:deployments:migrate"));
	/* Only exact names: no prefixes, arguments, case or neighbours. */
	CHECK(!rake_task_allowed(NULL));
	CHECK(!rake_task_allowed(""));
	CHECK(!rake_task_allowed("db:migrate"));
	CHECK(!rake_task_allowed("gitlab:uploads:migrate"));
	CHECK(!rake_task_allowed("gitlab:uploads:migrate:all "));
	CHECK(!rake_task_allowed("gitlab:uploads:migrate:all[x]"));
	CHECK(!rake_task_allowed("GITLAB:LFS:MIGRATE"));
	CHECK(!rake_task_allowed("gitlab:lfs:migrate\n"));
	CHECK(!rake_task_allowed("gitlab:backup:create"));
}

static void test_tail_lines(void)
{
	char text[4096], out[RAKE_TAIL_MAX + 1];
	size_t off = 0, n;
	int i;

	for (i = 1; i <= 30; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off,
		                        "line %d\n", i);
	/* Trailing blank lines do not count as lines. */
	off += (size_t)snprintf(text + off, sizeof(text) - off, "\n  \n");
	n = rake_tail(text, off, 20, RAKE_TAIL_MAX, out, sizeof(out));
	CHECK_EQ_INT(n, strlen(out));
	CHECK(strncmp(out, "line 11\n", 8) == 0);
	CHECK(strcmp(out + n - 7, "line 30") == 0);
	/* Fewer lines than asked: all of them. */
	n = rake_tail("a\nb\n", 4, 20, RAKE_TAIL_MAX, out, sizeof(out));
	CHECK_STR(out, "a\nb");
	n = rake_tail("", 0, 20, RAKE_TAIL_MAX, out, sizeof(out));
	CHECK_EQ_INT(n, 0);
	CHECK_STR(out, "");
	/* No newline at all. */
	rake_tail("only", 4, 20, RAKE_TAIL_MAX, out, sizeof(out));
	CHECK_STR(out, "only");
}

static void test_tail_bytes(void)
{
	static char text[20000];
	char out[RAKE_TAIL_MAX + 1], small[16];
	size_t n, i;

	/* Long lines: the byte cap wins, starting at a line. */
	for (i = 0; i < sizeof(text) - 1; i++)
		text[i] = (i % 1000 == 999) ? '\n' : 'x';
	n = rake_tail(text, sizeof(text) - 1, 20, RAKE_TAIL_MAX, out,
	              sizeof(out));
	CHECK(n <= RAKE_TAIL_MAX);
	CHECK(n >= 3000);
	CHECK(out[0] == 'x');
	CHECK(strlen(out) == n);
	/* One line longer than the cap: its end. */
	memset(text, 'y', 9000);
	text[8999] = 'z';
	n = rake_tail(text, 9000, 20, RAKE_TAIL_MAX, out, sizeof(out));
	CHECK_EQ_INT(n, RAKE_TAIL_MAX);
	CHECK(out[n - 1] == 'z');
	/* The output buffer bounds it too. */
	n = rake_tail("abcdefghijklmnopqrstuvwxyz", 26, 20, RAKE_TAIL_MAX,
	              small, sizeof(small));
	CHECK_EQ_INT(n, 15);
	CHECK_STR(small, "lmnopqrstuvwxyz");
	/* Control and non-ASCII bytes are made printable. */
	rake_tail("a\tb\x1b[31m\xc3\xa9\n", 11, 20, RAKE_TAIL_MAX, out,
	          sizeof(out));
	CHECK_STR(out, "a b [31m??");
}

static void test_last_line(void)
{
	char out[RAKE_LINE_MAX + 1], tiny[6];
	static char long_line[1000];

	rake_last_line("rake aborted!\nStandardError: boom\n\n", 35, out,
	               sizeof(out));
	CHECK_STR(out, "StandardError: boom");
	rake_last_line("  indented  \n", 13, out, sizeof(out));
	CHECK_STR(out, "indented");
	rake_last_line("", 0, out, sizeof(out));
	CHECK_STR(out, "");
	rake_last_line("\n\n", 2, out, sizeof(out));
	CHECK_STR(out, "");
	rake_last_line("abcdefgh", 8, tiny, sizeof(tiny));
	CHECK_STR(tiny, "abcde");
	memset(long_line, 'q', sizeof(long_line));
	rake_last_line(long_line, sizeof(long_line), out, sizeof(out));
	CHECK_EQ_INT(strlen(out), RAKE_LINE_MAX);
	rake_last_line("x\x01y\x80", 4, out, sizeof(out));
	CHECK_STR(out, "x y?");
}

int main(void)
{
	test_allowlist();
	test_tail_lines();
	test_tail_bytes();
	test_last_line();
	return tu_done();
}
