#!/usr/bin/env python3
"""The GitLab node fixture's upgrade stand-ins, alone and with the agent.

    python3 integration/test_fixture_upgrade.py --build BUILD_DIR [NAME ...]

apt-get, apt-cache, gitlab-rake and gitlab-ctl's call log run directly
(required stops, fail-at, downgrades, environment recorded); then
lockstep-agent-exec runs PackageVersions, UpgradeAction and BbmStatus
against the same node and the fixture's real PostgreSQL, with migrations
that finish over time. Standard library only: the few protobuf messages
are encoded here by hand.
"""
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree

import argparse  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import unittest  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fleet  # noqa: E402
from fleet import FixtureEnv, clean_env, yq  # noqa: E402
import gitlab_node  # noqa: E402

BUILD = os.environ.get("LOCKSTEP_BUILD", os.path.join(os.path.dirname(HERE), "build"))
MADISON = re.compile(r"^ +gitlab-ee \| (\d+\.\d+\.\d+)-ee\.0 \| https://packages\.gitlab\.com/gitlab/"
                     r"gitlab-ee/debian bookworm/main amd64 Packages$")

# ------------------------------------------------------------ protobuf, tiny
# Field numbers from proto/lockstep.proto.
UA = {"SKIP_AUTO_RECONFIGURE": 0, "INSTALL": 1, "REMOVE": 2, "RECONFIGURE": 3, "RESTART": 4,
      "STOP": 5, "START": 6, "HUP_PUMA": 7, "POST_DEPLOY_MIGRATE": 8, "GEO_STOP_LOGCURSOR": 9,
      "GEO_MIGRATE": 10, "GEO_CHECK": 11, "READY_WAIT": 12}


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_varint(num, n):
    return varint(num << 3) + varint(n)


def field_bytes(num, data):
    if isinstance(data, str):
        data = data.encode()
    return varint(num << 3 | 2) + varint(len(data)) + data


def decode(buf):
    """{field: [values]}: ints for varints, bytes for length-delimited."""
    out, i = {}, 0
    while i < len(buf):
        key, shift = 0, 0
        while True:
            b = buf[i]
            i += 1
            key |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, shift = 0, 0
            while True:
                b = buf[i]
                i += 1
                v |= (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    break
        elif wt == 2:
            n, shift = 0, 0
            while True:
                b = buf[i]
                i += 1
                n |= (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    break
            v = buf[i:i + n]
            i += n
        else:
            raise ValueError("wire type %d" % wt)
        out.setdefault(num, []).append(v)
    return out


def s(msg, num):
    return msg[num][0].decode() if num in msg else None


def op_result(raw):
    """OpResult as a dict: op_id, status, error and the upgrade kinds."""
    m = decode(raw)
    z = m[2][0]
    r = {"op_id": m[1][0], "status": (z >> 1) ^ -(z & 1), "error": s(m, 3)}
    if 15 in m:
        p = decode(m[15][0])
        r["package_versions"] = {"package": s(p, 1), "manager": s(p, 2), "installed": s(p, 4),
                                 "versions": [v.decode() for v in p.get(3, [])]}
    if 16 in m:
        u = decode(m[16][0])
        r["upgrade_action"] = {"version": s(u, 1), "output_tail": s(u, 2), "ms": u.get(3, [None])[0]}
    if 17 in m:
        b = decode(m[17][0])
        r["bbm"] = []
        for raw_m in b.get(1, []):
            x = decode(raw_m)
            r["bbm"].append({"database": s(x, 1), "id": x[2][0], "job_class": s(x, 3),
                             "table": s(x, 4), "column": s(x, 5), "status": x[6][0],
                             "job_arguments": s(x, 7)})
    return r


def upgrade_action(kind, version=None, skip_post_deploy=None, services=(), ready_wait_ms=None,
                   allow_downgrade=None):
    b = field_varint(1, UA[kind])
    if version is not None:
        b += field_bytes(2, version)
    if skip_post_deploy is not None:
        b += field_varint(3, int(skip_post_deploy))
    for svc in services:
        b += field_bytes(4, svc)
    if ready_wait_ms is not None:
        b += field_varint(5, ready_wait_ms)
    if allow_downgrade is not None:
        b += field_varint(6, int(allow_downgrade))
    return b


# ------------------------------------------------------------------- tests

class FixtureUpgradeTest(unittest.TestCase):
    """The stand-ins on their own, then the agent against them."""

    @classmethod
    def setUpClass(cls):
        cls.env = FixtureEnv(ci_database=True)
        cls.env.__enter__()
        cls.exec_path = fleet.binaries(BUILD)["agent_exec"]
        cls.op_id = 100

    @classmethod
    def tearDownClass(cls):
        cls.env.__exit__(None, None, None)

    def node(self, name):
        return self.env.node_dir(name)

    def run_standin(self, node, key, *args, env=None):
        # Only what the call sets: the harness may run with DEBIAN_FRONTEND.
        base = {k: v for k, v in clean_env().items() if k not in gitlab_node.RECORDED_ENV}
        base.update(env or {})
        return subprocess.run([self.env.node_paths(node)[key]] + list(args), capture_output=True,
                              text=True, timeout=60, env=base, stdin=subprocess.DEVNULL)

    def fresh(self, node, version):
        """The node at version with a clean call log and no fault files."""
        d = self.node(node)
        gitlab_node.write_version(d, version)
        for key in ("package_removed", "skip_auto_reconfigure"):
            if os.path.exists(self.env.node_paths(node)[key]):
                os.unlink(self.env.node_paths(node)[key])
        gitlab_node.set_package_fail_at(d, None)
        gitlab_node.set_rake_fail(d, [])
        gitlab_node.set_ctl_fail(d, [])
        gitlab_node.clear_calls(d)

    # --- the stand-ins alone
    def test_madison_lists_the_repository_newest_first(self):
        node = "gitaly-1"
        self.fresh(node, "17.8.2")
        p = self.run_standin(node, "apt_cache", "madison", "gitlab-ee")
        self.assertEqual(p.returncode, 0, p.stderr)
        got = []
        for line in p.stdout.splitlines():
            m = MADISON.match(line)
            self.assertIsNotNone(m, line)
            got.append(m.group(1))
        repo = gitlab_node.read_package_repo(self.node(node))
        self.assertEqual(got, sorted(repo, key=gitlab_node.version_tuple, reverse=True))
        self.assertIn("17.8.2", got)
        self.assertEqual([c["argv"] for c in self.env.calls(node, "apt-cache")],
                         [["madison", "gitlab-ee"]])

    def test_install_respects_required_stops(self):
        node = "gitaly-1"
        d = self.node(node)
        self.fresh(node, "17.1.8")
        # 17.8.2 needs 17.5 (the latest stop below 17.8): from 17.1, refused.
        p = self.run_standin(node, "apt_get", "install", "-y", "gitlab-ee=17.8.2-ee.0",
                             env={"DEBIAN_FRONTEND": "noninteractive"})
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("It is required to upgrade to the latest 17.5.x version first", p.stderr)
        self.assertEqual(gitlab_node.installed_version(d), ("17.1.8", "ee"))
        # 17.3 is the next stop after 17.1: accepted; without the skip
        # file the package reconfigures on its own.
        p = self.run_standin(node, "apt_get", "install", "-y", "gitlab-ee=17.3.7-ee.0",
                             env={"DEBIAN_FRONTEND": "noninteractive"})
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(gitlab_node.installed_version(d), ("17.3.7", "ee"))
        with open(self.env.node_paths(node)["version_manifest_txt"]) as f:
            self.assertEqual(f.readline(), "gitlab-ee 17.3.7\n")
        with open(self.env.node_paths(node)["rails_version"]) as f:
            self.assertEqual(f.read(), "17.3.7-ee\n")
        calls = self.env.calls(node)
        self.assertEqual([(c["cmd"], c["argv"], c["env"], c.get("implicit")) for c in calls], [
            ("apt-get", ["install", "-y", "gitlab-ee=17.8.2-ee.0"], {"DEBIAN_FRONTEND": "noninteractive"},
             None),
            ("apt-get", ["install", "-y", "gitlab-ee=17.3.7-ee.0"], {"DEBIAN_FRONTEND": "noninteractive"},
             None),
            ("gitlab-ctl", ["reconfigure"], {"DEBIAN_FRONTEND": "noninteractive"}, True),
        ])
        self.assertTrue(all(c["ts"] > 0 for c in calls))
        # With the skip file: no reconfigure of the package's own.
        open(self.env.node_paths(node)["skip_auto_reconfigure"], "w").close()
        since = calls[-1]["ts"]
        p = self.run_standin(node, "apt_get", "install", "-y", "gitlab-ee=17.5.5-ee.0")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("Found /etc/gitlab/skip-auto-reconfigure", p.stdout)
        self.assertEqual([c["cmd"] for c in self.env.calls(node, since=since)], ["apt-get"])

    def test_install_refusals(self):
        node = "gitaly-2"
        d = self.node(node)
        self.fresh(node, "17.8.2")
        p = self.run_standin(node, "apt_get", "install", "-y", "gitlab-ee=17.8.99-ee.0")
        self.assertEqual(p.returncode, 100)
        self.assertIn("E: Version '17.8.99-ee.0' for 'gitlab-ee' was not found", p.stderr)
        p = self.run_standin(node, "apt_get", "install", "-y", "gitlab-ee=17.7.1-ee.0")
        self.assertEqual(p.returncode, 100)
        self.assertIn("without --allow-downgrades", p.stderr)
        self.assertEqual(gitlab_node.installed_version(d), ("17.8.2", "ee"))
        gitlab_node.set_package_fail_at(d, "17.8.3")
        p = self.run_standin(node, "apt_get", "install", "-y", "gitlab-ee=17.8.3-ee.0")
        self.assertEqual(p.returncode, 100)
        self.assertIn("E: Sub-process /usr/bin/dpkg returned an error code (1)", p.stderr)
        self.assertEqual(gitlab_node.installed_version(d), ("17.8.2", "ee"))
        gitlab_node.set_package_fail_at(d, None)
        p = self.run_standin(node, "apt_get", "install", "-y", "--allow-downgrades",
                             "gitlab-ee=17.7.1-ee.0")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(gitlab_node.installed_version(d), ("17.7.1", "ee"))
        p = self.run_standin(node, "apt_get", "remove", "-y", "gitlab-ee")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIsNone(gitlab_node.installed_version(d))
        self.assertTrue(os.path.exists(self.env.node_paths(node)["package_removed"]))
        p = self.run_standin(node, "apt_get", "update")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual([c["argv"][0] for c in self.env.calls(node, "apt-get")],
                         ["install"] * 4 + ["remove", "update"])
        self.fresh(node, "17.8.2")

    def test_ctl_and_rake_calls_recorded_with_env(self):
        node = "rails-1"
        d = self.node(node)
        self.fresh(node, "17.8.2")
        p = self.run_standin(node, "ctl", "reconfigure",
                             env={"SKIP_POST_DEPLOYMENT_MIGRATIONS": "true"})
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("gitlab Reconfigured!", p.stdout)
        p = self.run_standin(node, "ctl", "hup", "puma")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"^ok: run: puma: \(pid \d+\) \d+s$")
        self.assertEqual(self.run_standin(node, "rake", "db:migrate").returncode, 0)
        gitlab_node.set_rake_fail(d, ["gitlab:geo:check"])
        p = self.run_standin(node, "rake", "gitlab:geo:check")
        self.assertEqual(p.returncode, 1)
        self.assertIn("rake aborted!", p.stderr)
        gitlab_node.set_ctl_fail(d, ["reconfigure"])
        self.assertEqual(self.run_standin(node, "ctl", "reconfigure").returncode, 1)
        self.assertEqual([(c["cmd"], c["argv"], c["env"]) for c in self.env.calls(node)], [
            ("gitlab-ctl", ["reconfigure"], {"SKIP_POST_DEPLOYMENT_MIGRATIONS": "true"}),
            ("gitlab-ctl", ["hup", "puma"], {}),
            ("gitlab-rake", ["db:migrate"], {}),
            ("gitlab-rake", ["gitlab:geo:check"], {}),
            ("gitlab-ctl", ["reconfigure"], {}),
        ])
        self.fresh(node, "17.8.2")

    def test_patroni_check_leader(self):
        # gitlab-facts.md §5: `gitlab-ctl patroni check-leader` exits 0 on
        # the leader; omnibus-gitlab writes its verdict to stderr.
        node = "postgresql-1"
        d = self.node(node)
        self.fresh(node, "17.8.2")
        try:
            p = self.run_standin(node, "ctl", "patroni", "check-leader")
            self.assertEqual(p.returncode, 3, p.stderr)
            self.assertIn("Error while checking the role of the current node: "
                          "Patroni is not configured", p.stderr)
            self.assertNotIn("patroni", self.run_standin(node, "ctl", "status").stdout)
            gitlab_node.set_patroni(d, "leader")
            status = self.run_standin(node, "ctl", "status").stdout
            self.assertRegex(status, r"(?m)^run: patroni: \(pid \d+\) \d+s; run: log: "
                                     r"\(pid \d+\) \d+s$")
            p = self.run_standin(node, "ctl", "patroni", "check-leader")
            self.assertEqual((p.returncode, p.stdout, p.stderr), (0, "", "I am the leader.\n"))
            gitlab_node.set_patroni(d, "replica")
            p = self.run_standin(node, "ctl", "patroni", "check-leader")
            self.assertEqual((p.returncode, p.stdout, p.stderr), (1, "", "I am not the leader.\n"))
            # A member whose Patroni is down cannot say.
            self.assertEqual(self.run_standin(node, "ctl", "stop", "patroni").returncode, 0)
            p = self.run_standin(node, "ctl", "patroni", "check-leader")
            self.assertEqual(p.returncode, 3, p.stderr)
            self.assertIn("Error while checking the role", p.stderr)
            gitlab_node.set_patroni(d, None)
            self.assertNotIn("patroni", self.run_standin(node, "ctl", "status").stdout)
            self.assertEqual(self.run_standin(node, "ctl", "patroni", "check-leader").returncode, 3)
            self.assertEqual([c["argv"] for c in self.env.calls(node, "gitlab-ctl")], [
                ["patroni", "check-leader"], ["status"], ["status"], ["patroni", "check-leader"],
                ["patroni", "check-leader"], ["stop", "patroni"], ["patroni", "check-leader"],
                ["status"], ["patroni", "check-leader"]])
        finally:
            gitlab_node.set_patroni(d, None)
            self.fresh(node, "17.8.2")

    # --- lockstep-agent-exec against the fixture
    def facts(self, node, roles):
        """NodeFacts from `lockstep-agent-exec facts`, the node enrolled with
        roles (an identity written by hand: the executor reads its roles)."""
        if not os.path.exists(self.exec_path):
            self.skipTest("no %s (build the project)" % self.exec_path)
        iddir = os.path.join(self.env.node_paths(node)["state_dir"], "identity")
        os.makedirs(iddir, mode=0o700, exist_ok=True)
        ident = (field_bytes(1, node) + field_bytes(2, "tls+tcp://127.0.0.1:1")
                 + field_bytes(3, "localhost") + field_bytes(4, bytes(32))
                 + field_bytes(5, bytes(64)) + b"".join(field_bytes(6, r) for r in roles))
        with open(os.path.join(iddir, "identity.pb"), "wb") as f:
            f.write(ident)
        p = subprocess.run([self.exec_path, "--config", self.agent_yml(node), "facts"],
                           capture_output=True, timeout=120, env=clean_env())
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
        return decode(p.stdout), p.stderr.decode(errors="replace")

    def test_agent_facts_patroni_role(self):
        node = "postgresql-1"
        d = self.node(node)
        self.fresh(node, "17.8.2")
        iddir = os.path.join(self.env.node_paths(node)["state_dir"], "identity")
        try:
            for role in ("leader", "replica"):
                gitlab_node.set_patroni(d, role)
                f, err = self.facts(node, ["postgresql"])
                self.assertEqual(s(f, 10), role, err)
            # Patroni down: check-leader cannot tell; unset, logged.
            self.run_standin(node, "ctl", "stop", "patroni")
            f, err = self.facts(node, ["postgresql"])
            self.assertIsNone(s(f, 10))
            self.assertIn("patroni check-leader: exit 3 (patroni is down)", err)
            self.assertEqual(s(f, 2), "17.8.2", "the other facts are still there")
            # No Patroni: not even asked.
            gitlab_node.set_patroni(d, None)
            gitlab_node.clear_calls(d)
            f, err = self.facts(node, ["postgresql"])
            self.assertIsNone(s(f, 10))
            self.assertEqual([c["argv"] for c in self.env.calls(node, "gitlab-ctl")], [["status"]])
            # Not a PostgreSQL node: gitlab-ctl is not run for it at all.
            gitlab_node.set_patroni(d, "leader")
            gitlab_node.clear_calls(d)
            f, err = self.facts(node, ["gitaly"])
            self.assertIsNone(s(f, 10))
            self.assertEqual(self.env.calls(node, "gitlab-ctl"), [])
        finally:
            gitlab_node.set_patroni(d, None)
            if os.path.exists(os.path.join(iddir, "identity.pb")):
                os.unlink(os.path.join(iddir, "identity.pb"))
            self.fresh(node, "17.8.2")

    def agent_yml(self, node):
        p = self.env.node_paths(node)
        gitlab, package = self.env.upgrade_agent_config_lines(node)
        lines = ["state_dir: %s" % yq(p["state_dir"]), "op_timeout: 60s", "gitlab:",
                 "  ctl: %s" % yq(p["ctl"]), "  version_manifest: %s" % yq(p["version_manifest"]),
                 "  url: http://127.0.0.1:1", "  http_timeout: 1s"] + gitlab + package + [
                 "postgresql:", "  conninfo: %s" % yq(self.env.pg_conninfo),
                 "  ci_conninfo: %s" % yq(self.env.pg_ci_conninfo)]
        path = os.path.join(self.env.dir, "agent-%s.yml" % node)
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def op(self, node, kind_field, body):
        if not os.path.exists(self.exec_path):
            self.skipTest("no %s (build the project)" % self.exec_path)
        type(self).op_id += 1
        raw = field_varint(1, self.op_id) + field_bytes(kind_field, body)
        p = subprocess.run([self.exec_path, "--config", self.agent_yml(node), "op"], input=raw,
                           capture_output=True, timeout=120, env=clean_env())
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
        r = op_result(p.stdout)
        self.assertEqual(r["op_id"], self.op_id)
        return r

    def test_agent_package_versions_and_install(self):
        node = "gitaly-2"
        d = self.node(node)
        self.fresh(node, "17.8.2")
        r = self.op(node, 23, field_varint(1, 1))  # PackageVersions{refresh}
        self.assertEqual(r["status"], 0, r["error"])
        pv = r["package_versions"]
        repo = gitlab_node.read_package_repo(d)
        self.assertEqual(pv["versions"], sorted(repo, key=gitlab_node.version_tuple))
        self.assertEqual((pv["package"], pv["manager"], pv["installed"]), ("gitlab-ee", "apt", "17.8.2"))
        self.assertEqual([(c["cmd"], c["argv"]) for c in self.env.calls(node)],
                         [("apt-get", ["update"]), ("apt-cache", ["madison", "gitlab-ee"])])
        # A patch release, the package's zero-downtime steps.
        gitlab_node.clear_calls(d)
        for body, after in ((upgrade_action("SKIP_AUTO_RECONFIGURE"), "17.8.2"),
                            (upgrade_action("INSTALL", version="17.8.7"), "17.8.7"),
                            (upgrade_action("RECONFIGURE", skip_post_deploy=True), "17.8.7"),
                            (upgrade_action("POST_DEPLOY_MIGRATE"), "17.8.7")):
            r = self.op(node, 24, body)
            self.assertEqual(r["status"], 0, r["error"])
            self.assertEqual(r["upgrade_action"]["version"], after)
        self.assertEqual(gitlab_node.installed_version(d), ("17.8.7", "ee"))
        self.assertTrue(os.path.exists(self.env.node_paths(node)["skip_auto_reconfigure"]))
        self.assertEqual([(c["cmd"], c["argv"], c["env"]) for c in self.env.calls(node)], [
            ("apt-cache", ["madison", "gitlab-ee"], {}),
            ("apt-get", ["install", "-y", "gitlab-ee=17.8.7-ee.0"], {"DEBIAN_FRONTEND": "noninteractive"}),
            ("gitlab-ctl", ["reconfigure"], {"SKIP_POST_DEPLOYMENT_MIGRATIONS": "true"}),
            ("gitlab-rake", ["db:migrate"], {}),
        ])
        # Past a required stop: the package refuses, the agent says why.
        r = self.op(node, 24, upgrade_action("INSTALL", version="18.3.0"))
        self.assertLess(r["status"], 0)
        self.assertIn("exit status 1", r["error"])
        self.assertIn("It is required to upgrade to the latest 18.2.x version first", r["error"])
        self.assertIn("gitlab preinstall", r["upgrade_action"]["output_tail"])
        self.assertEqual(r["upgrade_action"]["version"], "17.8.7")
        # Rollback: remove, then the old version with allow_downgrade. The
        # agent remembers the package across the removal.
        r = self.op(node, 24, upgrade_action("REMOVE"))
        self.assertEqual(r["status"], 0, r["error"])
        self.assertIsNone(r["upgrade_action"]["version"])
        r = self.op(node, 24, upgrade_action("INSTALL", version="17.8.2", allow_downgrade=True))
        self.assertEqual(r["status"], 0, r["error"])
        self.assertEqual(r["upgrade_action"]["version"], "17.8.2")
        self.fresh(node, "17.8.2")

    def test_agent_bbm_status(self):
        env = self.env
        env.finish_bbm()
        r = self.op("postgresql-1", 25, b"")
        # The CI database has no such table yet: an error naming it.
        self.assertLess(r["status"], 0)
        self.assertIn("ci database (%s): no batched_background_migrations table" % fleet.PG_CI_DB,
                      r["error"])
        ci_ids = env.seed_bbm(count=1, db=fleet.PG_CI_DB)
        ids = env.seed_bbm(count=2, finish_after=2.0)
        r = self.op("postgresql-1", 25, b"")
        self.assertEqual(r["status"], 0, r["error"])
        self.assertEqual([(m["database"], m["id"], m["status"]) for m in r["bbm"]],
                         [("main", ids[0], 1), ("main", ids[1], 1), ("ci", ci_ids[0], 1)])
        m = r["bbm"][0]
        self.assertEqual((m["job_class"], m["table"], m["column"], m["job_arguments"]),
                         ("BackfillFixtureRows%d" % ids[0], "projects", "id", '["id", %d]' % ids[0]))
        env.wait_bbm_finished(ids, timeout=30)
        env.finish_bbm(ci_ids, db=fleet.PG_CI_DB)
        r = self.op("postgresql-1", 25, b"")
        self.assertEqual(r["status"], 0, r["error"])
        self.assertEqual(r["bbm"], [])
        # At most 100 rows per database.
        many = env.seed_bbm(count=130, status=0)
        r = self.op("postgresql-1", 25, b"")
        self.assertEqual(r["status"], 0, r["error"])
        self.assertEqual([m["id"] for m in r["bbm"]], many[:100])
        env.finish_bbm()
        self.assertEqual(env.bbm_unfinished(), [])


def main():
    global BUILD
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=BUILD, help="Lockstep build directory")
    args, rest = ap.parse_known_args()
    BUILD = os.path.abspath(args.build)
    unittest.main(module=__name__, argv=[sys.argv[0], "-v"] + rest, verbosity=2)


if __name__ == "__main__":
    main()
