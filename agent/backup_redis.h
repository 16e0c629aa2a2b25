/*
 * Redis in a fleet backup: Lockstep's own artifact, since GitLab's backup
 * never includes Redis (gitlab-facts §1). Off unless coordinator.yml sets
 * backup_redis.
 *
 * The cut, taken while GitLab is frozen, makes Redis fork a BGSAVE and
 * waits for it to finish, then hard-links the RDB it wrote into the node's
 * snapshot directory: Redis replaces dump.rdb by rename, never in place, so
 * the link keeps exactly the cut's file whatever Redis saves afterwards.
 * The copy, after the thaw, compresses that file into the backup as
 * lockstep/redis/<node>/dump.rdb.gz.
 */
#ifndef BACKUP_REDIS_H
#define BACKUP_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include "agent_config.h"
#include "backup_artifact.h"

struct backup_redis_cut {
	char address[512];       /* socket path or host:port, for messages */
	char redis_version[32];  /* INFO server redis_version; "" if absent */
	char rdb_source[4096];   /* the RDB file the snapshot was taken from */
	uint64_t rdb_bytes;      /* size of the snapshot's RDB */
	int64_t lastsave_before; /* LASTSAVE before the BGSAVE (unix s) */
	int64_t lastsave;        /* LASTSAVE of the save that was kept */
	uint64_t bgsave_ms;      /* BGSAVE sent to the save seen finished */
	int copied_fallback;     /* copied, not hard-linked (other filesystem,
	                            or hard links refused) */
};

/*
 * Connects to the node's Redis as check_redis does (agent.yml redis:
 * socket, or host and port; AUTH with password_file when set), reads
 * LASTSAVE and sends BGSAVE SCHEDULE. A save that is already running
 * started before the freeze: it is waited for and another BGSAVE sent. The
 * cut is done when INFO persistence shows rdb_bgsave_in_progress:0,
 * rdb_last_bgsave_status:ok and LASTSAVE has changed; a failed save or
 * timeout_ms passing fails it, naming the Redis address. The RDB file is
 * redis.rdb_path when agent.yml sets it, else CONFIG GET dir + dbfilename;
 * it must start with "REDIS". It is hard-linked to snap_path (parents
 * created 0700; snap_path must not exist), or copied when linking is not
 * possible (EXDEV, EPERM, EMLINK). On failure nothing is left at snap_path.
 */
int backup_redis_cut(const struct agent_config *cfg, const char *snap_path,
                     struct backup_redis_cut *out, int64_t timeout_ms,
                     char *err, size_t errlen);

/* "lockstep/redis/<node>/dump.rdb.gz": where a node's RDB goes in the
 * backup (the name stays .gz with zstd, as GitLab's names do). LS_EINVAL
 * for an invalid node name. */
int backup_redis_relpath(const char *node, char *out, size_t len);

/*
 * Compresses the cut's RDB (snap_path) into dest_path atomically (ls_afile:
 * temporary file, fsync, rename; mode 0600) with gzip level 1 or zstd
 * level 1, through libarchive, and appends the artifact (component
 * "redis", relpath, size, SHA-256) to out. progress (may be NULL) receives
 * ("redis", RDB bytes read, 0, 0) at most every 250 ms and once at the
 * end. On failure nothing is left at dest_path.
 */
int backup_redis_copy(const char *snap_path, const char *dest_path,
                      const char *relpath, enum backup_compression comp,
                      backup_progress_fn progress, void *arg,
                      struct backup_artifacts *out, char *err, size_t errlen);

#endif
