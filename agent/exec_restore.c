/*
 * `lockstep-agent-exec restore`: one restore-side operation (RestoreDb,
 * RestoreRepos, RestoreFiles, RestoreSecrets, Services, RestoreVerify,
 * RestoreDrill), or RepoFsck, KubeRestore or KubeVerify, which report
 * progress the same way. One framed Operation on stdin; Progress frames
 * while it runs, then one SessionFrame with the OpResult, on stdout. A
 * process per operation: a restore holds no state between operations, and
 * a crash takes only its own operation with it.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backup_files.h"
#include "backup_pg_rows.h"
#include "exec_restore.h"
#include "exec_restore_int.h"
#include "kube_restore.h"
#include "kube_verify.h"
#include "lockstep.pb-c.h"
#include "ls_error.h"
#include "ls_frame.h"
#include "ls_log.h"
#include "ls_util.h"
#include "repo_fsck.h"
#include "restore_files.h"
#include "restore_pg.h"
#include "restore_repos.h"

/* The agent writes the operation at once: waiting longer means it died. */
#define OP_READ_MS 60000

static int write_frame(const Ls__SessionFrame *f)
{
	size_t len = ls__session_frame__get_packed_size(f);
	uint8_t *buf = malloc(len ? len : 1);
	int rv;

	if (buf == NULL)
		return LS_ENOMEM;
	ls__session_frame__pack(f, buf);
	rv = ls_frame_write(STDOUT_FILENO, buf, len);
	free(buf);
	return rv;
}

void xr_progress(void *arg, const char *component, uint64_t bytes,
                 uint64_t done, uint64_t total)
{
	struct xr *x = arg;
	Ls__SessionFrame f = LS__SESSION_FRAME__INIT;
	Ls__Progress p = LS__PROGRESS__INIT;
	int64_t now = ls_mono_ms();

	pthread_mutex_lock(&x->mu);
	if (x->sent_ms != 0 && now - x->sent_ms < XR_PROGRESS_MS) {
		pthread_mutex_unlock(&x->mu);
		return;
	}
	x->sent_ms = now;
	p.op_id = x->op_id;
	p.component = (char *)component;
	p.bytes = bytes;
	p.items_done = done;
	p.items_total = total;
	f.kind_case = LS__SESSION_FRAME__KIND_PROGRESS;
	f.progress = &p;
	/* A lost progress frame is not worth failing the restore for: the
	 * result frame will fail too if the agent is gone. */
	(void)write_frame(&f);
	pthread_mutex_unlock(&x->mu);
}

int xr_progress_lines(struct xr *x, const char *component, uint64_t bytes,
                      char **lines, size_t n)
{
	Ls__SessionFrame f = LS__SESSION_FRAME__INIT;
	Ls__Progress p = LS__PROGRESS__INIT;
	int rv;

	p.op_id = x->op_id;
	p.component = (char *)component;
	p.bytes = bytes;
	p.lines = lines;
	p.n_lines = n;
	f.kind_case = LS__SESSION_FRAME__KIND_PROGRESS;
	f.progress = &p;
	pthread_mutex_lock(&x->mu);
	x->sent_ms = ls_mono_ms();
	rv = write_frame(&f);
	pthread_mutex_unlock(&x->mu);
	return rv;
}

static char *dup_or_oom(struct xr *x, const char *s)
{
	char *d = strdup(s ? s : "");

	if (d == NULL)
		x->oom = 1;
	return d;
}

void xr_mismatch(struct xr *x, const char *item, const char *expected,
                 const char *found)
{
	Ls__RestoreResult *r = x->res;
	Ls__Mismatch *m;

	x->comp_mismatches++;
	r->has_mismatch_count = 1;
	r->mismatch_count++;
	if (r->n_mismatches >= XR_MISMATCH_MAX)
		return;
	if (r->n_mismatches == x->mcap) {
		size_t cap = x->mcap ? x->mcap * 2 : 16;
		Ls__Mismatch **nv =
		    realloc(r->mismatches, cap * sizeof(*r->mismatches));

		if (nv == NULL) {
			x->oom = 1;
			return;
		}
		r->mismatches = nv;
		x->mcap = cap;
	}
	if ((m = malloc(sizeof(*m))) == NULL) {
		x->oom = 1;
		return;
	}
	ls__mismatch__init(m);
	m->component = dup_or_oom(x, x->comp);
	m->item = dup_or_oom(x, item);
	m->expected = dup_or_oom(x, expected);
	m->found = dup_or_oom(x, found);
	/* Required strings: a message missing one would not pack. */
	if (m->component == NULL || m->item == NULL || m->expected == NULL ||
	    m->found == NULL) {
		free(m->component);
		free(m->item);
		free(m->expected);
		free(m->found);
		free(m);
		return;
	}
	r->mismatches[r->n_mismatches++] = m;
}

Ls__ComponentOutcome *xr_outcome(struct xr *x, const char *component)
{
	Ls__RestoreResult *r = x->res;
	Ls__ComponentOutcome *o, **nv;

	if (r->n_components >= XR_OUTCOME_MAX)
		return NULL;
	nv = realloc(r->components, (r->n_components + 1) * sizeof(*nv));
	if (nv == NULL)
		return NULL;
	r->components = nv;
	if ((o = malloc(sizeof(*o))) == NULL)
		return NULL;
	ls__component_outcome__init(o);
	if ((o->component = strdup(component)) == NULL) {
		free(o);
		return NULL;
	}
	o->ok = 1;
	r->components[r->n_components++] = o;
	return o;
}

void xr_outcome_fail(struct xr *x, Ls__ComponentOutcome *o, const char *err)
{
	o->ok = 0;
	free(o->error);
	o->error = dup_or_oom(x, err);
}

int xr_table_rows(struct xr *x, Ls__TableCount ***v, size_t *n,
                  const char *table, uint64_t rows)
{
	Ls__TableCount **nv = realloc(*v, (*n + 1) * sizeof(**v)), *t;

	(void)x;
	if (nv == NULL)
		return LS_ENOMEM;
	*v = nv;
	if ((t = malloc(sizeof(*t))) == NULL)
		return LS_ENOMEM;
	ls__table_count__init(t);
	if ((t->table = strdup(table)) == NULL) {
		free(t);
		return LS_ENOMEM;
	}
	t->rows = rows;
	nv[(*n)++] = t;
	return 0;
}

int xr_rel_ok(const char *what, const char *rel, char *err, size_t errlen)
{
	if (rel != NULL && restore_repos_path_ok(rel))
		return 0;
	snprintf(err, errlen,
	         "%s '%.200s' is not a path inside the backup (absolute, "
	         "'..', empty or with control characters)",
	         what, rel ? rel : "");
	return LS_EINVAL;
}

int xr_backup_path(const char *backup_dir, const char *rel, char *out,
                   size_t len, char *err, size_t errlen)
{
	size_t i;

	if (backup_dir == NULL || backup_dir[0] != '/' ||
	    strstr(backup_dir, "/../") != NULL ||
	    (strlen(backup_dir) >= 3 &&
	     strcmp(backup_dir + strlen(backup_dir) - 3, "/..") == 0)) {
		snprintf(err, errlen,
		         "backup_dir '%.200s' is not an absolute, clean path",
		         backup_dir ? backup_dir : "");
		return LS_EINVAL;
	}
	for (i = 0; backup_dir[i] != '\0'; i++)
		if ((unsigned char)backup_dir[i] < 0x20 ||
		    backup_dir[i] == 0x7f) {
			snprintf(err, errlen,
			         "backup_dir has control characters");
			return LS_EINVAL;
		}
	if (rel == NULL)
		return ls_fmt(out, len, "%s", backup_dir);
	if (ls_fmt(out, len, "%s/%s", backup_dir, rel) < 0) {
		snprintf(err, errlen, "%.200s/%.200s: too long", backup_dir,
		         rel);
		return LS_ETOOBIG;
	}
	return 0;
}

const struct ls_strlist *xr_storages(struct ls_strlist *l, char **names,
                                     size_t n)
{
	if (n == 0)
		return NULL;
	l->items = names;
	l->n = n;
	return l;
}

static int on_row_count(void *arg, const char *table, uint64_t rows)
{
	struct xr *x = arg;

	return xr_table_rows(x, &x->res->table_rows, &x->res->n_table_rows,
	                     table, rows);
}

static int do_db(struct xr *x, const Ls__RestoreDb *d)
{
	const struct agent_config *cfg = x->cfg;
	const char *conninfo = cfg->postgresql.conninfo;
	struct backup_pg_rows *rows = NULL;
	char path[LS_PATH_MAX], psql[LS_PATH_MAX];
	int rv;

	if (d->has_ci && d->ci) {
		if ((conninfo = cfg->postgresql.ci_conninfo) == NULL) {
			snprintf(x->err, sizeof(x->err),
			         "the backup has a CI database but "
			         "postgresql.ci_conninfo is not set in the "
			         "agent configuration");
			return LS_ECONFIG;
		}
	}
	if ((rv = xr_rel_ok("dump", d->dump, x->err, sizeof(x->err))) < 0 ||
	    (rv = xr_backup_path(d->backup_dir, d->dump, path, sizeof(path),
	                         x->err, sizeof(x->err))) < 0)
		return rv;
	if ((rv = restore_pg_psql_beside(cfg->backup.pg_dump, psql,
	                                 sizeof(psql))) < 0) {
		snprintf(x->err, sizeof(x->err),
		         "backup.pg_dump '%.900s': no psql beside it: %s",
		         cfg->backup.pg_dump, ls_strerror(rv));
		return rv;
	}
	if ((rv = access(path, R_OK)) < 0) {
		/* Before the drop: a missing dump must not cost the data. */
		snprintf(x->err, sizeof(x->err), "%.900s: %s", path,
		         ls_strerror(LS_ENOENT));
		return LS_ENOENT;
	}
	if ((rows = backup_pg_rows_new()) == NULL)
		return LS_ENOMEM;
	if ((rv = restore_pg_drop(conninfo, x->err, sizeof(x->err))) < 0)
		goto out;
	rv = restore_pg_load(psql, conninfo, path, xr_progress, x, rows, x->err,
	                     sizeof(x->err));
	if (rv < 0)
		goto out;
	/* Rows that cannot be counted only leave the counts out. */
	if (backup_pg_rows_finish(rows, on_row_count, x) < 0) {
		size_t i;

		log_warnx("%s: rows not counted: %s", path,
		          backup_pg_rows_why(rows));
		for (i = 0; i < x->res->n_table_rows; i++)
			ls__table_count__free_unpacked(x->res->table_rows[i],
			                               NULL);
		free(x->res->table_rows);
		x->res->table_rows = NULL;
		x->res->n_table_rows = 0;
	}
out:
	backup_pg_rows_free(rows);
	return rv;
}

static int do_repos(struct xr *x, const Ls__RestoreRepos *r)
{
	struct restore_repos_result rr;
	struct ls_strlist failed = {0}, sl;
	char dir[LS_PATH_MAX];
	int rv;

	memset(&rr, 0, sizeof(rr));
	if ((rv = xr_backup_path(r->backup_dir, NULL, dir, sizeof(dir), x->err,
	                         sizeof(x->err))) < 0)
		return rv;
	rv =
	    restore_repos(x->cfg, r->backup_dir, r->backup_id,
	                  xr_storages(&sl, r->storages, r->n_storages),
	                  r->has_allow_partial && r->allow_partial, xr_progress,
	                  x, &rr, &failed, x->err, sizeof(x->err));
	x->res->has_repos = x->res->has_removed = x->res->has_bytes = 1;
	x->res->repos = rr.repos;
	x->res->removed = rr.removed;
	x->res->bytes = rr.bytes;
	/* The library's strings move into the message. */
	x->res->failed_repos = failed.items;
	x->res->n_failed_repos = failed.n;
	return rv;
}

struct aside_names {
	const char *prefix;
	size_t len;
};

static int aside_keep(void *arg, const char *name)
{
	const struct aside_names *a = arg;

	return strncmp(name, a->prefix, a->len) == 0;
}

/* scratch_dir's <component>.* entries, sorted; none when it is absent. */
static int aside_list(const char *scratch, const char *component,
                      char prefix[64], char ***names, size_t *n)
{
	struct aside_names a = {prefix, 0};
	int fd, rv;

	*names = NULL;
	*n = 0;
	ls_fmt(prefix, 64, "%s.", component);
	a.len = strlen(prefix);
	if ((fd = open(scratch, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return 0;
	rv = ls_dir_names(fd, aside_keep, &a, 1, names, n);
	close(fd);
	return rv;
}

/*
 * The library names the moved-aside tree <scratch>/<component>.<time>[.n]
 * without handing the name back: the one new entry of that form is it.
 */
static void find_aside(struct xr *x, const char *scratch, const char *comp,
                       char **before, size_t nbefore)
{
	char prefix[64], **after = NULL, path[LS_PATH_MAX];
	size_t nafter = 0, i, j;

	if (aside_list(scratch, comp, prefix, &after, &nafter) < 0)
		return;
	for (i = 0; i < nafter; i++) {
		for (j = 0; j < nbefore; j++)
			if (strcmp(after[i], before[j]) == 0)
				break;
		if (j == nbefore && ls_fmt(path, sizeof(path), "%s/%s", scratch,
		                           after[i]) == 0) {
			x->res->aside = dup_or_oom(x, path);
			break;
		}
	}
	ls_names_free(after, nafter);
}

static int do_files(struct xr *x, const Ls__RestoreFiles *f)
{
	const char *dir = backup_component_dir(x->cfg, f->component);
	char path[LS_PATH_MAX], scratch[LS_PATH_MAX], prefix[64];
	char listing[LS_PATH_MAX];
	char **before = NULL;
	size_t nbefore = 0;
	int rv;

	if (dir == NULL) {
		snprintf(x->err, sizeof(x->err), "unknown component '%.100s'",
		         f->component);
		return LS_EINVAL;
	}
	if ((rv = xr_rel_ok("archive", f->archive, x->err, sizeof(x->err))) <
	        0 ||
	    (rv = xr_backup_path(f->backup_dir, f->archive, path, sizeof(path),
	                         x->err, sizeof(x->err))) < 0)
		return rv;
	/* GitLab's <backup_path>/tmp, where its restore moves trees. */
	if ((rv = ls_fmt(scratch, sizeof(scratch), "%s/tmp",
	                 x->cfg->backup_staging_dir)) < 0)
		return rv;
	if ((rv = aside_list(scratch, f->component, prefix, &before,
	                     &nbefore)) < 0)
		return rv;
	/* Without one the verification reads the archive again. */
	if (restore_files_listing_dir(x->cfg->state_dir, listing,
	                              sizeof(listing)) < 0)
		listing[0] = '\0';
	rv = restore_files(f->component, path, dir, scratch,
	                   listing[0] ? listing : NULL, xr_progress, x, x->err,
	                   sizeof(x->err));
	if (rv == 0)
		find_aside(x, scratch, f->component, before, nbefore);
	ls_names_free(before, nbefore);
	return rv;
}

/* Runs op; x->res gets what it found, x->err why it failed. */
static int run(struct xr *x, Ls__Operation *op)
{
	switch (op->kind_case) {
	case LS__OPERATION__KIND_RESTORE_DB:
		return do_db(x, op->restore_db);
	case LS__OPERATION__KIND_RESTORE_REPOS:
		return do_repos(x, op->restore_repos);
	case LS__OPERATION__KIND_RESTORE_FILES:
		return do_files(x, op->restore_files);
	case LS__OPERATION__KIND_RESTORE_SECRETS:
		return xr_restore_secrets(x, op->restore_secrets);
	case LS__OPERATION__KIND_SERVICES:
		return xr_services(x, op->services);
	case LS__OPERATION__KIND_RESTORE_VERIFY:
		return xr_restore_verify(x, op->restore_verify);
	case LS__OPERATION__KIND_RESTORE_DRILL:
		return xr_restore_drill(x, op->restore_drill);
	case LS__OPERATION__KIND_REPO_FSCK:
		return xr_repo_fsck(x, op->repo_fsck);
	case LS__OPERATION__KIND_KUBE_RESTORE:
		return xr_kube_restore(x, op->kube_restore);
	case LS__OPERATION__KIND_KUBE_VERIFY:
		return xr_kube_verify(x, op->kube_verify);
	default:
		snprintf(x->err, sizeof(x->err),
		         "operation kind %d is not a restore operation",
		         (int)op->kind_case);
		return LS_EPROTO;
	}
}

int exec_restore(const struct agent_config *cfg)
{
	Ls__SessionFrame f = LS__SESSION_FRAME__INIT;
	Ls__OpResult r = LS__OP_RESULT__INIT;
	Ls__Operation *op = NULL;
	struct xr x;
	uint8_t *buf = NULL;
	size_t len = 0;
	int rv;

	memset(&x, 0, sizeof(x));
	x.cfg = cfg;
	pthread_mutex_init(&x.mu, NULL);
	if ((x.res = malloc(sizeof(*x.res))) == NULL) {
		rv = LS_ENOMEM;
		goto out;
	}
	ls__restore_result__init(x.res);
	rv = ls_frame_read(STDIN_FILENO, OP_READ_MS, &buf, &len);
	if (rv < 0) {
		snprintf(x.err, sizeof(x.err), "reading the operation: %s",
		         ls_strerror(rv));
		goto reply;
	}
	if ((op = ls__operation__unpack(NULL, len, buf)) == NULL) {
		rv = LS_EPROTO;
		snprintf(x.err, sizeof(x.err), "undecodable operation");
		goto reply;
	}
	x.op_id = op->id;
	rv = run(&x, op);
	if (rv == 0 && x.oom)
		rv = LS_ENOMEM;
reply:
	r.op_id = x.op_id;
	r.status = rv;
	if (rv < 0) {
		if (x.err[0] == '\0')
			ls_strlcpy(x.err, ls_strerror(rv), sizeof(x.err));
		r.error = x.err;
		log_warnx("operation %llu: %s", (unsigned long long)x.op_id,
		          x.err);
	}
	/* Sent on failure too: what was restored, failed, moved aside. */
	r.kind_case = LS__OP_RESULT__KIND_RESTORE;
	r.restore = x.res;
	if (x.fsck != NULL) {
		r.kind_case = LS__OP_RESULT__KIND_REPO_FSCK;
		r.repo_fsck = x.fsck;
	}
	if (x.kres != NULL) {
		r.kind_case = LS__OP_RESULT__KIND_KUBE_RESTORE;
		r.kube_restore = x.kres;
	}
	if (x.kverify != NULL) {
		r.kind_case = LS__OP_RESULT__KIND_KUBE_VERIFY;
		r.kube_verify = x.kverify;
	}
	f.kind_case = LS__SESSION_FRAME__KIND_RESULT;
	f.result = &r;
	pthread_mutex_lock(&x.mu);
	rv = write_frame(&f);
	pthread_mutex_unlock(&x.mu);
	if (rv < 0)
		log_warnx("writing the result: %s", ls_strerror(rv));
out:
	if (x.res != NULL)
		ls__restore_result__free_unpacked(x.res, NULL);
	if (x.fsck != NULL)
		ls__repo_fsck_result__free_unpacked(x.fsck, NULL);
	if (x.kres != NULL)
		ls__kube_restore_result__free_unpacked(x.kres, NULL);
	if (x.kverify != NULL)
		ls__kube_verify_result__free_unpacked(x.kverify, NULL);
	if (op != NULL)
		ls__operation__free_unpacked(op, NULL);
	if (buf != NULL) {
		/* A RestoreSecrets carries the backup secret key. */
		ls_wipe(buf, len);
		free(buf);
	}
	pthread_mutex_destroy(&x.mu);
	return rv < 0 ? 1 : 0;
}
