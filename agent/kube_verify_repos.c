/*
 * KubeVerify's repositories: every repository whose gitaly-backup manifest
 * the backup holds (read as restore reads it, restore_repos_load), its
 * refs listed with git for-each-ref in the Gitaly pod serving its storage
 * and compared with its last .refs.
 */
#include "kube_verify.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup_repos.h"
#include "exec_kube.h"
#include "gitaly_walk.h"
#include "kube_cmd.h"
#include "ls_error.h"
#include "ls_log.h"
#include "ls_util.h"
#include "restore_repos.h"

#define REFS_OUT_MAX RESTORE_REPOS_REFS_MAX
#define GITALY_REPOS "/home/git/repositories/"
#define REPOS_MAX 1000000

struct kv_repo {
	char *storage, *rel;
};

struct kv_repos {
	struct kv_repo *v;
	size_t n;
	const char *top, *backup_id;
	int err;
};

static int repo_cb(void *arg, const struct agent_gitaly_storage *st,
                   const char *rel)
{
	struct kv_repos *l = arg;
	struct kv_repo *nv;
	char probe[LS_PATH_MAX];
	struct stat sb;

	if (ls_fmt(probe, sizeof(probe), "%s/%s/%s.toml", st->path, rel,
	           l->backup_id) < 0 ||
	    stat(probe, &sb) < 0)
		return 0; /* another backup's repository */
	if (!backup_repos_rel_ok(rel) || l->n >= REPOS_MAX)
		return LS_EINVAL;
	if ((nv = realloc(l->v, (l->n + 1) * sizeof(*nv))) == NULL)
		return LS_ENOMEM;
	l->v = nv;
	nv[l->n].storage = strdup(st->name);
	nv[l->n].rel = strdup(rel);
	if (nv[l->n].storage == NULL || nv[l->n].rel == NULL) {
		free(nv[l->n].storage);
		free(nv[l->n].rel);
		return LS_ENOMEM;
	}
	l->n++;
	return 0;
}

static void repos_free(struct kv_repos *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->v[i].storage);
		free(l->v[i].rel);
	}
	free(l->v);
}

/* Every repository whose <storage>/<rel>/<backup_id>.toml manifest the
 * backup holds, whatever storages this node has (it has none). */
static int list_repos(struct kv *k, const char *backup_dir, struct kv_repos *l)
{
	char top[LS_PATH_MAX], **names = NULL;
	size_t n = 0, i;
	int fd, rv;

	if ((rv = ls_fmt(top, sizeof(top), "%s/repositories/manifests",
	                 backup_dir)) < 0)
		return rv;
	if ((fd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return 0; /* a backup without repositories */
	rv = ls_dir_names(fd, NULL, NULL, 1, &names, &n);
	close(fd);
	for (i = 0; rv == 0 && i < n; i++) {
		struct agent_gitaly_storage st;
		struct gitaly_walk w;
		char path[LS_PATH_MAX];

		if (!backup_repos_storage_name_ok(names[i]))
			continue;
		if ((rv = ls_fmt(path, sizeof(path), "%s/%s", top, names[i])) <
		    0)
			break;
		st.name = names[i];
		st.path = path;
		memset(&w, 0, sizeof(w));
		rv = gitaly_walk(&st, &w, repo_cb, l);
		if (rv == 0 && w.err != 0)
			rv = w.err;
		if (rv < 0)
			ls_fmt(k->x->err, sizeof(k->x->err),
			       "reading the manifests of storage %s in %s: %s",
			       names[i], top, ls_strerror(rv));
	}
	ls_names_free(names, n);
	return rv;
}

/*
 * The chart runs one Gitaly pod per name of global.gitaly.internal.names,
 * <release>-gitaly-<index of the name> (a StatefulSet), default ["default"]:
 * the pod serving storage, or "" when the chart has no such storage.
 */
static void gitaly_pod(struct kv *k, const char *storage, char *pod, size_t len)
{
	json_t *names = kube_jpath(k->values, "global.gitaly.internal.names"),
	       *el;
	size_t i;

	pod[0] = '\0';
	if (!json_is_array(names)) {
		if (strcmp(storage, "default") == 0)
			ls_fmt(pod, len, "%s-gitaly-0", k->v->target->release);
		return;
	}
	json_array_foreach(names, i, el)
	{
		if (json_is_string(el) &&
		    strcmp(json_string_value(el), storage) == 0) {
			ls_fmt(pod, len, "%s-gitaly-%zu", k->v->target->release,
			       i);
			return;
		}
	}
}

static int in_list(char **v, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return 1;
	return 0;
}

static void compare_refs(struct kv *k, const char *name,
                         const struct restore_repos_refs *want,
                         const struct restore_repos_refs *got)
{
	size_t a = 0, b = 0;

	while (a < want->n || b < got->n) {
		int d = a == want->n  ? 1
		        : b == got->n ? -1
		                      : strcmp(want->v[a].name, got->v[b].name);

		if (d < 0)
			kv_diff(k,
			        "repository %s: ref %s missing on the chart "
			        "side (%s in the backup)",
			        name, want->v[a].name, want->v[a].oid);
		else if (d > 0)
			kv_diff(k,
			        "repository %s: ref %s on the chart side (%s) "
			        "is not in the backup",
			        name, got->v[b].name, got->v[b].oid);
		else if (strcmp(want->v[a].oid, got->v[b].oid) != 0)
			kv_diff(k,
			        "repository %s: ref %s is %s in the backup, %s "
			        "on the chart side",
			        name, want->v[a].name, want->v[a].oid,
			        got->v[b].oid);
		a += d <= 0;
		b += d >= 0;
	}
}

/* 0 compared, 1 nothing to compare (non_existent), <0 with x->err set. */
static int verify_repo(struct kv *k, const char *backup_dir,
                       const struct kv_repo *rp, char **ready, size_t nready)
{
	struct restore_repos_job job;
	struct restore_repos_manifest m;
	struct restore_repos_refs want, got;
	struct ls_exec_result res;
	struct kube_cmd c;
	char name[LS_PATH_MAX], pod[128], dir[LS_PATH_MAX], why[1024] = "";
	int rv;

	memset(&job, 0, sizeof(job));
	memset(&m, 0, sizeof(m));
	memset(&want, 0, sizeof(want));
	memset(&got, 0, sizeof(got));
	memset(&res, 0, sizeof(res));
	job.storage = rp->storage;
	job.rel = rp->rel;
	ls_fmt(name, sizeof(name), "%s/%s", rp->storage, rp->rel);
	rv = restore_repos_load(backup_dir, k->v->backup_id, &job, &m, &want,
	                        why, sizeof(why));
	if (rv == 1) /* non_existent: nothing to compare */
		goto out;
	if (rv < 0) {
		ls_fmt(k->x->err, sizeof(k->x->err), "repository %s: %s", name,
		       why);
		goto out;
	}
	gitaly_pod(k, rp->storage, pod, sizeof(pod));
	if (pod[0] == '\0') {
		kv_diff(k,
		        "repository %s: missing on the chart side (storage %s "
		        "is not one of its global.gitaly.internal.names)",
		        name, rp->storage);
		goto out;
	}
	if (!in_list(ready, nready, pod)) {
		ls_fmt(k->x->err, sizeof(k->x->err),
		       "repository %s: Gitaly pod %s of storage %s is not "
		       "ready",
		       name, pod, rp->storage);
		rv = LS_ESTATE;
		goto out;
	}
	ls_fmt(dir, sizeof(dir), "%s%s", GITALY_REPOS, rp->rel);
	kube_kubectl(&c, k->cfg, k->v->target->namespace_,
	             "git for-each-ref in the Gitaly pod");
	kube_args(&c, "exec", pod, "-c", "gitaly", "--", "git", "-C", dir,
	          "for-each-ref", "--format=%(objectname) %(refname)", NULL);
	rv = kube_run(k->cfg, &c, NULL, 0, REFS_OUT_MAX, 0, &res, why,
	              sizeof(why));
	/* git's "cannot change to": no such repository in the pod. */
	if (rv == LS_ECHILD && res.exited && res.status == 128 &&
	    res.err != NULL && strstr(res.err, "cannot change to") != NULL) {
		kv_diff(k, "repository %s: missing on the chart side (%s)",
		        name, pod);
		rv = 0;
		goto out;
	}
	if (rv == 0)
		rv = restore_repos_refs_parse(
		    (const char *)res.out, res.out_len,
		    strcmp(m.fmt, "sha256") == 0 ? 64 : 40, 0,
		    "git for-each-ref", &got, why, sizeof(why));
	if (rv < 0) {
		ls_fmt(k->x->err, sizeof(k->x->err), "repository %s in %s: %s",
		       name, pod, why);
		goto out;
	}
	compare_refs(k, name, &want, &got);
out:
	ls_exec_result_free(&res);
	restore_repos_refs_free(&got);
	restore_repos_refs_free(&want);
	restore_repos_manifest_free(&m);
	return rv;
}

int kv_repos(struct kv *k, const char *backup_dir)
{
	struct kv_repos l;
	char **ready = NULL;
	size_t nready = 0, i;
	int rv;

	memset(&l, 0, sizeof(l));
	l.backup_id = k->v->backup_id;
	if ((rv = list_repos(k, backup_dir, &l)) < 0)
		goto out;
	xr_progress(k->x, "verify", 0, 0, l.n);
	if (l.n > 0 &&
	    (rv = kube_ready_pods(k->cfg, k->v->target, "gitaly", &ready,
	                          &nready, k->x->err, sizeof(k->x->err))) < 0)
		goto out;
	for (i = 0; i < l.n && rv == 0; i++) {
		rv = verify_repo(k, backup_dir, &l.v[i], ready, nready);
		if (rv == 0)
			k->r->repositories++;
		if (rv == 1)
			rv = 0;
		/* The last frame is never rate-limited away: the coordinator
		 * is told that every repository was done. */
		if (i + 1 == l.n) {
			pthread_mutex_lock(&k->x->mu);
			k->x->sent_ms = 0;
			pthread_mutex_unlock(&k->x->mu);
		}
		xr_progress(k->x, "verify", 0, i + 1, l.n);
	}
out:
	ls_names_free(ready, nready);
	repos_free(&l);
	return rv;
}
