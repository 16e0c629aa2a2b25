#include "agent_config.h"

#include <inttypes.h>
#include <stddef.h>
#include <string.h>

#include "ls_error.h"
#include "ls_log.h"
#include "ls_util.h"
#include "registry_config.h"

/* Nested structs are anonymous: offsets are taken relative to them. */
#define A(f) offsetof(struct agent_config, f)
#define SUB(s, f)                                                              \
	(offsetof(struct agent_config, s.f) - offsetof(struct agent_config, s))
#define GL(f) SUB(gitlab, f)
#define PG(f) SUB(postgresql, f)
#define RD(f) SUB(redis, f)
#define GY(f) SUB(gitaly, f)
#define BK(f) SUB(backup, f)
#define PK(f) SUB(package, f)
#define KB(f) SUB(kubernetes, f)
#define RG(f) SUB(registry, f)
#define ST(f) offsetof(struct agent_gitaly_storage, f)

/* Tools are run by execve, without PATH lookup. */
static int check_abs_path(const void *value, const void *parent, char *why,
                          size_t whylen)
{
	const char *const *s = value;

	(void)parent;
	if ((*s)[0] == '/')
		return 0;
	ls_strlcpy(why, "must be an absolute path", whylen);
	return -1;
}

static int check_url(const void *value, const void *parent, char *why,
                     size_t whylen)
{
	const char *const *s = value;

	if (strncmp(*s, "http://", 7) == 0 || strncmp(*s, "https://", 8) == 0)
		return 0;
	ls_strlcpy(why, "must start with http:// or https://", whylen);
	return -1;
}

/* On both keys, so that whichever one the file sets is named. */
static int check_free_space(const void *value, const void *parent, char *why,
                            size_t whylen)
{
	const struct agent_config *cfg = parent;

	if (cfg->warn_free_space >= cfg->min_free_space)
		return 0;
	(void)ls_fmt(why, whylen,
	             "warn_free_space (%" PRIu64
	             " bytes) must not be below min_free_space (%" PRIu64
	             " bytes)",
	             cfg->warn_free_space, cfg->min_free_space);
	return -1;
}

static int check_reconnect(const void *value, const void *parent, char *why,
                           size_t whylen)
{
	const struct agent_config *cfg = parent;

	if (cfg->reconnect_max >= cfg->reconnect_min)
		return 0;
	(void)ls_fmt(why, whylen,
	             "reconnect_max (%" PRId64
	             " ms) must not be below reconnect_min (%" PRId64 " ms)",
	             cfg->reconnect_max, cfg->reconnect_min);
	return -1;
}

/* Operations name storages: two with one name would be ambiguous. */
static int check_storages(const void *value, const void *parent, char *why,
                          size_t whylen)
{
	const struct ls_maplist *l = value;
	const struct agent_gitaly_storage *st = l->items;
	size_t i, j;

	for (i = 0; i < l->n; i++)
		for (j = 0; j < i; j++)
			if (strcmp(st[i].name, st[j].name) == 0) {
				(void)ls_fmt(why, whylen,
				             "storage name '%.64s' is used "
				             "twice (entries %zu and %zu)",
				             st[i].name, j, i);
				return -1;
			}
	return 0;
}

static const struct ls_cfg_field storage_fields[] = {
    {.key = "name",
     .type = LS_CFG_STRING,
     .offset = ST(name),
     .required = 1,
     .check = ls_cfg_check_nonempty},
    {.key = "path",
     .type = LS_CFG_STRING,
     .offset = ST(path),
     .required = 1,
     .check = ls_cfg_check_nonempty},
    {.key = NULL},
};

static const struct ls_cfg_field gitlab_fields[] = {
    {.key = "ctl",
     .type = LS_CFG_STRING,
     .offset = GL(ctl),
     .def = "/opt/gitlab/bin/gitlab-ctl",
     .check = ls_cfg_check_nonempty},
    {.key = "version_manifest",
     .type = LS_CFG_STRING,
     .offset = GL(version_manifest),
     .def = "/opt/gitlab/version-manifest.json",
     .check = ls_cfg_check_nonempty},
    {.key = "secrets_file",
     .type = LS_CFG_STRING,
     .offset = GL(secrets_file),
     .def = "/etc/gitlab/gitlab-secrets.json",
     .check = ls_cfg_check_nonempty},
    {.key = "config_file",
     .type = LS_CFG_STRING,
     .offset = GL(config_file),
     .def = "/etc/gitlab/gitlab.rb",
     .check = ls_cfg_check_nonempty},
    {.key = "url",
     .type = LS_CFG_STRING,
     .offset = GL(url),
     .def = "http://localhost",
     .check = check_url},
    {.key = "api_token_file",
     .type = LS_CFG_STRING,
     .offset = GL(api_token_file),
     .def = "/etc/lockstep/gitlab-api-token",
     .check = ls_cfg_check_nonempty},
    {.key = "rails_config",
     .type = LS_CFG_STRING,
     .offset = GL(rails_config),
     .def = "/var/opt/gitlab/gitlab-rails/etc/gitlab.yml",
     .check = ls_cfg_check_nonempty},
    {.key = "os_release",
     .type = LS_CFG_STRING,
     .offset = GL(os_release),
     .def = "/etc/os-release",
     .check = ls_cfg_check_nonempty},
    {.key = "http_timeout",
     .type = LS_CFG_DURATION,
     .offset = GL(http_timeout),
     .def = "10s"},
    {.key = "rake",
     .type = LS_CFG_STRING,
     .offset = GL(rake),
     .def = "/opt/gitlab/bin/gitlab-rake",
     .check = ls_cfg_check_nonempty},
    {.key = "skip_auto_reconfigure",
     .type = LS_CFG_STRING,
     .offset = GL(skip_auto_reconfigure),
     .def = "/etc/gitlab/skip-auto-reconfigure",
     .check = ls_cfg_check_nonempty},
    {.key = NULL},
};

static const struct ls_cfg_field postgresql_fields[] = {
    {.key = "conninfo",
     .type = LS_CFG_STRING,
     .offset = PG(conninfo),
     .def = "host=/var/opt/gitlab/postgresql port=5432 "
            "dbname=gitlabhq_production user=gitlab-psql",
     .check = ls_cfg_check_nonempty},
    {.key = "ci_conninfo",
     .type = LS_CFG_STRING,
     .offset = PG(ci_conninfo),
     .check = ls_cfg_check_nonempty},
    {.key = "max_replication_lag",
     .type = LS_CFG_DURATION,
     .offset = PG(max_replication_lag),
     .def = "60s"},
    {.key = NULL},
};

static const struct ls_cfg_field redis_fields[] = {
    /* No check: an empty socket selects host and port. */
    {.key = "socket",
     .type = LS_CFG_STRING,
     .offset = RD(socket),
     .def = "/var/opt/gitlab/redis/redis.socket"},
    {.key = "host",
     .type = LS_CFG_STRING,
     .offset = RD(host),
     .def = "127.0.0.1",
     .check = ls_cfg_check_nonempty},
    {.key = "port",
     .type = LS_CFG_INT,
     .offset = RD(port),
     .def = "6379",
     .min = 1,
     .max = 65535},
    {.key = "password_file",
     .type = LS_CFG_STRING,
     .offset = RD(password_file),
     .check = ls_cfg_check_nonempty},
    /* Without it the backup asks Redis: CONFIG GET dir and dbfilename. */
    {.key = "rdb_path",
     .type = LS_CFG_STRING,
     .offset = RD(rdb_path),
     .check = ls_cfg_check_nonempty},
    {.key = NULL},
};

static const struct ls_cfg_field gitaly_fields[] = {
    {.key = "git",
     .type = LS_CFG_STRING,
     .offset = GY(git),
     .def = "/opt/gitlab/embedded/bin/git",
     .check = ls_cfg_check_nonempty},
    {.key = "fsck_sample",
     .type = LS_CFG_INT,
     .offset = GY(fsck_sample),
     .def = "5",
     .min = 0,
     .max = 1000},
    {.key = "fsck_timeout",
     .type = LS_CFG_DURATION,
     .offset = GY(fsck_timeout),
     .def = "5m"},
    {.key = "storages",
     .type = LS_CFG_MAPLIST,
     .offset = GY(storages),
     .def = "[{name: default, path: /var/opt/gitlab/git-data/repositories}]",
     .sub = storage_fields,
     .elem_size = sizeof(struct agent_gitaly_storage),
     .check = check_storages},
    {.key = NULL},
};

static const struct ls_cfg_field backup_fields[] = {
    {.key = "uploads",
     .type = LS_CFG_STRING,
     .offset = BK(uploads),
     .def = "/var/opt/gitlab/gitlab-rails/uploads",
     .check = ls_cfg_check_nonempty},
    {.key = "builds",
     .type = LS_CFG_STRING,
     .offset = BK(builds),
     .def = "/var/opt/gitlab/gitlab-ci/builds",
     .check = ls_cfg_check_nonempty},
    {.key = "artifacts",
     .type = LS_CFG_STRING,
     .offset = BK(artifacts),
     .def = "/var/opt/gitlab/gitlab-rails/shared/artifacts",
     .check = ls_cfg_check_nonempty},
    {.key = "pages",
     .type = LS_CFG_STRING,
     .offset = BK(pages),
     .def = "/var/opt/gitlab/gitlab-rails/shared/pages",
     .check = ls_cfg_check_nonempty},
    {.key = "lfs",
     .type = LS_CFG_STRING,
     .offset = BK(lfs),
     .def = "/var/opt/gitlab/gitlab-rails/shared/lfs-objects",
     .check = ls_cfg_check_nonempty},
    {.key = "terraform_state",
     .type = LS_CFG_STRING,
     .offset = BK(terraform_state),
     .def = "/var/opt/gitlab/gitlab-rails/shared/terraform_state",
     .check = ls_cfg_check_nonempty},
    {.key = "registry",
     .type = LS_CFG_STRING,
     .offset = BK(registry),
     .def = "/var/opt/gitlab/gitlab-rails/shared/registry",
     .check = ls_cfg_check_nonempty},
    {.key = "packages",
     .type = LS_CFG_STRING,
     .offset = BK(packages),
     .def = "/var/opt/gitlab/gitlab-rails/shared/packages",
     .check = ls_cfg_check_nonempty},
    {.key = "ci_secure_files",
     .type = LS_CFG_STRING,
     .offset = BK(ci_secure_files),
     .def = "/var/opt/gitlab/gitlab-rails/shared/ci_secure_files",
     .check = ls_cfg_check_nonempty},
    {.key = "pg_dump",
     .type = LS_CFG_STRING,
     .offset = BK(pg_dump),
     .def = "/opt/gitlab/embedded/bin/pg_dump",
     .check = ls_cfg_check_nonempty},
    {.key = "jobs",
     .type = LS_CFG_INT,
     .offset = BK(jobs),
     .def = "0",
     .min = 0,
     .max = 256},
    {.key = NULL},
};

static int check_manager(const void *value, const void *parent, char *why,
                         size_t whylen)
{
	const char *const *s = value;

	if (strcmp(*s, "apt") == 0 || strcmp(*s, "yum") == 0)
		return 0;
	ls_strlcpy(why, "must be apt or yum", whylen);
	return -1;
}

/* Upgrades install exactly this package: a typo must not install a
 * different product. */
static int check_package_name(const void *value, const void *parent, char *why,
                              size_t whylen)
{
	const char *const *s = value;

	if ((*s)[0] == '\0' || strcmp(*s, "gitlab-ee") == 0 ||
	    strcmp(*s, "gitlab-ce") == 0)
		return 0;
	ls_strlcpy(why, "must be gitlab-ee, gitlab-ce or \"\"", whylen);
	return -1;
}

static const struct ls_cfg_field package_fields[] = {
    {.key = "manager",
     .type = LS_CFG_STRING,
     .offset = PK(manager),
     .def = "apt",
     .check = check_manager},
    {.key = "apt_get",
     .type = LS_CFG_STRING,
     .offset = PK(apt_get),
     .def = "/usr/bin/apt-get",
     .check = ls_cfg_check_nonempty},
    {.key = "apt_cache",
     .type = LS_CFG_STRING,
     .offset = PK(apt_cache),
     .def = "/usr/bin/apt-cache",
     .check = ls_cfg_check_nonempty},
    {.key = "yum",
     .type = LS_CFG_STRING,
     .offset = PK(yum),
     .def = "/usr/bin/yum",
     .check = ls_cfg_check_nonempty},
    {.key = "name",
     .type = LS_CFG_STRING,
     .offset = PK(name),
     .def = "",
     .check = check_package_name},
    {.key = NULL},
};

static const struct ls_cfg_field kubernetes_fields[] = {
    {.key = "kubectl",
     .type = LS_CFG_STRING,
     .offset = KB(kubectl),
     .def = "/usr/bin/kubectl",
     .check = check_abs_path},
    {.key = "helm",
     .type = LS_CFG_STRING,
     .offset = KB(helm),
     .def = "/usr/local/bin/helm",
     .check = check_abs_path},
    {.key = "kubeconfig",
     .type = LS_CFG_STRING,
     .offset = KB(kubeconfig),
     .def = "/etc/lockstep/kubeconfig",
     .check = check_abs_path},
    {.key = "context", .type = LS_CFG_STRING, .offset = KB(context), .def = ""},
    {.key = "call_timeout",
     .type = LS_CFG_DURATION,
     .offset = KB(call_timeout),
     .def = "2m",
     .min = 1000,
     .max = 3600000},
    {.key = "restore_timeout",
     .type = LS_CFG_DURATION,
     .offset = KB(restore_timeout),
     .def = "12h",
     .min = 60000,
     .max = 7LL * 24 * 3600000},
    {.key = "ready_timeout",
     .type = LS_CFG_DURATION,
     .offset = KB(ready_timeout),
     .def = "15m",
     .min = 1000,
     .max = 24LL * 3600000},
    /* As `helm repo add gitlab https://charts.gitlab.io/` names it. */
    {.key = "chart",
     .type = LS_CFG_STRING,
     .offset = KB(chart),
     .def = "gitlab/gitlab"},
    {.key = NULL},
};

/* registry.pgbouncer: each entry a host:port the database's may equal. */
static int check_hostports(const void *value, const void *parent, char *why,
                           size_t whylen)
{
	const struct ls_strlist *l = value;
	size_t i;

	(void)parent;
	for (i = 0; i < l->n; i++)
		if (reg_split_hostport(l->items[i], NULL, 0, NULL) < 0) {
			(void)ls_fmt(why, whylen,
			             "entry %zu '%.64s' is not host:port", i,
			             l->items[i]);
			return -1;
		}
	return 0;
}

static const struct ls_cfg_field registry_fields[] = {
    {.key = "config",
     .type = LS_CFG_STRING,
     .offset = RG(config),
     .def = "/var/opt/gitlab/registry/config.yml",
     .check = check_abs_path},
    {.key = "pgbouncer",
     .type = LS_CFG_STRLIST,
     .offset = RG(pgbouncer),
     .def = "[]",
     .check = check_hostports},
    {.key = NULL},
};

static const struct ls_cfg_field agent_fields[] = {
    {.key = "state_dir",
     .type = LS_CFG_STRING,
     .offset = A(state_dir),
     .def = "/var/lib/lockstep-agent",
     .check = ls_cfg_check_nonempty},
    {.key = "log_level",
     .type = LS_CFG_STRING,
     .offset = A(log_level),
     .def = "info",
     .check = ls_cfg_check_log_level},
    {.key = "exec_helper",
     .type = LS_CFG_STRING,
     .offset = A(exec_helper),
     .def = LOCKSTEP_LIBEXECDIR "/lockstep-agent-exec",
     .check = ls_cfg_check_nonempty},
    {.key = "backup_staging_dir",
     .type = LS_CFG_STRING,
     .offset = A(backup_staging_dir),
     .def = "/var/opt/gitlab/backups",
     .check = ls_cfg_check_nonempty},
    {.key = "min_free_space",
     .type = LS_CFG_SIZE,
     .offset = A(min_free_space),
     .def = "1GiB",
     .check = check_free_space},
    {.key = "warn_free_space",
     .type = LS_CFG_SIZE,
     .offset = A(warn_free_space),
     .def = "10GiB",
     .check = check_free_space},
    {.key = "facts_interval",
     .type = LS_CFG_DURATION,
     .offset = A(facts_interval),
     .def = "5m"},
    {.key = "op_timeout",
     .type = LS_CFG_DURATION,
     .offset = A(op_timeout),
     .def = "1h"},
    /* Below a few KiB not even a backup manifest fits; nng holds whole
     * messages in memory, so a cap far above 1 GiB is a mistake. */
    {.key = "max_message_size",
     .type = LS_CFG_SIZE,
     .offset = A(max_message_size),
     .def = "16MiB",
     .min = 4096,
     .max = 1LL << 30},
    {.key = "reconnect_min",
     .type = LS_CFG_DURATION,
     .offset = A(reconnect_min),
     .def = "1s",
     .check = check_reconnect},
    {.key = "reconnect_max",
     .type = LS_CFG_DURATION,
     .offset = A(reconnect_max),
     .def = "60s",
     .check = check_reconnect},
    {.key = "gitlab",
     .type = LS_CFG_MAP,
     .offset = A(gitlab),
     .sub = gitlab_fields},
    {.key = "postgresql",
     .type = LS_CFG_MAP,
     .offset = A(postgresql),
     .sub = postgresql_fields},
    {.key = "redis",
     .type = LS_CFG_MAP,
     .offset = A(redis),
     .sub = redis_fields},
    {.key = "gitaly",
     .type = LS_CFG_MAP,
     .offset = A(gitaly),
     .sub = gitaly_fields},
    {.key = "backup",
     .type = LS_CFG_MAP,
     .offset = A(backup),
     .sub = backup_fields},
    {.key = "package",
     .type = LS_CFG_MAP,
     .offset = A(package),
     .sub = package_fields},
    {.key = "kubernetes",
     .type = LS_CFG_MAP,
     .offset = A(kubernetes),
     .sub = kubernetes_fields},
    {.key = "registry",
     .type = LS_CFG_MAP,
     .offset = A(registry),
     .sub = registry_fields},
    {.key = NULL},
};

const struct ls_cfg_field *agent_config_schema(void)
{
	return agent_fields;
}

int agent_config_load(const char *path, struct agent_config *cfg, char *err,
                      size_t errlen)
{
	memset(cfg, 0, sizeof(*cfg));
	return ls_cfg_load(path, agent_fields, cfg, err, errlen);
}

void agent_config_free(struct agent_config *cfg)
{
	if (cfg != NULL)
		ls_cfg_free(agent_fields, cfg);
}
