/*
 * What a restore will do, and whether it may: GitLab restores only onto
 * its own exact version, every node of the backup needs a node here (the
 * same name, or --map OLD=NEW) with its roles and Gitaly storages, and the
 * rails nodes are stopped around the data. The plan is a list of named
 * steps; a step's name alone says what it does (a resumed run rebuilds
 * each operation from it), and steps of one phase run together.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_restore.h"
#include "ls_error.h"
#include "ls_util.h"
#include "ls_version.h"

#define MAX_MAP 64

struct map {
	char old[64], new[64];
};

struct ctx {
	struct coord *c;
	const struct rs_backup *b;
	struct rs_plan *p;
	struct map map[MAX_MAP];
	size_t nmap;
	int drill;
	const Ls__RestoreReq *req;
	char *err;
	size_t errlen;
};

static int has_storage(const struct coord_node *n, const char *storage)
{
	size_t i;

	for (i = 0; n->facts != NULL && i < n->facts->n_storages; i++)
		if (strcmp(n->facts->storages[i], storage) == 0)
			return 1;
	return 0;
}

static int live(const struct coord_node *n)
{
	return n->enrolled && !n->removed && coord_node_runs_gitlab(n);
}

/* Fleet nodes in name order: plans read the same every time. */
static int node_cmp(const void *a, const void *b)
{
	return strcmp((*(struct coord_node *const *)a)->name,
	              (*(struct coord_node *const *)b)->name);
}

static struct coord_node **sorted_nodes(struct coord *c, size_t *n)
{
	struct coord_node **v = calloc(c->nnodes + 1, sizeof(*v));
	size_t i;

	*n = 0;
	if (v == NULL)
		return NULL;
	for (i = 0; i < c->nnodes; i++)
		if (live(c->nodes[i]))
			v[(*n)++] = c->nodes[i];
	qsort(v, *n, sizeof(*v), node_cmp);
	return v;
}

/* name is verb, then a and b (when given) after a space each. */
static int add_step(struct ctx *x, const char *node, enum rs_phase phase,
                    const char *verb, const char *a, const char *b)
{
	struct rs_plan *p = x->p;
	struct rs_step *s;
	size_t i;

	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 32;
		struct rs_step *v = realloc(p->steps, cap * sizeof(*v));
		if (v == NULL)
			return LS_ENOMEM;
		p->steps = v;
		p->cap = cap;
	}
	s = &p->steps[p->n];
	memset(s, 0, sizeof(*s));
	ls_strlcpy(s->node, node, sizeof(s->node));
	if (snprintf(s->name, sizeof(s->name), "%s%s%s%s%s", verb, a ? " " : "",
	             a ? a : "", b ? " " : "",
	             b ? b : "") >= (int)sizeof(s->name)) {
		snprintf(x->err, x->errlen,
		         "step '%.60s...' on %s: name too "
		         "long",
		         s->name, node);
		return LS_ETOOBIG;
	}
	/* The same step twice (two artifacts of one database) is one. */
	for (i = 0; i < p->n; i++)
		if (strcmp(p->steps[i].node, s->node) == 0 &&
		    strcmp(p->steps[i].name, s->name) == 0)
			return 0;
	s->phase = phase;
	p->n++;
	return 0;
}

static void note(struct rs_plan *p, const char *text)
{
	size_t i;

	if (p->nnotes == sizeof(p->notes) / sizeof(p->notes[0]))
		return;
	ls_strlcpy(p->notes[p->nnotes], text, sizeof(p->notes[0]));
	for (i = 0; i < p->nnotes; i++)
		if (strcmp(p->notes[i], p->notes[p->nnotes]) == 0)
			return;
	p->nnotes++;
}

static int parse_map(struct ctx *x, const Ls__RestoreReq *req)
{
	size_t i;

	for (i = 0; i < req->n_map; i++) {
		const char *m = req->map[i], *eq = strchr(m, '=');
		struct map *e = &x->map[x->nmap];
		struct coord_node *n;

		if (x->nmap == MAX_MAP || eq == NULL || eq == m ||
		    eq[1] == '\0' || (size_t)(eq - m) >= sizeof(e->old) ||
		    strlen(eq + 1) >= sizeof(e->new)) {
			snprintf(x->err, x->errlen,
			         "--map '%.100s': expected OLDNODE=NEWNODE", m);
			return LS_EINVAL;
		}
		memcpy(e->old, m, (size_t)(eq - m));
		e->old[eq - m] = '\0';
		ls_strlcpy(e->new, eq + 1, sizeof(e->new));
		if ((n = coord_node_find(x->c, e->new)) == NULL || !live(n)) {
			snprintf(x->err, x->errlen,
			         "--map %s=%s: no node %s in this fleet",
			         e->old, e->new, e->new);
			return LS_ENOENT;
		}
		x->nmap++;
	}
	return 0;
}

/* The fleet node that takes backup node `name`'s data. */
static struct coord_node *target(struct ctx *x, const char *name)
{
	struct coord_node *n;
	size_t i;

	for (i = 0; i < x->nmap; i++)
		if (strcmp(x->map[i].old, name) == 0)
			name = x->map[i].new;
	n = coord_node_find(x->c, name);
	return n != NULL && live(n) ? n : NULL;
}

/* An imported backup names no nodes: its data goes by role. */
static struct coord_node *by_role(struct ctx *x, const char *role,
                                  const char *storage)
{
	size_t n, i;
	struct coord_node **v = sorted_nodes(x->c, &n), *found = NULL;

	for (i = 0; v != NULL && i < n && found == NULL; i++)
		if (coord_node_has_role(v[i], role) &&
		    (storage == NULL || has_storage(v[i], storage)))
			found = v[i];
	free(v);
	return found;
}

static int need_connected(struct ctx *x, const struct coord_node *n)
{
	if (coord_node_connected(x->c, n, coord_now_us() / 1000))
		return 0;
	snprintf(x->err, x->errlen,
	         "node %s is not connected: a restore needs every node it "
	         "touches",
	         n->name);
	return LS_ESTATE;
}

/* Whether a rollback takes node's package back to the backup's version. */
static int downgraded(const struct ctx *x, const char *node)
{
	size_t i;

	for (i = 0; i < x->req->n_downgrade; i++)
		if (strcmp(x->req->downgrade[i], node) == 0)
			return 1;
	return 0;
}

/* GitLab's own rule (lib/backup/restore/preconditions.rb): exact. The
 * version is Gitlab::VERSION, "17.8.2-ee", as the backup wrote it. A node
 * a rollback downgrades first will run it: only its edition must match. */
static int check_versions(struct ctx *x, struct coord_node **v, size_t n)
{
	char have[96];
	size_t i;

	for (i = 0; i < n; i++) {
		const Ls__NodeFacts *f = v[i]->facts;
		int ee = f != NULL && f->gitlab_edition != NULL &&
		         strcmp(f->gitlab_edition, "ee") == 0;
		size_t bl = strlen(x->b->version);
		int backup_ee =
		    bl > 3 && strcmp(x->b->version + bl - 3, "-ee") == 0;

		if (downgraded(x, v[i]->name)) {
			if (f != NULL && f->gitlab_edition != NULL &&
			    ee != backup_ee) {
				snprintf(
				    x->err, x->errlen,
				    "node %s runs GitLab %s edition but "
				    "backup %s is of GitLab %s: a rollback "
				    "does not change the edition",
				    v[i]->name, ee ? "EE" : "CE", x->b->id,
				    x->b->version);
				return LS_ESTATE;
			}
			continue;
		}
		if (f == NULL || f->gitlab_version == NULL ||
		    f->gitlab_version[0] == '\0') {
			snprintf(x->err, x->errlen,
			         "node %s has not reported its GitLab version: "
			         "cannot compare it with the backup's %s",
			         v[i]->name, x->b->version);
			return LS_ESTATE;
		}
		snprintf(have, sizeof(have), "%s%s", f->gitlab_version,
		         f->gitlab_edition &&
		                 strcmp(f->gitlab_edition, "ee") == 0
		             ? "-ee"
		             : "");
		if (strcmp(have, x->b->version) != 0) {
			snprintf(
			    x->err, x->errlen,
			    "node %s runs GitLab %s but backup %s was taken "
			    "on GitLab %s: GitLab restores only onto the "
			    "exact version it backed up",
			    v[i]->name, have, x->b->id, x->b->version);
			return LS_ESTATE;
		}
	}
	return 0;
}

/* Every node of the backup has a node here with its roles. */
static int check_nodes(struct ctx *x)
{
	json_t *nodes = json_object_get(x->b->manifest, "nodes"), *bn, *r;
	size_t i, k;

	json_array_foreach(nodes, i, bn)
	{
		const char *name =
		    json_string_value(json_object_get(bn, "name"));
		struct coord_node *t;

		if (name == NULL)
			continue;
		if ((t = target(x, name)) == NULL) {
			snprintf(x->err, x->errlen,
			         "backup node %s has no node in this fleet: "
			         "enrol it or name its replacement with --map "
			         "%s=NODE",
			         name, name);
			return LS_ENOENT;
		}
		json_array_foreach(json_object_get(bn, "roles"), k, r)
		{
			const char *role = json_string_value(r);
			if (role != NULL && !coord_node_has_role(t, role)) {
				snprintf(x->err, x->errlen,
				         "node %s has no role %s, which backup "
				         "node %s had",
				         t->name, role, name);
				return LS_EINVAL;
			}
		}
	}
	return 0;
}

/* "repositories/manifests/<storage>/..." gives the storage. */
static int storage_of(const char *path, char *out, size_t len)
{
	const char *p = "repositories/manifests/", *s, *e;

	if (strncmp(path, p, strlen(p)) != 0)
		return 0;
	s = path + strlen(p);
	if ((e = strchr(s, '/')) == NULL || e == s || (size_t)(e - s) >= len)
		return 0;
	memcpy(out, s, (size_t)(e - s));
	out[e - s] = '\0';
	return 1;
}

static int plan_artifact(struct ctx *x, json_t *a, int with_secrets)
{
	const char *node = json_string_value(json_object_get(a, "node"));
	const char *comp = json_string_value(json_object_get(a, "component"));
	const char *path = json_string_value(json_object_get(a, "path"));
	char storage[128];
	struct coord_node *t;
	int imported;

	if (node == NULL || comp == NULL || path == NULL)
		return 0;
	imported = node[0] == '\0';
	storage[0] = '\0';
	if (strcmp(comp, "redis") == 0) {
		note(x->p, "Redis is not restored (neither is it by "
		           "GitLab's restore): its caches and queues "
		           "rebuild");
		return 0;
	}
	if (strcmp(comp, "secrets") == 0 && !with_secrets) {
		note(x->p, "secrets and configuration are not restored "
		           "(--with-secrets --backup-key FILE)");
		return 0;
	}
	if (strcmp(comp, "repositories") == 0 &&
	    !storage_of(path, storage, sizeof(storage)))
		return 0; /* bundles and refs go with their manifest */
	if (!imported)
		t = target(x, node);
	else if (strcmp(comp, "db") == 0)
		t = by_role(x, "postgresql", NULL);
	else if (strcmp(comp, "repositories") == 0)
		t = by_role(x, "gitaly", storage);
	else
		t = by_role(x, "rails", NULL);
	if (t == NULL) {
		if (imported && storage[0])
			snprintf(x->err, x->errlen,
			         "no gitaly node of this fleet has storage %s, "
			         "which the backup holds",
			         storage);
		else
			snprintf(x->err, x->errlen,
			         "%s (%s) has no node to restore to: %s%s",
			         path, comp,
			         imported ? "no node with the role for it"
			                  : "no node named ",
			         imported ? "" : node);
		return LS_ENOENT;
	}
	if (storage[0] && !has_storage(t, storage)) {
		snprintf(x->err, x->errlen,
		         "node %s has no Gitaly storage %s, which the backup "
		         "holds",
		         t->name, storage);
		return LS_EINVAL;
	}
	if (strcmp(comp, "db") == 0)
		return add_step(x, t->name, RS_DATA,
		                strstr(path, "ci_database")
		                    ? "restore ci database"
		                    : "restore database",
		                path, NULL);
	if (strcmp(comp, "repositories") == 0)
		return add_step(x, t->name, RS_DATA, "restore repositories",
		                NULL, NULL);
	if (strcmp(comp, "secrets") == 0)
		return add_step(x, t->name, RS_DATA, "restore secrets", node,
		                NULL);
	return add_step(x, t->name, RS_DATA, "restore files", comp, path);
}

/* Around the data: maintenance mode, Puma and Sidekiq, readiness. */
static int plan_services(struct ctx *x, struct coord_node **v, size_t n)
{
	struct coord_node *freezer = NULL;
	char svc[64];
	size_t i;
	int rv;

	for (i = 0; i < n; i++)
		if (coord_node_has_role(v[i], "rails")) {
			freezer = v[i];
			break;
		}
	if (freezer == NULL) {
		snprintf(x->err, x->errlen,
		         "the fleet has no rails node: maintenance mode and "
		         "Puma cannot be driven");
		return LS_ENOENT;
	}
	if ((rv = need_connected(x, freezer)) < 0 ||
	    (rv = add_step(x, freezer->name, RS_MAINT_ON, "maintenance on",
	                   NULL, NULL)) < 0 ||
	    (rv = add_step(x, freezer->name, RS_MAINT_OFF, "maintenance off",
	                   NULL, NULL)) < 0)
		return rv;
	for (i = 0; i < n; i++) {
		int puma = coord_node_has_role(v[i], "rails");
		int sidekiq = coord_node_has_role(v[i], "sidekiq");

		if (!puma && !sidekiq)
			continue;
		if ((rv = need_connected(x, v[i])) < 0)
			return rv;
		snprintf(svc, sizeof(svc), "%s%s%s", puma ? "puma" : "",
		         puma && sidekiq ? " " : "", sidekiq ? "sidekiq" : "");
		/* Puma's readiness is waited for in its start: one round
		 * trip fewer, and maintenance off still waits for it. */
		if ((rv = add_step(x, v[i]->name, RS_STOP, "stop", svc, NULL)) <
		        0 ||
		    (rv = add_step(x, v[i]->name, RS_START, "start", svc,
		                   puma ? RS_READY_SUFFIX : NULL)) < 0)
			return rv;
	}
	return 0;
}

/*
 * A rollback's downgrade: remove, install the backup's version, reconfigure
 * (gitlab-facts §7), between Puma's stop and the data, on every node the
 * upgrade touched.
 */
static int plan_downgrade(struct ctx *x)
{
	char ver[64], *dash;
	struct ls_version parsed;
	size_t i;
	int rv;

	if (x->req->rollback_of != NULL && x->req->rollback_of[0] != '\0') {
		char text[256];
		snprintf(text, sizeof(text),
		         "rollback of upgrade %s to the rollback point of stop "
		         "%u: %zu node(s) go back to GitLab %s first",
		         x->req->rollback_of, x->req->rollback_stop,
		         x->req->n_downgrade, x->b->version);
		note(x->p, text);
	}
	if (x->req->n_downgrade == 0)
		return 0;
	ls_strlcpy(ver, x->b->version, sizeof(ver));
	if ((dash = strchr(ver, '-')) != NULL)
		*dash = '\0';
	if (ls_version_parse(ver, strlen(ver), &parsed) < 0) {
		snprintf(x->err, x->errlen,
		         "backup %s: GitLab version '%s' is not X.Y.Z: cannot "
		         "downgrade to it",
		         x->b->id, x->b->version);
		return LS_EINVAL;
	}
	for (i = 0; i < x->req->n_downgrade; i++) {
		const char *name = x->req->downgrade[i];
		struct coord_node *n = coord_node_find(x->c, name);

		if (n == NULL || !live(n)) {
			snprintf(x->err, x->errlen,
			         "node %s is to be downgraded but is no longer "
			         "in the fleet",
			         name);
			return LS_ENOENT;
		}
		if ((rv = need_connected(x, n)) < 0 ||
		    (rv = add_step(x, name, RS_DOWN_REMOVE, RS_DOWN_REMOVE_NAME,
		                   NULL, NULL)) < 0 ||
		    (rv = add_step(x, name, RS_DOWN_INSTALL,
		                   RS_DOWN_INSTALL_NAME, ver, NULL)) < 0 ||
		    (rv = add_step(x, name, RS_DOWN_RECONFIGURE,
		                   RS_DOWN_RECONFIGURE_NAME, NULL, NULL)) < 0)
			return rv;
	}
	return 0;
}

static int step_cmp(const void *a, const void *b)
{
	const struct rs_step *x = a, *y = b;
	int d;

	if (x->phase != y->phase)
		return (int)x->phase - (int)y->phase;
	if ((d = strcmp(x->node, y->node)) != 0)
		return d;
	return strcmp(x->name, y->name);
}

int rs_plan_make(struct coord *c, const struct rs_backup *b,
                 const Ls__RestoreReq *req, int drill, struct rs_plan *p,
                 char *err, size_t errlen)
{
	struct ctx x;
	struct coord_node **v = NULL;
	json_t *a;
	size_t n = 0, i, ndata;
	int rv;

	memset(p, 0, sizeof(*p));
	memset(&x, 0, sizeof(x));
	x.c = c;
	x.b = b;
	x.p = p;
	x.drill = drill;
	x.req = req;
	x.err = err;
	x.errlen = errlen;
	if ((v = sorted_nodes(c, &n)) == NULL) {
		rv = LS_ENOMEM;
		goto out;
	}
	if ((rv = parse_map(&x, req)) < 0 ||
	    (!drill && (rv = check_versions(&x, v, n)) < 0) ||
	    (rv = check_nodes(&x)) < 0)
		goto out;
	json_array_foreach(json_object_get(b->manifest, "artifacts"), i, a)
	{
		if ((rv = plan_artifact(&x, a,
		                        !drill && req->has_with_secrets &&
		                            req->with_secrets)) < 0)
			goto out;
	}
	ndata = p->n;
	if (ndata == 0) {
		snprintf(err, errlen, "backup %s holds nothing to restore",
		         b->id);
		rv = LS_ENOENT;
		goto out;
	}
	for (i = 0; i < ndata; i++) {
		struct coord_node *t = coord_node_find(c, p->steps[i].node);
		if ((rv = need_connected(&x, t)) < 0)
			goto out;
		if (strncmp(p->steps[i].name, "restore secrets", 15) == 0)
			continue;
		if ((rv = add_step(&x, t->name, RS_VERIFY,
		                   drill ? "drill" : "verify", NULL, NULL)) < 0)
			goto out;
	}
	if (!drill) {
		if ((rv = plan_services(&x, v, n)) < 0 ||
		    (rv = plan_downgrade(&x)) < 0)
			goto out;
		for (i = 0; i < n; i++)
			if ((rv = need_connected(&x, v[i])) < 0 ||
			    (rv = add_step(&x, v[i]->name, RS_VERIFY, "check",
			                   NULL, NULL)) < 0)
				goto out;
	}
	qsort(p->steps, p->n, sizeof(*p->steps), step_cmp);
	for (i = 0; i < p->n; i++)
		p->steps[i].seq = (uint32_t)i + 1;
	if (json_object_get(b->manifest, "imported") != NULL)
		note(p, "an imported backup names no nodes: the database "
		        "goes to the first postgresql node, repositories "
		        "to the gitaly node with their storage, files to "
		        "the first rails node");
out:
	free(v);
	if (rv < 0)
		rs_plan_free(p);
	return rv;
}

void rs_plan_free(struct rs_plan *p)
{
	free(p->steps);
	p->steps = NULL;
	p->n = p->cap = 0;
}

enum rs_phase rs_step_phase(const char *name)
{
	static const struct {
		const char *prefix;
		enum rs_phase phase;
	} t[] = {
	    {"maintenance on", RS_MAINT_ON},
	    {"stop ", RS_STOP},
	    {RS_DOWN_REMOVE_NAME, RS_DOWN_REMOVE},
	    {RS_DOWN_INSTALL_NAME, RS_DOWN_INSTALL},
	    {RS_DOWN_RECONFIGURE_NAME, RS_DOWN_RECONFIGURE},
	    {"restore ", RS_DATA},
	    {"start ", RS_START},
	    {"wait for readiness", RS_READY},
	    {"maintenance off", RS_MAINT_OFF},
	    {"verify", RS_VERIFY},
	    {"drill", RS_VERIFY},
	    {"check", RS_VERIFY},
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strncmp(name, t[i].prefix, strlen(t[i].prefix)) == 0)
			return t[i].phase;
	return 0;
}
