#!/usr/bin/env python3
"""Lockstep's fleet backup against GitLab's own way of backing up the same
data, in the same run (issue 3's benchmark). Prints times, ratios, output
sizes and Lockstep's freeze window at each data scale.

GitLab's way, as `gitlab-backup create` does it (gitlab-facts §1-2):
  pg_dump --clean --if-exists DB | gzip -c -1 > db/database.sql.gz
  git bundle create <repo>.bundle --all   per repository, cores in parallel
  tar -C uploads -cf - . | gzip -c -1 > uploads.tar.gz
  tar -cf <id>_gitlab_backup.tar ...      (the outer, uncompressed tar)

    python3 bench/backup_vs_gitlab.py --build build-bench [--scales 1,4] [--gb 1] [--rounds 3]

Each round runs GitLab's way, then Lockstep with gzip, then with zstd, on
the same data; each method's best round is reported (and every round's
time), since this shared machine moves single runs by 20-30%.

Build without sanitizers for meaningful figures (see bench/README.md).
"""
import argparse
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import fleet  # noqa: E402
from fleet import Fleet  # noqa: E402

GIT_ENV = dict(fleet.GIT_ENV, PATH="/usr/bin:/bin")
REPOS = 50


def du(path):
    total = 0
    for dp, _, fns in os.walk(path):
        for fn in fns:
            total += os.path.getsize(os.path.join(dp, fn))
    return total


def generate(f, total_bytes, repack=True):
    """~35% database, ~35% repositories, ~30% upload files; half of each
    is incompressible, half repetitive text."""
    db_bytes, repo_bytes, file_bytes = (int(total_bytes * x) for x in (0.35, 0.35, 0.30))
    rows = db_bytes // 1000
    f.psql("CREATE TABLE IF NOT EXISTS bench_traces (id bigserial PRIMARY KEY, job_id bigint, "
           "chunk text)")
    f.psql("INSERT INTO bench_traces (job_id, chunk) SELECT g, CASE WHEN g %% 2 = 0 THEN "
           "repeat('Running with gitlab-runner 17.8.0 on shared-runner ', 19) ELSE "
           "(SELECT string_agg(md5(random()::text || s::text || g::text), '') FROM generate_series(1, 30) s) END "
           "FROM generate_series(1, %d) g" % rows)
    storages = [(node, path) for node, lst in f.storages.items() for _, path in lst]
    per_repo = repo_bytes // REPOS
    for i in range(REPOS):
        node, root = storages[i % len(storages)]
        gitdir = os.path.join(root, "@hashed", "bb", "%02x" % i, "bench%03d.git" % i)
        os.makedirs(os.path.dirname(gitdir), exist_ok=True)
        subprocess.run(["git", "init", "--quiet", "--bare", gitdir], check=True, env=GIT_ENV)
        stream = bytearray()
        for c in range(4):
            blob = os.urandom(per_repo // 8) + (b"line of source code %d\n" % c) * (per_repo // 8 // 24)
            stream += b"blob\nmark :%d\ndata %d\n" % (c + 1, len(blob)) + blob + b"\n"
            stream += (b"commit refs/heads/main\nmark :%d\ncommitter B <b@example.com> %d +0000\n"
                       b"data 3\nc%d\n" % (100 + c, 1700000000 + c, c))
            if c:
                stream += b"from :%d\n" % (100 + c - 1)
            stream += b"M 100644 :%d file%d.bin\n\n" % (c + 1, c)
        subprocess.run(["git", "--git-dir", gitdir, "fast-import", "--quiet"], input=bytes(stream),
                       check=True, env=GIT_ENV)
        if repack:
            # What Gitaly's housekeeping leaves: one pack with deltas and a
            # bitmap. fast-import's pack has neither, and every bundle of it
            # would search deltas afresh, which no live repository needs.
            subprocess.run(["git", "--git-dir", gitdir, "repack", "-a", "-d", "-f", "-b", "-q"],
                           check=True, env=GIT_ENV)
    uploads = f.node_paths("rails-1")["uploads"]
    n_files = max(10, file_bytes // (1 << 20))
    for i in range(n_files):
        d = os.path.join(uploads, "@hashed", "%02x" % (i % 256), "bench")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "file%05d.bin" % i), "wb") as fh:
            fh.write(os.urandom(1 << 19) + b"x" * (1 << 19))


def gitlab_way(f, out):
    """Returns (seconds, bytes of the final tar)."""
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(os.path.join(out, "db"))
    os.makedirs(os.path.join(out, "repositories"))
    t0 = time.monotonic()
    with open(os.path.join(out, "db", "database.sql.gz"), "wb") as fh:
        dump = subprocess.Popen([os.path.join(fleet.PG_BIN, "pg_dump"), "--clean", "--if-exists",
                                 "-h", f.pg_socket_dir, "-p", str(f.pg_port), "-U", fleet.PG_USER,
                                 fleet.PG_DB], stdout=subprocess.PIPE)
        gz = subprocess.Popen(["gzip", "-c", "-1"], stdin=dump.stdout, stdout=fh)
        dump.stdout.close()
        assert gz.wait() == 0 and dump.wait() == 0
    repos = []
    for _, lst in f.storages.items():
        for _, root in lst:
            for dp, dns, _ in os.walk(root):
                for d in list(dns):
                    if d.endswith(".git"):
                        repos.append(os.path.join(dp, d))
                        dns.remove(d)

    def bundle(i_repo):
        i, repo = i_repo
        subprocess.run(["git", "--git-dir", repo, "bundle", "create",
                        os.path.join(out, "repositories", "%04d.bundle" % i), "--all"],
                       capture_output=True, env=GIT_ENV)
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count()) as ex:
        list(ex.map(bundle, enumerate(repos)))
    uploads = f.node_paths("rails-1")["uploads"]
    with open(os.path.join(out, "uploads.tar.gz"), "wb") as fh:
        tar = subprocess.Popen(["tar", "--exclude=lost+found", "--exclude=./tmp", "-C", uploads,
                                "-cf", "-", "."], stdout=subprocess.PIPE)
        gz = subprocess.Popen(["gzip", "-c", "-1"], stdin=tar.stdout, stdout=fh)
        tar.stdout.close()
        gz.wait()
        tar.wait()
    subprocess.run(["tar", "-C", out, "-cf", os.path.join(out, "backup.tar"), "db", "repositories",
                    "uploads.tar.gz"], check=True)
    return time.monotonic() - t0, os.path.getsize(os.path.join(out, "backup.tar"))


def lockstep_way(f, compression):
    t0 = time.monotonic()
    p = f.cli("backup", "create", "--json", "--compression", compression, timeout=3600)
    secs = time.monotonic() - t0
    out = json.loads(p.stdout)
    if out.get("state") != "complete":
        raise SystemExit("lockstep backup failed: %s" % out.get("reason"))
    return secs, out["size"], out["freeze_ms"], out["id"]


def detail(f, bid):
    """Where the time went: the coordinator's phase lines, then `backup show`
    (taken before the backup is pruned)."""
    out = []
    for ln in f.coordinator_log().splitlines():
        if bid in ln and " took " in ln:
            out.append("         " + ln.split(bid + ": ", 1)[-1])
    p = f.cli("backup", "show", bid)
    for ln in p.stdout.splitlines():
        if "MB/s" in ln:
            out.append("       " + ln)
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", required=True)
    ap.add_argument("--scales", default="1,4")
    ap.add_argument("--gb", type=float, default=1.0, help="data at scale 1, in GB")
    ap.add_argument("--no-repack", action="store_true",
                    help="leave the generated repositories as fast-import wrote them")
    ap.add_argument("--detail", action="store_true",
                    help="also print each backup's phase times and per-component summary")
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds of the three methods at each scale; the best of each is reported")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    print("%-6s %-9s %9s %10s %9s %8s %10s" % ("scale", "method", "time", "size", "ratio",
                                               "freeze", "data"))
    for scale in [int(x) for x in args.scales.split(",")]:
        with Fleet(build, check_timeout="600s",
                   coordinator_extra={"cut_timeout": "10m", "freeze_lease": "10m"}) as f:
            generate(f, int(args.gb * scale * 1e9), repack=not args.no_repack)
            data = (du(f.pg_data) + sum(du(p) for _, lst in f.storages.items()
                                                               for _, p in lst)
                    + du(f.node_paths("rails-1")["uploads"]))
            runs = {"gitlab": [], "gzip": [], "zstd": []}
            for _ in range(max(1, args.rounds)):
                g_secs, g_size = gitlab_way(f, os.path.join(f.dir, "gitlab-way"))
                runs["gitlab"].append((g_secs, g_size, None, None))
                for comp in ("gzip", "zstd"):
                    secs, size, freeze, bid = lockstep_way(f, comp)
                    runs[comp].append((secs, size, freeze, detail(f, bid) if args.detail else ""))
                    f.cli("backup", "prune", "--keep", "1")
            g_secs, g_size = min(runs["gitlab"])[:2]
            print("%-6s %-9s %8.1fs %9.0fM %9s %8s %9.0fM   rounds: %s" % (
                "%dx" % scale, "gitlab", g_secs, g_size / 1e6, "1.00", "-", data / 1e6,
                " ".join("%.1f" % r[0] for r in runs["gitlab"])))
            for comp in ("gzip", "zstd"):
                secs, size, freeze, text = min(runs[comp])
                print("%-6s %-9s %8.1fs %9.0fM %9.2f %7dms %10s   rounds: %s (freeze %s ms)" % (
                    "%dx" % scale, "ls-" + comp, secs, size / 1e6, secs / g_secs, freeze, "",
                    " ".join("%.1f" % r[0] for r in runs[comp]),
                    " ".join("%d" % r[2] for r in runs[comp])), flush=True)
                if text:
                    print(text)
            shutil.rmtree(os.path.join(f.dir, "gitlab-way"), ignore_errors=True)


if __name__ == "__main__":
    main()
