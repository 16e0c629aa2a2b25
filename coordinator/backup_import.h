/*
 * lockstep backup import: a backup made by GitLab's own tools becomes an
 * ordinary Lockstep backup in the store, so that restore and drill take it
 * like one of Lockstep's.
 *
 *  - a Rake archive `<id>_gitlab_backup.tar` (gitlab-backup create, or the
 *    Helm toolbox's backup-utility) is extracted securely;
 *  - a gitlab-backup-cli directory (backup_information.json) is copied.
 *
 * GitLab's files stay as they were. Every artifact of GitLab's layout is
 * checksummed into lockstep/manifest.json, signed as a seal signs it, and
 * the backup is cataloged complete. Staging happens in a hidden directory
 * inside the store, renamed into place only when everything is done: a
 * failed import leaves nothing behind.
 */
#ifndef BACKUP_IMPORT_H
#define BACKUP_IMPORT_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "backup_meta.h"
#include "ls_util.h"

/* Longest text kept for a skipped list (GitLab's full list is ~130). */
#define IMPORT_SKIPPED_MAX 256

struct backup_import {
	char src[LS_PATH_MAX];
	char store[LS_PATH_MAX];
	char tmp[LS_PATH_MAX];  /* the staging directory, "" when none */
	char dest[LS_PATH_MAX]; /* <store>/<id> */
	const char *format;     /* "rake" or "backup-cli" */
	char id[BACKUP_ID_MAX];
	char gitlab_version[BACKUP_VERSION_MAX];
	char skipped[IMPORT_SKIPPED_MAX];
	int64_t created_at;
	uint32_t artifacts;
	uint64_t size; /* artifacts, GitLab's metadata and the manifest */
	/* What was found and left out of the manifest, one line each. */
	char **warnings;
	size_t nwarnings, capwarnings;
	/* Set from another thread to stop a long import early. */
	volatile int *cancel;
};

/*
 * The id src would be imported as, read cheaply (the file name, or the
 * directory's backup_information.json), so that a duplicate is refused
 * before hours of copying. src must be absolute.
 */
int backup_import_peek_id(const char *src, char *id, size_t idlen, char *err,
                          size_t errlen);

/*
 * Extracts or copies src into a staging directory of store, reads GitLab's
 * metadata, checksums every artifact and writes the signed manifest. sk is
 * the coordinator's Ed25519 secret key (64 bytes). imp is initialised
 * here; release it with backup_import_free whatever the outcome. Needs no
 * lock: it touches nothing but its own staging directory.
 */
int backup_import_stage(struct backup_import *imp, const char *src,
                        const char *store, const uint8_t *sk,
                        volatile int *cancel, char *err, size_t errlen);

/*
 * Renames the staged backup to <store>/<id> and inserts its catalog row
 * (complete). LS_EEXIST when the id is cataloged or <store>/<id> exists.
 * The caller holds whatever lock guards db.
 */
int backup_import_commit(struct backup_import *imp, sqlite3 *db, char *err,
                         size_t errlen);

/* Removes the staging directory if still there; frees the warnings. */
void backup_import_free(struct backup_import *imp);

/* Internal to the import (backup_import_src.c, backup_import_meta.c). */
struct import_meta {
	char backup_id[BACKUP_ID_MAX]; /* "" when the file has none */
	char gitlab_version[BACKUP_VERSION_MAX];
	char skipped[IMPORT_SKIPPED_MAX];
	int64_t created_at;
};
/* backup_information.yml, Rake's (Ruby symbols, a TimeWithZone dump) or
 * the Helm toolbox's (plain values). */
/* name: the file as messages call it. */
int import_meta_yml(const char *path, const char *name, struct import_meta *m,
                    char *err, size_t errlen);
/* gitlab-backup-cli's backup_information.json (metadata_version 2). */
int import_meta_json(const char *path, const char *name, struct import_meta *m,
                     char *err, size_t errlen);
/* "2025-02-21 13:15:17.123 Z", "... +0000", "2024-04-25T13:55:14Z". */
int import_parse_time(const char *s, int64_t *out);

/* Progress: a log line every few seconds of a long extract or checksum. */
struct import_progress {
	const char *what; /* "extracting <src>" */
	int64_t start_ms, last_ms;
	uint64_t bytes, files;
};
void import_progress_init(struct import_progress *p, const char *what);
void import_progress_add(struct import_progress *p, uint64_t bytes,
                         uint64_t files);
int import_warn(struct backup_import *imp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The Rake tar into imp->tmp; symlinks, hard links and devices refused. */
int import_extract_tar(struct backup_import *imp, char *err, size_t errlen);
/* The backup-cli directory's files copied into imp->tmp. */
int import_copy_dir(struct backup_import *imp, char *err, size_t errlen);

#endif
