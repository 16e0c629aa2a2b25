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

/* Every mismatch verify reports, "repo ref expected found" a line. */
struct mrec {
	char *line[64];
	size_t n;
};

static void on_record(void *arg, const char *repo, const char *ref,
                      const char *expected, const char *found)
{
	struct mrec *r = arg;
	char l[1024];

	snprintf(l, sizeof(l), "%s %s %s %s", repo, ref ? ref : "(repository)",
	         expected[0] ? expected : "-", found[0] ? found : "-");
	CHECK(r->n < 64);
	if (r->n < 64)
		r->line[r->n++] = strdup(l);
}

/* The lines grouped by repository in a stable order (verify runs
 * repositories in parallel, but reports one's in one go), then forgotten. */
static char *mrec_text(struct mrec *r)
{
	size_t i, j, len = 1, rl;
	char *t;

	for (i = 1; i < r->n; i++)
		for (j = i; j > 0; j--) {
			char *a = r->line[j - 1], *b = r->line[j], *sw;
			size_t la = strcspn(a, " "), lb = strcspn(b, " ");
			int d = strncmp(a, b, la < lb ? la : lb);

			if (d < 0 || (d == 0 && la <= lb))
				break;
			sw = r->line[j - 1];
			r->line[j - 1] = r->line[j];
			r->line[j] = sw;
		}
	for (i = 0; i < r->n; i++)
		len += strlen(r->line[i]) + 1;
	t = calloc(1, len);
	for (i = 0, len = 0; t != NULL && i < r->n; i++) {
		rl = strlen(r->line[i]);
		memcpy(t + len, r->line[i], rl);
		t[len + rl] = '\n';
		len += rl + 1;
	}
	for (i = 0; i < r->n; i++)
		free(r->line[i]);
	r->n = 0;
	return t;
}

/* What verify reported when it ran `git show-ref --head` in every
 * repository: its output against the last .refs, HEAD first, then the
 * refs by name, each difference once. */
static void oracle(const char *bdir, const struct restore_repos_job *tmpl,
                   const char *const *rels, size_t n, struct mrec *r)
{
	struct restore_repos_manifest m;
	struct restore_repos_refs want, got;
	struct restore_repos_job j = *tmpl;
	char path[LS_PATH_MAX], gd[LS_PATH_MAX + 16], name[512], why[512];
	char *out = NULL;
	size_t i, a, b;

	for (i = 0; i < n; i++) {
		memset(&m, 0, sizeof(m));
		memset(&got, 0, sizeof(got));
		j.rel = (char *)rels[i];
		snprintf(name, sizeof(name), "%s/%s", j.storage, j.rel);
		snprintf(path, sizeof(path), "%s/%s", j.path, j.rel);
		CHECK_EQ_INT(restore_repos_load(bdir, ID, &j, &m, &want, why,
		                                sizeof(why)),
		             0);
		if (!exists(path)) {
			on_record(r, name, NULL, "", "");
			goto next;
		}
		snprintf(gd, sizeof(gd), "--git-dir=%s", path);
		/* 1: no ref at all */
		CHECK(GIT(NULL, &out, gd, "show-ref", "--head") <= 1);
		CHECK_EQ_INT(restore_repos_refs_parse(
		                 out ? out : "", out ? strlen(out) : 0,
		                 strcmp(m.fmt, "sha256") == 0 ? 64 : 40, 0,
		                 "show-ref", &got, why, sizeof(why)),
		             0);
		if (strcmp(want.head, got.head) != 0)
			on_record(r, name, "HEAD", want.head, got.head);
		for (a = b = 0; a < want.n || b < got.n;) {
			int d = a == want.n ? 1
			        : b == got.n
			            ? -1
			            : strcmp(want.v[a].name, got.v[b].name);
			const char *e = d <= 0 ? want.v[a].oid : "";
			const char *f = d >= 0 ? got.v[b].oid : "";

			if (strcmp(e, f) != 0)
				on_record(r, name,
				          d <= 0 ? want.v[a].name
				                 : got.v[b].name,
				          e, f);
			a += d <= 0;
			b += d >= 0;
		}
	next:
		free(out);
		out = NULL;
		restore_repos_refs_free(&want);
		restore_repos_refs_free(&got);
		restore_repos_manifest_free(&m);
	}
}

/* Verifies storage v of cfg: n mismatches, reported as the oracle says
 * (show-ref's), and each of the lines of want among them. */
static void verify_as_git(const struct agent_config *cfg, const char *bdir,
                          const char *const *rels, size_t nrels, int n,
                          const char *want)
{
	const struct agent_gitaly_storage *st = cfg->gitaly.storages.items;
	struct restore_repos_job tmpl = {0, st->name, st->path, 0, 0, NULL, 1};
	struct mrec got = {{0}, 0}, exp = {{0}, 0};
	char err[2048], *g, *e, *w, *tok, *save = NULL;

	CHECK_EQ_INT(restore_repos_verify(cfg, bdir, ID, NULL, on_record, &got,
	                                  err, sizeof(err)),
	             n);
	CHECK_STR(err, "");
	oracle(bdir, &tmpl, rels, nrels, &exp);
	g = mrec_text(&got);
	e = mrec_text(&exp);
	CHECK_STR(g, e);
	w = strdup(want);
	for (tok = strtok_r(w, "\n", &save); tok != NULL;
	     tok = strtok_r(NULL, "\n", &save))
		CHECK_CONTAINS(g, tok);
	free(w);
	free(g);
	free(e);
}

static void rev(const char *gd, const char *what, char *oid)
{
	char *o = NULL;

	CHECK_EQ_INT(GIT(NULL, &o, gd, "rev-parse", what), 0);
	chomp(o);
	ls_strlcpy(oid, o ? o : "", OID_BUF);
	free(o);
}

enum {
	V_PACKED,
	V_DELETED,
	V_CHANGED,
	V_EXTRA,
	V_HEAD,
	V_HEADMISS,
	V_DETACHED,
	V_EMPTY,
	V_SYMREF,
	V_SHA256,
	V_ODD,
	V_GONE,
	V_N
};

/*
 * Verify reads each repository's refs as the cut does (no git process)
 * and must report exactly what `git show-ref --head` made it report: a
 * storage of its own, backed up, then changed one way a repository, and
 * every mismatch checked against show-ref's output and the .refs.
 */
static void test_verify(void)
{
	static const char *const names[V_N] = {
	    "v/packed.git", "v/deleted.git",  "v/changed.git",  "v/extra.git",
	    "v/head.git",   "v/headmiss.git", "v/detached.git", "v/empty.git",
	    "v/symref.git", "v/sha256.git",   "v/odd.git",      "v/gone.git"};
	const char *rels[V_N];
	struct agent_gitaly_storage st = {"v", NULL};
	struct agent_config cfg;
	struct backup_repos_cut cut;
	struct backup_artifacts o = {0};
	struct ls_strlist failed = {0};
	struct trepo *t[V_N];
	char storage[LS_PATH_MAX], work[LS_PATH_MAX], bdir[LS_PATH_MAX];
	char gd[V_N][LS_PATH_MAX + 16], p[2 * LS_PATH_MAX], err[2048];
	char main0[OID_BUF], feat0[OID_BUF], c[OID_BUF], w[4096];
	char mainx[V_N][OID_BUF], featx[V_N][OID_BUF], *packed;
	size_t i;

	snprintf(storage, sizeof(storage), "%s/vstore", base);
	snprintf(work, sizeof(work), "%s/vwork", base);
	snprintf(bdir, sizeof(bdir), "%s/vbackup", base);
	CHECK_EQ_INT(ls_mkdirs(storage, 0755), 0);
	CHECK_EQ_INT(ls_mkdirs(work, 0700), 0);
	st.path = storage;
	init_cfg(&cfg, &st, 1);
	memset(mainx, 0, sizeof(mainx));
	memset(featx, 0, sizeof(featx));
	for (i = 0; i < V_N; i++)
		rels[i] = names[i] + 2; /* "v/" is the storage's */
	for (i = 0; i < V_N; i++) {
		t[i] = &repos[nrepos];
		make_repo(storage, names[i] + 2, i == V_EMPTY ? 'e' : 'n',
		          i == V_SHA256 ? "sha256" : "sha1");
		snprintf(gd[i], sizeof(gd[i]), "--git-dir=%s", t[i]->path);
		if (i != V_EMPTY) {
			rev(gd[i], "refs/heads/main", mainx[i]);
			rev(gd[i], "refs/heads/feature", featx[i]);
		}
	}
	/* Backed up so: a detached HEAD, a symbolic ref under refs/. */
	CHECK_EQ_INT(GIT(NULL, NULL, gd[V_DETACHED], "update-ref", "--no-deref",
	                 "HEAD", featx[V_DETACHED]),
	             0);
	CHECK_EQ_INT(GIT(NULL, NULL, gd[V_SYMREF], "symbolic-ref",
	                 "refs/remotes/origin/HEAD", "refs/heads/main"),
	             0);
	CHECK_EQ_INT(backup_repos_cut(&cfg, work, &cut, err, sizeof(err)), 0);
	CHECK_EQ_INT(backup_repos_copy(&cfg, work, bdir, ID, 0, NULL, NULL, &o,
	                               &failed, err, sizeof(err)),
	             0);
	backup_artifacts_free(&o);
	verify_as_git(&cfg, bdir, rels, V_N, 0, "");
	/* Files backend: no git process at all. */
	cfg.gitaly.git = "/nonexistent/git";
	CHECK_EQ_INT(restore_repos_verify(&cfg, bdir, ID, NULL, NULL, NULL, err,
	                                  sizeof(err)),
	             0);
	cfg.gitaly.git = LS_GIT_PATH;

	/* A loose ref shadowing its packed line (which names feature), the
	 * other refs only in packed-refs: all as backed up. */
	memcpy(main0, mainx[V_PACKED], OID_BUF);
	memcpy(feat0, featx[V_PACKED], OID_BUF);
	CHECK_EQ_INT(GIT(NULL, NULL, gd[V_PACKED], "update-ref",
	                 "refs/heads/main", feat0),
	             0);
	CHECK_EQ_INT(GIT(NULL, NULL, gd[V_PACKED], "pack-refs", "--all"), 0);
	CHECK_EQ_INT(GIT(NULL, NULL, gd[V_PACKED], "update-ref",
	                 "refs/heads/main", main0),
	             0);
	snprintf(p, sizeof(p), "%s/packed-refs", t[V_PACKED]->path);
	packed = slurp(p);
	snprintf(w, sizeof(w), "%s refs/heads/main\n", feat0);
	CHECK_CONTAINS(packed, w);
	free(packed);
	snprintf(p, sizeof(p), "%s/refs/heads/feature", t[V_PACKED]->path);
	CHECK(!exists(p));
	CHECK_EQ_INT(GIT(NULL, NULL, gd[V_DELETED], "update-ref", "-d",
	                 "refs/heads/feature"),
	             0);
	CHECK_EQ_INT(GIT(NULL, NULL, gd[V_CHANGED], "update-ref",
	                 "refs/heads/feature", mainx[V_CHANGED]),
	             0);
	CHECK_EQ_INT(GIT(NULL, NULL, gd[V_EXTRA], "update-ref",
	                 "refs/heads/extra", mainx[V_EXTRA]),
	             0);
	CHECK_EQ_INT(GIT(NULL, NULL, gd[V_HEAD], "symbolic-ref", "HEAD",
	                 "refs/heads/feature"),
	             0);
	CHECK_EQ_INT(GIT(NULL, NULL, gd[V_HEADMISS], "symbolic-ref", "HEAD",
	                 "refs/heads/missing"),
	             0);
	CHECK_EQ_INT(GIT(NULL, NULL, gd[V_SYMREF], "symbolic-ref",
	                 "refs/remotes/origin/HEAD", "refs/heads/feature"),
	             0);
	CHECK_EQ_INT(GIT(NULL, NULL, gd[V_SHA256], "update-ref",
	                 "refs/heads/feature", mainx[V_SHA256]),
	             0);
	/* git reads an id followed by junk; the cut's reader declines the
	 * repository, so verify asks git. */
	snprintf(p, sizeof(p), "%s/refs/heads/odd", t[V_ODD]->path);
	snprintf(w, sizeof(w), "%s junk\n", mainx[V_ODD]);
	CHECK_EQ_INT(write_file(p, w, 0644), 0);
	snprintf(w, sizeof(w),
	         "v/deleted.git refs/heads/feature %s -\n"
	         "v/changed.git refs/heads/feature %s %s\n"
	         "v/extra.git refs/heads/extra - %s\n"
	         "v/head.git HEAD %s %s\n"
	         "v/headmiss.git HEAD %s -\n"
	         "v/symref.git refs/remotes/origin/HEAD %s %s\n"
	         "v/sha256.git refs/heads/feature %s %s\n"
	         "v/odd.git refs/heads/odd - %s\n",
	         featx[V_DELETED], featx[V_CHANGED], mainx[V_CHANGED],
	         mainx[V_EXTRA], mainx[V_HEAD], featx[V_HEAD],
	         mainx[V_HEADMISS], mainx[V_SYMREF], featx[V_SYMREF],
	         featx[V_SHA256], mainx[V_SHA256], mainx[V_ODD]);
	verify_as_git(&cfg, bdir, rels, V_N, 8, w);
	cfg.gitaly.git = "/nonexistent/git"; /* odd.git's is git's */
	CHECK(restore_repos_verify(&cfg, bdir, ID, NULL, NULL, NULL, err,
	                           sizeof(err)) < 0);
	CHECK_CONTAINS(err, "v/odd.git");
	cfg.gitaly.git = LS_GIT_PATH;

	/* Then: the loose ref gone, its packed line shows; HEAD detached
	 * elsewhere; an empty repository given a branch (HEAD first); a
	 * dangling symbolic ref; a repository removed. */
	snprintf(p, sizeof(p), "%s/refs/heads/main", t[V_PACKED]->path);
	CHECK_EQ_INT(unlink(p), 0);
	CHECK_EQ_INT(GIT(NULL, NULL, gd[V_DETACHED], "update-ref", "--no-deref",
	                 "HEAD", mainx[V_DETACHED]),
	             0);
	CHECK_EQ_INT(commit(gd[V_EMPTY], NULL, "no longer empty", c), 0);
	CHECK_EQ_INT(
	    GIT(NULL, NULL, gd[V_EMPTY], "update-ref", "refs/heads/main", c),
	    0);
	CHECK_EQ_INT(GIT(NULL, NULL, gd[V_SYMREF], "symbolic-ref",
	                 "refs/remotes/origin/HEAD", "refs/heads/nowhere"),
	             0);
	CHECK_EQ_INT(ls_rmtree(t[V_GONE]->path), 0);
	snprintf(w, sizeof(w),
	         "v/packed.git HEAD %s %s\n"
	         "v/packed.git refs/heads/main %s %s\n"
	         "v/detached.git HEAD %s %s\n"
	         "v/empty.git HEAD - %s\n"
	         "v/empty.git refs/heads/main - %s\n"
	         "v/symref.git refs/remotes/origin/HEAD %s -\n"
	         "v/gone.git (repository) - -\n",
	         main0, feat0, main0, feat0, featx[V_DETACHED],
	         mainx[V_DETACHED], c, c, mainx[V_SYMREF]);
	verify_as_git(&cfg, bdir, rels, V_N, 14, w);
	free_failed(&failed);
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
	test_verify();

	for (i = 0; i < nrepos; i++)
		free(repos[i].cut_refs);
	ls_rmtree(base);
	return tu_done();
}
