/*
 * The restore's parsers of untrusted backup files: a gitaly-backup TOML
 * manifest and a .refs file (or a bundle's header). The input is cut at
 * its first NUL byte: the manifest before, the refs after, whose first
 * byte picks the object format and the bundle mode. Whatever is accepted
 * must hold only what the restore relies on: paths inside repositories/,
 * refnames under refs/, ids of the format's length, sorted unique names.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backup_repos.h"
#include "restore_repos.h"

static void check_path(const char *p)
{
	if (p != NULL && !restore_repos_path_ok(p))
		abort();
}

static void check_manifest(const struct restore_repos_manifest *m)
{
	size_t i;

	if (strcmp(m->fmt, "sha1") != 0 && strcmp(m->fmt, "sha256") != 0)
		abort();
	if (m->head != NULL &&
	    !backup_repos_refname_ok(m->head, strlen(m->head)))
		abort();
	if (m->nsteps > RESTORE_REPOS_MAX_STEPS)
		abort();
	for (i = 0; i < m->nsteps; i++) {
		check_path(m->steps[i].bundle);
		check_path(m->steps[i].refs);
		check_path(m->steps[i].prev_refs);
		check_path(m->steps[i].hooks);
	}
	if (!m->empty && !m->non_existent &&
	    (m->nsteps == 0 || m->steps[m->nsteps - 1].refs == NULL))
		abort();
}

static void check_refs(const struct restore_repos_refs *r, size_t oidlen)
{
	size_t i;

	if (r->head[0] != '\0' && !backup_repos_oid_ok(r->head, oidlen))
		abort();
	for (i = 0; i < r->n; i++) {
		if (strlen(r->v[i].oid) != oidlen ||
		    !backup_repos_oid_ok(r->v[i].oid, oidlen) ||
		    !backup_repos_refname_ok(r->v[i].name,
		                             strlen(r->v[i].name)))
			abort();
		if (i > 0 && strcmp(r->v[i - 1].name, r->v[i].name) >= 0)
			abort();
		if (restore_repos_refs_find(r, r->v[i].name) != &r->v[i])
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	const uint8_t *nul = memchr(data, 0, size);
	size_t mlen = nul ? (size_t)(nul - data) : size, oidlen;
	struct restore_repos_manifest m;
	struct restore_repos_refs r;
	char err[512];
	int bundle;

	err[0] = '\0';
	if (restore_repos_manifest_parse(text, mlen, "m.toml", &m, err,
	                                 sizeof(err)) == 0) {
		check_manifest(&m);
		restore_repos_manifest_free(&m);
	} else if (memchr(err, '\0', sizeof(err)) == NULL || err[0] == '\0') {
		abort();
	}
	if (nul == NULL || (size_t)(nul - data) + 2 > size)
		return 0;
	text = (const char *)nul + 2;
	oidlen = (nul[1] & 1) ? 64 : 40;
	bundle = (nul[1] & 2) != 0;
	err[0] = '\0';
	if (restore_repos_refs_parse(
	        text, size - (size_t)(text - (const char *)data), oidlen,
	        bundle, "x.refs", &r, err, sizeof(err)) == 0) {
		check_refs(&r, oidlen);
		restore_repos_refs_free(&r);
	} else if (err[0] == '\0') {
		abort();
	}
	return 0;
}
