/*
 * RestoreVerify: this node's live state against the backup. Tables'
 * row counts, every repository's refs against its last .refs, every file
 * component's tree against its archive. Mismatches are reported, not
 * judged: the status is negative only when a comparison could not run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "backup_files.h"
#include "backup_pg_int.h"
#include "exec_restore_int.h"
#include "ls_error.h"
#include "ls_util.h"
#include "restore_files.h"
#include "restore_repos.h"

/* Undefined table, undefined schema: the table is missing, not an error. */
#define SQLSTATE_UNDEFINED_TABLE "42P01"
#define SQLSTATE_INVALID_SCHEMA "3F000"

/* The outcome failed with err; the operation's error is the first one. */
static int fail(struct xr *x, Ls__ComponentOutcome *o, int rv, const char *err)
{
	char msg[2048];

	snprintf(msg, sizeof(msg), "%s", err[0] ? err : ls_strerror(rv));
	xr_outcome_fail(x, o, msg);
	if (x->err[0] == '\0')
		snprintf(x->err, sizeof(x->err), "%.64s: %.1900s", o->component,
		         msg);
	return rv;
}

static void finish(struct xr *x, Ls__ComponentOutcome *o, int64_t t0)
{
	o->has_mismatches = 1;
	o->mismatches = x->comp_mismatches;
	if (x->comp_mismatches > 0)
		o->ok = 0;
	o->has_ms = 1;
	o->ms = (uint64_t)(ls_mono_ms() - t0);
}

/* count(*) of "schema.table": 1 and *rows, 0 when the table is missing. */
static int count_rows(PGconn *pg, const char *table, uint64_t *rows, char *err,
                      size_t errlen)
{
	const char *dot = strchr(table, '.'), *schema = "public", *name = table;
	char sbuf[256], sql[1024], line[256];
	char *qs = NULL, *qt = NULL;
	PGresult *r = NULL;
	const char *state;
	int rv;

	if (dot != NULL) {
		if ((size_t)(dot - table) >= sizeof(sbuf)) {
			snprintf(err, errlen, "table name too long: %.200s",
			         table);
			return LS_ETOOBIG;
		}
		memcpy(sbuf, table, (size_t)(dot - table));
		sbuf[dot - table] = '\0';
		schema = sbuf;
		name = dot + 1;
	}
	/* The names come from the coordinator: quoted, never pasted. */
	qs = PQescapeIdentifier(pg, schema, strlen(schema));
	qt = PQescapeIdentifier(pg, name, strlen(name));
	if (qs == NULL || qt == NULL ||
	    ls_fmt(sql, sizeof(sql), "SELECT count(*) FROM %s.%s", qs, qt) <
	        0) {
		snprintf(err, errlen, "table %.200s: cannot quote its name",
		         table);
		rv = LS_EINVAL;
		goto out;
	}
	r = PQexec(pg, sql);
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
		*rows = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
		rv = 1;
		goto out;
	}
	state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	if (state != NULL && (strcmp(state, SQLSTATE_UNDEFINED_TABLE) == 0 ||
	                      strcmp(state, SQLSTATE_INVALID_SCHEMA) == 0)) {
		rv = 0;
		goto out;
	}
	snprintf(err, errlen, "counting the rows of %.200s: %s", table,
	         backup_pg_line(PQresultErrorMessage(r), line, sizeof(line)));
	rv = LS_EIO;
out:
	PQclear(r);
	PQfreemem(qs);
	PQfreemem(qt);
	return rv;
}

int xr_verify_db(struct xr *x, const char *conninfo,
                 Ls__TableCount *const *want, size_t nwant,
                 Ls__ComponentOutcome *o)
{
	char pw[256], err[1024] = "", exp[24], got[24];
	int64_t t0 = ls_mono_ms();
	PGconn *pg = NULL;
	uint64_t rows;
	size_t i;
	int rv = 0;

	x->comp = "db";
	x->comp_mismatches = 0;
	pg = backup_pg_connect(conninfo, "lockstep-restore-verify", "verify",
	                       pw, sizeof(pw), err, sizeof(err));
	ls_wipe(pw, sizeof(pw));
	if (pg == NULL) {
		rv = fail(x, o, LS_EIO, err);
		goto out;
	}
	for (i = 0; i < nwant; i++) {
		rows = 0;
		rv = count_rows(pg, want[i]->table, &rows, err, sizeof(err));
		if (rv < 0) {
			fail(x, o, rv, err);
			goto out;
		}
		snprintf(exp, sizeof(exp), "%llu",
		         (unsigned long long)want[i]->rows);
		snprintf(got, sizeof(got), "%llu", (unsigned long long)rows);
		if (rv == 0)
			xr_mismatch(x, want[i]->table, exp, "");
		else if (rows != want[i]->rows)
			xr_mismatch(x, want[i]->table, exp, got);
		rv = 0;
	}
	o->has_items = 1;
	o->items = nwant;
out:
	finish(x, o, t0);
	PQfinish(pg);
	return rv;
}

static void on_repo_mismatch(void *arg, const char *repo, const char *ref,
                             const char *expected, const char *found)
{
	struct xr *x = arg;
	char item[RESTORE_REPOS_PATH_MAX + 600];

	if (ref == NULL)
		ls_strlcpy(item, repo, sizeof(item));
	else
		snprintf(item, sizeof(item), "%s %s", repo, ref);
	xr_mismatch(x, item, expected, found);
}

int xr_verify_repos(struct xr *x, const struct agent_config *cfg,
                    const char *backup_dir, const char *backup_id,
                    const struct ls_strlist *storages, Ls__ComponentOutcome *o)
{
	char err[1536] = "";
	int64_t t0 = ls_mono_ms();
	int rv;

	x->comp = "repositories";
	x->comp_mismatches = 0;
	rv = restore_repos_verify(cfg, backup_dir, backup_id, storages,
	                          on_repo_mismatch, x, err, sizeof(err));
	if (rv < 0)
		fail(x, o, rv, err);
	finish(x, o, t0);
	return rv < 0 ? rv : 0;
}

static void on_file_mismatch(void *arg, enum restore_mismatch kind,
                             const char *path)
{
	struct xr *x = arg;

	switch (kind) {
	case RESTORE_MISSING:
		xr_mismatch(x, path, "present", "");
		break;
	case RESTORE_EXTRA:
		xr_mismatch(x, path, "", "present");
		break;
	default:
		xr_mismatch(x, path, "present", "differs");
		break;
	}
}

int xr_verify_files(struct xr *x, const char *component, const char *archive,
                    const char *dir, Ls__ComponentOutcome *o)
{
	char err[1536] = "", listing[LS_PATH_MAX];
	int64_t t0 = ls_mono_ms();
	int rv;

	x->comp = component;
	x->comp_mismatches = 0;
	/* The restore's listing spares reading the archive again. */
	if (restore_files_listing_dir(x->cfg->state_dir, listing,
	                              sizeof(listing)) < 0)
		listing[0] = '\0';
	rv = restore_files_verify(component, archive, dir,
	                          listing[0] ? listing : NULL, on_file_mismatch,
	                          x, NULL, err, sizeof(err));
	if (rv < 0)
		fail(x, o, rv, err);
	finish(x, o, t0);
	return rv < 0 ? rv : 0;
}

int xr_restore_verify(struct xr *x, const Ls__RestoreVerify *v)
{
	const struct agent_config *cfg = x->cfg;
	struct ls_strlist sl;
	Ls__ComponentOutcome *o;
	char path[LS_PATH_MAX];
	int rv, first = 0;
	size_t i;

	if ((rv = xr_backup_path(v->backup_dir, NULL, path, sizeof(path),
	                         x->err, sizeof(x->err))) < 0)
		return rv;
	if (v->has_database && v->database) {
		if ((o = xr_outcome(x, "db")) == NULL)
			return LS_ENOMEM;
		rv = xr_verify_db(x, cfg->postgresql.conninfo, v->table_rows,
		                  v->n_table_rows, o);
		first = first ? first : rv;
	}
	if (v->has_repositories && v->repositories) {
		if ((o = xr_outcome(x, "repositories")) == NULL)
			return LS_ENOMEM;
		rv = xr_verify_repos(
		    x, cfg, v->backup_dir, v->backup_id,
		    xr_storages(&sl, v->storages, v->n_storages), o);
		first = first ? first : rv;
	}
	for (i = 0; i < v->n_files; i++) {
		const Ls__ComponentArchive *ca = v->files[i];
		const char *dir = backup_component_dir(cfg, ca->component);
		char e[512];

		if ((o = xr_outcome(x, ca->component)) == NULL)
			return LS_ENOMEM;
		if (dir == NULL) {
			snprintf(e, sizeof(e), "unknown component '%.100s'",
			         ca->component);
			first = first ? first : fail(x, o, LS_EINVAL, e);
			continue;
		}
		rv = xr_rel_ok("archive", ca->archive, e, sizeof(e));
		if (rv == 0)
			rv = xr_backup_path(v->backup_dir, ca->archive, path,
			                    sizeof(path), e, sizeof(e));
		if (rv < 0) {
			first = first ? first : fail(x, o, rv, e);
			continue;
		}
		rv = xr_verify_files(x, ca->component, path, dir, o);
		first = first ? first : rv;
	}
	return first;
}
