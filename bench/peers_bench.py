"""Every probe against its peer (issue 16, item 6), for `make bench`.

For each probe with a peer in Debian's libbpf-tools or bpftrace packages, each
tool traces the whole machine while the same workload runs, one after the
other in one run: events (or samples) seen, loss, CPU and peak RSS (wait4)
and start-up (until the tool says it is tracing). measure() returns the raw
results, render() section 9 of docs/performance.md.

This generalizes bench/run.py's run_tool / run_histogram_tool (section 3,
exec and open; runqlat) to every probe: one runner, and per probe a workload,
a ready text per tool and a counter of what the tool saw of that workload.
"""
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import threading

import time

import rusage
from paths import BUILD, HOT, KSIGHT, LOADGEN, WORK

HEADING = "## 9. Every probe against its peer"
SBIN = "/usr/sbin"

# The peer's own words once it is tracing. libbpf-tools block-buffer stdout
# into a file, so they run under stdbuf -oL.
LINE = ["stdbuf", "-oL"]


def _read(path):
    with open(path, "rb") as f:
        return f.read().decode(errors="replace")


def run_peer(argv, ready, workload, count):
    """Starts a tracer, waits until `ready` shows in its output (start-up),
    runs the workload, stops the tracer with SIGINT and returns what
    count(stdout, stderr, ctx) saw, the tool's lost count, CPU, peak RSS."""
    out = tempfile.NamedTemporaryFile(delete=False)
    err = tempfile.NamedTemporaryFile(delete=False)
    try:
        t0 = time.time()
        proc = rusage.spawn(argv, stdout=out, stderr=err)
        startup = None
        while time.time() - t0 < 30 and proc.poll() is None:
            if ready in _read(out.name) + _read(err.name):
                startup = time.time() - t0
                break
            time.sleep(0.005)
        if startup is None:
            proc.kill()
            proc.wait()
            why = [l for l in _read(err.name).splitlines() if "rror" in l]
            return {"failed": (why[-1] if why else "did not start")[:120]}
        ctx = workload()
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        usage = rusage.finish(proc)
        text, errtext = _read(out.name), _read(err.name)
    finally:
        os.unlink(out.name)
        os.unlink(err.name)
    lost = sum(int(m.group(1) or m.group(2))
               for m in re.finditer(r"(\d+) (?:events )?lost|[Ll]ost (\d+)", text + errtext))
    return {"seen": count(text, errtext, ctx), "expected": ctx.get("expected"), "lost": lost,
            "cpu": usage["cpu"], "rss_mib": usage["rss_mib"],
            "startup": startup}


# --- workloads: each returns a context: what it made, and how to recognize it

def loadgen(*args):
    import json
    out = subprocess.run([LOADGEN, *map(str, args)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def execs(work):
    return lambda: {"expected": loadgen("exec", 0, 2000, work)["events"]}


def opens():
    return {"expected": loadgen("open", 50_000, 2, 1)["events"]}


def signals():
    """20 000 SIGTERM sent with kill() to a sleeping child that ignores it:
    harmless, every signal tracer sees kill(), and SIGTERM is one of the
    signals `ksight trace signal` prints (SIGCONT is only counted)."""
    child = subprocess.Popen(["sh", "-c", "trap '' TERM; exec sleep 60"])
    time.sleep(0.2)  # the trap is set
    for _ in range(20_000):
        os.kill(child.pid, signal.SIGTERM)
    child.kill()
    child.wait()
    return {"expected": 20_000, "tpid": str(child.pid)}


def tcp_conns():
    """500 loopback connections, each accepted, written to and closed."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(128)
    port = srv.getsockname()[1]
    n = 500

    def serve():
        for _ in range(n):
            c, _ = srv.accept()
            c.recv(16)
            c.close()

    t = threading.Thread(target=serve)
    t.start()
    for _ in range(n):
        c = socket.create_connection(("127.0.0.1", port))
        c.sendall(b"x")
        c.close()
    t.join()
    srv.close()
    # Each connection has two ends; the tools report one or both.
    return {"expected": n, "port": str(port)}


def disk_writes():
    path = os.path.join(BUILD, "bench-bio.tmp")
    n = 2000
    subprocess.run(["dd", "if=/dev/zero", f"of={path}", "bs=4k", f"count={n}", "oflag=direct"],
                   check=True, capture_output=True)
    os.unlink(path)
    return {"expected": n}


def pingpong():
    subprocess.run([WORK, "pingpong", "20000"], check=True)
    return {"expected": 40_000}


def syscall_storm():
    loadgen("openloop", 200_000)
    return {"expected": 200_000}


def busy_cpus():
    procs = [subprocess.Popen([HOT, "cpu", "3"]) for _ in range(2)]
    for p in procs:
        p.wait()
    return {"expected": None}


# --- counters: what a tool saw of the workload

def lines_with(word):
    return lambda text, _err, _ctx: sum(1 for l in text.splitlines()
                                        if word in l and "ksight_loadgen exec" not in l)


def signal_lines(text, _err, ctx):
    return sum(1 for l in text.splitlines()
               if ctx["tpid"] in l.split() and ({"15", "SIGTERM", "TERM"} & set(l.split())))


def port_lines(text, _err, ctx):
    return sum(1 for l in text.splitlines() if ctx["port"] in l.split())


def histogram_samples(text, _err, _ctx):
    n = 0
    # libbpf-tools and ksight: "  lo -> hi : count |***|"; bpftrace: "[lo, hi)  count |@@|"
    for m in re.finditer(r"^\s*\d+ -> \S+\s*: (\d+)\s*\|", text, re.M):
        n += int(m.group(1))
    for m in re.finditer(r"^\[[^\]]+[\])]\s+(\d+) \|", text, re.M):
        n += int(m.group(1))
    return n


def syscall_counts(text, _err, _ctx):
    """Calls counted: ksight's '(N samples', or the sum of a count table
    (syscount's `name  COUNT`, syscount.bt's `@syscall[id]: COUNT`)."""
    m = re.search(r"\((\d+) samples", text)
    if m:
        return int(m.group(1))
    n = sum(int(x) for x in re.findall(r"^@syscall\[\d+\]: (\d+)$", text, re.M))
    n += sum(int(x) for x in re.findall(r"^[a-z_0-9]+\s+(\d+)\s*$", text, re.M))
    return n


def stack_samples(text, err, ctx):
    n = sum(int(x) for x in re.findall(r"\]: (\d+)$", text, re.M))  # bpftrace @[...]: N
    for line in text.splitlines():  # folded: "a;b;c N"
        head, _, tail = line.rpartition(" ")
        if head and tail.isdigit() and not head.endswith(":"):
            n += int(tail)
    return n


BT_PROFILE = "profile:hz:99 { @[kstack, ustack, comm] = count(); }"


def table(work):
    """probe -> (workload description, workload, counter, [(tool, argv, ready)])."""
    # ksight prints its header with the first event; at info level it says
    # when tracing starts, which is what start-up is timed to.
    k = lambda *a: [KSIGHT, "trace", "--log-level", "info", *a]
    bt = lambda name: ["bpftrace", f"{SBIN}/{name}.bt"]
    return {
        "exec": ("2000 fork+exec of a uniquely named /bin/true", execs(work), lines_with("kbwork"),
                 [("ksight trace exec", k("exec"), "attached"),
                  ("execsnoop", LINE + [f"{SBIN}/execsnoop"], "PID"),
                  ("execsnoop.bt", bt("execsnoop"), "PID")]),
        "open": ("100 000 openat at 50 k/s", opens, lines_with("ksight_loadgen"),
                 [("ksight trace open", k("open"), "attached"),
                  ("opensnoop", LINE + [f"{SBIN}/opensnoop"], "PID"),
                  ("opensnoop.bt", bt("opensnoop"), "PID")]),
        "exit": ("2000 fork+exec+exit", execs(work), lines_with("kbwork"),
                 [("ksight trace exit", k("exit"), "attached"),
                  ("exitsnoop", LINE + [f"{SBIN}/exitsnoop"], "PID")]),
        "signal": ("20 000 kill(SIGTERM) to one child that ignores it", signals, signal_lines,
                   [("ksight trace signal", k("signal"), "attached"),
                    ("sigsnoop", LINE + [f"{SBIN}/sigsnoop"], "PID"),
                    ("killsnoop.bt", bt("killsnoop"), "Tracing")]),
        "tcp": ("500 loopback connections", tcp_conns, port_lines,
                [("ksight trace tcp", k("tcp"), "attached"),
                 ("tcplife", LINE + [f"{SBIN}/tcplife"], "PID"),
                 ("tcplife.bt", bt("tcplife"), "PID")]),
        "runqlat": ("ksight-work pingpong 20000 (40 000 wake-ups)", pingpong, histogram_samples,
                    [("ksight trace runqlat", k("runqlat"), "attached"),
                     ("runqlat", LINE + [f"{SBIN}/runqlat"], "Tracing"),
                     ("runqlat.bt", bt("runqlat"), "Attaching")]),
        "biolatency": ("2000 direct 4 KiB writes (dd oflag=direct)", disk_writes, histogram_samples,
                       [("ksight trace biolatency", k("biolatency"), "attached"),
                        ("biolatency", LINE + [f"{SBIN}/biolatency"], "Tracing"),
                        ("biolatency.bt", bt("biolatency"), "Tracing")]),
        "syscalls": ("200 000 openat (ksight_loadgen openloop)", syscall_storm, syscall_counts,
                     [("ksight trace syscalls", k("syscalls"), "attached"),
                      ("syscount", LINE + [f"{SBIN}/syscount"], "Tracing"),
                      ("syscount.bt", bt("syscount"), "Counting")]),
        "profile": ("two ksight-hot cpu loops, 3 s", busy_cpus, stack_samples,
                    [("ksight trace profile -f folded", k("profile", "-f", "folded"), "attached"),
                     ("bpftrace profile:hz:99 one-liner", ["bpftrace", "-e", BT_PROFILE],
                      "Attaching")]),
    }


def measure(runs):
    tmp = tempfile.mkdtemp()
    work = os.path.join(tmp, "kbwork")
    shutil.copy("/bin/true", work)
    out = {}
    try:
        for probe, (what, workload, count, tools) in table(work).items():
            out[probe] = {"what": what, "tools": {}}
            for name, argv, ready in tools:
                files = [a for a in argv if a.startswith(SBIN) or a == KSIGHT]
                if not shutil.which(argv[0]) or not all(os.path.exists(f) for f in files):
                    out[probe]["tools"][name] = None
                    continue
                res = []
                for _ in range(runs):
                    res.append(run_peer(argv, ready, workload, count))
                    if "failed" in res[-1]:
                        break
                out[probe]["tools"][name] = res
    finally:
        shutil.rmtree(tmp)
    return out


def _med(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return statistics.median(values), min(values), max(values)


def _fmt(triple, spec="{:,.0f}"):
    if triple is None:
        return ""
    m, lo, hi = triple
    return spec.format(m) if lo == hi else f"{spec.format(m)} ({spec.format(lo)}–{spec.format(hi)})"


def render(raw):
    peers = raw["peers_all"]
    md = [HEADING + "\n",
          f"Measured {raw.get('peers_all_date', '')} with `{raw.get('peers_all_cmd', 'make bench')}`, "
          "all in one run, median (min–max). Each tool traces the whole machine while the workload runs; "
          "*seen* is what the tool reported of that workload (event lines naming it, or the samples "
          "or calls its histogram or table adds up to: for the counting tools, everything the machine "
          "did while they ran, so compare orders of magnitude); *lost* is what the tool says it lost; "
          "CPU and peak RSS come from wait4(); *start-up* is from starting the tool until it says it "
          "is tracing (its header or banner). Ratios are ksight / peer: below 1, ksight uses less. "
          "Debian 12's libbpf-tools has no `profile`, so bpftrace's kstack+ustack one-liner stands in.\n",
          "| probe | workload | tool | seen / made | lost | CPU s | peak RSS MiB | start-up s | "
          "CPU ratio | RSS ratio | start-up ratio |",
          "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for probe, entry in peers.items():
        tools = entry["tools"]
        ours = next((v for n, v in tools.items() if n.startswith("ksight") and v
                     and "failed" not in v[0]), None)
        for name, res in tools.items():
            head = f"| {probe} | {entry['what']} | {name} |"
            if res is None:
                md.append(f"{head} not installed | | | | | | | |")
                continue
            if "failed" in res[-1]:
                md.append(f"{head} failed here: {res[-1]['failed'].replace('|', '/')} | | | | | | | |")
                continue
            g = lambda k: _med(r[k] for r in res)

            def ratio(k):
                if not ours or name.startswith("ksight"):
                    return ""
                a = _med(r[k] for r in ours)
                b = g(k)
                return f"{a[0] / b[0]:.2f}" if a and b and b[0] else ""
            made = g("expected")
            md.append(f"{head} {_fmt(g('seen'))} / {_fmt(made) if made else '–'} | {_fmt(g('lost'))} | "
                      f"{_fmt(g('cpu'), '{:.2f}')} | {_fmt(g('rss_mib'), '{:.1f}')} | "
                      f"{_fmt(g('startup'), '{:.2f}')} | {ratio('cpu')} | {ratio('rss_mib')} | "
                      f"{ratio('startup')} |")
    md.append("")
    return md
