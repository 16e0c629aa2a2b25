/*
 * The import's readers of GitLab's backup metadata: backup_information.yml
 * (Rake's Ruby-symbol form with its TimeWithZone dump, the Helm toolbox's
 * plain form) and gitlab-backup-cli's backup_information.json, plus the
 * time formats they hold. The first byte picks the reader; the rest is the
 * file, handed over through a memfd because the readers take a path.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backup_import.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct import_meta m;
	char path[64], err[512], text[256];
	int64_t t;
	int fd;

	if (size < 1)
		return 0;
	if (data[0] == 't') {
		size_t n =
		    size - 1 < sizeof(text) - 1 ? size - 1 : sizeof(text) - 1;
		memcpy(text, data + 1, n);
		text[n] = '\0';
		(void)import_parse_time(text, &t);
		return 0;
	}
	if ((fd = memfd_create("meta", 0)) < 0)
		return 0;
	if (write(fd, data + 1, size - 1) == (ssize_t)(size - 1)) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		memset(&m, 0, sizeof(m));
		if (data[0] & 1)
			(void)import_meta_json(path, "backup_information.json",
			                       &m, err, sizeof(err));
		else
			(void)import_meta_yml(path, "backup_information.yml",
			                      &m, err, sizeof(err));
	}
	close(fd);
	return 0;
}
