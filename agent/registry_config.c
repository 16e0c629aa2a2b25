#include "registry_config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "ls_error.h"
#include "ls_util.h"

#define CONFIG_MAX (1024 * 1024)
/* Nesting a config file can have; deeper is refused, not recursed. */
#define DEPTH_MAX 64

struct walk {
	yaml_parser_t p;
	yaml_event_t ev;
	int have; /* ev holds an event to delete */
	char *err;
	size_t errlen;
};

static int next(struct walk *w)
{
	if (w->have)
		yaml_event_delete(&w->ev);
	w->have = 0;
	if (!yaml_parser_parse(&w->p, &w->ev)) {
		ls_fmt(w->err, w->errlen, "line %zu: %s",
		       (size_t)w->p.problem_mark.line + 1,
		       w->p.problem ? w->p.problem : "invalid YAML");
		return LS_EPROTO;
	}
	w->have = 1;
	return 0;
}

static size_t line_of(const struct walk *w)
{
	return (size_t)w->ev.start_mark.line + 1;
}

/* Consumes the rest of the node whose first event is the current one. */
static int skip(struct walk *w)
{
	int depth = 0, rv;

	for (;;) {
		switch (w->ev.type) {
		case YAML_MAPPING_START_EVENT:
		case YAML_SEQUENCE_START_EVENT:
			if (++depth > DEPTH_MAX) {
				ls_fmt(w->err, w->errlen,
				       "line %zu: nested too deep", line_of(w));
				return LS_EPROTO;
			}
			break;
		case YAML_MAPPING_END_EVENT:
		case YAML_SEQUENCE_END_EVENT:
			depth--;
			break;
		default:
			break;
		}
		if (depth == 0)
			return 0;
		if ((rv = next(w)) < 0)
			return rv;
	}
}

static int scalar_is(const struct walk *w, const char *s)
{
	return w->ev.type == YAML_SCALAR_EVENT &&
	       strcmp((const char *)w->ev.data.scalar.value, s) == 0;
}

/* A plain scalar YAML 1.1 reads as true (the registry uses Go's yaml.v2;
 * the Linux package writes true). */
static int is_true(const struct walk *w)
{
	static const char *const t[] = {"true", "yes", "on", "y"};
	size_t i;

	if (w->ev.type != YAML_SCALAR_EVENT ||
	    w->ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcasecmp((const char *)w->ev.data.scalar.value, t[i]) ==
		    0)
			return 1;
	return 0;
}

static int copy_scalar(struct walk *w, const char *key, char *dst,
                       size_t dstlen)
{
	size_t n;

	if (w->ev.type != YAML_SCALAR_EVENT) {
		ls_fmt(w->err, w->errlen,
		       "line %zu: database.%s is not a value", line_of(w), key);
		return LS_EPROTO;
	}
	n = w->ev.data.scalar.length;
	if (n >= dstlen || memchr(w->ev.data.scalar.value, '\0', n)) {
		ls_fmt(w->err, w->errlen, "line %zu: database.%s is too long",
		       line_of(w), key);
		return LS_EPROTO;
	}
	memcpy(dst, w->ev.data.scalar.value, n);
	dst[n] = '\0';
	return 0;
}

static int read_port(struct walk *w, unsigned *port)
{
	char buf[8], *e;
	unsigned long v;
	int rv;

	if ((rv = copy_scalar(w, "port", buf, sizeof(buf))) < 0)
		return rv;
	v = strtoul(buf, &e, 10);
	if (buf[0] < '0' || buf[0] > '9' || *e != '\0' || v == 0 || v > 65535) {
		ls_fmt(w->err, w->errlen,
		       "line %zu: database.port '%s' is not "
		       "a port",
		       line_of(w), buf);
		return LS_EPROTO;
	}
	*port = (unsigned)v;
	return 0;
}

/* The database: mapping; the current event is its MAPPING_START. */
static int read_db(struct walk *w, struct reg_dbconf *c)
{
	char key[32];
	int rv;

	c->section = 1;
	for (;;) {
		if ((rv = next(w)) < 0)
			return rv;
		if (w->ev.type == YAML_MAPPING_END_EVENT)
			return 0;
		/* Keys are scalars in a registry config; anything else is
		 * kept out of key by skipping the pair. */
		key[0] = '\0';
		if (w->ev.type == YAML_SCALAR_EVENT &&
		    w->ev.data.scalar.length < sizeof(key))
			memcpy(key, w->ev.data.scalar.value,
			       w->ev.data.scalar.length + 1);
		else if ((rv = skip(w)) < 0)
			return rv;
		if ((rv = next(w)) < 0)
			return rv;
		if (strcmp(key, "enabled") == 0)
			c->enabled = is_true(w);
		else if (strcmp(key, "host") == 0)
			rv = copy_scalar(w, key, c->host, sizeof(c->host));
		else if (strcmp(key, "primary") == 0)
			rv =
			    copy_scalar(w, key, c->primary, sizeof(c->primary));
		else if (strcmp(key, "port") == 0)
			rv = read_port(w, &c->port);
		else
			rv = skip(w);
		if (rv < 0)
			return rv;
	}
}

int reg_config_parse(const char *text, size_t len, struct reg_dbconf *out,
                     char *err, size_t errlen)
{
	struct walk w = {.err = err, .errlen = errlen};
	int rv = 0, is_db;

	memset(out, 0, sizeof(*out));
	out->port = REG_PG_PORT;
	if (len > CONFIG_MAX) {
		ls_fmt(err, errlen, "over %d bytes", CONFIG_MAX);
		return LS_ETOOBIG;
	}
	if (!yaml_parser_initialize(&w.p))
		return LS_ENOMEM;
	yaml_parser_set_input_string(&w.p, (const unsigned char *)text, len);
	/* STREAM_START, then DOCUMENT_START or STREAM_END (an empty file). */
	if ((rv = next(&w)) < 0 || (rv = next(&w)) < 0)
		goto out;
	if (w.ev.type != YAML_DOCUMENT_START_EVENT)
		goto out;
	if ((rv = next(&w)) < 0)
		goto out;
	if (w.ev.type != YAML_MAPPING_START_EVENT) {
		/* "~" or a bare scalar: no settings, so no database. */
		rv = skip(&w);
		goto out;
	}
	for (;;) {
		if ((rv = next(&w)) < 0)
			goto out;
		if (w.ev.type == YAML_MAPPING_END_EVENT)
			break;
		is_db = scalar_is(&w, "database") && !out->section;
		if ((rv = skip(&w)) < 0 || (rv = next(&w)) < 0)
			goto out;
		if (is_db && w.ev.type == YAML_MAPPING_START_EVENT) {
			rv = read_db(&w, out);
		} else if (is_db && !(w.ev.type == YAML_SCALAR_EVENT &&
		                      w.ev.data.scalar.length == 0)) {
			/* "database:" left empty is no section. */
			ls_fmt(err, errlen,
			       "line %zu: database is not a mapping",
			       line_of(&w));
			rv = LS_EPROTO;
		} else {
			rv = skip(&w);
		}
		if (rv < 0)
			goto out;
	}
out:
	if (w.have)
		yaml_event_delete(&w.ev);
	yaml_parser_delete(&w.p);
	return rv;
}

const char *reg_config_migration_host(const struct reg_dbconf *c)
{
	return c->primary[0] != '\0' ? c->primary : c->host;
}

int reg_split_hostport(const char *s, char *host, size_t hostlen,
                       unsigned *port)
{
	const char *colon = strrchr(s, ':'), *h = s, *e;
	size_t hn;
	unsigned long v;
	char *end;

	if (colon == NULL || colon[1] < '0' || colon[1] > '9')
		return -1;
	v = strtoul(colon + 1, &end, 10);
	if (*end != '\0' || v == 0 || v > 65535)
		return -1;
	e = colon;
	if (h[0] == '[') {
		if (e - h < 2 || e[-1] != ']')
			return -1;
		h++;
		e--;
	} else if (memchr(h, ':', (size_t)(e - h)) != NULL) {
		return -1; /* an IPv6 address goes in brackets */
	}
	hn = (size_t)(e - h);
	if (hn == 0 || hn > REG_HOST_MAX)
		return -1;
	if (host != NULL) {
		if (hn >= hostlen)
			return -1;
		memcpy(host, h, hn);
		host[hn] = '\0';
	}
	if (port != NULL)
		*port = (unsigned)v;
	return 0;
}

int reg_config_via_pgbouncer(const struct reg_dbconf *c,
                             char *const *pgbouncers, size_t n, char *why,
                             size_t whylen)
{
	const char *host = reg_config_migration_host(c);
	char h[REG_HOST_MAX + 1];
	unsigned port;
	size_t i;

	if (c->port == REG_PGBOUNCER_PORT) {
		ls_fmt(why, whylen, "%s:%u (%u is PgBouncer's port)", host,
		       c->port, REG_PGBOUNCER_PORT);
		return 1;
	}
	for (i = 0; i < n; i++) {
		if (reg_split_hostport(pgbouncers[i], h, sizeof(h), &port) < 0)
			continue;
		if (port == c->port && strcasecmp(h, host) == 0) {
			ls_fmt(why, whylen,
			       "%s:%u (a PgBouncer in registry.pgbouncer)",
			       host, c->port);
			return 1;
		}
	}
	return 0;
}
