/* Configuration tests: the agent and coordinator schemas and the deploy/
 * examples. */
#include "config_testutil.h"

static void check_agent_defaults(const struct agent_config *c)
{
	const struct agent_gitaly_storage *st = c->gitaly.storages.items;

	CHECK_STR(c->state_dir, "/var/lib/lockstep-agent");
	CHECK_STR(c->log_level, "info");
	CHECK_STR(c->exec_helper, LOCKSTEP_LIBEXECDIR "/lockstep-agent-exec");
	CHECK_STR(c->backup_staging_dir, "/var/opt/gitlab/backups");
	CHECK_EQ_INT(c->min_free_space, 1LL << 30);
	CHECK_EQ_INT(c->warn_free_space, 10LL << 30);
	CHECK_EQ_INT(c->facts_interval, 5 * MS_M);
	CHECK_EQ_INT(c->op_timeout, MS_H);
	CHECK_EQ_INT(c->max_message_size, 16LL << 20);
	CHECK_EQ_INT(c->reconnect_min, MS_S);
	CHECK_EQ_INT(c->reconnect_max, 60 * MS_S);
	CHECK_STR(c->gitlab.ctl, "/opt/gitlab/bin/gitlab-ctl");
	CHECK_STR(c->gitlab.version_manifest,
	          "/opt/gitlab/version-manifest.json");
	CHECK_STR(c->gitlab.secrets_file, "/etc/gitlab/gitlab-secrets.json");
	CHECK_STR(c->gitlab.config_file, "/etc/gitlab/gitlab.rb");
	CHECK_STR(c->gitlab.url, "http://localhost");
	CHECK_STR(c->gitlab.api_token_file, "/etc/lockstep/gitlab-api-token");
	CHECK_STR(c->gitlab.os_release, "/etc/os-release");
	CHECK_EQ_INT(c->gitlab.http_timeout, 10 * MS_S);
	CHECK_STR(c->gitlab.rake, "/opt/gitlab/bin/gitlab-rake");
	CHECK_STR(c->gitlab.skip_auto_reconfigure,
	          "/etc/gitlab/skip-auto-reconfigure");
	CHECK_STR(c->package.manager, "apt");
	CHECK_STR(c->package.apt_get, "/usr/bin/apt-get");
	CHECK_STR(c->package.apt_cache, "/usr/bin/apt-cache");
	CHECK_STR(c->package.yum, "/usr/bin/yum");
	CHECK_STR(c->package.name, "");
	CHECK_STR(c->postgresql.conninfo,
	          "host=/var/opt/gitlab/postgresql port=5432 "
	          "dbname=gitlabhq_production user=gitlab-psql");
	CHECK(c->postgresql.ci_conninfo == NULL);
	CHECK_EQ_INT(c->postgresql.max_replication_lag, 60 * MS_S);
	CHECK_STR(c->redis.socket, "/var/opt/gitlab/redis/redis.socket");
	CHECK_STR(c->redis.host, "127.0.0.1");
	CHECK_EQ_INT(c->redis.port, 6379);
	CHECK(c->redis.password_file == NULL);
	CHECK_STR(c->gitaly.git, "/opt/gitlab/embedded/bin/git");
	CHECK_EQ_INT(c->gitaly.fsck_sample, 5);
	CHECK_EQ_INT(c->gitaly.fsck_timeout, 5 * MS_M);
	CHECK_STR(c->registry.config, "/var/opt/gitlab/registry/config.yml");
	CHECK_EQ_INT(c->registry.pgbouncer.n, 0);
	CHECK_EQ_INT(c->gitaly.storages.n, 1);
	if (c->gitaly.storages.n == 1) {
		CHECK_STR(st[0].name, "default");
		CHECK_STR(st[0].path, "/var/opt/gitlab/git-data/repositories");
	}
}

static void test_agent_defaults(void)
{
	static const char *const empties[] = {"", "# nothing\n", "---\n",
	                                      "--- ~\n"};
	struct agent_config c;
	size_t i;

	for (i = 0; i < sizeof(empties) / sizeof(empties[0]); i++) {
		CHECK_EQ_INT(aload(empties[i], &c), 0);
		check_agent_defaults(&c);
		agent_config_free(&c);
		CHECK(c.state_dir == NULL && c.gitaly.storages.n == 0);
		/* Freeing twice must be harmless. */
		agent_config_free(&c);
	}
	/* A nested map given in part keeps the defaults of the rest. */
	CHECK_EQ_INT(aload("gitlab:\n  url: https://gitlab.example.com\n", &c),
	             0);
	CHECK_STR(c.gitlab.url, "https://gitlab.example.com");
	CHECK_STR(c.gitlab.ctl, "/opt/gitlab/bin/gitlab-ctl");
	CHECK_EQ_INT(c.gitlab.http_timeout, 10 * MS_S);
	agent_config_free(&c);
}

static void test_deploy_examples(void)
{
	struct agent_config a;
	struct coord_config c;
	char host[256] = "";

	CHECK_EQ_INT(agent_config_load(LS_SOURCE_DIR "/deploy/agent.yml", &a,
	                               err, sizeof(err)),
	             0);
	CHECK_STR(err, "");
	/* The example documents the defaults: it must not drift from them. */
	check_agent_defaults(&a);
	agent_config_free(&a);

	CHECK_EQ_INT(coord_config_load(LS_SOURCE_DIR "/deploy/coordinator.yml",
	                               &c, err, sizeof(err)),
	             0);
	CHECK_STR(err, "");
	CHECK_STR(c.state_dir, "/var/lib/lockstep");
	CHECK_STR(c.log_level, "info");
	CHECK_STR(c.listen, "tls+tcp://0.0.0.0:7441");
	CHECK_STR(c.enroll_listen, "tls+tcp://0.0.0.0:7442");
	gethostname(host, sizeof(host) - 1);
	CHECK_STR(c.advertise_host, host);
	CHECK_EQ_INT(c.server_names.n, 0);
	CHECK_STR(c.control_socket, "");
	CHECK_EQ_INT(c.poll_timeout, 25 * MS_S);
	CHECK_EQ_INT(c.check_timeout, 2 * MS_M);
	CHECK_EQ_INT(c.token_ttl, MS_H);
	CHECK_EQ_INT(c.max_message_size, 16LL << 20);
	coord_config_free(&c);
	coord_config_free(&c);
}

static void test_agent_checks(void)
{
	struct agent_config a;

	AGENT_ERR("log_level: verbose\n",
	          "agent.yml:1: key 'log_level': must be one of error, warn, "
	          "info, debug");
	AGENT_ERR("state_dir: ''\n",
	          "agent.yml:1: key 'state_dir': must not be empty");
	AGENT_ERR("redis:\n  password_file: \"\"\n",
	          "agent.yml:2: key 'redis.password_file': must not be empty");
	AGENT_ERR("gitaly:\n  storages:\n    - name: ''\n      path: /a\n",
	          "agent.yml:3: key 'gitaly.storages[0].name': must not be "
	          "empty");
	AGENT_ERR("gitlab:\n  url: localhost\n",
	          "agent.yml:2: key 'gitlab.url': must start with http://");
	AGENT_ERR("package:\n  manager: dnf\n",
	          "agent.yml:2: key 'package.manager': must be apt or yum");
	AGENT_ERR("package:\n  name: gitlab\n",
	          "agent.yml:2: key 'package.name': must be gitlab-ee, "
	          "gitlab-ce or \"\"");
	AGENT_ERR("gitlab:\n  rake: ''\n",
	          "agent.yml:2: key 'gitlab.rake': must not be empty");
	AGENT_ERR("\nmin_free_space: 20GiB\n",
	          "agent.yml:2: key 'min_free_space': warn_free_space "
	          "(10737418240 bytes) must not be below min_free_space "
	          "(21474836480 bytes)");
	AGENT_ERR("warn_free_space: 512MiB\n",
	          "agent.yml:1: key 'warn_free_space': warn_free_space");
	AGENT_ERR("reconnect_max: 500ms\n",
	          "agent.yml:1: key 'reconnect_max': reconnect_max (500 ms) "
	          "must not be below reconnect_min (1000 ms)");
	AGENT_ERR("gitaly:\n  storages:\n    - {name: a, path: /a}\n"
	          "    - {name: a, path: /b}\n",
	          "agent.yml:2: key 'gitaly.storages': storage name 'a' is "
	          "used twice");

	AGENT_ERR("registry:\n  pgbouncer: [db:6432, pgbouncer]\n",
	          "agent.yml:2: key 'registry.pgbouncer': entry 1 'pgbouncer' "
	          "is not host:port");
	AGENT_ERR("registry:\n  config: registry.yml\n",
	          "agent.yml:2: key 'registry.config': must be an absolute "
	          "path");
	CHECK_EQ_INT(aload("registry:\n  pgbouncer:\n    - 10.0.0.9:6432\n"
	                   "    - '[fd00::9]:6433'\n",
	                   &a),
	             0);
	CHECK_EQ_INT(a.registry.pgbouncer.n, 2);
	if (a.registry.pgbouncer.n == 2)
		CHECK_STR(a.registry.pgbouncer.items[1], "[fd00::9]:6433");
	agent_config_free(&a);

	CHECK_EQ_INT(aload("min_free_space: 0\nwarn_free_space: 0\n"
	                   "log_level: debug\ngitaly:\n  fsck_sample: 1000\n",
	                   &a),
	             0);
	CHECK_EQ_INT(a.min_free_space, 0);
	CHECK_EQ_INT(a.gitaly.fsck_sample, 1000);
	CHECK_STR(a.log_level, "debug");
	agent_config_free(&a);
}

static void test_coord(void)
{
	struct coord_config c;

	CHECK_EQ_INT(cload("advertise_host: lockstep.example.com\n"
	                   "server_names: [lockstep.example.com, lockstep]\n"
	                   "control_socket: /run/lockstep.sock\n"
	                   "listen: tls+tcp://10.0.0.1:7441\n"
	                   "poll_timeout: 10m\n"
	                   "token_ttl: 30d\n"
	                   "check_timeout: 1s\n",
	                   &c),
	             0);
	CHECK_STR(c.advertise_host, "lockstep.example.com");
	CHECK_EQ_INT(c.server_names.n, 2);
	if (c.server_names.n == 2) {
		CHECK_STR(c.server_names.items[0], "lockstep.example.com");
		CHECK_STR(c.server_names.items[1], "lockstep");
	}
	CHECK_STR(c.control_socket, "/run/lockstep.sock");
	CHECK_STR(c.listen, "tls+tcp://10.0.0.1:7441");
	CHECK_STR(c.enroll_listen, "tls+tcp://0.0.0.0:7442");
	CHECK_EQ_INT(c.poll_timeout, 10 * MS_M);
	CHECK_EQ_INT(c.token_ttl, 30 * MS_D);
	CHECK_EQ_INT(c.check_timeout, MS_S);
	coord_config_free(&c);

	COORD_ERR("listen: tcp://0.0.0.0:7441\n",
	          "coordinator.yml:1: key 'listen': must be a tls+tcp://");
	COORD_ERR("\nenroll_listen: tls+tcp://\n",
	          "coordinator.yml:2: key 'enroll_listen': must be a "
	          "tls+tcp://");
	COORD_ERR("listen: tls+tcp://0.0.0.0:7442\n",
	          "coordinator.yml:1: key 'listen': listen and enroll_listen "
	          "must differ");
	COORD_ERR("log_level: warning\n",
	          "coordinator.yml:1: key 'log_level': must be one of");
	COORD_ERR("poll_timeout: 500ms\n",
	          "coordinator.yml:1: key 'poll_timeout': duration '500ms' out "
	          "of range, must be 1s..10m");
	COORD_ERR("poll_timeout: 601\n",
	          "coordinator.yml:1: key 'poll_timeout': duration '601' out "
	          "of range");
	COORD_ERR("token_ttl: 59s\n",
	          "coordinator.yml:1: key 'token_ttl': duration '59s' out of "
	          "range, must be 1m..30d");
	COORD_ERR("token_ttl: 31d\n",
	          "coordinator.yml:1: key 'token_ttl': duration '31d' out of "
	          "range");
	COORD_ERR("advertise_host: ''\n",
	          "coordinator.yml:1: key 'advertise_host': must not be empty");
	COORD_ERR("control_socket: ''\n",
	          "coordinator.yml:1: key 'control_socket': must not be empty");
	COORD_ERR("server_names: [a, '']\n",
	          "coordinator.yml:1: key 'server_names': entry 1 is empty");
}

int main(void)
{
	test_agent_defaults();
	test_deploy_examples();
	test_agent_checks();
	test_coord();
	return tu_done();
}
