/* lockstep maintenance on|off|status. */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "coord_maint.h"
#include "ls_error.h"

/* The coordinator waits up to 120 s for the rails node; a little more. */
#define MAINT_CALL_TIMEOUT_MS 130000

static const char maint_usage[] =
    "usage: lockstep maintenance on [--message TEXT] [--lease SECONDS]\n"
    "                               [--node NAME] [--json]\n"
    "       lockstep maintenance off [--force] [--node NAME] [--json]\n"
    "       lockstep maintenance status [--node NAME] [--json]\n"
    "\n"
    "GitLab's maintenance mode (writes, pushes and new pipelines get 503),\n"
    "set or read through the GitLab API of one rails node: --node, or the\n"
    "first connected rails node by name. GitLab keeps it in its database,\n"
    "so one node speaks for the whole instance.\n"
    "\n"
    "  --message TEXT   on: the banner users see (at most 400 bytes); an\n"
    "                   `on` while it is already on keeps the banner it has\n"
    "  --lease SECONDS  on: the node's agent turns it off itself after this\n"
    "                   long (1 to 604800, 7 days); without it maintenance\n"
    "                   mode stays on until `off`. A lease is kept only by\n"
    "                   an `on` that turned it on\n"
    "  --force          off: even while a backup, restore or upgrade run\n"
    "                   holds it (that run turns it off itself)\n"
    "  --json           one object: node, was_on, now_on, message\n"
    "\n"
    "Exit 0 when the node answered, 1 when it failed, 2 on a usage error.\n";

/* A decimal count of seconds; anything else is named and refused. */
static int parse_lease(const char *s, uint32_t *out)
{
	char *end = NULL;
	unsigned long long v;

	if (s[0] < '0' || s[0] > '9') {
		fprintf(stderr,
		        "lockstep: --lease '%.64s': a whole number of "
		        "seconds, 1 to %u\n",
		        s, COORD_MAINT_LEASE_MAX_S);
		return CLI_USAGE;
	}
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v > UINT32_MAX) {
		fprintf(stderr,
		        "lockstep: --lease '%.64s': a whole number of "
		        "seconds, 1 to %u\n",
		        s, COORD_MAINT_LEASE_MAX_S);
		return CLI_USAGE;
	}
	*out = (uint32_t)v;
	return CLI_OK;
}

static void print_resp(const struct cli *cli, const Ls__MaintenanceResp *mr,
                       int lease)
{
	const char *msg = mr->message ? mr->message : "";

	if (cli->json) {
		cli_print_json(json_pack("{s:s, s:b, s:b, s:s}", "node",
		                         mr->node, "was_on", mr->was_on,
		                         "now_on", mr->now_on, "message", msg));
		return;
	}
	printf("maintenance mode is %s on %s (was %s)%s%s\n",
	       mr->now_on ? "on" : "off", mr->node, mr->was_on ? "on" : "off",
	       mr->now_on && msg[0] ? ": " : "", mr->now_on ? msg : "");
	/* The agent keeps no lease for a mode someone else turned on. */
	if (lease && mr->was_on)
		printf("note: it was already on, so no lease was taken; "
		       "`lockstep maintenance off` turns it off\n");
}

int cli_maint(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"message", required_argument, NULL, 'm'},
	    {"lease", required_argument, NULL, 'l'},
	    {"node", required_argument, NULL, 'n'},
	    {"force", no_argument, NULL, 'f'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	Ls__ControlReq req = LS__CONTROL_REQ__INIT;
	Ls__MaintenanceReq mr = LS__MAINTENANCE_REQ__INIT;
	Ls__ControlResp *resp = NULL;
	const char *action;
	int ch, rv;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'm':
			mr.message = optarg;
			break;
		case 'l':
			if ((rv = parse_lease(optarg, &mr.lease_s)) != CLI_OK)
				return rv;
			mr.has_lease_s = 1;
			break;
		case 'n':
			mr.node = optarg;
			break;
		case 'f':
			mr.has_force = mr.force = 1;
			break;
		case 'j':
			cli->json = 1;
			break;
		case 'h':
			fputs(maint_usage, stdout);
			return CLI_OK;
		default:
			fputs(maint_usage, stderr);
			return CLI_USAGE;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "lockstep: maintenance needs one of on, off, "
		                "status\n\n");
		fputs(maint_usage, stderr);
		return CLI_USAGE;
	}
	action = argv[optind];
	if (strcmp(action, "on") != 0 && strcmp(action, "off") != 0 &&
	    strcmp(action, "status") != 0) {
		fprintf(stderr,
		        "lockstep: maintenance '%.32s': on, off or status\n\n",
		        action);
		fputs(maint_usage, stderr);
		return CLI_USAGE;
	}
	mr.action = (char *)action;
	req.kind_case = LS__CONTROL_REQ__KIND_MAINTENANCE;
	req.maintenance = &mr;
	if ((rv = cli_call(cli, &req, &resp, MAINT_CALL_TIMEOUT_MS)) != CLI_OK)
		return rv;
	if (resp->kind_case != LS__CONTROL_RESP__KIND_MAINTENANCE ||
	    resp->maintenance == NULL) {
		fprintf(stderr, "lockstep: the coordinator answered without "
		                "the maintenance state\n");
		ls__control_resp__free_unpacked(resp, NULL);
		return CLI_FAIL;
	}
	print_resp(cli, resp->maintenance, mr.has_lease_s);
	ls__control_resp__free_unpacked(resp, NULL);
	return CLI_OK;
}
