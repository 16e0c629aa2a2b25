#!/usr/bin/env python3
"""Patroni in the upgrade order (gitlab-facts §7: "PostgreSQL (Patroni
replicas, then leader)") on a real local fleet with two PostgreSQL nodes.
Each agent runs `gitlab-ctl patroni check-leader` (the fixture's) when
`gitlab-ctl status` lists patroni, and reports the role in its facts (every
second here: facts_interval 1s on the PostgreSQL nodes); the
plan upgrades the replica before the leader whichever sorts first by name,
keeps name order with a note when no node reports a role, and refuses two
leaders.

    python3 integration/test_upgrade_patroni.py --build BUILD_DIR [Case.test_name]
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fleet  # noqa: E402
import testlib  # noqa: E402
import upgradelib  # noqa: E402
from upgradelib import latest, upgrade_fleet  # noqa: E402
sys.path.insert(0, fleet.FIXTURE)
import gitlab_node  # noqa: E402

NODES = [
    ("rails-1", ["rails", "sidekiq"]),
    ("gitaly-1", ["gitaly"]),
    ("postgresql-1", ["postgresql"]),
    ("postgresql-2", ["postgresql"]),
]
PG = ("postgresql-1", "postgresql-2")


def often_facts(f):
    """A role change reaches the coordinator with the agent's periodic
    facts: often, so that the test need not wait."""
    for name in PG:
        with open(f.node_paths(name)["agent_config"], "a") as cfg:
            cfg.write("facts_interval: 1s\n")
        f.stop_agent(name)
        f.start_agent(name)


class UpgradePatroni(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.f = upgrade_fleet(nodes=NODES, before_wait=often_facts)

    @classmethod
    def tearDownClass(cls):
        cls.f.__exit__(None, None, None)

    def roles(self, **roles):
        """Sets each PostgreSQL node's Patroni role (None: no Patroni)."""
        for name in PG:
            gitlab_node.set_patroni(self.f.node_dir(name), roles.get(name.replace("-", "_")))

    def plan_until(self, pred, what):
        """The plan once pred(plan) holds: the agents report the role
        within their facts interval."""
        def attempt():
            plan = self.f.cli_json("upgrade", "plan", "--to", latest("16.7"))
            return plan if pred(plan) else None
        return self.f.wait_until(attempt, 30, what, interval=0.5)

    def pg_order(self, plan):
        """The PostgreSQL nodes in the order of their installs at stop 1."""
        stop = plan["path"][0]["version"]
        return [s["node"] for s in plan["steps"]
                if s["node"] in PG and s["name"] == "%s: install %s" % (stop, stop)]

    def test_replica_before_leader(self):
        f = self.f
        # The leader sorts last by name...
        self.roles(postgresql_1="replica", postgresql_2="leader")
        plan = self.plan_until(lambda p: not [n for n in p["notes"] if "Patroni" in n],
                               "the roles reported")
        self.assertEqual(self.pg_order(plan), ["postgresql-1", "postgresql-2"])
        self.assertFalse([n for n in plan["notes"] if "Patroni" in n], plan["notes"])
        calls = [c["argv"] for c in f.calls("postgresql-2", "gitlab-ctl")]
        self.assertIn(["patroni", "check-leader"], calls)
        # ... and first: still the replica first.
        self.roles(postgresql_1="leader", postgresql_2="replica")
        plan = self.plan_until(lambda p: self.pg_order(p)[0] == "postgresql-2",
                               "the replica postgresql-2 first")
        self.assertEqual(self.pg_order(plan), ["postgresql-2", "postgresql-1"])
        # The whole stop: replica, leader, then Gitaly and Rails.
        stop = plan["path"][0]["version"]
        installs = [s["node"] for s in plan["steps"] if s["name"] == "%s: install %s" % (stop, stop)]
        self.assertEqual(installs, ["postgresql-2", "postgresql-1", "gitaly-1", "rails-1"])

    def test_no_patroni_name_order_with_note(self):
        self.roles()
        plan = self.plan_until(lambda p: [n for n in p["notes"] if "Patroni leader" in n],
                               "the note that the leader is unknown")
        self.assertEqual(self.pg_order(plan), ["postgresql-1", "postgresql-2"])
        notes = [n for n in plan["notes"] if "Patroni leader" in n]
        self.assertEqual(len(notes), 1, plan["notes"])
        self.assertIn("name order", notes[0])

    def test_two_leaders_refused(self):
        self.roles(postgresql_1="leader", postgresql_2="leader")
        p = self.f.wait_until(
            lambda: (lambda p: p if p.returncode != 0 else None)(
                self.f.cli("upgrade", "plan", "--to", latest("16.7"))),
            30, "the plan refused", interval=0.5)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("more than one Patroni leader: postgresql-1 postgresql-2", p.stderr)
        self.assertIn("split brain", p.stderr)


if __name__ == "__main__":
    testlib.run_main(__doc__, upgradelib.set_build)
