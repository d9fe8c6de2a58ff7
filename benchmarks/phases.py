"""Where ``profile``'s extra time goes, phase by phase (counting only, CPU).

``profile`` is re-run here as the same sequence of its context managers and calls, with a
CPU-time stamp between phases; counting is split by timing the three functions
``count.summarize`` calls (the parameter walk, pricing, chains). Each stamped profile runs
right after a plain forward, as in ``overhead.py`` (cold caches: see docs/performance.md).
Before timing, the stamped copy's answer is checked against ``torchcount.profile``'s, so a
change to ``profile`` that this copy misses stops the script instead of timing something else.

    .venv/bin/python benchmarks/phases.py [--models mobilenet_v2,resnet50] [--n 80]

Writes benchmarks/results/phases.md and phases.json.
"""
from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

import torchcount  # noqa: E402
import torchcount.count as count  # noqa: E402
from torchcount.capture import capture, gc_paused  # noqa: E402
from torchcount.conventions import get_convention  # noqa: E402
from torchcount.rules import has_rule  # noqa: E402
from torchcount.state import preserved  # noqa: E402

profile_module = importlib.import_module("torchcount.profile")  # the module, not the function

PHASES = [
    ("copy", "copying the input"),
    ("named_modules", "`named_modules` (one walk of the module tree, shared by every stage)"),
    ("guard", "the one-profile-at-a-time guard"),
    ("snapshot", "snapshot: training flags, parameter versions, buffer copies"),
    ("install", "installing the recording wrappers"),
    ("recording", "recording during the forward (its time minus the median plain forward)"),
    ("remove", "removing the wrappers"),
    ("restore", "restoring flags and buffers, checking parameter versions"),
    ("guard_exit", "releasing the guard"),
    ("walk", "counting: the parameter and buffer walk"),
    ("pricing", "counting: pricing every call (rules, op rules)"),
    ("chains", "counting: sequential chains"),
    ("rows", "counting: grouping, rows, totals, notes"),
    ("gc_read", "the garbage collector's deferred pass, reading the total and rows"),
]


class _Stamps:
    """``count``'s three inner stages, wrapped to time themselves (looked up by name at call time)."""

    def __init__(self):
        self.spent: dict[str, int] = {}
        self.originals = {}

    def wrap(self, attr: str, phase: str):
        original = self.originals[attr] = getattr(count, attr)
        clock, spent = time.thread_time_ns, self.spent

        def timed(*args, **kwargs):
            start = clock()
            try:
                return original(*args, **kwargs)
            finally:
                spent[phase] = clock() - start
        setattr(count, attr, timed)

    def __enter__(self):
        self.wrap("_walk_tensors", "walk")
        self.wrap("price_trace", "pricing")
        self.wrap("sequential_chains", "chains")
        return self

    def __exit__(self, *exc):
        for attr, original in self.originals.items():
            setattr(count, attr, original)


def stamped_profile(model, inputs, stamps: _Stamps) -> tuple[dict, tuple]:
    """``torchcount.profile(model, inputs)`` for a plain eager module, with a stamp per phase.
    Returns (ns per phase, (total flops, layer count), module calls recorded)."""
    clock = time.thread_time_ns
    marks = [clock()]
    args, kw = profile_module._protect_inputs(*profile_module.as_call(inputs))
    marks.append(clock())
    named = list(model.named_modules())
    marks.append(clock())
    with gc_paused():
        with profile_module._exclusive(model, named):
            marks.append(clock())
            with preserved(model, modules=named):
                marks.append(clock())
                with profile_module._transformer_layers_unfused(model, named), \
                        capture(model, has_rule, modules=named) as recorder:
                    marks.append(clock())
                    model(*args, **kw)
                    marks.append(clock())
                marks.append(clock())
            marks.append(clock())
        marks.append(clock())
        report = count.summarize(model, recorder.trace, get_convention("flops"), None, modules=named)
        marks.append(clock())
    answer = (report.total.flops, len(report.layers))
    marks.append(clock())
    spans = [b - a for a, b in zip(marks, marks[1:])]
    names = ["copy", "named_modules", "guard", "snapshot", "install", "forward", "remove", "restore",
             "guard_exit", "count", "gc_read"]
    out = dict(zip(names, spans))
    counting = out.pop("count")
    out.update(stamps.spent)
    out["rows"] = counting - stamps.spent["walk"] - stamps.spent["pricing"] - stamps.spent["chains"]
    return out, answer, len(recorder.trace.calls)


def run(name: str, n: int) -> dict:
    model, inputs = C.whisper_tiny_shaped() if name == "whisper_tiny" else C.vision(name)
    clock = time.thread_time_ns
    plain, samples = [], []
    with torch.no_grad(), warnings.catch_warnings(), _Stamps() as stamps:
        warnings.simplefilter("ignore")
        real = torchcount.profile(model, inputs, warn=False)
        _, answer, calls = stamped_profile(model, inputs, stamps)
        if answer != (real.total.flops, len(real.layers)):
            raise SystemExit(f"{name}: the stamped copy counts {answer}, profile() {real.total.flops, len(real.layers)}:"
                             " update stamped_profile to follow torchcount.profile")
        for _ in range(3):
            C.call(model, inputs)
            stamped_profile(model, inputs, stamps)
        for _ in range(n):
            start = clock()
            C.call(model, inputs)
            plain.append(clock() - start)
            samples.append(stamped_profile(model, inputs, stamps)[0])
    plain_ms = statistics.median(plain) / 1e6
    ms = {key: statistics.median(s[key] for s in samples) / 1e6 for key in samples[0]}
    ms["recording"] = ms.pop("forward") - plain_ms
    extra = sum(ms.values())
    return {"model": name, "profiles": n, "modules": len(list(model.modules())), "calls": calls,
            "plain_ms": plain_ms, "phases_ms": ms, "extra_ms": extra,
            "ratio": (plain_ms + extra) / plain_ms}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="mobilenet_v2,resnet50")
    ap.add_argument("--n", type=int, default=80, help="stamped profiles per model")
    ap.add_argument("--threads", type=int, default=1)
    opts = ap.parse_args(argv)
    torch.set_num_threads(opts.threads)
    mach = C.machine()
    results = []
    for name in opts.models.split(","):
        r = run(name, opts.n)
        results.append(r)
        print(f"{name}: plain forward {r['plain_ms']:.2f} ms, extra {r['extra_ms']:.2f} ms "
              f"(sum of phase medians), ×{r['ratio']:.3f}", flush=True)
        for key, _ in PHASES:
            print(f"  {key:14s} {r['phases_ms'][key]:7.3f} ms")
    C.write_json("phases.json", {"machine": mach, "threads": opts.threads, "results": results})
    lines = [
        "# Where `profile`'s extra time goes, phase by phase (CPU, counting only)", "",
        "Produced by `benchmarks/phases.py`: `profile` re-run as the same sequence of steps with a CPU-time "
        "stamp between phases (its answer checked against `torchcount.profile`'s first), each right after "
        "a plain forward; medians over the profiles. The sum of medians is close to, not equal to, the "
        "median extra time that `overhead.py` measures.", "",
        C.machine_md(mach) + f"- threads: {opts.threads}", "",
        "| phase | " + " | ".join(r["model"] for r in results) + " |",
        "|---|" + "---:|" * len(results),
        "| plain forward | " + " | ".join(f"{r['plain_ms']:.2f} ms" for r in results) + " |",
    ]
    for key, label in PHASES:
        lines.append(f"| {label} | " + " | ".join(f"{r['phases_ms'][key]:.3f}" for r in results) + " |")
    lines.append("| **extra time (sum)** | " + " | ".join(f"**{r['extra_ms']:.2f} ms**" for r in results) + " |")
    lines.append("| ratio (plain + extra) / plain | " + " | ".join(f"×{r['ratio']:.3f}" for r in results) + " |")
    lines.append("| modules / calls / profiles | " + " | ".join(
        f"{r['modules']} / {r['calls']} / {r['profiles']}" for r in results) + " |")
    (C.RESULTS / "phases.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {C.RESULTS / 'phases.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
