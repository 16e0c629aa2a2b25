/*
 * lockstep rollback RUN_ID: the plan first (nothing touched), then, once
 * confirmed, the rollback run followed to its end like a restore.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ls_error.h"
#include "ls_util.h"

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
	struct cli_restore_flow fl = {0};
	const char *keyfile = NULL;
	char heading[256];
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
	if ((rv = cli_backup_key_arg(keyfile, rq.with_secrets, key,
	                             &rq.has_backup_key, &rq.backup_key)) !=
	    CLI_OK)
		return rv;
	rq.run_id = argv[optind];
	rq.has_dry_run = 1;
	req.kind_case = LS__CONTROL_REQ__KIND_ROLLBACK;
	req.rollback = &rq;
	if (!cli->json)
		fprintf(stderr,
		        "reading upgrade %s's rollback point back before "
		        "anything is touched...\n",
		        rq.run_id);
	snprintf(heading, sizeof(heading), "Rollback of upgrade %s", rq.run_id);
	fl.heading = heading;
	fl.warning = "This downgrades the nodes above and overwrites the "
	             "fleet's data with the rollback point.";
	fl.id = rq.run_id;
	fl.what = "rollback";
	fl.yes = yes;
	fl.plan_only = dry;
	rv = cli_restore_flow(cli, &req, &rq.dry_run, &fl);
	ls_wipe(key, sizeof(key));
	return rv;
}
