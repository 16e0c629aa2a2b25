/* The harnesses' reader of their input: fields taken off the front. */
#ifndef FUZZ_READER_H
#define FUZZ_READER_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct reader {
	const uint8_t *p;
	size_t left;
};

/* n bytes into out; -1 when fewer are left. */
static inline int take(struct reader *r, void *out, size_t n)
{
	if (r->left < n)
		return -1;
	memcpy(out, r->p, n);
	r->p += n;
	r->left -= n;
	return 0;
}

#endif
