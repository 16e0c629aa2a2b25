#!/usr/bin/env python3
"""`lockstep upgrade plan|run` on a fleet with a Linux-package registry
node: the registry's post-deployment migrations are a step of their own,
run once after the last stop is installed on every node
(`gitlab-ctl registry-database migrate up` on the registry node), and
pending ones end up applied. A registry without a metadata database makes
that step skipped, with the reason, not a failure: the run is done.

    python3 integration/test_upgrade_registry.py --build BUILD_DIR [Case.test_name]
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import testlib  # noqa: E402
import upgradelib  # noqa: E402
from upgradelib import NODES, latest  # noqa: E402
import gitlab_node  # noqa: E402

REG = "registry-1"
STEP = "registry post-deployment migrations"
T0 = 1604092155.280575
MIGRATIONS = [("20200319122755_create_repositories_table", False, T0),
              ("20240101000000_add_media_types", False, T0 + 60),
              ("20240102000000_index_blobs_on_digest", True, None),
              ("20240104000000_drop_old_manifests_column", True, None)]
POST = ["20240102000000_index_blobs_on_digest", "20240104000000_drop_old_manifests_column"]


class UpgradeRegistry(upgradelib.FleetCase):
    fleet_args = {"nodes": NODES + [(REG, ["registry"])]}

    def run_upgrade(self, target):
        f = self.f
        p = f.cli("upgrade", "run", "--to", target, "--yes", "--json", timeout=1800)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr + f.coordinator_log()[-3000:])
        run = f.cli_json("run", "list")["runs"][0]
        self.assertEqual((run["kind"], run["state"]), ("upgrade", "done"), run)
        steps = f.cli_json("run", "show", run["id"])["steps"]
        reg = [s for s in steps if STEP in s["name"]]
        self.assertEqual(len(reg), 1, [s["name"] for s in steps])
        # The run's last step: once every stop is done.
        self.assertEqual(steps[-1]["name"], reg[0]["name"])
        return reg[0]

    def test_post_deployment_after_last_stop_then_skipped_without_database(self):
        f, d = self.f, self.f.node_dir(REG)
        gitlab_node.set_registry_migrations(d, MIGRATIONS)
        gitlab_node.write_registry_config(d, database_enabled=True, host="10.0.0.5", port=5432)
        target = latest("16.7")
        plan = f.cli_json("upgrade", "plan", "--to", target)
        reg = [(s["node"], s["name"]) for s in plan["steps"] if STEP in s["name"]]
        self.assertEqual(reg, [(REG, "%s: %s (gitlab-ctl registry-database migrate up)"
                                % (target, STEP))], reg)
        p = f.cli("upgrade", "plan", "--to", target)
        self.assertIn(STEP, p.stdout)

        step = self.run_upgrade(target)
        self.assertEqual(step["state"], "done")
        self.assertEqual(step["detail"], "applied 2 migration(s): %s" % ", ".join(POST))
        self.assertEqual([m["name"] for m in gitlab_node.registry_migrations(d)
                          if m["applied_at"] is None], [])
        ups = [c for c in f.calls(REG, "gitlab-ctl")
               if c["argv"][:3] == ["registry-database", "migrate", "up"]]
        self.assertEqual(len(ups), 1, ups)
        self.assertEqual(ups[0]["argv"], ["registry-database", "migrate", "up"])
        # After every node's last install, the registry node's included.
        last_install = max(c["ts"] for name, _ in NODES + [(REG, [])]
                           for c in f.calls(name, "apt-get") if "install" in c["argv"])
        self.assertGreater(ups[0]["ts"], last_install)
        self.assertEqual(upgradelib.installs(f, REG)[-1], target)

        # No metadata database: the step is skipped, the run done.
        gitlab_node.remove_registry_config(d)
        target = latest("16.11")
        step = self.run_upgrade(target)
        self.assertEqual(step["state"], "done")
        self.assertTrue(step["detail"].startswith(
            "skipped: the registry has no metadata database"), step)
        self.assertEqual(len([c for c in f.calls(REG, "gitlab-ctl")
                              if c["argv"][:3] == ["registry-database", "migrate", "up"]]), 1)


if __name__ == "__main__":
    testlib.run_main(__doc__, upgradelib.set_build)
