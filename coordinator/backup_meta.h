/*
 * GitLab's backup metadata, written byte for byte as GitLab's own tools
 * write it, so that `gitlab-backup restore` and the Helm toolbox take a
 * Lockstep backup as one of theirs:
 *
 *  - backup ids: `strftime('%s_%Y_%m_%d_') + Gitlab::VERSION`
 *    (gitlab-org/gitlab lib/backup/manager.rb, build_backup_information),
 *    and the file-name test GitLab prunes with (manager.rb, backup_file?);
 *  - backup_information.yml: the Rake task's manifest
 *    (lib/backup/metadata.rb: a keyword Struct dumped by Psych/libyaml);
 *  - backup_information.json: gitlab-backup-cli's metadata
 *    (gems/gitlab-backup-cli/.../metadata/backup_metadata.rb).
 */
#ifndef BACKUP_META_H
#define BACKUP_META_H

#include <stddef.h>
#include <stdint.h>

/* Longest id and version we produce or accept (GitLab's are ~35 bytes). */
#define BACKUP_ID_MAX 128
#define BACKUP_VERSION_MAX 64
/* Longest single value written into backup_information.yml. */
#define BACKUP_YML_VALUE_MAX 4096

struct backup_meta {
	const char *backup_id;         /* 1740143717_2025_02_21_17.8.2-ee */
	int64_t created_at;            /* unix seconds, UTC */
	long created_nsec;             /* 0..999999999; Time.current keeps ns */
	const char *gitlab_version;    /* Gitlab::VERSION, e.g. 17.8.2-ee */
	const char *db_version;        /* newest schema migration, 14 digits */
	const char *tar_version;       /* first line of `tar --version` */
	const char *installation_type; /* omnibus-gitlab | gitlab-helm-chart */
	/*
	 * GitLab writes these four as strings, "" when empty (never nil):
	 * skipped is Options#serialize_skippables, the others are the
	 * REPOSITORIES_* lists joined with ','. NULL is written as "".
	 */
	const char *skipped;
	const char *repositories_storages;
	const char *repositories_paths;
	const char *skip_repositories_paths;
	int repositories_server_side;
	/* The full backup an incremental one builds on; NULL (YAML null)
	 * in a full backup. */
	const char *full_backup_id;
};

/*
 * "<unix>_<YYYY>_<MM>_<DD>_<version>" with the date in UTC, as GitLab
 * names a backup. The version must be 1..BACKUP_VERSION_MAX-1 bytes of
 * [0-9A-Za-z._-]. LS_EINVAL, or LS_ETOOBIG when out is too small.
 */
int backup_id_make(int64_t unix_time, const char *gitlab_version, char *out,
                   size_t len);

/*
 * Accepts exactly the ids whose "<id>_gitlab_backup.tar" GitLab's prune
 * regex matches:
 *   ^(\d{10})(?:_\d{4}_\d{2}_\d{2}(_\d+\.\d+\.\d+((-|\.)(pre|rc\d))?(-ee)?)?)?
 * so "1740143717", "1740143717_2025_02_21" and
 * "1740143717_2025_02_21_17.8.2-rc1-ee" pass, "..._17.8.2-ce" does not.
 * unix_time (may be NULL) gets the leading 10 digits; version (may be
 * NULL) gets the version part or "" when the id has none.
 */
int backup_id_parse(const char *id, int64_t *unix_time, char *version,
                    size_t vlen);

/*
 * backup_information.yml, exactly as GitLab 17.8's Rake backup writes it.
 * Values must be printable ASCII. *out is malloc'd, NUL-terminated.
 */
int backup_meta_yml(const struct backup_meta *m, char **out);

/*
 * One top-level line ":<key>: <value>\n" with the quoting and line
 * folding Psych + libyaml give a String value. Exposed for tests.
 */
int backup_yml_scalar(const char *key, const char *value, char *out,
                      size_t outlen);

/* backup_information.json as gitlab-backup-cli writes it (no trailing
 * newline). *out is malloc'd. */
int backup_meta_json(const struct backup_meta *m, char **out);

/* Both files into dir, atomically: the yml 0644, the json 0600. */
int backup_meta_write_yml(const struct backup_meta *m, const char *dir);
int backup_meta_write_json(const struct backup_meta *m, const char *dir);

/*
 * Normalises a --skip list ("uploads,db") into GitLab's serialised order
 * ("db,uploads"), dropping duplicates and empty items. An unknown name
 * is LS_EINVAL with err naming every unknown one.
 */
int backup_skip_normalize(const char *csv, char *out, size_t outlen, char *err,
                          size_t errlen);

#endif
