/* Shared by the configuration tests: test schemas, loaders, macros. */
#ifndef CONFIG_TESTUTIL_H
#define CONFIG_TESTUTIL_H

/* ls_yaml loader, agent.yml and coordinator.yml schemas. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_config.h"
#include "coord_config.h"
#include "ls_error.h"
#include "ls_yaml.h"
#include "testutil.h"

#define MS_S 1000LL
#define MS_M (60 * MS_S)
#define MS_H (60 * MS_M)
#define MS_D (24 * MS_H)

/* A schema with every field type, independent of the real configs. */
struct titem {
	char *k;
	long long v;
};

struct tcfg {
	char *name;
	long long count;
	long long any;
	int flag;
	int64_t wait;
	int64_t maybe;
	uint64_t size;
	struct ls_strlist tags;
	struct {
		char *host;
		long long port;
	} inner;
	struct ls_maplist items;
};

#define T(f) offsetof(struct tcfg, f)
#define TI(f) (offsetof(struct tcfg, inner.f) - offsetof(struct tcfg, inner))

#define TT(f) offsetof(struct titem, f)

static const struct ls_cfg_field titem_fields[] __attribute__((unused)) = {
    {.key = "k", .type = LS_CFG_STRING, .offset = TT(k), .required = 1},
    {.key = "v", .type = LS_CFG_INT, .offset = TT(v), .def = "3"},
    {.key = NULL},
};

static const struct ls_cfg_field tinner_fields[] __attribute__((unused)) = {
    {.key = "host", .type = LS_CFG_STRING, .offset = TI(host), .def = "h"},
    {.key = "port",
     .type = LS_CFG_INT,
     .offset = TI(port),
     .def = "1",
     .min = 1,
     .max = 65535},
    {.key = NULL},
};

static const struct ls_cfg_field tfields[] __attribute__((unused)) = {
    {.key = "name", .type = LS_CFG_STRING, .offset = T(name), .required = 1},
    {.key = "count",
     .type = LS_CFG_INT,
     .offset = T(count),
     .def = "7",
     .min = -5,
     .max = 100},
    {.key = "any", .type = LS_CFG_INT, .offset = T(any)},
    {.key = "flag", .type = LS_CFG_BOOL, .offset = T(flag), .def = "false"},
    {.key = "wait", .type = LS_CFG_DURATION, .offset = T(wait), .def = "30s"},
    {.key = "maybe",
     .type = LS_CFG_DURATION,
     .offset = T(maybe),
     .def = "0",
     .min = 0,
     .max = MS_H},
    {.key = "size", .type = LS_CFG_SIZE, .offset = T(size), .def = "1MiB"},
    {.key = "tags", .type = LS_CFG_STRLIST, .offset = T(tags), .def = "[a, b]"},
    {.key = "inner",
     .type = LS_CFG_MAP,
     .offset = T(inner),
     .sub = tinner_fields},
    {.key = "items",
     .type = LS_CFG_MAPLIST,
     .offset = T(items),
     .sub = titem_fields,
     .elem_size = sizeof(struct titem)},
    {.key = NULL},
};

/* Same nested map, but with a required key inside it. */
static const struct ls_cfg_field treq_inner[] __attribute__((unused)) = {
    {.key = "host", .type = LS_CFG_STRING, .offset = TI(host), .required = 1},
    {.key = NULL},
};
static const struct ls_cfg_field treq_fields[] __attribute__((unused)) = {
    {.key = "count", .type = LS_CFG_INT, .offset = T(count)},
    {.key = "inner", .type = LS_CFG_MAP, .offset = T(inner), .sub = treq_inner},
    {.key = NULL},
};

static char err[512] __attribute__((unused));

static inline int tload(const char *text, struct tcfg *c)
{
	memset(c, 0, sizeof(*c));
	return ls_cfg_load_buf("t.yml", text, strlen(text), tfields, c, err,
	                       sizeof(err));
}

static inline int rload(const char *text, struct tcfg *c)
{
	memset(c, 0, sizeof(*c));
	return ls_cfg_load_buf("r.yml", text, strlen(text), treq_fields, c, err,
	                       sizeof(err));
}

static inline int aload(const char *text, struct agent_config *c)
{
	memset(c, 0, sizeof(*c));
	return ls_cfg_load_buf("agent.yml", text, strlen(text),
	                       agent_config_schema(), c, err, sizeof(err));
}

static inline int cload(const char *text, struct coord_config *c)
{
	memset(c, 0, sizeof(*c));
	return ls_cfg_load_buf("coordinator.yml", text, strlen(text),
	                       coord_config_schema(), c, err, sizeof(err));
}

/* Expects a failure with exactly this message prefix. */
#define AGENT_ERR(text, want)                                                  \
	do {                                                                   \
		struct agent_config ae_c;                                      \
		CHECK_EQ_INT(aload(text, &ae_c), LS_ECONFIG);                  \
		CHECK_CONTAINS(err, want);                                     \
		CHECK(ae_c.state_dir == NULL);                                 \
		agent_config_free(&ae_c);                                      \
	} while (0)

#define COORD_ERR(text, want)                                                  \
	do {                                                                   \
		struct coord_config ce_c;                                      \
		CHECK_EQ_INT(cload(text, &ce_c), LS_ECONFIG);                  \
		CHECK_CONTAINS(err, want);                                     \
		coord_config_free(&ce_c);                                      \
	} while (0)

#define T_ERR(text, want)                                                      \
	do {                                                                   \
		struct tcfg te_c;                                              \
		CHECK_EQ_INT(tload(text, &te_c), LS_ECONFIG);                  \
		CHECK_CONTAINS(err, want);                                     \
		CHECK(te_c.name == NULL && te_c.tags.items == NULL &&          \
		      te_c.items.items == NULL);                               \
		ls_cfg_free(tfields, &te_c);                                   \
	} while (0)

#endif
