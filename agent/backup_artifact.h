/*
 * What a node's backup copy wrote: each artifact's path relative to the
 * backup directory, its component, size and SHA-256. The coordinator's
 * manifest is made of these.
 */
#ifndef BACKUP_ARTIFACT_H
#define BACKUP_ARTIFACT_H

#include <stddef.h>
#include <stdint.h>

enum backup_compression {
	BACKUP_GZIP = 0, /* gzip level 1, what GitLab writes */
	BACKUP_ZSTD = 1, /* zstd, same file names; restore detects either */
};

struct backup_artifact {
	char *component; /* db, repositories, uploads, ... */
	char *path;      /* relative to the backup directory */
	uint64_t size;
	uint8_t sha256[32];
};

struct backup_artifacts {
	struct backup_artifact *items;
	size_t n, cap;
};

/* Copies component and relpath. */
int backup_artifacts_add(struct backup_artifacts *a, const char *component,
			 const char *relpath, uint64_t size,
			 const uint8_t sha256[32]);
void backup_artifacts_free(struct backup_artifacts *a);

/*
 * Progress of a long copy, called from the copying thread(s) with a
 * component's running totals; may be called often (implementations
 * rate-limit). items_total is 0 when unknown.
 */
typedef void (*backup_progress_fn)(void *arg, const char *component,
				   uint64_t bytes_done, uint64_t items_done,
				   uint64_t items_total);

#endif
