/*
 * Lockstep's manifest beside GitLab's files: lockstep/manifest.json and its
 * detached Ed25519 signature by the coordinator (hex, one line), which
 * `lockstep backup verify` checks. Shared by the seal of a fleet backup and
 * the import of a backup made by GitLab's own tools, so that both are
 * signed the same way.
 */
#ifndef BACKUP_MANIFEST_H
#define BACKUP_MANIFEST_H

#include <stdint.h>
#include <sys/types.h>

/* Manifest format written by both; readers refuse what they do not know. */
#define BACKUP_MANIFEST_FORMAT 1

/*
 * Writes text as dir/name atomically (missing directories made 0700) and
 * adds its size to *total.
 */
int backup_put_file(const char *dir, const char *name, const char *text,
                    mode_t mode, uint64_t *total);

/*
 * Signs manifest with sk (libsodium's 64-byte Ed25519 secret key) and
 * writes <dest>/lockstep/manifest.json and manifest.json.sig, both 0600,
 * adding their sizes to *total.
 */
int backup_manifest_put(const char *dest, const char *manifest,
                        const uint8_t *sk, uint64_t *total);

#endif
