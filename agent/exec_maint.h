#ifndef EXEC_MAINT_H
#define EXEC_MAINT_H

#include <stddef.h>

#include "agent_config.h"
#include "lockstep.pb-c.h"

/*
 * Runs a Maintenance operation; fills res even when it fails midway. A
 * query only reads the settings. res->message (maintenance_mode_message)
 * is allocated: free it with exec_maintenance_result_clear.
 */
int exec_maintenance(const struct agent_config *cfg, const Ls__Maintenance *m,
                     Ls__MaintenanceResult *res, char *err, size_t errlen);

void exec_maintenance_result_clear(Ls__MaintenanceResult *res);

#endif
