#include "ls_afile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "ls_error.h"
#include "ls_util.h"

struct ls_afile {
	int fd;
	char path[LS_PATH_MAX];
	char tmp[LS_PATH_MAX];
	EVP_MD_CTX *md;
	uint64_t size;
};

int ls_afile_open(struct ls_afile **fp, const char *path, mode_t mode)
{
	struct ls_afile *f;
	char dir[LS_PATH_MAX], *slash;
	int rv;

	*fp = NULL;
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return LS_ENOMEM;
	f->fd = -1;
	if (ls_strlcpy(f->path, path, sizeof(f->path)) >= sizeof(f->path) ||
	    (rv = ls_fmt(f->tmp, sizeof(f->tmp), "%s.tmp-XXXXXX", path)) < 0) {
		free(f);
		return LS_ETOOBIG;
	}
	ls_strlcpy(dir, path, sizeof(dir));
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		if ((rv = ls_mkdirs(dir, 0700)) < 0) {
			free(f);
			return rv;
		}
	}
	if ((f->md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(f->md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(f->md);
		free(f);
		return LS_ECRYPTO;
	}
	if ((f->fd = mkostemp(f->tmp, O_CLOEXEC)) < 0 ||
	    fchmod(f->fd, mode) < 0) {
		rv = -errno;
		ls_afile_abort(f);
		return rv;
	}
	*fp = f;
	return 0;
}

int ls_afile_write(struct ls_afile *f, const void *data, size_t len)
{
	int rv = ls_write_all(f->fd, data, len);

	if (rv < 0)
		return rv;
	EVP_DigestUpdate(f->md, data, len);
	f->size += len;
	return 0;
}

int ls_afile_fd(const struct ls_afile *f)
{
	return f->fd;
}

int ls_afile_absorb(struct ls_afile *f)
{
	uint8_t buf[65536];
	ssize_t n;

	if (EVP_DigestInit_ex(f->md, EVP_sha256(), NULL) != 1)
		return LS_ECRYPTO;
	f->size = 0;
	if (lseek(f->fd, 0, SEEK_SET) < 0)
		return -errno;
	while ((n = read(f->fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		EVP_DigestUpdate(f->md, buf, (size_t)n);
		f->size += (uint64_t)n;
	}
	return 0;
}

int ls_afile_commit(struct ls_afile *f, uint64_t *size, uint8_t sha256[32])
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char dir[LS_PATH_MAX], *slash;
	int dfd, rv;

	if (fsync(f->fd) < 0) {
		rv = -errno;
		goto fail;
	}
	if (close(f->fd) < 0) {
		f->fd = -1;
		rv = -errno;
		goto fail;
	}
	f->fd = -1;
	if (EVP_DigestFinal_ex(f->md, md, &mdlen) != 1 || mdlen != 32) {
		rv = LS_ECRYPTO;
		goto fail;
	}
	if (rename(f->tmp, f->path) < 0) {
		rv = -errno;
		goto fail;
	}
	ls_strlcpy(dir, f->path, sizeof(dir));
	if ((slash = strrchr(dir, '/')) != NULL) {
		*slash = '\0';
		if ((dfd = open(dir[0] ? dir : "/",
				O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
	if (size)
		*size = f->size;
	if (sha256)
		memcpy(sha256, md, 32);
	EVP_MD_CTX_free(f->md);
	free(f);
	return 0;
fail:
	ls_afile_abort(f);
	return rv;
}

void ls_afile_abort(struct ls_afile *f)
{
	if (f == NULL)
		return;
	if (f->fd >= 0)
		close(f->fd);
	if (f->tmp[0] != '\0')
		unlink(f->tmp);
	EVP_MD_CTX_free(f->md);
	free(f);
}

int ls_sha256_file(const char *path, uint64_t *size, uint8_t sha256[32])
{
	uint8_t buf[65536];
	unsigned int mdlen = 0;
	EVP_MD_CTX *md;
	uint64_t total = 0;
	ssize_t n;
	int fd, rv = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		rv = LS_ECRYPTO;
		goto out;
	}
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rv = -errno;
			goto out;
		}
		EVP_DigestUpdate(md, buf, (size_t)n);
		total += (uint64_t)n;
	}
	if (EVP_DigestFinal_ex(md, sha256, &mdlen) != 1 || mdlen != 32)
		rv = LS_ECRYPTO;
	if (size)
		*size = total;
out:
	EVP_MD_CTX_free(md);
	close(fd);
	return rv;
}
