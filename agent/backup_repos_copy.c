/*
 * Repositories copy: read the cut files back, copy every repository on a
 * pool of threads (backup_repos_one.c does one), report progress, and undo
 * this call's files when it fails.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup_repos.h"
#include "ls_error.h"
#include "ls_log.h"
#include "ls_util.h"

#define COPY_PROGRESS_MS 250

struct copy_file {
	char *path;
	char *snap_root;
	const struct agent_gitaly_storage *st;
};

struct backup_repos_copy_ctx {
	const struct agent_config *cfg;
	const char *backup_dir, *backup_id;
	int allow_partial;
	backup_progress_fn progress;
	void *arg;
	struct backup_artifacts *out;
	struct ls_strlist *failed;
	struct copy_file *files;
	size_t nfiles;
	struct backup_repos_job *jobs;
	size_t njobs, jcap;
	pthread_mutex_t mu;
	size_t next;
	int rv; /* first fatal error; stops the workers */
	char err[1024];
	uint64_t bytes, done;
	int64_t last_report;
	int reported;
};

/* 1: a line (newline stripped) in line; 0: end of file; <0: malformed. */
static int read_line(FILE *f, char *line)
{
	size_t n;

	if (fgets(line, BACKUP_REPOS_LINE_MAX, f) == NULL)
		return ferror(f) ? LS_EIO : 0;
	n = strlen(line);
	/* Too long, unterminated, or with a NUL byte inside. */
	if (n == 0 || line[n - 1] != '\n')
		return LS_EPROTO;
	line[n - 1] = '\0';
	return 1;
}

static int starts(const char *line, const char *kw, const char **rest)
{
	size_t n = strlen(kw);

	if (strncmp(line, kw, n) != 0)
		return 0;
	*rest = line + n;
	return 1;
}

int backup_repos_block_head(FILE *f, char *line, struct backup_repos_block *b)
{
	struct backup_repos_snap *s = &b->s;
	const char *v;
	long long t;
	int rv, fmt = 0;

	memset(s, 0, sizeof(*s));
	b->rel[0] = b->broken[0] = '\0';
	b->snap = 0;
	b->pending = 0;
	if ((rv = read_line(f, line)) <= 0)
		return rv < 0 ? rv : LS_EPROTO;
	if (starts(line, "total ", &v)) {
		if (ls_parse_int(v, 0, INT64_MAX, &t) < 0)
			return LS_EPROTO;
		b->total = (uint64_t)t;
		return 0;
	}
	if (!starts(line, "repo ", &v) || !backup_repos_rel_ok(v))
		return LS_EPROTO;
	ls_strlcpy(b->rel, v, sizeof(b->rel));
	for (;;) {
		if ((rv = read_line(f, line)) <= 0)
			return rv < 0 ? rv : LS_EPROTO;
		if (starts(line, "broken ", &v) && !fmt) {
			ls_strlcpy(b->broken, v[0] ? v : "unreadable",
			           sizeof(b->broken));
			return 1;
		} else if (starts(line, "format ", &v) && !fmt &&
		           (strcmp(v, "sha1") == 0 ||
		            strcmp(v, "sha256") == 0)) {
			ls_strlcpy(s->fmt, v, sizeof(s->fmt));
			fmt = 1;
		} else if (starts(line, "reftable ", &v) && fmt &&
		           !s->reftable &&
		           ls_parse_int(v, 0, INT64_MAX, &t) == 0) {
			b->snap = (uint64_t)t;
			s->reftable = 1;
		} else if (starts(line, "head ", &v) && fmt && !s->head[0] &&
		           !s->headoid[0] &&
		           backup_repos_refname_ok(v, strlen(v))) {
			ls_strlcpy(s->head, v, sizeof(s->head));
		} else if (starts(line, "headoid ", &v) && fmt && !s->head[0] &&
		           !s->headoid[0] &&
		           backup_repos_oid_ok(v, strlen(v))) {
			ls_strlcpy(s->headoid, v, sizeof(s->headoid));
		} else if (fmt) {
			b->pending = 1;
			return 1;
		} else {
			return LS_EPROTO;
		}
	}
}

int backup_repos_block_refs(FILE *f, char *line, struct backup_repos_block *b,
                            backup_repos_ref_fn fn, void *arg, uint64_t *n)
{
	const char *v;
	char *sp;
	int rv, sym;

	*n = 0;
	for (;;) {
		if (b->pending)
			b->pending = 0;
		else if ((rv = read_line(f, line)) <= 0)
			return rv < 0 ? rv : LS_EPROTO;
		if (strcmp(line, "end") == 0)
			return 0;
		if (starts(line, "ref ", &v))
			sym = 0;
		else if (starts(line, "symref ", &v) && !b->s.reftable)
			sym = 1;
		else
			return LS_EPROTO;
		if ((sp = strchr(v, ' ')) == NULL ||
		    (sym ? !backup_repos_refname_ok(v, (size_t)(sp - v))
		         : !backup_repos_oid_ok(v, (size_t)(sp - v))) ||
		    !backup_repos_refname_ok(sp + 1, strlen(sp + 1)))
			return LS_EPROTO;
		*sp = '\0';
		if (fn != NULL && (rv = sym ? fn(arg, NULL, v, sp + 1)
		                            : fn(arg, v, sp + 1, NULL)) < 0)
			return rv;
		(*n)++;
	}
}

static int add_job(struct backup_repos_copy_ctx *c, const struct copy_file *cf,
                   long offset, const char *rel, uint64_t nrefs)
{
	struct backup_repos_job *j;

	if (c->njobs == c->jcap) {
		size_t cap = c->jcap ? c->jcap * 2 : 256;
		struct backup_repos_job *np =
		    realloc(c->jobs, cap * sizeof(*np));
		if (np == NULL)
			return LS_ENOMEM;
		c->jobs = np;
		c->jcap = cap;
	}
	j = &c->jobs[c->njobs];
	if ((j->rel = strdup(rel)) == NULL)
		return LS_ENOMEM;
	j->storage = cf->st->name;
	j->storage_path = cf->st->path;
	j->cut_path = cf->path;
	j->snap_root = cf->snap_root;
	j->offset = offset;
	j->nrefs = nrefs;
	c->njobs++;
	return 0;
}

/* Reads a whole cut file, checking its structure, into jobs. */
static int index_file(struct backup_repos_copy_ctx *c, const char *storage,
                      struct copy_file *cf)
{
	const struct agent_gitaly_storage *sts = c->cfg->gitaly.storages.items;
	struct backup_repos_block *b = NULL;
	char *line = NULL;
	const char *v;
	uint64_t count = 0, nrefs;
	size_t i;
	FILE *f = NULL;
	int rv, bad = 1;

	if ((b = malloc(sizeof(*b))) == NULL ||
	    (line = malloc(BACKUP_REPOS_LINE_MAX)) == NULL) {
		rv = LS_ENOMEM;
		goto out;
	}
	for (i = 0; i < c->cfg->gitaly.storages.n; i++)
		if (backup_repos_storage_name_ok(storage) &&
		    strcmp(sts[i].name, storage) == 0)
			cf->st = &sts[i];
	if (cf->st == NULL) {
		(void)ls_fmt(c->err, sizeof(c->err),
		             "storage %s of the cut is not configured",
		             storage);
		rv = LS_ECONFIG;
		bad = 0;
		goto out;
	}
	if ((f = fopen(cf->path, "re")) == NULL) {
		rv = -errno;
		goto out;
	}
	rv = LS_EPROTO;
	if (read_line(f, line) != 1 ||
	    strcmp(line, BACKUP_REPOS_CUT_MAGIC) != 0 ||
	    read_line(f, line) != 1 || !starts(line, "storage ", &v) ||
	    strcmp(v, storage) != 0)
		goto out;
	for (;;) {
		long off = ftell(f);

		if (off < 0) {
			rv = -errno;
			goto out;
		}
		if ((rv = backup_repos_block_head(f, line, b)) <= 0)
			break;
		nrefs = 0;
		if (b->broken[0] == '\0' &&
		    (rv = backup_repos_block_refs(f, line, b, NULL, NULL,
		                                  &nrefs)) < 0)
			goto out;
		if ((rv = add_job(c, cf, off, b->rel, nrefs)) < 0) {
			bad = 0;
			goto out;
		}
		count++;
	}
	if (rv < 0)
		goto out;
	/* The trailer proves the cut was written to the end. */
	if (b->total != count || read_line(f, line) != 0) {
		rv = LS_EPROTO;
		goto out;
	}
	rv = 0;
out:
	if (rv < 0 && bad)
		(void)ls_fmt(c->err, sizeof(c->err), "cut file %s: %s",
		             cf->path,
		             rv == LS_EPROTO ? "malformed" : ls_strerror(rv));
	if (f != NULL)
		fclose(f);
	free(line);
	free(b);
	return rv;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Finds workdir/repos.<storage>.cut and indexes each, in name order. */
static int index_all(struct backup_repos_copy_ctx *c, const char *workdir)
{
	size_t lp = strlen(BACKUP_REPOS_CUT_PREFIX);
	size_t ls = strlen(BACKUP_REPOS_CUT_SUFFIX);
	char **names = NULL, storage[256], path[LS_PATH_MAX];
	size_t n = 0, cap = 0, i;
	struct dirent *de;
	DIR *d;
	int rv = 0;

	if ((d = opendir(workdir)) == NULL) {
		rv = -errno;
		(void)ls_fmt(c->err, sizeof(c->err), "%s: %s", workdir,
		             strerror(errno));
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		if (len <= lp + ls || len - lp - ls >= sizeof(storage) ||
		    strncmp(de->d_name, BACKUP_REPOS_CUT_PREFIX, lp) != 0 ||
		    strcmp(de->d_name + len - ls, BACKUP_REPOS_CUT_SUFFIX) != 0)
			continue;
		if ((rv = ls_names_push(&names, &n, &cap, de->d_name)) < 0)
			goto out;
	}
	if (n == 0) {
		(void)ls_fmt(c->err, sizeof(c->err),
		             "no repositories cut recorded in %s", workdir);
		rv = LS_ENOENT;
		goto out;
	}
	qsort(names, n, sizeof(*names), name_cmp);
	if ((c->files = calloc(n, sizeof(*c->files))) == NULL) {
		rv = LS_ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		size_t len = strlen(names[i]) - lp - ls;

		memcpy(storage, names[i] + lp, len);
		storage[len] = '\0';
		if ((rv = ls_fmt(path, sizeof(path), "%s/%s", workdir,
		                 names[i])) < 0)
			goto out;
		if ((c->files[i].path = strdup(path)) == NULL) {
			rv = LS_ENOMEM;
			goto out;
		}
		/* repos.<storage>.cut -> repos.<storage>.snap */
		if ((c->files[i].snap_root = malloc(strlen(path) + 8)) ==
		    NULL) {
			free(c->files[i].path);
			rv = LS_ENOMEM;
			goto out;
		}
		memcpy(c->files[i].snap_root, path, strlen(path) - ls);
		ls_strlcpy(c->files[i].snap_root + strlen(path) - ls,
		           BACKUP_REPOS_SNAP_SUFFIX, ls + 8);
		c->nfiles++;
		if ((rv = index_file(c, storage, &c->files[i])) < 0)
			goto out;
	}
	rv = 0;
out:
	if (d != NULL)
		closedir(d);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rv;
}

/* Called with c->mu held. */
static void report(struct backup_repos_copy_ctx *c, int force)
{
	int64_t now = ls_mono_ms();

	if (c->progress == NULL ||
	    (!force && c->reported && now - c->last_report < COPY_PROGRESS_MS))
		return;
	c->reported = 1;
	c->last_report = now;
	c->progress(c->arg, "repositories", c->bytes, c->done, c->njobs);
}

void backup_repos_add_bytes(struct backup_repos_copy_ctx *c, uint64_t n)
{
	pthread_mutex_lock(&c->mu);
	c->bytes += n;
	report(c, 0);
	pthread_mutex_unlock(&c->mu);
}

/* Removes dir and its parents below top while they are empty. */
static void prune_dirs(const char *top, const char *relfile)
{
	char path[LS_PATH_MAX], *slash;
	size_t toplen = strlen(top);

	if (ls_fmt(path, sizeof(path), "%s/%s", top, relfile) < 0)
		return;
	while ((slash = strrchr(path, '/')) != NULL &&
	       (size_t)(slash - path) > toplen) {
		*slash = '\0';
		if (rmdir(path) < 0)
			break;
	}
}

void backup_repos_undo(const char *backup_dir, struct backup_artifacts *a,
                       size_t from)
{
	char path[LS_PATH_MAX];
	size_t i;

	for (i = from; i < a->n; i++) {
		if (ls_fmt(path, sizeof(path), "%s/%s", backup_dir,
		           a->items[i].path) == 0)
			unlink(path);
	}
	for (i = from; i < a->n; i++) {
		prune_dirs(backup_dir, a->items[i].path);
		free(a->items[i].component);
		free(a->items[i].path);
	}
	a->n = from;
}

static int add_failed(struct ls_strlist *l, const char *storage,
                      const char *rel)
{
	char **np = realloc(l->items, (l->n + 1) * sizeof(*np));
	char buf[LS_PATH_MAX];
	int rv;

	if (np == NULL)
		return LS_ENOMEM;
	l->items = np;
	if ((rv = ls_fmt(buf, sizeof(buf), "%s/%s", storage, rel)) < 0)
		return rv;
	if ((l->items[l->n] = strdup(buf)) == NULL)
		return LS_ENOMEM;
	l->n++;
	return 0;
}

/* Moves one repository's artifacts into the call's list (c->mu held). */
static int merge_artifacts(struct backup_repos_copy_ctx *c,
                           struct backup_artifacts *mine)
{
	size_t i;
	int rv;

	for (i = 0; i < mine->n; i++)
		if ((rv = backup_artifacts_add(
		         c->out, mine->items[i].component, mine->items[i].path,
		         mine->items[i].size, mine->items[i].sha256)) < 0)
			return rv;
	return 0;
}

static void *copy_worker(void *arg)
{
	struct backup_repos_copy_ctx *c = arg;
	char why[1024];

	for (;;) {
		struct backup_artifacts mine = {0};
		const struct backup_repos_job *j;
		size_t idx;
		int rv, fatal = 0;

		pthread_mutex_lock(&c->mu);
		if (c->rv < 0 || c->next >= c->njobs) {
			pthread_mutex_unlock(&c->mu);
			break;
		}
		idx = c->next++;
		j = &c->jobs[idx];
		pthread_mutex_unlock(&c->mu);
		why[0] = '\0';
		rv = backup_repos_copy_one(c->cfg, j, c->backup_dir,
		                           c->backup_id, c, &mine, &fatal, why,
		                           sizeof(why));
		pthread_mutex_lock(&c->mu);
		if (rv == 0 && (rv = merge_artifacts(c, &mine)) < 0) {
			/* Whatever got merged is undone with the call. */
			backup_repos_undo(c->backup_dir, &mine, 0);
			fatal = 1;
			(void)ls_fmt(why, sizeof(why), "%s", ls_strerror(rv));
		}
		if (rv < 0 && c->allow_partial && !fatal) {
			log_warnx("repository %s/%s skipped: %s", j->storage,
			          j->rel, why);
			if ((rv = add_failed(c->failed, j->storage, j->rel)) <
			    0) {
				fatal = 1;
				(void)ls_fmt(why, sizeof(why), "%s",
				             ls_strerror(rv));
			}
		}
		if (rv < 0 && (fatal || !c->allow_partial) && c->rv == 0) {
			c->rv = rv;
			(void)ls_fmt(c->err, sizeof(c->err),
			             "repository %s/%s: %s", j->storage, j->rel,
			             why);
		}
		c->done++;
		report(c, 0);
		pthread_mutex_unlock(&c->mu);
		backup_artifacts_free(&mine);
	}
	return NULL;
}

static int id_ok(const char *id)
{
	return id[0] != '\0' && strchr(id, '/') == NULL &&
	       strcmp(id, ".") != 0 && strcmp(id, "..") != 0 &&
	       strchr(id, '\n') == NULL && strlen(id) < 256;
}

int backup_repos_copy(const struct agent_config *cfg, const char *workdir,
                      const char *backup_dir, const char *backup_id,
                      int allow_partial, backup_progress_fn progress, void *arg,
                      struct backup_artifacts *out, struct ls_strlist *failed,
                      char *err, size_t errlen)
{
	struct backup_repos_copy_ctx c;
	pthread_t th[BACKUP_REPOS_MAX_THREADS];
	char path[LS_PATH_MAX];
	size_t start = out->n, fstart = failed ? failed->n : 0, i, nth = 0;
	int rv;

	memset(&c, 0, sizeof(c));
	pthread_mutex_init(&c.mu, NULL);
	c.cfg = cfg;
	c.backup_dir = backup_dir;
	c.backup_id = backup_id;
	c.allow_partial = allow_partial;
	c.progress = progress;
	c.arg = arg;
	c.out = out;
	c.failed = failed;
	if (allow_partial && failed == NULL) {
		(void)ls_fmt(c.err, sizeof(c.err),
		             "allow_partial needs a list");
		rv = LS_EINVAL;
		goto out;
	}
	if (!id_ok(backup_id)) {
		(void)ls_fmt(c.err, sizeof(c.err), "invalid backup id '%s'",
		             backup_id);
		rv = LS_EINVAL;
		goto out;
	}
	if ((rv = index_all(&c, workdir)) < 0)
		goto out;
	/* GitLab's tar shows repositories/ 0700 and what is below 0755. */
	if ((rv = ls_fmt(path, sizeof(path), "%s/repositories", backup_dir)) <
	        0 ||
	    (rv = ls_mkdirs(path, 0700)) < 0) {
		(void)ls_fmt(c.err, sizeof(c.err), "%s: %s", path,
		             ls_strerror(rv));
		goto out;
	}
	nth = backup_repos_threads(cfg, c.njobs);
	for (i = 0; i < nth && c.njobs > 0; i++) {
		int e = pthread_create(&th[i], NULL, copy_worker, &c);
		if (e != 0) {
			pthread_mutex_lock(&c.mu);
			if (i == 0 || c.rv == 0) {
				c.rv = -e;
				(void)ls_fmt(c.err, sizeof(c.err),
				             "cannot start a thread: %s",
				             strerror(e));
			}
			pthread_mutex_unlock(&c.mu);
			break;
		}
	}
	nth = i;
	for (i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	rv = c.rv;
	pthread_mutex_lock(&c.mu);
	if (rv == 0)
		report(&c, 1);
	pthread_mutex_unlock(&c.mu);
out:
	if (rv < 0) {
		backup_repos_undo(backup_dir, out, start);
		for (i = fstart; failed != NULL && i < failed->n; i++)
			free(failed->items[i]);
		if (failed != NULL)
			failed->n = fstart;
		(void)ls_fmt(err, errlen, "%s",
		             c.err[0] ? c.err : ls_strerror(rv));
	}
	for (i = 0; i < c.njobs; i++)
		free(c.jobs[i].rel);
	free(c.jobs);
	for (i = 0; i < c.nfiles; i++) {
		free(c.files[i].path);
		free(c.files[i].snap_root);
	}
	free(c.files);
	pthread_mutex_destroy(&c.mu);
	return rv;
}
