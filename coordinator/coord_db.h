/* The coordinator's SQLite database: nodes, join tokens, session marks. */
#ifndef COORD_DB_H
#define COORD_DB_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "coord_state.h"

int coord_db_open(const char *path, sqlite3 **db);
void coord_db_close(sqlite3 *db);

/* Loads every node row into c (enrolled, pending and removed). */
int coord_db_load_nodes(struct coord *c);

/* A new pending node and its token; replaces unused tokens of that name. */
int coord_db_node_add(sqlite3 *db, const struct coord_node *n,
                      const uint8_t *token_id, const uint8_t *secret,
                      int64_t expires);

struct coord_token {
	char node[LS_NODE_NAME_MAX + 1];
	uint8_t secret[32];
	int64_t expires;
	int64_t used_at;
};
/* LS_EUNKNOWN when there is no such token. */
int coord_db_token_get(sqlite3 *db, const uint8_t *token_id,
                       struct coord_token *t);
/* 0 if the token may be used at `now`, else LS_EUSED or LS_EEXPIRED. */
int coord_token_usable(const struct coord_token *t, int64_t now);
/*
 * Marks the token used and the node enrolled with its key, in one
 * transaction; LS_EUSED if the token was used meanwhile.
 */
int coord_db_enroll(sqlite3 *db, const uint8_t *token_id,
                    const struct coord_node *n, const char *cert_fp_hex);

int coord_db_node_remove(sqlite3 *db, const char *name, int64_t when);
int coord_db_node_session(sqlite3 *db, const char *name, uint64_t session);
int coord_db_node_report(sqlite3 *db, const struct coord_node *n);

#endif
