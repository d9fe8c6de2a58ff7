"""Would counting a copy of the model on the meta device beat running the real forward? No.

A count needs only shapes and dtypes, so one idea for the overhead budget (#7) is to count
a meta-device copy of the user's model instead of watching its real forward. This script
measures the pieces, interleaved, each timed right after a plain forward (as in
``overhead.py``):

- the plain forward, and ``profile`` counting only (the default path);
- making the meta copy: ``copy.deepcopy`` with every parameter and buffer pre-mapped to an
  empty meta tensor of its shape and dtype, so no data is copied;
- a plain forward of that copy on a meta input, and ``profile`` of it.

It first checks that the meta copy's count equals the real one in every category.

    .venv/bin/python benchmarks/meta_forward.py [--models mobilenet_v2,resnet50] [--repeats 30]

Writes benchmarks/results/meta_forward.md and meta_forward.json.
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

import torchcount  # noqa: E402


def meta_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A deep copy of ``model`` whose parameters and buffers are empty meta tensors."""
    memo: dict = {}
    for t in [*model.parameters(), *model.buffers()]:
        if id(t) not in memo:
            empty = torch.empty_like(t, device="meta")
            memo[id(t)] = torch.nn.Parameter(empty, t.requires_grad) if isinstance(t, torch.nn.Parameter) else empty
    return copy.deepcopy(model, memo)


def run(name: str, repeats: int) -> dict:
    model, x = C.vision(name)
    shadow, x_meta = meta_copy(model), torch.empty_like(x, device="meta")
    real, on_meta = torchcount.profile(model, x), torchcount.profile(shadow, x_meta)
    if real.total != on_meta.total:
        sys.exit(f"{name}: the meta copy counts {on_meta.total}, the real model {real.total}")
    plain = lambda: model(x)  # noqa: E731
    with torch.no_grad():
        timings = C.interleaved({
            "forward": plain,
            "profile": lambda: torchcount.profile(model, x, warn=False).layers,
            "meta_copy": lambda: meta_copy(model),
            "meta_forward": lambda: shadow(x_meta),
            "meta_profile": lambda: torchcount.profile(shadow, x_meta, warn=False).layers,
        }, repeats, warmup=2, before=plain)
    ms = {k: 1e3 * v["wall_s"] for k, v in timings.items()}
    ms["copy_and_meta_profile"] = ms["meta_copy"] + ms["meta_profile"]
    return {"model": name, "ms": ms, "modules": sum(1 for _ in model.modules())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="mobilenet_v2,resnet50")
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    opts = ap.parse_args()
    torch.set_num_threads(opts.threads)
    machine = C.machine()
    results = [run(name, opts.repeats) for name in opts.models.split(",")]

    from tabulate import tabulate

    rows = []
    for r in results:
        ms = r["ms"]
        rows.append([r["model"], f"{ms['forward']:.1f}", f"{ms['profile']:.1f} (×{ms['profile'] / ms['forward']:.2f})",
                     f"{ms['meta_copy']:.1f}", f"{ms['meta_forward']:.1f}", f"{ms['meta_profile']:.1f}",
                     f"{ms['copy_and_meta_profile']:.1f} (×{ms['copy_and_meta_profile'] / ms['forward']:.2f})"])
    text = "\n".join([
        "# Counting a meta-device copy instead of watching the real forward", "", C.machine_md(machine),
        f"- repeats: {opts.repeats}, interleaved, each right after a plain forward; medians, ms; "
        f"torch threads: {opts.threads}", "",
        "The meta copy's count equals the real model's in every category (checked before timing).", "",
        tabulate(rows, headers=["model", "plain forward", "profile (counting only)", "making the meta copy",
                                "meta forward", "profile of the meta copy", "copy + its profile"],
                 tablefmt="github"), ""])
    print(text)
    (C.RESULTS / "meta_forward.md").write_text(text)
    C.write_json("meta_forward.json", {"machine": machine, "repeats": opts.repeats, "results": results})


if __name__ == "__main__":
    main()
