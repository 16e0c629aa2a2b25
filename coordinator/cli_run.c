/* lockstep run list|show|watch|resume, and lockstep backup drill. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "ls_error.h"
#include "ls_util.h"

#define DRILL_TIMEOUT_MS (12 * 3600 * 1000)

static const char run_usage[] =
    "usage: lockstep run list [--json]\n"
    "       lockstep run show ID [--json]\n"
    "       lockstep run watch ID [--json]\n"
    "       lockstep run resume ID [--backup-key FILE] [--json]\n"
    "\n"
    "Runs are the journaled long operations (restores). show prints every\n"
    "step with its node, state and result, and why a halted run halted;\n"
    "watch follows a running one to its end; resume continues a halted run\n"
    "at the step it stopped at: a failed step is tried again, completed\n"
    "steps are not repeated. A restore --with-secrets whose secrets are not\n"
    "restored yet needs --backup-key again.\n"
    "Exit 0 when the run is done (list, show: when the request worked), 1\n"
    "otherwise, 2 on a usage error.\n";

static const char drill_usage[] =
    "usage: lockstep backup drill ID [--map OLDNODE=NEWNODE ...] [--json]\n"
    "\n"
    "Restores backup ID into scratch space on the nodes (a scratch\n"
    "database, scratch repository storages and file directories), compares\n"
    "it with the backup as a restore is verified, reports pass/fail per\n"
    "component and node, and removes the scratch space. The live instance\n"
    "is not touched. Exit 0 when every component passes, 1 otherwise.\n";

static int run_list(struct cli *cli)
{
	Ls__ControlReq req = LS__CONTROL_REQ__INIT;
	Ls__RunListReq lr = LS__RUN_LIST_REQ__INIT;
	Ls__ControlResp *resp = NULL;
	size_t i;
	int rv;

	req.kind_case = LS__CONTROL_REQ__KIND_RUN_LIST;
	req.run_list = &lr;
	if ((rv = cli_call(cli, &req, &resp, 30000)) != CLI_OK)
		return rv;
	if (resp->kind_case != LS__CONTROL_RESP__KIND_RUN_LIST) {
		ls__control_resp__free_unpacked(resp, NULL);
		return CLI_FAIL;
	}
	if (cli->json) {
		json_t *a = json_array();
		for (i = 0; i < resp->run_list->n_runs; i++)
			json_array_append_new(
			    a, cli_run_json(resp->run_list->runs[i]));
		cli_print_json(json_pack("{s:o}", "runs", a));
	} else if (resp->run_list->n_runs == 0) {
		printf("no runs\n");
	} else {
		printf("%-36s %-8s %-8s %-11s %s\n", "ID", "KIND", "STATE",
		       "STEPS", "CREATED");
		for (i = 0; i < resp->run_list->n_runs; i++) {
			const Ls__RunInfo *r = resp->run_list->runs[i];
			char when[64], steps[32];
			time_t t = (time_t)r->created_at;
			struct tm tm;

			gmtime_r(&t, &tm);
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%SZ", &tm);
			snprintf(steps, sizeof(steps), "%u/%u", r->steps_done,
			         r->steps_total);
			printf("%-36s %-8s %-8s %-11s %s\n", r->id, r->kind,
			       r->state, steps, when);
		}
	}
	ls__control_resp__free_unpacked(resp, NULL);
	return CLI_OK;
}

static int run_show(struct cli *cli, const char *id)
{
	Ls__ControlResp *resp = NULL;
	int rv;

	if ((rv = cli_run_show_once(cli, id, &resp)) != CLI_OK)
		return rv;
	if (cli->json)
		cli_print_json(cli_run_json(resp->run_show));
	else
		cli_run_print(resp->run_show);
	ls__control_resp__free_unpacked(resp, NULL);
	return CLI_OK;
}

static int run_resume(struct cli *cli, const char *id, const char *keyfile)
{
	Ls__ControlReq req = LS__CONTROL_REQ__INIT;
	Ls__RunResumeReq rr = LS__RUN_RESUME_REQ__INIT;
	Ls__ControlResp *resp = NULL;
	uint8_t key[32];
	int rv;

	if (keyfile != NULL) {
		if ((rv = cli_read_backup_key(keyfile, key)) != CLI_OK)
			return rv;
		rr.has_backup_key = 1;
		rr.backup_key.data = key;
		rr.backup_key.len = sizeof(key);
	}
	rr.id = (char *)id;
	req.kind_case = LS__CONTROL_REQ__KIND_RUN_RESUME;
	req.run_resume = &rr;
	rv = cli_call(cli, &req, &resp, 60000);
	ls_wipe(key, sizeof(key));
	if (rv != CLI_OK)
		return rv;
	ls__control_resp__free_unpacked(resp, NULL);
	if (!cli->json)
		printf("run %s resumed\n", id);
	return cli_run_watch(cli, id);
}

int cli_run(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"backup-key", required_argument, NULL, 'k'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *keyfile = NULL, *sub;
	int ch;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'k':
			keyfile = optarg;
			break;
		case 'j':
			cli->json = 1;
			break;
		case 'h':
			fputs(run_usage, stdout);
			return CLI_OK;
		default:
			fputs(run_usage, stderr);
			return CLI_USAGE;
		}
	}
	if (optind >= argc) {
		fputs(run_usage, stderr);
		return CLI_USAGE;
	}
	sub = argv[optind];
	if (strcmp(sub, "list") == 0 && optind == argc - 1 && !keyfile)
		return run_list(cli);
	if (optind != argc - 2 || (keyfile && strcmp(sub, "resume") != 0)) {
		fputs(run_usage, stderr);
		return CLI_USAGE;
	}
	if (strcmp(sub, "show") == 0)
		return run_show(cli, argv[optind + 1]);
	if (strcmp(sub, "watch") == 0)
		return cli_run_watch(cli, argv[optind + 1]);
	if (strcmp(sub, "resume") == 0)
		return run_resume(cli, argv[optind + 1], keyfile);
	fprintf(stderr, "lockstep run: unknown subcommand '%s'\n\n", sub);
	fputs(run_usage, stderr);
	return CLI_USAGE;
}

static void print_drill(const Ls__BackupDrillResp *dr, const char *id)
{
	size_t i, k;

	for (i = 0; i < dr->n_nodes; i++) {
		const Ls__NodeDrill *nd = dr->nodes[i];
		const Ls__RestoreResult *r = nd->result;

		if (nd->error)
			printf("FAIL %-16s %s\n", nd->node, nd->error);
		for (k = 0; r != NULL && k < r->n_components; k++) {
			const Ls__ComponentOutcome *c = r->components[k];
			printf("%-4s %-16s %-16s", c->ok ? "PASS" : "FAIL",
			       nd->node, c->component);
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
		for (k = 0; r != NULL && k < r->n_mismatches; k++)
			printf("DIFF %-16s %s %s: expected '%s', found '%s'\n",
			       nd->node, r->mismatches[k]->component,
			       r->mismatches[k]->item,
			       r->mismatches[k]->expected,
			       r->mismatches[k]->found);
	}
	printf("drill of backup %s: %s\n", id, dr->ok ? "PASSED" : "FAILED");
}

int cli_backup_drill(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"map", required_argument, NULL, 'm'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	Ls__ControlReq req = LS__CONTROL_REQ__INIT;
	Ls__BackupDrillReq dq = LS__BACKUP_DRILL_REQ__INIT;
	Ls__ControlResp *resp = NULL;
	char *map[CLI_MAX_MAP];
	size_t nmap = 0, i;
	int ch, rv;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'm':
			if ((rv = cli_parse_map(optarg, map, &nmap)) != CLI_OK)
				return rv;
			break;
		case 'j':
			cli->json = 1;
			break;
		case 'h':
			fputs(drill_usage, stdout);
			return CLI_OK;
		default:
			fputs(drill_usage, stderr);
			return CLI_USAGE;
		}
	}
	if (optind != argc - 1) {
		fputs(drill_usage, stderr);
		return CLI_USAGE;
	}
	dq.backup_id = argv[optind];
	dq.n_map = nmap;
	dq.map = map;
	req.kind_case = LS__CONTROL_REQ__KIND_BACKUP_DRILL;
	req.backup_drill = &dq;
	if ((rv = cli_call(cli, &req, &resp, DRILL_TIMEOUT_MS)) != CLI_OK) {
		if (cli->json)
			cli_print_json(json_pack("{s:s, s:b}", "id",
			                         dq.backup_id, "ok", 0));
		return rv;
	}
	if (resp->kind_case != LS__CONTROL_RESP__KIND_BACKUP_DRILL) {
		ls__control_resp__free_unpacked(resp, NULL);
		return CLI_FAIL;
	}
	if (cli->json) {
		json_t *nodes = json_array();
		for (i = 0; i < resp->backup_drill->n_nodes; i++) {
			const Ls__NodeDrill *nd = resp->backup_drill->nodes[i];
			json_t *x = json_pack("{s:s, s:b}", "node", nd->node,
			                      "answered", nd->answered);
			if (nd->error)
				json_object_set_new(x, "error",
				                    json_string(nd->error));
			if (nd->result)
				json_object_set_new(
				    x, "result",
				    cli_restore_result_json(nd->result));
			json_array_append_new(nodes, x);
		}
		cli_print_json(json_pack("{s:s, s:b, s:o}", "id", dq.backup_id,
		                         "ok", resp->backup_drill->ok, "nodes",
		                         nodes));
	} else {
		print_drill(resp->backup_drill, dq.backup_id);
	}
	rv = resp->backup_drill->ok ? CLI_OK : CLI_FAIL;
	ls__control_resp__free_unpacked(resp, NULL);
	return rv;
}
