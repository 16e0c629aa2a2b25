/* build_version and version-manifest parsing. */
#include <string.h>

#include "check_version_parse.h"
#include "ls_error.h"
#include "testutil.h"

static void expect(const char *in, const char *version, const char *edition,
                   const char *package)
{
	struct gitlab_version v;
	int rv = check_version_parse_build(in, strlen(in), &v);

	CHECK_EQ_INT(rv, 0);
	CHECK_STR(v.version, version);
	CHECK_STR(v.edition, edition);
	CHECK_STR(v.package, package);
}

static void reject(const char *in)
{
	struct gitlab_version v;
	int rv = check_version_parse_build(in, strlen(in), &v);

	if (rv != LS_EINVAL)
		fprintf(stderr, "accepted '%s'\n", in);
	CHECK_EQ_INT(rv, LS_EINVAL);
	CHECK_STR(v.version, "");
}

static void test_build_forms(void)
{
	struct gitlab_version v;

	expect("17.8.2", "17.8.2", "", "");
	expect("17.8.2-ee", "17.8.2", "ee", "gitlab-ee");
	expect("17.8.2+ee.0", "17.8.2", "ee", "gitlab-ee");
	expect("17.8.2-ee.0", "17.8.2", "ee", "gitlab-ee");
	expect("17.8.2+rc1.ee.0", "17.8.2", "ee", "gitlab-ee");
	expect("17.8.2+ce.0", "17.8.2", "ce", "gitlab-ce");
	expect("17.8.2-ce", "17.8.2", "ce", "gitlab-ce");
	expect("16.11.10+ee.0", "16.11.10", "ee", "gitlab-ee");
	expect("18.0.0-rc42", "18.0.0", "", "");
	expect("0.0.0", "0.0.0", "", "");

	CHECK_EQ_INT(check_version_parse_build("17.8.2+rc1.ee.0", 15, &v), 0);
	CHECK_EQ_INT(v.major, 17);
	CHECK_EQ_INT(v.minor, 8);
	CHECK_EQ_INT(v.patch, 2);
	/* Length-bounded: the bytes after len are not read. */
	CHECK_EQ_INT(check_version_parse_build("17.8.2-ee", 6, &v), 0);
	CHECK_STR(v.version, "17.8.2");
	CHECK_STR(v.edition, "");
}

static void test_build_malformed(void)
{
	struct gitlab_version v;

	reject("");
	reject("17");
	reject("17.8");
	reject("17.8.");
	reject("17.8.2.");
	reject("17.8.2.1");
	reject("v17.8.2");
	reject(" 17.8.2");
	reject("17.8.2 ");
	reject("17.8.2-");
	reject("17.8.2+");
	reject("17.8.2-ee.");
	reject("17.8.2-ee..0");
	reject("17.8.2_ee");
	reject("17.8.2-ee.ce");
	reject("17.08.2");
	reject("123456.1.1");
	reject("17.8.x");
	reject("-17.8.2");
	reject("17.8.2-e e");
	CHECK_EQ_INT(check_version_parse_build("17.8\0.2", 7, &v), LS_EINVAL);
	CHECK_EQ_INT(check_version_parse_build(NULL, 0, &v), LS_EINVAL);
}

static void test_manifest_json(void)
{
	struct gitlab_version v;
	const char *good = "{\"manifest_format\": 2, \"software\": {}, "
	                   "\"build_version\": \"17.8.2+ee.0\", "
	                   "\"build_git_revision\": \"abc\"}";
	const char *plain = "{\"build_version\":\"17.8.2\"}";

	CHECK_EQ_INT(check_version_parse_manifest_json(good, strlen(good), &v),
	             0);
	CHECK_STR(v.version, "17.8.2");
	CHECK_STR(v.edition, "ee");
	CHECK_EQ_INT(
	    check_version_parse_manifest_json(plain, strlen(plain), &v), 0);
	CHECK_STR(v.edition, "");

	CHECK_EQ_INT(check_version_parse_manifest_json("", 0, &v), LS_EINVAL);
	CHECK_EQ_INT(check_version_parse_manifest_json("{", 1, &v), LS_EINVAL);
	CHECK_EQ_INT(check_version_parse_manifest_json("[]", 2, &v), LS_EINVAL);
	CHECK_EQ_INT(check_version_parse_manifest_json("{}", 2, &v), LS_EINVAL);
	CHECK_EQ_INT(check_version_parse_manifest_json(
	                 "{\"build_version\": 17}", 20, &v),
	             LS_EINVAL);
	CHECK_EQ_INT(check_version_parse_manifest_json(
	                 "{\"build_version\": \"garbage\"}", 28, &v),
	             LS_EINVAL);
}

static void test_manifest_txt(void)
{
	struct gitlab_version v;
	const char *ee = "gitlab-ee 17.8.2\n\nalertmanager v0.27.0 ...\n";
	const char *ce = "gitlab-ce 17.8.2";

	memset(&v, 0, sizeof(v));
	CHECK_EQ_INT(check_version_parse_manifest_txt(ee, strlen(ee), &v), 0);
	CHECK_STR(v.package, "gitlab-ee");
	CHECK_STR(v.edition, "ee");
	CHECK_EQ_INT(check_version_parse_manifest_txt(ce, strlen(ce), &v), 0);
	CHECK_STR(v.package, "gitlab-ce");
	CHECK_STR(v.edition, "ce");

	memset(&v, 0, sizeof(v));
	CHECK_EQ_INT(check_version_parse_manifest_txt("", 0, &v), LS_EINVAL);
	CHECK_EQ_INT(check_version_parse_manifest_txt("gitlab-ee", 9, &v),
	             LS_EINVAL);
	CHECK_EQ_INT(
	    check_version_parse_manifest_txt("gitlab-xx 17.8.2", 16, &v),
	    LS_EINVAL);
	CHECK_EQ_INT(
	    check_version_parse_manifest_txt("\ngitlab-ee 17.8.2", 17, &v),
	    LS_EINVAL);
	CHECK_STR(v.edition, "");
}

int main(void)
{
	test_build_forms();
	test_build_malformed();
	test_manifest_json();
	test_manifest_txt();
	return tu_done();
}
