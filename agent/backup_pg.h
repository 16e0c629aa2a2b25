/*
 * The PostgreSQL part of a node's consistent backup. The cut is a
 * REPEATABLE READ transaction that exports its snapshot and stays open; the
 * copy runs pg_dump --snapshot afterwards, so the dump shows the database
 * as at the cut while the fleet keeps writing.
 *
 * A conninfo may carry password=: it never reaches a log line, an error
 * message or a child's argv (pg_dump gets it through its environment).
 */
#ifndef BACKUP_PG_H
#define BACKUP_PG_H

#include <stddef.h>
#include <stdint.h>

#include "backup_artifact.h"

struct backup_pg_hold; /* one open REPEATABLE READ transaction */

/* Connects with conninfo, BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;
 * SELECT pg_export_snapshot(), and the LSN (pg_current_wal_lsn() on a primary,
 * pg_last_wal_replay_lsn() on a replica: check pg_is_in_recovery()).
 * The transaction stays open until backup_pg_release. connect_timeout 10 s. */
int backup_pg_hold(const char *conninfo, struct backup_pg_hold **h,
                   char *snapshot, size_t snaplen, char *lsn, size_t lsnlen,
                   char *err, size_t errlen);
/* Exact row counts of every ordinary table in every non-system schema, seen
 * through the held snapshot (SELECT count(*) per table, identifiers quoted
 * with PQescapeIdentifier), in name order. cb is called per table. */
int backup_pg_table_counts(struct backup_pg_hold *h,
                           int (*cb)(void *arg, const char *schema_table,
                                     uint64_t rows),
                           void *arg, char *err, size_t errlen);
/* Runs `<pg_dump> --clean --if-exists --no-password --snapshot=<snapshot> -d
 * <conninfo>` (argv, via ls_exec_spawn, stdout streamed) and writes its output
 * compressed to dest_path atomically (ls_afile; mode 0600). Fails, leaving
 * nothing, if pg_dump exits non-zero (error text: its stderr's last line) or
 * the snapshot is gone. size/sha256 of the compressed file are returned.
 * progress (may be NULL) receives ("db", bytes so far, 0, 0) at most every 250
 * ms. rows (may be NULL) is fed the dump (backup_pg_rows.h); the dump does
 * not fail when its rows cannot be counted.
 */
struct backup_pg_rows;
int backup_pg_dump(const char *pg_dump, const char *conninfo,
                   const char *snapshot, const char *dest_path,
                   enum backup_compression comp, backup_progress_fn progress,
                   void *arg, struct backup_pg_rows *rows, uint64_t *size,
                   uint8_t sha256[32], char *err, size_t errlen);
/* Ends the transaction (ROLLBACK) and closes; NULL-safe. */
void backup_pg_release(struct backup_pg_hold *h);

/*
 * Notes on the calls above:
 * - backup_pg_table_counts: a non-zero return of cb stops the walk and is
 *   returned. Names are "schema.table", unquoted. Partitioned parents are
 *   left out (their partitions are counted). A hold is used by one thread.
 * - backup_pg_dump: pg_dump's argv carries the conninfo without its
 *   password; the password goes to pg_dump as PGPASSWORD. "bytes so far"
 *   counts the uncompressed dump read from pg_dump.
 */

/*
 * Splits a conninfo (key=value string, postgres:// URI, or a bare database
 * name as libpq takes it) into an equivalent key='value' string without the
 * password, and the password (empty when none). Parse errors are reported
 * without echoing the conninfo, which may hold the password.
 */
int backup_pg_conninfo_split(const char *conninfo, char *clean, size_t cleanlen,
                             char *password, size_t pwlen, char *err,
                             size_t errlen);

/* Overwrites every occurrence of password in msg with '*'. */
void backup_pg_scrub(char *msg, const char *password);

/* An error text with the password blanked out wherever it appears. */
void backup_pg_seterr(char *err, size_t errlen, const char *password,
                      const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
