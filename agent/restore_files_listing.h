/*
 * What a file component's archive holds, as its verification compares it
 * with the tree: (path, type, size, SHA-256 or link target) per entry. The
 * extraction computes it as it streams the archive and saves it, bound to
 * that archive file, so that the verification need not read the archive a
 * second time. The saved file is a cache: any doubt about it and the
 * verification reads the archive as before.
 */
#ifndef RESTORE_FILES_LISTING_H
#define RESTORE_FILES_LISTING_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

/* Caps on what a saved listing may hold; more and it is not used. */
#define RFL_MAX_ENTRIES (1u << 24) /* RESTORE_TAR_MAX_ENTRIES */
#define RFL_MAX_PATH 4096          /* RESTORE_TAR_MAX_NAME */
#define RFL_MAX_LINK 16384

struct rfl_ent {
	char *path;
	char *link;   /* symlink target */
	char type;    /* 'd', 'f', 'l', or '?' for anything else on disk */
	uint64_t seq; /* archive order: a later duplicate wins, as in tar */
	uint64_t size;
	uint8_t sha[32];
};

struct rfl_list {
	struct rfl_ent *e;
	size_t n, cap;
	/* Set when the list cannot be what reading the archive would give
	 * (an entry the verification would refuse, a cap passed): such a
	 * list is never saved. */
	int bad;
};

void rfl_list_free(struct rfl_list *l);
/* A new entry owning copies of path and link; NULL when out of memory or
 * past RFL_MAX_ENTRIES. The pointer is valid until the next add. */
struct rfl_ent *rfl_list_add(struct rfl_list *l, const char *path, char type,
                             const char *link);
/* Sorted by path; of duplicates only the last added is kept. */
void rfl_list_sort(struct rfl_list *l);
/* The last file entry added at path (what a hard link to it gets). */
const struct rfl_ent *rfl_find_file(const struct rfl_list *l, const char *path);

/* What a listing is bound to: the archive file as it was when its
 * entries were read, the component and the directory restored. */
struct rfl_bind {
	const char *component;
	const char *dir;
	const char *archive;
	uint64_t dev, ino, size;
	int64_t mtime_s, mtime_ns, ctime_s, ctime_ns;
};

/* b's stat fields from st; the strings are the caller's. */
void rfl_bind_stat(struct rfl_bind *b, const struct stat *st);

/* <listing_dir>/<component>.listing */
int rfl_path(char *out, size_t len, const char *listing_dir,
             const char *component);

/* Writes b and the sorted, deduplicated list l to f. */
int rfl_write(FILE *f, const struct rfl_bind *b, const struct rfl_list *l);

/*
 * Reads a listing from f into out (sorted, no duplicates, as written). If
 * want is not NULL, a listing bound to anything else is LS_ESTATE before
 * its entries are read. A malformed, truncated or altered listing, or one
 * past a cap, is LS_EPROTO or LS_ETOOBIG; out is then empty.
 */
int rfl_read(FILE *f, const struct rfl_bind *want, struct rfl_list *out);

/* rfl_write to rfl_path atomically (temporary, fsync, rename), mode 0600;
 * listing_dir is created (0700) if missing. */
int rfl_save(const char *listing_dir, const struct rfl_bind *b,
             const struct rfl_list *l);

/* rfl_read of rfl_path; LS_ENOENT if there is none. */
int rfl_load(const char *listing_dir, const struct rfl_bind *want,
             struct rfl_list *out);

#endif
