/*
 * A cutover's steps without the run around them: the operation a step
 * sends, and what its answer means (gitlab-facts §8). No I/O.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_cutover.h"
#include "ls_error.h"
#include "ls_util.h"
#include "ls_version.h"

/* Appends "; "-separated text to a fixed buffer, truncating. */
static void add(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add(char *buf, size_t len, const char *fmt, ...)
{
	size_t used = strnlen(buf, len);
	va_list ap;

	if (used + 3 >= len)
		return;
	if (used > 0) {
		memcpy(buf + used, "; ", 3);
		used += 2;
	}
	va_start(ap, fmt);
	vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
}

int co_version_core(const char *v, char *out, size_t len)
{
	struct ls_version pv;
	const char *p = v;

	if (p == NULL)
		return LS_EINVAL;
	if (*p == 'v')
		p++;
	if (ls_version_parse(p, strcspn(p, "-+"), &pv) < 0)
		return LS_EINVAL;
	return ls_fmt(out, len, "%u.%u.%u", (unsigned)pv.major,
	              (unsigned)pv.minor, (unsigned)pv.patch);
}

void co_step_op(const Ls__CutoverStepDef *d, const Ls__CutoverRunParams *p,
                const struct coord_node *n, char **roles, Ls__Operation *op,
                Ls__RunChecks *rc, Ls__RepoFsck *fs, Ls__KubeQuery *kq,
                Ls__KubeTarget *kt, Ls__StorageCounts *sc)
{
	ls__operation__init(op);
	switch ((enum co_kind)d->kind) {
	case CO_SERVICES:
		ls__run_checks__init(rc);
		rc->roles = roles;
		rc->n_roles =
		    n->nroles < COORD_MAX_ROLES ? n->nroles : COORD_MAX_ROLES;
		/* gitlab-ctl status is all a service check needs: the
		 * backup scope leaves out fsck samples and replication. */
		rc->has_backup = 1;
		rc->backup = 1;
		op->kind_case = LS__OPERATION__KIND_RUN_CHECKS;
		op->run_checks = rc;
		break;
	case CO_FSCK:
		ls__repo_fsck__init(fs);
		op->kind_case = LS__OPERATION__KIND_REPO_FSCK;
		op->repo_fsck = fs;
		break;
	case CO_RELEASE:
		ls__kube_target__init(kt);
		kt->release = p->req->release;
		kt->namespace_ = p->req->namespace_;
		ls__kube_query__init(kq);
		kq->target = kt;
		op->kind_case = LS__OPERATION__KIND_KUBE_QUERY;
		op->kube_query = kq;
		break;
	case CO_STORAGE:
		ls__storage_counts__init(sc);
		op->kind_case = LS__OPERATION__KIND_STORAGE_COUNTS;
		op->storage_counts = sc;
		break;
	default:
		/* Not a prerequisite: coord_cutover_run.c sends it. */
		break;
	}
}

static void judge_services(const Ls__CheckReport *r, char *why, size_t wl,
                           char *det, size_t dl)
{
	size_t i, up = 0;

	for (i = 0; i < r->n_results; i++) {
		const Ls__CheckResult *cr = r->results[i];
		if (strncmp(cr->name, "gitlab-ctl", 10) != 0)
			continue;
		if (cr->status == LS__CHECK_STATUS__CHECK_FAIL)
			add(why, wl, "%s: %s", cr->name, cr->reason);
		else
			up++;
	}
	if (why[0] == '\0' && up == 0)
		add(why, wl, "gitlab-ctl status listed no service");
	ls_fmt(det, dl, "%zu services up", up);
}

static void judge_fsck(const Ls__RepoFsckResult *r, char *why, size_t wl,
                       char *det, size_t dl)
{
	size_t i;

	if (r->n_failures > 0) {
		add(why, wl, "%zu of %llu repositories fail git fsck",
		    r->n_failures, (unsigned long long)r->checked);
		for (i = 0; i < r->n_failures && i < 5; i++)
			add(why, wl, "%s:%s: %s", r->failures[i]->storage,
			    r->failures[i]->relative_path,
			    r->failures[i]->error);
		if (r->n_failures > 5)
			add(why, wl, "and %zu more", r->n_failures - 5);
	}
	ls_fmt(det, dl, "%llu repositories checked with git fsck",
	       (unsigned long long)r->checked);
}

static void judge_release(const Ls__CutoverRunParams *p,
                          const Ls__KubeQueryResult *r, char *why, size_t wl,
                          char *det, size_t dl)
{
	const char *rel = p->req->release, *ns = p->req->namespace_;
	char have[32] = "", deps[300] = "";
	size_t i;

	if (!r->release_found) {
		add(why, wl,
		    "no Helm release %s in namespace %s (helm list): install "
		    "the chart at GitLab %s first",
		    rel, ns, p->fleet_version);
		return;
	}
	if (r->status == NULL || strcmp(r->status, "deployed") != 0)
		add(why, wl, "release %s is %s, not deployed", rel,
		    r->status ? r->status : "(no status)");
	if (co_version_core(r->app_version, have, sizeof(have)) < 0)
		add(why, wl,
		    "release %s reports app version '%s', not a GitLab version",
		    rel, r->app_version ? r->app_version : "");
	else if (strcmp(have, p->fleet_version) != 0)
		add(why, wl,
		    "the chart runs GitLab %s and the fleet %s: a backup "
		    "restores only onto the exact same version",
		    have, p->fleet_version);
	if (r->object_storage_secret == NULL ||
	    r->object_storage_secret[0] == '\0')
		add(why, wl,
		    "release %s has no object storage configured "
		    "(global.appConfig.object_store in its values)",
		    rel);
	else if (!r->object_storage_secret_found)
		add(why, wl,
		    "object storage connection secret %s does not exist in "
		    "namespace %s",
		    r->object_storage_secret, ns);
	if (r->toolbox_pod == NULL || r->toolbox_pod[0] == '\0')
		add(why, wl, "release %s has no ready toolbox pod", rel);
	for (i = 0; i < r->n_deployments; i++) {
		const Ls__KubeDeployment *d = r->deployments[i];
		if (d->app == NULL || (strcmp(d->app, "webservice") != 0 &&
		                       strcmp(d->app, "sidekiq") != 0))
			continue;
		add(deps, sizeof(deps), "%s=%u", d->name,
		    (unsigned)d->replicas);
	}
	ls_fmt(det, dl,
	       "%s, GitLab %s, object storage secret %s, toolbox pod %s, %zu "
	       "chart Secrets to replace%s%s",
	       r->chart ? r->chart : "?", have[0] ? have : "?",
	       r->object_storage_secret && r->object_storage_secret[0]
	           ? r->object_storage_secret
	           : "(none)",
	       r->toolbox_pod && r->toolbox_pod[0] ? r->toolbox_pod : "(none)",
	       r->n_secrets_present, deps[0] ? "; scaled to 0: " : "", deps);
}

static void judge_storage(const Ls__StorageCountsResult *r, char *det,
                          size_t dl)
{
	char local[600] = "", errs[400] = "";
	size_t i;

	for (i = 0; i < r->n_counts; i++) {
		const Ls__StorageCount *s = r->counts[i];
		if (s->error != NULL && s->error[0] != '\0')
			add(errs, sizeof(errs), "%s: %s", s->component,
			    s->error);
		else if (s->local > 0)
			add(local, sizeof(local), "%s %llu", s->component,
			    (unsigned long long)s->local);
	}
	ls_fmt(det, dl, "%s%s%s%s",
	       local[0] ? "on local storage (rows): "
	                : "everything in object storage",
	       local, errs[0] ? "; not counted: " : "", errs);
}

void co_judge(const Ls__CutoverStepDef *d, const Ls__CutoverRunParams *p,
              const Ls__OpResult *res, char *why, size_t whylen, char *detail,
              size_t detlen)
{
	why[0] = '\0';
	detail[0] = '\0';
	if (res == NULL) {
		ls_fmt(why, whylen, "no answer");
		return;
	}
	if (res->status < 0) {
		ls_fmt(why, whylen, "%s",
		       res->error ? res->error : ls_strerror(res->status));
		return;
	}
	switch ((enum co_kind)d->kind) {
	case CO_SERVICES:
		if (res->kind_case != LS__OP_RESULT__KIND_CHECKS)
			break;
		judge_services(res->checks, why, whylen, detail, detlen);
		return;
	case CO_FSCK:
		if (res->kind_case != LS__OP_RESULT__KIND_REPO_FSCK)
			break;
		judge_fsck(res->repo_fsck, why, whylen, detail, detlen);
		return;
	case CO_RELEASE:
		if (res->kind_case != LS__OP_RESULT__KIND_KUBE_QUERY)
			break;
		judge_release(p, res->kube_query, why, whylen, detail, detlen);
		return;
	case CO_STORAGE:
		if (res->kind_case != LS__OP_RESULT__KIND_STORAGE_COUNTS)
			break;
		judge_storage(res->storage_counts, detail, detlen);
		return;
	default:
		break;
	}
	ls_fmt(why, whylen, "the node answered with another kind of result");
}

int co_keep(const Ls__CutoverStepDef *d, const Ls__OpResult *res,
            Ls__CutoverStepResult *r)
{
	const Ls__KubeQueryResult *q;
	size_t i;

	if (d->kind != CO_RELEASE || res == NULL ||
	    res->kind_case != LS__OP_RESULT__KIND_KUBE_QUERY)
		return 0;
	q = res->kube_query;
	if ((r->replicas =
	         calloc(q->n_deployments + 1, sizeof(*r->replicas))) == NULL)
		return LS_ENOMEM;
	/* The deployments a restore stops: GitLab's procedure scales the
	 * Rails ones (webservice, sidekiq) to 0 while the database loads. */
	for (i = 0; i < q->n_deployments; i++) {
		Ls__KubeDeployment *k = q->deployments[i];
		if (k->app != NULL && (strcmp(k->app, "webservice") == 0 ||
		                       strcmp(k->app, "sidekiq") == 0))
			r->replicas[r->n_replicas++] = k;
	}
	return 0;
}
