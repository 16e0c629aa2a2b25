/*
 * The saved listing of a file component's archive. Line-based text:
 *
 *   lockstep-restore-listing 1
 *   component <name>
 *   dir <path>
 *   archive <path>
 *   stat <dev> <ino> <size> <mtime s> <mtime ns> <ctime s> <ctime ns>
 *   entries <n>
 *   d <path> | f <size> <sha256 hex> <path> | l <path> <target>   (n times)
 *   end <sha256 hex of every byte before this line>
 *
 * Names are escaped (%XX for '%', space, control bytes and DEL) so that
 * fields split on single spaces. Entries are in strcmp order without
 * duplicates, as the verification merges them. The reader accepts only
 * what the writer produces: one spelling per listing, and the checksum
 * catches a file damaged since; it lives in the agent's private state
 * directory, but it is still a file, so every length is capped. The
 * version goes up whenever what an entry means changes (how the archive
 * side of restore_files_verify reads an archive): an older listing is
 * then malformed, and not used.
 */
#include "restore_files_listing.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ls_error.h"
#include "ls_util.h"

#define RFL_MAGIC "lockstep-restore-listing 1"
/* The longest line: a symlink entry with every byte escaped. */
#define RFL_LINE_MAX (8 + 3 * (RFL_MAX_PATH + RFL_MAX_LINK))

void rfl_list_free(struct rfl_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->e[i].path);
		free(l->e[i].link);
	}
	free(l->e);
	memset(l, 0, sizeof(*l));
}

struct rfl_ent *rfl_list_add(struct rfl_list *l, const char *path, char type,
                             const char *link)
{
	struct rfl_ent *ne, *x;
	size_t cap;

	if (l->n >= RFL_MAX_ENTRIES)
		return NULL;
	if (l->n == l->cap) {
		cap = l->cap ? l->cap * 2 : 256;
		if ((ne = realloc(l->e, cap * sizeof(*ne))) == NULL)
			return NULL;
		l->e = ne;
		l->cap = cap;
	}
	x = &l->e[l->n];
	memset(x, 0, sizeof(*x));
	x->type = type;
	x->seq = l->n;
	if ((x->path = strdup(path)) == NULL ||
	    (link != NULL && (x->link = strdup(link)) == NULL)) {
		free(x->path);
		return NULL;
	}
	l->n++;
	return x;
}

static int rfl_cmp(const void *a, const void *b)
{
	const struct rfl_ent *x = a, *y = b;
	int c = strcmp(x->path, y->path);

	if (c != 0)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void rfl_list_sort(struct rfl_list *l)
{
	size_t i, o = 0;

	if (l->n > 1)
		qsort(l->e, l->n, sizeof(*l->e), rfl_cmp);
	for (i = 0; i < l->n; i++) {
		if (i + 1 < l->n &&
		    strcmp(l->e[i].path, l->e[i + 1].path) == 0) {
			free(l->e[i].path);
			free(l->e[i].link);
			continue;
		}
		l->e[o++] = l->e[i];
	}
	l->n = o;
}

const struct rfl_ent *rfl_find_file(const struct rfl_list *l, const char *path)
{
	size_t i;

	for (i = l->n; i-- > 0;)
		if (l->e[i].type == 'f' && strcmp(l->e[i].path, path) == 0)
			return &l->e[i];
	return NULL;
}

void rfl_bind_stat(struct rfl_bind *b, const struct stat *st)
{
	b->dev = (uint64_t)st->st_dev;
	b->ino = (uint64_t)st->st_ino;
	b->size = (uint64_t)st->st_size;
	b->mtime_s = (int64_t)st->st_mtim.tv_sec;
	b->mtime_ns = (int64_t)st->st_mtim.tv_nsec;
	b->ctime_s = (int64_t)st->st_ctim.tv_sec;
	b->ctime_ns = (int64_t)st->st_ctim.tv_nsec;
}

int rfl_path(char *out, size_t len, const char *listing_dir,
             const char *component)
{
	return ls_fmt(out, len, "%s/%s.listing", listing_dir, component);
}

static int rfl_escaped(unsigned char c)
{
	return c <= ' ' || c == '%' || c == 0x7f;
}

/* Appends s escaped to buf at *o (room is the caller's: 3 per byte). */
static void rfl_esc(char *buf, size_t *o, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)s;

	for (; *p != '\0'; p++) {
		if (rfl_escaped(*p)) {
			buf[(*o)++] = '%';
			buf[(*o)++] = hex[*p >> 4];
			buf[(*o)++] = hex[*p & 15];
		} else {
			buf[(*o)++] = (char)*p;
		}
	}
	buf[*o] = '\0';
}

/* Decodes the escaped s in place; LS_EPROTO unless written by rfl_esc. */
static int rfl_unesc(char *s, size_t max)
{
	unsigned char *r = (unsigned char *)s, *w = r;
	int v, i, d;

	while (*r != '\0') {
		if (*r != '%') {
			if (rfl_escaped(*r))
				return LS_EPROTO;
			*w++ = *r++;
			continue;
		}
		for (v = 0, i = 1; i <= 2; i++) {
			d = r[i] >= '0' && r[i] <= '9'   ? r[i] - '0'
			    : r[i] >= 'A' && r[i] <= 'F' ? r[i] - 'A' + 10
			                                 : -1;
			if (d < 0)
				return LS_EPROTO;
			v = v * 16 + d;
		}
		if (v == 0 || !rfl_escaped((unsigned char)v))
			return LS_EPROTO;
		*w++ = (unsigned char)v;
		r += 3;
	}
	*w = '\0';
	return (size_t)(w - (unsigned char *)s) > max ? LS_ETOOBIG : 0;
}

/* Writes line (len bytes, '\n' included) to f and into the checksum. */
static int rfl_put(FILE *f, EVP_MD_CTX *md, const char *line, size_t len)
{
	if (EVP_DigestUpdate(md, line, len) != 1)
		return LS_ECRYPTO;
	return fwrite(line, 1, len, f) == len ? 0 : LS_EIO;
}

static int rfl_put_ent(FILE *f, EVP_MD_CTX *md, char *buf,
                       const struct rfl_ent *x)
{
	char hex[65];
	size_t o;
	int n;

	if (strlen(x->path) > RFL_MAX_PATH ||
	    (x->link != NULL && strlen(x->link) > RFL_MAX_LINK))
		return LS_ETOOBIG;
	if (x->type == 'f') {
		ls_hex(hex, x->sha, 32);
		n = snprintf(buf, RFL_LINE_MAX, "f %llu %s ",
		             (unsigned long long)x->size, hex);
	} else if (x->type == 'd' || (x->type == 'l' && x->link != NULL)) {
		n = snprintf(buf, RFL_LINE_MAX, "%c ", x->type);
	} else {
		return LS_EINVAL;
	}
	o = (size_t)n;
	rfl_esc(buf, &o, x->path);
	if (x->type == 'l') {
		buf[o++] = ' ';
		rfl_esc(buf, &o, x->link);
	}
	buf[o++] = '\n';
	return rfl_put(f, md, buf, o);
}

static int rfl_put_head(FILE *f, EVP_MD_CTX *md, char *buf,
                        const struct rfl_bind *b, size_t n)
{
	const char *key[3] = {"component", "dir", "archive"};
	const char *val[3] = {b->component, b->dir, b->archive};
	size_t o;
	int i, rv, len;

	if ((rv = rfl_put(f, md, RFL_MAGIC "\n", strlen(RFL_MAGIC) + 1)) < 0)
		return rv;
	for (i = 0; i < 3; i++) {
		if (strlen(val[i]) > RFL_MAX_PATH)
			return LS_ETOOBIG;
		o = (size_t)snprintf(buf, RFL_LINE_MAX, "%s ", key[i]);
		rfl_esc(buf, &o, val[i]);
		buf[o++] = '\n';
		if ((rv = rfl_put(f, md, buf, o)) < 0)
			return rv;
	}
	len = snprintf(buf, RFL_LINE_MAX,
	               "stat %llu %llu %llu %lld %lld %lld %lld\nentries %zu\n",
	               (unsigned long long)b->dev, (unsigned long long)b->ino,
	               (unsigned long long)b->size, (long long)b->mtime_s,
	               (long long)b->mtime_ns, (long long)b->ctime_s,
	               (long long)b->ctime_ns, n);
	return rfl_put(f, md, buf, (size_t)len);
}

int rfl_write(FILE *f, const struct rfl_bind *b, const struct rfl_list *l)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	char *buf = malloc(RFL_LINE_MAX + 1), hex[65];
	uint8_t sum[32];
	unsigned int sumlen = 0;
	size_t i;
	int rv;

	if (md == NULL || buf == NULL) {
		rv = LS_ENOMEM;
		goto out;
	}
	if (l->bad || l->n > RFL_MAX_ENTRIES) {
		rv = LS_EINVAL;
		goto out;
	}
	if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		rv = LS_ECRYPTO;
		goto out;
	}
	if ((rv = rfl_put_head(f, md, buf, b, l->n)) < 0)
		goto out;
	for (i = 0; i < l->n; i++) {
		/* The reader insists on this order: so does the writer. */
		if (i > 0 && strcmp(l->e[i - 1].path, l->e[i].path) >= 0) {
			rv = LS_EINVAL;
			goto out;
		}
		if ((rv = rfl_put_ent(f, md, buf, &l->e[i])) < 0)
			goto out;
	}
	if (EVP_DigestFinal_ex(md, sum, &sumlen) != 1 || sumlen != 32) {
		rv = LS_ECRYPTO;
		goto out;
	}
	ls_hex(hex, sum, 32);
	if (fprintf(f, "end %s\n", hex) < 0)
		rv = LS_EIO;
out:
	EVP_MD_CTX_free(md);
	free(buf);
	return rv;
}

struct rfl_rd {
	FILE *f;
	EVP_MD_CTX *md;
	char *buf;
	size_t len;
};

/* The next line, without its '\n', into r->buf; one cut short (no
 * newline before the end of the file) is LS_EPROTO. */
static int rfl_line(struct rfl_rd *r, int hash)
{
	int ch;

	r->len = 0;
	while ((ch = getc_unlocked(r->f)) != EOF && ch != '\n') {
		if (r->len >= RFL_LINE_MAX)
			return LS_ETOOBIG;
		r->buf[r->len++] = (char)ch;
	}
	if (ch == EOF)
		return ferror(r->f) ? LS_EIO : LS_EPROTO;
	r->buf[r->len] = '\n';
	if (hash && EVP_DigestUpdate(r->md, r->buf, r->len + 1) != 1)
		return LS_ECRYPTO;
	r->buf[r->len] = '\0';
	if (memchr(r->buf, '\0', r->len) != NULL)
		return LS_EPROTO;
	return 0;
}

/* A decimal as the writer prints it: no sign but min < 0 allows '-',
 * no leading zeros, within [min, max]. */
static int rfl_num(const char *s, long long min, unsigned long long max,
                   int64_t *sv, uint64_t *uv)
{
	unsigned long long v = 0;
	unsigned d;
	int neg = 0;

	if (*s == '-' && min < 0) {
		neg = 1;
		s++;
	}
	if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] != '\0') ||
	    (neg && s[0] == '0'))
		return LS_EPROTO;
	for (; *s != '\0'; s++) {
		d = (unsigned)(*s - '0');
		if (*s < '0' || *s > '9' || v > max / 10 ||
		    (v == max / 10 && d > max % 10))
			return LS_EPROTO;
		v = v * 10 + d;
	}
	if (neg && v > (unsigned long long)-(min + 1) + 1)
		return LS_EPROTO;
	if (uv != NULL)
		*uv = v;
	if (sv != NULL)
		*sv = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

/* Splits s at single spaces into exactly n fields. */
static int rfl_split(char *s, char **fld, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		fld[i] = s;
		s = strchr(s, ' ');
		if (i == n - 1)
			return s == NULL ? 0 : LS_EPROTO;
		if (s == NULL)
			return LS_EPROTO;
		*s++ = '\0';
	}
	return 0;
}

/* "key value", value unescaped, equal to want if want is not NULL. */
static int rfl_head_str(struct rfl_rd *r, const char *key, const char *want)
{
	size_t k = strlen(key);
	int rv;

	if ((rv = rfl_line(r, 1)) < 0)
		return rv;
	if (r->len <= k || memcmp(r->buf, key, k) != 0 || r->buf[k] != ' ')
		return LS_EPROTO;
	if ((rv = rfl_unesc(r->buf + k + 1, RFL_MAX_PATH)) < 0)
		return rv;
	if (r->buf[k + 1] == '\0')
		return LS_EPROTO;
	return want == NULL || strcmp(r->buf + k + 1, want) == 0 ? 0
	                                                         : LS_ESTATE;
}

static int rfl_head(struct rfl_rd *r, const struct rfl_bind *want, uint64_t *n)
{
	char *f[8];
	uint64_t u[3];
	int64_t s[4];
	int i, rv, stale = 0;

	if ((rv = rfl_line(r, 1)) < 0)
		return rv;
	if (strcmp(r->buf, RFL_MAGIC) != 0)
		return LS_EPROTO;
	/* Every line is read even when stale: malformed wins, simpler. */
	rv = rfl_head_str(r, "component", want ? want->component : NULL);
	stale |= rv == LS_ESTATE;
	if (rv < 0 && rv != LS_ESTATE)
		return rv;
	rv = rfl_head_str(r, "dir", want ? want->dir : NULL);
	stale |= rv == LS_ESTATE;
	if (rv < 0 && rv != LS_ESTATE)
		return rv;
	rv = rfl_head_str(r, "archive", want ? want->archive : NULL);
	stale |= rv == LS_ESTATE;
	if (rv < 0 && rv != LS_ESTATE)
		return rv;
	if ((rv = rfl_line(r, 1)) < 0 || (rv = rfl_split(r->buf, f, 8)) < 0)
		return rv;
	if (strcmp(f[0], "stat") != 0)
		return LS_EPROTO;
	for (i = 0; i < 3; i++)
		if ((rv = rfl_num(f[1 + i], 0, UINT64_MAX, NULL, &u[i])) < 0)
			return rv;
	for (i = 0; i < 4; i++)
		if ((rv = rfl_num(f[4 + i], i % 2 ? 0 : INT64_MIN,
		                  i % 2 ? 999999999 : INT64_MAX, &s[i], NULL)) <
		    0)
			return rv;
	if (want != NULL &&
	    (u[0] != want->dev || u[1] != want->ino || u[2] != want->size ||
	     s[0] != want->mtime_s || s[1] != want->mtime_ns ||
	     s[2] != want->ctime_s || s[3] != want->ctime_ns))
		stale = 1;
	if (stale)
		return LS_ESTATE;
	if ((rv = rfl_line(r, 1)) < 0 || (rv = rfl_split(r->buf, f, 2)) < 0)
		return rv;
	if (strcmp(f[0], "entries") != 0 ||
	    (rv = rfl_num(f[1], 0, RFL_MAX_ENTRIES, NULL, n)) < 0)
		return rv < 0 ? rv : LS_EPROTO;
	return 0;
}

static int rfl_ent(struct rfl_rd *r, struct rfl_list *l)
{
	char *f[4];
	struct rfl_ent *x;
	uint64_t size = 0;
	uint8_t sha[32];
	int rv;

	if (r->len < 2 || r->buf[1] != ' ')
		return LS_EPROTO;
	switch (r->buf[0]) {
	case 'd':
		if ((rv = rfl_unesc(r->buf + 2, RFL_MAX_PATH)) < 0)
			return rv;
		f[1] = r->buf + 2;
		f[2] = NULL;
		break;
	case 'l':
		if ((rv = rfl_split(r->buf, f, 3)) < 0 ||
		    (rv = rfl_unesc(f[1], RFL_MAX_PATH)) < 0 ||
		    (rv = rfl_unesc(f[2], RFL_MAX_LINK)) < 0)
			return rv;
		break;
	case 'f':
		if ((rv = rfl_split(r->buf, f, 4)) < 0 ||
		    (rv = rfl_num(f[1], 0, UINT64_MAX, NULL, &size)) < 0 ||
		    strlen(f[2]) != 64 || ls_unhex(sha, 32, f[2]) != 32 ||
		    (rv = rfl_unesc(f[3], RFL_MAX_PATH)) < 0)
			return rv < 0 ? rv : LS_EPROTO;
		f[1] = f[3];
		f[2] = NULL;
		break;
	default:
		return LS_EPROTO;
	}
	if (f[1][0] == '\0')
		return LS_EPROTO;
	/* Strictly increasing: the merge relies on it. */
	if (l->n > 0 && strcmp(l->e[l->n - 1].path, f[1]) >= 0)
		return LS_EPROTO;
	if ((x = rfl_list_add(l, f[1], r->buf[0], f[2])) == NULL)
		return LS_ENOMEM;
	x->size = size;
	if (x->type == 'f')
		memcpy(x->sha, sha, 32);
	return 0;
}

static int rfl_tail(struct rfl_rd *r)
{
	uint8_t sum[32], got[32];
	unsigned int sumlen = 0;
	int rv;

	if (EVP_DigestFinal_ex(r->md, sum, &sumlen) != 1 || sumlen != 32)
		return LS_ECRYPTO;
	if ((rv = rfl_line(r, 0)) < 0)
		return rv;
	if (r->len != 68 || memcmp(r->buf, "end ", 4) != 0 ||
	    ls_unhex(got, 32, r->buf + 4) != 32 || memcmp(got, sum, 32) != 0)
		return LS_EPROTO;
	/* Nothing after the end. */
	return getc_unlocked(r->f) == EOF && !ferror(r->f) ? 0 : LS_EPROTO;
}

int rfl_read(FILE *f, const struct rfl_bind *want, struct rfl_list *out)
{
	struct rfl_rd r = {f, EVP_MD_CTX_new(), malloc(RFL_LINE_MAX + 1), 0};
	uint64_t n = 0, i;
	int rv;

	memset(out, 0, sizeof(*out));
	if (r.md == NULL || r.buf == NULL) {
		rv = LS_ENOMEM;
		goto out;
	}
	if (EVP_DigestInit_ex(r.md, EVP_sha256(), NULL) != 1) {
		rv = LS_ECRYPTO;
		goto out;
	}
	if ((rv = rfl_head(&r, want, &n)) < 0)
		goto out;
	for (i = 0; i < n; i++)
		if ((rv = rfl_line(&r, 1)) < 0 || (rv = rfl_ent(&r, out)) < 0)
			goto out;
	rv = rfl_tail(&r);
out:
	if (rv < 0)
		rfl_list_free(out);
	EVP_MD_CTX_free(r.md);
	free(r.buf);
	return rv;
}

int rfl_save(const char *listing_dir, const struct rfl_bind *b,
             const struct rfl_list *l)
{
	char path[LS_PATH_MAX], tmp[LS_PATH_MAX];
	FILE *f = NULL;
	int fd = -1, dfd = -1, rv;

	if ((rv = rfl_path(path, sizeof(path), listing_dir, b->component)) <
	        0 ||
	    (rv = ls_fmt(tmp, sizeof(tmp), "%s.tmp-XXXXXX", path)) < 0 ||
	    (rv = ls_mkdirs(listing_dir, 0700)) < 0)
		return rv;
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0)
		return -errno;
	if (fchmod(fd, 0600) < 0 || (f = fdopen(fd, "w")) == NULL) {
		rv = -errno;
		goto out;
	}
	fd = -1; /* f owns it */
	if ((rv = rfl_write(f, b, l)) < 0)
		goto out;
	if (fflush(f) != 0 || fsync(fileno(f)) < 0) {
		rv = -errno;
		goto out;
	}
	rv = fclose(f) == 0 ? 0 : -errno;
	f = NULL;
	if (rv < 0)
		goto out;
	if (rename(tmp, path) < 0) {
		rv = -errno;
		goto out;
	}
	if ((dfd = open(listing_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >=
	    0) {
		fsync(dfd);
		close(dfd);
	}
out:
	if (f != NULL)
		fclose(f);
	if (fd >= 0)
		close(fd);
	if (rv < 0)
		unlink(tmp);
	return rv;
}

int rfl_load(const char *listing_dir, const struct rfl_bind *want,
             struct rfl_list *out)
{
	char path[LS_PATH_MAX];
	FILE *f = NULL;
	int fd, rv;

	memset(out, 0, sizeof(*out));
	if ((rv = rfl_path(path, sizeof(path), listing_dir, want->component)) <
	    0)
		goto out;
	/* O_NOFOLLOW: the state directory holds no links of ours. */
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		rv = -errno;
		goto out;
	}
	if ((f = fdopen(fd, "r")) == NULL) {
		rv = -errno;
		close(fd);
		goto out;
	}
	rv = rfl_read(f, want, out);
out:
	if (f != NULL)
		fclose(f);
	return rv;
}
