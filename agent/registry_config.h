/*
 * The registry's own config.yml, read for its metadata database: is it
 * enabled, and which host and port do its migrations connect to.
 * Pure (a buffer in, libyaml's parser), for unit tests and fuzzing.
 *
 * The Linux package renders /var/opt/gitlab/registry/config.yml from
 * gitlab.rb's registry['database'] (omnibus-gitlab registry-config.yml.erb);
 * the registry reads database.enabled, host, port and, when set,
 * database.primary: migrations then connect to that host instead of
 * database.host (container-registry registry/root.go,
 * migrationDBFromConfig), on the same port.
 */
#ifndef REGISTRY_CONFIG_H
#define REGISTRY_CONFIG_H

#include <stddef.h>

#define REG_HOST_MAX 255
/* The default port of PgBouncer (and of the Linux package's pgbouncer
 * service): a migration connection there is pooled and time-limited. */
#define REG_PGBOUNCER_PORT 6432
#define REG_PG_PORT 5432

struct reg_dbconf {
	int section;                    /* a database: mapping is there */
	int enabled;                    /* database.enabled: true */
	char host[REG_HOST_MAX + 1];    /* database.host; "" absent */
	char primary[REG_HOST_MAX + 1]; /* database.primary; "" absent */
	unsigned port;                  /* database.port; 5432 absent */
};

/*
 * Parses the YAML text of a registry config. Returns 0 (out filled, also
 * when there is no database section), LS_EPROTO with err "line N: ..." for
 * YAML libyaml refuses or a database section of the wrong shape,
 * LS_ETOOBIG past 1 MiB.
 */
int reg_config_parse(const char *text, size_t len, struct reg_dbconf *out,
                     char *err, size_t errlen);

/* The host migrations connect to: primary when set, else host. */
const char *reg_config_migration_host(const struct reg_dbconf *c);

/*
 * 1 when the migrations' connection goes through PgBouncer: its port is
 * REG_PGBOUNCER_PORT, or host:port is one of pgbouncers ("host:port", as
 * agent.yml registry.pgbouncer lists them; "[v6]:port" too). why then
 * names the host:port. 0 otherwise.
 */
int reg_config_via_pgbouncer(const struct reg_dbconf *c,
                             char *const *pgbouncers, size_t n, char *why,
                             size_t whylen);

/* "host:port" with a port 1-65535 and a host of at most REG_HOST_MAX
 * bytes: 0, else -1. host/port out when non-NULL. */
int reg_split_hostport(const char *s, char *host, size_t hostlen,
                       unsigned *port);

#endif
