#include "ls_log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *log_progname = "lockstep";
static int log_verbosity = LS_LOG_INFO;
static pthread_mutex_t log_mtx = PTHREAD_MUTEX_INITIALIZER;

void log_init(const char *progname, int level)
{
	log_progname = progname;
	log_verbosity = level;
}

void log_set_level(int level)
{
	log_verbosity = level;
}

int log_level_parse(const char *name)
{
	static const char *names[] = {"error", "warn", "info", "debug"};
	int i;

	for (i = 0; i < 4; i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	return -1;
}

__attribute__((format(printf, 3, 0))) static void
log_emit(int level, const char *errtext, const char *fmt, va_list ap)
{
	static const char *tags[] = {"error", "warn", "info", "debug"};
	char msg[2048];
	char stamp[32];
	struct timespec ts;
	struct tm tm;

	if (level > log_verbosity)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	pthread_mutex_lock(&log_mtx);
	if (errtext != NULL)
		fprintf(stderr, "%s.%03ldZ %s[%s]: %s: %s\n", stamp,
		        ts.tv_nsec / 1000000, log_progname, tags[level], msg,
		        errtext);
	else
		fprintf(stderr, "%s.%03ldZ %s[%s]: %s\n", stamp,
		        ts.tv_nsec / 1000000, log_progname, tags[level], msg);
	fflush(stderr);
	pthread_mutex_unlock(&log_mtx);
}

void log_warn(const char *fmt, ...)
{
	char e[128];
	int saved = errno;
	va_list ap;

	snprintf(e, sizeof(e), "%s", strerror(saved));
	va_start(ap, fmt);
	log_emit(LS_LOG_WARN, e, fmt, ap);
	va_end(ap);
	errno = saved;
}

void log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LS_LOG_WARN, NULL, fmt, ap);
	va_end(ap);
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LS_LOG_INFO, NULL, fmt, ap);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LS_LOG_DEBUG, NULL, fmt, ap);
	va_end(ap);
}

void fatal(const char *fmt, ...)
{
	char e[128];
	va_list ap;

	snprintf(e, sizeof(e), "%s", strerror(errno));
	va_start(ap, fmt);
	log_emit(LS_LOG_ERROR, e, fmt, ap);
	va_end(ap);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LS_LOG_ERROR, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}
