/*
 * The gitlab.yml object storage reader: per-component enabled and disabled
 * keys, missing keys and sections, the consolidated form, anchors, aliases
 * and merge keys as GitLab's own file uses them, a malformed file (error
 * naming file:line), a missing file (no information, no error), and a
 * file over the size bound.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backup_objstore.h"
#include "ls_error.h"
#include "testutil.h"

static struct backup_objstore parse(const char *yml, int *rv, char *err,
                                    size_t errlen)
{
	struct backup_objstore o;

	err[0] = '\0';
	*rv = backup_objstore_parse("gitlab.yml", yml, strlen(yml), &o, err,
	                            errlen);
	return o;
}

#define EN(o, c) backup_objstore_enabled(&(o), (c))

/* The shape gitlab-ctl reconfigure renders (trimmed). */
static const char rendered[] =
    "# This file is managed by gitlab-ctl.\n"
    "production: &base\n"
    "  gitlab:\n"
    "    host: gitlab.example.com\n"
    "  artifacts:\n"
    "    enabled: true\n"
    "    path: /var/opt/gitlab/gitlab-rails/shared/artifacts\n"
    "    object_store:\n"
    "      enabled: false\n"
    "      remote_directory: \"artifacts\"\n"
    "      connection: {}\n"
    "  lfs:\n"
    "    enabled: true\n"
    "    object_store:\n"
    "      enabled: true\n"
    "      remote_directory: \"lfs-objects\"\n"
    "      connection: {\"provider\":\"AWS\",\"region\":\"eu-west-1\"}\n"
    "  uploads:\n"
    "    storage_path: /opt/gitlab/embedded/service/gitlab-rails/public\n"
    "    object_store:\n"
    "      enabled: true\n"
    "      remote_directory: \"uploads\"\n"
    "  packages:\n"
    "    enabled: true\n"
    "    object_store:\n"
    "      enabled: \"true\"\n" /* a quoted string, not a boolean */
    "  terraform_state:\n"
    "    object_store:\n"
    "      enabled:\n"
    "  ci_secure_files:\n"
    "    enabled: true\n"
    "  pages:\n"
    "    enabled: true\n"
    "    object_store:\n"
    "      enabled: True\n"
    "    local_store:\n"
    "      enabled: true\n"
    "  registry:\n"
    "    enabled: true\n"
    "    path: /var/opt/gitlab/gitlab-rails/shared/registry\n"
    "development:\n"
    "  <<: *base\n"
    "  uploads:\n"
    "    object_store:\n"
    "      enabled: false\n";

static void test_rendered(void)
{
	char err[1024];
	int rv;
	struct backup_objstore o = parse(rendered, &rv, err, sizeof(err));

	CHECK_EQ_INT(rv, 0);
	CHECK_EQ_INT(o.found, 1);
	CHECK_EQ_INT(EN(o, "uploads"), 1);
	CHECK_EQ_INT(EN(o, "lfs"), 1);
	CHECK_EQ_INT(EN(o, "pages"), 1);
	CHECK_EQ_INT(EN(o, "artifacts"), 0);
	CHECK_EQ_INT(EN(o, "packages"), 0);
	CHECK_EQ_INT(EN(o, "terraform_state"), 0);
	CHECK_EQ_INT(EN(o, "ci_secure_files"), 0);
	/* No such key: always local. */
	CHECK_EQ_INT(EN(o, "registry"), 0);
	CHECK_EQ_INT(EN(o, "builds"), 0);
	CHECK_EQ_INT(EN(o, "nonsense"), 0);
}

static void test_all_off_and_empty(void)
{
	char err[1024];
	int rv;
	struct backup_objstore o;
	const char *const *t;

	o = parse("production:\n  uploads:\n    object_store:\n"
	          "      enabled: false\n",
	          &rv, err, sizeof(err));
	CHECK_EQ_INT(rv, 0);
	CHECK_EQ_INT(o.mask, 0);
	o = parse("", &rv, err, sizeof(err));
	CHECK_EQ_INT(rv, 0);
	CHECK_EQ_INT(o.found, 1);
	CHECK_EQ_INT(o.mask, 0);
	/* Wrong shapes: nothing enabled, no error. */
	o = parse("- production\n", &rv, err, sizeof(err));
	CHECK_EQ_INT(rv, 0);
	CHECK_EQ_INT(o.mask, 0);
	o = parse("production: [uploads]\n", &rv, err, sizeof(err));
	CHECK_EQ_INT(rv, 0);
	CHECK_EQ_INT(o.mask, 0);
	o = parse("production:\n  uploads: true\n", &rv, err, sizeof(err));
	CHECK_EQ_INT(rv, 0);
	CHECK_EQ_INT(o.mask, 0);
	o = parse("production:\n  uploads:\n    object_store: [enabled]\n", &rv,
	          err, sizeof(err));
	CHECK_EQ_INT(rv, 0);
	CHECK_EQ_INT(o.mask, 0);
	/* Only production counts. */
	o = parse("development:\n  uploads:\n    object_store:\n"
	          "      enabled: true\n",
	          &rv, err, sizeof(err));
	CHECK_EQ_INT(rv, 0);
	CHECK_EQ_INT(EN(o, "uploads"), 0);
	/* Every type GitLab has. */
	for (t = backup_objstore_types(); *t != NULL; t++) {
		char y[256];

		snprintf(y, sizeof(y),
		         "production:\n  %s:\n    object_store:\n"
		         "      enabled: yes\n",
		         *t);
		o = parse(y, &rv, err, sizeof(err));
		CHECK_EQ_INT(rv, 0);
		CHECK_EQ_INT(EN(o, *t), 1);
		CHECK_EQ_INT(__builtin_popcount(o.mask), 1);
	}
}

static void test_anchors_aliases_merges(void)
{
	char err[1024];
	int rv;
	struct backup_objstore o;

	/* An aliased object_store section. */
	o = parse("defaults: &os\n  enabled: true\n"
	          "production:\n"
	          "  uploads:\n    object_store: *os\n"
	          "  lfs:\n    object_store: *os\n",
	          &rv, err, sizeof(err));
	CHECK_EQ_INT(rv, 0);
	CHECK_EQ_INT(EN(o, "uploads"), 1);
	CHECK_EQ_INT(EN(o, "lfs"), 1);
	CHECK_EQ_INT(EN(o, "artifacts"), 0);
	/* Merge key: inherited, and overridden by the mapping's own key. */
	o = parse("x: &on\n  object_store:\n    enabled: true\n"
	          "production:\n"
	          "  uploads:\n    <<: *on\n"
	          "  lfs:\n    <<: *on\n    object_store:\n"
	          "      enabled: false\n"
	          "  packages:\n    <<: [{a: 1}, *on]\n",
	          &rv, err, sizeof(err));
	CHECK_EQ_INT(rv, 0);
	CHECK_EQ_INT(EN(o, "uploads"), 1);
	CHECK_EQ_INT(EN(o, "lfs"), 0);
	CHECK_EQ_INT(EN(o, "packages"), 1);
	/* The whole production section through an alias. */
	o = parse("base: &b\n  pages:\n    object_store: {enabled: true}\n"
	          "production: *b\n",
	          &rv, err, sizeof(err));
	CHECK_EQ_INT(rv, 0);
	CHECK_EQ_INT(EN(o, "pages"), 1);
	/* A self-referencing merge and an alias fan-out stay bounded. */
	o = parse("a: &a\n  <<: *a\n  k: v\n", &rv, err, sizeof(err));
	CHECK(rv == 0 || rv == LS_ECONFIG);
	o = parse("production: &p\n  <<: *p\n  uploads:\n    <<: *p\n", &rv,
	          err, sizeof(err));
	CHECK(rv == 0 || rv == LS_ECONFIG);
	CHECK_EQ_INT(EN(o, "uploads"), 0);
	o = parse("a: &a [x, x, x, x, x, x, x, x, x]\n"
	          "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
	          "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
	          "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
	          "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
	          "production:\n  <<: [*e, *e, *e]\n"
	          "  uploads: {object_store: {enabled: true}}\n",
	          &rv, err, sizeof(err));
	CHECK_EQ_INT(rv, 0);
	CHECK_EQ_INT(EN(o, "uploads"), 1);
}

static void test_consolidated(void)
{
	char err[1024];
	int rv;
	struct backup_objstore o;

	o = parse("production:\n"
	          "  object_store:\n"
	          "    enabled: true\n"
	          "    connection: {provider: AWS}\n"
	          "    objects:\n"
	          "      artifacts: {bucket: artifacts}\n"
	          "      uploads: {bucket: uploads}\n"
	          "      lfs: {bucket: lfs, enabled: false}\n"
	          "      packages: {bucket: ''}\n"
	          "      terraform_state: {bucket: ~}\n"
	          "  uploads:\n    object_store:\n      enabled: false\n",
	          &rv, err, sizeof(err));
	CHECK_EQ_INT(rv, 0);
	CHECK_EQ_INT(EN(o, "artifacts"), 1);
	CHECK_EQ_INT(EN(o, "uploads"), 1);
	CHECK_EQ_INT(EN(o, "lfs"), 0);
	CHECK_EQ_INT(EN(o, "packages"), 0);
	CHECK_EQ_INT(EN(o, "terraform_state"), 0);
	/* Consolidated off: objects say nothing. */
	o = parse("production:\n  object_store:\n    enabled: false\n"
	          "    objects:\n      uploads: {bucket: uploads}\n",
	          &rv, err, sizeof(err));
	CHECK_EQ_INT(rv, 0);
	CHECK_EQ_INT(o.mask, 0);
	/* A type with its own object storage: the consolidated form does not
	 * take effect, the per-type settings do. */
	o = parse("production:\n  object_store:\n    enabled: true\n"
	          "    objects:\n      uploads: {bucket: uploads}\n"
	          "  lfs:\n    object_store:\n      enabled: true\n",
	          &rv, err, sizeof(err));
	CHECK_EQ_INT(rv, 0);
	CHECK_EQ_INT(EN(o, "lfs"), 1);
	CHECK_EQ_INT(EN(o, "uploads"), 0);
}

static void test_malformed(void)
{
	char err[1024];
	int rv;
	struct backup_objstore o;

	o = parse("production:\n  uploads:\n    object_store:\n"
	          "      enabled: true\n    - broken\n",
	          &rv, err, sizeof(err));
	CHECK_EQ_INT(rv, LS_ECONFIG);
	CHECK_EQ_INT(o.found, 0);
	CHECK_EQ_INT(o.mask, 0);
	CHECK_CONTAINS(err, "gitlab.yml:5: ");
	o = parse("production: {uploads: [\n", &rv, err, sizeof(err));
	CHECK_EQ_INT(rv, LS_ECONFIG);
	CHECK_EQ_INT(o.mask, 0);
	CHECK_CONTAINS(err, "gitlab.yml:");
	o = parse("production: *nowhere\n", &rv, err, sizeof(err));
	CHECK_EQ_INT(rv, LS_ECONFIG);
	CHECK_CONTAINS(err, "gitlab.yml:1: ");
	/* An unrendered ERB template does not pass for a rendered file. */
	o = parse("production: &base\n  uploads:\n    object_store:\n"
	          "      enabled: <%= @x %>\n  <% end %>\n",
	          &rv, err, sizeof(err));
	CHECK_EQ_INT(EN(o, "uploads"), 0);
}

static void test_files(void)
{
	char dir[] = "/tmp/ls_objstore_XXXXXX", path[256], err[1024];
	struct backup_objstore o;
	FILE *f;
	char *big;
	size_t n = BACKUP_OBJSTORE_MAX_FILE + 1, i;
	int rv;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/gitlab.yml", dir);
	/* Missing: no information, not an error. */
	o.found = 7;
	o.mask = 7;
	rv = backup_objstore_load(path, &o, err, sizeof(err));
	CHECK_EQ_INT(rv, 0);
	CHECK_EQ_INT(o.found, 0);
	CHECK_EQ_INT(o.mask, 0);
	f = fopen(path, "w");
	CHECK(f != NULL);
	fputs(rendered, f);
	fclose(f);
	rv = backup_objstore_load(path, &o, err, sizeof(err));
	CHECK_EQ_INT(rv, 0);
	CHECK_EQ_INT(o.found, 1);
	CHECK_EQ_INT(EN(o, "uploads"), 1);
	/* Malformed on disk: the message names the path and line. */
	f = fopen(path, "w");
	fputs("production:\n  uploads: [\n", f);
	fclose(f);
	rv = backup_objstore_load(path, &o, err, sizeof(err));
	CHECK_EQ_INT(rv, LS_ECONFIG);
	CHECK_CONTAINS(err, path);
	/* Over the bound: refused before parsing, nothing enabled. */
	big = malloc(n);
	CHECK(big != NULL);
	memcpy(big, rendered, sizeof(rendered) - 1);
	for (i = sizeof(rendered) - 1; i < n; i++)
		big[i] = (i % 64 == 63) ? '\n' : '#';
	f = fopen(path, "w");
	fwrite(big, 1, n, f);
	fclose(f);
	rv = backup_objstore_load(path, &o, err, sizeof(err));
	CHECK_EQ_INT(rv, LS_ETOOBIG);
	CHECK_EQ_INT(o.mask, 0);
	CHECK_CONTAINS(err, path);
	rv = backup_objstore_parse("big.yml", big, n, &o, err, sizeof(err));
	CHECK_EQ_INT(rv, LS_ETOOBIG);
	CHECK_EQ_INT(o.mask, 0);
	/* Just under the bound still parses. */
	rv = backup_objstore_parse("big.yml", big, n - 1, &o, err, sizeof(err));
	CHECK_EQ_INT(rv, 0);
	CHECK_EQ_INT(EN(o, "uploads"), 1);
	free(big);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	test_rendered();
	test_all_off_and_empty();
	test_anchors_aliases_merges();
	test_consolidated();
	test_malformed();
	test_files();
	return tu_done();
}
