/* The connection and query the postgresql check and BbmStatus share. */
#include "pg_bbm.h"

#include <stdio.h>
#include <string.h>

#include "check.h"

/* The window count is taken before LIMIT: the total survives the cap. */
static const char bbm_sql[] =
    "SELECT id, status, job_class_name, table_name, column_name, "
    "left(job_arguments::text, 512), count(*) OVER () "
    "FROM batched_background_migrations WHERE status NOT IN (3, 6) "
    "ORDER BY id LIMIT $1::int";

PGconn *pg_bbm_connect(const char *conninfo)
{
	/* expand_dbname: the conninfo string goes in as dbname and the later
	 * connect_timeout wins over one it may carry. */
	const char *keys[] = {"dbname", "connect_timeout", "application_name",
	                      NULL};
	const char *vals[] = {conninfo, "10", "lockstep-agent", NULL};

	return PQconnectdbParams(keys, vals, 1);
}

void pg_bbm_error_line(PGconn *c, char *buf, size_t size)
{
	const char *m = c ? PQerrorMessage(c) : "out of memory";

	check_first_line(m, strlen(m), buf, size);
}

PGresult *pg_bbm_query(PGconn *c, int limit)
{
	char lim[16];
	const char *params[1] = {lim};

	snprintf(lim, sizeof(lim), "%d", limit < 0 ? 0 : limit);
	return PQexecParams(c, bbm_sql, 1, NULL, params, NULL, NULL, 0);
}
