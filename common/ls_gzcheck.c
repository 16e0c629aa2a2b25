#include "ls_gzcheck.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "ls_error.h"
#include "ls_util.h"

void ls_gzcheck_init(struct ls_gzcheck *g)
{
	g->crc = (uint32_t)crc32(0L, Z_NULL, 0);
	g->total = 0;
}

void ls_gzcheck_update(struct ls_gzcheck *g, const void *buf, size_t len)
{
	const Bytef *p = buf;

	g->total += len;
	/* crc32 takes a uInt length. */
	while (len > 0) {
		uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;

		g->crc = (uint32_t)crc32(g->crc, p, n);
		p += n;
		len -= n;
	}
}

static uint32_t le32(const uint8_t *t)
{
	return (uint32_t)t[0] | (uint32_t)t[1] << 8 | (uint32_t)t[2] << 16 |
	       (uint32_t)t[3] << 24;
}

int ls_gzcheck_trailer(const struct ls_gzcheck *g, const char *path, char *why,
                       size_t whylen)
{
	uint8_t t[8];
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rv;

	/* 18 bytes: the smallest gzip file (header, empty block, trailer). */
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size < 18 ||
	    pread(fd, t, sizeof(t), st.st_size - 8) != 8) {
		(void)ls_fmt(why, whylen, "cannot read the gzip trailer: %s",
		             fd < 0 || errno ? strerror(errno) : "too short");
		rv = LS_EIO;
		goto out;
	}
	if (le32(t) != g->crc) {
		(void)ls_fmt(why, whylen,
		             "gzip CRC mismatch (corrupt, or several gzip "
		             "members)");
		rv = LS_EPROTO;
		goto out;
	}
	if (le32(t + 4) != (uint32_t)g->total) {
		(void)ls_fmt(why, whylen, "gzip length mismatch");
		rv = LS_EPROTO;
		goto out;
	}
	rv = 0;
out:
	if (fd >= 0)
		close(fd);
	return rv;
}
