/* lockstep backup import, the coordinator's side (coord_import.h). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup_import.h"
#include "coord_backup.h"
#include "coord_catalog.h"
#include "coord_import.h"
#include "ls_error.h"
#include "ls_log.h"

struct import_job {
	struct coord *c;
	char path[LS_PATH_MAX];
	char store[LS_PATH_MAX];
	coord_import_done_fn done;
	void *arg;
};

/* One coordinator a process: its imports are counted here, under c->mtx. */
static pthread_cond_t imports_cond = PTHREAD_COND_INITIALIZER;
static int imports_running;
static volatile int imports_cancel;

/* Caller holds c->mtx. */
static int id_taken(struct coord *c, const char *id, char *err, size_t errlen)
{
	Ls__BackupInfo *b = NULL;

	if (c->backup != NULL && strcmp(c->backup->id, id) == 0) {
		snprintf(err, errlen, "backup %s is being created", id);
		return LS_EEXIST;
	}
	if (coord_catalog_get(c->db, id, &b) == 0) {
		coord_catalog_info_free(b);
		snprintf(err, errlen, "backup %s is already in the catalog",
		         id);
		return LS_EEXIST;
	}
	return 0;
}

static void *import_thread(void *arg)
{
	struct import_job *j = arg;
	struct coord *c = j->c;
	struct backup_import imp;
	Ls__ControlResp resp = LS__CONTROL_RESP__INIT;
	Ls__BackupImportResp ir = LS__BACKUP_IMPORT_RESP__INIT;
	char id[BACKUP_ID_MAX], err[2048];
	int rv;

	memset(&imp, 0, sizeof(imp));
	err[0] = '\0';
	/* A duplicate is refused before hours of copying, and again at the
	 * end: two imports of one id may run side by side. */
	if ((rv = backup_import_peek_id(j->path, id, sizeof(id), err,
	                                sizeof(err))) == 0) {
		pthread_mutex_lock(&c->mtx);
		rv = id_taken(c, id, err, sizeof(err));
		pthread_mutex_unlock(&c->mtx);
	}
	if (rv == 0)
		rv = backup_import_stage(&imp, j->path, j->store, c->signer.sk,
		                         &imports_cancel, err, sizeof(err));
	pthread_mutex_lock(&c->mtx);
	if (rv == 0 && (rv = id_taken(c, imp.id, err, sizeof(err))) == 0)
		rv = backup_import_commit(&imp, c->db, err, sizeof(err));
	if (rv < 0) {
		log_warnx("import %s failed: %s", j->path, err);
		resp.status = rv;
		resp.error = err[0] ? err : (char *)ls_strerror(rv);
	} else {
		ir.backup_id = imp.id;
		ir.format = (char *)imp.format;
		ir.artifacts = imp.artifacts;
		ir.size = imp.size;
		ir.gitlab_version = imp.gitlab_version;
		resp.kind_case = LS__CONTROL_RESP__KIND_BACKUP_IMPORT;
		resp.backup_import = &ir;
	}
	j->done(c, j->arg, &resp);
	/* The staging directory goes before the stop stops waiting. */
	backup_import_free(&imp);
	imports_running--;
	pthread_cond_broadcast(&imports_cond);
	pthread_mutex_unlock(&c->mtx);
	free(j);
	return NULL;
}

int coord_import_start(struct coord *c, const Ls__BackupImportReq *req,
                       coord_import_done_fn done, void *arg, char *err,
                       size_t errlen)
{
	struct import_job *j;
	pthread_t th;
	int rv;

	if (req == NULL || req->path == NULL || req->path[0] != '/') {
		snprintf(err, errlen, "import needs an absolute path");
		return LS_EINVAL;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return LS_ENOMEM;
	j->c = c;
	j->done = done;
	j->arg = arg;
	if ((rv = ls_fmt(j->path, sizeof(j->path), "%s", req->path)) < 0 ||
	    (rv = coord_backup_store(c, j->store, sizeof(j->store))) < 0) {
		snprintf(err, errlen, "import: %s: %s",
		         rv == LS_ETOOBIG ? "path too long" : "backup store",
		         ls_strerror(rv));
		free(j);
		return rv;
	}
	if (pthread_create(&th, NULL, import_thread, j) != 0) {
		snprintf(err, errlen, "import: cannot start a thread");
		free(j);
		return LS_ENOMEM;
	}
	pthread_detach(th);
	imports_running++;
	return 0;
}

void coord_import_stop(struct coord *c)
{
	pthread_mutex_lock(&c->mtx);
	imports_cancel = 1;
	while (imports_running > 0)
		pthread_cond_wait(&imports_cond, &c->mtx);
	pthread_mutex_unlock(&c->mtx);
}
