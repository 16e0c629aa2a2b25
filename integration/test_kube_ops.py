#!/usr/bin/env python3
"""The kubernetes node's operations against the Kubernetes stand-in
(integration/fixture/kube_node.py), run with lockstep-agent-exec directly:

- KubeQuery: the release, its app version, object storage secret, chart
  Secrets, deployments and ready toolbox pod; a missing release;
- KubeScale: counts before returned, replicas and pods follow; an unknown
  deployment is refused before anything is scaled;
- KubeRestartPods: every pod replaced and ready; a pod that never gets
  ready ends in a timeout naming it.

    python3 integration/test_kube_ops.py --build BUILD_DIR [KubeOpsTest.test_name]
"""
import os
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "fixture"))
import fleet  # noqa: E402
from fleet import DEFAULT_NODES, FixtureEnv, clean_env, yq  # noqa: E402
import kube_node  # noqa: E402
import testlib  # noqa: E402
from test_fixture_upgrade import decode, field_bytes, field_varint, s  # noqa: E402

BUILD = os.environ.get("LOCKSTEP_BUILD", "build")
KUBE = "kube-1"
RELEASE, NS = "gitlab", "gitlab"
# Operation and OpResult fields (proto/lockstep.proto).
OP_KUBE_QUERY, OP_KUBE_SCALE, OP_KUBE_RESTART = 31, 32, 36
RES_KUBE_QUERY, RES_KUBE_SCALE, RES_KUBE_RESTART = 22, 23, 26
LS_ETIMEDOUT, LS_ENOENT = -110, -2


def set_build(b):
    global BUILD
    BUILD = b


def target(release=RELEASE, ns=NS):
    return field_bytes(1, field_bytes(1, release) + field_bytes(2, ns))


def deployment(name, replicas):
    return field_bytes(1, name) + field_varint(3, replicas)


def deployments(msg, num):
    return {s(d, 1): {"app": s(d, 2), "replicas": d.get(3, [0])[0]}
            for d in map(decode, msg.get(num, []))}


class KubeOpsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.exec_path = fleet.binaries(BUILD)["agent_exec"]
        if not os.path.exists(cls.exec_path):
            raise AssertionError("no %s (build the project first)" % cls.exec_path)
        cls.env = FixtureEnv(nodes=DEFAULT_NODES + [(KUBE, ["kubernetes"])])
        try:
            cls.env.__enter__()
        except BaseException:
            cls.env.__exit__(None, None, None)
            raise
        cls.kube = cls.env.node_dir(KUBE)
        k = kube_node.kube_paths(cls.kube)
        cls.yml = os.path.join(cls.env.dir, "agent-kube.yml")
        with open(cls.yml, "w") as f:
            f.write("\n".join([
                "state_dir: %s" % yq(os.path.join(cls.kube, "state")),
                "kubernetes:",
                "  kubectl: %s" % yq(k["kubectl"]),
                "  helm: %s" % yq(k["helm"]),
                "  kubeconfig: %s" % yq(k["kubeconfig"]),
            ]) + "\n")
        cls.op_id = 900

    @classmethod
    def tearDownClass(cls):
        cls.env.__exit__(None, None, None)

    def op(self, kind, body):
        type(self).op_id += 1
        raw = field_varint(1, self.op_id) + field_bytes(kind, body)
        p = subprocess.run([self.exec_path, "--config", self.yml, "op"], input=raw,
                           capture_output=True, timeout=180, env=clean_env())
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
        m = decode(p.stdout)
        z = m[2][0]
        self.assertEqual(m[1][0], self.op_id)
        return (z >> 1) ^ -(z & 1), s(m, 3), m

    def query(self, release=RELEASE):
        st, err, m = self.op(OP_KUBE_QUERY, target(release))
        self.assertEqual(st, 0, err)
        return decode(m[RES_KUBE_QUERY][0])

    def test_query(self):
        q = self.query()
        self.assertEqual(q[1][0], 1)  # release_found
        self.assertEqual(s(q, 2), "gitlab-8.8.2")
        self.assertEqual(s(q, 3), "v17.8.2")
        self.assertEqual(s(q, 4), "deployed")
        self.assertEqual(s(q, 5), "gitlab-rails-storage")
        self.assertEqual(q[6][0], 1)
        deps = deployments(q, 7)
        self.assertEqual(deps["gitlab-webservice-default"], {"app": "webservice", "replicas": 2})
        self.assertEqual(deps["gitlab-sidekiq-all-in-1-v2"], {"app": "sidekiq", "replicas": 1})
        toolbox = list(kube_node.pods(self.kube, app="toolbox"))
        self.assertIn(s(q, 8), toolbox)
        secrets = [v.decode() for v in q.get(11, [])]
        self.assertIn("gitlab-rails-secret", secrets)
        self.assertIn("gitlab-gitlab-shell-secret", secrets)
        # Another release: not found, and not an error.
        q = self.query("other")
        self.assertEqual(q[1][0], 0)
        self.assertNotIn(7, q)

    def test_scale_and_back(self):
        web, sk = "gitlab-webservice-default", "gitlab-sidekiq-all-in-1-v2"
        st, err, m = self.op(OP_KUBE_SCALE, target() + field_bytes(2, deployment(web, 0)) +
                             field_bytes(2, deployment(sk, 0)))
        self.assertEqual(st, 0, err)
        before = deployments(decode(m[RES_KUBE_SCALE][0]), 1)
        self.assertEqual({k: v["replicas"] for k, v in before.items()}, {web: 2, sk: 1})
        now = {n: d["replicas"] for n, d in kube_node.deployments(self.kube).items()}
        self.assertEqual((now[web], now[sk]), (0, 0))
        self.assertEqual(kube_node.pods(self.kube, app="webservice"), {})
        st, err, m = self.op(OP_KUBE_SCALE, target() + field_bytes(2, deployment(web, 2)) +
                             field_bytes(2, deployment(sk, 1)))
        self.assertEqual(st, 0, err)
        self.assertEqual(len(kube_node.pods(self.kube, app="webservice")), 2)
        # One unknown name: refused, and nothing scaled.
        since = time.time()
        st, err, _ = self.op(OP_KUBE_SCALE, target() + field_bytes(2, deployment(web, 0)) +
                             field_bytes(2, deployment("gitlab-nope", 0)))
        self.assertEqual(st, LS_ENOENT)
        self.assertIn("gitlab-nope", err)
        calls = kube_node.read_calls(self.kube, since=since)
        self.assertFalse([c for c in calls if "scale" in c["argv"]], calls)
        self.assertEqual(len(kube_node.pods(self.kube, app="webservice")), 2)

    def test_restart_pods(self):
        old = set(kube_node.pods(self.kube))
        st, err, m = self.op(OP_KUBE_RESTART, target() + field_varint(2, 60000))
        self.assertEqual(st, 0, err)
        r = decode(m[RES_KUBE_RESTART][0])
        pods = kube_node.pods(self.kube)
        self.assertEqual(r[1][0], len(pods))
        # StatefulSet pods keep their names; every other pod is new.
        new = set(pods)
        self.assertEqual(old & new, {n for n in new if n.endswith("-0")})
        for name, p in pods.items():
            self.assertTrue(p["ready"], name)
        # A pod that never gets ready: a timeout naming a pod.
        kube_node.set_never_ready(self.kube, "sidekiq")
        try:
            st, err, _ = self.op(OP_KUBE_RESTART, target() + field_varint(2, 3000))
        finally:
            kube_node.set_never_ready(self.kube, "sidekiq", False)
        self.assertEqual(st, LS_ETIMEDOUT, err)
        self.assertIn("not ready: gitlab-sidekiq", err)


if __name__ == "__main__":
    testlib.run_main(__doc__, set_build)
