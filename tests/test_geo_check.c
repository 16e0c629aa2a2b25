/* Geo site status replies (GET /geo_sites, /geo_sites/status) to checks. */
#include <string.h>

#include <jansson.h>

#include "check.h"
#include "check_geo_parse.h"
#include "testutil.h"

/* The sites reply: the primary (id 1) and one secondary, "nyc" (id 2). */
static const char sites_json[] =
    "[{\"id\":1,\"name\":\"us\",\"primary\":true,\"enabled\":true},"
    " {\"id\":2,\"name\":\"nyc\",\"primary\":false,\"enabled\":true}]";

/* The primary's own status: null synced counts, as GitLab sends them. */
#define PRIMARY_STATUS                                                         \
	"{\"geo_node_id\":1,\"healthy\":true,\"health_status\":\"Healthy\","   \
	"\"project_repositories_count\":19,"                                   \
	"\"project_repositories_synced_count\":null,"                          \
	"\"project_repositories_failed_count\":null}"

static json_t *load(const char *s)
{
	json_t *j = json_loads(s, 0, NULL);

	CHECK(j != NULL);
	return j;
}

/* Runs the evaluation on a secondary status object and returns the
 * report (caller frees). */
static void eval(const char *secondary, struct check_report *r)
{
	char buf[4096];
	json_t *sites = load(sites_json), *st;

	snprintf(buf, sizeof(buf), "[" PRIMARY_STATUS ",%s]", secondary);
	st = load(buf);
	memset(r, 0, sizeof(*r));
	check_geo_eval(sites, st, r);
	json_decref(sites);
	json_decref(st);
}

static void test_healthy(void)
{
	struct check_report r;

	eval("{\"geo_node_id\":2,\"healthy\":true,\"health\":\"Healthy\","
	     "\"health_status\":\"Healthy\","
	     "\"project_repositories_count\":19,"
	     "\"project_repositories_synced_count\":19,"
	     "\"project_repositories_failed_count\":0,"
	     "\"uploads_count\":55,\"uploads_synced_count\":55,"
	     "\"uploads_failed_count\":0,"
	     "\"uploads_synced_missing_on_primary_count\":3,"
	     "\"db_replication_lag_seconds\":0,"
	     "\"last_event_timestamp\":1746370442,"
	     "\"cursor_last_event_timestamp\":1746370440}",
	     &r);
	CHECK_EQ_INT(r.n, 1);
	if (r.n == 1) {
		CHECK_STR(r.items[0].name, "geo:replication:nyc");
		CHECK_EQ_INT(r.items[0].status, CHECK_ST_PASS);
		CHECK_CONTAINS(r.items[0].reason, "healthy; 0 failed");
		CHECK_CONTAINS(r.items[0].reason, "74/74 synced");
		CHECK_CONTAINS(r.items[0].reason, "event log 2s behind");
	}
	check_report_free(&r);
}

static void test_lagging(void)
{
	struct check_report r;

	eval("{\"geo_node_id\":2,\"healthy\":true,"
	     "\"health_status\":\"Healthy\","
	     "\"project_repositories_count\":19,"
	     "\"project_repositories_synced_count\":17,"
	     "\"project_repositories_failed_count\":0,"
	     "\"lfs_objects_count\":9,\"lfs_objects_synced_count\":9,"
	     "\"lfs_objects_failed_count\":null}",
	     &r);
	CHECK_EQ_INT(r.n, 1);
	if (r.n == 1) {
		CHECK_EQ_INT(r.items[0].status, CHECK_ST_WARN);
		CHECK_CONTAINS(r.items[0].reason,
		               "26/28 synced, behind: project_repositories "
		               "17/19");
	}
	check_report_free(&r);

	/* All synced but the event log trails by more than the bound. */
	eval("{\"geo_node_id\":2,\"healthy\":true,"
	     "\"last_event_timestamp\":1746370442,"
	     "\"cursor_last_event_timestamp\":1746369000}",
	     &r);
	CHECK_EQ_INT(r.n, 1);
	if (r.n == 1) {
		CHECK_EQ_INT(r.items[0].status, CHECK_ST_WARN);
		CHECK_CONTAINS(r.items[0].reason, "event log 1442s behind");
	}
	check_report_free(&r);

	eval("{\"geo_node_id\":2,\"db_replication_lag_seconds\":601}", &r);
	CHECK_EQ_INT(r.n, 1);
	if (r.n == 1) {
		CHECK_EQ_INT(r.items[0].status, CHECK_ST_WARN);
		CHECK_CONTAINS(r.items[0].reason,
		               "database replication 601s behind");
	}
	check_report_free(&r);
}

static void test_failing(void)
{
	struct check_report r;

	eval("{\"geo_node_id\":2,\"healthy\":true,"
	     "\"project_repositories_count\":19,"
	     "\"project_repositories_synced_count\":17,"
	     "\"project_repositories_failed_count\":2,"
	     "\"uploads_verification_failed_count\":1}",
	     &r);
	CHECK_EQ_INT(r.n, 1);
	if (r.n == 1) {
		CHECK_EQ_INT(r.items[0].status, CHECK_ST_FAIL);
		CHECK_CONTAINS(r.items[0].reason,
		               "3 failed (project_repositories 2, "
		               "uploads_verification 1)");
	}
	check_report_free(&r);

	eval("{\"geo_node_id\":2,\"healthy\":false,\"health\":\"Geo log "
	     "cursor is not running\",\"health_status\":\"Unhealthy\"}",
	     &r);
	CHECK_EQ_INT(r.n, 1);
	if (r.n == 1) {
		CHECK_EQ_INT(r.items[0].status, CHECK_ST_FAIL);
		CHECK_CONTAINS(r.items[0].reason,
		               "unhealthy (Geo log cursor is not running)");
	}
	check_report_free(&r);
}

static void test_shapes(void)
{
	struct check_report r = {0};
	json_t *sites = load(sites_json), *empty = load("[]"),
	       *obj = load("{\"message\":\"x\"}"),
	       *bad = load("[{\"id\":\"2\",\"primary\":false}, 7]"),
	       *noname = load("[{\"id\":5,\"primary\":false}]");

	check_geo_eval(NULL, empty, &r);
	check_geo_eval(sites, obj, &r);
	CHECK_EQ_INT(r.n, 2);
	if (r.n == 2) {
		CHECK_STR(r.items[0].name, "geo:replication");
		CHECK_EQ_INT(r.items[0].status, CHECK_ST_FAIL);
		CHECK_CONTAINS(r.items[1].reason, "/geo_sites/status");
	}
	check_report_free(&r);

	/* Geo not set up: GitLab answers [] to both; no secondary, no
	 * check. */
	check_geo_eval(empty, empty, &r);
	CHECK_EQ_INT(r.n, 0);

	check_geo_eval(bad, empty, &r);
	CHECK_EQ_INT(r.n, 2);
	if (r.n == 2)
		CHECK_EQ_INT(r.items[1].status, CHECK_ST_FAIL);
	check_report_free(&r);

	/* A secondary without a status yet, named by its id. */
	check_geo_eval(noname, empty, &r);
	CHECK_EQ_INT(r.n, 1);
	if (r.n == 1) {
		CHECK_STR(r.items[0].name, "geo:replication:5");
		CHECK_EQ_INT(r.items[0].status, CHECK_ST_WARN);
	}
	check_report_free(&r);
	json_decref(sites);
	json_decref(empty);
	json_decref(obj);
	json_decref(bad);
	json_decref(noname);
}

/* Many failing types: the reason stays within its cap, lists a few. */
static void test_bounds(void)
{
	struct check_report r;
	char big[4096];
	size_t len = 0;
	int i;

	len += (size_t)snprintf(big + len, sizeof(big) - len,
	                        "{\"geo_node_id\":2,\"healthy\":false,"
	                        "\"health\":\"");
	for (i = 0; i < 300; i++)
		big[len++] = 'h';
	len += (size_t)snprintf(big + len, sizeof(big) - len, "\"");
	for (i = 0; i < 30; i++)
		len += (size_t)snprintf(big + len, sizeof(big) - len,
		                        ",\"type_number_%02d_failed_count\":"
		                        "9223372036854775807",
		                        i);
	snprintf(big + len, sizeof(big) - len, "}");
	eval(big, &r);
	CHECK_EQ_INT(r.n, 1);
	if (r.n == 1) {
		CHECK_EQ_INT(r.items[0].status, CHECK_ST_FAIL);
		CHECK(strlen(r.items[0].reason) <= CHECK_REASON_MAX);
		CHECK_CONTAINS(r.items[0].reason, "9223372036854775807 failed");
		CHECK_CONTAINS(r.items[0].reason, "+26 more");
	}
	check_report_free(&r);
}

int main(void)
{
	test_healthy();
	test_lagging();
	test_failing();
	test_shapes();
	test_bounds();
	return tu_done();
}
