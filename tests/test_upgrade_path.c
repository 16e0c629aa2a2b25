/*
 * upgrade_path: the path through GitLab's required stops, against the
 * real data/upgrade_path.yml and data/released-versions.txt and small
 * hand-made version lists. Every expected path was worked out by hand
 * from the rule of GitLab's upgrade path tool (upgrade_path.h).
 */
#include <string.h>

#include "ls_error.h"
#include "ls_util.h"
#include "testutil.h"
#include "upgrade_path.h"

#define STOPS_YML LS_SOURCE_DIR "/data/upgrade_path.yml"
#define RELEASED LS_SOURCE_DIR "/data/released-versions.txt"

static struct up_stops stops;
static struct up_available released;

static struct ls_version ver(const char *s)
{
	struct ls_version v;

	CHECK_EQ_INT(ls_version_parse(s, strlen(s), &v), 0);
	return v;
}

/* "a b c": the path's versions; "*" marks the current minor's patch. */
static void path_str(const struct up_path *p, char *out, size_t len)
{
	out[0] = '\0';
	for (size_t i = 0; i < p->n; i++) {
		char vs[LS_VERSION_STR_MAX];
		size_t used = strlen(out);

		ls_version_fmt(&p->steps[i].v, vs, sizeof(vs));
		snprintf(out + used, len - used, "%s%s%s", i ? " " : "", vs,
		         p->steps[i].why == UP_WHY_CURRENT_MINOR_PATCH ? "*"
		                                                       : "");
	}
}

static const char *notes_find(const struct up_path *p, const char *needle)
{
	for (size_t i = 0; i < p->nnotes; i++)
		if (strstr(p->notes[i], needle) != NULL)
			return p->notes[i];
	return NULL;
}

/* from -> to over a: the path and the conditional stops noted, as
 * space-separated lists. */
static void expect(const struct up_available *a, const char *from,
                   const char *to, const char *path, const char *cond)
{
	struct ls_version f = ver(from), t = ver(to);
	struct up_path p;
	char err[512], got[1024], notes[256] = "";

	CHECK_EQ_INT(up_path_compute(&stops, a, &f, &t, &p, err, sizeof(err)),
	             0);
	path_str(&p, got, sizeof(got));
	if (strcmp(got, path) != 0)
		fprintf(stderr, "%s -> %s\n", from, to);
	CHECK_STR(got, path);
	for (size_t i = 0; i < p.nnotes; i++) {
		const char *c = "conditional stop ";

		if (strncmp(p.notes[i], c, strlen(c)) == 0) {
			size_t used = strlen(notes);
			snprintf(notes + used, sizeof(notes) - used, "%s%.*s",
			         used ? " " : "",
			         (int)strcspn(p.notes[i] + strlen(c), ":"),
			         p.notes[i] + strlen(c));
		}
	}
	CHECK_STR(notes, cond);
	if (p.n > 0)
		CHECK_EQ_INT(p.steps[p.n - 1].why, UP_WHY_TARGET);
	up_path_free(&p);
}

static void expect_err(const struct up_available *a, const char *from,
                       const char *to, const char *w1, const char *w2)
{
	struct ls_version f = ver(from), t = ver(to);
	struct up_path p;
	char err[512];

	CHECK_EQ_INT(up_path_compute(&stops, a, &f, &t, &p, err, sizeof(err)),
	             LS_EINVAL);
	CHECK_CONTAINS(err, w1);
	CHECK_CONTAINS(err, w2);
	CHECK(p.n == 0 && p.steps == NULL && p.nnotes == 0);
}

static void list(struct up_available *a, const char *text)
{
	char err[256];

	memset(a, 0, sizeof(*a));
	CHECK_EQ_INT(
	    up_available_parse("list", text, strlen(text), a, err, sizeof(err)),
	    0);
}

static void test_released(void)
{
	const struct up_available *r = &released;

	/* 16.x -> 17.x: the older 16.3 patch goes to 16.3's latest first;
	 * 17.1 is in upgrade_path.yml, so the path goes through it. */
	expect(r, "16.3.5", "17.3.7", "16.3.9* 16.7.10 16.11.10 17.1.8 17.3.7",
	       "");
	expect(r, "16.11.10", "17.2.0", "17.1.8 17.2.0", "");
	/* 15.x -> 16.x, across the conditional 16.0-16.2 stops. */
	expect(r, "15.2.0", "16.5.0", "15.4.6 15.11.13 16.3.9 16.5.0",
	       "16.0.10 16.1.8 16.2.11");
	/* 17.x -> 18.x: X.2, X.5, X.8, X.11 from 17.5 on. */
	expect(r, "17.6.0", "18.3.0", "17.8.7 17.11.7 18.2.8 18.3.0", "");
	/* 15.x -> 18.x; 15.0.5 is 15.0's latest patch: no step for it. */
	expect(r, "15.0.5", "18.0.0",
	       "15.4.6 15.11.13 16.3.9 16.7.10 16.11.10 17.1.8 17.3.7 17.5.5 "
	       "17.8.7 17.11.7 18.0.0",
	       "15.1.6 16.0.10 16.1.8 16.2.11");
	expect(r, "15.0.0", "15.4.6", "15.0.5* 15.4.6", "15.1.6");
	/* The current version is a stop: its latest patch, then older. */
	expect(r, "16.7.10", "17.0.0", "16.11.10 17.0.0", "");
	expect(r, "16.7.2", "17.0.0", "16.7.10* 16.11.10 17.0.0", "");
	/* The target is a stop: its latest patch, or an older one. */
	expect(r, "16.4.0", "16.11.10", "16.7.10 16.11.10", "");
	expect(r, "16.4.0", "16.11.3", "16.7.10 16.11.3", "");
	/* Between stops. */
	expect(r, "17.6.0", "17.9.2", "17.8.7 17.9.2", "");
	/* Within one minor, and to the next patch. */
	expect(r, "16.3.5", "16.3.7", "16.3.7", "");
	expect(r, "16.3.5", "16.4.0", "16.3.9* 16.4.0", "");
	/* Conditional stops: an older patch of one counts as before it;
	 * a target inside one's minor does not go past it. */
	expect(r, "15.11.13", "16.3.9", "16.3.9", "16.0.10 16.1.8 16.2.11");
	expect(r, "16.0.5", "16.3.9", "16.3.9", "16.0.10 16.1.8 16.2.11");
	expect(r, "16.1.8", "16.3.9", "16.3.9", "16.2.11");
	expect(r, "15.11.13", "16.2.11", "16.2.11", "16.0.10 16.1.8");
	/* The current version is the latest patch of a stop: no step for
	 * its minor; to the next minor, or onto a stop. */
	expect(r, "17.1.8", "17.2.0", "17.2.0", "");
	expect(r, "17.11.7", "18.2.8", "18.2.8", "");
	expect(r, "15.4.6", "15.11.13", "15.11.13", "");
	/* An older patch of a stop from 17.5 on, to the next stop's minor. */
	expect(r, "18.2.1", "18.5.0", "18.2.8* 18.5.0", "");
	/* Within 18.x: every X.2, X.5, X.8 stop before the target. */
	expect(r, "18.0.0", "18.8.0", "18.2.8 18.5.7 18.8.0", "");
	/* 19.2.3 was never released: 19.2's latest is 19.2.4. */
	expect(r, "18.11.11", "19.3.0", "19.2.4 19.3.0", "");
}

static void test_comments(void)
{
	struct ls_version f = ver("16.11.10"), t = ver("17.5.5");
	struct up_path p;
	char err[256];

	CHECK_EQ_INT(
	    up_path_compute(&stops, &released, &f, &t, &p, err, sizeof(err)),
	    0);
	CHECK_EQ_INT(p.n, 3);
	if (p.n == 3) {
		CHECK_EQ_INT(p.steps[0].why, UP_WHY_STOP);
		CHECK_CONTAINS(p.steps[0].comment, "Conditional stop");
		CHECK_STR(p.steps[1].comment, "");
		/* The target's own stop comment comes with it. */
		CHECK_CONTAINS(p.steps[2].comment, "X.2, X.5, X.8 and X.11");
	}
	up_path_free(&p);
	CHECK_STR(up_why_str(UP_WHY_CURRENT_MINOR_PATCH),
	          "latest patch of your current minor");
}

static void test_small_lists(void)
{
	struct up_available a, ce;
	struct ls_version f = ver("16.3.9"), t = ver("17.0.0");
	struct up_path p;
	char err[256];

	/* No 16.7 in the repository: GitLab's tool skips it; we say so. */
	list(&a, "17.0.0\n16.11.10\n16.3.9\n16.4.0\n16.11.2\n");
	expect(&a, "16.3.9", "17.0.0", "16.11.10 17.0.0", "");
	CHECK_EQ_INT(up_path_compute(&stops, &a, &f, &t, &p, err, sizeof(err)),
	             0);
	CHECK(notes_find(&p, "required stop 16.7 skipped") != NULL);
	up_path_free(&p);
	/* A repository that lacks the latest patches: each stop resolves
	 * to the latest it has (16.3.7, 16.7.3, 16.11.5). */
	{
		struct up_available m;
		list(&m, "16.3.5\n16.3.7\n16.7.3\n16.11.5\n17.0.0\n");
		expect(&m, "16.3.5", "17.0.0", "16.3.7* 16.7.3 16.11.5 17.0.0",
		       "");
		expect(&m, "16.3.7", "17.0.0", "16.7.3 16.11.5 17.0.0", "");
		/* Its newest is not the released one: 16.7.10 is unknown here.
		 */
		expect_err(&m, "16.3.7", "16.7.10", "16.7.10",
		           "not in the available");
		up_available_free(&m);
	}
	/* Latest of 16.11 here is 16.11.10 whatever the order in the file. */
	expect(&a, "16.4.0", "16.11.2", "16.11.2", "");
	up_available_free(&a);

	/* EE and CE share paths, whatever the list's form. */
	list(&a, " gitlab-ee | 16.7.10-ee.0 | https://packages.gitlab.com/x "
	         "Packages\n"
	         " gitlab-ee | 16.7.3-ee.0 | https://packages.gitlab.com/x "
	         "Packages\n"
	         " gitlab-ee | 16.3.5-ee.0 | https://packages.gitlab.com/x "
	         "Packages\n"
	         " gitlab-ee | 16.3.9-ee.0 | https://packages.gitlab.com/x "
	         "Packages\n"
	         " gitlab-ee | 16.8.0-ee.0 | https://packages.gitlab.com/x "
	         "Packages\n");
	list(&ce, "Last metadata expiration check: 0:01:02 ago.\n"
	          "Available Packages\n"
	          "gitlab-ce.x86_64  16.3.5-ce.0.el8  gitlab_gitlab-ce\n"
	          "gitlab-ce.x86_64  16.3.9-ce.0.el8  gitlab_gitlab-ce\n"
	          "gitlab-ce.x86_64  16.7.3-ce.0.el8  gitlab_gitlab-ce\n"
	          "gitlab-ce.x86_64  16.7.10-ce.0.el8  gitlab_gitlab-ce\n"
	          "gitlab-ce.x86_64  16.8.0-ce.0.el8  gitlab_gitlab-ce\n");
	expect(&a, "16.3.5", "16.8.0", "16.3.9* 16.7.10 16.8.0", "");
	expect(&ce, "16.3.5", "16.8.0", "16.3.9* 16.7.10 16.8.0", "");
	CHECK_STR(
	    up_available_find(&a, &(struct ls_version){16, 7, 10})->pkgver,
	    "16.7.10-ee.0");
	CHECK_STR(
	    up_available_find(&ce, &(struct ls_version){16, 7, 10})->pkgver,
	    "16.7.10-ce.0.el8");
	up_available_free(&a);
	up_available_free(&ce);
}

static void test_errors(void)
{
	struct ls_version v = ver("17.3.7");
	struct up_path p;
	char err[256];

	expect_err(&released, "17.3.7", "16.3.9", "downgrade",
	           "lockstep rollback");
	expect_err(&released, "17.3.99", "18.0.0", "17.3.99",
	           "not in the available");
	expect_err(&released, "17.2.6", "18.0.0", "17.2.6",
	           "not in the available");
	expect_err(&released, "17.3.7", "18.0.99", "18.0.99",
	           "not in the available");
	CHECK_EQ_INT(
	    up_path_compute(&stops, &released, &v, &v, &p, err, sizeof(err)),
	    0);
	CHECK_EQ_INT(p.n, 0);
	CHECK_EQ_INT(p.nnotes, 1);
	CHECK(notes_find(&p, "already at 17.3.7") != NULL);
	up_path_free(&p);
}

static void stops_bad(const char *yml, const char *want)
{
	struct up_stops s;
	char err[256] = "";

	CHECK_EQ_INT(
	    up_stops_parse("t.yml", yml, strlen(yml), &s, err, sizeof(err)),
	    LS_EINVAL);
	CHECK_CONTAINS(err, want);
	CHECK(s.v == NULL && s.n == 0);
}

static void test_stops_file(void)
{
	struct up_stops s;
	char err[256], big[400];
	const char *ok = "# stops\n- major: 16\n  minor: 7\n"
	                 "- major: 16\n  minor: 3\n  comments: \"see x\"\n"
	                 "- {major: 17, minor: 1, comments: ~, since: 2024}\n";

	CHECK_EQ_INT(stops.n >= 30, 1);
	CHECK_EQ_INT(stops.v[0].major, 8);
	CHECK_EQ_INT(stops.v[0].minor, 11);
	CHECK_EQ_INT(
	    up_stops_parse("t.yml", ok, strlen(ok), &s, err, sizeof(err)), 0);
	CHECK_EQ_INT(s.n, 3);
	if (s.n == 3) {
		/* Sorted; unknown keys and a null comment are fine. */
		CHECK_EQ_INT(s.v[0].minor, 3);
		CHECK_STR(s.v[0].comment, "see x");
		CHECK_EQ_INT(s.v[2].major, 17);
		CHECK_STR(s.v[2].comment, "");
	}
	up_stops_free(&s);

	stops_bad("- major: 16\n  minor: 3\n- major: 16\n", "t.yml:3:");
	stops_bad("- major: 16\n  minor: 3\n- major: 16\n", "without 'minor'");
	stops_bad("- minor: 3\n", "without 'major'");
	stops_bad("- major: 16\n  minor: x\n", "t.yml:2: 'minor' must be");
	stops_bad("- major: 16\n  minor: \"3\"\n", "t.yml:2:");
	stops_bad("- major: 16\n  minor: -3\n", "t.yml:2:");
	stops_bad("- major: 16\n  minor: 100000\n", "t.yml:2:");
	stops_bad("- major: 16\n  minor: [3]\n", "t.yml:2:");
	stops_bad("major: 16\nminor: 3\n", "t.yml:1: expected a YAML sequence");
	stops_bad("", "t.yml:1: expected a YAML sequence");
	stops_bad("[]\n", "no stops");
	stops_bad("- 16.3\n", "t.yml:1: expected a map");
	stops_bad("- major: 16\n  minor: 3\n  major: 17\n", "t.yml:3:");
	stops_bad("- major: 16\n  minor: [3\n", "t.yml:");
	stops_bad("- major: 16\n  minor: 3\n- major: 16\n  minor: 3\n",
	          "16.3 listed twice");
	stops_bad("- major: 16\n  minor: 3\n---\n- major: 17\n  minor: 1\n",
	          "t.yml:4: more than one YAML document");
	stops_bad("- major: 16\n  minor: 3\n  comments: [a]\n", "t.yml:3:");
	memset(big, 'x', sizeof(big));
	snprintf(big, sizeof(big), "- major: 1\n  minor: 2\n  comments: ");
	big[strlen(big)] = 'x';
	big[sizeof(big) - 2] = '\n';
	big[sizeof(big) - 1] = '\0';
	stops_bad(big, "t.yml:3: 'comments' longer than 255");

	CHECK(up_stops_load("/nonexistent/upgrade_path.yml", &s, err,
	                    sizeof(err)) < 0);
	CHECK_CONTAINS(err, "/nonexistent/upgrade_path.yml");
}

static void test_available_file(void)
{
	struct up_available a;
	char err[256];
	const char *bad = "# list\n17.3.1\n\nfoo bar\n";

	CHECK(released.n > 1000);
	for (size_t i = 1; i < released.n; i++)
		CHECK(ls_version_cmp(&released.v[i - 1].v, &released.v[i].v) <
		      0);
	CHECK(up_available_find(&released, &(struct ls_version){17, 2, 6}) ==
	      NULL);

	memset(&a, 0, sizeof(a));
	CHECK_EQ_INT(
	    up_available_parse("a.txt", bad, strlen(bad), &a, err, sizeof(err)),
	    LS_EINVAL);
	CHECK_CONTAINS(err, "a.txt:4: ");
	CHECK(a.v == NULL && a.n == 0);
	CHECK_EQ_INT(
	    up_available_parse("a.txt", "# none\n\n", 8, &a, err, sizeof(err)),
	    LS_EINVAL);
	CHECK_CONTAINS(err, "a.txt: no release versions");
	CHECK_EQ_INT(
	    up_available_parse("a.txt", "17.3\n", 5, &a, err, sizeof(err)),
	    LS_EINVAL);
	CHECK_CONTAINS(err, "a.txt:1: '17.3' is not a version");

	/* Duplicates kept once, order restored, pre-releases skipped. */
	list(&a, "17.3.1-ee.0\n17.1.0\n17.3.1\n17.2.0-rc1.ee.0\n17.2.0-ee\n");
	CHECK_EQ_INT(a.n, 3);
	if (a.n == 3) {
		CHECK_EQ_INT(a.v[0].v.minor, 1);
		CHECK_STR(a.v[1].pkgver, "17.2.0-ee");
		CHECK_STR(a.v[2].pkgver, "17.3.1-ee.0");
	}
	up_available_free(&a);
	CHECK(up_available_load("/nonexistent/versions.txt", &a, err,
	                        sizeof(err)) < 0);
	CHECK_CONTAINS(err, "/nonexistent/versions.txt");
}

static void test_data_path(void)
{
	char out[LS_PATH_MAX];
	size_t n;

	CHECK_EQ_INT(up_data_path(UP_STOPS_FILE, out, sizeof(out)), 0);
	n = strlen(out);
	CHECK(n > strlen("/lockstep/" UP_STOPS_FILE) &&
	      strcmp(out + n - strlen("/lockstep/" UP_STOPS_FILE),
	             "/lockstep/" UP_STOPS_FILE) == 0);
	CHECK_EQ_INT(up_data_path(UP_STOPS_FILE, out, 8), LS_ETOOBIG);
}

int main(void)
{
	char err[512];

	if (up_stops_load(STOPS_YML, &stops, err, sizeof(err)) < 0 ||
	    up_available_load(RELEASED, &released, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	test_released();
	test_comments();
	test_small_lists();
	test_errors();
	test_stops_file();
	test_available_file();
	test_data_path();
	up_stops_free(&stops);
	up_available_free(&released);
	return tu_done();
}
