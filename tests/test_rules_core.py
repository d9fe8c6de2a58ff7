"""Closed-form tests for every module rule of issue 2 and the core behaviours around them.

Every expected number is written out from the layer's definition (output sizes from the
PyTorch docs' formulas, MACs = kernel weights × output positions, …) or taken from an
independent counter (torch.utils.flop_counter), never from torchcount's own output.
"""
from __future__ import annotations

import math
import warnings

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import torchcount
from torchcount import Cost, Term

from conftest import run


def cost_of(module, *inputs, **kw) -> Cost:
    report = run(module, *inputs, **kw)
    assert report.complete, report.uncounted
    return report.total.cost


def counted(cost: Cost) -> dict:
    """The non-zero arithmetic categories of a cost."""
    return {c: getattr(cost, c) for c in ("macs", "mults", "adds", "divs", "cmps", "assigns", "transc")
            if getattr(cost, c)}


def flop_counter_flops(module, *inputs) -> int:
    with FlopCounterMode(display=False) as counter:
        module(*inputs)
    return counter.get_total_flops()


def nparams(module) -> int:
    return sum(p.numel() for p in module.parameters())


# ---------------------------------------------------------------------------------------------
# Linear, Bilinear
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bias", [True, False])
def test_linear(bias):
    m, x = nn.Linear(5, 3, bias=bias), torch.randn(2, 4, 5)  # 2·4 = 8 rows
    report = run(m, x)
    assert report.total.params == (5 + 1) * 3 if bias else 5 * 3
    assert counted(report.total.cost) == ({"macs": 8 * 5 * 3, "adds": 8 * 3} if bias else {"macs": 8 * 5 * 3})
    assert 2 * report.total.macs == flop_counter_flops(m, x)


def test_linear_unbatched_input():
    assert counted(cost_of(nn.Linear(4, 6), torch.randn(4))) == {"macs": 4 * 6, "adds": 6}


def test_bilinear():
    # y_k = x1ᵀ·A_k·x2 + b_k: x1ᵀ·A_k is n1·n2 MACs, then ·x2 is n2 more, per output feature and row
    m = nn.Bilinear(3, 5, 2)
    report = run(m, (torch.randn(4, 3), torch.randn(4, 5)))
    assert report.total.params == 3 * 5 * 2 + 2 == nparams(m)
    assert counted(report.total.cost) == {"macs": 4 * 2 * (3 * 5 + 5), "adds": 4 * 2}


# ---------------------------------------------------------------------------------------------
# Convolutions
# ---------------------------------------------------------------------------------------------
def conv_out(size, k, s, p, d):
    """torch.nn.Conv*d docs: ⌊(M + 2p − d·(k − 1) − 1)/s⌋ + 1."""
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


CONV_CASES = [
    # dims, c_in, c_out, kernel, stride, padding, dilation, groups, bias, padding_mode, input spatial
    (1, 4, 6, 3, 1, 0, 1, 1, True, "zeros", (11,)),
    (1, 4, 6, 5, 2, 2, 2, 2, False, "reflect", (17,)),
    (1, 4, 8, 3, 1, "same", 3, 4, True, "zeros", (10,)),
    (1, 4, 8, 4, 1, "valid", 1, 1, True, "circular", (10,)),
    (2, 3, 6, 3, 2, 1, 1, 1, True, "zeros", (9, 8)),
    (2, 4, 4, 3, 1, 1, 1, 4, False, "zeros", (7, 7)),          # depthwise
    (2, 4, 6, (3, 5), (2, 1), (1, 2), (2, 1), 2, True, "replicate", (12, 9)),
    (2, 4, 6, 3, 1, "same", 2, 1, True, "reflect", (8, 8)),
    (2, 2, 3, (2, 4), 1, "same", 1, 1, False, "zeros", (6, 7)),  # even kernel: asymmetric 'same'
    (2, 4, 6, 3, 1, "valid", 1, 2, True, "zeros", (6, 6)),
    (3, 2, 4, 3, 1, 1, 1, 1, True, "zeros", (5, 6, 4)),
    (3, 4, 4, (1, 3, 3), (1, 2, 2), (0, 1, 1), 1, 2, False, "circular", (3, 7, 7)),
    (3, 2, 2, 2, 1, "same", 2, 1, True, "zeros", (5, 5, 5)),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: f"{c[0]}d-k{c[3]}-s{c[4]}-p{c[5]}-d{c[6]}-g{c[7]}-{c[9]}")
def test_conv(case):
    dims, c_in, c_out, k, s, p, d, g, bias, mode, spatial = case
    cls = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[dims]
    m = cls(c_in, c_out, k, stride=s, padding=p, dilation=d, groups=g, bias=bias, padding_mode=mode)
    x = torch.randn(2, c_in, *spatial)
    report = run(m, x)
    ks = k if isinstance(k, tuple) else (k,) * dims
    ss = s if isinstance(s, tuple) else (s,) * dims
    ds = d if isinstance(d, tuple) else (d,) * dims
    if p == "same":
        out = spatial
    elif p == "valid":
        out = tuple(conv_out(M, kk, ss_, 0, dd) for M, kk, ss_, dd in zip(spatial, ks, ss, ds))
    else:
        ps = p if isinstance(p, tuple) else (p,) * dims
        out = tuple(conv_out(M, kk, ss_, pp, dd) for M, kk, ss_, pp, dd in zip(spatial, ks, ss, ps, ds))
    assert report.layers[0].output_shapes[0] == (2, c_out, *out)
    positions = 2 * math.prod(out)
    macs = positions * c_out * (c_in // g) * math.prod(ks)
    assert report.total.params == c_out * (c_in // g) * math.prod(ks) + (c_out if bias else 0) == nparams(m)
    assert counted(report.total.cost) == ({"macs": macs, "adds": positions * c_out} if bias else {"macs": macs})
    assert 2 * report.total.macs == flop_counter_flops(m, x)


def test_conv_unbatched_input():
    m = nn.Conv2d(3, 5, 3)
    assert counted(cost_of(m, torch.randn(3, 6, 6))) == {"macs": 5 * 3 * 9 * 4 * 4, "adds": 5 * 4 * 4}


def convt_out(size, k, s, p, op, d):
    """torch.nn.ConvTranspose*d docs: (M − 1)·s − 2p + d·(k − 1) + output_padding + 1."""
    return (size - 1) * s - 2 * p + d * (k - 1) + op + 1


CONVT_CASES = [
    # dims, c_in, c_out, kernel, stride, padding, output_padding, dilation, groups, bias, input spatial
    (1, 4, 6, 3, 1, 0, 0, 1, 1, True, (7,)),
    (1, 4, 6, 4, 2, 1, 1, 1, 2, False, (9,)),
    (2, 3, 6, 3, 2, 1, 1, 1, 1, True, (5, 4)),
    (2, 4, 4, (3, 2), (2, 3), (1, 0), (1, 2), (2, 1), 4, True, (4, 5)),
    (3, 2, 4, 3, 2, 1, 0, 1, 2, False, (3, 4, 2)),
    (3, 2, 2, 2, 1, 0, 0, 2, 1, True, (3, 3, 3)),
]


@pytest.mark.parametrize("case", CONVT_CASES, ids=lambda c: f"{c[0]}d-k{c[3]}-s{c[4]}-op{c[6]}-d{c[7]}-g{c[8]}")
def test_conv_transpose(case):
    dims, c_in, c_out, k, s, p, op, d, g, bias, spatial = case
    cls = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}[dims]
    m = cls(c_in, c_out, k, stride=s, padding=p, output_padding=op, dilation=d, groups=g, bias=bias)
    x = torch.randn(2, c_in, *spatial)
    report = run(m, x)
    t = lambda v: v if isinstance(v, tuple) else (v,) * dims  # noqa: E731
    out = tuple(convt_out(*a) for a in zip(spatial, t(k), t(s), t(p), t(op), t(d)))
    assert report.layers[0].output_shapes[0] == (2, c_out, *out)
    # each input element is scattered through (c_out/g)·∏kernel weights
    macs = 2 * math.prod(spatial) * c_in * (c_out // g) * math.prod(t(k))
    assert report.total.params == c_in * (c_out // g) * math.prod(t(k)) + (c_out if bias else 0) == nparams(m)
    expected = {"macs": macs, "adds": 2 * c_out * math.prod(out)} if bias else {"macs": macs}
    assert counted(report.total.cost) == expected
    assert 2 * report.total.macs == flop_counter_flops(m, x)


# ---------------------------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------------------------
def pool_out(size, k, s, p):
    return (size + 2 * p - k) // s + 1


@pytest.mark.parametrize("dims,k,s,p,spatial", [
    (1, 3, 2, 1, (11,)), (2, 2, 2, 0, (8, 6)), (2, 3, 1, 1, (5, 5)), (3, 2, 2, 0, (4, 6, 4)),
])
def test_max_and_avg_pool(dims, k, s, p, spatial):
    x = torch.randn(2, 3, *spatial)
    out = tuple(pool_out(M, k, s, p) for M in spatial)
    n_out = 2 * 3 * math.prod(out)
    window = k ** dims
    mp = {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}[dims](k, s, p)
    ap = {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}[dims](k, s, p)
    report = run(mp, x)
    assert report.layers[0].output_shapes[0] == (2, 3, *out)
    assert counted(report.total.cost) == {"cmps": (window - 1) * n_out}
    assert counted(cost_of(ap, x)) == {"adds": (window - 1) * n_out, "divs": n_out}


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_lp_pool(dims):
    cls = {1: nn.LPPool1d, 2: nn.LPPool2d, 3: getattr(nn, "LPPool3d", None)}[dims]
    if cls is None:
        pytest.skip("no LPPool3d in this torch")
    x = torch.rand(1, 2, *(4,) * dims)
    n_out = 2 * 2 ** dims  # kernel 2, stride 2: each spatial dim 4 → 2
    window = 2 ** dims
    # (Σ x²)^(1/2): one square per window element, window − 1 additions, one root per output
    assert counted(cost_of(cls(2, 2), x)) == {"mults": window * n_out, "adds": (window - 1) * n_out,
                                               "transc": n_out}
    # p = 3: x³ is two multiplications
    assert cost_of(cls(3, 2), x).mults == 2 * window * n_out
    # p = 1.5: a non-integer power is a transcendental op
    assert cost_of(cls(1.5, 2), x).transc == window * n_out + n_out


def test_adaptive_pool_windows_by_hand():
    # 7 → 3: windows [⌊i·7/3⌋, ⌈(i+1)·7/3⌉) = [0,3) [2,5) [4,7): 3 + 3 + 3 = 9 elements
    x = torch.randn(2, 4, 7, 7)
    planes, out = 2 * 4, 2 * 4 * 3 * 3
    assert counted(cost_of(nn.AdaptiveAvgPool2d(3), x)) == {"adds": planes * 9 * 9 - out, "divs": out}
    assert counted(cost_of(nn.AdaptiveMaxPool2d(3), x)) == {"cmps": planes * 9 * 9 - out}
    # 5 → 3 (1d): [0,2) [1,4) [3,5): 2 + 3 + 2 = 7
    assert counted(cost_of(nn.AdaptiveAvgPool1d(3), torch.randn(1, 2, 5))) == {"adds": 2 * 7 - 6, "divs": 6}
    # global pooling: H·W − 1 additions per plane, one division
    y = torch.randn(1, 3, 4, 5, 6)
    assert counted(cost_of(nn.AdaptiveAvgPool3d(1), y)) == {"adds": 3 * (4 * 5 * 6 - 1), "divs": 3}
    assert counted(cost_of(nn.AdaptiveMaxPool3d((2, 1, 3)), y)) == {"cmps": 3 * (4 * 5 * 6) - 3 * 6}
    assert counted(cost_of(nn.AdaptiveMaxPool1d(2), torch.randn(3, 6))) == {"cmps": 3 * 6 - 3 * 2}


def test_fractional_max_pool():
    x = torch.randn(1, 2, 9, 9)
    assert counted(cost_of(nn.FractionalMaxPool2d(2, output_size=4), x)) == {"cmps": 3 * 2 * 4 * 4}
    y = torch.randn(1, 1, 6, 6, 6)
    assert counted(cost_of(nn.FractionalMaxPool3d(2, output_size=3), y)) == {"cmps": 7 * 27}
