/* Shared by the backup's and the restore's PostgreSQL code (backup_pg.c,
 * restore_pg*.c); not part of backup_pg.h's API, which hides libpq. */
#ifndef BACKUP_PG_INT_H
#define BACKUP_PG_INT_H

#include <stddef.h>

#include <libpq-fe.h>

/*
 * Connects with conninfo's password taken out of the connection string
 * (it goes as its own parameter), connect_timeout 10 s, application name
 * app. pw (pwlen bytes) receives the password, for scrubbing messages.
 * NULL on failure, err saying "[what: ]cannot connect to database "d" on
 * host: <libpq's first line>" with the password blanked.
 */
PGconn *backup_pg_connect(const char *conninfo, const char *app,
                          const char *what, char *pw, size_t pwlen, char *err,
                          size_t errlen);
/* First line of a libpq or server message, without the trailing newline,
 * in buf ("unknown error" for none). */
const char *backup_pg_line(const char *msg, char *buf, size_t size);

#endif
