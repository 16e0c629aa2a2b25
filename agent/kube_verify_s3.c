/*
 * One object of an S3-compatible store (fog provider AWS) read with
 * libcurl, signed with AWS Signature V4 (CURLOPT_AWS_SIGV4), its sha256
 * computed as it streams in. Path-style (<endpoint>/<bucket>/<key>) or
 * virtual-host style (<bucket>.<host>/<key>), as the connection's
 * path_style says; AWS's own endpoint for the region when none is given.
 */
#include "kube_verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <sodium.h>

#include "ls_error.h"
#include "ls_util.h"

#define OBJECT_MAX ((uint64_t)5 << 30) /* S3's largest single PUT */
#define ERROR_BODY_MAX 4096
#define URL_MAX 4096
/* SHA-256 of the empty body: a GET sends none. */
#define EMPTY_SHA256                                                           \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct get {
	crypto_hash_sha256_state st;
	uint64_t bytes;
	char err[ERROR_BODY_MAX + 1]; /* the body of an error reply */
	size_t errlen;
	long code;
	CURL *h;
	int over;
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct get *g = arg;
	size_t len = size * n, keep;

	if (g->code == 0)
		curl_easy_getinfo(g->h, CURLINFO_RESPONSE_CODE, &g->code);
	if (g->code != 200) {
		keep = ERROR_BODY_MAX - g->errlen;
		keep = len < keep ? len : keep;
		memcpy(g->err + g->errlen, p, keep);
		g->errlen += keep;
		g->err[g->errlen] = '\0';
		return len;
	}
	if (len > OBJECT_MAX - g->bytes) {
		g->over = 1;
		return 0;
	}
	g->bytes += len;
	crypto_hash_sha256_update(&g->st, (const unsigned char *)p, len);
	return len;
}

/* The key as a URL path: each byte but unreserved ones and '/' escaped. */
static int url_key(char *out, size_t len, const char *key)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *key != '\0'; key++) {
		unsigned char c = (unsigned char)*key;
		int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		            (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		            c == '.' || c == '~' || c == '/';

		if (o + 4 > len)
			return LS_ETOOBIG;
		if (plain) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return 0;
}

static int object_url(const struct kv_s3 *s, const char *bucket,
                      const char *key, char *url, size_t len)
{
	char ekey[URL_MAX], ep[512];
	const char *host;
	size_t n;
	int rv;

	if ((rv = url_key(ekey, sizeof(ekey), key)) < 0)
		return rv;
	if (s->endpoint[0] == '\0')
		ls_fmt(ep, sizeof(ep), "https://s3.%s.amazonaws.com",
		       s->region);
	else
		ls_strlcpy(ep, s->endpoint, sizeof(ep));
	n = strlen(ep);
	while (n > 0 && ep[n - 1] == '/')
		ep[--n] = '\0';
	if (s->path_style)
		return ls_fmt(url, len, "%s/%s/%s", ep, bucket, ekey);
	if ((host = strstr(ep, "://")) == NULL)
		return LS_EINVAL;
	host += 3;
	return ls_fmt(url, len, "%.*s%s.%s/%s", (int)(host - ep), ep, bucket,
	              host, ekey);
}

/* S3's error code (<Code>NoSuchKey</Code>) out of its XML reply. */
static void s3_code(const char *body, char *out, size_t len)
{
	const char *a = strstr(body, "<Code>"), *b;

	out[0] = '\0';
	if (a == NULL || (b = strstr(a + 6, "</Code>")) == NULL)
		return;
	a += 6;
	ls_fmt(out, len, "%.*s", (int)(b - a < 100 ? b - a : 100), a);
}

int kv_s3_sha256(const struct kv_s3 *s, const char *bucket, const char *key,
                 int timeout_ms, char hex[65], char *why, size_t whylen)
{
	char url[URL_MAX + 600], sigv4[128], cerr[CURL_ERROR_SIZE] = "",
	                                     code[128];
	struct curl_slist *hdr = NULL;
	struct get g;
	uint8_t sum[32];
	CURLcode cc;
	int rv = 0;

	memset(&g, 0, sizeof(g));
	if (object_url(s, bucket, key, url, sizeof(url)) < 0) {
		ls_fmt(why, whylen, "no usable URL for the endpoint");
		return LS_EINVAL;
	}
	ls_fmt(sigv4, sizeof(sigv4), "aws:amz:%s:s3", s->region);
	if ((g.h = curl_easy_init()) == NULL)
		return LS_ENOMEM;
	crypto_hash_sha256_init(&g.st);
	/* S3 wants the payload's hash with Signature V4. */
	hdr = curl_slist_append(hdr, "x-amz-content-sha256: " EMPTY_SHA256);
	curl_easy_setopt(g.h, CURLOPT_URL, url);
	curl_easy_setopt(g.h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(g.h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(g.h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(g.h, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(g.h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(g.h, CURLOPT_AWS_SIGV4, sigv4);
	curl_easy_setopt(g.h, CURLOPT_USERNAME, s->key_id);
	curl_easy_setopt(g.h, CURLOPT_PASSWORD, s->secret);
	curl_easy_setopt(g.h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(g.h, CURLOPT_WRITEDATA, &g);
	curl_easy_setopt(g.h, CURLOPT_USERAGENT,
	                 "lockstep-agent/" LOCKSTEP_VERSION);
	cc = curl_easy_perform(g.h);
	curl_easy_getinfo(g.h, CURLINFO_RESPONSE_CODE, &g.code);
	if (cc != CURLE_OK) {
		ls_fmt(why, whylen, "%s",
		       g.over    ? "object over 5 GiB"
		       : cerr[0] ? cerr
		                 : curl_easy_strerror(cc));
		rv = LS_EIO;
	} else if (g.code != 200) {
		s3_code(g.err, code, sizeof(code));
		ls_fmt(why, whylen, "HTTP %ld%s%s", g.code, code[0] ? " " : "",
		       code);
		rv = g.code == 404 ? LS_ENOENT : LS_EIO;
	} else {
		crypto_hash_sha256_final(&g.st, sum);
		ls_hex(hex, sum, sizeof(sum));
	}
	curl_slist_free_all(hdr);
	curl_easy_cleanup(g.h);
	return rv;
}
