"""Bursts from inside the kernel (issue 16, item 3), for `make bench`.

build/bench/ksight_burst starts the real agent (open probe, the real ring,
reader, dispatcher and a sink), and a bench-only BPF program
(bench/burst.bpf.c) run by BPF_PROG_TEST_RUN writes open records through the
probes' own emit path into that ring, paced in 1 ms ticks. measure() runs it
for each case and returns the raw results; render() writes section 8 of
docs/performance.md.
"""
import json
import statistics
import subprocess

HEADING = "## 8. Bursts from inside the kernel"
# Ring-buffer records are 8-byte aligned behind an 8-byte header.
RINGBUF_HDR = 8
MIB = 1 << 20

# (records/s, milliseconds, ring bytes, generator threads)
CASES = [
    (2_000_000, 100, 8 * MIB, 1),
    (2_000_000, 100, 8 * MIB, 2),
    (5_000_000, 10, 8 * MIB, 1),
    (5_000_000, 10, 8 * MIB, 2),
    (5_000_000, 10, 32 * MIB, 2),
    (2_000_000, 100, 32 * MIB, 2),
]


def run_once(binary, rate, ms, ring, threads):
    out = subprocess.run([binary, str(rate), str(ms), str(ring), str(threads)],
                         check=True, capture_output=True, text=True, timeout=60)
    return json.loads(out.stdout)


def measure(binary, runs):
    return {"runs": runs,
            "cases": [{"rate": r, "ms": ms, "ring": ring, "threads": t,
                       "results": [run_once(binary, r, ms, ring, t) for _ in range(runs)]}
                      for r, ms, ring, t in CASES]}


def _lost(res):
    return sum(res["lost"].values())


def _med(values):
    values = list(values)
    return statistics.median(values), min(values), max(values)


def _fmt(triple, spec="{:,.0f}"):
    m, lo, hi = triple
    if lo == hi:
        return spec.format(m)
    return f"{spec.format(m)} ({spec.format(lo)}–{spec.format(hi)})"


def record_bytes_in_ring(res):
    return (res["record_bytes"] + RINGBUF_HDR + 7) // 8 * 8


def render(raw):
    b = raw["burst"]
    md = [HEADING + "\n",
          f"Measured {raw.get('burst_date', '')} with `{raw.get('burst_cmd', 'make bench')}` "
          f"({b['runs']} runs per case, median (min–max)).\n",
          "`build/bench/ksight_burst RATE MS RING_BYTES THREADS` runs the real agent (`open` probe, "
          "filtered to its own process) and a bench-only BPF program, `bench/burst.bpf.c`: a "
          "`SEC(\"syscall\")` program run by `BPF_PROG_TEST_RUN` whose `bpf_loop` writes open records "
          "through the probes' own emit path (`ksight__reserve`/`ksight__submit`: drop counter, "
          "wake-up threshold) into the agent's ring (`bpf_map__reuse_fd` on `Agent::channel_map_fd()`). "
          "Every 1 ms tick each generator thread writes what the rate owes since the start, so a late "
          "tick is made up by the next; *offered/s* is what that achieved. *Delivered* counts records "
          "that reached the agent's event sink (after reader, batch queue, dispatcher and decode); "
          "*lost* is the generator's `buffer_full` drop counter (ring full at reserve) plus the agent's "
          "own loss counters (`queue_full`, `malformed`, ...). *Generator CPU* is the generating "
          "threads' CPU (the BPF program runs inside their test-run syscalls); *agent CPU* the rest of "
          "the process (reader, dispatcher).\n",
          "| target | ring | generator threads | offered | offered/s | delivered | lost | loss | "
          "generator CPU s | agent CPU s |",
          "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    verdicts = {}
    for case in b["cases"]:
        rs = case["results"]
        loss_pct = _med(_lost(r) / r["offered"] * 100 if r["offered"] else 0 for r in rs)
        reasons = {}
        for r in rs:
            for k, v in r["lost"].items():
                if v:
                    reasons[k] = reasons.get(k, 0) + v
        why = (" (" + ", ".join(f"{k}" for k in sorted(reasons)) + ")") if reasons else ""
        md.append(
            f"| {case['rate'] / 1e6:g} M/s × {case['ms']} ms | {case['ring'] // MIB} MiB | "
            f"{case['threads']} | {_fmt(_med(r['offered'] for r in rs))} | "
            f"{_fmt(_med(r['offered_rate'] for r in rs))} | {_fmt(_med(r['delivered'] for r in rs))} | "
            f"{_fmt(_med(_lost(r) for r in rs))}{why} | {_fmt(loss_pct, '{:.3f}%')} | "
            f"{_fmt(_med(r['generator_cpu'] for r in rs), '{:.3f}')} | "
            f"{_fmt(_med(r['agent_cpu'] for r in rs), '{:.3f}')} |")
        verdicts.setdefault((case["rate"], case["ms"]), []).append((case, loss_pct))

    sample = b["cases"][0]["results"][0]
    per_rec = record_bytes_in_ring(sample)
    md.append("")
    md.append(f"An open record is {sample['record_bytes']} bytes, {per_rec} in the ring with its header "
              f"and alignment. Without any drain during the burst, 2 M/s × 100 ms (200 000 records) needs "
              f"{200_000 * per_rec / MIB:.0f} MiB of ring and 5 M/s × 10 ms (50 000 records) "
              f"{50_000 * per_rec / MIB:.1f} MiB; the default 8 MiB ring holds {8 * MIB // per_rec:,} "
              "records, so the rest must be drained while the burst runs.\n")

    for (rate, ms), cases in verdicts.items():
        offered_ok = [(c, l) for c, l in cases
                      if statistics.median(r["offered_rate"] for r in c["results"]) >= rate]
        best = min(cases, key=lambda cl: cl[1][0])
        best_rate = statistics.median(r["offered_rate"] for r in best[0]["results"])
        target = f"{rate / 1e6:g} M/s × {ms} ms"
        if rate == 2_000_000 and ms == 100:
            met = any(l[0] < 0.01 for _, l in offered_ok)
            md.append(f"- **{target}, target < 0.01% loss: {'met' if met else 'NOT met'}.** "
                      + ("" if met else
                         f"Lowest loss {best[1][0]:.3f}% at {best_rate:,.0f} offered/s "
                         f"({best[0]['threads']} generator thread(s), {best[0]['ring'] // MIB} MiB ring)."))
        else:
            md.append(f"- **{target}**: offered at the target rate in "
                      f"{len(offered_ok)} of {len(cases)} configurations; lowest loss {best[1][0]:.3f}% "
                      f"at {best_rate:,.0f} offered/s ({best[0]['threads']} thread(s), "
                      f"{best[0]['ring'] // MIB} MiB ring).")
    md.append("")
    return md


def splice(path, heading, lines):
    """Writes `lines` as the section under `heading` of the markdown file at
    `path`, replacing that section (up to the next `## ` heading) or, when the
    file has none yet, appending it."""
    with open(path) as f:
        text = f.read()
    body = "\n".join(lines).rstrip("\n") + "\n"
    at = text.find(heading)
    if at < 0:
        text = text.rstrip("\n") + "\n\n" + body
    else:
        nxt = text.find("\n## ", at + len(heading))
        text = text[:at] + body + ("\n" + text[nxt + 1:] if nxt >= 0 else "")
    with open(path, "w") as f:
        f.write(text)
