"""Overhead budget: ``torchcount.profile`` (counting only) against a plain eager forward, on CPU.

For each model: a plain ``model(x)``, ``profile(model, x)`` (capture + count + report, no
measurement; the timed call also reads the report's total and its rows, so nothing is left
for later), and the parts — the capture without op recording (``record_ops=False``) and
the whole capture — and the issue's yardstick, a naive capture (a pre/post hook on every
module, then also a dispatch mode on every op) — all run interleaved, ``--repeats`` times,
under ``torch.no_grad()``, each timed call right after an untimed plain forward; the ratio is
of medians. Nothing is cached between calls: every profile counts from scratch.

Two clocks: wall time, and this thread's CPU time with one torch thread. On a machine that
other processes load, wall time swings by several × between runs; the CPU time of our own
thread is what the budget is about (the same arithmetic plus our Python work) and is much
steadier, so the verdict uses it. Both are recorded.

    .venv/bin/python benchmarks/overhead.py [--repeats 21] [--models resnet50,mobilenet_v2,...]

Writes benchmarks/results/overhead.md and overhead.json.
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

import torchcount  # noqa: E402
from torchcount.capture import capture  # noqa: E402
from torchcount.rules import has_rule  # noqa: E402

BUDGET = {"resnet50": 1.10, "vit_b_16": 1.10, "whisper_tiny": 1.10, "mobilenet_v2": 1.30}
#: the issue's own yardstick, measured on its machine: (hooks alone, hooks + a dispatch mode on every op)
ISSUE_NAIVE = {"resnet50": (1.07, 1.16), "mobilenet_v2": (1.20, 1.63), "vit_b_16": (1.02, 1.07)}


def build(name: str):
    if name == "whisper_tiny":
        return C.whisper_tiny_shaped()
    return C.vision(name)


def run(name: str, repeats: int) -> dict:
    model, inputs = build(name)
    kwargs = inputs if isinstance(inputs, dict) else None
    args = None if isinstance(inputs, dict) else inputs

    def plain():
        C.call(model, inputs)

    def hooks_only():
        with capture(model, has_rule, record_ops=False):
            C.call(model, inputs)

    def hooks_and_ops():
        with capture(model, has_rule, record_ops=True):
            C.call(model, inputs)

    def naive_hooks():
        with C.naive_capture(model, every_op=False):
            C.call(model, inputs)

    def naive():
        with C.naive_capture(model, every_op=True):
            C.call(model, inputs)

    def profile():
        report = torchcount.profile(model, args, kwargs=kwargs, warn=False)
        return report.total.flops, len(report.layers)

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = torchcount.profile(model, args, kwargs=kwargs, warn=False)
        res = C.interleaved({"plain": plain, "hooks": hooks_only, "hooks+ops": hooks_and_ops,
                             "naive hooks": naive_hooks, "naive": naive, "profile": profile}, repeats,
                            before=plain)
    base_c, base_w = res["plain"]["cpu_s"], res["plain"]["wall_s"]
    calls = len(list(model.modules()))
    out = {
        "model": name, "modules": calls, "budget": BUDGET.get(name),
        "coverage": round(report.coverage, 4), "uncounted": sorted({u.what for u in report.uncounted}),
        "plain_cpu_ms": base_c * 1e3, "plain_wall_ms": base_w * 1e3,
    }
    out["issue_naive"] = ISSUE_NAIVE.get(name)
    for k in ("hooks", "hooks+ops", "naive hooks", "naive", "profile"):
        out[f"{k}_cpu_ratio"] = res[k]["cpu_s"] / base_c
        out[f"{k}_wall_ratio"] = res[k]["wall_s"] / base_w
    out["within_budget_cpu"] = out["profile_cpu_ratio"] <= out["budget"] if out["budget"] else None
    out["raw"] = {k: {"wall_s": v["wall_all"], "cpu_s": v["cpu_all"]} for k, v in res.items()}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=21)
    ap.add_argument("--models", default="resnet50,vit_b_16,whisper_tiny,mobilenet_v2")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--note", default="", help="free text recorded with the results (e.g. machine load)")
    opts = ap.parse_args(argv)
    torch.set_num_threads(opts.threads)
    mach = C.machine()
    rows = []
    for name in opts.models.split(","):
        r = run(name, opts.repeats)
        rows.append(r)
        print(f"{name:14s} plain {r['plain_cpu_ms']:8.1f} ms cpu / {r['plain_wall_ms']:8.1f} ms wall | "
              f"profile ×{r['profile_cpu_ratio']:.3f} cpu ×{r['profile_wall_ratio']:.3f} wall | "
              f"hooks ×{r['hooks_cpu_ratio']:.3f} hooks+ops ×{r['hooks+ops_cpu_ratio']:.3f} cpu | "
              f"naive hooks ×{r['naive hooks_cpu_ratio']:.3f} naive ×{r['naive_cpu_ratio']:.3f} | "
              f"budget ×{r['budget']}", flush=True)
    mach["load_average_after"] = C.machine()["load_average_1_5_15"]
    C.write_json("overhead.json", {"machine": mach, "repeats": opts.repeats, "note": opts.note, "results": rows})
    lines = [
        "# Counting overhead: `torchcount.profile` vs a plain eager forward (CPU)", "",
        "Produced by `benchmarks/overhead.py`. Median of interleaved runs under `torch.no_grad()`; "
        "ratio = median(profile) / median(plain forward). `profile` = capture + count + report "
        "(no measurement; the report's total and rows are read inside the timed call). "
        "`capture, no ops` = the per-module recording wrappers only (`record_ops=False`); "
        "`capture` = wrappers plus op recording inside rule-less modules (the capture without "
        "the counting).", "",
        C.machine_md(mach) + f"- load average after the run: {mach['load_average_after']}",
        f"- repeats: {opts.repeats}, torch threads: {opts.threads}", "",
        "**Clock.** CPU time of the benchmark's own thread (one torch thread) is the verdict: the "
        "machine is a 2-core VM on a shared host, which makes wall-clock ratios swing by ±50 % "
        "between identical runs, while our thread's CPU time measures our work. Even so, the same "
        "code measured minutes apart moves by ±15 % on MobileNetV2 (the host's load changes how "
        "fast a forward pass runs and how cold the CPU caches are afterwards); see "
        "docs/performance.md. Wall-clock ratios are given too." + (f" Note: {opts.note}" if opts.note else ""), "",
        "| model | modules | plain forward (CPU ms) | capture, no ops | capture | **profile (CPU)** | profile (wall) "
        "| budget | met | coverage |",
        "|---|---:|---:|---:|---:|---:|---:|---:|:-:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['modules']} | {r['plain_cpu_ms']:.1f} | ×{r['hooks_cpu_ratio']:.3f} | "
            f"×{r['hooks+ops_cpu_ratio']:.3f} | **×{r['profile_cpu_ratio']:.3f}** | ×{r['profile_wall_ratio']:.3f} | "
            f"×{r['budget']} | {'yes' if r['within_budget_cpu'] else 'NO'} | {r['coverage']:.1%} |")
    lines += [
        "", "**The issue's yardstick on this machine.** The issue (#7) measured a naive capture on its "
        "machine: a Python forward pre-hook and forward hook on every module (noting only the module), "
        "then the same plus a dispatch mode that notes every aten op. The same capture is timed here, "
        "interleaved with the runs above, so a ratio can be read against the machine it was taken on.", "",
        "| model | naive hooks, here | naive hooks, issue | naive capture, here | naive capture, issue "
        "| torchcount capture | **torchcount profile** |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        theirs = r["issue_naive"] or ("—", "—")
        fmt = (lambda v: v if isinstance(v, str) else f"×{v:.2f}")
        lines.append(
            f"| {r['model']} | ×{r['naive hooks_cpu_ratio']:.3f} | {fmt(theirs[0])} | ×{r['naive_cpu_ratio']:.3f} | "
            f"{fmt(theirs[1])} | ×{r['hooks+ops_cpu_ratio']:.3f} | **×{r['profile_cpu_ratio']:.3f}** |")
    unc = [f"- {r['model']}: no formula yet for {', '.join(r['uncounted'])}" for r in rows if r["uncounted"]]
    if unc:
        lines += ["", "Coverage gaps at the time of the run (timing is unaffected):", *unc]
    (C.RESULTS / "overhead.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {C.RESULTS / 'overhead.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
