#!/usr/bin/env python3
"""Fleet restores on a real local fleet (PostgreSQL 15, git, the GitLab node
fixture):

- round trip: backup, change everything (new commits, a force-push, a
  deleted branch, a new and a deleted repository, inserted, updated and
  deleted rows, new and deleted uploads), restore: every ref, row and file
  equals the backup again, the post-restore verification passes, GitLab is
  out of maintenance mode with Puma and Sidekiq running;
- refusals before anything is touched: a version mismatch (both versions
  named), an artifact changed by one bit (named), an unknown --map node;
- drills: a good backup passes and a tampered one fails naming the
  artifact, the live data untouched either way;
- a coordinator killed with SIGKILL during a restore: `lockstep run resume`
  finishes it without repeating completed steps;
- an agent lost during a restore: the run halts at its step, names the
  node, and resumes once the agent is back;
- a `_gitlab_backup.tar` assembled with tar, pg_dump | gzip and git bundle
  (test_import.assemble) is imported, drilled and restored; one whose
  uploads.tar.gz climbs out of its directory is refused at that step with
  nothing written outside and the old tree put back.

    python3 integration/test_restore.py --build BUILD_DIR [Case.test_name]
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fleet  # noqa: E402
import test_import  # noqa: E402
import testlib  # noqa: E402
from fleet import Fleet  # noqa: E402

BUILD = os.environ.get("LOCKSTEP_BUILD", "build")
GIT = "/usr/bin/git"
GIT_ENV = dict(fleet.GIT_ENV, PATH="/usr/bin:/bin")


def git(*args):
    p = subprocess.run([GIT] + list(args), capture_output=True, env=GIT_ENV, timeout=120)
    if p.returncode != 0:
        raise AssertionError("git %s: %s" % (" ".join(args), p.stderr.decode(errors="replace")))
    return p.stdout.decode()


def repo_state(gitdir):
    """Refs and resolved HEAD, or None when the repository is gone."""
    if not os.path.isdir(gitdir):
        return None
    refs = git("--git-dir", gitdir, "for-each-ref", "--format=%(objectname) %(refname)")
    head = subprocess.run([GIT, "--git-dir", gitdir, "symbolic-ref", "HEAD"],
                          capture_output=True, text=True, env=GIT_ENV).stdout.strip()
    return sorted(refs.splitlines()) + ["HEAD -> " + head]


def repos_on_disk(f):
    """Every repository under every storage, +gitaly/ (aside) excluded."""
    found = set()
    for storage, (node, root) in f.storage_nodes.items():
        for dirpath, dirnames, _ in os.walk(root):
            rel = os.path.relpath(dirpath, root)
            if rel.startswith("+gitaly"):
                dirnames[:] = []
                continue
            if dirpath.endswith(".git"):
                found.add("%s/%s" % (storage, rel))
                dirnames[:] = []
    return found


def tables(f):
    out = f.psql("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
                 "AND table_type = 'BASE TABLE' ORDER BY 1")
    return out.split()


def db_state(f):
    """Every table's rows, as one digest each (content, not just counts)."""
    state = {}
    for t in tables(f):
        if t == "application_settings":
            continue  # maintenance mode is switched around the restore
        state[t] = f.psql("SELECT count(*) || ' ' || coalesce(md5(string_agg(x::text, ',' ORDER BY "
                          "x::text)), '') FROM %s x" % t)
    return state


def files_state(f, node="rails-1"):
    p = f.node_paths(node)
    roots = {"uploads": p["uploads"], "artifacts": os.path.join(p["rails_shared"], "artifacts"),
             "lfs": os.path.join(p["rails_shared"], "lfs-objects")}
    state = {}
    for comp, root in roots.items():
        for dirpath, dirnames, filenames in os.walk(root):
            for fn in filenames:
                path = os.path.join(dirpath, fn)
                state["%s/%s" % (comp, os.path.relpath(path, root))] = testlib.sha256(path)
            for d in dirnames:
                state["%s/%s/" % (comp, os.path.relpath(os.path.join(dirpath, d), root))] = "dir"
    return state


def snapshot(f):
    return {"repos": {r["storage"] + "/" + r["disk_path"]: repo_state(r["git_dir"]) for r in f.repos},
            "on_disk": repos_on_disk(f), "db": db_state(f), "files": files_state(f)}


def change_everything(f):
    """What the round trip must undo."""
    by_id = {r["id"]: r for r in f.repos}
    r1, r2, r3, r4 = by_id[1]["git_dir"], by_id[2]["git_dir"], by_id[3]["git_dir"], by_id[4]["git_dir"]
    # A new commit on main.
    tree = git("--git-dir", r1, "rev-parse", "refs/heads/main^{tree}").strip()
    head = git("--git-dir", r1, "rev-parse", "refs/heads/main").strip()
    c = git("--git-dir", r1, "commit-tree", tree, "-p", head, "-m", "after the backup").strip()
    git("--git-dir", r1, "update-ref", "refs/heads/main", c)
    # A force-push: main rewound.
    git("--git-dir", r2, "update-ref", "refs/heads/main", "refs/heads/main~1")
    # A deleted branch (or tag).
    refs = [ln.split()[1] for ln in git("--git-dir", r3, "for-each-ref",
                                        "--format=%(objectname) %(refname)").splitlines()]
    gone = [r for r in refs if r != "refs/heads/main"][0]
    git("--git-dir", r3, "update-ref", "-d", gone)
    # A deleted repository and a new one.
    shutil.rmtree(r4)
    storage_root = f.storage_path("default")
    new = os.path.join(storage_root, "@hashed", "ff", "ff", "f" * 64 + ".git")
    os.makedirs(os.path.dirname(new), exist_ok=True)
    git("init", "--quiet", "--bare", new)
    # Rows inserted, updated, deleted.
    f.psql("INSERT INTO users (id, email, projects_limit, username) VALUES "
           "(9001, 'late@example.com', 10, 'late');"
           "UPDATE projects SET name = name || ' (changed)' WHERE id = 1;"
           "DELETE FROM uploads WHERE id = 2;")
    # Uploads: one new, one deleted.
    up = f.node_paths("rails-1")["uploads"]
    with open(os.path.join(up, "new-upload.txt"), "w") as fh:
        fh.write("not in the backup\n")
    os.unlink(os.path.join(up, "-", "system", "user", "avatar", "1", "avatar.png"))


class RestoreTest(unittest.TestCase):
    def backup(self, f):
        rc, out = testlib.create_backup(f)
        self.assertEqual(rc, 0, out)
        self.assertEqual(out["state"], "complete", out)
        return out["id"]

    def restore(self, f, bid, *args, timeout=600):
        p = f.cli("restore", bid, "--yes", *args, timeout=timeout)
        return p

    def assert_services_up(self, f):
        out = f.gitlab_ctl("rails-1", "status").stdout
        self.assertRegex(out, r"run: puma:")
        self.assertRegex(out, r"run: sidekiq:")
        self.assertFalse(testlib.maintenance_on(f))

    def test_round_trip(self):
        with Fleet(BUILD) as f:
            bid = self.backup(f)
            before = snapshot(f)
            change_everything(f)
            self.assertNotEqual(snapshot(f), before, "the changes changed nothing")
            p = self.restore(f, bid)
            self.assertEqual(p.returncode, 0, "restore failed:\n%s%s\n%s" % (
                p.stdout, p.stderr, f.coordinator_log()[-6000:]))
            after = snapshot(f)
            self.assertEqual(after["repos"], before["repos"])
            self.assertEqual(after["on_disk"], before["on_disk"])
            self.assertEqual(after["db"], before["db"])
            self.assertEqual(after["files"], before["files"])
            self.assert_services_up(f)
            # The proof printed per node and component.
            self.assertRegex(p.stdout, r"OK\s+postgresql-1\s+db")
            self.assertRegex(p.stdout, r"OK\s+gitaly-1\s+repositories")
            self.assertRegex(p.stdout, r"OK\s+rails-1\s+uploads")
            runs = f.cli_json("run", "list", "--json")["runs"]
            self.assertEqual(runs[0]["state"], "done", runs)
            shown = f.cli_json("run", "show", runs[0]["id"], "--json")
            self.assertEqual(shown["backup_id"], bid)
            self.assertTrue(all(s["state"] == "done" for s in shown["steps"]), shown)
            # The replaced data was moved aside, not deleted.
            aside = [d for d in os.listdir(os.path.join(f.storage_path("default"), "+gitaly"))
                     if d.startswith("lockstep-restore.")]
            self.assertTrue(aside, "no aside directory under +gitaly/")

    def test_with_secrets(self):
        with Fleet(BUILD) as f:
            bid = self.backup(f)
            keyfile = os.path.join(f.dir, "backup.key")
            self.assertEqual(f.cli("keys", "export-backup-key", "--out", keyfile).returncode, 0)
            paths = {n: f.node_paths(n) for n, _ in fleet.DEFAULT_NODES}
            want = {}
            for n, p in paths.items():
                for key in ("secrets_file", "config_file"):
                    if os.path.exists(p[key]):
                        with open(p[key], "rb") as fh:
                            want[p[key]] = fh.read()
                        with open(p[key], "wb") as fh:
                            fh.write(b"changed after the backup\n")
            self.assertTrue(want, "the fixture has no secrets files")
            # Without the key, --with-secrets is refused.
            p = self.restore(f, bid, "--with-secrets")
            self.assertEqual(p.returncode, 2, p.stderr)
            # A key that is not the backup's is refused before anything.
            bad = os.path.join(f.dir, "bad.key")
            with open(bad, "w") as fh:
                fh.write("LSBK1-" + "ab" * 32 + "\n")
            os.chmod(bad, 0o600)
            p = self.restore(f, bid, "--with-secrets", "--backup-key", bad)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("backup key does not open", p.stderr)
            p = self.restore(f, bid, "--with-secrets", "--backup-key", keyfile)
            self.assertEqual(p.returncode, 0, "restore failed:\n%s%s\n%s" % (
                p.stdout, p.stderr, f.coordinator_log()[-6000:]))
            for path, body in want.items():
                with open(path, "rb") as fh:
                    self.assertEqual(fh.read(), body, path)
                self.assertEqual(os.stat(path).st_mode & 0o777, 0o600, path)
            self.assert_services_up(f)

    def test_refusals_touch_nothing(self):
        with Fleet(BUILD) as f:
            bid = self.backup(f)
            change_everything(f)
            changed = snapshot(f)
            # An unknown --map target.
            p = self.restore(f, bid, "--map", "gitaly-1=nosuch")
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("nosuch", p.stderr)
            # One bit of one artifact.
            path = os.path.join(f.coordinator_state_dir, "backups", bid, "uploads.tar.gz")
            with open(path, "r+b") as fh:
                fh.seek(100)
                b = fh.read(1)
                fh.seek(100)
                fh.write(bytes([b[0] ^ 1]))
            p = self.restore(f, bid)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("uploads.tar.gz", p.stderr)
            with open(path, "r+b") as fh:
                fh.seek(100)
                fh.write(b)
            # A node on another version.
            f.stop_agent("gitaly-2")
            f.set_version("gitaly-2", "17.7.1")
            f.start_agent("gitaly-2")
            f.wait_until(lambda: any(n["name"] == "gitaly-2" and n.get("connected") and
                                     n.get("gitlab_version") == "17.7.1"
                                     for n in f.status()["nodes"]), 30, "gitaly-2 on 17.7.1")
            p = self.restore(f, bid)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("17.7.1", p.stderr)
            self.assertIn("17.8.2", p.stderr)
            self.assertEqual(snapshot(f), changed, "a refused restore touched the fleet")
            self.assertEqual(f.cli_json("run", "list", "--json")["runs"], [])

    def test_drill(self):
        with Fleet(BUILD) as f:
            bid = self.backup(f)
            change_everything(f)
            live = snapshot(f)
            p = f.cli("backup", "drill", bid, "--json", timeout=600)
            self.assertEqual(p.returncode, 0, "drill failed:\n%s%s\n%s" % (
                p.stdout, p.stderr, f.coordinator_log()[-4000:]))
            out = json.loads(p.stdout)
            self.assertTrue(out["ok"], out)
            comps = {(n["node"], c["component"]): c["ok"] for n in out["nodes"]
                     for c in n["result"]["components"]}
            for key in [("postgresql-1", "db"), ("gitaly-1", "repositories"),
                        ("gitaly-2", "repositories"), ("rails-1", "uploads")]:
                self.assertTrue(comps.get(key), "%s not passed: %s" % (key, comps))
            self.assertEqual(snapshot(f), live, "the drill touched the live data")
            self.assertNotIn("lockstep_drill", f.psql("SELECT string_agg(datname, ' ') FROM pg_database",
                                                      db="postgres"))
            # A tampered artifact fails, named.
            path = os.path.join(f.coordinator_state_dir, "backups", bid, "db", "database.sql.gz")
            with open(path, "r+b") as fh:
                fh.seek(200)
                b = fh.read(1)
                fh.seek(200)
                fh.write(bytes([b[0] ^ 0x10]))
            p = f.cli("backup", "drill", bid, timeout=600)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("db/database.sql.gz", p.stdout + p.stderr)
            self.assertEqual(snapshot(f), live, "the drill touched the live data")

    def wait_step(self, f, run_id, pred, what, timeout=120):
        def ok():
            p = f.cli("run", "show", run_id, "--json")
            if p.returncode != 0:
                return False
            return pred(json.loads(p.stdout))
        f.wait_until(ok, timeout, what, interval=0.05)

    def start_restore(self, f, bid):
        """The restore in the background; returns (process, run id)."""
        proc = subprocess.Popen([f.bin["cli"], "--config", f.coordinator_config, "restore", bid,
                                 "--yes"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=fleet.clean_env())
        run = {}

        def started():
            p = f.cli("run", "list", "--json")
            runs = json.loads(p.stdout)["runs"] if p.returncode == 0 else []
            if runs:
                run["id"] = runs[0]["id"]
            return bool(runs)
        f.wait_until(started, 120, "the restore run to start", interval=0.02)
        return proc, run["id"]

    def test_coordinator_killed_then_resumed(self):
        with Fleet(BUILD, projects=60) as f:
            bid = self.backup(f)
            before = snapshot(f)
            change_everything(f)
            proc, run_id = self.start_restore(f, bid)
            self.wait_step(f, run_id, lambda r: any(s["name"].startswith("restore ") and
                                                    s["state"] in ("started", "done")
                                                    for s in r["steps"]),
                           "a data step to start")
            f.stop_coordinator(sig=signal.SIGKILL)
            proc.communicate(timeout=60)
            f.start_coordinator()
            f.wait_all_connected(60)
            shown = f.cli_json("run", "show", run_id, "--json")
            self.assertEqual(shown["state"], "halted", shown)
            done_before = {s["seq"] for s in shown["steps"] if s["state"] == "done"}
            self.assertTrue(done_before, "nothing was done before the kill")
            log_mark = len(f.coordinator_log())
            p = f.cli("run", "resume", run_id, timeout=600)
            self.assertEqual(p.returncode, 0, "resume failed:\n%s%s\n%s" % (
                p.stdout, p.stderr, f.coordinator_log()[-6000:]))
            after_log = f.coordinator_log()[log_mark:]
            for seq in done_before:
                self.assertNotRegex(after_log, r"step %d \(.*\) sent" % seq,
                                    "step %d was done and was sent again" % seq)
            after = snapshot(f)
            for k in ("repos", "on_disk", "db", "files"):
                self.assertEqual(after[k], before[k], k)
            self.assert_services_up(f)

    def test_agent_lost_then_resumed(self):
        with Fleet(BUILD, projects=60) as f:
            bid = self.backup(f)
            before = snapshot(f)
            change_everything(f)
            proc, run_id = self.start_restore(f, bid)
            f.stop_agent("gitaly-2", sig=signal.SIGKILL)
            out, err = proc.communicate(timeout=300)
            self.assertNotEqual(proc.returncode, 0, out + err)
            shown = f.cli_json("run", "show", run_id, "--json")
            self.assertEqual(shown["state"], "halted", shown)
            failed = [s for s in shown["steps"] if s["state"] == "failed"]
            self.assertTrue(failed and failed[0]["node"] == "gitaly-2", shown)
            self.assertIn("gitaly-2", shown["reason"])
            self.assertTrue(testlib.maintenance_on(f), "a halted restore left maintenance mode")
            f.start_agent("gitaly-2")
            f.wait_all_connected(60)
            p = f.cli("run", "resume", run_id, timeout=600)
            self.assertEqual(p.returncode, 0, "resume failed:\n%s%s\n%s" % (
                p.stdout, p.stderr, f.coordinator_log()[-6000:]))
            after = snapshot(f)
            for k in ("repos", "on_disk", "db", "files"):
                self.assertEqual(after[k], before[k], k)
            self.assert_services_up(f)


def import_rake_tar(f, uploads_tar=None):
    """Assembles GitLab's layout from the live fleet, packs the Rake tar
    and imports it; uploads_tar (bytes) replaces uploads.tar.gz."""
    version = test_import.fleet_version(f)
    now = int(time.time()) - 3600
    bid = test_import.backup_id(f, now)
    root = os.path.join(f.dir, "gitlab-backup")
    test_import.assemble(f, root, bid, repos=len(f.repos))
    if uploads_tar is not None:
        with open(os.path.join(root, "uploads.tar.gz"), "wb") as fh:
            fh.write(uploads_tar)
    with open(os.path.join(root, "backup_information.yml"), "w") as fh:
        fh.write(test_import.rake_yml(bid, version, now))
    tar = os.path.join(f.dir, bid + "_gitlab_backup.tar")
    test_import.run(["tar", "-C", root, "-cf", tar, "backup_information.yml", "db", "repositories",
                     "uploads.tar.gz", "artifacts.tar.gz"])
    out = f.cli_json("backup", "import", tar, timeout=600)
    assert out["id"] == bid, out
    return bid


def hostile_uploads(target):
    """A gzip'd tar with a symlink out of the tree, a file written through
    it, and a ../ entry, after one harmless file."""
    import io
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        def add(name, data=None, link=None):
            ti = tarfile.TarInfo(name)
            if link is not None:
                ti.type, ti.linkname = tarfile.SYMTYPE, link
                t.addfile(ti)
            else:
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
        add("./fine.txt", b"harmless\n")
        add("./out", link=target)
        add("./out/escaped.txt", b"written through a symlink\n")
        add("../escaped-dotdot.txt", b"climbed out\n")
    return buf.getvalue()


class ImportRestoreTest(unittest.TestCase):
    def test_import_drill_restore(self):
        with Fleet(BUILD) as f:
            before = snapshot(f)
            bid = import_rake_tar(f)
            change_everything(f)
            p = f.cli("backup", "drill", bid, timeout=600)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr + f.coordinator_log()[-4000:])
            self.assertRegex(p.stdout, r"PASS\s+postgresql-1\s+db")
            p = f.cli("restore", bid, "--yes", timeout=600)
            self.assertEqual(p.returncode, 0, "restore failed:\n%s%s\n%s" % (
                p.stdout, p.stderr, f.coordinator_log()[-6000:]))
            after = snapshot(f)
            for k in ("repos", "on_disk", "db"):
                self.assertEqual(after[k], before[k], k)
            # uploads and artifacts come back; LFS was not in the backup.
            self.assertEqual({k: v for k, v in after["files"].items() if not k.startswith("lfs/")},
                             {k: v for k, v in before["files"].items() if not k.startswith("lfs/")})

    def test_hostile_archive_refused(self):
        with Fleet(BUILD) as f:
            target = os.path.join(f.dir, "hostile-target")
            os.makedirs(target)
            bid = import_rake_tar(f, uploads_tar=hostile_uploads(target))
            up = f.node_paths("rails-1")["uploads"]
            uploads_before = files_state(f)
            p = f.cli("restore", bid, "--yes", timeout=600)
            self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
            runs = f.cli_json("run", "list", "--json")["runs"]
            shown = f.cli_json("run", "show", runs[0]["id"], "--json")
            self.assertEqual(shown["state"], "halted")
            failed = [s for s in shown["steps"] if s["state"] == "failed"]
            self.assertEqual([s["name"] for s in failed], ["restore files uploads uploads.tar.gz"],
                             shown)
            self.assertRegex(failed[0]["error"], r"out|\.\./escaped-dotdot\.txt")
            self.assertEqual(os.listdir(target), [], "written through the symlink")
            self.assertFalse(os.path.exists(os.path.join(os.path.dirname(up), "escaped-dotdot.txt")))
            self.assertEqual(files_state(f)["uploads/-/system/user/avatar/1/avatar.png"],
                             uploads_before["uploads/-/system/user/avatar/1/avatar.png"],
                             "the old uploads were not put back")


def _set_build(path):
    global BUILD
    BUILD = path


if __name__ == "__main__":
    testlib.run_main(__doc__, _set_build)
