/*
 * Repositories cut and copy against real git: the bundles and .refs files
 * hold the refs of the cut even after pushes, the layout and manifests are
 * gitaly-backup's, and a broken repository fails the copy cleanly. The
 * refs backends' corners are in test_backup_repos_snap.c.
 */
#include "repos_testutil.h"

/* A corrupt repository (an object of a recorded ref gone). */
static void test_corrupt(struct agent_config *cfg, const char *work)
{
	struct backup_artifacts o = {0};
	struct ls_strlist failed = {0};
	char bdir[LS_PATH_MAX], p[2 * LS_PATH_MAX], err[1024], want[512];
	const struct trepo *t = &repos[11];
	char tip[72];

	/* The tip of main, a loose object (written by hash-object). */
	CHECK(sscanf(t->cut_refs, "%71s HEAD", tip) == 1);
	snprintf(p, sizeof(p), "%s/objects/%.2s/%s", t->path, tip, tip + 2);
	CHECK_EQ_INT(unlink(p), 0);
	snprintf(want, sizeof(want), "default/%s", t->rel);

	snprintf(bdir, sizeof(bdir), "%s/backup-fail", base);
	CHECK(backup_repos_copy(cfg, work, bdir, ID, 0, NULL, NULL, &o, &failed,
	                        err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, want);
	CHECK_EQ_INT(o.n, 0);
	CHECK_EQ_INT(failed.n, 0);
	CHECK_EQ_INT(count_files(bdir, NULL), 0);

	snprintf(bdir, sizeof(bdir), "%s/backup-partial", base);
	CHECK_EQ_INT(backup_repos_copy(cfg, work, bdir, ID, 1, NULL, NULL, &o,
	                               &failed, err, sizeof(err)),
	             0);
	CHECK_EQ_INT(failed.n, 1);
	if (failed.n == 1)
		CHECK_STR(failed.items[0], want);
	CHECK_EQ_INT(count_files(bdir, strrchr(t->rel, '/') + 1), 0);
	snprintf(p, sizeof(p), "%s/repositories/manifests/default/%s/%s.toml",
	         bdir, repos[0].rel, ID);
	CHECK(exists(p));
	check_artifacts(bdir, &o);
	backup_artifacts_free(&o);
	free_failed(&failed);
}

/* A *.git directory git cannot read: recorded at the cut, failed later. */
static void test_unreadable(void)
{
	struct agent_gitaly_storage st = {"second", NULL};
	struct agent_config cfg;
	struct backup_repos_cut cut;
	struct backup_artifacts o = {0};
	struct ls_strlist failed = {0};
	char sdir[LS_PATH_MAX], work[LS_PATH_MAX], bdir[LS_PATH_MAX];
	char p[LS_PATH_MAX + 64], err[1024];
	size_t save = nrepos;

	snprintf(sdir, sizeof(sdir), "%s/storage2", base);
	snprintf(work, sizeof(work), "%s/work2", base);
	st.path = sdir;
	init_cfg(&cfg, &st, 1);
	snprintf(p, sizeof(p), "%s/ns/junk.git", sdir);
	CHECK_EQ_INT(ls_mkdirs(p, 0755), 0);
	CHECK_EQ_INT(ls_mkdirs(work, 0700), 0);
	make_repo(sdir, "ns/good.git", 'n', "sha1");
	nrepos = save;
	CHECK_EQ_INT(backup_repos_cut(&cfg, work, &cut, err, sizeof(err)), 0);
	CHECK_EQ_INT(cut.repos, 2);
	snprintf(bdir, sizeof(bdir), "%s/backup-u1", base);
	CHECK(backup_repos_copy(&cfg, work, bdir, ID, 0, NULL, NULL, &o,
	                        &failed, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "second/ns/junk.git");
	CHECK_EQ_INT(count_files(bdir, NULL), 0);
	snprintf(bdir, sizeof(bdir), "%s/backup-u2", base);
	CHECK_EQ_INT(backup_repos_copy(&cfg, work, bdir, ID, 1, NULL, NULL, &o,
	                               &failed, err, sizeof(err)),
	             0);
	CHECK_EQ_INT(failed.n, 1);
	if (failed.n == 1)
		CHECK_STR(failed.items[0], "second/ns/junk.git");
	CHECK_EQ_INT(o.n, 4); /* good.git: bundle, refs, 2 manifests */
	backup_artifacts_free(&o);
	free_failed(&failed);
}

int main(void)
{
	struct agent_gitaly_storage st = {"default", NULL};
	struct agent_config cfg;
	struct backup_repos_cut cut;
	struct backup_artifacts o = {0};
	struct ls_strlist failed = {0};
	struct prog pr = {0};
	char storage[LS_PATH_MAX], work[LS_PATH_MAX], bdir[LS_PATH_MAX];
	char rel[256], p[2 * LS_PATH_MAX], err[1024];
	uint64_t refs = 0, bytes = 0;
	size_t i;
	int id;

	if (mkdtemp(base) == NULL)
		return 1;
	snprintf(home_env, sizeof(home_env), "HOME=%s", base);
	snprintf(storage, sizeof(storage), "%s/storage", base);
	snprintf(work, sizeof(work), "%s/work", base);
	snprintf(bdir, sizeof(bdir), "%s/backup", base);
	CHECK_EQ_INT(ls_mkdirs(storage, 0755), 0);
	CHECK_EQ_INT(ls_mkdirs(work, 0700), 0);
	snprintf(p, sizeof(p), "%s/verify.git", base);
	CHECK_EQ_INT(GIT(NULL, NULL, "init", "-q", "--bare", p), 0);
	st.path = storage;
	init_cfg(&cfg, &st, 1);

	/* 0: plain, 1: custom hooks, 9: empty, 10: HEAD at a missing
	 * branch, 11: corrupted later; then legacy paths, one sha256. */
	for (id = 1; id <= NHASHED; id++) {
		hashed_rel(id, rel, sizeof(rel));
		make_repo(storage, rel,
		          id == 2    ? 'h'
		          : id == 10 ? 'e'
		          : id == 11 ? 'm'
		                     : 'n',
		          "sha1");
	}
	make_repo(storage, "group/sub/project.wiki.git", 'n', "sha1");
	make_repo(storage, "group/sha.git", 'n', "sha256");
	/* Gitaly's scratch space is not walked. */
	snprintf(p, sizeof(p), "%s/+gitaly/tmp/skip.git", storage);
	CHECK_EQ_INT(GIT(NULL, NULL, "init", "-q", "--bare", p), 0);
	for (i = 0; i < nrepos; i++) {
		expect_refs(&repos[i]);
		refs += repos[i].empty ? 0 : 5;
	}

	CHECK_EQ_INT(backup_repos_cut(&cfg, work, &cut, err, sizeof(err)), 0);
	CHECK_EQ_INT(cut.repos, nrepos);
	CHECK_EQ_INT(cut.empty, 1);
	CHECK_EQ_INT(cut.refs, refs);

	mutate();
	CHECK_EQ_INT(backup_repos_copy(&cfg, work, bdir, ID, 0, on_progress,
	                               &pr, &o, &failed, err, sizeof(err)),
	             0);
	if (err[0] && o.n == 0)
		fprintf(stderr, "copy: %s\n", err);
	CHECK_EQ_INT(failed.n, 0);
	for (i = 0; i < nrepos; i++)
		check_repo(bdir, &repos[i]);
	check_manifests(bdir);
	snprintf(p, sizeof(p),
	         "%s/repositories/default/%s/%s/001.custom_hooks.tar", bdir,
	         repos[1].rel, ID);
	check_hooks_tar(p);
	CHECK_EQ_INT(count_files(bdir, "custom_hooks.tar"), 1);
	check_artifacts(bdir, &o);
	/* 13 non-empty repos: bundle, refs, 2 manifests; empty: 3; hooks. */
	CHECK_EQ_INT(o.n, (nrepos - 1) * 4 + 3 + 1);
	for (i = 0; i < o.n; i++)
		bytes += o.items[i].size;
	CHECK(pr.calls >= 1);
	CHECK_EQ_INT(pr.done, nrepos);
	CHECK_EQ_INT(pr.total, nrepos);
	CHECK_EQ_INT(pr.bytes, bytes);
	snprintf(p, sizeof(p), "%s/bundle-tmp", work);
	CHECK(!exists(p));
	backup_artifacts_free(&o);

	test_corrupt(&cfg, work);
	test_unreadable();

	for (i = 0; i < nrepos; i++)
		free(repos[i].cut_refs);
	ls_rmtree(base);
	return tu_done();
}
