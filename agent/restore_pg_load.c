/* The load: the dump decompressed by libarchive into psql's stdin, psql's
 * stderr judged as GitLab's restore judges it. */
#include "restore_pg.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>

#include "backup_pg.h"
#include "backup_pg_rows.h"
#include "ls_error.h"
#include "ls_exec.h"
#include "ls_gzcheck.h"
#include "ls_util.h"

#define RESTORE_PG_PW_MAX 1024
#define RESTORE_PG_CONNINFO_MAX 8192
#define RESTORE_PG_CHUNK (256 * 1024)
#define RESTORE_PG_PIPE (1024 * 1024)
#define RESTORE_PG_PROGRESS_MS 250
/* psql reads the next statement only when the last one is done, and one
 * post-data statement (an index build, a foreign key check on a large
 * table) can run a long time without reading anything: these bound a psql
 * that is wedged (waiting on a lock held elsewhere), not a slow one. */
#define RESTORE_PG_STALL_MS (60 * 60 * 1000)
#define RESTORE_PG_EXIT_MS (60 * 60 * 1000)
/* A longer stderr line is judged by its start and its end. */
#define RESTORE_PG_LINE_MAX 2048
#define RESTORE_PG_TAIL 32
/* How much of psql's rejected messages err quotes. */
#define RESTORE_PG_REPORT_MAX 1024
#define RESTORE_PG_REPORT_MSGS 3

/*
 * psql's stderr as GitLab reads it (lib/backup/targets/database.rb,
 * IGNORED_ERRORS): a line is tolerated when it contains "WARNING:", ends
 * with "does not exist" or contains "must be owner of". One difference: a
 * server message spans lines ("LINE 1: ...", the caret under it, DETAIL:,
 * HINT:, CONTEXT:), and those lines share the verdict of the line that
 * starts the message. GitLab judges them one by one, so every tolerated
 * "relation ... does not exist" also counts its own LINE and caret lines
 * as errors and the restore asks the operator what to do; an unattended
 * restore has nobody to ask.
 */
struct restore_pg_judge {
	char line[RESTORE_PG_LINE_MAX];
	size_t len;
	char tail[RESTORE_PG_TAIL];
	size_t taillen;
	int overflow;
	int in_msg, msg_bad;
	unsigned bad;    /* rejected messages */
	unsigned quoted; /* of which in report */
	char report[RESTORE_PG_REPORT_MAX];
	size_t replen;
	/* psql's own last words, for a failure with no rejected message
	 * ("psql: error: ... database "x" does not exist", exit 2). */
	char last[512];
};

struct restore_pg_job {
	char conninfo[RESTORE_PG_CONNINFO_MAX];
	char pw[RESTORE_PG_PW_MAX];
	char pwenv[RESTORE_PG_PW_MAX + 16];
	struct restore_pg_judge j;
	uint8_t buf[RESTORE_PG_CHUNK];
	char ebuf[4096];
};

/* libarchive does not check the gzip trailer, where `gzip -cd` (GitLab's
 * restore) fails on a mismatch: a flipped bit could otherwise load wrong
 * rows without a word. */
static int restore_pg_gzip_check(const char *path, const struct ls_gzcheck *gz,
                                 char *err, size_t errlen)
{
	char why[200];
	int rv = ls_gzcheck_trailer(gz, path, why, sizeof(why));

	if (rv < 0)
		backup_pg_seterr(err, errlen, NULL,
		                 "%s is corrupt: %s (the database is partly "
		                 "loaded)",
		                 path, why);
	return rv;
}

static int restore_pg_starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The lines libpq adds under a server message's first line. */
static int restore_pg_continues(const char *s)
{
	return s[0] == ' ' || s[0] == '\t' || restore_pg_starts(s, "LINE ") ||
	       restore_pg_starts(s, "DETAIL:") ||
	       restore_pg_starts(s, "HINT:") ||
	       restore_pg_starts(s, "CONTEXT:") ||
	       restore_pg_starts(s, "QUERY:") ||
	       restore_pg_starts(s, "LOCATION:");
}

static int restore_pg_tolerated(const struct restore_pg_judge *j)
{
	const char *end = j->overflow ? j->tail : j->line;
	size_t endlen = j->overflow ? j->taillen : j->len;
	static const char dne[] = "does not exist";

	if (strstr(j->line, "WARNING:") != NULL ||
	    strstr(j->line, "must be owner of") != NULL)
		return 1;
	return endlen >= sizeof(dne) - 1 &&
	       memcmp(end + endlen - (sizeof(dne) - 1), dne, sizeof(dne) - 1) ==
	           0;
}

static void restore_pg_quote(struct restore_pg_judge *j, int head)
{
	const char *sep = j->replen == 0 ? "" : head ? " | " : " / ";
	int n;

	if (j->replen + 1 >= sizeof(j->report))
		return;
	n = snprintf(j->report + j->replen, sizeof(j->report) - j->replen,
	             "%s%s%s", sep, j->line, j->overflow ? "..." : "");
	if (n > 0)
		j->replen += (size_t)n;
	if (j->replen >= sizeof(j->report))
		j->replen = sizeof(j->report) - 1;
}

static void restore_pg_line_done(struct restore_pg_judge *j)
{
	j->line[j->len] = '\0';
	if (j->len > 0 && j->line[j->len - 1] == '\r')
		j->line[--j->len] = '\0';
	if (j->len == 0 && !j->overflow)
		return;
	ls_strlcpy(j->last, j->line, sizeof(j->last));
	if (j->in_msg && restore_pg_continues(j->line)) {
		/* Context of a rejected message: quoted with it. */
		if (j->msg_bad && j->quoted <= RESTORE_PG_REPORT_MSGS &&
		    j->quoted == j->bad)
			restore_pg_quote(j, 0);
	} else {
		j->in_msg = 1;
		j->msg_bad = !restore_pg_tolerated(j);
		if (j->msg_bad) {
			j->bad++;
			if (j->quoted < RESTORE_PG_REPORT_MSGS) {
				j->quoted++;
				restore_pg_quote(j, 1);
			}
		}
	}
	j->len = j->taillen = 0;
	j->overflow = 0;
}

static void restore_pg_judge_feed(struct restore_pg_judge *j, const char *p,
                                  size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] == '\n') {
			restore_pg_line_done(j);
			continue;
		}
		if (j->len + 1 < sizeof(j->line)) {
			/* A NUL would hide the rest of the line. */
			j->line[j->len++] = p[i] ? p[i] : '?';
			continue;
		}
		j->overflow = 1;
		if (j->taillen == sizeof(j->tail)) {
			memmove(j->tail, j->tail + 1, sizeof(j->tail) - 1);
			j->taillen--;
		}
		j->tail[j->taillen++] = p[i];
	}
}

/* Reads what psql has added to its stderr file since *off. Parsed pages
 * are punched out, so a psql that prints without end costs no memory. */
static void restore_pg_scan(int fd, off_t *off, struct restore_pg_judge *j,
                            char *buf, size_t size)
{
	ssize_t n;

	if (fd < 0)
		return;
	while ((n = pread(fd, buf, size, *off)) > 0) {
		restore_pg_judge_feed(j, buf, (size_t)n);
		*off += n;
	}
	if (*off >= 65536)
		(void)fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		                0, *off & ~(off_t)4095);
}

static int restore_pg_open(struct archive **ap, const char *path, char *err,
                           size_t errlen)
{
	struct archive_entry *e;
	struct archive *a;
	int code;

	/* gzip and zstd only, decoded in-process: support_filter_all would
	 * let libarchive run external programs for some formats. */
	if ((*ap = a = archive_read_new()) == NULL ||
	    archive_read_support_filter_gzip(a) != ARCHIVE_OK ||
	    archive_read_support_filter_zstd(a) != ARCHIVE_OK ||
	    archive_read_support_format_raw(a) != ARCHIVE_OK) {
		backup_pg_seterr(err, errlen, NULL, "%s: cannot set up reading",
		                 path);
		return LS_ENOMEM;
	}
	if (archive_read_open_filename(a, path, 65536) != ARCHIVE_OK) {
		backup_pg_seterr(err, errlen, NULL, "%s: %s", path,
		                 archive_error_string(a));
		return archive_errno(a) == ENOENT ? LS_ENOENT : LS_EIO;
	}
	code = archive_read_next_header(a, &e);
	if (code == ARCHIVE_EOF) {
		backup_pg_seterr(err, errlen, NULL, "%s: empty dump", path);
		return LS_EPROTO;
	}
	if (code != ARCHIVE_OK) {
		backup_pg_seterr(err, errlen, NULL,
		                 "%s: not a readable dump: %s", path,
		                 archive_error_string(a));
		return LS_EPROTO;
	}
	return 0;
}

/* Writes all of buf to psql's stdin (non-blocking), reading its stderr
 * while it waits. 1 when psql has gone (EPIPE), 0, or an error. */
static int restore_pg_feed(struct ls_proc *p, const uint8_t *buf, size_t n,
                           int errfd, off_t *eoff, struct restore_pg_job *j,
                           char *err, size_t errlen)
{
	int64_t last = ls_mono_ms();
	struct pollfd pfd;
	ssize_t w;

	while (n > 0) {
		w = ls_exec_write(p->in_fd, buf, n);
		if (w > 0) {
			buf += w;
			n -= (size_t)w;
			last = ls_mono_ms();
			continue;
		}
		if (w < 0 && errno == EPIPE)
			return 1;
		if (w < 0 && errno != EAGAIN && errno != EINTR) {
			backup_pg_seterr(err, errlen, NULL,
			                 "writing to psql: %s",
			                 strerror(errno));
			return -errno;
		}
		restore_pg_scan(errfd, eoff, &j->j, j->ebuf, sizeof(j->ebuf));
		if (ls_mono_ms() - last >= RESTORE_PG_STALL_MS) {
			backup_pg_seterr(err, errlen, NULL,
			                 "psql read nothing for %d s",
			                 RESTORE_PG_STALL_MS / 1000);
			return LS_ETIMEDOUT;
		}
		pfd.fd = p->in_fd;
		pfd.events = POLLOUT;
		pfd.revents = 0;
		(void)poll(&pfd, 1, RESTORE_PG_PROGRESS_MS);
	}
	return 0;
}

/* argv, environment and conninfo for psql; the password only in pwenv. */
static int restore_pg_prepare(struct restore_pg_job *j, const char *conninfo,
                              char *err, size_t errlen)
{
	size_t used;
	int rv;

	if ((rv = backup_pg_conninfo_split(conninfo, j->conninfo,
	                                   sizeof(j->conninfo) - 32, j->pw,
	                                   sizeof(j->pw), err, errlen)) < 0)
		return rv;
	/* Bounds psql's connect like the drop's; 32 bytes kept for it. */
	used = strlen(j->conninfo);
	if ((rv = ls_fmt(j->conninfo + used, sizeof(j->conninfo) - used,
	                 "%sconnect_timeout=10", used ? " " : "")) < 0 ||
	    (rv = ls_fmt(j->pwenv, sizeof(j->pwenv), "PGPASSWORD=%s", j->pw)) <
	        0) {
		backup_pg_seterr(err, errlen, NULL, "conninfo too long");
		return rv;
	}
	return 0;
}

static void restore_pg_verdict(struct restore_pg_job *j, int rv,
                               const struct ls_exec_result *res, int gone,
                               uint64_t total, const char *path, char *err,
                               size_t errlen, int *out)
{
	const char *what = j->j.replen    ? j->j.report
	                   : j->j.last[0] ? j->j.last
	                                  : "no message";

	*out = LS_ECHILD;
	if (rv < 0) {
		backup_pg_seterr(err, errlen, j->pw,
		                 "psql did not exit within %d s: %s",
		                 RESTORE_PG_EXIT_MS / 1000, what);
		*out = rv;
	} else if (!res->exited) {
		backup_pg_seterr(err, errlen, j->pw,
		                 "psql killed by signal %d: %s", res->status,
		                 what);
	} else if (res->status != 0) {
		backup_pg_seterr(err, errlen, j->pw,
		                 "psql failed (exit %d): %s", res->status,
		                 what);
	} else if (j->j.bad > 0) {
		backup_pg_seterr(err, errlen, j->pw,
		                 "loading %s: psql reported %u error%s: %s",
		                 path, j->j.bad, j->j.bad == 1 ? "" : "s",
		                 what);
	} else if (gone) {
		backup_pg_seterr(err, errlen, j->pw,
		                 "psql stopped reading %s after %llu bytes",
		                 path, (unsigned long long)total);
	} else {
		*out = 0;
	}
}

int restore_pg_load(const char *psql, const char *conninfo,
                    const char *dump_path, backup_progress_fn progress,
                    void *arg, struct backup_pg_rows *rows, char *err,
                    size_t errlen)
{
	const char *argv[8], *envp[5];
	struct restore_pg_job *j = NULL;
	struct ls_exec_opts o;
	struct ls_exec_result res;
	struct ls_proc p = {-1, -1, -1, -1};
	struct archive *a = NULL;
	uint64_t total = 0;
	struct ls_gzcheck crc;
	int64_t last, now;
	off_t eoff = 0;
	int devnull = -1, errfd = -1, gone = 0, gz, rv, flags;
	la_ssize_t n;

	memset(&res, 0, sizeof(res));
	if (psql == NULL || psql[0] != '/' || dump_path == NULL ||
	    conninfo == NULL) {
		backup_pg_seterr(err, errlen, NULL,
		                 "restore_pg_load: bad call (psql must be an "
		                 "absolute path)");
		rv = LS_EINVAL;
		goto out;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		backup_pg_seterr(err, errlen, NULL, "out of memory");
		rv = LS_ENOMEM;
		goto out;
	}
	if ((rv = restore_pg_prepare(j, conninfo, err, errlen)) < 0 ||
	    (rv = restore_pg_open(&a, dump_path, err, errlen)) < 0)
		goto out;
	gz = archive_filter_code(a, 0) == ARCHIVE_FILTER_GZIP;
	ls_gzcheck_init(&crc);
	/* -w: with no password to give, fail instead of prompting on a
	 * terminal. psql prints query results (pg_dump's set_config
	 * SELECTs): nobody reads them. */
	argv[0] = psql;
	argv[1] = "-X";
	argv[2] = "-q";
	argv[3] = "-w";
	argv[4] = "-d";
	argv[5] = j->conninfo;
	argv[6] = NULL;
	/* C messages: the tolerated texts are psql's English ones. */
	envp[0] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
	envp[1] = "LANG=C";
	envp[2] = "LC_ALL=C";
	envp[3] = j->pw[0] ? j->pwenv : NULL;
	envp[4] = NULL;
	if ((devnull = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0) {
		rv = -errno;
		backup_pg_seterr(err, errlen, NULL, "/dev/null: %s",
		                 strerror(errno));
		goto out;
	}
	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.envp = envp;
	if ((rv = ls_exec_spawn(&o, 1, devnull, &p)) < 0) {
		backup_pg_seterr(err, errlen, NULL, "cannot run %s: %s", psql,
		                 ls_strerror(rv));
		goto out;
	}
	errfd = p.err_fd;
	(void)fcntl(p.in_fd, F_SETPIPE_SZ, RESTORE_PG_PIPE);
	if ((flags = fcntl(p.in_fd, F_GETFL)) < 0 ||
	    fcntl(p.in_fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		rv = -errno;
		backup_pg_seterr(err, errlen, NULL, "psql's stdin: %s",
		                 strerror(errno));
		goto out;
	}
	last = ls_mono_ms() - RESTORE_PG_PROGRESS_MS;
	for (;;) {
		n = archive_read_data(a, j->buf, sizeof(j->buf));
		if (n < 0) {
			backup_pg_seterr(
			    err, errlen, NULL,
			    "%s is corrupt or truncated after %llu bytes "
			    "(%s): %s",
			    dump_path, (unsigned long long)total,
			    total ? "the database is partly loaded"
			          : "nothing was loaded",
			    archive_error_string(a));
			rv = LS_EPROTO;
			goto out;
		}
		if (n == 0)
			break;
		if (gz)
			ls_gzcheck_update(&crc, j->buf, (size_t)n);
		/* Once void (backup_pg_rows_why), the counts stay void. */
		if (rows != NULL &&
		    backup_pg_rows_feed(rows, j->buf, (size_t)n) < 0)
			rows = NULL;
		if ((rv = restore_pg_feed(&p, j->buf, (size_t)n, errfd, &eoff,
		                          j, err, errlen)) < 0)
			goto out;
		if (rv == 1) {
			gone = 1;
			break;
		}
		total += (uint64_t)n;
		now = ls_mono_ms();
		if (progress != NULL && now - last >= RESTORE_PG_PROGRESS_MS) {
			progress(arg, "db", total, 0, 0);
			last = now;
		}
		restore_pg_scan(errfd, &eoff, &j->j, j->ebuf, sizeof(j->ebuf));
	}
	/* Before psql sees the end of its input: a corrupt dump must not
	 * look like a complete one. */
	if (gz && !gone &&
	    (rv = restore_pg_gzip_check(dump_path, &crc, err, errlen)) < 0)
		goto out;
	/* The stderr file stays ours: read to its end after the exit. */
	p.err_fd = -1;
	rv = ls_exec_wait(&p, RESTORE_PG_EXIT_MS, 0, &res);
	restore_pg_scan(errfd, &eoff, &j->j, j->ebuf, sizeof(j->ebuf));
	restore_pg_judge_feed(&j->j, "\n", 1);
	restore_pg_verdict(j, rv, &res, gone, total, dump_path, err, errlen,
	                   &rv);
out:
	if (p.err_fd < 0 && errfd >= 0)
		close(errfd);
	ls_exec_kill(&p);
	ls_exec_result_free(&res);
	if (devnull >= 0)
		close(devnull);
	if (a != NULL)
		archive_read_free(a);
	if (j != NULL) {
		ls_wipe(j->pw, sizeof(j->pw));
		ls_wipe(j->pwenv, sizeof(j->pwenv));
		ls_wipe(j->conninfo, sizeof(j->conninfo));
		free(j);
	}
	return rv;
}
