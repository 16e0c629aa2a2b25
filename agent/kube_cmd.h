/*
 * kubectl and helm as a node with the kubernetes role runs them: argv
 * only, the kubeconfig and context from agent.yml, the namespace first,
 * a deadline on every call and a bounded capture of what they print.
 */
#ifndef KUBE_CMD_H
#define KUBE_CMD_H

#include <stddef.h>
#include <stdint.h>

#include "agent_config.h"
#include "ls_exec.h"

#define KUBE_ARGV_MAX 40

struct kube_cmd {
	const char *argv[KUBE_ARGV_MAX + 1];
	size_t n;
	int overflow;     /* an argument did not fit: kube_run refuses */
	const char *what; /* names the call in errors: "kubectl get secret" */
};

/* kubectl --kubeconfig F [--context C] -n NS; what names the call. */
void kube_kubectl(struct kube_cmd *c, const struct agent_config *cfg,
                  const char *ns, const char *what);
/* helm --kubeconfig F [--kube-context C] -n NS. */
void kube_helm(struct kube_cmd *c, const struct agent_config *cfg,
               const char *ns, const char *what);
/* Appends arguments up to a NULL; they must outlive the call. */
void kube_args(struct kube_cmd *c, ...);

/*
 * Runs c within kubernetes.call_timeout (timeout_ms > 0 overrides it),
 * stdin from in (NULL: /dev/null), stdout capped at max_stdout. 0 when it
 * exited 0; otherwise LS_ECHILD (or the exec error) with err saying
 * "WHAT: " and the last line of its stderr. res is always initialised and
 * must be freed with ls_exec_result_free.
 */
int kube_run(const struct agent_config *cfg, struct kube_cmd *c, const void *in,
             size_t inlen, size_t max_stdout, int timeout_ms,
             struct ls_exec_result *res, char *err, size_t errlen);

/* Longest line kube_stream hands over; the rest of a longer one is
 * dropped (the line is cut, not split). */
#define KUBE_LINE_MAX 1024

/*
 * Called with each line of stdout (no newline, control characters
 * replaced, at most KUBE_LINE_MAX bytes), and with NULL when a second
 * passes without one, so that the caller can pass on what it holds. A
 * negative return stops the command (its group is killed) and is
 * returned.
 */
typedef int (*kube_line_fn)(void *arg, const char *line);

/*
 * Runs c like kube_run, but hands its stdout to fn line by line as it
 * comes instead of capturing it: for a tool that runs for hours and
 * prints as it goes (backup-utility). timeout_ms bounds the whole call.
 * res gets the exit status and stderr (up to 64 KiB); 0 when it exited 0,
 * else LS_ECHILD with err saying "WHAT: exit N", or LS_ETIMEDOUT.
 */
int kube_stream(const struct agent_config *cfg, struct kube_cmd *c,
                int timeout_ms, kube_line_fn fn, void *arg,
                struct ls_exec_result *res, char *err, size_t errlen);

/* `df -Pk DIR` output (a header, then one line per file system): the
 * Available column of its first data line, in bytes. LS_EPROTO when it
 * is not that. */
int kube_df_avail(const char *out, size_t len, uint64_t *bytes);

/* The last non-empty line of text, at most len-1 bytes, control
 * characters replaced: what a one-line error quotes of a tool's output. */
void kube_last_line(const char *text, size_t n, char *out, size_t len);

#endif
