/* lockstep cutover plan|run|rollback: moving the fleet onto the GitLab
 * Helm chart, its prerequisites checked, the move as one run, and the
 * chart's Secrets and replica counts put back. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "cli.h"
#include "ls_error.h"
#include "ls_util.h"

#define CALL_TIMEOUT_MS 30000

static const char cutover_usage[] =
    "usage: lockstep cutover plan --release NAME --namespace NS\n"
    "                             [--kube-node NODE] [--deploy-node NODE]\n"
    "                             [--json]\n"
    "\n"
    "Checks, without changing anything, what moving this Linux-package\n"
    "fleet onto the GitLab Helm chart needs (GitLab's \"Migrate from the\n"
    "Linux package to the Helm chart\"), each reported pass or fail:\n"
    "  - every service of every node up (gitlab-ctl status);\n"
    "  - git fsck of every repository of every Gitaly node, with progress;\n"
    "  - the chart's Helm release exists, is deployed and runs exactly the\n"
    "    fleet's GitLab version, with object storage configured (its\n"
    "    connection secret exists) and a ready toolbox pod;\n"
    "  - which file components still have rows on local storage.\n"
    "Then it lists the steps a cutover takes and what each touches.\n"
    "kubectl and helm run on the node with the kubernetes role.\n"
    "\n"
    "  --release NAME      the chart's Helm release\n"
    "  --namespace NS      its namespace\n"
    "  --kube-node NODE    the node that runs kubectl and helm (default:\n"
    "                      the one node with the kubernetes role)\n"
    "  --deploy-node NODE  the Rails node that runs GitLab's Rake tasks\n"
    "                      (default: the first Rails node by name)\n"
    "  --json              one object: run, prerequisites, steps\n"
    "\n"
    "The checks are a run (`lockstep run show ID`). Exit 0 when every\n"
    "prerequisite is met, 1 when one is not, 2 on a usage error.\n"
    "\n"
    "usage: lockstep cutover run --release NAME --namespace NS [--yes]\n"
    "                            [--kube-node NODE] [--deploy-node NODE]\n"
    "                            [--migrate-timeout DUR] [--ready-timeout "
    "DUR]\n"
    "                            [--json]\n"
    "\n"
    "The same prerequisites (any failure ends the run before anything is\n"
    "changed), then the cutover as one journaled run, each step after the\n"
    "last: GitLab's Rake tasks move local files to object storage and the\n"
    "run waits until no row is local (--migrate-timeout, default 1h); a\n"
    "fleet backup without those components; the chart's Secrets replaced\n"
    "from gitlab-secrets.json (the old ones kept, sealed); webservice and\n"
    "sidekiq scaled to 0; the backup restored in the toolbox pod with\n"
    "backup-utility --restore (its output in the coordinator's log); the\n"
    "replicas back; every pod restarted and ready (--ready-timeout, default\n"
    "15m); the chart side verified against the backup. The Linux-package\n"
    "fleet is left untouched and serving: switch traffic yourself when the\n"
    "run is done. A run halted at a step resumes with `lockstep run resume\n"
    "ID`. Asks to type the release name unless --yes. Exit 0 when the run\n"
    "is done, 1 when it failed or halted.\n"
    "\n"
    "usage: lockstep cutover rollback RUN_ID [--yes] [--ready-timeout DUR]\n"
    "                                        [--json]\n"
    "\n"
    "Puts back what cutover run RUN_ID changed in the chart: its previous\n"
    "Secrets and the webservice and sidekiq replica counts, then restarts\n"
    "every pod of the release. A halted RUN_ID is given up for good. The\n"
    "chart's database as restored stays as it is.\n";

/* The steps a cutover run takes, as (what, touches) pairs. */
static void steps_of(const Ls__CutoverResp *cr, const char *release,
                     const char *ns, char out[][2][400], size_t *n)
{
	const char *kube = cr->kube_node ? cr->kube_node : "?";
	const char *deploy = cr->deploy_node ? cr->deploy_node : "?";

	*n = 0;
	snprintf(out[*n][0], 400, "move files to object storage");
	snprintf(out[*n][1], 400,
	         "%s: gitlab-rake gitlab:<component>:migrate for each "
	         "component above still on local storage, then waits until "
	         "no row is local",
	         deploy);
	(*n)++;
	snprintf(out[*n][0], 400, "fleet backup");
	snprintf(out[*n][1], 400,
	         "every GitLab node: a consistent backup without the moved "
	         "components, exported as <id>_gitlab_backup.tar");
	(*n)++;
	snprintf(out[*n][0], 400, "secrets");
	snprintf(out[*n][1], 400,
	         "%s: the chart's Secrets (%s-rails-secret and the others of "
	         "gitlab-secrets.json) in %s replaced from %s's "
	         "gitlab-secrets.json; the old ones kept sealed for a "
	         "rollback",
	         kube, release, ns, deploy);
	(*n)++;
	snprintf(out[*n][0], 400, "restore");
	snprintf(out[*n][1], 400,
	         "%s: %s's webservice and sidekiq deployments scaled to 0, "
	         "the backup copied into the toolbox pod and restored there "
	         "with backup-utility --restore",
	         kube, release);
	(*n)++;
	snprintf(out[*n][0], 400, "restart");
	snprintf(out[*n][1], 400,
	         "%s: replicas back to their counts, kubectl delete pods "
	         "-lrelease=%s, every pod ready",
	         kube, release);
	(*n)++;
	snprintf(out[*n][0], 400, "verify");
	snprintf(out[*n][1], 400,
	         "both instances: counts of projects, groups, users, issues, "
	         "merge requests and uploads, every repository's refs, a "
	         "sample of uploads; the Linux-package fleet is left serving "
	         "until traffic is switched");
	(*n)++;
}

static json_t *plan_json(const Ls__CutoverResp *cr, const Ls__RunInfo *ri,
                         const char *release, const char *ns)
{
	json_t *o = json_object(), *pre = json_array(), *st = json_array();
	char steps[8][2][400];
	size_t i, n;

	json_object_set_new(o, "run", json_string(ri->id));
	json_object_set_new(o, "state", json_string(ri->state));
	json_object_set_new(o, "release", json_string(release));
	json_object_set_new(o, "namespace", json_string(ns));
	if (cr->fleet_version)
		json_object_set_new(o, "gitlab_version",
		                    json_string(cr->fleet_version));
	if (cr->kube_node)
		json_object_set_new(o, "kube_node", json_string(cr->kube_node));
	if (cr->deploy_node)
		json_object_set_new(o, "deploy_node",
		                    json_string(cr->deploy_node));
	for (i = 0; i < ri->n_steps; i++) {
		const Ls__RunStepInfo *s = ri->steps[i];
		json_t *x =
		    json_pack("{s:s, s:s, s:b}", "node", s->node, "check",
		              s->name, "ok", strcmp(s->state, "done") == 0);
		if (s->detail)
			json_object_set_new(x, "detail",
			                    json_string(s->detail));
		if (s->error)
			json_object_set_new(x, "reason", json_string(s->error));
		json_array_append_new(pre, x);
	}
	json_object_set_new(o, "prerequisites", pre);
	steps_of(cr, release, ns, steps, &n);
	for (i = 0; i < n; i++)
		json_array_append_new(st, json_pack("{s:s, s:s}", "step",
		                                    steps[i][0], "touches",
		                                    steps[i][1]));
	json_object_set_new(o, "steps", st);
	return o;
}

static void plan_print(const Ls__CutoverResp *cr, const Ls__RunInfo *ri,
                       const char *release, const char *ns)
{
	char steps[8][2][400];
	size_t i, n;

	printf("\nprerequisites (GitLab %s, release %s in %s):\n",
	       cr->fleet_version ? cr->fleet_version : "?", release, ns);
	for (i = 0; i < ri->n_steps; i++) {
		const Ls__RunStepInfo *s = ri->steps[i];
		int ok = strcmp(s->state, "done") == 0;
		printf("  %-4s %-16s %s\n       %s\n", ok ? "PASS" : "FAIL",
		       s->node, s->name,
		       ok ? (s->detail ? s->detail : "")
		          : (s->error ? s->error : s->state));
	}
	steps_of(cr, release, ns, steps, &n);
	printf("\na cutover run takes these steps:\n");
	for (i = 0; i < n; i++)
		printf("  %zu. %s\n     %s\n", i + 1, steps[i][0], steps[i][1]);
	printf("\n%s\n", strcmp(ri->state, "done") == 0
	                     ? "every prerequisite is met"
	                     : (ri->reason ? ri->reason : ri->state));
}

/* Polls run id until it has ended; *out is its last show. */
static int wait_end(struct cli *cli, const char *id, Ls__ControlResp **out)
{
	int rv;

	for (;;) {
		if ((rv = cli_run_show_once(cli, id, out)) != CLI_OK)
			return rv;
		if (strcmp((*out)->run_show->state, "running") != 0)
			return CLI_OK;
		ls__control_resp__free_unpacked(*out, NULL);
		*out = NULL;
		nng_msleep(250);
	}
}

/* Options of plan, run and rollback; 1 to go on, or a CLI_ exit in *rv. */
static int parse_run(struct cli *cli, int argc, char **argv, Ls__CutoverReq *co,
                     int *yes, int *rv)
{
	static const struct option opts[] = {
	    {"release", required_argument, NULL, 'r'},
	    {"namespace", required_argument, NULL, 'n'},
	    {"kube-node", required_argument, NULL, 'k'},
	    {"deploy-node", required_argument, NULL, 'd'},
	    {"migrate-timeout", required_argument, NULL, 'm'},
	    {"ready-timeout", required_argument, NULL, 't'},
	    {"yes", no_argument, NULL, 'y'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int64_t ms;
	int c;

	/* 0: glibc starts afresh, permuting RUN_ID after the options. */
	optind = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			co->release = optarg;
			break;
		case 'n':
			co->namespace_ = optarg;
			break;
		case 'k':
			co->kube_node = optarg;
			break;
		case 'd':
			co->deploy_node = optarg;
			break;
		case 'm':
		case 't':
			if (ls_parse_duration_ms(optarg, &ms) < 0 || ms <= 0 ||
			    (c == 't' && ms > UINT32_MAX)) {
				fprintf(stderr,
				        "lockstep cutover: --%s '%s' is not a "
				        "duration (30s, 15m, 2h)\n",
				        c == 'm' ? "migrate-timeout"
				                 : "ready-timeout",
				        optarg);
				*rv = CLI_USAGE;
				return 0;
			}
			if (c == 'm') {
				co->has_migrate_timeout_ms = 1;
				co->migrate_timeout_ms = (uint64_t)ms;
			} else {
				co->has_ready_timeout_ms = 1;
				co->ready_timeout_ms = (uint64_t)ms;
			}
			break;
		case 'y':
			*yes = 1;
			break;
		case 'j':
			cli->json = 1;
			break;
		case 'h':
			fputs(cutover_usage, stdout);
			*rv = CLI_OK;
			return 0;
		default:
			fputs(cutover_usage, stderr);
			*rv = CLI_USAGE;
			return 0;
		}
	}
	return 1;
}

static int cutover_plan(struct cli *cli, int argc, char **argv)
{
	Ls__ControlReq req = LS__CONTROL_REQ__INIT;
	Ls__CutoverReq co = LS__CUTOVER_REQ__INIT;
	Ls__ControlResp *resp = NULL, *show = NULL;
	int yes = 0, rv = CLI_OK;

	if (!parse_run(cli, argc, argv, &co, &yes, &rv))
		return rv;
	if (yes || co.has_migrate_timeout_ms || co.has_ready_timeout_ms) {
		fprintf(stderr,
		        "lockstep cutover plan: --yes, --migrate-timeout and "
		        "--ready-timeout are for cutover run\n\n%s",
		        cutover_usage);
		return CLI_USAGE;
	}
	if (optind != argc || co.release == NULL || co.namespace_ == NULL) {
		fprintf(stderr, "lockstep cutover plan: %s\n\n%s",
		        optind != argc
		            ? "unexpected argument"
		            : "--release and --namespace are required",
		        cutover_usage);
		return CLI_USAGE;
	}
	co.has_plan = 1;
	co.plan = 1;
	req.kind_case = LS__CONTROL_REQ__KIND_CUTOVER;
	req.cutover = &co;
	if ((rv = cli_call(cli, &req, &resp, CALL_TIMEOUT_MS)) != CLI_OK)
		return rv;
	if (resp->kind_case != LS__CONTROL_RESP__KIND_CUTOVER) {
		fprintf(stderr, "lockstep: unexpected answer\n");
		rv = CLI_FAIL;
		goto out;
	}
	if (!cli->json) {
		printf("cutover plan %s: checking the prerequisites\n",
		       resp->cutover->run_id);
		/* Step lines and fsck progress as they come. */
		(void)cli_run_follow(cli, resp->cutover->run_id, 0);
	}
	if ((rv = wait_end(cli, resp->cutover->run_id, &show)) != CLI_OK)
		goto out;
	if (cli->json)
		cli_print_json(plan_json(resp->cutover, show->run_show,
		                         co.release, co.namespace_));
	else
		plan_print(resp->cutover, show->run_show, co.release,
		           co.namespace_);
	rv = strcmp(show->run_show->state, "done") == 0 ? CLI_OK : CLI_FAIL;
out:
	if (show)
		ls__control_resp__free_unpacked(show, NULL);
	ls__control_resp__free_unpacked(resp, NULL);
	return rv;
}

/* Sends co, then follows the run it started to its end. */
static int start_and_follow(struct cli *cli, Ls__CutoverReq *co,
                            const char *what)
{
	Ls__ControlReq req = LS__CONTROL_REQ__INIT;
	Ls__ControlResp *resp = NULL;
	int rv;

	req.kind_case = LS__CONTROL_REQ__KIND_CUTOVER;
	req.cutover = co;
	if ((rv = cli_call(cli, &req, &resp, CALL_TIMEOUT_MS)) != CLI_OK)
		return rv;
	if (resp->kind_case != LS__CONTROL_RESP__KIND_CUTOVER) {
		fprintf(stderr, "lockstep: unexpected answer\n");
		ls__control_resp__free_unpacked(resp, NULL);
		return CLI_FAIL;
	}
	if (!cli->json)
		printf("%s %s: %zu steps (lockstep run show %s)\n", what,
		       resp->cutover->run_id, resp->cutover->n_plan,
		       resp->cutover->run_id);
	rv = cli_run_follow(cli, resp->cutover->run_id, 1);
	ls__control_resp__free_unpacked(resp, NULL);
	return rv;
}

static int cutover_run(struct cli *cli, int argc, char **argv)
{
	Ls__CutoverReq co = LS__CUTOVER_REQ__INIT;
	char warning[600];
	int yes = 0, rv = CLI_OK;

	if (!parse_run(cli, argc, argv, &co, &yes, &rv))
		return rv;
	if (optind != argc || co.release == NULL || co.namespace_ == NULL) {
		fprintf(stderr, "lockstep cutover run: %s\n\n%s",
		        optind != argc
		            ? "unexpected argument"
		            : "--release and --namespace are required",
		        cutover_usage);
		return CLI_USAGE;
	}
	ls_fmt(warning, sizeof(warning),
	       "This replaces the Secrets of Helm release %s in namespace %s "
	       "and restores this fleet's data into it (the chart's own "
	       "data is overwritten); it moves the fleet's local files to "
	       "object storage first.",
	       co.release, co.namespace_);
	if (!yes && !cli_confirm(warning, co.release)) {
		fprintf(stderr, "lockstep: cutover not confirmed; nothing "
		                "done\n");
		return CLI_FAIL;
	}
	return start_and_follow(cli, &co, "cutover");
}

static int cutover_rollback(struct cli *cli, int argc, char **argv)
{
	Ls__CutoverReq co = LS__CUTOVER_REQ__INIT;
	char warning[300];
	int yes = 0, rv = CLI_OK;

	if (!parse_run(cli, argc, argv, &co, &yes, &rv))
		return rv;
	if (optind + 1 != argc || co.release || co.namespace_ || co.kube_node ||
	    co.deploy_node || co.has_migrate_timeout_ms) {
		fprintf(stderr, "lockstep cutover rollback: %s\n\n%s",
		        optind + 1 > argc ? "RUN_ID is required"
		        : optind + 1 < argc
		            ? "unexpected argument"
		            : "the release and nodes are the run's own: only "
		              "--yes, --ready-timeout and --json apply",
		        cutover_usage);
		return CLI_USAGE;
	}
	co.rollback_run = argv[optind];
	/* The coordinator wants them; it takes the run's own. */
	co.release = "";
	co.namespace_ = "";
	ls_fmt(warning, sizeof(warning),
	       "This puts back the chart's Secrets and replica counts as "
	       "they were before cutover run %s, and restarts its pods.",
	       co.rollback_run);
	if (!yes && !cli_confirm(warning, co.rollback_run)) {
		fprintf(stderr, "lockstep: rollback not confirmed; nothing "
		                "done\n");
		return CLI_FAIL;
	}
	return start_and_follow(cli, &co, "cutover rollback");
}

int cli_cutover(struct cli *cli, int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		fputs(cutover_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_USAGE : CLI_OK;
	}
	if (strcmp(argv[1], "plan") == 0)
		return cutover_plan(cli, argc - 1, argv + 1);
	if (strcmp(argv[1], "run") == 0)
		return cutover_run(cli, argc - 1, argv + 1);
	if (strcmp(argv[1], "rollback") == 0)
		return cutover_rollback(cli, argc - 1, argv + 1);
	fprintf(stderr, "lockstep cutover: unknown command '%s'\n\n%s", argv[1],
	        cutover_usage);
	return CLI_USAGE;
}
