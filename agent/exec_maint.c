/*
 * The Maintenance operation: maintenance mode on or off through the GitLab
 * API (gitlab-facts §6), and on the way in a bounded wait until Sidekiq
 * has no busy job, so that nothing is half-written at the cut.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "exec_maint.h"
#include "gitlab_api.h"
#include "ls_error.h"
#include "ls_util.h"

/* GitLab's column is text; the banner is short. Bounded all the same. */
#define MAINT_MESSAGE_MAX 1024

/* Keeps the settings' maintenance_mode_message in res (NULL when unset). */
static int keep_message(const json_t *s, Ls__MaintenanceResult *res)
{
	const char *msg =
	    json_string_value(json_object_get(s, "maintenance_mode_message"));
	size_t n;

	if (msg == NULL)
		return 0;
	n = strnlen(msg, MAINT_MESSAGE_MAX);
	free(res->message);
	if ((res->message = strndup(msg, n)) == NULL)
		return LS_ENOMEM;
	return 0;
}

static int get_mode(struct gitlab_api *api, int *on, Ls__MaintenanceResult *res,
                    char *err, size_t len)
{
	json_t *s = NULL;
	int rv = gitlab_api_call(api, "GET", "/api/v4/application/settings", &s,
	                         err, len);

	if (rv < 0)
		return rv;
	*on = json_is_true(json_object_get(s, "maintenance_mode"));
	rv = keep_message(s, res);
	json_decref(s);
	return rv;
}

static int set_mode(struct gitlab_api *api, int on, const char *message,
                    Ls__MaintenanceResult *res, char *err, size_t len)
{
	json_t *s = NULL;
	char path[1400];
	char *esc = NULL;
	CURL *h;
	int rv;

	if (on && message != NULL && message[0] != '\0') {
		if ((h = curl_easy_init()) == NULL)
			return LS_ENOMEM;
		esc = curl_easy_escape(h, message, 0);
		curl_easy_cleanup(h);
		if (esc == NULL)
			return LS_ENOMEM;
	}
	rv = ls_fmt(path, sizeof(path),
	            "/api/v4/application/settings?maintenance_mode=%s%s%s",
	            on ? "true" : "false",
	            esc ? "&maintenance_mode_message=" : "", esc ? esc : "");
	curl_free(esc);
	if (rv < 0) {
		snprintf(err, len, "maintenance message too long");
		return rv;
	}
	/* GitLab answers with the settings as they now are: the message
	 * reported is the one stored, not the one asked for. */
	if ((rv = gitlab_api_call(api, "PUT", path, &s, err, len)) < 0)
		return rv;
	rv = keep_message(s, res);
	json_decref(s);
	return rv;
}

static int sidekiq_busy(struct gitlab_api *api, uint32_t *busy, char *err,
                        size_t len)
{
	json_t *m = NULL, *procs, *p;
	size_t i;
	int rv = gitlab_api_call(api, "GET", "/api/v4/sidekiq/process_metrics",
	                         &m, err, len);

	if (rv < 0)
		return rv;
	*busy = 0;
	procs = json_object_get(m, "processes");
	json_array_foreach(procs, i, p)
	{
		json_int_t b = json_integer_value(json_object_get(p, "busy"));
		if (b > 0)
			*busy += (uint32_t)b;
	}
	json_decref(m);
	return 0;
}

int exec_maintenance(const struct agent_config *cfg, const Ls__Maintenance *m,
                     Ls__MaintenanceResult *res, char *err, size_t errlen)
{
	struct gitlab_api api;
	int was_on = 0, rv;
	int64_t until;
	uint32_t busy = 0;

	if (cfg->gitlab.url == NULL || cfg->gitlab.url[0] == '\0') {
		snprintf(err, errlen, "no gitlab.url configured on this node");
		return LS_ECONFIG;
	}
	if ((rv = gitlab_api_open(&api, cfg, err, errlen)) < 0)
		return rv;
	if ((rv = get_mode(&api, &was_on, res, err, errlen)) < 0)
		goto out;
	res->was_on = was_on;
	res->now_on = was_on;
	/* A query only reads: an operator's status never changes a thing. */
	if (m->has_query && m->query) {
		rv = 0;
		goto out;
	}
	if (m->on != was_on &&
	    (rv = set_mode(&api, m->on, m->message, res, err, errlen)) < 0)
		goto out;
	res->now_on = m->on;
	if (m->on && m->has_sidekiq_wait_ms) {
		until = ls_mono_ms() + m->sidekiq_wait_ms;
		for (;;) {
			struct timespec ts = {0, 200 * 1000000L};

			if ((rv = sidekiq_busy(&api, &busy, err, errlen)) < 0)
				goto out;
			if (busy == 0 || ls_mono_ms() >= until)
				break;
			nanosleep(&ts, NULL);
		}
		res->has_sidekiq_busy = 1;
		res->sidekiq_busy = busy;
		if (busy > 0) {
			snprintf(err, errlen,
			         "Sidekiq still has %u busy job(s) after %u ms "
			         "in maintenance mode",
			         busy, m->sidekiq_wait_ms);
			rv = LS_ETIMEDOUT;
			goto out;
		}
	}
	rv = 0;
out:
	gitlab_api_close(&api);
	return rv;
}

void exec_maintenance_result_clear(Ls__MaintenanceResult *res)
{
	free(res->message);
	res->message = NULL;
}
