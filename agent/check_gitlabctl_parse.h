/*
 * Parser for `gitlab-ctl status` (runit `sv status` lines), kept free of I/O
 * so that it can be unit-tested and fuzzed on its own.
 */
#ifndef CHECK_GITLABCTL_PARSE_H
#define CHECK_GITLABCTL_PARSE_H

#include <stddef.h>

enum gitlabctl_state {
	GITLABCTL_RUN,
	GITLABCTL_DOWN,
	GITLABCTL_FAIL,
	GITLABCTL_FINISH,
	GITLABCTL_GARBAGE, /* line not understood; see line */
};

/* Flags sv appends after the uptime: ", normally up", ", want down"... */
enum {
	GITLABCTL_NORMALLY_UP = 1 << 0,
	GITLABCTL_NORMALLY_DOWN = 1 << 1,
	GITLABCTL_WANT_UP = 1 << 2,
	GITLABCTL_WANT_DOWN = 1 << 3,
	GITLABCTL_PAUSED = 1 << 4,
	GITLABCTL_GOT_TERM = 1 << 5,
};

#define GITLABCTL_NAME_MAX 64
#define GITLABCTL_TEXT_MAX 160

struct gitlabctl_service {
	char name[GITLABCTL_NAME_MAX]; /* "" for GITLABCTL_GARBAGE */
	enum gitlabctl_state state;
	long long pid;     /* -1 when not running */
	long long seconds; /* time in the state; -1 if unknown */
	unsigned flags;
	int has_log;                    /* a "; <state>: log: ..." part */
	enum gitlabctl_state log_state; /* when has_log */
	/* GITLABCTL_FAIL: sv's message; GITLABCTL_GARBAGE: the line. Printable
	 * ASCII only, truncated. */
	char text[GITLABCTL_TEXT_MAX];
};

/*
 * Parses buf (len bytes, need not be NUL-terminated, may hold any bytes)
 * into out[0..max). Blank lines are skipped; a line that is not understood
 * becomes a GITLABCTL_GARBAGE entry. Returns 0, or LS_ETOOBIG when there
 * were more than max entries (the first max are in out). *n is the number
 * of entries written.
 */
int gitlabctl_parse(const char *buf, size_t len, struct gitlabctl_service *out,
                    size_t max, size_t *n);

/* "run", "down", "fail", "finish" or "garbage". */
const char *gitlabctl_state_name(enum gitlabctl_state st);

#endif
