/* Shared by exec_upgrade.c (steps, commands) and exec_upgrade_pkg.c
 * (the package manager). */
#ifndef EXEC_UPGRADE_INT_H
#define EXEC_UPGRADE_INT_H

#include <stdint.h>

#include "exec_upgrade.h"

/* One operation's run: its deadline covers every command it starts. */
struct up_ctx {
	const struct agent_config *cfg;
	struct upgrade_out *o;
	char *err;
	size_t errlen;
	int64_t deadline; /* ls_mono_ms() */
};

void up_ctx_init(struct up_ctx *x, const struct agent_config *cfg,
                 struct upgrade_out *o, char *err, size_t errlen);

/*
 * Runs argv (argv[0] absolute) with PATH, LANG=C and extra_env (NULL or a
 * NULL-terminated list of NAME=VALUE), no shell, within the deadline. Keeps
 * the tail of its output in o->tail. A start failure, a timeout or an exit
 * other than 0 is an error naming the command, with its stderr tail.
 */
int up_run(struct up_ctx *x, const char *const *argv,
           const char *const *extra_env);
/* Stdout too (capped at max bytes, NUL-terminated) for a listing. */
int up_run_capture(struct up_ctx *x, const char *const *argv,
                   const char *const *extra_env, size_t max, char **out,
                   size_t *outlen);

/* The package this node installs, and its installed version ("" when the
 * manifest cannot be read, as after a removal). must_remember: fail unless
 * the name is kept for after a removal. */
int pkg_identify(struct up_ctx *x, int must_remember);
int pkg_install(struct up_ctx *x, const char *version, int allow_downgrade);
int pkg_remove(struct up_ctx *x);

#endif
