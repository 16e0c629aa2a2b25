/*
 * lockstep upgrade plan --format text|markdown|json: the upgrade plan as
 * the document GitLab asks administrators to write before an upgrade,
 * every fact read from the fleet: the installation, the path, the checks
 * as they stand, each stop's steps, the rollback plan and the risks. The
 * content is built once as JSON (cli_upgrade_doc_render.c prints it as
 * text or Markdown), so the three formats carry the same facts. Nothing
 * in it is secret: it is made of facts, check results and the catalog.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cli_upgrade_doc.h"
#include "ls_error.h"
#include "ls_util.h"
#include "ls_version.h"
#include "os_support.h"

#define CALL_TIMEOUT_MS 30000
#define CHECK_TIMEOUT_MS (10 * 60 * 1000)

static const char *const components[] = {
    "gitaly", "praefect", "postgresql", "pgbouncer", "redis", "consul",
};

static int call(struct cli *cli, Ls__ControlReq *req, int timeout,
                Ls__ControlResp__KindCase want, Ls__ControlResp **resp)
{
	int rv = cli_call(cli, req, resp, timeout);

	if (rv != CLI_OK)
		return rv;
	if ((*resp)->kind_case != want) {
		fprintf(stderr, "lockstep: unexpected answer\n");
		ls__control_resp__free_unpacked(*resp, NULL);
		*resp = NULL;
		return CLI_FAIL;
	}
	return CLI_OK;
}

static int has_role(const Ls__NodeInfo *n, const char *role)
{
	size_t i;

	for (i = 0; i < n->n_roles; i++)
		if (strcmp(n->roles[i], role) == 0)
			return 1;
	return 0;
}

static json_t *strings(char **v, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static const char *fact(const Ls__NodeInfo *n, const char *v)
{
	return n->facts != NULL && v != NULL && v[0] != '\0' ? v : NULL;
}

static void set_str(json_t *o, const char *key, const char *v)
{
	if (v != NULL)
		json_object_set_new(o, key, json_string(v));
}

/* Rows in the order of their string `key` (a node's name): the document
 * reads the same whatever order the nodes enrolled in. A fleet has tens
 * of nodes: an insertion sort is plenty. */
static json_t *sort_by(json_t *arr, const char *key)
{
	size_t n = json_array_size(arr), i, j;

	for (i = 1; i < n; i++) {
		json_t *x = json_incref(json_array_get(arr, i));
		const char *k = json_string_value(json_object_get(x, key));
		for (j = i; j > 0; j--) {
			json_t *y = json_array_get(arr, j - 1);
			const char *ky =
			    json_string_value(json_object_get(y, key));
			if (strcmp(ky ? ky : "", k ? k : "") <= 0)
				break;
			json_array_set(arr, j, y);
		}
		json_array_set_new(arr, j, x);
	}
	return arr;
}

/* How GitLab is installed, on how many nodes, doing what, where. */
static json_t *installation(const Ls__StatusResp *sr)
{
	json_t *o = json_object(), *nodes = json_array(),
	       *comps = json_object(), *sites = json_object();
	size_t i, k, nlinux = 0, nhelm = 0, n = 0;

	for (i = 0; i < sr->n_nodes; i++) {
		const Ls__NodeInfo *ni = sr->nodes[i];
		const Ls__NodeFacts *f = ni->facts;
		json_t *x;
		const char *method;

		if (!ni->enrolled)
			continue;
		n++;
		x = json_pack("{s:s, s:o, s:s}", "name", ni->name, "roles",
		              strings(ni->roles, ni->n_roles), "site",
		              ni->site ? ni->site : "");
		set_str(x, "os", f ? fact(ni, f->os) : NULL);
		set_str(x, "gitlab_version",
		        f ? fact(ni, f->gitlab_version) : NULL);
		set_str(x, "edition", f ? fact(ni, f->gitlab_edition) : NULL);
		method = f ? fact(ni, f->install_method) : NULL;
		set_str(x, "install_method", method);
		if (f != NULL && f->has_staging_free_bytes)
			json_object_set_new(
			    x, "free_bytes",
			    json_integer((json_int_t)f->staging_free_bytes));
		json_array_append_new(nodes, x);
		if (method != NULL && strcmp(method, "helm") == 0)
			nhelm++;
		else if (method != NULL && strcmp(method, "linux-package") == 0)
			nlinux++;
		for (k = 0; k < sizeof(components) / sizeof(components[0]);
		     k++) {
			json_t *c;
			if (!has_role(ni, components[k]))
				continue;
			if ((c = json_object_get(comps, components[k])) ==
			    NULL) {
				c = json_array();
				json_object_set_new(comps, components[k], c);
			}
			json_array_append_new(c, json_string(ni->name));
		}
		if (has_role(ni, "geo-primary") ||
		    has_role(ni, "geo-secondary")) {
			const char *site =
			    ni->site && ni->site[0] ? ni->site : "(none)";
			json_t *s = json_object_get(sites, site);
			if (s == NULL) {
				s = json_pack("{s:s, s:[]}", "site", site,
				              "nodes");
				json_object_set_new(sites, site, s);
			}
			if (has_role(ni, "geo-primary"))
				json_object_set_new(s, "role",
				                    json_string("primary"));
			else if (json_object_get(s, "role") == NULL)
				json_object_set_new(s, "role",
				                    json_string("secondary"));
			json_array_append_new(json_object_get(s, "nodes"),
			                      json_string(ni->name));
		}
	}
	/* Nodes of a Geo site without a Geo role are in it too. */
	for (i = 0; i < sr->n_nodes; i++) {
		const Ls__NodeInfo *ni = sr->nodes[i];
		json_t *s = ni->site ? json_object_get(sites, ni->site) : NULL;
		if (s != NULL && ni->enrolled && !has_role(ni, "geo-primary") &&
		    !has_role(ni, "geo-secondary"))
			json_array_append_new(json_object_get(s, "nodes"),
			                      json_string(ni->name));
	}
	json_object_set_new(o, "method",
	                    json_string(nhelm && nlinux ? "mixed"
	                                : nhelm         ? "Helm chart"
	                                                : "Linux package"));
	json_object_set_new(o, "topology",
	                    json_string(n == 1 ? "single node" : "multi-node"));
	json_object_set_new(o, "node_count", json_integer((json_int_t)n));
	json_object_set_new(o, "nodes", sort_by(nodes, "name"));
	json_object_set_new(o, "components", comps);
	{
		json_t *arr = json_array(), *v;
		const char *key;
		json_object_foreach(sites, key, v)
		{
			json_array_append(arr, v);
		}
		json_decref(sites);
		json_object_set_new(o, "geo_sites", arr);
	}
	return o;
}

static const char *status_name(Ls__CheckStatus s)
{
	return s == LS__CHECK_STATUS__CHECK_FAIL   ? "fail"
	       : s == LS__CHECK_STATUS__CHECK_WARN ? "warn"
	                                           : "pass";
}

/* Checks as they stand: what fails or warns per node, the background
 * migrations, and room for the rollback backup on every node. */
static json_t *checks(const Ls__CheckResp *cr, const Ls__StatusResp *sr,
                      const Ls__BackupInfo *last, json_t *risks)
{
	json_t *o = json_object(), *nodes = json_array(), *bbm = json_array(),
	       *space = json_array();
	size_t i, k, npass = 0;

	for (i = 0; i < cr->n_nodes; i++) {
		const Ls__NodeCheck *nc = cr->nodes[i];
		json_t *x = json_pack("{s:s, s:b}", "node", nc->node,
		                      "answered", nc->answered),
		       *found = json_array();
		set_str(x, "error", nc->error);
		for (k = 0; nc->report && k < nc->report->n_results; k++) {
			const Ls__CheckResult *r = nc->report->results[k];
			if (strstr(r->name, "batched-background-migrations") &&
			    r->status != LS__CHECK_STATUS__CHECK_PASS) {
				json_array_append_new(
				    bbm,
				    json_pack("{s:s, s:s}", "node", nc->node,
				              "reason", r->reason));
				json_array_append_new(
				    risks,
				    json_sprintf(
				        "%s: %s; the first stop waits "
				        "for them (at most --bbm-timeout)",
				        nc->node, r->reason));
			}
			if (r->status == LS__CHECK_STATUS__CHECK_PASS) {
				npass++;
				continue;
			}
			json_array_append_new(
			    found, json_pack("{s:s, s:s, s:s}", "name", r->name,
			                     "status", status_name(r->status),
			                     "reason", r->reason));
			if (strcmp(r->name, "postgresql:replication-lag") == 0)
				json_array_append_new(
				    risks,
				    json_sprintf("%s: PostgreSQL replication "
				                 "is behind: %s",
				                 nc->node, r->reason));
			if (strncmp(r->name, "geo:replication:",
			            sizeof("geo:replication:") - 1) == 0)
				json_array_append_new(
				    risks,
				    json_sprintf(
				        "%s: Geo site %s lags: %s", nc->node,
				        r->name + sizeof("geo:replication:") -
				            1,
				        r->reason));
		}
		if (!nc->answered)
			json_array_append_new(
			    risks, json_sprintf("%s did not answer its checks: "
			                        "%s",
			                        nc->node,
			                        nc->error ? nc->error : "?"));
		json_object_set_new(x, "findings", found);
		json_array_append_new(nodes, x);
	}
	for (i = 0; i < cr->n_fleet; i++) {
		json_array_append_new(risks,
		                      json_sprintf("%s: %s", cr->fleet[i]->name,
		                                   cr->fleet[i]->reason));
	}
	for (i = 0; i < sr->n_nodes; i++) {
		const Ls__NodeFacts *f = sr->nodes[i]->facts;
		json_t *x;
		if (!sr->nodes[i]->enrolled || f == NULL ||
		    !f->has_staging_free_bytes)
			continue;
		x = json_pack("{s:s, s:I}", "node", sr->nodes[i]->name,
		              "free_bytes", (json_int_t)f->staging_free_bytes);
		if (last != NULL && last->has_size) {
			int enough = f->staging_free_bytes >= last->size;
			json_object_set_new(x, "enough", json_boolean(enough));
			if (!enough)
				json_array_append_new(
				    risks,
				    json_sprintf(
				        "%s has %llu MiB free for "
				        "backups; the last backup "
				        "took %llu MiB",
				        sr->nodes[i]->name,
				        (unsigned long long)(f->staging_free_bytes >>
				                             20),
				        (unsigned long long)(last->size >>
				                             20)));
		}
		json_array_append_new(space, x);
	}
	json_object_set_new(o, "passed", json_integer((json_int_t)npass));
	json_object_set_new(o, "nodes", nodes);
	json_object_set_new(o, "background_migrations", bbm);
	json_object_set_new(o, "free_space", sort_by(space, "node"));
	if (last != NULL && last->has_size)
		json_object_set_new(o, "last_backup_bytes",
		                    json_integer((json_int_t)last->size));
	return o;
}

/* The newest complete backup taken at the version the fleet runs. */
static const Ls__BackupInfo *latest_backup(const Ls__BackupListResp *bl,
                                           const char *version)
{
	const Ls__BackupInfo *best = NULL;
	size_t i, vl = strlen(version);

	for (i = 0; i < bl->n_backups; i++) {
		const Ls__BackupInfo *b = bl->backups[i];
		if (strcmp(b->state, "complete") != 0 ||
		    b->gitlab_version == NULL ||
		    strncmp(b->gitlab_version, version, vl) != 0 ||
		    (b->gitlab_version[vl] != '\0' &&
		     b->gitlab_version[vl] != '-'))
			continue;
		if (best == NULL || b->created_at > best->created_at)
			best = b;
	}
	return best;
}

/* Per stop: its version and its steps in order. */
static json_t *stops(const Ls__UpgradeResp *ur)
{
	json_t *a = json_array();
	size_t s, i;
	int downtime = strcmp(ur->mode, "downtime") == 0;

	for (s = 0; s < ur->n_stops; s++) {
		const char *v = ur->stops[s]->version;
		size_t vl = strlen(v);
		json_t *steps = json_array();
		size_t nmaint = 0, in_maint = 0;

		for (i = 0; i < ur->n_plan; i++) {
			const Ls__PlanStep *p = ur->plan[i];
			if (strncmp(p->name, v, vl) != 0 || p->name[vl] != ':')
				continue;
			if (strstr(p->name, ": maintenance mode on"))
				in_maint = 1;
			else if (strstr(p->name, ": maintenance mode off"))
				in_maint = 0;
			else if (in_maint)
				nmaint++;
			json_array_append_new(
			    steps,
			    json_pack("{s:i, s:s, s:s}", "seq", (int)p->seq,
			              "node", p->node[0] ? p->node : "-",
			              "step", p->name + vl + 2));
		}
		json_t *x = json_pack("{s:i, s:s, s:s, s:o}", "stop",
		                      (int)(s + 1), "version", v, "why",
		                      ur->stops[s]->why, "steps", steps);
		json_object_set_new(
		    x, "expected_downtime",
		    downtime ? json_sprintf("GitLab is in maintenance mode "
		                            "(read-only) and Puma and Sidekiq "
		                            "are stopped for the %zu steps "
		                            "between maintenance mode on and "
		                            "off",
		                            nmaint)
		             : json_string("none planned: one node at a time, "
		                           "Rails nodes restarted one by one "
		                           "with a readiness wait; requests to "
		                           "a node being restarted must be "
		                           "drained by the load balancer"));
		json_object_set_new(
		    x, "other_mode",
		    json_string(downtime
		                    ? "with --mode zero-downtime: no planned "
		                      "downtime, one node at a time"
		                    : "with --mode downtime: GitLab in "
		                      "maintenance mode and Puma and Sidekiq "
		                      "stopped from the first package to the "
		                      "last restart of the stop"));
		json_array_append_new(a, x);
	}
	return a;
}

static json_t *rollback(const Ls__UpgradeResp *ur, const Ls__BackupInfo *b,
                        json_t *risks)
{
	json_t *o = json_object();
	time_t now = time(NULL);

	json_object_set_new(
	    o, "per_stop",
	    json_string("each stop first takes a consistent fleet backup "
	                "(database, repositories, files, and the nodes' "
	                "gitlab-secrets.json and gitlab.rb sealed to the "
	                "fleet's backup key) at the version the fleet runs "
	                "then, before any node changes"));
	json_object_set_new(o, "secrets_and_configuration", json_true());
	json_object_set_new(
	    o, "command",
	    json_string("lockstep rollback RUN_ID [--to-stop N] (RUN_ID is "
	                "the upgrade run's id; without --to-stop, the last "
	                "stop's rollback point)"));
	json_object_set_new(
	    o, "how",
	    json_string("maintenance mode on, Puma and Sidekiq stopped, "
	                "every node the upgrade touched downgraded (package "
	                "removed, the rollback point's version installed, "
	                "gitlab-ctl reconfigure), the backup restored, "
	                "services started, every node verified against the "
	                "backup, lockstep check"));
	if (b != NULL) {
		json_t *x = json_pack(
		    "{s:s, s:s, s:I, s:I}", "id", b->id, "gitlab_version",
		    b->gitlab_version, "created_at", (json_int_t)b->created_at,
		    "age_seconds", (json_int_t)(now - b->created_at));
		if (b->has_size)
			json_object_set_new(x, "bytes",
			                    json_integer((json_int_t)b->size));
		if (b->has_verified_at) {
			json_object_set_new(x, "verified_at",
			                    json_integer(b->verified_at));
			json_object_set_new(x, "verify_ok",
			                    json_boolean(b->verify_ok));
			if (!b->verify_ok)
				json_array_append_new(
				    risks, json_sprintf("backup %s failed its "
				                        "last verify",
				                        b->id));
		}
		if (b->has_drilled_at) {
			json_object_set_new(x, "drilled_at",
			                    json_integer(b->drilled_at));
			json_object_set_new(x, "drill_ok",
			                    json_boolean(b->drill_ok));
			if (!b->drill_ok)
				json_array_append_new(
				    risks,
				    json_sprintf(
				        "the last restore drill of "
				        "backup %s failed: run `lockstep "
				        "backup drill %s` again and "
				        "read its report",
				        b->id, b->id));
		} else {
			json_array_append_new(
			    risks, json_sprintf(
			               "backup %s was never drilled: `lockstep "
			               "backup drill %s` restores it into "
			               "scratch space and compares",
			               b->id, b->id));
		}
		json_object_set_new(o, "existing_backup", x);
		json_object_set_new(
		    o, "first_stop",
		    json_sprintf(
		        "`lockstep upgrade run --backup-id %s` uses "
		        "it as the first stop's rollback point instead "
		        "of taking a new one",
		        b->id));
	} else {
		json_array_append_new(
		    risks, json_sprintf("no complete backup at GitLab %s yet: "
		                        "the first stop takes one",
		                        ur->from));
	}
	return o;
}

/*
 * Every node whose OS release has no GitLab package at some step of the
 * path, with the last GitLab version there is for it (GitLab's supported
 * operating systems table, data/supported-os.txt).
 */
static json_t *os_compat(const Ls__UpgradeResp *ur, const Ls__StatusResp *sr,
                         const char *table, json_t *risks)
{
	struct os_support tab;
	const char *path = table ? table : os_support_data_path();
	json_t *o = json_object(), *bad = json_array(), *unknown = json_array();
	char err[512], last[32];
	size_t i, k;

	if (path == NULL || os_support_load(path, &tab, err, sizeof(err)) < 0) {
		json_object_set_new(
		    o, "error",
		    json_sprintf("no supported operating systems table: %s",
		                 path ? err : "path too long"));
		json_object_set_new(o, "unsupported", bad);
		json_object_set_new(o, "unknown", unknown);
		return o;
	}
	json_object_set_new(o, "source", json_string(path));
	for (i = 0; i < sr->n_nodes; i++) {
		const Ls__NodeInfo *ni = sr->nodes[i];
		const Ls__NodeFacts *f = ni->facts;
		const char *os = f && f->os ? f->os : "";

		if (!ni->enrolled)
			continue;
		if (f == NULL || f->os_id == NULL || f->os_version_id == NULL ||
		    f->os_id[0] == '\0') {
			json_array_append_new(
			    unknown, json_sprintf("%s has not reported its OS "
			                          "release",
			                          ni->name));
			continue;
		}
		for (k = 0; k < ur->n_stops; k++) {
			struct ls_version v;
			const char *sv = ur->stops[k]->version;
			int rv;

			if (ls_version_parse(sv, strlen(sv), &v) < 0)
				continue;
			rv = os_support_check(&tab, f->os_id, f->os_version_id,
			                      &v, last, sizeof(last));
			if (rv == LS_ENOENT) {
				json_array_append_new(
				    unknown,
				    json_sprintf("%s runs %s %s (%s), which "
				                 "GitLab's table does not list",
				                 ni->name, f->os_id,
				                 f->os_version_id, os));
				break;
			}
			if (rv != 0)
				continue;
			json_t *x = json_pack(
			    "{s:s, s:s, s:s, s:s, s:s, s:o}", "node", ni->name,
			    "os_id", f->os_id, "os_version_id",
			    f->os_version_id, "first_missing", sv, "last", last,
			    "text",
			    json_sprintf(
			        "%s runs %s %s, which has no GitLab "
			        "package for %s (step %zu of the "
			        "path); the OS has GitLab %s: move the "
			        "node to a supported OS first",
			        ni->name, f->os_id, f->os_version_id, sv, k + 1,
			        last));
			json_array_append_new(
			    risks, json_incref(json_object_get(x, "text")));
			json_array_append_new(bad, x);
			break;
		}
	}
	os_support_free(&tab);
	json_object_set_new(o, "unsupported", bad);
	json_object_set_new(o, "unknown", unknown);
	return o;
}

int cli_upgrade_doc(struct cli *cli, const Ls__UpgradeResp *ur, json_t *plan,
                    const struct cli_upgrade_doc_opts *o)
{
	Ls__ControlReq req = LS__CONTROL_REQ__INIT;
	Ls__StatusReq sq = LS__STATUS_REQ__INIT;
	Ls__CheckReq cq = LS__CHECK_REQ__INIT;
	Ls__BackupListReq lq = LS__BACKUP_LIST_REQ__INIT;
	Ls__ControlResp *st = NULL, *ck = NULL, *bl = NULL;
	const Ls__BackupInfo *last = NULL;
	json_t *doc = NULL, *risks = json_array(), *path = NULL;
	char when[32];
	time_t now = time(NULL);
	struct tm tm;
	size_t i;
	int rv;

	/* The operator's own table: a bad one is a usage error, before
	 * anything is asked of the fleet. */
	if (o->os_table != NULL) {
		struct os_support tab;
		char err[512];
		if (os_support_load(o->os_table, &tab, err, sizeof(err)) < 0) {
			fprintf(stderr, "lockstep upgrade plan: %s\n", err);
			rv = CLI_USAGE;
			goto out;
		}
		os_support_free(&tab);
	}
	/* The checks first: their answers carry each node's facts afresh,
	 * which the status then reports. */
	if (!cli->json && o->output != NULL)
		fprintf(stderr, "running lockstep check on every node...\n");
	req.kind_case = LS__CONTROL_REQ__KIND_CHECK;
	req.check = &cq;
	if ((rv = call(cli, &req, CHECK_TIMEOUT_MS + CALL_TIMEOUT_MS,
	               LS__CONTROL_RESP__KIND_CHECK, &ck)) != CLI_OK)
		goto out;
	req.kind_case = LS__CONTROL_REQ__KIND_STATUS;
	req.status = &sq;
	if ((rv = call(cli, &req, CALL_TIMEOUT_MS,
	               LS__CONTROL_RESP__KIND_STATUS_RESP, &st)) != CLI_OK)
		goto out;
	req.kind_case = LS__CONTROL_REQ__KIND_BACKUP_LIST;
	req.backup_list = &lq;
	if ((rv = call(cli, &req, CALL_TIMEOUT_MS,
	               LS__CONTROL_RESP__KIND_BACKUP_LIST, &bl)) != CLI_OK)
		goto out;
	last = latest_backup(bl->backup_list, ur->from);

	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	path = json_array();
	for (i = 0; i < ur->n_stops; i++) {
		json_t *x =
		    json_pack("{s:s, s:s}", "version", ur->stops[i]->version,
		              "why", ur->stops[i]->why);
		set_str(x, "comment", ur->stops[i]->comment);
		json_array_append_new(path, x);
	}
	doc = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "generated_at", when,
	                "from", ur->from, "to", ur->to, "mode", ur->mode,
	                "installation", installation(st->status_resp), "path",
	                path);
	set_str(doc, "deploy_node", ur->deploy_node);
	json_object_set_new(doc, "path_notes",
	                    json_incref(json_object_get(plan, "notes")));
	json_object_set_new(doc, "repositories",
	                    json_incref(json_object_get(plan, "nodes")));
	json_object_set_new(doc, "os_compatibility",
	                    os_compat(ur, st->status_resp, o->os_table, risks));
	json_object_set_new(doc, "checks",
	                    checks(ck->check, st->status_resp, last, risks));
	json_object_set_new(doc, "stops", stops(ur));
	json_object_set_new(doc, "rollback", rollback(ur, last, risks));
	json_object_set_new(doc, "risks", risks);
	risks = NULL;
	rv = cli_upgrade_doc_write(doc, o->format, o->output);
out:
	json_decref(doc);
	json_decref(risks);
	if (st)
		ls__control_resp__free_unpacked(st, NULL);
	if (ck)
		ls__control_resp__free_unpacked(ck, NULL);
	if (bl)
		ls__control_resp__free_unpacked(bl, NULL);
	return rv;
}
