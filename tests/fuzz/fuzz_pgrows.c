/*
 * backup_pg_rows, the row counter over pg_dump's output, on hostile
 * streams. The first byte picks where the stream is split; the counter must
 * give the same verdict and the same tables fed whole, split there, and
 * byte by byte, and every name it reports must be bounded and non-empty.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backup_pg_rows.h"

#define MAXT 64

struct res {
	int rv, n;
	char names[MAXT][256];
	uint64_t rows[MAXT];
};

static int on_table(void *arg, const char *name, uint64_t rows)
{
	struct res *r = arg;
	size_t len = strlen(name);

	if (len == 0 || len >= 256 || strchr(name, '.') == NULL)
		abort();
	if (r->n < MAXT) {
		memcpy(r->names[r->n], name, len + 1);
		r->rows[r->n] = rows;
	}
	r->n++;
	return 0;
}

static void run(const uint8_t *p, size_t len, size_t step, size_t split,
                struct res *out)
{
	struct backup_pg_rows *r = backup_pg_rows_new();
	size_t off;
	int rv = 0;

	memset(out, 0, sizeof(*out));
	if (r == NULL)
		abort();
	if (step == 0) {
		if ((rv = backup_pg_rows_feed(r, p, split)) == 0)
			rv = backup_pg_rows_feed(r, p + split, len - split);
	} else {
		for (off = 0; off < len && rv == 0; off += step)
			rv = backup_pg_rows_feed(
			    r, p + off, len - off < step ? len - off : step);
	}
	if (rv == 0)
		rv = backup_pg_rows_finish(r, on_table, out);
	out->rv = rv;
	if (rv != 0)
		out->n = 0; /* void counts are not compared */
	backup_pg_rows_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct res a, b, c;
	size_t split;

	if (size < 1)
		return 0;
	split = data[0] % size;
	data++;
	size--;
	if (size > 1 << 16)
		return 0;
	run(data, size, size ? size : 1, 0, &a);
	run(data, size, 0, split > size ? size : split, &b);
	run(data, size, 1, 0, &c);
	if (a.rv != b.rv || a.rv != c.rv || memcmp(&a, &b, sizeof(a)) != 0 ||
	    memcmp(&a, &c, sizeof(a)) != 0)
		abort();
	return 0;
}
