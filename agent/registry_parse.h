/*
 * The container registry's metadata database migrations as its CLI prints
 * them (gitlab-facts §8). Pure: no I/O, so that it can be unit-tested and
 * fuzzed; exec_registry.c runs the commands.
 *
 * Formats, from gitlab-org/container-registry registry/root.go
 * (MigrateStatusCmd, MigrateUpCmd) and omnibus-gitlab
 * files/gitlab-ctl-commands/lib/registry/registry_database.rb:
 *
 *   `registry database migrate status CONFIG` renders a tablewriter table
 *   with headers "Migration", "Applied" (printed upper-case) and column
 *   width 80, rows sorted by migration id; a post-deployment migration's
 *   name carries " (post deployment)", one the binary does not know
 *   " (unknown)" before it; the Applied cell is the time applied
 *   ("2020-10-30 21:09:15.280575 +0000 UTC") or empty:
 *     +--------------------------------------+--------------------------+
 *     |              MIGRATION               |         APPLIED          |
 *     +--------------------------------------+--------------------------+
 *     | 20200319122755_create_repositories.. | 2020-10-30 21:09:15.28.. |
 *     | 20201030140824_drop_x (post          |                          |
 *     |   deployment)                        |                          |
 *     +--------------------------------------+--------------------------+
 *   (a cell over 80 columns wraps at spaces onto continuation rows).
 *
 *   `registry database migrate up [-s] CONFIG` prints the plan, one
 *   migration id per line, then "OK: applied N migrations" (newer: "... in
 *   1.234s", or "... and M background migrations in 1.234s"); with
 *   --dry-run the plan only.
 *
 *   `gitlab-ctl registry-database migrate ...` wraps both: "Running
 *   migrate status", "Executing command:" and the registry command line
 *   come first, and "Starting service registry" may follow. Lines outside
 *   the table (status) or that are not migration ids (up) are skipped.
 */
#ifndef REGISTRY_PARSE_H
#define REGISTRY_PARSE_H

#include <stddef.h>

#define REG_MIGRATIONS_MAX 10000
#define REG_NAME_MAX 200
#define REG_INPUT_MAX (4u * 1024 * 1024)

struct reg_migration {
	char name[REG_NAME_MAX + 1];
	int post_deployment;
	int applied;
};

struct reg_list {
	struct reg_migration *items;
	size_t n;
	size_t cap;
};

/*
 * Parses `migrate status` output into out (zeroed by the caller; freed with
 * reg_list_free, also after an error). Returns 0; LS_ETOOBIG past
 * REG_INPUT_MAX or REG_MIGRATIONS_MAX; LS_EPROTO for a malformed table or
 * none at all, with err naming the line; LS_ENOMEM.
 */
int reg_parse_status(const char *text, size_t len, struct reg_list *out,
                     char *err, size_t errlen);

/*
 * Parses `migrate up` output: out gets the migration ids of the plan
 * (applied = 1, post_deployment = 0: the output does not say), *ok is set
 * when the "OK: applied N migrations" line was seen, and N must then equal
 * the ids listed. Without it (a failed or dry run) the ids are only what
 * was planned. Errors as reg_parse_status.
 */
int reg_parse_up(const char *text, size_t len, struct reg_list *out, int *ok,
                 char *err, size_t errlen);

void reg_list_free(struct reg_list *l);

/* A migration id as the registry names them: a timestamp, '_' and
 * [A-Za-z0-9_.-], at most REG_NAME_MAX bytes. */
int reg_valid_name(const char *s, size_t n);

#endif
