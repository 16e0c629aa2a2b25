/* Before the load: GitLab's drop_tables; and the restore drill's scratch
 * database. The load itself is in restore_pg_load.c. */
#include "restore_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "backup_pg.h"
#include "backup_pg_int.h"
#include "ls_error.h"
#include "ls_util.h"

#define RESTORE_PG_PW_MAX 1024
#define RESTORE_PG_CONNINFO_MAX 8192

/*
 * Followed: GitLab's lib/tasks/gitlab/db.rake (drop_tables) with the Rails
 * PostgreSQL adapter's `tables`/`views` (relkind r,p and v,m in
 * current_schemas(false)) and Gitlab::Database::EXTRA_SCHEMAS
 * (lib/gitlab/database.rb). Differences, each deliberate: one transaction
 * instead of one per statement, so that a failure leaves the database as
 * it was; objects that belong to an extension are skipped (GitLab skips
 * only views; dropping an extension's table fails); a materialized view is
 * dropped with DROP MATERIALIZED VIEW (DROP VIEW refuses it); names are
 * schema-qualified (the same tables as GitLab's search-path lookups reach).
 */
static const char restore_pg_objects_sql[] =
    "SELECT n.nspname, c.relname, c.relkind FROM pg_catalog.pg_class c "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = ANY (pg_catalog.current_schemas(false)) "
    "AND c.relkind IN ('r', 'p', 'v', 'm') "
    "AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d "
    "WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass "
    "AND d.objid = c.oid AND d.deptype = 'e') "
    /* Views first, as GitLab does; then tables in name order. */
    "ORDER BY c.relkind IN ('r', 'p'), n.nspname COLLATE \"C\", "
    "c.relname COLLATE \"C\"";

/* GitLab's role may carry a statement_timeout; a stray session holding a
 * lock must fail the drop, not hang it. NOTICEs ("does not exist,
 * skipping") are expected and not wanted on the agent's stderr. */
static const char restore_pg_begin_sql[] =
    "BEGIN; SET LOCAL lock_timeout = '60s'; "
    "SET LOCAL statement_timeout = '10min'; "
    "SET LOCAL client_min_messages = warning";

static const char *const restore_pg_extra_schemas[] = {
    "gitlab_partitions_dynamic", "gitlab_partitions_static", NULL};

static void restore_pg_quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* Connects like backup_pg_hold; pw receives the password for scrubbing. */
static PGconn *restore_pg_connect(const char *conninfo, const char *what,
                                  char *pw, size_t pwlen, char *err,
                                  size_t errlen)
{
	PGconn *c = backup_pg_connect(conninfo, "lockstep-restore", what, pw,
	                              pwlen, err, errlen);

	if (c != NULL)
		PQsetNoticeProcessor(c, restore_pg_quiet, NULL);
	return c;
}

static int restore_pg_run(PGconn *c, const char *sql, const char *what,
                          const char *pw, char *err, size_t errlen)
{
	PGresult *res = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(res);
	char line[512];
	int rv = 0;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		backup_pg_seterr(err, errlen, pw, "%s: %s", what,
		                 backup_pg_line(res ? PQresultErrorMessage(res)
		                                    : PQerrorMessage(c),
		                                line, sizeof(line)));
		rv = LS_EIO;
	}
	PQclear(res);
	return rv;
}

/* "<verb> <quoted schema>.<quoted name><tail>", run on c. */
static int restore_pg_run_on(PGconn *c, const char *verb, const char *schema,
                             const char *name, const char *tail, const char *pw,
                             char *err, size_t errlen)
{
	char *qs = NULL, *qn = NULL, *sql = NULL, what[400];
	size_t len;
	int rv;

	qs = PQescapeIdentifier(c, schema, strlen(schema));
	qn = name ? PQescapeIdentifier(c, name, strlen(name)) : NULL;
	if (qs == NULL || (name != NULL && qn == NULL)) {
		backup_pg_seterr(err, errlen, NULL, "quoting %s: out of memory",
		                 schema);
		rv = LS_ENOMEM;
		goto out;
	}
	len = strlen(verb) + strlen(qs) + (qn ? strlen(qn) : 0) + strlen(tail) +
	      8;
	if ((sql = malloc(len)) == NULL) {
		backup_pg_seterr(err, errlen, NULL, "out of memory");
		rv = LS_ENOMEM;
		goto out;
	}
	if ((rv = ls_fmt(sql, len, "%s %s%s%s%s", verb, qs, qn ? "." : "",
	                 qn ? qn : "", tail)) < 0)
		goto out;
	snprintf(what, sizeof(what), "%s %s%s%s", verb, schema, name ? "." : "",
	         name ? name : "");
	rv = restore_pg_run(c, sql, what, pw, err, errlen);
out:
	PQfreemem(qs);
	PQfreemem(qn);
	free(sql);
	return rv;
}

static int restore_pg_drop_one(PGconn *c, const char *schema, const char *name,
                               char kind, const char *pw, char *err,
                               size_t errlen)
{
	if (kind == 'v')
		return restore_pg_run_on(c, "DROP VIEW IF EXISTS", schema, name,
		                         " CASCADE", pw, err, errlen);
	if (kind == 'm')
		return restore_pg_run_on(c, "DROP MATERIALIZED VIEW IF EXISTS",
		                         schema, name, " CASCADE", pw, err,
		                         errlen);
	/* GitLab keeps schema_migrations, emptied, so that migrations run
	 * again (the dump then replaces it). */
	if (strcmp(name, "schema_migrations") == 0)
		return restore_pg_run_on(c, "TRUNCATE", schema, name, "", pw,
		                         err, errlen);
	/* IF EXISTS: a CASCADE or a partitioned parent may already have
	 * taken it. */
	return restore_pg_run_on(c, "DROP TABLE IF EXISTS", schema, name,
	                         " CASCADE", pw, err, errlen);
}

int restore_pg_drop(const char *conninfo, char *err, size_t errlen)
{
	char pw[RESTORE_PG_PW_MAX], line[512];
	PGresult *res = NULL;
	PGconn *c = NULL;
	int rv, i, n;

	pw[0] = '\0';
	if ((c = restore_pg_connect(conninfo, "dropping tables", pw, sizeof(pw),
	                            err, errlen)) == NULL) {
		rv = LS_EIO;
		goto out;
	}
	if ((rv = restore_pg_run(c, restore_pg_begin_sql, "dropping tables", pw,
	                         err, errlen)) < 0)
		goto out;
	res = PQexec(c, restore_pg_objects_sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != 3) {
		backup_pg_seterr(err, errlen, pw,
		                 "listing tables of \"%s\": %s", PQdb(c),
		                 backup_pg_line(PQresultErrorMessage(res), line,
		                                sizeof(line)));
		rv = LS_EIO;
		goto out;
	}
	n = PQntuples(res);
	for (i = 0; i < n; i++)
		if ((rv = restore_pg_drop_one(
		         c, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
		         PQgetvalue(res, i, 2)[0], pw, err, errlen)) < 0)
			goto out;
	for (i = 0; restore_pg_extra_schemas[i] != NULL; i++)
		if ((rv = restore_pg_run_on(c, "DROP SCHEMA IF EXISTS",
		                            restore_pg_extra_schemas[i], NULL,
		                            " CASCADE", pw, err, errlen)) < 0)
			goto out;
	rv = restore_pg_run(c, "COMMIT", "dropping tables", pw, err, errlen);
out:
	PQclear(res);
	/* Closing an open transaction rolls it back. */
	PQfinish(c);
	ls_wipe(pw, sizeof(pw));
	return rv;
}

int restore_pg_psql_beside(const char *pg_dump, char *out, size_t outlen)
{
	const char *slash = pg_dump ? strrchr(pg_dump, '/') : NULL;
	size_t dir;

	if (pg_dump == NULL || pg_dump[0] != '/' || slash == NULL ||
	    out == NULL || outlen == 0)
		return LS_EINVAL;
	dir = (size_t)(slash - pg_dump) + 1;
	if (dir + sizeof("psql") > outlen)
		return LS_ETOOBIG;
	memcpy(out, pg_dump, dir);
	memcpy(out + dir, "psql", sizeof("psql"));
	return 0;
}

/* ---- the scratch database ---- */

static int restore_pg_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	return n > 0 && n <= RESTORE_PG_NAME_MAX &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") == n &&
	       !(name[0] >= '0' && name[0] <= '9') &&
	       strcmp(name, "postgres") != 0 &&
	       strcmp(name, "template0") != 0 && strcmp(name, "template1") != 0;
}

/* Connects for a scratch operation and refuses the database it is
 * connected to: a drill must never touch the live database. */
static PGconn *restore_pg_scratch_connect(const char *conninfo,
                                          const char *name, const char *what,
                                          char *pw, size_t pwlen, char *err,
                                          size_t errlen, int *rv)
{
	PGconn *c;

	if (!restore_pg_name_ok(name)) {
		backup_pg_seterr(err, errlen, NULL,
		                 "%s: \"%.*s\" is not a scratch database name "
		                 "([a-z0-9_], not starting with a digit, at "
		                 "most %d bytes, not postgres or a template)",
		                 what, RESTORE_PG_NAME_MAX + 1,
		                 name ? name : "", RESTORE_PG_NAME_MAX);
		*rv = LS_EINVAL;
		return NULL;
	}
	if ((c = restore_pg_connect(conninfo, what, pw, pwlen, err, errlen)) ==
	    NULL) {
		*rv = LS_EIO;
		return NULL;
	}
	if (strcmp(PQdb(c), name) == 0) {
		backup_pg_seterr(err, errlen, NULL,
		                 "%s: \"%s\" is the database being restored, "
		                 "not a scratch one",
		                 what, name);
		PQfinish(c);
		*rv = LS_EINVAL;
		return NULL;
	}
	*rv = 0;
	return c;
}

/* conninfo with dbname replaced: a later keyword wins in a conninfo. */
static int restore_pg_scratch_conninfo(const char *conninfo, const char *name,
                                       char *out, size_t outlen, char *err,
                                       size_t errlen)
{
	char pw[RESTORE_PG_PW_MAX];
	size_t off, i;
	int rv;

	if ((rv = backup_pg_conninfo_split(conninfo, out, outlen, pw,
	                                   sizeof(pw), err, errlen)) < 0)
		goto out;
	off = strlen(out);
	if ((rv = ls_fmt(out + off, outlen - off, "%sdbname='%s'",
	                 off ? " " : "", name)) < 0)
		goto toolong;
	off = strlen(out);
	if (pw[0] != '\0') {
		if (off + sizeof(" password=''") > outlen)
			goto toolong;
		memcpy(out + off, " password='", 11);
		off += 11;
		for (i = 0; pw[i] != '\0'; i++) {
			/* 2 for an escape, 2 for the closing quote and NUL. */
			if (off + 4 > outlen)
				goto toolong;
			if (pw[i] == '\'' || pw[i] == '\\')
				out[off++] = '\\';
			out[off++] = pw[i];
		}
		out[off++] = '\'';
		out[off] = '\0';
	}
	rv = 0;
	goto out;
toolong:
	backup_pg_seterr(err, errlen, NULL,
	                 "scratch conninfo longer than %zu bytes", outlen - 1);
	rv = LS_ETOOBIG;
out:
	if (rv < 0 && out != NULL && outlen > 0)
		ls_wipe(out, outlen);
	ls_wipe(pw, sizeof(pw));
	return rv;
}

static const char restore_pg_dbinfo_sql[] =
    "SELECT pg_catalog.pg_get_userbyid(d.datdba), "
    "pg_catalog.pg_encoding_to_char(d.encoding), d.datcollate, d.datctype "
    "FROM pg_catalog.pg_database d "
    "WHERE d.datname = pg_catalog.current_database()";

int restore_pg_scratch_create(const char *conninfo, const char *name,
                              char *scratch_conninfo, size_t sclen, char *err,
                              size_t errlen)
{
	char pw[RESTORE_PG_PW_MAX], line[512], *sql = NULL;
	char *qn = NULL, *qo = NULL, *qe = NULL, *qcol = NULL, *qct = NULL;
	const char *what = "creating the scratch database";
	PGresult *res = NULL;
	PGconn *c = NULL;
	size_t len;
	int rv;

	pw[0] = '\0';
	if (scratch_conninfo == NULL || sclen == 0) {
		backup_pg_seterr(err, errlen, NULL, "%s: bad call", what);
		return LS_EINVAL;
	}
	scratch_conninfo[0] = '\0';
	if ((c = restore_pg_scratch_connect(conninfo, name, what, pw,
	                                    sizeof(pw), err, errlen, &rv)) ==
	    NULL)
		goto out;
	res = PQexec(c, restore_pg_dbinfo_sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
	    PQnfields(res) != 4) {
		backup_pg_seterr(err, errlen, pw, "%s: reading \"%s\": %s",
		                 what, PQdb(c),
		                 backup_pg_line(PQresultErrorMessage(res), line,
		                                sizeof(line)));
		rv = LS_EIO;
		goto out;
	}
	qn = PQescapeIdentifier(c, name, strlen(name));
	qo = PQescapeIdentifier(c, PQgetvalue(res, 0, 0),
	                        strlen(PQgetvalue(res, 0, 0)));
	qe = PQescapeLiteral(c, PQgetvalue(res, 0, 1),
	                     strlen(PQgetvalue(res, 0, 1)));
	qcol = PQescapeLiteral(c, PQgetvalue(res, 0, 2),
	                       strlen(PQgetvalue(res, 0, 2)));
	qct = PQescapeLiteral(c, PQgetvalue(res, 0, 3),
	                      strlen(PQgetvalue(res, 0, 3)));
	len = (qn ? strlen(qn) : 0) + (qo ? strlen(qo) : 0) +
	      (qe ? strlen(qe) : 0) + (qcol ? strlen(qcol) : 0) +
	      (qct ? strlen(qct) : 0) + 128;
	if (qn == NULL || qo == NULL || qe == NULL || qcol == NULL ||
	    qct == NULL || (sql = malloc(len)) == NULL) {
		backup_pg_seterr(err, errlen, NULL, "%s: out of memory", what);
		rv = LS_ENOMEM;
		goto out;
	}
	/* template0 with the live database's encoding and locale: the dump
	 * then loads as it would into the live one, whatever template1
	 * holds. */
	if ((rv = ls_fmt(sql, len,
	                 "CREATE DATABASE %s OWNER %s TEMPLATE template0 "
	                 "ENCODING %s LC_COLLATE %s LC_CTYPE %s",
	                 qn, qo, qe, qcol, qct)) < 0)
		goto out;
	PQclear(res);
	res = PQexec(c, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		backup_pg_seterr(err, errlen, pw, "%s \"%s\": %s", what, name,
		                 backup_pg_line(PQresultErrorMessage(res), line,
		                                sizeof(line)));
		/* 42P04: duplicate_database. */
		rv = state && strcmp(state, "42P04") == 0 ? LS_EEXIST : LS_EIO;
		goto out;
	}
	if ((rv = restore_pg_scratch_conninfo(conninfo, name, scratch_conninfo,
	                                      sclen, err, errlen)) < 0) {
		/* Best effort: do not leave what cannot be reached. */
		PQclear(res);
		res = NULL;
		(void)restore_pg_run_on(c, "DROP DATABASE IF EXISTS", name,
		                        NULL, "", pw, line, sizeof(line));
		goto out;
	}
	rv = 0;
out:
	PQclear(res);
	PQfreemem(qn);
	PQfreemem(qo);
	PQfreemem(qe);
	PQfreemem(qcol);
	PQfreemem(qct);
	free(sql);
	PQfinish(c);
	ls_wipe(pw, sizeof(pw));
	return rv;
}

int restore_pg_scratch_drop(const char *conninfo, const char *name, char *err,
                            size_t errlen)
{
	char pw[RESTORE_PG_PW_MAX];
	PGconn *c;
	int rv;

	pw[0] = '\0';
	if ((c = restore_pg_scratch_connect(
	         conninfo, name, "dropping the scratch database", pw,
	         sizeof(pw), err, errlen, &rv)) == NULL)
		goto out;
	/* FORCE: a drill's psql or a check may still be connected. */
	rv = restore_pg_run_on(c, "DROP DATABASE IF EXISTS", name, NULL,
	                       " WITH (FORCE)", pw, err, errlen);
out:
	PQfinish(c);
	ls_wipe(pw, sizeof(pw));
	return rv;
}
