/*
 * Restoring a file component: a round trip through Lockstep's and GNU
 * tar's archives gives back the tree, verify sees every kind of change,
 * hostile archives are refused with nothing written outside and the
 * directory as it was, and restored entries belong to the directory's
 * owner.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup_files.h"
#include "ls_error.h"
#include "ls_exec.h"
#include "ls_util.h"
#include "restore_files.h"
#include "restore_tar.h"
#include "testutil.h"

#define BIG_SIZE (5u * 1024 * 1024)
#define NL_NAME "new\nline.txt"
#define SP_NAME "with space.txt"
#define U8_NAME "caf\xc3\xa9 \xe2\x98\x83.txt"

static char base[256];
static unsigned char *big;

static const char *bp(const char *rel)
{
	static char p[8][512];
	static int i;

	i = (i + 1) % 8;
	snprintf(p[i], sizeof(p[i]), "%s/%s", base, rel);
	return p[i];
}

static void put(const char *rel, const void *data, size_t len)
{
	int fd = open(bp(rel), O_WRONLY | O_CREAT | O_TRUNC, 0644);

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK_EQ_INT(ls_write_all(fd, data, len), 0);
	close(fd);
}

static void mkd(const char *rel)
{
	CHECK_EQ_INT(mkdir(bp(rel), 0755), 0);
}

static int exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* The tree a backup is taken of, with what GitLab leaves out. */
static void build_src(void)
{
	mkd("src");
	mkd("src/a");
	mkd("src/a/b");
	mkd("src/a/b/c");
	put("src/a/b/c/deep.txt", "deep", 4);
	put("src/empty.txt", "", 0);
	put("src/a/big.bin", big, BIG_SIZE);
	put("src/" SP_NAME, "space", 5);
	put("src/" U8_NAME, "utf8", 4);
	put("src/a/" NL_NAME, "newline", 7);
	put("src/edit.txt", "original", 8);
	put("src/delete.txt", "delete me", 9);
	CHECK_EQ_INT(symlink("b/c/deep.txt", bp("src/a/link")), 0);
	mkd("src/emptydir");
	mkd("src/tmp");
	put("src/tmp/cache.txt", "cache", 5);
}

static int run(const char *const *argv)
{
	struct ls_exec_opts o;
	struct ls_exec_result r;
	int rv;

	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.max_stdout = 4096;
	o.max_stderr = 4096;
	o.timeout_ms = 60000;
	rv = ls_exec_run(&o, &r);
	if (rv == 0 && (!r.exited || r.status != 0)) {
		fprintf(stderr, "%s failed: %s\n", argv[0], r.err ? r.err : "");
		rv = -1;
	}
	ls_exec_result_free(&r);
	return rv;
}

static int restore(const char *archive, const char *dir, const char *scratch,
                   char *err, size_t errlen)
{
	int rv = restore_files("uploads", archive, dir, scratch, NULL, NULL,
	                       NULL, err, errlen);

	if (rv < 0)
		fprintf(stderr, "restore_files: %s\n", err);
	return rv;
}

struct seen {
	int n, missing, extra, different;
	char last[4][256];
};

static void seen_cb(void *arg, enum restore_mismatch kind, const char *path)
{
	struct seen *s = arg;
	int k = kind == RESTORE_MISSING ? 1 : kind == RESTORE_EXTRA ? 2 : 3;

	ls_strlcpy(s->last[k], path, sizeof(s->last[k]));
	if (k == 1)
		s->missing++;
	else if (k == 2)
		s->extra++;
	else
		s->different++;
	s->n++;
}

static int verify(const char *archive, const char *dir, struct seen *s)
{
	char err[512];
	struct seen tmp;
	int rv;

	memset(s ? s : &tmp, 0, sizeof(tmp));
	rv = restore_files_verify("uploads", archive, dir, NULL, seen_cb,
	                          s ? s : &tmp, NULL, err, sizeof(err));
	if (rv < 0)
		fprintf(stderr, "verify: %s\n", err);
	return rv;
}

/* The archives: Lockstep's (gzip, zstd) and GNU tar | gzip -1. */
static void make_archives(void)
{
	struct backup_files_cut cut;
	struct backup_artifacts arts = {0};
	char err[512], tarpath[512];
	const char *tar =
	    access("/usr/bin/tar", X_OK) == 0 ? "/usr/bin/tar" : "/bin/tar";
	const char *gzip =
	    access("/usr/bin/gzip", X_OK) == 0 ? "/usr/bin/gzip" : "/bin/gzip";

	mkd("out");
	CHECK_EQ_INT(backup_files_cut("uploads", bp("src"), bp("snap"), &cut,
	                              err, sizeof(err)),
	             0);
	CHECK_EQ_INT(backup_files_copy("uploads", bp("snap"),
	                               bp("out/gz.tar.gz"), "gz.tar.gz",
	                               BACKUP_GZIP, NULL, NULL, &arts, err,
	                               sizeof(err)),
	             0);
	CHECK_EQ_INT(backup_files_copy("uploads", bp("snap"),
	                               bp("out/zst.tar.gz"), "zst.tar.gz",
	                               BACKUP_ZSTD, NULL, NULL, &arts, err,
	                               sizeof(err)),
	             0);
	backup_artifacts_free(&arts);
	ls_strlcpy(tarpath, bp("out/gnu.tar"), sizeof(tarpath));
	{
		const char *argv[] = {tar,
		                      "--exclude=lost+found",
		                      "--exclude=./tmp",
		                      "-C",
		                      bp("src"),
		                      "-cf",
		                      tarpath,
		                      ".",
		                      NULL};
		CHECK_EQ_INT(run(argv), 0);
	}
	{
		const char *argv[] = {gzip, "-1", tarpath, NULL};
		CHECK_EQ_INT(run(argv), 0);
	}
	CHECK(exists(bp("out/gnu.tar.gz")));
}

struct prog {
	int calls;
	uint64_t bytes, entries, total;
};

static void prog_cb(void *arg, const char *component, uint64_t bytes,
                    uint64_t entries, uint64_t total)
{
	struct prog *p = arg;

	(void)component;
	p->calls++;
	p->bytes = bytes;
	p->entries = entries;
	p->total = total;
}

/* Entries of dir named "uploads.*", and the last one's path. */
static int asides(const char *dir, char *last, size_t lastlen)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d)) != NULL)
		if (strncmp(de->d_name, "uploads.", 8) == 0) {
			n++;
			/* A name that does not fit is no aside of ours. */
			if (ls_fmt(last, lastlen, "%s/%s", dir, de->d_name) < 0)
				last[0] = '\0';
		}
	if (d)
		closedir(d);
	return n;
}

static void test_round_trip(const char *archive, const char *tag)
{
	char root[512], live[600], scratch[600], aside[700], err[512], p[800];
	struct prog prog = {0};
	struct stat st;
	int rv;

	snprintf(root, sizeof(root), "%s", bp(tag));
	snprintf(scratch, sizeof(scratch), "%s/scratch", root);
	snprintf(live, sizeof(live), "%s/live", root);
	CHECK_EQ_INT(ls_mkdirs(live, 0755), 0);
	/* Into an empty directory first: the live tree. */
	CHECK_EQ_INT(restore(archive, live, scratch, err, sizeof(err)), 0);
	CHECK_EQ_INT(verify(archive, live, NULL), 0);
	CHECK_EQ_INT(ls_rmtree(scratch), 0);

	/* GitLab takes writes: an edit, a delete, an addition, tmp. */
	snprintf(p, sizeof(p), "%s/edit.txt", live);
	CHECK_EQ_INT(ls_write_atomic(p, "changed!", 8, 0644), 0);
	snprintf(p, sizeof(p), "%s/delete.txt", live);
	CHECK_EQ_INT(unlink(p), 0);
	snprintf(p, sizeof(p), "%s/a/added.txt", live);
	CHECK_EQ_INT(ls_write_atomic(p, "added", 5, 0644), 0);
	snprintf(p, sizeof(p), "%s/tmp/work", live);
	CHECK_EQ_INT(ls_mkdirs(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/tmp/work/keep.txt", live);
	CHECK_EQ_INT(ls_write_atomic(p, "keep", 4, 0644), 0);
	CHECK_EQ_INT(verify(archive, live, NULL), 3);

	rv = restore_files("uploads", archive, live, scratch, NULL, prog_cb,
	                   &prog, err, sizeof(err));
	CHECK_EQ_INT(rv, 0);
	if (rv < 0)
		fprintf(stderr, "%s: %s\n", tag, err);
	CHECK_EQ_INT(verify(archive, live, NULL), 0);
	CHECK(prog.calls >= 1);
	CHECK_EQ_INT(prog.bytes, BIG_SIZE + 4 + 5 + 4 + 7 + 8 + 9);
	CHECK_EQ_INT(prog.entries, 13);
	CHECK_EQ_INT(prog.total, 0);
	/* tmp stayed in place, untouched. */
	snprintf(p, sizeof(p), "%s/tmp/work/keep.txt", live);
	CHECK(exists(p));
	/* The changed tree is under scratch. */
	CHECK_EQ_INT(asides(scratch, aside, sizeof(aside)), 1);
	snprintf(p, sizeof(p), "%s/a/added.txt", aside);
	CHECK(exists(p));
	snprintf(p, sizeof(p), "%s/tmp", aside);
	CHECK(!exists(p));
	snprintf(p, sizeof(p), "%s/a/link", live);
	CHECK(lstat(p, &st) == 0 && S_ISLNK(st.st_mode));
	snprintf(p, sizeof(p), "%s/a/" NL_NAME, live);
	CHECK(exists(p));
}

static void test_verify_kinds(void)
{
	char live[512], err[512];
	struct seen s;

	snprintf(live, sizeof(live), "%s", bp("vk"));
	CHECK_EQ_INT(mkdir(live, 0755), 0);
	CHECK_EQ_INT(restore(bp("out/gz.tar.gz"), live, bp("vk-scratch"), err,
	                     sizeof(err)),
	             0);
	CHECK_EQ_INT(verify(bp("out/gz.tar.gz"), live, &s), 0);
	{
		/* One byte, same size. */
		int fd = open(bp("vk/a/big.bin"), O_WRONLY);
		unsigned char c = big[1000] ^ 1;
		CHECK(fd >= 0 && pwrite(fd, &c, 1, 1000) == 1);
		if (fd >= 0)
			close(fd);
	}
	CHECK_EQ_INT(verify(bp("out/gz.tar.gz"), live, &s), 1);
	CHECK_EQ_INT(s.different, 1);
	CHECK_STR(s.last[3], "a/big.bin");
	CHECK_EQ_INT(unlink(bp("vk/a/b/c/deep.txt")), 0);
	CHECK_EQ_INT(verify(bp("out/gz.tar.gz"), live, &s), 2);
	CHECK_EQ_INT(s.missing, 1);
	CHECK_STR(s.last[1], "a/b/c/deep.txt");
	put("vk/a/b/extra.txt", "x", 1);
	CHECK_EQ_INT(verify(bp("out/gz.tar.gz"), live, &s), 3);
	CHECK_EQ_INT(s.extra, 1);
	CHECK_STR(s.last[2], "a/b/extra.txt");
	CHECK_EQ_INT(unlink(bp("vk/a/link")), 0);
	CHECK_EQ_INT(symlink("b/c/other.txt", bp("vk/a/link")), 0);
	CHECK_EQ_INT(verify(bp("out/gz.tar.gz"), live, &s), 4);
	CHECK_EQ_INT(s.different, 2);
	CHECK_EQ_INT(s.missing, 1);
	CHECK_EQ_INT(s.extra, 1);
	/* Excluded entries are not compared. */
	CHECK_EQ_INT(mkdir(bp("vk/lost+found"), 0700), 0);
	CHECK_EQ_INT(verify(bp("out/gz.tar.gz"), live, &s), 4);
	CHECK(restore_files_verify("uploads", bp("out/none.tar.gz"), live, NULL,
	                           NULL, NULL, NULL, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "none.tar.gz");
}

/* A hostile entry, as a separate archive entry description. */
struct evil {
	const char *name;
	mode_t type;
	const char *link; /* symlink target, or hard link target if hard */
	int hard;
};

/* An uncompressed tar: "./ok.txt", then the entries given. */
static void write_evil(const char *path, const struct evil *ev, size_t n)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	size_t i;

	archive_write_set_format_pax_restricted(a);
	CHECK_EQ_INT(archive_write_open_filename(a, path), ARCHIVE_OK);
	archive_entry_set_pathname(e, "./ok.txt");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, 2);
	CHECK_EQ_INT(archive_write_header(a, e), ARCHIVE_OK);
	CHECK_EQ_INT(archive_write_data(a, "ok", 2), 2);
	for (i = 0; i < n; i++) {
		archive_entry_clear(e);
		archive_entry_set_pathname(e, ev[i].name);
		archive_entry_set_filetype(e, ev[i].type);
		archive_entry_set_perm(e, ev[i].type == AE_IFDIR ? 0755 : 0644);
		archive_entry_set_size(
		    e, ev[i].type == AE_IFREG && !ev[i].hard ? 4 : 0);
		if (ev[i].hard)
			archive_entry_set_hardlink(e, ev[i].link);
		else if (ev[i].type == AE_IFLNK)
			archive_entry_set_symlink(e, ev[i].link);
		CHECK(archive_write_header(a, e) >= ARCHIVE_WARN);
		if (ev[i].type == AE_IFREG && !ev[i].hard)
			CHECK_EQ_INT(archive_write_data(a, "evil", 4), 4);
	}
	CHECK_EQ_INT(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	archive_entry_free(e);
}

static void test_malicious(void)
{
	char abs1[512], absdir[512], err[1024], aside[600];
	char good[512], dir[512], scratch[512];
	size_t i;
	int rv;

	ls_strlcpy(good, bp("out/gz.tar.gz"), sizeof(good));
	ls_strlcpy(dir, bp("m/top/dir"), sizeof(dir));
	ls_strlcpy(scratch, bp("m/top/scratch"), sizeof(scratch));

	snprintf(abs1, sizeof(abs1), "%s", bp("m/abs_evil"));
	snprintf(absdir, sizeof(absdir), "%s", bp("m/outside"));
	CHECK_EQ_INT(ls_mkdirs(dir, 0755), 0);
	CHECK_EQ_INT(ls_mkdirs(absdir, 0755), 0);
	CHECK_EQ_INT(restore(good, dir, scratch, err, sizeof(err)), 0);
	{
		const struct evil c1[] = {{"../evil", AE_IFREG, NULL, 0}};
		const struct evil c2[] = {{abs1, AE_IFREG, NULL, 0}};
		const struct evil c3[] = {{"a/../../evil", AE_IFREG, NULL, 0}};
		const struct evil c4[] = {{"link", AE_IFLNK, absdir, 0},
		                          {"link/x", AE_IFREG, NULL, 0}};
		const struct evil c5[] = {{"up", AE_IFLNK, "..", 0},
		                          {"up/evil", AE_IFREG, NULL, 0}};
		const struct evil c6[] = {{"pw", AE_IFREG, "/etc/passwd", 1}};
		const struct evil c7[] = {{"fifo", AE_IFIFO, NULL, 0}};
		const struct evil c8[] = {{"hl", AE_IFREG, "../../outside", 1}};
		/* Inside links, but one written through: refused too. */
		const struct evil c9[] = {{"sub/", AE_IFDIR, NULL, 0},
		                          {"in", AE_IFLNK, "sub", 0},
		                          {"in/x", AE_IFREG, NULL, 0}};
		/* Each link alone stays inside; together they escape. */
		const struct evil c10[] = {{"a2/", AE_IFDIR, NULL, 0},
		                           {"a2/up", AE_IFLNK, "..", 0},
		                           {"b2", AE_IFLNK, "a2/up/../m", 0}};
		const struct evil c11[] = {
		    {"rel", AE_IFLNK, "../../../outside", 0}};
		const struct {
			const struct evil *ev;
			size_t n;
			const char *named;
		} cases[] = {
		    {c1, 1, "\"../evil\""},  {c2, 1, abs1},
		    {c3, 1, "a/../../evil"}, {c4, 2, "\"link\""},
		    {c5, 2, "\"up\""},       {c6, 1, "\"pw\""},
		    {c7, 1, "\"fifo\""},     {c8, 1, "\"hl\""},
		    {c9, 3, "\"in/x\""},     {c10, 3, "\"b2\""},
		    {c11, 1, "\"rel\""},
		};
		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			char path[512];

			snprintf(path, sizeof(path), "%s/evil%zu.tar",
			         bp("out"), i);
			write_evil(path, cases[i].ev, cases[i].n);
			rv = restore_files("uploads", path, dir, scratch, NULL,
			                   NULL, NULL, err, sizeof(err));
			CHECK(rv < 0);
			CHECK_CONTAINS(err, cases[i].named);
			CHECK_CONTAINS(err, "put back as it was");
			if (rv == 0 || strstr(err, cases[i].named) == NULL)
				fprintf(stderr, "case %zu: %s\n", i, err);
			CHECK(!exists(bp("m/top/evil")));
			CHECK(!exists(bp("m/evil")));
			CHECK(!exists(abs1));
			CHECK(!exists(bp("m/outside/x")));
			CHECK(!exists(bp("m/top/m")));
			CHECK_EQ_INT(verify(good, dir, NULL), 0);
			/* The empty aside directory is gone again. */
			CHECK_EQ_INT(asides(scratch, aside, sizeof(aside)), 1);
		}
	}
	/* A truncated archive: refused, dir as it was. */
	{
		char *data = NULL;
		size_t len = 0;
		CHECK_EQ_INT(ls_read_file(good, 64 << 20, &data, &len), 0);
		if (data != NULL)
			CHECK_EQ_INT(ls_write_atomic(bp("out/cut.tar.gz"), data,
			                             len / 2, 0600),
			             0);
		free(data);
		CHECK(restore_files("uploads", bp("out/cut.tar.gz"), dir,
		                    scratch, NULL, NULL, NULL, err,
		                    sizeof(err)) < 0);
		CHECK_CONTAINS(err, "put back as it was");
		CHECK_EQ_INT(verify(good, dir, NULL), 0);
	}
	/* A missing archive: nothing moved at all. */
	CHECK(restore_files("uploads", bp("out/none.tar.gz"), dir, scratch,
	                    NULL, NULL, NULL, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "none.tar.gz");
	CHECK_EQ_INT(asides(scratch, aside, sizeof(aside)), 1);
}

/* Every entry under path has uid/gid. */
static int owned(const char *path, uid_t uid, gid_t gid)
{
	char sub[1024];
	struct dirent *de;
	struct stat st;
	DIR *d;
	int bad = 0;

	if (lstat(path, &st) < 0 || st.st_uid != uid || st.st_gid != gid)
		return 1;
	if (!S_ISDIR(st.st_mode) || (d = opendir(path)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		bad += owned(sub, uid, gid);
	}
	closedir(d);
	return bad;
}

static void test_owner(void)
{
	char err[512];

	if (geteuid() != 0) {
		printf("ownership not exercised: not root\n");
		return;
	}
	CHECK_EQ_INT(mkdir(bp("own"), 0755), 0);
	CHECK_EQ_INT(chown(bp("own"), 1234, 1234), 0);
	CHECK_EQ_INT(restore(bp("out/gnu.tar.gz"), bp("own"), bp("own-scratch"),
	                     err, sizeof(err)),
	             0);
	CHECK_EQ_INT(owned(bp("own"), 1234, 1234), 0);
	CHECK(exists(bp("own/a/b/c/deep.txt")));
}

/* scratch on another filesystem: refused naming both, nothing moved. */
static void test_exdev(void)
{
	char shm[64] = "/dev/shm/test_restore_files.XXXXXX", err[1024];
	struct stat a, b;

	if (stat("/dev/shm", &a) < 0 || stat(base, &b) < 0 ||
	    a.st_dev == b.st_dev || mkdtemp(shm) == NULL) {
		printf("EXDEV not exercised\n");
		return;
	}
	CHECK_EQ_INT(mkdir(bp("xd"), 0755), 0);
	CHECK_EQ_INT(restore(bp("out/gz.tar.gz"), bp("xd"), bp("xd-scratch"),
	                     err, sizeof(err)),
	             0);
	CHECK(restore_files("uploads", bp("out/zst.tar.gz"), bp("xd"), shm,
	                    NULL, NULL, NULL, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, shm);
	CHECK_CONTAINS(err, "filesystem");
	CHECK_EQ_INT(verify(bp("out/gz.tar.gz"), bp("xd"), NULL), 0);
	ls_rmtree(shm);
}

static void test_names(void)
{
	char out[64];
	const char *why;

	CHECK_EQ_INT(restore_tar_name("./a//b/./c", out, sizeof(out), &why), 0);
	CHECK_STR(out, "a/b/c");
	CHECK_EQ_INT(restore_tar_name("./", out, sizeof(out), &why), 1);
	CHECK(restore_tar_name("/etc", out, sizeof(out), &why) < 0);
	CHECK(restore_tar_name("a/..", out, sizeof(out), &why) < 0);
	CHECK(restore_tar_name("", out, sizeof(out), &why) < 0);
	CHECK_EQ_INT(restore_tar_link_inside("a/b/l", "../../x"), 1);
	CHECK_EQ_INT(restore_tar_link_inside("a/b/l", "../../../x"), 0);
	CHECK_EQ_INT(restore_tar_link_inside("l", "/x"), 0);
	CHECK_EQ_INT(restore_tar_link_inside("l", "a/../../l"), 0);
	CHECK_EQ_INT(
	    restore_tar_excluded(backup_component_find("uploads"), "tmp/x"), 1);
	CHECK_EQ_INT(
	    restore_tar_excluded(backup_component_find("uploads"), "a/tmp"), 0);
	CHECK_EQ_INT(restore_tar_excluded(NULL, "a/lost+found/x"), 1);
}

int main(void)
{
	umask(022);
	ls_strlcpy(base, "/tmp/test_restore_files.XXXXXX", sizeof(base));
	if (mkdtemp(base) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	big = tu_random_bytes(BIG_SIZE, 0x2468aceu);
	CHECK(big != NULL);
	if (big != NULL) {
		test_names();
		build_src();
		make_archives();
		test_round_trip(bp("out/gz.tar.gz"), "rt-gz");
		test_round_trip(bp("out/zst.tar.gz"), "rt-zst");
		test_round_trip(bp("out/gnu.tar.gz"), "rt-gnu");
		test_verify_kinds();
		test_malicious();
		test_owner();
		test_exdev();
	}
	ls_rmtree(base);
	free(big);
	return tu_done();
}
