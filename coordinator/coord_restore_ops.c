/*
 * A restore step's operation, built from the step's name and the backup's
 * manifest alone: a run resumed by a restarted coordinator sends exactly
 * what the first one would have.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "coord_restore.h"
#include "ls_error.h"
#include "ls_util.h"

#define READY_WAIT_MS (5 * 60 * 1000)
/* GitLab has about a thousand tables: two allocations each. */
#define SCRATCH_MAX 100000

/* Everything an operation points to, freed after it is packed. */
struct rs_op_scratch {
	void **p;
	size_t n, cap;
	uint8_t key[32];
};

static void *keep(struct rs_op_scratch *s, void *p)
{
	if (p == NULL)
		return NULL;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		void **v =
		    cap <= SCRATCH_MAX ? realloc(s->p, cap * sizeof(*v)) : NULL;
		if (v == NULL) {
			free(p);
			return NULL;
		}
		s->p = v;
		s->cap = cap;
	}
	s->p[s->n++] = p;
	return p;
}

static void *zalloc(struct rs_op_scratch *s, size_t n)
{
	return keep(s, calloc(1, n ? n : 1));
}

static char *dup(struct rs_op_scratch *s, const char *str)
{
	return keep(s, strdup(str));
}

void rs_op_scratch_free(struct rs_op_scratch *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->n; i++)
		free(s->p[i]);
	free(s->p);
	sodium_memzero(s->key, sizeof(s->key));
	free(s);
}

/* Splits "stop puma sidekiq" after its verb into services. */
static int services(struct rs_op_scratch *s, const char *list, int start,
                    uint32_t wait_ms, Ls__Operation *op)
{
	Ls__Services *m = zalloc(s, sizeof(*m));
	char *copy = dup(s, list), *tok, *save = NULL;

	if (m == NULL || copy == NULL)
		return LS_ENOMEM;
	ls__services__init(m);
	m->start = start;
	if ((m->services = zalloc(s, 8 * sizeof(char *))) == NULL)
		return LS_ENOMEM;
	for (tok = strtok_r(copy, " ", &save); tok != NULL && m->n_services < 8;
	     tok = strtok_r(NULL, " ", &save))
		m->services[m->n_services++] = tok;
	if (wait_ms) {
		m->has_ready_wait_ms = 1;
		m->ready_wait_ms = wait_ms;
	}
	op->kind_case = LS__OPERATION__KIND_SERVICES;
	op->services = m;
	return 0;
}

static int table_rows(struct rs_op_scratch *s, const struct rs_backup *b,
                      const Ls__RestoreResult *prior, size_t *n,
                      Ls__TableCount ***out)
{
	json_t *rows = rs_backup_table_rows(b), *v;
	const char *k;
	size_t i = 0, total;

	*n = 0;
	*out = NULL;
	total = rows ? json_object_size(rows) : prior ? prior->n_table_rows : 0;
	if (total == 0)
		return 0;
	if ((*out = zalloc(s, total * sizeof(**out))) == NULL)
		return LS_ENOMEM;
	if (rows == NULL) {
		/* An import has no counts at the cut: the dump's own. */
		for (i = 0; i < total; i++)
			(*out)[i] = prior->table_rows[i];
		*n = total;
		return 0;
	}
	json_object_foreach(rows, k, v)
	{
		Ls__TableCount *t = zalloc(s, sizeof(*t));
		if (t == NULL)
			return LS_ENOMEM;
		ls__table_count__init(t);
		if ((t->table = dup(s, k)) == NULL)
			return LS_ENOMEM;
		t->rows = (uint64_t)json_integer_value(v);
		(*out)[i++] = t;
	}
	*n = i;
	return 0;
}

/* What node `node` restored in this plan, for its verify or drill. */
struct node_data {
	const char *dump; /* "restore database <path>" */
	int repos;
	const char *files[32][2]; /* component, archive */
	size_t nfiles;
};

static void node_data(const struct rs_step *steps, size_t n, const char *node,
                      struct rs_op_scratch *s, struct node_data *d)
{
	size_t i;

	memset(d, 0, sizeof(*d));
	for (i = 0; i < n; i++) {
		const char *name = steps[i].name;
		char *copy, *sp;

		if (strcmp(steps[i].node, node) != 0)
			continue;
		if (strncmp(name, "restore database ", 17) == 0)
			d->dump = name + 17;
		else if (strcmp(name, "restore repositories") == 0)
			d->repos = 1;
		else if (strncmp(name, "restore files ", 14) == 0 &&
		         d->nfiles < 32 && (copy = dup(s, name + 14)) != NULL &&
		         (sp = strchr(copy, ' ')) != NULL) {
			*sp = '\0';
			d->files[d->nfiles][0] = copy;
			d->files[d->nfiles][1] = sp + 1;
			d->nfiles++;
		}
	}
}

static Ls__ComponentArchive **archives(struct rs_op_scratch *s,
                                       const struct node_data *d)
{
	Ls__ComponentArchive **v = zalloc(s, (d->nfiles + 1) * sizeof(*v));
	size_t i;

	for (i = 0; v != NULL && i < d->nfiles; i++) {
		if ((v[i] = zalloc(s, sizeof(*v[i]))) == NULL)
			return NULL;
		ls__component_archive__init(v[i]);
		v[i]->component = (char *)d->files[i][0];
		v[i]->archive = (char *)d->files[i][1];
	}
	return v;
}

static int verify_op(struct rs_op_scratch *s, const struct rs_backup *b,
                     const struct node_data *d, const Ls__RestoreResult *prior,
                     int drill, Ls__Operation *op)
{
	Ls__TableCount **rows = NULL;
	size_t nrows = 0;
	Ls__ComponentArchive **files = archives(s, d);
	int rv;

	if (files == NULL)
		return LS_ENOMEM;
	if (d->dump && (rv = table_rows(s, b, prior, &nrows, &rows)) < 0)
		return rv;
	if (drill) {
		Ls__RestoreDrill *m = zalloc(s, sizeof(*m));
		if (m == NULL)
			return LS_ENOMEM;
		ls__restore_drill__init(m);
		m->backup_dir = (char *)b->dir;
		m->backup_id = (char *)b->id;
		m->dump = (char *)d->dump;
		m->n_table_rows = nrows;
		m->table_rows = rows;
		m->has_repositories = 1;
		m->repositories = d->repos;
		m->n_files = d->nfiles;
		m->files = files;
		op->kind_case = LS__OPERATION__KIND_RESTORE_DRILL;
		op->restore_drill = m;
	} else {
		Ls__RestoreVerify *m = zalloc(s, sizeof(*m));
		if (m == NULL)
			return LS_ENOMEM;
		ls__restore_verify__init(m);
		m->backup_dir = (char *)b->dir;
		m->backup_id = (char *)b->id;
		m->has_database = 1;
		m->database = d->dump != NULL;
		m->n_table_rows = nrows;
		m->table_rows = rows;
		m->has_repositories = 1;
		m->repositories = d->repos;
		m->n_files = d->nfiles;
		m->files = files;
		op->kind_case = LS__OPERATION__KIND_RESTORE_VERIFY;
		op->restore_verify = m;
	}
	return 0;
}

static int data_op(struct rs_op_scratch *s, const struct rs_backup *b,
                   const char *name, const uint8_t *key, Ls__Operation *op,
                   char *err, size_t errlen)
{
	if (strncmp(name, "restore database ", 17) == 0 ||
	    strncmp(name, "restore ci database ", 20) == 0) {
		Ls__RestoreDb *m = zalloc(s, sizeof(*m));
		int ci = name[8] == 'c';
		if (m == NULL)
			return LS_ENOMEM;
		ls__restore_db__init(m);
		m->backup_dir = (char *)b->dir;
		m->dump = (char *)name + (ci ? 20 : 17);
		m->has_ci = 1;
		m->ci = ci;
		op->kind_case = LS__OPERATION__KIND_RESTORE_DB;
		op->restore_db = m;
		return 0;
	}
	if (strcmp(name, "restore repositories") == 0) {
		Ls__RestoreRepos *m = zalloc(s, sizeof(*m));
		if (m == NULL)
			return LS_ENOMEM;
		ls__restore_repos__init(m);
		m->backup_dir = (char *)b->dir;
		m->backup_id = (char *)b->id;
		op->kind_case = LS__OPERATION__KIND_RESTORE_REPOS;
		op->restore_repos = m;
		return 0;
	}
	if (strncmp(name, "restore files ", 14) == 0) {
		Ls__RestoreFiles *m = zalloc(s, sizeof(*m));
		char *comp = dup(s, name + 14), *sp;
		if (m == NULL || comp == NULL)
			return LS_ENOMEM;
		if ((sp = strchr(comp, ' ')) == NULL)
			goto bad;
		*sp = '\0';
		ls__restore_files__init(m);
		m->backup_dir = (char *)b->dir;
		m->component = comp;
		m->archive = sp + 1;
		op->kind_case = LS__OPERATION__KIND_RESTORE_FILES;
		op->restore_files = m;
		return 0;
	}
	if (strncmp(name, "restore secrets ", 16) == 0) {
		Ls__RestoreSecrets *m = zalloc(s, sizeof(*m));
		if (m == NULL)
			return LS_ENOMEM;
		if (key == NULL) {
			snprintf(err, errlen,
			         "step '%s' needs the backup key: resume with "
			         "--backup-key FILE",
			         name);
			return LS_ESTATE;
		}
		memcpy(s->key, key, sizeof(s->key));
		ls__restore_secrets__init(m);
		m->backup_dir = (char *)b->dir;
		m->node = (char *)name + 16;
		m->backup_sk.data = s->key;
		m->backup_sk.len = sizeof(s->key);
		op->kind_case = LS__OPERATION__KIND_RESTORE_SECRETS;
		op->restore_secrets = m;
		return 0;
	}
bad:
	snprintf(err, errlen, "unknown restore step '%s'", name);
	return LS_EINVAL;
}

/* A downgrade step: the package, then its configuration (names in
 * coord_restore.h). */
static int downgrade_op(struct rs_op_scratch *s, const char *name,
                        Ls__Operation *op, char *err, size_t errlen)
{
	Ls__UpgradeAction *a = zalloc(s, sizeof(*a));
	size_t k = strlen(RS_DOWN_INSTALL_NAME " ");

	if (a == NULL)
		return LS_ENOMEM;
	ls__upgrade_action__init(a);
	if (strcmp(name, RS_DOWN_REMOVE_NAME) == 0) {
		a->kind = LS__UPGRADE_ACTION_KIND__UA_REMOVE;
	} else if (strcmp(name, RS_DOWN_RECONFIGURE_NAME) == 0) {
		a->kind = LS__UPGRADE_ACTION_KIND__UA_RECONFIGURE;
	} else if (strncmp(name, RS_DOWN_INSTALL_NAME " ", k) == 0 &&
	           name[k] != '\0') {
		a->kind = LS__UPGRADE_ACTION_KIND__UA_INSTALL;
		a->version = (char *)name + k;
		a->has_allow_downgrade = 1;
		a->allow_downgrade = 1;
	} else {
		snprintf(err, errlen, "unknown downgrade step '%s'", name);
		return LS_EINVAL;
	}
	op->kind_case = LS__OPERATION__KIND_UPGRADE_ACTION;
	op->upgrade_action = a;
	return 0;
}

int rs_step_op(const struct rs_backup *b, const struct rs_step *steps,
               size_t nsteps, const struct rs_step *st,
               const struct coord_node *node, const uint8_t *key,
               const Ls__RestoreResult *prior_rows, Ls__Operation *op,
               struct rs_op_scratch **scratch, char *err, size_t errlen)
{
	struct rs_op_scratch *s = calloc(1, sizeof(*s));
	const char *name = st->name;
	struct node_data d;
	int rv = 0;

	*scratch = s;
	if (s == NULL)
		return LS_ENOMEM;
	ls__operation__init(op);
	if (strcmp(name, "maintenance on") == 0 ||
	    strcmp(name, "maintenance off") == 0) {
		Ls__Maintenance *m = zalloc(s, sizeof(*m));
		char msg[300];
		if (m == NULL)
			return LS_ENOMEM;
		ls__maintenance__init(m);
		m->on = name[13] == 'n';
		if (m->on) {
			snprintf(msg, sizeof(msg),
			         "GitLab is being restored from backup %s",
			         b->id);
			if ((m->message = dup(s, msg)) == NULL)
				return LS_ENOMEM;
		}
		op->kind_case = LS__OPERATION__KIND_MAINTENANCE;
		op->maintenance = m;
	} else if (strncmp(name, "stop ", 5) == 0) {
		rv = services(s, name + 5, 0, 0, op);
	} else if (strncmp(name, "start ", 6) == 0) {
		char list[COORD_STEP_NAME_MAX];
		size_t n = strlen(name + 6), k = strlen(" " RS_READY_SUFFIX);
		int ready =
		    n > k && strcmp(name + 6 + n - k, " " RS_READY_SUFFIX) == 0;

		ls_strlcpy(list, name + 6, sizeof(list));
		if (ready)
			list[n - k] = '\0';
		rv = services(s, list, 1, ready ? READY_WAIT_MS : 0, op);
	} else if (strcmp(name, "wait for readiness") == 0) {
		/* Puma is up already: starting it again is a no-op. */
		rv = services(s, "puma", 1, READY_WAIT_MS, op);
	} else if (strncmp(name, "downgrade: ", 11) == 0) {
		rv = downgrade_op(s, name, op, err, errlen);
	} else if (strncmp(name, "restore ", 8) == 0) {
		rv = data_op(s, b, name, key, op, err, errlen);
	} else if (strcmp(name, "verify") == 0 || strcmp(name, "drill") == 0) {
		node_data(steps, nsteps, st->node, s, &d);
		rv = verify_op(s, b, &d, prior_rows, name[0] == 'd', op);
	} else if (strcmp(name, "check") == 0) {
		Ls__RunChecks *m = zalloc(s, sizeof(*m));
		char **roles =
		    zalloc(s, (COORD_MAX_ROLES + 1) * sizeof(char *));
		size_t i;
		if (m == NULL || roles == NULL)
			return LS_ENOMEM;
		ls__run_checks__init(m);
		for (i = 0; i < node->nroles; i++)
			roles[i] = (char *)node->roles[i];
		m->n_roles = node->nroles;
		m->roles = roles;
		op->kind_case = LS__OPERATION__KIND_RUN_CHECKS;
		op->run_checks = m;
	} else {
		snprintf(err, errlen, "unknown restore step '%s'", name);
		rv = LS_EINVAL;
	}
	return rv;
}
