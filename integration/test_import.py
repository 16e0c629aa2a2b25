#!/usr/bin/env python3
"""`lockstep backup import` on a real local fleet: backups assembled here as
GitLab's own tools lay them out (gitlab-facts.md §1-§3), with plain tar,
pg_dump | gzip, gzip and `git bundle create --all` (never Lockstep's writer):

- a Rake `<id>_gitlab_backup.tar` is imported, listed complete, and
  `lockstep backup verify` passes on it (signature, checksums, bundles,
  decompression); a byte changed in the imported uploads.tar.gz makes verify
  fail naming it; a second import of the same id is refused;
- a gitlab-backup-cli directory, given as a relative path, is imported.

The backup's gitlab_version is the fixture fleet's, so restore can use it.

    python3 integration/test_import.py --build BUILD_DIR [ImportTest.test_name]
"""
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fleet  # noqa: E402
import gitlab_node  # noqa: E402
import testlib  # noqa: E402
from fleet import Fleet  # noqa: E402

BUILD = os.environ.get("LOCKSTEP_BUILD", "build")
GIT = "/usr/bin/git"
GIT_ENV = dict(fleet.GIT_ENV, PATH="/usr/bin:/bin")
PG_DUMP = os.path.join(fleet.PG_BIN, "pg_dump")


def run(argv, **kw):
    p = subprocess.run(argv, capture_output=True, timeout=300, **kw)
    if p.returncode != 0:
        raise AssertionError("%s: %s" % (" ".join(argv), p.stderr.decode(errors="replace")))
    return p.stdout


def pipe_to_gzip(argv, out_path, cwd=None, env=None):
    """`argv | gzip -c -1 > out_path`, without a shell."""
    with open(out_path, "wb") as out:
        src = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, env=env)
        gz = subprocess.Popen(["gzip", "-c", "-1"], stdin=src.stdout, stdout=out)
        src.stdout.close()
        err = src.stderr.read()
        src.stderr.close()
        if src.wait(300) != 0 or gz.wait(300) != 0:
            raise AssertionError("%s | gzip: %s" % (" ".join(argv), err.decode(errors="replace")))


def fleet_version(f):
    return "%s-%s" % gitlab_node.split_version(f.gitlab_version)


def rake_yml(bid, version, created):
    """backup_information.yml as GitLab 17.8's Rake task writes it."""
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(created)) + ".000000000 Z"
    return "".join([
        ":db_version: '20250129124422'\n",
        ":backup_created_at: !ruby/object:ActiveSupport::TimeWithZone\n",
        "  utc: %s\n" % when,
        "  zone: !ruby/object:ActiveSupport::TimeZone\n",
        "    name: Etc/UTC\n",
        "  time: %s\n" % when,
        ":gitlab_version: %s\n" % version,
        ":tar_version: tar (GNU tar) 1.34\n",
        ":installation_type: omnibus-gitlab\n",
        ":skipped: builds,pages\n",
        ":repositories_storages: ''\n",
        ":repositories_paths: ''\n",
        ":skip_repositories_paths: ''\n",
        ":repositories_server_side: false\n",
        ":backup_id: %s\n" % bid,
        ":full_backup_id:\n",
    ])


def assemble(f, root, bid, repos=6):
    """GitLab's layout in root: db dump, repositories in gitaly-backup's
    manifest layout, uploads and artifacts archives. Returns the number of
    artifacts an import should find."""
    count = 0
    os.makedirs(os.path.join(root, "db"))
    pipe_to_gzip([PG_DUMP, "--clean", "--if-exists", "-h", f.pg_socket_dir, "-p", str(f.pg_port),
                  "-U", fleet.PG_USER, fleet.PG_DB], os.path.join(root, "db", "database.sql.gz"))
    count += 1
    chosen = [r for r in f.repos if not r["empty"]][:repos] + [r for r in f.repos if r["empty"]][:1]
    for r in chosen:
        rel = r["disk_path"] + ".git"
        step = os.path.join(root, "repositories", r["storage"], rel, bid)
        mdir = os.path.join(root, "repositories", "manifests", r["storage"], rel)
        os.makedirs(step)
        os.makedirs(mdir)
        gd = ["--git-dir", r["git_dir"]]
        refs = run([GIT] + gd + ["for-each-ref", "--format=%(objectname) %(refname)"],
                   env=GIT_ENV).decode()
        head = ""
        if refs:
            head = run([GIT] + gd + ["rev-parse", "HEAD"], env=GIT_ENV).decode().strip() + " HEAD\n"
            run([GIT] + gd + ["bundle", "create", os.path.join(step, "001.bundle"), "--all"], env=GIT_ENV)
            count += 1
        with open(os.path.join(step, "001.refs"), "w") as fh:
            fh.write(head + refs)
        count += 1
        prefix = "%s/%s/%s/001" % (r["storage"], rel, bid)
        toml = ("empty = %s\nnon_existent = false\nobject_format = 'sha1'\n"
                "head_reference = 'refs/heads/main'\n\n[[steps]]\nbundle_path = '%s.bundle'\n"
                "ref_path = '%s.refs'\ncustom_hooks_path = '%s.custom_hooks.tar'\n") % (
                    "false" if refs else "true", prefix, prefix, prefix)
        for name in (bid + ".toml", "+latest.toml"):
            with open(os.path.join(mdir, name), "w") as fh:
                fh.write(toml)
            count += 1
    rails = f.node_paths("rails-1")
    for comp, src in (("uploads", rails["uploads"]),
                      ("artifacts", os.path.join(rails["rails_shared"], "artifacts"))):
        os.makedirs(src, exist_ok=True)
        pipe_to_gzip(["tar", "--exclude=lost+found", "-C", src, "-cf", "-", "."],
                     os.path.join(root, comp + ".tar.gz"))
        count += 1
    return count


def backup_id(f, when):
    return "%d_%s_%s" % (when, time.strftime("%Y_%m_%d", time.gmtime(when)), fleet_version(f))


class ImportTest(unittest.TestCase):
    def test_rake_tar_import_verify_tamper(self):
        with Fleet(BUILD) as f:
            version = fleet_version(f)
            now = int(time.time()) - 3600
            bid = backup_id(f, now)
            root = os.path.join(f.dir, "gitlab-backup")
            nart = assemble(f, root, bid)
            with open(os.path.join(root, "backup_information.yml"), "w") as fh:
                fh.write(rake_yml(bid, version, now))
            tar = os.path.join(f.dir, bid + "_gitlab_backup.tar")
            run(["tar", "--exclude=lost+found", "-C", root, "-cf", tar, "backup_information.yml", "db",
                 "repositories", "uploads.tar.gz", "artifacts.tar.gz"])
            os.chmod(tar, 0o600)

            out = f.cli_json("backup", "import", tar, timeout=600)
            self.assertEqual(out, {"id": bid, "format": "rake", "artifacts": nart,
                                   "size": out["size"], "gitlab_version": version})
            lst = {b["id"]: b for b in f.cli_json("backup", "list")}
            self.assertEqual(lst[bid]["state"], "complete", lst[bid])
            self.assertEqual(lst[bid]["gitlab_version"], version)
            self.assertEqual(lst[bid]["artifacts"], nart)
            self.assertEqual(lst[bid]["created_at"], now)
            dest = lst[bid]["path"]
            with open(os.path.join(dest, "lockstep", "manifest.json")) as fh:
                man = json.load(fh)
            self.assertEqual(man["imported"], {"format": "rake", "source": tar})
            self.assertEqual(man["skipped"], "builds,pages")
            for a in man["artifacts"]:
                self.assertEqual(testlib.sha256(os.path.join(dest, a["path"])), a["sha256"], a["path"])
            # GitLab's own files stay as they were.
            with open(os.path.join(dest, "backup_information.yml")) as fh:
                self.assertEqual(fh.read(), rake_yml(bid, version, now))
            self.assertEqual([n for n in os.listdir(os.path.dirname(dest)) if n.startswith(".import")], [])

            p = f.cli("backup", "verify", bid, timeout=600)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertIn("every artifact verified", p.stdout)

            again = f.cli("backup", "import", tar, timeout=600)
            self.assertEqual(again.returncode, 1)
            self.assertIn("already", again.stderr)

            # One byte changed in the imported uploads archive.
            up = os.path.join(dest, "uploads.tar.gz")
            with open(up, "r+b") as fh:
                fh.seek(os.path.getsize(up) // 2)
                b = fh.read(1)
                fh.seek(-1, os.SEEK_CUR)
                fh.write(bytes([b[0] ^ 0xFF]))
            p = f.cli("backup", "verify", bid, timeout=600)
            self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
            self.assertIn("BAD  uploads.tar.gz", p.stdout)
            self.assertIn("VERIFY FAILED", p.stdout)

    def test_backup_cli_directory(self):
        with Fleet(BUILD) as f:
            version = fleet_version(f)
            now = int(time.time()) - 7200
            bid = backup_id(f, now)
            root = os.path.join(f.dir, "cli-backups", bid)
            nart = assemble(f, root, bid, repos=2)
            with open(os.path.join(root, "backup_information.json"), "w") as fh:
                json.dump({"backup_id": bid,
                           "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
                           "gitlab_version": version, "metadata_version": 2}, fh, indent=2)
            # A relative path: the CLI makes it absolute for the coordinator.
            p = subprocess.run([f.bin["cli"], "--config", f.coordinator_config, "backup", "import",
                                os.path.join("cli-backups", bid)], capture_output=True, text=True,
                               timeout=600, cwd=f.dir, env=fleet.clean_env())
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertRegex(p.stdout, r"^imported %s \(backup-cli, %d artifacts, [0-9.]+ [KMG]?i?B\) from %s\n$"
                             % (bid, nart, os.path.join(f.dir, "cli-backups", bid)))
            lst = {b["id"]: b for b in f.cli_json("backup", "list")}
            self.assertEqual(lst[bid]["state"], "complete")
            p = f.cli("backup", "verify", bid, timeout=600)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


def set_build(path):
    global BUILD
    BUILD = path


def main():
    testlib.run_main(__doc__, set_build)


if __name__ == "__main__":
    main()
