#include "registry_kube.h"

#include <string.h>

#include <jansson.h>

#include "kube_json.h"
#include "ls_error.h"
#include "ls_util.h"

void reg_kube_get_pods(struct kube_cmd *c, const struct agent_config *cfg,
                       const char *ns, const char *release, char *label,
                       size_t labellen)
{
	kube_kubectl(c, cfg, ns, "kubectl get pods");
	/* The chart labels every pod with its app and the release. */
	if (ls_fmt(label, labellen, "app=registry,release=%s", release) < 0)
		c->overflow = 1;
	kube_args(c, "get", "pods", "-l", label, "-o", "json", NULL);
}

void reg_kube_get_values(struct kube_cmd *c, const struct agent_config *cfg,
                         const char *ns, const char *release)
{
	kube_helm(c, cfg, ns, "helm get values");
	kube_args(c, "get", "values", release, "-o", "json", NULL);
}

void reg_kube_migrate(struct kube_cmd *c, const struct agent_config *cfg,
                      const char *ns, const char *pod, int up,
                      int skip_post_deployment)
{
	kube_kubectl(c, cfg, ns,
	             up ? "registry database migrate up"
	                : "registry database migrate status");
	kube_args(c, "exec", pod, "-c", "registry", "--", "registry",
	          "database", "migrate", up ? "up" : "status", NULL);
	/* -s: --skip-post-deployment (container-registry root.go). */
	if (up && skip_post_deployment)
		kube_args(c, "-s", NULL);
	kube_args(c, REG_KUBE_CONFIG, NULL);
}

void reg_kube_list(struct kube_cmd *c, const struct agent_config *cfg,
                   const char *ns)
{
	kube_helm(c, cfg, ns, "helm list");
	kube_args(c, "list", "-o", "json", NULL);
}

void reg_kube_separate(struct kube_cmd *c, const struct agent_config *cfg,
                       const char *ns2, const char *name2, const char *version,
                       const char *timeout)
{
	kube_helm(c, cfg, ns2, "helm upgrade --install");
	kube_args(c, "upgrade", "--install", name2, cfg->kubernetes.chart,
	          "--version", version, "-f", "-", "--set",
	          "registry.api.enabled=false", "--set-string",
	          "registry.extraEnv.SKIP_POST_DEPLOYMENT_MIGRATIONS=false",
	          "--create-namespace", "--wait", "--wait-for-jobs",
	          "--timeout", timeout, NULL);
}

int reg_kube_chart_version(const char *json, size_t len, const char *release,
                           char *ver, size_t verlen, char *err, size_t errlen)
{
	json_t *list = json_loadb(json, len, 0, NULL), *el;
	const char *chart = NULL, *v;
	size_t i;
	int rv = LS_ENOENT;

	if (!json_is_array(list)) {
		ls_fmt(err, errlen, "helm list: output is not a JSON array");
		rv = LS_EPROTO;
		goto out;
	}
	json_array_foreach(list, i, el)
	{
		const char *name =
		    json_string_value(json_object_get(el, "name"));
		if (name != NULL && strcmp(name, release) == 0) {
			chart = json_string_value(json_object_get(el, "chart"));
			break;
		}
	}
	if (i == json_array_size(list)) {
		ls_fmt(err, errlen, "helm list: no release %s", release);
		goto out;
	}
	/* Chart names may hold '-', versions start with a digit. */
	for (v = chart; v != NULL && (v = strchr(v, '-')) != NULL; v++)
		if (v[1] >= '0' && v[1] <= '9')
			break;
	if (v == NULL || strlen(v + 1) >= verlen) {
		ls_fmt(err, errlen,
		       "helm list: release %s has chart '%.80s', not "
		       "NAME-VERSION",
		       release, chart ? chart : "");
		rv = LS_EPROTO;
		goto out;
	}
	ls_strlcpy(ver, v + 1, verlen);
	rv = 0;
out:
	json_decref(list);
	return rv;
}

static int is_alnum(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

int reg_kube_valid_pod(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > REG_POD_MAX || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
		return 0;
	for (i = 0; i < n; i++)
		if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '.')
			return 0;
	return 1;
}

static void copy_str(const json_t *v, char *dst, size_t dstlen)
{
	if (json_is_string(v) && json_string_length(v) < dstlen)
		ls_strlcpy(dst, json_string_value(v), dstlen);
}

int reg_kube_values_db(const char *json, size_t len, struct reg_dbconf *db,
                       char *err, size_t errlen)
{
	json_t *root = json_loadb(json, len, JSON_DECODE_ANY, NULL), *d, *port;
	int rv = 0;

	memset(db, 0, sizeof(*db));
	db->port = REG_PG_PORT;
	/* `helm get values` of a release given no values prints null. */
	if (json_is_null(root))
		goto out;
	if (!json_is_object(root)) {
		ls_fmt(err, errlen, "helm get values: not a JSON object");
		rv = LS_EPROTO;
		goto out;
	}
	d = json_object_get(json_object_get(root, "registry"), "database");
	if (!json_is_object(d))
		goto out;
	db->section = 1;
	db->enabled = kube_jtrue(d, "enabled");
	copy_str(json_object_get(d, "host"), db->host, sizeof(db->host));
	copy_str(json_object_get(d, "primary"), db->primary,
	         sizeof(db->primary));
	port = json_object_get(d, "port");
	if (json_is_integer(port) && json_integer_value(port) > 0 &&
	    json_integer_value(port) <= 65535)
		db->port = (unsigned)json_integer_value(port);
out:
	json_decref(root);
	return rv;
}

int reg_kube_pick_pod(const char *json, size_t len, char *pod, size_t podlen,
                      char *err, size_t errlen)
{
	json_t *root = json_loadb(json, len, 0, NULL), *items, *p;
	const char *name;
	size_t i;
	int rv = LS_ENOENT;

	items = json_object_get(root, "items");
	if (!json_is_array(items)) {
		ls_fmt(err, errlen, "kubectl get pods: not a list of pods");
		rv = LS_EPROTO;
		goto out;
	}
	json_array_foreach(items, i, p)
	{
		name = json_string_value(
		    json_object_get(json_object_get(p, "metadata"), "name"));
		if (name == NULL || !reg_kube_valid_pod(name) ||
		    strlen(name) >= podlen || !kube_pod_ready(p, NULL))
			continue;
		ls_strlcpy(pod, name, podlen);
		rv = 0;
		goto out;
	}
	ls_fmt(err, errlen, "no registry pod is Running and Ready");
out:
	json_decref(root);
	return rv;
}
