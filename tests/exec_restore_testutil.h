/*
 * Shared by test_exec_restore.c and test_exec_restore_node.c: running the
 * real `lockstep-agent-exec restore` on one framed operation and reading
 * its frames back. Each test binary includes it once.
 */
#ifndef LS_EXEC_RESTORE_TESTUTIL_H
#define LS_EXEC_RESTORE_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lockstep.pb-c.h"
#include "ls_exec.h"
#include "ls_util.h"
#include "testutil.h"

static char xr_config[1024];

struct xrun {
	Ls__OpResult *res; /* NULL when no result frame came */
	int progress;      /* Progress frames seen */
	int bad_progress;  /* with another op id or bytes going back */
};

/* One framed op on stdin; frames off stdout, checked as they come. */
static inline void xrun(const Ls__Operation *op, struct xrun *out)
{
	const char *argv[] = {LOCKSTEP_EXEC_PATH, "--config", xr_config,
	                      "restore", NULL};
	size_t len = ls__operation__get_packed_size(op), off = 0;
	uint8_t *in = malloc(len + 4);
	struct ls_exec_opts o;
	struct ls_exec_result r;
	uint64_t last = 0;

	memset(out, 0, sizeof(*out));
	in[0] = (uint8_t)(len >> 24);
	in[1] = (uint8_t)(len >> 16);
	in[2] = (uint8_t)(len >> 8);
	in[3] = (uint8_t)len;
	ls__operation__pack(op, in + 4);
	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.stdin_data = in;
	o.stdin_len = len + 4;
	o.max_stdout = 32 << 20;
	o.max_stderr = 1 << 16;
	o.timeout_ms = 240000;
	CHECK_EQ_INT(ls_exec_run(&o, &r), 0);
	if (r.err_len > 0)
		fprintf(stderr, "[exec stderr] %s", r.err);
	CHECK_EQ_INT(r.exited, 1);
	CHECK_EQ_INT(r.status, 0);
	while (off + 4 <= r.out_len) {
		size_t n = (size_t)r.out[off] << 24 |
		           (size_t)r.out[off + 1] << 16 |
		           (size_t)r.out[off + 2] << 8 | r.out[off + 3];
		Ls__SessionFrame *f;

		off += 4;
		if (n > r.out_len - off)
			break;
		f = ls__session_frame__unpack(NULL, n, r.out + off);
		off += n;
		CHECK(f != NULL);
		if (f == NULL)
			break;
		if (f->kind_case == LS__SESSION_FRAME__KIND_PROGRESS) {
			CHECK(out->res == NULL); /* none after the result */
			out->progress++;
			if (f->progress->op_id != op->id ||
			    f->progress->bytes < last)
				out->bad_progress++;
			last = f->progress->bytes;
		} else if (f->kind_case == LS__SESSION_FRAME__KIND_RESULT) {
			CHECK(out->res == NULL);
			out->res = f->result;
			f->result = NULL;
			f->kind_case = LS__SESSION_FRAME__KIND__NOT_SET;
		}
		ls__session_frame__free_unpacked(f, NULL);
	}
	CHECK_EQ_INT(off, r.out_len);
	CHECK(out->res != NULL);
	if (out->res != NULL) {
		CHECK_EQ_INT(out->res->op_id, op->id);
		CHECK_EQ_INT(out->res->kind_case, LS__OP_RESULT__KIND_RESTORE);
		if (out->res->status != 0)
			fprintf(stderr, "op %llu: status %d: %s\n",
			        (unsigned long long)op->id, out->res->status,
			        out->res->error ? out->res->error : "");
	}
	ls_exec_result_free(&r);
	free(in);
}

static inline void xrun_free(struct xrun *x)
{
	if (x->res != NULL)
		ls__op_result__free_unpacked(x->res, NULL);
	x->res = NULL;
}

/* The restore result, or an empty one so that checks can go on. */
static inline const Ls__RestoreResult *xres(const struct xrun *x)
{
	static Ls__RestoreResult none = LS__RESTORE_RESULT__INIT;

	return x->res && x->res->restore ? x->res->restore : &none;
}

static inline int xstatus(const struct xrun *x)
{
	return x->res ? x->res->status : 12345;
}

static inline const char *xerror(const struct xrun *x)
{
	return x->res && x->res->error ? x->res->error : "";
}

/* A YAML single-quoted scalar: quotes doubled. */
static inline void yaml_sq(char *out, size_t len, const char *s)
{
	size_t o = 0;

	if (len < 3)
		return;
	out[o++] = '\'';
	for (; *s && o + 3 < len; s++) {
		if (*s == '\'')
			out[o++] = '\'';
		out[o++] = *s;
	}
	out[o++] = '\'';
	out[o] = '\0';
}

#endif
