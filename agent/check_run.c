#include <string.h>

#include "agent_config.h"
#include "check.h"

typedef void (*check_fn)(const struct agent_config *, struct check_report *);

static const struct {
	const char *role;
	check_fn run;
	check_fn backup; /* CHECK_SCOPE_BACKUP's part */
} role_checks[] = {
    {"postgresql", check_postgresql, check_postgresql_connect},
    {"redis", check_redis, check_redis},
    {"gitaly", check_gitaly, check_gitaly_storages},
    {"rails", check_rails, check_rails},
};

#define NROLES (sizeof(role_checks) / sizeof(role_checks[0]))

/* Roles whose checks need another role too: run by check_run_all itself. */
static int has_role(const char *const *roles, size_t nroles, const char *role)
{
	size_t j;

	for (j = 0; j < nroles; j++)
		if (roles[j] != NULL && strcmp(roles[j], role) == 0)
			return 1;
	return 0;
}

int check_role_known(const char *role)
{
	size_t i;

	if (strcmp(role, "geo-primary") == 0 || strcmp(role, "kubernetes") == 0)
		return 1;
	for (i = 0; i < NROLES; i++)
		if (strcmp(role_checks[i].role, role) == 0)
			return 1;
	return 0;
}

void check_run_all(const struct agent_config *cfg, const char *const *roles,
                   size_t nroles, enum check_scope scope,
                   struct check_report *r)
{
	size_t i, j;
	int gitlab = nroles == 0;

	for (i = 0; i < nroles; i++)
		if (roles[i] != NULL && strcmp(roles[i], "kubernetes") != 0)
			gitlab = 1;
	if (has_role(roles, nroles, "kubernetes"))
		check_kubernetes(cfg, r);
	/* A node that only drives the chart has no GitLab package. */
	if (!gitlab)
		return;
	check_gitlabctl(cfg, r);
	check_gitlab_version(cfg, r);
	check_staging_space(cfg, r);
	/* In a fixed order, once each, whatever order the roles came in. */
	for (i = 0; i < NROLES; i++) {
		for (j = 0; j < nroles; j++)
			if (roles[j] != NULL &&
			    strcmp(roles[j], role_checks[i].role) == 0)
				break;
		if (j < nroles)
			(scope == CHECK_SCOPE_BACKUP
			     ? role_checks[i].backup
			     : role_checks[i].run)(cfg, r);
	}
	/* The Geo API is served by Rails, so the primary site's Rails node
	 * asks it. A backup dumps the primary: secondaries' lag does not
	 * bear on it. */
	if (scope == CHECK_SCOPE_ALL && has_role(roles, nroles, "rails") &&
	    has_role(roles, nroles, "geo-primary"))
		check_geo(cfg, r);
}
