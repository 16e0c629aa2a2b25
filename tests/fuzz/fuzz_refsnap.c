/*
 * backup_repos_snapshot, the cut's reader of git's ref files, on hostile
 * repositories. The input is cut at NUL bytes into config, HEAD,
 * packed-refs and one loose ref (refs/heads/fuzz); each is written into a
 * scratch bare repository the process keeps, then snapshotted. Every line
 * the reader emits must be well formed, and HEAD/counts must stay in bounds.
 * A config the reader leaves to git runs /bin/false instead: that path ends
 * in "cannot read" without a process per input worth waiting for.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_config.h"
#include "backup_repos.h"
#include "ls_util.h"

static char repo[256], dst[300];
static struct agent_config cfg;

static void put(const char *name, const uint8_t *p, size_t n)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", repo, name);
	if (p == NULL) {
		unlink(path);
		return;
	}
	if ((f = fopen(path, "wb")) == NULL)
		abort();
	if (n > 0 && fwrite(p, 1, n, f) != n)
		abort();
	fclose(f);
}

/* The reader emits a line in pieces; lines are checked once it is done. */
static char out[1 << 20];
static size_t outlen;

static int emit(void *arg, const char *s, size_t len)
{
	(void)arg;
	if (len > sizeof(out) - outlen)
		return -1;
	memcpy(out + outlen, s, len);
	outlen += len;
	return 0;
}

/* "ref <oid> <name>\n" or "symref <name> <target>\n", one per line. */
static void check_lines(void)
{
	const char *p = out, *end = out + outlen;

	if (outlen > 0 && out[outlen - 1] != '\n')
		abort();
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)(nl - p);

		if (memchr(p, '\0', len) != NULL)
			abort();
		if (!(len > 4 && strncmp(p, "ref ", 4) == 0) &&
		    !(len > 7 && strncmp(p, "symref ", 7) == 0))
			abort();
		p = nl + 1;
	}
}

static char top[256];

static void cleanup(void)
{
	ls_rmtree(top);
}

static void setup(void)
{
	char path[512];

	snprintf(top, sizeof(top), "/tmp/fuzz-refsnap-%d", (int)getpid());
	snprintf(repo, sizeof(repo), "%s/r.git", top);
	atexit(cleanup);
	snprintf(dst, sizeof(dst), "%s.snap", repo);
	if (ls_mkdirs(repo, 0700) < 0)
		abort();
	snprintf(path, sizeof(path), "%s/refs/heads", repo);
	if (ls_mkdirs(path, 0700) < 0)
		abort();
	memset(&cfg, 0, sizeof(cfg));
	cfg.gitaly.git = (char *)"/bin/false";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {"config", "HEAD", "packed-refs",
	                                    "refs/heads/fuzz"};
	struct backup_repos_snap s;
	const uint8_t *p = data, *end = data + size;
	static const uint8_t plain[] =
	    "[core]\n\trepositoryformatversion = 0\n\tbare = true\n";
	char why[512];
	size_t i;
	int rv, fuzz_config;

	if (repo[0] == '\0')
		setup();
	if (size == 0)
		return 0;
	/* The first byte steers: a config the reader is unsure of is handed
	 * to a process, and a fork under ASan costs tens of milliseconds, so
	 * only inputs starting with 'C' fuzz the config; the rest keep a
	 * plain one and fuzz the refs. */
	fuzz_config = data[0] == 'C';
	p++;
	for (i = 0; i < 4; i++) {
		const uint8_t *nul = memchr(p, 0, (size_t)(end - p));
		const uint8_t *stop = nul ? nul : end;

		/* A part left out is a file left out. */
		if (i > 0 || fuzz_config)
			put(names[i], p < end ? p : NULL, (size_t)(stop - p));
		else
			put(names[i], plain, sizeof(plain) - 1);
		p = nul ? nul + 1 : end;
	}
	ls_rmtree(dst);
	outlen = 0;
	rv = backup_repos_snapshot(&cfg, repo, dst, emit, NULL, &s, why,
	                           sizeof(why));
	if (rv > 1)
		abort();
	if (rv == 0)
		check_lines();
	if (memchr(why, '\0', sizeof(why)) == NULL ||
	    memchr(s.head, '\0', sizeof(s.head)) == NULL ||
	    memchr(s.headoid, '\0', sizeof(s.headoid)) == NULL)
		abort();
	if (rv == 0 && s.head[0] != '\0' && strncmp(s.head, "refs/", 5) != 0)
		abort();
	return 0;
}
