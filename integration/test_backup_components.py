#!/usr/bin/env python3
"""Backup components beyond the default fleet's, on a real local fleet
(PostgreSQL 15, Redis, git, the GitLab node fixture):

- a separate CI database (Fleet(ci_database=True)): db/ci_database.sql.gz is
  written from the snapshot held at the cut, loads into a fresh database with
  psql, holds exactly the ci_builds rows counted at the cut while a writer
  keeps inserting, and is listed in the manifest;
- Redis with coordinator.yml backup_redis: true: the RDB of a BGSAVE taken
  at the cut, lockstep/redis/<node>/dump.rdb.gz, holds a key written before
  the backup and not one written during its copy (after which Redis saved
  over its dump.rdb), loads into a second redis-server, is listed in the
  manifest, and `lockstep backup verify` passes;
- with the default configuration Redis is left alone: no BGSAVE, no
  artifact.

    python3 integration/test_backup_components.py --build BUILD_DIR [ComponentsTest.test_name]
"""
import gzip
import json
import os
import re
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fleet  # noqa: E402
import testlib  # noqa: E402
from fleet import Fleet  # noqa: E402

BUILD = os.environ.get("LOCKSTEP_BUILD", "build")
REDIS_CHECK_RDB = "/usr/bin/redis-check-rdb"


sha256 = testlib.sha256


def redis_info(f, field):
    out = f.redis_cli("INFO", "persistence").stdout
    m = re.search(r"^%s:(\S+)" % re.escape(field), out, re.M)
    if not m:
        raise AssertionError("INFO persistence has no %s:\n%s" % (field, out))
    return m.group(1)


class ComponentsTest(unittest.TestCase):
    def create(self, f, *args, timeout=600):
        return testlib.create_backup(f, *args, timeout=timeout)

    @staticmethod
    def manifest(dest):
        with open(os.path.join(dest, "lockstep", "manifest.json")) as fh:
            return json.load(fh)

    def assert_listed(self, man, dest, node, component, path):
        """The artifact is in the manifest, with its size and checksum."""
        arts = [a for a in man["artifacts"] if a["path"] == path]
        self.assertEqual(len(arts), 1, [a["path"] for a in man["artifacts"]])
        a = arts[0]
        self.assertEqual((a["node"], a["component"]), (node, component))
        full = os.path.join(dest, path)
        self.assertEqual(os.path.getsize(full), a["size"])
        self.assertEqual(sha256(full), a["sha256"])

    def load_sql(self, f, gz, db):
        """Loads a dump as GitLab's restore does; returns the error lines
        GitLab would not tolerate (gitlab-facts §1)."""
        f.psql("CREATE DATABASE %s" % db, db="postgres")
        with gzip.open(gz, "rb") as fh:
            sql = fh.read()
        self.assertIn(b"DROP TABLE IF EXISTS", sql)
        p = subprocess.run([fleet.PSQL, "-X", "-q", "-h", f.pg_socket_dir, "-p", str(f.pg_port),
                            "-U", fleet.PG_USER, "-d", db], input=sql, capture_output=True,
                           timeout=120, env=fleet.clean_env())
        self.assertEqual(p.returncode, 0, p.stderr.decode()[-2000:])
        return [ln for ln in p.stderr.decode().splitlines()
                if ln and not re.search(r"WARNING:|does not exist|must be owner of", ln)]

    def test_ci_database(self):
        with Fleet(BUILD, ci_database=True) as f:
            ci = lambda sql: f.psql(sql, db=fleet.PG_CI_DB)  # noqa: E731
            seeded = int(ci("SELECT count(*) FROM ci_builds"))
            self.assertGreater(seeded, 0)
            stop = threading.Event()
            errors = []
            inserted = [0]

            def writer():
                while not stop.is_set():
                    try:
                        ci("INSERT INTO ci_builds (status, created_at, updated_at, name, type, "
                           "project_id, commit_id) VALUES ('pending', now(), now(), 'writer', "
                           "'Ci::Build', 1, 1)")
                        inserted[0] += 1
                    except Exception as e:  # reported below, not swallowed
                        errors.append(repr(e))
                        return

            th = threading.Thread(target=writer, daemon=True)
            th.start()
            try:
                f.wait_until(lambda: inserted[0] >= 5, 60, "the writer to get going")
                rc, out = self.create(f)
                after = inserted[0]
                f.wait_until(lambda: inserted[0] >= after + 3, 60,
                             "the writer to go on after the backup")
            finally:
                stop.set()
                th.join(30)
            self.assertEqual(errors, [], "the writer failed: its writes must succeed")
            self.assertEqual(rc, 0, out)
            self.assertEqual(out["state"], "complete", out)
            dest, bid = out["path"], out["id"]
            man = self.manifest(dest)
            self.assert_listed(man, dest, "postgresql-1", "db", "db/ci_database.sql.gz")
            self.assert_listed(man, dest, "postgresql-1", "db", "db/database.sql.gz")
            cut = [n for n in man["nodes"] if n["name"] == "postgresql-1"][0]["cut"]
            self.assertRegex(cut.get("pg_ci_snapshot", ""), r"^[0-9A-F-]+$")
            self.assertNotEqual(cut["pg_ci_snapshot"], cut["pg_snapshot"])
            rows = cut["table_rows"]
            self.assertIn("public.projects", rows)
            self.assertIn("ci:public.ci_builds", rows)

            # The CI dump loads with only the errors GitLab tolerates and
            # holds the rows of the cut, which the writer has moved past.
            self.assertEqual(self.load_sql(f, os.path.join(dest, "db", "ci_database.sql.gz"),
                                           "ci_restored"), [])
            restored = lambda sql: f.psql(sql, db="ci_restored")  # noqa: E731
            dumped = int(restored("SELECT count(*) FROM ci_builds"))
            self.assertEqual(dumped, rows["ci:public.ci_builds"])
            self.assertGreaterEqual(dumped, seeded + 5, "the writer's rows before the cut")
            self.assertGreater(seeded + after, dumped, "the writer's rows during the backup")
            for table in ("ci_pipelines", "ci_stages", "ci_job_artifacts"):
                self.assertEqual(int(restored("SELECT count(*) FROM %s" % table)),
                                 rows["ci:public." + table], table)
            live_max = int(ci("SELECT max(id) FROM ci_builds"))
            dumped_max = int(restored("SELECT max(id) FROM ci_builds"))
            self.assertLess(dumped_max, live_max, "rows written after the cut are not in the dump")
            # One writer commits in id order: the snapshot's rows are exactly
            # the live rows up to its newest one.
            self.assertEqual(int(ci("SELECT count(*) FROM ci_builds WHERE id <= %d" % dumped_max)),
                             dumped)

            # The two databases went to their own files.
            with gzip.open(os.path.join(dest, "db", "database.sql.gz"), "rb") as fh:
                self.assertNotIn(b"CREATE TABLE public.ci_builds", fh.read())
            self.assertIs(f.cli_json("backup", "verify", bid)["ok"], True)

    def start_redis(self, f, datadir):
        """A second redis-server on datadir's dump.rdb; stopped by the caller
        (and by the fleet's sweep, since its arguments name the fleet dir)."""
        sock = os.path.join(datadir, "redis.sock")
        log = open(os.path.join(datadir, "redis.log"), "ab")
        try:
            proc = subprocess.Popen(
                [fleet.REDIS_SERVER, "--port", "0", "--unixsocket", sock, "--dir", datadir,
                 "--dbfilename", "dump.rdb", "--save", "", "--appendonly", "no",
                 "--daemonize", "no"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=fleet.clean_env(), start_new_session=True)
        finally:
            log.close()

        def cli(*args):
            return subprocess.run([fleet.REDIS_CLI, "-s", sock] + list(args), capture_output=True,
                                  text=True, timeout=30, env=fleet.clean_env(),
                                  stdin=subprocess.DEVNULL).stdout.strip()

        def up():
            if proc.poll() is not None:
                raise fleet.FleetAbort("redis-server on the restored RDB exited %s" % proc.returncode)
            return os.path.exists(sock) and cli("PING") == "PONG"
        return proc, cli, up

    def test_redis_backup(self):
        with Fleet(BUILD, coordinator_extra={"backup_redis": True}) as f:
            # Some bulk, and the key whose presence is checked.
            f.redis_cli("EVAL", "for i=1,20000 do redis.call('SET', 'bulk:'..i, i) end", "0")
            f.redis_cli("SET", "lockstep:before", "written before the backup")
            # A large upload keeps the copy going while Redis takes writes.
            rails = f.node_paths("rails-1")
            with open(os.path.join(rails["uploads"], "-", "system", "big.bin"), "wb") as fh:
                fh.write(os.urandom(96 << 20))
            p = f.cli("backup", "create", "--detach", "--json", check=True)
            bid = json.loads(p.stdout)["id"]
            f.wait_until(lambda: f.cli_json("backup", "show", bid)["phase"] in ("copy", "seal"),
                         120, "the backup to reach its copy")
            # After the cut: a key, then a save over Redis's dump.rdb.
            f.redis_cli("SET", "lockstep:after", "written after the cut")
            self.assertEqual(f.redis_cli("SAVE").stdout.strip(), "OK")
            self.assertEqual(f.cli_json("backup", "show", bid)["state"], "running",
                             "the copy ended before the write: the test proves nothing")
            f.wait_until(lambda: f.cli_json("backup", "show", bid)["state"] != "running", 300,
                         "the backup to finish")
            out = f.cli_json("backup", "show", bid)
            self.assertEqual(out["state"], "complete", out)
            dest = out["path"]

            man = self.manifest(dest)
            rel = "lockstep/redis/redis-1/dump.rdb.gz"
            self.assert_listed(man, dest, "redis-1", "redis", rel)
            self.assertEqual([a["path"] for a in man["artifacts"] if a["component"] == "redis"], [rel])
            cut = [n for n in man["nodes"] if n["name"] == "redis-1"][0]["cut"]
            r = cut["redis"]
            self.assertEqual(r["address"], f.redis_socket)
            self.assertGreater(r["rdb_bytes"], 0)
            self.assertGreater(r["lastsave"], 0)
            self.assertRegex(r["redis_version"], r"^\d+\.\d+")
            self.assertIs(r["hard_linked"], True)
            for name in ("rails-1", "postgresql-1", "gitaly-1"):
                node = [n for n in man["nodes"] if n["name"] == name][0]
                self.assertNotIn("redis", node["cut"], name)

            # The RDB is the cut's: it loads, with the key written before
            # and without the one written after.
            datadir = os.path.join(f.dir, "restored-redis")
            os.makedirs(datadir)
            rdb = os.path.join(datadir, "dump.rdb")
            with gzip.open(os.path.join(dest, rel), "rb") as src, open(rdb, "wb") as dst:
                data = src.read()
                dst.write(data)
            self.assertEqual(len(data), r["rdb_bytes"])
            self.assertTrue(data.startswith(b"REDIS"))
            p = subprocess.run([REDIS_CHECK_RDB, rdb], capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            proc, cli, up = self.start_redis(f, datadir)
            try:
                f.wait_until(up, 30, "redis-server on the restored RDB")
                self.assertEqual(cli("GET", "lockstep:before"), "written before the backup")
                self.assertEqual(cli("EXISTS", "lockstep:after"), "0")
                self.assertEqual(cli("DBSIZE"), "20001")
            finally:
                proc.kill()
                proc.wait(10)
            self.assertEqual(f.redis_cli("GET", "lockstep:after").stdout.strip(),
                             "written after the cut", "the write itself went through")

            v = f.cli_json("backup", "verify", bid)
            self.assertIs(v["ok"], True, v)
            staging = f.node_paths("redis-1")["backups"]
            self.assertEqual([e for e in os.listdir(staging) if e.startswith("lockstep-")], [],
                             "redis-1 kept its backup work directory")

    def test_default_has_no_redis(self):
        with Fleet(BUILD) as f:
            f.redis_cli("SET", "lockstep:before", "v")
            rc, out = self.create(f)
            self.assertEqual(rc, 0, out)
            self.assertEqual(out["state"], "complete", out)
            dest = out["path"]
            man = self.manifest(dest)
            self.assertEqual([a["path"] for a in man["artifacts"]
                              if a["component"] == "redis" or a["path"].startswith("lockstep/redis/")], [])
            self.assertFalse(os.path.exists(os.path.join(dest, "lockstep", "redis")))
            for n in man["nodes"]:
                self.assertNotIn("redis", n["cut"], n["name"])
            # Redis was not asked to save at all.
            self.assertEqual(redis_info(f, "rdb_saves"), "0")
            self.assertEqual(redis_info(f, "rdb_last_bgsave_time_sec"), "-1")


def set_build(path):
    global BUILD
    BUILD = path


def main():
    testlib.run_main(__doc__, set_build)


if __name__ == "__main__":
    main()
