/*
 * lockstep upgrade: GitLab upgrades of the fleet. `path` is computed here
 * from files and the local package manager, with no coordinator.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "ls_error.h"
#include "ls_exec.h"
#include "ls_util.h"
#include "upgrade_path.h"

#define PKG_TIMEOUT_MS 60000
#define PKG_MAX_STDOUT (8 * 1024 * 1024)

static const char upgrade_usage[] =
    "usage: lockstep upgrade path --from VERSION --to VERSION "
    "[--available FILE]\n"
    "                             [--stops FILE] [--package "
    "gitlab-ee|gitlab-ce] [--json]\n"
    "       lockstep upgrade plan --to VERSION [--mode zero-downtime|"
    "downtime] ...\n"
    "       lockstep upgrade run --to VERSION [--yes] ...\n"
    "\n"
    "  plan   the whole fleet's upgrade, stop by stop and node by node, "
    "not run\n"
    "         (upgrade plan --help)\n"
    "  run    runs that plan as a journaled, resumable run with a "
    "rollback point\n"
    "         per stop (upgrade run --help); lockstep rollback RUN_ID "
    "goes back\n"
    "\n"
    "  path   the versions to install one after the other, through "
    "GitLab's required\n"
    "         upgrade stops, as GitLab's upgrade path tool computes "
    "them. Needs no\n"
    "         coordinator.\n"
    "\n"
    "Options of path:\n"
    "  --from VERSION     the version the fleet runs now (X.Y.Z)\n"
    "  --to VERSION       the version to upgrade to (X.Y.Z)\n"
    "  --available FILE   the versions the package repository offers: "
    "one X.Y.Z per\n"
    "                     line, or the output of `apt-cache madison "
    "gitlab-ee` or\n"
    "                     `yum --showduplicates list gitlab-ee`; '#' "
    "comments.\n"
    "                     Default: the local package manager's list, "
    "else the\n"
    "                     released versions shipped with Lockstep\n"
    "  --stops FILE       GitLab's upgrade_path.yml (default: the "
    "shipped copy)\n"
    "  --package NAME     gitlab-ee (default) or gitlab-ce, for the "
    "package manager\n"
    "  --json             one JSON object: from, to, path, notes, "
    "source\n";

struct path_args {
	const char *from, *to, *available, *stops, *package;
	int json;
};

int cli_upgrade_needs_coordinator(int argc, char **argv)
{
	/* Usage errors are ours to report, not a missing configuration's. */
	return argc >= 2 &&
	       (strcmp(argv[1], "plan") == 0 || strcmp(argv[1], "run") == 0);
}

/*
 * The package manager's own list, when this node has one that knows the
 * package: what `apt install gitlab-ee=...` can really get. 0 with a
 * filled, else a negative value (and a empty) to fall back on.
 */
static int from_package_manager(const char *package, struct up_available *a,
                                char *source, size_t srclen)
{
	const char *apt[] = {"/usr/bin/apt-cache", "madison", package, NULL};
	const char *yum[] = {"/usr/bin/yum", "--showduplicates", "list",
	                     package, NULL};
	const char *const *argv = NULL;
	struct ls_exec_opts o;
	struct ls_exec_result r;
	char err[256];
	int rv;

	if (access(apt[0], X_OK) == 0)
		argv = apt;
	else if (access(yum[0], X_OK) == 0)
		argv = yum;
	else
		return LS_ENOENT;
	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.max_stdout = PKG_MAX_STDOUT;
	o.max_stderr = 4096;
	o.timeout_ms = PKG_TIMEOUT_MS;
	rv = ls_exec_run(&o, &r);
	if (rv == 0 && (!r.exited || r.status != 0))
		rv = LS_ECHILD;
	if (rv == 0)
		rv = up_available_parse(argv[0], (const char *)r.out, r.out_len,
		                        a, err, sizeof(err));
	ls_exec_result_free(&r);
	if (rv < 0)
		return rv;
	if (argv == apt)
		ls_fmt(source, srclen, "apt-cache madison %s", package);
	else
		ls_fmt(source, srclen, "yum --showduplicates list %s", package);
	return 0;
}

static int load_available(const struct path_args *pa, struct up_available *a,
                          char *source, size_t srclen)
{
	char path[LS_PATH_MAX], err[1024];
	int rv;

	memset(a, 0, sizeof(*a));
	if (pa->available != NULL) {
		ls_fmt(source, srclen, "%s", pa->available);
		if ((rv = up_available_load(pa->available, a, err,
		                            sizeof(err))) < 0)
			goto bad;
		return 0;
	}
	if (from_package_manager(pa->package, a, source, srclen) == 0)
		return 0;
	if (up_data_path(UP_RELEASED_FILE, path, sizeof(path)) < 0) {
		fprintf(stderr, "lockstep upgrade path: data path too long\n");
		return CLI_USAGE;
	}
	ls_fmt(source, srclen, "GitLab's released versions, %s", path);
	if ((rv = up_available_load(path, a, err, sizeof(err))) < 0)
		goto bad;
	return 0;
bad:
	fprintf(stderr, "lockstep upgrade path: %s\n", err);
	return CLI_USAGE;
}

static int version_arg(const char *opt, const char *s, struct ls_version *v)
{
	int rv = ls_version_parse_pkg(s, strlen(s), v);

	if (rv == 1)
		return 0;
	fprintf(stderr, "lockstep upgrade path: %s '%.64s': %s\n", opt, s,
	        rv == 0 ? "a pre-release, never an upgrade target"
	                : "not a version (X.Y.Z)");
	return CLI_USAGE;
}

static void print_text(const struct path_args *pa, const struct up_path *p,
                       const struct up_available *a, const char *source)
{
	char vs[LS_VERSION_STR_MAX];

	printf("Upgrade path from %s to %s\n", pa->from, pa->to);
	printf("Available versions: %s\n", source);
	for (size_t i = 0; i < p->n; i++) {
		const struct up_path_step *st = &p->steps[i];
		const struct ls_version_line *l = up_available_find(a, &st->v);

		ls_version_fmt(&st->v, vs, sizeof(vs));
		printf("  %2zu. %-10s %s", i + 1, vs, up_why_str(st->why));
		if (st->comment[0] != '\0')
			printf(" (%s)", st->comment);
		/* What to install when the list came from apt or yum. */
		if (l != NULL && strcmp(l->pkgver, vs) != 0)
			printf(" [%s]", l->pkgver);
		putchar('\n');
	}
	if (p->n > 0)
		printf("Let background migrations finish before each next "
		       "step.\n");
	if (p->nnotes > 0)
		printf("Notes:\n");
	for (size_t i = 0; i < p->nnotes; i++)
		printf("  - %s\n", p->notes[i]);
}

static int print_json(const struct path_args *pa, const struct up_path *p,
                      const char *source)
{
	json_t *o = json_object(), *path = json_array(), *notes = json_array();
	char vs[LS_VERSION_STR_MAX];
	int bad = o == NULL || path == NULL || notes == NULL;

	for (size_t i = 0; !bad && i < p->n; i++) {
		ls_version_fmt(&p->steps[i].v, vs, sizeof(vs));
		bad = json_array_append_new(path, json_string(vs)) < 0;
	}
	for (size_t i = 0; !bad && i < p->nnotes; i++)
		bad =
		    json_array_append_new(notes, json_string(p->notes[i])) < 0;
	if (bad || json_object_set_new(o, "from", json_string(pa->from)) < 0 ||
	    json_object_set_new(o, "to", json_string(pa->to)) < 0 ||
	    json_object_set(o, "path", path) < 0 ||
	    json_object_set(o, "notes", notes) < 0 ||
	    json_object_set_new(o, "source", json_string(source)) < 0) {
		json_decref(o);
		json_decref(path);
		json_decref(notes);
		fprintf(stderr, "lockstep upgrade path: out of memory\n");
		return CLI_FAIL;
	}
	json_decref(path);
	json_decref(notes);
	cli_print_json(o);
	return CLI_OK;
}

static int upgrade_path(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"from", required_argument, NULL, 'f'},
	    {"to", required_argument, NULL, 't'},
	    {"available", required_argument, NULL, 'a'},
	    {"stops", required_argument, NULL, 's'},
	    {"package", required_argument, NULL, 'p'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct path_args pa = {.package = "gitlab-ee"};
	struct up_stops s = {0};
	struct up_available a = {0};
	struct up_path p = {0};
	struct ls_version from, to;
	char path[LS_PATH_MAX], source[LS_PATH_MAX + 64], err[1024];
	int ch, rv = CLI_USAGE;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			pa.from = optarg;
			break;
		case 't':
			pa.to = optarg;
			break;
		case 'a':
			pa.available = optarg;
			break;
		case 's':
			pa.stops = optarg;
			break;
		case 'p':
			pa.package = optarg;
			break;
		case 'j':
			pa.json = 1;
			break;
		case 'h':
			fputs(upgrade_usage, stdout);
			return CLI_OK;
		default:
			fputs(upgrade_usage, stderr);
			return CLI_USAGE;
		}
	}
	if (optind != argc || pa.from == NULL || pa.to == NULL) {
		fprintf(stderr, "lockstep upgrade path: --from and --to are "
		                "required\n\n");
		fputs(upgrade_usage, stderr);
		return CLI_USAGE;
	}
	if (strcmp(pa.package, "gitlab-ee") != 0 &&
	    strcmp(pa.package, "gitlab-ce") != 0) {
		fprintf(stderr,
		        "lockstep upgrade path: --package '%.64s': gitlab-ee "
		        "or gitlab-ce\n",
		        pa.package);
		return CLI_USAGE;
	}
	if (version_arg("--from", pa.from, &from) != 0 ||
	    version_arg("--to", pa.to, &to) != 0)
		goto out;
	if (pa.stops == NULL) {
		if (up_data_path(UP_STOPS_FILE, path, sizeof(path)) < 0) {
			fprintf(stderr, "lockstep upgrade path: data path too "
			                "long\n");
			goto out;
		}
		pa.stops = path;
	}
	if (up_stops_load(pa.stops, &s, err, sizeof(err)) < 0) {
		fprintf(stderr, "lockstep upgrade path: %s\n", err);
		goto out;
	}
	if (load_available(&pa, &a, source, sizeof(source)) != 0)
		goto out;
	if (up_available_find(&a, &from) == NULL ||
	    up_available_find(&a, &to) == NULL) {
		int f = up_available_find(&a, &from) == NULL;

		fprintf(stderr,
		        "lockstep upgrade path: %s %s is not in the available "
		        "versions (%s)\n",
		        f ? "--from" : "--to", f ? pa.from : pa.to, source);
		goto out;
	}
	if (up_path_compute(&s, &a, &from, &to, &p, err, sizeof(err)) < 0) {
		fprintf(stderr, "lockstep upgrade path: %s\n", err);
		goto out;
	}
	if (pa.json) {
		rv = print_json(&pa, &p, source);
	} else {
		print_text(&pa, &p, &a, source);
		rv = CLI_OK;
	}
out:
	up_path_free(&p);
	up_available_free(&a);
	up_stops_free(&s);
	return rv;
}

int cli_upgrade(struct cli *cli, int argc, char **argv)
{
	const char *sub = argc >= 2 ? argv[1] : NULL;

	if (sub != NULL &&
	    (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0)) {
		fputs(upgrade_usage, stdout);
		return CLI_OK;
	}
	if (sub != NULL && strcmp(sub, "path") == 0)
		return upgrade_path(argc - 1, argv + 1);
	/* `upgrade plan` and `upgrade run` talk to the coordinator through
	 * cli (cli_upgrade_needs_coordinator says so). */
	if (sub != NULL &&
	    (strcmp(sub, "plan") == 0 || strcmp(sub, "run") == 0))
		return cli_upgrade_plan(cli, argc - 1, argv + 1);
	if (sub == NULL)
		fputs(upgrade_usage, stderr);
	else
		fprintf(stderr,
		        "lockstep upgrade: unknown subcommand '%.64s'\n\n%s",
		        sub, upgrade_usage);
	return CLI_USAGE;
}
