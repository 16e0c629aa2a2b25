/*
 * StorageCounts: how many rows of each file component are still stored
 * locally, from GitLab's own columns (gitlab-facts §8). The SQL is fixed
 * per table: nothing from the operation reaches it.
 */
#include <stdio.h>
#include <string.h>

#include "exec_cutover.h"
#include "ls_error.h"
#include "ls_util.h"
#include "pg_bbm.h"

enum sc_db { SC_MAIN, SC_CI };

/* NULL counts as local: the columns default to 1 and GitLab reads a
 * NULL store as local. */
#define SC_SQL(col, table)                                                     \
	"SELECT count(*) FILTER (WHERE " col " IS NULL OR " col " = 1), "      \
	"count(*) FILTER (WHERE " col " = 2) FROM " table

static const struct sc_table {
	const char *component;
	const char *table;
	enum sc_db db; /* SC_CI: the ci database when one is configured */
	const char *sql;
} sc_tables[STORAGE_COMPONENTS] = {
    {"uploads", "uploads", SC_MAIN, SC_SQL("store", "uploads")},
    {"artifacts", "ci_job_artifacts", SC_CI,
     SC_SQL("file_store", "ci_job_artifacts")},
    {"lfs", "lfs_objects", SC_MAIN, SC_SQL("file_store", "lfs_objects")},
    {"packages", "packages_package_files", SC_MAIN,
     SC_SQL("file_store", "packages_package_files")},
    {"terraform_state", "terraform_state_versions", SC_MAIN,
     SC_SQL("file_store", "terraform_state_versions")},
    {"pages", "pages_deployments", SC_MAIN,
     SC_SQL("file_store", "pages_deployments")},
    {"ci_secure_files", "ci_secure_files", SC_CI,
     SC_SQL("file_store", "ci_secure_files")},
};

void cutover_out_init(struct cutover_out *o)
{
	memset(o, 0, sizeof(*o));
	ls__storage_counts_result__init(&o->sc);
	ls__rake_task_result__init(&o->rake);
}

static PGconn *sc_connect(const char *db, const char *conninfo, char *err,
                          size_t errlen)
{
	PGconn *c = pg_bbm_connect(conninfo);
	char line[300];

	if (c != NULL && PQstatus(c) == CONNECTION_OK)
		return c;
	pg_bbm_error_line(c, line, sizeof(line));
	snprintf(err, errlen, "%s database: cannot connect: %s", db, line);
	PQfinish(c);
	return NULL;
}

static int count_one(PGconn *c, const char *db, const struct sc_table *t,
                     Ls__StorageCount *sc, char *cerr, char *err, size_t errlen)
{
	PGresult *res = PQexec(c, t->sql);
	const char *state;
	long long local, remote;
	char line[300];
	int rv = 0;

	ls__storage_count__init(sc);
	sc->component = (char *)t->component;
	sc->table = (char *)t->table;
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		pg_bbm_error_line(c, line, sizeof(line));
		if (state != NULL && strcmp(state, "42P01") == 0) {
			snprintf(cerr, STORAGE_ERR_MAX,
			         "table %s does not exist (%s database %.100s)",
			         t->table, db, PQdb(c));
			sc->error = cerr;
		} else {
			snprintf(err, errlen, "%s database (%.100s): %s: %s",
			         db, PQdb(c), t->table, line);
			rv = LS_EIO;
		}
		goto out;
	}
	if (PQntuples(res) != 1 || PQnfields(res) != 2 ||
	    ls_parse_int(PQgetvalue(res, 0, 0), 0, INT64_MAX, &local) < 0 ||
	    ls_parse_int(PQgetvalue(res, 0, 1), 0, INT64_MAX, &remote) < 0) {
		snprintf(err, errlen, "%s database: %s: unexpected counts", db,
		         t->table);
		rv = LS_EPROTO;
		goto out;
	}
	sc->local = (uint64_t)local;
	sc->remote = (uint64_t)remote;
out:
	PQclear(res);
	return rv;
}

int exec_storage_counts(const struct agent_config *cfg,
                        const Ls__StorageCounts *s, struct cutover_out *o,
                        char *err, size_t errlen)
{
	const char *ci = cfg->postgresql.ci_conninfo;
	PGconn *main_c = NULL, *ci_c = NULL;
	size_t i;
	int rv = 0;

	(void)s;
	if ((main_c = sc_connect("main", cfg->postgresql.conninfo, err,
	                         errlen)) == NULL) {
		rv = LS_EIO;
		goto out;
	}
	if (ci != NULL && ci[0] != '\0' &&
	    (ci_c = sc_connect("ci", ci, err, errlen)) == NULL) {
		rv = LS_EIO;
		goto out;
	}
	for (i = 0; i < STORAGE_COMPONENTS && rv == 0; i++) {
		const struct sc_table *t = &sc_tables[i];
		int on_ci = t->db == SC_CI && ci_c != NULL;

		rv = count_one(on_ci ? ci_c : main_c, on_ci ? "ci" : "main", t,
		               &o->counts[i], o->errors[i], err, errlen);
		o->count_ptrs[i] = &o->counts[i];
	}
	if (rv == 0) {
		o->sc.n_counts = STORAGE_COMPONENTS;
		o->sc.counts = o->count_ptrs;
	}
out:
	PQfinish(ci_c);
	PQfinish(main_c);
	return rv;
}
