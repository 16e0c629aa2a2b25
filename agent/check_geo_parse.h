/*
 * Geo replication as the primary's API reports it, turned into checks.
 * Kept free of I/O so that it can be unit-tested and fuzzed on its own;
 * check_geo.c fetches the two replies.
 *
 * Fields read (GitLab's API::Entities::GeoSite and GeoSiteStatus, as in
 * doc/api/geo_sites.md):
 *   GET /api/v4/geo_sites          id, name, primary, enabled
 *   GET /api/v4/geo_sites/status   geo_node_id, healthy, health,
 *     health_status, every <type>_failed_count, every <type>_synced_count
 *     with its <type>_count, db_replication_lag_seconds,
 *     last_event_timestamp, cursor_last_event_timestamp
 */
#ifndef CHECK_GEO_PARSE_H
#define CHECK_GEO_PARSE_H

#include <jansson.h>

#include "check.h"

#define GEO_CHECK_PREFIX "geo:replication:"
/* Seconds a secondary may trail the primary (streaming replication of its
 * database, or the Geo event log its cursor has processed) before it
 * counts as lagging: a few minutes is a busy primary, ten minutes is data
 * a failover would lose. */
#define GEO_LAG_WARN_SECONDS 600
/* Sites looked at; more are reported, not checked. */
#define GEO_SITES_MAX 64

/*
 * Adds one check "geo:replication:<site name, or id>" per secondary site in
 * sites (the reply of GET /geo_sites) using its entry in statuses (GET
 * /geo_sites/status): FAIL when the site is unhealthy or has failed items,
 * WARN when it lags (synced below the count, or trailing by more than
 * GEO_LAG_WARN_SECONDS) or has no status, else PASS; the reason names the
 * counts. A reply of the wrong shape (NULL included) is one FAIL named
 * "geo:replication". A primary alone adds nothing.
 */
void check_geo_eval(const json_t *sites, const json_t *statuses,
                    struct check_report *r);

#endif
