/*
 * `lockstep-agent-exec restore` end to end against a scratch node: a real
 * PostgreSQL 15 cluster (pg_cluster.c), real git repositories and a file
 * component, backed up with the backup libraries; then RestoreDb,
 * RestoreFiles, RestoreRepos, RestoreVerify and RestoreDrill run through
 * the binary, framed, as the agent runs them.
 */
#include "pg_cluster.h"
#include "repos_testutil.h"

#include "backup_files.h"
#include "backup_pg_rows.h"
#include "exec_restore_testutil.h"

#define NITEMS 1000
#define NREPOS 3

static char bdir[LS_PATH_MAX], staging[LS_PATH_MAX], storage[LS_PATH_MAX];
static char uploads[LS_PATH_MAX];
static char *uploads_at_backup;
static Ls__TableCount cut_rows[8], *cut_ptrs[8];
static char cut_names[8][128];
static size_t ncut;

static int on_cut_count(void *arg, const char *name, uint64_t rows)
{
	(void)arg;
	if (ncut < 8) {
		ls_strlcpy(cut_names[ncut], name, sizeof(cut_names[0]));
		ls__table_count__init(&cut_rows[ncut]);
		cut_rows[ncut].table = cut_names[ncut];
		cut_rows[ncut].rows = rows;
		cut_ptrs[ncut] = &cut_rows[ncut];
		ncut++;
	}
	return 0;
}

/* "path sha256\n" for every entry below dir, in name order. */
static void digest(const char *dir, const char *rel, char **acc, size_t *len)
{
	struct dirent **ents = NULL;
	char p[LS_PATH_MAX], r[LS_PATH_MAX], line[LS_PATH_MAX + 80], hex[65];
	uint8_t sha[32];
	uint64_t size;
	struct stat sb;
	int n, i;

	n = scandir(dir, &ents, NULL, alphasort);
	for (i = 0; i < n; i++) {
		const char *nm = ents[i]->d_name;

		if (strcmp(nm, ".") != 0 && strcmp(nm, "..") != 0 &&
		    ls_fmt(p, sizeof(p), "%s/%s", dir, nm) == 0 &&
		    ls_fmt(r, sizeof(r), "%s%s", rel, nm) == 0 &&
		    lstat(p, &sb) == 0) {
			hex[0] = '\0';
			if (S_ISREG(sb.st_mode) &&
			    ls_sha256_file(p, &size, sha) == 0)
				ls_hex(hex, sha, 32);
			snprintf(line, sizeof(line), "%s %o %s\n", r,
			         (unsigned)sb.st_mode, hex);
			*acc = realloc(*acc, *len + strlen(line) + 1);
			memcpy(*acc + *len, line, strlen(line) + 1);
			*len += strlen(line);
			if (S_ISDIR(sb.st_mode)) {
				size_t l = strlen(r);

				if (l + 1 < sizeof(r)) {
					r[l] = '/';
					r[l + 1] = '\0';
				}
				digest(p, r, acc, len);
			}
		}
		free(ents[i]);
	}
	free(ents);
}

static char *tree(const char *dir)
{
	char *acc = strdup("");
	size_t len = 0;

	digest(dir, "", &acc, &len);
	return acc;
}

/* The refs of a repository as the backup's .refs lists them. */
static char *refs_now(const char *path)
{
	struct trepo t;

	memset(&t, 0, sizeof(t));
	snprintf(t.path, sizeof(t.path), "%s", path);
	expect_refs(&t);
	return t.cut_refs;
}

static void put(const char *path, const void *data, size_t len)
{
	CHECK_EQ_INT(ls_write_atomic(path, data, len, 0644), 0);
}

static void putf(const char *dir, const char *rel, const char *text)
{
	char p[LS_PATH_MAX];

	CHECK_EQ_INT(ls_fmt(p, sizeof(p), "%s/%s", dir, rel), 0);
	put(p, text, strlen(text));
}

static const Ls__Mismatch *find_mm(const Ls__RestoreResult *r, const char *item)
{
	size_t i;

	for (i = 0; i < r->n_mismatches; i++)
		if (strcmp(r->mismatches[i]->item, item) == 0)
			return r->mismatches[i];
	return NULL;
}

static const Ls__ComponentOutcome *find_oc(const Ls__RestoreResult *r,
                                           const char *comp)
{
	size_t i;

	for (i = 0; i < r->n_components; i++)
		if (strcmp(r->components[i]->component, comp) == 0)
			return r->components[i];
	return NULL;
}

static void check_mm(const Ls__RestoreResult *r, const char *item,
                     const char *expected, const char *found)
{
	const Ls__Mismatch *m = find_mm(r, item);

	CHECK(m != NULL);
	if (m == NULL) {
		fprintf(stderr, "no mismatch for %s\n", item);
		return;
	}
	CHECK_STR(m->expected, expected);
	CHECK_STR(m->found, found);
}

/* ---- the backup ---- */

static void make_backup(PGconn *gl)
{
	struct backup_pg_hold *h = NULL;
	struct backup_files_cut fc;
	struct backup_artifacts arts = {0};
	struct backup_repos_cut rc;
	struct ls_strlist failed = {0};
	struct agent_gitaly_storage st = {"default", storage};
	struct agent_config cfg;
	char ci[1200], snap[64], lsn[64], err[1024], p[LS_PATH_MAX];
	char rel[256];
	unsigned char *blob = tu_random_bytes(256 * 1024, 7);
	int i;

	CHECK_EQ_INT(tpg_exec(gl,
	                      "CREATE TABLE items (id serial PRIMARY KEY, "
	                      "v text);"
	                      "INSERT INTO items (v) SELECT md5(g::text) "
	                      "FROM generate_series(1, 1000) g;"
	                      "CREATE TABLE \"Odd\"\"Name\" (x int);"
	                      "INSERT INTO \"Odd\"\"Name\" VALUES (1), (2)"),
	             0);
	ls_fmt(ci, sizeof(ci), "%s dbname=gl", T.base);
	ls_fmt(p, sizeof(p), "%s/db", bdir);
	CHECK_EQ_INT(ls_mkdirs(p, 0700), 0);
	ls_fmt(p, sizeof(p), "%s/db/database.sql.gz", bdir);
	CHECK_EQ_INT(backup_pg_hold(ci, &h, snap, sizeof(snap), lsn,
	                            sizeof(lsn), err, sizeof(err)),
	             0);
	CHECK_EQ_INT(
	    backup_pg_table_counts(h, on_cut_count, NULL, err, sizeof(err)), 0);
	CHECK_EQ_INT(backup_pg_dump(PGBIN "/pg_dump", ci, snap, p, BACKUP_GZIP,
	                            NULL, NULL, NULL, NULL, NULL, err,
	                            sizeof(err)),
	             0);
	backup_pg_release(h);
	CHECK_EQ_INT(ncut, 2);

	putf(uploads, "a.txt", "alpha\n");
	ls_fmt(p, sizeof(p), "%s/sub", uploads);
	CHECK_EQ_INT(ls_mkdirs(p, 0755), 0);
	putf(uploads, "sub/b.txt", "beta\n");
	ls_fmt(p, sizeof(p), "%s/sub/c.bin", uploads);
	put(p, blob, 256 * 1024);
	free(blob);
	uploads_at_backup = tree(uploads);
	ls_fmt(p, sizeof(p), "%s/snap", base);
	CHECK_EQ_INT(
	    backup_files_cut("uploads", uploads, p, &fc, err, sizeof(err)), 0);
	ls_fmt(ci, sizeof(ci), "%s/uploads.tar.gz", bdir);
	CHECK_EQ_INT(backup_files_copy("uploads", p, ci, "uploads.tar.gz",
	                               BACKUP_GZIP, NULL, NULL, &arts, err,
	                               sizeof(err)),
	             0);

	for (i = 1; i <= NREPOS; i++) {
		hashed_rel(i, rel, sizeof(rel));
		make_repo(storage, rel, 'n', "sha1");
		expect_refs(&repos[i - 1]);
	}
	init_cfg(&cfg, &st, 1);
	ls_fmt(p, sizeof(p), "%s/work", base);
	CHECK_EQ_INT(ls_mkdirs(p, 0700), 0);
	CHECK_EQ_INT(backup_repos_cut(&cfg, p, &rc, err, sizeof(err)), 0);
	CHECK_EQ_INT(backup_repos_copy(&cfg, p, bdir, ID, 0, NULL, NULL, &arts,
	                               &failed, err, sizeof(err)),
	             0);
	backup_artifacts_free(&arts);
	free_failed(&failed);
}

static void write_config(void)
{
	char yml[8192], ci[1400], q[1500];

	ls_fmt(ci, sizeof(ci), "%s dbname=gl", T.base);
	yaml_sq(q, sizeof(q), ci);
	CHECK_EQ_INT(ls_fmt(yml, sizeof(yml),
	                    "state_dir: %s/state\n"
	                    "backup_staging_dir: %s\n"
	                    "min_free_space: 0\n"
	                    "warn_free_space: 0\n"
	                    "postgresql:\n"
	                    "  conninfo: %s\n"
	                    "gitaly:\n"
	                    "  git: " LS_GIT_PATH "\n"
	                    "  storages:\n"
	                    "    - name: default\n"
	                    "      path: %s\n"
	                    "backup:\n"
	                    "  uploads: %s\n"
	                    "  pg_dump: " PGBIN "/pg_dump\n"
	                    "  jobs: 2\n",
	                    base, staging, q, storage, uploads),
	             0);
	ls_fmt(xr_config, sizeof(xr_config), "%s/agent.yml", base);
	put(xr_config, yml, strlen(yml));
}

/* ---- the operations ---- */

static void op_files(Ls__Operation *op, Ls__ComponentArchive *ca,
                     Ls__ComponentArchive **cap, const char *archive)
{
	ls__component_archive__init(ca);
	ca->component = "uploads";
	ca->archive = (char *)archive;
	cap[0] = ca;
	(void)op;
}

static void test_db(void)
{
	Ls__Operation op = LS__OPERATION__INIT;
	Ls__RestoreDb d = LS__RESTORE_DB__INIT;
	struct xrun x;
	PGconn *gl = tpg_connect("gl");
	size_t i;
	int found = 0;

	CHECK_EQ_INT(tpg_exec(gl, "DELETE FROM items WHERE id <= 10;"
	                          "CREATE TABLE later (x int)"),
	             0);
	PQfinish(gl);
	op.id = 101;
	op.kind_case = LS__OPERATION__KIND_RESTORE_DB;
	op.restore_db = &d;
	d.backup_dir = bdir;
	d.dump = "db/database.sql.gz";
	xrun(&op, &x);
	CHECK_EQ_INT(xstatus(&x), 0);
	CHECK_EQ_INT(x.bad_progress, 0);
	for (i = 0; i < xres(&x)->n_table_rows; i++)
		if (strcmp(xres(&x)->table_rows[i]->table, "public.items") ==
		    0) {
			CHECK_EQ_INT(xres(&x)->table_rows[i]->rows, NITEMS);
			found = 1;
		}
	CHECK(found);
	CHECK_EQ_INT(xres(&x)->n_table_rows, 2);
	xrun_free(&x);
	gl = tpg_connect("gl");
	CHECK_EQ_INT(tpg_value(gl, "SELECT count(*) FROM items"), NITEMS);
	CHECK_EQ_INT(tpg_value(gl, "SELECT count(*) FROM pg_tables WHERE "
	                           "tablename = 'later'"),
	             0);
	PQfinish(gl);

	/* A CI database this node has not configured. */
	d.has_ci = d.ci = 1;
	xrun(&op, &x);
	CHECK_EQ_INT(xstatus(&x), LS_ECONFIG);
	CHECK_CONTAINS(xerror(&x), "postgresql.ci_conninfo");
	xrun_free(&x);
	d.has_ci = d.ci = 0;
	d.dump = "../db/database.sql.gz";
	xrun(&op, &x);
	CHECK_EQ_INT(xstatus(&x), LS_EINVAL);
	CHECK_CONTAINS(xerror(&x), "../db/database.sql.gz");
	xrun_free(&x);
}

static void test_verify_db(void)
{
	Ls__Operation op = LS__OPERATION__INIT;
	Ls__RestoreVerify v = LS__RESTORE_VERIFY__INIT;
	Ls__TableCount nope = LS__TABLE_COUNT__INIT, *want[10];
	const Ls__ComponentOutcome *o;
	struct xrun x;
	PGconn *gl;

	op.id = 102;
	op.kind_case = LS__OPERATION__KIND_RESTORE_VERIFY;
	op.restore_verify = &v;
	v.backup_dir = bdir;
	v.backup_id = ID;
	v.has_database = v.database = 1;
	memcpy(want, cut_ptrs, ncut * sizeof(*want));
	v.table_rows = want;
	v.n_table_rows = ncut;
	xrun(&op, &x);
	CHECK_EQ_INT(xstatus(&x), 0);
	CHECK_EQ_INT(xres(&x)->mismatch_count, 0);
	o = find_oc(xres(&x), "db");
	CHECK(o != NULL && o->ok && o->items == ncut && o->has_ms);
	xrun_free(&x);

	gl = tpg_connect("gl");
	CHECK_EQ_INT(tpg_exec(gl, "DELETE FROM items WHERE id = 1"), 0);
	nope.table = "public.nope";
	nope.rows = 3;
	want[ncut] = &nope;
	v.n_table_rows = ncut + 1;
	xrun(&op, &x);
	CHECK_EQ_INT(xstatus(&x), 0);
	CHECK_EQ_INT(xres(&x)->mismatch_count, 2);
	check_mm(xres(&x), "public.items", "1000", "999");
	check_mm(xres(&x), "public.nope", "3", "");
	o = find_oc(xres(&x), "db");
	CHECK(o != NULL && !o->ok && o->mismatches == 2);
	xrun_free(&x);
	CHECK_EQ_INT(tpg_exec(gl, "INSERT INTO items VALUES (1, 'back')"), 0);
	PQfinish(gl);
}

static void test_files(void)
{
	Ls__Operation op = LS__OPERATION__INIT, vop = LS__OPERATION__INIT;
	Ls__RestoreFiles f = LS__RESTORE_FILES__INIT;
	Ls__RestoreVerify v = LS__RESTORE_VERIFY__INIT;
	Ls__ComponentArchive ca, *cap[1];
	char p[LS_PATH_MAX], *now, tmp[LS_PATH_MAX];
	struct xrun x;

	putf(uploads, "a.txt", "changed\n");
	putf(uploads, "new.txt", "new\n");
	ls_fmt(p, sizeof(p), "%s/sub/b.txt", uploads);
	CHECK_EQ_INT(unlink(p), 0);
	op.id = 103;
	op.kind_case = LS__OPERATION__KIND_RESTORE_FILES;
	op.restore_files = &f;
	f.backup_dir = bdir;
	f.component = "uploads";
	f.archive = "uploads.tar.gz";
	xrun(&op, &x);
	CHECK_EQ_INT(xstatus(&x), 0);
	now = tree(uploads);
	CHECK_STR(now, uploads_at_backup);
	free(now);
	ls_fmt(tmp, sizeof(tmp), "%s/tmp/uploads.", staging);
	CHECK(xres(&x)->aside != NULL &&
	      strncmp(xres(&x)->aside, tmp, strlen(tmp)) == 0);
	ls_fmt(p, sizeof(p), "%s/new.txt", xres(&x)->aside);
	CHECK(exists(p));
	CHECK(x.progress > 0);
	xrun_free(&x);

	vop.id = 104;
	vop.kind_case = LS__OPERATION__KIND_RESTORE_VERIFY;
	vop.restore_verify = &v;
	v.backup_dir = bdir;
	v.backup_id = ID;
	op_files(&vop, &ca, cap, "uploads.tar.gz");
	v.files = cap;
	v.n_files = 1;
	xrun(&vop, &x);
	CHECK_EQ_INT(xstatus(&x), 0);
	CHECK_EQ_INT(xres(&x)->mismatch_count, 0);
	CHECK(find_oc(xres(&x), "uploads") && find_oc(xres(&x), "uploads")->ok);
	xrun_free(&x);

	putf(uploads, "sub/c.bin", "not the blob");
	putf(uploads, "extra.txt", "extra\n");
	ls_fmt(p, sizeof(p), "%s/a.txt", uploads);
	CHECK_EQ_INT(unlink(p), 0);
	xrun(&vop, &x);
	CHECK_EQ_INT(xstatus(&x), 0);
	CHECK_EQ_INT(xres(&x)->mismatch_count, 3);
	check_mm(xres(&x), "sub/c.bin", "present", "differs");
	check_mm(xres(&x), "extra.txt", "", "present");
	check_mm(xres(&x), "a.txt", "present", "");
	CHECK(find_oc(xres(&x), "uploads") &&
	      !find_oc(xres(&x), "uploads")->ok);
	xrun_free(&x);

	/* Again, within the same second: a second aside directory. */
	op.id = 105;
	xrun(&op, &x);
	CHECK_EQ_INT(xstatus(&x), 0);
	now = tree(uploads);
	CHECK_STR(now, uploads_at_backup);
	free(now);
	ls_fmt(p, sizeof(p), "%s/extra.txt",
	       xres(&x)->aside ? xres(&x)->aside : "/nonexistent");
	CHECK(exists(p));
	xrun_free(&x);

	f.component = "nonsense";
	xrun(&op, &x);
	CHECK_EQ_INT(xstatus(&x), LS_EINVAL);
	CHECK_CONTAINS(xerror(&x), "nonsense");
	xrun_free(&x);
}

static void test_repos(void)
{
	Ls__Operation op = LS__OPERATION__INIT, vop = LS__OPERATION__INIT;
	Ls__RestoreRepos r = LS__RESTORE_REPOS__INIT;
	Ls__RestoreVerify v = LS__RESTORE_VERIFY__INIT;
	char gd[LS_PATH_MAX + 16], c[OID_BUF], *old = NULL, *now, item[512];
	struct xrun x;
	size_t i;

	snprintf(gd, sizeof(gd), "--git-dir=%s", repos[0].path);
	CHECK_EQ_INT(GIT(NULL, &old, gd, "rev-parse", "refs/heads/main"), 0);
	chomp(old);
	CHECK_EQ_INT(commit(gd, old, "after the backup", c), 0);
	CHECK_EQ_INT(GIT(NULL, NULL, gd, "update-ref", "refs/heads/main", c),
	             0);
	free(old);
	op.id = 106;
	op.kind_case = LS__OPERATION__KIND_RESTORE_REPOS;
	op.restore_repos = &r;
	r.backup_dir = bdir;
	r.backup_id = ID;
	xrun(&op, &x);
	CHECK_EQ_INT(xstatus(&x), 0);
	CHECK_EQ_INT(xres(&x)->repos, NREPOS);
	CHECK_EQ_INT(xres(&x)->removed, 0);
	CHECK(xres(&x)->bytes > 0);
	CHECK_EQ_INT(xres(&x)->n_failed_repos, 0);
	CHECK(x.progress > 0);
	xrun_free(&x);
	for (i = 0; i < NREPOS; i++) {
		now = refs_now(repos[i].path);
		CHECK_STR(now, repos[i].cut_refs);
		free(now);
	}

	vop.id = 107;
	vop.kind_case = LS__OPERATION__KIND_RESTORE_VERIFY;
	vop.restore_verify = &v;
	v.backup_dir = bdir;
	v.backup_id = ID;
	v.has_repositories = v.repositories = 1;
	xrun(&vop, &x);
	CHECK_EQ_INT(xstatus(&x), 0);
	CHECK_EQ_INT(xres(&x)->mismatch_count, 0);
	CHECK(find_oc(xres(&x), "repositories") &&
	      find_oc(xres(&x), "repositories")->ok);
	xrun_free(&x);

	snprintf(gd, sizeof(gd), "--git-dir=%s", repos[1].path);
	CHECK_EQ_INT(GIT(NULL, NULL, gd, "update-ref", "refs/heads/feature",
	                 "refs/heads/main"),
	             0);
	xrun(&vop, &x);
	CHECK_EQ_INT(xstatus(&x), 0);
	CHECK_EQ_INT(xres(&x)->mismatch_count, 1);
	snprintf(item, sizeof(item), "default/%s refs/heads/feature",
	         repos[1].rel);
	CHECK(find_mm(xres(&x), item) != NULL);
	xrun_free(&x);
	/* Back as the backup has it, for the drill. */
	op.id = 108;
	xrun(&op, &x);
	CHECK_EQ_INT(xstatus(&x), 0);
	xrun_free(&x);
}

/* Everything the drill must not touch, as one string. */
static char *live_state(void)
{
	PGconn *gl = tpg_connect("gl");
	char *t = tree(uploads), *r, *acc;
	size_t len, i;
	long long n = tpg_value(gl, "SELECT count(*) FROM items");

	len = strlen(t) + 64;
	acc = malloc(len);
	snprintf(acc, len, "%s%lld\n", t, n);
	free(t);
	for (i = 0; i < NREPOS; i++) {
		size_t have = strlen(acc), add;

		r = refs_now(repos[i].path);
		add = strlen(r);
		acc = realloc(acc, have + add + 1);
		CHECK(acc != NULL);
		memcpy(acc + have, r, add + 1);
		free(r);
	}
	PQfinish(gl);
	return acc;
}

static void check_no_scratch(void)
{
	PGconn *pg = tpg_connect("postgres");
	struct dirent **ents = NULL;
	int names, i;

	CHECK_EQ_INT(tpg_value(pg, "SELECT count(*) FROM pg_database WHERE "
	                           "datname LIKE 'lockstep_drill%'"),
	             0);
	PQfinish(pg);
	/* The staging directory holds GitLab's tmp/ (restored trees moved
	 * aside) and nothing else. */
	names = scandir(staging, &ents, NULL, alphasort);
	for (i = 0; i < names; i++) {
		if (ents[i]->d_name[0] != '.' &&
		    strcmp(ents[i]->d_name, "tmp") != 0) {
			fprintf(stderr, "left in %s: %s\n", staging,
			        ents[i]->d_name);
			CHECK(!"only tmp/ in the staging directory");
		}
		free(ents[i]);
	}
	free(ents);
	CHECK(names > 0);
}

static void test_drill(void)
{
	Ls__Operation op = LS__OPERATION__INIT;
	Ls__RestoreDrill d = LS__RESTORE_DRILL__INIT;
	Ls__ComponentArchive ca, *cap[1];
	const Ls__ComponentOutcome *o;
	char *before = live_state(), *after, p[LS_PATH_MAX], q[LS_PATH_MAX];
	char *data = NULL;
	size_t len = 0;
	struct xrun x;

	op.id = 109;
	op.kind_case = LS__OPERATION__KIND_RESTORE_DRILL;
	op.restore_drill = &d;
	d.backup_dir = bdir;
	d.backup_id = ID;
	d.dump = "db/database.sql.gz";
	d.has_repositories = d.repositories = 1;
	op_files(&op, &ca, cap, "uploads.tar.gz");
	d.files = cap;
	d.n_files = 1;
	xrun(&op, &x);
	CHECK_EQ_INT(xstatus(&x), 0);
	CHECK_EQ_INT(xres(&x)->n_components, 3);
	CHECK_EQ_INT(xres(&x)->mismatch_count, 0);
	o = find_oc(xres(&x), "db");
	CHECK(o != NULL && o->ok && o->items == 2);
	o = find_oc(xres(&x), "repositories");
	CHECK(o != NULL && o->ok && o->items == NREPOS);
	o = find_oc(xres(&x), "uploads");
	CHECK(o != NULL && o->ok && o->error == NULL);
	xrun_free(&x);
	after = live_state();
	CHECK_STR(after, before);
	free(after);
	check_no_scratch();

	/* Corrupt artifacts: a truncated dump and a truncated archive. */
	ls_fmt(p, sizeof(p), "%s/db/database.sql.gz", bdir);
	CHECK_EQ_INT(ls_read_file(p, 64 << 20, &data, &len), 0);
	ls_fmt(q, sizeof(q), "%s/db/bad.sql.gz", bdir);
	put(q, data, len / 2);
	free(data);
	ls_fmt(p, sizeof(p), "%s/uploads.tar.gz", bdir);
	CHECK_EQ_INT(ls_read_file(p, 64 << 20, &data, &len), 0);
	ls_fmt(q, sizeof(q), "%s/uploads-bad.tar.gz", bdir);
	put(q, data, len / 2);
	free(data);
	op.id = 110;
	d.dump = "db/bad.sql.gz";
	d.has_repositories = d.repositories = 0;
	ca.archive = "uploads-bad.tar.gz";
	xrun(&op, &x);
	CHECK(xstatus(&x) < 0);
	o = find_oc(xres(&x), "db");
	CHECK(o != NULL && !o->ok);
	CHECK_CONTAINS(o ? o->error : NULL, "db/bad.sql.gz");
	o = find_oc(xres(&x), "uploads");
	CHECK(o != NULL && !o->ok);
	CHECK_CONTAINS(o ? o->error : NULL, "uploads-bad.tar.gz");
	CHECK_CONTAINS(xerror(&x), "bad.sql.gz");
	xrun_free(&x);
	after = live_state();
	CHECK_STR(after, before);
	free(after);
	check_no_scratch();
	free(before);
}

int main(void)
{
	PGconn *admin = NULL, *gl = NULL;

	T.wd_fd = -1;
	T.proc.pid = -1;
	T.proc.in_fd = T.proc.out_fd = T.proc.err_fd = -1;
	if (mkdtemp(base) == NULL)
		return 1;
	snprintf(home_env, sizeof(home_env), "HOME=%s", base);
	ls_fmt(bdir, sizeof(bdir), "%s/backup", base);
	ls_fmt(staging, sizeof(staging), "%s/staging", base);
	ls_fmt(storage, sizeof(storage), "%s/storage", base);
	ls_fmt(uploads, sizeof(uploads), "%s/uploads", base);
	CHECK_EQ_INT(ls_mkdirs(bdir, 0700), 0);
	CHECK_EQ_INT(ls_mkdirs(staging, 0700), 0);
	CHECK_EQ_INT(ls_mkdirs(storage, 0755), 0);
	CHECK_EQ_INT(ls_mkdirs(uploads, 0755), 0);
	/* PostgreSQL refuses root: as root the cluster runs as postgres. */
	T.skip = geteuid() == 0 ? 0 : 4;
	if (tpg_start() < 0) {
		CHECK(!"PostgreSQL cluster started");
	} else if ((admin = tpg_connect("postgres")) == NULL ||
	           tpg_exec(admin, "CREATE DATABASE gl") != 0 ||
	           (gl = tpg_connect("gl")) == NULL) {
		CHECK(!"database gl created");
	} else {
		make_backup(gl);
		PQfinish(gl);
		write_config();
		test_db();
		test_verify_db();
		test_files();
		test_repos();
		test_drill();
	}
	PQfinish(admin);
	CHECK_EQ_INT(tpg_stop(), 0);
	free(uploads_at_backup);
	ls_rmtree(base);
	return tu_done();
}
