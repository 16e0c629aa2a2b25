/* rails role: the readiness endpoint and the secrets file's permissions. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <curl/curl.h>

#include "agent_config.h"
#include "check.h"
#include "ls_util.h"

#define READINESS_BODY_MAX (64 * 1024)
#define READINESS_SHOWN 200

struct body {
	char data[READINESS_BODY_MAX + 1];
	size_t len;
	int over;
};

static size_t body_write(char *p, size_t size, size_t nmemb, void *arg)
{
	struct body *b = arg;
	size_t n = size * nmemb;

	if (n > READINESS_BODY_MAX - b->len) {
		/* Returning short aborts the transfer: a readiness page is
		 * small, a larger one is not worth reading. */
		b->over = 1;
		return 0;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

/* An HTML error page reads better on one line without its indentation. */
static void squeeze_spaces(char *s)
{
	char *w = s, *r;

	for (r = s; *r; r++)
		if (*r != ' ' || (w > s && w[-1] != ' '))
			*w++ = *r;
	while (w > s && w[-1] == ' ')
		w--;
	*w = '\0';
}

static void check_readiness(const struct agent_config *cfg,
                            struct check_report *r)
{
	const char *name = "rails:readiness";
	char url[2048], errbuf[CURL_ERROR_SIZE], shown[READINESS_SHOWN + 1];
	struct body *b = NULL;
	long code = 0;
	CURL *h = NULL;
	CURLcode cc;
	size_t ulen = strlen(cfg->gitlab.url);

	/* "http://host/" and "http://host" both address the same root. */
	while (ulen > 0 && cfg->gitlab.url[ulen - 1] == '/')
		ulen--;
	if (ulen > 1900 || ls_fmt(url, sizeof(url), "%.*s/-/readiness",
	                          (int)ulen, cfg->gitlab.url) < 0) {
		check_add(r, name, CHECK_ST_FAIL, "gitlab.url is too long");
		goto out;
	}
	b = calloc(1, sizeof(*b));
	h = curl_easy_init();
	if (b == NULL || h == NULL) {
		check_add(r, name, CHECK_ST_FAIL, "cannot set up HTTP client");
		goto out;
	}
	errbuf[0] = '\0';
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)cfg->gitlab.http_timeout);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
	                 (long)cfg->gitlab.http_timeout);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(h, CURLOPT_USERAGENT,
	                 "lockstep-agent/" LOCKSTEP_VERSION);
	cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	if (cc != CURLE_OK && !(b->over && code > 0)) {
		check_add(r, name, CHECK_ST_FAIL, "GET %s: %s", url,
		          errbuf[0] ? errbuf : curl_easy_strerror(cc));
		goto out;
	}
	if (code == 200) {
		check_add(r, name, CHECK_ST_PASS, "GET %s: 200", url);
		goto out;
	}
	check_sanitize(b->data);
	squeeze_spaces(b->data);
	ls_strlcpy(shown, b->data, sizeof(shown));
	check_add(r, name, CHECK_ST_FAIL, "GET %s: HTTP %ld%s%s", url, code,
	          shown[0] ? ": " : "", shown);
out:
	if (h != NULL)
		curl_easy_cleanup(h);
	free(b);
}

/* Only the metadata is looked at: the secrets themselves are never read. */
static void check_secrets(const struct agent_config *cfg,
                          struct check_report *r)
{
	const char *name = "rails:secrets", *path = cfg->gitlab.secrets_file;
	struct stat st;
	unsigned mode;

	if (stat(path, &st) < 0) {
		check_add(r, name, CHECK_ST_FAIL, "%s: %s", path,
		          strerror(errno));
		return;
	}
	mode = (unsigned)st.st_mode & 07777;
	if (!S_ISREG(st.st_mode))
		check_add(r, name, CHECK_ST_FAIL, "%s is not a regular file",
		          path);
	else if (mode & S_IROTH)
		check_add(r, name, CHECK_ST_FAIL,
		          "%s is world-readable (mode %04o)", path, mode);
	else if (mode & S_IWOTH)
		check_add(r, name, CHECK_ST_FAIL,
		          "%s is world-writable (mode %04o)", path, mode);
	else
		check_add(r, name, CHECK_ST_PASS, "%s present (mode %04o)",
		          path, mode);
}

void check_rails(const struct agent_config *cfg, struct check_report *r)
{
	check_readiness(cfg, r);
	check_secrets(cfg, r);
}
