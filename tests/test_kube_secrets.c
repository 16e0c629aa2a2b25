/* gitlab-secrets.json to the Helm chart's Secrets, the kubectl manifest,
 * kubectl's Secret read back, and the saved state of an undo. */
#include <string.h>

#include <jansson.h>
#include <sodium.h>
#include <yaml.h>

#include "kube_secrets.h"
#include "ls_error.h"
#include "testutil.h"

/* A PEM-shaped key and certificate; NL is a newline in C or in JSON. */
#define PEM_NL(NL)                                                             \
	"-----BEGIN RSA PRIVATE KEY-----" NL                                   \
	"MIIEowIBAAKCAQEAvSECRETPEMLINEONEvSECRETPEMLINEONEvSECRETPEMLINE" NL  \
	"b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAABFwAAAAdz" NL  \
	"-----END RSA PRIVATE KEY-----" NL
#define CRT_NL(NL)                                                             \
	"-----BEGIN CERTIFICATE-----" NL                                       \
	"MIIC+zCCAeOgAwIBAgIJAOcertSECRETcertSECRETcertSECRETcertSECRET" NL    \
	"-----END CERTIFICATE-----" NL
#define PEM PEM_NL("\n")
#define CRT CRT_NL("\n")

/* The shape of a Linux package node's file (integration/fixture
 * gitlab_node.py), with values that make the YAML hard: a PEM, lists,
 * words YAML would read as other types, trailing newline variants, a CR. */
static const char full_json[] =
    "{\"gitlab_workhorse\":{\"secret_token\":\"WH-secret-token-0001\"},"
    "\"gitlab_shell\":{\"secret_token\":\"SH-secret-token-0002\"},"
    "\"gitlab_rails\":{"
    "\"secret_key_base\":\"SKB-secret-0003\","
    "\"db_key_base\":\"DKB-secret-0004\","
    "\"otp_key_base\":\"12345\","
    "\"encrypted_settings_key_base\":\"true\","
    "\"openid_connect_signing_key\":\"" PEM_NL(
        "\\n") "\","
               "\"ci_jwt_signing_key\":\"line one\\nline two\","
               "\"two_newlines\":\"a\\nb\\n\\n\","
               "\"lead_space\":\"  indented\\nnext\\n\","
               "\"crlf\":\"a\\r\\nb\","
               "\"unicode\":\"caf\\u00e9 \\u2028 x\","
               "\"quote\":\"it's: # not a comment\","
               "\"empty\":\"\","
               "\"unset\":null,"
               "\"active_record_encryption_primary_key\":[\"ARP-secret-0005\"],"
               "\"active_record_encryption_deterministic_key\":[\"ARD-1\","
               "\"no\"],"
               "\"active_record_encryption_key_derivation_salt\":\"ARS-secret-"
               "0006\","
               "\"gitaly_token\":\"GT-secret-0007\"},"
               "\"gitlab_pages\":{\"gitlab_secret\":\"x\",\"api_secret_key\":"
               "\"PG-secret-0008\"},"
               "\"gitlab_kas\":{\"api_secret_key\":\"KAS-secret-0009\","
               "\"private_api_secret_key\":\"KASP-secret-0010\"},"
               "\"registry\":{\"http_secret\":\"RH-secret-0011\","
               "\"internal_certificate\":\"" CRT_NL(
                   "\\n") "\",\"internal_key\":\"" PEM_NL("\\n") "\"},"
                                                                 "\"mattermost"
                                                                 "\":{\"email_"
                                                                 "invite_"
                                                                 "salt\":null},"
                                                                 "\"gitaly\":{"
                                                                 "\"gitaly_"
                                                                 "token\":"
                                                                 "\"other\"},"
                                                                 "\"praefect\":"
                                                                 "{},"
                                                                 "\"mailroom\":"
                                                                 "{\"incoming_"
                                                                 "email_auth_"
                                                                 "token\":\"MR-"
                                                                 "secret-"
                                                                 "0012\"}}";

static const char *const secret_markers[] = {
    "WH-secret",  "SH-secret", "SKB-secret", "DKB-secret", "ARP-secret",
    "ARS-secret", "GT-secret", "PG-secret",  "KAS-secret", "KASP-secret",
    "RH-secret",  "MR-secret", "SECRETPEM",  "certSECRET", "12345"};

static const struct kube_secret_item *find(const struct kube_secret_set *s,
                                           const char *name, const char *key)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->items[i].name, name) == 0 &&
		    strcmp(s->items[i].key, key) == 0)
			return &s->items[i];
	return NULL;
}

static void check_item(const struct kube_secret_set *s, const char *name,
                       const char *key, const char *value)
{
	const struct kube_secret_item *it = find(s, name, key);

	CHECK(it != NULL);
	if (it == NULL) {
		fprintf(stderr, "  missing %s/%s\n", name, key);
		return;
	}
	CHECK_EQ_INT(it->len, strlen(value));
	CHECK(it->len == strlen(value) &&
	      memcmp(it->value, value, it->len) == 0);
}

/* The value of key in a YAML mapping node, or NULL. */
static yaml_node_t *ymap_get(yaml_document_t *d, yaml_node_t *m,
                             const char *key)
{
	yaml_node_pair_t *p;

	if (m == NULL || m->type != YAML_MAPPING_NODE)
		return NULL;
	for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(d, p->key);

		if (k->type == YAML_SCALAR_NODE &&
		    k->data.scalar.length == strlen(key) &&
		    memcmp(k->data.scalar.value, key, strlen(key)) == 0)
			return yaml_document_get_node(d, p->value);
	}
	return NULL;
}

static int yscalar_eq(const yaml_node_t *n, const json_t *s)
{
	return n != NULL && n->type == YAML_SCALAR_NODE && json_is_string(s) &&
	       n->data.scalar.length == json_string_length(s) &&
	       memcmp(n->data.scalar.value, json_string_value(s),
	              n->data.scalar.length) == 0;
}

/* secrets.yml read with libyaml's document loader: production -> every
 * non-null gitlab_rails member, byte for byte. */
static void check_secrets_yml(const uint8_t *yml, size_t len,
                              const json_t *rails)
{
	yaml_parser_t p;
	yaml_document_t d;
	yaml_node_t *root, *prod, *v;
	const char *k;
	json_t *jv, *e;
	size_t i, members = 0;

	CHECK(yaml_parser_initialize(&p));
	yaml_parser_set_input_string(&p, yml, len);
	CHECK(yaml_parser_load(&p, &d));
	root = yaml_document_get_root_node(&d);
	CHECK(root != NULL && root->type == YAML_MAPPING_NODE);
	CHECK_EQ_INT(
	    root->data.mapping.pairs.top - root->data.mapping.pairs.start, 1);
	prod = ymap_get(&d, root, "production");
	CHECK(prod != NULL && prod->type == YAML_MAPPING_NODE);
	json_object_foreach((json_t *)rails, k, jv)
	{
		v = ymap_get(&d, prod, k);
		if (json_is_null(jv)) {
			CHECK(v == NULL);
			continue;
		}
		members++;
		if (json_is_string(jv)) {
			CHECK(yscalar_eq(v, jv));
			if (!yscalar_eq(v, jv))
				fprintf(stderr, "  %s differs\n", k);
			/* Quoted or a block: Rails reads a string. */
			CHECK(v != NULL &&
			      v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE);
			continue;
		}
		CHECK(v != NULL && v->type == YAML_SEQUENCE_NODE);
		if (v == NULL || v->type != YAML_SEQUENCE_NODE)
			continue;
		CHECK_EQ_INT(v->data.sequence.items.top -
		                 v->data.sequence.items.start,
		             json_array_size(jv));
		json_array_foreach(jv, i, e)
		{
			CHECK(
			    yscalar_eq(yaml_document_get_node(
			                   &d, v->data.sequence.items.start[i]),
			               e));
		}
	}
	CHECK_EQ_INT(prod->data.mapping.pairs.top -
	                 prod->data.mapping.pairs.start,
	             members);
	yaml_document_delete(&d);
	yaml_parser_delete(&p);
}

static void test_full(void)
{
	struct kube_secret_set s;
	char err[256] = "";
	const struct kube_secret_item *it;
	json_t *j = json_loads(full_json, 0, NULL);
	char *yml;

	CHECK(j != NULL);
	CHECK_EQ_INT(kube_secrets_from_gitlab(full_json, strlen(full_json),
	                                      "gitlab", &s, err, sizeof(err)),
	             0);
	CHECK_STR(err, "");
	/* rails, shell, workhorse, gitaly, registry http, registry key and
	 * certificate, pages, kas, kas private, incoming email. */
	CHECK_EQ_INT(s.n, 11);
	it = find(&s, "gitlab-rails-secret", "secrets.yml");
	CHECK(it != NULL);
	if (it != NULL) {
		check_secrets_yml(it->value, it->len,
		                  json_object_get(j, "gitlab_rails"));
		yml = (char *)it->value;
		/* The PEM is real multi-line YAML, not \n escapes. */
		CHECK_CONTAINS(yml, "openid_connect_signing_key: |\n"
		                    "    -----BEGIN RSA PRIVATE KEY-----\n"
		                    "    MIIEowIBAAKCAQEAvSECRETPEMLINEONE");
		CHECK_CONTAINS(yml, "ci_jwt_signing_key: |-\n");
		CHECK_CONTAINS(yml, "two_newlines: |+\n");
		CHECK_CONTAINS(yml, "otp_key_base: '12345'");
		CHECK(strstr(yml, "unset") == NULL);
		CHECK(strncmp(yml, "production:\n", 12) == 0);
	}
	check_item(&s, "gitlab-gitlab-shell-secret", "secret",
	           "SH-secret-token-0002");
	check_item(&s, "gitlab-gitlab-workhorse-secret", "shared_secret",
	           "WH-secret-token-0001");
	check_item(&s, "gitlab-gitaly-secret", "token", "GT-secret-0007");
	check_item(&s, "gitlab-registry-httpsecret", "secret",
	           "RH-secret-0011");
	check_item(&s, "gitlab-registry-secret", "registry-auth.key", PEM);
	check_item(&s, "gitlab-registry-secret", "registry-auth.crt", CRT);
	check_item(&s, "gitlab-gitlab-pages-secret", "shared_secret",
	           "PG-secret-0008");
	check_item(&s, "gitlab-gitlab-kas-secret", "kas_shared_secret",
	           "KAS-secret-0009");
	check_item(&s, "gitlab-kas-private-api", "kas_private_api_secret",
	           "KASP-secret-0010");
	check_item(&s, "gitlab-incoming-email-auth-token", "authToken",
	           "MR-secret-0012");
	kube_secret_set_free(&s);
	CHECK(s.n == 0 && s.items == NULL);
	kube_secret_set_free(NULL);
	json_decref(j);
}

/* Only what Rails needs: one Secret; gitaly's token from gitaly's own
 * configuration when Rails has none. */
static void test_absent(void)
{
	static const char min[] =
	    "{\"gitlab_rails\":{\"secret_key_base\":\"a\",\"db_key_base\":"
	    "\"b\",\"otp_key_base\":\"c\"},\"gitlab_shell\":{},"
	    "\"registry\":{\"http_secret\":null},\"gitlab_kas\":{"
	    "\"api_secret_key\":\"\"}}";
	static const char gitaly[] =
	    "{\"gitlab_rails\":{\"secret_key_base\":\"a\",\"db_key_base\":"
	    "\"b\",\"otp_key_base\":\"c\"},\"gitaly\":{\"configuration\":"
	    "{\"auth\":{\"token\":\"from-gitaly\"}}}}";
	struct kube_secret_set s;
	char err[256];

	CHECK_EQ_INT(kube_secrets_from_gitlab(min, strlen(min), "r", &s, err,
	                                      sizeof(err)),
	             0);
	CHECK_EQ_INT(s.n, 1);
	CHECK(find(&s, "r-rails-secret", "secrets.yml") != NULL);
	kube_secret_set_free(&s);

	CHECK_EQ_INT(kube_secrets_from_gitlab(gitaly, strlen(gitaly), "r", &s,
	                                      err, sizeof(err)),
	             0);
	CHECK_EQ_INT(s.n, 2);
	check_item(&s, "r-gitaly-secret", "token", "from-gitaly");
	kube_secret_set_free(&s);
}

/* The input with the first occurrence of from replaced by to. */
static char *edit(const char *from, const char *to)
{
	const char *at = strstr(full_json, from);
	size_t n = strlen(full_json) - strlen(from) + strlen(to) + 1;
	char *s = malloc(n);

	CHECK(at != NULL);
	snprintf(s, n, "%.*s%s%s", (int)(at - full_json), full_json, to,
	         at + strlen(from));
	return s;
}

static void expect_error(const char *json, size_t len, const char *release,
                         int want, const char *names)
{
	struct kube_secret_set s;
	char err[512] = "";
	size_t i;

	CHECK_EQ_INT(
	    kube_secrets_from_gitlab(json, len, release, &s, err, sizeof(err)),
	    want);
	CHECK(s.n == 0 && s.items == NULL);
	CHECK_CONTAINS(err, names);
	for (i = 0; i < sizeof(secret_markers) / sizeof(secret_markers[0]); i++)
		CHECK(strstr(err, secret_markers[i]) == NULL);
}

static void test_errors(void)
{
	char *s, *big;
	size_t n;

	expect_error("{\"gitlab_rails\": SKB-secret", 27, "gitlab", LS_EINVAL,
	             "not JSON");
	expect_error("[]", 2, "gitlab", LS_EINVAL, "not a JSON object");
	s = edit("\"gitlab_rails\"", "\"gitlab_railz\"");
	expect_error(s, strlen(s), "gitlab", LS_EINVAL, "gitlab_rails");
	free(s);
	s = edit("\"SKB-secret-0003\"", "12345");
	expect_error(s, strlen(s), "gitlab", LS_EINVAL,
	             "gitlab_rails.secret_key_base is not a string");
	free(s);
	s = edit("\"db_key_base\":\"DKB-secret-0004\",", "");
	expect_error(s, strlen(s), "gitlab", LS_EINVAL,
	             "gitlab_rails.db_key_base is missing");
	free(s);
	s = edit("\"SH-secret-token-0002\"", "[\"SH-secret\"]");
	expect_error(s, strlen(s), "gitlab", LS_EINVAL,
	             "gitlab_shell.secret_token is not a string");
	free(s);
	s = edit("\"gitlab_kas\":{\"api_secret_key\":\"KAS-secret-0009\","
	         "\"private_api_secret_key\":\"KASP-secret-0010\"}",
	         "\"gitlab_kas\":\"KAS-secret\"");
	expect_error(s, strlen(s), "gitlab", LS_EINVAL,
	             "gitlab_kas is not an object");
	free(s);
	s = edit("\"quote\":", "\"nested\":{\"a\":\"SKB-secret\"},\"q\":");
	expect_error(s, strlen(s), "gitlab", LS_EINVAL,
	             "gitlab_rails.nested is neither a string");
	free(s);
	s = edit("\"ARD-1\"", "1");
	expect_error(s, strlen(s), "gitlab", LS_EINVAL,
	             "gitlab_rails.active_record_encryption_deterministic_key");
	free(s);
	s = edit("\"internal_key\":", "\"other_key\":");
	expect_error(s, strlen(s), "gitlab", LS_EINVAL,
	             "registry.internal_key is missing");
	free(s);
	/* 54 characters: one over Helm's limit; then not a DNS label. */
	expect_error(full_json, strlen(full_json),
	             "a23456789012345678901234567890123456789012345678901234",
	             LS_EINVAL, "release name");
	expect_error(full_json, strlen(full_json), "GitLab", LS_EINVAL,
	             "release name");
	expect_error(full_json, strlen(full_json), "-gitlab", LS_EINVAL,
	             "release name");
	expect_error(full_json, strlen(full_json), "", LS_EINVAL,
	             "release name");
	/* 53 is fine. */
	{
		struct kube_secret_set ok;
		char err[256];

		CHECK_EQ_INT(
		    kube_secrets_from_gitlab(
		        full_json, strlen(full_json),
		        "a2345678901234567890123456789012345678901234567890123",
		        &ok, err, sizeof(err)),
		    0);
		kube_secret_set_free(&ok);
	}
	/* Over 4 MiB: refused before it is parsed. */
	n = KUBE_JSON_MAX + 1;
	big = malloc(n);
	memset(big, ' ', n);
	memcpy(big, full_json, strlen(full_json));
	expect_error(big, n, "gitlab", LS_ETOOBIG, "more than");
	free(big);
}

/* The manifest as kubectl reads it: a v1 List of Opaque Secrets. */
static void test_manifest(void)
{
	struct kube_secret_set s, back;
	uint8_t *m = NULL, bin[4096];
	size_t mlen = 0, blen, i, j, nkeys = 0;
	json_t *root, *items, *sec, *v, *reg = NULL;
	const char *k;
	char err[256], *one;

	CHECK_EQ_INT(kube_secrets_from_gitlab(full_json, strlen(full_json),
	                                      "gitlab", &s, err, sizeof(err)),
	             0);
	CHECK_EQ_INT(kube_secrets_manifest(&s, "Bad_NS", &m, &mlen), LS_EINVAL);
	CHECK_EQ_INT(kube_secrets_manifest(&s, "gitlab-ns", &m, &mlen), 0);
	CHECK(m != NULL && strlen((char *)m) == mlen);
	root = json_loadb((const char *)m, mlen, 0, NULL);
	CHECK(root != NULL);
	CHECK_STR(json_string_value(json_object_get(root, "apiVersion")), "v1");
	CHECK_STR(json_string_value(json_object_get(root, "kind")), "List");
	items = json_object_get(root, "items");
	/* Eleven items in ten Secrets: the registry's pair is one. */
	CHECK_EQ_INT(json_array_size(items), 10);
	json_array_foreach(items, i, sec)
	{
		json_t *md = json_object_get(sec, "metadata");
		const char *name =
		    json_string_value(json_object_get(md, "name"));

		CHECK_STR(json_string_value(json_object_get(sec, "apiVersion")),
		          "v1");
		CHECK_STR(json_string_value(json_object_get(sec, "kind")),
		          "Secret");
		CHECK_STR(json_string_value(json_object_get(sec, "type")),
		          "Opaque");
		CHECK_STR(json_string_value(json_object_get(md, "namespace")),
		          "gitlab-ns");
		CHECK_STR(json_string_value(
		              json_object_get(json_object_get(md, "labels"),
		                              "app.kubernetes.io/managed-by")),
		          "lockstep");
		json_object_foreach(json_object_get(sec, "data"), k, v)
		{
			const struct kube_secret_item *it = find(&s, name, k);

			nkeys++;
			CHECK(it != NULL);
			CHECK(sodium_base642bin(
			          bin, sizeof(bin), json_string_value(v),
			          json_string_length(v), NULL, &blen, NULL,
			          sodium_base64_VARIANT_ORIGINAL) == 0);
			CHECK(it != NULL && blen == it->len &&
			      memcmp(bin, it->value, blen) == 0);
		}
	}
	CHECK_EQ_INT(nkeys, s.n);

	/* kubectl get secret's answer for the registry Secret: read back. */
	json_array_foreach(items, i, sec)
	{
		if (json_object_size(json_object_get(sec, "data")) == 2)
			reg = sec;
	}
	CHECK(reg != NULL);
	one = json_dumps(reg, 0);
	CHECK(one != NULL);
	CHECK_EQ_INT(
	    kube_secret_parse(one, strlen(one), &back, err, sizeof(err)), 0);
	CHECK_EQ_INT(back.n, 2);
	for (j = 0; j < back.n; j++) {
		const struct kube_secret_item *it =
		    find(&s, back.items[j].name, back.items[j].key);

		CHECK_STR(back.items[j].name, "gitlab-registry-secret");
		CHECK(it != NULL && it->len == back.items[j].len &&
		      memcmp(it->value, back.items[j].value, it->len) == 0);
	}
	kube_secret_set_free(&back);
	free(one);
	json_decref(root);
	kube_buf_free(m, mlen);
	kube_secret_set_free(&s);
}

static void parse_fails(const char *json, int want, const char *names)
{
	struct kube_secret_set s;
	char err[256] = "";

	CHECK_EQ_INT(
	    kube_secret_parse(json, strlen(json), &s, err, sizeof(err)), want);
	CHECK(s.n == 0);
	CHECK_CONTAINS(err, names);
}

static void test_parse_bounds(void)
{
	json_t *sec =
	    json_pack("{s:s, s:s, s:{s:s}, s:{}}", "apiVersion", "v1", "kind",
	              "Secret", "metadata", "name", "x", "data");
	json_t *data = json_object_get(sec, "data");
	char key[16], *s, *big;
	struct kube_secret_set out;
	size_t i, n;

	parse_fails("{\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"x\"}}",
	            LS_EINVAL, "kind");
	parse_fails("{\"kind\":\"Secret\",\"metadata\":{\"name\":\"X_\"}}",
	            LS_EINVAL, "metadata.name");
	parse_fails("{\"kind\":\"Secret\",\"metadata\":{\"name\":\"x\"},"
	            "\"data\":{\"k\":\"c2VjcmV0!\"}}",
	            LS_EINVAL, "data.k is not base64");
	parse_fails("{\"kind\":\"Secret\",\"metadata\":{\"name\":\"x\"},"
	            "\"data\":{\"a/b\":\"\"}}",
	            LS_EINVAL, "not a Secret key");
	/* No data: a Secret without items. */
	s = "{\"kind\":\"Secret\",\"metadata\":{\"name\":\"x\"}}";
	CHECK_EQ_INT(kube_secret_parse(s, strlen(s), &out, key, sizeof(key)),
	             0);
	CHECK_EQ_INT(out.n, 0);

	for (i = 0; i < KUBE_SECRET_KEYS_MAX + 1; i++) {
		snprintf(key, sizeof(key), "k%zu", i);
		json_object_set_new(data, key, json_string("YQ=="));
	}
	s = json_dumps(sec, 0);
	parse_fails(s, LS_ETOOBIG, "65 keys");
	free(s);

	/* One value of 1 MiB + 3 bytes. */
	json_object_clear(data);
	n = KUBE_VALUE_MAX + 3;
	big = malloc(n / 3 * 4 + 1);
	memset(big, 'Q', n / 3 * 4);
	big[n / 3 * 4] = '\0';
	json_object_set_new(data, "big", json_string(big));
	s = json_dumps(sec, 0);
	parse_fails(s, LS_ETOOBIG, "data.big is over the value limit");
	free(s);
	free(big);
	json_decref(sec);
}

static void test_saved(void)
{
	struct kube_secret_set none = {0}, parsed;
	struct kube_saved sv = {0}, back;
	uint8_t *enc = NULL;
	size_t len = 0, i;
	char err[256];
	static const char existing[] =
	    "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":"
	    "\"gitlab-gitlab-shell-secret\"},\"data\":{\"secret\":"
	    "\"b2xkLXNoZWxs\",\"bin\":\"AP8K\"}}";

	CHECK_EQ_INT(kube_secret_parse(existing, strlen(existing), &parsed, err,
	                               sizeof(err)),
	             0);
	CHECK_EQ_INT(parsed.n, 2);
	CHECK_EQ_INT(kube_saved_add(&sv, "gitlab-gitlab-shell-secret", &parsed),
	             0);
	CHECK_EQ_INT(kube_saved_add(&sv, "gitlab-rails-secret", NULL), 0);
	/* Existing without data: not the same as absent. */
	CHECK_EQ_INT(kube_saved_add(&sv, "gitlab-kas-private-api", &none), 0);
	CHECK_EQ_INT(kube_saved_add(&sv, "gitlab-rails-secret", NULL),
	             LS_EEXIST);
	CHECK_EQ_INT(kube_saved_add(&sv, "Bad", NULL), LS_EINVAL);
	CHECK_EQ_INT(kube_saved_encode(&sv, &enc, &len), 0);
	CHECK(enc != NULL && strstr((char *)enc, "old-shell") == NULL);

	CHECK_EQ_INT(kube_saved_decode(enc, len, &back, err, sizeof(err)), 0);
	CHECK_EQ_INT(back.n, 3);
	CHECK_EQ_INT(back.data.n, 2);
	if (back.n == 3) {
		CHECK_STR(back.secrets[0].name, "gitlab-gitlab-shell-secret");
		CHECK_EQ_INT(back.secrets[0].exists, 1);
		CHECK_STR(back.secrets[1].name, "gitlab-rails-secret");
		CHECK_EQ_INT(back.secrets[1].exists, 0);
		CHECK_STR(back.secrets[2].name, "gitlab-kas-private-api");
		CHECK_EQ_INT(back.secrets[2].exists, 1);
	}
	check_item(&back.data, "gitlab-gitlab-shell-secret", "secret",
	           "old-shell");
	for (i = 0; i < back.data.n; i++)
		if (strcmp(back.data.items[i].key, "bin") == 0)
			CHECK(back.data.items[i].len == 3 &&
			      memcmp(back.data.items[i].value, "\0\xff\n", 3) ==
			          0);
	kube_saved_free(&back);
	kube_saved_free(&back);

	CHECK_EQ_INT(kube_saved_decode((const uint8_t *)"{\"secrets\":[]}", 14,
	                               &back, err, sizeof(err)),
	             LS_EINVAL);
	CHECK_CONTAINS(err, "lockstep_kube_saved");
	kube_buf_free(enc, len);
	kube_saved_free(&sv);
	kube_secret_set_free(&parsed);
	kube_saved_free(NULL);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	test_full();
	test_absent();
	test_errors();
	test_manifest();
	test_parse_bounds();
	test_saved();
	return tu_done();
}
