/* lockstep-coordinator: the fleet's daemon. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "coord_config.h"
#include "coord_cutover.h"
#include "coord_db.h"
#include "coord_import.h"
#include "coord_journal.h"
#include "coord_restore.h"
#include "coord_state.h"
#include "coord_upgrade.h"
#include "ls_error.h"
#include "ls_log.h"
#include "ls_util.h"

#define KEY_MAX (64 * 1024)
#define CA_DAYS (20 * 365)
#define SERVER_DAYS (2 * 365)

static void usage(FILE *f)
{
	fprintf(f, "usage: lockstep-coordinator [--config FILE]\n"
	           "\n"
	           "Runs the Lockstep coordinator in the foreground.\n"
	           "  -c, --config FILE  coordinator.yml (default "
	           "/etc/lockstep/coordinator.yml)\n"
	           "  -h, --help         this text\n"
	           "      --version      print the version\n");
}

static int state_path(const struct coord *c, const char *name, char *out,
                      size_t len)
{
	return ls_fmt(out, len, "%s/%s", c->cfg->state_dir, name);
}

static int load_or_make_ca(struct coord *c)
{
	char cert[LS_PATH_MAX], key[LS_PATH_MAX];
	size_t len;
	int rv;

	if ((rv = state_path(c, "ca.pem", cert, sizeof(cert))) < 0 ||
	    (rv = state_path(c, "ca.key", key, sizeof(key))) < 0)
		return rv;
	rv = ls_read_file(cert, KEY_MAX, (char **)&c->ca_pem.data, &len);
	if (rv == LS_ENOENT) {
		log_info("creating the fleet CA in %s", c->cfg->state_dir);
		if ((rv = ls_pki_ca_create("Lockstep fleet CA", CA_DAYS,
		                           &c->ca_pem, &c->ca_key_pem)) < 0)
			return rv;
		/* Key first: a CA certificate without its key is useless. */
		if ((rv = ls_write_atomic(key, c->ca_key_pem.data,
		                          c->ca_key_pem.len, 0600)) < 0 ||
		    (rv = ls_write_atomic(cert, c->ca_pem.data, c->ca_pem.len,
		                          0644)) < 0)
			return rv;
	} else if (rv < 0) {
		log_warnx("cannot read %s: %s", cert, ls_strerror(rv));
		return rv;
	} else {
		c->ca_pem.len = len;
		rv = ls_read_file(key, KEY_MAX, (char **)&c->ca_key_pem.data,
		                  &len);
		if (rv < 0) {
			log_warnx("cannot read %s: %s", key, ls_strerror(rv));
			return rv;
		}
		c->ca_key_pem.len = len;
	}
	return ls_pki_cert_pem_to_der(&c->ca_pem, &c->ca_der);
}

static int load_or_make_signing_key(struct coord *c)
{
	char path[LS_PATH_MAX];
	char *buf = NULL;
	size_t len = 0;
	int rv;

	if ((rv = state_path(c, "sign.key", path, sizeof(path))) < 0)
		return rv;
	rv = ls_read_file(path, KEY_MAX, &buf, &len);
	if (rv == LS_ENOENT) {
		if ((rv = ls_sign_keypair(c->sign_pk, c->signer.sk)) < 0)
			return rv;
		rv = ls_write_atomic(path, c->signer.sk, LS_SIGN_SK_LEN, 0600);
		return rv;
	}
	if (rv < 0)
		return rv;
	if (len != LS_SIGN_SK_LEN) {
		log_warnx("%s: expected %d bytes, found %zu", path,
		          LS_SIGN_SK_LEN, len);
		rv = LS_EINVAL;
	} else {
		memcpy(c->signer.sk, buf, LS_SIGN_SK_LEN);
		crypto_sign_ed25519_sk_to_pk(c->sign_pk, c->signer.sk);
		rv = 0;
	}
	ls_wipe(buf, len);
	free(buf);
	return rv;
}

static int load_or_make_backup_key(struct coord *c)
{
	char path[LS_PATH_MAX];
	char *buf = NULL;
	size_t len = 0;
	int rv;

	if ((rv = state_path(c, "backup.key", path, sizeof(path))) < 0)
		return rv;
	rv = ls_read_file(path, KEY_MAX, &buf, &len);
	if (rv == LS_ENOENT) {
		log_info("creating the fleet backup key pair in %s",
		         c->cfg->state_dir);
		crypto_box_keypair(c->backup_pk, c->backup_sk);
		return ls_write_atomic(path, c->backup_sk, sizeof(c->backup_sk),
		                       0600);
	}
	if (rv < 0)
		return rv;
	if (len != sizeof(c->backup_sk)) {
		log_warnx("%s: expected 32 bytes, found %zu", path, len);
		rv = LS_EINVAL;
	} else {
		memcpy(c->backup_sk, buf, sizeof(c->backup_sk));
		crypto_scalarmult_base(c->backup_pk, c->backup_sk);
		rv = 0;
	}
	ls_wipe(buf, len);
	free(buf);
	return rv;
}

/* Reissued at every start, so a change of server_names takes effect. */
static int make_server_cert(struct coord *c)
{
	char cert[LS_PATH_MAX], key[LS_PATH_MAX];
	int rv;

	if ((rv = ls_pki_server_cert(
	         &c->ca_pem, &c->ca_key_pem, c->server_name,
	         (const char *const *)c->cfg->server_names.items,
	         c->cfg->server_names.n, SERVER_DAYS, &c->server_pem,
	         &c->server_key_pem)) < 0)
		return rv;
	if ((rv = state_path(c, "server.pem", cert, sizeof(cert))) < 0 ||
	    (rv = state_path(c, "server.key", key, sizeof(key))) < 0)
		return rv;
	if ((rv = ls_write_atomic(key, c->server_key_pem.data,
	                          c->server_key_pem.len, 0600)) < 0)
		return rv;
	return ls_write_atomic(cert, c->server_pem.data, c->server_pem.len,
	                       0644);
}

static const char *url_port(const char *url)
{
	const char *p = strrchr(url, ':');
	return p ? p + 1 : "";
}

static int fill_defaults(struct coord_config *cfg, struct coord *c)
{
	char path[LS_PATH_MAX];
	int rv;

	if (cfg->control_socket == NULL || cfg->control_socket[0] == '\0') {
		if ((rv = ls_fmt(path, sizeof(path), "%s/control.sock",
		                 cfg->state_dir)) < 0)
			return rv;
		free(cfg->control_socket);
		if ((cfg->control_socket = strdup(path)) == NULL)
			return LS_ENOMEM;
	}
	if (cfg->server_names.n == 0) {
		cfg->server_names.items = calloc(1, sizeof(char *));
		if (cfg->server_names.items == NULL ||
		    (cfg->server_names.items[0] =
		         strdup(cfg->advertise_host)) == NULL)
			return LS_ENOMEM;
		cfg->server_names.n = 1;
	}
	ls_strlcpy(c->server_name, cfg->server_names.items[0],
	           sizeof(c->server_name));
	if ((rv = ls_fmt(c->fleet_url, sizeof(c->fleet_url), "tls+tcp://%s:%s",
	                 cfg->advertise_host, url_port(cfg->listen))) < 0 ||
	    (rv =
	         ls_fmt(c->enroll_url, sizeof(c->enroll_url), "tls+tcp://%s:%s",
	                cfg->advertise_host, url_port(cfg->enroll_listen))) < 0)
		return rv;
	return 0;
}

static void coord_cleanup(struct coord *c)
{
	struct coord_op *op;
	size_t i;

	/* Queued operations point at the waiters freed below: detached
	 * first, dropping them answers no one, and the journal keeps where
	 * each run was. */
	for (i = 0; i < c->nnodes; i++)
		for (op = c->nodes[i]->ops; op != NULL; op = op->next)
			op->waiter = NULL;
	while (c->waiters != NULL) {
		struct coord_waiter *w = c->waiters;
		c->waiters = w->next;
		if (w->arg_free)
			w->arg_free(w->arg);
		coord_waiter_free(w);
	}
	coord_restore_drop(c);
	coord_upgrade_drop(c);
	coord_cutover_drop(c);
	for (i = 0; i < c->nnodes; i++) {
		coord_ops_drop_node(c, c->nodes[i], "coordinator stopping");
		coord_node_free(c->nodes[i]);
	}
	free(c->nodes);
	ls_buf_free(&c->ca_pem);
	ls_buf_free(&c->ca_key_pem);
	ls_buf_free(&c->ca_der);
	ls_buf_free(&c->server_pem);
	ls_buf_free(&c->server_key_pem);
	ls_wipe(&c->signer, sizeof(c->signer));
	ls_wipe(c->backup_sk, sizeof(c->backup_sk));
	coord_db_close(c->db);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = "/etc/lockstep/coordinator.yml";
	struct coord_config cfg;
	struct coord c;
	char err[1024], path[LS_PATH_MAX];
	struct timespec tick = {0, 100 * 1000 * 1000};
	sigset_t sigs;
	size_t i;
	int ch, rv, status = 1;

	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("lockstep-coordinator %s\n", LOCKSTEP_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	log_init("lockstep-coordinator", LS_LOG_INFO);
	memset(&cfg, 0, sizeof(cfg));
	if ((rv = coord_config_load(config, &cfg, err, sizeof(err))) < 0) {
		fprintf(stderr, "lockstep-coordinator: %s\n", err);
		coord_config_free(&cfg);
		return 2;
	}
	log_set_level(log_level_parse(cfg.log_level));
	if (sodium_init() < 0)
		fatalx("libsodium failed to initialise");

	memset(&c, 0, sizeof(c));
	pthread_mutex_init(&c.mtx, NULL);
	c.cfg = &cfg;
	if ((rv = fill_defaults(&cfg, &c)) < 0)
		fatalx("configuration: %s", ls_strerror(rv));
	if ((rv = ls_mkdirs(cfg.state_dir, 0700)) < 0 ||
	    chmod(cfg.state_dir, 0700) < 0)
		fatalx("state directory %s: %s", cfg.state_dir,
		       ls_strerror(rv < 0 ? rv : -errno));
	if ((rv = load_or_make_ca(&c)) < 0)
		fatalx("fleet CA: %s", ls_strerror(rv));
	if ((rv = load_or_make_signing_key(&c)) < 0)
		fatalx("signing key: %s", ls_strerror(rv));
	if ((rv = load_or_make_backup_key(&c)) < 0)
		fatalx("backup key: %s", ls_strerror(rv));
	if ((rv = make_server_cert(&c)) < 0)
		fatalx("server certificate: %s", ls_strerror(rv));
	if ((rv = state_path(&c, "lockstep.db", path, sizeof(path))) < 0 ||
	    (rv = coord_db_open(path, &c.db)) < 0)
		fatalx("database %s: %s", path, ls_strerror(rv));
	chmod(path, 0600);
	if ((rv = coord_db_load_nodes(&c)) < 0)
		fatalx("database %s: %s", path, ls_strerror(rv));
	/* No node is connected yet: each counts as down from now, so an
	 * operation sent before it polls waits a poll interval for it. */
	for (i = 0; i < c.nnodes; i++)
		c.nodes[i]->down_since_ms = coord_now_us() / 1000;
	coord_backup_recover(&c);
	/* A run this process did not start has no one driving it: it waits
	 * at its step for `lockstep run resume`. */
	if ((rv = coord_journal_halt_running(c.db, "the coordinator stopped "
	                                           "during the run")) > 0)
		log_warnx("%d run(s) halted: the coordinator stopped during "
		          "them (lockstep run resume ID)",
		          rv);

	ls_strlcpy(c.signer.node, LS_COORD_NODE, sizeof(c.signer.node));
	c.signer.session = (uint64_t)time(NULL);
	/* Operation ids must never repeat across restarts: agents answer a
	 * known id from their store. Microseconds of wall time at start
	 * leave room for a million operations per second of downtime. */
	{
		struct timespec rt;
		clock_gettime(CLOCK_REALTIME, &rt);
		c.next_op_id =
		    (uint64_t)rt.tv_sec * 1000000 + (uint64_t)rt.tv_nsec / 1000;
	}

	/* Signals are taken synchronously by the main thread; nng's threads
	 * inherit the blocked mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if ((rv = coord_enroll_start(&c)) < 0 ||
	    (rv = coord_fleet_start(&c)) < 0 ||
	    (rv = coord_control_start(&c)) < 0) {
		log_warnx("startup failed: %s", ls_strerror(rv));
		goto out;
	}
	log_info("coordinator ready: fleet %s, enroll %s, %zu node(s)",
	         c.fleet_url, c.enroll_url, c.nnodes);
	for (;;) {
		int sig = sigtimedwait(&sigs, NULL, &tick);
		int64_t now_ms;

		if (sig == SIGTERM || sig == SIGINT) {
			log_info("signal %d: stopping", sig);
			break;
		}
		now_ms = coord_now_us() / 1000;
		pthread_mutex_lock(&c.mtx);
		coord_fleet_sweep(&c, now_ms);
		coord_waiters_sweep(&c, now_ms);
		coord_upgrade_sweep(&c, now_ms);
		coord_cutover_sweep(&c, now_ms);
		pthread_mutex_unlock(&c.mtx);
	}
	status = 0;
out:
	coord_import_stop(&c);
	coord_control_stop(&c);
	coord_enroll_stop(&c);
	coord_fleet_stop(&c);
	coord_cleanup(&c);
	coord_config_free(&cfg);
	return status;
}
