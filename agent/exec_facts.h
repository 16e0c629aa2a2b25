/* NodeFacts of this node, as reported in every Poll. */
#ifndef EXEC_FACTS_H
#define EXEC_FACTS_H

#include "lockstep.pb-c.h"

struct agent_config;

/* msg points into the buffers beside it: keep the struct alive while msg
 * is used. */
struct agent_facts {
	Ls__NodeFacts msg;
	char hostname[256];
	char version[24];
	char edition[3];
	char package[10];
	char os[256];
	char agent_version[32];
	char install_method[16];
};

/* Facts that cannot be found are left unset: this never fails. */
void agent_facts_collect(const struct agent_config *cfg, struct agent_facts *f);

#endif
