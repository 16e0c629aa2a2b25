/*
 * rfl_read, the reader of the listing a file component's restore saves
 * for its verification, on any bytes: it must not crash, and what it
 * accepts must be what the verification's merge relies on (paths in
 * strictly increasing order, within the caps) and must survive being
 * written and read back unchanged.
 *
 * A mutation almost never keeps the closing checksum right, so an input
 * starting with byte 1 has it recomputed: the rest up to its last "\nend "
 * line, then the right "end <sha256>".
 */
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ls_error.h"
#include "ls_util.h"
#include "restore_files_listing.h"

static const struct rfl_bind want = {"uploads",
                                     "/var/opt/gitlab/gitlab-rails/uploads",
                                     "/var/opt/gitlab/backups/uploads.tar.gz",
                                     2049,
                                     131,
                                     4096,
                                     1700000000,
                                     5,
                                     1700000000,
                                     6};

static void check(const struct rfl_list *l)
{
	size_t i;

	if (l->n > RFL_MAX_ENTRIES || l->bad)
		abort();
	for (i = 0; i < l->n; i++) {
		const struct rfl_ent *x = &l->e[i];

		if (x->path[0] == '\0' || strlen(x->path) > RFL_MAX_PATH ||
		    (x->type != 'd' && x->type != 'f' && x->type != 'l') ||
		    (x->type == 'l') != (x->link != NULL) ||
		    (x->link != NULL && strlen(x->link) > RFL_MAX_LINK))
			abort();
		if (i > 0 && strcmp(l->e[i - 1].path, x->path) >= 0)
			abort();
	}
}

static int same(const struct rfl_list *a, const struct rfl_list *b)
{
	size_t i;

	if (a->n != b->n)
		return 0;
	for (i = 0; i < a->n; i++) {
		const struct rfl_ent *x = &a->e[i], *y = &b->e[i];

		if (strcmp(x->path, y->path) != 0 || x->type != y->type ||
		    x->size != y->size || memcmp(x->sha, y->sha, 32) != 0 ||
		    (x->link == NULL) != (y->link == NULL) ||
		    (x->link != NULL && strcmp(x->link, y->link) != 0))
			return 0;
	}
	return 1;
}

static int read_buf(const uint8_t *data, size_t size, const struct rfl_bind *b,
                    struct rfl_list *l)
{
	FILE *f;
	int rv;

	memset(l, 0, sizeof(*l));
	/* fmemopen refuses a zero size. */
	if (size == 0)
		return LS_EPROTO;
	if ((f = fmemopen((void *)data, size, "r")) == NULL)
		abort();
	rv = rfl_read(f, b, l);
	fclose(f);
	if (rv < 0 && l->n != 0)
		abort();
	return rv;
}

/* data with its end line's checksum made right; NULL if it has none. */
static uint8_t *fix(const uint8_t *data, size_t size, size_t *outlen)
{
	uint8_t *out, sum[32];
	unsigned int sumlen = 0;
	size_t i, cut = 0;
	char hex[65];

	for (i = 0; i + 5 <= size; i++)
		if (memcmp(data + i, "\nend ", 5) == 0)
			cut = i + 1;
	if (cut == 0 || (out = malloc(cut + 69)) == NULL)
		return NULL;
	memcpy(out, data, cut);
	if (EVP_Digest(out, cut, sum, &sumlen, EVP_sha256(), NULL) != 1)
		abort();
	ls_hex(hex, sum, 32);
	memcpy(out + cut, "end ", 4);
	memcpy(out + cut + 4, hex, 64);
	out[cut + 68] = '\n';
	*outlen = cut + 69;
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rfl_list l, back;
	uint8_t *fixed = NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	if (size > 0 && data[0] == 1) {
		if ((fixed = fix(data + 1, size - 1, &size)) == NULL)
			return 0;
		data = fixed;
	}

	/* Bound to the fixed archive: its stat and names compared too. */
	if (read_buf(data, size, &want, &l) == 0)
		check(&l);
	rfl_list_free(&l);
	if (read_buf(data, size, NULL, &l) < 0) {
		free(fixed);
		return 0;
	}
	check(&l);
	if ((f = open_memstream(&buf, &len)) == NULL)
		abort();
	if (rfl_write(f, &want, &l) != 0)
		abort();
	fclose(f);
	if (read_buf((const uint8_t *)buf, len, &want, &back) != 0 ||
	    !same(&l, &back))
		abort();
	rfl_list_free(&back);
	rfl_list_free(&l);
	free(buf);
	free(fixed);
	return 0;
}
