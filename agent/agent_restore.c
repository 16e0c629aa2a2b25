#include "agent_restore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ls_error.h"
#include "ls_exec.h"
#include "ls_frame.h"
#include "ls_log.h"
#include "ls_util.h"

/* After its result, the child only frees and exits. */
#define REAP_MS 10000
#define FAILED_REAP_MS 2000
#define STDERR_MAX 4096
#define STDERR_SHOWN 300

int agent_restore_handles(const Ls__Operation *op)
{
	switch (op->kind_case) {
	case LS__OPERATION__KIND_RESTORE_DB:
	case LS__OPERATION__KIND_RESTORE_REPOS:
	case LS__OPERATION__KIND_RESTORE_FILES:
	case LS__OPERATION__KIND_RESTORE_SECRETS:
	case LS__OPERATION__KIND_SERVICES:
	case LS__OPERATION__KIND_RESTORE_VERIFY:
	case LS__OPERATION__KIND_RESTORE_DRILL:
	/* Not a restore, but as long and with progress to report. */
	case LS__OPERATION__KIND_REPO_FSCK:
	/* Not a restore on this node, but hours of a tool's output. */
	case LS__OPERATION__KIND_KUBE_RESTORE:
	case LS__OPERATION__KIND_KUBE_VERIFY:
		return 1;
	default:
		return 0;
	}
}

static int error_result(uint64_t op_id, int status, const char *msg,
                        uint8_t **res, size_t *reslen)
{
	Ls__OpResult r = LS__OP_RESULT__INIT;

	r.op_id = op_id;
	r.status = status;
	r.error = (char *)msg;
	*reslen = ls__op_result__get_packed_size(&r);
	if ((*res = malloc(*reslen ? *reslen : 1)) == NULL)
		return LS_ENOMEM;
	ls__op_result__pack(&r, *res);
	return 0;
}

/* Frames until the result: 0 and the packed OpResult, or an error. */
static int read_frames(const struct agent_config *cfg, struct ls_proc *p,
                       const Ls__Operation *op,
                       agent_backup_progress_fn progress, void *arg,
                       uint8_t **res, size_t *reslen)
{
	uint64_t op_id = op->id;
	/* A KubeRestore's copy and backup-utility have restore_timeout of
	 * their own, after an export bounded like any operation. */
	int64_t deadline = ls_mono_ms() + cfg->op_timeout +
	                   (op->kind_case == LS__OPERATION__KIND_KUBE_RESTORE
	                        ? cfg->kubernetes.restore_timeout
	                        : 0);
	uint8_t *buf = NULL;
	size_t len = 0;
	int rv;

	for (;;) {
		Ls__SessionFrame *f;
		int64_t left = deadline - ls_mono_ms();

		if (left <= 0)
			return LS_ETIMEDOUT;
		if ((rv = ls_frame_read(p->out_fd, (int)left, &buf, &len)) < 0)
			return rv;
		f = ls__session_frame__unpack(NULL, len, buf);
		free(buf);
		buf = NULL;
		if (f == NULL)
			return LS_EPROTO;
		if (f->kind_case == LS__SESSION_FRAME__KIND_PROGRESS &&
		    f->progress->op_id == op_id) {
			if (progress)
				progress(arg, f->progress);
			ls__session_frame__free_unpacked(f, NULL);
			continue;
		}
		if (f->kind_case != LS__SESSION_FRAME__KIND_RESULT ||
		    f->result->op_id != op_id) {
			ls__session_frame__free_unpacked(f, NULL);
			return LS_EPROTO;
		}
		/* Re-packed alone: the caller stores and sends an OpResult. */
		*reslen = ls__op_result__get_packed_size(f->result);
		if ((*res = malloc(*reslen ? *reslen : 1)) == NULL) {
			ls__session_frame__free_unpacked(f, NULL);
			return LS_ENOMEM;
		}
		ls__op_result__pack(f->result, *res);
		ls__session_frame__free_unpacked(f, NULL);
		return 0;
	}
}

int agent_restore_perform(const struct agent_config *cfg,
                          const char *config_path, const Ls__Operation *op,
                          agent_backup_progress_fn progress, void *arg,
                          uint8_t **res, size_t *reslen)
{
	const char *argv[] = {cfg->exec_helper, "--config", config_path,
	                      "restore", NULL};
	struct ls_exec_opts o;
	struct ls_exec_result ex;
	struct ls_proc p = {-1, -1, -1, -1};
	char msg[1024], tail[STDERR_SHOWN + 1] = "";
	uint8_t *buf = NULL;
	size_t len, i;
	int rv;

	*res = NULL;
	*reslen = 0;
	memset(&ex, 0, sizeof(ex));
	if (!agent_restore_handles(op))
		return error_result(op->id, LS_EPROTO,
		                    "not a restore operation", res, reslen);
	memset(&o, 0, sizeof(o));
	o.argv = argv;
	if ((rv = ls_exec_spawn(&o, 1, -1, &p)) < 0) {
		snprintf(msg, sizeof(msg), "cannot start %s restore: %s",
		         cfg->exec_helper, ls_strerror(rv));
		return error_result(op->id, rv, msg, res, reslen);
	}
	len = ls__operation__get_packed_size(op);
	if ((buf = malloc(len ? len : 1)) == NULL) {
		rv = LS_ENOMEM;
		goto out;
	}
	ls__operation__pack(op, buf);
	rv = ls_frame_write(p.in_fd, buf, len);
	/* A RestoreSecrets carries the backup secret key. */
	ls_wipe(buf, len);
	free(buf);
	close(p.in_fd);
	p.in_fd = -1;
	if (rv == 0)
		rv = read_frames(cfg, &p, op, progress, arg, res, reslen);
out:
	/* A child that failed is given a moment, then its group is killed;
	 * either way its stderr is read. */
	ls_exec_wait(&p, rv < 0 ? FAILED_REAP_MS : REAP_MS, STDERR_MAX, &ex);
	if (rv == 0 && (!ex.exited || ex.status != 0))
		log_warnx("operation %llu: %s restore ended with status %d "
		          "after its result",
		          (unsigned long long)op->id, cfg->exec_helper,
		          ex.status);
	if (rv < 0 && rv != LS_ENOMEM) {
		/* The child's last words say more than a broken pipe. */
		size_t n = ex.err_len, start;

		while (n > 0 && (ex.err[n - 1] == '\n' || ex.err[n - 1] == ' '))
			n--;
		start = n > STDERR_SHOWN ? n - STDERR_SHOWN : 0;
		snprintf(tail, sizeof(tail), "%.*s", (int)(n - start),
		         ex.err ? ex.err + start : "");
		for (i = 0; tail[i] != '\0'; i++)
			if ((unsigned char)tail[i] < 0x20)
				tail[i] = ' ';
		snprintf(msg, sizeof(msg), "%s restore %s: %s%s%s",
		         cfg->exec_helper,
		         rv == LS_ETIMEDOUT ? "ran past the operation timeout"
		         : rv == LS_EPROTO || rv == LS_ETOOBIG
		             ? "answered something other than its frames"
		             : "failed",
		         ls_strerror(rv), tail[0] ? ": " : "", tail);
		log_warnx("operation %llu: %s", (unsigned long long)op->id,
		          msg);
		free(*res);
		rv = error_result(op->id, rv, msg, res, reslen);
	}
	ls_exec_result_free(&ex);
	return rv;
}
