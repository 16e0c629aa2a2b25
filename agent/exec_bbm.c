/*
 * BbmStatus: the batched background migrations not yet finished, per
 * database (gitlab-facts §5). An upgrade must not move to the next required
 * stop while any is left, so a database that cannot be asked is an error,
 * never an empty list.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec_upgrade.h"
#include "ls_error.h"
#include "ls_util.h"
#include "pg_bbm.h"

#define ROWS_MAX 100 /* per database */

/* At most max bytes, cut at a UTF-8 character boundary. */
static char *dup_cut(const char *s, size_t max)
{
	size_t n = strlen(s);
	char *d;

	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	if ((d = malloc(n + 1)) == NULL)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

static int add_rows(struct upgrade_out *o, const char *db, PGresult *res,
                    char *err, size_t errlen)
{
	int i, n = PQntuples(res);
	long long id, st;

	for (i = 0; i < n && i < ROWS_MAX; i++) {
		Ls__BackgroundMigration *m = &o->migs[o->nmigs];

		if (ls_parse_int(PQgetvalue(res, i, BBM_COL_ID), 0, INT64_MAX,
		                 &id) < 0 ||
		    ls_parse_int(PQgetvalue(res, i, BBM_COL_STATUS), 0, 255,
		                 &st) < 0) {
			snprintf(err, errlen,
			         "%s database: batched_background_migrations "
			         "row with id '%.20s' status '%.20s'",
			         db, PQgetvalue(res, i, BBM_COL_ID),
			         PQgetvalue(res, i, BBM_COL_STATUS));
			return LS_EPROTO;
		}
		ls__background_migration__init(m);
		m->database = (char *)db;
		m->id = (uint64_t)id;
		m->status = (uint32_t)st;
		m->job_class = dup_cut(PQgetvalue(res, i, BBM_COL_JOB_CLASS),
		                       BBM_ARGS_MAX);
		m->table =
		    dup_cut(PQgetvalue(res, i, BBM_COL_TABLE), BBM_ARGS_MAX);
		m->column =
		    dup_cut(PQgetvalue(res, i, BBM_COL_COLUMN), BBM_ARGS_MAX);
		m->job_arguments =
		    dup_cut(PQgetvalue(res, i, BBM_COL_ARGS), BBM_ARGS_MAX);
		o->mig_ptrs[o->nmigs] = m;
		o->nmigs++;
		if (m->job_class == NULL || m->table == NULL ||
		    m->column == NULL || m->job_arguments == NULL)
			return LS_ENOMEM;
	}
	return 0;
}

/* db is "main" or "ci": a static string the result points to. */
static int query_db(struct upgrade_out *o, const char *db, const char *conninfo,
                    char *err, size_t errlen)
{
	PGconn *c = pg_bbm_connect(conninfo);
	PGresult *res = NULL;
	const char *state;
	char line[300];
	int rv;

	if (c == NULL || PQstatus(c) != CONNECTION_OK) {
		pg_bbm_error_line(c, line, sizeof(line));
		snprintf(err, errlen, "%s database: cannot connect: %s", db,
		         line);
		rv = LS_EIO;
		goto out;
	}
	res = pg_bbm_query(c, ROWS_MAX);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		pg_bbm_error_line(c, line, sizeof(line));
		if (state != NULL && strcmp(state, "42P01") == 0)
			snprintf(err, errlen,
			         "%s database (%.100s): no "
			         "batched_background_migrations table",
			         db, PQdb(c));
		else
			snprintf(err, errlen, "%s database (%.100s): %s", db,
			         PQdb(c), line);
		rv = LS_EIO;
		goto out;
	}
	rv = add_rows(o, db, res, err, errlen);
out:
	PQclear(res);
	PQfinish(c);
	return rv;
}

int exec_bbm_status(const struct agent_config *cfg, const Ls__BbmStatus *b,
                    struct upgrade_out *o, char *err, size_t errlen)
{
	const char *ci = cfg->postgresql.ci_conninfo;
	int rv;

	(void)b;
	o->migs = calloc(2 * ROWS_MAX, sizeof(*o->migs));
	o->mig_ptrs = calloc(2 * ROWS_MAX, sizeof(*o->mig_ptrs));
	if (o->migs == NULL || o->mig_ptrs == NULL)
		return LS_ENOMEM;
	rv = query_db(o, "main", cfg->postgresql.conninfo, err, errlen);
	if (rv == 0 && ci != NULL && ci[0] != '\0')
		rv = query_db(o, "ci", ci, err, errlen);
	if (rv < 0)
		return rv;
	o->bbm.n_unfinished = o->nmigs;
	o->bbm.unfinished = o->mig_ptrs;
	return 0;
}
