/*
 * Restoring a node's repositories: the manifests of its storages listed,
 * the repositories restored in parallel (restore_repos_one.c), those the
 * backup does not hold moved aside, as GitLab's restore removes them; and
 * the verification of the result against the .refs.
 */
#include "restore_repos.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup_repos.h"
#include "ls_error.h"
#include "ls_exec.h"
#include "ls_log.h"
#include "ls_util.h"

/* As deep as the cut walks a storage. */
#define RR_MAX_DEPTH 32
#define RR_PROGRESS_MS 250
#define RR_ASIDE_TRIES 100

struct restore_repos_ctx {
	const struct agent_config *cfg;
	const char *backup_dir, *backup_id;
	struct restore_repos_job *jobs;
	size_t njobs, jcap;
	char **aside; /* per storage, made on first use */
	pthread_mutex_t mu;
	size_t next;
	int rv; /* first failure that stops the workers */
	char err[1536];
	int allow_partial;
	struct ls_strlist *failed;
	backup_progress_fn progress;
	void *arg;
	uint64_t bytes, done, empty, removed, nfailed;
	int64_t last_report;
	int reported;
	/* verify */
	int verify;
	restore_repos_mismatch_fn cb;
	void *cbarg;
	uint64_t mismatches;
};

static void report(struct restore_repos_ctx *c, int force)
{
	int64_t now = ls_mono_ms();

	if (c->progress == NULL ||
	    (!force && c->reported && now - c->last_report < RR_PROGRESS_MS))
		return;
	c->reported = 1;
	c->last_report = now;
	c->progress(c->arg, "repositories", c->bytes, c->done, c->njobs);
}

void restore_repos_add_bytes(struct restore_repos_ctx *c, uint64_t n)
{
	pthread_mutex_lock(&c->mu);
	c->bytes += n;
	report(c, 0);
	pthread_mutex_unlock(&c->mu);
}

int restore_repos_aside(struct restore_repos_ctx *c,
                        const struct restore_repos_job *job, char *out,
                        size_t len, char *why, size_t whylen)
{
	char dir[LS_PATH_MAX];
	int64_t now = ls_now();
	int rv = 0, i;

	pthread_mutex_lock(&c->mu);
	if (c->aside[job->st] != NULL)
		goto done;
	/* +gitaly/ is Gitaly's, owned by git: made so if missing. */
	if ((rv = ls_fmt(dir, sizeof(dir), "%s/+gitaly", job->path)) < 0 ||
	    (rv = restore_repos_mkdir(dir, 0750, job->uid, job->gid)) < 0)
		goto done;
	for (i = 0; i < RR_ASIDE_TRIES; i++) {
		rv = i == 0 ? ls_fmt(dir, sizeof(dir),
		                     "%s/+gitaly/lockstep-restore.%lld",
		                     job->path, (long long)now)
		            : ls_fmt(dir, sizeof(dir),
		                     "%s/+gitaly/lockstep-restore.%lld.%d",
		                     job->path, (long long)now, i);
		if (rv < 0)
			break;
		if (mkdir(dir, 0700) == 0) {
			if ((c->aside[job->st] = strdup(dir)) == NULL)
				rv = LS_ENOMEM;
			break;
		}
		if (errno != EEXIST) {
			rv = -errno;
			break;
		}
	}
	if (rv == 0 && i == RR_ASIDE_TRIES)
		rv = LS_EEXIST;
done:
	if (rv == 0)
		rv = ls_fmt(out, len, "%s", c->aside[job->st]);
	else
		(void)ls_fmt(why, whylen, "creating %s: %s", dir,
		             ls_strerror(rv));
	pthread_mutex_unlock(&c->mu);
	return rv;
}

static int job_cmp(const void *a, const void *b)
{
	const struct restore_repos_job *x = a, *y = b;

	if (x->st != y->st)
		return x->st < y->st ? -1 : 1;
	return strcmp(x->rel, y->rel);
}

static int add_job(struct restore_repos_ctx *c,
                   const struct restore_repos_job *tmpl, const char *rel)
{
	if (c->njobs == c->jcap) {
		size_t cap = c->jcap ? c->jcap * 2 : 256;
		struct restore_repos_job *nv =
		    realloc(c->jobs, cap * sizeof(*nv));

		if (nv == NULL)
			return LS_ENOMEM;
		c->jobs = nv;
		c->jcap = cap;
	}
	c->jobs[c->njobs] = *tmpl;
	if ((c->jobs[c->njobs].rel = strdup(rel)) == NULL)
		return LS_ENOMEM;
	c->jobs[c->njobs++].held = 1;
	return 0;
}

/*
 * Walks top/rel for repositories: directories named *.git, never
 * descended into (manifest: holding <id>.toml; storage: every one, for
 * the extras). +gitaly/ at a storage's top is Gitaly's, as at the cut.
 */
static int walk(struct restore_repos_ctx *c, const char *top, const char *rel,
                int depth, int manifests, const struct restore_repos_job *tmpl,
                int (*fn)(struct restore_repos_ctx *,
                          const struct restore_repos_job *, const char *))
{
	char path[LS_PATH_MAX], sub[LS_PATH_MAX], probe[LS_PATH_MAX];
	struct dirent *de;
	struct stat sb;
	DIR *d = NULL;
	size_t n;
	int rv;

	if ((rv = ls_fmt(path, sizeof(path), "%s%s%s", top, *rel ? "/" : "",
	                 rel)) < 0)
		goto out;
	if ((d = opendir(path)) == NULL) {
		rv = -errno;
		if (depth == 0 && manifests && rv == LS_ENOENT)
			rv = 0; /* no repository of this storage */
		else
			(void)ls_fmt(c->err, sizeof(c->err), "%s: %s", path,
			             ls_strerror(rv));
		goto out;
	}
	while (rv == 0 && (errno = 0, de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    (depth == 0 && strncmp(de->d_name, "+gitaly", 7) == 0))
			continue;
		if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) <
		        0 ||
		    !S_ISDIR(sb.st_mode))
			continue;
		if ((rv = ls_fmt(sub, sizeof(sub), "%s%s%s", rel,
		                 *rel ? "/" : "", de->d_name)) < 0)
			break;
		n = strlen(de->d_name);
		if (n <= 4 || strcmp(de->d_name + n - 4, ".git") != 0) {
			if (depth + 1 < RR_MAX_DEPTH)
				rv = walk(c, top, sub, depth + 1, manifests,
				          tmpl, fn);
			continue;
		}
		if (manifests && (ls_fmt(probe, sizeof(probe), "%s/%s/%s.toml",
		                         top, sub, c->backup_id) < 0 ||
		                  stat(probe, &sb) < 0))
			continue;
		if (!backup_repos_rel_ok(sub)) {
			rv = LS_EINVAL;
			(void)ls_fmt(c->err, sizeof(c->err),
			             "%s: unusable repository path", sub);
			break;
		}
		rv = fn(c, tmpl, sub);
	}
	if (rv == 0 && de == NULL && errno != 0) {
		rv = -errno;
		(void)ls_fmt(c->err, sizeof(c->err), "%s: %s", path,
		             ls_strerror(rv));
	}
out:
	if (d != NULL)
		closedir(d);
	if (rv < 0 && !c->err[0])
		(void)ls_fmt(c->err, sizeof(c->err), "%s: %s", path,
		             ls_strerror(rv));
	return rv;
}

/* The storages taken (the filter's, all configured ones without), each a
 * job template; the manifests of each listed as jobs. */
static int list_jobs(struct restore_repos_ctx *c,
                     const struct ls_strlist *filter,
                     struct restore_repos_job *tmpls)
{
	const struct agent_gitaly_storage *sts = c->cfg->gitaly.storages.items;
	size_t nst = c->cfg->gitaly.storages.n, i, j;
	char top[LS_PATH_MAX];
	struct stat sb;
	int rv = 0;

	for (j = 0; filter != NULL && j < filter->n; j++) {
		for (i = 0; i < nst && strcmp(sts[i].name, filter->items[j]);
		     i++)
			;
		if (i == nst) {
			(void)ls_fmt(
			    c->err, sizeof(c->err),
			    "storage %s is not configured on this node",
			    filter->items[j]);
			return LS_EINVAL;
		}
	}
	if ((rv = ls_fmt(top, sizeof(top), "%s/repositories/manifests",
	                 c->backup_dir)) < 0 ||
	    stat(top, &sb) < 0) {
		rv = rv < 0 ? rv : -errno;
		(void)ls_fmt(c->err, sizeof(c->err), "%s: %s", top,
		             ls_strerror(rv));
		return rv;
	}
	for (i = 0; i < nst && rv == 0; i++) {
		tmpls[i].st = SIZE_MAX; /* not taken */
		for (j = 0; filter != NULL && j < filter->n &&
		            strcmp(sts[i].name, filter->items[j]);
		     j++)
			;
		if (filter != NULL && j == filter->n)
			continue;
		if (!backup_repos_storage_name_ok(sts[i].name) ||
		    stat(sts[i].path, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
			rv = LS_EINVAL;
			(void)ls_fmt(c->err, sizeof(c->err),
			             "storage %s: %s: not a usable directory",
			             sts[i].name, sts[i].path);
			break;
		}
		tmpls[i] = (struct restore_repos_job){
		    i, sts[i].name, sts[i].path, sb.st_uid, sb.st_gid, NULL, 1};
		if ((rv = ls_fmt(top, sizeof(top),
		                 "%s/repositories/manifests/%s", c->backup_dir,
		                 sts[i].name)) == 0)
			rv = walk(c, top, "", 0, 1, &tmpls[i], add_job);
	}
	if (rv == 0 && c->njobs > 1)
		qsort(c->jobs, c->njobs, sizeof(*c->jobs), job_cmp);
	return rv;
}

/* A repository's refs as text, bounded as show-ref's output was. */
struct vbuf {
	char *p;
	size_t n, cap;
};

static int vbuf_add(void *arg, const char *s, size_t len)
{
	struct vbuf *b = arg;

	if (len + 1 > RESTORE_REPOS_REFS_MAX - b->n)
		return LS_ETOOBIG;
	if (b->n + len + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 16384;
		char *np;

		while (cap < b->n + len + 1)
			cap *= 2;
		if ((np = realloc(b->p, cap)) == NULL)
			return LS_ENOMEM;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, len);
	b->n += len;
	b->p[b->n] = '\0';
	return 0;
}

static int vbuf_sink(void *arg, const void *buf, size_t len)
{
	return vbuf_add(arg, buf, len);
}

/*
 * What `git show-ref --head` prints for repo ("<id> HEAD" first when HEAD
 * resolves, then every ref under refs/ that resolves, symbolic ones
 * resolved), into out without a git process: the cut's reader
 * (backup_repos_snapshot) then the copy's resolution
 * (backup_repos_reflist_cut) and its .refs writer, whose format is
 * show-ref's. 0: read; 1: left to git, because the cut's reader leaves the
 * repository to git (reftable) or declines it (anything it cannot read as
 * it expects, where git may still see refs); <0: our failure, why set.
 */
static int verify_read(const struct agent_config *cfg, const char *repo,
                       struct vbuf *out, char *why, size_t whylen)
{
	struct backup_repos_reflist l;
	struct backup_repos_block *b = NULL;
	struct vbuf cut = {NULL, 0, 0};
	char *line = NULL;
	FILE *f = NULL;
	int rv, fatal = 0;

	memset(&l, 0, sizeof(l));
	if ((b = calloc(1, sizeof(*b))) == NULL ||
	    (line = malloc(BACKUP_REPOS_LINE_MAX)) == NULL) {
		rv = LS_ENOMEM;
		goto out;
	}
	/* dst "": mkdir("") fails, so a reftable repository's tables are
	 * linked nowhere; s.reftable then says it is git's. */
	rv = backup_repos_snapshot(cfg, repo, "", vbuf_add, &cut, &b->s, why,
	                           whylen);
	if (rv == 1 || b->s.reftable) {
		rv = 1;
		goto out;
	}
	/* The block as the cut file holds it, for the copy's own reader. */
	if (rv < 0 || (rv = vbuf_add(&cut, "end\n", 4)) < 0)
		goto out;
	if ((f = fmemopen(cut.p, cut.n, "r")) == NULL) {
		rv = -errno;
		goto out;
	}
	rv = backup_repos_reflist_cut(&l, f, line, b, &fatal, why, whylen);
	if (rv == LS_ECHILD && !fatal) {
		rv = 1; /* a name or id git may judge otherwise */
		goto out;
	}
	if (rv < 0 || (rv = backup_repos_refs_write(&l, vbuf_sink, out)) < 0)
		goto out;
	rv = 0;
out:
	if (rv < 0 && !why[0])
		(void)ls_fmt(why, whylen, "reading the refs of %s: %s", repo,
		             ls_strerror(rv));
	if (f != NULL)
		fclose(f);
	backup_repos_reflist_free(&l);
	free(cut.p);
	free(line);
	free(b);
	return rv;
}

/* verify: one repository's refs against its last .refs. */
static int verify_one(struct restore_repos_ctx *c, struct restore_repos_job *j,
                      const char *name, char *why, size_t whylen)
{
	static const char *const a_show[] = {"show-ref", "--head", NULL};
	struct restore_repos_manifest m;
	struct restore_repos_refs want, got;
	struct ls_exec_result res;
	struct vbuf text = {NULL, 0, 0};
	char repo[LS_PATH_MAX];
	struct stat sb;
	size_t a = 0, b = 0;
	int rv, git = 0;

	memset(&m, 0, sizeof(m));
	memset(&got, 0, sizeof(got));
	memset(&res, 0, sizeof(res));
	if ((rv = restore_repos_load(c->backup_dir, c->backup_id, j, &m, &want,
	                             why, whylen)) != 0)
		goto out;
	if ((rv = ls_fmt(repo, sizeof(repo), "%s/%s", j->path, j->rel)) < 0)
		goto out;
	pthread_mutex_lock(&c->mu);
	if (lstat(repo, &sb) < 0) {
		c->mismatches++;
		if (c->cb)
			c->cb(c->cbarg, name, NULL, "", "");
		a = want.n; /* nothing to compare */
		b = 1;
	}
	pthread_mutex_unlock(&c->mu);
	if (b)
		goto out;
	if ((rv = verify_read(c->cfg, repo, &text, why, whylen)) < 0)
		goto out;
	if ((git = rv == 1)) {
		why[0] = '\0';
		rv = backup_repos_git(c->cfg, repo, a_show,
		                      RESTORE_REPOS_REFS_MAX, &res);
		/* show-ref exits 1 when there is no ref at all. */
		if (rv < 0 || !res.exited ||
		    (res.status != 0 &&
		     !(res.status == 1 && res.out_len == 0))) {
			backup_repos_why(why, whylen, "git show-ref", rv, &res);
			rv = rv < 0 ? rv : LS_ECHILD;
			goto out;
		}
	}
	if ((rv = restore_repos_refs_parse(
	         git      ? (const char *)res.out
	         : text.p ? text.p
	                  : "",
	         git ? res.out_len : text.n,
	         strcmp(m.fmt, "sha256") == 0 ? 64 : 40, 0,
	         git ? "git show-ref" : "the repository's refs", &got, why,
	         whylen)) < 0)
		goto out;
	pthread_mutex_lock(&c->mu);
	if (strcmp(want.head, got.head) != 0) {
		c->mismatches++;
		if (c->cb)
			c->cb(c->cbarg, name, "HEAD", want.head, got.head);
	}
	while (a < want.n || b < got.n) {
		int d = a == want.n  ? 1
		        : b == got.n ? -1
		                     : strcmp(want.v[a].name, got.v[b].name);
		const char *ref = d <= 0 ? want.v[a].name : got.v[b].name;
		const char *e = d <= 0 ? want.v[a].oid : "";
		const char *f = d >= 0 ? got.v[b].oid : "";

		if (strcmp(e, f) != 0) {
			c->mismatches++;
			if (c->cb)
				c->cb(c->cbarg, name, ref, e, f);
		}
		a += d <= 0;
		b += d >= 0;
	}
	pthread_mutex_unlock(&c->mu);
out:
	ls_exec_result_free(&res);
	free(text.p);
	restore_repos_refs_free(&got);
	restore_repos_refs_free(&want);
	restore_repos_manifest_free(&m);
	return rv < 0 ? rv : 0;
}

static void *worker(void *arg)
{
	struct restore_repos_ctx *c = arg;
	char why[1024], name[LS_PATH_MAX];
	struct restore_repos_job *j;
	int rv, empty = 0;

	for (;;) {
		pthread_mutex_lock(&c->mu);
		if (c->rv < 0 || c->next >= c->njobs) {
			pthread_mutex_unlock(&c->mu);
			break;
		}
		j = &c->jobs[c->next++];
		pthread_mutex_unlock(&c->mu);
		(void)ls_fmt(name, sizeof(name), "%s/%s", j->storage, j->rel);
		why[0] = '\0';
		if (c->verify)
			rv = verify_one(c, j, name, why, sizeof(why));
		else
			rv = restore_repos_one(c->cfg, c->backup_dir,
			                       c->backup_id, j, c, &empty, why,
			                       sizeof(why));
		pthread_mutex_lock(&c->mu);
		if (rv == 1)
			j->held = 0; /* non_existent: removed with the extras */
		c->empty += rv == 0 && empty && !c->verify;
		if (rv < 0 && c->rv == 0)
			log_warnx("repository %s: %s", name, why);
		if (rv < 0 && c->allow_partial && !c->verify &&
		    ls_names_push(&c->failed->items, &c->failed->n,
		                  &(size_t){c->failed->n}, name) == 0) {
			c->nfailed++;
			rv = 0;
		} else if (rv < 0 && c->rv == 0) {
			c->rv = rv;
			(void)ls_fmt(c->err, sizeof(c->err),
			             "repository %s: %s", name, why);
		}
		c->done++;
		report(c, 0);
		pthread_mutex_unlock(&c->mu);
	}
	return NULL;
}

static int run(struct restore_repos_ctx *c)
{
	pthread_t th[BACKUP_REPOS_MAX_THREADS];
	size_t n = backup_repos_threads(c->cfg, c->njobs), i, started = 0;

	for (i = 0; i < n && c->njobs > 0; i++) {
		int e = pthread_create(&th[i], NULL, worker, c);

		if (e != 0) {
			pthread_mutex_lock(&c->mu);
			if (started == 0 && c->rv == 0) {
				c->rv = -e;
				(void)ls_fmt(c->err, sizeof(c->err),
				             "cannot start a thread: %s",
				             strerror(e));
			}
			pthread_mutex_unlock(&c->mu);
			break;
		}
		started++;
	}
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	report(c, 1);
	return c->rv;
}

/* A repository of the storage: moved aside unless the backup holds it. */
static int extra(struct restore_repos_ctx *c,
                 const struct restore_repos_job *tmpl, const char *rel)
{
	struct restore_repos_job k = *tmpl, *j;
	char aside[LS_PATH_MAX], from[LS_PATH_MAX], why[512], *slash;
	int rv;

	k.rel = (char *)rel;
	j = bsearch(&k, c->jobs, c->njobs, sizeof(k), job_cmp);
	if (j != NULL && j->held)
		return 0;
	if ((rv = restore_repos_aside(c, tmpl, aside, sizeof(aside), why,
	                              sizeof(why))) < 0 ||
	    (rv = ls_fmt(aside + strlen(aside), sizeof(aside) - strlen(aside),
	                 "/%s", rel)) < 0 ||
	    (rv = ls_fmt(from, sizeof(from), "%s/%s", tmpl->path, rel)) < 0)
		goto out;
	slash = strrchr(aside, '/');
	*slash = '\0';
	rv = ls_mkdirs(aside, 0700);
	*slash = '/';
	if (rv < 0 || rename(from, aside) < 0) {
		rv = rv < 0 ? rv : -errno;
		(void)ls_fmt(why, sizeof(why), "moving %s to %s: %s", from,
		             aside, ls_strerror(rv));
		goto out;
	}
	log_info("repository %s/%s is not in the backup: moved to %s",
	         tmpl->storage, rel, aside);
	c->removed++;
out:
	if (rv < 0)
		(void)ls_fmt(c->err, sizeof(c->err), "%s", why);
	return rv;
}

static void ctx_free(struct restore_repos_ctx *c)
{
	size_t i;

	for (i = 0; i < c->njobs; i++)
		free(c->jobs[i].rel);
	free(c->jobs);
	for (i = 0; c->aside != NULL && i < c->cfg->gitaly.storages.n; i++)
		free(c->aside[i]);
	free(c->aside);
	pthread_mutex_destroy(&c->mu);
}

static int ctx_init(struct restore_repos_ctx *c, const struct agent_config *cfg,
                    const char *backup_dir, const char *backup_id,
                    struct restore_repos_job **tmpls)
{
	size_t nst = cfg->gitaly.storages.n ? cfg->gitaly.storages.n : 1;

	memset(c, 0, sizeof(*c));
	c->cfg = cfg;
	c->backup_dir = backup_dir;
	c->backup_id = backup_id ? backup_id : "+latest";
	pthread_mutex_init(&c->mu, NULL);
	c->aside = calloc(nst, sizeof(*c->aside));
	*tmpls = calloc(nst, sizeof(**tmpls));
	if (c->aside == NULL || *tmpls == NULL)
		return LS_ENOMEM;
	/* The id names a file of the backup: one path component. */
	if (c->backup_id[0] == '.' || strchr(c->backup_id, '/') != NULL ||
	    strlen(c->backup_id) > 200) {
		(void)ls_fmt(c->err, sizeof(c->err), "bad backup id");
		return LS_EINVAL;
	}
	return 0;
}

int restore_repos(const struct agent_config *cfg, const char *backup_dir,
                  const char *backup_id, const struct ls_strlist *storages,
                  int allow_partial, backup_progress_fn progress, void *arg,
                  struct restore_repos_result *res, struct ls_strlist *failed,
                  char *err, size_t errlen)
{
	struct restore_repos_ctx c;
	struct restore_repos_job *tmpls = NULL;
	size_t i;
	int rv;

	if ((rv = ctx_init(&c, cfg, backup_dir, backup_id, &tmpls)) < 0 ||
	    (rv = list_jobs(&c, storages, tmpls)) < 0)
		goto out;
	c.allow_partial = allow_partial && failed != NULL;
	c.failed = failed;
	c.progress = progress;
	c.arg = arg;
	if ((rv = run(&c)) < 0)
		goto out;
	/* Only once every repository of the backup is in place. */
	for (i = 0; i < cfg->gitaly.storages.n && rv == 0; i++)
		if (tmpls[i].st != SIZE_MAX && tmpls[i].path != NULL)
			rv =
			    walk(&c, tmpls[i].path, "", 0, 0, &tmpls[i], extra);
	if (res != NULL) {
		memset(res, 0, sizeof(*res));
		res->removed = c.removed;
		res->empty = c.empty;
		res->bytes = c.bytes;
		for (i = 0; i < c.njobs; i++)
			res->repos += c.jobs[i].held;
		res->repos -= c.nfailed;
	}
out:
	if (rv < 0)
		(void)ls_fmt(err, errlen, "%s",
		             c.err[0] ? c.err : ls_strerror(rv));
	else if (errlen > 0)
		err[0] = '\0';
	ctx_free(&c);
	free(tmpls);
	return rv;
}

int restore_repos_verify(const struct agent_config *cfg, const char *backup_dir,
                         const char *backup_id,
                         const struct ls_strlist *storages,
                         restore_repos_mismatch_fn cb, void *arg, char *err,
                         size_t errlen)
{
	struct restore_repos_ctx c;
	struct restore_repos_job *tmpls = NULL;
	int rv;

	if ((rv = ctx_init(&c, cfg, backup_dir, backup_id, &tmpls)) < 0 ||
	    (rv = list_jobs(&c, storages, tmpls)) < 0)
		goto out;
	c.verify = 1;
	c.cb = cb;
	c.cbarg = arg;
	if ((rv = run(&c)) < 0)
		goto out;
	rv = c.mismatches > 0x7fffffff ? 0x7fffffff : (int)c.mismatches;
out:
	if (rv < 0)
		(void)ls_fmt(err, errlen, "%s",
		             c.err[0] ? c.err : ls_strerror(rv));
	else if (errlen > 0)
		err[0] = '\0';
	ctx_free(&c);
	free(tmpls);
	return rv;
}
