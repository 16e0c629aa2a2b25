/* A private PostgreSQL 15 cluster for tests: started as the postgres
 * user on a free port, stopped (by a watchdog, even if the test dies) and
 * removed afterwards. */
#ifndef PG_CLUSTER_H
#define PG_CLUSTER_H

#include "backup_pg.h"
#include "ls_afile.h"
#include "ls_error.h"
#include "ls_exec.h"
#include "ls_util.h"
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PGBIN "/usr/lib/postgresql/15/bin"
#define RUNUSER "/usr/sbin/runuser"
#define PW "s3cr'3t\\pw9"
#define PW_URI "s3cr%273t%5Cpw9"
#define NROWS 20000

struct tpg {
	char dir[128];
	char data[256];
	char sock[256];
	char base[1024]; /* conninfo without dbname, with the password */
	char nopw[1024]; /* conninfo without dbname and password */
	int port;
	int skip; /* argv words to skip: 4 drops "runuser -u postgres --" */
	int started;
	struct ls_proc proc;
	pid_t wd_pid;
	int wd_fd;
};

extern struct tpg T;

void __attribute__((noreturn)) tpg_watchdog(int fd, const char *dir);
int tpg_watchdog_start(void);
void tpg_watchdog_tell(int v);
int tpg_run(const char *const *argv, const char *const *envp, const void *in,
            size_t inlen, struct ls_exec_result *res);
int tpg_chown_pg(const char *path);
int tpg_child_gone(pid_t pid);
int tpg_start(void);
/* Stops and removes the cluster; returns the number of problems. */
int tpg_stop(void);
PGconn *tpg_connect(const char *db);

/* What a dump's or a load's progress callback was given: component "db",
 * no item counts, bytes never going back, calls at least 250 ms apart. */
struct tpg_progress {
	int calls, bad, too_soon;
	uint64_t last_bytes;
	int64_t last_ms;
};
void tpg_on_progress(void *arg, const char *component, uint64_t bytes,
                     uint64_t items, uint64_t total);
int tpg_exec(PGconn *c, const char *sql);
long long tpg_value(PGconn *c, const char *sql);

#endif
