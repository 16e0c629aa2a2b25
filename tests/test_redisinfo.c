/* Redis INFO reply parsing. */
#include <string.h>

#include "check_redisinfo.h"
#include "ls_error.h"
#include "testutil.h"

static const char info_ok[] = "# Persistence\r\n"
                              "loading:0\r\n"
                              "async_loading:0\r\n"
                              "current_cow_peak:0\r\n"
                              "rdb_changes_since_last_save:42\r\n"
                              "rdb_bgsave_in_progress:0\r\n"
                              "rdb_last_save_time:1700000000\r\n"
                              "rdb_last_bgsave_status:ok\r\n"
                              "rdb_last_bgsave_time_sec:0\r\n"
                              "aof_enabled:1\r\n"
                              "aof_rewrite_in_progress:0\r\n"
                              "aof_last_bgrewrite_status:ok\r\n"
                              "aof_last_write_status:ok\r\n";

static void test_get(void)
{
	char v[16];

	CHECK_EQ_INT(check_redisinfo_get(info_ok, strlen(info_ok), "loading", v,
	                                 sizeof(v)),
	             0);
	CHECK_STR(v, "0");
	/* A key that is a prefix of another must not match it. */
	CHECK_EQ_INT(check_redisinfo_get(info_ok, strlen(info_ok),
	                                 "aof_last_bgrewrite", v, sizeof(v)),
	             LS_ENOENT);
	CHECK_EQ_INT(check_redisinfo_get(info_ok, strlen(info_ok),
	                                 "rdb_last_save_time", v, 5),
	             0);
	CHECK_STR(v, "1700");
	CHECK_EQ_INT(check_redisinfo_get(info_ok, strlen(info_ok),
	                                 "# Persistence", v, sizeof(v)),
	             LS_ENOENT);
	CHECK_EQ_INT(check_redisinfo_get("", 0, "loading", v, sizeof(v)),
	             LS_ENOENT);
	CHECK_EQ_INT(
	    check_redisinfo_get("k:\x01\xff\r\n", 6, "k", v, sizeof(v)), 0);
	CHECK_STR(v, "??");
}

static void test_persistence(void)
{
	struct redis_persistence p;
	const char *bad = "loading:1\nrdb_last_bgsave_status:err\n"
	                  "aof_enabled:0\naof_last_write_status:ok\n";
	const char *partial = "loading:0";

	CHECK_EQ_INT(check_redisinfo_persistence(info_ok, strlen(info_ok), &p),
	             0);
	CHECK_EQ_INT(p.loading, 0);
	CHECK_EQ_INT(p.aof_enabled, 1);
	CHECK_EQ_INT(p.rdb_changes, 42);
	CHECK_STR(p.rdb_bgsave_status, "ok");
	CHECK_STR(p.aof_write_status, "ok");

	CHECK_EQ_INT(check_redisinfo_persistence(bad, strlen(bad), &p), 0);
	CHECK_EQ_INT(p.loading, 1);
	CHECK_EQ_INT(p.aof_enabled, 0);
	CHECK_EQ_INT(p.rdb_changes, -1);
	CHECK_STR(p.rdb_bgsave_status, "err");

	/* Truncated reply without a final newline. */
	CHECK_EQ_INT(check_redisinfo_persistence(partial, strlen(partial), &p),
	             0);
	CHECK_EQ_INT(p.loading, 0);
	CHECK_STR(p.rdb_bgsave_status, "");

	CHECK_EQ_INT(check_redisinfo_persistence("# Server\r\nredis_version:7"
	                                         "\r\n",
	                                         27, &p),
	             LS_EINVAL);
	CHECK_EQ_INT(check_redisinfo_persistence("", 0, &p), LS_EINVAL);
	CHECK_EQ_INT(check_redisinfo_persistence("loading:x\n", 10, &p),
	             LS_EINVAL);
}

int main(void)
{
	test_get();
	test_persistence();
	return tu_done();
}
