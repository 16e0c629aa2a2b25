#!/usr/bin/env python3
"""Fault cases of `lockstep backup create` on a real local fleet (PostgreSQL
15, git, the GitLab node fixture), each asserting what is and is not left
behind:

- a repository that cannot be bundled (a blob its history needs is gone)
  fails the backup naming the node and the repository, or, with
  --allow-partial, gives a `partial` backup that lists it, holds no file of
  it, claims it nowhere and verifies;
- a backup store that fills up (a 1 MiB tmpfs) fails the backup naming the
  node, the file being written and "No space left on device", lists
  nothing, leaves no file in the store, no work directory on the nodes and
  GitLab out of maintenance mode.

    python3 integration/test_backup_faults.py --build BUILD_DIR [TestCase.test_name]

The store-full case mounts a tmpfs, so it needs root; a mount that fails
fails the test with mount's reason.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fleet  # noqa: E402
import testlib  # noqa: E402
from fleet import Fleet, FleetError  # noqa: E402

BUILD = os.environ.get("LOCKSTEP_BUILD", "build")
GIT = "/usr/bin/git"
GIT_ENV = dict(fleet.GIT_ENV, PATH="/usr/bin:/bin")
ENOSPC = os.strerror(28)  # "No space left on device"
STORE_MOUNT = "tmpfs-store"


def git(*args, cwd=None, input=None, check=True):
    p = subprocess.run([GIT] + list(args), capture_output=True, env=GIT_ENV, cwd=cwd,
                       input=input, timeout=120)
    if check and p.returncode != 0:
        raise AssertionError("git %s: %s" % (" ".join(args), p.stderr.decode(errors="replace")))
    return p


def live_refs(gitdir):
    out = git("--git-dir", gitdir, "for-each-ref", "--format=%(objectname) %(refname)").stdout
    return sorted(out.decode().splitlines())


def tree_files(root):
    """Every path below root (files, links and directories), relative."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            out.append(os.path.relpath(os.path.join(dirpath, n), root))
    return sorted(out)


def make_unbundlable(gitdir):
    """Deletes the blob of README.md in the repository's first commit, so
    that every ref still resolves (the cut records them) but `git bundle
    create --all` cannot pack the history. Packs are exploded into loose
    objects first, so that exactly that object goes. Returns the blob id."""
    packdir = os.path.join(gitdir, "objects", "pack")
    packs = sorted(p for p in os.listdir(packdir) if p.endswith(".pack")) \
        if os.path.isdir(packdir) else []
    with tempfile.TemporaryDirectory() as aside:
        for p in packs:
            base = p[:-len(".pack")]
            os.rename(os.path.join(packdir, p), os.path.join(aside, p))
            for ext in (".idx", ".rev", ".bitmap", ".keep", ".promisor"):
                if os.path.exists(os.path.join(packdir, base + ext)):
                    os.unlink(os.path.join(packdir, base + ext))
            with open(os.path.join(aside, p), "rb") as fh:
                git("--git-dir", gitdir, "unpack-objects", "-q", input=fh.read())
    root = git("--git-dir", gitdir, "rev-list", "--max-parents=0", "refs/heads/main").stdout
    root = root.decode().split()[0]
    blob = git("--git-dir", gitdir, "rev-parse", root + ":README.md").stdout.decode().strip()
    os.unlink(os.path.join(gitdir, "objects", blob[:2], blob[2:]))
    return blob


class TmpfsStoreFleet(Fleet):
    """A fleet whose coordinator's backup store is a tmpfs of `store_size`
    in the fleet's own directory: mounted before the coordinator starts,
    unmounted once every process of the fleet has stopped (also when the
    start or the test fails), before the directory is removed."""

    def __init__(self, build_dir, store_size, **kw):
        super().__init__(build_dir, **kw)
        self.store_size = store_size
        self.store = None
        self.unmount_error = None

    def _start_coordinator(self, fresh_ports=True):
        if self.store is None:
            self.store = os.path.join(self.dir, STORE_MOUNT)
            os.makedirs(self.store)
            p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0755" % self.store_size,
                                "tmpfs", self.store], capture_output=True, text=True, timeout=30,
                               stdin=subprocess.DEVNULL)
            if p.returncode != 0 or not os.path.ismount(self.store):
                raise FleetError("cannot mount a %s tmpfs on %s (exit %d, running as uid %d): %s" % (
                    self.store_size, self.store, p.returncode, os.getuid(),
                    (p.stderr or p.stdout).strip()))
            self.coordinator_extra["backup_store"] = self.store
        super()._start_coordinator(fresh_ports)

    def unmount(self):
        """Idempotent; records (and returns) what went wrong, if anything."""
        if self.store is None or not os.path.ismount(self.store):
            return None
        deadline = time.monotonic() + 15
        last = None
        while time.monotonic() < deadline:
            p = subprocess.run(["umount", self.store], capture_output=True, text=True, timeout=30,
                               stdin=subprocess.DEVNULL)
            if p.returncode == 0 and not os.path.ismount(self.store):
                return None
            last = (p.stderr or p.stdout).strip()
            time.sleep(0.2)  # busy: a process of the fleet still winding down
        # Never leave the mount behind the test: detach it.
        subprocess.run(["umount", "-l", self.store], capture_output=True, timeout=30,
                       stdin=subprocess.DEVNULL)
        self.unmount_error = "umount %s failed for 15s (%s); detached it lazily" % (self.store, last)
        sys.stderr.write("test_backup_faults: %s\n" % self.unmount_error)
        return self.unmount_error

    def _stop_procs(self):
        try:
            super()._stop_procs()
        finally:
            self.unmount()


def unmount_stale_stores():
    """tmpfs stores of fleets whose harness was SIGKILLed (its pid file
    names a dead process), so that their directories can go."""
    try:
        with open("/proc/self/mounts") as fh:
            mounts = [ln.split()[1] for ln in fh if ln.split()[0] == "tmpfs"]
    except OSError:
        return
    for m in mounts:
        d = re.fullmatch(r"(/tmp/ls-[A-Za-z0-9_]{8})/" + STORE_MOUNT, m)
        if not d:
            continue
        try:
            with open(os.path.join(d.group(1), fleet.HARNESS_PID)) as fh:
                pid = int(fh.read().strip())
        except (OSError, ValueError):
            continue
        if pid != os.getpid() and not os.path.exists("/proc/%d" % pid):
            subprocess.run(["umount", "-l", m], capture_output=True, timeout=30)


class BackupFaultTest(unittest.TestCase):
    def create(self, f, *args, timeout=600):
        return testlib.create_backup(f, *args, timeout=timeout)

    @staticmethod
    def maintenance_on(f):
        return testlib.maintenance_on(f)

    def assert_staging_clean(self, f):
        for name, _ in fleet.DEFAULT_NODES:
            staging = f.node_paths(name)["backups"]
            left = [e for e in os.listdir(staging) if e.startswith("lockstep-")] \
                if os.path.isdir(staging) else []
            self.assertEqual(left, [], name + " kept its backup work directory")

    next_second = staticmethod(testlib.next_second)

    def test_allow_partial_with_unbundlable_repository(self):
        with Fleet(BUILD) as f:
            victim = [r for r in f.repos if not r["empty"] and not r["custom_hooks"]][0]
            vkey = "%s/%s.git" % (victim["storage"], victim["disk_path"])
            refs_before = live_refs(victim["git_dir"])
            blob = make_unbundlable(victim["git_dir"])
            # The precondition: refs resolve (the cut records them), git
            # itself cannot bundle the repository, and no other is harmed.
            self.assertEqual(live_refs(victim["git_dir"]), refs_before)
            p = git("--git-dir", victim["git_dir"], "bundle", "create", "--quiet", "-", "--all",
                    check=False)
            self.assertNotEqual(p.returncode, 0, "git bundle create must fail on the broken repository")
            self.assertIn(blob, p.stderr.decode(errors="replace"))
            store = os.path.join(f.coordinator_state_dir, "backups")

            # `lockstep check` finds it (its fsck sample covers every
            # repository of a node holding three), naming node and
            # repository; a backup's preflight runs no fsck, and the
            # damage is met by the bundle.
            self.assertLessEqual(len([r for r in f.repos if r["node"] == victim["node"]]), 3)
            rc, chk = f.check()
            self.assertNotEqual(rc, 0)
            node = [n for n in chk["nodes"] if n["node"] == victim["node"]][0]
            fsck = [c for c in node["checks"] if c["name"] == "gitaly:fsck"]
            self.assertEqual([c["status"] for c in fsck], ["fail"], json.dumps(node, indent=1))
            self.assertIn(victim["disk_path"], fsck[0]["reason"])

            # (a) Without --allow-partial: the backup fails naming the node
            # and the repository, and leaves nothing.
            rc, out = self.create(f)
            self.assertEqual(rc, 1, json.dumps(out, indent=1))
            self.assertEqual(out["state"], "failed", out)
            self.assertIn("copy on %s: repository %s: git pack-objects: " % (victim["node"], vkey),
                          out["reason"])
            self.assertIn(blob, out["reason"])
            self.assertFalse(os.path.exists(out["path"]), "partial files left in " + out["path"])
            self.assertEqual(os.listdir(store) if os.path.isdir(store) else [], [])
            show = f.cli_json("backup", "show", out["id"], ok_codes=(1,))
            self.assertEqual(show["state"], "failed")
            self.assertEqual(show["reason"], out["reason"])
            self.assertEqual([(b["id"], b["state"]) for b in f.cli_json("backup", "list")],
                             [(out["id"], "failed")])
            self.assertIs(self.maintenance_on(f), False)
            self.assert_staging_clean(f)
            failed_id = out["id"]
            self.next_second(f, failed_id)

            # (b) With --allow-partial: partial, the repository listed as not
            # backed up, every other one whole, nothing of it in the store.
            rc, out = self.create(f, "--allow-partial")
            self.assertEqual(rc, 0, json.dumps(out, indent=1))
            self.assertEqual(out["state"], "partial", out)
            self.assertEqual(out["reason"], "")
            self.assertEqual(out["failed_repositories"], [vkey])
            bid, dest = out["id"], out["path"]
            show = f.cli_json("backup", "show", bid)
            self.assertEqual(show["state"], "partial")
            self.assertEqual(show["failed_repositories"], [vkey])
            p = f.cli("backup", "show", bid)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("not backed up: " + vkey, p.stdout)
            self.assertIn("backup %s: repository %s on %s not backed up" % (bid, vkey, victim["node"]),
                          f.coordinator_log())
            self.assertEqual([(b["id"], b["state"]) for b in f.cli_json("backup", "list")],
                             [(bid, "partial"), (failed_id, "failed")])

            # Not one file or directory of the failed repository.
            left = [x for x in tree_files(dest) if victim["hash"] in x]
            self.assertEqual(left, [], "the failed repository left files in the backup")
            self.assertEqual([x for x in tree_files(dest) if ".tmp-" in x], [])
            self.assertEqual(sorted(os.listdir(store)), [bid])
            with tempfile.TemporaryDirectory() as tmp:
                git("init", "--quiet", "--bare", os.path.join(tmp, "probe.git"))
                for r in f.repos:
                    if r is victim:
                        continue
                    rel = r["disk_path"] + ".git"
                    step = os.path.join(dest, "repositories", r["storage"], rel, bid)
                    mdir = os.path.join(dest, "repositories", "manifests", r["storage"], rel)
                    self.assertTrue(os.path.exists(os.path.join(mdir, bid + ".toml")), rel)
                    with open(os.path.join(step, "001.refs")) as fh:
                        refs = sorted(ln for ln in fh.read().splitlines() if not ln.endswith(" HEAD"))
                    self.assertEqual(refs, live_refs(r["git_dir"]), rel)
                    bundle = os.path.join(step, "001.bundle")
                    if r["empty"]:
                        self.assertFalse(os.path.exists(bundle), rel)
                        continue
                    git("bundle", "verify", bundle, cwd=os.path.join(tmp, "probe.git"))

            # The metadata claims nothing of it: GitLab's files do not name
            # it, nor skip all repositories; the manifest has no artifact of
            # it and lists it, with its node, as not backed up.
            with open(os.path.join(dest, "backup_information.yml")) as fh:
                yml = fh.read()
            self.assertNotIn(victim["hash"], yml)
            skipped = re.search(r"^:skipped: (.*)$", yml, re.M)
            self.assertIsNotNone(skipped, yml)
            self.assertNotIn("repositories", skipped.group(1))
            with open(os.path.join(dest, "backup_information.json")) as fh:
                self.assertNotIn(victim["hash"], fh.read())
            with open(os.path.join(dest, "lockstep", "manifest.json")) as fh:
                man = json.load(fh)
            self.assertEqual([a["path"] for a in man["artifacts"] if victim["hash"] in a["path"]], [])
            self.assertEqual(man.get("failed_repositories"),
                             [{"node": victim["node"], "repository": vkey}], man.keys())
            listed = {a["path"] for a in man["artifacts"]}
            on_disk = {x for x in tree_files(dest) if os.path.isfile(os.path.join(dest, x))}
            self.assertEqual(on_disk - listed, {"backup_information.yml", "backup_information.json",
                                                "lockstep/manifest.json", "lockstep/manifest.json.sig"})
            self.assertEqual(listed - on_disk, set())

            # verify passes on what is there.
            v = f.cli_json("backup", "verify", bid)
            self.assertIs(v["ok"], True, v)
            self.assertEqual(v["artifacts"], len(man["artifacts"]))
            self.assertIs(self.maintenance_on(f), False)
            self.assert_staging_clean(f)
            # The broken repository itself was only read.
            self.assertEqual(live_refs(victim["git_dir"]), refs_before)
            self.assertFalse(os.path.exists(os.path.join(victim["git_dir"], "objects", blob[:2], blob[2:])))

    def test_store_full_fails_naming_node_and_path(self):
        unmount_stale_stores()
        f = TmpfsStoreFleet(BUILD, "1m")
        try:
            with f:
                self.store_full(f)
        except FleetError as e:
            if f.store is not None and "cannot mount" in str(e):
                self.fail(str(e))
            raise
        finally:
            f.close()  # both idempotent: the fleet stops, then the unmount
            f.unmount()
        self.assertFalse(os.path.ismount(f.store), "the tmpfs store is still mounted")
        self.assertIsNone(f.unmount_error)

    def store_full(self, f):
        store = f.store
        self.assertTrue(os.path.ismount(store))
        st = os.statvfs(store)
        self.assertLessEqual(st.f_blocks * st.f_frsize, 1 << 20)
        # Uploads the store cannot hold (random: gzip cannot shrink them).
        rails = f.node_paths("rails-1")
        big = os.path.join(rails["uploads"], "-", "system", "big.bin")
        with open(big, "wb") as fh:
            fh.write(os.urandom(4 << 20))

        rc, out = self.create(f)
        self.assertEqual(rc, 1, json.dumps(out, indent=1))
        self.assertEqual(out["state"], "failed", out)
        dest = out["path"]
        self.assertEqual(os.path.dirname(dest), store)
        # The reason names the node, the file being written and ENOSPC.
        # The first failure is reported: rails-1's uploads.tar.gz is what
        # cannot fit, though the other nodes may also meet a full store
        # while it fills up.
        m = re.match(r"copy on ([a-z0-9-]+): .*\bwriting (%s/\S+): %s" % (re.escape(dest), ENOSPC),
                     out["reason"])
        self.assertIsNotNone(m, out["reason"])
        self.assertIn(m.group(1), [n for n, _ in fleet.DEFAULT_NODES])
        if m.group(1) == "rails-1":
            self.assertEqual(m.group(2), os.path.join(dest, "uploads.tar.gz"))
        show = f.cli_json("backup", "show", out["id"], ok_codes=(1,))
        self.assertEqual(show["state"], "failed")
        self.assertEqual(show["reason"], out["reason"])
        p = f.cli("backup", "show", out["id"])
        self.assertEqual(p.returncode, 1)
        self.assertIn("state       failed: " + out["reason"], p.stdout)
        # Nothing listed as usable, nothing left in the store.
        self.assertEqual([(b["id"], b["state"]) for b in f.cli_json("backup", "list")],
                         [(out["id"], "failed")])
        self.assertFalse(os.path.exists(dest), "partial files left in " + dest)
        self.assertEqual(os.listdir(store), [], "the store keeps files of the failed backup")
        st = os.statvfs(store)
        self.assertEqual(st.f_bfree, st.f_blocks, "the store's space was not given back")
        # GitLab thawed, the nodes' work directories gone.
        self.assertIs(self.maintenance_on(f), False)
        self.assert_staging_clean(f)
        self.assertIn(ENOSPC, f.coordinator_log())

        # The store is usable again once the data fits.
        os.unlink(big)
        self.next_second(f, out["id"])
        rc, out = self.create(f)
        self.assertEqual(rc, 0, json.dumps(out, indent=1))
        self.assertEqual(out["state"], "complete")
        self.assertIs(f.cli_json("backup", "verify", out["id"])["ok"], True)


def set_build(path):
    global BUILD
    BUILD = path


def main():
    testlib.run_main(__doc__, set_build)


if __name__ == "__main__":
    main()
