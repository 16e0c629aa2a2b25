#!/usr/bin/env python3
"""A fleet upgrade survives kill -9 of its coordinator: one run 16.3.5 ->
16.7.x (two stops, 16.3.latest then 16.7.latest) on four nodes, the
coordinator killed at three points, each kill followed by a restart (the
run shows as halted: the coordinator stopped) and `lockstep run resume`:

1. while the first stop's wait for batched background migrations holds
   (an active migration, finished only after the restart: the resumed run
   must poll again);
2. while the first stop's rollback-point backup is started (held in its
   freeze: Sidekiq stays busy until the coordinator is gone);
3. while an install step of the second stop runs on a node (the fixture's
   apt-get holds before it unpacks; released after the resume, so the
   coordinator sends the started step again while the agent still runs
   it).

The run ends done, every node on the target, each version installed once
per node, each completed step run once (one db:migrate per stop), one
complete rollback-point backup per stop, no failed step, and maintenance
mode off.

    python3 integration/test_upgrade_resume.py --build BUILD_DIR
"""
import os
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fleet  # noqa: E402
import testlib  # noqa: E402
import upgradelib  # noqa: E402
from upgradelib import FROM, NODES, installs, latest, upgrade_fleet  # noqa: E402
sys.path.insert(0, fleet.FIXTURE)
import gitlab_node  # noqa: E402

# The node whose second-stop install is interrupted (the first one the
# zero-downtime order installs).
HELD = "postgresql-1"


class UpgradeResume(unittest.TestCase):
    def setUp(self):
        # A freeze held by a busy Sidekiq waits long enough for the test
        # to see it; the lease is the default.
        self.f = upgrade_fleet(coordinator_extra={"sidekiq_wait": "120s"})
        self.addCleanup(self.f.__exit__, None, None, None)
        # Never leave a held apt-get or a busy Sidekiq behind.
        self.addCleanup(gitlab_node.set_package_hold, self.f.node_dir(HELD), None)
        self.addCleanup(self.set_sidekiq_busy, False)

    def start_cli(self, *args):
        p = subprocess.Popen([self.f.bin["cli"], "--config", self.f.coordinator_config] + list(args),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=fleet.clean_env(), stdin=subprocess.DEVNULL)

        def stop():
            if p.poll() is None:
                p.kill()
            p.communicate()
        self.addCleanup(stop)
        return p

    def set_sidekiq_busy(self, busy):
        path = os.path.join(self.f.node_dir("rails-1"), "fixture", "sidekiq-busy")
        if busy:
            with open(path, "w") as fh:
                fh.write("1\n")
        elif os.path.exists(path):
            os.unlink(path)

    def show(self, run):
        return self.f.cli_json("run", "show", run)

    def step(self, run, node, name):
        for s in self.show(run)["steps"]:
            if s["node"] == node and s["name"] == name:
                return s
        raise AssertionError("run %s has no step %r on %r" % (run, name, node or "the coordinator"))

    def log_since(self, offset):
        return self.f.coordinator_log()[offset:]

    def kill_restart_resume(self, run, what, after_kill=None, busy=(), sig=signal.SIGKILL):
        """kill -9 (or sig) the coordinator, (after_kill()), start it again,
        see the run halted because the coordinator stopped, resume it.
        Returns the offset of the new coordinator's log."""
        f = self.f
        offset = len(f.coordinator_log())
        rc = f.stop_coordinator(sig=sig)
        if sig == signal.SIGTERM:
            # A clean stop with a step in flight: it exits 0, and under
            # the sanitizers without a report (its waiters are freed
            # before the queued operations that point at them).
            log = f.coordinator_log()[offset:]
            self.assertNotIn("AddressSanitizer", log)
            self.assertNotIn("runtime error", log)
            self.assertEqual(rc, 0, log[-3000:])
        # The CLI that followed the run loses its coordinator.
        self.watcher.communicate(timeout=60)
        if after_kill:
            after_kill()
        offset = len(f.coordinator_log())
        f.start_coordinator()
        r = f.wait_until(lambda: (lambda r: r if r["state"] == "halted" else None)(self.show(run)),
                         60, "run %s halted after the kill %s" % (run, what))
        self.assertIn("coordinator stopped", r.get("reason", ""), r)
        # No step failed from the kill alone.
        self.assertEqual([s for s in r["steps"] if s["state"] == "failed"], [], what)
        # The agents come back first (a node busy with a step cannot: it
        # answers once done), so that each step below has its node.
        want = set(n for n, _ in NODES) - set(busy)
        f.wait_until(lambda: want <= set(f.connected_nodes()), 60,
                     "the agents (%s) to reconnect" % ", ".join(sorted(want)))
        # `run resume` follows the run to its end (as `run watch` does).
        self.watcher = self.start_cli("run", "resume", run)
        f.wait_until(lambda: self.show(run)["state"] == "running" or self.watcher.poll() is not None,
                     60, "run %s to resume" % run)
        self.assertEqual(self.show(run)["state"], "running",
                         self.watcher.communicate()[0:2] if self.watcher.poll() is not None else "")
        return offset

    def test_kill_three_times_and_resume(self):
        f = self.f
        target = latest("16.7")
        path = [latest("16.3"), target]
        bbm_step = path[0] + ": wait for batched background migrations"
        backup_step = path[0] + ": rollback-point backup"
        install_step = "%s: install %s" % (path[1], path[1])

        # An active migration holds the first stop until the test ends it.
        bbm_ids = f.seed_bbm(count=1)
        # HELD's apt-get holds the second stop's install (see 3.).
        gitlab_node.set_package_hold(f.node_dir(HELD), path[1])
        # `upgrade run` follows the run it starts.
        self.watcher = self.start_cli("upgrade", "run", "--to", target, "--yes", "--json")
        run = f.wait_until(lambda: [r["id"] for r in f.cli_json("run", "list")["runs"]
                                    if r["kind"] == "upgrade" and r["state"] == "running"],
                           60, "the upgrade run to start")[0]

        # 1. The first stop waits for the migration: started, and polled.
        f.wait_until(lambda: self.step(run, "postgresql-1", bbm_step)["state"] == "started"
                     and "waiting for 1 batched background migration" in f.coordinator_log(),
                     120, "the first stop to wait for the background migration")
        offset = self.kill_restart_resume(run, "during the background-migrations wait")
        # The resumed run polls again (and still finds the migration).
        f.wait_until(lambda: "waiting for 1 batched background migration" in self.log_since(offset),
                     60, "the resumed run to poll the background migrations again")
        self.assertEqual(self.step(run, "postgresql-1", bbm_step)["state"], "started")
        self.assertEqual(installs(f, HELD), [], "nothing installed while the migration runs")

        # 2. The rollback-point backup, held in its freeze by a busy Sidekiq.
        self.set_sidekiq_busy(True)
        f.finish_bbm(bbm_ids)
        f.wait_until(lambda: self.step(run, "", backup_step)["state"] == "started"
                     and testlib.maintenance_on(f), 120,
                     "the rollback-point backup to be frozen, waiting for Sidekiq")
        # Sidekiq goes idle once the coordinator is gone: the agent's
        # freeze ends on its own, with maintenance mode on under its lease.
        offset = self.kill_restart_resume(run, "during the rollback-point backup",
                                          after_kill=lambda: self.set_sidekiq_busy(False))
        self.assertEqual(self.step(run, "postgresql-1", bbm_step)["state"], "done")

        # 3. An install of the second stop, held by apt-get on HELD.
        f.wait_until(lambda: path[1] in installs(f, HELD), 600,
                     "apt-get install %s on %s" % (path[1], HELD))
        self.assertEqual(self.step(run, HELD, install_step)["state"], "started")
        # First a clean stop (SIGTERM) with the install in flight, then
        # kill -9 of the coordinator that resumed it, the install still held.
        self.kill_restart_resume(run, "(SIGTERM) during apt-get install on " + HELD, busy=[HELD],
                                 sig=signal.SIGTERM)
        f.wait_until(lambda: self.step(run, HELD, install_step)["state"] == "started", 60,
                     "the resumed run to send the held install again")
        offset = self.kill_restart_resume(run, "during apt-get install on " + HELD, busy=[HELD])
        # The resumed run sends the started step again while the agent
        # still runs it; then apt-get finishes.
        gitlab_node.set_package_hold(f.node_dir(HELD), None)

        out, err = self.watcher.communicate(timeout=900)
        final = self.show(run)
        self.assertEqual(self.watcher.returncode, 0, out + err)
        self.assertEqual(final["state"], "done", (final.get("reason"), self.log_since(offset)[-4000:]))
        self.assertEqual([s for s in final["steps"] if s["state"] != "done"], [])

        for name, _ in NODES:
            self.assertEqual(gitlab_node.installed_version(f.node_dir(name))[0], target, name)
            # Each version of the path installed exactly once: a started
            # install sent again after a restart is answered from the
            # agent's store, never run again.
            self.assertEqual(installs(f, name), path, name)
            recs = [c for c in f.calls(name, "gitlab-ctl")
                    if c["argv"][:1] == ["reconfigure"] and not c.get("implicit")]
            self.assertEqual(len(recs), len(path), (name, recs))
        migs = [c for c in f.calls("rails-1", "gitlab-rake") if c["argv"] == ["db:migrate"]]
        self.assertEqual(len(migs), len(path), migs)

        # Rollback points: exactly one complete backup per stop, at the
        # version the stop starts from. The backup the second kill
        # interrupted stays in the catalog as failed (the restarted
        # coordinator marks it so) and is never a rollback point; the
        # resumed step takes a new one.
        backups = f.cli_json("backup", "list")
        backups = backups.get("backups", backups) if isinstance(backups, dict) else backups
        complete = [b for b in backups if b.get("state") == "complete"]
        versions = sorted(b.get("gitlab_version", "").split("-")[0] for b in complete)
        self.assertEqual(versions, sorted([FROM] + path[:-1]), backups)
        others = [b for b in backups if b.get("state") != "complete"]
        self.assertLessEqual(len(others), 1, backups)
        for b in others:
            self.assertEqual(b["state"], "failed", b)
            self.assertIn("stopped during the backup", b.get("reason", ""), b)
        # The step's result names the backup it took, a complete one.
        step = self.step(run, "", backup_step)
        self.assertEqual(step["state"], "done")

        # The interrupted freeze does not leave GitLab in maintenance mode.
        self.assertIs(testlib.maintenance_on(f), False)
        runs = f.cli_json("run", "list")["runs"]
        self.assertEqual([(r["id"], r["state"]) for r in runs if r["kind"] == "upgrade"], [(run, "done")])


if __name__ == "__main__":
    testlib.run_main(__doc__, upgradelib.set_build)
