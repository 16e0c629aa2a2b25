/*
 * The copy's own bundle writer against git: each 001.bundle is byte for
 * byte what `git bundle create - --all` wrote in the same repository at the
 * cut, each 001.refs what HEAD plus `git for-each-ref` listed then, through
 * branches, tags, symbolic refs (chains git resolves and ones it does not),
 * detached and unborn HEADs and sha256; pushes after the cut do not show; a
 * ref to a missing object or with a name git refuses fails its repository.
 * LS_BENCH_COPY_REPOS=N runs the benchmark instead: the CPU time of copying
 * N small repositories.
 */
#include <sys/resource.h>

#include "repos_testutil.h"

#define BUNDLE_MAX (64 << 20)

struct ref_bundle {
	struct trepo *t;
	char *data; /* `git bundle create` at the cut */
	size_t len;
};

static struct ref_bundle refb[16];
static size_t nrefb;

static void set_ref(const char *gd, const char *name, const char *target)
{
	CHECK_EQ_INT(GIT(NULL, NULL, gd, "update-ref", name, target), 0);
}

static void set_sym(const char *gd, const char *name, const char *target)
{
	CHECK_EQ_INT(GIT(NULL, NULL, gd, "symbolic-ref", name, target), 0);
}

/* What git bundles of t now, and what a 001.refs of it must say. */
static void take_reference(struct trepo *t)
{
	char gd[LS_PATH_MAX + 16], p[LS_PATH_MAX];
	struct ref_bundle *r = &refb[nrefb++];

	expect_refs(t);
	r->t = t;
	if (t->empty)
		return;
	snprintf(gd, sizeof(gd), "--git-dir=%s", t->path);
	snprintf(p, sizeof(p), "%s/ref-%zu.bundle", base, nrefb);
	CHECK_EQ_INT(GIT(NULL, NULL, gd, "bundle", "create", "-q", p, "--all"),
	             0);
	CHECK_EQ_INT(ls_read_file(p, BUNDLE_MAX, &r->data, &r->len), 0);
}

/* Pushes after the cut: a commit on main, a new branch, one deleted. */
static void push_after(const struct trepo *t)
{
	char gd[LS_PATH_MAX + 16], c[OID_BUF], *old = NULL;

	snprintf(gd, sizeof(gd), "--git-dir=%s", t->path);
	CHECK_EQ_INT(GIT(NULL, &old, gd, "rev-parse", "refs/heads/main"), 0);
	chomp(old);
	CHECK_EQ_INT(commit(gd, old, "after the cut", c), 0);
	set_ref(gd, "refs/heads/main", c);
	set_ref(gd, "refs/heads/late", c);
	CHECK_EQ_INT(
	    GIT(NULL, NULL, gd, "update-ref", "-d", "refs/heads/feature"), 0);
	free(old);
}

#define MANY_REFS 20000

/* MANY_REFS refs under refs/keep-around/, as GitLab keeps them, packed
 * (unsorted: a packed-refs without the "sorted" trait is sorted by git). */
static void many_refs(const struct trepo *t)
{
	char gd[LS_PATH_MAX + 16], p[LS_PATH_MAX + 64], *tip[2] = {0};
	FILE *f;
	int i;

	snprintf(gd, sizeof(gd), "--git-dir=%s", t->path);
	CHECK_EQ_INT(GIT(NULL, &tip[0], gd, "rev-parse", "refs/heads/main"), 0);
	CHECK_EQ_INT(GIT(NULL, &tip[1], gd, "rev-parse", "refs/heads/feature"),
	             0);
	chomp(tip[0]);
	chomp(tip[1]);
	snprintf(p, sizeof(p), "%s/packed-refs", t->path);
	f = fopen(p, "wx");
	CHECK(f != NULL && tip[0] != NULL && tip[1] != NULL);
	if (f != NULL)
		fputs("# pack-refs with: peeled fully-peeled \n", f);
	for (i = MANY_REFS - 1; f != NULL && tip[1] != NULL && i >= 0; i--)
		fprintf(f, "%s refs/keep-around/%05d\n", tip[i % 2], i);
	if (f != NULL)
		fclose(f);
	free(tip[0]);
	free(tip[1]);
}

/* The many-refs repository: its files against the cut, verified. */
static void check_many(const char *bdir, const struct trepo *t)
{
	char dir[LS_PATH_MAX], p[LS_PATH_MAX + 64], vgd[LS_PATH_MAX + 16];
	char *data;

	CHECK_EQ_INT(ls_fmt(dir, sizeof(dir), "%s/repositories/bundle/%s/%s",
	                    bdir, t->rel, ID),
	             0);
	snprintf(p, sizeof(p), "%s/001.refs", dir);
	data = slurp(p);
	CHECK(data != NULL && t->cut_refs != NULL &&
	      strcmp(data, t->cut_refs) == 0);
	CHECK(t->cut_refs != NULL &&
	      strstr(t->cut_refs, " refs/keep-around/19999\n") != NULL);
	free(data);
	snprintf(p, sizeof(p), "%s/001.bundle", dir);
	snprintf(vgd, sizeof(vgd), "--git-dir=%s/verify.git", base);
	CHECK_EQ_INT(GIT(NULL, NULL, vgd, "bundle", "verify", "-q", p), 0);
}

static void test_identical(void)
{
	struct agent_gitaly_storage st = {"bundle", NULL};
	struct agent_config cfg;
	struct backup_repos_cut cut;
	struct backup_artifacts o = {0};
	struct ls_strlist failed = {0};
	char sdir[LS_PATH_MAX], work[LS_PATH_MAX], bdir[LS_PATH_MAX];
	char gd[LS_PATH_MAX + 16], p[2 * LS_PATH_MAX], *tip = NULL, *got;
	char err[1024];
	size_t save = nrepos, i, len;
	struct trepo *t;
	int nfiles;

	snprintf(sdir, sizeof(sdir), "%s/storage", base);
	snprintf(work, sizeof(work), "%s/work", base);
	snprintf(bdir, sizeof(bdir), "%s/backup", base);
	st.path = sdir;
	init_cfg(&cfg, &st, 1);
	CHECK_EQ_INT(ls_mkdirs(work, 0700), 0);

	/* Branches, an annotated and a lightweight tag, a remote's HEAD. */
	make_repo(sdir, "b/branches.git", 'n', "sha1");
	t = &repos[nrepos - 1];
	snprintf(gd, sizeof(gd), "--git-dir=%s", t->path);
	set_ref(gd, "refs/heads/a", "refs/heads/feature");
	set_ref(gd, "refs/heads/zz", "refs/heads/main");
	set_ref(gd, "refs/remotes/origin/main", "refs/tags/l1");
	set_sym(gd, "refs/remotes/origin/HEAD", "refs/remotes/origin/main");
	CHECK_EQ_INT(GIT(NULL, NULL, gd, "pack-refs", "--all"), 0);
	set_ref(gd, "refs/heads/loose", "refs/heads/main");

	/* Symbolic chains: 4 links resolve, 5 do not, a dangling one; HEAD
	 * through 4 links (with its own) resolves. */
	make_repo(sdir, "b/chain.git", 'n', "sha1");
	t = &repos[nrepos - 1];
	snprintf(gd, sizeof(gd), "--git-dir=%s", t->path);
	set_sym(gd, "refs/s1", "refs/heads/main");
	set_sym(gd, "refs/s2", "refs/s1");
	set_sym(gd, "refs/s3", "refs/s2");
	set_sym(gd, "refs/s4", "refs/s3");
	set_sym(gd, "refs/s5", "refs/s4");
	set_sym(gd, "refs/dangling", "refs/heads/nowhere");
	set_sym(gd, "HEAD", "refs/s3");

	/* HEAD 5 links from a ref: unresolved, as for git. */
	make_repo(sdir, "b/deephead.git", 'n', "sha1");
	t = &repos[nrepos - 1];
	snprintf(gd, sizeof(gd), "--git-dir=%s", t->path);
	set_sym(gd, "refs/s1", "refs/heads/main");
	set_sym(gd, "refs/s2", "refs/s1");
	set_sym(gd, "refs/s3", "refs/s2");
	set_sym(gd, "refs/s4", "refs/s3");
	set_sym(gd, "HEAD", "refs/s4");

	make_repo(sdir, "b/detached.git", 'n', "sha1");
	t = &repos[nrepos - 1];
	snprintf(gd, sizeof(gd), "--git-dir=%s", t->path);
	CHECK_EQ_INT(GIT(NULL, &tip, gd, "rev-parse", "refs/tags/v1^{}"), 0);
	chomp(tip);
	CHECK_EQ_INT(
	    GIT(NULL, NULL, gd, "update-ref", "--no-deref", "HEAD", tip), 0);
	free(tip);

	make_repo(sdir, "b/unborn.git", 'm', "sha1");

	make_repo(sdir, "b/sha256.git", 'n', "sha256");
	t = &repos[nrepos - 1];
	snprintf(gd, sizeof(gd), "--git-dir=%s", t->path);
	set_ref(gd, "refs/remotes/origin/main", "refs/heads/feature");
	set_sym(gd, "refs/remotes/origin/HEAD", "refs/remotes/origin/main");
	CHECK_EQ_INT(GIT(NULL, NULL, gd, "pack-refs", "--all"), 0);

	make_repo(sdir, "b/sha256det.git", 'n', "sha256");
	t = &repos[nrepos - 1];
	snprintf(gd, sizeof(gd), "--git-dir=%s", t->path);
	CHECK_EQ_INT(GIT(NULL, &tip, gd, "rev-parse", "refs/heads/feature"), 0);
	chomp(tip);
	CHECK_EQ_INT(
	    GIT(NULL, NULL, gd, "update-ref", "--no-deref", "HEAD", tip), 0);
	free(tip);

	make_repo(sdir, "b/empty.git", 'e', "sha1");

	/* Many refs: their ids fill pack-objects' stdin pipe many times. */
	make_repo(sdir, "b/many.git", 'n', "sha1");
	many_refs(&repos[nrepos - 1]);

	for (i = save; i < nrepos; i++)
		take_reference(&repos[i]);
	CHECK(strstr(repos[save + 1].cut_refs, " refs/s4\n") != NULL);
	CHECK(strstr(repos[save + 1].cut_refs, " refs/s5\n") == NULL);
	CHECK(strstr(repos[save + 1].cut_refs, "dangling") == NULL);
	CHECK(strstr(repos[save + 1].cut_refs, " HEAD\n") != NULL);
	CHECK(strstr(repos[save + 2].cut_refs, " HEAD\n") == NULL);

	CHECK_EQ_INT(backup_repos_cut(&cfg, work, &cut, err, sizeof(err)), 0);
	CHECK_EQ_INT(cut.repos, nrepos - save);
	for (i = save; i < nrepos; i++)
		if (!repos[i].empty)
			push_after(&repos[i]);
	/* pack-objects --stdout writes nothing in the real repository. */
	nfiles = count_files(repos[save].path, NULL);

	CHECK_EQ_INT(backup_repos_copy(&cfg, work, bdir, ID, 0, NULL, NULL, &o,
	                               &failed, err, sizeof(err)),
	             0);
	if (o.n == 0)
		fprintf(stderr, "copy: %s\n", err);
	CHECK_EQ_INT(count_files(repos[save].path, NULL), nfiles);
	for (i = 0; i < nrefb; i++) {
		t = refb[i].t;
		if (strcmp(t->rel, "b/many.git") == 0)
			check_many(bdir, t);
		else
			check_repo_in(bdir, "bundle", t);
		if (t->empty)
			continue;
		snprintf(p, sizeof(p),
		         "%s/repositories/bundle/%s/%s/001.bundle", bdir,
		         t->rel, ID);
		got = NULL;
		len = 0;
		CHECK_EQ_INT(ls_read_file(p, BUNDLE_MAX, &got, &len), 0);
		CHECK_EQ_INT(len, refb[i].len);
		CHECK(got != NULL && refb[i].data != NULL &&
		      len == refb[i].len &&
		      memcmp(got, refb[i].data, len) == 0);
		if (got == NULL || len != refb[i].len ||
		    memcmp(got, refb[i].data, len) != 0)
			fprintf(stderr, "%s: bundle differs from git's\n",
			        t->rel);
		free(got);
	}
	snprintf(p, sizeof(p),
	         "%s/repositories/bundle/b/sha256.git/%s/001.bundle", bdir, ID);
	got = NULL;
	CHECK_EQ_INT(ls_read_file(p, BUNDLE_MAX, &got, &len), 0);
	CHECK(got != NULL &&
	      strncmp(got, "# v3 git bundle\n@object-format=sha256\n", 38) ==
	          0);
	free(got);
	check_artifacts(bdir, &o);
	backup_artifacts_free(&o);
	free_failed(&failed);
	for (i = 0; i < nrefb; i++)
		free(refb[i].data);
	nrefb = 0;
	for (i = save; i < nrepos; i++)
		free(repos[i].cut_refs);
	nrepos = save;
}

/* One repository broken by fix after the cut (NULL: none), the other good:
 * the copy fails naming the broken one and leaves nothing behind. */
static void expect_failure(const char *name, const char *packed_line,
                           const char *want)
{
	struct agent_gitaly_storage st = {"broken", NULL};
	struct agent_config cfg;
	struct backup_repos_cut cut;
	struct backup_artifacts o = {0};
	struct ls_strlist failed = {0};
	char sdir[LS_PATH_MAX], work[LS_PATH_MAX], bdir[LS_PATH_MAX];
	char p[2 * LS_PATH_MAX], err[1024], text[2 * LS_PATH_MAX], *pr = NULL;
	size_t save = nrepos, plen = 0;
	FILE *f;

	snprintf(sdir, sizeof(sdir), "%s/storage-%s", base, name);
	snprintf(work, sizeof(work), "%s/work-%s", base, name);
	snprintf(bdir, sizeof(bdir), "%s/backup-%s", base, name);
	st.path = sdir;
	init_cfg(&cfg, &st, 1);
	CHECK_EQ_INT(ls_mkdirs(work, 0700), 0);
	make_repo(sdir, "x/good.git", 'n', "sha1");
	make_repo(sdir, "x/bad.git", 'n', "sha1");
	snprintf(p, sizeof(p), "%s/packed-refs", repos[nrepos - 1].path);
	(void)ls_read_file(p, 1 << 20, &pr, &plen);
	f = fopen(p, "a");
	CHECK(f != NULL);
	if (f != NULL) {
		if (pr == NULL)
			fputs("# pack-refs with: peeled fully-peeled \n", f);
		fputs(packed_line, f);
		fclose(f);
	}
	free(pr);
	CHECK_EQ_INT(backup_repos_cut(&cfg, work, &cut, err, sizeof(err)), 0);
	CHECK(backup_repos_copy(&cfg, work, bdir, ID, 0, NULL, NULL, &o,
	                        &failed, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "broken/x/bad.git");
	CHECK_CONTAINS(err, want);
	CHECK_EQ_INT(o.n, 0);
	CHECK_EQ_INT(count_files(bdir, NULL), 0);
	/* With allow_partial the good one is there, the bad one not. */
	snprintf(bdir, sizeof(bdir), "%s/backup-%s-partial", base, name);
	CHECK_EQ_INT(backup_repos_copy(&cfg, work, bdir, ID, 1, NULL, NULL, &o,
	                               &failed, err, sizeof(err)),
	             0);
	CHECK_EQ_INT(failed.n, 1);
	CHECK_EQ_INT(o.n, 4);
	CHECK_EQ_INT(count_files(bdir, "bad.git"), 0);
	snprintf(text, sizeof(text), "%s/repositories/broken/x/bad.git", bdir);
	CHECK(!exists(text));
	snprintf(text, sizeof(text),
	         "%s/repositories/manifests/broken/x/bad.git", bdir);
	CHECK(!exists(text));
	backup_artifacts_free(&o);
	free_failed(&failed);
	nrepos = save;
}

/*
 * Micro benchmark of the copy (not a test): LS_BENCH_COPY_REPOS=N copies
 * N small repositories (5 refs each) 3 times and prints the CPU time this
 * process and its children spent on it.
 */
static double cpu_s(void)
{
	struct rusage a, b;

	getrusage(RUSAGE_SELF, &a);
	getrusage(RUSAGE_CHILDREN, &b);
	return (double)(a.ru_utime.tv_sec + a.ru_stime.tv_sec +
	                b.ru_utime.tv_sec + b.ru_stime.tv_sec) +
	       (double)(a.ru_utime.tv_usec + a.ru_stime.tv_usec +
	                b.ru_utime.tv_usec + b.ru_stime.tv_usec) /
	           1e6;
}

static int bench_copy(const char *nstr)
{
	struct agent_gitaly_storage st = {"bench", NULL};
	struct agent_config cfg;
	struct backup_repos_cut cut;
	char sdir[LS_PATH_MAX], work[LS_PATH_MAX], bdir[LS_PATH_MAX];
	char err[1024];
	long long n = 0, k;
	double c0, c, best = -1, sum = 0;
	int64_t t0, wall = 0;
	int i, runs = 3;

	if (ls_parse_int(nstr, 1, 100000, &n) < 0) {
		fprintf(stderr, "LS_BENCH_COPY_REPOS: not a count: %s\n", nstr);
		return 2;
	}
	snprintf(sdir, sizeof(sdir), "%s/bench", base);
	snprintf(work, sizeof(work), "%s/bench-work", base);
	CHECK_EQ_INT(ls_mkdirs(work, 0700), 0);
	for (k = 0; k < n; k++) {
		char rel[64];

		snprintf(rel, sizeof(rel), "@hashed/%02lld/r%lld.git", k % 100,
		         k);
		make_repo(sdir, rel, 'n', "sha1");
		nrepos = 0;
	}
	st.path = sdir;
	init_cfg(&cfg, &st, 1);
	cfg.backup.jobs = 0; /* cores */
	CHECK_EQ_INT(backup_repos_cut(&cfg, work, &cut, err, sizeof(err)), 0);
	for (i = 0; i < runs; i++) {
		struct backup_artifacts o = {0};
		struct ls_strlist failed = {0};

		snprintf(bdir, sizeof(bdir), "%s/bench-backup-%d", base, i);
		c0 = cpu_s();
		t0 = ls_mono_ms();
		CHECK_EQ_INT(backup_repos_copy(&cfg, work, bdir, ID, 0, NULL,
		                               NULL, &o, &failed, err,
		                               sizeof(err)),
		             0);
		wall += ls_mono_ms() - t0;
		c = cpu_s() - c0;
		sum += c;
		if (best < 0 || c < best)
			best = c;
		backup_artifacts_free(&o);
		free_failed(&failed);
	}
	printf("copy of %llu repositories: CPU best %.3f s (%.1f ms a "
	       "repository), mean %.3f s; wall mean %lld ms; %d runs\n",
	       (unsigned long long)cut.repos, best, best * 1000.0 / (double)n,
	       sum / runs, (long long)(wall / runs), runs);
	ls_rmtree(base);
	return tu_done();
}

int main(void)
{
	char line[256];

	if (mkdtemp(base) == NULL)
		return 1;
	snprintf(home_env, sizeof(home_env), "HOME=%s", base);
	if (getenv("LS_BENCH_COPY_REPOS") != NULL)
		return bench_copy(getenv("LS_BENCH_COPY_REPOS"));
	snprintf(line, sizeof(line), "%s/verify.git", base);
	CHECK_EQ_INT(GIT(NULL, NULL, "init", "-q", "--bare", line), 0);
	test_identical();
	/* An id no object has. */
	snprintf(line, sizeof(line), "%s refs/heads/gone\n",
	         "0123456789abcdef0123456789abcdef01234567");
	expect_failure("missing", line, "git pack-objects: ");
	snprintf(line, sizeof(line), "%s refs/heads/a..b\n",
	         "0123456789abcdef0123456789abcdef01234567");
	expect_failure("badname", line, "refs/heads/a..b");
	ls_rmtree(base);
	return tu_done();
}
