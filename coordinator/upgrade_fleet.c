/*
 * The fleet as an upgrade sees it (gitlab-facts §7): roles and modes by
 * name, the sites in upgrade order (the Geo primary's first), the Patroni
 * roles that put replicas before the leader, the Rails deploy node and
 * the database node. upgrade_steps.c lays the steps out from these.
 */
#include "upgrade_steps.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ls_error.h"
#include "ls_util.h"
#include "upgrade_fleet_int.h"

static const struct {
	const char *name;
	unsigned bit;
} role_names[] = {
    {"rails", UG_RAILS},
    {"sidekiq", UG_SIDEKIQ},
    {"gitaly", UG_GITALY},
    {"praefect", UG_PRAEFECT},
    {"postgresql", UG_POSTGRESQL},
    {"pgbouncer", UG_PGBOUNCER},
    {"redis", UG_REDIS},
    {"consul", UG_CONSUL},
    {"geo-primary", UG_GEO_PRIMARY},
    {"geo-secondary", UG_GEO_SECONDARY},
    {"registry", UG_REGISTRY},
};

unsigned ug_role_bit(const char *role)
{
	size_t i;

	for (i = 0; i < sizeof(role_names) / sizeof(role_names[0]); i++)
		if (strcmp(role, role_names[i].name) == 0)
			return role_names[i].bit;
	return 0;
}

const char *ug_mode_name(enum ug_mode m)
{
	return m == UG_DOWNTIME ? "downtime" : "zero-downtime";
}

int ug_mode_parse(const char *s, enum ug_mode *m)
{
	if (strcmp(s, "zero-downtime") == 0)
		*m = UG_ZERO_DOWNTIME;
	else if (strcmp(s, "downtime") == 0)
		*m = UG_DOWNTIME;
	else
		return LS_EINVAL;
	return 0;
}

void ug_steps_free(struct ug_steps *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

int ugf_sites_find(const struct ug_fleet *f, struct sites *s, char *err,
                   size_t errlen)
{
	size_t i, j, k;
	const char *primary = NULL;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < f->n; i++)
		if (f->nodes[i].roles & (UG_GEO_PRIMARY | UG_GEO_SECONDARY))
			s->geo = 1;
	s->n = 1;
	if (!s->geo)
		return 0;
	for (i = 0; i < f->n; i++) {
		if (!(f->nodes[i].roles & UG_GEO_PRIMARY))
			continue;
		if (primary != NULL && strcmp(primary, f->nodes[i].site) != 0) {
			snprintf(err, errlen,
			         "nodes of two sites ('%s', '%s') have the "
			         "geo-primary role",
			         primary, f->nodes[i].site);
			return LS_EINVAL;
		}
		primary = f->nodes[i].site;
	}
	if (primary == NULL) {
		snprintf(err, errlen,
		         "the fleet has Geo secondary nodes but no node with "
		         "the geo-primary role: the primary site is upgraded "
		         "first");
		return LS_EINVAL;
	}
	ls_strlcpy(s->name[0], primary, UG_NAME_MAX);
	/* Secondary sites in name order. */
	for (i = 0; i < f->n; i++) {
		const char *site = f->nodes[i].site;
		if (!(f->nodes[i].roles & UG_GEO_SECONDARY))
			continue;
		if (strcmp(site, primary) == 0) {
			snprintf(err, errlen,
			         "node %s is geo-secondary in the primary "
			         "site '%s'",
			         f->nodes[i].name, site);
			return LS_EINVAL;
		}
		for (j = 1; j < s->n && strcmp(s->name[j], site) != 0; j++)
			;
		if (j < s->n)
			continue;
		if (s->n == MAX_SITES) {
			snprintf(err, errlen, "more than %d Geo sites",
			         MAX_SITES);
			return LS_EINVAL;
		}
		for (j = 1; j < s->n && strcmp(s->name[j], site) < 0; j++)
			;
		for (k = s->n; k > j; k--)
			memcpy(s->name[k], s->name[k - 1], UG_NAME_MAX);
		ls_strlcpy(s->name[j], site, UG_NAME_MAX);
		s->n++;
	}
	for (i = 0; i < f->n; i++) {
		for (j = 0; j < s->n; j++)
			if (strcmp(f->nodes[i].site, s->name[j]) == 0)
				break;
		if (j == s->n) {
			snprintf(
			    err, errlen,
			    "node %s is in site '%s', which is neither the "
			    "Geo primary site '%s' nor a secondary site",
			    f->nodes[i].name, f->nodes[i].site, primary);
			return LS_EINVAL;
		}
	}
	return 0;
}

int ugf_in_site(const struct sites *s, size_t site, const struct ug_node *n)
{
	return !s->geo || strcmp(n->site, s->name[site]) == 0;
}

/* ---- Patroni (gitlab-facts section 7: replicas, then the leader). ---- */

enum ug_pg_role ug_pg_role_parse(const char *s)
{
	if (s != NULL && strcmp(s, "leader") == 0)
		return UG_PG_LEADER;
	if (s != NULL && strcmp(s, "replica") == 0)
		return UG_PG_REPLICA;
	return UG_PG_UNKNOWN;
}

struct pg_count {
	size_t nodes, known, leaders;
};

/* The PostgreSQL nodes of a site (each Geo site has its own cluster). */
static struct pg_count pg_count(const struct ug_fleet *f, const struct sites *s,
                                size_t site)
{
	struct pg_count c = {0, 0, 0};
	size_t i;

	for (i = 0; i < f->n; i++) {
		const struct ug_node *n = &f->nodes[i];
		if (!(n->roles & UG_POSTGRESQL) || !ugf_in_site(s, site, n))
			continue;
		c.nodes++;
		c.known += n->pg_role != UG_PG_UNKNOWN;
		c.leaders += n->pg_role == UG_PG_LEADER;
	}
	return c;
}

static size_t site_of(const struct sites *s, const struct ug_node *n)
{
	size_t j;

	for (j = 0; j < s->n; j++)
		if (ugf_in_site(s, j, n))
			return j;
	return 0;
}

/*
 * 0 replicas (and every node that is not PostgreSQL), 1 unknown, 2 the
 * leader. A node whose check-leader failed while others answered may well
 * be the leader, so it waits for the replicas. With no role known in the
 * site every node ranks 0: name order.
 */
static int pg_rank(const struct ug_fleet *f, const struct sites *s,
                   const struct ug_node *n)
{
	if (!(n->roles & UG_POSTGRESQL) ||
	    pg_count(f, s, site_of(s, n)).known == 0)
		return 0;
	return n->pg_role == UG_PG_REPLICA  ? 0
	       : n->pg_role == UG_PG_LEADER ? 2
	                                    : 1;
}

/* The node steps' order: name order, stable-partitioned by pg_rank. */
size_t *ugf_upgrade_order(const struct ug_fleet *f, const struct sites *s,
                          const size_t *idx)
{
	size_t *ord = calloc(f->n ? f->n : 1, sizeof(*ord)), i, k = 0;
	int r;

	if (ord == NULL)
		return NULL;
	for (r = 0; r <= 2; r++)
		for (i = 0; i < f->n; i++)
			if (pg_rank(f, s, &f->nodes[idx[i]]) == r)
				ord[k++] = idx[i];
	return ord;
}

/* Two leaders in one cluster: which one holds the data is a question for
 * a person, not for the order of an upgrade. */
int ugf_pg_split_brain(const struct ug_fleet *f, const struct sites *s,
                       const size_t *idx, char *err, size_t errlen)
{
	size_t site, i, off;

	for (site = 0; site < s->n; site++) {
		if (pg_count(f, s, site).leaders < 2)
			continue;
		off = (size_t)snprintf(err, errlen,
		                       "PostgreSQL nodes report more than one "
		                       "Patroni leader%s%s%s:",
		                       s->geo ? " in site '" : "",
		                       s->geo ? s->name[site] : "",
		                       s->geo ? "'" : "");
		for (i = 0; i < f->n && off < errlen; i++) {
			const struct ug_node *n = &f->nodes[idx[i]];
			if ((n->roles & UG_POSTGRESQL) &&
			    ugf_in_site(s, site, n) &&
			    n->pg_role == UG_PG_LEADER)
				off += (size_t)snprintf(err + off, errlen - off,
				                        " %s", n->name);
		}
		if (off < errlen)
			snprintf(err + off, errlen - off,
			         " (`gitlab-ctl patroni check-leader` exits 0 "
			         "on each): a split brain; check `gitlab-ctl "
			         "patroni members` and plan once one leader "
			         "is left");
		return LS_EINVAL;
	}
	return 0;
}

/* Nodes of the fleet in name order (indices). */
size_t *ugf_sorted_nodes(const struct ug_fleet *f)
{
	size_t *idx = calloc(f->n ? f->n : 1, sizeof(*idx)), i, j;

	if (idx == NULL)
		return NULL;
	for (i = 0; i < f->n; i++) {
		for (j = i; j > 0 && strcmp(f->nodes[idx[j - 1]].name,
		                            f->nodes[i].name) > 0;
		     j--)
			idx[j] = idx[j - 1];
		idx[j] = i;
	}
	return idx;
}

/* The first Rails node of site `site` by name, or NULL. */
const struct ug_node *ugf_site_rails(const struct ug_fleet *f,
                                     const struct sites *s, size_t site,
                                     const size_t *idx)
{
	size_t i;

	for (i = 0; i < f->n; i++) {
		const struct ug_node *n = &f->nodes[idx[i]];
		if ((n->roles & UG_RAILS) && ugf_in_site(s, site, n))
			return n;
	}
	return NULL;
}

const struct ug_node *ugf_deploy_node(const struct ug_fleet *f,
                                      const struct sites *s, const size_t *idx,
                                      char *err, size_t errlen)
{
	const struct ug_node *n = NULL;
	size_t i;

	if (f->deploy_node != NULL && f->deploy_node[0] != '\0') {
		for (i = 0; i < f->n; i++)
			if (strcmp(f->nodes[i].name, f->deploy_node) == 0)
				n = &f->nodes[i];
		if (n == NULL || !(n->roles & UG_RAILS) ||
		    !ugf_in_site(s, 0, n)) {
			snprintf(err, errlen,
			         "deploy node '%s' is not a Rails node of the "
			         "primary site",
			         f->deploy_node);
			return NULL;
		}
		return n;
	}
	if ((n = ugf_site_rails(f, s, 0, idx)) == NULL)
		snprintf(err, errlen,
		         "the fleet has no Rails node%s: migrations run on "
		         "one",
		         s->geo ? " in the Geo primary site" : "");
	return n;
}

const char *ug_deploy_node(const struct ug_fleet *f)
{
	struct sites s;
	size_t *idx;
	const struct ug_node *n = NULL;
	char err[256];

	if (ugf_sites_find(f, &s, err, sizeof(err)) < 0 ||
	    (idx = ugf_sorted_nodes(f)) == NULL)
		return NULL;
	n = ugf_deploy_node(f, &s, idx, err, sizeof(err));
	free(idx);
	return n ? n->name : NULL;
}

int ug_pg_note(const struct ug_fleet *f, char *buf, size_t len)
{
	struct sites s;
	struct pg_count c;
	size_t *idx, site, i, off;
	char err[256];
	int rv = 0;

	if (len == 0 || ugf_sites_find(f, &s, err, sizeof(err)) < 0 ||
	    (idx = ugf_sorted_nodes(f)) == NULL)
		return 0;
	for (site = 0; site < s.n && rv == 0; site++) {
		c = pg_count(f, &s, site);
		if (c.nodes < 2 || c.leaders > 0)
			continue;
		rv = 1;
		off = (size_t)snprintf(
		    buf, len,
		    "no PostgreSQL node%s%s%s reports being the Patroni leader "
		    "(gitlab-ctl patroni check-leader), so the leader may not "
		    "go last: ",
		    s.geo ? " of site '" : "", s.geo ? s.name[site] : "",
		    s.geo ? "'" : "");
		if (c.known == 0) {
			if (off < len)
				snprintf(buf + off, len - off,
				         "the PostgreSQL nodes are upgraded in "
				         "name order");
			continue;
		}
		if (off < len)
			off += (size_t)snprintf(buf + off, len - off,
			                        "the replicas go first, then");
		for (i = 0; i < f->n && off < len; i++) {
			const struct ug_node *n = &f->nodes[idx[i]];
			if ((n->roles & UG_POSTGRESQL) &&
			    ugf_in_site(&s, site, n) &&
			    n->pg_role == UG_PG_UNKNOWN)
				off += (size_t)snprintf(buf + off, len - off,
				                        " %s", n->name);
		}
		if (off < len)
			snprintf(buf + off, len - off,
			         " (role unknown) in name order");
	}
	free(idx);
	return rv;
}

const char *ug_database_node(const struct ug_fleet *f)
{
	struct sites s;
	size_t *idx, i;
	const char *name = NULL;
	char err[256];

	if (ugf_sites_find(f, &s, err, sizeof(err)) < 0 ||
	    (idx = ugf_sorted_nodes(f)) == NULL)
		return NULL;
	for (i = 0; i < f->n && name == NULL; i++)
		if ((f->nodes[idx[i]].roles & UG_POSTGRESQL) &&
		    ugf_in_site(&s, 0, &f->nodes[idx[i]]))
			name = f->nodes[idx[i]].name;
	free(idx);
	return name ? name : ug_deploy_node(f);
}
