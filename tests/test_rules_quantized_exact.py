"""rules/quantized.py by hand: quantized ops called as functions (torch.ao.nn.quantized.functional), no
module rule in the way, with counts from the convolution's closed form N·C_out·L_out·C_in·k."""
from __future__ import annotations

import warnings

import torch
import torch.ao.nn.quantized as nnq
import torch.ao.nn.quantized.functional as qF
from torch import nn

import torchcount
from conftest import Fn


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
    output dimensions, 8·14 per sample (8,064 MACs until 2026-12-06)."""
    c = _profile(_Conv1d(), _q((2, 3, 16)))
    assert (c.macs, c.adds, c.mults) == (2 * 8 * 14 * 3 * 3, 224, 224)


def test_the_quantized_conv1d_module_with_and_without_a_bias():
    """nnq.Conv1d(3, 8, 3), priced by its module rule, on 2×3×16: the functional op's 2,016 MACs, 224
    bias additions and 224 requantizations; without a bias, no additions."""
    qx = _q((2, 3, 16))
    c = _profile(nnq.Conv1d(3, 8, 3), qx)
    assert (c.macs, c.adds, c.mults) == (2 * 8 * 14 * 3 * 3, 224, 224)
    c = _profile(nnq.Conv1d(3, 8, 3, bias=False), qx)
    assert (c.macs, c.adds, c.mults) == (2 * 8 * 14 * 3 * 3, 0, 224)


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


def test_a_static_quantized_linear_module():
    """nnq.Linear(16, 8) on a quantized 5×16 input: rows·n·k = 5·16·8 = 640 MACs, and per output
    (5·8 = 40) a bias addition and a requantization; parameters (16 + 1)·8 = 136."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = torchcount.profile(nnq.Linear(16, 8).eval(), _q((5, 16)))
    assert report.complete and report.row("").rule == "quantized.quantized_linear"
    c = report.total.cost
    assert (c.macs, c.adds, c.mults, c.cmps) == (640, 40, 40, 0)
    assert report.total.params == 136


def test_a_quantized_linears_explain_shows_its_parameters_formula():
    """A quantized Linear registers no parameter of its own: its packed weight and bias are in its
    ``_packed_params`` child, which its rule covers. explain showed a bare ``params = 136`` there, where
    a float Linear shows the worked line; it now shows the rule's (n + 1)·k = (16 + 1)×8 = 136 (a
    dynamic one's too), which agrees with the row's 136."""
    for layer in (nnq.Linear(16, 8).eval(), torch.ao.nn.quantized.dynamic.Linear(16, 8)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            report = torchcount.profile(layer, _q((5, 16)) if type(layer) is nnq.Linear else torch.randn(5, 16))
        row = report.row("")
        assert (row.params, row.self_params) == (136, 0)
        assert "  params = (n + 1)·k = (16 + 1)×8 = 136" in report.explain("").splitlines()


def test_a_one_layer_dynamic_quantized_lstm_quantizes_its_input_and_state():
    """quantize_dynamic(nn.LSTM(5, 8)), one layer, on T·N = 3·2 rows: per row the two gate products
    quantize their inputs, I + H = 13 elements (2 comparisons + 1 multiplication each), and dequantize
    2·G·H = 64 results: over the float layer, 2·13·6 = 156 comparisons and 13·6 + 64·6 = 462
    multiplications (the first layer's input is I = 5 wide, not H = 8)."""
    float_model = nn.Sequential(nn.LSTM(5, 8)).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = torch.ao.quantization.quantize_dynamic(float_model, {nn.LSTM}, dtype=torch.qint8)
    x = torch.randn(3, 2, 5)
    f, r = (_profile(m, x) for m in (float_model, q))
    assert (r.cmps - f.cmps, r.mults - f.mults) == (2 * 13 * 6, 13 * 6 + 64 * 6)
    assert r.macs == f.macs == 4 * 8 * (5 + 8) * 6


def test_quantized_clamp_compares_each_integer_with_each_bound():
    """quantized::clamp of n = 24 quantized elements (torch.clamp on a quantized tensor runs it): both
    bounds, 2 comparisons + 1 assignment per element (48, 24); one bound, 1 + 1 (24, 24); no
    requantization (the integers are clamped in place of the floats)."""
    q = _q((2, 12))
    c = _profile(Fn(lambda q: torch.ops.quantized.clamp(q, -0.5, 0.5)), q)
    assert (c.cmps, c.assigns, c.mults) == (48, 24, 0)
    assert _profile(Fn(lambda q: torch.clamp(q, -0.5, 0.5)), q) == c
    c = _profile(Fn(lambda q: torch.ops.quantized.clamp(q, -0.5, None)), q)
    assert (c.cmps, c.assigns, c.mults) == (24, 24, 0)


def test_quantized_instance_norm_of_an_empty_batch_costs_nothing():
    """quantized::instance_norm of a 0×6×3×3 batch: no instance, so no statistics, no affine, no
    requantization (0 everything, not a division by zero instances)."""
    w, b = torch.rand(6), torch.rand(6)
    c = _profile(Fn(lambda t: torch.ops.quantized.instance_norm(t, w, b, 1e-5, 0.1, 128)), _q((0, 6, 3, 3)))
    assert (c.adds, c.mults, c.divs, c.transc) == (0, 0, 0, 0)
