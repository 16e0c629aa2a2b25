/*
 * KubeSecretsApply and KubeSecretsRestore: the chart's Secrets replaced
 * with those of a node's gitlab-secrets.json, and put back (issue 9, the
 * cutover's secrets step). Secrets go to kubectl on stdin, never argv.
 */
#ifndef EXEC_KUBE_SECRETS_H
#define EXEC_KUBE_SECRETS_H

#include <stddef.h>

#include "agent_config.h"
#include "lockstep.pb-c.h"

/* *out is a heap message (free with
 * ls__kube_secrets_apply_result__free_unpacked(msg, NULL)); after a
 * failure it is non-NULL only when it holds the saved state, which the
 * caller must send back: some Secrets may have been replaced. */
int exec_kube_secrets_apply(const struct agent_config *cfg,
                            const Ls__KubeSecretsApply *a,
                            Ls__KubeSecretsApplyResult **out, char *err,
                            size_t errlen);
/* *out lists the names put back or deleted (saved empty). */
int exec_kube_secrets_restore(const struct agent_config *cfg,
                              const Ls__KubeSecretsRestore *r,
                              Ls__KubeSecretsApplyResult **out, char *err,
                              size_t errlen);

#endif
