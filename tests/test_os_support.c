/*
 * os_support: GitLab's supported operating systems table. The checks run
 * against the shipped data/supported-os.txt (each expected answer is read
 * off the table's sources by hand), then against small hand-made tables
 * for the parser's errors, which must name file:line.
 */
#include <stdio.h>
#include <string.h>

#include "ls_error.h"
#include "ls_util.h"
#include "os_support.h"
#include "testutil.h"

#define SUPPORTED_OS LS_SOURCE_DIR "/data/supported-os.txt"

static struct ls_version ver(const char *s)
{
	struct ls_version v;

	CHECK_EQ_INT(ls_version_parse(s, strlen(s), &v), 0);
	return v;
}

static void test_shipped(const struct os_support *s)
{
	static const struct {
		const char *id, *vid, *version;
		int want;
		const char *last;
	} cases[] = {
	    /* Supported: within FIRST..LAST, or still supported. */
	    {"ubuntu", "22.04", "17.3.1", 1, ""},
	    {"ubuntu", "24.04", "17.1.0", 1, ""},
	    {"debian", "12", "18.2.3", 1, ""},
	    {"ubuntu", "18.04", "16.11.10", 1, "16.11"},
	    {"ubuntu", "20.04", "18.11.0", 1, "18.11"},
	    {"centos", "7", "17.7.7", 1, "17.7"},
	    {"opensuse-leap", "15.6", "18.0.0", 1, ""},
	    {"amzn", "2023", "16.3.0", 1, ""},
	    /* A point release of a major-only row (RHEL-alikes). */
	    {"rhel", "9.4", "17.0.0", 1, ""},
	    {"almalinux", "8.10", "15.11.13", 1, ""},
	    {"ol", "7.9", "17.8.0", 0, "17.7"},
	    /* Past the last. */
	    {"ubuntu", "18.04", "17.0.0", 0, "16.11"},
	    {"ubuntu", "16.04", "14.0.12", 0, "13.12"},
	    {"ubuntu", "20.04", "19.0.0", 0, "18.11"},
	    {"debian", "10", "17.6.0", 0, "17.5"},
	    {"debian", "9", "16.0.0", 0, "15.2"},
	    {"centos", "7", "18.0.0", 0, "17.7"},
	    {"opensuse-leap", "15.5", "17.9.1", 0, "17.8"},
	    {"raspbian", "11", "18.0.0", 0, "17.11"},
	    /* Before the first: last names the first. */
	    {"ubuntu", "24.04", "17.0.8", 0, "17.1"},
	    {"debian", "13", "18.4.2", 0, "18.5"},
	    {"rhel", "9", "15.11.0", 0, "16.0"},
	    {"amzn", "2023", "16.2.9", 0, "16.3"},
	    /* Not in the table. */
	    {"ubuntu", "23.10", "17.0.0", LS_ENOENT, ""},
	    {"fedora", "40", "17.0.0", LS_ENOENT, ""},
	    {"rhel", "6.10", "13.0.0", LS_ENOENT, ""},
	    {"opensuse-leap", "15.6.1", "17.6.0", LS_ENOENT, ""},
	    {"", "", "17.0.0", LS_ENOENT, ""},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ls_version v = ver(cases[i].version);
		char last[LS_VERSION_STR_MAX] = "junk";
		int rv = os_support_check(s, cases[i].id, cases[i].vid, &v,
		                          last, sizeof(last));

		if (rv != cases[i].want || strcmp(last, cases[i].last) != 0)
			fprintf(stderr, "case %zu: %s %s at %s\n", i,
			        cases[i].id, cases[i].vid, cases[i].version);
		CHECK_EQ_INT(rv, cases[i].want);
		CHECK_STR(last, cases[i].last);
	}
}

static void test_check_args(const struct os_support *s)
{
	struct ls_version v = ver("17.0.0");
	char last[3];

	/* "16.11" does not fit in 3 bytes. */
	CHECK_EQ_INT(
	    os_support_check(s, "ubuntu", "18.04", &v, last, sizeof(last)),
	    LS_ETOOBIG);
	CHECK_EQ_INT(os_support_check(s, NULL, "18.04", &v, last, sizeof(last)),
	             LS_EINVAL);
	CHECK_EQ_INT(
	    os_support_check(s, "ubuntu", "18.04", NULL, last, sizeof(last)),
	    LS_EINVAL);
}

static void test_malformed(void)
{
	static const struct {
		const char *text, *err;
		int want;
	} cases[] = {
	    {"# c\nubuntu 22.04 15.5 -\n", NULL, 0},
	    {"  # indented comment\n\nubuntu\t22.04  15.5\t-  \r\n", NULL, 0},
	    {"# header\nubuntu 22.04 15.5\n", "t.txt:2: expected 4 fields",
	     LS_EINVAL},
	    {"ubuntu 22.04 15.5 - extra\n", "t.txt:1: more than 4 fields",
	     LS_EINVAL},
	    {"\n\nUbuntu 22.04 15.5 -\n", "t.txt:3: ID is not", LS_EINVAL},
	    {"ubuntu 22/04 15.5 -\n", "t.txt:1: VERSION_ID is not", LS_EINVAL},
	    {"ubuntu 22.04 15 -\n", "t.txt:1: FIRST is not", LS_EINVAL},
	    {"ubuntu 22.04 15.5.0 -\n", "t.txt:1: FIRST is not", LS_EINVAL},
	    {"ubuntu 22.04 015.5 -\n", "t.txt:1: FIRST is not", LS_EINVAL},
	    {"ubuntu 22.04 15.5 x\n", "t.txt:1: LAST is not", LS_EINVAL},
	    {"ubuntu 22.04 15.5 15.4\n", "t.txt:1: LAST is older than FIRST",
	     LS_EINVAL},
	    {"ubuntu 22.04 15.5 -\nubuntu 22.04 15.6 -\n",
	     "t.txt:2: ubuntu 22.04 listed twice", LS_EINVAL},
	    {"# only comments\n\n", "t.txt: no OS releases", LS_EINVAL},
	    {"", "t.txt: no OS releases", LS_EINVAL},
	};
	char err[256];
	struct os_support s;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rv = os_support_parse("t.txt", cases[i].text,
		                          strlen(cases[i].text), &s, err,
		                          sizeof(err));

		if (rv != cases[i].want)
			fprintf(stderr, "malformed case %zu: %s\n", i, err);
		CHECK_EQ_INT(rv, cases[i].want);
		if (cases[i].err != NULL) {
			CHECK_CONTAINS(err, cases[i].err);
			CHECK(s.v == NULL && s.n == 0);
		} else {
			CHECK_EQ_INT(s.n, 1);
		}
		os_support_free(&s);
	}
}

static void test_bounds(void)
{
	static char big[OS_SUPPORT_FILE_MAX + 64];
	char err[256];
	struct os_support s;
	size_t n = 0;
	int i;

	/* A line longer than the cap, on line 2. */
	n = (size_t)snprintf(big, sizeof(big), "ubuntu 22.04 15.5 -\n");
	memset(big + n, ' ', OS_SUPPORT_LINE_MAX + 1);
	n += OS_SUPPORT_LINE_MAX + 1;
	CHECK_EQ_INT(os_support_parse("b.txt", big, n, &s, err, sizeof(err)),
	             LS_ETOOBIG);
	CHECK_CONTAINS(err, "b.txt:2: longer than");

	/* More rows than the cap. */
	n = 0;
	for (i = 0; i <= OS_SUPPORT_MAX; i++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, "x %d 1.0 -\n",
		                      i);
	CHECK_EQ_INT(os_support_parse("b.txt", big, n, &s, err, sizeof(err)),
	             LS_ETOOBIG);
	CHECK_CONTAINS(err, "b.txt:1001: more than");

	/* A file over the cap, and a NUL byte. */
	CHECK_EQ_INT(
	    os_support_parse("b.txt", big, sizeof(big), &s, err, sizeof(err)),
	    LS_ETOOBIG);
	CHECK_EQ_INT(os_support_parse("b.txt", "ubuntu 22.04\0 15.5 -\n", 21,
	                              &s, err, sizeof(err)),
	             LS_EINVAL);
	CHECK_CONTAINS(err, "NUL");

	CHECK(os_support_load("/nonexistent/supported-os.txt", &s, err,
	                      sizeof(err)) < 0);
	CHECK_CONTAINS(err, "/nonexistent/supported-os.txt");
	CHECK(s.v == NULL && s.n == 0);
}

static void test_data_path(void)
{
	const char *p = os_support_data_path();
	size_t n;

	CHECK(p != NULL);
	if (p == NULL)
		return;
	n = strlen(p);
	CHECK(n > strlen("/lockstep/" OS_SUPPORT_FILE) &&
	      strcmp(p + n - strlen("/lockstep/" OS_SUPPORT_FILE),
	             "/lockstep/" OS_SUPPORT_FILE) == 0);
}

int main(void)
{
	struct os_support s;
	char err[512];

	if (os_support_load(SUPPORTED_OS, &s, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	test_shipped(&s);
	test_check_args(&s);
	os_support_free(&s);
	test_malformed();
	test_bounds();
	test_data_path();
	return tu_done();
}
