/*
 * Shared by test_backup_repos.c and test_backup_repos_snap.c: real git
 * repositories made to order (plain, with hooks, empty, HEAD at a missing
 * branch, sha256), and the checks of what a copy wrote. Each test binary
 * includes it once.
 */
#ifndef LS_REPOS_TESTUTIL_H
#define LS_REPOS_TESTUTIL_H

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>

#include "agent_config.h"
#include "backup_artifact.h"
#include "backup_repos.h"
#include "ls_afile.h"
#include "ls_error.h"
#include "ls_exec.h"
#include "ls_util.h"
#include "testutil.h"

#ifndef LS_GIT_PATH
#define LS_GIT_PATH "/usr/bin/git"
#endif

#define NHASHED 12
#define ID "1700000000_2023_11_14_17.8.2"
#define HOOK "#!/bin/sh\nexit 0\n"

static char home_env[LS_PATH_MAX + 8];
static const char *const git_env[] = {"PATH=/usr/bin:/bin",
                                      home_env,
                                      "GIT_AUTHOR_NAME=Lockstep Test",
                                      "GIT_AUTHOR_EMAIL=test@example.com",
                                      "GIT_COMMITTER_NAME=Lockstep Test",
                                      "GIT_COMMITTER_EMAIL=test@example.com",
                                      "GIT_CONFIG_NOSYSTEM=1",
                                      "LANG=C",
                                      "LC_ALL=C",
                                      NULL};

struct trepo {
	char rel[256];
	char path[LS_PATH_MAX];
	char *cut_refs; /* expected .refs: HEAD first, then for-each-ref */
	int empty;
};

static struct trepo repos[NHASHED + 8];
static size_t nrepos;
static char base[] = "/tmp/ls-repos-XXXXXX";

/* Runs git with a NULL-terminated argument list; returns the exit status
 * (-1 if it did not run); *out gets stdout when out is not NULL. */
static inline int gitv(const char *in, char **out, const char *const *args)
{
	const char *argv[32];
	struct ls_exec_opts o;
	struct ls_exec_result r;
	size_t n = 0;
	int rv;

	argv[n++] = LS_GIT_PATH;
	while (*args != NULL && n < 31)
		argv[n++] = *args++;
	argv[n] = NULL;
	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.envp = git_env;
	o.stdin_data = in;
	o.stdin_len = in ? strlen(in) : 0;
	o.max_stdout = 16 << 20;
	o.max_stderr = 8192;
	o.timeout_ms = 60000;
	rv = ls_exec_run(&o, &r);
	if (out != NULL) {
		*out = rv == 0 ? (char *)r.out : NULL;
		if (rv == 0)
			r.out = NULL;
	}
	if (rv == 0 && (!r.exited || r.status != 0) && r.err_len > 0)
		fprintf(stderr, "git %s: %s", argv[1], r.err ? r.err : "");
	rv = rv == 0 && r.exited ? r.status : -1;
	ls_exec_result_free(&r);
	return rv;
}

#define GIT(in, out, ...)                                                      \
	gitv(in, out, (const char *const[]){__VA_ARGS__, NULL})

static inline void chomp(char *s)
{
	if (s != NULL)
		s[strcspn(s, "\n")] = '\0';
}

#define OID_BUF 72 /* every oid buffer here: sha256 hex + NUL fits */

/* A commit with one file on top of parent (may be NULL); oid out. */
static inline int commit(const char *gd, const char *parent, const char *msg,
                         char *oid)
{
	char *blob = NULL, *tree = NULL, *c = NULL, in[256];
	int rv = -1;

	if (GIT(msg, &blob, gd, "hash-object", "-w", "--stdin") != 0)
		goto out;
	chomp(blob);
	snprintf(in, sizeof(in), "100644 blob %s\tfile.txt\n", blob);
	if (GIT(in, &tree, gd, "mktree") != 0)
		goto out;
	chomp(tree);
	if (parent != NULL)
		rv = GIT(NULL, &c, gd, "commit-tree", tree, "-m", msg, "-p",
		         parent);
	else
		rv = GIT(NULL, &c, gd, "commit-tree", tree, "-m", msg);
	if (rv == 0) {
		chomp(c);
		ls_strlcpy(oid, c, OID_BUF);
	}
out:
	free(blob);
	free(tree);
	free(c);
	return rv;
}

static inline void hashed_rel(int id, char *rel, size_t len)
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	char num[16], h[65];

	snprintf(num, sizeof(num), "%d", id);
	EVP_Digest(num, strlen(num), md, &mdlen, EVP_sha256(), NULL);
	ls_hex(h, md, 32);
	snprintf(rel, len, "@hashed/%.2s/%.2s/%s.git", h, h + 2, h);
}

static inline int write_file(const char *path, const char *data, mode_t mode)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -1;
	fputs(data, f);
	fclose(f);
	return chmod(path, mode);
}

/* A bare repository with history: main (3 commits), feature, tags. */
static inline void make_repo(const char *storage, const char *rel, int kind,
                             const char *format)
{
	struct trepo *t = &repos[nrepos++];
	char gd[LS_PATH_MAX + 16], c1[72], c2[72], c3[72], f1[72];
	char msg[LS_PATH_MAX + 16];
	char fmt[32];

	CHECK_EQ_INT(ls_fmt(t->rel, sizeof(t->rel), "%s", rel), 0);
	CHECK_EQ_INT(ls_fmt(t->path, sizeof(t->path), "%s/%s", storage, rel),
	             0);
	CHECK_EQ_INT(ls_fmt(gd, sizeof(gd), "--git-dir=%s", t->path), 0);
	CHECK_EQ_INT(ls_fmt(fmt, sizeof(fmt), "--object-format=%s", format), 0);
	CHECK_EQ_INT(
	    GIT(NULL, NULL, "init", "-q", "--bare", "-b", "main", fmt, t->path),
	    0);
	if (kind == 'e') {
		t->empty = 1;
		return;
	}
	CHECK_EQ_INT(ls_fmt(msg, sizeof(msg), "one %s", rel), 0);
	CHECK_EQ_INT(commit(gd, NULL, msg, c1), 0);
	CHECK_EQ_INT(ls_fmt(msg, sizeof(msg), "two %s", rel), 0);
	CHECK_EQ_INT(commit(gd, c1, msg, c2), 0);
	CHECK_EQ_INT(ls_fmt(msg, sizeof(msg), "three %s", rel), 0);
	CHECK_EQ_INT(commit(gd, c2, msg, c3), 0);
	CHECK_EQ_INT(ls_fmt(msg, sizeof(msg), "feature %s", rel), 0);
	CHECK_EQ_INT(commit(gd, c2, msg, f1), 0);
	CHECK_EQ_INT(GIT(NULL, NULL, gd, "update-ref", "refs/heads/main", c3),
	             0);
	CHECK_EQ_INT(
	    GIT(NULL, NULL, gd, "update-ref", "refs/heads/feature", f1), 0);
	CHECK_EQ_INT(GIT(NULL, NULL, gd, "update-ref", "refs/tags/l1", c1), 0);
	CHECK_EQ_INT(GIT(NULL, NULL, gd, "tag", "-a", "v1", "-m", "v1", c2), 0);
	CHECK_EQ_INT(
	    GIT(NULL, NULL, gd, "update-ref", "refs/merge-requests/1/head", f1),
	    0);
	if (kind == 'm')
		CHECK_EQ_INT(GIT(NULL, NULL, gd, "symbolic-ref", "HEAD",
		                 "refs/heads/missing"),
		             0);
	if (kind == 'h') {
		char p[LS_PATH_MAX + 64];
		CHECK_EQ_INT(ls_fmt(p, sizeof(p), "%s/custom_hooks", t->path),
		             0);
		CHECK_EQ_INT(mkdir(p, 0755), 0);
		CHECK_EQ_INT(ls_fmt(p, sizeof(p), "%s/custom_hooks/pre-receive",
		                    t->path),
		             0);
		CHECK_EQ_INT(write_file(p, HOOK, 0755), 0);
	}
}

/* What the cut must record: HEAD line when HEAD resolves, then refs. */
static inline void expect_refs(struct trepo *t)
{
	char gd[LS_PATH_MAX + 16], *head = NULL, *refs = NULL;

	snprintf(gd, sizeof(gd), "--git-dir=%s", t->path);
	CHECK_EQ_INT(GIT(NULL, &refs, gd, "for-each-ref",
	                 "--format=%(objectname) %(refname)"),
	             0);
	if (GIT(NULL, &head, gd, "rev-parse", "-q", "--verify", "HEAD") == 0 &&
	    head != NULL && head[0] != '\0') {
		chomp(head);
		size_t need = strlen(head) + strlen(refs) + 8;

		t->cut_refs = malloc(need);
		snprintf(t->cut_refs, need, "%s HEAD\n%s", head, refs);
		free(refs);
	} else {
		t->cut_refs = refs;
	}
	free(head);
}

static inline char *slurp(const char *path)
{
	char *data = NULL;
	size_t len;

	if (ls_read_file(path, 64 << 20, &data, &len) < 0)
		return NULL;
	return data;
}

static inline int exists(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0;
}

static inline int line_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The lines of s, sorted and joined again: order-free comparison. */
static inline char *sorted_lines(const char *s)
{
	char *copy = strdup(s), *lines[512], *tok, *save = NULL, *res;
	size_t n = 0, i, len = 1;

	for (tok = strtok_r(copy, "\n", &save); tok && n < 512;
	     tok = strtok_r(NULL, "\n", &save))
		lines[n++] = tok;
	qsort(lines, n, sizeof(*lines), line_cmp);
	for (i = 0; i < n; i++)
		len += strlen(lines[i]) + 1;
	res = calloc(1, len);
	for (i = 0, len = 0; i < n; i++) {
		size_t l = strlen(lines[i]);
		memcpy(res + len, lines[i], l);
		res[len + l] = '\n';
		len += l + 1;
	}
	free(copy);
	return res;
}

/* Regular files below dir; names containing filter (may be NULL). */
static inline int count_files(const char *dir, const char *filter)
{
	char sub[LS_PATH_MAX];
	struct dirent *de;
	struct stat sb;
	DIR *d = opendir(dir);
	int n = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (ls_fmt(sub, sizeof(sub), "%s/%s", dir, de->d_name) < 0 ||
		    lstat(sub, &sb) < 0)
			continue;
		if (S_ISDIR(sb.st_mode))
			n += count_files(sub, filter);
		else if (filter == NULL || strstr(sub, filter) != NULL)
			n++;
	}
	closedir(d);
	return n;
}

struct prog {
	int calls;
	uint64_t bytes, done, total;
};

static inline void on_progress(void *arg, const char *component, uint64_t bytes,
                               uint64_t done, uint64_t total)
{
	struct prog *p = arg;

	CHECK_STR(component, "repositories");
	p->calls++;
	p->bytes = bytes;
	p->done = done;
	p->total = total;
}

/* Bundle, .refs and clone of one repository against the cut. */
static inline void check_repo_in(const char *bdir, const char *storage,
                                 const struct trepo *t)
{
	char dir[LS_PATH_MAX], p[LS_PATH_MAX + 64], vgd[LS_PATH_MAX + 16];
	char clone[LS_PATH_MAX], *data, *heads = NULL, *a, *b, *line, *save;

	CHECK_EQ_INT(ls_fmt(dir, sizeof(dir), "%s/repositories/%s/%s/%s", bdir,
	                    storage, t->rel, ID),
	             0);
	snprintf(p, sizeof(p), "%s/001.refs", dir);
	data = slurp(p);
	CHECK_STR(data, t->cut_refs);
	free(data);
	snprintf(p, sizeof(p), "%s/001.bundle", dir);
	if (t->empty) {
		CHECK(!exists(p));
		return;
	}
	snprintf(vgd, sizeof(vgd), "--git-dir=%s/verify.git", base);
	CHECK_EQ_INT(GIT(NULL, NULL, vgd, "bundle", "verify", "-q", p), 0);
	CHECK_EQ_INT(GIT(NULL, &heads, vgd, "bundle", "list-heads", p), 0);
	a = sorted_lines(heads ? heads : "");
	b = sorted_lines(t->cut_refs);
	CHECK_STR(a, b);
	free(a);
	free(b);
	free(heads);
	/* Plain git clone of the bundle: every branch at its cut commit. */
	CHECK_EQ_INT(ls_fmt(clone, sizeof(clone), "%s/clones/%s/%s", base,
	                    storage, t->rel),
	             0);
	CHECK_EQ_INT(GIT(NULL, NULL, "clone", "-q", p, clone), 0);
	data = strdup(t->cut_refs);
	for (line = strtok_r(data, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *sp = strchr(line, ' '), cgd[LS_PATH_MAX + 16], r[512];
		char *got = NULL;
		if (sp == NULL || strncmp(sp + 1, "refs/heads/", 11) != 0)
			continue;
		*sp = '\0';
		snprintf(cgd, sizeof(cgd), "--git-dir=%s/.git", clone);
		snprintf(r, sizeof(r), "refs/remotes/origin/%s", sp + 12);
		CHECK_EQ_INT(GIT(NULL, &got, cgd, "rev-parse", r), 0);
		chomp(got);
		CHECK_STR(got, line);
		free(got);
	}
	free(data);
}

static inline void check_repo(const char *bdir, const struct trepo *t)
{
	check_repo_in(bdir, "default", t);
}

static inline void check_hooks_tar(const char *path)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	char buf[256];
	int found = 0;

	archive_read_support_format_all(a);
	CHECK_EQ_INT(archive_read_open_filename(a, path, 10240), ARCHIVE_OK);
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		if (strcmp(archive_entry_pathname(e),
		           "custom_hooks/pre-receive") == 0) {
			la_ssize_t n =
			    archive_read_data(a, buf, sizeof(buf) - 1);
			buf[n > 0 ? n : 0] = '\0';
			CHECK_STR(buf, HOOK);
			CHECK_EQ_INT(archive_entry_perm(e), 0755);
			found = 1;
		}
	}
	CHECK(found);
	archive_read_free(a);
}

static inline void check_artifacts(const char *bdir,
                                   const struct backup_artifacts *o)
{
	char p[2 * LS_PATH_MAX];
	uint8_t sha[32];
	uint64_t size;
	struct stat sb;
	size_t i;

	snprintf(p, sizeof(p), "%s/repositories", bdir);
	CHECK_EQ_INT(count_files(p, NULL), o->n);
	CHECK(stat(p, &sb) == 0 && (sb.st_mode & 0777) == 0700);
	for (i = 0; i < o->n; i++) {
		CHECK_STR(o->items[i].component, "repositories");
		snprintf(p, sizeof(p), "%s/%s", bdir, o->items[i].path);
		CHECK_EQ_INT(ls_sha256_file(p, &size, sha), 0);
		CHECK_EQ_INT(size, o->items[i].size);
		CHECK(memcmp(sha, o->items[i].sha256, 32) == 0);
		CHECK(stat(p, &sb) == 0 && (sb.st_mode & 0777) == 0644);
	}
}

static inline void check_manifests(const char *bdir)
{
	char p[2 * LS_PATH_MAX], want[4096], *got, *latest;
	const struct trepo *t = &repos[0];

	snprintf(p, sizeof(p), "%s/repositories/manifests/default/%s/%s.toml",
	         bdir, t->rel, ID);
	got = slurp(p);
	snprintf(want, sizeof(want),
	         "empty = false\nnon_existent = false\nobject_format = 'sha1'\n"
	         "head_reference = 'refs/heads/main'\n\n[[steps]]\n"
	         "bundle_path = 'default/%s/%s/001.bundle'\n"
	         "ref_path = 'default/%s/%s/001.refs'\n"
	         "custom_hooks_path = 'default/%s/%s/001.custom_hooks.tar'\n",
	         t->rel, ID, t->rel, ID, t->rel, ID);
	CHECK_STR(got, want);
	snprintf(p, sizeof(p),
	         "%s/repositories/manifests/default/%s/+latest.toml", bdir,
	         t->rel);
	latest = slurp(p);
	CHECK_STR(latest, got);
	free(got);
	free(latest);
	/* The empty repository (index 9): empty, HEAD still named. */
	t = &repos[9];
	snprintf(p, sizeof(p), "%s/repositories/manifests/default/%s/%s.toml",
	         bdir, t->rel, ID);
	got = slurp(p);
	CHECK_CONTAINS(got,
	               "empty = true\nnon_existent = false\n"
	               "object_format = 'sha1'\n"
	               "head_reference = 'refs/heads/main'\n\n[[steps]]\n");
	free(got);
	/* HEAD at a missing branch: named, but no HEAD line in .refs. */
	t = &repos[10];
	snprintf(p, sizeof(p), "%s/repositories/manifests/default/%s/%s.toml",
	         bdir, t->rel, ID);
	got = slurp(p);
	CHECK_CONTAINS(got, "empty = false\n");
	CHECK_CONTAINS(got, "head_reference = 'refs/heads/missing'\n");
	free(got);
	CHECK(strstr(repos[10].cut_refs, " HEAD\n") == NULL);
	/* The sha256 repository (last). */
	t = &repos[nrepos - 1];
	snprintf(p, sizeof(p), "%s/repositories/manifests/default/%s/%s.toml",
	         bdir, t->rel, ID);
	got = slurp(p);
	CHECK_CONTAINS(got, "object_format = 'sha256'\n");
	free(got);
}

/* Pushes after the cut: none of it may show in the copy. */
static inline void mutate(void)
{
	char gd[LS_PATH_MAX + 16], c[72], *old = NULL;

	snprintf(gd, sizeof(gd), "--git-dir=%s", repos[0].path);
	CHECK_EQ_INT(GIT(NULL, &old, gd, "rev-parse", "refs/heads/main"), 0);
	chomp(old);
	CHECK_EQ_INT(commit(gd, old, "after the cut", c), 0);
	CHECK_EQ_INT(GIT(NULL, NULL, gd, "update-ref", "refs/heads/main", c),
	             0);
	/* Objects into packs, refs into packed-refs. */
	CHECK_EQ_INT(GIT(NULL, NULL, gd, "gc", "-q"), 0);
	free(old);
	snprintf(gd, sizeof(gd), "--git-dir=%s", repos[2].path);
	CHECK_EQ_INT(commit(gd, NULL, "moved", c), 0);
	CHECK_EQ_INT(GIT(NULL, NULL, gd, "update-ref", "refs/heads/feature", c),
	             0);
	snprintf(gd, sizeof(gd), "--git-dir=%s", repos[3].path);
	CHECK_EQ_INT(GIT(NULL, NULL, gd, "update-ref", "-d", "refs/tags/l1"),
	             0);
	snprintf(gd, sizeof(gd), "--git-dir=%s", repos[4].path);
	CHECK_EQ_INT(commit(gd, NULL, "new branch", c), 0);
	CHECK_EQ_INT(GIT(NULL, NULL, gd, "update-ref", "refs/heads/newb", c),
	             0);
}

static inline void init_cfg(struct agent_config *cfg,
                            struct agent_gitaly_storage *st, size_t n)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->gitaly.git = LS_GIT_PATH;
	cfg->gitaly.storages.items = st;
	cfg->gitaly.storages.n = n;
	cfg->backup.jobs = 3;
	cfg->op_timeout = 120000;
}

static inline void free_failed(struct ls_strlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	memset(l, 0, sizeof(*l));
}

#endif
