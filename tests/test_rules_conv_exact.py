"""rules/conv.py's rules at sizes where each count and each worked line can be derived by hand: cases
the mutation round over the file found no test pinned."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import torchcount

from conftest import FLOOR, SQUARE_OF_ONE_UNEQUAL_DIM

TRANSPOSED = "output size = (M − 1)·s − 2p + d·(w − 1) + output_padding + 1"


def test_a_transposed_conv_called_with_output_size_writes_the_output_padding_torch_picked():
    """ConvTranspose2d(1, 1, 3, stride=2) of 4×4 gives (4 − 1)·2 − 0 + 1·(3 − 1) + 0 + 1 = 9 by default;
    called with output_size (10, 10), torch pads one more row and column: the line substitutes the
    output padding 1 it used, not the module's 0, and says why. Built with output_padding=1 and called
    without output_size, the same 10 is the module's own padding: no such note."""
    x = torch.randn(1, 1, 4, 4)
    m = nn.ConvTranspose2d(1, 1, 3, stride=2)
    assert m(x).shape == (1, 1, 9, 9) and m(x, output_size=(10, 10)).shape == (1, 1, 10, 10)
    text = torchcount.profile(m, x, kwargs={"output_size": (10, 10)}).explain("")
    assert f"{TRANSPOSED} (output_padding as output_size asks) = (4 − 1)×2 − 2×0 + 1×(3 − 1) + 1 + 1 = 10" \
        in text
    text = torchcount.profile(nn.ConvTranspose2d(1, 1, 3, stride=2, output_padding=1), x).explain("")
    assert f"{TRANSPOSED} = (4 − 1)×2 − 2×0 + 1×(3 − 1) + 1 + 1 = 10" in text
    assert "output_size asks" not in text


@pytest.mark.parametrize("conv, hw, height, width", SQUARE_OF_ONE_UNEQUAL_DIM)
def test_a_square_output_of_one_unequal_hyper_parameter_writes_a_line_per_dimension(conv, hw, height, width):
    """A Conv2d whose output is square (here 4×4 or 3×3) but one of kernel, stride, padding, input size
    or dilation differs between height and width: one output size line cannot show both dims' arithmetic,
    so the worksheet's formula is written once per dimension, each with its own numbers."""
    text = torchcount.profile(nn.Conv2d(1, 1, **conv), torch.randn(1, 1, *hw)).explain("")
    assert f"output height = {height}" in text
    assert f"output width = {width}" in text
    assert "output size" not in text


def test_a_square_conv_with_string_padding_writes_one_output_size_line():
    """Conv2d(1, 1, 3) of 8×8 with padding='same' keeps the size, 8, and with 'valid' pads nothing:
    ⌊(8 − 3 + 2×0)/1⌋ + 1 = 6; the image and kernel are square, so one line each, as the worksheet
    writes it (a padding string is one value for every dim, not a sequence of per-dim paddings)."""
    x = torch.randn(1, 1, 8, 8)
    text = torchcount.profile(nn.Conv2d(1, 1, 3, padding="same"), x).explain("")
    assert "output size = M (padding 'same') = 8" in text and "height" not in text
    text = torchcount.profile(nn.Conv2d(1, 1, 3, padding="valid"), x).explain("")
    assert f"output size = {FLOOR} = ⌊(8 − 3 + 2×0)/1⌋ + 1 = 6" in text and "height" not in text
