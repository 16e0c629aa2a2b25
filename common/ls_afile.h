/*
 * Writing a backup artifact: a temporary file beside the target, SHA-256
 * computed on the way, fsync, rename, fsync of the directory. An artifact
 * is whole under its name or absent.
 */
#ifndef LS_AFILE_H
#define LS_AFILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ls_afile;

/* Creates missing parent directories (0700). */
int ls_afile_open(struct ls_afile **f, const char *path, mode_t mode);
int ls_afile_write(struct ls_afile *f, const void *data, size_t len);
/* The temporary file's descriptor, for a child to write into directly;
 * call ls_afile_absorb afterwards so that size and hash cover it. */
int ls_afile_fd(const struct ls_afile *f);
int ls_afile_absorb(struct ls_afile *f);
/*
 * fsync, rename into place, fsync the directory. size and sha256 (may be
 * NULL) receive the artifact's. Frees f whatever the outcome; on failure
 * the temporary file is removed.
 */
int ls_afile_commit(struct ls_afile *f, uint64_t *size, uint8_t sha256[32]);
/* Removes the temporary file and frees f; NULL-safe. */
void ls_afile_abort(struct ls_afile *f);

/* SHA-256 and size of an existing file. */
int ls_sha256_file(const char *path, uint64_t *size, uint8_t sha256[32]);

#endif
