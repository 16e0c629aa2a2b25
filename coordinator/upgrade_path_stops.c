/*
 * GitLab's required upgrade stops: config/upgrade_path.yml of
 * gitlab-org/gitlab, a YAML sequence of {major, minor, comments?}.
 */
#include "upgrade_path.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "ls_error.h"
#include "ls_util.h"

/* Numbers as ls_version takes them, so that every stop can be a version. */
#define UP_NUM_MAX 99999

static int fail(char *err, size_t errlen, const char *name,
                const yaml_node_t *node, const char *why)
{
	snprintf(err, errlen, "%s:%lu: %s", name,
	         node ? (unsigned long)node->start_mark.line + 1 : 1UL, why);
	return LS_EINVAL;
}

static int scalar_is(const yaml_node_t *n, const char *s)
{
	size_t len = strlen(s);

	return n->type == YAML_SCALAR_NODE && n->data.scalar.length == len &&
	       memcmp(n->data.scalar.value, s, len) == 0;
}

/* A plain (unquoted) decimal scalar in [0, UP_NUM_MAX]. */
static int int_scalar(const yaml_node_t *n, int *out)
{
	char buf[16];
	long long v;

	if (n->type != YAML_SCALAR_NODE ||
	    n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
	    n->data.scalar.length == 0 || n->data.scalar.length >= sizeof(buf))
		return LS_EINVAL;
	memcpy(buf, n->data.scalar.value, n->data.scalar.length);
	buf[n->data.scalar.length] = '\0';
	/* ls_parse_int takes a sign and leading blanks; a version does not. */
	if (strspn(buf, "0123456789") != n->data.scalar.length ||
	    ls_parse_int(buf, 0, UP_NUM_MAX, &v) < 0)
		return LS_EINVAL;
	*out = (int)v;
	return 0;
}

/* One {major, minor, comments?} map into st. */
static int one_stop(yaml_document_t *doc, const char *name,
                    const yaml_node_t *item, struct up_stop *st, char *err,
                    size_t errlen)
{
	const yaml_node_pair_t *pr;
	int have_major = 0, have_minor = 0;
	char why[160];

	memset(st, 0, sizeof(*st));
	if (item->type != YAML_MAPPING_NODE)
		return fail(err, errlen, name, item,
		            "expected a map {major, minor, comments}");
	for (pr = item->data.mapping.pairs.start;
	     pr < item->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = yaml_document_get_node(doc, pr->key);
		yaml_node_t *v = yaml_document_get_node(doc, pr->value);

		if (k == NULL || v == NULL || k->type != YAML_SCALAR_NODE)
			return fail(err, errlen, name, k ? k : item,
			            "expected a scalar key");
		if (scalar_is(k, "major") || scalar_is(k, "minor")) {
			int major = scalar_is(k, "major");
			int *dst = major ? &st->major : &st->minor;
			int *seen = major ? &have_major : &have_minor;

			if (*seen)
				return fail(err, errlen, name, k,
				            major ? "duplicate key 'major'"
				                  : "duplicate key 'minor'");
			if (int_scalar(v, dst) < 0) {
				snprintf(why, sizeof(why),
				         "'%s' must be an integer from 0 to %d",
				         major ? "major" : "minor", UP_NUM_MAX);
				return fail(err, errlen, name, v, why);
			}
			*seen = 1;
		} else if (scalar_is(k, "comments")) {
			/* `comments:` with nothing after it is YAML null. */
			if (v->type != YAML_SCALAR_NODE)
				return fail(err, errlen, name, v,
				            "'comments' must be a string");
			if (v->data.scalar.length >= sizeof(st->comment)) {
				snprintf(why, sizeof(why),
				         "'comments' longer than %zu bytes",
				         sizeof(st->comment) - 1);
				return fail(err, errlen, name, v, why);
			}
			if (memchr(v->data.scalar.value, '\0',
			           v->data.scalar.length) != NULL)
				return fail(err, errlen, name, v,
				            "NUL byte in 'comments'");
			memcpy(st->comment, v->data.scalar.value,
			       v->data.scalar.length);
			st->comment[v->data.scalar.length] = '\0';
			if (v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
			    (strcmp(st->comment, "~") == 0 ||
			     strcmp(st->comment, "null") == 0))
				st->comment[0] = '\0';
		}
		/* Other keys: GitLab may add some; a stop is major.minor. */
	}
	if (!have_major)
		return fail(err, errlen, name, item, "stop without 'major'");
	if (!have_minor)
		return fail(err, errlen, name, item, "stop without 'minor'");
	return 0;
}

static int stop_cmp(const void *a, const void *b)
{
	const struct up_stop *x = a, *y = b;

	if (x->major != y->major)
		return x->major < y->major ? -1 : 1;
	if (x->minor != y->minor)
		return x->minor < y->minor ? -1 : 1;
	return 0;
}

static int yaml_fail(char *err, size_t errlen, const char *name,
                     const yaml_parser_t *ps)
{
	const yaml_mark_t *m = ps->problem_mark.line || ps->problem_mark.column
	                           ? &ps->problem_mark
	                           : &ps->context_mark;

	snprintf(err, errlen, "%s:%lu: YAML: %s", name,
	         (unsigned long)m->line + 1,
	         ps->problem ? ps->problem : "cannot parse");
	return LS_EINVAL;
}

int up_stops_parse(const char *name, const char *buf, size_t len,
                   struct up_stops *s, char *err, size_t errlen)
{
	yaml_parser_t ps;
	yaml_document_t doc, extra;
	int have_doc = 0, rv = LS_EINVAL;
	yaml_node_t *root;
	yaml_node_item_t *it;
	size_t n, i;
	char why[96];

	memset(s, 0, sizeof(*s));
	if (errlen > 0)
		err[0] = '\0';
	if (buf == NULL || len > UP_STOPS_FILE_MAX) {
		snprintf(err, errlen, "%s: larger than %d bytes", name,
		         UP_STOPS_FILE_MAX);
		return LS_ETOOBIG;
	}
	if (!yaml_parser_initialize(&ps))
		return LS_ENOMEM;
	yaml_parser_set_input_string(&ps, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&ps, &doc)) {
		rv = yaml_fail(err, errlen, name, &ps);
		goto out;
	}
	have_doc = 1;
	root = yaml_document_get_root_node(&doc);
	if (root == NULL || root->type != YAML_SEQUENCE_NODE) {
		rv = fail(err, errlen, name, root,
		          "expected a YAML sequence of stops "
		          "({major, minor, comments})");
		goto out;
	}
	/* A second document would be data we silently ignored. */
	if (!yaml_parser_load(&ps, &extra)) {
		rv = yaml_fail(err, errlen, name, &ps);
		goto out;
	}
	if (yaml_document_get_root_node(&extra) != NULL) {
		rv =
		    fail(err, errlen, name, yaml_document_get_root_node(&extra),
		         "more than one YAML document");
		yaml_document_delete(&extra);
		goto out;
	}
	yaml_document_delete(&extra);
	n = (size_t)(root->data.sequence.items.top -
	             root->data.sequence.items.start);
	if (n == 0) {
		rv = fail(err, errlen, name, root, "no stops in the list");
		goto out;
	}
	if (n > UP_STOPS_MAX) {
		snprintf(why, sizeof(why), "more than %d stops", UP_STOPS_MAX);
		rv = fail(err, errlen, name, root, why);
		goto out;
	}
	if ((s->v = calloc(n, sizeof(*s->v))) == NULL) {
		rv = LS_ENOMEM;
		goto out;
	}
	for (it = root->data.sequence.items.start, i = 0; i < n; it++, i++) {
		yaml_node_t *item = yaml_document_get_node(&doc, *it);

		if (item == NULL) {
			rv = fail(err, errlen, name, root, "empty stop");
			goto out;
		}
		if ((rv = one_stop(&doc, name, item, &s->v[i], err, errlen)) <
		    0)
			goto out;
		s->n++;
	}
	/* GitLab keeps the file in order; we only rely on it once sorted. */
	qsort(s->v, s->n, sizeof(*s->v), stop_cmp);
	for (i = 1; i < s->n; i++) {
		if (stop_cmp(&s->v[i - 1], &s->v[i]) == 0) {
			snprintf(err, errlen, "%s: stop %d.%d listed twice",
			         name, s->v[i].major, s->v[i].minor);
			rv = LS_EINVAL;
			goto out;
		}
	}
	rv = 0;
out:
	if (have_doc)
		yaml_document_delete(&doc);
	yaml_parser_delete(&ps);
	if (rv < 0)
		up_stops_free(s);
	return rv;
}

int up_stops_load(const char *path, struct up_stops *s, char *err,
                  size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	int rv;

	memset(s, 0, sizeof(*s));
	if ((rv = ls_read_file(path, UP_STOPS_FILE_MAX, &buf, &len)) < 0) {
		snprintf(err, errlen, "%s: %s", path, ls_strerror(rv));
		return rv;
	}
	rv = up_stops_parse(path, buf, len, s, err, errlen);
	free(buf);
	return rv;
}

void up_stops_free(struct up_stops *s)
{
	if (s == NULL)
		return;
	free(s->v);
	s->v = NULL;
	s->n = 0;
}
