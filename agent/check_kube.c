/* kubernetes role: the node can reach its cluster with kubectl and has
 * helm, the two tools a cutover and the registry migrations drive. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "check.h"
#include "kube_cmd.h"
#include "ls_error.h"

#define OUT_MAX (256 * 1024)

static void kubectl_check(const struct agent_config *cfg,
                          struct check_report *r)
{
	struct kube_cmd c;
	struct ls_exec_result res;
	char err[400];
	json_t *v = NULL, *sv;
	int rv;

	kube_kubectl(&c, cfg, NULL, "kubectl version");
	kube_args(&c, "version", "-o", "json", NULL);
	rv = kube_run(cfg, &c, NULL, 0, OUT_MAX, 0, &res, err, sizeof(err));
	if (rv == 0)
		v = json_loadb((const char *)res.out, res.out_len, 0, NULL);
	sv = json_object_get(json_object_get(v, "serverVersion"), "gitVersion");
	if (rv < 0)
		check_add(r, "kubernetes:kubectl", CHECK_ST_FAIL, "%s", err);
	else if (!json_is_string(sv))
		check_add(r, "kubernetes:kubectl", CHECK_ST_FAIL,
		          "kubectl version: no server version (cluster not "
		          "reachable with %s?)",
		          cfg->kubernetes.kubeconfig);
	else
		check_add(r, "kubernetes:kubectl", CHECK_ST_PASS,
		          "cluster %s reachable", json_string_value(sv));
	json_decref(v);
	ls_exec_result_free(&res);
}

static void helm_check(const struct agent_config *cfg, struct check_report *r)
{
	struct kube_cmd c;
	struct ls_exec_result res;
	char err[400], line[100];
	int rv;

	kube_helm(&c, cfg, NULL, "helm version");
	kube_args(&c, "version", "--short", NULL);
	rv = kube_run(cfg, &c, NULL, 0, OUT_MAX, 0, &res, err, sizeof(err));
	if (rv < 0) {
		check_add(r, "kubernetes:helm", CHECK_ST_FAIL, "%s", err);
	} else {
		kube_last_line((const char *)res.out, res.out_len, line,
		               sizeof(line));
		check_add(r, "kubernetes:helm", CHECK_ST_PASS, "helm %s", line);
	}
	ls_exec_result_free(&res);
}

void check_kubernetes(const struct agent_config *cfg, struct check_report *r)
{
	kubectl_check(cfg, r);
	helm_check(cfg, r);
}
