#!/usr/bin/env python3
"""`lockstep maintenance on|off|status` on a real local fleet: the rails
node's agent sets GitLab's maintenance mode through the fixture's HTTP API,
which keeps it in the real PostgreSQL `application_settings` row, read back
here to see the real effect:

- status while off; on with a message (the row says so); status; off;
- on --lease 2: the rails agent turns it off itself when the lease ends,
  and a status query in between does not cancel the lease;
- refusals that name the value at fault: --lease 0, --lease abc, a lease
  over 7 days, an unknown --node, a node without the rails role, --lease
  with off; the row is left as it was;
- off while a backup holds maintenance mode is refused naming the backup;
  --force turns it off;
- `lockstep maintenance --help` exits 0.

    python3 integration/test_maintenance.py --build BUILD_DIR [Case.test_name]
"""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import testlib  # noqa: E402
from fleet import Fleet  # noqa: E402

BUILD = os.environ.get("LOCKSTEP_BUILD", "build")
MESSAGE = "Upgrade in progress: back at 14:00 UTC"
ROW_SQL = ("SELECT maintenance_mode, coalesce(maintenance_mode_message, '') "
           "FROM application_settings ORDER BY id DESC LIMIT 1;")


def row(f):
    """(maintenance_mode, maintenance_mode_message) as the database has them."""
    mode, msg = f.psql(ROW_SQL).split("|", 1)
    return mode == "t", msg


class Maintenance(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        missing = Fleet.missing_binaries(BUILD)
        if missing:
            raise AssertionError("missing binaries (build first): %s" % missing)
        # A freeze that waits for a busy Sidekiq holds maintenance mode
        # long enough to try `off` under a running backup.
        cls.f = Fleet(BUILD, coordinator_extra={"sidekiq_wait": "6s"})
        cls.f.__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.f.__exit__(None, None, None)

    def setUp(self):
        # Every case starts with maintenance mode off.
        self.f.cli("maintenance", "off", "--force", check=True)
        self.assertEqual(row(self.f)[0], False)

    def maint(self, *args, rc=0):
        p = self.f.cli("maintenance", *args)
        self.assertEqual(p.returncode, rc, "lockstep maintenance %s: %s%s" % (
            " ".join(args), p.stdout, p.stderr))
        return p

    def test_help(self):
        p = self.f.cli("maintenance", "--help")
        self.assertEqual(p.returncode, 0, p.stderr)
        for word in ("on [--message TEXT]", "--lease", "--node", "--force", "--json"):
            self.assertIn(word, p.stdout)
        # The top-level usage lists the command.
        self.assertIn("maintenance on|off|status", self.f.cli("--help").stdout)

    def test_on_status_off(self):
        f = self.f
        st = f.cli_json("maintenance", "status")
        self.assertEqual((st["node"], st["was_on"], st["now_on"]), ("rails-1", False, False), st)
        self.assertEqual(self.maint("status").stdout,
                         "maintenance mode is off on rails-1 (was off)\n")

        on = f.cli_json("maintenance", "on", "--message", MESSAGE)
        self.assertEqual(on, {"node": "rails-1", "was_on": False, "now_on": True,
                              "message": MESSAGE})
        # The real effect: GitLab's settings row, and its API.
        self.assertEqual(row(f), (True, MESSAGE))
        self.assertIs(testlib.maintenance_on(f), True)

        st = f.cli_json("maintenance", "status")
        self.assertEqual(st, {"node": "rails-1", "was_on": True, "now_on": True,
                              "message": MESSAGE})
        self.assertEqual(self.maint("status").stdout,
                         "maintenance mode is on on rails-1 (was on): %s\n" % MESSAGE)
        # status only reads: the row was not written again.
        self.assertEqual(row(f), (True, MESSAGE))

        p = self.maint("off")
        self.assertEqual(p.stdout, "maintenance mode is off on rails-1 (was on)\n")
        self.assertEqual(row(f)[0], False)
        st = f.cli_json("maintenance", "status", "--node", "rails-1")
        self.assertEqual((st["was_on"], st["now_on"]), (False, False), st)

    def test_lease_ends_it(self):
        f = self.f
        on = f.cli_json("maintenance", "on", "--lease", "2")
        # now_on: GitLab accepted the change (its settings API answered);
        # the row itself may already be off again on a slow machine, the
        # lease being this short (test_on_status_off reads the row).
        self.assertEqual((on["was_on"], on["now_on"]), (False, True), on)
        # A status query in between must not cancel the agent's lease.
        f.cli_json("maintenance", "status")
        f.wait_until(lambda: row(f)[0] is False, 30,
                     "the rails agent to turn maintenance mode off when the 2 s lease ended")
        self.assertIn("lease ended", f.agent_log("rails-1"))
        st = f.cli_json("maintenance", "status")
        self.assertEqual(st["now_on"], False, st)

    def test_refusals_name_the_value(self):
        f = self.f
        cases = [
            (("on", "--lease", "0"), ["--lease 0", "1 to 604800"]),
            (("on", "--lease", "604801"), ["--lease 604801", "7 days"]),
            (("on", "--lease", "abc"), ["--lease 'abc'"]),
            (("on", "--lease", "-5"), ["--lease '-5'"]),
            (("off", "--lease", "5"), ["--lease", "on"]),
            (("on", "--node", "no-such-node"), ["'no-such-node'"]),
            (("status", "--node", "gitaly-1"), ["'gitaly-1'", "rails"]),
            (("sideways",), ["'sideways'"]),
        ]
        for args, words in cases:
            p = f.cli("maintenance", *args)
            self.assertNotEqual(p.returncode, 0, (args, p.stdout))
            self.assertEqual(p.stdout, "", args)
            for w in words:
                self.assertIn(w, p.stderr, args)
        self.assertEqual(row(f)[0], False, "a refused request changed the settings")

    def test_off_refused_while_a_backup_holds_it(self):
        f = self.f
        busy = os.path.join(f.node_dir("rails-1"), "fixture", "sidekiq-busy")
        with open(busy, "w") as fh:
            fh.write("1\n")
        try:
            p = f.cli("backup", "create", "--detach", "--json", check=True)
            bid = json.loads(p.stdout)["id"]
            f.wait_until(lambda: row(f)[0], 30, "the backup's freeze to turn maintenance mode on")
            p = self.maint("off", rc=1)
            self.assertIn("backup " + bid, p.stderr)
            self.assertIn("--force", p.stderr)
            self.assertEqual(row(f)[0], True)
            # --force: answered once the node is done with the freeze.
            off = f.cli_json("maintenance", "off", "--force")
            self.assertEqual(off["now_on"], False, off)
            self.assertEqual(row(f)[0], False)
            # Sidekiq stayed busy: the backup fails (show exits 1) and
            # leaves maintenance mode off.
            shown = f.wait_until(lambda: [b for b in [json.loads(
                f.cli("backup", "show", bid, "--json").stdout)] if b["state"] != "running"], 60,
                "the backup to end")[0]
            self.assertEqual(shown["state"], "failed", shown)
            self.assertIn("Sidekiq still has 1 busy job", shown["reason"])
            self.assertEqual(row(f)[0], False)
        finally:
            os.unlink(busy)


def _set_build(path):
    global BUILD
    BUILD = path


if __name__ == "__main__":
    testlib.run_main(__doc__, _set_build)
