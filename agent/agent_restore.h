/*
 * The agent's side of a restore: each restore-side operation runs in its
 * own `lockstep-agent-exec restore` child, whose progress is forwarded
 * while it works.
 */
#ifndef AGENT_RESTORE_H
#define AGENT_RESTORE_H

#include <stddef.h>
#include <stdint.h>

#include "agent_backup.h"
#include "agent_config.h"
#include "lockstep.pb-c.h"

/* 1 for RestoreDb, RestoreRepos, RestoreFiles, RestoreSecrets, Services,
 * RestoreVerify, RestoreDrill, RepoFsck and KubeVerify. */
int agent_restore_handles(const Ls__Operation *op);

/*
 * Runs op in a restore child and returns its packed OpResult, within
 * cfg->op_timeout. A child that cannot start, dies, overruns or answers
 * garbage becomes an OpResult with a negative status and a message, so
 * the coordinator always learns why. progress (may be NULL) gets each
 * Progress frame. Negative only when out of memory.
 */
int agent_restore_perform(const struct agent_config *cfg,
                          const char *config_path, const Ls__Operation *op,
                          agent_backup_progress_fn progress, void *arg,
                          uint8_t **res, size_t *reslen);

#endif
