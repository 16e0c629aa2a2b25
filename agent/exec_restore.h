/* `lockstep-agent-exec restore`: one restore-side operation, framed. */
#ifndef EXEC_RESTORE_H
#define EXEC_RESTORE_H

#include "agent_config.h"

/*
 * Reads one ls_frame-framed ls.Operation (RestoreDb, RestoreRepos,
 * RestoreFiles, RestoreSecrets, Services, RestoreVerify or RestoreDrill)
 * from stdin, runs it and writes SessionFrame frames to stdout: Progress
 * at most every 250 ms, then one OpResult of kind restore. Returns the
 * process's exit status: 0 once the result is written.
 */
int exec_restore(const struct agent_config *cfg);

#endif
