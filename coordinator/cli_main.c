/* lockstep: the operator's command line. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "cli.h"
#include "coord_config.h"
#include "ls_error.h"
#include "ls_log.h"
#include "ls_util.h"

#define CLI_MAX_RESP (16 * 1024 * 1024)

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: lockstep [--config FILE | --socket PATH] COMMAND ...\n"
	    "\n"
	    "Commands:\n"
	    "  node add NAME --role ROLE[,ROLE...] [--site SITE] [--ttl "
	    "DURATION] [--json]\n"
	    "                      enroll a node: prints its one-time join "
	    "token\n"
	    "  node list [--json]  the fleet's nodes\n"
	    "  node remove NAME    remove a node; its next message is "
	    "rejected\n"
	    "  status [--json]     one row per node: roles, site, version, "
	    "connection, checks\n"
	    "  check [--json] [--timeout DURATION]\n"
	    "                      run every node's local checks now; exit 1 "
	    "if any fails\n"
	    "  keys export-backup-key --out FILE\n"
	    "                      the private backup key, to keep offline\n"
	    "  backup create|list|show ...\n"
	    "                      consistent fleet backups (backup --help)\n"
	    "  restore ID [--yes] [--with-secrets --backup-key FILE] [--map "
	    "OLD=NEW]\n"
	    "                      restore the fleet to a backup, verified "
	    "(restore --help)\n"
	    "  run list|show|watch|resume ...\n"
	    "                      journaled runs; resume a halted restore\n"
	    "  upgrade path --from VERSION --to VERSION [--available FILE] "
	    "[--json]\n"
	    "                      the path through GitLab's required "
	    "upgrade stops; needs\n"
	    "                      no coordinator (upgrade --help)\n"
	    "  upgrade plan|run --to VERSION [--mode zero-downtime|downtime]\n"
	    "                      plan or run a fleet upgrade through "
	    "every stop\n"
	    "  rollback RUN_ID [--to-stop N] [--yes]\n"
	    "                      back to an upgrade's rollback point: "
	    "packages, then data\n"
	    "  maintenance on|off|status [--message TEXT] [--lease SECONDS]\n"
	    "                      GitLab's maintenance mode, through a "
	    "rails node\n"
	    "                      (maintenance --help)\n"
	    "  cutover plan --release NAME --namespace NS\n"
	    "                      the prerequisites of moving onto the "
	    "GitLab Helm chart\n"
	    "                      (cutover --help)\n"
	    "  registry migrate [--release NAME --namespace NS | --node "
	    "NODE] [--dry-run]\n"
	    "                      the container registry's database "
	    "migrations\n"
	    "                      (registry --help)\n"
	    "  ping [--json] [--count N] [--timeout DURATION]\n"
	    "                      round trip of a no-op operation to every "
	    "node\n"
	    "\n"
	    "Options:\n"
	    "  -c, --config FILE   coordinator.yml, to find the control "
	    "socket\n"
	    "                      (default /etc/lockstep/coordinator.yml)\n"
	    "  -s, --socket PATH   the coordinator's control socket\n"
	    "  -h, --help          this text; COMMAND --help for a "
	    "command\n");
}

void cli_print_json(json_t *v)
{
	char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (s != NULL) {
		puts(s);
		free(s);
	}
	json_decref(v);
}

void cli_ago(char *out, size_t len, int64_t when)
{
	int64_t d = ls_now() - when;

	if (when <= 0)
		snprintf(out, len, "never");
	else if (d < 120)
		snprintf(out, len, "%llds ago", (long long)(d < 0 ? 0 : d));
	else if (d < 7200)
		snprintf(out, len, "%lldm ago", (long long)d / 60);
	else if (d < 172800)
		snprintf(out, len, "%lldh ago", (long long)d / 3600);
	else
		snprintf(out, len, "%lldd ago", (long long)d / 86400);
}

int cli_call(const struct cli *cli, Ls__ControlReq *req,
             Ls__ControlResp **respp, int timeout_ms)
{
	nng_socket s;
	nng_msg *msg = NULL;
	size_t len = ls__control_req__get_packed_size(req);
	uint8_t *buf = malloc(len ? len : 1);
	Ls__ControlResp *resp = NULL;
	int rv, status = CLI_FAIL;

	*respp = NULL;
	if (buf == NULL)
		return CLI_FAIL;
	ls__control_req__pack(req, buf);
	if ((rv = nng_req0_open(&s)) != 0) {
		fprintf(stderr, "lockstep: %s\n", nng_strerror(rv));
		free(buf);
		return CLI_FAIL;
	}
	nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, CLI_MAX_RESP);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, timeout_ms);
	nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, 10000);
	/* A resend would run a command twice: the coordinator answers or
	 * the call times out. */
	nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	if ((rv = nng_dial(s, cli->socket, NULL, 0)) != 0) {
		fprintf(stderr,
		        "lockstep: cannot reach the coordinator at %s: %s "
		        "(is lockstep-coordinator running, and are you its "
		        "user?)\n",
		        cli->socket, nng_strerror(rv));
		goto out;
	}
	if ((rv = nng_msg_alloc(&msg, 0)) != 0 ||
	    (rv = nng_msg_append(msg, buf, len)) != 0 ||
	    (rv = nng_sendmsg(s, msg, 0)) != 0) {
		fprintf(stderr, "lockstep: sending to the coordinator: %s\n",
		        nng_strerror(rv));
		nng_msg_free(msg);
		goto out;
	}
	if ((rv = nng_recvmsg(s, &msg, 0)) != 0) {
		fprintf(stderr,
		        "lockstep: no answer from the coordinator: %s\n",
		        nng_strerror(rv));
		goto out;
	}
	resp =
	    ls__control_resp__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
	nng_msg_free(msg);
	if (resp == NULL) {
		fprintf(stderr, "lockstep: undecodable answer from the "
		                "coordinator\n");
		goto out;
	}
	if (resp->status != 0) {
		fprintf(stderr, "lockstep: %s\n",
		        resp->error ? resp->error : ls_strerror(resp->status));
		ls__control_resp__free_unpacked(resp, NULL);
		goto out;
	}
	*respp = resp;
	status = CLI_OK;
out:
	free(buf);
	nng_close(s);
	return status;
}

static int socket_from_config(struct cli *cli, const char *path)
{
	struct coord_config cfg;
	char err[1024];
	int rv;

	memset(&cfg, 0, sizeof(cfg));
	if ((rv = coord_config_load(path, &cfg, err, sizeof(err))) < 0) {
		fprintf(stderr, "lockstep: %s\n", err);
		coord_config_free(&cfg);
		return CLI_USAGE;
	}
	if (cfg.control_socket != NULL && cfg.control_socket[0] != '\0')
		rv = ls_fmt(cli->socket, sizeof(cli->socket), "ipc://%s",
		            cfg.control_socket);
	else
		rv = ls_fmt(cli->socket, sizeof(cli->socket),
		            "ipc://%s/control.sock", cfg.state_dir);
	coord_config_free(&cfg);
	if (rv < 0) {
		fprintf(stderr, "lockstep: control socket path too long\n");
		return CLI_USAGE;
	}
	return CLI_OK;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"socket", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	struct cli cli;
	const char *config = NULL, *sock = NULL, *cmd;
	int ch, rv, wants_help = 0;

	memset(&cli, 0, sizeof(cli));
	log_init("lockstep", LS_LOG_WARN);
	/* '+' stops at the command so its own options are its own. */
	while ((ch = getopt_long(argc, argv, "+c:s:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config = optarg;
			break;
		case 's':
			sock = optarg;
			break;
		case 'h':
			usage(stdout);
			return CLI_OK;
		case 'V':
			printf("lockstep %s\n", LOCKSTEP_VERSION);
			return CLI_OK;
		default:
			usage(stderr);
			return CLI_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return CLI_USAGE;
	}
	cmd = argv[optind];
	if (strcmp(cmd, "help") == 0) {
		usage(stdout);
		return CLI_OK;
	}
	for (ch = optind + 1; ch < argc; ch++)
		if (strcmp(argv[ch], "--help") == 0 ||
		    strcmp(argv[ch], "-h") == 0)
			wants_help = 1;
	if (wants_help) {
		/* Help needs no coordinator and no configuration. */
	} else if (strcmp(cmd, "upgrade") == 0 &&
	           !cli_upgrade_needs_coordinator(argc - optind,
	                                          argv + optind)) {
		/* Neither does `upgrade path`. */
	} else if (sock != NULL) {
		if (ls_fmt(cli.socket, sizeof(cli.socket), "ipc://%s", sock) <
		    0) {
			fprintf(stderr, "lockstep: socket path too long\n");
			return CLI_USAGE;
		}
	} else if ((rv = socket_from_config(
	                &cli, config ? config
	                             : "/etc/lockstep/coordinator.yml")) != 0) {
		return rv;
	}
	argc -= optind;
	argv += optind;
	optind = 1;
	if (strcmp(cmd, "node") == 0)
		return cli_node(&cli, argc, argv);
	if (strcmp(cmd, "status") == 0)
		return cli_status(&cli, argc, argv);
	if (strcmp(cmd, "check") == 0)
		return cli_check(&cli, argc, argv);
	if (strcmp(cmd, "ping") == 0)
		return cli_ping(&cli, argc, argv);
	if (strcmp(cmd, "backup") == 0)
		return cli_backup(&cli, argc, argv);
	if (strcmp(cmd, "keys") == 0)
		return cli_keys(&cli, argc, argv);
	if (strcmp(cmd, "restore") == 0)
		return cli_restore(&cli, argc, argv);
	if (strcmp(cmd, "run") == 0)
		return cli_run(&cli, argc, argv);
	if (strcmp(cmd, "upgrade") == 0)
		return cli_upgrade(&cli, argc, argv);
	if (strcmp(cmd, "maintenance") == 0)
		return cli_maint(&cli, argc, argv);
	if (strcmp(cmd, "rollback") == 0)
		return cli_rollback(&cli, argc, argv);
	if (strcmp(cmd, "cutover") == 0)
		return cli_cutover(&cli, argc, argv);
	if (strcmp(cmd, "registry") == 0)
		return cli_registry(&cli, argc, argv);
	fprintf(stderr, "lockstep: unknown command '%s'\n\n", cmd);
	usage(stderr);
	return CLI_USAGE;
}
