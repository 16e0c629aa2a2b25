/* A fleet backup in progress (coord_backup.c, coord_backup_seal.c). */
#ifndef COORD_BACKUP_H
#define COORD_BACKUP_H

#include <pthread.h>
#include <stdint.h>

#include "coord_catalog.h"
#include "coord_state.h"

#define BK_MAX_COMPONENTS 16

enum bk_phase {
	BK_PREFLIGHT,
	BK_FREEZE,
	BK_CUT,
	BK_THAW,
	BK_COPY,
	BK_SEAL,
	BK_RELEASE,
	BK_DONE,
};

struct bk_node {
	struct coord_node *node;
	int database, repositories;
	int freezer; /* the rails node whose API sets maintenance mode */
	int redis;   /* BGSAVE here (coordinator.yml backup_redis) */
	const char *components[BK_MAX_COMPONENTS];
	size_t ncomponents;
	const char *phase; /* waiting, cut, copied, failed, released */
	char error[512];
	Ls__BackupCutResult *cut;
	Ls__BackupCopyResult *copy;
};

struct coord_backup {
	char id[128];
	char version[64];  /* GitLab version as in the id: 17.8.2-ee */
	char dest[4096];   /* <store>/<id> */
	char skipped[256]; /* GitLab's order, comma-separated */
	uint8_t backup_pk[32];
	uint32_t compression;
	int allow_partial;
	enum bk_phase phase;
	enum bk_phase logged_phase; /* phase_start_us is when it began */
	int64_t phase_start_us;
	int failed;
	char reason[1024];
	int64_t created_at;
	int64_t freeze_start_us, thaw_us;
	int frozen; /* maintenance mode is on because of this backup */
	int was_on; /* it was on before: leave it on */
	int thawed;
	/* The release runs beside the seal: b is freed once both are done. */
	int sealing, releasing;
	int64_t release_start_us;
	uint32_t lease_ms, sidekiq_wait_ms;
	uint32_t cut_ms; /* the cut's deadline, told to the nodes */
	char message[512];
	uint64_t size;
	uint32_t nartifacts;
	struct bk_node *nodes;
	size_t nnodes;
};

/* Seal (coord_backup_seal.c): verify every artifact, write GitLab's
 * metadata files and the signed manifest. Runs without c->mtx. */
int coord_backup_seal(struct coord *c, struct coord_backup *b, uint64_t *size,
                      uint32_t *nartifacts, char *err, size_t errlen);

const char *coord_backup_phase_name(enum bk_phase p);

/* Internal to the backup run (coord_backup.c, coord_backup_freeze.c);
 * caller holds c->mtx. */
typedef void (*build_op_fn)(struct coord_backup *b, struct bk_node *bn,
                            Ls__Operation *op, void *scratch);
/* One operation per node of b (those for which wanted() holds, if given). */
int coord_bk_fan_out(struct coord *c, struct coord_backup *b, int64_t timeout,
                     coord_waiter_done_fn done, build_op_fn build,
                     int (*wanted)(const struct bk_node *));
/* Node i's result in w, or NULL with why naming the node. */
const Ls__OpResult *coord_bk_result_of(const struct coord_waiter *w, size_t i,
                                       const struct bk_node *bn, char *why,
                                       size_t len);
/* Records the first failure; the run goes on to thaw and release. */
void coord_bk_fail(struct coord *c, struct coord_backup *b, const char *fmt,
                   ...) __attribute__((format(printf, 3, 4)));
/* Writes b's state into the catalog. */
void coord_bk_record(struct coord *c, struct coord_backup *b,
                     int (*fn)(sqlite3 *, const Ls__BackupInfo *));
void coord_bk_cut(struct coord *c, struct coord_backup *b);
void coord_bk_copy(struct coord *c, struct coord_backup *b);
void coord_bk_release(struct coord *c, struct coord_backup *b);
/* coord_backup_plan.c */
/* Whether name is in b's skip list. */
int coord_bk_skipped(const struct coord_backup *b, const char *name);
/* Picks what each connected node backs up; every node is preflighted. */
int coord_bk_plan_nodes(struct coord *c, struct coord_backup *b, char *err,
                        size_t errlen);
/* Every node must run the same GitLab: GitLab restores only onto its own
 * exact version. Sets b->version. */
int coord_bk_fleet_version(struct coord *c, struct coord_backup *b, char *err,
                           size_t errlen);
/* Adds bn's components that have no archive (absent, or in object
 * storage) to b->skipped. */
void coord_bk_skip_absent(struct coord_backup *b, const struct bk_node *bn);
/* coord_backup_freeze.c */
void coord_bk_freeze(struct coord *c, struct coord_backup *b);
void coord_bk_thaw_then_copy(struct coord *c, struct coord_backup *b);
void coord_bk_thaw_then_release(struct coord *c, struct coord_backup *b);

#endif
