/*
 * The export tar against GNU tar's own listing: the top-level order of
 * lib/backup/manager.rb#backup_contents, names without "./", directory
 * entries, owner git/git and the modes GitLab's archive carries.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backup_export.h"
#include "ls_error.h"
#include "ls_util.h"
#include "testutil.h"

#ifndef LS_TAR_PATH
#define LS_TAR_PATH "/usr/bin/tar"
#endif

#define ID "1740143717_2025_02_21_17.8.2-ee"
/* @hashed path of project 1: sha256("1"). */
#define HASH "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b"
#define REPO "default/@hashed/6b/86/" HASH ".git"

static char base[64];

static void put(const char *rel, const char *data, mode_t mode)
{
	char path[512], dir[512], *slash;

	snprintf(path, sizeof(path), "%s/backup/%s", base, rel);
	ls_strlcpy(dir, path, sizeof(dir));
	slash = strrchr(dir, '/');
	*slash = '\0';
	CHECK_EQ_INT(ls_mkdirs(dir, 0755), 0);
	CHECK_EQ_INT(ls_write_atomic(path, data, strlen(data), mode), 0);
}

static void make_backup(void)
{
	/* Modes on disk deliberately unlike GitLab's: the export sets them. */
	put("backup_information.yml", ":db_version: '20250101120000'\n", 0600);
	put("db/database.sql.gz", "pretend gzip", 0644);
	put("repositories/" REPO "/" ID "/001.bundle", "bundle", 0600);
	put("repositories/" REPO "/" ID "/001.refs", "refs", 0600);
	put("repositories/manifests/" REPO "/" ID ".toml", "toml", 0600);
	put("repositories/manifests/" REPO "/+latest.toml", "toml", 0600);
	put("uploads.tar.gz", "u", 0644);
	put("artifacts.tar.gz", "a", 0644);
	put("lfs.tar.gz", "l", 0644);
	put("lockstep/manifest.json", "{}", 0600);
	put("backup_information.json", "{}", 0600);
	put("lost+found/junk", "x", 0600);
	put("repositories/lost+found/junk", "x", 0600);
}

/* Runs GNU tar with argv, its stdout into out; returns its exit status. */
static int run_tar(char *const argv[], char *out, size_t outlen)
{
	int fds[2], status = -1;
	size_t got = 0;
	pid_t pid;

	if (pipe(fds) < 0)
		return -1;
	if ((pid = fork()) == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		execv(LS_TAR_PATH, argv);
		_exit(127);
	}
	close(fds[1]);
	for (;;) {
		ssize_t n = read(fds[0], out + got, outlen - 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got == outlen - 1)
			break;
	}
	out[got] = '\0';
	close(fds[0]);
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Runs GNU tar with argv, its stdout into the file path. */
static int run_tar_to(char *const argv[], const char *path)
{
	int fd, status = -1;
	pid_t pid;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) <
	    0)
		return -1;
	if ((pid = fork()) == 0) {
		dup2(fd, STDOUT_FILENO);
		execv(LS_TAR_PATH, argv);
		_exit(127);
	}
	close(fd);
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

struct want {
	const char *mode, *name;
};

/* Compares `tar -tvf` lines ("MODE OWNER SIZE DATE TIME NAME"). */
static void check_listing(const char *tarfile, const struct want *w, size_t n)
{
	char *argv[] = {"tar", "-tvf", (char *)tarfile, NULL};
	static char out[65536];
	char *save = NULL, *line;
	size_t i = 0;

	CHECK_EQ_INT(run_tar(argv, out, sizeof(out)), 0);
	for (line = strtok_r(out, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save), i++) {
		char mode[16], owner[64], size[32], date[16], tm[16], name[512];

		CHECK_EQ_INT(sscanf(line, "%15s %63s %31s %15s %15s %511s",
		                    mode, owner, size, date, tm, name),
		             6);
		if (i >= n) {
			fprintf(stderr, "unexpected entry: %s\n", line);
			CHECK(i < n);
			continue;
		}
		CHECK_STR(name, w[i].name);
		CHECK_STR(mode, w[i].mode);
		CHECK_STR(owner, "git/git");
	}
	CHECK_EQ_INT(i, n);
}

static const struct want gitlab_entries[] = {
    {"-rw-r--r--", "backup_information.yml"},
    {"drwxr-xr-x", "db/"},
    {"-rw-------", "db/database.sql.gz"},
    {"drwx------", "repositories/"},
    {"drwx------", "repositories/default/"},
    {"drwx------", "repositories/default/@hashed/"},
    {"drwx------", "repositories/default/@hashed/6b/"},
    {"drwx------", "repositories/default/@hashed/6b/86/"},
    {"drwx------", "repositories/" REPO "/"},
    {"drwx------", "repositories/" REPO "/" ID "/"},
    {"-rw-r--r--", "repositories/" REPO "/" ID "/001.bundle"},
    {"-rw-r--r--", "repositories/" REPO "/" ID "/001.refs"},
    {"drwx------", "repositories/manifests/"},
    {"drwx------", "repositories/manifests/default/"},
    {"drwx------", "repositories/manifests/default/@hashed/"},
    {"drwx------", "repositories/manifests/default/@hashed/6b/"},
    {"drwx------", "repositories/manifests/default/@hashed/6b/86/"},
    {"drwx------", "repositories/manifests/" REPO "/"},
    {"-rw-r--r--", "repositories/manifests/" REPO "/+latest.toml"},
    {"-rw-r--r--", "repositories/manifests/" REPO "/" ID ".toml"},
    {"-rw-------", "uploads.tar.gz"},
    {"-rw-------", "artifacts.tar.gz"},
    {"-rw-------", "lfs.tar.gz"},
    /* with include_extra only: */
    {"-rw-------", "backup_information.json"},
    {"drwxr-xr-x", "lockstep/"}, /* extras keep their own mode */
    {"-rw-------", "lockstep/manifest.json"},
};
#define N_GITLAB 23
#define N_ALL (sizeof(gitlab_entries) / sizeof(gitlab_entries[0]))

/* Number of directory entries in dir, -1 when it cannot be read. */
static int count_entries(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void test_export(void)
{
	char dir[512], tarfile[512], err[512];
	char *argv[] = {"tar", "-xOf", tarfile, "db/database.sql.gz", NULL};
	static char out[4096];
	struct stat st;

	snprintf(dir, sizeof(dir), "%s/backup", base);
	snprintf(tarfile, sizeof(tarfile), "%s/out/%s_gitlab_backup.tar", base,
	         ID);

	CHECK_EQ_INT(backup_export_tar(dir, tarfile, 0, err, sizeof(err)), 0);
	CHECK_STR(err, "");
	CHECK(stat(tarfile, &st) == 0);
	CHECK_EQ_INT(st.st_mode & 07777, 0600);
	/* GNU tar's 10240-byte records; uncompressed (ustar magic). */
	CHECK_EQ_INT(st.st_size % 10240, 0);
	check_listing(tarfile, gitlab_entries, N_GITLAB);
	CHECK_EQ_INT(run_tar(argv, out, sizeof(out)), 0);
	CHECK_STR(out, "pretend gzip");

	/* Lockstep's own files only when asked; lost+found never. */
	CHECK_EQ_INT(backup_export_tar(dir, tarfile, 1, err, sizeof(err)), 0);
	check_listing(tarfile, gitlab_entries, N_ALL);

	/* An export written into the backup itself does not swallow its
	 * temporary or an older export. */
	snprintf(tarfile, sizeof(tarfile), "%s/backup/%s_gitlab_backup.tar",
	         base, ID);
	CHECK_EQ_INT(backup_export_tar(dir, tarfile, 1, err, sizeof(err)), 0);
	CHECK_EQ_INT(backup_export_tar(dir, tarfile, 1, err, sizeof(err)), 0);
	check_listing(tarfile, gitlab_entries, N_ALL);
	CHECK_EQ_INT(unlink(tarfile), 0);
}

/*
 * With GitLab's modes already on disk, the export is the very archive
 * GNU tar makes of the same tree (GitLab's pack command, plus --sort=name
 * for our order and the git owner), byte for byte: headers, ././@LongLink
 * records for names over 100 bytes, padding and the end of archive.
 */
static void test_same_bytes_as_gnu_tar(void)
{
	char dir[256], cflag[300], ours[512], theirs[512], err[512];
	char *argv[] = {"tar",
	                "--sort=name",
	                "--owner=git:998",
	                "--group=git:998",
	                "--exclude=lost+found",
	                cflag,
	                "-cf",
	                "-",
	                "backup_information.yml",
	                "db",
	                "repositories",
	                "uploads.tar.gz",
	                "artifacts.tar.gz",
	                "lfs.tar.gz",
	                NULL};
	char *ours_data = NULL, *theirs_data = NULL;
	size_t ours_len = 0, theirs_len = 0;
	static const char *const files0644[] = {
	    "backup_information.yml",
	    "repositories/" REPO "/" ID "/001.bundle",
	    "repositories/" REPO "/" ID "/001.refs",
	    "repositories/manifests/" REPO "/" ID ".toml",
	    "repositories/manifests/" REPO "/+latest.toml",
	};
	static const char *const dirs0700[] = {
	    "repositories",
	    "repositories/default",
	    "repositories/default/@hashed",
	    "repositories/default/@hashed/6b",
	    "repositories/default/@hashed/6b/86",
	    "repositories/" REPO,
	    "repositories/" REPO "/" ID,
	    "repositories/manifests",
	    "repositories/manifests/default",
	    "repositories/manifests/default/@hashed",
	    "repositories/manifests/default/@hashed/6b",
	    "repositories/manifests/default/@hashed/6b/86",
	    "repositories/manifests/" REPO,
	};
	char path[512];

	snprintf(dir, sizeof(dir), "%s/backup", base);
	for (size_t i = 0; i < sizeof(files0644) / sizeof(files0644[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files0644[i]);
		CHECK_EQ_INT(chmod(path, 0644), 0);
	}
	for (size_t i = 0; i < sizeof(dirs0700) / sizeof(dirs0700[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, dirs0700[i]);
		CHECK_EQ_INT(chmod(path, 0700), 0);
	}
	snprintf(path, sizeof(path), "%s/db", dir);
	CHECK_EQ_INT(chmod(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/db/database.sql.gz", dir);
	CHECK_EQ_INT(chmod(path, 0600), 0);
	snprintf(path, sizeof(path), "%s/uploads.tar.gz", dir);
	CHECK_EQ_INT(chmod(path, 0600), 0);
	snprintf(path, sizeof(path), "%s/artifacts.tar.gz", dir);
	CHECK_EQ_INT(chmod(path, 0600), 0);
	snprintf(path, sizeof(path), "%s/lfs.tar.gz", dir);
	CHECK_EQ_INT(chmod(path, 0600), 0);

	snprintf(cflag, sizeof(cflag), "--directory=%s", dir);
	snprintf(ours, sizeof(ours), "%s/ours.tar", base);
	snprintf(theirs, sizeof(theirs), "%s/theirs.tar", base);
	CHECK_EQ_INT(backup_export_tar(dir, ours, 0, err, sizeof(err)), 0);
	CHECK_EQ_INT(run_tar_to(argv, theirs), 0);
	CHECK_EQ_INT(ls_read_file(ours, 1 << 22, &ours_data, &ours_len), 0);
	CHECK_EQ_INT(ls_read_file(theirs, 1 << 22, &theirs_data, &theirs_len),
	             0);
	CHECK_EQ_INT(ours_len, theirs_len);
	CHECK(ours_data && theirs_data && ours_len == theirs_len &&
	      memcmp(ours_data, theirs_data, ours_len) == 0);
	free(ours_data);
	free(theirs_data);
}

static void test_failures(void)
{
	char dir[256], outdir[256], tarfile[512], fifo[512], err[512];

	/* A missing backup directory: an error and no file at all. */
	snprintf(dir, sizeof(dir), "%s/missing", base);
	snprintf(outdir, sizeof(outdir), "%s/fail", base);
	snprintf(tarfile, sizeof(tarfile), "%s/x_gitlab_backup.tar", outdir);
	CHECK_EQ_INT(backup_export_tar(dir, tarfile, 0, err, sizeof(err)),
	             LS_ENOENT);
	CHECK_CONTAINS(err, "backup directory");
	CHECK(access(tarfile, F_OK) != 0);
	CHECK(access(outdir, F_OK) != 0);

	/* A directory that is not a GitLab backup. */
	snprintf(dir, sizeof(dir), "%s/notabackup", base);
	CHECK_EQ_INT(ls_mkdirs(dir, 0700), 0);
	CHECK_EQ_INT(backup_export_tar(dir, tarfile, 0, err, sizeof(err)),
	             LS_ENOENT);
	CHECK_CONTAINS(err, "backup_information.yml");
	CHECK(access(tarfile, F_OK) != 0);

	/* Something tar would not archive as a plain file: the half-written
	 * archive goes away with its temporary. */
	snprintf(dir, sizeof(dir), "%s/backup", base);
	snprintf(fifo, sizeof(fifo), "%s/backup/db/pipe", base);
	CHECK_EQ_INT(mkfifo(fifo, 0600), 0);
	CHECK_EQ_INT(backup_export_tar(dir, tarfile, 0, err, sizeof(err)),
	             LS_EINVAL);
	CHECK_CONTAINS(err, "db/pipe");
	CHECK(access(tarfile, F_OK) != 0);
	CHECK_EQ_INT(count_entries(outdir), 0);
	CHECK_EQ_INT(unlink(fifo), 0);

	CHECK_EQ_INT(backup_export_tar(NULL, tarfile, 0, err, sizeof(err)),
	             LS_EINVAL);
}

int main(void)
{
	ls_strlcpy(base, "/tmp/ls-backup-export-XXXXXX", sizeof(base));
	if (mkdtemp(base) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	make_backup();
	if (access(LS_TAR_PATH, X_OK) != 0) {
		fprintf(stderr, "GNU tar not found at %s\n", LS_TAR_PATH);
		CHECK(0);
	} else {
		test_export();
		test_same_bytes_as_gnu_tar();
	}
	test_failures();
	ls_rmtree(base);
	return tu_done();
}
