/*
 * Config loader fuzzer: the same bytes go through the agent and the
 * coordinator schemas, so both sets of checks and defaults are exercised.
 * Sanitizers and LeakSanitizer do the judging; the results are only freed.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "agent_config.h"
#include "coord_config.h"
#include "ls_error.h"
#include "ls_yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agent_config a;
	struct coord_config c;
	char err[256];
	int rv;

	memset(&a, 0, sizeof(a));
	rv = ls_cfg_load_buf("fuzz.yml", (const char *)data, size,
	                     agent_config_schema(), &a, err, sizeof(err));
	/* A failed load must have freed everything and said why. */
	if (rv < 0 && (a.state_dir != NULL || err[0] == '\0'))
		__builtin_trap();
	ls_cfg_free(agent_config_schema(), &a);

	memset(&c, 0, sizeof(c));
	rv = ls_cfg_load_buf("fuzz.yml", (const char *)data, size,
	                     coord_config_schema(), &c, err, sizeof(err));
	if (rv < 0 && (c.state_dir != NULL || err[0] == '\0'))
		__builtin_trap();
	ls_cfg_free(coord_config_schema(), &c);
	return 0;
}
