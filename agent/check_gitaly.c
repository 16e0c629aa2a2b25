/* gitaly role: storage directories and git fsck on a random sample of
 * repositories. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "agent_config.h"
#include "check.h"
#include "gitaly_walk.h"
#include "ls_error.h"
#include "ls_util.h"

struct repo {
	const struct agent_gitaly_storage *storage;
	char *rel;
};

struct sample {
	struct repo *picked;
	size_t k;      /* reservoir size */
	size_t n;      /* picked so far, <= k */
	uint64_t seen; /* repositories found */
	int oom;
};

/* Reservoir sampling: a uniform sample without holding every path. */
static void sample_offer(struct sample *s,
                         const struct agent_gitaly_storage *st, const char *rel)
{
	uint64_t j;
	char *dup;

	s->seen++;
	if (s->n < s->k) {
		j = s->n;
	} else {
		j = s->seen > UINT32_MAX
		        ? s->k
		        : randombytes_uniform((uint32_t)s->seen);
		if (j >= s->k)
			return;
	}
	dup = strdup(rel);
	if (dup == NULL) {
		s->oom = 1;
		return;
	}
	if (j == s->n)
		s->n++;
	else
		free(s->picked[j].rel);
	s->picked[j].storage = st;
	s->picked[j].rel = dup;
}

static int sample_cb(void *arg, const struct agent_gitaly_storage *st,
                     const char *rel)
{
	sample_offer(arg, st, rel);
	return 0;
}

static void check_fsck(const struct agent_config *cfg, struct check_report *r)
{
	const char *name = "gitaly:fsck";
	const struct agent_gitaly_storage *sts = cfg->gitaly.storages.items;
	char why[200], first[CHECK_REASON_MAX];
	struct sample s = {0};
	struct gitaly_walk w = {0};
	size_t i, failed = 0;

	if (cfg->gitaly.fsck_sample <= 0) {
		check_add(r, name, CHECK_ST_PASS, "disabled");
		return;
	}
	s.k = (size_t)cfg->gitaly.fsck_sample;
	s.picked = calloc(s.k, sizeof(*s.picked));
	if (s.picked == NULL) {
		check_add(r, name, CHECK_ST_FAIL, "out of memory");
		return;
	}
	for (i = 0; i < cfg->gitaly.storages.n; i++)
		(void)gitaly_walk(&sts[i], &w, sample_cb, &s);
	if (s.seen == 0) {
		check_add(r, name, CHECK_ST_PASS, "no repositories");
		goto out;
	}
	for (i = 0; i < s.n; i++) {
		if (gitaly_fsck(cfg, s.picked[i].storage, s.picked[i].rel,
		                GITALY_FSCK_FIRST_LINE, why, sizeof(why)))
			continue;
		if (failed++ == 0)
			ls_fmt(first, sizeof(first), "%s (storage %s): %s",
			       s.picked[i].rel, s.picked[i].storage->name, why);
	}
	if (failed > 0)
		check_add(r, name, CHECK_ST_FAIL,
		          "fsck failed on %zu of %zu repositories: %s", failed,
		          s.n, first);
	else
		check_add(r, name, s.oom ? CHECK_ST_WARN : CHECK_ST_PASS,
		          "fsck clean on %zu of %llu repositories%s", s.n,
		          (unsigned long long)s.seen,
		          w.entries >= GITALY_WALK_MAX_ENTRIES
		              ? " (walk stopped early)"
		              : "");
out:
	for (i = 0; i < s.n; i++)
		free(s.picked[i].rel);
	free(s.picked);
}

void check_gitaly_storages(const struct agent_config *cfg,
                           struct check_report *r)
{
	const struct agent_gitaly_storage *sts = cfg->gitaly.storages.items;
	char name[CHECK_NAME_MAX];
	struct stat sb;
	size_t i;

	for (i = 0; i < cfg->gitaly.storages.n; i++) {
		ls_fmt(name, sizeof(name), "gitaly:storage:%s", sts[i].name);
		if (stat(sts[i].path, &sb) < 0)
			check_add(r, name, CHECK_ST_FAIL, "%s: %s", sts[i].path,
			          strerror(errno));
		else if (!S_ISDIR(sb.st_mode))
			check_add(r, name, CHECK_ST_FAIL,
			          "%s is not a directory", sts[i].path);
		else
			check_add(r, name, CHECK_ST_PASS, "%s", sts[i].path);
	}
}

void check_gitaly(const struct agent_config *cfg, struct check_report *r)
{
	check_gitaly_storages(cfg, r);
	check_fsck(cfg, r);
}
