"""What a page fault on fresh memory costs a CPU layer, and how well measure's price for one holds.

On a CPU, a kernel writing memory the allocator took fresh from the system faults once per 4 KiB
page (glibc maps large blocks, and gives them back when they are freed). ``profile(measure=True)``
counts each module call's faults and prices them at one probed fault's wall time
(``torchcount.measure.timing.fault_cost_ns``). This script checks that price:

1. **The price**: ``fault_cost_ns`` at 1 and at 2 torch threads (median of 7 probes each).
2. **Layers alone**: three ops written with ``out=`` into (a) a new private anonymous mapping, as a
   freshly mapped block is, and (b) the same memory once it is mapped; (a − b) / faults is what one
   fault cost that op: a GELU over Whisper-tiny's FFN activation (1500×1536), a multiply over a
   ResNet stem activation (8×64×112×112), Whisper-tiny's attention scores (a 6×1500×64 by 6×64×1500
   batched matmul). Median of 7 each.
3. **A whole forward**: Whisper-tiny-shaped (``_common.whisper_tiny_shaped``), each run in a process
   of its own, alternating glibc's defaults with its mappings turned off (``MALLOC_MMAP_MAX_=0``,
   ``MALLOC_TRIM_THRESHOLD_`` at 1 TB: the heap keeps every freed block mapped). Per run: median
   forward time and faults of 12 no-grad forwards after 2, what ``profile(measure=True)`` then
   reports (a timed forward's faults, their priced time), and 6 no-grad forwards after it.

    .venv/bin/python benchmarks/page_faults.py [--runs 2]

Writes benchmarks/results/page_faults.md and page_faults.json. Linux (page-fault counts, glibc).
"""
from __future__ import annotations

import argparse
import json
import mmap
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

from torchcount.measure.timing import fault_cost_ns, page_faults  # noqa: E402

PAGE = 4096
NO_MAPPINGS = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(10 ** 12)}


def fresh_like(t: torch.Tensor) -> tuple[mmap.mmap, torch.Tensor]:
    """A tensor shaped like ``t`` in a new private anonymous mapping: no page mapped yet."""
    memory = mmap.mmap(-1, t.numel() * t.element_size(), flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    return memory, torch.frombuffer(memory, dtype=t.dtype).view(t.shape)


def per_fault_loss(op, inputs: tuple, shape_of: torch.Tensor, repeats: int = 7) -> dict:
    """(time into fresh memory − time into the same memory mapped) / faults, median over repeats."""
    op(*inputs, out=torch.empty_like(shape_of))  # (warm: the op's code path)
    losses, faults, fresh_ms, mapped_ms = [], [], [], []
    for _ in range(repeats):
        memory, out = fresh_like(shape_of)
        before = page_faults()
        start = time.perf_counter_ns()
        op(*inputs, out=out)
        first = time.perf_counter_ns()
        n = page_faults() - before
        op(*inputs, out=out)
        second = time.perf_counter_ns()
        del out
        memory.close()
        losses.append(((first - start) - (second - first)) / n)
        faults.append(n)
        fresh_ms.append((first - start) / 1e6)
        mapped_ms.append((second - first) / 1e6)
    return {"faults": statistics.median(faults), "fresh_ms": statistics.median(fresh_ms),
            "mapped_ms": statistics.median(mapped_ms), "loss_us_per_fault": statistics.median(losses) / 1e3}


def layers_alone(threads: int) -> dict:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    price = statistics.median(fault_cost_ns() for _ in range(7)) / 1e3
    ffn = torch.randn(1500, 1536)
    stem = torch.randn(8, 64, 112, 112)
    q, k = torch.randn(6, 1500, 64), torch.randn(6, 64, 1500)
    ops = {
        "GELU, 1500×1536 (9.2 MB out)": per_fault_loss(torch.ops.aten.gelu.out, (ffn,), ffn),
        "multiply, 8×64×112×112 (25.7 MB out)": per_fault_loss(torch.mul, (stem, 0.5), stem),
        "batched matmul, 6×1500×1500 (54 MB out)": per_fault_loss(torch.bmm, (q, k), torch.empty(6, 1500, 1500)),
    }
    return {"threads": threads, "price_us": price, "ops": ops}


def forward_run() -> dict:
    """In a process of its own (``--forward-run``): Whisper-tiny's forwards, then a measured profile."""
    import torchcount

    model, inputs = C.whisper_tiny_shaped()

    def plain_forwards(n: int) -> tuple[float, float]:
        times, faults = [], []
        with torch.no_grad():
            for _ in range(n):
                before = page_faults()
                start = time.perf_counter()
                model(**inputs)
                times.append(time.perf_counter() - start)
                faults.append(page_faults() - before)
        return statistics.median(times) * 1e3, statistics.median(faults)

    plain_forwards(2)
    forward_ms, faults = plain_forwards(12)
    # (its counting pass runs with autograd on, as the caller has it)
    r = torchcount.profile(model, inputs, measure=True, warmup=1, repeat=5, warn=False)
    after_ms, after_faults = plain_forwards(6)
    x = r.extra
    return {"forward_ms": forward_ms, "faults_per_forward": faults,
            "after_forward_ms": after_ms, "after_faults_per_forward": after_faults,
            "profile_root_ms": x["root_ms"], "profile_page_faults": x["page_faults"],
            "profile_page_faults_range": x["page_faults_range"], "fault_cost_us": x["fault_cost_us"],
            "profile_priced_ms": x["page_faults"] * x["fault_cost_us"] / 1e3}


def whole_forwards(runs: int) -> list[dict]:
    results = []
    for i in range(runs):
        for label, env in (("glibc defaults", {}), ("no mappings (MALLOC_MMAP_MAX_=0)", NO_MAPPINGS)):
            out = subprocess.run([sys.executable, __file__, "--forward-run"], env={**os.environ, **env},
                                 capture_output=True, text=True, check=True)
            got = json.loads(out.stdout.strip().splitlines()[-1])
            got.update({"run": i + 1, "allocator": label})
            print(f"  run {i + 1}, {label}: {got['forward_ms']:.1f} ms, {got['faults_per_forward']:,.0f} faults",
                  flush=True)
            results.append(got)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=2, help="pairs of Whisper-tiny processes (default 2)")
    parser.add_argument("--forward-run", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.forward_run:
        print(json.dumps(forward_run()))
        return
    if page_faults() is None:
        sys.exit("page faults are not counted on this system")
    machine = C.machine()
    alone = [layers_alone(t) for t in (1, 2)]
    forwards = whole_forwards(args.runs)

    from tabulate import tabulate

    lines = ["# Page faults: the price of one, and what they cost a layer and a forward", "",
             C.machine_md(machine), "## Layers alone: wall time lost per fault against the probed price", "",
             "Each op writes its output with `out=` into a new private anonymous mapping (fresh), then again "
             "into the same, now mapped, memory; median of 7.", ""]
    rows = [[a["threads"], name, f"{o['faults']:,.0f}", f"{o['fresh_ms']:.2f}", f"{o['mapped_ms']:.2f}",
             f"{o['loss_us_per_fault']:.2f}", f"{a['price_us']:.2f}",
             f"{a['price_us'] / o['loss_us_per_fault']:.2f}"] for a in alone for name, o in a["ops"].items()]
    lines.append(tabulate(rows, headers=["threads", "op", "faults", "fresh ms", "mapped ms", "lost µs/fault",
                                         "price µs/fault", "price ÷ lost"], tablefmt="github"))
    lines += ["", "## Whisper-tiny-shaped forward, glibc's defaults against no mappings", "",
              "Each row a process of its own: the median of 12 plain forwards after 2 (time, faults, and the "
              "faults at the price the profile then probed), then `profile(measure=True, warmup=1, repeat=5)`: "
              "its timed forwards' faults (median, fewest–most) and their priced time; then 6 plain "
              "forwards more (after). How many faults a forward takes depends on the allocator's history "
              "in the process: the profile's counting pass runs with autograd on, as the caller has it, "
              "and holds more memory at once than a no-grad forward; once that is freed glibc keeps more "
              "mapped.", ""]
    rows = [[f["run"], f["allocator"], f"{f['forward_ms']:.1f}", f"{f['faults_per_forward']:,.0f}",
             f"{f['faults_per_forward'] * f['fault_cost_us'] / 1e3:.1f}", f"{f['profile_root_ms']:.1f}", f"{f['profile_page_faults']:,.0f} "
             f"({f['profile_page_faults_range'][0]:,}–{f['profile_page_faults_range'][1]:,})",
             f"{f['profile_priced_ms']:.1f}", f"{f['after_forward_ms']:.1f}",
             f"{f['after_faults_per_forward']:,.0f}"] for f in forwards]
    lines.append(tabulate(rows, headers=["run", "allocator", "forward ms", "faults/forward", "× price, ms", "profile: forward ms",
                                         "profile: faults (range)", "priced ms", "after: forward ms",
                                         "after: faults"], tablefmt="github"))
    text = "\n".join(lines) + "\n"
    print(text)
    (C.RESULTS / "page_faults.md").write_text(text)
    C.write_json("page_faults.json", {"machine": machine, "layers_alone": alone, "whole_forwards": forwards})


if __name__ == "__main__":
    main()
