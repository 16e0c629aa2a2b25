/*
 * File components: the hard-link cut keeps the cut's files through later
 * writes, the copy archives them as GitLab's tar would (./ names, GNU
 * format, gzip or zstd), artifacts are atomic, and the lister refuses
 * damaged input.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backup_files.h"
#include "ls_afile.h"
#include "ls_error.h"
#include "ls_util.h"
#include "testutil.h"

#define BIG_SIZE (5u * 1024 * 1024)
#define MID_SIZE 100000u
#define A_MTIME 1600000000
#define LONG_NAME                                                              \
	"long_"                                                                \
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
	"xxxxxxxxxxxxxx.txt"

static char base[256];
static char shm[256];
static unsigned char *big, *mid;

static void put(const char *rel, const void *data, size_t len, mode_t mode)
{
	char p[512];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", base, rel);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK_EQ_INT(ls_write_all(fd, data, len), 0);
	fchmod(fd, mode);
	close(fd);
}

static void mkd(const char *rel, mode_t mode)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", base, rel);
	CHECK_EQ_INT(mkdir(p, mode), 0);
	chmod(p, mode);
}

static const char *bp(const char *rel)
{
	static char p[4][512];
	static int i;

	i = (i + 1) % 4;
	snprintf(p[i], sizeof(p[i]), "%s/%s", base, rel);
	return p[i];
}

static void build_tree(void)
{
	struct timespec ts[2] = {{A_MTIME, 0}, {A_MTIME, 0}};

	mkd("src", 0755);
	put("src/a.txt", "hello", 5, 0640);
	CHECK_EQ_INT(utimensat(AT_FDCWD, bp("src/a.txt"), ts, 0), 0);
	put("src/caf\xc3\xa9.txt", "accent", 6, 0644);
	mkd("src/dir1", 0750);
	put("src/dir1/mid.bin", mid, MID_SIZE, 0644);
	put("src/dir1/" LONG_NAME, "abc", 3, 0644);
	mkd("src/dir1/dir2", 0755);
	put("src/dir1/dir2/big.bin", big, BIG_SIZE, 0644);
	put("src/dir1/dir2/deep.txt", "deep", 4, 0644);
	mkd("src/emptydir", 0755);
	put("src/empty.bin", "", 0, 0644);
	CHECK_EQ_INT(symlink("dir1/mid.bin", bp("src/link")), 0);
	mkd("src/lost+found", 0700);
	put("src/lost+found/lf.txt", "lf", 2, 0644);
	mkd("src/sub", 0755);
	CHECK_EQ_INT(link(bp("src/a.txt"), bp("src/sub/a_hard.txt")), 0);
	mkd("src/sub/lost+found", 0700);
	put("src/sub/lost+found/x", "x", 1, 0644);
	mkd("src/sub/tmp", 0755);
	put("src/sub/tmp/keep.txt", "keep", 4, 0644);
	mkd("src/tmp", 0755);
	put("src/tmp/junk.txt", "junk", 4, 0644);
	CHECK_EQ_INT(mkfifo(bp("src/fifo"), 0644), 0);
	put("src/to_delete.txt", "del", 3, 0644);
	put("src/to_replace.txt", "old", 3, 0644);
	/* Last, so that no later change moves the top directory's mtime. */
}

static const char expected_listing[] = "./\t0\t040755\n"
                                       "./a.txt\t5\t100640\n"
                                       "./caf\xc3\xa9.txt\t6\t100644\n"
                                       "./dir1/\t0\t040750\n"
                                       "./dir1/dir2/\t0\t040755\n"
                                       "./dir1/dir2/big.bin\t5242880\t100644\n"
                                       "./dir1/dir2/deep.txt\t4\t100644\n"
                                       "./dir1/" LONG_NAME "\t3\t100644\n"
                                       "./dir1/mid.bin\t100000\t100644\n"
                                       "./empty.bin\t0\t100644\n"
                                       "./emptydir/\t0\t040755\n"
                                       "./link\t0\t120777\n"
                                       "./sub/\t0\t040755\n"
                                       "./sub/a_hard.txt\t5\t100640\n"
                                       "./sub/tmp/\t0\t040755\n"
                                       "./sub/tmp/keep.txt\t4\t100644\n"
                                       "./to_delete.txt\t3\t100644\n"
                                       "./to_replace.txt\t3\t100644\n";

struct ent {
	char *name, *link, *uname;
	unsigned mode;
	int64_t size, mtime, uid;
	unsigned char *data;
	size_t len;
};

static void free_ents(struct ent *e, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(e[i].name);
		free(e[i].link);
		free(e[i].uname);
		free(e[i].data);
	}
	free(e);
}

/* Everything in an archive, data included, read back with libarchive. */
static size_t read_archive(const char *path, struct ent **out)
{
	struct archive *a = archive_read_new();
	struct archive_entry *ae;
	struct ent *e = calloc(64, sizeof(*e));
	size_t n = 0;
	la_ssize_t r;

	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	CHECK_EQ_INT(archive_read_open_filename(a, path, 65536), ARCHIVE_OK);
	while (n < 64 && archive_read_next_header(a, &ae) == ARCHIVE_OK) {
		struct ent *x = &e[n++];
		x->name = strdup(archive_entry_pathname(ae));
		x->link = archive_entry_symlink(ae)
		              ? strdup(archive_entry_symlink(ae))
		              : NULL;
		x->uname = archive_entry_uname(ae)
		               ? strdup(archive_entry_uname(ae))
		               : NULL;
		x->mode = archive_entry_mode(ae);
		x->size = archive_entry_size(ae);
		x->mtime = archive_entry_mtime(ae);
		x->uid = archive_entry_uid(ae);
		x->data = malloc((size_t)x->size + 1);
		while (x->data && (r = archive_read_data(a, x->data + x->len,
		                                         (size_t)x->size + 1 -
		                                             x->len)) > 0)
			x->len += (size_t)r;
	}
	archive_read_free(a);
	*out = e;
	return n;
}

static const struct ent *find(const struct ent *e, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(e[i].name, name) == 0)
			return &e[i];
	return NULL;
}

static void check_content(const struct ent *e, size_t n, const char *name,
                          const void *data, size_t len)
{
	const struct ent *x = find(e, n, name);

	CHECK(x != NULL);
	if (x == NULL) {
		fprintf(stderr, "missing %s\n", name);
		return;
	}
	CHECK_EQ_INT(x->len, len);
	CHECK(x->len == len && memcmp(x->data, data, len) == 0);
}

/* The archive holds exactly the cut's files, with the cut's contents. */
static void check_archive(const char *path)
{
	struct ent *e = NULL;
	struct passwd *pw = getpwuid(geteuid());
	const struct ent *x;
	size_t n = read_archive(path, &e), i;

	CHECK_EQ_INT(n, 18);
	CHECK(n > 0 && strcmp(e[0].name, "./") == 0);
	for (i = 0; i < n; i++)
		CHECK(strncmp(e[i].name, "./", 2) == 0);
	check_content(e, n, "./a.txt", "hello", 5);
	check_content(e, n, "./sub/a_hard.txt", "hello", 5);
	check_content(e, n, "./caf\xc3\xa9.txt", "accent", 6);
	check_content(e, n, "./dir1/mid.bin", mid, MID_SIZE);
	check_content(e, n, "./dir1/dir2/big.bin", big, BIG_SIZE);
	check_content(e, n, "./dir1/" LONG_NAME, "abc", 3);
	check_content(e, n, "./sub/tmp/keep.txt", "keep", 4);
	check_content(e, n, "./empty.bin", "", 0);
	check_content(e, n, "./to_delete.txt", "del", 3);
	check_content(e, n, "./to_replace.txt", "old", 3);
	CHECK(find(e, n, "./new.txt") == NULL);
	CHECK(find(e, n, "./tmp/") == NULL);
	CHECK(find(e, n, "./lost+found/") == NULL);
	CHECK(find(e, n, "./sub/lost+found/") == NULL);
	CHECK(find(e, n, "./fifo") == NULL);
	x = find(e, n, "./link");
	CHECK(x != NULL && x->link != NULL &&
	      strcmp(x->link, "dir1/mid.bin") == 0);
	x = find(e, n, "./a.txt");
	CHECK(x != NULL && x->mtime == A_MTIME && x->mode == 0100640 &&
	      x->uid == (int64_t)geteuid());
	CHECK(x != NULL && pw != NULL && x->uname != NULL &&
	      strcmp(x->uname, pw->pw_name) == 0);
	x = find(e, n, "./dir1/");
	CHECK(x != NULL && x->mode == 040750);
	free_ents(e, n);
}

/* GNU tar, quietly: exit 0 and nothing on stderr (GitLab's restore shows
 * tar's warnings to the administrator). Returns the exit status, or 99 if
 * tar wrote to stderr. */
static int run_tar(const char *a1, const char *a2, const char *a3,
                   const char *a4)
{
	const char *tar =
	    access("/usr/bin/tar", X_OK) == 0 ? "/usr/bin/tar" : "/bin/tar";
	char *argv[] = {"tar",      (char *)a1, (char *)a2,
	                (char *)a3, (char *)a4, NULL};
	const char *errpath = bp("tar.stderr");
	struct stat st;
	int status = -1, fd, efd;
	pid_t pid = fork();

	if (pid == 0) {
		fd = open("/dev/null", O_WRONLY);
		efd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || efd < 0)
			_exit(126);
		dup2(fd, 1);
		dup2(efd, 2);
		execv(tar, argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return -1;
	if (stat(errpath, &st) == 0 && st.st_size > 0)
		return 99;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int magic(const char *path, const unsigned char *m, size_t n)
{
	unsigned char buf[8] = {0};
	FILE *f = fopen(path, "rb");
	size_t got = f ? fread(buf, 1, n, f) : 0;

	if (f)
		fclose(f);
	return got == n && memcmp(buf, m, n) == 0;
}

/* No temporary artifact left in dir. */
static int leftovers(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d)) != NULL)
		if (strstr(de->d_name, ".tmp-") != NULL)
			n++;
	if (d)
		closedir(d);
	return n;
}

struct prog {
	int calls;
	uint64_t bytes, done, total;
	char comp[32];
};

static void progress_cb(void *arg, const char *component, uint64_t bytes,
                        uint64_t done, uint64_t total)
{
	struct prog *p = arg;

	p->calls++;
	p->bytes = bytes;
	p->done = done;
	p->total = total;
	ls_strlcpy(p->comp, component, sizeof(p->comp));
}

static void test_table(void)
{
	size_t n = 0;
	const struct backup_component *c = backup_components(&n);
	struct agent_config cfg;

	CHECK_EQ_INT(n, 9);
	CHECK_STR(c[0].name, "uploads");
	CHECK_STR(c[8].name, "ci_secure_files");
	CHECK_STR(backup_component_find("pages")->excludes[0], "@pages.tmp");
	CHECK_STR(backup_component_find("uploads")->excludes[0], "tmp");
	CHECK(backup_component_find("lfs")->excludes[0] == NULL);
	CHECK(backup_component_find("db") == NULL);
	memset(&cfg, 0, sizeof(cfg));
	cfg.backup.lfs = "/x/lfs";
	CHECK_STR(backup_component_dir(&cfg, "lfs"), "/x/lfs");
	CHECK(backup_component_dir(&cfg, "nope") == NULL);
}

static void test_cut_and_copy(void)
{
	struct backup_files_cut cut;
	struct backup_artifacts arts = {0};
	struct prog prog = {0};
	struct stat st, st2;
	struct rlimit rl, small;
	char err[512], *listing = NULL, *zlisting = NULL;
	uint8_t sha[32];
	uint64_t size = 0;
	int rv;
	static const unsigned char gz[] = {0x1f, 0x8b};
	static const unsigned char zs[] = {0x28, 0xb5, 0x2f, 0xfd};

	build_tree();
	rv = backup_files_cut("uploads", bp("src"), bp("snap/uploads"), &cut,
	                      err, sizeof(err));
	CHECK_EQ_INT(rv, 0);
	CHECK_EQ_INT(cut.present, 1);
	CHECK_EQ_INT(cut.files, 12);
	CHECK_EQ_INT(cut.dirs, 6);
	CHECK_EQ_INT(cut.bytes,
	             5 + 6 + BIG_SIZE + 4 + 3 + MID_SIZE + 5 + 4 + 3 + 3);
	CHECK_EQ_INT(cut.copied_fallback, 0);
	/* Hard links, not copies. */
	CHECK_EQ_INT(stat(bp("src/dir1/dir2/big.bin"), &st), 0);
	CHECK_EQ_INT(stat(bp("snap/uploads/dir1/dir2/big.bin"), &st2), 0);
	CHECK_EQ_INT(st.st_ino, st2.st_ino);
	CHECK(lstat(bp("snap/uploads/tmp"), &st) < 0);
	CHECK_EQ_INT(lstat(bp("snap/uploads/sub/tmp/keep.txt"), &st), 0);

	/* Copy time: GitLab takes writes again. */
	put("src/new.txt", "new", 3, 0644);
	CHECK_EQ_INT(unlink(bp("src/to_delete.txt")), 0);
	put("src/.to_replace.new", "NEW!", 4, 0644);
	CHECK_EQ_INT(
	    rename(bp("src/.to_replace.new"), bp("src/to_replace.txt")), 0);

	mkd("out", 0755);
	rv = backup_files_copy("uploads", bp("snap/uploads"),
	                       bp("out/uploads.tar.gz"), "uploads.tar.gz",
	                       BACKUP_GZIP, progress_cb, &prog, &arts, err,
	                       sizeof(err));
	CHECK_EQ_INT(rv, 0);
	if (rv < 0)
		fprintf(stderr, "copy: %s\n", err);
	CHECK(magic(bp("out/uploads.tar.gz"), gz, sizeof(gz)));
	CHECK(prog.calls >= 1);
	CHECK_STR(prog.comp, "uploads");
	CHECK_EQ_INT(prog.done, 18);
	CHECK_EQ_INT(prog.total, 18);
	CHECK_EQ_INT(prog.bytes, cut.bytes);
	CHECK_EQ_INT(backup_files_list(bp("out/uploads.tar.gz"), 1000, &listing,
	                               err, sizeof(err)),
	             0);
	CHECK_STR(listing, expected_listing);
	check_archive(bp("out/uploads.tar.gz"));

	/* The artifact: recorded, mode 0600, size and hash of the file. */
	CHECK_EQ_INT(arts.n, 1);
	if (arts.n == 1) {
		CHECK_STR(arts.items[0].component, "uploads");
		CHECK_STR(arts.items[0].path, "uploads.tar.gz");
		CHECK_EQ_INT(
		    ls_sha256_file(bp("out/uploads.tar.gz"), &size, sha), 0);
		CHECK_EQ_INT(arts.items[0].size, size);
		CHECK(memcmp(arts.items[0].sha256, sha, 32) == 0);
	}
	CHECK_EQ_INT(stat(bp("out/uploads.tar.gz"), &st), 0);
	CHECK_EQ_INT(st.st_mode & 0777, 0600);

	/* GNU tar reads it, and extracts the cut's bytes. */
	CHECK_EQ_INT(run_tar("-tzf", bp("out/uploads.tar.gz"), NULL, NULL), 0);
	mkd("x", 0755);
	CHECK_EQ_INT(run_tar("-xzf", bp("out/uploads.tar.gz"), "-C", bp("x")),
	             0);
	{
		char *data = NULL;
		size_t len = 0;
		char lnk[64] = {0};
		CHECK_EQ_INT(ls_read_file(bp("x/dir1/dir2/big.bin"),
		                          BIG_SIZE + 1, &data, &len),
		             0);
		CHECK(len == BIG_SIZE && data && !memcmp(data, big, BIG_SIZE));
		free(data);
		CHECK(readlink(bp("x/link"), lnk, sizeof(lnk) - 1) > 0);
		CHECK_STR(lnk, "dir1/mid.bin");
		CHECK(lstat(bp("x/to_delete.txt"), &st) == 0);
	}

	/* zstd: same entries, zstd magic. */
	rv = backup_files_copy(
	    "uploads", bp("snap/uploads"), bp("out/uploads_zstd.tar.gz"),
	    "uploads.tar.gz", BACKUP_ZSTD, NULL, NULL, &arts, err, sizeof(err));
	CHECK_EQ_INT(rv, 0);
	CHECK(magic(bp("out/uploads_zstd.tar.gz"), zs, sizeof(zs)));
	CHECK_EQ_INT(backup_files_list(bp("out/uploads_zstd.tar.gz"), 1000,
	                               &zlisting, err, sizeof(err)),
	             0);
	CHECK_STR(zlisting, expected_listing);
	check_archive(bp("out/uploads_zstd.tar.gz"));
	CHECK_EQ_INT(arts.n, 2);

	/* Failures leave nothing behind and say why. */
	put("out/afile", "f", 1, 0644);
	rv = backup_files_copy("uploads", bp("snap/uploads"),
	                       bp("out/afile/uploads.tar.gz"), "x", BACKUP_GZIP,
	                       NULL, NULL, &arts, err, sizeof(err));
	CHECK(rv < 0);
	CHECK_CONTAINS(err, "creating");
	rv = backup_files_copy(
	    "uploads", bp("snap/nothere"), bp("out/none.tar.gz"), "none.tar.gz",
	    BACKUP_GZIP, NULL, NULL, &arts, err, sizeof(err));
	CHECK(rv < 0);
	CHECK_CONTAINS(err, "opening snapshot");
	CHECK(lstat(bp("out/none.tar.gz"), &st) < 0);
	/* A write failing midway (file size limit: EFBIG). */
	getrlimit(RLIMIT_FSIZE, &rl);
	small = rl;
	small.rlim_cur = 512 * 1024;
	signal(SIGXFSZ, SIG_IGN);
	CHECK_EQ_INT(setrlimit(RLIMIT_FSIZE, &small), 0);
	rv = backup_files_copy("uploads", bp("snap/uploads"),
	                       bp("out/big.tar.gz"), "big.tar.gz", BACKUP_GZIP,
	                       NULL, NULL, &arts, err, sizeof(err));
	setrlimit(RLIMIT_FSIZE, &rl);
	CHECK(rv < 0);
	CHECK_CONTAINS(err, "File too large");
	CHECK(lstat(bp("out/big.tar.gz"), &st) < 0);
	CHECK_EQ_INT(leftovers(bp("out")), 0);
	CHECK_EQ_INT(arts.n, 2);
	rv = backup_files_copy("db", bp("snap/uploads"), bp("out/db.tar.gz"),
	                       "db.tar.gz", BACKUP_GZIP, NULL, NULL, &arts, err,
	                       sizeof(err));
	CHECK_EQ_INT(rv, LS_EINVAL);

	/* The cut refuses an existing snapshot dir and leaves it alone. */
	rv = backup_files_cut("uploads", bp("src"), bp("snap/uploads"), &cut,
	                      err, sizeof(err));
	CHECK_EQ_INT(rv, LS_EEXIST);
	CHECK_CONTAINS(err, "creating snapshot");
	CHECK_EQ_INT(lstat(bp("snap/uploads/a.txt"), &st), 0);
	rv = backup_files_cut("nope", bp("src"), bp("snap/nope"), &cut, err,
	                      sizeof(err));
	CHECK_EQ_INT(rv, LS_EINVAL);

	free(listing);
	free(zlisting);
	backup_artifacts_free(&arts);
}

static void test_absent_and_pages(void)
{
	struct backup_files_cut cut;
	struct backup_artifacts arts = {0};
	struct stat st;
	char err[512], *listing = NULL;
	int rv;

	rv = backup_files_cut("lfs", bp("no-such-dir"), bp("snap/lfs"), &cut,
	                      err, sizeof(err));
	CHECK_EQ_INT(rv, 0);
	CHECK_EQ_INT(cut.present, 0);
	CHECK(lstat(bp("snap/lfs"), &st) < 0);

	/* pages excludes @pages.tmp, not tmp; names are escaped in lists. */
	mkd("pages", 0755);
	mkd("pages/@pages.tmp", 0755);
	put("pages/@pages.tmp/p", "p", 1, 0644);
	mkd("pages/tmp", 0755);
	put("pages/tmp/t", "t", 1, 0644);
	put("pages/we\tird", "w", 1, 0644);
	rv = backup_files_cut("pages", bp("pages"), bp("snap/pages"), &cut, err,
	                      sizeof(err));
	CHECK_EQ_INT(rv, 0);
	CHECK_EQ_INT(cut.files, 2);
	rv = backup_files_copy(
	    "pages", bp("snap/pages"), bp("out/pages.tar.gz"), "pages.tar.gz",
	    BACKUP_GZIP, NULL, NULL, &arts, err, sizeof(err));
	CHECK_EQ_INT(rv, 0);
	CHECK_EQ_INT(backup_files_list(bp("out/pages.tar.gz"), 100, &listing,
	                               err, sizeof(err)),
	             0);
	CHECK_STR(listing, "./\t0\t040755\n"
	                   "./tmp/\t0\t040755\n"
	                   "./tmp/t\t1\t100644\n"
	                   "./we\\tird\t1\t100644\n");
	free(listing);
	backup_artifacts_free(&arts);
}

/* /dev/shm is another filesystem here: link(2) fails with EXDEV. */
static void test_exdev(void)
{
	struct backup_files_cut cut;
	struct backup_artifacts arts = {0};
	struct stat a, b;
	char snap[300], path[400], err[512], *listing = NULL, *data = NULL;
	size_t len = 0;
	int rv;

	if (stat("/dev/shm", &a) < 0 || stat(base, &b) < 0 ||
	    a.st_dev == b.st_dev) {
		printf("EXDEV fallback not exercised: /dev/shm is on the same "
		       "filesystem\n");
		return;
	}
	ls_strlcpy(shm, "/dev/shm/test_backup_files.XXXXXX", sizeof(shm));
	CHECK(mkdtemp(shm) != NULL);
	snprintf(snap, sizeof(snap), "%s/snap", shm);
	rv = backup_files_cut("uploads", bp("src"), snap, &cut, err,
	                      sizeof(err));
	CHECK_EQ_INT(rv, 0);
	CHECK_EQ_INT(cut.copied_fallback, 1);
	CHECK_EQ_INT(cut.files, 12);
	snprintf(path, sizeof(path), "%s/a.txt", snap);
	CHECK_EQ_INT(stat(path, &a), 0);
	CHECK_EQ_INT(a.st_nlink, 1);
	CHECK_EQ_INT(a.st_mode & 07777, 0640);
	CHECK_EQ_INT(a.st_mtim.tv_sec, A_MTIME);
	snprintf(path, sizeof(path), "%s/dir1/dir2/big.bin", snap);
	CHECK_EQ_INT(ls_read_file(path, BIG_SIZE + 1, &data, &len), 0);
	CHECK(len == BIG_SIZE && data && !memcmp(data, big, BIG_SIZE));
	free(data);
	rv = backup_files_copy("uploads", snap, bp("out/shm.tar.gz"),
	                       "shm.tar.gz", BACKUP_GZIP, NULL, NULL, &arts,
	                       err, sizeof(err));
	CHECK_EQ_INT(rv, 0);
	CHECK_EQ_INT(backup_files_list(bp("out/shm.tar.gz"), 100, &listing, err,
	                               sizeof(err)),
	             0);
	CHECK_CONTAINS(listing, "./new.txt\t3\t100644\n");
	CHECK_CONTAINS(listing, "./to_replace.txt\t4\t100644\n");
	CHECK(listing && strstr(listing, "./to_delete.txt") == NULL);
	free(listing);
	backup_artifacts_free(&arts);
}

static void truncated(const char *src, const char *dst, size_t keep)
{
	char *data = NULL, err[512], *listing = (char *)"x";
	size_t len = 0;
	int rv;

	CHECK_EQ_INT(ls_read_file(bp(src), 64 << 20, &data, &len), 0);
	if (data == NULL)
		return;
	put(dst, data, keep < len ? keep : len, 0600);
	rv = backup_files_list(bp(dst), 1000, &listing, err, sizeof(err));
	CHECK(rv < 0);
	CHECK(listing == NULL);
	CHECK(err[0] != '\0');
	free(data);
}

static void test_list_damaged(void)
{
	struct stat st;
	char err[512], *listing = NULL;

	CHECK_EQ_INT(stat(bp("out/uploads.tar.gz"), &st), 0);
	truncated("out/uploads.tar.gz", "out/t1.tar.gz",
	          (size_t)st.st_size / 2);
	truncated("out/uploads.tar.gz", "out/t2.tar.gz", 100);
	truncated("out/uploads.tar.gz", "out/t3.tar.gz", 0);
	CHECK_EQ_INT(stat(bp("out/uploads_zstd.tar.gz"), &st), 0);
	truncated("out/uploads_zstd.tar.gz", "out/t4.tar.gz",
	          (size_t)st.st_size / 2);
	truncated("out/uploads_zstd.tar.gz", "out/t5.tar.gz",
	          (size_t)st.st_size - 3);
	put("out/garbage", "this is not an archive at all", 29, 0600);
	CHECK(backup_files_list(bp("out/garbage"), 1000, &listing, err,
	                        sizeof(err)) < 0);
	CHECK(listing == NULL);
	CHECK_EQ_INT(backup_files_list(bp("out/uploads.tar.gz"), 3, &listing,
	                               err, sizeof(err)),
	             LS_ETOOBIG);
	CHECK_CONTAINS(err, "more than 3 entries");
	CHECK(listing == NULL);
	CHECK(backup_files_list(bp("out/missing.tar.gz"), 3, &listing, err,
	                        sizeof(err)) < 0);
}

int main(void)
{
	umask(022);
	ls_strlcpy(base, "/tmp/test_backup_files.XXXXXX", sizeof(base));
	if (mkdtemp(base) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	big = tu_random_bytes(BIG_SIZE, 0x12345678u);
	mid = tu_random_bytes(MID_SIZE, 0x9abcdefu);
	CHECK(big != NULL && mid != NULL);
	if (big != NULL && mid != NULL) {
		test_table();
		test_cut_and_copy();
		test_absent_and_pages();
		test_exdev();
		test_list_damaged();
	}
	ls_rmtree(base);
	if (shm[0])
		ls_rmtree(shm);
	free(big);
	free(mid);
	return tu_done();
}
