/*
 * libFuzzer: the toolbox pod's `df -Pk` output as KubeRestore reads it
 * (kube_df_avail), over arbitrary bytes: never past the input, and what it
 * accepts has the POSIX header and a number where Available goes.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kube_cmd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t bytes = 0;

	if (kube_df_avail((const char *)data, size, &bytes) == 0 &&
	    (size < 10 || memcmp(data, "Filesystem", 10) != 0 ||
	     bytes % 1024 != 0))
		__builtin_trap();
	return 0;
}
