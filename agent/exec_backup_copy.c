/*
 * The copy of one node's part of a backup, from what its cut recorded. The
 * steps (the database dumps, the repositories, each file component) run
 * side by side, largest first, at most jobs+1 at a time: on a node that
 * holds everything, as a single-box Omnibus does, one long dump must not
 * keep the archives waiting. Each step writes its own artifacts and error;
 * they are merged in a fixed order when all have ended, so the result does
 * not depend on which finished first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backup_artifact.h"
#include "backup_files.h"
#include "backup_pg.h"
#include "backup_pg_rows.h"
#include "backup_redis.h"
#include "backup_repos.h"
#include "exec_backup_int.h"
#include "ls_error.h"
#include "ls_frame.h"
#include "ls_log.h"
#include "ls_util.h"

/* Progress frames from one node at most this often. */
#define PROG_INTERVAL_MS 250

enum task_kind { TASK_DB, TASK_REPOS, TASK_FILES, TASK_REDIS };

struct task {
	enum task_kind kind;
	const char *component; /* timing and progress name */
	uint64_t weight;       /* bigger starts first */
	struct backup_artifacts arts;
	struct ls_strlist failed;
	struct {
		Ls__TableCount **items;
		size_t n, cap;
	} counts;
	int rv;
	int64_t ms;
	char err[1024];
};

struct runner {
	struct session *s;
	const Ls__BackupCopy *c;
	enum backup_compression z;
	struct task *tasks;
	size_t ntasks, next;
	pthread_mutex_t mtx;
};

static void prog_send(struct session *s)
{
	Ls__SessionFrame f = LS__SESSION_FRAME__INIT;
	Ls__Progress p = LS__PROGRESS__INIT;
	char names[128] = "";
	uint8_t buf[512];
	size_t i, len, used = 0;

	p.op_id = s->op_id;
	for (i = 0; i < s->nprog; i++) {
		const struct exec_bk_prog *e = &s->prog[i];

		p.bytes += e->bytes;
		p.items_done += e->done;
		p.items_total += e->total;
		if (!e->running)
			continue;
		/* A name that no longer fits is left out, not cut. */
		if (ls_fmt(names + used, sizeof(names) - used, "%s%s",
		           used ? "+" : "", e->component) == 0)
			used += strlen(names + used);
		else
			names[used] = '\0';
	}
	p.component = names[0] ? names : "copy";
	f.kind_case = LS__SESSION_FRAME__KIND_PROGRESS;
	f.progress = &p;
	if (ls__session_frame__get_packed_size(&f) > sizeof(buf))
		return;
	len = ls__session_frame__pack(&f, buf);
	(void)ls_frame_write(STDOUT_FILENO, buf, len);
	s->prog_sent_ms = ls_mono_ms();
}

static struct exec_bk_prog *prog_find(struct session *s, const char *component)
{
	size_t i;

	for (i = 0; i < s->nprog; i++)
		if (strcmp(s->prog[i].component, component) == 0)
			return &s->prog[i];
	if (s->nprog == EXEC_BK_MAX_TASKS)
		return NULL;
	memset(&s->prog[s->nprog], 0, sizeof(s->prog[0]));
	ls_strlcpy(s->prog[s->nprog].component, component,
	           sizeof(s->prog[0].component));
	return &s->prog[s->nprog++];
}

/*
 * One frame for the whole node: the steps running now by name, bytes and
 * items summed over every step so far, so the rate the CLI shows is the
 * node's.
 */
void exec_bk_progress(void *arg, const char *component, uint64_t bytes,
                      uint64_t done, uint64_t total)
{
	struct session *s = arg;
	struct exec_bk_prog *e;

	pthread_mutex_lock(&s->prog_mtx);
	if ((e = prog_find(s, component)) != NULL) {
		e->bytes = bytes;
		e->done = done;
		e->total = total;
		e->running = 1;
	}
	if (ls_mono_ms() - s->prog_sent_ms >= PROG_INTERVAL_MS)
		prog_send(s);
	pthread_mutex_unlock(&s->prog_mtx);
}

static void prog_step_ended(struct session *s, const char *component)
{
	struct exec_bk_prog *e;

	pthread_mutex_lock(&s->prog_mtx);
	if ((e = prog_find(s, component)) != NULL)
		e->running = 0;
	pthread_mutex_unlock(&s->prog_mtx);
}

static int count_cb(void *arg, const char *table, uint64_t rows)
{
	struct task *t = arg;
	Ls__TableCount *tc;

	if (t->counts.n == t->counts.cap) {
		size_t cap = t->counts.cap ? t->counts.cap * 2 : 64;
		Ls__TableCount **n = realloc(t->counts.items, cap * sizeof(*n));
		if (n == NULL)
			return LS_ENOMEM;
		t->counts.items = n;
		t->counts.cap = cap;
	}
	if ((tc = malloc(sizeof(*tc))) == NULL)
		return LS_ENOMEM;
	ls__table_count__init(tc);
	if ((tc->table = strdup(table)) == NULL) {
		free(tc);
		return LS_ENOMEM;
	}
	tc->rows = rows;
	t->counts.items[t->counts.n++] = tc;
	return 0;
}

/* A separate CI database's tables under GitLab's name for that database
 * (config/database.yml "ci:"): "ci:public.ci_builds". */
static int count_ci_cb(void *arg, const char *table, uint64_t rows)
{
	char name[256];

	if (ls_fmt(name, sizeof(name), "ci:%s", table) < 0)
		return LS_ETOOBIG;
	return count_cb(arg, name, rows);
}

/*
 * The dump, and the row counts a restore must match: those of the dump
 * itself, read as it streams (no second scan of every table), or, when it
 * cannot be read so, count(*) in the snapshot the cut holds.
 */
static int dump_db(struct runner *r, struct task *t, const char *conninfo,
                   const char *snap, struct backup_pg_hold *hold,
                   int (*cb)(void *, const char *, uint64_t), const char *rel)
{
	struct backup_pg_rows *rows = backup_pg_rows_new();
	char path[LS_PATH_MAX];
	uint8_t sha[32];
	uint64_t size;
	int rv;

	if ((rv = ls_fmt(path, sizeof(path), "%s/%s", r->c->dest_dir, rel)) < 0)
		goto out;
	rv = backup_pg_dump(r->s->cfg->backup.pg_dump, conninfo, snap, path,
	                    r->z, exec_bk_progress, r->s, rows, &size, sha,
	                    t->err, sizeof(t->err));
	if (rv < 0 ||
	    (rv = backup_artifacts_add(&t->arts, "db", rel, size, sha)) < 0)
		goto out;
	if (rows != NULL &&
	    (rv = backup_pg_rows_finish(rows, cb, t)) != LS_EPROTO)
		goto out;
	log_info("backup %s: %s: rows counted with SQL (%s)", r->s->id, rel,
	         rows ? backup_pg_rows_why(rows) : "out of memory");
	rv = backup_pg_table_counts(hold, cb, t, t->err, sizeof(t->err));
out:
	backup_pg_rows_free(rows);
	return rv;
}

static int run_db(struct runner *r, struct task *t)
{
	struct session *s = r->s;
	int rv;

	if ((rv = dump_db(r, t, s->cfg->postgresql.conninfo, s->snapshot, s->pg,
	                  count_cb, "db/database.sql.gz")) < 0 ||
	    s->pg_ci == NULL)
		return rv;
	return dump_db(r, t, s->cfg->postgresql.ci_conninfo, s->ci_snapshot,
	               s->pg_ci, count_ci_cb, "db/ci_database.sql.gz");
}

static int run_repos(struct runner *r, struct task *t)
{
	char path[LS_PATH_MAX];
	int rv;

	if ((rv = ls_fmt(path, sizeof(path), "%s/repos", r->s->workdir)) < 0)
		return rv;
	return backup_repos_copy(r->s->cfg, path, r->c->dest_dir, r->s->id,
	                         r->c->allow_partial, exec_bk_progress, r->s,
	                         &t->arts, &t->failed, t->err, sizeof(t->err));
}

static int run_files(struct runner *r, struct task *t)
{
	char snap[LS_PATH_MAX], path[LS_PATH_MAX], rel[64];
	int rv;

	if ((rv = ls_fmt(snap, sizeof(snap), "%s/files/%s", r->s->workdir,
	                 t->component)) < 0 ||
	    (rv = ls_fmt(rel, sizeof(rel), "%s.tar.gz", t->component)) < 0 ||
	    (rv = ls_fmt(path, sizeof(path), "%s/%s", r->c->dest_dir, rel)) < 0)
		return rv;
	return backup_files_copy(t->component, snap, path, rel, r->z,
	                         exec_bk_progress, r->s, &t->arts, t->err,
	                         sizeof(t->err));
}

/* The cut's RDB, compressed to lockstep/redis/<node>/dump.rdb.gz. */
static int run_redis(struct runner *r, struct task *t)
{
	char snap[LS_PATH_MAX], path[LS_PATH_MAX], rel[128];
	int rv;

	if ((rv = backup_redis_relpath(r->c->node, rel, sizeof(rel))) < 0) {
		snprintf(t->err, sizeof(t->err),
		         "redis: the copy carries no valid node name");
		return rv;
	}
	if ((rv = ls_fmt(snap, sizeof(snap), "%s/%s", r->s->workdir,
	                 EXEC_BK_REDIS_SNAP)) < 0 ||
	    (rv = ls_fmt(path, sizeof(path), "%s/%s", r->c->dest_dir, rel)) < 0)
		return rv;
	return backup_redis_copy(snap, path, rel, r->z, exec_bk_progress, r->s,
	                         &t->arts, t->err, sizeof(t->err));
}

static void *worker(void *arg)
{
	struct runner *r = arg;

	for (;;) {
		struct task *t;
		int64_t t0;

		pthread_mutex_lock(&r->mtx);
		t = r->next < r->ntasks ? &r->tasks[r->next++] : NULL;
		pthread_mutex_unlock(&r->mtx);
		if (t == NULL)
			return NULL;
		t0 = ls_mono_ms();
		switch (t->kind) {
		case TASK_DB:
			t->rv = run_db(r, t);
			break;
		case TASK_REPOS:
			t->rv = run_repos(r, t);
			break;
		case TASK_FILES:
			t->rv = run_files(r, t);
			break;
		case TASK_REDIS:
			t->rv = run_redis(r, t);
			break;
		}
		t->ms = ls_mono_ms() - t0;
		prog_step_ended(r->s, t->component);
		if (t->rv < 0)
			log_warnx("backup %s: %s: %s", r->s->id, t->component,
			          t->err[0] ? t->err : ls_strerror(t->rv));
	}
}

static int by_weight(const void *a, const void *b)
{
	const struct task *x = a, *y = b;

	return x->weight < y->weight ? 1 : x->weight > y->weight ? -1 : 0;
}

static size_t plan(struct session *s, struct task *tasks)
{
	size_t n = 0, i;

	/* Unknown sizes: the dump and the repositories are usually the
	 * longest steps, so they start first. */
	if (s->pg != NULL)
		tasks[n++] = (struct task){
		    .kind = TASK_DB, .component = "db", .weight = UINT64_MAX};
	if (s->repos)
		tasks[n++] = (struct task){.kind = TASK_REPOS,
		                           .component = "repositories",
		                           .weight = UINT64_MAX - 1};
	for (i = 0; i < s->ncomps && n < EXEC_BK_MAX_TASKS; i++)
		tasks[n++] = (struct task){.kind = TASK_FILES,
		                           .component = s->comps[i],
		                           .weight = s->comp_bytes[i]};
	if (s->redis && n < EXEC_BK_MAX_TASKS)
		tasks[n++] = (struct task){.kind = TASK_REDIS,
		                           .component = "redis",
		                           .weight = s->redis_cut.rdb_bytes};
	qsort(tasks, n, sizeof(*tasks), by_weight);
	return n;
}

static size_t workers_for(const struct agent_config *cfg, size_t ntasks)
{
	long n = cfg->backup.jobs;

	if (n <= 0)
		n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n <= 0)
		n = 1;
	n += 1; /* the dump waits on PostgreSQL as much as it computes */
	return (size_t)n < ntasks ? (size_t)n : ntasks;
}

static void timing(struct exec_bk_copy_out *out, const char *component,
                   const struct backup_artifacts *arts, size_t first,
                   int64_t ms)
{
	Ls__ComponentTiming *x;
	uint64_t bytes = 0;
	size_t i;

	if (out->ntimings == sizeof(out->items) / sizeof(out->items[0]))
		return;
	for (i = first; i < arts->n; i++)
		bytes += arts->items[i].size;
	x = &out->items[out->ntimings];
	ls__component_timing__init(x);
	ls_strlcpy(out->names[out->ntimings], component, sizeof(out->names[0]));
	x->component = out->names[out->ntimings];
	x->bytes = bytes;
	x->ms = (uint64_t)(ms > 0 ? ms : 0);
	out->ptrs[out->ntimings++] = x;
}

/* Moves t's results into out, in task order. */
static int merge(struct task *t, struct exec_bk_copy_out *out)
{
	size_t i, first = out->arts->n;
	int rv = 0;

	for (i = 0; i < t->arts.n && rv == 0; i++)
		rv = backup_artifacts_add(out->arts, t->arts.items[i].component,
		                          t->arts.items[i].path,
		                          t->arts.items[i].size,
		                          t->arts.items[i].sha256);
	if (rv == 0 && t->failed.n > 0) {
		char **n = realloc(out->failed->items,
		                   (out->failed->n + t->failed.n) * sizeof(*n));
		if (n == NULL)
			return LS_ENOMEM;
		out->failed->items = n;
		memcpy(n + out->failed->n, t->failed.items,
		       t->failed.n * sizeof(*n));
		out->failed->n += t->failed.n;
		free(t->failed.items);
		t->failed.items = NULL;
		t->failed.n = 0;
	}
	if (rv == 0 && t->counts.n > 0) {
		Ls__TableCount **n = realloc(
		    out->counts, (out->ncounts + t->counts.n) * sizeof(*n));
		if (n == NULL)
			return LS_ENOMEM;
		out->counts = n;
		memcpy(n + out->ncounts, t->counts.items,
		       t->counts.n * sizeof(*n));
		out->ncounts += t->counts.n;
		free(t->counts.items);
		t->counts.items = NULL;
		t->counts.n = 0;
	}
	if (rv == 0)
		timing(out, t->component, out->arts, first, t->ms);
	return rv;
}

static void task_free(struct task *t)
{
	size_t i;

	backup_artifacts_free(&t->arts);
	for (i = 0; i < t->failed.n; i++)
		free(t->failed.items[i]);
	free(t->failed.items);
	for (i = 0; i < t->counts.n; i++) {
		free(t->counts.items[i]->table);
		free(t->counts.items[i]);
	}
	free(t->counts.items);
}

int exec_bk_copy(struct session *s, const Ls__BackupCopy *c,
                 struct exec_bk_copy_out *out)
{
	struct task tasks[EXEC_BK_MAX_TASKS];
	pthread_t th[EXEC_BK_MAX_TASKS];
	struct runner r;
	size_t i, nth = 0, first = out->arts->n;
	int64_t t0 = ls_mono_ms();
	int rv;

	if (c->dest_dir[0] != '/') {
		snprintf(s->err, sizeof(s->err),
		         "destination %s is not absolute", c->dest_dir);
		return LS_EINVAL;
	}
	if ((rv = exec_bk_seal_secrets(s, c, out->arts)) < 0)
		return rv;
	timing(out, "secrets", out->arts, first, ls_mono_ms() - t0);

	memset(&r, 0, sizeof(r));
	r.s = s;
	r.c = c;
	r.z = c->compression == 1 ? BACKUP_ZSTD : BACKUP_GZIP;
	r.tasks = tasks;
	r.ntasks = plan(s, tasks);
	pthread_mutex_init(&r.mtx, NULL);
	for (i = 0; i < workers_for(s->cfg, r.ntasks); i++) {
		if (pthread_create(&th[nth], NULL, worker, &r) != 0)
			break;
		nth++;
	}
	if (nth == 0 && r.ntasks > 0)
		worker(&r); /* no thread to be had: one after another */
	for (i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&r.mtx);

	/* A final frame with every step's totals. */
	pthread_mutex_lock(&s->prog_mtx);
	if (s->nprog > 0)
		prog_send(s);
	pthread_mutex_unlock(&s->prog_mtx);

	rv = 0;
	for (i = 0; i < r.ntasks; i++) {
		if (tasks[i].rv < 0 && rv == 0) {
			rv = tasks[i].rv;
			ls_strlcpy(s->err, tasks[i].err, sizeof(s->err));
		}
		if (rv == 0)
			rv = merge(&tasks[i], out);
		task_free(&tasks[i]);
	}
	return rv;
}

void exec_bk_copy_out_free(struct exec_bk_copy_out *out)
{
	size_t i;

	for (i = 0; i < out->ncounts; i++) {
		free(out->counts[i]->table);
		free(out->counts[i]);
	}
	free(out->counts);
	out->counts = NULL;
	out->ncounts = 0;
}
