#!/usr/bin/env python3
"""lockstep cutover plan on a real local fleet plus a kubernetes node (the
Kubernetes stand-in, integration/fixture/kube_node.py): every prerequisite
reported pass or fail with its reason, and nothing changed.

- a fleet ready for the chart: every check passes, git fsck ran on every
  repository, the release's version and object storage are named, the
  components still on local storage are listed, the steps are printed,
  and no call that changes the cluster was made;
- a chart at another GitLab version, a service down, the object storage
  secret missing and a repository failing git fsck are each a failed
  prerequisite naming the cause, and the run ends failed;
- a --kube-node that is not a kubernetes node is refused.

    python3 integration/test_cutover.py --build BUILD_DIR [CutoverPlanTest.test_name]
"""
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixture"))
from fleet import DEFAULT_NODES, Fleet  # noqa: E402
import kube_node  # noqa: E402
import testlib  # noqa: E402

BUILD = os.environ.get("LOCKSTEP_BUILD", "build")
KUBE = "kube-1"
RELEASE, NS = "gitlab", "gitlab"
# kubectl and helm subcommands that change the cluster: a plan makes none.
MUTATING = ("apply", "scale", "delete", "cp", "exec", "create", "replace", "patch",
            "install", "upgrade", "rollback", "uninstall")


def set_build(b):
    global BUILD
    BUILD = b


class CutoverPlanTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.f = Fleet(BUILD, nodes=DEFAULT_NODES + [(KUBE, ["kubernetes"])])
        try:
            cls.f.__enter__()
        except BaseException:
            cls.f.__exit__(None, None, None)
            raise
        cls.kube = cls.f.node_dir(KUBE)

    @classmethod
    def tearDownClass(cls):
        cls.f.__exit__(None, None, None)

    def plan(self, *extra):
        p = self.f.cli("cutover", "plan", "--release", RELEASE, "--namespace", NS, "--json",
                       *extra, timeout=600)
        try:
            out = json.loads(p.stdout)
        except ValueError:
            raise AssertionError("cutover plan printed no JSON (exit %d):\n%s%s\n%s" % (
                p.returncode, p.stdout, p.stderr, self.f.coordinator_log()[-4000:]))
        return p.returncode, out

    @staticmethod
    def by_check(out, word, node=None):
        hits = [x for x in out["prerequisites"]
                if word in x["check"] and (node is None or x["node"] == node)]
        assert hits, "no prerequisite with %r in %r" % (word, out["prerequisites"])
        return hits

    def assert_nothing_changed(self, since):
        calls = kube_node.read_calls(self.kube, since=since)
        self.assertTrue(calls, "the plan never asked the kubernetes node")
        for c in calls:
            argv = [a for a in c["argv"] if not a.startswith("-")]
            self.assertFalse(set(argv) & set(MUTATING), "a plan changed the cluster: %r" % c)

    def repositories(self):
        return sum(1 for r in self.f.repos)

    def test_plan_reports_every_prerequisite(self):
        since = time.time()
        code, out = self.plan()
        self.assertEqual(code, 0, json.dumps(out, indent=1))
        self.assertEqual(out["state"], "done")
        self.assertEqual(out["gitlab_version"], "17.8.2")
        self.assertEqual(out["kube_node"], KUBE)
        self.assertEqual(out["deploy_node"], "rails-1")
        for x in out["prerequisites"]:
            self.assertTrue(x["ok"], x)
        services = self.by_check(out, "every service up")
        self.assertEqual(sorted(x["node"] for x in services),
                         sorted(n for n, _ in DEFAULT_NODES))
        fsck = self.by_check(out, "git fsck")
        self.assertEqual(sorted(x["node"] for x in fsck), ["gitaly-1", "gitaly-2"])
        checked = sum(int(x["detail"].split()[0]) for x in fsck)
        self.assertEqual(checked, self.repositories())
        rel = self.by_check(out, "Helm release")[0]
        self.assertEqual(rel["node"], KUBE)
        self.assertIn("GitLab 17.8.2", rel["detail"])
        self.assertIn("gitlab-rails-storage", rel["detail"])
        self.assertIn("toolbox", rel["detail"])
        self.assertIn("gitlab-webservice-default=", rel["detail"])
        store = self.by_check(out, "local storage")[0]
        self.assertEqual(store["node"], "postgresql-1")
        self.assertIn("uploads", store["detail"])
        self.assertEqual([s["step"] for s in out["steps"]],
                         ["move files to object storage", "fleet backup", "secrets", "restore",
                          "restart", "verify"])
        self.assert_nothing_changed(since)
        # The plan is a run of its own, shown like any other.
        show = self.f.cli_json("run", "show", out["run"])
        self.assertEqual(show["kind"], "cutover-plan")
        self.assertTrue(all("detail" in s for s in show["steps"]), show)
        # Human output: each check with PASS and the steps.
        p = self.f.cli("cutover", "plan", "--release", RELEASE, "--namespace", NS, timeout=600)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("PASS", p.stdout)
        self.assertNotIn("FAIL", p.stdout)
        self.assertIn("every prerequisite is met", p.stdout)

    def test_failed_prerequisites_name_the_cause(self):
        since = time.time()
        # The chart at another version.
        kube_node.set_app_version(self.kube, "17.8.1")
        try:
            code, out = self.plan()
        finally:
            kube_node.set_app_version(self.kube, "17.8.2")
        self.assertEqual(code, 1, out)
        self.assertEqual(out["state"], "failed")
        rel = self.by_check(out, "Helm release")[0]
        self.assertFalse(rel["ok"])
        self.assertIn("17.8.1", rel["reason"])
        self.assertIn("17.8.2", rel["reason"])
        self.assertTrue(all(x["ok"] for x in out["prerequisites"] if x is not rel))
        show = self.f.cli_json("run", "show", out["run"])
        self.assertIn("nothing was changed", show["reason"])

        # A service down on one node.
        self.f.set_service("rails-1", "sidekiq", False)
        try:
            code, out = self.plan()
        finally:
            self.f.set_service("rails-1", "sidekiq", True)
        self.assertEqual(code, 1, out)
        bad = [x for x in out["prerequisites"] if not x["ok"]]
        self.assertEqual([(x["node"], "sidekiq" in x["reason"]) for x in bad], [("rails-1", True)])

        # The object storage connection secret gone.
        kube_node.delete_secret(self.kube, "gitlab-rails-storage")
        code, out = self.plan()
        self.assertEqual(code, 1, out)
        rel = self.by_check(out, "Helm release")[0]
        self.assertIn("gitlab-rails-storage does not exist", rel["reason"])

        # A repository git fsck rejects: a branch pointing at no object.
        victim = [r for r in self.f.repos if r["node"] == "gitaly-1" and not r["empty"]][0]
        ref = os.path.join(victim["git_dir"], "refs", "heads", "broken")
        with open(ref, "w") as fh:
            fh.write("1" * 40 + "\n")
        try:
            code, out = self.plan()
        finally:
            os.unlink(ref)
        self.assertEqual(code, 1, out)
        fs = self.by_check(out, "git fsck", node="gitaly-1")[0]
        self.assertFalse(fs["ok"])
        self.assertIn(victim["disk_path"], fs["reason"])
        self.assertTrue(self.by_check(out, "git fsck", node="gitaly-2")[0]["ok"])
        self.assert_nothing_changed(since)

    def test_kube_node_must_have_the_role(self):
        p = self.f.cli("cutover", "plan", "--release", RELEASE, "--namespace", NS,
                       "--kube-node", "rails-1")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("rails-1 is not a node with the kubernetes role", p.stderr)
        p = self.f.cli("cutover", "plan", "--release", "Bad_Name", "--namespace", NS)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("Bad_Name", p.stderr)


if __name__ == "__main__":
    testlib.run_main(__doc__, set_build)
