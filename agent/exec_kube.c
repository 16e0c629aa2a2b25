/*
 * KubeQuery, KubeScale and KubeRestartPods: what a cutover asks of the
 * chart's release, read from helm's and kubectl's JSON (jansson).
 */
#include "exec_kube.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "kube_cmd.h"
#include "ls_error.h"
#include "ls_log.h"
#include "ls_util.h"

#define JSON_MAX (16 * 1024 * 1024) /* one listing's stdout */
#define NAMES_MAX (1024 * 1024)     /* `get secrets -o name` */
#define DEPLOY_MAX 256
#define POLL_MS 1000

/* The Secrets a cutover replaces (gitlab-facts §8), after "<release>-". */
const char *const kube_chart_secrets[] = {
    "rails-secret",
    "gitlab-shell-secret",
    "gitlab-workhorse-secret",
    "gitaly-secret",
    "registry-httpsecret",
    "registry-secret",
    "gitlab-pages-secret",
    "gitlab-kas-secret",
    "kas-private-api",
    "incoming-email-auth-token",
};
const size_t kube_chart_secrets_n =
    sizeof(kube_chart_secrets) / sizeof(kube_chart_secrets[0]);

int kube_name_ok(const char *s, size_t max)
{
	size_t i, n = s ? strlen(s) : 0;

	if (n == 0 || n > max || s[0] == '-' || s[n - 1] == '-')
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

int kube_target_ok(const Ls__KubeTarget *t, char *err, size_t errlen)
{
	if (t == NULL) {
		ls_fmt(err, errlen, "no release given");
		return LS_EINVAL;
	}
	if (!kube_name_ok(t->release, 53)) {
		ls_fmt(err, errlen,
		       "release name '%.80s' is not a valid Helm release name "
		       "(lowercase letters, digits and '-', at most 53)",
		       t->release ? t->release : "");
		return LS_EINVAL;
	}
	if (!kube_name_ok(t->namespace_, 63)) {
		ls_fmt(err, errlen,
		       "namespace '%.80s' is not a valid Kubernetes namespace",
		       t->namespace_ ? t->namespace_ : "");
		return LS_EINVAL;
	}
	return 0;
}

/* Runs c and parses its stdout as JSON. */
static int run_json(const struct agent_config *cfg, struct kube_cmd *c,
                    json_t **out, char *err, size_t errlen)
{
	struct ls_exec_result res;
	json_error_t je;
	int rv = kube_run(cfg, c, NULL, 0, JSON_MAX, 0, &res, err, errlen);

	*out = NULL;
	if (rv == 0) {
		*out = json_loadb((const char *)res.out, res.out_len, 0, &je);
		if (*out == NULL) {
			ls_fmt(err, errlen, "%s: output is not JSON (%s)",
			       c->what, je.text);
			rv = LS_EPROTO;
		}
	}
	ls_exec_result_free(&res);
	return rv;
}

/* o's value at a dotted path, or NULL. */
static int dup_into(char **dst, const char *s)
{
	*dst = strdup(s ? s : "");
	return *dst == NULL ? LS_ENOMEM : 0;
}

static int release_info(const struct agent_config *cfg, const Ls__KubeTarget *t,
                        Ls__KubeQueryResult *r, char *err, size_t errlen)
{
	struct kube_cmd c;
	json_t *list = NULL, *el;
	size_t i;
	int rv;

	kube_helm(&c, cfg, t->namespace_, "helm list");
	kube_args(&c, "list", "-o", "json", NULL);
	if ((rv = run_json(cfg, &c, &list, err, errlen)) < 0)
		return rv;
	if (!json_is_array(list)) {
		ls_fmt(err, errlen, "helm list: output is not a JSON array");
		rv = LS_EPROTO;
		goto out;
	}
	json_array_foreach(list, i, el)
	{
		const char *name = kube_jstr(el, "name");
		if (name == NULL || strcmp(name, t->release) != 0)
			continue;
		r->release_found = 1;
		if ((rv = dup_into(&r->chart, kube_jstr(el, "chart"))) < 0 ||
		    (rv = dup_into(&r->app_version,
		                   kube_jstr(el, "app_version"))) < 0 ||
		    (rv = dup_into(&r->status, kube_jstr(el, "status"))) < 0)
			goto out;
		break;
	}
out:
	json_decref(list);
	return rv;
}

/* The Secret names of the namespace (`get secrets -o name`: no data). */
static int secret_names(const struct agent_config *cfg, const char *ns,
                        struct ls_exec_result *res, char *err, size_t errlen)
{
	struct kube_cmd c;

	kube_kubectl(&c, cfg, ns, "kubectl get secrets");
	kube_args(&c, "get", "secrets", "-o", "name", NULL);
	return kube_run(cfg, &c, NULL, 0, NAMES_MAX, 0, res, err, errlen);
}

static int has_line(const struct ls_exec_result *res, const char *line)
{
	const char *p = (const char *)res->out, *end = p + res->out_len;
	size_t n = strlen(line);

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (len == n && memcmp(p, line, n) == 0)
			return 1;
		p += len + 1;
	}
	return 0;
}

static int values_info(const struct agent_config *cfg, const Ls__KubeTarget *t,
                       Ls__KubeQueryResult *r, char *err, size_t errlen)
{
	struct ls_exec_result names;
	json_t *v = NULL;
	const char *secret = NULL;
	char line[300];
	size_t i, n = 0;
	int rv;

	memset(&names, 0, sizeof(names));
	if ((rv = kube_values(cfg, t, &v, err, errlen)) < 0)
		return rv;
	if (kube_jtrue(v, "global.appConfig.object_store.enabled"))
		secret = kube_jstr(
		    v, "global.appConfig.object_store.connection.secret");
	r->has_registry_database = 1;
	r->registry_database = kube_jtrue(v, "registry.database.enabled");
	if ((rv = dup_into(&r->object_storage_secret, secret)) < 0)
		goto out;
	if ((rv = secret_names(cfg, t->namespace_, &names, err, errlen)) < 0)
		goto out;
	r->has_object_storage_secret_found = 1;
	if (secret != NULL) {
		ls_fmt(line, sizeof(line), "secret/%s", secret);
		r->object_storage_secret_found = has_line(&names, line);
	}
	r->secrets_present = calloc(kube_chart_secrets_n, sizeof(char *));
	if (r->secrets_present == NULL) {
		rv = LS_ENOMEM;
		goto out;
	}
	for (i = 0; i < kube_chart_secrets_n; i++) {
		ls_fmt(line, sizeof(line), "secret/%s-%s", t->release,
		       kube_chart_secrets[i]);
		if (!has_line(&names, line))
			continue;
		if ((rv = dup_into(&r->secrets_present[n], line + 7)) < 0)
			goto out;
		r->n_secrets_present = ++n;
	}
out:
	ls_exec_result_free(&names);
	json_decref(v);
	return rv;
}

/* Deployments of the release (label release=NAME) into *v. */
static int deployments(const struct agent_config *cfg, const Ls__KubeTarget *t,
                       Ls__KubeDeployment ***v, size_t *n, char *err,
                       size_t errlen)
{
	struct kube_cmd c;
	char sel[80];
	json_t *list = NULL, *el;
	size_t i;
	int rv;

	*v = NULL;
	*n = 0;
	ls_fmt(sel, sizeof(sel), "release=%s", t->release);
	kube_kubectl(&c, cfg, t->namespace_, "kubectl get deployments");
	kube_args(&c, "get", "deployments", "-l", sel, "-o", "json", NULL);
	if ((rv = run_json(cfg, &c, &list, err, errlen)) < 0)
		return rv;
	el = kube_jpath(list, "items");
	if (!json_is_array(el) || json_array_size(el) > DEPLOY_MAX) {
		ls_fmt(err, errlen, "kubectl get deployments: no items list");
		rv = LS_EPROTO;
		goto out;
	}
	*v = calloc(json_array_size(el) + 1, sizeof(**v));
	if (*v == NULL) {
		rv = LS_ENOMEM;
		goto out;
	}
	json_array_foreach(kube_jpath(list, "items"), i, el)
	{
		Ls__KubeDeployment *d = malloc(sizeof(*d));
		json_t *rep = kube_jpath(el, "spec.replicas"),
		       *ready = kube_jpath(el, "status.readyReplicas");
		if (d == NULL) {
			rv = LS_ENOMEM;
			goto out;
		}
		ls__kube_deployment__init(d);
		(*v)[(*n)++] = d;
		if ((rv = dup_into(&d->name, kube_jstr(el, "metadata.name"))) <
		        0 ||
		    (rv = dup_into(&d->app,
		                   kube_jstr(el, "metadata.labels.app"))) < 0)
			goto out;
		/* spec.replicas defaults to 1 when left out. */
		d->replicas =
		    json_is_integer(rep) && json_integer_value(rep) >= 0
		        ? (uint32_t)json_integer_value(rep)
		        : 1;
		d->has_ready = 1;
		d->ready =
		    json_is_integer(ready) && json_integer_value(ready) > 0
		        ? (uint32_t)json_integer_value(ready)
		        : 0;
	}
out:
	json_decref(list);
	return rv;
}

static int get_pods(const struct agent_config *cfg, const Ls__KubeTarget *t,
                    json_t **list, char *err, size_t errlen)
{
	struct kube_cmd c;
	char sel[80];
	int rv;

	ls_fmt(sel, sizeof(sel), "release=%s", t->release);
	kube_kubectl(&c, cfg, t->namespace_, "kubectl get pods");
	kube_args(&c, "get", "pods", "-l", sel, "-o", "json", NULL);
	rv = run_json(cfg, &c, list, err, errlen);
	if (rv == 0 && !json_is_array(kube_jpath(*list, "items"))) {
		ls_fmt(err, errlen, "kubectl get pods: no items list");
		json_decref(*list);
		*list = NULL;
		rv = LS_EPROTO;
	}
	return rv;
}

/* The name of the first ready pod at or after items[*i] whose app label is
 * app, with *i just past it; NULL when there is none. */
static const char *next_ready(json_t *list, const char *app, size_t *i)
{
	json_t *items = kube_jpath(list, "items");
	int finished;

	for (; *i < json_array_size(items); (*i)++) {
		json_t *p = json_array_get(items, *i);
		const char *a = kube_jstr(p, "metadata.labels.app");
		const char *name = kube_jstr(p, "metadata.name");
		if (a != NULL && name != NULL && strcmp(a, app) == 0 &&
		    kube_pod_ready(p, &finished)) {
			(*i)++;
			return name;
		}
	}
	return NULL;
}

/* The first ready pod whose app label is app, or "". */
static int ready_pod(json_t *list, const char *app, char **out)
{
	size_t i = 0;
	const char *name = next_ready(list, app, &i);

	return dup_into(out, name != NULL ? name : "");
}

int exec_kube_ready_pod(const struct agent_config *cfg, const Ls__KubeTarget *t,
                        const char *app, char **pod, char *err, size_t errlen)
{
	json_t *pods = NULL;
	int rv;

	*pod = NULL;
	if ((rv = get_pods(cfg, t, &pods, err, errlen)) < 0)
		return rv;
	rv = ready_pod(pods, app, pod);
	json_decref(pods);
	return rv;
}

int kube_ready_pods(const struct agent_config *cfg, const Ls__KubeTarget *t,
                    const char *app, char ***names, size_t *n, char *err,
                    size_t errlen)
{
	json_t *pods = NULL;
	const char *name;
	size_t i = 0, cap = 0;
	int rv;

	*names = NULL;
	*n = 0;
	if ((rv = get_pods(cfg, t, &pods, err, errlen)) < 0)
		return rv;
	while ((name = next_ready(pods, app, &i)) != NULL)
		if ((rv = ls_names_push(names, n, &cap, name)) < 0)
			break;
	json_decref(pods);
	if (rv < 0) {
		ls_names_free(*names, *n);
		*names = NULL;
		*n = 0;
	}
	return rv;
}

int kube_values(const struct agent_config *cfg, const Ls__KubeTarget *t,
                json_t **out, char *err, size_t errlen)
{
	struct kube_cmd c;

	kube_helm(&c, cfg, t->namespace_, "helm get values");
	kube_args(&c, "get", "values", t->release, "-o", "json", NULL);
	return run_json(cfg, &c, out, err, errlen);
}

int exec_kube_query(const struct agent_config *cfg, const Ls__KubeQuery *q,
                    Ls__KubeQueryResult **out, char *err, size_t errlen)
{
	Ls__KubeQueryResult *r = malloc(sizeof(*r));
	json_t *pods = NULL;
	size_t n = 0;
	int rv;

	*out = r;
	if (r == NULL)
		return LS_ENOMEM;
	ls__kube_query_result__init(r);
	if ((rv = kube_target_ok(q->target, err, errlen)) < 0 ||
	    (rv = release_info(cfg, q->target, r, err, errlen)) < 0 ||
	    !r->release_found)
		return rv;
	if ((rv = values_info(cfg, q->target, r, err, errlen)) < 0 ||
	    (rv = deployments(cfg, q->target, &r->deployments, &n, err,
	                      errlen)) < 0)
		goto out;
	r->n_deployments = n;
	if ((rv = get_pods(cfg, q->target, &pods, err, errlen)) < 0)
		goto out;
	if ((rv = ready_pod(pods, "toolbox", &r->toolbox_pod)) < 0 ||
	    (rv = ready_pod(pods, "registry", &r->registry_pod)) < 0)
		goto out;
out:
	r->n_deployments = n;
	json_decref(pods);
	return rv;
}

static const Ls__KubeDeployment *find_dep(Ls__KubeDeployment **v, size_t n,
                                          const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i]->name, name) == 0)
			return v[i];
	return NULL;
}

int exec_kube_scale(const struct agent_config *cfg, const Ls__KubeScale *s,
                    Ls__KubeScaleResult **out, char *err, size_t errlen)
{
	Ls__KubeScaleResult *r = malloc(sizeof(*r));
	Ls__KubeDeployment **have = NULL;
	size_t i, nhave = 0;
	int rv;

	*out = r;
	if (r == NULL)
		return LS_ENOMEM;
	ls__kube_scale_result__init(r);
	if ((rv = kube_target_ok(s->target, err, errlen)) < 0 ||
	    (rv = deployments(cfg, s->target, &have, &nhave, err, errlen)) < 0)
		goto out;
	/* Every name is checked before anything is scaled: a half-scaled
	 * release is what this must not leave. */
	for (i = 0; i < s->n_deployments; i++) {
		const char *name = s->deployments[i]->name;
		if (!kube_name_ok(name, 253) ||
		    find_dep(have, nhave, name) == NULL) {
			ls_fmt(err, errlen,
			       "release %s has no deployment '%.100s'",
			       s->target->release, name);
			rv = LS_ENOENT;
			goto out;
		}
	}
	r->before = calloc(s->n_deployments + 1, sizeof(*r->before));
	if (r->before == NULL) {
		rv = LS_ENOMEM;
		goto out;
	}
	for (i = 0; i < s->n_deployments; i++) {
		const Ls__KubeDeployment *d =
		    find_dep(have, nhave, s->deployments[i]->name);
		Ls__KubeDeployment *b = malloc(sizeof(*b));
		if (b == NULL) {
			rv = LS_ENOMEM;
			goto out;
		}
		ls__kube_deployment__init(b);
		r->before[r->n_before++] = b;
		b->replicas = d->replicas;
		if ((rv = dup_into(&b->name, d->name)) < 0 ||
		    (rv = dup_into(&b->app, d->app)) < 0)
			goto out;
	}
	for (i = 0; i < s->n_deployments; i++) {
		struct kube_cmd c;
		struct ls_exec_result res;
		char rep[32];

		ls_fmt(rep, sizeof(rep), "--replicas=%u",
		       (unsigned)s->deployments[i]->replicas);
		kube_kubectl(&c, cfg, s->target->namespace_, "kubectl scale");
		kube_args(&c, "scale", "deployment", s->deployments[i]->name,
		          rep, NULL);
		rv =
		    kube_run(cfg, &c, NULL, 0, 64 * 1024, 0, &res, err, errlen);
		ls_exec_result_free(&res);
		if (rv < 0)
			goto out;
		log_info("scaled %s/%s to %u", s->target->namespace_,
		         s->deployments[i]->name,
		         (unsigned)s->deployments[i]->replicas);
	}
out:
	for (i = 0; i < nhave; i++)
		ls__kube_deployment__free_unpacked(have[i], NULL);
	free(have);
	return rv;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

int exec_kube_restart_pods(const struct agent_config *cfg,
                           const Ls__KubeRestartPods *rp,
                           Ls__KubeRestartPodsResult **out, char *err,
                           size_t errlen)
{
	Ls__KubeRestartPodsResult *r = malloc(sizeof(*r));
	struct kube_cmd c;
	struct ls_exec_result res;
	int64_t t0 = ls_mono_ms(), limit;
	char sel[80], why[200] = "";
	int rv;

	*out = r;
	if (r == NULL)
		return LS_ENOMEM;
	ls__kube_restart_pods_result__init(r);
	if ((rv = kube_target_ok(rp->target, err, errlen)) < 0)
		return rv;
	limit = rp->has_ready_timeout_ms && rp->ready_timeout_ms > 0
	            ? (int64_t)rp->ready_timeout_ms
	            : cfg->kubernetes.ready_timeout;
	ls_fmt(sel, sizeof(sel), "release=%s", rp->target->release);
	kube_kubectl(&c, cfg, rp->target->namespace_, "kubectl delete pods");
	kube_args(&c, "delete", "pods", "-l", sel, NULL);
	rv = kube_run(cfg, &c, NULL, 0, 1024 * 1024, 0, &res, err, errlen);
	ls_exec_result_free(&res);
	if (rv < 0)
		return rv;
	for (;;) {
		json_t *pods = NULL, *p;
		size_t i, total = 0, ready = 0;
		int finished;

		if ((rv = get_pods(cfg, rp->target, &pods, err, errlen)) < 0)
			return rv;
		why[0] = '\0';
		json_array_foreach(kube_jpath(pods, "items"), i, p)
		{
			int ok = kube_pod_ready(p, &finished);
			if (finished)
				continue;
			total++;
			if (ok)
				ready++;
			else if (why[0] == '\0')
				ls_fmt(why, sizeof(why), "%.150s",
				       kube_jstr(p, "metadata.name")
				           ? kube_jstr(p, "metadata.name")
				           : "?");
		}
		json_decref(pods);
		r->pods = (uint32_t)total;
		if (total > 0 && ready == total)
			break;
		if (ls_mono_ms() - t0 >= limit) {
			ls_fmt(err, errlen,
			       "%zu of %zu pods of release %s ready after "
			       "%llds%s%s",
			       ready, total, rp->target->release,
			       (long long)(limit / 1000),
			       why[0] ? "; not ready: " : "", why);
			return LS_ETIMEDOUT;
		}
		sleep_ms(POLL_MS);
	}
	r->has_ms = 1;
	r->ms = (uint64_t)(ls_mono_ms() - t0);
	log_info("release %s: %u pods ready after restart", rp->target->release,
	         (unsigned)r->pods);
	return 0;
}
