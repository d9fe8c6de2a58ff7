"""rules/conv.py's rules at sizes where each count and each worked line can be derived by hand: cases
the mutation round over the file found no test pinned."""
from __future__ import annotations

import torch
from torch import nn

import torchcount

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
