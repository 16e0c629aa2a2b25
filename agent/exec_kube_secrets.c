/*
 * KubeSecretsApply and KubeSecretsRestore (issue 9, gitlab-facts §8).
 *
 * Apply: the Rails node's gitlab-secrets.json arrives sealed to this
 * node; it is converted into the chart's Secrets, the Secrets about to be
 * replaced are read and sealed to this node's own key (the coordinator
 * keeps them and cannot read them), then the new ones are applied.
 * Restore: the sealed state is opened and put back.
 *
 * Secrets never reach argv, a log line or a file: manifests go to kubectl
 * on stdin, a Secret read back comes through a pipe into one buffer that
 * is wiped (ls_exec's capture grows by realloc, which would leave copies
 * behind), and every plain buffer is wiped before it is freed.
 *
 * kubectl apply --server-side --force-conflicts: the chart's Secrets were
 * created by its shared-secrets job (another field manager), and a
 * client-side apply would copy the whole Secret, data included, into the
 * last-applied-configuration annotation.
 */
#include "exec_kube_secrets.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "agent_identity.h"
#include "exec_kube.h"
#include "kube_cmd.h"
#include "kube_secrets.h"
#include "ls_error.h"
#include "ls_log.h"
#include "ls_util.h"

#define FIELD_MANAGER "--field-manager=lockstep"
#define APPLY_OUT_MAX (256 * 1024)
#define STDERR_MAX (64 * 1024)

/* Opens sealed with this node's key into *plain (plen bytes, caller wipes
 * and frees). what names the input in errors. */
static int open_sealed(const struct agent_config *cfg,
                       const ProtobufCBinaryData *sealed, size_t max,
                       const char *what, uint8_t **plain, size_t *plen,
                       uint8_t *pk, char *err, size_t errlen)
{
	uint8_t sk[crypto_box_SECRETKEYBYTES];
	int rv;

	*plain = NULL;
	*plen = 0;
	if (sealed->len < crypto_box_SEALBYTES ||
	    sealed->len - crypto_box_SEALBYTES > max) {
		ls_fmt(err, errlen,
		       "%s: %zu bytes, not a sealed box of at most %zu", what,
		       sealed->len, max);
		return LS_EINVAL;
	}
	if ((rv = agent_identity_box_keys(cfg->state_dir, pk, sk, err,
	                                  errlen)) < 0)
		return rv;
	*plen = sealed->len - crypto_box_SEALBYTES;
	if ((*plain = malloc(*plen ? *plen : 1)) == NULL) {
		rv = LS_ENOMEM;
		goto out;
	}
	if (crypto_box_seal_open(*plain, sealed->data, sealed->len, pk, sk) !=
	    0) {
		ls_fmt(err, errlen,
		       "%s do not open with this node's key (sealed for "
		       "another node, or damaged)",
		       what);
		rv = LS_ECRYPTO;
	}
out:
	sodium_memzero(sk, sizeof(sk));
	if (rv < 0) {
		free(*plain);
		*plain = NULL;
		*plen = 0;
	}
	return rv;
}

static void plain_free(uint8_t *p, size_t len)
{
	if (p != NULL)
		sodium_memzero(p, len);
	free(p);
}

/* The error of a finished kubectl call, as kube_run words it. */
static void child_error(const struct kube_cmd *c,
                        const struct ls_exec_result *res, char *err,
                        size_t errlen)
{
	char line[300];

	kube_last_line(res->err ? res->err : "", res->err_len, line,
	               sizeof(line));
	if (res->exited)
		ls_fmt(err, errlen, "%s: exit %d%s%s", c->what, res->status,
		       line[0] ? ": " : "", line);
	else
		ls_fmt(err, errlen, "%s: killed by signal %d", c->what,
		       res->status);
}

/*
 * Runs c within kubernetes.call_timeout with its stdout read into buf
 * (room for cap bytes; more is LS_ETOOBIG). 0 when it ran (res tells how
 * it ended), else the error in err.
 */
static int run_read(const struct agent_config *cfg, struct kube_cmd *c,
                    uint8_t *buf, size_t cap, size_t *len,
                    struct ls_exec_result *res, char *err, size_t errlen)
{
	struct ls_exec_opts o = {0};
	struct ls_proc p = {.pid = -1, .in_fd = -1, .out_fd = -1, .err_fd = -1};
	int64_t end = ls_mono_ms() + cfg->kubernetes.call_timeout, left;
	int rv = 0;

	memset(res, 0, sizeof(*res));
	*len = 0;
	if (c->overflow) {
		ls_fmt(err, errlen, "%s: too many arguments", c->what);
		return LS_ETOOBIG;
	}
	o.argv = c->argv;
	if ((rv = ls_exec_spawn(&o, 0, -1, &p)) < 0) {
		ls_fmt(err, errlen, "%s: %s", c->what, ls_strerror(rv));
		return rv;
	}
	for (;;) {
		struct pollfd pf = {.fd = p.out_fd, .events = POLLIN};
		ssize_t n;

		if ((left = end - ls_mono_ms()) <= 0) {
			rv = LS_ETIMEDOUT;
			break;
		}
		if (poll(&pf, 1, left > INT_MAX ? INT_MAX : (int)left) < 0) {
			if (errno == EINTR)
				continue;
			rv = -errno;
			break;
		}
		if (pf.revents == 0)
			continue;
		/* One byte past cap tells a full buffer from an overflow. */
		if (*len > cap) {
			rv = LS_ETOOBIG;
			break;
		}
		n = read(p.out_fd, buf + *len, cap + 1 - *len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			rv = -errno;
			break;
		}
		if (n == 0)
			break;
		*len += (size_t)n;
	}
	if (rv == 0 && *len > cap)
		rv = LS_ETOOBIG;
	if (rv == 0) {
		left = end - ls_mono_ms();
		rv =
		    ls_exec_wait(&p, left > 0 ? (int)left : 1, STDERR_MAX, res);
	}
	ls_exec_kill(&p);
	if (rv < 0)
		ls_fmt(err, errlen, "%s: %s", c->what,
		       rv == LS_ETIMEDOUT ? "did not finish in time"
		       : rv == LS_ETOOBIG ? "output too large"
		                          : ls_strerror(rv));
	return rv;
}

/* kubectl's answer for a Secret that does not exist. */
static int not_found(const struct ls_exec_result *res, const char *name)
{
	char want[KUBE_NAME_MAX + 64];

	ls_fmt(want, sizeof(want),
	       "Error from server (NotFound): secrets \"%s\" not found", name);
	return res->exited && res->status == 1 && res->err != NULL &&
	       strstr(res->err, want) != NULL;
}

/* Records Secret name as it is now (its data, or that it is absent). */
static int save_one(const struct agent_config *cfg, const char *ns,
                    const char *name, struct kube_saved *saved, char *err,
                    size_t errlen)
{
	struct kube_cmd c;
	struct ls_exec_result res;
	struct kube_secret_set cur = {0};
	uint8_t *buf = malloc(KUBE_JSON_MAX + 1);
	char perr[200];
	size_t len = 0;
	int rv;

	memset(&res, 0, sizeof(res));
	if (buf == NULL)
		return LS_ENOMEM;
	kube_kubectl(&c, cfg, ns, "kubectl get secret");
	kube_args(&c, "get", "secret", name, "-o", "json", NULL);
	if ((rv = run_read(cfg, &c, buf, KUBE_JSON_MAX, &len, &res, err,
	                   errlen)) < 0)
		goto out;
	if (not_found(&res, name)) {
		rv = kube_saved_add(saved, name, NULL);
		goto out;
	}
	if (!res.exited || res.status != 0) {
		child_error(&c, &res, err, errlen);
		rv = LS_ECHILD;
		goto out;
	}
	if ((rv = kube_secret_parse((const char *)buf, len, &cur, perr,
	                            sizeof(perr))) < 0) {
		ls_fmt(err, errlen, "kubectl get secret %s: %s", name, perr);
		goto out;
	}
	if (cur.n > 0 && strcmp(cur.items[0].name, name) != 0) {
		ls_fmt(err, errlen,
		       "kubectl get secret %s: answered with another Secret",
		       name);
		rv = LS_EPROTO;
		goto out;
	}
	rv = kube_saved_add(saved, name, &cur);
out:
	if (rv < 0 && err[0] == '\0')
		ls_fmt(err, errlen, "saving Secret %s: %s", name,
		       ls_strerror(rv));
	kube_secret_set_free(&cur);
	plain_free(buf, len);
	ls_exec_result_free(&res);
	return rv;
}

/* kubectl apply of manifest (on stdin). */
static int apply(const struct agent_config *cfg, const char *ns,
                 const uint8_t *manifest, size_t len, char *err, size_t errlen)
{
	struct kube_cmd c;
	struct ls_exec_result res;
	int rv;

	kube_kubectl(&c, cfg, ns, "kubectl apply");
	kube_args(&c, "apply", "--server-side", "--force-conflicts",
	          FIELD_MANAGER, "-f", "-", NULL);
	rv = kube_run(cfg, &c, manifest, len, APPLY_OUT_MAX, 0, &res, err,
	              errlen);
	ls_exec_result_free(&res);
	return rv;
}

static int delete_secret(const struct agent_config *cfg, const char *ns,
                         const char *name, char *err, size_t errlen)
{
	struct kube_cmd c;
	struct ls_exec_result res;
	int rv;

	kube_kubectl(&c, cfg, ns, "kubectl delete secret");
	kube_args(&c, "delete", "secret", name, "--ignore-not-found", NULL);
	rv = kube_run(cfg, &c, NULL, 0, APPLY_OUT_MAX, 0, &res, err, errlen);
	ls_exec_result_free(&res);
	return rv;
}

static int has_name(const struct kube_secret_set *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->items[i].name, name) == 0)
			return 1;
	return 0;
}

static int in_list(char **v, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i], name) == 0)
			return 1;
	return 0;
}

static int push_name(char ***v, size_t *n, const char *name)
{
	char **nv = realloc(*v, (*n + 1) * sizeof(**v));

	if (nv == NULL)
		return LS_ENOMEM;
	*v = nv;
	if ((nv[*n] = strdup(name)) == NULL)
		return LS_ENOMEM;
	(*n)++;
	return 0;
}

/* Seals the encoded saved state to this node's own key into r->saved. */
static int seal_saved(const struct kube_saved *saved, const uint8_t *pk,
                      Ls__KubeSecretsApplyResult *r)
{
	uint8_t *enc = NULL, *box;
	size_t len = 0;
	int rv;

	if ((rv = kube_saved_encode(saved, &enc, &len)) < 0)
		return rv;
	if ((box = malloc(len + crypto_box_SEALBYTES)) == NULL) {
		rv = LS_ENOMEM;
	} else if (crypto_box_seal(box, enc, len, pk) != 0) {
		free(box);
		rv = LS_ECRYPTO;
	} else {
		r->saved.data = box;
		r->saved.len = len + crypto_box_SEALBYTES;
	}
	kube_buf_free(enc, len);
	return rv;
}

static Ls__KubeSecretsApplyResult *result_new(void)
{
	Ls__KubeSecretsApplyResult *r = malloc(sizeof(*r));

	if (r != NULL)
		ls__kube_secrets_apply_result__init(r);
	return r;
}

/* gitlab-secrets.json (plain) into the chart's Secrets of t->release;
 * r->kept gets the table's names it holds no value for. */
static int convert(const uint8_t *plain, size_t len, const Ls__KubeTarget *t,
                   const char *from, struct kube_secret_set *set,
                   Ls__KubeSecretsApplyResult *r, char *err, size_t errlen)
{
	char cerr[300], name[KUBE_NAME_MAX + 1];
	size_t i;
	int rv;

	if ((rv = kube_secrets_from_gitlab((const char *)plain, len, t->release,
	                                   set, cerr, sizeof(cerr))) < 0) {
		ls_fmt(err, errlen, "the secrets from %.64s: %s", from, cerr);
		return rv;
	}
	for (i = 0; i < kube_chart_secrets_n; i++) {
		ls_fmt(name, sizeof(name), "%s-%s", t->release,
		       kube_chart_secrets[i]);
		if (has_name(set, name))
			continue;
		if ((rv = push_name(&r->kept, &r->n_kept, name)) < 0)
			return rv;
		log_info("%s: no value in the gitlab-secrets.json of %s; the "
		         "chart's own left in place",
		         name, from);
	}
	return 0;
}

/* The sections of gitlab-secrets.json the chart's Secrets come from
 * (gitlab-facts §8). */
static const char *const chart_sections[] = {
    "gitlab_rails", "gitlab_shell", "gitlab_workhorse", "registry",
    "gitlab_pages", "gitlab_kas",   "mailroom",
};

/* Every other Rails node's file has the same chart sections as plain's:
 * a multi-node GitLab shares one gitlab-secrets.json, and a chart given
 * one node's copy would lock the others' encrypted data out. Names the
 * node and section, never a value. */
static int same_everywhere(const struct agent_config *cfg,
                           const Ls__KubeSecretsApply *a, const uint8_t *plain,
                           size_t plen, char *err, size_t errlen)
{
	uint8_t pk[crypto_box_PUBLICKEYBYTES], *other = NULL;
	json_t *first, *j = NULL;
	char what[128];
	size_t i, k, olen = 0;
	int rv = 0;

	if (a->n_others == 0)
		return 0;
	if (a->n_others != a->n_others_from) {
		ls_fmt(err, errlen,
		       "%zu other secrets files but %zu node names",
		       a->n_others, a->n_others_from);
		return LS_EINVAL;
	}
	if ((first = json_loadb((const char *)plain, plen,
	                        JSON_REJECT_DUPLICATES, NULL)) == NULL) {
		ls_fmt(err, errlen, "the secrets from %.64s are not JSON",
		       a->from_node);
		return LS_EINVAL;
	}
	for (i = 0; i < a->n_others && rv == 0; i++) {
		const char *from = a->others_from[i];
		ls_fmt(what, sizeof(what), "the secrets from %.64s", from);
		if ((rv = open_sealed(cfg, &a->others[i], KUBE_JSON_MAX, what,
		                      &other, &olen, pk, err, errlen)) < 0)
			break;
		j = json_loadb((const char *)other, olen,
		               JSON_REJECT_DUPLICATES, NULL);
		plain_free(other, olen);
		other = NULL;
		if (!json_is_object(j)) {
			ls_fmt(err, errlen, "%s are not a JSON object", what);
			rv = LS_EINVAL;
		}
		for (k = 0; rv == 0 && k < sizeof(chart_sections) /
		                               sizeof(chart_sections[0]);
		     k++) {
			json_t *x = json_object_get(first, chart_sections[k]);
			json_t *y = json_object_get(j, chart_sections[k]);
			if ((x == NULL && y == NULL) || json_equal(x, y))
				continue;
			ls_fmt(err, errlen,
			       "the gitlab-secrets.json of %.64s differs from "
			       "the one of %.64s in its %s section: every node "
			       "of a multi-node GitLab shares one file; copy "
			       "it from one Rails node to the others and "
			       "reconfigure them first",
			       from, a->from_node, chart_sections[k]);
			rv = LS_ESTATE;
		}
		json_decref(j);
		j = NULL;
	}
	json_decref(first);
	sodium_memzero(pk, sizeof(pk));
	return rv;
}

int exec_kube_secrets_apply(const struct agent_config *cfg,
                            const Ls__KubeSecretsApply *a,
                            Ls__KubeSecretsApplyResult **out, char *err,
                            size_t errlen)
{
	Ls__KubeSecretsApplyResult *r = NULL;
	struct kube_secret_set set = {0};
	struct kube_saved saved = {0};
	uint8_t pk[crypto_box_PUBLICKEYBYTES], *plain = NULL, *man = NULL;
	const char *from = a->from_node ? a->from_node : "?";
	char what[128];
	size_t i, plen = 0, mlen = 0;
	int rv;

	*out = NULL;
	if ((rv = kube_target_ok(a->target, err, errlen)) < 0)
		return rv;
	if ((r = result_new()) == NULL)
		return LS_ENOMEM;
	ls_fmt(what, sizeof(what), "the secrets from %.64s", from);
	if ((rv = open_sealed(cfg, &a->sealed, KUBE_JSON_MAX, what, &plain,
	                      &plen, pk, err, errlen)) < 0)
		goto out;
	if ((rv = same_everywhere(cfg, a, plain, plen, err, errlen)) == 0)
		rv =
		    convert(plain, plen, a->target, from, &set, r, err, errlen);
	plain_free(plain, plen);
	if (rv < 0)
		goto out;
	/* Everything about to change is read before anything changes. */
	for (i = 0; i < set.n; i++) {
		const char *name = set.items[i].name;
		if (in_list(r->secrets, r->n_secrets, name))
			continue;
		if ((rv = save_one(cfg, a->target->namespace_, name, &saved,
		                   err, errlen)) < 0 ||
		    (rv = push_name(&r->secrets, &r->n_secrets, name)) < 0)
			goto out;
	}
	if ((rv = seal_saved(&saved, pk, r)) < 0) {
		ls_fmt(err, errlen, "sealing the chart's current Secrets: %s",
		       ls_strerror(rv));
		goto out;
	}
	if ((rv = kube_secrets_manifest(&set, a->target->namespace_, &man,
	                                &mlen)) < 0) {
		ls_fmt(err, errlen, "the Secrets manifest: %s",
		       ls_strerror(rv));
		goto out;
	}
	if ((rv = apply(cfg, a->target->namespace_, man, mlen, err, errlen)) <
	    0)
		goto out;
	for (i = 0; i < r->n_secrets; i++)
		log_info("%s/%s: %s from the gitlab-secrets.json of %s",
		         a->target->namespace_, r->secrets[i],
		         saved.secrets[i].exists ? "replaced" : "created",
		         from);
out:
	kube_buf_free(man, mlen);
	kube_secret_set_free(&set);
	kube_saved_free(&saved);
	sodium_memzero(pk, sizeof(pk));
	/* Once sealed, the previous state goes back even on failure: a List
	 * applied halfway is undone with it. */
	if (rv == 0 || r->saved.len > 0)
		*out = r;
	else
		ls__kube_secrets_apply_result__free_unpacked(r, NULL);
	return rv;
}

/* Only the chart's Secrets of this release: a saved state names nothing
 * else, whoever sealed it. */
static int restorable(const char *release, const char *name)
{
	size_t i, n = strlen(release);

	if (strncmp(name, release, n) != 0 || name[n] != '-')
		return 0;
	for (i = 0; i < kube_chart_secrets_n; i++)
		if (strcmp(name + n + 1, kube_chart_secrets[i]) == 0)
			return 1;
	return 0;
}

/* Existing Secrets saved without data: a manifest of empty ones (no
 * secret in it). */
static int empty_manifest(const struct kube_saved *s, const char *ns,
                          char **out)
{
	json_t *list, *items, *sec;
	size_t i;
	int n = 0;

	*out = NULL;
	if ((list = json_pack("{s:s, s:s, s:[]}", "apiVersion", "v1", "kind",
	                      "List", "items")) == NULL)
		return LS_ENOMEM;
	items = json_object_get(list, "items");
	for (i = 0; i < s->n; i++) {
		if (!s->secrets[i].exists ||
		    has_name(&s->data, s->secrets[i].name))
			continue;
		sec = json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:{}}",
		                "apiVersion", "v1", "kind", "Secret", "type",
		                "Opaque", "metadata", "name",
		                s->secrets[i].name, "namespace", ns, "labels",
		                "app.kubernetes.io/managed-by", "lockstep",
		                "data");
		if (sec == NULL || json_array_append_new(items, sec) != 0) {
			json_decref(list);
			return LS_ENOMEM;
		}
		n++;
	}
	if (n > 0 && (*out = json_dumps(list, JSON_COMPACT)) == NULL) {
		json_decref(list);
		return LS_ENOMEM;
	}
	json_decref(list);
	return 0;
}

static int put_back(const struct agent_config *cfg, const char *ns,
                    const struct kube_saved *saved, char *err, size_t errlen)
{
	uint8_t *man = NULL;
	char *empty = NULL;
	size_t i, mlen = 0;
	int rv = 0;

	if (saved->data.n > 0) {
		if ((rv = kube_secrets_manifest(&saved->data, ns, &man,
		                                &mlen)) < 0) {
			ls_fmt(err, errlen, "the Secrets manifest: %s",
			       ls_strerror(rv));
			goto out;
		}
		if ((rv = apply(cfg, ns, man, mlen, err, errlen)) < 0)
			goto out;
	}
	if ((rv = empty_manifest(saved, ns, &empty)) < 0)
		goto out;
	if (empty != NULL && (rv = apply(cfg, ns, (const uint8_t *)empty,
	                                 strlen(empty), err, errlen)) < 0)
		goto out;
	for (i = 0; i < saved->n; i++)
		if (!saved->secrets[i].exists &&
		    (rv = delete_secret(cfg, ns, saved->secrets[i].name, err,
		                        errlen)) < 0)
			goto out;
out:
	kube_buf_free(man, mlen);
	free(empty);
	return rv;
}

int exec_kube_secrets_restore(const struct agent_config *cfg,
                              const Ls__KubeSecretsRestore *rs,
                              Ls__KubeSecretsApplyResult **out, char *err,
                              size_t errlen)
{
	Ls__KubeSecretsApplyResult *r = NULL;
	struct kube_saved saved = {0};
	uint8_t pk[crypto_box_PUBLICKEYBYTES], *plain = NULL;
	char derr[300];
	size_t i, plen = 0;
	int rv;

	*out = NULL;
	if ((rv = kube_target_ok(rs->target, err, errlen)) < 0)
		return rv;
	if ((r = result_new()) == NULL)
		return LS_ENOMEM;
	/* saved is required: empty, but not NULL for the packer's memcpy. */
	if ((r->saved.data = malloc(1)) == NULL) {
		rv = LS_ENOMEM;
		goto out;
	}
	if ((rv = open_sealed(cfg, &rs->saved, KUBE_SAVED_MAX,
	                      "the saved Secrets", &plain, &plen, pk, err,
	                      errlen)) < 0)
		goto out;
	rv = kube_saved_decode(plain, plen, &saved, derr, sizeof(derr));
	plain_free(plain, plen);
	if (rv < 0) {
		ls_fmt(err, errlen, "the saved Secrets: %s", derr);
		goto out;
	}
	for (i = 0; i < saved.n; i++) {
		if (!restorable(rs->target->release, saved.secrets[i].name)) {
			ls_fmt(err, errlen,
			       "the saved Secrets name %s, not a chart Secret "
			       "of release %s: nothing restored",
			       saved.secrets[i].name, rs->target->release);
			rv = LS_EINVAL;
			goto out;
		}
		if ((rv = push_name(&r->secrets, &r->n_secrets,
		                    saved.secrets[i].name)) < 0)
			goto out;
	}
	if ((rv = put_back(cfg, rs->target->namespace_, &saved, err, errlen)) <
	    0)
		goto out;
	for (i = 0; i < saved.n; i++)
		log_info(
		    "%s/%s: %s", rs->target->namespace_, saved.secrets[i].name,
		    saved.secrets[i].exists ? "put back as it was"
		                            : "deleted (it did not exist)");
out:
	kube_saved_free(&saved);
	if (rv == 0)
		*out = r;
	else
		ls__kube_secrets_apply_result__free_unpacked(r, NULL);
	return rv;
}
