/* The registry's `database migrate status|up` output and its config.yml
 * (registry_parse.c, registry_config.c). */
#include <stdlib.h>
#include <string.h>

#include "ls_error.h"
#include "registry_config.h"
#include "registry_parse.h"
#include "testutil.h"

#define BORDER                                                                 \
	"+------------------------------------------------------+------------" \
	"--------------------------+\n"
#define HEADER                                                                 \
	"|                      MIGRATION                       |            " \
	"   APPLIED                |\n"

/* As gitlab-ctl registry-database prints it around the registry's table
 * (omnibus-gitlab registry_database.rb; rows as container-registry MR
 * !401 shows them), two pending, one of them post-deployment. */
static const char status_pending[] =
    "Running migrate status\n"
    "Executing command:\n"
    "/opt/gitlab/embedded/bin/registry database migrate status "
    "/var/opt/gitlab/registry/config.yml\n" BORDER HEADER BORDER
    "| 20200319122755_create_repositories_table             | 2020-10-30 "
    "21:09:15.280575 +0000 UTC |\n"
    "| 20200319130108_create_blobs_table                    | 2020-10-30 "
    "21:09:15.29452 +0000 UTC  |\n"
    "| 20201030140824_drop_table_students (post deployment) | 2020-10-30 "
    "21:09:37.84997 +0000 UTC  |\n"
    "| 20240101000000_add_media_types                       |            "
    "                          |\n"
    "| 20240102000000_index_blobs (post deployment)         |            "
    "                          |\n" BORDER;

static void test_status_pending(void)
{
	struct reg_list l = {0};
	char err[256] = "";

	CHECK_EQ_INT(reg_parse_status(status_pending, strlen(status_pending),
	                              &l, err, sizeof(err)),
	             0);
	CHECK_EQ_INT(l.n, 5);
	if (l.n == 5) {
		CHECK_STR(l.items[0].name,
		          "20200319122755_create_repositories_table");
		CHECK(l.items[0].applied && !l.items[0].post_deployment);
		CHECK_STR(l.items[2].name,
		          "20201030140824_drop_table_students");
		CHECK(l.items[2].applied && l.items[2].post_deployment);
		CHECK_STR(l.items[3].name, "20240101000000_add_media_types");
		CHECK(!l.items[3].applied && !l.items[3].post_deployment);
		CHECK_STR(l.items[4].name, "20240102000000_index_blobs");
		CHECK(!l.items[4].applied && l.items[4].post_deployment);
	}
	reg_list_free(&l);
}

static void test_status_wrapped_unknown_empty(void)
{
	/* tablewriter wraps a name cell over 80 columns at its spaces. */
	static const char wrapped[] =
	    "+------------------------------------------------------------"
	    "--------------------+---------+\n"
	    "| MIGRATION | APPLIED |\n"
	    "+---+---+\n"
	    "| 20250101000000_a_migration_name_that_is_long_enough_to_wrap_"
	    "in_the_table (post |  |\n"
	    "| deployment)  |   |\n"
	    "| 20190101000000_gone (unknown) | 2019-01-01 00:00:00 +0000 UTC "
	    "|\n"
	    "+---+---+\n"
	    "Starting service registry\n";
	static const char empty[] = BORDER HEADER BORDER BORDER;
	struct reg_list l = {0};
	char err[256] = "";

	CHECK_EQ_INT(
	    reg_parse_status(wrapped, strlen(wrapped), &l, err, sizeof(err)),
	    0);
	CHECK_EQ_INT(l.n, 2);
	if (l.n == 2) {
		CHECK_STR(l.items[0].name,
		          "20250101000000_a_migration_name_that_is_long_"
		          "enough_to_wrap_in_the_table");
		CHECK(l.items[0].post_deployment && !l.items[0].applied);
		CHECK_STR(l.items[1].name, "20190101000000_gone");
		CHECK(l.items[1].applied && !l.items[1].post_deployment);
	}
	reg_list_free(&l);
	CHECK_EQ_INT(
	    reg_parse_status(empty, strlen(empty), &l, err, sizeof(err)), 0);
	CHECK_EQ_INT(l.n, 0);
	reg_list_free(&l);
}

static void expect_status_error(const char *text, int code, const char *msg)
{
	struct reg_list l = {0};
	char err[256] = "";

	CHECK_EQ_INT(reg_parse_status(text, strlen(text), &l, err, sizeof(err)),
	             code);
	CHECK_CONTAINS(err, msg);
	reg_list_free(&l);
}

static void test_status_garbage(void)
{
	expect_status_error("", LS_EPROTO, "no MIGRATION | APPLIED table");
	expect_status_error("failed to construct database connection\n",
	                    LS_EPROTO, "no MIGRATION | APPLIED table in 1");
	expect_status_error(BORDER "| NAME | WHEN |\n" BORDER, LS_EPROTO,
	                    "line 2: expected the MIGRATION | APPLIED header");
	expect_status_error(BORDER HEADER BORDER "| 2020_x | 2020-01-01 |\n",
	                    LS_EPROTO, "line 4: the migration table is cut");
	expect_status_error(BORDER HEADER BORDER "hello\n" BORDER, LS_EPROTO,
	                    "line 4: not a row");
	expect_status_error(BORDER HEADER BORDER "| a | b | c |\n" BORDER,
	                    LS_EPROTO, "line 4: not a row");
	expect_status_error(BORDER HEADER BORDER "| drop table x; | |\n" BORDER,
	                    LS_EPROTO,
	                    "line 4: 'drop table x;' is not a "
	                    "migration id");
	expect_status_error(BORDER HEADER BORDER
	                    "| 2020_x | yesterday |\n" BORDER,
	                    LS_EPROTO, "line 4: 'yesterday' is not when");
	expect_status_error(BORDER HEADER "| 2020_x | |\n", LS_EPROTO,
	                    "line 3: not a row");
}

static void test_status_bounds(void)
{
	size_t rows = REG_MIGRATIONS_MAX + 1, i, off, cap = rows * 40 + 1024;
	char *big = malloc(cap), name[REG_NAME_MAX + 40];
	struct reg_list l = {0};
	char err[256] = "";

	CHECK(big != NULL);
	if (big == NULL)
		return;
	off = (size_t)snprintf(big, cap, BORDER HEADER BORDER);
	for (i = 0; i < rows; i++)
		off += (size_t)snprintf(big + off, cap - off, "| %zu_m | |\n",
		                        i + 1);
	off += (size_t)snprintf(big + off, cap - off, BORDER);
	CHECK_EQ_INT(reg_parse_status(big, off, &l, err, sizeof(err)),
	             LS_ETOOBIG);
	CHECK_CONTAINS(err, "over 10000 migrations");
	reg_list_free(&l);
	CHECK_EQ_INT(
	    reg_parse_status(big, REG_INPUT_MAX + 1, &l, err, sizeof(err)),
	    LS_ETOOBIG);
	reg_list_free(&l);
	/* A name of REG_NAME_MAX bytes is fine, one more is not. */
	memset(name, 'a', sizeof(name));
	memcpy(name, "1_", 2);
	snprintf(big, cap, BORDER HEADER BORDER "| %.*s | |\n" BORDER,
	         REG_NAME_MAX, name);
	CHECK_EQ_INT(reg_parse_status(big, strlen(big), &l, err, sizeof(err)),
	             0);
	CHECK_EQ_INT(l.n, 1);
	if (l.n == 1)
		CHECK_EQ_INT(strlen(l.items[0].name), REG_NAME_MAX);
	reg_list_free(&l);
	snprintf(big, cap, BORDER HEADER BORDER "| %.*s | |\n" BORDER,
	         REG_NAME_MAX + 1, name);
	CHECK_EQ_INT(reg_parse_status(big, strlen(big), &l, err, sizeof(err)),
	             LS_EPROTO);
	CHECK_CONTAINS(err, "line 4:");
	reg_list_free(&l);
	free(big);
}

static void test_up(void)
{
	/* gitlab-ctl's preamble, the plan, then the registry's OK line in
	 * its three generations (container-registry root.go). */
	static const char *const oks[] = {
	    "OK: applied 2 migrations\n",
	    "OK: applied 2 migrations in 0.412s\n",
	    "OK: applied 2 migrations and 0 background migrations in 0.412s\n",
	};
	static const char none[] =
	    "Running migrate up\nExecuting command:\n/opt/gitlab/embedded/bin/"
	    "registry database migrate up /var/opt/gitlab/registry/config.yml"
	    "\nOK: applied 0 migrations in 0.004s\n";
	char text[1024], err[256] = "";
	struct reg_list l = {0};
	size_t i;
	int ok = -1;

	for (i = 0; i < sizeof(oks) / sizeof(oks[0]); i++) {
		snprintf(
		    text, sizeof(text),
		    "Running migrate up\nExecuting command:\n"
		    "/opt/gitlab/embedded/bin/registry database migrate up "
		    "-s /var/opt/gitlab/registry/config.yml\n"
		    "20240101000000_add_media_types\n"
		    "20240102000000_index_blobs\n%s",
		    oks[i]);
		CHECK_EQ_INT(
		    reg_parse_up(text, strlen(text), &l, &ok, err, sizeof(err)),
		    0);
		CHECK_EQ_INT(ok, 1);
		CHECK_EQ_INT(l.n, 2);
		if (l.n == 2) {
			CHECK_STR(l.items[0].name,
			          "20240101000000_add_media_types");
			CHECK_STR(l.items[1].name,
			          "20240102000000_index_blobs");
		}
		reg_list_free(&l);
	}
	CHECK_EQ_INT(
	    reg_parse_up(none, strlen(none), &l, &ok, err, sizeof(err)), 0);
	CHECK_EQ_INT(ok, 1);
	CHECK_EQ_INT(l.n, 0);
	reg_list_free(&l);
	/* A plan without the OK line: a dry or failed run. */
	snprintf(text, sizeof(text), "20240101000000_add_media_types\n");
	CHECK_EQ_INT(
	    reg_parse_up(text, strlen(text), &l, &ok, err, sizeof(err)), 0);
	CHECK_EQ_INT(ok, 0);
	CHECK_EQ_INT(l.n, 1);
	reg_list_free(&l);
	snprintf(text, sizeof(text),
	         "20240101000000_a\nOK: applied 3 migrations\n");
	CHECK_EQ_INT(
	    reg_parse_up(text, strlen(text), &l, &ok, err, sizeof(err)),
	    LS_EPROTO);
	CHECK_CONTAINS(err, "line 2: says 3 migrations were applied, 1 were");
	reg_list_free(&l);
	snprintf(text, sizeof(text), "OK: applied lots of migrations\n");
	CHECK_EQ_INT(
	    reg_parse_up(text, strlen(text), &l, &ok, err, sizeof(err)),
	    LS_EPROTO);
	CHECK_CONTAINS(err, "line 1: a malformed");
	reg_list_free(&l);
}

static void test_config(void)
{
	static const char on[] =
	    "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n"
	    "    rootdirectory: /var/opt/gitlab/gitlab-rails/shared/registry\n"
	    "database:\n  enabled: true\n  host: 10.0.0.5\n  port: 5432\n"
	    "  user: registry\n  password: \"secret\"\n  dbname: registry\n"
	    "  pool:\n    maxopen: 10\n  sslmode: disable\n";
	static const char primary[] =
	    "database: {enabled: true, host: pgbouncer.internal, port: 6433,"
	    " primary: pg-primary.internal}\n";
	static const char *const off[] = {
	    "version: 0.1\n", "database:\n  enabled: false\n",
	    "database:\n  enabled: \"true\"\n", "", "database:\n"};
	char *const bouncers[] = {"pgbouncer.internal:6433", "junk"};
	struct reg_dbconf c;
	char err[256] = "", why[300] = "";
	size_t i;

	CHECK_EQ_INT(reg_config_parse(on, strlen(on), &c, err, sizeof(err)), 0);
	CHECK(c.section && c.enabled);
	CHECK_STR(c.host, "10.0.0.5");
	CHECK_EQ_INT(c.port, 5432);
	CHECK_STR(reg_config_migration_host(&c), "10.0.0.5");
	CHECK_EQ_INT(
	    reg_config_via_pgbouncer(&c, bouncers, 2, why, sizeof(why)), 0);
	c.port = 6432;
	CHECK_EQ_INT(reg_config_via_pgbouncer(&c, NULL, 0, why, sizeof(why)),
	             1);
	CHECK_CONTAINS(why, "10.0.0.5:6432");
	/* primary: the migrations go there, not to host. */
	CHECK_EQ_INT(
	    reg_config_parse(primary, strlen(primary), &c, err, sizeof(err)),
	    0);
	CHECK_STR(reg_config_migration_host(&c), "pg-primary.internal");
	CHECK_EQ_INT(
	    reg_config_via_pgbouncer(&c, bouncers, 2, why, sizeof(why)), 0);
	c.primary[0] = '\0';
	CHECK_EQ_INT(
	    reg_config_via_pgbouncer(&c, bouncers, 2, why, sizeof(why)), 1);
	CHECK_CONTAINS(why, "pgbouncer.internal:6433");
	for (i = 0; i < sizeof(off) / sizeof(off[0]); i++) {
		CHECK_EQ_INT(reg_config_parse(off[i], strlen(off[i]), &c, err,
		                              sizeof(err)),
		             0);
		CHECK(!c.enabled);
	}
	CHECK_EQ_INT(
	    reg_config_parse("database: [1]\n", 14, &c, err, sizeof(err)),
	    LS_EPROTO);
	CHECK_CONTAINS(err, "line 1: database is not a mapping");
	CHECK_EQ_INT(reg_config_parse("database:\n  port: 99999\n", 24, &c, err,
	                              sizeof(err)),
	             LS_EPROTO);
	CHECK_CONTAINS(err, "line 2: database.port '99999'");
	CHECK_EQ_INT(reg_config_parse("a: [\n", 5, &c, err, sizeof(err)),
	             LS_EPROTO);
	CHECK_CONTAINS(err, "line ");
}

static void test_hostport(void)
{
	char h[64];
	unsigned port = 0;

	CHECK_EQ_INT(
	    reg_split_hostport("db.example.com:6432", h, sizeof(h), &port), 0);
	CHECK_STR(h, "db.example.com");
	CHECK_EQ_INT(port, 6432);
	CHECK_EQ_INT(reg_split_hostport("[fd00::5]:6432", h, sizeof(h), &port),
	             0);
	CHECK_STR(h, "fd00::5");
	CHECK_EQ_INT(reg_split_hostport("fd00::5:6432", h, sizeof(h), &port),
	             -1);
	CHECK_EQ_INT(reg_split_hostport("host", h, sizeof(h), &port), -1);
	CHECK_EQ_INT(reg_split_hostport("host:0", h, sizeof(h), &port), -1);
	CHECK_EQ_INT(reg_split_hostport("host:65536", h, sizeof(h), &port), -1);
	CHECK_EQ_INT(reg_split_hostport(":6432", h, sizeof(h), &port), -1);
	CHECK_EQ_INT(reg_split_hostport("h:64x", h, sizeof(h), &port), -1);
}

int main(void)
{
	test_status_pending();
	test_status_wrapped_unknown_empty();
	test_status_garbage();
	test_status_bounds();
	test_up();
	test_config();
	test_hostport();
	return tu_done();
}
