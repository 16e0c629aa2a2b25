/*
 * The executor's side of the move to the Helm chart (gitlab-facts §8):
 * how far the file components are in object storage (StorageCounts, on
 * the database node) and GitLab's migration Rake tasks (RakeTask, on a
 * Rails node). RepoFsck runs in the framed restore child (repo_fsck.h).
 */
#ifndef EXEC_CUTOVER_H
#define EXEC_CUTOVER_H

#include <stddef.h>

#include "agent_config.h"
#include "lockstep.pb-c.h"
#include "rake_task.h"

#define STORAGE_COMPONENTS 7
#define STORAGE_ERR_MAX 300

/* What the operations fill; the messages point into it (nothing to free). */
struct cutover_out {
	Ls__StorageCountsResult sc;
	Ls__StorageCount counts[STORAGE_COMPONENTS];
	Ls__StorageCount *count_ptrs[STORAGE_COMPONENTS];
	char errors[STORAGE_COMPONENTS][STORAGE_ERR_MAX];
	Ls__RakeTaskResult rake;
	char tail[RAKE_TAIL_MAX + 1];
};

void cutover_out_init(struct cutover_out *o);

/*
 * StorageCounts: rows per store (NULL or 1 local, 2 object storage) of
 * each component's table, in the main database, or in the ci database for
 * the CI tables when postgresql.ci_conninfo is set. A missing table is
 * that component's error; a database that cannot be reached or another
 * SQL error is the operation's.
 */
int exec_storage_counts(const struct agent_config *cfg,
                        const Ls__StorageCounts *s, struct cutover_out *o,
                        char *err, size_t errlen);

/*
 * RakeTask: `gitlab-rake TASK` for a task of rake_tasks only (else
 * LS_EINVAL naming it), within op_timeout. o->rake (output tail, ms) is
 * worth sending on failure too; a failure quotes the last stderr line.
 */
int exec_rake_task(const struct agent_config *cfg, const Ls__RakeTask *t,
                   struct cutover_out *o, char *err, size_t errlen);

#endif
