/*
 * The node's Redis, as agent.yml names it: one connection routine for the
 * redis checks and the Redis part of a backup.
 */
#ifndef AGENT_REDIS_H
#define AGENT_REDIS_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "agent_config.h"

/* "socket path" or "host:port", for messages. */
void agent_redis_target(const struct agent_config *cfg, char *buf, size_t n);

/*
 * Connects (socket, else host and port) with a timeout on connect and on
 * every command, and AUTHs with redis.password_file when one is set; the
 * password is read with a cap, wiped after use and never logged. NULL with
 * *rv (negative) and err ("connect: ...", "AUTH refused ...") on failure.
 */
redisContext *agent_redis_open(const struct agent_config *cfg, int timeout_s,
                               int *rv, char *err, size_t errlen);

#endif
