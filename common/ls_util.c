#include "ls_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "ls_error.h"

size_t ls_strlcpy(char *dst, const char *src, size_t size)
{
	size_t n = strlen(src);

	if (size > 0) {
		size_t c = n >= size ? size - 1 : n;
		memcpy(dst, src, c);
		dst[c] = '\0';
	}
	return n;
}

int ls_fmt(char *dst, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(dst, size, fmt, ap);
	va_end(ap);
	if (n < 0)
		return LS_EINVAL;
	if ((size_t)n >= size)
		return LS_ETOOBIG;
	return 0;
}

int ls_read_file(const char *path, size_t max, char **out, size_t *len)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd, rv;

	*out = NULL;
	if (len)
		*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rv = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rv = LS_EINVAL;
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		rv = LS_ETOOBIG;
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		rv = LS_ENOMEM;
		goto out;
	}
	/* The file may grow while read: never read past what was sized. */
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rv = -errno;
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	*out = buf;
	buf = NULL;
	if (len)
		*len = got;
	rv = 0;
out:
	free(buf);
	close(fd);
	return rv;
}

int ls_write_all(int fd, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int ls_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	char tmp[LS_PATH_MAX], dir[LS_PATH_MAX];
	char *slash;
	int fd = -1, dfd = -1, rv;

	rv = ls_fmt(tmp, sizeof(tmp), "%s.tmp-XXXXXX", path);
	if (rv < 0)
		return rv;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, mode) < 0 || (rv = ls_write_all(fd, data, len)) < 0 ||
	    fsync(fd) < 0) {
		rv = rv < 0 ? rv : -errno;
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		rv = -errno;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		rv = -errno;
		goto fail;
	}
	ls_strlcpy(dir, path, sizeof(dir));
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
	else
		ls_strlcpy(dir, ".", sizeof(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return rv;
}

int ls_mkdirs(const char *path, mode_t mode)
{
	char buf[LS_PATH_MAX];
	char *p;

	if (ls_strlcpy(buf, path, sizeof(buf)) >= sizeof(buf))
		return LS_ETOOBIG;
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int ls_rmtree(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *de;
	char sub[LS_PATH_MAX];
	int rv = 0;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlink(path) < 0 ? -errno : 0;
	d = opendir(path);
	if (d == NULL)
		return -errno;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (ls_fmt(sub, sizeof(sub), "%s/%s", path, de->d_name) < 0) {
			rv = LS_ETOOBIG;
			continue;
		}
		int r = ls_rmtree(sub);
		if (r < 0)
			rv = r;
	}
	closedir(d);
	if (rmdir(path) < 0 && rv == 0)
		rv = -errno;
	return rv;
}

void ls_hex(char *out, const uint8_t *in, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int ls_unhex(uint8_t *out, size_t outlen, const char *in)
{
	size_t i, n = strlen(in);

	if (n != 2 * outlen)
		return LS_EINVAL;
	for (i = 0; i < outlen; i++) {
		int hi = hexval(in[2 * i]), lo = hexval(in[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return LS_EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return (int)outlen;
}

int ls_parse_int(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	if (s == NULL || *s == '\0')
		return LS_EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return LS_EINVAL;
	*out = v;
	return 0;
}

int64_t ls_now(void)
{
	return (int64_t)time(NULL);
}

int64_t ls_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ls_wipe(void *p, size_t len)
{
	if (p != NULL)
		sodium_memzero(p, len);
}

int ls_parse_duration_ms(const char *s, int64_t *out_ms)
{
	static const struct {
		const char *suffix;
		int64_t ms;
	} units[] = {{"ms", 1},      {"s", 1000},     {"m", 60000},
	             {"h", 3600000}, {"d", 86400000}, {"", 1000}};
	char *end;
	long long v;
	size_t i;

	if (s == NULL || *s < '0' || *s > '9')
		return LS_EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || v <= 0)
		return LS_EINVAL;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].suffix) != 0)
			continue;
		if (v > INT64_MAX / units[i].ms)
			return LS_EINVAL;
		*out_ms = (int64_t)v * units[i].ms;
		return 0;
	}
	return LS_EINVAL;
}

int ls_node_name_valid(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n > 63)
		return LS_EINVAL;
	for (i = 0; i < n; i++) {
		char c = name[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		         (i > 0 && (c == '.' || c == '_' || c == '-'));
		if (!ok)
			return LS_EINVAL;
	}
	return 0;
}

void ls_names_free(char **names, size_t n)
{
	size_t i;

	for (i = 0; names != NULL && i < n; i++)
		free(names[i]);
	free(names);
}

static int names_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int ls_dir_names(int dirfd, int (*keep)(void *arg, const char *name), void *arg,
                 int sort, char ***names, size_t *n)
{
	size_t cap = 0;
	struct dirent *de;
	DIR *d = NULL;
	int fd, rv = 0;

	*names = NULL;
	*n = 0;
	if ((fd = dup(dirfd)) < 0 || (d = fdopendir(fd)) == NULL) {
		rv = -errno;
		if (fd >= 0)
			close(fd);
		goto out;
	}
	/* The dup shares the offset of a descriptor that may have been
	 * read before. */
	rewinddir(d);
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL) {
			rv = -errno;
			break;
		}
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    (keep != NULL && !keep(arg, de->d_name)))
			continue;
		if ((rv = ls_names_push(names, n, &cap, de->d_name)) < 0)
			break;
	}
	if (rv == 0 && sort && *n > 1)
		qsort(*names, *n, sizeof(**names), names_cmp);
out:
	if (d != NULL)
		closedir(d);
	if (rv < 0) {
		ls_names_free(*names, *n);
		*names = NULL;
		*n = 0;
	}
	return rv;
}

int ls_names_push(char ***names, size_t *n, size_t *cap, const char *s)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		char **nn = realloc(*names, nc * sizeof(*nn));
		if (nn == NULL)
			return LS_ENOMEM;
		*names = nn;
		*cap = nc;
	}
	if (((*names)[*n] = strdup(s)) == NULL)
		return LS_ENOMEM;
	(*n)++;
	return 0;
}
