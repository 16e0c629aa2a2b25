/*
 * GitLab backup metadata: ids, backup_information.yml (Rake) and
 * backup_information.json (gitlab-backup-cli). See backup_meta.h for the
 * GitLab sources each format follows.
 */
#include "backup_meta.h"

#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "ls_error.h"
#include "ls_util.h"

/* ---- ids ---------------------------------------------------------- */

int backup_id_make(int64_t unix_time, const char *gitlab_version, char *out,
                   size_t len)
{
	struct tm tm;
	time_t t = (time_t)unix_time;
	size_t vlen;

	if (out == NULL || len == 0 || gitlab_version == NULL ||
	    unix_time < 0 || gmtime_r(&t, &tm) == NULL)
		return LS_EINVAL;
	vlen = strlen(gitlab_version);
	if (vlen == 0 || vlen >= BACKUP_VERSION_MAX ||
	    strspn(gitlab_version, "0123456789abcdefghijklmnopqrstuvwxyz"
	                           "ABCDEFGHIJKLMNOPQRSTUVWXYZ._-") != vlen)
		return LS_EINVAL;
	/* Ruby's strftime('%s_%Y_%m_%d_') on Time.current (zone UTC). */
	return ls_fmt(out, len, "%lld_%04d_%02d_%02d_%s", (long long)unix_time,
	              tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	              gitlab_version);
}

int backup_id_parse(const char *id, int64_t *unix_time, char *version,
                    size_t vlen)
{
	/*
	 * GitLab's prune regex less its "_gitlab_backup\.tar" tail, in POSIX
	 * ERE; group 3 is the version. Leftmost-longest matching accepts the
	 * same ids as Ruby's backtracking (every optional part is anchored by
	 * what follows it), except that an id with a line break in it, which
	 * Ruby's ^ and $ would let through line-wise, is refused.
	 */
	static const char re[] =
	    "^[0-9]{10}(_[0-9]{4}_[0-9]{2}_[0-9]{2}(_([0-9]+\\.[0-9]+\\.[0-9]+"
	    "((-|\\.)(pre|rc[0-9]))?(-ee)?))?)?$";
	regmatch_t m[4];
	regex_t rx;
	long long t;
	char head[11];
	int rv = LS_EINVAL;

	if (id == NULL || strlen(id) >= BACKUP_ID_MAX)
		return LS_EINVAL;
	if (regcomp(&rx, re, REG_EXTENDED) != 0)
		return LS_ENOMEM;
	if (regexec(&rx, id, 4, m, 0) != 0)
		goto out;
	memcpy(head, id, 10);
	head[10] = '\0';
	if (ls_parse_int(head, 0, 9999999999LL, &t) < 0)
		goto out;
	if (version != NULL) {
		size_t n =
		    m[3].rm_so < 0 ? 0 : (size_t)(m[3].rm_eo - m[3].rm_so);

		rv = LS_ETOOBIG;
		if (n >= vlen)
			goto out;
		memcpy(version, id + (n ? m[3].rm_so : 0), n);
		version[n] = '\0';
	}
	if (unix_time != NULL)
		*unix_time = t;
	rv = 0;
out:
	regfree(&rx);
	return rv;
}

/* ---- skip list ------------------------------------------------------ */

/* Options#serialize_skippables order (lib/backup/options.rb). */
static const char backup_skippables[] =
    "tar,remote,db,uploads,builds,artifacts,lfs,terraform_state,registry,"
    "pages,repositories,packages,ci_secure_files,external_diffs";
#define BACKUP_NSKIP 14

/* Position of name[0..n) in backup_skippables, or -1. */
static int backup_skip_index(const char *name, size_t n)
{
	const char *p = backup_skippables;

	for (int i = 0; *p; i++) {
		size_t len = strcspn(p, ",");

		if (len == n && memcmp(p, name, n) == 0)
			return i;
		p += len + (p[len] == ',');
	}
	return -1;
}

/* The i-th name of backup_skippables appended to out after a comma. */
static int backup_skip_append(int i, char *out, size_t outlen)
{
	const char *p = backup_skippables;
	size_t used = strlen(out);

	while (i-- > 0)
		p += strcspn(p, ",") + 1;
	return ls_fmt(out + used, outlen - used, "%s%.*s", used ? "," : "",
	              (int)strcspn(p, ","), p);
}

int backup_skip_normalize(const char *csv, char *out, size_t outlen, char *err,
                          size_t errlen)
{
	bool want[BACKUP_NSKIP] = {false};
	char unknown[512] = "";
	size_t ulen = 0;
	int rv = 0;

	if (err && errlen)
		err[0] = '\0';
	if (csv == NULL || out == NULL || outlen == 0)
		return LS_EINVAL;
	if (strlen(csv) > BACKUP_YML_VALUE_MAX)
		return LS_ETOOBIG;
	for (const char *p = csv; *p;) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		int i = backup_skip_index(p, n);

		/* GitLab's split(',') ignores empty items, so do we. */
		if (i >= 0) {
			want[i] = true;
		} else if (n) {
			int w = snprintf(unknown + ulen, sizeof(unknown) - ulen,
			                 "%s%.*s", ulen ? ", " : "", (int)n, p);

			if (w > 0)
				ulen += (size_t)w;
			if (ulen >= sizeof(unknown))
				ulen = sizeof(unknown) - 1;
			rv = LS_EINVAL;
		}
		p += n + (e ? 1 : 0);
	}
	if (rv < 0) {
		if (err && errlen)
			snprintf(err, errlen,
			         "unknown backup component(s) to skip: %s "
			         "(known: %s)",
			         unknown, backup_skippables);
		goto out;
	}
	out[0] = '\0';
	for (int i = 0; i < BACKUP_NSKIP && rv == 0; i++)
		if (want[i])
			rv = backup_skip_append(i, out, outlen);
out:
	return rv;
}

/* ---- YAML ---------------------------------------------------------- */

/*
 * Psych (Ruby's YAML) picks a style for a String (YAMLTree#visit_String)
 * and libyaml's emitter may then override it (yaml_emitter_analyze_scalar
 * and select_scalar_style). What follows reproduces both for single-line
 * printable ASCII, checked against Ruby 3.1 / Psych 4.0 / libyaml 0.2.5.
 */
enum backup_yml_style { BACKUP_PLAIN, BACKUP_SQ, BACKUP_DQ };

/* libyaml's best_width: plain and quoted scalars fold past column 80. */
#define BACKUP_YML_WIDTH 80
/* A top-level mapping value folds with an indent of best_indent (2). */
#define BACKUP_YML_INDENT 2

static bool backup_re(const char *re, const char *s, int flags)
{
	regex_t rx;
	bool hit;

	if (regcomp(&rx, re, REG_EXTENDED | REG_NOSUB | flags) != 0)
		return false;
	hit = regexec(&rx, s, 0, NULL, 0) == 0;
	regfree(&rx);
	return hit;
}

static bool backup_valid_date(const char *s)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30,
	                            31, 31, 30, 31, 30, 31};
	int y, m, d;

	if (sscanf(s, "%4d-%d-%d", &y, &m, &d) != 3 || m < 1 || m > 12 || d < 1)
		return false;
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return d <= 29;
	return d <= mdays[m - 1];
}

/*
 * Whether Psych::ScalarScanner#tokenize reads s back as a String (the
 * ScalarScanner of Psych 4/5 with strict_integer off). When it would
 * not, Psych single-quotes the value.
 */
static bool backup_psych_string(const char *s)
{
	size_t n = strlen(s);

	if (n == 0)
		return false;
	if (backup_re("^[^0-9.:-]?[[:alpha:]_[:space:]!@#$%^&*(){}<>|/\\~;=]+",
	              s, 0)) {
		if (n > 5 || backup_re("^[^ytonf~]", s, REG_ICASE))
			return true;
		return !backup_re("^(~|null|yes|true|on|no|false|off)$", s,
		                  REG_ICASE);
	}
	/* Psych's TIME; its parse only fails on absurd fields. */
	if (backup_re("^-?[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt]|[[:space:]]+)"
	              "[0-9]{1,2}:[0-9][0-9]:[0-9][0-9](\\.[0-9]*)?"
	              "([[:space:]]*(Z|[-+][0-9]{1,2}:?([0-9][0-9])?))?$",
	              s, 0))
		return false;
	if (backup_re("^[0-9]{4}-(1[012]|0[0-9]|[0-9])-"
	              "([12][0-9]|3[01]|0[0-9]|[0-9])$",
	              s, 0))
		return !backup_valid_date(s);
	if (backup_re("^(\\+?\\.inf|-\\.inf|\\.nan)$", s, REG_ICASE) ||
	    backup_re("^:.", s, 0) ||
	    backup_re("^[-+]?[0-9][0-9_]*(:[0-5]?[0-9]){1,2}(\\.[0-9_]*)?$", s,
	              0))
		return false;
	if (backup_re("^[-+]?([0-9][0-9_,]*)?\\.[0-9]*([eE][-+][0-9]+)?$", s,
	              0))
		return backup_re("^[-+]?\\.$", s, 0);
	return !backup_re("^([-+]?0b[0-1_,]+|[-+]?0[0-7_,]+|"
	                  "[-+]?(0|[1-9]([0-9]|,[0-9]|_[0-9])*)|"
	                  "[-+]?0x[0-9a-fA-F_,]+)$",
	                  s, 0);
}

/* libyaml: may this scalar be written plain in block context? */
static bool backup_plain_allowed(const char *s, size_t n)
{
	if (s[0] == ' ' || s[n - 1] == ' ' || strncmp(s, "---", 3) == 0 ||
	    strncmp(s, "...", 3) == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		bool next_blank = i + 1 == n || s[i + 1] == ' ';

		if (i == 0 && (strchr("#,[]{}&*!|>'\"%@`", s[0]) != NULL ||
		               (strchr("?:-", s[0]) != NULL && next_blank)))
			return false;
		if (i > 0 && s[i] == ':' && next_blank)
			return false;
		if (i > 0 && s[i] == '#' && s[i - 1] == ' ')
			return false;
	}
	return true;
}

static int backup_yml_style(const char *s, enum backup_yml_style *style)
{
	size_t n = strlen(s);
	bool word;

	if (n > BACKUP_YML_VALUE_MAX)
		return LS_ETOOBIG;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return LS_EINVAL; /* tabs, breaks, non-ASCII: not ours
			                   */
	/* Psych writes "<<" with an explicit tag; no value of ours is. */
	if (strcmp(s, "<<") == 0)
		return LS_EINVAL;
	*style = BACKUP_PLAIN;
	word = n &&
	       ((s[0] >= '0' && s[0] <= '9') || (s[0] >= 'a' && s[0] <= 'z') ||
	        (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_');
	if (n == 0)
		*style = BACKUP_SQ;
	else if (strcmp(s, "y") == 0 || strcmp(s, "Y") == 0 ||
	         strcmp(s, "n") == 0 || strcmp(s, "N") == 0)
		*style = BACKUP_DQ;
	else if (!word && strchr(s + 1, '"') == NULL)
		*style = BACKUP_DQ; /* Psych: /^[^[:word:]][^"]*$/ */
	else if (!backup_psych_string(s) || backup_re("^0[0-7]*[89]", s, 0))
		*style = BACKUP_SQ;
	else if (!backup_plain_allowed(s, n))
		*style = BACKUP_SQ;
	return 0;
}

/* A bounded growing buffer. */
struct backup_buf {
	char *p;
	size_t len, cap, max;
	int err;
};

static void backup_put(struct backup_buf *b, const char *s, size_t n)
{
	if (b->err)
		return;
	if (b->len + n + 1 > b->max) {
		b->err = LS_ETOOBIG;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 1024;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		if (cap > b->max)
			cap = b->max;
		if ((p = realloc(b->p, cap)) == NULL) {
			b->err = LS_ENOMEM;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void backup_puts(struct backup_buf *b, const char *s)
{
	backup_put(b, s, strlen(s));
}

/*
 * ":key: value\n". The value is written the way libyaml's
 * yaml_emitter_write_plain / _single_quoted / _double_quoted do: a space
 * past column 80 becomes a line break plus the indent, except where the
 * writer keeps it (next to another space, or at a quoted scalar's ends).
 */
static int backup_yml_line(struct backup_buf *b, const char *key,
                           const char *value)
{
	enum backup_yml_style st;
	size_t n, col;
	bool spaces = false;
	int rv;

	if ((rv = backup_yml_style(value, &st)) < 0)
		return rv;
	n = strlen(value);
	backup_puts(b, ":");
	backup_puts(b, key);
	backup_puts(b, ": ");
	col = strlen(key) + 3;
	if (st != BACKUP_PLAIN) {
		backup_puts(b, st == BACKUP_SQ ? "'" : "\"");
		col++;
	}
	for (size_t i = 0; i < n; i++) {
		char c = value[i];
		bool next_space = i + 1 < n && value[i + 1] == ' ';

		if (c == ' ') {
			bool fold = !spaces && col > BACKUP_YML_WIDTH;

			if (st == BACKUP_PLAIN)
				fold = fold && !next_space;
			else if (st == BACKUP_SQ)
				fold =
				    fold && i != 0 && i != n - 1 && !next_space;
			else
				fold = fold && i != 0 && i != n - 1;
			if (fold) {
				backup_puts(b, "\n  ");
				col = BACKUP_YML_INDENT;
				if (st == BACKUP_DQ && next_space) {
					backup_puts(b, "\\");
					col++;
				}
			} else {
				backup_puts(b, " ");
				col++;
			}
			spaces = true;
			continue;
		}
		if ((st == BACKUP_SQ && c == '\'') ||
		    (st == BACKUP_DQ && (c == '"' || c == '\\'))) {
			backup_puts(b, st == BACKUP_SQ ? "'" : "\\");
			col++;
		}
		backup_put(b, &c, 1);
		col++;
		spaces = false;
	}
	if (st != BACKUP_PLAIN)
		backup_puts(b, st == BACKUP_SQ ? "'" : "\"");
	backup_puts(b, "\n");
	return b->err;
}

int backup_yml_scalar(const char *key, const char *value, char *out,
                      size_t outlen)
{
	struct backup_buf b = {.max = BACKUP_YML_VALUE_MAX * 2 + 256};
	int rv;

	if (key == NULL || value == NULL || out == NULL)
		return LS_EINVAL;
	if ((rv = backup_yml_line(&b, key, value)) == 0)
		rv = ls_fmt(out, outlen, "%s", b.p);
	free(b.p);
	return rv < 0 ? rv : 0;
}

static const char *backup_str(const char *s)
{
	return s ? s : "";
}

int backup_meta_yml(const struct backup_meta *m, char **out)
{
	struct backup_buf b = {.max = 16 * BACKUP_YML_VALUE_MAX};
	char when[64], line[160];
	struct tm tm;
	time_t t;
	int rv;

	*out = NULL;
	if (m == NULL || m->backup_id == NULL || m->db_version == NULL ||
	    m->gitlab_version == NULL || m->tar_version == NULL ||
	    m->installation_type == NULL || m->created_nsec < 0 ||
	    m->created_nsec > 999999999L)
		return LS_EINVAL;
	t = (time_t)m->created_at;
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm) == 0)
		return LS_EINVAL;
	/*
	 * Backup::Metadata#save! writes BackupInformation#to_h.to_yaml less
	 * its leading "---\n": symbol keys in the Struct's member order
	 * (lib/backup/metadata.rb since Backup::Tasks replaced the task
	 * definitions in manager.rb, 17.8 included: :backup_id sits between
	 * :repositories_server_side and :full_backup_id; the first
	 * metadata.rb had no :backup_id). backup_created_at
	 * is Time.current, an ActiveSupport::TimeWithZone whose encode_with
	 * maps utc, zone (a TimeZone that dumps its tzinfo name; GitLab's
	 * default zone 'UTC' is Etc/UTC) and time; Psych prints a UTC Time
	 * as "%Y-%m-%d %H:%M:%S.%9N Z".
	 */
	if ((rv = backup_yml_line(&b, "db_version", m->db_version)) < 0)
		goto out;
	backup_puts(&b, ":backup_created_at: "
	                "!ruby/object:ActiveSupport::TimeWithZone\n");
	ls_fmt(line, sizeof(line), "  utc: %s.%09ld Z\n", when,
	       m->created_nsec);
	backup_puts(&b, line);
	backup_puts(&b, "  zone: !ruby/object:ActiveSupport::TimeZone\n"
	                "    name: Etc/UTC\n");
	ls_fmt(line, sizeof(line), "  time: %s.%09ld Z\n", when,
	       m->created_nsec);
	backup_puts(&b, line);
	if ((rv = backup_yml_line(&b, "gitlab_version", m->gitlab_version)) <
	        0 ||
	    (rv = backup_yml_line(&b, "tar_version", m->tar_version)) < 0 ||
	    (rv = backup_yml_line(&b, "installation_type",
	                          m->installation_type)) < 0 ||
	    (rv = backup_yml_line(&b, "skipped", backup_str(m->skipped))) < 0 ||
	    (rv = backup_yml_line(&b, "repositories_storages",
	                          backup_str(m->repositories_storages))) < 0 ||
	    (rv = backup_yml_line(&b, "repositories_paths",
	                          backup_str(m->repositories_paths))) < 0 ||
	    (rv = backup_yml_line(&b, "skip_repositories_paths",
	                          backup_str(m->skip_repositories_paths))) < 0)
		goto out;
	backup_puts(&b, m->repositories_server_side
	                    ? ":repositories_server_side: true\n"
	                    : ":repositories_server_side: false\n");
	if ((rv = backup_yml_line(&b, "backup_id", m->backup_id)) < 0)
		goto out;
	/* nil: libyaml 0.2.5 writes the key and nothing after the colon. */
	if (m->full_backup_id == NULL)
		backup_puts(&b, ":full_backup_id:\n");
	else if ((rv = backup_yml_line(&b, "full_backup_id",
	                               m->full_backup_id)) < 0)
		goto out;
	if ((rv = b.err) == 0) {
		*out = b.p;
		b.p = NULL;
	}
out:
	free(b.p);
	return rv;
}

/* ---- JSON ---------------------------------------------------------- */

static bool backup_printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

int backup_meta_json(const struct backup_meta *m, char **out)
{
	char when[32];
	json_t *o = NULL;
	struct tm tm;
	time_t t;
	int rv = LS_EINVAL;

	*out = NULL;
	if (m == NULL || m->backup_id == NULL || m->gitlab_version == NULL ||
	    !backup_printable(m->backup_id) ||
	    !backup_printable(m->gitlab_version))
		goto out;
	t = (time_t)m->created_at;
	/* created_at.iso8601 of a UTC TimeWithZone: whole seconds, "Z". */
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		goto out;
	/*
	 * Key order of METADATA_SCHEMA in gitlab-backup-cli's
	 * metadata/backup_metadata.rb (and of the writer's example in
	 * gitlab-org/gitlab!149441): metadata_version first. Ruby's
	 * JSON.pretty_generate indents 2, separates with ": " and ends at
	 * "}" with no newline, as jansson's JSON_INDENT(2) does; neither
	 * escapes '/', and printable ASCII needs only \" and \\ in both.
	 */
	rv = LS_ENOMEM;
	if ((o = json_object()) == NULL ||
	    json_object_set_new(o, "metadata_version", json_integer(2)) < 0 ||
	    json_object_set_new(o, "backup_id", json_string(m->backup_id)) <
	        0 ||
	    json_object_set_new(o, "created_at", json_string(when)) < 0 ||
	    json_object_set_new(o, "gitlab_version",
	                        json_string(m->gitlab_version)) < 0)
		goto out;
	if ((*out = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) ==
	    NULL)
		goto out;
	rv = 0;
out:
	json_decref(o);
	return rv;
}

/* ---- files --------------------------------------------------------- */

static int backup_write_in(const char *dir, const char *name, const char *data,
                           mode_t mode)
{
	char path[LS_PATH_MAX];
	int rv;

	if ((rv = ls_fmt(path, sizeof(path), "%s/%s", dir, name)) < 0)
		return rv;
	return ls_write_atomic(path, data, strlen(data), mode);
}

int backup_meta_write_yml(const struct backup_meta *m, const char *dir)
{
	char *yml = NULL;
	int rv;

	/* 0644: Ruby's File.open('w+') under the usual umask 022. */
	if ((rv = backup_meta_yml(m, &yml)) == 0)
		rv = backup_write_in(dir, "backup_information.yml", yml, 0644);
	free(yml);
	return rv;
}

int backup_meta_write_json(const struct backup_meta *m, const char *dir)
{
	char *json = NULL;
	int rv;

	/* METADATA_FILE_MODE = 0o600 in backup_metadata.rb. */
	if ((rv = backup_meta_json(m, &json)) == 0)
		rv =
		    backup_write_in(dir, "backup_information.json", json, 0600);
	free(json);
	return rv;
}
