/* lockstep status | node list | check | ping */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ls_error.h"
#include "ls_util.h"

static const char *status_name(Ls__CheckStatus s)
{
	switch (s) {
	case LS__CHECK_STATUS__CHECK_PASS:
		return "pass";
	case LS__CHECK_STATUS__CHECK_WARN:
		return "warn";
	default:
		return "fail";
	}
}

/* Parses [--json] [--timeout D] [--count N]; returns -1 after help. */
static int common_opts(struct cli *cli, int argc, char **argv,
                       int64_t *timeout_ms, long long *count, const char *usage)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"timeout", required_argument, NULL, 't'},
	    {"count", required_argument, NULL, 'n'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int ch;

	optind = 0; /* GNU getopt: reinitialise for this argv */
	while ((ch = getopt_long(argc, argv, "jt:n:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			cli->json = 1;
			break;
		case 't':
			if (timeout_ms == NULL ||
			    ls_parse_duration_ms(optarg, timeout_ms) < 0) {
				fprintf(stderr,
				        "lockstep: bad --timeout '%s'\n%s",
				        optarg, usage);
				return CLI_USAGE;
			}
			break;
		case 'n':
			if (count == NULL ||
			    ls_parse_int(optarg, 1, 1000000, count) < 0) {
				fprintf(stderr,
				        "lockstep: bad --count '%s'\n%s",
				        optarg, usage);
				return CLI_USAGE;
			}
			break;
		case 'h':
			fputs(usage, stdout);
			return -1;
		default:
			fputs(usage, stderr);
			return CLI_USAGE;
		}
	}
	if (optind != argc) {
		fputs(usage, stderr);
		return CLI_USAGE;
	}
	return CLI_OK;
}

static void count_checks(const Ls__CheckReport *r, int *pass, int *warn,
                         int *fail)
{
	size_t i;

	*pass = *warn = *fail = 0;
	for (i = 0; r != NULL && i < r->n_results; i++) {
		if (r->results[i]->status == LS__CHECK_STATUS__CHECK_PASS)
			(*pass)++;
		else if (r->results[i]->status == LS__CHECK_STATUS__CHECK_WARN)
			(*warn)++;
		else
			(*fail)++;
	}
}

static json_t *roles_json(char **roles, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, json_string(roles[i]));
	return a;
}

static void join_roles(char *out, size_t len, char **roles, size_t n)
{
	size_t i, used = 0;

	out[0] = '\0';
	for (i = 0; i < n && used < len; i++)
		used += (size_t)snprintf(out + used, len - used, "%s%s",
		                         i ? "," : "", roles[i]);
}

static json_t *node_json(const Ls__NodeInfo *n)
{
	json_t *o = json_object(), *ck;
	const Ls__NodeFacts *f = n->facts;
	int pass, warn, fail;

	json_object_set_new(o, "name", json_string(n->name));
	json_object_set_new(o, "roles", roles_json(n->roles, n->n_roles));
	json_object_set_new(o, "site", json_string(n->site ? n->site : ""));
	json_object_set_new(o, "enrolled", json_boolean(n->enrolled));
	json_object_set_new(o, "connected", json_boolean(n->connected));
	json_object_set_new(o, "last_seen", json_integer(n->last_seen));
	json_object_set_new(o, "gitlab_version",
	                    f && f->gitlab_version
	                        ? json_string(f->gitlab_version)
	                        : json_null());
	json_object_set_new(o, "edition",
	                    f && f->gitlab_edition
	                        ? json_string(f->gitlab_edition)
	                        : json_null());
	json_object_set_new(o, "hostname",
	                    f && f->hostname ? json_string(f->hostname)
	                                     : json_null());
	json_object_set_new(o, "os",
	                    f && f->os ? json_string(f->os) : json_null());
	/* ID and VERSION_ID: what the upgrade plan looks up in GitLab's
	 * supported OS table. */
	json_object_set_new(
	    o, "os_id", f && f->os_id ? json_string(f->os_id) : json_null());
	json_object_set_new(o, "os_version_id",
	                    f && f->os_version_id
	                        ? json_string(f->os_version_id)
	                        : json_null());
	if (n->checks != NULL) {
		count_checks(n->checks, &pass, &warn, &fail);
		ck = json_object();
		json_object_set_new(ck, "pass", json_integer(pass));
		json_object_set_new(ck, "warn", json_integer(warn));
		json_object_set_new(ck, "fail", json_integer(fail));
		json_object_set_new(ck, "at", json_integer(n->checks_at));
		json_object_set_new(o, "checks", ck);
	} else {
		json_object_set_new(o, "checks", json_null());
	}
	return o;
}

static const char status_usage[] =
    "usage: lockstep status [--json]\n"
    "       lockstep node list [--json]\n"
    "One row per node: name, roles, site, GitLab version, connected or "
    "when\nlast seen, and the summary of its last checks.\n";

int cli_status(struct cli *cli, int argc, char **argv)
{
	Ls__ControlReq req = LS__CONTROL_REQ__INIT;
	Ls__StatusReq sreq = LS__STATUS_REQ__INIT;
	Ls__ControlResp *resp = NULL;
	const Ls__StatusResp *sr;
	size_t i;
	int rv;

	rv = common_opts(cli, argc, argv, NULL, NULL, status_usage);
	if (rv != CLI_OK)
		return rv < 0 ? CLI_OK : rv;
	req.kind_case = LS__CONTROL_REQ__KIND_STATUS;
	req.status = &sreq;
	if ((rv = cli_call(cli, &req, &resp, 30000)) != CLI_OK)
		return rv;
	sr = resp->status_resp;
	if (resp->kind_case != LS__CONTROL_RESP__KIND_STATUS_RESP ||
	    sr == NULL) {
		ls__control_resp__free_unpacked(resp, NULL);
		return CLI_FAIL;
	}
	if (cli->json) {
		json_t *o = json_object(), *nodes = json_array(),
		       *ctr = json_object();
		const Ls__FleetCounters *fc = sr->counters;

		json_object_set_new(o, "fleet_url", json_string(sr->fleet_url));
		json_object_set_new(
		    o, "poll_timeout_ms",
		    json_integer((json_int_t)sr->poll_timeout_ms));
#define CTR(k) json_object_set_new(ctr, #k, json_integer((json_int_t)fc->k))
		CTR(messages);
		CTR(dropped_undecodable);
		CTR(dropped_oversize);
		CTR(rejected_signature);
		CTR(rejected_unknown);
		CTR(rejected_removed);
		CTR(rejected_replay);
#undef CTR
		json_object_set_new(o, "counters", ctr);
		for (i = 0; i < sr->n_nodes; i++)
			json_array_append_new(nodes, node_json(sr->nodes[i]));
		json_object_set_new(o, "nodes", nodes);
		cli_print_json(o);
	} else {
		printf("%-16s %-22s %-8s %-12s %-13s %-10s %s\n", "NODE",
		       "ROLES", "SITE", "VERSION", "STATE", "LAST SEEN",
		       "CHECKS");
		for (i = 0; i < sr->n_nodes; i++) {
			const Ls__NodeInfo *n = sr->nodes[i];
			char roles[256], seen[32], ver[48], checks[64];
			int pass, warn, fail;

			join_roles(roles, sizeof(roles), n->roles, n->n_roles);
			cli_ago(seen, sizeof(seen), n->last_seen);
			if (n->facts && n->facts->gitlab_version)
				snprintf(ver, sizeof(ver), "%s%s%s",
				         n->facts->gitlab_version,
				         n->facts->gitlab_edition ? "-" : "",
				         n->facts->gitlab_edition
				             ? n->facts->gitlab_edition
				             : "");
			else
				snprintf(ver, sizeof(ver), "-");
			if (n->checks) {
				count_checks(n->checks, &pass, &warn, &fail);
				snprintf(checks, sizeof(checks),
				         "%d pass, %d warn, %d fail", pass,
				         warn, fail);
			} else {
				snprintf(checks, sizeof(checks), "not run");
			}
			printf("%-16s %-22s %-8s %-12s %-13s %-10s %s\n",
			       n->name, roles,
			       n->site && n->site[0] ? n->site : "-", ver,
			       !n->enrolled   ? "not joined"
			       : n->connected ? "connected"
			                      : "disconnected",
			       seen, checks);
		}
		if (sr->n_nodes == 0)
			printf(
			    "(no nodes: add one with 'lockstep node add')\n");
	}
	ls__control_resp__free_unpacked(resp, NULL);
	return CLI_OK;
}

/* One check result: appended to arr as JSON, or printed as a row. */
static void emit_result(const struct cli *cli, json_t *arr,
                        const Ls__CheckResult *r)
{
	if (cli->json) {
		json_t *x = json_object();
		json_object_set_new(x, "name", json_string(r->name));
		json_object_set_new(x, "status",
		                    json_string(status_name(r->status)));
		json_object_set_new(x, "reason", json_string(r->reason));
		json_array_append_new(arr, x);
		return;
	}
	/* Failures in capitals: the eye finds them in a long report. */
	printf("  %-4s  %-44s %s\n",
	       r->status == LS__CHECK_STATUS__CHECK_FAIL
	           ? "FAIL"
	           : status_name(r->status),
	       r->name, r->reason);
}

static const char check_usage[] =
    "usage: lockstep check [--json] [--timeout DURATION]\n"
    "Runs every node's local checks now and prints the fleet report.\n"
    "Exit status 1 if any check fails or a node does not answer.\n";

int cli_check(struct cli *cli, int argc, char **argv)
{
	Ls__ControlReq req = LS__CONTROL_REQ__INIT;
	Ls__CheckReq creq = LS__CHECK_REQ__INIT;
	Ls__ControlResp *resp = NULL;
	const Ls__CheckResp *cr;
	int64_t timeout_ms = 0;
	int tp = 0, tw = 0, tf = 0, unanswered = 0, rv;
	size_t i, j;
	json_t *o = NULL, *nodes = NULL, *fleet = NULL;

	rv = common_opts(cli, argc, argv, &timeout_ms, NULL, check_usage);
	if (rv != CLI_OK)
		return rv < 0 ? CLI_OK : rv;
	if (timeout_ms > 0) {
		creq.has_timeout_ms = 1;
		creq.timeout_ms = (uint64_t)timeout_ms;
	}
	req.kind_case = LS__CONTROL_REQ__KIND_CHECK;
	req.check = &creq;
	/* The coordinator's own deadline ends the wait; this is a backstop. */
	if ((rv = cli_call(cli, &req, &resp,
	                   (int)(timeout_ms > 0 ? timeout_ms : 600000) +
	                       30000)) != CLI_OK)
		return rv;
	cr = resp->check;
	if (resp->kind_case != LS__CONTROL_RESP__KIND_CHECK || cr == NULL) {
		ls__control_resp__free_unpacked(resp, NULL);
		return CLI_FAIL;
	}
	if (cli->json) {
		o = json_object();
		nodes = json_array();
		fleet = json_array();
	}
	for (i = 0; i < cr->n_nodes; i++) {
		const Ls__NodeCheck *nc = cr->nodes[i];
		char roles[256];
		json_t *jn = NULL, *jc = NULL;

		join_roles(roles, sizeof(roles), nc->roles, nc->n_roles);
		if (!nc->answered || nc->report == NULL)
			unanswered++, tf++;
		if (cli->json) {
			jn = json_object();
			jc = json_array();
			json_object_set_new(jn, "node", json_string(nc->node));
			json_object_set_new(jn, "roles",
			                    roles_json(nc->roles, nc->n_roles));
			json_object_set_new(
			    jn, "answered",
			    json_boolean(nc->answered && nc->report != NULL));
			json_object_set_new(
			    jn, "gitlab_version",
			    nc->gitlab_version ? json_string(nc->gitlab_version)
			                       : json_null());
			if (nc->error)
				json_object_set_new(jn, "error",
				                    json_string(nc->error));
		} else {
			printf("%s (%s)%s%s\n", nc->node, roles,
			       nc->gitlab_version ? " " : "",
			       nc->gitlab_version ? nc->gitlab_version : "");
			if (nc->error)
				printf("  FAIL  %-44s %s\n", "agent",
				       nc->error);
		}
		for (j = 0; nc->report && j < nc->report->n_results; j++) {
			const Ls__CheckResult *r = nc->report->results[j];
			if (r->status == LS__CHECK_STATUS__CHECK_PASS)
				tp++;
			else if (r->status == LS__CHECK_STATUS__CHECK_WARN)
				tw++;
			else
				tf++;
			emit_result(cli, jc, r);
		}
		if (cli->json) {
			json_object_set_new(jn, "checks", jc);
			json_array_append_new(nodes, jn);
		}
	}
	if (!cli->json && cr->n_fleet > 0)
		printf("fleet\n");
	for (j = 0; j < cr->n_fleet; j++) {
		const Ls__CheckResult *r = cr->fleet[j];
		if (r->status == LS__CHECK_STATUS__CHECK_WARN)
			tw++;
		else if (r->status == LS__CHECK_STATUS__CHECK_FAIL)
			tf++;
		emit_result(cli, fleet, r);
	}
	if (cli->json) {
		json_t *sum = json_object();
		json_object_set_new(o, "ok", json_boolean(tf == 0));
		json_object_set_new(o, "nodes", nodes);
		json_object_set_new(o, "fleet", fleet);
		json_object_set_new(sum, "pass", json_integer(tp));
		json_object_set_new(sum, "warn", json_integer(tw));
		json_object_set_new(sum, "fail", json_integer(tf));
		json_object_set_new(sum, "unanswered",
		                    json_integer(unanswered));
		json_object_set_new(o, "summary", sum);
		cli_print_json(o);
	} else {
		printf("\n%zu node(s): %d pass, %d warn, %d fail%s\n",
		       cr->n_nodes, tp, tw, tf, tf ? " -- CHECKS FAILED" : "");
	}
	ls__control_resp__free_unpacked(resp, NULL);
	return tf ? CLI_FAIL : CLI_OK;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static const char ping_usage[] =
    "usage: lockstep ping [--json] [--count N] [--timeout DURATION]\n"
    "Sends a no-op operation to every connected node N times and reports\n"
    "round-trip latency (p50, p99) and operations per second.\n";

int cli_ping(struct cli *cli, int argc, char **argv)
{
	Ls__ControlReq req = LS__CONTROL_REQ__INIT;
	Ls__PingReq preq = LS__PING_REQ__INIT;
	int64_t timeout_ms = 10000, *samples = NULL, t0;
	long long count = 1, r;
	size_t ns = 0, cap = 0, i, nodes = 0;
	int failed = 0, rv;
	json_t *last = NULL;

	rv = common_opts(cli, argc, argv, &timeout_ms, &count, ping_usage);
	if (rv != CLI_OK)
		return rv < 0 ? CLI_OK : rv;
	preq.has_timeout_ms = 1;
	preq.timeout_ms = (uint64_t)timeout_ms;
	req.kind_case = LS__CONTROL_REQ__KIND_PING;
	req.ping = &preq;
	t0 = ls_mono_ms();
	for (r = 0; r < count; r++) {
		Ls__ControlResp *resp = NULL;
		const Ls__PingResp *pr;

		if ((rv = cli_call(cli, &req, &resp,
		                   (int)timeout_ms + 30000)) != CLI_OK) {
			free(samples);
			json_decref(last);
			return rv;
		}
		pr = resp->ping;
		if (resp->kind_case != LS__CONTROL_RESP__KIND_PING || !pr) {
			ls__control_resp__free_unpacked(resp, NULL);
			free(samples);
			json_decref(last);
			return CLI_FAIL;
		}
		json_decref(last);
		last = json_array();
		nodes = pr->n_nodes;
		failed = 0;
		for (i = 0; i < pr->n_nodes; i++) {
			const Ls__NodePing *np = pr->nodes[i];
			json_t *x = json_object();

			json_object_set_new(x, "node", json_string(np->node));
			json_object_set_new(x, "answered",
			                    json_boolean(np->answered));
			if (np->answered) {
				if (ns == cap) {
					size_t nc = cap ? cap * 2 : 256;
					int64_t *n2 =
					    realloc(samples, nc * sizeof(*n2));
					if (n2 == NULL)
						break;
					samples = n2;
					cap = nc;
				}
				samples[ns++] = (int64_t)np->rtt_us;
				json_object_set_new(
				    x, "rtt_us",
				    json_integer((json_int_t)np->rtt_us));
			} else {
				failed++;
				json_object_set_new(
				    x, "error",
				    json_string(np->error ? np->error
				                          : "no answer"));
			}
			json_array_append_new(last, x);
		}
		ls__control_resp__free_unpacked(resp, NULL);
	}
	{
		int64_t elapsed = ls_mono_ms() - t0, p50 = 0, p99 = 0;
		double ops =
		    elapsed > 0 ? (double)ns * 1000.0 / (double)elapsed : 0;

		if (ns > 0) {
			qsort(samples, ns, sizeof(*samples), cmp_i64);
			p50 = samples[(ns - 1) / 2];
			p99 = samples[(size_t)((double)(ns - 1) * 0.99)];
		}
		if (cli->json) {
			json_t *o = json_object();
			json_object_set_new(o, "nodes", last);
			json_object_set_new(o, "rounds", json_integer(count));
			json_object_set_new(o, "samples",
			                    json_integer((json_int_t)ns));
			json_object_set_new(o, "p50_us", json_integer(p50));
			json_object_set_new(o, "p99_us", json_integer(p99));
			json_object_set_new(o, "ops_per_second",
			                    json_real(ops));
			json_object_set_new(o, "elapsed_ms",
			                    json_integer(elapsed));
			last = NULL;
			cli_print_json(o);
		} else {
			for (i = 0; i < json_array_size(last); i++) {
				json_t *x = json_array_get(last, i);
				json_t *rtt = json_object_get(x, "rtt_us");
				printf("%-20s %s\n",
				       json_string_value(
				           json_object_get(x, "node")),
				       rtt ? "ok"
				           : json_string_value(
				                 json_object_get(x, "error")));
			}
			printf(
			    "%zu node(s), %lld round(s): p50 %.2f ms, p99 %.2f "
			    "ms, %.0f ops/s\n",
			    nodes, count, (double)p50 / 1000.0,
			    (double)p99 / 1000.0, ops);
		}
	}
	json_decref(last);
	free(samples);
	return failed ? CLI_FAIL : CLI_OK;
}
