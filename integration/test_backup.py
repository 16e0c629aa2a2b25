#!/usr/bin/env python3
"""Fleet-wide consistent backups on a real local fleet (PostgreSQL 15, git,
the GitLab node fixture):

- `lockstep backup create` writes GitLab's layout: backup_information.yml and
  .json, db/database.sql.gz that loads with psql, repositories in
  gitaly-backup's manifest layout whose bundles verify and hold the live refs,
  file components whose listings equal the source trees, and a manifest whose
  checksums match every artifact;
- writes that land during the copy are not in the backup;
- a second backup while one runs is refused, naming the running one;
- a failed preflight and an agent killed during the copy each fail the backup
  naming the node, leave no files and nothing listed as complete.

    python3 integration/test_backup.py --build BUILD_DIR [TestCase.test_name]
"""
import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fleet  # noqa: E402
import testlib  # noqa: E402
from fleet import Fleet  # noqa: E402

BUILD = os.environ.get("LOCKSTEP_BUILD", "build")
GIT = "/usr/bin/git"
GIT_ENV = dict(fleet.GIT_ENV, PATH="/usr/bin:/bin")


def git(*args, cwd=None, input=None):
    p = subprocess.run([GIT] + list(args), capture_output=True, env=GIT_ENV, cwd=cwd,
                       input=input, timeout=120)
    if p.returncode != 0:
        raise AssertionError("git %s: %s" % (" ".join(args), p.stderr.decode(errors="replace")))
    return p.stdout.decode()


def live_refs(gitdir):
    out = git("--git-dir", gitdir, "for-each-ref", "--format=%(objectname) %(refname)")
    return sorted(out.splitlines())


sha256 = testlib.sha256


def tar_names(path):
    p = subprocess.run(["tar", "-tzf", path], capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise AssertionError("tar -tzf %s: %s" % (path, p.stderr))
    return p.stdout.splitlines()


def tree_names(root):
    """What `tar -C root -cf - .` lists, as a set of ./-prefixed names."""
    names = {"./"}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        if rel != ".":
            names.add("./" + rel + "/")
        for fn in filenames:
            names.add("./" + os.path.normpath(os.path.join(rel, fn)))
    return names


class BackupTest(unittest.TestCase):
    def create(self, f, *args, timeout=600):
        return testlib.create_backup(f, *args, timeout=timeout)

    def test_backup_gitlab_layout(self):
        with Fleet(BUILD, projects=60) as f:
            self.assertGreaterEqual(len(f.repos), 50)
            self.assertTrue(any(r["empty"] for r in f.repos))
            self.assertTrue(any(r["custom_hooks"] for r in f.repos))
            rc, out = self.create(f)
            self.assertEqual(rc, 0, json.dumps(out, indent=1))
            self.assertEqual(out["state"], "complete", out)
            bid, dest = out["id"], out["path"]
            self.assertRegex(bid, r"^\d{10}_\d{4}_\d{2}_\d{2}_17\.8\.2-ee$")
            self.assertTrue(dest.endswith("/" + bid), dest)

            # GitLab's metadata.
            with open(os.path.join(dest, "backup_information.yml")) as fh:
                yml = fh.read()
            self.assertIn(":gitlab_version: 17.8.2-ee", yml)
            self.assertRegex(yml, r":db_version: '?\d{14}'?")
            with open(os.path.join(dest, "backup_information.json")) as fh:
                info = json.load(fh)
            self.assertEqual(set(info), {"backup_id", "created_at", "gitlab_version",
                                         "metadata_version"})
            self.assertEqual(info["backup_id"], bid)
            self.assertEqual(info["metadata_version"], 2)

            # The database dump loads into a fresh database.
            f.psql("CREATE DATABASE restored")
            with gzip.open(os.path.join(dest, "db", "database.sql.gz"), "rb") as fh:
                sql = fh.read()
            self.assertIn(b"DROP TABLE IF EXISTS", sql)
            p = subprocess.run([fleet.PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", f.pg_socket_dir,
                                "-p", str(f.pg_port), "-U", fleet.PG_USER, "-d", "restored"],
                               input=sql, capture_output=True, timeout=120)
            bad = [ln for ln in p.stderr.decode().splitlines()
                   if ln and not re.search(r"WARNING:|does not exist|must be owner of", ln)]
            self.assertEqual(p.returncode, 0, p.stderr.decode()[-2000:])
            self.assertEqual(bad, [])
            self.assertEqual(f.psql("SELECT count(*) FROM projects", db="restored").strip(),
                             f.psql("SELECT count(*) FROM projects").strip())

            # Repositories in gitaly-backup's layout.
            with tempfile.TemporaryDirectory() as tmp:
                git("init", "--quiet", "--bare", os.path.join(tmp, "probe.git"))
                for r in f.repos:
                    rel = r["disk_path"] + ".git"
                    mdir = os.path.join(dest, "repositories", "manifests", r["storage"], rel)
                    with open(os.path.join(mdir, bid + ".toml")) as fh:
                        toml = fh.read()
                    with open(os.path.join(mdir, "+latest.toml")) as fh:
                        self.assertEqual(fh.read(), toml)
                    step = os.path.join(dest, "repositories", r["storage"], rel, bid)
                    hooks_tar = os.path.join(step, "001.custom_hooks.tar")
                    if r["custom_hooks"]:
                        p = subprocess.run(["tar", "-tf", hooks_tar], capture_output=True,
                                           text=True, timeout=60)
                        self.assertEqual(p.returncode, 0, p.stderr)
                        names = {n.rstrip("/") for n in p.stdout.splitlines()}
                        for h in r["custom_hooks"]:
                            self.assertIn("custom_hooks/" + h, names, r["disk_path"])
                    else:
                        self.assertFalse(os.path.exists(hooks_tar), r["disk_path"])
                    with open(os.path.join(step, "001.refs")) as fh:
                        refs = [ln for ln in fh.read().splitlines() if not ln.endswith(" HEAD")]
                    if r["empty"]:
                        self.assertIn("empty = true", toml)
                        self.assertEqual(refs, [])
                        self.assertFalse(os.path.exists(os.path.join(step, "001.bundle")))
                        continue
                    self.assertIn("empty = false", toml)
                    self.assertEqual(sorted(refs), live_refs(r["git_dir"]), r["disk_path"])
                    bundle = os.path.join(step, "001.bundle")
                    git("bundle", "verify", bundle, cwd=os.path.join(tmp, "probe.git"))
                    clone = os.path.join(tmp, "clone-%d" % r["id"])
                    git("clone", "--quiet", bundle, clone)

            # File components: exactly the source trees.
            rails = f.node_paths("rails-1")
            self.assertEqual(set(tar_names(os.path.join(dest, "uploads.tar.gz"))),
                             tree_names(rails["uploads"]))
            self.assertEqual(set(tar_names(os.path.join(dest, "artifacts.tar.gz"))),
                             tree_names(os.path.join(rails["rails_shared"], "artifacts")))

            # The manifest's checksums match every artifact.
            with open(os.path.join(dest, "lockstep", "manifest.json")) as fh:
                man = json.load(fh)
            self.assertEqual(man["backup_id"], bid)
            self.assertGreaterEqual(man["freeze_window_ms"], 0)
            self.assertGreater(len(man["artifacts"]), len(f.repos))
            for a in man["artifacts"]:
                path = os.path.join(dest, a["path"])
                self.assertEqual(os.path.getsize(path), a["size"], a["path"])
                self.assertEqual(sha256(path), a["sha256"], a["path"])
            with open(os.path.join(dest, "lockstep", "manifest.json.sig")) as fh:
                self.assertRegex(fh.read(), r"^[0-9a-f]{128}\n$")
            pg = [n for n in man["nodes"] if n["name"] == "postgresql-1"][0]
            self.assertEqual(str(pg["cut"]["table_rows"]["public.projects"]),
                             f.psql("SELECT count(*) FROM projects").strip())

            # Every node's secrets and configuration, sealed: not in clear,
            # and opened again with the exported backup key.
            keyfile = os.path.join(f.dir, "backup.key")
            p = f.cli("keys", "export-backup-key", "--out", keyfile)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(os.stat(keyfile).st_mode & 0o777, 0o600)
            p = f.cli("keys", "export-backup-key", "--out", keyfile)
            self.assertEqual(p.returncode, 1, "an existing key file must not be overwritten")
            for name, _ in fleet.DEFAULT_NODES:
                src = f.node_paths(name)["secrets_file"]
                sealed = os.path.join(dest, "lockstep", "secrets", name, "gitlab-secrets.json.sealed")
                with open(sealed, "rb") as fh:
                    blob = fh.read()
                with open(src, "rb") as fh:
                    plain = json.load(fh)
                self.assertNotIn(b"secret_key_base", blob)
                p = f.probe("unseal", "--key", keyfile, "--in", sealed)
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertEqual(json.loads(p.stdout), plain, name)
                self.assertTrue(os.path.exists(os.path.join(dest, "lockstep", "secrets", name,
                                                            "gitlab.rb.sealed")), name)
            self.assertNotIn("secret_key_base", f.coordinator_log())

            # Catalog, and nothing left in the nodes' staging directories.
            lst = f.cli_json("backup", "list")
            self.assertEqual([(b["id"], b["state"]) for b in lst], [(bid, "complete")])
            for name, _ in fleet.DEFAULT_NODES:
                staging = f.node_paths(name)["backups"]
                self.assertEqual([e for e in os.listdir(staging) if e.startswith("lockstep-")], [],
                                 name + " kept its backup work directory")

    @staticmethod
    def maintenance_history(f):
        path = os.path.join(f.node_dir("rails-1"), "fixture", "maintenance-history")
        if not os.path.exists(path):
            return []
        with open(path) as fh:
            return [ln.split()[1] for ln in fh.read().splitlines() if ln.strip()]

    @staticmethod
    def maintenance_on(f):
        return testlib.maintenance_on(f)

    def test_freeze_and_thaw(self):
        with Fleet(BUILD) as f:
            rc, out = self.create(f)
            self.assertEqual(rc, 0, out)
            # Maintenance mode went on for the cut and off right after it.
            self.assertEqual(self.maintenance_history(f), ["on", "off"])
            self.assertIs(self.maintenance_on(f), False)
            self.assertGreater(out["freeze_ms"], 0)
            with open(os.path.join(out["path"], "lockstep", "manifest.json")) as fh:
                self.assertEqual(json.load(fh)["freeze_window_ms"], out["freeze_ms"])

            # Already on before a backup: left on.
            status, _ = f.http("rails-1", "PUT", "/api/v4/application/settings",
                               data="maintenance_mode=true")
            self.assertEqual(status, 200)
            rc, out = self.create(f)
            self.assertEqual(rc, 0, out)
            self.assertIs(self.maintenance_on(f), True)
            self.assertEqual(self.maintenance_history(f), ["on", "off", "on"])

    def test_busy_sidekiq_fails_and_thaws(self):
        with Fleet(BUILD, coordinator_extra={"sidekiq_wait": "2s"}) as f:
            with open(os.path.join(f.node_dir("rails-1"), "fixture", "sidekiq-busy"), "w") as fh:
                fh.write("1\n")
            rc, out = self.create(f)
            self.assertEqual(rc, 1, out)
            self.assertIn("Sidekiq still has 1 busy job", out["reason"])
            self.assertIn("rails-1", out["reason"])
            self.assertIs(self.maintenance_on(f), False, "a failed freeze must thaw")
            self.assertEqual(self.maintenance_history(f), ["on", "off"])
            self.assertFalse(os.path.exists(out["path"]))

    def test_lease_ends_freeze_when_coordinator_dies(self):
        with Fleet(BUILD, coordinator_extra={"sidekiq_wait": "3s", "freeze_lease": "6s"}) as f:
            with open(os.path.join(f.node_dir("rails-1"), "fixture", "sidekiq-busy"), "w") as fh:
                fh.write("1\n")
            f.cli("backup", "create", "--detach", check=True)
            f.wait_until(lambda: self.maintenance_on(f), 30, "maintenance mode to go on")
            f.stop_coordinator(signal.SIGKILL)
            # Nobody thaws: the rails agent's lease must.
            f.wait_until(lambda: not self.maintenance_on(f), 30,
                         "the rails agent to end the freeze when its lease ran out")
            self.assertIn("lease ended", f.agent_log("rails-1"))
            # A restarted coordinator marks the backup failed, files gone.
            f.start_coordinator()
            lst = f.cli_json("backup", "list")
            self.assertEqual([b["state"] for b in lst], ["failed"], lst)
            self.assertIn("stopped during the backup", lst[0]["reason"])
            self.assertFalse(os.path.exists(lst[0]["path"]))

    def test_verify_and_export(self):
        with Fleet(BUILD) as f:
            # A component whose directory does not exist has no archive and
            # is listed as skipped, so GitLab's restore does not look for it.
            pages = os.path.join(f.node_paths("rails-1")["rails_shared"], "pages")
            shutil.rmtree(pages, ignore_errors=True)
            rc, out = self.create(f, "--compression", "zstd")
            self.assertEqual(rc, 0, out)
            bid, dest = out["id"], out["path"]
            with open(os.path.join(dest, "backup_information.yml")) as fh:
                skipped = re.search(r"^:skipped: (.*)$", fh.read(), re.M)
            self.assertIsNotNone(skipped)
            self.assertIn("pages", skipped.group(1).strip("'").split(","))
            self.assertFalse(os.path.exists(os.path.join(dest, "pages.tar.gz")))
            v = f.cli_json("backup", "verify", bid)
            self.assertIs(v["ok"], True, v)
            self.assertGreater(v["artifacts"], len(f.repos))

            # The export is GitLab's tar: no ./, GitLab's order, no lockstep/.
            outdir = os.path.join(f.dir, "export")
            os.makedirs(outdir)
            e = f.cli_json("backup", "export", bid, "--output", outdir)
            tarfile = os.path.join(outdir, bid + "_gitlab_backup.tar")
            self.assertEqual(e["tar"], tarfile)
            self.assertEqual(os.stat(tarfile).st_mode & 0o777, 0o600)
            p = subprocess.run(["tar", "-tvf", tarfile], capture_output=True, text=True, timeout=120)
            self.assertEqual(p.returncode, 0, p.stderr)
            names = [ln.split()[-1] for ln in p.stdout.splitlines()]
            self.assertFalse([n for n in names if n.startswith("./") or n.startswith("lockstep")], names)
            top = []
            for n in names:
                t = n.split("/")[0]
                if t not in top:
                    top.append(t)
            order = ["backup_information.yml", "db", "repositories", "uploads.tar.gz", "builds.tar.gz",
                     "artifacts.tar.gz", "pages.tar.gz", "lfs.tar.gz", "terraform_state.tar.gz",
                     "registry.tar.gz", "packages.tar.gz", "ci_secure_files.tar.gz",
                     "external_diffs.tar.gz"]
            self.assertEqual(top, [t for t in order if t in top], top)
            self.assertIn("db", top)
            self.assertIn("uploads.tar.gz", top)
            self.assertNotIn("pages.tar.gz", top)
            self.assertTrue(all(" git/git " in ln for ln in p.stdout.splitlines()), p.stdout[:500])

            # One flipped byte is found and named.
            victim = os.path.join(dest, "uploads.tar.gz")
            with open(victim, "r+b") as fh:
                fh.seek(os.path.getsize(victim) // 2)
                b = fh.read(1)
                fh.seek(-1, 1)
                fh.write(bytes([b[0] ^ 0x10]))
            p = f.cli("backup", "verify", bid, "--json")
            self.assertEqual(p.returncode, 1, p.stdout)
            v = json.loads(p.stdout)
            self.assertEqual([x["path"] for x in v["problems"]], ["uploads.tar.gz"], v)

            # A manifest changed by anyone but the coordinator fails its signature.
            mpath = os.path.join(dest, "lockstep", "manifest.json")
            with open(mpath) as fh:
                text = fh.read()
            with open(mpath, "w") as fh:
                fh.write(text.replace('"format": 1', '"format": 1 '))
            p = f.cli("backup", "verify", bid)
            self.assertEqual(p.returncode, 1, p.stdout)
            self.assertIn("signature", p.stdout)

    def test_backup_consistent_under_constant_writes(self):
        with Fleet(BUILD) as f:
            repo = [r for r in f.repos if not r["empty"]][0]
            stop = threading.Event()
            errors = []
            counts = {"rows": 0, "commits": 0}

            def writer():
                n = 1000
                while not stop.is_set():
                    try:
                        f.psql("INSERT INTO namespaces (id, name, path, owner_id, type) VALUES "
                               "(%d, 'w%d', 'w%d', 1, 'Group'); DELETE FROM namespaces WHERE id = %d"
                               % (n, n, n, n - 3))
                        head = git("--git-dir", repo["git_dir"], "rev-parse", "refs/heads/main").strip()
                        tree = git("--git-dir", repo["git_dir"], "rev-parse", head + "^{tree}").strip()
                        c = git("--git-dir", repo["git_dir"], "commit-tree", tree, "-p", head,
                                "-m", "w%d" % n).strip()
                        git("--git-dir", repo["git_dir"], "update-ref", "refs/heads/main", c, head)
                        counts["rows"] += 1
                        counts["commits"] += 1
                        n += 1
                    except Exception as e:  # reported below, not swallowed
                        errors.append(repr(e))
                        return

            th = threading.Thread(target=writer, daemon=True)
            th.start()
            try:
                f.wait_until(lambda: counts["commits"] >= 5, 60, "the writer to get going")
                rc, out = self.create(f)
                before_stop = dict(counts)
                f.wait_until(lambda: counts["commits"] >= before_stop["commits"] + 3, 60,
                             "the writer to go on after the backup")
            finally:
                stop.set()
                th.join(30)
            self.assertEqual(errors, [], "the writer failed: its writes must succeed")
            self.assertEqual(rc, 0, out)
            dest, bid = out["path"], out["id"]
            with open(os.path.join(dest, "lockstep", "manifest.json")) as fh:
                man = json.load(fh)
            cut_rows = [n for n in man["nodes"] if n["name"] == "postgresql-1"][0]["cut"]["table_rows"]

            # The dump holds exactly what the snapshot held at the cut.
            f.psql("CREATE DATABASE atcut")
            with gzip.open(os.path.join(dest, "db", "database.sql.gz"), "rb") as fh:
                sql = fh.read()
            p = subprocess.run([fleet.PSQL, "-X", "-q", "-h", f.pg_socket_dir, "-p", str(f.pg_port),
                                "-U", fleet.PG_USER, "-d", "atcut"], input=sql, capture_output=True,
                               timeout=120)
            self.assertEqual(p.returncode, 0, p.stderr.decode()[-2000:])
            for table in ("namespaces", "projects", "users"):
                dumped = int(f.psql("SELECT count(*) FROM %s" % table, db="atcut").strip())
                self.assertEqual(dumped, cut_rows["public." + table], table)
            live_max = int(f.psql("SELECT max(id) FROM namespaces").strip())
            dumped_max = int(f.psql("SELECT max(id) FROM namespaces", db="atcut").strip())
            self.assertLess(dumped_max, live_max, "writes after the cut are not in the dump")

            # The bundle holds exactly the refs recorded at the cut, which
            # the writer has since moved past.
            step = os.path.join(dest, "repositories", repo["storage"], repo["disk_path"] + ".git", bid)
            with open(os.path.join(step, "001.refs")) as fh:
                recorded = sorted(ln for ln in fh.read().splitlines() if not ln.endswith(" HEAD"))
            heads = sorted(git("bundle", "list-heads", os.path.join(step, "001.bundle"),
                               cwd=repo["git_dir"]).splitlines())
            self.assertEqual([h for h in heads if not h.endswith(" HEAD")], recorded)
            cut_main = [ln.split()[0] for ln in recorded if ln.endswith(" refs/heads/main")][0]
            live_main = git("--git-dir", repo["git_dir"], "rev-parse", "refs/heads/main").strip()
            self.assertNotEqual(cut_main, live_main)
            git("--git-dir", repo["git_dir"], "merge-base", "--is-ancestor", cut_main, live_main)

    def test_prune(self):
        with Fleet(BUILD) as f:
            ids = []
            for _ in range(3):
                rc, out = self.create(f, "--skip", "repositories,uploads,artifacts,lfs")
                self.assertEqual(rc, 0, out)
                ids.append(out["id"])
                # Backup ids carry whole seconds: keep them distinct.
                f.wait_until(lambda: int(time.time()) > int(ids[-1].split("_")[0]), 5,
                             "the next second")
            self.assertEqual(len(set(ids)), 3)
            dry = f.cli_json("backup", "prune", "--keep", "1", "--dry-run")
            self.assertEqual(sorted(dry["removed"]), sorted(ids[:2]))
            self.assertEqual(len(f.cli_json("backup", "list")), 3, "a dry run removes nothing")
            out = f.cli_json("backup", "prune", "--keep", "1")
            self.assertEqual(sorted(out["removed"]), sorted(ids[:2]))
            self.assertEqual([b["id"] for b in f.cli_json("backup", "list")], [ids[2]])
            store = os.path.join(f.coordinator_state_dir, "backups")
            f.wait_until(lambda: sorted(os.listdir(store)) == [ids[2]], 30,
                         "the pruned directories to be gone")
            self.assertIs(f.cli_json("backup", "verify", ids[2])["ok"], True)
            p = f.cli("backup", "prune")
            self.assertEqual(p.returncode, 2)

    def test_writes_during_copy_not_in_backup(self):
        with Fleet(BUILD) as f:
            rails = f.node_paths("rails-1")
            # A large upload keeps the copy going for seconds.
            big = os.path.join(rails["uploads"], "-", "system", "big.bin")
            with open(big, "wb") as fh:
                fh.write(os.urandom(96 << 20))
            repo = [r for r in f.repos if not r["empty"]][0]
            before = live_refs(repo["git_dir"])
            p = f.cli("backup", "create", "--detach", "--json", check=True)
            bid = json.loads(p.stdout)["id"]
            # Refused while it runs, naming the running backup.
            p2 = f.cli("backup", "create", "--json")
            self.assertEqual(p2.returncode, 1, p2.stdout)
            self.assertIn("another backup is running: " + bid, p2.stderr)

            f.wait_until(lambda: f.cli_json("backup", "show", bid)["phase"] in ("copy", "seal"),
                         120, "the backup to reach its copy")
            # The copy reports its progress while it runs.
            f.wait_until(lambda: [n for n in f.cli_json("backup", "show", bid)["nodes"]
                                  if n["node"] == "rails-1" and n.get("progress")],
                         60, "rails-1 to report the copy's progress")
            # Writes after the cut: a commit on a new branch, a row, a file.
            head = git("--git-dir", repo["git_dir"], "rev-parse", "refs/heads/main").strip()
            tree = git("--git-dir", repo["git_dir"], "rev-parse", head + "^{tree}").strip()
            commit = git("--git-dir", repo["git_dir"], "commit-tree", tree, "-p", head, "-m",
                         "after the cut").strip()
            git("--git-dir", repo["git_dir"], "update-ref", "refs/heads/after-cut", commit)
            f.psql("INSERT INTO namespaces (id, name, path, owner_id, type) VALUES "
                   "(999, 'After Cut', 'after-cut', 1, 'Group')")
            late = os.path.join(rails["uploads"], "-", "system", "after-cut.txt")
            with open(late, "w") as fh:
                fh.write("written after the cut\n")
            state = f.cli_json("backup", "show", bid)
            self.assertEqual(state["state"], "running",
                             "the copy ended before the writes: the test proves nothing")
            f.wait_until(lambda: f.cli_json("backup", "show", bid)["state"] != "running", 300,
                         "the backup to finish")
            out = f.cli_json("backup", "show", bid)
            self.assertEqual(out["state"], "complete", out)
            dest = out["path"]
            step = os.path.join(dest, "repositories", repo["storage"], repo["disk_path"] + ".git", bid)
            with open(os.path.join(step, "001.refs")) as fh:
                refs = sorted(ln for ln in fh.read().splitlines() if not ln.endswith(" HEAD"))
            self.assertEqual(refs, before)
            self.assertNotIn(commit, "\n".join(refs))
            with gzip.open(os.path.join(dest, "db", "database.sql.gz"), "rb") as fh:
                self.assertNotIn(b"after-cut", fh.read())
            names = tar_names(os.path.join(dest, "uploads.tar.gz"))
            self.assertIn("./-/system/big.bin", names)
            self.assertNotIn("./-/system/after-cut.txt", names)
            # The writes themselves went through.
            self.assertIn("refs/heads/after-cut", "\n".join(live_refs(repo["git_dir"])))

    def test_preflight_failure_leaves_nothing(self):
        with Fleet(BUILD) as f:
            f.set_service("rails-1", "sidekiq", False)
            rc, out = self.create(f)
            self.assertEqual(rc, 1)
            self.assertEqual(out["state"], "failed")
            self.assertIn("rails-1", out["reason"])
            self.assertIn("gitlab-ctl:sidekiq", out["reason"])
            self.assertFalse(os.path.exists(out["path"]), out["path"])
            self.assertEqual([b["state"] for b in f.cli_json("backup", "list")], ["failed"])

            # A batched background migration still running fails `check`
            # but not a backup's preflight: it does not bear on the dump.
            f.set_service("rails-1", "sidekiq", True)
            f.psql("INSERT INTO batched_background_migrations (created_at, updated_at, max_value, batch_size, "
                   "sub_batch_size, \"interval\", status, job_class_name, table_name, column_name, job_arguments, "
                   "gitlab_schema) VALUES (now(), now(), 1000, 100, 10, 120, 1, 'BackfillFixtureActive', "
                   "'projects', 'id', '[]', 'gitlab_main')")
            rc, chk = f.check()
            self.assertNotEqual(rc, 0)
            self.assertIn("postgresql:batched-background-migrations", json.dumps(chk))
            testlib.next_second(f, out["id"])
            rc, out = self.create(f)
            self.assertEqual((rc, out["state"]), (0, "complete"), json.dumps(out, indent=1))

    def test_agent_killed_during_copy(self):
        with Fleet(BUILD) as f:
            rails = f.node_paths("rails-1")
            with open(os.path.join(rails["uploads"], "-", "system", "big.bin"), "wb") as fh:
                fh.write(os.urandom(96 << 20))
            p = f.cli("backup", "create", "--detach", "--json", check=True)
            bid = json.loads(p.stdout)["id"]
            f.wait_until(lambda: f.cli_json("backup", "show", bid)["phase"] == "copy", 120,
                         "the backup to reach its copy")
            f.stop_agent("rails-1", signal.SIGKILL)
            show = lambda: f.cli_json("backup", "show", bid, ok_codes=(0, 1))  # noqa: E731
            f.wait_until(lambda: show()["state"] != "running", 4 * f.poll_timeout_s + 60,
                         "the backup to fail")
            out = show()
            self.assertEqual(out["state"], "failed", out)
            self.assertIn("rails-1", out["reason"])
            self.assertFalse(os.path.exists(out["path"]), "partial files left in " + out["path"])
            self.assertNotIn("complete", [b["state"] for b in f.cli_json("backup", "list")])


def set_build(path):
    global BUILD
    BUILD = path


def main():
    testlib.run_main(__doc__, set_build)


if __name__ == "__main__":
    main()
