#!/usr/bin/env python3
"""RegistryMigrate on a Linux-package node, against the fixture.

    python3 integration/test_registry_ops.py --build BUILD_DIR [NAME ...]

lockstep-agent-exec runs a serialized RegistryMigrate against a registry
node of the GitLab node fixture, whose gitlab-ctl registry-database migrate
status|up prints the real formats (registry_fixture.py): the pending
migrations with their post-deployment marks, dry runs, up with and without
--skip-post-deployment, nothing left to do, a failing migration, and the
refusals (no metadata database, PgBouncer) that must come before any `up`.
The Kubernetes path waits for the kubectl stand-in; its argv is unit-tested
(tests/test_registry_kube.c).
"""
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree

import argparse  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import unittest  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fleet  # noqa: E402
from fleet import FixtureEnv, clean_env, yq  # noqa: E402
import gitlab_node  # noqa: E402
import registry_fixture  # noqa: E402
from test_fixture_upgrade import decode, field_bytes, field_varint, s  # noqa: E402

BUILD = os.environ.get("LOCKSTEP_BUILD", os.path.join(os.path.dirname(HERE), "build"))
NODE = "registry-1"
OP_REGISTRY_MIGRATE = 37    # Operation.registry_migrate
RES_REGISTRY_MIGRATE = 27   # OpResult.registry_migrate
T0 = 1604092155.280575      # 2020-10-30 21:09:15.280575 UTC

# Applied long ago: a regular and a post-deployment one. Pending: two of
# each, interleaved as ids sort.
MIGRATIONS = [
    ("20200319122755_create_repositories_table", False, T0),
    ("20201030140824_drop_table_students", True, T0 + 22),
    ("20240101000000_add_media_types", False, None),
    ("20240102000000_index_blobs_on_digest", True, None),
    ("20240103000000_add_repository_size", False, None),
    ("20240104000000_drop_old_manifests_column", True, None),
]
REGULAR_PENDING = ["20240101000000_add_media_types", "20240103000000_add_repository_size"]
POST_PENDING = ["20240102000000_index_blobs_on_digest", "20240104000000_drop_old_manifests_column"]


def registry_migrate(dry_run=None, skip_post=None):
    b = b""
    if dry_run is not None:
        b += field_varint(2, int(dry_run))
    if skip_post is not None:
        b += field_varint(3, int(skip_post))
    return b


def op_result(raw):
    m = decode(raw)
    z = m[2][0]
    r = {"op_id": m[1][0], "status": (z >> 1) ^ -(z & 1), "error": s(m, 3), "registry": None}
    if RES_REGISTRY_MIGRATE in m:
        g = decode(m[RES_REGISTRY_MIGRATE][0])
        before = []
        for raw_m in g.get(1, []):
            x = decode(raw_m)
            before.append((s(x, 1), bool(x[2][0]), bool(x[3][0])))
        r["registry"] = {"before": before, "applied": [v.decode() for v in g.get(2, [])],
                         "output_tail": s(g, 3)}
    return r


class RegistryOpsTest(unittest.TestCase):
    op_id = 500

    @classmethod
    def setUpClass(cls):
        # A gitaly node too: the fixture's database seeds its projects there.
        cls.env = FixtureEnv(nodes=[(NODE, ["registry"]), ("gitaly-1", ["gitaly"])])
        cls.env.__enter__()
        cls.exec_path = fleet.binaries(BUILD)["agent_exec"]
        cls.d = cls.env.node_dir(NODE)

    @classmethod
    def tearDownClass(cls):
        cls.env.__exit__(None, None, None)

    def setUp(self):
        gitlab_node.set_registry_migrations(self.d, MIGRATIONS)
        gitlab_node.write_registry_config(self.d, database_enabled=True, host="10.0.0.5",
                                          port=5432)
        gitlab_node.set_registry_fail(self.d, None)
        gitlab_node.clear_calls(self.d)

    def agent_yml(self, pgbouncers=()):
        p = self.env.node_paths(NODE)
        lines = ["state_dir: %s" % yq(p["state_dir"]), "op_timeout: 60s", "gitlab:",
                 "  ctl: %s" % yq(p["ctl"]), "registry:",
                 "  config: %s" % yq(registry_fixture.paths(self.d)["config"]),
                 "  pgbouncer: [%s]" % ", ".join(yq(b) for b in pgbouncers)]
        path = os.path.join(self.env.dir, "agent-%s.yml" % NODE)
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def op(self, body, pgbouncers=()):
        if not os.path.exists(self.exec_path):
            self.skipTest("no %s (build the project)" % self.exec_path)
        type(self).op_id += 1
        raw = field_varint(1, self.op_id) + field_bytes(OP_REGISTRY_MIGRATE, body)
        p = subprocess.run([self.exec_path, "--config", self.agent_yml(pgbouncers), "op"],
                           input=raw, capture_output=True, timeout=120, env=clean_env())
        # Exit 0 once a result is written, whatever the operation's status.
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
        r = op_result(p.stdout)
        self.assertEqual(r["op_id"], self.op_id)
        return r

    def ctl_calls(self):
        return [c["argv"] for c in self.env.calls(NODE, "gitlab-ctl")]

    def pending(self):
        return [m["name"] for m in gitlab_node.registry_migrations(self.d)
                if m["applied_at"] is None]

    # --- listing
    def test_dry_run_lists_pending_with_post_deployment_marks(self):
        r = self.op(registry_migrate(dry_run=True))
        self.assertEqual(r["status"], 0, r["error"])
        self.assertEqual(r["registry"]["before"],
                         [(n, post, at is not None) for n, post, at in MIGRATIONS])
        self.assertEqual(r["registry"]["applied"], [])
        self.assertIsNone(r["registry"]["output_tail"])
        self.assertEqual(self.ctl_calls(), [["registry-database", "migrate", "status"]])
        self.assertEqual(self.pending(), REGULAR_PENDING[:1] + POST_PENDING[:1]
                         + REGULAR_PENDING[1:] + POST_PENDING[1:])

    # --- applying
    def test_up_applies_all_once_then_nothing(self):
        r = self.op(registry_migrate())
        self.assertEqual(r["status"], 0, r["error"])
        self.assertEqual(r["registry"]["applied"], sorted(REGULAR_PENDING + POST_PENDING))
        self.assertEqual(len(r["registry"]["before"]), len(MIGRATIONS))
        self.assertIn("OK: applied 4 migrations", r["registry"]["output_tail"])
        self.assertEqual(self.pending(), [])
        self.assertEqual(self.ctl_calls(), [["registry-database", "migrate", "status"],
                                            ["registry-database", "migrate", "up"]])
        r = self.op(registry_migrate())
        self.assertEqual(r["status"], 0, r["error"])
        self.assertEqual(r["registry"]["applied"], [])
        self.assertTrue(all(applied for _, _, applied in r["registry"]["before"]))
        self.assertIn("OK: applied 0 migrations", r["registry"]["output_tail"])

    def test_skip_post_deployment_applies_regular_only(self):
        r = self.op(registry_migrate(skip_post=True))
        self.assertEqual(r["status"], 0, r["error"])
        self.assertEqual(r["registry"]["applied"], REGULAR_PENDING)
        self.assertEqual(self.pending(), POST_PENDING)
        self.assertEqual(self.ctl_calls()[-1],
                         ["registry-database", "migrate", "up", "--skip-post-deployment"])
        # The post-deployment ones afterwards, with the registry running.
        r = self.op(registry_migrate())
        self.assertEqual(r["status"], 0, r["error"])
        self.assertEqual(r["registry"]["applied"], POST_PENDING)
        before = {n: (post, applied) for n, post, applied in r["registry"]["before"]}
        self.assertEqual(before[REGULAR_PENDING[0]], (False, True))
        self.assertEqual(before[POST_PENDING[0]], (True, False))
        self.assertEqual(self.pending(), [])

    def test_failed_up_is_an_error_with_before_and_tail(self):
        gitlab_node.set_registry_fail(self.d, POST_PENDING[0])
        r = self.op(registry_migrate())
        self.assertEqual(r["status"], -1011, r["error"])  # LS_ECHILD
        self.assertIn("gitlab-ctl registry-database migrate up: exit 1: failed to run "
                      "database migrations: %s" % POST_PENDING[0], r["error"])
        self.assertEqual(len(r["registry"]["before"]), len(MIGRATIONS))
        self.assertEqual(r["registry"]["applied"], [])
        self.assertIn(REGULAR_PENDING[1], r["registry"]["output_tail"])
        self.assertIn("statement timeout", r["registry"]["output_tail"])
        # The one before the failure went in; the rest did not.
        self.assertEqual(self.pending(), [POST_PENDING[0], REGULAR_PENDING[1], POST_PENDING[1]])

    # --- refusals, before any `up`
    def test_refused_without_metadata_database(self):
        cfg = registry_fixture.paths(self.d)["config"]
        for setup in (lambda: gitlab_node.write_registry_config(self.d, database_enabled=False),
                      lambda: gitlab_node.write_registry_config(self.d, database_enabled=None),
                      lambda: gitlab_node.remove_registry_config(self.d)):
            setup()
            gitlab_node.clear_calls(self.d)
            r = self.op(registry_migrate())
            self.assertEqual(r["status"], -1015, r["error"])  # LS_ESTATE
            self.assertIn("the registry has no metadata database (database.enabled is not "
                          "true in %s" % cfg, r["error"])
            self.assertEqual(self.ctl_calls(), [])
        self.assertEqual(len(self.pending()), 4)

    def test_refused_through_pgbouncer(self):
        gitlab_node.write_registry_config(self.d, host="10.0.0.5", port=6432)
        r = self.op(registry_migrate())
        self.assertEqual(r["status"], -1015, r["error"])
        self.assertIn("PgBouncer at 10.0.0.5:6432", r["error"])
        self.assertIn("post-deployment migrations need the PostgreSQL primary directly, "
                      "without statement timeouts", r["error"])
        self.assertEqual(len(r["registry"]["before"]), len(MIGRATIONS))
        # A PgBouncer agent.yml names, on another port.
        gitlab_node.write_registry_config(self.d, host="pgbouncer.internal", port=6433)
        r = self.op(registry_migrate(skip_post=True), pgbouncers=["pgbouncer.internal:6433"])
        self.assertEqual(r["status"], -1015, r["error"])
        self.assertIn("PgBouncer at pgbouncer.internal:6433", r["error"])
        self.assertNotIn("up", [c[2] for c in self.ctl_calls()])
        self.assertEqual(len(self.pending()), 4)
        # database.primary set: migrations go there directly.
        gitlab_node.write_registry_config(self.d, host="pgbouncer.internal", port=6433,
                                          primary="pg-primary.internal")
        r = self.op(registry_migrate(), pgbouncers=["pgbouncer.internal:6433"])
        self.assertEqual(r["status"], 0, r["error"])
        self.assertEqual(self.pending(), [])


def main():
    global BUILD
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=BUILD, help="Lockstep build directory")
    args, rest = ap.parse_known_args()
    BUILD = os.path.abspath(args.build)
    unittest.main(module=__name__, argv=[sys.argv[0], "-v"] + rest, verbosity=2)


if __name__ == "__main__":
    main()
