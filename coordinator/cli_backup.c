/* lockstep backup create | list | show */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "cli.h"
#include "ls_error.h"
#include "ls_util.h"

static const char backup_usage[] =
    "usage: lockstep backup create [--skip COMPONENT,...] [--compression "
    "gzip|zstd]\n"
    "                              [--allow-partial] [--detach] [--json]\n"
    "       lockstep backup list [--json]\n"
    "       lockstep backup show ID [--json]\n"
    "       lockstep backup verify ID [--json]\n"
    "       lockstep backup prune [--keep N] [--older-than DAYS] [--dry-run] "
    "[--json]\n"
    "       lockstep backup export ID --output DIR [--json]\n"
    "       lockstep backup import PATH [--json]\n"
    "       lockstep backup drill ID [--map OLD=NEW ...] [--json]\n"
    "\n"
    "create takes one consistent backup of the whole fleet in GitLab's own\n"
    "layout and follows it to the end (exit 1 if it fails). Components for\n"
    "--skip, as GitLab's SKIP=: db, repositories, uploads, builds, "
    "artifacts,\n"
    "lfs, terraform_state, registry, pages, packages, ci_secure_files.\n"
    "prune keeps the newest N complete backups (--keep) and/or those younger\n"
    "than DAYS (--older-than); with both, a backup goes only when it breaks\n"
    "both. The running backup is never touched.\n";

static json_t *info_json(const Ls__BackupInfo *b)
{
	json_t *o = json_object(), *nodes = json_array(),
	       *failed = json_array();
	size_t i;

	json_object_set_new(o, "id", json_string(b->id));
	json_object_set_new(o, "state", json_string(b->state));
	json_object_set_new(o, "phase", json_string(b->phase ? b->phase : ""));
	json_object_set_new(o, "reason",
	                    json_string(b->reason ? b->reason : ""));
	json_object_set_new(o, "created_at", json_integer(b->created_at));
	json_object_set_new(o, "finished_at", json_integer(b->finished_at));
	json_object_set_new(o, "size", json_integer((json_int_t)b->size));
	json_object_set_new(o, "freeze_ms",
	                    json_integer((json_int_t)b->freeze_ms));
	json_object_set_new(o, "artifacts", json_integer(b->artifacts));
	json_object_set_new(
	    o, "gitlab_version",
	    json_string(b->gitlab_version ? b->gitlab_version : ""));
	json_object_set_new(o, "path", json_string(b->path ? b->path : ""));
	json_object_set_new(o, "skipped",
	                    json_string(b->skipped ? b->skipped : ""));
	if (b->has_drilled_at) {
		json_object_set_new(o, "drilled_at",
		                    json_integer(b->drilled_at));
		json_object_set_new(o, "drill_ok", json_boolean(b->drill_ok));
	}
	if (b->has_verified_at) {
		json_object_set_new(o, "verified_at",
		                    json_integer(b->verified_at));
		json_object_set_new(o, "verify_ok", json_boolean(b->verify_ok));
	}
	for (i = 0; i < b->n_failed_repos; i++)
		json_array_append_new(failed, json_string(b->failed_repos[i]));
	json_object_set_new(o, "failed_repositories", failed);
	for (i = 0; i < b->n_nodes; i++) {
		json_t *n = json_object();
		json_object_set_new(n, "node", json_string(b->nodes[i]->node));
		json_object_set_new(n, "phase",
		                    json_string(b->nodes[i]->phase));
		if (b->nodes[i]->error)
			json_object_set_new(n, "error",
			                    json_string(b->nodes[i]->error));
		if (b->nodes[i]->progress) {
			const Ls__Progress *p = b->nodes[i]->progress;
			json_t *x = json_object();
			json_object_set_new(x, "component",
			                    json_string(p->component));
			json_object_set_new(x, "bytes",
			                    json_integer((json_int_t)p->bytes));
			json_object_set_new(
			    x, "items_done",
			    json_integer((json_int_t)p->items_done));
			json_object_set_new(
			    x, "items_total",
			    json_integer((json_int_t)p->items_total));
			json_object_set_new(n, "progress", x);
		}
		json_array_append_new(nodes, n);
	}
	json_object_set_new(o, "nodes", nodes);
	return o;
}

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

/* Node, component, size, time and rate of each copy step, from the
 * backup's manifest (absent for a backup that failed). */
static void print_summary(const char *dir)
{
	char path[4200];
	json_t *m, *n, *t;
	size_t i, k;

	if (ls_fmt(path, sizeof(path), "%s/lockstep/manifest.json", dir) < 0 ||
	    (m = json_load_file(path, 0, NULL)) == NULL)
		return;
	printf("\n  %-16s %-16s %10s %9s %10s\n", "NODE", "COMPONENT", "SIZE",
	       "TIME", "RATE");
	json_array_foreach(json_object_get(m, "nodes"), i, n)
	{
		json_t *cut = json_object_get(n, "cut");
		json_array_foreach(json_object_get(cut, "copy"), k, t)
		{
			json_int_t bytes =
			    json_integer_value(json_object_get(t, "bytes"));
			json_int_t ms =
			    json_integer_value(json_object_get(t, "ms"));
			char size[32];

			human_size(size, sizeof(size), (uint64_t)bytes);
			printf(
			    "  %-16s %-16s %10s %8.2fs %6.1f MB/s\n",
			    json_string_value(json_object_get(n, "name")),
			    json_string_value(json_object_get(t, "component")),
			    size, (double)ms / 1000.0,
			    ms > 0 ? (double)bytes / 1e3 / (double)ms : 0.0);
		}
	}
	json_decref(m);
}

static void print_info(const Ls__BackupInfo *b)
{
	char size[32], when[64];
	time_t t = (time_t)b->created_at;
	struct tm tm;
	size_t i;

	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	human_size(size, sizeof(size), b->size);
	printf("backup      %s\nstate       %s%s%s\ncreated     %s\n"
	       "GitLab      %s\nsize        %s in %u artifact(s)\n"
	       "freeze      %llu ms\npath        %s\n",
	       b->id, b->state, b->reason && b->reason[0] ? ": " : "",
	       b->reason ? b->reason : "", when,
	       b->gitlab_version ? b->gitlab_version : "-", size, b->artifacts,
	       (unsigned long long)b->freeze_ms, b->path ? b->path : "-");
	if (b->skipped && b->skipped[0])
		printf("skipped     %s\n", b->skipped);
	for (i = 0; i < b->n_failed_repos; i++)
		printf("not backed up: %s\n", b->failed_repos[i]);
	for (i = 0; i < b->n_nodes; i++)
		printf("  %-16s %-9s %s\n", b->nodes[i]->node,
		       b->nodes[i]->phase,
		       b->nodes[i]->error ? b->nodes[i]->error : "");
	if (b->path && b->path[0] == '/' &&
	    (strcmp(b->state, "complete") == 0 ||
	     strcmp(b->state, "partial") == 0))
		print_summary(b->path);
}

static int show_once(struct cli *cli, const char *id, Ls__ControlResp **resp)
{
	Ls__ControlReq req = LS__CONTROL_REQ__INIT;
	Ls__BackupShowReq sr = LS__BACKUP_SHOW_REQ__INIT;
	int rv;

	sr.id = (char *)id;
	req.kind_case = LS__CONTROL_REQ__KIND_BACKUP_SHOW;
	req.backup_show = &sr;
	rv = cli_call(cli, &req, resp, 30000);
	if (rv == CLI_OK &&
	    ((*resp)->kind_case != LS__CONTROL_RESP__KIND_BACKUP_SHOW ||
	     (*resp)->backup_show == NULL)) {
		ls__control_resp__free_unpacked(*resp, NULL);
		*resp = NULL;
		return CLI_FAIL;
	}
	return rv;
}

struct rate {
	char node[64];
	char component[32];
	uint64_t bytes;
	int64_t at_ms;
	double mbps;
};

/*
 * One line of every copying node's progress: component, bytes, items,
 * rate and, when the node knows how many items there are, an ETA.
 */
static void print_progress(const Ls__BackupInfo *b, struct rate *rates,
                           size_t nrates, double elapsed)
{
	size_t i, k;
	int any = 0;

	for (i = 0; i < b->n_nodes; i++) {
		const Ls__BackupNodeInfo *n = b->nodes[i];
		const Ls__Progress *p = n->progress;
		struct rate *r = NULL;
		char size[32], eta[32] = "";
		int64_t now = ls_mono_ms();

		if (p == NULL)
			continue;
		for (k = 0; k < nrates; k++)
			if (strcmp(rates[k].node, n->node) == 0 ||
			    rates[k].node[0] == '\0') {
				r = &rates[k];
				break;
			}
		if (r != NULL) {
			if (r->node[0] == '\0' ||
			    strcmp(r->component, p->component) != 0) {
				ls_strlcpy(r->node, n->node, sizeof(r->node));
				ls_strlcpy(r->component, p->component,
				           sizeof(r->component));
				r->mbps = 0;
			} else if (now > r->at_ms && p->bytes >= r->bytes) {
				r->mbps = (double)(p->bytes - r->bytes) / 1e3 /
				          (double)(now - r->at_ms);
			}
			r->bytes = p->bytes;
			r->at_ms = now;
		}
		if (p->items_total > p->items_done && p->items_done > 0 &&
		    elapsed > 0)
			snprintf(eta, sizeof(eta), " ETA %.0fs",
			         elapsed *
			             (double)(p->items_total - p->items_done) /
			             (double)p->items_done);
		human_size(size, sizeof(size), p->bytes);
		printf("%s%s %s %s", any ? "; " : "[copying] ", n->node,
		       p->component, size);
		if (p->items_total > 0)
			printf(" %llu/%llu", (unsigned long long)p->items_done,
			       (unsigned long long)p->items_total);
		if (r != NULL && r->mbps > 0)
			printf(" %.1f MB/s", r->mbps);
		printf("%s", eta);
		any = 1;
	}
	if (any) {
		putchar('\n');
		fflush(stdout);
	}
}

/* Follows a backup to its end, printing each change of phase. */
static int follow(struct cli *cli, const char *id)
{
	char last[32] = "";
	int64_t t0 = ls_mono_ms(), next_progress = 0, copy_start = t0;
	struct rate rates[64];
	int tty = isatty(STDOUT_FILENO), rv;

	memset(rates, 0, sizeof(rates));

	for (;;) {
		Ls__ControlResp *resp = NULL;
		const Ls__BackupInfo *b;

		if ((rv = show_once(cli, id, &resp)) != CLI_OK)
			return rv;
		b = resp->backup_show;
		if (!cli->json && strcmp(b->phase, "copy") == 0 &&
		    ls_mono_ms() >= next_progress) {
			print_progress(
			    b, rates, sizeof(rates) / sizeof(rates[0]),
			    (double)(ls_mono_ms() - copy_start) / 1000.0);
			/* A terminal gets it often; a log, now and then. */
			next_progress = ls_mono_ms() + (tty ? 2000 : 10000);
		}
		if (!cli->json && strcmp(last, b->phase) != 0) {
			if (strcmp(b->phase, "copy") == 0)
				copy_start = ls_mono_ms();
			printf("[%6.1fs] %s\n",
			       (double)(ls_mono_ms() - t0) / 1000.0, b->phase);
			fflush(stdout);
			ls_strlcpy(last, b->phase, sizeof(last));
		}
		if (strcmp(b->state, "running") != 0) {
			rv =
			    strcmp(b->state, "failed") == 0 ? CLI_FAIL : CLI_OK;
			if (cli->json)
				cli_print_json(info_json(b));
			else
				print_info(b);
			ls__control_resp__free_unpacked(resp, NULL);
			return rv;
		}
		ls__control_resp__free_unpacked(resp, NULL);
		nng_msleep(250);
	}
}

static int backup_create(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"skip", required_argument, NULL, 's'},
	    {"compression", required_argument, NULL, 'z'},
	    {"allow-partial", no_argument, NULL, 'p'},
	    {"detach", no_argument, NULL, 'd'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	Ls__ControlReq req = LS__CONTROL_REQ__INIT;
	Ls__BackupCreateReq cr = LS__BACKUP_CREATE_REQ__INIT;
	Ls__ControlResp *resp = NULL;
	char id[128];
	int ch, rv, detach = 0;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			cr.skip = optarg;
			break;
		case 'z':
			if (strcmp(optarg, "gzip") != 0 &&
			    strcmp(optarg, "zstd") != 0) {
				fprintf(stderr, "lockstep: --compression must "
				                "be gzip or zstd\n");
				return CLI_USAGE;
			}
			cr.has_compression = 1;
			cr.compression = strcmp(optarg, "zstd") == 0;
			break;
		case 'p':
			cr.has_allow_partial = cr.allow_partial = 1;
			break;
		case 'd':
			detach = 1;
			break;
		case 'j':
			cli->json = 1;
			break;
		case 'h':
			fputs(backup_usage, stdout);
			return CLI_OK;
		default:
			fputs(backup_usage, stderr);
			return CLI_USAGE;
		}
	}
	if (optind != argc) {
		fputs(backup_usage, stderr);
		return CLI_USAGE;
	}
	req.kind_case = LS__CONTROL_REQ__KIND_BACKUP_CREATE;
	req.backup_create = &cr;
	if ((rv = cli_call(cli, &req, &resp, 60000)) != CLI_OK)
		return rv;
	if (resp->kind_case != LS__CONTROL_RESP__KIND_BACKUP_CREATE) {
		ls__control_resp__free_unpacked(resp, NULL);
		return CLI_FAIL;
	}
	ls_strlcpy(id, resp->backup_create->backup_id, sizeof(id));
	ls__control_resp__free_unpacked(resp, NULL);
	if (detach) {
		if (cli->json)
			printf("{\"id\": \"%s\"}\n", id);
		else
			printf("%s\n", id);
		return CLI_OK;
	}
	if (!cli->json)
		printf("backup %s started\n", id);
	return follow(cli, id);
}

static int backup_list(struct cli *cli)
{
	Ls__ControlReq req = LS__CONTROL_REQ__INIT;
	Ls__BackupListReq lr = LS__BACKUP_LIST_REQ__INIT;
	Ls__ControlResp *resp = NULL;
	size_t i;
	int rv;

	req.kind_case = LS__CONTROL_REQ__KIND_BACKUP_LIST;
	req.backup_list = &lr;
	if ((rv = cli_call(cli, &req, &resp, 30000)) != CLI_OK)
		return rv;
	if (resp->kind_case != LS__CONTROL_RESP__KIND_BACKUP_LIST) {
		ls__control_resp__free_unpacked(resp, NULL);
		return CLI_FAIL;
	}
	if (cli->json) {
		json_t *a = json_array();
		for (i = 0; i < resp->backup_list->n_backups; i++)
			json_array_append_new(
			    a, info_json(resp->backup_list->backups[i]));
		cli_print_json(a);
	} else {
		printf("%-40s %-9s %-10s %-8s %s\n", "ID", "STATE", "SIZE",
		       "FREEZE", "REASON");
		for (i = 0; i < resp->backup_list->n_backups; i++) {
			const Ls__BackupInfo *b = resp->backup_list->backups[i];
			char size[32], fr[32];
			human_size(size, sizeof(size), b->size);
			snprintf(fr, sizeof(fr), "%llums",
			         (unsigned long long)b->freeze_ms);
			printf("%-40s %-9s %-10s %-8s %s\n", b->id, b->state,
			       size, fr, b->reason ? b->reason : "");
		}
	}
	ls__control_resp__free_unpacked(resp, NULL);
	return CLI_OK;
}

static int backup_prune(struct cli *cli, int argc, char **argv)
{
	Ls__ControlReq req = LS__CONTROL_REQ__INIT;
	Ls__BackupPruneReq pr = LS__BACKUP_PRUNE_REQ__INIT;
	Ls__ControlResp *resp = NULL;
	long long v;
	size_t k;
	int i, rv;

	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			cli->json = 1;
		} else if (strcmp(argv[i], "--dry-run") == 0) {
			pr.has_dry_run = pr.dry_run = 1;
		} else if ((strcmp(argv[i], "--keep") == 0 ||
		            strcmp(argv[i], "--older-than") == 0) &&
		           i + 1 < argc) {
			int keep = argv[i][2] == 'k';
			if (ls_parse_int(argv[i + 1], keep ? 1 : 0, 100000,
			                 &v) < 0) {
				fprintf(stderr,
				        "lockstep: %s '%s': expected a whole "
				        "number%s\n",
				        argv[i], argv[i + 1],
				        keep ? " of at least 1" : " of days");
				return CLI_USAGE;
			}
			if (keep) {
				pr.has_keep = 1;
				pr.keep = (uint32_t)v;
			} else {
				pr.has_older_than_days = 1;
				pr.older_than_days = (uint32_t)v;
			}
			i++;
		} else {
			fputs(backup_usage, stderr);
			return CLI_USAGE;
		}
	}
	if (!pr.has_keep && !pr.has_older_than_days) {
		fprintf(stderr,
		        "lockstep: prune needs --keep N or --older-than "
		        "DAYS\n");
		return CLI_USAGE;
	}
	req.kind_case = LS__CONTROL_REQ__KIND_BACKUP_PRUNE;
	req.backup_prune = &pr;
	if ((rv = cli_call(cli, &req, &resp, 60000)) != CLI_OK)
		return rv;
	if (resp->kind_case != LS__CONTROL_RESP__KIND_BACKUP_PRUNE) {
		ls__control_resp__free_unpacked(resp, NULL);
		return CLI_FAIL;
	}
	if (cli->json) {
		json_t *o = json_object(), *rm = json_array(),
		       *kept = json_array();
		for (k = 0; k < resp->backup_prune->n_removed; k++)
			json_array_append_new(
			    rm, json_string(resp->backup_prune->removed[k]));
		for (k = 0; k < resp->backup_prune->n_kept; k++)
			json_array_append_new(
			    kept, json_string(resp->backup_prune->kept[k]));
		json_object_set_new(o, "dry_run", json_boolean(pr.dry_run));
		json_object_set_new(o, "removed", rm);
		json_object_set_new(o, "kept", kept);
		cli_print_json(o);
	} else {
		for (k = 0; k < resp->backup_prune->n_removed; k++)
			printf("%s %s\n",
			       pr.dry_run ? "would remove" : "removed",
			       resp->backup_prune->removed[k]);
		printf("%zu removed, %zu kept\n", resp->backup_prune->n_removed,
		       resp->backup_prune->n_kept);
	}
	ls__control_resp__free_unpacked(resp, NULL);
	return CLI_OK;
}

int cli_backup(struct cli *cli, int argc, char **argv)
{
	Ls__ControlResp *resp = NULL;
	int i, rv;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		fputs(backup_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_USAGE : CLI_OK;
	}
	if (strcmp(argv[1], "create") == 0)
		return backup_create(cli, argc - 1, argv + 1);
	if (strcmp(argv[1], "import") == 0)
		return cli_backup_import(cli, argc, argv);
	if (strcmp(argv[1], "drill") == 0)
		return cli_backup_drill(cli, argc - 1, argv + 1);
	if (strcmp(argv[1], "verify") == 0 || strcmp(argv[1], "export") == 0)
		return cli_backup_files(cli, argc, argv);
	if (strcmp(argv[1], "prune") == 0) {
		for (i = 2; i < argc; i++)
			if (strcmp(argv[i], "--help") == 0 ||
			    strcmp(argv[i], "-h") == 0) {
				fputs(backup_usage, stdout);
				return CLI_OK;
			}
		return backup_prune(cli, argc, argv);
	}
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			fputs(backup_usage, stdout);
			return CLI_OK;
		}
		if (strcmp(argv[i], "--json") == 0)
			cli->json = 1;
	}
	if (strcmp(argv[1], "list") == 0) {
		if (argc > 2 + cli->json) {
			fputs(backup_usage, stderr);
			return CLI_USAGE;
		}
		return backup_list(cli);
	}
	if (strcmp(argv[1], "show") == 0) {
		if (argc != 3 + cli->json || argv[2][0] == '-') {
			fputs(backup_usage, stderr);
			return CLI_USAGE;
		}
		if ((rv = show_once(cli, argv[2], &resp)) != CLI_OK)
			return rv;
		if (cli->json)
			cli_print_json(info_json(resp->backup_show));
		else
			print_info(resp->backup_show);
		rv = strcmp(resp->backup_show->state, "failed") == 0 ? CLI_FAIL
		                                                     : CLI_OK;
		ls__control_resp__free_unpacked(resp, NULL);
		return rv;
	}
	fprintf(stderr, "lockstep: unknown backup command '%s'\n", argv[1]);
	fputs(backup_usage, stderr);
	return CLI_USAGE;
}
