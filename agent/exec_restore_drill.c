/*
 * RestoreDrill: the backup restored into scratch space only, then
 * verified there, then the scratch space removed. A scratch database on
 * the node's PostgreSQL server; repository storages and file directories
 * under <backup_staging_dir>/lockstep-drill.XXXXXX/ (one left by a drill
 * that was killed goes with the next). The live database, storages and
 * directories are never written.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backup_files.h"
#include "backup_pg_rows.h"
#include "exec_restore_int.h"
#include "ls_error.h"
#include "ls_log.h"
#include "ls_scratch.h"
#include "ls_util.h"
#include "restore_files.h"
#include "restore_pg.h"
#include "restore_repos.h"

#define DRILL_MAX_STORAGES 64

/* Fails o with err, naming the artifact when err does not. */
static int fail(struct xr *x, Ls__ComponentOutcome *o, int rv,
                const char *artifact, const char *err)
{
	char msg[2048];

	if (artifact != NULL && strstr(err, artifact) == NULL)
		snprintf(msg, sizeof(msg), "%s: %s", artifact,
		         err[0] ? err : ls_strerror(rv));
	else
		snprintf(msg, sizeof(msg), "%s",
		         err[0] ? err : ls_strerror(rv));
	xr_outcome_fail(x, o, msg);
	if (x->err[0] == '\0')
		snprintf(x->err, sizeof(x->err), "drill of %.64s: %.1900s",
		         o->component, msg);
	return rv;
}

/* The dump's own row counts, when the drill is given none. */
struct dump_rows {
	Ls__TableCount **v;
	size_t n;
	struct xr *x;
};

static int on_dump_rows(void *arg, const char *table, uint64_t rows)
{
	struct dump_rows *d = arg;

	return xr_table_rows(d->x, &d->v, &d->n, table, rows);
}

static void dump_rows_free(struct dump_rows *d)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		ls__table_count__free_unpacked(d->v[i], NULL);
	free(d->v);
}

static int drill_db(struct xr *x, const Ls__RestoreDrill *d,
                    Ls__ComponentOutcome *o)
{
	const char *conninfo = x->cfg->postgresql.conninfo;
	char name[RESTORE_PG_NAME_MAX + 1], sc[4096], path[LS_PATH_MAX];
	char psql[LS_PATH_MAX], err[1536] = "";
	struct backup_pg_rows *rows = NULL;
	struct dump_rows own = {NULL, 0, x};
	int rv, created = 0;

	snprintf(
	    name, sizeof(name), "lockstep_drill_%llu",
	    (unsigned long long)(x->op_id ? x->op_id : (uint64_t)ls_now()));
	sc[0] = '\0';
	if ((rv = xr_rel_ok("dump", d->dump, err, sizeof(err))) < 0 ||
	    (rv = xr_backup_path(d->backup_dir, d->dump, path, sizeof(path),
	                         err, sizeof(err))) < 0)
		return fail(x, o, rv, NULL, err);
	if ((rv = restore_pg_psql_beside(x->cfg->backup.pg_dump, psql,
	                                 sizeof(psql))) < 0) {
		snprintf(err, sizeof(err), "backup.pg_dump '%.900s': %s",
		         x->cfg->backup.pg_dump, ls_strerror(rv));
		return fail(x, o, rv, NULL, err);
	}
	rv = restore_pg_scratch_create(conninfo, name, sc, sizeof(sc), err,
	                               sizeof(err));
	if (rv == LS_EEXIST) {
		/* Left by a drill of this operation that died: ours. */
		if ((rv = restore_pg_scratch_drop(conninfo, name, err,
		                                  sizeof(err))) == 0)
			rv = restore_pg_scratch_create(
			    conninfo, name, sc, sizeof(sc), err, sizeof(err));
	}
	if (rv < 0) {
		fail(x, o, rv, NULL, err);
		goto out;
	}
	created = 1;
	if ((rows = backup_pg_rows_new()) == NULL) {
		rv = fail(x, o, LS_ENOMEM, NULL, "");
		goto out;
	}
	rv = restore_pg_load(psql, sc, path, xr_progress, x, rows, err,
	                     sizeof(err));
	if (rv < 0) {
		fail(x, o, rv, path, err);
		goto out;
	}
	if (d->n_table_rows == 0 &&
	    (rv = backup_pg_rows_finish(rows, on_dump_rows, &own)) < 0) {
		snprintf(err, sizeof(err),
		         "no expected row counts given and the dump's own "
		         "cannot be counted: %s",
		         backup_pg_rows_why(rows));
		fail(x, o, rv, path, err);
		goto out;
	}
	rv = d->n_table_rows > 0
	         ? xr_verify_db(x, sc, d->table_rows, d->n_table_rows, o)
	         : xr_verify_db(x, sc, own.v, own.n, o);
out:
	if (created &&
	    restore_pg_scratch_drop(conninfo, name, err, sizeof(err)) < 0) {
		/* A scratch database left behind is a failed drill. */
		log_warnx("drill: dropping %s: %s", name, err);
		rv = fail(x, o, LS_EIO, NULL, err);
	}
	ls_wipe(sc, sizeof(sc));
	backup_pg_rows_free(rows);
	dump_rows_free(&own);
	return rv;
}

static const char *storage_path(const struct agent_config *cfg,
                                const char *name)
{
	const struct agent_gitaly_storage *st = cfg->gitaly.storages.items;
	size_t i;

	for (i = 0; i < cfg->gitaly.storages.n; i++)
		if (strcmp(st[i].name, name) == 0)
			return st[i].path;
	return NULL;
}

static int drill_repos(struct xr *x, const Ls__RestoreDrill *d,
                       const char *drill, Ls__ComponentOutcome *o)
{
	const struct agent_gitaly_storage *live = x->cfg->gitaly.storages.items;
	struct agent_gitaly_storage st[DRILL_MAX_STORAGES];
	char paths[DRILL_MAX_STORAGES][LS_PATH_MAX], err[1536] = "";
	struct agent_config scratch = *x->cfg;
	struct restore_repos_result rr;
	struct ls_strlist failed = {0};
	size_t i, n = d->n_storages ? d->n_storages : x->cfg->gitaly.storages.n;
	int rv = 0;

	if (n > DRILL_MAX_STORAGES) {
		snprintf(err, sizeof(err), "more than %d storages",
		         DRILL_MAX_STORAGES);
		return fail(x, o, LS_ETOOBIG, NULL, err);
	}
	/* The same storage names, pointing into the drill directory. */
	for (i = 0; i < n; i++) {
		const char *nm = d->n_storages ? d->storages[i] : live[i].name;

		if (storage_path(x->cfg, nm) == NULL ||
		    !restore_repos_path_ok(nm) || strchr(nm, '/') != NULL) {
			snprintf(err, sizeof(err),
			         "storage '%.100s' is not configured on this "
			         "node (gitaly.storages)",
			         nm);
			return fail(x, o, LS_EINVAL, NULL, err);
		}
		if ((rv = ls_fmt(paths[i], sizeof(paths[i]),
		                 "%s/repositories/%s", drill, nm)) < 0 ||
		    (rv = ls_mkdirs(paths[i], 0700)) < 0) {
			snprintf(err, sizeof(err), "%.900s: %s", paths[i],
			         ls_strerror(rv));
			return fail(x, o, rv, NULL, err);
		}
		st[i].name = (char *)nm;
		st[i].path = paths[i];
	}
	scratch.gitaly.storages.items = st;
	scratch.gitaly.storages.n = n;
	memset(&rr, 0, sizeof(rr));
	rv = restore_repos(&scratch, d->backup_dir, d->backup_id, NULL, 0,
	                   xr_progress, x, &rr, &failed, err, sizeof(err));
	for (i = 0; i < failed.n; i++)
		free(failed.items[i]);
	free(failed.items);
	if (rv < 0)
		return fail(x, o, rv, NULL, err);
	rv = xr_verify_repos(x, &scratch, d->backup_dir, d->backup_id, NULL, o);
	o->has_items = 1;
	o->items = rr.repos;
	return rv;
}

static int drill_files(struct xr *x, const Ls__RestoreDrill *d,
                       const Ls__ComponentArchive *ca, const char *drill,
                       Ls__ComponentOutcome *o)
{
	char path[LS_PATH_MAX], dir[LS_PATH_MAX], tmp[LS_PATH_MAX];
	char listing[LS_PATH_MAX], err[1536] = "";
	int rv;

	if (backup_component_find(ca->component) == NULL) {
		snprintf(err, sizeof(err), "unknown component '%.100s'",
		         ca->component);
		return fail(x, o, LS_EINVAL, NULL, err);
	}
	if ((rv = xr_rel_ok("archive", ca->archive, err, sizeof(err))) < 0 ||
	    (rv = xr_backup_path(d->backup_dir, ca->archive, path, sizeof(path),
	                         err, sizeof(err))) < 0)
		return fail(x, o, rv, NULL, err);
	if ((rv = ls_fmt(dir, sizeof(dir), "%s/files/%s", drill,
	                 ca->component)) < 0 ||
	    (rv = ls_fmt(tmp, sizeof(tmp), "%s/tmp", drill)) < 0 ||
	    (rv = ls_mkdirs(dir, 0700)) < 0) {
		snprintf(err, sizeof(err), "%.900s: %s", dir, ls_strerror(rv));
		return fail(x, o, rv, NULL, err);
	}
	if (restore_files_listing_dir(x->cfg->state_dir, listing,
	                              sizeof(listing)) < 0)
		listing[0] = '\0';
	rv = restore_files(ca->component, path, dir, tmp,
	                   listing[0] ? listing : NULL, xr_progress, x, err,
	                   sizeof(err));
	if (rv < 0)
		return fail(x, o, rv, path, err);
	return xr_verify_files(x, ca->component, path, dir, o);
}

int xr_restore_drill(struct xr *x, const Ls__RestoreDrill *d)
{
	struct ls_scratch sc = {.path = "", .lockfd = -1};
	char drill[LS_PATH_MAX] = "", check[LS_PATH_MAX];
	Ls__ComponentOutcome *o;
	int64_t t0;
	int rv, first = 0;
	size_t i;

	if ((rv = xr_backup_path(d->backup_dir, NULL, check, sizeof(check),
	                         x->err, sizeof(x->err))) < 0)
		return rv;
	if ((rv = ls_scratch_open(&sc, x->cfg->backup_staging_dir,
	                          "lockstep-drill", NULL, x->err,
	                          sizeof(x->err))) < 0)
		return rv;
	ls_strlcpy(drill, sc.path, sizeof(drill));
	if (d->dump != NULL) {
		t0 = ls_mono_ms();
		if ((o = xr_outcome(x, "db")) == NULL) {
			first = LS_ENOMEM;
			goto out;
		}
		rv = drill_db(x, d, o);
		first = first ? first : rv;
		o->has_ms = 1;
		o->ms = (uint64_t)(ls_mono_ms() - t0);
	}
	if (d->has_repositories && d->repositories) {
		t0 = ls_mono_ms();
		if ((o = xr_outcome(x, "repositories")) == NULL) {
			first = LS_ENOMEM;
			goto out;
		}
		rv = drill_repos(x, d, drill, o);
		first = first ? first : rv;
		o->has_ms = 1;
		o->ms = (uint64_t)(ls_mono_ms() - t0);
	}
	for (i = 0; i < d->n_files; i++) {
		t0 = ls_mono_ms();
		if ((o = xr_outcome(x, d->files[i]->component)) == NULL) {
			first = LS_ENOMEM;
			goto out;
		}
		rv = drill_files(x, d, d->files[i], drill, o);
		first = first ? first : rv;
		o->has_ms = 1;
		o->ms = (uint64_t)(ls_mono_ms() - t0);
	}
out:
	/* Whatever happened: the drill leaves nothing behind. */
	if ((rv = ls_scratch_close(&sc)) < 0) {
		if (first == 0) {
			snprintf(x->err, sizeof(x->err), "removing %.900s: %s",
			         drill, ls_strerror(rv));
			first = rv;
		}
	}
	return first;
}
