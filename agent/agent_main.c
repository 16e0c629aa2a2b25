/* lockstep-agent: joins the fleet, then serves the coordinator. */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_config.h"
#include "agent_identity.h"
#include "agent_join.h"
#include "agent_session.h"
#include "ls_error.h"
#include "ls_log.h"
#include "ls_util.h"

#define DEFAULT_CONFIG "/etc/lockstep/agent.yml"

static void usage(FILE *f)
{
	fprintf(
	    f, "usage: lockstep-agent join TOKEN [--config FILE]\n"
	       "       lockstep-agent run [--config FILE]\n"
	       "       lockstep-agent check [--config FILE] [--json]\n"
	       "\n"
	       "  join   enroll this node with a token from 'lockstep node "
	       "add'\n"
	       "  run    serve the coordinator (foreground; exit status 3 when "
	       "the node\n"
	       "         was removed from the fleet, 4 when its identity is "
	       "refused)\n"
	       "  check  run this node's local checks now, for its enrolled "
	       "roles\n"
	       "\n"
	       "  -c, --config FILE  agent.yml (default " DEFAULT_CONFIG ")\n"
	       "  -h, --help         this text\n");
}

static int load_config(const char *path, struct agent_config *cfg)
{
	char err[1024];

	memset(cfg, 0, sizeof(*cfg));
	if (agent_config_load(path, cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "lockstep-agent: %s\n", err);
		agent_config_free(cfg);
		return AGENT_EXIT_USAGE;
	}
	log_set_level(log_level_parse(cfg->log_level));
	return 0;
}

static int cmd_join(const char *config, const char *token)
{
	struct agent_config cfg;
	char msg[1024];
	int rv;

	if ((rv = load_config(config, &cfg)) != 0)
		return rv;
	rv = agent_join(cfg.state_dir, token, 30000, msg, sizeof(msg));
	if (rv < 0) {
		fprintf(stderr, "lockstep-agent: join refused: %s\n", msg);
		agent_config_free(&cfg);
		return rv == LS_EPROTO ? AGENT_EXIT_USAGE : AGENT_EXIT_FAIL;
	}
	printf("%s; identity stored in %s/identity\n"
	       "Start the agent: lockstep-agent run --config %s\n",
	       msg, cfg.state_dir, config);
	agent_config_free(&cfg);
	return AGENT_EXIT_OK;
}

struct sigctx {
	sigset_t set;
	struct agent_session *s;
};

static void *signal_thread(void *arg)
{
	struct sigctx *sc = arg;
	int sig;

	if (sigwait(&sc->set, &sig) == 0) {
		log_info("signal %d: stopping", sig);
		agent_session_stop(sc->s);
	}
	return NULL;
}

static int cmd_run(const char *config)
{
	struct agent_config cfg;
	struct agent_session *s = NULL;
	struct sigctx sc;
	pthread_t th;
	int rv;

	if ((rv = load_config(config, &cfg)) != 0)
		return rv;
	if ((rv = agent_session_new(&s, &cfg, config, NULL)) < 0) {
		if (rv == LS_ENOTJOINED)
			fprintf(stderr,
			        "lockstep-agent: %s holds no identity: run "
			        "'lockstep-agent join TOKEN --config %s' "
			        "first\n",
			        cfg.state_dir, config);
		else
			fprintf(stderr,
			        "lockstep-agent: cannot load the identity in "
			        "%s/identity: %s\n",
			        cfg.state_dir, ls_strerror(rv));
		agent_config_free(&cfg);
		return AGENT_EXIT_FAIL;
	}
	sigemptyset(&sc.set);
	sigaddset(&sc.set, SIGTERM);
	sigaddset(&sc.set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sc.set, NULL);
	signal(SIGPIPE, SIG_IGN);
	sc.s = s;
	if (pthread_create(&th, NULL, signal_thread, &sc) != 0)
		fatal("pthread_create");
	pthread_detach(th);
	rv = agent_session_run(s);
	agent_session_free(s);
	agent_config_free(&cfg);
	return rv;
}

static int cmd_check(const char *config, int json)
{
	struct agent_config cfg;
	struct agent_identity id;
	char roles[512];
	const char *argv[8];
	size_t i, used = 0;
	int rv, n = 0;

	if ((rv = load_config(config, &cfg)) != 0)
		return rv;
	roles[0] = '\0';
	if (agent_identity_load(cfg.state_dir, &id) == 0) {
		for (i = 0; i < id.nroles && used < sizeof(roles); i++)
			used +=
			    (size_t)snprintf(roles + used, sizeof(roles) - used,
			                     "%s%s", i ? "," : "", id.roles[i]);
		agent_identity_clear(&id);
	}
	argv[n++] = cfg.exec_helper;
	argv[n++] = "--config";
	argv[n++] = config;
	argv[n++] = "check";
	if (roles[0] != '\0') {
		argv[n++] = "--roles";
		argv[n++] = roles;
	}
	if (json)
		argv[n++] = "--json";
	argv[n] = NULL;
	/* The executor prints the report itself: replace this process. */
	execv(cfg.exec_helper, (char *const *)argv);
	fprintf(stderr, "lockstep-agent: cannot run %s: %s\n", cfg.exec_helper,
	        strerror(errno));
	agent_config_free(&cfg);
	return AGENT_EXIT_FAIL;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = DEFAULT_CONFIG, *cmd;
	int ch, json = 0;

	log_init("lockstep-agent", LS_LOG_INFO);
	if (argc < 2) {
		usage(stderr);
		return AGENT_EXIT_USAGE;
	}
	cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
	    strcmp(cmd, "help") == 0) {
		usage(stdout);
		return AGENT_EXIT_OK;
	}
	if (strcmp(cmd, "--version") == 0) {
		printf("lockstep-agent %s\n", LOCKSTEP_VERSION);
		return AGENT_EXIT_OK;
	}
	optind = 2;
	while ((ch = getopt_long(argc, argv, "c:jh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			usage(stdout);
			return AGENT_EXIT_OK;
		case 'V':
			printf("lockstep-agent %s\n", LOCKSTEP_VERSION);
			return AGENT_EXIT_OK;
		default:
			usage(stderr);
			return AGENT_EXIT_USAGE;
		}
	}
	if (strcmp(cmd, "join") == 0) {
		if (optind + 1 != argc) {
			fprintf(stderr, "lockstep-agent: join needs TOKEN\n");
			usage(stderr);
			return AGENT_EXIT_USAGE;
		}
		return cmd_join(config, argv[optind]);
	}
	if (optind != argc) {
		usage(stderr);
		return AGENT_EXIT_USAGE;
	}
	if (strcmp(cmd, "run") == 0)
		return cmd_run(config);
	if (strcmp(cmd, "check") == 0)
		return cmd_check(config, json);
	fprintf(stderr, "lockstep-agent: unknown command '%s'\n", cmd);
	usage(stderr);
	return AGENT_EXIT_USAGE;
}
