#include "coord_config.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ls_error.h"
#include "ls_log.h"
#include "ls_util.h"

#define C(f) offsetof(struct coord_config, f)

#define MS_SECOND 1000LL
#define MS_MINUTE (60 * MS_SECOND)
#define MS_DAY (24 * 60 * MS_MINUTE)

/*
 * Agents are authenticated by mutual TLS: a plain tcp:// listener would
 * accept anyone. Both listeners are checked from either key so that the
 * one the file sets is named.
 */
static int check_listen(const void *value, const void *parent, char *why,
                        size_t whylen)
{
	static const char scheme[] = "tls+tcp://";
	const struct coord_config *cfg = parent;
	const char *const *s = value;

	if (strncmp(*s, scheme, sizeof(scheme) - 1) != 0 ||
	    (*s)[sizeof(scheme) - 1] == '\0') {
		ls_strlcpy(why, "must be a tls+tcp://HOST:PORT address",
		           whylen);
		return -1;
	}
	if (cfg->listen != NULL && cfg->enroll_listen != NULL &&
	    strcmp(cfg->listen, cfg->enroll_listen) == 0) {
		ls_strlcpy(why, "listen and enroll_listen must differ", whylen);
		return -1;
	}
	return 0;
}

static int check_names(const void *value, const void *parent, char *why,
                       size_t whylen)
{
	const struct ls_strlist *l = value;
	size_t i;

	for (i = 0; i < l->n; i++)
		if (l->items[i][0] == '\0') {
			(void)ls_fmt(why, whylen, "entry %zu is empty", i);
			return -1;
		}
	return 0;
}

static const struct ls_cfg_field coord_fields[] = {
    {.key = "state_dir",
     .type = LS_CFG_STRING,
     .offset = C(state_dir),
     .def = "/var/lib/lockstep",
     .check = ls_cfg_check_nonempty},
    {.key = "log_level",
     .type = LS_CFG_STRING,
     .offset = C(log_level),
     .def = "info",
     .check = ls_cfg_check_log_level},
    {.key = "listen",
     .type = LS_CFG_STRING,
     .offset = C(listen),
     .def = "tls+tcp://0.0.0.0:7441",
     .check = check_listen},
    {.key = "enroll_listen",
     .type = LS_CFG_STRING,
     .offset = C(enroll_listen),
     .def = "tls+tcp://0.0.0.0:7442",
     .check = check_listen},
    /* No default here: the hostname is looked up by coord_config_load. */
    {.key = "advertise_host",
     .type = LS_CFG_STRING,
     .offset = C(advertise_host),
     .check = ls_cfg_check_nonempty},
    {.key = "server_names",
     .type = LS_CFG_STRLIST,
     .offset = C(server_names),
     .check = check_names},
    {.key = "control_socket",
     .type = LS_CFG_STRING,
     .offset = C(control_socket),
     .def = "",
     .check = ls_cfg_check_nonempty},
    /* Agents hold a poll this long; nng resends a request after 60 s. */
    {.key = "poll_timeout",
     .type = LS_CFG_DURATION,
     .offset = C(poll_timeout),
     .def = "25s",
     .min = MS_SECOND,
     .max = 10 * MS_MINUTE},
    {.key = "check_timeout",
     .type = LS_CFG_DURATION,
     .offset = C(check_timeout),
     .def = "2m"},
    /* A join token is a secret in transit: it should not live for months. */
    {.key = "token_ttl",
     .type = LS_CFG_DURATION,
     .offset = C(token_ttl),
     .def = "1h",
     .min = MS_MINUTE,
     .max = 30 * MS_DAY},
    {.key = "max_message_size",
     .type = LS_CFG_SIZE,
     .offset = C(max_message_size),
     .def = "16MiB",
     .min = 4096,
     .max = 1LL << 30},
    /* Where backups are written: a directory every node can reach at the
     * same path (a shared mount on a real fleet); "" means
     * <state_dir>/backups. */
    {.key = "backup_store",
     .type = LS_CFG_STRING,
     .offset = C(backup_store),
     .def = ""},
    /* The cut runs while GitLab is frozen: keep it bounded. */
    {.key = "cut_timeout",
     .type = LS_CFG_DURATION,
     .offset = C(cut_timeout),
     .def = "5m"},
    /* If the coordinator goes silent, the rails agent turns maintenance
     * mode off when this lease ends. */
    {.key = "freeze_lease",
     .type = LS_CFG_DURATION,
     .offset = C(freeze_lease),
     .def = "60s",
     .min = 5 * MS_SECOND,
     .max = 60 * MS_MINUTE},
    {.key = "sidekiq_wait",
     .type = LS_CFG_DURATION,
     .offset = C(sidekiq_wait),
     .def = "30s"},
    {.key = "maintenance_message",
     .type = LS_CFG_STRING,
     .offset = C(maintenance_message),
     .def = "GitLab is read-only for a few seconds while a consistent backup "
            "is taken."},
    {.key = "backup_timeout",
     .type = LS_CFG_DURATION,
     .offset = C(backup_timeout),
     .def = "12h"},
    /* GitLab's backup never includes Redis: Lockstep's own artifact,
     * lockstep/redis/<node>/dump.rdb.gz, from a BGSAVE at the cut on every
     * node with the redis role. Off by default, as the save adds its time
     * to the freeze. */
    {.key = "backup_redis",
     .type = LS_CFG_BOOL,
     .offset = C(backup_redis),
     .def = "false"},
    {.key = NULL},
};

const struct ls_cfg_field *coord_config_schema(void)
{
	return coord_fields;
}

int coord_config_load(const char *path, struct coord_config *cfg, char *err,
                      size_t errlen)
{
	char host[256];
	int rv;

	memset(cfg, 0, sizeof(*cfg));
	rv = ls_cfg_load(path, coord_fields, cfg, err, errlen);
	if (rv < 0 || cfg->advertise_host != NULL)
		return rv;
	if (gethostname(host, sizeof(host)) < 0 || host[0] == '\0') {
		rv = LS_ECONFIG;
		(void)ls_fmt(err, errlen,
		             "%s: key 'advertise_host': no hostname to use as "
		             "its default; set it",
		             path);
		goto out;
	}
	/* POSIX leaves a truncated name unterminated. */
	host[sizeof(host) - 1] = '\0';
	cfg->advertise_host = strdup(host);
	if (cfg->advertise_host == NULL)
		rv = LS_ENOMEM;
out:
	if (rv < 0)
		coord_config_free(cfg);
	return rv;
}

void coord_config_free(struct coord_config *cfg)
{
	if (cfg != NULL)
		ls_cfg_free(coord_fields, cfg);
}
