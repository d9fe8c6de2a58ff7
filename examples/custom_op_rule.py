"""Give torchcount the formula of your own op: a ``torch.library.custom_op`` priced by an op rule.

A custom op (a C++/CUDA kernel, a Triton kernel, or Python code behind ``torch.library.custom_op``)
reaches torchcount as one op it has no formula for: it is listed as uncounted, marked † in the table,
and the header's coverage is partial, never a silent 0. ``@torchcount.op_rule(op)`` gives it one. The
rule receives the recorded call (``op.inputs`` and ``op.outputs``: shapes and dtypes as ``TensorMeta``,
whose ``numel`` is a number, not a method; ``op.args``/``op.kwargs``: the call's arguments, tensors
described the same way) and returns a ``Cost`` by category (``macs``, ``mults``, ``adds``, ``divs``,
``cmps``, ``assigns``, ``transc``); the bytes it reads and writes are its operands' unless the rule
says otherwise. A ``register_fake`` (the op's shapes alone) lets the model count on the meta device.

The op here, soft thresholding (a denoiser's shrinkage), y = sign(x)·max(|x| − t, 0), does per element
one comparison with t, one subtraction and one product with the sign: 3 operations, none a MAC.

    Denoise on an 8×64 input: proj, nn.Linear(64, 64), 8·64·64 = 32,768 MACs and 8·64 bias adds;
    soft_threshold on its 8×64 output: 3 · 512 = 1,536 FLOPs
    total, 2 FLOPs per MAC: 2 · 32,768 + 512 + 1,536 = 67,584 FLOPs

Run: ``python examples/custom_op_rule.py`` (torch ≥ 2.4, which has ``torch.library.custom_op``).
"""
from __future__ import annotations

import warnings

import torch
from torch import nn

import torchcount


@torch.library.custom_op("torchcount_example::soft_threshold", mutates_args=())
def soft_threshold(x: torch.Tensor, t: float) -> torch.Tensor:
    return x.sign() * (x.abs() - t).clamp_min(0)


@soft_threshold.register_fake
def _(x, t):  # the output's shape and dtype only: what counting on the meta device runs
    return torch.empty_like(x)


class Denoise(nn.Module):
    def __init__(self, d: int = 64, t: float = 0.1):
        super().__init__()
        self.proj, self.t = nn.Linear(d, d), t

    def forward(self, x):
        return soft_threshold(self.proj(x), self.t)


def soft_threshold_rule(op):
    n = op.outputs[0].numel
    return torchcount.Cost.of(
        torchcount.Term("cmps", "comparisons |x| > t", "n", n, n),
        torchcount.Term("adds", "subtractions |x| − t", "n", n, n),
        torchcount.Term("mults", "products with sign(x)", "n", n, n))


def main() -> None:
    x = torch.randn(8, 64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (the warning says what the report says)
        before = torchcount.profile(Denoise(), x)
    print(f"without a rule: coverage {before.coverage:.0%}, uncounted: "
          + ", ".join(f"{u.what} ×{u.calls} in '{u.path or '(root)'}'" for u in before.uncounted))

    torchcount.op_rule(torch.ops.torchcount_example.soft_threshold.default)(soft_threshold_rule)
    report = torchcount.profile(Denoise(), x)
    n, macs = 8 * 64, 8 * 64 * 64
    print(f"soft_threshold on 8×64: 3 · {n} = {3 * n:,} FLOPs by hand; "
          f"torchcount: {report.total.convention.ops(report.row('').self_cost):,}")
    print(f"by hand: 2 · {macs:,} + {n} + {3 * n:,} = {2 * macs + n + 3 * n:,} FLOPs; "
          f"torchcount: {report.total.flops:,}; coverage {report.coverage:.0%}")
    own = report.row("").self_cost
    print(f"its bytes, its operands' (the rule gives none): read {own.bytes_read:,} = {n} × 4, "
          f"written {own.bytes_written:,}")
    print(report)
    print(report.explain(""))

    with torch.device("meta"):
        on_meta = Denoise()
    meta = torchcount.profile(on_meta, torch.empty(8, 64, device="meta"))
    print(f"on the meta device: {meta.total.flops:,} FLOPs")


if __name__ == "__main__":
    main()
