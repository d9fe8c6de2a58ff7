"""rules/pool.py's rules at sizes where each count and line can be derived by hand: cases the
mutation round over the file found no test pinned."""
from __future__ import annotations

import torch
from torch import nn

import torchcount


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
