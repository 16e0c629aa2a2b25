#include "coord_catalog.h"

#include <stdlib.h>
#include <string.h>

#include "ls_error.h"
#include "ls_log.h"

#define COLS                                                                   \
	"id, state, phase, reason, created_at, finished_at, size, "            \
	"freeze_ms, artifacts, gitlab_version, path, skipped, failed_repos"
/* What a read also returns: the last restore drill (schema version 4)
 * and the last verify (5). */
#define READ_COLS COLS ", drill_at, drill_ok, verify_at, verify_ok"

static const char *or_empty(const char *s)
{
	return s ? s : "";
}

/* failed_repos is stored as newline-separated text. */
static char *join_lines(char **items, size_t n)
{
	size_t i, len = 1;
	char *out, *p;

	for (i = 0; i < n; i++)
		len += strlen(items[i]) + 1;
	if ((out = malloc(len)) == NULL)
		return NULL;
	p = out;
	for (i = 0; i < n; i++) {
		size_t l = strlen(items[i]);
		memcpy(p, items[i], l);
		p += l;
		*p++ = '\n';
	}
	*p = '\0';
	return out;
}

static int bind_info(sqlite3_stmt *st, const Ls__BackupInfo *b)
{
	char *failed = join_lines(b->failed_repos, b->n_failed_repos);

	if (failed == NULL)
		return LS_ENOMEM;
	sqlite3_bind_text(st, 1, b->id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, b->state, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, or_empty(b->phase), -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, or_empty(b->reason), -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, b->created_at);
	sqlite3_bind_int64(st, 6, b->finished_at);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)b->size);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)b->freeze_ms);
	sqlite3_bind_int64(st, 9, b->artifacts);
	sqlite3_bind_text(st, 10, or_empty(b->gitlab_version), -1,
	                  SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 11, or_empty(b->path), -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 12, or_empty(b->skipped), -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 13, failed, -1, free);
	return 0;
}

static int exec_info(sqlite3 *db, const char *sql, const Ls__BackupInfo *b)
{
	sqlite3_stmt *st = NULL;
	int rv = LS_EDB;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		goto out;
	if ((rv = bind_info(st, b)) < 0)
		goto out;
	rv = sqlite3_step(st) == SQLITE_DONE ? 0 : LS_EDB;
out:
	if (rv == LS_EDB)
		log_warnx("catalog: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return rv;
}

int coord_catalog_insert(sqlite3 *db, const Ls__BackupInfo *b)
{
	return exec_info(db,
	                 "INSERT INTO backups(" COLS ") VALUES(?1, ?2, ?3, ?4, "
	                 "?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
	                 b);
}

int coord_catalog_update(sqlite3 *db, const Ls__BackupInfo *b)
{
	return exec_info(
	    db,
	    "UPDATE backups SET state=?2, phase=?3, reason=?4, "
	    "created_at=?5, finished_at=?6, size=?7, freeze_ms=?8, "
	    "artifacts=?9, gitlab_version=?10, path=?11, "
	    "skipped=?12, failed_repos=?13 WHERE id=?1",
	    b);
}

static char *col_dup(sqlite3_stmt *st, int i)
{
	const char *t = (const char *)sqlite3_column_text(st, i);
	return strdup(t ? t : "");
}

static Ls__BackupInfo *row_info(sqlite3_stmt *st)
{
	Ls__BackupInfo *b = calloc(1, sizeof(*b));
	char *failed, *p, *nl;

	if (b == NULL)
		return NULL;
	ls__backup_info__init(b);
	b->id = col_dup(st, 0);
	b->state = col_dup(st, 1);
	b->phase = col_dup(st, 2);
	b->reason = col_dup(st, 3);
	b->created_at = sqlite3_column_int64(st, 4);
	b->has_finished_at = 1;
	b->finished_at = sqlite3_column_int64(st, 5);
	b->has_size = b->has_freeze_ms = b->has_artifacts = 1;
	b->size = (uint64_t)sqlite3_column_int64(st, 6);
	b->freeze_ms = (uint64_t)sqlite3_column_int64(st, 7);
	b->artifacts = (uint32_t)sqlite3_column_int64(st, 8);
	b->gitlab_version = col_dup(st, 9);
	b->path = col_dup(st, 10);
	b->skipped = col_dup(st, 11);
	failed = col_dup(st, 12);
	for (p = failed; p && *p; p = nl + 1) {
		char **n2;
		if ((nl = strchr(p, '\n')) == NULL)
			break;
		*nl = '\0';
		n2 = realloc(b->failed_repos,
		             (b->n_failed_repos + 1) * sizeof(*n2));
		if (n2 == NULL)
			break;
		b->failed_repos = n2;
		b->failed_repos[b->n_failed_repos++] = strdup(p);
	}
	free(failed);
	if (sqlite3_column_int64(st, 13) > 0) {
		b->has_drilled_at = b->has_drill_ok = 1;
		b->drilled_at = sqlite3_column_int64(st, 13);
		b->drill_ok = sqlite3_column_int(st, 14) != 0;
	}
	if (sqlite3_column_int64(st, 15) > 0) {
		b->has_verified_at = b->has_verify_ok = 1;
		b->verified_at = sqlite3_column_int64(st, 15);
		b->verify_ok = sqlite3_column_int(st, 16) != 0;
	}
	return b;
}

void coord_catalog_info_free(Ls__BackupInfo *b)
{
	size_t i;

	if (b == NULL)
		return;
	free(b->id);
	free(b->state);
	free(b->phase);
	free(b->reason);
	free(b->gitlab_version);
	free(b->path);
	free(b->skipped);
	for (i = 0; i < b->n_failed_repos; i++)
		free(b->failed_repos[i]);
	free(b->failed_repos);
	free(b);
}

void coord_catalog_free(Ls__BackupInfo **list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		coord_catalog_info_free(list[i]);
	free(list);
}

static int query(sqlite3 *db, const char *sql, const char *arg,
                 Ls__BackupInfo ***out, size_t *n)
{
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return LS_EDB;
	if (arg != NULL)
		sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		Ls__BackupInfo *b;
		if (*n == cap) {
			size_t nc = cap ? cap * 2 : 16;
			Ls__BackupInfo **l = realloc(*out, nc * sizeof(*l));
			if (l == NULL)
				break;
			*out = l;
			cap = nc;
		}
		if ((b = row_info(st)) == NULL)
			break;
		(*out)[(*n)++] = b;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : LS_EDB;
}

int coord_catalog_list(sqlite3 *db, Ls__BackupInfo ***out, size_t *n)
{
	return query(db,
	             "SELECT " READ_COLS
	             " FROM backups ORDER BY created_at DESC, "
	             "id DESC",
	             NULL, out, n);
}

int coord_catalog_get(sqlite3 *db, const char *id, Ls__BackupInfo **out)
{
	Ls__BackupInfo **l = NULL;
	size_t n = 0;
	int rv;

	*out = NULL;
	rv = query(db, "SELECT " READ_COLS " FROM backups WHERE id=?1", id, &l,
	           &n);
	if (rv == 0 && n == 0)
		rv = LS_ENOENT;
	if (rv == 0) {
		*out = l[0];
		l[0] = NULL;
	}
	coord_catalog_free(l, n);
	return rv;
}

int coord_catalog_fail_running(sqlite3 *db, const char *reason,
                               Ls__BackupInfo ***out, size_t *n)
{
	size_t i;
	int rv;

	rv =
	    query(db, "SELECT " READ_COLS " FROM backups WHERE state='running'",
	          NULL, out, n);
	if (rv < 0)
		return rv;
	for (i = 0; i < *n; i++) {
		Ls__BackupInfo *b = (*out)[i];
		free(b->state);
		free(b->reason);
		b->state = strdup("failed");
		b->reason = strdup(reason);
		if (b->state == NULL || b->reason == NULL ||
		    (rv = coord_catalog_update(db, b)) < 0)
			return rv < 0 ? rv : LS_ENOMEM;
	}
	return 0;
}

int coord_catalog_delete(sqlite3 *db, const char *id)
{
	sqlite3_stmt *st = NULL;
	int rv = LS_EDB;

	if (sqlite3_prepare_v2(db, "DELETE FROM backups WHERE id=?1", -1, &st,
	                       NULL) != SQLITE_OK)
		return LS_EDB;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_DONE)
		rv = 0;
	sqlite3_finalize(st);
	return rv;
}

/* One check's outcome (a drill, a verify) on backup id. */
static int outcome(sqlite3 *db, const char *sql, const char *id, int ok,
                   int64_t at)
{
	sqlite3_stmt *st = NULL;
	int rv;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		log_warnx("catalog: %s", sqlite3_errmsg(db));
		return LS_EDB;
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, at);
	sqlite3_bind_int(st, 3, ok != 0);
	rv = sqlite3_step(st) == SQLITE_DONE ? 0 : LS_EDB;
	if (rv == 0 && sqlite3_changes(db) == 0)
		rv = LS_ENOENT;
	sqlite3_finalize(st);
	return rv;
}

int coord_catalog_drilled(sqlite3 *db, const char *id, int ok, int64_t at)
{
	return outcome(db,
	               "UPDATE backups SET drill_at=?2, drill_ok=?3 WHERE "
	               "id=?1",
	               id, ok, at);
}

int coord_catalog_verified(sqlite3 *db, const char *id, int ok, int64_t at)
{
	return outcome(db,
	               "UPDATE backups SET verify_at=?2, verify_ok=?3 WHERE "
	               "id=?1",
	               id, ok, at);
}
