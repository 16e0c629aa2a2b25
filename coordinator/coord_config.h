/* coordinator.yml */
#ifndef COORD_CONFIG_H
#define COORD_CONFIG_H

#include <stdint.h>

#include "ls_yaml.h"

struct coord_config {
	char *state_dir; /* default /var/lib/lockstep */
	char *log_level; /* default info */
	char *listen;    /* fleet listener, default tls+tcp://0.0.0.0:7441 */
	char *enroll_listen;  /* enrollment listener, default
	                         tls+tcp://0.0.0.0:7442 */
	char *advertise_host; /* host agents dial; default: the machine's
	                         hostname */
	struct ls_strlist
	    server_names;     /* DNS SANs of the coordinator certificate;
	                       * default: [advertise_host] (the loader
	                       * leaves it empty; the coordinator fills it) */
	char *control_socket; /* default: <state_dir>/control.sock (empty string
	                       * default; the coordinator fills it) */
	int64_t poll_timeout; /* default 25s */
	int64_t check_timeout;     /* default 2m */
	int64_t token_ttl;         /* default 1h */
	uint64_t max_message_size; /* default 16MiB */
	char *backup_store;       /* file:// path or plain path; "" = <state_dir>/backups */
	int64_t cut_timeout;      /* default 5m */
	int64_t freeze_lease;     /* default 60s: maintenance mode's lease */
	int64_t sidekiq_wait;     /* default 30s: wait for idle Sidekiq */
	char *maintenance_message;
	int64_t backup_timeout;   /* default 12h */
	int backup_redis;         /* default false: BGSAVE on redis nodes */
};

int coord_config_load(const char *path, struct coord_config *cfg, char *err,
                      size_t errlen);
void coord_config_free(struct coord_config *cfg);
/* The schema coord_config_load uses, without the hostname default. */
const struct ls_cfg_field *coord_config_schema(void);

#endif
