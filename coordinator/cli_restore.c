/*
 * lockstep restore, lockstep run list|show|resume|watch, and
 * lockstep backup drill.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "cli.h"
#include "ls_error.h"
#include "ls_util.h"

/* Reading a large backup back takes a while: the checks get long. */
#define CHECKS_TIMEOUT_MS (6 * 3600 * 1000)

static const char restore_usage[] =
    "usage: lockstep restore ID [--yes] [--with-secrets --backup-key FILE]\n"
    "                           [--map OLDNODE=NEWNODE ...] [--json]\n"
    "\n"
    "Restores the whole fleet to backup ID's cut. Refuses, before touching\n"
    "anything, unless every node runs the backup's exact GitLab version,\n"
    "every node of the backup has a node here (the same name, or --map),\n"
    "and every artifact of the backup reads back with its checksum. Prints\n"
    "the plan and asks for confirmation unless --yes. Then: maintenance\n"
    "mode on, Puma and Sidekiq stopped, database, repositories and files\n"
    "restored on every node at once, services started, readiness, "
    "maintenance\nmode off, every node verified against the backup, "
    "lockstep check.\n"
    "Each step is journaled: if it halts, `lockstep run resume RUN` goes "
    "on.\n"
    "--with-secrets also restores gitlab-secrets.json and gitlab.rb, opened\n"
    "with the key `lockstep keys export-backup-key` wrote (--backup-key).\n"
    "Exit 0 when restored and verified, 1 otherwise, 2 on a usage error.\n";

/* "LSBK1-<64 hex>\n", as keys export-backup-key writes it. */
int cli_read_backup_key(const char *path, uint8_t key[32])
{
	char *text = NULL;
	size_t len = 0;
	int rv;

	if ((rv = ls_read_file(path, 4096, &text, &len)) < 0) {
		fprintf(stderr, "lockstep: %s: %s\n", path, ls_strerror(rv));
		return CLI_FAIL;
	}
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		text[--len] = '\0';
	rv = len == 70 && strncmp(text, "LSBK1-", 6) == 0
	         ? ls_unhex(key, 32, text + 6)
	         : LS_EINVAL;
	ls_wipe(text, len);
	free(text);
	if (rv < 0) {
		fprintf(
		    stderr,
		    "lockstep: %s: not a backup key (expected LSBK1- and 64 "
		    "hex digits)\n",
		    path);
		return CLI_USAGE;
	}
	return CLI_OK;
}

void cli_restore_print_plan(const Ls__RestoreResp *rr)
{
	uint32_t phase = 0;
	size_t i;

	for (i = 0; i < rr->n_plan; i++) {
		const Ls__PlanStep *s = rr->plan[i];
		if (i > 0 && s->phase != phase)
			printf("\n");
		printf("  %3u  %-20s %s\n", s->seq, s->node, s->name);
		phase = s->phase;
	}
	for (i = 0; i < rr->n_notes; i++)
		printf("  note: %s\n", rr->notes[i]);
}

int cli_confirm(const char *warning, const char *id)
{
	char line[256];

	if (!isatty(STDIN_FILENO)) {
		fprintf(stderr, "lockstep: not confirmed: stdin is not a "
		                "terminal (use --yes)\n");
		return 0;
	}
	printf("%s Type %s to go on: ", warning, id);
	fflush(stdout);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return 0;
	line[strcspn(line, "\r\n")] = '\0';
	return strcmp(line, id) == 0;
}

static json_t *plan_json(const Ls__RestoreResp *rr)
{
	json_t *o = json_object(), *steps = json_array(), *notes = json_array();
	size_t i;

	for (i = 0; i < rr->n_plan; i++)
		json_array_append_new(steps,
		                      json_pack("{s:i, s:s, s:s, s:i}", "seq",
		                                (int)rr->plan[i]->seq, "node",
		                                rr->plan[i]->node, "name",
		                                rr->plan[i]->name, "phase",
		                                (int)rr->plan[i]->phase));
	for (i = 0; i < rr->n_notes; i++)
		json_array_append_new(notes, json_string(rr->notes[i]));
	json_object_set_new(o, "plan", steps);
	json_object_set_new(o, "notes", notes);
	return o;
}

int cli_restore_flow(struct cli *cli, Ls__ControlReq *req,
                     protobuf_c_boolean *dry_run,
                     const struct cli_restore_flow *fl)
{
	Ls__ControlResp *resp = NULL;
	char run[128];
	int rv;

	*dry_run = 1;
	if ((rv = cli_call(cli, req, &resp, CHECKS_TIMEOUT_MS)) != CLI_OK)
		goto out;
	if (resp->kind_case != LS__CONTROL_RESP__KIND_RESTORE) {
		rv = CLI_FAIL;
		goto out;
	}
	if (cli->json && fl->plan_only) {
		cli_print_json(plan_json(resp->restore));
	} else if (!cli->json) {
		printf("%s, in this order (steps of one phase run together):\n",
		       fl->heading);
		cli_restore_print_plan(resp->restore);
	}
	if (fl->plan_only)
		goto out;
	if (!fl->yes && !cli_confirm(fl->warning, fl->id)) {
		fprintf(stderr, "lockstep: %s not confirmed; nothing done\n",
		        fl->what);
		rv = CLI_FAIL;
		goto out;
	}
	ls__control_resp__free_unpacked(resp, NULL);
	resp = NULL;
	*dry_run = 0;
	if ((rv = cli_call(cli, req, &resp, CHECKS_TIMEOUT_MS)) != CLI_OK)
		goto out;
	if (resp->kind_case != LS__CONTROL_RESP__KIND_RESTORE ||
	    resp->restore->run_id == NULL) {
		rv = CLI_FAIL;
		goto out;
	}
	ls_strlcpy(run, resp->restore->run_id, sizeof(run));
	if (!cli->json)
		printf("run %s started\n", run);
	rv = cli_run_watch(cli, run);
out:
	if (resp)
		ls__control_resp__free_unpacked(resp, NULL);
	return rv;
}

int cli_backup_key_arg(const char *keyfile, int with_secrets, uint8_t key[32],
                       protobuf_c_boolean *has, ProtobufCBinaryData *field)
{
	int rv;

	if ((keyfile != NULL) != (with_secrets != 0)) {
		fprintf(stderr,
		        "lockstep: --with-secrets and --backup-key FILE "
		        "go together\n");
		return CLI_USAGE;
	}
	if (keyfile == NULL)
		return CLI_OK;
	if ((rv = cli_read_backup_key(keyfile, key)) != CLI_OK)
		return rv;
	*has = 1;
	field->data = key;
	field->len = 32;
	return CLI_OK;
}

json_t *cli_restore_result_json(const Ls__RestoreResult *r)
{
	json_t *o = json_object(), *mm = json_array(), *comps = json_array();
	size_t i;

	for (i = 0; i < r->n_components; i++) {
		const Ls__ComponentOutcome *c = r->components[i];
		json_t *x = json_object();
		json_object_set_new(x, "component", json_string(c->component));
		json_object_set_new(x, "ok", json_boolean(c->ok));
		if (c->error)
			json_object_set_new(x, "error", json_string(c->error));
		if (c->has_items)
			json_object_set_new(x, "items",
			                    json_integer((json_int_t)c->items));
		json_object_set_new(
		    x, "mismatches",
		    json_integer(
		        (json_int_t)(c->has_mismatches ? c->mismatches : 0)));
		json_array_append_new(comps, x);
	}
	for (i = 0; i < r->n_mismatches; i++) {
		const Ls__Mismatch *m = r->mismatches[i];
		json_array_append_new(
		    mm, json_pack("{s:s, s:s, s:s, s:s}", "component",
		                  m->component, "item", m->item, "expected",
		                  m->expected, "found", m->found));
	}
	json_object_set_new(o, "components", comps);
	json_object_set_new(o, "mismatches", mm);
	json_object_set_new(
	    o, "mismatch_count",
	    json_integer(
	        (json_int_t)(r->has_mismatch_count ? r->mismatch_count : 0)));
	if (r->n_table_rows)
		json_object_set_new(o, "tables",
		                    json_integer((json_int_t)r->n_table_rows));
	if (r->has_repos)
		json_object_set_new(o, "repositories",
		                    json_integer((json_int_t)r->repos));
	if (r->has_removed)
		json_object_set_new(o, "removed",
		                    json_integer((json_int_t)r->removed));
	if (r->aside)
		json_object_set_new(o, "aside", json_string(r->aside));
	return o;
}

json_t *cli_run_json(const Ls__RunInfo *ri)
{
	json_t *o = json_object(), *steps = json_array();
	size_t i;

	json_object_set_new(o, "id", json_string(ri->id));
	json_object_set_new(o, "kind", json_string(ri->kind));
	json_object_set_new(o, "state", json_string(ri->state));
	if (ri->subject)
		json_object_set_new(o, "backup_id", json_string(ri->subject));
	json_object_set_new(o, "created_at", json_integer(ri->created_at));
	if (ri->has_finished_at)
		json_object_set_new(o, "finished_at",
		                    json_integer(ri->finished_at));
	if (ri->reason)
		json_object_set_new(o, "reason", json_string(ri->reason));
	json_object_set_new(o, "steps_total", json_integer(ri->steps_total));
	json_object_set_new(o, "steps_done", json_integer(ri->steps_done));
	for (i = 0; i < ri->n_steps; i++) {
		const Ls__RunStepInfo *s = ri->steps[i];
		json_t *x = json_pack("{s:i, s:s, s:s, s:s}", "seq",
		                      (int)s->seq, "node", s->node, "name",
		                      s->name, "state", s->state);
		if (s->error)
			json_object_set_new(x, "error", json_string(s->error));
		if (s->detail)
			json_object_set_new(x, "detail",
			                    json_string(s->detail));
		if (s->has_started_at && s->has_finished_at)
			json_object_set_new(
			    x, "seconds",
			    json_integer(s->finished_at - s->started_at));
		if (s->result)
			json_object_set_new(x, "result",
			                    cli_restore_result_json(s->result));
		json_array_append_new(steps, x);
	}
	if (ri->n_steps)
		json_object_set_new(o, "steps", steps);
	else
		json_decref(steps);
	if (ri->n_nodes) {
		json_t *nodes = json_array();
		for (i = 0; i < ri->n_nodes; i++) {
			const Ls__RunNodeState *n = ri->nodes[i];
			json_t *x = json_pack("{s:s, s:b}", "node", n->node,
			                      "connected", n->connected);
			if (n->version)
				json_object_set_new(x, "version",
				                    json_string(n->version));
			if (n->last_step)
				json_object_set_new(x, "last_step",
				                    json_string(n->last_step));
			if (n->last_state)
				json_object_set_new(x, "last_state",
				                    json_string(n->last_state));
			json_array_append_new(nodes, x);
		}
		json_object_set_new(o, "nodes", nodes);
	}
	return o;
}

/* The proof: every verify step's outcome, each difference named. */
static void print_report(const Ls__RunInfo *ri)
{
	size_t i, k;

	for (i = 0; i < ri->n_steps; i++) {
		const Ls__RunStepInfo *s = ri->steps[i];
		const Ls__RestoreResult *r = s->result;

		if (strcmp(s->name, "verify") != 0 || r == NULL)
			continue;
		for (k = 0; k < r->n_components; k++) {
			const Ls__ComponentOutcome *c = r->components[k];
			printf("%-4s %-14s %-16s", c->ok ? "OK" : "BAD",
			       s->node, c->component);
			if (c->has_items)
				printf(" %llu compared",
				       (unsigned long long)c->items);
			if (c->has_mismatches && c->mismatches)
				printf(", %llu differ",
				       (unsigned long long)c->mismatches);
			if (c->error)
				printf(": %s", c->error);
			printf("\n");
		}
		for (k = 0; k < r->n_mismatches; k++)
			printf("DIFF %-14s %s %s: expected '%s', found '%s'\n",
			       s->node, r->mismatches[k]->component,
			       r->mismatches[k]->item,
			       r->mismatches[k]->expected,
			       r->mismatches[k]->found);
		if (r->has_mismatch_count &&
		    r->mismatch_count > r->n_mismatches)
			printf("DIFF %-14s ... and %llu more\n", s->node,
			       (unsigned long long)(r->mismatch_count -
			                            r->n_mismatches));
	}
}

void cli_run_print(const Ls__RunInfo *ri)
{
	size_t i;

	printf("run %s (%s%s%s): %s, %u of %u steps done\n", ri->id, ri->kind,
	       ri->subject ? " of " : "", ri->subject ? ri->subject : "",
	       ri->state, ri->steps_done, ri->steps_total);
	for (i = 0; i < ri->n_steps; i++) {
		const Ls__RunStepInfo *s = ri->steps[i];
		printf("  %3u %-8s %-16s %s", s->seq, s->state, s->node,
		       s->name);
		if (s->has_started_at && s->has_finished_at)
			printf(" (%llds)",
			       (long long)(s->finished_at - s->started_at));
		if (s->progress && s->progress->items_total)
			printf(" [%llu/%llu]",
			       (unsigned long long)s->progress->items_done,
			       (unsigned long long)s->progress->items_total);
		if (s->error)
			printf("\n      %s", s->error);
		else if (s->detail)
			printf("\n      %s", s->detail);
		printf("\n");
	}
	if (ri->reason)
		printf("%s\n", ri->reason);
	if (ri->n_nodes > 0)
		printf("\n%-16s %-12s %-13s %s\n", "NODE", "VERSION",
		       "CONNECTION", "LAST STEP");
	for (i = 0; i < ri->n_nodes; i++) {
		const Ls__RunNodeState *n = ri->nodes[i];
		printf("%-16s %-12s %-13s %s%s%s%s\n", n->node,
		       n->version ? n->version : "?",
		       n->connected ? "connected" : "lost",
		       n->last_step ? n->last_step : "(none)",
		       n->last_state ? " (" : "",
		       n->last_state ? n->last_state : "",
		       n->last_state ? ")" : "");
	}
	print_report(ri);
}

int cli_run_show_once(struct cli *cli, const char *id, Ls__ControlResp **resp)
{
	Ls__ControlReq req = LS__CONTROL_REQ__INIT;
	Ls__RunShowReq sr = LS__RUN_SHOW_REQ__INIT;
	int rv;

	sr.id = (char *)id;
	req.kind_case = LS__CONTROL_REQ__KIND_RUN_SHOW;
	req.run_show = &sr;
	if ((rv = cli_call(cli, &req, resp, 30000)) != CLI_OK)
		return rv;
	if ((*resp)->kind_case != LS__CONTROL_RESP__KIND_RUN_SHOW) {
		ls__control_resp__free_unpacked(*resp, NULL);
		*resp = NULL;
		return CLI_FAIL;
	}
	return CLI_OK;
}

int cli_run_watch(struct cli *cli, const char *id)
{
	return cli_run_follow(cli, id, 1);
}

/* Follows run id to its end, printing each step as it changes. */
int cli_run_follow(struct cli *cli, const char *id, int report)
{
	uint32_t printed = 0;
	int64_t t0 = ls_mono_ms(), next_progress = 0;
	int rv;

	for (;;) {
		Ls__ControlResp *resp = NULL;
		const Ls__RunInfo *ri;
		size_t i;

		if ((rv = cli_run_show_once(cli, id, &resp)) != CLI_OK)
			return rv;
		ri = resp->run_show;
		for (i = 0; !cli->json && i < ri->n_steps; i++) {
			const Ls__RunStepInfo *s = ri->steps[i];
			if (s->seq <= printed ||
			    (strcmp(s->state, "done") != 0 &&
			     strcmp(s->state, "failed") != 0))
				continue;
			/* In order: a later step waits for the ones before. */
			if (s->seq != printed + 1)
				break;
			printf("[%6.1fs] %-6s %-16s %s%s%s\n",
			       (double)(ls_mono_ms() - t0) / 1000.0, s->state,
			       s->node, s->name,
			       s->error || s->detail ? ": " : "",
			       s->error    ? s->error
			       : s->detail ? s->detail
			                   : "");
			printed = s->seq;
		}
		if (!cli->json && ls_mono_ms() >= next_progress) {
			for (i = 0; i < ri->n_steps; i++) {
				const Ls__Progress *p = ri->steps[i]->progress;
				if (p == NULL)
					continue;
				printf("           %-16s %s: %llu MiB, "
				       "%llu/%llu\n",
				       ri->steps[i]->node, p->component,
				       (unsigned long long)(p->bytes >> 20),
				       (unsigned long long)p->items_done,
				       (unsigned long long)p->items_total);
			}
			next_progress = ls_mono_ms() + 5000;
		}
		fflush(stdout);
		if (strcmp(ri->state, "running") != 0) {
			rv = strcmp(ri->state, "done") == 0 ? CLI_OK : CLI_FAIL;
			if (!report) {
				/* the caller prints its own */
			} else if (cli->json) {
				cli_print_json(cli_run_json(ri));
			} else {
				print_report(ri);
				printf("run %s: %s%s%s\n", ri->id, ri->state,
				       ri->reason ? ": " : "",
				       ri->reason ? ri->reason : "");
			}
			ls__control_resp__free_unpacked(resp, NULL);
			return rv;
		}
		ls__control_resp__free_unpacked(resp, NULL);
		nng_msleep(250);
	}
}

int cli_parse_map(const char *arg, char **map, size_t *n)
{
	if (*n == CLI_MAX_MAP || strchr(arg, '=') == NULL) {
		fprintf(stderr,
		        "lockstep: --map %s: expected OLDNODE=NEWNODE\n", arg);
		return CLI_USAGE;
	}
	map[(*n)++] = (char *)arg;
	return CLI_OK;
}

int cli_restore(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"yes", no_argument, NULL, 'y'},
	    {"with-secrets", no_argument, NULL, 's'},
	    {"backup-key", required_argument, NULL, 'k'},
	    {"map", required_argument, NULL, 'm'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	Ls__ControlReq req = LS__CONTROL_REQ__INIT;
	Ls__RestoreReq rq = LS__RESTORE_REQ__INIT;
	struct cli_restore_flow fl = {0};
	char *map[CLI_MAX_MAP], heading[256];
	const char *keyfile = NULL;
	uint8_t key[32];
	size_t nmap = 0;
	int ch, rv, yes = 0;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'y':
			yes = 1;
			break;
		case 's':
			rq.has_with_secrets = rq.with_secrets = 1;
			break;
		case 'k':
			keyfile = optarg;
			break;
		case 'm':
			if ((rv = cli_parse_map(optarg, map, &nmap)) != CLI_OK)
				return rv;
			break;
		case 'j':
			cli->json = 1;
			break;
		case 'h':
			fputs(restore_usage, stdout);
			return CLI_OK;
		default:
			fputs(restore_usage, stderr);
			return CLI_USAGE;
		}
	}
	if (optind != argc - 1) {
		fputs(restore_usage, stderr);
		return CLI_USAGE;
	}
	if ((rv = cli_backup_key_arg(keyfile, rq.with_secrets, key,
	                             &rq.has_backup_key, &rq.backup_key)) !=
	    CLI_OK)
		return rv;
	rq.backup_id = argv[optind];
	rq.n_map = nmap;
	rq.map = map;
	rq.has_dry_run = 1;
	req.kind_case = LS__CONTROL_REQ__KIND_RESTORE;
	req.restore = &rq;
	if (!cli->json)
		fprintf(stderr,
		        "reading backup %s back before anything is "
		        "touched...\n",
		        rq.backup_id);
	snprintf(heading, sizeof(heading), "Restore of backup %s",
	         rq.backup_id);
	fl.heading = heading;
	fl.warning = "This overwrites the fleet's database, repositories and "
	             "files with the backup.";
	fl.id = rq.backup_id;
	fl.what = "restore";
	fl.yes = yes;
	rv = cli_restore_flow(cli, &req, &rq.dry_run, &fl);
	ls_wipe(key, sizeof(key));
	return rv;
}
