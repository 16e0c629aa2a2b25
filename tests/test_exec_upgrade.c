/*
 * lockstep-agent-exec end to end for the upgrade operations: PackageVersions
 * and UpgradeAction against stand-in apt-get, apt-cache, yum, gitlab-ctl
 * and gitlab-rake that record their argv and environment.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "lockstep.pb-c.h"
#include "ls_error.h"
#include "ls_exec.h"
#include "ls_util.h"
#include "testutil.h"

static char dir[] = "/tmp/test_exec_upgrade.XXXXXX";
static char config[256];

static void put(const char *name, const char *text, mode_t mode)
{
	char path[256];

	ls_fmt(path, sizeof(path), "%s/%s", dir, name);
	CHECK_EQ_INT(ls_write_atomic(path, text, strlen(text), mode), 0);
}

static void rm(const char *name)
{
	char path[256];

	ls_fmt(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
}

static char *slurp(const char *name)
{
	char path[256], *buf = NULL;
	size_t len = 0;

	ls_fmt(path, sizeof(path), "%s/%s", dir, name);
	if (ls_read_file(path, 1 << 20, &buf, &len) < 0)
		return strdup("");
	return buf;
}

/* Every stand-in appends one line per call to calls.log: its name, argv
 * and the two variables upgrades set; fails when DIR/fail exists. */
static const char recorder[] =
    "#!/bin/sh\n"
    "d=$(dirname \"$0\")\n"
    "echo \"${0##*/} $* |DF=${DEBIAN_FRONTEND-unset} "
    "SPD=${SKIP_POST_DEPLOYMENT_MIGRATIONS-unset}\" >> \"$d/calls.log\"\n"
    "if [ -e \"$d/slow\" ]; then\n"
    "  echo 'started'; echo 'still going' >&2; sleep 60\n"
    "fi\n"
    "if [ -e \"$d/fail\" ]; then\n"
    "  echo 'Reading package lists...'\n"
    "  echo 'E: first complaint' >&2\n"
    "  echo 'E: Sub-process /usr/bin/dpkg returned an error code (1)' >&2\n"
    "  exit 100\n"
    "fi\n"
    "echo \"did: $*\"\n";

static const char madison[] =
    "#!/bin/sh\n"
    "d=$(dirname \"$0\")\n"
    "echo \"${0##*/} $*\" >> \"$d/calls.log\"\n"
    "[ \"$1 $2\" = 'madison gitlab-ee' ] || exit 1\n"
    "echo ' gitlab-ee | 17.9.0-rc42.ee.0 | https://packages.gitlab.com/"
    "gitlab/gitlab-ee/debian bookworm/main amd64 Packages'\n"
    "echo ' gitlab-ee | 17.8.3-ee.0 | https://packages.gitlab.com/gitlab/"
    "gitlab-ee/debian bookworm/main amd64 Packages'\n"
    "echo ' gitlab-ee | 17.8.2-ee.0 | https://packages.gitlab.com/gitlab/"
    "gitlab-ee/debian bookworm/main amd64 Packages'\n"
    "echo 'this line is junk'\n"
    "echo ' gitlab-ee | 17.5.5-ee.0 | https://packages.gitlab.com/gitlab/"
    "gitlab-ee/debian bookworm/main amd64 Packages'\n"
    "echo ' gitlab-ee | 17.8.3-ee.0 | https://mirror.example.com/"
    "gitlab-ee bookworm/main amd64 Packages'\n";

static const char yum[] =
    "#!/bin/sh\n"
    "d=$(dirname \"$0\")\n"
    "echo \"${0##*/} $*\" >> \"$d/calls.log\"\n"
    "if [ \"$1\" = --showduplicates ]; then\n"
    "  echo 'Last metadata expiration check: 0:01:02 ago on Mon Nov 23.'\n"
    "  echo 'Available Packages'\n"
    "  echo 'gitlab-ee.x86_64   17.5.5-ee.0.el9   gitlab_gitlab-ee'\n"
    "  echo 'gitlab-ee.x86_64   17.8.2-ee.0.el9   gitlab_gitlab-ee'\n"
    "  echo 'gitlab-ee.x86_64   17.8.3-ee.0.el9   gitlab_gitlab-ee'\n"
    "  exit 0\n"
    "fi\n";

static const char *op_timeout = "30s";

static void write_config(const char *manager, const char *url)
{
	char yml[4096];

	ls_fmt(yml, sizeof(yml),
	       "state_dir: %s/state\n"
	       "op_timeout: %s\n"
	       "gitlab:\n"
	       "  ctl: %s/gitlab-ctl\n"
	       "  rake: %s/gitlab-rake\n"
	       "  skip_auto_reconfigure: %s/skip-auto-reconfigure\n"
	       "  version_manifest: %s/version-manifest.json\n"
	       "  url: %s\n"
	       "  http_timeout: 1s\n"
	       "package:\n"
	       "  manager: %s\n"
	       "  apt_get: %s/apt-get\n"
	       "  apt_cache: %s/apt-cache\n"
	       "  yum: %s/yum\n",
	       dir, op_timeout, dir, dir, dir, dir, url, manager, dir, dir,
	       dir);
	put("agent.yml", yml, 0644);
}

static void setup(void)
{
	CHECK(mkdtemp(dir) != NULL);
	ls_fmt(config, sizeof(config), "%s/state", dir);
	CHECK(mkdir(config, 0700) == 0);
	put("gitlab-ctl", recorder, 0755);
	put("gitlab-rake", recorder, 0755);
	put("apt-get", recorder, 0755);
	put("apt-cache", madison, 0755);
	put("yum", yum, 0755);
	put("version-manifest.json", "{\"build_version\": \"17.8.2+ee.0\"}\n",
	    0644);
	write_config("apt", "http://127.0.0.1:1");
	ls_fmt(config, sizeof(config), "%s/agent.yml", dir);
}

static Ls__OpResult *run_op(const Ls__Operation *op)
{
	const char *argv[] = {LOCKSTEP_EXEC_PATH, "--config", config, "op",
	                      NULL};
	size_t len = ls__operation__get_packed_size(op);
	uint8_t *buf = malloc(len + 1);
	struct ls_exec_opts o = {.argv = argv,
	                         .stdin_data = buf,
	                         .stdin_len = len,
	                         .max_stdout = 1 << 20,
	                         .max_stderr = 1 << 16,
	                         .timeout_ms = 60000};
	struct ls_exec_result res;
	Ls__OpResult *r = NULL;

	ls__operation__pack(op, buf);
	rm("calls.log");
	CHECK_EQ_INT(ls_exec_run(&o, &res), 0);
	if (res.err_len > 0)
		fprintf(stderr, "[exec stderr] %s", res.err);
	CHECK_EQ_INT(res.exited, 1);
	CHECK_EQ_INT(res.status, 0);
	r = ls__op_result__unpack(NULL, res.out_len, res.out);
	CHECK(r != NULL);
	ls_exec_result_free(&res);
	free(buf);
	return r;
}

static Ls__OpResult *versions_op(int refresh)
{
	Ls__Operation op = LS__OPERATION__INIT;
	Ls__PackageVersions pv = LS__PACKAGE_VERSIONS__INIT;

	op.id = 7;
	op.kind_case = LS__OPERATION__KIND_PACKAGE_VERSIONS;
	op.package_versions = &pv;
	pv.has_refresh = refresh;
	pv.refresh = refresh;
	return run_op(&op);
}

static void check_versions(const Ls__OpResult *r, const char *manager)
{
	const Ls__PackageVersionsResult *p;

	CHECK_EQ_INT(r->status, 0);
	CHECK_EQ_INT(r->kind_case, LS__OP_RESULT__KIND_PACKAGE_VERSIONS);
	if (r->kind_case != LS__OP_RESULT__KIND_PACKAGE_VERSIONS)
		return;
	p = r->package_versions;
	CHECK_STR(p->package, "gitlab-ee");
	CHECK_STR(p->manager, manager);
	CHECK_STR(p->installed, "17.8.2");
	/* Ascending, each once, no pre-release. */
	CHECK_EQ_INT(p->n_versions, 3);
	if (p->n_versions == 3) {
		CHECK_STR(p->versions[0], "17.5.5");
		CHECK_STR(p->versions[1], "17.8.2");
		CHECK_STR(p->versions[2], "17.8.3");
	}
}

static void test_package_versions(void)
{
	Ls__OpResult *r;
	char *log;

	r = versions_op(0);
	if (r != NULL) {
		check_versions(r, "apt");
		ls__op_result__free_unpacked(r, NULL);
	}
	log = slurp("calls.log");
	CHECK_STR(log, "apt-cache madison gitlab-ee\n");
	free(log);
	r = versions_op(1);
	if (r != NULL) {
		check_versions(r, "apt");
		ls__op_result__free_unpacked(r, NULL);
	}
	log = slurp("calls.log");
	CHECK_STR(log, "apt-get update |DF=noninteractive SPD=unset\n"
	               "apt-cache madison gitlab-ee\n");
	free(log);

	write_config("yum", "http://127.0.0.1:1");
	r = versions_op(0);
	if (r != NULL) {
		check_versions(r, "yum");
		ls__op_result__free_unpacked(r, NULL);
	}
	log = slurp("calls.log");
	CHECK_STR(log, "yum --showduplicates list gitlab-ee\n");
	free(log);
	write_config("apt", "http://127.0.0.1:1");
}

/* Runs one action; returns the result (status checked by the caller). */
static Ls__OpResult *action(Ls__UpgradeActionKind kind, const char *version,
                            int flag, char **services, size_t nservices)
{
	Ls__Operation op = LS__OPERATION__INIT;
	Ls__UpgradeAction a = LS__UPGRADE_ACTION__INIT;
	Ls__OpResult *r;

	op.id = 8;
	op.kind_case = LS__OPERATION__KIND_UPGRADE_ACTION;
	op.upgrade_action = &a;
	a.kind = kind;
	a.version = (char *)version;
	if (kind == LS__UPGRADE_ACTION_KIND__UA_INSTALL) {
		a.has_allow_downgrade = 1;
		a.allow_downgrade = flag;
	} else if (kind == LS__UPGRADE_ACTION_KIND__UA_RECONFIGURE) {
		a.has_skip_post_deploy = 1;
		a.skip_post_deploy = flag;
	} else if (kind == LS__UPGRADE_ACTION_KIND__UA_READY_WAIT ||
	           kind == LS__UPGRADE_ACTION_KIND__UA_START) {
		a.has_ready_wait_ms = flag > 0;
		a.ready_wait_ms = (uint32_t)flag;
	}
	a.n_services = nservices;
	a.services = services;
	r = run_op(&op);
	if (r != NULL) {
		CHECK_EQ_INT(r->op_id, 8);
		CHECK_EQ_INT(r->kind_case, LS__OP_RESULT__KIND_UPGRADE_ACTION);
	}
	return r;
}

/* The action succeeds and its commands' calls are exactly want. */
static void expect_ok(Ls__UpgradeActionKind kind, const char *version, int flag,
                      char **svc, size_t nsvc, const char *want)
{
	Ls__OpResult *r = action(kind, version, flag, svc, nsvc);
	char *log;

	if (r == NULL)
		return;
	CHECK_EQ_INT(r->status, 0);
	CHECK(r->error == NULL);
	if (r->error)
		fprintf(stderr, "  error: %s\n", r->error);
	if (r->kind_case == LS__OP_RESULT__KIND_UPGRADE_ACTION) {
		CHECK_STR(r->upgrade_action->version, "17.8.2");
		CHECK(r->upgrade_action->has_ms);
	}
	log = slurp("calls.log");
	CHECK_STR(log, want);
	free(log);
	ls__op_result__free_unpacked(r, NULL);
}

/* As expect_ok, on a node without a version manifest. */
static void expect_installed(Ls__UpgradeActionKind kind, const char *version,
                             int flag, const char *want)
{
	Ls__OpResult *r = action(kind, version, flag, NULL, 0);
	char *log;

	if (r == NULL)
		return;
	CHECK_EQ_INT(r->status, 0);
	CHECK(r->kind_case == LS__OP_RESULT__KIND_UPGRADE_ACTION &&
	      r->upgrade_action->version == NULL);
	log = slurp("calls.log");
	CHECK_STR(log, want);
	free(log);
	ls__op_result__free_unpacked(r, NULL);
}

static void test_install(void)
{
	Ls__OpResult *r;
	char *log;

	expect_ok(LS__UPGRADE_ACTION_KIND__UA_INSTALL, "17.8.3", 0, NULL, 0,
	          "apt-cache madison gitlab-ee\n"
	          "apt-get install -y gitlab-ee=17.8.3-ee.0 "
	          "|DF=noninteractive SPD=unset\n");
	expect_ok(LS__UPGRADE_ACTION_KIND__UA_INSTALL, "17.5.5", 1, NULL, 0,
	          "apt-cache madison gitlab-ee\n"
	          "apt-get install -y --allow-downgrades gitlab-ee=17.5.5-ee.0 "
	          "|DF=noninteractive SPD=unset\n");
	/* Not listed (a pre-release is no release): nothing installed. */
	r = action(LS__UPGRADE_ACTION_KIND__UA_INSTALL, "17.9.0", 0, NULL, 0);
	if (r != NULL) {
		CHECK_EQ_INT(r->status, LS_ENOENT);
		CHECK_CONTAINS(r->error, "gitlab-ee 17.9.0 is not offered");
		CHECK_CONTAINS(r->error, "nothing installed");
		ls__op_result__free_unpacked(r, NULL);
	}
	log = slurp("calls.log");
	CHECK_STR(log, "apt-cache madison gitlab-ee\n");
	free(log);
	/* An older version without allow_downgrade: nothing run at all. */
	r = action(LS__UPGRADE_ACTION_KIND__UA_INSTALL, "17.5.5", 0, NULL, 0);
	if (r != NULL) {
		CHECK_EQ_INT(r->status, LS_ESTATE);
		CHECK_CONTAINS(r->error, "refusing to downgrade gitlab-ee from "
		                         "17.8.2 to 17.5.5");
		ls__op_result__free_unpacked(r, NULL);
	}
	log = slurp("calls.log");
	CHECK_STR(log, "");
	free(log);
	r = action(LS__UPGRADE_ACTION_KIND__UA_INSTALL, "17.8", 0, NULL, 0);
	if (r != NULL) {
		CHECK_EQ_INT(r->status, LS_EINVAL);
		CHECK_CONTAINS(r->error, "needs a version X.Y.Z");
		ls__op_result__free_unpacked(r, NULL);
	}
	write_config("yum", "http://127.0.0.1:1");
	expect_ok(LS__UPGRADE_ACTION_KIND__UA_INSTALL, "17.8.3", 0, NULL, 0,
	          "yum --showduplicates list gitlab-ee\n"
	          "yum install -y gitlab-ee-17.8.3-ee.0.el9\n");
	expect_ok(LS__UPGRADE_ACTION_KIND__UA_REMOVE, NULL, 0, NULL, 0,
	          "yum remove -y gitlab-ee\n");
	write_config("apt", "http://127.0.0.1:1");
	expect_ok(LS__UPGRADE_ACTION_KIND__UA_REMOVE, NULL, 0, NULL, 0,
	          "apt-get remove -y gitlab-ee |DF=noninteractive SPD=unset\n");
}

static void test_steps(void)
{
	char *svc[] = {"puma", "sidekiq"}, *bad[] = {"--force"};
	struct stat st;
	char path[256];
	Ls__OpResult *r;

	expect_ok(LS__UPGRADE_ACTION_KIND__UA_RECONFIGURE, NULL, 0, NULL, 0,
	          "gitlab-ctl reconfigure |DF=unset SPD=unset\n");
	expect_ok(LS__UPGRADE_ACTION_KIND__UA_RECONFIGURE, NULL, 1, NULL, 0,
	          "gitlab-ctl reconfigure |DF=unset SPD=true\n");
	expect_ok(LS__UPGRADE_ACTION_KIND__UA_STOP, NULL, 0, svc, 2,
	          "gitlab-ctl stop puma sidekiq |DF=unset SPD=unset\n");
	expect_ok(LS__UPGRADE_ACTION_KIND__UA_START, NULL, 0, svc, 1,
	          "gitlab-ctl start puma |DF=unset SPD=unset\n");
	expect_ok(LS__UPGRADE_ACTION_KIND__UA_RESTART, NULL, 0, NULL, 0,
	          "gitlab-ctl restart |DF=unset SPD=unset\n");
	expect_ok(LS__UPGRADE_ACTION_KIND__UA_HUP_PUMA, NULL, 0, NULL, 0,
	          "gitlab-ctl hup puma |DF=unset SPD=unset\n");
	expect_ok(LS__UPGRADE_ACTION_KIND__UA_POST_DEPLOY_MIGRATE, NULL, 0,
	          NULL, 0, "gitlab-rake db:migrate |DF=unset SPD=unset\n");
	expect_ok(LS__UPGRADE_ACTION_KIND__UA_GEO_STOP_LOGCURSOR, NULL, 0, NULL,
	          0, "gitlab-ctl stop geo-logcursor |DF=unset SPD=unset\n");
	expect_ok(LS__UPGRADE_ACTION_KIND__UA_GEO_MIGRATE, NULL, 0, NULL, 0,
	          "gitlab-rake db:migrate:geo |DF=unset SPD=unset\n");
	expect_ok(LS__UPGRADE_ACTION_KIND__UA_GEO_CHECK, NULL, 0, NULL, 0,
	          "gitlab-rake gitlab:geo:check |DF=unset SPD=unset\n");
	ls_fmt(path, sizeof(path), "%s/skip-auto-reconfigure", dir);
	CHECK(stat(path, &st) < 0);
	expect_ok(LS__UPGRADE_ACTION_KIND__UA_SKIP_AUTO_RECONFIGURE, NULL, 0,
	          NULL, 0, "");
	CHECK(stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0);
	/* Again: already there is fine. */
	expect_ok(LS__UPGRADE_ACTION_KIND__UA_SKIP_AUTO_RECONFIGURE, NULL, 0,
	          NULL, 0, "");
	/* A service name that could pass for an option runs nothing. */
	r = action(LS__UPGRADE_ACTION_KIND__UA_STOP, NULL, 0, bad, 1);
	if (r != NULL) {
		CHECK_EQ_INT(r->status, LS_EINVAL);
		CHECK_CONTAINS(r->error, "'--force' is not a service name");
		ls__op_result__free_unpacked(r, NULL);
	}
}

static void test_failures(void)
{
	int64_t t0;
	Ls__OpResult *r;

	put("fail", "", 0644);
	r = action(LS__UPGRADE_ACTION_KIND__UA_INSTALL, "17.8.3", 0, NULL, 0);
	if (r != NULL) {
		CHECK_EQ_INT(r->status, LS_ECHILD);
		CHECK_CONTAINS(r->error,
		               "/apt-get install -y "
		               "gitlab-ee=17.8.3-ee.0: exit status "
		               "100: E: first complaint; E: Sub-process");
		if (r->kind_case == LS__OP_RESULT__KIND_UPGRADE_ACTION) {
			CHECK_STR(r->upgrade_action->version, "17.8.2");
			CHECK_CONTAINS(r->upgrade_action->output_tail,
			               "Reading package lists...\nE: first "
			               "complaint\nE: Sub-process");
		}
		ls__op_result__free_unpacked(r, NULL);
	}
	r = action(LS__UPGRADE_ACTION_KIND__UA_POST_DEPLOY_MIGRATE, NULL, 0,
	           NULL, 0);
	if (r != NULL) {
		CHECK(r->status < 0);
		CHECK_CONTAINS(r->error,
		               "gitlab-rake db:migrate: exit status 100");
		ls__op_result__free_unpacked(r, NULL);
	}
	rm("fail");
	/* op_timeout is the deadline of all the operation's commands. */
	put("slow", "", 0644);
	op_timeout = "2s";
	write_config("apt", "http://127.0.0.1:1");
	t0 = ls_mono_ms();
	r = action(LS__UPGRADE_ACTION_KIND__UA_RECONFIGURE, NULL, 0, NULL, 0);
	if (r != NULL) {
		CHECK_EQ_INT(r->status, LS_ETIMEDOUT);
		CHECK_CONTAINS(r->error,
		               "gitlab-ctl reconfigure: killed at the "
		               "deadline: still going");
		if (r->kind_case == LS__OP_RESULT__KIND_UPGRADE_ACTION)
			CHECK_STR(r->upgrade_action->output_tail,
			          "started\nstill going");
		ls__op_result__free_unpacked(r, NULL);
	}
	CHECK(ls_mono_ms() - t0 < 15000);
	rm("slow");
	op_timeout = "30s";
	write_config("apt", "http://127.0.0.1:1");
	/* The package removed, its manifest gone: the agent remembers which
	 * package to install again. */
	rm("version-manifest.json");
	expect_installed(
	    LS__UPGRADE_ACTION_KIND__UA_INSTALL, "17.5.5", 1,
	    "apt-cache madison gitlab-ee\n"
	    "apt-get install -y --allow-downgrades "
	    "gitlab-ee=17.5.5-ee.0 |DF=noninteractive SPD=unset\n");
	/* No manifest, no package.name, nothing remembered: unknown. */
	rm("state/upgrade-package");
	r = action(LS__UPGRADE_ACTION_KIND__UA_INSTALL, "17.8.3", 0, NULL, 0);
	if (r != NULL) {
		CHECK_EQ_INT(r->status, LS_ECONFIG);
		CHECK_CONTAINS(r->error, "set package.name");
		CHECK(r->upgrade_action == NULL ||
		      r->upgrade_action->version == NULL);
		ls__op_result__free_unpacked(r, NULL);
	}
	put("version-manifest.json", "{\"build_version\": \"17.8.2+ee.0\"}\n",
	    0644);
}

/* A one-answer-per-connection HTTP server in a child process. */
static pid_t http_server(int *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	pid_t pid;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	CHECK(bind(s, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CHECK(listen(s, 8) == 0);
	getsockname(s, (struct sockaddr *)&sa, &sl);
	*port = ntohs(sa.sin_port);
	if ((pid = fork()) == 0) {
		static const char reply[] =
		    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		    "Content-Length: 15\r\nConnection: close\r\n\r\n"
		    "{\"status\":\"ok\"}";
		for (;;) {
			char buf[4096];
			int c = accept(s, NULL, NULL);

			if (c < 0)
				continue;
			if (read(c, buf, sizeof(buf)) > 0 &&
			    write(c, reply, sizeof(reply) - 1) < 0)
				_exit(1);
			close(c);
		}
	}
	close(s);
	return pid;
}

static void test_ready_wait(void)
{
	char url[64], *svc[] = {"puma"};
	int64_t t0 = ls_mono_ms();
	Ls__OpResult *r;
	pid_t pid;
	int port = 0;

	r = action(LS__UPGRADE_ACTION_KIND__UA_READY_WAIT, NULL, 1500, NULL, 0);
	if (r != NULL) {
		CHECK_EQ_INT(r->status, LS_ETIMEDOUT);
		CHECK_CONTAINS(r->error,
		               "GitLab did not become ready: last "
		               "answer of http://127.0.0.1:1/-/readiness");
		ls__op_result__free_unpacked(r, NULL);
	}
	CHECK(ls_mono_ms() - t0 >= 1500);
	pid = http_server(&port);
	ls_fmt(url, sizeof(url), "http://127.0.0.1:%d", port);
	write_config("apt", url);
	expect_ok(LS__UPGRADE_ACTION_KIND__UA_READY_WAIT, NULL, 5000, NULL, 0,
	          "");
	expect_ok(LS__UPGRADE_ACTION_KIND__UA_START, NULL, 5000, svc, 1,
	          "gitlab-ctl start puma |DF=unset SPD=unset\n");
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	write_config("apt", "http://127.0.0.1:1");
}

int main(void)
{
	setup();
	test_package_versions();
	test_install();
	test_steps();
	test_failures();
	test_ready_wait();
	ls_rmtree(dir);
	return tu_done();
}
