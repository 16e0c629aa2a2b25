/*
 * geo-primary role on a Rails node: how far each secondary site trails,
 * from the primary's Geo API (check_geo_parse.c judges the replies). Only
 * the primary knows every site's status; a secondary's own API would show
 * the same data later, so the check runs there alone.
 */
#include <string.h>

#include <jansson.h>

#include "agent_config.h"
#include "check.h"
#include "check_geo_parse.h"
#include "gitlab_api.h"

/* GitLab paginates both lists (20 by default); 100 is its page maximum and
 * more than any Geo deployment has sites. */
#define SITES_PATH "/api/v4/geo_sites?per_page=100"
#define STATUS_PATH "/api/v4/geo_sites/status?per_page=100"

void check_geo(const struct agent_config *cfg, struct check_report *r)
{
	struct gitlab_api api;
	json_t *sites = NULL, *statuses = NULL;
	char err[400];

	err[0] = '\0';
	if (gitlab_api_open(&api, cfg, err, sizeof(err)) < 0) {
		check_add(r, "geo:replication", CHECK_ST_FAIL, "%s", err);
		return;
	}
	if (gitlab_api_call(&api, "GET", SITES_PATH, &sites, err, sizeof(err)) <
	        0 ||
	    gitlab_api_call(&api, "GET", STATUS_PATH, &statuses, err,
	                    sizeof(err)) < 0)
		check_add(r, "geo:replication", CHECK_ST_FAIL, "%s", err);
	else
		check_geo_eval(sites, statuses, r);
	json_decref(sites);
	json_decref(statuses);
	gitlab_api_close(&api);
}
