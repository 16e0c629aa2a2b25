/*
 * The package manager side of an upgrade: which GitLab versions the
 * node's repositories offer (apt-cache madison, yum --showduplicates list),
 * and installing or removing exactly one of them. A version is only ever
 * installed by the spelling the listing gave for it ("17.3.1-ee.0").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "check_version_parse.h"
#include "exec_upgrade_int.h"
#include "ls_error.h"
#include "ls_log.h"
#include "ls_util.h"
#include "ls_version.h"

#define LIST_MAX (8 * 1024 * 1024) /* a listing's stdout */
#define AVAIL_MAX 20000            /* versions in one listing */
#define PACKAGE_STATE "upgrade-package"

static const char *const apt_env[] = {"DEBIAN_FRONTEND=noninteractive", NULL};

struct avail {
	struct ls_version v;
	size_t seq; /* position in the listing */
	char pkgver[LS_PKGVER_MAX];
};

struct avail_list {
	struct avail *a;
	size_t n;
};

static int is_yum(const struct up_ctx *x)
{
	return strcmp(x->cfg->package.manager, "yum") == 0;
}

/*
 * The package name is kept in state_dir: removing the package (the first
 * step of a downgrade) takes the version manifest with it, and the install
 * that follows must still know what to install.
 */
static int remember_package(struct up_ctx *x, const char *name)
{
	char path[LS_PATH_MAX];
	int rv =
	    ls_fmt(path, sizeof(path), "%s/" PACKAGE_STATE, x->cfg->state_dir);

	return rv < 0 ? rv : ls_write_atomic(path, name, strlen(name), 0644);
}

static int recall_package(struct up_ctx *x, char *name, size_t len)
{
	char path[LS_PATH_MAX], *buf = NULL;
	size_t n = 0;
	int rv =
	    ls_fmt(path, sizeof(path), "%s/" PACKAGE_STATE, x->cfg->state_dir);

	if (rv < 0 || (rv = ls_read_file(path, 16, &buf, &n)) < 0)
		return rv;
	if ((n == 9 && (memcmp(buf, "gitlab-ee", 9) == 0 ||
	                memcmp(buf, "gitlab-ce", 9) == 0)))
		(void)ls_fmt(name, len, "%.9s", buf);
	else
		rv = LS_EINVAL;
	free(buf);
	return rv;
}

int pkg_identify(struct up_ctx *x, int must_remember)
{
	const char *name = x->cfg->package.name;
	struct gitlab_version v;
	char verr[256] = "";
	int have, rv;

	memset(&v, 0, sizeof(v));
	ls_strlcpy(x->o->manager, is_yum(x) ? "yum" : "apt",
	           sizeof(x->o->manager));
	have = check_version_load(x->cfg->gitlab.version_manifest, &v, verr,
	                          sizeof(verr)) == 0;
	x->o->installed[0] = '\0';
	if (have)
		ls_strlcpy(x->o->installed, v.version, sizeof(x->o->installed));
	if (name != NULL && name[0] != '\0') {
		ls_strlcpy(x->o->package, name, sizeof(x->o->package));
		return 0;
	}
	if (have && v.package[0] != '\0') {
		ls_strlcpy(x->o->package, v.package, sizeof(x->o->package));
		rv = remember_package(x, v.package);
		if (rv < 0 && must_remember) {
			snprintf(x->err, x->errlen,
			         "cannot record the package name in %.300s "
			         "(%s): it would be unknown once removed",
			         x->cfg->state_dir, ls_strerror(rv));
			return rv;
		}
		return 0;
	}
	if (recall_package(x, x->o->package, sizeof(x->o->package)) == 0)
		return 0;
	snprintf(x->err, x->errlen,
	         "cannot tell whether this node runs gitlab-ee or gitlab-ce "
	         "(%.300s); set package.name in agent.yml",
	         verr[0] ? verr : "the version manifest does not say");
	return LS_ECONFIG;
}

static int avail_cmp(const void *pa, const void *pb)
{
	const struct avail *a = pa, *b = pb;
	int c = ls_version_cmp(&a->v, &b->v);

	if (c != 0)
		return c;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/*
 * Ascending, each version once. Where a listing repeats a version (two
 * repositories, a rebuilt package) the entry kept is the one the package
 * manager prefers: madison lists the preferred first, yum last.
 */
static void avail_sort(struct avail_list *l, int keep_last)
{
	size_t i, j = 0;

	qsort(l->a, l->n, sizeof(*l->a), avail_cmp);
	for (i = 0; i < l->n; i++) {
		if (j > 0 && ls_version_cmp(&l->a[j - 1].v, &l->a[i].v) == 0) {
			if (keep_last)
				l->a[j - 1] = l->a[i];
			continue;
		}
		l->a[j++] = l->a[i];
	}
	l->n = j;
}

static int parse_listing(struct up_ctx *x, const char *cmd, char *text,
                         size_t len, struct avail_list *l)
{
	struct ls_version_line vl;
	char why[160] = "", first_bad[200] = "";
	size_t bad = 0, seq = 0;
	char *line = text, *end = text + len;
	int rv;

	l->a = calloc(AVAIL_MAX, sizeof(*l->a));
	if (l->a == NULL)
		return LS_ENOMEM;
	while (line < end) {
		char *nl = memchr(line, '\n', (size_t)(end - line));
		size_t ll = nl ? (size_t)(nl - line) : (size_t)(end - line);

		rv = ls_version_parse_line(line, ll, &vl, why, sizeof(why));
		if (rv < 0 && bad++ == 0) {
			snprintf(first_bad, sizeof(first_bad), "%s", why);
			check_sanitize(first_bad);
		}
		/* Another package's line (madison of a virtual package)
		 * is not ours to install. */
		if (rv == 1 && (vl.package[0] == '\0' ||
		                strcmp(vl.package, x->o->package) == 0)) {
			if (l->n == AVAIL_MAX) {
				snprintf(x->err, x->errlen,
				         "%s: more than %d versions listed",
				         cmd, AVAIL_MAX);
				return LS_ETOOBIG;
			}
			l->a[l->n].v = vl.v;
			l->a[l->n].seq = seq++;
			ls_strlcpy(l->a[l->n].pkgver, vl.pkgver,
			           sizeof(l->a[l->n].pkgver));
			l->n++;
		}
		line += ll + 1;
	}
	if (bad > 0)
		fprintf(stderr,
		        "lockstep-agent-exec: %s: %zu line(s) not "
		        "understood, the first: %s\n",
		        cmd, bad, first_bad);
	if (l->n == 0) {
		snprintf(x->err, x->errlen,
		         "%s: the package repositories offer no release of "
		         "%s%s%s",
		         cmd, x->o->package,
		         bad ? "; a line not understood: " : "",
		         bad ? first_bad : "");
		return LS_ENOENT;
	}
	avail_sort(l, is_yum(x));
	return 0;
}

static int pkg_list(struct up_ctx *x, struct avail_list *l)
{
	const char *apt[] = {x->cfg->package.apt_cache, "madison",
	                     x->o->package, NULL};
	const char *yum[] = {x->cfg->package.yum, "--showduplicates", "list",
	                     x->o->package, NULL};
	const char *cmd =
	    is_yum(x) ? "yum --showduplicates list" : "apt-cache madison";
	char *text = NULL;
	size_t len = 0;
	int rv;

	rv = up_run_capture(x, is_yum(x) ? yum : apt, NULL, LIST_MAX, &text,
	                    &len);
	if (rv == LS_ETOOBIG)
		snprintf(x->err, x->errlen,
		         "%s %s: more than %d bytes of output", cmd,
		         x->o->package, LIST_MAX);
	if (rv < 0)
		goto out;
	rv = parse_listing(x, cmd, text, len, l);
out:
	free(text);
	return rv;
}

static int refresh(struct up_ctx *x)
{
	const char *apt[] = {x->cfg->package.apt_get, "update", NULL};
	const char *yum[] = {x->cfg->package.yum, "makecache", NULL};

	return is_yum(x) ? up_run(x, yum, NULL) : up_run(x, apt, apt_env);
}

int exec_package_versions(const struct agent_config *cfg,
                          const Ls__PackageVersions *pv, struct upgrade_out *o,
                          char *err, size_t errlen)
{
	struct avail_list l = {0};
	struct up_ctx x;
	size_t i;
	int rv;

	up_ctx_init(&x, cfg, o, err, errlen);
	if ((rv = pkg_identify(&x, 0)) < 0)
		goto out;
	if (pv->has_refresh && pv->refresh && (rv = refresh(&x)) < 0)
		goto out;
	if ((rv = pkg_list(&x, &l)) < 0)
		goto out;
	if ((o->versions = calloc(l.n, sizeof(*o->versions))) == NULL) {
		rv = LS_ENOMEM;
		goto out;
	}
	for (i = 0; i < l.n; i++) {
		char s[LS_VERSION_STR_MAX];

		ls_version_fmt(&l.a[i].v, s, sizeof(s));
		if ((o->versions[i] = strdup(s)) == NULL) {
			rv = LS_ENOMEM;
			goto out;
		}
		o->nversions++;
	}
	o->pv.package = o->package;
	o->pv.manager = o->manager;
	o->pv.n_versions = o->nversions;
	o->pv.versions = o->versions;
	if (o->installed[0] != '\0')
		o->pv.installed = o->installed;
	rv = 0;
out:
	free(l.a);
	return rv;
}

int pkg_install(struct up_ctx *x, const char *version, int allow_downgrade)
{
	struct avail_list l = {0};
	struct ls_version want, have;
	char spec[LS_PKGVER_MAX + 32], vs[LS_VERSION_STR_MAX];
	const struct avail *hit = NULL;
	size_t i;
	int rv;

	if (version == NULL ||
	    ls_version_parse(version, strlen(version), &want) < 0) {
		snprintf(x->err, x->errlen,
		         "UA_INSTALL needs a version X.Y.Z, got '%.40s'",
		         version ? version : "");
		check_sanitize(x->err);
		return LS_EINVAL;
	}
	ls_version_fmt(&want, vs, sizeof(vs));
	if ((rv = pkg_identify(x, 0)) < 0)
		return rv;
	/* Checked here as well as by the package manager: an older
	 * package's scripts must not run by accident. */
	if (!allow_downgrade && x->o->installed[0] != '\0' &&
	    ls_version_parse(x->o->installed, strlen(x->o->installed), &have) ==
	        0 &&
	    ls_version_cmp(&want, &have) < 0) {
		snprintf(x->err, x->errlen,
		         "refusing to downgrade %s from %s to %s without "
		         "allow_downgrade",
		         x->o->package, x->o->installed, vs);
		return LS_ESTATE;
	}
	if ((rv = pkg_list(x, &l)) < 0)
		goto out;
	for (i = 0; i < l.n && hit == NULL; i++)
		if (ls_version_cmp(&l.a[i].v, &want) == 0)
			hit = &l.a[i];
	if (hit == NULL) {
		char newest[LS_VERSION_STR_MAX];

		ls_version_fmt(&l.a[l.n - 1].v, newest, sizeof(newest));
		snprintf(x->err, x->errlen,
		         "%s %s is not offered by the package repositories "
		         "(%zu versions listed, the newest %s); nothing "
		         "installed",
		         x->o->package, vs, l.n, newest);
		rv = LS_ENOENT;
		goto out;
	}
	if (is_yum(x)) {
		const char *argv[] = {x->cfg->package.yum, "install", "-y",
		                      spec, NULL};

		ls_fmt(spec, sizeof(spec), "%s-%s", x->o->package, hit->pkgver);
		rv = up_run(x, argv, NULL);
	} else {
		const char *argv[] = {x->cfg->package.apt_get,
		                      "install",
		                      "-y",
		                      allow_downgrade ? "--allow-downgrades"
		                                      : spec,
		                      allow_downgrade ? spec : NULL,
		                      NULL};

		ls_fmt(spec, sizeof(spec), "%s=%s", x->o->package, hit->pkgver);
		rv = up_run(x, argv, apt_env);
	}
out:
	free(l.a);
	return rv;
}

int pkg_remove(struct up_ctx *x)
{
	const char *apt[] = {x->cfg->package.apt_get, "remove", "-y",
	                     x->o->package, NULL};
	const char *yum[] = {x->cfg->package.yum, "remove", "-y", x->o->package,
	                     NULL};
	int rv;

	if ((rv = pkg_identify(x, 1)) < 0)
		return rv;
	return is_yum(x) ? up_run(x, yum, NULL) : up_run(x, apt, apt_env);
}
