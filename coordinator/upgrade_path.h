/*
 * The GitLab upgrade path: from the current version to a target through
 * GitLab's required upgrade stops, computed exactly as GitLab's own upgrade
 * path tool does (gitlab-com/support/toolbox/upgrade-path, src/store/list.js):
 *
 *  - each stop of config/upgrade_path.yml resolves to the latest released
 *    patch of its major.minor among the versions the package repository
 *    offers; a stop with no such version is skipped;
 *  - the path is every resolved stop strictly after the current version and
 *    strictly before the target, in order, then the target exactly as given.
 *
 * Pure functions over buffers (and two file loaders): `lockstep upgrade
 * path` prints the result, `upgrade plan` and `upgrade run` build on it.
 */
#ifndef UPGRADE_PATH_H
#define UPGRADE_PATH_H

#include <stddef.h>

#include "ls_version.h"

/* Hard caps on what we read: GitLab's files are a few KiB. */
#define UP_STOPS_FILE_MAX (1024 * 1024)
#define UP_STOPS_MAX 1000
#define UP_AVAILABLE_FILE_MAX (8 * 1024 * 1024)
#define UP_AVAILABLE_MAX 100000
#define UP_COMMENT_MAX 256

/* The file names shipped in share/lockstep/. */
#define UP_STOPS_FILE "upgrade_path.yml"
#define UP_RELEASED_FILE "released-versions.txt"

struct up_stop {
	int major, minor;
	char comment[UP_COMMENT_MAX]; /* the stop's `comments`, or "" */
};

struct up_stops {
	struct up_stop *v; /* ascending, unique */
	size_t n;
};

/*
 * upgrade_path.yml: a YAML sequence of maps {major, minor, comments?}.
 * Keys other than those three are ignored, so that a refreshed copy of
 * GitLab's file still loads. Returns 0, or LS_EINVAL (LS_ETOOBIG, -errno
 * for the file) with err "NAME:LINE: why". s is zeroed first and left
 * empty on failure.
 */
int up_stops_parse(const char *name, const char *buf, size_t len,
                   struct up_stops *s, char *err, size_t errlen);
int up_stops_load(const char *path, struct up_stops *s, char *err,
                  size_t errlen);
void up_stops_free(struct up_stops *s);

struct up_available {
	struct ls_version_line *v; /* ascending by X.Y.Z, unique */
	size_t n, cap;
};

/*
 * A list of available versions, one per line, in any form
 * ls_version_parse_line reads (plain, `apt-cache madison`, `yum
 * --showduplicates list`). Adds to a (zeroed by the caller, or holding
 * earlier versions). LS_EINVAL with err "NAME:LINE: why" for a line that
 * is not a version, or "NAME: no release versions" when nothing was read;
 * a is left empty on failure.
 */
int up_available_parse(const char *name, const char *buf, size_t len,
                       struct up_available *a, char *err, size_t errlen);
int up_available_load(const char *path, struct up_available *a, char *err,
                      size_t errlen);
/* Inserts in order; a version already there is kept as it was (0). */
int up_available_add(struct up_available *a, const struct ls_version_line *l);
const struct ls_version_line *up_available_find(const struct up_available *a,
                                                const struct ls_version *v);
void up_available_free(struct up_available *a);

enum up_step_why {
	UP_WHY_STOP,                /* a required upgrade stop */
	UP_WHY_CURRENT_MINOR_PATCH, /* latest patch of the current minor */
	UP_WHY_TARGET,              /* the target, exactly as given */
};

struct up_path_step {
	struct ls_version v;
	enum up_step_why why;
	char comment[UP_COMMENT_MAX]; /* the stop's comment, or "" */
};

struct up_path {
	struct up_path_step *steps;
	size_t n;
	/* Warnings for the operator: conditional stops the path crosses,
	 * stops skipped for want of a release, "already there". */
	char **notes;
	size_t nnotes, notes_cap;
};

/*
 * The path from `from` to `to`, both of which must be in a. Returns 0 (an
 * empty path with a note when to == from), or LS_EINVAL with err naming
 * the value for a downgrade (pointing to `lockstep rollback`) or a version
 * missing from a. p is zeroed first; free it with up_path_free.
 */
int up_path_compute(const struct up_stops *s, const struct up_available *a,
                    const struct ls_version *from, const struct ls_version *to,
                    struct up_path *p, char *err, size_t errlen);
void up_path_free(struct up_path *p);
/* "required upgrade stop", "latest patch of your current minor", ... */
const char *up_why_str(enum up_step_why why);

/*
 * Where a shipped data file lives: the executable's ../share/lockstep/FILE
 * (found through /proc/self/exe, so that a binary run from the build tree
 * or a relocated install finds its own copy) when it is readable, else the
 * compiled-in install directory. LS_ETOOBIG when out is too small.
 */
int up_data_path(const char *file, char *out, size_t outlen);

#endif
