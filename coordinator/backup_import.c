/*
 * lockstep backup import (backup_import.h): staging, GitLab's metadata
 * checked against the id, the artifacts of GitLab's layout checksummed,
 * the signed manifest, and the move into the store and the catalog.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "backup_import.h"
#include "backup_manifest.h"
#include "coord_catalog.h"
#include "ls_afile.h"
#include "ls_error.h"
#include "ls_log.h"

#define IMPORT_MAX_THREADS 4
#define RAKE_SUFFIX "_gitlab_backup.tar"

/* GitLab's file components, archived as <name>.tar.gz at the top. */
static const char *const file_components[] = {
    "uploads",        "builds",   "artifacts",
    "pages",          "lfs",      "terraform_state",
    "registry",       "packages", "ci_secure_files",
    "external_diffs", NULL,
};

struct artifact {
	char *path; /* relative to the backup */
	const char *component;
	uint64_t size;
	uint8_t sha[32];
};

struct scan {
	struct backup_import *imp;
	struct artifact *arts;
	size_t n, cap;
	pthread_mutex_t mtx;
	size_t next;
	struct import_progress prog;
	int rv;
	char *err;
	size_t errlen;
};

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* "<id>_gitlab_backup.tar" -> id, checked against GitLab's prune regex. */
static int rake_id(const char *src, char *id, size_t idlen, char *err,
                   size_t errlen)
{
	const char *base = strrchr(src, '/');
	size_t n;

	base = base ? base + 1 : src;
	n = strlen(base);
	if (!ends_with(base, RAKE_SUFFIX) || n - strlen(RAKE_SUFFIX) >= idlen) {
		snprintf(err, errlen, "%s: not named <backup id>" RAKE_SUFFIX,
		         src);
		return LS_EINVAL;
	}
	memcpy(id, base, n - strlen(RAKE_SUFFIX));
	id[n - strlen(RAKE_SUFFIX)] = '\0';
	if (backup_id_parse(id, NULL, NULL, 0) < 0) {
		snprintf(err, errlen, "%s: '%s' is not a GitLab backup id", src,
		         id);
		return LS_EINVAL;
	}
	return 0;
}

int backup_import_peek_id(const char *src, char *id, size_t idlen, char *err,
                          size_t errlen)
{
	struct import_meta m;
	struct stat st;
	char path[LS_PATH_MAX + 32];
	int rv;

	if (src[0] != '/') {
		snprintf(err, errlen, "%s: not an absolute path", src);
		return LS_EINVAL;
	}
	if (stat(src, &st) < 0) {
		rv = -errno;
		snprintf(err, errlen, "%s: %s", src, ls_strerror(rv));
		return rv;
	}
	if (S_ISREG(st.st_mode))
		return rake_id(src, id, idlen, err, errlen);
	if (!S_ISDIR(st.st_mode) ||
	    ls_fmt(path, sizeof(path), "%s/backup_information.json", src) < 0 ||
	    access(path, F_OK) < 0) {
		snprintf(err, errlen,
		         "%s: neither a <id>" RAKE_SUFFIX " nor a "
		         "gitlab-backup-cli directory with "
		         "backup_information.json",
		         src);
		return LS_EINVAL;
	}
	if ((rv = import_meta_json(path, path, &m, err, errlen)) < 0)
		return rv;
	if (ls_fmt(id, idlen, "%s", m.backup_id) < 0)
		return LS_ETOOBIG;
	return 0;
}

/* The id, version and metadata must agree: restore picks the running
 * GitLab version from them. */
static int check_meta(struct backup_import *imp, const struct import_meta *m,
                      const char *file, char *err, size_t errlen)
{
	char idver[BACKUP_VERSION_MAX];

	if (backup_id_parse(imp->id, NULL, idver, sizeof(idver)) < 0) {
		snprintf(err, errlen, "%s: '%s' is not a GitLab backup id",
		         imp->src, imp->id);
		return LS_EINVAL;
	}
	if (m->backup_id[0] != '\0' && strcmp(m->backup_id, imp->id) != 0) {
		snprintf(err, errlen,
		         "%s: key 'backup_id' is '%s' but the backup is '%s'",
		         file, m->backup_id, imp->id);
		return LS_EINVAL;
	}
	if (idver[0] != '\0' && strcmp(idver, m->gitlab_version) != 0) {
		snprintf(err, errlen,
		         "%s: key 'gitlab_version' is '%s' but the backup id "
		         "'%s' says %s",
		         file, m->gitlab_version, imp->id, idver);
		return LS_EINVAL;
	}
	ls_strlcpy(imp->gitlab_version, m->gitlab_version,
	           sizeof(imp->gitlab_version));
	ls_strlcpy(imp->skipped, m->skipped, sizeof(imp->skipped));
	imp->created_at = m->created_at;
	return 0;
}

static int read_meta(struct backup_import *imp, char *err, size_t errlen)
{
	struct import_meta m;
	char yml[LS_PATH_MAX + 32], js[LS_PATH_MAX + 32];
	/* Messages name the file in the source, not the staging copy. */
	char name[LS_PATH_MAX + 32];
	int rv;

	if ((rv = ls_fmt(yml, sizeof(yml), "%s/backup_information.yml",
	                 imp->tmp)) < 0 ||
	    (rv = ls_fmt(js, sizeof(js), "%s/backup_information.json",
	                 imp->tmp)) < 0)
		return rv;
	if (access(yml, F_OK) < 0 && access(js, F_OK) < 0) {
		snprintf(err, errlen,
		         "%s: no backup_information.yml or .json in it",
		         imp->src);
		return LS_EINVAL;
	}
	if (access(yml, F_OK) == 0) {
		snprintf(name, sizeof(name), "%s: backup_information.yml",
		         imp->src);
		if ((rv = import_meta_yml(yml, name, &m, err, errlen)) < 0 ||
		    (rv = check_meta(imp, &m, name, err, errlen)) < 0)
			return rv;
	}
	if (access(js, F_OK) == 0) {
		snprintf(name, sizeof(name), "%s: backup_information.json",
		         imp->src);
		if ((rv = import_meta_json(js, name, &m, err, errlen)) < 0 ||
		    (rv = check_meta(imp, &m, name, err, errlen)) < 0)
			return rv;
	}
	return 0;
}

static int scan_push(struct scan *s, const char *rel, const char *component)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		struct artifact *a = realloc(s->arts, cap * sizeof(*a));
		if (a == NULL)
			return LS_ENOMEM;
		s->arts = a;
		s->cap = cap;
	}
	memset(&s->arts[s->n], 0, sizeof(s->arts[s->n]));
	if ((s->arts[s->n].path = strdup(rel)) == NULL)
		return LS_ENOMEM;
	s->arts[s->n++].component = component;
	return 0;
}

/* Every regular file under repositories/ (extraction left nothing else). */
static int scan_repos(struct scan *s, int fd, const char *rel, int depth)
{
	char **names = NULL, sub[LS_PATH_MAX];
	size_t n = 0, i;
	struct stat st;
	int rv, cfd;

	if (depth > 32)
		return LS_ETOOBIG;
	if ((rv = ls_dir_names(fd, NULL, NULL, 1, &names, &n)) < 0)
		return rv;
	for (i = 0; i < n && rv == 0; i++) {
		if ((rv = ls_fmt(sub, sizeof(sub), "%s/%s", rel, names[i])) < 0)
			break;
		if (fstatat(fd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rv = -errno;
			break;
		}
		if (S_ISREG(st.st_mode)) {
			rv = scan_push(s, sub, "repositories");
		} else if (S_ISDIR(st.st_mode)) {
			cfd = openat(fd, names[i],
			             O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			                 O_CLOEXEC);
			if (cfd < 0) {
				rv = -errno;
				break;
			}
			rv = scan_repos(s, cfd, sub, depth + 1);
			close(cfd);
		} else {
			rv = LS_EPERM;
		}
	}
	ls_names_free(names, n);
	return rv;
}

static const char *file_component(const char *name)
{
	size_t i, n;

	for (i = 0; file_components[i] != NULL; i++) {
		n = strlen(file_components[i]);
		if (strncmp(name, file_components[i], n) == 0 &&
		    strcmp(name + n, ".tar.gz") == 0)
			return file_components[i];
	}
	return NULL;
}

static int scan_db(struct scan *s, int fd)
{
	char **names = NULL, rel[600];
	size_t n = 0, i;
	int rv, dfd;

	if ((dfd = openat(fd, "db",
	                  O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return -errno;
	if ((rv = ls_dir_names(dfd, NULL, NULL, 1, &names, &n)) < 0)
		goto out;
	for (i = 0; i < n && rv == 0; i++) {
		snprintf(rel, sizeof(rel), "db/%.500s", names[i]);
		if (strcmp(names[i], "database.sql.gz") == 0 ||
		    strcmp(names[i], "ci_database.sql.gz") == 0)
			rv = scan_push(s, rel, "db");
		else
			rv = import_warn(s->imp,
			                 "%s: not part of GitLab's "
			                 "backup layout, ignored",
			                 rel);
	}
out:
	ls_names_free(names, n);
	close(dfd);
	return rv;
}

/* Sorts GitLab's layout into artifacts; anything else is a warning. */
static int scan_top(struct scan *s)
{
	char **names = NULL;
	const char *comp;
	size_t n = 0, i;
	int fd, rfd, rv;

	if ((fd = open(s->imp->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -errno;
	if ((rv = ls_dir_names(fd, NULL, NULL, 1, &names, &n)) < 0)
		goto out;
	for (i = 0; i < n && rv == 0; i++) {
		const char *nm = names[i];
		struct stat st;

		if (fstatat(fd, nm, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rv = -errno;
			break;
		}
		if (strcmp(nm, "backup_information.yml") == 0 ||
		    strcmp(nm, "backup_information.json") == 0) {
			s->imp->size += (uint64_t)st.st_size;
		} else if (strcmp(nm, "lockstep") == 0) {
			snprintf(s->err, s->errlen,
			         "%s: has a lockstep/ directory: that is where "
			         "Lockstep's manifest goes",
			         s->imp->src);
			rv = LS_EEXIST;
		} else if (strcmp(nm, "db") == 0 && S_ISDIR(st.st_mode)) {
			rv = scan_db(s, fd);
		} else if (strcmp(nm, "repositories") == 0 &&
		           S_ISDIR(st.st_mode)) {
			rfd = openat(fd, nm,
			             O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			                 O_CLOEXEC);
			rv = rfd < 0 ? -errno
			             : scan_repos(s, rfd, "repositories", 0);
			if (rfd >= 0)
				close(rfd);
		} else if ((comp = file_component(nm)) != NULL &&
		           S_ISREG(st.st_mode)) {
			rv = scan_push(s, nm, comp);
		} else {
			rv = import_warn(s->imp,
			                 "%.500s: not part of GitLab's "
			                 "backup layout, ignored",
			                 nm);
		}
	}
	if (rv < 0 && s->err[0] == '\0')
		snprintf(s->err, s->errlen, "%s: reading what it holds: %s",
		         s->imp->src, ls_strerror(rv));
out:
	ls_names_free(names, n);
	close(fd);
	return rv;
}

static void *sum_worker(void *arg)
{
	struct scan *s = arg;
	char path[LS_PATH_MAX + 32];

	for (;;) {
		struct artifact *a;
		int rv = 0;

		pthread_mutex_lock(&s->mtx);
		a = s->rv == 0 && s->next < s->n ? &s->arts[s->next++] : NULL;
		if (a != NULL && s->imp->cancel && *s->imp->cancel) {
			s->rv = LS_ESTATE;
			snprintf(s->err, s->errlen, "%s: cancelled",
			         s->imp->src);
			a = NULL;
		}
		pthread_mutex_unlock(&s->mtx);
		if (a == NULL)
			return NULL;
		if ((rv = ls_fmt(path, sizeof(path), "%s/%s", s->imp->tmp,
		                 a->path)) == 0)
			rv = ls_sha256_file(path, &a->size, a->sha);
		pthread_mutex_lock(&s->mtx);
		if (rv < 0 && s->rv == 0) {
			s->rv = rv;
			snprintf(s->err, s->errlen, "%s: checksumming %s: %s",
			         s->imp->src, a->path, ls_strerror(rv));
		} else if (rv == 0) {
			import_progress_add(&s->prog, a->size, 1);
		}
		pthread_mutex_unlock(&s->mtx);
	}
}

/* A few threads: checksumming GBs is most of an import's time after
 * the extraction. */
static int checksum_all(struct scan *s)
{
	pthread_t th[IMPORT_MAX_THREADS];
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	size_t i, nth = 0;
	char what[LS_PATH_MAX + 16];

	snprintf(what, sizeof(what), "checksumming %s", s->imp->src);
	import_progress_init(&s->prog, what);
	if (n < 1)
		n = 1;
	if (n > IMPORT_MAX_THREADS)
		n = IMPORT_MAX_THREADS;
	for (i = 0; i < (size_t)n; i++)
		if (pthread_create(&th[nth], NULL, sum_worker, s) == 0)
			nth++;
	if (nth == 0)
		sum_worker(s);
	for (i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	return s->rv;
}

static char *manifest_text(const struct backup_import *imp,
                           const struct scan *s)
{
	json_t *m = json_object(), *arts = json_array(), *im = json_object();
	char hex[65];
	size_t i;
	char *text;

	json_object_set_new(m, "format", json_integer(BACKUP_MANIFEST_FORMAT));
	json_object_set_new(m, "backup_id", json_string(imp->id));
	json_object_set_new(m, "created_at", json_integer(imp->created_at));
	json_object_set_new(m, "gitlab_version",
	                    json_string(imp->gitlab_version));
	json_object_set_new(m, "skipped", json_string(imp->skipped));
	/* GitLab's tools write gzip (COMPRESS_CMD keeps the names). */
	json_object_set_new(m, "compression", json_string("gzip"));
	/* No Lockstep node made it: nothing per node to record. */
	json_object_set_new(m, "nodes", json_array());
	for (i = 0; i < s->n; i++) {
		json_t *x = json_object();
		ls_hex(hex, s->arts[i].sha, 32);
		json_object_set_new(x, "node", json_string(""));
		json_object_set_new(x, "component",
		                    json_string(s->arts[i].component));
		json_object_set_new(x, "path", json_string(s->arts[i].path));
		json_object_set_new(x, "size",
		                    json_integer((json_int_t)s->arts[i].size));
		json_object_set_new(x, "sha256", json_string(hex));
		json_array_append_new(arts, x);
	}
	json_object_set_new(m, "artifacts", arts);
	json_object_set_new(m, "failed_repositories", json_array());
	json_object_set_new(im, "format", json_string(imp->format));
	json_object_set_new(im, "source", json_string(imp->src));
	json_object_set_new(m, "imported", im);
	text = json_dumps(m, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(m);
	return text;
}

static int art_cmp(const void *a, const void *b)
{
	return strcmp(((const struct artifact *)a)->path,
	              ((const struct artifact *)b)->path);
}

static int stage_source(struct backup_import *imp, char *err, size_t errlen)
{
	struct stat st;
	int rv;

	if (stat(imp->src, &st) < 0) {
		rv = -errno;
		snprintf(err, errlen, "%s: %s", imp->src, ls_strerror(rv));
		return rv;
	}
	if ((rv = backup_import_peek_id(imp->src, imp->id, sizeof(imp->id), err,
	                                errlen)) < 0)
		return rv;
	imp->format = S_ISREG(st.st_mode) ? "rake" : "backup-cli";
	if ((rv = ls_fmt(imp->dest, sizeof(imp->dest), "%s/%s", imp->store,
	                 imp->id)) < 0 ||
	    (rv = ls_fmt(imp->tmp, sizeof(imp->tmp), "%s/.import-%s-XXXXXX",
	                 imp->store, imp->id)) < 0) {
		snprintf(err, errlen, "%s: store path too long", imp->store);
		return rv;
	}
	if (access(imp->dest, F_OK) == 0) {
		snprintf(err, errlen, "%s already exists", imp->dest);
		return LS_EEXIST;
	}
	if ((rv = ls_mkdirs(imp->store, 0700)) < 0 ||
	    mkdtemp(imp->tmp) == NULL) {
		rv = rv < 0 ? rv : -errno;
		snprintf(err, errlen, "staging in %s: %s", imp->store,
		         ls_strerror(rv));
		imp->tmp[0] = '\0';
		return rv;
	}
	log_info("import: %s (%s) into %s", imp->src, imp->format, imp->tmp);
	return S_ISREG(st.st_mode) ? import_extract_tar(imp, err, errlen)
	                           : import_copy_dir(imp, err, errlen);
}

int backup_import_stage(struct backup_import *imp, const char *src,
                        const char *store, const uint8_t *sk,
                        volatile int *cancel, char *err, size_t errlen)
{
	struct scan s;
	char *man = NULL;
	size_t i;
	int rv;

	memset(imp, 0, sizeof(*imp));
	memset(&s, 0, sizeof(s));
	pthread_mutex_init(&s.mtx, NULL);
	s.imp = imp;
	s.err = err;
	s.errlen = errlen;
	if (errlen > 0)
		err[0] = '\0';
	imp->cancel = cancel;
	if (ls_fmt(imp->src, sizeof(imp->src), "%s", src) < 0 ||
	    ls_fmt(imp->store, sizeof(imp->store), "%s", store) < 0) {
		snprintf(err, errlen, "path too long");
		rv = LS_ETOOBIG;
		goto out;
	}
	if ((rv = stage_source(imp, err, errlen)) < 0 ||
	    (rv = read_meta(imp, err, errlen)) < 0 || (rv = scan_top(&s)) < 0 ||
	    (rv = checksum_all(&s)) < 0)
		goto out;
	qsort(s.arts, s.n, sizeof(*s.arts), art_cmp);
	for (i = 0; i < s.n; i++)
		imp->size += s.arts[i].size;
	imp->artifacts = (uint32_t)s.n;
	if ((man = manifest_text(imp, &s)) == NULL) {
		rv = LS_ENOMEM;
		snprintf(err, errlen, "cannot render the manifest");
		goto out;
	}
	if ((rv = backup_manifest_put(imp->tmp, man, sk, &imp->size)) < 0) {
		snprintf(err, errlen, "writing the manifest into %s: %s",
		         imp->tmp, ls_strerror(rv));
		goto out;
	}
	log_info("import: %s: %u artifacts, %llu bytes, staged", imp->src,
	         imp->artifacts, (unsigned long long)imp->size);
out:
	for (i = 0; i < s.n; i++)
		free(s.arts[i].path);
	free(s.arts);
	free(man);
	pthread_mutex_destroy(&s.mtx);
	return rv;
}

int backup_import_commit(struct backup_import *imp, sqlite3 *db, char *err,
                         size_t errlen)
{
	Ls__BackupInfo b = LS__BACKUP_INFO__INIT;
	Ls__BackupInfo *old = NULL;
	int rv;

	if (coord_catalog_get(db, imp->id, &old) == 0) {
		coord_catalog_info_free(old);
		snprintf(err, errlen, "backup %s is already in the catalog",
		         imp->id);
		return LS_EEXIST;
	}
	/* NOREPLACE: rename(2) would replace an empty directory. */
	if (renameat2(AT_FDCWD, imp->tmp, AT_FDCWD, imp->dest,
	              RENAME_NOREPLACE) < 0) {
		rv = -errno;
		snprintf(err, errlen, "%s: %s", imp->dest,
		         rv == LS_EEXIST ? "already exists" : ls_strerror(rv));
		return rv;
	}
	imp->tmp[0] = '\0';
	b.id = imp->id;
	b.state = "complete";
	b.phase = "done";
	b.created_at = imp->created_at;
	b.has_finished_at = b.has_size = b.has_artifacts = 1;
	b.finished_at = ls_now();
	b.size = imp->size;
	b.artifacts = imp->artifacts;
	b.gitlab_version = imp->gitlab_version;
	b.path = imp->dest;
	b.skipped = imp->skipped;
	if ((rv = coord_catalog_insert(db, &b)) < 0) {
		snprintf(err, errlen, "backup %s: cannot write the catalog",
		         imp->id);
		if (ls_rmtree(imp->dest) < 0)
			log_warnx("import: cannot remove %s", imp->dest);
		return rv;
	}
	log_info("import: %s is backup %s (%s, %u artifacts)", imp->src,
	         imp->id, imp->format, imp->artifacts);
	return 0;
}

void backup_import_free(struct backup_import *imp)
{
	int rv;

	if (imp->tmp[0] != '\0' && (rv = ls_rmtree(imp->tmp)) < 0)
		log_warnx("import: cannot remove %s: %s", imp->tmp,
		          ls_strerror(rv));
	imp->tmp[0] = '\0';
	ls_names_free(imp->warnings, imp->nwarnings);
	imp->warnings = NULL;
	imp->nwarnings = imp->capwarnings = 0;
}
