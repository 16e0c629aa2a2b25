/*
 * Repositories cut: find every repository of every storage and snapshot its
 * ref storage while GitLab is frozen, without a git process per repository
 * (backup_repos_snap.c says how and why).
 *
 * Cut file, one per storage (workdir/repos.<storage>.cut), line based:
 *   lockstep-repos-cut 2
 *   storage <name>
 *   repo <relative path>          one block per repository...
 *   format <sha1|sha256>          ...its object format
 *   reftable <n>                  ...refs in reftable/: tables linked into
 *                                    repos.<storage>.snap/<n>.git
 *   head <refname>                ...HEAD's target when HEAD is symbolic
 *   headoid <oid>                 ...HEAD's object id when it is detached
 *   ref <oid> <refname>           ...every ref (loose ones, then packed)
 *   symref <refname> <target>     ...a loose symbolic ref
 *   end                           (or "broken <why>" after "repo")
 *   total <repositories>
 * Refnames and object ids never hold spaces or newlines; relative paths
 * with a newline are refused at the walk.
 */
#include "backup_repos.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ls_afile.h"
#include "ls_error.h"
#include "ls_exec.h"
#include "ls_log.h"
#include "ls_util.h"

/* Legacy namespaces nest (group/subgroup/.../project.git); GitLab caps
 * nesting at 20 levels. */
#define CUT_MAX_DEPTH 32

struct cut_repo {
	size_t st; /* index into the storages */
	char *rel;
};

struct cut_buf {
	char *p;
	size_t n, cap;
};

struct cut_ctx {
	const struct agent_config *cfg;
	const struct agent_gitaly_storage *sts;
	size_t nst;
	struct cut_repo *repos;
	size_t n, cap;
	struct ls_afile **files; /* one per storage */
	pthread_mutex_t mu;
	size_t next;
	int rv;
	char err[768];
	char **snaps; /* per storage: workdir/repos.<storage>.snap */
	uint64_t refs, empty;
};

static int cut_buf_add(struct cut_buf *b, const char *s, size_t len)
{
	if (b->n + len + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
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

static int cut_buf_str(struct cut_buf *b, const char *a, const char *c)
{
	int rv = cut_buf_add(b, a, strlen(a));

	if (rv == 0)
		rv = cut_buf_add(b, c, strlen(c));
	if (rv == 0)
		rv = cut_buf_add(b, "\n", 1);
	return rv;
}

static int has_git_suffix(const char *name)
{
	size_t n = strlen(name);

	return n > 4 && strcmp(name + n - 4, ".git") == 0;
}

static int cut_add(struct cut_ctx *c, size_t st, const char *rel)
{
	if (!backup_repos_rel_ok(rel)) {
		(void)ls_fmt(c->err, sizeof(c->err),
		             "storage %s: cannot record repository path '%s'",
		             c->sts[st].name, rel);
		return LS_EINVAL;
	}
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 256;
		struct cut_repo *np = realloc(c->repos, cap * sizeof(*np));
		if (np == NULL)
			return LS_ENOMEM;
		c->repos = np;
		c->cap = cap;
	}
	if ((c->repos[c->n].rel = strdup(rel)) == NULL)
		return LS_ENOMEM;
	c->repos[c->n++].st = st;
	return 0;
}

static int cut_walk(struct cut_ctx *c, size_t st, const char *rel, int depth)
{
	char path[LS_PATH_MAX], sub[LS_PATH_MAX];
	struct dirent *de;
	DIR *d = NULL;
	int rv;

	if ((rv = ls_fmt(path, sizeof(path), "%s%s%s", c->sts[st].path,
	                 *rel ? "/" : "", rel)) < 0)
		goto out;
	if ((d = opendir(path)) == NULL) {
		rv = -errno;
		(void)ls_fmt(c->err, sizeof(c->err), "storage %s: %s: %s",
		             c->sts[st].name, path, strerror(errno));
		goto out;
	}
	rv = 0;
	while (rv == 0 && (errno = 0, de = readdir(d)) != NULL) {
		int is_dir = de->d_type == DT_DIR;

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		/* Gitaly's own scratch space holds no repositories. */
		if (depth == 0 && strncmp(de->d_name, "+gitaly", 7) == 0)
			continue;
		if (de->d_type == DT_UNKNOWN) {
			struct stat sb;
			is_dir = fstatat(dirfd(d), de->d_name, &sb,
			                 AT_SYMLINK_NOFOLLOW) == 0 &&
			         S_ISDIR(sb.st_mode);
		}
		if (!is_dir)
			continue;
		if ((rv = ls_fmt(sub, sizeof(sub), "%s%s%s", rel,
		                 *rel ? "/" : "", de->d_name)) < 0)
			break;
		if (has_git_suffix(de->d_name))
			rv = cut_add(c, st, sub);
		else if (depth + 1 < CUT_MAX_DEPTH)
			rv = cut_walk(c, st, sub, depth + 1);
	}
	if (rv == 0 && errno != 0) {
		rv = -errno;
		(void)ls_fmt(c->err, sizeof(c->err), "storage %s: %s: %s",
		             c->sts[st].name, path, strerror(errno));
	}
out:
	if (d != NULL)
		closedir(d);
	return rv;
}

static int cut_repo_cmp(const void *a, const void *b)
{
	const struct cut_repo *x = a, *y = b;

	if (x->st != y->st)
		return x->st < y->st ? -1 : 1;
	return strcmp(x->rel, y->rel);
}

static int cut_emit(void *arg, const char *s, size_t len)
{
	return cut_buf_add(arg, s, len);
}

/*
 * Snapshots one repository (n: its index, which numbers a reftable
 * snapshot) into hdr (repo, format, HEAD lines) and refs (ref lines and
 * end), or a broken block into hdr when it cannot be read. Returns <0 only
 * for our own failures (workdir, memory).
 */
static int cut_one(struct cut_ctx *c, size_t n, struct cut_buf *hdr,
                   struct cut_buf *refs, struct backup_repos_snap *s,
                   int *empty)
{
	const struct cut_repo *r = &c->repos[n];
	char gitdir[LS_PATH_MAX], dst[LS_PATH_MAX], num[64], why[512];
	size_t i;
	int rv;

	why[0] = '\0';
	*empty = 0;
	if ((rv = ls_fmt(dst, sizeof(dst), "%s/%zu.git", c->snaps[r->st], n)) <
	    0)
		goto out;
	if (ls_fmt(gitdir, sizeof(gitdir), "%s/%s", c->sts[r->st].path,
	           r->rel) < 0) {
		(void)ls_fmt(why, sizeof(why), "path too long");
		rv = 1;
	} else {
		rv = backup_repos_snapshot(c->cfg, gitdir, dst, cut_emit, refs,
		                           s, why, sizeof(why));
	}
	if (rv < 0) {
		pthread_mutex_lock(&c->mu);
		if (c->rv == 0) {
			c->rv = rv;
			(void)ls_fmt(c->err, sizeof(c->err), "%s/%s: %s",
			             c->sts[r->st].name, r->rel, why);
		}
		pthread_mutex_unlock(&c->mu);
		goto out;
	}
	if (rv == 0) {
		(void)ls_fmt(num, sizeof(num), "%zu", n);
		if ((rv = cut_buf_str(hdr, "repo ", r->rel)) < 0 ||
		    (rv = cut_buf_str(hdr, "format ", s->fmt)) < 0 ||
		    (s->reftable &&
		     (rv = cut_buf_str(hdr, "reftable ", num)) < 0) ||
		    (s->head[0] &&
		     (rv = cut_buf_str(hdr, "head ", s->head)) < 0) ||
		    (s->headoid[0] &&
		     (rv = cut_buf_str(hdr, "headoid ", s->headoid)) < 0) ||
		    (rv = cut_buf_add(refs, "end\n", 4)) < 0)
			goto out;
		*empty = !s->reftable && s->nrefs == 0 && !s->headoid[0];
		goto out;
	}
	/* Recorded, so that the copy fails it (or lists it as failed). */
	for (i = 0; why[i] != '\0'; i++)
		if ((unsigned char)why[i] < 0x20)
			why[i] = '?';
	log_warnx("repository %s/%s unreadable at the cut: %s",
	          c->sts[r->st].name, r->rel, why);
	hdr->n = refs->n = 0;
	s->nrefs = 0;
	if (s->reftable)
		(void)ls_rmtree(dst);
	if ((rv = cut_buf_str(hdr, "repo ", r->rel)) == 0)
		rv = cut_buf_str(hdr, "broken ", why[0] ? why : "unreadable");
out:
	return rv;
}

static void *cut_worker(void *arg)
{
	struct cut_ctx *c = arg;
	struct cut_buf hdr = {0}, refs = {0};
	struct backup_repos_snap *s = malloc(sizeof(*s));

	for (;;) {
		size_t n;
		int rv, empty = 0;

		pthread_mutex_lock(&c->mu);
		if (s == NULL && c->rv == 0) {
			c->rv = LS_ENOMEM;
			(void)ls_fmt(c->err, sizeof(c->err), "%s",
			             ls_strerror(LS_ENOMEM));
		}
		if (c->rv < 0 || c->next >= c->n) {
			pthread_mutex_unlock(&c->mu);
			break;
		}
		n = c->next++;
		pthread_mutex_unlock(&c->mu);
		hdr.n = refs.n = 0;
		rv = cut_one(c, n, &hdr, &refs, s, &empty);
		pthread_mutex_lock(&c->mu);
		/* Whole blocks only: a block is one repository's. */
		if (rv == 0 &&
		    (rv = ls_afile_write(c->files[c->repos[n].st], hdr.p,
		                         hdr.n)) == 0 &&
		    refs.n > 0)
			rv = ls_afile_write(c->files[c->repos[n].st], refs.p,
			                    refs.n);
		if (rv < 0 && c->rv == 0) {
			c->rv = rv;
			(void)ls_fmt(c->err, sizeof(c->err),
			             "recording %s/%s: %s",
			             c->sts[c->repos[n].st].name,
			             c->repos[n].rel, ls_strerror(rv));
		}
		if (rv == 0) {
			c->refs += s->nrefs;
			c->empty += empty != 0;
		}
		pthread_mutex_unlock(&c->mu);
	}
	free(hdr.p);
	free(refs.p);
	free(s);
	return NULL;
}

/* Removes cut files and snapshots of an earlier run, so that only this
 * cut is read. */
static void cut_remove_stale(const char *workdir)
{
	size_t lp = strlen(BACKUP_REPOS_CUT_PREFIX);
	size_t ls = strlen(BACKUP_REPOS_CUT_SUFFIX);
	struct dirent *de;
	DIR *d = opendir(workdir);

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		size_t lsn = strlen(BACKUP_REPOS_SNAP_SUFFIX);
		char path[LS_PATH_MAX];

		if (n <= lp + ls ||
		    strncmp(de->d_name, BACKUP_REPOS_CUT_PREFIX, lp) != 0)
			continue;
		if (strcmp(de->d_name + n - ls, BACKUP_REPOS_CUT_SUFFIX) == 0)
			unlinkat(dirfd(d), de->d_name, 0);
		else if (n > lp + lsn &&
		         strcmp(de->d_name + n - lsn,
		                BACKUP_REPOS_SNAP_SUFFIX) == 0 &&
		         ls_fmt(path, sizeof(path), "%s/%s", workdir,
		                de->d_name) == 0)
			(void)ls_rmtree(path);
	}
	closedir(d);
}

int backup_repos_cut(const struct agent_config *cfg, const char *workdir,
                     struct backup_repos_cut *out, char *err, size_t errlen)
{
	struct cut_ctx c;
	pthread_t th[BACKUP_REPOS_MAX_THREADS];
	char path[LS_PATH_MAX], line[64];
	size_t i, j, nth = 0;
	int rv = 0;

	memset(&c, 0, sizeof(c));
	memset(out, 0, sizeof(*out));
	pthread_mutex_init(&c.mu, NULL);
	c.cfg = cfg;
	c.sts = cfg->gitaly.storages.items;
	c.nst = cfg->gitaly.storages.n;
	for (i = 0; i < c.nst; i++) {
		if (!backup_repos_storage_name_ok(c.sts[i].name)) {
			(void)ls_fmt(c.err, sizeof(c.err),
			             "storage name '%s' is not usable as a "
			             "path component",
			             c.sts[i].name);
			rv = LS_ECONFIG;
			goto out;
		}
		for (j = 0; j < i; j++)
			if (strcmp(c.sts[i].name, c.sts[j].name) == 0) {
				(void)ls_fmt(c.err, sizeof(c.err),
				             "storage '%s' configured twice",
				             c.sts[i].name);
				rv = LS_ECONFIG;
				goto out;
			}
	}
	for (i = 0; i < c.nst; i++)
		if ((rv = cut_walk(&c, i, "", 0)) < 0)
			goto out;
	if (c.n > 0)
		qsort(c.repos, c.n, sizeof(*c.repos), cut_repo_cmp);
	cut_remove_stale(workdir);
	if ((c.files = calloc(c.nst ? c.nst : 1, sizeof(*c.files))) == NULL ||
	    (c.snaps = calloc(c.nst ? c.nst : 1, sizeof(*c.snaps))) == NULL) {
		rv = LS_ENOMEM;
		goto out;
	}
	for (i = 0; i < c.nst; i++) {
		if ((rv = ls_fmt(path, sizeof(path), "%s/%s%s%s", workdir,
		                 BACKUP_REPOS_CUT_PREFIX, c.sts[i].name,
		                 BACKUP_REPOS_SNAP_SUFFIX)) < 0 ||
		    (rv = ls_mkdirs(path, 0700)) < 0 ||
		    (c.snaps[i] = strdup(path)) == NULL) {
			rv = rv < 0 ? rv : LS_ENOMEM;
			(void)ls_fmt(c.err, sizeof(c.err), "%s: %s", path,
			             ls_strerror(rv));
			goto out;
		}
		if ((rv = ls_fmt(path, sizeof(path), "%s/%s%s%s", workdir,
		                 BACKUP_REPOS_CUT_PREFIX, c.sts[i].name,
		                 BACKUP_REPOS_CUT_SUFFIX)) < 0 ||
		    (rv = ls_afile_open(&c.files[i], path, 0600)) < 0 ||
		    (rv = ls_afile_write(
		         c.files[i], BACKUP_REPOS_CUT_MAGIC "\n",
		         strlen(BACKUP_REPOS_CUT_MAGIC) + 1)) < 0 ||
		    (rv = ls_afile_write(c.files[i], "storage ", 8)) < 0 ||
		    (rv = ls_afile_write(c.files[i], c.sts[i].name,
		                         strlen(c.sts[i].name))) < 0 ||
		    (rv = ls_afile_write(c.files[i], "\n", 1)) < 0) {
			(void)ls_fmt(c.err, sizeof(c.err), "%s: %s", path,
			             ls_strerror(rv));
			goto out;
		}
	}
	nth = backup_repos_threads(cfg, c.n);
	for (i = 0; i < nth; i++) {
		if ((rv = pthread_create(&th[i], NULL, cut_worker, &c)) != 0) {
			pthread_mutex_lock(&c.mu);
			c.rv = -rv;
			(void)ls_fmt(c.err, sizeof(c.err),
			             "cannot start a thread: %s", strerror(rv));
			pthread_mutex_unlock(&c.mu);
			break;
		}
	}
	nth = i;
	for (i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	if ((rv = c.rv) < 0)
		goto out;
	for (i = 0; i < c.nst; i++) {
		size_t k, cnt = 0;

		for (k = 0; k < c.n; k++)
			cnt += c.repos[k].st == i;
		(void)ls_fmt(line, sizeof(line), "total %zu\n", cnt);
		if ((rv = ls_afile_write(c.files[i], line, strlen(line))) < 0 ||
		    (rv = ls_afile_commit(c.files[i], NULL, NULL)) < 0) {
			c.files[i] = NULL;
			(void)ls_fmt(c.err, sizeof(c.err),
			             "writing the cut of storage %s: %s",
			             c.sts[i].name, ls_strerror(rv));
			goto out;
		}
		c.files[i] = NULL;
	}
	out->repos = c.n;
	out->refs = c.refs;
	out->empty = c.empty;
	rv = 0;
out:
	if (rv < 0)
		(void)ls_fmt(err, errlen, "%s",
		             c.err[0] ? c.err : ls_strerror(rv));
	for (i = 0; c.files != NULL && i < c.nst; i++)
		ls_afile_abort(c.files[i]);
	free(c.files);
	for (i = 0; c.snaps != NULL && i < c.nst; i++)
		free(c.snaps[i]);
	free(c.snaps);
	for (i = 0; i < c.n; i++)
		free(c.repos[i].rel);
	free(c.repos);
	pthread_mutex_destroy(&c.mu);
	return rv;
}
