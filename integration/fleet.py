"""Lockstep integration harness: a whole local fleet on this machine.

Standard library only. Two layers:

  FixtureEnv  the GitLab side without Lockstep: a real PostgreSQL 15 cluster
              (gitlabhq_production with GitLab-shaped tables), a real
              redis-server, real bare git repositories in GitLab's hashed
              layout on two gitaly nodes, one directory per node with the
              GitLab node fixture (gitlab-ctl, version files, secrets,
              gitlab.rb, API token) and the fixture HTTP API on Rails nodes.
  Fleet       FixtureEnv plus lockstep-coordinator, enrollment of every node
              and one lockstep-agent per node.

    with Fleet(build_dir) as f:
        f.status()

Everything lives in a fresh /tmp/ls-XXXXXXXX directory (short, because the
coordinator's control socket path must stay under 100 characters) that is
removed afterwards unless LOCKSTEP_KEEP=1. Every process runs in its own
process group with its stdout+stderr in <fleet>/logs/; teardown runs from
__exit__, atexit and SIGTERM, kills whole process groups and finally sweeps
any process whose command line names the fleet directory. On failure the
tail of every log is printed to stderr.
"""
import atexit
import ctypes
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "fixture")
sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
if FIXTURE not in sys.path:
    sys.path.insert(0, FIXTURE)
import gitlab_node  # noqa: E402
import kube_node  # noqa: E402
import rails_files  # noqa: E402
import registry_fixture  # noqa: E402

PG_BIN = "/usr/lib/postgresql/15/bin"
# The binary itself: Debian's /usr/bin/psql is a Perl wrapper that costs
# ~40 ms a call, paid by every GitLab API request of the fixture.
PSQL = os.path.join(PG_BIN, "psql")
GIT = "/usr/bin/git"
REDIS_SERVER = "/usr/bin/redis-server"
REDIS_CLI = "/usr/bin/redis-cli"
PG_DB = "gitlabhq_production"
PG_CI_DB = "gitlabhq_production_ci"  # a separate CI database (Fleet(ci_database=True))
PG_USER = "postgres"
PG_OS_USER = "postgres"
SERVER_NAME = "localhost"
SITE = "main"

DEFAULT_NODES = [
    ("rails-1", ["rails", "sidekiq"]),
    ("gitaly-1", ["gitaly"]),
    ("gitaly-2", ["gitaly"]),
    ("postgresql-1", ["postgresql"]),
    ("redis-1", ["redis"]),
]

# name, path, namespace id, empty?
PROJECTS = [
    (1, "GitLab Test", "gitlab-test", 2, False),
    (2, "Gitaly Demo", "gitaly-demo", 2, False),
    (3, "dotfiles", "dotfiles", 1, False),
    (4, "Notes", "notes", 3, False),
    (5, "Docs", "docs", 2, False),
    (6, "Empty Project", "empty-project", 3, True),
]
NAMESPACES = [  # id, name, path, owner_id, type
    (1, "Administrator", "root", 1, "User"),
    (2, "GitLab.org", "gitlab-org", 1, "Group"),
    (3, "Alice", "alice", 2, "User"),
]

# A small subset of GitLab's CI tables (db/structure.sql of a decomposed
# installation: the ci database has its own schema_migrations), with GitLab's
# table and column names. Seeded by _ci_seed_sql.
CI_SCHEMA = """
CREATE TABLE schema_migrations (
    version character varying NOT NULL PRIMARY KEY,
    finished_at timestamp with time zone DEFAULT now()
);
CREATE TABLE ar_internal_metadata (
    key character varying NOT NULL PRIMARY KEY,
    value character varying,
    created_at timestamp(6) without time zone NOT NULL,
    updated_at timestamp(6) without time zone NOT NULL
);
CREATE TABLE ci_pipelines (
    id bigserial PRIMARY KEY,
    ref character varying,
    sha character varying,
    before_sha character varying,
    created_at timestamp without time zone,
    updated_at timestamp without time zone,
    tag boolean DEFAULT false,
    project_id integer,
    status character varying,
    started_at timestamp without time zone,
    finished_at timestamp without time zone,
    duration integer,
    user_id integer,
    lock_version integer DEFAULT 0,
    source integer,
    iid integer,
    partition_id bigint DEFAULT 100 NOT NULL
);
CREATE TABLE ci_stages (
    id bigserial PRIMARY KEY,
    project_id integer,
    created_at timestamp without time zone,
    updated_at timestamp without time zone,
    name character varying,
    status integer,
    lock_version integer DEFAULT 0,
    "position" integer,
    pipeline_id bigint REFERENCES ci_pipelines (id) ON DELETE CASCADE,
    partition_id bigint DEFAULT 100 NOT NULL
);
CREATE TABLE ci_builds (
    id bigserial PRIMARY KEY,
    status character varying,
    finished_at timestamp without time zone,
    created_at timestamp without time zone,
    updated_at timestamp without time zone,
    started_at timestamp without time zone,
    name character varying,
    allow_failure boolean DEFAULT false NOT NULL,
    stage_idx integer,
    tag boolean,
    ref character varying,
    type character varying,
    project_id bigint,
    "when" character varying,
    queued_at timestamp without time zone,
    lock_version integer DEFAULT 0,
    retried boolean,
    protected boolean,
    failure_reason integer,
    commit_id bigint REFERENCES ci_pipelines (id) ON DELETE CASCADE,
    user_id bigint,
    stage_id bigint REFERENCES ci_stages (id) ON DELETE CASCADE,
    partition_id bigint DEFAULT 100 NOT NULL
);
CREATE INDEX index_ci_builds_on_commit_id_and_status_and_type ON ci_builds (commit_id, status, type);
CREATE TABLE ci_job_artifacts (
    id bigserial PRIMARY KEY,
    project_id bigint NOT NULL,
    job_id bigint NOT NULL REFERENCES ci_builds (id) ON DELETE CASCADE,
    file_type integer NOT NULL,
    size bigint,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    expire_at timestamp with time zone,
    file character varying,
    file_store integer DEFAULT 1,
    file_sha256 bytea,
    file_format smallint,
    partition_id bigint DEFAULT 100 NOT NULL
);
"""

GIT_EPOCH = 1700000000
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Lockstep Fixture",
    "GIT_AUTHOR_EMAIL": "fixture@example.com",
    "GIT_COMMITTER_NAME": "Lockstep Fixture",
    "GIT_COMMITTER_EMAIL": "fixture@example.com",
    "GIT_AUTHOR_DATE": "@%d +0000" % GIT_EPOCH,
    "GIT_COMMITTER_DATE": "@%d +0000" % GIT_EPOCH,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_TERMINAL_PROMPT": "0",
}


class FleetError(Exception):
    pass


class FleetTimeout(FleetError):
    pass


class FleetAbort(FleetError):
    """Raised by a wait_until predicate to stop waiting at once."""


# ---------------------------------------------------------------- utilities

def parse_duration(v):
    """'2s', '500ms', '1m', 3 -> seconds (float)."""
    if isinstance(v, (int, float)):
        return float(v)
    m = re.fullmatch(r"\s*([0-9.]+)\s*(ms|s|m|h)?\s*", str(v))
    if not m:
        raise ValueError("bad duration %r" % (v,))
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]


_ports_lock = threading.Lock()
_ports_used = set()


def free_port():
    """A free TCP port on 127.0.0.1 (bind to 0), never the same twice here."""
    with _ports_lock:
        for _ in range(100):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            finally:
                s.close()
            if port not in _ports_used:
                _ports_used.add(port)
                return port
    raise FleetError("no free port")


def clean_env(extra=None):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PG", "GIT_", "LOCKSTEP_"))}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
    env["LC_ALL"] = "C.UTF-8"
    env.update(extra or {})
    return env


def yq(s):
    """A YAML double-quoted scalar (JSON string syntax is valid YAML)."""
    return json.dumps(str(s))


def yaml_value(v):
    """A Python value as YAML: booleans bare (true/false), anything else quoted."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return yq(v)


def tail(path, lines=40):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read().decode("utf-8", "replace")
    except OSError as e:
        return "(cannot read: %s)" % e
    return "\n".join(ln if len(ln) <= 600 else ln[:600] + " [...]" for ln in data.splitlines()[-lines:])


_libc = None


def _pdeathsig(sig):
    """preexec_fn: the child gets `sig` when the harness dies (even SIGKILL)."""
    def fn():
        global _libc
        try:
            if _libc is None:
                _libc = ctypes.CDLL(None, use_errno=True)
            _libc.prctl(1, int(sig), 0, 0, 0)  # PR_SET_PDEATHSIG
        except Exception:
            pass
    return fn


class Proc:
    """A child process in its own process group, output to a log file."""

    def __init__(self, name, argv, log, env=None, cwd=None):
        self.name, self.argv, self.log, self.env, self.cwd = name, argv, log, env, cwd
        self.popen = None

    def start(self):
        with open(self.log, "ab") as logf:
            logf.write(("--- %s start: %s\n" % (time.strftime("%H:%M:%S"),
                                                 " ".join(self.argv))).encode())
            logf.flush()
            self.popen = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                env=self.env if self.env is not None else clean_env(), cwd=self.cwd,
                start_new_session=True, preexec_fn=_pdeathsig(signal.SIGTERM))
        return self

    @property
    def pid(self):
        return self.popen.pid if self.popen else None

    def alive(self):
        return self.popen is not None and self.popen.poll() is None

    @property
    def returncode(self):
        return self.popen.poll() if self.popen else None

    def signal_group(self, sig):
        if self.popen is None:
            return
        try:
            os.killpg(self.popen.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def wait(self, timeout):
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Signal the group, wait, then SIGKILL whatever is left of it."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.signal_group(sig)
            if self.wait(timeout) is None:
                self.signal_group(signal.SIGKILL)
                self.wait(5)
        self.signal_group(signal.SIGKILL)  # stragglers of the group
        return self.popen.poll()


# Live environments, closed at exit and on SIGTERM.
_LIVE = []
_LIVE_LOCK = threading.Lock()


def _close_all():
    with _LIVE_LOCK:
        envs = list(_LIVE)
    for env in reversed(envs):
        try:
            env.close()
        except Exception as e:  # pragma: no cover
            sys.stderr.write("fleet: teardown error: %r\n" % (e,))


atexit.register(_close_all)


def _on_sigterm(signum, frame):
    # Unwind through every `with` block (their __exit__ tears down), then atexit.
    raise SystemExit(128 + signum)


def _install_signal_handlers():
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) in (signal.SIG_DFL, None):
            signal.signal(sig, _on_sigterm)


HARNESS_PID = "harness.pid"


def _remove_stale_dirs():
    """Remove fleet dirs left by a harness that was SIGKILLed (its pid file
    names a dead process). Kept dirs (LOCKSTEP_KEEP=1) have no pid file."""
    for d in os.listdir("/tmp"):
        path = os.path.join("/tmp", d)
        if not re.fullmatch(r"ls-[A-Za-z0-9_]{8}", d) or not os.path.isdir(path):
            continue
        try:
            with open(os.path.join(path, HARNESS_PID)) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            continue
        if pid != os.getpid() and not os.path.exists("/proc/%d" % pid):
            shutil.rmtree(path, ignore_errors=True)


# ------------------------------------------------------------------ fixture

class FixtureEnv:
    """PostgreSQL, Redis, git repositories and GitLab node fixtures."""

    def __init__(self, nodes=None, gitlab_version=gitlab_node.DEFAULT_VERSION,
                 versions=None, keep=None, quiet=False, projects=None, ci_database=False):
        nodes = nodes if nodes is not None else DEFAULT_NODES
        # A second database, PG_CI_DB, in the same cluster, as a decomposed
        # GitLab has; its conninfo goes into the postgresql node's agent.yml.
        self.ci_database = ci_database
        # PROJECTS, then generated ones up to `projects` in all.
        self.projects = list(PROJECTS) + [
            (pid, "Project %03d" % pid, "project-%03d" % pid, 1 + pid % len(NAMESPACES), False)
            for pid in range(len(PROJECTS) + 1, (projects or 0) + 1)]
        if isinstance(nodes, dict):
            nodes = list(nodes.items())
        self.nodes = [(n, list(r.split(",") if isinstance(r, str) else r)) for n, r in nodes]
        self.roles = dict(self.nodes)
        self.gitlab_version = gitlab_version
        self.versions = dict(versions or {})
        self.keep = os.environ.get("LOCKSTEP_KEEP") == "1" if keep is None else keep
        self.quiet = quiet
        self.dir = None
        self.logs_dir = None
        self.procs = {}
        self.http_ports = {}
        self.repos = []
        self.rails_files = {}
        self.storage_nodes = {}
        self.storages = {}  # node -> [(storage name, path)]
        self.pg_port = self.redis_port = None
        self._closed = False
        self._logs_dumped = False
        self.timings = {}

    # --- context manager
    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.dump_logs()
            self.close()
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.dump_logs()
        self.close()
        return False

    def _t(self, label, t0):
        self.timings[label] = round(time.monotonic() - t0, 3)

    def start(self):
        _install_signal_handlers()
        t0 = time.monotonic()
        _remove_stale_dirs()
        self.dir = tempfile.mkdtemp(prefix="ls-", dir="/tmp")
        with _LIVE_LOCK:
            _LIVE.append(self)
        os.chmod(self.dir, 0o755)  # postgres must traverse it
        with open(os.path.join(self.dir, HARNESS_PID), "w") as f:
            f.write("%d\n" % os.getpid())
        self.logs_dir = os.path.join(self.dir, "logs")
        os.makedirs(self.logs_dir)
        os.chmod(self.logs_dir, 0o755)
        self._assign_storages()
        for name, roles in self.nodes:
            if self.kube_only(name):
                # Laid out once PostgreSQL runs: its chart side is a
                # database there (_make_kube_nodes).
                os.makedirs(self.node_dir(name))
                gitlab_node.write_os_release(self.node_dir(name))
                continue
            gitlab_node.make_node(self.node_dir(name), name, roles,
                                  version=self.versions.get(name, self.gitlab_version),
                                  storages=self.storages.get(name))
        self._t("nodes", t0)
        t = time.monotonic()
        pg_thread_err = []
        th = threading.Thread(target=self._initdb_safe, args=(pg_thread_err,))
        th.start()
        try:
            self._make_repos()
            self._make_rails_files()
        finally:
            th.join()
        if pg_thread_err:
            raise pg_thread_err[0]
        self._t("initdb+repos", t)
        t = time.monotonic()
        self._start_postgres()
        self._load_schema()
        if self.ci_database:
            self._load_ci_schema()
        self._make_kube_nodes()
        for name, roles in self.nodes:
            if "rails" in roles:
                rails_files.write_rails_db_config(
                    self.node_dir(name), PSQL, self.pg_socket_dir, self.pg_port, PG_USER, PG_DB,
                    PG_CI_DB if self.ci_database else None, self.objstore_dir)
        self._t("postgres", t)
        t = time.monotonic()
        self._start_redis()
        self._t("redis", t)
        t = time.monotonic()
        for name, roles in self.nodes:
            if "rails" in roles:
                self._start_http(name)
        self._t("http", t)
        self._t("fixture_total", t0)

    def kube_only(self, name):
        """A node with the kubernetes role alone: it drives the GitLab
        chart (the Kubernetes stand-in, kube_node) and has no GitLab."""
        return self.roles.get(name) == ["kubernetes"]

    def _make_kube_nodes(self):
        version, _ = gitlab_node.split_version(self.gitlab_version)
        for name, _roles in self.nodes:
            if not self.kube_only(name):
                continue
            kube_node.make_kube_node(self.node_dir(name), app_version=version,
                                     chart_side={"pg_host": self.pg_socket_dir,
                                                 "pg_port": self.pg_port,
                                                 "pg_user": PG_USER,
                                                 "objstore": self.objstore_dir})
            kube_node.create_chart_database(self.node_dir(name))

    # --- paths
    def node_dir(self, name):
        return os.path.join(self.dir, name)

    def node_paths(self, name):
        return gitlab_node.node_paths(self.node_dir(name))

    def log_path(self, name):
        return os.path.join(self.logs_dir, name + ".log")

    def _role_home(self, role, fallback):
        for name, roles in self.nodes:
            if role in roles:
                return self.node_dir(name)
        return os.path.join(self.dir, fallback)

    @property
    def pg_home(self):
        return os.path.join(self._role_home("postgresql", "pg"), "var", "opt", "gitlab", "postgresql")

    @property
    def pg_socket_dir(self):
        return self.pg_home

    @property
    def pg_data(self):
        return os.path.join(self.pg_home, "data")

    @property
    def pg_conninfo(self):
        return "host=%s port=%d dbname=%s user=%s" % (self.pg_socket_dir, self.pg_port, PG_DB, PG_USER)

    @property
    def pg_ci_conninfo(self):
        return "host=%s port=%d dbname=%s user=%s" % (self.pg_socket_dir, self.pg_port, PG_CI_DB, PG_USER)

    @property
    def objstore_dir(self):
        """The fleet's object storage: <fleet>/objstore/<bucket>/<key>."""
        return os.path.join(self.dir, "objstore")

    @property
    def redis_dir(self):
        return os.path.join(self._role_home("redis", "redis"), "var", "opt", "gitlab", "redis")

    @property
    def redis_socket(self):
        return os.path.join(self.redis_dir, "redis.socket")

    # --- PostgreSQL
    def _runuser(self, *argv):
        return ["runuser", "-u", PG_OS_USER, "--"] + list(argv)

    def _initdb_safe(self, errs):
        try:
            self._initdb()
        except BaseException as e:
            errs.append(e)

    def _initdb(self):
        os.makedirs(self.pg_home, exist_ok=True)
        # postgres must traverse every directory down to its home.
        d = self.pg_home
        while d.startswith(self.dir + "/"):
            os.chmod(d, os.stat(d).st_mode | 0o755)
            d = os.path.dirname(d)
        shutil.chown(self.pg_home, PG_OS_USER, PG_OS_USER)
        os.chmod(self.pg_home, 0o755)
        log = self.log_path("initdb")
        with open(log, "ab") as logf:
            p = subprocess.run(
                self._runuser(os.path.join(PG_BIN, "initdb"), "-D", self.pg_data, "-U", PG_USER,
                              "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
                              "--no-instructions"),
                stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                env=clean_env(), cwd=self.dir, timeout=120)
        if p.returncode != 0:
            raise FleetError("initdb failed (exit %d):\n%s" % (p.returncode, tail(log)))

    def _start_postgres(self):
        last = None
        for attempt in range(3):
            self.pg_port = free_port()
            # Foreground postmaster under runuser (not pg_ctl, which detaches
            # it): it stays in our process tree and process group.
            proc = Proc("postgresql", self._runuser(
                os.path.join(PG_BIN, "postgres"), "-D", self.pg_data,
                "-p", str(self.pg_port), "-k", self.pg_socket_dir,
                "-c", "listen_addresses=127.0.0.1",
                "-c", "fsync=off", "-c", "synchronous_commit=off",
                "-c", "full_page_writes=off", "-c", "shared_buffers=32MB",
                "-c", "max_connections=100", "-c", "logging_collector=off",
                "-c", "log_line_prefix=%m [%p] "),
                self.log_path("postgresql"), cwd=self.dir)
            self.procs["postgresql"] = proc.start()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and proc.alive():
                r = subprocess.run([os.path.join(PG_BIN, "pg_isready"), "-q", "-h", self.pg_socket_dir,
                                    "-p", str(self.pg_port), "-d", "postgres", "-U", PG_USER],
                                   env=clean_env(), stdin=subprocess.DEVNULL)
                if r.returncode == 0:
                    return
                time.sleep(0.05)
            last = tail(self.log_path("postgresql"))
            self._stop_postgres()
            if "already in use" not in (last or ""):
                break
        raise FleetError("PostgreSQL did not start:\n%s" % last)

    def _stop_postgres(self):
        proc = self.procs.get("postgresql")
        if not proc or proc.popen is None:
            return
        if proc.alive():
            pm = None
            try:
                with open(os.path.join(self.pg_data, "postmaster.pid")) as f:
                    pm = int(f.readline().strip())
            except (OSError, ValueError):
                pass
            if pm:
                try:
                    os.kill(pm, signal.SIGINT)  # fast shutdown
                except ProcessLookupError:
                    pass
                if proc.wait(15) is None:
                    try:
                        os.kill(pm, signal.SIGQUIT)  # immediate shutdown
                    except ProcessLookupError:
                        pass
        proc.stop(timeout=5)

    def psql(self, sql, db=PG_DB, check=True, variables=None):
        """Run SQL (stdin, psql -At) in the fleet database; return stdout."""
        argv = [PSQL, "-X", "-At", "-q", "-v", "ON_ERROR_STOP=1", "-h", self.pg_socket_dir,
                "-p", str(self.pg_port), "-U", PG_USER, "-d", db]
        for k, v in (variables or {}).items():
            argv += ["-v", "%s=%s" % (k, v)]
        p = subprocess.run(argv, input=sql, capture_output=True, text=True,
                           env=clean_env(), timeout=60)
        if check and p.returncode != 0:
            raise FleetError("psql failed (exit %d): %s\nSQL: %s" % (p.returncode, p.stderr, sql))
        return p.stdout.strip()

    def _load_schema(self):
        self.psql("CREATE DATABASE %s;" % PG_DB, db="postgres")
        with open(os.path.join(FIXTURE, "schema.sql")) as f:
            schema = f.read()
        self.psql(schema + "\n" + self._seed_sql())

    def _load_ci_schema(self):
        self.psql("CREATE DATABASE %s;" % PG_CI_DB, db="postgres")
        self.psql(CI_SCHEMA + "\n" + self._ci_seed_sql(), db=PG_CI_DB)

    def _ci_seed_sql(self):
        """Pipelines with stages, builds and artifacts for the first projects."""
        ts = "'2025-02-21 10:00:00'"
        out = ["BEGIN;",
               "INSERT INTO schema_migrations (version) VALUES ('20250115083001'), ('20250129124422'), "
               "('20250206114301');",
               "INSERT INTO ar_internal_metadata VALUES ('environment', 'production', %s, %s);" % (ts, ts)]
        sha = lambda *a: hashlib.sha1(repr(a).encode()).hexdigest()  # noqa: E731
        pipeline = stage = build = 0
        for pid in range(1, 4):
            for iid in range(1, 4):
                pipeline += 1
                out.append("INSERT INTO ci_pipelines (id, ref, sha, created_at, updated_at, project_id, status, "
                           "started_at, finished_at, duration, user_id, source, iid) VALUES "
                           "(%d, 'main', '%s', %s, %s, %d, 'success', %s, %s, 60, 1, 1, %d);" % (
                               pipeline, sha(pid, iid), ts, ts, pid, ts, ts, iid))
                for pos, sname in enumerate(("build", "test")):
                    stage += 1
                    out.append("INSERT INTO ci_stages (id, project_id, created_at, updated_at, name, status, "
                               "\"position\", pipeline_id) VALUES (%d, %d, %s, %s, '%s', 1, %d, %d);" % (
                                   stage, pid, ts, ts, sname, pos, pipeline))
                    for j in range(2):
                        build += 1
                        out.append("INSERT INTO ci_builds (id, status, created_at, updated_at, name, stage_idx, "
                                   "ref, type, project_id, \"when\", commit_id, user_id, stage_id) VALUES "
                                   "(%d, 'success', %s, %s, '%s %d', %d, 'main', 'Ci::Build', %d, 'on_success', "
                                   "%d, 1, %d);" % (build, ts, ts, sname, j + 1, pos, pid, pipeline, stage))
                        out.append("INSERT INTO ci_job_artifacts (project_id, job_id, file_type, size, created_at, "
                                   "updated_at, file, file_format) VALUES (%d, %d, 3, 1024, %s, %s, "
                                   "'job.log', 3);" % (pid, build, ts, ts))
        for table in ("ci_pipelines", "ci_stages", "ci_builds", "ci_job_artifacts"):
            out.append("SELECT setval('%s_id_seq', (SELECT max(id) FROM %s));" % (table, table))
        out.append("COMMIT;")
        return "\n".join(out) + "\n"

    def _seed_sql(self):
        q = lambda s: "NULL" if s is None else "'" + str(s).replace("'", "''") + "'"  # noqa: E731
        ts = "'2025-02-21 10:00:00'"
        out = ["BEGIN;"]
        out.append("INSERT INTO schema_migrations (version) VALUES %s;" % ", ".join(
            "(%s)" % q(v) for v in ("20250115083001", "20250129124422", "20250206114301")))
        out.append("INSERT INTO ar_internal_metadata VALUES ('environment', 'production', %s, %s), "
                   "('schema_sha1', %s, %s, %s);" % (ts, ts, q(hashlib.sha1(b"schema").hexdigest()), ts, ts))
        out.append("INSERT INTO users (id, email, name, username, admin, projects_limit, state, created_at, updated_at) VALUES "
                   "(1, 'admin@example.com', 'Administrator', 'root', true, 100000, 'active', %s, %s), "
                   "(2, 'alice@example.com', 'Alice', 'alice', false, 100000, 'active', %s, %s);" % (ts, ts, ts, ts))
        out.append("INSERT INTO namespaces (id, name, path, owner_id, type, traversal_ids, created_at, updated_at) VALUES %s;" % ", ".join(
            "(%d, %s, %s, %d, %s, '{%d}', %s, %s)" % (i, q(n), q(p), o, q(t), i, ts, ts)
            for i, n, p, o, t in NAMESPACES))
        shard_names = sorted({r["storage"] for r in self.repos} | {"default"},
                             key=lambda s: (s != "default", s))
        shard_id = {n: i + 1 for i, n in enumerate(shard_names)}
        out.append("INSERT INTO shards (id, name) VALUES %s;" % ", ".join(
            "(%d, %s)" % (i, q(n)) for n, i in shard_id.items()))
        prow, rrow = [], []
        for r in self.repos:
            prow.append("(%d, %s, %s, %d, 1, %s, 2, %s, %s, %s, 20, true)" % (
                r["id"], q(r["name"]), q(r["path"]), r["namespace_id"], q(r["storage"]), ts, ts, ts))
            rrow.append("(%d, %d, %s, %d)" % (r["id"], shard_id[r["storage"]], q(r["disk_path"]), r["id"]))
        out.append("INSERT INTO projects (id, name, path, namespace_id, creator_id, repository_storage, "
                   "storage_version, created_at, updated_at, last_activity_at, visibility_level, lfs_enabled) VALUES %s;" % ", ".join(prow))
        out.append("INSERT INTO project_repositories (id, shard_id, disk_path, project_id) VALUES %s;" % ", ".join(rrow))
        # Two issues and a merge request (feature into main) per project
        # with history: what a cutover's verification counts.
        full = [r["id"] for r in self.repos if not r["empty"]]
        out.append("INSERT INTO issues (id, title, author_id, project_id, iid, created_at, updated_at) VALUES %s;"
                   % ", ".join("(%d, %s, 2, %d, %d, %s, %s)" % (2 * i + n + 1, q("Issue %d" % (n + 1)), pid, n + 1,
                                                              ts, ts)
                               for i, pid in enumerate(full) for n in range(2)))
        out.append("INSERT INTO merge_requests (id, target_branch, source_branch, source_project_id, "
                   "target_project_id, author_id, iid, title, created_at, updated_at) VALUES %s;"
                   % ", ".join("(%d, 'main', 'feature', %d, %d, 2, 1, 'More feature work', %s, %s)" % (
                       i + 1, pid, pid, ts, ts) for i, pid in enumerate(full)))
        out.append("INSERT INTO application_settings (id, default_projects_limit, signup_enabled, created_at, updated_at, "
                   "default_branch_name, maintenance_mode, maintenance_mode_message) VALUES "
                   "(1, 100000, false, %s, %s, 'main', false, NULL);" % (ts, ts))
        bbms = [  # job_class_name, table, column, job_arguments, status, total
            ("CopyColumnUsingBackgroundMigrationJob", "events", "id",
             '[["id"], ["id_convert_to_bigint"]]', 6, 1200),
            ("BackfillProjectRepositories", "projects", "id", "[]", 6, 6),
            ("BackfillDefaultBranchProtectionNamespaceSetting", "namespace_settings", "namespace_id", "[]", 3, 3),
            ("BackfillUploadsShardingKey", "uploads", "id", "[]", 3, 2),
            ("BackfillCiJobArtifactsProjectId", "ci_job_artifacts", "id",
             '["project_id", "ci_builds", "project_id", "job_id"]', 3, 2),
        ]
        rows = []
        for i, (cls, tbl, col, args, status, total) in enumerate(bbms, start=1):
            created = "'2025-01-%02d 09:00:00+00'" % (i + 10)
            rows.append("(%d, %s, %s, 1, %d, 1000, 100, 120, %d, %s, %s, %s, %s::jsonb, %d, "
                        "'gitlab_main', %s, %s)" % (
                            i, created, created, total, status, q(cls), q(tbl), q(col), q(args),
                            total, created, created))
        out.append("INSERT INTO batched_background_migrations (id, created_at, updated_at, min_value, max_value, "
                   "batch_size, sub_batch_size, \"interval\", status, job_class_name, table_name, column_name, "
                   "job_arguments, total_tuple_count, gitlab_schema, started_at, finished_at) VALUES %s;" % ", ".join(rows))
        out.append("SELECT setval('batched_background_migrations_id_seq', %d);" % len(bbms))
        out.append("INSERT INTO batched_background_migration_jobs (id, created_at, updated_at, batched_background_migration_id, "
                   "min_value, max_value, batch_size, sub_batch_size, status) "
                   "SELECT id, created_at, updated_at, id, 1, max_value, max_value, 100, 3 FROM batched_background_migrations;")
        out.append("SELECT setval('batched_background_migration_jobs_id_seq', %d);" % len(bbms))
        for u in self.rails_files.get("uploads", []):
            out.append("INSERT INTO uploads (id, size, path, checksum, model_id, model_type, uploader, created_at, store, secret) "
                       "VALUES (%d, %d, %s, %s, %d, %s, %s, %s, 1, %s);" % (
                           u["id"], u["size"], q(u["path"]), q(u["checksum"]), u["model_id"],
                           q(u["model_type"]), q(u["uploader"]), ts, q(u.get("secret"))))
        for a in self.rails_files.get("artifacts", []):
            out.append("INSERT INTO ci_job_artifacts (id, project_id, job_id, file_type, size, created_at, updated_at, "
                       "file, file_store, file_sha256, file_format) VALUES (%d, %d, %d, 1, %d, %s, %s, %s, 1, "
                       "decode(%s, 'hex'), 2);" % (a["id"], a["project_id"], a["job_id"], a["size"], ts, ts,
                                                   q(a["file"]), q(a["sha256"])))
        for o in self.rails_files.get("lfs", []):
            out.append("INSERT INTO lfs_objects (id, oid, size, created_at, updated_at, file, file_store) "
                       "VALUES (%d, %s, %d, %s, %s, %s, 1);" % (o["id"], q(o["oid"]), o["size"], ts, ts, q(o["file"])))
        for f in self.rails_files.get("packages", []):
            out.append("INSERT INTO packages_package_files (id, package_id, created_at, updated_at, size, file_store, "
                       "file_name, file, file_sha256) VALUES (%d, %d, %s, %s, %d, 1, %s, %s, decode(%s, 'hex'));" % (
                           f["id"], f["package_id"], ts, ts, f["size"], q(f["file_name"]), q(f["file"]),
                           q(f["sha256"])))
        for v in self.rails_files.get("terraform_state", []):
            out.append("INSERT INTO terraform_state_versions (id, terraform_state_id, created_at, updated_at, version, "
                       "file_store, file) VALUES (%d, %d, %s, %s, %d, 1, %s);" % (
                           v["id"], v["terraform_state_id"], ts, ts, v["version"], q(v["file"])))
        for d in self.rails_files.get("pages", []):
            out.append("INSERT INTO pages_deployments (id, created_at, updated_at, project_id, file_store, file, "
                       "file_count, file_sha256, size) VALUES (%d, %s, %s, %d, 1, %s, %d, decode(%s, 'hex'), %d);" % (
                           d["id"], ts, ts, d["project_id"], q(d["file"]), d["file_count"], q(d["sha256"]),
                           d["size"]))
        for c in self.rails_files.get("ci_secure_files", []):
            out.append("INSERT INTO ci_secure_files (id, project_id, created_at, updated_at, file_store, name, file, "
                       "checksum) VALUES (%d, %d, %s, %s, 1, %s, %s, decode(%s, 'hex'));" % (
                           c["id"], c["project_id"], ts, ts, q(c["name"]), q(c["file"]), q(c["sha256"])))
        out.append("COMMIT;")
        return "\n".join(out) + "\n"

    # --- git repositories
    def _assign_storages(self):
        gitaly = [n for n, r in self.nodes if "gitaly" in r]
        self.storage_nodes = {}
        for i, name in enumerate(gitaly):
            sname = "default" if i == 0 else "storage%d" % (i + 1)
            path = self.node_paths(name)["git_data"]
            self.storages[name] = [(sname, path)]
            self.storage_nodes[sname] = (name, path)

    def storage_path(self, storage):
        return self.storage_nodes[storage][1]

    def _make_repos(self):
        env = clean_env(dict(GIT_ENV, HOME=self.dir))
        storages = sorted(self.storage_nodes.items(), key=lambda kv: (kv[0] != "default", kv[0]))
        ns_path = {i: p for i, _, p, _, _ in NAMESPACES}
        self.repos = []
        if not storages:
            return
        for pid, name, path, ns, empty in self.projects:
            sname, (node, root) = storages[(pid - 1) % len(storages)]
            h = hashlib.sha256(str(pid).encode()).hexdigest()
            disk_path = "@hashed/%s/%s/%s" % (h[0:2], h[2:4], h)
            gitdir = os.path.join(root, disk_path + ".git")
            os.makedirs(os.path.dirname(gitdir), exist_ok=True)
            self._git(env, "init", "--quiet", "--bare", "--initial-branch=main", gitdir)
            self._git(env, "--git-dir", gitdir, "config", "gitlab.fullpath",
                      "%s/%s" % (ns_path[ns], path))
            if not empty:
                self._git(env, "--git-dir", gitdir, "fast-import", "--quiet",
                          input=self._history(pid, name))
            hooks = []
            if pid == 1:
                hooks = self._custom_hooks(gitdir)
            self.repos.append({"id": pid, "name": name, "path": path, "namespace_id": ns,
                               "full_path": "%s/%s" % (ns_path[ns], path), "storage": sname,
                               "node": node, "disk_path": disk_path, "hash": h,
                               "git_dir": gitdir, "empty": empty, "custom_hooks": hooks})

    @staticmethod
    def _custom_hooks(gitdir):
        """Gitaly's server-side custom hooks: <repo>.git/custom_hooks/.
        Returns their names relative to custom_hooks/."""
        root = os.path.join(gitdir, "custom_hooks")
        files = {"pre-receive": "#!/bin/sh\n# refuse pushes to frozen/*\nexit 0\n",
                 "post-receive.d/notify": "#!/bin/sh\necho notified\n"}
        for rel, body in files.items():
            path = os.path.join(root, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as fh:
                fh.write(body)
            os.chmod(path, 0o755)
        return sorted(files)

    def _git(self, env, *args, input=None):
        p = subprocess.run([GIT] + list(args), input=input, capture_output=True, env=env, timeout=60)
        if p.returncode != 0:
            raise FleetError("git %s failed: %s" % (" ".join(args[:3]), p.stderr.decode(errors="replace")))
        return p.stdout

    @staticmethod
    def _history(pid, name):
        """A git fast-import stream: 4 commits on main, 2 on feature, tag v1.0."""
        out = []

        def data(b):
            b = b.encode() if isinstance(b, str) else b
            out.append(b"data %d\n" % len(b) + b + b"\n")

        def commit(ref, mark, when, msg, parent, files):
            out.append(("commit %s\nmark :%d\n" % (ref, mark)).encode())
            out.append(("author Lockstep Fixture <fixture@example.com> %d +0000\n" % when).encode())
            out.append(("committer Lockstep Fixture <fixture@example.com> %d +0000\n" % when).encode())
            data(msg)
            if parent:
                out.append(("from :%d\n" % parent).encode())
            for path, content in files:
                out.append(("M 100644 inline %s\n" % path).encode())
                data(content)

        base = GIT_EPOCH + pid * 10000
        commit("refs/heads/main", 1, base, "Initial commit\n", None,
               [("README.md", "# %s\n\nProject %d of the Lockstep fixture.\n" % (name, pid))])
        commit("refs/heads/main", 2, base + 60, "Add main.c\n", 1,
               [("src/main.c", "#include <stdio.h>\nint main(void) { puts(\"%s\"); return 0; }\n" % name)])
        commit("refs/heads/main", 3, base + 120, "Add guide\n", 2,
               [("docs/guide.md", "Guide for project %d\n" % pid),
                ("VERSION", "1.0.%d\n" % pid)])
        commit("refs/heads/main", 4, base + 180, "Update README\n", 3,
               [("README.md", "# %s\n\nProject %d. Now with docs.\n" % (name, pid))])
        out.append(b"reset refs/heads/feature\nfrom :2\n\n")
        commit("refs/heads/feature", 5, base + 240, "Feature work\n", 2,
               [("src/feature.c", "int feature_%d(void) { return %d; }\n" % (pid, pid))])
        commit("refs/heads/feature", 6, base + 300, "More feature work\n", 5,
               [("src/feature.c", "int feature_%d(void) { return %d * 2; }\n" % (pid, pid))])
        out.append(b"tag v1.0\nfrom :3\n")
        out.append(("tagger Lockstep Fixture <fixture@example.com> %d +0000\n" % (base + 150)).encode())
        data("Release 1.0\n")
        out.append(b"done\n")
        return b"".join(out)

    # --- Rails files (uploads, artifacts, LFS objects)
    def _make_rails_files(self):
        self.rails_files = {}
        rails = [n for n, r in self.nodes if "rails" in r]
        if not rails:
            return
        p = self.node_paths(rails[0])

        def put(path, content):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(content)
            return len(content), hashlib.sha256(content).hexdigest()

        uploads = []
        size, sha = put(os.path.join(p["uploads"], "-", "system", "user", "avatar", "1", "avatar.png"),
                        b"\x89PNG\r\n\x1a\nfixture-avatar")
        uploads.append({"id": 1, "size": size, "checksum": sha, "model_id": 1, "model_type": "User",
                        "uploader": "AvatarUploader", "path": "uploads/-/system/user/avatar/1/avatar.png"})
        h = hashlib.sha256(b"1").hexdigest()
        secret = hashlib.md5(b"upload-2").hexdigest()
        size, sha = put(os.path.join(p["uploads"], "@hashed", h[0:2], h[2:4], h, secret, "notes.txt"),
                        b"an uploaded file\n")
        uploads.append({"id": 2, "size": size, "checksum": sha, "model_id": 1, "model_type": "Project",
                        "uploader": "FileUploader", "path": "%s/notes.txt" % secret, "secret": secret})
        artifacts = []
        for aid, (proj, job) in enumerate([(1, 101), (2, 102)], start=1):
            ph = hashlib.sha256(str(proj).encode()).hexdigest()
            content = ("artifact %d of job %d\n" % (aid, job)).encode()
            rel = os.path.join(ph[0:2], ph[2:4], ph, "2025_02_21", str(job), str(aid), "artifacts.zip")
            size, sha = put(os.path.join(p["rails_shared"], "artifacts", rel), content)
            artifacts.append({"id": aid, "project_id": proj, "job_id": job, "size": size,
                              "file": "artifacts.zip", "sha256": sha})
        lfs = []
        for lid in (1, 2):
            content = ("large file %d\n" % lid).encode() * 8
            oid = hashlib.sha256(content).hexdigest()
            size, _ = put(os.path.join(p["rails_shared"], "lfs-objects", oid[0:2], oid[2:4], oid[4:]), content)
            lfs.append({"id": lid, "oid": oid, "size": size, "file": oid[4:]})
        for sub in ("pages", "terraform_state", "packages", "ci_secure_files", "registry"):
            os.makedirs(os.path.join(p["rails_shared"], sub), exist_ok=True)
        node = self.node_dir(rails[0])

        def put_row(comp, row, content):
            rel = rails_files.rails_file_rel(comp, row)
            row["size"], row["sha256"] = put(os.path.join(rails_files.component_dir(node, comp), rel), content)
            row["rel"] = rel
            return row

        # The other components GitLab moves to object storage (gitlab-facts §8).
        packages = [put_row("packages", {"id": i, "package_id": pkg, "file_name": name, "file": name},
                            ("package file %d\n" % i).encode())
                    for i, (pkg, name) in enumerate([(1, "foo-1.0.0.tgz"), (1, "foo-1.0.1.tgz")], start=1)]
        terraform = [put_row("terraform_state", {"id": 1, "terraform_state_id": 1, "version": 1,
                                                 "file": "1.tfstate"},
                             b'{"version": 4, "serial": 1, "lineage": "fixture"}\n')]
        pages = [put_row("pages", {"id": 1, "project_id": 1, "file": "artifacts.zip", "file_count": 3},
                         b"PK\x05\x06" + bytes(18))]
        secure = [put_row("ci_secure_files", {"id": i, "project_id": 2, "name": name, "file": name},
                          ("secure file %s\n" % name).encode())
                  for i, name in enumerate(["keystore.jks", "profile.mobileprovision"], start=1)]
        self.rails_files = {"uploads": uploads, "artifacts": artifacts, "lfs": lfs, "packages": packages,
                            "terraform_state": terraform, "pages": pages, "ci_secure_files": secure}

    # --- Redis
    def _start_redis(self):
        os.makedirs(self.redis_dir, exist_ok=True)
        last = None
        for attempt in range(3):
            self.redis_port = free_port()
            if os.path.exists(self.redis_socket):
                os.unlink(self.redis_socket)
            proc = Proc("redis", [REDIS_SERVER, "--port", str(self.redis_port), "--bind", "127.0.0.1",
                                  "--unixsocket", self.redis_socket, "--unixsocketperm", "770",
                                  "--dir", self.redis_dir, "--save", "", "--appendonly", "no",
                                  "--daemonize", "no", "--logfile", ""],
                        self.log_path("redis"), cwd=self.dir)
            self.procs["redis"] = proc.start()
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and proc.alive():
                if os.path.exists(self.redis_socket):
                    r = self.redis_cli("PING", check=False)
                    if r.returncode == 0 and r.stdout.strip() == "PONG":
                        return
                time.sleep(0.05)
            last = tail(self.log_path("redis"))
            proc.stop()
            if "in use" not in (last or ""):
                break
        raise FleetError("redis-server did not start:\n%s" % last)

    def redis_cli(self, *args, check=True):
        p = subprocess.run([REDIS_CLI, "-s", self.redis_socket] + list(args), capture_output=True,
                           text=True, env=clean_env(), timeout=30, stdin=subprocess.DEVNULL)
        if check and p.returncode != 0:
            raise FleetError("redis-cli %s failed: %s" % (args, p.stderr))
        return p

    # --- GitLab HTTP fixture
    def _start_http(self, name):
        last = None
        for attempt in range(3):
            port = free_port()
            proc = Proc("http-" + name, [sys.executable, os.path.join(FIXTURE, "gitlab_http.py"),
                                         "--node-dir", self.node_dir(name), "--port", str(port),
                                         "--pg-host", self.pg_socket_dir, "--pg-port", str(self.pg_port),
                                         "--pg-db", PG_DB, "--pg-user", PG_USER, "--psql", PSQL,
                                         "--log", self.log_path("http-%s-access" % name)],
                        self.log_path("http-" + name), cwd=self.dir)
            self.procs["http-" + name] = proc.start()
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and proc.alive():
                try:
                    with urllib.request.urlopen("http://127.0.0.1:%d/-/liveness" % port, timeout=2) as r:
                        if r.status == 200:
                            self.http_ports[name] = port
                            return
                except (urllib.error.URLError, OSError):
                    pass
                time.sleep(0.05)
            last = tail(self.log_path("http-" + name))
            proc.stop()
            if "in use" not in (last or ""):
                break
        raise FleetError("fixture HTTP server for %s did not start:\n%s" % (name, last))

    def http_url(self, name):
        return "http://127.0.0.1:%d" % self.http_ports[name]

    def api_token(self, name):
        return gitlab_node.read_token(self.node_dir(name))

    def http(self, name, method, path, token=True, data=None, headers=None):
        """(status, parsed JSON body) from a node's fixture HTTP server."""
        hdrs = dict(headers or {})
        if token is True:
            hdrs["PRIVATE-TOKEN"] = self.api_token(name)
        elif token:
            hdrs["PRIVATE-TOKEN"] = token
        body = None
        if data is not None:
            body = data.encode() if isinstance(data, str) else data
            hdrs.setdefault("Content-Type", "application/x-www-form-urlencoded")
        req = urllib.request.Request(self.http_url(name) + path, data=body, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    # --- node fixture controls
    def gitlab_ctl(self, node, *args):
        return subprocess.run([self.node_paths(node)["ctl"]] + list(args), capture_output=True,
                              text=True, timeout=30, env=clean_env(), stdin=subprocess.DEVNULL)

    def set_service(self, node, service, up):
        p = self.gitlab_ctl(node, "start" if up else "stop", service)
        if p.returncode != 0:
            raise FleetError("gitlab-ctl %s %s on %s failed: %s%s" % (
                "start" if up else "stop", service, node, p.stdout, p.stderr))
        return p.stdout

    def set_version(self, node, version):
        gitlab_node.write_version(self.node_dir(node), version)

    def set_ready(self, node, ready):
        marker = self.node_paths(node)["not_ready"]
        if ready:
            if os.path.exists(marker):
                os.unlink(marker)
        else:
            open(marker, "w").close()

    # --- upgrades: batched background migrations and the agent's config
    def _bbm_table_sql(self):
        """schema.sql's batched_background_migrations DDL (table, sequence,
        default), for a database that lacks it (the CI database)."""
        with open(os.path.join(FIXTURE, "schema.sql")) as f:
            schema = f.read()
        m = re.search(r"CREATE TABLE batched_background_migrations \(.*?\n\);\n"
                      r"CREATE SEQUENCE batched_background_migrations_id_seq[^\n]*\n"
                      r"ALTER TABLE ONLY batched_background_migrations\n[^\n]*\n", schema, re.S)
        if not m:
            raise FleetError("schema.sql: no batched_background_migrations DDL")
        return m.group(0)

    def seed_bbm(self, count=2, finish_after=None, db=PG_DB, status=1):
        """Insert `count` batched background migrations with `status` (1
        active; 0 paused, 4 failed, 5 finalizing also count as unfinished)
        and return their ids. finish_after (seconds): a timer thread of this
        process sets them to 3 (finished) then, as Sidekiq would; None: they
        stay until finish_bbm(). Wait with wait_bbm_finished(), never sleep.
        A database without the table (the CI one) gets it first."""
        if self.psql("SELECT to_regclass('batched_background_migrations') IS NULL", db=db) == "t":
            self.psql(self._bbm_table_sql(), db=db)
        first = int(self.psql("SELECT COALESCE(max(id), 0) + 1 FROM batched_background_migrations",
                              db=db))
        ids = list(range(first, first + count))
        rows = ", ".join(
            "(%d, now(), now(), 1, 1000, 1000, 100, 120, %d, 'BackfillFixtureRows%d', 'projects', 'id', "
            "'[\"id\", %d]'::jsonb, 1000, 'gitlab_main', now())" % (i, status, i, i) for i in ids)
        self.psql("INSERT INTO batched_background_migrations (id, created_at, updated_at, min_value, "
                  "max_value, batch_size, sub_batch_size, \"interval\", status, job_class_name, table_name, "
                  "column_name, job_arguments, total_tuple_count, gitlab_schema, started_at) VALUES %s; "
                  "SELECT setval('batched_background_migrations_id_seq', %d);" % (rows, ids[-1]), db=db)
        if finish_after is not None:
            t = threading.Timer(finish_after, self._finish_bbm_quietly, args=(ids, db))
            t.daemon = True  # a closed fixture has nothing left to finish
            t.start()
            if not hasattr(self, "_bbm_timers"):
                self._bbm_timers = []
            self._bbm_timers.append(t)
        return ids

    def _finish_bbm_quietly(self, ids, db):
        try:
            self.finish_bbm(ids, db=db)
        except Exception as e:  # the fixture may be closing
            sys.stderr.write("fleet: finishing background migrations %s: %s\n" % (ids, e))

    def finish_bbm(self, ids=None, db=PG_DB):
        """Set the given (default: every unfinished) migrations to 3
        (finished) now."""
        where = "status NOT IN (3, 6)"
        if ids is not None:
            if not ids:
                return
            where += " AND id IN (%s)" % ", ".join("%d" % int(i) for i in ids)
        self.psql("UPDATE batched_background_migrations SET status = 3, finished_at = now(), "
                  "updated_at = now() WHERE %s;" % where, db=db)

    def bbm_unfinished(self, db=PG_DB):
        """[(id, status), ...] of the unfinished migrations, by id."""
        out = self.psql("SELECT id, status FROM batched_background_migrations "
                        "WHERE status NOT IN (3, 6) ORDER BY id", db=db)
        return [tuple(int(x) for x in line.split("|")) for line in out.splitlines() if line]

    def wait_bbm_finished(self, ids=None, timeout=30, db=PG_DB):
        """Poll until none of ids (default: none at all) is unfinished;
        FleetTimeout at the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            left = [i for i, _ in self.bbm_unfinished(db=db) if ids is None or i in ids]
            if not left:
                return
            if time.monotonic() >= deadline:
                raise FleetTimeout("background migrations %s still unfinished after %ss" % (left, timeout))
            time.sleep(0.1)

    def upgrade_agent_config_lines(self, name, manager="apt"):
        """agent.yml keys for the upgrade stand-ins of node `name`: gitlab.rake,
        gitlab.skip_auto_reconfigure (put under gitlab:) and the package map."""
        p = self.node_paths(name)
        gitlab = ["  rake: %s" % yq(p["rake"]),
                  "  skip_auto_reconfigure: %s" % yq(p["skip_auto_reconfigure"])]
        package = ["package:", "  manager: %s" % manager,
                   "  apt_get: %s" % yq(p["apt_get"]), "  apt_cache: %s" % yq(p["apt_cache"])]
        return gitlab, package

    def add_upgrade_agent_config(self, name, path=None):
        """Adds the upgrade stand-ins' keys to the node's agent.yml (written by
        Fleet before its agents start). lockstep-agent-exec reads the file
        at every operation, so this works on a running fleet too."""
        path = path or self.node_paths(name)["agent_config"]
        gitlab, package = self.upgrade_agent_config_lines(name)
        with open(path) as f:
            lines = f.read().splitlines()
        if any(line.startswith("package:") for line in lines):
            return path
        if "gitlab:" in lines:
            i = lines.index("gitlab:") + 1
            lines[i:i] = gitlab
        else:
            lines += ["gitlab:"] + gitlab
        lines += package
        with open(path + ".tmp", "w") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(path + ".tmp", path)
        return path

    # --- upgrade stand-ins of a node (gitlab_node.py has the details)
    def calls(self, node, cmd=None, since=None):
        """The node's recorded stand-in calls (gitlab_node.read_calls)."""
        return gitlab_node.read_calls(self.node_dir(node), cmd=cmd, since=since)

    # --- logs and teardown
    def log_files(self):
        if not self.logs_dir or not os.path.isdir(self.logs_dir):
            return []
        return sorted(os.path.join(self.logs_dir, f) for f in os.listdir(self.logs_dir))

    def dump_logs(self, lines=40, stream=None):
        if self._logs_dumped or not self.dir:
            return
        self._logs_dumped = True
        stream = stream or sys.stderr
        stream.write("\n===== fleet logs (%s) =====\n" % self.dir)
        for path in self.log_files():
            stream.write("----- %s (last %d lines) -----\n%s\n" % (os.path.basename(path), lines, tail(path, lines)))
        stream.write("===== end of fleet logs =====\n")
        stream.flush()

    def _stop_procs(self):
        # Agents and the coordinator first (subclass), then the fixture servers.
        for key in [k for k in self.procs if k.startswith("http-")] + ["redis"]:
            p = self.procs.get(key)
            if p:
                p.stop()
        self._stop_postgres()

    def _sweep(self):
        """Kill any leftover process whose command line names the fleet dir."""
        if not self.dir:
            return []
        me = os.getpid()
        needle = self.dir.encode()
        leaked = []
        for d in os.listdir("/proc"):
            if not d.isdigit() or int(d) == me:
                continue
            try:
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    cmd = f.read()
            except OSError:
                continue
            if needle + b"/" in cmd or cmd.endswith(needle) or needle + b"\0" in cmd:
                leaked.append((int(d), cmd.replace(b"\0", b" ").decode(errors="replace")[:200]))
        for pid, _ in leaked:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        return leaked

    def close(self):
        if self._closed:
            return
        self._closed = True
        try:
            self._stop_procs()
        finally:
            leaked = self._sweep()
            if leaked:
                sys.stderr.write("fleet: killed leftover processes: %s\n" % leaked)
            with _LIVE_LOCK:
                if self in _LIVE:
                    _LIVE.remove(self)
            if self.dir and os.path.isdir(self.dir):
                if self.keep:
                    try:
                        os.unlink(os.path.join(self.dir, HARNESS_PID))
                    except OSError:
                        pass
                    sys.stderr.write("fleet: kept %s (LOCKSTEP_KEEP=1)\n" % self.dir)
                else:
                    shutil.rmtree(self.dir, ignore_errors=True)


# ------------------------------------------------------------------- fleet

def binaries(build_dir):
    """Paths of the Lockstep binaries in a build directory."""
    b = os.path.abspath(build_dir)
    return {
        "agent": os.path.join(b, "agent", "lockstep-agent"),
        "agent_exec": os.path.join(b, "agent", "lockstep-agent-exec"),
        "coordinator": os.path.join(b, "coordinator", "lockstep-coordinator"),
        "cli": os.path.join(b, "coordinator", "lockstep"),
        "probe": os.path.join(b, "tests", "ls_fleetprobe"),
    }


class Fleet(FixtureEnv):
    """FixtureEnv plus a lockstep-coordinator and one enrolled agent per node."""

    def __init__(self, build_dir, poll_timeout="2s", nodes=None,
                 gitlab_version=gitlab_node.DEFAULT_VERSION, versions=None,
                 check_timeout="60s", keep=None, start_agents=True, coordinator_extra=None,
                 projects=None, ci_database=False):
        super().__init__(nodes=nodes, gitlab_version=gitlab_version, versions=versions, keep=keep,
                         projects=projects, ci_database=ci_database)
        self.build = os.path.abspath(build_dir)
        self.poll_timeout = poll_timeout
        self.poll_timeout_s = parse_duration(poll_timeout)
        self.check_timeout = check_timeout
        self.coordinator_extra = dict(coordinator_extra or {})
        self.start_agents_flag = start_agents
        self.bin = binaries(self.build)
        self.fleet_port = self.enroll_port = None
        self.tokens_issued = {}

    @staticmethod
    def missing_binaries(build_dir, names=("agent", "agent_exec", "coordinator", "cli")):
        b = binaries(build_dir)
        return [b[n] for n in names if not os.access(b[n], os.X_OK)]

    def start(self):
        missing = self.missing_binaries(self.build)
        if missing:
            raise FleetError("Lockstep binaries missing (build the project first): %s" % ", ".join(missing))
        super().start()
        t = time.monotonic()
        for name, _ in self.nodes:
            self._write_agent_config(name)
        self._start_coordinator()
        self._t("coordinator", t)
        t = time.monotonic()
        self.enroll_all()
        self._t("enroll", t)
        if self.start_agents_flag:
            t = time.monotonic()
            for name, _ in self.nodes:
                self.start_agent(name)
            self.wait_all_connected(timeout=30)
            self._t("agents", t)

    # --- coordinator
    @property
    def coordinator_dir(self):
        return os.path.join(self.dir, "coordinator")

    @property
    def coordinator_config(self):
        return os.path.join(self.coordinator_dir, "coordinator.yml")

    @property
    def coordinator_state_dir(self):
        return os.path.join(self.coordinator_dir, "state")

    @property
    def ca_pem(self):
        return os.path.join(self.coordinator_state_dir, "ca.pem")

    @property
    def control_socket(self):
        return os.path.join(self.coordinator_dir, "control.sock")

    @property
    def fleet_url(self):
        return "tls+tcp://127.0.0.1:%d" % self.fleet_port

    @property
    def enroll_url(self):
        return "tls+tcp://127.0.0.1:%d" % self.enroll_port

    @property
    def server_name(self):
        return SERVER_NAME

    @property
    def coordinator_proc(self):
        p = self.procs.get("coordinator")
        return p.popen if p else None

    def _write_coordinator_config(self):
        os.makedirs(self.coordinator_state_dir, exist_ok=True)
        os.chmod(self.coordinator_state_dir, 0o700)
        text = "\n".join([
            "# written by integration/fleet.py",
            "state_dir: %s" % yq(self.coordinator_state_dir),
            "log_level: debug",
            "listen: %s" % yq(self.fleet_url),
            "enroll_listen: %s" % yq(self.enroll_url),
            "advertise_host: 127.0.0.1",
            "server_names:",
            "  - %s" % SERVER_NAME,
            "control_socket: %s" % yq(self.control_socket),
            "poll_timeout: %s" % self.poll_timeout,
            "check_timeout: %s" % self.check_timeout,
        ] + ["%s: %s" % (k, yaml_value(v)) for k, v in sorted(self.coordinator_extra.items())]) + "\n"
        with open(self.coordinator_config, "w") as f:
            f.write(text)

    def _start_coordinator(self, fresh_ports=True):
        assert len(self.control_socket) < 100, self.control_socket
        last = None
        for attempt in range(3):
            if fresh_ports or self.fleet_port is None:
                self.fleet_port, self.enroll_port = free_port(), free_port()
            self._write_coordinator_config()
            proc = Proc("coordinator", [self.bin["coordinator"], "--config", self.coordinator_config],
                        self.log_path("coordinator"), cwd=self.coordinator_dir)
            self.procs["coordinator"] = proc.start()
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and proc.alive():
                if os.path.exists(self.control_socket) and os.path.exists(self.ca_pem):
                    return
                time.sleep(0.05)
            last = tail(self.log_path("coordinator"))
            alive = proc.alive()
            proc.stop()
            if alive or not re.search(r"in use|EADDRINUSE", last or "", re.I) or not fresh_ports:
                break
        raise FleetError("lockstep-coordinator did not become ready (control socket %s):\n%s"
                         % (self.control_socket, last))

    def stop_coordinator(self, sig=signal.SIGTERM, timeout=10):
        p = self.procs.get("coordinator")
        return p.stop(sig, timeout) if p else None

    def start_coordinator(self):
        """Restart the coordinator on the same ports and state."""
        if os.path.exists(self.control_socket):
            p = self.procs.get("coordinator")
            if p and p.alive():
                raise FleetError("coordinator already running")
            # Left by a coordinator that was killed: readiness is the new
            # one's socket, not this file.
            os.unlink(self.control_socket)
        self._start_coordinator(fresh_ports=False)
        return self.coordinator_proc

    def coordinator_log(self):
        return self._read(self.log_path("coordinator"))

    # --- CLI
    def cli(self, *args, check=False, timeout=120):
        argv = [self.bin["cli"], "--config", self.coordinator_config] + [str(a) for a in args]
        t0 = time.monotonic()
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                           env=clean_env(), stdin=subprocess.DEVNULL)
        with open(self.log_path("cli"), "a") as f:
            f.write("--- $ lockstep %s  (exit %d, %.2fs)\n%s%s" % (
                " ".join(str(a) for a in args), p.returncode, time.monotonic() - t0,
                re.sub(r'"token"\s*:\s*"[^"]*"', '"token":"<redacted>"', p.stdout),
                p.stderr and "[stderr]\n" + p.stderr or ""))
        if check and p.returncode != 0:
            raise FleetError("lockstep %s exited %d:\n%s%s" % (" ".join(map(str, args)), p.returncode,
                                                               p.stdout, p.stderr))
        return p

    def cli_json(self, *args, ok_codes=(0,), timeout=120):
        if "--json" not in args:
            args = args + ("--json",)
        p = self.cli(*args, timeout=timeout)
        if p.returncode not in ok_codes:
            raise FleetError("lockstep %s exited %d:\n%s%s" % (" ".join(map(str, args)), p.returncode,
                                                               p.stdout, p.stderr))
        try:
            return json.loads(p.stdout)
        except ValueError as e:
            raise FleetError("lockstep %s: output is not JSON (%s):\n%s%s" % (
                " ".join(map(str, args)), e, p.stdout, p.stderr))

    def status(self):
        return self.cli_json("status")

    def check(self):
        """(exit code, parsed `check --json`)."""
        p = self.cli("check", "--json", timeout=parse_duration(self.check_timeout) + 60)
        try:
            return p.returncode, json.loads(p.stdout)
        except ValueError:
            raise FleetError("lockstep check --json exited %d, not JSON:\n%s%s" % (p.returncode, p.stdout, p.stderr))

    def probe(self, *args, timeout=120):
        if not os.access(self.bin["probe"], os.X_OK):
            raise FleetError("test tool missing (build the project first): %s" % self.bin["probe"])
        p = subprocess.run([self.bin["probe"]] + [str(a) for a in args], capture_output=True, text=True,
                           timeout=timeout, env=clean_env(), stdin=subprocess.DEVNULL)
        with open(self.log_path("probe"), "a") as f:
            f.write("--- $ ls_fleetprobe %s (exit %d)\n%s%s" % (" ".join(map(str, args)), p.returncode,
                                                               p.stdout, p.stderr))
        return p

    # --- waiting
    def wait_until(self, predicate, timeout, what, interval=0.1):
        """Poll predicate() until truthy; return its value. Raises FleetTimeout
        naming `what` at the deadline (exceptions count as not yet)."""
        secs = parse_duration(timeout)
        deadline = time.monotonic() + secs
        last = None
        while True:
            try:
                v = predicate()
                if v:
                    return v
                last = v
            except FleetAbort:
                raise
            except Exception as e:  # e.g. the CLI failing while things settle
                last = e
            if time.monotonic() >= deadline:
                raise FleetTimeout("timed out after %.1fs waiting for %s (last: %r)" % (secs, what, last))
            time.sleep(interval)

    def connected_nodes(self):
        return {n["name"] for n in self.status().get("nodes", []) if n.get("connected")}

    def wait_all_connected(self, timeout=30):
        names = {n for n, _ in self.nodes}

        def ok():
            for n in sorted(names):
                p = self.procs.get("agent-" + n)
                if p and not p.alive():
                    raise FleetAbort("agent %s exited with status %s while waiting for it to connect" % (
                        n, p.returncode))
            return names <= self.connected_nodes()
        self.wait_until(ok, timeout, "all agents connected (%s)" % ", ".join(sorted(names)))

    # --- nodes and agents
    def node_config(self, name):
        return self.node_paths(name)["agent_config"]

    def agent_state_dir(self, name):
        return self.node_paths(name)["state_dir"]

    def identity_dir(self, name):
        return os.path.join(self.agent_state_dir(name), "identity")

    def _write_kube_agent_config(self, name):
        p = self.node_paths(name)
        k = kube_node.kube_paths(self.node_dir(name))
        lines = [
            "# written by integration/fleet.py for node %s (role kubernetes)" % name,
            "state_dir: %s" % yq(p["state_dir"]),
            "log_level: debug",
            "exec_helper: %s" % yq(self.bin["agent_exec"]),
            "backup_staging_dir: %s" % yq(os.path.join(self.node_dir(name), "staging")),
            "min_free_space: 1MiB",
            "warn_free_space: 2MiB",
            "gitlab:",
            "  os_release: %s" % yq(p["os_release"]),
            "kubernetes:",
            "  kubectl: %s" % yq(k["kubectl"]),
            "  helm: %s" % yq(k["helm"]),
            "  kubeconfig: %s" % yq(k["kubeconfig"]),
            "  ready_timeout: 60s",
        ]
        os.makedirs(os.path.join(self.node_dir(name), "staging"), exist_ok=True)
        with open(p["agent_config"], "w") as f:
            f.write("\n".join(lines) + "\n")

    def _write_agent_config(self, name):
        if self.kube_only(name):
            self._write_kube_agent_config(name)
            return
        roles = self.roles[name]
        p = self.node_paths(name)
        lines = [
            "# written by integration/fleet.py for node %s (roles %s)" % (name, ",".join(roles)),
            "state_dir: %s" % yq(p["state_dir"]),
            "log_level: debug",
            "exec_helper: %s" % yq(self.bin["agent_exec"]),
            "backup_staging_dir: %s" % yq(p["backups"]),
            "min_free_space: 1MiB",
            "warn_free_space: 2MiB",
            "gitlab:",
            "  ctl: %s" % yq(p["ctl"]),
            "  version_manifest: %s" % yq(p["version_manifest"]),
            "  secrets_file: %s" % yq(p["secrets_file"]),
            "  config_file: %s" % yq(p["config_file"]),
        ]
        if "rails" in roles:
            lines.append("  url: %s" % yq(self.http_url(name)))
            lines.append("  rails_config: %s" % yq(p["rails_config"]))
        lines += [
            "  api_token_file: %s" % yq(p["api_token_file"]),
            "  os_release: %s" % yq(p["os_release"]),
        ]
        if "postgresql" in roles:
            lines += ["postgresql:", "  conninfo: %s" % yq(self.pg_conninfo)]
            if self.ci_database:
                lines.append("  ci_conninfo: %s" % yq(self.pg_ci_conninfo))
        if "redis" in roles:
            lines += ["redis:", "  socket: %s" % yq(self.redis_socket)]
        if "registry" in roles:
            # The rendered config.yml gitlab-ctl registry-database reads
            # (registry_fixture.py), inside this node's directory.
            lines += ["registry:", "  config: %s" % yq(
                registry_fixture.paths(self.node_dir(name))["config"])]
        if "gitaly" in roles:
            lines += ["gitaly:", "  git: %s" % yq(GIT), "  fsck_sample: 3", "  storages:"]
            for sname, spath in self.storages.get(name, []):
                lines += ["    - name: %s" % yq(sname), "      path: %s" % yq(spath)]
        # The file components where the Linux package keeps them, inside
        # this node's directory; PostgreSQL's own pg_dump.
        shared = p["rails_shared"]
        lines += [
            "backup:",
            "  uploads: %s" % yq(p["uploads"]),
            "  builds: %s" % yq(os.path.join(self.node_dir(name), "var", "opt", "gitlab", "gitlab-ci",
                                             "builds")),
        ]
        for comp, sub in (("artifacts", "artifacts"), ("pages", "pages"), ("lfs", "lfs-objects"),
                          ("terraform_state", "terraform_state"), ("registry", "registry"),
                          ("packages", "packages"), ("ci_secure_files", "ci_secure_files")):
            lines.append("  %s: %s" % (comp, yq(os.path.join(shared, sub))))
        lines += ["  pg_dump: %s" % yq(os.path.join(PG_BIN, "pg_dump")), "  jobs: 2"]
        with open(p["agent_config"], "w") as f:
            f.write("\n".join(lines) + "\n")

    def add_node(self, name, roles=None, site=None):
        roles = roles or self.roles[name]
        # node_sites: {name: site} for a fleet of several sites (Geo).
        site = site or getattr(self, "node_sites", {}).get(name, SITE)
        out = self.cli_json("node", "add", name, "--role", ",".join(roles), "--site", site)
        if not isinstance(out, dict) or not out.get("token"):
            raise FleetError("node add %s: no token in %r" % (name, out))
        self.tokens_issued[name] = out
        return out["token"]

    def join(self, name, token, timeout=30):
        argv = [self.bin["agent"], "join", token, "--config", self.node_config(name)]
        with open(self.log_path("join-" + name), "ab") as logf:
            p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                               env=clean_env(), timeout=timeout, cwd=self.node_dir(name))
        return p.returncode

    def enroll_all(self, timeout=30):
        tokens = {name: self.add_node(name) for name, _ in self.nodes}
        procs = {}
        for name, token in tokens.items():
            logf = open(self.log_path("join-" + name), "ab")
            try:
                procs[name] = subprocess.Popen(
                    [self.bin["agent"], "join", token, "--config", self.node_config(name)],
                    stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT, env=clean_env(),
                    cwd=self.node_dir(name), start_new_session=True, preexec_fn=_pdeathsig(signal.SIGTERM))
            finally:
                logf.close()
        deadline = time.monotonic() + timeout
        failed = []
        for name, p in procs.items():
            try:
                rc = p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
                rc = "timeout"
            if rc != 0:
                failed.append("%s (exit %s):\n%s" % (name, rc, tail(self.log_path("join-" + name), 20)))
            else:
                for f in ("ca.pem", "node.crt", "node.key"):
                    if not os.path.exists(os.path.join(self.identity_dir(name), f)):
                        failed.append("%s: join exited 0 but %s is missing" % (name, f))
        if failed:
            raise FleetError("lockstep-agent join failed: " + "\n".join(failed))

    def start_agent(self, name):
        p = self.procs.get("agent-" + name)
        if p and p.alive():
            raise FleetError("agent %s already running" % name)
        proc = Proc("agent-" + name, [self.bin["agent"], "run", "--config", self.node_config(name)],
                    self.log_path("agent-" + name), cwd=self.node_dir(name))
        self.procs["agent-" + name] = proc.start()
        return proc.popen

    def stop_agent(self, name, sig=signal.SIGTERM, timeout=10):
        """Signal the agent's process group; return its exit status."""
        p = self.procs.get("agent-" + name)
        return p.stop(sig, timeout) if p else None

    def agent_proc(self, name):
        p = self.procs.get("agent-" + name)
        return p.popen if p else None

    def agent_log(self, name):
        return self._read(self.log_path("agent-" + name))

    @staticmethod
    def _read(path):
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def _stop_procs(self):
        agents = [p for k, p in self.procs.items() if k.startswith("agent-")]
        for p in agents:
            if p.alive():
                p.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for p in agents:
            if p.popen and p.wait(max(0.1, deadline - time.monotonic())) is None:
                p.signal_group(signal.SIGKILL)
                p.wait(5)
            p.signal_group(signal.SIGKILL)
        c = self.procs.get("coordinator")
        if c:
            c.stop()
        super()._stop_procs()


def main(argv=None):
    """`python3 fleet.py --build DIR [--fixture-only]`: bring a fleet up, print
    where it is, and keep it until Ctrl-C (for poking at it by hand)."""
    import argparse
    ap = argparse.ArgumentParser(description="Start a local Lockstep test fleet")
    ap.add_argument("--build", default=os.path.join(os.path.dirname(HERE), "build"))
    ap.add_argument("--fixture-only", action="store_true")
    args = ap.parse_args(argv)
    env = FixtureEnv() if args.fixture_only else Fleet(args.build)
    with env:
        print("fleet at %s (timings %s); Ctrl-C to stop" % (env.dir, env.timings), flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
