"""Export speed and the cost of cardinality for `make bench` (issue 16, items 4
and 5). Imported by bench/run.py, which renders section 6 of
docs/performance.md from what measure() returns.

Everything comes from build/bench/ksight_microbench: synthetic series (two
labels, a counter) pushed through the real registry and exporters, no kernel
needed. Times are per scrape or export, snapshot included; memory is the heap
a registry of N series holds (glibc mallinfo2, malloc's overhead included).
"""
import json
import statistics
import subprocess
import time

FILTER = "PrometheusScrape|OtlpExport|Collect|RegistryMemory"
TARGETS = {  # (benchmark, series): target ms, from issue 16
    ("BM_PrometheusScrape", 10000): 10,
    ("BM_PrometheusScrape", 100000): 100,
    ("BM_OtlpExport", 100000): 150,
}


def measure(micro, runs):
    out = subprocess.run(
        [micro, f"--benchmark_filter={FILTER}", "--benchmark_format=json",
         f"--benchmark_repetitions={runs}", "--benchmark_report_aggregates_only=false",
         "--benchmark_min_time=0.3"],
        check=True, capture_output=True, text=True).stdout
    by = {}
    for b in json.loads(out)["benchmarks"]:
        if b.get("run_type") != "iteration":
            continue
        name, _, arg = b["run_name"].partition("/")
        series = int(arg.split("/")[0])
        ms = b["real_time"] * {"ms": 1, "us": 1e-3, "ns": 1e-6, "s": 1e3}[b["time_unit"]]
        r = by.setdefault(name, {}).setdefault(series, {"ms": [], "bytes": None})
        r["ms"].append(ms)
        for k in ("bytes", "bytes_per_series", "snapshot_bytes_per_series"):
            if k in b:
                r[k] = b[k]
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "runs": runs, "results": by}


def _ms(rs):
    m = rs["ms"]
    return f"{statistics.median(m):.3g} ({min(m):.3g}–{max(m):.3g})"


def render(raw):
    exp = raw["export"]
    res = exp["results"]
    cmd = raw.get("export_cmd", f"python3 bench/run.py --only export --runs {exp['runs']}")
    md = ["## 6. Export and cardinality\n",
          f"Measured {exp['date']} with `{cmd}` (median of {exp['runs']} repetitions, min–max in "
          "brackets) by `build/bench/ksight_microbench`: synthetic series with two labels (`comm`, "
          "`cgroup`; ~8 and ~17 characters) in one counter family, through the real registry and "
          "exporters. Every time includes the snapshot (`Registry::collect`, shown alone as "
          "*snapshot*). /metrics is written straight from the snapshot into a buffer reserved from "
          "the last scrape's size; OTLP/JSON is written without a DOM; both are byte-identical to "
          "the encoders they replaced (prometheus-cpp's TextSerializer, an nlohmann DOM), which "
          "the unit tests keep as references and which are timed here as *before*.\n",
          "| series | scrape ms | scrape bytes | scrape + gzip ms | gzip bytes | OTLP ms | OTLP bytes "
          "| snapshot ms | scrape before ms | OTLP before ms |",
          "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    counts = sorted({n for name in res for n in res[name] if name != "BM_RegistryMemory"})

    def cell(name, n, key="ms"):
        r = res.get(name, {}).get(n)
        if not r:
            return ""
        return _ms(r) if key == "ms" else (f"{int(r[key]):,}" if r.get(key) else "")

    for n in counts:
        md.append(f"| {n:,} | {cell('BM_PrometheusScrape', n)} | {cell('BM_PrometheusScrape', n, 'bytes')} "
                  f"| {cell('BM_PrometheusScrapeGzip', n)} | {cell('BM_PrometheusScrapeGzip', n, 'bytes')} "
                  f"| {cell('BM_OtlpExport', n)} | {cell('BM_OtlpExport', n, 'bytes')} "
                  f"| {cell('BM_Collect', n)} | {cell('BM_PrometheusScrapeReference', n)} "
                  f"| {cell('BM_OtlpExportReference', n)} |")
    md.append("\nTargets (issue 16):\n")
    for (name, n), target in TARGETS.items():
        r = res.get(name, {}).get(n)
        if not r:
            md.append(f"- {name} at {n:,} series: not measured")
            continue
        got = statistics.median(r["ms"])
        what = "scrape" if "Scrape" in name else "OTLP export"
        md.append(f"- {what} of {n:,} series ≤ {target} ms: **{'met' if got <= target else 'MISSED'}** "
                  f"({got:.3g} ms{'' if got <= target else f', {got / target:.2f}× the target'})")
    mem = res.get("BM_RegistryMemory", {})
    if mem:
        md.append("\nCost of cardinality: heap held by the registry per series (labels, key, value, hash "
                  "node; malloc's overhead included), the transient copy a snapshot adds while a scrape "
                  "runs, and what a scrape of that many series takes:\n")
        md.append("| series | registry bytes/series | registry MiB | snapshot bytes/series (transient) "
                  "| scrape ms |")
        md.append("| --- | --- | --- | --- | --- |")
        for n in sorted(mem):
            r = mem[n]
            md.append(f"| {n:,} | {r['bytes_per_series']:.0f} | {r['bytes_per_series'] * n / 2**20:.1f} "
                      f"| {r['snapshot_bytes_per_series']:.0f} | {cell('BM_PrometheusScrape', n)} |")
        per = [mem[n]["bytes_per_series"] for n in sorted(mem)]
        snap = [mem[n]["snapshot_bytes_per_series"] for n in sorted(mem)]
        md.append(f"\nOne series costs {min(per):.0f}–{max(per):.0f} bytes in the registry (growing with N "
                  "as the hash table's bucket array and malloc's fragmentation grow), plus "
                  f"{min(snap):.0f}–{max(snap):.0f} bytes while a scrape holds its snapshot. At the default "
                  f"cap of 2000 series per metric that is at most {max(per) * 2000 / 2**20:.1f} MiB per metric.")
    md.append("")
    return md
