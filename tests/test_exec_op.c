/*
 * lockstep-agent-exec end to end: op and facts over stdin/stdout with a
 * scratch configuration, a stand-in gitlab-ctl and version files.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lockstep.pb-c.h"
#include "ls_error.h"
#include "ls_exec.h"
#include "ls_util.h"
#include "testutil.h"

static char dir[] = "/tmp/test_exec_op.XXXXXX";
static char config[256];

static void put(const char *name, const char *text, mode_t mode)
{
	char path[256];

	ls_fmt(path, sizeof(path), "%s/%s", dir, name);
	CHECK_EQ_INT(ls_write_atomic(path, text, strlen(text), mode), 0);
}

static void setup(void)
{
	char yml[2048];

	CHECK(mkdtemp(dir) != NULL);
	put("gitlab-ctl",
	    "#!/bin/sh\n"
	    "echo 'run: nginx: (pid 972) 7s; run: log: (pid 971) 7s'\n"
	    "echo 'down: sidekiq: 251000s, normally up; run: log: (pid 14999) "
	    "350709s'\n",
	    0755);
	put("version-manifest.json", "{\"build_version\": \"17.8.2\"}\n", 0644);
	put("version-manifest.txt", "gitlab-ce 17.8.2\n", 0644);
	put("os-release",
	    "NAME=\"Debian\"\nPRETTY_NAME=\"Debian GNU/Linux 12 "
	    "(bookworm)\"\nVERSION_ID=\"12\"\nID=debian\nID=other\n",
	    0644);
	ls_fmt(yml, sizeof(yml),
	       "state_dir: %s/state\n"
	       "backup_staging_dir: %s\n"
	       "min_free_space: 0\n"
	       "warn_free_space: 0\n"
	       "gitlab:\n"
	       "  ctl: %s/gitlab-ctl\n"
	       "  version_manifest: %s/version-manifest.json\n"
	       "  os_release: %s/os-release\n",
	       dir, dir, dir, dir, dir);
	put("agent.yml", yml, 0644);
	ls_fmt(config, sizeof(config), "%s/agent.yml", dir);
}

static int run_exec(const char *cmd, const void *in, size_t inlen,
                    struct ls_exec_result *res)
{
	const char *argv[] = {LOCKSTEP_EXEC_PATH, "--config", config, cmd,
	                      NULL};
	struct ls_exec_opts o = {.argv = argv,
	                         .stdin_data = in ? in : "",
	                         .stdin_len = inlen,
	                         .max_stdout = 1 << 20,
	                         .max_stderr = 1 << 16,
	                         .timeout_ms = 60000};
	int rv = ls_exec_run(&o, res);

	if (res->err_len > 0)
		fprintf(stderr, "[exec stderr] %s", res->err);
	return rv;
}

static Ls__OpResult *run_op(const Ls__Operation *op)
{
	struct ls_exec_result res;
	size_t len = ls__operation__get_packed_size(op);
	uint8_t *buf = malloc(len + 1);
	Ls__OpResult *r = NULL;

	ls__operation__pack(op, buf);
	CHECK_EQ_INT(run_exec("op", buf, len, &res), 0);
	CHECK_EQ_INT(res.exited, 1);
	CHECK_EQ_INT(res.status, 0);
	r = ls__op_result__unpack(NULL, res.out_len, res.out);
	CHECK(r != NULL);
	ls_exec_result_free(&res);
	free(buf);
	return r;
}

static void test_noop(void)
{
	Ls__Operation op = LS__OPERATION__INIT;
	Ls__NoOp noop = LS__NO_OP__INIT;
	Ls__OpResult *r;

	op.id = 41;
	op.kind_case = LS__OPERATION__KIND_NOOP;
	op.noop = &noop;
	r = run_op(&op);
	if (r == NULL)
		return;
	CHECK_EQ_INT(r->op_id, 41);
	CHECK_EQ_INT(r->status, 0);
	CHECK(r->error == NULL);
	CHECK_EQ_INT(r->kind_case, LS__OP_RESULT__KIND__NOT_SET);
	ls__op_result__free_unpacked(r, NULL);
}

static const Ls__CheckResult *find(const Ls__CheckReport *rep, const char *name)
{
	size_t i;

	for (i = 0; i < rep->n_results; i++)
		if (strcmp(rep->results[i]->name, name) == 0)
			return rep->results[i];
	return NULL;
}

static void test_run_checks(void)
{
	Ls__Operation op = LS__OPERATION__INIT;
	Ls__RunChecks rc = LS__RUN_CHECKS__INIT;
	char *roles[] = {"sidekiq"};
	const Ls__CheckResult *c;
	Ls__OpResult *r;

	op.id = 42;
	op.kind_case = LS__OPERATION__KIND_RUN_CHECKS;
	op.run_checks = &rc;
	rc.n_roles = 1;
	rc.roles = roles;
	r = run_op(&op);
	if (r == NULL)
		return;
	CHECK_EQ_INT(r->op_id, 42);
	CHECK_EQ_INT(r->status, 0);
	CHECK_EQ_INT(r->kind_case, LS__OP_RESULT__KIND_CHECKS);
	if (r->kind_case == LS__OP_RESULT__KIND_CHECKS) {
		CHECK_EQ_INT(r->checks->n_results, 4);
		c = find(r->checks, "gitlab-ctl:nginx");
		CHECK(c != NULL && c->status == LS__CHECK_STATUS__CHECK_PASS);
		c = find(r->checks, "gitlab-ctl:sidekiq");
		CHECK(c != NULL && c->status == LS__CHECK_STATUS__CHECK_FAIL);
		CHECK_STR(c ? c->reason : NULL,
		          "down for 251000s, normally up");
		c = find(r->checks, "gitlab-version");
		CHECK(c != NULL && c->status == LS__CHECK_STATUS__CHECK_PASS);
		CHECK_STR(c ? c->reason : NULL, "17.8.2 (ce)");
		c = find(r->checks, "staging-free-space");
		CHECK(c != NULL && c->status == LS__CHECK_STATUS__CHECK_PASS);
	}
	CHECK(r->facts != NULL);
	if (r->facts != NULL)
		CHECK_STR(r->facts->gitlab_version, "17.8.2");
	ls__op_result__free_unpacked(r, NULL);
}

static void test_bad_operations(void)
{
	Ls__Operation op = LS__OPERATION__INIT;
	struct ls_exec_result res;
	Ls__OpResult *r;

	/* No kind at all. */
	op.id = 43;
	r = run_op(&op);
	if (r != NULL) {
		CHECK_EQ_INT(r->op_id, 43);
		CHECK_EQ_INT(r->status, LS_EPROTO);
		CHECK_CONTAINS(r->error, "unknown operation kind");
		ls__op_result__free_unpacked(r, NULL);
	}
	/* Bytes that are no Operation. */
	CHECK_EQ_INT(run_exec("op", "\xff\xff\xff\xff", 4, &res), 0);
	CHECK_EQ_INT(res.status, 0);
	r = ls__op_result__unpack(NULL, res.out_len, res.out);
	CHECK(r != NULL);
	if (r != NULL) {
		CHECK_EQ_INT(r->status, LS_EPROTO);
		CHECK_CONTAINS(r->error, "undecodable");
		ls__op_result__free_unpacked(r, NULL);
	}
	ls_exec_result_free(&res);
}

static void test_facts(void)
{
	struct ls_exec_result res;
	Ls__NodeFacts *f;

	CHECK_EQ_INT(run_exec("facts", NULL, 0, &res), 0);
	CHECK_EQ_INT(res.status, 0);
	f = ls__node_facts__unpack(NULL, res.out_len, res.out);
	CHECK(f != NULL);
	if (f != NULL) {
		CHECK_STR(f->gitlab_version, "17.8.2");
		CHECK_STR(f->gitlab_edition, "ce");
		CHECK_STR(f->package_name, "gitlab-ce");
		CHECK_STR(f->os, "Debian GNU/Linux 12 (bookworm)");
		/* Quotes stripped; a repeated key keeps its first value. */
		CHECK_STR(f->os_id, "debian");
		CHECK_STR(f->os_version_id, "12");
		CHECK_STR(f->install_method, "linux-package");
		CHECK_STR(f->agent_version, LOCKSTEP_VERSION);
		CHECK(f->hostname != NULL && f->hostname[0] != '\0');
		CHECK(f->has_staging_free_bytes);
		/* No gitaly.storages: the Linux package's one, "default". */
		CHECK_EQ_INT(f->n_storages, 1);
		if (f->n_storages == 1)
			CHECK_STR(f->storages[0], "default");
		ls__node_facts__free_unpacked(f, NULL);
	}
	ls_exec_result_free(&res);
}

static void test_bad_config(void)
{
	struct ls_exec_result res;

	put("agent.yml", "gitlab:\n  nonsense: 1\n", 0644);
	CHECK_EQ_INT(run_exec("facts", NULL, 0, &res), 0);
	CHECK_EQ_INT(res.exited, 1);
	CHECK_EQ_INT(res.status, 2);
	CHECK_CONTAINS(res.err, "agent.yml:2");
	CHECK_EQ_INT(res.out_len, 0);
	ls_exec_result_free(&res);
}

int main(void)
{
	setup();
	test_noop();
	test_run_checks();
	test_bad_operations();
	test_facts();
	test_bad_config();
	ls_rmtree(dir);
	return tu_done();
}
