/*
 * lockstep backup verify ID | export ID --output DIR
 *
 * Both read the store directly from this process, so that hours of
 * checksumming or packing never hold the coordinator.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <sodium.h>

#include "backup_export.h"
#include "cli.h"
#include "ls_afile.h"
#include "ls_error.h"
#include "ls_exec.h"
#include "ls_gzcheck.h"
#include "ls_util.h"

#define MANIFEST_MAX (256 * 1024 * 1024)

static const char verify_usage[] =
    "usage: lockstep backup verify ID [--git PATH] [--json]\n"
    "       lockstep backup export ID --output DIR [--json]\n"
    "\n"
    "verify re-reads every artifact of a backup: its size and SHA-256\n"
    "against the manifest, the manifest's signature by the coordinator,\n"
    "`git bundle verify` on every bundle and a full decompression of every\n"
    "archive and dump. Exit 1 names each bad artifact.\n"
    "export writes <ID>_gitlab_backup.tar into DIR exactly as\n"
    "`gitlab-backup create` packs it, for gitlab-backup restore and the\n"
    "Helm chart's backup-utility.\n";

struct problems {
	json_t *list;
	int n;
};

static void problem(struct problems *p, const char *path, const char *why)
{
	json_t *o = json_object();

	json_object_set_new(o, "path", json_string(path));
	json_object_set_new(o, "problem", json_string(why));
	json_array_append_new(p->list, o);
	p->n++;
}

/* Reads every byte through libarchive: a truncated or corrupt stream
 * fails here rather than on restore day. The raw pass sees the whole
 * decompressed stream, for the gzip trailer libarchive does not check
 * (ls_gzcheck.h); a tar is then read entry by entry as well. */
static int read_pass(const char *path, int is_tar, char *why, size_t len)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	struct ls_gzcheck gz;
	char buf[65536];
	int rv = 0, r;

	if (a == NULL) {
		snprintf(why, len, "out of memory");
		return LS_ENOMEM;
	}
	ls_gzcheck_init(&gz);
	archive_read_support_filter_all(a);
	if (is_tar)
		archive_read_support_format_all(a);
	else
		archive_read_support_format_raw(a);
	if (archive_read_open_filename(a, path, 65536) != ARCHIVE_OK) {
		snprintf(why, len, "cannot open: %s", archive_error_string(a));
		archive_read_free(a);
		return LS_EIO;
	}
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		ssize_t n;
		while ((n = archive_read_data(a, buf, sizeof(buf))) > 0)
			if (!is_tar)
				ls_gzcheck_update(&gz, buf, (size_t)n);
		if (n < 0) {
			r = ARCHIVE_FATAL;
			break;
		}
	}
	if (r != ARCHIVE_EOF) {
		snprintf(why, len, "does not decompress: %s",
		         archive_error_string(a) ? archive_error_string(a)
		                                 : "corrupt");
		rv = LS_EIO;
	} else if (!is_tar &&
	           archive_filter_code(a, 0) == ARCHIVE_FILTER_GZIP) {
		rv = ls_gzcheck_trailer(&gz, path, why, len);
	}
	archive_read_free(a);
	return rv;
}

static int decompress_pass(const char *path, int is_tar, char *why, size_t len)
{
	int rv = read_pass(path, 0, why, len);

	return rv < 0 || !is_tar ? rv : read_pass(path, 1, why, len);
}

static int bundle_verify(const char *git, const char *probe, const char *bundle,
                         char *why, size_t len)
{
	const char *argv[] = {git,      "--git-dir", probe,  "bundle",
	                      "verify", "-q",        bundle, NULL};
	struct ls_exec_opts o;
	struct ls_exec_result r;
	int rv;

	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.max_stdout = 1 << 20;
	o.max_stderr = 4096;
	o.timeout_ms = 600000;
	rv = ls_exec_run(&o, &r);
	if (rv == 0 && (!r.exited || r.status != 0))
		rv = LS_ECHILD;
	if (rv < 0)
		snprintf(why, len, "git bundle verify failed: %.200s",
		         r.err && r.err[0] ? r.err : ls_strerror(rv));
	ls_exec_result_free(&r);
	return rv;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Fetches a finished backup's path; prints why not and returns < 0. */
static int backup_path(struct cli *cli, const char *id, char *path, size_t len)
{
	Ls__ControlReq req = LS__CONTROL_REQ__INIT;
	Ls__BackupShowReq sr = LS__BACKUP_SHOW_REQ__INIT;
	Ls__ControlResp *resp = NULL;
	int rv;

	sr.id = (char *)id;
	req.kind_case = LS__CONTROL_REQ__KIND_BACKUP_SHOW;
	req.backup_show = &sr;
	if (cli_call(cli, &req, &resp, 30000) != CLI_OK)
		return -1;
	rv = -1;
	if (resp->backup_show == NULL)
		fprintf(stderr, "lockstep: no such backup\n");
	else if (strcmp(resp->backup_show->state, "complete") != 0 &&
	         strcmp(resp->backup_show->state, "partial") != 0)
		fprintf(stderr, "lockstep: backup %s is %s, not complete\n", id,
		        resp->backup_show->state);
	else if (ls_fmt(path, len, "%s", resp->backup_show->path) == 0)
		rv = 0;
	ls__control_resp__free_unpacked(resp, NULL);
	return rv;
}

static int coordinator_pk(struct cli *cli, uint8_t pk[32])
{
	Ls__ControlReq req = LS__CONTROL_REQ__INIT;
	Ls__StatusReq sreq = LS__STATUS_REQ__INIT;
	Ls__ControlResp *resp = NULL;
	int rv = -1;

	req.kind_case = LS__CONTROL_REQ__KIND_STATUS;
	req.status = &sreq;
	if (cli_call(cli, &req, &resp, 30000) != CLI_OK)
		return -1;
	if (resp->status_resp && resp->status_resp->has_coordinator_sign_pk &&
	    resp->status_resp->coordinator_sign_pk.len == 32) {
		memcpy(pk, resp->status_resp->coordinator_sign_pk.data, 32);
		rv = 0;
	}
	ls__control_resp__free_unpacked(resp, NULL);
	return rv;
}

static void check_artifact(const char *dir, json_t *a, const char *git,
                           const char *probe, struct problems *p)
{
	const char *rel = json_string_value(json_object_get(a, "path"));
	const char *want = json_string_value(json_object_get(a, "sha256"));
	json_int_t size = json_integer_value(json_object_get(a, "size"));
	char path[4200], hex[65], why[512];
	uint8_t sha[32];
	uint64_t got = 0;
	int rv;

	if (rel == NULL || want == NULL || rel[0] == '/' || strstr(rel, "..")) {
		problem(p, rel ? rel : "?", "malformed manifest entry");
		return;
	}
	if (ls_fmt(path, sizeof(path), "%s/%s", dir, rel) < 0) {
		problem(p, rel, "path too long");
		return;
	}
	if ((rv = ls_sha256_file(path, &got, sha)) < 0) {
		problem(p, rel, ls_strerror(rv));
		return;
	}
	ls_hex(hex, sha, 32);
	if ((json_int_t)got != size) {
		snprintf(why, sizeof(why), "size %llu, manifest says %lld",
		         (unsigned long long)got, (long long)size);
		problem(p, rel, why);
		return;
	}
	if (strcmp(hex, want) != 0) {
		snprintf(why, sizeof(why),
		         "SHA-256 %.16s..., manifest says "
		         "%.16s...",
		         hex, want);
		problem(p, rel, why);
		return;
	}
	if (ends_with(rel, ".bundle"))
		rv = bundle_verify(git, probe, path, why, sizeof(why));
	else if (ends_with(rel, ".tar.gz"))
		rv = decompress_pass(path, 1, why, sizeof(why));
	else if (ends_with(rel, ".sql.gz") || ends_with(rel, ".rdb.gz"))
		rv = decompress_pass(path, 0, why, sizeof(why));
	else
		rv = 0;
	if (rv < 0)
		problem(p, rel, why);
}

/* The outcome goes into the coordinator's catalog (the upgrade plan
 * names a backup's verify state); the verdict stands either way. */
static void record(struct cli *cli, const char *id, int ok)
{
	Ls__ControlReq req = LS__CONTROL_REQ__INIT;
	Ls__BackupVerifiedReq vr = LS__BACKUP_VERIFIED_REQ__INIT;
	Ls__ControlResp *resp = NULL;

	vr.id = (char *)id;
	vr.ok = ok;
	req.kind_case = LS__CONTROL_REQ__KIND_BACKUP_VERIFIED;
	req.backup_verified = &vr;
	if (cli_call(cli, &req, &resp, 30000) != CLI_OK)
		fprintf(stderr, "lockstep: the outcome is not recorded in the "
		                "catalog\n");
	if (resp)
		ls__control_resp__free_unpacked(resp, NULL);
}

static int cmd_verify(struct cli *cli, const char *id, const char *git)
{
	char dir[4096], path[4200], probe[] = "/tmp/lockstep-verify-XXXXXX";
	char *man = NULL, *sig = NULL;
	size_t mlen = 0, slen = 0, i;
	uint8_t pk[32], s[crypto_sign_BYTES];
	struct problems p = {json_array(), 0};
	json_t *m = NULL, *arts;
	const char *meta;
	json_error_t jerr;
	int rv = CLI_FAIL;

	if (backup_path(cli, id, dir, sizeof(dir)) < 0 ||
	    coordinator_pk(cli, pk) < 0)
		goto out;
	if (ls_fmt(path, sizeof(path), "%s/lockstep/manifest.json", dir) < 0 ||
	    ls_read_file(path, MANIFEST_MAX, &man, &mlen) < 0) {
		problem(&p, "lockstep/manifest.json", "missing or unreadable");
		goto report;
	}
	if (ls_fmt(path, sizeof(path), "%s/lockstep/manifest.json.sig", dir) <
	        0 ||
	    ls_read_file(path, 4096, &sig, &slen) < 0 || slen < 128 ||
	    (sig[128] = '\0', ls_unhex(s, sizeof(s), sig)) < 0 ||
	    crypto_sign_verify_detached(s, (uint8_t *)man, mlen, pk) != 0) {
		problem(&p, "lockstep/manifest.json",
		        "signature does not verify with the coordinator's key");
		goto report;
	}
	if ((m = json_loadb(man, mlen, 0, &jerr)) == NULL ||
	    !json_is_array(arts = json_object_get(m, "artifacts"))) {
		problem(&p, "lockstep/manifest.json", "malformed");
		goto report;
	}
	if (mkdtemp(probe) == NULL) {
		problem(&p, probe, "cannot create a scratch repository");
		goto report;
	}
	{
		const char *argv[] = {git,      "init", "--quiet",
		                      "--bare", probe,  NULL};
		struct ls_exec_opts o;
		struct ls_exec_result r;

		memset(&o, 0, sizeof(o));
		o.argv = argv;
		o.max_stdout = o.max_stderr = 4096;
		o.timeout_ms = 60000;
		ls_exec_run(&o, &r);
		ls_exec_result_free(&r);
	}
	for (i = 0; i < json_array_size(arts); i++) {
		check_artifact(dir, json_array_get(arts, i), git, probe, &p);
		if (!cli->json && isatty(STDERR_FILENO))
			fprintf(stderr, "\rverified %zu/%zu artifacts", i + 1,
			        json_array_size(arts));
	}
	if (!cli->json && isatty(STDERR_FILENO))
		fputc('\n', stderr);
	ls_rmtree(probe);
	/* gitlab-backup-cli writes only the json, and an import keeps
	 * GitLab's files as they were. */
	meta = json_string_value(
	    json_object_get(json_object_get(m, "imported"), "format"));
	meta = meta != NULL && strcmp(meta, "backup-cli") == 0
	           ? "backup_information.json"
	           : "backup_information.yml";
	if (ls_fmt(path, sizeof(path), "%s/%s", dir, meta) == 0 &&
	    access(path, R_OK) != 0)
		problem(&p, meta, "missing");
report:
	if (cli->json) {
		json_t *o = json_object();
		json_object_set_new(o, "id", json_string(id));
		json_object_set_new(o, "ok", json_boolean(p.n == 0));
		json_object_set_new(
		    o, "artifacts",
		    json_integer(m ? (json_int_t)json_array_size(
		                         json_object_get(m, "artifacts"))
		                   : 0));
		json_object_set_new(o, "problems", p.list);
		p.list = NULL;
		cli_print_json(o);
	} else {
		for (i = 0; i < json_array_size(p.list); i++) {
			json_t *x = json_array_get(p.list, i);
			printf(
			    "BAD  %s: %s\n",
			    json_string_value(json_object_get(x, "path")),
			    json_string_value(json_object_get(x, "problem")));
		}
		printf("backup %s: %s\n", id,
		       p.n ? "VERIFY FAILED" : "every artifact verified");
	}
	rv = p.n ? CLI_FAIL : CLI_OK;
	record(cli, id, p.n == 0);
out:
	json_decref(p.list);
	json_decref(m);
	free(man);
	free(sig);
	return rv;
}

static int cmd_export(struct cli *cli, const char *id, const char *outdir)
{
	char dir[4096], out[4200], err[1024];
	int rv;

	if (backup_path(cli, id, dir, sizeof(dir)) < 0)
		return CLI_FAIL;
	if (ls_fmt(out, sizeof(out), "%s/%s_gitlab_backup.tar", outdir, id) < 0)
		return CLI_USAGE;
	if ((rv = backup_export_tar(dir, out, 0, err, sizeof(err))) < 0) {
		fprintf(stderr, "lockstep: export: %s\n", err);
		return CLI_FAIL;
	}
	if (cli->json)
		printf("{\"id\": \"%s\", \"tar\": \"%s\"}\n", id, out);
	else
		printf("%s\n", out);
	return CLI_OK;
}

int cli_backup_files(struct cli *cli, int argc, char **argv)
{
	const char *id = NULL, *outdir = NULL, *git = NULL;
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			fputs(verify_usage, stdout);
			return CLI_OK;
		}
	}
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			cli->json = 1;
		else if (strcmp(argv[i], "--output") == 0 && i + 1 < argc)
			outdir = argv[++i];
		else if (strcmp(argv[i], "--git") == 0 && i + 1 < argc)
			git = argv[++i];
		else if (argv[i][0] != '-' && id == NULL)
			id = argv[i];
		else {
			fputs(verify_usage, stderr);
			return CLI_USAGE;
		}
	}
	if (id == NULL) {
		fputs(verify_usage, stderr);
		return CLI_USAGE;
	}
	if (strcmp(argv[1], "verify") == 0) {
		if (git == NULL)
			git = access("/opt/gitlab/embedded/bin/git", X_OK) == 0
			          ? "/opt/gitlab/embedded/bin/git"
			          : "/usr/bin/git";
		return cmd_verify(cli, id, git);
	}
	if (outdir == NULL) {
		fprintf(stderr, "lockstep: export needs --output DIR\n");
		return CLI_USAGE;
	}
	return cmd_export(cli, id, outdir);
}
