#include "pg_cluster.h"
#include "testutil.h"
/* A quote and a backslash: the password must survive conninfo quoting. */

struct tpg T;

/* ---- the cluster ---- */

/*
 * The watchdog reads process group ids from the pipe; 0 means "all
 * stopped, nothing to do". End of file without that 0 means this
 * process died: stop the last group and remove the directory.
 */
void __attribute__((noreturn)) tpg_watchdog(int fd, const char *dir)
{
	int pgid = -1, v, i;

	setpgid(0, 0);
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	while (read(fd, &v, sizeof(v)) == (ssize_t)sizeof(v)) {
		if (v == 0)
			_exit(0);
		pgid = v;
	}
	if (pgid > 0) {
		/* Immediate shutdown first: the postmaster then removes its
		 * shared memory; SIGKILL only if it does not go. */
		kill(-pgid, SIGQUIT);
		for (i = 0; i < 100 && kill(-pgid, 0) == 0; i++)
			usleep(50000);
		kill(-pgid, SIGKILL);
	}
	ls_rmtree(dir);
	_exit(0);
}

int tpg_watchdog_start(void)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	fflush(NULL);
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		close(p[1]);
		tpg_watchdog(p[0], T.dir);
	}
	close(p[0]);
	T.wd_pid = pid;
	T.wd_fd = p[1];
	return 0;
}

void tpg_watchdog_tell(int v)
{
	if (T.wd_fd >= 0 && write(T.wd_fd, &v, sizeof(v)) != sizeof(v))
		fprintf(stderr, "watchdog write: %s\n", strerror(errno));
}

int tpg_run(const char *const *argv, const char *const *envp, const void *in,
            size_t inlen, struct ls_exec_result *res)
{
	struct ls_exec_opts o;

	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.envp = envp;
	o.stdin_data = in;
	o.stdin_len = inlen;
	o.max_stdout = 1 << 20;
	o.max_stderr = 1 << 16;
	o.timeout_ms = 120000;
	return ls_exec_run(&o, res);
}

int tpg_chown_pg(const char *path)
{
	struct passwd *pw = getpwnam("postgres");

	if (T.skip)
		return 0;
	return pw != NULL && chown(path, pw->pw_uid, pw->pw_gid) == 0 ? 0 : -1;
}

int tpg_child_gone(pid_t pid)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
		return 1;
	return si.si_pid == pid;
}

int tpg_start(void)
{
	char pwfile[300], port[16], pwopt[300], log[300];
	char ping[1024];
	const char *initdb[] = {RUNUSER,
	                        "-u",
	                        "postgres",
	                        "--",
	                        PGBIN "/initdb",
	                        "-D",
	                        T.data,
	                        "-U",
	                        "postgres",
	                        "-A",
	                        "scram-sha-256",
	                        NULL, /* --pwfile= */
	                        "-E",
	                        "UTF8",
	                        "--locale=C",
	                        "--no-sync",
	                        NULL};
	const char *pg[] = {RUNUSER,
	                    "-u",
	                    "postgres",
	                    "--",
	                    PGBIN "/postgres",
	                    "-D",
	                    T.data,
	                    "-p",
	                    port,
	                    "-k",
	                    T.sock,
	                    "-c",
	                    "listen_addresses=127.0.0.1",
	                    "-c",
	                    "fsync=off",
	                    "-c",
	                    "max_connections=30",
	                    NULL};
	struct ls_exec_opts o;
	struct ls_exec_result res;
	int fd, rv;
	int64_t deadline;

	ls_strlcpy(T.dir, "/tmp/test_backup_pg.XXXXXX", sizeof(T.dir));
	if (mkdtemp(T.dir) == NULL) {
		T.dir[0] = '\0';
		return -1;
	}
	if (tpg_watchdog_start() < 0 || chmod(T.dir, 0755) < 0)
		return -1;
	if (ls_fmt(T.data, sizeof(T.data), "%s/data", T.dir) < 0 ||
	    ls_fmt(T.sock, sizeof(T.sock), "%s/sock", T.dir) < 0 ||
	    ls_fmt(pwfile, sizeof(pwfile), "%s/pwfile", T.dir) < 0 ||
	    ls_fmt(pwopt, sizeof(pwopt), "--pwfile=%s", pwfile) < 0 ||
	    ls_fmt(log, sizeof(log), "%s/postgres.out", T.dir) < 0)
		return -1;
	if (mkdir(T.data, 0700) < 0 || tpg_chown_pg(T.data) < 0 ||
	    mkdir(T.sock, 0755) < 0 || tpg_chown_pg(T.sock) < 0 ||
	    ls_write_atomic(pwfile, PW "\n", strlen(PW) + 1, 0600) < 0 ||
	    tpg_chown_pg(pwfile) < 0)
		return -1;
	initdb[11] = pwopt;
	rv = tpg_run(initdb + T.skip, NULL, NULL, 0, &res);
	if (rv < 0 || !res.exited || res.status != 0) {
		fprintf(stderr, "initdb failed (%d): %s\n%s\n", rv, res.out,
		        res.err);
		ls_exec_result_free(&res);
		return -1;
	}
	ls_exec_result_free(&res);

	if ((T.port = tu_free_port()) <= 0 ||
	    ls_fmt(port, sizeof(port), "%d", T.port) < 0)
		return -1;
	if ((fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) <
	    0)
		return -1;
	memset(&o, 0, sizeof(o));
	o.argv = pg + T.skip;
	rv = ls_exec_spawn(&o, 0, fd, &T.proc);
	close(fd);
	if (rv < 0)
		return -1;
	T.started = 1;
	tpg_watchdog_tell(T.proc.pid);

	if (ls_fmt(
	        T.base, sizeof(T.base),
	        "host='%s' port=%d user=postgres password='s3cr\\'3t\\\\pw9'",
	        T.sock, T.port) < 0 ||
	    ls_fmt(T.nopw, sizeof(T.nopw), "host='%s' port=%d user=postgres",
	           T.sock, T.port) < 0 ||
	    ls_fmt(ping, sizeof(ping), "%s dbname=postgres connect_timeout=2",
	           T.nopw) < 0)
		return -1;
	deadline = ls_mono_ms() + 60000;
	while (PQping(ping) != PQPING_OK) {
		struct timespec ts = {0, 50 * 1000000L};

		if (ls_mono_ms() > deadline || tpg_child_gone(T.proc.pid)) {
			fprintf(stderr, "postgres did not come up\n");
			return -1;
		}
		nanosleep(&ts, NULL);
	}
	return 0;
}

int tpg_stop(void)
{
	int problems = 0;

	struct ls_exec_result res;
	char pidfile[300], *text = NULL;
	long long pid = 0;
	pid_t pgid;
	size_t len;

	if (T.started) {
		/* Fast shutdown via the postmaster itself: runuser would
		 * answer a signal to the group by killing it after 2 s. */
		if (ls_fmt(pidfile, sizeof(pidfile), "%s/postmaster.pid",
		           T.data) == 0 &&
		    ls_read_file(pidfile, 4096, &text, &len) == 0) {
			text[strcspn(text, "\n")] = '\0';
			if (ls_parse_int(text, 1, INT32_MAX, &pid) < 0)
				pid = 0;
		}
		free(text);
		pgid = T.proc.pid; /* ls_exec_wait forgets it */
		kill(pid > 0 ? (pid_t)pid : -pgid, SIGINT);
		ls_exec_wait(&T.proc, 30000, 4096, &res);
		ls_exec_result_free(&res);
		/* The whole group is gone, not just runuser. */
		if (!(kill(-pgid, 0) < 0 && errno == ESRCH)) {
			fprintf(stderr, "pg_cluster: processes of the cluster "
			                "outlived it\n");
			problems++;
		}
	}
	tpg_watchdog_tell(0);
	if (T.wd_fd >= 0)
		close(T.wd_fd);
	if (T.wd_pid > 0)
		waitpid(T.wd_pid, NULL, 0);
	if (T.dir[0] != '\0' && ls_rmtree(T.dir) < 0) {
		fprintf(stderr, "pg_cluster: cannot remove %s\n", T.dir);
		problems++;
	}
	return problems;
}

/* ---- SQL helpers ---- */

PGconn *tpg_connect(const char *db)
{
	char ci[1200];
	PGconn *c;

	if (ls_fmt(ci, sizeof(ci), "%s dbname=%s", T.base, db) < 0)
		return NULL;
	c = PQconnectdb(ci);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "connect %s: %s", db, PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	return c;
}

int tpg_exec(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK ||
	         PQresultStatus(r) == PGRES_TUPLES_OK;

	if (!ok)
		fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(r));
	PQclear(r);
	return ok ? 0 : -1;
}

/* First column of the first row as a number; -1 on any failure. */
long long tpg_value(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	long long v = -1;

	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
	    !PQgetisnull(r, 0, 0))
		ls_parse_int(PQgetvalue(r, 0, 0), -1, INT64_MAX, &v);
	else
		fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(r));
	PQclear(r);
	return v;
}

void tpg_on_progress(void *arg, const char *component, uint64_t bytes,
                     uint64_t items, uint64_t total)
{
	struct tpg_progress *p = arg;
	int64_t now = ls_mono_ms();

	if (strcmp(component, "db") != 0 || items != 0 || total != 0)
		p->bad++;
	if (p->calls > 0 && (now - p->last_ms < 249 || bytes < p->last_bytes))
		p->too_soon++;
	p->calls++;
	p->last_bytes = bytes;
	p->last_ms = now;
}
