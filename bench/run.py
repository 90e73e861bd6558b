#!/usr/bin/env python3
"""ksight's benchmark suite: `make bench` runs it and writes docs/performance.md.

Everything is measured in one run on this machine, and every figure is the
median of RUNS runs with the min and max beside it. Peer tools (libbpf-tools,
bpftrace) run on the same workload in the same run, and are compared as
ratios, since a single absolute time on a shared VM means little.

Needs root (it loads BPF programs) and the build in ../build.
"""
import argparse
import json
import os
import pickle
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import profile_bench  # noqa: E402  (section 5: stack profiling)
import idle_bench  # noqa: E402  (section 7: at rest, low rate and per event)
import rusage  # noqa: E402  (CPU and peak RSS of each tool)
import burst_bench  # noqa: E402  (section 8: bursts from inside the kernel)
import peers_bench  # noqa: E402  (section 9: every probe against its peer)
import export_bench  # noqa: E402  (section 6: export and cardinality)

from paths import BUILD, BURST, HOT, KSIGHT, LOADGEN, MICRO, ROOT, WORK, free_port  # noqa: E402,F401


def parse_metrics(text):
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, val = line.rpartition(" ")
        try:
            out[key] = float(val)
        except ValueError:
            pass
    return out


class Daemon:
    """ksight run on a loopback port, with the given extra arguments."""

    def __init__(self, *args):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [KSIGHT, "run", "--listen", f"127.0.0.1:{self.port}", "--log-level", "warn", *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                if "ksight_probe_up" in self.scrape_text():
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("ksight run did not come up: " + self.proc.stderr.read().decode())

    def scrape_text(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10) as r:
            return r.read().decode()

    def scrape(self):
        return parse_metrics(self.scrape_text())

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


def med(values):
    values = list(values)
    return statistics.median(values), min(values), max(values)


def fmt(triple, spec="{:.0f}", unit=""):
    m, lo, hi = triple
    return f"{spec.format(m)}{unit} ({spec.format(lo)}–{spec.format(hi)})"


def loadgen(*args):
    out = subprocess.run([LOADGEN, *map(str, args)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def sum_series(m, prefix):
    return sum(v for k, v in m.items() if k.startswith(prefix))


# --- 1. event path: throughput and loss ------------------------------------

def event_path_run(rate, seconds, threads):
    d = Daemon("--probes", "open")
    try:
        before = d.scrape()
        t0 = time.time()
        gen = loadgen("open", rate, seconds, threads)
        time.sleep(0.5)  # let the reader drain
        after = d.scrape()
        wall = time.time() - t0
    finally:
        d.stop()
    delta = lambda k: after.get(k, 0) - before.get(k, 0)
    received = delta('ksight_events_received_total{probe="open"}')
    lost = {r: delta(f'ksight_events_lost_total{{probe="open",reason="{r}"}}')
            for r in ("buffer_full", "queue_full")}
    return {
        "offered": gen["rate"],
        "generated": gen["events"],
        "delivered_per_s": received / gen["seconds"],
        "lost_buffer_full": lost["buffer_full"],
        "lost_queue_full": lost["queue_full"],
        "reader_cpu": delta('ksight_agent_thread_cpu_seconds_total{thread="reader"}') / wall,
        "dispatcher_cpu": delta('ksight_agent_thread_cpu_seconds_total{thread="dispatcher"}') / wall,
        "agent_cpu": delta("ksight_agent_cpu_seconds_total") / wall,
    }


def bench_event_path(runs, sweep_seconds, sustain_seconds):
    rows = []
    best = None
    for rate, threads in ((100_000, 1), (250_000, 1), (500_000, 2), (750_000, 2), (1_000_000, 2), (5_000_000, 2)):
        res = [event_path_run(rate, sweep_seconds, threads) for _ in range(runs)]
        zero = all(r["lost_buffer_full"] + r["lost_queue_full"] == 0 for r in res)
        rows.append((rate, threads, sweep_seconds, res, zero))
        if zero:
            best = (rate, threads)
    sustained = None
    if best:
        res = [event_path_run(best[0], sustain_seconds, best[1]) for _ in range(runs)]
        sustained = (best[0], best[1], sustain_seconds, res, all(
            r["lost_buffer_full"] + r["lost_queue_full"] == 0 for r in res))
    return rows, sustained


# --- 2. overhead on the traced workload --------------------------------------

def bench_overhead(runs):
    out = {}
    tmp = tempfile.mkdtemp()
    true_bin = os.path.join(tmp, "kbtrue")
    shutil.copy("/bin/true", true_bin)
    try:
        def opens():
            return loadgen("openloop", 1_000_000)["ns_per_op"]

        def execs():
            return loadgen("exec", 0, 500, true_bin)["ns_per_op"]

        for name, fn, probes in (("openat (open probe)", opens, "open"),
                                 ("fork+exec+wait (exec,exit probes)", execs, "exec,exit")):
            off = [fn() for _ in range(runs)]
            d = Daemon("--probes", probes)
            try:
                on = [fn() for _ in range(runs)]
                m = d.scrape()
            finally:
                d.stop()
            progs = {}
            for k, v in m.items():
                g = re.match(r'ksight_bpf_program_run_time_seconds_total\{probe="[^"]+",program="([^"]+)"\}', k)
                if g:
                    runs_key = k.replace("run_time_seconds_total", "runs_total")
                    if m.get(runs_key):
                        progs[g.group(1)] = v / m[runs_key] * 1e9
            out[name] = (med(off), med(on), progs)
    finally:
        shutil.rmtree(tmp)
    return out


# --- 3. side by side with the peer tools -------------------------------------

def take_output(out, err):
    """The text of a tool's stdout and stderr capture files, which it removes."""
    texts = []
    for f in (out, err):
        with open(f.name, "rb") as g:
            texts.append(g.read().decode(errors="replace"))
        os.unlink(f.name)
    return texts


def run_tool(argv, workload, marker_bin, pattern):
    """Starts a tracer, measures time to its first event (a marker exec, repeated
    until it shows), runs the workload, stops the tracer with SIGINT, and returns
    events seen, the tool's lost count, CPU seconds, peak RSS and start-up time."""
    out = tempfile.NamedTemporaryFile(delete=False)
    err = tempfile.NamedTemporaryFile(delete=False)
    t0 = time.time()
    proc = rusage.spawn(argv, stdout=out, stderr=err)
    marker = os.path.basename(marker_bin)
    startup = None
    while time.time() - t0 < 30:
        subprocess.run([marker_bin])
        with open(out.name, "rb") as f:
            if marker.encode() in f.read():
                startup = time.time() - t0
                break
        time.sleep(0.01)
    expected = workload()
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    usage = rusage.finish(proc)
    text, errtext = take_output(out, err)
    # The generator's own exec line names the workload too: not an event of it.
    seen = sum(1 for line in text.splitlines() if pattern in line and "ksight_loadgen exec" not in line)
    lost = 0
    for m in re.finditer(r"(\d+) lost|[Ll]ost (\d+)", text + errtext):
        lost += int(m.group(1) or m.group(2))
    return {"seen": seen, "expected": expected, "lost": lost, "cpu": usage["cpu"],
            "rss_mib": usage["rss_mib"], "startup": startup}


def bench_peers(runs):
    tmp = tempfile.mkdtemp()
    marker = os.path.join(tmp, "kbmark")
    work = os.path.join(tmp, "kbwork")
    shutil.copy("/bin/true", marker)
    shutil.copy("/bin/true", work)
    n_exec = 2000
    n_open_rate, n_open_secs = 50_000, 2
    tools = {
        "exec": [("ksight trace exec", [KSIGHT, "trace", "exec"]),
                 ("execsnoop (libbpf-tools)", ["/usr/sbin/execsnoop"]),
                 ("execsnoop.bt (bpftrace)", ["bpftrace", "/usr/sbin/execsnoop.bt"])],
        "open": [("ksight trace open", [KSIGHT, "trace", "open"]),
                 ("opensnoop (libbpf-tools)", ["/usr/sbin/opensnoop"]),
                 ("opensnoop.bt (bpftrace)", ["bpftrace", "/usr/sbin/opensnoop.bt"])],
    }
    results = {}
    try:
        for probe, entries in tools.items():
            for name, argv in entries:
                if not shutil.which(argv[0]):
                    results[(probe, name)] = None
                    continue
                # Each workload returns how many events it made.
                if probe == "exec":
                    wl = lambda: loadgen("exec", 0, n_exec, work)["events"]
                    pattern = "kbwork"
                else:
                    wl = lambda: loadgen("open", n_open_rate, n_open_secs, 1)["events"]
                    pattern = "ksight_loadgen"
                results[(probe, name)] = [run_tool(argv, wl, marker, pattern) for _ in range(runs)]
    finally:
        shutil.rmtree(tmp)
    return results


def run_histogram_tool(argv, ready_text, workload):
    """Starts a histogram tool, times it until it says it is tracing, runs the
    workload, stops it with SIGINT, and returns start-up time, samples in the
    printed histogram(s), lost count, CPU seconds and peak RSS."""
    out = tempfile.NamedTemporaryFile(delete=False)
    err = tempfile.NamedTemporaryFile(delete=False)
    t0 = time.time()
    proc = rusage.spawn(argv, stdout=out, stderr=err)
    startup = None
    while time.time() - t0 < 30 and proc.poll() is None:
        with open(out.name, "rb") as f, open(err.name, "rb") as g:
            if ready_text.encode() in f.read() + g.read():
                startup = time.time() - t0
                break
        time.sleep(0.005)
    if startup is None:
        # It never started tracing (runqlat.bt does not compile against
        # Debian 12's headers, for one): say why instead of a number.
        proc.kill()
        proc.wait()
        why = [l for l in take_output(out, err)[1].splitlines() if "rror" in l]
        return {"failed": why[-1][:120] if why else "did not start"}
    workload()
    proc.send_signal(signal.SIGINT)
    usage = rusage.finish(proc)
    text, errtext = take_output(out, err)
    samples = 0
    # runqlat and ksight: "  lo -> hi : count |***|"; bpftrace: "[lo, hi)  count |@@|"
    for m in re.finditer(r"^\s*\d+ -> \S+\s*: (\d+)\s*\|", text, re.M):
        samples += int(m.group(1))
    for m in re.finditer(r"^\[[^\]]+[\])]\s+(\d+) \|", text, re.M):
        samples += int(m.group(1))
    lost = sum(int(m.group(1)) for m in re.finditer(r"(\d+) lost", text + errtext))
    return {"startup": startup, "samples": samples, "lost": lost,
            "cpu": usage["cpu"], "rss_mib": usage["rss_mib"]}


def bench_runqlat(runs):
    """ksight trace runqlat vs runqlat (libbpf-tools) and runqlat.bt, on the
    same workload: 20 000 pipe round trips between two processes (40 000
    wake-ups), on top of whatever else the machine runs."""
    tools = [("ksight trace runqlat", [KSIGHT, "trace", "runqlat"], "tracing runqlat"),
             # stdbuf: runqlat block-buffers its "Tracing..." line into a file.
             ("runqlat (libbpf-tools)", ["stdbuf", "-oL", "/usr/sbin/runqlat"],
              "Tracing run queue latency"),
             ("runqlat.bt (bpftrace)", ["bpftrace", "/usr/sbin/runqlat.bt"], "Attaching")]
    workload = lambda: subprocess.run([WORK, "pingpong", "20000"], check=True)
    results = {}
    for name, argv, ready in tools:
        if not shutil.which(argv[0]):
            results[name] = None
            continue
        results[name] = []
        for _ in range(runs):
            results[name].append(run_histogram_tool(argv, ready, workload))
            if "failed" in results[name][-1]:
                break
    return results


# --- 4. daemon footprint ------------------------------------------------------

def bench_footprint(runs, idle_seconds):
    rss, cpu, scrape_ms, scrape_bytes = [], [], [], []
    for _ in range(runs):
        d = Daemon()
        try:
            time.sleep(2)
            a = d.scrape()
            time.sleep(idle_seconds)
            b = d.scrape()
            rss.append(b["ksight_agent_resident_memory_bytes"] / 2**20)
            cpu.append((b["ksight_agent_cpu_seconds_total"] - a["ksight_agent_cpu_seconds_total"]) / idle_seconds * 100)
            t = time.perf_counter()
            text = d.scrape_text()
            scrape_ms.append((time.perf_counter() - t) * 1e3)
            scrape_bytes.append(len(text))
        finally:
            d.stop()
    micro = json.loads(subprocess.run(
        [MICRO, "--benchmark_format=json", f"--benchmark_repetitions={runs}",
         "--benchmark_report_aggregates_only=false", "--benchmark_min_time=0.2"],
        check=True, capture_output=True, text=True).stdout)
    return med(rss), med(cpu), med(scrape_ms), med(scrape_bytes), micro


# --- report ------------------------------------------------------------------

def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"nproc": os.cpu_count(), "kernel": platform.release(), "cpu": model,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def micro_table(micro):
    by = {}
    for b in micro["benchmarks"]:
        if b.get("run_type") != "iteration":
            continue
        by.setdefault(b["run_name"], []).append(b)
    lines = ["| benchmark | time per iteration, median (min–max) | items/s | bytes |", "| --- | --- | --- | --- |"]
    for name, bs in by.items():
        unit = bs[0]["time_unit"]
        t = med(b["real_time"] for b in bs)
        ips = med(b.get("items_per_second", 0) for b in bs)
        nbytes = bs[0].get("bytes")
        lines.append(f"| {name} | {fmt(t, '{:.3g}', ' ' + unit)} | "
                     f"{fmt(ips, '{:.3g}') if ips[0] else ''} | {int(nbytes) if nbytes else ''} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sweep-seconds", type=float, default=10)
    ap.add_argument("--sustain-seconds", type=float, default=60)
    ap.add_argument("--idle-seconds", type=float, default=20)
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "performance.md"))
    ap.add_argument("--raw", default=os.path.join(BUILD, "bench-results.pickle"),
                    help="where the raw measurements are kept (the report is rendered from them)")
    ap.add_argument("--render-only", action="store_true", help="re-render the report from --raw")
    ap.add_argument("--profile-seconds", type=int, default=30,
                    help="length of each stack profiling capture (section 5)")
    ap.add_argument("--idle-event-seconds", type=float, default=60,
                    help="length of the 1 M events/s per-event run (section 7)")
    ap.add_argument("--only", choices=["runqlat", "profile", "export", "idle", "burst", "peers_all"],
                    help="rerun one section into the existing --raw, then render")
    args = ap.parse_args()

    if args.only in ("burst", "peers_all"):
        # Section 8 or 9 alone, spliced into the existing report.
        if os.geteuid() != 0:
            sys.exit("bench: needs root to load BPF programs")
        part = {"machine": machine()}
        mod = burst_bench if args.only == "burst" else peers_bench
        part[args.only] = (burst_bench.measure(BURST, args.runs) if args.only == "burst"
                           else peers_bench.measure(args.runs))
        part[args.only + "_date"] = part["machine"]["date"]
        part[args.only + "_cmd"] = f"make bench BENCH_ARGS='--only {args.only} --runs {args.runs}'"
        burst_bench.splice(args.out, mod.HEADING, mod.render(part))
        print(f"wrote {mod.HEADING} of {args.out}", file=sys.stderr)
        return
    if args.only == "profile":
        # Section 5 alone, spliced into the report the last full run wrote.
        if os.geteuid() != 0:
            sys.exit("bench: needs root to load BPF programs")
        part = {"machine": machine(),
                "profile": profile_bench.measure(KSIGHT, HOT, args.runs, args.profile_seconds),
                "profile_cmd": (f"make bench BENCH_ARGS='--only profile --runs {args.runs} "
                                f"--profile-seconds {args.profile_seconds}'")}
        part["profile_date"] = part["machine"]["date"]
        with open(os.path.join(BUILD, "bench-profile.pickle"), "wb") as f:
            pickle.dump(part, f)
        with open(args.out) as f:
            text = f.read()
        section = "\n".join(render_profile(part)) + "\n"
        at = text.find("## 5. Stack profiling")
        if at < 0:
            text = text.rstrip("\n") + "\n\n" + section
        else:
            # Up to the next section: the others stay as they are.
            end = text.find("\n## ", at + 3)
            text = text[:at] + section + ("\n" + text[end + 1:] if end >= 0 else "")
        with open(args.out, "w") as f:
            f.write(text)
        print(f"wrote section 5 of {args.out}", file=sys.stderr)
        return
    if args.only == "export":
        # Section 6 alone (no root needed), spliced into the existing report
        # between its heading and the next one.
        part = {"export": export_bench.measure(MICRO, args.runs),
                "export_cmd": f"make bench BENCH_ARGS='--only export --runs {args.runs}'"}
        with open(args.out) as f:
            text = f.read()
        section = "\n".join(export_bench.render(part)) + "\n"
        at = text.find("## 6. Export and cardinality")
        if at < 0:
            text = text.rstrip("\n") + "\n\n" + section
        else:
            nxt = text.find("\n## ", at + 1)
            text = text[:at] + section + (text[nxt + 1:] if nxt >= 0 else "")
        with open(args.out, "w") as f:
            f.write(text)
        print(f"wrote section 6 of {args.out}", file=sys.stderr)
        return
    if args.only == "idle":
        # Section 7 alone, spliced between its heading and the next one.
        if os.geteuid() != 0:
            sys.exit("bench: needs root to load BPF programs")
        part = {"machine": machine(), "idle": measure_idle(args),
                "idle_cmd": (f"python3 bench/run.py --only idle --runs {args.runs} --idle-seconds "
                             f"{args.idle_seconds:g} --idle-event-seconds {args.idle_event_seconds:g}")}
        with open(os.path.join(BUILD, "bench-idle.pickle"), "wb") as f:
            pickle.dump(part, f)
        with open(args.out) as f:
            text = f.read()
        section = "\n".join(render_idle(part)) + "\n"
        at = text.find(idle_bench.HEADING)
        if at < 0:
            text = text.rstrip("\n") + "\n\n" + section
        else:
            nxt = text.find("\n## ", at + len(idle_bench.HEADING))
            text = text[:at] + section + (text[nxt + 1:] if nxt >= 0 else "")
        with open(args.out, "w") as f:
            f.write(text)
        print(f"wrote section 7 of {args.out}", file=sys.stderr)
        return
    if args.render_only or args.only:
        with open(args.raw, "rb") as f:
            raw = pickle.load(f)
        if args.only == "runqlat":
            raw["runqlat"] = bench_runqlat(raw["args"]["runs"])
            raw["runqlat_date"] = machine()["date"]

            with open(args.raw, "wb") as f:
                pickle.dump(raw, f)
    else:
        if os.geteuid() != 0:
            sys.exit("bench: needs root to load BPF programs")
        raw = {"machine": machine(), "args": {k: v for k, v in vars(args).items()
                                              if k in ("runs", "sweep_seconds", "sustain_seconds", "idle_seconds")}}
        print("event path...", file=sys.stderr)
        raw["event_path"] = bench_event_path(args.runs, args.sweep_seconds, args.sustain_seconds)
        print("overhead...", file=sys.stderr)
        raw["overhead"] = bench_overhead(args.runs)
        print("peers...", file=sys.stderr)
        raw["peers"] = bench_peers(args.runs)
        print("runqlat...", file=sys.stderr)
        raw["runqlat"] = bench_runqlat(args.runs)
        raw["runqlat_date"] = raw["machine"]["date"]
        print("footprint...", file=sys.stderr)
        raw["footprint"] = bench_footprint(args.runs, args.idle_seconds)
        print("stack profiling...", file=sys.stderr)
        raw["profile"] = profile_bench.measure(KSIGHT, HOT, args.runs, args.profile_seconds)
        raw["profile_date"] = raw["machine"]["date"]
        print("export and cardinality...", file=sys.stderr)
        raw["export"] = export_bench.measure(MICRO, args.runs)
        print("at rest, low rate, per event...", file=sys.stderr)
        raw["idle"] = measure_idle(args)
        print("bursts...", file=sys.stderr)
        raw["burst"] = burst_bench.measure(BURST, args.runs)
        print("peers, every probe...", file=sys.stderr)
        raw["peers_all"] = peers_bench.measure(args.runs)
        with open(args.raw, "wb") as f:
            pickle.dump(raw, f)
    render(raw, args.out)


def render(raw, out_path):
    mach = raw["machine"]
    args = argparse.Namespace(**raw["args"])
    cmd = "make bench  # = python3 bench/run.py " + " ".join(
        f"--{k.replace('_', '-')} {v:g}" for k, v in raw["args"].items())
    sweep, sustained = raw["event_path"]
    overhead = raw["overhead"]
    peers = raw["peers"]
    rss, cpu, scrape_ms, scrape_bytes, micro = raw["footprint"]

    md = [f"# Performance\n",
          f"Measured {mach['date']} on {mach['nproc']} CPUs ({mach['cpu']}), kernel {mach['kernel']}, "
          f"with:\n\n```\n{cmd}\n```\n",
          f"Every figure is the median of {args.runs} runs, (min–max) beside it. This is a 2-vCPU VM "
          "where the kernel side of every syscall costs far more than on bare metal: read ratios, "
          "not absolute times.\n",
          "## 1. Event path: throughput and loss\n",
          "The `open` probe, the real reader, aggregation and exporter (`ksight run --probes open`), "
          "fed by `ksight_loadgen open RATE SECONDS THREADS` (openat of an empty path, paced in 1 ms "
          "ticks). *Offered* is what the generator achieved; it shares the two CPUs with the agent, so "
          "past a point the machine, not the agent, sets the rate. Lost counts come from "
          "`ksight_events_lost_total`; CPU from `ksight_agent_thread_cpu_seconds_total` and "
          "`ksight_agent_cpu_seconds_total`, as a share of one core.\n",
          "| target rate/s | threads | seconds | offered/s | delivered/s | lost (buffer_full) | lost (queue_full) | reader CPU | dispatcher CPU | agent CPU |",
          "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    def ev_row(rate, threads, secs, res):
        g = lambda k: med(r[k] for r in res)
        pct = lambda k: fmt(tuple(x * 100 for x in g(k)), "{:.1f}", "%")
        return (f"| {rate:,} | {threads} | {secs:g} | {fmt(g('offered'))} | {fmt(g('delivered_per_s'))} | "
                f"{fmt(g('lost_buffer_full'))} | {fmt(g('lost_queue_full'))} | {pct('reader_cpu')} | "
                f"{pct('dispatcher_cpu')} | {pct('agent_cpu')} |")
    for rate, threads, secs, res, zero in sweep:
        md.append(ev_row(rate, threads, secs, res))
    if sustained:
        rate, threads, secs, res, zero = sustained
        md.append(f"\nSustained for {secs:g} s at the highest target rate that lost nothing in the sweep:\n")
        md.append(md[md.index("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |") - 1])
        md.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        md.append(ev_row(rate, threads, secs, res))
        delivered = statistics.median(r["delivered_per_s"] for r in res)
        user_cpu = statistics.median(r["reader_cpu"] + r["dispatcher_cpu"] for r in res) * 100
        md.append(f"\nTarget: zero loss at ≥ 1 M events/s for 60 s with reader + aggregation ≤ 10% of a core. "
                  f"Here: {'zero loss' if zero else 'LOSS'} at {delivered:,.0f} events/s delivered (the most the "
                  f"generator could offer while sharing the 2 vCPUs), with reader + dispatcher at "
                  f"{user_cpu:.1f}% of a core. "
                  f"{'Met.' if zero and delivered >= 1e6 and user_cpu <= 10 else 'Not met as stated: the rate is generator-bound here, and the user-space cost, ~' + format(user_cpu / delivered * 1e7, '.0f') + ' ns per event, is above the 10%-at-1M budget (100 ns per event).'}")
    md.append("\nThe 100 ms burst at ≥ 2 M events/s is not reachable by a syscall-driven generator on this VM "
              "(an openat costs ~1 µs here before any probe); the 8 MiB ring holds ~26 k open records, "
              "and the sweep's top row shows what a saturating burst does.\n")

    md.append("## 2. Overhead on the traced workload\n")
    md.append("ns per operation with the probe off (no agent) and on (`ksight run --probes ...`), and the BPF "
              "programs' own mean run time from BPF stats (`ksight_bpf_program_run_time_seconds_total` / "
              "`ksight_bpf_program_runs_total`).\n")
    md.append("| workload | off, ns/op | on, ns/op | added, ns/op | BPF programs, mean ns/run |")
    md.append("| --- | --- | --- | --- | --- |")
    for name, (off, on, progs) in overhead.items():
        added = on[0] - off[0]
        # Below the runs' own spread the difference says nothing: say so.
        spread = max(off[2] - off[1], on[2] - on[1])
        added_text = f"{added:.0f}" if abs(added) > spread else f"within noise ({added:+.0f}, spread {spread:.0f})"
        pro = "; ".join(f"{p}: {ns:.0f}" for p, ns in sorted(progs.items()) if ns > 0)
        md.append(f"| {name} | {fmt(off)} | {fmt(on)} | {added_text} | {pro} |")
    md.append("\nA fork+exec+wait costs milliseconds on this VM, so the exec and exit programs' cost is "
              "better read from their own run time (last column) than from the difference.")

    md.append("\n## 3. Side by side with the peer tools\n")
    md.append("Each tool traces the whole machine while the same workload runs: 2000 fork+exec of a "
              "uniquely named copy of /bin/true (exec), or 100 000 openat calls at 50 k/s (open). "
              "*Seen* counts output lines of the workload; *start-up* is the time from starting the tool "
              "to its first event (a marker exec repeated every 10 ms until it shows); CPU and peak RSS "
              "come from wait4(). Ratios are ksight / peer (below 1: ksight uses less).\n")
    md.append("| probe | tool | seen / made | lost | CPU s | peak RSS MiB | start-up s | CPU ratio | RSS ratio | start-up ratio |")
    md.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for probe in ("exec", "open"):
        ours = next((v for (p, n), v in peers.items() if p == probe and n.startswith("ksight")), None)
        for (p, name), v in peers.items():
            if p != probe:
                continue
            if v is None:
                md.append(f"| {probe} | {name} | not installed | | | | | | | |")
                continue
            res = v
            g = lambda k, rs=res: med(r[k] if r[k] is not None else float("nan") for r in rs)
            ratio = lambda k: (f"{statistics.median(r[k] for r in ours) / statistics.median(r[k] for r in res):.2f}"
                               if ours and not name.startswith("ksight") else "")
            md.append(f"| {probe} | {name} | {fmt(g('seen'))} / {fmt(g('expected'))} | {fmt(g('lost'))} | {fmt(g('cpu'), '{:.2f}')} | "
                      f"{fmt(g('rss_mib'), '{:.1f}')} | {fmt(g('startup'), '{:.2f}')} | {ratio('cpu')} | {ratio('rss_mib')} | {ratio('startup')} |")

    rq = raw.get("runqlat")
    if rq:
        md.append("\nHistograms: `ksight trace runqlat` against runqlat (libbpf-tools) and runqlat.bt "
                  "(bpftrace), each tracing the whole machine while `ksight-work pingpong 20000` makes "
                  "40 000 wake-ups (plus whatever else runs). *Start-up* is the time until the tool says it "
                  "is tracing; *samples* is the total count of the histogram printed at Ctrl-C (the "
                  "windows differ by the start-up and stop times, so compare orders of magnitude); "
                  f"ratios are ksight / peer. Measured {raw.get('runqlat_date', mach['date'])}.\n")
        md.append("| tool | samples | lost | CPU s | peak RSS MiB | start-up s | CPU ratio | RSS ratio | start-up ratio |")
        md.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        ours = rq.get("ksight trace runqlat")
        for name, res in rq.items():
            if res is None:
                md.append(f"| {name} | not installed | | | | | | | |")
                continue
            if any("failed" in r for r in res):
                why = next(r["failed"] for r in res if "failed" in r).replace("|", "/")
                md.append(f"| {name} | failed here: {why} | | | | | | | |")
                continue
            g = lambda k, rs=res: med(r[k] if r[k] is not None else float("nan") for r in rs)
            ratio = lambda k: (f"{statistics.median(r[k] for r in ours) / statistics.median(r[k] for r in res):.2f}"
                               if ours and not name.startswith("ksight") else "")
            md.append(f"| {name} | {fmt(g('samples'))} | {fmt(g('lost'))} | {fmt(g('cpu'), '{:.2f}')} | "
                      f"{fmt(g('rss_mib'), '{:.1f}')} | {fmt(g('startup'), '{:.2f}')} | {ratio('cpu')} | "
                      f"{ratio('rss_mib')} | {ratio('startup')} |")

    md.append("\n## 4. Daemon footprint\n")
    md.append(f"`ksight run` with the default probes, idle for {args.idle_seconds:g} s: RSS {fmt(rss, '{:.1f}', ' MiB')}, "
              f"CPU {fmt(cpu, '{:.2f}', '%')} of one core; a /metrics scrape of the idle daemon took "
              f"{fmt(scrape_ms, '{:.2f}', ' ms')} for {fmt(scrape_bytes)} bytes.\n")
    md.append("Scrape cost by series count: synthetic label sets pushed through the real aggregation core "
              "and exporters (`build/bench/ksight_microbench`), and the per-event user-space costs:\n")
    md.append(micro_table(micro))
    md.append("")
    if raw.get("profile"):
        md.extend(render_profile(raw))
    if raw.get("export"):
        md.extend(export_bench.render(raw))
    if raw.get("idle"):
        md.extend(render_idle(raw))
    for key, mod in (("burst", burst_bench), ("peers_all", peers_bench)):
        if raw.get(key):
            md.extend(mod.render(raw))
    with open(out_path, "w") as f:
        f.write("\n".join(md) + "\n")
    print(f"wrote {out_path}", file=sys.stderr)


def measure_idle(args):
    return idle_bench.measure(KSIGHT, Daemon, run_tool, loadgen, args.runs,
                              args.idle_seconds, args.idle_event_seconds)


def render_idle(raw):
    return idle_bench.render(raw["idle"], raw["machine"]["date"], raw.get("idle_cmd"))


def render_profile(raw):
    """Section 5: stack profiling, ksight against bpftrace and perf."""
    prof = raw["profile"]
    secs = prof["seconds"]
    md = ["## 5. Stack profiling\n",
          f"Measured {raw.get('profile_date', raw['machine']['date'])}"
          + (f" with `{raw['profile_cmd']}`" if raw.get("profile_cmd") else "") + ". "
          f"Each tool samples the whole machine for {secs} s while two `ksight-hot cpu` loops keep both "
          "CPUs busy (every tick is a sample), and prints or writes its stacks, symbolized, at the end. "
          "CPU and peak RSS from wait4() (the whole capture: start-up, sampling, symbolization, output); "
          "*BPF ns/sample* from BPF stats of the tool's perf_event programs. Ratios are ksight at 99 Hz / "
          "peer. Debian 12's libbpf-tools has no `profile` tool"
          + ("" if not prof.get("libbpf_tools_profile") else " (found one: " + prof["libbpf_tools_profile"] + ")")
          + ", so bpftrace's kstack+ustack one-liner and `perf record -g` + `perf script` (the usual way to "
          "a flame graph) stand in for it.\n",
          "| tool | samples | CPU s | peak RSS MiB | BPF ns/sample | user CPU µs/sample | CPU ratio | RSS ratio |",
          "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    ours = prof["cpu"].get("ksight trace profile -f folded (99 Hz)")
    for name, res in prof["cpu"].items():
        if res is None:
            md.append(f"| {name} | not installed | | | | | | |")
            continue
        g = lambda k, rs=res: med(r[k] if r[k] is not None else float("nan") for r in rs)
        per = med((r["cpu"] / r["samples"] * 1e6) if r["samples"] else float("nan") for r in res)
        peer = ours and not name.startswith("ksight")
        ratio = lambda k: (f"{statistics.median(r[k] for r in ours) / statistics.median(r[k] for r in res):.2f}"
                           if peer else "")
        md.append(f"| {name} | {fmt(g('samples'))} | {fmt(g('cpu'), '{:.2f}')} | {fmt(g('rss_mib'), '{:.1f}')} | "
                  f"{fmt(g('bpf_ns_per_sample'), '{:.0f}')} | {fmt(per, '{:.0f}')} | {ratio('cpu')} | {ratio('rss_mib')} |")
    md.append("\nOff-CPU, the same 30 s with the same busy loops (and whatever else blocks on the machine); "
              "both tools count blocks of at least 1 ms; *off-CPU time seen* is the sum of what each printed.\n")
    md.append("| tool | off-CPU time seen, s | CPU s | peak RSS MiB | CPU ratio | RSS ratio |")
    md.append("| --- | --- | --- | --- | --- | --- |")
    ours_off = prof["offcpu"].get("ksight trace offcpu -f folded")
    for name, res in prof["offcpu"].items():
        if res is None:
            md.append(f"| {name} | not installed | | | | |")
            continue
        g = lambda k, rs=res: med(r[k] if r[k] is not None else float("nan") for r in rs)
        peer = ours_off and not name.startswith("ksight")
        ratio = lambda k: (f"{statistics.median(r[k] for r in ours_off) / statistics.median(r[k] for r in res):.2f}"
                           if peer else "")
        seen = med((r["samples"] or 0) / 1e6 for r in res)
        md.append(f"| {name} | {fmt(seen, '{:.1f}')} | {fmt(g('cpu'), '{:.2f}')} | {fmt(g('rss_mib'), '{:.1f}')} | "
                  f"{ratio('cpu')} | {ratio('rss_mib')} |")
    cont = prof["continuous"]
    if cont:
        a = med(r["agent_cpu_share"] * 100 for r in cont)
        base = med(r.get("baseline_cpu_share", 0) * 100 for r in cont)
        b = med(r["bpf_cpu_share"] * 100 for r in cont)
        rss = med(r["rss_mib"] for r in cont)
        ncpu = int(raw["machine"]["nproc"])
        budget = 0.5 * ncpu / 2
        added = a[0] - base[0] + b[0]
        md.append(f"\nContinuous profiling in the daemon: `ksight run` with `probes: [profile]`, "
                  f"`profile.frequency: 19`, both CPUs busy; first {secs} s without a request, then one "
                  f"`/debug/pprof/profile?seconds={secs}`. The agent's own CPU: {fmt(base, '{:.2f}', '%')} of one "
                  f"CPU without a profile (its threads and the per-process counts, which run anyway), "
                  f"{fmt(a, '{:.2f}', '%')} while profiling; its BPF programs {fmt(b, '{:.3f}', '%')}; RSS "
                  f"{fmt(rss, '{:.1f}', ' MiB')}. Target: continuous profiling at 19 Hz ≤ 0.5% of a CPU per 2 "
                  f"cores ({budget:.2f}% of one CPU here). What profiling adds (agent while profiling − agent "
                  f"without + BPF): {added:.2f}% of one CPU, {'met' if added <= budget else 'NOT met'}; the whole "
                  f"agent while profiling, {a[0] + b[0]:.2f}%, {'meets' if a[0] + b[0] <= budget else 'does not meet'} "
                  f"it — its idle cost is issue 16's subject.")
    md.append("")
    return md


if __name__ == "__main__":
    main()
