/*
 * The Redis part of a backup's copy: the RDB the cut kept, compressed into
 * the store (backup_redis.h).
 */
#include "backup_redis.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "ls_afile.h"
#include "ls_error.h"
#include "ls_util.h"

#define BACKUP_REDIS_BUF 65536
#define BACKUP_REDIS_PROGRESS_MS 250

int backup_redis_relpath(const char *node, char *out, size_t len)
{
	if (node == NULL || ls_node_name_valid(node) < 0)
		return LS_EINVAL;
	return ls_fmt(out, len, "lockstep/redis/%s/dump.rdb.gz", node);
}

struct backup_redis_sink {
	struct ls_afile *f;
	int err;
};

static la_ssize_t backup_redis_write_cb(struct archive *a, void *data,
                                        const void *buf, size_t len)
{
	struct backup_redis_sink *s = data;
	int rv;

	if (s->f == NULL)
		return -1;
	if ((rv = ls_afile_write(s->f, buf, len)) < 0) {
		s->err = rv;
		archive_set_error(a, EIO, "%s", ls_strerror(rv));
		return -1;
	}
	return (la_ssize_t)len;
}

/* One nameless compressed stream (libarchive's raw format), written
 * unblocked: padding after a zstd frame would make it unreadable. */
static int backup_redis_archive(struct archive **ap,
                                struct backup_redis_sink *s,
                                enum backup_compression comp, uint64_t size,
                                char *err, size_t errlen)
{
	struct archive *a;
	struct archive_entry *e = NULL;
	int bad, rv = LS_EIO;

	if ((*ap = a = archive_write_new()) == NULL ||
	    (e = archive_entry_new()) == NULL) {
		snprintf(err, errlen, "redis: out of memory");
		return LS_ENOMEM;
	}
	if (comp == BACKUP_ZSTD)
		bad = archive_write_add_filter_zstd(a) != ARCHIVE_OK ||
		      archive_write_set_filter_option(
		          a, "zstd", "compression-level", "1") != ARCHIVE_OK;
	else
		bad = archive_write_add_filter_gzip(a) != ARCHIVE_OK ||
		      archive_write_set_filter_option(
		          a, "gzip", "compression-level", "1") != ARCHIVE_OK;
	if (bad || archive_write_set_format_raw(a) != ARCHIVE_OK ||
	    archive_write_set_bytes_per_block(a, 0) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK) {
		snprintf(err, errlen, "redis: compression setup: %s",
		         archive_error_string(a) ? archive_error_string(a)
		                                 : "unsupported compression");
		goto out;
	}
	/* As for the other components: at most two threads, since GitLab is
	 * serving while we copy; a libzstd without threads still works. */
	if (comp == BACKUP_ZSTD)
		(void)archive_write_set_filter_option(a, "zstd", "threads",
		                                      "2");
	if (archive_write_open2(a, s, NULL, backup_redis_write_cb, NULL,
	                        NULL) != ARCHIVE_OK) {
		snprintf(err, errlen, "redis: compression start: %s",
		         archive_error_string(a) ? archive_error_string(a)
		                                 : "failed");
		rv = s->err < 0 ? s->err : LS_EIO;
		goto out;
	}
	archive_entry_set_pathname(e, "dump.rdb");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0600);
	archive_entry_set_size(e, (la_int64_t)size);
	if (archive_write_header(a, e) != ARCHIVE_OK) {
		snprintf(err, errlen, "redis: compression header: %s",
		         archive_error_string(a) ? archive_error_string(a)
		                                 : "failed");
		goto out;
	}
	rv = 0;
out:
	archive_entry_free(e);
	return rv;
}

int backup_redis_copy(const char *snap_path, const char *dest_path,
                      const char *relpath, enum backup_compression comp,
                      backup_progress_fn progress, void *arg,
                      struct backup_artifacts *out, char *err, size_t errlen)
{
	struct backup_redis_sink sink = {NULL, 0};
	struct archive *a = NULL;
	struct ls_afile *af;
	struct stat st;
	uint64_t left, done = 0, size = 0;
	uint8_t sha[32];
	char *buf = NULL;
	int64_t last = 0, now;
	ssize_t n;
	int fd = -1, rv = 0, committed = 0;

	if (errlen > 0)
		err[0] = '\0';
	if (snap_path == NULL || dest_path == NULL || relpath == NULL ||
	    (comp != BACKUP_GZIP && comp != BACKUP_ZSTD)) {
		snprintf(err, errlen, "redis: bad call (paths, compression)");
		return LS_EINVAL;
	}
	if ((fd = open(snap_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0 ||
	    fstat(fd, &st) < 0) {
		rv = -errno;
		snprintf(err, errlen, "redis: opening snapshot %s: %s",
		         snap_path, ls_strerror(rv));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rv = LS_EINVAL;
		snprintf(err, errlen, "redis: snapshot %s is not a file",
		         snap_path);
		goto out;
	}
	if ((buf = malloc(BACKUP_REDIS_BUF)) == NULL) {
		rv = LS_ENOMEM;
		snprintf(err, errlen, "redis: out of memory");
		goto out;
	}
	if ((rv = ls_afile_open(&sink.f, dest_path, 0600)) < 0) {
		snprintf(err, errlen, "redis: creating %s: %s", dest_path,
		         ls_strerror(rv));
		goto out;
	}
	if ((rv = backup_redis_archive(&a, &sink, comp, (uint64_t)st.st_size,
	                               err, errlen)) < 0)
		goto out;
	/* The snapshot is the cut's inode, never written again: its size
	 * at open bounds the read. */
	for (left = (uint64_t)st.st_size; left > 0;) {
		n = read(fd, buf,
		         left < BACKUP_REDIS_BUF ? (size_t)left
		                                 : BACKUP_REDIS_BUF);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rv = n < 0 ? -errno : LS_EIO;
			snprintf(err, errlen, "redis: reading %s: %s",
			         snap_path,
			         n < 0 ? ls_strerror(rv) : "it shrank");
			goto out;
		}
		if (archive_write_data(a, buf, (size_t)n) != n) {
			rv = sink.err < 0 ? sink.err : LS_EIO;
			snprintf(
			    err, errlen, "redis: writing %s: %s", dest_path,
			    archive_error_string(a) ? archive_error_string(a)
			                            : ls_strerror(rv));
			goto out;
		}
		left -= (uint64_t)n;
		done += (uint64_t)n;
		now = ls_mono_ms();
		if (progress != NULL &&
		    now - last >= BACKUP_REDIS_PROGRESS_MS) {
			progress(arg, "redis", done, 0, 0);
			last = now;
		}
	}
	if (archive_write_close(a) != ARCHIVE_OK) {
		rv = sink.err < 0 ? sink.err : LS_EIO;
		snprintf(err, errlen, "redis: finishing %s: %s", dest_path,
		         archive_error_string(a) ? archive_error_string(a)
		                                 : ls_strerror(rv));
		goto out;
	}
	rv = ls_afile_commit(sink.f, &size, sha);
	sink.f = NULL;
	if (rv < 0) {
		snprintf(err, errlen, "redis: writing %s: %s", dest_path,
		         ls_strerror(rv));
		goto out;
	}
	committed = 1;
	if ((rv = backup_artifacts_add(out, "redis", relpath, size, sha)) < 0) {
		snprintf(err, errlen, "redis: recording %s: %s", relpath,
		         ls_strerror(rv));
		goto out;
	}
	if (progress != NULL)
		progress(arg, "redis", done, 0, 0);
out:
	/* Detach the file first: freeing a writer that is still open would
	 * write its trailer into a file about to be removed. */
	af = sink.f;
	sink.f = NULL;
	if (a != NULL)
		archive_write_free(a);
	ls_afile_abort(af);
	if (rv < 0 && committed)
		unlink(dest_path);
	if (fd >= 0)
		close(fd);
	free(buf);
	return rv;
}
