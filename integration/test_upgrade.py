#!/usr/bin/env python3
"""Fleet upgrades on a real local fleet (PostgreSQL 15, Redis, git and the
GitLab node fixture's package manager, gitlab-ctl and gitlab-rake
stand-ins, which record every call with its environment):

- plan: 16.3.5 -> 17.3.x resolves every stop to the latest patch the
  nodes' repositories offer, lays out GitLab's order, and refuses a
  downgrade, an unknown version and nodes on different versions;
- run: 16.3.5 -> 17.3.x, zero-downtime: every node ends on the target, the
  recorded order of calls per node and role follows gitlab-facts §7,
  SKIP_POST_DEPLOYMENT_MIGRATIONS is set only on the deploy node's
  reconfigure, each stop has its rollback-point backup, and an active
  background migration holds the first stop until it finishes.

    python3 integration/test_upgrade.py --build BUILD_DIR [Case.test_name]
"""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fleet  # noqa: E402
import testlib  # noqa: E402
from fleet import Fleet  # noqa: E402
sys.path.insert(0, fleet.FIXTURE)
import gitlab_node  # noqa: E402

BUILD = os.environ.get("LOCKSTEP_BUILD", "build")
FROM = "16.3.5"
NODES = [
    ("rails-1", ["rails", "sidekiq"]),
    ("gitaly-1", ["gitaly"]),
    ("postgresql-1", ["postgresql"]),
    ("redis-1", ["redis"]),
]


def latest(minor):
    """The latest released patch of 'X.Y' in the shipped list."""
    vs = [v for v in gitlab_node.released_versions() if v.startswith(minor + ".")]
    return max(vs, key=gitlab_node.version_tuple)


def upgrade_fleet():
    f = Fleet(BUILD, nodes=NODES, gitlab_version=FROM)
    f.__enter__()
    try:
        for name, _ in NODES:
            f.add_upgrade_agent_config(name)
        # The agents report the version they run: wait until all do.
        f.wait_until(lambda: all(n.get("gitlab_version", "").startswith(FROM)
                                 for n in f.status()["nodes"]), 30, "every node reports " + FROM)
    except BaseException:
        f.__exit__(*sys.exc_info())
        raise
    return f


class UpgradePlan(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        missing = Fleet.missing_binaries(BUILD)
        if missing:
            raise AssertionError("missing binaries (build first): %s" % missing)
        cls.f = upgrade_fleet()

    @classmethod
    def tearDownClass(cls):
        cls.f.__exit__(None, None, None)

    def test_plan(self):
        f = self.f
        target = latest("17.3")
        plan = f.cli_json("upgrade", "plan", "--to", target)
        want = [latest("16.3"), latest("16.7"), latest("16.11"), latest("17.1"), target]
        self.assertEqual([s["version"] for s in plan["path"]], want)
        self.assertEqual(plan["from"], FROM)
        self.assertEqual(plan["deploy_node"], "rails-1")
        self.assertEqual(plan["path"][0]["why"], "latest patch of your current minor")
        for n in plan["nodes"]:
            self.assertEqual(n["version"], FROM, n)
            self.assertEqual(n["manager"], "apt", n)
        names = [(s["node"], s["name"]) for s in plan["steps"] if s["name"].startswith(want[0] + ":")]
        order = [n for n, name in names if name.endswith("install " + want[0])]
        self.assertEqual(order, ["postgresql-1", "redis-1", "gitaly-1", "rails-1"])
        # The text form names every stop.
        p = f.cli("upgrade", "plan", "--to", target)
        self.assertEqual(p.returncode, 0, p.stderr)
        for v in want:
            self.assertIn("Stop %s:" % v, p.stdout)

    def test_refusals(self):
        f = self.f
        p = f.cli("upgrade", "plan", "--to", "16.1.0")
        self.assertEqual(p.returncode, 1)
        self.assertIn("downgrade", p.stderr)
        p = f.cli("upgrade", "plan", "--to", "17.3.99")
        self.assertEqual(p.returncode, 1)
        self.assertIn("17.3.99", p.stderr)
        p = f.cli("upgrade", "plan", "--to", "17.3")
        self.assertEqual(p.returncode, 1)
        self.assertIn("'17.3'", p.stderr)
        p = f.cli("upgrade", "plan")
        self.assertEqual(p.returncode, 2)
        # Nodes on different versions.
        f.set_version("redis-1", "16.3.6")
        try:
            # The plan reads each node's installed version afresh.
            p = f.cli("upgrade", "plan", "--to", latest("17.3"))
            self.assertEqual(p.returncode, 1)
            self.assertIn("different GitLab versions", p.stderr)
            self.assertIn("redis-1 16.3.6", p.stderr)
        finally:
            f.set_version("redis-1", FROM)


class UpgradeRun(unittest.TestCase):
    def setUp(self):
        missing = Fleet.missing_binaries(BUILD)
        if missing:
            raise AssertionError("missing binaries (build first): %s" % missing)
        self.f = upgrade_fleet()
        self.addCleanup(self.f.__exit__, None, None, None)

    def test_run_zero_downtime(self):
        f = self.f
        target = latest("17.3")
        path = [latest("16.3"), latest("16.7"), latest("16.11"), latest("17.1"), target]
        # An active migration holds the first stop until it finishes.
        ids = f.seed_bbm(count=1, finish_after=4)
        t0 = time.time()
        p = f.cli("upgrade", "run", "--to", target, "--yes", "--json", timeout=1800)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr + f.coordinator_log()[-3000:])
        f.wait_bbm_finished(ids, timeout=1)
        for name, _ in NODES:
            self.assertEqual(gitlab_node.installed_version(f.node_dir(name))[0], target, name)
        # Per node: for each stop, marker, install, reconfigure, restart.
        for name, roles in NODES:
            installs = [c for c in f.calls(name, "apt-get") if "install" in c["argv"]]
            self.assertEqual([c["argv"][-1].split("=")[1].split("-")[0] for c in installs], path, name)
            for c in installs:
                self.assertGreaterEqual(c["ts"], t0)
            recs = [c for c in f.calls(name, "gitlab-ctl")
                    if c["argv"][:1] == ["reconfigure"] and not c.get("implicit")]
            self.assertEqual(len(recs), len(path), name)
            for c in recs:
                skip = c.get("env", {}).get("SKIP_POST_DEPLOYMENT_MIGRATIONS")
                if name == "rails-1":
                    self.assertEqual(skip, "true", c)
                else:
                    self.assertIsNone(skip, (name, c))
        # Gitaly before Rails, PostgreSQL first, at every stop.
        def first_install(name, v):
            return min(c["ts"] for c in f.calls(name, "apt-get")
                       if "install" in c["argv"] and ("=" + v + "-") in c["argv"][-1])
        for v in path:
            order = sorted([n for n, _ in NODES], key=lambda n: first_install(n, v))
            self.assertEqual(order, ["postgresql-1", "redis-1", "gitaly-1", "rails-1"], v)
        # Post-deployment migrations on the deploy node, once per stop,
        # after its reconfigure and without the skip.
        migs = [c for c in f.calls("rails-1", "gitlab-rake") if c["argv"] == ["db:migrate"]]
        self.assertEqual(len(migs), len(path))
        for c in migs:
            self.assertNotIn("SKIP_POST_DEPLOYMENT_MIGRATIONS", c.get("env", {}))
        # A rollback point per stop: a complete backup at each version.
        backups = f.cli_json("backup", "list")
        backups = backups.get("backups", backups) if isinstance(backups, dict) else backups
        backups = [b for b in backups if b.get("state") == "complete"]
        versions = sorted(b.get("gitlab_version", "").split("-")[0] for b in backups)
        self.assertEqual(versions, sorted([FROM] + path[:-1]), backups)
        runs = f.cli_json("run", "list")["runs"]
        self.assertEqual(runs[0]["kind"], "upgrade")
        self.assertEqual(runs[0]["state"], "done")


def set_build(d):
    global BUILD
    BUILD = d


if __name__ == "__main__":
    testlib.run_main(__doc__, set_build)
