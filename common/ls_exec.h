/*
 * Running a child process from a fixed argv: no shell, execve only, bounded
 * output capture, a deadline, and a clean kill of the whole process group
 * when the deadline passes.
 */
#ifndef LS_EXEC_H
#define LS_EXEC_H

#include <stddef.h>
#include <stdint.h>

struct ls_exec_opts {
	const char *const *argv; /* argv[0] is an absolute path */
	const char *const *envp; /* NULL: a minimal PATH/LANG=C environment */
	const void *stdin_data;  /* NULL: stdin is /dev/null */
	size_t stdin_len;
	size_t max_stdout; /* hard cap; more output is LS_ETOOBIG */
	size_t max_stderr; /* stderr beyond the cap is dropped, not an error */
	int timeout_ms;    /* <= 0: no deadline */
	const char *cwd;   /* NULL: unchanged */
};

struct ls_exec_result {
	int exited; /* 1 if the child exited normally */
	int status; /* exit status, or the signal number */
	int timed_out;
	uint8_t *out; /* NUL-terminated; owned by the result */
	size_t out_len;
	char *err; /* NUL-terminated; owned by the result */
	size_t err_len;
};

/*
 * Runs the child to completion. Returns 0 when it ran (inspect exited and
 * status), or a negative ls_error when it could not be started, timed out
 * (LS_ETIMEDOUT, child killed) or wrote more than max_stdout (LS_ETOOBIG,
 * child killed). res is always initialised and must be passed to
 * ls_exec_result_free.
 */
int ls_exec_run(const struct ls_exec_opts *opts, struct ls_exec_result *res);
void ls_exec_result_free(struct ls_exec_result *res);

#endif
