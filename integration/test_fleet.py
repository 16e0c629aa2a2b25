#!/usr/bin/env python3
"""Lockstep whole-fleet integration tests (unittest, standard library only).

    python3 integration/test_fleet.py --build BUILD_DIR [NAME ...]

NAME is a unittest name (FleetTest.test_check, FixtureSelfTest, ...) or
`fixture_selftest` (= FixtureSelfTest). Each FleetTest case starts its own
fleet (own temp dir and ports), so cases run in parallel under `ctest -j`.
LOCKSTEP_KEEP=1 keeps each fleet directory for inspection.
"""
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import signal  # noqa: E402
import stat  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import unittest  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fleet  # noqa: E402
from fleet import FixtureEnv, Fleet, FleetError  # noqa: E402,F401
import gitlab_node  # noqa: E402  (fleet put integration/fixture on sys.path)

BUILD = os.environ.get("LOCKSTEP_BUILD", os.path.join(os.path.dirname(HERE), "build"))

# gitlab-ctl status, one line per service (gitlab-facts.md §4).
STATUS_LINE = re.compile(
    r"^(?:run: (?P<run>[a-z0-9-]+): \(pid (?P<pid>[1-9]\d*)\) (?P<up>\d+)s"
    r"|down: (?P<down>[a-z0-9-]+): (?P<downfor>\d+)s, normally up)"
    r"; run: log: \(pid (?P<logpid>[1-9]\d*)\) (?P<logup>\d+)s$")
FIVE = {"rails-1", "gitaly-1", "gitaly-2", "postgresql-1", "redis-1"}


def parse_status(text):
    out = []
    for line in text.splitlines():
        m = STATUS_LINE.match(line)
        if not m:
            raise AssertionError("gitlab-ctl status line has the wrong format: %r" % line)
        out.append(m)
    return out


class DumpLogsOnFailure:
    """Mixin: print the fixture's log tails when a test of the class fails."""

    def _failed(self):
        res = getattr(getattr(self, "_outcome", None), "result", None)
        if res is None:
            return False
        return any(t is self for t, _ in list(res.failures) + list(res.errors))


class FixtureSelfTest(DumpLogsOnFailure, unittest.TestCase):
    """The GitLab node fixture alone (no Lockstep binaries needed)."""

    @classmethod
    def setUpClass(cls):
        cls.env = FixtureEnv()
        cls.env.__enter__()  # cleans up after itself if it fails

    @classmethod
    def tearDownClass(cls):
        cls.env.__exit__(None, None, None)

    def tearDown(self):
        if self._failed():
            self.env.dump_logs()

    # --- gitlab-ctl
    def test_gitlab_ctl_status_format(self):
        for name, roles in fleet.DEFAULT_NODES:
            p = self.env.gitlab_ctl(name, "status")
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stderr, "")
            lines = parse_status(p.stdout)
            names = [m.group("run") for m in lines]
            self.assertEqual(names, sorted(gitlab_node.services_for(roles)), name)
            self.assertTrue(all(m.group("run") for m in lines), "all services up at start")
        p = self.env.gitlab_ctl("rails-1", "status")
        self.assertEqual([m.group("run") for m in parse_status(p.stdout)],
                         ["gitlab-workhorse", "logrotate", "nginx", "puma", "sidekiq"])
        for node, svcs in (("gitaly-1", ["gitaly", "logrotate"]),
                           ("postgresql-1", ["logrotate", "postgresql"]),
                           ("redis-1", ["logrotate", "redis"])):
            p = self.env.gitlab_ctl(node, "status")
            self.assertEqual([m.group("run") for m in parse_status(p.stdout)], svcs)

    def test_gitlab_ctl_pids_stable(self):
        a = parse_status(self.env.gitlab_ctl("redis-1", "status").stdout)
        b = parse_status(self.env.gitlab_ctl("redis-1", "status").stdout)
        self.assertEqual([(m.group("pid"), m.group("logpid")) for m in a],
                         [(m.group("pid"), m.group("logpid")) for m in b])
        pids = [m.group("pid") for m in a] + [m.group("logpid") for m in a]
        self.assertEqual(len(pids), len(set(pids)), "pids are distinct")

    def test_gitlab_ctl_stop_start(self):
        env = self.env
        before = parse_status(env.gitlab_ctl("gitaly-1", "status", "gitaly").stdout)
        self.assertEqual(len(before), 1)
        p = env.gitlab_ctl("gitaly-1", "stop", "gitaly")
        self.assertEqual(p.returncode, 0)
        self.assertRegex(p.stdout, r"^ok: down: gitaly: \d+s, normally up\n$")
        p = env.gitlab_ctl("gitaly-1", "status")
        self.assertEqual(p.returncode, 0, "status exits 0 even with a service down")
        lines = {(m.group("run") or m.group("down")): m for m in parse_status(p.stdout)}
        self.assertEqual(lines["gitaly"].group("down"), "gitaly")
        self.assertEqual(lines["gitaly"].group("logpid"), before[0].group("logpid"))
        self.assertTrue(lines["logrotate"].group("run"))
        p = env.gitlab_ctl("gitaly-1", "status", "gitaly")
        self.assertEqual(p.returncode, 0)
        self.assertRegex(p.stdout, r"^down: gitaly: \d+s, normally up; run: log: \(pid \d+\) \d+s\n$")
        # Stopping again is idempotent.
        self.assertEqual(env.gitlab_ctl("gitaly-1", "stop", "gitaly").returncode, 0)
        p = env.gitlab_ctl("gitaly-1", "start", "gitaly")
        self.assertEqual(p.returncode, 0)
        m = re.match(r"^ok: run: gitaly: \(pid (\d+)\) (\d+)s\n$", p.stdout)
        self.assertTrue(m, p.stdout)
        self.assertNotEqual(m.group(1), before[0].group("pid"), "a restarted service has a new pid")
        after = parse_status(env.gitlab_ctl("gitaly-1", "status", "gitaly").stdout)
        self.assertEqual(after[0].group("run"), "gitaly")
        self.assertEqual(after[0].group("pid"), m.group(1))
        p = env.gitlab_ctl("gitaly-1", "restart", "gitaly")
        self.assertRegex(p.stdout, r"^ok: run: gitaly: \(pid \d+\) 0s\n$")
        # set_service is the harness's wrapper for the same.
        env.set_service("redis-1", "redis", False)
        self.assertTrue(parse_status(env.gitlab_ctl("redis-1", "status", "redis").stdout)[0].group("down"))
        env.set_service("redis-1", "redis", True)
        self.assertTrue(parse_status(env.gitlab_ctl("redis-1", "status", "redis").stdout)[0].group("run"))

    def test_gitlab_ctl_times_since_state_change(self):
        path = self.env.node_paths("postgresql-1")["services"]
        with open(path) as f:
            saved = f.read()
        try:
            data = json.loads(saved)
            now = time.time()
            data["services"]["logrotate"].update(state="down", since=now - 251000, log_since=now - 350709)
            with open(path, "w") as f:
                json.dump(data, f)
            p = self.env.gitlab_ctl("postgresql-1", "status", "logrotate")
            self.assertEqual(p.returncode, 0)
            self.assertRegex(p.stdout, r"^down: logrotate: 25100[01]s, normally up; "
                                       r"run: log: \(pid \d+\) 35070[89]s\n$")
        finally:
            with open(path, "w") as f:
                f.write(saved)

    def test_gitlab_ctl_errors(self):
        p = self.env.gitlab_ctl("rails-1", "stop", "no-such-service")
        self.assertEqual(p.returncode, 1)
        self.assertIn("no-such-service", p.stdout + p.stderr)
        p = self.env.gitlab_ctl("rails-1", "status", "gitaly")  # not a rails service
        self.assertEqual(p.returncode, 1)
        p = self.env.gitlab_ctl("rails-1", "frobnicate")
        self.assertEqual(p.returncode, 1)
        self.assertIn("status", p.stdout)  # usage
        p = self.env.gitlab_ctl("rails-1")
        self.assertEqual(p.returncode, 1)
        # The node directory comes from the invocation path, not the symlink target.
        p = subprocess.run([gitlab_node.GITLAB_CTL, "status"], capture_output=True, text=True,
                           env=fleet.clean_env())
        self.assertEqual(p.returncode, 1)

    # --- node layout and version files
    def test_version_files(self):
        p = self.env.node_paths("gitaly-1")
        with open(p["version_manifest"]) as f:
            m = json.load(f)
        self.assertEqual(m["manifest_format"], 2)
        self.assertIsInstance(m["software"], dict)
        self.assertEqual(m["build_version"], "17.8.2+ee.0")
        with open(p["version_manifest_txt"]) as f:
            self.assertEqual(f.readline(), "gitlab-ee 17.8.2\n")
        with open(p["rails_version"]) as f:
            self.assertEqual(f.read().strip(), "17.8.2-ee")
        self.env.set_version("gitaly-2", "17.7.1")
        try:
            q = self.env.node_paths("gitaly-2")
            with open(q["version_manifest"]) as f:
                self.assertEqual(json.load(f)["build_version"], "17.7.1+ee.0")
            with open(q["version_manifest_txt"]) as f:
                self.assertEqual(f.readline(), "gitlab-ee 17.7.1\n")
            with open(q["rails_version"]) as f:
                self.assertEqual(f.read().strip(), "17.7.1-ee")
        finally:
            self.env.set_version("gitaly-2", "17.8.2")
        d = tempfile.mkdtemp()
        try:
            gitlab_node.write_version(d, "17.8.2-ce")
            q = gitlab_node.node_paths(d)
            with open(q["version_manifest"]) as f:
                self.assertEqual(json.load(f)["build_version"], "17.8.2+ce.0")
            with open(q["version_manifest_txt"]) as f:
                self.assertEqual(f.readline(), "gitlab-ce 17.8.2\n")
        finally:
            import shutil
            shutil.rmtree(d)

    def test_node_layout(self):
        for name, roles in fleet.DEFAULT_NODES:
            p = self.env.node_paths(name)
            self.assertTrue(os.path.islink(p["ctl"]))
            self.assertEqual(os.path.realpath(p["ctl"]), os.path.realpath(gitlab_node.GITLAB_CTL))
            st = os.stat(p["secrets_file"])
            self.assertEqual(stat.S_IMODE(st.st_mode), 0o600, name)
            with open(p["secrets_file"]) as f:
                sec = json.load(f)
            for k in ("secret_key_base", "db_key_base", "otp_key_base", "openid_connect_signing_key"):
                self.assertIn(k, sec["gitlab_rails"])
            self.assertIn("\n", sec["gitlab_rails"]["openid_connect_signing_key"].strip())
            self.assertIn("secret_token", sec["gitlab_shell"])
            self.assertTrue(os.path.isfile(p["config_file"]))
            self.assertTrue(os.path.isdir(p["backups"]))
            self.assertTrue(os.path.isdir(p["state_dir"]))
            self.assertTrue(self.env.api_token(name).startswith("glpat-"))
        self.assertNotEqual(self.env.api_token("rails-1"), self.env.api_token("gitaly-1"))

    # --- HTTP API
    def test_http_readiness_liveness(self):
        env = self.env
        self.assertEqual(env.http("rails-1", "GET", "/-/readiness", token=False),
                         (200, {"status": "ok", "master_check": [{"status": "ok"}]}))
        self.assertEqual(env.http("rails-1", "GET", "/-/liveness", token=False), (200, {"status": "ok"}))
        env.set_ready("rails-1", False)
        try:
            code, body = env.http("rails-1", "GET", "/-/readiness", token=False)
            self.assertEqual(code, 503)
            self.assertEqual(body["status"], "failed")
            self.assertEqual(env.http("rails-1", "GET", "/-/liveness", token=False)[0], 200)
        finally:
            env.set_ready("rails-1", True)
        self.assertEqual(env.http("rails-1", "GET", "/-/readiness", token=False)[0], 200)

    def test_http_requires_token(self):
        env = self.env
        for path in ("/api/v4/application/settings",
                     "/api/v4/admin/batched_background_migrations?database=main"):
            self.assertEqual(env.http("rails-1", "GET", path, token=False), (401, {"message": "401 Unauthorized"}))
            self.assertEqual(env.http("rails-1", "GET", path, token="glpat-wrong"),
                             (401, {"message": "401 Unauthorized"}))
            self.assertEqual(env.http("rails-1", "GET", path)[0], 200)
        code, _ = env.http("rails-1", "PUT", "/api/v4/application/settings?maintenance_mode=true", token=False)
        self.assertEqual(code, 401)
        self.assertEqual(env.psql("SELECT maintenance_mode FROM application_settings"), "f")
        # Bearer works like PRIVATE-TOKEN.
        code, _ = env.http("rails-1", "GET", "/api/v4/application/settings", token=False,
                           headers={"Authorization": "Bearer " + env.api_token("rails-1")})
        self.assertEqual(code, 200)

    def test_http_maintenance_mode_in_postgresql(self):
        env = self.env
        code, body = env.http("rails-1", "GET", "/api/v4/application/settings")
        self.assertEqual(code, 200)
        self.assertIs(body["maintenance_mode"], False)
        try:
            code, body = env.http("rails-1", "PUT", "/api/v4/application/settings?maintenance_mode=true"
                                  "&maintenance_mode_message=Back%20at%2010%3A00%20%27UTC%27")
            self.assertEqual(code, 200, body)
            self.assertIs(body["maintenance_mode"], True)
            self.assertEqual(body["maintenance_mode_message"], "Back at 10:00 'UTC'")
            self.assertEqual(env.psql("SELECT maintenance_mode, maintenance_mode_message FROM application_settings"),
                             "t|Back at 10:00 'UTC'")
            code, body = env.http("rails-1", "GET", "/api/v4/application/settings")
            self.assertIs(body["maintenance_mode"], True)
            # Form body.
            code, body = env.http("rails-1", "PUT", "/api/v4/application/settings",
                                  data="maintenance_mode=false")
            self.assertEqual(code, 200, body)
            self.assertIs(body["maintenance_mode"], False)
            self.assertEqual(env.psql("SELECT maintenance_mode FROM application_settings"), "f")
            # JSON body.
            code, body = env.http("rails-1", "PUT", "/api/v4/application/settings",
                                  data=json.dumps({"maintenance_mode": True, "maintenance_mode_message": "m"}),
                                  headers={"Content-Type": "application/json"})
            self.assertEqual(code, 200, body)
            self.assertEqual(env.psql("SELECT maintenance_mode, maintenance_mode_message FROM application_settings"),
                             "t|m")
            code, body = env.http("rails-1", "PUT", "/api/v4/application/settings?maintenance_mode=maybe")
            self.assertEqual(code, 400)
        finally:
            env.psql("UPDATE application_settings SET maintenance_mode = false, maintenance_mode_message = NULL")

    def test_http_batched_background_migrations(self):
        env = self.env
        code, rows = env.http("rails-1", "GET", "/api/v4/admin/batched_background_migrations?database=main")
        self.assertEqual(code, 200)
        n = int(env.psql("SELECT count(*) FROM batched_background_migrations"))
        self.assertEqual(len(rows), n)
        self.assertEqual([r["id"] for r in rows], sorted((r["id"] for r in rows), reverse=True))
        for r in rows:
            self.assertEqual(set(r), {"id", "job_class_name", "table_name", "column_name", "status",
                                      "progress", "created_at"})
            self.assertIn(r["status"], ("finished", "finalized"))
            self.assertEqual(r["progress"], 100)
            self.assertRegex(r["created_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertEqual(env.http("rails-1", "GET", "/api/v4/admin/batched_background_migrations?database=ci")[0], 200)
        self.assertEqual(env.http("rails-1", "GET", "/api/v4/admin/batched_background_migrations?database=x")[0], 400)
        try:
            env.psql("INSERT INTO batched_background_migrations (created_at, updated_at, max_value, batch_size, "
                     "sub_batch_size, \"interval\", status, job_class_name, table_name, column_name, "
                     "gitlab_schema) SELECT now(), now(), 100, 10, 5, 120, s, 'Fixture' || s, 'projects', 'id', "
                     "'gitlab_main' FROM generate_series(0, 24) AS g, LATERAL (SELECT (ARRAY[0,1,4,5])[1 + g % 4] AS s) x")
            code, rows = env.http("rails-1", "GET", "/api/v4/admin/batched_background_migrations?database=main")
            self.assertEqual(len(rows), 20, "newest 20")
            newest = int(env.psql("SELECT max(id) FROM batched_background_migrations"))
            self.assertEqual(rows[0]["id"], newest)
            by_class = {r["job_class_name"]: r for r in rows}
            self.assertEqual(by_class["Fixture0"]["status"], "paused")
            self.assertEqual(by_class["Fixture1"]["status"], "active")
            self.assertEqual(by_class["Fixture4"]["status"], "failed")
            self.assertEqual(by_class["Fixture5"]["status"], "finalizing")
            self.assertIsNone(by_class["Fixture1"]["progress"])
        finally:
            env.psql("DELETE FROM batched_background_migrations WHERE job_class_name LIKE 'Fixture%'")

    def test_http_not_found(self):
        self.assertEqual(self.env.http("rails-1", "GET", "/nope", token=False), (404, {"message": "404 Not Found"}))
        self.assertEqual(self.env.http("rails-1", "GET", "/api/v4/projects")[0], 404)
        self.assertEqual(self.env.http("rails-1", "GET", "/api/v4/projects", token=False)[0], 401)

    # --- PostgreSQL, git, Redis
    def test_postgresql_tables(self):
        env = self.env
        want = {
            "namespaces": {"id", "name", "path", "owner_id", "type", "parent_id", "traversal_ids"},
            "users": {"id", "username", "email", "admin"},
            "projects": {"id", "name", "path", "namespace_id", "repository_storage", "storage_version"},
            "project_repositories": {"id", "project_id", "disk_path", "shard_id"},
            "shards": {"id", "name"},
            "application_settings": {"id", "maintenance_mode", "maintenance_mode_message"},
            "batched_background_migrations": {"id", "job_class_name", "table_name", "column_name",
                                              "job_arguments", "status", "min_value", "max_value",
                                              "batch_size", "sub_batch_size", "interval", "total_tuple_count",
                                              "gitlab_schema", "created_at", "updated_at"},
            "uploads": {"id", "path", "store", "uploader", "model_type"},
            "ci_job_artifacts": {"id", "project_id", "file_store", "file"},
            "lfs_objects": {"id", "oid", "file_store", "file"},
            "schema_migrations": {"version"},
        }
        for table, cols in want.items():
            got = set(env.psql("SELECT column_name FROM information_schema.columns WHERE table_name = '%s'"
                               % table).split("\n"))
            self.assertLessEqual(cols, got, table)
        self.assertEqual(env.psql("SELECT count(*) FROM batched_background_migrations WHERE status NOT IN (3, 6)"), "0")
        self.assertGreater(int(env.psql("SELECT count(*) FROM batched_background_migrations")), 0)
        for q in ("SELECT DISTINCT store FROM uploads", "SELECT DISTINCT file_store FROM ci_job_artifacts",
                  "SELECT DISTINCT file_store FROM lfs_objects"):
            self.assertEqual(env.psql(q), "1", q)
        self.assertEqual(env.psql("SELECT maintenance_mode FROM application_settings"), "f")

    def test_repositories_hashed_layout(self):
        env = self.env
        rows = env.psql("SELECT p.id, p.repository_storage, r.disk_path, s.name FROM projects p "
                        "JOIN project_repositories r ON r.project_id = p.id JOIN shards s ON s.id = r.shard_id "
                        "ORDER BY p.id").split("\n")
        self.assertGreaterEqual(len(rows), 6)
        storages_used = set()
        genv = fleet.clean_env(dict(fleet.GIT_ENV, HOME=env.dir))
        empties = 0
        for row in rows:
            pid, storage, disk_path, shard = row.split("|")
            self.assertEqual(storage, shard)
            h = hashlib.sha256(pid.encode()).hexdigest()
            self.assertEqual(disk_path, "@hashed/%s/%s/%s" % (h[:2], h[2:4], h))
            gitdir = os.path.join(env.storage_path(storage), disk_path + ".git")
            self.assertTrue(os.path.isfile(os.path.join(gitdir, "HEAD")), gitdir)
            self.assertEqual(subprocess.run([fleet.GIT, "--git-dir", gitdir, "rev-parse", "--is-bare-repository"],
                                            capture_output=True, text=True, env=genv).stdout.strip(), "true")
            storages_used.add(storage)
            fsck = subprocess.run([fleet.GIT, "--git-dir", gitdir, "fsck", "--strict", "--no-progress"],
                                  capture_output=True, text=True, env=genv)
            self.assertEqual(fsck.returncode, 0, "%s: %s" % (gitdir, fsck.stderr))
            refs = subprocess.run([fleet.GIT, "--git-dir", gitdir, "for-each-ref", "--format=%(refname)"],
                                  capture_output=True, text=True, env=genv).stdout.split()
            if not refs:
                empties += 1
                continue
            self.assertIn("refs/heads/main", refs)
            self.assertGreaterEqual(len([r for r in refs if r.startswith("refs/heads/")]), 2)
            self.assertIn("refs/tags/v1.0", refs)
            n = subprocess.run([fleet.GIT, "--git-dir", gitdir, "rev-list", "--count", "main"],
                               capture_output=True, text=True, env=genv).stdout.strip()
            self.assertGreaterEqual(int(n), 3)
            head = subprocess.run([fleet.GIT, "--git-dir", gitdir, "symbolic-ref", "HEAD"],
                                  capture_output=True, text=True, env=genv).stdout.strip()
            self.assertEqual(head, "refs/heads/main")
        self.assertEqual(empties, 1, "exactly one empty repository")
        self.assertEqual(storages_used, {"default", "storage2"})
        # default lives on gitaly-1, storage2 on gitaly-2.
        self.assertTrue(env.storage_path("default").startswith(env.node_dir("gitaly-1") + "/"))
        self.assertTrue(env.storage_path("storage2").startswith(env.node_dir("gitaly-2") + "/"))
        # Deterministic history: rebuilding project 1 gives the same commit ids.
        r1 = [r for r in env.repos if r["id"] == 1][0]
        d = tempfile.mkdtemp()
        try:
            g = os.path.join(d, "x.git")
            subprocess.run([fleet.GIT, "init", "-q", "--bare", g], check=True, env=genv)
            subprocess.run([fleet.GIT, "--git-dir", g, "fast-import", "--quiet"], check=True, env=genv,
                           input=FixtureEnv._history(1, r1["name"]))
            a = subprocess.run([fleet.GIT, "--git-dir", g, "rev-parse", "main", "feature", "v1.0"],
                               capture_output=True, text=True, env=genv).stdout
            b = subprocess.run([fleet.GIT, "--git-dir", r1["git_dir"], "rev-parse", "main", "feature", "v1.0"],
                               capture_output=True, text=True, env=genv).stdout
            self.assertEqual(a, b)
        finally:
            import shutil
            shutil.rmtree(d)

    def test_redis_ping(self):
        self.assertEqual(self.env.redis_cli("PING").stdout.strip(), "PONG")
        p = subprocess.run([fleet.REDIS_CLI, "-h", "127.0.0.1", "-p", str(self.env.redis_port), "PING"],
                           capture_output=True, text=True)
        self.assertEqual(p.stdout.strip(), "PONG")

    def test_teardown_leaves_nothing(self):
        env = FixtureEnv(nodes=[("rails-1", ["rails"]), ("gitaly-1", ["gitaly"])], keep=False)
        with env:
            d = env.dir
            pids = [p.pid for p in env.procs.values()]
            self.assertTrue(pids)
        self.assertFalse(os.path.exists(d))
        for pid in pids:
            self.assertFalse(os.path.exists("/proc/%d" % pid) and
                             open("/proc/%d/stat" % pid).read().split()[2] != "Z", pid)
        self.assertEqual(env._sweep(), [], "no process names the fleet dir")


class FleetTest(unittest.TestCase):
    """Whole-fleet tests against the Lockstep binaries in --build."""

    def fleet(self, **kw):
        return Fleet(BUILD, **kw)

    def require_probe(self):
        missing = Fleet.missing_binaries(BUILD, names=("probe",))
        if missing:
            self.fail("test tool missing (build the project first): %s" % missing[0])

    @staticmethod
    def by_name(status):
        return {n["name"]: n for n in status.get("nodes", [])}

    def test_enroll_all_connected(self):
        with self.fleet() as f:
            st = f.status()
            nodes = self.by_name(st)
            self.assertEqual(set(nodes), FIVE)
            for name, roles in fleet.DEFAULT_NODES:
                n = nodes[name]
                self.assertIs(n["enrolled"], True, name)
                self.assertIs(n["connected"], True, name)
                self.assertEqual(sorted(n["roles"]), sorted(roles), name)
                self.assertEqual(n["site"], "main", name)
            self.assertEqual(st["poll_timeout_ms"], 2000)
            self.assertIn("127.0.0.1:%d" % f.fleet_port, st["fleet_url"])
            f.wait_until(lambda: all(n.get("gitlab_version") == "17.8.2" and n.get("edition") == "ee"
                                     for n in f.status()["nodes"]), 10, "every node reporting GitLab 17.8.2-ee")
            listed = f.cli_json("node", "list")
            text = json.dumps(listed)
            for name in FIVE:
                self.assertIn('"%s"' % name, text)

    def test_stopped_agent_disconnected(self):
        with self.fleet() as f:
            t0 = time.monotonic()
            f.stop_agent("gitaly-1", signal.SIGTERM)
            limit = 2 * f.poll_timeout_s - (time.monotonic() - t0)
            self.assertGreater(limit, 0, "agent took too long to stop")
            f.wait_until(lambda: not self.by_name(f.status())["gitaly-1"]["connected"], limit,
                         "gitaly-1 shown disconnected within 2 x poll_timeout of SIGTERM")
            nodes = self.by_name(f.status())
            self.assertEqual({n for n, v in nodes.items() if v["connected"]}, FIVE - {"gitaly-1"})
            self.assertIs(nodes["gitaly-1"]["enrolled"], True)

    def test_removed_node_rejected(self):
        with self.fleet() as f:
            f.cli("node", "remove", "gitaly-2", check=True)
            p = f.agent_proc("gitaly-2")
            f.wait_until(lambda: p.poll() is not None, 2 * f.poll_timeout_s + 10,
                         "gitaly-2's agent to exit after `node remove`")
            self.assertEqual(p.returncode, 3, "agent exit status after removal:\n" + f.agent_log("gitaly-2")[-2000:])
            f.wait_until(lambda: [ln for ln in f.coordinator_log().splitlines()
                                  if "gitaly-2" in ln and re.search(r"\bremoved\b", ln, re.I)],
                         5, "a coordinator log line naming gitaly-2 and saying removed")
            for name in FIVE - {"gitaly-2"}:
                self.assertIsNone(f.agent_proc(name).poll(), name + " still running")

    @staticmethod
    def s_client(f, *extra):
        argv = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % f.fleet_port, "-CAfile", f.ca_pem,
                "-servername", f.server_name, "-verify_hostname", f.server_name, "-verify_return_error"]
        p = subprocess.run(argv + list(extra), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=30)
        out = p.stdout + p.stderr
        ok = (p.returncode == 0 and "Verify return code: 0 (ok)" in out and
              re.search(r"^New, TLSv1\.[23], Cipher is (?!\(NONE\))\S+", out, re.M) is not None)
        return ok, p.returncode, out

    def test_tls_requires_client_certificate(self):
        with self.fleet() as f:
            ok, rc, out = self.s_client(f)
            self.assertFalse(ok, "handshake without a client certificate must fail (exit %d):\n%s" % (rc, out))
            self.assertNotEqual(rc, 0, out)
            self.assertRegex(out, r":error:", "openssl names why the handshake failed")
            ident = f.identity_dir("gitaly-1")
            ok, rc, out = self.s_client(f, "-cert", os.path.join(ident, "node.crt"),
                                        "-key", os.path.join(ident, "node.key"))
            self.assertTrue(ok, "handshake with the agent's certificate must succeed (exit %d):\n%s" % (rc, out))

    @staticmethod
    def probe_json(p):
        lines = [ln for ln in p.stdout.splitlines() if ln.strip()]
        if not lines:
            raise AssertionError("ls_fleetprobe printed nothing (exit %d): %s" % (p.returncode, p.stderr))
        return json.loads(lines[-1])

    def test_impersonation_rejected(self):
        self.require_probe()
        with self.fleet() as f:
            p = f.probe("impersonate", "--state", f.agent_state_dir("gitaly-1"), "--as", "rails-1",
                        "--url", f.fleet_url, "--server-name", f.server_name)
            res = self.probe_json(p)
            self.assertEqual(res.get("result"), "rejected", res)
            f.wait_until(lambda: [ln for ln in f.coordinator_log().splitlines()
                                  if "rails-1" in ln and re.search(r"signature", ln, re.I)],
                         5, "a coordinator log line naming rails-1 and the bad signature")
            self.assertEqual(f.connected_nodes(), FIVE, "the real rails-1 is unaffected")

    def test_garbage_messages(self):
        self.require_probe()
        with self.fleet() as f:
            p = f.probe("garbage", "--state", f.agent_state_dir("gitaly-1"), "--count", 1000, "--seed", 7,
                        "--url", f.fleet_url, "--server-name", f.server_name, timeout=240)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertIsNone(f.coordinator_proc.poll(), "coordinator died:\n" + f.coordinator_log()[-3000:])
            f.wait_until(lambda: f.connected_nodes() == FIVE, 2 * f.poll_timeout_s + 5, "all five connected")
            st = f.status()
            self.assertGreaterEqual(st["counters"]["dropped_undecodable"], 1)
            rc, out = f.check()
            answered = {n["node"] for n in out["nodes"] if n.get("answered")}
            self.assertEqual(answered, FIVE, out)
            self.assertIsNone(f.coordinator_proc.poll())

    def test_check(self):
        with self.fleet() as f:
            p = f.cli("check")
            self.assertEqual(p.returncode, 0, "healthy fleet:\n" + p.stdout + p.stderr)
            rc, out = f.check()
            self.assertEqual(rc, 0)
            self.assertIs(out["ok"], True)
            self.assertEqual({n["node"] for n in out["nodes"] if n.get("answered")}, FIVE)
            self.assertFalse([c for c in out.get("fleet", []) if c.get("name") == "gitlab-version-skew"])

            f.set_service("rails-1", "sidekiq", False)
            p = f.cli("check")
            self.assertNotEqual(p.returncode, 0, p.stdout)
            self.assertIn("rails-1", p.stdout)
            self.assertIn("gitlab-ctl:sidekiq", p.stdout)
            rc, out = f.check()
            self.assertNotEqual(rc, 0)
            self.assertIs(out["ok"], False)
            rails = [n for n in out["nodes"] if n["node"] == "rails-1"][0]
            self.assertIn(("gitlab-ctl:sidekiq", "fail"), [(c["name"], c["status"]) for c in rails["checks"]])

            f.set_service("rails-1", "sidekiq", True)
            p = f.cli("check")
            self.assertEqual(p.returncode, 0, "after sidekiq is back:\n" + p.stdout)

            f.psql("INSERT INTO batched_background_migrations (created_at, updated_at, max_value, batch_size, "
                   "sub_batch_size, \"interval\", status, job_class_name, table_name, column_name, job_arguments, "
                   "gitlab_schema) VALUES (now(), now(), 1000, 100, 10, 120, 1, 'BackfillFixtureActive', "
                   "'projects', 'id', '[]', 'gitlab_main')")
            p = f.cli("check")
            self.assertNotEqual(p.returncode, 0, p.stdout)
            self.assertIn("postgresql-1", p.stdout)
            self.assertIn("postgresql:batched-background-migrations", p.stdout)
            rc, out = f.check()
            pg = [n for n in out["nodes"] if n["node"] == "postgresql-1"][0]
            self.assertIn(("postgresql:batched-background-migrations", "fail"),
                          [(c["name"], c["status"]) for c in pg["checks"]])

    def test_version_skew(self):
        with self.fleet(versions={"gitaly-2": "17.7.1"}) as f:
            rc, out = f.check()
            skew = [c for c in out.get("fleet", []) if c.get("status") == "warn" and
                    "17.8.2" in c.get("reason", "") and "17.7.1" in c.get("reason", "")]
            self.assertTrue(skew, "no fleet-level warning naming 17.8.2 and 17.7.1: %s" % json.dumps(out))
            self.assertEqual(skew[0]["name"], "gitlab-version-skew")
            versions = {n["node"]: n.get("gitlab_version") for n in out["nodes"]}
            self.assertEqual(versions["gitaly-2"], "17.7.1")
            self.assertEqual(versions["gitaly-1"], "17.8.2")
            self.assertEqual(out["ok"], rc == 0)


def main():
    global BUILD
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=BUILD, help="Lockstep build directory")
    args, rest = ap.parse_known_args()
    BUILD = os.path.abspath(args.build)
    names = ["FixtureSelfTest" if a == "fixture_selftest" else a for a in rest]
    unittest.main(module=__name__, argv=[sys.argv[0], "-v"] + names, verbosity=2)


if __name__ == "__main__":
    main()
