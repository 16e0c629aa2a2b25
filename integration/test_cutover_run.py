#!/usr/bin/env python3
"""lockstep cutover run and rollback on a real local fleet plus a
kubernetes node (integration/fixture/kube_node.py stands in for the
cluster; its toolbox's backup-utility really restores into a chart-side
database, repositories and files).

- the whole cutover: files moved to object storage by GitLab's Rake tasks,
  a fleet backup skipping them, the chart's Secrets from
  gitlab-secrets.json (secrets.yml read back as YAML, PEM values byte for
  byte), webservice and sidekiq to 0 and back, backup-utility's output in
  the coordinator's log, every pod restarted, the chart side equal to the
  fleet (rows, refs, uploads); the Linux-package fleet still serving;
  then `cutover rollback` puts the previous Secrets and counts back;
- a component whose rows never leave local storage halts the run at the
  migrate step, naming it, before the chart is touched.

    python3 integration/test_cutover_run.py --build BUILD_DIR [CutoverRunTest.test_name]
"""
import json
import os
import subprocess
import sys
import time
import unittest

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixture"))
import fleet  # noqa: E402
from fleet import DEFAULT_NODES, Fleet  # noqa: E402
import gitlab_node  # noqa: E402
import rails_files  # noqa: E402
import kube_node  # noqa: E402
import testlib  # noqa: E402

BUILD = os.environ.get("LOCKSTEP_BUILD", "build")
KUBE = "kube-1"
RELEASE, NS = "gitlab", "gitlab"
# Cluster calls that change something: none before the migrate step ends.
MUTATING = ("apply", "scale", "delete", "cp", "exec", "create", "replace", "patch")
TABLES = ("projects", "namespaces", "users", "issues", "merge_requests", "uploads")


def set_build(b):
    global BUILD
    BUILD = b


def cutover_fleet(test):
    """A fleet with a kubernetes node whose chart is ready for a cutover;
    stopped when test ends. Returns it."""
    f = Fleet(BUILD, nodes=DEFAULT_NODES + [(KUBE, ["kubernetes"])])
    try:
        f.__enter__()
    except BaseException:
        f.__exit__(None, None, None)
        raise
    test.addCleanup(f.__exit__, None, None, None)
    kube = f.node_dir(KUBE)
    # The Rails node's gitlab-rake stand-in (agent.yml gitlab.rake).
    f.add_upgrade_agent_config("rails-1")
    # A restart waits for pods to become ready: quick, but not at once.
    kube_node.set_ready_delay(kube, 0.5)
    # The chart deployed with the fleet's Gitaly storages.
    kube_node.set_gitaly_storages(kube, sorted(f.storage_nodes,
                                               key=lambda n: (n != "default", n)))
    f.wait_until(lambda: all(p["ready"] for p in kube_node.pods(kube).values()),
                 30, "every pod of the release ready")
    return f


def run_id(text):
    for word in text.split():
        if word.startswith("cutover-"):
            return word.rstrip(":")
    raise AssertionError("no run id in:\n" + text)


class CutoverRunTest(unittest.TestCase):
    def setUp(self):
        self.f = cutover_fleet(self)
        self.kube = self.f.node_dir(KUBE)

    def run_cli(self, *args, timeout=900):
        p = self.f.cli(*args, timeout=timeout)
        return p

    def show(self, run):
        return self.f.cli_json("run", "show", run)

    def run_id(self, text):
        return run_id(text)

    def fleet_count(self, table):
        return int(self.f.psql("SELECT count(*) FROM %s" % table).strip())

    def chart_count(self, table):
        return int(kube_node.chart_psql(self.kube, "SELECT count(*) FROM %s" % table))

    def replicas(self):
        return {n: d["replicas"] for n, d in kube_node.deployments(self.kube).items()
                if d["app"] in ("webservice", "sidekiq")}

    def test_cutover_then_rollback(self):
        f = self.f
        before_secrets = kube_node.secrets(self.kube)
        before_replicas = self.replicas()
        self.assertTrue(before_replicas and all(before_replicas.values()), before_replicas)
        local_before = int(f.psql("SELECT count(*) FROM uploads WHERE store IS NULL OR store = 1"))
        self.assertGreater(local_before, 0, "the fleet has no upload on local storage to move")

        p = self.run_cli("cutover", "run", "--release", RELEASE, "--namespace", NS, "--yes",
                         "--migrate-timeout", "2m", "--ready-timeout", "2m")
        log = f.coordinator_log()
        self.assertEqual(p.returncode, 0, "%s\n%s\n%s" % (p.stdout, p.stderr, log[-6000:]))
        run = self.run_id(p.stdout)
        show = self.show(run)
        self.assertEqual(show["kind"], "cutover")
        self.assertEqual(show["state"], "done", show)
        self.assertIn("Linux-package fleet was left untouched", show.get("reason", ""))
        self.assertEqual([s for s in show["steps"] if s["state"] != "done"], [])
        names = [s["name"] for s in show["steps"]]
        for want in ("move local files", "fleet backup", "Secrets", "scale webservice and "
                     "sidekiq to 0", "backup-utility", "scale webservice and sidekiq back",
                     "delete pods", "verify"):
            self.assertTrue(any(want in n for n in names), (want, names))

        # 1. Files: nothing local on the fleet any more.
        self.assertEqual(int(f.psql("SELECT count(*) FROM uploads WHERE store IS NULL OR "
                                    "store = 1")), 0)
        migrate = [s for s in show["steps"] if "move local files" in s["name"]][0]
        self.assertIn("uploads", migrate["detail"])

        # 2. The backup: complete, the moved components skipped.
        backup = [s for s in show["steps"] if "fleet backup" in s["name"]][0]
        bid = backup["detail"].split()[1]
        info = f.cli_json("backup", "show", bid)
        self.assertEqual(info["state"], "complete", info)
        self.assertIn("uploads", info.get("skipped", ""), info)

        # 3. Secrets: secrets.yml is YAML whose PEM values are the file's.
        with open(gitlab_node.node_paths(f.node_dir("rails-1"))["secrets_file"]) as fh:
            secrets = json.load(fh)
        after = kube_node.secrets(self.kube)
        doc = yaml.safe_load(after["gitlab-rails-secret"]["secrets.yml"].decode())
        for key in ("openid_connect_signing_key", "secret_key_base", "db_key_base"):
            want = secrets["gitlab_rails"].get(key)
            if want is None:
                continue
            self.assertEqual(doc["production"][key].encode(), want.encode(), key)
        self.assertIn("\n", secrets["gitlab_rails"]["openid_connect_signing_key"].rstrip("\n"))
        self.assertEqual(after["gitlab-gitlab-shell-secret"]["secret"],
                         secrets["gitlab_shell"]["secret_token"].encode())

        # 4. The restore: backup-utility's lines in the coordinator's log.
        self.assertIn("kube_restore", log)
        calls = kube_node.read_calls(self.kube)
        restores = [c for c in calls if "backup-utility" in c["argv"]]
        self.assertEqual(len(restores), 1, restores)

        # 5. Replicas back, every pod ready.
        self.assertEqual(self.replicas(), before_replicas)
        for name, d in kube_node.deployments(self.kube).items():
            self.assertEqual(d["ready"], d["replicas"], (name, d))

        # 6. The chart side equals the fleet.
        for t in TABLES:
            self.assertEqual(self.chart_count(t), self.fleet_count(t), t)
        verify = [s for s in show["steps"] if "verify" in s["name"]][0]
        self.assertIn(": 0 differences", verify["detail"])
        # The Linux-package fleet still serves: no service was stopped.
        for node, _ in DEFAULT_NODES:
            for c in gitlab_node.read_calls(f.node_dir(node)):
                self.assertNotIn("stop", c.get("argv", []), (node, c))

        # Rollback: the previous Secrets and counts back, pods restarted.
        p = self.run_cli("cutover", "rollback", run, "--yes", "--ready-timeout", "2m")
        self.assertEqual(p.returncode, 0, "%s\n%s\n%s" % (p.stdout, p.stderr,
                                                          f.coordinator_log()[-5000:]))
        rb = self.show(self.run_id(p.stdout))
        self.assertEqual(rb["kind"], "cutover-rollback")
        self.assertEqual(rb["state"], "done", rb)
        now = kube_node.secrets(self.kube)
        for name in before_secrets:
            self.assertEqual(now.get(name), before_secrets[name], name)
        for name in now:
            self.assertIn(name, before_secrets, "rollback left %s behind" % name)
        self.assertEqual(self.replicas(), before_replicas)
        # A second rollback of the same run puts back the same state.
        p = self.run_cli("cutover", "rollback", run, "--yes")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(kube_node.secrets(self.kube), now)

    def test_a_difference_on_the_chart_side_fails_the_verify_step_naming_it(self):
        f = self.f
        self.addCleanup(kube_node.set_stall, self.kube, "backup-utility", False)
        kube_node.set_stall(self.kube, "backup-utility", True)
        p = subprocess.Popen([f.bin["cli"], "--config", f.coordinator_config, "cutover", "run",
                              "--release", RELEASE, "--namespace", NS, "--yes"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=fleet.clean_env(), stdin=subprocess.DEVNULL)
        self.addCleanup(lambda: (p.poll() is None and p.kill(), p.communicate()))
        f.wait_until(lambda: [c for c in kube_node.read_calls(self.kube)
                              if "backup-utility" in c["argv"]], 180,
                     "the cutover to reach its restore")
        # Uploads are in object storage by now: one object's bytes change
        # under the run (its checksum row stays as uploaded).
        key = f.psql("SELECT path FROM uploads WHERE store = 2 ORDER BY id LIMIT 1").strip()
        obj = os.path.join(f.objstore_dir, rails_files.OBJSTORE_BUCKETS["uploads"], key)
        self.assertTrue(os.path.isfile(obj), obj)
        with open(obj, "wb") as fh:
            fh.write(b"not what was uploaded\n")
        kube_node.set_stall(self.kube, "backup-utility", False)
        out, err = p.communicate(timeout=600)
        self.assertEqual(p.returncode, 1, out + err)
        show = self.show(self.run_id(out))
        self.assertEqual(show["state"], "halted", show)
        verify = [s for s in show["steps"] if "verify" in s["name"]][0]
        self.assertEqual(verify["state"], "failed", verify)
        self.assertIn("the chart side differs: upload", verify["error"])
        self.assertIn(key, verify["error"])
        self.assertIn("differences: upload", verify["detail"])
        self.assertIn(": 1 differences", verify["detail"])

    def assert_untouched(self, since):
        """No cluster change and no Rake task since (a timestamp)."""
        for c in kube_node.read_calls(self.kube, since=since):
            argv = [a for a in c["argv"] if not a.startswith("-")]
            self.assertFalse(set(argv) & set(MUTATING), "the chart was touched: %r" % c)
        self.assertEqual(self.f.calls("rails-1", "gitlab-rake", since=since), [])

    def test_version_mismatch_or_a_service_down_stop_the_run_before_any_change(self):
        f = self.f
        local = int(f.psql("SELECT count(*) FROM uploads WHERE store IS NULL OR store = 1"))
        for what, spoil, mend, cause in (
                ("version", lambda: kube_node.set_app_version(self.kube, "17.8.1"),
                 lambda: kube_node.set_app_version(self.kube, "17.8.2"),
                 "the chart runs GitLab 17.8.1 and the fleet 17.8.2"),
                ("service", lambda: f.set_service("rails-1", "sidekiq", False),
                 lambda: f.set_service("rails-1", "sidekiq", True), "sidekiq")):
            since = time.time()
            spoil()
            try:
                p = self.run_cli("cutover", "run", "--release", RELEASE, "--namespace", NS,
                                 "--yes")
            finally:
                mend()
            self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
            show = self.show(self.run_id(p.stdout))
            self.assertEqual(show["state"], "failed", (what, show))
            self.assertIn("prerequisites not met, nothing was changed", show["reason"])
            self.assertIn(cause, show["reason"])
            later = [s for s in show["steps"] if "move local files" in s["name"]]
            self.assertEqual(later[0]["state"], "pending", later)
            self.assert_untouched(since)
        self.assertEqual(int(f.psql("SELECT count(*) FROM uploads WHERE store IS NULL OR "
                                    "store = 1")), local)
        # Without --yes and no terminal, nothing starts.
        p = self.run_cli("cutover", "run", "--release", RELEASE, "--namespace", NS)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("not confirmed", p.stderr)

    def test_rows_that_never_leave_local_storage_halt_before_the_chart(self):
        f = self.f
        gitlab_node.set_rake_stall(f.node_dir("rails-1"), ["gitlab:uploads:migrate:all"])
        since = time.time()
        p = self.run_cli("cutover", "run", "--release", RELEASE, "--namespace", NS, "--yes",
                         "--migrate-timeout", "5s")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        run = self.run_id(p.stdout)
        show = self.show(run)
        self.assertEqual(show["state"], "halted", show)
        self.assertIn("still on local storage after the migrate timeout", show["reason"])
        self.assertIn("uploads", show["reason"])
        later = [s for s in show["steps"] if s["state"] != "done"]
        self.assertIn("move local files", later[0]["name"])
        self.assertTrue(all(s["state"] == "pending" for s in later[1:]), later)
        self.assertEqual(self.f.calls("rails-1", "gitlab-rake", since=since)[0]["argv"],
                         ["gitlab:uploads:migrate:all"])
        for c in kube_node.read_calls(self.kube, since=since):
            argv = [a for a in c["argv"] if not a.startswith("-")]
            self.assertFalse(set(argv) & set(MUTATING), "the chart was touched: %r" % c)


if __name__ == "__main__":
    testlib.run_main(__doc__, set_build)
