/* Parser for the text of Redis INFO replies ("key:value\r\n", "# Section"). */
#ifndef CHECK_REDISINFO_H
#define CHECK_REDISINFO_H

#include <stddef.h>

/*
 * Copies the value of key into val (NUL-terminated, non-printable bytes
 * replaced by '?', truncated to vallen-1). Returns 0 or LS_ENOENT.
 */
int check_redisinfo_get(const char *buf, size_t len, const char *key, char *val,
                        size_t vallen);

struct redis_persistence {
	int loading;                /* 0/1; -1 when absent */
	int aof_enabled;            /* 0/1; -1 when absent */
	long long rdb_changes;      /* rdb_changes_since_last_save; -1 absent */
	char rdb_bgsave_status[16]; /* rdb_last_bgsave_status, "" when absent */
	char aof_write_status[16];  /* aof_last_write_status, "" when absent */
};

/*
 * Extracts the fields of INFO persistence. LS_EINVAL when the reply has
 * neither rdb_last_bgsave_status nor loading (not a persistence section).
 */
int check_redisinfo_persistence(const char *buf, size_t len,
                                struct redis_persistence *p);

#endif
