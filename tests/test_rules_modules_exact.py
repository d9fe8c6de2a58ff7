"""The module rules of rules/conv.py, rules/linear.py, rules/norm.py and rules/pool.py, and the
conventions' weights, at sizes where each count and each worked line can be derived by hand: cases a
mutation round over those files found no test pinned."""
from __future__ import annotations

import torch
from torch import nn

import torchcount
from torchcount import Cost


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
