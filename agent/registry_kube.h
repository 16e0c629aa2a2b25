/*
 * The Kubernetes side of RegistryMigrate (gitlab-facts §8): the kubectl
 * and helm argv, and what their JSON says. No process is started here, so
 * that the argv and the choices can be unit-tested; exec_registry.c runs
 * them with kube_run.
 *
 * In the GitLab chart's registry pods the binary is `registry` and its
 * rendered config /etc/docker/registry/config.yml; the pods carry the
 * labels app=registry and release=<release>; the container is "registry".
 */
#ifndef REGISTRY_KUBE_H
#define REGISTRY_KUBE_H

#include <stddef.h>

#include "agent_config.h"
#include "kube_cmd.h"
#include "registry_config.h"

#define REG_KUBE_CONFIG "/etc/docker/registry/config.yml"
#define REG_POD_MAX 253 /* a DNS subdomain, as pod names are */

/* kubectl -n NS get pods -l app=registry,release=R -o json; label (the
 * selector text) must outlive c. */
void reg_kube_get_pods(struct kube_cmd *c, const struct agent_config *cfg,
                       const char *ns, const char *release, char *label,
                       size_t labellen);
/* helm -n NS get values R -o json */
void reg_kube_get_values(struct kube_cmd *c, const struct agent_config *cfg,
                         const char *ns, const char *release);
/* kubectl -n NS exec POD -c registry -- registry database migrate
 * status|up [-s] /etc/docker/registry/config.yml */
void reg_kube_migrate(struct kube_cmd *c, const struct agent_config *cfg,
                      const char *ns, const char *pod, int up,
                      int skip_post_deployment);

/* helm -n NS list -o json */
void reg_kube_list(struct kube_cmd *c, const struct agent_config *cfg,
                   const char *ns);
/*
 * helm -n NS2 upgrade --install NAME2 CHART --version V -f - --set
 * registry.api.enabled=false --set-string
 * registry.extraEnv.SKIP_POST_DEPLOYMENT_MIGRATIONS=false
 * --create-namespace --wait --wait-for-jobs --timeout T: GitLab.com's
 * "migrations" release, with the values of the release it serves on
 * stdin (never in a file). CHART is kubernetes.chart of agent.yml.
 */
void reg_kube_separate(struct kube_cmd *c, const struct agent_config *cfg,
                       const char *ns2, const char *name2, const char *version,
                       const char *timeout);
/*
 * The chart version of release in `helm list -o json` (its "chart" is
 * NAME-VERSION: "gitlab-8.8.2" gives "8.8.2"). 0; LS_ENOENT when the
 * release is not listed; LS_EPROTO when the output is not that.
 */
int reg_kube_chart_version(const char *json, size_t len, const char *release,
                           char *ver, size_t verlen, char *err, size_t errlen);

/*
 * From `helm get values -o json` (the values the release was given; the
 * chart's default for registry.database.enabled is false): db->section
 * and db->enabled from registry.database.enabled, and its host, primary
 * and port when set. 0, or LS_EPROTO (err says why) for JSON that is not
 * an object.
 */
int reg_kube_values_db(const char *json, size_t len, struct reg_dbconf *db,
                       char *err, size_t errlen);

/*
 * The first pod of a `kubectl get pods -o json` list that is Running,
 * Ready and not being deleted, copied into pod. 0; LS_ENOENT when none
 * is; LS_EPROTO for JSON that is not a list.
 */
int reg_kube_pick_pod(const char *json, size_t len, char *pod, size_t podlen,
                      char *err, size_t errlen);

/* A pod name as the operation may give it: [a-z0-9.-], at most
 * REG_POD_MAX bytes, starting and ending alphanumeric. */
int reg_kube_valid_pod(const char *s);

#endif
