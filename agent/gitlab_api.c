#include "gitlab_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "ls_error.h"
#include "ls_util.h"

#define BODY_MAX (1024 * 1024)

struct body {
	char *data;
	size_t len;
	int over;
};

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
	struct body *b = arg;
	size_t n = size * nmemb;
	char *nd;

	if (b->len + n > BODY_MAX) {
		b->over = 1;
		return 0;
	}
	if ((nd = realloc(b->data, b->len + n + 1)) == NULL)
		return 0;
	memcpy(nd + b->len, p, n);
	b->data = nd;
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

int gitlab_api_open(struct gitlab_api *api, const struct agent_config *cfg,
                    char *err, size_t errlen)
{
	char *t = NULL;
	size_t len = 0;
	int rv;

	memset(api, 0, sizeof(*api));
	api->cfg = cfg;
	rv = ls_read_file(cfg->gitlab.api_token_file, sizeof(api->token) - 1,
	                  &t, &len);
	if (rv < 0) {
		snprintf(err, errlen,
		         "GitLab API token file %s: %s (an administrator's "
		         "personal access token with the api scope)",
		         cfg->gitlab.api_token_file, ls_strerror(rv));
		return rv;
	}
	while (len > 0 &&
	       (t[len - 1] == '\n' || t[len - 1] == '\r' || t[len - 1] == ' '))
		len--;
	memcpy(api->token, t, len);
	api->token[len] = '\0';
	ls_wipe(t, len);
	free(t);
	if (len == 0 || strpbrk(api->token, "\r\n") != NULL) {
		snprintf(err, errlen,
		         "GitLab API token file %s is empty or "
		         "malformed",
		         cfg->gitlab.api_token_file);
		return LS_EINVAL;
	}
	return 0;
}

int gitlab_api_call(struct gitlab_api *api, const char *method,
                    const char *path, json_t **body, char *err, size_t errlen)
{
	char url[4096], hdr[600], cerr[CURL_ERROR_SIZE] = "";
	struct curl_slist *headers = NULL;
	struct body b = {NULL, 0, 0};
	json_error_t jerr;
	long code = 0;
	CURL *h;
	CURLcode cc;
	int rv = 0;

	if (body)
		*body = NULL;
	if (ls_fmt(url, sizeof(url), "%s%s", api->cfg->gitlab.url, path) < 0 ||
	    ls_fmt(hdr, sizeof(hdr), "PRIVATE-TOKEN: %s", api->token) < 0)
		return LS_ETOOBIG;
	if ((h = curl_easy_init()) == NULL)
		return LS_ENOMEM;
	headers = curl_slist_append(headers, hdr);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
	                 (long)api->cfg->gitlab.http_timeout);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_USERAGENT,
	                 "lockstep-agent/" LOCKSTEP_VERSION);
	if (strcmp(method, "PUT") == 0) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
	}
	cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	if (cc != CURLE_OK) {
		snprintf(err, errlen, "%s %s: %s", method, path,
		         b.over    ? "reply over 1 MiB"
		         : cerr[0] ? cerr
		                   : curl_easy_strerror(cc));
		rv = LS_EIO;
	} else if (code < 200 || code > 299) {
		snprintf(err, errlen, "%s %s: HTTP %ld%s%.200s", method, path,
		         code, b.data ? ": " : "", b.data ? b.data : "");
		rv = code == 401 || code == 403 ? LS_EPERM : LS_EIO;
	} else if (body != NULL && (*body = json_loads(b.data ? b.data : "", 0,
	                                               &jerr)) == NULL) {
		snprintf(err, errlen, "%s %s: reply is not JSON", method, path);
		rv = LS_EPROTO;
	}
	ls_wipe(hdr, sizeof(hdr));
	curl_slist_free_all(headers);
	curl_easy_cleanup(h);
	free(b.data);
	return rv;
}

void gitlab_api_close(struct gitlab_api *api)
{
	ls_wipe(api->token, sizeof(api->token));
}

/* What a probe keeps of a reply: a health page is short. */
#define PROBE_BODY_MAX 4096

struct probe_body {
	char data[PROBE_BODY_MAX + 1];
	size_t len;
};

static size_t on_probe_body(char *p, size_t size, size_t nmemb, void *arg)
{
	struct probe_body *b = arg;
	size_t n = size * nmemb, room = PROBE_BODY_MAX - b->len;

	/* Keeps the start and reads on: cutting the transfer short would
	 * turn a long page into a transport error. */
	if (n < room)
		room = n;
	memcpy(b->data + b->len, p, room);
	b->len += room;
	b->data[b->len] = '\0';
	return n;
}

int gitlab_http_probe(const struct agent_config *cfg, const char *path,
                      long *code, char *text, size_t textlen)
{
	char url[2048], cerr[CURL_ERROR_SIZE] = "";
	struct probe_body *b = calloc(1, sizeof(*b));
	size_t ulen = strlen(cfg->gitlab.url), i;
	CURL *h = NULL;
	CURLcode cc;
	int rv = 0;

	*code = 0;
	text[0] = '\0';
	/* "http://host/" and "http://host" address the same root. */
	while (ulen > 0 && cfg->gitlab.url[ulen - 1] == '/')
		ulen--;
	if (b == NULL || (h = curl_easy_init()) == NULL) {
		rv = LS_ENOMEM;
		goto out;
	}
	if (ulen > 1500 || ls_fmt(url, sizeof(url), "%.*s%s", (int)ulen,
	                          cfg->gitlab.url, path) < 0) {
		snprintf(text, textlen, "gitlab.url is too long");
		rv = LS_ETOOBIG;
		goto out;
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)cfg->gitlab.http_timeout);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_probe_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(h, CURLOPT_USERAGENT,
	                 "lockstep-agent/" LOCKSTEP_VERSION);
	cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, code);
	if (cc != CURLE_OK) {
		snprintf(text, textlen, "%s",
		         cerr[0] ? cerr : curl_easy_strerror(cc));
		rv = LS_EIO;
		goto out;
	}
	snprintf(text, textlen, "%s", b->data);
	/* One line: a page's newlines and control bytes would break the
	 * message it is quoted in. */
	for (i = 0; text[i] != '\0'; i++)
		if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
			text[i] = ' ';
out:
	if (h != NULL)
		curl_easy_cleanup(h);
	free(b);
	return rv;
}

int gitlab_wait_ready(const struct agent_config *cfg, int64_t deadline_ms,
		      int64_t poll_ms, long *code, char *text, size_t textlen)
{
	for (;;) {
		int64_t left;
		struct timespec ts;

		if (gitlab_http_probe(cfg, "/-/readiness", code, text,
				      textlen) == 0 &&
		    *code == 200)
			return 0;
		if ((left = deadline_ms - ls_mono_ms()) <= 0)
			return LS_ETIMEDOUT;
		if (left > poll_ms)
			left = poll_ms;
		ts.tv_sec = left / 1000;
		ts.tv_nsec = (long)(left % 1000) * 1000000L;
		nanosleep(&ts, NULL);
	}
}
