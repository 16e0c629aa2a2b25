/* ls_gzcheck: the gzip trailer check libarchive 3.6 leaves out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "ls_error.h"
#include "ls_gzcheck.h"
#include "ls_util.h"
#include "testutil.h"

static char dir[] = "/tmp/test_gzcheck.XXXXXX";

/* Writes data as one gzip member (twice: two members) into path. */
static void write_gz(const char *path, const char *data, size_t len,
                     int members)
{
	int i;

	for (i = 0; i < members; i++) {
		gzFile f = gzopen(path, i ? "ab1" : "wb1");

		CHECK(f != NULL);
		if (f == NULL)
			return;
		CHECK_EQ_INT(gzwrite(f, data, (unsigned)len), (int)len);
		CHECK_EQ_INT(gzclose(f), Z_OK);
	}
}

static void flip(const char *path, long from_end)
{
	FILE *f = fopen(path, "r+b");
	int c;

	CHECK(f != NULL);
	if (f == NULL)
		return;
	CHECK(fseek(f, -from_end, SEEK_END) == 0);
	c = fgetc(f);
	CHECK(fseek(f, -from_end, SEEK_END) == 0);
	fputc(c ^ 0x01, f);
	fclose(f);
}

static int check(const char *path, const char *data, size_t len, size_t step,
                 char *why, size_t whylen)
{
	struct ls_gzcheck g;
	size_t off;

	ls_gzcheck_init(&g);
	for (off = 0; off < len; off += step)
		ls_gzcheck_update(&g, data + off,
		                  len - off < step ? len - off : step);
	return ls_gzcheck_trailer(&g, path, why, whylen);
}

int main(void)
{
	char path[128], why[200], *data;
	size_t len = 300000, i;

	if (mkdtemp(dir) == NULL || (data = malloc(len)) == NULL)
		return 1;
	for (i = 0; i < len; i++)
		data[i] = (char)(i * 7 + i / 1000);
	snprintf(path, sizeof(path), "%s/a.gz", dir);

	write_gz(path, data, len, 1);
	CHECK_EQ_INT(check(path, data, len, len, why, sizeof(why)), 0);
	CHECK_EQ_INT(check(path, data, len, 4096, why, sizeof(why)), 0);
	/* What was decompressed differs from what was written. */
	data[5] ^= 1;
	CHECK_EQ_INT(check(path, data, len, len, why, sizeof(why)), LS_EPROTO);
	CHECK_CONTAINS(why, "CRC mismatch");
	data[5] ^= 1;
	CHECK_EQ_INT(check(path, data, len - 1, len, why, sizeof(why)),
	             LS_EPROTO);

	/* A damaged trailer: the CRC, then the length. */
	flip(path, 8);
	CHECK_EQ_INT(check(path, data, len, len, why, sizeof(why)), LS_EPROTO);
	CHECK_CONTAINS(why, "CRC mismatch");
	write_gz(path, data, len, 1);
	flip(path, 2);
	CHECK_EQ_INT(check(path, data, len, len, why, sizeof(why)), LS_EPROTO);
	CHECK_CONTAINS(why, "length mismatch");

	/* Two members: refused, as documented. */
	write_gz(path, data, len, 2);
	{
		char *twice = malloc(2 * len);

		CHECK(twice != NULL);
		if (twice != NULL) {
			memcpy(twice, data, len);
			memcpy(twice + len, data, len);
			CHECK_EQ_INT(
			    check(path, twice, 2 * len, len, why, sizeof(why)),
			    LS_EPROTO);
			free(twice);
		}
	}

	/* Too short to be gzip, and absent. */
	{
		FILE *f = fopen(path, "wb");

		if (f != NULL) {
			fputs("tiny", f);
			fclose(f);
		}
	}
	CHECK_EQ_INT(check(path, data, 0, 1, why, sizeof(why)), LS_EIO);
	unlink(path);
	CHECK_EQ_INT(check(path, data, 0, 1, why, sizeof(why)), LS_EIO);

	free(data);
	ls_rmtree(dir);
	return tu_done();
}
