/*
 * Length-prefixed frames over pipes (agent <-> its backup session child):
 * a 4-byte big-endian length, then that many bytes. Every length is
 * checked against a cap before anything is allocated.
 */
#ifndef LS_FRAME_H
#define LS_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define LS_FRAME_MAX (16 * 1024 * 1024)

int ls_frame_write(int fd, const uint8_t *data, size_t len);
/*
 * Reads one frame; timeout_ms <= 0 waits forever. LS_ECLOSED-like EOF is
 * reported as LS_EIO with *buf NULL. Free *buf with free().
 */
int ls_frame_read(int fd, int timeout_ms, uint8_t **buf, size_t *len);

#endif
