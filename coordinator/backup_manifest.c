/* Writing and signing lockstep/manifest.json (backup_manifest.h). */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "backup_manifest.h"
#include "ls_afile.h"
#include "ls_error.h"
#include "ls_util.h"

int backup_put_file(const char *dir, const char *name, const char *text,
                    mode_t mode, uint64_t *total)
{
	char path[4200];
	struct ls_afile *f;
	uint64_t size = 0;
	int rv;

	if ((rv = ls_fmt(path, sizeof(path), "%s/%s", dir, name)) < 0 ||
	    (rv = ls_afile_open(&f, path, mode)) < 0)
		return rv;
	if ((rv = ls_afile_write(f, text, strlen(text))) < 0) {
		ls_afile_abort(f);
		return rv;
	}
	if ((rv = ls_afile_commit(f, &size, NULL)) < 0)
		return rv;
	*total += size;
	return 0;
}

int backup_manifest_put(const char *dest, const char *manifest,
                        const uint8_t *sk, uint64_t *total)
{
	uint8_t s[crypto_sign_BYTES];
	/* The signature as `backup verify` reads it: hex and a newline. */
	char sig[2 * crypto_sign_BYTES + 2], dir[4200];
	int rv;

	crypto_sign_detached(s, NULL, (const uint8_t *)manifest,
	                     strlen(manifest), sk);
	ls_hex(sig, s, sizeof(s));
	sig[2 * sizeof(s)] = '\n';
	sig[2 * sizeof(s) + 1] = '\0';
	if ((rv = ls_fmt(dir, sizeof(dir), "%s/lockstep", dest)) < 0 ||
	    (rv = backup_put_file(dir, "manifest.json", manifest, 0600,
	                          total)) < 0 ||
	    (rv = backup_put_file(dir, "manifest.json.sig", sig, 0600, total)) <
	        0)
		return rv;
	return 0;
}
