/*
 * lockstep-agent-exec: the short-lived child of lockstep-agent that runs
 * one operation or check pass. It links the heavy client libraries (libcurl,
 * libpq, hiredis, jansson) so that the long-lived network process does not.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>

#include "agent_config.h"
#include "check.h"
#include "exec_backup.h"
#include "exec_cutover.h"
#include "exec_facts.h"
#include "exec_geo_secrets.h"
#include "exec_kube.h"
#include "exec_kube_secrets.h"
#include "exec_maint.h"
#include "exec_registry.h"
#include "exec_restore.h"
#include "exec_upgrade.h"
#include "lockstep.pb-c.h"
#include "ls_error.h"
#include "ls_log.h"
#include "ls_util.h"

#define PROG "lockstep-agent-exec"
#define DEFAULT_CONFIG "/etc/lockstep/agent.yml"
#define OP_MAX (16 * 1024 * 1024)
#define MAX_ROLES 32
#define EXIT_USAGE 2

static const char usage_main[] =
    "usage: " PROG " [--config FILE] COMMAND [options]\n"
    "\n"
    "Runs one operation or check pass for lockstep-agent.\n"
    "\n"
    "commands:\n"
    "  op      read one ls.Operation from stdin, write one ls.OpResult\n"
    "  restore run one framed restore operation, answer in frames\n"
    "  facts   write this node's ls.NodeFacts to stdout\n"
    "  check   run the node checks and print the results\n"
    "\n"
    "options:\n"
    "  --config FILE   agent configuration (default " DEFAULT_CONFIG ")\n"
    "  --help          show this help; COMMAND --help for a command\n";

static const char usage_op[] =
    "usage: " PROG " [--config FILE] op\n"
    "\n"
    "Reads one serialized ls.Operation (at most 16 MiB) from stdin, runs it\n"
    "and writes one serialized ls.OpResult to stdout. Exit 0 once a result\n"
    "is written, 2 on a configuration error.\n";

static const char usage_restore[] =
    "usage: " PROG " [--config FILE] restore\n"
    "\n"
    "Reads one ls.Operation in a frame (4-byte big-endian length, at most\n"
    "16 MiB) from stdin: RestoreDb, RestoreRepos, RestoreFiles,\n"
    "RestoreSecrets, Services, RestoreVerify, RestoreDrill, RepoFsck or\n"
    "KubeVerify. Runs it and writes ls.SessionFrame frames to stdout:\n"
    "Progress at most every 250 ms, then one OpResult (of kind restore,\n"
    "repo_fsck or kube_verify). Exit\n"
    "0 once the result is written, 2 on a configuration error.\n";

static const char usage_facts[] =
    "usage: " PROG " [--config FILE] facts\n"
    "\n"
    "Writes one serialized ls.NodeFacts for this node to stdout.\n";

static const char usage_check[] =
    "usage: " PROG " [--config FILE] check [--roles R1,R2] [--json]\n"
    "\n"
    "Runs the checks every node gets plus those of the given roles\n"
    "(postgresql, redis, gitaly, rails, kubernetes) and prints STATUS\n"
    "CHECK REASON, or {\"checks\":[...]} with --json. Exit 1 if any\n"
    "check fails, 0 otherwise, 2 on a usage or configuration error.\n";

/* what, then 'arg' when given; the command's usage follows. */
static int usage_error(const char *usage, const char *what, const char *arg)
{
	fprintf(stderr, "%s: %s%s%s%s\n%s", PROG, what, arg ? " '" : "",
	        arg ? arg : "", arg ? "'" : "", usage);
	return EXIT_USAGE;
}

/* Reads stdin up to max bytes; one byte more is LS_ETOOBIG. */
static int read_stdin(size_t max, uint8_t **out, size_t *len)
{
	size_t cap = 65536, got = 0;
	uint8_t *buf = malloc(cap), *nb;
	int rv = 0;

	if (buf == NULL)
		return LS_ENOMEM;
	for (;;) {
		ssize_t n;

		if (got == cap) {
			if (cap > max) {
				rv = LS_ETOOBIG;
				goto out;
			}
			cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			nb = realloc(buf, cap);
			if (nb == NULL) {
				rv = LS_ENOMEM;
				goto out;
			}
			buf = nb;
		}
		n = read(STDIN_FILENO, buf + got, cap - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rv = -errno;
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got > max)
		rv = LS_ETOOBIG;
out:
	if (rv < 0) {
		free(buf);
		buf = NULL;
		got = 0;
	}
	*out = buf;
	*len = got;
	return rv;
}

/* The protobuf view borrows the strings of the report. */
struct pb_report {
	Ls__CheckReport msg;
	Ls__CheckResult *items;
	Ls__CheckResult **ptrs;
};

static int pb_report_init(struct pb_report *p, const struct check_report *r)
{
	size_t i;

	ls__check_report__init(&p->msg);
	p->items = calloc(r->n ? r->n : 1, sizeof(*p->items));
	p->ptrs = calloc(r->n ? r->n : 1, sizeof(*p->ptrs));
	if (p->items == NULL || p->ptrs == NULL)
		return LS_ENOMEM;
	for (i = 0; i < r->n; i++) {
		ls__check_result__init(&p->items[i]);
		p->items[i].name = r->items[i].name;
		p->items[i].reason = r->items[i].reason;
		p->items[i].status = (Ls__CheckStatus)r->items[i].status;
		p->ptrs[i] = &p->items[i];
	}
	p->msg.n_results = r->n;
	p->msg.results = p->ptrs;
	return 0;
}

static void pb_report_free(struct pb_report *p)
{
	free(p->items);
	free(p->ptrs);
}

static int write_packed(const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(len ? len : 1);
	int rv;

	if (buf == NULL)
		return LS_ENOMEM;
	protobuf_c_message_pack(m, buf);
	rv = ls_write_all(STDOUT_FILENO, buf, len);
	free(buf);
	return rv;
}

static int cmd_op(const struct agent_config *cfg)
{
	Ls__OpResult res = LS__OP_RESULT__INIT;
	Ls__MaintenanceResult mres = LS__MAINTENANCE_RESULT__INIT;
	Ls__Operation *op = NULL;
	struct check_report report = {0};
	enum check_scope scope;
	struct pb_report pb = {0};
	struct agent_facts *facts = NULL;
	struct upgrade_out uo;
	struct secrets_out so = {0};
	Ls__KubeQueryResult *kq = NULL;
	Ls__KubeScaleResult *ks = NULL;
	Ls__KubeRestartPodsResult *kr = NULL;
	Ls__KubeSecretsApplyResult *ka = NULL;
	struct cutover_out co;
	struct registry_out ro;
	/* Room for a failed upgrade command's stderr tail. */
	char errtext[1024] = "";
	uint8_t *buf = NULL;
	size_t len = 0;
	int rv;

	upgrade_out_init(&uo);
	cutover_out_init(&co);
	registry_out_init(&ro);
	rv = read_stdin(OP_MAX, &buf, &len);
	if (rv < 0) {
		ls_fmt(errtext, sizeof(errtext), "reading the operation: %s",
		       ls_strerror(rv));
		goto reply;
	}
	op = ls__operation__unpack(NULL, len, buf);
	if (op == NULL) {
		rv = LS_EPROTO;
		ls_fmt(errtext, sizeof(errtext), "undecodable operation");
		goto reply;
	}
	res.op_id = op->id;
	switch (op->kind_case) {
	case LS__OPERATION__KIND_NOOP:
		break;
	case LS__OPERATION__KIND_RUN_CHECKS:
		facts = calloc(1, sizeof(*facts));
		if (facts == NULL) {
			rv = LS_ENOMEM;
			break;
		}
		scope = op->run_checks->has_backup && op->run_checks->backup
		            ? CHECK_SCOPE_BACKUP
		            : CHECK_SCOPE_ALL;
		check_run_all(cfg, (const char *const *)op->run_checks->roles,
		              op->run_checks->n_roles, scope, &report);
		agent_facts_collect(cfg, facts);
		if (report.oom || pb_report_init(&pb, &report) < 0) {
			rv = LS_ENOMEM;
			break;
		}
		res.facts = &facts->msg;
		res.kind_case = LS__OP_RESULT__KIND_CHECKS;
		res.checks = &pb.msg;
		break;
	case LS__OPERATION__KIND_MAINTENANCE:
		rv = exec_maintenance(cfg, op->maintenance, &mres, errtext,
		                      sizeof(errtext));
		/* Sent even on failure: the coordinator must know whether
		 * maintenance mode is on now. */
		res.kind_case = LS__OP_RESULT__KIND_MAINTENANCE;
		res.maintenance = &mres;
		break;
	case LS__OPERATION__KIND_PACKAGE_VERSIONS:
		rv = exec_package_versions(cfg, op->package_versions, &uo,
		                           errtext, sizeof(errtext));
		if (rv == 0) {
			res.kind_case = LS__OP_RESULT__KIND_PACKAGE_VERSIONS;
			res.package_versions = &uo.pv;
		}
		break;
	case LS__OPERATION__KIND_UPGRADE_ACTION:
		rv = exec_upgrade_action(cfg, op->upgrade_action, &uo, errtext,
		                         sizeof(errtext));
		/* Sent on failure too: the output tail and the version the
		 * node is left at. */
		res.kind_case = LS__OP_RESULT__KIND_UPGRADE_ACTION;
		res.upgrade_action = &uo.ua;
		break;
	case LS__OPERATION__KIND_BBM_STATUS:
		rv = exec_bbm_status(cfg, op->bbm_status, &uo, errtext,
		                     sizeof(errtext));
		if (rv == 0) {
			res.kind_case = LS__OP_RESULT__KIND_BBM_STATUS;
			res.bbm_status = &uo.bbm;
		}
		break;
	case LS__OPERATION__KIND_SECRETS_EXPORT:
		rv = exec_secrets_export(cfg, op->secrets_export, &so, errtext,
		                         sizeof(errtext));
		if (rv == 0) {
			res.kind_case = LS__OP_RESULT__KIND_SECRETS_EXPORT;
			res.secrets_export = &so.res;
		}
		break;
	case LS__OPERATION__KIND_SECRETS_IMPORT:
		rv = exec_secrets_import(cfg, op->secrets_import, errtext,
		                         sizeof(errtext));
		break;
	case LS__OPERATION__KIND_KUBE_QUERY:
		rv = exec_kube_query(cfg, op->kube_query, &kq, errtext,
		                     sizeof(errtext));
		if (rv == 0) {
			res.kind_case = LS__OP_RESULT__KIND_KUBE_QUERY;
			res.kube_query = kq;
		}
		break;
	case LS__OPERATION__KIND_KUBE_SCALE:
		rv = exec_kube_scale(cfg, op->kube_scale, &ks, errtext,
		                     sizeof(errtext));
		/* Sent on failure too: the counts to scale back to. */
		if (ks != NULL) {
			res.kind_case = LS__OP_RESULT__KIND_KUBE_SCALE;
			res.kube_scale = ks;
		}
		break;
	case LS__OPERATION__KIND_KUBE_RESTART_PODS:
		rv = exec_kube_restart_pods(cfg, op->kube_restart_pods, &kr,
		                            errtext, sizeof(errtext));
		if (kr != NULL) {
			res.kind_case = LS__OP_RESULT__KIND_KUBE_RESTART_PODS;
			res.kube_restart_pods = kr;
		}
		break;
	case LS__OPERATION__KIND_KUBE_SECRETS_APPLY:
		rv = exec_kube_secrets_apply(cfg, op->kube_secrets_apply, &ka,
		                             errtext, sizeof(errtext));
		/* Sent on failure too once it holds the saved Secrets. */
		if (ka != NULL) {
			res.kind_case = LS__OP_RESULT__KIND_KUBE_SECRETS_APPLY;
			res.kube_secrets_apply = ka;
		}
		break;
	case LS__OPERATION__KIND_KUBE_SECRETS_RESTORE:
		rv = exec_kube_secrets_restore(cfg, op->kube_secrets_restore,
		                               &ka, errtext, sizeof(errtext));
		if (ka != NULL) {
			res.kind_case = LS__OP_RESULT__KIND_KUBE_SECRETS_APPLY;
			res.kube_secrets_apply = ka;
		}
		break;
	case LS__OPERATION__KIND_STORAGE_COUNTS:
		rv = exec_storage_counts(cfg, op->storage_counts, &co, errtext,
		                         sizeof(errtext));
		if (rv == 0) {
			res.kind_case = LS__OP_RESULT__KIND_STORAGE_COUNTS;
			res.storage_counts = &co.sc;
		}
		break;
	case LS__OPERATION__KIND_RAKE_TASK:
		rv = exec_rake_task(cfg, op->rake_task, &co, errtext,
		                    sizeof(errtext));
		/* Sent on failure too: the task's output tail. */
		res.kind_case = LS__OP_RESULT__KIND_RAKE_TASK;
		res.rake_task = &co.rake;
		break;
	case LS__OPERATION__KIND_REGISTRY_MIGRATE:
		rv = exec_registry_migrate(cfg, op->registry_migrate, &ro,
		                           errtext, sizeof(errtext));
		/* Sent on failure too: the migrations before, and the
		 * output tail of a failed `up`. */
		res.kind_case = LS__OP_RESULT__KIND_REGISTRY_MIGRATE;
		res.registry_migrate = &ro.res;
		break;
	default:
		rv = LS_EPROTO;
		ls_fmt(errtext, sizeof(errtext), "unknown operation kind %d",
		       (int)op->kind_case);
		break;
	}
reply:
	res.status = rv;
	if (rv < 0) {
		if (errtext[0] == '\0')
			ls_strlcpy(errtext, ls_strerror(rv), sizeof(errtext));
		res.error = errtext;
		log_warnx("operation %llu: %s", (unsigned long long)res.op_id,
		          errtext);
	}
	rv = write_packed(&res.base);
	if (rv < 0)
		log_warnx("writing the result: %s", ls_strerror(rv));
	pb_report_free(&pb);
	exec_maintenance_result_clear(&mres);
	upgrade_out_free(&uo);
	secrets_out_free(&so);
	if (kq != NULL)
		ls__kube_query_result__free_unpacked(kq, NULL);
	if (ks != NULL)
		ls__kube_scale_result__free_unpacked(ks, NULL);
	if (kr != NULL)
		ls__kube_restart_pods_result__free_unpacked(kr, NULL);
	if (ka != NULL)
		ls__kube_secrets_apply_result__free_unpacked(ka, NULL);
	registry_out_free(&ro);
	check_report_free(&report);
	free(facts);
	if (op != NULL)
		ls__operation__free_unpacked(op, NULL);
	free(buf);
	return rv < 0 ? 1 : 0;
}

static int cmd_facts(const struct agent_config *cfg)
{
	struct agent_facts f;
	int rv;

	agent_facts_collect(cfg, &f);
	rv = write_packed(&f.msg.base);
	if (rv < 0) {
		log_warnx("writing facts: %s", ls_strerror(rv));
		return 1;
	}
	return 0;
}

static int print_json(const struct check_report *r)
{
	json_t *root = json_object(), *arr = json_array();
	size_t i;
	int rv = -1;

	if (root == NULL || arr == NULL)
		goto out;
	for (i = 0; i < r->n; i++) {
		json_t *o =
		    json_pack("{s:s, s:s, s:s}", "name", r->items[i].name,
		              "status", check_status_name(r->items[i].status),
		              "reason", r->items[i].reason);
		if (o == NULL || json_array_append_new(arr, o) < 0)
			goto out;
	}
	if (json_object_set(root, "checks", arr) < 0 ||
	    json_dumpf(root, stdout, JSON_INDENT(2)) < 0)
		goto out;
	fputc('\n', stdout);
	rv = 0;
out:
	json_decref(arr);
	json_decref(root);
	return rv;
}

static void print_table(const struct check_report *r)
{
	size_t i, w = strlen("CHECK");

	for (i = 0; i < r->n; i++)
		if (strlen(r->items[i].name) > w)
			w = strlen(r->items[i].name);
	if (w > 48)
		w = 48;
	printf("%-6s %-*s %s\n", "STATUS", (int)w, "CHECK", "REASON");
	for (i = 0; i < r->n; i++)
		printf("%-6s %-*s %s\n", check_status_name(r->items[i].status),
		       (int)w, r->items[i].name, r->items[i].reason);
}

/* Splits "a,b,,c" in place into roles; empty entries are dropped. */
static int split_roles(char *s, const char **roles, size_t *n)
{
	char *tok, *save = NULL;

	for (tok = strtok_r(s, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ')
			tok++;
		if (*tok == '\0')
			continue;
		if (*n == MAX_ROLES)
			return LS_ETOOBIG;
		roles[(*n)++] = tok;
	}
	return 0;
}

struct check_args {
	const char *roles[MAX_ROLES];
	size_t nroles;
	int json;
};

/* Returns -1 to go on, or an exit status. */
static int parse_check_args(int argc, char **argv, struct check_args *a)
{
	int i;

	for (i = 0; i < argc; i++) {
		char *arg = argv[i], *val = NULL;

		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			fputs(usage_check, stdout);
			return 0;
		} else if (strcmp(arg, "--json") == 0) {
			a->json = 1;
			continue;
		} else if (strcmp(arg, "--roles") == 0) {
			if (i + 1 == argc)
				return usage_error(usage_check,
				                   "missing the value of", arg);
			val = argv[++i];
		} else if (strncmp(arg, "--roles=", 8) == 0) {
			val = arg + 8;
		} else {
			return usage_error(usage_check, "unknown argument",
			                   arg);
		}
		if (split_roles(val, a->roles, &a->nroles) < 0)
			return usage_error(usage_check, "too many roles", NULL);
	}
	return -1;
}

static int cmd_check(const struct agent_config *cfg, const struct check_args *a)
{
	struct check_report r = {0};
	size_t i;
	int rv;

	for (i = 0; i < a->nroles; i++)
		if (!check_role_known(a->roles[i]))
			fprintf(stderr, "%s: note: no checks for role '%s'\n",
			        PROG, a->roles[i]);
	check_run_all(cfg, a->roles, a->nroles, CHECK_SCOPE_ALL, &r);
	if (a->json) {
		if (print_json(&r) < 0) {
			fprintf(stderr, "%s: cannot encode JSON\n", PROG);
			rv = 1;
			goto out;
		}
	} else {
		print_table(&r);
	}
	fflush(stdout);
	if (r.oom)
		fprintf(stderr, "%s: out of memory: results incomplete\n",
		        PROG);
	rv = r.oom || check_report_worst(&r) == CHECK_ST_FAIL ? 1 : 0;
out:
	check_report_free(&r);
	return rv;
}

static int load_config(const char *path, struct agent_config *cfg)
{
	char err[1024] = "";
	int rv, level;

	memset(cfg, 0, sizeof(*cfg));
	rv = agent_config_load(path, cfg, err, sizeof(err));
	if (rv < 0) {
		if (err[0] != '\0')
			fprintf(stderr, "%s: %s\n", PROG, err);
		else
			fprintf(stderr, "%s: %s: %s\n", PROG, path,
			        ls_strerror(rv));
		return rv;
	}
	level = cfg->log_level ? log_level_parse(cfg->log_level) : -1;
	log_set_level(level >= 0 ? level : LS_LOG_INFO);
	return 0;
}

int main(int argc, char **argv)
{
	const char *config = DEFAULT_CONFIG, *cmd, *backup_id = NULL;
	struct check_args ca = {0};
	struct agent_config cfg;
	int i = 1, rv, have_cfg = 0;

	log_init(PROG, LS_LOG_INFO);
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			fputs(usage_main, stdout);
			return 0;
		} else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			config = argv[++i];
		} else if (strncmp(argv[i], "--config=", 9) == 0) {
			config = argv[i] + 9;
		} else {
			return usage_error(usage_main, "bad option", argv[i]);
		}
	}
	if (i == argc)
		return usage_error(usage_main, "no command given", NULL);
	cmd = argv[i++];
	if (strcmp(cmd, "check") == 0) {
		rv = parse_check_args(argc - i, argv + i, &ca);
		if (rv >= 0)
			return rv;
	} else if (strcmp(cmd, "op") == 0 || strcmp(cmd, "facts") == 0 ||
	           strcmp(cmd, "restore") == 0) {
		const char *u = cmd[0] == 'o'   ? usage_op
		                : cmd[0] == 'r' ? usage_restore
		                                : usage_facts;

		if (i < argc && (strcmp(argv[i], "--help") == 0 ||
		                 strcmp(argv[i], "-h") == 0)) {
			fputs(u, stdout);
			return 0;
		}
		if (i < argc)
			return usage_error(u, "unknown argument", argv[i]);
	} else if (strcmp(cmd, "backup-session") == 0) {
		/* Started by lockstep-agent only: frames on stdin/stdout. */
		if (i + 1 != argc)
			return usage_error(
			    usage_main, "backup-session needs BACKUP_ID", NULL);
		backup_id = argv[i];
	} else {
		return usage_error(usage_main, "unknown command", cmd);
	}

	if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		fprintf(stderr, "%s: cannot initialise libraries\n", PROG);
		return 1;
	}
	if (load_config(config, &cfg) < 0) {
		rv = EXIT_USAGE;
		goto out;
	}
	have_cfg = 1;
	if (backup_id != NULL)
		rv = exec_backup_session(&cfg, backup_id);
	else if (strcmp(cmd, "op") == 0)
		rv = cmd_op(&cfg);
	else if (strcmp(cmd, "restore") == 0)
		rv = exec_restore(&cfg);
	else if (strcmp(cmd, "facts") == 0)
		rv = cmd_facts(&cfg);
	else
		rv = cmd_check(&cfg, &ca);
out:
	if (have_cfg)
		agent_config_free(&cfg);
	curl_global_cleanup();
	return rv;
}
