/*
 * Repositories restore against real git: a storage backed up by the cut
 * and copy, then changed in every way (commits, a force-push, a deleted
 * branch and tag, removed hooks, a new and a deleted repository), restored
 * to exactly the backup's refs, verified, tampered with and verified
 * again; the parsers on hand-made manifests; hostile manifests, .refs and
 * bundles failing their repository and leaving its real path alone.
 */
#include "repos_testutil.h"
#include "restore_repos.h"

struct mism {
	int n;
	char repo[512], ref[512], expected[80], found[80];
};

static void on_mismatch(void *arg, const char *repo, const char *ref,
                        const char *expected, const char *found)
{
	struct mism *m = arg;

	m->n++;
	snprintf(m->repo, sizeof(m->repo), "%s", repo);
	snprintf(m->ref, sizeof(m->ref), "%s", ref ? ref : "(repository)");
	snprintf(m->expected, sizeof(m->expected), "%s", expected);
	snprintf(m->found, sizeof(m->found), "%s", found);
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

static void test_parsers(void)
{
	struct restore_repos_manifest m;
	struct restore_repos_refs r;
	char err[512];
	static const char good[] =
	    "# written by hand\r\nempty = false\nnon_existent = false\n"
	    "object_format = \"sha256\"\nhead_reference = "
	    "\"refs/heads/\\u00e9t\\u00E9\"\nfuture_key = [1, 2]\n\n"
	    "[[steps]]\nbundle_path = \"a/b/001.bundle\"  # comment\n"
	    "ref_path = 'a/b/001.refs'\nprevious_ref_path = ''\n"
	    "[other]\nbundle_path = 'x'\n[[steps]]\nref_path = 'a/b/002.refs'\n"
	    "custom_hooks_path = \"a/b/it's.tar\"\n";
	static const char *const bad[] = {
	    "[[steps]]\nref_path = '../x'\n",
	    "[[steps]]\nref_path = 'a/../../x'\n",
	    "[[steps]]\nbundle_path = '/etc/passwd'\nref_path = 'r'\n",
	    "[[steps]]\nref_path = \"a\\u0000b\"\n",
	    "[[steps]]\nref_path = 'a\n",
	    "empty = maybe\n",
	    "object_format = 'md5'\n",
	    "head_reference = 'HEAD'\n",
	    "[[steps]]\nref_path = 'a'\nref_path = 'b'\n",
	    "[[steps]]\nref_path = 'a' x\n",
	    "= 'a'\n",
	    "empty = false\n", /* no step */
	};
	size_t i;

	CHECK_EQ_INT(restore_repos_manifest_parse(good, strlen(good), "m.toml",
	                                          &m, err, sizeof(err)),
	             0);
	CHECK_STR(m.fmt, "sha256");
	CHECK_STR(m.head, "refs/heads/\xc3\xa9t\xc3\xa9");
	CHECK_EQ_INT(m.nsteps, 2);
	if (m.nsteps == 2) {
		CHECK_STR(m.steps[0].bundle, "a/b/001.bundle");
		CHECK_STR(m.steps[0].refs, "a/b/001.refs");
		CHECK(m.steps[0].prev_refs == NULL);
		CHECK(m.steps[1].bundle == NULL);
		CHECK_STR(m.steps[1].hooks, "a/b/it's.tar");
	}
	restore_repos_manifest_free(&m);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		CHECK(restore_repos_manifest_parse(bad[i], strlen(bad[i]),
		                                   "m.toml", &m, err,
		                                   sizeof(err)) < 0);
		CHECK_CONTAINS(err, "m.toml");
	}
	/* A step's key outside a step is nobody's: ignored. */
	CHECK(restore_repos_manifest_parse("empty = true\nref_path = '/x'\n",
	                                   29, "m.toml", &m, err,
	                                   sizeof(err)) == 0);
	restore_repos_manifest_free(&m);

	CHECK_EQ_INT(
	    restore_repos_refs_parse(
	        "1111111111111111111111111111111111111111 HEAD\n"
	        "2222222222222222222222222222222222222222 refs/tags/b\n"
	        "1111111111111111111111111111111111111111 refs/heads/a\n",
	        46 + 53 + 54, 40, 0, "x.refs", &r, err, sizeof(err)),
	    0);
	CHECK_EQ_INT(r.n, 2);
	CHECK_STR(r.head, "1111111111111111111111111111111111111111");
	CHECK(restore_repos_refs_find(&r, "refs/tags/b") != NULL);
	CHECK(restore_repos_refs_find(&r, "refs/tags/c") == NULL);
	restore_repos_refs_free(&r);
	err[0] = '\0';
	CHECK(restore_repos_refs_parse(
	          "1111111111111111111111111111111111111111 refs/heads/a\n"
	          "1111111111111111111111111111111111111111 HEAD\n",
	          54 + 46, 40, 0, "x.refs", &r, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "x.refs:2");
	CHECK(restore_repos_refs_parse(
	          "111111111111111111111111111111111111111 refs/heads/a\n", 53,
	          40, 0, "x.refs", &r, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "x.refs:1");
	CHECK(restore_repos_refs_parse(
	          "1111111111111111111111111111111111111111 heads/a\n", 49, 40,
	          0, "x.refs", &r, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "bad refname");
}

/* One hostile change to repository t's backup (file's content replaced
 * by the len bytes of data) fails it, naming it and want, and leaves its
 * real path as it was. */
static void hostile_len(struct agent_config *cfg, const char *bdir,
                        const struct trepo *t, const char *file,
                        const char *data, size_t len, const char *want)
{
	struct ls_strlist failed = {0};
	char path[2 * LS_PATH_MAX], keep[2 * LS_PATH_MAX + 8], err[2048];
	char *before, *after;
	struct stat s1, s2;

	snprintf(path, sizeof(path), "%s/%s", bdir, file);
	before = refs_now(t->path);
	CHECK_EQ_INT(stat(t->path, &s1), 0);
	/* Bundles are binary: the original is kept whole by a rename. */
	snprintf(keep, sizeof(keep), "%s.keep", path);
	CHECK_EQ_INT(rename(path, keep), 0);
	CHECK_EQ_INT(ls_write_atomic(path, data, len, 0644), 0);
	CHECK(restore_repos(cfg, bdir, ID, NULL, 0, NULL, NULL, NULL, &failed,
	                    err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, t->rel);
	CHECK_CONTAINS(err, want);
	CHECK_EQ_INT(stat(t->path, &s2), 0);
	CHECK(s1.st_ino == s2.st_ino);
	after = refs_now(t->path);
	CHECK_STR(after, before);
	CHECK_EQ_INT(rename(keep, path), 0);
	free(before);
	free(after);
	free_failed(&failed);
}

static void hostile(struct agent_config *cfg, const char *bdir,
                    const struct trepo *t, const char *file, const char *data,
                    const char *want)
{
	hostile_len(cfg, bdir, t, file, data, strlen(data), want);
}

/* t's full bundle rebuilt with its own header but a pack lacking one
 * object its refs reach (the last rev-list --objects lists, a tree or a
 * blob): every object in the pack is whole, only a link is broken, which
 * is what the connectivity check (fetch's walk, or index-pack's
 * --check-self-contained-and-connected) exists to catch. */
static void missing_object(struct agent_config *cfg, const char *bdir,
                           const struct trepo *t)
{
	char f[LS_PATH_MAX], p[2 * LS_PATH_MAX], gd[LS_PATH_MAX + 16];
	char *bundle = NULL, *objs = NULL, *hash = NULL, *pack = NULL;
	char *tips, *data, *line, *nl;
	size_t blen = 0, plen = 0, hlen = 0, n = 0;

	snprintf(f, sizeof(f), "repositories/default/%s/%s/001.bundle", t->rel,
	         ID);
	snprintf(p, sizeof(p), "%s/%s", bdir, f);
	CHECK_EQ_INT(ls_read_file(p, 64 << 20, &bundle, &blen), 0);
	line = bundle ? memmem(bundle, blen, "\n\n", 2) : NULL;
	CHECK(line != NULL);
	if (line == NULL)
		goto out;
	hlen = (size_t)(line + 2 - bundle);
	/* The header's tips, one a line, for rev-list --stdin. */
	if ((tips = calloc(1, hlen + 1)) == NULL)
		goto out;
	for (line = strchr(bundle, '\n') + 1; line < bundle + hlen - 1;
	     line = nl + 1) {
		nl = strchr(line, '\n');
		if (*line != '-' && *line != '@')
			n += (size_t)snprintf(tips + n, hlen + 1 - n, "%.*s\n",
			                      (int)strcspn(line, " "), line);
	}
	snprintf(gd, sizeof(gd), "--git-dir=%s", t->path);
	CHECK_EQ_INT(GIT(tips, &objs, gd, "rev-list", "--objects", "--stdin"),
	             0);
	free(tips);
	/* Dropped: the last line, not a tip (commits come first). */
	nl = objs ? strrchr(objs, '\n') : NULL;
	CHECK(nl != NULL && nl > objs);
	if (nl == NULL || nl == objs)
		goto out;
	*nl = '\0';
	line = strrchr(objs, '\n');
	CHECK(line != NULL);
	if (line == NULL)
		goto out;
	line[1] = '\0';
	snprintf(p, sizeof(p), "%s/part", base);
	CHECK_EQ_INT(GIT(objs, &hash, gd, "pack-objects", "-q", p), 0);
	chomp(hash);
	snprintf(p, sizeof(p), "%s/part-%s.pack", base, hash ? hash : "");
	CHECK_EQ_INT(ls_read_file(p, 64 << 20, &pack, &plen), 0);
	if (pack == NULL || (data = malloc(hlen + plen)) == NULL)
		goto out;
	memcpy(data, bundle, hlen);
	memcpy(data + hlen, pack, plen);
	hostile_len(cfg, bdir, t, f, data, hlen + plen, "001.bundle");
	free(data);
out:
	free(bundle);
	free(objs);
	free(hash);
	free(pack);
}

#define OWNER 65534 /* nobody */

/* Entries below path (and path) not owned by uid, symlinks not followed. */
static int owned_by(const char *path, uid_t uid)
{
	char sub[LS_PATH_MAX];
	struct dirent *de;
	struct stat sb;
	DIR *d;
	int n = 0;

	if (lstat(path, &sb) < 0)
		return 1;
	n += sb.st_uid != uid || sb.st_gid != uid;
	if (!S_ISDIR(sb.st_mode) || (d = opendir(path)) == NULL)
		return n;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0 &&
		    ls_fmt(sub, sizeof(sub), "%s/%s", path, de->d_name) == 0)
			n += owned_by(sub, uid);
	closedir(d);
	return n;
}

static void check_restored(const char *storage)
{
	char gd[LS_PATH_MAX + 16], p[2 * LS_PATH_MAX], *got, *fmt = NULL;
	struct stat sb;
	size_t i;

	for (i = 0; i < nrepos; i++) {
		got = refs_now(repos[i].path);
		CHECK_STR(got, repos[i].cut_refs);
		free(got);
		snprintf(gd, sizeof(gd), "--git-dir=%s", repos[i].path);
		CHECK_EQ_INT(GIT(NULL, NULL, gd, "fsck", "--no-progress"), 0);
		got = NULL;
		CHECK_EQ_INT(GIT(NULL, &got, gd, "symbolic-ref", "HEAD"), 0);
		chomp(got);
		CHECK_STR(got, "refs/heads/main");
		free(got);
	}
	snprintf(gd, sizeof(gd), "--git-dir=%s", repos[nrepos - 1].path);
	CHECK_EQ_INT(GIT(NULL, &fmt, gd, "rev-parse", "--show-object-format"),
	             0);
	chomp(fmt);
	CHECK_STR(fmt, "sha256");
	free(fmt);
	snprintf(p, sizeof(p), "%s/custom_hooks/pre-receive", repos[1].path);
	got = slurp(p);
	CHECK_STR(got, HOOK);
	free(got);
	CHECK(stat(p, &sb) == 0 && (sb.st_mode & 0777) == 0755);
	snprintf(p, sizeof(p), "%s/group/new.git", storage);
	CHECK(!exists(p));
	snprintf(p, sizeof(p), "%s/+gitaly", storage);
	CHECK(count_files(p, "/group/new.git/") > 0);
	CHECK(count_files(p, repos[0].rel) > 0);
	CHECK_EQ_INT(count_files(storage, ".lockstep-"), 0);
}

int main(void)
{
	struct agent_gitaly_storage st = {"default", NULL};
	struct agent_config cfg;
	struct backup_repos_cut cut;
	struct backup_artifacts o = {0};
	struct ls_strlist failed = {0};
	struct restore_repos_result res;
	struct prog pr = {0};
	struct mism mm = {0};
	struct stat sb;
	char storage[LS_PATH_MAX], work[LS_PATH_MAX], bdir[LS_PATH_MAX];
	char rel[256], p[3 * LS_PATH_MAX], gd[LS_PATH_MAX + 16], err[2048];
	char c[OID_BUF], *head = NULL, *data, f[LS_PATH_MAX];
	uint64_t bytes = 0;
	size_t i;

	if (mkdtemp(base) == NULL)
		return 1;
	snprintf(home_env, sizeof(home_env), "HOME=%s", base);
	test_parsers();
	snprintf(storage, sizeof(storage), "%s/storage", base);
	snprintf(work, sizeof(work), "%s/work", base);
	snprintf(bdir, sizeof(bdir), "%s/backup", base);
	CHECK_EQ_INT(ls_mkdirs(storage, 0755), 0);
	CHECK_EQ_INT(ls_mkdirs(work, 0700), 0);
	st.path = storage;
	init_cfg(&cfg, &st, 1);

	/* 0-4 plain (mutate() changes 0, 2, 3, 4), 1 with hooks, 5 empty,
	 * 6 deleted after the backup, 7 sha256 (last). */
	for (i = 1; i <= 4; i++) {
		hashed_rel((int)i, rel, sizeof(rel));
		make_repo(storage, rel, i == 2 ? 'h' : 'n', "sha1");
	}
	make_repo(storage, "group/proj.git", 'n', "sha1");
	make_repo(storage, "group/empty.git", 'e', "sha1");
	make_repo(storage, "group/gone.git", 'n', "sha1");
	make_repo(storage, "group/sha.git", 'n', "sha256");
	for (i = 0; i < nrepos; i++)
		expect_refs(&repos[i]);
	CHECK_EQ_INT(backup_repos_cut(&cfg, work, &cut, err, sizeof(err)), 0);
	CHECK_EQ_INT(backup_repos_copy(&cfg, work, bdir, ID, 0, NULL, NULL, &o,
	                               &failed, err, sizeof(err)),
	             0);
	for (i = 0; i < o.n; i++)
		if (strstr(o.items[i].path, ".bundle") != NULL)
			bytes += o.items[i].size;
	backup_artifacts_free(&o);

	/* Everything changes. */
	mutate();
	snprintf(gd, sizeof(gd), "--git-dir=%s", repos[0].path);
	CHECK_EQ_INT(
	    GIT(NULL, NULL, gd, "update-ref", "-d", "refs/heads/feature"), 0);
	snprintf(p, sizeof(p), "%s/custom_hooks", repos[1].path);
	CHECK_EQ_INT(ls_rmtree(p), 0);
	snprintf(gd, sizeof(gd), "--git-dir=%s", repos[5].path);
	CHECK_EQ_INT(commit(gd, NULL, "no longer empty", c), 0);
	CHECK_EQ_INT(GIT(NULL, NULL, gd, "update-ref", "refs/heads/main", c),
	             0);
	snprintf(gd, sizeof(gd), "--git-dir=%s", repos[7].path);
	CHECK_EQ_INT(
	    GIT(NULL, NULL, gd, "symbolic-ref", "HEAD", "refs/heads/feature"),
	    0);
	CHECK_EQ_INT(ls_rmtree(repos[6].path), 0);
	snprintf(p, sizeof(p), "%s/group/new.git", storage);
	CHECK_EQ_INT(GIT(NULL, NULL, "init", "-q", "--bare", p), 0);

	/* As root, the storage belongs to another user (git, in production):
	 * every restored file must be given to it. */
	if (geteuid() == 0)
		CHECK_EQ_INT(chown(storage, OWNER, OWNER), 0);
	CHECK_EQ_INT(restore_repos(&cfg, bdir, ID, NULL, 0, on_progress, &pr,
	                           &res, &failed, err, sizeof(err)),
	             0);
	if (err[0])
		fprintf(stderr, "restore: %s\n", err);
	CHECK_EQ_INT(res.repos, nrepos);
	CHECK_EQ_INT(res.empty, 1);
	CHECK_EQ_INT(res.removed, 1);
	CHECK_EQ_INT(res.bytes, bytes);
	CHECK_EQ_INT(pr.done, nrepos);
	CHECK_EQ_INT(pr.total, nrepos);
	CHECK_EQ_INT(pr.bytes, bytes);
	check_restored(storage);
	if (geteuid() == 0) {
		CHECK_EQ_INT(owned_by(repos[1].path, OWNER), 0);
		CHECK_EQ_INT(owned_by(repos[5].path, OWNER), 0);
		/* +gitaly/ is Gitaly's; what was moved into it keeps its
		 * owner. */
		snprintf(p, sizeof(p), "%s/+gitaly", storage);
		CHECK(stat(p, &sb) == 0 && sb.st_uid == OWNER);
	}
	CHECK_EQ_INT(restore_repos_verify(&cfg, bdir, ID, NULL, on_mismatch,
	                                  &mm, err, sizeof(err)),
	             0);
	CHECK_EQ_INT(mm.n, 0);

	/* Tampered: one ref moved, and only it reported. */
	snprintf(gd, sizeof(gd), "--git-dir=%s", repos[3].path);
	CHECK_EQ_INT(GIT(NULL, &head, gd, "rev-parse", "refs/heads/main"), 0);
	chomp(head);
	CHECK_EQ_INT(
	    GIT(NULL, NULL, gd, "update-ref", "refs/heads/feature", head), 0);
	CHECK_EQ_INT(restore_repos_verify(&cfg, bdir, ID, NULL, on_mismatch,
	                                  &mm, err, sizeof(err)),
	             1);
	CHECK_EQ_INT(mm.n, 1);
	snprintf(p, sizeof(p), "default/%s", repos[3].rel);
	CHECK_STR(mm.repo, p);
	CHECK_STR(mm.ref, "refs/heads/feature");
	CHECK_STR(mm.found, head);
	CHECK(strstr(repos[3].cut_refs, mm.expected) != NULL);

	/* Hostile inputs against repository 3 (now unlike its backup). */
	snprintf(f, sizeof(f), "repositories/manifests/default/%s/%s.toml",
	         repos[3].rel, ID);
	snprintf(p, sizeof(p), "%s/%s", bdir, f);
	data = slurp(p);
	CHECK(data != NULL);
	if (data != NULL) {
		char *mf = malloc(strlen(data) + 64),
		     *b = strstr(data, "bundle");

		CHECK(b != NULL);
		snprintf(mf, strlen(data) + 64,
		         "%.*sbundle_path = '../../x'\n%s", (int)(b - data),
		         data, strchr(b, '\n') + 1);
		hostile(&cfg, bdir, &repos[3], f, mf, "not inside");
		snprintf(mf, strlen(data) + 64,
		         "%.*sbundle_path = '/etc/passwd'\n%s", (int)(b - data),
		         data, strchr(b, '\n') + 1);
		hostile(&cfg, bdir, &repos[3], f, mf, "not inside");
		free(mf);
	}
	free(data);
	snprintf(f, sizeof(f), "repositories/default/%s/%s/001.refs",
	         repos[3].rel, ID);
	hostile(&cfg, bdir, &repos[3], f, "zzzz refs/heads/main\n",
	        "001.refs:1");
	snprintf(p, sizeof(p), "%s refs/heads/a b\n", head);
	hostile(&cfg, bdir, &repos[3], f, p, "bad refname");
	snprintf(f, sizeof(f), "repositories/default/%s/%s/001.bundle",
	         repos[3].rel, ID);
	hostile(&cfg, bdir, &repos[3], f, "garbage\n", "not a git bundle");
	missing_object(&cfg, bdir, &repos[3]);
	free(head);

	/* Put back together, the backup restores again. */
	CHECK_EQ_INT(restore_repos(&cfg, bdir, ID, NULL, 0, NULL, NULL, &res,
	                           &failed, err, sizeof(err)),
	             0);
	CHECK_EQ_INT(res.removed, 0);
	CHECK_EQ_INT(restore_repos_verify(&cfg, bdir, ID, NULL, NULL, NULL, err,
	                                  sizeof(err)),
	             0);

	for (i = 0; i < nrepos; i++)
		free(repos[i].cut_refs);
	ls_rmtree(base);
	return tu_done();
}
