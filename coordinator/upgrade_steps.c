/*
 * GitLab's upgrade order (gitlab-facts §7). Zero-downtime: one node at a
 * time, Consul, PostgreSQL (Patroni replicas, then the leader), PgBouncer,
 * Redis, Gitaly, Praefect, the Rails deploy node (reconfigured with
 * SKIP_POST_DEPLOYMENT_MIGRATIONS so the old code still finds its columns), the
 * other Rails nodes, Sidekiq; the Geo primary site first, then each secondary;
 * the post-deployment migrations last, once every node runs the new code. With
 * downtime: Puma and Sidekiq stopped everywhere, the backend roles upgraded,
 * then the deploy node (which runs every migration), then the rest together.
 */
#include "upgrade_steps.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ls_error.h"
#include "ls_util.h"
#include "upgrade_fleet_int.h"

/* Zero-downtime: a node is upgraded with the first of its roles here. */
static const unsigned zd_order[] = {
    UG_CONSUL, UG_POSTGRESQL, UG_PGBOUNCER, UG_REDIS,
    UG_GITALY, UG_PRAEFECT,   UG_RAILS,     UG_SIDEKIQ,
};

/* With downtime (gitlab-facts §7): the backend roles, then Rails. */
static const unsigned dt_order[] = {
    UG_CONSUL, UG_GITALY, UG_PRAEFECT, UG_POSTGRESQL, UG_REDIS, UG_PGBOUNCER,
};

#define BACKEND_ROLES                                                          \
	(UG_CONSUL | UG_GITALY | UG_PRAEFECT | UG_POSTGRESQL | UG_REDIS |      \
	 UG_PGBOUNCER)
#define APP_ROLES (UG_RAILS | UG_SIDEKIQ)

/* ---- Building the list. ---- */

struct build {
	const struct ug_fleet *f;
	struct ug_steps *out;
	uint32_t stop;
	char ver[LS_VERSION_STR_MAX];
	uint32_t ready_ms;
	const char *primary; /* the deploy node: Geo secrets come from it */
	int failed;
};

static struct ug_step *add(struct build *b, const char *node,
                           enum ug_step_kind kind, const char *what)
{
	struct ug_steps *o = b->out;
	struct ug_step *s;

	if (b->failed)
		return NULL;
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 64;
		struct ug_step *nv = realloc(o->v, cap * sizeof(*nv));
		if (nv == NULL) {
			b->failed = 1;
			return NULL;
		}
		o->v = nv;
		o->cap = cap;
	}
	s = &o->v[o->n++];
	memset(s, 0, sizeof(*s));
	s->stop = b->stop;
	s->phase = o->next_phase;
	s->kind = kind;
	ls_strlcpy(s->node, node, sizeof(s->node));
	snprintf(s->name, sizeof(s->name), "%s: %s", b->ver, what);
	return s;
}

/* Steps added after this one go to a new phase. */
static void next_phase(struct build *b)
{
	b->out->next_phase++;
}

static struct ug_step *action(struct build *b, const char *node,
                              Ls__UpgradeActionKind kind, const char *what)
{
	struct ug_step *s = add(b, node, UG_ACTION, what);

	if (s != NULL) {
		s->action = kind;
		ls_strlcpy(s->version, b->ver, sizeof(s->version));
	}
	return s;
}

static void services(struct build *b, const char *node,
                     Ls__UpgradeActionKind kind, const char *list,
                     uint32_t ready_ms)
{
	char what[96];
	struct ug_step *s;

	snprintf(what, sizeof(what), "%s %s%s",
	         kind == LS__UPGRADE_ACTION_KIND__UA_STOP ? "stop" : "start",
	         list, ready_ms ? " and wait for readiness" : "");
	if ((s = action(b, node, kind, what)) != NULL) {
		ls_strlcpy(s->services, list, sizeof(s->services));
		s->ready_wait_ms = ready_ms;
	}
}

enum node_kind { NK_PLAIN, NK_DEPLOY, NK_SECONDARY_DEPLOY };

#define UN_ZD 1        /* zero-downtime: the deploy node skips post-deploy */
#define UN_RESTART 2   /* restart (and wait for readiness) at the end */
#define UN_SECONDARY 4 /* a node of a Geo secondary site */

/* Geo (gitlab-facts §7): an application node of a secondary site runs
 * with the primary's gitlab-secrets.json, copied before its reconfigure. */
static void copy_secrets(struct build *b, const struct ug_node *n)
{
	char what[UG_NAME_MAX + 48];
	struct ug_step *s;

	if ((n->roles & APP_ROLES) == 0 || b->primary == NULL)
		return;
	snprintf(what, sizeof(what), "copy gitlab-secrets.json from %s",
	         b->primary);
	if ((s = add(b, n->name, UG_SECRETS_COPY, what)) != NULL)
		ls_strlcpy(s->from, b->primary, sizeof(s->from));
}

/* One node's package upgrade, each action its own phase. */
static void upgrade_node(struct build *b, const struct ug_node *n,
                         enum node_kind nk, int flags)
{
	int zd = flags & UN_ZD;
	struct ug_step *s;
	char what[64];

	if (zd && (n->roles & UG_RAILS) && (n->roles & UG_GEO_SECONDARY)) {
		action(b, n->name,
		       LS__UPGRADE_ACTION_KIND__UA_GEO_STOP_LOGCURSOR,
		       "stop geo-logcursor");
		next_phase(b);
	}
	if ((flags & UN_SECONDARY) && (n->roles & APP_ROLES)) {
		copy_secrets(b, n);
		next_phase(b);
	}
	action(b, n->name, LS__UPGRADE_ACTION_KIND__UA_SKIP_AUTO_RECONFIGURE,
	       "skip auto-reconfigure");
	next_phase(b);
	snprintf(what, sizeof(what), "install %s", b->ver);
	action(b, n->name, LS__UPGRADE_ACTION_KIND__UA_INSTALL, what);
	next_phase(b);
	if (nk == NK_DEPLOY && zd) {
		s = action(b, n->name, LS__UPGRADE_ACTION_KIND__UA_RECONFIGURE,
		           "reconfigure with "
		           "SKIP_POST_DEPLOYMENT_MIGRATIONS=true");
		if (s != NULL)
			s->skip_post_deploy = 1;
	} else {
		action(b, n->name, LS__UPGRADE_ACTION_KIND__UA_RECONFIGURE,
		       nk == NK_DEPLOY ? "reconfigure (runs the migrations)"
		                       : "reconfigure");
	}
	next_phase(b);
	if (nk == NK_SECONDARY_DEPLOY) {
		action(b, n->name, LS__UPGRADE_ACTION_KIND__UA_GEO_MIGRATE,
		       "Geo tracking database migrations (db:migrate:geo)");
		next_phase(b);
	}
	if (!(flags & UN_RESTART))
		return;
	s = action(b, n->name, LS__UPGRADE_ACTION_KIND__UA_RESTART,
	           (n->roles & UG_RAILS) ? "restart and wait for readiness"
	                                 : "restart");
	if (s != NULL && (n->roles & UG_RAILS))
		s->ready_wait_ms = b->ready_ms;
	next_phase(b);
}

static unsigned first_role(unsigned roles, const unsigned *order, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (roles & order[i])
			return order[i];
	return 0;
}

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static void zero_downtime_site(struct build *b, const struct sites *s,
                               size_t site, const size_t *idx,
                               const size_t *ord, const struct ug_node *deploy)
{
	const struct ug_fleet *f = b->f;
	const struct ug_node *sec_deploy =
	    site > 0 ? ugf_site_rails(f, s, site, idx) : NULL;
	size_t r, i;

	/* A node with none of these roles goes last (role 0). */
	for (r = 0; r <= NELEM(zd_order); r++) {
		unsigned role = r < NELEM(zd_order) ? zd_order[r] : 0;
		/* The deploy node leads the Rails group. */
		if (role == UG_RAILS && site == 0 &&
		    first_role(deploy->roles, zd_order, NELEM(zd_order)) ==
		        UG_RAILS)
			upgrade_node(b, deploy, NK_DEPLOY, UN_ZD | UN_RESTART);
		for (i = 0; i < f->n; i++) {
			const struct ug_node *n = &f->nodes[ord[i]];
			if (!ugf_in_site(s, site, n) ||
			    first_role(n->roles, zd_order, NELEM(zd_order)) !=
			        role ||
			    (n == deploy && role == UG_RAILS))
				continue;
			upgrade_node(b, n,
			             n == deploy       ? NK_DEPLOY
			             : n == sec_deploy ? NK_SECONDARY_DEPLOY
			                               : NK_PLAIN,
			             UN_ZD | UN_RESTART |
			                 (site > 0 ? UN_SECONDARY : 0));
		}
	}
}

/* Nodes upgraded together: every marker, then every install, then every
 * reconfigure, each a phase. */
static void group_upgrade(struct build *b, const struct ug_node *const *g,
                          size_t n, int secondary)
{
	char what[64];
	size_t i, copies = 0;

	if (n == 0)
		return;
	for (i = 0; secondary && i < n; i++)
		if (g[i]->roles & APP_ROLES) {
			copy_secrets(b, g[i]);
			copies++;
		}
	if (copies > 0)
		next_phase(b);
	snprintf(what, sizeof(what), "install %s", b->ver);
	for (i = 0; i < n; i++)
		action(b, g[i]->name,
		       LS__UPGRADE_ACTION_KIND__UA_SKIP_AUTO_RECONFIGURE,
		       "skip auto-reconfigure");
	next_phase(b);
	for (i = 0; i < n; i++)
		action(b, g[i]->name, LS__UPGRADE_ACTION_KIND__UA_INSTALL,
		       what);
	next_phase(b);
	for (i = 0; i < n; i++)
		action(b, g[i]->name, LS__UPGRADE_ACTION_KIND__UA_RECONFIGURE,
		       "reconfigure");
	next_phase(b);
}

static int downtime_site(struct build *b, const struct sites *s, size_t site,
                         const size_t *idx, const size_t *ord,
                         const struct ug_node *deploy)
{
	const struct ug_fleet *f = b->f;
	const struct ug_node *lead =
	    site == 0 ? deploy : ugf_site_rails(f, s, site, idx);
	const struct ug_node **g = calloc(f->n ? f->n : 1, sizeof(*g));
	size_t r, i, n;

	if (g == NULL)
		return LS_ENOMEM;
	for (r = 0; r < NELEM(dt_order); r++) {
		for (i = n = 0; i < f->n; i++) {
			const struct ug_node *nd = &f->nodes[ord[i]];
			if (ugf_in_site(s, site, nd) && nd != lead &&
			    first_role(nd->roles, dt_order, NELEM(dt_order)) ==
			        dt_order[r])
				g[n++] = nd;
		}
		group_upgrade(b, g, n, site > 0);
	}
	/* The lead Rails node alone (it runs the migrations), then the
	 * other Rails and Sidekiq nodes together. */
	if (lead != NULL)
		upgrade_node(b, lead,
		             site == 0 ? NK_DEPLOY : NK_SECONDARY_DEPLOY,
		             site > 0 ? UN_SECONDARY : 0);
	for (i = n = 0; i < f->n; i++) {
		const struct ug_node *nd = &f->nodes[idx[i]];
		if (ugf_in_site(s, site, nd) && nd != lead &&
		    (nd->roles & BACKEND_ROLES) == 0)
			g[n++] = nd;
	}
	group_upgrade(b, g, n, site > 0);
	free(g);
	return 0;
}

/* The Linux package's services of a node's application roles. */
static const char *app_services(unsigned roles)
{
	if ((roles & UG_RAILS) && (roles & UG_SIDEKIQ))
		return "puma,sidekiq";
	return (roles & UG_RAILS) ? "puma" : "sidekiq";
}

int ug_stop_steps(const struct ug_fleet *f, enum ug_mode mode, uint32_t stop,
                  const struct ls_version *version, struct ug_steps *out,
                  char *err, size_t errlen)
{
	struct build b = {.f = f, .out = out, .stop = stop};
	struct sites s;
	const struct ug_node *deploy, *lead;
	size_t *idx = NULL, *ord = NULL, i, site;
	int rv;

	err[0] = '\0';
	b.ready_ms = f->ready_wait_ms ? f->ready_wait_ms : 600000;
	ls_version_fmt(version, b.ver, sizeof(b.ver));
	if ((rv = ugf_sites_find(f, &s, err, errlen)) < 0)
		return rv;
	if ((idx = ugf_sorted_nodes(f)) == NULL ||
	    (ord = ugf_upgrade_order(f, &s, idx)) == NULL) {
		rv = LS_ENOMEM;
		goto out;
	}
	if ((deploy = ugf_deploy_node(f, &s, idx, err, errlen)) == NULL) {
		rv = LS_EINVAL;
		goto out;
	}
	if ((rv = ugf_pg_split_brain(f, &s, idx, err, errlen)) < 0)
		goto out;
	b.primary = deploy->name;
	if (out->next_phase == 0)
		out->next_phase = 1;

	/* Before: the background migrations (an unfinished one fails the
	 * checks), the checks, then the rollback point. */
	add(&b, ug_database_node(f), UG_BBM_WAIT,
	    "wait for batched background migrations");
	next_phase(&b);
	for (i = 0; i < f->n; i++)
		add(&b, f->nodes[idx[i]].name, UG_CHECK, "preflight check");
	next_phase(&b);
	add(&b, "", UG_BACKUP, "rollback-point backup");
	next_phase(&b);

	if (mode == UG_ZERO_DOWNTIME) {
		for (site = 0; site < s.n; site++)
			zero_downtime_site(&b, &s, site, idx, ord, deploy);
		add(&b, deploy->name, UG_ACTION, "");
		if (!b.failed) {
			struct ug_step *pd = &out->v[out->n - 1];
			pd->action =
			    LS__UPGRADE_ACTION_KIND__UA_POST_DEPLOY_MIGRATE;
			ls_strlcpy(pd->version, b.ver, sizeof(pd->version));
			snprintf(pd->name, sizeof(pd->name),
			         "%s: post-deployment migrations (db:migrate)",
			         b.ver);
		}
		next_phase(&b);
	} else {
		add(&b, deploy->name, UG_MAINT_ON, "maintenance mode on");
		next_phase(&b);
		for (i = 0; i < f->n; i++)
			if (f->nodes[idx[i]].roles & APP_ROLES)
				services(&b, f->nodes[idx[i]].name,
				         LS__UPGRADE_ACTION_KIND__UA_STOP,
				         app_services(f->nodes[idx[i]].roles),
				         0);
		next_phase(&b);
		for (site = 0; site < s.n && rv == 0; site++)
			rv = downtime_site(&b, &s, site, idx, ord, deploy);
		if (rv < 0)
			goto out;
		for (i = 0; i < f->n; i++)
			if (f->nodes[idx[i]].roles & APP_ROLES)
				services(&b, f->nodes[idx[i]].name,
				         LS__UPGRADE_ACTION_KIND__UA_START,
				         app_services(f->nodes[idx[i]].roles),
				         (f->nodes[idx[i]].roles & UG_RAILS)
				             ? b.ready_ms
				             : 0);
		next_phase(&b);
		add(&b, deploy->name, UG_MAINT_OFF, "maintenance mode off");
		next_phase(&b);
	}
	/* Geo: the tracking databases check out on every site. */
	for (site = 0; s.geo && site < s.n; site++) {
		lead = site == 0 ? deploy : ugf_site_rails(f, &s, site, idx);
		if (lead != NULL)
			action(&b, lead->name,
			       LS__UPGRADE_ACTION_KIND__UA_GEO_CHECK,
			       "Geo check (gitlab:geo:check)");
	}
	if (s.geo)
		next_phase(&b);
	for (i = 0; i < f->n; i++)
		add(&b, f->nodes[idx[i]].name, UG_CHECK, "post-check");
	next_phase(&b);
	rv = b.failed ? LS_ENOMEM : 0;
out:
	free(ord);
	free(idx);
	return rv;
}

int ug_registry_step(const struct ug_fleet *f, uint32_t stop,
                     const struct ls_version *version, struct ug_steps *out)
{
	struct build b = {.f = f, .out = out, .stop = stop};
	const struct ug_node *reg = NULL;
	size_t i;

	for (i = 0; i < f->n; i++)
		if ((f->nodes[i].roles & UG_REGISTRY) &&
		    (reg == NULL || strcmp(f->nodes[i].name, reg->name) < 0))
			reg = &f->nodes[i];
	if (reg == NULL)
		return 0;
	ls_version_fmt(version, b.ver, sizeof(b.ver));
	if (out->next_phase == 0)
		out->next_phase = 1;
	add(&b, reg->name, UG_REGISTRY_MIGRATE,
	    "registry post-deployment migrations (gitlab-ctl "
	    "registry-database migrate up)");
	next_phase(&b);
	return b.failed ? LS_ENOMEM : 0;
}
