#!/usr/bin/env python3
"""Every query of deploy/grafana/*.json and every rule of
deploy/prometheus/ksight-rules.yaml, evaluated by a real Prometheus scraping
real ksight agents under real work: each must parse and return series.

Three agents are scraped (job "ksight", 1 s):
  A  the agent as deployed, with the probes the panels need, watching a fake
     API server's pod whose container cgroup (the kubelet's cgroupfs path) runs
     the work: a failing exec, an OOM kill, a process killed by a signal, TCP
     with 30% loss (retransmits), a refused connect (reset), scheduling and CPU.
  B  an agent in trouble, so each alert has something to fire on: its reader
     thread dies (KSIGHT_FAULT_INJECT), cgroupnet cannot attach, a 4 KiB ring
     buffer fills, a series cap of 5 overflows; at the end it is stopped, and
     KsightAgentDown must fire.
  C  the syscalls probe under a BPF budget it cannot keep: the overhead
     governor detaches it (KsightGovernorShedding).

  dashboards_test.py --ksight BIN --work BIN --source DIR
Exit 0 pass, 1 fail, 77 skip (not root, no prometheus); under
KSIGHT_REQUIRE_BPF=1 a skip is a failure.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

from pod import NODE, NS, POD, api_server, in_pod, pod_json, setup_cgroups, write

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from ksight_testlib import SKIP, free_port, http_get, log, skip_or_fail  # noqa: E402

RATE_INTERVAL = "1m"  # what Grafana's $__rate_interval is at 1 s scrapes and a short range

procs = []      # (name, Popen), stopped at exit
cleanups = []   # callables, run in reverse order at exit


def eventually(pred, timeout, step=0.2):
    end = time.monotonic() + timeout
    while True:
        if pred():
            return True
        if time.monotonic() > end:
            return False
        time.sleep(step)


def start(name, argv, tmp, env=None, **kw):
    out = open(os.path.join(tmp, name + ".log"), "w")
    p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, **kw)
    procs.append((name, p))
    return p


def stop(p, sig=signal.SIGTERM):
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


# --- the work ---

TCP_SERVER = """
import socket, sys
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", int(sys.argv[1]))); l.listen(1); print("listening", flush=True)
c, _ = l.accept()
while c.recv(65536): pass
c.close()
"""


def run_work(args, tmp, pod_procs, mem_procs):
    work = args.work
    pod = in_pod(pod_procs)
    results = {}
    # TCP with 30% of the segments to the server's port dropped, in a network
    # namespace of its own (loopback there), so nothing else is touched.
    netns = "ksdash%d" % os.getpid()
    subprocess.run(["ip", "netns", "add", netns], check=True)
    cleanups.append(lambda: subprocess.run(["ip", "netns", "del", netns]))
    nsx = ["ip", "netns", "exec", netns]
    subprocess.run(nsx + ["ip", "link", "set", "lo", "up"], check=True)
    port = 5045
    nft = nsx + ["nft"]
    for rule in (["add", "table", "inet", "ksdash"],
                 ["add", "chain", "inet", "ksdash", "in", "{", "type", "filter", "hook", "input",
                  "priority", "0", ";", "}"],
                 ["add", "rule", "inet", "ksdash", "in", "tcp", "dport", str(port), "numgen",
                  "random", "mod", "100", "<", "30", "drop"]):
        subprocess.run(nft + rule, check=True)
    server = subprocess.Popen(nsx + [sys.executable, "-c", TCP_SERVER, str(port)],
                              stdout=subprocess.PIPE, text=True)
    procs.append(("tcp-server", server))
    server.stdout.readline()
    sender = subprocess.Popen(nsx + [work, "tcp-send", "127.0.0.1", str(port), "300000"],
                              preexec_fn=pod)
    procs.append(("tcp-send", sender))

    # In the pod, alongside: scheduling (pipe ping-pong), CPU, a failing exec,
    # a failing exit, a process killed by a signal, a refused connect.
    closed = free_port()
    shell = ("/nonexistent-ksight-dash; sh -c 'exit 3'; sh -c 'kill -TERM $$'; "
             f"{work} pingpong 3000; {work} spin 0.3; "
             f"(exec 3<>/dev/tcp/127.0.0.1/{closed}); true")
    results["shell"] = subprocess.run(["bash", "-c", shell], preexec_fn=pod,
                                      stderr=subprocess.DEVNULL).returncode
    # Over the memory limit: the OOM killer.
    oom = subprocess.run([work, "alloc", "256"], preexec_fn=in_pod(pod_procs, mem_procs))
    results["oom"] = oom.returncode
    # On the node: a few execs of their own names.
    for i in range(3):
        subprocess.run(["/bin/true"])
    results["tcp-send"] = sender.wait(30)
    server.wait(10)
    subprocess.run(nft + ["delete", "table", "inet", "ksdash"])
    return results


# --- Prometheus ---

class Prom:
    def __init__(self, port):
        self.base = "http://127.0.0.1:%d" % port

    def api(self, path, **params):
        status, body = http_get(self.base + path + "?" + urllib.parse.urlencode(params, True))
        try:
            return status, json.loads(body)
        except ValueError:
            return status, {"status": "error", "error": body[:200]}

    def query(self, expr):
        return self.api("/api/v1/query", query=expr, time="%.3f" % time.time())


def grafana_regex(values):
    """A multi-value variable as Grafana renders it for Prometheus."""
    esc = [re.sub(r"([\\.+*?^$()\[\]{}|])", r"\\\1", v) for v in values]
    return esc[0] if len(esc) == 1 else "(" + "|".join(esc) + ")"


def substitute(expr, values):
    for name in sorted(values, key=len, reverse=True):
        expr = expr.replace("$" + name, values[name]).replace("${%s}" % name, values[name])
    for name, v in (("__rate_interval", RATE_INTERVAL), ("__interval", "15s"),
                    ("__range", "5m")):
        expr = expr.replace("$" + name, v)
    return expr


def promql_string_values(values):
    # Inside a PromQL double-quoted string a backslash must be doubled.
    return {k: v.replace("\\", "\\\\") for k, v in values.items()}


def check_dashboards(prom, src, values, failures):
    raw = dict(values)
    sub = promql_string_values(values)
    n = 0
    for name in sorted(os.listdir(os.path.join(src, "deploy", "grafana"))):
        if not name.endswith(".json"):
            continue
        with open(os.path.join(src, "deploy", "grafana", name)) as f:
            board = json.load(f)
        # Variables: label_values(SELECTOR, LABEL) -> /api/v1/label/LABEL/values.
        for v in board["templating"]["list"]:
            if v["type"] != "query":
                continue
            m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", v["definition"], re.S)
            if not m:
                failures.append(f"{name}: variable {v['name']}: not label_values(): "
                                f"{v['definition']}")
                continue
            sel, label = substitute(m.group(1), sub), m.group(2)
            status, doc = prom.api(f"/api/v1/label/{label}/values", **{"match[]": sel})
            got = doc.get("data") or []
            want = raw.get(v["name"], "").strip("()").replace("\\", "").split("|")
            ok = doc.get("status") == "success" and all(w in got for w in want)
            log(f"{'ok  ' if ok else 'FAIL'} {name} variable ${v['name']}: {got[:6]}")
            if not ok:
                failures.append(f"{name}: variable {v['name']} ({sel}): {doc.get('error')} "
                                f"values {got}, want {want}")
        for p in board["panels"]:
            for t in p.get("targets", []):
                expr = substitute(t["expr"], sub)
                status, doc = prom.query(expr)
                result = doc.get("data", {}).get("result", []) if doc.get("status") == \
                    "success" else []
                n += 1
                ok = bool(result)
                log(f"{'ok  ' if ok else 'FAIL'} {name} / {p['title']} [{t['refId']}]: "
                    f"{len(result)} series" + ("" if ok else f" {doc.get('error', '')}"))
                if not ok:
                    failures.append(f"{name}: panel {p['title']!r}: "
                                    f"{doc.get('error') or 'no series'}: {expr}")
    return n


def prom_rules(prom):
    status, doc = prom.api("/api/v1/rules")
    return [r for g in doc.get("data", {}).get("groups", []) for r in g["rules"]]


def check_rules(prom, rules, names, failures):
    for r in rules:
        if r["name"] not in names:
            continue
        status, doc = prom.query(r["query"])
        result = doc.get("data", {}).get("result", []) if doc.get("status") == "success" else []
        ok = bool(result) and r.get("health") in ("ok", "unknown")
        log(f"{'ok  ' if ok else 'FAIL'} rule {r['name']}: {len(result)} series, health "
            f"{r.get('health')} {r.get('lastError', '')}")
        if not ok:
            failures.append(f"rule {r['name']}: {doc.get('error') or 'no series'} "
                            f"(health {r.get('health')} {r.get('lastError', '')})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ksight", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--source", required=True)
    args = ap.parse_args()
    t0 = time.monotonic()
    if os.geteuid() != 0:
        skip_or_fail("needs root (BPF, cgroups, network namespaces)")
    for tool in ("/usr/bin/prometheus", "/usr/sbin/nft", args.ksight, args.work):
        if not os.access(tool, os.X_OK):
            skip_or_fail(tool + " not found (scripts/setup installs prometheus and nftables)")
    if not shutil.which("ip"):
        skip_or_fail("ip (iproute2) not found")
    src = os.path.abspath(args.source)
    tmp = tempfile.mkdtemp(prefix="ksight-dash-")
    cleanups.append(lambda: shutil.rmtree(tmp, ignore_errors=True))
    failures = []

    uid, cid = str(uuid.uuid4()), uuid.uuid4().hex + uuid.uuid4().hex
    joins = setup_cgroups(uid, cid, cleanups)
    if not joins:
        skip_or_fail("no cgroup2 mount")
    pod_procs, mem_procs = joins
    stop_api = threading.Event()
    api = api_server(pod_json(uid, cid), stop_api)
    cleanups.append(lambda: (stop_api.set(), api.shutdown()))
    kubeconfig = os.path.join(tmp, "kubeconfig")
    write(kubeconfig, "apiVersion: v1\nkind: Config\ncurrent-context: t\nclusters:\n- name: f\n"
          "  cluster:\n    server: http://127.0.0.1:%d\ncontexts:\n- name: t\n  context:\n"
          "    cluster: f\n    user: u\nusers:\n- name: u\n  user:\n    token: t\n"
          % api.server_address[1])

    port_a, port_b, port_c, port_p = free_port(), free_port(), free_port(), free_port()
    # A's collector is down. Retries 1 s apart keep its retry counter moving
    # in every scrape, so KsightOtlpExportFailing's rate() is above 0 however
    # late the rules are checked; with the default backoff (1, 2, 4, 8 s...)
    # it could stand still across the check.
    write(os.path.join(tmp, "a.yaml"), "otlp:\n  max_backoff: 1s\n")
    a = start("ksight-a", [args.ksight, "run", "--config", os.path.join(tmp, "a.yaml"),
                           "--listen", "127.0.0.1:%d" % port_a,
                           "--probes", "exec,exit,oomkill,signal,open,runqlat,syscalls,profile,"
                           "tcp,tcpretrans,tcpreset,tcprtt,netdrop",
                           "--kubeconfig", kubeconfig, "--node-name", NODE,
                           "--otlp-endpoint", "http://127.0.0.1:%d" % free_port(),
                           "--otlp-interval", "1s",
                           "--events-file", os.path.join(tmp, "events.json")], tmp)
    write(os.path.join(tmp, "b.yaml"), "channel:\n  size: 4KiB\nevents:\n  rate_limit: 10\n"
          "metrics:\n  max_series_per_metric: 5\n")
    b = start("ksight-b", [args.ksight, "run", "--config", os.path.join(tmp, "b.yaml"),
                           "--listen", "127.0.0.1:%d" % port_b,
                           "--probes", "exec,exit,open,cgroupnet",
                           "--disable-feature", "cgroup_skb"], tmp,
              env=dict(os.environ, KSIGHT_FAULT_INJECT="reader_exit"))
    # C only runs syscalls under a BPF budget no node can keep: the governor
    # detaches it (KsightGovernorShedding) and restores it only after 10m.
    write(os.path.join(tmp, "c.yaml"),
          "budget:\n  bpf_cpu: 0.0000001\n  interval: 500ms\n  restore_after: 10m\n")
    start("ksight-c", [args.ksight, "run", "--config", os.path.join(tmp, "c.yaml"),
                       "--listen", "127.0.0.1:%d" % port_c, "--probes", "syscalls"], tmp)
    url_a = "http://127.0.0.1:%d" % port_a
    if not eventually(lambda: http_get(url_a + "/readyz")[0] == 200, 30) or \
            not eventually(lambda: http_get("http://127.0.0.1:%d/healthz" % port_b)[0] == 200,
                           10):
        log(open(os.path.join(tmp, "ksight-a.log")).read()[-3000:])
        log(open(os.path.join(tmp, "ksight-b.log")).read()[-3000:])
        failures.append("an agent did not start")
        return finish(failures, t0)
    if not eventually(lambda: re.search(r"^ksight_kube_synced\S* 1$",
                                        http_get(url_a + "/metrics")[1], re.M), 30):
        failures.append("agent A never synced with the fake API server")
    log(f"agents up at {time.monotonic() - t0:.1f}s")

    cfg = os.path.join(tmp, "prometheus.yml")
    write(cfg, "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
          f"rule_files: ['{src}/deploy/prometheus/ksight-rules.yaml']\n"
          "scrape_configs:\n  - job_name: ksight\n    static_configs:\n"
          f"      - targets: ['127.0.0.1:{port_a}', '127.0.0.1:{port_b}', "
          f"'127.0.0.1:{port_c}']\n")
    start("prometheus", ["/usr/bin/prometheus", "--config.file=" + cfg,
                         "--storage.tsdb.path=" + os.path.join(tmp, "tsdb"),
                         "--web.listen-address=127.0.0.1:%d" % port_p, "--log.level=warn"], tmp)
    prom = Prom(port_p)
    if not eventually(lambda: len(prom.query('up{job="ksight"} == 1')[1]
                                  .get("data", {}).get("result", [])) == 3, 40):
        failures.append("Prometheus never scraped the three agents")
        log(open(os.path.join(tmp, "prometheus.log")).read()[-3000:])
        return finish(failures, t0)
    log(f"prometheus scraping at {time.monotonic() - t0:.1f}s")

    results = run_work(args, tmp, pod_procs, mem_procs)
    log(f"work done at {time.monotonic() - t0:.1f}s: {results}")
    if results["oom"] != -signal.SIGKILL:
        failures.append(f"the allocation was not OOM-killed: {results['oom']}")
    if results["tcp-send"] != 0:
        failures.append(f"tcp-send failed: {results['tcp-send']}")

    # The pod's numbers in Prometheus mean the last scrapes hold the work. A
    # connection's duration is counted when both FINs are through the loss.
    pod_sel = f'{{namespace="{NS}", pod="{POD}"}}'
    # The RTT histogram too: once, in CI, its panel alone found no series for
    # the pod when the other gates had passed.
    gates = ["ksight_tcp_retransmits_total", "ksight_oom_kills_total", "ksight_tcp_resets_total",
             "ksight_tcp_connection_duration_seconds_count", "ksight_syscall_errors_total",
             "ksight_tcp_rtt_seconds_count"]
    missing = []

    def pod_numbers_in():
        missing[:] = [g for g in gates
                      if not prom.query(g + pod_sel)[1].get("data", {}).get("result")]
        return not missing
    if not eventually(pod_numbers_in, 40):
        failures.append(f"the pod's {missing} never reached Prometheus")
    time.sleep(2)  # a second sample after the last change, for rate()

    values = {"job": "ksight",
              "instance": grafana_regex(["127.0.0.1:%d" % port_a, "127.0.0.1:%d" % port_b]),
              "namespace": NS, "pod": POD}
    n = check_dashboards(prom, src, values, failures)
    log(f"{n} panel queries evaluated at {time.monotonic() - t0:.1f}s")

    rules = prom_rules(prom)
    names = {r["name"] for r in rules}
    with open(os.path.join(src, "deploy", "prometheus", "ksight-rules.yaml")) as f:
        want = {l.split(":", 1)[1].strip() for l in f if l.strip().startswith("- alert:")}
    if names != want:
        failures.append(f"Prometheus loaded rules {sorted(names)}, the file has {sorted(want)}")
    check_rules(prom, rules, want - {"KsightAgentDown"}, failures)
    # Agent B goes away: KsightAgentDown's expression must then select it.
    stop(b)
    eventually(lambda: prom.query('up{job="ksight"} == 0')[1].get("data", {}).get("result"), 20)
    check_rules(prom, prom_rules(prom), {"KsightAgentDown"}, failures)
    return finish(failures, t0)


def finish(failures, t0):
    cleanup_all()
    log(f"{time.monotonic() - t0:.1f}s")
    if failures:
        log(f"{len(failures)} failures:")
        for f in failures:
            log("  " + f)
        return 1
    log("PASS")
    return 0


def cleanup_all(kill=False):
    while procs:
        _, p = procs.pop()
        if kill and p.poll() is None:
            p.kill()
        stop(p)
    while cleanups:
        try:
            cleanups.pop()()
        except Exception as e:  # the rest of the cleanup goes on
            log(f"cleanup: {e}")


if __name__ == "__main__":
    try:
        rc = main()
    finally:
        cleanup_all(kill=True)
    sys.exit(rc)
