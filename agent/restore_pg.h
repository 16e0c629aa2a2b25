/*
 * The PostgreSQL part of a node's restore, done the way GitLab's own restore
 * does it (lib/backup/targets/database.rb): drop the tables, then feed the
 * plain-SQL dump to psql and judge psql's stderr. Plus the scratch database
 * a restore drill loads into instead of the live one.
 *
 * As in backup_pg.h, a conninfo may carry password=: it never reaches a
 * child's argv, a log line or an error text.
 */
#ifndef RESTORE_PG_H
#define RESTORE_PG_H

#include <stddef.h>
#include <stdint.h>

#include "backup_artifact.h"

struct backup_pg_rows;

/* Longest scratch database name (PostgreSQL's NAMEDATALEN - 1). */
#define RESTORE_PG_NAME_MAX 63

/*
 * GitLab's gitlab:db:drop_tables on the database conninfo names, in one
 * transaction: TRUNCATE schema_migrations; drop every view and materialized
 * view and every table (partitioned or not, partitions included) in the
 * schemas on the search path, CASCADE; DROP SCHEMA IF EXISTS
 * gitlab_partitions_dynamic, gitlab_partitions_static CASCADE. Views that
 * belong to an extension are left to it. Sequences owned by a dropped table
 * go with it; the dump's own DROP ... IF EXISTS takes care of the rest.
 */
int restore_pg_drop(const char *conninfo, char *err, size_t errlen);

/*
 * Streams dump_path (gzip, zstd or uncompressed, detected) into
 * `<psql> -X -q -w -d <conninfo without its password>` (PGPASSWORD in the
 * environment, ON_ERROR_STOP not set, as GitLab runs it). psql's stderr is
 * read as it is written; a message other than the ones GitLab tolerates
 * (WARNING:, "does not exist", "must be owner of") fails the load, and err
 * names the first of them. A non-zero exit of psql fails it too, and so
 * does a gzip dump whose trailer (CRC-32, length) does not match what was
 * read: one gzip member, as GitLab and Lockstep write it; a multi-member
 * file is refused. A failure after psql started leaves the database
 * partly loaded: drop and load again.
 * progress (may be NULL) receives ("db", decompressed bytes so far, 0, 0) at
 * most every 250 ms. rows (may be NULL) is fed the decompressed dump
 * (backup_pg_rows.h); the load does not fail when its rows cannot be counted.
 * psql must be an absolute path: restore_pg_psql_beside() gives the one that
 * matches the pg_dump that wrote the dump.
 */
int restore_pg_load(const char *psql, const char *conninfo,
                    const char *dump_path, backup_progress_fn progress,
                    void *arg, struct backup_pg_rows *rows, char *err,
                    size_t errlen);

/* "<directory of pg_dump>/psql": pg_dump 15.20 writes \restrict lines that
 * only a psql of the same release accepts. LS_EINVAL unless pg_dump is an
 * absolute path, LS_ETOOBIG if out is too small. */
int restore_pg_psql_beside(const char *pg_dump, char *out, size_t outlen);

/*
 * A scratch database for a restore drill, on the server conninfo reaches:
 * CREATE DATABASE <name> owned by the owner of conninfo's database, with its
 * encoding and locale, from template0. scratch_conninfo receives conninfo
 * with dbname=<name> (and so the password, if conninfo had one).
 * Names are [a-z0-9_], start with a letter or '_', at most
 * RESTORE_PG_NAME_MAX bytes, and are not postgres, template0, template1
 * or conninfo's own database (LS_EINVAL). An existing one is LS_EEXIST.
 */
int restore_pg_scratch_create(const char *conninfo, const char *name,
                              char *scratch_conninfo, size_t sclen, char *err,
                              size_t errlen);
/* DROP DATABASE IF EXISTS <name> WITH (FORCE), connected through conninfo;
 * the same names are refused. */
int restore_pg_scratch_drop(const char *conninfo, const char *name, char *err,
                            size_t errlen);

#endif
