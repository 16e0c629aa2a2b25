#include "backup_artifact.h"

#include <stdlib.h>
#include <string.h>

#include "ls_error.h"

int backup_artifacts_add(struct backup_artifacts *a, const char *component,
			 const char *relpath, uint64_t size,
			 const uint8_t sha256[32])
{
	struct backup_artifact *it;

	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		struct backup_artifact *n = realloc(a->items, cap * sizeof(*n));
		if (n == NULL)
			return LS_ENOMEM;
		a->items = n;
		a->cap = cap;
	}
	it = &a->items[a->n];
	it->component = strdup(component);
	it->path = strdup(relpath);
	if (it->component == NULL || it->path == NULL) {
		free(it->component);
		free(it->path);
		return LS_ENOMEM;
	}
	it->size = size;
	memcpy(it->sha256, sha256, 32);
	a->n++;
	return 0;
}

void backup_artifacts_free(struct backup_artifacts *a)
{
	size_t i;

	if (a == NULL)
		return;
	for (i = 0; i < a->n; i++) {
		free(a->items[i].component);
		free(a->items[i].path);
	}
	free(a->items);
	a->items = NULL;
	a->n = a->cap = 0;
}
