/* Geo site status replies to checks: see check_geo_parse.h. */
#include "check_geo_parse.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ls_util.h"

#define SHAPE_NAME "geo:replication"
/* Types named in a reason before "+N more": the counts matter more than a
 * list cut off mid-word by the reason's cap. */
#define LIST_MAX 4
/* A type's name shown in a reason, and the <type>_count key built from a
 * <type>_synced_count key; GitLab's longest is under 80. */
#define KEY_MAX 160

struct text {
	char b[CHECK_REASON_MAX + 1];
	size_t len;
};

static void __attribute__((format(printf, 2, 3)))
add(struct text *t, const char *fmt, ...)
{
	size_t room = sizeof(t->b) - t->len;
	va_list ap;
	int n;

	if (room <= 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->b + t->len, room, fmt, ap);
	va_end(ap);
	if (n < 0) {
		t->b[t->len] = '\0';
	} else if ((size_t)n >= room) {
		/* Cut: say so, as check_add does for its own cap. */
		t->len = sizeof(t->b) - 1;
		memcpy(t->b + sizeof(t->b) - 4, "...", 4);
	} else {
		t->len += (size_t)n;
	}
}

static int ends_with(const char *s, const char *suffix, size_t *stem)
{
	size_t n = strlen(s), m = strlen(suffix);

	if (n <= m || memcmp(s + n - m, suffix, m) != 0)
		return 0;
	*stem = n - m;
	return 1;
}

static void sat_add(long long *sum, long long v)
{
	*sum = *sum > LLONG_MAX - v ? LLONG_MAX : *sum + v;
}

/* A non-negative integer member, else -1 (GitLab sends null for a count it
 * does not track on that site). */
static long long count_of(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	return (long long)json_integer_value(v);
}

/* synced and total of a <type>_synced_count key whose <type>_count is
 * there too; 0 when the pair is incomplete. */
static int synced_pair(const json_t *st, const char *key, const json_t *v,
                       size_t stem, long long *synced, long long *total)
{
	char tkey[KEY_MAX];

	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    stem > sizeof(tkey) - sizeof("_count"))
		return 0;
	memcpy(tkey, key, stem);
	memcpy(tkey + stem, "_count", sizeof("_count"));
	if ((*total = count_of(st, tkey)) < 0)
		return 0;
	*synced = (long long)json_integer_value(v);
	return 1;
}

struct tally {
	long long failed, synced, total;
	size_t nfailed, nbehind; /* types with failures, with synced < count */
	long long db_lag, event_lag; /* -1: not reported */
	int unhealthy;
};

static void tally_status(const json_t *st, struct tally *t)
{
	const json_t *v, *healthy = json_object_get(st, "healthy"),
	                 *hs = json_object_get(st, "health_status");
	const char *key;
	long long last, cur, s = 0, n = 0;
	size_t stem;

	memset(t, 0, sizeof(*t));
	t->unhealthy = json_is_false(healthy) ||
	               (json_is_string(hs) &&
	                strcmp(json_string_value(hs), "Healthy") != 0);
	json_object_foreach((json_t *)st, key, v)
	{
		if (ends_with(key, "_failed_count", &stem)) {
			if (json_is_integer(v) && json_integer_value(v) > 0) {
				sat_add(&t->failed,
				        (long long)json_integer_value(v));
				t->nfailed++;
			}
		} else if (ends_with(key, "_synced_count", &stem) &&
		           synced_pair(st, key, v, stem, &s, &n)) {
			sat_add(&t->synced, s);
			sat_add(&t->total, n);
			if (s < n)
				t->nbehind++;
		}
	}
	t->db_lag = count_of(st, "db_replication_lag_seconds");
	/* The primary's newest event against the newest the secondary's log
	 * cursor has processed; 0 or null before the cursor's first event. */
	last = count_of(st, "last_event_timestamp");
	cur = count_of(st, "cursor_last_event_timestamp");
	t->event_lag = last > 0 && cur > 0 ? (last > cur ? last - cur : 0) : -1;
}

/* "repositories 2, uploads 1 +3 more" for the failed or lagging types. */
static void list_types(const json_t *st, int failed, struct text *out)
{
	const json_t *v;
	const char *key;
	size_t stem, shown = 0, more = 0;
	long long s = 0, n = 0;

	json_object_foreach((json_t *)st, key, v)
	{
		if (failed) {
			if (!ends_with(key, "_failed_count", &stem) ||
			    !json_is_integer(v) || json_integer_value(v) <= 0)
				continue;
		} else if (!ends_with(key, "_synced_count", &stem) ||
		           !synced_pair(st, key, v, stem, &s, &n) || s >= n) {
			continue;
		}
		if (shown == LIST_MAX) {
			more++;
			continue;
		}
		if (stem > KEY_MAX)
			stem = KEY_MAX;
		if (failed)
			add(out, "%s%.*s %lld", shown ? ", " : "", (int)stem,
			    key, (long long)json_integer_value(v));
		else
			add(out, "%s%.*s %lld/%lld", shown ? ", " : "",
			    (int)stem, key, s, n);
		shown++;
	}
	if (more)
		add(out, " +%zu more", more);
}

static const json_t *status_for(const json_t *statuses, json_int_t id)
{
	const json_t *st;
	size_t i;

	json_array_foreach((json_t *)statuses, i, st)
	{
		const json_t *gid = json_object_get(st, "geo_node_id");
		if (json_is_object(st) && json_is_integer(gid) &&
		    json_integer_value(gid) == id)
			return st;
	}
	return NULL;
}

static void eval_site(const json_t *site, json_int_t id, const json_t *statuses,
                      struct check_report *r)
{
	const json_t *nm = json_object_get(site, "name"), *st;
	const char *health;
	char name[CHECK_NAME_MAX];
	struct text why = {.len = 0};
	struct tally t;
	enum check_status verdict;
	int lags;

	why.b[0] = '\0';
	if (json_is_string(nm) && json_string_length(nm) > 0)
		ls_fmt(name, sizeof(name), GEO_CHECK_PREFIX "%.*s",
		       (int)(sizeof(name) - sizeof(GEO_CHECK_PREFIX)),
		       json_string_value(nm));
	else
		ls_fmt(name, sizeof(name), GEO_CHECK_PREFIX "%lld",
		       (long long)id);
	if (json_is_false(json_object_get(site, "enabled"))) {
		check_add(r, name, CHECK_ST_WARN,
		          "site %lld is disabled in GitLab: not replicating",
		          (long long)id);
		return;
	}
	if ((st = status_for(statuses, id)) == NULL) {
		check_add(r, name, CHECK_ST_WARN,
		          "no status reported for site %lld (GET "
		          "/api/v4/geo_sites/status)",
		          (long long)id);
		return;
	}
	tally_status(st, &t);
	lags = t.nbehind > 0 || t.db_lag > GEO_LAG_WARN_SECONDS ||
	       t.event_lag > GEO_LAG_WARN_SECONDS;
	verdict = t.unhealthy || t.failed > 0 ? CHECK_ST_FAIL
	          : lags                      ? CHECK_ST_WARN
	                                      : CHECK_ST_PASS;
	if (t.unhealthy) {
		nm = json_object_get(st, "health");
		if (!json_is_string(nm))
			nm = json_object_get(st, "health_status");
		health = json_is_string(nm) ? json_string_value(nm) : "";
		add(&why, "unhealthy%s%.100s%s; ", health[0] ? " (" : "",
		    health, health[0] ? ")" : "");
	} else {
		add(&why, "healthy; ");
	}
	add(&why, "%lld failed", t.failed);
	if (t.failed > 0) {
		add(&why, " (");
		list_types(st, 1, &why);
		add(&why, ")");
	}
	add(&why, "; %lld/%lld synced", t.synced, t.total);
	if (t.nbehind > 0) {
		add(&why, ", behind: ");
		list_types(st, 0, &why);
	}
	if (t.db_lag >= 0)
		add(&why, "; database replication %llds behind", t.db_lag);
	if (t.event_lag >= 0)
		add(&why, "; event log %llds behind", t.event_lag);
	if (t.db_lag > GEO_LAG_WARN_SECONDS ||
	    t.event_lag > GEO_LAG_WARN_SECONDS)
		add(&why, " (over %ds)", GEO_LAG_WARN_SECONDS);
	check_add(r, name, verdict, "%s", why.b);
}

void check_geo_eval(const json_t *sites, const json_t *statuses,
                    struct check_report *r)
{
	const json_t *site;
	size_t i;

	if (!json_is_array(sites)) {
		check_add(r, SHAPE_NAME, CHECK_ST_FAIL,
		          "GET /api/v4/geo_sites: reply is not a JSON array");
		return;
	}
	if (!json_is_array(statuses)) {
		check_add(r, SHAPE_NAME, CHECK_ST_FAIL,
		          "GET /api/v4/geo_sites/status: reply is not a JSON "
		          "array");
		return;
	}
	json_array_foreach((json_t *)sites, i, site)
	{
		const json_t *id = json_object_get(site, "id"),
		             *primary = json_object_get(site, "primary");

		if (i == GEO_SITES_MAX) {
			check_add(r, SHAPE_NAME, CHECK_ST_WARN,
			          "%zu Geo sites: only the first %d checked",
			          json_array_size(sites), GEO_SITES_MAX);
			break;
		}
		if (!json_is_object(site) || !json_is_integer(id) ||
		    !json_is_boolean(primary)) {
			check_add(r, SHAPE_NAME, CHECK_ST_FAIL,
			          "GET /api/v4/geo_sites: entry %zu has no "
			          "integer id or boolean primary",
			          i);
			continue;
		}
		if (json_is_false(primary))
			eval_site(site, json_integer_value(id), statuses, r);
	}
}
