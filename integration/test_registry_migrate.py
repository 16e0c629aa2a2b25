#!/usr/bin/env python3
"""`lockstep registry migrate` on a real local fleet with a Linux-package
registry node (the fixture's gitlab-ctl registry-database) and a
kubernetes node (the Kubernetes stand-in's registry pods), CLI ->
coordinator -> agent -> tool and back:

- pending migrations are applied once, post-deployment ones too; a second
  run reports nothing to do; --dry-run applies none; --skip-post-deployment
  leaves the post-deployment ones pending; the text output marks them;
- the refusals come through with the agent's message and exit 1: no
  metadata database (both kinds of registry), a connection through
  PgBouncer; nothing is applied;
- usage errors exit 2; a node without the role is named;
- the --json shape;
- --separate-release: GitLab.com's second "migrations" Helm release,
  installed then upgraded with the served release's values, the registry
  API off and SKIP_POST_DEPLOYMENT_MIGRATIONS false; its migrations Job
  applies what was pending; nothing pending leaves it alone.

    python3 integration/test_registry_migrate.py --build BUILD_DIR [Case.test_name]
"""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import testlib  # noqa: E402
from fleet import Fleet  # noqa: E402
import gitlab_node  # noqa: E402
import kube_node  # noqa: E402

BUILD = os.environ.get("LOCKSTEP_BUILD", "build")
REG, KUBE = "registry-1", "kube-1"
RELEASE, NS = "gitlab", "gitlab"
T0 = 1604092155.280575
APPLIED = "2025-02-21 10:00:00.123456 +0000 UTC"
# name, post deployment?; the first two applied long ago.
MIGRATIONS = [
    ("20200319122755_create_repositories_table", False),
    ("20201030140824_drop_table_students", True),
    ("20240101000000_add_media_types", False),
    ("20240102000000_index_blobs_on_digest", True),
    ("20240103000000_add_repository_size", False),
    ("20240104000000_drop_old_manifests_column", True),
]
PENDING = [n for n, _ in MIGRATIONS[2:]]
POST_PENDING = [n for n, post in MIGRATIONS[2:] if post]
SHAPE = {"node", "release", "namespace", "dry_run", "migrations", "pending", "applied",
         "nothing_to_do", "output_tail"}


def set_build(b):
    global BUILD
    BUILD = b


class RegistryMigrateTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        missing = Fleet.missing_binaries(BUILD)
        if missing:
            raise AssertionError("missing binaries (build first): %s" % missing)
        cls.f = Fleet(BUILD, nodes=[("rails-1", ["rails", "sidekiq"]), ("gitaly-1", ["gitaly"]),
                                    ("postgresql-1", ["postgresql"]), (REG, ["registry"]),
                                    (KUBE, ["kubernetes"])])
        try:
            cls.f.__enter__()
        except BaseException:
            cls.f.__exit__(None, None, None)
            raise
        cls.reg = cls.f.node_dir(REG)
        cls.kube = cls.f.node_dir(KUBE)

    @classmethod
    def tearDownClass(cls):
        cls.f.__exit__(None, None, None)

    def setUp(self):
        gitlab_node.set_registry_migrations(
            self.reg, [(n, p, T0 if i < 2 else None) for i, (n, p) in enumerate(MIGRATIONS)])
        gitlab_node.write_registry_config(self.reg, database_enabled=True, host="10.0.0.5",
                                          port=5432)
        gitlab_node.set_registry_fail(self.reg, None)
        gitlab_node.clear_calls(self.reg)
        kube_node.set_registry_migrations(
            self.kube, [(n, p, APPLIED if i < 2 else None) for i, (n, p) in enumerate(MIGRATIONS)])
        kube_node.set_values(self.kube, "registry.database.enabled", True)

    # --- helpers
    def run_cli(self, *args, rc=0):
        p = self.f.cli("registry", "migrate", *args, timeout=300)
        self.assertEqual(p.returncode, rc, "lockstep registry migrate %s: exit %d\n%s%s" % (
            " ".join(args), p.returncode, p.stdout, p.stderr))
        return p

    def migrate_json(self, *args):
        out = json.loads(self.run_cli("--json", *args).stdout)
        self.assertEqual(set(out), SHAPE | ({"separate_release"} if "--separate-release" in args
                                            else set()))
        return out

    def reg_pending(self):
        return [m["name"] for m in gitlab_node.registry_migrations(self.reg)
                if m["applied_at"] is None]

    def kube_pending(self):
        return [m["name"] for m in kube_node.registry_migrations(self.kube)
                if not m["applied_at"]]

    def ctl_subs(self):
        return [c["argv"][2:] for c in gitlab_node.read_calls(self.reg, "gitlab-ctl")
                if c["argv"][:2] == ["registry-database", "migrate"]]

    # --- Linux-package registry node
    def test_linux_applied_once_then_nothing_to_do(self):
        out = self.migrate_json("--dry-run")
        self.assertEqual(out["node"], REG)
        self.assertIsNone(out["release"])
        self.assertTrue(out["dry_run"])
        self.assertEqual(out["pending"], PENDING)
        self.assertEqual(out["applied"], [])
        self.assertFalse(out["nothing_to_do"])
        self.assertEqual([(m["name"], m["post_deployment"], m["applied"]) for m in out["migrations"]],
                         [(n, p, i < 2) for i, (n, p) in enumerate(MIGRATIONS)])
        self.assertEqual(self.reg_pending(), PENDING)
        self.assertEqual(self.ctl_subs(), [["status"]])

        out = self.migrate_json()
        self.assertFalse(out["dry_run"])
        self.assertEqual(out["applied"], PENDING)
        self.assertIn("OK: applied 4 migrations", out["output_tail"])
        self.assertEqual(self.reg_pending(), [])

        out = self.migrate_json("--node", REG)
        self.assertTrue(out["nothing_to_do"])
        self.assertEqual(out["applied"], [])
        p = self.run_cli()
        self.assertIn("nothing to do: all 6 migrations are applied", p.stdout)
        # `up` ran once with something to apply, then twice with nothing.
        self.assertEqual(self.ctl_subs(), [["status"], ["status"], ["up"], ["status"], ["up"],
                                           ["status"], ["up"]])

    def test_linux_text_marks_post_deployment_and_skip(self):
        p = self.run_cli("--skip-post-deployment")
        self.assertIn("registry on %s (gitlab-ctl registry-database)" % REG, p.stdout)
        self.assertIn("pending migrations: 4 (2 post-deployment)", p.stdout)
        self.assertIn("  20240102000000_index_blobs_on_digest (post deployment)\n", p.stdout)
        self.assertIn("  20240101000000_add_media_types\n", p.stdout)
        self.assertIn("applied: 2\n", p.stdout)
        self.assertIn("left pending (--skip-post-deployment): 2 post-deployment", p.stdout)
        self.assertIn("output:\n", p.stdout)
        self.assertEqual(self.reg_pending(), POST_PENDING)
        self.assertEqual(self.ctl_subs()[-1], ["up", "--skip-post-deployment"])

    def test_linux_refusals_named(self):
        gitlab_node.write_registry_config(self.reg, database_enabled=False)
        p = self.run_cli(rc=1)
        self.assertIn("node '%s'" % REG, p.stderr)
        self.assertIn("the registry has no metadata database (database.enabled is not true",
                      p.stderr)
        self.assertEqual(self.ctl_subs(), [])
        gitlab_node.write_registry_config(self.reg, host="10.0.0.5", port=6432)
        p = self.run_cli(rc=1)
        self.assertIn("PgBouncer at 10.0.0.5:6432", p.stderr)
        self.assertIn("post-deployment migrations need the PostgreSQL primary directly",
                      p.stderr)
        self.assertNotIn(["up"], self.ctl_subs())
        self.assertEqual(self.reg_pending(), PENDING)
        # A dry run only lists: not refused for PgBouncer.
        self.assertEqual(self.migrate_json("--dry-run")["pending"], PENDING)

    # --- a chart release's registry pod, through the kubernetes node
    def test_kube_applied_once_dry_run_none(self):
        calls0 = len(kube_node.read_calls(self.kube, "kubectl"))
        out = self.migrate_json("--release", RELEASE, "--namespace", NS, "--dry-run")
        self.assertEqual((out["node"], out["release"], out["namespace"]), (KUBE, RELEASE, NS))
        self.assertEqual(out["pending"], PENDING)
        self.assertEqual(self.kube_pending(), PENDING)
        out = self.migrate_json("--release", RELEASE, "--namespace", NS, "--kube-node", KUBE)
        self.assertEqual(out["applied"], PENDING)
        self.assertEqual(self.kube_pending(), [])
        out = self.migrate_json("--release", RELEASE, "--namespace", NS)
        self.assertTrue(out["nothing_to_do"])
        self.assertEqual(out["applied"], [])
        ups = [c for c in kube_node.read_calls(self.kube, "kubectl")[calls0:]
               if "registry" in c["argv"] and "up" in c["argv"]]
        self.assertEqual(len(ups), 2, ups)  # one with four to apply, one with none

    def test_kube_no_database_refused(self):
        kube_node.set_values(self.kube, "registry.database.enabled", False)
        p = self.run_cli("--release", RELEASE, "--namespace", NS, rc=1)
        self.assertIn("node '%s'" % KUBE, p.stderr)
        self.assertIn("the registry has no metadata database (registry.database.enabled is "
                      "not true in the values of release %s)" % RELEASE, p.stderr)
        self.assertEqual(self.kube_pending(), PENDING)

    # --- GitLab.com's separate migrations release (--separate-release)
    def test_kube_separate_release(self):
        sep = ["--release", RELEASE, "--namespace", NS, "--separate-release", "migrations",
               "--migrations-namespace", "gitlab-migrations"]
        calls0 = len(kube_node.read_calls(self.kube, "helm"))
        out = self.migrate_json(*sep, "--dry-run")
        self.assertEqual(out["pending"], PENDING)
        self.assertNotIn("migrations", kube_node.extra_releases(self.kube))
        out = self.migrate_json(*sep)
        self.assertEqual(out["separate_release"],
                         {"name": "migrations", "namespace": "gitlab-migrations"})
        self.assertEqual(out["applied"], PENDING)
        self.assertIn('Release "migrations" does not exist. Installing it now.',
                      out["output_tail"])
        self.assertEqual(self.kube_pending(), [])
        rel = kube_node.extra_releases(self.kube)["migrations"]
        self.assertEqual((rel["namespace"], rel["revision"], rel["job_applied"]),
                         ("gitlab-migrations", 1, PENDING))
        self.assertEqual(rel["chart"], kube_node.release(self.kube)["chart"])
        v = rel["values"]["registry"]
        self.assertIs(v["api"]["enabled"], False)
        self.assertEqual(v["extraEnv"]["SKIP_POST_DEPLOYMENT_MIGRATIONS"], "false")
        # The served release's own values came along (its database).
        self.assertEqual(v["database"], kube_node.values(self.kube)["registry"]["database"])
        ups = [c["argv"] for c in kube_node.read_calls(self.kube, "helm")[calls0:]
               if "upgrade" in c["argv"]]
        self.assertEqual(len(ups), 1, ups)
        for a in ("--install", "migrations", "gitlab/gitlab", "-f", "-", "--create-namespace",
                  "--wait", "--wait-for-jobs", "registry.api.enabled=false"):
            self.assertIn(a, ups[0])
        # Nothing pending: the migrations release is left alone.
        out = self.migrate_json(*sep)
        self.assertTrue(out["nothing_to_do"])
        self.assertEqual(kube_node.extra_releases(self.kube)["migrations"]["revision"], 1)
        # Pending again (a newer registry): an upgrade of that release.
        kube_node.set_registry_migrations(
            self.kube, [(n, p, APPLIED) for n, p in MIGRATIONS] +
            [("20250101000000_add_tags_index", True, None)])
        out = self.migrate_json(*sep)
        self.assertEqual(out["applied"], ["20250101000000_add_tags_index"])
        self.assertIn('Release "migrations" has been upgraded.', out["output_tail"])
        self.assertEqual(kube_node.extra_releases(self.kube)["migrations"]["revision"], 2)
        p = self.f.cli("registry", "migrate", "--help")
        self.assertIn("does NOT recommend", p.stdout)
        for args in (["--separate-release", "migrations", "--migrations-namespace", "x"],
                     sep[:4] + ["--separate-release", "migrations"]):
            self.run_cli(*args, rc=2)

    # --- usage
    def test_usage_and_wrong_node(self):
        for args in (["--release", RELEASE], ["--kube-node", KUBE],
                     ["--release", RELEASE, "--namespace", NS, "--node", REG],
                     ["--timeout", "0s"], ["extra"]):
            self.run_cli(*args, rc=2)
        p = self.run_cli("--node", KUBE, rc=1)
        self.assertIn("node '%s' has no registry role" % KUBE, p.stderr)
        p = self.run_cli("--release", RELEASE, "--namespace", NS, "--kube-node", REG, rc=1)
        self.assertIn("node '%s' has no kubernetes role" % REG, p.stderr)
        p = self.f.cli("registry", "migrate", "--help")
        self.assertEqual(p.returncode, 0)
        self.assertIn("PgBouncer", p.stdout)
        self.assertEqual(self.reg_pending(), PENDING)


if __name__ == "__main__":
    testlib.run_main(__doc__, set_build)
