/* The cut: a held REPEATABLE READ transaction with an exported snapshot. */
#include "backup_pg.h"
#include "backup_pg_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "ls_error.h"
#include "ls_util.h"

#define BACKUP_PG_PW_MAX 1024
#define BACKUP_PG_CONNINFO_MAX 8192

struct backup_pg_hold {
	PGconn *conn;
	int in_recovery;
};

/* GitLab's database user may have per-role timeouts (Omnibus sets
 * idle_in_transaction_session_timeout): a hold idles for the whole copy
 * and must not be ended by the server, and exact counts may be slow. */
static const char backup_pg_session_sql[] =
    "SET statement_timeout = 0; SET lock_timeout = 0; "
    "SET idle_in_transaction_session_timeout = 0";

/* One statement, so that the snapshot, the recovery state and the LSN are
 * read together; CASE keeps pg_current_wal_lsn() from running on a replica,
 * where it raises an error. */
static const char backup_pg_cut_sql[] =
    "SELECT pg_catalog.pg_export_snapshot(), "
    "pg_catalog.pg_is_in_recovery(), "
    "CASE WHEN pg_catalog.pg_is_in_recovery() "
    "THEN pg_catalog.pg_last_wal_replay_lsn() "
    "ELSE pg_catalog.pg_current_wal_lsn() END::text";

/* relkind 'r' only: a partitioned parent's count would repeat its
 * partitions'. Other sessions' temporary tables cannot be read, nor can
 * unlogged ones during recovery. */
static const char backup_pg_tables_sql[] =
    "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind = 'r' AND c.relpersistence <> 't' "
    "AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_' "
    "AND ($1::bool = false OR c.relpersistence <> 'u') "
    "ORDER BY n.nspname COLLATE \"C\", c.relname COLLATE \"C\"";

void backup_pg_scrub(char *msg, const char *password)
{
	size_t pwlen;
	char *p;

	if (msg == NULL || password == NULL || password[0] == '\0')
		return;
	pwlen = strlen(password);
	while ((p = strstr(msg, password)) != NULL)
		memset(p, '*', pwlen);
}

/* Every error text goes through here so that none can carry the password,
 * whatever libpq or the server quoted back. */
void backup_pg_seterr(char *err, size_t errlen, const char *password,
                      const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	backup_pg_scrub(err, password);
}

const char *backup_pg_line(const char *msg, char *buf, size_t size)
{
	size_t n;

	if (msg == NULL || msg[0] == '\0')
		return "unknown error";
	n = strcspn(msg, "\n");
	if (n >= size)
		n = size - 1;
	memcpy(buf, msg, n);
	buf[n] = '\0';
	return buf;
}

static int backup_pg_append(char *dst, size_t size, size_t *off,
                            const char *key, const char *val)
{
	size_t need = strlen(key) + 4, i;
	char *p;

	for (i = 0; val[i] != '\0'; i++)
		need += (val[i] == '\'' || val[i] == '\\') ? 2 : 1;
	if (need >= size - *off)
		return LS_ETOOBIG;
	p = dst + *off;
	if (*off > 0)
		*p++ = ' ';
	/* need above counted key, '=', quotes and the escapes. */
	memcpy(p, key, strlen(key));
	p += strlen(key);
	*p++ = '=';
	*p++ = '\'';
	for (i = 0; val[i] != '\0'; i++) {
		if (val[i] == '\'' || val[i] == '\\')
			*p++ = '\\';
		*p++ = val[i];
	}
	*p++ = '\'';
	*p = '\0';
	*off = (size_t)(p - dst);
	return 0;
}

/* libpq's own rule: a URI or anything with '=' is a connection string,
 * the rest is a database name. */
static int backup_pg_is_conninfo(const char *s)
{
	return strncmp(s, "postgresql://", 13) == 0 ||
	       strncmp(s, "postgres://", 11) == 0 || strchr(s, '=') != NULL;
}

int backup_pg_conninfo_split(const char *conninfo, char *clean, size_t cleanlen,
                             char *password, size_t pwlen, char *err,
                             size_t errlen)
{
	PQconninfoOption *opts = NULL, *o;
	char *perr = NULL;
	size_t off = 0;
	int rv;

	if (conninfo == NULL || clean == NULL || cleanlen == 0 ||
	    password == NULL || pwlen == 0) {
		backup_pg_seterr(err, errlen, NULL, "conninfo: missing");
		return LS_EINVAL;
	}
	clean[0] = '\0';
	password[0] = '\0';
	if (!backup_pg_is_conninfo(conninfo)) {
		rv = conninfo[0] == '\0'
		         ? 0
		         : backup_pg_append(clean, cleanlen, &off, "dbname",
		                            conninfo);
		if (rv < 0)
			backup_pg_seterr(err, errlen, NULL,
			                 "conninfo: database name too long");
		goto out;
	}
	if ((opts = PQconninfoParse(conninfo, &perr)) == NULL) {
		/* libpq's parse error quotes pieces of the string, which may
		 * be the password: say where to look instead. */
		backup_pg_seterr(
		    err, errlen, NULL,
		    "conninfo is not a valid PostgreSQL connection "
		    "string (text not shown: it may hold a "
		    "password)");
		rv = LS_ECONFIG;
		goto out;
	}
	for (o = opts; o->keyword != NULL; o++) {
		if (o->val == NULL)
			continue;
		if (strcmp(o->keyword, "password") == 0) {
			if (ls_strlcpy(password, o->val, pwlen) >= pwlen) {
				backup_pg_seterr(err, errlen, NULL,
				                 "conninfo: password too long");
				rv = LS_ETOOBIG;
				goto out;
			}
			continue;
		}
		if ((rv = backup_pg_append(clean, cleanlen, &off, o->keyword,
		                           o->val)) < 0) {
			backup_pg_seterr(err, errlen, NULL,
			                 "conninfo: longer than %zu bytes",
			                 cleanlen - 1);
			goto out;
		}
	}
	rv = 0;
out:
	if (rv < 0) {
		ls_wipe(password, pwlen);
		password[0] = '\0';
	}
	if (opts != NULL) {
		/* The parsed copy holds the password too. */
		for (o = opts; o->keyword != NULL; o++)
			if (o->val != NULL)
				ls_wipe(o->val, strlen(o->val));
		PQconninfoFree(opts);
	}
	PQfreemem(perr);
	return rv;
}

/* The database and host of a connection, for messages. */
static void backup_pg_where(PGconn *c, char *buf, size_t size)
{
	const char *db = c ? PQdb(c) : NULL, *host = c ? PQhost(c) : NULL;
	const char *port = c ? PQport(c) : NULL;

	snprintf(buf, size, "database \"%s\" on %s%s%s",
	         db && db[0] ? db : "(default)",
	         host && host[0] ? host : "(default host)",
	         port && port[0] ? " port " : "", port ? port : "");
}

PGconn *backup_pg_connect(const char *conninfo, const char *app,
                          const char *what, char *pw, size_t pwlen, char *err,
                          size_t errlen)
{
	const char *keys[] = {"dbname", "password", "connect_timeout",
	                      "fallback_application_name", NULL};
	const char *vals[5];
	char *clean = malloc(BACKUP_PG_CONNINFO_MAX), where[512], line[512];
	PGconn *c = NULL;

	pw[0] = '\0';
	if (clean == NULL) {
		backup_pg_seterr(err, errlen, NULL, "out of memory");
		return NULL;
	}
	if (backup_pg_conninfo_split(conninfo, clean, BACKUP_PG_CONNINFO_MAX,
	                             pw, pwlen, err, errlen) < 0)
		goto out;
	/* expand_dbname: the clean string stands in for the conninfo; the
	 * parameters after it override what it says. */
	vals[0] = clean;
	vals[1] = pw[0] ? pw : NULL;
	vals[2] = "10";
	vals[3] = app;
	vals[4] = NULL;
	c = PQconnectdbParams(keys, vals, 1);
	if (c == NULL || PQstatus(c) != CONNECTION_OK) {
		backup_pg_where(c, where, sizeof(where));
		backup_pg_seterr(err, errlen, pw,
		                 "%s%scannot connect to %s: %s",
		                 what ? what : "", what ? ": " : "", where,
		                 backup_pg_line(c ? PQerrorMessage(c) : NULL,
		                                line, sizeof(line)));
		PQfinish(c);
		c = NULL;
	}
out:
	ls_wipe(clean, BACKUP_PG_CONNINFO_MAX);
	free(clean);
	return c;
}

/* Runs sql; NULL (and err set) unless it ends with status want. */
static PGresult *backup_pg_exec(PGconn *c, const char *sql, ExecStatusType want,
                                const char *where, const char *pw, char *err,
                                size_t errlen)
{
	PGresult *res = PQexec(c, sql);
	char line[512];

	if (PQresultStatus(res) == want)
		return res;
	backup_pg_seterr(
	    err, errlen, pw, "cut on %s: %s", where,
	    backup_pg_line(res ? PQresultErrorMessage(res) : PQerrorMessage(c),
	                   line, sizeof(line)));
	PQclear(res);
	return NULL;
}

int backup_pg_hold(const char *conninfo, struct backup_pg_hold **hp,
                   char *snapshot, size_t snaplen, char *lsn, size_t lsnlen,
                   char *err, size_t errlen)
{
	char pw[BACKUP_PG_PW_MAX], where[512];
	struct backup_pg_hold *h = NULL;
	PGresult *res = NULL;
	int rv;

	pw[0] = '\0';
	if (hp == NULL || snapshot == NULL || snaplen == 0 || lsn == NULL ||
	    lsnlen == 0) {
		backup_pg_seterr(err, errlen, NULL, "backup_pg_hold: bad call");
		return LS_EINVAL;
	}
	*hp = NULL;
	snapshot[0] = lsn[0] = '\0';
	if ((h = calloc(1, sizeof(*h))) == NULL) {
		backup_pg_seterr(err, errlen, NULL, "out of memory");
		rv = LS_ENOMEM;
		goto out;
	}
	if ((h->conn = backup_pg_connect(conninfo, "lockstep-backup", NULL, pw,
	                                 sizeof(pw), err, errlen)) == NULL) {
		rv = LS_EIO;
		goto out;
	}
	backup_pg_where(h->conn, where, sizeof(where));
	if ((res = backup_pg_exec(h->conn, backup_pg_session_sql,
	                          PGRES_COMMAND_OK, where, pw, err, errlen)) ==
	    NULL) {
		rv = LS_EIO;
		goto out;
	}
	PQclear(res);
	if ((res = backup_pg_exec(
	         h->conn, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
	         PGRES_COMMAND_OK, where, pw, err, errlen)) == NULL) {
		rv = LS_EIO;
		goto out;
	}
	PQclear(res);
	if ((res = backup_pg_exec(h->conn, backup_pg_cut_sql, PGRES_TUPLES_OK,
	                          where, pw, err, errlen)) == NULL) {
		rv = LS_EIO;
		goto out;
	}
	if (PQntuples(res) != 1 || PQnfields(res) != 3 ||
	    PQgetisnull(res, 0, 0) || PQgetisnull(res, 0, 2)) {
		backup_pg_seterr(err, errlen, pw,
		                 "no snapshot or LSN from %s (a replica "
		                 "that has replayed nothing yet?)",
		                 where);
		rv = LS_EPROTO;
		goto out;
	}
	h->in_recovery = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
	if (ls_strlcpy(snapshot, PQgetvalue(res, 0, 0), snaplen) >= snaplen ||
	    ls_strlcpy(lsn, PQgetvalue(res, 0, 2), lsnlen) >= lsnlen) {
		backup_pg_seterr(err, errlen, pw,
		                 "snapshot id or LSN longer than the buffer");
		rv = LS_ETOOBIG;
		goto out;
	}
	*hp = h;
	h = NULL;
	rv = 0;
out:
	PQclear(res);
	if (rv < 0) {
		snapshot[0] = '\0';
		lsn[0] = '\0';
	}
	backup_pg_release(h);
	ls_wipe(pw, sizeof(pw));
	return rv;
}

/* count(*) of one table through the held snapshot. */
static int backup_pg_count(struct backup_pg_hold *h, const char *schema,
                           const char *table, uint64_t *rows, char *err,
                           size_t errlen)
{
	char *qs = NULL, *qt = NULL, *sql = NULL, line[512];
	PGresult *res = NULL;
	long long n;
	size_t len;
	int rv;

	qs = PQescapeIdentifier(h->conn, schema, strlen(schema));
	qt = PQescapeIdentifier(h->conn, table, strlen(table));
	if (qs == NULL || qt == NULL) {
		backup_pg_seterr(err, errlen, NULL, "quoting %s.%s: %s", schema,
		                 table,
		                 backup_pg_line(PQerrorMessage(h->conn), line,
		                                sizeof(line)));
		rv = LS_ENOMEM;
		goto out;
	}
	len = strlen(qs) + strlen(qt) + 64;
	if ((sql = malloc(len)) == NULL) {
		rv = LS_ENOMEM;
		backup_pg_seterr(err, errlen, NULL, "out of memory");
		goto out;
	}
	if ((rv = ls_fmt(sql, len, "SELECT pg_catalog.count(*) FROM %s.%s", qs,
	                 qt)) < 0)
		goto out;
	res = PQexec(h->conn, sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		backup_pg_seterr(err, errlen, NULL, "counting %s.%s: %s",
		                 schema, table,
		                 backup_pg_line(PQresultErrorMessage(res), line,
		                                sizeof(line)));
		rv = LS_EIO;
		goto out;
	}
	if ((rv = ls_parse_int(PQgetvalue(res, 0, 0), 0, INT64_MAX, &n)) < 0) {
		backup_pg_seterr(err, errlen, NULL,
		                 "counting %s.%s: unexpected result", schema,
		                 table);
		goto out;
	}
	*rows = (uint64_t)n;
	rv = 0;
out:
	PQclear(res);
	PQfreemem(qs);
	PQfreemem(qt);
	free(sql);
	return rv;
}

int backup_pg_table_counts(struct backup_pg_hold *h,
                           int (*cb)(void *arg, const char *schema_table,
                                     uint64_t rows),
                           void *arg, char *err, size_t errlen)
{
	const char *params[1];
	char name[256], where[512], line[512];
	PGresult *res = NULL;
	uint64_t rows;
	int rv, i, n;

	if (h == NULL || h->conn == NULL || cb == NULL) {
		backup_pg_seterr(err, errlen, NULL,
		                 "backup_pg_table_counts: bad call");
		return LS_EINVAL;
	}
	backup_pg_where(h->conn, where, sizeof(where));
	params[0] = h->in_recovery ? "true" : "false";
	res = PQexecParams(h->conn, backup_pg_tables_sql, 1, NULL, params, NULL,
	                   NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != 2) {
		backup_pg_seterr(err, errlen, NULL, "listing tables of %s: %s",
		                 where,
		                 backup_pg_line(PQresultErrorMessage(res), line,
		                                sizeof(line)));
		rv = LS_EIO;
		goto out;
	}
	n = PQntuples(res);
	for (i = 0; i < n; i++) {
		const char *schema = PQgetvalue(res, i, 0);
		const char *table = PQgetvalue(res, i, 1);

		if ((rv = ls_fmt(name, sizeof(name), "%s.%s", schema, table)) <
		    0) {
			backup_pg_seterr(err, errlen, NULL,
			                 "table name too long in %s", where);
			goto out;
		}
		if ((rv = backup_pg_count(h, schema, table, &rows, err,
		                          errlen)) < 0)
			goto out;
		if ((rv = cb(arg, name, rows)) != 0)
			goto out;
	}
	rv = 0;
out:
	PQclear(res);
	return rv;
}

void backup_pg_release(struct backup_pg_hold *h)
{
	if (h == NULL)
		return;
	if (h->conn != NULL && PQstatus(h->conn) == CONNECTION_OK &&
	    PQtransactionStatus(h->conn) != PQTRANS_IDLE)
		PQclear(PQexec(h->conn, "ROLLBACK"));
	PQfinish(h->conn);
	free(h);
}
