#!/usr/bin/env python3
"""The cutover's agent operations against the GitLab node fixture.

    python3 integration/test_cutover_ops.py --build BUILD_DIR [NAME ...]

lockstep-agent-exec runs RepoFsck (framed, `restore` command) over the
gitaly nodes' real repositories, StorageCounts against the fixture's real
PostgreSQL, and RakeTask with the fixture's object storage migrations,
which move the files into <fleet>/objstore/. No coordinator. Standard
library only: the few protobuf messages are encoded here by hand.
"""
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree

import argparse  # noqa: E402
import glob  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import unittest  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fleet  # noqa: E402
from fleet import FixtureEnv, clean_env, yq  # noqa: E402
import gitlab_node  # noqa: E402
import rails_files  # noqa: E402
import testlib  # noqa: E402
from test_fixture_upgrade import decode, field_bytes, field_varint, s  # noqa: E402

BUILD = os.environ.get("LOCKSTEP_BUILD", os.path.join(os.path.dirname(HERE), "build"))
RAILS = "rails-1"
# Operation fields (proto/lockstep.proto).
OP_REPO_FSCK, OP_STORAGE_COUNTS, OP_RAKE_TASK = 28, 29, 30
# task -> component, table, rows seeded by fleet.py
TASKS = {
    "gitlab:uploads:migrate:all": ("uploads", "uploads"),
    "gitlab:artifacts:migrate": ("artifacts", "ci_job_artifacts"),
    "gitlab:lfs:migrate": ("lfs", "lfs_objects"),
    "gitlab:packages:migrate": ("packages", "packages_package_files"),
    "gitlab:terraform_states:migrate": ("terraform_state", "terraform_state_versions"),
    "gitlab:pages:deployments:migrate": ("pages", "pages_deployments"),
    "gitlab:ci_secure_files:migrate": ("ci_secure_files", "ci_secure_files"),
}


def zigzag(z):
    return (z >> 1) ^ -(z & 1)


def op_result(raw):
    """OpResult: op_id, status, error and the cutover kinds."""
    m = decode(raw)
    r = {"op_id": m[1][0], "status": zigzag(m[2][0]), "error": s(m, 3)}
    if 19 in m:
        f = decode(m[19][0])
        r["repo_fsck"] = {"checked": f[1][0], "failures": [
            {"storage": s(x, 1), "relative_path": s(x, 2), "error": s(x, 3)}
            for x in map(decode, f.get(2, []))]}
    if 20 in m:
        c = decode(m[20][0])
        r["counts"] = {}
        for x in map(decode, c.get(1, [])):
            r["counts"][s(x, 1)] = {"table": s(x, 2), "local": x[3][0], "remote": x[4][0],
                                    "error": s(x, 5)}
    if 21 in m:
        t = decode(m[21][0])
        r["rake"] = {"output_tail": s(t, 1), "ms": t.get(2, [None])[0]}
    return r


class CutoverOpsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.exec_path = fleet.binaries(BUILD)["agent_exec"]
        if not os.path.exists(cls.exec_path):
            # Not a skip: a test that cannot run fails, saying why.
            raise AssertionError("no %s (build the project first)" % cls.exec_path)
        cls.env = FixtureEnv(quiet=True)
        cls.env.__enter__()
        cls.op_id = 500

    @classmethod
    def tearDownClass(cls):
        cls.env.__exit__(None, None, None)

    # --- running the executor
    def agent_yml(self, node, storages=None):
        env = self.env
        p = env.node_paths(node)
        lines = ["state_dir: %s" % yq(p["state_dir"]), "op_timeout: 120s", "gitlab:",
                 "  ctl: %s" % yq(p["ctl"]), "  version_manifest: %s" % yq(p["version_manifest"]),
                 "  rake: %s" % yq(p["rake"]),
                 "postgresql:", "  conninfo: %s" % yq(env.pg_conninfo),
                 "gitaly:", "  git: %s" % yq(fleet.GIT), "  fsck_timeout: 60s"]
        storages = storages if storages is not None else env.storages.get(node, [])
        if storages:
            lines.append("  storages:")
        for sname, spath in storages:
            lines += ["    - name: %s" % yq(sname), "      path: %s" % yq(spath)]
        path = os.path.join(env.dir, "agent-cutover-%s.yml" % node)
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def next_id(self):
        type(self).op_id += 1
        return self.op_id

    def op(self, node, kind, body):
        """`lockstep-agent-exec op`: one Operation in, one OpResult out."""
        oid = self.next_id()
        raw = field_varint(1, oid) + field_bytes(kind, body)
        p = subprocess.run([self.exec_path, "--config", self.agent_yml(node), "op"], input=raw,
                           capture_output=True, timeout=180, env=clean_env())
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
        r = op_result(p.stdout)
        self.assertEqual(r["op_id"], oid)
        return r

    def fsck(self, node, jobs=None, storages=None):
        """RepoFsck through the framed `restore` command: (result, progress)."""
        oid = self.next_id()
        body = field_varint(1, jobs) if jobs is not None else b""
        raw = field_varint(1, oid) + field_bytes(OP_REPO_FSCK, body)
        msg, frames = testlib.run_framed(
            self, [self.exec_path, "--config", self.agent_yml(node, storages), "restore"],
            oid, raw, timeout=180)
        progress = [(s(pr, 2), pr[4][0], pr[5][0]) for pr in frames]
        result = op_result(msg)
        self.assertEqual(result["op_id"], oid)
        return result, progress

    def counts(self):
        r = self.op("postgresql-1", OP_STORAGE_COUNTS, b"")
        self.assertEqual(r["status"], 0, r["error"])
        return r["counts"]

    def rake(self, task):
        return self.op(RAILS, OP_RAKE_TASK, field_bytes(1, task))

    # --- RepoFsck
    def test_fsck_every_repository(self):
        total = 0
        for node in ("gitaly-1", "gitaly-2"):
            want = [r for r in self.env.repos if r["node"] == node]
            self.assertGreater(len(want), 0)
            r, progress = self.fsck(node, jobs=2)
            self.assertEqual(r["status"], 0, r["error"])
            self.assertEqual(r["repo_fsck"], {"checked": len(want), "failures": []})
            # At least the first frame: nothing done yet, the total known.
            self.assertEqual(progress[0], ("fsck", 0, len(want)))
            self.assertTrue(all(c == "fsck" and t == len(want) and d <= t for c, d, t in progress))
            total += r["repo_fsck"]["checked"]
        self.assertEqual(total, len(self.env.repos))
        # The default number of jobs (the cores) checks the same.
        r, _ = self.fsck("gitaly-1")
        self.assertEqual(r["status"], 0, r["error"])
        self.assertEqual(r["repo_fsck"]["checked"],
                         len([x for x in self.env.repos if x["node"] == "gitaly-1"]))

    def test_fsck_names_the_corrupt_repository(self):
        victim = [r for r in self.env.repos if r["node"] == "gitaly-2" and not r["empty"]][0]
        gitdir = victim["git_dir"]
        git_env = clean_env(dict(fleet.GIT_ENV, HOME=self.env.dir))
        saved = os.path.join(self.env.dir, "repo-saved.git")
        shutil.copytree(gitdir, saved, symlinks=True)
        try:
            # Loose objects, so that one object is one file.
            packs = glob.glob(os.path.join(gitdir, "objects", "pack", "pack-*.pack"))
            for pack in packs:
                os.rename(pack, pack + ".aside")
                with open(pack + ".aside", "rb") as fh:
                    subprocess.run([fleet.GIT, "--git-dir", gitdir, "unpack-objects", "-q"], stdin=fh,
                                   env=git_env, check=True, timeout=60)
            for f in glob.glob(os.path.join(gitdir, "objects", "pack", "pack-*")):
                os.unlink(f)
            blob = subprocess.run([fleet.GIT, "--git-dir", gitdir, "rev-parse", "main:README.md"],
                                  capture_output=True, text=True, env=git_env, check=True).stdout.strip()
            os.unlink(os.path.join(gitdir, "objects", blob[:2], blob[2:]))
            r, _ = self.fsck("gitaly-2", jobs=3)
            self.assertEqual(r["status"], 0, r["error"])
            fs = r["repo_fsck"]
            self.assertEqual(fs["checked"], len([x for x in self.env.repos if x["node"] == "gitaly-2"]))
            self.assertEqual([(f["storage"], f["relative_path"]) for f in fs["failures"]],
                             [(victim["storage"], victim["disk_path"] + ".git")])
            err = fs["failures"][0]["error"]
            self.assertIn(blob, err)
            self.assertLessEqual(len(err), 300)
            # The other node's repositories are not affected.
            r, _ = self.fsck("gitaly-1")
            self.assertEqual(r["repo_fsck"]["failures"], [])
        finally:
            shutil.rmtree(gitdir)
            shutil.copytree(saved, gitdir, symlinks=True)
            shutil.rmtree(saved)
        r, _ = self.fsck("gitaly-2")
        self.assertEqual(r["repo_fsck"]["failures"], [])

    def test_fsck_unreadable_storage_is_an_error(self):
        missing = os.path.join(self.env.dir, "no-such-storage")
        r, _ = self.fsck("gitaly-1", storages=self.env.storages["gitaly-1"] + [("storage9", missing)])
        self.assertLess(r["status"], 0)
        self.assertIn("gitaly storage 'storage9' (%s)" % missing, r["error"])
        self.assertIn("No such file or directory", r["error"])

    # --- StorageCounts and RakeTask
    def seeded(self):
        return {comp: len(self.env.rails_files[comp]) for comp, _ in TASKS.values()}

    def test_rake_refuses_tasks_off_the_list(self):
        gitlab_node.clear_calls(self.env.node_dir(RAILS))
        for task in ("db:drop", "gitlab:uploads:migrate:all extra", "gitlab:backup:create", ""):
            r = self.rake(task)
            self.assertEqual(r["status"], -22, r)  # LS_EINVAL
            self.assertIn("rake task '%s' is not an object storage migration task" % task, r["error"])
        self.assertEqual(self.env.calls(RAILS, "gitlab-rake"), [])

    def test_missing_table_is_the_components_error(self):
        self.env.psql("ALTER TABLE pages_deployments RENAME TO pages_deployments_gone;")
        try:
            c = self.counts()
        finally:
            self.env.psql("ALTER TABLE pages_deployments_gone RENAME TO pages_deployments;")
        self.assertEqual(c["pages"]["table"], "pages_deployments")
        self.assertIn("table pages_deployments does not exist", c["pages"]["error"])
        self.assertIsNone(c["lfs"]["error"])

    def test_counts_and_migrations(self):
        env, node = self.env, self.env.node_dir(RAILS)
        seeded = self.seeded()
        c = self.counts()
        self.assertEqual(list(c), ["uploads", "artifacts", "lfs", "packages", "terraform_state", "pages",
                                   "ci_secure_files"])
        for task, (comp, table) in TASKS.items():
            self.assertGreater(seeded[comp], 0, comp)
            self.assertEqual(c[comp], {"table": table, "local": seeded[comp], "remote": 0, "error": None})
        # NULL is local, as GitLab reads it.
        env.psql("UPDATE uploads SET store = NULL WHERE id = 1;")
        self.assertEqual(self.counts()["uploads"]["local"], seeded["uploads"])

        # A task that fails: an error quoting its last stderr line, the
        # tail still sent, nothing moved.
        gitlab_node.set_rake_fail(node, ["gitlab:lfs:migrate"])
        try:
            r = self.rake("gitlab:lfs:migrate")
        finally:
            gitlab_node.set_rake_fail(node, [])
        self.assertLess(r["status"], 0)
        self.assertIn("exit status 1: StandardError: gitlab:lfs:migrate failed (fixture rake-fail)",
                      r["error"])
        self.assertIn("rake aborted!", r["rake"]["output_tail"])
        # A task that reports success but moves nothing: still local.
        gitlab_node.set_rake_stall(node, ["gitlab:lfs:migrate"])
        try:
            r = self.rake("gitlab:lfs:migrate")
        finally:
            gitlab_node.set_rake_stall(node, [])
        self.assertEqual(r["status"], 0, r["error"])
        self.assertIn("Transferred LFS object", r["rake"]["output_tail"])
        self.assertEqual(self.counts()["lfs"]["local"], seeded["lfs"])

        for task, (comp, table) in TASKS.items():
            local_dir = rails_files.component_dir(node, comp)
            bucket = os.path.join(env.objstore_dir, rails_files.OBJSTORE_BUCKETS[comp])
            rels = [self.rel(comp, f) for f in env.rails_files[comp]]
            for rel in rels:
                self.assertTrue(os.path.isfile(os.path.join(local_dir, rel)), rel)
            r = self.rake(task)
            self.assertEqual(r["status"], 0, r["error"])
            tail = r["rake"]["output_tail"]
            self.assertIn("Transferred %d of %d %s to object storage" % (len(rels), len(rels), comp), tail)
            self.assertLessEqual(len(tail.splitlines()), 20)
            self.assertIsNotNone(r["rake"]["ms"])
            for rel in rels:
                self.assertFalse(os.path.exists(os.path.join(local_dir, rel)), rel)
                self.assertTrue(os.path.isfile(os.path.join(bucket, rel)), rel)
            self.assertEqual(self.counts()[comp], {"table": table, "local": 0, "remote": seeded[comp],
                                                    "error": None})
        # Run again: nothing left to move.
        r = self.rake("gitlab:uploads:migrate:all")
        self.assertEqual(r["status"], 0, r["error"])
        self.assertIn("Transferred 0 of 0 uploads", r["rake"]["output_tail"])
        self.assertTrue(all(v["local"] == 0 for v in self.counts().values()))
        calls = [c["argv"] for c in env.calls(RAILS, "gitlab-rake")]
        self.assertEqual(calls[-len(TASKS) - 1:], [[t] for t in TASKS] + [["gitlab:uploads:migrate:all"]])

    @staticmethod
    def rel(comp, f):
        if comp == "uploads":
            return rails_files.rails_file_rel(comp, f)
        if comp == "artifacts":
            return rails_files.rails_file_rel(comp, dict(f, day="2025_02_21"))
        if comp == "lfs":
            return rails_files.rails_file_rel(comp, f)
        return f["rel"]


class CiDatabaseCountsTest(unittest.TestCase):
    """With a separate CI database, its tables are counted there."""

    def test_ci_tables_counted_in_the_ci_database(self):
        exec_path = fleet.binaries(BUILD)["agent_exec"]
        if not os.path.exists(exec_path):
            self.skipTest("no %s (build the project)" % exec_path)
        with FixtureEnv(quiet=True, ci_database=True) as env:
            p = env.node_paths("postgresql-1")
            path = os.path.join(env.dir, "agent-ci.yml")
            with open(path, "w") as f:
                f.write("state_dir: %s\npostgresql:\n  conninfo: %s\n  ci_conninfo: %s\n" % (
                    yq(p["state_dir"]), yq(env.pg_conninfo), yq(env.pg_ci_conninfo)))
            env.psql("UPDATE ci_job_artifacts SET file_store = 2 WHERE id = (SELECT min(id) FROM "
                     "ci_job_artifacts);", db=fleet.PG_CI_DB)
            ci_rows = int(env.psql("SELECT count(*) FROM ci_job_artifacts", db=fleet.PG_CI_DB))
            main_rows = int(env.psql("SELECT count(*) FROM ci_job_artifacts"))
            self.assertNotEqual(ci_rows, main_rows)
            raw = field_varint(1, 7) + field_bytes(OP_STORAGE_COUNTS, b"")
            out = subprocess.run([exec_path, "--config", path, "op"], input=raw, capture_output=True,
                                 timeout=120, env=clean_env())
            self.assertEqual(out.returncode, 0, out.stderr.decode(errors="replace"))
            r = op_result(out.stdout)
            self.assertEqual(r["status"], 0, r["error"])
            c = r["counts"]
            self.assertEqual((c["artifacts"]["local"], c["artifacts"]["remote"]), (ci_rows - 1, 1))
            # The fixture's CI schema has no ci_secure_files table.
            self.assertIn("table ci_secure_files does not exist (ci database %s)" % fleet.PG_CI_DB,
                          c["ci_secure_files"]["error"])
            # The main database's tables are still read there.
            self.assertEqual(c["lfs"], {"table": "lfs_objects", "local": len(env.rails_files["lfs"]),
                                        "remote": 0, "error": None})


def main():
    global BUILD
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=BUILD, help="Lockstep build directory")
    args, rest = ap.parse_known_args()
    BUILD = os.path.abspath(args.build)
    unittest.main(module=__name__, argv=[sys.argv[0], "-v"] + rest, verbosity=2)


if __name__ == "__main__":
    main()
