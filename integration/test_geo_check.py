#!/usr/bin/env python3
"""Geo replication check: the Rails node of the primary site (roles rails
and geo-primary) reads GET /api/v4/geo_sites and /api/v4/geo_sites/status
and reports one check per secondary site, geo:replication:<site name>:
PASS when healthy and synced, WARN when it lags (synced below the count),
FAIL when it has failed items or is unhealthy. `lockstep check --json`
shows it, and `lockstep upgrade plan --format json` lists it among the
node's findings and as a risk. The fixture's API serves the sites set with
gitlab_node.set_geo_status (none: Geo not set up, no check).

    python3 integration/test_geo_check.py --build BUILD_DIR [Case.test_name]
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fleet  # noqa: E402
import testlib  # noqa: E402
import upgradelib  # noqa: E402
from upgradelib import latest  # noqa: E402
sys.path.insert(0, fleet.FIXTURE)
import gitlab_node  # noqa: E402

NODES = [("rails-1", ["rails", "sidekiq", "geo-primary"])] + upgradelib.NODES[1:] + [
    ("geo-rails-1", ["rails", "geo-secondary"])]
CHECK = "geo:replication:nyc"


def sites(**secondary):
    """GitLab's two lists for a primary "us" (id 1) and a secondary "nyc"
    (id 2) whose status has these fields over a healthy, synced base."""
    status = {"healthy": True, "health": "Healthy", "health_status": "Healthy",
              "project_repositories_count": 19, "project_repositories_synced_count": 19,
              "project_repositories_failed_count": 0,
              "lfs_objects_count": 9, "lfs_objects_synced_count": 9,
              "lfs_objects_failed_count": 0,
              "db_replication_lag_seconds": 0,
              "last_event_id": 534, "last_event_timestamp": 1746370442,
              "cursor_last_event_id": 534, "cursor_last_event_timestamp": 1746370442}
    status.update(secondary)
    primary = {"healthy": True, "health_status": "Healthy",
               "project_repositories_count": 19, "project_repositories_synced_count": None,
               "project_repositories_failed_count": None}
    return [{"id": 1, "name": "us", "url": "https://primary.example.com/", "primary": True,
             "status": primary},
            {"id": 2, "name": "nyc", "url": "https://nyc.example.com/", "primary": False,
             "status": status}]


class GeoCheck(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.f = upgradelib.upgrade_fleet(nodes=NODES, sites={"geo-rails-1": "nyc"})

    @classmethod
    def tearDownClass(cls):
        cls.f.__exit__(None, None, None)

    def tearDown(self):
        gitlab_node.set_geo_status(self.f.node_dir("rails-1"), None)

    def geo_checks(self):
        """{node: [(name, status, reason)]} of the geo:replication checks."""
        _, out = self.f.check()
        got = {}
        for n in out["nodes"]:
            self.assertTrue(n.get("answered"), n)
            got[n["node"]] = [(c["name"], c["status"], c.get("reason", ""))
                              for c in n.get("checks", []) if c["name"].startswith("geo:")]
        return got

    def set(self, **secondary):
        gitlab_node.set_geo_status(self.f.node_dir("rails-1"), sites(**secondary))

    def test_no_geo(self):
        """Geo not set up (GitLab answers [] to both): no check at all."""
        got = self.geo_checks()
        self.assertEqual({k: v for k, v in got.items() if v}, {})

    def test_healthy(self):
        self.set()
        got = self.geo_checks()
        self.assertEqual([(n, s) for n, s, _ in got["rails-1"]], [(CHECK, "pass")], got)
        self.assertIn("0 failed", got["rails-1"][0][2])
        self.assertIn("28/28 synced", got["rails-1"][0][2])
        # Only the primary's Rails node asks: not the secondary's.
        self.assertEqual(got["geo-rails-1"], [])

    def test_lagging(self):
        self.set(project_repositories_synced_count=17)
        got = self.geo_checks()
        self.assertEqual([(n, s) for n, s, _ in got["rails-1"]], [(CHECK, "warn")], got)
        self.assertIn("project_repositories 17/19", got["rails-1"][0][2])
        self.assertIn("26/28 synced", got["rails-1"][0][2])

    def test_failed_items(self):
        self.set(project_repositories_synced_count=17, project_repositories_failed_count=2)
        got = self.geo_checks()
        self.assertEqual([(n, s) for n, s, _ in got["rails-1"]], [(CHECK, "fail")], got)
        self.assertIn("2 failed (project_repositories 2)", got["rails-1"][0][2])

    def test_unhealthy(self):
        self.set(healthy=False, health="Geo log cursor is not running",
                 health_status="Unhealthy")
        got = self.geo_checks()
        self.assertEqual([(n, s) for n, s, _ in got["rails-1"]], [(CHECK, "fail")], got)
        self.assertIn("Geo log cursor is not running", got["rails-1"][0][2])

    def test_plan_lists_it(self):
        """The upgrade plan's checks name the lagging site, and its risks
        say so."""
        self.set(project_repositories_synced_count=17)
        doc = self.f.cli_json("upgrade", "plan", "--to", latest("16.3"), "--format", "json",
                              timeout=600)
        rails = [n for n in doc["checks"]["nodes"] if n["node"] == "rails-1"]
        self.assertEqual(len(rails), 1, doc["checks"])
        found = [x for x in rails[0]["findings"] if x["name"] == CHECK]
        self.assertEqual(len(found), 1, rails[0])
        self.assertEqual(found[0]["status"], "warn")
        self.assertIn("project_repositories 17/19", found[0]["reason"])
        risks = [r for r in doc["risks"] if r.startswith("rails-1: Geo site nyc lags: ")]
        self.assertEqual(len(risks), 1, doc["risks"])
        self.assertIn("17/19", risks[0])


if __name__ == "__main__":
    testlib.run_main(__doc__, upgradelib.set_build)
