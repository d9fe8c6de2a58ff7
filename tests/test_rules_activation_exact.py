"""rules/activation.py's module rules against hand counts. Each test was written to fail on a mutant of
torchcount/rules/activation.py that the other tests let pass."""
from __future__ import annotations

import torch
from torch import nn

from conftest import run


def test_softmin_explains_its_negation_first_then_the_softmax_of_the_negated_input():
    """nn.Softmin(dim=-1) on 4×7 is softmax(−x): the 28 negations come first, then the softmax over
    n = 7 for 4 rows, in the order torch computes them: 4·6 = 24 comparisons (row max), 28 subtractions
    of the max, 28 exponentials, 24 additions (row sum), 28 divisions. The explanation lists the lines
    in that order (the negation put second survived an activation.py mutant)."""
    report = run(nn.Softmin(dim=-1), torch.randn(4, 7))
    lines = [(t.what, t.value) for t in report.layers[0].terms]
    assert lines == [("negations", 28), ("comparisons (row max)", 24), ("subtractions of the max", 28),
                     ("exponentials", 28), ("additions (row sum)", 24), ("divisions by the sum", 28)]
