#!/usr/bin/env python3
"""Runs producer benchmark clients one after another against one broker and compares them.

    compare.py --broker-pid PID --out DIR [--rounds R] NAME=CMD [NAME=CMD ...]

The first NAME is "ours"; the others are the peers it is compared with. Each CMD is a shell command
that prints one line per scenario ("sync1 ... msgs/s ...") and ends with one JSON line
({"bench":"producer", "<scenario>": {...}, "peak_rss_kib": N}). While a client runs, the broker's
CPU time (/proc/PID/stat) and the machine's CPU (/proc/stat) are sampled each time the client
finishes a scenario, which gives the broker's CPU use (cores) per scenario. With --rounds R every
client runs R times (interleaved: ours, peers, ours, peers, ...) and per scenario the round with the
median throughput is shown (every round's throughput is printed too). Prints a side-by-side table with ratios and one JSON line.
"""
import argparse
import json
import os
import shlex
import subprocess
import sys
import time

HZ = os.sysconf("SC_CLK_TCK")
SCENARIOS = ["sync1", "sync8", "async", "batch100"]


def proc_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])  # utime + stime (fields 14, 15)


def machine_ticks():
    with open("/proc/stat") as f:
        parts = f.readline().split()[1:]
    vals = [int(v) for v in parts]
    idle = vals[3] + vals[4]  # idle + iowait
    return sum(vals), idle


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def run_client(name, cmd, broker_pid, log):
    """Runs one client; returns (final JSON dict, {scenario: broker/machine figures})."""
    t0 = time.monotonic()
    b0 = proc_ticks(broker_pid)
    m0 = machine_ticks()
    per = {}
    final = None
    p = subprocess.Popen(cmd, shell=True, stdout=subprocess.PIPE, stderr=log, text=True)
    prev = (t0, b0, m0)
    for line in p.stdout:
        line = line.rstrip("\n")
        print(f"  [{name}] {line}", flush=True)
        log.write(line + "\n")
        now, b, m = time.monotonic(), proc_ticks(broker_pid), machine_ticks()
        word = line.split(" ", 1)[0]
        if word in SCENARIOS:
            dt = now - prev[0]
            busy = (m[0] - prev[2][0]) - (m[1] - prev[2][1])
            total = m[0] - prev[2][0]
            per[word] = {
                "broker_cores": round((b - prev[1]) / HZ / dt, 2) if dt > 0 else 0.0,
                "machine_busy_pct": round(100.0 * busy / total, 1) if total > 0 else 0.0,
                "load1": loadavg(),
            }
            prev = (now, b, m)
        elif line.startswith("{"):
            final = json.loads(line)
    rc = p.wait()
    if rc != 0 or final is None:
        sys.exit(f"compare.py: client {name} failed (exit {rc}); see the log")
    return final, per


def median_run(runs):
    """Per scenario, the round with the median throughput (the lower median for an even count) and
    its broker figures; peak RSS is the largest of all rounds. Also the per-round throughputs."""
    out = {"json": {}, "broker": {}, "rounds": {}}
    for s in SCENARIOS:
        have = [r for r in runs if s in r["json"]]
        if not have:
            continue
        have.sort(key=lambda r: r["json"][s]["msgs_per_s"])
        m = have[(len(have) - 1) // 2]
        out["json"][s] = m["json"][s]
        out["broker"][s] = m["broker"].get(s, {})
        out["rounds"][s] = [r["json"][s]["msgs_per_s"] for r in runs if s in r["json"]]
    out["json"]["peak_rss_kib"] = max(r["json"].get("peak_rss_kib", 0) for r in runs)
    return out


def ratio(a, b):
    return round(a / b, 2) if b else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--broker-pid", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--warmup-cmd-sub", nargs=2, metavar=("FROM", "TO"),
                    help="before measuring, run every client once with FROM replaced by TO in its command "
                         "(e.g. a small --messages) and discard the figures: warms the broker's JIT for all")
    ap.add_argument("clients", nargs="+")
    a = ap.parse_args()
    clients = [c.split("=", 1) for c in a.clients]
    os.makedirs(a.out, exist_ok=True)
    runs = {name: [] for name, _ in clients}
    if a.warmup_cmd_sub:
        for name, cmd in clients:
            wcmd = cmd.replace(a.warmup_cmd_sub[0], a.warmup_cmd_sub[1])
            print(f"== warm-up (discarded): {name}  (load {loadavg():.2f})", flush=True)
            with open(os.path.join(a.out, f"{name}-warmup.log"), "w") as log:
                run_client(name + "-warmup", wcmd, a.broker_pid, log)
    for r in range(a.rounds):
        for name, cmd in clients:
            print(f"== round {r + 1}/{a.rounds}: {name}: {cmd[:150]}  (load {loadavg():.2f})", flush=True)
            with open(os.path.join(a.out, f"{name}-{r + 1}.log"), "w") as log:
                j, per = run_client(name, cmd, a.broker_pid, log)
            runs[name].append({"json": j, "broker": per})
    res = {name: median_run(r) for name, r in runs.items()}

    ours = clients[0][0]
    peers = [n for n, _ in clients[1:]]
    o = res[ours]["json"]
    print()
    hdr = (f"{'scenario':<9} {'client':<6} {'msgs/s':>9} {'failed':>7} {'p50 us':>8} {'p99 us':>8} {'cpu us/msg':>10} "
           f"{'broker cores':>12} {'broker us/msg':>13} {'machine busy':>12}")
    print(hdr)
    print("-" * len(hdr))
    summary = {"bench": "producer-vs-peers", "rounds": a.rounds, "scenarios": {}}
    ok_all = True
    for s in SCENARIOS:
        if s not in o:
            continue
        row = {}
        for n in [ours] + peers:
            j, br = res[n]["json"].get(s), res[n]["broker"].get(s, {})
            if j is None:
                continue
            br = dict(br)
            if j["msgs_per_s"]:
                br["broker_us_per_msg"] = round(br.get("broker_cores", 0) * 1e6 / j["msgs_per_s"], 1)
            print(f"{s:<9} {n:<6} {j['msgs_per_s']:>9} {j.get('failed', 0):>7} {j['p50_us']:>8} {j['p99_us']:>8} "
                  f"{j['cpu_us_per_msg']:>10} {br.get('broker_cores', 0):>12} {br.get('broker_us_per_msg', 0):>13} "
                  f"{br.get('machine_busy_pct', 0):>11}%")
            row[n] = dict(j, **br, rounds_msgs_per_s=res[n]["rounds"][s])
        best_peer = max((res[n]["json"][s]["msgs_per_s"] for n in peers if s in res[n]["json"]), default=0)
        thr_ratio = {f"vs_{n}": ratio(o[s]["msgs_per_s"], res[n]["json"][s]["msgs_per_s"]) for n in peers if s in res[n]["json"]}
        cpu_ratio = {f"vs_{n}": ratio(o[s]["cpu_us_per_msg"], res[n]["json"][s]["cpu_us_per_msg"]) for n in peers if s in res[n]["json"]}
        thr_ok = o[s]["msgs_per_s"] >= best_peer
        java_cpu = res["java"]["json"][s]["cpu_us_per_msg"] if "java" in res and s in res["java"]["json"] else None
        cpu_ok = java_cpu is not None and o[s]["cpu_us_per_msg"] <= 0.5 * java_cpu
        ok_all = ok_all and thr_ok and cpu_ok
        print(f"{'':<9} rounds msgs/s " + "  ".join(f"{n} {res[n]['rounds'].get(s)}" for n in [ours] + peers))
        print(f"{'':<9} ratio  throughput {thr_ratio}  cpu/msg {cpu_ratio}  "
              f"[throughput >= best peer: {'yes' if thr_ok else 'NO'}; cpu <= 1/2 java: {'yes' if cpu_ok else 'NO'}]")
        summary["scenarios"][s] = {"clients": row, "throughput_ratio": thr_ratio, "cpu_ratio": cpu_ratio,
                                   "throughput_ok": thr_ok, "cpu_ok": cpu_ok}
    rss = {n: res[n]["json"].get("peak_rss_kib", 0) for n in [ours] + peers}
    rss_ratio = {f"vs_{n}": ratio(rss[ours], rss[n]) for n in peers}
    rss_ok = "java" in rss and rss[ours] * 10 <= rss["java"]
    ok_all = ok_all and rss_ok
    print(f"peak RSS KiB {rss}  ratio {rss_ratio}  [<= 1/10 java: {'yes' if rss_ok else 'NO'}]")
    summary.update({"peak_rss_kib": rss, "rss_ratio": rss_ratio, "rss_ok": rss_ok, "all_ok": ok_all,
                    "load1_end": loadavg()})
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        json.dump(summary, f)
    print(json.dumps(summary, separators=(",", ":")))


if __name__ == "__main__":
    main()
