/*
 * The agent's side of a backup: one `lockstep-agent-exec backup-session`
 * child per backup, alive from the cut to the release, because the
 * PostgreSQL snapshot it holds must outlive any single operation.
 */
#ifndef AGENT_BACKUP_H
#define AGENT_BACKUP_H

#include <stddef.h>
#include <stdint.h>

#include "agent_config.h"
#include "lockstep.pb-c.h"

struct agent_backup;

/* Called with each progress report of a running copy (may be NULL). */
typedef void (*agent_backup_progress_fn)(void *arg, const Ls__Progress *p);

struct agent_backup *agent_backup_new(const struct agent_config *cfg,
				      const char *config_path,
				      agent_backup_progress_fn progress,
				      void *arg);
/*
 * Runs a BackupCut, BackupCopy or BackupRelease in the session child and
 * returns its packed OpResult. Errors become an OpResult with a negative
 * status, so the coordinator always learns why.
 */
int agent_backup_perform(struct agent_backup *b, const Ls__Operation *op,
			 uint8_t **res, size_t *reslen);
/* Ends any session (the child drops its snapshot and work files). */
void agent_backup_free(struct agent_backup *b);

#endif
