"""Spec §5 (seed 001, the lecture): a linear (affine) layer n→k is n·k MACs and n·k multiplications,
with n·k additions when it has a bias and (n − 1)·k without; the 2×2 matrix times a 2×1 vector is
4 multiplications, 2 additions and 4 MACs. The other §5 figures are checked where their rules are:
RNN/LSTM/GRU in test_recurrent.py, attention D·N·M in test_attention.py, prod(W.shape)·T and the
scaling table in test_scaling.py."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from conftest import Fn, run


def accumulation_and_bias_additions(report, rows: int, k: int) -> int:
    """The additions of a layer as the lecture counts them, by docs/conventions.md's recipe: a MAC's
    addition into the running sum, except the first of each of the rows·k outputs, plus the
    stand-alone additions the tool counts (the bias)."""
    return report.total.macs - rows * k + report.total.cost.adds


def test_two_by_two_matrix_times_a_vector():
    # no bias: 2·2 multiplications, (2 − 1)·2 additions, 2·2 MACs
    report = run(nn.Linear(2, 2, bias=False), torch.randn(1, 2), convention="mults")
    assert report.total.macs == 4
    assert report.total.flops == 4  # 'mults': one multiplication per MAC
    assert accumulation_and_bias_additions(report, rows=1, k=2) == (2 - 1) * 2 == 2
    # the same product written with @: one mm of 2×2 by 2×1
    report = run(Fn(lambda w, x: w @ x), torch.randn(2, 2), torch.randn(2, 1), convention="mults")
    assert (report.total.macs, report.total.flops) == (4, 4)


@pytest.mark.parametrize("n, k", [(2, 2), (5, 3), (784, 10)])
def test_affine_layer_n_to_k(n, k):
    report = run(nn.Linear(n, k), torch.randn(1, n), convention="mults")
    assert report.total.macs == n * k
    assert report.total.flops == n * k  # multiplications
    assert report.total.cost.adds == k  # the bias, one per output
    assert accumulation_and_bias_additions(report, rows=1, k=k) == n * k  # with the bias: n·k additions
    no_bias = run(nn.Linear(n, k, bias=False), torch.randn(1, n), convention="mults")
    assert accumulation_and_bias_additions(no_bias, rows=1, k=k) == (n - 1) * k


def test_a_matrix_product_explains_only_the_factors_it_has():
    # mm has no batch dimension: its line read "batch·m·k·n = 2×2×1" (three numbers for four letters)
    text = run(Fn(lambda w, x: w @ x), torch.randn(2, 2), torch.randn(2, 1)).explain("")
    assert "multiply-accumulates (mm) [macs, weight 2] = m·k·n = 2×2×1 = 4" in text
    assert "batch·" not in text
    text = run(Fn(lambda a, b: a @ b), torch.randn(3, 2, 4), torch.randn(3, 4, 5)).explain("")
    assert "multiply-accumulates (bmm) [macs, weight 2] = batch·m·k·n = 3×2×4×5 = 120" in text
    text = run(nn.Linear(4, 3), torch.randn(2, 4)).explain("")
    assert "rows·n·k = 2×4×3 = 24" in text
