/*
 * Node checks run by lockstep-agent-exec. Each check appends results with a
 * one-line, length-capped reason that names the thing at fault.
 */
#ifndef CHECK_H
#define CHECK_H

#include <stddef.h>
#include <stdint.h>

struct agent_config;

/* Same values as ls.CheckStatus. */
enum check_status {
	CHECK_ST_PASS = 0,
	CHECK_ST_WARN = 1,
	CHECK_ST_FAIL = 2,
};

#define CHECK_NAME_MAX 128
#define CHECK_REASON_MAX 300

struct check_result {
	char name[CHECK_NAME_MAX];
	enum check_status status;
	char reason[CHECK_REASON_MAX + 1];
};

struct check_report {
	struct check_result *items;
	size_t n;
	size_t cap;
	int oom; /* a result could not be stored */
};

/* Appends a result; name and reason are made single-line printable ASCII
 * and truncated. On allocation failure sets r->oom. */
void check_add(struct check_report *r, const char *name, enum check_status st,
               const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void check_report_free(struct check_report *r);
/* The worst status in the report (PASS for an empty report). */
enum check_status check_report_worst(const struct check_report *r);
const char *check_status_name(enum check_status st);

/* In place: control bytes become spaces, non-ASCII bytes '?'. */
void check_sanitize(char *s);
/* "1.5 GiB"-style rendering of a byte count. */
void check_human_bytes(uint64_t bytes, char *buf, size_t size);
/* The first non-blank line of text, sanitized and capped, into buf. */
void check_first_line(const char *text, size_t len, char *buf, size_t size);

enum check_scope {
	CHECK_SCOPE_ALL,
	/* A backup's preflight: what would make the backup fail or be
	 * wrong. A repository's integrity is the copy's to find (it names
	 * the repository), and fsck of a large one would hold the backup
	 * for minutes; background migrations and replication lag do not
	 * bear on a dump taken from the primary. */
	CHECK_SCOPE_BACKUP,
};

/* Runs the checks every node gets plus those of each known role (unknown
 * roles add nothing). Roles: postgresql, redis, gitaly, rails, and
 * geo-primary together with rails. */
void check_run_all(const struct agent_config *cfg, const char *const *roles,
                   size_t nroles, enum check_scope scope,
                   struct check_report *r);
/* 1 when the role has checks of its own. */
int check_role_known(const char *role);

struct gitlab_version;
/*
 * Reads the version manifest and, when build_version does not name the
 * edition, version-manifest.txt beside it. Returns 0 with v filled (edition
 * may stay empty, with the reason in err), or an error with a one-line
 * reason naming the file in err.
 */
int check_version_load(const char *manifest, struct gitlab_version *v,
                       char *err, size_t errlen);

/* Individual check groups (check_node.c, check_rails.c, ...). */
void check_gitlabctl(const struct agent_config *cfg, struct check_report *r);
void check_gitlab_version(const struct agent_config *cfg,
                          struct check_report *r);
void check_staging_space(const struct agent_config *cfg,
                         struct check_report *r);
void check_postgresql(const struct agent_config *cfg, struct check_report *r);
/* Connections only (CHECK_SCOPE_BACKUP). */
void check_postgresql_connect(const struct agent_config *cfg,
                              struct check_report *r);
void check_redis(const struct agent_config *cfg, struct check_report *r);
void check_gitaly(const struct agent_config *cfg, struct check_report *r);
/* The storage directories only (CHECK_SCOPE_BACKUP). */
void check_gitaly_storages(const struct agent_config *cfg,
                           struct check_report *r);
void check_rails(const struct agent_config *cfg, struct check_report *r);
/* Each secondary site's replication, from the primary's Geo API: run on a
 * node with both the rails and geo-primary roles (check_geo.c). */
void check_geo(const struct agent_config *cfg, struct check_report *r);
/* kubernetes role: kubectl reaches the cluster, helm runs (check_kube.c). */
void check_kubernetes(const struct agent_config *cfg, struct check_report *r);

#endif
