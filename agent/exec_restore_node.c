/*
 * The node-level steps of a restore: the sealed gitlab-secrets.json and
 * gitlab.rb opened and written back (RestoreSecrets), and GitLab's
 * services stopped or started through gitlab-ctl (Services).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "exec_restore_int.h"
#include "gitlab_api.h"
#include "ls_afile.h"
#include "ls_error.h"
#include "ls_exec.h"
#include "ls_log.h"
#include "ls_util.h"

/* As exec_backup.c seals them: 16 MiB of clear text at most. */
#define SECRET_FILE_MAX (16 * 1024 * 1024)
#define SERVICE_NAME_MAX 64
#define CTL_OUT_MAX (64 * 1024)
#define STDERR_SHOWN 300
#define READY_POLL_MS 500

/*
 * Opens backup_dir/lockstep/secrets/<node>/<name>.sealed into target,
 * atomically, mode 0600, owned as the file it replaces. Absent: the node
 * had no such file, and there is nothing to do.
 */
static int open_one(struct xr *x, const Ls__RestoreSecrets *s, const char *name,
                    const char *target, const uint8_t *pk, const uint8_t *sk)
{
	char rel[512], path[LS_PATH_MAX];
	char *sealed = NULL;
	uint8_t *plain = NULL;
	size_t len = 0, plen = 0;
	struct ls_afile *f = NULL;
	struct stat st;
	int rv, keep_owner;

	if ((rv = ls_fmt(rel, sizeof(rel), "lockstep/secrets/%s/%s.sealed",
	                 s->node, name)) < 0 ||
	    (rv = xr_backup_path(s->backup_dir, rel, path, sizeof(path), x->err,
	                         sizeof(x->err))) < 0)
		return rv;
	rv = ls_read_file(path, SECRET_FILE_MAX + crypto_box_SEALBYTES, &sealed,
	                  &len);
	if (rv == LS_ENOENT) {
		log_info("%s: not in the backup; %s left as it is", path,
		         target);
		return 0;
	}
	if (rv < 0) {
		snprintf(x->err, sizeof(x->err), "%.900s: %s", path,
		         ls_strerror(rv));
		return rv;
	}
	plen = len >= crypto_box_SEALBYTES ? len - crypto_box_SEALBYTES : 0;
	if ((plain = malloc(plen ? plen : 1)) == NULL) {
		rv = LS_ENOMEM;
		goto out;
	}
	if (len < crypto_box_SEALBYTES ||
	    crypto_box_seal_open(plain, (const uint8_t *)sealed, len, pk, sk) !=
	        0) {
		snprintf(x->err, sizeof(x->err),
		         "%.900s does not open with the backup key (sealed to "
		         "another key, or damaged)",
		         path);
		rv = LS_ECRYPTO;
		goto out;
	}
	keep_owner = stat(target, &st) == 0;
	if ((rv = ls_afile_open(&f, target, 0600)) < 0) {
		snprintf(x->err, sizeof(x->err), "writing %.900s: %s", target,
		         ls_strerror(rv));
		goto out;
	}
	/* Before the rename: the file never appears with the wrong owner.
	 * Only root can give it away; anyone else keeps their own. */
	if (keep_owner && fchown(ls_afile_fd(f), st.st_uid, st.st_gid) < 0)
		log_warnx("%s: cannot keep the owner %u:%u: %s", target,
		          (unsigned)st.st_uid, (unsigned)st.st_gid,
		          ls_strerror(-errno));
	if ((rv = ls_afile_write(f, plain, plen)) < 0) {
		ls_afile_abort(f);
	} else {
		rv = ls_afile_commit(f, NULL, NULL); /* frees f either way */
	}
	if (rv < 0)
		snprintf(x->err, sizeof(x->err), "writing %.900s: %s", target,
		         ls_strerror(rv));
	else
		log_info("%s restored from %s", target, path);
out:
	if (plain != NULL) {
		ls_wipe(plain, plen);
		free(plain);
	}
	if (sealed != NULL) {
		ls_wipe(sealed, len);
		free(sealed);
	}
	return rv;
}

int xr_restore_secrets(struct xr *x, Ls__RestoreSecrets *s)
{
	uint8_t pk[crypto_box_PUBLICKEYBYTES], sk[crypto_box_SECRETKEYBYTES];
	int rv;

	if (s->backup_sk.len != sizeof(sk) || s->backup_sk.data == NULL) {
		snprintf(x->err, sizeof(x->err),
		         "the backup secret key must be %zu bytes", sizeof(sk));
		rv = LS_EINVAL;
		goto out;
	}
	memcpy(sk, s->backup_sk.data, sizeof(sk));
	if (s->node == NULL || ls_node_name_valid(s->node) < 0) {
		snprintf(x->err, sizeof(x->err), "invalid node name '%.100s'",
		         s->node ? s->node : "");
		rv = LS_EINVAL;
		goto out;
	}
	/* Sealed to the public key: it is derived, never sent. */
	if (crypto_scalarmult_base(pk, sk) != 0) {
		snprintf(x->err, sizeof(x->err), "invalid backup secret key");
		rv = LS_ECRYPTO;
		goto out;
	}
	if ((rv = open_one(x, s, "gitlab-secrets.json",
	                   x->cfg->gitlab.secrets_file, pk, sk)) < 0)
		goto out;
	rv = open_one(x, s, "gitlab.rb", x->cfg->gitlab.config_file, pk, sk);
out:
	ls_wipe(sk, sizeof(sk));
	if (s->backup_sk.data != NULL)
		ls_wipe(s->backup_sk.data, s->backup_sk.len);
	return rv;
}

/* runit service directory names: no option, no path. */
static int service_name_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n >= SERVICE_NAME_MAX || s[0] == '-')
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		      s[i] == '_' || s[i] == '.'))
			return 0;
	return strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* The last n bytes of s, on one line. */
static void tail_line(const char *s, size_t slen, char *out, size_t outlen)
{
	const char *p = s ? s : "";
	size_t i;

	while (slen > 0 && (p[slen - 1] == '\n' || p[slen - 1] == ' '))
		slen--;
	if (slen > STDERR_SHOWN) {
		p += slen - STDERR_SHOWN;
		slen = STDERR_SHOWN;
	}
	snprintf(out, outlen, "%.*s", (int)slen, p);
	for (i = 0; out[i] != '\0'; i++)
		if ((unsigned char)out[i] < 0x20)
			out[i] = ' ';
}

static int ctl(struct xr *x, const char *action, const char *service)
{
	const char *argv[] = {x->cfg->gitlab.ctl, action, service, NULL};
	struct ls_exec_opts o;
	struct ls_exec_result res;
	char tail[STDERR_SHOWN + 1];
	int rv;

	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.max_stdout = CTL_OUT_MAX;
	o.max_stderr = CTL_OUT_MAX;
	o.timeout_ms = (int)x->cfg->op_timeout;
	rv = ls_exec_run(&o, &res);
	if (rv == 0 && res.exited && res.status == 0)
		goto out;
	tail_line(res.err, res.err_len, tail, sizeof(tail));
	if (rv < 0)
		snprintf(x->err, sizeof(x->err), "%.600s %s %s: %s%s%s",
		         argv[0], action, service, ls_strerror(rv),
		         tail[0] ? ": " : "", tail);
	else
		snprintf(x->err, sizeof(x->err), "%.600s %s %s: %s %d%s%s",
		         argv[0], action, service,
		         res.exited ? "exit status" : "killed by signal",
		         res.status, tail[0] ? ": " : "", tail);
	rv = rv < 0 ? rv : LS_ECHILD;
out:
	ls_exec_result_free(&res);
	return rv;
}

/* Polls /-/readiness until 200 or wait_ms has passed. */
static int wait_ready(struct xr *x, uint32_t wait_ms)
{
	int64_t deadline = ls_mono_ms() + wait_ms;
	const char *url = x->cfg->gitlab.url;
	size_t ulen = strlen(url) > 1000 ? 1000 : strlen(url);
	char text[512] = "";
	long code = 0;

	if (gitlab_wait_ready(x->cfg, deadline, READY_POLL_MS, &code, text,
	                      sizeof(text)) == 0)
		return 0;
	while (ulen > 0 && url[ulen - 1] == '/')
		ulen--;
	if (code > 0)
		snprintf(x->err, sizeof(x->err),
		         "GitLab did not become ready within %u s: last answer "
		         "of %.*s/-/readiness: HTTP %ld%s%.200s",
		         (unsigned)((wait_ms + 999) / 1000), (int)ulen, url,
		         code, text[0] ? ": " : "", text);
	else
		snprintf(x->err, sizeof(x->err),
		         "GitLab did not become ready within %u s: last answer "
		         "of %.*s/-/readiness: %.300s",
		         (unsigned)((wait_ms + 999) / 1000), (int)ulen, url,
		         text[0] ? text : "none");
	return LS_ETIMEDOUT;
}

int xr_services(struct xr *x, const Ls__Services *s)
{
	const char *action = s->start ? "start" : "stop";
	size_t i;
	int rv;

	int wait = s->start && s->has_ready_wait_ms && s->ready_wait_ms > 0;

	/* gitlab-ctl stop without a name stops everything, PostgreSQL and
	 * Gitaly included: never by omission. No name runs no command; a
	 * start with a wait then only waits for readiness. */
	if (s->n_services == 0 && !wait) {
		snprintf(x->err, sizeof(x->err),
		         "no service named to %s (gitlab-ctl is never run for "
		         "every service)",
		         action);
		return LS_EINVAL;
	}
	for (i = 0; i < s->n_services; i++)
		if (!service_name_ok(s->services[i])) {
			snprintf(x->err, sizeof(x->err),
			         "invalid service name '%.100s'",
			         s->services[i]);
			return LS_EINVAL;
		}
	for (i = 0; i < s->n_services; i++)
		if ((rv = ctl(x, action, s->services[i])) < 0)
			return rv;
	if (wait)
		return wait_ready(x, s->ready_wait_ms);
	return 0;
}
