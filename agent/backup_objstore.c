/*
 * Object storage per file component, from the rendered gitlab.yml.
 *
 * Key paths (GitLab's config/gitlab.yml.example and omnibus-gitlab's
 * files/gitlab-cookbooks/gitlab/templates/default/gitlab.yml.erb, which
 * `gitlab-ctl reconfigure` renders into
 * /var/opt/gitlab/gitlab-rails/etc/gitlab.yml):
 *
 *   production.artifacts.object_store.enabled
 *   production.external_diffs.object_store.enabled
 *   production.lfs.object_store.enabled
 *   production.uploads.object_store.enabled
 *   production.packages.object_store.enabled
 *   production.dependency_proxy.object_store.enabled
 *   production.terraform_state.object_store.enabled
 *   production.ci_secure_files.object_store.enabled
 *   production.pages.object_store.enabled
 *
 * and the consolidated form, production.object_store.enabled with
 * production.object_store.objects.<type>.bucket (and an optional
 * objects.<type>.enabled: false). gitlab.yml.example: the consolidated
 * config "will only take effect if the object_store sections are not
 * defined within the types"; here it applies when no type enables its own
 * object_store, and a type counts as enabled when it has a bucket and is not
 * disabled. builds (live CI job logs) and registry (configured in the
 * registry's own config) have no such key and are always local here.
 *
 * `production: &base` is followed in GitLab's file by sections that merge
 * it (`<<: *base`): lookups follow YAML merge keys, bounded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "backup_objstore.h"
#include "ls_error.h"
#include "ls_util.h"

static const char *const types[] = {
    "artifacts",
    "external_diffs",
    "lfs",
    "uploads",
    "packages",
    "dependency_proxy",
    "terraform_state",
    "ci_secure_files",
    "pages",
    NULL,
};

const char *const *backup_objstore_types(void)
{
	return types;
}

/* Bounds the work merge keys can cause (cycles, fan-out). */
#define MERGE_DEPTH 8
#define LOOKUP_BUDGET 4096

struct walk {
	yaml_document_t *doc;
	int budget;
};

static int scalar_is(const yaml_node_t *n, const char *s)
{
	size_t len = strlen(s);

	return n != NULL && n->type == YAML_SCALAR_NODE &&
	       n->data.scalar.length == len &&
	       memcmp(n->data.scalar.value, s, len) == 0;
}

static int plain_one_of(const yaml_node_t *n, const char *const *words)
{
	if (n == NULL || n->type != YAML_SCALAR_NODE ||
	    n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	for (; *words != NULL; words++)
		if (scalar_is(n, *words))
			return 1;
	return 0;
}

/* YAML 1.1 booleans, as Ruby's Psych reads them. */
static int is_true(const yaml_node_t *n)
{
	static const char *const t[] = {"true", "True", "TRUE", "yes", "Yes",
	                                "YES",  "on",   "On",   "ON",  NULL};
	return plain_one_of(n, t);
}

static int is_false(const yaml_node_t *n)
{
	static const char *const f[] = {"false", "False", "FALSE", "no",  "No",
	                                "NO",    "off",   "Off",   "OFF", NULL};
	return plain_one_of(n, f);
}

static yaml_node_t *node_at(struct walk *w, int idx)
{
	return yaml_document_get_node(w->doc, idx);
}

/* m[key]: the mapping's own key first, then its merge keys (`<<: *a` or
 * `<<: [*a, *b]`) in order. */
static yaml_node_t *get_depth(struct walk *w, yaml_node_t *m, const char *key,
                              int depth)
{
	yaml_node_pair_t *p;

	if (m == NULL || m->type != YAML_MAPPING_NODE || depth > MERGE_DEPTH ||
	    --w->budget < 0)
		return NULL;
	for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	     p++)
		if (scalar_is(node_at(w, p->key), key))
			return node_at(w, p->value);
	for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = node_at(w, p->key), *v, *r = NULL;

		if (!scalar_is(k, "<<") ||
		    k->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
			continue;
		v = node_at(w, p->value);
		if (v != NULL && v->type == YAML_MAPPING_NODE) {
			r = get_depth(w, v, key, depth + 1);
		} else if (v != NULL && v->type == YAML_SEQUENCE_NODE) {
			yaml_node_item_t *it;

			for (it = v->data.sequence.items.start;
			     r == NULL && it < v->data.sequence.items.top; it++)
				r = get_depth(w, node_at(w, *it), key,
				              depth + 1);
		}
		if (r != NULL)
			return r;
	}
	return NULL;
}

static yaml_node_t *get(struct walk *w, yaml_node_t *m, const char *key)
{
	return get_depth(w, m, key, 0);
}

static void evaluate(struct walk *w, yaml_node_t *root,
                     struct backup_objstore *out)
{
	yaml_node_t *prod = get(w, root, "production");
	yaml_node_t *cons = get(w, prod, "object_store");
	int consolidated = is_true(get(w, cons, "enabled"));
	size_t i;

	for (i = 0; types[i] != NULL; i++) {
		yaml_node_t *os =
		    get(w, get(w, prod, types[i]), "object_store");

		if (is_true(get(w, os, "enabled"))) {
			out->mask |= 1u << i;
			consolidated = 0;
		}
	}
	if (!consolidated)
		return;
	for (i = 0; types[i] != NULL; i++) {
		yaml_node_t *o = get(w, get(w, cons, "objects"), types[i]);
		yaml_node_t *bucket = get(w, o, "bucket");

		if (bucket != NULL && bucket->type == YAML_SCALAR_NODE &&
		    bucket->data.scalar.length > 0 &&
		    !plain_one_of(bucket,
		                  (const char *const[]){"null", "Null", "NULL",
		                                        "~", NULL}) &&
		    !is_false(get(w, o, "enabled")))
			out->mask |= 1u << i;
	}
}

int backup_objstore_parse(const char *name, const char *buf, size_t len,
                          struct backup_objstore *out, char *err, size_t errlen)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	struct walk w;
	int rv = 0;

	memset(out, 0, sizeof(*out));
	if (len > BACKUP_OBJSTORE_MAX_FILE) {
		snprintf(err, errlen, "%.900s: over %u bytes", name,
		         BACKUP_OBJSTORE_MAX_FILE);
		return LS_ETOOBIG;
	}
	if (!yaml_parser_initialize(&parser))
		return LS_ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, &doc)) {
		snprintf(err, errlen, "%.900s:%lu: %s%s%s", name,
		         (unsigned long)parser.problem_mark.line + 1,
		         parser.context ? parser.context : "",
		         parser.context ? ": " : "",
		         parser.problem ? parser.problem : "invalid YAML");
		yaml_parser_delete(&parser);
		return LS_ECONFIG;
	}
	w.doc = &doc;
	w.budget = LOOKUP_BUDGET;
	evaluate(&w, yaml_document_get_root_node(&doc), out);
	out->found = 1;
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return rv;
}

int backup_objstore_load(const char *path, struct backup_objstore *out,
                         char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	int rv;

	memset(out, 0, sizeof(*out));
	rv = ls_read_file(path, BACKUP_OBJSTORE_MAX_FILE, &buf, &len);
	if (rv == LS_ENOENT)
		return 0;
	if (rv < 0) {
		snprintf(err, errlen, "%.900s: %s", path, ls_strerror(rv));
		return rv;
	}
	rv = backup_objstore_parse(path, buf, len, out, err, errlen);
	free(buf);
	return rv;
}

int backup_objstore_enabled(const struct backup_objstore *o,
                            const char *component)
{
	size_t i;

	for (i = 0; types[i] != NULL; i++)
		if (strcmp(types[i], component) == 0)
			return (o->mask >> i) & 1u;
	return 0;
}
