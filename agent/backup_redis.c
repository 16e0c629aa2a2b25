/*
 * Redis part of a node's backup: the BGSAVE cut and the compressed copy of
 * its RDB (backup_redis.h).
 */
#include "backup_redis.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <hiredis/hiredis.h>

#include "agent_redis.h"
#include "check_redisinfo.h"
#include "ls_afile.h"
#include "ls_error.h"
#include "ls_util.h"

#define BACKUP_REDIS_TIMEOUT_S 5 /* connect, and each command */
#define BACKUP_REDIS_INFO_MAX (1024 * 1024)
#define BACKUP_REDIS_POLL_MS 50
#define BACKUP_REDIS_REPLY_SHOW 200 /* bytes of a Redis error quoted */
#define BACKUP_REDIS_BUF 65536      /* the cross-filesystem copy */
/* "REDIS" and a four-digit format version open every RDB file. */
#define BACKUP_REDIS_MAGIC "REDIS"

/* A Redis error or status text, bounded and printable, for a message. */
static int backup_redis_show(const redisReply *rep)
{
	return rep->len > BACKUP_REDIS_REPLY_SHOW ? BACKUP_REDIS_REPLY_SHOW
	                                          : (int)rep->len;
}

static void backup_redis_seterr(char *err, size_t errlen, const char *addr,
                                const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Every message names the Redis it is about. */
static void backup_redis_seterr(char *err, size_t errlen, const char *addr,
                                const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	size_t i;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Redis replies are quoted: keep control bytes out of the log. */
	for (i = 0; msg[i] != '\0'; i++)
		if ((unsigned char)msg[i] < 0x20)
			msg[i] = '?';
	snprintf(err, errlen, "Redis at %s: %s", addr, msg);
}

static redisContext *backup_redis_open(const struct agent_config *cfg,
                                       const char *addr, int *rv, char *err,
                                       size_t errlen)
{
	char why[1024];
	redisContext *c =
	    agent_redis_open(cfg, BACKUP_REDIS_TIMEOUT_S, rv, why, sizeof(why));

	if (c == NULL)
		backup_redis_seterr(err, errlen, addr, "%s", why);
	return c;
}

/* A command whose reply must not be an error; NULL with err set if so. */
static redisReply *backup_redis_cmd(redisContext *c, const char *addr,
                                    const char *what, int *rv, char *err,
                                    size_t errlen)
{
	redisReply *rep = redisCommand(c, what);

	if (rep == NULL) {
		*rv = LS_EIO;
		backup_redis_seterr(err, errlen, addr, "%s: %s", what,
		                    c->errstr);
		return NULL;
	}
	if (rep->type == REDIS_REPLY_ERROR) {
		*rv = LS_EPROTO;
		backup_redis_seterr(err, errlen, addr, "%s: %.*s", what,
		                    backup_redis_show(rep), rep->str);
		freeReplyObject(rep);
		return NULL;
	}
	*rv = 0;
	return rep;
}

static int backup_redis_lastsave(redisContext *c, const char *addr,
                                 int64_t *out, char *err, size_t errlen)
{
	redisReply *rep;
	int rv;

	if ((rep = backup_redis_cmd(c, addr, "LASTSAVE", &rv, err, errlen)) ==
	    NULL)
		return rv;
	if (rep->type != REDIS_REPLY_INTEGER) {
		backup_redis_seterr(err, errlen, addr,
		                    "LASTSAVE: not an integer reply");
		rv = LS_EPROTO;
	} else {
		*out = (int64_t)rep->integer;
	}
	freeReplyObject(rep);
	return rv;
}

/* Redis's own clock, whole seconds: LASTSAVE is set from it. */
static int backup_redis_time(redisContext *c, const char *addr, int64_t *out,
                             char *err, size_t errlen)
{
	redisReply *rep;
	long long v;
	int rv;

	if ((rep = backup_redis_cmd(c, addr, "TIME", &rv, err, errlen)) == NULL)
		return rv;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
	    rep->element[0]->type != REDIS_REPLY_STRING ||
	    ls_parse_int(rep->element[0]->str, 0, INT64_MAX, &v) < 0) {
		backup_redis_seterr(err, errlen, addr,
		                    "TIME: unexpected reply");
		rv = LS_EPROTO;
	} else {
		*out = v;
	}
	freeReplyObject(rep);
	return rv;
}

struct backup_redis_persist {
	int in_progress;  /* rdb_bgsave_in_progress */
	int64_t lastsave; /* rdb_last_save_time, which LASTSAVE returns */
	char status[16];  /* rdb_last_bgsave_status */
};

/* One INFO persistence reply: the three fields read together. */
static int backup_redis_persist(redisContext *c, const char *addr,
                                struct backup_redis_persist *p, char *err,
                                size_t errlen)
{
	redisReply *rep;
	char v[32];
	long long n;
	int rv;

	if ((rep = backup_redis_cmd(c, addr, "INFO persistence", &rv, err,
	                            errlen)) == NULL)
		return rv;
	rv = LS_EPROTO;
	if (rep->type != REDIS_REPLY_STRING) {
		backup_redis_seterr(err, errlen, addr,
		                    "INFO persistence: not a text reply");
		goto out;
	}
	if (rep->len > BACKUP_REDIS_INFO_MAX) {
		backup_redis_seterr(err, errlen, addr,
		                    "INFO persistence: reply over %d bytes",
		                    BACKUP_REDIS_INFO_MAX);
		goto out;
	}
	if (check_redisinfo_get(rep->str, rep->len, "rdb_bgsave_in_progress", v,
	                        sizeof(v)) < 0 ||
	    ls_parse_int(v, 0, 1, &n) < 0) {
		backup_redis_seterr(err, errlen, addr,
		                    "INFO persistence has no "
		                    "rdb_bgsave_in_progress");
		goto out;
	}
	p->in_progress = (int)n;
	if (check_redisinfo_get(rep->str, rep->len, "rdb_last_save_time", v,
	                        sizeof(v)) < 0 ||
	    ls_parse_int(v, INT64_MIN, INT64_MAX, &n) < 0) {
		backup_redis_seterr(err, errlen, addr,
		                    "INFO persistence has no "
		                    "rdb_last_save_time");
		goto out;
	}
	p->lastsave = n;
	if (check_redisinfo_get(rep->str, rep->len, "rdb_last_bgsave_status",
	                        p->status, sizeof(p->status)) < 0) {
		backup_redis_seterr(err, errlen, addr,
		                    "INFO persistence has no "
		                    "rdb_last_bgsave_status");
		goto out;
	}
	rv = 0;
out:
	freeReplyObject(rep);
	return rv;
}

static void backup_redis_version(redisContext *c, char *out, size_t len)
{
	redisReply *rep = redisCommand(c, "INFO server");

	out[0] = '\0';
	if (rep != NULL && rep->type == REDIS_REPLY_STRING &&
	    rep->len <= BACKUP_REDIS_INFO_MAX &&
	    check_redisinfo_get(rep->str, rep->len, "redis_version", out, len) <
	        0)
		out[0] = '\0';
	if (rep != NULL)
		freeReplyObject(rep);
}

static void backup_redis_nap(void)
{
	struct timespec ts = {0, BACKUP_REDIS_POLL_MS * 1000000L};

	nanosleep(&ts, NULL);
}

static int backup_redis_expired(int64_t deadline, const char *addr,
                                const char *what, int64_t timeout_ms, char *err,
                                size_t errlen)
{
	if (ls_mono_ms() < deadline)
		return 0;
	backup_redis_seterr(err, errlen, addr, "%s within %lld ms", what,
	                    (long long)timeout_ms);
	return LS_ETIMEDOUT;
}

/*
 * LASTSAVE has whole seconds: a save ending in the second of *since would
 * leave it unchanged. Waits until Redis's clock has left that second.
 */
static int backup_redis_next_second(redisContext *c, const char *addr,
                                    int64_t since, int64_t deadline,
                                    int64_t timeout_ms, char *err,
                                    size_t errlen)
{
	int64_t now = since;
	int rv;

	for (;;) {
		if ((rv = backup_redis_time(c, addr, &now, err, errlen)) < 0)
			return rv;
		if (now != since)
			return 0;
		if ((rv = backup_redis_expired(deadline, addr,
		                               "the clock did not move on",
		                               timeout_ms, err, errlen)) < 0)
			return rv;
		backup_redis_nap();
	}
}

/*
 * Sends BGSAVE SCHEDULE until Redis takes it. A save already running was
 * forked before the freeze: wait for it, then ask again. *forked: the
 * reply says our child is running (rather than scheduled after another
 * child, e.g. an AOF rewrite).
 */
static int backup_redis_bgsave(redisContext *c, const char *addr,
                               int64_t *since, int *forked, int64_t deadline,
                               int64_t timeout_ms, char *err, size_t errlen)
{
	static const char started[] = "Background saving started";
	static const char running[] = "already in progress";
	struct backup_redis_persist p;
	redisReply *rep;
	int rv;

	for (;;) {
		if ((rv = backup_redis_next_second(c, addr, *since, deadline,
		                                   timeout_ms, err, errlen)) <
		    0)
			return rv;
		if ((rep = redisCommand(c, "BGSAVE SCHEDULE")) == NULL) {
			backup_redis_seterr(err, errlen, addr, "BGSAVE: %s",
			                    c->errstr);
			return LS_EIO;
		}
		if (rep->type == REDIS_REPLY_STATUS) {
			*forked = rep->len == sizeof(started) - 1 &&
			          memcmp(rep->str, started, rep->len) == 0;
			freeReplyObject(rep);
			return 0;
		}
		if (rep->type != REDIS_REPLY_ERROR ||
		    memmem(rep->str, rep->len, running, sizeof(running) - 1) ==
		        NULL) {
			backup_redis_seterr(
			    err, errlen, addr, "BGSAVE refused: %.*s",
			    rep->type == REDIS_REPLY_ERROR
			        ? backup_redis_show(rep)
			        : 0,
			    rep->type == REDIS_REPLY_ERROR ? rep->str : "");
			freeReplyObject(rep);
			return LS_EPROTO;
		}
		freeReplyObject(rep);
		do {
			if ((rv = backup_redis_expired(
			         deadline, addr,
			         "a background save that was already running "
			         "did not finish",
			         timeout_ms, err, errlen)) < 0)
				return rv;
			backup_redis_nap();
			if ((rv = backup_redis_persist(c, addr, &p, err,
			                               errlen)) < 0)
				return rv;
		} while (p.in_progress);
		*since = p.lastsave;
	}
}

/* Waits for a save started after the BGSAVE to have finished well. */
static int backup_redis_wait(redisContext *c, const char *addr, int64_t since,
                             int forked, int64_t deadline, int64_t timeout_ms,
                             struct backup_redis_cut *out, char *err,
                             size_t errlen)
{
	struct backup_redis_persist p;
	char what[128];
	int rv;

	for (;;) {
		if ((rv = backup_redis_persist(c, addr, &p, err, errlen)) < 0)
			return rv;
		if (p.in_progress) {
			forked = 1;
		} else if (p.lastsave != since && strcmp(p.status, "ok") == 0) {
			out->lastsave = p.lastsave;
			return 0;
		} else if (forked && strcmp(p.status, "ok") != 0) {
			/* Why is in Redis's own log (disk full, no
			 * permission on its dir, ...). */
			backup_redis_seterr(err, errlen, addr,
			                    "BGSAVE failed "
			                    "(rdb_last_bgsave_status:%s); "
			                    "Redis's log says why",
			                    p.status);
			return LS_EIO;
		}
		ls_fmt(what, sizeof(what),
		       "BGSAVE did not finish (rdb_bgsave_in_progress:%d, "
		       "rdb_last_bgsave_status:%s)",
		       p.in_progress, p.status);
		if ((rv = backup_redis_expired(deadline, addr, what, timeout_ms,
		                               err, errlen)) < 0)
			return rv;
		backup_redis_nap();
	}
}

/* CONFIG GET name: the one value. */
static int backup_redis_config(redisContext *c, const char *addr,
                               const char *name, char *out, size_t len,
                               char *err, size_t errlen)
{
	redisReply *rep, *v = NULL;
	size_t i;
	int rv;

	rep = redisCommand(c, "CONFIG GET %s", name);
	if (rep == NULL) {
		backup_redis_seterr(err, errlen, addr, "CONFIG GET %s: %s",
		                    name, c->errstr);
		return LS_EIO;
	}
	rv = LS_EPROTO;
	if (rep->type == REDIS_REPLY_ERROR) {
		/* Hardened installations rename CONFIG away. */
		backup_redis_seterr(err, errlen, addr,
		                    "CONFIG GET %s: %.*s (set redis.rdb_path "
		                    "in agent.yml)",
		                    name, backup_redis_show(rep), rep->str);
		goto out;
	}
	/* [name, value]: the connection speaks RESP2. */
	if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2)
		v = rep->element[1];
	if (v == NULL || v->type != REDIS_REPLY_STRING) {
		backup_redis_seterr(err, errlen, addr,
		                    "CONFIG GET %s: unexpected reply", name);
		goto out;
	}
	if (v->len == 0 || v->len >= len || memchr(v->str, '\0', v->len)) {
		backup_redis_seterr(err, errlen, addr,
		                    "CONFIG GET %s: empty or over %zu bytes",
		                    name, len - 1);
		goto out;
	}
	for (i = 0; i < v->len; i++)
		out[i] = v->str[i];
	out[v->len] = '\0';
	rv = 0;
out:
	freeReplyObject(rep);
	return rv;
}

static int backup_redis_rdb_file(const struct agent_config *cfg,
                                 redisContext *c, const char *addr, char *out,
                                 size_t len, char *err, size_t errlen)
{
	char dir[LS_PATH_MAX], name[256];
	int rv;

	if (cfg->redis.rdb_path != NULL && cfg->redis.rdb_path[0] != '\0') {
		if (ls_fmt(out, len, "%s", cfg->redis.rdb_path) < 0) {
			backup_redis_seterr(err, errlen, addr,
			                    "redis.rdb_path is too long");
			return LS_ETOOBIG;
		}
		return 0;
	}
	if ((rv = backup_redis_config(c, addr, "dir", dir, sizeof(dir), err,
	                              errlen)) < 0 ||
	    (rv = backup_redis_config(c, addr, "dbfilename", name, sizeof(name),
	                              err, errlen)) < 0)
		return rv;
	/* Redis answers its working directory, always absolute, and keeps
	 * dbfilename a plain name; anything else is not to be trusted. */
	if (dir[0] != '/' || strchr(name, '/') != NULL) {
		backup_redis_seterr(err, errlen, addr,
		                    "CONFIG GET gave dir '%s' dbfilename '%s': "
		                    "not an absolute file (set redis.rdb_path "
		                    "in agent.yml)",
		                    dir, name);
		return LS_EPROTO;
	}
	if ((rv = ls_fmt(out, len, "%s/%s", dir, name)) < 0)
		backup_redis_seterr(err, errlen, addr, "RDB path too long");
	return rv;
}

/*
 * The fallback when the snapshot cannot be a hard link. The open
 * descriptor holds the inode a save put in place, so a later save's rename
 * does not change what is read; exactly st_size bytes are copied.
 */
static int backup_redis_copy_file(const char *src, const char *dst, char *err,
                                  size_t errlen)
{
	struct stat st;
	uint64_t left;
	char *buf = NULL;
	ssize_t n;
	int in = -1, outfd = -1, rv = 0;

	if ((in = open(src, O_RDONLY | O_CLOEXEC)) < 0 || fstat(in, &st) < 0) {
		rv = -errno;
		snprintf(err, errlen, "reading RDB file %s: %s", src,
		         ls_strerror(rv));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rv = LS_EINVAL;
		snprintf(err, errlen, "RDB file %s is not a regular file", src);
		goto out;
	}
	if ((buf = malloc(BACKUP_REDIS_BUF)) == NULL) {
		rv = LS_ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	outfd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (outfd < 0) {
		rv = -errno;
		snprintf(err, errlen, "creating %s: %s", dst, ls_strerror(rv));
		goto out;
	}
	for (left = (uint64_t)st.st_size; left > 0;) {
		n = read(in, buf,
		         left < BACKUP_REDIS_BUF ? (size_t)left
		                                 : BACKUP_REDIS_BUF);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rv = n < 0 ? -errno : LS_EIO;
			snprintf(err, errlen, "reading RDB file %s: %s", src,
			         n < 0 ? ls_strerror(rv)
			               : "it shrank while being copied");
			goto out;
		}
		if ((rv = ls_write_all(outfd, buf, (size_t)n)) < 0) {
			snprintf(err, errlen, "writing %s: %s", dst,
			         ls_strerror(rv));
			goto out;
		}
		left -= (uint64_t)n;
	}
out:
	if (outfd >= 0 && close(outfd) < 0 && rv == 0) {
		rv = -errno;
		snprintf(err, errlen, "writing %s: %s", dst, ls_strerror(rv));
	}
	if (rv < 0 && outfd >= 0)
		unlink(dst);
	if (in >= 0)
		close(in);
	free(buf);
	return rv;
}

/* A wrong rdb_path (or dbfilename) must not pass for a Redis snapshot. */
static int backup_redis_check_magic(const char *path, uint64_t *size, char *err,
                                    size_t errlen)
{
	char head[sizeof(BACKUP_REDIS_MAGIC) - 1];
	struct stat st;
	ssize_t n;
	int fd, rv = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0 ||
	    fstat(fd, &st) < 0) {
		rv = -errno;
		snprintf(err, errlen, "reading %s: %s", path, ls_strerror(rv));
		goto out;
	}
	n = read(fd, head, sizeof(head));
	if (n != (ssize_t)sizeof(head) ||
	    memcmp(head, BACKUP_REDIS_MAGIC, sizeof(head)) != 0) {
		rv = LS_EINVAL;
		snprintf(err, errlen, "%s is not a Redis RDB file", path);
		goto out;
	}
	*size = (uint64_t)st.st_size;
out:
	if (fd >= 0)
		close(fd);
	return rv;
}

/* Hard link, or a copy where the filesystem or the kernel refuses one. */
static int backup_redis_keep(const char *src, const char *snap_path,
                             const char *addr, struct backup_redis_cut *out,
                             char *err, size_t errlen)
{
	char parent[LS_PATH_MAX], why[LS_PATH_MAX + 256];
	char *slash;
	int rv;

	if ((rv = ls_fmt(parent, sizeof(parent), "%s", snap_path)) < 0) {
		backup_redis_seterr(err, errlen, addr,
		                    "snapshot path too long");
		return rv;
	}
	if ((slash = strrchr(parent, '/')) != NULL && slash != parent) {
		*slash = '\0';
		if ((rv = ls_mkdirs(parent, 0700)) < 0) {
			backup_redis_seterr(err, errlen, addr, "%s: %s", parent,
			                    ls_strerror(rv));
			return rv;
		}
	}
	if (link(src, snap_path) == 0)
		return 0;
	rv = -errno;
	if (rv == -ENOENT) {
		backup_redis_seterr(err, errlen, addr,
		                    "RDB file %s not found after BGSAVE (set "
		                    "redis.rdb_path in agent.yml?)",
		                    src);
		return rv;
	}
	if (rv != -EXDEV && rv != -EPERM && rv != -EMLINK) {
		backup_redis_seterr(err, errlen, addr, "linking %s to %s: %s",
		                    src, snap_path, ls_strerror(rv));
		return rv;
	}
	if ((rv = backup_redis_copy_file(src, snap_path, why, sizeof(why))) <
	    0) {
		backup_redis_seterr(err, errlen, addr, "%s", why);
		return rv;
	}
	out->copied_fallback = 1;
	return 0;
}

int backup_redis_cut(const struct agent_config *cfg, const char *snap_path,
                     struct backup_redis_cut *out, int64_t timeout_ms,
                     char *err, size_t errlen)
{
	redisContext *c = NULL;
	char why[LS_PATH_MAX + 64];
	int64_t deadline, t0, since = 0;
	int forked = 0, linked = 0, rv;

	memset(out, 0, sizeof(*out));
	if (errlen > 0)
		err[0] = '\0';
	agent_redis_target(cfg, out->address, sizeof(out->address));
	if (snap_path == NULL || snap_path[0] != '/' || timeout_ms <= 0) {
		backup_redis_seterr(err, errlen, out->address,
		                    "bad call (snapshot path must be absolute, "
		                    "timeout positive)");
		return LS_EINVAL;
	}
	deadline = ls_mono_ms() + timeout_ms;
	if ((c = backup_redis_open(cfg, out->address, &rv, err, errlen)) ==
	    NULL)
		goto out;
	backup_redis_version(c, out->redis_version, sizeof(out->redis_version));
	if ((rv = backup_redis_lastsave(c, out->address, &since, err, errlen)) <
	    0)
		goto out;
	t0 = ls_mono_ms();
	if ((rv = backup_redis_bgsave(c, out->address, &since, &forked,
	                              deadline, timeout_ms, err, errlen)) < 0 ||
	    (rv = backup_redis_wait(c, out->address, since, forked, deadline,
	                            timeout_ms, out, err, errlen)) < 0)
		goto out;
	out->lastsave_before = since;
	out->bgsave_ms = (uint64_t)(ls_mono_ms() - t0);
	if ((rv = backup_redis_rdb_file(cfg, c, out->address, out->rdb_source,
	                                sizeof(out->rdb_source), err, errlen)) <
	        0 ||
	    (rv = backup_redis_keep(out->rdb_source, snap_path, out->address,
	                            out, err, errlen)) < 0)
		goto out;
	linked = 1;
	if ((rv = backup_redis_check_magic(snap_path, &out->rdb_bytes, why,
	                                   sizeof(why))) < 0)
		backup_redis_seterr(err, errlen, out->address, "%s", why);
out:
	if (rv < 0 && linked)
		unlink(snap_path);
	if (c != NULL)
		redisFree(c);
	return rv;
}
