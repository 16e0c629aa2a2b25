/* lockstep upgrade plan|run: the fleet's path, every stop's steps, and
 * the journaled run of them. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_upgrade_doc.h"
#include "ls_error.h"
#include "ls_util.h"
#include "ls_yaml.h"
#include "upgrade_path.h"

/* Every node lists its package repositories first: that can take a while
 * with --refresh. */
#define PLAN_TIMEOUT_MS (6 * 60 * 1000)

static const char plan_usage[] =
    "usage: lockstep upgrade plan --to VERSION [--mode zero-downtime|"
    "downtime]\n"
    "                             [--stops FILE] [--deploy-node NODE] "
    "[--refresh] [--json]\n"
    "                             [--format text|markdown|json] "
    "[--output FILE]\n"
    "\n"
    "The whole fleet's upgrade to VERSION, planned and not run: the path\n"
    "through GitLab's required stops, resolved against every node's own\n"
    "package repositories (apt-cache madison / yum --showduplicates list),\n"
    "and for each stop the steps in GitLab's order: background migrations\n"
    "finished, `lockstep check` on every node, a rollback-point backup,\n"
    "the node steps (zero-downtime: one node at a time, Consul, PostgreSQL,\n"
    "PgBouncer, Redis, Gitaly, Praefect, the Rails deploy node with\n"
    "SKIP_POST_DEPLOYMENT_MIGRATIONS=true, the other Rails nodes, Sidekiq,\n"
    "then the post-deployment migrations; downtime: Puma and Sidekiq\n"
    "stopped, backends, the deploy node, the rest), and the checks after.\n"
    "Refuses a downgrade, a version no repository offers, nodes on\n"
    "different versions and nodes whose repositories give different paths.\n"
    "\n"
    "  --to VERSION        the target, X.Y.Z\n"
    "  --mode MODE         zero-downtime (default) or downtime\n"
    "  --stops FILE        GitLab's upgrade_path.yml to use instead of the\n"
    "                      shipped copy\n"
    "  --deploy-node NODE  the Rails node that runs the migrations\n"
    "                      (default: the first Rails node by name)\n"
    "  --refresh           nodes refresh their package lists first\n"
    "                      (apt-get update / yum makecache)\n"
    "  --json              the plan as one JSON object\n"
    "  --format FORMAT     the plan as a document for a change board or\n"
    "                      GitLab Support: text, markdown or json; adds\n"
    "                      the installation, the checks as they stand\n"
    "                      now (runs lockstep check), free space, the\n"
    "                      rollback plan and the risks\n"
    "  --output FILE       write the document there (atomically)\n"
    "  --supported-os FILE GitLab's supported operating systems table to\n"
    "                      use instead of the shipped copy (ID VERSION_ID\n"
    "                      FIRST LAST per line, as data/supported-os.txt)\n"
    "Exit 0 with a plan, 1 when the fleet cannot be upgraded so, 2 on a\n"
    "usage error.\n";

static const char run_usage[] =
    "usage: lockstep upgrade run --to VERSION [--mode zero-downtime|"
    "downtime] [--yes]\n"
    "                            [--bbm-timeout DURATION] [--backup-id ID]\n"
    "                            [--stops FILE] [--deploy-node NODE] "
    "[--refresh] [--json]\n"
    "\n"
    "Runs the plan `lockstep upgrade plan` prints (same options), stop by\n"
    "stop: batched background migrations finished (at most --bbm-timeout,\n"
    "default 6h, then it halts and names them), `lockstep check` on every\n"
    "node, a consistent backup as the stop's rollback point (--backup-id:\n"
    "use one taken at the current version for the first stop), the node\n"
    "steps in GitLab's order, the checks after. Every step is journaled:\n"
    "a halted run goes on with `lockstep run resume RUN`, and\n"
    "`lockstep rollback RUN` goes back to a rollback point. Asks for\n"
    "confirmation unless --yes, then follows the run (`lockstep run watch`).\n"
    "Exit 0 when the fleet runs VERSION, 1 when the run halted or was\n"
    "refused, 2 on a usage error.\n";

struct plan_args {
	const char *to, *mode, *stops, *deploy, *backup_id, *format, *output;
	const char *os_table;
	int refresh, run, yes;
	int64_t bbm_timeout_ms;
};

static int parse_args(int argc, char **argv, struct plan_args *a,
                      struct cli *cli)
{
	static const struct option opts[] = {
	    {"to", required_argument, NULL, 't'},
	    {"mode", required_argument, NULL, 'm'},
	    {"stops", required_argument, NULL, 's'},
	    {"deploy-node", required_argument, NULL, 'd'},
	    {"refresh", no_argument, NULL, 'r'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {"yes", no_argument, NULL, 'y'},
	    {"bbm-timeout", required_argument, NULL, 'b'},
	    {"backup-id", required_argument, NULL, 'i'},
	    {"format", required_argument, NULL, 'f'},
	    {"output", required_argument, NULL, 'o'},
	    {"supported-os", required_argument, NULL, 'S'},
	    {NULL, 0, NULL, 0},
	};
	int ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 't':
			a->to = optarg;
			break;
		case 'm':
			a->mode = optarg;
			break;
		case 's':
			a->stops = optarg;
			break;
		case 'd':
			a->deploy = optarg;
			break;
		case 'r':
			a->refresh = 1;
			break;
		case 'j':
			cli->json = 1;
			break;
		case 'f':
		case 'o':
		case 'S':
			if (a->run) {
				fprintf(stderr,
				        "lockstep upgrade run: %s is for "
				        "`upgrade plan`\n",
				        argv[optind - 1]);
				return CLI_USAGE;
			}
			if (ch == 'f')
				a->format = optarg;
			else if (ch == 'o')
				a->output = optarg;
			else
				a->os_table = optarg;
			break;
		case 'y':
		case 'b':
		case 'i':
			if (!a->run) {
				fprintf(stderr,
				        "lockstep upgrade plan: %s is "
				        "for `upgrade run`\n",
				        argv[optind - 1]);
				return CLI_USAGE;
			}
			if (ch == 'y')
				a->yes = 1;
			else if (ch == 'i')
				a->backup_id = optarg;
			else if (ls_parse_duration_ms(optarg,
			                              &a->bbm_timeout_ms) < 0 ||
			         a->bbm_timeout_ms <= 0) {
				fprintf(stderr,
				        "lockstep upgrade run: --bbm-timeout "
				        "'%s': a duration such as 30m or 6h\n",
				        optarg);
				return CLI_USAGE;
			}
			break;
		case 'h':
			fputs(a->run ? run_usage : plan_usage, stdout);
			return CLI_OK;
		default:
			fputs(a->run ? run_usage : plan_usage, stderr);
			return CLI_USAGE;
		}
	}
	if (optind != argc || a->to == NULL) {
		fprintf(stderr, "lockstep upgrade plan: %s\n%s",
		        optind != argc ? "unexpected argument"
		                       : "--to is required",
		        plan_usage);
		return CLI_USAGE;
	}
	if (a->format != NULL && !cli_upgrade_doc_format_ok(a->format)) {
		fprintf(
		    stderr,
		    "lockstep upgrade plan: --format '%s': text, markdown or "
		    "json\n",
		    a->format);
		return CLI_USAGE;
	}
	if ((a->output != NULL || a->os_table != NULL) && a->format == NULL) {
		fprintf(stderr,
		        "lockstep upgrade plan: --output and --supported-os "
		        "need --format text|markdown|json\n");
		return CLI_USAGE;
	}
	if (a->mode != NULL && strcmp(a->mode, "zero-downtime") != 0 &&
	    strcmp(a->mode, "downtime") != 0) {
		fprintf(stderr,
		        "lockstep upgrade plan: --mode '%s': zero-downtime or "
		        "downtime\n",
		        a->mode);
		return CLI_USAGE;
	}
	return -1;
}

static json_t *plan_json(const Ls__UpgradeResp *ur)
{
	json_t *o = json_object(), *path = json_array(), *steps = json_array(),
	       *notes = json_array(), *nodes = json_array();
	size_t i;

	json_object_set_new(o, "from", json_string(ur->from));
	json_object_set_new(o, "to", json_string(ur->to));
	json_object_set_new(o, "mode", json_string(ur->mode));
	if (ur->deploy_node)
		json_object_set_new(o, "deploy_node",
		                    json_string(ur->deploy_node));
	if (ur->run_id)
		json_object_set_new(o, "run_id", json_string(ur->run_id));
	for (i = 0; i < ur->n_stops; i++) {
		json_t *x =
		    json_pack("{s:s, s:s}", "version", ur->stops[i]->version,
		              "why", ur->stops[i]->why);
		if (ur->stops[i]->comment)
			json_object_set_new(x, "comment",
			                    json_string(ur->stops[i]->comment));
		json_array_append_new(path, x);
	}
	for (i = 0; i < ur->n_nodes; i++) {
		const Ls__NodeVersions *n = ur->nodes[i];
		json_t *x = json_pack("{s:s}", "node", n->node);
		if (n->version)
			json_object_set_new(x, "version",
			                    json_string(n->version));
		if (n->package)
			json_object_set_new(x, "package",
			                    json_string(n->package));
		if (n->manager)
			json_object_set_new(x, "manager",
			                    json_string(n->manager));
		if (n->has_available)
			json_object_set_new(x, "available",
			                    json_integer(n->available));
		if (n->error)
			json_object_set_new(x, "error", json_string(n->error));
		json_array_append_new(nodes, x);
	}
	for (i = 0; i < ur->n_plan; i++) {
		const Ls__PlanStep *s = ur->plan[i];
		json_array_append_new(
		    steps, json_pack("{s:i, s:i, s:s, s:s}", "seq", (int)s->seq,
		                     "phase", (int)s->phase, "node", s->node,
		                     "name", s->name));
	}
	for (i = 0; i < ur->n_notes; i++)
		json_array_append_new(notes, json_string(ur->notes[i]));
	json_object_set_new(o, "path", path);
	json_object_set_new(o, "nodes", nodes);
	json_object_set_new(o, "steps", steps);
	json_object_set_new(o, "notes", notes);
	return o;
}

void cli_upgrade_print_plan(const Ls__UpgradeResp *ur)
{
	const char *stop_ver = NULL;
	uint32_t phase = 0;
	size_t i;

	printf("Upgrade %s -> %s (%s)%s%s\n", ur->from, ur->to, ur->mode,
	       ur->deploy_node ? ", deploy node " : "",
	       ur->deploy_node ? ur->deploy_node : "");
	printf("\nPath:\n");
	for (i = 0; i < ur->n_stops; i++)
		printf("  %2zu. %-10s %s%s%s\n", i + 1, ur->stops[i]->version,
		       ur->stops[i]->why, ur->stops[i]->comment ? ": " : "",
		       ur->stops[i]->comment ? ur->stops[i]->comment : "");
	if (ur->n_nodes > 0)
		printf("\nNodes:\n");
	for (i = 0; i < ur->n_nodes; i++) {
		const Ls__NodeVersions *n = ur->nodes[i];
		if (n->error)
			printf("  %-16s %s\n", n->node, n->error);
		else
			printf("  %-16s %-10s %s (%s, %u versions offered)\n",
			       n->node, n->version ? n->version : "?",
			       n->package ? n->package : "?",
			       n->manager ? n->manager : "?", n->available);
	}
	for (i = 0; i < ur->n_plan; i++) {
		const Ls__PlanStep *s = ur->plan[i];
		const char *colon = strchr(s->name, ':');
		size_t vlen = colon ? (size_t)(colon - s->name) : 0;

		/* Step names start with their stop's version. */
		if (stop_ver == NULL || strncmp(stop_ver, s->name, vlen) != 0 ||
		    stop_ver[vlen] != ':') {
			printf("\nStop %.*s:\n", (int)vlen, s->name);
			stop_ver = s->name;
		} else if (s->phase != phase) {
			printf("\n");
		}
		printf("  %4u  %-16s %s\n", s->seq, s->node[0] ? s->node : "-",
		       colon ? colon + 2 : s->name);
		phase = s->phase;
	}
	for (i = 0; i < ur->n_notes; i++)
		printf("%snote: %s\n", i == 0 ? "\n" : "", ur->notes[i]);
}

static int confirm(const Ls__UpgradeResp *ur)
{
	char line[64];

	if (!isatty(STDIN_FILENO)) {
		fprintf(stderr, "lockstep: not confirmed: stdin is not a "
		                "terminal (use --yes)\n");
		return 0;
	}
	printf("\nThis upgrades every node of the fleet to %s. Type the "
	       "version to go on: ",
	       ur->to);
	fflush(stdout);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return 0;
	line[strcspn(line, "\r\n")] = '\0';
	return strcmp(line, ur->to) == 0;
}

/* One upgrade request: the plan only (dry_run) or the run. */
static int request(struct cli *cli, const struct plan_args *a,
                   const char *stops, size_t stops_len, int dry_run,
                   Ls__ControlResp **resp)
{
	Ls__ControlReq req = LS__CONTROL_REQ__INIT;
	Ls__UpgradeReq ur = LS__UPGRADE_REQ__INIT;
	int rv;

	ur.to = (char *)a->to;
	ur.mode = (char *)a->mode;
	ur.deploy_node = (char *)a->deploy;
	ur.backup_id = (char *)a->backup_id;
	ur.has_dry_run = 1;
	ur.dry_run = dry_run;
	ur.has_refresh = a->refresh;
	ur.refresh = a->refresh;
	if (a->bbm_timeout_ms > 0) {
		ur.has_bbm_timeout_ms = 1;
		ur.bbm_timeout_ms = (uint64_t)a->bbm_timeout_ms;
	}
	if (stops != NULL) {
		ur.has_stops = 1;
		ur.stops.data = (uint8_t *)stops;
		ur.stops.len = stops_len;
	}
	req.kind_case = LS__CONTROL_REQ__KIND_UPGRADE;
	req.upgrade = &ur;
	if ((rv = cli_call(cli, &req, resp, PLAN_TIMEOUT_MS)) != CLI_OK)
		return rv;
	if ((*resp)->kind_case != LS__CONTROL_RESP__KIND_UPGRADE) {
		fprintf(stderr, "lockstep: unexpected answer\n");
		ls__control_resp__free_unpacked(*resp, NULL);
		*resp = NULL;
		return CLI_FAIL;
	}
	return CLI_OK;
}

static int plan_or_run(struct cli *cli, int argc, char **argv, int run)
{
	Ls__ControlResp *resp = NULL;
	struct plan_args a;
	char *stops = NULL, run_id[128];
	size_t stops_len = 0;
	int rv;

	memset(&a, 0, sizeof(a));
	a.run = run;
	if ((rv = parse_args(argc, argv, &a, cli)) >= 0)
		return rv;
	if (a.stops != NULL && (rv = ls_read_file(a.stops, UP_STOPS_FILE_MAX,
	                                          &stops, &stops_len)) < 0) {
		fprintf(stderr, "lockstep upgrade: %s: %s\n", a.stops,
		        ls_strerror(rv));
		return CLI_USAGE;
	}
	if (!run || !a.yes) {
		if ((rv = request(cli, &a, stops, stops_len, 1, &resp)) !=
		    CLI_OK)
			goto out;
		if (a.format != NULL) {
			json_t *pj = plan_json(resp->upgrade);
			struct cli_upgrade_doc_opts o = {a.format, a.output,
			                                 a.os_table};
			rv = cli_upgrade_doc(cli, resp->upgrade, pj, &o);
			json_decref(pj);
			goto out;
		}
		if (cli->json && !run)
			cli_print_json(plan_json(resp->upgrade));
		else if (!cli->json)
			cli_upgrade_print_plan(resp->upgrade);
		if (!run)
			goto out;
		if (!confirm(resp->upgrade)) {
			rv = CLI_FAIL;
			goto out;
		}
		ls__control_resp__free_unpacked(resp, NULL);
		resp = NULL;
	}
	if ((rv = request(cli, &a, stops, stops_len, 0, &resp)) != CLI_OK)
		goto out;
	if (resp->upgrade->run_id == NULL) {
		fprintf(stderr, "lockstep: the coordinator started no run\n");
		rv = CLI_FAIL;
		goto out;
	}
	ls_strlcpy(run_id, resp->upgrade->run_id, sizeof(run_id));
	if (!cli->json)
		printf("\nupgrade run %s started\n", run_id);
	fflush(stdout);
	rv = cli_run_watch(cli, run_id);
out:
	if (resp)
		ls__control_resp__free_unpacked(resp, NULL);
	free(stops);
	return rv;
}

int cli_upgrade_plan(struct cli *cli, int argc, char **argv)
{
	return plan_or_run(cli, argc, argv, strcmp(argv[0], "run") == 0);
}
