#!/usr/bin/env python3
"""No-op operation fan-out and idle agent memory (issue 2's benchmark).

Starts a coordinator, enrolls N agent identities served by one bench_agents
process, then times `lockstep ping` rounds (a no-op operation to every node,
answered by every agent) and reports p50/p99 latency and operations per
second for N = 10 and 100. Then runs one real `lockstep-agent` and reports
its idle memory (VmRSS, and Pss/private from smaps_rollup).

    python3 bench/fanout.py --build build-bench [--rounds 200]

Build without sanitizers for meaningful figures:
    cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release && cmake --build build-bench
Targets (issue 2): p99 under 50 ms at N = 100; idle agent under 8 MiB.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def smaps(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                out["rss_kib"] = int(line.split()[1])
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Pss", "Private_Clean", "Private_Dirty"):
                out[k] = int(v.split()[0])
    out["private_kib"] = out.pop("Private_Clean", 0) + out.pop("Private_Dirty", 0)
    out["pss_kib"] = out.pop("Pss", 0)
    return out


def start_coordinator(b, d, poll_timeout, procs):
    """A coordinator of its own in d; returns (process, config path)."""
    os.makedirs(d)
    cfg = os.path.join(d, "coordinator.yml")
    sock = os.path.join(d, "ctl.sock")
    with open(cfg, "w") as f:
        f.write(f"state_dir: {d}/coord\nlog_level: warn\n"
                f"listen: tls+tcp://127.0.0.1:{free_port()}\n"
                f"enroll_listen: tls+tcp://127.0.0.1:{free_port()}\n"
                f"advertise_host: 127.0.0.1\nserver_names: [localhost]\n"
                f"control_socket: {sock}\npoll_timeout: {poll_timeout}\n")
    with open(os.path.join(d, "coord.log"), "w") as log:
        co = subprocess.Popen([f"{b}/coordinator/lockstep-coordinator", "--config", cfg],
                              stderr=log)
    procs.append(co)
    wait_for(lambda: os.path.exists(sock), 10, "coordinator")
    return co, cfg


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--sizes", default="10,100")
    args = ap.parse_args()
    b = os.path.abspath(args.build)
    cli = f"{b}/coordinator/lockstep"
    work = tempfile.mkdtemp(prefix="ls-bench-")
    procs = []
    try:
        results = {}
        for n in [int(x) for x in args.sizes.split(",")]:
            d = os.path.join(work, f"n{n}")
            co, cfg = start_coordinator(b, d, "25s", procs)
            tokens = []
            for i in range(n):
                out = subprocess.run([cli, "--config", cfg, "node", "add", f"bench-{i}",
                                      "--role", "gitaly", "--json"],
                                     check=True, capture_output=True, text=True).stdout
                tokens.append(json.loads(out)["token"])
            tf = os.path.join(d, "tokens")
            with open(tf, "w") as f:
                f.write("\n".join(tokens) + "\n")
            acfg = os.path.join(d, "agent.yml")
            with open(acfg, "w") as f:
                f.write(f"state_dir: {d}/agent\nlog_level: warn\n"
                        f"exec_helper: {b}/agent/lockstep-agent-exec\n"
                        f"backup_staging_dir: {d}\nfacts_interval: 1h\n")
            ag = subprocess.Popen([f"{b}/bench/bench_agents", "--config", acfg, "--tokens", tf,
                                   "--state-base", os.path.join(d, "agents")],
                                  stdout=subprocess.PIPE, stderr=open(os.path.join(d, "agents.log"), "w"),
                                  text=True)
            procs.append(ag)

            def all_connected():
                st = json.loads(subprocess.run([cli, "--config", cfg, "status", "--json"],
                                               capture_output=True, text=True).stdout or "{}")
                return sum(1 for x in st.get("nodes", []) if x["connected"]) == n
            wait_for(all_connected, 120, f"{n} agents to connect")
            subprocess.run([cli, "--config", cfg, "ping", "--count", "5"], capture_output=True)
            out = subprocess.run([cli, "--config", cfg, "ping", "--count", str(args.rounds), "--json"],
                                 capture_output=True, text=True, check=True).stdout
            r = json.loads(out)
            results[n] = r
            print(f"N={n:4d}  rounds={args.rounds}  p50={r['p50_us']/1000:.2f} ms  "
                  f"p99={r['p99_us']/1000:.2f} ms  ops/s={r['ops_per_second']:.0f}")
            ag.send_signal(signal.SIGTERM)
            ag.wait(30)
            co.send_signal(signal.SIGTERM)
            co.wait(30)

        # Idle memory of one real agent process.
        d = os.path.join(work, "mem")
        co, cfg = start_coordinator(b, d, "2s", procs)
        tok = json.loads(subprocess.run([cli, "--config", cfg, "node", "add", "mem-1", "--role",
                                         "gitaly", "--json"], check=True, capture_output=True,
                                        text=True).stdout)["token"]
        acfg = os.path.join(d, "agent.yml")
        with open(acfg, "w") as f:
            f.write(f"state_dir: {d}/agent\nlog_level: warn\n"
                    f"exec_helper: {b}/agent/lockstep-agent-exec\nbackup_staging_dir: {d}\n")
        subprocess.run([f"{b}/agent/lockstep-agent", "join", tok, "--config", acfg], check=True,
                       capture_output=True)
        ag = subprocess.Popen([f"{b}/agent/lockstep-agent", "run", "--config", acfg],
                              stderr=open(os.path.join(d, "agent.log"), "w"))
        procs.append(ag)

        def one_connected():
            st = json.loads(subprocess.run([cli, "--config", cfg, "status", "--json"],
                                           capture_output=True, text=True).stdout or "{}")
            return any(x["connected"] for x in st.get("nodes", []))
        wait_for(one_connected, 30, "the agent to connect")
        # A few idle poll cycles so the figures are the steady state.
        subprocess.run([cli, "--config", cfg, "check", "--timeout", "60s"], capture_output=True)
        time.sleep(5)
        m = smaps(ag.pid)
        print(f"idle agent: VmRSS {m['rss_kib']/1024:.1f} MiB, Pss {m['pss_kib']/1024:.1f} MiB, "
              f"private {m['private_kib']/1024:.1f} MiB")
        ag.send_signal(signal.SIGTERM)
        ag.wait(30)
        co.send_signal(signal.SIGTERM)
        co.wait(30)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if os.environ.get("LOCKSTEP_KEEP") != "1":
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
