#include "coord_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ls_error.h"
#include "ls_util.h"

static const char *const known_roles[] = {
    "rails",       "sidekiq",       "gitaly",   "praefect",
    "postgresql",  "pgbouncer",     "redis",    "consul",
    "geo-primary", "geo-secondary", "registry", "kubernetes",
};

int coord_role_valid(const char *role)
{
	size_t i;

	for (i = 0; i < sizeof(known_roles) / sizeof(known_roles[0]); i++)
		if (strcmp(role, known_roles[i]) == 0)
			return 0;
	return LS_EINVAL;
}

int coord_node_runs_gitlab(const struct coord_node *n)
{
	size_t i;

	for (i = 0; i < n->nroles; i++)
		if (strcmp(n->roles[i], "kubernetes") != 0)
			return 1;
	return 0;
}

int coord_roles_parse(const char *csv, char roles[][COORD_ROLE_MAX], size_t *n,
                      char *err, size_t errlen)
{
	const char *p = csv;
	size_t count = 0, i;

	*n = 0;
	while (*p != '\0') {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		char role[COORD_ROLE_MAX];

		if (len == 0 || len >= sizeof(role)) {
			snprintf(err, errlen, "empty or overlong role in '%s'",
			         csv);
			return LS_EINVAL;
		}
		memcpy(role, p, len);
		role[len] = '\0';
		if (coord_role_valid(role) < 0) {
			snprintf(err, errlen,
			         "unknown role '%s' (known: rails, sidekiq, "
			         "gitaly, praefect, postgresql, pgbouncer, "
			         "redis, consul, geo-primary, geo-secondary)",
			         role);
			return LS_EINVAL;
		}
		for (i = 0; i < count; i++)
			if (strcmp(roles[i], role) == 0)
				break;
		if (i == count) {
			if (count == COORD_MAX_ROLES) {
				snprintf(err, errlen, "too many roles");
				return LS_EINVAL;
			}
			ls_strlcpy(roles[count++], role, COORD_ROLE_MAX);
		}
		p += len;
		if (*p == ',')
			p++;
	}
	if (count == 0) {
		snprintf(err, errlen, "at least one role is required");
		return LS_EINVAL;
	}
	for (i = 0; i < count; i++)
		if (strcmp(roles[i], "geo-primary") == 0) {
			size_t j;
			for (j = 0; j < count; j++)
				if (strcmp(roles[j], "geo-secondary") == 0) {
					snprintf(err, errlen,
					         "a node cannot be both "
					         "geo-primary and "
					         "geo-secondary");
					return LS_EINVAL;
				}
		}
	*n = count;
	return 0;
}

struct coord_node *coord_node_find(struct coord *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->nnodes; i++)
		if (strcmp(c->nodes[i]->name, name) == 0)
			return c->nodes[i];
	return NULL;
}

int coord_node_has_role(const struct coord_node *n, const char *role)
{
	size_t i;

	for (i = 0; i < n->nroles && i < COORD_MAX_ROLES; i++)
		if (strcmp(n->roles[i], role) == 0)
			return 1;
	return 0;
}

struct coord_node *coord_node_add(struct coord *c, const char *name)
{
	struct coord_node *n;

	if ((n = coord_node_find(c, name)) != NULL)
		return n;
	if (c->nnodes == c->cap_nodes) {
		size_t cap = c->cap_nodes ? c->cap_nodes * 2 : 16;
		struct coord_node **nn = realloc(c->nodes, cap * sizeof(*nn));
		if (nn == NULL)
			return NULL;
		c->nodes = nn;
		c->cap_nodes = cap;
	}
	n = calloc(1, sizeof(*n));
	if (n == NULL)
		return NULL;
	ls_strlcpy(n->name, name, sizeof(n->name));
	c->nodes[c->nnodes++] = n;
	return n;
}

void coord_node_free(struct coord_node *n)
{
	if (n == NULL)
		return;
	if (n->facts)
		ls__node_facts__free_unpacked(n->facts, NULL);
	if (n->checks)
		ls__check_report__free_unpacked(n->checks, NULL);
	if (n->progress)
		ls__progress__free_unpacked(n->progress, NULL);
	free(n);
}

int coord_node_connected(const struct coord *c, const struct coord_node *n,
                         int64_t now_ms)
{
	int64_t stale_ms = 2 * c->cfg->poll_timeout + 5000;

	if (!n->enrolled || n->removed || !n->pipe_alive)
		return 0;
	if (n->parked != NULL || (n->ops != NULL && n->ops->sent))
		return 1;
	return now_ms / 1000 - n->last_seen <= stale_ms / 1000;
}

void coord_nodeinfo_fill(const struct coord *c, const struct coord_node *n,
                         int64_t now_ms, Ls__NodeInfo *info)
{
	size_t i;

	ls__node_info__init(info);
	info->name = (char *)n->name;
	info->n_roles = n->nroles;
	info->roles = calloc(n->nroles ? n->nroles : 1, sizeof(char *));
	if (info->roles == NULL)
		info->n_roles = 0;
	for (i = 0; i < info->n_roles; i++)
		info->roles[i] = (char *)n->roles[i];
	info->site = (char *)n->site;
	info->enrolled = n->enrolled;
	info->connected = coord_node_connected(c, n, now_ms);
	info->has_last_seen = 1;
	info->last_seen = n->last_seen;
	info->facts = n->facts;
	info->checks = n->checks;
	info->has_checks_at = n->checks != NULL;
	info->checks_at = n->checks_at;
	info->has_enrolled_at = n->enrolled;
	info->enrolled_at = n->enrolled_at;
}

void coord_nodeinfo_clear(Ls__NodeInfo *info)
{
	free(info->roles);
	info->roles = NULL;
	info->n_roles = 0;
}

int64_t coord_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
