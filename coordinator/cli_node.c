/* lockstep node add|list|remove */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "ls_util.h"

#define ROLES_MAX 16

static void node_usage(FILE *f)
{
	fprintf(f,
	        "usage: lockstep node add NAME --role ROLE[,ROLE...] [--site "
	        "SITE] [--ttl DURATION] [--json]\n"
	        "       lockstep node list [--json]\n"
	        "       lockstep node remove NAME [--json]\n"
	        "\n"
	        "Roles: rails, sidekiq, gitaly, praefect, postgresql, "
	        "pgbouncer, redis, consul,\n"
	        "       geo-primary, geo-secondary (a node may have several).\n"
	        "The join token is single use and expires after --ttl "
	        "(default: the\ncoordinator's token_ttl, 1h).\n");
}

static int split_roles(const char *csv, char **roles, size_t *n, char *store,
                       size_t storelen)
{
	char *p, *save = NULL;

	if (ls_strlcpy(store, csv, storelen) >= storelen)
		return -1;
	*n = 0;
	for (p = strtok_r(store, ",", &save); p != NULL;
	     p = strtok_r(NULL, ",", &save)) {
		if (*n == ROLES_MAX)
			return -1;
		roles[(*n)++] = p;
	}
	return *n > 0 ? 0 : -1;
}

static int node_add(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"role", required_argument, NULL, 'r'},
	    {"site", required_argument, NULL, 's'},
	    {"ttl", required_argument, NULL, 't'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	Ls__ControlReq req = LS__CONTROL_REQ__INIT;
	Ls__NodeAddReq add = LS__NODE_ADD_REQ__INIT;
	Ls__ControlResp *resp = NULL;
	char *roles[ROLES_MAX], store[1024];
	const char *role_arg = NULL;
	int64_t ttl_ms = 0;
	size_t nroles = 0;
	int ch, rv;

	optind = 0; /* GNU getopt: reinitialise for this argv */
	while ((ch = getopt_long(argc, argv, "r:s:t:jh", opts, NULL)) != -1) {
		switch (ch) {
		case 'r':
			role_arg = optarg;
			break;
		case 's':
			add.site = optarg;
			break;
		case 't':
			if (ls_parse_duration_ms(optarg, &ttl_ms) < 0) {
				fprintf(stderr,
				        "lockstep: --ttl '%s': expected a "
				        "duration such as 30m, 1h, 2d\n",
				        optarg);
				return CLI_USAGE;
			}
			add.has_ttl_seconds = 1;
			add.ttl_seconds = (uint64_t)(ttl_ms / 1000);
			break;
		case 'j':
			cli->json = 1;
			break;
		case 'h':
			node_usage(stdout);
			return CLI_OK;
		default:
			node_usage(stderr);
			return CLI_USAGE;
		}
	}
	if (optind + 1 != argc || role_arg == NULL) {
		fprintf(stderr, "lockstep: node add needs NAME and --role\n");
		node_usage(stderr);
		return CLI_USAGE;
	}
	if (split_roles(role_arg, roles, &nroles, store, sizeof(store)) < 0) {
		fprintf(stderr,
		        "lockstep: --role '%s': expected ROLE[,ROLE...]\n",
		        role_arg);
		return CLI_USAGE;
	}
	add.name = argv[optind];
	add.n_roles = nroles;
	add.roles = roles;
	req.kind_case = LS__CONTROL_REQ__KIND_NODE_ADD;
	req.node_add = &add;
	if ((rv = cli_call(cli, &req, &resp, 30000)) != CLI_OK)
		return rv;
	if (resp->kind_case != LS__CONTROL_RESP__KIND_NODE_ADD) {
		fprintf(stderr, "lockstep: unexpected answer\n");
		ls__control_resp__free_unpacked(resp, NULL);
		return CLI_FAIL;
	}
	if (cli->json) {
		json_t *o = json_object();
		json_object_set_new(o, "node", json_string(add.name));
		json_object_set_new(o, "token",
		                    json_string(resp->node_add->token));
		json_object_set_new(
		    o, "expires",
		    json_integer((json_int_t)resp->node_add->expires));
		cli_print_json(o);
	} else {
		char when[64];
		time_t t = (time_t)resp->node_add->expires;
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
		printf("Join token for %s (single use, expires %s):\n\n  %s\n\n"
		       "On the node, run:\n  lockstep-agent join '%s' "
		       "--config /etc/lockstep/agent.yml\n",
		       add.name, when, resp->node_add->token,
		       resp->node_add->token);
	}
	ls__control_resp__free_unpacked(resp, NULL);
	return CLI_OK;
}

static int node_remove(struct cli *cli, int argc, char **argv)
{
	Ls__ControlReq req = LS__CONTROL_REQ__INIT;
	Ls__NodeRemoveReq rm = LS__NODE_REMOVE_REQ__INIT;
	Ls__ControlResp *resp = NULL;
	int i, rv;
	const char *name = NULL;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			cli->json = 1;
		else if (strcmp(argv[i], "--help") == 0 ||
		         strcmp(argv[i], "-h") == 0) {
			node_usage(stdout);
			return CLI_OK;
		} else if (argv[i][0] == '-' || name != NULL) {
			node_usage(stderr);
			return CLI_USAGE;
		} else
			name = argv[i];
	}
	if (name == NULL) {
		fprintf(stderr, "lockstep: node remove needs NAME\n");
		return CLI_USAGE;
	}
	rm.name = (char *)name;
	req.kind_case = LS__CONTROL_REQ__KIND_NODE_REMOVE;
	req.node_remove = &rm;
	if ((rv = cli_call(cli, &req, &resp, 30000)) != CLI_OK)
		return rv;
	ls__control_resp__free_unpacked(resp, NULL);
	if (cli->json) {
		json_t *o = json_object();
		json_object_set_new(o, "node", json_string(name));
		json_object_set_new(o, "removed", json_true());
		cli_print_json(o);
	} else {
		printf("Node %s removed; the coordinator now rejects its "
		       "messages.\n",
		       name);
	}
	return CLI_OK;
}

int cli_node(struct cli *cli, int argc, char **argv)
{
	if (argc < 2) {
		node_usage(stderr);
		return CLI_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		node_usage(stdout);
		return CLI_OK;
	}
	if (strcmp(argv[1], "add") == 0)
		return node_add(cli, argc - 1, argv + 1);
	if (strcmp(argv[1], "remove") == 0)
		return node_remove(cli, argc - 1, argv + 1);
	if (strcmp(argv[1], "list") == 0)
		return cli_status(cli, argc - 1, argv + 1);
	fprintf(stderr, "lockstep: unknown node command '%s'\n", argv[1]);
	node_usage(stderr);
	return CLI_USAGE;
}
