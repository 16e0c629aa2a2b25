/* Join tokens: encoding, tampering, MACs, expiry and single use. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "agent_join.h"
#include "coord_db.h"
#include "ls_error.h"
#include "ls_token.h"
#include "ls_util.h"
#include "testutil.h"

static uint8_t fp[32], tid[16], secret[32];

static char *make_token(uint64_t expires)
{
	Ls__JoinToken t = LS__JOIN_TOKEN__INIT;
	char *out = NULL;

	t.version = 1;
	t.enroll_url = "tls+tcp://127.0.0.1:1";
	t.fleet_url = "tls+tcp://127.0.0.1:2";
	t.server_name = "localhost";
	t.ca_sha256.data = fp;
	t.ca_sha256.len = 32;
	t.token_id.data = tid;
	t.token_id.len = 16;
	t.secret.data = secret;
	t.secret.len = 32;
	t.expires = expires;
	t.node = "gitaly-2";
	CHECK_EQ_INT(ls_token_encode(&t, &out), 0);
	return out;
}

static void test_roundtrip_and_tamper(void)
{
	char *text = make_token(4000000000u);
	Ls__JoinToken *t = NULL;
	size_t i, n = strlen(text);
	int accepted_changed = 0;

	CHECK(strncmp(text, "LS1-", 4) == 0);
	CHECK_EQ_INT(ls_token_decode(text, &t), 0);
	if (t != NULL) {
		CHECK_STR(t->node, "gitaly-2");
		CHECK_STR(t->fleet_url, "tls+tcp://127.0.0.1:2");
		CHECK(memcmp(t->secret.data, secret, 32) == 0);
		CHECK_EQ_INT(t->expires, 4000000000u);
		ls__join_token__free_unpacked(t, NULL);
	}
	/* Truncations and prefix damage are refused. */
	for (i = 0; i < n; i += 7) {
		char saved = text[i];
		text[i] = '\0';
		if (ls_token_decode(text, &t) == 0) {
			accepted_changed++;
			ls__join_token__free_unpacked(t, NULL);
		}
		text[i] = saved;
	}
	CHECK_EQ_INT(accepted_changed, 0);
	CHECK_EQ_INT(ls_token_decode("LS2-AAAA", &t), LS_EPROTO);
	CHECK_EQ_INT(ls_token_decode("LS1-!!!!", &t), LS_EPROTO);
	CHECK_EQ_INT(ls_token_decode("", &t), LS_EPROTO);
	free(text);
}

static void test_mac(void)
{
	uint8_t mac[LS_MAC_LEN];
	const uint8_t data[] = "payload";

	ls_mac(mac, secret, LS_MAC_JOIN_REQ, data, sizeof(data));
	CHECK_EQ_INT(ls_mac_verify(mac, sizeof(mac), secret, LS_MAC_JOIN_REQ,
	                           data, sizeof(data)),
	             0);
	/* The label separates request and response MACs. */
	CHECK_EQ_INT(ls_mac_verify(mac, sizeof(mac), secret, LS_MAC_JOIN_RESP,
	                           data, sizeof(data)),
	             LS_EAUTH);
	mac[3] ^= 1;
	CHECK_EQ_INT(ls_mac_verify(mac, sizeof(mac), secret, LS_MAC_JOIN_REQ,
	                           data, sizeof(data)),
	             LS_EAUTH);
	CHECK_EQ_INT(
	    ls_mac_verify(mac, 31, secret, LS_MAC_JOIN_REQ, data, sizeof(data)),
	    LS_EAUTH);
}

static void test_usable(void)
{
	struct coord_token t;

	memset(&t, 0, sizeof(t));
	t.expires = 1000;
	CHECK_EQ_INT(coord_token_usable(&t, 999), 0);
	CHECK_EQ_INT(coord_token_usable(&t, 1000), LS_EEXPIRED);
	t.used_at = 500;
	CHECK_EQ_INT(coord_token_usable(&t, 999), LS_EUSED);
}

/* The coordinator's database lets a token enroll exactly once. */
static void test_single_use(void)
{
	char dir[] = "/tmp/ls-test-token-XXXXXX", path[256];
	struct coord_node n;
	struct coord_token t;
	sqlite3 *db = NULL;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/db", dir);
	CHECK_EQ_INT(coord_db_open(path, &db), 0);
	memset(&n, 0, sizeof(n));
	snprintf(n.name, sizeof(n.name), "%s", "gitaly-2");
	snprintf(n.roles[0], sizeof(n.roles[0]), "%s", "gitaly");
	n.nroles = 1;
	CHECK_EQ_INT(coord_db_node_add(db, &n, tid, secret, ls_now() + 60), 0);
	CHECK_EQ_INT(coord_db_token_get(db, tid, &t), 0);
	CHECK_STR(t.node, "gitaly-2");
	CHECK_EQ_INT(coord_token_usable(&t, ls_now()), 0);
	CHECK_EQ_INT(coord_db_enroll(db, tid, &n, "00"), 0);
	CHECK_EQ_INT(coord_db_enroll(db, tid, &n, "00"), LS_EUSED);
	CHECK_EQ_INT(coord_db_token_get(db, tid, &t), 0);
	CHECK_EQ_INT(coord_token_usable(&t, ls_now()), LS_EUSED);
	CHECK_EQ_INT(
	    coord_db_token_get(db, (const uint8_t *)"0123456789abcdef", &t),
	    LS_EUNKNOWN);
	coord_db_close(db);
	ls_rmtree(dir);
}

/* An expired token is refused before any key is made or file written. */
static void test_agent_refuses_expired(void)
{
	char dir[] = "/tmp/ls-test-join-XXXXXX", state[256], msg[512];
	char *text = make_token((uint64_t)ls_now() - 10);
	struct stat st;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(state, sizeof(state), "%s/state", dir);
	CHECK_EQ_INT(agent_join(state, text, 1000, msg, sizeof(msg)),
	             LS_EEXPIRED);
	CHECK_CONTAINS(msg, "expired");
	CHECK_CONTAINS(msg, "gitaly-2");
	CHECK(stat(state, &st) < 0);
	CHECK_EQ_INT(agent_join(state, "LS1-garbage", 1000, msg, sizeof(msg)),
	             LS_EPROTO);
	CHECK(stat(state, &st) < 0);
	free(text);
	ls_rmtree(dir);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	randombytes_buf(fp, sizeof(fp));
	randombytes_buf(tid, sizeof(tid));
	randombytes_buf(secret, sizeof(secret));
	test_roundtrip_and_tamper();
	test_mac();
	test_usable();
	test_single_use();
	test_agent_refuses_expired();
	return tu_done();
}
