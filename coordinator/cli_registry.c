/* lockstep registry migrate: the container registry's metadata database
 * migrations, listed and applied through one node's agent. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "coord_registry.h"
#include "ls_error.h"
#include "ls_util.h"

/* Beyond the coordinator's own wait, for the answer to come back. */
#define CALL_SLACK_MS 30000

static const char registry_usage[] =
    "usage: lockstep registry migrate --release NAME --namespace NS\n"
    "                                 [--kube-node NODE] [options]\n"
    "                                 [--separate-release NAME2\n"
    "                                  --migrations-namespace NS2]\n"
    "       lockstep registry migrate [--node NODE] [options]\n"
    "\n"
    "The container registry's metadata database migrations, the supported\n"
    "way (GitLab deploys the registry with SKIP_POST_DEPLOYMENT_MIGRATIONS\n"
    "and runs the post-deployment ones afterwards): lists every migration\n"
    "(post-deployment ones marked), then applies the pending ones and says\n"
    "which were applied, with the end of the tool's output.\n"
    "  With --release: `registry database migrate status|up\n"
    "  /etc/docker/registry/config.yml` in one registry pod of the chart's\n"
    "  release, through kubectl on the node with the kubernetes role.\n"
    "  Without: `gitlab-ctl registry-database migrate status|up` on the\n"
    "  Linux-package node with the registry role.\n"
    "Refused, naming why, when the registry has no metadata database, or\n"
    "when its database connection goes through PgBouncer: post-deployment\n"
    "migrations need the PostgreSQL primary directly, without statement\n"
    "timeouts (set the registry's database.primary, or point it at the\n"
    "primary). A dry run is never refused for PgBouncer.\n"
    "\n"
    "  --release NAME          the chart's Helm release, with --namespace\n"
    "  --namespace NS          its namespace\n"
    "  --kube-node NODE        the node that runs kubectl (default: the one\n"
    "                          node with the kubernetes role)\n"
    "  --node NODE             the Linux-package registry node (default: the\n"
    "                          one node with the registry role)\n"
    "  --separate-release NAME2, --migrations-namespace NS2\n"
    "                          GitLab.com's own automation, which GitLab\n"
    "                          does NOT recommend for other installations:\n"
    "                          instead of `migrate up` in a pod, helm\n"
    "                          installs or upgrades a second release NAME2\n"
    "                          in NS2 of the same chart version, with NAME's\n"
    "                          values, registry.api.enabled=false and\n"
    "                          SKIP_POST_DEPLOYMENT_MIGRATIONS=false, and\n"
    "                          waits for its migrations job (kubernetes.chart\n"
    "                          of the node's agent.yml names the chart,\n"
    "                          default gitlab/gitlab). Nothing pending: NAME2\n"
    "                          is left alone\n"
    "  --dry-run               list the migrations, apply none\n"
    "  --skip-post-deployment  apply the regular migrations only\n"
    "  --timeout DURATION      how long to wait for the node (default 2h,\n"
    "                          at most 24h); migrations may rewrite large\n"
    "                          tables. The agent's op_timeout (default 1h)\n"
    "                          bounds the commands themselves\n"
    "  --json                  one object: node, release, namespace,\n"
    "                          dry_run, migrations [{name, post_deployment,\n"
    "                          applied}], pending, applied, nothing_to_do,\n"
    "                          output_tail\n"
    "\n"
    "Exit 0 when the migrations were listed (and, unless --dry-run,\n"
    "applied), 1 when the node refused or failed (its message names why),\n"
    "2 on a usage error.\n";

static json_t *resp_json(const Ls__RegistryMigrateResp *rr)
{
	const Ls__RegistryMigrateResult *g = rr->result;
	json_t *o = json_object(), *all = json_array(), *pend = json_array(),
	       *app = json_array();
	size_t i;

	json_object_set_new(o, "node", json_string(rr->node));
	json_object_set_new(
	    o, "release", rr->release ? json_string(rr->release) : json_null());
	json_object_set_new(o, "namespace",
	                    rr->namespace_ ? json_string(rr->namespace_)
	                                   : json_null());
	json_object_set_new(o, "dry_run", json_boolean(rr->dry_run));
	if (rr->separate_release)
		json_object_set_new(o, "separate_release",
		                    json_pack("{s:s, s:s}", "name",
		                              rr->separate_release, "namespace",
		                              rr->migrations_namespace
		                                  ? rr->migrations_namespace
		                                  : ""));
	for (i = 0; i < g->n_before; i++) {
		const Ls__RegistryMigration *m = g->before[i];
		json_array_append_new(all, json_pack("{s:s, s:b, s:b}", "name",
		                                     m->name, "post_deployment",
		                                     m->post_deployment,
		                                     "applied", m->applied));
		if (!m->applied)
			json_array_append_new(pend, json_string(m->name));
	}
	for (i = 0; i < g->n_applied; i++)
		json_array_append_new(app, json_string(g->applied[i]));
	json_object_set_new(o, "migrations", all);
	json_object_set_new(o, "pending", pend);
	json_object_set_new(o, "applied", app);
	json_object_set_new(o, "nothing_to_do",
	                    json_boolean(json_array_size(pend) == 0));
	json_object_set_new(o, "output_tail",
	                    g->output_tail ? json_string(g->output_tail)
	                                   : json_null());
	return o;
}

static void resp_print(const Ls__RegistryMigrateResp *rr, int skip_post)
{
	const Ls__RegistryMigrateResult *g = rr->result;
	size_t i, pending = 0, post = 0, left_post = 0;
	const char *p, *nl;

	if (rr->release)
		printf("registry of release %s in %s (through %s)\n",
		       rr->release, rr->namespace_ ? rr->namespace_ : "?",
		       rr->node);
	if (rr->separate_release)
		printf("applied by the separate release %s in %s (GitLab.com's "
		       "automation)\n",
		       rr->separate_release,
		       rr->migrations_namespace ? rr->migrations_namespace
		                                : "?");
	else
		printf("registry on %s (gitlab-ctl registry-database)\n",
		       rr->node);
	for (i = 0; i < g->n_before; i++)
		if (!g->before[i]->applied) {
			pending++;
			post += g->before[i]->post_deployment;
		}
	if (pending == 0) {
		printf("nothing to do: all %zu migrations are applied\n",
		       g->n_before);
	} else {
		printf("pending migrations: %zu (%zu post-deployment)\n",
		       pending, post);
		for (i = 0; i < g->n_before; i++)
			if (!g->before[i]->applied)
				printf("  %s%s\n", g->before[i]->name,
				       g->before[i]->post_deployment
				           ? " (post deployment)"
				           : "");
	}
	if (rr->dry_run) {
		if (pending > 0)
			printf("dry run: none applied\n");
		return;
	}
	if (pending > 0) {
		printf("applied: %zu\n", g->n_applied);
		for (i = 0; i < g->n_applied; i++)
			printf("  %s\n", g->applied[i]);
	}
	if (skip_post) {
		for (i = 0; i < g->n_before; i++)
			left_post += !g->before[i]->applied &&
			             g->before[i]->post_deployment;
		if (left_post > 0)
			printf("left pending (--skip-post-deployment): %zu "
			       "post-deployment migration(s)\n",
			       left_post);
	}
	if (g->output_tail == NULL || g->output_tail[0] == '\0')
		return;
	printf("output:\n");
	for (p = g->output_tail; *p; p = nl ? nl + 1 : p + strlen(p)) {
		nl = strchr(p, '\n');
		printf("  %.*s\n", nl ? (int)(nl - p) : (int)strlen(p), p);
	}
}

static int migrate(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"release", required_argument, NULL, 'r'},
	    {"namespace", required_argument, NULL, 'n'},
	    {"kube-node", required_argument, NULL, 'k'},
	    {"node", required_argument, NULL, 'N'},
	    {"dry-run", no_argument, NULL, 'd'},
	    {"skip-post-deployment", no_argument, NULL, 's'},
	    {"timeout", required_argument, NULL, 't'},
	    {"separate-release", required_argument, NULL, 'S'},
	    {"migrations-namespace", required_argument, NULL, 'M'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	Ls__ControlReq req = LS__CONTROL_REQ__INIT;
	Ls__RegistryMigrateReq rm = LS__REGISTRY_MIGRATE_REQ__INIT;
	Ls__ControlResp *resp = NULL;
	int64_t timeout = COORD_REGISTRY_TIMEOUT_MS;
	int ch, rv;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'r':
			rm.release = optarg;
			break;
		case 'n':
			rm.namespace_ = optarg;
			break;
		case 'k':
			rm.kube_node = optarg;
			break;
		case 'N':
			rm.node = optarg;
			break;
		case 'd':
			rm.has_dry_run = rm.dry_run = 1;
			break;
		case 's':
			rm.has_skip_post_deployment = rm.skip_post_deployment =
			    1;
			break;
		case 't':
			if (ls_parse_duration_ms(optarg, &timeout) < 0 ||
			    timeout < 1000 ||
			    timeout > COORD_REGISTRY_TIMEOUT_MAX_MS) {
				fprintf(stderr,
				        "lockstep: --timeout '%.64s': a "
				        "duration from 1s to 24h\n",
				        optarg);
				return CLI_USAGE;
			}
			rm.has_timeout_ms = 1;
			rm.timeout_ms = (uint64_t)timeout;
			break;
		case 'S':
			rm.separate_release = optarg;
			break;
		case 'M':
			rm.migrations_namespace = optarg;
			break;
		case 'j':
			cli->json = 1;
			break;
		case 'h':
			fputs(registry_usage, stdout);
			return CLI_OK;
		default:
			fputs(registry_usage, stderr);
			return CLI_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "lockstep: unexpected '%s'\n\n", argv[optind]);
		fputs(registry_usage, stderr);
		return CLI_USAGE;
	}
	if ((rm.release != NULL) != (rm.namespace_ != NULL)) {
		fprintf(stderr,
		        "lockstep: --release and --namespace go together\n");
		return CLI_USAGE;
	}
	if (rm.release != NULL && rm.node != NULL) {
		fprintf(stderr, "lockstep: --release (a chart's registry pod) "
		                "or --node (a Linux-package registry node), "
		                "not both\n");
		return CLI_USAGE;
	}
	if ((rm.separate_release != NULL) !=
	    (rm.migrations_namespace != NULL)) {
		fprintf(stderr, "lockstep: --separate-release and "
		                "--migrations-namespace go together\n");
		return CLI_USAGE;
	}
	if (rm.release == NULL && rm.separate_release != NULL) {
		fprintf(stderr,
		        "lockstep: --separate-release goes only with "
		        "--release: it is a second release of that chart\n");
		return CLI_USAGE;
	}
	if (rm.release == NULL && rm.kube_node != NULL) {
		fprintf(stderr,
		        "lockstep: --kube-node goes only with --release\n");
		return CLI_USAGE;
	}
	req.kind_case = LS__CONTROL_REQ__KIND_REGISTRY_MIGRATE;
	req.registry_migrate = &rm;
	if ((rv = cli_call(cli, &req, &resp, (int)(timeout + CALL_SLACK_MS))) !=
	    CLI_OK)
		return rv;
	if (resp->kind_case != LS__CONTROL_RESP__KIND_REGISTRY_MIGRATE ||
	    resp->registry_migrate == NULL ||
	    resp->registry_migrate->result == NULL) {
		fprintf(stderr, "lockstep: the coordinator answered without "
		                "the migrations\n");
		ls__control_resp__free_unpacked(resp, NULL);
		return CLI_FAIL;
	}
	if (cli->json)
		cli_print_json(resp_json(resp->registry_migrate));
	else
		resp_print(resp->registry_migrate, rm.skip_post_deployment);
	ls__control_resp__free_unpacked(resp, NULL);
	return CLI_OK;
}

int cli_registry(struct cli *cli, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "migrate") == 0)
		return migrate(cli, argc - 1, argv + 1);
	if (argc >= 2 &&
	    (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(registry_usage, stdout);
		return CLI_OK;
	}
	fprintf(stderr, "lockstep: registry needs a subcommand: migrate\n\n");
	fputs(registry_usage, stderr);
	return CLI_USAGE;
}
