/*
 * A backup read back before a restore or a drill: the manifest's
 * signature, and every artifact's size and SHA-256, so that a backup
 * changed by one bit is refused before anything on the fleet is touched.
 * Runs without the coordinator's lock: it only reads the store.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "coord_restore.h"
#include "ls_afile.h"
#include "ls_error.h"
#include "ls_log.h"
#include "ls_util.h"

#define MANIFEST_MAX (64u << 20)
#define SEALED_MAX (16u << 20)
#define VERIFY_THREADS 4

/* Artifact paths come from a signed manifest, yet a path that climbs out
 * of the backup is refused all the same. */
static int rel_ok(const char *rel)
{
	return rel != NULL && rel[0] != '\0' && rel[0] != '/' &&
	       strstr(rel, "..") == NULL;
}

struct verify {
	const struct rs_backup *b;
	json_t *arts;
	pthread_mutex_t mtx;
	size_t next;
	int rv;
	char err[1024];
	int64_t report_ms;
	uint64_t bytes;
};

/* The first failure wins: "artifact <rel>: <why>". */
static void verify_fail(struct verify *v, int rv, const char *rel,
                        const char *why)
{
	pthread_mutex_lock(&v->mtx);
	if (v->rv == 0) {
		v->rv = rv;
		snprintf(v->err, sizeof(v->err), "artifact %s: %s", rel, why);
	}
	pthread_mutex_unlock(&v->mtx);
}

static void *verify_worker(void *arg)
{
	struct verify *v = arg;

	for (;;) {
		json_t *a;
		const char *rel, *want;
		char path[4200], hex[65], detail[128];
		uint8_t sha[32];
		uint64_t size = 0;
		json_int_t wsize;
		int rv;

		pthread_mutex_lock(&v->mtx);
		if (v->rv != 0 || v->next >= json_array_size(v->arts)) {
			pthread_mutex_unlock(&v->mtx);
			return NULL;
		}
		a = json_array_get(v->arts, v->next++);
		pthread_mutex_unlock(&v->mtx);
		rel = json_string_value(json_object_get(a, "path"));
		want = json_string_value(json_object_get(a, "sha256"));
		wsize = json_integer_value(json_object_get(a, "size"));
		if (!rel_ok(rel) || want == NULL || strlen(want) != 64) {
			verify_fail(
			    v, LS_EPROTO, rel ? rel : "?",
			    "malformed entry in lockstep/manifest.json");
			return NULL;
		}
		if (ls_fmt(path, sizeof(path), "%s/%s", v->b->dir, rel) < 0) {
			verify_fail(v, LS_ETOOBIG, rel, "path too long");
			return NULL;
		}
		if ((rv = ls_sha256_file(path, &size, sha)) < 0) {
			verify_fail(v, rv, rel, ls_strerror(rv));
			return NULL;
		}
		ls_hex(hex, sha, 32);
		if ((json_int_t)size != wsize) {
			snprintf(detail, sizeof(detail),
			         "size %llu, the manifest says %lld",
			         (unsigned long long)size, (long long)wsize);
			verify_fail(v, LS_EINTEGRITY, rel, detail);
			return NULL;
		}
		if (strcmp(hex, want) != 0) {
			snprintf(detail, sizeof(detail),
			         "SHA-256 %.16s..., the manifest says %.16s...",
			         hex, want);
			verify_fail(v, LS_EINTEGRITY, rel, detail);
			return NULL;
		}
		pthread_mutex_lock(&v->mtx);
		v->bytes += size;
		if (ls_mono_ms() - v->report_ms > 5000) {
			v->report_ms = ls_mono_ms();
			log_info("backup %s: verified %zu of %zu artifacts "
			         "(%llu MiB)",
			         v->b->id, v->next, json_array_size(v->arts),
			         (unsigned long long)(v->bytes >> 20));
		}
		pthread_mutex_unlock(&v->mtx);
	}
}

static int verify_artifacts(const struct rs_backup *b, char *err, size_t errlen)
{
	struct verify v;
	pthread_t th[VERIFY_THREADS];
	size_t i, started = 0;

	memset(&v, 0, sizeof(v));
	v.b = b;
	v.arts = json_object_get(b->manifest, "artifacts");
	v.report_ms = ls_mono_ms();
	if (!json_is_array(v.arts)) {
		snprintf(err, errlen,
		         "%s/lockstep/manifest.json: no artifact list", b->dir);
		return LS_EPROTO;
	}
	pthread_mutex_init(&v.mtx, NULL);
	for (i = 0; i < VERIFY_THREADS; i++)
		if (pthread_create(&th[started], NULL, verify_worker, &v) == 0)
			started++;
	if (started == 0)
		verify_worker(&v);
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&v.mtx);
	if (v.rv < 0)
		snprintf(err, errlen, "backup %s: %s", b->id, v.err);
	return v.rv;
}

int rs_backup_load(const char *store, const char *id, const uint8_t sign_pk[32],
                   int artifacts, struct rs_backup *b, char *err, size_t errlen)
{
	char path[4300], *man = NULL, *sig = NULL;
	size_t mlen = 0, slen = 0;
	uint8_t s[crypto_sign_BYTES];
	json_error_t jerr;
	const char *v;
	int rv;

	memset(b, 0, sizeof(*b));
	if (ls_strlcpy(b->id, id, sizeof(b->id)) >= sizeof(b->id) ||
	    strchr(id, '/') != NULL || id[0] == '.' || id[0] == '\0') {
		snprintf(err, errlen, "'%.200s' is not a backup id", id);
		return LS_EINVAL;
	}
	if ((rv = ls_fmt(b->dir, sizeof(b->dir), "%s/%s", store, id)) < 0 ||
	    (rv = ls_fmt(path, sizeof(path), "%s/lockstep/manifest.json",
	                 b->dir)) < 0)
		goto out;
	if ((rv = ls_read_file(path, MANIFEST_MAX, &man, &mlen)) < 0) {
		snprintf(err, errlen, "%s: %s", path, ls_strerror(rv));
		goto out;
	}
	if ((rv = ls_fmt(path, sizeof(path), "%s/lockstep/manifest.json.sig",
	                 b->dir)) < 0)
		goto out;
	if (ls_read_file(path, 4096, &sig, &slen) < 0 || slen < 2 * sizeof(s) ||
	    (sig[2 * sizeof(s)] = '\0', ls_unhex(s, sizeof(s), sig)) < 0 ||
	    crypto_sign_verify_detached(s, (const uint8_t *)man, mlen,
	                                sign_pk) != 0) {
		snprintf(err, errlen,
		         "backup %s: lockstep/manifest.json: the signature "
		         "does not verify with this coordinator's key",
		         id);
		rv = LS_EINTEGRITY;
		goto out;
	}
	b->manifest = json_loadb(man, mlen, 0, &jerr);
	v = json_string_value(json_object_get(b->manifest, "gitlab_version"));
	if (b->manifest == NULL || v == NULL ||
	    ls_strlcpy(b->version, v, sizeof(b->version)) >=
	        sizeof(b->version) ||
	    !json_is_array(json_object_get(b->manifest, "artifacts"))) {
		snprintf(err, errlen,
		         "backup %s: lockstep/manifest.json is "
		         "malformed",
		         id);
		rv = LS_EPROTO;
		goto out;
	}
	rv = artifacts ? verify_artifacts(b, err, errlen) : 0;
out:
	if (rv < 0 && err[0] == '\0')
		snprintf(err, errlen, "backup %s: %s", id, ls_strerror(rv));
	if (rv < 0)
		rs_backup_clear(b);
	free(man);
	free(sig);
	return rv;
}

void rs_backup_clear(struct rs_backup *b)
{
	json_decref(b->manifest);
	b->manifest = NULL;
}

int rs_backup_check_key(const struct rs_backup *b, const uint8_t sk[32],
                        char *err, size_t errlen)
{
	json_t *arts = json_object_get(b->manifest, "artifacts"), *a;
	char path[4200], *sealed = NULL;
	uint8_t pk[32], *plain = NULL;
	size_t i, len = 0;
	int rv = 0;

	crypto_scalarmult_base(pk, sk);
	json_array_foreach(arts, i, a)
	{
		const char *comp =
		    json_string_value(json_object_get(a, "component"));
		const char *rel = json_string_value(json_object_get(a, "path"));

		if (comp == NULL || strcmp(comp, "secrets") != 0 ||
		    !rel_ok(rel))
			continue;
		if ((rv = ls_fmt(path, sizeof(path), "%s/%s", b->dir, rel)) <
		        0 ||
		    (rv = ls_read_file(path, SEALED_MAX, &sealed, &len)) < 0) {
			snprintf(err, errlen, "%s: %s", path, ls_strerror(rv));
			break;
		}
		if (len < crypto_box_SEALBYTES ||
		    (plain = malloc(len - crypto_box_SEALBYTES + 1)) == NULL ||
		    crypto_box_seal_open(plain, (const uint8_t *)sealed, len,
		                         pk, sk) != 0) {
			snprintf(err, errlen,
			         "the backup key does not open %s: it is not "
			         "the key of the coordinator that took backup "
			         "%s",
			         rel, b->id);
			rv = LS_ECRYPTO;
		}
		if (plain != NULL)
			ls_wipe(plain, len - crypto_box_SEALBYTES);
		free(plain);
		free(sealed);
		break; /* one file proves the key */
	}
	ls_wipe(pk, sizeof(pk));
	return rv;
}

json_t *rs_backup_table_rows(const struct rs_backup *b)
{
	json_t *nodes = json_object_get(b->manifest, "nodes"), *n;
	size_t i;

	json_array_foreach(nodes, i, n)
	{
		json_t *rows =
		    json_object_get(json_object_get(n, "cut"), "table_rows");
		if (json_is_object(rows) && json_object_size(rows) > 0)
			return rows;
	}
	return NULL;
}
