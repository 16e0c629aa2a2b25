/* postgresql role: connection, unfinished batched background migrations
 * (they block upgrades) and replication lag on replicas. */
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "agent_config.h"
#include "check.h"
#include "ls_util.h"
#include "pg_bbm.h"

#define BBM_SHOWN 3

static const char lag_sql[] = "SELECT COALESCE(EXTRACT(EPOCH FROM now() - "
                              "pg_last_xact_replay_timestamp()), 0)";

static void check_bbm(PGconn *c, const char *name, struct check_report *r)
{
	char list[CHECK_REASON_MAX], err[200];
	PGresult *res = pg_bbm_query(c, BBM_SHOWN);
	const char *state;
	size_t off = 0;
	int i, n;

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		if (state != NULL && strcmp(state, "42P01") == 0) {
			check_add(
			    r, name, CHECK_ST_WARN,
			    "no batched_background_migrations table in %s",
			    PQdb(c));
		} else {
			pg_bbm_error_line(c, err, sizeof(err));
			check_add(r, name, CHECK_ST_FAIL, "query on %s: %s",
			          PQdb(c), err);
		}
		goto out;
	}
	n = 0;
	if (PQntuples(res) > 0) {
		/* count(*) OVER (): digits only, well inside an int. */
		const char *t = PQgetvalue(res, 0, BBM_COL_TOTAL);
		char *end = NULL;
		long v = strtol(t, &end, 10);
		n = end != t && *end == '\0' && v >= 0 && v <= 1000000000L
		        ? (int)v
		        : PQntuples(res);
	}
	if (n == 0) {
		check_add(r, name, CHECK_ST_PASS,
		          "all batched background migrations finished in %s",
		          PQdb(c));
		goto out;
	}
	list[0] = '\0';
	for (i = 0; i < PQntuples(res) && i < BBM_SHOWN; i++) {
		int w = snprintf(list + off, sizeof(list) - off, "%s%s(%s.%s)",
		                 i ? ", " : "",
		                 PQgetvalue(res, i, BBM_COL_JOB_CLASS),
		                 PQgetvalue(res, i, BBM_COL_TABLE),
		                 PQgetvalue(res, i, BBM_COL_COLUMN));
		if (w < 0 || (size_t)w >= sizeof(list) - off)
			break;
		off += (size_t)w;
	}
	check_add(r, name, CHECK_ST_FAIL, "%d unfinished in %s: %s%s", n,
	          PQdb(c), list, n > BBM_SHOWN ? ", ..." : "");
out:
	PQclear(res);
}

static void check_lag(const struct agent_config *cfg, PGconn *c,
                      int in_recovery, struct check_report *r)
{
	const char *name = "postgresql:replication-lag";
	double max_s = (double)cfg->postgresql.max_replication_lag / 1000.0;
	PGresult *res;
	char err[200], *end;
	double lag;

	if (!in_recovery) {
		check_add(r, name, CHECK_ST_PASS, "primary");
		return;
	}
	res = PQexec(c, lag_sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		pg_bbm_error_line(c, err, sizeof(err));
		check_add(r, name, CHECK_ST_FAIL, "lag query: %s", err);
		goto out;
	}
	lag = strtod(PQgetvalue(res, 0, 0), &end);
	if (*end != '\0') {
		check_add(r, name, CHECK_ST_FAIL, "lag query returned '%s'",
		          PQgetvalue(res, 0, 0));
		goto out;
	}
	if (lag > max_s)
		check_add(r, name, CHECK_ST_FAIL,
		          "replica %.1fs behind, above the maximum of %.0fs",
		          lag, max_s);
	else
		check_add(r, name, CHECK_ST_PASS, "replica %.1fs behind", lag);
out:
	PQclear(res);
}

/* Returns 1 in recovery, 0 on a primary, -1 when unknown. */
static int in_recovery(PGconn *c)
{
	PGresult *res = PQexec(c, "SELECT pg_is_in_recovery()");
	int rv = -1;

	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		rv = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return rv;
}

static void check_ci(const struct agent_config *cfg, int full,
                     struct check_report *r)
{
	const char *name = full ? "postgresql:ci:batched-background-migrations"
	                        : "postgresql:ci:connect";
	PGconn *c = pg_bbm_connect(cfg->postgresql.ci_conninfo);
	char err[200];

	if (c == NULL || PQstatus(c) != CONNECTION_OK) {
		pg_bbm_error_line(c, err, sizeof(err));
		check_add(r, name, CHECK_ST_FAIL,
		          "cannot connect to the CI database: %s", err);
	} else if (full) {
		check_bbm(c, name, r);
	} else {
		check_add(r, name, CHECK_ST_PASS, "connected to %s", PQdb(c));
	}
	PQfinish(c);
}

static void check_main(const struct agent_config *cfg, PGconn *c, int full,
                       struct check_report *r)
{
	const char *ver = PQparameterStatus(c, "server_version");
	int rec = in_recovery(c);
	char err[200];

	if (rec < 0) {
		pg_bbm_error_line(c, err, sizeof(err));
		check_add(r, "postgresql:connect", CHECK_ST_FAIL,
		          "connected to %s, but pg_is_in_recovery() failed: %s",
		          PQdb(c), err);
	} else {
		check_add(r, "postgresql:connect", CHECK_ST_PASS,
		          "connected to %s, PostgreSQL %s, %s", PQdb(c),
		          ver ? ver : "(unknown version)",
		          rec ? "replica" : "primary");
	}
	if (!full)
		return;
	check_bbm(c, "postgresql:batched-background-migrations", r);
	if (rec >= 0)
		check_lag(cfg, c, rec, r);
	else
		check_add(r, "postgresql:replication-lag", CHECK_ST_WARN,
		          "not checked: recovery state unknown");
}

static void pg_checks(const struct agent_config *cfg, int full,
                      struct check_report *r)
{
	PGconn *c = pg_bbm_connect(cfg->postgresql.conninfo);
	char err[200];

	if (c != NULL && PQstatus(c) == CONNECTION_OK) {
		check_main(cfg, c, full, r);
	} else {
		pg_bbm_error_line(c, err, sizeof(err));
		check_add(r, "postgresql:connect", CHECK_ST_FAIL, "%s", err);
		if (full) {
			check_add(r, "postgresql:batched-background-migrations",
			          CHECK_ST_WARN, "not checked: no connection");
			check_add(r, "postgresql:replication-lag",
			          CHECK_ST_WARN, "not checked: no connection");
		}
	}
	PQfinish(c);
	if (cfg->postgresql.ci_conninfo != NULL &&
	    cfg->postgresql.ci_conninfo[0] != '\0')
		check_ci(cfg, full, r);
}

void check_postgresql(const struct agent_config *cfg, struct check_report *r)
{
	pg_checks(cfg, 1, r);
}

void check_postgresql_connect(const struct agent_config *cfg,
                              struct check_report *r)
{
	pg_checks(cfg, 0, r);
}
