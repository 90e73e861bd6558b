#!/usr/bin/env python3
"""Overhead of ksight's network probes on loopback work, measured in one run.

For each configuration (no ksight; then `ksight run --probes P` for each
network probe; then all of them at once) it runs three workloads of
ksight_netload on loopback and reports the median ns per operation and the
ratio to the no-ksight baseline:

  connect   a TCP connection: connect, 1000 bytes, accept, close both ends
  pingpong  a 64-byte request/response round trip on one TCP connection
  udpdrop   a datagram to a port nobody listens on (a dropped packet)

and, from the kernel's BPF statistics (ksight_bpf_program_run_time_seconds /
ksight_bpf_program_runs_total), the mean cost of one run of each probe's
programs. Configurations are interleaved round by round, so a noisy
neighbour hits them all alike.

Needs root and the build in ../build (BUILD_DIR overrides):
  sudo bench/net_overhead.py [--rounds 5]
"""
import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402  (Daemon, parse_metrics, med)

import json  # noqa: E402
import subprocess  # noqa: E402

NETLOAD = os.path.join(bench.BUILD, "bench", "ksight_netload")
PROBES = ["tcp", "tcpretrans,tcpreset", "tcprtt", "netdrop", "cgroupnet"]
ALL = "tcp,tcpretrans,tcpreset,tcprtt,netdrop,cgroupnet"
WORKLOADS = [("connect", ["connect", "4000", "1000"]),
             ("pingpong", ["pingpong", "40000"]),
             ("udpdrop", ["udpdrop", "100000"])]


def netload(args):
    out = subprocess.run([NETLOAD, *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)["ns_per_op"]


def program_costs(metrics, probes):
    """Mean ns per run of each program of `probes`, from the kernel's BPF stats."""
    out = {}
    for key, runs in metrics.items():
        if not key.startswith("ksight_bpf_program_runs_total{") or runs == 0:
            continue
        labels = key[key.index("{"):]
        if not any(f'probe="{p}"' in labels for p in probes.split(",")):
            continue
        t = metrics.get("ksight_bpf_program_run_time_seconds_total" + labels)
        if t is not None:
            out[labels] = (t * 1e9 / runs, runs)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    configs = ["none"] + PROBES + [ALL]
    results = {c: {w: [] for w, _ in WORKLOADS} for c in configs}
    costs = {}
    for r in range(args.rounds):
        for c in configs:
            d = None if c == "none" else bench.Daemon("--probes", c)
            try:
                for w, wargs in WORKLOADS:
                    results[c][w].append(netload(wargs))
                if d:
                    for labels, v in program_costs(d.scrape(), c).items():
                        costs.setdefault((c, labels), []).append(v[0])
            finally:
                if d:
                    d.stop()
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

    base = {w: statistics.median(results["none"][w]) for w, _ in WORKLOADS}
    print("| probes | " + " | ".join(f"{w} ns/op (min–max)" for w, _ in WORKLOADS) + " |")
    print("| --- | " + " | ".join("---" for _ in WORKLOADS) + " |")
    for c in configs:
        cells = []
        for w, _ in WORKLOADS:
            m, lo, hi = bench.med(results[c][w])
            ratio = "" if c == "none" else f", ×{m / base[w]:.2f}"
            cells.append(f"{m:.0f} ({lo:.0f}–{hi:.0f}){ratio}")
        print(f"| {'no ksight' if c == 'none' else c} | " + " | ".join(cells) + " |")
    print()
    print("| probes | program | mean ns per run (median over rounds) |")
    print("| --- | --- | --- |")
    for (c, labels), v in sorted(costs.items()):
        if c == ALL:
            continue
        prog = labels.split('program="')[1].split('"')[0]
        print(f"| {c} | {prog} | {statistics.median(v):.0f} |")


if __name__ == "__main__":
    main()
