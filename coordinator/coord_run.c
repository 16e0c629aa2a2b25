/*
 * `lockstep run list` and `run show`: runs as the journal has them, with
 * the live progress of a step being run and each restore or verify step's
 * result (what it restored, what differed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_cutover.h"
#include "coord_restore.h"
#include "coord_upgrade.h"
#include "ls_error.h"
#include "ls_util.h"

#define RUN_LIST_MAX 50

static void run_info(const struct coord_run *r, Ls__RunInfo *ri)
{
	ls__run_info__init(ri);
	ri->id = (char *)r->id;
	ri->kind = (char *)r->kind;
	ri->state = (char *)coord_run_state_name(r->state);
	ri->created_at = r->created_at;
	if (r->finished_at) {
		ri->has_finished_at = 1;
		ri->finished_at = r->finished_at;
	}
	if (r->reason[0])
		ri->reason = (char *)r->reason;
	ri->steps_total = r->nsteps;
	ri->steps_done = r->ndone;
}

void coord_run_list(struct coord *c, struct control_ctx *cc)
{
	Ls__ControlResp resp = LS__CONTROL_RESP__INIT;
	Ls__RunListResp lr = LS__RUN_LIST_RESP__INIT;
	struct coord_run *runs = NULL;
	Ls__RunInfo *ri = NULL, **rp = NULL;
	size_t n = 0, i;

	if (coord_journal_list(c->db, RUN_LIST_MAX, &runs, &n) < 0) {
		coord_control_fail(cc, LS_EDB, "cannot read the run journal");
		return;
	}
	ri = calloc(n + 1, sizeof(*ri));
	rp = calloc(n + 1, sizeof(*rp));
	if (ri == NULL || rp == NULL) {
		coord_control_fail(cc, LS_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		run_info(&runs[i], &ri[i]);
		rp[i] = &ri[i];
	}
	lr.n_runs = n;
	lr.runs = rp;
	resp.kind_case = LS__CONTROL_RESP__KIND_RUN_LIST;
	resp.run_list = &lr;
	coord_control_reply(cc, &resp);
out:
	free(ri);
	free(rp);
	free(runs);
}

/* The subject of a restore: its backup id, from the parameters. */
static char *subject(struct coord *c, const struct coord_run *r)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	Ls__RestoreReq *req;
	char *s = NULL;

	if ((strcmp(r->kind, "restore") != 0 &&
	     strcmp(r->kind, "rollback") != 0) ||
	    coord_journal_params(c->db, r->id, &buf, &len) < 0)
		return NULL;
	if ((req = ls__restore_req__unpack(NULL, len, buf)) != NULL) {
		s = strdup(req->backup_id);
		ls__restore_req__free_unpacked(req, NULL);
	}
	free(buf);
	return s;
}

/*
 * Each node the run has a step on, once, in the order of its first step:
 * the version it reports now and its last step that left pending. Strings
 * point into steps and the nodes' facts.
 */
static size_t node_states(struct coord *c, const struct coord_step *steps,
                          size_t n, Ls__RunNodeState *ns, Ls__RunNodeState **np)
{
	int64_t now_ms = coord_now_us() / 1000;
	size_t i, k, count = 0;

	for (i = 0; i < n; i++) {
		const struct coord_step *s = &steps[i];
		struct coord_node *node;

		if (s->node[0] == '\0')
			continue;
		for (k = 0; k < count && strcmp(ns[k].node, s->node) != 0; k++)
			;
		if (k == count) {
			ls__run_node_state__init(&ns[k]);
			ns[k].node = (char *)s->node;
			if ((node = coord_node_find(c, s->node)) != NULL) {
				ns[k].connected =
				    coord_node_connected(c, node, now_ms);
				if (node->facts != NULL &&
				    node->facts->gitlab_version != NULL &&
				    node->facts->gitlab_version[0] != '\0')
					ns[k].version =
					    node->facts->gitlab_version;
			}
			np[k] = &ns[k];
			count++;
		}
		if (s->state != COORD_STEP_PENDING) {
			ns[k].last_step = (char *)s->name;
			ns[k].last_state =
			    (char *)coord_step_state_name(s->state);
		}
	}
	return count;
}

void coord_run_show(struct coord *c, struct control_ctx *cc, const char *id)
{
	Ls__ControlResp resp = LS__CONTROL_RESP__INIT;
	struct coord_run run;
	struct coord_step *steps = NULL;
	Ls__RunInfo ri;
	Ls__RunStepInfo *si = NULL, **sp = NULL;
	Ls__RunNodeState *ns = NULL, **np = NULL;
	char **det;
	size_t n = 0, i;
	int restores, cutover;
	char err[200];

	if (coord_journal_get(c->db, id, &run, &steps, &n) < 0) {
		snprintf(err, sizeof(err), "no run with id '%.100s'", id);
		coord_control_fail(cc, LS_ENOENT, err);
		return;
	}
	si = calloc(n + 1, sizeof(*si));
	sp = calloc(n + 1, sizeof(*sp));
	if (si == NULL || sp == NULL) {
		coord_control_fail(cc, LS_ENOMEM, "out of memory");
		goto out;
	}
	run_info(&run, &ri);
	ri.subject = subject(c, &run);
	restores = strcmp(run.kind, "restore") == 0 ||
	           strcmp(run.kind, "rollback") == 0;
	cutover = coord_cutover_kind(run.kind);
	for (i = 0; i < n; i++) {
		const struct coord_step *s = &steps[i];
		struct coord_node *node = coord_node_find(c, s->node);
		uint8_t *buf = NULL;
		size_t len = 0;

		ls__run_step_info__init(&si[i]);
		si[i].seq = s->seq;
		si[i].node = (char *)s->node;
		si[i].name = (char *)s->name;
		si[i].state = (char *)coord_step_state_name(s->state);
		if (s->started_at) {
			si[i].has_started_at = 1;
			si[i].started_at = s->started_at;
		}
		if (s->finished_at) {
			si[i].has_finished_at = 1;
			si[i].finished_at = s->finished_at;
		}
		if (s->error[0])
			si[i].error = (char *)s->error;
		if (s->state == COORD_STEP_STARTED && node != NULL &&
		    node->progress != NULL && node->progress->op_id == s->op_id)
			si[i].progress = node->progress;
		/* An upgrade's results are its own messages. */
		if (cutover &&
		    coord_journal_result(c->db, run.id, s->seq, &buf, &len) ==
		        0 &&
		    len > 0)
			si[i].detail = coord_cutover_detail(buf, len);
		else if (cutover && s->state == COORD_STEP_STARTED)
			si[i].detail = coord_cutover_live(c, run.id, s->seq);
		else if (restores &&
		         coord_journal_result(c->db, run.id, s->seq, &buf,
		                              &len) == 0 &&
		         len > 0)
			si[i].result =
			    ls__restore_result__unpack(NULL, len, buf);
		free(buf);
		sp[i] = &si[i];
	}
	ri.n_steps = n;
	ri.steps = sp;
	/* An upgrade's registry step: migrated, nothing to do, or skipped. */
	if (strcmp(run.kind, "upgrade") == 0 &&
	    (det = calloc(n + 1, sizeof(*det))) != NULL) {
		coord_upgrade_details(c, run.id, steps, n, det);
		for (i = 0; i < n; i++)
			if (si[i].detail == NULL)
				si[i].detail = det[i];
			else
				free(det[i]);
		free(det);
	}
	if (strcmp(run.kind, "upgrade") == 0 ||
	    strcmp(run.kind, "rollback") == 0) {
		if ((ns = calloc(n + 1, sizeof(*ns))) == NULL ||
		    (np = calloc(n + 1, sizeof(*np))) == NULL) {
			coord_control_fail(cc, LS_ENOMEM, "out of memory");
			goto out_results;
		}
		ri.n_nodes = node_states(c, steps, n, ns, np);
		ri.nodes = np;
	}
	resp.kind_case = LS__CONTROL_RESP__KIND_RUN_SHOW;
	resp.run_show = &ri;
	coord_control_reply(cc, &resp);
out_results:
	free(ri.subject);
	for (i = 0; i < n; i++)
		if (si[i].result)
			ls__restore_result__free_unpacked(si[i].result, NULL);
	for (i = 0; i < n; i++)
		free(si[i].detail);
out:
	free(si);
	free(sp);
	free(ns);
	free(np);
	free(steps);
}

/* The count of a repeated field, from the descriptor: every run's
 * parameters message names its steps "steps". */
static int steps_count(const ProtobufCMessage *m, size_t *out)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(m->descriptor,
	                                                    "steps");

	if (f == NULL || f->label != PROTOBUF_C_LABEL_REPEATED)
		return LS_EINVAL;
	*out = *(const size_t *)((const char *)m + f->quantifier_offset);
	return 0;
}

ProtobufCMessage *
coord_run_resume_params(struct coord *c, struct control_ctx *cc,
                        const struct coord_run *run, struct coord_step *steps,
                        size_t n, const ProtobufCMessageDescriptor *desc)
{
	ProtobufCMessage *p = NULL;
	uint8_t *buf = NULL;
	size_t len = 0, count = 0;
	int rv;

	if ((rv = coord_journal_params(c->db, run->id, &buf, &len)) < 0 ||
	    (p = protobuf_c_message_unpack(desc, NULL, len, buf)) == NULL ||
	    steps_count(p, &count) < 0 || count != n) {
		coord_control_fail(cc, rv < 0 ? rv : LS_EDB,
		                   "the run's parameters cannot be read from "
		                   "the journal");
		goto fail;
	}
	if ((rv = coord_journal_resume(c->db, run->id, steps, n)) < 0) {
		coord_control_fail(cc, rv, "cannot write the journal");
		goto fail;
	}
	free(buf);
	return p;
fail:
	if (p != NULL)
		protobuf_c_message_free_unpacked(p, NULL);
	free(buf);
	return NULL;
}
