/* redis role: PING (with AUTH when configured) and INFO persistence. */
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "agent_config.h"
#include "agent_redis.h"
#include "check.h"
#include "check_redisinfo.h"
#include "ls_error.h"
#include "ls_util.h"

#define REDIS_TIMEOUT_S 5
#define REDIS_INFO_MAX (1024 * 1024)

static int ping(redisContext *c, char *err, size_t errlen)
{
	redisReply *rep = redisCommand(c, "PING");
	int ok;

	if (rep == NULL) {
		ls_fmt(err, errlen, "PING: %s", c->errstr);
		return LS_EIO;
	}
	ok = rep->type == REDIS_REPLY_STATUS && rep->len == 4 &&
	     memcmp(rep->str, "PONG", 4) == 0;
	if (!ok)
		ls_fmt(err, errlen, "PING answered '%.*s'",
		       (int)(rep->len > 200 ? 200 : rep->len),
		       rep->str ? rep->str : "");
	freeReplyObject(rep);
	return ok ? 0 : LS_EPROTO;
}

static void check_persistence(redisContext *c, const char *target,
                              struct check_report *r)
{
	const char *name = "redis:persistence";
	struct redis_persistence p;
	redisReply *rep = redisCommand(c, "INFO persistence");

	if (rep == NULL) {
		check_add(r, name, CHECK_ST_FAIL, "INFO on %s: %s", target,
		          c->errstr);
		return;
	}
	if (rep->type != REDIS_REPLY_STRING || rep->len > REDIS_INFO_MAX ||
	    check_redisinfo_persistence(rep->str, rep->len, &p) < 0) {
		check_add(r, name, CHECK_ST_FAIL,
		          "INFO persistence on %s: unexpected reply", target);
	} else if (p.rdb_bgsave_status[0] &&
	           strcmp(p.rdb_bgsave_status, "ok") != 0) {
		check_add(r, name, CHECK_ST_FAIL,
		          "rdb_last_bgsave_status:%s on %s",
		          p.rdb_bgsave_status, target);
	} else if (p.aof_write_status[0] &&
	           strcmp(p.aof_write_status, "ok") != 0) {
		check_add(r, name, CHECK_ST_FAIL,
		          "aof_last_write_status:%s on %s", p.aof_write_status,
		          target);
	} else if (p.loading == 1) {
		check_add(r, name, CHECK_ST_WARN, "%s is loading its dataset",
		          target);
	} else {
		check_add(r, name, CHECK_ST_PASS,
		          "rdb_changes_since_last_save:%lld aof_enabled:%d",
		          p.rdb_changes, p.aof_enabled);
	}
	freeReplyObject(rep);
}

void check_redis(const struct agent_config *cfg, struct check_report *r)
{
	char target[512], err[CHECK_REASON_MAX];
	redisContext *c;
	int rv;

	agent_redis_target(cfg, target, sizeof(target));
	c = agent_redis_open(cfg, REDIS_TIMEOUT_S, &rv, err, sizeof(err));
	if (c == NULL || ping(c, err, sizeof(err)) < 0) {
		check_add(r, "redis:ping", CHECK_ST_FAIL, "%s: %s", target,
		          err);
		check_add(r, "redis:persistence", CHECK_ST_WARN,
		          "not checked: no connection");
	} else {
		check_add(r, "redis:ping", CHECK_ST_PASS, "PONG from %s",
		          target);
		check_persistence(c, target, r);
	}
	if (c != NULL)
		redisFree(c);
}
