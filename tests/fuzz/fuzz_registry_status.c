/*
 * libFuzzer: the registry's `database migrate status` and `migrate up`
 * output parsers, and its config.yml reader, over arbitrary bytes. Every
 * input goes through all three; what they accept must be bounded and
 * well-formed.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "registry_config.h"
#include "registry_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_list(const struct reg_list *l)
{
	size_t i;

	if (l->n > REG_MIGRATIONS_MAX)
		__builtin_trap();
	for (i = 0; i < l->n; i++)
		if (!reg_valid_name(l->items[i].name, strlen(l->items[i].name)))
			__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	struct reg_list l = {0};
	struct reg_dbconf c;
	char err[256];
	int ok;

	err[0] = '\0';
	if (reg_parse_status(p, size, &l, err, sizeof(err)) == 0)
		check_list(&l);
	else if (err[0] == '\0')
		__builtin_trap(); /* every error says why */
	reg_list_free(&l);
	if (reg_parse_up(p, size, &l, &ok, err, sizeof(err)) == 0)
		check_list(&l);
	reg_list_free(&l);
	if (reg_config_parse(p, size, &c, err, sizeof(err)) == 0 &&
	    (strlen(c.host) > REG_HOST_MAX || c.port == 0 || c.port > 65535))
		__builtin_trap();
	return 0;
}
