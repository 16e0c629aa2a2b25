/* RegistryMigrate's Kubernetes side without a cluster: the kubectl and
 * helm argv it builds, the pod it picks and the values it reads
 * (registry_kube.c). The calls themselves wait for a kubectl stand-in. */
#include <string.h>

#include "ls_error.h"
#include "registry_kube.h"
#include "testutil.h"

static void argv_is(const struct kube_cmd *c, const char *const *want)
{
	size_t i;

	CHECK(!c->overflow);
	for (i = 0; want[i] != NULL; i++) {
		CHECK(i < c->n);
		if (i < c->n)
			CHECK_STR(c->argv[i], want[i]);
	}
	CHECK_EQ_INT(c->n, i);
	CHECK(c->argv[c->n] == NULL);
}

static void test_argv(void)
{
	struct agent_config cfg;
	struct kube_cmd c;
	char label[64];

	memset(&cfg, 0, sizeof(cfg));
	cfg.kubernetes.kubectl = "/usr/bin/kubectl";
	cfg.kubernetes.helm = "/usr/local/bin/helm";
	cfg.kubernetes.kubeconfig = "/etc/lockstep/kubeconfig";
	cfg.kubernetes.context = "";
	reg_kube_get_pods(&c, &cfg, "gitlab", "gl", label, sizeof(label));
	argv_is(&c, (const char *const[]){"/usr/bin/kubectl", "--kubeconfig",
	                                  "/etc/lockstep/kubeconfig", "-n",
	                                  "gitlab", "get", "pods", "-l",
	                                  "app=registry,release=gl", "-o",
	                                  "json", NULL});
	reg_kube_get_values(&c, &cfg, "gitlab", "gl");
	argv_is(&c, (const char *const[]){"/usr/local/bin/helm", "--kubeconfig",
	                                  "/etc/lockstep/kubeconfig", "-n",
	                                  "gitlab", "get", "values", "gl", "-o",
	                                  "json", NULL});
	reg_kube_migrate(&c, &cfg, "gitlab", "gl-registry-7d9-x2", 0, 1);
	argv_is(&c, (const char *const[]){
	                "/usr/bin/kubectl", "--kubeconfig",
	                "/etc/lockstep/kubeconfig", "-n", "gitlab", "exec",
	                "gl-registry-7d9-x2", "-c", "registry", "--",
	                "registry", "database", "migrate", "status",
	                "/etc/docker/registry/config.yml", NULL});
	cfg.kubernetes.context = "prod";
	reg_kube_migrate(&c, &cfg, "gitlab", "gl-registry-7d9-x2", 1, 1);
	argv_is(&c, (const char *const[]){
	                "/usr/bin/kubectl", "--kubeconfig",
	                "/etc/lockstep/kubeconfig", "--context", "prod", "-n",
	                "gitlab", "exec", "gl-registry-7d9-x2", "-c",
	                "registry", "--", "registry", "database", "migrate",
	                "up", "-s", "/etc/docker/registry/config.yml", NULL});
	reg_kube_migrate(&c, &cfg, "gitlab", "p", 1, 0);
	CHECK_STR(c.argv[c.n - 2], "up");
}

static void test_pick_pod(void)
{
	static const char pods[] =
	    "{\"items\":["
	    "{\"metadata\":{\"name\":\"gl-registry-a\"},\"status\":{\"phase\":"
	    "\"Pending\"}},"
	    "{\"metadata\":{\"name\":\"gl-registry-b\",\"deletionTimestamp\":"
	    "\"2026-01-01T00:00:00Z\"},\"status\":{\"phase\":\"Running\","
	    "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}},"
	    "{\"metadata\":{\"name\":\"gl-registry-c\"},\"status\":{\"phase\":"
	    "\"Running\",\"conditions\":[{\"type\":\"Ready\",\"status\":"
	    "\"False\"}]}},"
	    "{\"metadata\":{\"name\":\"gl-registry-d\"},\"status\":{\"phase\":"
	    "\"Running\",\"conditions\":[{\"type\":\"Initialized\",\"status\":"
	    "\"True\"},{\"type\":\"Ready\",\"status\":\"True\"}]}}]}";
	char pod[REG_POD_MAX + 1] = "", err[200];

	CHECK_EQ_INT(reg_kube_pick_pod(pods, strlen(pods), pod, sizeof(pod),
	                               err, sizeof(err)),
	             0);
	CHECK_STR(pod, "gl-registry-d");
	CHECK_EQ_INT(reg_kube_pick_pod("{\"items\":[]}", 12, pod, sizeof(pod),
	                               err, sizeof(err)),
	             LS_ENOENT);
	CHECK_CONTAINS(err, "Running and Ready");
	CHECK_EQ_INT(
	    reg_kube_pick_pod("[]", 2, pod, sizeof(pod), err, sizeof(err)),
	    LS_EPROTO);
	CHECK(reg_kube_valid_pod("gl-registry-7d9-x2"));
	CHECK(!reg_kube_valid_pod("-x"));
	CHECK(!reg_kube_valid_pod("a,b"));
	CHECK(!reg_kube_valid_pod(""));
}

static void test_values(void)
{
	static const char on[] =
	    "{\"registry\":{\"database\":{\"enabled\":true,\"host\":"
	    "\"pg.internal\",\"port\":6432}}}";
	struct reg_dbconf db;
	char err[200];

	CHECK_EQ_INT(reg_kube_values_db(on, strlen(on), &db, err, sizeof(err)),
	             0);
	CHECK(db.enabled);
	CHECK_STR(db.host, "pg.internal");
	CHECK_EQ_INT(db.port, 6432);
	CHECK_EQ_INT(reg_kube_values_db("null", 4, &db, err, sizeof(err)), 0);
	CHECK(!db.enabled);
	CHECK_EQ_INT(
	    reg_kube_values_db("{\"registry\":{}}", 15, &db, err, sizeof(err)),
	    0);
	CHECK(!db.enabled);
	CHECK_EQ_INT(reg_kube_values_db("[", 1, &db, err, sizeof(err)),
	             LS_EPROTO);
}

/* GitLab.com's separate migrations release: the chart at the served
 * release's version, the values on stdin. */
static void test_separate(void)
{
	static const char list[] =
	    "[{\"name\":\"other\",\"chart\":\"redis-1.0.0\"},"
	    "{\"name\":\"gl\",\"chart\":\"gitlab-8.8.2\","
	    "\"app_version\":\"v17.8.2\"}]";
	struct agent_config cfg;
	struct kube_cmd c;
	char ver[32], err[200];

	memset(&cfg, 0, sizeof(cfg));
	cfg.kubernetes.helm = "/usr/local/bin/helm";
	cfg.kubernetes.kubeconfig = "/k";
	cfg.kubernetes.context = "";
	cfg.kubernetes.chart = "gitlab/gitlab";
	reg_kube_separate(&c, &cfg, "gitlab-migrations", "migrations", "8.8.2",
	                  "3595s");
	argv_is(&c,
	        (const char *const[]){
	            "/usr/local/bin/helm",
	            "--kubeconfig",
	            "/k",
	            "-n",
	            "gitlab-migrations",
	            "upgrade",
	            "--install",
	            "migrations",
	            "gitlab/gitlab",
	            "--version",
	            "8.8.2",
	            "-f",
	            "-",
	            "--set",
	            "registry.api.enabled=false",
	            "--set-string",
	            "registry.extraEnv.SKIP_POST_DEPLOYMENT_MIGRATIONS=false",
	            "--create-namespace",
	            "--wait",
	            "--wait-for-jobs",
	            "--timeout",
	            "3595s",
	            NULL});
	CHECK_EQ_INT(reg_kube_chart_version(list, sizeof(list) - 1, "gl", ver,
	                                    sizeof(ver), err, sizeof(err)),
	             0);
	CHECK_STR(ver, "8.8.2");
	CHECK_EQ_INT(reg_kube_chart_version(list, sizeof(list) - 1, "nope", ver,
	                                    sizeof(ver), err, sizeof(err)),
	             LS_ENOENT);
	CHECK_EQ_INT(reg_kube_chart_version("[{\"name\":\"gl\",\"chart\":"
	                                    "\"gitlab\"}]",
	                                    32, "gl", ver, sizeof(ver), err,
	                                    sizeof(err)),
	             LS_EPROTO);
	CHECK_CONTAINS(err, "not NAME-VERSION");
	CHECK_EQ_INT(reg_kube_chart_version("{}", 2, "gl", ver, sizeof(ver),
	                                    err, sizeof(err)),
	             LS_EPROTO);
}

int main(void)
{
	test_argv();
	test_separate();
	test_pick_pod();
	test_values();
	return tu_done();
}
