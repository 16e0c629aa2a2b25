#include "exec_facts.h"

#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <stdlib.h>

#include "agent_config.h"
#include "agent_identity.h"
#include "check.h"
#include "check_gitlabctl_parse.h"
#include "check_version_parse.h"
#include "ls_error.h"
#include "ls_exec.h"
#include "ls_log.h"
#include "ls_util.h"

#define OS_RELEASE_MAX (64 * 1024)
/* gitlab-ctl status lists a few dozen services at most; check-leader
 * prints one line (to stderr). Both answer in seconds unless the node is
 * in trouble, and facts must not hang on it. */
#define CTL_STATUS_MAX_OUT (1024 * 1024)
#define CTL_MAX_SERVICES 256
#define CTL_TIMEOUT_MS 30000
#define PATRONI_MAX_OUT (64 * 1024)

/* KEY="value" -> the unquoted value, shell-style escapes inside double
 * quotes undone, bounded by size. */
static void os_release_value(const char *v, char *out, size_t size)
{
	size_t n = strlen(v), i, o = 0;
	char q = 0;

	if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
		q = v[0];
		v++;
		n -= 2;
	}
	for (i = 0; i < n && o + 1 < size; i++) {
		if (q == '"' && v[i] == '\\' && i + 1 < n)
			i++;
		out[o++] = v[i];
	}
	out[o] = '\0';
	check_sanitize(out);
}

/*
 * PRETTY_NAME ("Debian GNU/Linux 12 (bookworm)"), ID ("debian") and
 * VERSION_ID ("12") in one pass over the file: the upgrade plan looks the
 * last two up in GitLab's supported OS table. A value missing from the
 * file is left "". Returns 0 when the file was read.
 */
static int os_release_read(const char *path, struct agent_facts *f)
{
	static const struct {
		const char *key;
		size_t len;
	} keys[] = {{"PRETTY_NAME=", 12}, {"ID=", 3}, {"VERSION_ID=", 11}};
	char *outs[3] = {f->os, f->os_id, f->os_version_id};
	size_t sizes[3] = {sizeof(f->os), sizeof(f->os_id),
	                   sizeof(f->os_version_id)};
	char *buf = NULL, *p, *line;
	size_t len, k;

	for (k = 0; k < 3; k++)
		outs[k][0] = '\0';
	if (ls_read_file(path, OS_RELEASE_MAX, &buf, &len) < 0)
		return -1;
	for (line = buf; line != NULL && *line; line = p) {
		p = strchr(line, '\n');
		if (p != NULL)
			*p++ = '\0';
		for (k = 0; k < 3; k++) {
			if (strncmp(line, keys[k].key, keys[k].len) != 0)
				continue;
			/* os-release(5) assigns each key once; should a
			 * file repeat one, the first is kept. */
			if (outs[k][0] == '\0')
				os_release_value(line + keys[k].len, outs[k],
				                 sizes[k]);
			break;
		}
	}
	free(buf);
	return 0;
}

/*
 * Whether the node was enrolled with the postgresql role. The executor is
 * never told its roles for facts, so it reads them from the identity the
 * agent joined with; the secret key in it is wiped at once.
 */
static int has_postgresql_role(const struct agent_config *cfg)
{
	Ls__AgentIdentity *pb = NULL;
	size_t i;
	int found = 0;

	if (agent_identity_read(cfg->state_dir, &pb) < 0)
		return 0;
	for (i = 0; i < pb->n_roles; i++)
		if (pb->roles[i] != NULL &&
		    strcmp(pb->roles[i], "postgresql") == 0)
			found = 1;
	agent_identity_pb_free(pb);
	return found;
}

/* -1: `gitlab-ctl status` does not list patroni (or cannot be read);
 * 0: listed, not running; 1: running. */
static int patroni_service(const struct agent_config *cfg)
{
	const char *argv[] = {cfg->gitlab.ctl, "status", NULL};
	struct ls_exec_opts o = {.argv = argv,
	                         .max_stdout = CTL_STATUS_MAX_OUT,
	                         .max_stderr = 4096,
	                         .timeout_ms = CTL_TIMEOUT_MS};
	struct ls_exec_result res;
	struct gitlabctl_service *svc = NULL;
	size_t n = 0, i;
	int rv, state = -1;

	rv = ls_exec_run(&o, &res);
	if (rv < 0) {
		log_warnx("facts: %s status: %s", cfg->gitlab.ctl,
		          ls_strerror(rv));
		goto out;
	}
	if ((svc = calloc(CTL_MAX_SERVICES, sizeof(*svc))) == NULL)
		goto out;
	/* LS_ETOOBIG still leaves the first entries to look at. */
	(void)gitlabctl_parse((const char *)res.out, res.out_len, svc,
	                      CTL_MAX_SERVICES, &n);
	for (i = 0; i < n; i++)
		if (svc[i].state != GITLABCTL_GARBAGE &&
		    strcmp(svc[i].name, "patroni") == 0)
			state = svc[i].state == GITLABCTL_RUN;
out:
	free(svc);
	ls_exec_result_free(&res);
	return state;
}

/*
 * "leader" or "replica" from `gitlab-ctl patroni check-leader` (exit 0 on
 * the leader, 1 on any other member, 3 when it could not ask Patroni), or
 * NULL when this node runs no Patroni or the answer is unclear: the upgrade
 * order then falls back to names, which is safe, so nothing here is fatal.
 */
static const char *patroni_role(const struct agent_config *cfg)
{
	const char *argv[] = {cfg->gitlab.ctl, "patroni", "check-leader", NULL};
	struct ls_exec_opts o = {.argv = argv,
	                         .max_stdout = PATRONI_MAX_OUT,
	                         .max_stderr = 4096,
	                         .timeout_ms = CTL_TIMEOUT_MS};
	struct ls_exec_result res;
	const char *role = NULL;
	char line[200];
	int svc, rv;

	if (!has_postgresql_role(cfg) || (svc = patroni_service(cfg)) < 0)
		return NULL;
	rv = ls_exec_run(&o, &res);
	if (rv < 0) {
		log_warnx("facts: %s patroni check-leader: %s", cfg->gitlab.ctl,
		          ls_strerror(rv));
	} else if (res.exited && res.status == 0) {
		role = "leader";
	} else if (res.exited && res.status == 1 && svc == 1) {
		/* "I am not the leader." from a running member. */
		role = "replica";
	} else {
		check_first_line(res.err, res.err_len, line, sizeof(line));
		log_warnx("facts: %s patroni check-leader: %s %d%s%s%s",
		          cfg->gitlab.ctl, res.exited ? "exit" : "signal",
		          res.status, svc == 1 ? "" : " (patroni is down)",
		          line[0] ? ": " : "", line);
	}
	ls_exec_result_free(&res);
	return role;
}

void agent_facts_collect(const struct agent_config *cfg, struct agent_facts *f)
{
	const char *role;
	const struct agent_gitaly_storage *st = cfg->gitaly.storages.items;
	struct gitlab_version v;
	struct statvfs sv;
	char err[256];
	size_t i;

	memset(f, 0, sizeof(*f));
	ls__node_facts__init(&f->msg);
	if (gethostname(f->hostname, sizeof(f->hostname) - 1) == 0 &&
	    f->hostname[0] != '\0') {
		check_sanitize(f->hostname);
		f->msg.hostname = f->hostname;
	}
	if (check_version_load(cfg->gitlab.version_manifest, &v, err,
	                       sizeof(err)) == 0) {
		ls_strlcpy(f->version, v.version, sizeof(f->version));
		f->msg.gitlab_version = f->version;
		if (v.edition[0] != '\0') {
			ls_strlcpy(f->edition, v.edition, sizeof(f->edition));
			ls_strlcpy(f->package, v.package, sizeof(f->package));
			f->msg.gitlab_edition = f->edition;
			f->msg.package_name = f->package;
		}
	}
	if (os_release_read(cfg->gitlab.os_release, f) == 0) {
		if (f->os[0] != '\0')
			f->msg.os = f->os;
		if (f->os_id[0] != '\0')
			f->msg.os_id = f->os_id;
		if (f->os_version_id[0] != '\0')
			f->msg.os_version_id = f->os_version_id;
	}
	ls_strlcpy(f->agent_version, LOCKSTEP_VERSION,
	           sizeof(f->agent_version));
	f->msg.agent_version = f->agent_version;
	ls_strlcpy(f->install_method,
	           access(cfg->gitlab.version_manifest, F_OK) == 0
	               ? "linux-package"
	               : "unknown",
	           sizeof(f->install_method));
	f->msg.install_method = f->install_method;
	/* What restore and verify operations may name on this node. */
	for (i = 0; i < cfg->gitaly.storages.n && i < AGENT_FACTS_MAX_STORAGES;
	     i++)
		f->storages[i] = st[i].name;
	f->msg.n_storages = i;
	f->msg.storages = f->storages;
	if (statvfs(cfg->backup_staging_dir, &sv) == 0) {
		f->msg.has_staging_free_bytes = 1;
		f->msg.staging_free_bytes =
		    (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
	}
	/* Patroni replicas are upgraded before the leader (gitlab-facts
	 * section 7). */
	if ((role = patroni_role(cfg)) != NULL) {
		ls_strlcpy(f->patroni_role, role, sizeof(f->patroni_role));
		f->msg.patroni_role = f->patroni_role;
	}
}
