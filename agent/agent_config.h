/* agent.yml: every path and command the agent uses, with the Linux
 * package's defaults. */
#ifndef AGENT_CONFIG_H
#define AGENT_CONFIG_H

#include <stdint.h>

#include "ls_yaml.h"

struct agent_gitaly_storage {
	char *name;
	char *path;
};

struct agent_config {
	char *state_dir;   /* default /var/lib/lockstep-agent */
	char *log_level;   /* error|warn|info|debug, default info */
	char *exec_helper; /* default LOCKSTEP_LIBEXECDIR "/lockstep-agent-exec"
	                    */
	char *backup_staging_dir;  /* default /var/opt/gitlab/backups */
	uint64_t min_free_space;   /* fail below; default 1GiB */
	uint64_t warn_free_space;  /* warn below; default 10GiB */
	int64_t facts_interval;    /* default 5m */
	int64_t op_timeout;        /* default 1h: one operation's deadline */
	uint64_t max_message_size; /* default 16MiB */
	int64_t reconnect_min;     /* default 1s */
	int64_t reconnect_max;     /* default 60s */
	struct {
		char *ctl;              /* /opt/gitlab/bin/gitlab-ctl */
		char *version_manifest; /* /opt/gitlab/version-manifest.json */
		char *secrets_file;     /* /etc/gitlab/gitlab-secrets.json */
		char *config_file;      /* /etc/gitlab/gitlab.rb */
		char *url;              /* http://localhost */
		char *api_token_file; /* /etc/lockstep/gitlab-api-token (may be
		                         absent) */
		/* /var/opt/gitlab/gitlab-rails/etc/gitlab.yml: the gitlab.yml
		 * gitlab-ctl reconfigure renders, read for object storage
		 * (may be absent) */
		char *rails_config;
		char *os_release;     /* /etc/os-release */
		int64_t http_timeout; /* 10s */
		char *rake;           /* /opt/gitlab/bin/gitlab-rake */
		/* /etc/gitlab/skip-auto-reconfigure: its presence makes the
		 * package install skip reconfigure, migrations and restarts */
		char *skip_auto_reconfigure;
	} gitlab;
	struct {
		/* host=/var/opt/gitlab/postgresql port=5432
		 * dbname=gitlabhq_production user=gitlab-psql */
		char *conninfo;
		char *ci_conninfo; /* optional, no default: a separate CI
		                      database */
		int64_t max_replication_lag; /* 60s */
	} postgresql;
	struct {
		char *socket;   /* /var/opt/gitlab/redis/redis.socket; "" to use
		                   host/port */
		char *host;     /* 127.0.0.1 */
		long long port; /* 6379 */
		char *password_file; /* optional, no default */
		/* optional, no default: the RDB file a backup BGSAVE writes,
		 * when CONFIG GET cannot say (CONFIG renamed away) */
		char *rdb_path;
	} redis;
	struct {
		char *git;             /* /opt/gitlab/embedded/bin/git */
		long long fsck_sample; /* 5; 0 disables, max 1000 */
		int64_t fsck_timeout;  /* 5m per repository */
		struct ls_maplist
		    storages; /* of struct agent_gitaly_storage;
		               * default one: default ->
		               * /var/opt/gitlab/git-data/repositories */
	} gitaly;
	struct {
		/* File components (gitlab-facts §1), Linux package paths. */
		char *uploads;   /* /var/opt/gitlab/gitlab-rails/uploads */
		char *builds;    /* /var/opt/gitlab/gitlab-ci/builds */
		char *artifacts; /* .../gitlab-rails/shared/artifacts */
		char *pages;     /* .../gitlab-rails/shared/pages */
		char *lfs;       /* .../gitlab-rails/shared/lfs-objects */
		char
		    *terraform_state; /* .../gitlab-rails/shared/terraform_state
		                       */
		char *registry;       /* .../gitlab-rails/shared/registry */
		char *packages;       /* .../gitlab-rails/shared/packages */
		char
		    *ci_secure_files; /* .../gitlab-rails/shared/ci_secure_files
		                       */
		char *pg_dump;        /* /opt/gitlab/embedded/bin/pg_dump */
		long long jobs;       /* parallel repositories; 0 = cores */
	} backup;
	struct {
		char *manager;   /* apt | yum; default apt */
		char *apt_get;   /* /usr/bin/apt-get */
		char *apt_cache; /* /usr/bin/apt-cache */
		char *yum;       /* /usr/bin/yum */
		/* gitlab-ee | gitlab-ce; "" (default): the package the version
		 * manifest names */
		char *name;
	} package;
	struct {
		/* A node with the kubernetes role drives the GitLab chart with
		 * these, argv only. */
		char *kubectl;    /* /usr/bin/kubectl */
		char *helm;       /* /usr/local/bin/helm (its installer's) */
		char *kubeconfig; /* /etc/lockstep/kubeconfig */
		char *context; /* "" (default): the kubeconfig's current one */
		int64_t call_timeout; /* 2m: one kubectl or helm call */
		int64_t
		    restore_timeout;   /* 12h: kubectl cp plus backup-utility */
		int64_t ready_timeout; /* 15m: pods ready after a restart */
		/* gitlab/gitlab: the chart reference helm installs a second
		 * release of (registry migrate --separate-release) */
		char *chart;
	} kubernetes;
	struct {
		/* /var/opt/gitlab/registry/config.yml: the registry config
		 * gitlab-ctl reconfigure renders, read for its database */
		char *config;
		/* host:port of PgBouncers (default none): the registry's
		 * migrations must not connect through one */
		struct ls_strlist pgbouncer;
	} registry;
};

int agent_config_load(const char *path, struct agent_config *cfg, char *err,
                      size_t errlen);
void agent_config_free(struct agent_config *cfg);
/* The schema agent_config_load uses, for ls_cfg_load_buf (fuzzing). */
const struct ls_cfg_field *agent_config_schema(void);

#endif
