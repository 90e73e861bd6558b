#!/usr/bin/env python3
"""What each probe costs the work it watches: `make bench-probes`.

For every probe, a workload that hits the probe's hook as often as it can
(a getpid loop for syscalls, failed opens for open, O_DIRECT writes for
biolatency, pipe ping-pong for runqlat, ...) runs alternately with no ksight
and with `ksight run --probes PROBE`, RUNS times each. Reported: the median
time per operation both ways, their ratio, and the kernel's own count of the
probe's BPF run time per program run (BPF_ENABLE_STATS), which does not
depend on how busy the machine is.

Needs root and the build in ../build (ksight, tests/ksight-work).
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("BUILD_DIR", os.path.join(ROOT, "build"))
KSIGHT = os.path.join(BUILD, "ksight")
WORK = os.path.join(BUILD, "tests", "ksight-work")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import free_port  # noqa: E402  (one copy, in the main benchmark)


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return r.read().decode()


def series_sum(text, family, probe):
    total = 0.0
    for line in text.splitlines():
        if line.startswith(family + "{") and f'probe="{probe}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def timed(argv):
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


class Daemon:
    def __init__(self, probe, extra):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [KSIGHT, "run", "--listen", f"127.0.0.1:{self.port}", "--probes", probe,
             "--log-level", "warn"] + extra,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                if f'ksight_probe_up{{probe="{probe}"' in scrape(self.port):
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"ksight run --probes {probe} did not come up")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=15)


def measure(probe, argv, ops, runs, extra=()):
    base, probed, per_run_ns = [], [], []
    for _ in range(runs):
        base.append(timed(argv) / ops)
        d = Daemon(probe, list(extra))
        try:
            before = scrape(d.port)
            probed.append(timed(argv) / ops)
            after = scrape(d.port)
        finally:
            d.stop()
        runs_delta = (series_sum(after, "ksight_bpf_program_runs_total", probe) -
                      series_sum(before, "ksight_bpf_program_runs_total", probe))
        secs_delta = (series_sum(after, "ksight_bpf_program_run_time_seconds_total", probe) -
                      series_sum(before, "ksight_bpf_program_run_time_seconds_total", probe))
        if runs_delta > 0:
            per_run_ns.append(secs_delta * 1e9 / runs_delta)
    return {
        "base": statistics.median(base),
        "probed": statistics.median(probed),
        "bpf_ns": statistics.median(per_run_ns) if per_run_ns else None,
    }


def human(seconds):
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    if seconds >= 1e-6:
        return f"{seconds * 1e6:.2f} µs"
    return f"{seconds * 1e9:.0f} ns"


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every workload's size")
    ap.add_argument("probes", nargs="*", help="only these probes")
    args = ap.parse_args()
    for binary in (KSIGHT, WORK):
        if not os.access(binary, os.X_OK):
            sys.exit(f"probe_overhead: {binary} is missing; run `make build` first")
    tmp = tempfile.mkdtemp(prefix="ksight-overhead-", dir="/var/tmp")
    n = lambda x: str(int(x * args.scale))
    cases = [
        ("syscalls", "getpid loop", [WORK, "getpid", n(2_000_000)], 2_000_000 * args.scale, ()),
        ("open", "failed open", [WORK, "open-missing", n(300_000)], 300_000 * args.scale, ()),
        ("biolatency", "4 KiB O_DIRECT+O_DSYNC write",
         [WORK, "dsync-write", os.path.join(tmp, "data"), n(2000)], 2000 * args.scale, ()),
        ("runqlat", "pipe round trip (2 wake-ups)", [WORK, "pingpong", n(100_000)],
         100_000 * args.scale, ()),
        ("signal", "signal sent and handled", [WORK, "signals", n(300_000)],
         300_000 * args.scale, ()),
        ("exec", "fork + exec of /bin/true",
         ["sh", "-c", f"i=0; while [ $i -lt {n(2000)} ]; do /bin/true; i=$((i+1)); done"],
         2000 * args.scale, ()),
        ("profile", "getpid loop, 99 Hz sampling", [WORK, "getpid", n(2_000_000)],
         2_000_000 * args.scale, ()),
    ]
    print("| probe | operation | without ksight | with the probe | ratio | BPF time per program run |")
    print("|---|---|---|---|---|---|")
    for probe, what, argv, ops, extra in cases:
        if args.probes and probe not in args.probes:
            continue
        r = measure(probe, argv, ops, args.runs, extra)
        bpf = f"{r['bpf_ns']:.0f} ns" if r["bpf_ns"] is not None else "n/a"
        print(f"| {probe} | {what} | {human(r['base'])} | {human(r['probed'])} | "
              f"{r['probed'] / r['base']:.2f}x | {bpf} |", flush=True)


if __name__ == "__main__":
    main()
