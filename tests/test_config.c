/* The generic ls_yaml loader: types, nesting, errors with file:line. */
#include "config_testutil.h"

static void test_nested(void)
{
	struct agent_config a;
	struct tcfg t;
	const struct agent_gitaly_storage *st;
	const struct titem *it;

	CHECK_EQ_INT(aload("gitaly:\n"
	                   "  fsck_sample: 0\n"
	                   "  storages:\n"
	                   "    - name: default\n"
	                   "      path: /srv/a\n"
	                   "    - {name: second, path: /srv/b}\n"
	                   "redis:\n"
	                   "  socket: ''\n"
	                   "  port: 6380\n"
	                   "  password_file: /etc/lockstep/redis\n"
	                   "postgresql: {ci_conninfo: dbname=ci}\n",
	                   &a),
	             0);
	CHECK_EQ_INT(a.gitaly.fsck_sample, 0);
	CHECK_EQ_INT(a.gitaly.storages.n, 2);
	st = a.gitaly.storages.items;
	if (a.gitaly.storages.n == 2) {
		CHECK_STR(st[0].name, "default");
		CHECK_STR(st[0].path, "/srv/a");
		CHECK_STR(st[1].name, "second");
		CHECK_STR(st[1].path, "/srv/b");
	}
	CHECK_STR(a.redis.socket, "");
	CHECK_EQ_INT(a.redis.port, 6380);
	CHECK_STR(a.redis.password_file, "/etc/lockstep/redis");
	CHECK_STR(a.postgresql.ci_conninfo, "dbname=ci");
	CHECK_STR(a.postgresql.conninfo,
	          "host=/var/opt/gitlab/postgresql port=5432 "
	          "dbname=gitlabhq_production user=gitlab-psql");
	agent_config_free(&a);

	/* An explicit empty list means no storages, not the default one. */
	CHECK_EQ_INT(aload("gitaly:\n  storages: []\n", &a), 0);
	CHECK_EQ_INT(a.gitaly.storages.n, 0);
	CHECK(a.gitaly.storages.items == NULL);
	agent_config_free(&a);

	CHECK_EQ_INT(tload("name: x\n", &t), 0);
	CHECK_EQ_INT(t.count, 7);
	CHECK_EQ_INT(t.any, 0);
	CHECK_EQ_INT(t.flag, 0);
	CHECK_EQ_INT(t.wait, 30 * MS_S);
	CHECK_EQ_INT(t.maybe, 0);
	CHECK_EQ_INT(t.size, 1 << 20);
	CHECK_EQ_INT(t.tags.n, 2);
	if (t.tags.n == 2) {
		CHECK_STR(t.tags.items[0], "a");
		CHECK_STR(t.tags.items[1], "b");
	}
	CHECK_STR(t.inner.host, "h");
	CHECK_EQ_INT(t.inner.port, 1);
	CHECK_EQ_INT(t.items.n, 0);
	ls_cfg_free(tfields, &t);

	CHECK_EQ_INT(tload("name: \"quoted: yes\"\n"
	                   "count: -5\n"
	                   "any: -9223372036854775808\n"
	                   "flag: true\n"
	                   "tags: []\n"
	                   "inner:\n"
	                   "  port: 65535\n"
	                   "items:\n"
	                   "  - k: one\n"
	                   "  - k: two\n"
	                   "    v: 42\n",
	                   &t),
	             0);
	CHECK_STR(t.name, "quoted: yes");
	CHECK_EQ_INT(t.count, -5);
	CHECK(t.any == INT64_MIN);
	CHECK_EQ_INT(t.flag, 1);
	CHECK_EQ_INT(t.tags.n, 0);
	CHECK_STR(t.inner.host, "h");
	CHECK_EQ_INT(t.inner.port, 65535);
	CHECK_EQ_INT(t.items.n, 2);
	it = t.items.items;
	if (t.items.n == 2) {
		CHECK_STR(it[0].k, "one");
		CHECK_EQ_INT(it[0].v, 3);
		CHECK_STR(it[1].k, "two");
		CHECK_EQ_INT(it[1].v, 42);
	}
	ls_cfg_free(tfields, &t);
}

/* One bad value on line 2: the message quotes it between pre and post. */
static void t_bad(const char *key, const char *val, const char *pre,
                  const char *post)
{
	char text[128], want[256];

	snprintf(text, sizeof(text), "name: x\n%s: %s\n", key, val);
	snprintf(want, sizeof(want), "t.yml:2: key '%s': %s '%s'%s", key, pre,
	         val, post);
	T_ERR(text, want);
}

static void test_durations_sizes(void)
{
	static const struct {
		const char *text;
		int64_t ms;
	} durs[] = {
	    {"250ms", 250},
	    {"30s", 30 * MS_S},
	    {"5m", 5 * MS_M},
	    {"1h", MS_H},
	    {"2d", 2 * MS_D},
	    {"90", 90 * MS_S},
	    {"\"45s\"", 45 * MS_S},
	    /* The largest whole number of days an int64 of ms holds. */
	    {"106751991167d", 106751991167LL * MS_D},
	    {"9223372036854775807ms", INT64_MAX},
	};
	static const struct {
		const char *text;
		uint64_t bytes;
	} sizes[] = {
	    {"512", 512},
	    {"512B", 512},
	    {"10KiB", 10240},
	    {"64MiB", 64ULL << 20},
	    {"2GiB", 2ULL << 30},
	    {"1TiB", 1ULL << 40},
	    {"3KB", 3000},
	    {"5MB", 5000000},
	    {"7GB", 7000000000ULL},
	    {"2TB", 2000000000000ULL},
	    {"0", 0},
	    {"16777215TiB", 16777215ULL << 40},
	    {"18446744073709551615", UINT64_MAX},
	};
	static const struct {
		const char *key, *val, *pre, *post;
	} bad[] = {
	    {"wait", "106751991168d", "duration", " is too large"},
	    {"wait", "9223372036854775808ms", "duration", " is too large"},
	    {"wait", "99999999999999999999999", "duration", " is too large"},
	    {"wait", "1.5h", "bad duration", ": use a whole number"},
	    {"wait", "-5s", "bad duration", ""},
	    {"wait", "5 s", "bad duration", ""},
	    {"wait", "5sec", "bad duration", ""},
	    {"wait", "s", "bad duration", ""},
	    {"size", "16777216TiB", "size", " is too large"},
	    {"size", "18446744073709551616", "size", " is too large"},
	    {"size", "1EiB", "bad size", ": use a whole number"},
	    {"size", "1kib", "bad size", ""},
	    {"size", "-1", "bad size", ""},
	    {"count", "abc", "expected an integer, got", ""},
	    {"count", "0x10", "expected an integer, got", ""},
	    {"count", "+12", "expected an integer, got", ""},
	    {"count", "1.0", "expected an integer, got", ""},
	    {"count", "101", "value", " out of range, must be -5..100"},
	    {"count", "-6", "value", " out of range, must be -5..100"},
	    {"any", "9223372036854775808", "value", " out of range"},
	    {"flag", "yes", "expected true or false, got", ""},
	    {"flag", "True", "expected true or false, got", ""},
	    {"flag", "1", "expected true or false, got", ""},
	};
	char text[128];
	struct tcfg t;
	size_t i;

	for (i = 0; i < sizeof(durs) / sizeof(durs[0]); i++) {
		snprintf(text, sizeof(text), "name: x\nwait: %s\n",
		         durs[i].text);
		CHECK_EQ_INT(tload(text, &t), 0);
		CHECK(t.wait == durs[i].ms);
		ls_cfg_free(tfields, &t);
	}
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		snprintf(text, sizeof(text), "name: x\nsize: %s\n",
		         sizes[i].text);
		CHECK_EQ_INT(tload(text, &t), 0);
		CHECK(t.size == sizes[i].bytes);
		ls_cfg_free(tfields, &t);
	}
	CHECK_EQ_INT(tload("name: x\nmaybe: 1h\n", &t), 0);
	CHECK_EQ_INT(t.maybe, MS_H);
	ls_cfg_free(tfields, &t);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		t_bad(bad[i].key, bad[i].val, bad[i].pre, bad[i].post);
	T_ERR("name: x\nwait: 0s\n",
	      "t.yml:2: key 'wait': duration must be greater than 0");
	T_ERR("name: x\nwait: [1s]\n",
	      "t.yml:2: key 'wait': expected a duration, got a list");
	T_ERR("name: x\n\nmaybe: 61m\n",
	      "t.yml:3: key 'maybe': duration '61m' out of range, must be "
	      "0..1h");
	T_ERR("name: x\nsize:\n", "t.yml:2: key 'size': expected a size, got "
	                          "null");
	AGENT_ERR("max_message_size: 2GiB\n",
	          "agent.yml:1: key 'max_message_size': size '2GiB' out of "
	          "range, must be 4KiB..1GiB");
}

static void test_errors(void)
{
	char big[64 * 40 + 64];
	struct agent_config deep;
	size_t i;

	/* Unknown keys, top level and nested, and in a list element. */
	AGENT_ERR("state_dir: /x\nbogus: 1\n",
	          "agent.yml:2: key 'bogus': unknown key");
	AGENT_ERR("# comment\ngitlab:\n  url: http://x\n  nope: 1\n",
	          "agent.yml:4: key 'gitlab.nope': unknown key");
	AGENT_ERR("gitaly:\n  storages:\n    - name: a\n      path: /a\n"
	          "      size: 3\n",
	          "agent.yml:5: key 'gitaly.storages[0].size': unknown key");
	AGENT_ERR("\"bad\\x01key\": 1\n", "agent.yml:1: key 'bad?key': "
	                                  "unknown key");

	/* Wrong types. */
	AGENT_ERR("redis:\n  port: abc\n",
	          "agent.yml:2: key 'redis.port': expected an integer, got "
	          "'abc'");
	AGENT_ERR("redis:\n  port: \" 12\"\n",
	          "agent.yml:2: key 'redis.port': expected an integer");
	AGENT_ERR("gitlab: 5\n",
	          "agent.yml:1: key 'gitlab': expected a mapping, got '5'");
	AGENT_ERR("gitlab:\n",
	          "agent.yml:1: key 'gitlab': expected a mapping, got null");
	AGENT_ERR("gitlab:\n  - url\n",
	          "agent.yml:2: key 'gitlab': expected a mapping, got a list");
	AGENT_ERR("gitaly:\n  storages: {name: a}\n",
	          "agent.yml:2: key 'gitaly.storages': expected a list of "
	          "mappings, got a mapping");
	AGENT_ERR("gitaly:\n  storages:\n    - /srv/a\n",
	          "agent.yml:3: key 'gitaly.storages[0]': expected a mapping, "
	          "got '/srv/a'");
	AGENT_ERR("state_dir:\n",
	          "agent.yml:1: key 'state_dir': expected a string, got null");
	AGENT_ERR("log_level: info\nstate_dir: ~\n",
	          "agent.yml:2: key 'state_dir': expected a string");
	AGENT_ERR("state_dir: {a: b}\n",
	          "agent.yml:1: key 'state_dir': expected a string, got a "
	          "mapping");
	AGENT_ERR("state_dir: \"/a\\0b\"\n",
	          "agent.yml:1: key 'state_dir': value contains a NUL byte");
	COORD_ERR("server_names: lockstep.example.com\n",
	          "coordinator.yml:1: key 'server_names': expected a list, got "
	          "'lockstep.example.com'");
	COORD_ERR(
	    "server_names:\n  - a\n  - [b]\n",
	    "coordinator.yml:3: key 'server_names[1]': expected a string, "
	    "got a list");

	/* Ranges. */
	AGENT_ERR("redis:\n  port: 70000\n",
	          "agent.yml:2: key 'redis.port': value '70000' out of range, "
	          "must be 1..65535");
	AGENT_ERR("gitaly:\n  fsck_sample: 1001\n",
	          "agent.yml:2: key 'gitaly.fsck_sample': value '1001' out of "
	          "range, must be 0..1000");
	AGENT_ERR("gitaly:\n  fsck_sample: -1\n",
	          "agent.yml:2: key 'gitaly.fsck_sample': value '-1' out of "
	          "range");

	/* Missing required keys: reported at the enclosing mapping. */
	T_ERR("# header\n\ncount: 1\nflag: true\n",
	      "t.yml:3: key 'name': missing required key");
	T_ERR("", "t.yml:1: key 'name': missing required key");
	T_ERR("name: x\nitems:\n  - v: 1\n  - k: b\n",
	      "t.yml:3: key 'items[0].k': missing required key");
	AGENT_ERR("gitaly:\n  storages:\n    - name: x\n",
	          "agent.yml:3: key 'gitaly.storages[0].path': missing "
	          "required key");
	{
		struct tcfg t;

		memset(&t, 0, sizeof(t));
		CHECK_EQ_INT(rload("count: 1\ninner:\n  x: 1\n", &t),
		             LS_ECONFIG);
		CHECK_CONTAINS(err, "r.yml:3: key 'inner.x': unknown key");
		CHECK_EQ_INT(rload("\ncount: 1\n", &t), LS_ECONFIG);
		CHECK_CONTAINS(err,
		               "r.yml:2: key 'inner.host': missing required "
		               "key");
		CHECK_EQ_INT(rload("inner: {}\n", &t), LS_ECONFIG);
		CHECK_CONTAINS(err,
		               "r.yml:1: key 'inner.host': missing required "
		               "key");
		ls_cfg_free(treq_fields, &t);
	}

	/* Duplicates. */
	AGENT_ERR("log_level: info\nstate_dir: /a\nlog_level: debug\n",
	          "agent.yml:3: key 'log_level': duplicate key (first at line "
	          "1)");
	AGENT_ERR("gitlab:\n  url: http://a\ngitlab:\n  url: http://b\n",
	          "agent.yml:3: key 'gitlab': duplicate key");
	AGENT_ERR("redis: {port: 1, port: 2}\n",
	          "agent.yml:1: key 'redis.port': duplicate key");

	/* YAML itself. */
	AGENT_ERR("state_dir: /a\nlog_level: a: b\n",
	          "agent.yml:2: YAML syntax error: mapping values are not "
	          "allowed in this context");
	AGENT_ERR("state_dir: /a\ngitlab:\n  url: [http://x\n",
	          "agent.yml:4: YAML syntax error: did not find expected ',' "
	          "or ']' (while parsing a flow sequence at line 3)");
	AGENT_ERR("state_dir: /a\nlog_level: \xff\n",
	          "agent.yml:2: YAML syntax error: invalid leading UTF-8 "
	          "octet");
	AGENT_ERR("- a\n- b\n",
	          "agent.yml:1: the top level must be a mapping of keys");
	AGENT_ERR("\n\njust text\n",
	          "agent.yml:3: the top level must be a mapping of keys");
	AGENT_ERR("state_dir: /a\n---\nstate_dir: /b\n",
	          "agent.yml:2: only one YAML document is allowed");
	AGENT_ERR("state_dir: &d /a\nbackup_staging_dir: *d\n",
	          "agent.yml:1: YAML anchors and aliases are not allowed");
	AGENT_ERR("gitlab:\n  url: http://a\nredis: *d\n",
	          "agent.yml:3: YAML anchors and aliases are not allowed");
	AGENT_ERR("gitlab: &g\n  url: http://a\n",
	          "agent.yml:1: YAML anchors and aliases are not allowed");
	AGENT_ERR("state_dir: !!str /a\n",
	          "agent.yml:1: YAML tags are not allowed");
	AGENT_ERR("? [a]\n: 1\n",
	          "agent.yml:1: mapping keys must be plain strings");

	/* Bounded nesting and size. */
	memset(big, 0, sizeof(big));
	memcpy(big, "state_dir: ", 11);
	memset(big + 11, '[', 40);
	CHECK_EQ_INT(aload(big, &deep), LS_ECONFIG);
	CHECK_CONTAINS(err, "agent.yml:1: nesting deeper than 32 levels");
	{
		size_t n = 30000, len = 0;
		char *many = malloc(n * 2 + 32);
		struct coord_config c;

		if (many != NULL) {
			memcpy(many, "server_names: [", 15);
			len = 15;
			for (i = 0; i < n; i++) {
				many[len++] = 'a';
				many[len++] = ',';
			}
			many[len++] = ']';
			many[len] = '\0';
			CHECK_EQ_INT(cload(many, &c), LS_ECONFIG);
			CHECK_CONTAINS(err, "coordinator.yml:1: too many YAML "
			                    "nodes (limit 20000)");
			coord_config_free(&c);
			free(many);
		}
	}
}

static int write_tmp(char *path, size_t size, const char *text, size_t len)
{
	/* len, not strlen: the oversized file is not a C string. */
	FILE *f;
	int fd;

	snprintf(path, size, "/tmp/test_config-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	f = fdopen(fd, "w");
	if (f == NULL) {
		close(fd);
		return -1;
	}
	fwrite(text, 1, len, f);
	fclose(f);
	return 0;
}

static void test_files(void)
{
	static const char bad[] = "state_dir: /a\n"
	                          "gitaly:\n"
	                          "  storages: [{name: a, path: /a}]\n"
	                          "redis:\n"
	                          "  port: no\n";
	char path[64], want[128];
	struct agent_config a;
	struct coord_config c;
	char *huge;

	CHECK_EQ_INT(
	    agent_config_load("/nonexistent/agent.yml", &a, err, sizeof(err)),
	    LS_ENOENT);
	CHECK_CONTAINS(err, "/nonexistent/agent.yml: cannot read");
	agent_config_free(&a);

	/* The path names the file in messages; partial results are freed. */
	CHECK(write_tmp(path, sizeof(path), bad, strlen(bad)) == 0);
	CHECK_EQ_INT(agent_config_load(path, &a, err, sizeof(err)), LS_ECONFIG);
	snprintf(want, sizeof(want),
	         "%s:5: key 'redis.port': expected an "
	         "integer, got 'no'",
	         path);
	CHECK_STR(err, want);
	CHECK(a.state_dir == NULL && a.gitaly.storages.items == NULL);
	agent_config_free(&a);
	unlink(path);

	CHECK(write_tmp(path, sizeof(path), "", 0) == 0);
	CHECK_EQ_INT(coord_config_load(path, &c, err, sizeof(err)), 0);
	CHECK(c.advertise_host != NULL && c.advertise_host[0] != '\0');
	coord_config_free(&c);
	unlink(path);

	huge = malloc((1 << 20) + 2);
	if (huge != NULL) {
		memset(huge, '#', (1 << 20) + 1);
		CHECK(write_tmp(path, sizeof(path), huge, (1 << 20) + 1) == 0);
		CHECK_EQ_INT(agent_config_load(path, &a, err, sizeof(err)),
		             LS_ECONFIG);
		CHECK_CONTAINS(err, "cannot read: larger than 1 MiB");
		unlink(path);
		free(huge);
	}

	/* Errors never overrun a small buffer. */
	{
		char small[16];
		struct tcfg t;

		memset(&t, 0, sizeof(t));
		CHECK_EQ_INT(ls_cfg_load_buf("t.yml", "x: 1\n", 5, tfields, &t,
		                             small, sizeof(small)),
		             LS_ECONFIG);
		CHECK_STR(small, "t.yml:1: key 'x");
		CHECK_EQ_INT(
		    ls_cfg_load_buf("t.yml", "x: 1\n", 5, tfields, &t, NULL, 0),
		    LS_ECONFIG);
	}
}

int main(void)
{
	test_nested();
	test_durations_sizes();
	test_errors();
	test_files();
	return tu_done();
}
