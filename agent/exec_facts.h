/* NodeFacts of this node, as reported in every Poll. */
#ifndef EXEC_FACTS_H
#define EXEC_FACTS_H

#include "lockstep.pb-c.h"

struct agent_config;

/* Storage names beyond this are left out of the facts. */
#define AGENT_FACTS_MAX_STORAGES 64

/* msg points into the buffers beside it and into cfg: keep both alive
 * while msg is used. */
struct agent_facts {
	Ls__NodeFacts msg;
	char hostname[256];
	char version[24];
	char edition[3];
	char package[10];
	char os[256];
	char os_id[64];         /* os-release ID, "debian" */
	char os_version_id[64]; /* os-release VERSION_ID, "12" */
	char agent_version[32];
	char install_method[16];
	char patroni_role[8]; /* "leader" | "replica" */
	/* the configured Gitaly storages' names (cfg's strings) */
	char *storages[AGENT_FACTS_MAX_STORAGES];
};

/* Facts that cannot be found are left unset: this never fails. */
void agent_facts_collect(const struct agent_config *cfg, struct agent_facts *f);

#endif
