/*
 * Row counts read from pg_dump's plain-format output as it streams past,
 * so the counts a restore is checked against cost no second read of the
 * database: on a large instance a count(*) of every table is another full
 * scan of every heap.
 *
 * A table's data is one block that pg_dump writes as
 *
 *   -- Data for Name: <table>; Type: TABLE DATA; Schema: <schema>; Owner: ..
 *   --
 *   (empty line)
 *   COPY <schema>.<table> (<columns>) FROM stdin;
 *   <one line per row, in COPY's text format>
 *   \.
 *
 * In the text format a backslash in a value is written doubled and a
 * newline as \n, so every row is exactly one line and no row starts with
 * "\.". The COPY line is taken as a block only right after the comment
 * naming the same table: a function body may hold a line that looks like
 * one. A COPY line ending in "FROM stdin;" without that comment, a line
 * longer than the cap, or a dump ending inside a block make the counts
 * void (the caller counts with SQL instead); nothing is guessed.
 */
#include "backup_pg_rows.h"

#include <stdlib.h>
#include <string.h>

#include "ls_error.h"
#include "ls_util.h"

/* Outside a block only comment and COPY lines are kept; GitLab's widest
 * tables make COPY lines of a few KiB. */
#define ROWS_LINE_MAX 65536
#define ROWS_NAME_MAX 256 /* "schema.table": NAMEDATALEN is 64 a part */
#define ROWS_TABLES_MAX 1000000

enum rows_state {
	ST_OUT_START, /* at the start of a line outside a block */
	ST_OUT_KEEP,  /* in a line outside a block that is kept */
	ST_OUT_SKIP,  /* in a line outside a block that is not */
	ST_IN_START,  /* at the start of a row line */
	ST_IN_BS,     /* a row line began with a backslash */
	ST_IN_BSDOT,  /* ... followed by a dot */
	ST_IN_LINE,   /* inside a row line */
	ST_BAD,
};

struct rows_table {
	char name[ROWS_NAME_MAX];
	uint64_t rows;
};

struct backup_pg_rows {
	enum rows_state st;
	char *line; /* the kept line, ROWS_LINE_MAX bytes */
	size_t len;
	char anchor[ROWS_NAME_MAX]; /* the TABLE DATA comment's table */
	struct rows_table *tables;
	size_t n, cap;
	char why[256];
};

struct backup_pg_rows *backup_pg_rows_new(void)
{
	struct backup_pg_rows *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	if ((r->line = malloc(ROWS_LINE_MAX)) == NULL) {
		free(r);
		return NULL;
	}
	return r;
}

void backup_pg_rows_free(struct backup_pg_rows *r)
{
	if (r == NULL)
		return;
	free(r->line);
	free(r->tables);
	free(r);
}

static int rows_bad(struct backup_pg_rows *r, const char *why, const char *what)
{
	if (r->st != ST_BAD)
		(void)ls_fmt(r->why, sizeof(r->why), "%s%s%.160s", why,
		             what ? ": " : "", what ? what : "");
	r->st = ST_BAD;
	return LS_EPROTO;
}

/*
 * One identifier as pg_dump's fmtId writes it: bare ([a-z0-9_], fmtId
 * quotes anything else) or double-quoted with "" for a quote. Appends its
 * name to out; returns the bytes consumed, 0 when there is none.
 */
static size_t ident(const char *s, size_t len, char *out, size_t *olen,
                    size_t ocap)
{
	size_t i = 0, start = *olen;

	if (len > 0 && s[0] == '"') {
		for (i = 1; i < len; i++) {
			if (s[i] == '"') {
				if (i + 1 >= len || s[i + 1] != '"')
					return *olen > start ? i + 1 : 0;
				i++;
			}
			if (*olen + 1 >= ocap)
				return 0;
			out[(*olen)++] = s[i];
		}
		return 0; /* unterminated */
	}
	while (i < len && ((s[i] >= 'a' && s[i] <= 'z') ||
	                   (s[i] >= '0' && s[i] <= '9') || s[i] == '_')) {
		if (*olen + 1 >= ocap)
			return 0;
		out[(*olen)++] = s[i++];
	}
	return i;
}

/* "COPY <schema>.<table> ... FROM stdin;": the table as "schema.table". */
static int copy_name(const char *s, size_t len, char *out)
{
	size_t olen = 0, k;

	if (len < 5 || memcmp(s, "COPY ", 5) != 0)
		return 0;
	s += 5;
	len -= 5;
	if ((k = ident(s, len, out, &olen, ROWS_NAME_MAX)) == 0 || k >= len ||
	    s[k] != '.' || olen + 1 >= ROWS_NAME_MAX)
		return 0;
	out[olen++] = '.';
	s += k + 1;
	len -= k + 1;
	if ((k = ident(s, len, out, &olen, ROWS_NAME_MAX)) == 0 || k >= len ||
	    s[k] != ' ')
		return 0;
	out[olen] = '\0';
	return 1;
}

/* "-- Data for Name: <t>; Type: TABLE DATA; Schema: <s>; Owner: <o>":
 * "s.t" into out. Names are as pg_dump prints them, unquoted. */
static int anchor_name(const char *s, size_t len, char *out)
{
	static const char pre[] = "-- Data for Name: ";
	static const char mid[] = "; Type: TABLE DATA; Schema: ";
	static const char own[] = "; Owner: ";
	const char *m, *o, *end = s + len;
	size_t pl = sizeof(pre) - 1, ml = sizeof(mid) - 1, tl, sl;

	if (len < pl || memcmp(s, pre, pl) != 0 ||
	    (m = memmem(s + pl, len - pl, mid, ml)) == NULL ||
	    (o = memmem(m + ml, (size_t)(end - m - ml), own,
	                sizeof(own) - 1)) == NULL)
		return 0;
	tl = (size_t)(m - s - pl);
	sl = (size_t)(o - m - ml);
	if (tl == 0 || sl == 0 || tl + sl + 2 > ROWS_NAME_MAX)
		return 0;
	memcpy(out, m + ml, sl);
	out[sl] = '.';
	memcpy(out + sl + 1, s + pl, tl);
	out[sl + 1 + tl] = '\0';
	return 1;
}

static int ends_with(const char *s, size_t len, const char *suf)
{
	size_t n = strlen(suf);

	return len >= n && memcmp(s + len - n, suf, n) == 0;
}

/* A whole line outside a block (without its newline). */
static int out_line(struct backup_pg_rows *r)
{
	char name[ROWS_NAME_MAX];
	const char *s = r->line;
	size_t len = r->len;

	if (anchor_name(s, len, name)) {
		memcpy(r->anchor, name, sizeof(name));
		return 0;
	}
	if (len == 0 || (len == 2 && memcmp(s, "--", 2) == 0))
		return 0;
	if (len >= 5 && memcmp(s, "COPY ", 5) == 0 &&
	    ends_with(s, len, " FROM stdin;")) {
		if (!copy_name(s, len, name))
			return rows_bad(r, "unreadable COPY line", NULL);
		if (strcmp(name, r->anchor) != 0)
			return rows_bad(
			    r, "COPY without its TABLE DATA comment", name);
		if (r->n == r->cap) {
			size_t cap = r->cap ? r->cap * 2 : 64;
			struct rows_table *t;

			if (cap > ROWS_TABLES_MAX)
				return rows_bad(r, "too many tables", NULL);
			if ((t = realloc(r->tables, cap * sizeof(*t))) == NULL)
				return LS_ENOMEM;
			r->tables = t;
			r->cap = cap;
		}
		memcpy(r->tables[r->n].name, name, sizeof(name));
		r->tables[r->n++].rows = 0;
		r->anchor[0] = '\0';
		r->st = ST_IN_START;
		return 0;
	}
	r->anchor[0] = '\0';
	return 0;
}

/* Bytes outside a block from p; returns how many were used. */
static size_t feed_out(struct backup_pg_rows *r, const char *p, size_t len,
                       int *rv)
{
	const char *nl;
	size_t take;

	if (r->st == ST_OUT_START) {
		r->len = 0;
		/* Only "-- Data..." and "COPY ..." lines matter; an empty
		 * line still must not clear the anchor. */
		if (p[0] == '\n') {
			*rv = out_line(r);
			return 1;
		}
		r->st = p[0] == '-' || p[0] == 'C' ? ST_OUT_KEEP : ST_OUT_SKIP;
		if (r->st == ST_OUT_SKIP)
			r->anchor[0] = '\0';
	}
	nl = memchr(p, '\n', len);
	take = nl ? (size_t)(nl - p) : len;
	if (r->st == ST_OUT_KEEP) {
		size_t room = ROWS_LINE_MAX - r->len;
		size_t n = take < room ? take : room;

		memcpy(r->line + r->len, p, n);
		r->len += n;
		if (n < take) {
			/* Longer than any comment or COPY line we know. */
			if (r->len >= 5 && memcmp(r->line, "COPY ", 5) == 0) {
				*rv = rows_bad(r, "COPY line too long", NULL);
				return len;
			}
			r->anchor[0] = '\0';
			r->st = ST_OUT_SKIP;
		}
	}
	if (nl == NULL)
		return len;
	if (r->st == ST_OUT_KEEP)
		*rv = out_line(r);
	if (r->st == ST_OUT_KEEP || r->st == ST_OUT_SKIP)
		r->st = ST_OUT_START;
	return take + 1;
}

/* Bytes inside a block from p; returns how many were used. */
static size_t feed_in(struct backup_pg_rows *r, const char *p, size_t len)
{
	struct rows_table *t = &r->tables[r->n - 1];
	const char *nl;

	switch (r->st) {
	case ST_IN_START:
		if (p[0] == '\n')
			t->rows++; /* an empty row: one empty column */
		else
			r->st = p[0] == '\\' ? ST_IN_BS : ST_IN_LINE;
		return 1;
	case ST_IN_BS:
		r->st = p[0] == '.' ? ST_IN_BSDOT : ST_IN_LINE;
		if (p[0] == '\n') {
			t->rows++;
			r->st = ST_IN_START;
		}
		return 1;
	case ST_IN_BSDOT:
		if (p[0] == '\n') {
			r->st = ST_OUT_START; /* "\." ends the block */
		} else {
			r->st = ST_IN_LINE;
		}
		return 1;
	default:
		nl = memchr(p, '\n', len);
		if (nl == NULL)
			return len;
		t->rows++;
		r->st = ST_IN_START;
		return (size_t)(nl - p) + 1;
	}
}

int backup_pg_rows_feed(struct backup_pg_rows *r, const void *buf, size_t len)
{
	const char *p = buf;
	int rv = 0;

	while (len > 0 && r->st != ST_BAD && rv == 0) {
		size_t used = r->st <= ST_OUT_SKIP ? feed_out(r, p, len, &rv)
		                                   : feed_in(r, p, len);
		p += used;
		len -= used;
	}
	return r->st == ST_BAD ? LS_EPROTO : rv;
}

int backup_pg_rows_finish(struct backup_pg_rows *r,
                          int (*cb)(void *arg, const char *schema_table,
                                    uint64_t rows),
                          void *arg)
{
	size_t i;
	int rv;

	if (r->st == ST_OUT_KEEP && (rv = out_line(r)) < 0)
		return rv;
	if (r->st != ST_OUT_START && r->st != ST_OUT_KEEP &&
	    r->st != ST_OUT_SKIP)
		return r->st == ST_BAD
		           ? LS_EPROTO
		           : rows_bad(r, "the dump ends inside the data of",
		                      r->tables[r->n - 1].name);
	for (i = 0; i < r->n; i++)
		if ((rv = cb(arg, r->tables[i].name, r->tables[i].rows)) != 0)
			return rv;
	return 0;
}

const char *backup_pg_rows_why(const struct backup_pg_rows *r)
{
	return r->why[0] ? r->why : "no error";
}
