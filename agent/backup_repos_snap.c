/*
 * One repository's part of the cut, taken without running git, because the
 * cut runs while GitLab is frozen and a git process per repository (~8 ms
 * each here) would hold a 10,000 repository node frozen for minutes.
 *
 * Files backend: the refs are read in git's own order, loose refs first,
 * then packed-refs, then HEAD, so a concurrent `git pack-refs` (Gitaly
 * housekeeping), which writes packed-refs before deleting the loose files,
 * cannot make a ref vanish between the two; a loose ref shadows its packed
 * line as in git. Their values go into the cut file as "ref <oid> <name>"
 * lines (loose symbolic refs as "symref <name> <target>"), from which the
 * copy writes 001.refs and the bundle's header. Reading the values was
 * chosen over hard-linking the ref files into a snapshot directory: both
 * capture the cut (git replaces ref files by rename and never writes one in
 * place), but a link costs a journalled directory update per ref and per
 * refs/ directory, measured at ~0.4 ms a repository on ext4 against
 * ~0.1 ms for reading, and the cut time is the freeze window.
 *
 * reftable: the tables are immutable, so tables.list is hard-linked (copied
 * across filesystems: EXDEV, or with protected_hardlinks: EPERM) into a
 * snapshot directory, then the tables it names; git reads them in the copy.
 *
 * Only the documented files are read (HEAD, loose refs, packed-refs,
 * tables.list and the [extensions] section of config); a config this simple
 * reader cannot be sure of is left to git, for that one repository.
 * Symlinks are never followed.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup_repos.h"
#include "ls_error.h"
#include "ls_exec.h"
#include "ls_util.h"

/* refs/ nests by refname component; git caps nothing, GitLab uses ~5. */
#define SNAP_MAX_DEPTH 64
/* HEAD, a loose ref, config: anything bigger is not git's. */
#define SNAP_SMALL_MAX 65536
#define SNAP_RETRIES 8

struct snap {
	const struct agent_config *cfg;
	backup_repos_emit_fn emit;
	void *arg;
	const char *repo;
	struct backup_repos_snap *s;
	char **loose; /* refnames of loose refs, for packed-refs' dedup */
	size_t nloose, cap;
	char *why;
	size_t whylen;
};

/* The repository's fault: 1, why set to "<what>: <detail>". */
static int snap_bad(struct snap *n, const char *what, const char *detail)
{
	(void)ls_fmt(n->why, n->whylen, "%s: %s", what, detail);
	return 1;
}

/*
 * Reads a small regular file of dir (never through a symlink) into buf,
 * NUL-terminated. 0; 1 when it is absent; <0 (-ELOOP for a symlink,
 * LS_ETOOBIG when over size - 1 bytes).
 */
static int read_small(int dir, const char *name, char *buf, size_t size,
                      size_t *len)
{
	struct stat sb;
	size_t n = 0;
	ssize_t r;
	int fd, rv = 0;

	fd = openat(dir, name,
	            O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 1 : -errno;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		rv = LS_EINVAL;
		goto out;
	}
	while ((r = read(fd, buf + n, size - n)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rv = -errno;
			goto out;
		}
		n += (size_t)r;
		if (n >= size) {
			rv = LS_ETOOBIG;
			goto out;
		}
	}
	buf[n] = '\0';
	*len = n;
out:
	close(fd);
	return rv;
}

/* Copies a reftable table when it cannot be linked (streamed: a table of
 * a repository with many merge requests is tens of MB). */
static int copy_file(int sdir, int ddir, const char *name)
{
	char buf[65536];
	struct stat sb;
	int sfd, fd = -1, rv = 0;
	ssize_t r, w, off;

	sfd = openat(sdir, name,
	             O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (sfd < 0)
		return errno == ENOENT || errno == ELOOP ? 1 : -errno;
	if (fstat(sfd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		rv = 1;
		goto out;
	}
	fd = openat(ddir, name,
	            O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		rv = -errno;
		goto out;
	}
	while ((r = read(sfd, buf, sizeof(buf))) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rv = -errno;
			goto out;
		}
		for (off = 0; off < r; off += w)
			if ((w = write(fd, buf + off, (size_t)(r - off))) < 0) {
				if (errno == EINTR) {
					w = 0;
					continue;
				}
				rv = -errno;
				goto out;
			}
	}
out:
	if (fd >= 0 && close(fd) < 0 && rv == 0)
		rv = -errno;
	close(sfd);
	return rv;
}

/*
 * Links (or copies) sdir/name to ddir/name. 0: done; 1: the source is gone
 * or is not a regular file (not taken); <0: failure. A link never follows
 * a symlink (linkat without AT_SYMLINK_FOLLOW links the symlink itself),
 * and one swapped in since readdir is caught by the check after it.
 */
static int snap_link(int sdir, int ddir, const char *name)
{
	struct stat sb;

	if (linkat(sdir, name, ddir, name, 0) == 0) {
		if (fstatat(ddir, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(sb.st_mode))
			return 0;
		(void)unlinkat(ddir, name, 0);
		return 1;
	}
	if (errno == ENOENT)
		return 1;
	if (errno != EXDEV && errno != EPERM && errno != EMLINK)
		return -errno;
	return copy_file(sdir, ddir, name);
}

static int name_ok(const char *name)
{
	size_t n = strlen(name);

	/* Git skips these itself: lock files and dot files. */
	return n > 0 && name[0] != '.' &&
	       !(n >= 5 && strcmp(name + n - 5, ".lock") == 0);
}

static int loose_push(struct snap *n, const char *refname)
{
	if (n->nloose == n->cap) {
		size_t cap = n->cap ? n->cap * 2 : 64;
		char **np = realloc(n->loose, cap * sizeof(*np));

		if (np == NULL)
			return LS_ENOMEM;
		n->loose = np;
		n->cap = cap;
	}
	if ((n->loose[n->nloose] = strdup(refname)) == NULL)
		return LS_ENOMEM;
	n->nloose++;
	return 0;
}

static int emit3(struct snap *n, const char *kw, const char *a, const char *b)
{
	int rv;

	if ((rv = n->emit(n->arg, kw, strlen(kw))) < 0 ||
	    (rv = n->emit(n->arg, a, strlen(a))) < 0 ||
	    (rv = n->emit(n->arg, " ", 1)) < 0 ||
	    (rv = n->emit(n->arg, b, strlen(b))) < 0)
		return rv;
	return n->emit(n->arg, "\n", 1);
}

/* One loose ref file: its value, or its target when symbolic. */
static int snap_loose_one(struct snap *n, int sdir, const char *name,
                          const char *refname)
{
	char buf[BACKUP_REPOS_LINE_MAX];
	size_t len = 0;
	int rv = read_small(sdir, name, buf, sizeof(buf), &len);

	/* Gone since readdir (packed since: it is in packed-refs, read
	 * after), or swapped for a symlink or a non-file: not taken. */
	if (rv == 1 || rv == -ELOOP || rv == LS_EINVAL)
		return 0;
	if (rv < 0)
		return snap_bad(n, refname, ls_strerror(rv));
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' ||
	                   buf[len - 1] == ' '))
		buf[--len] = '\0';
	if (backup_repos_oid_ok(buf, len))
		rv = emit3(n, "ref ", buf, refname);
	else if (strncmp(buf, "ref: ", 5) == 0 &&
	         backup_repos_refname_ok(buf + 5, len - 5))
		rv = emit3(n, "symref ", refname, buf + 5);
	else
		return snap_bad(n, refname, "unexpected content");
	if (rv == 0)
		rv = loose_push(n, refname);
	return rv;
}

/* Loose refs below sdir (prefix is its refname prefix, "refs/..."). */
static int snap_loose(struct snap *n, int sdir, char *prefix, int depth)
{
	size_t plen = strlen(prefix);
	struct dirent *de;
	DIR *d = NULL;
	int rv = 0, fd;

	if ((fd = dup(sdir)) < 0 || (d = fdopendir(fd)) == NULL) {
		rv = -errno;
		if (fd >= 0)
			close(fd);
		goto out;
	}
	while (rv == 0 && (errno = 0, de = readdir(d)) != NULL) {
		unsigned char type = de->d_type;
		struct stat sb;
		size_t nlen = strlen(de->d_name);

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 || !name_ok(de->d_name))
			continue;
		if (plen + nlen + 2 >= BACKUP_REPOS_LINE_MAX - 128) {
			rv = snap_bad(n, "refname too long below", prefix);
			goto out;
		}
		memcpy(prefix + plen, de->d_name, nlen + 1);
		if (type == DT_UNKNOWN)
			type = fstatat(sdir, de->d_name, &sb,
			               AT_SYMLINK_NOFOLLOW) < 0
			           ? DT_UNKNOWN
			       : S_ISDIR(sb.st_mode) ? DT_DIR
			       : S_ISREG(sb.st_mode) ? DT_REG
			                             : DT_LNK;
		if (type == DT_DIR && depth < SNAP_MAX_DEPTH) {
			int s2;

			memcpy(prefix + plen + nlen, "/", 2);
			s2 = openat(sdir, de->d_name,
			            O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			                O_CLOEXEC);
			if (s2 < 0 && (errno == ENOENT || errno == ELOOP ||
			               errno == ENOTDIR))
				rv = 0; /* gone or swapped: not a ref dir */
			else if (s2 < 0)
				rv = snap_bad(n, prefix, strerror(errno));
			else
				rv = snap_loose(n, s2, prefix, depth + 1);
			if (s2 >= 0)
				close(s2);
		} else if (type == DT_REG &&
		           backup_repos_refname_ok(prefix, plen + nlen)) {
			/* Symlinks (legacy symrefs or planted) are never
			 * followed nor taken; invalid names git ignores. */
			rv = snap_loose_one(n, sdir, de->d_name, prefix);
		}
		prefix[plen] = '\0';
	}
	if (rv == 0 && errno != 0)
		rv = -errno;
out:
	prefix[plen] = '\0';
	if (d != NULL)
		closedir(d);
	return rv;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The refs of packed-refs that no loose ref shadows (git lets the loose
 * one win); malformed lines are the repository's. The open descriptor
 * keeps the file read whole even if git renames a new one over it. */
static int snap_packed(struct snap *n, int rdir)
{
	char *line = NULL;
	FILE *f = NULL;
	int fd, rv = 0;

	fd = openat(rdir, "packed-refs", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT
		           ? 0
		           : snap_bad(n, "packed-refs", strerror(errno));
	if ((f = fdopen(fd, "r")) == NULL) {
		rv = -errno;
		close(fd);
		goto out;
	}
	if ((line = malloc(BACKUP_REPOS_LINE_MAX)) == NULL) {
		rv = LS_ENOMEM;
		goto out;
	}
	if (n->nloose > 1)
		qsort(n->loose, n->nloose, sizeof(*n->loose), str_cmp);
	while (fgets(line, BACKUP_REPOS_LINE_MAX, f) != NULL) {
		size_t len = strlen(line);
		char *sp, *name;

		if (len == 0 || line[len - 1] != '\n') {
			rv = snap_bad(n, "packed-refs", "line too long");
			goto out;
		}
		line[--len] = '\0';
		if (line[0] == '#' || line[0] == '^')
			continue;
		sp = strchr(line, ' ');
		if (sp == NULL ||
		    !backup_repos_oid_ok(line, (size_t)(sp - line)) ||
		    !backup_repos_refname_ok(sp + 1, strlen(sp + 1))) {
			rv = snap_bad(n, "packed-refs", "unexpected line");
			goto out;
		}
		name = sp + 1;
		*sp = '\0';
		if (n->nloose > 0 &&
		    bsearch(&name, n->loose, n->nloose, sizeof(*n->loose),
		            str_cmp) != NULL)
			continue;
		if ((rv = emit3(n, "ref ", line, name)) < 0)
			goto out;
		n->s->nrefs++;
	}
	if (ferror(f))
		rv = LS_EIO;
out:
	if (f != NULL)
		fclose(f);
	free(line);
	return rv;
}

/* HEAD: "ref: <refname>" or an object id. */
static int snap_head(struct snap *n, int rdir)
{
	char buf[BACKUP_REPOS_LINE_MAX];
	size_t len = 0;
	int rv = read_small(rdir, "HEAD", buf, sizeof(buf), &len);

	if (rv != 0)
		return snap_bad(n, "HEAD",
		                rv == 1 ? "missing" : ls_strerror(rv));
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' ' ||
	                   buf[len - 1] == '\r'))
		buf[--len] = '\0';
	if (strncmp(buf, "ref: ", 5) == 0 &&
	    backup_repos_refname_ok(buf + 5, len - 5)) {
		ls_strlcpy(n->s->head, buf + 5, sizeof(n->s->head));
		return 0;
	}
	if (backup_repos_oid_ok(buf, len)) {
		ls_strlcpy(n->s->headoid, buf, sizeof(n->s->headoid));
		return 0;
	}
	return snap_bad(n, "HEAD", "unexpected content");
}

/* reftable/: tables.list, then the (immutable) tables it names. A table
 * compacted away in between makes us read the new list again, as git does. */
static int snap_reftable(struct snap *n, int rdir, int ddir)
{
	char *list = NULL, *p, *nl;
	size_t len = 0;
	int sd = -1, dd = -1, rv, tries = 0;

	if ((list = malloc(SNAP_SMALL_MAX)) == NULL)
		return LS_ENOMEM;
	if ((sd = openat(rdir, "reftable",
	                 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) <
	    0) {
		rv = snap_bad(n, "reftable", strerror(errno));
		goto out;
	}
	if ((mkdirat(ddir, "reftable", 0700) < 0 && errno != EEXIST) ||
	    (dd = openat(ddir, "reftable",
	                 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) <
	        0) {
		rv = -errno;
		goto out;
	}
again:
	(void)unlinkat(dd, "tables.list", 0);
	if ((rv = snap_link(sd, dd, "tables.list")) != 0 ||
	    (rv = read_small(dd, "tables.list", list, SNAP_SMALL_MAX, &len)) !=
	        0) {
		rv = rv < 0 ? rv : snap_bad(n, "reftable", "no tables.list");
		goto out;
	}
	for (p = list; *p != '\0'; p = nl + 1) {
		size_t i, l;

		if ((nl = strchr(p, '\n')) == NULL) {
			rv = snap_bad(n, "reftable", "unterminated list");
			goto out;
		}
		*nl = '\0';
		l = strlen(p);
		for (i = 0; i < l; i++)
			if (!isalnum((unsigned char)p[i]) && p[i] != '-' &&
			    p[i] != '_' && p[i] != '.')
				break;
		if (l == 0 || l > 255 || i < l || p[0] == '.') {
			rv = snap_bad(n, "reftable", "unexpected table name");
			goto out;
		}
		if ((rv = snap_link(sd, dd, p)) < 0 && rv != -EEXIST)
			goto out;
		if (rv == 1) {
			if (++tries >= SNAP_RETRIES) {
				rv = snap_bad(n, "reftable",
				              "tables keep changing");
				goto out;
			}
			goto again;
		}
	}
	rv = 0;
out:
	if (sd >= 0)
		close(sd);
	if (dd >= 0)
		close(dd);
	free(list);
	return rv;
}

/*
 * The [extensions] section of config: objectformat and refstorage. 0 when
 * read; 1 when git must be asked (includes, continuation lines, quoting,
 * values we do not know).
 */
static int snap_config(int rdir, struct backup_repos_snap *s)
{
	char *buf = NULL, *line, *nl;
	size_t len = 0;
	int rv, in_ext = 0;

	if ((buf = malloc(SNAP_SMALL_MAX)) == NULL)
		return LS_ENOMEM;
	rv = read_small(rdir, "config", buf, SNAP_SMALL_MAX, &len);
	if (rv != 0) {
		/* No config is git's defaults; any other failure is git's to
		 * judge. */
		rv = rv == 1 ? 0 : 1;
		goto out;
	}
	if (memchr(buf, '\0', len) != NULL || strchr(buf, '\\') != NULL) {
		rv = 1;
		goto out;
	}
	for (line = buf; *line != '\0';
	     line = nl ? nl + 1 : line + strlen(line)) {
		char *e, *key, *val;

		if ((nl = strchr(line, '\n')) != NULL)
			*nl = '\0';
		while (isspace((unsigned char)*line))
			line++;
		e = line + strlen(line);
		while (e > line && isspace((unsigned char)e[-1]))
			*--e = '\0';
		if (*line == '\0' || *line == '#' || *line == ';')
			continue;
		if (*line == '[') {
			if (e[-1] != ']') {
				rv = 1; /* something after the header */
				goto out;
			}
			in_ext = strncasecmp(line, "[extensions]", 12) == 0 &&
			         line[12] == '\0';
			if (strncasecmp(line, "[include", 8) == 0) {
				rv = 1;
				goto out;
			}
			continue;
		}
		if (!in_ext)
			continue;
		key = line;
		if ((val = strchr(line, '=')) == NULL) {
			rv = 1;
			goto out;
		}
		e = val++;
		while (e > key && isspace((unsigned char)e[-1]))
			e--;
		*e = '\0';
		while (isspace((unsigned char)*val))
			val++;
		if (strcasecmp(key, "objectformat") == 0) {
			if (strcmp(val, "sha1") != 0 &&
			    strcmp(val, "sha256") != 0) {
				rv = 1;
				goto out;
			}
			ls_strlcpy(s->fmt, val, sizeof(s->fmt));
		} else if (strcasecmp(key, "refstorage") == 0) {
			if (strcmp(val, "files") != 0 &&
			    strcmp(val, "reftable") != 0) {
				rv = 1;
				goto out;
			}
			s->reftable = strcmp(val, "reftable") == 0;
		}
	}
	rv = 0;
out:
	free(buf);
	return rv;
}

/* The object format from git, for a config we could not read simply. */
static int snap_config_git(struct snap *n)
{
	static const char *const a_fmt[] = {"rev-parse", "--show-object-format",
	                                    NULL};
	struct ls_exec_result res;
	int rv = backup_repos_git(n->cfg, n->repo, a_fmt, 256, &res);

	if (rv == 0 && res.exited && res.status == 0 &&
	    (strcmp((const char *)res.out, "sha1\n") == 0 ||
	     strcmp((const char *)res.out, "sha256\n") == 0)) {
		ls_strlcpy(n->s->fmt, (const char *)res.out, sizeof(n->s->fmt));
		n->s->fmt[strcspn(n->s->fmt, "\n")] = '\0';
		rv = 0;
	} else {
		backup_repos_why(n->why, n->whylen, "git rev-parse", rv, &res);
		rv = 1;
	}
	ls_exec_result_free(&res);
	return rv;
}

int backup_repos_snapshot(const struct agent_config *cfg, const char *repo,
                          const char *dst, backup_repos_emit_fn emit, void *arg,
                          struct backup_repos_snap *s, char *why, size_t whylen)
{
	struct snap n;
	struct stat sb;
	char prefix[BACKUP_REPOS_LINE_MAX];
	int rdir = -1, ddir = -1, sref = -1, rv;
	size_t i;

	memset(&n, 0, sizeof(n));
	memset(s, 0, sizeof(*s));
	ls_strlcpy(s->fmt, "sha1", sizeof(s->fmt));
	n.cfg = cfg;
	n.emit = emit;
	n.arg = arg;
	n.repo = repo;
	n.s = s;
	n.why = why;
	n.whylen = whylen;
	why[0] = '\0';
	rdir = open(repo, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (rdir < 0) {
		rv = snap_bad(&n, repo, strerror(errno));
		goto out;
	}
	if ((rv = snap_config(rdir, s)) < 0 ||
	    (rv == 1 && (rv = snap_config_git(&n)) != 0))
		goto out;
	if (fstatat(rdir, "reftable", &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISDIR(sb.st_mode))
		s->reftable = 1;
	if (s->reftable) {
		/* HEAD and refs/ of the repository are placeholders; the copy
		 * asks git for HEAD and the refs, from the linked tables. */
		if (mkdir(dst, 0700) < 0 ||
		    (ddir = open(dst, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		                          O_CLOEXEC)) < 0 ||
		    mkdirat(ddir, "refs", 0700) < 0) {
			rv = -errno;
			(void)ls_fmt(why, whylen, "%s: %s", dst,
			             strerror(errno));
			goto out;
		}
		rv = snap_reftable(&n, rdir, ddir);
		goto out;
	}
	sref = openat(rdir, "refs",
	              O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sref < 0) {
		rv = snap_bad(&n, "refs", strerror(errno));
		goto out;
	}
	memcpy(prefix, "refs/", 6);
	if ((rv = snap_loose(&n, sref, prefix, 0)) != 0)
		goto out;
	s->nrefs = n.nloose;
	if ((rv = snap_packed(&n, rdir)) != 0 ||
	    (rv = snap_head(&n, rdir)) != 0)
		goto out;
	rv = 0;
out:
	if (rv < 0 && !why[0])
		(void)ls_fmt(why, whylen, "snapshot of %s: %s", repo,
		             ls_strerror(rv));
	if (rdir >= 0)
		close(rdir);
	if (ddir >= 0)
		close(ddir);
	if (sref >= 0)
		close(sref);
	for (i = 0; i < n.nloose; i++)
		free(n.loose[i]);
	free(n.loose);
	return rv;
}
