#include "registry_parse.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ls_error.h"
#include "ls_util.h"

#define POST_SUFFIX " (post deployment)"
#define UNKNOWN_SUFFIX " (unknown)"
#define OK_PREFIX "OK: applied "
/* A joined name cell (a row and its continuations) before the suffixes
 * come off: the name, " (unknown)" and " (post deployment)". */
#define CELL_MAX (REG_NAME_MAX + 64)

void reg_list_free(struct reg_list *l)
{
	free(l->items);
	memset(l, 0, sizeof(*l));
}

static int push(struct reg_list *l, struct reg_migration **m)
{
	struct reg_migration *n;
	size_t cap;

	if (l->n >= REG_MIGRATIONS_MAX)
		return LS_ETOOBIG;
	if (l->n == l->cap) {
		cap = l->cap ? l->cap * 2 : 64;
		if (cap > REG_MIGRATIONS_MAX)
			cap = REG_MIGRATIONS_MAX;
		n = realloc(l->items, cap * sizeof(*n));
		if (n == NULL)
			return LS_ENOMEM;
		l->items = n;
		l->cap = cap;
	}
	*m = &l->items[l->n++];
	memset(*m, 0, sizeof(**m));
	return 0;
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

int reg_valid_name(const char *s, size_t n)
{
	size_t i = 0;

	if (n == 0 || n > REG_NAME_MAX)
		return 0;
	while (i < n && is_digit(s[i]))
		i++;
	if (i == 0 || i >= n || s[i] != '_' || i + 1 >= n)
		return 0;
	for (; i < n; i++) {
		char c = s[i];
		if (!(is_digit(c) || (c >= 'a' && c <= 'z') ||
		      (c >= 'A' && c <= 'Z') || c == '_' || c == '.' ||
		      c == '-'))
			return 0;
	}
	return 1;
}

/* One line of text: [*p, end of line), *p moved past its newline. */
static void next_line(const char **p, const char *end, const char **ls,
                      size_t *ln)
{
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));
	const char *e = nl ? nl : end;

	*ls = *p;
	*p = nl ? nl + 1 : end;
	while (e > *ls && (e[-1] == '\r' || e[-1] == ' '))
		e--;
	*ln = (size_t)(e - *ls);
}

static void trim(const char **s, size_t *n)
{
	while (*n > 0 && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
		(*n)--;
}

/* "+----+----+": a border of the table. */
static int is_border(const char *s, size_t n)
{
	size_t i, plus = 0;

	if (n < 3 || s[0] != '+' || s[n - 1] != '+')
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] == '+')
			plus++;
		else if (s[i] != '-')
			return 0;
	}
	return plus == 3;
}

/* "| a | b |": its two cells, trimmed. */
static int split_row(const char *s, size_t n, const char **a, size_t *an,
                     const char **b, size_t *bn)
{
	const char *bar;

	if (n < 3 || s[0] != '|' || s[n - 1] != '|')
		return -1;
	bar = memchr(s + 1, '|', n - 2);
	if (bar == NULL || memchr(bar + 1, '|', (size_t)(s + n - 1 - bar - 1)))
		return -1;
	*a = s + 1;
	*an = (size_t)(bar - *a);
	*b = bar + 1;
	*bn = (size_t)(s + n - 1 - *b);
	trim(a, an);
	trim(b, bn);
	return 0;
}

static int ends_with(const char *s, size_t n, const char *suf)
{
	size_t k = strlen(suf);

	return n >= k && memcmp(s + n - k, suf, k) == 0;
}

/* The name cell of a finished row: suffixes off, the name checked. */
static int finish_row(struct reg_migration *m, const char *cell, size_t n,
                      size_t line, char *err, size_t errlen)
{
	if (ends_with(cell, n, POST_SUFFIX)) {
		m->post_deployment = 1;
		n -= strlen(POST_SUFFIX);
	}
	/* Applied, but not known to this registry binary (a downgrade):
	 * nothing the proto carries; listed under its name. */
	if (ends_with(cell, n, UNKNOWN_SUFFIX))
		n -= strlen(UNKNOWN_SUFFIX);
	if (!reg_valid_name(cell, n)) {
		ls_fmt(err, errlen, "line %zu: '%.*s' is not a migration id",
		       line, (int)(n > 80 ? 80 : n), cell);
		return LS_EPROTO;
	}
	memcpy(m->name, cell, n);
	m->name[n] = '\0';
	return 0;
}

/* The Applied cell: empty, or a time as Go prints one (2020-10-30 ...). */
static int applied_cell(const char *s, size_t n)
{
	if (n == 0)
		return 0;
	if (n >= 10 && is_digit(s[0]) && is_digit(s[1]) && is_digit(s[2]) &&
	    is_digit(s[3]) && s[4] == '-' && is_digit(s[5]) && s[7] == '-')
		return 1;
	return -1;
}

enum { ST_BEFORE, ST_HEADER, ST_HEADER_END, ST_ROWS, ST_DONE };

int reg_parse_status(const char *text, size_t len, struct reg_list *out,
                     char *err, size_t errlen)
{
	const char *p = text, *end = text + len, *ls, *a, *b;
	char cell[CELL_MAX + 1];
	size_t ln, an, bn, lineno = 0, cell_n = 0, cell_line = 0;
	struct reg_migration *cur = NULL;
	int state = ST_BEFORE, rv = 0, ap;

	if (len > REG_INPUT_MAX) {
		ls_fmt(err, errlen, "status output over %u bytes",
		       REG_INPUT_MAX);
		return LS_ETOOBIG;
	}
	while (p < end && state != ST_DONE) {
		next_line(&p, end, &ls, &ln);
		lineno++;
		if (state == ST_BEFORE) {
			if (is_border(ls, ln))
				state = ST_HEADER;
			continue;
		}
		if (state == ST_HEADER) {
			if (split_row(ls, ln, &a, &an, &b, &bn) < 0 ||
			    an != 9 || strncasecmp(a, "MIGRATION", 9) != 0 ||
			    bn != 7 || strncasecmp(b, "APPLIED", 7) != 0) {
				ls_fmt(err, errlen,
				       "line %zu: expected the MIGRATION | "
				       "APPLIED header",
				       lineno);
				rv = LS_EPROTO;
				goto out;
			}
			state = ST_HEADER_END;
			continue;
		}
		if (is_border(ls, ln)) {
			/* Under the header, then after the last row. */
			state = state == ST_HEADER_END ? ST_ROWS : ST_DONE;
			continue;
		}
		if (state == ST_HEADER_END ||
		    split_row(ls, ln, &a, &an, &b, &bn) < 0) {
			ls_fmt(err, errlen,
			       "line %zu: not a row of the migration table",
			       lineno);
			rv = LS_EPROTO;
			goto out;
		}
		ap = applied_cell(b, bn);
		if (ap < 0) {
			ls_fmt(err, errlen,
			       "line %zu: '%.*s' is not when it was applied",
			       lineno, (int)(bn > 60 ? 60 : bn), b);
			rv = LS_EPROTO;
			goto out;
		}
		/* A wrapped name goes on below its row, Applied empty. */
		if (cur != NULL && an > 0 && !is_digit(a[0]) && ap == 0) {
			if (cell_n + 1 + an > CELL_MAX) {
				ls_fmt(err, errlen,
				       "line %zu: migration name over %d bytes",
				       lineno, REG_NAME_MAX);
				rv = LS_EPROTO;
				goto out;
			}
			cell[cell_n++] = ' ';
			memcpy(cell + cell_n, a, an);
			cell_n += an;
			continue;
		}
		if (cur != NULL &&
		    (rv = finish_row(cur, cell, cell_n, cell_line, err,
		                     errlen)) < 0)
			goto out;
		if (an > CELL_MAX) {
			ls_fmt(err, errlen,
			       "line %zu: migration name over %d bytes", lineno,
			       REG_NAME_MAX);
			rv = LS_EPROTO;
			goto out;
		}
		if ((rv = push(out, &cur)) < 0) {
			ls_fmt(err, errlen, "line %zu: %s", lineno,
			       rv == LS_ETOOBIG ? "over 10000 migrations"
			                        : ls_strerror(rv));
			goto out;
		}
		cur->applied = ap;
		memcpy(cell, a, an);
		cell_n = an;
		cell_line = lineno;
	}
	if (state != ST_DONE) {
		ls_fmt(err, errlen,
		       state == ST_BEFORE
		           ? "no MIGRATION | APPLIED table in %zu lines"
		           : "line %zu: the migration table is cut short",
		       lineno);
		rv = LS_EPROTO;
		goto out;
	}
	if (cur != NULL)
		rv = finish_row(cur, cell, cell_n, cell_line, err, errlen);
out:
	return rv;
}

/* "OK: applied N migrations[ and M background migrations][ in X.XXXs]". */
static int ok_line(const char *s, size_t n, unsigned long *count)
{
	size_t k = strlen(OK_PREFIX), i;
	unsigned long v = 0;

	if (n <= k || memcmp(s, OK_PREFIX, k) != 0)
		return 0;
	for (i = k; i < n && is_digit(s[i]); i++) {
		if (v > REG_MIGRATIONS_MAX)
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (i == k || n - i < 11 || memcmp(s + i, " migrations", 11) != 0)
		return -1;
	*count = v;
	return 1;
}

int reg_parse_up(const char *text, size_t len, struct reg_list *out, int *ok,
                 char *err, size_t errlen)
{
	const char *p = text, *end = text + len, *ls;
	struct reg_migration *m;
	unsigned long count = 0;
	size_t ln, lineno = 0;
	int rv = 0, k;

	*ok = 0;
	if (len > REG_INPUT_MAX) {
		ls_fmt(err, errlen, "migrate up output over %u bytes",
		       REG_INPUT_MAX);
		return LS_ETOOBIG;
	}
	while (p < end) {
		next_line(&p, end, &ls, &ln);
		lineno++;
		trim(&ls, &ln);
		k = ok_line(ls, ln, &count);
		if (k < 0) {
			ls_fmt(err, errlen,
			       "line %zu: a malformed 'OK: applied' line",
			       lineno);
			rv = LS_EPROTO;
			goto out;
		}
		if (k > 0) {
			if (*ok || count != out->n) {
				ls_fmt(err, errlen,
				       "line %zu: says %lu migrations were "
				       "applied, %zu were listed",
				       lineno, count, out->n);
				rv = LS_EPROTO;
				goto out;
			}
			*ok = 1;
			continue;
		}
		if (*ok || !reg_valid_name(ls, ln))
			continue;
		if ((rv = push(out, &m)) < 0) {
			ls_fmt(err, errlen, "line %zu: %s", lineno,
			       rv == LS_ETOOBIG ? "over 10000 migrations"
			                        : ls_strerror(rv));
			goto out;
		}
		memcpy(m->name, ls, ln);
		m->name[ln] = '\0';
		m->applied = 1;
	}
out:
	return rv;
}
