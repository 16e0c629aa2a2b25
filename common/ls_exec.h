/*
 * Running a child process from a fixed argv: no shell, execve only, bounded
 * output capture, a deadline, and a clean kill of the whole process group
 * when the deadline passes.
 */
#ifndef LS_EXEC_H
#define LS_EXEC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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

/*
 * Streaming: a child whose stdout is read by the caller as it comes (a
 * bundle, a dump), or written straight to a file descriptor. stderr goes
 * to an anonymous file and is read, capped, once the child is waited for.
 */
struct ls_proc {
	int pid;    /* process (and process group) id; -1 when none */
	int in_fd;  /* our end of the child's stdin pipe, or -1 */
	int out_fd; /* our end of the child's stdout pipe, or -1 */
	int err_fd; /* the anonymous file holding the child's stderr */
};

/*
 * Starts opts->argv (opts->stdin_data, max_stdout and timeout_ms are not
 * used here). want_stdin: give the child a stdin pipe (else /dev/null).
 * stdout_fd >= 0: the child writes there; else a pipe in p->out_fd.
 */
int ls_exec_spawn(const struct ls_exec_opts *opts, int want_stdin,
                  int stdout_fd, struct ls_proc *p);
/*
 * The same with the child's stdin read from stdin_fd (a file at the offset
 * it is left at, say), which stays ours; p->in_fd is -1.
 */
int ls_exec_spawn_from(const struct ls_exec_opts *opts, int stdin_fd,
                       int stdout_fd, struct ls_proc *p);
/*
 * Closes our pipe ends, waits for the child (killing its group after
 * timeout_ms > 0) and fills res: exit status and up to max_stderr bytes of
 * stderr. Returns 0, or LS_ETIMEDOUT when the child had to be killed.
 */
int ls_exec_wait(struct ls_proc *p, int timeout_ms, size_t max_stderr,
                 struct ls_exec_result *res);
/*
 * write() to p->in_fd (or any pipe) that fails with EPIPE when the reader
 * is gone instead of raising SIGPIPE, whatever the process's disposition.
 */
ssize_t ls_exec_write(int fd, const void *buf, size_t n);
/* Kills the child's group and reaps it; safe on a finished ls_proc. */
void ls_exec_kill(struct ls_proc *p);

#endif
