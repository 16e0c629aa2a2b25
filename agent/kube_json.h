/*
 * Reading what kubectl and helm print as JSON: dotted paths into objects,
 * Helm values' booleans, and a pod's readiness as `kubectl wait` sees it.
 */
#ifndef KUBE_JSON_H
#define KUBE_JSON_H

#include <jansson.h>

/* o's value at a dotted path ("global.appConfig.uploads.bucket"), or
 * NULL (a key of 64 bytes or more is never found). */
json_t *kube_jpath(const json_t *o, const char *path);
/* The string there, or NULL. */
const char *kube_jstr(const json_t *o, const char *path);
/* A values.yaml boolean there: helm keeps true/false, some charts
 * "true". */
int kube_jtrue(const json_t *o, const char *path);
/* A pod object Running, Ready and not being deleted: what `kubectl wait
 * --for=condition=Ready` waits for. *finished (may be NULL) says it
 * Succeeded (a Job's pod), which is done rather than unready. */
int kube_pod_ready(const json_t *pod, int *finished);

#endif
