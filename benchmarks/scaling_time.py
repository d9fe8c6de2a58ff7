"""Measured time vs sequence length next to the counted compute, for the lecture's five models.

Run: python benchmarks/scaling_time.py [--sizes 32 64 128 256 512] [--repeat 10]
Uses the models of examples/scaling.py, profiles each with measure=True at every size and prints
the fitted exponents of MACs, sequential steps and measured CPU time. Writes
benchmarks/results/scaling_time.{md,json} and scaling_time.png (time vs T, log-log).
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import torch
from tabulate import tabulate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine, machine_md, write_json  # noqa: E402

import torchcount  # noqa: E402


def example_models():
    path = Path(__file__).resolve().parents[1] / "examples" / "scaling.py"
    spec = importlib.util.spec_from_file_location("examples_scaling", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.models()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 128, 256, 512])
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads (default 1: on a loaded machine a parallel region waits "
                         "for descheduled worker threads, adding ~10-30 ms stalls to sub-ms ops)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    m = machine()
    rows, payload, results = [], [], {}
    for name, model, make in example_models():
        sizes = [s for s in args.sizes if "2-D" not in name or s <= 256]  # T×T images grow as T²
        res = torchcount.scaling(model, make, sizes, measure=True, repeat=args.repeat, warmup=3, name=name)
        results[name] = res
        t = res.get(None, "time_ms")
        rows.append([name, res.fit(None, "macs").text(), res.fit(None, "steps").text(), t.fit.text(),
                     f"{t.fit.r2:.3f}", ", ".join(f"{v:.3g}" for v in t.values)])
        payload.append({"model": name, "sizes": sizes, "macs": res.get(None, "macs").values,
                        "steps": res.get(None, "steps").values, "time_ms": t.values,
                        "macs_exponent": res.exponent(None, "macs"), "steps_exponent": res.exponent(None, "steps"),
                        "time_exponent": t.fit.exponent, "time_r2": t.fit.r2})
    headers = ["model", "MACs", "sequential steps", "measured time", "time fit R²", "time ms per size"]
    table = tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)
    print(table)
    note = ("The machine is shared with other processes during this run (see the load average): measured "
            "times, and their exponents, are disturbed by that load. At small T the time is dominated by "
            "per-call overhead that does not grow with T, so time exponents fall below the compute "
            "exponents; they approach them only where the arithmetic dominates. With 2 torch threads on this "
            "loaded 2-core machine a single nn.Linear(32, 64) on 1×32×32 took ~24 ms (a parallel region "
            "waiting for a descheduled worker) against 6 µs with 1 thread, hence 1 thread here.")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scaling_time.md").write_text(
        "# Measured time vs sequence length, next to counted compute\n\n"
        f"Produced by `benchmarks/scaling_time.py` (CPU, forward pass, median of {args.repeat} timed passes "
        f"after 3 warm-up, sizes {args.sizes}; 2-D CNN up to 256; {args.threads} torch thread(s)).\n\n{machine_md(m)}\n{note}\n\n{table}\n")
    write_json("scaling_time.json", {"machine": m, "repeat": args.repeat, "results": payload, "note": note})
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return results
    fig = Figure(figsize=(7, 5))
    ax = fig.add_subplot(1, 1, 1)
    for name, res in results.items():
        s = res.get(None, "time_ms")
        line = ax.plot(res.sizes, s.values, "o", label=f"{name}: slope {s.fit.exponent:.2f}")[0]
        lo, hi = res.sizes[0], res.sizes[-1]
        xs = [lo * (hi / lo) ** (i / 20) for i in range(21)]
        ax.plot(xs, [s.fit.coefficient * x ** s.fit.exponent for x in xs], "-", color=line.get_color())
    ax.set_xscale("log")
    ax.set_yscale("log")
    from matplotlib.ticker import NullFormatter

    ax.set_xticks(args.sizes)
    ax.set_xticklabels([str(v) for v in args.sizes])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("sequence length T")
    ax.set_ylabel("measured forward time (ms)")
    ax.set_title(f"measured time vs T ({m['cpu']}, shared machine)", fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    fig.savefig(RESULTS / "scaling_time.png", dpi=110, bbox_inches="tight")
    return results


if __name__ == "__main__":
    main()
