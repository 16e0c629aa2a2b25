#!/usr/bin/env python3
"""What an administrator meets at the command line, without a fleet:

- a bad coordinator.yml or agent.yml stops every binary with exit status 2,
  a message naming file:line and the key, and nothing started or written;
- every command and subcommand answers --help with exit status 0;
- a CLI that cannot reach the coordinator says so and exits 1.

    python3 integration/test_cli.py --build BUILD_DIR
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

BUILD = "build"


def run(*argv, timeout=30):
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


class CliTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ls-cli-")
        self.coord = os.path.join(BUILD, "coordinator", "lockstep-coordinator")
        self.cli = os.path.join(BUILD, "coordinator", "lockstep")
        self.agent = os.path.join(BUILD, "agent", "lockstep-agent")
        self.exec = os.path.join(BUILD, "agent", "lockstep-agent-exec")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def assert_config_error(self, p, path, line, key):
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertRegex(p.stderr, re.escape("%s:%d:" % (path, line)))
        self.assertIn(key, p.stderr)

    def test_coordinator_bad_config(self):
        state = os.path.join(self.dir, "state")
        cases = [
            ("state_dir: %s\nlisten: tls+tcp://127.0.0.1:1\nlisen: x\n" % state, 3, "lisen"),
            ("state_dir: %s\npoll_timeout: soon\n" % state, 2, "poll_timeout"),
            ("state_dir: %s\nserver_names: localhost\n" % state, 2, "server_names"),
            ("state_dir: %s\nlisten: http://0.0.0.0:80\n" % state, 2, "listen"),
        ]
        for text, line, key in cases:
            path = self.write("coordinator.yml", text)
            p = run(self.coord, "--config", path)
            self.assert_config_error(p, path, line, key)
            self.assertFalse(os.path.exists(state), "a refused config created " + state)
            p = run(self.cli, "--config", path, "status")
            self.assert_config_error(p, path, line, key)

    def test_agent_bad_config(self):
        state = os.path.join(self.dir, "state")
        path = self.write("agent.yml", "state_dir: %s\ngitlab:\n  url: http://x\n  ctll: /bin/true\n" % state)
        for argv in (["run"], ["check"], ["join", "LS1-x"]):
            p = run(self.agent, argv[0], *argv[1:], "--config", path)
            self.assert_config_error(p, path, 4, "gitlab.ctll")
            self.assertFalse(os.path.exists(state))
        path = self.write("agent2.yml", "state_dir: %s\ngitaly:\n  fsck_sample: many\n" % state)
        p = run(self.exec, "--config", path, "facts")
        self.assert_config_error(p, path, 3, "gitaly.fsck_sample")

    def test_help_everywhere(self):
        commands = [
            [self.coord, "--help"],
            [self.cli, "--help"], [self.cli, "help"],
            [self.cli, "node", "--help"], [self.cli, "node", "add", "--help"],
            [self.cli, "node", "list", "--help"], [self.cli, "node", "remove", "--help"],
            [self.cli, "status", "--help"], [self.cli, "check", "--help"],
            [self.cli, "ping", "--help"],
            [self.agent, "--help"], [self.agent, "join", "--help"], [self.agent, "run", "--help"],
            [self.agent, "check", "--help"],
            [self.exec, "--help"], [self.exec, "op", "--help"], [self.exec, "facts", "--help"],
            [self.exec, "check", "--help"],
        ]
        for argv in commands:
            p = run(*argv)
            self.assertEqual(p.returncode, 0, "%s: %s" % (argv, p.stderr))
            self.assertIn("usage", p.stdout.lower(), argv)

    def test_usage_errors(self):
        for argv in ([self.cli], [self.cli, "frobnicate"], [self.agent], [self.agent, "frobnicate"],
                     [self.coord, "extra"], [self.cli, "--socket", "/nonexistent", "node", "add", "x"]):
            p = run(*argv)
            self.assertEqual(p.returncode, 2, "%s: %s%s" % (argv, p.stdout, p.stderr))

    def test_coordinator_unreachable(self):
        p = run(self.cli, "--socket", os.path.join(self.dir, "none.sock"), "status")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("cannot reach the coordinator", p.stderr)


def main():
    global BUILD
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=BUILD)
    args, rest = ap.parse_known_args()
    BUILD = os.path.abspath(args.build)
    unittest.main(module=__name__, argv=[sys.argv[0], "-v"] + rest, verbosity=2)


if __name__ == "__main__":
    main()
