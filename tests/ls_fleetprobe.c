/*
 * Test tool (never installed): speaks to a coordinator's fleet port with a
 * real agent's TLS identity, to prove what the coordinator rejects.
 *
 *   ls_fleetprobe garbage --state DIR --url URL --server-name NAME
 *                 [--count N] [--seed S]
 *       N random, truncated and bit-flipped messages, sent without waiting
 *       for answers (a raw REQ socket), then exits 0.
 *   ls_fleetprobe impersonate --state DIR --as NODE --url URL
 *                 --server-name NAME
 *       a well-formed Poll signed with DIR's key but claiming to be NODE;
 *       prints {"result":"rejected"|"accepted","code":N,"reason":"..."}.
 *   ls_fleetprobe replay --state DIR --url URL --server-name NAME
 *       a correctly signed message from DIR's identity, sent twice as the
 *       same bytes; prints {"first":"...","second":"...","code":N,...}.
 *       DIR's agent must not be running (it would share the replay window).
 *   ls_fleetprobe unseal --key FILE --in FILE
 *       opens a sealed secrets file with an exported backup key (LSBK1-hex)
 *       and writes the clear text to stdout.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>

#include "agent_identity.h"
#include "lockstep.pb-c.h"
#include "ls_envelope.h"
#include "ls_error.h"
#include "ls_nng.h"
#include "ls_util.h"

#include <sodium.h>

static unsigned long long rng_state;

static unsigned rnd(void)
{
	rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (unsigned)(rng_state >> 33);
}

static int dial(nng_socket *s, int raw, const struct agent_identity *id,
                const char *url, const char *server_name)
{
	nng_tls_config *tls = NULL;
	nng_dialer d;
	int rv;

	rv = raw ? nng_req0_open_raw(s) : nng_req0_open(s);
	if (rv != 0)
		return ls_from_nng(rv);
	nng_socket_set_ms(*s, NNG_OPT_RECVTIMEO, 10000);
	nng_socket_set_ms(*s, NNG_OPT_SENDTIMEO, 10000);
	if ((rv = ls_nng_tls_client(&tls, (const char *)id->ca_pem.data,
	                            (const char *)id->cert_pem.data,
	                            (const char *)id->key_pem.data,
	                            server_name)) < 0)
		return rv;
	if ((rv = nng_dialer_create(&d, *s, url)) != 0 ||
	    (rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, tls)) != 0 ||
	    (rv = nng_dialer_start(d, 0)) != 0) {
		nng_tls_config_free(tls);
		fprintf(stderr, "ls_fleetprobe: dial %s: %s\n", url,
		        nng_strerror(rv));
		return ls_from_nng(rv);
	}
	nng_tls_config_free(tls);
	return 0;
}

static int sealed_poll(struct ls_signer *sg, uint8_t **out, size_t *len)
{
	Ls__AgentMsg am = LS__AGENT_MSG__INIT;
	Ls__Poll poll = LS__POLL__INIT;
	uint8_t body[64];
	size_t blen;

	am.kind_case = LS__AGENT_MSG__KIND_POLL;
	am.poll = &poll;
	blen = ls__agent_msg__pack(&am, body);
	return ls_envelope_seal(sg, body, blen, out, len);
}

static int garbage(const struct agent_identity *id, const char *url,
                   const char *sn, long count)
{
	struct ls_signer sg;
	nng_socket s;
	long i, kinds[3] = {0, 0, 0};
	int rv;

	if ((rv = dial(&s, 1, id, url, sn)) < 0)
		return 1;
	memset(&sg, 0, sizeof(sg));
	snprintf(sg.node, sizeof(sg.node), "%s", id->node);
	memcpy(sg.sk, id->sign_sk, sizeof(sg.sk));
	/* Sessions far beyond the real agent's, never accepted anyway: a
	 * truncated or flipped envelope fails before the replay window. */
	sg.session = 1ULL << 62;
	for (i = 0; i < count; i++) {
		uint8_t *buf = NULL, rbuf[4096];
		size_t len = 0;
		nng_msg *m;
		int kind = (int)(rnd() % 3);

		if (kind == 0) {
			size_t k;
			len = rnd() % sizeof(rbuf);
			for (k = 0; k < len; k++)
				rbuf[k] = (uint8_t)rnd();
			buf = malloc(len + 1);
			memcpy(buf, rbuf, len);
		} else {
			sealed_poll(&sg, &buf, &len);
			if (kind == 1)
				len = rnd() % len; /* truncated */
			else
				buf[rnd() % len] ^=
				    (uint8_t)(1u << (rnd() % 8));
		}
		kinds[kind]++;
		if (nng_msg_alloc(&m, 0) != 0)
			return 1;
		/* A raw REQ message carries its own request id. */
		nng_msg_header_append_u32(m, 0x80000000u | (uint32_t)i);
		nng_msg_append(m, buf, len);
		free(buf);
		if ((rv = nng_sendmsg(s, m, 0)) != 0) {
			fprintf(stderr, "ls_fleetprobe: send: %s\n",
			        nng_strerror(rv));
			nng_msg_free(m);
			nng_close(s);
			return 1;
		}
	}
	/* Let nng flush the queue before the socket goes. */
	nng_msleep(200);
	nng_close(s);
	printf("{\"sent\":%ld,\"random\":%ld,\"truncated\":%ld,\"flipped\":%ld}"
	       "\n",
	       count, kinds[0], kinds[1], kinds[2]);
	return 0;
}

static int impersonate(const struct agent_identity *id, const char *as,
                       const char *url, const char *sn)
{
	struct ls_signer sg;
	Ls__Envelope *env = NULL;
	Ls__CoordMsg *cm = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	nng_socket s;
	nng_msg *m;
	int rv;

	if (dial(&s, 0, id, url, sn) < 0)
		return 1;
	memset(&sg, 0, sizeof(sg));
	snprintf(sg.node, sizeof(sg.node), "%s", as);
	memcpy(sg.sk, id->sign_sk, sizeof(sg.sk));
	sg.session = 1;
	if (sealed_poll(&sg, &buf, &len) < 0 || nng_msg_alloc(&m, 0) != 0)
		return 1;
	nng_msg_append(m, buf, len);
	free(buf);
	if ((rv = nng_sendmsg(s, m, 0)) != 0 ||
	    (rv = nng_recvmsg(s, &m, 0)) != 0) {
		printf("{\"result\":\"no-answer\",\"error\":\"%s\"}\n",
		       nng_strerror(rv));
		return 1;
	}
	if (ls_envelope_open(nng_msg_body(m), nng_msg_len(m), 1 << 20, &env) <
	        0 ||
	    ls_envelope_verify(env, id->coord_pk) < 0 ||
	    (cm = ls__coord_msg__unpack(NULL, env->body.len, env->body.data)) ==
	        NULL) {
		printf("{\"result\":\"bad-answer\"}\n");
		return 1;
	}
	if (cm->kind_case == LS__COORD_MSG__KIND_REJECT)
		printf(
		    "{\"result\":\"rejected\",\"code\":%d,\"reason\":\"%s\"}\n",
		    cm->reject->code, cm->reject->reason);
	else
		printf("{\"result\":\"accepted\",\"kind\":%d}\n",
		       cm->kind_case);
	ls__coord_msg__free_unpacked(cm, NULL);
	ls__envelope__free_unpacked(env, NULL);
	nng_msg_free(m);
	nng_close(s);
	return 0;
}

/* Sends bytes as one request; describes the verified answer in out. */
static int ask(nng_socket s, const struct agent_identity *id,
               const uint8_t *buf, size_t len, char *out, size_t outlen,
               int *code)
{
	Ls__Envelope *env = NULL;
	Ls__CoordMsg *cm = NULL;
	nng_msg *m;
	int rv;

	*code = 0;
	if (nng_msg_alloc(&m, 0) != 0)
		return -1;
	nng_msg_append(m, buf, len);
	if ((rv = nng_sendmsg(s, m, 0)) != 0 ||
	    (rv = nng_recvmsg(s, &m, 0)) != 0) {
		snprintf(out, outlen, "no-answer");
		return -1;
	}
	if (ls_envelope_open(nng_msg_body(m), nng_msg_len(m), 1 << 20, &env) <
	        0 ||
	    ls_envelope_verify(env, id->coord_pk) < 0 ||
	    (cm = ls__coord_msg__unpack(NULL, env->body.len, env->body.data)) ==
	        NULL) {
		snprintf(out, outlen, "bad-answer");
		rv = -1;
	} else if (cm->kind_case == LS__COORD_MSG__KIND_REJECT) {
		snprintf(out, outlen, "rejected");
		*code = cm->reject->code;
		rv = 0;
	} else {
		snprintf(out, outlen, "%s",
		         cm->kind_case == LS__COORD_MSG__KIND_ACK ? "ack"
		                                                  : "other");
		rv = 0;
	}
	if (cm)
		ls__coord_msg__free_unpacked(cm, NULL);
	if (env)
		ls__envelope__free_unpacked(env, NULL);
	nng_msg_free(m);
	return rv;
}

static int replay(const struct agent_identity *id, const char *url,
                  const char *sn)
{
	Ls__AgentMsg am = LS__AGENT_MSG__INIT;
	Ls__OpResult res = LS__OP_RESULT__INIT;
	struct ls_signer sg;
	uint8_t body[64], *buf = NULL;
	size_t blen, len = 0;
	char first[32], second[32];
	int code1, code2;
	nng_socket s;

	if (dial(&s, 0, id, url, sn) < 0)
		return 1;
	memset(&sg, 0, sizeof(sg));
	snprintf(sg.node, sizeof(sg.node), "%s", id->node);
	memcpy(sg.sk, id->sign_sk, sizeof(sg.sk));
	sg.session = 1000;
	/* A result for an operation nobody waits for is answered at once
	 * (a poll would be held open). */
	res.op_id = 1;
	am.kind_case = LS__AGENT_MSG__KIND_RESULT;
	am.result = &res;
	blen = ls__agent_msg__pack(&am, body);
	if (ls_envelope_seal(&sg, body, blen, &buf, &len) < 0)
		return 1;
	ask(s, id, buf, len, first, sizeof(first), &code1);
	ask(s, id, buf, len, second, sizeof(second), &code2);
	printf("{\"first\":\"%s\",\"second\":\"%s\",\"code\":%d}\n", first,
	       second, code2);
	free(buf);
	nng_close(s);
	return 0;
}

static int unseal(const char *keyfile, const char *in)
{
	uint8_t sk[32], pk[32], *plain;
	char *key = NULL, *sealed = NULL;
	size_t klen = 0, slen = 0;
	int rv = 1;

	if (ls_read_file(keyfile, 4096, &key, &klen) < 0 || klen < 70 ||
	    strncmp(key, "LSBK1-", 6) != 0) {
		fprintf(stderr, "ls_fleetprobe: %s: not a backup key\n", keyfile);
		goto out;
	}
	key[70] = '\0';
	if (ls_unhex(sk, sizeof(sk), key + 6) < 0 ||
	    ls_read_file(in, 64 << 20, &sealed, &slen) < 0 ||
	    slen < crypto_box_SEALBYTES)
		goto out;
	crypto_scalarmult_base(pk, sk);
	if ((plain = malloc(slen)) == NULL)
		goto out;
	if (crypto_box_seal_open(plain, (uint8_t *)sealed, slen, pk, sk) == 0) {
		fwrite(plain, 1, slen - crypto_box_SEALBYTES, stdout);
		rv = 0;
	} else {
		fprintf(stderr, "ls_fleetprobe: cannot open %s\n", in);
	}
	free(plain);
out:
	free(key);
	free(sealed);
	return rv;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"state", required_argument, NULL, 's'},
	    {"url", required_argument, NULL, 'u'},
	    {"server-name", required_argument, NULL, 'n'},
	    {"count", required_argument, NULL, 'c'},
	    {"seed", required_argument, NULL, 'S'},
	    {"as", required_argument, NULL, 'a'},
	    {NULL, 0, NULL, 0},
	};
	const char *state = NULL, *url = NULL, *sn = NULL, *as = NULL, *mode;
	struct agent_identity id;
	long count = 1000;
	int ch, rv;

	if (argc < 2) {
		fprintf(stderr,
		        "usage: ls_fleetprobe garbage|impersonate ...\n");
		return 2;
	}
	if (strcmp(argv[1], "unseal") == 0 && argc == 6 &&
	    strcmp(argv[2], "--key") == 0 && strcmp(argv[4], "--in") == 0)
		return unseal(argv[3], argv[5]);
	mode = argv[1];
	optind = 2;
	rng_state = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			state = optarg;
			break;
		case 'u':
			url = optarg;
			break;
		case 'n':
			sn = optarg;
			break;
		case 'c':
			count = strtol(optarg, NULL, 10);
			break;
		case 'S':
			rng_state = strtoull(optarg, NULL, 10);
			break;
		case 'a':
			as = optarg;
			break;
		default:
			return 2;
		}
	}
	if (state == NULL || url == NULL || sn == NULL || count < 0) {
		fprintf(stderr, "ls_fleetprobe: --state, --url and "
		                "--server-name are required\n");
		return 2;
	}
	if ((rv = agent_identity_load(state, &id)) < 0) {
		fprintf(stderr, "ls_fleetprobe: %s: %s\n", state,
		        ls_strerror(rv));
		return 2;
	}
	if (strcmp(mode, "garbage") == 0)
		rv = garbage(&id, url, sn, count);
	else if (strcmp(mode, "replay") == 0)
		rv = replay(&id, url, sn);
	else if (strcmp(mode, "impersonate") == 0 && as != NULL)
		rv = impersonate(&id, as, url, sn);
	else
		rv = 2;
	agent_identity_clear(&id);
	return rv;
}
