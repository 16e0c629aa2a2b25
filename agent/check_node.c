/* Checks every node gets: gitlab-ctl services, the installed version and
 * the free space of the backup staging directory. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "agent_config.h"
#include "check.h"
#include "check_gitlabctl_parse.h"
#include "check_version_parse.h"
#include "ls_error.h"
#include "ls_exec.h"
#include "ls_util.h"

#define CTL_TIMEOUT_MS 60000
#define CTL_MAX_OUT (1024 * 1024)
#define CTL_MAX_SERVICES 256
#define MANIFEST_MAX (32 * 1024 * 1024)
#define MANIFEST_TXT_MAX (4 * 1024 * 1024)

static void report_service(const struct gitlabctl_service *s,
                           struct check_report *r)
{
	char name[CHECK_NAME_MAX];
	const char *nu =
	    s->flags & GITLABCTL_NORMALLY_UP ? ", normally up" : "";
	const char *nd =
	    s->flags & GITLABCTL_NORMALLY_DOWN ? ", normally down" : "";
	const char *wu = s->flags & GITLABCTL_WANT_UP ? ", want up" : "";
	const char *wd = s->flags & GITLABCTL_WANT_DOWN ? ", want down" : "";
	const char *logdown = s->has_log && s->log_state != GITLABCTL_RUN
	                          ? "; its log is not running"
	                          : "";

	if (s->state == GITLABCTL_GARBAGE) {
		check_add(r, "gitlab-ctl", CHECK_ST_WARN,
		          "cannot parse gitlab-ctl status line: %s", s->text);
		return;
	}
	ls_fmt(name, sizeof(name), "gitlab-ctl:%s", s->name);
	switch (s->state) {
	case GITLABCTL_RUN:
		check_add(r, name, *logdown ? CHECK_ST_WARN : CHECK_ST_PASS,
		          "running (pid %lld, up %llds)%s%s%s", s->pid,
		          s->seconds, nd, wd, logdown);
		break;
	case GITLABCTL_DOWN:
		check_add(r, name, CHECK_ST_FAIL, "down for %llds%s%s%s%s",
		          s->seconds, nu, nd, wu, wd);
		break;
	case GITLABCTL_FINISH:
		check_add(r, name, CHECK_ST_WARN,
		          "finishing (pid %lld, for %llds)%s%s", s->pid,
		          s->seconds, nu, wu);
		break;
	default:
		check_add(r, name, CHECK_ST_FAIL, "fail: %s", s->text);
		break;
	}
}

void check_gitlabctl(const struct agent_config *cfg, struct check_report *r)
{
	const char *argv[] = {cfg->gitlab.ctl, "status", NULL};
	struct ls_exec_opts o = {.argv = argv,
	                         .max_stdout = CTL_MAX_OUT,
	                         .max_stderr = 4096,
	                         .timeout_ms = CTL_TIMEOUT_MS};
	struct ls_exec_result res;
	struct gitlabctl_service *svc = NULL;
	char line[200];
	size_t n = 0, i;
	int rv;

	rv = ls_exec_run(&o, &res);
	if (rv == LS_ETIMEDOUT) {
		check_add(r, "gitlab-ctl", CHECK_ST_FAIL,
		          "%s status timed out after %ds", cfg->gitlab.ctl,
		          CTL_TIMEOUT_MS / 1000);
		goto out;
	}
	if (rv < 0) {
		check_add(r, "gitlab-ctl", CHECK_ST_FAIL, "cannot run %s: %s",
		          cfg->gitlab.ctl, ls_strerror(rv));
		goto out;
	}
	svc = calloc(CTL_MAX_SERVICES, sizeof(*svc));
	if (svc == NULL) {
		check_add(r, "gitlab-ctl", CHECK_ST_FAIL, "out of memory");
		goto out;
	}
	rv = gitlabctl_parse((const char *)res.out, res.out_len, svc,
	                     CTL_MAX_SERVICES, &n);
	if (n == 0) {
		check_first_line(res.err, res.err_len, line, sizeof(line));
		check_add(r, "gitlab-ctl", CHECK_ST_FAIL,
		          "%s status listed no services (%s %d)%s%s",
		          cfg->gitlab.ctl, res.exited ? "exit" : "signal",
		          res.status, line[0] ? ": " : "", line);
		goto out;
	}
	for (i = 0; i < n; i++)
		report_service(&svc[i], r);
	if (rv == LS_ETOOBIG)
		check_add(r, "gitlab-ctl", CHECK_ST_WARN,
		          "more than %d services listed; the rest were not "
		          "checked",
		          CTL_MAX_SERVICES);
out:
	free(svc);
	ls_exec_result_free(&res);
}

static int version_txt_path(const char *manifest, char *buf, size_t size)
{
	const char *slash = strrchr(manifest, '/');
	int dirlen = slash ? (int)(slash - manifest) : 0;

	if (slash == NULL)
		return ls_fmt(buf, size, "version-manifest.txt");
	return ls_fmt(buf, size, "%.*s/version-manifest.txt", dirlen, manifest);
}

int check_version_load(const char *manifest, struct gitlab_version *v,
                       char *err, size_t errlen)
{
	char txt_path[LS_PATH_MAX];
	char *buf = NULL;
	size_t len = 0;
	int rv;

	err[0] = '\0';
	rv = ls_read_file(manifest, MANIFEST_MAX, &buf, &len);
	if (rv < 0) {
		ls_fmt(err, errlen, "%s: %s", manifest, ls_strerror(rv));
		goto out;
	}
	rv = check_version_parse_manifest_json(buf, len, v);
	if (rv < 0) {
		ls_fmt(err, errlen,
		       "%s: not JSON with a valid build_version string",
		       manifest);
		goto out;
	}
	if (v->edition[0] != '\0')
		goto out;
	free(buf);
	buf = NULL;
	if (version_txt_path(manifest, txt_path, sizeof(txt_path)) < 0) {
		ls_fmt(err, errlen, "%s: path too long", manifest);
		goto out;
	}
	/* Without a suffix the edition only shows in the package name. */
	if (ls_read_file(txt_path, MANIFEST_TXT_MAX, &buf, &len) < 0 ||
	    check_version_parse_manifest_txt(buf, len, v) < 0)
		ls_fmt(err, errlen, "%s does not name gitlab-ee or gitlab-ce",
		       txt_path);
out:
	free(buf);
	return rv;
}

void check_gitlab_version(const struct agent_config *cfg,
                          struct check_report *r)
{
	struct gitlab_version v;
	char err[CHECK_REASON_MAX];

	if (check_version_load(cfg->gitlab.version_manifest, &v, err,
	                       sizeof(err)) < 0)
		check_add(r, "gitlab-version", CHECK_ST_FAIL, "%s", err);
	else if (v.edition[0] == '\0')
		check_add(r, "gitlab-version", CHECK_ST_WARN,
		          "%s (edition unknown: %s)", v.version, err);
	else
		check_add(r, "gitlab-version", CHECK_ST_PASS, "%s (%s)",
		          v.version, v.edition);
}

void check_staging_space(const struct agent_config *cfg, struct check_report *r)
{
	const char *dir = cfg->backup_staging_dir;
	const char *name = "staging-free-space";
	char have[32], want[32];
	struct statvfs sv;
	struct stat st;
	uint64_t avail;

	if (stat(dir, &st) < 0) {
		check_add(r, name, CHECK_ST_FAIL, "%s: %s", dir,
		          strerror(errno));
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		check_add(r, name, CHECK_ST_FAIL, "%s is not a directory", dir);
		return;
	}
	if (statvfs(dir, &sv) < 0) {
		check_add(r, name, CHECK_ST_FAIL, "statvfs %s: %s", dir,
		          strerror(errno));
		return;
	}
	avail = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
	check_human_bytes(avail, have, sizeof(have));
	if (avail < cfg->min_free_space) {
		check_human_bytes(cfg->min_free_space, want, sizeof(want));
		check_add(r, name, CHECK_ST_FAIL,
		          "%s free in %s, below the minimum of %s", have, dir,
		          want);
	} else if (avail < cfg->warn_free_space) {
		check_human_bytes(cfg->warn_free_space, want, sizeof(want));
		check_add(r, name, CHECK_ST_WARN,
		          "%s free in %s, below the warning level of %s", have,
		          dir, want);
	} else {
		check_human_bytes(cfg->warn_free_space, want, sizeof(want));
		check_add(r, name, CHECK_ST_PASS,
		          "%s free in %s (warning below %s)", have, dir, want);
	}
}
