"""Shared by the backup test files: running a case file, `backup create
--json`, the rails node's maintenance mode, and checksums."""
import argparse
import hashlib
import json
import os
import sys
import time
import unittest


def run_main(doc, set_build):
    """`python3 FILE --build DIR [Case.test ...]`: set_build(DIR), then the
    named cases (all of them when none is named)."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--build", default=os.environ.get("LOCKSTEP_BUILD", "build"))
    args, rest = ap.parse_known_args()
    set_build(os.path.abspath(args.build))
    unittest.main(module="__main__", argv=[sys.argv[0], "-v"] + rest, verbosity=2)


def create_backup(f, *args, timeout=600):
    """`lockstep backup create --json ARGS`: (exit status, parsed JSON)."""
    p = f.cli("backup", "create", "--json", *args, timeout=timeout)
    try:
        out = json.loads(p.stdout)
    except ValueError:
        raise AssertionError("backup create printed no JSON (exit %d):\n%s%s\n%s" % (
            p.returncode, p.stdout, p.stderr, f.coordinator_log()[-4000:]))
    return p.returncode, out


def next_second(f, bid):
    """Waits past backup bid's second: backup ids carry whole seconds."""
    f.wait_until(lambda: int(time.time()) > int(bid.split("_")[0]), 5, "the next second")


def maintenance_on(f, node="rails-1"):
    status, body = f.http(node, "GET", "/api/v4/application/settings")
    assert status == 200, (status, body)
    return body["maintenance_mode"]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
