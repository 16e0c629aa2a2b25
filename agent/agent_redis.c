#include "agent_redis.h"

#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "ls_error.h"
#include "ls_util.h"

#define AGENT_REDIS_PASSWORD_MAX 4096
/* Longest piece of a Redis error reply quoted in a message. */
#define AGENT_REDIS_QUOTE_MAX 200

void agent_redis_target(const struct agent_config *cfg, char *buf, size_t n)
{
	if (cfg->redis.socket != NULL && cfg->redis.socket[0] != '\0')
		(void)ls_fmt(buf, n, "%s", cfg->redis.socket);
	else
		(void)ls_fmt(buf, n, "%s:%lld", cfg->redis.host,
		             cfg->redis.port);
}

static int agent_redis_auth(const struct agent_config *cfg, redisContext *c,
                            char *err, size_t errlen)
{
	redisReply *rep = NULL;
	char *pw = NULL;
	size_t len = 0, size = 0;
	int rv;

	rv = ls_read_file(cfg->redis.password_file, AGENT_REDIS_PASSWORD_MAX,
	                  &pw, &len);
	if (rv < 0) {
		(void)ls_fmt(err, errlen, "password file %s: %s",
		             cfg->redis.password_file, ls_strerror(rv));
		goto out;
	}
	size = len;
	while (len > 0 && (pw[len - 1] == '\n' || pw[len - 1] == '\r'))
		len--;
	rep = redisCommand(c, "AUTH %b", pw, len);
	if (rep == NULL) {
		(void)ls_fmt(err, errlen, "AUTH: %s", c->errstr);
		rv = LS_EIO;
	} else if (rep->type == REDIS_REPLY_ERROR) {
		(void)ls_fmt(err, errlen,
		             "AUTH refused (password from %s): %.*s",
		             cfg->redis.password_file,
		             (int)(rep->len > AGENT_REDIS_QUOTE_MAX
		                       ? AGENT_REDIS_QUOTE_MAX
		                       : rep->len),
		             rep->str ? rep->str : "");
		rv = LS_EAUTH;
	}
out:
	if (rep != NULL)
		freeReplyObject(rep);
	if (pw != NULL) {
		ls_wipe(pw, size);
		free(pw);
	}
	return rv;
}

redisContext *agent_redis_open(const struct agent_config *cfg, int timeout_s,
                               int *rv, char *err, size_t errlen)
{
	struct timeval tv = {timeout_s, 0};
	redisContext *c;

	*rv = LS_EIO;
	if (cfg->redis.socket != NULL && cfg->redis.socket[0] != '\0')
		c = redisConnectUnixWithTimeout(cfg->redis.socket, tv);
	else
		c = redisConnectWithTimeout(cfg->redis.host,
		                            (int)cfg->redis.port, tv);
	if (c == NULL) {
		*rv = LS_ENOMEM;
		(void)ls_fmt(err, errlen, "out of memory");
		return NULL;
	}
	if (c->err) {
		(void)ls_fmt(err, errlen, "connect: %s", c->errstr);
		goto fail;
	}
	if (redisSetTimeout(c, tv) != REDIS_OK) {
		(void)ls_fmt(err, errlen, "cannot set timeout: %s", c->errstr);
		goto fail;
	}
	if (cfg->redis.password_file != NULL &&
	    cfg->redis.password_file[0] != '\0' &&
	    (*rv = agent_redis_auth(cfg, c, err, errlen)) < 0)
		goto fail;
	*rv = 0;
	return c;
fail:
	redisFree(c);
	return NULL;
}
