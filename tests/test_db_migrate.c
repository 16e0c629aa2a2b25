/*
 * The coordinator's database carried forward: a database of schema 3 (no
 * drill or verify columns) opens, is migrated with its backups kept, and
 * then records a drill and a verify; a database newer than this build is
 * refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "coord_catalog.h"
#include "coord_db.h"
#include "ls_error.h"
#include "ls_util.h"
#include "testutil.h"

static char dir[] = "/tmp/test_db_migrate.XXXXXX";
static char path[128];

static void raw(const char *sql)
{
	sqlite3 *db = NULL;
	char *msg = NULL;

	CHECK_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "%s: %s\n", sql, msg ? msg : "?");
		CHECK(0);
	}
	sqlite3_free(msg);
	sqlite3_close(db);
}

int main(void)
{
	Ls__BackupInfo b = LS__BACKUP_INFO__INIT, *got = NULL;
	sqlite3 *db = NULL;

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/lockstep.db", dir);
	CHECK_EQ_INT(coord_db_open(path, &db), 0);
	b.id = "20261123T080000Z-abcd";
	b.state = "complete";
	b.created_at = 1795420800;
	b.gitlab_version = "16.3.5-ee";
	CHECK_EQ_INT(coord_catalog_insert(db, &b), 0);
	coord_db_close(db);
	/* As the previous release left it. */
	raw("ALTER TABLE backups DROP COLUMN drill_at;"
	    "ALTER TABLE backups DROP COLUMN drill_ok;"
	    "ALTER TABLE backups DROP COLUMN verify_at;"
	    "ALTER TABLE backups DROP COLUMN verify_ok;"
	    "PRAGMA user_version = 3;");

	db = NULL;
	CHECK_EQ_INT(coord_db_open(path, &db), 0);
	CHECK_EQ_INT(coord_catalog_get(db, b.id, &got), 0);
	CHECK(got != NULL && strcmp(got->gitlab_version, "16.3.5-ee") == 0);
	CHECK(got != NULL && !got->has_drilled_at);
	coord_catalog_info_free(got);
	got = NULL;
	CHECK_EQ_INT(coord_catalog_drilled(db, b.id, 1, 1795424400), 0);
	CHECK_EQ_INT(coord_catalog_drilled(db, "no-such", 1, 1795424400),
	             LS_ENOENT);
	CHECK_EQ_INT(coord_catalog_get(db, b.id, &got), 0);
	CHECK(got != NULL && got->has_drilled_at &&
	      got->drilled_at == 1795424400 && got->drill_ok);
	CHECK(got != NULL && !got->has_verified_at);
	coord_catalog_info_free(got);
	CHECK_EQ_INT(coord_catalog_verified(db, b.id, 0, 1795428000), 0);
	got = NULL;
	CHECK_EQ_INT(coord_catalog_get(db, b.id, &got), 0);
	CHECK(got != NULL && got->has_verified_at &&
	      got->verified_at == 1795428000 && !got->verify_ok);
	coord_catalog_info_free(got);
	coord_db_close(db);

	/* A database from a newer coordinator is not touched. */
	raw("PRAGMA user_version = 99;");
	db = NULL;
	CHECK(coord_db_open(path, &db) < 0);
	CHECK(db == NULL);
	ls_rmtree(dir);
	return tu_done();
}
