#ifndef EXEC_BACKUP_H
#define EXEC_BACKUP_H

#include "agent_config.h"

/* Serves one backup session on stdin/stdout; returns the exit status. */
int exec_backup_session(const struct agent_config *cfg, const char *backup_id);

#endif
