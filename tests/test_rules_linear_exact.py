"""rules/linear.py's rules at sizes where each count can be derived by hand: cases the mutation round
over the file found no test pinned."""
from __future__ import annotations

import torch
from torch import nn

from conftest import Hidden, nonzero_counts, run


def test_linear_with_a_one_dimensional_weight_counts_one_output_per_row():
    """F.linear takes a 1-D weight (in_features,) without a bias: y = x·w, one output per row, so a
    Linear(4, 1, bias=False) whose weight is replaced by its 4-element row computes, on 2×4, two dot
    products of 4: 2·4 = 8 MACs (n = 4, k = 1 from the attributes: the weight has no k×n shape to read),
    the same as the aten ops of the same forward run unregistered (``Hidden``)."""
    m = nn.Linear(4, 1, bias=False)
    m.weight = nn.Parameter(m.weight.detach()[0].clone())
    x = torch.randn(2, 4)
    assert m(x).shape == (2,)
    report = run(m, x)
    assert nonzero_counts(report.total.cost) == {"macs": 2 * 4}
    assert "multiply-accumulates [macs, weight 2] = rows·n·k = 2×4×1 = 8" in report.explain("")
    assert nonzero_counts(run(Hidden(m), x).total.cost) == {"macs": 8}
