#!/usr/bin/env python3
"""KubeVerify (issue 9 step 3.6) on a real local fleet plus a kubernetes
node (the Kubernetes stand-in, integration/fixture/kube_node.py):

The fleet's uploads are moved to object storage with the fixture's
gitlab-rake task, a real fleet backup is taken and exported, and the
export restored on the chart side with the toolbox's backup-utility
(kubectl cp, kubectl exec), as the cutover's restore step does. Then
KubeVerify runs framed through `lockstep-agent-exec restore` with the
backup's row counts from its manifest:

- nothing differs: every table's count read on the chart side, every
  repository of both storages compared (one Gitaly pod per storage),
  uploads read through the chart's object storage connection, progress
  frames of component "verify";
- then, one at a time, an issue row deleted, a branch moved in a chart-side
  repository and an uploaded object overwritten: each is a difference
  naming the table, repository and ref, or upload, and the earlier ones
  are still named;
- a repository, a table and an upload's object storage missing on the
  chart side are named; the uploads read again through an S3 endpoint
  (fog provider AWS, Signature V4 checked by integration/fixture/s3_stub.py),
  a wrong secret key naming the upload, and a provider the agent does not
  read reported as not sampled.

    python3 integration/test_kube_verify.py --build BUILD_DIR [KubeVerifyTest.test_name]
"""
import json
import os
import subprocess
import sys
import unittest
import urllib.parse

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "fixture"))
import fleet  # noqa: E402
from fleet import DEFAULT_NODES, Fleet, clean_env, yq  # noqa: E402
import gitlab_node  # noqa: E402
import kube_node  # noqa: E402
import rails_files  # noqa: E402
from s3_stub import S3Stub  # noqa: E402
import testlib  # noqa: E402
from test_fixture_upgrade import decode, field_bytes, field_varint, s  # noqa: E402

BUILD = os.environ.get("LOCKSTEP_BUILD", "build")
KUBE, RAILS = "kube-1", "rails-1"
RELEASE, NS = "gitlab", "gitlab"
OP_KUBE_VERIFY, RES_KUBE_VERIFY = 38, 28
TABLES = ["public.projects", "public.namespaces", "public.users", "public.issues",
          "public.merge_requests", "public.uploads"]


def set_build(b):
    global BUILD
    BUILD = b


def zigzag(z):
    return (z >> 1) ^ -(z & 1)


class KubeVerifyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.f = Fleet(BUILD, nodes=DEFAULT_NODES + [(KUBE, ["kubernetes"])])
        try:
            cls.f.__enter__()
            cls.prepare()
        except BaseException:
            cls.f.__exit__(*sys.exc_info())
            raise

    @classmethod
    def tearDownClass(cls):
        cls.f.__exit__(None, None, None)

    @classmethod
    def prepare(cls):
        f = cls.f
        cls.kube = f.node_dir(KUBE)
        cls.exec_path = fleet.binaries(BUILD)["agent_exec"]
        # The chart deployed with the fleet's two Gitaly storages.
        cls.storages = sorted(f.storage_nodes, key=lambda n: (n != "default", n))
        kube_node.set_gitaly_storages(cls.kube, cls.storages)
        f.wait_until(lambda: all(p["ready"] for p in kube_node.pods(cls.kube).values()), 30,
                     "every pod of the release ready")
        # Uploads to object storage with GitLab's own task, the rails
        # node's gitlab.yml saying so: the backup skips them.
        rails = f.node_dir(RAILS)
        p = subprocess.run([gitlab_node.node_paths(rails)["rake"], "gitlab:uploads:migrate:all"],
                           capture_output=True, text=True, timeout=120, env=clean_env())
        assert p.returncode == 0, p.stdout + p.stderr
        gitlab_node.write_gitlab_yml(rails, RAILS, object_storage=("uploads",))
        rc, out = testlib.create_backup(f)
        assert rc == 0 and out["state"] == "complete", json.dumps(out, indent=1)
        cls.bid, cls.dest = out["id"], out["path"]
        with open(os.path.join(cls.dest, "lockstep", "manifest.json")) as fh:
            man = json.load(fh)
        rows = [n["cut"]["table_rows"] for n in man["nodes"] if (n.get("cut") or {}).get("table_rows")]
        assert rows, "the backup's manifest has no table_rows"
        cls.expected = {t: rows[0][t] for t in TABLES}
        # The export restored on the chart side through the toolbox pod.
        outdir = os.path.join(f.dir, "export")
        os.makedirs(outdir)
        tar = f.cli_json("backup", "export", cls.bid, "--output", outdir, timeout=600)["tar"]
        toolbox = sorted(kube_node.pods(cls.kube, app="toolbox"))[0]
        pod_tar = "/srv/gitlab/tmp/%s_gitlab_backup.tar" % cls.bid
        cls.kubectl("cp", tar, "%s:%s" % (toolbox, pod_tar), "-c", "toolbox")
        cls.kubectl("exec", toolbox, "-c", "toolbox", "--", "backup-utility", "--restore",
                    "-f", "file://" + pod_tar, timeout=600)
        cls.yml = os.path.join(f.dir, "agent-kube-verify.yml")
        k = kube_node.kube_paths(cls.kube)
        with open(cls.yml, "w") as fh:
            fh.write("\n".join([
                "state_dir: %s" % yq(os.path.join(cls.kube, "state-verify")),
                "op_timeout: 300s",
                "kubernetes:",
                "  kubectl: %s" % yq(k["kubectl"]),
                "  helm: %s" % yq(k["helm"]),
                "  kubeconfig: %s" % yq(k["kubeconfig"]),
            ]) + "\n")
        cls.op_id = 3800

    @classmethod
    def kubectl(cls, *args, timeout=120):
        p = subprocess.run([kube_node.kube_paths(cls.kube)["kubectl"], "-n", NS] + list(args),
                           capture_output=True, text=True, env=clean_env(), timeout=timeout)
        assert p.returncode == 0, "kubectl %s: %s%s" % (" ".join(args), p.stdout, p.stderr)
        return p.stdout

    def verify(self, sample=0):
        """KubeVerify through the framed `restore` command: (status,
        error, result dict, progress [(component, done, total)])."""
        type(self).op_id += 1
        oid = self.op_id
        body = (field_bytes(1, field_bytes(1, RELEASE) + field_bytes(2, NS)) +
                field_bytes(2, self.dest) + field_bytes(3, self.bid) +
                b"".join(field_bytes(4, field_bytes(1, t) + field_varint(2, n))
                         for t, n in self.expected.items()) +
                (field_varint(5, sample) if sample else b""))
        raw = field_varint(1, oid) + field_bytes(OP_KUBE_VERIFY, body)
        raw_result, frames = testlib.run_framed(
            self, [self.exec_path, "--config", self.yml, "restore"], oid, raw)
        result = decode(raw_result)
        progress = [(s(pr, 2), pr[4][0], pr[5][0]) for pr in frames]
        self.assertIn(RES_KUBE_VERIFY, result, result)
        r = decode(result[RES_KUBE_VERIFY][0])
        res = {"chart": {s(t, 1): t.get(2, [0])[0] for t in map(decode, r.get(1, []))},
               "repositories": r[2][0], "uploads_checked": r[3][0],
               "differences": [d.decode() for d in r.get(4, [])],
               "more": r.get(5, [0])[0]}
        return zigzag(result[2][0]), s(result, 3), res, progress

    def test_verify_then_break_one_thing_at_a_time(self):
        st, err, r, progress = self.verify()
        self.assertEqual(st, 0, err)
        self.assertEqual(r["differences"], [])
        self.assertEqual(r["more"], 0)
        self.assertEqual(r["chart"], self.expected)
        self.assertEqual(r["repositories"], len(self.f.repos))
        uploads = len(self.f.rails_files["uploads"])
        self.assertEqual(r["uploads_checked"], uploads)
        self.assertTrue(progress, "no progress frame")
        self.assertTrue(all(c == "verify" for c, _, _ in progress), progress)
        self.assertEqual(progress[-1], ("verify", len(self.f.repos), len(self.f.repos)))
        # Counts and the sample in one dbconsole session (stdin, -i); the
        # refs from each storage's own Gitaly pod.
        calls = [c["argv"] for c in kube_node.read_calls(self.kube, "kubectl")]
        self.assertTrue([a for a in calls if "dbconsole" in a and "-i" in a], calls)
        pods = {a[a.index("exec") + 1] for a in calls if "for-each-ref" in a}
        self.assertEqual(pods, {"%s-gitaly-%d" % (RELEASE, i) for i in range(len(self.storages))})

        # An issue row gone on the chart side.
        issues = self.expected["public.issues"]
        self.assertGreater(issues, 0)
        kube_node.chart_psql(self.kube, "DELETE FROM issues WHERE id = (SELECT min(id) FROM issues);")
        st, err, r, _ = self.verify()
        self.assertEqual(st, 0, err)
        want = ["public.issues: %d in the backup, %d on the chart side" % (issues, issues - 1)]
        self.assertEqual(r["differences"], want)

        # A branch moved in a chart-side repository (of the second storage).
        repo = [x for x in self.f.repos if x["storage"] == self.storages[-1] and not x["empty"]][0]
        gitdir = os.path.join(kube_node.chart_repo_dir(self.kube, repo["storage"]), repo["disk_path"] + ".git")
        git = lambda *a: subprocess.run([fleet.GIT, "--git-dir", gitdir] + list(a), capture_output=True,  # noqa: E731
                                        text=True, env=clean_env(fleet.GIT_ENV), timeout=60, check=True).stdout.strip()
        old, new = git("rev-parse", "refs/heads/main"), git("rev-parse", "refs/heads/main~1")
        git("update-ref", "refs/heads/main", new)
        st, err, r, _ = self.verify()
        self.assertEqual(st, 0, err)
        want.append("repository %s/%s.git: ref refs/heads/main is %s in the backup, %s on the chart side"
                    % (repo["storage"], repo["disk_path"], old, new))
        self.assertEqual(r["differences"], want)

        # An uploaded object's bytes overwritten in object storage.
        key = kube_node.chart_psql(self.kube, "SELECT path FROM uploads WHERE id = 2;")
        obj = os.path.join(self.f.objstore_dir, rails_files.OBJSTORE_BUCKETS["uploads"], key)
        self.assertTrue(os.path.isfile(obj), obj)
        with open(obj, "wb") as fh:
            fh.write(b"not what was uploaded\n")
        st, err, r, _ = self.verify()
        self.assertEqual(st, 0, err)
        self.assertEqual(len(r["differences"]), 3, r["differences"])
        self.assertEqual(r["differences"][:2], want)
        self.assertRegex(r["differences"][2],
                         r"^upload 2 \(%s\): sha256 [0-9a-f]{64} in object storage \(gitlab-uploads\), "
                         r"[0-9a-f]{64} in uploads.checksum$" % key.replace(".", r"\."))
        self.assertEqual(r["uploads_checked"], uploads)

    def test_missing_things_and_unsupported_provider(self):
        """Runs after the case above or alone: its own differences are
        looked for among whatever else differs."""
        repo = [x for x in self.f.repos if x["storage"] == "default" and not x["empty"]][0]
        gitdir = os.path.join(kube_node.chart_repo_dir(self.kube, "default"), repo["disk_path"] + ".git")
        aside = gitdir + ".aside"
        os.rename(gitdir, aside)
        kube_node.chart_psql(self.kube, "UPDATE uploads SET store = 1 WHERE id = 1;"
                                        "ALTER TABLE merge_requests RENAME TO merge_requests_gone;")
        try:
            self.missing_and_aws(repo)
        finally:
            os.rename(aside, gitdir)
            kube_node.chart_psql(self.kube, "UPDATE uploads SET store = 2 WHERE id = 1;"
                                            "ALTER TABLE merge_requests_gone RENAME TO merge_requests;")

    def missing_and_aws(self, repo):
        st, err, r, _ = self.verify()
        self.assertEqual(st, 0, err)
        d = r["differences"]
        self.assertIn("repository default/%s.git: missing on the chart side (%s-gitaly-0)"
                      % (repo["disk_path"], RELEASE), d)
        self.assertIn("public.merge_requests: %d in the backup, table missing on the chart side"
                      % self.expected["public.merge_requests"], d)
        self.assertNotIn("public.merge_requests", r["chart"])
        path1 = kube_node.chart_psql(self.kube, "SELECT path FROM uploads WHERE id = 1;")
        self.assertIn("upload 1 (%s): on local storage on the chart side (store 1), not in object storage"
                      % path1, d)
        # The repository was still counted as compared; the local upload
        # is not sampled.
        self.assertEqual(r["repositories"], len(self.f.repos))
        self.assertEqual(r["uploads_checked"], len(self.f.rails_files["uploads"]) - 1)

        # The same objects behind an S3 endpoint (fog provider AWS,
        # path-style), every request's Signature V4 checked by the stub.
        key2 = kube_node.chart_psql(self.kube, "SELECT path FROM uploads WHERE id = 2;")
        conn = kube_node.secrets(self.kube)["gitlab-rails-storage"]
        stub = S3Stub(self.f.objstore_dir, "AKIAFIXTURE", "fixture-secret-value", "eu-west-1").start()

        def aws(secret, provider="AWS"):
            kube_node.set_secret(self.kube, "gitlab-rails-storage", {
                "connection": "provider: %s\nregion: eu-west-1\naws_access_key_id: AKIAFIXTURE\n"
                              "aws_secret_access_key: %s\nendpoint: %s\npath_style: true\n"
                              % (provider, secret, stub.endpoint)})
            return self.verify()
        try:
            st, err, r, _ = aws("fixture-secret-value")
            self.assertEqual(st, 0, err)
            self.assertEqual(r["uploads_checked"], len(self.f.rails_files["uploads"]) - 1)
            self.assertFalse([x for x in r["differences"] if "not sampled" in x or "cannot read" in x],
                             r["differences"])
            self.assertIn(("GET", "/gitlab-uploads/" + urllib.parse.quote(key2, safe="/-_.~"), 200),
                          stub.requests)
            # A wrong secret key: S3 refuses, and the upload is named.
            st, err, r, _ = aws("not-the-secret")
            self.assertEqual(st, 0, err)
            self.assertEqual(r["uploads_checked"], 0)
            self.assertIn("upload 2 (%s): cannot read gitlab-uploads/%s from object storage: HTTP 403 "
                          "SignatureDoesNotMatch" % (key2, key2), r["differences"])
            # A provider this agent does not read: said so, not passed.
            st, err, r, _ = aws("fixture-secret-value", provider="Google")
            self.assertEqual(st, 0, err)
            notes = [x for x in r["differences"] if x.startswith("uploads not sampled")]
            self.assertEqual(len(notes), 1, r["differences"])
            self.assertIn("provider Google (Secret gitlab-rails-storage) is not supported by this agent yet",
                          notes[0])
            for x in r["differences"]:
                self.assertNotIn("fixture-secret-value", x)
        finally:
            stub.stop()
            kube_node.set_secret(self.kube, "gitlab-rails-storage", conn)

if __name__ == "__main__":
    testlib.run_main(__doc__, set_build)
