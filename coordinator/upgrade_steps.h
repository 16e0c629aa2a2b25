/*
 * The steps of a fleet upgrade (gitlab-facts §7): for every stop of the
 * path, the checks before, the wait for batched background migrations,
 * the rollback-point backup, the node steps in GitLab's role order
 * (zero-downtime or with downtime) and the checks after. Pure: it reads
 * a description of the nodes, not the live fleet, so the order is
 * unit-tested.
 */
#ifndef UPGRADE_STEPS_H
#define UPGRADE_STEPS_H

#include <stddef.h>
#include <stdint.h>

#include "lockstep.pb-c.h"
#include "ls_version.h"

#define UG_NAME_MAX 64
#define UG_STEP_NAME_MAX 128
#define UG_MAX_STOPS 64

enum ug_role {
	UG_RAILS = 1u << 0,
	UG_SIDEKIQ = 1u << 1,
	UG_GITALY = 1u << 2,
	UG_PRAEFECT = 1u << 3,
	UG_POSTGRESQL = 1u << 4,
	UG_PGBOUNCER = 1u << 5,
	UG_REDIS = 1u << 6,
	UG_CONSUL = 1u << 7,
	UG_GEO_PRIMARY = 1u << 8,
	UG_GEO_SECONDARY = 1u << 9,
	UG_REGISTRY = 1u << 10, /* the Linux package's container registry */
};

/* What `gitlab-ctl patroni check-leader` said on the node (its facts).
 * Zero is unknown, so a node described without it keeps name order. */
enum ug_pg_role {
	UG_PG_UNKNOWN = 0,
	UG_PG_REPLICA,
	UG_PG_LEADER,
};

struct ug_node {
	char name[UG_NAME_MAX];
	unsigned roles; /* enum ug_role bits */
	char site[UG_NAME_MAX];
	enum ug_pg_role pg_role; /* only read for UG_POSTGRESQL nodes */
};

enum ug_mode {
	UG_ZERO_DOWNTIME,
	UG_DOWNTIME,
};

enum ug_step_kind {
	UG_CHECK,    /* `lockstep check` on the node (RunChecks) */
	UG_BBM_WAIT, /* poll BbmStatus on the node until none is left */
	UG_BACKUP,   /* coordinator: the stop's rollback-point backup */
	UG_MAINT_ON, /* maintenance mode on (the node is a Rails node) */
	UG_MAINT_OFF,
	UG_ACTION, /* one UpgradeAction on the node */
	/* Geo: the primary's gitlab-secrets.json onto this secondary node,
	 * sealed end to end (SecretsExport on `from`, SecretsImport here). */
	UG_SECRETS_COPY,
	/* The container registry's post-deployment migrations on this
	 * registry node (RegistryMigrate); a registry without a metadata
	 * database makes it a skipped step, not a failure. */
	UG_REGISTRY_MIGRATE,
};

struct ug_step {
	uint32_t stop;  /* 1-based index into the path */
	uint32_t phase; /* steps of one phase run together; phases in order */
	char node[UG_NAME_MAX]; /* "" for a coordinator step */
	char name[UG_STEP_NAME_MAX];
	enum ug_step_kind kind;
	/* UG_ACTION */
	Ls__UpgradeActionKind action;
	char version[LS_VERSION_STR_MAX];
	int skip_post_deploy;
	char services[64]; /* comma-separated, "" for all */
	uint32_t ready_wait_ms;
	int allow_downgrade;
	/* UG_SECRETS_COPY: the primary node it copies from */
	char from[UG_NAME_MAX];
};

struct ug_steps {
	struct ug_step *v;
	size_t n, cap;
	uint32_t next_phase;
};

struct ug_fleet {
	const struct ug_node *nodes;
	size_t n;
	/* The Rails node that runs migrations ("" picks the first Rails node
	 * of the primary site by name). */
	const char *deploy_node;
	uint32_t ready_wait_ms;
};

/* "rails" -> UG_RAILS; 0 for an unknown role. */
unsigned ug_role_bit(const char *role);

/*
 * Appends the steps of stop number `stop` (1-based) that installs
 * version. Within a site the PostgreSQL nodes go Patroni replicas first
 * (by name), then those whose role is unknown, then the leader; with no
 * role known in the site, by name. LS_EINVAL with err when the fleet
 * cannot be upgraded this way (no Rails node, a named deploy node that is
 * not a Rails node, a Geo secondary site without a primary, two Patroni
 * leaders in one site).
 */
int ug_stop_steps(const struct ug_fleet *f, enum ug_mode mode, uint32_t stop,
                  const struct ls_version *version, struct ug_steps *out,
                  char *err, size_t errlen);
void ug_steps_free(struct ug_steps *s);

/*
 * Appends, as a phase of its own in stop `stop` (the path's last), the
 * container registry's post-deployment migrations on the first registry
 * node by name (one metadata database: once is enough). Nothing when the
 * fleet has no registry node. LS_ENOMEM or 0.
 */
int ug_registry_step(const struct ug_fleet *f, uint32_t stop,
                     const struct ls_version *version, struct ug_steps *out);

/* The deploy node's name as ug_stop_steps picks it, or NULL. */
const char *ug_deploy_node(const struct ug_fleet *f);
/* The node that answers BbmStatus: the primary site's first PostgreSQL
 * node, else the deploy node. */
const char *ug_database_node(const struct ug_fleet *f);

/* "leader" -> UG_PG_LEADER, "replica" -> UG_PG_REPLICA, else unknown
 * (NULL too). */
enum ug_pg_role ug_pg_role_parse(const char *s);
/*
 * A note for the plan when a site has two or more PostgreSQL nodes and no
 * Patroni leader among them, so the leader may be upgraded before a
 * replica: 1 with the note in buf, else 0.
 */
int ug_pg_note(const struct ug_fleet *f, char *buf, size_t len);

const char *ug_mode_name(enum ug_mode m);
int ug_mode_parse(const char *s, enum ug_mode *m);

#endif
