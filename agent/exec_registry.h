/*
 * RegistryMigrate: the container registry's metadata database migrations
 * (gitlab-facts §8), with `gitlab-ctl registry-database migrate` on a
 * Linux-package node or `registry database migrate` in a registry pod of
 * a chart release.
 */
#ifndef EXEC_REGISTRY_H
#define EXEC_REGISTRY_H

#include <stddef.h>

#include "agent_config.h"
#include "lockstep.pb-c.h"
#include "registry_parse.h"

/* What the operation fills; res points into it. */
struct registry_out {
	Ls__RegistryMigrateResult res;
	struct reg_list before;
	struct reg_list applied;
	Ls__RegistryMigration *migs;
	Ls__RegistryMigration **mig_ptrs;
	char **applied_ptrs;
	char *tail;
};

void registry_out_init(struct registry_out *o);
void registry_out_free(struct registry_out *o);

/*
 * Lists the migrations (res.before); unless dry_run, applies the pending
 * ones (res.applied, res.output_tail). Refuses before `up` when the
 * registry has no metadata database or its migrations would connect
 * through PgBouncer. res is worth sending on failure too.
 */
int exec_registry_migrate(const struct agent_config *cfg,
                          const Ls__RegistryMigrate *m, struct registry_out *o,
                          char *err, size_t errlen);

#endif
