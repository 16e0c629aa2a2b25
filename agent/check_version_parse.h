/*
 * Parsers for the Linux package's version files: build_version in
 * version-manifest.json and the first line of version-manifest.txt. Pure
 * functions over buffers, unit-tested and fuzzed.
 */
#ifndef CHECK_VERSION_PARSE_H
#define CHECK_VERSION_PARSE_H

#include <stddef.h>

struct gitlab_version {
	char version[24]; /* "17.8.2" */
	char edition[3];  /* "ee", "ce", or "" when the input does not say */
	char package[10]; /* "gitlab-ee", "gitlab-ce", or "" */
	int major, minor, patch;
};

/*
 * build_version forms: 17.8.2, 17.8.2-ee, 17.8.2+ee.0, 17.8.2-ee.0,
 * 17.8.2+rc1.ee.0, 17.8.2+ce.0. Fills version and numbers, and edition and
 * package when the suffix names one. Returns 0 or LS_EINVAL.
 */
int check_version_parse_build(const char *s, size_t len,
                              struct gitlab_version *v);

/* version-manifest.json contents: an object with a build_version string. */
int check_version_parse_manifest_json(const char *buf, size_t len,
                                      struct gitlab_version *v);

/*
 * First line of version-manifest.txt, "gitlab-ee 17.8.2": sets package and
 * edition only (the version comes from build_version). LS_EINVAL when the
 * line does not name gitlab-ee or gitlab-ce.
 */
int check_version_parse_manifest_txt(const char *buf, size_t len,
                                     struct gitlab_version *v);

#endif
