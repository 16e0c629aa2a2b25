#!/usr/bin/env python3
"""A Geo fleet's upgrade (gitlab-facts §7): the primary site first, then
the secondary, whose Rails node stops geo-logcursor, gets the primary's
gitlab-secrets.json (sealed by the primary to the secondary's key, so the
coordinator never holds it in clear), is upgraded and runs the Geo
tracking database migrations; gitlab:geo:check on both at the end.

    python3 integration/test_upgrade_geo.py --build BUILD_DIR
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fleet  # noqa: E402
import testlib  # noqa: E402
import upgradelib  # noqa: E402
from upgradelib import FleetCase, latest  # noqa: E402
sys.path.insert(0, fleet.FIXTURE)
import gitlab_node  # noqa: E402

NODES = [("rails-1", ["rails", "sidekiq", "geo-primary"])] + upgradelib.NODES[1:] + [
    ("geo-rails-1", ["rails", "geo-secondary"])]


class GeoUpgrade(FleetCase):
    fleet_args = {"nodes": NODES, "sites": {"geo-rails-1": "nyc"}}

    def test_secondary_gets_primary_secrets(self):
        f = self.f
        target = latest("16.3")
        primary = gitlab_node.node_paths(f.node_dir("rails-1"))["secrets_file"]
        secondary = gitlab_node.node_paths(f.node_dir("geo-rails-1"))["secrets_file"]
        with open(primary) as fh:
            want = fh.read()
        marker = json.loads(want)["gitlab_rails"]["secret_key_base"]
        # The secondary starts out with secrets of its own.
        with open(secondary, "w") as fh:
            json.dump({"gitlab_rails": {"secret_key_base": "secondary-own"}}, fh)
        os.chmod(secondary, 0o600)

        plan = f.cli_json("upgrade", "plan", "--to", target)
        names = [s["name"] for s in plan["steps"] if s["node"] == "geo-rails-1"]
        self.assertTrue(any("copy gitlab-secrets.json from rails-1" in n for n in names), names)
        # The plan as a document names the Geo sites and their nodes.
        doc = f.cli_json("upgrade", "plan", "--to", target, "--format", "json", timeout=600)
        sites = {x["site"]: x for x in doc["installation"]["geo_sites"]}
        self.assertEqual(sites["nyc"]["role"], "secondary", sites)
        self.assertEqual(sites["nyc"]["nodes"], ["geo-rails-1"], sites)
        primary_site = [x for x in sites.values() if x["role"] == "primary"]
        self.assertEqual(len(primary_site), 1, sites)
        self.assertEqual(sorted(primary_site[0]["nodes"]),
                         sorted(n for n, _ in NODES if n != "geo-rails-1"))
        t0 = time.time()
        p = f.cli("upgrade", "run", "--to", target, "--yes", timeout=900)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr + f.coordinator_log()[-3000:])
        with open(secondary) as fh:
            self.assertEqual(fh.read(), want)
        self.assertEqual(os.stat(secondary).st_mode & 0o777, 0o600)
        copied_at = os.stat(secondary).st_mtime

        ctl = [c for c in f.calls("geo-rails-1", "gitlab-ctl") if c["ts"] >= t0]
        stop_cursor = [c for c in ctl if c["argv"] == ["stop", "geo-logcursor"]]
        self.assertEqual(len(stop_cursor), 1, ctl)
        install = [c for c in f.calls("geo-rails-1", "apt-get") if "install" in c["argv"]]
        self.assertEqual(len(install), 1, install)
        geo_mig = [c for c in f.calls("geo-rails-1", "gitlab-rake") if c["argv"] == ["db:migrate:geo"]]
        self.assertEqual(len(geo_mig), 1)
        self.assertLess(stop_cursor[0]["ts"], copied_at)
        self.assertLess(copied_at, install[0]["ts"])
        self.assertLess(install[0]["ts"], geo_mig[0]["ts"])
        # The primary site went first: rails-1 installed before geo-rails-1.
        first = [c for c in f.calls("rails-1", "apt-get") if "install" in c["argv"]]
        self.assertLess(first[0]["ts"], install[0]["ts"])
        for node in ("rails-1", "geo-rails-1"):
            checks = [c for c in f.calls(node, "gitlab-rake") if c["argv"] == ["gitlab:geo:check"]]
            self.assertEqual(len(checks), 1, node)
        # The coordinator relayed only sealed bytes: no secret in its
        # journal, catalog or log.
        state = f.coordinator_state_dir
        for root, _, files in os.walk(state):
            for name in files:
                with open(os.path.join(root, name), "rb") as fh:
                    self.assertNotIn(marker.encode(), fh.read(), os.path.join(root, name))
        self.assertNotIn(marker, f.coordinator_log())


if __name__ == "__main__":
    testlib.run_main(__doc__, upgradelib.set_build)
