/*
 * KubeRestore: export, room check, kubectl cp, backup-utility, cleanup.
 * Every kubectl call goes through kube_cmd (argv, kubeconfig, deadline);
 * the tar is written by backup_export_tar, the coordinator's export.
 */
#include "kube_restore.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup_export.h"
#include "backup_meta.h"
#include "exec_kube.h"
#include "kube_cmd.h"
#include "ls_error.h"
#include "ls_log.h"
#include "ls_scratch.h"
#include "ls_util.h"

#define COMPONENT "kube_restore"
#define CONTAINER "toolbox"
#define DF_MAX (64 * 1024)
#define POD_DIR_MAX 512
/* kubectl's own line after the tool's when the command exits non-zero:
 * not the tool's output, so never the line an error quotes. */
#define KUBECTL_EXIT "command terminated with exit code "

struct kr {
	struct xr *x;
	const Ls__KubeTarget *t;
	char *pod;
	uint64_t size; /* of the tar */
	char *pending[KUBE_RESTORE_FRAME_LINES];
	size_t npending;
	int64_t flushed_ms;
	char tail[KUBE_RESTORE_TAIL_LINES][KUBE_RESTORE_TAIL_LINE + 1];
	size_t ntail; /* lines ever kept: the next goes to ntail % LINES */
	uint64_t lines;
	int oom;
};

static void flush(struct kr *k)
{
	size_t i;

	if (k->npending == 0)
		return;
	/* A lost frame is not worth failing the restore for: the result
	 * frame fails too if the agent is gone. */
	(void)xr_progress_lines(k->x, COMPONENT, k->size, k->pending,
	                        k->npending);
	for (i = 0; i < k->npending; i++)
		free(k->pending[i]);
	k->npending = 0;
	k->flushed_ms = ls_mono_ms();
}

static void queue(struct kr *k, const char *line)
{
	char *d = strdup(line);

	if (d == NULL) {
		k->oom = 1;
		return;
	}
	k->pending[k->npending++] = d;
	if (k->npending == KUBE_RESTORE_FRAME_LINES)
		flush(k);
}

/* One of our own steps: logged, and sent at once. */
static void say(struct kr *k, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void say(struct kr *k, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_info("kube restore: %s", line);
	queue(k, line);
	flush(k);
}

/* A kube_line_fn: backup-utility's lines, a frame a second at most. */
static int on_line(void *arg, const char *line)
{
	struct kr *k = arg;

	if (line == NULL) {
		flush(k);
		return 0;
	}
	k->lines++;
	queue(k, line);
	if (strncmp(line, KUBECTL_EXIT, strlen(KUBECTL_EXIT)) != 0 &&
	    line[0] != '\0')
		ls_strlcpy(k->tail[k->ntail++ % KUBE_RESTORE_TAIL_LINES], line,
		           KUBE_RESTORE_TAIL_LINE + 1);
	if (ls_mono_ms() - k->flushed_ms >= 1000)
		flush(k);
	return k->oom ? LS_ENOMEM : 0;
}

/* stderr, read once the tool has exited, goes the same way. */
static void on_text(struct kr *k, const char *text, size_t len)
{
	const char *p = text, *end = text + len;
	char line[KUBE_LINE_MAX + 1];

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p), i, o = 0;

		for (i = 0; i < n && o < KUBE_LINE_MAX; i++) {
			unsigned char ch = (unsigned char)p[i];
			if (ch != '\r')
				line[o++] =
				    ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
		}
		line[o] = '\0';
		(void)on_line(k, line);
		p += n + 1;
	}
	flush(k);
}

static const char *last_line(const struct kr *k)
{
	return k->ntail ? k->tail[(k->ntail - 1) % KUBE_RESTORE_TAIL_LINES]
	                : "";
}

/* output_tail: the kept lines, oldest first. */
static int set_tail(struct kr *k)
{
	size_t n = k->ntail < KUBE_RESTORE_TAIL_LINES ? k->ntail
	                                              : KUBE_RESTORE_TAIL_LINES;
	size_t first = k->ntail - n, i, len = 0;
	char *s = malloc(n * (KUBE_RESTORE_TAIL_LINE + 1) + 1);

	if (s == NULL)
		return LS_ENOMEM;
	for (i = 0; i < n; i++) {
		const char *l = k->tail[(first + i) % KUBE_RESTORE_TAIL_LINES];
		size_t ll = strlen(l);

		memcpy(s + len, l, ll);
		len += ll;
		s[len++] = '\n';
	}
	s[len] = '\0';
	free(k->x->kres->output_tail);
	k->x->kres->output_tail = s;
	return 0;
}

/* An absolute, clean directory in the pod: it goes into kubectl cp's
 * POD:PATH and into a file:// URL, so only plain characters. */
static int pod_dir_ok(const char *d, char *err, size_t errlen)
{
	size_t i, n = strlen(d);

	if (n == 0 || n > POD_DIR_MAX || d[0] != '/')
		goto bad;
	for (i = 0; i < n; i++) {
		char c = d[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '/' || c == '.' ||
		      c == '_' || c == '-'))
			goto bad;
		/* No "." or ".." component. */
		if (c == '.' && d[i - 1] == '/' &&
		    (d[i + 1] == '/' || d[i + 1] == '\0' ||
		     (d[i + 1] == '.' &&
		      (d[i + 2] == '/' || d[i + 2] == '\0'))))
			goto bad;
	}
	return 0;
bad:
	ls_fmt(err, errlen,
	       "pod_dir '%.200s' is not an absolute, clean path of letters, "
	       "digits and '/._-'",
	       d);
	return LS_EINVAL;
}

static int check(struct xr *x, const Ls__KubeRestore *r, const char *pod_dir)
{
	int rv;

	if ((rv = kube_target_ok(r->target, x->err, sizeof(x->err))) < 0)
		return rv;
	if (r->backup_id == NULL || strchr(r->backup_id, '/') != NULL ||
	    backup_id_parse(r->backup_id, NULL, NULL, 0) < 0) {
		ls_fmt(x->err, sizeof(x->err),
		       "backup_id '%.200s' is not a GitLab backup id",
		       r->backup_id ? r->backup_id : "");
		return LS_EINVAL;
	}
	{
		char dir[LS_PATH_MAX];

		if ((rv = xr_backup_path(r->backup_dir, NULL, dir, sizeof(dir),
		                         x->err, sizeof(x->err))) < 0)
			return rv;
	}
	return pod_dir_ok(pod_dir, x->err, sizeof(x->err));
}

/* kubectl exec POD -c toolbox -- ARGS... with a captured stdout. */
static int pod_exec(struct kr *k, const char *what, const char *const *args,
                    struct ls_exec_result *res, char *err, size_t errlen)
{
	const struct agent_config *cfg = k->x->cfg;
	struct kube_cmd c;
	size_t i;

	kube_kubectl(&c, cfg, k->t->namespace_, what);
	kube_args(&c, "exec", k->pod, "-c", CONTAINER, "--", NULL);
	for (i = 0; args[i] != NULL; i++)
		kube_args(&c, args[i], NULL);
	return kube_run(cfg, &c, NULL, 0, DF_MAX, 0, res, err, errlen);
}

/* The tar fits in pod_dir, with room for backup-utility's work. */
static int check_room(struct kr *k, const char *pod_dir)
{
	struct xr *x = k->x;
	const char *args[] = {"df", "-Pk", pod_dir, NULL};
	struct ls_exec_result res;
	uint64_t avail, need;
	int rv;

	rv = pod_exec(k, "kubectl exec df", args, &res, x->err, sizeof(x->err));
	if (rv == 0 && (rv = kube_df_avail((const char *)res.out, res.out_len,
	                                   &avail)) < 0)
		ls_fmt(x->err, sizeof(x->err),
		       "df -Pk %s in pod %s: output not understood", pod_dir,
		       k->pod);
	ls_exec_result_free(&res);
	if (rv < 0)
		return rv;
	need = k->size > UINT64_MAX / KUBE_RESTORE_SPACE_FACTOR
	           ? UINT64_MAX
	           : k->size * KUBE_RESTORE_SPACE_FACTOR;
	if (avail < need) {
		ls_fmt(x->err, sizeof(x->err),
		       "toolbox pod %s has %llu bytes available in %s; the "
		       "restore needs %llu (%d x the %llu-byte tar: the copy, "
		       "backup-utility's download of it and its unpacked "
		       "contents)",
		       k->pod, (unsigned long long)avail, pod_dir,
		       (unsigned long long)need, KUBE_RESTORE_SPACE_FACTOR,
		       (unsigned long long)k->size);
		return LS_ENOSPC;
	}
	say(k, "pod %s: %llu bytes available in %s, %llu needed", k->pod,
	    (unsigned long long)avail, pod_dir, (unsigned long long)need);
	return 0;
}

static int copy_in(struct kr *k, const char *tar, const char *pod_tar,
                   int64_t deadline)
{
	const struct agent_config *cfg = k->x->cfg;
	struct kube_cmd c;
	struct ls_exec_result res;
	char dest[LS_PATH_MAX];
	int64_t left = deadline - ls_mono_ms();
	int rv;

	if ((rv = ls_fmt(dest, sizeof(dest), "%s/%s:%s", k->t->namespace_,
	                 k->pod, pod_tar)) < 0)
		return rv;
	say(k, "copying %llu bytes into pod %s:%s", (unsigned long long)k->size,
	    k->pod, pod_tar);
	kube_kubectl(&c, cfg, k->t->namespace_, "kubectl cp");
	kube_args(&c, "cp", tar, dest, "-c", CONTAINER, NULL);
	rv = kube_run(cfg, &c, NULL, 0, DF_MAX,
	              left < 1           ? 1
	              : left > INT32_MAX ? INT32_MAX
	                                 : (int)left,
	              &res, k->x->err, sizeof(k->x->err));
	ls_exec_result_free(&res);
	return rv;
}

static int run_utility(struct kr *k, const char *pod_tar, int64_t deadline)
{
	const struct agent_config *cfg = k->x->cfg;
	struct xr *x = k->x;
	struct kube_cmd c;
	struct ls_exec_result res;
	char url[LS_PATH_MAX + 8], what[300];
	int64_t left = deadline - ls_mono_ms();
	int rv;

	if ((rv = ls_fmt(url, sizeof(url), "file://%s", pod_tar)) < 0)
		return rv;
	ls_fmt(what, sizeof(what), "backup-utility --restore in pod %s",
	       k->pod);
	say(k, "running backup-utility --restore -f %s in pod %s", url, k->pod);
	kube_kubectl(&c, cfg, k->t->namespace_, what);
	kube_args(&c, "exec", k->pod, "-c", CONTAINER, "--", "backup-utility",
	          "--restore", "-f", url, NULL);
	rv = kube_stream(cfg, &c,
	                 left < 1           ? 1
	                 : left > INT32_MAX ? INT32_MAX
	                                    : (int)left,
	                 on_line, k, &res, x->err, sizeof(x->err));
	if (res.err_len > 0)
		on_text(k, res.err, res.err_len);
	flush(k);
	ls_exec_result_free(&res);
	if (rv == LS_ECHILD && last_line(k)[0] != '\0') {
		size_t n = strlen(x->err);
		ls_fmt(x->err + n, sizeof(x->err) - n, ": %s", last_line(k));
	}
	if (rv == 0)
		say(k,
		    "backup-utility --restore in pod %s finished (%llu "
		    "lines of output)",
		    k->pod, (unsigned long long)k->lines);
	return rv;
}

/* Best effort: a tar left in the pod costs space, not correctness. */
static void remove_in_pod(struct kr *k, const char *pod_tar)
{
	const char *args[] = {"rm", "-f", pod_tar, NULL};
	struct ls_exec_result res;
	char err[512];

	if (pod_exec(k, "kubectl exec rm", args, &res, err, sizeof(err)) < 0) {
		log_warnx("kube restore: %s left in pod %s: %s", pod_tar,
		          k->pod, err);
		say(k, "could not remove %s from pod %s: %s", pod_tar, k->pod,
		    err);
	} else {
		say(k, "removed %s from pod %s", pod_tar, k->pod);
	}
	ls_exec_result_free(&res);
}

/* A private directory for the tar, beside where backups are staged; one
 * left by a restore whose process was killed (a whole tarball) goes. */
static int make_scratch(struct kr *k, struct ls_scratch *sc)
{
	int rv, swept = 0;

	rv = ls_scratch_open(sc, k->x->cfg->backup_staging_dir, "kube-restore",
	                     &swept, k->x->err, sizeof(k->x->err));
	if (swept > 0)
		say(k,
		    "removed %d kube-restore director%s left in %s by a "
		    "restore that was killed",
		    swept, swept == 1 ? "y" : "ies",
		    k->x->cfg->backup_staging_dir);
	return rv;
}

int xr_kube_restore(struct xr *x, const Ls__KubeRestore *r)
{
	const char *pod_dir = r->pod_dir != NULL && r->pod_dir[0] != '\0'
	                          ? r->pod_dir
	                          : KUBE_RESTORE_POD_DIR;
	char tar[LS_PATH_MAX], pod_tar[LS_PATH_MAX];
	struct ls_scratch sc = {.path = "", .lockfd = -1};
	char pdir[POD_DIR_MAX + 1];
	struct kr *k = NULL;
	struct stat st;
	int64_t t0 = ls_mono_ms(), deadline;
	int copied = 0, rv, trv;
	size_t n;

	if ((x->kres = malloc(sizeof(*x->kres))) == NULL)
		return LS_ENOMEM;
	ls__kube_restore_result__init(x->kres);
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return LS_ENOMEM;
	k->x = x;
	k->t = r->target;
	if ((rv = check(x, r, pod_dir)) < 0)
		goto out;
	/* "/srv/gitlab/tmp/" and "/srv/gitlab/tmp" are one directory. */
	ls_strlcpy(pdir, pod_dir, sizeof(pdir));
	for (n = strlen(pdir); n > 1 && pdir[n - 1] == '/'; n--)
		pdir[n - 1] = '\0';
	if ((rv = ls_fmt(pod_tar, sizeof(pod_tar), "%s%s%s_gitlab_backup.tar",
	                 pdir, n > 1 ? "/" : "", r->backup_id)) < 0)
		goto out;
	if ((rv = exec_kube_ready_pod(x->cfg, r->target, "toolbox", &k->pod,
	                              x->err, sizeof(x->err))) < 0)
		goto out;
	if (k->pod[0] == '\0') {
		ls_fmt(x->err, sizeof(x->err),
		       "release %s in namespace %s has no running, ready "
		       "toolbox pod (label app=toolbox)",
		       r->target->release, r->target->namespace_);
		rv = LS_ENOENT;
		goto out;
	}
	if ((x->kres->pod = strdup(k->pod)) == NULL) {
		rv = LS_ENOMEM;
		goto out;
	}
	say(k, "toolbox pod %s of release %s", k->pod, r->target->release);

	if ((rv = make_scratch(k, &sc)) < 0 ||
	    (rv = ls_fmt(tar, sizeof(tar), "%s/%s_gitlab_backup.tar", sc.path,
	                 r->backup_id)) < 0)
		goto out;
	say(k, "exporting %s to %s", r->backup_dir, tar);
	if ((rv = backup_export_tar(r->backup_dir, tar, 0, x->err,
	                            sizeof(x->err))) < 0)
		goto out;
	if (stat(tar, &st) < 0) {
		rv = -errno;
		ls_fmt(x->err, sizeof(x->err), "%s: %s", tar, ls_strerror(rv));
		goto out;
	}
	k->size = (uint64_t)st.st_size;
	x->kres->has_bytes = 1;
	x->kres->bytes = k->size;
	say(k, "exported %llu bytes", (unsigned long long)k->size);

	if ((rv = check_room(k, pdir)) < 0)
		goto out;
	/* restore_timeout covers the copy and backup-utility together. */
	deadline = ls_mono_ms() + x->cfg->kubernetes.restore_timeout;
	copied = 1;
	rv = copy_in(k, tar, pod_tar, deadline);
	/* Not needed any more: the pod has it, or the copy failed. */
	unlink(tar);
	if (rv < 0)
		goto out;
	rv = run_utility(k, pod_tar, deadline);
out:
	if (copied)
		remove_in_pod(k, pod_tar);
	(void)ls_scratch_close(&sc);
	flush(k);
	trv = set_tail(k);
	if (rv == 0 && (trv < 0 || k->oom))
		rv = LS_ENOMEM;
	x->kres->has_ms = 1;
	x->kres->ms = (uint64_t)(ls_mono_ms() - t0);
	free(k->pod);
	free(k);
	return rv;
}
