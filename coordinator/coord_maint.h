/*
 * lockstep maintenance on|off|status: GitLab's maintenance mode
 * (gitlab-facts §6) set or read through one rails node's agent.
 */
#ifndef COORD_MAINT_H
#define COORD_MAINT_H

#include "control.pb-c.h"
#include "coord_state.h"

/* Longest lease an operator may ask for: a week, in seconds. */
#define COORD_MAINT_LEASE_MAX_S (7u * 24 * 3600)
/* The banner, in bytes: escaped it must fit the agent's API path. */
#define COORD_MAINT_MESSAGE_MAX 400

/*
 * Checks the request, picks the node and sends it a Maintenance
 * operation; answers cc with a MaintenanceResp (or an error naming the
 * node or the value at fault) once the node has answered. Caller holds
 * c->mtx and has marked cc as waiting.
 */
void coord_maint_request(struct coord *c, struct control_ctx *cc,
                         const Ls__MaintenanceReq *req);

#endif
