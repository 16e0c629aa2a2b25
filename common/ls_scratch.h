/*
 * Private working directories that do not outlive a killed process: each
 * holds a lock file locked (flock) for as long as its owner lives, so the
 * next owner of the same prefix removes the ones nobody holds.
 */
#ifndef LS_SCRATCH_H
#define LS_SCRATCH_H

#include <stddef.h>

#include "ls_util.h"

struct ls_scratch {
	char path[LS_PATH_MAX];
	int lockfd;
};

/*
 * Creates <base>/<prefix>.XXXXXX (mode 0700, base created 0700 if missing)
 * after removing every <base>/<prefix>.* whose lock no live process holds;
 * *swept counts those (may be NULL). The directory appears under its name
 * only once locked, so a concurrent sweep never takes it for stale. On
 * error s->path is "" and err names the directory at fault.
 */
int ls_scratch_open(struct ls_scratch *s, const char *base, const char *prefix,
                    int *swept, char *err, size_t errlen);
/* Removes the directory (logging a failure) and releases its lock; safe
 * on a failed open and when called twice. */
int ls_scratch_close(struct ls_scratch *s);

#endif
