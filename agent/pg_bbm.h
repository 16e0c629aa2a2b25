/*
 * Shared by the postgresql check and the BbmStatus operation: how the agent
 * connects to GitLab's databases, and the query for unfinished batched
 * background migrations (gitlab-facts §5).
 */
#ifndef PG_BBM_H
#define PG_BBM_H

#include <stddef.h>

#include <libpq-fe.h>

/* job_arguments is cut to this many bytes (whole UTF-8 characters). */
#define BBM_ARGS_MAX 512

/* Columns of bbm_query's rows. */
enum bbm_col {
	BBM_COL_ID,
	BBM_COL_STATUS,
	BBM_COL_JOB_CLASS,
	BBM_COL_TABLE,
	BBM_COL_COLUMN,
	BBM_COL_ARGS, /* job_arguments as text, at most BBM_ARGS_MAX chars */
	BBM_COL_TOTAL /* unfinished rows in all, whatever the limit */
};

/* Never NULL-checked by libpq itself: test PQstatus. 10 s to connect. */
PGconn *pg_bbm_connect(const char *conninfo);
/* The first line of the connection's last error, sanitized and capped. */
void pg_bbm_error_line(PGconn *c, char *buf, size_t size);
/*
 * The unfinished migrations (status not 3 finished, not 6 finalized),
 * oldest id first, at most limit rows. The caller PQclears the result and
 * checks PQresultStatus; SQLSTATE 42P01 means the table is missing.
 */
PGresult *pg_bbm_query(PGconn *c, int limit);

#endif
