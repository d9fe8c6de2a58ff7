"""rules/elementwise.py's op rules at sizes where each count can be derived by hand: cases the
mutation round over the file found no test pinned."""
from __future__ import annotations

import pytest
import torch

from conftest import ops_counts as ops_of

aten = torch.ops.aten
N = 24  # elements of the (2, 3, 4) inputs


@pytest.mark.parametrize("fn, expected", [
    (lambda x: x ** 0.5, {"transc": N}),                      # a square root per element
    (lambda x: x ** 16, {"mults": 15 * N}),                   # x^n, n ≤ 16: n − 1 multiplications
    (lambda x: x ** 17, {"transc": N}),                       # past 16: one pow
    (lambda x: x ** -16, {"mults": 15 * N, "divs": N}),       # 1/(x·…·x): 15 multiplications, a division
    (lambda x: x ** -17, {"transc": N}),
    (lambda x: x ** -2, {"mults": N, "divs": N}),
    (lambda x: x ** 2.5, {"transc": N}),                      # not an integer: one pow
    (lambda x: x.clone().pow_(0.5), {"transc": N}),           # in place (aten.pow_.Scalar): the same
    (lambda x: torch.pow(2.0, x), {"transc": N}),             # a scalar base: one pow per element
])
def test_pow_by_each_kind_of_exponent(fn, expected):
    """pow's recipe on (2, 3, 4) = 24 elements, by the exponent: an integer n in 2…16 is n − 1
    multiplications per element, −16…−2 |n| − 1 multiplications and a division, 0.5 a square root
    (1 transcendental), anything else (17, −17, 2.5, a tensor exponent) one transcendental pow."""
    x = torch.rand(2, 3, 4) + 0.5
    assert ops_of(fn, x) == expected


def test_fold_with_a_dilation_sums_the_taps_it_spaces_out():
    """F.fold of 9 blocks of a 2×2 kernel, dilation 2, into a 5×5 output, 2 channels: per dim
    (5 − 2·(2 − 1) − 1) + 1 = 3 block positions, taps at 0, 2 | 1, 3 | 2, 4 — 6 taps inside, 5
    positions covered. Per plane 6·6 − 5·5 = 11 additions (the first tap into a position is a
    copy), 2 planes: 22 = 2·4·9 taps − 2·25 positions. Without the dilation the rule would see 4
    block positions per dim."""
    blocks = torch.randn(1, 2 * 4, 9)
    assert ops_of(lambda b: torch.nn.functional.fold(b, (5, 5), 2, dilation=2), blocks) == {"adds": 22}


def test_lerp_and_ternaries_at_the_broadcast_output_size():
    """Ternary element-wise ops are priced per output element, after broadcasting: a (2, 3, 4),
    b (4,), weight (3, 1) make 24 outputs. lerp a + w·(b − a): 1 multiplication and 2 additions per
    output (24, 48), with a scalar weight, a tensor weight, in place and into out= alike; addcmul
    a + v·b·c 2 multiplications and 1 addition (48, 24); where(cond (3, 1), a, 0) one selection (24)."""
    a, b, w = torch.randn(2, 3, 4), torch.randn(4), torch.rand(3, 1)
    lerp = {"mults": 24, "adds": 48}
    assert ops_of(lambda a, b: torch.lerp(a, b, 0.3), a, b) == lerp
    assert ops_of(lambda a, b, w: torch.lerp(a, b, w), a, b, w) == lerp
    assert ops_of(lambda a, b, w: a.clone().lerp_(b, w), a, b, w) == lerp
    assert ops_of(lambda a, b, w: torch.lerp(a, b, w, out=torch.empty(2, 3, 4)), a, b, w) == lerp
    assert ops_of(lambda a, b, w: torch.addcmul(a, b, w, value=0.5), a, b, w) == {"mults": 48, "adds": 24}
    assert ops_of(lambda a, w: torch.where(w > 0.5, a, 0.0), a, w) == {"cmps": 3, "assigns": 24}
