#include "kube_cmd.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ls_error.h"
#include "ls_util.h"

static void push(struct kube_cmd *c, const char *arg)
{
	if (c->n >= KUBE_ARGV_MAX) {
		c->overflow = 1;
		return;
	}
	c->argv[c->n++] = arg;
	c->argv[c->n] = NULL;
}

static void start(struct kube_cmd *c, const char *tool,
                  const char *context_flag, const struct agent_config *cfg,
                  const char *ns, const char *what)
{
	memset(c, 0, sizeof(*c));
	c->what = what;
	push(c, tool);
	push(c, "--kubeconfig");
	push(c, cfg->kubernetes.kubeconfig);
	if (cfg->kubernetes.context[0] != '\0') {
		push(c, context_flag);
		push(c, cfg->kubernetes.context);
	}
	if (ns != NULL) {
		push(c, "-n");
		push(c, ns);
	}
}

void kube_kubectl(struct kube_cmd *c, const struct agent_config *cfg,
                  const char *ns, const char *what)
{
	start(c, cfg->kubernetes.kubectl, "--context", cfg, ns, what);
}

void kube_helm(struct kube_cmd *c, const struct agent_config *cfg,
               const char *ns, const char *what)
{
	start(c, cfg->kubernetes.helm, "--kube-context", cfg, ns, what);
}

void kube_args(struct kube_cmd *c, ...)
{
	va_list ap;
	const char *a;

	va_start(ap, c);
	while ((a = va_arg(ap, const char *)) != NULL)
		push(c, a);
	va_end(ap);
}

void kube_last_line(const char *text, size_t n, char *out, size_t len)
{
	size_t end = n, begin, i, o = 0;

	if (len == 0)
		return;
	while (end > 0 && (text[end - 1] == '\n' || text[end - 1] == '\r' ||
	                   text[end - 1] == ' '))
		end--;
	begin = end;
	while (begin > 0 && text[begin - 1] != '\n')
		begin--;
	for (i = begin; i < end && o + 1 < len; i++) {
		unsigned char ch = (unsigned char)text[i];
		out[o++] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
	}
	out[o] = '\0';
}

int kube_run(const struct agent_config *cfg, struct kube_cmd *c, const void *in,
             size_t inlen, size_t max_stdout, int timeout_ms,
             struct ls_exec_result *res, char *err, size_t errlen)
{
	struct ls_exec_opts o = {0};
	char line[300];
	int rv;

	memset(res, 0, sizeof(*res));
	if (c->overflow) {
		ls_fmt(err, errlen, "%s: too many arguments", c->what);
		return LS_ETOOBIG;
	}
	o.argv = c->argv;
	o.stdin_data = in;
	o.stdin_len = inlen;
	o.max_stdout = max_stdout;
	o.max_stderr = 64 * 1024;
	o.timeout_ms =
	    timeout_ms > 0 ? timeout_ms : (int)cfg->kubernetes.call_timeout;
	rv = ls_exec_run(&o, res);
	if (rv < 0) {
		ls_fmt(err, errlen, "%s: %s", c->what,
		       rv == LS_ETIMEDOUT ? "did not finish in time"
		                          : ls_strerror(rv));
		return rv;
	}
	if (res->exited && res->status == 0)
		return 0;
	kube_last_line(res->err, res->err_len, line, sizeof(line));
	if (line[0] == '\0')
		kube_last_line((const char *)res->out, res->out_len, line,
		               sizeof(line));
	if (res->exited)
		ls_fmt(err, errlen, "%s: exit %d%s%s", c->what, res->status,
		       line[0] ? ": " : "", line);
	else
		ls_fmt(err, errlen, "%s: killed by signal %d", c->what,
		       res->status);
	return LS_ECHILD;
}

/* A line being read: bytes past KUBE_LINE_MAX are dropped until the
 * newline. */
struct kube_lines {
	char buf[KUBE_LINE_MAX + 1];
	size_t len;
	kube_line_fn fn;
	void *arg;
};

static int line_end(struct kube_lines *l)
{
	int rv;

	while (l->len > 0 && l->buf[l->len - 1] == '\r')
		l->len--;
	l->buf[l->len] = '\0';
	rv = l->fn(l->arg, l->buf);
	l->len = 0;
	return rv;
}

static int line_bytes(struct kube_lines *l, const char *p, size_t n)
{
	size_t i;
	int rv;

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];

		if (ch == '\n') {
			if ((rv = line_end(l)) < 0)
				return rv;
			continue;
		}
		if (l->len < KUBE_LINE_MAX)
			l->buf[l->len++] =
			    (ch < 0x20 && ch != '\r') || ch == 0x7f ? ' '
			                                            : (char)ch;
	}
	return 0;
}

int kube_stream(const struct agent_config *cfg, struct kube_cmd *c,
                int timeout_ms, kube_line_fn fn, void *arg,
                struct ls_exec_result *res, char *err, size_t errlen)
{
	struct ls_exec_opts o = {0};
	struct ls_proc p = {-1, -1, -1, -1};
	struct kube_lines *l = NULL;
	int64_t deadline;
	char chunk[4096];
	int rv;

	memset(res, 0, sizeof(*res));
	if (c->overflow) {
		ls_fmt(err, errlen, "%s: too many arguments", c->what);
		return LS_ETOOBIG;
	}
	if (timeout_ms <= 0)
		timeout_ms = (int)cfg->kubernetes.call_timeout;
	deadline = ls_mono_ms() + timeout_ms;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return LS_ENOMEM;
	l->fn = fn;
	l->arg = arg;
	o.argv = c->argv;
	if ((rv = ls_exec_spawn(&o, 0, -1, &p)) < 0) {
		ls_fmt(err, errlen, "%s: %s", c->what, ls_strerror(rv));
		goto out;
	}
	for (;;) {
		struct pollfd pfd = {.fd = p.out_fd, .events = POLLIN};
		int64_t left = deadline - ls_mono_ms();
		ssize_t n;

		if (left <= 0) {
			rv = LS_ETIMEDOUT;
			break;
		}
		rv = poll(&pfd, 1, left < 1000 ? (int)left : 1000);
		if (rv < 0 && errno == EINTR)
			continue;
		if (rv < 0) {
			rv = -errno;
			break;
		}
		if (rv == 0) {
			if ((rv = fn(arg, NULL)) < 0)
				break;
			continue;
		}
		n = read(p.out_fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rv = -errno;
			break;
		}
		if (n == 0) {
			rv = l->len > 0 ? line_end(l) : 0;
			break;
		}
		if ((rv = line_bytes(l, chunk, (size_t)n)) < 0)
			break;
	}
	if (rv == 0) {
		int64_t left = deadline - ls_mono_ms();

		/* stdout closed: the tool is done or about to be. */
		rv = ls_exec_wait(&p, left > 1 ? (int)left : 1, 64 * 1024, res);
	}
	if (rv < 0) {
		ls_exec_kill(&p);
		if (rv == LS_ETIMEDOUT)
			ls_fmt(err, errlen, "%s: did not finish within %ds",
			       c->what, timeout_ms / 1000);
		else
			ls_fmt(err, errlen, "%s: %s", c->what, ls_strerror(rv));
		goto out;
	}
	if (!res->exited || res->status != 0) {
		if (res->exited)
			ls_fmt(err, errlen, "%s: exit %d", c->what,
			       res->status);
		else
			ls_fmt(err, errlen, "%s: killed by signal %d", c->what,
			       res->status);
		rv = LS_ECHILD;
	}
out:
	free(l);
	return rv;
}

int kube_df_avail(const char *out, size_t len, uint64_t *bytes)
{
	const char *p = out, *end = out + len, *nl;
	char line[512], *tok, *save = NULL, *e;
	unsigned long long kb;
	size_t n;
	int i;

	/* POSIX (-P): a header line, then one line per file system. */
	if ((nl = memchr(p, '\n', len)) == NULL || nl - p < 10 ||
	    memcmp(p, "Filesystem", 10) != 0)
		return LS_EPROTO;
	p = nl + 1;
	nl = memchr(p, '\n', (size_t)(end - p));
	n = nl ? (size_t)(nl - p) : (size_t)(end - p);
	if (n == 0 || n >= sizeof(line))
		return LS_EPROTO;
	memcpy(line, p, n);
	line[n] = '\0';
	/* Filesystem, 1024-blocks, Used, Available, ... */
	tok = strtok_r(line, " \t", &save);
	for (i = 0; tok != NULL && i < 3; i++)
		tok = strtok_r(NULL, " \t", &save);
	if (tok == NULL || tok[0] < '0' || tok[0] > '9')
		return LS_EPROTO;
	errno = 0;
	kb = strtoull(tok, &e, 10);
	/* Past 16 EiB in bytes: no file system, so not output we understand. */
	if (*e != '\0' || errno != 0 || kb > UINT64_MAX / 1024)
		return LS_EPROTO;
	*bytes = (uint64_t)kb * 1024;
	return 0;
}
