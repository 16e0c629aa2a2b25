/*
 * The gzip trailer check libarchive 3.6 leaves out: its gzip reader
 * verifies neither the CRC-32 nor the length at the end of the stream,
 * where `gzip -d` (GitLab's restore) fails on a mismatch. Fed what was
 * decompressed, this compares with the file's trailer. Lockstep, `gzip -1`
 * and pigz write one gzip member: a multi-member file fails the check.
 */
#ifndef LS_GZCHECK_H
#define LS_GZCHECK_H

#include <stddef.h>
#include <stdint.h>

struct ls_gzcheck {
	uint32_t crc;
	uint64_t total;
};

void ls_gzcheck_init(struct ls_gzcheck *g);
/* Decompressed bytes, in order. */
void ls_gzcheck_update(struct ls_gzcheck *g, const void *buf, size_t len);
/* 0 when the last 8 bytes of path hold g's CRC-32 and length mod 2^32;
 * LS_EPROTO (mismatch) or LS_EIO, with why ("gzip CRC mismatch"...). */
int ls_gzcheck_trailer(const struct ls_gzcheck *g, const char *path, char *why,
                       size_t whylen);

#endif
