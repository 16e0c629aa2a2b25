/*
 * A repository's refs as its copy writes them, and its bundle written with
 * one git process. Process creation is most of a small repository's cost
 * (on the paravirtualised 2-core VM it was measured on, page-table work is
 * a hypercall): `git bundle create - --all` in a scratch repository plus
 * `git for-each-ref` there was three processes (bundle spawns pack-objects)
 * at ~35 ms CPU a repository, pack-objects alone ~23 ms. So the list comes from
 * the cut (files backend), resolved and sorted here as git would, and the
 * bundle is what git 2.39's `bundle create - --all` writes: its header (refs in
 * refname order, then HEAD), then `git pack-objects --stdout --thin
 * --delta-base-offset --quiet` fed the same ids on stdin. pack-objects runs in
 * the real repository on explicit ids, so pushes since the cut do not show, and
 * --stdout writes nothing there.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backup_repos.h"
#include "ls_error.h"
#include "ls_exec.h"
#include "ls_util.h"

/* git's SYMREF_MAXDEPTH: reads of one resolution, the first ref's own. */
#define BUNDLE_SYMREF_READS 5
#define BUNDLE_CHUNK 65536

void backup_repos_reflist_free(struct backup_repos_reflist *l)
{
	free(l->v);
	free(l->text);
	memset(l, 0, sizeof(*l));
}

/*
 * git's check_refname_format for a full name: no component empty, starting
 * with '.' or ending with ".lock"; no "..", "@{", control characters,
 * space, ~ ^ : ? * [ \ or DEL; not ending with '/' or '.'. git leaves a ref
 * so named out of every listing, and a backup must hold all of the cut.
 */
static int refname_git_ok(const char *s, size_t len)
{
	size_t i, start = 0;

	if (len == 0 || s[len - 1] == '/' || s[len - 1] == '.')
		return 0;
	for (i = 0; i <= len; i++) {
		unsigned char ch = i < len ? (unsigned char)s[i] : '/';

		if (ch == '/') {
			if (i == start || s[start] == '.' ||
			    (i - start >= 5 &&
			     memcmp(s + i - 5, ".lock", 5) == 0))
				return 0;
			start = i + 1;
		} else if (ch < 0x20 || ch == 0x7f || strchr(" ~^:?*[\\", ch) ||
		           (ch == '.' && i > 0 && s[i - 1] == '.') ||
		           (ch == '{' && i > 0 && s[i - 1] == '@')) {
			return 0;
		}
	}
	return 1;
}

/* Appends s (len bytes) and a NUL to l->text; its offset to *off. */
static int text_add(struct backup_repos_reflist *l, const char *s, size_t len,
                    size_t *off)
{
	if (len + 1 > BACKUP_REPOS_REFS_OUT_MAX - l->len)
		return LS_ETOOBIG;
	if (l->len + len + 1 > l->tcap) {
		size_t cap = l->tcap ? l->tcap : 65536;
		char *np;

		while (cap < l->len + len + 1)
			cap *= 2;
		if ((np = realloc(l->text, cap)) == NULL)
			return LS_ENOMEM;
		l->text = np;
		l->tcap = cap;
	}
	memcpy(l->text + l->len, s, len);
	l->text[l->len + len] = '\0';
	*off = l->len;
	l->len += len + 1;
	return 0;
}

/* A ref: val is its id, or its target when sym. */
static int list_add(struct backup_repos_reflist *l, const char *name,
                    size_t nlen, const char *val, size_t vlen, int sym)
{
	struct backup_repos_ref *e;
	int rv;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct backup_repos_ref *np = realloc(l->v, cap * sizeof(*np));

		if (np == NULL)
			return LS_ENOMEM;
		l->v = np;
		l->cap = cap;
	}
	e = &l->v[l->n];
	memset(e, 0, sizeof(*e));
	if ((rv = text_add(l, name, nlen, &e->name_off)) < 0 ||
	    (rv = text_add(l, val, vlen, &e->val_off)) < 0)
		return rv;
	e->target = sym ? "" : NULL; /* a mark until list_finish */
	l->n++;
	return 0;
}

static int ref_cmp(const void *a, const void *b)
{
	return strcmp(((const struct backup_repos_ref *)a)->name,
	              ((const struct backup_repos_ref *)b)->name);
}

static const struct backup_repos_ref *find(const struct backup_repos_reflist *l,
                                           const char *name)
{
	struct backup_repos_ref key;

	memset(&key, 0, sizeof(key));
	key.name = name;
	if (l->n == 0)
		return NULL;
	return bsearch(&key, l->v, l->n, sizeof(*l->v), ref_cmp);
}

/* The id name resolves to within reads reads, as git's resolve_ref does;
 * NULL when a ref on the way is missing or the chain is longer. */
static const char *resolve(const struct backup_repos_reflist *l,
                           const char *name, int reads)
{
	const struct backup_repos_ref *e;

	while (reads-- > 0) {
		if ((e = find(l, name)) == NULL)
			return NULL;
		if (e->target == NULL)
			return e->oid;
		name = e->target;
	}
	return NULL;
}

/* Sorted as git sorts refnames (strcmp), symbolic refs and HEAD resolved
 * (head: HEAD's target, headoid: its id when detached). */
static int list_finish(struct backup_repos_reflist *l, const char *head,
                       const char *headoid, char *why, size_t whylen)
{
	const char *h = NULL;
	size_t i;

	for (i = 0; i < l->n; i++) {
		struct backup_repos_ref *e = &l->v[i];

		e->name = l->text + e->name_off;
		if (e->target != NULL)
			e->target = l->text + e->val_off;
		else
			e->oid = l->text + e->val_off;
	}
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), ref_cmp);
	for (i = 1; i < l->n; i++)
		if (strcmp(l->v[i - 1].name, l->v[i].name) == 0) {
			(void)ls_fmt(why, whylen, "ref %s recorded twice",
			             l->v[i].name);
			return LS_ECHILD;
		}
	l->ntips = 0;
	for (i = 0; i < l->n; i++) {
		struct backup_repos_ref *e = &l->v[i];

		e->tip = resolve(l, e->name, BUNDLE_SYMREF_READS);
		l->ntips += e->tip != NULL;
	}
	/* HEAD's own read is the first of its resolution. */
	if (head != NULL && head[0] != '\0')
		h = resolve(l, head, BUNDLE_SYMREF_READS - 1);
	else if (headoid != NULL && headoid[0] != '\0')
		h = headoid;
	if (h != NULL &&
	    (strlen(h) != l->oidlen || !backup_repos_oid_ok(h, l->oidlen))) {
		(void)ls_fmt(why, whylen, "HEAD is not a %s id", l->fmt);
		return LS_ECHILD;
	}
	l->headoid[0] = '\0';
	if (h != NULL)
		memcpy(l->headoid, h, l->oidlen + 1);
	return 0;
}

static void list_init(struct backup_repos_reflist *l,
                      const struct backup_repos_snap *s)
{
	memset(l, 0, sizeof(*l));
	l->fmt = s->fmt;
	l->oidlen = strcmp(s->fmt, "sha256") == 0 ? 64 : 40;
}

struct cut_read {
	struct backup_repos_reflist *l;
	int bad_oid, bad_name; /* why the repository fails */
	char name[256];        /* the ref it fails on, cut short */
};

static int on_ref(void *arg, const char *oid, const char *name,
                  const char *target)
{
	struct cut_read *c = arg;
	const char *val = oid ? oid : target;

	if (oid != NULL && strlen(oid) != c->l->oidlen)
		c->bad_oid = 1;
	else if (!refname_git_ok(name, strlen(name)))
		c->bad_name = 1;
	if (c->bad_oid || c->bad_name) {
		ls_strlcpy(c->name, name, sizeof(c->name));
		return LS_EPROTO;
	}
	return list_add(c->l, name, strlen(name), val, strlen(val),
	                oid == NULL);
}

int backup_repos_reflist_cut(struct backup_repos_reflist *l, FILE *cut,
                             char *line, struct backup_repos_block *b,
                             int *fatal, char *why, size_t whylen)
{
	struct cut_read c;
	uint64_t n = 0;
	int rv;

	list_init(l, &b->s);
	memset(&c, 0, sizeof(c));
	c.l = l;
	rv = backup_repos_block_refs(cut, line, b, on_ref, &c, &n);
	if (rv < 0 && c.bad_oid) {
		(void)ls_fmt(why, whylen, "recorded ids are not %s ids (%s)",
		             l->fmt, c.name);
		rv = LS_ECHILD;
	} else if (rv < 0 && c.bad_name) {
		(void)ls_fmt(why, whylen, "git refuses the name of ref %s",
		             c.name);
		rv = LS_ECHILD;
	} else if (rv == LS_ETOOBIG) {
		(void)ls_fmt(why, whylen, "refs over the limit of %zu bytes",
		             (size_t)BACKUP_REPOS_REFS_OUT_MAX);
		rv = LS_ECHILD;
	} else if (rv < 0) {
		*fatal = 1;
		(void)ls_fmt(why, whylen, "reading the cut: %s",
		             rv == LS_EPROTO ? "malformed" : ls_strerror(rv));
	}
	if (rv == 0)
		rv = list_finish(l, b->s.head, b->s.headoid, why, whylen);
	if (rv == LS_ENOMEM)
		*fatal = 1;
	return rv;
}

int backup_repos_reflist_git(struct backup_repos_reflist *l, const char *out,
                             size_t len, const struct backup_repos_snap *s,
                             char *why, size_t whylen)
{
	const char *p = out, *end = out + len;
	int rv;

	list_init(l, s);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *sp = nl ? memchr(p, ' ', (size_t)(nl - p)) : NULL;

		if (sp == NULL || (size_t)(sp - p) != l->oidlen ||
		    !backup_repos_oid_ok(p, l->oidlen) ||
		    !backup_repos_refname_ok(sp + 1, (size_t)(nl - sp - 1))) {
			(void)ls_fmt(why, whylen,
			             "git for-each-ref: unexpected output");
			return LS_ECHILD;
		}
		if ((rv = list_add(l, sp + 1, (size_t)(nl - sp - 1), p,
		                   l->oidlen, 0)) < 0)
			return rv == LS_ETOOBIG ? LS_ECHILD : rv;
		p = nl + 1;
	}
	return list_finish(l, s->head, s->headoid, why, whylen);
}

/* Lines gathered into chunks for the sink. */
struct outbuf {
	char *buf;
	size_t len;
	backup_repos_sink_fn sink;
	void *arg;
};

static int out_flush(struct outbuf *o)
{
	int rv = o->len > 0 ? o->sink(o->arg, o->buf, o->len) : 0;

	o->len = 0;
	return rv;
}

/* "<a><b><c><d>" into o; every piece is shorter than a chunk. */
static int out_line(struct outbuf *o, const char *a, const char *b,
                    const char *c, const char *d)
{
	const char *s[4] = {a, b, c, d};
	size_t i, n;
	int rv;

	for (i = 0; i < 4; i++) {
		n = strlen(s[i]);
		if (n > BUNDLE_CHUNK - o->len && (rv = out_flush(o)) < 0)
			return rv;
		memcpy(o->buf + o->len, s[i], n);
		o->len += n;
	}
	return 0;
}

/* The refs' lines, HEAD's before them (001.refs) or after (a bundle). */
static int out_refs(struct outbuf *o, const struct backup_repos_reflist *l,
                    int head_first)
{
	size_t i;
	int rv;

	if (head_first && l->headoid[0] != '\0' &&
	    (rv = out_line(o, l->headoid, " HEAD", "\n", "")) < 0)
		return rv;
	for (i = 0; i < l->n; i++)
		if (l->v[i].tip != NULL &&
		    (rv = out_line(o, l->v[i].tip, " ", l->v[i].name, "\n")) <
		        0)
			return rv;
	if (!head_first && l->headoid[0] != '\0' &&
	    (rv = out_line(o, l->headoid, " HEAD", "\n", "")) < 0)
		return rv;
	return 0;
}

int backup_repos_refs_write(const struct backup_repos_reflist *l,
                            backup_repos_sink_fn sink, void *arg)
{
	struct outbuf o = {NULL, 0, sink, arg};
	int rv;

	if ((o.buf = malloc(BUNDLE_CHUNK)) == NULL)
		return LS_ENOMEM;
	if ((rv = out_refs(&o, l, 1)) == 0)
		rv = out_flush(&o);
	free(o.buf);
	return rv;
}

/* pack-objects' stdin: the header's ids, one a line, in its order. */
static int tips_text(const struct backup_repos_reflist *l, char **text,
                     size_t *len)
{
	size_t n = l->ntips + (l->headoid[0] != '\0'), i, off = 0;
	char *t;

	if ((t = malloc(n * (l->oidlen + 1) + 1)) == NULL)
		return LS_ENOMEM;
	for (i = 0; i < l->n; i++) {
		if (l->v[i].tip == NULL)
			continue;
		memcpy(t + off, l->v[i].tip, l->oidlen);
		t[off + l->oidlen] = '\n';
		off += l->oidlen + 1;
	}
	if (l->headoid[0] != '\0') {
		memcpy(t + off, l->headoid, l->oidlen);
		t[off + l->oidlen] = '\n';
		off += l->oidlen + 1;
	}
	*text = t;
	*len = off;
	return 0;
}

/* Writes what stdin can take now; closes it when all is written, or
 * when pack-objects is gone (its status says why). */
static int feed(struct ls_proc *p, const char *in, size_t len, size_t *off)
{
	ssize_t w = ls_exec_write(p->in_fd, in + *off, len - *off);

	if (w < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (w < 0 && errno != EPIPE)
		return -errno;
	if (w > 0)
		*off += (size_t)w;
	if (w < 0 || *off == len) {
		close(p->in_fd);
		p->in_fd = -1;
	}
	return 0;
}

int backup_repos_bundle_write(const struct agent_config *cfg,
                              const char *gitdir,
                              const struct backup_repos_reflist *l,
                              backup_repos_sink_fn sink, void *arg, int *fatal,
                              char *why, size_t whylen)
{
	char gd[LS_PATH_MAX + 16];
	const char *argv[] = {cfg->gitaly.git, gd,       "pack-objects",
	                      "--stdout",      "--thin", "--delta-base-offset",
	                      "--quiet",       NULL};
	struct ls_exec_opts opts;
	struct ls_exec_result res;
	struct ls_proc p = {.pid = -1, .in_fd = -1, .out_fd = -1, .err_fd = -1};
	struct outbuf o = {NULL, 0, sink, arg};
	int timeout = backup_repos_timeout_ms(cfg), rv, fl;
	int64_t deadline = timeout > 0 ? ls_mono_ms() + timeout : 0;
	char *in = NULL;
	size_t inlen = 0, inoff = 0;

	memset(&res, 0, sizeof(res));
	memset(&opts, 0, sizeof(opts));
	opts.argv = argv;
	if ((rv = ls_fmt(gd, sizeof(gd), "--git-dir=%s", gitdir)) < 0 ||
	    (o.buf = malloc(BUNDLE_CHUNK)) == NULL ||
	    (rv = tips_text(l, &in, &inlen)) < 0) {
		rv = rv < 0 ? rv : LS_ENOMEM;
		*fatal = 1;
		(void)ls_fmt(why, whylen, "%s", ls_strerror(rv));
		goto out;
	}
	/* The header as git 2.39 writes it: v3 only for another hash. */
	if ((rv = out_line(
	         &o, "# v", l->oidlen == 40 ? "2" : "3", " git bundle\n",
	         l->oidlen == 40 ? "" : "@object-format=sha256\n")) < 0 ||
	    (rv = out_refs(&o, l, 0)) < 0 ||
	    (rv = out_line(&o, "\n", "", "", "")) < 0 ||
	    (rv = out_flush(&o)) < 0)
		goto out;
	if ((rv = ls_exec_spawn(&opts, 1, -1, &p)) < 0) {
		*fatal = 1;
		(void)ls_fmt(why, whylen, "cannot run %s: %s", cfg->gitaly.git,
		             ls_strerror(rv));
		goto out;
	}
	/* Fed while its output is read: 100,000 refs' ids fill a pipe. */
	if ((fl = fcntl(p.in_fd, F_GETFL)) < 0 ||
	    fcntl(p.in_fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		rv = -errno;
		*fatal = 1;
		(void)ls_fmt(why, whylen, "git pack-objects: %s",
		             strerror(errno));
		goto out;
	}
	for (;;) {
		struct pollfd pfd[2] = {{p.out_fd, POLLIN, 0},
		                        {p.in_fd, POLLOUT, 0}};
		ssize_t n;

		if (deadline && ls_mono_ms() >= deadline) {
			rv = LS_ETIMEDOUT;
			(void)ls_fmt(why, whylen,
			             "git pack-objects: timed out");
			goto out;
		}
		if (poll(pfd, p.in_fd >= 0 ? 2 : 1, 1000) < 0 &&
		    errno != EINTR) {
			rv = -errno;
			*fatal = 1;
			goto out;
		}
		if (p.in_fd >= 0 && pfd[1].revents != 0 &&
		    (rv = feed(&p, in, inlen, &inoff)) < 0) {
			*fatal = 1;
			(void)ls_fmt(why, whylen,
			             "writing to git pack-objects: %s",
			             ls_strerror(rv));
			goto out;
		}
		if (pfd[0].revents == 0)
			continue;
		n = read(p.out_fd, o.buf, BUNDLE_CHUNK);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			rv = -errno;
			*fatal = 1;
			(void)ls_fmt(why, whylen, "reading the bundle: %s",
			             strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if ((rv = sink(arg, o.buf, (size_t)n)) < 0)
			goto out;
	}
	rv = ls_exec_wait(&p, timeout, BACKUP_REPOS_STDERR_MAX, &res);
	if (rv < 0 || !res.exited || res.status != 0) {
		backup_repos_why(why, whylen, "git pack-objects", rv, &res);
		rv = LS_ECHILD;
		goto out;
	}
	if (inoff != inlen) {
		(void)ls_fmt(why, whylen,
		             "git pack-objects: did not read every id");
		rv = LS_ECHILD;
		goto out;
	}
	rv = 0;
out:
	ls_exec_kill(&p);
	ls_exec_result_free(&res);
	free(o.buf);
	free(in);
	return rv;
}
