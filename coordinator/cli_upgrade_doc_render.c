/*
 * The upgrade plan document printed from its JSON content: Markdown whose
 * tables read well on GitLab itself, or plain text with aligned columns.
 * One walker serves both; only headings and tables differ.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_upgrade_doc.h"
#include "ls_error.h"
#include "ls_util.h"

/* A document is a few hundred KiB at most even for a large fleet. */
#define DOC_MAX (16u << 20)
#define COLS_MAX 8

struct out {
	FILE *f;
	int md;
};

int cli_upgrade_doc_format_ok(const char *format)
{
	return strcmp(format, "text") == 0 || strcmp(format, "markdown") == 0 ||
	       strcmp(format, "json") == 0;
}

static const char *sv(const json_t *v)
{
	const char *s = json_string_value(v);
	return s ? s : "";
}

static const char *str(json_t *o, const char *key)
{
	return sv(json_object_get(o, key));
}

static void heading(struct out *o, int level, const char *text)
{
	if (o->md) {
		fprintf(o->f, "\n%.*s %s\n\n", level, "####", text);
		return;
	}
	fprintf(o->f, "\n%s\n", text);
	for (size_t i = 0; i < strlen(text); i++)
		fputc(level == 1 ? '=' : '-', o->f);
	fputs("\n\n", o->f);
}

/* A Markdown table cell: no pipe or newline may end the cell early. */
static void md_cell(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '|')
			fputs("\\|", f);
		else if (*s == '\n' || *s == '\r')
			fputc(' ', f);
		else
			fputc(*s, f);
	}
}

/* rows: array of arrays of strings, the first the header. */
static void table(struct out *o, json_t *rows)
{
	size_t w[COLS_MAX] = {0}, i, c, ncols;
	json_t *row;

	if (json_array_size(rows) < 2) {
		json_decref(rows);
		return;
	}
	ncols = json_array_size(json_array_get(rows, 0));
	if (ncols > COLS_MAX)
		ncols = COLS_MAX;
	json_array_foreach(rows, i, row)
	{
		for (c = 0; c < ncols; c++) {
			size_t l = strlen(sv(json_array_get(row, c)));
			if (l > w[c])
				w[c] = l;
		}
	}
	json_array_foreach(rows, i, row)
	{
		for (c = 0; c < ncols; c++) {
			const char *v = sv(json_array_get(row, c));
			if (o->md) {
				fputs(c ? " | " : "| ", o->f);
				md_cell(o->f, v);
			} else {
				fprintf(o->f, "%s%-*s", c ? "  " : "  ",
				        c + 1 < ncols ? (int)w[c] : 0, v);
			}
		}
		fputs(o->md ? " |\n" : "\n", o->f);
		if (o->md && i == 0) {
			for (c = 0; c < ncols; c++)
				fputs("|---", o->f);
			fputs("|\n", o->f);
		}
	}
	json_decref(rows);
}

static void bullet(struct out *o, const char *text)
{
	fprintf(o->f, "%s%s\n", o->md ? "- " : "  * ", text);
}

static char *joined(json_t *arr, const char *sep)
{
	size_t i, len = 1, off = 0, sl = strlen(sep);
	json_t *v;
	char *s;

	json_array_foreach(arr, i, v) len += strlen(sv(v)) + sl;
	if ((s = malloc(len)) == NULL)
		return NULL;
	json_array_foreach(arr, i, v)
	{
		const char *x = sv(v);
		size_t xl = strlen(x);
		if (i) {
			memcpy(s + off, sep, sl);
			off += sl;
		}
		memcpy(s + off, x, xl);
		off += xl;
	}
	s[off] = '\0';
	return s;
}

static void installation(struct out *o, json_t *in)
{
	json_t *rows = json_pack("[[s,s,s,s,s,s]]", "Node", "Roles", "Site",
	                         "OS", "GitLab", "Edition"),
	       *n, *comps = json_object_get(in, "components"), *v;
	const char *key;
	char line[512];
	size_t i;

	heading(o, 2, "Installation");
	snprintf(line, sizeof(line), "Installed with: %s", str(in, "method"));
	bullet(o, line);
	snprintf(
	    line, sizeof(line), "Topology: %s, %lld node(s)",
	    str(in, "topology"),
	    (long long)json_integer_value(json_object_get(in, "node_count")));
	bullet(o, line);
	json_object_foreach(comps, key, v)
	{
		char *names = joined(v, ", ");
		snprintf(line, sizeof(line), "%s: %s", key, names ? names : "");
		free(names);
		bullet(o, line);
	}
	fputc('\n', o->f);
	json_array_foreach(json_object_get(in, "nodes"), i, n)
	{
		char *roles = joined(json_object_get(n, "roles"), ", ");
		json_array_append_new(
		    rows,
		    json_pack("[s,s,s,s,s,s]", str(n, "name"),
		              roles ? roles : "", str(n, "site"), str(n, "os"),
		              str(n, "gitlab_version"), str(n, "edition")));
		free(roles);
	}
	table(o, rows);
	if (json_array_size(json_object_get(in, "geo_sites")) == 0) {
		fputc('\n', o->f);
		bullet(o, "Geo: not used");
		return;
	}
	rows = json_pack("[[s,s,s]]", "Geo site", "Role", "Nodes");
	json_array_foreach(json_object_get(in, "geo_sites"), i, n)
	{
		char *names = joined(json_object_get(n, "nodes"), ", ");
		json_array_append_new(rows, json_pack("[s,s,s]", str(n, "site"),
		                                      str(n, "role"),
		                                      names ? names : ""));
		free(names);
	}
	fputc('\n', o->f);
	table(o, rows);
}

static void path(struct out *o, json_t *doc)
{
	json_t *rows = json_pack("[[s,s,s]]", "#", "Install", "Why"), *s;
	size_t i;
	char num[24];

	heading(o, 2, "Upgrade path");
	json_array_foreach(json_object_get(doc, "path"), i, s)
	{
		snprintf(num, sizeof(num), "%zu", i + 1);
		json_array_append_new(rows, json_pack("[s,s,s]", num,
		                                      str(s, "version"),
		                                      str(s, "why")));
	}
	table(o, rows);
	if (json_array_size(json_object_get(doc, "path_notes")) > 0)
		fputc('\n', o->f);
	json_array_foreach(json_object_get(doc, "path_notes"), i, s)
	    bullet(o, sv(s));
	rows = json_pack("[[s,s,s,s]]", "Node", "Package", "Manager",
	                 "Versions offered");
	json_array_foreach(json_object_get(doc, "repositories"), i, s)
	{
		char n[32];
		snprintf(n, sizeof(n), "%lld",
		         (long long)json_integer_value(
		             json_object_get(s, "available")));
		json_array_append_new(
		    rows,
		    json_pack("[s,s,s,s]", str(s, "node"), str(s, "package"),
		              str(s, "manager"),
		              json_object_get(s, "error") ? str(s, "error")
		                                          : n));
	}
	heading(o, 3, "Package repositories");
	table(o, rows);
}

static void os_compat(struct out *o, json_t *doc)
{
	json_t *os = json_object_get(doc, "os_compatibility"), *n;
	size_t i;
	char line[512];

	if (os == NULL)
		return;
	heading(o, 2, "Operating systems");
	if (json_object_get(os, "error"))
		bullet(o, str(os, "error"));
	if (json_array_size(json_object_get(os, "unsupported")) == 0)
		bullet(o, "Every node's operating system has GitLab packages "
		          "for every step of the path.");
	json_array_foreach(json_object_get(os, "unsupported"), i, n)
	{
		snprintf(line, sizeof(line), "%s", str(n, "text"));
		bullet(o, line);
	}
	json_array_foreach(json_object_get(os, "unknown"), i, n)
	    bullet(o, sv(n));
	if (json_object_get(os, "source"))
		fprintf(o->f, "\n%sData: %s\n", o->md ? "" : "  ",
		        str(os, "source"));
}

static void checks(struct out *o, json_t *ck)
{
	json_t *rows = json_pack("[[s,s,s,s]]", "Node", "Check", "Status",
	                         "Reason"),
	       *n, *r;
	size_t i, k;
	char line[1200];

	heading(o, 2, "Pre-upgrade checks");
	snprintf(line, sizeof(line), "%lld check(s) pass.",
	         (long long)json_integer_value(json_object_get(ck, "passed")));
	bullet(o, line);
	json_array_foreach(json_object_get(ck, "nodes"), i, n)
	{
		if (!json_is_true(json_object_get(n, "answered")))
			json_array_append_new(
			    rows, json_pack("[s,s,s,s]", str(n, "node"), "-",
			                    "no answer", str(n, "error")));
		json_array_foreach(json_object_get(n, "findings"), k, r)
		    json_array_append_new(
		        rows,
		        json_pack("[s,s,s,s]", str(n, "node"), str(r, "name"),
		                  str(r, "status"), str(r, "reason")));
	}
	if (json_array_size(rows) > 1) {
		fputc('\n', o->f);
		table(o, rows);
	} else {
		json_decref(rows);
		bullet(o, "No check fails or warns.");
	}
	heading(o, 3, "Batched background migrations");
	if (json_array_size(json_object_get(ck, "background_migrations")) == 0)
		bullet(o, "None unfinished: the first stop can start.");
	json_array_foreach(json_object_get(ck, "background_migrations"), i, n)
	{
		snprintf(line, sizeof(line), "%s: %s", str(n, "node"),
		         str(n, "reason"));
		bullet(o, line);
	}
	heading(o, 3, "Free space for the rollback backups");
	if (json_object_get(ck, "last_backup_bytes"))
		snprintf(line, sizeof(line),
		         "The last backup took %lld MiB; each stop takes one.",
		         (long long)(json_integer_value(json_object_get(
		                         ck, "last_backup_bytes")) >>
		                     20));
	else
		snprintf(line, sizeof(line),
		         "No backup yet to estimate a backup's size from.");
	bullet(o, line);
	rows = json_pack("[[s,s,s]]", "Node", "Free MiB", "Enough");
	json_array_foreach(json_object_get(ck, "free_space"), i, n)
	{
		char mib[32];
		json_t *e = json_object_get(n, "enough");
		snprintf(mib, sizeof(mib), "%lld",
		         (long long)(json_integer_value(
		                         json_object_get(n, "free_bytes")) >>
		                     20));
		json_array_append_new(rows,
		                      json_pack("[s,s,s]", str(n, "node"), mib,
		                                e == NULL         ? "?"
		                                : json_is_true(e) ? "yes"
		                                                  : "no"));
	}
	fputc('\n', o->f);
	table(o, rows);
}

static void stops(struct out *o, json_t *doc)
{
	json_t *s, *st;
	size_t i, k;
	char title[600];

	heading(o, 2, "Stops");
	json_array_foreach(json_object_get(doc, "stops"), i, s)
	{
		json_t *rows = json_pack("[[s,s,s]]", "#", "Node", "Step");
		snprintf(
		    title, sizeof(title), "Stop %lld: %s (%s)",
		    (long long)json_integer_value(json_object_get(s, "stop")),
		    str(s, "version"), str(s, "why"));
		heading(o, 3, title);
		snprintf(title, sizeof(title), "Expected downtime: %s",
		         str(s, "expected_downtime"));
		bullet(o, title);
		snprintf(title, sizeof(title), "Instead, %s",
		         str(s, "other_mode"));
		bullet(o, title);
		fputc('\n', o->f);
		json_array_foreach(json_object_get(s, "steps"), k, st)
		{
			char seq[16];
			snprintf(seq, sizeof(seq), "%lld",
			         (long long)json_integer_value(
			             json_object_get(st, "seq")));
			json_array_append_new(rows, json_pack("[s,s,s]", seq,
			                                      str(st, "node"),
			                                      str(st, "step")));
		}
		table(o, rows);
	}
}

static void rollback(struct out *o, json_t *doc)
{
	json_t *rb = json_object_get(doc, "rollback"),
	       *b = json_object_get(rb, "existing_backup");
	char line[1024];

	heading(o, 2, "Rollback plan");
	bullet(o, str(rb, "per_stop"));
	snprintf(line, sizeof(line), "Command: %s", str(rb, "command"));
	bullet(o, line);
	snprintf(line, sizeof(line), "What it does: %s", str(rb, "how"));
	bullet(o, line);
	if (b != NULL) {
		snprintf(line, sizeof(line),
		         "Existing backup at the current version: %s (GitLab "
		         "%s, %lld h old); %s",
		         str(b, "id"), str(b, "gitlab_version"),
		         (long long)json_integer_value(
		             json_object_get(b, "age_seconds")) /
		             3600,
		         str(rb, "first_stop"));
		bullet(o, line);
		snprintf(line, sizeof(line), "Its last verify: %s",
		         json_object_get(b, "verify_ok") == NULL ? "none"
		         : json_is_true(json_object_get(b, "verify_ok"))
		             ? "every artifact verified"
		             : "FAILED");
		bullet(o, line);
		snprintf(line, sizeof(line), "Its last restore drill: %s",
		         json_object_get(b, "drill_ok") == NULL ? "none"
		         : json_is_true(json_object_get(b, "drill_ok"))
		             ? "passed"
		             : "FAILED");
		bullet(o, line);
	}
}

static void render(struct out *o, json_t *doc)
{
	json_t *r;
	size_t i;
	char title[256];

	snprintf(title, sizeof(title), "GitLab upgrade plan: %s to %s",
	         str(doc, "from"), str(doc, "to"));
	heading(o, 1, title);
	fprintf(o->f,
	        "Written by Lockstep at %s from the enrolled fleet's own "
	        "facts. Mode: %s. Deploy node: %s.\n",
	        str(doc, "generated_at"), str(doc, "mode"),
	        str(doc, "deploy_node"));
	installation(o, json_object_get(doc, "installation"));
	path(o, doc);
	os_compat(o, doc);
	checks(o, json_object_get(doc, "checks"));
	stops(o, doc);
	rollback(o, doc);
	heading(o, 2, "Risks");
	if (json_array_size(json_object_get(doc, "risks")) == 0)
		bullet(o, "None found in the fleet's data.");
	json_array_foreach(json_object_get(doc, "risks"), i, r)
	    bullet(o, sv(r));
}

int cli_upgrade_doc_write(json_t *doc, const char *format, const char *output)
{
	struct out o = {0};
	char *buf = NULL;
	size_t len = 0;
	int rv;

	if (strcmp(format, "json") == 0) {
		if ((buf = json_dumps(doc, JSON_INDENT(2))) == NULL)
			return CLI_FAIL;
		len = strlen(buf);
	} else {
		if ((o.f = open_memstream(&buf, &len)) == NULL)
			return CLI_FAIL;
		o.md = strcmp(format, "markdown") == 0;
		render(&o, doc);
		if (fclose(o.f) != 0) {
			free(buf);
			return CLI_FAIL;
		}
	}
	if (len > DOC_MAX) {
		fprintf(stderr, "lockstep: the document is over %u MiB\n",
		        DOC_MAX >> 20);
		free(buf);
		return CLI_FAIL;
	}
	if (output == NULL) {
		fwrite(buf, 1, len, stdout);
		if (len == 0 || buf[len - 1] != '\n')
			fputc('\n', stdout);
		rv = CLI_OK;
	} else if ((rv = ls_write_atomic(output, buf, len, 0644)) < 0) {
		fprintf(stderr, "lockstep: %s: %s\n", output, ls_strerror(rv));
		rv = CLI_FAIL;
	} else {
		fprintf(stderr, "upgrade plan written to %s\n", output);
		rv = CLI_OK;
	}
	free(buf);
	return rv;
}
