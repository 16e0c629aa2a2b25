/*
 * Shared by exec_backup.c (the session: cut, release) and
 * exec_backup_copy.c (the copy); not part of the exec helper's API.
 */
#ifndef EXEC_BACKUP_INT_H
#define EXEC_BACKUP_INT_H

#include <pthread.h>
#include <stdint.h>

#include "agent_config.h"
#include "backup_pg.h"
#include "backup_redis.h"
#include "lockstep.pb-c.h"
#include "ls_util.h"

#define EXEC_BK_MAX_COMPONENTS 16
/* Where the Redis cut keeps its RDB, under the session's workdir. */
#define EXEC_BK_REDIS_SNAP "redis/dump.rdb"
/* db, repositories, every file component, redis, and room to grow. */
#define EXEC_BK_MAX_TASKS (EXEC_BK_MAX_COMPONENTS + 4)

/* One running copy step's latest progress, for the node's combined line. */
struct exec_bk_prog {
	char component[32];
	uint64_t bytes, done, total;
	int running;
};

struct session {
	const struct agent_config *cfg;
	char id[128];
	char workdir[LS_PATH_MAX];
	struct backup_pg_hold *pg, *pg_ci;
	char snapshot[128], ci_snapshot[128], lsn[64], db_version[32];
	int repos;
	char comps[EXEC_BK_MAX_COMPONENTS][32];
	uint64_t comp_bytes[EXEC_BK_MAX_COMPONENTS]; /* at the cut */
	size_t ncomps;
	int redis; /* the cut kept an RDB at EXEC_BK_REDIS_SNAP */
	struct backup_redis_cut redis_cut;
	Ls__RedisCut redis_msg; /* in the cut's answer; points into redis_cut */
	uint64_t op_id;         /* the operation being answered, for progress */
	char err[1024];
	/* Progress of concurrent copy steps: one frame writer at a time. */
	pthread_mutex_t prog_mtx;
	struct exec_bk_prog prog[EXEC_BK_MAX_TASKS];
	size_t nprog;
	int64_t prog_sent_ms;
};

/* What a copy hands back in its BackupCopyResult. */
struct exec_bk_copy_out {
	struct backup_artifacts *arts;
	struct ls_strlist *failed; /* repositories not backed up */
	Ls__TableCount **counts;   /* row counts at the cut */
	size_t ncounts;
	Ls__ComponentTiming items[EXEC_BK_MAX_TASKS + 1];
	Ls__ComponentTiming *ptrs[EXEC_BK_MAX_TASKS + 1];
	char names[EXEC_BK_MAX_TASKS + 1][32];
	size_t ntimings;
};

/* exec_backup_copy.c */
int exec_bk_copy(struct session *s, const Ls__BackupCopy *c,
                 struct exec_bk_copy_out *out);
void exec_bk_copy_out_free(struct exec_bk_copy_out *out);
/* Sends progress to the agent; safe from any thread. */
void exec_bk_progress(void *arg, const char *component, uint64_t bytes,
                      uint64_t done, uint64_t total);
/* exec_backup.c: seals this node's secrets and configuration. */
int exec_bk_seal_secrets(struct session *s, const Ls__BackupCopy *c,
                         struct backup_artifacts *arts);

#endif
