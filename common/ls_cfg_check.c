/* Validators shared by the configuration schemas. */
#include "ls_log.h"
#include "ls_util.h"
#include "ls_yaml.h"

int ls_cfg_check_nonempty(const void *value, const void *parent, char *why,
                          size_t whylen)
{
	const char *const *s = value;

	(void)parent;
	if ((*s)[0] != '\0')
		return 0;
	ls_strlcpy(why, "must not be empty", whylen);
	return -1;
}

int ls_cfg_check_log_level(const void *value, const void *parent, char *why,
                           size_t whylen)
{
	const char *const *s = value;

	(void)parent;
	if (log_level_parse(*s) >= 0)
		return 0;
	ls_strlcpy(why, "must be one of error, warn, info, debug", whylen);
	return -1;
}
