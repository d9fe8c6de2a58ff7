"""rules/fft.py's op rules at sizes where each count can be derived by hand: cases the mutation
round over the file found no test pinned."""
from __future__ import annotations

import torch

from conftest import ops_counts as ops_of


def test_bartlett_window_of_two_is_computed():
    """A Bartlett window of length 2 is not a constant (only length 1 is): w[n] = 2n/M, and
    2 − 2n/M for n > M/2. Symmetric, M = 1: 2 ramp multiplications, n = 1 past the middle, 1
    subtraction ([0, 0]); periodic, M = 2: 2 multiplications, nothing past the middle ([0, 1]).
    The + of a length-2 zero tensor adds 2."""
    x = torch.zeros(2)
    assert torch.equal(torch.bartlett_window(2, periodic=False), torch.tensor([0.0, 0.0]))
    assert torch.equal(torch.bartlett_window(2), torch.tensor([0.0, 1.0]))
    assert ops_of(lambda t: t + torch.bartlett_window(2, periodic=False), x) == {"mults": 2, "adds": 1 + 2}
    assert ops_of(lambda t: t + torch.bartlett_window(2), x) == {"mults": 2, "adds": 0 + 2}
