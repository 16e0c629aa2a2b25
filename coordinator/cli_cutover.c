/* lockstep cutover plan: the prerequisites of moving the fleet onto the
 * GitLab Helm chart, checked now, and the steps a cutover takes. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "cli.h"
#include "ls_error.h"

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
    "prerequisite is met, 1 when one is not, 2 on a usage error.\n";

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

static int cutover_plan(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"release", required_argument, NULL, 'r'},
	    {"namespace", required_argument, NULL, 'n'},
	    {"kube-node", required_argument, NULL, 'k'},
	    {"deploy-node", required_argument, NULL, 'd'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	Ls__ControlReq req = LS__CONTROL_REQ__INIT;
	Ls__CutoverReq co = LS__CUTOVER_REQ__INIT;
	Ls__ControlResp *resp = NULL, *show = NULL;
	int c, rv;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			co.release = optarg;
			break;
		case 'n':
			co.namespace_ = optarg;
			break;
		case 'k':
			co.kube_node = optarg;
			break;
		case 'd':
			co.deploy_node = optarg;
			break;
		case 'j':
			cli->json = 1;
			break;
		case 'h':
			fputs(cutover_usage, stdout);
			return CLI_OK;
		default:
			fputs(cutover_usage, stderr);
			return CLI_USAGE;
		}
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

int cli_cutover(struct cli *cli, int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		fputs(cutover_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_USAGE : CLI_OK;
	}
	if (strcmp(argv[1], "plan") == 0)
		return cutover_plan(cli, argc - 1, argv + 1);
	fprintf(stderr, "lockstep cutover: unknown command '%s'\n\n%s", argv[1],
	        cutover_usage);
	return CLI_USAGE;
}
