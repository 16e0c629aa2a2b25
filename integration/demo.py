#!/usr/bin/env python3
"""Bring up a local five-node Lockstep fleet, show `lockstep status` and
`lockstep check`, take a consistent fleet backup, verify it, and tear it
all down.

    python3 integration/demo.py --build BUILD_DIR
"""
import sys

sys.dont_write_bytecode = True

import argparse  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fleet import Fleet, FleetError  # noqa: E402


def heading(text):
    print("\n== %s ==" % text, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), "build"), help="Lockstep build directory")
    args = ap.parse_args()
    t0 = time.monotonic()
    try:
        with Fleet(args.build) as f:
            heading("Fleet")
            print("directory   %s" % f.dir)
            print("coordinator %s (enrollment %s, server name %s)" % (f.fleet_url, f.enroll_url, f.server_name))
            print("nodes       %s" % ", ".join("%s [%s]" % (n, ",".join(r)) for n, r in f.nodes))
            print("started in  %.1fs" % (time.monotonic() - t0))
            rc = 0
            for title, argv in (("lockstep status", ["status"]), ("lockstep check", ["check"])):
                heading(title)
                p = f.cli(*argv)
                sys.stdout.write(p.stdout)
                if p.stderr:
                    sys.stdout.write(p.stderr)
                if p.returncode != 0:
                    print("(exit %d)" % p.returncode)
                    rc = 1
            heading("lockstep backup create")
            p = f.cli("backup", "create", timeout=600)
            sys.stdout.write(p.stdout + p.stderr)
            bid = next((ln.split()[1] for ln in p.stdout.splitlines()
                        if ln.startswith("backup ") and len(ln.split()) > 1), None)
            if p.returncode != 0 or bid is None:
                print("(exit %d)" % p.returncode)
                rc = 1
            else:
                heading("lockstep backup verify " + bid)
                p = f.cli("backup", "verify", bid, timeout=600)
                sys.stdout.write(p.stdout + p.stderr)
                if p.returncode != 0:
                    rc = 1
                heading("backup directory (GitLab's layout)")
                dest = os.path.join(f.coordinator_state_dir, "backups", bid)
                for entry in sorted(os.listdir(dest)):
                    print("  " + entry + ("/" if os.path.isdir(os.path.join(dest, entry)) else ""))
            heading("Teardown")
        print("done in %.1fs" % (time.monotonic() - t0))
        return rc
    except FleetError as e:
        print("demo failed: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
