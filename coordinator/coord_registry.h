/*
 * lockstep registry migrate (issue 9): the container registry's metadata
 * database migrations (gitlab-facts §8), sent as one RegistryMigrate to
 * the kubernetes node (a chart release's registry pod) or to the Linux-
 * package registry node.
 */
#ifndef COORD_REGISTRY_H
#define COORD_REGISTRY_H

#include "control.pb-c.h"
#include "coord_state.h"

/*
 * Migrations may rewrite large tables: the request waits this long by
 * default (the node may first finish another operation), and at most
 * COORD_REGISTRY_TIMEOUT_MAX_MS. The agent's own op_timeout (default
 * 1h) bounds the commands themselves.
 */
#define COORD_REGISTRY_TIMEOUT_MS (2LL * 3600 * 1000)
#define COORD_REGISTRY_TIMEOUT_MAX_MS (24LL * 3600 * 1000)

/*
 * Checks the request, picks the node and sends it a RegistryMigrate;
 * answers cc with a RegistryMigrateResp, or an error naming the node or
 * value at fault (an agent's refusal with its own message). Caller holds
 * c->mtx and has marked cc as waiting.
 */
void coord_registry_request(struct coord *c, struct control_ctx *cc,
                            const Ls__RegistryMigrateReq *req);

#endif
