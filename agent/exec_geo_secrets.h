/* SecretsExport and SecretsImport: a Geo primary's gitlab-secrets.json
 * carried to a secondary, sealed end to end (exec_geo_secrets.c). */
#ifndef EXEC_GEO_SECRETS_H
#define EXEC_GEO_SECRETS_H

#include <stddef.h>
#include <stdint.h>

#include "agent_config.h"
#include "lockstep.pb-c.h"

struct secrets_out {
	Ls__SecretsExportResult res;
	uint8_t *sealed;
};

/* Seals gitlab.secrets_file to e->to_sign_pk into o->res. */
int exec_secrets_export(const struct agent_config *cfg,
                        const Ls__SecretsExport *e, struct secrets_out *o,
                        char *err, size_t errlen);
/* Opens im->sealed with this node's identity key and writes it over
 * gitlab.secrets_file atomically (0600, its owner kept). */
int exec_secrets_import(const struct agent_config *cfg,
                        const Ls__SecretsImport *im, char *err, size_t errlen);
void secrets_out_free(struct secrets_out *o);

#endif
