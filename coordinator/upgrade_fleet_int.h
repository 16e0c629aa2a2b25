/* Between upgrade_fleet.c (the fleet's layout) and upgrade_steps.c (the
 * steps laid out from it); not for other modules. */
#ifndef UPGRADE_FLEET_INT_H
#define UPGRADE_FLEET_INT_H

#include <stddef.h>

#include "upgrade_steps.h"

#define MAX_SITES 16

/* The sites in upgrade order: the Geo primary's (or the one site) first. */
struct sites {
	char name[MAX_SITES][UG_NAME_MAX];
	size_t n;
	int geo;
};

/* LS_EINVAL with err: a Geo secondary without a primary, too many sites. */
int ugf_sites_find(const struct ug_fleet *f, struct sites *s, char *err,
                   size_t errlen);
int ugf_in_site(const struct sites *s, size_t site, const struct ug_node *n);
/* Node indexes by name; then in upgrade order (Patroni replicas before
 * the leader). Caller frees. */
size_t *ugf_sorted_nodes(const struct ug_fleet *f);
size_t *ugf_upgrade_order(const struct ug_fleet *f, const struct sites *s,
                          const size_t *idx);
/* LS_EINVAL with err naming them: two Patroni leaders in one site. */
int ugf_pg_split_brain(const struct ug_fleet *f, const struct sites *s,
                       const size_t *idx, char *err, size_t errlen);
/* The first Rails node of a site by name, or NULL. */
const struct ug_node *ugf_site_rails(const struct ug_fleet *f,
                                     const struct sites *s, size_t site,
                                     const size_t *idx);
/* The Rails node that runs the migrations; NULL with err. */
const struct ug_node *ugf_deploy_node(const struct ug_fleet *f,
                                      const struct sites *s, const size_t *idx,
                                      char *err, size_t errlen);

#endif
