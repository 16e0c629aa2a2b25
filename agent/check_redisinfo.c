#include "check_redisinfo.h"

#include <string.h>

#include "ls_error.h"
#include "ls_util.h"

int check_redisinfo_get(const char *buf, size_t len, const char *key, char *val,
                        size_t vallen)
{
	const char *p = buf, *end = buf + len;
	size_t klen = strlen(key);

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		size_t ll = (size_t)(eol - p);

		if (ll > 0 && p[ll - 1] == '\r')
			ll--;
		if (ll > klen && p[klen] == ':' && memcmp(p, key, klen) == 0) {
			size_t n = ll - klen - 1, i;

			if (vallen == 0)
				return 0;
			if (n > vallen - 1)
				n = vallen - 1;
			for (i = 0; i < n; i++) {
				unsigned char ch =
				    (unsigned char)p[klen + 1 + i];
				val[i] =
				    ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
			}
			val[n] = '\0';
			return 0;
		}
		p = nl ? nl + 1 : end;
	}
	return LS_ENOENT;
}

static long long get_int(const char *buf, size_t len, const char *key)
{
	char v[32];
	long long n;

	if (check_redisinfo_get(buf, len, key, v, sizeof(v)) < 0 ||
	    ls_parse_int(v, 0, (long long)1 << 62, &n) < 0)
		return -1;
	return n;
}

static int get_bool(const char *buf, size_t len, const char *key)
{
	long long n = get_int(buf, len, key);

	return n < 0 ? -1 : n > 0;
}

int check_redisinfo_persistence(const char *buf, size_t len,
                                struct redis_persistence *p)
{
	int has_rdb, has_loading;

	memset(p, 0, sizeof(*p));
	p->loading = get_bool(buf, len, "loading");
	p->aof_enabled = get_bool(buf, len, "aof_enabled");
	p->rdb_changes = get_int(buf, len, "rdb_changes_since_last_save");
	has_rdb = check_redisinfo_get(buf, len, "rdb_last_bgsave_status",
	                              p->rdb_bgsave_status,
	                              sizeof(p->rdb_bgsave_status)) == 0;
	check_redisinfo_get(buf, len, "aof_last_write_status",
	                    p->aof_write_status, sizeof(p->aof_write_status));
	has_loading = p->loading >= 0;
	return has_rdb || has_loading ? 0 : LS_EINVAL;
}
