/*
 * The Geo secrets copy of an upgrade (gitlab-facts §7): a secondary must
 * run with the primary's gitlab-secrets.json. The primary seals the file
 * to the secondary's identity key (Ed25519, converted to X25519) and the
 * secondary opens it with its own secret key, so the coordinator that
 * relays it never holds it in clear. Both ends check it is a JSON object:
 * a damaged or foreign file is never written over a working one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "agent_identity.h"
#include "exec_geo_secrets.h"
#include "ls_afile.h"
#include "ls_error.h"
#include "ls_log.h"
#include "ls_util.h"

/* gitlab-secrets.json is a few KiB; this is generous and bounded. */
#define SECRETS_MAX (1024 * 1024)

static int is_object(const uint8_t *data, size_t len)
{
	json_t *j =
	    json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, NULL);
	int ok = json_is_object(j);

	json_decref(j);
	return ok;
}

int exec_secrets_export(const struct agent_config *cfg,
                        const Ls__SecretsExport *e, struct secrets_out *o,
                        char *err, size_t errlen)
{
	const char *path = cfg->gitlab.secrets_file;
	uint8_t xpk[crypto_box_PUBLICKEYBYTES];
	char *plain = NULL;
	size_t len = 0;
	int rv;

	ls__secrets_export_result__init(&o->res);
	o->sealed = NULL;
	if (e->to_sign_pk.len != crypto_sign_PUBLICKEYBYTES ||
	    crypto_sign_ed25519_pk_to_curve25519(xpk, e->to_sign_pk.data) !=
	        0) {
		snprintf(err, errlen,
		         "the receiving node's key is not an Ed25519 public "
		         "key");
		return LS_EINVAL;
	}
	if ((rv = ls_read_file(path, SECRETS_MAX, &plain, &len)) < 0) {
		snprintf(err, errlen, "%.900s: %s", path, ls_strerror(rv));
		return rv;
	}
	if (!is_object((const uint8_t *)plain, len)) {
		snprintf(err, errlen, "%.900s is not a JSON object", path);
		rv = LS_EINVAL;
		goto out;
	}
	if ((o->sealed = malloc(len + crypto_box_SEALBYTES)) == NULL) {
		rv = LS_ENOMEM;
		goto out;
	}
	if (crypto_box_seal(o->sealed, (const uint8_t *)plain, len, xpk) != 0) {
		snprintf(err, errlen, "sealing %.900s failed", path);
		rv = LS_ECRYPTO;
		goto out;
	}
	o->res.sealed.data = o->sealed;
	o->res.sealed.len = len + crypto_box_SEALBYTES;
	log_info("%s sealed for a Geo secondary (%zu bytes)", path, len);
	rv = 0;
out:
	ls_wipe(plain, len);
	free(plain);
	return rv;
}

int exec_secrets_import(const struct agent_config *cfg,
                        const Ls__SecretsImport *im, char *err, size_t errlen)
{
	const char *path = cfg->gitlab.secrets_file;
	uint8_t pk[crypto_box_PUBLICKEYBYTES], sk[crypto_box_SECRETKEYBYTES];
	uint8_t *plain = NULL;
	size_t plen;
	struct ls_afile *f = NULL;
	struct stat st;
	int rv, keep_owner;

	if (im->sealed.len < crypto_box_SEALBYTES ||
	    im->sealed.len > SECRETS_MAX + crypto_box_SEALBYTES) {
		snprintf(err, errlen,
		         "the sealed secrets from %.64s are %zu bytes: not a "
		         "sealed gitlab-secrets.json",
		         im->from_node, im->sealed.len);
		return LS_EINVAL;
	}
	if ((rv = agent_identity_box_keys(cfg->state_dir, pk, sk, err,
	                                  errlen)) < 0)
		goto out;
	plen = im->sealed.len - crypto_box_SEALBYTES;
	if ((plain = malloc(plen ? plen : 1)) == NULL) {
		rv = LS_ENOMEM;
		goto out;
	}
	if (crypto_box_seal_open(plain, im->sealed.data, im->sealed.len, pk,
	                         sk) != 0) {
		snprintf(err, errlen,
		         "the secrets from %.64s do not open with this node's "
		         "key (sealed for another node, or damaged)",
		         im->from_node);
		rv = LS_ECRYPTO;
		goto out;
	}
	if (!is_object(plain, plen)) {
		snprintf(err, errlen,
		         "the secrets from %.64s are not a JSON object: %.800s "
		         "left as it is",
		         im->from_node, path);
		rv = LS_EINVAL;
		goto out;
	}
	keep_owner = stat(path, &st) == 0;
	if ((rv = ls_afile_open(&f, path, 0600)) < 0) {
		snprintf(err, errlen, "writing %.900s: %s", path,
		         ls_strerror(rv));
		goto out;
	}
	/* The file never appears with another owner than the one before. */
	if (keep_owner && fchown(ls_afile_fd(f), st.st_uid, st.st_gid) < 0)
		log_warnx("%s: cannot keep the owner %u:%u: %s", path,
		          (unsigned)st.st_uid, (unsigned)st.st_gid,
		          ls_strerror(-errno));
	if ((rv = ls_afile_write(f, plain, plen)) < 0)
		ls_afile_abort(f);
	else
		rv = ls_afile_commit(f, NULL, NULL);
	if (rv < 0)
		snprintf(err, errlen, "writing %.900s: %s", path,
		         ls_strerror(rv));
	else
		log_info("%s: the Geo primary %s's secrets written", path,
		         im->from_node);
out:
	if (plain != NULL) {
		ls_wipe(plain, plen);
		free(plain);
	}
	sodium_memzero(sk, sizeof(sk));
	return rv;
}

void secrets_out_free(struct secrets_out *o)
{
	free(o->sealed);
	o->sealed = NULL;
}
