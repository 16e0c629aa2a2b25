/*
 * backup_pg against a real PostgreSQL 15 cluster started here, in a fresh
 * temporary directory, as the postgres user (the tests run as root and
 * PostgreSQL refuses root). A watchdog process kills the cluster and
 * removes the directory if this process dies before doing it itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <dirent.h>

#include <archive.h>
#include <archive_entry.h>
#include <libpq-fe.h>

#include "backup_pg.h"
#include "backup_pg_rows.h"
#include "ls_afile.h"
#include "ls_error.h"
#include "ls_exec.h"
#include "ls_util.h"
#include "testutil.h"

#include "pg_cluster.h"

/* ---- artifacts ---- */

/* Decompresses a raw gzip/zstd file with libarchive; returns the filter. */
static int tpg_decompress(const char *path, char **out, size_t *outlen)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	size_t cap = 1 << 20, len = 0;
	char *buf = malloc(cap);
	la_ssize_t n;
	int filter = -1;

	*out = NULL;
	if (a == NULL || buf == NULL ||
	    archive_read_support_filter_all(a) != ARCHIVE_OK ||
	    archive_read_support_format_raw(a) != ARCHIVE_OK ||
	    archive_read_open_filename(a, path, 65536) != ARCHIVE_OK ||
	    archive_read_next_header(a, &e) != ARCHIVE_OK)
		goto out;
	for (;;) {
		if (cap - len < 65536) {
			char *nb = realloc(buf, cap * 2);
			if (nb == NULL)
				goto out;
			buf = nb;
			cap *= 2;
		}
		n = archive_read_data(a, buf + len, cap - len - 1);
		if (n < 0)
			goto out;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	filter = archive_filter_code(a, 0);
	*out = buf;
	*outlen = len;
	buf = NULL;
out:
	if (filter < 0 && a != NULL)
		fprintf(stderr, "decompress %s: %s\n", path,
		        archive_error_string(a));
	archive_read_free(a);
	free(buf);
	return filter;
}

/* Entries of a directory other than . and ..; -1 if it cannot be read. */
static int tpg_entries(const char *dir, char *first, size_t firstlen)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (n++ == 0 && first != NULL)
			ls_strlcpy(first, de->d_name, firstlen);
	}
	closedir(d);
	return n;
}

/* Loads sql into a new database with psql, as GitLab's restore does. */
static int tpg_load(PGconn *admin, const char *db, const char *sql, size_t len)
{
	char stmt[128], ci[1200], pwenv[64];
	const char *argv[] = {PGBIN "/psql",     "-X", "-q", "-v",
	                      "ON_ERROR_STOP=1", "-d", ci,   NULL};
	const char *envp[] = {"PATH=/usr/bin:/bin", "LANG=C", pwenv, NULL};
	struct ls_exec_result res;
	int rv;

	if (ls_fmt(stmt, sizeof(stmt), "CREATE DATABASE %s", db) < 0 ||
	    tpg_exec(admin, stmt) < 0 ||
	    ls_fmt(ci, sizeof(ci), "%s dbname=%s", T.nopw, db) < 0 ||
	    ls_fmt(pwenv, sizeof(pwenv), "PGPASSWORD=%s", PW) < 0)
		return -1;
	rv = tpg_run(argv, envp, sql, len, &res);
	if (rv < 0 || !res.exited || res.status != 0) {
		fprintf(stderr, "psql into %s failed (%d, %d): %s\n", db, rv,
		        res.status, res.err);
		rv = -1;
	}
	ls_exec_result_free(&res);
	return rv;
}

struct counts {
	int n;
	char names[8][128];
	uint64_t rows[8];
	int stop_after;
};

static int on_count(void *arg, const char *name, uint64_t rows)
{
	struct counts *c = arg;

	if (c->n < 8) {
		ls_strlcpy(c->names[c->n], name, sizeof(c->names[0]));
		c->rows[c->n] = rows;
	}
	c->n++;
	return c->stop_after && c->n >= c->stop_after ? 7 : 0;
}

/* Dumps from snapshot with comp, checks the artifact and loads it into
 * database db; returns the database's connection. The rows of each table
 * as counted in the dump go to dumped. */
static PGconn *check_dump(PGconn *admin, const char *snapshot,
                          enum backup_compression comp, const char *db,
                          struct counts *dumped)
{
	struct backup_pg_rows *rows = backup_pg_rows_new();
	char dir[300], path[400], err[512], first[256];
	uint8_t sha[32], sha2[32];
	uint64_t size = 0, size2 = 0;
	struct tpg_progress pl;
	struct stat st;
	size_t sqllen = 0;
	char *sql = NULL, ci[1200];
	PGconn *c = NULL;
	int filter, rv;
	FILE *f;
	uint8_t magic[4] = {0};

	memset(&pl, 0, sizeof(pl));
	CHECK(ls_fmt(dir, sizeof(dir), "%s/out-%s/db", T.dir, db) == 0);
	CHECK(ls_fmt(path, sizeof(path), "%s/database.sql.gz", dir) == 0);
	CHECK(ls_fmt(ci, sizeof(ci), "%s dbname=lockdb", T.base) == 0);
	err[0] = '\0';
	CHECK(rows != NULL);
	rv = backup_pg_dump(PGBIN "/pg_dump", ci, snapshot, path, comp,
	                    tpg_on_progress, &pl, rows, &size, sha, err,
	                    sizeof(err));
	CHECK_EQ_INT(rv, 0);
	if (rv != 0)
		fprintf(stderr, "dump: %s\n", err);
	memset(dumped, 0, sizeof(*dumped));
	rv = rows ? backup_pg_rows_finish(rows, on_count, dumped) : -1;
	CHECK_EQ_INT(rv, 0);
	if (rv != 0 && rows != NULL)
		fprintf(stderr, "rows: %s\n", backup_pg_rows_why(rows));
	backup_pg_rows_free(rows);
	CHECK(pl.calls >= 1);
	CHECK_EQ_INT(pl.bad, 0);
	CHECK_EQ_INT(pl.too_soon, 0);

	/* The returned size and hash are the file's; mode 0600; no temp. */
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK_EQ_INT(ls_sha256_file(path, &size2, sha2), 0);
	CHECK(size > 0 && size == size2 && (uint64_t)st.st_size == size);
	CHECK(memcmp(sha, sha2, 32) == 0);
	CHECK_EQ_INT(tpg_entries(dir, first, sizeof(first)), 1);
	CHECK_STR(first, "database.sql.gz");

	if ((f = fopen(path, "rb")) != NULL) {
		CHECK_EQ_INT(fread(magic, 1, 4, f), 4);
		fclose(f);
	}
	if (comp == BACKUP_GZIP)
		CHECK(magic[0] == 0x1f && magic[1] == 0x8b);
	else
		CHECK(magic[0] == 0x28 && magic[1] == 0xb5 &&
		      magic[2] == 0x2f && magic[3] == 0xfd);

	filter = tpg_decompress(path, &sql, &sqllen);
	CHECK_EQ_INT(filter, comp == BACKUP_GZIP ? ARCHIVE_FILTER_GZIP
	                                         : ARCHIVE_FILTER_ZSTD);
	CHECK(sql != NULL && sqllen > 0);
	if (sql == NULL)
		return NULL;
	CHECK(pl.last_bytes > 0 && pl.last_bytes <= sqllen);
	CHECK_CONTAINS(sql, "DROP TABLE IF EXISTS public.items");
	CHECK_CONTAINS(sql, "COPY public.items");
	CHECK(strstr(sql, PW) == NULL);
	if (comp == BACKUP_GZIP && (f = fopen(path, "rb")) != NULL) {
		/* The gzip trailer ends the file: nothing padded after it,
		 * and its length field is the whole dump's. */
		uint8_t t[4] = {0};
		CHECK(fseek(f, -4, SEEK_END) == 0 && fread(t, 1, 4, f) == 4);
		CHECK_EQ_INT((uint32_t)t[0] | (uint32_t)t[1] << 8 |
		                 (uint32_t)t[2] << 16 | (uint32_t)t[3] << 24,
		             (uint32_t)sqllen);
		fclose(f);
	}
	if (tpg_load(admin, db, sql, sqllen) == 0)
		c = tpg_connect(db);
	CHECK(c != NULL);
	free(sql);
	return c;
}

/* ---- tests ---- */

static void test_conninfo_split(void)
{
	char clean[512], pw[64], err[256];

	CHECK_EQ_INT(backup_pg_conninfo_split(
	                 "host=/x port=5 password=abc dbname=d", clean,
	                 sizeof(clean), pw, sizeof(pw), err, sizeof(err)),
	             0);
	CHECK_STR(pw, "abc");
	CHECK(strstr(clean, "abc") == NULL);
	CHECK_CONTAINS(clean, "host='/x'");
	CHECK_CONTAINS(clean, "dbname='d'");

	CHECK_EQ_INT(backup_pg_conninfo_split(
	                 "postgresql://u:p%40ss@h:5433/db?sslmode=disable",
	                 clean, sizeof(clean), pw, sizeof(pw), err,
	                 sizeof(err)),
	             0);
	CHECK_STR(pw, "p@ss");
	CHECK_CONTAINS(clean, "user='u'");
	CHECK_CONTAINS(clean, "port='5433'");
	CHECK(strstr(clean, "p@ss") == NULL);

	CHECK_EQ_INT(backup_pg_conninfo_split("gitlabhq_production", clean,
	                                      sizeof(clean), pw, sizeof(pw),
	                                      err, sizeof(err)),
	             0);
	CHECK_STR(clean, "dbname='gitlabhq_production'");
	CHECK_STR(pw, "");

	CHECK(backup_pg_conninfo_split("password=hunter2 dbname", clean,
	                               sizeof(clean), pw, sizeof(pw), err,
	                               sizeof(err)) < 0);
	CHECK(strstr(err, "hunter2") == NULL);
	CHECK_CONTAINS(err, "not a valid");

	/* Too small a buffer is an error, not a truncated conninfo. */
	CHECK_EQ_INT(backup_pg_conninfo_split("host=/a/long/path dbname=x",
	                                      clean, 12, pw, sizeof(pw), err,
	                                      sizeof(err)),
	             LS_ETOOBIG);

	{
		char msg[] = "bad hunter2 and hunter2!";
		backup_pg_scrub(msg, "hunter2");
		CHECK_STR(msg, "bad ******* and *******!");
	}
}

/* pg_dump's argv as backup_pg_dump builds it, seen by /bin/echo: the
 * options the restore relies on, and no password. */
static void test_dump_argv(void)
{
	char path[300], err[256], *out = NULL;
	size_t len = 0;
	int rv;

	CHECK(ls_fmt(path, sizeof(path), "%s/out-argv/db/database.sql.gz",
	             T.dir) == 0);
	rv = backup_pg_dump("/bin/echo", "host=/x dbname=d password=" PW_URI,
	                    "00000003-0000001B-1", path, BACKUP_GZIP, NULL,
	                    NULL, NULL, NULL, NULL, err, sizeof(err));
	CHECK_EQ_INT(rv, 0);
	CHECK_EQ_INT(tpg_decompress(path, &out, &len), ARCHIVE_FILTER_GZIP);
	CHECK_CONTAINS(out, "--clean --if-exists --no-password "
	                    "--snapshot=00000003-0000001B-1 -d ");
	CHECK_CONTAINS(out, "host='/x'");
	CHECK_CONTAINS(out, "dbname='d'");
	CHECK_CONTAINS(out, "connect_timeout=10");
	CHECK(out != NULL && strstr(out, PW_URI) == NULL);
	CHECK(out != NULL && strstr(out, "password=") == NULL);
	free(out);
}

static void test_bad_conninfo(void)
{
	struct backup_pg_hold *h = (struct backup_pg_hold *)1;
	char ci[1200], snap[64], lsn[64], err[512], dir[300], path[400];
	int rv;

	/* Nobody listens on port 1 in the socket directory. */
	CHECK(ls_fmt(ci, sizeof(ci),
	             "host='%s' port=1 dbname=nodb user=postgres "
	             "password='s3cr\\'3t\\\\pw9'",
	             T.sock) == 0);
	err[0] = '\0';
	rv = backup_pg_hold(ci, &h, snap, sizeof(snap), lsn, sizeof(lsn), err,
	                    sizeof(err));
	CHECK(rv < 0);
	CHECK(h == NULL);
	CHECK_CONTAINS(err, "cannot connect");
	CHECK_CONTAINS(err, "\"nodb\"");
	CHECK_CONTAINS(err, T.sock);
	CHECK(strstr(err, PW) == NULL);

	/* A wrong password: named by the server, never quoted. */
	CHECK(ls_fmt(ci, sizeof(ci), "%s dbname=lockdb password=Wrong-Pass-42",
	             T.nopw) == 0);
	rv = backup_pg_hold(ci, &h, snap, sizeof(snap), lsn, sizeof(lsn), err,
	                    sizeof(err));
	CHECK(rv < 0 && h == NULL);
	CHECK_CONTAINS(err, "password authentication failed");
	CHECK(strstr(err, "Wrong-Pass-42") == NULL);

	/* A database that does not exist. */
	CHECK(ls_fmt(ci, sizeof(ci), "%s dbname=nosuchdb", T.base) == 0);
	rv = backup_pg_hold(ci, &h, snap, sizeof(snap), lsn, sizeof(lsn), err,
	                    sizeof(err));
	CHECK(rv < 0 && h == NULL);
	CHECK_CONTAINS(err, "does not exist");

	/* Unparsable, with a password in it. */
	rv = backup_pg_hold("password=hunter2 host", &h, snap, sizeof(snap),
	                    lsn, sizeof(lsn), err, sizeof(err));
	CHECK(rv < 0 && h == NULL);
	CHECK_CONTAINS(err, "not a valid");
	CHECK(strstr(err, "hunter2") == NULL);

	/* pg_dump that cannot connect leaves nothing. */
	CHECK(ls_fmt(dir, sizeof(dir), "%s/out-badci/db", T.dir) == 0);
	CHECK(ls_fmt(path, sizeof(path), "%s/database.sql.gz", dir) == 0);
	CHECK(ls_fmt(ci, sizeof(ci),
	             "host='%s' port=1 dbname=nodb user=postgres "
	             "password='s3cr\\'3t\\\\pw9'",
	             T.sock) == 0);
	rv = backup_pg_dump(PGBIN "/pg_dump", ci, "00000003-0000001B-1", path,
	                    BACKUP_GZIP, NULL, NULL, NULL, NULL, NULL, err,
	                    sizeof(err));
	CHECK(rv < 0);
	CHECK_CONTAINS(err, "pg_dump failed");
	CHECK(strstr(err, PW) == NULL);
	CHECK_EQ_INT(tpg_entries(dir, NULL, 0), 0);

	/* No pg_dump at that path. */
	rv = backup_pg_dump("/nonexistent/pg_dump", ci, "00000003-0000001B-1",
	                    path, BACKUP_GZIP, NULL, NULL, NULL, NULL, NULL,
	                    err, sizeof(err));
	CHECK(rv < 0);
	CHECK_CONTAINS(err, "cannot run /nonexistent/pg_dump");
	CHECK_EQ_INT(tpg_entries(dir, NULL, 0), 0);
}

static void test_cut(void)
{
	char ci[1200], snap[64], lsn[64], err[512], dir[300], path[400];
	struct backup_pg_hold *h = NULL;
	struct counts cnt, sqlcnt, dumped;
	PGconn *admin = NULL, *w = NULL, *r = NULL;
	int rv, i;

	admin = tpg_connect("postgres");
	CHECK(admin != NULL);
	if (admin == NULL)
		return;
	CHECK_EQ_INT(tpg_exec(admin, "CREATE DATABASE lockdb"), 0);
	w = tpg_connect("lockdb");
	CHECK(w != NULL);
	if (w == NULL)
		goto out;
	CHECK_EQ_INT(
	    tpg_exec(w, "CREATE TABLE items (id int PRIMARY KEY, v text);"
	                "INSERT INTO items SELECT g, md5(g::text) FROM "
	                "generate_series(1, 20000) g;"
	                "CREATE SCHEMA \"Odd Schema\";"
	                "CREATE TABLE \"Odd Schema\".\"we\"\"ird\" (x int);"
	                "INSERT INTO \"Odd Schema\".\"we\"\"ird\" VALUES "
	                "(1), (2), (3);"
	                "CREATE TABLE parted (k int) PARTITION BY RANGE (k);"
	                "CREATE TABLE parted_1 PARTITION OF parted FOR VALUES "
	                "FROM (0) TO (100);"
	                "INSERT INTO parted SELECT generate_series(1, 5);"
	                /* Rows that span lines, start with \. or are empty
	                 * in COPY's text format. */
	                "CREATE TABLE texty (t text);"
	                "INSERT INTO texty VALUES (E'a\\nb'), ('\\.'), "
	                "(''), (NULL), (E'\\\\.\\n\\\\.');"
	                "CREATE VIEW items_view AS SELECT * FROM items"),
	    0);

	/* The cut. */
	CHECK(ls_fmt(ci, sizeof(ci), "%s dbname=lockdb", T.base) == 0);
	err[0] = '\0';
	rv = backup_pg_hold(ci, &h, snap, sizeof(snap), lsn, sizeof(lsn), err,
	                    sizeof(err));
	CHECK_EQ_INT(rv, 0);
	if (rv != 0) {
		fprintf(stderr, "hold: %s\n", err);
		goto out;
	}
	CHECK(strlen(snap) > 0 &&
	      strspn(snap, "0123456789ABCDEF-") == strlen(snap));
	CHECK(strchr(lsn, '/') != NULL);

	/* Writes after the cut, in another connection. */
	CHECK_EQ_INT(tpg_exec(w, "INSERT INTO items SELECT g, 'new' FROM "
	                         "generate_series(20001, 20500) g;"
	                         "DELETE FROM items WHERE id <= 100;"
	                         "INSERT INTO \"Odd Schema\".\"we\"\"ird\" "
	                         "VALUES (4);"
	                         "CREATE TABLE late (y int);"
	                         "INSERT INTO late VALUES (1)"),
	             0);
	CHECK_EQ_INT(tpg_value(w, "SELECT count(*) FROM items"), NROWS + 400);

	/* Counts at the cut, in name order, ordinary tables only. */
	memset(&cnt, 0, sizeof(cnt));
	rv = backup_pg_table_counts(h, on_count, &cnt, err, sizeof(err));
	CHECK_EQ_INT(rv, 0);
	if (rv != 0)
		fprintf(stderr, "counts: %s\n", err);
	CHECK_EQ_INT(cnt.n, 4);
	CHECK_STR(cnt.names[0], "Odd Schema.we\"ird");
	CHECK_EQ_INT(cnt.rows[0], 3);
	CHECK_STR(cnt.names[1], "public.items");
	CHECK_EQ_INT(cnt.rows[1], NROWS);
	CHECK_STR(cnt.names[2], "public.parted_1");
	CHECK_EQ_INT(cnt.rows[2], 5);
	CHECK_STR(cnt.names[3], "public.texty");
	CHECK_EQ_INT(cnt.rows[3], 5);

	sqlcnt = cnt;

	/* The callback can stop the walk. */
	memset(&cnt, 0, sizeof(cnt));
	cnt.stop_after = 1;
	CHECK_EQ_INT(
	    backup_pg_table_counts(h, on_count, &cnt, err, sizeof(err)), 7);
	CHECK_EQ_INT(cnt.n, 1);

	/* Both compressions, loaded into fresh databases: the cut's rows. */
	r = check_dump(admin, snap, BACKUP_GZIP, "restore_gz", &dumped);
	/* The dump's own counts are the snapshot's. */
	CHECK_EQ_INT(dumped.n, sqlcnt.n);
	for (i = 0; i < sqlcnt.n && i < 8; i++) {
		int k;

		for (k = 0; k < dumped.n && k < 8; k++)
			if (strcmp(dumped.names[k], sqlcnt.names[i]) == 0)
				break;
		CHECK(k < dumped.n && k < 8);
		if (k < dumped.n && k < 8)
			CHECK_EQ_INT(dumped.rows[k], sqlcnt.rows[i]);
	}
	if (r != NULL) {
		CHECK_EQ_INT(tpg_value(r, "SELECT count(*) FROM items"), NROWS);
		CHECK_EQ_INT(
		    tpg_value(r, "SELECT count(*) FROM items WHERE id <= 100"),
		    100);
		CHECK_EQ_INT(tpg_value(r, "SELECT count(*) FROM "
		                          "\"Odd Schema\".\"we\"\"ird\""),
		             3);
		CHECK_EQ_INT(tpg_value(r, "SELECT count(*) FROM parted"), 5);
		CHECK_EQ_INT(tpg_value(r, "SELECT count(*) FROM pg_class "
		                          "WHERE relname = 'late'"),
		             0);
		PQfinish(r);
	}
	r = check_dump(admin, snap, BACKUP_ZSTD, "restore_zst", &dumped);
	CHECK_EQ_INT(dumped.n, sqlcnt.n);
	if (r != NULL) {
		CHECK_EQ_INT(tpg_value(r, "SELECT count(*) FROM items"), NROWS);
		CHECK_EQ_INT(tpg_value(r, "SELECT count(*) FROM items WHERE "
		                          "v = 'new'"),
		             0);
		PQfinish(r);
	}

	/* Once released, the snapshot is gone: the dump fails, no file. */
	backup_pg_release(h);
	h = NULL;
	CHECK(ls_fmt(dir, sizeof(dir), "%s/out-gone/db", T.dir) == 0);
	CHECK(ls_fmt(path, sizeof(path), "%s/database.sql.gz", dir) == 0);
	err[0] = '\0';
	rv = backup_pg_dump(PGBIN "/pg_dump", ci, snap, path, BACKUP_GZIP, NULL,
	                    NULL, NULL, NULL, NULL, err, sizeof(err));
	CHECK(rv < 0);
	CHECK_CONTAINS(err, "pg_dump failed (exit 1)");
	CHECK_CONTAINS(err, "invalid snapshot identifier");
	CHECK(strstr(err, PW) == NULL);
	CHECK_EQ_INT(tpg_entries(dir, NULL, 0), 0);

	/* Not a snapshot id at all: refused before pg_dump runs. */
	rv = backup_pg_dump(PGBIN "/pg_dump", ci, "--help", path, BACKUP_GZIP,
	                    NULL, NULL, NULL, NULL, NULL, err, sizeof(err));
	CHECK_EQ_INT(rv, LS_EINVAL);
	CHECK_CONTAINS(err, "not an exported snapshot id");
	CHECK_EQ_INT(tpg_entries(dir, NULL, 0), 0);

	/* A URI conninfo holds too. */
	CHECK(ls_fmt(ci, sizeof(ci),
	             "postgresql://postgres:%s@/lockdb?host=%s&port=%d", PW_URI,
	             T.sock, T.port) == 0);
	rv = backup_pg_hold(ci, &h, snap, sizeof(snap), lsn, sizeof(lsn), err,
	                    sizeof(err));
	CHECK_EQ_INT(rv, 0);
	if (rv != 0)
		fprintf(stderr, "URI hold: %s\n", err);
	memset(&cnt, 0, sizeof(cnt));
	if (h != NULL)
		CHECK_EQ_INT(
		    backup_pg_table_counts(h, on_count, &cnt, err, sizeof(err)),
		    0);
	CHECK_EQ_INT(cnt.n, 5); /* late is there now */
	CHECK_EQ_INT(cnt.rows[1], NROWS + 400);
out:
	backup_pg_release(h);
	PQfinish(w);
	PQfinish(admin);
}

int main(void)
{
	T.wd_fd = -1;
	T.proc.pid = -1;
	T.proc.in_fd = T.proc.out_fd = T.proc.err_fd = -1;

	test_conninfo_split();
	backup_pg_release(NULL);
	/* PostgreSQL refuses root: as root (CI) the cluster runs as postgres;
	 * anyone else runs it as themselves. */
	T.skip = geteuid() == 0 ? 0 : 4;
	if (tpg_start() < 0) {
		CHECK(!"PostgreSQL cluster started");
	} else {
		test_cut();
		test_bad_conninfo();
		test_dump_argv();
	}
	CHECK_EQ_INT(tpg_stop(), 0);
	return tu_done();
}
