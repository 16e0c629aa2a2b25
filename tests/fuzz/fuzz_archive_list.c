/*
 * backup_files_list on hostile archives. The lister takes a path, so each
 * input goes through a memfd named by /proc/self/fd.
 *
 * libarchive is a system library without coverage instrumentation and
 * there are no committed seeds, so mutation alone rarely gets past a tar
 * checksum or a gzip/zstd stream. The first byte steers:
 *   bit 3 set: the rest describes entries (names, types, sizes) that are
 *     written as a real tar (GNU, pax or ustar) and then damaged: cut
 *     short and one byte flipped where the input says;
 *   bit 3 clear: the rest is the archive; bit 0 fixes the checksum of its
 *     first 512-byte header.
 *   bits 1-2: wrap the result in gzip (1) or zstd (2).
 */
#include <archive.h>
#include <archive_entry.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backup_files.h"
#include "fuzz_reader.h"

#define FUZZ_OUT_MAX (1u << 20)

static int fuzz_fd = -1;

static void fix_checksum(uint8_t *h)
{
	unsigned sum = 0;
	int i;

	memset(h + 148, ' ', 8);
	for (i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum & 0777777);
	h[155] = ' ';
}

/*
 * A tar built from the description: per entry a type byte, a 2-byte name
 * length (names over 4096 bytes must be refused), the name, a size byte
 * and that many data bytes. The last 4 bytes: where to cut (from the end)
 * and which byte to flip.
 */
static uint8_t *build(const uint8_t *data, size_t len, size_t *outlen)
{
	static const char fill[8192];
	struct reader r = {data, len};
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	uint8_t *out = malloc(FUZZ_OUT_MAX), type = 0, sz = 0, tail[4] = {0};
	uint16_t nlen;
	size_t used = 0, cut, flip, head;
	char *name = NULL;
	int fmt, ok = 0;

	if (len >= 4) {
		memcpy(tail, data + len - 4, 4);
		r.left -= 4;
	}
	fmt = tail[0] % 3;
	if (fmt == 0)
		archive_write_set_format_gnutar(a);
	else if (fmt == 1)
		archive_write_set_format_pax(a);
	else
		archive_write_set_format_ustar(a);
	archive_write_set_bytes_in_last_block(a, 1);
	if (out == NULL || archive_write_open_memory(a, out, FUZZ_OUT_MAX,
	                                             &used) != ARCHIVE_OK)
		goto out;
	while (take(&r, &type, 1) == 0 && take(&r, &nlen, 2) == 0) {
		nlen %= 8192;
		if ((name = malloc((size_t)nlen + 1)) == NULL)
			goto out;
		/* Long names from a little input: the tail repeats. */
		head = nlen < 16 ? nlen : 16;
		if (take(&r, name, head) < 0)
			break;
		memset(name + head, 'a' + nlen % 26, nlen - head);
		name[nlen] = '\0';
		if (take(&r, &sz, 1) < 0)
			sz = 0;
		archive_entry_clear(e);
		archive_entry_copy_pathname(e, name);
		free(name);
		name = NULL;
		archive_entry_set_mode(e, (type & 3) == 0   ? AE_IFREG | 0644
		                          : (type & 3) == 1 ? AE_IFDIR | 0755
		                                            : AE_IFLNK | 0777);
		if ((type & 3) >= 2)
			archive_entry_copy_symlink(e, "target");
		archive_entry_set_size(e, (type & 3) == 0 ? sz : 0);
		archive_entry_set_mtime(e, type >> 2, 0);
		if (archive_write_header(a, e) < ARCHIVE_WARN)
			break;
		if ((type & 3) != 0 || sz == 0)
			continue;
		if (r.left >= sz) {
			archive_write_data(a, r.p, sz);
			r.p += sz;
			r.left -= sz;
		} else {
			archive_write_data(a, fill, sz);
		}
	}
	if (archive_write_close(a) != ARCHIVE_OK)
		goto out;
	cut = (size_t)(tail[1] | tail[2] << 8) % (used + 1);
	if (tail[1] & 1)
		used -= cut;
	flip = (size_t)tail[3] * 37;
	if (used > 0 && (tail[3] & 0x80))
		out[flip % used] ^= (uint8_t)(tail[2] | 1);
	*outlen = used;
	ok = 1;
out:
	if (!ok) {
		free(out);
		out = NULL;
	}
	free(name);
	archive_entry_free(e);
	archive_write_free(a);
	return out;
}

/* data compressed with the given libarchive filter, raw format. */
static uint8_t *wrap(const uint8_t *data, size_t len, int filter,
                     size_t *outlen)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	size_t cap = len + len / 8 + 4096, used = 0;
	uint8_t *out = malloc(cap);

	archive_write_set_format_raw(a);
	if (filter == 1)
		archive_write_add_filter_gzip(a);
	else
		archive_write_add_filter_zstd(a);
	archive_write_set_bytes_in_last_block(a, 1);
	if (out == NULL ||
	    archive_write_open_memory(a, out, cap, &used) != ARCHIVE_OK) {
		free(out);
		out = NULL;
		goto out;
	}
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_pathname(e, "x");
	archive_entry_set_size(e, (la_int64_t)len);
	if (archive_write_header(a, e) != ARCHIVE_OK ||
	    (len > 0 && archive_write_data(a, data, len) < 0) ||
	    archive_write_close(a) != ARCHIVE_OK) {
		free(out);
		out = NULL;
	}
	*outlen = used;
out:
	archive_entry_free(e);
	archive_write_free(a);
	return out;
}

/* Names are escaped: every line has exactly three fields. */
static void check_listing(const char *listing)
{
	int tabs = 0;

	for (; *listing; listing++) {
		if (*listing == '\t') {
			tabs++;
		} else if (*listing == '\n') {
			if (tabs != 2)
				abort();
			tabs = 0;
		}
	}
	if (tabs != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = NULL, *wrapped = NULL;
	const uint8_t *input;
	size_t len = 0, inlen;
	char path[64], err[256], *listing = NULL;
	int ctl;

	if (size < 1)
		return 0;
	if (fuzz_fd < 0 && (fuzz_fd = memfd_create("fuzz", MFD_CLOEXEC)) < 0)
		abort();
	ctl = data[0];
	if (ctl & 8) {
		buf = build(data + 1, size - 1, &len);
	} else if ((buf = malloc(size)) != NULL) {
		len = size - 1;
		memcpy(buf, data + 1, len);
		if ((ctl & 1) && len >= 512)
			fix_checksum(buf);
	}
	if (buf == NULL)
		return 0;
	input = buf;
	inlen = len;
	if ((ctl >> 1 & 3) == 1 || (ctl >> 1 & 3) == 2) {
		if ((wrapped = wrap(buf, len, ctl >> 1 & 3, &inlen)) == NULL)
			goto out;
		input = wrapped;
	}
	if (ftruncate(fuzz_fd, 0) < 0 ||
	    pwrite(fuzz_fd, input, inlen, 0) != (ssize_t)inlen)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fuzz_fd);
	if (backup_files_list(path, 1000, &listing, err, sizeof(err)) == 0) {
		if (listing == NULL)
			abort();
		check_listing(listing);
	} else if (listing != NULL || err[0] == '\0') {
		abort();
	}
	free(listing);
out:
	free(wrapped);
	free(buf);
	return 0;
}
