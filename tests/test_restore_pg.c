/*
 * restore_pg against a real PostgreSQL 15 cluster (pg_cluster.c): a dump
 * made at a cut, the database changed, then drop + load brings back the
 * cut exactly; GitLab's own dump format; psql's stderr judged; scratch
 * databases for drills.
 */
#include "pg_cluster.h"
#include "testutil.h"

#include "backup_pg_rows.h"
#include "restore_pg.h"

#define NTAB 16

struct counts {
	int n;
	char names[NTAB][128];
	uint64_t rows[NTAB];
};

static int on_count(void *arg, const char *name, uint64_t rows)
{
	struct counts *c = arg;

	if (c->n < NTAB) {
		ls_strlcpy(c->names[c->n], name, sizeof(c->names[0]));
		c->rows[c->n] = rows;
	}
	c->n++;
	return 0;
}

/* First column of the first row as text; "" on any failure. */
static const char *tstr(PGconn *c, const char *sql, char *buf, size_t size)
{
	PGresult *r = PQexec(c, sql);

	buf[0] = '\0';
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
	    !PQgetisnull(r, 0, 0))
		ls_strlcpy(buf, PQgetvalue(r, 0, 0), size);
	else
		fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(r));
	PQclear(r);
	return buf;
}

/* count(*) of "schema.table" (unquoted, as the counters name it). */
static long long tcount(PGconn *c, const char *name)
{
	char schema[128], sql[512], *qs, *qt;
	const char *dot = strchr(name, '.');
	long long v = -1;

	if (dot == NULL || (size_t)(dot - name) >= sizeof(schema))
		return -1;
	memcpy(schema, name, (size_t)(dot - name));
	schema[dot - name] = '\0';
	qs = PQescapeIdentifier(c, schema, strlen(schema));
	qt = PQescapeIdentifier(c, dot + 1, strlen(dot + 1));
	if (qs && qt &&
	    ls_fmt(sql, sizeof(sql), "SELECT count(*) FROM %s.%s", qs, qt) == 0)
		v = tpg_value(c, sql);
	PQfreemem(qs);
	PQfreemem(qt);
	return v;
}

static void ci_for(char *ci, size_t size, const char *db)
{
	CHECK(ls_fmt(ci, size, "%s dbname=%s", T.base, db) == 0);
}

static int run_env(const char *const *argv, int out_fd)
{
	char pwenv[64];
	const char *envp[] = {"PATH=/usr/bin:/bin", "LANG=C", pwenv, NULL};
	struct ls_exec_opts o;
	struct ls_exec_result res;
	struct ls_proc p;
	int rv;

	if (ls_fmt(pwenv, sizeof(pwenv), "PGPASSWORD=%s", PW) < 0)
		return -1;
	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.envp = envp;
	if (ls_exec_spawn(&o, 0, out_fd, &p) < 0)
		return -1;
	rv = ls_exec_wait(&p, 120000, 65536, &res);
	if (rv < 0 || !res.exited || res.status != 0) {
		fprintf(stderr, "%s failed: %s\n", argv[0], res.err);
		rv = -1;
	}
	ls_exec_result_free(&res);
	return rv;
}

static const char schema_sql[] =
    "CREATE TABLE items (id serial PRIMARY KEY, v text);"
    "INSERT INTO items (v) SELECT md5(g::text) FROM "
    "generate_series(1, 5000) g;"
    "CREATE SCHEMA \"Odd Schema\";"
    "CREATE TABLE \"Odd Schema\".\"we\"\"ird\" (x int);"
    "INSERT INTO \"Odd Schema\".\"we\"\"ird\" VALUES (1), (2), (3);"
    "CREATE TABLE parted (k int) PARTITION BY RANGE (k);"
    "CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (100);"
    "CREATE SCHEMA gitlab_partitions_static;"
    "CREATE TABLE gitlab_partitions_static.parted_2 PARTITION OF parted "
    "FOR VALUES FROM (100) TO (200);"
    "INSERT INTO parted SELECT generate_series(1, 150);"
    "CREATE TABLE texty (t text);"
    "INSERT INTO texty VALUES (E'a\\nb'), ('\\.'), (''), (NULL), "
    "(E'\\\\.\\n\\\\.'), (E'back\\\\slash\\r\\n'), (E'tab\\there');"
    "CREATE SEQUENCE free_seq; SELECT setval('free_seq', 42);"
    "CREATE VIEW items_view AS SELECT * FROM items;"
    "CREATE TABLE doomed (d int REFERENCES items (id));"
    "INSERT INTO doomed VALUES (1), (2);"
    "CREATE TABLE schema_migrations (version text PRIMARY KEY);"
    "INSERT INTO schema_migrations VALUES ('1'), ('2')";

/* After the cut: every kind of change the restore must undo. */
static const char change_sql[] =
    "INSERT INTO items (v) SELECT 'new' FROM generate_series(1, 300);"
    "UPDATE items SET v = 'changed' WHERE id <= 50;"
    "DELETE FROM doomed; DELETE FROM items WHERE id > 4900 AND id <= 5000;"
    "INSERT INTO texty VALUES ('later');"
    "INSERT INTO parted VALUES (5), (150);"
    "SELECT nextval('free_seq');"
    "CREATE TABLE newtab (n int); INSERT INTO newtab VALUES (1);"
    "CREATE SCHEMA gitlab_partitions_dynamic;"
    "CREATE TABLE gitlab_partitions_dynamic.late (x int);"
    "CREATE MATERIALIZED VIEW items_mv AS SELECT count(*) FROM items;"
    "DROP VIEW items_view; DROP TABLE doomed;"
    "INSERT INTO schema_migrations VALUES ('3')";

static const char texty_sql[] =
    "SELECT md5(string_agg(coalesce(t, '<null>'), '|' ORDER BY t "
    "NULLS FIRST)) FROM texty";

static void check_counts(PGconn *c, const struct counts *want, const char *what)
{
	int i;

	for (i = 0; i < want->n && i < NTAB; i++) {
		long long got = tcount(c, want->names[i]);

		if (got != (long long)want->rows[i])
			fprintf(stderr, "%s: %s has %lld rows, expected %llu\n",
			        what, want->names[i], got,
			        (unsigned long long)want->rows[i]);
		CHECK_EQ_INT(got, want->rows[i]);
	}
}

/* Dump of db at a cut with comp; counts at the cut in cut, the dump's
 * own in dumped. */
static int make_dump(const char *db, enum backup_compression comp,
                     const char *path, struct counts *cut,
                     struct counts *dumped)
{
	struct backup_pg_rows *rows = backup_pg_rows_new();
	struct backup_pg_hold *h = NULL;
	char ci[1200], snap[64], lsn[64], err[512];
	int rv;

	memset(cut, 0, sizeof(*cut));
	memset(dumped, 0, sizeof(*dumped));
	ci_for(ci, sizeof(ci), db);
	rv = backup_pg_hold(ci, &h, snap, sizeof(snap), lsn, sizeof(lsn), err,
	                    sizeof(err));
	if (rv == 0)
		rv = backup_pg_table_counts(h, on_count, cut, err, sizeof(err));
	if (rv == 0)
		rv =
		    backup_pg_dump(PGBIN "/pg_dump", ci, snap, path, comp, NULL,
		                   NULL, rows, NULL, NULL, err, sizeof(err));
	if (rv == 0)
		rv = backup_pg_rows_finish(rows, on_count, dumped);
	if (rv != 0)
		fprintf(stderr, "dump of %s: %d %s\n", db, rv, err);
	backup_pg_release(h);
	backup_pg_rows_free(rows);
	return rv;
}

static void test_round_trip(PGconn *admin, enum backup_compression comp)
{
	const char *db = comp == BACKUP_GZIP ? "rt_gz" : "rt_zst";
	struct backup_pg_rows *rows = backup_pg_rows_new();
	char ci[1200], path[400], err[1024], stmt[128], psql[300];
	char md5_cut[64], md5_now[64];
	struct counts cut, dumped, loaded;
	struct tpg_progress pl;
	PGconn *w = NULL;
	int rv, i;

	memset(&pl, 0, sizeof(pl));
	CHECK(ls_fmt(stmt, sizeof(stmt), "CREATE DATABASE %s", db) == 0);
	CHECK_EQ_INT(tpg_exec(admin, stmt), 0);
	CHECK((w = tpg_connect(db)) != NULL);
	if (w == NULL || rows == NULL)
		goto out;
	CHECK_EQ_INT(tpg_exec(w, schema_sql), 0);
	tstr(w, texty_sql, md5_cut, sizeof(md5_cut));
	CHECK(ls_fmt(path, sizeof(path), "%s/%s.sql.gz", T.dir, db) == 0);
	CHECK_EQ_INT(make_dump(db, comp, path, &cut, &dumped), 0);
	/* items, we"ird, parted_1, parted_2, texty, doomed,
	 * schema_migrations. */
	CHECK_EQ_INT(cut.n, 7);
	CHECK_EQ_INT(dumped.n, cut.n);
	CHECK_EQ_INT(tpg_exec(w, change_sql), 0);
	PQfinish(w);
	w = NULL;

	ci_for(ci, sizeof(ci), db);
	err[0] = '\0';
	rv = restore_pg_drop(ci, err, sizeof(err));
	CHECK_EQ_INT(rv, 0);
	if (rv != 0)
		fprintf(stderr, "drop: %s\n", err);
	CHECK((w = tpg_connect(db)) != NULL);
	if (w == NULL)
		goto out;
	/* GitLab's drop: only schema_migrations, emptied, is left on the
	 * search path; its extra schemas are gone; other schemas stay. */
	CHECK_EQ_INT(tpg_value(w, "SELECT count(*) FROM pg_class c JOIN "
	                          "pg_namespace n ON n.oid = c.relnamespace "
	                          "WHERE n.nspname = 'public' AND c.relkind "
	                          "IN ('r', 'p', 'v', 'm')"),
	             1);
	CHECK_EQ_INT(tpg_value(w, "SELECT count(*) FROM schema_migrations"), 0);
	CHECK_EQ_INT(tpg_value(w, "SELECT count(*) FROM pg_namespace WHERE "
	                          "nspname LIKE 'gitlab_partitions_%'"),
	             0);
	CHECK_EQ_INT(tcount(w, "Odd Schema.we\"ird"), 3);
	PQfinish(w);
	w = NULL;

	CHECK_EQ_INT(
	    restore_pg_psql_beside(PGBIN "/pg_dump", psql, sizeof(psql)), 0);
	CHECK_STR(psql, PGBIN "/psql");
	rv = restore_pg_load(psql, ci, path, tpg_on_progress, &pl, rows, err,
	                     sizeof(err));
	CHECK_EQ_INT(rv, 0);
	if (rv != 0)
		fprintf(stderr, "load: %s\n", err);
	CHECK(pl.calls >= 1);
	CHECK_EQ_INT(pl.bad, 0);
	CHECK_EQ_INT(pl.too_soon, 0);
	memset(&loaded, 0, sizeof(loaded));
	CHECK_EQ_INT(backup_pg_rows_finish(rows, on_count, &loaded), 0);

	CHECK((w = tpg_connect(db)) != NULL);
	if (w == NULL)
		goto out;
	check_counts(w, &cut, "restored vs cut");
	check_counts(w, &loaded, "restored vs the dump's rows");
	CHECK_EQ_INT(loaded.n, cut.n);
	for (i = 0; i < cut.n && i < NTAB; i++)
		if (strcmp(cut.names[i], "public.doomed") == 0)
			CHECK_EQ_INT(cut.rows[i], 2);
	CHECK_EQ_INT(tcount(w, "public.doomed"), 2);
	CHECK_EQ_INT(tpg_value(w, "SELECT count(*) FROM pg_class WHERE "
	                          "relname IN ('newtab', 'late', 'items_mv')"),
	             0);
	CHECK_EQ_INT(tpg_value(w, "SELECT count(*) FROM items_view"), 5000);
	CHECK_EQ_INT(
	    tpg_value(w, "SELECT count(*) FROM items WHERE v = 'changed'"), 0);
	CHECK_EQ_INT(tpg_value(w, "SELECT last_value FROM free_seq"), 42);
	CHECK_EQ_INT(tpg_value(w, "SELECT count(*) FROM parted"), 150);
	CHECK_STR(tstr(w, texty_sql, md5_now, sizeof(md5_now)), md5_cut);
	CHECK_EQ_INT(tpg_value(w, "SELECT count(*) FROM schema_migrations"), 2);
	/* The serial goes on from the cut. */
	CHECK_EQ_INT(tpg_value(w, "SELECT nextval('items_id_seq')"), 5001);
out:
	backup_pg_rows_free(rows);
	PQfinish(w);
}

/* A dump made as GitLab makes it, by the tools themselves. */
static void test_plain_dump(PGconn *admin, char *plain, size_t plainlen)
{
	char ci[1200], gz[420], err[1024];
	const char *dump[] = {PGBIN "/pg_dump",
	                      "--clean",
	                      "--if-exists",
	                      "--no-password",
	                      "-d",
	                      ci,
	                      "-f",
	                      plain,
	                      NULL};
	const char *gzip[] = {"/bin/gzip", "-1", "-k", "-f", plain, NULL};
	struct counts cut;
	PGconn *w = NULL;
	int rv;

	memset(&cut, 0, sizeof(cut));
	CHECK_EQ_INT(tpg_exec(admin, "CREATE DATABASE plain_src"), 0);
	CHECK_EQ_INT(tpg_exec(admin, "CREATE DATABASE plain_dst"), 0);
	CHECK((w = tpg_connect("plain_src")) != NULL);
	if (w == NULL)
		return;
	CHECK_EQ_INT(tpg_exec(w, schema_sql), 0);
	PQfinish(w);
	CHECK(ls_fmt(ci, sizeof(ci), "%s dbname=plain_src", T.nopw) == 0);
	CHECK(ls_fmt(plain, plainlen, "%s/plain.sql", T.dir) == 0);
	CHECK(ls_fmt(gz, sizeof(gz), "%s.gz", plain) == 0);
	CHECK_EQ_INT(run_env(dump, -1), 0);
	CHECK_EQ_INT(run_env(gzip, -1), 0);

	ci_for(ci, sizeof(ci), "plain_dst");
	CHECK_EQ_INT(restore_pg_drop(ci, err, sizeof(err)), 0);
	rv = restore_pg_load(PGBIN "/psql", ci, gz, NULL, NULL, NULL, err,
	                     sizeof(err));
	CHECK_EQ_INT(rv, 0);
	if (rv != 0)
		fprintf(stderr, "plain load: %s\n", err);
	CHECK((w = tpg_connect("plain_dst")) != NULL);
	if (w == NULL)
		return;
	CHECK_EQ_INT(tpg_value(w, "SELECT count(*) FROM items"), 5000);
	CHECK_EQ_INT(tcount(w, "Odd Schema.we\"ird"), 3);
	CHECK_EQ_INT(tpg_value(w, "SELECT count(*) FROM parted"), 150);
	/* Loaded twice: the dump's own --clean replaces what is there. */
	rv = restore_pg_load(PGBIN "/psql", ci, gz, NULL, NULL, NULL, err,
	                     sizeof(err));
	CHECK_EQ_INT(rv, 0);
	if (rv != 0)
		fprintf(stderr, "plain reload: %s\n", err);
	CHECK_EQ_INT(tpg_value(w, "SELECT count(*) FROM items"), 5000);
	PQfinish(w);
}

/* plain with extra appended, written uncompressed to path. */
static int with_tail(const char *plain, const char *extra, const char *path)
{
	char *text = NULL, *both = NULL;
	size_t len = 0;
	int rv = -1;

	if (ls_read_file(plain, 64 << 20, &text, &len) < 0 ||
	    (both = malloc(len + strlen(extra))) == NULL)
		goto out;
	memcpy(both, text, len);
	memcpy(both + len, extra, strlen(extra));
	rv = ls_write_atomic(path, both, len + strlen(extra), 0600);
out:
	free(text);
	free(both);
	return rv;
}

static void test_stderr_rules(const char *plain)
{
	char ci[1200], path[400], err[1024];
	int rv;

	ci_for(ci, sizeof(ci), "plain_dst");
	CHECK(ls_fmt(path, sizeof(path), "%s/tail.sql", T.dir) == 0);
	/* "does not exist": tolerated, as GitLab tolerates it. */
	CHECK_EQ_INT(
	    with_tail(plain, "SELECT * FROM no_such_table_xyz;\n", path), 0);
	rv = restore_pg_load(PGBIN "/psql", ci, path, NULL, NULL, NULL, err,
	                     sizeof(err));
	CHECK_EQ_INT(rv, 0);
	if (rv != 0)
		fprintf(stderr, "dne load: %s\n", err);
	/* Megabytes of tolerated messages, read while psql runs. */
	{
		static const char one[] = "SELECT * FROM no_such_table_xyz;\n";
		size_t k, n = 20000, len = n * (sizeof(one) - 1);
		char *many = malloc(len + 1);

		CHECK(many != NULL);
		if (many != NULL) {
			for (k = 0; k < n; k++)
				memcpy(many + k * (sizeof(one) - 1), one,
				       sizeof(one) - 1);
			many[len] = '\0';
			CHECK_EQ_INT(with_tail(plain, many, path), 0);
			rv = restore_pg_load(PGBIN "/psql", ci, path, NULL,
			                     NULL, NULL, err, sizeof(err));
			CHECK_EQ_INT(rv, 0);
			if (rv != 0)
				fprintf(stderr, "many: %s\n", err);
			free(many);
		}
	}
	/* A syntax error is not, and err quotes it. */
	CHECK_EQ_INT(with_tail(plain,
	                       "SELECT * FROM no_such_table_xyz;\n"
	                       "SELEC 1;\nSELECT 1/0;\n",
	                       path),
	             0);
	err[0] = '\0';
	rv = restore_pg_load(PGBIN "/psql", ci, path, NULL, NULL, NULL, err,
	                     sizeof(err));
	CHECK_EQ_INT(rv, LS_ECHILD);
	CHECK_CONTAINS(err, "psql reported 2 errors");
	CHECK_CONTAINS(err, "syntax error at or near \"SELEC\"");
	CHECK_CONTAINS(err, "LINE 1: SELEC 1;");
	CHECK_CONTAINS(err, "division by zero");
	CHECK(strstr(err, "no_such_table_xyz") == NULL);
	CHECK(strstr(err, PW) == NULL);
}

static void test_bad_input(const char *plain)
{
	char ci[1200], gz[420], path[400], err[1024], *data = NULL;
	size_t len = 0;
	int rv;

	ci_for(ci, sizeof(ci), "plain_dst");
	CHECK(ls_fmt(gz, sizeof(gz), "%s.gz", plain) == 0);
	CHECK_EQ_INT(ls_read_file(gz, 64 << 20, &data, &len), 0);
	if (data == NULL || len < 1000)
		return;

	/* Cut short. */
	CHECK(ls_fmt(path, sizeof(path), "%s/short.sql.gz", T.dir) == 0);
	CHECK_EQ_INT(ls_write_atomic(path, data, len / 2, 0600), 0);
	err[0] = '\0';
	rv = restore_pg_load(PGBIN "/psql", ci, path, NULL, NULL, NULL, err,
	                     sizeof(err));
	CHECK_EQ_INT(rv, LS_EPROTO);
	CHECK_CONTAINS(err, "corrupt or truncated");
	fprintf(stderr, "(truncated: %s)\n", err);

	/* Garbage in the middle of the deflate stream. */
	memset(data + len / 3, 0x5a, 64);
	CHECK(ls_fmt(path, sizeof(path), "%s/bad.sql.gz", T.dir) == 0);
	CHECK_EQ_INT(ls_write_atomic(path, data, len, 0600), 0);
	err[0] = '\0';
	rv = restore_pg_load(PGBIN "/psql", ci, path, NULL, NULL, NULL, err,
	                     sizeof(err));
	CHECK(rv < 0);
	CHECK_CONTAINS(err, "is corrupt");
	fprintf(stderr, "(corrupt: %s)\n", err);
	free(data);

	/* Empty, missing. */
	CHECK(ls_fmt(path, sizeof(path), "%s/empty.sql.gz", T.dir) == 0);
	CHECK_EQ_INT(ls_write_atomic(path, "", 0, 0600), 0);
	rv = restore_pg_load(PGBIN "/psql", ci, path, NULL, NULL, NULL, err,
	                     sizeof(err));
	CHECK(rv < 0);
	CHECK_CONTAINS(err, "empty");
	CHECK(ls_fmt(path, sizeof(path), "%s/nope.sql.gz", T.dir) == 0);
	rv = restore_pg_load(PGBIN "/psql", ci, path, NULL, NULL, NULL, err,
	                     sizeof(err));
	CHECK_EQ_INT(rv, LS_ENOENT);
	rv =
	    restore_pg_load("psql", ci, gz, NULL, NULL, NULL, err, sizeof(err));
	CHECK_EQ_INT(rv, LS_EINVAL);
	rv = restore_pg_load("/nonexistent/psql", ci, gz, NULL, NULL, NULL, err,
	                     sizeof(err));
	CHECK(rv < 0);
	CHECK_CONTAINS(err, "cannot run /nonexistent/psql");

	/* A wrong password: named by the server, never quoted. */
	CHECK(ls_fmt(ci, sizeof(ci), "%s dbname=plain_dst password=Wrong-Pw-42",
	             T.nopw) == 0);
	err[0] = '\0';
	rv = restore_pg_load(PGBIN "/psql", ci, gz, NULL, NULL, NULL, err,
	                     sizeof(err));
	CHECK(rv < 0);
	CHECK_CONTAINS(err, "password authentication failed");
	CHECK(strstr(err, "Wrong-Pw-42") == NULL);
	err[0] = '\0';
	rv = restore_pg_drop(ci, err, sizeof(err));
	CHECK(rv < 0);
	CHECK_CONTAINS(err, "password authentication failed");
	CHECK(strstr(err, "Wrong-Pw-42") == NULL);
	/* The right password quoted in the conninfo never shows. */
	CHECK(ls_fmt(ci, sizeof(ci), "%s dbname=nosuchdb", T.base) == 0);
	rv = restore_pg_load(PGBIN "/psql", ci, gz, NULL, NULL, NULL, err,
	                     sizeof(err));
	CHECK(rv < 0);
	CHECK_CONTAINS(err, "\"nosuchdb\" does not exist");
	CHECK(strstr(err, PW) == NULL);
}

static void test_scratch(PGconn *admin, const char *plain)
{
	const char *bad[] = {"",          "Drill",     "drill-1", "1drill",
	                     "postgres",  "template1", "a;drop",  "drill\"x",
	                     "plain_dst", "d r",       NULL};
	char ci[1200], sc[1400], sc2[1400], gz[420], err[1024], owner[64],
	    name[80];
	PGconn *c = NULL;
	int rv, i;

	CHECK_EQ_INT(tpg_exec(admin, "CREATE ROLE gl_owner;"
	                             "ALTER DATABASE plain_dst OWNER TO "
	                             "gl_owner"),
	             0);
	ci_for(ci, sizeof(ci), "plain_dst");
	CHECK(ls_fmt(gz, sizeof(gz), "%s.gz", plain) == 0);
	err[0] = '\0';
	rv = restore_pg_scratch_create(ci, "drill_1", sc, sizeof(sc), err,
	                               sizeof(err));
	CHECK_EQ_INT(rv, 0);
	if (rv != 0)
		fprintf(stderr, "scratch: %s\n", err);
	CHECK_CONTAINS(sc, "dbname='drill_1'");
	CHECK_STR(tstr(admin,
	               "SELECT pg_get_userbyid(datdba) FROM pg_database "
	               "WHERE datname = 'drill_1'",
	               owner, sizeof(owner)),
	          "gl_owner");
	rv = restore_pg_scratch_create(ci, "drill_1", sc2, sizeof(sc2), err,
	                               sizeof(err));
	CHECK_EQ_INT(rv, LS_EEXIST);
	CHECK_STR(sc2, "");
	CHECK_CONTAINS(err, "already exists");

	CHECK_EQ_INT(restore_pg_drop(sc, err, sizeof(err)), 0);
	rv = restore_pg_load(PGBIN "/psql", sc, gz, NULL, NULL, NULL, err,
	                     sizeof(err));
	CHECK_EQ_INT(rv, 0);
	if (rv != 0)
		fprintf(stderr, "scratch load: %s\n", err);
	CHECK((c = tpg_connect("drill_1")) != NULL);
	if (c != NULL)
		CHECK_EQ_INT(tpg_value(c, "SELECT count(*) FROM items"), 5000);
	/* FORCE: an open session does not stop the drop. */
	rv = restore_pg_scratch_drop(ci, "drill_1", err, sizeof(err));
	CHECK_EQ_INT(rv, 0);
	if (rv != 0)
		fprintf(stderr, "scratch drop: %s\n", err);
	PQfinish(c);
	CHECK_EQ_INT(tpg_value(admin, "SELECT count(*) FROM pg_database "
	                              "WHERE datname = 'drill_1'"),
	             0);
	CHECK_EQ_INT(restore_pg_scratch_drop(ci, "drill_1", err, sizeof(err)),
	             0);

	for (i = 0; bad[i] != NULL; i++) {
		err[0] = '\0';
		CHECK_EQ_INT(restore_pg_scratch_create(
		                 ci, bad[i], sc, sizeof(sc), err, sizeof(err)),
		             LS_EINVAL);
		CHECK_EQ_INT(
		    restore_pg_scratch_drop(ci, bad[i], err, sizeof(err)),
		    LS_EINVAL);
	}
	memset(name, 'a', sizeof(name));
	name[RESTORE_PG_NAME_MAX + 1] = '\0';
	CHECK_EQ_INT(restore_pg_scratch_drop(ci, name, err, sizeof(err)),
	             LS_EINVAL);
	name[RESTORE_PG_NAME_MAX] = '\0';
	CHECK_EQ_INT(restore_pg_scratch_drop(ci, name, err, sizeof(err)), 0);
	CHECK_EQ_INT(tpg_value(admin, "SELECT count(*) FROM pg_database "
	                              "WHERE datname = 'plain_dst'"),
	             1);
}

int main(void)
{
	char plain[300];
	PGconn *admin;

	T.wd_fd = -1;
	T.proc.pid = -1;
	T.proc.in_fd = T.proc.out_fd = T.proc.err_fd = -1;
	CHECK_EQ_INT(restore_pg_psql_beside("pg_dump", plain, sizeof(plain)),
	             LS_EINVAL);
	CHECK_EQ_INT(restore_pg_psql_beside("/usr/bin/pg_dump", plain, 12),
	             LS_ETOOBIG);
	/* PostgreSQL refuses root: as root (CI) the cluster runs as postgres;
	 * anyone else runs it as themselves. */
	T.skip = geteuid() == 0 ? 0 : 4;
	if (tpg_start() < 0) {
		CHECK(!"PostgreSQL cluster started");
	} else if ((admin = tpg_connect("postgres")) == NULL) {
		CHECK(!"connected");
	} else {
		test_round_trip(admin, BACKUP_GZIP);
		test_round_trip(admin, BACKUP_ZSTD);
		test_plain_dump(admin, plain, sizeof(plain));
		test_stderr_rules(plain);
		test_bad_input(plain);
		test_scratch(admin, plain);
		PQfinish(admin);
	}
	CHECK_EQ_INT(tpg_stop(), 0);
	return tu_done();
}
