/* The operator CLI, `lockstep`. */
#ifndef CLI_H
#define CLI_H

#include <jansson.h>

#include "control.pb-c.h"

struct cli {
	char socket[4200]; /* ipc:// URL of the coordinator */
	int json;
};

/* Exit statuses: 0 fine, 1 failed (or a check failed), 2 usage/config. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/*
 * Sends req and waits up to timeout_ms for the answer. Prints a clear
 * message and returns CLI_FAIL when the coordinator cannot be reached or
 * answers with an error. Free *resp with ls__control_resp__free_unpacked.
 */
int cli_call(const struct cli *cli, Ls__ControlReq *req, Ls__ControlResp **resp,
             int timeout_ms);

/* Prints a JSON value to stdout and frees it. */
void cli_print_json(json_t *v);
/* "3s ago", "never". */
void cli_ago(char *out, size_t len, int64_t when);

int cli_node(struct cli *cli, int argc, char **argv);
int cli_status(struct cli *cli, int argc, char **argv);
int cli_check(struct cli *cli, int argc, char **argv);
int cli_ping(struct cli *cli, int argc, char **argv);
int cli_backup(struct cli *cli, int argc, char **argv);
int cli_keys(struct cli *cli, int argc, char **argv);
/* backup verify | export (cli_verify.c) */
int cli_backup_files(struct cli *cli, int argc, char **argv);
/* backup import PATH (cli_import.c) */
int cli_backup_import(struct cli *cli, int argc, char **argv);

/* lockstep restore (cli_restore.c), run and backup drill (cli_run.c) */
#define CLI_MAX_MAP 64
int cli_restore(struct cli *cli, int argc, char **argv);
int cli_run(struct cli *cli, int argc, char **argv);
int cli_backup_drill(struct cli *cli, int argc, char **argv);
/* Shared by both. */
int cli_read_backup_key(const char *path, uint8_t key[32]);
int cli_parse_map(const char *arg, char **map, size_t *n);
json_t *cli_restore_result_json(const Ls__RestoreResult *r);
json_t *cli_run_json(const Ls__RunInfo *ri);
void cli_run_print(const Ls__RunInfo *ri);
int cli_run_show_once(struct cli *cli, const char *id, Ls__ControlResp **resp);
/* Follows a run to its end; CLI_OK when it is done. */
int cli_run_watch(struct cli *cli, const char *id);
/* The same; report 0 leaves the end's report to the caller. */
int cli_run_follow(struct cli *cli, const char *id, int report);
/* Asks on the terminal for id typed back after warning; 1 when it was. */
int cli_confirm(const char *warning, const char *id);
/* lockstep cutover plan (cli_cutover.c). */
int cli_cutover(struct cli *cli, int argc, char **argv);

/* lockstep upgrade (cli_upgrade.c); argv[0] is "upgrade". */
int cli_upgrade(struct cli *cli, int argc, char **argv);
/* 1 for the subcommands that talk to the coordinator (plan, run). */
int cli_upgrade_needs_coordinator(int argc, char **argv);
/* lockstep upgrade plan|run (cli_upgrade_plan.c); argv[0] is "plan" or "run".
 */
int cli_upgrade_plan(struct cli *cli, int argc, char **argv);
/* cli_rollback.c */
int cli_rollback(struct cli *cli, int argc, char **argv);
/* cli_restore.c: a restore's (or rollback's) plan, phase by phase. */
void cli_restore_print_plan(const Ls__RestoreResp *rr);
/*
 * A restore's or a rollback's two calls: the plan (*dry_run set), printed
 * under heading (as JSON when plan_only and --json); the operator types id
 * after warning unless yes; then the run, followed to its end.
 */
struct cli_restore_flow {
	const char *heading, *warning, *id;
	const char *what; /* "restore", "rollback": in messages */
	int yes, plan_only;
};
int cli_restore_flow(struct cli *cli, Ls__ControlReq *req,
                     protobuf_c_boolean *dry_run,
                     const struct cli_restore_flow *fl);
/* --with-secrets with --backup-key FILE: both or neither; the key read
 * into key and set in the request's fields. */
int cli_backup_key_arg(const char *keyfile, int with_secrets, uint8_t key[32],
                       protobuf_c_boolean *has, ProtobufCBinaryData *field);

/* lockstep maintenance on|off|status (cli_maint.c). */
int cli_maint(struct cli *cli, int argc, char **argv);
/* lockstep registry migrate (cli_registry.c); argv[0] is "registry". */
int cli_registry(struct cli *cli, int argc, char **argv);

#endif
