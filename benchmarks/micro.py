"""Micro-benchmark of torchcount's own costs, to explain the overhead budget.

- per recorded module call: a chain of N ``nn.ReLU`` on a 1-element tensor (the forward does
  next to nothing, so the difference is the recording wrapper + one ``Call``), plain vs
  captured; installing and removing the wrappers alone; and, for reference, two *empty*
  ``register_forward_(pre_)hook`` hooks per module (PyTorch's own price for hooks at all);
- per op-recording transition: the same chain inside containers with no rule whose children
  each switch op recording off and on again (what a rule-less block costs);
- per recorded op: N ``torch.add`` on a 1-element tensor run by a module with no rule
  (every op passes through the ``TorchDispatchMode``);
- per counted call: ``count.summarize`` on the captured trace, divided by the calls;
- the same for MobileNetV2's trace twice: warm (summarize run again and again), and right
  after a forward pass of the model (as in ``profile``: the convolutions have evicted
  torchcount's code and data from the CPU caches).

CPU time of this thread, one torch thread, median of interleaved repeats.

    .venv/bin/python benchmarks/micro.py [--n 2000] [--repeats 7]

Writes benchmarks/results/micro.md and micro.json.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

from torchcount.capture import capture  # noqa: E402
from torchcount.conventions import get_convention  # noqa: E402
from torchcount.count import summarize  # noqa: E402
from torchcount.rules import has_rule  # noqa: E402


class Adds(nn.Module):
    """Runs ``n`` element-wise additions itself (no rule: its ops are recorded)."""

    def __init__(self, n: int):
        super().__init__()
        self.n = n

    def forward(self, x):
        for _ in range(self.n):
            x = x + 1.0
        return x


class Block(nn.Module):
    """A rule-less container around one ReLU: op recording goes off and on around the child."""

    def __init__(self):
        super().__init__()
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(x)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=7)
    opts = ap.parse_args(argv)
    torch.set_num_threads(1)
    n = opts.n
    x = torch.ones(1)
    chain = nn.Sequential(*[nn.ReLU() for _ in range(n)])
    blocks = nn.Sequential(*[Block() for _ in range(n)])
    adds = Adds(n)

    def empty_hooks(model):
        hs = []
        for m in model.modules():
            hs.append(m.register_forward_pre_hook(lambda *a: None, with_kwargs=True))
            hs.append(m.register_forward_hook(lambda *a: None, with_kwargs=True, always_call=True))
        return hs

    traces = {}

    def hooked(model, record_ops, key):
        def fn():
            with capture(model, has_rule, record_ops=record_ops) as rec:
                model(x)
            traces[key] = rec.trace
        return fn

    def install_only(model):
        def fn():
            with capture(model, has_rule):
                pass
        return fn

    def with_empty(model):
        def fn():
            hs = empty_hooks(model)
            try:
                model(x)
            finally:
                for h in hs:
                    h.remove()
        return fn

    with torch.no_grad():
        res = C.interleaved({
            "chain plain": lambda: chain(x),
            "chain empty hooks": with_empty(chain),
            "chain hooked": hooked(chain, True, "chain"),
            "chain install only": install_only(chain),
            "blocks plain": lambda: blocks(x),
            "blocks hooked": hooked(blocks, True, "blocks"),
            "adds plain": lambda: adds(x),
            "adds hooked": hooked(adds, True, "adds"),
        }, opts.repeats)
        conv = get_convention("flops")
        count_res = C.interleaved({
            "summarize chain": lambda: summarize(chain, traces["chain"], conv),
            "summarize blocks": lambda: summarize(blocks, traces["blocks"], conv),
        }, opts.repeats)
        mobilenet, image = C.vision("mobilenet_v2")
        with capture(mobilenet, has_rule) as rec:
            mobilenet(image)
        mobilenet_calls = len(rec.trace.calls)

        def after_forward() -> float:
            """CPU seconds of summarize run right after a forward pass (its caches evicted)."""
            mobilenet(image)
            return C.timed(lambda: summarize(mobilenet, rec.trace, conv))[1]

        warm = C.interleaved({"summarize mobilenet warm": lambda: summarize(mobilenet, rec.trace, conv)},
                             opts.repeats)
        cold = sorted(after_forward() for _ in range(opts.repeats))[opts.repeats // 2]

    us = lambda a, b, per: (res[a]["cpu_s"] - res[b]["cpu_s"]) / per * 1e6  # noqa: E731
    figures = {
        "two empty per-module hooks (torch's price, incl. registering/removing them), per call (µs)": us("chain empty hooks", "chain plain", n + 1),
        "torchcount capture, per module call, all in (wrapper, Call, installing and removing it) (µs)": us("chain hooked", "chain plain", n + 1),
        "of which installing and removing the recording wrapper, per module (µs)": res["chain install only"]["cpu_s"] / (n + 1) * 1e6,
        "rule-less container call incl. 2 op-recording switches (µs)":
            (res["blocks hooked"]["cpu_s"] - res["blocks plain"]["cpu_s"]) / n * 1e6 - us("chain hooked", "chain plain", n + 1),
        "recorded op, over a plain op (µs)": us("adds hooked", "adds plain", n),
        "plain 1-element add (µs)": res["adds plain"]["cpu_s"] / n * 1e6,
        "plain 1-element ReLU module call (µs)": res["chain plain"]["cpu_s"] / n * 1e6,
        "summarize, per module call of a chain (µs)": count_res["summarize chain"]["cpu_s"] / (n + 1) * 1e6,
        "summarize, per module call of rule-less blocks (µs)": count_res["summarize blocks"]["cpu_s"] / (2 * n + 1) * 1e6,
        "summarize, per module call of MobileNetV2, warm (µs)":
            warm["summarize mobilenet warm"]["cpu_s"] / mobilenet_calls * 1e6,
        "summarize, per module call of MobileNetV2, right after its forward (µs)": cold / mobilenet_calls * 1e6,
    }
    mach = C.machine()
    C.write_json("micro.json", {"machine": mach, "n": n, "repeats": opts.repeats, "figures_us": figures,
                                "raw_cpu_s": {k: v["cpu_s"] for k, v in {**res, **count_res, **warm}.items()}})
    lines = ["# Micro-benchmark: what one recorded module call and one recorded op cost", "",
             "Produced by `benchmarks/micro.py` (CPU time of the benchmark thread, 1 torch thread, "
             f"median of {opts.repeats} interleaved repeats, N = {n}).", "", C.machine_md(mach),
             "The machine is shared with other processes during this run; CPU time of our own "
             "thread is used because wall time is disturbed by them.", "",
             "| what | µs |", "|---|---:|"]
    for k, v in figures.items():
        lines.append(f"| {k} | {v:.2f} |")
        print(f"{k:70s} {v:8.2f}")
    (C.RESULTS / "micro.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
