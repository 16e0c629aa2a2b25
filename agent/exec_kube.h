/*
 * The operations of a node with the kubernetes role (issue 9): read the
 * GitLab chart's release, scale its deployments, restart its pods, restore
 * a backup through its toolbox and swap its Secrets. kubectl and helm
 * only, through kube_cmd.
 */
#ifndef EXEC_KUBE_H
#define EXEC_KUBE_H

#include <stddef.h>

#include <jansson.h>

#include "agent_config.h"
#include "kube_json.h"
#include "lockstep.pb-c.h"

/* Results are heap messages whose every field is malloc'ed: free them
 * with the matching ls__*__free_unpacked(msg, NULL). */
int exec_kube_query(const struct agent_config *cfg, const Ls__KubeQuery *q,
                    Ls__KubeQueryResult **out, char *err, size_t errlen);
int exec_kube_scale(const struct agent_config *cfg, const Ls__KubeScale *s,
                    Ls__KubeScaleResult **out, char *err, size_t errlen);
int exec_kube_restart_pods(const struct agent_config *cfg,
                           const Ls__KubeRestartPods *r,
                           Ls__KubeRestartPodsResult **out, char *err,
                           size_t errlen);

/* The first running, ready pod of t's release (label release=NAME) whose
 * app label is app, as KubeQuery reports it: *pod is malloc'ed, "" when
 * none is ready. */
int exec_kube_ready_pod(const struct agent_config *cfg, const Ls__KubeTarget *t,
                        const char *app, char **pod, char *err, size_t errlen);
/* The ready pods of the release whose app label is app (toolbox,
 * gitaly, ...), as kubectl lists them; *names (ls_names_free) may be
 * empty. */
int kube_ready_pods(const struct agent_config *cfg, const Ls__KubeTarget *t,
                    const char *app, char ***names, size_t *n, char *err,
                    size_t errlen);
/* `helm get values RELEASE -o json`: the user-supplied values. */
int kube_values(const struct agent_config *cfg, const Ls__KubeTarget *t,
                json_t **out, char *err, size_t errlen);
/* The Secrets a cutover replaces, each after "<release>-" (gitlab-facts
 * §8): what KubeQuery reports and the only names KubeSecretsRestore
 * touches. */
extern const char *const kube_chart_secrets[];
extern const size_t kube_chart_secrets_n;

/* A release or namespace name as Kubernetes allows it (RFC 1123 label,
 * at most max bytes): it goes into argv and label selectors. */
int kube_name_ok(const char *s, size_t max);
/* target checked: the release at most 53 bytes (Helm), namespace 63. */
int kube_target_ok(const Ls__KubeTarget *t, char *err, size_t errlen);

#endif
