/*
 * Which GitLab versions have Linux packages for an OS release: GitLab's
 * supported operating systems table, shipped as data/supported-os.txt
 * (share/lockstep/supported-os.txt). `lockstep upgrade plan` flags every
 * node whose OS has no package at some step of the path.
 *
 * The file, one OS release a line, '#' comments and blank lines skipped:
 *   ID VERSION_ID FIRST LAST
 * ID and VERSION_ID as in /etc/os-release; FIRST and LAST GitLab X.Y
 * (the minor granularity GitLab publishes); LAST "-" while supported.
 */
#ifndef OS_SUPPORT_H
#define OS_SUPPORT_H

#include <stddef.h>

#include "ls_version.h"

/* Hard caps on what we read: GitLab's table has a few dozen rows. */
#define OS_SUPPORT_FILE_MAX (256 * 1024)
#define OS_SUPPORT_LINE_MAX 512
#define OS_SUPPORT_MAX 1000
#define OS_ID_MAX 64 /* ID and VERSION_ID, NUL included */

/* The file name shipped in share/lockstep/. */
#define OS_SUPPORT_FILE "supported-os.txt"

struct os_release_support {
	char id[OS_ID_MAX];         /* "ubuntu", "rhel", "opensuse-leap" */
	char version_id[OS_ID_MAX]; /* "22.04", "9", "15.6" */
	int first_major, first_minor;
	int last_major, last_minor; /* both -1 while still supported */
};

struct os_support {
	struct os_release_support *v; /* in file order, no duplicates */
	size_t n;
};

/*
 * Parses the table from buf[0..len). Returns 0, or LS_EINVAL / LS_ETOOBIG
 * (LS_ENOMEM) with err "NAME:LINE: why" (or "NAME: why" for the file as
 * a whole). s is zeroed first and left empty on failure.
 */
int os_support_parse(const char *name, const char *buf, size_t len,
                     struct os_support *s, char *err, size_t errlen);
/* The same for a file; -errno (LS_ETOOBIG) with err "PATH: why" when it
 * cannot be read. */
int os_support_load(const char *path, struct os_support *s, char *err,
                    size_t errlen);
void os_support_free(struct os_support *s);

/*
 * Whether OS os_id/version_id has GitLab packages for version v (major and
 * minor compared: packages come per minor). Returns
 *   1  it has: last is the last X.Y it has, or "" while still supported;
 *   0  it has none: last is the last X.Y it has, or its first X.Y when v
 *      is older than that;
 *   LS_ENOENT  the OS release is not in the table (last "");
 *   LS_EINVAL  a NULL argument; LS_ETOOBIG  last too small for X.Y.
 * A table VERSION_ID without a dot ("9", "7") also stands for every
 * point release of it ("9.4"), as RHEL, AlmaLinux and Oracle Linux write
 * VERSION_ID while GitLab builds per major release; an exact row wins.
 */
int os_support_check(const struct os_support *s, const char *os_id,
                     const char *version_id, const struct ls_version *v,
                     char *last, size_t lastlen);

/*
 * The shipped table: share/lockstep next to the executable when there,
 * else the install's data directory (up_data_path). NULL when the path
 * does not fit. The string is per thread and valid until the next call.
 */
const char *os_support_data_path(void);

#endif
