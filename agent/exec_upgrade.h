/*
 * The agent's side of a GitLab upgrade (gitlab-facts §7): which package
 * versions this node can install, one typed upgrade step at a time, and
 * the batched background migrations that must finish before the next stop.
 */
#ifndef EXEC_UPGRADE_H
#define EXEC_UPGRADE_H

#include <stddef.h>

#include "agent_config.h"
#include "lockstep.pb-c.h"
#include "ls_version.h"

/* What the three operations fill; the messages point into it. */
struct upgrade_out {
	Ls__PackageVersionsResult pv;
	Ls__UpgradeActionResult ua;
	Ls__BbmStatusResult bbm;
	char package[16];
	char manager[8];
	char installed[LS_VERSION_STR_MAX];
	char version[LS_VERSION_STR_MAX];
	char **versions; /* "X.Y.Z", ascending */
	size_t nversions;
	char *tail; /* output_tail */
	Ls__BackgroundMigration *migs;
	Ls__BackgroundMigration **mig_ptrs;
	size_t nmigs;
};

void upgrade_out_init(struct upgrade_out *o);
void upgrade_out_free(struct upgrade_out *o);

/* PackageVersions: `apt-cache madison PACKAGE` / `yum --showduplicates
 * list PACKAGE`, after `apt-get update` / `yum makecache` on refresh. */
int exec_package_versions(const struct agent_config *cfg,
                          const Ls__PackageVersions *pv, struct upgrade_out *o,
                          char *err, size_t errlen);

/* UpgradeAction: one step. o->ua is worth sending on failure too: it holds
 * the failed command's output tail and the node's version after it. */
int exec_upgrade_action(const struct agent_config *cfg,
                        const Ls__UpgradeAction *a, struct upgrade_out *o,
                        char *err, size_t errlen);

/* BbmStatus: the unfinished migrations of the main database and, when
 * postgresql.ci_conninfo is set, of the ci database. */
int exec_bbm_status(const struct agent_config *cfg, const Ls__BbmStatus *b,
                    struct upgrade_out *o, char *err, size_t errlen);

#endif
