"""Quantization-aware training (rules/fake_quantize.py): the fake-quantize ops, the fused observer
op and its module, LSQ and its backward, each with counts derived by hand from the kernels'
per-element steps (q = round(x/s) + z; out = (clamp(q) − z)·s; mask = q in range), and a QAT model
prepared by torch.ao.quantization counted completely."""
from __future__ import annotations

import pytest
import torch
import torch.ao.quantization as tq
import torch.nn.functional as F
from torch import nn

import torchcount

from conftest import Fn, run

aten = torch.ops.aten
N = 4 * 16  # elements of the input below


def counts(c) -> tuple:
    return c.mults, c.adds, c.divs, c.cmps, c.assigns, c.macs, c.transc


def fake_quant(n: int, mask: bool) -> tuple:
    """(mults, adds, divs, cmps, assigns, macs, transc) of fake-quantizing n elements: ×1/s and ×s;
    + z and − z; round (1) and clamp (2 and an assignment); the mask: 2 bounds and their and."""
    return 2 * n, 2 * n, 0, 3 * n + (3 * n if mask else 0), n, 0, 0


def observer(n: int, channels: int) -> tuple:
    """A min and a max over each channel's elements, the two moving averages r + c·(v − r)
    per channel, then scale = (max − min)/range and zero point = q_min − round(min/scale),
    rounded and clamped."""
    return 2 * channels, 4 * channels + 2 * channels, 2 * channels, 2 * (n - channels) + 3 * channels, 0, 0, 0


def add(*parts) -> tuple:
    return tuple(map(sum, zip(*parts)))


def test_fake_quantize_ops_with_and_without_the_mask():
    x = torch.randn(4, 16)
    report = run(Fn(lambda x: aten.fake_quantize_per_tensor_affine(x, 0.1, 3, 0, 255)), x)
    assert report.complete
    c = report.total.cost
    assert counts(c) == fake_quant(N, mask=True)  # the composite op runs as its _cachemask form
    with torch.inference_mode():  # it reaches the recorder whole, and runs as its kernel does: the mask too
        c = run(Fn(lambda x: aten.fake_quantize_per_tensor_affine(x, 0.1, 3, 0, 255)), x).total.cost
    assert counts(c) == fake_quant(N, mask=True)
    c = run(Fn(lambda x: aten.fake_quantize_per_tensor_affine_cachemask(x, 0.1, 3, 0, 255)[0]), x).total.cost
    assert counts(c) == fake_quant(N, mask=True)
    scale, zero = torch.full((16,), 0.1), torch.zeros(16, dtype=torch.int32)
    c = run(Fn(lambda x: aten.fake_quantize_per_channel_affine_cachemask(x, scale, zero, 1, -128, 127)[0]), x).total.cost
    assert counts(c) == fake_quant(N, mask=True)  # per channel: the same steps per element
    c = run(Fn(lambda x: aten._fake_quantize_per_tensor_affine_cachemask_tensor_qparams(
        x, torch.tensor([0.1]), torch.tensor([0], dtype=torch.int32), torch.ones(1, dtype=torch.long), 0, 255)[0]),
        x).total.cost
    assert counts(c) == fake_quant(N, mask=True)


def test_fused_moving_average_observer_and_fake_quantize_module():
    x = torch.randn(4, 16)
    fq = tq.FusedMovingAvgObsFakeQuantize()  # per tensor: one channel
    report = run(fq, x)
    assert report.complete and report.root.rule == "fake_quantize.fused_moving_avg_obs_fake_quantize"
    assert counts(report.total.cost) == add(observer(N, 1), fake_quant(N, mask=True))
    assert "assumed" not in report.explain("")
    # its switches are read from the module: the observer off, then the fake quantization off too
    fq.disable_observer()
    assert counts(run(fq, x).total.cost) == fake_quant(N, mask=True)
    fq.disable_fake_quant()
    off = run(fq, x)
    assert off.total.flops == 0 and off.total.cost.bytes > 0  # a copy of x (and an all-true mask) is still written
    # per channel (axis 0 of 4): four minima and maxima, four moving averages, four scales
    per_channel = tq.FusedMovingAvgObsFakeQuantize(observer=tq.MovingAveragePerChannelMinMaxObserver, ch_axis=0,
                                                   qscheme=torch.per_channel_symmetric, dtype=torch.qint8,
                                                   quant_min=-128, quant_max=127)
    assert counts(run(per_channel, x).total.cost) == add(observer(N, 4), fake_quant(N, mask=True))


def test_the_fused_observer_costs_what_the_unfused_observer_ops_cost():
    """Its min and max against those of FakeQuantize's observer module, which runs aminmax as an op."""
    x = torch.randn(4, 16)
    unfused = run(tq.FakeQuantize(), x)
    observer_row = unfused.row("activation_post_process")
    fused = run(tq.FusedMovingAvgObsFakeQuantize(), x)
    aminmax = sum(term.value for term in observer_row.terms if "aminmax" in term.what)
    fused_min_max = sum(term.value for term in fused.root.terms if "min and max per channel" in term.what)
    assert aminmax == fused_min_max == 2 * (N - 1)
    assert unfused.complete and fused.complete


def test_the_fused_op_outside_its_module_and_the_module_on_meta_say_the_switches_are_assumed_on():
    x = torch.randn(4, 16)
    on = torch.ones(1, dtype=torch.long)

    def fused(x):
        return torch.fused_moving_avg_obs_fake_quant(
            x, on, on, torch.zeros(()), torch.zeros(()), torch.ones(1), torch.zeros(1, dtype=torch.int32),
            0.01, 0, 255, 0, False, False)

    report = run(Fn(fused), x)
    assert counts(report.total.cost) == add(observer(N, 1), fake_quant(N, mask=True))
    assert "observer assumed on, its switch is a tensor" in report.explain("")
    with torch.device("meta"):
        fq = tq.FusedMovingAvgObsFakeQuantize()
    report = run(fq, torch.randn(4, 16, device="meta"))
    assert counts(report.total.cost) == add(observer(N, 1), fake_quant(N, mask=True))
    assert "fake quantization assumed on, a meta tensor has no value" in report.explain("")


def test_the_fused_op_outside_its_module_per_row_observes_each_channel_of_its_axis():
    """``torch.fused_moving_avg_obs_fake_quant`` with ``per_row_fake_quant=True`` (on ``ch_axis=0``, the
    only axis the op allows) of a 4×16 input: 4 channels of 16 elements, each its minimum and maximum
    (2·(64 − 4) comparisons), its two moving averages, its scale and zero point, then every element
    fake-quantized with the mask; not per row (the default), one channel: 2·(64 − 1) comparisons. The
    op's ch_axis, per_row and symmetric arguments are its 11th to 13th, given positionally here."""
    x = torch.randn(4, 16)
    on = torch.ones(1, dtype=torch.long)

    def fused(per_row):
        channels = 4 if per_row else 1
        return lambda x: torch.fused_moving_avg_obs_fake_quant(
            x, on, on, torch.zeros(channels), torch.zeros(channels), torch.ones(channels),
            torch.zeros(channels, dtype=torch.int32), 0.01, -128, 127, 0, per_row, False)

    assert counts(run(Fn(fused(True)), x).total.cost) == add(observer(N, 4), fake_quant(N, mask=True))
    assert counts(run(Fn(fused(False)), x).total.cost) == add(observer(N, 1), fake_quant(N, mask=True))


class LSQ(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor([0.1]))
        self.zero_point = nn.Parameter(torch.tensor([2.0]))

    def forward(self, x):
        return torch._fake_quantize_learnable_per_tensor_affine(x, self.scale, self.zero_point, 0, 255, 1.0)

    def train_step(self, x):
        self(x).square().sum().backward()


def test_learnable_fake_quantize_and_its_backward():
    x = torch.randn(4, 16)
    # forward: the zero point rounded and clamped (3 comparisons, an assignment), then the elements
    zero_point = (0, 0, 0, 3, 1, 0, 0)
    assert counts(run(LSQ(), x).total.cost) == add(zero_point, fake_quant(N, mask=False))
    step = run(LSQ(), x, method="train_step")
    assert step.complete, step.uncounted
    lsq = LSQ()
    c = run(Fn(lambda dy, x: aten._fake_quantize_learnable_per_tensor_affine_backward(
        dy, x, lsq.scale.detach(), lsq.zero_point.detach(), 0, 255, 1.0)[0]), torch.randn(4, 16), x).total.cost
    # per element (in range): x/s, dy·mask, ·s and ds's three factors; + z, − z, x̂ − x; round, two range
    # tests, the clamp's two; then ds and dz summed over the elements
    assert counts(c) == (6 * N, 3 * N + 2 * (N - 1), 0, 5 * N, 0, 0, 0)


def test_learnable_per_channel_fake_quantize_rounds_each_channels_zero_point():
    # per channel along dim 1 of (4, 16): 16 zero points, each rounded and clamped (3 comparisons,
    # an assignment): 48 and 16, then the 64 elements as per tensor; the backward sums ds and dz per
    # channel: 2·(64 − 16) additions
    x, scale, zero_point = torch.randn(4, 16), torch.full((16,), 0.1), torch.full((16,), 2.0)
    c = run(Fn(lambda x: torch._fake_quantize_learnable_per_channel_affine(x, scale, zero_point, 1, 0, 255, 1.0)),
            x).total.cost
    assert counts(c) == add((0, 0, 0, 3 * 16, 16, 0, 0), fake_quant(N, mask=False))
    c = run(Fn(lambda dy, x: aten._fake_quantize_learnable_per_channel_affine_backward(
        dy, x, scale, zero_point, 1, 0, 255, 1.0)[0]), torch.randn(4, 16), x).total.cost
    assert counts(c) == (6 * N, 3 * N + 2 * (N - 16), 0, 5 * N, 0, 0, 0)


class QATNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.quant, self.dequant = tq.QuantStub(), tq.DeQuantStub()
        self.conv, self.bn, self.relu = nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU()
        self.fc = nn.Linear(8 * 6 * 6, 10)

    def forward(self, x):
        return self.dequant(self.fc(self.relu(self.bn(self.conv(self.quant(x)))).flatten(1)))

    def train_step(self, x, y):
        F.cross_entropy(self(x), y).backward()


@pytest.mark.parametrize("method", [None, "train_step"])
def test_a_model_prepared_for_qat_is_counted_completely(method):
    model = QATNet().train()
    model.qconfig = tq.get_default_qat_qconfig("x86")
    tq.fuse_modules_qat(model, [["conv", "bn", "relu"]], inplace=True)
    tq.prepare_qat(model, inplace=True)
    inputs = (torch.randn(2, 3, 8, 8),) + ((torch.tensor([1, 7]),) if method else ())
    report = torchcount.profile(model, inputs, method=method, warn=False) if method else \
        torchcount.profile(model, inputs[0], warn=False)
    assert report.complete, report.uncounted
    # the fc layer's weight (10×288, per channel on axis 0) through its fused fake quantizer
    row = report.row("fc.weight_fake_quant")
    assert counts(row.cost) == add(observer(2880, 10), fake_quant(2880, mask=True))
