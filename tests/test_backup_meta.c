/*
 * GitLab backup metadata: ids, the prune regex, backup_information.yml and
 * backup_information.json, byte for byte.
 *
 * Expected YAML comes from GitLab's writer: lib/backup/metadata.rb
 * (Backup::Metadata#save!: BackupInformation#to_h.to_yaml less "---\n")
 * fed as lib/backup/manager.rb#build_backup_information feeds it; the
 * strings were produced once by Ruby 3.1 (Psych 4.0.4, libyaml 0.2.5,
 * ActiveSupport 6.1 with Time.zone = 'UTC') and pasted here, so the tests
 * need no Ruby.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backup_meta.h"
#include "ls_error.h"
#include "ls_util.h"
#include "testutil.h"

static const char full_yml[] =
    ":db_version: '20250101120000'\n"
    ":backup_created_at: !ruby/object:ActiveSupport::TimeWithZone\n"
    "  utc: 2025-02-21 13:15:17.000000000 Z\n"
    "  zone: !ruby/object:ActiveSupport::TimeZone\n"
    "    name: Etc/UTC\n"
    "  time: 2025-02-21 13:15:17.000000000 Z\n"
    ":gitlab_version: 17.8.2-ee\n"
    ":tar_version: tar (GNU tar) 1.34\n"
    ":installation_type: omnibus-gitlab\n"
    ":skipped: ''\n"
    ":repositories_storages: ''\n"
    ":repositories_paths: ''\n"
    ":skip_repositories_paths: ''\n"
    ":repositories_server_side: false\n"
    ":backup_id: 1740143717_2025_02_21_17.8.2-ee\n"
    ":full_backup_id:\n";

static const char incr_yml[] =
    ":db_version: '20250101120000'\n"
    ":backup_created_at: !ruby/object:ActiveSupport::TimeWithZone\n"
    "  utc: 2025-02-21 13:15:17.123456789 Z\n"
    "  zone: !ruby/object:ActiveSupport::TimeZone\n"
    "    name: Etc/UTC\n"
    "  time: 2025-02-21 13:15:17.123456789 Z\n"
    ":gitlab_version: 17.8.2-ee\n"
    ":tar_version: tar (GNU tar) 1.35\n"
    ":installation_type: gitlab-helm-chart\n"
    ":skipped: db,uploads\n"
    ":repositories_storages: default,storage2\n"
    ":repositories_paths: group-a,group-b/project-c\n"
    ":skip_repositories_paths: group-a/project-d\n"
    ":repositories_server_side: true\n"
    ":backup_id: 1740143717_2025_02_21_17.8.2-ee\n"
    ":full_backup_id: 1740000000_2025_02_19_17.8.2-ee\n";

static void test_yml(void)
{
	struct backup_meta m = {
	    .backup_id = "1740143717_2025_02_21_17.8.2-ee",
	    .created_at = 1740143717,
	    .gitlab_version = "17.8.2-ee",
	    .db_version = "20250101120000",
	    .tar_version = "tar (GNU tar) 1.34",
	    .installation_type = "omnibus-gitlab",
	    .skipped = "",
	};
	char *out = NULL;

	CHECK_EQ_INT(backup_meta_yml(&m, &out), 0);
	CHECK_STR(out, full_yml);
	free(out);

	m.created_nsec = 123456789;
	m.tar_version = "tar (GNU tar) 1.35";
	m.installation_type = "gitlab-helm-chart";
	m.skipped = "db,uploads";
	m.repositories_storages = "default,storage2";
	m.repositories_paths = "group-a,group-b/project-c";
	m.skip_repositories_paths = "group-a/project-d";
	m.repositories_server_side = 1;
	m.full_backup_id = "1740000000_2025_02_19_17.8.2-ee";
	CHECK_EQ_INT(backup_meta_yml(&m, &out), 0);
	CHECK_STR(out, incr_yml);
	free(out);

	/* Values we cannot write as GitLab would are refused. */
	m.tar_version = "tar\tx";
	CHECK_EQ_INT(backup_meta_yml(&m, &out), LS_EINVAL);
	CHECK(out == NULL);
	m.tar_version = "tar (GNU tar) 1.35";
	m.db_version = NULL;
	CHECK_EQ_INT(backup_meta_yml(&m, &out), LS_EINVAL);
	m.db_version = "20250101120000";
	m.created_nsec = 1000000000L;
	CHECK_EQ_INT(backup_meta_yml(&m, &out), LS_EINVAL);
}

/* {value, what Ruby writes for {:k => value}.to_yaml less "---\n"} */
static const struct {
	const char *value, *line;
} scalars[] = {
    {"17.8.2-ee", ":k: 17.8.2-ee\n"},
    {"", ":k: ''\n"},
    {"tar (GNU tar) 1.34", ":k: tar (GNU tar) 1.34\n"},
    {"on", ":k: 'on'\n"},
    {"yes", ":k: 'yes'\n"},
    {"No", ":k: 'No'\n"},
    {"y", ":k: \"y\"\n"},
    {"1.5", ":k: '1.5'\n"},
    {"2024-01-01", ":k: '2024-01-01'\n"},
    {"2025-02-30", ":k: 2025-02-30\n"},
    {"1:30", ":k: '1:30'\n"},
    {"089", ":k: '089'\n"},
    {"foo: bar", ":k: 'foo: bar'\n"},
    {"foo #bar", ":k: 'foo #bar'\n"},
    {"foo#bar", ":k: foo#bar\n"},
    {"abc:", ":k: 'abc:'\n"},
    {"trailing ", ":k: 'trailing '\n"},
    {"@hashed/x", ":k: \"@hashed/x\"\n"},
    {"-x", ":k: \"-x\"\n"},
    {"/abs", ":k: \"/abs\"\n"},
    {"a'b", ":k: a'b\n"},
    {"@a\"b", ":k: '@a\"b'\n"},
    {"a\"b", ":k: a\"b\n"},
    {"x\\y", ":k: x\\y\n"},
    {"@x\\y", ":k: \"@x\\\\y\"\n"},
    {"1740143717", ":k: '1740143717'\n"},
    {"1e3", ":k: 1e3\n"},
    {"0x1F", ":k: '0x1F'\n"},
    {"1_000", ":k: '1_000'\n"},
    {"1,000", ":k: '1,000'\n"},
    {".5", ":k: \".5\"\n"},
    {"+1", ":k: \"+1\"\n"},
    {"17.8", ":k: '17.8'\n"},
    {"tar", ":k: tar\n"},
    {"null", ":k: 'null'\n"},
    {"Tar", ":k: Tar\n"},
    {"TRUE", ":k: 'TRUE'\n"},
    {"x~", ":k: x~\n"},
    {"12:30:45", ":k: '12:30:45'\n"},
    {"2025-02-21 13:15:17", ":k: '2025-02-21 13:15:17'\n"},
    {"true!", ":k: true!\n"},
    {"_x", ":k: _x\n"},
    {"0o17", ":k: 0o17\n"},
    {"0b101", ":k: '0b101'\n"},
    {"tar (GNU tar) 1.34 with a very long version string that goes past the "
     "eighty column limit for sure yes",
     ":k: tar (GNU tar) 1.34 with a very long version string that goes past "
     "the eighty column\n  limit for sure yes\n"},
    {"xx word word word word word word word word word word word word word word "
     "word word word word word word end",
     ":k: xx word word word word word word word word word word word word word "
     "word word\n  word word word word word end\n"},
    {"'q' word word word word word word word word word word word word word "
     "word word word word word word word ",
     ":k: \"'q' word word word word word word word word word word word word "
     "word word word\n  word word word word word \"\n"},
    {"@d word word word word word word word word word word word word word word "
     "word word word word word word ",
     ":k: \"@d word word word word word word word word word word word word "
     "word word word\n  word word word word word \"\n"},
    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaa b c",
     ":k: "
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaa\n  b c\n"},
    {"wwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwww"
     "wwww  two spaces then more words here",
     ":k: "
     "wwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwww"
     "wwww  two\n  spaces then more words here\n"},
};

static void test_yml_scalars(void)
{
	char out[1024];

	for (size_t i = 0; i < sizeof(scalars) / sizeof(scalars[0]); i++) {
		CHECK_EQ_INT(
		    backup_yml_scalar("k", scalars[i].value, out, sizeof(out)),
		    0);
		CHECK_STR(out, scalars[i].line);
	}
	CHECK_EQ_INT(backup_yml_scalar("k", "a\nb", out, sizeof(out)),
	             LS_EINVAL);
	CHECK_EQ_INT(backup_yml_scalar("k", "caf\xc3\xa9", out, sizeof(out)),
	             LS_EINVAL);
	CHECK_EQ_INT(backup_yml_scalar("k", "<<", out, sizeof(out)), LS_EINVAL);
	CHECK_EQ_INT(backup_yml_scalar("k", "abc", out, 4), LS_ETOOBIG);
}

static void test_json(void)
{
	/* gitlab-backup-cli metadata/backup_metadata.rb: METADATA_SCHEMA
	 * order, JSON.pretty_generate, no trailing newline; the shape of
	 * the example in gitlab-org/gitlab!149441. */
	static const char expected[] =
	    "{\n"
	    "  \"metadata_version\": 2,\n"
	    "  \"backup_id\": \"1740143717_2025_02_21_17.8.2-ee\",\n"
	    "  \"created_at\": \"2025-02-21T13:15:17Z\",\n"
	    "  \"gitlab_version\": \"17.8.2-ee\"\n"
	    "}";
	struct backup_meta m = {
	    .backup_id = "1740143717_2025_02_21_17.8.2-ee",
	    .created_at = 1740143717,
	    .created_nsec = 999999999,
	    .gitlab_version = "17.8.2-ee",
	};
	char *out = NULL;

	CHECK_EQ_INT(backup_meta_json(&m, &out), 0);
	CHECK_STR(out, expected);
	free(out);
	m.gitlab_version = "17.8.2\n";
	CHECK_EQ_INT(backup_meta_json(&m, &out), LS_EINVAL);
	CHECK(out == NULL);
}

static void test_files(void)
{
	struct backup_meta m = {
	    .backup_id = "1740143717_2025_02_21_17.8.2-ee",
	    .created_at = 1740143717,
	    .gitlab_version = "17.8.2-ee",
	    .db_version = "20250101120000",
	    .tar_version = "tar (GNU tar) 1.34",
	    .installation_type = "omnibus-gitlab",
	};
	char dir[] = "/tmp/ls-backup-meta-XXXXXX", path[256];
	struct stat st;
	char *data = NULL;

	CHECK(mkdtemp(dir) != NULL);
	CHECK_EQ_INT(backup_meta_write_yml(&m, dir), 0);
	CHECK_EQ_INT(backup_meta_write_json(&m, dir), 0);
	snprintf(path, sizeof(path), "%s/backup_information.yml", dir);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0644);
	CHECK_EQ_INT(ls_read_file(path, 65536, &data, NULL), 0);
	CHECK_STR(data, full_yml);
	free(data);
	snprintf(path, sizeof(path), "%s/backup_information.json", dir);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600);
	CHECK_EQ_INT(ls_rmtree(dir), 0);
}

static void test_ids(void)
{
	static const char *const good[] = {
	    "1740143717",
	    "1740143717_2025_02_21",
	    "1740143717_2025_02_21_17.8.2",
	    "1740143717_2025_02_21_17.8.2-ee",
	    "1740143717_2025_02_21_17.8.2-rc1-ee",
	    "1740143717_2025_02_21_17.8.2.rc1",
	    "1712944480_2024_04_12_16.11.0-pre",
	    "1495527097_2017_05_23_9.3.0.pre-ee",
	    "0000000000",
	};
	static const char *const bad[] = {
	    "",
	    "174014371",
	    "17401437170",
	    "1740143717_",
	    "1740143717_2025_02_21_",
	    "1740143717_2025_2_21",
	    "1740143717_2025_02_21_17.8",
	    "1740143717_2025_02_21_17.8.2-ce",
	    "1740143717_2025_02_21_17.8.2-rc12",
	    "1740143717_2025_02_21_17.8.2-rc",
	    "1740143717_2025_02_21_17.8.2-ee-ee",
	    "1740143717_2025_02_21_17.8.2-pre-pre",
	    "1740143717_2025_02_21_17.8.2_gitlab_backup.tar",
	    "1740143717_2025_02_21_17.8.2-ee\n",
	    "x1740143717",
	    "dump",
	};
	char id[BACKUP_ID_MAX], v[BACKUP_VERSION_MAX];
	int64_t t = 0;

	CHECK_EQ_INT(backup_id_make(1740143717, "17.8.2-ee", id, sizeof(id)),
	             0);
	CHECK_STR(id, "1740143717_2025_02_21_17.8.2-ee");
	CHECK_EQ_INT(backup_id_parse(id, &t, v, sizeof(v)), 0);
	CHECK_EQ_INT(t, 1740143717);
	CHECK_STR(v, "17.8.2-ee");
	CHECK_EQ_INT(backup_id_make(1712944480, "16.11.0-pre", id, sizeof(id)),
	             0);
	CHECK_STR(id, "1712944480_2024_04_12_16.11.0-pre");
	CHECK_EQ_INT(backup_id_make(1740143717, "17.8.2/x", id, sizeof(id)),
	             LS_EINVAL);
	CHECK_EQ_INT(backup_id_make(1740143717, "", id, sizeof(id)), LS_EINVAL);
	CHECK_EQ_INT(backup_id_make(-1, "17.8.2", id, sizeof(id)), LS_EINVAL);
	CHECK_EQ_INT(backup_id_make(1740143717, "17.8.2-ee", id, 20),
	             LS_ETOOBIG);

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int rv = backup_id_parse(good[i], NULL, NULL, 0);

		if (rv != 0)
			fprintf(stderr, "rejected %s\n", good[i]);
		CHECK_EQ_INT(rv, 0);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rv = backup_id_parse(bad[i], NULL, NULL, 0);

		if (rv == 0)
			fprintf(stderr, "accepted %s\n", bad[i]);
		CHECK_EQ_INT(rv, LS_EINVAL);
	}
	CHECK_EQ_INT(backup_id_parse("1740143717_2025_02_21", &t, v, sizeof(v)),
	             0);
	CHECK_STR(v, "");
	CHECK_EQ_INT(
	    backup_id_parse("1740143717_2025_02_21_17.8.2-rc1-ee", &t, v, 8),
	    LS_ETOOBIG);
}

static void test_skip(void)
{
	char out[256], err[512];

	CHECK_EQ_INT(
	    backup_skip_normalize("", out, sizeof(out), err, sizeof(err)), 0);
	CHECK_STR(out, "");
	CHECK_EQ_INT(backup_skip_normalize("uploads,db,tar,db,,external_diffs",
	                                   out, sizeof(out), err, sizeof(err)),
	             0);
	CHECK_STR(out, "tar,db,uploads,external_diffs");
	CHECK_EQ_INT(backup_skip_normalize(
	                 "ci_secure_files,packages,repositories,pages,registry,"
	                 "terraform_state,lfs,artifacts,builds,uploads,db,"
	                 "remote,tar,external_diffs",
	                 out, sizeof(out), err, sizeof(err)),
	             0);
	CHECK_STR(out, "tar,remote,db,uploads,builds,artifacts,lfs,"
	               "terraform_state,registry,pages,repositories,packages,"
	               "ci_secure_files,external_diffs");
	CHECK_EQ_INT(backup_skip_normalize("db,secrets,Uploads", out,
	                                   sizeof(out), err, sizeof(err)),
	             LS_EINVAL);
	CHECK_CONTAINS(err, "unknown backup component(s) to skip: secrets, "
	                    "Uploads");
	CHECK_EQ_INT(
	    backup_skip_normalize("db,uploads", out, 5, err, sizeof(err)),
	    LS_ETOOBIG);
}

int main(void)
{
	test_yml();
	test_yml_scalars();
	test_json();
	test_files();
	test_ids();
	test_skip();
	return tu_done();
}
