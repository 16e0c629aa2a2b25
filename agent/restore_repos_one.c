/*
 * One repository's restore, as Gitaly's does it, built beside the final
 * path and renamed into place only when complete.
 *
 * A full bundle (no prerequisite: every backup's first) going into the
 * new, empty repository is unbundled by hand: `git index-pack --stdin
 * --check-self-contained-and-connected` reads its pack straight from the
 * bundle file, from the end of the header we parse anyway, and fails on a
 * broken object or a link to an object the pack lacks. In an empty
 * repository that is the connectivity proof fetch-pack itself relies on,
 * got while indexing instead of by the second walk over every object
 * (rev-list) `git fetch` adds. The header's refs are then created in one `git
 * update-ref --stdin`, which refuses a tip the pack lacks. Any other bundle (an
 * increment, a capability such as a filter) is fetched (`git fetch <bundle>`,
 * every ref under refs/ forced, as Gitaly's CreateRepositoryFromBundle does),
 * which checks prerequisites and connectivity itself.
 *
 * The refs so made are the bundles' header refs, which we read ourselves:
 * the reset to the last .refs (`git update-ref --stdin`, one transaction)
 * runs only when they differ, and HEAD is given at `git init -b` when it
 * names a branch. A full backup's repository so costs three processes
 * (init, index-pack, update-ref) where fetch took four.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup_repos.h"
#include "ls_error.h"
#include "ls_exec.h"
#include "ls_util.h"
#include "restore_repos.h"
#include "restore_tar.h"

/* Deeper than any repository's tree (refs nest, GitLab caps at ~20). */
#define ONE_MAX_DEPTH 256
#define ONE_HOOKS_SCRATCH "lockstep-hooks.tmp"

static atomic_uint one_seq;

struct one {
	const struct agent_config *cfg;
	struct restore_repos_job *job;
	struct restore_repos_ctx *ctx;
	char top[LS_PATH_MAX];  /* <backup>/repositories */
	char repo[LS_PATH_MAX]; /* the final path */
	char tmp[LS_PATH_MAX];  /* the new repository until it is complete */
	struct restore_repos_manifest m;
	struct restore_repos_refs want;
	struct restore_repos_refs *have; /* each step's bundle header */
	int made;
	char *why;
	size_t whylen;
};

int restore_repos_mkdir(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
	if (mkdir(path, mode) < 0)
		return errno == EEXIST ? 0 : -errno;
	if ((uid != geteuid() || gid != getegid()) &&
	    lchown(path, uid, gid) < 0)
		return -errno;
	return 0;
}

/* The storage-relative parents of rel, made with the storage's owner. */
static int one_parents(struct one *o)
{
	char path[LS_PATH_MAX], *slash;
	size_t base = strlen(o->job->path) + 1;
	int rv;

	if ((rv = ls_fmt(path, sizeof(path), "%s", o->repo)) < 0)
		return rv;
	for (slash = strchr(path + base, '/'); slash != NULL;
	     slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		rv = restore_repos_mkdir(path, 0755, o->job->uid, o->job->gid);
		*slash = '/';
		if (rv < 0) {
			(void)ls_fmt(o->why, o->whylen, "creating %s: %s", path,
			             ls_strerror(rv));
			return rv;
		}
	}
	return 0;
}

/* Gives every entry below dirfd (and none through a symlink) uid/gid. */
static int one_chown(int dirfd, uid_t uid, gid_t gid, int depth)
{
	struct dirent *de;
	DIR *d;
	int fd, rv = 0;

	if (depth > ONE_MAX_DEPTH)
		return LS_ETOOBIG;
	if ((fd = dup(dirfd)) < 0)
		return -errno;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -errno;
	}
	while (rv == 0 && (errno = 0, de = readdir(d)) != NULL) {
		struct stat sb;
		int sub;

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (fchownat(dirfd, de->d_name, uid, gid, AT_SYMLINK_NOFOLLOW) <
		        0 ||
		    fstatat(dirfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
			rv = -errno;
			break;
		}
		if (!S_ISDIR(sb.st_mode))
			continue;
		if ((sub = openat(dirfd, de->d_name,
		                  O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		                      O_CLOEXEC)) < 0) {
			rv = -errno;
			break;
		}
		rv = one_chown(sub, uid, gid, depth + 1);
		close(sub);
	}
	if (rv == 0 && errno != 0 && de == NULL)
		rv = -errno;
	closedir(d);
	return rv;
}

/* git with stdin; as backup_repos_git otherwise. */
static int one_git(struct one *o, const char *gitdir, const char *const *args,
                   const char *in, size_t inlen, const char *what)
{
	const char *argv[20];
	char gd[LS_PATH_MAX + 16];
	struct ls_exec_opts eo;
	struct ls_exec_result res;
	size_t n = 0, i;
	int rv;

	memset(&res, 0, sizeof(res));
	argv[n++] = o->cfg->gitaly.git;
	if (gitdir != NULL) {
		if ((rv = ls_fmt(gd, sizeof(gd), "--git-dir=%s", gitdir)) < 0)
			goto out;
		argv[n++] = gd;
	}
	for (i = 0; args[i] != NULL && n < 19; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	memset(&eo, 0, sizeof(eo));
	eo.argv = argv;
	eo.stdin_data = in;
	eo.stdin_len = inlen;
	eo.max_stdout = 65536;
	eo.max_stderr = BACKUP_REPOS_STDERR_MAX;
	eo.timeout_ms = backup_repos_timeout_ms(o->cfg);
	rv = ls_exec_run(&eo, &res);
	if (rv == 0 && (!res.exited || res.status != 0))
		rv = LS_ECHILD;
out:
	if (rv < 0)
		backup_repos_why(o->why, o->whylen, what,
		                 rv == LS_ECHILD ? 0 : rv, &res);
	ls_exec_result_free(&res);
	return rv;
}

/* A full bundle's header: no prerequisite line, and no capability but our
 * object format (a filter's would mean objects left out on purpose). */
static int one_full(const struct one *o, const char *h, size_t len)
{
	const char *end = h + len, *nl;
	char cap[32];

	if (ls_fmt(cap, sizeof(cap), "@object-format=%s", o->m.fmt) < 0)
		return 0;
	for (; h < end && (nl = memchr(h, '\n', (size_t)(end - h))) != NULL;
	     h = nl + 1)
		if (*h == '-' ||
		    (*h == '@' && ((size_t)(nl - h) != strlen(cap) ||
		                   memcmp(h, cap, strlen(cap)) != 0)))
			return 0;
	return 1;
}

/* A bundle's header refs into h; 1 when the file does not exist. *pack is
 * where its pack starts, *full whether it is a full bundle (one_full). */
static int one_bundle_head(struct one *o, const char *path,
                           struct restore_repos_refs *h, uint64_t *size,
                           uint64_t *pack, int *full)
{
	char *buf = NULL, *nb;
	size_t len = 0, cap = 0;
	struct stat sb;
	FILE *f;
	int rv = 0, ch, prev = 0;

	if ((f = fopen(path, "re")) == NULL) {
		rv = errno == ENOENT ? 1 : -errno;
		if (rv < 0)
			(void)ls_fmt(o->why, o->whylen, "%s: %s", path,
			             strerror(errno));
		return rv;
	}
	*size = fstat(fileno(f), &sb) == 0 ? (uint64_t)sb.st_size : 0;
	/* Up to the blank line ending the header, bounded. */
	while ((ch = getc(f)) != EOF) {
		if (len + 2 > cap) {
			if (cap >= RESTORE_REPOS_REFS_MAX) {
				rv = LS_ETOOBIG;
				break;
			}
			cap = cap ? cap * 2 : 4096;
			if ((nb = realloc(buf, cap)) == NULL) {
				rv = LS_ENOMEM;
				break;
			}
			buf = nb;
		}
		buf[len++] = (char)ch;
		if (ch == '\n' && prev == '\n')
			break;
		prev = ch;
	}
	if (rv == 0 && (len < 17 ||
	                (memcmp(buf, "# v2 git bundle\n", 16) != 0 &&
	                 memcmp(buf, "# v3 git bundle\n", 16) != 0) ||
	                prev != '\n' || ch != '\n'))
		rv = LS_EPROTO;
	if (rv < 0)
		(void)ls_fmt(o->why, o->whylen, "%s: %s", path,
		             rv == LS_EPROTO ? "not a git bundle"
		                             : ls_strerror(rv));
	else if ((rv = restore_repos_refs_parse(
	              buf + 16, len - 16,
	              strcmp(o->m.fmt, "sha256") == 0 ? 64 : 40, 1, path, h,
	              o->why, o->whylen)) == 0) {
		*pack = len;
		*full = one_full(o, buf + 16, len - 16);
	}
	fclose(f);
	free(buf);
	return rv;
}

/* Step i's bundle header holds name, and no later one does. */
static const struct restore_repos_ref *one_latest(struct one *o,
                                                  const char *name, size_t *at)
{
	const struct restore_repos_ref *r;
	size_t i;

	for (i = o->m.nsteps; i-- > 0;)
		if ((r = restore_repos_refs_find(&o->have[i], name)) != NULL) {
			if (at != NULL)
				*at = i;
			return r;
		}
	return NULL;
}

static int one_append(char **buf, size_t *len, size_t *cap, const char *a,
                      const char *b, const char *c)
{
	size_t need = strlen(a) + strlen(b) + strlen(c) + 3;
	char *nb;

	if (*len + need > *cap) {
		size_t nc = *cap ? *cap : 4096;

		while (nc < *len + need)
			nc *= 2;
		if (nc > RESTORE_REPOS_REFS_MAX * 2 ||
		    (nb = realloc(*buf, nc)) == NULL)
			return LS_ENOMEM;
		*buf = nb;
		*cap = nc;
	}
	/* need counted every byte and the NUL: it fits. */
	if (ls_fmt(*buf + *len, *cap - *len, "%s %s%s%s\n", a, b, *c ? " " : "",
	           c) < 0)
		return LS_ETOOBIG;
	*len += strlen(*buf + *len);
	return 0;
}

/* The refs the fetches made, reset to exactly the last .refs. */
static int one_reset(struct one *o)
{
	static const char *const a_upd[] = {"update-ref", "--stdin", NULL};
	const struct restore_repos_ref *r;
	char *buf = NULL;
	size_t len = 0, cap = 0, i, j, at;
	int rv = 0;

	for (i = 0; i < o->want.n && rv == 0; i++) {
		r = one_latest(o, o->want.v[i].name, NULL);
		if (r == NULL || strcmp(r->oid, o->want.v[i].oid) != 0)
			rv = one_append(&buf, &len, &cap, "update",
			                o->want.v[i].name, o->want.v[i].oid);
	}
	for (i = 0; i < o->m.nsteps && rv == 0; i++)
		for (j = 0; j < o->have[i].n && rv == 0; j++) {
			const char *name = o->have[i].v[j].name;

			if (one_latest(o, name, &at) != NULL && at == i &&
			    restore_repos_refs_find(&o->want, name) == NULL)
				rv = one_append(&buf, &len, &cap, "delete",
				                name, "");
		}
	/* No HEAD branch in the manifest: HEAD detached at the .refs id. */
	if (rv == 0 && o->m.head == NULL && o->want.head[0] != '\0' &&
	    (rv = one_append(&buf, &len, &cap, "option", "no-deref", "")) == 0)
		rv = one_append(&buf, &len, &cap, "update", "HEAD",
		                o->want.head);
	if (rv < 0)
		(void)ls_fmt(o->why, o->whylen, "%s", ls_strerror(rv));
	else if (len > 0)
		rv = one_git(o, o->tmp, a_upd, buf, len, "git update-ref");
	free(buf);
	return rv;
}

/* A full bundle into the still empty o->tmp: its pack from offset pack
 * into index-pack, then its header refs h created (see the top). */
static int one_unbundle(struct one *o, const char *path, uint64_t pack,
                        const struct restore_repos_refs *h)
{
	static const char *const a_upd[] = {"update-ref", "--stdin", NULL};
	char gd[LS_PATH_MAX + 16], *refs = NULL;
	/* No --fix-thin: a full bundle's pack must hold its delta bases. */
	const char *argv[] = {o->cfg->gitaly.git,
	                      gd,
	                      "index-pack",
	                      "--stdin",
	                      "--check-self-contained-and-connected",
	                      NULL};
	int fd = -1, devnull = -1, rv;
	size_t len = 0, cap = 0, i;
	struct ls_exec_opts eo;
	struct ls_exec_result res;
	struct ls_proc p = {-1, -1, -1, -1};

	memset(&res, 0, sizeof(res));
	memset(&eo, 0, sizeof(eo));
	eo.argv = argv;
	if ((rv = ls_fmt(gd, sizeof(gd), "--git-dir=%s", o->tmp)) < 0)
		goto out;
	if (pack > (uint64_t)INT64_MAX) {
		rv = LS_EPROTO;
		goto out;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 ||
	    (devnull = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0 ||
	    lseek(fd, (off_t)pack, SEEK_SET) < 0) {
		rv = -errno;
		goto out;
	}
	/* index-pack reads the pack straight from the bundle file, from
	 * where the header ends: no copy through us. It prints the pack's
	 * name, which nobody reads. */
	if ((rv = ls_exec_spawn_from(&eo, fd, devnull, &p)) < 0)
		goto out;
	rv = ls_exec_wait(&p, backup_repos_timeout_ms(o->cfg),
	                  BACKUP_REPOS_STDERR_MAX, &res);
	if (rv == 0 && (!res.exited || res.status != 0))
		rv = LS_ECHILD;
	if (rv < 0)
		goto out;
	for (i = 0; i < h->n && rv == 0; i++)
		rv = one_append(&refs, &len, &cap, "create", h->v[i].name,
		                h->v[i].oid);
	if (rv < 0)
		goto out;
	if (len > 0 && (rv = one_git(o, o->tmp, a_upd, refs, len, path)) < 0)
		goto out;
	rv = 0;
out:
	ls_exec_kill(&p);
	if (rv < 0 && !o->why[0])
		backup_repos_why(o->why, o->whylen, path,
		                 rv == LS_ECHILD ? 0 : rv, &res);
	ls_exec_result_free(&res);
	if (fd >= 0)
		close(fd);
	if (devnull >= 0)
		close(devnull);
	free(refs);
	return rv;
}

static int one_fetch(struct one *o)
{
	char path[LS_PATH_MAX];
	uint64_t size = 0, pack = 0;
	size_t i;
	int rv = 0, full = 0, applied = 0;

	if ((o->have = calloc(o->m.nsteps ? o->m.nsteps : 1,
	                      sizeof(*o->have))) == NULL)
		return LS_ENOMEM;
	for (i = 0; i < o->m.nsteps && rv >= 0; i++) {
		const char *args[] = {"fetch",
		                      "--quiet",
		                      "--atomic",
		                      "--no-write-fetch-head",
		                      "--no-auto-maintenance",
		                      path,
		                      "+refs/*:refs/*",
		                      NULL};

		if (o->m.steps[i].bundle == NULL)
			continue;
		if ((rv = ls_fmt(path, sizeof(path), "%s/%s", o->top,
		                 o->m.steps[i].bundle)) < 0)
			break;
		rv = one_bundle_head(o, path, &o->have[i], &size, &pack, &full);
		/* Only an empty repository or an increment with nothing
		 * new has no bundle. */
		if (rv == 1 && !o->m.empty && i == 0) {
			rv = LS_ENOENT;
			(void)ls_fmt(o->why, o->whylen, "%s: %s", path,
			             ls_strerror(rv));
		}
		if (rv != 0)
			continue;
		/* Only into the empty repository: an earlier bundle's
		 * objects and refs are for fetch to build on. */
		if (!applied && full)
			rv = one_unbundle(o, path, pack, &o->have[i]);
		else
			rv = one_git(o, o->tmp, args, NULL, 0, path);
		if (rv == 0) {
			applied = 1;
			restore_repos_add_bytes(o->ctx, size);
		}
	}
	return rv < 0 ? rv : 0;
}

/* custom_hooks from their tar, extracted securely beside and only
 * custom_hooks/ kept: an archive from anywhere must not reach the rest of
 * the repository (HEAD, config, objects). */
static int one_hooks(struct one *o, const char *hooks)
{
	char tar[LS_PATH_MAX], scratch[LS_PATH_MAX], dst[LS_PATH_MAX];
	char src[LS_PATH_MAX];
	struct restore_tar_opts to;
	struct restore_tar_stats ts;
	struct stat sb;
	int fd = -1, rv;

	scratch[0] = '\0';
	if ((rv = ls_fmt(tar, sizeof(tar), "%s/%s", o->top, hooks)) < 0 ||
	    (rv = ls_fmt(scratch, sizeof(scratch), "%s/" ONE_HOOKS_SCRATCH,
	                 o->tmp)) < 0 ||
	    (rv = ls_fmt(src, sizeof(src), "%s/custom_hooks", scratch)) < 0 ||
	    (rv = ls_fmt(dst, sizeof(dst), "%s/custom_hooks", o->tmp)) < 0)
		goto out;
	if (stat(tar, &sb) < 0) {
		rv = errno == ENOENT ? 0 : -errno;
		goto out;
	}
	if (mkdir(scratch, 0700) < 0 ||
	    (fd = open(scratch,
	               O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		rv = -errno;
		goto out;
	}
	memset(&to, 0, sizeof(to));
	to.component = "repositories";
	to.uid = o->job->uid;
	to.gid = o->job->gid;
	if ((rv = restore_tar_extract(tar, fd, &to, &ts, o->why, o->whylen)) <
	    0)
		goto out;
	if (lstat(src, &sb) == 0 && S_ISDIR(sb.st_mode) && rename(src, dst) < 0)
		rv = -errno;
out:
	if (fd >= 0)
		close(fd);
	if (scratch[0] != '\0')
		(void)ls_rmtree(scratch);
	if (rv < 0 && !o->why[0])
		(void)ls_fmt(o->why, o->whylen, "%s: %s", tar, ls_strerror(rv));
	return rv;
}

/* The new repository, complete, replaces the real path. */
static int one_swap(struct one *o)
{
	char aside[LS_PATH_MAX], *slash;
	struct stat sb;
	int rv = 0, moved = 0;

	if (lstat(o->repo, &sb) == 0) {
		if ((rv = restore_repos_aside(o->ctx, o->job, aside,
		                              sizeof(aside), o->why,
		                              o->whylen)) < 0 ||
		    (rv = ls_fmt(aside + strlen(aside),
		                 sizeof(aside) - strlen(aside), "/%s",
		                 o->job->rel)) < 0)
			goto out;
		slash = strrchr(aside, '/');
		*slash = '\0';
		rv = ls_mkdirs(aside, 0700);
		*slash = '/';
		if (rv < 0 || rename(o->repo, aside) < 0) {
			rv = rv < 0 ? rv : -errno;
			(void)ls_fmt(o->why, o->whylen, "moving %s to %s: %s",
			             o->repo, aside, ls_strerror(rv));
			goto out;
		}
		moved = 1;
	}
	if (rename(o->tmp, o->repo) < 0) {
		rv = -errno;
		(void)ls_fmt(o->why, o->whylen, "renaming %s to %s: %s", o->tmp,
		             o->repo, ls_strerror(rv));
		if (moved && rename(aside, o->repo) < 0)
			(void)ls_fmt(o->why + strlen(o->why),
			             o->whylen - strlen(o->why),
			             "; the old repository is in %s", aside);
	}
out:
	return rv;
}

static int one_build(struct one *o)
{
	const char *head = o->m.head, *hooks;
	char fmt[32], branch[BACKUP_REPOS_LINE_MAX];
	const char *a_init[] = {"init", "--bare", "--quiet", fmt,
	                        o->tmp, NULL,     NULL,      NULL};
	const char *a_sym[] = {"symbolic-ref", "HEAD", head, NULL};
	int rv, fd;

	if ((rv = ls_fmt(fmt, sizeof(fmt), "--object-format=%s", o->m.fmt)) < 0)
		return rv;
	/* HEAD at a branch is given at init: one process fewer. */
	if (head != NULL && strncmp(head, "refs/heads/", 11) == 0) {
		ls_strlcpy(branch, head + 11, sizeof(branch));
		a_init[4] = "-b";
		a_init[5] = branch;
		a_init[6] = o->tmp;
		head = NULL;
	}
	if ((rv = one_git(o, NULL, a_init, NULL, 0, "git init")) < 0)
		return rv;
	o->made = 1;
	if ((head != NULL && (rv = one_git(o, o->tmp, a_sym, NULL, 0,
	                                   "git symbolic-ref")) < 0) ||
	    (rv = one_fetch(o)) < 0 || (rv = one_reset(o)) < 0)
		return rv;
	hooks = o->m.nsteps ? o->m.steps[o->m.nsteps - 1].hooks : NULL;
	if (hooks != NULL && (rv = one_hooks(o, hooks)) < 0)
		return rv;
	if (o->job->uid != geteuid() || o->job->gid != getegid()) {
		if ((fd = open(o->tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		                           O_CLOEXEC)) < 0)
			rv = -errno;
		else if ((rv = one_chown(fd, o->job->uid, o->job->gid, 0)) ==
		             0 &&
		         fchown(fd, o->job->uid, o->job->gid) < 0)
			rv = -errno;
		if (fd >= 0)
			close(fd);
		if (rv < 0)
			(void)ls_fmt(o->why, o->whylen, "chown %s: %s", o->tmp,
			             ls_strerror(rv));
	}
	return rv;
}

int restore_repos_one(const struct agent_config *cfg, const char *backup_dir,
                      const char *backup_id, struct restore_repos_job *job,
                      struct restore_repos_ctx *ctx, int *empty, char *why,
                      size_t whylen)
{
	struct one o;
	const char *base;
	size_t i;
	int rv;

	memset(&o, 0, sizeof(o));
	o.cfg = cfg;
	o.job = job;
	o.ctx = ctx;
	o.why = why;
	o.whylen = whylen;
	why[0] = '\0';
	*empty = 0;
	base = strrchr(job->rel, '/');
	base = base ? base + 1 : job->rel;
	if ((rv = ls_fmt(o.top, sizeof(o.top), "%s/repositories", backup_dir)) <
	        0 ||
	    (rv = ls_fmt(o.repo, sizeof(o.repo), "%s/%s", job->path,
	                 job->rel)) < 0 ||
	    (rv = ls_fmt(o.tmp, sizeof(o.tmp), "%.*s.%s.lockstep-%d.%u",
	                 (int)(strlen(o.repo) - strlen(base)), o.repo, base,
	                 (int)getpid(), atomic_fetch_add(&one_seq, 1))) < 0) {
		(void)ls_fmt(why, whylen, "path too long");
		goto out;
	}
	if ((rv = restore_repos_load(backup_dir, backup_id, job, &o.m, &o.want,
	                             why, whylen)) != 0)
		goto out;
	*empty = o.want.n == 0 && o.want.head[0] == '\0';
	if ((rv = one_parents(&o)) < 0)
		goto out;
	(void)ls_rmtree(o.tmp); /* a crashed run's, by chance */
	if ((rv = one_build(&o)) < 0 || (rv = one_swap(&o)) < 0)
		goto out;
	o.made = 0;
out:
	if (o.made)
		(void)ls_rmtree(o.tmp);
	if (rv < 0 && !why[0])
		(void)ls_fmt(why, whylen, "%s", ls_strerror(rv));
	for (i = 0; o.have != NULL && i < o.m.nsteps; i++)
		restore_repos_refs_free(&o.have[i]);
	free(o.have);
	restore_repos_refs_free(&o.want);
	restore_repos_manifest_free(&o.m);
	return rv;
}
