/* libFuzzer: gitlab-ctl status parser over arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "check_gitlabctl_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gitlabctl_service s[32];
	size_t n = 0, i;

	gitlabctl_parse((const char *)data, size, s, 32, &n);
	if (n > 32)
		__builtin_trap();
	for (i = 0; i < n; i++) {
		/* Every string the parser hands out is terminated and
		 * printable. */
		if (memchr(s[i].name, '\0', sizeof(s[i].name)) == NULL ||
		    memchr(s[i].text, '\0', sizeof(s[i].text)) == NULL)
			__builtin_trap();
		if (s[i].state == GITLABCTL_GARBAGE && s[i].name[0] != '\0')
			__builtin_trap();
	}
	return 0;
}
