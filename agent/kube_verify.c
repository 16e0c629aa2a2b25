/*
 * KubeVerify: row counts and the uploads sample read in one dbconsole
 * session in the toolbox pod, then every repository of the backup compared
 * ref by ref with its copy in the chart's Gitaly pod
 * (kube_verify_repos.c), then the sampled objects (kube_verify_uploads.c).
 */
#include "kube_verify.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec_kube.h"
#include "kube_cmd.h"
#include "ls_error.h"
#include "ls_log.h"
#include "ls_util.h"

#define DB_OUT_MAX (4 * 1024 * 1024)
#define TABLE_NAME_MAX 128
#define PATH_HEX_MAX 2048 /* uploads.path is varchar(511) */

void kv_diff(struct kv *k, const char *fmt, ...)
{
	Ls__KubeVerifyResult *r = k->r;
	char buf[1024], **nv;
	va_list ap;

	if (r->n_differences >= KUBE_VERIFY_DIFF_MAX) {
		r->has_more_differences = 1;
		r->more_differences++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_warnx("verify: %s", buf);
	nv = realloc(r->differences, (r->n_differences + 1) * sizeof(*nv));
	if (nv == NULL || (nv[r->n_differences] = strdup(buf)) == NULL) {
		if (nv != NULL)
			r->differences = nv;
		k->x->oom = 1;
		return;
	}
	r->differences = nv;
	r->n_differences++;
}

/* schema.table of lowercase letters, digits and '_': pasted into SQL as a
 * literal and an identifier, so nothing else is let through. */
static int table_ok(const char *t)
{
	const char *dot = strchr(t, '.');
	size_t i, n = strlen(t);

	if (dot == NULL || dot == t || dot[1] == '\0' || n > TABLE_NAME_MAX ||
	    strchr(dot + 1, '.') != NULL)
		return 0;
	for (i = 0; i < n; i++)
		if (!((t[i] >= 'a' && t[i] <= 'z') ||
		      (t[i] >= '0' && t[i] <= '9') || t[i] == '_' ||
		      t[i] == '.'))
			return 0;
	return 1;
}

static int sql_add(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int sql_add(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(*buf ? *buf + *len : NULL, *buf ? *cap - *len : 0,
		              fmt, ap);
		va_end(ap);
		if (n < 0)
			return LS_EINVAL;
		if (*buf != NULL && (size_t)n < *cap - *len) {
			*len += (size_t)n;
			return 0;
		}
		{
			size_t nc = (*cap ? *cap : 4096);
			char *nb;

			while (nc < *len + (size_t)n + 1)
				nc *= 2;
			if ((nb = realloc(*buf, nc)) == NULL)
				return LS_ENOMEM;
			*buf = nb;
			*cap = nc;
		}
	}
}

/*
 * The dbconsole session. Tables that do not exist are left out by
 * to_regclass before query_to_xml counts the others, so that one missing
 * table neither aborts the query nor hides the rest. Paths go out in hex:
 * a path may hold '|' or a newline.
 */
static int build_sql(const struct kv *k, uint32_t sample, char **out)
{
	const Ls__KubeVerify *v = k->v;
	size_t len = 0, cap = 0, i;
	int rv;

	*out = NULL;
	rv = sql_add(out, &len, &cap,
	             "\\set QUIET on\n\\pset format unaligned\n"
	             "\\pset tuples_only on\n\\pset fieldsep '|'\n");
	if (rv == 0 && v->n_expected > 0) {
		rv = sql_add(out, &len, &cap,
		             "SELECT 'count', t, (xpath('/row/c/text()', "
		             "query_to_xml(format('SELECT count(*) AS c FROM "
		             "%%I.%%I', s, n), false, true, '')))[1]::text "
		             "FROM (VALUES ");
		for (i = 0; rv == 0 && i < v->n_expected; i++) {
			const char *t = v->expected[i]->table;
			const char *dot = strchr(t, '.');
			rv = sql_add(out, &len, &cap, "%s('%s', '%.*s', '%s')",
			             i ? ", " : "", t, (int)(dot - t), t,
			             dot + 1);
		}
		if (rv == 0)
			rv = sql_add(out, &len, &cap,
			             ") AS v(t, s, n) WHERE to_regclass("
			             "format('%%I.%%I', s, n)) IS NOT NULL;\n");
	}
	if (rv == 0)
		rv = sql_add(
		    out, &len, &cap,
		    "SELECT 'localcount', count(*) FROM public.uploads WHERE "
		    "store IS DISTINCT FROM 2;\n"
		    "SELECT 'local', id, coalesce(store, 0), "
		    "encode(convert_to(path, 'UTF8'), 'hex'), '' FROM "
		    "public.uploads WHERE store IS DISTINCT FROM 2 ORDER BY id "
		    "LIMIT %d;\n"
		    /* md5 of the id: the same sample every time, spread over
		     * the table rather than its first or last rows. */
		    "SELECT 'sample', id, store, encode(convert_to(path, "
		    "'UTF8'), 'hex'), checksum FROM public.uploads WHERE store "
		    "= 2 AND checksum IS NOT NULL ORDER BY md5(id::text) LIMIT "
		    "%u;\n",
		    KUBE_VERIFY_LOCAL_MAX, (unsigned)sample);
	if (rv < 0) {
		free(*out);
		*out = NULL;
	}
	return rv;
}

static int split(char *line, char **f, int max)
{
	int n = 0;

	f[n++] = line;
	while (n < max && (line = strchr(line, '|')) != NULL) {
		*line++ = '\0';
		f[n++] = line;
	}
	return strchr(f[n - 1], '|') != NULL ? -1 : n;
}

static int is_hex(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[n] == '\0';
}

static int upload_row(struct kv *k, char **f, int nf, int sample)
{
	struct kv_upload **v = sample ? &k->sample : &k->local;
	size_t *n = sample ? &k->nsample : &k->nlocal, hl = strlen(f[3]);
	struct kv_upload *u, *nv;
	long long id, store;

	if (nf != 5 || ls_parse_int(f[1], 1, INT64_MAX, &id) < 0 ||
	    ls_parse_int(f[2], 0, 1000, &store) < 0 || hl % 2 != 0 ||
	    hl > PATH_HEX_MAX || !is_hex(f[3], hl) ||
	    (sample && (strlen(f[4]) != 64 || !is_hex(f[4], 64))) ||
	    *n >= KUBE_VERIFY_SAMPLE_MAX)
		return LS_EPROTO;
	if ((nv = realloc(*v, (*n + 1) * sizeof(*nv))) == NULL)
		return LS_ENOMEM;
	*v = nv;
	u = &nv[*n];
	memset(u, 0, sizeof(*u));
	if ((u->path = malloc(hl / 2 + 1)) == NULL)
		return LS_ENOMEM;
	(*n)++;
	u->path[hl / 2] = '\0';
	if (hl > 0 && ls_unhex((uint8_t *)u->path, hl / 2, f[3]) < 0)
		return LS_EPROTO;
	u->id = (uint64_t)id;
	u->store = (int)store;
	ls_strlcpy(u->checksum, f[4], sizeof(u->checksum));
	return 0;
}

static const Ls__TableCount *find_count(Ls__TableCount **v, size_t n,
                                        const char *table)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i]->table, table) == 0)
			return v[i];
	return NULL;
}

static int expected(const Ls__KubeVerify *v, const char *table)
{
	size_t i;

	for (i = 0; i < v->n_expected; i++)
		if (strcmp(v->expected[i]->table, table) == 0)
			return 1;
	return 0;
}

/* One line of the session's output; lines of no query of ours (a notice
 * dbconsole prints) are passed over. */
static int db_line(struct kv *k, char *line)
{
	Ls__KubeVerifyResult *r = k->r;
	char *f[6];
	long long n;
	int nf = split(line, f, 6);

	if (nf < 2)
		return 0;
	if (strcmp(f[0], "count") == 0) {
		if (nf != 3 || !expected(k->v, f[1]) ||
		    find_count(r->chart, r->n_chart, f[1]) ||
		    ls_parse_int(f[2], 0, INT64_MAX, &n) < 0)
			return LS_EPROTO;
		return xr_table_rows(k->x, &r->chart, &r->n_chart, f[1],
		                     (uint64_t)n);
	}
	if (strcmp(f[0], "localcount") == 0) {
		if (nf != 2 || ls_parse_int(f[1], 0, INT64_MAX, &n) < 0)
			return LS_EPROTO;
		k->local_total = (uint64_t)n;
		return 0;
	}
	if (strcmp(f[0], "local") == 0 || strcmp(f[0], "sample") == 0)
		return upload_row(k, f, nf, f[0][0] == 's');
	return 0;
}

static int dbconsole(struct kv *k, const char *pod)
{
	const Ls__KubeVerify *v = k->v;
	struct kube_cmd c;
	struct ls_exec_result res;
	uint32_t sample = v->has_upload_sample && v->upload_sample > 0
	                      ? v->upload_sample
	                      : KUBE_VERIFY_SAMPLE_DEFAULT;
	char *sql = NULL, *p, *end, *nl, line[300];
	size_t i;
	int rv;

	memset(&res, 0, sizeof(res));
	if (sample > KUBE_VERIFY_SAMPLE_MAX)
		sample = KUBE_VERIFY_SAMPLE_MAX;
	if ((rv = build_sql(k, sample, &sql)) < 0)
		return rv;
	kube_kubectl(&c, k->cfg, v->target->namespace_,
	             "gitlab-rails dbconsole in the toolbox pod");
	kube_args(&c, "exec", "-i", pod, "-c", "toolbox", "--", "gitlab-rails",
	          "dbconsole", "--database", "main", NULL);
	rv = kube_run(k->cfg, &c, sql, strlen(sql), DB_OUT_MAX, 0, &res,
	              k->x->err, sizeof(k->x->err));
	if (rv < 0)
		goto out;
	if (res.out_len >= DB_OUT_MAX) {
		ls_fmt(k->x->err, sizeof(k->x->err),
		       "gitlab-rails dbconsole in %s: output over %d bytes",
		       pod, DB_OUT_MAX);
		rv = LS_ETOOBIG;
		goto out;
	}
	/* psql goes on past a failed statement (a missing uploads table):
	 * what it said is logged, what it answered is used. */
	kube_last_line(res.err, res.err_len, line, sizeof(line));
	if (line[0] != '\0')
		log_warnx("gitlab-rails dbconsole in %s: %s", pod, line);
	p = (char *)res.out;
	end = p + res.out_len;
	while (rv == 0 && p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		*nl = '\0'; /* res.out is NUL-terminated past its length */
		if (strlen(p) == (size_t)(nl - p))
			rv = db_line(k, p);
		p = nl + 1;
	}
	if (rv == LS_EPROTO)
		ls_fmt(k->x->err, sizeof(k->x->err),
		       "gitlab-rails dbconsole in %s: a line of its answer is "
		       "not what the query selects",
		       pod);
	if (rv < 0)
		goto out;
	for (i = 0; i < v->n_expected; i++) {
		const Ls__TableCount *want = v->expected[i];
		const Ls__TableCount *got =
		    find_count(k->r->chart, k->r->n_chart, want->table);
		if (got == NULL)
			kv_diff(k,
			        "%s: %llu in the backup, table missing on the "
			        "chart side",
			        want->table, (unsigned long long)want->rows);
		else if (got->rows != want->rows)
			kv_diff(
			    k, "%s: %llu in the backup, %llu on the chart side",
			    want->table, (unsigned long long)want->rows,
			    (unsigned long long)got->rows);
	}
out:
	ls_exec_result_free(&res);
	free(sql);
	return rv;
}

int xr_kube_verify(struct xr *x, const Ls__KubeVerify *v)
{
	struct kv k;
	char dir[LS_PATH_MAX], **pods = NULL;
	size_t npods = 0, i;
	int rv;

	memset(&k, 0, sizeof(k));
	k.x = x;
	k.cfg = x->cfg;
	k.v = v;
	if ((x->kverify = malloc(sizeof(*x->kverify))) == NULL)
		return LS_ENOMEM;
	ls__kube_verify_result__init(x->kverify);
	k.r = x->kverify;
	if ((rv = kube_target_ok(v->target, x->err, sizeof(x->err))) < 0 ||
	    (rv = xr_backup_path(v->backup_dir, NULL, dir, sizeof(dir), x->err,
	                         sizeof(x->err))) < 0)
		return rv;
	if (v->backup_id[0] == '\0' || v->backup_id[0] == '.' ||
	    strchr(v->backup_id, '/') != NULL || strlen(v->backup_id) > 200) {
		ls_fmt(x->err, sizeof(x->err), "bad backup id '%.200s'",
		       v->backup_id);
		return LS_EINVAL;
	}
	for (i = 0; i < v->n_expected; i++)
		if (!table_ok(v->expected[i]->table)) {
			ls_fmt(x->err, sizeof(x->err),
			       "table '%.200s' is not a schema.table name",
			       v->expected[i]->table);
			return LS_EINVAL;
		}
	if ((rv = kube_values(k.cfg, v->target, &k.values, x->err,
	                      sizeof(x->err))) < 0 ||
	    (rv = kube_ready_pods(k.cfg, v->target, "toolbox", &pods, &npods,
	                          x->err, sizeof(x->err))) < 0)
		goto out;
	if (npods == 0) {
		ls_fmt(x->err, sizeof(x->err),
		       "release %s has no ready toolbox pod",
		       v->target->release);
		rv = LS_ESTATE;
		goto out;
	}
	if ((rv = dbconsole(&k, pods[0])) < 0 || (rv = kv_repos(&k, dir)) < 0 ||
	    (rv = kv_uploads(&k)) < 0)
		goto out;
	log_info(
	    "verify: %zu tables, %llu repositories, %llu uploads "
	    "checked, %llu differences",
	    k.r->n_chart, (unsigned long long)k.r->repositories,
	    (unsigned long long)k.r->uploads_checked,
	    (unsigned long long)(k.r->n_differences + k.r->more_differences));
out:
	for (i = 0; i < k.nsample; i++)
		free(k.sample[i].path);
	for (i = 0; i < k.nlocal; i++)
		free(k.local[i].path);
	free(k.sample);
	free(k.local);
	ls_names_free(pods, npods);
	json_decref(k.values);
	return rv;
}
