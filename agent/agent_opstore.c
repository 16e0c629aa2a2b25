#include "agent_opstore.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ls_error.h"
#include "ls_util.h"

#define RESULT_MAX (16 * 1024 * 1024)

static int op_path(char *out, size_t len, const char *state_dir, uint64_t id)
{
	return ls_fmt(out, len, "%s/ops/%016llx.result", state_dir,
	              (unsigned long long)id);
}

int agent_opstore_get(const char *state_dir, uint64_t id, uint8_t **buf,
                      size_t *len)
{
	char path[LS_PATH_MAX];
	int rv;

	*buf = NULL;
	*len = 0;
	if ((rv = op_path(path, sizeof(path), state_dir, id)) < 0)
		return rv;
	return ls_read_file(path, RESULT_MAX, (char **)buf, len);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Keeps the newest AGENT_OPSTORE_KEEP results; ids grow with time. */
static void prune(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL, path[LS_PATH_MAX];
	size_t n = 0, cap = 0, i;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strlen(de->d_name) != 23 ||
		    strcmp(de->d_name + 16, ".result") != 0)
			continue;
		if (ls_names_push(&names, &n, &cap, de->d_name) < 0)
			break;
	}
	closedir(d);
	if (n > AGENT_OPSTORE_KEEP) {
		qsort(names, n, sizeof(*names), cmp_names);
		for (i = 0; i < n - AGENT_OPSTORE_KEEP; i++)
			if (ls_fmt(path, sizeof(path), "%s/%s", dir,
			           names[i]) == 0)
				unlink(path);
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int agent_opstore_put(const char *state_dir, uint64_t id, const uint8_t *buf,
                      size_t len)
{
	char dir[LS_PATH_MAX], path[LS_PATH_MAX];
	int rv;

	if ((rv = ls_fmt(dir, sizeof(dir), "%s/ops", state_dir)) < 0 ||
	    (rv = op_path(path, sizeof(path), state_dir, id)) < 0)
		return rv;
	if ((rv = ls_mkdirs(dir, 0700)) < 0)
		return rv;
	if ((rv = ls_write_atomic(path, buf, len, 0600)) < 0)
		return rv;
	prune(dir);
	return 0;
}
