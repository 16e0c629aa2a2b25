/*
 * What a backup covers: which node dumps the database, which copy
 * repositories and which file components, the GitLab version every node
 * must share, and the components that end up in GitLab's `skipped`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup_meta.h"
#include "coord_backup.h"
#include "ls_error.h"
#include "ls_log.h"
#include "ls_util.h"

static const char *const file_components[] = {
    "uploads",         "builds",   "artifacts", "pages",           "lfs",
    "terraform_state", "registry", "packages",  "ci_secure_files",
};

int coord_bk_skipped(const struct coord_backup *b, const char *name)
{
	const char *p = b->skipped;
	size_t l = strlen(name);

	while ((p = strstr(p, name)) != NULL) {
		if ((p == b->skipped || p[-1] == ',') &&
		    (p[l] == '\0' || p[l] == ','))
			return 1;
		p += l;
	}
	return 0;
}

/*
 * A file component whose directory does not exist on the rails node, or
 * that is in object storage with no file left on local disk, has no
 * archive: it is listed as skipped, so GitLab's restore does not look for
 * its archive.
 */
void coord_bk_skip_absent(struct coord_backup *b, const struct bk_node *bn)
{
	char csv[sizeof(b->skipped) + 64], err[128];
	size_t k;

	/* The node's gitlab.yml did not parse: nothing was left out. */
	if (bn->cut->n_components > 0 &&
	    bn->cut->components[0]->object_storage_error != NULL)
		log_warnx("backup %s: %s: %.900s; object storage unknown: "
		          "every file component is archived",
		          b->id, bn->node->name,
		          bn->cut->components[0]->object_storage_error);

	for (k = 0; k < bn->cut->n_components; k++) {
		const Ls__ComponentCut *cc = bn->cut->components[k];

		/* In object storage yet with local files (a migration not
		 * finished): archived as GitLab's backup does, and said. */
		if (cc->present && cc->has_object_storage &&
		    cc->object_storage && cc->files > 0)
			log_warnx(
			    "backup %s: %s is in object storage on %s, yet "
			    "%.500s still holds %llu file(s): archived",
			    b->id, cc->name, bn->node->name,
			    cc->dir ? cc->dir : "its directory",
			    (unsigned long long)cc->files);
		if (cc->present || coord_bk_skipped(b, cc->name))
			continue;
		if (ls_fmt(csv, sizeof(csv), "%s%s%s", b->skipped,
		           b->skipped[0] ? "," : "", cc->name) < 0 ||
		    backup_skip_normalize(csv, b->skipped, sizeof(b->skipped),
		                          err, sizeof(err)) < 0)
			log_warnx("backup %s: cannot list %s as skipped: %s",
			          b->id, cc->name, err);
		else if (cc->has_object_storage && cc->object_storage)
			log_info("backup %s: %s is in object storage with no "
			         "local file on %s: skipped",
			         b->id, cc->name, bn->node->name);
		else
			log_info("backup %s: %s is absent on %s: skipped",
			         b->id, cc->name, bn->node->name);
	}
}

static int has_data(const struct bk_node *bn)
{
	return bn->database || bn->repositories || bn->ncomponents > 0 ||
	       bn->redis;
}

/* Picks what each node backs up; every node is preflighted. */
int coord_bk_plan_nodes(struct coord *c, struct coord_backup *b, char *err,
                        size_t errlen)
{
	int64_t now_ms = coord_now_us() / 1000;
	int have_db = 0, have_rails = 0;
	size_t i, k;

	b->nodes = calloc(c->nnodes ? c->nnodes : 1, sizeof(*b->nodes));
	if (b->nodes == NULL)
		return LS_ENOMEM;
	for (i = 0; i < c->nnodes; i++) {
		struct coord_node *n = c->nodes[i];
		struct bk_node *bn;

		if (!n->enrolled || n->removed || !coord_node_runs_gitlab(n))
			continue;
		if (!coord_node_connected(c, n, now_ms)) {
			snprintf(err, errlen,
			         "node %s is not connected: every node must "
			         "take part in the cut",
			         n->name);
			return LS_ESTATE;
		}
		bn = &b->nodes[b->nnodes++];
		bn->node = n;
		bn->phase = "waiting";
		if (coord_node_has_role(n, "postgresql") && !have_db &&
		    !coord_bk_skipped(b, "db")) {
			bn->database = 1;
			have_db = 1;
		}
		if (coord_node_has_role(n, "gitaly") &&
		    !coord_bk_skipped(b, "repositories"))
			bn->repositories = 1;
		if (coord_node_has_role(n, "redis") && c->cfg->backup_redis)
			bn->redis = 1;
		if (coord_node_has_role(n, "rails") && !have_rails) {
			have_rails = 1;
			bn->freezer = 1;
			for (k = 0; k < sizeof(file_components) /
			                    sizeof(file_components[0]);
			     k++)
				if (!coord_bk_skipped(b, file_components[k]))
					bn->components[bn->ncomponents++] =
					    file_components[k];
		}
	}
	for (i = 0; i < b->nnodes; i++)
		if (has_data(&b->nodes[i]))
			return 0;
	snprintf(err, errlen,
	         "nothing to back up: no connected node has the postgresql, "
	         "gitaly or rails role (or all were skipped)");
	return LS_ESTATE;
}

/* Every node must run the same GitLab: GitLab restores only onto its own
 * exact version. */
int coord_bk_fleet_version(struct coord *c, struct coord_backup *b, char *err,
                           size_t errlen)
{
	const char *v = NULL, *ed = NULL, *first = NULL;
	size_t i;

	for (i = 0; i < b->nnodes; i++) {
		const Ls__NodeFacts *f = b->nodes[i].node->facts;
		if (f == NULL || f->gitlab_version == NULL) {
			snprintf(err, errlen,
			         "node %s has not reported its GitLab version",
			         b->nodes[i].node->name);
			return LS_ESTATE;
		}
		if (v == NULL) {
			v = f->gitlab_version;
			ed = f->gitlab_edition;
			first = b->nodes[i].node->name;
		} else if (strcmp(v, f->gitlab_version) != 0) {
			snprintf(err, errlen,
			         "GitLab versions differ: %s runs %s, %s runs "
			         "%s",
			         first, v, b->nodes[i].node->name,
			         f->gitlab_version);
			return LS_ESTATE;
		}
	}
	if (ls_fmt(b->version, sizeof(b->version), "%s%s", v,
	           ed && strcmp(ed, "ee") == 0 ? "-ee" : "") < 0)
		return LS_EINVAL;
	return 0;
}
