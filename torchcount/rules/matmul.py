"""Op rules for contractions run outside a module rule: mm, addmm, bmm, baddbmm, and the
aten convolution ops (what F.linear, torch.matmul, @, F.conv* dispatch to)."""
from __future__ import annotations

import torch

from ..cost import Cost, Term
from ._util import prod, times
from .registry import op_rule

aten = torch.ops.aten


@op_rule(aten.mm, aten.addmm, aten.bmm, aten.baddbmm)
def matmul(op) -> Cost:
    name = op.op.overloadpacket.__name__
    if name in ("addmm", "baddbmm"):
        bias, a, b = op.inputs[:3]
    else:
        (a, b), bias = op.inputs[:2], None
    *batch, m, k = a.shape
    n = b.shape[-1]
    rows = prod(batch) * m
    out = rows * n
    return Cost.of(
        Term("macs", f"multiply-accumulates ({name})", "batch·m·k·n", f"{times([*batch, m, k, n])}", rows * k * n),
        Term("adds", "bias additions", "batch·m·n", f"{out}", out) if bias is not None else None,
    )


@op_rule(aten.convolution, aten._convolution)
def convolution(op) -> Cost:
    x, w = op.inputs[0], op.inputs[1]
    transposed = bool(op.args[6]) if len(op.args) > 6 else False
    out = op.outputs[0]
    has_bias = len(op.inputs) > 2 and op.args[2] is not None
    spatial = len(w.shape) - 2
    if transposed:
        positions = prod(x.shape[-spatial:]) * (x.shape[0] if len(x.shape) == spatial + 2 else 1)
    else:
        positions = prod(out.shape[-spatial:]) * (out.shape[0] if len(out.shape) == spatial + 2 else 1)
    macs = prod(w.shape) * positions
    return Cost.of(
        Term("macs", "multiply-accumulates (convolution)", "∏weight·positions",
             f"{times(w.shape)}×{positions}", macs),
        Term("adds", "bias additions", "outputs", f"{out.numel}", out.numel) if has_bias else None,
    )
