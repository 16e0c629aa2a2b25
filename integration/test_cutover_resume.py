#!/usr/bin/env python3
"""A cutover run whose coordinator is killed (SIGKILL) while a step that
changes the chart is in flight, then resumed with `lockstep run resume`:
the run completes and no step ran twice.

- during the secrets step (kubectl apply held by the stand-in): the chart's
  Secrets are applied once, and the previous Secrets the run journaled are
  the ones from before the cutover (the rollback proves it);
- during the restore step (backup-utility held in the toolbox pod): the
  backup is copied and restored once; while it is held, a backup, a
  restore, an upgrade and a second cutover are refused, naming the cutover.

    python3 integration/test_cutover_resume.py --build BUILD_DIR [CutoverResume.test_name]
"""
import os
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixture"))
import fleet  # noqa: E402
import kube_node  # noqa: E402
import testlib  # noqa: E402
import test_cutover_run as tcr  # noqa: E402

KUBE, RELEASE, NS = tcr.KUBE, tcr.RELEASE, tcr.NS


def set_build(b):
    tcr.set_build(b)


class CutoverResume(unittest.TestCase):
    def setUp(self):
        self.f = tcr.cutover_fleet(self)
        self.kube = self.f.node_dir(KUBE)
        self.addCleanup(kube_node.set_stall, self.kube, "apply", False)
        self.addCleanup(kube_node.set_stall, self.kube, "backup-utility", False)

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

    def show(self, run):
        return self.f.cli_json("run", "show", run)

    def current_run(self):
        runs = self.f.cli_json("run", "list").get("runs", [])
        return runs[0]["id"] if runs and runs[0]["kind"] == "cutover" else None

    def kube_calls(self, word):
        return [c for c in kube_node.read_calls(self.kube) if word in c["argv"]]

    def refused_while_held(self):
        """While the cutover runs, what would change the fleet under it is
        refused, naming the cutover, before anything is planned."""
        f = self.f
        bids = [b["id"] for b in f.cli_json("backup", "list")]
        self.assertEqual(len(bids), 1, bids)  # the cutover's own
        for args, words in (
                (("backup", "create"), "a cutover is running: it takes its own backup"),
                (("restore", bids[0], "--yes"), "a cutover is running: restore once it is done"),
                (("upgrade", "run", "--to", "99.0.0", "--yes"),
                 "a cutover is running: upgrade once it is done"),
                (("cutover", "run", "--release", RELEASE, "--namespace", NS, "--yes"),
                 "a cutover is running")):
            p = f.cli(*args, timeout=120)
            self.assertNotEqual(p.returncode, 0, (args, p.stdout))
            self.assertIn(words, p.stderr, args)
        self.assertEqual([b["id"] for b in f.cli_json("backup", "list")], bids)

    def kill_and_resume(self, stall, step_word, while_held=None):
        """Runs a cutover until `stall` holds its step (then while_held()),
        kills the coordinator, lets the step finish, resumes; returns the
        run id."""
        f = self.f
        kube_node.set_stall(self.kube, stall, True)
        before = len(self.kube_calls(stall))
        watcher = self.start_cli("cutover", "run", "--release", RELEASE, "--namespace", NS,
                                 "--yes", "--ready-timeout", "2m")
        f.wait_until(lambda: len(self.kube_calls(stall)) > before, 180,
                     "the cutover to reach %s" % stall)
        run = f.wait_until(self.current_run, 30, "the cutover run in run list")
        step = [s for s in self.show(run)["steps"] if step_word in s["name"]][0]
        self.assertEqual(step["state"], "started", step)
        if while_held is not None:
            while_held()
        f.stop_coordinator(sig=signal.SIGKILL)
        watcher.communicate(timeout=60)
        f.start_coordinator()
        r = f.wait_until(lambda: (lambda r: r if r["state"] == "halted" else None)(self.show(run)),
                         60, "run %s halted after the kill" % run)
        self.assertIn("coordinator stopped", r.get("reason", ""), r)
        self.assertEqual([s for s in r["steps"] if s["state"] == "failed"], [])
        # The held step finishes on the node while no coordinator waits.
        kube_node.set_stall(self.kube, stall, False)
        f.wait_until(lambda: {n for n, _ in tcr.DEFAULT_NODES} | {KUBE} <= f.connected_nodes(),
                     120, "every agent to reconnect")
        p = f.cli("run", "resume", run, timeout=900)
        show = self.show(run)
        self.assertEqual(show["state"], "done", "%s\n%s\n%s" % (p.stdout, p.stderr, show))
        self.assertEqual([s for s in show["steps"] if s["state"] != "done"], [])
        return run

    def test_killed_during_the_secrets_step(self):
        before = kube_node.secrets(self.kube)
        run = self.kill_and_resume("apply", "Secrets")
        # One apply of the chart's Secrets, not two.
        self.assertEqual(len(self.kube_calls("apply")), 1, self.kube_calls("apply"))
        # What the run kept to undo is the chart's state before it.
        p = self.f.cli("cutover", "rollback", run, "--yes", "--ready-timeout", "2m", timeout=600)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(kube_node.secrets(self.kube), before)

    def test_killed_during_the_restore_step(self):
        run = self.kill_and_resume("backup-utility", "backup-utility", self.refused_while_held)
        self.assertEqual(len(self.kube_calls("backup-utility")), 1)
        self.assertEqual(len(self.kube_calls("cp")), 1)
        verify = [s for s in self.show(run)["steps"] if "verify" in s["name"]][0]
        self.assertIn(": 0 differences", verify["detail"])
        for t in tcr.TABLES:
            self.assertEqual(
                int(kube_node.chart_psql(self.kube, "SELECT count(*) FROM %s" % t)),
                int(self.f.psql("SELECT count(*) FROM %s" % t).strip()), t)


if __name__ == "__main__":
    testlib.run_main(__doc__, set_build)
