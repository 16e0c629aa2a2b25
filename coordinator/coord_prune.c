/*
 * lockstep backup prune: drops old backups from the catalog and the store.
 * A directory is renamed aside first (instant, and a half-deleted backup is
 * never visible under its id), then removed on a thread of its own.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_backup.h"
#include "coord_catalog.h"
#include "coord_state.h"
#include "ls_error.h"
#include "ls_log.h"
#include "ls_util.h"

static void *remove_tree(void *arg)
{
	char *path = arg;
	int rv = ls_rmtree(path);

	if (rv < 0)
		log_warnx("prune: removing %s: %s", path, ls_strerror(rv));
	free(path);
	return NULL;
}

static int remove_backup(struct coord *c, const Ls__BackupInfo *b)
{
	char aside[4200], store[4096];
	pthread_t th;
	char *copy;
	int rv;

	if (b->path != NULL && b->path[0] == '/') {
		if ((rv = coord_backup_store(c, store, sizeof(store))) < 0 ||
		    (rv = ls_fmt(aside, sizeof(aside), "%s/.pruning-%s", store,
		                 b->id)) < 0)
			return rv;
		if (rename(b->path, aside) < 0 && errno != ENOENT)
			return -errno;
		if ((copy = strdup(aside)) != NULL &&
		    pthread_create(&th, NULL, remove_tree, copy) == 0)
			pthread_detach(th);
		else
			free(copy);
	}
	return coord_catalog_delete(c->db, b->id);
}

int coord_prune(struct coord *c, const Ls__BackupPruneReq *req,
                Ls__BackupPruneResp *resp, char *err, size_t errlen)
{
	Ls__BackupInfo **l = NULL;
	size_t n = 0, i, good = 0;
	int64_t cutoff = 0;
	int rv;

	if (!req->has_keep && !req->has_older_than_days) {
		snprintf(err, errlen,
		         "give --keep N, --older-than DAYS or both");
		return LS_EINVAL;
	}
	if (req->has_older_than_days)
		cutoff = ls_now() - (int64_t)req->older_than_days * 86400;
	if ((rv = coord_catalog_list(c->db, &l, &n)) < 0) {
		snprintf(err, errlen, "cannot read the backup catalog");
		return rv;
	}
	resp->removed = calloc(n + 1, sizeof(char *));
	resp->kept = calloc(n + 1, sizeof(char *));
	if (resp->removed == NULL || resp->kept == NULL) {
		rv = LS_ENOMEM;
		goto out;
	}
	/* Newest first, as the catalog lists them. */
	for (i = 0; i < n; i++) {
		const Ls__BackupInfo *b = l[i];
		int usable = strcmp(b->state, "complete") == 0 ||
		             strcmp(b->state, "partial") == 0;
		int beyond_keep, too_old, go;

		if (strcmp(b->state, "running") == 0 ||
		    (c->backup != NULL && strcmp(b->id, c->backup->id) == 0)) {
			resp->kept[resp->n_kept++] = strdup(b->id);
			continue;
		}
		beyond_keep = req->has_keep && (!usable || good >= req->keep);
		too_old = req->has_older_than_days && b->created_at < cutoff;
		if (req->has_keep && req->has_older_than_days)
			go = beyond_keep && too_old;
		else
			go = req->has_keep ? beyond_keep : too_old;
		if (usable && !go)
			good++;
		if (!go) {
			resp->kept[resp->n_kept++] = strdup(b->id);
			continue;
		}
		if (!(req->has_dry_run && req->dry_run) &&
		    (rv = remove_backup(c, b)) < 0) {
			snprintf(err, errlen, "removing %s: %s", b->id,
			         ls_strerror(rv));
			goto out;
		}
		log_info("prune: backup %s %s", b->id,
		         req->has_dry_run && req->dry_run ? "would be removed"
		                                          : "removed");
		resp->removed[resp->n_removed++] = strdup(b->id);
	}
	rv = 0;
out:
	coord_catalog_free(l, n);
	return rv;
}

void coord_prune_resp_free(Ls__BackupPruneResp *resp)
{
	size_t i;

	for (i = 0; i < resp->n_removed; i++)
		free(resp->removed[i]);
	for (i = 0; i < resp->n_kept; i++)
		free(resp->kept[i]);
	free(resp->removed);
	free(resp->kept);
}
