#ifndef AGENT_JOIN_H
#define AGENT_JOIN_H

#include <stddef.h>

/*
 * Joins the fleet with a one-time token: makes the node's keys, sends a
 * CSR, checks the answer against the token (MAC and CA fingerprint) and
 * only then writes the identity into state_dir. On failure nothing is
 * written and msg says why.
 */
int agent_join(const char *state_dir, const char *token, int timeout_ms,
               char *msg, size_t msglen);

#endif
