/*
 * Reading GitLab's backup metadata for an import: backup_information.yml
 * as Rake writes it (Ruby-symbol keys, backup_created_at an
 * ActiveSupport::TimeWithZone object dump) or as the Helm toolbox writes
 * it by hand (six plain keys), and gitlab-backup-cli's
 * backup_information.json. common/ls_yaml.h is a strict config schema
 * loader that refuses unknown keys and has no notion of `!ruby/object`
 * tags, so the yml is read here with libyaml's event API, bounded.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <yaml.h>

#include "backup_import.h"
#include "ls_error.h"
#include "ls_util.h"

/* GitLab's files are ~600 bytes; anything near this is not one. */
#define META_FILE_MAX (64 * 1024)
#define META_MAX_EVENTS 4096
#define META_MAX_DEPTH 8

static int digits(const char **p, int n, int *out)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

int import_parse_time(const char *s, int64_t *out)
{
	struct tm tm;
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 1;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	if (digits(&s, 4, &y) < 0 || *s++ != '-' || digits(&s, 2, &mo) < 0 ||
	    *s++ != '-' || digits(&s, 2, &d) < 0 || (*s != ' ' && *s != 'T'))
		return LS_EINVAL;
	s++;
	if (digits(&s, 2, &h) < 0 || *s++ != ':' || digits(&s, 2, &mi) < 0 ||
	    *s++ != ':' || digits(&s, 2, &sec) < 0)
		return LS_EINVAL;
	if (*s == '.') /* Ruby keeps nanoseconds; whole seconds suffice */
		for (s++; isdigit((unsigned char)*s); s++)
			;
	while (*s == ' ')
		s++;
	if (strcmp(s, "Z") == 0 || strcmp(s, "UTC") == 0 || *s == '\0') {
		/* UTC */
	} else if (*s == '+' || *s == '-') {
		sign = *s++ == '-' ? -1 : 1;
		if (digits(&s, 2, &oh) < 0)
			return LS_EINVAL;
		if (*s == ':')
			s++;
		if (digits(&s, 2, &om) < 0 || *s != '\0')
			return LS_EINVAL;
	} else {
		return LS_EINVAL;
	}
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    sec > 60 || oh > 23 || om > 59)
		return LS_EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	if ((t = timegm(&tm)) == (time_t)-1)
		return LS_EINVAL;
	*out = (int64_t)t - sign * (oh * 3600 + om * 60);
	return 0;
}

/* A version as it appears in ids and on nodes: 17.8.2-ee. */
static int version_ok(const char *v)
{
	size_t i, n = strlen(v);

	if (n == 0 || n >= BACKUP_VERSION_MAX || !isdigit((unsigned char)v[0]))
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)v[i]) && !strchr("._-", v[i]))
			return 0;
	return 1;
}

/* The yml's keys as Ruby writes them (":gitlab_version") or plain. */
static const char *key_name(const char *k)
{
	return k[0] == ':' ? k + 1 : k;
}

struct yml_state {
	const char *path;
	char *err;
	size_t errlen;
	int have_created, have_version;
	char created[64];
};

static int yml_scalar(struct yml_state *y, struct import_meta *m,
                      const char *key, const char *v, size_t len)
{
	if (strcmp(key, "gitlab_version") == 0) {
		if (len >= sizeof(m->gitlab_version) || !version_ok(v))
			goto bad;
		ls_strlcpy(m->gitlab_version, v, sizeof(m->gitlab_version));
		y->have_version = 1;
	} else if (strcmp(key, "backup_id") == 0) {
		/* null in some versions' dumps: as absent */
		if (len == 0)
			return 0;
		if (len >= sizeof(m->backup_id) ||
		    backup_id_parse(v, NULL, NULL, 0) < 0)
			goto bad;
		ls_strlcpy(m->backup_id, v, sizeof(m->backup_id));
	} else if (strcmp(key, "skipped") == 0) {
		if (len >= sizeof(m->skipped))
			goto bad;
		ls_strlcpy(m->skipped, v, sizeof(m->skipped));
	} else if (strcmp(key, "backup_created_at") == 0) {
		if (len >= sizeof(y->created))
			goto bad;
		ls_strlcpy(y->created, v, sizeof(y->created));
		y->have_created = 1;
	}
	return 0;
bad:
	snprintf(y->err, y->errlen, "%s: key '%s': invalid value '%.64s'",
	         y->path, key, v);
	return LS_EINVAL;
}

/*
 * One event-driven pass over a top-level mapping. A nested mapping is
 * only looked into for backup_created_at, whose `time:` (or `utc:`) holds
 * the moment; every other nested value is skipped.
 */
static int yml_walk(yaml_parser_t *p, struct yml_state *y,
                    struct import_meta *m)
{
	yaml_event_t ev;
	char key[64] = "", inner[64] = "";
	int depth = 0, nevents = 0, want_key = 1, inner_key = 1, rv = 0;
	int done = 0;

	while (!done) {
		if (++nevents > META_MAX_EVENTS) {
			snprintf(y->err, y->errlen, "%s: too many YAML nodes",
			         y->path);
			return LS_ETOOBIG;
		}
		if (!yaml_parser_parse(p, &ev)) {
			snprintf(y->err, y->errlen, "%s:%zu: %s", y->path,
			         p->problem_mark.line + 1,
			         p->problem ? p->problem : "invalid YAML");
			return LS_EINVAL;
		}
		switch (ev.type) {
		case YAML_STREAM_START_EVENT:
		case YAML_DOCUMENT_START_EVENT:
		case YAML_DOCUMENT_END_EVENT:
			break;
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		case YAML_MAPPING_START_EVENT:
		case YAML_SEQUENCE_START_EVENT:
			if (depth == 0 && ev.type != YAML_MAPPING_START_EVENT) {
				snprintf(y->err, y->errlen,
				         "%s: not a mapping of keys", y->path);
				rv = LS_EINVAL;
			} else if (++depth > META_MAX_DEPTH) {
				snprintf(y->err, y->errlen,
				         "%s: nested too deeply", y->path);
				rv = LS_ETOOBIG;
			}
			inner_key = 1;
			break;
		case YAML_MAPPING_END_EVENT:
		case YAML_SEQUENCE_END_EVENT:
			if (--depth == 1)
				want_key = 1; /* a nested value ended */
			break;
		case YAML_SCALAR_EVENT: {
			const char *v = (const char *)ev.data.scalar.value;
			size_t len = ev.data.scalar.length;

			if (depth == 1 && want_key) {
				if (len >= sizeof(key)) {
					snprintf(y->err, y->errlen,
					         "%s:%zu: key too long",
					         y->path,
					         ev.start_mark.line + 1);
					rv = LS_ETOOBIG;
					break;
				}
				ls_strlcpy(key, key_name(v), sizeof(key));
				want_key = 0;
			} else if (depth == 1) {
				rv = yml_scalar(y, m, key, v, len);
				want_key = 1;
			} else if (depth == 2 &&
			           strcmp(key, "backup_created_at") == 0) {
				/* TimeWithZone: utc:, zone: {name:}, time: */
				if (inner_key) {
					ls_strlcpy(inner, v, sizeof(inner));
				} else if (strcmp(inner, "time") == 0 ||
				           (strcmp(inner, "utc") == 0 &&
				            !y->have_created)) {
					rv = yml_scalar(y, m, key, v, len);
				}
				inner_key = !inner_key;
			}
			break;
		}
		case YAML_ALIAS_EVENT:
			/* Ruby's dump of one TimeWithZone has none. */
			snprintf(y->err, y->errlen,
			         "%s:%zu: YAML aliases are not accepted",
			         y->path, ev.start_mark.line + 1);
			rv = LS_EINVAL;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
		if (rv < 0)
			return rv;
	}
	return 0;
}

int import_meta_yml(const char *path, const char *name, struct import_meta *m,
                    char *err, size_t errlen)
{
	yaml_parser_t p;
	struct yml_state y;
	char *buf = NULL;
	size_t len = 0;
	int rv;

	memset(m, 0, sizeof(*m));
	memset(&y, 0, sizeof(y));
	y.path = name;
	y.err = err;
	y.errlen = errlen;
	if ((rv = ls_read_file(path, META_FILE_MAX, &buf, &len)) < 0) {
		snprintf(err, errlen, "%s: %s", name, ls_strerror(rv));
		return rv;
	}
	if (!yaml_parser_initialize(&p)) {
		free(buf);
		return LS_ENOMEM;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	rv = yml_walk(&p, &y, m);
	yaml_parser_delete(&p);
	free(buf);
	if (rv < 0)
		return rv;
	if (!y.have_version) {
		snprintf(err, errlen, "%s: key 'gitlab_version' is missing",
		         name);
		return LS_EINVAL;
	}
	if (!y.have_created) {
		snprintf(err, errlen, "%s: key 'backup_created_at' is missing",
		         name);
		return LS_EINVAL;
	}
	if (import_parse_time(y.created, &m->created_at) < 0) {
		snprintf(err, errlen,
		         "%s: key 'backup_created_at': not a time: '%s'", name,
		         y.created);
		return LS_EINVAL;
	}
	return 0;
}

/* A required string member of the json, bounded. */
static int json_str(json_t *o, const char *path, const char *key, char *out,
                    size_t len, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL) {
		snprintf(err, errlen, "%s: key '%s' is missing", path, key);
		return LS_EINVAL;
	}
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) >= len) {
		snprintf(err, errlen, "%s: key '%s' is not a valid string",
		         path, key);
		return LS_EINVAL;
	}
	ls_strlcpy(out, json_string_value(v), len);
	return 0;
}

int import_meta_json(const char *path, const char *name, struct import_meta *m,
                     char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *o = NULL, *mv;
	char *buf = NULL, created[64];
	size_t len = 0;
	int rv;

	memset(m, 0, sizeof(*m));
	if ((rv = ls_read_file(path, META_FILE_MAX, &buf, &len)) < 0) {
		snprintf(err, errlen, "%s: %s", name, ls_strerror(rv));
		return rv;
	}
	rv = LS_EINVAL;
	if ((o = json_loadb(buf, len, 0, &jerr)) == NULL ||
	    !json_is_object(o)) {
		snprintf(err, errlen, "%s:%d: %s", name, jerr.line,
		         o ? "not a JSON object" : jerr.text);
		goto out;
	}
	mv = json_object_get(o, "metadata_version");
	if (mv == NULL || !json_is_integer(mv) || json_integer_value(mv) < 1 ||
	    json_integer_value(mv) > 2) {
		/* A newer metadata version may mean files we do not know. */
		snprintf(err, errlen,
		         "%s: key 'metadata_version' is %s (2 expected)", name,
		         mv == NULL ? "missing" : "not 1 or 2");
		goto out;
	}
	if ((rv = json_str(o, name, "backup_id", m->backup_id,
	                   sizeof(m->backup_id), err, errlen)) < 0 ||
	    (rv = json_str(o, name, "gitlab_version", m->gitlab_version,
	                   sizeof(m->gitlab_version), err, errlen)) < 0 ||
	    (rv = json_str(o, name, "created_at", created, sizeof(created), err,
	                   errlen)) < 0)
		goto out;
	rv = LS_EINVAL;
	if (backup_id_parse(m->backup_id, NULL, NULL, 0) < 0) {
		snprintf(err, errlen,
		         "%s: key 'backup_id': not a GitLab "
		         "backup id: '%s'",
		         name, m->backup_id);
		goto out;
	}
	if (!version_ok(m->gitlab_version)) {
		snprintf(err, errlen, "%s: key 'gitlab_version': invalid '%s'",
		         name, m->gitlab_version);
		goto out;
	}
	if (import_parse_time(created, &m->created_at) < 0) {
		snprintf(err, errlen, "%s: key 'created_at': not a time: '%s'",
		         name, created);
		goto out;
	}
	rv = 0;
out:
	json_decref(o);
	free(buf);
	return rv;
}
