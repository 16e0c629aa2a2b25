/*
 * Fuzzes the backup id parser (names found in a backup directory or given
 * by an operator) and the --skip list normaliser, and checks that every
 * id we accept round-trips through backup_id_make.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backup_meta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[BACKUP_ID_MAX * 2], version[BACKUP_VERSION_MAX];
	char id[BACKUP_ID_MAX], again[BACKUP_VERSION_MAX], out[512], err[512];
	int64_t t = 0, t2 = 0;

	if (size >= sizeof(text))
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	if (backup_id_parse(text, &t, version, sizeof(version)) == 0) {
		/* Only ids of the form GitLab writes today can be remade:
		 * a version, and a timestamp with all 10 digits. */
		if (version[0] != '\0' && t >= 1000000000LL &&
		    backup_id_make(t, version, id, sizeof(id)) == 0) {
			if (backup_id_parse(id, &t2, again, sizeof(again)) !=
			        0 ||
			    t2 != t || strcmp(again, version) != 0)
				abort();
		}
	}
	(void)backup_skip_normalize(text, out, sizeof(out), err, sizeof(err));
	return 0;
}
