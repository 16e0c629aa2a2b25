/* Walk of a Gitaly storage and git fsck of one repository. */
#include "gitaly_walk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "ls_error.h"
#include "ls_exec.h"

/* @hashed/ab/cd/<sha256>.git sits at depth 4; legacy namespaces too. */
#define WALK_MAX_DEPTH 4
#define FSCK_MAX_OUT (256 * 1024)

static int has_git_suffix(const char *name)
{
	size_t n = strlen(name);

	return n > 4 && strcmp(name + n - 4, ".git") == 0;
}

static void note_err(struct gitaly_walk *w, int err, const char *path)
{
	if (w->err != 0)
		return;
	w->err = err;
	ls_strlcpy(w->err_path, path, sizeof(w->err_path));
}

static int walk(const struct agent_gitaly_storage *st, const char *rel,
                int depth, struct gitaly_walk *w, gitaly_repo_fn fn, void *arg)
{
	char path[LS_PATH_MAX], sub[LS_PATH_MAX];
	struct dirent *de;
	DIR *d;
	int rv = 0;

	if (ls_fmt(path, sizeof(path), "%s%s%s", st->path, *rel ? "/" : "",
	           rel) < 0) {
		note_err(w, LS_ETOOBIG, st->path);
		return 0;
	}
	d = opendir(path);
	if (d == NULL) {
		note_err(w, -errno, path);
		return 0;
	}
	while (rv == 0 && (de = readdir(d)) != NULL &&
	       w->entries < GITALY_WALK_MAX_ENTRIES) {
		int is_dir = de->d_type == DT_DIR;

		w->entries++;
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
		           de->d_name) < 0) {
			note_err(w, LS_ETOOBIG, path);
			continue;
		}
		if (has_git_suffix(de->d_name))
			rv = fn(arg, st, sub);
		else if (depth < WALK_MAX_DEPTH)
			rv = walk(st, sub, depth + 1, w, fn, arg);
	}
	closedir(d);
	return rv;
}

int gitaly_walk(const struct agent_gitaly_storage *st, struct gitaly_walk *w,
                gitaly_repo_fn fn, void *arg)
{
	return walk(st, "", 1, w, fn, arg);
}

/* The last non-blank line of text, sanitized and capped, into buf. git
 * fsck ends with "notice: HEAD points to an unborn branch" and the like
 * after the error that matters: notices are passed over when an earlier
 * line says more. */
static void last_line(const char *text, size_t len, char *buf, size_t size)
{
	size_t end = len, start;

	buf[0] = '\0';
	while (end > 0) {
		while (end > 0 &&
		       (text[end - 1] == '\n' || text[end - 1] == '\r' ||
		        text[end - 1] == ' ' || text[end - 1] == '\t'))
			end--;
		start = end;
		while (start > 0 && text[start - 1] != '\n')
			start--;
		if (end == start)
			break;
		if (buf[0] == '\0')
			check_first_line(text + start, end - start, buf, size);
		if (end - start < 7 ||
		    strncmp(text + start, "notice:", 7) != 0) {
			check_first_line(text + start, end - start, buf, size);
			break;
		}
		end = start;
	}
}

static void pick_line(enum gitaly_fsck_line which, const char *text, size_t len,
                      char *buf, size_t size)
{
	if (which == GITALY_FSCK_LAST_LINE)
		last_line(text, len, buf, size);
	else
		check_first_line(text, len, buf, size);
}

int gitaly_fsck(const struct agent_config *cfg,
                const struct agent_gitaly_storage *st, const char *rel,
                enum gitaly_fsck_line which, char *why, size_t whylen)
{
	char gitdir[LS_PATH_MAX + 16], line[301];
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
	if (ls_fmt(gitdir, sizeof(gitdir), "--git-dir=%s/%s", st->path, rel) <
	    0) {
		ls_fmt(why, whylen, "path too long");
		return 0;
	}
	rv = ls_exec_run(&o, &res);
	pick_line(which, res.err ? res.err : "", res.err_len, line,
	          sizeof(line));
	if (line[0] == '\0' && res.out != NULL)
		pick_line(which, (const char *)res.out, res.out_len, line,
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
