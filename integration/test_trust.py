#!/usr/bin/env python3
"""Trust at the edges of the fleet, on a real local fleet:

- a join token that is reused, forged or expired is refused with a clear
  message and nothing is written into the agent's state directory;
- an agent refuses a coordinator whose certificate does not chain to the CA
  it pinned at enrollment, and reconnects to the real one.

    python3 integration/test_trust.py --build BUILD_DIR [TestCase.test_name]
"""
import argparse
import base64
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fleet  # noqa: E402
from fleet import Fleet  # noqa: E402

BUILD = os.environ.get("LOCKSTEP_BUILD", "build")
LS_EREPLAY = -1004   # common/ls_error.h
LS_EUNKNOWN = -1005


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64url_encode(b):
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


def read(path):
    with open(path, errors="replace") as fh:
        return fh.read()


def forge(token):
    """The same token with one bit of its secret flipped.

    JoinToken field 7 (secret) is length-delimited: tag 0x3a, length 0x20."""
    raw = bytearray(b64url_decode(token[len("LS1-"):]))
    i = raw.find(b"\x3a\x20")
    assert i >= 0, "no secret field in the token"
    raw[i + 2] ^= 0x01
    return "LS1-" + b64url_encode(bytes(raw))


class TrustTest(unittest.TestCase):
    def spare_config(self, f, name):
        d = os.path.join(f.dir, "spare-" + name)
        os.makedirs(d, exist_ok=True)
        cfg = os.path.join(d, "agent.yml")
        with open(cfg, "w") as out:
            out.write("state_dir: %s/state\nexec_helper: %s\nbackup_staging_dir: %s\n"
                      % (d, f.bin["agent_exec"], d))
        return cfg, os.path.join(d, "state")

    def join(self, f, token, cfg):
        return subprocess.run([f.bin["agent"], "join", token, "--config", cfg],
                              capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)

    def test_join_refusals(self):
        with Fleet(BUILD) as f:
            tok = f.cli_json("node", "add", "spare-1", "--role", "gitaly")["token"]

            # Forged: one bit of the secret changed. The coordinator refuses
            # it, and the token still works afterwards.
            cfg, state = self.spare_config(f, "forged")
            p = self.join(f, forge(tok), cfg)
            self.assertNotEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertIn("does not match", p.stderr)
            self.assertFalse(os.path.exists(state), "a refused join wrote " + state)
            f.wait_until(lambda: re.search(r"refused join for node spare-1.*does not match",
                                           f.coordinator_log()), 5,
                         "a coordinator log line naming spare-1 and the forged token")

            cfg, state = self.spare_config(f, "first")
            p = self.join(f, tok, cfg)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertTrue(os.path.exists(os.path.join(state, "identity", "node.key")))
            self.assertEqual(os.stat(os.path.join(state, "identity", "node.key")).st_mode & 0o777, 0o600)

            # Reused.
            cfg, state = self.spare_config(f, "reused")
            p = self.join(f, tok, cfg)
            self.assertNotEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertIn("already used", p.stderr)
            self.assertFalse(os.path.exists(state), "a refused join wrote " + state)

            # Expired.
            tok2 = f.cli_json("node", "add", "spare-2", "--role", "redis", "--ttl", "1s")["token"]
            expires = f.cli_json("node", "list")
            self.assertIn("spare-2", [n["name"] for n in expires["nodes"]])
            time.sleep(1.1)  # the token's own lifetime, not a wait for a condition
            cfg, state = self.spare_config(f, "expired")
            p = self.join(f, tok2, cfg)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("expired", p.stderr)
            self.assertIn("spare-2", p.stderr)
            self.assertFalse(os.path.exists(state), "a refused join wrote " + state)

            # Garbage is a usage error, not a crash.
            cfg, state = self.spare_config(f, "garbage")
            p = self.join(f, "LS1-not-a-token", cfg)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn("invalid join token", p.stderr)
            self.assertFalse(os.path.exists(state))

    def test_replay_and_unknown_node_rejected(self):
        with Fleet(BUILD) as f:
            tok = f.cli_json("node", "add", "spare-1", "--role", "gitaly")["token"]
            cfg, state = self.spare_config(f, "replay")
            p = self.join(f, tok, cfg)
            self.assertEqual(p.returncode, 0, p.stderr)
            p = f.probe("replay", "--state", state, "--url", f.fleet_url, "--server-name", f.server_name)
            res = json.loads(p.stdout.strip().splitlines()[-1])
            self.assertEqual(res["first"], "ack", res)
            self.assertEqual(res["second"], "rejected", res)
            self.assertEqual(res["code"], LS_EREPLAY, res)
            f.wait_until(lambda: re.search(r"rejected message from node spare-1: replayed",
                                           f.coordinator_log()), 5,
                         "a coordinator log line naming spare-1 and the replay")
            p = f.probe("impersonate", "--state", state, "--as", "ghost-1", "--url", f.fleet_url,
                        "--server-name", f.server_name)
            res = json.loads(p.stdout.strip().splitlines()[-1])
            self.assertEqual(res["result"], "rejected", res)
            self.assertEqual(res["code"], LS_EUNKNOWN, res)
            f.wait_until(lambda: re.search(r"rejected message from node ghost-1: unknown node",
                                           f.coordinator_log()), 5,
                         "a coordinator log line naming ghost-1 as unknown")
            st = f.status()
            self.assertGreaterEqual(st["counters"]["rejected_replay"], 1)
            self.assertGreaterEqual(st["counters"]["rejected_unknown"], 1)

    def test_agent_ignores_unpinned_coordinator_key(self):
        with Fleet(BUILD) as f:
            rc, out = f.check()
            self.assertEqual(rc, 0, out)
            # Same CA (TLS still passes), new signing key: a coordinator the
            # agents never pinned.
            f.stop_coordinator()
            os.unlink(os.path.join(f.coordinator_state_dir, "sign.key"))
            f.start_coordinator()
            f.wait_until(lambda: "not signed by the pinned coordinator key" in f.agent_log("gitaly-1"),
                         30, "gitaly-1 to ignore replies signed by an unpinned key")
            p = f.cli("check", "--json", "--timeout", "5s")
            self.assertNotEqual(p.returncode, 0, p.stdout)
            out = json.loads(p.stdout)
            self.assertEqual([n["node"] for n in out["nodes"] if n["answered"]], [],
                             "no agent may run an operation from an unpinned coordinator")

    def test_agent_refuses_foreign_coordinator(self):
        with Fleet(BUILD) as f:
            port = f.fleet_port
            d = tempfile.mkdtemp(prefix="foreign-", dir=f.dir)
            key, crt = os.path.join(d, "srv.key"), os.path.join(d, "srv.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt,
                            "-days", "2", "-subj", "/CN=" + f.server_name,
                            "-addext", "subjectAltName=DNS:" + f.server_name],
                           check=True, capture_output=True)
            f.stop_coordinator()
            f.wait_until(lambda: "lost; redialing" in f.agent_log("gitaly-1"), 10,
                         "gitaly-1 to notice the coordinator left")
            log = os.path.join(d, "s_server.log")
            with open(log, "w") as out:
                srv = subprocess.Popen(["openssl", "s_server", "-accept", "127.0.0.1:%d" % port,
                                        "-cert", crt, "-key", key, "-tls1_2"],
                                       stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT,
                                       start_new_session=True)
            try:
                # An agent that pinned the fleet CA aborts the handshake
                # with a certificate alert; no request ever reaches s_server.
                f.wait_until(lambda: re.search(r"alert (unknown ca|bad certificate|certificate unknown)",
                                               read(log), re.I), 45,
                             "an agent to refuse the foreign certificate (s_server log: %s)" % log)
                self.assertNotIn("LSE1", read(log))
            finally:
                os.killpg(srv.pid, signal.SIGTERM)
                srv.wait(10)
            # Positive control: the real coordinator, same port, is accepted.
            f.start_coordinator()
            f.wait_until(lambda: f.connected_nodes() == set(n for n, _ in fleet.DEFAULT_NODES), 90,
                         "all agents back on the real coordinator")


def main():
    global BUILD
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=BUILD)
    args, rest = ap.parse_known_args()
    BUILD = os.path.abspath(args.build)
    unittest.main(module=__name__, argv=[sys.argv[0], "-v"] + rest, verbosity=2)


if __name__ == "__main__":
    main()
