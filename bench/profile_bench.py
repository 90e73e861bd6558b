"""Stack profiling costs for `make bench` (issue 15): what a 30 s capture of
the whole machine costs ksight and the peer tools, and what the daemon's
continuous profiling costs at 19 Hz. Imported by bench/run.py, which renders
section 5 of docs/performance.md from what measure() returns.

Workload: two `ksight-hot cpu` processes keep both CPUs busy, so every tick
of the sampling clock is a sample. CPU and peak RSS come from wait4(); the BPF
side's cost per sample from BPF stats (run_time_ns / run_cnt of the tool's
perf_event programs, read near the end of the capture).
"""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

import rusage
from paths import free_port


def bpf_perf_event_progs():
    """{prog id: (name, run_time_ns, run_cnt)} of loaded perf_event programs."""
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True)
    progs = {}
    for p in json.loads(out.stdout or "[]"):
        if p.get("type") == "perf_event":
            progs[p["id"]] = (p.get("name", ""), p.get("run_time_ns", 0), p.get("run_cnt", 0))
    return progs


def busy(hot, seconds, n=2):
    return [subprocess.Popen([hot, "cpu", str(seconds)]) for _ in range(n)]


def capture(argv, seconds, count_samples, stop_with_sigint=False):
    """Runs a profiler for `seconds` (it stops itself, or by SIGINT) while two
    busy loops run; returns CPU s, peak RSS MiB, samples and BPF ns/sample."""
    before = set(bpf_perf_event_progs())
    work = busy(HOT, seconds + 5)
    out = tempfile.NamedTemporaryFile(delete=False)
    err = tempfile.NamedTemporaryFile(delete=False)
    t0 = time.time()
    proc = rusage.spawn(argv, stdout=out, stderr=err)
    time.sleep(max(seconds - 2, 1))
    mine = {k: v for k, v in bpf_perf_event_progs().items() if k not in before}
    if stop_with_sigint:
        time.sleep(2)
        proc.send_signal(signal.SIGINT)
    usage = rusage.finish(proc)
    status = usage["status"]
    wall = time.time() - t0
    for w in work:
        w.kill()
        w.wait()
    with open(out.name, "rb") as f:
        text = f.read().decode(errors="replace")
    with open(err.name, "rb") as f:
        errtext = f.read().decode(errors="replace")
    os.unlink(out.name)
    os.unlink(err.name)
    run_ns = sum(v[1] for v in mine.values())
    runs = sum(v[2] for v in mine.values())
    return {"cpu": usage["cpu"], "rss_mib": usage["rss_mib"],
            "samples": count_samples(text, errtext), "wall": wall, "status": status,
            "bpf_ns_per_sample": run_ns / runs if runs else None,
            "error": errtext[-300:] if status else ""}


def folded_total(text, _err):
    total = 0
    for line in text.splitlines():
        _, _, n = line.rpartition(" ")
        if n.isdigit():
            total += int(n)
    return total


def bpftrace_total(text, _err):
    # @[kstack, ustack, comm]: COUNT
    return sum(int(m) for m in re.findall(r"\]: (\d+)$", text, re.M))


def offcputime_total(text, _err):
    """libbpf-tools offcputime's plain output: each stack ends with a line
    holding only its total in microseconds."""
    return sum(int(line) for line in (l.strip() for l in text.splitlines()) if line.isdigit())


def perf_total(text, err):
    m = re.search(r"\(([0-9]+) samples\)", err)
    return int(m.group(1)) if m else None


def daemon_continuous(ksight, hz, seconds):
    """`ksight run --probes profile` at `hz`, one /debug/pprof/profile of
    `seconds` while both CPUs are busy: the daemon's CPU over it (share of one
    CPU) and its BPF program time (share of one CPU)."""
    tmp = tempfile.mkdtemp()
    cfg = os.path.join(tmp, "k.yaml")
    with open(cfg, "w") as f:
        f.write(f"probes: [profile]\nprofile:\n  frequency: {hz}\nlisten: 127.0.0.1:0\n")
    port = free_port()
    d = subprocess.Popen([ksight, "run", "--config", cfg, "--listen", f"127.0.0.1:{port}",
                          "--log-level", "warn"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read()
                break
            except OSError:
                time.sleep(0.1)
        work = busy(HOT, 2 * seconds + 10)
        time.sleep(1)
        # The same daemon over the same time without a profile: what it costs
        # anyway (its other threads, the per-process sample counts).
        base0, t_base = proc_cpu(d.pid), time.time()
        time.sleep(seconds)
        baseline = (proc_cpu(d.pid) - base0) / (time.time() - t_base)
        cpu0 = proc_cpu(d.pid)
        progs0 = bpf_perf_event_progs()
        t0 = time.time()
        body = urllib.request.urlopen(
            f"http://127.0.0.1:{port}/debug/pprof/profile?seconds={seconds}", timeout=seconds + 30).read()
        wall = time.time() - t0
        cpu1 = proc_cpu(d.pid)
        progs1 = bpf_perf_event_progs()
        for w in work:
            w.kill()
            w.wait()
        rss = proc_rss_mib(d.pid)
        bpf_ns = sum(progs1[k][1] - progs0[k][1] for k in progs1 if k in progs0)
        return {"agent_cpu_share": (cpu1 - cpu0) / wall, "bpf_cpu_share": bpf_ns / 1e9 / wall,
                "baseline_cpu_share": baseline,
                "pprof_bytes": len(body), "rss_mib": rss, "wall": wall}
    finally:
        d.send_signal(signal.SIGTERM)
        d.wait()
        shutil.rmtree(tmp)


def proc_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return None


HOT = None


def measure(ksight, hot, runs, seconds=30):
    global HOT
    HOT = hot
    subprocess.run(["sysctl", "-qw", "kernel.bpf_stats_enabled=1"], check=False)
    s = str(seconds)
    tools = [
        ("ksight trace profile -f folded (49 Hz)",
         [ksight, "trace", "profile", "-f", "folded", "--frequency", "49", "-d", f"{s}s"], folded_total, False),
        ("ksight trace profile -f folded (99 Hz)",
         [ksight, "trace", "profile", "-f", "folded", "--frequency", "99", "-d", f"{s}s"], folded_total, False),
        ("bpftrace profile:hz:99 kstack+ustack",
         ["bpftrace", "-e", "profile:hz:99 { @[kstack, ustack, comm] = count(); } "
                            f"interval:s:{s} {{ exit(); }}"], bpftrace_total, False),
        ("perf record -F 99 -a -g + perf script",
         ["sh", "-c", f"perf record -F 99 -a -g -o /tmp/ksight-bench-perf.data -- sleep {s} "
                      "&& perf script -i /tmp/ksight-bench-perf.data > /dev/null; "
                      "rm -f /tmp/ksight-bench-perf.data"], perf_total, False),
    ]
    results = {}
    for name, argv, counter, sigint in tools:
        if not shutil.which(argv[0]):
            results[name] = None
            continue
        results[name] = [capture(argv, seconds, counter, sigint) for _ in range(runs)]
    offcpu = {}
    # Both count blocks of at least 1 ms, in microseconds.
    for name, argv, counter in [
            ("ksight trace offcpu -f folded", [ksight, "trace", "offcpu", "-f", "folded", "-d", f"{s}s"],
             folded_total),
            ("offcputime -m 1000 (libbpf-tools)", ["/usr/sbin/offcputime", "-m", "1000", s], offcputime_total)]:
        if not shutil.which(argv[0]):
            offcpu[name] = None
            continue
        offcpu[name] = [capture(argv, seconds, counter) for _ in range(runs)]
    continuous = [daemon_continuous(ksight, 19, seconds) for _ in range(runs)]
    subprocess.run(["sysctl", "-qw", "kernel.bpf_stats_enabled=0"], check=False)
    return {"seconds": seconds, "cpu": results, "offcpu": offcpu, "continuous": continuous,
            "libbpf_tools_profile": shutil.which("profile", path="/usr/sbin")}
