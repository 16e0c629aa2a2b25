/*
 * restore_tar_extract on hostile archives: whatever the input, nothing may
 * appear outside the directory extracted into. The directory is
 * <root>/a/in, so an escape by "../" or "../../" lands in a/ or the root,
 * which must hold nothing else; absolute names are aimed at the root too.
 * Each input goes through a memfd named by /proc/self/fd.
 *
 * libarchive is not instrumented and mutation alone rarely makes a valid
 * tar, so the first byte steers: bit 0 set, the rest describes entries
 * written as a real tar (see build); clear, the rest is the archive. Bit 1
 * wraps the result in gzip.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_reader.h"
#include "ls_util.h"
#include "restore_tar.h"

#define FUZZ_OUT_MAX (1u << 20)

static char root[128], mid[160], in[192];
static int fuzz_fd = -1;

static void cleanup(void)
{
	ls_rmtree(root);
}

static void setup(void)
{
	snprintf(root, sizeof(root), "/tmp/fuzz-restore-tar-%d", (int)getpid());
	snprintf(mid, sizeof(mid), "%s/a", root);
	snprintf(in, sizeof(in), "%s/in", mid);
	ls_rmtree(root);
	if (ls_mkdirs(in, 0755) < 0)
		abort();
	if ((fuzz_fd = memfd_create("fuzz", MFD_CLOEXEC)) < 0)
		abort();
	atexit(cleanup);
}

/* dir holds exactly the one entry named only (or nothing if NULL). */
static void only(const char *dir, const char *name)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (d == NULL)
		abort();
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (name == NULL || strcmp(de->d_name, name) != 0) {
			fprintf(stderr, "escaped: %s/%s\n", dir, de->d_name);
			abort();
		}
	}
	closedir(d);
}

/* A prefix from the type byte, so escapes are reachable at once. */
static const char *prefix(uint8_t t)
{
	static char abs[256];

	switch (t >> 5) {
	case 1:
		return "../";
	case 2:
		return "../../";
	case 3:
		snprintf(abs, sizeof(abs), "%s/", root);
		return abs;
	case 4:
		return "./";
	default:
		return "";
	}
}

/*
 * Per entry: a type byte (low 3 bits: file, dir, symlink, hard link, fifo,
 * char device; high 3 bits: a name prefix), a name length byte and name,
 * a link length byte and link (with the same prefix choice in its high
 * bits), a size byte and that many data bytes.
 */
static uint8_t *build(const uint8_t *data, size_t len, int gz, size_t *outlen)
{
	static const char fill[256];
	struct reader r = {data, len};
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	uint8_t *out = malloc(FUZZ_OUT_MAX), t, nl, ll, sz;
	char name[600], link[600], raw[256];
	size_t used = 0;
	int ok = 0, n;

	archive_write_set_format_pax_restricted(a);
	if (gz)
		archive_write_add_filter_gzip(a);
	archive_write_set_bytes_in_last_block(a, 1);
	if (out == NULL || archive_write_open_memory(a, out, FUZZ_OUT_MAX,
	                                             &used) != ARCHIVE_OK)
		goto out;
	for (n = 0; n < 32 && take(&r, &t, 1) == 0; n++) {
		if (take(&r, &nl, 1) < 0 || take(&r, raw, nl & 63) < 0)
			break;
		raw[nl & 63] = '\0';
		snprintf(name, sizeof(name), "%s%s", prefix(t), raw);
		if (take(&r, &ll, 1) < 0 || take(&r, raw, ll & 31) < 0)
			break;
		raw[ll & 31] = '\0';
		snprintf(link, sizeof(link), "%s%s", prefix(ll), raw);
		if (take(&r, &sz, 1) < 0)
			sz = 0;
		archive_entry_clear(e);
		archive_entry_copy_pathname(e, name);
		archive_entry_set_perm(e, (t & 7) == 1 ? 0755 : 0644);
		switch (t & 7) {
		case 1:
			archive_entry_set_filetype(e, AE_IFDIR);
			break;
		case 2:
			archive_entry_set_filetype(e, AE_IFLNK);
			archive_entry_copy_symlink(e, link);
			break;
		case 3:
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_copy_hardlink(e, link);
			break;
		case 4:
			archive_entry_set_filetype(e, AE_IFIFO);
			break;
		case 5:
			archive_entry_set_filetype(e, AE_IFCHR);
			break;
		default:
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_size(e, sz);
		}
		if (archive_write_header(a, e) < ARCHIVE_WARN)
			break;
		if ((t & 7) != 0 && (t & 7) < 6)
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
	*outlen = used;
	ok = 1;
out:
	if (!ok) {
		free(out);
		out = NULL;
	}
	archive_entry_free(e);
	archive_write_free(a);
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct restore_tar_opts o;
	struct restore_tar_stats st;
	uint8_t *buf = NULL;
	const uint8_t *input = data + 1;
	size_t len = size ? size - 1 : 0;
	char path[64], err[512];
	int dfd;

	if (size < 1)
		return 0;
	if (fuzz_fd < 0)
		setup();
	if (data[0] & 1) {
		if ((buf = build(data + 1, size - 1, data[0] & 2, &len)) ==
		    NULL)
			return 0;
		input = buf;
	}
	if (ftruncate(fuzz_fd, 0) < 0 ||
	    pwrite(fuzz_fd, input, len, 0) != (ssize_t)len)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fuzz_fd);
	if ((dfd = open(in, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		abort();
	memset(&o, 0, sizeof(o));
	o.component = "uploads";
	o.comp = backup_component_find("uploads");
	o.uid = getuid();
	o.gid = getgid();
	if (restore_tar_extract(path, dfd, &o, &st, err, sizeof(err)) < 0 &&
	    (err[0] == '\0' || memchr(err, '\0', sizeof(err)) == NULL))
		abort();
	close(dfd);
	only(root, "a");
	only(mid, "in");
	if (ls_rmtree(in) < 0 || mkdir(in, 0755) < 0)
		abort();
	free(buf);
	return 0;
}
