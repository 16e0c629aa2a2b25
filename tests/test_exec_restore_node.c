/*
 * The node-level restore operations through the real
 * `lockstep-agent-exec restore`: RestoreSecrets (sealed here with
 * crypto_box_seal, as the backup seals them) and Services (a stand-in
 * gitlab-ctl, a readiness endpoint that answers or does not); and the
 * agent's side (agent_restore_perform) with the real executor and with
 * children that answer garbage, die or hang.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "agent_config.h"
#include "agent_restore.h"
#include "exec_restore_testutil.h"
#include "ls_error.h"

static char dir[] = "/tmp/test_exec_restore_node.XXXXXX";
static char bdir[LS_PATH_MAX], secrets[LS_PATH_MAX], rb[LS_PATH_MAX];
static char cfg_up[LS_PATH_MAX], cfg_down[LS_PATH_MAX];

static const char plain_secrets[] =
    "{\n  \"gitlab_rails\": {\"db_key_base\": \"0123abcd\"}\n}\n";

static void put(const char *rel, const char *text, mode_t mode)
{
	char p[LS_PATH_MAX];

	ls_fmt(p, sizeof(p), "%s/%s", dir, rel);
	CHECK_EQ_INT(ls_write_atomic(p, text, strlen(text), mode), 0);
}

static char *slurp(const char *path)
{
	char *data = NULL;
	size_t len;

	return ls_read_file(path, 1 << 20, &data, &len) == 0 ? data : NULL;
}

static void write_config(const char *path, int port)
{
	char yml[4096];

	ls_fmt(yml, sizeof(yml),
	       "state_dir: %s/state\n"
	       "backup_staging_dir: %s/staging\n"
	       "min_free_space: 0\n"
	       "warn_free_space: 0\n"
	       "gitlab:\n"
	       "  ctl: %s/gitlab-ctl\n"
	       "  url: http://127.0.0.1:%d/\n"
	       "  secrets_file: %s\n"
	       "  config_file: %s\n"
	       "  http_timeout: 2s\n",
	       dir, dir, dir, port, secrets, rb);
	CHECK_EQ_INT(ls_write_atomic(path, yml, strlen(yml), 0644), 0);
}

/* python3's http.server on a free port, serving dir/www: GET
 * /-/readiness answers 200. Waits until it accepts, with a deadline. */
static pid_t start_http(int *port)
{
	char www[LS_PATH_MAX], p[LS_PATH_MAX], portstr[16];
	int64_t deadline = ls_mono_ms() + 20000;
	pid_t pid;

	ls_fmt(www, sizeof(www), "%s/www/-", dir);
	CHECK_EQ_INT(ls_mkdirs(www, 0755), 0);
	ls_fmt(p, sizeof(p), "%s/readiness", www);
	CHECK_EQ_INT(ls_write_atomic(p, "{\"status\":\"ok\"}", 15, 0644), 0);
	ls_fmt(www, sizeof(www), "%s/www", dir);
	*port = tu_free_port();
	snprintf(portstr, sizeof(portstr), "%d", *port);
	fflush(NULL);
	if ((pid = fork()) == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, STDERR_FILENO);
		dup2(null, STDOUT_FILENO);
		execl("/usr/bin/python3", "python3", "-m", "http.server",
		      portstr, "--bind", "127.0.0.1", "--directory", www,
		      (char *)NULL);
		_exit(127);
	}
	while (pid > 0 && ls_mono_ms() < deadline) {
		struct sockaddr_in sa;
		int fd = socket(AF_INET, SOCK_STREAM, 0), ok;
		struct timespec ts = {0, 50 * 1000000L};

		memset(&sa, 0, sizeof(sa));
		sa.sin_family = AF_INET;
		sa.sin_port = htons((uint16_t)*port);
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
		close(fd);
		if (ok)
			return pid;
		nanosleep(&ts, NULL);
	}
	CHECK(!"http.server accepts connections");
	return pid;
}

static void seal(const char *rel, const char *text, const uint8_t *pk)
{
	size_t n = strlen(text);
	uint8_t *c = malloc(n + crypto_box_SEALBYTES);
	char p[LS_PATH_MAX], d[LS_PATH_MAX];

	CHECK_EQ_INT(crypto_box_seal(c, (const uint8_t *)text, n, pk), 0);
	ls_fmt(p, sizeof(p), "%s/%s", bdir, rel);
	ls_strlcpy(d, p, sizeof(d));
	*strrchr(d, '/') = '\0';
	CHECK_EQ_INT(ls_mkdirs(d, 0700), 0);
	CHECK_EQ_INT(ls_write_atomic(p, c, n + crypto_box_SEALBYTES, 0600), 0);
	free(c);
}

static void test_secrets(void)
{
	uint8_t pk[32], sk[32], pk2[32], sk2[32];
	Ls__Operation op = LS__OPERATION__INIT;
	Ls__RestoreSecrets s = LS__RESTORE_SECRETS__INIT;
	struct stat sb;
	struct xrun x;
	char *got;

	crypto_box_keypair(pk, sk);
	crypto_box_keypair(pk2, sk2);
	seal("lockstep/secrets/node-1/gitlab-secrets.json.sealed",
	     plain_secrets, pk);
	put("etc/gitlab-secrets.json", "{\"old\": true}\n", 0644);
	put("etc/gitlab.rb", "external_url 'https://old'\n", 0644);
	if (geteuid() == 0)
		CHECK_EQ_INT(chown(secrets, 1234, 4321), 0);
	op.id = 201;
	op.kind_case = LS__OPERATION__KIND_RESTORE_SECRETS;
	op.restore_secrets = &s;
	s.backup_dir = bdir;
	s.node = "node-1";
	s.backup_sk.data = sk2;
	s.backup_sk.len = 32;
	/* Another fleet's key opens nothing, and nothing is written. */
	xrun(&op, &x);
	CHECK_EQ_INT(xstatus(&x), LS_ECRYPTO);
	CHECK_CONTAINS(xerror(&x),
	               "lockstep/secrets/node-1/gitlab-secrets.json.sealed");
	xrun_free(&x);
	got = slurp(secrets);
	CHECK_STR(got, "{\"old\": true}\n");
	free(got);

	s.backup_sk.data = sk;
	xrun(&op, &x);
	CHECK_EQ_INT(xstatus(&x), 0);
	xrun_free(&x);
	got = slurp(secrets);
	CHECK_STR(got, plain_secrets);
	free(got);
	CHECK(stat(secrets, &sb) == 0 && (sb.st_mode & 07777) == 0600);
	if (geteuid() == 0)
		CHECK(sb.st_uid == 1234 && sb.st_gid == 4321);
	/* No sealed gitlab.rb: the node had none; left alone. */
	got = slurp(rb);
	CHECK_STR(got, "external_url 'https://old'\n");
	free(got);

	seal("lockstep/secrets/node-1/gitlab.rb.sealed",
	     "external_url 'https://gitlab.example.com'\n", pk);
	xrun(&op, &x);
	CHECK_EQ_INT(xstatus(&x), 0);
	xrun_free(&x);
	got = slurp(rb);
	CHECK_STR(got, "external_url 'https://gitlab.example.com'\n");
	free(got);
	CHECK(stat(rb, &sb) == 0 && (sb.st_mode & 07777) == 0600);

	s.node = "../node-1";
	xrun(&op, &x);
	CHECK_EQ_INT(xstatus(&x), LS_EINVAL);
	xrun_free(&x);
	s.node = "node-1";
	s.backup_sk.len = 16;
	xrun(&op, &x);
	CHECK_EQ_INT(xstatus(&x), LS_EINVAL);
	xrun_free(&x);
}

static void test_services(void)
{
	Ls__Operation op = LS__OPERATION__INIT;
	Ls__Services s = LS__SERVICES__INIT;
	char *names[] = {"puma", "sidekiq"}, *broken[] = {"broken"};
	char p[LS_PATH_MAX], *log;
	struct xrun x;

	op.id = 202;
	op.kind_case = LS__OPERATION__KIND_SERVICES;
	op.services = &s;
	s.services = names;
	s.n_services = 2;
	xrun(&op, &x);
	CHECK_EQ_INT(xstatus(&x), 0);
	xrun_free(&x);
	ls_fmt(p, sizeof(p), "%s/ctl.log", dir);
	log = slurp(p);
	CHECK_STR(log, "stop puma\nstop sidekiq\n");
	free(log);

	s.start = 1;
	s.services = broken;
	s.n_services = 1;
	xrun(&op, &x);
	CHECK_EQ_INT(xstatus(&x), LS_ECHILD);
	CHECK_CONTAINS(xerror(&x), "gitlab-ctl start broken: exit status 1");
	CHECK_CONTAINS(xerror(&x), "unable to change to service directory");
	xrun_free(&x);
	s.n_services = 0;
	xrun(&op, &x);
	CHECK_EQ_INT(xstatus(&x), LS_EINVAL);
	CHECK_CONTAINS(xerror(&x), "never run for every service");
	xrun_free(&x);
	/* No service, a wait: only the readiness wait, no gitlab-ctl. */
	s.has_ready_wait_ms = 1;
	s.ready_wait_ms = 20000;
	xrun(&op, &x);
	CHECK_EQ_INT(xstatus(&x), 0);
	xrun_free(&x);
	log = slurp(p);
	CHECK_STR(log, "stop puma\nstop sidekiq\nstart broken\n");
	free(log);

	/* Ready: the readiness endpoint answers 200. */
	s.services = names;
	s.n_services = 1;
	s.has_ready_wait_ms = 1;
	s.ready_wait_ms = 20000;
	xrun(&op, &x);
	CHECK_EQ_INT(xstatus(&x), 0);
	xrun_free(&x);
	/* Nothing answers: the deadline, and what was last seen. */
	ls_strlcpy(xr_config, cfg_down, sizeof(xr_config));
	s.ready_wait_ms = 1500;
	xrun(&op, &x);
	CHECK_EQ_INT(xstatus(&x), LS_ETIMEDOUT);
	CHECK_CONTAINS(xerror(&x), "GitLab did not become ready within 2 s");
	CHECK_CONTAINS(xerror(&x), "/-/readiness: ");
	CHECK(strstr(xerror(&x), "//-/") == NULL);
	xrun_free(&x);
	ls_strlcpy(xr_config, cfg_up, sizeof(xr_config));
}

struct seen {
	int n;
	uint64_t op_id;
};

static void on_progress_frame(void *arg, const Ls__Progress *p)
{
	struct seen *s = arg;

	s->n++;
	s->op_id = p->op_id;
}

static Ls__OpResult *perform(struct agent_config *cfg, const char *helper,
                             const Ls__Operation *op)
{
	uint8_t *res = NULL;
	size_t len = 0;
	Ls__OpResult *r;

	cfg->exec_helper = (char *)helper;
	CHECK_EQ_INT(agent_restore_perform(cfg, cfg_up, op, on_progress_frame,
	                                   NULL, &res, &len),
	             0);
	r = res ? ls__op_result__unpack(NULL, len, res) : NULL;
	CHECK(r != NULL);
	free(res);
	return r;
}

static void test_agent_side(void)
{
	Ls__Operation op = LS__OPERATION__INIT;
	Ls__Services s = LS__SERVICES__INIT;
	char *names[] = {"puma"}, err[1024] = "", p[LS_PATH_MAX];
	struct agent_config cfg;
	char *helper_saved;
	Ls__OpResult *r;
	int64_t t0;

	memset(&cfg, 0, sizeof(cfg));
	CHECK_EQ_INT(agent_config_load(cfg_up, &cfg, err, sizeof(err)), 0);
	helper_saved = cfg.exec_helper;
	op.id = 301;
	op.kind_case = LS__OPERATION__KIND_SERVICES;
	op.services = &s;
	s.services = names;
	s.n_services = 1;
	CHECK(agent_restore_handles(&op));
	r = perform(&cfg, LOCKSTEP_EXEC_PATH, &op);
	if (r != NULL) {
		CHECK_EQ_INT(r->op_id, 301);
		CHECK_EQ_INT(r->status, 0);
		CHECK_EQ_INT(r->kind_case, LS__OP_RESULT__KIND_RESTORE);
		ls__op_result__free_unpacked(r, NULL);
	}
	/* Garbage on stdout, last words on stderr. */
	ls_fmt(p, sizeof(p), "%s/garbage", dir);
	r = perform(&cfg, p, &op);
	if (r != NULL) {
		CHECK_EQ_INT(r->op_id, 301);
		CHECK(r->status < 0);
		CHECK_CONTAINS(r->error, "dying words");
		CHECK_CONTAINS(r->error, "something other than its frames");
		ls__op_result__free_unpacked(r, NULL);
	}
	/* A child that never answers: the operation's timeout. */
	cfg.op_timeout = 1000;
	ls_fmt(p, sizeof(p), "%s/hang", dir);
	t0 = ls_mono_ms();
	r = perform(&cfg, p, &op);
	CHECK(ls_mono_ms() - t0 < 20000);
	if (r != NULL) {
		CHECK_EQ_INT(r->status, LS_ETIMEDOUT);
		CHECK_CONTAINS(r->error, "operation timeout");
		ls__op_result__free_unpacked(r, NULL);
	}
	cfg.exec_helper = helper_saved;
	agent_config_free(&cfg);
}

int main(void)
{
	pid_t http = -1;
	int port = 0, down = tu_free_port();

	if (mkdtemp(dir) == NULL || sodium_init() < 0)
		return 1;
	ls_fmt(bdir, sizeof(bdir), "%s/backup", dir);
	ls_fmt(secrets, sizeof(secrets), "%s/etc/gitlab-secrets.json", dir);
	ls_fmt(rb, sizeof(rb), "%s/etc/gitlab.rb", dir);
	ls_fmt(cfg_up, sizeof(cfg_up), "%s/agent.yml", dir);
	ls_fmt(cfg_down, sizeof(cfg_down), "%s/agent-down.yml", dir);
	CHECK_EQ_INT(ls_mkdirs(bdir, 0700), 0);
	ls_fmt(xr_config, sizeof(xr_config), "%s/etc", dir);
	CHECK_EQ_INT(ls_mkdirs(xr_config, 0755), 0);
	/* What runit's sv prints for a service that does not exist. */
	ls_fmt(xr_config, sizeof(xr_config),
	       "#!/bin/sh\necho \"$*\" >> %s/ctl.log\n"
	       "if [ \"$2\" = broken ]; then\n"
	       "  echo 'fail: broken: unable to change to service directory: "
	       "file does not exist' >&2\n  exit 1\nfi\necho \"ok: $1: $2\"\n",
	       dir);
	put("gitlab-ctl", xr_config, 0755);
	put("garbage",
	    "#!/bin/sh\nprintf 'garbage-garbage-garbage'\n"
	    "echo 'dying words' >&2\nexit 3\n",
	    0755);
	put("hang", "#!/bin/sh\nexec sleep 60\n", 0755);
	http = start_http(&port);
	write_config(cfg_up, port);
	write_config(cfg_down, down);
	ls_strlcpy(xr_config, cfg_up, sizeof(xr_config));
	test_secrets();
	test_services();
	test_agent_side();
	if (http > 0) {
		kill(http, SIGTERM);
		waitpid(http, NULL, 0);
	}
	ls_rmtree(dir);
	return tu_done();
}
