/*
 * GitLab release versions (X.Y.Z) and the lines package managers print
 * about them. Pure functions over buffers, unit-tested and fuzzed: they
 * read `apt-cache madison`, `yum --showduplicates list` and files people
 * write by hand.
 */
#ifndef LS_VERSION_H
#define LS_VERSION_H

#include <stddef.h>

/* A package's own version string: "17.3.1-ee.0", "17.3.1-ee.0.el8". */
#define LS_PKGVER_MAX 64
#define LS_VERSION_STR_MAX 24 /* "99999.99999.99999" and a NUL */

struct ls_version {
	int major, minor, patch;
};

/* Exactly "X.Y.Z" (each 0-99999, no leading zeros) within s[0..len). */
int ls_version_parse(const char *s, size_t len, struct ls_version *v);
/* <0, 0, >0 as a is older than, equal to, newer than b. */
int ls_version_cmp(const struct ls_version *a, const struct ls_version *b);
/* Major and minor only. */
int ls_version_cmp_minor(const struct ls_version *a,
                         const struct ls_version *b);
void ls_version_fmt(const struct ls_version *v, char *buf, size_t len);

/*
 * "X.Y.Z" followed by nothing or by a package suffix ("-ee", "-ce.0",
 * "-ee.0.el8", "+ee.0"). Returns 1 with v set for a release, 0 for a
 * pre-release ("17.3.0-rc42.ee.0", "+rc1"), LS_EINVAL otherwise.
 */
int ls_version_parse_pkg(const char *s, size_t len, struct ls_version *v);

struct ls_version_line {
	struct ls_version v;
	char pkgver[LS_PKGVER_MAX]; /* the version as the package manager
	                               spells it ("17.3.1-ee.0"), for install */
	char package[32];           /* "gitlab-ee", or "" when the line has
	                               no package name */
};

/*
 * One line of a list of available versions, in any of these forms:
 *   17.3.1                                   (plain; "-ee"/"-ce" and a
 *   17.3.1-ee.0                               package revision accepted)
 *    gitlab-ee | 17.3.1-ee.0 | https://packages.gitlab.com/... Packages
 *   gitlab-ee.x86_64   17.3.1-ee.0.el8   gitlab_gitlab-ee
 * Returns 1 with out set, 0 for a line that names no release (blank, a
 * '#' comment, yum's headings such as "Available Packages" and its
 * "Last metadata expiration check" line, a pre-release), LS_EINVAL for
 * anything else, with why set to a short reason.
 */
int ls_version_parse_line(const char *line, size_t len,
                          struct ls_version_line *out, char *why,
                          size_t whylen);

#endif
