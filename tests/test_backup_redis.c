/*
 * The Redis part of a node's backup against real redis-server processes
 * (each on a free port, in its own directory, killed at the end and, with
 * PR_SET_PDEATHSIG, when this test dies): the BGSAVE cut holds exactly the
 * keys written before it, its copy loads into a second Redis, and a wrong
 * password, an unreachable Redis, a failed or slow save each fail naming
 * the Redis at fault.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent_config.h"
#include "backup_redis.h"
#include "ls_afile.h"
#include "ls_error.h"
#include "ls_util.h"
#include "testutil.h"

#ifndef LS_REDIS_SERVER
#define LS_REDIS_SERVER "/usr/bin/redis-server"
#endif

#define PASSWORD "s3cret pass"
#define NKEYS 50

struct tredis {
	pid_t pid;
	int port;
	char dir[LS_PATH_MAX];
	char sock[256];
};

static char top[64] = "/tmp/ls-redis-XXXXXX";
static struct tredis *live[4];

static void nap_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static redisContext *tr_connect(const struct tredis *r, const char *password)
{
	struct timeval tv = {5, 0};
	redisContext *c = redisConnectUnixWithTimeout(r->sock, tv);
	redisReply *rep;

	if (c == NULL || c->err) {
		if (c != NULL)
			redisFree(c);
		return NULL;
	}
	if (password != NULL) {
		rep = redisCommand(c, "AUTH %s", password);
		if (rep == NULL || rep->type == REDIS_REPLY_ERROR) {
			if (rep != NULL)
				freeReplyObject(rep);
			redisFree(c);
			return NULL;
		}
		freeReplyObject(rep);
	}
	return c;
}

static void tr_stop(struct tredis *r)
{
	size_t i;

	if (r->pid > 0) {
		/* The group: a BGSAVE child goes too. */
		kill(-r->pid, SIGKILL);
		kill(r->pid, SIGKILL);
		waitpid(r->pid, NULL, 0);
		r->pid = 0;
	}
	for (i = 0; i < sizeof(live) / sizeof(live[0]); i++)
		if (live[i] == r)
			live[i] = NULL;
}

/* Starts redis-server in top/<name> (dbfile there too); 0 or -1. */
static int tr_start(struct tredis *r, const char *name, const char *password)
{
	char port[16], log[LS_PATH_MAX + 16];
	const char *argv[24];
	redisContext *c;
	redisReply *rep;
	size_t i, n = 0;
	int tries;

	memset(r, 0, sizeof(*r));
	if (ls_fmt(r->dir, sizeof(r->dir), "%s/%s", top, name) < 0 ||
	    ls_mkdirs(r->dir, 0700) < 0 ||
	    ls_fmt(r->sock, sizeof(r->sock), "%s/redis.sock", r->dir) < 0 ||
	    ls_fmt(log, sizeof(log), "%s/redis.log", r->dir) < 0)
		return -1;
	r->port = tu_free_port();
	snprintf(port, sizeof(port), "%d", r->port);
	argv[n++] = LS_REDIS_SERVER;
	argv[n++] = "--port";
	argv[n++] = port;
	argv[n++] = "--bind";
	argv[n++] = "127.0.0.1";
	argv[n++] = "--unixsocket";
	argv[n++] = r->sock;
	argv[n++] = "--dir";
	argv[n++] = r->dir;
	argv[n++] = "--save";
	argv[n++] = "";
	argv[n++] = "--appendonly";
	argv[n++] = "no";
	argv[n++] = "--daemonize";
	argv[n++] = "no";
	argv[n++] = "--logfile";
	argv[n++] = log;
	/* Redis 7 refuses CONFIG SET dir otherwise; test_failed_save
	 * needs it. */
	argv[n++] = "--enable-protected-configs";
	argv[n++] = "yes";
	if (password != NULL) {
		argv[n++] = "--requirepass";
		argv[n++] = password;
	}
	argv[n] = NULL;
	fflush(NULL);
	if ((r->pid = fork()) < 0)
		return -1;
	if (r->pid == 0) {
		int null = open("/dev/null", O_RDWR);

		setpgid(0, 0);
		/* Never outlive the test, whatever kills it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() == 1)
			_exit(127);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
		}
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	for (i = 0; i < sizeof(live) / sizeof(live[0]); i++)
		if (live[i] == NULL) {
			live[i] = r;
			break;
		}
	for (tries = 0; tries < 200; tries++) {
		if (waitpid(r->pid, NULL, WNOHANG) == r->pid) {
			r->pid = 0;
			fprintf(stderr, "redis-server exited at start\n");
			return -1;
		}
		if ((c = tr_connect(r, password)) != NULL) {
			rep = redisCommand(c, "PING");
			if (rep != NULL && rep->type == REDIS_REPLY_STATUS) {
				freeReplyObject(rep);
				redisFree(c);
				return 0;
			}
			if (rep != NULL)
				freeReplyObject(rep);
			redisFree(c);
		}
		nap_ms(50);
	}
	fprintf(stderr, "redis-server did not answer\n");
	tr_stop(r);
	return -1;
}

static void stop_all(void)
{
	size_t i;

	for (i = 0; i < sizeof(live) / sizeof(live[0]); i++)
		if (live[i] != NULL)
			tr_stop(live[i]);
}

static void on_signal(int sig)
{
	stop_all();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* A command that must succeed; returns the integer or 0. */
static long long cmd(redisContext *c, const char *fmt, ...)
{
	redisReply *rep;
	long long v = 0;
	va_list ap;

	va_start(ap, fmt);
	rep = redisvCommand(c, fmt, ap);
	va_end(ap);
	CHECK(rep != NULL && rep->type != REDIS_REPLY_ERROR);
	if (rep != NULL && rep->type == REDIS_REPLY_ERROR)
		fprintf(stderr, "redis: %s\n", rep->str);
	if (rep != NULL && rep->type == REDIS_REPLY_INTEGER)
		v = rep->integer;
	if (rep != NULL)
		freeReplyObject(rep);
	return v;
}

static void fill(redisContext *c, const char *prefix, int n)
{
	int i;

	for (i = 1; i <= n; i++)
		cmd(c, "SET %s:%d value-%d", prefix, i, i);
}

static void wait_no_bgsave(redisContext *c)
{
	redisReply *rep;
	int i, busy = 1;

	for (i = 0; i < 600 && busy; i++) {
		rep = redisCommand(c, "INFO persistence");
		busy = rep == NULL || rep->type != REDIS_REPLY_STRING ||
		       strstr(rep->str, "rdb_bgsave_in_progress:1") != NULL;
		if (rep != NULL)
			freeReplyObject(rep);
		if (busy)
			nap_ms(50);
	}
	CHECK(!busy);
}

static void config_for(struct agent_config *cfg, const struct tredis *r,
                       const char *pwfile)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->redis.socket = (char *)r->sock;
	cfg->redis.host = (char *)"127.0.0.1";
	cfg->redis.port = r->port;
	cfg->redis.password_file = (char *)pwfile;
}

static int write_file(const char *path, const char *text)
{
	return ls_write_atomic(path, text, strlen(text), 0600);
}

/* Decompresses a gzip or zstd stream (libarchive detects which) to dst. */
static int decompress(const char *src, const char *dst)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	char buf[65536];
	la_ssize_t n;
	int fd, rv = -1;

	archive_read_support_filter_all(a);
	archive_read_support_format_raw(a);
	if (archive_read_open_filename(a, src, sizeof(buf)) != ARCHIVE_OK ||
	    archive_read_next_header(a, &e) != ARCHIVE_OK)
		goto out;
	if ((fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0)
		goto out;
	while ((n = archive_read_data(a, buf, sizeof(buf))) > 0)
		if (ls_write_all(fd, buf, (size_t)n) < 0)
			break;
	rv = n == 0 ? 0 : -1;
	close(fd);
out:
	archive_read_free(a);
	return rv;
}

static int same_bytes(const char *a, const char *b)
{
	char *x = NULL, *y = NULL;
	size_t xl = 0, yl = 0;
	int same;

	same = ls_read_file(a, 64 << 20, &x, &xl) == 0 &&
	       ls_read_file(b, 64 << 20, &y, &yl) == 0 && xl == yl &&
	       memcmp(x, y, xl) == 0;
	free(x);
	free(y);
	return same;
}

/* Loads rdb into a fresh redis-server; checks what it holds. */
static void check_loaded(const char *name, const char *rdb, int want_keys,
                         const char *present, const char *absent)
{
	struct tredis r2;
	char path[LS_PATH_MAX + 16], dir[LS_PATH_MAX];
	redisContext *c;
	redisReply *rep;

	if (ls_fmt(dir, sizeof(dir), "%s/%s", top, name) < 0 ||
	    ls_mkdirs(dir, 0700) < 0 ||
	    ls_fmt(path, sizeof(path), "%s/dump.rdb", dir) < 0) {
		CHECK(0);
		return;
	}
	CHECK_EQ_INT(decompress(rdb, path), 0);
	if (tr_start(&r2, name, NULL) < 0) {
		CHECK(0);
		return;
	}
	if ((c = tr_connect(&r2, NULL)) == NULL) {
		CHECK(0);
		tr_stop(&r2);
		return;
	}
	CHECK_EQ_INT(cmd(c, "DBSIZE"), want_keys);
	rep = redisCommand(c, "GET %s", present);
	CHECK(rep != NULL && rep->type == REDIS_REPLY_STRING);
	if (rep != NULL)
		freeReplyObject(rep);
	if (absent != NULL)
		CHECK_EQ_INT(cmd(c, "EXISTS %s", absent), 0);
	redisFree(c);
	tr_stop(&r2);
}

static void test_relpath(void)
{
	char rel[128];

	CHECK_EQ_INT(backup_redis_relpath("redis-1", rel, sizeof(rel)), 0);
	CHECK_STR(rel, "lockstep/redis/redis-1/dump.rdb.gz");
	CHECK_EQ_INT(backup_redis_relpath("../x", rel, sizeof(rel)), LS_EINVAL);
	CHECK_EQ_INT(backup_redis_relpath(NULL, rel, sizeof(rel)), LS_EINVAL);
}

/*
 * Keys before the cut are in the backup, keys after it are not, even once
 * Redis has saved again over dump.rdb; the copy is the cut's file exactly.
 */
static void test_cut_and_copy(struct tredis *r, const char *pwfile)
{
	struct agent_config cfg;
	struct backup_redis_cut out;
	struct backup_artifacts arts = {0};
	char snap[LS_PATH_MAX], dest[LS_PATH_MAX], plain[LS_PATH_MAX];
	char live_rdb[LS_PATH_MAX], err[1024];
	struct stat s1, s2;
	uint8_t sha[32];
	uint64_t size = 0;
	redisContext *c = tr_connect(r, PASSWORD);

	if (c == NULL) {
		CHECK(0);
		return;
	}
	fill(c, "before", NKEYS);
	config_for(&cfg, r, pwfile);
	ls_fmt(snap, sizeof(snap), "%s/staging/redis/dump.rdb", top);
	ls_fmt(live_rdb, sizeof(live_rdb), "%s/dump.rdb", r->dir);
	CHECK_EQ_INT(
	    backup_redis_cut(&cfg, snap, &out, 30000, err, sizeof(err)), 0);
	CHECK_STR(err, "");
	CHECK_STR(out.address, r->sock);
	CHECK_STR(out.rdb_source, live_rdb);
	CHECK(strncmp(out.redis_version, "7.", 2) == 0 ||
	      strncmp(out.redis_version, "6.", 2) == 0);
	CHECK(out.lastsave != out.lastsave_before);
	CHECK(out.lastsave > 0);
	CHECK(out.rdb_bytes > 100);
	CHECK_EQ_INT(out.copied_fallback, 0);
	CHECK(stat(snap, &s1) == 0 && stat(live_rdb, &s2) == 0 &&
	      s1.st_ino == s2.st_ino);
	CHECK_EQ_INT((long long)s1.st_size, (long long)out.rdb_bytes);

	/* After the cut: a key, then a save that replaces dump.rdb. */
	cmd(c, "SET after:1 late");
	cmd(c, "SAVE");
	CHECK(stat(live_rdb, &s2) == 0 && s1.st_ino != s2.st_ino);
	CHECK(stat(snap, &s1) == 0 && (uint64_t)s1.st_size == out.rdb_bytes);

	/* A second cut into an existing path refuses, leaving it alone. */
	CHECK(backup_redis_cut(&cfg, snap, &out, 30000, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, r->sock);
	CHECK(stat(snap, &s1) == 0);

	ls_fmt(dest, sizeof(dest),
	       "%s/store/lockstep/redis/redis-1/"
	       "dump.rdb.gz",
	       top);
	CHECK_EQ_INT(
	    backup_redis_copy(snap, dest, "lockstep/redis/redis-1/dump.rdb.gz",
	                      BACKUP_GZIP, NULL, NULL, &arts, err, sizeof(err)),
	    0);
	CHECK_EQ_INT(arts.n, 1);
	if (arts.n == 1) {
		CHECK_STR(arts.items[0].component, "redis");
		CHECK_STR(arts.items[0].path,
		          "lockstep/redis/redis-1/dump.rdb.gz");
		CHECK_EQ_INT(ls_sha256_file(dest, &size, sha), 0);
		CHECK_EQ_INT(size, arts.items[0].size);
		CHECK(memcmp(sha, arts.items[0].sha256, 32) == 0);
	}
	CHECK(stat(dest, &s2) == 0 && (s2.st_mode & 0777) == 0600);
	ls_fmt(plain, sizeof(plain), "%s/plain.rdb", top);
	CHECK_EQ_INT(decompress(dest, plain), 0);
	CHECK(same_bytes(plain, snap));
	check_loaded("load-gzip", dest, NKEYS, "before:1", "after:1");
	backup_artifacts_free(&arts);

	/* zstd, same name: restore detects either. */
	memset(&arts, 0, sizeof(arts));
	ls_fmt(dest, sizeof(dest), "%s/store-zstd/dump.rdb.gz", top);
	CHECK_EQ_INT(
	    backup_redis_copy(snap, dest, "lockstep/redis/redis-1/dump.rdb.gz",
	                      BACKUP_ZSTD, NULL, NULL, &arts, err, sizeof(err)),
	    0);
	{
		unsigned char head[4] = {0};
		int fd = open(dest, O_RDONLY);

		CHECK(fd >= 0 && read(fd, head, 4) == 4);
		CHECK(head[0] == 0x28 && head[1] == 0xb5 && head[2] == 0x2f &&
		      head[3] == 0xfd);
		if (fd >= 0)
			close(fd);
	}
	CHECK_EQ_INT(decompress(dest, plain), 0);
	CHECK(same_bytes(plain, snap));
	backup_artifacts_free(&arts);

	/* A missing snapshot fails and leaves no artifact. */
	memset(&arts, 0, sizeof(arts));
	ls_fmt(dest, sizeof(dest), "%s/store-none/dump.rdb.gz", top);
	CHECK(backup_redis_copy("/nonexistent/dump.rdb", dest, "x", BACKUP_GZIP,
	                        NULL, NULL, &arts, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "/nonexistent/dump.rdb");
	CHECK_EQ_INT(arts.n, 0);
	CHECK(access(dest, F_OK) < 0);
	cmd(c, "DEL after:1");
	redisFree(c);
}

/* A save Redis was already running began before the freeze: the cut waits
 * for it and takes its own, which holds what was written meanwhile. */
static void test_save_already_running(struct tredis *r, const char *pwfile)
{
	struct agent_config cfg;
	struct backup_redis_cut out;
	struct backup_artifacts arts = {0};
	char snap[LS_PATH_MAX], dest[LS_PATH_MAX], err[1024];
	redisContext *c = tr_connect(r, PASSWORD);

	if (c == NULL) {
		CHECK(0);
		return;
	}
	/* About 10 ms a key: the first save runs for half a second. */
	cmd(c, "CONFIG SET rdb-key-save-delay 10000");
	cmd(c, "BGSAVE");
	cmd(c, "SET between:1 meanwhile");
	config_for(&cfg, r, pwfile);
	ls_fmt(snap, sizeof(snap), "%s/staging2/redis/dump.rdb", top);
	CHECK_EQ_INT(
	    backup_redis_cut(&cfg, snap, &out, 60000, err, sizeof(err)), 0);
	CHECK_STR(err, "");
	cmd(c, "CONFIG SET rdb-key-save-delay 0");
	ls_fmt(dest, sizeof(dest), "%s/store2/dump.rdb.gz", top);
	CHECK_EQ_INT(backup_redis_copy(snap, dest, "r", BACKUP_GZIP, NULL, NULL,
	                               &arts, err, sizeof(err)),
	             0);
	check_loaded("load-between", dest, NKEYS + 1, "between:1", NULL);
	backup_artifacts_free(&arts);
	cmd(c, "DEL between:1");
	redisFree(c);
}

/* A save slower than the deadline fails the cut, naming the Redis. */
static void test_timeout(struct tredis *r, const char *pwfile)
{
	struct agent_config cfg;
	struct backup_redis_cut out;
	char snap[LS_PATH_MAX], err[1024];
	int64_t t0;
	int rv;
	redisContext *c = tr_connect(r, PASSWORD);

	if (c == NULL) {
		CHECK(0);
		return;
	}
	cmd(c, "CONFIG SET rdb-key-save-delay 100000"); /* 5 s in all */
	config_for(&cfg, r, pwfile);
	ls_fmt(snap, sizeof(snap), "%s/staging3/redis/dump.rdb", top);
	t0 = ls_mono_ms();
	rv = backup_redis_cut(&cfg, snap, &out, 700, err, sizeof(err));
	CHECK_EQ_INT(rv, LS_ETIMEDOUT);
	CHECK(ls_mono_ms() - t0 < 4000);
	CHECK_CONTAINS(err, r->sock);
	CHECK_CONTAINS(err, "did not finish");
	CHECK_CONTAINS(err, "700 ms");
	CHECK(access(snap, F_OK) < 0);
	cmd(c, "CONFIG SET rdb-key-save-delay 0");
	wait_no_bgsave(c);
	redisFree(c);
}

/* A save that fails (its directory is gone) fails the cut. */
static void test_failed_save(struct tredis *r, const char *pwfile)
{
	struct agent_config cfg;
	struct backup_redis_cut out;
	char snap[LS_PATH_MAX], gone[LS_PATH_MAX], err[1024];
	redisContext *c = tr_connect(r, PASSWORD);

	if (c == NULL) {
		CHECK(0);
		return;
	}
	ls_fmt(gone, sizeof(gone), "%s/gone", top);
	CHECK_EQ_INT(ls_mkdirs(gone, 0700), 0);
	cmd(c, "CONFIG SET dir %s", gone);
	CHECK_EQ_INT(rmdir(gone), 0);
	config_for(&cfg, r, pwfile);
	ls_fmt(snap, sizeof(snap), "%s/staging4/redis/dump.rdb", top);
	CHECK(backup_redis_cut(&cfg, snap, &out, 30000, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, r->sock);
	CHECK_CONTAINS(err, "rdb_last_bgsave_status:err");
	CHECK(access(snap, F_OK) < 0);
	cmd(c, "CONFIG SET dir %s", r->dir);
	redisFree(c);
}

/* redis.rdb_path: used instead of CONFIG GET, and checked to be an RDB. */
static void test_rdb_path(struct tredis *r, const char *pwfile)
{
	struct agent_config cfg;
	struct backup_redis_cut out;
	char snap[LS_PATH_MAX], path[LS_PATH_MAX], err[1024];

	config_for(&cfg, r, pwfile);
	ls_fmt(path, sizeof(path), "%s/dump.rdb", r->dir);
	cfg.redis.rdb_path = path;
	ls_fmt(snap, sizeof(snap), "%s/staging5/redis/dump.rdb", top);
	CHECK_EQ_INT(
	    backup_redis_cut(&cfg, snap, &out, 30000, err, sizeof(err)), 0);
	CHECK_STR(out.rdb_source, path);

	ls_fmt(path, sizeof(path), "%s/nothing.rdb", r->dir);
	ls_fmt(snap, sizeof(snap), "%s/staging6/redis/dump.rdb", top);
	CHECK(backup_redis_cut(&cfg, snap, &out, 30000, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, r->sock);
	CHECK_CONTAINS(err, path);
	CHECK(access(snap, F_OK) < 0);

	/* Not an RDB file: refused, and the snapshot removed again. */
	ls_fmt(path, sizeof(path), "%s/redis.log", r->dir);
	CHECK(backup_redis_cut(&cfg, snap, &out, 30000, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "is not a Redis RDB file");
	CHECK(access(snap, F_OK) < 0);
}

/* Across filesystems the snapshot is a copy of the cut's file. */
static void test_copy_fallback(struct tredis *r, const char *pwfile)
{
	struct agent_config cfg;
	struct backup_redis_cut out;
	char snap[LS_PATH_MAX], shm[64] = "/dev/shm/ls-redis-XXXXXX";
	char live_rdb[LS_PATH_MAX], err[1024];
	struct stat a, b;

	if (stat("/dev/shm", &a) < 0 || stat(top, &b) < 0 ||
	    a.st_dev == b.st_dev || mkdtemp(shm) == NULL) {
		printf("# copy fallback not tested: no second filesystem\n");
		return;
	}
	config_for(&cfg, r, pwfile);
	ls_fmt(snap, sizeof(snap), "%s/redis/dump.rdb", shm);
	ls_fmt(live_rdb, sizeof(live_rdb), "%s/dump.rdb", r->dir);
	CHECK_EQ_INT(
	    backup_redis_cut(&cfg, snap, &out, 30000, err, sizeof(err)), 0);
	CHECK_EQ_INT(out.copied_fallback, 1);
	CHECK(same_bytes(snap, live_rdb));
	ls_rmtree(shm);
}

static void test_bad_password(struct tredis *r)
{
	struct agent_config cfg;
	struct backup_redis_cut out;
	char snap[LS_PATH_MAX], pw[LS_PATH_MAX], err[1024];

	ls_fmt(pw, sizeof(pw), "%s/wrong-password", top);
	CHECK_EQ_INT(write_file(pw, "not the password\n"), 0);
	config_for(&cfg, r, pw);
	ls_fmt(snap, sizeof(snap), "%s/staging7/redis/dump.rdb", top);
	CHECK_EQ_INT(backup_redis_cut(&cfg, snap, &out, 5000, err, sizeof(err)),
	             LS_EAUTH);
	CHECK_CONTAINS(err, r->sock);
	CHECK_CONTAINS(err, "AUTH refused");
	CHECK_CONTAINS(err, pw);
	CHECK(strstr(err, "not the password") == NULL);
	CHECK(access(snap, F_OK) < 0);

	/* No password at all: Redis refuses the first command. */
	config_for(&cfg, r, NULL);
	CHECK(backup_redis_cut(&cfg, snap, &out, 5000, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, r->sock);
	CHECK_CONTAINS(err, "NOAUTH");
}

static void test_unreachable(void)
{
	struct agent_config cfg;
	struct backup_redis_cut out;
	char snap[LS_PATH_MAX], want[64], sock[LS_PATH_MAX], err[1024];
	int port = tu_free_port();

	memset(&cfg, 0, sizeof(cfg));
	cfg.redis.socket = (char *)"";
	cfg.redis.host = (char *)"127.0.0.1";
	cfg.redis.port = port;
	ls_fmt(snap, sizeof(snap), "%s/staging8/redis/dump.rdb", top);
	CHECK(backup_redis_cut(&cfg, snap, &out, 5000, err, sizeof(err)) < 0);
	ls_fmt(want, sizeof(want), "Redis at 127.0.0.1:%d: connect", port);
	CHECK_CONTAINS(err, want);
	CHECK(access(snap, F_OK) < 0);

	ls_fmt(sock, sizeof(sock), "%s/no-such.sock", top);
	cfg.redis.socket = sock;
	CHECK(backup_redis_cut(&cfg, snap, &out, 5000, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, sock);
	CHECK_CONTAINS(err, "connect");
}

int main(void)
{
	struct tredis r;
	char pwfile[LS_PATH_MAX];

	test_relpath();
	if (access(LS_REDIS_SERVER, X_OK) < 0) {
		fprintf(stderr,
		        "%s is missing (apt-get install redis-server)\n",
		        LS_REDIS_SERVER);
		return 1;
	}
	if (mkdtemp(top) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	ls_fmt(pwfile, sizeof(pwfile), "%s/password", top);
	if (write_file(pwfile, PASSWORD "\n") < 0 ||
	    tr_start(&r, "redis", PASSWORD) < 0) {
		fprintf(stderr, "cannot start redis-server\n");
		stop_all();
		ls_rmtree(top);
		return 1;
	}
	test_cut_and_copy(&r, pwfile);
	test_save_already_running(&r, pwfile);
	test_timeout(&r, pwfile);
	test_failed_save(&r, pwfile);
	test_rdb_path(&r, pwfile);
	test_copy_fallback(&r, pwfile);
	test_bad_password(&r);
	test_unreachable();
	stop_all();
	ls_rmtree(top);
	return tu_done();
}
