/*
 * Listing a component archive, for verify and tests. The input may come
 * from anywhere (an imported backup, a damaged disk): every size is
 * bounded and the reader is fuzzed (tests/fuzz/fuzz_archive_list.c).
 */
#include "backup_files.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ls_error.h"

#define BACKUP_FILES_MAX_NAME 4096

/* libarchive may have no message to give. */
static const char *backup_files_aerr(struct archive *a)
{
	const char *s = a ? archive_error_string(a) : NULL;

	return s ? s : "archive error";
}

struct backup_files_buf {
	char *data;
	size_t len, cap;
};

static int backup_files_buf_put(struct backup_files_buf *b, const char *s,
                                size_t n)
{
	char *nd;
	size_t cap;

	if (b->len + n + 1 > b->cap) {
		cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		if ((nd = realloc(b->data, cap)) == NULL)
			return LS_ENOMEM;
		b->data = nd;
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

/* One line; the name escaped so that tabs and newlines in names cannot
 * forge fields or lines. */
static int backup_files_line(struct backup_files_buf *b, const char *name,
                             int64_t size, unsigned mode)
{
	char tmp[64];
	const unsigned char *p;
	int rv = 0, n;

	for (p = (const unsigned char *)name; *p && rv == 0; p++) {
		if (*p == '\\')
			rv = backup_files_buf_put(b, "\\\\", 2);
		else if (*p == '\t')
			rv = backup_files_buf_put(b, "\\t", 2);
		else if (*p == '\n')
			rv = backup_files_buf_put(b, "\\n", 2);
		else if (*p < 0x20 || *p == 0x7f) {
			snprintf(tmp, sizeof(tmp), "\\%03o", *p);
			rv = backup_files_buf_put(b, tmp, 4);
		} else
			rv = backup_files_buf_put(b, (const char *)p, 1);
	}
	if (rv == 0) {
		n = snprintf(tmp, sizeof(tmp), "\t%lld\t%06o\n",
		             (long long)size, mode);
		rv = backup_files_buf_put(b, tmp, (size_t)n);
	}
	return rv;
}

int backup_files_list(const char *archive_path, size_t max_entries,
                      char **listing, char *err, size_t errlen)
{
	struct backup_files_buf b = {NULL, 0, 0};
	struct archive *a = NULL;
	struct archive_entry *e;
	const char *name;
	size_t n = 0;
	int r, rv = 0;

	*listing = NULL;
	if (errlen > 0)
		err[0] = '\0';
	if ((a = archive_read_new()) == NULL) {
		rv = LS_ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	/* Only what Lockstep and GitLab write: tar, plain or compressed. */
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_filename(a, archive_path, 65536) != ARCHIVE_OK) {
		rv = LS_EIO;
		snprintf(err, errlen, "%s: %s", archive_path,
		         backup_files_aerr(a));
		goto out;
	}
	if ((rv = backup_files_buf_put(&b, "", 0)) < 0)
		goto out;
	for (;;) {
		r = archive_read_next_header(a, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			rv = LS_EIO;
			snprintf(err, errlen, "%s: after %zu entries: %s",
			         archive_path, n, backup_files_aerr(a));
			goto out;
		}
		if (n >= max_entries) {
			rv = LS_ETOOBIG;
			snprintf(err, errlen, "%s: more than %zu entries",
			         archive_path, max_entries);
			goto out;
		}
		name = archive_entry_pathname(e);
		if (name == NULL || name[0] == '\0') {
			rv = LS_EPROTO;
			snprintf(err, errlen,
			         "%s: entry %zu has no usable name",
			         archive_path, n);
			goto out;
		}
		if (strlen(name) > BACKUP_FILES_MAX_NAME) {
			rv = LS_ETOOBIG;
			snprintf(err, errlen,
			         "%s: entry %zu has a name over %d bytes",
			         archive_path, n, BACKUP_FILES_MAX_NAME);
			goto out;
		}
		if ((rv = backup_files_line(&b, name, archive_entry_size(e),
		                            (unsigned)archive_entry_mode(e))) <
		    0) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		/* Reading through the data (decompressing it) is what finds
		 * a truncated or corrupt member. */
		if (archive_read_data_skip(a) < ARCHIVE_WARN) {
			rv = LS_EIO;
			snprintf(err, errlen, "%s: entry %zu: %s", archive_path,
			         n, backup_files_aerr(a));
			goto out;
		}
		n++;
	}
	/* A component archive holds "./" at least; an empty file is what a
	 * crash during a write leaves. */
	if (n == 0) {
		rv = LS_EPROTO;
		snprintf(err, errlen, "%s: no entries", archive_path);
		goto out;
	}
	*listing = b.data;
	b.data = NULL;
out:
	if (a != NULL)
		archive_read_free(a);
	free(b.data);
	return rv;
}
