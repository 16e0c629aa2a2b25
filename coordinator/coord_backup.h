/* A fleet backup in progress (coord_backup.c, coord_backup_seal.c). */
#ifndef COORD_BACKUP_H
#define COORD_BACKUP_H

#include <pthread.h>
#include <stdint.h>

#include "coord_state.h"

#define BK_MAX_COMPONENTS 16

enum bk_phase {
	BK_PREFLIGHT,
	BK_CUT,
	BK_COPY,
	BK_SEAL,
	BK_RELEASE,
	BK_DONE,
};

struct bk_node {
	struct coord_node *node;
	int database, repositories;
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
	int failed;
	char reason[1024];
	int64_t created_at;
	int64_t freeze_start_us, thaw_us;
	uint64_t size;
	uint32_t nartifacts;
	struct bk_node *nodes;
	size_t nnodes;
};

/* Seal (coord_backup_seal.c): verify every artifact, write GitLab's
 * metadata files and the signed manifest. Runs without c->mtx. */
int coord_backup_seal(struct coord *c, struct coord_backup *b,
		      uint64_t *size, uint32_t *nartifacts, char *err,
		      size_t errlen);

const char *coord_backup_phase_name(enum bk_phase p);

#endif
