/*
 * Results of operations already run, by operation id, so that a resent
 * operation (nng REQ resends, coordinator restarts) is answered from here
 * and never run twice.
 */
#ifndef AGENT_OPSTORE_H
#define AGENT_OPSTORE_H

#include <stddef.h>
#include <stdint.h>

#define AGENT_OPSTORE_KEEP 512

/* LS_ENOENT when the operation never ran here. */
int agent_opstore_get(const char *state_dir, uint64_t id, uint8_t **buf,
                      size_t *len);
int agent_opstore_put(const char *state_dir, uint64_t id, const uint8_t *buf,
                      size_t len);

#endif
