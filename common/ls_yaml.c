#include "ls_yaml.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "ls_error.h"
#include "ls_util.h"

/* Configs are a few dozen keys: anything far larger is a mistake or hostile. */
#define CFG_MAX_FILE (1024 * 1024) /* the messages say 1 MiB */
#define CFG_MAX_NODES 20000
#define CFG_MAX_DEPTH 32
#define CFG_PATH_LEN 256
/* How much of a bad key or value an error message quotes. */
#define CFG_SHOW_LEN 48

enum ynode_kind { YN_SCALAR, YN_SEQ, YN_MAP };

/*
 * The document as a small tree: libyaml's own document API resolves aliases
 * silently, and we want to refuse them and bound the size while parsing.
 */
struct ynode {
	enum ynode_kind kind;
	int plain; /* a plain scalar may be YAML null; a quoted one never is */
	size_t line;
	char *str;
	size_t len;
	struct ynode **kids; /* a mapping holds key, value, key, value... */
	size_t n, cap;
};

struct ctx {
	const char *name;
	char *err;
	size_t errlen;
	size_t nodes;
};

static int cfg_err(struct ctx *c, size_t line, const char *path,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int cfg_err(struct ctx *c, size_t line, const char *path,
                   const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* A truncated message still says where: keep it. */
	if (path != NULL && path[0] != '\0')
		(void)ls_fmt(c->err, c->errlen, "%s:%zu: key '%s': %s", c->name,
		             line, path, msg);
	else
		(void)ls_fmt(c->err, c->errlen, "%s:%zu: %s", c->name, line,
		             msg);
	return LS_ECONFIG;
}

/* Quotes untrusted text safely: bounded, printable ASCII only. */
static const char *shown(char *buf, size_t size, const char *s, size_t len)
{
	size_t i, o = 0, max = size > 4 ? size - 4 : 0;

	for (i = 0; i < len && o < max; i++) {
		unsigned char ch = (unsigned char)s[i];
		buf[o++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	if (i < len && size >= 4) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	if (size > 0)
		buf[o < size ? o : size - 1] = '\0';
	return buf;
}

static void make_path(char *dst, size_t size, const char *prefix,
                      const char *key, size_t keylen)
{
	char k[CFG_SHOW_LEN + 4];

	shown(k, sizeof(k), key, keylen);
	if (prefix[0] == '\0')
		(void)ls_fmt(dst, size, "%s", k);
	else
		(void)ls_fmt(dst, size, "%s.%s", prefix, k);
}

static void node_free(struct ynode *n)
{
	size_t i;

	if (n == NULL)
		return;
	for (i = 0; i < n->n; i++)
		node_free(n->kids[i]);
	free(n->kids);
	free(n->str);
	free(n);
}

/* The core schema's spellings of null; quoting makes them strings. */
static int is_null(const struct ynode *n)
{
	const char *s = n->str;

	if (n->kind != YN_SCALAR || !n->plain || strlen(s) != n->len)
		return 0;
	return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
	       strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

/* The document being built; stack holds the open lists and mappings. */
struct builder {
	struct ynode *root;
	struct ynode *stack[CFG_MAX_DEPTH];
	size_t depth;
	int docs, done;
};

/*
 * Creates a node and hangs it on its parent at once, so that freeing the
 * root releases it whatever fails next.
 */
static int node_add(struct ctx *c, struct builder *b, enum ynode_kind kind,
                    const yaml_event_t *ev)
{
	size_t line = ev->start_mark.line + 1;
	struct ynode *n, *parent;

	if (++c->nodes > CFG_MAX_NODES)
		return cfg_err(c, line, NULL, "too many YAML nodes (limit %d)",
		               CFG_MAX_NODES);
	if (kind != YN_SCALAR && b->depth == CFG_MAX_DEPTH)
		return cfg_err(c, line, NULL, "nesting deeper than %d levels",
		               CFG_MAX_DEPTH);
	n = calloc(1, sizeof(*n));
	if (n == NULL)
		return LS_ENOMEM;
	n->kind = kind;
	n->line = line;
	if (kind == YN_SCALAR) {
		n->len = ev->data.scalar.length;
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		n->str = malloc(n->len + 1);
		if (n->str == NULL) {
			free(n);
			return LS_ENOMEM;
		}
		memcpy(n->str, ev->data.scalar.value, n->len);
		n->str[n->len] = '\0';
	}
	if (b->depth == 0) {
		b->root = n;
	} else {
		parent = b->stack[b->depth - 1];
		if (parent->n == parent->cap) {
			size_t cap = parent->cap ? parent->cap * 2 : 8;
			struct ynode **k =
			    realloc(parent->kids, cap * sizeof(*k));
			if (k == NULL) {
				node_free(n);
				return LS_ENOMEM;
			}
			parent->kids = k;
			parent->cap = cap;
		}
		parent->kids[parent->n++] = n;
		if (parent->kind == YN_MAP && parent->n % 2 == 1 &&
		    kind != YN_SCALAR)
			return cfg_err(c, line, NULL,
			               "mapping keys must be plain strings");
	}
	if (kind != YN_SCALAR)
		b->stack[b->depth++] = n;
	return 0;
}

static int on_event(struct ctx *c, struct builder *b, const yaml_event_t *ev)
{
	size_t line = ev->start_mark.line + 1;
	const yaml_char_t *anchor, *tag;
	enum ynode_kind kind;

	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		anchor = ev->data.scalar.anchor;
		tag = ev->data.scalar.tag;
		kind = YN_SCALAR;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = ev->data.sequence_start.anchor;
		tag = ev->data.sequence_start.tag;
		kind = YN_SEQ;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = ev->data.mapping_start.anchor;
		tag = ev->data.mapping_start.tag;
		kind = YN_MAP;
		break;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		if (b->depth > 0)
			b->depth--;
		return 0;
	case YAML_DOCUMENT_START_EVENT:
		if (++b->docs > 1)
			return cfg_err(c, line, NULL,
			               "only one YAML document is allowed");
		return 0;
	case YAML_ALIAS_EVENT:
		anchor = ev->data.alias.anchor;
		tag = NULL;
		kind = YN_SCALAR;
		break;
	case YAML_STREAM_END_EVENT:
		b->done = 1;
		return 0;
	default:
		return 0;
	}
	/* Anchors are how billion-laughs documents grow; configs need none. */
	if (anchor != NULL)
		return cfg_err(c, line, NULL,
		               "YAML anchors and aliases are not allowed");
	if (tag != NULL)
		return cfg_err(c, line, NULL, "YAML tags are not allowed");
	return node_add(c, b, kind, ev);
}

static int syntax_err(struct ctx *c, const yaml_parser_t *p, const char *buf,
                      size_t len)
{
	size_t line = p->problem_mark.line + 1, i;
	const char *problem = p->problem ? p->problem : "unknown error";

	if (p->error == YAML_MEMORY_ERROR)
		return LS_ENOMEM;
	if (p->error == YAML_READER_ERROR) {
		/* The reader reports a byte offset, not a mark. */
		line = 1;
		for (i = 0; i < p->problem_offset && i < len; i++)
			line += buf[i] == '\n';
		return cfg_err(c, line, NULL, "YAML syntax error: %s", problem);
	}
	if (p->context != NULL)
		return cfg_err(c, line, NULL,
		               "YAML syntax error: %s (%s at line %zu)",
		               problem, p->context, p->context_mark.line + 1);
	return cfg_err(c, line, NULL, "YAML syntax error: %s", problem);
}

static int tree_build(struct ctx *c, const char *buf, size_t len,
                      struct ynode **rootp)
{
	struct builder b = {0};
	yaml_parser_t p;
	yaml_event_t ev;
	int rv = 0;

	*rootp = NULL;
	c->nodes = 0;
	if (!yaml_parser_initialize(&p))
		return LS_ENOMEM;
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	while (!b.done && rv == 0) {
		if (!yaml_parser_parse(&p, &ev)) {
			rv = syntax_err(c, &p, buf, len);
			break;
		}
		rv = on_event(c, &b, &ev);
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	if (rv < 0)
		node_free(b.root);
	else
		*rootp = b.root;
	return rv;
}

static int type_err(struct ctx *c, const struct ynode *v, const char *path,
                    const char *want)
{
	char b[CFG_SHOW_LEN + 4];

	if (v->kind == YN_MAP)
		return cfg_err(c, v->line, path, "expected %s, got a mapping",
		               want);
	if (v->kind == YN_SEQ)
		return cfg_err(c, v->line, path, "expected %s, got a list",
		               want);
	if (is_null(v))
		return cfg_err(c, v->line, path, "expected %s, got null", want);
	return cfg_err(c, v->line, path, "expected %s, got '%s'", want,
	               shown(b, sizeof(b), v->str, v->len));
}

/* The text of a non-null scalar without embedded NULs, or an error. */
static int scalar_text(struct ctx *c, const struct ynode *v, const char *path,
                       const char *want, const char **out)
{
	*out = NULL;
	if (v->kind != YN_SCALAR || is_null(v))
		return type_err(c, v, path, want);
	if (memchr(v->str, '\0', v->len) != NULL)
		return cfg_err(c, v->line, path, "value contains a NUL byte");
	*out = v->str;
	return 0;
}

static int is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

/* Leading digits of s into *v; -1 if none, -2 on overflow. */
static int parse_digits(const char **s, uint64_t *v)
{
	const char *p = *s;

	*v = 0;
	if (!is_digit(*p))
		return -1;
	for (; is_digit(*p); p++) {
		unsigned d = (unsigned)(*p - '0');
		if (*v > (UINT64_MAX - d) / 10)
			return -2;
		*v = *v * 10 + d;
	}
	*s = p;
	return 0;
}

struct unit {
	const char *name;
	uint64_t mult;
};

static const struct unit dur_units[] = {
    {"d", 86400000}, {"h", 3600000}, {"m", 60000},
    {"s", 1000},     {"ms", 1},      {"", 1000}, /* bare: seconds */
    {NULL, 0},
};

static const struct unit size_units[] = {
    {"TiB", 1ULL << 40},
    {"GiB", 1ULL << 30},
    {"MiB", 1ULL << 20},
    {"KiB", 1ULL << 10},
    {"TB", 1000000000000},
    {"GB", 1000000000},
    {"MB", 1000000},
    {"KB", 1000},
    {"B", 1},
    {"", 1},
    {NULL, 0},
};

/* A number with a unit: a duration in ms or a size in bytes. */
struct measure {
	const char *what;
	const char *help;
	const struct unit *units;
	uint64_t max;
	int positive; /* with no bounds, 0 is refused */
};

static const struct measure m_duration = {
    "duration",
    "use a whole number with ms, s, m, h or d (bare numbers are "
    "seconds)",
    dur_units, INT64_MAX, 1};

static const struct measure m_size = {
    "size",
    "use a whole number of bytes, optionally with B, KiB, MiB, GiB, "
    "TiB, KB, MB, GB or TB",
    size_units, UINT64_MAX, 0};

/* 0, -1 on bad syntax, -2 when it does not fit max. */
static int parse_unit(const char *s, const struct measure *m, uint64_t *out)
{
	const struct unit *u;
	uint64_t v;
	int rv = parse_digits(&s, &v);

	if (rv < 0)
		return rv;
	for (u = m->units; u->name != NULL; u++) {
		if (strcmp(s, u->name) != 0)
			continue;
		if (v > m->max / u->mult)
			return -2;
		*out = v * u->mult;
		return 0;
	}
	return -1;
}

/* Renders in the largest exact unit, as an admin would write it. */
static const char *fmt_unit(char *buf, size_t size, uint64_t v,
                            const struct unit *u)
{
	for (; u->name != NULL && v != 0; u++) {
		if (u->name[0] != '\0' && v % u->mult == 0) {
			(void)ls_fmt(buf, size, "%" PRIu64 "%s", v / u->mult,
			             u->name);
			return buf;
		}
	}
	(void)ls_fmt(buf, size, "%" PRIu64, v);
	return buf;
}

static int set_int(struct ctx *c, const struct ls_cfg_field *f,
                   const struct ynode *v, const char *path, long long *dst)
{
	const char *s, *p;
	char b[CFG_SHOW_LEN + 4];
	long long n;
	char *end;
	int rv = scalar_text(c, v, path, "an integer", &s);

	if (rv < 0)
		return rv;
	/* strtoll alone would take blanks, '+' and hex-like prefixes. */
	p = s[0] == '-' ? s + 1 : s;
	if (*p == '\0')
		return type_err(c, v, path, "an integer");
	for (; *p != '\0'; p++)
		if (!is_digit(*p))
			return type_err(c, v, path, "an integer");
	errno = 0;
	n = strtoll(s, &end, 10);
	if (f->min == 0 && f->max == 0) {
		if (errno == ERANGE)
			return cfg_err(c, v->line, path,
			               "value '%s' out of range",
			               shown(b, sizeof(b), s, v->len));
	} else if (errno == ERANGE || n < f->min || n > f->max) {
		return cfg_err(c, v->line, path,
		               "value '%s' out of range, must be %lld..%lld",
		               shown(b, sizeof(b), s, v->len), f->min, f->max);
	}
	*dst = n;
	return 0;
}

static int set_measure(struct ctx *c, const struct ls_cfg_field *f,
                       const struct ynode *v, const char *path,
                       const struct measure *m, uint64_t *out)
{
	char b[CFG_SHOW_LEN + 4], lo[32], hi[32], want[16];
	const char *s;
	uint64_t n;
	int rv;

	(void)ls_fmt(want, sizeof(want), "a %s", m->what);
	rv = scalar_text(c, v, path, want, &s);
	if (rv < 0)
		return rv;
	shown(b, sizeof(b), s, v->len);
	rv = parse_unit(s, m, &n);
	if (rv == -1)
		return cfg_err(c, v->line, path, "bad %s '%s': %s", m->what, b,
		               m->help);
	if (rv == -2)
		return cfg_err(c, v->line, path, "%s '%s' is too large",
		               m->what, b);
	if (f->min == 0 && f->max == 0) {
		if (m->positive && n == 0)
			return cfg_err(c, v->line, path,
			               "%s must be greater than 0", m->what);
	} else if (n < (uint64_t)f->min || n > (uint64_t)f->max) {
		return cfg_err(
		    c, v->line, path, "%s '%s' out of range, must be %s..%s",
		    m->what, b,
		    fmt_unit(lo, sizeof(lo), (uint64_t)f->min, m->units),
		    fmt_unit(hi, sizeof(hi), (uint64_t)f->max, m->units));
	}
	*out = n;
	return 0;
}

static int set_string(struct ctx *c, const struct ynode *v, const char *path,
                      char **dst)
{
	const char *s;
	int rv = scalar_text(c, v, path, "a string", &s);

	if (rv < 0)
		return rv;
	*dst = strdup(s);
	return *dst == NULL ? LS_ENOMEM : 0;
}

static int set_strlist(struct ctx *c, const struct ynode *v, const char *path,
                       struct ls_strlist *dst)
{
	char ipath[CFG_PATH_LEN];
	size_t i;
	int rv;

	if (v->kind != YN_SEQ)
		return type_err(c, v, path, "a list");
	if (v->n == 0)
		return 0;
	dst->items = calloc(v->n, sizeof(*dst->items));
	if (dst->items == NULL)
		return LS_ENOMEM;
	/* Counted now so that a failure part-way frees what was set. */
	dst->n = v->n;
	for (i = 0; i < v->n; i++) {
		(void)ls_fmt(ipath, sizeof(ipath), "%s[%zu]", path, i);
		rv = set_string(c, v->kids[i], ipath, &dst->items[i]);
		if (rv < 0)
			return rv;
	}
	return 0;
}

static int load_map(struct ctx *c, const struct ls_cfg_field *schema,
                    const struct ynode *map, size_t line, const char *prefix,
                    void *out);

static int set_maplist(struct ctx *c, const struct ls_cfg_field *f,
                       const struct ynode *v, const char *path,
                       struct ls_maplist *dst)
{
	char ipath[CFG_PATH_LEN];
	size_t i;
	int rv;

	if (v->kind != YN_SEQ)
		return type_err(c, v, path, "a list of mappings");
	if (v->n == 0)
		return 0;
	dst->items = calloc(v->n, f->elem_size);
	if (dst->items == NULL)
		return LS_ENOMEM;
	dst->n = v->n;
	for (i = 0; i < v->n; i++) {
		const struct ynode *e = v->kids[i];
		(void)ls_fmt(ipath, sizeof(ipath), "%s[%zu]", path, i);
		if (e->kind != YN_MAP)
			return type_err(c, e, ipath, "a mapping");
		rv = load_map(c, f->sub, e, e->line, ipath,
		              (char *)dst->items + i * f->elem_size);
		if (rv < 0)
			return rv;
	}
	return 0;
}

static int set_field(struct ctx *c, const struct ls_cfg_field *f,
                     const struct ynode *v, const char *path, void *dst)
{
	const char *s;
	uint64_t u;
	int rv;

	switch (f->type) {
	case LS_CFG_STRING:
		return set_string(c, v, path, dst);
	case LS_CFG_INT:
		return set_int(c, f, v, path, dst);
	case LS_CFG_BOOL:
		rv = scalar_text(c, v, path, "true or false", &s);
		if (rv < 0)
			return rv;
		if (strcmp(s, "true") != 0 && strcmp(s, "false") != 0)
			return type_err(c, v, path, "true or false");
		*(int *)dst = s[0] == 't';
		return 0;
	case LS_CFG_DURATION:
		rv = set_measure(c, f, v, path, &m_duration, &u);
		if (rv == 0)
			*(int64_t *)dst = (int64_t)u;
		return rv;
	case LS_CFG_SIZE:
		return set_measure(c, f, v, path, &m_size, dst);
	case LS_CFG_STRLIST:
		return set_strlist(c, v, path, dst);
	case LS_CFG_MAP:
		if (v->kind != YN_MAP)
			return type_err(c, v, path, "a mapping");
		return load_map(c, f->sub, v, v->line, path, dst);
	case LS_CFG_MAPLIST:
		return set_maplist(c, f, v, path, dst);
	}
	return LS_EINVAL;
}

static int set_default(struct ctx *c, const struct ls_cfg_field *f,
                       const char *path, size_t line, void *dst)
{
	struct ctx dc = {"(built-in default)", c->err, c->errlen, 0};
	struct ynode *root = NULL, n = {0};
	int rv;

	if (f->type == LS_CFG_MAP)
		return load_map(c, f->sub, NULL, line, path, dst);
	if (f->def == NULL)
		return 0;
	if (f->type == LS_CFG_STRLIST || f->type == LS_CFG_MAPLIST) {
		/* List defaults are YAML flow text, parsed like the file. */
		rv = tree_build(&dc, f->def, strlen(f->def), &root);
		if (rv == 0 && root != NULL)
			rv = set_field(&dc, f, root, path, dst);
		node_free(root);
		return rv;
	}
	/* Quoted, so that an empty default is an empty string, not null. */
	n.kind = YN_SCALAR;
	n.line = line;
	n.str = (char *)f->def;
	n.len = strlen(f->def);
	return set_field(c, f, &n, path, dst);
}

/*
 * line is where a missing required key is reported: the mapping's own line,
 * or the nearest enclosing one when the mapping is absent.
 */
static int load_map(struct ctx *c, const struct ls_cfg_field *schema,
                    const struct ynode *map, size_t line, const char *prefix,
                    void *out)
{
	char path[CFG_PATH_LEN], why[256];
	size_t nf, i, j, *lines = NULL;
	const struct ls_cfg_field *f;
	int rv = 0;

	for (nf = 0; schema[nf].key != NULL; nf++)
		;
	/* Line of each key found, 0 when absent; also catches duplicates. */
	lines = calloc(nf + 1, sizeof(*lines));
	if (lines == NULL)
		return LS_ENOMEM;
	for (i = 0; map != NULL && i + 1 < map->n; i += 2) {
		const struct ynode *k = map->kids[i], *v = map->kids[i + 1];
		make_path(path, sizeof(path), prefix, k->str, k->len);
		for (j = 0; j < nf; j++)
			if (strlen(schema[j].key) == k->len &&
			    memcmp(schema[j].key, k->str, k->len) == 0)
				break;
		if (j == nf) {
			rv = cfg_err(c, k->line, path, "unknown key");
			goto out;
		}
		if (lines[j] != 0) {
			rv = cfg_err(c, k->line, path,
			             "duplicate key (first at line %zu)",
			             lines[j]);
			goto out;
		}
		lines[j] = k->line;
		rv = set_field(c, &schema[j], v, path,
		               (char *)out + schema[j].offset);
		if (rv < 0)
			goto out;
	}
	for (i = 0; i < nf; i++) {
		f = &schema[i];
		if (lines[i] != 0)
			continue;
		make_path(path, sizeof(path), prefix, f->key, strlen(f->key));
		if (f->required) {
			rv = cfg_err(c, line, path, "missing required key");
			goto out;
		}
		rv = set_default(c, f, path, line, (char *)out + f->offset);
		if (rv < 0)
			goto out;
	}
	for (i = 0; i < nf; i++) {
		f = &schema[i];
		if (lines[i] == 0 || f->check == NULL)
			continue;
		why[0] = '\0';
		if (f->check((char *)out + f->offset, out, why, sizeof(why)) <
		    0) {
			make_path(path, sizeof(path), prefix, f->key,
			          strlen(f->key));
			rv = cfg_err(c, lines[i], path, "%s",
			             why[0] ? why : "invalid value");
			goto out;
		}
	}
out:
	free(lines);
	return rv;
}

int ls_cfg_load_buf(const char *name, const char *buf, size_t len,
                    const struct ls_cfg_field *schema, void *out, char *err,
                    size_t errlen)
{
	struct ctx c = {name ? name : "(config)", err, errlen, 0};
	const struct ynode *map = NULL;
	struct ynode *root = NULL;
	int rv;

	(void)ls_fmt(err, errlen, "%s", "");
	rv = tree_build(&c, buf != NULL ? buf : "", buf != NULL ? len : 0,
	                &root);
	if (rv < 0)
		goto out;
	/* No document, or a bare "---", means every key takes its default. */
	if (root != NULL && !is_null(root)) {
		if (root->kind != YN_MAP) {
			rv = cfg_err(&c, root->line, NULL,
			             "the top level must be a mapping of keys");
			goto out;
		}
		map = root;
	}
	rv = load_map(&c, schema, map, map ? map->line : 1, "", out);
out:
	if (rv == LS_ENOMEM)
		(void)ls_fmt(err, errlen, "%s: out of memory", c.name);
	node_free(root);
	if (rv < 0)
		ls_cfg_free(schema, out);
	return rv;
}

int ls_cfg_load(const char *path, const struct ls_cfg_field *schema, void *out,
                char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	int rv;

	rv = ls_read_file(path, CFG_MAX_FILE, &buf, &len);
	if (rv < 0) {
		(void)ls_fmt(err, errlen, "%s: cannot read: %s", path,
		             rv == LS_ETOOBIG ? "larger than 1 MiB"
		                              : ls_strerror(rv));
		/* Too big is the file's fault; anything else the system's. */
		return rv == LS_ETOOBIG ? LS_ECONFIG : rv;
	}
	rv = ls_cfg_load_buf(path, buf, len, schema, out, err, errlen);
	free(buf);
	return rv;
}

void ls_cfg_free(const struct ls_cfg_field *schema, void *out)
{
	const struct ls_cfg_field *f;
	size_t i;

	if (schema == NULL || out == NULL)
		return;
	for (f = schema; f->key != NULL; f++) {
		void *p = (char *)out + f->offset;
		switch (f->type) {
		case LS_CFG_STRING:
			free(*(char **)p);
			*(char **)p = NULL;
			break;
		case LS_CFG_STRLIST: {
			struct ls_strlist *l = p;
			for (i = 0; i < l->n; i++)
				free(l->items[i]);
			free(l->items);
			l->items = NULL;
			l->n = 0;
			break;
		}
		case LS_CFG_MAP:
			ls_cfg_free(f->sub, p);
			break;
		case LS_CFG_MAPLIST: {
			struct ls_maplist *m = p;
			for (i = 0; i < m->n; i++)
				ls_cfg_free(f->sub, (char *)m->items +
				                        i * f->elem_size);
			free(m->items);
			m->items = NULL;
			m->n = 0;
			break;
		}
		default:
			break;
		}
	}
}
