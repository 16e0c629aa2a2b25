/* Small helpers shared by every binary: bounded strings, files, encodings. */
#ifndef LS_UTIL_H
#define LS_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define LS_PATH_MAX 4096

/* Copies at most size-1 bytes and always terminates; returns strlen(src). */
size_t ls_strlcpy(char *dst, const char *src, size_t size);

/* snprintf that reports truncation as LS_ETOOBIG. */
int ls_fmt(char *dst, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Reads a whole file into a NUL-terminated heap buffer. A file longer than
 * max bytes is LS_ETOOBIG. *out is freed by the caller.
 */
int ls_read_file(const char *path, size_t max, char **out, size_t *len);

/* write(2) until done, retrying on EINTR; 0 or -errno. */
int ls_write_all(int fd, const void *data, size_t len);

/*
 * Writes data to path atomically: a temporary in the same directory,
 * fsync, rename, fsync of the directory. mode applies to the new file.
 */
int ls_write_atomic(const char *path, const void *data, size_t len,
                    mode_t mode);

/* mkdir -p with the given mode for every directory it creates. */
int ls_mkdirs(const char *path, mode_t mode);

/* Removes a directory tree (no symlink following). */
int ls_rmtree(const char *path);

/* Lower-case hex; out must hold 2*len+1 bytes. */
void ls_hex(char *out, const uint8_t *in, size_t len);
/* Returns bytes decoded or a negative error; exact length required. */
int ls_unhex(uint8_t *out, size_t outlen, const char *in);

/* Parses a decimal integer in [min,max]; the whole string must be used. */
int ls_parse_int(const char *s, long long min, long long max, long long *out);

/* Seconds since the epoch and a monotonic clock in milliseconds. */
int64_t ls_now(void);
int64_t ls_mono_ms(void);

/* 0 if name is a valid node name: [a-z0-9][a-z0-9._-]{0,62}. */
int ls_node_name_valid(const char *name);

/* Appends a copy of s to a growing array of strings (*names, *n, *cap). */
int ls_names_push(char ***names, size_t *n, size_t *cap, const char *s);
/* Frees such an array; NULL-safe. */
void ls_names_free(char **names, size_t n);
/*
 * The names in the directory dirfd ("." and ".." left out, and those keep
 * (may be NULL) returns 0 for), sorted by strcmp when sort is set, read
 * from its start whatever dirfd's offset; dirfd stays open. On failure
 * *names is NULL and *n 0.
 */
int ls_dir_names(int dirfd, int (*keep)(void *arg, const char *name), void *arg,
                 int sort, char ***names, size_t *n);

/* Wipes secrets in a way the compiler keeps. */
void ls_wipe(void *p, size_t len);

/*
 * Durations as administrators write them: "250ms", "30s", "5m", "1h",
 * "2d", or a bare number of seconds. Result in milliseconds, > 0.
 */
int ls_parse_duration_ms(const char *s, int64_t *out_ms);

#endif
