#!/usr/bin/env python3
"""KubeRestore (issue 9, step 3.4) against the Kubernetes stand-in
(integration/fixture/kube_node.py), run through `lockstep-agent-exec
restore` (framed) on a kubernetes node laid out beside a real fleet:

- a real fleet backup is exported, checked against the toolbox pod's df,
  copied in with kubectl cp and restored by backup-utility into the chart
  side: every table's rows and every repository's refs equal the fleet's,
  backup-utility's lines came in Progress frames, and the tar is gone from
  the pod and from the agent's scratch directory;
- a pod without room for it: refused naming the pod and both sizes, with
  no kubectl cp made;
- backup-utility failing: the operation fails quoting its last line, and
  the tar is still removed from the pod;
- no ready toolbox pod: refused naming the release and namespace;
- a restore killed (SIGKILL) mid-way: the next one removes the scratch
  directory it left.

    python3 integration/test_kube_restore.py --build BUILD_DIR [KubeRestoreTest.test_name]
"""
import os
import signal
import struct
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "fixture"))
import fleet  # noqa: E402
from fleet import Fleet, clean_env, yq  # noqa: E402
import gitlab_node  # noqa: E402
import kube_node  # noqa: E402
import testlib  # noqa: E402
from test_fixture_upgrade import decode, field_bytes, field_varint, s  # noqa: E402

BUILD = os.environ.get("LOCKSTEP_BUILD", "build")
RELEASE, NS = "gitlab", "gitlab"
POD_DIR = "/srv/gitlab/tmp"
# Operation and OpResult fields (proto/lockstep.proto).
OP_KUBE_RESTORE, RES_KUBE_RESTORE = 35, 25
LS_ECHILD, LS_ENOSPC, LS_ENOENT = -1011, -28, -2


def set_build(b):
    global BUILD
    BUILD = b


def zigzag(z):
    return (z >> 1) ^ -(z & 1)


class KubeRestoreTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        exec_path = fleet.binaries(BUILD)["agent_exec"]
        if not os.path.exists(exec_path):
            raise AssertionError("no %s (build the project first)" % exec_path)
        cls.exec_path = exec_path
        cls.f = Fleet(BUILD)
        try:
            cls.f.__enter__()
            cls.setup_fleet()
        except BaseException:
            cls.f.__exit__(*sys.exc_info())
            raise

    @classmethod
    def setup_fleet(cls):
        f = cls.f
        rc, out = testlib.create_backup(f)
        if rc != 0 or out.get("state") != "complete":
            raise AssertionError("backup create failed: %r" % (out,))
        cls.bid = out["id"]
        cls.backup_dir = os.path.join(f.coordinator_state_dir, "backups", cls.bid)
        # A kubernetes node beside the fleet, its chart side a database
        # in the fleet's PostgreSQL and one repository root per storage.
        cls.kube = os.path.join(f.dir, "kube-1")
        version, _ = gitlab_node.split_version(f.gitlab_version)
        kube_node.make_kube_node(cls.kube, release=RELEASE, namespace=NS, app_version=version,
                                 chart_side={"pg_host": f.pg_socket_dir, "pg_port": f.pg_port,
                                             "pg_user": fleet.PG_USER,
                                             "storages": sorted(f.storage_nodes)})
        kube_node.create_chart_database(cls.kube)
        k = kube_node.kube_paths(cls.kube)
        cls.staging = os.path.join(cls.kube, "staging")
        cls.yml = os.path.join(f.dir, "agent-kube-restore.yml")
        with open(cls.yml, "w") as fh:
            fh.write("\n".join([
                "state_dir: %s" % yq(os.path.join(cls.kube, "state")),
                "backup_staging_dir: %s" % yq(cls.staging),
                "op_timeout: 300s",
                "kubernetes:",
                "  kubectl: %s" % yq(k["kubectl"]),
                "  helm: %s" % yq(k["helm"]),
                "  kubeconfig: %s" % yq(k["kubeconfig"]),
                "  restore_timeout: 300s",
            ]) + "\n")
        cls.op_id = 3500

    @classmethod
    def tearDownClass(cls):
        cls.f.__exit__(None, None, None)

    def tearDown(self):
        kube_node.set_toolbox_free_kb(self.kube, kube_node.DEFAULT_TOOLBOX_FREE_KB)
        kube_node.set_restore_fail(self.kube, False)
        kube_node.set_never_ready(self.kube, "toolbox", False)

    # --- running the operation
    def request(self, backup_id=None, backup_dir=None, pod_dir=None):
        """A new op id and the KubeRestore operation, encoded."""
        type(self).op_id += 1
        oid = self.op_id
        body = (field_bytes(1, field_bytes(1, RELEASE) + field_bytes(2, NS)) +
                field_bytes(2, backup_dir or self.backup_dir) + field_bytes(3, backup_id or self.bid))
        if pod_dir is not None:
            body += field_bytes(4, pod_dir)
        return oid, field_varint(1, oid) + field_bytes(OP_KUBE_RESTORE, body)

    def restore(self, backup_id=None, backup_dir=None, pod_dir=None):
        """KubeRestore through the framed `restore` command:
        (result dict, [progress (component, bytes, lines)])."""
        oid, raw = self.request(backup_id, backup_dir, pod_dir)
        raw_result, frames = testlib.run_framed(
            self, [self.exec_path, "--config", self.yml, "restore"], oid, raw, timeout=600)
        m = decode(raw_result)
        progress = [(s(pr, 2), pr[3][0], [ln.decode() for ln in pr.get(6, [])]) for pr in frames]
        result = {"op_id": m[1][0], "status": zigzag(m[2][0]), "error": s(m, 3)}
        if RES_KUBE_RESTORE in m:
            k = decode(m[RES_KUBE_RESTORE][0])
            result.update({"output_tail": s(k, 1), "bytes": k.get(2, [None])[0],
                           "ms": k.get(3, [None])[0], "pod": s(k, 4)})
        return result, progress

    def toolbox(self):
        pods = list(kube_node.pods(self.kube, app="toolbox"))
        self.assertEqual(len(pods), 1, pods)
        return pods[0]

    def tars_in_pod(self, pod):
        found = []
        for root, _, files in os.walk(kube_node.pod_fs(self.kube, pod)):
            found += [os.path.join(root, fn) for fn in files if fn.endswith("_gitlab_backup.tar")]
        return found

    def assert_no_local_temp(self):
        left = [n for n in os.listdir(self.staging)] if os.path.isdir(self.staging) else []
        self.assertEqual(left, [], "left in the scratch directory")

    def kubectl_calls(self, since, verb):
        return [c["argv"] for c in kube_node.read_calls(self.kube, cmd="kubectl", since=since)
                if verb in c["argv"]]

    # --- what the fleet and the chart side hold
    def tables(self):
        return [t for t in self.f.psql(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
            "AND table_type = 'BASE TABLE' ORDER BY 1").split() if t != "application_settings"]

    @staticmethod
    def digest_sql(t):
        return ("SELECT count(*) || ' ' || coalesce(md5(string_agg(x::text, ',' ORDER BY x::text)), '') "
                "FROM %s x" % t)

    def refs(self, gitdir):
        p = subprocess.run([fleet.GIT, "--git-dir", gitdir, "for-each-ref",
                            "--format=%(objectname) %(refname)"], capture_output=True, text=True,
                           env=clean_env(fleet.GIT_ENV), timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        return sorted(p.stdout.splitlines())

    # --- cases
    def test_restore_into_the_chart(self):
        pod = self.toolbox()
        since = time.time()
        r, progress = self.restore()
        self.assertEqual(r["status"], 0, r["error"])
        self.assertEqual(r["pod"], pod)
        self.assertGreater(r["bytes"], 0)
        self.assertEqual(r["bytes"] % 10240, 0)  # GNU tar's records
        self.assertIsNotNone(r["ms"])
        self.assertTrue(r["output_tail"].endswith("Restore task is done.\n"), r["output_tail"])
        self.assertLessEqual(len(r["output_tail"].splitlines()), 20)

        # The chart side holds the backup: every table's rows, and every
        # repository with the same refs (nothing changed since the backup).
        tables = self.tables()
        self.assertIn("projects", tables)
        for t in tables:
            self.assertEqual(kube_node.chart_psql(self.kube, self.digest_sql(t)),
                             self.f.psql(self.digest_sql(t)), "table %s" % t)
        self.assertGreater(int(kube_node.chart_psql(self.kube, "SELECT count(*) FROM projects")), 0)
        with_refs = [x for x in self.f.repos if not x["empty"]]
        self.assertGreater(len(with_refs), 0)
        for repo in with_refs:
            chart = os.path.join(kube_node.chart_repo_dir(self.kube, repo["storage"]),
                                 repo["disk_path"] + ".git")
            self.assertTrue(os.path.isdir(chart), chart)
            self.assertEqual(self.refs(chart), self.refs(repo["git_dir"]), repo["disk_path"])

        # backup-utility's lines came in Progress frames, in order.
        self.assertTrue(progress)
        # bytes: the tar's size once it is known (0 before the export).
        self.assertTrue(all(c == "kube_restore" and b in (0, r["bytes"]) for c, b, _ in progress), progress)
        self.assertTrue(all(b == r["bytes"] for _, b, ls in progress if "Unpacking backup" in ls))
        lines = [ln for _, _, ls in progress for ln in ls]
        self.assertTrue(all(len(ls) <= 50 for _, _, ls in progress))
        pod_tar = "%s/%s_gitlab_backup.tar" % (POD_DIR, self.bid)
        want = ["Downloading backup from file://%s" % pod_tar, "Unpacking backup",
                "Restoring repositories ... done", "Restore task is done."]
        at = [lines.index(w) for w in want]
        self.assertEqual(at, sorted(at), lines)
        self.assertTrue(any(ln.startswith("exporting %s" % self.backup_dir) for ln in lines), lines)
        self.assertIn("removed %s from pod %s" % (pod_tar, pod), lines)

        # One copy, into the toolbox container, at the path backup-utility read.
        cps = self.kubectl_calls(since, "cp")
        self.assertEqual(len(cps), 1, cps)
        self.assertIn("%s/%s:%s" % (NS, pod, pod_tar), cps[0])
        self.assertEqual(cps[0][cps[0].index("-c") + 1], "toolbox")
        # Nothing left behind, in the pod or here.
        self.assertEqual(self.tars_in_pod(pod), [])
        self.assert_no_local_temp()

    def test_pod_without_room_is_refused_before_the_copy(self):
        pod = self.toolbox()
        kube_node.set_toolbox_free_kb(self.kube, 64)
        since = time.time()
        r, _ = self.restore()
        self.assertEqual(r["status"], LS_ENOSPC, r)
        self.assertIn("toolbox pod %s has %d bytes available in %s" % (pod, 64 * 1024, POD_DIR), r["error"])
        self.assertIn("needs %d (3 x the %d-byte tar" % (3 * r["bytes"], r["bytes"]), r["error"])
        self.assertEqual(self.kubectl_calls(since, "cp"), [])
        self.assertEqual([a for a in self.kubectl_calls(since, "exec") if "backup-utility" in a], [])
        self.assert_no_local_temp()

    def test_backup_utility_failure(self):
        pod = self.toolbox()
        kube_node.set_restore_fail(self.kube, True)
        r, progress = self.restore()
        self.assertEqual(r["status"], LS_ECHILD, r)
        self.assertIn("backup-utility --restore in pod %s: exit 1: "
                      "ERROR: restore failed (fixture knob restore_fail)" % pod, r["error"])
        self.assertTrue(r["output_tail"].endswith("ERROR: restore failed (fixture knob restore_fail)\n"),
                        r["output_tail"])
        lines = [ln for _, _, ls in progress for ln in ls]
        self.assertIn("Unpacking backup", lines)
        self.assertIn("command terminated with exit code 1", lines)
        self.assertEqual(self.tars_in_pod(pod), [])
        self.assert_no_local_temp()

    def test_killed_restore_leaves_nothing_for_the_next(self):
        """The helper and its kubectl killed (SIGKILL) while backup-utility
        runs: the scratch directory it leaves is removed by the next
        restore, which says so."""
        _, raw = self.request()
        kube_node.set_stall(self.kube, "backup-utility")
        since = time.time()
        p = subprocess.Popen([self.exec_path, "--config", self.yml, "restore"],
                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env=clean_env(), start_new_session=True)
        try:
            p.stdin.write(struct.pack(">I", len(raw)) + raw)
            p.stdin.close()
            deadline = time.monotonic() + 300
            while not [a for a in self.kubectl_calls(since, "exec") if "backup-utility" in a]:
                self.assertIsNone(p.poll(), "the restore ended before backup-utility ran")
                self.assertLess(time.monotonic(), deadline, "backup-utility never ran")
                time.sleep(0.05)
        finally:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=60)
            kube_node.set_stall(self.kube, "backup-utility", False)
        left = [n for n in os.listdir(self.staging) if n.startswith("kube-restore.")]
        self.assertEqual(len(left), 1, left)

        r, progress = self.restore()
        self.assertEqual(r["status"], 0, r["error"])
        lines = [ln for _, _, ls in progress for ln in ls]
        self.assertIn("removed 1 kube-restore directory left in %s by a restore that was killed"
                      % self.staging, lines)
        self.assert_no_local_temp()

    def test_no_ready_toolbox(self):
        kube_node.set_never_ready(self.kube, "toolbox")
        since = time.time()
        r, _ = self.restore()
        self.assertEqual(r["status"], LS_ENOENT, r)
        self.assertIn("release %s in namespace %s has no running, ready toolbox pod" % (RELEASE, NS),
                      r["error"])
        self.assertEqual(self.kubectl_calls(since, "cp"), [])
        self.assert_no_local_temp()

    def test_bad_arguments_refused(self):
        since = time.time()
        for kw, what in ((dict(backup_id="../x"), "backup_id '../x'"),
                         (dict(backup_dir="relative/dir"), "backup_dir 'relative/dir'"),
                         (dict(pod_dir="/srv/../etc"), "pod_dir '/srv/../etc'"),
                         (dict(pod_dir="/srv/gitlab tmp"), "pod_dir '/srv/gitlab tmp'")):
            r, _ = self.restore(**kw)
            self.assertEqual(r["status"], -22, r)  # LS_EINVAL
            self.assertIn(what, r["error"])
        self.assertEqual(kube_node.read_calls(self.kube, since=since), [])


if __name__ == "__main__":
    testlib.run_main(__doc__, set_build)
