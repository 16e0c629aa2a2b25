#!/usr/bin/env python3
"""`lockstep upgrade path` as an administrator runs it, with nothing else
around: no coordinator, no configuration.

- the path through GitLab's required stops, as text and as one JSON object;
- a version list in apt-cache madison form (CE) gives the same path;
- exit status 2 and a message naming the value on stderr for a downgrade,
  a version missing from the list, a malformed version, and an unreadable
  or malformed stops or versions file (FILE:LINE);
- --help answers with exit status 0.

    python3 integration/test_upgrade_path.py --build BUILD_DIR
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

BUILD = "build"
SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASED = os.path.join(SRC, "data", "released-versions.txt")
STOPS = os.path.join(SRC, "data", "upgrade_path.yml")

# Worked out by hand from data/: 16.3's, 16.7's, 16.11's and 17.1's latest
# patches, then the target.
PATH_16_3_5_TO_17_3_7 = ["16.3.9", "16.7.10", "16.11.10", "17.1.8", "17.3.7"]


def run(*argv, timeout=60):
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


class UpgradePathTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ls-upath-")
        self.cli = os.path.join(BUILD, "coordinator", "lockstep")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def path(self, *args):
        # A configuration that does not exist: `upgrade path` never reads it.
        return run(self.cli, "--config", os.path.join(self.dir, "none.yml"),
                   "upgrade", "path", *args)

    def assert_usage_error(self, p, *words):
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertEqual(p.stdout, "")
        for w in words:
            self.assertIn(w, p.stderr)

    def test_text(self):
        p = self.path("--from", "16.3.5", "--to", "17.3.7", "--available", RELEASED)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr, "")
        self.assertIn(RELEASED, p.stdout)
        steps = [l.split() for l in p.stdout.splitlines() if l[:5].strip().endswith(".")]
        self.assertEqual([s[1] for s in steps], PATH_16_3_5_TO_17_3_7)
        lines = p.stdout.splitlines()
        self.assertTrue(any("16.3.9" in l and "latest patch of your current minor" in l for l in lines))
        self.assertTrue(any("16.7.10" in l and "required upgrade stop" in l for l in lines))
        self.assertTrue(any("17.1.8" in l and "required upgrade stop" in l for l in lines))
        self.assertTrue(any("17.3.7" in l and "the target" in l for l in lines))

    def test_json(self):
        p = self.path("--from", "16.3.5", "--to", "17.3.7", "--available", RELEASED,
                      "--stops", STOPS, "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        o = json.loads(p.stdout)
        self.assertIsInstance(o, dict)
        self.assertEqual(o["from"], "16.3.5")
        self.assertEqual(o["to"], "17.3.7")
        self.assertEqual(o["path"], PATH_16_3_5_TO_17_3_7)
        self.assertEqual(o["notes"], [])
        # Conditional stops are notes, never steps.
        p = self.path("--from", "15.11.13", "--to", "16.3.9", "--available", RELEASED, "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        o = json.loads(p.stdout)
        self.assertEqual(o["path"], ["16.3.9"])
        self.assertEqual(len(o["notes"]), 3, o["notes"])
        for v in ("16.0.10", "16.1.8", "16.2.11"):
            self.assertTrue(any(v in n for n in o["notes"]), v)
        p = self.path("--from", "17.3.7", "--to", "17.3.7", "--available", RELEASED, "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        o = json.loads(p.stdout)
        self.assertEqual(o["path"], [])
        self.assertEqual(len(o["notes"]), 1)

    def test_default_list(self):
        # The package manager's list if it knows gitlab-ee, else the shipped
        # one; either way the source is named and the target comes last.
        p = self.path("--from", "16.3.9", "--to", "16.7.10", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        o = json.loads(p.stdout)
        self.assertEqual(o["path"][-1], "16.7.10")
        self.assertTrue(o["source"])

    def test_madison_ce(self):
        rows = ["16.3.5", "16.3.9", "16.7.3", "16.7.10", "16.11.10", "17.1.8", "17.3.7"]
        text = "".join(" gitlab-ce | %s-ce.0 | https://packages.gitlab.com/gitlab/gitlab-ce/"
                       "debian bookworm/main amd64 Packages\n" % v for v in reversed(rows))
        avail = self.write("madison.txt", text)
        p = self.path("--from", "16.3.5", "--to", "17.3.7", "--available", avail,
                      "--package", "gitlab-ce", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["path"], PATH_16_3_5_TO_17_3_7)
        p = self.path("--from", "16.3.5", "--to", "17.3.7", "--available", avail)
        self.assertIn("[16.7.10-ce.0]", p.stdout)

    def test_downgrade(self):
        p = self.path("--from", "17.3.7", "--to", "16.3.9", "--available", RELEASED)
        self.assert_usage_error(p, "downgrade", "lockstep rollback", "16.3.9", "17.3.7")

    def test_not_available(self):
        p = self.path("--from", "17.3.99", "--to", "18.0.0", "--available", RELEASED)
        self.assert_usage_error(p, "--from 17.3.99", "not in the available versions")
        p = self.path("--from", "17.3.7", "--to", "17.2.6", "--available", RELEASED)
        self.assert_usage_error(p, "--to 17.2.6", "not in the available versions")

    def test_malformed_version(self):
        p = self.path("--from", "17.3", "--to", "18.0.0", "--available", RELEASED)
        self.assert_usage_error(p, "--from", "'17.3'")
        p = self.path("--from", "17.3.7", "--to", "18.x.0", "--available", RELEASED)
        self.assert_usage_error(p, "--to", "'18.x.0'")
        p = self.path("--from", "17.3.7", "--available", RELEASED)
        self.assert_usage_error(p, "--to")
        p = self.path("--from", "17.3.7", "--to", "18.0.0", "--package", "gitlab")
        self.assert_usage_error(p, "--package", "'gitlab'")

    def test_bad_files(self):
        base = ["--from", "16.3.5", "--to", "17.3.7"]
        missing = os.path.join(self.dir, "missing.yml")
        p = self.path(*base, "--stops", missing, "--available", RELEASED)
        self.assert_usage_error(p, missing)
        stops = self.write("stops.yml", "- major: 16\n  minor: 3\n- major: 16\n  minor: seven\n")
        p = self.path(*base, "--stops", stops, "--available", RELEASED)
        self.assert_usage_error(p, stops + ":4:", "minor")
        stops = self.write("stops2.yml", "- major: 16\n  minor: 3\n- major: 16\n")
        p = self.path(*base, "--stops", stops, "--available", RELEASED)
        self.assert_usage_error(p, stops + ":3:", "minor")
        stops = self.write("stops3.yml", "major: 16\nminor: 3\n")
        p = self.path(*base, "--stops", stops, "--available", RELEASED)
        self.assert_usage_error(p, stops + ":1:", "sequence")
        avail = self.write("avail.txt", "# versions\n16.3.5\nsixteen\n17.3.7\n")
        p = self.path(*base, "--available", avail)
        self.assert_usage_error(p, avail + ":3:")
        missing = os.path.join(self.dir, "missing.txt")
        p = self.path(*base, "--available", missing)
        self.assert_usage_error(p, missing)

    def test_usage(self):
        for argv in (["upgrade", "--help"], ["upgrade", "path", "--help"], ["--help"]):
            p = run(self.cli, *argv)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("upgrade path", p.stdout)
        for argv in (["upgrade"], ["upgrade", "sideways"], ["upgrade", "path", "--bogus"]):
            p = run(self.cli, "--config", os.path.join(self.dir, "none.yml"), *argv)
            self.assertEqual(p.returncode, 2, "%s: %s" % (argv, p.stderr))


def main():
    global BUILD
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=BUILD)
    args, rest = ap.parse_known_args()
    BUILD = os.path.abspath(args.build)
    unittest.main(module=__name__, argv=[sys.argv[0], "-v"] + rest, verbosity=2)


if __name__ == "__main__":
    main()
