/*
 * The coordinator's in-memory fleet state. One mutex (coord.mtx) guards all
 * of it: every nng callback, the sweeper and the control handlers take it.
 */
#ifndef COORD_STATE_H
#define COORD_STATE_H

#include <pthread.h>
#include <stdint.h>

#include <nng/nng.h>
#include <sqlite3.h>

#include "control.pb-c.h"
#include "coord_config.h"
#include "lockstep.pb-c.h"
#include "ls_envelope.h"
#include "ls_pki.h"

#define COORD_MAX_ROLES 16
#define COORD_ROLE_MAX 32
#define COORD_SITE_MAX 64

struct fleet_ctx;
struct coord_waiter;

struct coord_op {
	uint64_t id;
	struct coord_node *node;
	uint8_t *packed; /* serialized Operation */
	size_t packed_len;
	int sent;
	int64_t queued_us;
	struct coord_waiter *waiter;
	struct coord_op *next;
};

struct coord_node {
	char name[LS_NODE_NAME_MAX + 1];
	char roles[COORD_MAX_ROLES][COORD_ROLE_MAX];
	size_t nroles;
	char site[COORD_SITE_MAX];
	int enrolled;
	int removed;
	int64_t enrolled_at;
	uint8_t sign_pk[LS_SIGN_PK_LEN];
	struct ls_replay replay;
	int64_t last_seen;
	uint32_t pipe_id;
	int pipe_alive;
	int64_t down_since_ms;   /* when its connection dropped */
	Ls__NodeFacts *facts;    /* last reported, may be NULL */
	Ls__CheckReport *checks; /* last check report, may be NULL */
	Ls__Progress *progress;  /* latest of a long operation, may be NULL */
	int64_t progress_ms;
	int64_t checks_at;
	struct fleet_ctx *parked; /* a poll held open, or NULL */
	int64_t parked_deadline_ms;
	struct coord_op *ops; /* queued and in-flight, in order */
};

struct coord_counters {
	uint64_t dropped_undecodable;
	uint64_t dropped_oversize;
	uint64_t rejected_signature;
	uint64_t rejected_unknown;
	uint64_t rejected_removed;
	uint64_t rejected_replay;
	uint64_t messages;
};

struct coord {
	pthread_mutex_t mtx;
	struct coord_config *cfg;
	sqlite3 *db;

	struct coord_node **nodes;
	size_t nnodes, cap_nodes;

	struct ls_signer signer;
	uint8_t sign_pk[LS_SIGN_PK_LEN];
	/* X25519: nodes seal secrets and configuration to backup_pk; only
	 * the (exportable) backup_sk opens them. */
	uint8_t backup_pk[32], backup_sk[32];
	struct ls_buf ca_pem, ca_key_pem, ca_der, server_pem, server_key_pem;
	char fleet_url[300];
	char enroll_url[300];
	char server_name[256];

	struct coord_counters counters;
	uint64_t next_op_id;
	struct coord_waiter *waiters;

	nng_socket fleet_sock, enroll_sock, control_sock;
	struct fleet_ctx **fctxs;
	size_t nfctx, cap_fctx, nfctx_receiving;
	volatile int stopping;
	struct coord_backup *backup;   /* the running backup, or NULL */
	struct coord_restore *restore; /* the restore being driven, or NULL */
	struct coord_upgrade *upgrade; /* the upgrade being driven, or NULL */
	struct coord_cutover *cutover; /* the cutover being driven, or NULL */
};

/* Nodes (coord_state.c). Caller holds c->mtx. */
struct coord_node *coord_node_find(struct coord *c, const char *name);
struct coord_node *coord_node_add(struct coord *c, const char *name);
int coord_node_has_role(const struct coord_node *n, const char *role);
int coord_node_connected(const struct coord *c, const struct coord_node *n,
                         int64_t now_ms);
int coord_roles_parse(const char *csv, char roles[][COORD_ROLE_MAX], size_t *n,
                      char *err, size_t errlen);
int coord_role_valid(const char *role);
/*
 * 0 for a node whose only role is kubernetes: it drives kubectl and helm
 * for the chart and has no GitLab of its own, so backups, restores,
 * upgrades and version checks leave it out.
 */
int coord_node_runs_gitlab(const struct coord_node *n);
void coord_node_free(struct coord_node *n);
/* Fills a NodeInfo; strings point into n; free with coord_nodeinfo_clear. */
void coord_nodeinfo_fill(const struct coord *c, const struct coord_node *n,
                         int64_t now_ms, Ls__NodeInfo *info);
void coord_nodeinfo_clear(Ls__NodeInfo *info);

/* Operations and waiters (coord_ops.c). Caller holds c->mtx. */
typedef void (*coord_waiter_done_fn)(struct coord *c, struct coord_waiter *w);
struct coord_waiter {
	size_t pending;
	int64_t deadline_ms;
	int finished;
	coord_waiter_done_fn done;
	void *arg;
	void (*arg_free)(void *arg); /* for waiters dropped at shutdown */
	size_t nops;
	struct coord_op **ops;  /* the waiter's ops, for the report */
	Ls__OpResult **results; /* parallel to ops; NULL until answered */
	int64_t *rtt_us;
	struct coord_waiter *next;
};
int coord_op_enqueue(struct coord *c, struct coord_node *n, Ls__Operation *op,
                     struct coord_waiter *w, size_t slot);
/* The same under a given id (a journaled step sent again after a restart:
 * the agent answers a known id from its store); 0 picks a new one. */
int coord_op_enqueue_id(struct coord *c, struct coord_node *n,
                        Ls__Operation *op, struct coord_waiter *w, size_t slot,
                        uint64_t id);
struct coord_waiter *coord_waiter_new(struct coord *c, size_t nops,
                                      int64_t timeout_ms,
                                      coord_waiter_done_fn done, void *arg);
void coord_waiter_free(struct coord_waiter *w);
/* An op result arrived from node n. Takes ownership of res. */
void coord_op_result(struct coord *c, struct coord_node *n, Ls__OpResult *res);
/*
 * Fails every operation of n with status rv and text why, as if the node
 * had answered so (it went away and did not come back).
 */
void coord_ops_fail_node(struct coord *c, struct coord_node *n, int rv,
                         const char *why);
/* Expires waiters past their deadline. */
void coord_waiters_sweep(struct coord *c, int64_t now_ms);
/* Drops every op of a node (removal); answering waiters with an error. */
void coord_ops_drop_node(struct coord *c, struct coord_node *n,
                         const char *why);
int64_t coord_now_us(void);

/* Fleet channel (coord_fleet.c). */
int coord_fleet_start(struct coord *c);
void coord_fleet_stop(struct coord *c);
/* Answers a parked poll of n with its next op, if any. Holds c->mtx. */
void coord_fleet_kick(struct coord *c, struct coord_node *n);
/* Answers a parked poll of n with a rejection (node removed). */
void coord_fleet_reject_parked(struct coord *c, struct coord_node *n, int code,
                               const char *reason);
void coord_fleet_sweep(struct coord *c, int64_t now_ms);

/* Enrollment (coord_enroll.c). */
int coord_enroll_start(struct coord *c);
void coord_enroll_stop(struct coord *c);

/* Operator control socket (coord_control.c). */
int coord_control_start(struct coord *c);
void coord_control_stop(struct coord *c);
/*
 * Answers a request later, from another thread or a waiter (a restore's
 * checks read the whole backup first). Caller holds c->mtx; cc stays busy
 * until then.
 */
struct control_ctx;
void coord_control_reply(struct control_ctx *cc, Ls__ControlResp *resp);
void coord_control_fail(struct control_ctx *cc, int code, const char *text);
void coord_control_failf(struct control_ctx *cc, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Backups (coord_backup.c). Caller holds c->mtx. */
int coord_backup_start(struct coord *c, const Ls__BackupCreateReq *req,
                       char *id, size_t idlen, char *err, size_t errlen);
/*
 * The state of backup id: 0 with a live copy of the running backup (free
 * with ls__backup_info__free_unpacked), 1 with a catalog row (free with
 * coord_catalog_info_free), or LS_ENOENT.
 */
int coord_backup_info(struct coord *c, const char *id, Ls__BackupInfo **out);
/* At start-up: backups a stopped coordinator left running are failed. */
void coord_backup_recover(struct coord *c);
/* The store directory (absolute) from backup_store / state_dir. */
int coord_backup_store(const struct coord *c, char *out, size_t len);

/* lockstep backup prune (coord_prune.c). Caller holds c->mtx. */
int coord_prune(struct coord *c, const Ls__BackupPruneReq *req,
                Ls__BackupPruneResp *resp, char *err, size_t errlen);
void coord_prune_resp_free(Ls__BackupPruneResp *resp);

/* Finishes w at once if nothing is pending (coord_ops.c). */
void coord_waiter_arm(struct coord *c, struct coord_waiter *w);
/* Node administration used by the control socket (coord_admin.c). */
int coord_admin_node_add(struct coord *c, const Ls__NodeAddReq *req,
                         char **token, int64_t *expires, char *err,
                         size_t errlen);
int coord_admin_node_remove(struct coord *c, const char *name, char *err,
                            size_t errlen);
/* Fleet-level findings over the nodes' last facts (version skew). */
size_t coord_admin_fleet_findings(struct coord *c, Ls__CheckResult ***out);
void coord_admin_findings_free(Ls__CheckResult **r, size_t n);
#endif
