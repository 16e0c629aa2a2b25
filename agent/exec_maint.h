#ifndef EXEC_MAINT_H
#define EXEC_MAINT_H

#include <stddef.h>

#include "agent_config.h"
#include "lockstep.pb-c.h"

/* Runs a Maintenance operation; fills res even when it fails midway. */
int exec_maintenance(const struct agent_config *cfg, const Ls__Maintenance *m,
		     Ls__MaintenanceResult *res, char *err, size_t errlen);

#endif
