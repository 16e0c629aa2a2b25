/*
 * KubeVerify (issue 9 step 3.6): the chart side, after its restore, against
 * the backup it was restored from. Row counts and a sample of uploads are
 * read through the release's toolbox pod (gitlab-rails dbconsole), every
 * repository's refs through its Gitaly pod, the sampled objects through
 * the chart's object storage connection. Runs in the framed restore child
 * (Progress component "verify": repositories done of total).
 */
#ifndef KUBE_VERIFY_H
#define KUBE_VERIFY_H

#include <stdint.h>

#include <jansson.h>

#include "exec_restore_int.h"

/* Differences carried in the result; the rest are only counted. */
#define KUBE_VERIFY_DIFF_MAX 100
#define KUBE_VERIFY_SAMPLE_DEFAULT 20
#define KUBE_VERIFY_SAMPLE_MAX 1000
/* Uploads on local storage named one by one; more are only counted. */
#define KUBE_VERIFY_LOCAL_MAX 100

/* Fills x->kverify. Differences are reported, not judged: the status is
 * negative only when a comparison could not run (x->err says which). */
int xr_kube_verify(struct xr *x, const Ls__KubeVerify *v);

/* ---- Shared by kube_verify*.c only. ---- */

struct kv_upload {
	uint64_t id;
	char *path; /* uploads.path: the object key once in object storage */
	char checksum[65]; /* sha256, lowercase hex */
	int store;         /* 0 when NULL */
};

struct kv {
	struct xr *x;
	const struct agent_config *cfg;
	const Ls__KubeVerify *v;
	Ls__KubeVerifyResult *r;
	json_t *values; /* helm get values */
	struct kv_upload *sample, *local;
	size_t nsample, nlocal;
	uint64_t local_total; /* rows not in object storage */
};

/* Records a difference (printf-style); past KUBE_VERIFY_DIFF_MAX only
 * counted. */
void kv_diff(struct kv *k, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* An S3 connection (fog provider AWS); key_id and secret are wiped by
 * the holder. */
struct kv_s3 {
	char region[64];
	char endpoint[512]; /* "": AWS's own for the region */
	int path_style;
	char key_id[256];
	char secret[256];
};

/* kube_verify_s3.c: GET bucket/key signed with Signature V4; 0 and hex
 * (the sha256 of its bytes), or <0 with why (HTTP status and S3 error
 * code, or curl's error; never a credential). */
int kv_s3_sha256(const struct kv_s3 *s, const char *bucket, const char *key,
                 int timeout_ms, char hex[65], char *why, size_t whylen);

/* kube_verify_repos.c: every repository of the backup's manifests in
 * backup_dir against the chart's Gitaly pods; Progress as it goes. */
int kv_repos(struct kv *k, const char *backup_dir);
/* kube_verify_uploads.c: the sampled uploads read through the chart's
 * object storage connection and their sha256 compared. */
int kv_uploads(struct kv *k);

#endif
