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


def run_framed(tc, argv, oid, raw_op, timeout=300):
    """One operation (raw_op: an encoded Operation with id oid) through a
    framed `lockstep-agent-exec ... restore` child: (the OpResult, still
    encoded, [each decoded Progress, in order]). Asserts the child exited 0 and
    answered with exactly one result, last, for oid, and every Progress is
    for oid."""
    import struct
    import subprocess
    from fleet import clean_env
    from test_fixture_upgrade import decode

    p = subprocess.run(argv, input=struct.pack(">I", len(raw_op)) + raw_op,
                       capture_output=True, timeout=timeout, env=clean_env())
    # The child's exit says whether it answered, not how the operation went.
    tc.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
    out, i, result, progress = p.stdout, 0, None, []
    while i < len(out):
        (n,) = struct.unpack(">I", out[i:i + 4])
        frame = decode(out[i + 4:i + 4 + n])
        i += 4 + n
        tc.assertIsNone(result, "a frame after the result")
        if 2 in frame:
            pr = decode(frame[2][0])
            tc.assertEqual(pr[1][0], oid)
            progress.append(pr)
        else:
            result = frame[1][0]
    tc.assertIsNotNone(result, "no result frame; stderr: %s" % p.stderr.decode(errors="replace"))
    tc.assertEqual(decode(result)[1][0], oid)
    return result, progress
