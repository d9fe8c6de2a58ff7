"""Rules for nn.Linear (and its lazy and non-quantizable variants) and nn.Bilinear."""
from __future__ import annotations

import torch
from torch import nn

from ..cost import Cost, Term, worked
from ._util import prod, stored
from .registry import module_rule


def _in_out_features(m: nn.Linear) -> tuple[int, int]:
    """(n, k) of the k×n weight F.linear multiplies. A weight tied after construction can have
    another shape than ``in_features``/``out_features`` say: Hugging Face ties Marian's lm_head
    (built with vocab_size rows) to its decoder embedding (decoder_vocab_size rows) and leaves
    ``out_features`` as built. A parametrized weight (stored as its original, whose shape may
    differ: weight norm's g and v) keeps the attributes."""
    weight = m._parameters.get("weight")
    if isinstance(weight, torch.Tensor) and weight.dim() == 2 and \
            not isinstance(weight, nn.parameter.UninitializedParameter):
        k, n = weight.shape
        return n, k
    return m.in_features, m.out_features


@module_rule(nn.Linear)
def linear(m: nn.Linear, call) -> Cost:
    n, k = _in_out_features(m)
    rows = prod(call.input.shape[:-1])  # every leading dim is a batch of independent rows
    has_bias = stored(m, "bias") is not None
    return Cost.of(
        Term("params", "parameters", "(n + 1)·k" if has_bias else "n·k",
             worked("({} + 1)×{}" if has_bias else "{}×{}", n, k), (n + has_bias) * k),
        Term("macs", "multiply-accumulates", "rows·n·k", worked("{}×{}×{}", rows, n, k), rows * n * k),
        Term("adds", "bias additions", "rows·k", worked("{}×{}", rows, k), rows * k) if has_bias else None,
    )


@module_rule(nn.Bilinear)
def bilinear(m: nn.Bilinear, call) -> Cost:
    n1, n2, k = m.in1_features, m.in2_features, m.out_features
    rows = prod(call.input.shape[:-1])
    has_bias = stored(m, "bias") is not None
    return Cost.of(
        Term("params", "parameters", "n1·n2·k + k" if has_bias else "n1·n2·k",
             worked("{}×{}×{} + {}" if has_bias else "{}×{}×{}", n1, n2, k, k), n1 * n2 * k + k * has_bias),
        bilinear_macs(rows, n1, n2, k),
        Term("adds", "bias additions", "rows·k", worked("{}×{}", rows, k), rows * k) if has_bias else None,
    )


def bilinear_macs(rows: int, n1: int, n2: int, k: int) -> Term:
    """y_k = x1ᵀ·A_k·x2: t = x1ᵀ·A_k is n1·n2 MACs, then t·x2 is n2 more, per output feature
    (also ``F.bilinear``'s op, ``aten._trilinear``: rules/matmul.py)."""
    return Term("macs", "multiply-accumulates", "rows·k·(n1 + 1)·n2", worked("{}×{}×({} + 1)×{}", rows, k, n1, n2),
                rows * k * (n1 + 1) * n2)
