#include "ls_frame.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include "ls_error.h"
#include "ls_util.h"

int ls_frame_write(int fd, const uint8_t *data, size_t len)
{
	uint8_t hdr[4];
	int rv;

	if (len > LS_FRAME_MAX)
		return LS_ETOOBIG;
	hdr[0] = (uint8_t)(len >> 24);
	hdr[1] = (uint8_t)(len >> 16);
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
	if ((rv = ls_write_all(fd, hdr, 4)) < 0)
		return rv;
	return ls_write_all(fd, data, len);
}

static int read_exact(int fd, uint8_t *p, size_t len, int64_t deadline)
{
	while (len > 0) {
		struct pollfd pfd = {fd, POLLIN, 0};
		int wait = -1;
		ssize_t n;

		if (deadline) {
			int64_t left = deadline - ls_mono_ms();
			if (left <= 0)
				return LS_ETIMEDOUT;
			wait = left > 1000 ? 1000 : (int)left;
		}
		n = poll(&pfd, 1, wait);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			continue;
		n = read(fd, p, len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return LS_EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int ls_frame_read(int fd, int timeout_ms, uint8_t **buf, size_t *len)
{
	int64_t deadline = timeout_ms > 0 ? ls_mono_ms() + timeout_ms : 0;
	uint8_t hdr[4];
	size_t n;
	int rv;

	*buf = NULL;
	*len = 0;
	if ((rv = read_exact(fd, hdr, 4, deadline)) < 0)
		return rv;
	n = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 |
	    hdr[3];
	if (n > LS_FRAME_MAX)
		return LS_ETOOBIG;
	if ((*buf = malloc(n ? n : 1)) == NULL)
		return LS_ENOMEM;
	if ((rv = read_exact(fd, *buf, n, deadline)) < 0) {
		free(*buf);
		*buf = NULL;
		return rv;
	}
	*len = n;
	return 0;
}
