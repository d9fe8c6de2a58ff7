"""rules/linalg.py's op rules at sizes where each count can be derived by hand: cases the mutation
round over the file found no test pinned."""
from __future__ import annotations

import torch

from torchcount.cost import OP_CATEGORIES

from conftest import Fn, run


def counts(cost) -> dict:
    return {c: getattr(cost, c) for c in OP_CATEGORIES if getattr(cost, c)}


def ops_of(fn, *xs) -> dict:
    report = run(Fn(fn), *xs)
    assert report.complete, report.uncounted
    return counts(report.total.cost)


def test_householder_product_of_fewer_reflectors_than_columns():
    """Q (5×4) from k = 3 reflectors (tau of 3, not 4): reflectors of l = 5, 4, 3 entries with c = 3,
    2, 1 columns right of them — 2·(5·3 + 4·2 + 3·1) = 52 MACs, Σ(c + l − 1) = 7 + 5 + 3 = 15
    multiplications, 3 additions (1 − τ); the k is tau's length, not A's column count."""
    a, tau = torch.geqrf(torch.randn(5, 4, dtype=torch.float64))
    assert ops_of(lambda x, h: torch.linalg.householder_product(x, h), a, tau[:3].contiguous()) == \
        {"macs": 52, "mults": 15, "adds": 3}
