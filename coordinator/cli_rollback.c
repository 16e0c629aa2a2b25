/*
 * lockstep rollback RUN_ID: the plan first (nothing touched), then, once
 * confirmed, the rollback run followed to its end like a restore.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "ls_error.h"
#include "ls_util.h"

/* The backup is read back in full before the plan: as long as a restore. */
#define CHECKS_TIMEOUT_MS (6 * 3600 * 1000)

static const char rollback_usage[] =
    "usage: lockstep rollback RUN_ID [--to-stop N] [--yes] [--dry-run]\n"
    "                                [--with-secrets --backup-key FILE] "
    "[--json]\n"
    "\n"
    "Takes the fleet back to the rollback point of upgrade RUN_ID: the\n"
    "backup its stop N took before touching any node (default: the last\n"
    "stop that took one). Refuses, before touching anything, unless that\n"
    "backup reads back whole. Then: maintenance mode on, Puma and Sidekiq\n"
    "stopped, every node the upgrade touched from stop N on downgraded\n"
    "(package removed, the backup's version installed, gitlab-ctl\n"
    "reconfigure), the backup restored, services started, maintenance "
    "mode\noff, every node verified against the backup, lockstep check.\n"
    "The upgrade run ends; the rollback is a run of its own (lockstep run\n"
    "show|resume). --dry-run prints the plan only.\n"
    "Exit 0 when rolled back and verified, 1 otherwise, 2 on a usage "
    "error.\n";

static int confirm(const char *run)
{
	char line[256];

	if (!isatty(STDIN_FILENO)) {
		fprintf(stderr, "lockstep: not confirmed: stdin is not a "
		                "terminal (use --yes)\n");
		return 0;
	}
	printf("This downgrades the nodes above and overwrites the fleet's "
	       "data with the\nrollback point. Type the upgrade run id to go "
	       "on: ");
	fflush(stdout);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return 0;
	line[strcspn(line, "\r\n")] = '\0';
	return strcmp(line, run) == 0;
}

static int parse_stop(const char *arg, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || arg[0] == '-' ||
	    v == 0 || v > 1000) {
		fprintf(stderr,
		        "lockstep: --to-stop '%s': expected a stop number, "
		        "1 for the first\n",
		        arg);
		return CLI_USAGE;
	}
	*out = (uint32_t)v;
	return CLI_OK;
}

static json_t *plan_json(const Ls__RestoreResp *rr)
{
	json_t *o = json_object(), *steps = json_array(), *notes = json_array();
	size_t i;

	for (i = 0; i < rr->n_plan; i++) {
		json_t *s = json_object();
		json_object_set_new(s, "seq", json_integer(rr->plan[i]->seq));
		json_object_set_new(s, "node", json_string(rr->plan[i]->node));
		json_object_set_new(s, "name", json_string(rr->plan[i]->name));
		json_object_set_new(s, "phase",
		                    json_integer(rr->plan[i]->phase));
		json_array_append_new(steps, s);
	}
	for (i = 0; i < rr->n_notes; i++)
		json_array_append_new(notes, json_string(rr->notes[i]));
	if (rr->run_id)
		json_object_set_new(o, "run_id", json_string(rr->run_id));
	json_object_set_new(o, "plan", steps);
	json_object_set_new(o, "notes", notes);
	return o;
}

int cli_rollback(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"to-stop", required_argument, NULL, 't'},
	    {"yes", no_argument, NULL, 'y'},
	    {"dry-run", no_argument, NULL, 'n'},
	    {"with-secrets", no_argument, NULL, 's'},
	    {"backup-key", required_argument, NULL, 'k'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	Ls__ControlReq req = LS__CONTROL_REQ__INIT;
	Ls__RollbackReq rq = LS__ROLLBACK_REQ__INIT;
	Ls__ControlResp *resp = NULL;
	const char *keyfile = NULL;
	char run[128];
	uint8_t key[32];
	int ch, rv, yes = 0, dry = 0;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 't':
			if ((rv = parse_stop(optarg, &rq.to_stop)) != CLI_OK)
				return rv;
			rq.has_to_stop = 1;
			break;
		case 'y':
			yes = 1;
			break;
		case 'n':
			dry = 1;
			break;
		case 's':
			rq.has_with_secrets = rq.with_secrets = 1;
			break;
		case 'k':
			keyfile = optarg;
			break;
		case 'j':
			cli->json = 1;
			break;
		case 'h':
			fputs(rollback_usage, stdout);
			return CLI_OK;
		default:
			fputs(rollback_usage, stderr);
			return CLI_USAGE;
		}
	}
	if (optind != argc - 1) {
		fputs(rollback_usage, stderr);
		return CLI_USAGE;
	}
	if ((keyfile != NULL) != rq.with_secrets) {
		fprintf(stderr,
		        "lockstep: --with-secrets and --backup-key FILE "
		        "go together\n");
		return CLI_USAGE;
	}
	if (keyfile != NULL &&
	    (rv = cli_read_backup_key(keyfile, key)) != CLI_OK)
		return rv;
	if (keyfile != NULL) {
		rq.has_backup_key = 1;
		rq.backup_key.data = key;
		rq.backup_key.len = sizeof(key);
	}
	rq.run_id = argv[optind];
	rq.has_dry_run = rq.dry_run = 1;
	req.kind_case = LS__CONTROL_REQ__KIND_ROLLBACK;
	req.rollback = &rq;
	if (!cli->json)
		fprintf(stderr,
		        "reading upgrade %s's rollback point back before "
		        "anything is touched...\n",
		        rq.run_id);
	if ((rv = cli_call(cli, &req, &resp, CHECKS_TIMEOUT_MS)) != CLI_OK)
		goto out;
	if (resp->kind_case != LS__CONTROL_RESP__KIND_RESTORE) {
		rv = CLI_FAIL;
		goto out;
	}
	if (dry || !cli->json) {
		if (cli->json) {
			cli_print_json(plan_json(resp->restore));
		} else {
			printf("Rollback of upgrade %s, in this order (steps "
			       "of one phase run together):\n",
			       rq.run_id);
			cli_restore_print_plan(resp->restore);
		}
	}
	if (dry)
		goto out;
	if (!yes && !confirm(rq.run_id)) {
		fprintf(stderr, "lockstep: rollback not confirmed; nothing "
		                "done\n");
		rv = CLI_FAIL;
		goto out;
	}
	ls__control_resp__free_unpacked(resp, NULL);
	resp = NULL;
	rq.dry_run = 0;
	if ((rv = cli_call(cli, &req, &resp, CHECKS_TIMEOUT_MS)) != CLI_OK)
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
	ls_wipe(key, sizeof(key));
	if (resp)
		ls__control_resp__free_unpacked(resp, NULL);
	return rv;
}
