#include "check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ls_util.h"

void check_sanitize(char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch < 0x20 || ch == 0x7f)
			*s = ' ';
		else if (ch >= 0x80)
			*s = '?';
	}
}

void check_add(struct check_report *r, const char *name, enum check_status st,
               const char *fmt, ...)
{
	struct check_result *res;
	va_list ap;
	int n;

	if (r->n == r->cap) {
		size_t ncap = r->cap ? r->cap * 2 : 16;
		struct check_result *ni =
		    reallocarray(r->items, ncap, sizeof(*ni));

		if (ni == NULL) {
			r->oom = 1;
			return;
		}
		r->items = ni;
		r->cap = ncap;
	}
	res = &r->items[r->n++];
	ls_strlcpy(res->name, name, sizeof(res->name));
	check_sanitize(res->name);
	res->status = st;
	va_start(ap, fmt);
	n = vsnprintf(res->reason, sizeof(res->reason), fmt, ap);
	va_end(ap);
	if (n < 0)
		ls_strlcpy(res->reason, "(reason unavailable)",
		           sizeof(res->reason));
	else if ((size_t)n >= sizeof(res->reason))
		memcpy(res->reason + sizeof(res->reason) - 4, "...", 4);
	check_sanitize(res->reason);
}

void check_report_free(struct check_report *r)
{
	free(r->items);
	memset(r, 0, sizeof(*r));
}

enum check_status check_report_worst(const struct check_report *r)
{
	enum check_status w = CHECK_ST_PASS;
	size_t i;

	for (i = 0; i < r->n; i++)
		if (r->items[i].status > w)
			w = r->items[i].status;
	return w;
}

const char *check_status_name(enum check_status st)
{
	switch (st) {
	case CHECK_ST_PASS:
		return "pass";
	case CHECK_ST_WARN:
		return "warn";
	default:
		return "fail";
	}
}

void check_human_bytes(uint64_t bytes, char *buf, size_t size)
{
	static const char *units[] = {"B",   "KiB", "MiB", "GiB",
	                              "TiB", "PiB", "EiB"};
	double v = (double)bytes;
	size_t u = 0;

	while (v >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, size, "%.1f %s", v, units[u]);
}

void check_first_line(const char *text, size_t len, char *buf, size_t size)
{
	const char *p = text, *end = text + len;

	buf[0] = '\0';
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		size_t n = (size_t)(eol - p);

		while (n > 0 && (*p == ' ' || *p == '\t' || *p == '\r')) {
			p++;
			n--;
		}
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\r'))
			n--;
		if (n > 0) {
			if (n > size - 1)
				n = size - 1;
			memcpy(buf, p, n);
			buf[n] = '\0';
			/* A NUL inside the line just ends it early. */
			check_sanitize(buf);
			return;
		}
		p = nl ? nl + 1 : end;
	}
}
