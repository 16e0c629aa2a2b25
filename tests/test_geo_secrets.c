/*
 * The Geo secrets copy, both ends: a primary seals its gitlab-secrets.json
 * to a secondary's identity key; only that secondary opens it and writes
 * it atomically with mode 0600; a third node cannot, a file that is not a
 * JSON object is never sent nor written, and bad sizes are refused.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "agent_config.h"
#include "agent_identity.h"
#include "exec_geo_secrets.h"
#include "ls_error.h"
#include "ls_util.h"

static int failures;

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, \
			        __LINE__, #cond);                              \
			failures++;                                            \
		}                                                              \
	} while (0)

struct node {
	char dir[256], state[300], secrets[300];
	uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
	struct agent_config cfg;
};

/* A joined node's identity.pb, as agent_identity_save writes it. */
static void make_node(struct node *n, const char *root, const char *name,
                      const char *secrets)
{
	Ls__AgentIdentity id = LS__AGENT_IDENTITY__INIT;
	uint8_t coord[32] = {0}, *buf;
	char path[400];
	size_t len;

	snprintf(n->dir, sizeof(n->dir), "%s/%s", root, name);
	snprintf(n->state, sizeof(n->state), "%s/state", n->dir);
	snprintf(n->secrets, sizeof(n->secrets), "%s/gitlab-secrets.json",
	         n->dir);
	snprintf(path, sizeof(path), "%s/identity", n->state);
	CHECK(ls_mkdirs(path, 0700) == 0);
	crypto_sign_keypair(n->pk, n->sk);
	id.node = (char *)name;
	id.fleet_url = "tls+tcp://127.0.0.1:1";
	id.server_name = "coordinator";
	id.coord_sign_pk.data = coord;
	id.coord_sign_pk.len = sizeof(coord);
	id.sign_sk.data = n->sk;
	id.sign_sk.len = sizeof(n->sk);
	len = ls__agent_identity__get_packed_size(&id);
	buf = malloc(len);
	ls__agent_identity__pack(&id, buf);
	snprintf(path, sizeof(path), "%s/identity/identity.pb", n->state);
	CHECK(ls_write_atomic(path, buf, len, 0600) == 0);
	free(buf);
	if (secrets != NULL)
		CHECK(ls_write_atomic(n->secrets, secrets, strlen(secrets),
		                      0644) == 0);
	memset(&n->cfg, 0, sizeof(n->cfg));
	n->cfg.state_dir = n->state;
	n->cfg.gitlab.secrets_file = n->secrets;
}

static char *slurp(const char *path)
{
	char *s = NULL;
	size_t len = 0;

	return ls_read_file(path, 1 << 20, &s, &len) == 0 ? s : NULL;
}

int main(void)
{
	static const char primary_json[] =
	    "{\"gitlab_rails\": {\"secret_key_base\": \"abc\", "
	    "\"db_key_base\": \"def\"}, \"gitlab_shell\": {\"secret_token\": "
	    "\"ghi\"}}\n";
	static const char old_json[] = "{\"gitlab_rails\": {}}\n";
	char root[] = "/tmp/test_geo_secrets.XXXXXX", err[1024], *got;
	struct node pri, sec, other;
	struct secrets_out so = {0};
	Ls__SecretsExport ex = LS__SECRETS_EXPORT__INIT;
	Ls__SecretsImport im = LS__SECRETS_IMPORT__INIT;
	struct stat st;
	uint8_t junk[128];
	int rv;

	if (sodium_init() < 0 || mkdtemp(root) == NULL) {
		fprintf(stderr, "setup failed\n");
		return 1;
	}
	make_node(&pri, root, "rails-1", primary_json);
	make_node(&sec, root, "geo-rails-1", old_json);
	make_node(&other, root, "geo-rails-2", old_json);

	/* Sealed for the secondary: it opens, and the file is the primary's. */
	ex.to_sign_pk.data = sec.pk;
	ex.to_sign_pk.len = sizeof(sec.pk);
	rv = exec_secrets_export(&pri.cfg, &ex, &so, err, sizeof(err));
	CHECK(rv == 0);
	CHECK(so.res.sealed.len == strlen(primary_json) + crypto_box_SEALBYTES);
	CHECK(so.res.sealed.len > 0 &&
	      memmem(so.res.sealed.data, so.res.sealed.len, "secret_key_base",
	             15) == NULL);
	im.sealed = so.res.sealed;
	im.from_node = "rails-1";
	/* Another node cannot open it; its file stays as it was. */
	rv = exec_secrets_import(&other.cfg, &im, err, sizeof(err));
	CHECK(rv == LS_ECRYPTO);
	CHECK(strstr(err, "rails-1") != NULL);
	got = slurp(other.secrets);
	CHECK(got != NULL && strcmp(got, old_json) == 0);
	free(got);
	rv = exec_secrets_import(&sec.cfg, &im, err, sizeof(err));
	CHECK(rv == 0);
	got = slurp(sec.secrets);
	CHECK(got != NULL && strcmp(got, primary_json) == 0);
	free(got);
	CHECK(stat(sec.secrets, &st) == 0 && (st.st_mode & 0777) == 0600);
	/* A byte changed in transit: refused, the file untouched. */
	so.res.sealed.data[so.res.sealed.len / 2] ^= 1;
	CHECK(ls_write_atomic(sec.secrets, old_json, strlen(old_json), 0600) ==
	      0);
	CHECK(exec_secrets_import(&sec.cfg, &im, err, sizeof(err)) ==
	      LS_ECRYPTO);
	got = slurp(sec.secrets);
	CHECK(got != NULL && strcmp(got, old_json) == 0);
	free(got);
	secrets_out_free(&so);

	/* Sizes: too short to be sealed; a key that is not 32 bytes. */
	im.sealed.data = junk;
	im.sealed.len = 10;
	CHECK(exec_secrets_import(&sec.cfg, &im, err, sizeof(err)) ==
	      LS_EINVAL);
	ex.to_sign_pk.len = 31;
	CHECK(exec_secrets_export(&pri.cfg, &ex, &so, err, sizeof(err)) ==
	      LS_EINVAL);
	secrets_out_free(&so);

	/* Sealed clear text that is not a JSON object is never written. */
	memset(junk, 0, sizeof(junk));
	{
		uint8_t xpk[32], sealed[sizeof("not json") - 1 + 48];
		CHECK(crypto_sign_ed25519_pk_to_curve25519(xpk, sec.pk) == 0);
		CHECK(crypto_box_seal(sealed, (const uint8_t *)"not json", 8,
		                      xpk) == 0);
		im.sealed.data = sealed;
		im.sealed.len = sizeof(sealed);
		CHECK(exec_secrets_import(&sec.cfg, &im, err, sizeof(err)) ==
		      LS_EINVAL);
		got = slurp(sec.secrets);
		CHECK(got != NULL && strcmp(got, old_json) == 0);
		free(got);
	}
	/* A primary whose file is not a JSON object sends nothing. */
	CHECK(ls_write_atomic(pri.secrets, "[1, 2]", 6, 0600) == 0);
	ex.to_sign_pk.len = sizeof(sec.pk);
	CHECK(exec_secrets_export(&pri.cfg, &ex, &so, err, sizeof(err)) ==
	      LS_EINVAL);
	CHECK(strstr(err, "not a JSON object") != NULL);
	secrets_out_free(&so);
	/* No identity: named, not a crash. */
	sec.cfg.state_dir = root;
	im.sealed.len = 100;
	im.sealed.data = junk;
	CHECK(exec_secrets_import(&sec.cfg, &im, err, sizeof(err)) ==
	      LS_ENOTJOINED);

	ls_rmtree(root);
	if (failures)
		fprintf(stderr, "%d check(s) failed\n", failures);
	else
		printf("test_geo_secrets: ok\n");
	return failures ? 1 : 0;
}
