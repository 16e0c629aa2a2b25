/* The backup catalog (SQLite): what backups exist and in what state. */
#ifndef COORD_CATALOG_H
#define COORD_CATALOG_H

#include <stdint.h>

#include <sqlite3.h>

#include "control.pb-c.h"

int coord_catalog_insert(sqlite3 *db, const Ls__BackupInfo *b);
/* Writes every field of b over the row with b->id. */
int coord_catalog_update(sqlite3 *db, const Ls__BackupInfo *b);
/* Newest first. Each entry is heap-allocated: free with
 * coord_catalog_free. */
int coord_catalog_list(sqlite3 *db, Ls__BackupInfo ***out, size_t *n);
/* LS_ENOENT when there is no such backup. */
int coord_catalog_get(sqlite3 *db, const char *id, Ls__BackupInfo **out);
void coord_catalog_free(Ls__BackupInfo **list, size_t n);
int coord_catalog_delete(sqlite3 *db, const char *id);
/* The outcome of a restore drill of backup id, at unix time at. */
int coord_catalog_drilled(sqlite3 *db, const char *id, int ok, int64_t at);
/* The outcome of lockstep backup verify of backup id. */
int coord_catalog_verified(sqlite3 *db, const char *id, int ok, int64_t at);
/* One entry from coord_catalog_get; NULL-safe. */
void coord_catalog_info_free(Ls__BackupInfo *b);
/*
 * Backups left `running` by a coordinator that stopped: marked failed with
 * reason; their ids and paths are returned so partial files can go.
 */
int coord_catalog_fail_running(sqlite3 *db, const char *reason,
                               Ls__BackupInfo ***out, size_t *n);

#endif
