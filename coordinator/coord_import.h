/*
 * lockstep backup import in the coordinator: the import runs on a thread
 * of its own, without c->mtx, for as long as extracting and checksumming
 * take; the lock is held only to check that the id is free and to move
 * the backup into the store and the catalog.
 */
#ifndef COORD_IMPORT_H
#define COORD_IMPORT_H

#include <stddef.h>

#include "control.pb-c.h"
#include "coord_state.h"

/* Called once, with c->mtx held, with the answer for the operator. */
typedef void (*coord_import_done_fn)(struct coord *c, void *arg,
                                     Ls__ControlResp *resp);

/* Caller holds c->mtx. Fails at once (err set) only if no thread starts. */
int coord_import_start(struct coord *c, const Ls__BackupImportReq *req,
                       coord_import_done_fn done, void *arg, char *err,
                       size_t errlen);

/*
 * Cancels running imports and waits until each has removed its staging
 * directory and answered; before the control socket closes. Caller does
 * not hold c->mtx.
 */
void coord_import_stop(struct coord *c);

#endif
