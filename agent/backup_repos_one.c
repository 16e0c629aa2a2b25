/*
 * One repository's copy, in gitaly-backup's manifest layout, with as few
 * git processes as possible: process creation dominates the copy's CPU on
 * the paravirtualised machines agents run on. Files backend: the refs come
 * from the cut (resolved and sorted as git does, backup_repos_bundle.c),
 * 001.refs is written from them, and the bundle is its header plus ONE
 * `git pack-objects` run in the real repository on the cut's ids, so pushes
 * since the cut do not show and the real repository is never written to
 * (--stdout). Git keeps objects reachable from the recorded refs for the gc
 * grace period, so they are still there. An empty repository needs no git
 * at all.
 *
 * reftable: the cut could not read the tables, so git does, in the
 * snapshot directory made a repository of its own (backup_repos_scratch.c),
 * whose tables are hard links to the real repository's: they are only ever
 * read (every file written there is a new one, unlinked first), so the real
 * repository cannot be changed through them. `git symbolic-ref` (and
 * `rev-parse`) give HEAD and `git for-each-ref` the refs; the bundle is
 * written as for the files backend, pack-objects run in the snapshot.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup_repos.h"
#include "ls_afile.h"
#include "ls_error.h"
#include "ls_exec.h"
#include "ls_util.h"

struct one {
	const struct agent_config *cfg;
	const struct backup_repos_job *job;
	const char *backup_dir;
	struct backup_repos_copy_ctx *ctx;
	struct backup_artifacts *arts;
	char repo[LS_PATH_MAX];    /* the real repository */
	char gitdir[LS_PATH_MAX];  /* where git runs: repo, or the snapshot */
	char dir_rel[LS_PATH_MAX]; /* <storage>/<rel>/<id> */
	char fmt[16];              /* object format: sha1 or sha256 */
	int fatal;                 /* the failure is the destination's */
	char *why;
	size_t whylen;
};

/* Writing rel in the backup failed (the store is full: ENOSPC): ours. */
static int one_write_err(struct one *o, const char *rel, int rv)
{
	o->fatal = 1;
	(void)ls_fmt(o->why, o->whylen, "writing %s/%s: %s", o->backup_dir, rel,
	             ls_strerror(rv));
	return rv;
}

static int one_open(struct one *o, const char *rel, struct ls_afile **f)
{
	char path[LS_PATH_MAX], dir[LS_PATH_MAX], *slash;
	int rv, tries = 0;

	if ((rv = ls_fmt(path, sizeof(path), "%s/%s", o->backup_dir, rel)) < 0)
		goto out;
	ls_strlcpy(dir, path, sizeof(dir));
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	/* repositories/ itself exists (0700); what is below is 0755. A
	 * failed repository's undo may remove a parent it shares with this
	 * one (@hashed/ab) between two steps of ls_mkdirs: try again. */
	while ((rv = ls_mkdirs(dir, 0755)) == -ENOENT && ++tries < 8)
		;
	if (rv < 0)
		goto out;
	rv = ls_afile_open(f, path, 0644);
out:
	if (rv < 0) {
		o->fatal = 1;
		(void)ls_fmt(o->why, o->whylen, "%s: %s", path,
		             ls_strerror(rv));
	}
	return rv;
}

/* Commits *f as rel and lists it; counted: its bytes were reported. */
static int one_commit(struct one *o, struct ls_afile **f, const char *rel,
                      int counted)
{
	uint8_t sha[32];
	uint64_t size = 0;
	int rv = ls_afile_commit(*f, &size, sha);

	*f = NULL;
	if (rv == 0)
		rv = backup_artifacts_add(o->arts, "repositories", rel, size,
		                          sha);
	if (rv < 0) {
		(void)one_write_err(o, rel, rv);
		goto out;
	}
	if (!counted)
		backup_repos_add_bytes(o->ctx, size);
out:
	return rv;
}

/* reftable: HEAD could not be read at the cut without a reftable reader;
 * git reads it from the snapshot's tables, which are the cut's. */
static int one_reftable_head(struct one *o, struct backup_repos_snap *s)
{
	static const char *const a_sym[] = {"symbolic-ref", "-q", "HEAD", NULL};
	static const char *const a_det[] = {"rev-parse", "-q", "--verify",
	                                    "HEAD", NULL};
	struct ls_exec_result res;
	size_t n;
	int rv;

	rv = backup_repos_git(o->cfg, o->gitdir, a_sym,
	                      2 * BACKUP_REPOS_LINE_MAX, &res);
	if (rv == 0 && res.exited && res.status == 1) {
		ls_exec_result_free(&res);
		rv = backup_repos_git(o->cfg, o->gitdir, a_det, 256, &res);
		if (rv == 0 && res.exited && res.status == 0 &&
		    (n = strcspn((const char *)res.out, "\n")) <
		        sizeof(s->headoid) &&
		    backup_repos_oid_ok((const char *)res.out, n)) {
			memcpy(s->headoid, res.out, n);
			s->headoid[n] = '\0';
		}
		rv = 0;
	} else if (rv == 0 && res.exited && res.status == 0 &&
	           (n = strcspn((const char *)res.out, "\n")) <
	               sizeof(s->head) &&
	           backup_repos_refname_ok((const char *)res.out, n)) {
		memcpy(s->head, res.out, n);
		s->head[n] = '\0';
	} else {
		backup_repos_why(o->why, o->whylen, "git symbolic-ref", rv,
		                 &res);
		rv = LS_ECHILD;
	}
	ls_exec_result_free(&res);
	return rv;
}

/* Where 001.refs and 001.bundle go: f, progress for counted bytes. */
struct one_sink {
	struct one *o;
	struct ls_afile *f;
	const char *rel;
	int counted;
};

static int one_sink(void *arg, const void *buf, size_t len)
{
	struct one_sink *k = arg;
	int rv;

	if ((rv = ls_afile_write(k->f, buf, len)) < 0)
		return one_write_err(k->o, k->rel, rv);
	if (k->counted)
		backup_repos_add_bytes(k->o->ctx, len);
	return 0;
}

/*
 * reftable: the refs as `git for-each-ref` lists them from the snapshot. A
 * ref git says it is ignoring (a name it refuses) fails the repository:
 * 001.refs and the bundle must hold every ref of the cut. Other warnings
 * (an unreadable $HOME config) are not the repository's.
 */
static int one_reftable_refs(struct one *o, const struct backup_repos_snap *s,
                             struct backup_repos_reflist *l)
{
	static const char *const a_refs[] = {
	    "for-each-ref", "--format=%(objectname) %(refname)", NULL};
	struct ls_exec_result res;
	int rv;

	rv = backup_repos_git(o->cfg, o->gitdir, a_refs,
	                      BACKUP_REPOS_REFS_OUT_MAX, &res);
	if (rv < 0 || !res.exited || res.status != 0 ||
	    (res.err != NULL && strstr(res.err, "ignoring") != NULL)) {
		backup_repos_why(o->why, o->whylen, "git for-each-ref", rv,
		                 &res);
		if (rv == 0 || rv == LS_ETIMEDOUT || rv == LS_ETOOBIG)
			rv = LS_ECHILD;
		else
			o->fatal = 1;
		goto out;
	}
	rv = backup_repos_reflist_git(l, (const char *)res.out, res.out_len, s,
	                              o->why, o->whylen);
	if (rv < 0 && rv != LS_ECHILD)
		o->fatal = 1;
out:
	ls_exec_result_free(&res);
	return rv;
}

static int one_manifest(struct one *o, const struct backup_repos_block *b,
                        int empty, const char *id)
{
	char path[LS_PATH_MAX], rel[LS_PATH_MAX], *q[5] = {0}, *text = NULL;
	const char *suffix[3] = {"001.bundle", "001.refs",
	                         "001.custom_hooks.tar"};
	struct ls_afile *f = NULL;
	size_t len = 256, i;
	int rv = 0;

	/* Quoted as go-toml quotes: bundle, refs, hooks, format, head. */
	for (i = 0; i < 5 && rv == 0; i++) {
		const char *s = i < 3 ? path : i == 3 ? o->fmt : b->s.head;
		size_t cap;

		if (i < 3)
			rv = ls_fmt(path, sizeof(path), "%s/%s", o->dir_rel,
			            suffix[i]);
		cap = strlen(s) * 6 + 3;
		if (rv == 0 && (q[i] = malloc(cap)) == NULL)
			rv = LS_ENOMEM;
		if (rv == 0)
			rv = backup_repos_toml_str(q[i], cap, s);
		len += cap;
	}
	if (rv == 0 && (text = malloc(len)) == NULL)
		rv = LS_ENOMEM;
	/* Key order and blank line as gitaly's go-toml encoding writes them;
	 * head_reference is left out only when HEAD is not symbolic. */
	if (rv == 0)
		rv = ls_fmt(text, len,
		            "empty = %s\nnon_existent = false\n"
		            "object_format = %s\n%s%s%s\n"
		            "[[steps]]\nbundle_path = %s\nref_path = %s\n"
		            "custom_hooks_path = %s\n",
		            empty ? "true" : "false", q[3],
		            b->s.head[0] ? "head_reference = " : "",
		            b->s.head[0] ? q[4] : "", b->s.head[0] ? "\n" : "",
		            q[0], q[1], q[2]);
	for (i = 0; i < 2 && rv == 0; i++) {
		rv =
		    ls_fmt(rel, sizeof(rel),
		           "repositories/manifests/%s/%s/%s%s", o->job->storage,
		           o->job->rel, i == 0 ? id : "+latest", ".toml");
		/* one_open and one_commit say why themselves. */
		if (rv == 0 && (rv = one_open(o, rel, &f)) == 0 &&
		    (rv = ls_afile_write(f, text, strlen(text))) < 0)
			(void)one_write_err(o, rel, rv);
		if (rv == 0)
			rv = one_commit(o, &f, rel, 0);
	}
	if (rv < 0) {
		o->fatal = 1;
		if (!o->why[0])
			(void)ls_fmt(o->why, o->whylen, "manifest: %s",
			             ls_strerror(rv));
	}
	ls_afile_abort(f);
	for (i = 0; i < 5; i++)
		free(q[i]);
	free(text);
	return rv;
}

/* 001.refs (HEAD first) and the bundle. A repository with nothing to
 * bundle needs no git at all. */
static int one_data(struct one *o, FILE *cut, char *line,
                    struct backup_repos_block *b, int *empty)
{
	struct backup_repos_snap *s = &b->s;
	struct backup_repos_reflist l;
	struct ls_afile *refs = NULL, *bundle = NULL;
	struct one_sink k;
	char rel[LS_PATH_MAX], refs_rel[LS_PATH_MAX];
	int rv;

	memset(&l, 0, sizeof(l));
	if ((rv = ls_fmt(refs_rel, sizeof(refs_rel), "repositories/%s/001.refs",
	                 o->dir_rel)) < 0 ||
	    (rv = one_open(o, refs_rel, &refs)) < 0)
		goto out;
	if (s->reftable) {
		if ((rv = backup_repos_scratch(o->repo, o->gitdir, s, &o->fatal,
		                               o->why, o->whylen)) < 0 ||
		    (rv = one_reftable_head(o, s)) < 0 ||
		    (rv = one_reftable_refs(o, s, &l)) < 0)
			goto out;
	} else if ((rv = backup_repos_reflist_cut(&l, cut, line, b, &o->fatal,
	                                          o->why, o->whylen)) < 0) {
		goto out;
	}
	*empty = l.ntips == 0 && l.headoid[0] == '\0';
	k = (struct one_sink){o, refs, refs_rel, 0};
	if ((rv = backup_repos_refs_write(&l, one_sink, &k)) < 0)
		goto out;
	if (!*empty) {
		if ((rv = ls_fmt(rel, sizeof(rel), "repositories/%s/001.bundle",
		                 o->dir_rel)) < 0 ||
		    (rv = one_open(o, rel, &bundle)) < 0)
			goto out;
		k = (struct one_sink){o, bundle, rel, 1};
		if ((rv = backup_repos_bundle_write(o->cfg, o->gitdir, &l,
		                                    one_sink, &k, &o->fatal,
		                                    o->why, o->whylen)) < 0 ||
		    (rv = one_commit(o, &bundle, rel, 1)) < 0)
			goto out;
	}
	rv = one_commit(o, &refs, refs_rel, 0);
out:
	if (rv < 0 && !o->why[0])
		(void)ls_fmt(o->why, o->whylen, "%s", ls_strerror(rv));
	ls_afile_abort(refs);
	ls_afile_abort(bundle);
	backup_repos_reflist_free(&l);
	return rv;
}

static int one_hooks(struct one *o)
{
	char path[LS_PATH_MAX], rel[LS_PATH_MAX];
	struct ls_afile *f = NULL;
	struct stat sb;
	int rv;

	if ((rv = ls_fmt(path, sizeof(path), "%s/custom_hooks", o->repo)) < 0)
		goto out;
	if (lstat(path, &sb) < 0) {
		rv = errno == ENOENT ? 0 : -errno;
		if (rv < 0)
			(void)ls_fmt(o->why, o->whylen, "%s: %s", path,
			             strerror(errno));
		goto out;
	}
	if ((rv = ls_fmt(rel, sizeof(rel),
	                 "repositories/%s/001.custom_hooks.tar", o->dir_rel)) <
	        0 ||
	    (rv = one_open(o, rel, &f)) < 0)
		goto out;
	if ((rv = backup_repos_hooks_tar(o->repo, f, o->why, o->whylen)) < 0) {
		o->fatal = rv != LS_ECHILD;
		/* Not the hooks' failure but the archive's: name it. */
		if (o->fatal) {
			char why[512];

			ls_strlcpy(why, o->why, sizeof(why));
			(void)ls_fmt(o->why, o->whylen, "writing %s/%s: %s",
			             o->backup_dir, rel, why);
		}
		goto out;
	}
	rv = one_commit(o, &f, rel, 0);
out:
	ls_afile_abort(f);
	return rv;
}

/* Removes top/rel and its parents below top while they are empty. */
static void one_rmdirs(const char *top, const char *rel)
{
	char path[LS_PATH_MAX], *slash;
	size_t toplen = strlen(top);

	if (ls_fmt(path, sizeof(path), "%s/%s", top, rel) < 0)
		return;
	while (strlen(path) > toplen && rmdir(path) == 0 &&
	       (slash = strrchr(path, '/')) != NULL)
		*slash = '\0';
}

/* A failed repository leaves no directory either: its step directory and
 * manifest directory were made before the failure, empty ones above them
 * may be its own too. */
static void one_prune(const struct one *o)
{
	char top[LS_PATH_MAX], rel[LS_PATH_MAX];

	if (ls_fmt(top, sizeof(top), "%s/repositories", o->backup_dir) == 0)
		one_rmdirs(top, o->dir_rel);
	if (ls_fmt(top, sizeof(top), "%s/repositories/manifests",
	           o->backup_dir) == 0 &&
	    ls_fmt(rel, sizeof(rel), "%s/%s", o->job->storage, o->job->rel) ==
	        0)
		one_rmdirs(top, rel);
}

int backup_repos_copy_one(const struct agent_config *cfg,
                          const struct backup_repos_job *job,
                          const char *backup_dir, const char *backup_id,
                          struct backup_repos_copy_ctx *ctx,
                          struct backup_artifacts *arts, int *fatal, char *why,
                          size_t whylen)
{
	struct backup_repos_block *b = NULL;
	struct one o;
	char *line = NULL;
	FILE *cut = NULL;
	int rv, empty = 0;

	memset(&o, 0, sizeof(o));
	o.cfg = cfg;
	o.job = job;
	o.backup_dir = backup_dir;
	o.ctx = ctx;
	o.arts = arts;
	o.why = why;
	o.whylen = whylen;
	why[0] = '\0';
	if ((rv = ls_fmt(o.repo, sizeof(o.repo), "%s/%s", job->storage_path,
	                 job->rel)) < 0 ||
	    (rv = ls_fmt(o.dir_rel, sizeof(o.dir_rel), "%s/%s/%s", job->storage,
	                 job->rel, backup_id)) < 0 ||
	    (rv = ls_fmt(o.gitdir, sizeof(o.gitdir), "%s", o.repo)) < 0) {
		(void)ls_fmt(why, whylen, "path too long");
		o.dir_rel[0] = '\0'; /* nothing made, nothing to prune */
		goto out;
	}
	if ((b = malloc(sizeof(*b))) == NULL ||
	    (line = malloc(BACKUP_REPOS_LINE_MAX)) == NULL) {
		rv = LS_ENOMEM;
		o.fatal = 1;
		goto out;
	}
	if ((cut = fopen(job->cut_path, "re")) == NULL ||
	    fseek(cut, job->offset, SEEK_SET) < 0) {
		rv = -errno;
		o.fatal = 1;
		(void)ls_fmt(why, whylen, "%s: %s", job->cut_path,
		             strerror(errno));
		goto out;
	}
	if ((rv = backup_repos_block_head(cut, line, b)) != 1 ||
	    strcmp(b->rel, job->rel) != 0) {
		rv = LS_EPROTO;
		o.fatal = 1;
		(void)ls_fmt(why, whylen, "%s: malformed", job->cut_path);
		goto out;
	}
	if (b->broken[0] != '\0') {
		rv = LS_ECHILD;
		(void)ls_fmt(why, whylen, "unreadable at the cut: %s",
		             b->broken);
		goto out;
	}
	/* reftable: git reads the snapshot of its tables. */
	if (b->s.reftable &&
	    (rv = ls_fmt(o.gitdir, sizeof(o.gitdir), "%s/%llu.git",
	                 job->snap_root, (unsigned long long)b->snap)) < 0) {
		o.fatal = 1;
		(void)ls_fmt(why, whylen, "path too long");
		goto out;
	}
	ls_strlcpy(o.fmt, b->s.fmt, sizeof(o.fmt));
	if ((rv = one_data(&o, cut, line, b, &empty)) < 0 ||
	    (rv = one_hooks(&o)) < 0 ||
	    (rv = one_manifest(&o, b, empty, backup_id)) < 0)
		goto out;
	rv = 0;
out:
	if (rv < 0) {
		/* Nothing of a failed repository is left behind. */
		backup_repos_undo(backup_dir, arts, 0);
		if (o.dir_rel[0] != '\0')
			one_prune(&o);
		if (!why[0])
			(void)ls_fmt(why, whylen, "%s", ls_strerror(rv));
	}
	if (cut != NULL)
		fclose(cut);
	free(line);
	free(b);
	*fatal = o.fatal;
	return rv;
}
