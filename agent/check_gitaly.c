/* gitaly role: storage directories and git fsck on a random sample of
 * repositories. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "agent_config.h"
#include "check.h"
#include "ls_error.h"
#include "ls_exec.h"
#include "ls_util.h"

/* @hashed/ab/cd/<sha256>.git sits at depth 4; legacy namespaces too. */
#define WALK_MAX_DEPTH 4
/* Bounds the walk on a pathological tree. */
#define WALK_MAX_ENTRIES 5000000
#define FSCK_MAX_OUT (256 * 1024)

struct repo {
	const struct agent_gitaly_storage *storage;
	char *rel;
};

struct sample {
	struct repo *picked;
	size_t k;      /* reservoir size */
	size_t n;      /* picked so far, <= k */
	uint64_t seen; /* repositories found */
	uint64_t entries;
	int oom;
};

/* Reservoir sampling: a uniform sample without holding every path. */
static void sample_offer(struct sample *s,
                         const struct agent_gitaly_storage *st, const char *rel)
{
	uint64_t j;
	char *dup;

	s->seen++;
	if (s->n < s->k) {
		j = s->n;
	} else {
		j = s->seen > UINT32_MAX
		        ? s->k
		        : randombytes_uniform((uint32_t)s->seen);
		if (j >= s->k)
			return;
	}
	dup = strdup(rel);
	if (dup == NULL) {
		s->oom = 1;
		return;
	}
	if (j == s->n)
		s->n++;
	else
		free(s->picked[j].rel);
	s->picked[j].storage = st;
	s->picked[j].rel = dup;
}

static int has_git_suffix(const char *name)
{
	size_t n = strlen(name);

	return n > 4 && strcmp(name + n - 4, ".git") == 0;
}

static void walk(const struct agent_gitaly_storage *st, const char *rel,
                 int depth, struct sample *s)
{
	char path[LS_PATH_MAX], sub[LS_PATH_MAX];
	struct dirent *de;
	DIR *d;

	if (ls_fmt(path, sizeof(path), "%s%s%s", st->path, *rel ? "/" : "",
	           rel) < 0)
		return;
	d = opendir(path);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL && s->entries < WALK_MAX_ENTRIES) {
		int is_dir = de->d_type == DT_DIR;

		s->entries++;
		if (de->d_name[0] == '.' &&
		    (de->d_name[1] == '\0' ||
		     (de->d_name[1] == '.' && de->d_name[2] == '\0')))
			continue;
		/* Gitaly's own scratch space holds no repositories. */
		if (depth == 1 && strncmp(de->d_name, "+gitaly", 7) == 0)
			continue;
		if (de->d_type == DT_UNKNOWN) {
			struct stat sb;
			is_dir = fstatat(dirfd(d), de->d_name, &sb,
			                 AT_SYMLINK_NOFOLLOW) == 0 &&
			         S_ISDIR(sb.st_mode);
		}
		if (!is_dir)
			continue;
		if (ls_fmt(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "",
		           de->d_name) < 0)
			continue;
		if (has_git_suffix(de->d_name))
			sample_offer(s, st, sub);
		else if (depth < WALK_MAX_DEPTH)
			walk(st, sub, depth + 1, s);
	}
	closedir(d);
}

/* Returns 1 when fsck passed; otherwise fills why. */
static int fsck_one(const struct agent_config *cfg, const struct repo *rp,
                    char *why, size_t whylen)
{
	char gitdir[LS_PATH_MAX + 16], line[200];
	const char *argv[] = {cfg->gitaly.git, gitdir,          "fsck",
	                      "--no-progress", "--no-dangling", NULL};
	struct ls_exec_opts o = {.argv = argv,
	                         .max_stdout = FSCK_MAX_OUT,
	                         .max_stderr = FSCK_MAX_OUT};
	struct ls_exec_result res;
	int rv, ok = 0;

	o.timeout_ms = cfg->gitaly.fsck_timeout > INT_MAX
	                   ? INT_MAX
	                   : (int)cfg->gitaly.fsck_timeout;
	if (ls_fmt(gitdir, sizeof(gitdir), "--git-dir=%s/%s", rp->storage->path,
	           rp->rel) < 0) {
		ls_fmt(why, whylen, "path too long");
		return 0;
	}
	rv = ls_exec_run(&o, &res);
	check_first_line(res.err ? res.err : "", res.err_len, line,
	                 sizeof(line));
	if (line[0] == '\0' && res.out != NULL)
		check_first_line((const char *)res.out, res.out_len, line,
		                 sizeof(line));
	if (rv == LS_ETIMEDOUT)
		ls_fmt(why, whylen, "fsck timed out after %llds",
		       (long long)cfg->gitaly.fsck_timeout / 1000);
	else if (rv == LS_ETOOBIG)
		ls_fmt(why, whylen, "%s", line[0] ? line : "too much output");
	else if (rv < 0)
		ls_fmt(why, whylen, "cannot run %s: %s", cfg->gitaly.git,
		       ls_strerror(rv));
	else if (!res.exited || res.status != 0)
		ls_fmt(why, whylen, "%s", line[0] ? line : "fsck failed");
	else
		ok = 1;
	ls_exec_result_free(&res);
	return ok;
}

static void check_fsck(const struct agent_config *cfg, struct check_report *r)
{
	const char *name = "gitaly:fsck";
	const struct agent_gitaly_storage *sts = cfg->gitaly.storages.items;
	char why[200], first[CHECK_REASON_MAX];
	struct sample s = {0};
	size_t i, failed = 0;

	if (cfg->gitaly.fsck_sample <= 0) {
		check_add(r, name, CHECK_ST_PASS, "disabled");
		return;
	}
	s.k = (size_t)cfg->gitaly.fsck_sample;
	s.picked = calloc(s.k, sizeof(*s.picked));
	if (s.picked == NULL) {
		check_add(r, name, CHECK_ST_FAIL, "out of memory");
		return;
	}
	for (i = 0; i < cfg->gitaly.storages.n; i++)
		walk(&sts[i], "", 1, &s);
	if (s.seen == 0) {
		check_add(r, name, CHECK_ST_PASS, "no repositories");
		goto out;
	}
	for (i = 0; i < s.n; i++) {
		if (fsck_one(cfg, &s.picked[i], why, sizeof(why)))
			continue;
		if (failed++ == 0)
			ls_fmt(first, sizeof(first), "%s (storage %s): %s",
			       s.picked[i].rel, s.picked[i].storage->name, why);
	}
	if (failed > 0)
		check_add(r, name, CHECK_ST_FAIL,
		          "fsck failed on %zu of %zu repositories: %s", failed,
		          s.n, first);
	else
		check_add(r, name, s.oom ? CHECK_ST_WARN : CHECK_ST_PASS,
		          "fsck clean on %zu of %llu repositories%s", s.n,
		          (unsigned long long)s.seen,
		          s.entries >= WALK_MAX_ENTRIES
		              ? " (walk stopped early)"
		              : "");
out:
	for (i = 0; i < s.n; i++)
		free(s.picked[i].rel);
	free(s.picked);
}

void check_gitaly_storages(const struct agent_config *cfg,
                           struct check_report *r)
{
	const struct agent_gitaly_storage *sts = cfg->gitaly.storages.items;
	char name[CHECK_NAME_MAX];
	struct stat sb;
	size_t i;

	for (i = 0; i < cfg->gitaly.storages.n; i++) {
		ls_fmt(name, sizeof(name), "gitaly:storage:%s", sts[i].name);
		if (stat(sts[i].path, &sb) < 0)
			check_add(r, name, CHECK_ST_FAIL, "%s: %s", sts[i].path,
			          strerror(errno));
		else if (!S_ISDIR(sb.st_mode))
			check_add(r, name, CHECK_ST_FAIL,
			          "%s is not a directory", sts[i].path);
		else
			check_add(r, name, CHECK_ST_PASS, "%s", sts[i].path);
	}
}

void check_gitaly(const struct agent_config *cfg, struct check_report *r)
{
	check_gitaly_storages(cfg, r);
	check_fsck(cfg, r);
}
