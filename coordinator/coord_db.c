#include "coord_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ls_error.h"
#include "ls_log.h"
#include "ls_util.h"

#define DB_SCHEMA_VERSION 5

static const char *schema_v1 =
    "CREATE TABLE nodes ("
    " name TEXT PRIMARY KEY,"
    " roles TEXT NOT NULL,"
    " site TEXT NOT NULL DEFAULT '',"
    " enrolled INTEGER NOT NULL DEFAULT 0,"
    " enrolled_at INTEGER NOT NULL DEFAULT 0,"
    " removed_at INTEGER,"
    " sign_pk BLOB,"
    " cert_fp TEXT,"
    " session INTEGER NOT NULL DEFAULT 0,"
    " last_seen INTEGER NOT NULL DEFAULT 0,"
    " facts BLOB, checks BLOB, checks_at INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE tokens ("
    " id BLOB PRIMARY KEY,"
    " node TEXT NOT NULL,"
    " secret BLOB NOT NULL,"
    " created INTEGER NOT NULL,"
    " expires INTEGER NOT NULL,"
    " used_at INTEGER);"
    "PRAGMA user_version = 1;";

/* Version 2: the backup catalog. */
static const char *schema_v2 = "CREATE TABLE backups ("
                               " id TEXT PRIMARY KEY,"
                               " state TEXT NOT NULL,"
                               " phase TEXT NOT NULL DEFAULT '',"
                               " reason TEXT NOT NULL DEFAULT '',"
                               " created_at INTEGER NOT NULL,"
                               " finished_at INTEGER NOT NULL DEFAULT 0,"
                               " size INTEGER NOT NULL DEFAULT 0,"
                               " freeze_ms INTEGER NOT NULL DEFAULT 0,"
                               " artifacts INTEGER NOT NULL DEFAULT 0,"
                               " gitlab_version TEXT NOT NULL DEFAULT '',"
                               " path TEXT NOT NULL DEFAULT '',"
                               " skipped TEXT NOT NULL DEFAULT '',"
                               " failed_repos TEXT NOT NULL DEFAULT '');"
                               "PRAGMA user_version = 2;";

/* Version 3: the run journal (coord_journal.h). */
static const char *schema_v3 =
    "CREATE TABLE runs ("
    " id TEXT PRIMARY KEY,"
    " kind TEXT NOT NULL,"
    " state TEXT NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " finished_at INTEGER NOT NULL DEFAULT 0,"
    " reason TEXT NOT NULL DEFAULT '',"
    " params BLOB);"
    "CREATE TABLE run_steps ("
    " run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    " seq INTEGER NOT NULL,"
    " node TEXT NOT NULL,"
    " name TEXT NOT NULL,"
    " state TEXT NOT NULL,"
    " op_id INTEGER NOT NULL DEFAULT 0,"
    " started_at INTEGER NOT NULL DEFAULT 0,"
    " finished_at INTEGER NOT NULL DEFAULT 0,"
    " error TEXT NOT NULL DEFAULT '',"
    " result BLOB,"
    " PRIMARY KEY (run_id, seq));"
    "PRAGMA user_version = 3;";

/* Version 4: each backup's last restore drill (lockstep backup drill). */
static const char *schema_v4 =
    "ALTER TABLE backups ADD COLUMN drill_at INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE backups ADD COLUMN drill_ok INTEGER NOT NULL DEFAULT 0;"
    "PRAGMA user_version = 4;";

/* Version 5: each backup's last verify (lockstep backup verify). */
static const char *schema_v5 =
    "ALTER TABLE backups ADD COLUMN verify_at INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE backups ADD COLUMN verify_ok INTEGER NOT NULL DEFAULT 0;"
    "PRAGMA user_version = 5;";

static int db_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		log_warnx("database: %s", msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return LS_EDB;
	}
	return 0;
}

static int migrate(sqlite3 *db, const char *sql)
{
	int rv;

	if ((rv = db_exec(db, "BEGIN")) < 0)
		return rv;
	if ((rv = db_exec(db, sql)) < 0) {
		db_exec(db, "ROLLBACK");
		return rv;
	}
	return db_exec(db, "COMMIT");
}

int coord_db_open(const char *path, sqlite3 **dbp)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int version = 0, rv;

	*dbp = NULL;
	if (sqlite3_open_v2(path, &db,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	                        SQLITE_OPEN_FULLMUTEX,
	                    NULL) != SQLITE_OK) {
		log_warnx("database %s: %s", path,
		          db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return LS_EDB;
	}
	sqlite3_busy_timeout(db, 5000);
	if ((rv = db_exec(db, "PRAGMA journal_mode=WAL;"
	                      "PRAGMA synchronous=NORMAL;"
	                      "PRAGMA foreign_keys=ON;")) < 0)
		goto fail;
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) !=
	        SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		rv = LS_EDB;
		goto fail;
	}
	version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (version > DB_SCHEMA_VERSION) {
		log_warnx("database %s has schema %d, newer than this "
		          "coordinator understands (%d)",
		          path, version, DB_SCHEMA_VERSION);
		rv = LS_EDB;
		goto fail;
	}
	if (version < 1 && (rv = migrate(db, schema_v1)) < 0)
		goto fail;
	if (version < 2 && (rv = migrate(db, schema_v2)) < 0)
		goto fail;
	if (version < 3 && (rv = migrate(db, schema_v3)) < 0)
		goto fail;
	if (version < 4 && (rv = migrate(db, schema_v4)) < 0)
		goto fail;
	if (version < 5 && (rv = migrate(db, schema_v5)) < 0)
		goto fail;
	*dbp = db;
	return 0;
fail:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rv;
}

void coord_db_close(sqlite3 *db)
{
	sqlite3_close(db);
}

static void roles_join(const struct coord_node *n, char *out, size_t len)
{
	size_t i, used = 0;

	out[0] = '\0';
	for (i = 0; i < n->nroles; i++) {
		int k = snprintf(out + used, len - used, "%s%s", i ? "," : "",
		                 n->roles[i]);
		if (k < 0 || (size_t)k >= len - used)
			break;
		used += (size_t)k;
	}
}

int coord_db_load_nodes(struct coord *c)
{
	sqlite3_stmt *st = NULL;
	int rc, rv = 0;
	char err[256];

	if (sqlite3_prepare_v2(
	        c->db,
	        "SELECT name, roles, site, enrolled, enrolled_at,"
	        " removed_at, sign_pk, session, last_seen,"
	        " facts, checks, checks_at FROM nodes",
	        -1, &st, NULL) != SQLITE_OK)
		return LS_EDB;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		const char *roles = (const char *)sqlite3_column_text(st, 1);
		const char *site = (const char *)sqlite3_column_text(st, 2);
		struct coord_node *n;
		const void *blob;
		int blen;

		if (name == NULL || ls_node_name_valid(name) < 0) {
			log_warnx("database: skipping node row with invalid "
			          "name");
			continue;
		}
		if ((n = coord_node_add(c, name)) == NULL) {
			rv = LS_ENOMEM;
			break;
		}
		if (roles != NULL && roles[0] != '\0' &&
		    coord_roles_parse(roles, n->roles, &n->nroles, err,
		                      sizeof(err)) < 0)
			log_warnx("database: node %s: %s", name, err);
		ls_strlcpy(n->site, site ? site : "", sizeof(n->site));
		n->enrolled = sqlite3_column_int(st, 3);
		n->enrolled_at = sqlite3_column_int64(st, 4);
		n->removed = sqlite3_column_type(st, 5) != SQLITE_NULL;
		blob = sqlite3_column_blob(st, 6);
		blen = sqlite3_column_bytes(st, 6);
		if (n->enrolled && blob != NULL && blen == LS_SIGN_PK_LEN)
			memcpy(n->sign_pk, blob, LS_SIGN_PK_LEN);
		else if (n->enrolled) {
			log_warnx("database: node %s has no valid key; "
			          "treating it as not enrolled",
			          name);
			n->enrolled = 0;
		}
		/* Counters of the last session are unknown after a restart:
		 * the agent is asked for a new session (ls_replay_check). */
		n->replay.session = (uint64_t)sqlite3_column_int64(st, 7);
		n->replay.counter_known = 0;
		n->last_seen = sqlite3_column_int64(st, 8);
		blob = sqlite3_column_blob(st, 9);
		blen = sqlite3_column_bytes(st, 9);
		if (blob != NULL && blen > 0)
			n->facts =
			    ls__node_facts__unpack(NULL, (size_t)blen, blob);
		blob = sqlite3_column_blob(st, 10);
		blen = sqlite3_column_bytes(st, 10);
		if (blob != NULL && blen > 0)
			n->checks =
			    ls__check_report__unpack(NULL, (size_t)blen, blob);
		n->checks_at = sqlite3_column_int64(st, 11);
	}
	if (rc != SQLITE_DONE && rv == 0)
		rv = LS_EDB;
	sqlite3_finalize(st);
	return rv;
}

int coord_db_node_add(sqlite3 *db, const struct coord_node *n,
                      const uint8_t *token_id, const uint8_t *secret,
                      int64_t expires)
{
	sqlite3_stmt *st = NULL;
	char roles[COORD_MAX_ROLES * COORD_ROLE_MAX];
	int rv = LS_EDB;

	roles_join(n, roles, sizeof(roles));
	if (db_exec(db, "BEGIN IMMEDIATE") < 0)
		return LS_EDB;
	if (sqlite3_prepare_v2(
	        db,
	        "INSERT INTO nodes(name, roles, site, enrolled, removed_at,"
	        " sign_pk, session, facts, checks, checks_at, last_seen)"
	        " VALUES(?1, ?2, ?3, 0, NULL, NULL, 0, NULL, NULL, 0, 0)"
	        " ON CONFLICT(name) DO UPDATE SET roles=?2, site=?3,"
	        " enrolled=0, removed_at=NULL, sign_pk=NULL, session=0,"
	        " facts=NULL, checks=NULL, checks_at=0, last_seen=0",
	        -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, n->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, roles, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, n->site, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto out;
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(db,
	                       "DELETE FROM tokens WHERE node=?1 AND used_at "
	                       "IS NULL",
	                       -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, n->name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto out;
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(db,
	                       "INSERT INTO tokens(id, node, secret, created,"
	                       " expires) VALUES(?1, ?2, ?3, ?4, ?5)",
	                       -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_blob(st, 1, token_id, 16, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, n->name, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, secret, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, ls_now());
	sqlite3_bind_int64(st, 5, expires);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto out;
	rv = 0;
out:
	sqlite3_finalize(st);
	if (rv == 0 && db_exec(db, "COMMIT") < 0)
		rv = LS_EDB;
	if (rv < 0) {
		log_warnx("database: adding node %s: %s", n->name,
		          sqlite3_errmsg(db));
		db_exec(db, "ROLLBACK");
	}
	return rv;
}

int coord_db_token_get(sqlite3 *db, const uint8_t *token_id,
                       struct coord_token *t)
{
	sqlite3_stmt *st = NULL;
	int rc, rv = LS_EDB;

	memset(t, 0, sizeof(*t));
	if (sqlite3_prepare_v2(db,
	                       "SELECT node, secret, expires, used_at FROM "
	                       "tokens WHERE id=?1",
	                       -1, &st, NULL) != SQLITE_OK)
		return LS_EDB;
	sqlite3_bind_blob(st, 1, token_id, 16, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		rv = LS_EUNKNOWN;
	} else if (rc == SQLITE_ROW) {
		const char *node = (const char *)sqlite3_column_text(st, 0);
		const void *sec = sqlite3_column_blob(st, 1);

		if (node == NULL || sec == NULL ||
		    sqlite3_column_bytes(st, 1) != 32)
			goto out;
		ls_strlcpy(t->node, node, sizeof(t->node));
		memcpy(t->secret, sec, 32);
		t->expires = sqlite3_column_int64(st, 2);
		t->used_at = sqlite3_column_type(st, 3) == SQLITE_NULL
		                 ? 0
		                 : sqlite3_column_int64(st, 3);
		rv = 0;
	}
out:
	sqlite3_finalize(st);
	return rv;
}

int coord_db_enroll(sqlite3 *db, const uint8_t *token_id,
                    const struct coord_node *n, const char *cert_fp_hex)
{
	sqlite3_stmt *st = NULL;
	int rv = LS_EDB;

	if (db_exec(db, "BEGIN IMMEDIATE") < 0)
		return LS_EDB;
	if (sqlite3_prepare_v2(db,
	                       "UPDATE tokens SET used_at=?2 WHERE id=?1 AND "
	                       "used_at IS NULL",
	                       -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_blob(st, 1, token_id, 16, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, ls_now());
	if (sqlite3_step(st) != SQLITE_DONE)
		goto out;
	if (sqlite3_changes(db) != 1) {
		rv = LS_EUSED;
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(db,
	                       "UPDATE nodes SET enrolled=1, enrolled_at=?2,"
	                       " sign_pk=?3, cert_fp=?4, session=0,"
	                       " removed_at=NULL WHERE name=?1",
	                       -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, n->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, n->enrolled_at);
	sqlite3_bind_blob(st, 3, n->sign_pk, LS_SIGN_PK_LEN, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, cert_fp_hex, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE || sqlite3_changes(db) != 1)
		goto out;
	rv = 0;
out:
	sqlite3_finalize(st);
	if (rv == 0 && db_exec(db, "COMMIT") < 0)
		rv = LS_EDB;
	if (rv < 0)
		db_exec(db, "ROLLBACK");
	return rv;
}

static int exec_name(sqlite3 *db, const char *sql, const char *name, int64_t v)
{
	sqlite3_stmt *st = NULL;
	int rv = LS_EDB;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return LS_EDB;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, v);
	if (sqlite3_step(st) == SQLITE_DONE)
		rv = 0;
	sqlite3_finalize(st);
	if (rv < 0)
		log_warnx("database: %s", sqlite3_errmsg(db));
	return rv;
}

int coord_db_node_remove(sqlite3 *db, const char *name, int64_t when)
{
	int rv = exec_name(db, "UPDATE nodes SET removed_at=?2 WHERE name=?1",
	                   name, when);
	if (rv == 0)
		rv = exec_name(db,
		               "UPDATE tokens SET used_at=?2 WHERE node=?1 "
		               "AND used_at IS NULL",
		               name, when);
	return rv;
}

int coord_db_node_session(sqlite3 *db, const char *name, uint64_t session)
{
	return exec_name(db, "UPDATE nodes SET session=?2 WHERE name=?1", name,
	                 (int64_t)session);
}

static int bind_packed(sqlite3_stmt *st, int idx, const ProtobufCMessage *m)
{
	size_t len;
	uint8_t *buf;

	if (m == NULL)
		return sqlite3_bind_null(st, idx);
	len = protobuf_c_message_get_packed_size(m);
	buf = malloc(len ? len : 1);
	if (buf == NULL)
		return SQLITE_NOMEM;
	protobuf_c_message_pack(m, buf);
	return sqlite3_bind_blob(st, idx, buf, (int)len, free);
}

int coord_db_node_report(sqlite3 *db, const struct coord_node *n)
{
	sqlite3_stmt *st = NULL;
	int rv = LS_EDB;

	if (sqlite3_prepare_v2(db,
	                       "UPDATE nodes SET facts=?2, checks=?3,"
	                       " checks_at=?4, last_seen=?5 WHERE name=?1",
	                       -1, &st, NULL) != SQLITE_OK)
		return LS_EDB;
	sqlite3_bind_text(st, 1, n->name, -1, SQLITE_STATIC);
	bind_packed(st, 2, n->facts ? &n->facts->base : NULL);
	bind_packed(st, 3, n->checks ? &n->checks->base : NULL);
	sqlite3_bind_int64(st, 4, n->checks_at);
	sqlite3_bind_int64(st, 5, n->last_seen);
	if (sqlite3_step(st) == SQLITE_DONE)
		rv = 0;
	sqlite3_finalize(st);
	return rv;
}

int coord_token_usable(const struct coord_token *t, int64_t now)
{
	if (t->used_at != 0)
		return LS_EUSED;
	if (t->expires <= now)
		return LS_EEXPIRED;
	return 0;
}
