/*
 * RepoFsck: every repository of every configured storage, not a sample.
 * The walk lists them first, so that progress has a total, then jobs
 * threads each take the next repository and run git fsck on it.
 */
#include "repo_fsck.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gitaly_walk.h"
#include "ls_error.h"
#include "ls_log.h"
#include "ls_util.h"

#define FSCK_ERROR_MAX 300 /* bytes of git's line in a failure */

struct fsck_repo {
	const struct agent_gitaly_storage *st;
	char *rel;
};

struct fsck_run {
	struct xr *x;
	const struct agent_config *cfg;
	struct fsck_repo *repos;
	size_t n, cap;
	pthread_mutex_t mu; /* next, done, failures, over, oom */
	size_t next;
	uint64_t done;
	uint64_t over; /* failures beyond REPO_FSCK_FAILURES_MAX */
	int64_t deadline;
	int late; /* stopped taking repositories at the deadline */
	int oom;
};

static int list_cb(void *arg, const struct agent_gitaly_storage *st,
                   const char *rel)
{
	struct fsck_run *r = arg;
	struct fsck_repo *nv;

	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 256;

		if ((nv = realloc(r->repos, cap * sizeof(*nv))) == NULL)
			return LS_ENOMEM;
		r->repos = nv;
		r->cap = cap;
	}
	if ((r->repos[r->n].rel = strdup(rel)) == NULL)
		return LS_ENOMEM;
	r->repos[r->n++].st = st;
	return 0;
}

/* Every repository of every storage, or an error naming what stopped it. */
static int list_repos(struct fsck_run *r)
{
	const struct agent_config *cfg = r->cfg;
	const struct agent_gitaly_storage *sts = cfg->gitaly.storages.items;
	struct gitaly_walk w;
	size_t i;
	int rv;

	for (i = 0; i < cfg->gitaly.storages.n; i++) {
		memset(&w, 0, sizeof(w));
		if ((rv = gitaly_walk(&sts[i], &w, list_cb, r)) < 0)
			return rv;
		if (w.err != 0) {
			snprintf(r->x->err, sizeof(r->x->err),
			         "gitaly storage '%.100s' (%.500s): cannot "
			         "read %.500s: %s",
			         sts[i].name, sts[i].path, w.err_path,
			         ls_strerror(w.err));
			return w.err;
		}
		if (w.entries >= GITALY_WALK_MAX_ENTRIES) {
			snprintf(r->x->err, sizeof(r->x->err),
			         "gitaly storage '%.100s' (%.500s): walk "
			         "stopped after %d directory entries",
			         sts[i].name, sts[i].path,
			         GITALY_WALK_MAX_ENTRIES);
			return LS_ETOOBIG;
		}
	}
	return 0;
}

/* Called with r->mu held. */
static void add_failure(struct fsck_run *r, const struct fsck_repo *rp,
                        const char *why)
{
	Ls__RepoFsckResult *res = r->x->fsck;
	Ls__RepoFsckFailure *f, **nv;

	if (res->n_failures >= REPO_FSCK_FAILURES_MAX) {
		r->over++;
		return;
	}
	nv = realloc(res->failures, (res->n_failures + 1) * sizeof(*nv));
	if (nv == NULL) {
		r->oom = 1;
		return;
	}
	res->failures = nv;
	if ((f = malloc(sizeof(*f))) == NULL) {
		r->oom = 1;
		return;
	}
	ls__repo_fsck_failure__init(f);
	f->storage = strdup(rp->st->name);
	f->relative_path = strdup(rp->rel);
	f->error = strdup(why);
	/* Required strings: an entry missing one would not pack. */
	if (f->storage == NULL || f->relative_path == NULL ||
	    f->error == NULL) {
		free(f->storage);
		free(f->relative_path);
		free(f->error);
		free(f);
		r->oom = 1;
		return;
	}
	res->failures[res->n_failures++] = f;
}

static void *worker(void *arg)
{
	struct fsck_run *r = arg;
	char why[FSCK_ERROR_MAX + 1];

	for (;;) {
		struct fsck_repo *rp;
		uint64_t done;
		int ok;

		pthread_mutex_lock(&r->mu);
		if (r->next < r->n && ls_mono_ms() >= r->deadline)
			r->late = 1;
		if (r->next == r->n || r->late) {
			pthread_mutex_unlock(&r->mu);
			return NULL;
		}
		rp = &r->repos[r->next++];
		pthread_mutex_unlock(&r->mu);

		ok = gitaly_fsck(r->cfg, rp->st, rp->rel, GITALY_FSCK_LAST_LINE,
		                 why, sizeof(why));
		pthread_mutex_lock(&r->mu);
		if (!ok)
			add_failure(r, rp, why);
		done = ++r->done;
		pthread_mutex_unlock(&r->mu);
		if (!ok)
			log_warnx("fsck %s/%s: %s", rp->st->name, rp->rel, why);
		xr_progress(r->x, "fsck", 0, done, r->n);
	}
}

static int cmp_failure(const void *a, const void *b)
{
	const Ls__RepoFsckFailure *fa = *(Ls__RepoFsckFailure *const *)a;
	const Ls__RepoFsckFailure *fb = *(Ls__RepoFsckFailure *const *)b;
	int c = strcmp(fa->storage, fb->storage);

	return c != 0 ? c : strcmp(fa->relative_path, fb->relative_path);
}

static size_t default_jobs(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : (size_t)n;
}

/* Runs the workers: jobs - 1 threads and this one. */
static void run_jobs(struct fsck_run *r, size_t jobs)
{
	pthread_t th[REPO_FSCK_JOBS_MAX];
	size_t started = 0, i;

	for (i = 1; i < jobs; i++) {
		if (pthread_create(&th[started], NULL, worker, r) != 0) {
			/* Fewer jobs, not a failed check. */
			log_warnx("fsck: %zu of %zu jobs started", started + 1,
			          jobs);
			break;
		}
		started++;
	}
	worker(r);
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
}

int xr_repo_fsck(struct xr *x, const Ls__RepoFsck *f)
{
	struct fsck_run r;
	size_t jobs, i;
	int64_t timeout = x->cfg->op_timeout;
	int rv;

	memset(&r, 0, sizeof(r));
	r.x = x;
	r.cfg = x->cfg;
	pthread_mutex_init(&r.mu, NULL);
	if ((x->fsck = malloc(sizeof(*x->fsck))) == NULL) {
		rv = LS_ENOMEM;
		goto out;
	}
	ls__repo_fsck_result__init(x->fsck);
	if ((rv = list_repos(&r)) < 0)
		goto out;
	jobs = f->has_jobs && f->jobs > 0 ? f->jobs : default_jobs();
	if (jobs > REPO_FSCK_JOBS_MAX)
		jobs = REPO_FSCK_JOBS_MAX;
	if (jobs > r.n)
		jobs = r.n > 0 ? r.n : 1;
	/* Room to answer before the agent gives up on this child: no new
	 * repository is started in the last tenth of the operation's time
	 * (at most a minute). */
	r.deadline = ls_mono_ms() + timeout -
	             (timeout / 10 < 60000 ? timeout / 10 : 60000);
	log_info("fsck: %zu repositories, %zu jobs", r.n, jobs);
	xr_progress(x, "fsck", 0, 0, r.n);
	run_jobs(&r, jobs);
	x->fsck->checked = r.done;
	if (x->fsck->n_failures > 1)
		qsort(x->fsck->failures, x->fsck->n_failures,
		      sizeof(*x->fsck->failures), cmp_failure);
	if (r.oom) {
		rv = LS_ENOMEM;
	} else if (r.late) {
		snprintf(x->err, sizeof(x->err),
		         "fsck stopped at the operation deadline: %llu of "
		         "%zu repositories checked",
		         (unsigned long long)r.done, r.n);
		rv = LS_ETIMEDOUT;
	} else if (r.over > 0) {
		snprintf(x->err, sizeof(x->err),
		         "fsck failed on %llu repositories; the first %d "
		         "are listed",
		         (unsigned long long)(x->fsck->n_failures + r.over),
		         REPO_FSCK_FAILURES_MAX);
		rv = LS_EINTEGRITY;
	}
out:
	for (i = 0; i < r.n; i++)
		free(r.repos[i].rel);
	free(r.repos);
	pthread_mutex_destroy(&r.mu);
	return rv;
}
