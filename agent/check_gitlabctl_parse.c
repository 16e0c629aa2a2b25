#include "check_gitlabctl_parse.h"

#include <string.h>

#include "ls_error.h"

struct cur {
	const char *p;
	const char *end;
};

static int lit(struct cur *c, const char *s)
{
	size_t n = strlen(s);

	if ((size_t)(c->end - c->p) < n || memcmp(c->p, s, n) != 0)
		return 0;
	c->p += n;
	return 1;
}

static void skip_spaces(struct cur *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
		c->p++;
}

/* Up to 18 digits: enough for any pid or uptime and never overflows. */
static int number(struct cur *c, long long *out)
{
	long long v = 0;
	int digits = 0;

	while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
		if (++digits > 18)
			return 0;
		v = v * 10 + (*c->p - '0');
		c->p++;
	}
	if (digits == 0)
		return 0;
	*out = v;
	return 1;
}

static int name_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
	       ch == '.' || ch == '@' || ch == '+';
}

static void copy_text(char *dst, size_t size, const char *p, size_t n)
{
	size_t i;

	if (n > size - 1)
		n = size - 1;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];
		dst[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	dst[n] = '\0';
}

static const struct {
	const char *text;
	unsigned flag;
} flag_names[] = {
    {"normally up", GITLABCTL_NORMALLY_UP},
    {"normally down", GITLABCTL_NORMALLY_DOWN},
    {"want up", GITLABCTL_WANT_UP},
    {"want down", GITLABCTL_WANT_DOWN},
    {"paused", GITLABCTL_PAUSED},
    {"got TERM", GITLABCTL_GOT_TERM},
};

/* ", flag, flag" up to the end of the part; unknown flags are tolerated so
 * that a newer runit does not turn every line into garbage. */
static int flags(struct cur *c, unsigned *out)
{
	*out = 0;
	while (c->p < c->end) {
		const char *start;
		size_t i, n;

		if (!lit(c, ","))
			return 0;
		skip_spaces(c);
		start = c->p;
		while (c->p < c->end && *c->p != ',')
			c->p++;
		n = (size_t)(c->p - start);
		while (n > 0 && start[n - 1] == ' ')
			n--;
		if (n == 0)
			return 0;
		for (i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++)
			if (strlen(flag_names[i].text) == n &&
			    memcmp(flag_names[i].text, start, n) == 0)
				*out |= flag_names[i].flag;
	}
	return 1;
}

struct part {
	enum gitlabctl_state state;
	const char *name;
	size_t name_len;
	long long pid;
	long long seconds;
	unsigned flags;
	const char *text;
	size_t text_len;
};

/* One "<state>: <name>: <details>" part, with trailing blanks removed. */
static int parse_part(const char *p, const char *end, struct part *pt)
{
	struct cur c = {p, end};

	memset(pt, 0, sizeof(*pt));
	pt->pid = -1;
	pt->seconds = -1;
	while (c.end > c.p && (c.end[-1] == ' ' || c.end[-1] == '\t'))
		c.end--;
	skip_spaces(&c);
	if (lit(&c, "run: "))
		pt->state = GITLABCTL_RUN;
	else if (lit(&c, "down: "))
		pt->state = GITLABCTL_DOWN;
	else if (lit(&c, "fail: "))
		pt->state = GITLABCTL_FAIL;
	else if (lit(&c, "finish: "))
		pt->state = GITLABCTL_FINISH;
	else
		return 0;
	pt->name = c.p;
	while (c.p < c.end && name_char(*c.p))
		c.p++;
	pt->name_len = (size_t)(c.p - pt->name);
	if (pt->name_len == 0 || pt->name_len >= GITLABCTL_NAME_MAX ||
	    !lit(&c, ":"))
		return 0;
	skip_spaces(&c);
	switch (pt->state) {
	case GITLABCTL_RUN:
	case GITLABCTL_FINISH:
		if (!lit(&c, "(pid ") || !number(&c, &pt->pid) ||
		    !lit(&c, ") ") || !number(&c, &pt->seconds) ||
		    !lit(&c, "s"))
			return 0;
		return flags(&c, &pt->flags);
	case GITLABCTL_DOWN:
		if (!number(&c, &pt->seconds) || !lit(&c, "s"))
			return 0;
		return flags(&c, &pt->flags);
	case GITLABCTL_FAIL:
		pt->text = c.p;
		pt->text_len = (size_t)(c.end - c.p);
		return pt->text_len > 0;
	default:
		return 0;
	}
}

static void parse_line(const char *p, size_t n, struct gitlabctl_service *s)
{
	const char *semi = memchr(p, ';', n);
	const char *end = semi ? semi : p + n;
	struct part main_part, log_part;

	memset(s, 0, sizeof(*s));
	s->pid = -1;
	s->seconds = -1;
	if (!parse_part(p, end, &main_part))
		goto garbage;
	if (semi != NULL) {
		if (!parse_part(semi + 1, p + n, &log_part) ||
		    log_part.name_len != 3 || memcmp(log_part.name, "log", 3))
			goto garbage;
		s->has_log = 1;
		s->log_state = log_part.state;
	}
	memcpy(s->name, main_part.name, main_part.name_len);
	s->name[main_part.name_len] = '\0';
	s->state = main_part.state;
	s->pid = main_part.pid;
	s->seconds = main_part.seconds;
	s->flags = main_part.flags;
	if (main_part.text != NULL)
		copy_text(s->text, sizeof(s->text), main_part.text,
		          main_part.text_len);
	return;
garbage:
	memset(s, 0, sizeof(*s));
	s->state = GITLABCTL_GARBAGE;
	s->pid = -1;
	s->seconds = -1;
	copy_text(s->text, sizeof(s->text), p, n);
}

int gitlabctl_parse(const char *buf, size_t len, struct gitlabctl_service *out,
                    size_t max, size_t *n)
{
	const char *p = buf, *end = buf + len;

	*n = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		size_t ll = (size_t)(eol - p), i;
		int blank = 1;

		if (ll > 0 && p[ll - 1] == '\r')
			ll--;
		for (i = 0; i < ll && blank; i++)
			blank = p[i] == ' ' || p[i] == '\t';
		if (!blank) {
			if (*n == max)
				return LS_ETOOBIG;
			parse_line(p, ll, &out[*n]);
			(*n)++;
		}
		p = nl ? nl + 1 : end;
	}
	return 0;
}

const char *gitlabctl_state_name(enum gitlabctl_state st)
{
	switch (st) {
	case GITLABCTL_RUN:
		return "run";
	case GITLABCTL_DOWN:
		return "down";
	case GITLABCTL_FAIL:
		return "fail";
	case GITLABCTL_FINISH:
		return "finish";
	default:
		return "garbage";
	}
}
