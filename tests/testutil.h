/* Minimal test harness: each test file is one executable run by ctest. */
#ifndef LS_TESTUTIL_H
#define LS_TESTUTIL_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int tu_failures;
static int tu_checks;

#define CHECK(cond)                                                            \
	do {                                                                   \
		tu_checks++;                                                   \
		if (!(cond)) {                                                 \
			tu_failures++;                                         \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, \
			        __LINE__, #cond);                              \
		}                                                              \
	} while (0)

#define CHECK_EQ_INT(a, b)                                                     \
	do {                                                                   \
		long long tu_a = (long long)(a), tu_b = (long long)(b);        \
		tu_checks++;                                                   \
		if (tu_a != tu_b) {                                            \
			tu_failures++;                                         \
			fprintf(stderr, "%s:%d: %s == %lld, expected %lld\n",  \
			        __FILE__, __LINE__, #a, tu_a, tu_b);           \
		}                                                              \
	} while (0)

#define CHECK_STR(a, b)                                                        \
	do {                                                                   \
		const char *tu_a = (a), *tu_b = (b);                           \
		tu_checks++;                                                   \
		if (tu_a == NULL || tu_b == NULL || strcmp(tu_a, tu_b) != 0) { \
			tu_failures++;                                         \
			fprintf(                                               \
			    stderr, "%s:%d: %s is \"%s\", expected \"%s\"\n",  \
			    __FILE__, __LINE__, #a, tu_a ? tu_a : "(null)",    \
			    tu_b ? tu_b : "(null)");                           \
		}                                                              \
	} while (0)

#define CHECK_CONTAINS(hay, needle)                                            \
	do {                                                                   \
		const char *tu_h = (hay), *tu_n = (needle);                    \
		tu_checks++;                                                   \
		if (tu_h == NULL || strstr(tu_h, tu_n) == NULL) {              \
			tu_failures++;                                         \
			fprintf(                                               \
			    stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", \
			    __FILE__, __LINE__, tu_h ? tu_h : "(null)", tu_n); \
		}                                                              \
	} while (0)

/* Prints the closing line ctest users read, and the exit status. */
/* A loopback TCP port free right now, for a server a test starts; -1 if
 * none could be had. */
static inline int tu_free_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* len bytes of content gzip cannot shrink (xorshift from seed), so that
 * size limits bite; NULL when out of memory. */
static inline unsigned char *tu_random_bytes(size_t len, uint32_t seed)
{
	unsigned char *p = malloc(len);
	size_t i;

	for (i = 0; p != NULL && i < len; i++) {
		seed ^= seed << 13;
		seed ^= seed >> 17;
		seed ^= seed << 5;
		p[i] = (unsigned char)seed;
	}
	return p;
}

static inline int tu_done(void)
{
	printf("%d passed, %d failed\n", tu_checks - tu_failures, tu_failures);
	return tu_failures == 0 ? 0 : 1;
}

#endif
