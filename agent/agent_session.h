/*
 * One agent identity's conversation with the coordinator: long-poll,
 * run the operations it is given (in lockstep-agent-exec), answer.
 */
#ifndef AGENT_SESSION_H
#define AGENT_SESSION_H

#include "agent_config.h"

/* Exit statuses of `lockstep-agent run`. */
enum {
	AGENT_EXIT_OK = 0,
	AGENT_EXIT_FAIL = 1,
	AGENT_EXIT_USAGE = 2,
	AGENT_EXIT_REMOVED = 3, /* the coordinator says: removed from fleet */
	AGENT_EXIT_REJECTED =
	    4, /* the coordinator does not accept our identity */
};

struct agent_session;

/*
 * config_path is handed to the executor. state_dir overrides
 * cfg->state_dir when not NULL (one process hosting several identities).
 */
int agent_session_new(struct agent_session **s, const struct agent_config *cfg,
                      const char *config_path, const char *state_dir);
/* Runs until stopped or rejected; returns an AGENT_EXIT_* status. */
int agent_session_run(struct agent_session *s);
/* Thread-safe and signal-thread-safe: makes run return soon. */
void agent_session_stop(struct agent_session *s);
void agent_session_free(struct agent_session *s);

#endif
