"""rules/quantized.py by hand: quantized ops called as functions (torch.ao.nn.quantized.functional), no
module rule in the way, with counts from the convolution's closed form N·C_out·L_out·C_in·k."""
from __future__ import annotations

import warnings

import torch
import torch.ao.nn.quantized as nnq
import torch.ao.nn.quantized.functional as qF
from torch import nn

import torchcount


def _q(shape, dtype=torch.quint8):
    torch.manual_seed(0)
    return torch.quantize_per_tensor(torch.randn(*shape), 0.1, 0, dtype)


def _profile(model, *inputs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization's deprecation
        report = torchcount.profile(model.eval(), inputs if len(inputs) > 1 else inputs[0])
    assert report.complete, report.uncounted
    return report.total.cost


class _Conv1d(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = _q((8, 3, 3), torch.qint8)

    def forward(self, qx):
        return qF.conv1d(qx, self.w, torch.zeros(8), scale=0.1, zero_point=0)


def test_a_functional_quantized_conv1d_counts_its_output_positions_once():
    """qF.conv1d (quantized::conv1d) of a 2×3×16 input with 8 filters of 3×3: N·C_out·L_out·C_in·k =
    2·8·14·3·3 = 2,016 MACs, and per output (2·8·14 = 224) a bias addition and a requantization. Its
    packed weight is a conv2d's of height 1 (8×3×1×3): the positions were read from its last two
    output dimensions, 8·14 per sample (8,064 MACs until 2026-12-06). The module nnq.Conv1d, priced by
    its rule, gives the same MACs."""
    qx = _q((2, 3, 16))
    c = _profile(_Conv1d(), qx)
    assert (c.macs, c.adds, c.mults) == (2 * 8 * 14 * 3 * 3, 224, 224)
    assert _profile(nnq.Conv1d(3, 8, 3), qx).macs == 2 * 8 * 14 * 3 * 3


def test_a_quantized_transposed_conv1d_counts_every_input_position_times_every_weight():
    """nnq.ConvTranspose1d(3, 8, 3) on 2×3×16 (no module rule: its quantized::conv_transpose1d op): each
    of the N·L_in = 2·16 input positions times every weight, C_in·C_out·k = 3·8·3: 2,304 MACs (3,456
    until 2026-12-06: C_in·L_in positions of one sample), and per output (2·8·18 = 288) a bias
    addition and a requantization."""
    c = _profile(nnq.ConvTranspose1d(3, 8, 3), _q((2, 3, 16)))
    assert (c.macs, c.adds, c.mults) == (2 * 16 * 3 * 8 * 3, 288, 288)


class _Conv3d(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = _q((4, 3, 2, 2, 2), torch.qint8)

    def forward(self, qx):
        return qF.conv3d(qx, self.w, torch.zeros(4), scale=0.1, zero_point=0)


def test_a_functional_quantized_conv3d():
    """qF.conv3d of 1×3×4×4×4 with 4 filters of 3×2×2×2: 1·4·3·3·3 outputs (108) times 3·8 = 24 weights
    each: 2,592 MACs, 108 bias additions, 108 requantizations."""
    c = _profile(_Conv3d(), _q((1, 3, 4, 4, 4)))
    assert (c.macs, c.adds, c.mults) == (108 * 24, 108, 108)


class _Dequantize(nn.Module):
    def forward(self, q):
        return q.dequantize()


def test_dequantizing_an_empty_tensor_costs_nothing():
    """(q − z)·s per element: an empty 0×3 tensor has none."""
    c = _profile(_Dequantize(), _q((0, 3)))
    assert c.mults == 0 and c.is_zero()
