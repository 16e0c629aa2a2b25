/*
 * RakeTask: one of GitLab's object storage migration tasks (gitlab-facts
 * §8) by a fixed argv, `gitlab-rake TASK`, for tasks of the fixed list
 * only: the operation names a task, never a command line.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exec_cutover.h"
#include "ls_error.h"
#include "ls_exec.h"
#include "ls_util.h"

/* stdout goes to a file, of which only the end is read: a migration of
 * many files prints a line per batch and is never killed for it. */
#define OUT_READ_MAX (16 * 1024)
#define STDERR_MAX (64 * 1024)

/* The end of the file the child wrote its stdout to, NUL-terminated. */
static int read_end(int fd, char *buf, size_t max, size_t *len)
{
	struct stat st;
	off_t off;
	ssize_t n;

	*len = 0;
	buf[0] = '\0';
	if (fstat(fd, &st) < 0)
		return -errno;
	off = st.st_size > (off_t)max ? st.st_size - (off_t)max : 0;
	n = pread(fd, buf, max, off);
	if (n < 0)
		return -errno;
	*len = (size_t)n;
	buf[n] = '\0';
	return 0;
}

/* output_tail: the last lines of stdout, then of stderr, within 4 KiB. */
static int set_tail(struct cutover_out *o, const char *out, size_t olen,
                    const char *err, size_t elen)
{
	size_t need = olen + elen + 2, n;
	char *both = malloc(need);

	if (both == NULL)
		return LS_ENOMEM;
	memcpy(both, out, olen);
	n = olen;
	if (elen > 0) {
		both[n++] = '\n';
		memcpy(both + n, err, elen);
		n += elen;
	}
	rake_tail(both, n, RAKE_TAIL_LINES, RAKE_TAIL_MAX, o->tail,
	          sizeof(o->tail));
	o->rake.output_tail = o->tail;
	free(both);
	return 0;
}

int exec_rake_task(const struct agent_config *cfg, const Ls__RakeTask *t,
                   struct cutover_out *o, char *err, size_t errlen)
{
	static const char *const env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
	                                  "LANG=C", "LC_ALL=C", NULL};
	const char *argv[] = {cfg->gitlab.rake, t->task, NULL};
	struct ls_exec_opts opts = {.argv = argv, .envp = env};
	struct ls_exec_result res;
	struct ls_proc p = {.pid = -1, .in_fd = -1, .out_fd = -1, .err_fd = -1};
	char *buf = NULL, line[RAKE_LINE_MAX + 1];
	int64_t t0 = ls_mono_ms();
	size_t len = 0;
	int fd = -1, rv;

	memset(&res, 0, sizeof(res));
	if (!rake_task_allowed(t->task)) {
		rake_last_line(t->task, strlen(t->task), line, 100);
		snprintf(err, errlen,
		         "rake task '%s' is not an object storage migration "
		         "task the agent runs",
		         line);
		return LS_EINVAL;
	}
	if ((buf = malloc(OUT_READ_MAX + 1)) == NULL) {
		rv = LS_ENOMEM;
		goto out;
	}
	if ((fd = memfd_create("ls-rake-out", MFD_CLOEXEC)) < 0) {
		rv = -errno;
		snprintf(err, errlen, "%s %s: %s", cfg->gitlab.rake, t->task,
		         ls_strerror(rv));
		goto out;
	}
	if ((rv = ls_exec_spawn(&opts, 0, fd, &p)) < 0) {
		snprintf(err, errlen, "%s %s: %s", cfg->gitlab.rake, t->task,
		         ls_strerror(rv));
		goto out;
	}
	rv = ls_exec_wait(
	    &p, cfg->op_timeout > INT32_MAX ? INT32_MAX : (int)cfg->op_timeout,
	    STDERR_MAX, &res);
	(void)read_end(fd, buf, OUT_READ_MAX, &len);
	if (set_tail(o, buf, len, res.err ? res.err : "", res.err_len) < 0) {
		rv = LS_ENOMEM;
		goto out;
	}
	rake_last_line(res.err ? res.err : "", res.err_len, line, sizeof(line));
	if (rv == LS_ETIMEDOUT) {
		snprintf(err, errlen,
		         "%s %s: killed at the operation deadline%s%s",
		         cfg->gitlab.rake, t->task, line[0] ? ": " : "", line);
	} else if (rv < 0) {
		snprintf(err, errlen, "%s %s: %s", cfg->gitlab.rake, t->task,
		         ls_strerror(rv));
	} else if (!res.exited || res.status != 0) {
		snprintf(err, errlen, "%s %s: %s %d%s%s", cfg->gitlab.rake,
		         t->task,
		         res.exited ? "exit status" : "killed by signal",
		         res.status, line[0] ? ": " : "", line);
		rv = LS_ECHILD;
	}
out:
	if (p.pid > 0)
		ls_exec_kill(&p);
	if (fd >= 0)
		close(fd);
	o->rake.has_ms = 1;
	o->rake.ms = (uint64_t)(ls_mono_ms() - t0);
	ls_exec_result_free(&res);
	free(buf);
	return rv;
}
