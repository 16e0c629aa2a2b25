/* Fuzzes the join token decoder with text an operator might paste. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ls_token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Ls__JoinToken *tok = NULL;
	char *text;

	if (sodium_init() < 0 || size > 4096)
		return 0;
	text = malloc(size + 5);
	if (text == NULL)
		return 0;
	/* Half the inputs get the right prefix so the decoder goes deep. */
	if (size > 0 && (data[0] & 1)) {
		memcpy(text, "LS1-", 4);
		memcpy(text + 4, data + 1, size - 1);
		text[size + 3] = '\0';
	} else {
		memcpy(text, data, size);
		text[size] = '\0';
	}
	if (ls_token_decode(text, &tok) == 0)
		ls__join_token__free_unpacked(tok, NULL);
	free(text);
	return 0;
}
