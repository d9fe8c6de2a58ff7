"""rules/pool.py's rules at sizes where each count and line can be derived by hand: cases the
mutation round over the file found no test pinned."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import torchcount

from conftest import SQUARE_OF_ONE_UNEQUAL_DIM, Fn, nonzero_counts, ops_counts as ops_of


def test_square_pooling_writes_one_output_size_line():
    """A 2×2 max pool (stride 2) and a 3×3 average pool (stride 1, padding 1) of an 8×8 image: every
    pooled dim has the same size, window, stride, padding and dilation, so one line, as the worksheet
    writes it: ⌊(8 − 2 + 0)/2⌋ + 1 = 4 and ⌊(8 − 3 + 2)/1⌋ + 1 = 8; no per-dimension line."""
    x = torch.randn(1, 2, 8, 8)
    text = torchcount.profile(nn.MaxPool2d(2), x).explain("")
    assert "output size = ⌊(M − w + 2p)/s⌋ + 1 = ⌊(8 − 2 + 2×0)/2⌋ + 1 = 4" in text
    assert "height" not in text and "width" not in text
    text = torchcount.profile(nn.AvgPool2d(3, stride=1, padding=1), x).explain("")
    assert "output size = ⌊(M − w + 2p)/s⌋ + 1 = ⌊(8 − 3 + 2×1)/1⌋ + 1 = 8" in text
    assert "height" not in text and "width" not in text


def test_pooling_ops_with_a_one_entry_kernel_pool_every_dim():
    """ATen takes kernel_size [2] as 2 in each pooled dim: avg_pool3d of a 4×4×4 volume, 8 outputs of
    2·2·2 = 8 elements, 7·8 = 56 additions, 8 divisions (max_pool3d: 56 comparisons); avg_pool2d of 4
    planes 4×4, 16 outputs of 4: 48 additions; avg_pool1d of 16 rows of 4, 32 outputs of 2: 32
    additions (avg_pool1d reaches dispatch as avg_pool2d with kernel [1, 2]). The window is the
    kernel repeated over as many dims as the op's name says."""
    x = torch.randn(1, 1, 4, 4, 4)
    assert torch.equal(torch.ops.aten.avg_pool3d(x, [2]), torch.ops.aten.avg_pool3d(x, [2, 2, 2]))
    assert ops_of(lambda t: torch.ops.aten.avg_pool3d(t, [2]), x) == {"adds": 7 * 8, "divs": 8}
    assert ops_of(lambda t: torch.ops.aten.max_pool3d_with_indices(t, [2]), x) == {"cmps": 7 * 8}
    assert ops_of(lambda t: torch.ops.aten.avg_pool2d(t, [2]), x[0]) == {"adds": 3 * 16, "divs": 16}
    assert ops_of(lambda t: torch.ops.aten.avg_pool1d(t, [2]), x[0, 0]) == {"adds": 1 * 32, "divs": 32}


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("dims, size, x, line, window_total", [
    # 5 → 3: [0, 2) [1, 4) [3, 5)
    (1, 3, (1, 2, 5), "(2 + 3 + 2)", 7),
    # 7 → 3 rows: [0, 3) [2, 5) [4, 7); 4 → 1 column: one window of 4
    (2, (3, 1), (1, 2, 7, 4), "(3 + 3 + 3)×4", 36),
    # 4 → 2: [0, 2) [2, 4); 5 → 1; 6 → 3: three windows of 2
    (3, (2, 1, 3), (1, 3, 4, 5, 6), "(2 + 2)×5×(2 + 2 + 2)", 120),
])
def test_adaptive_pooling_sums_the_windows_of_its_own_dims_only(kind, dims, size, x, line, window_total):
    """Σwindow runs over the dims the class pools (1d: the last, 2d: the last two, 3d: three), not the
    channels: planes = N·C, and the comparisons (max) or additions (avg) are planes·Σwindow − outputs,
    one division per output for the mean. 1d of 1×2×5 to 3: 2·7 − 6 = 8; 2d of 1×2×7×4 to 3×1:
    2·36 − 6 = 66; 3d of 1×3×4×5×6 to 2×1×3: 3·120 − 18 = 342."""
    cls = getattr(nn, f"Adaptive{kind.capitalize()}Pool{dims}d")
    planes = x[0] * x[1]
    outputs = planes * math.prod(size if isinstance(size, tuple) else (size,))
    report = torchcount.profile(cls(size), torch.randn(*x))
    assert f"Σwindow = Π over dims of Σ windows = {line} = {window_total}" in report.explain("")
    expected = {"cmps": planes * window_total - outputs} if kind == "max" else \
        {"adds": planes * window_total - outputs, "divs": outputs}
    assert nonzero_counts(report.total.cost) == expected


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_adaptive_pooling_to_an_empty_output_costs_nothing(kind):
    """AdaptiveAvgPool2d((0, 2)) of 1×2×4×4 gives 1×2×0×2 (torch computes it): no window, nothing
    compared or added, 0 divisions; the lines say a dim of no windows sums to 0, and its 2 planes
    (N·C = 1·2) times Σwindow 0: 2×0 − 0 = 0."""
    cls = getattr(nn, f"Adaptive{kind.capitalize()}Pool2d")
    x = torch.randn(1, 2, 4, 4)
    assert cls((0, 2))(x).shape == (1, 2, 0, 2)
    report = torchcount.profile(cls((0, 2)), x)
    assert nonzero_counts(report.total.cost) == {}
    text = report.explain("")
    assert "Σwindow = Π over dims of Σ windows = 0×(2 + 2) = 0" in text
    assert "planes·Σwindow − outputs = 2×0 − 0 = 0" in text


@pytest.mark.parametrize("pool, hw, height, width", SQUARE_OF_ONE_UNEQUAL_DIM)
def test_a_square_pooled_output_of_one_unequal_hyper_parameter_writes_a_line_per_dimension(pool, hw, height, width):
    """A MaxPool2d whose output is square (4×4 or 3×3) but one of window, stride, padding, input size or
    dilation differs between height and width: one output size line cannot show both dims' arithmetic,
    so the formula is written once per dimension, each with its own numbers."""
    text = torchcount.profile(nn.MaxPool2d(**pool), torch.randn(1, 1, *hw)).explain("")
    assert f"output height = {height}" in text
    assert f"output width = {width}" in text
    assert "output size" not in text


@pytest.mark.parametrize("pool, size, line", [
    # ⌈(5 − 2)/2⌉ + 1 = 3: the last window covers the fifth row alone
    (nn.MaxPool2d(2, stride=2, ceil_mode=True), 5, "⌈(M − w + 2p)/s⌉ + 1 = ⌈(5 − 2 + 2×0)/2⌉ + 1 = 3"),
    # dilated: ⌈(6 + 0 − 2·1 − 1)/2⌉ + 1 = ⌈3/2⌉ + 1 = 3
    (nn.MaxPool2d(2, stride=2, dilation=2, ceil_mode=True), 6,
     "⌈(M + 2p − d·(w − 1) − 1)/s⌉ + 1 = ⌈(6 + 2×0 − 2×(2 − 1) − 1)/2⌉ + 1 = 3"),
    # padded: ⌈(5 − 2 + 2)/2⌉ + 1 = 4, but the fourth window would start at (4 − 1)·2 = 6 ≥ 5 + 1, in the
    # right padding: torch drops it, 3
    (nn.MaxPool2d(2, stride=2, padding=1, ceil_mode=True), 5,
     "⌈(M − w + 2p)/s⌉ + 1 − 1 (last window would start past the input) = ⌈(5 − 2 + 2×1)/2⌉ + 1 − 1 = 3"),
    (nn.AvgPool2d(2, stride=2, padding=1, ceil_mode=True), 5,
     "⌈(M − w + 2p)/s⌉ + 1 − 1 (last window would start past the input) = ⌈(5 − 2 + 2×1)/2⌉ + 1 − 1 = 3"),
])
def test_ceil_mode_writes_the_ceiling_and_drops_a_window_that_would_start_in_the_padding(pool, size, line):
    """ceil_mode=True rounds the output size up (torch's pooling_output_shape), except that a last window
    starting past the input and its left padding, (out − 1)·s ≥ M + p, is dropped: each size here is
    what torch gives, 3, and one line since the image is square."""
    x = torch.randn(1, 1, size, size)
    assert pool(x).shape[-2:] == (3, 3)
    text = torchcount.profile(pool, x).explain("")
    assert f"output size = {line}" in text
    assert "height" not in text


def test_lp_pooling_writes_its_output_size_with_no_padding_and_its_window_as_stride():
    """LPPool2d has no padding attribute (torch pads nothing) and, built without a stride, steps by its
    window: LPPool2d(2, 3) of 7×7 gives ⌊(7 − 3 + 2×0)/3⌋ + 1 = 2, and LPPool2d(2, 2, stride=1) of 4×4
    ⌊(4 − 2 + 2×0)/1⌋ + 1 = 3, each one line (square)."""
    pool = nn.LPPool2d(2, 3)
    x = torch.randn(1, 1, 7, 7)
    assert pool.stride is None and pool(x).shape[-2:] == (2, 2)
    assert "output size = ⌊(M − w + 2p)/s⌋ + 1 = ⌊(7 − 3 + 2×0)/3⌋ + 1 = 2" in torchcount.profile(pool, x).explain("")
    text = torchcount.profile(nn.LPPool2d(2, 2, stride=1), torch.randn(1, 1, 4, 4)).explain("")
    assert "output size = ⌊(M − w + 2p)/s⌋ + 1 = ⌊(4 − 2 + 2×0)/1⌋ + 1 = 3" in text


def test_adaptive_pooling_to_eight_outputs_writes_each_window():
    """AdaptiveAvgPool1d(8) of 1×1×16: eight windows of 2, written out one by one up to 8 windows
    (more are written as how many of each size): Σwindow = 16, 16 − 8 = 8 additions, 8 divisions."""
    report = torchcount.profile(nn.AdaptiveAvgPool1d(8), torch.randn(1, 1, 16))
    assert "= (2 + 2 + 2 + 2 + 2 + 2 + 2 + 2) = 16" in report.explain("")
    assert nonzero_counts(report.total.cost) == {"adds": 8, "divs": 8}


@pytest.mark.parametrize("module, size, windows", [
    # 18 → 9: nine windows of 2, written as how many of each size: 9×2 (one dim: no parentheses)
    (nn.AdaptiveAvgPool1d(9), (18,), "9×2 = 18"),
    # 20 → 9: window i spans ⌊20i/9⌋ … ⌈20(i + 1)/9⌉: [8, 12) is 4 wide, the other eight 3
    (nn.AdaptiveAvgPool1d(9), (20,), "(1×4 + 8×3) = 28"),
    # two dims: the grouped one in parentheses beside the other's (3 + 3): 18 · 6 = 108, 28 · 6 = 168
    (nn.AdaptiveAvgPool2d((9, 2)), (18, 6), "(9×2)×(3 + 3) = 108"),
    (nn.AdaptiveAvgPool2d((9, 2)), (20, 6), "(1×4 + 8×3)×(3 + 3) = 168"),
])
def test_adaptive_pooling_to_more_than_eight_outputs_writes_how_many_windows_of_each_size(module, size, windows):
    """Past eight windows a dim's Σwindow is written as how many windows of each size, largest first, so
    that a student can check it without listing every window; each dim's sum stays a factor of the
    product, in parentheses where it needs them."""
    text = torchcount.profile(module, torch.randn(1, 1, *size)).explain("")
    assert f"Σwindow = Π over dims of Σ windows = {windows}" in text


@pytest.mark.parametrize("fn, shape, counts", [
    # a max over each 2×2 (2×2×2) window: 3 (7) comparisons per output, 16 (8) outputs
    (lambda x: F.fractional_max_pool2d(x, 2, output_size=4), (1, 1, 8, 8), {"cmps": 16 * 3}),
    (lambda x: F.fractional_max_pool3d(x, 2, output_size=2), (1, 1, 4, 4, 4), {"cmps": 8 * 7}),
    # 6 → 3: windows of 2 (2×2): Σwindow − outputs additions, a division per output
    (lambda x: F.adaptive_avg_pool1d(x, 3), (1, 1, 6), {"adds": 6 - 3, "divs": 3}),
    (lambda x: F.adaptive_avg_pool2d(x, 3), (1, 1, 6, 6), {"adds": 36 - 9, "divs": 9}),
    (lambda x: F.adaptive_max_pool1d(x, 3), (1, 1, 6), {"cmps": 6 - 3}),
    (lambda x: F.adaptive_max_pool2d(x, 3), (1, 1, 6, 6), {"cmps": 36 - 9}),
    (lambda x: F.max_pool1d(x, 2), (1, 1, 8), {"cmps": 4 * 1}),
    # 8 → 4 windows of 2 along the one pooled dim: an addition and a division each
    (lambda x: F.avg_pool1d(x, 2), (1, 1, 8), {"adds": 4, "divs": 4}),
])
def test_the_functional_pooling_ops_count_their_windows_by_hand(fn, shape, counts):
    """The pooling functions (their aten ops, priced by op rules): each output's window, by hand."""
    assert nonzero_counts(torchcount.profile(Fn(fn), torch.randn(*shape)).total.cost) == counts


def test_fractional_max_pool_modules_and_max_unpool():
    """nn.FractionalMaxPool2d(2, output_size=4) of 8×8: 16 windows of 2×2, 48 comparisons; the 3-d one of 4×4×4 to
    2×2×2: 8 × 7 = 56. nn.MaxUnpool2d scatters the values back: data movement only, priced (a rule row, complete
    coverage), 0 FLOPs."""
    r = torchcount.profile(nn.FractionalMaxPool2d(2, output_size=4), torch.randn(1, 1, 8, 8))
    assert nonzero_counts(r.total.cost) == {"cmps": 48}
    r = torchcount.profile(nn.FractionalMaxPool3d(2, output_size=2), torch.randn(1, 1, 4, 4, 4))
    assert nonzero_counts(r.total.cost) == {"cmps": 56}
    y, indices = nn.MaxPool2d(2, return_indices=True)(torch.randn(1, 1, 4, 4))
    r = torchcount.profile(nn.MaxUnpool2d(2), (y, indices))
    assert (r.root.status, r.coverage, nonzero_counts(r.total.cost)) == ("rule", 1.0, {})
