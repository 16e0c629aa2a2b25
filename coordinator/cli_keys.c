/* lockstep keys export-backup-key --out FILE [--force] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "ls_error.h"
#include "ls_util.h"

static const char keys_usage[] =
    "usage: lockstep keys export-backup-key --out FILE [--force] [--json]\n"
    "\n"
    "Writes the private half of the fleet's backup key (X25519) to FILE,\n"
    "mode 0600, to be kept offline. Every node seals its gitlab-secrets.json\n"
    "and gitlab.rb to this key; restore --with-secrets needs it back.\n"
    "An existing FILE is refused unless --force.\n";

int cli_keys(struct cli *cli, int argc, char **argv)
{
	Ls__ControlReq req = LS__CONTROL_REQ__INIT;
	Ls__KeysExportReq kr = LS__KEYS_EXPORT_REQ__INIT;
	Ls__ControlResp *resp = NULL;
	const char *out = NULL;
	char text[80];
	struct stat st;
	int i, force = 0, rv;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			fputs(keys_usage, stdout);
			return CLI_OK;
		}
	}
	if (argc < 2 || strcmp(argv[1], "export-backup-key") != 0) {
		fputs(keys_usage, stderr);
		return CLI_USAGE;
	}
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
			out = argv[++i];
		else if (strcmp(argv[i], "--force") == 0)
			force = 1;
		else if (strcmp(argv[i], "--json") == 0)
			cli->json = 1;
		else {
			fputs(keys_usage, stderr);
			return CLI_USAGE;
		}
	}
	if (out == NULL) {
		fprintf(stderr,
		        "lockstep: export-backup-key needs --out FILE\n");
		return CLI_USAGE;
	}
	if (!force && lstat(out, &st) == 0) {
		fprintf(stderr,
		        "lockstep: %s exists; use --force to replace it\n",
		        out);
		return CLI_FAIL;
	}
	req.kind_case = LS__CONTROL_REQ__KIND_KEYS_EXPORT;
	req.keys_export = &kr;
	if ((rv = cli_call(cli, &req, &resp, 30000)) != CLI_OK)
		return rv;
	if (resp->kind_case != LS__CONTROL_RESP__KIND_KEYS_EXPORT ||
	    resp->keys_export->secret_key.len != 32 ||
	    resp->keys_export->public_key.len != 32) {
		ls__control_resp__free_unpacked(resp, NULL);
		return CLI_FAIL;
	}
	/* Text, so that it survives being printed or copied by hand. */
	memcpy(text, "LSBK1-", 6);
	ls_hex(text + 6, resp->keys_export->secret_key.data, 32);
	text[70] = '\n';
	rv = ls_write_atomic(out, text, 71, 0600);
	ls_wipe(text, sizeof(text));
	ls_wipe(resp->keys_export->secret_key.data, 32);
	if (rv < 0) {
		fprintf(stderr, "lockstep: writing %s: %s\n", out,
		        ls_strerror(rv));
	} else if (cli->json) {
		char pk[65];
		ls_hex(pk, resp->keys_export->public_key.data, 32);
		printf("{\"out\": \"%s\", \"public_key\": \"%s\"}\n", out, pk);
	} else {
		printf(
		    "Backup private key written to %s (mode 0600). Keep it "
		    "offline:\nwithout it the sealed secrets of every backup "
		    "cannot be opened.\n",
		    out);
	}
	ls__control_resp__free_unpacked(resp, NULL);
	return rv < 0 ? CLI_FAIL : CLI_OK;
}
