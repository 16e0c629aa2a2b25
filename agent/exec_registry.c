/*
 * RegistryMigrate (gitlab-facts §8). On a Linux-package node:
 *   gitlab-ctl registry-database migrate status
 *   gitlab-ctl registry-database migrate up [--skip-post-deployment]
 * which run /opt/gitlab/embedded/bin/registry database migrate ... with
 * /var/opt/gitlab/registry/config.yml (omnibus-gitlab
 * files/gitlab-ctl-commands/lib/registry/registry_database.rb). With a
 * KubeTarget, the same `registry database migrate` in a registry pod.
 *
 * Refused before any `up`: a registry without a metadata database, and
 * migrations that would connect through PgBouncer (post-deployment
 * migrations need the primary directly, without statement timeouts).
 *
 * With `separate` (GitLab.com's automation, gitlab-facts §8): instead of
 * `up` in the pod, helm installs or upgrades a second release of the
 * target's chart at its chart version, with the target's values (on
 * stdin), the registry API off and SKIP_POST_DEPLOYMENT_MIGRATIONS false,
 * and waits for its migrations job; what it applied is what a second
 * `status` in the target's pod (the same database) shows applied.
 */
#include "exec_registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube_cmd.h"
#include "ls_error.h"
#include "ls_exec.h"
#include "ls_util.h"
#include "registry_config.h"
#include "registry_kube.h"

#define TAIL_MAX 4096 /* of up's output, stdout then stderr */
#define STDERR_MAX (64 * 1024)
#define VALUES_MAX (4u * 1024 * 1024)
#define CONFIG_MAX (1024 * 1024)
#define NO_DB "the registry has no metadata database"
#define VIA_PGBOUNCER                                                          \
	"post-deployment migrations need the PostgreSQL primary directly, "    \
	"without statement timeouts"

void registry_out_init(struct registry_out *o)
{
	memset(o, 0, sizeof(*o));
	ls__registry_migrate_result__init(&o->res);
}

void registry_out_free(struct registry_out *o)
{
	reg_list_free(&o->before);
	reg_list_free(&o->applied);
	free(o->migs);
	free(o->mig_ptrs);
	free(o->applied_ptrs);
	free(o->tail);
	registry_out_init(o);
}

struct reg_ctx {
	const struct agent_config *cfg;
	const Ls__RegistryMigrate *m;
	struct registry_out *o;
	char *err;
	size_t errlen;
	int64_t deadline;
};

static int remaining_ms(const struct reg_ctx *x)
{
	int64_t left = x->deadline - ls_mono_ms();

	return left < 1 ? 1 : left > 0x7fffffff ? 0x7fffffff : (int)left;
}

/* Output goes into protobuf strings (UTF-8): printable ASCII and newlines. */
static void printable(char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c >= 0x80)
			*s = '?';
		else if ((c < 0x20 && c != '\n') || c == 0x7f)
			*s = ' ';
	}
}

/* The last TAIL_MAX bytes of stdout and stderr, from a line start. */
static int keep_tail(struct registry_out *o, const struct ls_exec_result *r)
{
	const char *parts[2] = {(const char *)r->out, r->err};
	size_t lens[2] = {r->out_len, r->err_len}, i, n, off = 0;
	char *t = malloc(2 * TAIL_MAX + 2);

	if (t == NULL)
		return LS_ENOMEM;
	for (i = 0; i < 2; i++) {
		const char *s = parts[i], *nl;
		n = parts[i] ? lens[i] : 0;
		while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
			n--;
		if (n > TAIL_MAX) {
			s += n - TAIL_MAX;
			n = TAIL_MAX;
			nl = memchr(s, '\n', n);
			if (nl != NULL && nl + 1 < s + n) {
				n -= (size_t)(nl + 1 - s);
				s = nl + 1;
			}
		}
		if (n == 0)
			continue;
		if (off > 0)
			t[off++] = '\n';
		memcpy(t + off, s, n);
		off += n;
	}
	t[off] = '\0';
	printable(t);
	free(o->tail);
	o->tail = t;
	o->res.output_tail = t;
	return 0;
}

/* gitlab-ctl registry-database migrate ARGS..., argv only, no shell. */
static int ctl_run(struct reg_ctx *x, const char *sub, int skip_post,
                   struct ls_exec_result *res)
{
	const char *env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C",
	                     "LC_ALL=C", NULL};
	const char *argv[8] = {x->cfg->gitlab.ctl, "registry-database",
	                       "migrate", sub, NULL};
	struct ls_exec_opts o = {.argv = argv, .envp = env};
	char line[300];
	int rv;

	if (skip_post)
		argv[4] = "--skip-post-deployment";
	o.max_stdout = REG_INPUT_MAX;
	o.max_stderr = STDERR_MAX;
	o.timeout_ms = remaining_ms(x);
	rv = ls_exec_run(&o, res);
	if (rv < 0) {
		ls_fmt(x->err, x->errlen,
		       "gitlab-ctl registry-database migrate %s: %s", sub,
		       rv == LS_ETIMEDOUT ? "killed at the deadline"
		                          : ls_strerror(rv));
		return rv;
	}
	if (res->exited && res->status == 0)
		return 0;
	kube_last_line(res->err, res->err_len, line, sizeof(line));
	if (line[0] == '\0')
		kube_last_line((const char *)res->out, res->out_len, line,
		               sizeof(line));
	ls_fmt(x->err, x->errlen,
	       "gitlab-ctl registry-database migrate %s: %s %d%s%s", sub,
	       res->exited ? "exit" : "killed by signal", res->status,
	       line[0] ? ": " : "", line);
	return LS_ECHILD;
}

/* The rendered config.yml: refused without an enabled database. */
static int linux_db(struct reg_ctx *x, struct reg_dbconf *db)
{
	const char *path = x->cfg->registry.config;
	char *text = NULL, why[256];
	size_t len = 0;
	int rv;

	rv = ls_read_file(path, CONFIG_MAX, &text, &len);
	if (rv == LS_ENOENT) {
		ls_fmt(x->err, x->errlen,
		       NO_DB " (database.enabled is not true in %s: no such "
		             "file)",
		       path);
		rv = LS_ESTATE;
		goto out;
	}
	if (rv < 0) {
		ls_fmt(x->err, x->errlen, "reading %s: %s", path,
		       ls_strerror(rv));
		goto out;
	}
	rv = reg_config_parse(text, len, db, why, sizeof(why));
	if (rv < 0) {
		ls_fmt(x->err, x->errlen, "%s: %s", path, why);
		goto out;
	}
	if (!db->enabled) {
		ls_fmt(x->err, x->errlen,
		       NO_DB " (database.enabled is not true in %s)", path);
		rv = LS_ESTATE;
	}
out:
	free(text);
	return rv;
}

static int kube_db(struct reg_ctx *x, const Ls__KubeTarget *t,
                   struct reg_dbconf *db)
{
	struct ls_exec_result res;
	struct kube_cmd c;
	char why[256];
	int rv;

	reg_kube_get_values(&c, x->cfg, t->namespace_, t->release);
	rv = kube_run(x->cfg, &c, NULL, 0, VALUES_MAX, 0, &res, x->err,
	              x->errlen);
	if (rv < 0)
		goto out;
	rv = reg_kube_values_db((const char *)res.out, res.out_len, db, why,
	                        sizeof(why));
	if (rv < 0) {
		ls_fmt(x->err, x->errlen, "%s", why);
		goto out;
	}
	if (!db->enabled) {
		ls_fmt(x->err, x->errlen,
		       NO_DB " (registry.database.enabled is not true in the "
		             "values of release %s)",
		       t->release);
		rv = LS_ESTATE;
	}
out:
	ls_exec_result_free(&res);
	return rv;
}

static int refuse_pgbouncer(struct reg_ctx *x, const struct reg_dbconf *db)
{
	char why[REG_HOST_MAX + 64];

	if (!reg_config_via_pgbouncer(db, x->cfg->registry.pgbouncer.items,
	                              x->cfg->registry.pgbouncer.n, why,
	                              sizeof(why)))
		return 0;
	ls_fmt(x->err, x->errlen,
	       "the registry database connection goes through PgBouncer at "
	       "%s: " VIA_PGBOUNCER,
	       why);
	return LS_ESTATE;
}

static int kube_pod(struct reg_ctx *x, const Ls__KubeTarget *t, char *pod,
                    size_t podlen)
{
	struct ls_exec_result res;
	struct kube_cmd c;
	char label[REG_POD_MAX + 32], why[200];
	int rv;

	if (x->m->pod != NULL && x->m->pod[0] != '\0') {
		if (!reg_kube_valid_pod(x->m->pod)) {
			ls_fmt(x->err, x->errlen,
			       "pod '%.64s' is not a pod name", x->m->pod);
			return LS_EINVAL;
		}
		ls_strlcpy(pod, x->m->pod, podlen);
		return 0;
	}
	reg_kube_get_pods(&c, x->cfg, t->namespace_, t->release, label,
	                  sizeof(label));
	rv = kube_run(x->cfg, &c, NULL, 0, VALUES_MAX, 0, &res, x->err,
	              x->errlen);
	if (rv == 0) {
		rv = reg_kube_pick_pod((const char *)res.out, res.out_len, pod,
		                       podlen, why, sizeof(why));
		if (rv < 0)
			ls_fmt(x->err, x->errlen, "release %s in %s: %s",
			       t->release, t->namespace_, why);
	}
	ls_exec_result_free(&res);
	return rv;
}

/* migrate status or up, here or in the pod. */
static int migrate(struct reg_ctx *x, const char *pod, int up,
                   struct ls_exec_result *res)
{
	const Ls__KubeTarget *t = x->m->target;
	int skip =
	    up && x->m->has_skip_post_deployment && x->m->skip_post_deployment;
	struct kube_cmd c;

	if (t == NULL)
		return ctl_run(x, up ? "up" : "status", skip, res);
	reg_kube_migrate(&c, x->cfg, t->namespace_, pod, up, skip);
	return kube_run(x->cfg, &c, NULL, 0, REG_INPUT_MAX, remaining_ms(x),
	                res, x->err, x->errlen);
}

/* The result's repeated fields, pointing into o's lists. */
static int fill(struct registry_out *o)
{
	size_t i, nb = o->before.n, na = o->applied.n;

	o->migs = calloc(nb ? nb : 1, sizeof(*o->migs));
	o->mig_ptrs = calloc(nb ? nb : 1, sizeof(*o->mig_ptrs));
	o->applied_ptrs = calloc(na ? na : 1, sizeof(*o->applied_ptrs));
	if (o->migs == NULL || o->mig_ptrs == NULL || o->applied_ptrs == NULL)
		return LS_ENOMEM;
	for (i = 0; i < nb; i++) {
		ls__registry_migration__init(&o->migs[i]);
		o->migs[i].name = o->before.items[i].name;
		o->migs[i].post_deployment = o->before.items[i].post_deployment;
		o->migs[i].applied = o->before.items[i].applied;
		o->mig_ptrs[i] = &o->migs[i];
	}
	for (i = 0; i < na; i++)
		o->applied_ptrs[i] = o->applied.items[i].name;
	o->res.n_before = nb;
	o->res.before = o->mig_ptrs;
	o->res.n_applied = na;
	o->res.applied = o->applied_ptrs;
	return 0;
}

static int list_push(struct reg_list *l, const struct reg_migration *m)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct reg_migration *v = realloc(l->items, cap * sizeof(*v));
		if (v == NULL)
			return LS_ENOMEM;
		l->items = v;
		l->cap = cap;
	}
	l->items[l->n++] = *m;
	return 0;
}

/* Applied now and pending in o->before: into o->applied. */
static int newly_applied(struct reg_ctx *x, const char *pod)
{
	struct reg_list after = {0};
	struct ls_exec_result res = {0};
	char why[256];
	size_t i, k;
	int rv;

	if ((rv = migrate(x, pod, 0, &res)) < 0)
		goto out;
	rv = reg_parse_status((const char *)res.out, res.out_len, &after, why,
	                      sizeof(why));
	if (rv < 0) {
		ls_fmt(x->err, x->errlen, "migrate status output: %s", why);
		goto out;
	}
	for (i = 0; i < x->o->before.n && rv == 0; i++) {
		const struct reg_migration *b = &x->o->before.items[i];
		for (k = 0; !b->applied && k < after.n; k++)
			if (after.items[k].applied &&
			    strcmp(after.items[k].name, b->name) == 0)
				rv = list_push(&x->o->applied, b);
	}
out:
	reg_list_free(&after);
	ls_exec_result_free(&res);
	return rv;
}

/* GitLab.com's "migrations" release; *res gets helm's output. */
static int separate_up(struct reg_ctx *x, const char *pod,
                       struct ls_exec_result *res)
{
	const Ls__KubeTarget *t = x->m->target, *s = x->m->separate;
	struct ls_exec_result vals = {0};
	struct kube_cmd c;
	char ver[64], why[200], timeout[32];
	size_t i;
	int rv;

	for (i = 0; i < x->o->before.n && x->o->before.items[i].applied; i++)
		;
	if (i == x->o->before.n)
		return 0; /* nothing pending: the release is left alone */
	reg_kube_list(&c, x->cfg, t->namespace_);
	rv = kube_run(x->cfg, &c, NULL, 0, VALUES_MAX, 0, res, x->err,
	              x->errlen);
	if (rv == 0 && (rv = reg_kube_chart_version(
	                    (const char *)res->out, res->out_len, t->release,
	                    ver, sizeof(ver), why, sizeof(why))) < 0)
		ls_fmt(x->err, x->errlen, "%s", why);
	ls_exec_result_free(res);
	if (rv < 0)
		return rv;
	reg_kube_get_values(&c, x->cfg, t->namespace_, t->release);
	if ((rv = kube_run(x->cfg, &c, NULL, 0, VALUES_MAX, 0, &vals, x->err,
	                   x->errlen)) < 0)
		goto out;
	/* helm gives up a little before we kill it, and says so. */
	snprintf(timeout, sizeof(timeout), "%ds",
	         remaining_ms(x) > 10000 ? remaining_ms(x) / 1000 - 5 : 1);
	reg_kube_separate(&c, x->cfg, s->namespace_, s->release, ver, timeout);
	rv = kube_run(x->cfg, &c, vals.out, vals.out_len, REG_INPUT_MAX,
	              remaining_ms(x), res, x->err, x->errlen);
	if (keep_tail(x->o, res) < 0 && rv == 0)
		rv = LS_ENOMEM;
	if (rv == 0)
		rv = newly_applied(x, pod);
out:
	ls_exec_result_free(&vals);
	return rv;
}

static int check_target(struct reg_ctx *x, const Ls__KubeTarget *t)
{
	if (reg_kube_valid_pod(t->release) && reg_kube_valid_pod(t->namespace_))
		return 0;
	ls_fmt(x->err, x->errlen,
	       "release '%.64s' or namespace '%.64s' is "
	       "not a Kubernetes name",
	       t->release, t->namespace_);
	return LS_EINVAL;
}

int exec_registry_migrate(const struct agent_config *cfg,
                          const Ls__RegistryMigrate *m, struct registry_out *o,
                          char *err, size_t errlen)
{
	struct reg_ctx x = {cfg, m, o, err, errlen, 0};
	struct ls_exec_result res = {0};
	struct reg_dbconf db;
	char pod[REG_POD_MAX + 1] = "", why[256];
	int rv, ok = 0;

	x.deadline = ls_mono_ms() + cfg->op_timeout;
	if (m->target != NULL && (rv = check_target(&x, m->target)) < 0)
		goto out;
	if (m->separate != NULL && m->target == NULL) {
		ls_fmt(err, errlen,
		       "a separate migrations release needs the "
		       "release it serves");
		rv = LS_EINVAL;
		goto out;
	}
	if (m->separate != NULL && (rv = check_target(&x, m->separate)) < 0)
		goto out;
	/* Without a database, status cannot run either: refuse first. */
	rv = m->target ? kube_db(&x, m->target, &db) : linux_db(&x, &db);
	if (rv == LS_ESTATE)
		o->res.has_no_database = o->res.no_database = 1;
	if (rv < 0)
		goto out;
	if (m->target != NULL &&
	    (rv = kube_pod(&x, m->target, pod, sizeof(pod))) < 0)
		goto out;
	if ((rv = migrate(&x, pod, 0, &res)) < 0)
		goto out;
	rv = reg_parse_status((const char *)res.out, res.out_len, &o->before,
	                      why, sizeof(why));
	if (rv < 0) {
		ls_fmt(err, errlen, "migrate status output: %s", why);
		goto out;
	}
	if (m->has_dry_run && m->dry_run)
		goto out;
	if ((rv = refuse_pgbouncer(&x, &db)) < 0)
		goto out;
	ls_exec_result_free(&res);
	if (m->separate != NULL) {
		rv = separate_up(&x, pod, &res);
		goto out;
	}
	rv = migrate(&x, pod, 1, &res);
	/* The tail and what was applied go back on failure too. */
	if (keep_tail(o, &res) < 0 && rv == 0)
		rv = LS_ENOMEM;
	if (res.out != NULL &&
	    reg_parse_up((const char *)res.out, res.out_len, &o->applied, &ok,
	                 why, sizeof(why)) < 0 &&
	    rv == 0) {
		ls_fmt(err, errlen, "migrate up output: %s", why);
		rv = LS_EPROTO;
	}
	/* Without "OK: applied" the ids are a plan, not what was done. */
	if (!ok) {
		reg_list_free(&o->applied);
		if (rv == 0) {
			ls_fmt(err, errlen,
			       "migrate up exited 0 without "
			       "'OK: applied N migrations'");
			rv = LS_EPROTO;
		}
	}
out:
	ls_exec_result_free(&res);
	if (fill(o) < 0 && rv == 0)
		rv = LS_ENOMEM;
	return rv;
}
