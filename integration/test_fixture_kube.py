#!/usr/bin/env python3
"""The Kubernetes node fixture (kubectl, helm, kube_toolbox) alone.

    python3 integration/test_fixture_kube.py [--build BUILD_DIR] [NAME ...]

--build is accepted and ignored (no Lockstep binary is needed). Every argv
form the stand-ins support runs through the symlinks of a node directory,
with real outcomes asserted; KubeRestoreTest restores a real backup (pg_dump
of a table in the fixture's PostgreSQL, a gitaly-backup layout of real
repositories) into the chart side with backup-utility through kubectl exec.
Each case has its own temporary directories; FixtureEnv stops its
PostgreSQL and Redis in tearDownClass, also after a failure.
"""
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree

import argparse  # noqa: E402
import base64  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import unittest  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fleet  # noqa: E402
from fleet import FixtureEnv, clean_env  # noqa: E402
import gitlab_node  # noqa: E402
import kube_node  # noqa: E402

NS = "gitlab"
REL = "gitlab"
VERSION = "17.8.2"
BACKUP_ID = "1740143717_2025_02_21_%s" % VERSION


def wait_until(pred, timeout, what, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


class KubeBase(unittest.TestCase):
    node = None

    def kubectl(self, *args, input=None, node=None):
        return subprocess.run([kube_node.kube_paths(node or self.node)["kubectl"]] + list(args),
                              input=input, capture_output=True, text=True, env=clean_env(), timeout=120)

    def helm(self, *args, node=None):
        return subprocess.run([kube_node.kube_paths(node or self.node)["helm"]] + list(args),
                              capture_output=True, text=True, env=clean_env(), timeout=60)

    def ok(self, p):
        self.assertEqual(p.returncode, 0, "exit %d\nstdout: %s\nstderr: %s" % (p.returncode, p.stdout, p.stderr))
        return p

    def kjson(self, *args):
        return json.loads(self.ok(self.kubectl(*args)).stdout)

    def pod_names(self, selector):
        return sorted(i["metadata"]["name"] for i in
                      self.kjson("-n", NS, "get", "pods", "-l", selector, "-o", "json")["items"])

    def one_pod(self, app):
        names = self.pod_names("app=%s,release=%s" % (app, REL))
        self.assertEqual(len(names), 1, names)
        return names[0]


class KubeFixtureTest(KubeBase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="kfx-")
        self.node = os.path.join(self.tmp, "kube-1")
        kube_node.make_kube_node(self.node, release=REL, namespace=NS, app_version=VERSION)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    # --- helm
    def test_helm_list(self):
        for args in (["list", "-n", NS, "-o", "json"], ["ls", "--namespace=" + NS, "--output", "json"],
                     ["-n", NS, "list", "-o", "json", "--kubeconfig", kube_node.kube_paths(self.node)["kubeconfig"],
                      "--kube-context", kube_node.CONTEXT]):
            rows = json.loads(self.ok(self.helm(*args)).stdout)
            self.assertEqual(len(rows), 1)
            r = rows[0]
            self.assertEqual(list(r), ["name", "namespace", "revision", "updated", "status", "chart", "app_version"])
            self.assertEqual((r["name"], r["namespace"], r["revision"], r["status"], r["chart"], r["app_version"]),
                             (REL, NS, "1", "deployed", "gitlab-8.8.2", "v17.8.2"))
            self.assertRegex(r["updated"], r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,9})? \+0000 UTC$")
        self.assertEqual(json.loads(self.ok(self.helm("list", "-n", "other", "-o", "json")).stdout), [])
        kube_node.set_app_version(self.node, "17.11.1")
        r = json.loads(self.ok(self.helm("list", "-n", NS, "-o", "json")).stdout)[0]
        self.assertEqual((r["revision"], r["chart"], r["app_version"]), ("2", "gitlab-8.11.1", "v17.11.1"))
        kube_node.remove_release(self.node)
        self.assertEqual(json.loads(self.ok(self.helm("list", "-n", NS, "-o", "json")).stdout), [])

    def test_helm_get_values(self):
        v = json.loads(self.ok(self.helm("get", "values", REL, "-n", NS, "-o", "json")).stdout)
        self.assertIs(v["global"]["appConfig"]["object_store"]["enabled"], True)
        self.assertEqual(v["global"]["appConfig"]["object_store"]["connection"],
                         {"secret": "gitlab-rails-storage", "key": "connection"})
        self.assertIs(v["registry"]["database"]["enabled"], True)
        self.assertEqual(v["registry"]["extraEnv"]["SKIP_POST_DEPLOYMENT_MIGRATIONS"], "true")
        kube_node.set_values(self.node, "registry.database.enabled", False)
        kube_node.set_values(self.node, "registry.extraEnv", None)
        v = json.loads(self.ok(self.helm("get", "values", REL, "-n", NS, "-o", "json")).stdout)
        self.assertIs(v["registry"]["database"]["enabled"], False)
        self.assertNotIn("extraEnv", v["registry"])
        for args in (["get", "values", "nope", "-n", NS, "-o", "json"],
                     ["get", "values", REL, "-n", "other", "-o", "json"]):
            p = self.helm(*args)
            self.assertEqual((p.returncode, p.stdout, p.stderr), (1, "", "Error: release: not found\n"))

    def test_missing_kubeconfig_and_context(self):
        missing = os.path.join(self.tmp, "no-such-kubeconfig")
        p = self.kubectl("--kubeconfig", missing, "-n", NS, "get", "pods", "-o", "json")
        self.assertEqual((p.returncode, p.stdout), (1, ""))
        self.assertEqual(p.stderr, "error: stat %s: no such file or directory\n" % missing)
        p = self.helm("list", "-n", NS, "-o", "json", "--kubeconfig=" + missing)
        self.assertEqual((p.returncode, p.stdout), (1, ""))
        self.assertEqual(p.stderr, "Error: Kubernetes cluster unreachable: stat %s: no such file or directory\n"
                         % missing)
        p = self.kubectl("--context", "elsewhere", "get", "pods")
        self.assertEqual(p.returncode, 1)
        self.assertIn("context was not found for specified context: elsewhere", p.stderr)
        p = self.helm("list", "--kube-context", "elsewhere")
        self.assertEqual(p.returncode, 1)
        self.ok(self.kubectl("--kubeconfig", kube_node.kube_paths(self.node)["kubeconfig"],
                             "--context", kube_node.CONTEXT, "-n", NS, "get", "pods", "-o", "json"))

    # --- secrets
    def test_secret_get_apply_delete(self):
        s = self.kjson("-n", NS, "get", "secret", REL + "-rails-secret", "-o", "json")
        self.assertEqual((s["apiVersion"], s["kind"], s["type"]), ("v1", "Secret", "Opaque"))
        self.assertEqual((s["metadata"]["name"], s["metadata"]["namespace"]), (REL + "-rails-secret", NS))
        self.assertTrue(base64.b64decode(s["data"]["secrets.yml"]).startswith(b"production:\n"))
        for name, key in (("-gitlab-shell-secret", "secret"), ("-gitaly-secret", "token"),
                          ("-registry-secret", "registry-auth.key"), ("-gitlab-workhorse-secret", "shared_secret")):
            self.assertIn(key, self.kjson("get", "secret", REL + name, "-n", NS, "-o", "json")["data"])
        conn = self.kjson("--namespace", NS, "get", "secret", "gitlab-rails-storage", "-o", "json")
        self.assertIn(b"provider: AWS", base64.b64decode(conn["data"]["connection"]))

        p = self.kubectl("-n", NS, "get", "secret", "nope", "-o", "json")
        self.assertEqual((p.returncode, p.stdout, p.stderr),
                         (1, "", 'Error from server (NotFound): secrets "nope" not found\n'))

        raw = bytes(range(256)) + b"production:\n  secret_key_base: x\n"
        one = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
               "metadata": {"name": REL + "-rails-secret", "namespace": NS},
               "data": {"secrets.yml": base64.b64encode(raw).decode()}}
        two = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "new-secret"},
               "data": {"a": base64.b64encode(b"\x00\xff").decode(), "b": base64.b64encode(b"B").decode()}}
        p = self.ok(self.kubectl("-n", NS, "apply", "--server-side", "--force-conflicts", "-f", "-",
                                 input=json.dumps({"apiVersion": "v1", "kind": "List", "items": [one, two]})))
        self.assertEqual(p.stdout, "secret/%s-rails-secret serverside-applied\nsecret/new-secret serverside-applied\n"
                         % REL)
        got = self.kjson("-n", NS, "get", "secret", REL + "-rails-secret", "-o", "json")
        self.assertEqual(list(got["data"]), ["secrets.yml"])  # replaced wholesale
        self.assertEqual(base64.b64decode(got["data"]["secrets.yml"]), raw)
        self.assertEqual(kube_node.secrets(self.node)["new-secret"], {"a": b"\x00\xff", "b": b"B"})
        # a single object; data replaced wholesale
        two["data"] = {"c": base64.b64encode(b"C").decode()}
        p = self.ok(self.kubectl("apply", "-n", NS, "--server-side", "-f", "-", input=json.dumps(two)))
        self.assertEqual(p.stdout, "secret/new-secret serverside-applied\n")
        self.assertEqual(kube_node.secrets(self.node)["new-secret"], {"c": b"C"})
        # Field ownership: a key another manager set (the chart's
        # shared-secrets job: kubectl-create) is a conflict unless forced,
        # and stays when the applier leaves it out.
        kube_node.set_secret(self.node, "shared", {"k": "job", "other": "job-only"})
        mine = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "shared"},
                "data": {"k": base64.b64encode(b"mine").decode()}}
        p = self.kubectl("-n", NS, "apply", "--server-side", "--field-manager=lockstep", "-f", "-",
                         input=json.dumps(mine))
        self.assertEqual(p.returncode, 1)
        self.assertTrue(p.stderr.startswith('error: Apply failed with 1 conflict: conflict with '
                                            '"kubectl-create": .data.k\n'), p.stderr)
        self.assertEqual(kube_node.secrets(self.node)["shared"], {"k": b"job", "other": b"job-only"})
        self.ok(self.kubectl("-n", NS, "apply", "--server-side", "--force-conflicts",
                             "--field-manager=lockstep", "-f", "-", input=json.dumps(mine)))
        self.assertEqual(kube_node.secrets(self.node)["shared"], {"k": b"mine", "other": b"job-only"})
        kube_node.delete_secret(self.node, "shared")

        for bad in ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {}},
                    {"apiVersion": "v1", "kind": "List", "items": [two, {"apiVersion": "apps/v1",
                                                                          "kind": "Deployment",
                                                                          "metadata": {"name": "d"}}]}):
            p = self.kubectl("-n", NS, "apply", "--server-side", "--force-conflicts", "-f", "-", input=json.dumps(bad))
            self.assertEqual(p.returncode, 1)
            self.assertTrue(p.stderr.startswith("error: "), p.stderr)
        self.assertNotIn("x", kube_node.secrets(self.node))

        p = self.ok(self.kubectl("-n", NS, "delete", "secret", "new-secret"))
        self.assertEqual(p.stdout, 'secret "new-secret" deleted\n')
        p = self.kubectl("-n", NS, "delete", "secret", "new-secret")
        self.assertEqual((p.returncode, p.stderr), (1, 'Error from server (NotFound): secrets "new-secret" not found\n'))
        p = self.ok(self.kubectl("-n", NS, "delete", "secret", "new-secret", "--ignore-not-found"))
        self.assertEqual(p.stdout, "")
        kube_node.delete_secret(self.node, "gitlab-rails-storage")
        self.assertEqual(self.kubectl("-n", NS, "get", "secret", "gitlab-rails-storage", "-o", "json").returncode, 1)
        # Secrets never reach the call log.
        with open(kube_node.kube_paths(self.node)["calls"]) as f:
            log = f.read()
        self.assertNotIn(base64.b64encode(raw).decode()[:40], log)
        calls = kube_node.read_calls(self.node, cmd="kubectl")
        self.assertIn(["-n", NS, "apply", "--server-side", "--force-conflicts", "-f", "-"],
                      [c["argv"] for c in calls])

    # --- deployments and pods
    def test_deployments_and_scale(self):
        d = self.kjson("-n", NS, "get", "deployments", "-l", "release=" + REL, "-o", "json")
        self.assertEqual((d["apiVersion"], d["kind"], d["metadata"]), ("v1", "List", {"resourceVersion": ""}))
        by = {i["metadata"]["name"]: i for i in d["items"]}
        want = {"webservice-default": ("webservice", 2), "sidekiq-all-in-1-v2": ("sidekiq", 1),
                "toolbox": ("toolbox", 1), "registry": ("registry", 2), "gitlab-shell": ("gitlab-shell", 2),
                "kas": ("kas", 2)}
        self.assertEqual(sorted(by), sorted(REL + "-" + k for k in want))
        for k, (app, n) in want.items():
            o = by[REL + "-" + k]
            self.assertEqual((o["apiVersion"], o["kind"]), ("apps/v1", "Deployment"))
            self.assertEqual(o["metadata"]["labels"]["app"], app)
            self.assertEqual(o["metadata"]["namespace"], NS)
            self.assertRegex(o["metadata"]["creationTimestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
            self.assertEqual((o["spec"]["replicas"], o["status"]["replicas"], o["status"]["readyReplicas"],
                              o["status"]["availableReplicas"]), (n, n, n, n))
        sel = self.kjson("-n", NS, "get", "deployments", "-l", "app=sidekiq,release=" + REL, "-o", "json")["items"]
        self.assertEqual([i["metadata"]["name"] for i in sel], [REL + "-sidekiq-all-in-1-v2"])
        self.assertEqual(self.kjson("-n", NS, "get", "deployments", "-l", "release=other", "-o", "json")["items"], [])
        self.assertEqual(self.kjson("-n", "other", "get", "deployments", "-l", "release=" + REL,
                                    "-o", "json")["items"], [])

        pods = self.kjson("-n", NS, "get", "pods", "-l", "release=" + REL, "-o", "json")["items"]
        self.assertEqual(len(pods), 2 + 1 + 1 + 2 + 2 + 2 + 1)
        names = [p["metadata"]["name"] for p in pods]
        self.assertIn(REL + "-gitaly-0", names)
        for p in pods:
            md = p["metadata"]
            self.assertEqual((p["apiVersion"], p["kind"], p["status"]["phase"]), ("v1", "Pod", "Running"))
            self.assertIn({"type": "Ready", "status": "True"},
                          [{"type": c["type"], "status": c["status"]} for c in p["status"]["conditions"]])
            if md["labels"]["app"] == "gitaly":
                continue
            self.assertRegex(md["name"], r"^%s-[0-9a-f]{10}-[%s]{5}$" % (
                re.escape(p["metadata"]["ownerReferences"][0]["name"][: -11]), kube_node.ALNUM))
            self.assertEqual(md["labels"]["release"], REL)
            self.assertRegex(md["labels"]["pod-template-hash"], r"^[0-9a-f]{10}$")
        web = [p for p in pods if p["metadata"]["labels"]["app"] == "webservice"][0]
        self.assertEqual([c["name"] for c in web["spec"]["containers"]], ["webservice", "gitlab-workhorse"])
        for app, c in (("toolbox", "toolbox"), ("registry", "registry"), ("gitaly", "gitaly")):
            p = [p for p in pods if p["metadata"]["labels"]["app"] == app][0]
            self.assertEqual([x["name"] for x in p["spec"]["containers"]], [c])

        p = self.ok(self.kubectl("-n", NS, "scale", "deployment", REL + "-webservice-default", "--replicas=0"))
        self.assertEqual(p.stdout, "deployment.apps/%s-webservice-default scaled\n" % REL)
        self.assertEqual(self.pod_names("app=webservice"), [])
        p = self.ok(self.kubectl("scale", "deployment/%s-sidekiq-all-in-1-v2" % REL, "--replicas", "3", "-n", NS))
        self.assertEqual(p.stdout, "deployment.apps/%s-sidekiq-all-in-1-v2 scaled\n" % REL)
        self.assertEqual(len(self.pod_names("app=sidekiq")), 3)
        o = self.kjson("-n", NS, "get", "deployment", REL + "-sidekiq-all-in-1-v2", "-o", "json")
        self.assertEqual((o["kind"], o["spec"]["replicas"], o["status"]["replicas"]), ("Deployment", 3, 3))
        o = self.kjson("-n", NS, "get", "deployment", REL + "-webservice-default", "-o", "json")
        self.assertEqual(o["spec"]["replicas"], 0)
        self.assertNotIn("readyReplicas", o["status"])
        self.ok(self.kubectl("-n", NS, "scale", "deployment", REL + "-webservice-default", "--replicas=2"))
        self.assertEqual(len(self.pod_names("app=webservice")), 2)
        self.assertEqual(kube_node.deployments(self.node)[REL + "-webservice-default"]["replicas"], 2)
        p = self.kubectl("-n", NS, "scale", "deployment", "nope", "--replicas=1")
        self.assertEqual((p.returncode, p.stderr), (1, 'Error from server (NotFound): deployments.apps "nope" not found\n'))

    def test_delete_pods_renames_and_ready_after_delay(self):
        kube_node.set_ready_delay(self.node, 1.0)
        before = self.pod_names("release=" + REL)
        t0 = time.time()
        p = self.ok(self.kubectl("-n", NS, "delete", "pods", "-l", "release=" + REL))
        self.assertEqual(sorted(p.stdout.splitlines()), sorted('pod "%s" deleted' % n for n in before))
        after = self.pod_names("release=" + REL)
        self.assertEqual(len(after), len(before))
        self.assertEqual(set(after) & set(before), {REL + "-gitaly-0"})  # a StatefulSet keeps its names

        def ready_map():
            items = self.kjson("-n", NS, "get", "pods", "-l", "release=" + REL, "-o", "json")["items"]
            return {i["metadata"]["name"]: [c["status"] for c in i["status"]["conditions"] if c["type"] == "Ready"][0]
                    for i in items}
        first = ready_map()
        if time.time() - t0 < 0.9:
            self.assertEqual(set(first.values()), {"False"})
        o = self.kjson("-n", NS, "get", "deployments", "-l", "app=webservice", "-o", "json")["items"][0]
        if time.time() - t0 < 0.9:
            self.assertNotIn("readyReplicas", o["status"])
        wait_until(lambda: set(ready_map().values()) == {"True"}, 15, "every new pod Ready")
        self.assertGreaterEqual(time.time() - t0, 1.0)
        o = self.kjson("-n", NS, "get", "deployments", "-l", "app=webservice", "-o", "json")["items"][0]
        self.assertEqual(o["status"]["readyReplicas"], 2)
        # one app never ready
        kube_node.set_never_ready(self.node, "webservice")
        kube_node.set_ready_delay(self.node, 0.2)
        self.ok(self.kubectl("-n", NS, "delete", "pods", "-l", "app=webservice,release=" + REL))
        wait_until(lambda: all(v == "True" for k, v in ready_map().items() if "webservice" not in k), 10,
                   "other pods Ready")
        time.sleep(0.5)  # well past the delay: webservice must still be unready
        self.assertEqual({v for k, v in ready_map().items() if "webservice" in k}, {"False"})
        kube_node.set_never_ready(self.node, "webservice", False)
        wait_until(lambda: set(ready_map().values()) == {"True"}, 10, "webservice Ready again")
        p = self.ok(self.kubectl("-n", NS, "delete", "pods", "-l", "release=nothing"))
        self.assertEqual((p.stdout, p.stderr), ("", "No resources found\n"))

    # --- cp, exec
    def test_cp_df_exec(self):
        toolbox = self.one_pod("toolbox")
        local = os.path.join(self.tmp, "payload.tar")
        with open(local, "wb") as f:
            f.write(os.urandom(4096))
        self.ok(self.kubectl("-n", NS, "cp", local, "%s:/srv/gitlab/tmp/payload.tar" % toolbox, "-c", "toolbox"))
        with open(kube_node.in_pod(self.node, toolbox, "/srv/gitlab/tmp/payload.tar"), "rb") as a, \
                open(local, "rb") as b:
            self.assertEqual(a.read(), b.read())
        p = self.kubectl("-n", NS, "cp", local, "gitlab-toolbox-0000000000-zzzzz:/tmp/x", "-c", "toolbox")
        self.assertEqual((p.returncode, p.stderr),
                         (1, 'Error from server (NotFound): pods "gitlab-toolbox-0000000000-zzzzz" not found\n'))
        p = self.kubectl("-n", NS, "cp", os.path.join(self.tmp, "missing"), "%s:/tmp/x" % toolbox)
        self.assertEqual(p.returncode, 1)
        self.assertIn("doesn't exist in local filesystem", p.stderr)

        p = self.ok(self.kubectl("-n", NS, "exec", toolbox, "-c", "toolbox", "--", "df", "-Pk", "/srv/gitlab/tmp"))
        lines = p.stdout.splitlines()
        self.assertEqual(lines[0].split(), ["Filesystem", "1024-blocks", "Used", "Available", "Capacity",
                                            "Mounted", "on"])
        self.assertEqual(int(lines[1].split()[3]), kube_node.DEFAULT_TOOLBOX_FREE_KB)
        kube_node.set_toolbox_free_kb(self.node, 1234)
        p = self.ok(self.kubectl("exec", "-n", NS, toolbox, "-c", "toolbox", "--", "df", "-Pk", "/srv/gitlab/tmp"))
        self.assertEqual(int(p.stdout.splitlines()[1].split()[3]), 1234)
        kube_node.set_toolbox_free_kb(self.node, 2)  # 2 kB: the 4 kB file does not fit
        p = self.kubectl("-n", NS, "cp", local, "%s:/srv/gitlab/tmp/big.tar" % toolbox, "-c", "toolbox")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("No space left on device", p.stderr)
        self.assertFalse(os.path.exists(kube_node.in_pod(self.node, toolbox, "/srv/gitlab/tmp/big.tar")))
        p = self.kubectl("-n", NS, "exec", toolbox, "-c", "toolbox", "--", "backup-utility", "--restore",
                         "-f", "file:///srv/gitlab/tmp/payload.tar")
        self.assertEqual(p.returncode, 1)
        self.assertIn("Failure writing output", p.stderr)
        p = self.kubectl("-n", NS, "exec", toolbox, "-c", "toolbox", "--", "df", "-Pk", "/no/such")
        self.assertEqual(p.returncode, 1)
        self.assertIn("df: /no/such: No such file or directory", p.stderr)

        p = self.kubectl("-n", NS, "exec", toolbox, "-c", "toolbox", "--", "gitlab-nope", "x")
        self.assertIn(p.returncode, (126, 127))
        self.assertIn("OCI runtime exec failed", p.stderr)
        self.assertTrue(p.stderr.endswith("command terminated with exit code %d\n" % p.returncode))
        p = self.kubectl("-n", NS, "exec", toolbox, "-c", "webservice", "--", "df", "-Pk", "/")
        self.assertEqual(p.returncode, 1)
        self.assertIn("container webservice is not valid for pod %s" % toolbox, p.stderr)
        p = self.kubectl("-n", NS, "exec", "nope-pod", "-c", "toolbox", "--", "df", "-Pk", "/")
        self.assertEqual((p.returncode, p.stderr), (1, 'Error from server (NotFound): pods "nope-pod" not found\n'))
        # the pod's filesystem goes with the pod
        self.ok(self.kubectl("-n", NS, "delete", "pods", "-l", "app=toolbox"))
        self.assertFalse(os.path.exists(kube_node.in_pod(self.node, toolbox, "/srv/gitlab/tmp/payload.tar")))

    # --- registry
    def registry(self, *args):
        pod = self.pod_names("app=registry,release=" + REL)[0]
        return self.kubectl("-n", NS, "exec", pod, "-c", "registry", "--", "registry", "database", "migrate",
                            *args)

    def parse_status(self, text):
        lines = text.splitlines()
        self.assertRegex(lines[0], r"^\+-+\+-+\+$")
        self.assertRegex(lines[1], r"^\| +MIGRATION +\| +APPLIED +\|$")
        self.assertEqual(lines[2], lines[0])
        self.assertEqual(lines[-1], lines[0])
        rows = []
        for ln in lines[3:-1]:
            m = re.fullmatch(r"\| (.*?) +\| (.*?) *\|", ln)
            self.assertTrue(m, ln)
            rows.append((m.group(1), m.group(2)))
        return rows

    def test_registry_migrations(self):
        applied = "2025-02-21 10:00:00.5 +0000 UTC"
        kube_node.set_registry_migrations(self.node, [
            ("20210503145024_create_top_level_namespaces_table", False, applied),
            ("20240604074823_add_media_types_id_foreign_key_to_blobs", True, None),
            ("20240711175726_add_last_published_at_column_to_tags_table", False, None),
            ("20241021123714_add_tags_repository_id_published_at_id_index", True, None),
        ])
        cfg = "/etc/docker/registry/config.yml"
        rows = self.parse_status(self.ok(self.registry("status", cfg)).stdout)
        self.assertEqual(rows, [
            ("20210503145024_create_top_level_namespaces_table", applied),
            ("20240604074823_add_media_types_id_foreign_key_to_blobs (post deployment)", ""),
            ("20240711175726_add_last_published_at_column_to_tags_table", ""),
            ("20241021123714_add_tags_repository_id_published_at_id_index (post deployment)", "")])
        p = self.ok(self.registry("up", "-s", cfg))
        lines = p.stdout.splitlines()
        self.assertEqual(lines[0], "20240711175726_add_last_published_at_column_to_tags_table")
        self.assertRegex(lines[1], r"^OK: applied 1 migrations in \d+\.\d{3}s$")
        rows = dict(self.parse_status(self.ok(self.registry("status", cfg)).stdout))
        self.assertRegex(rows["20240711175726_add_last_published_at_column_to_tags_table"],
                         r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? \+0000 UTC$")
        self.assertEqual(rows["20240604074823_add_media_types_id_foreign_key_to_blobs (post deployment)"], "")
        self.assertEqual(self.ok(self.registry("status", "-u", cfg)).stdout, "false\n")
        self.assertEqual(self.ok(self.registry("status", "-s", "-u", cfg)).stdout, "true\n")
        p = self.ok(self.registry("up", "-s", cfg))
        self.assertRegex(p.stdout, r"^OK: applied 0 migrations in \d+\.\d{3}s\n$")
        p = self.ok(self.registry("up", cfg))
        self.assertEqual(p.stdout.splitlines()[:2], ["20240604074823_add_media_types_id_foreign_key_to_blobs",
                                                     "20241021123714_add_tags_repository_id_published_at_id_index"])
        self.assertRegex(p.stdout.splitlines()[2], r"^OK: applied 2 migrations in \d+\.\d{3}s$")
        self.assertTrue(all(m["applied_at"] for m in kube_node.registry_migrations(self.node)))
        self.assertEqual(self.ok(self.registry("status", "-u", cfg)).stdout, "true\n")
        self.assertEqual(self.registry("status").returncode, 1)
        kube_node.set_values(self.node, "registry.database.enabled", False)
        p = self.registry("status", cfg)
        self.assertEqual(p.returncode, 1)
        self.assertIn("failed to construct database connection", p.stderr)
        # registry is not in other containers
        p = self.kubectl("-n", NS, "exec", self.one_pod("toolbox"), "-c", "toolbox", "--", "registry", "database",
                         "migrate", "status", cfg)
        self.assertEqual(p.returncode, 127)

    def test_calls_recorded(self):
        self.ok(self.helm("list", "-n", NS, "-o", "json"))
        self.ok(self.kubectl("-n", NS, "get", "pods", "-o", "json"))
        calls = kube_node.read_calls(self.node)
        self.assertEqual([(c["cmd"], c["argv"]) for c in calls],
                         [("helm", ["list", "-n", NS, "-o", "json"]), ("kubectl", ["-n", NS, "get", "pods", "-o", "json"])])


class KubeRestoreTest(KubeBase):
    """backup-utility --restore of a real backup into the chart side."""
    env = None

    @classmethod
    def setUpClass(cls):
        env = FixtureEnv(nodes=[("gitaly-1", ["gitaly"]), ("postgresql-1", ["postgresql"])], quiet=True)
        env.__enter__()
        cls.env = env
        try:
            env.psql("CREATE DATABASE kfix_src;", db="postgres")
            env.psql("CREATE TABLE widgets (id integer PRIMARY KEY, name text NOT NULL, blob bytea);"
                     "INSERT INTO widgets VALUES (1, 'alpha', '\\x00ff'), (2, 'beta', NULL), (3, 'gamma''s', '\\x41');",
                     db="kfix_src")
            cls.repos = [r for r in env.repos if r["id"] in (1, 6)]  # with hooks; empty
        except BaseException:
            env.__exit__(*sys.exc_info())
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.env:
            cls.env.close()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="kfx-restore-")
        self.node = os.path.join(self.tmp, "kube-1")
        self.db = "chart_%s" % os.path.basename(self.tmp).replace("-", "_").lower()
        kube_node.make_kube_node(self.node, release=REL, namespace=NS, app_version=VERSION, chart_side={
            "db": self.db, "pg_host": self.env.pg_socket_dir, "pg_port": self.env.pg_port,
            "pg_user": fleet.PG_USER, "psql": fleet.PSQL})
        kube_node.create_chart_database(self.node)
        kube_node.chart_psql(self.node, "CREATE TABLE stale_chart_table (x int); INSERT INTO stale_chart_table VALUES (1);")

    def tearDown(self):
        try:
            self.env.psql('DROP DATABASE IF EXISTS "%s";' % self.db, db="postgres", check=False)
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def git(self, *args, input=None):
        p = subprocess.run([fleet.GIT] + list(args), input=input, capture_output=True,
                           env=clean_env(fleet.GIT_ENV), timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout

    def refs(self, gitdir):
        return self.git("--git-dir", gitdir, "for-each-ref", "--format=%(objectname) %(refname)").decode()

    def make_backup(self, installation_type="omnibus-gitlab", version=VERSION, skipped=""):
        bdir = os.path.join(self.tmp, "backup-src")
        shutil.rmtree(bdir, ignore_errors=True)
        os.makedirs(os.path.join(bdir, "db"))
        dump = subprocess.Popen([os.path.join(fleet.PG_BIN, "pg_dump"), "--clean", "--if-exists", "-h",
                                 self.env.pg_socket_dir, "-p", str(self.env.pg_port), "-U", fleet.PG_USER, "kfix_src"],
                                stdout=subprocess.PIPE, env=clean_env())
        with open(os.path.join(bdir, "db", "database.sql.gz"), "wb") as f:
            gz = subprocess.run(["gzip", "-c", "-1"], stdin=dump.stdout, stdout=f)
        dump.stdout.close()
        self.assertEqual((dump.wait(), gz.returncode), (0, 0))
        for r in self.repos:
            rel = r["disk_path"] + ".git"
            step = os.path.join(bdir, "repositories", "default", rel, BACKUP_ID)
            os.makedirs(step)
            refs = self.refs(r["git_dir"])
            head = ""
            if refs:
                oid = self.git("--git-dir", r["git_dir"], "rev-parse", "HEAD").decode().strip()
                head = "%s HEAD\n" % oid
                with open(os.path.join(step, "001.bundle"), "wb") as f:
                    f.write(self.git("--git-dir", r["git_dir"], "bundle", "create", "-", "--all"))
            with open(os.path.join(step, "001.refs"), "w") as f:
                f.write(head + refs)
            if r["custom_hooks"]:
                self.git("-C", r["git_dir"], "version")
                subprocess.run(["tar", "-cf", os.path.join(step, "001.custom_hooks.tar"), "-C", r["git_dir"],
                                "custom_hooks"], check=True)
            mdir = os.path.join(bdir, "repositories", "manifests", "default", rel)
            os.makedirs(mdir)
            base = "default/%s/%s/001" % (rel, BACKUP_ID)
            toml = ("empty = %s\nnon_existent = false\nobject_format = 'sha1'\n%s\n[[steps]]\n"
                    "bundle_path = '%s.bundle'\nref_path = '%s.refs'\ncustom_hooks_path = '%s.custom_hooks.tar'\n" % (
                        "false" if refs else "true",
                        "head_reference = 'refs/heads/main'\n" if refs else "", base, base, base))
            for name in (BACKUP_ID + ".toml", "+latest.toml"):
                with open(os.path.join(mdir, name), "w") as f:
                    f.write(toml)
        self.incremental_repo(bdir)
        for comp, files in (("uploads", {"-/system/user/avatar/1/avatar.png": b"\x89PNG fake"}),
                            ("builds", {"2025_02/1/1.log": b"job log\n"})):
            src = os.path.join(self.tmp, "comp-" + comp)
            for rel, data in files.items():
                os.makedirs(os.path.dirname(os.path.join(src, rel)), exist_ok=True)
                with open(os.path.join(src, rel), "wb") as f:
                    f.write(data)
            subprocess.run("tar -C %s -cf - . | gzip -c -1 > %s" % (src, os.path.join(bdir, comp + ".tar.gz")),
                           shell=True, check=True)
        with open(os.path.join(bdir, "backup_information.yml"), "w") as f:
            f.write(":db_version: '20250206114301'\n:backup_created_at: 2025-02-21 13:15:17 UTC\n"
                    ":gitlab_version: %s\n:tar_version: tar (GNU tar) 1.35\n:installation_type: %s\n"
                    ":skipped: '%s'\n:repositories_storages: ''\n:repositories_paths: ''\n"
                    ":skip_repositories_paths: ''\n:repositories_server_side: false\n:backup_id: %s\n"
                    ":full_backup_id: \n" % (version, installation_type, skipped, BACKUP_ID))
        tar = os.path.join(self.tmp, BACKUP_ID + "_gitlab_backup.tar")
        subprocess.run(["tar", "-C", bdir, "-cf", tar, "backup_information.yml", "db", "repositories",
                        "uploads.tar.gz", "builds.tar.gz"], check=True)
        return tar

    INCR_REL = "@hashed/1n/cr/incremental"

    def incremental_repo(self, bdir):
        """A repository backed up in two steps (full, then incremental from
        another backup id); between them main moved on, a branch was
        deleted and a tag added. Returns the source git dir."""
        src = os.path.join(self.tmp, "incr-src.git")
        work = os.path.join(self.tmp, "incr-work")
        shutil.rmtree(src, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
        self.git("init", "--quiet", "--bare", "--initial-branch=main", src)
        self.git("init", "--quiet", "--initial-branch=main", work)
        rel = self.INCR_REL + ".git"
        ids = ["1740000000_2025_02_19_" + VERSION, BACKUP_ID]
        steps = []

        def step(n, bid, args):
            d = os.path.join(bdir, "repositories", "default", rel, bid)
            os.makedirs(d, exist_ok=True)
            refs = self.refs(src)
            oid = self.git("--git-dir", src, "rev-parse", "HEAD").decode().strip()
            with open(os.path.join(d, "%03d.refs" % n), "w") as f:
                f.write("%s HEAD\n%s" % (oid, refs))
            # git 2.39 takes no options on --stdin: --all as an argument
            bundle = self.git("--git-dir", src, "bundle", "create", "-", "--all", "--stdin",
                              input="".join(a + "\n" for a in args).encode())
            header = bundle.split(b"\n\n", 1)[0]
            # an incremental bundle names its prerequisites ("-<oid>" lines)
            self.assertEqual(b"\n-" in header, bool(args), header)
            with open(os.path.join(d, "%03d.bundle" % n), "wb") as f:
                f.write(bundle)
            steps.append(("default/%s/%s/%03d" % (rel, bid, n), refs))

        for i, name in enumerate(("one", "two")):
            with open(os.path.join(work, name), "w") as f:
                f.write(name + "\n")
            self.git("-C", work, "add", name)
            self.git("-C", work, "commit", "--quiet", "-m", name)
        self.git("-C", work, "branch", "old", "HEAD~1")
        self.git("-C", work, "push", "--quiet", src, "main", "old")
        step(1, ids[0], [])
        prev = [ln.split()[0] for ln in steps[0][1].splitlines()]
        with open(os.path.join(work, "three"), "w") as f:
            f.write("three\n")
        self.git("-C", work, "add", "three")
        self.git("-C", work, "commit", "--quiet", "-m", "three")
        self.git("-C", work, "tag", "-a", "-m", "v2", "v2")
        self.git("-C", work, "push", "--quiet", src, "main", "v2", ":old")
        step(2, ids[1], ["^" + o for o in prev])
        mdir = os.path.join(bdir, "repositories", "manifests", "default", rel)
        os.makedirs(mdir)
        toml = "empty = false\nnon_existent = false\nobject_format = 'sha1'\nhead_reference = 'refs/heads/main'\n"
        for i, (base, _) in enumerate(steps):
            toml += "\n[[steps]]\nbundle_path = '%s.bundle'\nref_path = '%s.refs'\n" % (base, base)
            if i:
                toml += "previous_ref_path = '%s.refs'\n" % steps[i - 1][0]
            toml += "custom_hooks_path = '%s.custom_hooks.tar'\n" % base
        for name in (BACKUP_ID + ".toml", "+latest.toml"):
            with open(os.path.join(mdir, name), "w") as f:
                f.write(toml)
        return src

    def copy_in(self, tar):
        toolbox = self.one_pod("toolbox")
        dest = "/srv/gitlab/tmp/%s" % os.path.basename(tar)
        self.ok(self.kubectl("-n", NS, "cp", tar, "%s:%s" % (toolbox, dest), "-c", "toolbox"))
        return toolbox, dest

    def restore(self, toolbox, dest):
        return self.kubectl("-n", NS, "exec", toolbox, "-c", "toolbox", "--", "backup-utility", "--restore",
                            "-f", "file://" + dest)

    def chart_rows(self):
        return kube_node.chart_psql(self.node, "SELECT id, name, encode(blob, 'hex') FROM widgets ORDER BY id;")

    def test_restore_omnibus_backup(self):
        toolbox, dest = self.copy_in(self.make_backup())
        p = self.ok(self.restore(toolbox, dest))
        out = p.stdout.splitlines()
        for line in ("Unpacking backup", "Restoring repositories ...", "Restoring builds ...",
                     "Backup tarball not from a Helm chart based installation. Not processing files in object storage."):
            self.assertIn(line, out)
        self.assertTrue(any(ln.startswith("Restoring database") for ln in out), out)
        self.assertLess(out.index("Unpacking backup"), out.index("Restoring repositories ..."))
        self.assertEqual(self.chart_rows(), "1|alpha|00ff\n2|beta|\n3|gamma's|41")
        self.assertEqual(kube_node.chart_psql(
            self.node, "SELECT count(*) FROM pg_tables WHERE tablename = 'stale_chart_table';"), "0")
        gitaly = self.one_pod("gitaly")
        for r in self.repos:
            restored = os.path.join(kube_node.chart_repo_dir(self.node), r["disk_path"] + ".git")
            self.assertEqual(self.refs(restored), self.refs(r["git_dir"]))
            # and through kubectl exec into the gitaly pod, as a verifier reads it
            p = self.ok(self.kubectl("-n", NS, "exec", gitaly, "-c", "gitaly", "--", "git", "-C",
                                     "/home/git/repositories/%s.git" % r["disk_path"], "for-each-ref",
                                     "--format=%(objectname) %(refname)"))
            self.assertEqual(p.stdout, self.refs(r["git_dir"]))
            if not r["empty"]:
                self.assertEqual(self.git("--git-dir", restored, "symbolic-ref", "HEAD").decode().strip(),
                                 "refs/heads/main")
                self.git("--git-dir", restored, "fsck", "--no-progress")
            for hook in r["custom_hooks"]:
                self.assertTrue(os.path.isfile(os.path.join(restored, "custom_hooks", hook)), hook)
        src = os.path.join(self.tmp, "incr-src.git")
        restored = os.path.join(kube_node.chart_repo_dir(self.node), self.INCR_REL + ".git")
        self.assertEqual(self.refs(restored), self.refs(src))
        self.assertNotIn("refs/heads/old", self.refs(restored))
        self.assertIn("refs/tags/v2", self.refs(restored))
        self.git("--git-dir", restored, "fsck", "--no-progress")
        self.assertFalse(os.path.exists(kube_node.chart_files_dir(self.node, "uploads")))
        with open(os.path.join(kube_node.chart_files_dir(self.node, "builds"), "2025_02", "1", "1.log"), "rb") as f:
            self.assertEqual(f.read(), b"job log\n")
        # the work files are cleaned up, the copied-in backup stays
        work = kube_node.in_pod(self.node, toolbox, "/srv/gitlab/tmp/backups")
        self.assertEqual(os.listdir(work), [])
        self.assertTrue(os.path.isfile(kube_node.in_pod(self.node, toolbox, dest)))
        p = self.kubectl("-n", NS, "exec", gitaly, "-c", "gitaly", "--", "git", "-C",
                         "/home/git/repositories/@hashed/no/pe.git", "for-each-ref")
        self.assertEqual(p.returncode, 128)

    def test_restore_helm_backup_restores_files(self):
        toolbox, dest = self.copy_in(self.make_backup(installation_type="gitlab-helm-chart", skipped="repositories"))
        p = self.ok(self.restore(toolbox, dest))
        self.assertIn("Restoring uploads ...", p.stdout.splitlines())
        self.assertNotIn("Restoring repositories ...", p.stdout.splitlines())
        with open(os.path.join(kube_node.chart_files_dir(self.node, "uploads"), "-", "system", "user", "avatar",
                               "1", "avatar.png"), "rb") as f:
            self.assertEqual(f.read(), b"\x89PNG fake")
        self.assertEqual(os.listdir(kube_node.chart_repo_dir(self.node)), [])
        self.assertEqual(self.chart_rows(), "1|alpha|00ff\n2|beta|\n3|gamma's|41")

    def test_restore_failures(self):
        tar = self.make_backup()
        toolbox, dest = self.copy_in(tar)
        kube_node.set_restore_fail(self.node)
        p = self.restore(toolbox, dest)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("Unpacking backup", p.stdout)
        self.assertIn("restore_fail", p.stderr)
        self.assertTrue(p.stderr.endswith("command terminated with exit code %d\n" % p.returncode))
        self.assertEqual(kube_node.chart_psql(self.node, "SELECT x FROM stale_chart_table;"), "1")
        kube_node.set_restore_fail(self.node, False)
        kube_node.set_app_version(self.node, "17.8.1")
        p = self.restore(toolbox, dest)
        self.assertEqual(p.returncode, 1)
        self.assertIn("GitLab version mismatch", p.stderr)
        kube_node.set_app_version(self.node, VERSION)
        p = self.kubectl("-n", NS, "exec", self.one_pod("toolbox"), "-c", "toolbox", "--", "backup-utility",
                         "--restore", "-f", "file:///srv/gitlab/tmp/none.tar")
        self.assertEqual(p.returncode, 1)  # set_app_version does not restart pods: same toolbox
        self.assertIn("Couldn't open file", p.stderr)
        self.assertEqual(kube_node.chart_psql(self.node, "SELECT x FROM stale_chart_table;"), "1")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=None, help="ignored: no Lockstep binary is needed")
    args, rest = ap.parse_known_args()
    unittest.main(module="__main__", argv=[sys.argv[0], "-v"] + rest, verbosity=2)
