/*
 * The cut's snapshot of git's ref files against the refs backends'
 * corners, and its timing (LS_BENCH_CUT_REPOS=N runs the benchmark
 * instead: N generated repositories, best and mean of 3 cuts).
 */
#include "repos_testutil.h"

/* Lines of s: the refs a 001.refs (or for-each-ref) lists. */
static uint64_t count_lines(const char *s)
{
	uint64_t n = 0;

	for (; s != NULL && *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

/*
 * The snapshot of the cut against the refs backends' corners: loose and
 * packed refs together (a loose one shadowing its packed line), refs moved
 * and `git pack-refs --all` run between cut and copy, a detached HEAD, a
 * HEAD at an unborn branch, symlinks planted under refs/.
 */
static void test_snapshot(void)
{
	struct agent_gitaly_storage st = {"third", NULL};
	struct agent_config cfg;
	struct backup_repos_cut cut;
	struct backup_artifacts o = {0};
	struct ls_strlist failed = {0};
	char sdir[LS_PATH_MAX], work[LS_PATH_MAX], bdir[LS_PATH_MAX];
	char p[2 * LS_PATH_MAX], q[LS_PATH_MAX + 64], gd[LS_PATH_MAX + 16];
	char err[1024], c[OID_BUF], *tip = NULL, *got = NULL;
	struct trepo *mixed, *det, *unborn, *sym;
	uint64_t refs = 0;
	size_t save = nrepos, i;

	snprintf(sdir, sizeof(sdir), "%s/storage3", base);
	snprintf(work, sizeof(work), "%s/work3", base);
	snprintf(bdir, sizeof(bdir), "%s/backup-snap", base);
	st.path = sdir;
	init_cfg(&cfg, &st, 1);
	CHECK_EQ_INT(ls_mkdirs(work, 0700), 0);

	/* Packed refs, then loose ones: a new ref and main moved on. */
	make_repo(sdir, "g/mixed.git", 'n', "sha1");
	mixed = &repos[nrepos - 1];
	snprintf(gd, sizeof(gd), "--git-dir=%s", mixed->path);
	CHECK_EQ_INT(GIT(NULL, NULL, gd, "pack-refs", "--all"), 0);
	CHECK_EQ_INT(GIT(NULL, &tip, gd, "rev-parse", "refs/heads/main"), 0);
	chomp(tip);
	CHECK_EQ_INT(commit(gd, tip, "loose main", c), 0);
	CHECK_EQ_INT(GIT(NULL, NULL, gd, "update-ref", "refs/heads/main", c),
	             0);
	CHECK_EQ_INT(GIT(NULL, NULL, gd, "update-ref", "refs/heads/loose1", c),
	             0);
	/* A loose symbolic ref, as a mirror's origin/HEAD. */
	CHECK_EQ_INT(GIT(NULL, NULL, gd, "symbolic-ref",
	                 "refs/remotes/origin/HEAD", "refs/heads/loose1"),
	             0);
	snprintf(p, sizeof(p), "%s/packed-refs", mixed->path);
	CHECK(exists(p));
	snprintf(p, sizeof(p), "%s/refs/heads/main", mixed->path);
	CHECK(exists(p));
	free(tip);
	tip = NULL;

	/* Detached HEAD at feature's tip. */
	make_repo(sdir, "g/detached.git", 'n', "sha1");
	det = &repos[nrepos - 1];
	snprintf(gd, sizeof(gd), "--git-dir=%s", det->path);
	CHECK_EQ_INT(GIT(NULL, &tip, gd, "rev-parse", "refs/heads/feature"), 0);
	chomp(tip);
	CHECK_EQ_INT(
	    GIT(NULL, NULL, gd, "update-ref", "--no-deref", "HEAD", tip), 0);

	/* Refs, but HEAD at a branch never born. */
	make_repo(sdir, "g/unborn.git", 'm', "sha1");
	unborn = &repos[nrepos - 1];

	/* A sha256 repository, its refs packed. */
	make_repo(sdir, "g/sha256.git", 'n', "sha256");
	snprintf(gd, sizeof(gd), "--git-dir=%s", repos[nrepos - 1].path);
	CHECK_EQ_INT(GIT(NULL, NULL, gd, "pack-refs", "--all"), 0);

	make_repo(sdir, "g/empty.git", 'e', "sha1");
	make_repo(sdir, "g/symlink.git", 'n', "sha1");
	sym = &repos[nrepos - 1];
	for (i = save; i < nrepos; i++) {
		expect_refs(&repos[i]);
		refs += count_lines(repos[i].cut_refs) -
		        (strstr(repos[i].cut_refs, " HEAD\n") != NULL);
	}
	/* Planted after the expectation: a symlink to a ref file outside
	 * the repository and one to a directory of them; neither is read. */
	snprintf(p, sizeof(p), "%s/outside", base);
	CHECK_EQ_INT(ls_mkdirs(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/outside/ref", base);
	snprintf(q, sizeof(q), "%.40s\n", det->cut_refs);
	CHECK_EQ_INT(write_file(p, q, 0644), 0);
	snprintf(q, sizeof(q), "%s/refs/heads/evil", sym->path);
	CHECK_EQ_INT(symlink(p, q), 0);
	snprintf(p, sizeof(p), "%s/outside", base);
	snprintf(q, sizeof(q), "%s/refs/tags/evildir", sym->path);
	CHECK_EQ_INT(symlink(p, q), 0);

	CHECK_EQ_INT(backup_repos_cut(&cfg, work, &cut, err, sizeof(err)), 0);
	CHECK_EQ_INT(cut.repos, nrepos - save);
	CHECK_EQ_INT(cut.refs, refs);
	CHECK_EQ_INT(cut.empty, 1);

	/* After the cut: refs move, housekeeping packs them all. */
	snprintf(gd, sizeof(gd), "--git-dir=%s", mixed->path);
	CHECK_EQ_INT(commit(gd, c, "after the cut", c), 0);
	CHECK_EQ_INT(GIT(NULL, NULL, gd, "update-ref", "refs/heads/main", c),
	             0);
	CHECK_EQ_INT(GIT(NULL, NULL, gd, "update-ref", "refs/heads/late", c),
	             0);
	CHECK_EQ_INT(GIT(NULL, NULL, gd, "update-ref", "-d", "refs/tags/l1"),
	             0);
	CHECK_EQ_INT(GIT(NULL, NULL, gd, "pack-refs", "--all"), 0);
	snprintf(gd, sizeof(gd), "--git-dir=%s", det->path);
	CHECK_EQ_INT(
	    GIT(NULL, NULL, gd, "symbolic-ref", "HEAD", "refs/heads/main"), 0);
	CHECK_EQ_INT(GIT(NULL, NULL, gd, "pack-refs", "--all"), 0);
	snprintf(gd, sizeof(gd), "--git-dir=%s", unborn->path);
	CHECK_EQ_INT(GIT(NULL, NULL, gd, "update-ref", "refs/heads/missing",
	                 "refs/heads/main"),
	             0);

	CHECK_EQ_INT(backup_repos_copy(&cfg, work, bdir, ID, 0, NULL, NULL, &o,
	                               &failed, err, sizeof(err)),
	             0);
	if (failed.n > 0 || o.n == 0)
		fprintf(stderr, "copy: %s\n", err);
	for (i = save; i < nrepos; i++)
		check_repo_in(bdir, "third", &repos[i]);
	CHECK(strstr(mixed->cut_refs, " refs/heads/loose1\n") != NULL);
	CHECK(strstr(mixed->cut_refs, " refs/tags/l1\n") != NULL);
	CHECK(strstr(mixed->cut_refs, " refs/heads/late\n") == NULL);
	CHECK(strncmp(det->cut_refs, tip, strlen(tip)) == 0);
	CHECK(strstr(unborn->cut_refs, " HEAD\n") == NULL);
	CHECK(strstr(sym->cut_refs, "evil") == NULL);
	snprintf(p, sizeof(p), "%s/repositories/manifests/third/%s/%s.toml",
	         bdir, det->rel, ID);
	got = slurp(p);
	CHECK_CONTAINS(got, "empty = false\n");
	CHECK(got != NULL && strstr(got, "head_reference") == NULL);
	free(got);
	snprintf(p, sizeof(p), "%s/repositories/manifests/third/%s/%s.toml",
	         bdir, unborn->rel, ID);
	got = slurp(p);
	CHECK_CONTAINS(got, "head_reference = 'refs/heads/missing'\n");
	free(got);
	snprintf(p, sizeof(p),
	         "%s/repositories/manifests/third/g/sha256.git/%s.toml", bdir,
	         ID);
	got = slurp(p);
	CHECK_CONTAINS(got, "object_format = 'sha256'\n");
	free(got);
	snprintf(p, sizeof(p),
	         "%s/repositories/manifests/third/g/empty.git/%s.toml", bdir,
	         ID);
	got = slurp(p);
	CHECK_CONTAINS(got, "empty = true\n");
	free(got);
	check_artifacts(bdir, &o);
	/* The live repositories were not written through the links. */
	snprintf(gd, sizeof(gd), "--git-dir=%s", det->path);
	CHECK_EQ_INT(GIT(NULL, &got, gd, "symbolic-ref", "HEAD"), 0);
	CHECK_STR(got, "refs/heads/main\n");
	free(got);
	free(tip);
	backup_artifacts_free(&o);
	free_failed(&failed);
	for (i = save; i < nrepos; i++)
		free(repos[i].cut_refs);
	nrepos = save;
}

/*
 * Micro benchmark of the cut alone (not a test): LS_BENCH_CUT_REPOS=N
 * generates N copies of a small repository and prints the cut's time.
 */
static int bench_cut(const char *nstr)
{
	struct agent_gitaly_storage st = {"bench", NULL};
	struct agent_config cfg;
	struct backup_repos_cut cut;
	char sdir[LS_PATH_MAX], work[LS_PATH_MAX], tdir[LS_PATH_MAX];
	char cmd[4 * LS_PATH_MAX], err[1024], src[LS_PATH_MAX];
	char dst[LS_PATH_MAX];
	const char *cp[] = {"/bin/cp", "-a", src, dst, NULL};
	struct ls_exec_opts eo;
	struct ls_exec_result er;
	long long n = 0, k;
	int64_t t0, best = -1, sum = 0;
	int i, runs = 3;

	if (ls_parse_int(nstr, 1, 1000000, &n) < 0) {
		fprintf(stderr, "LS_BENCH_CUT_REPOS: not a count: %s\n", nstr);
		return 2;
	}

	snprintf(sdir, sizeof(sdir), "%s/bench", base);
	if (getenv("LS_BENCH_CUT_WORK") != NULL)
		snprintf(work, sizeof(work), "%s", getenv("LS_BENCH_CUT_WORK"));
	else
		snprintf(work, sizeof(work), "%s/bench-work", base);
	snprintf(tdir, sizeof(tdir), "%s/tmpl", base);
	CHECK_EQ_INT(ls_mkdirs(work, 0700), 0);
	CHECK_EQ_INT(ls_mkdirs(sdir, 0755), 0);
	make_repo(tdir, "tmpl.git", 'n', "sha1");
	/* n copies of one repository, spread as @hashed/<k % 256>/r<k>.git. */
	CHECK_EQ_INT(ls_fmt(src, sizeof(src), "%s/tmpl.git", tdir), 0);
	memset(&eo, 0, sizeof(eo));
	eo.argv = cp;
	eo.timeout_ms = 60000;
	for (k = 1; k <= n; k++) {
		CHECK_EQ_INT(
		    ls_fmt(dst, sizeof(dst), "%s/@hashed/%lld", sdir, k % 256),
		    0);
		CHECK_EQ_INT(ls_mkdirs(dst, 0755), 0);
		CHECK_EQ_INT(ls_fmt(dst, sizeof(dst),
		                    "%s/@hashed/%lld/r%lld.git", sdir, k % 256,
		                    k),
		             0);
		CHECK_EQ_INT(ls_exec_run(&eo, &er), 0);
		CHECK(er.exited && er.status == 0);
		ls_exec_result_free(&er);
	}
	st.path = sdir;
	init_cfg(&cfg, &st, 1);
	cfg.backup.jobs = 0; /* cores */
	CHECK_EQ_INT(backup_repos_cut(&cfg, work, &cut, err, sizeof(err)), 0);
	for (i = 0; i < runs; i++) {
		/* The previous run's snapshot is not this cut's cost: an
		 * agent cuts into a fresh workdir. */
		snprintf(cmd, sizeof(cmd), "%s/repos.bench.snap", work);
		(void)ls_rmtree(cmd);
		t0 = ls_mono_ms();
		CHECK_EQ_INT(
		    backup_repos_cut(&cfg, work, &cut, err, sizeof(err)), 0);
		t0 = ls_mono_ms() - t0;
		sum += t0;
		if (best < 0 || t0 < best)
			best = t0;
	}
	printf("cut of %llu repositories (%llu refs): best %lld ms, mean %lld "
	       "ms over %d runs\n",
	       (unsigned long long)cut.repos, (unsigned long long)cut.refs,
	       (long long)best, (long long)(sum / runs), runs);
	ls_rmtree(base);
	return tu_done();
}

int main(void)
{
	size_t i;

	if (mkdtemp(base) == NULL)
		return 1;
	snprintf(home_env, sizeof(home_env), "HOME=%s", base);
	if (getenv("LS_BENCH_CUT_REPOS") != NULL)
		return bench_cut(getenv("LS_BENCH_CUT_REPOS"));
	test_snapshot();
	for (i = 0; i < nrepos; i++)
		free(repos[i].cut_refs);
	ls_rmtree(base);
	return tu_done();
}
