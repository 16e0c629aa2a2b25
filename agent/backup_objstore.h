/*
 * Which file components GitLab keeps in object storage, read from the
 * gitlab.yml that `gitlab-ctl reconfigure` renders on a rails node
 * (agent.yml gitlab.rails_config, default
 * /var/opt/gitlab/gitlab-rails/etc/gitlab.yml).
 *
 * A component in object storage whose local directory holds no file is not
 * archived: GitLab's own backup leaves such a component to the object
 * store's own backup. Files still on local disk are always archived.
 */
#ifndef BACKUP_OBJSTORE_H
#define BACKUP_OBJSTORE_H

#include <stddef.h>

/* Files bigger than this are refused (the rendered gitlab.yml is ~30 KiB). */
#define BACKUP_OBJSTORE_MAX_FILE (4u * 1024 * 1024)

struct backup_objstore {
	int found;     /* the file existed and parsed */
	unsigned mask; /* bit i: backup_objstore_types()[i] is enabled */
};

/* The gitlab.yml sections with an object_store (NULL-terminated), in
 * gitlab.yml.example's order. */
const char *const *backup_objstore_types(void);

/*
 * Parses a rendered gitlab.yml held in memory. name is used in messages.
 * 0 on success (out filled, out->found = 1); LS_ECONFIG with
 * "NAME:LINE: problem" in err for YAML that does not parse, LS_ETOOBIG
 * when len exceeds BACKUP_OBJSTORE_MAX_FILE. On error out says nothing
 * is enabled.
 */
int backup_objstore_parse(const char *name, const char *buf, size_t len,
                          struct backup_objstore *out, char *err,
                          size_t errlen);

/*
 * Reads and parses path. A missing file is not an error: 0 with
 * out->found = 0 and nothing enabled. Other failures as above (or -errno).
 */
int backup_objstore_load(const char *path, struct backup_objstore *out,
                         char *err, size_t errlen);

/* 1 if the file component (uploads, artifacts, ...) is in object storage. */
int backup_objstore_enabled(const struct backup_objstore *o,
                            const char *component);

#endif
