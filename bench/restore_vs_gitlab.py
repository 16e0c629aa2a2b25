#!/usr/bin/env python3
"""Lockstep's fleet restore against GitLab's own way of restoring the same
backup, in the same run (issue 4's benchmark). Prints times and ratios at
each data scale: Lockstep end to end, its data phase, its verification.

The data is backup_vs_gitlab.py's (generate()); one `lockstep backup create
--compression gzip` of it is the input of both methods.

GitLab's way, as `gitlab-backup restore` does it, one thing after another:
  DROP SCHEMA public CASCADE; CREATE SCHEMA public    (gitlab:db:drop_tables)
  gzip -cd db/database.sql.gz | psql DB
  every repository moved aside, then per repository of the backup
    git clone --mirror <storage>/<rel>/<id>/001.bundle <repository path>
    (git init --bare when the backup holds no bundle; custom hooks untarred),
    as many at once as gitaly-backup restore's defaults allow (-parallel
    NumCPU, -parallel-storage 2)
  per file component: the directory moved aside, then
    tar -xzf <component>.tar.gz -C <directory>

Lockstep's way: `lockstep restore ID --yes`, end to end (preflight read-back,
maintenance on/off, services stopped and started, readiness, every node's
verification and `lockstep check`). Its data phase (first data step sent to
last data step done) and verify phase come from the coordinator log's
millisecond-stamped "step N (...) sent" / "done" lines.

    python3 bench/restore_vs_gitlab.py --build build-rbench [--scales 1,4] [--rounds 3] [--detail]

Before every restore, of either method, the live data is changed the same
way (integration/test_restore.py's change_everything: commits, a
force-push, a deleted branch, a deleted and a new repository, rows, an
upload); both methods then replace all of it. Rounds alternate which method
goes first. What each method moves aside is deleted between restores,
untimed. After each method's first restore the fleet is compared with the
backup's state (refs, repositories on disk, every table, every file).
Build without sanitizers (see bench/README.md).
"""
import argparse
import calendar
import concurrent.futures
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import backup_vs_gitlab as bvg  # noqa: E402  (generate(), du(); puts integration/ on the path)
import fleet  # noqa: E402
import test_restore  # noqa: E402  (change_everything())
from fleet import Fleet  # noqa: E402

GIT_ENV = bvg.GIT_ENV
GITALY_PARALLEL_STORAGE = 2  # gitaly-backup restore -parallel-storage default
ASIDE = "bench-aside"  # where GitLab's way moves the old data, per storage / node


def agent_backup_dirs(f, node):
    """The file components' directories, as the node's agent.yml names them."""
    dirs, inside = {}, False
    with open(f.node_paths(node)["agent_config"]) as fh:
        for ln in fh:
            if not ln.startswith(" "):
                inside = ln.strip() == "backup:"
                continue
            if inside:
                k, _, v = ln.strip().partition(": ")
                if v.startswith('"'):
                    dirs[k] = json.loads(v)
    return dirs


def backup_repos(bdir, storages):
    """(storage, relative path, bundle or None, custom hooks tar or None,
    HEAD's branch or None) for
    every repository of the backup: repositories/<storage>/<rel>/<id>/001.*
    (repositories/manifests/ is Gitaly's TOML manifests, not a storage)."""
    out = []
    top = os.path.join(bdir, "repositories")
    for storage in sorted(storages):
        root = os.path.join(top, storage)
        if not os.path.isdir(root):
            continue
        for dp, dns, _ in os.walk(root):
            if not dp.endswith(".git"):
                continue
            dns[:] = []
            bundle = hooks = head = None
            for sub in os.listdir(dp):
                d = os.path.join(dp, sub)
                if os.path.isfile(os.path.join(d, "001.bundle")):
                    bundle = os.path.join(d, "001.bundle")
                if os.path.isfile(os.path.join(d, "001.custom_hooks.tar")):
                    hooks = os.path.join(d, "001.custom_hooks.tar")
            # Gitaly's manifest: the branch an empty repository is created
            # with (head_reference), as CreateRepository is given it.
            mdir = os.path.join(top, "manifests", storage, os.path.relpath(dp, root))
            for fn in sorted(os.listdir(mdir)) if os.path.isdir(mdir) else []:
                with open(os.path.join(mdir, fn)) as fh:
                    m = re.search(r"^head_reference = '([^']*)'", fh.read(), re.M)
                    head = m.group(1) if m else head
            out.append((storage, os.path.relpath(dp, root), bundle, hooks, head))
    return out


def live_repos(root):
    found = []
    for dp, dns, _ in os.walk(root):
        rel = os.path.relpath(dp, root)
        if rel.startswith("+gitaly"):
            dns[:] = []
        elif dp.endswith(".git"):
            found.append(dp)
            dns[:] = []
    return found


def run(argv, **kw):
    p = subprocess.run(argv, capture_output=True, **kw)
    if p.returncode != 0:
        raise SystemExit("%s: exit %d: %s" % (" ".join(argv), p.returncode,
                                               p.stderr.decode(errors="replace")[-2000:]))


def machine_cpu():
    """CPU seconds every process of this machine has used (user, nice,
    system, irq, softirq; not idle, iowait or steal): a method's whole cost,
    servers and fleet included."""
    with open("/proc/stat") as fh:
        v = [int(x) for x in fh.readline().split()[1:]]
    return (v[0] + v[1] + v[2] + v[5] + v[6]) / os.sysconf("SC_CLK_TCK")


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def gitlab_way(f, bdir, node_files, tag):
    """Returns (seconds, {phase: seconds}, {phase: CPU seconds of the
    processes it ran}) for GitLab's sequence."""
    phases, cpu = {}, {}
    env = fleet.clean_env()
    psql = [fleet.PSQL, "-h", f.pg_socket_dir, "-p", str(f.pg_port), "-U", fleet.PG_USER]
    t0 = time.monotonic()
    # 1. The database: drop_tables, then the dump through psql.
    t, c = time.monotonic(), children_cpu()
    run(psql + ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", fleet.PG_DB, "-c",
                "DROP SCHEMA public CASCADE; CREATE SCHEMA public"], env=env)
    errlog = os.path.join(f.dir, "gitlab-psql.err")
    with open(os.path.join(bdir, "db", "database.sql.gz"), "rb") as src, open(errlog, "wb") as err:
        gz = subprocess.Popen(["gzip", "-cd"], stdin=src, stdout=subprocess.PIPE)
        pq = subprocess.Popen(psql + [fleet.PG_DB], stdin=gz.stdout, stdout=subprocess.DEVNULL,
                              stderr=err, env=env)
        gz.stdout.close()
        if pq.wait() != 0 or gz.wait() != 0:
            raise SystemExit("gzip -cd | psql failed: see %s" % errlog)
    with open(errlog, errors="replace") as fh:
        bad = [ln for ln in fh if "ERROR:" in ln]
    if bad:
        raise SystemExit("psql reported %d errors, first: %s" % (len(bad), bad[0].strip()))
    phases["db"], cpu["db"] = time.monotonic() - t, children_cpu() - c
    # 2. Repositories: every live one moved aside, every backed-up one cloned.
    t, c = time.monotonic(), children_cpu()
    for storage, (node, root) in f.storage_nodes.items():
        aside = os.path.join(root, "+gitaly", ASIDE, tag)
        for repo in live_repos(root):
            dest = os.path.join(aside, os.path.relpath(repo, root))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            os.rename(repo, dest)
    # gitaly-backup's defaults when GITLAB_BACKUP_MAX_CONCURRENCY and
    # GITLAB_BACKUP_MAX_STORAGE_CONCURRENCY are unset: -parallel NumCPU,
    # -parallel-storage 2.
    per_storage = {s: threading.Semaphore(GITALY_PARALLEL_STORAGE) for s in f.storage_nodes}

    def restore_one(item):
        storage, rel, bundle, hooks, head = item
        with per_storage[storage]:
            dest = os.path.join(f.storage_path(storage), rel)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            if bundle:
                run(["git", "clone", "--quiet", "--mirror", bundle, dest], env=GIT_ENV)
            else:
                branch = ["--initial-branch=" + head[len("refs/heads/"):]] if head else []
                run(["git", "init", "--quiet", "--bare"] + branch + [dest], env=GIT_ENV)
            if hooks:
                os.makedirs(os.path.join(dest, "custom_hooks"), exist_ok=True)
                run(["tar", "-xf", hooks, "-C", os.path.join(dest, "custom_hooks")])

    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for _ in pool.map(restore_one, backup_repos(bdir, f.storage_nodes)):
            pass
    phases["repositories"], cpu["repositories"] = time.monotonic() - t, children_cpu() - c
    # 3. Each file component: the directory moved aside, the archive extracted.
    for comp, path in node_files:
        t, c = time.monotonic(), children_cpu()
        aside = os.path.join(os.path.dirname(path), ASIDE, tag)
        os.makedirs(aside, exist_ok=True)
        mode = os.stat(path).st_mode & 0o7777 if os.path.isdir(path) else 0o700
        if os.path.isdir(path):
            os.rename(path, os.path.join(aside, os.path.basename(path)))
        os.makedirs(path)
        os.chmod(path, mode)
        run(["tar", "-xzf", os.path.join(bdir, comp + ".tar.gz"), "-C", path])
        phases[comp], cpu[comp] = time.monotonic() - t, children_cpu() - c
    return time.monotonic() - t0, phases, cpu


STEP_RE = re.compile(r"^(\S+)Z \S+: restore (\S+): step (\d+) \((.*) on (\S+)\) (sent|done)")


def log_epoch(stamp):
    """2026-11-23T04:38:28.729 (UTC) -> seconds since the epoch."""
    base, ms = stamp.split(".")
    return calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) + int(ms) / 1000.0


def phase_of(name):
    for prefix, phase in (("maintenance on", "maint-on"), ("stop ", "stop"), ("restore ", "data"),
                          ("start ", "start"), ("wait for readiness", "ready"),
                          ("maintenance off", "maint-off"), ("verify", "verify"),
                          ("check", "check")):
        if name.startswith(prefix):
            return phase
    return "other"


def lockstep_way(f, bid):
    """Returns (seconds, {phase: seconds}, [(seq, node, name, seconds)])."""
    t_wall = time.time()
    t0 = time.monotonic()
    p = f.cli("restore", bid, "--yes", timeout=3600)
    secs = time.monotonic() - t0
    t_end = t_wall + secs
    if p.returncode != 0:
        raise SystemExit("lockstep restore failed (exit %d):\n%s%s\n%s" % (
            p.returncode, p.stdout[-3000:], p.stderr[-3000:], f.coordinator_log()[-6000:]))
    run_id = f.cli_json("run", "list", "--json")["runs"][0]["id"]
    steps = {}
    for ln in f.coordinator_log().splitlines():
        m = STEP_RE.match(ln)
        if m and m.group(2) == run_id:
            s = steps.setdefault(int(m.group(3)), {"name": m.group(4), "node": m.group(5)})
            s[m.group(6)] = log_epoch(m.group(1))
    phases = {}
    for s in steps.values():
        ph = phases.setdefault(phase_of(s["name"]), [s["sent"], s["done"]])
        ph[0], ph[1] = min(ph[0], s["sent"]), max(ph[1], s["done"])
    out = {k: v[1] - v[0] for k, v in phases.items()}
    first = min(s["sent"] for s in steps.values())
    last = max(s["done"] for s in steps.values())
    out["preflight"] = first - t_wall  # CLI start to the first step: the backup read back
    out["after"] = t_end - last
    per_step = [(seq, s["node"], s["name"], s["done"] - s["sent"]) for seq, s in sorted(steps.items())]
    return secs, out, per_step


def clean_asides(f):
    """What either method moved aside (untimed): the disk holds one copy."""
    for _, (_, root) in f.storage_nodes.items():
        g = os.path.join(root, "+gitaly")
        if os.path.isdir(g):
            for d in os.listdir(g):
                if d == ASIDE or d.startswith("lockstep-restore."):
                    shutil.rmtree(os.path.join(g, d), ignore_errors=True)
    for node, _ in f.nodes:
        p = f.node_paths(node)
        for d in {os.path.dirname(p["uploads"]), p["rails_shared"]}:
            shutil.rmtree(os.path.join(d, ASIDE), ignore_errors=True)
        tmp = os.path.join(p["backups"], "tmp")
        if os.path.isdir(tmp):
            for d in os.listdir(tmp):
                if re.match(r"^[a-z_]+\.\d+(\.\d+)?$", d):
                    shutil.rmtree(os.path.join(tmp, d), ignore_errors=True)


def state(f):
    """What both methods must bring back (checked in the first round,
    untimed): test_restore.py's snapshot, with the generated table summed
    instead of digested whole."""
    db = {}
    for t in test_restore.tables(f):
        if t == "bench_traces":
            db[t] = f.psql("SELECT count(*) || ' ' || sum(length(chunk)) || ' ' || sum(job_id) "
                           "FROM bench_traces")
        elif t != "application_settings":
            db[t] = f.psql("SELECT count(*) || ' ' || coalesce(md5(string_agg(x::text, ',' ORDER "
                           "BY x::text)), '') FROM %s x" % t)
    return {"repos": {r["storage"] + "/" + r["disk_path"]: test_restore.repo_state(r["git_dir"])
                      for r in f.repos},
            "on_disk": dict.fromkeys(test_restore.repos_on_disk(f), "present"), "db": db,
            "files": test_restore.files_state(f)}


def fmt_runs(xs):
    return " ".join("%.1f" % x for x in xs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", required=True)
    ap.add_argument("--scales", default="1,4")
    ap.add_argument("--gb", type=float, default=1.0, help="data at scale 1, in GB")
    ap.add_argument("--rounds", type=int, default=3,
                    help="interleaved rounds of both methods at each scale")
    ap.add_argument("--detail", action="store_true",
                    help="also print the per-step times of each method's best round")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    rows = []
    for scale in [int(x) for x in args.scales.split(",")]:
        with Fleet(build, check_timeout="600s",
                   coordinator_extra={"cut_timeout": "10m", "freeze_lease": "10m"}) as f:
            bvg.generate(f, int(args.gb * scale * 1e9))
            data = (bvg.du(f.pg_data) + sum(bvg.du(p) for _, lst in f.storages.items()
                                            for _, p in lst)
                    + bvg.du(f.node_paths("rails-1")["uploads"]))
            p = f.cli("backup", "create", "--json", "--compression", "gzip", timeout=3600)
            out = json.loads(p.stdout)
            if out.get("state") != "complete":
                raise SystemExit("lockstep backup failed: %s" % out.get("reason"))
            bid, bsize = out["id"], out["size"]
            bdir = os.path.join(f.coordinator_state_dir, "backups", bid)
            # The file components the backup holds, where the rails node keeps them.
            dirs = agent_backup_dirs(f, "rails-1")
            node_files = [(c, dirs[c]) for c in sorted(dirs)
                          if os.path.isfile(os.path.join(bdir, c + ".tar.gz"))]
            want = state(f)
            g_runs, l_runs = [], []
            for r in range(max(1, args.rounds)):
                order = ("gitlab", "lockstep") if r % 2 == 0 else ("lockstep", "gitlab")
                for method in order:
                    test_restore.change_everything(f)
                    c0 = machine_cpu()
                    if method == "gitlab":
                        g_runs.append(gitlab_way(f, bdir, node_files, "r%d" % r)
                                      + (machine_cpu() - c0,))
                    else:
                        l_runs.append(lockstep_way(f, bid) + (machine_cpu() - c0,))
                    if r == 0:
                        got = state(f)
                        bad = [k for k in want if got[k] != want[k]]
                        if bad:
                            for k in bad:
                                for key in sorted(set(want[k]) | set(got[k])):
                                    if want[k].get(key) != got[k].get(key):
                                        print("  %s %s: want %s, got %s" % (
                                            k, key, want[k].get(key), got[k].get(key)),
                                            file=sys.stderr)
                            raise SystemExit("%s's restore did not bring back: %s" % (
                                method, ", ".join(bad)))
                    clean_asides(f)
                    print("  %dx round %d %-8s %.1fs" % (
                        scale, r + 1, method, (g_runs if method == "gitlab" else l_runs)[-1][0]),
                        file=sys.stderr, flush=True)
            rows.append((scale, data, bsize, g_runs, l_runs))
            report(rows[-1:], args.detail, header=len(rows) == 1)
    if len(rows) > 1:
        print("\nall scales:")
        report(rows, False, header=True)


def report(rows, detail, header):
    if header:
        print("%-5s %8s %8s | %-11s | %-11s %-11s | %-11s %-11s | %-9s" % (
            "scale", "data", "backup", "GitLab s", "Lockstep s", "ratio", "data s", "ratio",
            "verify s"))
        print("%-5s %8s %8s | %-11s | %-11s %-11s | %-11s %-11s | %-9s" % (
            "", "", "", "best/med", "best/med", "best/med", "best/med", "best/med", "best/med"))
    for scale, data, bsize, g_runs, l_runs in rows:
        g = [x[0] for x in g_runs]
        lt = [x[0] for x in l_runs]
        ld = [x[1]["data"] for x in l_runs]
        lv = [x[1]["verify"] for x in l_runs]
        gb, gm = min(g), statistics.median(g)

        def pair(xs, div=None):
            b, m = min(xs), statistics.median(xs)
            if div:
                return "%.2f/%.2f" % (b / div[0], m / div[1])
            return "%.1f/%.1f" % (b, m)
        print("%-5s %7.2fG %7.2fG | %-11s | %-11s %-11s | %-11s %-11s | %-9s" % (
            "%dx" % scale, data / 1e9, bsize / 1e9, pair(g), pair(lt), pair(lt, (gb, gm)),
            pair(ld), pair(ld, (gb, gm)), pair(lv)))
        print("      rounds: GitLab %s; Lockstep %s; data %s; verify %s; check %s; preflight %s" % (
            fmt_runs(g), fmt_runs(lt), fmt_runs(ld), fmt_runs(lv),
            fmt_runs([x[1].get("check", 0) for x in l_runs]),
            fmt_runs([x[1].get("preflight", 0) for x in l_runs])), flush=True)
        ncpu = os.cpu_count() or 1
        gc, lc = [x[-1] for x in g_runs], [x[-1] for x in l_runs]
        print("      machine CPU-s (every process, servers included): GitLab %s; Lockstep %s;"
              " on %d cores Lockstep's median needs at least %.1f s (%.2fx GitLab's median)" % (
                  fmt_runs(gc), fmt_runs(lc), ncpu, statistics.median(lc) / ncpu,
                  statistics.median(lc) / ncpu / gm), flush=True)
        if not detail:
            continue
        best_g = min(g_runs, key=lambda x: x[0])
        print("      GitLab best %.2fs: %s (CPU of gzip/psql/git/tar: %s)" % (
            best_g[0], ", ".join("%s %.2f" % kv for kv in best_g[1].items() if kv[1] >= 0.05),
            ", ".join("%s %.2f" % kv for kv in best_g[2].items() if kv[1] >= 0.05)))
        best_l = min(l_runs, key=lambda x: x[0])
        order = ["preflight", "maint-on", "stop", "data", "start", "ready", "maint-off",
                 "verify", "check", "after"]
        print("      Lockstep best %.2fs, phases: %s" % (best_l[0], ", ".join(
            "%s %.2f" % (k, best_l[1][k]) for k in order if k in best_l[1])))
        for seq, node, name, secs in best_l[2]:
            print("        %3d %-13s %-52s %6.2fs" % (seq, node, name[:52], secs))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
