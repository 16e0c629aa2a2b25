#include "agent_backup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ls_error.h"
#include "ls_exec.h"
#include "ls_frame.h"
#include "ls_log.h"
#include "ls_util.h"

struct agent_backup {
	const struct agent_config *cfg;
	char config_path[LS_PATH_MAX];
	char backup_id[128];
	struct ls_proc proc;
	int running;
	agent_backup_progress_fn progress;
	void *progress_arg;
};

struct agent_backup *agent_backup_new(const struct agent_config *cfg,
                                      const char *config_path,
                                      agent_backup_progress_fn progress,
                                      void *arg)
{
	struct agent_backup *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return NULL;
	b->cfg = cfg;
	b->progress = progress;
	b->progress_arg = arg;
	ls_strlcpy(b->config_path, config_path, sizeof(b->config_path));
	b->proc.pid = b->proc.in_fd = b->proc.out_fd = b->proc.err_fd = -1;
	return b;
}

/* Closing the child's stdin tells it to drop everything; then reap it. */
static void end_session(struct agent_backup *b)
{
	struct ls_exec_result res;

	if (!b->running)
		return;
	ls_exec_wait(&b->proc, 60000, 4096, &res);
	if (!res.exited || res.status != 0)
		log_warnx("backup %s: session ended with status %d%s%.300s",
		          b->backup_id, res.status, res.err_len ? ": " : "",
		          res.err ? res.err : "");
	ls_exec_result_free(&res);
	b->running = 0;
	b->backup_id[0] = '\0';
}

static int start_session(struct agent_backup *b, const char *backup_id)
{
	const char *argv[] = {b->cfg->exec_helper, "--config", b->config_path,
	                      "backup-session",    backup_id,  NULL};
	struct ls_exec_opts o;
	int rv;

	end_session(b);
	memset(&o, 0, sizeof(o));
	o.argv = argv;
	if ((rv = ls_exec_spawn(&o, 1, -1, &b->proc)) < 0)
		return rv;
	ls_strlcpy(b->backup_id, backup_id, sizeof(b->backup_id));
	b->running = 1;
	return 0;
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

static const char *op_backup_id(const Ls__Operation *op)
{
	switch (op->kind_case) {
	case LS__OPERATION__KIND_BACKUP_CUT:
		return op->backup_cut->backup_id;
	case LS__OPERATION__KIND_BACKUP_COPY:
		return op->backup_copy->backup_id;
	case LS__OPERATION__KIND_BACKUP_RELEASE:
		return op->backup_release->backup_id;
	default:
		return NULL;
	}
}

int agent_backup_perform(struct agent_backup *b, const Ls__Operation *op,
                         uint8_t **res, size_t *reslen)
{
	const char *id = op_backup_id(op);
	char msg[512];
	uint8_t *buf = NULL, *reply = NULL;
	size_t len, rlen = 0;
	int rv;

	*res = NULL;
	*reslen = 0;
	if (id == NULL || strlen(id) >= sizeof(b->backup_id))
		return error_result(op->id, LS_EPROTO, "not a backup operation",
		                    res, reslen);
	if (op->kind_case == LS__OPERATION__KIND_BACKUP_CUT) {
		if ((rv = start_session(b, id)) < 0) {
			snprintf(msg, sizeof(msg),
			         "cannot start the backup session (%s): %s",
			         b->cfg->exec_helper, ls_strerror(rv));
			return error_result(op->id, rv, msg, res, reslen);
		}
	} else if (!b->running || strcmp(b->backup_id, id) != 0) {
		if (op->kind_case == LS__OPERATION__KIND_BACKUP_RELEASE)
			return error_result(op->id, 0, NULL, res, reslen);
		snprintf(msg, sizeof(msg),
		         "no backup session for %s on this node (the agent "
		         "restarted since the cut?)",
		         id);
		return error_result(op->id, LS_ESTATE, msg, res, reslen);
	}
	len = ls__operation__get_packed_size(op);
	if ((buf = malloc(len ? len : 1)) == NULL)
		return LS_ENOMEM;
	ls__operation__pack(op, buf);
	rv = ls_frame_write(b->proc.in_fd, buf, len);
	free(buf);
	/* Progress frames until the result. */
	while (rv == 0) {
		Ls__SessionFrame *f;

		rv = ls_frame_read(b->proc.out_fd, (int)b->cfg->op_timeout,
		                   &reply, &rlen);
		if (rv < 0)
			break;
		f = ls__session_frame__unpack(NULL, rlen, reply);
		if (f == NULL) {
			rv = LS_EPROTO;
		} else if (f->kind_case == LS__SESSION_FRAME__KIND_PROGRESS) {
			if (b->progress)
				b->progress(b->progress_arg, f->progress);
		} else if (f->kind_case == LS__SESSION_FRAME__KIND_RESULT) {
			/* Re-packed alone: the caller stores and sends an
			 * OpResult. */
			free(reply);
			rlen = ls__op_result__get_packed_size(f->result);
			if ((reply = malloc(rlen ? rlen : 1)) == NULL)
				rv = LS_ENOMEM;
			else
				ls__op_result__pack(f->result, reply);
			ls__session_frame__free_unpacked(f, NULL);
			break;
		} else {
			rv = LS_EPROTO;
		}
		if (f)
			ls__session_frame__free_unpacked(f, NULL);
		free(reply);
		reply = NULL;
	}
	if (rv < 0) {
		snprintf(msg, sizeof(msg), "backup session for %s failed: %s",
		         id, ls_strerror(rv));
		ls_exec_kill(&b->proc);
		b->running = 0;
		end_session(b);
		return error_result(op->id, rv, msg, res, reslen);
	}
	*res = reply;
	*reslen = rlen;
	if (op->kind_case == LS__OPERATION__KIND_BACKUP_RELEASE)
		end_session(b);
	return 0;
}

void agent_backup_free(struct agent_backup *b)
{
	if (b == NULL)
		return;
	end_session(b);
	free(b);
}
