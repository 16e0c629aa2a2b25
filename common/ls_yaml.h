/*
 * Strict schema-driven YAML configuration loading (libyaml). Every error
 * names file:line and the key at fault: an unknown key, a wrong type, a
 * value out of range or a missing required key.
 */
#ifndef LS_YAML_H
#define LS_YAML_H

#include <stddef.h>
#include <stdint.h>

enum ls_cfg_type {
	LS_CFG_STRING,   /* char *, heap; default from def */
	LS_CFG_INT,      /* long long within [min,max] */
	LS_CFG_BOOL,     /* int: true/false only */
	LS_CFG_DURATION, /* int64_t milliseconds: "250ms", "30s", "5m", "1h",
	                    "2d" or bare seconds */
	LS_CFG_SIZE, /* uint64_t bytes: "512", "10KiB", "64MiB", "2GiB", "1TiB"
	                (also KB/MB/GB = 1000^n) */
	LS_CFG_STRLIST, /* struct ls_strlist */
	LS_CFG_MAP,     /* nested struct at offset, described by sub */
	LS_CFG_MAPLIST, /* struct ls_maplist of elem_size structs described by
	                   sub */
};

struct ls_strlist {
	char **items;
	size_t n;
};

struct ls_maplist {
	void *items; /* n * elem_size bytes */
	size_t n;
};

struct ls_cfg_field {
	const char *key; /* NULL ends a schema */
	enum ls_cfg_type type;
	size_t offset; /* offsetof in the target struct */
	int required;
	const char *def; /* default as YAML scalar text, or NULL */
	/*
	 * Bounds for INT, SIZE (bytes) and DURATION (ms). 0,0 means no bound,
	 * except that a DURATION must then be > 0; give min 0 explicitly to
	 * allow a zero duration.
	 */
	long long min, max;
	const struct ls_cfg_field *sub; /* MAP / MAPLIST */
	size_t elem_size;               /* MAPLIST */
	/*
	 * Optional validation of a value taken from the file (never of a
	 * default), run once its whole mapping is loaded so that it may compare
	 * sibling fields through parent (the struct holding the field).
	 * Returns 0, or -1 with why set; the loader adds file:line and key.
	 */
	int (*check)(const void *value, const void *parent, char *why,
	             size_t whylen);
};

/*
 * Loads path into out (zeroed by the caller) following schema. On error
 * returns LS_ECONFIG (or -errno when the file cannot be read) and writes
 * "FILE:LINE: key 'a.b': message" into err. Defaults are applied for keys
 * that are absent, including in nested maps that are absent. A failed load
 * has already freed whatever it had put into out.
 */
int ls_cfg_load(const char *path, const struct ls_cfg_field *schema, void *out,
                char *err, size_t errlen);
/* Same from memory; name is used in messages in place of the path. */
int ls_cfg_load_buf(const char *name, const char *buf, size_t len,
                    const struct ls_cfg_field *schema, void *out, char *err,
                    size_t errlen);
/* Validators shared by the schemas (struct ls_cfg_field.check). */
/* A string that must not be empty: an empty path would mean ".". */
int ls_cfg_check_nonempty(const void *value, const void *parent, char *why,
                          size_t whylen);
/* One of error, warn, info, debug. */
int ls_cfg_check_log_level(const void *value, const void *parent, char *why,
                           size_t whylen);

/* Frees every heap value the schema put into out. */
void ls_cfg_free(const struct ls_cfg_field *schema, void *out);

#endif
