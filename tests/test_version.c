/* ls_version: X.Y.Z, package suffixes and available-versions lines. */
#include <string.h>

#include "ls_error.h"
#include "ls_version.h"
#include "testutil.h"

static void line_ok(const char *in, const char *ver, const char *pkgver,
                    const char *package)
{
	struct ls_version_line l;
	char why[128], got[LS_VERSION_STR_MAX];
	int rv = ls_version_parse_line(in, strlen(in), &l, why, sizeof(why));

	if (rv != 1)
		fprintf(stderr, "'%s': %d %s\n", in, rv, why);
	CHECK_EQ_INT(rv, 1);
	ls_version_fmt(&l.v, got, sizeof(got));
	CHECK_STR(got, ver);
	CHECK_STR(l.pkgver, pkgver);
	CHECK_STR(l.package, package);
}

static void line_skip(const char *in)
{
	struct ls_version_line l;
	char why[128];

	CHECK_EQ_INT(
	    ls_version_parse_line(in, strlen(in), &l, why, sizeof(why)), 0);
}

static void line_bad(const char *in)
{
	struct ls_version_line l;
	char why[128] = "";

	CHECK_EQ_INT(
	    ls_version_parse_line(in, strlen(in), &l, why, sizeof(why)),
	    LS_EINVAL);
	CHECK(why[0] != '\0');
}

static void test_plain(void)
{
	struct ls_version a, b;

	CHECK_EQ_INT(ls_version_parse("17.3.1", 6, &a), 0);
	CHECK_EQ_INT(ls_version_parse("17.10.0", 7, &b), 0);
	CHECK(ls_version_cmp(&a, &b) < 0);
	CHECK(ls_version_cmp(&b, &a) > 0);
	CHECK_EQ_INT(ls_version_cmp(&a, &a), 0);
	CHECK_EQ_INT(ls_version_parse("17.3", 4, &a), LS_EINVAL);
	CHECK_EQ_INT(ls_version_parse("17.03.1", 7, &a), LS_EINVAL);
	CHECK_EQ_INT(ls_version_parse("17.3.1-ee", 9, &a), LS_EINVAL);
	CHECK_EQ_INT(ls_version_parse("123456.1.1", 10, &a), LS_EINVAL);
	CHECK_EQ_INT(ls_version_parse("", 0, &a), LS_EINVAL);
}

static void test_lines(void)
{
	line_ok("17.3.1", "17.3.1", "17.3.1", "");
	line_ok("  17.3.1-ee\r\n", "17.3.1", "17.3.1-ee", "");
	line_ok("16.11.10-ce.0", "16.11.10", "16.11.10-ce.0", "");
	line_ok(" gitlab-ee | 17.3.1-ee.0 | https://packages.gitlab.com/gitlab/"
	        "gitlab-ee/debian bookworm/main amd64 Packages",
	        "17.3.1", "17.3.1-ee.0", "gitlab-ee");
	line_ok("gitlab-ce.x86_64      16.3.9-ce.0.el8     gitlab_gitlab-ce",
	        "16.3.9", "16.3.9-ce.0.el8", "gitlab-ce");
	line_ok("gitlab-ee.x86_64  17.2.0-ee.0.el8  @gitlab_gitlab-ee",
	        "17.2.0", "17.2.0-ee.0.el8", "gitlab-ee");
	line_skip("");
	line_skip("   ");
	line_skip("# a comment 1.2.3");
	line_skip("Available Packages");
	line_skip("Last metadata expiration check: 0:01:02 ago on Mon 3 Aug.");
	line_skip(
	    " gitlab-ee | 17.3.0-rc42.ee.0 | https://x unstable Packages");
	line_skip("17.8.2+rc1.ee.0");
	line_bad("17.3");
	line_bad("gitlab-ee 17.3.1");
	line_bad(" gitlab-ee | 17.3.1-ee.0");
	line_bad(" gitlab ee | 17.3.1 | x");
	line_bad("17.3.1 ee");
	line_bad("17.3.1-");
	line_bad("17.3.1-ee$");
	line_bad("gitlab-ee.x86_64 seventeen repo");
}

int main(void)
{
	test_plain();
	test_lines();
	return tu_done();
}
