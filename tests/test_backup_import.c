/*
 * lockstep backup import (backup_import.c) on backups assembled here with
 * GNU tar and gzip as GitLab's own tools lay them out, not with
 * Lockstep's writer: a Rake tar (plain and `./`-prefixed, Rake's and the
 * Helm toolbox's backup_information.yml), a gitlab-backup-cli directory,
 * and refusals (hostile entries, a version that disagrees with the id, a
 * truncated tar) that must leave nothing in the store.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "backup_import.h"
#include "coord_catalog.h"
#include "coord_db.h"
#include "ls_afile.h"
#include "ls_error.h"
#include "ls_exec.h"
#include "ls_util.h"
#include "testutil.h"

#define ID "1740143717_2025_02_21_17.8.2-ee"
#define TAR "/usr/bin/tar"
#define GZIP "/usr/bin/gzip"

static char top[] = "/tmp/test_backup_import.XXXXXX";
static char store[256], dbpath[256];
static uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
static sqlite3 *db;

static const char rake_yml[] =
    ":db_version: '20250115083001'\n"
    ":backup_created_at: !ruby/object:ActiveSupport::TimeWithZone\n"
    "  utc: 2025-02-21 13:15:17.123456789 Z\n"
    "  zone: !ruby/object:ActiveSupport::TimeZone\n"
    "    name: Etc/UTC\n"
    "  time: 2025-02-21 13:15:17.123456789 Z\n"
    ":gitlab_version: 17.8.2-ee\n"
    ":tar_version: tar (GNU tar) 1.34\n"
    ":installation_type: omnibus-gitlab\n"
    ":skipped: builds,pages\n"
    ":repositories_storages: ''\n"
    ":repositories_paths: ''\n"
    ":skip_repositories_paths: ''\n"
    ":repositories_server_side: false\n"
    ":backup_id: " ID "\n"
    ":full_backup_id:\n";

/* The Helm toolbox's hand-written six keys. */
static const char helm_yml[] = ":db_version: 20250115083001\n"
                               ":backup_created_at: 2025-02-21 13:15:17 "
                               "+0000\n"
                               ":gitlab_version: 17.8.2-ee\n"
                               ":tar_version: tar (GNU tar) 1.34\n"
                               ":installation_type: gitlab-helm-chart\n"
                               ":skipped: registry\n";

static int run(const char *cwd, ...)
{
	const char *argv[32];
	struct ls_exec_opts o;
	struct ls_exec_result r;
	va_list ap;
	int n = 0, rv;

	va_start(ap, cwd);
	while (n < 31 && (argv[n] = va_arg(ap, const char *)) != NULL)
		n++;
	va_end(ap);
	argv[n] = NULL;
	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.cwd = cwd;
	o.max_stdout = 1 << 20;
	o.max_stderr = 4096;
	o.timeout_ms = 60000;
	rv = ls_exec_run(&o, &r);
	if (rv == 0 && (!r.exited || r.status != 0)) {
		fprintf(stderr, "%s failed: %s\n", argv[0], r.err);
		rv = LS_ECHILD;
	}
	ls_exec_result_free(&r);
	return rv;
}

static void put(const char *dir, const char *rel, const void *data, size_t len)
{
	char path[1024], *slash;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	slash = strrchr(path, '/');
	*slash = '\0';
	CHECK_EQ_INT(ls_mkdirs(path, 0755), 0);
	*slash = '/';
	CHECK_EQ_INT(ls_write_atomic(path, data, len, 0644), 0);
}

static void puts_file(const char *dir, const char *rel, const char *text)
{
	put(dir, rel, text, strlen(text));
}

/*
 * GitLab's layout in dir: the metadata, a gzip'd dump, one repository
 * in gitaly-backup's manifest layout, uploads.tar.gz made as GitLab makes
 * it (tar -C DIR . | gzip), and a stray file.
 */
static void make_layout(const char *dir, const char *yml)
{
	char path[1024], up[1024];
	unsigned char *big = tu_random_bytes(200000, 7);
	const char *rel = "@hashed/6b/86/6b86b273ff34fce19d6b804eff5a3f57"
	                  "47ada4eaa22f1d49c01e52ddb7875b4b.git";

	if (yml != NULL)
		puts_file(dir, "backup_information.yml", yml);
	puts_file(dir, "db/database.sql",
	          "DROP TABLE IF EXISTS projects;\nCREATE TABLE projects "
	          "(id int);\n");
	snprintf(path, sizeof(path), "%s/db/database.sql", dir);
	CHECK_EQ_INT(run(NULL, GZIP, "-n", "-1", path, NULL), 0);
	snprintf(path, sizeof(path),
	         "repositories/manifests/default/%s/%s.toml", rel, ID);
	puts_file(dir, path,
	          "empty = false\nnon_existent = false\nobject_format = "
	          "'sha1'\nhead_reference = 'refs/heads/main'\n\n[[steps]]\n");
	snprintf(path, sizeof(path), "repositories/default/%s/%s/001.bundle",
	         rel, ID);
	put(dir, path, "# v2 git bundle\n", 16);
	snprintf(path, sizeof(path), "repositories/default/%s/%s/001.refs", rel,
	         ID);
	puts_file(dir, path, "0123 HEAD\n0123 refs/heads/main\n");
	snprintf(up, sizeof(up), "%s/../uploads-src", dir);
	put(up, "@hashed/aa/file.bin", big, 200000);
	snprintf(path, sizeof(path), "%s/uploads.tar.gz", dir);
	CHECK_EQ_INT(run(NULL, TAR, "-C", up, "-czf", path, ".", NULL), 0);
	puts_file(dir, "notes.txt", "not GitLab's\n");
	free(big);
}

/* Nothing in the store: no staging directory, no backup. */
static void check_store_empty(const char *what)
{
	char **names = NULL;
	size_t n = 0;
	int fd = open(store, O_RDONLY | O_DIRECTORY);

	if (fd < 0)
		return; /* never created */
	CHECK_EQ_INT(ls_dir_names(fd, NULL, NULL, 1, &names, &n), 0);
	if (n != 0)
		fprintf(stderr, "%s: left %s in the store\n", what, names[0]);
	CHECK_EQ_INT(n, 0);
	ls_names_free(names, n);
	close(fd);
}

static int import(const char *src, struct backup_import *imp, char *err,
                  size_t errlen)
{
	int rv = backup_import_stage(imp, src, store, sk, NULL, err, errlen);

	if (rv == 0)
		rv = backup_import_commit(imp, db, err, errlen);
	return rv;
}

/* The manifest signed with sk, every artifact's size and sha256 right. */
static void check_manifest(const struct backup_import *imp, const char *format,
                           size_t nart)
{
	char path[LS_PATH_MAX + 64], hex[65], *man = NULL, *sig = NULL;
	size_t mlen = 0, slen = 0, i;
	uint8_t s[crypto_sign_BYTES], sha[32];
	json_t *m, *arts;

	snprintf(path, sizeof(path), "%s/lockstep/manifest.json", imp->dest);
	CHECK_EQ_INT(ls_read_file(path, 1 << 20, &man, &mlen), 0);
	snprintf(path, sizeof(path), "%s/lockstep/manifest.json.sig",
	         imp->dest);
	CHECK_EQ_INT(ls_read_file(path, 4096, &sig, &slen), 0);
	if (man == NULL || sig == NULL)
		return;
	CHECK_EQ_INT(slen, 129);
	sig[128] = '\0';
	CHECK_EQ_INT(ls_unhex(s, sizeof(s), sig), 64);
	CHECK_EQ_INT(crypto_sign_verify_detached(s, (uint8_t *)man, mlen, pk),
	             0);
	m = json_loadb(man, mlen, 0, NULL);
	CHECK(m != NULL);
	CHECK_EQ_INT(json_integer_value(json_object_get(m, "format")), 1);
	CHECK_STR(json_string_value(json_object_get(m, "backup_id")), ID);
	CHECK_STR(json_string_value(json_object_get(m, "gitlab_version")),
	          "17.8.2-ee");
	CHECK_EQ_INT(json_integer_value(json_object_get(m, "created_at")),
	             1740143717);
	CHECK_STR(json_string_value(json_object_get(m, "compression")), "gzip");
	CHECK_EQ_INT(json_array_size(json_object_get(m, "nodes")), 0);
	CHECK_EQ_INT(json_array_size(json_object_get(m, "failed_repositories")),
	             0);
	CHECK_STR(json_string_value(json_object_get(
	              json_object_get(m, "imported"), "format")),
	          format);
	CHECK_STR(json_string_value(json_object_get(
	              json_object_get(m, "imported"), "source")),
	          imp->src);
	arts = json_object_get(m, "artifacts");
	CHECK_EQ_INT(json_array_size(arts), nart);
	for (i = 0; i < json_array_size(arts); i++) {
		json_t *a = json_array_get(arts, i);
		const char *rel = json_string_value(json_object_get(a, "path"));
		const char *comp =
		    json_string_value(json_object_get(a, "component"));
		uint64_t size = 0;

		snprintf(path, sizeof(path), "%s/%s", imp->dest, rel);
		CHECK_EQ_INT(ls_sha256_file(path, &size, sha), 0);
		ls_hex(hex, sha, 32);
		CHECK_STR(json_string_value(json_object_get(a, "sha256")), hex);
		CHECK_EQ_INT(json_integer_value(json_object_get(a, "size")),
		             size);
		CHECK_STR(json_string_value(json_object_get(a, "node")), "");
		if (strncmp(rel, "db/", 3) == 0)
			CHECK_STR(comp, "db");
		else if (strncmp(rel, "repositories/", 13) == 0)
			CHECK_STR(comp, "repositories");
		else
			CHECK_STR(comp, "uploads");
	}
	json_decref(m);
	free(man);
	free(sig);
}

static void check_catalog(const struct backup_import *imp, const char *skipped)
{
	Ls__BackupInfo *b = NULL;

	CHECK_EQ_INT(coord_catalog_get(db, ID, &b), 0);
	if (b == NULL)
		return;
	CHECK_STR(b->state, "complete");
	CHECK_STR(b->gitlab_version, "17.8.2-ee");
	CHECK_STR(b->path, imp->dest);
	CHECK_STR(b->skipped, skipped);
	CHECK_EQ_INT(b->artifacts, imp->artifacts);
	CHECK_EQ_INT(b->size, imp->size);
	CHECK_EQ_INT(b->created_at, 1740143717);
	coord_catalog_info_free(b);
}

/* Removes the backup and its row: the next case imports the same id. */
static void forget(void)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", store, ID);
	CHECK_EQ_INT(ls_rmtree(path), 0);
	CHECK_EQ_INT(coord_catalog_delete(db, ID), 0);
}

static void test_rake(const char *name, const char *yml, int dot,
                      const char *skipped)
{
	struct backup_import imp;
	char src[512], tar[512], err[2048];
	int rv;

	snprintf(src, sizeof(src), "%s/%s/src", top, name);
	snprintf(tar, sizeof(tar), "%s/%s/" ID "_gitlab_backup.tar", top, name);
	make_layout(src, yml);
	/* Rake names each top-level item; the Helm toolbox packs `.`. */
	if (dot)
		CHECK_EQ_INT(run(NULL, TAR, "-C", src, "-cf", tar, ".", NULL),
		             0);
	else
		CHECK_EQ_INT(run(NULL, TAR, "-C", src, "-cf", tar,
		                 "backup_information.yml", "db", "repositories",
		                 "uploads.tar.gz", "notes.txt", NULL),
		             0);
	rv = import(tar, &imp, err, sizeof(err));
	if (rv < 0)
		fprintf(stderr, "%s: %s\n", name, err);
	CHECK_EQ_INT(rv, 0);
	CHECK_STR(imp.id, ID);
	CHECK_STR(imp.format, "rake");
	CHECK_EQ_INT(imp.artifacts, 5);
	CHECK_EQ_INT(imp.nwarnings, 1);
	if (imp.nwarnings == 1)
		CHECK_CONTAINS(imp.warnings[0], "notes.txt");
	check_manifest(&imp, "rake", 5);
	check_catalog(&imp, skipped);
	backup_import_free(&imp);

	/* Twice: refused, the first left as it was. */
	CHECK_EQ_INT(import(tar, &imp, err, sizeof(err)), LS_EEXIST);
	CHECK_CONTAINS(err, ID);
	backup_import_free(&imp);
	forget();
	check_store_empty(name);
}

static void test_backup_cli(void)
{
	struct backup_import imp;
	char src[512], err[2048], link[600];

	snprintf(src, sizeof(src), "%s/cli/" ID, top);
	make_layout(src, NULL);
	puts_file(src, "backup_information.json",
	          "{\n  \"backup_id\": \"" ID "\",\n  \"created_at\": "
	          "\"2025-02-21T13:15:17Z\",\n  \"gitlab_version\": "
	          "\"17.8.2-ee\",\n  \"metadata_version\": 2\n}");
	CHECK_EQ_INT(import(src, &imp, err, sizeof(err)), 0);
	CHECK_STR(imp.format, "backup-cli");
	CHECK_EQ_INT(imp.artifacts, 5);
	check_manifest(&imp, "backup-cli", 5);
	check_catalog(&imp, "");
	backup_import_free(&imp);
	forget();

	/* A symlink in the directory is refused, naming it. */
	snprintf(link, sizeof(link), "%s/db/evil", src);
	CHECK_EQ_INT(symlink("/etc/passwd", link), 0);
	CHECK_EQ_INT(import(src, &imp, err, sizeof(err)), LS_EPERM);
	CHECK_CONTAINS(err, "db/evil");
	CHECK_CONTAINS(err, "symlink");
	backup_import_free(&imp);
	check_store_empty("backup-cli symlink");
	unlink(link);

	/* A missing key names the file and the key. */
	puts_file(src, "backup_information.json",
	          "{\"backup_id\": \"" ID "\", \"metadata_version\": 2, "
	          "\"created_at\": \"2025-02-21T13:15:17Z\"}");
	CHECK_EQ_INT(import(src, &imp, err, sizeof(err)), LS_EINVAL);
	CHECK_CONTAINS(err, "backup_information.json");
	CHECK_CONTAINS(err, "gitlab_version");
	backup_import_free(&imp);
	check_store_empty("backup-cli missing key");
}

/* A tar whose entries follow the metadata, made in dir. */
static void refuse(const char *name, const char *tar, const char *want)
{
	struct backup_import imp;
	char err[2048];
	int rv;

	err[0] = '\0';
	rv = import(tar, &imp, err, sizeof(err));
	if (rv == 0 || strstr(err, want) == NULL)
		fprintf(stderr, "%s: %d %s\n", name, rv, err);
	CHECK(rv < 0);
	CHECK_CONTAINS(err, want);
	backup_import_free(&imp);
	check_store_empty(name);
}

static void test_hostile(void)
{
	char d[512], tar[600], out[600], path[700];
	struct stat st;

	snprintf(d, sizeof(d), "%s/hostile", top);
	snprintf(out, sizeof(out), "%s/outside", top);
	CHECK_EQ_INT(ls_mkdirs(out, 0755), 0);
	puts_file(d, "sub/backup_information.yml", rake_yml);
	puts_file(d, "x", "escaped\n");
	snprintf(tar, sizeof(tar), "%s/" ID "_gitlab_backup.tar", d);

	/* ../x, kept as such by -P. */
	snprintf(path, sizeof(path), "%s/sub", d);
	CHECK_EQ_INT(run(NULL, TAR, "-C", path, "-P", "-cf", tar,
	                 "backup_information.yml", "../x", NULL),
	             0);
	refuse("dotdot", tar, "'../x'");

	/* An absolute name. */
	snprintf(path, sizeof(path), "%s/x", d);
	CHECK_EQ_INT(run(NULL, TAR, "-P", "-cf", tar, path, NULL), 0);
	refuse("absolute", tar, "absolute path");

	/* A symlink to outside, then a file written through it. */
	puts_file(out, "pwned", "through the link\n");
	snprintf(path, sizeof(path), "%s/sub/link", d);
	CHECK_EQ_INT(symlink(out, path), 0);
	snprintf(path, sizeof(path), "%s/sub", d);
	CHECK_EQ_INT(run(NULL, TAR, "-C", path, "-cf", tar,
	                 "backup_information.yml", "link", "link/pwned", NULL),
	             0);
	snprintf(path, sizeof(path), "%s/pwned", out);
	unlink(path);
	refuse("symlink", tar, "'link' refused: symlink");
	CHECK(stat(path, &st) < 0);
	snprintf(path, sizeof(path), "%s/sub/link", d);
	unlink(path);

	/* A hard link. */
	snprintf(path, sizeof(path), "%s/sub/uploads.tar.gz", d);
	puts_file(d, "sub/uploads.tar.gz", "x");
	snprintf(out, sizeof(out), "%s/sub/builds.tar.gz", d);
	CHECK_EQ_INT(link(path, out), 0);
	snprintf(path, sizeof(path), "%s/sub", d);
	CHECK_EQ_INT(run(NULL, TAR, "-C", path, "-cf", tar,
	                 "backup_information.yml", "uploads.tar.gz",
	                 "builds.tar.gz", NULL),
	             0);
	refuse("hardlink", tar, "hard link");
}

static void test_bad_metadata(void)
{
	char d[512], tar[600], yml[sizeof(rake_yml) + 16], *p;
	struct stat st;
	int fd;

	snprintf(d, sizeof(d), "%s/badmeta", top);
	snprintf(tar, sizeof(tar), "%s/" ID "_gitlab_backup.tar", d);
	make_layout(d, NULL);

	/* The yml's version disagrees with the id's. */
	memcpy(yml, rake_yml, sizeof(rake_yml));
	p = strstr(yml, ":gitlab_version: 17.8.2-ee");
	p[strlen(":gitlab_version: 17.8.")] = '1';
	puts_file(d, "backup_information.yml", yml);
	CHECK_EQ_INT(run(d, TAR, "-cf", tar, "backup_information.yml", "db",
	                 "uploads.tar.gz", NULL),
	             0);
	refuse("version", tar, "key 'gitlab_version' is '17.8.1-ee'");

	/* No backup_created_at. */
	puts_file(d, "backup_information.yml", ":gitlab_version: 17.8.2-ee\n");
	CHECK_EQ_INT(
	    run(d, TAR, "-cf", tar, "backup_information.yml", "db", NULL), 0);
	refuse("created", tar,
	       "backup_information.yml: key "
	       "'backup_created_at' is missing");

	/* Truncated in the middle of uploads.tar.gz's data. */
	puts_file(d, "backup_information.yml", rake_yml);
	CHECK_EQ_INT(run(d, TAR, "-cf", tar, "backup_information.yml", "db",
	                 "uploads.tar.gz", NULL),
	             0);
	CHECK_EQ_INT(stat(tar, &st), 0);
	fd = open(tar, O_WRONLY);
	CHECK_EQ_INT(ftruncate(fd, st.st_size - 120000), 0);
	close(fd);
	refuse("truncated", tar, "uploads.tar.gz");

	/* Not named as GitLab names its archives. */
	refuse("name", d, "neither");
}

int main(void)
{
	if (sodium_init() < 0 || mkdtemp(top) == NULL)
		return 1;
	crypto_sign_keypair(pk, sk);
	snprintf(store, sizeof(store), "%s/store", top);
	snprintf(dbpath, sizeof(dbpath), "%s/lockstep.db", top);
	CHECK_EQ_INT(coord_db_open(dbpath, &db), 0);

	test_rake("rake", rake_yml, 0, "builds,pages");
	test_rake("helm", helm_yml, 1, "registry");
	test_backup_cli();
	test_hostile();
	test_bad_metadata();

	coord_db_close(db);
	if (tu_failures == 0)
		ls_rmtree(top);
	return tu_done();
}
