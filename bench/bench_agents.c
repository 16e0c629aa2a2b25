/*
 * Benchmark helper: joins N agent identities with the tokens given (one per
 * line) and serves them all from this one process, one thread each, until
 * SIGTERM. Lets a benchmark put 100 agents on one machine.
 *
 *   bench_agents --config agent.yml --tokens FILE --state-base DIR
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_config.h"
#include "agent_join.h"
#include "agent_session.h"
#include "ls_error.h"
#include "ls_log.h"
#include "ls_util.h"

#define MAX_AGENTS 1000

static struct agent_session *sessions[MAX_AGENTS];
static pthread_t threads[MAX_AGENTS];

static void *serve(void *arg)
{
	agent_session_run(arg);
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"tokens", required_argument, NULL, 't'},
	    {"state-base", required_argument, NULL, 's'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = NULL, *tokens = NULL, *base = NULL;
	struct agent_config cfg;
	char err[1024], line[4096], dir[LS_PATH_MAX];
	sigset_t set;
	FILE *f;
	int ch, n = 0, i, sig, rv;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'c')
			config = optarg;
		else if (ch == 't')
			tokens = optarg;
		else if (ch == 's')
			base = optarg;
		else
			return 2;
	}
	if (!config || !tokens || !base) {
		fprintf(stderr, "usage: bench_agents --config F --tokens F "
		                "--state-base DIR\n");
		return 2;
	}
	log_init("bench_agents", LS_LOG_WARN);
	memset(&cfg, 0, sizeof(cfg));
	if (agent_config_load(config, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if ((f = fopen(tokens, "r")) == NULL) {
		perror(tokens);
		return 2;
	}
	while (n < MAX_AGENTS && fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '\0')
			continue;
		if (ls_fmt(dir, sizeof(dir), "%s/agent-%d", base, n) < 0)
			return 2;
		if ((rv = agent_join(dir, line, 30000, err, sizeof(err))) < 0) {
			fprintf(stderr, "join %d: %s\n", n, err);
			return 1;
		}
		if ((rv = agent_session_new(&sessions[n], &cfg, config, dir)) <
		    0) {
			fprintf(stderr, "session %d: %s\n", n, ls_strerror(rv));
			return 1;
		}
		pthread_create(&threads[n], NULL, serve, sessions[n]);
		n++;
	}
	fclose(f);
	printf("serving %d agents\n", n);
	fflush(stdout);
	sigwait(&set, &sig);
	for (i = 0; i < n; i++)
		agent_session_stop(sessions[i]);
	for (i = 0; i < n; i++) {
		pthread_join(threads[i], NULL);
		agent_session_free(sessions[i]);
	}
	agent_config_free(&cfg);
	return 0;
}
