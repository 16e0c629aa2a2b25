/*
 * `lockstep-agent-exec backup-session ID`: one node's part of a fleet
 * backup. Frames on stdin carry BackupCut, BackupCopy and BackupRelease;
 * answers go to stdout. The PostgreSQL snapshot taken at the cut is held
 * here until the release, and end of input without a release drops
 * everything: an agent that dies never leaves a snapshot or a work tree.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sodium.h>

#include "agent_config.h"
#include "backup_artifact.h"
#include "backup_files.h"
#include "backup_objstore.h"
#include "backup_pg.h"
#include "backup_redis.h"
#include "backup_repos.h"
#include "exec_backup.h"
#include "exec_backup_int.h"
#include "lockstep.pb-c.h"
#include "ls_afile.h"
#include "ls_error.h"
#include "ls_frame.h"
#include "ls_log.h"
#include "ls_util.h"

/* The Redis cut's deadline when the coordinator gives none: inside its
 * default cut_timeout of 5 minutes. */
#define REDIS_CUT_DEFAULT_MS (4 * 60 * 1000)

static int sub(char *out, size_t len, const char *a, const char *b)
{
	return ls_fmt(out, len, "%s/%s", a, b);
}

/*
 * GitLab records the newest schema migration in backup_information.yml as
 * db_version. Read during the freeze, when no migration runs.
 */
static void read_db_version(const char *conninfo, char *out, size_t len)
{
	PGconn *pg = PQconnectdb(conninfo);
	PGresult *r = NULL;

	out[0] = '\0';
	if (PQstatus(pg) == CONNECTION_OK)
		r = PQexec(pg, "SELECT max(version) FROM schema_migrations");
	if (r != NULL && PQresultStatus(r) == PGRES_TUPLES_OK &&
	    PQntuples(r) == 1 && !PQgetisnull(r, 0, 0) &&
	    (size_t)PQgetlength(r, 0, 0) < len)
		ls_strlcpy(out, PQgetvalue(r, 0, 0), len);
	PQclear(r);
	PQfinish(pg);
}

static int do_cut(struct session *s, const Ls__BackupCut *c,
                  Ls__BackupCutResult *r, Ls__ComponentCut **cc,
                  Ls__ComponentCut *ccs)
{
	char dir[LS_PATH_MAX], snap[LS_PATH_MAX];
	/* gitlab.yml's problem, referenced by the result until it is sent
	 * (one cut per session) */
	static char oerr[1024];
	struct backup_objstore os;
	int64_t t0 = ls_mono_ms();
	size_t i;
	int rv;

	if ((rv = ls_mkdirs(s->workdir, 0700)) < 0) {
		snprintf(s->err, sizeof(s->err), "%.900s: %s", s->workdir,
		         ls_strerror(rv));
		return rv;
	}
	if (c->database) {
		rv = backup_pg_hold(s->cfg->postgresql.conninfo, &s->pg,
		                    s->snapshot, sizeof(s->snapshot), s->lsn,
		                    sizeof(s->lsn), s->err, sizeof(s->err));
		if (rv < 0)
			return rv;
		r->pg_snapshot = s->snapshot;
		r->pg_lsn = s->lsn;
		read_db_version(s->cfg->postgresql.conninfo, s->db_version,
		                sizeof(s->db_version));
		if (s->db_version[0] != '\0')
			r->db_version = s->db_version;
		if (s->cfg->postgresql.ci_conninfo != NULL) {
			char lsn[64];
			rv = backup_pg_hold(
			    s->cfg->postgresql.ci_conninfo, &s->pg_ci,
			    s->ci_snapshot, sizeof(s->ci_snapshot), lsn,
			    sizeof(lsn), s->err, sizeof(s->err));
			if (rv < 0)
				return rv;
			r->pg_ci_snapshot = s->ci_snapshot;
		}
	}
	if (c->repositories) {
		struct backup_repos_cut rc;

		if ((rv = sub(dir, sizeof(dir), s->workdir, "repos")) < 0 ||
		    (rv = ls_mkdirs(dir, 0700)) < 0 ||
		    (rv = backup_repos_cut(s->cfg, dir, &rc, s->err,
		                           sizeof(s->err))) < 0)
			return rv;
		s->repos = 1;
		r->has_repos = r->has_refs = r->has_empty_repos = 1;
		r->repos = rc.repos;
		r->refs = rc.refs;
		r->empty_repos = rc.empty;
	}
	/* Object storage per component, from the rendered gitlab.yml: a
	 * missing file says nothing, a malformed one excludes nothing. */
	memset(&os, 0, sizeof(os));
	oerr[0] = '\0';
	if (c->n_components > 0 && s->cfg->gitlab.rails_config != NULL) {
		if (backup_objstore_load(s->cfg->gitlab.rails_config, &os, oerr,
		                         sizeof(oerr)) < 0) {
			log_warnx("%s; object storage unknown: every file "
			          "component is archived",
			          oerr);
			memset(&os, 0, sizeof(os));
			if (oerr[0] == '\0')
				ls_strlcpy(oerr, "unreadable", sizeof(oerr));
		}
	}
	for (i = 0; i < c->n_components && i < EXEC_BK_MAX_COMPONENTS; i++) {
		const char *name = c->components[i];
		const char *src = backup_component_dir(s->cfg, name);
		struct backup_files_cut fc;
		int objstore;

		if (src == NULL || strlen(name) >= sizeof(s->comps[0])) {
			snprintf(s->err, sizeof(s->err),
			         "unknown component '%s'", name);
			return LS_EINVAL;
		}
		if ((rv = ls_fmt(snap, sizeof(snap), "%s/files/%s", s->workdir,
		                 name)) < 0)
			return rv;
		memset(&fc, 0, sizeof(fc));
		if ((rv = backup_files_cut(name, src, snap, &fc, s->err,
		                           sizeof(s->err))) < 0)
			return rv;
		ls__component_cut__init(&ccs[i]);
		ccs[i].name = (char *)name;
		ccs[i].present = fc.present;
		ccs[i].files = fc.files;
		ccs[i].bytes = fc.bytes;
		ccs[i].copied_fallback = fc.copied_fallback;
		objstore = backup_objstore_enabled(&os, name);
		if (objstore) {
			ccs[i].has_object_storage = 1;
			ccs[i].object_storage = 1;
			ccs[i].dir = (char *)src;
		}
		if (oerr[0] != '\0')
			ccs[i].object_storage_error = oerr;
		if (objstore && fc.present && fc.files == 0) {
			/* Nothing of it on local disk (GitLab's exclusions
			 * left out): GitLab leaves it to the object store. */
			log_info("%s: in object storage (%s) and no file in "
			         "%s: not archived",
			         name, s->cfg->gitlab.rails_config, src);
			ccs[i].present = 0;
			fc.present = 0;
			(void)ls_rmtree(snap);
		} else if (objstore && fc.present) {
			/* A migration not finished: what is local is
			 * archived, as GitLab's own backup does. The cut
			 * carries it to the coordinator, which warns: this
			 * process's stderr reaches the agent's log only when
			 * the session fails. */
			log_warnx("%s: object storage is enabled in %s, yet %s "
			          "still holds %llu file(s): archived",
			          name, s->cfg->gitlab.rails_config, src,
			          (unsigned long long)fc.files);
		}
		cc[i] = &ccs[i];
		if (fc.present) {
			s->comp_bytes[s->ncomps] = fc.bytes;
			ls_strlcpy(s->comps[s->ncomps++], name,
			           sizeof(s->comps[0]));
		}
	}
	r->n_components = i;
	r->components = cc;
	if (c->has_redis && c->redis) {
		/* What is left of this node's deadline: the BGSAVE is waited
		 * for while GitLab is frozen. */
		int64_t ms = (c->has_deadline_ms ? (int64_t)c->deadline_ms
		                                 : REDIS_CUT_DEFAULT_MS) -
		             (ls_mono_ms() - t0);

		if ((rv = sub(snap, sizeof(snap), s->workdir,
		              EXEC_BK_REDIS_SNAP)) < 0 ||
		    (rv = backup_redis_cut(s->cfg, snap, &s->redis_cut,
		                           ms > 0 ? ms : 1, s->err,
		                           sizeof(s->err))) < 0)
			return rv;
		s->redis = 1;
		ls__redis_cut__init(&s->redis_msg);
		s->redis_msg.address = s->redis_cut.address;
		s->redis_msg.rdb_bytes = s->redis_cut.rdb_bytes;
		s->redis_msg.lastsave = s->redis_cut.lastsave;
		if (s->redis_cut.redis_version[0] != '\0')
			s->redis_msg.redis_version = s->redis_cut.redis_version;
		s->redis_msg.bgsave_ms = s->redis_cut.bgsave_ms;
		s->redis_msg.copied_fallback = s->redis_cut.copied_fallback;
		r->redis = &s->redis_msg;
	}
	return 0;
}

#define SECRET_FILE_MAX (16 * 1024 * 1024)

/*
 * GitLab's own backup leaves out gitlab-secrets.json and gitlab.rb, yet a
 * restore without them loses every encrypted column. Each is sealed to the
 * fleet's backup key here: the clear text never leaves this process.
 */
static int seal_file(struct session *s, const char *src, const char *name,
                     const Ls__BackupCopy *c, struct backup_artifacts *arts)
{
	char rel[512], path[LS_PATH_MAX];
	char *plain = NULL;
	uint8_t *sealed = NULL, sha[32];
	size_t len = 0;
	uint64_t size;
	struct ls_afile *f = NULL;
	int rv;

	rv = ls_read_file(src, SECRET_FILE_MAX, &plain, &len);
	if (rv == LS_ENOENT)
		return 0; /* this node has no such file */
	if (rv < 0) {
		snprintf(s->err, sizeof(s->err), "%.900s: %s", src,
		         ls_strerror(rv));
		return rv;
	}
	if ((sealed = malloc(len + crypto_box_SEALBYTES)) == NULL) {
		rv = LS_ENOMEM;
		goto out;
	}
	if (crypto_box_seal(sealed, (const uint8_t *)plain, len,
	                    c->backup_pk.data) != 0) {
		rv = LS_ECRYPTO;
		goto out;
	}
	if ((rv = ls_fmt(rel, sizeof(rel), "lockstep/secrets/%s/%s.sealed",
	                 c->node, name)) < 0 ||
	    (rv = ls_fmt(path, sizeof(path), "%s/%s", c->dest_dir, rel)) < 0)
		goto out;
	/* A full or failing store is named by the file being written. */
	if ((rv = ls_afile_open(&f, path, 0600)) == 0 &&
	    (rv = ls_afile_write(f, sealed, len + crypto_box_SEALBYTES)) < 0)
		ls_afile_abort(f);
	else if (rv == 0)
		rv = ls_afile_commit(f, &size, sha); /* frees f either way */
	if (rv < 0) {
		snprintf(s->err, sizeof(s->err), "writing %.900s: %s", path,
		         ls_strerror(rv));
		goto out;
	}
	rv = backup_artifacts_add(arts, "secrets", rel, size, sha);
out:
	if (rv < 0 && s->err[0] == '\0')
		snprintf(s->err, sizeof(s->err), "sealing %.900s: %s", src,
		         ls_strerror(rv));
	if (plain != NULL) {
		ls_wipe(plain, len);
		free(plain);
	}
	free(sealed);
	return rv;
}

int exec_bk_seal_secrets(struct session *s, const Ls__BackupCopy *c,
                         struct backup_artifacts *arts)
{
	int rv;

	if (!c->has_backup_pk ||
	    c->backup_pk.len != crypto_box_PUBLICKEYBYTES || c->node == NULL ||
	    ls_node_name_valid(c->node) < 0) {
		snprintf(s->err, sizeof(s->err),
		         "the copy carries no valid backup key or node name");
		return LS_EPROTO;
	}
	if ((rv = seal_file(s, s->cfg->gitlab.secrets_file,
	                    "gitlab-secrets.json", c, arts)) < 0)
		return rv;
	return seal_file(s, s->cfg->gitlab.config_file, "gitlab.rb", c, arts);
}

static void release(struct session *s)
{
	backup_pg_release(s->pg);
	backup_pg_release(s->pg_ci);
	s->pg = s->pg_ci = NULL;
	if (s->workdir[0] != '\0')
		ls_rmtree(s->workdir);
}

/* Answers one operation; returns 1 after a release. */
static int handle(struct session *s, const Ls__Operation *op)
{
	Ls__OpResult r = LS__OP_RESULT__INIT;
	Ls__SessionFrame frame = LS__SESSION_FRAME__INIT;
	Ls__BackupCutResult cr = LS__BACKUP_CUT_RESULT__INIT;
	Ls__BackupCopyResult pr = LS__BACKUP_COPY_RESULT__INIT;
	Ls__ComponentCut *cc[EXEC_BK_MAX_COMPONENTS],
	    ccs[EXEC_BK_MAX_COMPONENTS];
	struct backup_artifacts arts = {0};
	struct ls_strlist failed = {0};
	struct exec_bk_copy_out out;
	Ls__Artifact *av = NULL, **ap = NULL;
	uint8_t *buf = NULL;
	size_t len, i;
	int rv = 0, done = 0;

	memset(&out, 0, sizeof(out));
	out.arts = &arts;
	out.failed = &failed;
	s->err[0] = '\0';
	s->op_id = op->id;
	r.op_id = op->id;
	switch (op->kind_case) {
	case LS__OPERATION__KIND_BACKUP_CUT:
		rv = do_cut(s, op->backup_cut, &cr, cc, ccs);
		if (rv == 0) {
			r.kind_case = LS__OP_RESULT__KIND_BACKUP_CUT;
			r.backup_cut = &cr;
		}
		break;
	case LS__OPERATION__KIND_BACKUP_COPY:
		rv = exec_bk_copy(s, op->backup_copy, &out);
		if (rv < 0)
			break;
		av = calloc(arts.n ? arts.n : 1, sizeof(*av));
		ap = calloc(arts.n ? arts.n : 1, sizeof(*ap));
		if (av == NULL || ap == NULL) {
			rv = LS_ENOMEM;
			break;
		}
		for (i = 0; i < arts.n; i++) {
			ls__artifact__init(&av[i]);
			av[i].component = arts.items[i].component;
			av[i].path = arts.items[i].path;
			av[i].size = arts.items[i].size;
			av[i].sha256.data = arts.items[i].sha256;
			av[i].sha256.len = 32;
			ap[i] = &av[i];
		}
		pr.n_artifacts = arts.n;
		pr.artifacts = ap;
		pr.n_failed_repos = failed.n;
		pr.failed_repos = failed.items;
		pr.n_table_counts = out.ncounts;
		pr.table_counts = out.counts;
		pr.n_timings = out.ntimings;
		pr.timings = out.ptrs;
		r.kind_case = LS__OP_RESULT__KIND_BACKUP_COPY;
		r.backup_copy = &pr;
		break;
	case LS__OPERATION__KIND_BACKUP_RELEASE:
		release(s);
		done = 1;
		break;
	default:
		rv = LS_EPROTO;
		snprintf(s->err, sizeof(s->err), "not a backup operation");
		break;
	}
	r.status = rv;
	if (rv < 0)
		r.error = s->err[0] ? s->err : (char *)ls_strerror(rv);
	frame.kind_case = LS__SESSION_FRAME__KIND_RESULT;
	frame.result = &r;
	len = ls__session_frame__get_packed_size(&frame);
	if ((buf = malloc(len ? len : 1)) != NULL) {
		ls__session_frame__pack(&frame, buf);
		if (ls_frame_write(STDOUT_FILENO, buf, len) < 0)
			done = -1;
	} else {
		done = -1;
	}
	free(buf);
	free(av);
	free(ap);
	backup_artifacts_free(&arts);
	for (i = 0; i < failed.n; i++)
		free(failed.items[i]);
	free(failed.items);
	exec_bk_copy_out_free(&out);
	return done;
}

int exec_backup_session(const struct agent_config *cfg, const char *backup_id)
{
	struct session s;
	int rv = 0;

	memset(&s, 0, sizeof(s));
	s.cfg = cfg;
	pthread_mutex_init(&s.prog_mtx, NULL);
	if (strlen(backup_id) >= sizeof(s.id) || strchr(backup_id, '/') ||
	    backup_id[0] == '.' || backup_id[0] == '\0') {
		fprintf(stderr, "backup-session: invalid backup id\n");
		return 2;
	}
	ls_strlcpy(s.id, backup_id, sizeof(s.id));
	if (ls_fmt(s.workdir, sizeof(s.workdir), "%s/lockstep-%s",
	           cfg->backup_staging_dir, backup_id) < 0)
		return 2;
	for (;;) {
		uint8_t *buf = NULL;
		size_t len = 0;
		Ls__Operation *op;
		int done;

		rv = ls_frame_read(STDIN_FILENO, 0, &buf, &len);
		if (rv < 0)
			break; /* the agent went away: drop everything */
		op = ls__operation__unpack(NULL, len, buf);
		free(buf);
		if (op == NULL) {
			rv = LS_EPROTO;
			break;
		}
		done = handle(&s, op);
		ls__operation__free_unpacked(op, NULL);
		if (done != 0) {
			rv = done < 0 ? LS_EIO : 0;
			break;
		}
	}
	release(&s);
	pthread_mutex_destroy(&s.prog_mtx);
	return rv == 0 ? 0 : 1;
}
