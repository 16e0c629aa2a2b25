/*
 * UpgradeAction: one typed step of GitLab's upgrade procedure on this node
 * (gitlab-facts §7). Every step is a fixed argv, never a shell line; the
 * operation's deadline (op_timeout) covers all commands it starts.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "check_version_parse.h"
#include "exec_upgrade_int.h"
#include "gitlab_api.h"
#include "ls_error.h"
#include "ls_exec.h"
#include "ls_util.h"

#define TAIL_MAX 2048 /* of stdout and of stderr each, in output_tail */
#define ERR_TAIL_MAX 640
#define STDERR_MAX (256 * 1024)
#define MAX_SERVICES 32
#define READY_POLL_MS 1000
#define READY_DEFAULT_MS (5 * 60 * 1000)
#define ENV_MAX 8

void upgrade_out_init(struct upgrade_out *o)
{
	memset(o, 0, sizeof(*o));
	ls__package_versions_result__init(&o->pv);
	ls__upgrade_action_result__init(&o->ua);
	ls__bbm_status_result__init(&o->bbm);
}

void upgrade_out_free(struct upgrade_out *o)
{
	size_t i;

	for (i = 0; i < o->nversions; i++)
		free(o->versions[i]);
	free(o->versions);
	free(o->tail);
	for (i = 0; i < o->nmigs; i++) {
		free(o->migs[i].job_class);
		free(o->migs[i].table);
		free(o->migs[i].column);
		free(o->migs[i].job_arguments);
	}
	free(o->migs);
	free(o->mig_ptrs);
	upgrade_out_init(o);
}

void up_ctx_init(struct up_ctx *x, const struct agent_config *cfg,
                 struct upgrade_out *o, char *err, size_t errlen)
{
	x->cfg = cfg;
	x->o = o;
	x->err = err;
	x->errlen = errlen;
	x->deadline = ls_mono_ms() + cfg->op_timeout;
}

/* Output goes into protobuf strings (UTF-8) and logs: keep it printable
 * ASCII and newlines. */
static void printable(char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x80)
			s[i] = '?';
		else if ((c < 0x20 && c != '\n') || c == 0x7f)
			s[i] = ' ';
	}
}

/* The last max bytes of text, starting at a line when one starts there. */
static const char *tail_of(const char *text, size_t len, size_t max,
                           size_t *tlen)
{
	const char *t = text, *nl;

	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
		len--;
	if (len > max) {
		t = text + len - max;
		nl = memchr(t, '\n', max);
		if (nl != NULL && nl + 1 < text + len)
			t = nl + 1;
	}
	*tlen = (size_t)(text + len - t);
	return t;
}

/* The last bytes of the memfd the child wrote its stdout to. */
static int read_tail(int fd, size_t max, char *buf, size_t *len)
{
	struct stat st;
	off_t off;
	ssize_t n;

	*len = 0;
	if (fstat(fd, &st) < 0)
		return -errno;
	off = st.st_size > (off_t)max ? st.st_size - (off_t)max : 0;
	n = pread(fd, buf, max, off);
	if (n < 0)
		return -errno;
	*len = (size_t)n;
	return 0;
}

static int set_tail(struct up_ctx *x, const char *out, size_t olen,
                    const char *err, size_t elen)
{
	size_t tl, el, need;
	const char *t = tail_of(out, olen, TAIL_MAX, &tl);
	const char *e = tail_of(err, elen, TAIL_MAX, &el);
	char *s;

	need = tl + el + 16;
	if ((s = malloc(need)) == NULL)
		return LS_ENOMEM;
	if (el > 0)
		snprintf(s, need, "%.*s%s%.*s", (int)tl, t, tl ? "\n" : "",
		         (int)el, e);
	else
		snprintf(s, need, "%.*s", (int)tl, t);
	printable(s, strlen(s));
	free(x->o->tail);
	x->o->tail = s;
	x->o->ua.output_tail = s;
	return 0;
}

/* "/opt/gitlab/bin/gitlab-ctl stop puma", capped, for messages. */
static void argv_line(const char *const *argv, char *buf, size_t len)
{
	size_t off = 0, i;

	buf[0] = '\0';
	for (i = 0; argv[i] != NULL && off + 1 < len; i++) {
		int w = snprintf(buf + off, len - off, "%s%s", i ? " " : "",
		                 argv[i]);
		if (w < 0)
			break;
		off += (size_t)w;
	}
	printable(buf, strlen(buf));
}

static void fail_msg(struct up_ctx *x, const char *const *argv,
                     const struct ls_exec_result *res, int rv)
{
	/* With the tail, within the 1 KiB the operation's error has. */
	char cmd[256], etail[ERR_TAIL_MAX + 1], line[ERR_TAIL_MAX * 2];
	size_t el = 0, i, j;
	const char *e = "";

	argv_line(argv, cmd, sizeof(cmd));
	if (res->err != NULL)
		e = tail_of(res->err, res->err_len, ERR_TAIL_MAX, &el);
	snprintf(etail, sizeof(etail), "%.*s", (int)el, e);
	printable(etail, strlen(etail));
	/* One line, as every error is; output_tail keeps the lines. */
	for (i = 0, j = 0; etail[i] != '\0' && j + 3 < sizeof(line); i++) {
		if (etail[i] == '\n') {
			line[j++] = ';';
			line[j++] = ' ';
		} else {
			line[j++] = etail[i];
		}
	}
	line[j] = '\0';
	if (rv == LS_ETIMEDOUT)
		snprintf(x->err, x->errlen, "%s: killed at the deadline%s%s",
		         cmd, el ? ": " : "", line);
	else if (rv < 0)
		snprintf(x->err, x->errlen, "%s: %s", cmd, ls_strerror(rv));
	else
		snprintf(x->err, x->errlen, "%s: %s %d%s%s", cmd,
		         res->exited ? "exit status" : "killed by signal",
		         res->status, el ? ": " : "", line);
}

int up_run_capture(struct up_ctx *x, const char *const *argv,
                   const char *const *extra_env, size_t max, char **out,
                   size_t *outlen)
{
	const char *env[ENV_MAX + 4] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
	                                "LANG=C", "LC_ALL=C"};
	struct ls_exec_opts o = {.argv = argv, .envp = env};
	struct ls_exec_result res;
	struct ls_proc p = {.pid = -1, .in_fd = -1, .out_fd = -1, .err_fd = -1};
	char *buf = NULL;
	size_t n = 3, len = 0, i;
	int64_t left = x->deadline - ls_mono_ms();
	int fd = -1, rv;

	memset(&res, 0, sizeof(res));
	for (i = 0; extra_env != NULL && extra_env[i] != NULL && i < ENV_MAX;
	     i++)
		env[n++] = extra_env[i];
	env[n] = NULL;
	if (left <= 0) {
		rv = LS_ETIMEDOUT;
		fail_msg(x, argv, &res, rv);
		goto out;
	}
	/* A file, not a pipe: a package install can print megabytes and is
	 * never killed for it; only the tail is kept. */
	if ((fd = memfd_create("ls-upgrade-out", MFD_CLOEXEC)) < 0) {
		rv = -errno;
		fail_msg(x, argv, &res, rv);
		goto out;
	}
	if ((rv = ls_exec_spawn(&o, 0, fd, &p)) < 0) {
		fail_msg(x, argv, &res, rv);
		goto out;
	}
	rv = ls_exec_wait(&p, left > INT32_MAX ? INT32_MAX : (int)left,
	                  STDERR_MAX, &res);
	buf = malloc((max > TAIL_MAX ? max : TAIL_MAX) + 1);
	if (buf == NULL) {
		rv = LS_ENOMEM;
		goto out;
	}
	if (out != NULL) {
		struct stat st;

		if (fstat(fd, &st) == 0 && st.st_size > (off_t)max) {
			rv = rv < 0 ? rv : LS_ETOOBIG;
		} else {
			ssize_t r = pread(fd, buf, max, 0);
			len = r > 0 ? (size_t)r : 0;
		}
	} else {
		(void)read_tail(fd, TAIL_MAX, buf, &len);
	}
	buf[len] = '\0';
	if (set_tail(x, buf, len, res.err ? res.err : "", res.err_len) < 0) {
		rv = LS_ENOMEM;
		goto out;
	}
	if (rv < 0 || !res.exited || res.status != 0) {
		fail_msg(x, argv, &res, rv);
		rv = rv < 0 ? rv : LS_ECHILD;
		goto out;
	}
	if (out != NULL) {
		*out = buf;
		*outlen = len;
		buf = NULL;
	}
	rv = 0;
out:
	if (p.pid > 0)
		ls_exec_kill(&p);
	if (fd >= 0)
		close(fd);
	ls_exec_result_free(&res);
	free(buf);
	return rv;
}

int up_run(struct up_ctx *x, const char *const *argv,
           const char *const *extra_env)
{
	return up_run_capture(x, argv, extra_env, 0, NULL, NULL);
}

/* Names go on a command line: letters, digits, '-' and '_' only, so that
 * none can pass for an option. */
static int service_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 64 || s[0] == '-')
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		      s[i] == '_'))
			return 0;
	return 1;
}

static int ctl_services(struct up_ctx *x, const char *verb,
                        const Ls__UpgradeAction *a)
{
	const char *argv[MAX_SERVICES + 3];
	size_t i;

	if (a->n_services > MAX_SERVICES) {
		snprintf(x->err, x->errlen, "more than %d services named",
		         MAX_SERVICES);
		return LS_ETOOBIG;
	}
	argv[0] = x->cfg->gitlab.ctl;
	argv[1] = verb;
	for (i = 0; i < a->n_services; i++) {
		if (!service_ok(a->services[i])) {
			snprintf(x->err, x->errlen,
			         "'%.64s' is not a service name",
			         a->services[i]);
			printable(x->err, strlen(x->err));
			return LS_EINVAL;
		}
		argv[i + 2] = a->services[i];
	}
	argv[i + 2] = NULL;
	return up_run(x, argv, NULL);
}

/* Polls /-/readiness until 200 or wait_ms has passed. */
static int ready_wait(struct up_ctx *x, uint32_t wait_ms)
{
	int64_t deadline =
	    ls_mono_ms() + (wait_ms ? wait_ms : READY_DEFAULT_MS);
	const char *url = x->cfg->gitlab.url;
	char text[512] = "";
	long code = 0;

	if (deadline > x->deadline)
		deadline = x->deadline;
	if (gitlab_wait_ready(x->cfg, deadline, READY_POLL_MS, &code, text,
	                      sizeof(text)) == 0)
		return 0;
	printable(text, strlen(text));
	if (code > 0)
		snprintf(x->err, x->errlen,
		         "GitLab did not become ready: last answer of "
		         "%.300s/-/readiness: HTTP %ld%s%.200s",
		         url, code, text[0] ? ": " : "", text);
	else
		snprintf(x->err, x->errlen,
		         "GitLab did not become ready: last answer of "
		         "%.300s/-/readiness: %.300s",
		         url, text[0] ? text : "none");
	return LS_ETIMEDOUT;
}

static int skip_auto_reconfigure(struct up_ctx *x)
{
	const char *path = x->cfg->gitlab.skip_auto_reconfigure;
	int rv = ls_write_atomic(path, "", 0, 0644);

	if (rv < 0)
		snprintf(x->err, x->errlen, "creating %.500s: %s", path,
		         ls_strerror(rv));
	return rv;
}

static int rake(struct up_ctx *x, const char *task)
{
	const char *argv[] = {x->cfg->gitlab.rake, task, NULL};

	return up_run(x, argv, NULL);
}

static int ctl(struct up_ctx *x, const char *verb, const char *arg,
               const char *const *env)
{
	const char *argv[] = {x->cfg->gitlab.ctl, verb, arg, NULL};

	return up_run(x, argv, env);
}

static int run_action(struct up_ctx *x, const Ls__UpgradeAction *a)
{
	/* Any value skips them (gitlab-facts §7); unset runs them. */
	static const char *const skip_pd[] = {
	    "SKIP_POST_DEPLOYMENT_MIGRATIONS=true", NULL};
	int rv;

	switch (a->kind) {
	case LS__UPGRADE_ACTION_KIND__UA_SKIP_AUTO_RECONFIGURE:
		return skip_auto_reconfigure(x);
	case LS__UPGRADE_ACTION_KIND__UA_INSTALL:
		return pkg_install(x, a->version,
		                   a->has_allow_downgrade &&
		                       a->allow_downgrade);
	case LS__UPGRADE_ACTION_KIND__UA_REMOVE:
		return pkg_remove(x);
	case LS__UPGRADE_ACTION_KIND__UA_RECONFIGURE:
		return ctl(x, "reconfigure", NULL,
		           a->has_skip_post_deploy && a->skip_post_deploy
		               ? skip_pd
		               : NULL);
	case LS__UPGRADE_ACTION_KIND__UA_RESTART:
	case LS__UPGRADE_ACTION_KIND__UA_START:
		rv = ctl_services(x,
		                  a->kind == LS__UPGRADE_ACTION_KIND__UA_START
		                      ? "start"
		                      : "restart",
		                  a);
		if (rv == 0 && a->has_ready_wait_ms && a->ready_wait_ms > 0)
			rv = ready_wait(x, a->ready_wait_ms);
		return rv;
	case LS__UPGRADE_ACTION_KIND__UA_STOP:
		return ctl_services(x, "stop", a);
	case LS__UPGRADE_ACTION_KIND__UA_HUP_PUMA:
		return ctl(x, "hup", "puma", NULL);
	case LS__UPGRADE_ACTION_KIND__UA_POST_DEPLOY_MIGRATE:
		return rake(x, "db:migrate");
	case LS__UPGRADE_ACTION_KIND__UA_GEO_STOP_LOGCURSOR:
		return ctl(x, "stop", "geo-logcursor", NULL);
	case LS__UPGRADE_ACTION_KIND__UA_GEO_MIGRATE:
		return rake(x, "db:migrate:geo");
	case LS__UPGRADE_ACTION_KIND__UA_GEO_CHECK:
		return rake(x, "gitlab:geo:check");
	case LS__UPGRADE_ACTION_KIND__UA_READY_WAIT:
		return ready_wait(x,
		                  a->has_ready_wait_ms ? a->ready_wait_ms : 0);
	default:
		snprintf(x->err, x->errlen, "unknown upgrade action %d",
		         (int)a->kind);
		return LS_EPROTO;
	}
}

int exec_upgrade_action(const struct agent_config *cfg,
                        const Ls__UpgradeAction *a, struct upgrade_out *o,
                        char *err, size_t errlen)
{
	struct gitlab_version v;
	struct up_ctx x;
	char verr[256];
	int64_t t0 = ls_mono_ms();
	int rv;

	up_ctx_init(&x, cfg, o, err, errlen);
	rv = run_action(&x, a);
	/* The version after the step, whatever its outcome: after a failed
	 * install the coordinator must know what is on the node now. */
	memset(&v, 0, sizeof(v));
	if (check_version_load(cfg->gitlab.version_manifest, &v, verr,
	                       sizeof(verr)) == 0) {
		ls_strlcpy(o->version, v.version, sizeof(o->version));
		o->ua.version = o->version;
	}
	o->ua.has_ms = 1;
	o->ua.ms = (uint64_t)(ls_mono_ms() - t0);
	return rv;
}
