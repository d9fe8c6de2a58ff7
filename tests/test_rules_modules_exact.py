"""The module rules of rules/conv.py, rules/linear.py, rules/norm.py and rules/pool.py, and the
conventions' weights, at sizes where each count and each worked line can be derived by hand: cases a
mutation round over those files found no test pinned."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import torchcount
from torchcount import Cost

from conftest import nonzero_counts


def test_a_convention_may_weigh_a_category_zero():
    """A weight of 0 is a weight (the category weighs nothing, as one left out): {"macs": 1, "adds": 0,
    "cmps": 0} counts 7 MACs of a cost with 7 MACs, 5 additions and 3 comparisons as 7 ops, and its ops
    are the MACs, one each; a weight of 1 on the additions makes it 12, and no longer MACs only."""
    c = Cost(macs=7, adds=5, cmps=3)
    zero = torchcount.Convention("macs only", "MACs", "MACs, additions and comparisons free",
                                 {"macs": 1, "adds": 0, "cmps": 0})
    assert zero.weights == {"macs": 1, "adds": 0, "cmps": 0}
    assert zero.ops(c) == 7 and zero.is_macs
    with_adds = torchcount.Convention("macs and adds", "ops", "", {"macs": 1, "adds": 1, "cmps": 0})
    assert with_adds.ops(c) == 12 and not with_adds.is_macs
    assert not torchcount.Convention("twice", "FLOPs", "", {"macs": 2}).is_macs


def test_a_cube_of_unequal_kernel_writes_a_line_per_dimension_named_depth_height_width():
    """Conv3d with kernel (2, 3, 3), stride (1, 2, 2) on 5×9×9: all three outputs are 4 (⌊(5 − 2)/1⌋ + 1,
    ⌊(9 − 3)/2⌋ + 1), but the kernels differ, so the worksheet's formula is written once per dimension,
    depth first; MaxPool3d((1, 2, 2)) on 3×8×8 alike: depth ⌊(3 − 1)/1⌋ + 1 = 3, height and width 4."""
    text = torchcount.profile(nn.Conv3d(1, 2, (2, 3, 3), stride=(1, 2, 2)), torch.randn(1, 1, 5, 9, 9)).explain("")
    assert "output depth = ⌊(M − w + 2p)/s⌋ + 1 = ⌊(5 − 2 + 2×0)/1⌋ + 1 = 4" in text
    assert "output height = ⌊(M − w + 2p)/s⌋ + 1 = ⌊(9 − 3 + 2×0)/2⌋ + 1 = 4" in text
    assert "output width = ⌊(M − w + 2p)/s⌋ + 1 = ⌊(9 − 3 + 2×0)/2⌋ + 1 = 4" in text
    text = torchcount.profile(nn.MaxPool3d((1, 2, 2)), torch.randn(1, 1, 3, 8, 8)).explain("")
    assert "output depth = ⌊(M − w + 2p)/s⌋ + 1 = ⌊(3 − 1 + 2×0)/1⌋ + 1 = 3" in text
    assert "output height = ⌊(M − w + 2p)/s⌋ + 1 = ⌊(8 − 2 + 2×0)/2⌋ + 1 = 4" in text
    assert "output width = ⌊(M − w + 2p)/s⌋ + 1 = ⌊(8 − 2 + 2×0)/2⌋ + 1 = 4" in text


def test_instance_norm_with_running_stats_of_one_position_per_instance():
    """InstanceNorm1d(3, track_running_stats=True) in eval of 2×3×1 (torch allows one spatial element
    when it normalises with the stored statistics): 2·3 = 6 instances of n = 1 element each, each given
    its eps-add and reciprocal square root (the kernel repeats the running statistics N times), then per
    element a subtraction and a multiplication: 6 + 6 = 12 additions, 6 rsqrt, 6 multiplications."""
    m = nn.InstanceNorm1d(3, track_running_stats=True).eval()
    x = torch.randn(2, 3, 1)
    assert m(x).shape == (2, 3, 1)
    report = torchcount.profile(m, x)
    assert nonzero_counts(report.total.cost) == {"adds": 12, "transc": 6, "mults": 6}
    assert "eps additions [adds, weight 1] = instances = 6" in report.explain("")


def test_batch_norm_of_no_channels_costs_nothing():
    """BatchNorm1d(0, affine=False) in training of a 4×0 batch (torch runs it): no channel, no element,
    no statistic and no running-stat update; it is not a division of 0 elements by 0 channels."""
    m = nn.BatchNorm1d(0, affine=False)
    x = torch.randn(4, 0)
    assert m(x).shape == (4, 0)
    assert nonzero_counts(torchcount.profile(m, x).total.cost) == {}


def test_bilinear_writes_its_parameters_with_and_without_the_bias():
    """nn.Bilinear(3, 5, 2): the weight is 2×3×5, n1·n2·k = 30 parameters, and with a bias 2 more, 32;
    the params line of explain says so (the report's total counts the module's tensors, so only this
    line shows the rule's arithmetic)."""
    x = (torch.randn(4, 3), torch.randn(4, 5))
    assert "params = n1·n2·k = 3×5×2 = 30" in torchcount.profile(nn.Bilinear(3, 5, 2, bias=False), x).explain("")
    assert "params = n1·n2·k + k = 3×5×2 + 2 = 32" in torchcount.profile(nn.Bilinear(3, 5, 2), x).explain("")


@pytest.mark.parametrize("channels, counts", [
    (3, {"adds": 18 + 24 + 18 + 6 + 12 + 6, "mults": 24 + 24 + 30, "divs": 12 + 6, "transc": 6}),
    (1, {"adds": 6 + 8 + 6 + 2 + 4 + 2, "mults": 8 + 8 + 10, "divs": 4 + 2, "transc": 2}),
])
def test_instance_norm_in_training_averages_the_updated_copies_over_a_whole_batch(channels, counts):
    """InstanceNorm1d(3, track_running_stats=True) in training of 2×3×4: 6 instances of n = 4, the
    statistics (18 + 24 + 18 + 6 additions, 12 divisions, 24 squares, 6 rsqrt, 24 normalisations), 6
    running-stat updates (30 mults, 12 adds), then each channel's 2 updated copies (mean and variance)
    averaged over N = 2: 2·3·(2 − 1) = 6 additions, 2·3 = 6 divisions; with 1 channel (2×1×4) 2
    instances, and 2·1·(2 − 1) = 2 additions, 2 divisions to average them. N is a whole number of
    copies: every count an int, the line written with 2, not 2.0."""
    report = torchcount.profile(nn.InstanceNorm1d(channels, track_running_stats=True), torch.randn(2, channels, 4))
    got = nonzero_counts(report.total.cost)
    assert got == counts
    assert all(type(v) is int for v in got.values()), got
    assert "batch averages of the updated mean and variance [adds, weight 1] = 2·channels·(N − 1) = " \
           f"2×{channels}×(2 − 1) = {2 * channels}" in report.explain("")


_PARAMS_CASES = [
    (nn.Linear(5, 3), (2, 5)), (nn.Linear(5, 3, bias=False), (2, 5)),
    (nn.Bilinear(3, 5, 2), [(4, 3), (4, 5)]), (nn.Bilinear(3, 5, 2, bias=False), [(4, 3), (4, 5)]),
    *[(cls(4, 6, k, groups=2, bias=bias), (1, 4) + (5,) * dims)
      for dims, cls in ((1, nn.Conv1d), (2, nn.Conv2d), (3, nn.Conv3d),
                        (1, nn.ConvTranspose1d), (2, nn.ConvTranspose2d), (3, nn.ConvTranspose3d))
      for k in ((3,) if dims == 1 else (3, (3, 2, 1)[:dims])) for bias in (True, False)],
]


@pytest.mark.parametrize("module, shape", _PARAMS_CASES,
                         ids=[repr(m).replace(" ", "") for m, _ in _PARAMS_CASES])
def test_the_params_line_is_the_modules_own_parameter_count(module, shape):
    """The params line a rule writes (params = formula = worked = value) ends in the number of elements
    of the module's parameters, counted by torch: e.g. ConvTranspose2d(4, 6, 3, groups=2) without a
    bias 4·3·3·3 = 108 (c·(k/g)·∏kernel), with one 108 + 6 = 114; Conv2d(4, 6, (3, 2), groups=2)
    ((4/2)·3·2 + 1)·6 = 78. The report's totals count the tensors themselves, so only this line shows
    the rule's arithmetic."""
    inputs = tuple(torch.randn(*s) for s in shape) if isinstance(shape, list) else torch.randn(*shape)
    text = torchcount.profile(module, inputs).explain("")
    line = next(t for t in text.splitlines() if t.strip().startswith("params = "))
    assert int(line.rsplit("= ", 1)[1].replace(",", "")) == sum(p.numel() for p in module.parameters()), line
