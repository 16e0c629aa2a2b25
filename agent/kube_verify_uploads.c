/*
 * KubeVerify's uploads: the rows dbconsole sampled, each object read
 * through the chart's object storage connection (the fog connection in
 * the Secret named by global.appConfig.object_store.connection) and its
 * sha256 compared with uploads.checksum. The object key of an upload in
 * object storage is its uploads.path: GitLab records the store-relative
 * path when it moves the file there. Providers: Local (files under
 * local_root/<bucket>/<key>) and AWS (kube_verify_s3.c); any other is a
 * difference saying the uploads were not sampled.
 */
#include "kube_verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "exec_kube.h"
#include "kube_cmd.h"
#include "kube_secrets.h"
#include "ls_afile.h"
#include "ls_error.h"
#include "ls_log.h"
#include "ls_util.h"
#include "restore_repos.h"

#define SECRET_JSON_MAX (1024 * 1024)
#define DEFAULT_UPLOADS_BUCKET "gitlab-uploads"

struct conn {
	char provider[32];
	char local_root[LS_PATH_MAX];
	struct kv_s3 s3;
};

/* S3 bucket name rules, which fog's Local provider shares as a directory
 * name: 3 to 63 of [a-z0-9.-]. */
static int bucket_ok(const char *b)
{
	size_t i, n = strlen(b);

	if (n < 3 || n > 63 || b[0] == '.' || b[0] == '-')
		return 0;
	for (i = 0; i < n; i++)
		if (!((b[i] >= 'a' && b[i] <= 'z') ||
		      (b[i] >= '0' && b[i] <= '9') || b[i] == '.' ||
		      b[i] == '-'))
			return 0;
	return strstr(b, "..") == NULL;
}

static void scalar_copy(yaml_node_t *n, char *out, size_t len)
{
	size_t l = n->data.scalar.length;

	if (l >= len)
		l = len - 1;
	memcpy(out, n->data.scalar.value, l);
	out[l] = '\0';
}

/* The fog connection's provider and local_root; never a credential. */
static int conn_parse(const uint8_t *text, size_t len, struct conn *c,
                      char *why, size_t whylen)
{
	yaml_parser_t p;
	yaml_document_t doc;
	yaml_node_t *root;
	yaml_node_pair_t *pair;
	int rv = 0;

	memset(c, 0, sizeof(*c));
	if (!yaml_parser_initialize(&p))
		return LS_ENOMEM;
	yaml_parser_set_input_string(&p, text, len);
	if (!yaml_parser_load(&p, &doc)) {
		ls_fmt(why, whylen, "not YAML (line %lu: %s)",
		       (unsigned long)p.problem_mark.line + 1,
		       p.problem ? p.problem : "invalid");
		yaml_parser_delete(&p);
		return LS_EPROTO;
	}
	root = yaml_document_get_root_node(&doc);
	if (root == NULL || root->type != YAML_MAPPING_NODE) {
		ls_fmt(why, whylen, "not a YAML mapping");
		rv = LS_EPROTO;
		goto out;
	}
	for (pair = root->data.mapping.pairs.start;
	     pair < root->data.mapping.pairs.top; pair++) {
		yaml_node_t *key = yaml_document_get_node(&doc, pair->key);
		yaml_node_t *val = yaml_document_get_node(&doc, pair->value);
		const char *kn;

		if (key == NULL || val == NULL ||
		    key->type != YAML_SCALAR_NODE ||
		    val->type != YAML_SCALAR_NODE)
			continue;
		kn = (const char *)key->data.scalar.value;
		/* Ruby configs also write fog's keys as symbols. */
		if (kn[0] == ':')
			kn++;
		if (strcmp(kn, "provider") == 0)
			scalar_copy(val, c->provider, sizeof(c->provider));
		else if (strcmp(kn, "local_root") == 0)
			scalar_copy(val, c->local_root, sizeof(c->local_root));
		else if (strcmp(kn, "region") == 0)
			scalar_copy(val, c->s3.region, sizeof(c->s3.region));
		else if (strcmp(kn, "endpoint") == 0)
			scalar_copy(val, c->s3.endpoint,
			            sizeof(c->s3.endpoint));
		else if (strcmp(kn, "path_style") == 0)
			c->s3.path_style =
			    strcmp((const char *)val->data.scalar.value,
			           "true") == 0;
		else if (strcmp(kn, "aws_access_key_id") == 0)
			scalar_copy(val, c->s3.key_id, sizeof(c->s3.key_id));
		else if (strcmp(kn, "aws_secret_access_key") == 0)
			scalar_copy(val, c->s3.secret, sizeof(c->s3.secret));
	}
	if (c->s3.region[0] == '\0')
		ls_strlcpy(c->s3.region, "us-east-1", sizeof(c->s3.region));
	if (c->provider[0] == '\0') {
		ls_fmt(why, whylen, "no provider");
		rv = LS_EPROTO;
	}
out:
	yaml_document_delete(&doc);
	yaml_parser_delete(&p);
	return rv;
}

/* The connection Secret's key read with kubectl; errors name the Secret
 * and key, never what they hold. */
static int read_conn(struct kv *k, const char *secret, const char *key,
                     struct conn *c)
{
	struct kube_cmd cmd;
	struct ls_exec_result res;
	struct kube_secret_set set = {0};
	char why[300] = "";
	size_t i;
	int rv;

	kube_kubectl(&cmd, k->cfg, k->v->target->namespace_,
	             "kubectl get secret");
	kube_args(&cmd, "get", "secret", secret, "-o", "json", NULL);
	rv = kube_run(k->cfg, &cmd, NULL, 0, SECRET_JSON_MAX, 0, &res,
	              k->x->err, sizeof(k->x->err));
	if (rv == 0)
		rv = kube_secret_parse((const char *)res.out, res.out_len, &set,
		                       why, sizeof(why));
	if (res.out != NULL)
		ls_wipe(res.out, res.out_len);
	ls_exec_result_free(&res);
	if (rv < 0) {
		if (why[0] != '\0')
			ls_fmt(k->x->err, sizeof(k->x->err),
			       "object storage Secret %s: %s", secret, why);
		goto out;
	}
	for (i = 0; i < set.n && strcmp(set.items[i].key, key) != 0; i++)
		;
	if (i == set.n) {
		ls_fmt(k->x->err, sizeof(k->x->err),
		       "object storage Secret %s has no key %s", secret, key);
		rv = LS_ENOENT;
		goto out;
	}
	if ((rv = conn_parse(set.items[i].value, set.items[i].len, c, why,
	                     sizeof(why))) < 0)
		ls_fmt(k->x->err, sizeof(k->x->err),
		       "object storage Secret %s, key %s: %s", secret, key,
		       why);
out:
	kube_secret_set_free(&set);
	return rv;
}

/* A region as AWS names them: it goes into the signing scope and a host
 * name. */
static int region_ok(const char *r)
{
	size_t i, n = strlen(r);

	if (n == 0 || n > 40)
		return 0;
	for (i = 0; i < n; i++)
		if (!((r[i] >= 'a' && r[i] <= 'z') ||
		      (r[i] >= '0' && r[i] <= '9') || r[i] == '-'))
			return 0;
	return 1;
}

static int check_s3(struct kv *k, const struct conn *c, const char *secret,
                    const char *bucket)
{
	const struct kv_s3 *s = &c->s3;
	size_t i;

	if (!region_ok(s->region) || s->key_id[0] == '\0' ||
	    s->secret[0] == '\0' ||
	    (s->endpoint[0] != '\0' &&
	     strncmp(s->endpoint, "http://", 7) != 0 &&
	     strncmp(s->endpoint, "https://", 8) != 0)) {
		ls_fmt(k->x->err, sizeof(k->x->err),
		       "object storage Secret %s: provider AWS needs "
		       "aws_access_key_id, aws_secret_access_key, a region of "
		       "[a-z0-9-] and an http(s) endpoint if any",
		       secret);
		return LS_EINVAL;
	}
	for (i = 0; i < k->nsample; i++) {
		const struct kv_upload *u = &k->sample[i];
		char hex[65], why[300];
		int rv;

		if (!restore_repos_path_ok(u->path)) {
			kv_diff(
			    k,
			    "upload %llu (%.300s): its path is not a usable "
			    "object key",
			    (unsigned long long)u->id, u->path);
			continue;
		}
		rv = kv_s3_sha256(s, bucket, u->path,
		                  (int)k->cfg->kubernetes.call_timeout, hex,
		                  why, sizeof(why));
		if (rv < 0) {
			kv_diff(k,
			        "upload %llu (%.300s): cannot read %s/%.300s "
			        "from object storage: %s",
			        (unsigned long long)u->id, u->path, bucket,
			        u->path, why);
			continue;
		}
		k->r->uploads_checked++;
		if (strcmp(hex, u->checksum) != 0)
			kv_diff(k,
			        "upload %llu (%.300s): sha256 %s in object "
			        "storage (%s), %s in uploads.checksum",
			        (unsigned long long)u->id, u->path, hex, bucket,
			        u->checksum);
	}
	return 0;
}

static void check_local(struct kv *k, const struct conn *c, const char *bucket)
{
	size_t i;

	for (i = 0; i < k->nsample; i++) {
		const struct kv_upload *u = &k->sample[i];
		char path[LS_PATH_MAX], hex[65];
		uint8_t sum[32];
		uint64_t size = 0;
		int rv;

		if (!restore_repos_path_ok(u->path) ||
		    ls_fmt(path, sizeof(path), "%s/%s/%s", c->local_root,
		           bucket, u->path) < 0) {
			kv_diff(
			    k,
			    "upload %llu (%.300s): its path is not a usable "
			    "object key",
			    (unsigned long long)u->id, u->path);
			continue;
		}
		if ((rv = ls_sha256_file(path, &size, sum)) < 0) {
			kv_diff(k,
			        "upload %llu (%.300s): cannot read %s/%.300s "
			        "from object storage: %s",
			        (unsigned long long)u->id, u->path, bucket,
			        u->path, ls_strerror(rv));
			continue;
		}
		k->r->uploads_checked++;
		ls_hex(hex, sum, sizeof(sum));
		if (strcmp(hex, u->checksum) != 0)
			kv_diff(k,
			        "upload %llu (%.300s): sha256 %s in object "
			        "storage (%s), %s in uploads.checksum",
			        (unsigned long long)u->id, u->path, hex, bucket,
			        u->checksum);
	}
}

int kv_uploads(struct kv *k)
{
	json_t *v = k->values;
	const char *secret = NULL, *key = "connection",
	           *bucket = DEFAULT_UPLOADS_BUCKET;
	json_t *j;
	struct conn c;
	size_t i;
	int rv;

	/* A cutover moves every upload to object storage before the backup:
	 * one left local on the chart side was never restored there. */
	for (i = 0; i < k->nlocal; i++)
		kv_diff(k,
		        "upload %llu (%.300s): on local storage on the chart "
		        "side (store %d), not in object storage",
		        (unsigned long long)k->local[i].id, k->local[i].path,
		        k->local[i].store ? k->local[i].store : 1);
	if (k->local_total > k->nlocal)
		kv_diff(k,
		        "%llu more uploads on local storage on the chart side",
		        (unsigned long long)(k->local_total - k->nlocal));
	if (k->nsample == 0)
		return 0;
	j = kube_jpath(v, "global.appConfig.object_store.enabled");
	if (json_is_true(j) ||
	    (json_is_string(j) && strcmp(json_string_value(j), "true") == 0)) {
		j = kube_jpath(v, "global.appConfig.object_store.connection."
		                  "secret");
		secret = json_is_string(j) ? json_string_value(j) : NULL;
		j = kube_jpath(v,
		               "global.appConfig.object_store.connection.key");
		if (json_is_string(j))
			key = json_string_value(j);
	}
	j = kube_jpath(v, "global.appConfig.uploads.bucket");
	if (json_is_string(j))
		bucket = json_string_value(j);
	if (secret == NULL) {
		kv_diff(
		    k, "uploads not sampled: the release has no object storage "
		       "connection (global.appConfig.object_store)");
		return 0;
	}
	if (!kube_name_ok(secret, 253) || !bucket_ok(bucket) ||
	    strlen(key) > 253 || strchr(key, '/') != NULL) {
		ls_fmt(
		    k->x->err, sizeof(k->x->err),
		    "object storage: Secret '%.100s', key '%.100s' or uploads "
		    "bucket '%.100s' is not a usable name",
		    secret, key, bucket);
		return LS_EINVAL;
	}
	rv = read_conn(k, secret, key, &c);
	if (rv == 0 && strcasecmp(c.provider, "Local") == 0) {
		if (c.local_root[0] != '/') {
			ls_fmt(k->x->err, sizeof(k->x->err),
			       "object storage Secret %s: provider Local with "
			       "local_root '%.300s', not an absolute path",
			       secret, c.local_root);
			rv = LS_EINVAL;
		} else {
			check_local(k, &c, bucket);
		}
	} else if (rv == 0 && strcasecmp(c.provider, "AWS") == 0) {
		rv = check_s3(k, &c, secret, bucket);
	} else if (rv == 0) {
		/* Not a pass: the run must not read "verified" when these
		 * uploads were never looked at. */
		kv_diff(k,
		        "uploads not sampled: object storage provider %s "
		        "(Secret %s) is not supported by this agent yet; %zu "
		        "uploads in bucket %s left unchecked",
		        c.provider, secret, k->nsample, bucket);
	}
	ls_wipe(&c, sizeof(c));
	return rv;
}
