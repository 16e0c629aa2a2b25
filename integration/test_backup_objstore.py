#!/usr/bin/env python3
"""File components in object storage, on a real local fleet: the rails
node's rendered gitlab.yml (agent.yml gitlab.rails_config) says which
components GitLab keeps in object storage.

- object storage on and no file left in the local directory (GitLab's
  tmp/ exclusion does not count): no archive, the component is in
  backup_information.yml's :skipped:, the export has no archive for it and
  verify passes;
- object storage on but a file left locally (a migration not finished): the
  archive holds it, and the cut reports it: the coordinator warns naming
  node, component, directory and file count;
- the default gitlab.yml (object storage off): every component archived as
  before, no warning;
- a malformed gitlab.yml: a warning naming node and file:line, nothing left
  out.

    python3 integration/test_backup_objstore.py --build BUILD_DIR [ObjstoreTest.test_name]
"""
import json
import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixture"))
from fleet import Fleet  # noqa: E402
import testlib  # noqa: E402
import gitlab_node  # noqa: E402

BUILD = os.environ.get("LOCKSTEP_BUILD", "build")
RAILS = "rails-1"


def tar_names(path):
    p = subprocess.run(["tar", "-taf", path], capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise AssertionError("tar -taf %s: %s" % (path, p.stderr))
    return p.stdout.splitlines()


def skipped_of(dest):
    with open(os.path.join(dest, "backup_information.yml")) as fh:
        m = re.search(r"^:skipped: (.*)$", fh.read(), re.M)
    return [] if m is None else [s for s in m.group(1).strip("'\"").split(",") if s]


def empty_dir(path):
    """Removes what is in path, keeping path itself."""
    for e in os.listdir(path):
        full = os.path.join(path, e)
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full)
        else:
            os.unlink(full)


class ObjstoreTest(unittest.TestCase):
    def create(self, f, *args, timeout=600):
        rc, out = testlib.create_backup(f, *args, timeout=timeout)
        self.assertEqual(rc, 0, json.dumps(out, indent=1))
        self.assertEqual(out["state"], "complete", out)
        return out["id"], out["path"]

    def export_top(self, f, bid):
        outdir = os.path.join(f.dir, "export-" + bid)
        os.makedirs(outdir)
        e = f.cli_json("backup", "export", bid, "--output", outdir)
        p = subprocess.run(["tar", "-tf", e["tar"]], capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        return {ln.split("/")[0] for ln in p.stdout.splitlines()}

    def test_empty_in_object_storage_is_skipped(self):
        with Fleet(BUILD) as f:
            node = f.node_dir(RAILS)
            p = f.node_paths(RAILS)
            uploads = p["uploads"]
            # Everything went to object storage; what GitLab's backup
            # excludes (tmp/) may remain and does not count.
            empty_dir(uploads)
            os.makedirs(os.path.join(uploads, "tmp", "work"))
            with open(os.path.join(uploads, "tmp", "work", "part"), "w") as fh:
                fh.write("an upload in progress\n")
            # The fixture seeds package files: they went too.
            packages = os.path.join(p["rails_shared"], "packages")
            empty_dir(packages)
            self.assertEqual(os.listdir(packages), [])
            gitlab_node.write_gitlab_yml(node, RAILS, object_storage=("uploads", "packages"))
            bid, dest = self.create(f)

            self.assertFalse(os.path.exists(os.path.join(dest, "uploads.tar.gz")))
            self.assertFalse(os.path.exists(os.path.join(dest, "packages.tar.gz")))
            for kept in ("artifacts.tar.gz", "lfs.tar.gz", "terraform_state.tar.gz"):
                self.assertTrue(os.path.exists(os.path.join(dest, kept)), kept)
            skipped = skipped_of(dest)
            self.assertIn("uploads", skipped)
            self.assertIn("packages", skipped)
            self.assertNotIn("artifacts", skipped)
            self.assertNotIn("lfs", skipped)
            with open(os.path.join(dest, "lockstep", "manifest.json")) as fh:
                man = json.load(fh)
            self.assertFalse([a for a in man["artifacts"] if a["component"] in ("uploads", "packages")],
                             man["artifacts"])
            self.assertIn("uploads is in object storage with no local file on %s: skipped" % RAILS,
                          f.coordinator_log())
            # The files stay where they were: a backup never removes data.
            self.assertTrue(os.path.exists(os.path.join(uploads, "tmp", "work", "part")))

            v = f.cli_json("backup", "verify", bid)
            self.assertIs(v["ok"], True, v)
            top = self.export_top(f, bid)
            self.assertNotIn("uploads.tar.gz", top)
            self.assertNotIn("packages.tar.gz", top)
            self.assertIn("artifacts.tar.gz", top)
            self.assertIn("db", top)

    def test_local_file_left_is_archived_with_warning(self):
        with Fleet(BUILD) as f:
            node = f.node_dir(RAILS)
            uploads = f.node_paths(RAILS)["uploads"]
            local = sorted(os.path.relpath(os.path.join(d, fn), uploads)
                           for d, _, fns in os.walk(uploads) for fn in fns)
            self.assertGreaterEqual(len(local), 1)
            gitlab_node.write_gitlab_yml(node, RAILS, object_storage=("uploads",))
            bid, dest = self.create(f)

            names = tar_names(os.path.join(dest, "uploads.tar.gz"))
            for rel in local:
                self.assertIn("./" + rel, names)
            self.assertNotIn("uploads", skipped_of(dest))
            # The agent's cut reports it; the coordinator warns naming
            # node, component, directory and file count.
            want = "uploads is in object storage on %s, yet %s still holds %d file(s): archived" % (
                RAILS, uploads, len(local))
            f.wait_until(lambda: want in f.coordinator_log(), "10s", "the warning")
            self.assertIs(f.cli_json("backup", "verify", bid)["ok"], True)
            self.assertIn("uploads.tar.gz", self.export_top(f, bid))

    def test_default_config_unchanged(self):
        with Fleet(BUILD) as f:
            p = f.node_paths(RAILS)
            with open(p["rails_config"]) as fh:
                self.assertRegex(fh.read(), r"(?m)^  uploads:\n(?:    .*\n)*?    object_store:\n      enabled: false$")
            bid, dest = self.create(f)
            for comp in ("uploads", "artifacts", "lfs", "pages", "terraform_state", "packages",
                         "ci_secure_files", "registry"):
                self.assertTrue(os.path.exists(os.path.join(dest, comp + ".tar.gz")), comp)
            skipped = skipped_of(dest)
            for comp in ("uploads", "artifacts", "lfs", "pages", "terraform_state", "packages",
                         "ci_secure_files", "registry"):
                self.assertNotIn(comp, skipped)
            self.assertNotIn("object storage", f.agent_log(RAILS))
            self.assertNotIn("object storage", f.coordinator_log())

    def test_malformed_config_excludes_nothing(self):
        with Fleet(BUILD) as f:
            node = f.node_dir(RAILS)
            p = f.node_paths(RAILS)
            empty_dir(os.path.join(p["rails_shared"], "packages"))
            gitlab_node.write_gitlab_yml(node, RAILS, object_storage=("packages",))
            with open(p["rails_config"], "a") as fh:
                fh.write("  broken: [\n")
            bid, dest = self.create(f)
            self.assertTrue(os.path.exists(os.path.join(dest, "packages.tar.gz")))
            self.assertNotIn("packages", skipped_of(dest))
            with open(p["rails_config"]) as fh:
                nlines = len(fh.read().splitlines())
            m = f.wait_until(lambda: re.search(r"%s: %s:(\d+): .*object storage unknown" % (
                RAILS, re.escape(p["rails_config"])), f.coordinator_log()),
                "10s", "the warning naming gitlab.yml:line")
            # The unclosed flow sequence on the last line, or the end of
            # the file right after it.
            self.assertIn(int(m.group(1)), (nlines, nlines + 1), m.group(0))


def set_build(path):
    global BUILD
    BUILD = path


def main():
    testlib.run_main(__doc__, set_build)


if __name__ == "__main__":
    main()
