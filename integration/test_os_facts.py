#!/usr/bin/env python3
"""Each node's OS release reaches `lockstep status --json` as "os_id" and
"os_version_id" (ID and VERSION_ID of the agent's os_release file), next to
"os" (PRETTY_NAME). Every fixture node starts with the machine's own
/etc/os-release; gitlab_node.set_os_release changes one node's, and after
`lockstep check` (which sends fresh facts) status shows the new values for
that node only. The upgrade plan looks these up in GitLab's supported OS
table (data/supported-os.txt).

    python3 integration/test_os_facts.py --build BUILD_DIR [Case.test_name]
"""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import testlib  # noqa: E402
from fleet import Fleet  # noqa: E402
import gitlab_node  # noqa: E402

BUILD = os.environ.get("LOCKSTEP_BUILD", "build")


def machine_os_release():
    """ID, VERSION_ID and PRETTY_NAME of this machine, unquoted."""
    vals = {}
    with open("/etc/os-release", encoding="utf-8") as f:
        for line in f:
            k, sep, v = line.rstrip("\n").partition("=")
            if sep and k not in vals:
                vals[k] = v.strip('"\'')
    return vals.get("ID"), vals.get("VERSION_ID"), vals.get("PRETTY_NAME")


class OsFacts(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        missing = Fleet.missing_binaries(BUILD)
        if missing:
            raise AssertionError("missing binaries (build first): %s" % missing)
        cls.f = Fleet(BUILD)
        cls.f.__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.f.__exit__(None, None, None)

    def nodes(self):
        return {n["name"]: n for n in self.f.status()["nodes"]}

    def wait_for(self, name, os_id, version_id, timeout=60):
        """The node's status once it shows os_id/version_id (checks make
        the agents send fresh facts; the facts interval would too)."""
        deadline = time.monotonic() + timeout
        while True:
            self.f.check()
            n = self.nodes()[name]
            if (n["os_id"], n["os_version_id"]) == (os_id, version_id) or time.monotonic() > deadline:
                return n
            time.sleep(1)

    def test_machine_then_changed(self):
        os_id, version_id, pretty = machine_os_release()
        names = sorted(self.nodes())
        self.assertGreaterEqual(len(names), 2, names)
        for name in names:
            n = self.wait_for(name, os_id, version_id)
            self.assertEqual((n["os_id"], n["os_version_id"], n["os"]), (os_id, version_id, pretty), n)

        target = names[0]
        gitlab_node.set_os_release(self.f.node_dir(target), "ubuntu", "18.04",
                                   "Ubuntu 18.04.6 LTS")
        n = self.wait_for(target, "ubuntu", "18.04")
        self.assertEqual((n["os_id"], n["os_version_id"], n["os"]),
                         ("ubuntu", "18.04", "Ubuntu 18.04.6 LTS"), n)
        # The other nodes still report the machine's OS.
        for name in names[1:]:
            n = self.nodes()[name]
            self.assertEqual((n["os_id"], n["os_version_id"]), (os_id, version_id), n)


def _set_build(path):
    global BUILD
    BUILD = path


if __name__ == "__main__":
    testlib.run_main(__doc__, _set_build)
