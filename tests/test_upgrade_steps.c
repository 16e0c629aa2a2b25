/*
 * The upgrade's node order (gitlab-facts §7): one line per step,
 * "PHASE NODE NAME", compared whole, so any change of order, flag or
 * grouping shows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ls_error.h"
#include "testutil.h"
#include "upgrade_steps.h"

static struct ug_node node(const char *name, unsigned roles, const char *site)
{
	struct ug_node n;

	memset(&n, 0, sizeof(n));
	snprintf(n.name, sizeof(n.name), "%s", name);
	snprintf(n.site, sizeof(n.site), "%s", site);
	n.roles = roles;
	return n;
}

/* The steps as text: "phase node name[ +skip][ ready]". */
static char *render(const struct ug_steps *s)
{
	size_t cap = 65536, len = 0, i;
	char *out = malloc(cap);

	CHECK(out != NULL);
	out[0] = '\0';
	for (i = 0; i < s->n; i++) {
		const struct ug_step *st = &s->v[i];
		len += (size_t)snprintf(
		    out + len, cap - len, "%u %s %s%s\n", st->phase,
		    st->node[0] ? st->node : "-", st->name,
		    st->skip_post_deploy ? " [skip-pd]" : "");
		CHECK(len < cap);
	}
	return out;
}

static void expect(const char *got, const char *want)
{
	if (strcmp(got, want) != 0)
		fprintf(stderr, "--- got:\n%s--- want:\n%s", got, want);
	CHECK_STR(got, want);
}

static void test_zero_downtime(void)
{
	struct ug_node nodes[] = {
	    node("rails-2", UG_RAILS, ""),
	    node("rails-1", UG_RAILS | UG_SIDEKIQ, ""),
	    node("gitaly-1", UG_GITALY, ""),
	    node("pg-1", UG_POSTGRESQL, ""),
	    node("redis-1", UG_REDIS, ""),
	    node("sidekiq-1", UG_SIDEKIQ, ""),
	    node("consul-1", UG_CONSUL, ""),
	};
	struct ug_fleet f = {nodes, sizeof(nodes) / sizeof(nodes[0]), NULL,
	                     1000};
	struct ug_steps s = {0};
	struct ls_version v = {17, 1, 8};
	char err[256], *got;

	CHECK_EQ_INT(
	    ug_stop_steps(&f, UG_ZERO_DOWNTIME, 1, &v, &s, err, sizeof(err)),
	    0);
	got = render(&s);
	expect(got, "1 pg-1 17.1.8: wait for batched background migrations\n"
	            "2 consul-1 17.1.8: preflight check\n"
	            "2 gitaly-1 17.1.8: preflight check\n"
	            "2 pg-1 17.1.8: preflight check\n"
	            "2 rails-1 17.1.8: preflight check\n"
	            "2 rails-2 17.1.8: preflight check\n"
	            "2 redis-1 17.1.8: preflight check\n"
	            "2 sidekiq-1 17.1.8: preflight check\n"
	            "3 - 17.1.8: rollback-point backup\n"
	            "4 consul-1 17.1.8: skip auto-reconfigure\n"
	            "5 consul-1 17.1.8: install 17.1.8\n"
	            "6 consul-1 17.1.8: reconfigure\n"
	            "7 consul-1 17.1.8: restart\n"
	            "8 pg-1 17.1.8: skip auto-reconfigure\n"
	            "9 pg-1 17.1.8: install 17.1.8\n"
	            "10 pg-1 17.1.8: reconfigure\n"
	            "11 pg-1 17.1.8: restart\n"
	            "12 redis-1 17.1.8: skip auto-reconfigure\n"
	            "13 redis-1 17.1.8: install 17.1.8\n"
	            "14 redis-1 17.1.8: reconfigure\n"
	            "15 redis-1 17.1.8: restart\n"
	            "16 gitaly-1 17.1.8: skip auto-reconfigure\n"
	            "17 gitaly-1 17.1.8: install 17.1.8\n"
	            "18 gitaly-1 17.1.8: reconfigure\n"
	            "19 gitaly-1 17.1.8: restart\n"
	            "20 rails-1 17.1.8: skip auto-reconfigure\n"
	            "21 rails-1 17.1.8: install 17.1.8\n"
	            "22 rails-1 17.1.8: reconfigure with "
	            "SKIP_POST_DEPLOYMENT_MIGRATIONS=true [skip-pd]\n"
	            "23 rails-1 17.1.8: restart and wait for readiness\n"
	            "24 rails-2 17.1.8: skip auto-reconfigure\n"
	            "25 rails-2 17.1.8: install 17.1.8\n"
	            "26 rails-2 17.1.8: reconfigure\n"
	            "27 rails-2 17.1.8: restart and wait for readiness\n"
	            "28 sidekiq-1 17.1.8: skip auto-reconfigure\n"
	            "29 sidekiq-1 17.1.8: install 17.1.8\n"
	            "30 sidekiq-1 17.1.8: reconfigure\n"
	            "31 sidekiq-1 17.1.8: restart\n"
	            "32 rails-1 17.1.8: post-deployment migrations "
	            "(db:migrate)\n"
	            "33 consul-1 17.1.8: post-check\n"
	            "33 gitaly-1 17.1.8: post-check\n"
	            "33 pg-1 17.1.8: post-check\n"
	            "33 rails-1 17.1.8: post-check\n"
	            "33 rails-2 17.1.8: post-check\n"
	            "33 redis-1 17.1.8: post-check\n"
	            "33 sidekiq-1 17.1.8: post-check\n");
	CHECK(s.v[27].action == LS__UPGRADE_ACTION_KIND__UA_RECONFIGURE &&
	      s.v[27].skip_post_deploy);
	CHECK_EQ_INT((int)s.v[28].ready_wait_ms, 1000);
	CHECK(s.v[37].action ==
	      LS__UPGRADE_ACTION_KIND__UA_POST_DEPLOY_MIGRATE);
	CHECK_STR(s.v[37].version, "17.1.8");
	free(got);

	/* A second stop continues the phases; a named deploy node leads. */
	f.deploy_node = "rails-2";
	v.minor = 3;
	v.patch = 7;
	CHECK_EQ_INT(
	    ug_stop_steps(&f, UG_ZERO_DOWNTIME, 2, &v, &s, err, sizeof(err)),
	    0);
	CHECK_EQ_INT((int)s.v[45].stop, 2);
	CHECK_EQ_INT((int)s.v[45].phase, 34);
	CHECK_STR(s.v[s.n - 8].node, "rails-2");
	CHECK_STR(s.v[s.n - 8].name,
	          "17.3.7: post-deployment migrations (db:migrate)");
	ug_steps_free(&s);

	f.deploy_node = "gitaly-1";
	CHECK_EQ_INT(
	    ug_stop_steps(&f, UG_ZERO_DOWNTIME, 1, &v, &s, err, sizeof(err)),
	    LS_EINVAL);
	CHECK_CONTAINS(err, "gitaly-1");
	ug_steps_free(&s);
}

static void test_downtime(void)
{
	struct ug_node nodes[] = {
	    node("rails-1", UG_RAILS | UG_SIDEKIQ, ""),
	    node("rails-2", UG_RAILS, ""),
	    node("gitaly-1", UG_GITALY, ""),
	    node("gitaly-2", UG_GITALY, ""),
	    node("pg-1", UG_POSTGRESQL, ""),
	};
	struct ug_fleet f = {nodes, 5, NULL, 1000};
	struct ug_steps s = {0};
	struct ls_version v = {16, 3, 9};
	char err[256], *got;

	CHECK_EQ_INT(
	    ug_stop_steps(&f, UG_DOWNTIME, 1, &v, &s, err, sizeof(err)), 0);
	got = render(&s);
	expect(got, "1 pg-1 16.3.9: wait for batched background migrations\n"
	            "2 gitaly-1 16.3.9: preflight check\n"
	            "2 gitaly-2 16.3.9: preflight check\n"
	            "2 pg-1 16.3.9: preflight check\n"
	            "2 rails-1 16.3.9: preflight check\n"
	            "2 rails-2 16.3.9: preflight check\n"
	            "3 - 16.3.9: rollback-point backup\n"
	            "4 rails-1 16.3.9: maintenance mode on\n"
	            "5 rails-1 16.3.9: stop puma,sidekiq\n"
	            "5 rails-2 16.3.9: stop puma\n"
	            "6 gitaly-1 16.3.9: skip auto-reconfigure\n"
	            "6 gitaly-2 16.3.9: skip auto-reconfigure\n"
	            "7 gitaly-1 16.3.9: install 16.3.9\n"
	            "7 gitaly-2 16.3.9: install 16.3.9\n"
	            "8 gitaly-1 16.3.9: reconfigure\n"
	            "8 gitaly-2 16.3.9: reconfigure\n"
	            "9 pg-1 16.3.9: skip auto-reconfigure\n"
	            "10 pg-1 16.3.9: install 16.3.9\n"
	            "11 pg-1 16.3.9: reconfigure\n"
	            "12 rails-1 16.3.9: skip auto-reconfigure\n"
	            "13 rails-1 16.3.9: install 16.3.9\n"
	            "14 rails-1 16.3.9: reconfigure (runs the migrations)\n"
	            "15 rails-2 16.3.9: skip auto-reconfigure\n"
	            "16 rails-2 16.3.9: install 16.3.9\n"
	            "17 rails-2 16.3.9: reconfigure\n"
	            "18 rails-1 16.3.9: start puma,sidekiq and wait for "
	            "readiness\n"
	            "18 rails-2 16.3.9: start puma and wait for "
	            "readiness\n"
	            "19 rails-1 16.3.9: maintenance mode off\n"
	            "20 gitaly-1 16.3.9: post-check\n"
	            "20 gitaly-2 16.3.9: post-check\n"
	            "20 pg-1 16.3.9: post-check\n"
	            "20 rails-1 16.3.9: post-check\n"
	            "20 rails-2 16.3.9: post-check\n");
	free(got);
	ug_steps_free(&s);
}

static void test_geo(void)
{
	struct ug_node nodes[] = {
	    node("a-rails", UG_RAILS | UG_GEO_PRIMARY, "lon"),
	    node("a-pg", UG_POSTGRESQL, "lon"),
	    node("b-rails", UG_RAILS | UG_GEO_SECONDARY, "nyc"),
	    node("b-gitaly", UG_GITALY, "nyc"),
	};
	struct ug_fleet f = {nodes, 4, NULL, 1000};
	struct ug_steps s = {0};
	struct ls_version v = {17, 3, 7};
	char err[256], *got;

	CHECK_EQ_INT(
	    ug_stop_steps(&f, UG_ZERO_DOWNTIME, 1, &v, &s, err, sizeof(err)),
	    0);
	got = render(&s);
	expect(got,
	       "1 a-pg 17.3.7: wait for batched background migrations\n"

	       "2 a-pg 17.3.7: preflight check\n"
	       "2 a-rails 17.3.7: preflight check\n"
	       "2 b-gitaly 17.3.7: preflight check\n"
	       "2 b-rails 17.3.7: preflight check\n"
	       "3 - 17.3.7: rollback-point backup\n"
	       "4 a-pg 17.3.7: skip auto-reconfigure\n"
	       "5 a-pg 17.3.7: install 17.3.7\n"
	       "6 a-pg 17.3.7: reconfigure\n"
	       "7 a-pg 17.3.7: restart\n"
	       "8 a-rails 17.3.7: skip auto-reconfigure\n"
	       "9 a-rails 17.3.7: install 17.3.7\n"
	       "10 a-rails 17.3.7: reconfigure with "
	       "SKIP_POST_DEPLOYMENT_MIGRATIONS=true [skip-pd]\n"
	       "11 a-rails 17.3.7: restart and wait for readiness\n"
	       "12 b-gitaly 17.3.7: skip auto-reconfigure\n"
	       "13 b-gitaly 17.3.7: install 17.3.7\n"
	       "14 b-gitaly 17.3.7: reconfigure\n"
	       "15 b-gitaly 17.3.7: restart\n"
	       "16 b-rails 17.3.7: stop geo-logcursor\n"
	       "17 b-rails 17.3.7: copy gitlab-secrets.json from a-rails\n"
	       "18 b-rails 17.3.7: skip auto-reconfigure\n"
	       "19 b-rails 17.3.7: install 17.3.7\n"
	       "20 b-rails 17.3.7: reconfigure\n"
	       "21 b-rails 17.3.7: Geo tracking database migrations "
	       "(db:migrate:geo)\n"
	       "22 b-rails 17.3.7: restart and wait for readiness\n"
	       "23 a-rails 17.3.7: post-deployment migrations (db:migrate)\n"
	       "24 a-rails 17.3.7: Geo check (gitlab:geo:check)\n"
	       "24 b-rails 17.3.7: Geo check (gitlab:geo:check)\n"
	       "25 a-pg 17.3.7: post-check\n"
	       "25 a-rails 17.3.7: post-check\n"
	       "25 b-gitaly 17.3.7: post-check\n"
	       "25 b-rails 17.3.7: post-check\n");
	free(got);
	/* The copy names its source for the coordinator. */
	{
		size_t i;
		int seen = 0;
		for (i = 0; i < s.n; i++)
			if (s.v[i].kind == UG_SECRETS_COPY) {
				CHECK_STR(s.v[i].node, "b-rails");
				CHECK_STR(s.v[i].from, "a-rails");
				seen++;
			}
		CHECK_EQ_INT(seen, 1);
	}
	ug_steps_free(&s);

	/* With downtime, every application node of the secondary gets the
	 * primary's secrets before its package. */
	{
		struct ug_node dn[] = {
		    node("a-rails", UG_RAILS | UG_GEO_PRIMARY, "lon"),
		    node("b-rails", UG_RAILS | UG_GEO_SECONDARY, "nyc"),
		    node("b-sidekiq", UG_SIDEKIQ, "nyc"),
		    node("b-gitaly", UG_GITALY, "nyc"),
		};
		struct ug_fleet df = {dn, 4, NULL, 1000};
		size_t i, copy_b = 0, copy_k = 0, inst_b = 0, inst_k = 0,
		          copies = 0;
		CHECK_EQ_INT(ug_stop_steps(&df, UG_DOWNTIME, 1, &v, &s, err,
		                           sizeof(err)),
		             0);
		for (i = 0; i < s.n; i++) {
			const struct ug_step *st = &s.v[i];
			if (st->kind == UG_SECRETS_COPY) {
				copies++;
				CHECK_STR(st->from, "a-rails");
				if (strcmp(st->node, "b-rails") == 0)
					copy_b = st->phase;
				if (strcmp(st->node, "b-sidekiq") == 0)
					copy_k = st->phase;
			}
			if (st->kind == UG_ACTION &&
			    st->action == LS__UPGRADE_ACTION_KIND__UA_INSTALL) {
				if (strcmp(st->node, "b-rails") == 0)
					inst_b = st->phase;
				if (strcmp(st->node, "b-sidekiq") == 0)
					inst_k = st->phase;
			}
		}
		/* Not b-gitaly: only application nodes read them. */
		CHECK_EQ_INT(copies, 2);
		CHECK(copy_b > 0 && copy_b < inst_b);
		CHECK(copy_k > 0 && copy_k < inst_k);
		ug_steps_free(&s);
	}

	/* A secondary without a primary site is refused. */
	nodes[0].roles = UG_RAILS;
	CHECK_EQ_INT(
	    ug_stop_steps(&f, UG_ZERO_DOWNTIME, 1, &v, &s, err, sizeof(err)),
	    LS_EINVAL);
	CHECK_CONTAINS(err, "geo-primary");
	ug_steps_free(&s);
}

static void test_no_rails(void)
{
	struct ug_node nodes[] = {node("gitaly-1", UG_GITALY, "")};
	struct ug_fleet f = {nodes, 1, NULL, 0};
	struct ug_steps s = {0};
	struct ls_version v = {17, 3, 7};
	char err[256];

	CHECK_EQ_INT(
	    ug_stop_steps(&f, UG_ZERO_DOWNTIME, 1, &v, &s, err, sizeof(err)),
	    LS_EINVAL);
	CHECK_CONTAINS(err, "no Rails node");
	ug_steps_free(&s);
	CHECK_EQ_INT(ug_role_bit("praefect"), UG_PRAEFECT);
	CHECK_EQ_INT(ug_role_bit("nope"), 0);
}

static struct ug_node pg(const char *name, enum ug_pg_role role)
{
	struct ug_node n = node(name, UG_POSTGRESQL, "");

	n.pg_role = role;
	return n;
}

/* Patroni (gitlab-facts §7): the replicas by name, then the leader, even
 * when the leader sorts first by name. */
static void test_patroni(void)
{
	struct ug_node nodes[] = {
	    node("rails-1", UG_RAILS, ""), pg("pg-c", UG_PG_REPLICA),
	    pg("pg-a", UG_PG_LEADER),      node("gitaly-1", UG_GITALY, ""),
	    pg("pg-b", UG_PG_REPLICA),
	};
	struct ug_fleet f = {nodes, 5, NULL, 1000};
	struct ug_steps s = {0};
	struct ls_version v = {17, 3, 7};
	char err[512], note[512], *got;

	CHECK_EQ_INT(
	    ug_stop_steps(&f, UG_ZERO_DOWNTIME, 1, &v, &s, err, sizeof(err)),
	    0);
	got = render(&s);
	expect(got, "1 pg-a 17.3.7: wait for batched background migrations\n"
	            "2 gitaly-1 17.3.7: preflight check\n"
	            "2 pg-a 17.3.7: preflight check\n"
	            "2 pg-b 17.3.7: preflight check\n"
	            "2 pg-c 17.3.7: preflight check\n"
	            "2 rails-1 17.3.7: preflight check\n"
	            "3 - 17.3.7: rollback-point backup\n"
	            "4 pg-b 17.3.7: skip auto-reconfigure\n"
	            "5 pg-b 17.3.7: install 17.3.7\n"
	            "6 pg-b 17.3.7: reconfigure\n"
	            "7 pg-b 17.3.7: restart\n"
	            "8 pg-c 17.3.7: skip auto-reconfigure\n"
	            "9 pg-c 17.3.7: install 17.3.7\n"
	            "10 pg-c 17.3.7: reconfigure\n"
	            "11 pg-c 17.3.7: restart\n"
	            "12 pg-a 17.3.7: skip auto-reconfigure\n"
	            "13 pg-a 17.3.7: install 17.3.7\n"
	            "14 pg-a 17.3.7: reconfigure\n"
	            "15 pg-a 17.3.7: restart\n"
	            "16 gitaly-1 17.3.7: skip auto-reconfigure\n"
	            "17 gitaly-1 17.3.7: install 17.3.7\n"
	            "18 gitaly-1 17.3.7: reconfigure\n"
	            "19 gitaly-1 17.3.7: restart\n"
	            "20 rails-1 17.3.7: skip auto-reconfigure\n"
	            "21 rails-1 17.3.7: install 17.3.7\n"
	            "22 rails-1 17.3.7: reconfigure with "
	            "SKIP_POST_DEPLOYMENT_MIGRATIONS=true [skip-pd]\n"
	            "23 rails-1 17.3.7: restart and wait for readiness\n"
	            "24 rails-1 17.3.7: post-deployment migrations "
	            "(db:migrate)\n"
	            "25 gitaly-1 17.3.7: post-check\n"
	            "25 pg-a 17.3.7: post-check\n"
	            "25 pg-b 17.3.7: post-check\n"
	            "25 pg-c 17.3.7: post-check\n"
	            "25 rails-1 17.3.7: post-check\n");
	free(got);
	ug_steps_free(&s);
	CHECK_EQ_INT(ug_pg_note(&f, note, sizeof(note)), 0);

	/* With downtime the group is upgraded together, listed the same. */
	CHECK_EQ_INT(
	    ug_stop_steps(&f, UG_DOWNTIME, 1, &v, &s, err, sizeof(err)), 0);
	got = render(&s);
	CHECK_CONTAINS(got, "9 pg-b 17.3.7: skip auto-reconfigure\n"
	                    "9 pg-c 17.3.7: skip auto-reconfigure\n"
	                    "9 pg-a 17.3.7: skip auto-reconfigure\n"
	                    "10 pg-b 17.3.7: install 17.3.7\n"
	                    "10 pg-c 17.3.7: install 17.3.7\n"
	                    "10 pg-a 17.3.7: install 17.3.7\n");
	free(got);
	ug_steps_free(&s);

	/* A member whose check-leader failed may be the leader: after the
	 * replicas, before the leader, and a note says so. */
	nodes[1].pg_role = UG_PG_UNKNOWN;
	CHECK_EQ_INT(
	    ug_stop_steps(&f, UG_ZERO_DOWNTIME, 1, &v, &s, err, sizeof(err)),
	    0);
	got = render(&s);
	CHECK_CONTAINS(got, "7 pg-b 17.3.7: restart\n"
	                    "8 pg-c 17.3.7: skip auto-reconfigure\n");
	CHECK_CONTAINS(got, "11 pg-c 17.3.7: restart\n"
	                    "12 pg-a 17.3.7: skip auto-reconfigure\n");
	free(got);
	ug_steps_free(&s);
	CHECK_EQ_INT(ug_pg_note(&f, note, sizeof(note)), 0);
	nodes[2].pg_role = UG_PG_UNKNOWN;
	CHECK_EQ_INT(ug_pg_note(&f, note, sizeof(note)), 1);
	CHECK_CONTAINS(note,
	               "replicas go first, then pg-a pg-c (role unknown)");

	/* No role known: name order, and the plan says the leader is
	 * unknown. */
	nodes[4].pg_role = UG_PG_UNKNOWN;
	CHECK_EQ_INT(
	    ug_stop_steps(&f, UG_ZERO_DOWNTIME, 1, &v, &s, err, sizeof(err)),
	    0);
	got = render(&s);
	CHECK_CONTAINS(got, "4 pg-a 17.3.7: skip auto-reconfigure\n");
	CHECK_CONTAINS(got, "8 pg-b 17.3.7: skip auto-reconfigure\n");
	CHECK_CONTAINS(got, "12 pg-c 17.3.7: skip auto-reconfigure\n");
	free(got);
	ug_steps_free(&s);
	CHECK_EQ_INT(ug_pg_note(&f, note, sizeof(note)), 1);
	CHECK_CONTAINS(note, "Patroni leader");
	CHECK_CONTAINS(note, "name order");
	/* One PostgreSQL node: nothing to say. */
	f.n = 2;
	CHECK_EQ_INT(ug_pg_note(&f, note, sizeof(note)), 0);
	f.n = 5;

	/* Two leaders: a split brain, refused with both names. */
	nodes[1].pg_role = UG_PG_LEADER;
	nodes[2].pg_role = UG_PG_LEADER;
	nodes[4].pg_role = UG_PG_REPLICA;
	CHECK_EQ_INT(
	    ug_stop_steps(&f, UG_ZERO_DOWNTIME, 1, &v, &s, err, sizeof(err)),
	    LS_EINVAL);
	CHECK_CONTAINS(err, "more than one Patroni leader: pg-a pg-c");
	CHECK_CONTAINS(err, "split brain");
	ug_steps_free(&s);
	CHECK_EQ_INT(
	    ug_stop_steps(&f, UG_DOWNTIME, 1, &v, &s, err, sizeof(err)),
	    LS_EINVAL);
	ug_steps_free(&s);

	CHECK_EQ_INT(ug_pg_role_parse("leader"), UG_PG_LEADER);
	CHECK_EQ_INT(ug_pg_role_parse("replica"), UG_PG_REPLICA);
	CHECK_EQ_INT(ug_pg_role_parse("standby"), UG_PG_UNKNOWN);
	CHECK_EQ_INT(ug_pg_role_parse(NULL), UG_PG_UNKNOWN);
}

/* The registry's post-deployment migrations: one step, on the first
 * registry node by name, a phase after everything else; none without a
 * registry node. */
static void test_registry(void)
{
	struct ug_node nodes[] = {
	    node("rails-1", UG_RAILS, ""),
	    node("registry-2", UG_REGISTRY, ""),
	    node("registry-1", UG_REGISTRY, ""),
	};
	struct ug_fleet f = {nodes, 3, NULL, 0};
	struct ug_steps s = {0};
	struct ls_version v = {17, 8, 7};
	const struct ug_step *last;
	uint32_t before;
	char err[256];

	CHECK_EQ_INT(
	    ug_stop_steps(&f, UG_ZERO_DOWNTIME, 2, &v, &s, err, sizeof(err)),
	    0);
	before = s.v[s.n - 1].phase;
	CHECK_EQ_INT(ug_registry_step(&f, 2, &v, &s), 0);
	last = &s.v[s.n - 1];
	CHECK_EQ_INT(last->kind, UG_REGISTRY_MIGRATE);
	CHECK_STR(last->node, "registry-1");
	CHECK_STR(last->name, "17.8.7: registry post-deployment migrations "
	                      "(gitlab-ctl registry-database migrate up)");
	CHECK_EQ_INT(last->stop, 2);
	CHECK_EQ_INT(last->phase, before + 1);
	CHECK_EQ_INT(s.v[s.n - 2].kind, UG_CHECK);
	ug_steps_free(&s);
	f.n = 1;
	memset(&s, 0, sizeof(s));
	CHECK_EQ_INT(ug_registry_step(&f, 1, &v, &s), 0);
	CHECK_EQ_INT(s.n, 0);
	ug_steps_free(&s);
	CHECK_EQ_INT(ug_role_bit("registry"), UG_REGISTRY);
}

int main(void)
{
	test_zero_downtime();
	test_downtime();
	test_geo();
	test_no_rails();
	test_patroni();
	test_registry();
	return tu_done();
}
