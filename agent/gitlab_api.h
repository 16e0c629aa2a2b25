/*
 * The GitLab HTTP API, as an administrator's token sees it (libcurl,
 * jansson). The token comes from the configured file, goes only into the
 * PRIVATE-TOKEN header, and is wiped on close.
 */
#ifndef GITLAB_API_H
#define GITLAB_API_H

#include <stddef.h>

#include <jansson.h>

#include "agent_config.h"

struct gitlab_api {
	const struct agent_config *cfg;
	char token[512];
};

int gitlab_api_open(struct gitlab_api *api, const struct agent_config *cfg,
		    char *err, size_t errlen);
/*
 * method GET or PUT; path starts with /api/v4/. A reply other than 2xx is
 * an error naming the status; *body (may be NULL) is the parsed JSON.
 */
int gitlab_api_call(struct gitlab_api *api, const char *method,
		    const char *path, json_t **body, char *err, size_t errlen);
void gitlab_api_close(struct gitlab_api *api);

/*
 * GET <gitlab.url><path> without a token, for the health endpoints
 * (/-/readiness). *code receives the HTTP status (0 when nothing
 * answered); text the start of the reply on one line, or the transport's
 * error. Returns 0 when an answer came, whatever its status, else LS_EIO.
 */
int gitlab_http_probe(const struct agent_config *cfg, const char *path,
		      long *code, char *text, size_t textlen);
/*
 * Probes /-/readiness every poll_ms until it answers 200 (0) or the
 * monotonic deadline_ms passes (LS_ETIMEDOUT, with the last status and
 * text as gitlab_http_probe leaves them).
 */
int gitlab_wait_ready(const struct agent_config *cfg, int64_t deadline_ms,
		      int64_t poll_ms, long *code, char *text, size_t textlen);

#endif
