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
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fleet  # noqa: E402
import testlib  # noqa: E402
import upgradelib  # noqa: E402
from upgradelib import FROM, NODES, FleetCase, latest, upgrade_fleet  # noqa: E402
sys.path.insert(0, fleet.FIXTURE)
import gitlab_node  # noqa: E402


class UpgradePlan(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
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

    def test_document(self):
        """upgrade plan --format: the plan as a document, every fact read
        from the fleet, the same in Markdown, text and JSON."""
        f = self.f
        target = latest("17.3")
        backup = f.cli_json("backup", "create")
        backup_id = backup.get("id") or backup.get("backup_id")
        self.assertTrue(backup_id, backup)
        # Its verify is recorded in the catalog for the rollback section.
        p = f.cli("backup", "verify", backup_id, timeout=600)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIs(f.cli_json("backup", "show", backup_id)["verify_ok"], True)
        ids = f.seed_bbm(count=1)
        self.addCleanup(f.finish_bbm, ids)
        # gitaly-1 on an OS whose GitLab packages end before the target.
        osr = gitlab_node.node_paths(f.node_dir("gitaly-1"))["os_release"]
        with open(osr) as fh:
            saved = fh.read()
        def restore_os():
            with open(osr, "w") as fh:
                fh.write(saved)
        self.addCleanup(restore_os)
        gitlab_node.set_os_release(f.node_dir("gitaly-1"), "ubuntu", "18.04", "Ubuntu 18.04.6 LTS")
        out = os.path.join(f.node_dir("rails-1"), "plan.md")
        p = f.cli("upgrade", "plan", "--to", target, "--format", "markdown", "--output", out,
                  timeout=600)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        with open(out) as fh:
            md = fh.read()
        status = {n["name"]: n for n in f.status()["nodes"]}
        for name, roles in NODES:
            row = [line for line in md.splitlines() if line.startswith("| %s |" % name)]
            self.assertTrue(row, (name, md))
            self.assertIn(", ".join(roles), row[0])
            self.assertIn(status[name]["os"], row[0])
        for v in [latest("16.3"), latest("16.7"), latest("16.11"), latest("17.1"), target]:
            self.assertIn("| %s |" % v, md)
        self.assertIn("BackfillFixtureRows%d" % ids[0], md)
        self.assertIn(backup_id, md)
        flagged = [line for line in md.splitlines() if "gitaly-1 runs ubuntu 18.04" in line]
        self.assertTrue(flagged, md)
        self.assertIn("16.11", flagged[0])
        self.assertIn("never drilled", md)
        self.assertIn("Its last verify: every artifact verified", md)
        self.assertIn("lockstep rollback RUN_ID", md)
        self.assertIn("## Stops", md)
        self.assertIn("SKIP_POST_DEPLOYMENT_MIGRATIONS=true", md)
        self.assertIn("Instead, with --mode downtime", md)
        # Never a secret: the fixture's secrets are not in it.
        with open(f.node_paths("rails-1")["secrets_file"]) as fh:
            secret = json.load(fh)["gitlab_rails"]["secret_key_base"]
        self.assertNotIn(secret, md)
        # JSON carries the same facts.
        doc = f.cli_json("upgrade", "plan", "--to", target, "--format", "json", timeout=600)
        self.assertEqual([n["name"] for n in doc["installation"]["nodes"]],
                         sorted(n for n, _ in NODES))
        self.assertEqual(doc["installation"]["method"], "Linux package")
        self.assertEqual([s["version"] for s in doc["path"]][-1], target)
        self.assertEqual(len(doc["stops"]), 5)
        for st in doc["stops"]:
            self.assertIn("none planned", st["expected_downtime"])
            self.assertIn("maintenance mode", st["other_mode"])
        self.assertTrue(any("BackfillFixtureRows" in b["reason"]
                            for b in doc["checks"]["background_migrations"]), doc["checks"])
        self.assertEqual(doc["rollback"]["existing_backup"]["id"], backup_id)
        self.assertIs(doc["rollback"]["existing_backup"]["verify_ok"], True)
        self.assertEqual([(u["node"], u["last"]) for u in doc["os_compatibility"]["unsupported"]],
                         [("gitaly-1", "16.11")])
        # A drill is recorded and the plan says it passed.
        p = f.cli("backup", "drill", backup_id, timeout=600)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIs(f.cli_json("backup", "show", backup_id)["drill_ok"], True)
        doc = f.cli_json("upgrade", "plan", "--to", target, "--format", "json", timeout=600)
        self.assertIs(doc["rollback"]["existing_backup"]["drill_ok"], True)
        self.assertFalse([r for r in doc["risks"] if "never drilled" in r], doc["risks"])
        # Text reads without Markdown.
        p = f.cli("upgrade", "plan", "--to", target, "--format", "text", timeout=600)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("Rollback plan\n-------------", p.stdout)
        self.assertNotIn("| ", p.stdout)
        # A table of the operator's own (refreshed, or stricter): Debian
        # 12 with packages up to 16.3 only flags every Debian 12 node.
        table = os.path.join(f.node_dir("rails-1"), "supported-os.txt")
        with open(table, "w") as fh:
            fh.write("# test table\ndebian 12 16.0 16.3\nubuntu 18.04 10.7 16.11\n")
        doc = f.cli_json("upgrade", "plan", "--to", target, "--format", "json",
                         "--supported-os", table, timeout=600)
        flagged = sorted(u["node"] for u in doc["os_compatibility"]["unsupported"])
        debian = sorted(n["name"] for n in doc["installation"]["nodes"]
                        if "Debian GNU/Linux 12" in n.get("os", ""))
        self.assertEqual(flagged, sorted(set(debian) | {"gitaly-1"}), doc["os_compatibility"])
        self.assertEqual(doc["os_compatibility"]["source"], table)
        with open(table, "w") as fh:
            fh.write("debian twelve\n")
        p = f.cli("upgrade", "plan", "--to", target, "--format", "json", "--supported-os", table,
                  timeout=600)
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertIn(table + ":1", p.stderr)
        p = f.cli("upgrade", "plan", "--to", target, "--format", "pdf")
        self.assertEqual(p.returncode, 2)
        self.assertIn("'pdf'", p.stderr)

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


class UpgradeRun(FleetCase):
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


class UpgradeRollback(FleetCase):
    """An install failing at the second stop halts the run with the
    reason; lockstep rollback takes every touched node back to the first
    stop's version and the data back to that stop's rollback point."""

    def test_failed_install_then_rollback(self):
        f = self.f
        first, target = latest("16.3"), latest("16.7")
        # PostgreSQL and Redis go first at a stop; Gitaly's install fails.
        gitlab_node.set_package_fail_at(f.node_dir("gitaly-1"), target)
        p = f.cli("upgrade", "run", "--to", target, "--yes", "--json", timeout=1800)
        self.assertNotEqual(p.returncode, 0, p.stdout + p.stderr)
        run = [r for r in f.cli_json("run", "list")["runs"] if r["kind"] == "upgrade"][0]
        self.assertEqual(run["state"], "halted", run)
        show = f.cli_json("run", "show", run["id"])
        failed = [s for s in show["steps"] if s["state"] == "failed"]
        self.assertEqual(len(failed), 1, show)
        self.assertEqual(failed[0]["node"], "gitaly-1", failed)
        self.assertIn(target, failed[0]["name"], failed)
        # The reason carries the package manager's own words.
        self.assertIn("gitaly-1", show["reason"])
        # Why: the package manager's own stderr tail.
        self.assertIn("pre-installation script subprocess returned error exit status 1",
                      failed[0].get("error", ""), failed)
        self.assertIn("returned an error code (1)", show["reason"])
        # Each node's state and version as the run left it.
        nodes = {n["node"]: n for n in show["nodes"]}
        self.assertEqual(sorted(nodes), sorted(n for n, _ in NODES), show["nodes"])
        self.assertEqual(nodes["gitaly-1"]["last_state"], "failed", nodes)
        self.assertTrue(nodes["gitaly-1"]["version"].startswith(first), nodes)
        f.wait_until(lambda: {n["node"]: n for n in f.cli_json("run", "show", run["id"])["nodes"]}
                     ["postgresql-1"].get("version", "").startswith(target), 30,
                     "postgresql-1 reports " + target)
        self.assertTrue(all(n["connected"] for n in show["nodes"]), show["nodes"])
        self.assertEqual(gitlab_node.installed_version(f.node_dir("postgresql-1"))[0], target)
        self.assertEqual(gitlab_node.installed_version(f.node_dir("rails-1"))[0], first)
        gitlab_node.set_package_fail_at(f.node_dir("gitaly-1"), None)

        # Written after the rollback point: gone once rolled back.
        f.psql("INSERT INTO users (id, email, name, username, admin, projects_limit, state, "
               "created_at, updated_at) VALUES (99, 'late@example.com', 'Late', 'late', false, "
               "10, 'active', now(), now())")

        # --to-stop 1 would take every node back to 16.3.5: the plan says so.
        plan = f.cli_json("rollback", run["id"], "--to-stop", "1", "--dry-run", "--json")
        downs = sorted(s["node"] for s in plan["plan"] if s["name"].startswith("downgrade: install"))
        self.assertEqual(downs, sorted(n for n, _ in NODES), plan)
        self.assertTrue(all(s["name"] == "downgrade: install " + FROM
                            for s in plan["plan"] if s["name"].startswith("downgrade: install")), plan)
        bad = f.cli("rollback", run["id"], "--to-stop", "9", "--dry-run")
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("--to-stop 9", bad.stderr)
        nothing = f.cli("rollback", "restore-0-nothing", "--dry-run")
        self.assertNotEqual(nothing.returncode, 0)
        self.assertIn("restore-0-nothing", nothing.stderr)

        t0 = time.time()
        p = f.cli("rollback", run["id"], "--yes", timeout=1800)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr + f.coordinator_log()[-3000:])
        # Stop 2's rollback point: every node on the first stop's version.
        for name, _ in NODES:
            self.assertEqual(gitlab_node.installed_version(f.node_dir(name))[0], first, name)
        # Only the nodes stop 2 touched were downgraded: removed, the old
        # version installed with --allow-downgrades, reconfigured.
        for name, _ in NODES:
            calls = [c for c in f.calls(name, "apt-get") if c["ts"] >= t0]
            if name == "rails-1":
                self.assertEqual(calls, [], name)
                continue
            self.assertEqual([c["argv"][0] for c in calls], ["remove", "install"], (name, calls))
            self.assertIn("--allow-downgrades", calls[1]["argv"])
            self.assertTrue(calls[1]["argv"][-1].startswith("gitlab-ee=" + first + "-"), calls)
            recs = [c for c in f.calls(name, "gitlab-ctl")
                    if c["ts"] >= t0 and c["argv"][:1] == ["reconfigure"] and not c.get("implicit")]
            self.assertEqual(len(recs), 1, (name, recs))
            self.assertGreater(recs[0]["ts"], calls[1]["ts"])
        # Puma and Sidekiq stopped before any package changed.
        stops = [c for c in f.calls("rails-1", "gitlab-ctl") if c["ts"] >= t0 and c["argv"][:1] == ["stop"]]
        removes = [c for n, _ in NODES for c in f.calls(n, "apt-get") if c["ts"] >= t0]
        self.assertTrue(stops and removes and min(c["ts"] for c in stops) < min(c["ts"] for c in removes))
        # The data is the rollback point's.
        late = f.psql("SELECT count(*) FROM users WHERE id = 99").strip()
        self.assertEqual(late, "0")
        runs = f.cli_json("run", "list")["runs"]
        self.assertEqual(runs[0]["kind"], "rollback")
        self.assertEqual(runs[0]["state"], "done", runs[0])
        up = [r for r in runs if r["id"] == run["id"]][0]
        self.assertEqual(up["state"], "failed", up)
        self.assertIn("rolled back", up["reason"])
        backup = [b for b in f.cli_json("backup", "list")
                  if b.get("state") == "complete" and b.get("gitlab_version", "").startswith(first)]
        self.assertEqual(len(backup), 1, backup)
        # The rollback run verified the restore against that backup.
        rshow = f.cli_json("run", "show", runs[0]["id"])
        self.assertTrue(any(s["name"] == "verify" and s["state"] == "done" for s in rshow["steps"]), rshow)


def maintenance_history(f, node="rails-1"):
    """[(ms, 'on'|'off'), ...]: every change the fixture's API recorded."""
    path = os.path.join(f.node_dir(node), "fixture", "maintenance-history")
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        return [(int(a), b) for a, b in (line.split() for line in fh if line.strip())]


class UpgradeDowntime(FleetCase):
    """--mode downtime: at each stop maintenance mode is on and Puma and
    Sidekiq are stopped before any package changes; the backends go before
    the Rails node, whose reconfigure runs the migrations (no skip); then
    Puma and Sidekiq start and maintenance mode goes off."""

    def test_downtime_run(self):
        f = self.f
        target = latest("16.7")
        path = [latest("16.3"), target]
        t0 = time.time()
        p = f.cli("upgrade", "run", "--to", target, "--mode", "downtime", "--yes", timeout=1800)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr + f.coordinator_log()[-3000:])
        for name, _ in NODES:
            self.assertEqual(gitlab_node.installed_version(f.node_dir(name))[0], target, name)
        hist = [(ms / 1000.0, st) for ms, st in maintenance_history(f) if ms / 1000.0 >= t0]

        def on_at(ts):
            state = "off"
            for when, st in hist:
                if when > ts:
                    break
                state = st
            return state == "on"

        ctl = f.calls("rails-1", "gitlab-ctl")
        for v in path:
            installs = {n: [c for c in f.calls(n, "apt-get")
                            if "install" in c["argv"] and ("=" + v + "-") in c["argv"][-1]]
                        for n, _ in NODES}
            for n, cs in installs.items():
                self.assertEqual(len(cs), 1, (v, n, cs))
                self.assertTrue(on_at(cs[0]["ts"]), "%s installed %s outside maintenance mode" % (n, v))
            first = min(cs[0]["ts"] for cs in installs.values())
            # Puma and Sidekiq stopped on rails-1 before the stop's first install.
            stops = [c for c in ctl if c["argv"][:1] == ["stop"] and c["ts"] < first and c["ts"] >= t0]
            stopped = {svc for c in stops for svc in c["argv"][1:]}
            self.assertTrue({"puma", "sidekiq"} <= stopped, (v, stops))
            # Backends before the Rails node.
            for n in ("postgresql-1", "redis-1", "gitaly-1"):
                self.assertLess(installs[n][0]["ts"], installs["rails-1"][0]["ts"], (v, n))
        # With downtime the deploy node's reconfigure runs the migrations.
        recs = [c for c in ctl if c["argv"][:1] == ["reconfigure"] and not c.get("implicit")]
        self.assertEqual(len(recs), len(path))
        for c in recs:
            self.assertNotIn("SKIP_POST_DEPLOYMENT_MIGRATIONS", c.get("env", {}))
        # Maintenance mode is off at the end, and Puma and Sidekiq run.
        self.assertEqual(hist[-1][1], "off", hist)
        starts = [c for c in ctl if c["argv"][:1] in (["start"], ["restart"]) and c["ts"] >= t0]
        self.assertTrue(starts, ctl)
        self.assertGreater(max(c["ts"] for c in starts),
                           max(c["ts"] for c in f.calls("rails-1", "apt-get") if "install" in c["argv"]))


    def test_halt_lifts_maintenance(self):
        """A step failing with downtime halts the run and lifts the
        maintenance mode the run turned on."""
        f = self.f
        target = latest("16.3")
        gitlab_node.set_package_fail_at(f.node_dir("gitaly-1"), target)
        t0 = time.time()
        p = f.cli("upgrade", "run", "--to", target, "--mode", "downtime", "--yes", timeout=900)
        self.assertNotEqual(p.returncode, 0, p.stdout + p.stderr)
        run = f.cli_json("run", "list")["runs"][0]
        self.assertEqual(run["state"], "halted", run)
        self.assertIn("gitaly-1", run["reason"])
        # Turned on by the run, off again once it halted.
        hist = [st for ms, st in maintenance_history(f) if ms / 1000.0 >= t0]
        self.assertIn("on", hist)
        f.wait_until(lambda: testlib.maintenance_on(f) is False, 30,
                     "maintenance mode lifted after the halt")
        self.assertEqual(maintenance_history(f)[-1][1], "off")


class UpgradeBbmTimeout(FleetCase):
    """Unfinished background migrations past --bbm-timeout halt the run
    before anything is touched, naming them; once they finish, resume
    completes the run."""

    def test_bbm_timeout_halts_then_resume(self):
        f = self.f
        target = latest("16.3")
        ids = f.seed_bbm(count=2)
        p = f.cli("upgrade", "run", "--to", target, "--bbm-timeout", "3s", "--yes", timeout=600)
        self.assertNotEqual(p.returncode, 0, p.stdout + p.stderr)
        run = f.cli_json("run", "list")["runs"][0]
        self.assertEqual((run["kind"], run["state"]), ("upgrade", "halted"), run)
        self.assertIn("2 batched background migration(s) still unfinished", run["reason"])
        for i in ids:
            self.assertIn("main:BackfillFixtureRows%d(projects.id)" % i, run["reason"])
        # Nothing was touched: no install, no backup.
        for name, _ in NODES:
            self.assertEqual([c for c in f.calls(name, "apt-get") if "install" in c["argv"]], [], name)
        self.assertEqual(f.cli_json("backup", "list"), [])
        f.finish_bbm(ids)
        p = f.cli("run", "resume", run["id"], timeout=600)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        f.wait_until(lambda: f.cli_json("run", "show", run["id"])["state"] != "running", 600,
                     "the resumed run ends")
        self.assertEqual(f.cli_json("run", "show", run["id"])["state"], "done")
        for name, _ in NODES:
            self.assertEqual(gitlab_node.installed_version(f.node_dir(name))[0], target, name)


if __name__ == "__main__":
    testlib.run_main(__doc__, upgradelib.set_build)
