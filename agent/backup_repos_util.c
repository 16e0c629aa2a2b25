/* Helpers shared by the repositories cut and copy: checks of what is read
 * from git and from cut files, running git, thread counts. */
#include <ctype.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "backup_repos.h"
#include "ls_error.h"
#include "ls_exec.h"
#include "ls_util.h"

int backup_repos_storage_name_ok(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n > 200 || name[0] == '.')
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)name[i];
		if (!isalnum(ch) && ch != '-' && ch != '_' && ch != '.')
			return 0;
	}
	return 1;
}

int backup_repos_rel_ok(const char *rel)
{
	const char *p = rel, *slash;
	size_t n = strlen(rel), c;

	if (n < 5 || n >= BACKUP_REPOS_LINE_MAX - 16 ||
	    strcmp(rel + n - 4, ".git") != 0)
		return 0;
	for (c = 0; c < n; c++)
		if ((unsigned char)rel[c] < 0x20 || rel[c] == 0x7f)
			return 0;
	/* Joined to the storage and to the backup dir: no way out of them. */
	for (;;) {
		slash = strchr(p, '/');
		c = slash ? (size_t)(slash - p) : strlen(p);
		if (c == 0 || (c == 1 && p[0] == '.') ||
		    (c == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
		if (slash == NULL)
			break;
		p = slash + 1;
	}
	/* The last component is more than ".git". */
	p = strrchr(rel, '/');
	return strlen(p ? p + 1 : rel) > 4;
}

int backup_repos_oid_ok(const char *s, size_t len)
{
	size_t i;

	if (len != 40 && len != 64)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

int backup_repos_refname_ok(const char *s, size_t len)
{
	size_t i;

	if (len <= 5 || len >= BACKUP_REPOS_LINE_MAX - 128 ||
	    strncmp(s, "refs/", 5) != 0)
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

int backup_repos_timeout_ms(const struct agent_config *cfg)
{
	if (cfg->op_timeout <= 0)
		return 0;
	return cfg->op_timeout > INT_MAX ? INT_MAX : (int)cfg->op_timeout;
}

int backup_repos_git(const struct agent_config *cfg, const char *gitdir,
                     const char *const *args, size_t max_out,
                     struct ls_exec_result *res)
{
	const char *argv[16];
	char gd[LS_PATH_MAX + 16];
	struct ls_exec_opts o;
	size_t n = 0, i;
	int rv;

	memset(res, 0, sizeof(*res));
	argv[n++] = cfg->gitaly.git;
	if (gitdir != NULL) {
		/* An explicit --git-dir also spares the safe.directory
		 * ownership check when repositories belong to git and the
		 * agent runs as another user. */
		if ((rv = ls_fmt(gd, sizeof(gd), "--git-dir=%s", gitdir)) < 0)
			goto out;
		argv[n++] = gd;
	}
	for (i = 0; args[i] != NULL; i++) {
		if (n >= sizeof(argv) / sizeof(argv[0]) - 1) {
			rv = LS_EINVAL;
			goto out;
		}
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.max_stdout = max_out;
	o.max_stderr = BACKUP_REPOS_STDERR_MAX;
	o.timeout_ms = backup_repos_timeout_ms(cfg);
	rv = ls_exec_run(&o, res);
out:
	return rv;
}

void backup_repos_why(char *why, size_t len, const char *what, int rv,
                      const struct ls_exec_result *res)
{
	char line[300];
	size_t i = 0;

	if (res != NULL && res->err != NULL) {
		const char *e = res->err;
		while (*e == '\n' || *e == ' ')
			e++;
		for (; e[i] != '\0' && e[i] != '\n' && i < sizeof(line) - 1;
		     i++)
			line[i] = (unsigned char)e[i] < 0x20 ? '?' : e[i];
	}
	line[i] = '\0';
	if (rv == LS_ETIMEDOUT)
		(void)ls_fmt(why, len, "%s: timed out", what);
	else if (rv == LS_ETOOBIG)
		(void)ls_fmt(why, len, "%s: output over the limit", what);
	else if (rv < 0)
		(void)ls_fmt(why, len, "%s: %s", what, ls_strerror(rv));
	else if (line[0] != '\0')
		(void)ls_fmt(why, len, "%s: %s", what, line);
	else if (res != NULL && !res->exited)
		(void)ls_fmt(why, len, "%s: killed by signal %d", what,
		             res->status);
	else
		(void)ls_fmt(why, len, "%s: exit status %d", what,
		             res ? res->status : -1);
}

size_t backup_repos_threads(const struct agent_config *cfg, size_t work)
{
	long n = cfg->backup.jobs;

	if (n <= 0)
		n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n <= 0)
		n = 1;
	if (n > BACKUP_REPOS_MAX_THREADS)
		n = BACKUP_REPOS_MAX_THREADS;
	if ((size_t)n > work)
		n = (long)work;
	return n > 0 ? (size_t)n : 1;
}
