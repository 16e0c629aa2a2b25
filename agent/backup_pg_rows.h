/*
 * Row counts of every table in a plain-format pg_dump stream, read as it
 * passes (backup_pg_rows.c says how and why).
 */
#ifndef BACKUP_PG_ROWS_H
#define BACKUP_PG_ROWS_H

#include <stddef.h>
#include <stdint.h>

struct backup_pg_rows;

/* NULL when out of memory. */
struct backup_pg_rows *backup_pg_rows_new(void);
void backup_pg_rows_free(struct backup_pg_rows *r);
/* The next len bytes of the dump. LS_EPROTO once the dump is not one whose
 * rows can be counted (backup_pg_rows_why says why; later calls return it
 * again), LS_ENOMEM. */
int backup_pg_rows_feed(struct backup_pg_rows *r, const void *buf, size_t len);
/* After the last byte: cb gets each table ("schema.table", unquoted) in
 * dump order; its non-zero return stops the walk and is returned.
 * LS_EPROTO as above, also for a dump that ends inside a table's data. */
int backup_pg_rows_finish(struct backup_pg_rows *r,
                          int (*cb)(void *arg, const char *schema_table,
                                    uint64_t rows),
                          void *arg);
const char *backup_pg_rows_why(const struct backup_pg_rows *r);

#endif
