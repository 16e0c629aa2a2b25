/* The copy: pg_dump --snapshot streamed through libarchive into an artifact.
 */
#include "backup_pg.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "backup_pg_rows.h"
#include "ls_afile.h"
#include "ls_error.h"
#include "ls_exec.h"
#include "ls_util.h"

#define BACKUP_PG_DUMP_PW_MAX 1024
#define BACKUP_PG_DUMP_CONNINFO_MAX 8192
#define BACKUP_PG_DUMP_CHUNK (256 * 1024)
/* pg_dump writes in small pieces: a deeper pipe lets it run ahead instead
 * of waiting for each read. */
#define BACKUP_PG_DUMP_PIPE (1024 * 1024)
#define BACKUP_PG_DUMP_STDERR_MAX 65536
#define BACKUP_PG_DUMP_PROGRESS_MS 250
/* pg_dump has closed its stdout: it only has to exit. */
#define BACKUP_PG_DUMP_EXIT_MS 60000
#define BACKUP_PG_SNAPSHOT_MAX 64

struct backup_pg_sink {
	struct ls_afile *f;
	int err;
};

struct backup_pg_job {
	char conninfo[BACKUP_PG_DUMP_CONNINFO_MAX];
	char pw[BACKUP_PG_DUMP_PW_MAX];
	char pwenv[BACKUP_PG_DUMP_PW_MAX + 16];
	char snaparg[BACKUP_PG_SNAPSHOT_MAX + 16];
	uint8_t buf[BACKUP_PG_DUMP_CHUNK];
};

/* Exported snapshot ids are hex words and dashes ("00000003-0000001B-1"):
 * anything else is not one, and must not reach pg_dump's argv. */
static int backup_pg_snapshot_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	return n > 0 && n <= BACKUP_PG_SNAPSHOT_MAX &&
	       strspn(s, "0123456789abcdefABCDEF-") == n;
}

/* pg_dump ends with "pg_dump: error: ..." and may add a "detail:" or
 * "hint:" line after it: the error line says what went wrong. */
static void backup_pg_dump_reason(const char *text, char *buf, size_t size)
{
	const char *p = text ? text : "", *best = NULL, *last = NULL, *eol;
	size_t n;

	for (; *p != '\0'; p = *eol ? eol + 1 : eol) {
		eol = p + strcspn(p, "\n");
		if (eol == p)
			continue;
		last = p;
		if (memmem(p, (size_t)(eol - p), "error:", 6) != NULL)
			best = p;
	}
	if (best == NULL)
		best = last;
	if (best == NULL) {
		ls_strlcpy(buf, "no message", size);
		return;
	}
	n = strcspn(best, "\n");
	if (n >= size)
		n = size - 1;
	memcpy(buf, best, n);
	buf[n] = '\0';
}

static la_ssize_t backup_pg_sink_write(struct archive *a, void *data,
                                       const void *buf, size_t len)
{
	struct backup_pg_sink *s = data;
	int rv = ls_afile_write(s->f, buf, len);

	if (rv < 0) {
		s->err = rv;
		archive_set_error(a, EIO, "%s", ls_strerror(rv));
		return -1;
	}
	return (la_ssize_t)len;
}

/* A raw-format archive (one nameless stream, no container) through the
 * chosen filter, written to s. */
static int backup_pg_archive_open(struct archive **ap, struct backup_pg_sink *s,
                                  enum backup_compression comp, char *err,
                                  size_t errlen)
{
	struct archive *a;
	int rv;

	if ((*ap = a = archive_write_new()) == NULL) {
		backup_pg_seterr(err, errlen, NULL, "out of memory");
		return LS_ENOMEM;
	}
	if (comp == BACKUP_ZSTD)
		rv = archive_write_add_filter_zstd(a) != ARCHIVE_OK ||
		     archive_write_set_filter_option(
		         a, "zstd", "compression-level", "1") != ARCHIVE_OK;
	else if (comp == BACKUP_GZIP)
		rv = archive_write_add_filter_gzip(a) != ARCHIVE_OK ||
		     archive_write_set_filter_option(
		         a, "gzip", "compression-level", "1") != ARCHIVE_OK;
	else
		rv = 1;
	/* Blocking would pad the last block with zeros after the
	 * compressed stream: write through unblocked. */
	if (rv || archive_write_set_format_raw(a) != ARCHIVE_OK ||
	    archive_write_set_bytes_per_block(a, 0) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK) {
		backup_pg_seterr(err, errlen, NULL, "compression setup: %s",
		                 archive_error_string(a)
		                     ? archive_error_string(a)
		                     : "unsupported compression");
		return LS_EINVAL;
	}
	/* Faster on a multi-core node; a libzstd without threads refuses
	 * the option and still compresses. */
	if (comp == BACKUP_ZSTD)
		(void)archive_write_set_filter_option(a, "zstd", "threads",
		                                      "2");
	if (archive_write_open2(a, s, NULL, backup_pg_sink_write, NULL, NULL) !=
	    ARCHIVE_OK) {
		backup_pg_seterr(err, errlen, NULL, "compression start: %s",
		                 archive_error_string(a));
		return s->err < 0 ? s->err : LS_EIO;
	}
	return 0;
}

static int backup_pg_archive_entry(struct archive *a, char *err, size_t errlen)
{
	struct archive_entry *e = archive_entry_new();
	int rv = 0;

	if (e == NULL) {
		backup_pg_seterr(err, errlen, NULL, "out of memory");
		return LS_ENOMEM;
	}
	archive_entry_set_pathname(e, "database.sql");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0600);
	if (archive_write_header(a, e) != ARCHIVE_OK) {
		backup_pg_seterr(err, errlen, NULL, "compression header: %s",
		                 archive_error_string(a));
		rv = LS_EIO;
	}
	archive_entry_free(e);
	return rv;
}

int backup_pg_dump(const char *pg_dump, const char *conninfo,
                   const char *snapshot, const char *dest_path,
                   enum backup_compression comp, backup_progress_fn progress,
                   void *arg, struct backup_pg_rows *rows, uint64_t *size,
                   uint8_t sha256[32], char *err, size_t errlen)
{
	const char *argv[10], *envp[5];
	struct backup_pg_sink sink = {NULL, 0};
	struct backup_pg_job *j = NULL;
	struct ls_exec_opts o;
	struct ls_exec_result res;
	struct ls_proc p = {-1, -1, -1, -1};
	struct archive *a = NULL;
	char why[512];
	uint64_t total = 0;
	int64_t last, now;
	ssize_t n;
	int rv;

	memset(&res, 0, sizeof(res));
	if (pg_dump == NULL || pg_dump[0] != '/' || dest_path == NULL ||
	    conninfo == NULL) {
		backup_pg_seterr(err, errlen, NULL,
		                 "backup_pg_dump: bad call (pg_dump must be "
		                 "an absolute path)");
		rv = LS_EINVAL;
		goto out;
	}
	if (!backup_pg_snapshot_ok(snapshot)) {
		backup_pg_seterr(err, errlen, NULL,
		                 "'%s' is not an exported snapshot id",
		                 snapshot ? snapshot : "(null)");
		rv = LS_EINVAL;
		goto out;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		backup_pg_seterr(err, errlen, NULL, "out of memory");
		rv = LS_ENOMEM;
		goto out;
	}
	if ((rv = backup_pg_conninfo_split(conninfo, j->conninfo,
	                                   sizeof(j->conninfo) - 32, j->pw,
	                                   sizeof(j->pw), err, errlen)) < 0)
		goto out;
	/* A later keyword wins in a conninfo: this bounds pg_dump's connect
	 * like the hold's. The 32 bytes were kept for it. */
	{
		size_t used = strlen(j->conninfo);

		if ((rv = ls_fmt(j->conninfo + used, sizeof(j->conninfo) - used,
		                 "%sconnect_timeout=10", used ? " " : "")) < 0)
			goto out;
	}
	/* The password stays out of argv (world-readable in /proc) and goes
	 * where only this user can read it. */
	if ((rv = ls_fmt(j->pwenv, sizeof(j->pwenv), "PGPASSWORD=%s", j->pw)) <
	        0 ||
	    (rv = ls_fmt(j->snaparg, sizeof(j->snaparg), "--snapshot=%s",
	                 snapshot)) < 0) {
		backup_pg_seterr(err, errlen, NULL, "argument too long");
		goto out;
	}
	argv[0] = pg_dump;
	argv[1] = "--clean";
	argv[2] = "--if-exists";
	argv[3] = "--no-password";
	argv[4] = j->snaparg;
	argv[5] = "-d";
	argv[6] = j->conninfo;
	argv[7] = NULL;
	envp[0] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
	envp[1] = "LANG=C";
	envp[2] = "LC_ALL=C";
	envp[3] = j->pw[0] ? j->pwenv : NULL;
	envp[4] = NULL;

	if ((rv = ls_afile_open(&sink.f, dest_path, 0600)) < 0) {
		backup_pg_seterr(err, errlen, NULL, "%s: %s", dest_path,
		                 ls_strerror(rv));
		goto out;
	}
	if ((rv = backup_pg_archive_open(&a, &sink, comp, err, errlen)) < 0 ||
	    (rv = backup_pg_archive_entry(a, err, errlen)) < 0)
		goto out;
	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.envp = envp;
	if ((rv = ls_exec_spawn(&o, 0, -1, &p)) < 0) {
		backup_pg_seterr(err, errlen, NULL, "cannot run %s: %s",
		                 pg_dump, ls_strerror(rv));
		goto out;
	}
	/* Best effort: capped by /proc/sys/fs/pipe-max-size. */
	(void)fcntl(p.out_fd, F_SETPIPE_SZ, BACKUP_PG_DUMP_PIPE);
	last = ls_mono_ms() - BACKUP_PG_DUMP_PROGRESS_MS;
	for (;;) {
		n = read(p.out_fd, j->buf, sizeof(j->buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rv = -errno;
			backup_pg_seterr(err, errlen, NULL,
			                 "reading pg_dump's output: %s",
			                 strerror(-rv));
			goto out;
		}
		if (n == 0)
			break;
		if (archive_write_data(a, j->buf, (size_t)n) != n) {
			rv = sink.err < 0 ? sink.err : LS_EIO;
			backup_pg_seterr(err, errlen, NULL, "writing %s: %s",
			                 dest_path, archive_error_string(a));
			goto out;
		}
		/* Once void (backup_pg_rows_why), the counts stay void. */
		if (rows != NULL &&
		    backup_pg_rows_feed(rows, j->buf, (size_t)n) < 0)
			rows = NULL;
		total += (uint64_t)n;
		now = ls_mono_ms();
		if (progress != NULL &&
		    now - last >= BACKUP_PG_DUMP_PROGRESS_MS) {
			progress(arg, "db", total, 0, 0);
			last = now;
		}
	}
	rv = ls_exec_wait(&p, BACKUP_PG_DUMP_EXIT_MS, BACKUP_PG_DUMP_STDERR_MAX,
	                  &res);
	if (rv < 0 || !res.exited || res.status != 0) {
		backup_pg_dump_reason(res.err, why, sizeof(why));
		if (rv < 0)
			backup_pg_seterr(err, errlen, j->pw,
			                 "pg_dump did not exit: %s",
			                 ls_strerror(rv));
		else if (!res.exited)
			backup_pg_seterr(err, errlen, j->pw,
			                 "pg_dump killed by signal %d: %s",
			                 res.status, why);
		else
			backup_pg_seterr(err, errlen, j->pw,
			                 "pg_dump failed (exit %d): %s",
			                 res.status, why);
		rv = rv < 0 ? rv : LS_ECHILD;
		goto out;
	}
	if (archive_write_close(a) != ARCHIVE_OK) {
		rv = sink.err < 0 ? sink.err : LS_EIO;
		backup_pg_seterr(err, errlen, NULL, "writing %s: %s", dest_path,
		                 archive_error_string(a));
		goto out;
	}
	if ((rv = ls_afile_commit(sink.f, size, sha256)) < 0) {
		sink.f = NULL;
		backup_pg_seterr(err, errlen, NULL, "%s: %s", dest_path,
		                 ls_strerror(rv));
		goto out;
	}
	sink.f = NULL;
	rv = 0;
out:
	ls_exec_kill(&p);
	ls_exec_result_free(&res);
	/* Freeing closes the writer, which may still write into the temp
	 * file: do it before that file is removed. */
	if (a != NULL)
		archive_write_free(a);
	ls_afile_abort(sink.f);
	if (j != NULL) {
		ls_wipe(j->pw, sizeof(j->pw));
		ls_wipe(j->pwenv, sizeof(j->pwenv));
		ls_wipe(j->conninfo, sizeof(j->conninfo));
		free(j);
	}
	return rv;
}
