/*
 * Sealing a backup: every artifact re-read and checked against the size
 * and SHA-256 its node reported, GitLab's metadata files written, and
 * Lockstep's manifest written and signed. Runs on its own thread without
 * the coordinator's lock: it only reads the backup's settled results.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <jansson.h>

#include "backup_manifest.h"
#include "backup_meta.h"
#include "coord_backup.h"
#include "ls_afile.h"
#include "ls_error.h"
#include "ls_log.h"
#include "ls_util.h"

static int path_safe(const char *rel)
{
	return rel[0] != '/' && strstr(rel, "..") == NULL && rel[0] != '\0';
}

/* Checksumming is most of a seal: artifacts are read by several threads. */
#define SEAL_MAX_THREADS 8

struct verify {
	struct coord_backup *b;
	pthread_mutex_t mtx;
	size_t node, art; /* the next artifact to take */
	uint64_t total;
	uint32_t count;
	int rv; /* the first failure stops every thread */
	char *err;
	size_t errlen;
};

/* The next artifact to check, or NULL when done or failed; under v->mtx. */
static const Ls__Artifact *verify_next(struct verify *v, size_t *node)
{
	while (v->rv == 0 && v->node < v->b->nnodes) {
		const Ls__BackupCopyResult *cp = v->b->nodes[v->node].copy;

		if (cp != NULL && v->art < cp->n_artifacts) {
			*node = v->node;
			return cp->artifacts[v->art++];
		}
		v->node++;
		v->art = 0;
	}
	return NULL;
}

static int verify_one(struct verify *v, const char *name, const Ls__Artifact *a,
                      uint64_t *size, char *err, size_t errlen)
{
	char path[4200], want[65], got[65];
	uint8_t sha[32];
	int rv;

	if (!path_safe(a->path) || a->sha256.len != 32) {
		snprintf(err, errlen,
		         "node %s reported an invalid artifact '%s'", name,
		         a->path);
		return LS_EPROTO;
	}
	if ((rv = ls_fmt(path, sizeof(path), "%s/%s", v->b->dest, a->path)) < 0)
		return rv;
	if ((rv = ls_sha256_file(path, size, sha)) < 0) {
		snprintf(err, errlen, "artifact %s from %s: %s", path, name,
		         ls_strerror(rv));
		return rv;
	}
	if (*size != a->size || memcmp(sha, a->sha256.data, 32) != 0) {
		ls_hex(want, a->sha256.data, 32);
		ls_hex(got, sha, 32);
		snprintf(err, errlen,
		         "artifact %s from %s: %llu bytes sha256 %.16s... "
		         "reported, %llu bytes sha256 %.16s... in the store",
		         path, name, (unsigned long long)a->size, want,
		         (unsigned long long)*size, got);
		return LS_EAUTH;
	}
	return 0;
}

static void *verify_worker(void *arg)
{
	struct verify *v = arg;
	char err[4800]; /* a whole store path and more */

	for (;;) {
		const Ls__Artifact *a;
		uint64_t size = 0;
		size_t node;
		int rv;

		pthread_mutex_lock(&v->mtx);
		a = verify_next(v, &node);
		pthread_mutex_unlock(&v->mtx);
		if (a == NULL)
			return NULL;
		err[0] = '\0';
		rv = verify_one(v, v->b->nodes[node].node->name, a, &size, err,
		                sizeof(err));
		pthread_mutex_lock(&v->mtx);
		if (rv < 0 && v->rv == 0) {
			v->rv = rv;
			ls_strlcpy(v->err, err, v->errlen);
		} else if (rv == 0) {
			v->total += size;
			v->count++;
		}
		pthread_mutex_unlock(&v->mtx);
	}
}

static int verify_artifacts(struct coord_backup *b, uint64_t *total,
                            uint32_t *count, char *err, size_t errlen)
{
	pthread_t th[SEAL_MAX_THREADS];
	struct verify v;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	size_t i, nth = 0;

	memset(&v, 0, sizeof(v));
	v.b = b;
	v.err = err;
	v.errlen = errlen;
	pthread_mutex_init(&v.mtx, NULL);
	if (n < 1)
		n = 1;
	if (n > SEAL_MAX_THREADS)
		n = SEAL_MAX_THREADS;
	for (i = 0; i < (size_t)n; i++)
		if (pthread_create(&th[nth], NULL, verify_worker, &v) == 0)
			nth++;
	if (nth == 0)
		verify_worker(&v);
	for (i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&v.mtx);
	*total += v.total;
	*count += v.count;
	return v.rv;
}

static json_t *cut_json(const struct bk_node *bn)
{
	const Ls__BackupCutResult *c = bn->cut;
	json_t *o = json_object(), *comps = json_array(), *counts;
	size_t i;

	if (c == NULL)
		return o;
	if (c->pg_snapshot)
		json_object_set_new(o, "pg_snapshot",
		                    json_string(c->pg_snapshot));
	if (c->pg_lsn)
		json_object_set_new(o, "pg_lsn", json_string(c->pg_lsn));
	if (c->pg_ci_snapshot)
		json_object_set_new(o, "pg_ci_snapshot",
		                    json_string(c->pg_ci_snapshot));
	if (c->db_version)
		json_object_set_new(o, "db_version",
		                    json_string(c->db_version));
	if (c->has_repos) {
		json_object_set_new(o, "repositories",
		                    json_integer((json_int_t)c->repos));
		json_object_set_new(o, "refs",
		                    json_integer((json_int_t)c->refs));
		json_object_set_new(o, "empty_repositories",
		                    json_integer((json_int_t)c->empty_repos));
	}
	for (i = 0; i < c->n_components; i++) {
		const Ls__ComponentCut *cc = c->components[i];
		json_t *x = json_object();
		json_object_set_new(x, "name", json_string(cc->name));
		json_object_set_new(x, "present", json_boolean(cc->present));
		json_object_set_new(x, "files",
		                    json_integer((json_int_t)cc->files));
		json_object_set_new(x, "bytes",
		                    json_integer((json_int_t)cc->bytes));
		json_object_set_new(x, "hard_linked",
		                    json_boolean(!cc->copied_fallback));
		json_array_append_new(comps, x);
	}
	json_object_set_new(o, "components", comps);
	if (c->redis != NULL) {
		const Ls__RedisCut *rc = c->redis;
		json_t *x = json_object();
		json_object_set_new(x, "address", json_string(rc->address));
		json_object_set_new(x, "rdb_bytes",
		                    json_integer((json_int_t)rc->rdb_bytes));
		json_object_set_new(x, "lastsave",
		                    json_integer((json_int_t)rc->lastsave));
		if (rc->redis_version)
			json_object_set_new(x, "redis_version",
			                    json_string(rc->redis_version));
		json_object_set_new(x, "bgsave_ms",
		                    json_integer((json_int_t)rc->bgsave_ms));
		json_object_set_new(x, "hard_linked",
		                    json_boolean(!rc->copied_fallback));
		json_object_set_new(o, "redis", x);
	}
	if (bn->copy != NULL && bn->copy->n_timings > 0) {
		json_t *tm = json_array();
		for (i = 0; i < bn->copy->n_timings; i++) {
			const Ls__ComponentTiming *t = bn->copy->timings[i];
			json_t *x = json_object();
			json_object_set_new(x, "component",
			                    json_string(t->component));
			json_object_set_new(x, "bytes",
			                    json_integer((json_int_t)t->bytes));
			json_object_set_new(x, "ms",
			                    json_integer((json_int_t)t->ms));
			json_array_append_new(tm, x);
		}
		json_object_set_new(o, "copy", tm);
	}
	if (bn->copy != NULL && bn->copy->n_table_counts > 0) {
		counts = json_object();
		for (i = 0; i < bn->copy->n_table_counts; i++)
			json_object_set_new(
			    counts, bn->copy->table_counts[i]->table,
			    json_integer(
			        (json_int_t)bn->copy->table_counts[i]->rows));
		json_object_set_new(o, "table_rows", counts);
	}
	return o;
}

static char *manifest_text(const struct coord_backup *b)
{
	json_t *m = json_object(), *nodes = json_array(), *arts = json_array();
	json_t *failed = json_array();
	char hex[65];
	size_t i, k;
	char *text;

	json_object_set_new(m, "format", json_integer(BACKUP_MANIFEST_FORMAT));
	json_object_set_new(m, "backup_id", json_string(b->id));
	json_object_set_new(m, "created_at", json_integer(b->created_at));
	json_object_set_new(m, "gitlab_version", json_string(b->version));
	json_object_set_new(m, "skipped", json_string(b->skipped));
	json_object_set_new(m, "compression",
	                    json_string(b->compression ? "zstd" : "gzip"));
	json_object_set_new(
	    m, "freeze_window_ms",
	    json_integer((json_int_t)(b->thaw_us - b->freeze_start_us) / 1000));
	for (i = 0; i < b->nnodes; i++) {
		const struct bk_node *bn = &b->nodes[i];
		json_t *n = json_object(), *roles = json_array();

		for (k = 0; k < bn->node->nroles; k++)
			json_array_append_new(roles,
			                      json_string(bn->node->roles[k]));
		json_object_set_new(n, "name", json_string(bn->node->name));
		json_object_set_new(n, "roles", roles);
		json_object_set_new(n, "cut", cut_json(bn));
		json_array_append_new(nodes, n);
		for (k = 0; bn->copy && k < bn->copy->n_artifacts; k++) {
			const Ls__Artifact *a = bn->copy->artifacts[k];
			json_t *x = json_object();
			ls_hex(hex, a->sha256.data, 32);
			json_object_set_new(x, "node",
			                    json_string(bn->node->name));
			json_object_set_new(x, "component",
			                    json_string(a->component));
			json_object_set_new(x, "path", json_string(a->path));
			json_object_set_new(x, "size",
			                    json_integer((json_int_t)a->size));
			json_object_set_new(x, "sha256", json_string(hex));
			json_array_append_new(arts, x);
		}
		/* A partial backup names what it lacks: a repository missing
		 * from it is never taken for one that was not there. */
		for (k = 0; bn->copy && k < bn->copy->n_failed_repos; k++) {
			json_t *x = json_object();
			json_object_set_new(x, "node",
			                    json_string(bn->node->name));
			json_object_set_new(
			    x, "repository",
			    json_string(bn->copy->failed_repos[k]));
			json_array_append_new(failed, x);
		}
	}
	json_object_set_new(m, "nodes", nodes);
	json_object_set_new(m, "artifacts", arts);
	json_object_set_new(m, "failed_repositories", failed);
	text = json_dumps(m, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(m);
	return text;
}

static const char *db_version(const struct coord_backup *b)
{
	size_t i;

	for (i = 0; i < b->nnodes; i++)
		if (b->nodes[i].cut && b->nodes[i].cut->db_version)
			return b->nodes[i].cut->db_version;
	return "";
}

int coord_backup_seal(struct coord *c, struct coord_backup *b, uint64_t *size,
                      uint32_t *nartifacts, char *err, size_t errlen)
{
	struct backup_meta meta;
	char *yml = NULL, *json = NULL, *man = NULL;
	char tar_version[128];
	uint64_t total = 0;
	uint32_t count = 0;
	size_t i, k;
	int rv;

	if ((rv = verify_artifacts(b, &total, &count, err, errlen)) < 0)
		return rv;
	snprintf(tar_version, sizeof(tar_version), "lockstep %s (%s)",
	         LOCKSTEP_VERSION, archive_version_string());
	memset(&meta, 0, sizeof(meta));
	meta.backup_id = b->id;
	meta.created_at = b->created_at;
	meta.gitlab_version = b->version;
	meta.db_version = db_version(b);
	meta.tar_version = tar_version;
	meta.installation_type = "omnibus-gitlab";
	meta.skipped = b->skipped;
	rv = LS_ENOMEM;
	if ((rv = backup_meta_yml(&meta, &yml)) < 0 ||
	    (rv = backup_meta_json(&meta, &json)) < 0 ||
	    (man = manifest_text(b)) == NULL) {
		snprintf(err, errlen, "cannot render the backup metadata");
		rv = rv < 0 ? rv : LS_ENOMEM;
		goto out;
	}
	if ((rv = backup_put_file(b->dest, "backup_information.yml", yml, 0644,
	                          &total)) < 0 ||
	    (rv = backup_put_file(b->dest, "backup_information.json", json,
	                          0600, &total)) < 0 ||
	    (rv = backup_manifest_put(b->dest, man, c->signer.sk, &total)) <
	        0) {
		snprintf(err, errlen, "writing metadata into %s: %s", b->dest,
		         ls_strerror(rv));
		goto out;
	}
	for (i = 0; i < b->nnodes; i++)
		for (k = 0;
		     b->nodes[i].copy && k < b->nodes[i].copy->n_failed_repos;
		     k++)
			log_warnx("backup %s: repository %s on %s not backed "
			          "up (--allow-partial)",
			          b->id, b->nodes[i].copy->failed_repos[k],
			          b->nodes[i].node->name);
	*size = total;
	*nartifacts = count;
	rv = 0;
out:
	free(yml);
	free(json);
	free(man);
	return rv;
}
