#include "exec_facts.h"

#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <stdlib.h>

#include "agent_config.h"
#include "check.h"
#include "check_version_parse.h"
#include "ls_util.h"

#define OS_RELEASE_MAX (64 * 1024)

/* PRETTY_NAME="Debian GNU/Linux 12 (bookworm)" -> the unquoted value. */
static int os_pretty_name(const char *path, char *out, size_t size)
{
	static const char key[] = "PRETTY_NAME=";
	char *buf = NULL, *p, *line;
	size_t len;
	int rv = -1;

	if (ls_read_file(path, OS_RELEASE_MAX, &buf, &len) < 0)
		return -1;
	for (line = buf; line != NULL && *line; line = p) {
		size_t n, i, o = 0;
		char q = 0;

		p = strchr(line, '\n');
		if (p != NULL)
			*p++ = '\0';
		if (strncmp(line, key, sizeof(key) - 1) != 0)
			continue;
		line += sizeof(key) - 1;
		n = strlen(line);
		if (n >= 2 && (line[0] == '"' || line[0] == '\'') &&
		    line[n - 1] == line[0]) {
			q = line[0];
			line++;
			n -= 2;
		}
		for (i = 0; i < n && o + 1 < size; i++) {
			/* Shell-style escapes inside double quotes. */
			if (q == '"' && line[i] == '\\' && i + 1 < n)
				i++;
			out[o++] = line[i];
		}
		out[o] = '\0';
		check_sanitize(out);
		rv = o > 0 ? 0 : -1;
		break;
	}
	free(buf);
	return rv;
}

void agent_facts_collect(const struct agent_config *cfg, struct agent_facts *f)
{
	const struct agent_gitaly_storage *st = cfg->gitaly.storages.items;
	struct gitlab_version v;
	struct statvfs sv;
	char err[256];
	size_t i;

	memset(f, 0, sizeof(*f));
	ls__node_facts__init(&f->msg);
	if (gethostname(f->hostname, sizeof(f->hostname) - 1) == 0 &&
	    f->hostname[0] != '\0') {
		check_sanitize(f->hostname);
		f->msg.hostname = f->hostname;
	}
	if (check_version_load(cfg->gitlab.version_manifest, &v, err,
	                       sizeof(err)) == 0) {
		ls_strlcpy(f->version, v.version, sizeof(f->version));
		f->msg.gitlab_version = f->version;
		if (v.edition[0] != '\0') {
			ls_strlcpy(f->edition, v.edition, sizeof(f->edition));
			ls_strlcpy(f->package, v.package, sizeof(f->package));
			f->msg.gitlab_edition = f->edition;
			f->msg.package_name = f->package;
		}
	}
	if (os_pretty_name(cfg->gitlab.os_release, f->os, sizeof(f->os)) == 0)
		f->msg.os = f->os;
	ls_strlcpy(f->agent_version, LOCKSTEP_VERSION,
	           sizeof(f->agent_version));
	f->msg.agent_version = f->agent_version;
	ls_strlcpy(f->install_method,
	           access(cfg->gitlab.version_manifest, F_OK) == 0
	               ? "linux-package"
	               : "unknown",
	           sizeof(f->install_method));
	f->msg.install_method = f->install_method;
	/* What restore and verify operations may name on this node. */
	for (i = 0; i < cfg->gitaly.storages.n && i < AGENT_FACTS_MAX_STORAGES;
	     i++)
		f->storages[i] = st[i].name;
	f->msg.n_storages = i;
	f->msg.storages = f->storages;
	if (statvfs(cfg->backup_staging_dir, &sv) == 0) {
		f->msg.has_staging_free_bytes = 1;
		f->msg.staging_free_bytes =
		    (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
	}
}
