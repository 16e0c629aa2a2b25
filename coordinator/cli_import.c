/*
 * lockstep backup import PATH: a backup made by GitLab's own tools taken
 * into the store. The coordinator reads PATH on its own host, so the path
 * is sent absolute.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "ls_util.h"

/* Extracting and checksumming many GB: the answer comes at the end. */
#define IMPORT_TIMEOUT_MS (24 * 3600 * 1000)

static const char import_usage[] =
    "usage: lockstep backup import PATH [--json]\n"
    "\n"
    "Catalogs a backup made by GitLab's own tools so that restore and drill\n"
    "take it: PATH is a <id>_gitlab_backup.tar (gitlab-backup create, the\n"
    "Helm toolbox) or a gitlab-backup-cli directory holding\n"
    "backup_information.json. The coordinator reads PATH on its own host,\n"
    "copies it into the backup store (GitLab's files unchanged), checksums\n"
    "every artifact into a signed manifest and lists the backup complete.\n"
    "Symlinks, hard links and devices in it are refused. Files outside\n"
    "GitLab's layout are left out of the manifest (see the coordinator's\n"
    "log).\n";

static void human_size(char *out, size_t len, uint64_t n)
{
	const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)n;
	int i = 0;

	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	snprintf(out, len, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

/* PATH as the coordinator must see it: absolute, no trailing '/'. */
static int absolute(const char *path, char *out, size_t len)
{
	char cwd[LS_PATH_MAX];
	size_t n;

	if (path[0] == '/') {
		if (ls_fmt(out, len, "%s", path) < 0)
			return -1;
	} else if (getcwd(cwd, sizeof(cwd)) == NULL ||
	           ls_fmt(out, len, "%s/%s", cwd, path) < 0) {
		return -1;
	}
	n = strlen(out);
	while (n > 1 && out[n - 1] == '/')
		out[--n] = '\0';
	return 0;
}

int cli_backup_import(struct cli *cli, int argc, char **argv)
{
	Ls__ControlReq req = LS__CONTROL_REQ__INIT;
	Ls__BackupImportReq ir = LS__BACKUP_IMPORT_REQ__INIT;
	Ls__ControlResp *resp = NULL;
	const Ls__BackupImportResp *r;
	const char *path = NULL;
	char abs[LS_PATH_MAX], size[32];
	int i, rv;

	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			fputs(import_usage, stdout);
			return CLI_OK;
		}
		if (strcmp(argv[i], "--json") == 0)
			cli->json = 1;
		else if (argv[i][0] != '-' && path == NULL)
			path = argv[i];
		else {
			fputs(import_usage, stderr);
			return CLI_USAGE;
		}
	}
	if (path == NULL) {
		fputs(import_usage, stderr);
		return CLI_USAGE;
	}
	if (absolute(path, abs, sizeof(abs)) < 0) {
		fprintf(stderr, "lockstep: %s: path too long\n", path);
		return CLI_USAGE;
	}
	ir.path = abs;
	req.kind_case = LS__CONTROL_REQ__KIND_BACKUP_IMPORT;
	req.backup_import = &ir;
	if ((rv = cli_call(cli, &req, &resp, IMPORT_TIMEOUT_MS)) != CLI_OK)
		return rv;
	if ((r = resp->backup_import) == NULL) {
		fprintf(stderr, "lockstep: the coordinator sent no result\n");
		ls__control_resp__free_unpacked(resp, NULL);
		return CLI_FAIL;
	}
	if (cli->json) {
		json_t *o = json_object();
		json_object_set_new(o, "id", json_string(r->backup_id));
		json_object_set_new(o, "format", json_string(r->format));
		json_object_set_new(o, "artifacts", json_integer(r->artifacts));
		json_object_set_new(o, "size",
		                    json_integer((json_int_t)r->size));
		json_object_set_new(
		    o, "gitlab_version",
		    json_string(r->gitlab_version ? r->gitlab_version : ""));
		cli_print_json(o);
	} else {
		human_size(size, sizeof(size), r->size);
		printf("imported %s (%s, %u artifacts, %s) from %s\n",
		       r->backup_id, r->format, r->artifacts, size, abs);
	}
	ls__control_resp__free_unpacked(resp, NULL);
	return CLI_OK;
}
