"""rules/recurrent.py, attention.py, activation.py and embedding.py at sizes where each count can be
derived by hand: cases the mutation round over those files found no test pinned."""
from __future__ import annotations

import torch
from torch import nn

from conftest import run


def counted(cost) -> dict:
    """The non-zero arithmetic categories of a cost."""
    return {c: getattr(cost, c) for c in ("macs", "mults", "adds", "divs", "cmps", "assigns", "transc")
            if getattr(cost, c)}


def test_an_unbatched_sequence_is_one_sequence_of_its_first_dim():
    """An unbatched (T, I) = (5, 3) input to nn.LSTM(3, 4): one sequence of T = 5 steps, so
    4·H·(I + H)·T = 4·4·(3 + 4)·5 = 560 MACs and 5 sequential steps (not I = 3 steps, not N = 0)."""
    report = run(nn.LSTM(3, 4), torch.randn(5, 3))
    assert report.total.macs == 4 * 4 * (3 + 4) * 5 == 560
    assert report.layers[0].extra["steps"] == 5


def test_softmax_of_a_scalar_is_one_row_of_one_element():
    """nn.Softmax(dim=0) of a 0-dim tensor: one row of n = 1: no comparison (n − 1 = 0), one
    subtraction of the max, one exp, no addition of the sum, one division — not n = 0 (a row of
    −1 comparisons)."""
    cost = run(nn.Softmax(dim=0), torch.tensor(0.5)).total.cost
    assert counted(cost) == {"adds": 1, "transc": 1, "divs": 1}


def test_softmax_over_an_empty_dim_costs_nothing():
    """nn.Softmax(dim=1) of a (3, 0) tensor (torch returns a (3, 0) tensor): no element, no work —
    the rows are numel // max(n, 1) = 0, not a division by n = 0."""
    report = run(nn.Softmax(dim=1), torch.randn(3, 0))
    assert counted(report.total.cost) == {}
    assert report.complete
