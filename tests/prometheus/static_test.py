#!/usr/bin/env python3
"""Quick checks of deploy/grafana and deploy/prometheus that need no agent:
promtool check rules, promtool test rules (every alert firing and not), the
dashboards equal to what scripts/gen-dashboards writes, and the dashboards'
structure Grafana relies on (schema version, variables, data sources, ids).

  static_test.py SOURCE_DIR          exit 0 pass, 1 fail, 77 skip (no promtool)
"""
import json
import os
import shutil
import subprocess
import sys

SKIP = 77


def main():
    src = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
    failures = []

    def fail(msg):
        failures.append(msg)
        print("FAIL: " + msg)

    promtool = shutil.which("promtool")
    if not promtool:
        msg = "promtool not found (Debian package prometheus; scripts/setup installs it)"
        if os.environ.get("KSIGHT_REQUIRE_BPF") == "1":
            print("FAIL: " + msg)
            return 1
        print("SKIP: " + msg)
        return SKIP

    rules_dir = os.path.join(src, "deploy", "prometheus")
    for argv in ([promtool, "check", "rules", "ksight-rules.yaml"],
                 [promtool, "test", "rules", "ksight-rules.test.yaml"]):
        r = subprocess.run(argv, cwd=rules_dir, capture_output=True, text=True, timeout=60)
        print(" ".join(argv[1:]) + ": " + (r.stdout + r.stderr).strip().replace("\n", " | "))
        if r.returncode != 0:
            fail(" ".join(argv[1:]) + " exited " + str(r.returncode))

    # Every alert of the rules file is exercised by the unit tests, firing
    # (exp_alerts with an entry) and not firing (an empty exp_alerts).
    with open(os.path.join(rules_dir, "ksight-rules.yaml")) as f:
        alerts = [l.split(":", 1)[1].strip() for l in f if l.strip().startswith("- alert:")]
    with open(os.path.join(rules_dir, "ksight-rules.test.yaml")) as f:
        lines = f.read().splitlines()
    fired, quiet = set(), set()
    for i, l in enumerate(lines):
        if l.strip().startswith("alertname:"):
            name = l.split(":", 1)[1].strip()
            nxt = lines[i + 1].strip()
            (quiet if nxt == "exp_alerts: []" else fired).add(name)
    print(f"{len(alerts)} alerts; tested firing: {len(fired)}, not firing: {len(quiet)}")
    for a in alerts:
        if a not in fired:
            fail(f"alert {a} is never tested firing")
        if a not in quiet:
            fail(f"alert {a} is never tested not firing")

    r = subprocess.run([sys.executable, os.path.join(src, "scripts", "gen-dashboards"),
                        "--check"], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        fail("deploy/grafana differs from scripts/gen-dashboards: " + r.stderr.strip())

    gdir = os.path.join(src, "deploy", "grafana")
    boards = sorted(f for f in os.listdir(gdir) if f.endswith(".json"))
    if len(boards) != 3:
        fail(f"expected 3 dashboards, found {boards}")
    titles = set()
    for name in boards:
        with open(os.path.join(gdir, name)) as f:
            d = json.load(f)
        where = name
        if not 36 <= d.get("schemaVersion", 0) <= 41:
            fail(f"{where}: schemaVersion {d.get('schemaVersion')}")
        var = {v["name"]: v for v in d["templating"]["list"]}
        if var.get("datasource", {}).get("type") != "datasource" or \
                var["datasource"].get("query") != "prometheus":
            fail(f"{where}: no datasource variable of type prometheus")
        if "instance" not in var or var["instance"].get("type") != "query":
            fail(f"{where}: no instance (node) variable")
        if name == "ksight-workload.json":
            for v in ("namespace", "pod"):
                if v not in var:
                    fail(f"{where}: no {v} variable")
        ids = [p["id"] for p in d["panels"]]
        if len(ids) != len(set(ids)):
            fail(f"{where}: duplicate panel ids")
        for p in d["panels"]:
            titles.add(p["title"])
            if p["type"] == "row":
                continue
            if p.get("datasource", {}).get("uid") != "${datasource}":
                fail(f"{where}: panel {p['title']!r} does not use $datasource")
            if not p.get("targets"):
                fail(f"{where}: panel {p['title']!r} has no query")
            for t in p["targets"]:
                if not t.get("expr") or t.get("datasource", {}).get("uid") != "${datasource}":
                    fail(f"{where}: panel {p['title']!r}: target without expr or datasource")
                if 'instance=~"$instance"' not in t["expr"]:
                    fail(f"{where}: panel {p['title']!r}: query ignores the node variable")
        print(f"{name}: {len(ids)} panels, variables {sorted(var)}")
    if "TCP retransmits by namespace" not in titles:
        fail("no 'TCP retransmits by namespace' panel")

    if failures:
        print(f"{len(failures)} failures")
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
