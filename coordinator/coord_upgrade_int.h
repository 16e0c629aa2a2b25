/* Between coord_upgrade.c (the run) and coord_upgrade_ops.c (its pure
 * parts); not for other modules. */
#ifndef COORD_UPGRADE_INT_H
#define COORD_UPGRADE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "control.pb-c.h"
#include "coord_state.h"
#include "lockstep.pb-c.h"
#include "upgrade_steps.h"

/* A registry step's journaled outcome, in bytes with its NUL. */
#define UGO_DETAIL_MAX 1024

/* Why an answered step did not do its job, or "" when it did. A failing
 * batched-background-migrations check is not a failure: the run waits
 * for the migrations in a step of their own. */
void ugo_judge(const Ls__UpgradeStepDef *d, const Ls__OpResult *res, char *why,
               size_t len);
/* An upgrade action's result, packed for the journal; a registry step's
 * one-line outcome as text (NULL otherwise). */
uint8_t *ugo_pack_result(const Ls__OpResult *res, size_t *len);
/* Waiting migrations as "main:Class(table.column), ...". */
void ugo_bbm_list(const Ls__BbmStatusResult *r, char *out, size_t len);
/* Room for the operation of a node step. */
struct ugo_room {
	Ls__RunChecks rc;
	Ls__Maintenance m;
	Ls__BbmStatus bs;
	Ls__RegistryMigrate rm;
};
/* The operation of a node step on node n, in room. */
void ugo_step_op(const Ls__UpgradeStepDef *d, const struct coord_node *n,
                 char **roles, Ls__Operation *op, struct ugo_room *room);

#endif
