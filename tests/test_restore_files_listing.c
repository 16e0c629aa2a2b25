/*
 * The listing restore_files saves for restore_files_verify: a verify after
 * a restore takes the archive side from it, and finds exactly what reading
 * the archive finds, for every kind of change, on Lockstep's and GNU tar's
 * archives (hard links, sparse files) and on one with duplicates. A
 * listing that is stale, damaged, or for another directory or component
 * is not used, and the answer stays the same.
 */
#include <archive.h>
#include <archive_entry.h>
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
#include "restore_files_listing.h"
#include "testutil.h"

#define BIG_SIZE (1u * 1024 * 1024)

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

/* Every mismatch reported, in order, as "kind path\n". */
struct seen {
	char log[8192];
	size_t len;
};

static void seen_cb(void *arg, enum restore_mismatch kind, const char *path)
{
	struct seen *s = arg;
	int n = snprintf(s->log + s->len, sizeof(s->log) - s->len, "%d %s\n",
	                 (int)kind, path);

	if (n > 0 && (size_t)n < sizeof(s->log) - s->len)
		s->len += (size_t)n;
}

static int vfy(const char *component, const char *archive, const char *dir,
               const char *listing, struct seen *s, int *from)
{
	char err[512];
	int rv;

	memset(s, 0, sizeof(*s));
	*from = -1;
	rv = restore_files_verify(component, archive, dir, listing, seen_cb, s,
	                          from, err, sizeof(err));
	if (rv < 0)
		fprintf(stderr, "verify: %s\n", err);
	return rv;
}

/* The listing's answer equals the archive's; from says which was used. */
static void same(const char *archive, const char *dir, const char *listing,
                 int want_from, int want_n)
{
	struct seen a, b;
	int fa, fb, ra, rb;

	ra = vfy("uploads", archive, dir, NULL, &a, &fa);
	rb = vfy("uploads", archive, dir, listing, &b, &fb);
	CHECK_EQ_INT(fa, 0);
	CHECK_EQ_INT(fb, want_from);
	CHECK_EQ_INT(ra, want_n);
	CHECK_EQ_INT(rb, ra);
	CHECK_STR(b.log, a.log);
}

static int restore(const char *archive, const char *dir, const char *listing)
{
	char err[1024], scratch[600];
	int rv;

	snprintf(scratch, sizeof(scratch), "%s.scratch", dir);
	rv = restore_files("uploads", archive, dir, scratch, listing, NULL,
	                   NULL, err, sizeof(err));
	if (rv < 0)
		fprintf(stderr, "restore_files: %s\n", err);
	return rv;
}

static void build_src(void)
{
	int fd;

	CHECK_EQ_INT(ls_mkdirs(bp("src/a/b/c"), 0755), 0);
	CHECK_EQ_INT(ls_mkdirs(bp("src/tmp"), 0755), 0);
	CHECK_EQ_INT(ls_mkdirs(bp("src/emptydir"), 0755), 0);
	put("src/a/b/c/deep.txt", "deep", 4);
	put("src/empty.txt", "", 0);
	put("src/a/big.bin", big, BIG_SIZE);
	put("src/with space%.txt", "space", 5);
	put("src/a/new\nline.txt", "newline", 7);
	put("src/edit.txt", "original", 8);
	put("src/tmp/cache.txt", "cache", 5);
	CHECK_EQ_INT(symlink("b/c/deep.txt", bp("src/a/link")), 0);
	CHECK_EQ_INT(link(bp("src/edit.txt"), bp("src/a/hard")), 0);
	/* Sparse, with a trailing hole: GNU tar -S stores the map. */
	fd = open(bp("src/sparse"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK(pwrite(fd, "x", 1, 300000) == 1);
		CHECK_EQ_INT(ftruncate(fd, 1 << 20), 0);
		close(fd);
	}
}

/* tar's "later duplicate wins" and a hard link to the first copy. */
static void write_dups(const char *path)
{
	static const struct {
		const char *name, *data, *link;
		mode_t type;
	} ev[] = {
	    {"./", NULL, NULL, AE_IFDIR},
	    {"./a/", NULL, NULL, AE_IFDIR},
	    {"./a/f.txt", "one", NULL, AE_IFREG},
	    {"./dup.txt", "first", NULL, AE_IFREG},
	    {"./hl", NULL, "./dup.txt", AE_IFREG},
	    {"./dup.txt", "second!", NULL, AE_IFREG},
	    {"./sym", NULL, "a/f.txt", AE_IFLNK},
	    {"./sym", NULL, "dup.txt", AE_IFLNK},
	    {"./tmp/x", "excluded", NULL, AE_IFREG},
	    {"./lost+found/", NULL, NULL, AE_IFDIR},
	};
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	size_t i, n;

	archive_write_set_format_pax_restricted(a);
	archive_write_add_filter_gzip(a);
	CHECK_EQ_INT(archive_write_open_filename(a, path), ARCHIVE_OK);
	for (i = 0; i < sizeof(ev) / sizeof(ev[0]); i++) {
		archive_entry_clear(e);
		archive_entry_set_pathname(e, ev[i].name);
		archive_entry_set_filetype(e, ev[i].type);
		archive_entry_set_perm(e, ev[i].type == AE_IFDIR ? 0755 : 0644);
		n = ev[i].data ? strlen(ev[i].data) : 0;
		archive_entry_set_size(e, (la_int64_t)n);
		if (ev[i].type == AE_IFREG && ev[i].link != NULL)
			archive_entry_set_hardlink(e, ev[i].link);
		else if (ev[i].type == AE_IFLNK)
			archive_entry_set_symlink(e, ev[i].link);
		CHECK_EQ_INT(archive_write_header(a, e), ARCHIVE_OK);
		if (n > 0)
			CHECK_EQ_INT(archive_write_data(a, ev[i].data, n),
			             (long long)n);
	}
	CHECK_EQ_INT(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	archive_entry_free(e);
}

static void make_archives(void)
{
	struct backup_files_cut cut;
	struct backup_artifacts arts = {0};
	char err[512], tarpath[512];
	const char *tar =
	    access("/usr/bin/tar", X_OK) == 0 ? "/usr/bin/tar" : "/bin/tar";

	CHECK_EQ_INT(ls_mkdirs(bp("out"), 0755), 0);
	CHECK_EQ_INT(backup_files_cut("uploads", bp("src"), bp("snap"), &cut,
	                              err, sizeof(err)),
	             0);
	CHECK_EQ_INT(backup_files_copy("uploads", bp("snap"),
	                               bp("out/gz.tar.gz"), "gz.tar.gz",
	                               BACKUP_GZIP, NULL, NULL, &arts, err,
	                               sizeof(err)),
	             0);
	backup_artifacts_free(&arts);
	ls_strlcpy(tarpath, bp("out/gnu.tar.gz"), sizeof(tarpath));
	{
		const char *argv[] = {
		    tar,   "--exclude=./tmp", "-S", "-z", "-C", bp("src"),
		    "-cf", tarpath,           ".",  NULL};
		CHECK_EQ_INT(run(argv), 0);
	}
	write_dups(bp("out/dups.tar.gz"));
}

static off_t fsize(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 ? st.st_size : -1;
}

/* Every change the verify tests make, each checked both ways. */
static void test_kinds(const char *archive, const char *tag)
{
	char dir[512], lst[600], p[700], file[700];
	struct stat st;

	snprintf(dir, sizeof(dir), "%s", bp(tag));
	snprintf(lst, sizeof(lst), "%s-state/restore-listings", dir);
	snprintf(file, sizeof(file), "%s/uploads.listing", lst);
	CHECK_EQ_INT(ls_mkdirs(dir, 0755), 0);
	CHECK_EQ_INT(restore(archive, dir, lst), 0);
	CHECK(stat(file, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK(stat(lst, &st) == 0 && (st.st_mode & 0777) == 0700);
	same(archive, dir, lst, 1, 0);
	snprintf(p, sizeof(p), "%s/a/big.bin", dir);
	if (fsize(p) < 0) {
		/* The archive with duplicates: its own changes. */
		snprintf(p, sizeof(p), "%s/hl", dir);
		CHECK_EQ_INT(ls_write_atomic(p, "firsT", 5, 0644), 0);
		same(archive, dir, lst, 1, 1);
		snprintf(p, sizeof(p), "%s/sym", dir);
		CHECK_EQ_INT(unlink(p), 0);
		CHECK_EQ_INT(symlink("a/f.txt", p), 0);
		same(archive, dir, lst, 1, 2);
		return;
	}
	{
		/* One byte, same size. */
		int fd = open(p, O_WRONLY);
		unsigned char c = big[1000] ^ 1;
		CHECK(fd >= 0 && pwrite(fd, &c, 1, 1000) == 1);
		if (fd >= 0)
			close(fd);
	}
	same(archive, dir, lst, 1, 1);
	snprintf(p, sizeof(p), "%s/a/b/c/deep.txt", dir);
	CHECK_EQ_INT(unlink(p), 0);
	same(archive, dir, lst, 1, 2);
	snprintf(p, sizeof(p), "%s/a/b/extra.txt", dir);
	CHECK_EQ_INT(ls_write_atomic(p, "x", 1, 0644), 0);
	same(archive, dir, lst, 1, 3);
	snprintf(p, sizeof(p), "%s/a/link", dir);
	CHECK_EQ_INT(unlink(p), 0);
	CHECK_EQ_INT(symlink("b/c/other.txt", p), 0);
	same(archive, dir, lst, 1, 4);
	snprintf(p, sizeof(p), "%s/lost+found", dir);
	CHECK_EQ_INT(mkdir(p, 0700), 0);
	same(archive, dir, lst, 1, 4);
	snprintf(p, sizeof(p), "%s/emptydir", dir);
	CHECK_EQ_INT(rmdir(p), 0);
	CHECK_EQ_INT(ls_write_atomic(p, "now a file", 10, 0644), 0);
	same(archive, dir, lst, 1, 5);
	snprintf(p, sizeof(p), "%s/sparse", dir);
	CHECK_EQ_INT(truncate(p, 1 << 19), 0);
	same(archive, dir, lst, 1, 6);
}

/* Damaged listings are not used; the answer stays the archive's. */
static void test_damaged(void)
{
	const char *archive = bp("out/gz.tar.gz");
	char dir[512], lst[512], file[700], *data = NULL, *bad;
	size_t len = 0, cut;

	snprintf(dir, sizeof(dir), "%s", bp("dmg"));
	snprintf(lst, sizeof(lst), "%s", bp("dmg-state"));
	snprintf(file, sizeof(file), "%s/uploads.listing", lst);
	CHECK_EQ_INT(ls_mkdirs(dir, 0755), 0);
	CHECK_EQ_INT(restore(archive, dir, lst), 0);
	put("dmg/extra.txt", "x", 1);
	same(archive, dir, lst, 1, 1);
	CHECK_EQ_INT(ls_read_file(file, 1 << 20, &data, &len), 0);
	if (data == NULL || len < 200)
		return;
	bad = malloc(len + 1);
	CHECK(bad != NULL);
	if (bad == NULL)
		goto out;
	/* Cut short anywhere: never used. */
	for (cut = 0; cut < len; cut += 1 + cut / 3) {
		CHECK_EQ_INT(ls_write_atomic(file, data, cut, 0600), 0);
		same(archive, dir, lst, 0, 1);
	}
	/* One byte changed in a hash: the checksum catches it. */
	memcpy(bad, data, len);
	bad[len - 80] ^= 1;
	CHECK_EQ_INT(ls_write_atomic(file, bad, len, 0600), 0);
	same(archive, dir, lst, 0, 1);
	/* Something after the end. */
	memcpy(bad, data, len);
	bad[len] = '\n';
	CHECK_EQ_INT(ls_write_atomic(file, bad, len + 1, 0600), 0);
	same(archive, dir, lst, 0, 1);
	CHECK_EQ_INT(
	    ls_write_atomic(file, "lockstep-restore-listing 2\n", 27, 0600), 0);
	same(archive, dir, lst, 0, 1);
	/* As it was: used again. */
	CHECK_EQ_INT(ls_write_atomic(file, data, len, 0600), 0);
	same(archive, dir, lst, 1, 1);
out:
	free(bad);
	free(data);
}

/* A listing of another directory or component, or of an archive that
 * changed since, is not used. */
static void test_stale(void)
{
	char dir[512], dir2[512], lst[512], file[700], other[700];
	char *data = NULL;
	size_t len = 0;
	struct seen s;
	int from;

	snprintf(dir, sizeof(dir), "%s", bp("st"));
	snprintf(dir2, sizeof(dir2), "%s", bp("st2"));
	snprintf(lst, sizeof(lst), "%s", bp("st-state"));
	snprintf(file, sizeof(file), "%s/uploads.listing", lst);
	snprintf(other, sizeof(other), "%s/builds.listing", lst);
	CHECK_EQ_INT(ls_mkdirs(dir, 0755), 0);
	CHECK_EQ_INT(ls_mkdirs(dir2, 0755), 0);
	CHECK_EQ_INT(restore(bp("out/gnu.tar.gz"), dir, lst), 0);
	CHECK_EQ_INT(restore(bp("out/gnu.tar.gz"), dir2, NULL), 0);
	same(bp("out/gnu.tar.gz"), dir, lst, 1, 0);
	/* Another directory, same archive. */
	same(bp("out/gnu.tar.gz"), dir2, lst, 0, 0);
	/* Another component: its name is bound in. */
	CHECK_EQ_INT(ls_read_file(file, 1 << 20, &data, &len), 0);
	if (data != NULL)
		CHECK_EQ_INT(ls_write_atomic(other, data, len, 0600), 0);
	free(data);
	CHECK(vfy("builds", bp("out/gnu.tar.gz"), dir, lst, &s, &from) >= 0);
	CHECK_EQ_INT(from, 0);
	/* Another archive at the path the listing names: a copy, renamed
	 * over it, same bytes, new inode. */
	CHECK_EQ_INT(ls_read_file(bp("out/gnu.tar.gz"), 64 << 20, &data, &len),
	             0);
	if (data != NULL)
		CHECK_EQ_INT(
		    ls_write_atomic(bp("out/gnu.tar.gz"), data, len, 0600), 0);
	free(data);
	same(bp("out/gnu.tar.gz"), dir, lst, 0, 0);
	/* A new restore of an archive written just now saves no listing
	 * (its ctime could still change unseen); the old one goes. */
	CHECK_EQ_INT(restore(bp("out/gnu.tar.gz"), dir, lst), 0);
	CHECK(fsize(file) < 0);
	same(bp("out/gnu.tar.gz"), dir, lst, 0, 0);
	/* Touched after the restore. */
	CHECK_EQ_INT(restore(bp("out/gz.tar.gz"), dir, lst), 0);
	same(bp("out/gz.tar.gz"), dir, lst, 1, 0);
	CHECK_EQ_INT(utimensat(AT_FDCWD, bp("out/gz.tar.gz"), NULL, 0), 0);
	same(bp("out/gz.tar.gz"), dir, lst, 0, 0);
}

/* A listing that cannot be written does not fail the restore. */
static void test_unwritable(void)
{
	char dir[512], lst[512];

	snprintf(dir, sizeof(dir), "%s", bp("uw"));
	snprintf(lst, sizeof(lst), "%s/sub", bp("uw-file"));
	CHECK_EQ_INT(ls_mkdirs(dir, 0755), 0);
	put("uw-file", "not a directory", 15);
	CHECK_EQ_INT(restore(bp("out/dups.tar.gz"), dir, lst), 0);
	same(bp("out/dups.tar.gz"), dir, lst, 0, 0);
}

/* The file format, written and read back. */
static void test_format(void)
{
	struct rfl_bind b = {"uploads", "/d", "/a.tar", 1, 2, 3, -4, 5, 6, 7};
	struct rfl_list l = {0}, r = {0};
	struct rfl_ent *x;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	x = rfl_list_add(&l, "b \n%\x7f", 'l', "");
	CHECK(x != NULL);
	x = rfl_list_add(&l, "a", 'f', NULL);
	CHECK(x != NULL);
	if (x != NULL)
		x->size = 42;
	CHECK(rfl_list_add(&l, "a", 'd', NULL) != NULL);
	rfl_list_sort(&l);
	CHECK_EQ_INT(l.n, 2);
	f = open_memstream(&buf, &len);
	CHECK(f != NULL);
	if (f == NULL)
		goto out;
	CHECK_EQ_INT(rfl_write(f, &b, &l), 0);
	fclose(f);
	CHECK_CONTAINS(buf, "\nl b%20%0A%25%7F \n");
	f = fmemopen(buf, len, "r");
	CHECK(f != NULL);
	if (f == NULL)
		goto out;
	CHECK_EQ_INT(rfl_read(f, &b, &r), 0);
	fclose(f);
	CHECK_EQ_INT(r.n, 2);
	if (r.n == 2) {
		CHECK_STR(r.e[0].path, "a");
		CHECK_EQ_INT(r.e[0].type, 'd');
		CHECK_STR(r.e[1].path, "b \n%\x7f");
		CHECK_STR(r.e[1].link, "");
	}
	rfl_list_free(&r);
	b.ctime_ns = 8;
	f = fmemopen(buf, len, "r");
	CHECK(f != NULL);
	if (f != NULL) {
		CHECK_EQ_INT(rfl_read(f, &b, &r), LS_ESTATE);
		fclose(f);
	}
out:
	rfl_list_free(&r);
	rfl_list_free(&l);
	free(buf);
}

int main(void)
{
	umask(022);
	ls_strlcpy(base, "/tmp/test_restore_files_listing.XXXXXX",
	           sizeof(base));
	if (mkdtemp(base) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	big = tu_random_bytes(BIG_SIZE, 0x13579bdu);
	CHECK(big != NULL);
	if (big != NULL) {
		test_format();
		build_src();
		make_archives();
		/* A listing is saved only of an archive whose ctime is
		 * older than restore_files' racy window. */
		sleep(3);
		test_kinds(bp("out/gz.tar.gz"), "k-gz");
		test_kinds(bp("out/gnu.tar.gz"), "k-gnu");
		test_kinds(bp("out/dups.tar.gz"), "k-dups");
		test_damaged();
		test_unwritable();
		test_stale();
	}
	ls_rmtree(base);
	free(big);
	return tu_done();
}
