"""Every worked line a student reads (``what = formula = substituted = value``) is consistent:
the substituted expression, evaluated, gives the value printed after it. Checked over every term
of a zoo of models that runs most rules (torchvision CNNs and a ViT on the meta device, recurrent
layers, transformer layers, attention with kdim/vdim, audio front ends, norms, pools, activations)."""
from __future__ import annotations

import math
import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import torchcount

_SYMBOLS = {"×": "*", "·": "*", "−": "-", "÷": "/", "⌊": "math.floor(", "⌋": ")", "⌈": "math.ceil(", "⌉": ")",
            "√": "math.sqrt"}


def evaluate(text: str) -> float:
    """A substituted line as Python arithmetic: ×, ·, −, ÷, ⌊⌋, ⌈⌉, √, log2, min, max."""
    for symbol, python in _SYMBOLS.items():
        text = text.replace(symbol, python)
    text = re.sub(r"(?<![A-Za-z_\d.])(\d+)\s*\(", r"\1*(", text)  # 2(n − 1) → 2*(n − 1)
    text = text.replace("²", "**2")  # s² (roi_align's samples per bin)
    return eval(text, {"__builtins__": {}}, {"math": math, "log2": math.log2, "min": min, "max": max})


class _Sampling(nn.Module):
    """F.grid_sample in every interpolation mode, 2-D and 3-D, on an affine grid."""

    def forward(self, x, v):
        grid = F.affine_grid(torch.eye(2, 3).repeat(2, 1, 1) * 0.9, [2, 1, 4, 5], align_corners=False)
        grid3 = F.affine_grid(torch.eye(3, 4).repeat(2, 1, 1) * 0.9, [2, 1, 2, 3, 4], align_corners=False)
        out = [F.grid_sample(x, grid, mode=m, align_corners=False).sum() for m in ("bilinear", "nearest", "bicubic")]
        out += [F.grid_sample(v, grid3, mode=m, align_corners=False).sum() for m in ("bilinear", "nearest")]
        return torch.stack(out)


class _Nms(nn.Module):
    def forward(self, boxes, scores):
        from torchvision.ops import nms

        return nms(boxes, scores, 0.5)


class _Deform(nn.Module):
    """A DCNv2 layer (torchvision's DeformConv2d with a mask, 2 weight groups, 2 offset groups), its
    offsets and mask predicted by a convolution."""

    def __init__(self):
        super().__init__()
        from torchvision.ops import DeformConv2d

        self.predict = nn.Conv2d(4, 3 * 2 * 9, 3, padding=1)
        self.deform = DeformConv2d(4, 6, 3, padding=1, groups=2)

    def forward(self, x):
        o1, o2, mask = torch.chunk(self.predict(x), 3, dim=1)
        return self.deform(x, torch.cat((o1, o2), dim=1), torch.sigmoid(mask))


def _zoo():
    tv = pytest.importorskip("torchvision")
    ta = pytest.importorskip("torchaudio")
    out = []
    with torch.device("meta"):
        for name in ("alexnet", "resnet18", "mobilenet_v3_small", "efficientnet_b0", "vit_b_16", "convnext_tiny",
                     "squeezenet1_0", "shufflenet_v2_x0_5"):
            out.append((name, getattr(tv.models, name)().eval(), (torch.zeros(1, 3, 224, 224, device="meta"),)))
    torch.manual_seed(0)
    out += [
        ("lstm", nn.LSTM(16, 32, 2, bidirectional=True, proj_size=8, batch_first=True), (torch.randn(2, 5, 16),)),
        ("gru", nn.GRU(16, 32, 2, batch_first=True), (torch.randn(2, 5, 16),)),
        ("rnn cell", nn.RNNCell(8, 4), (torch.randn(3, 8),)),
        ("encoder layer", nn.TransformerEncoderLayer(32, 4, 64, batch_first=True), (torch.randn(2, 7, 32),)),
        ("decoder layer", nn.TransformerDecoderLayer(32, 4, 64, batch_first=True),
         (torch.randn(2, 7, 32), torch.randn(2, 5, 32))),
        ("attention kdim vdim", nn.MultiheadAttention(32, 4, kdim=16, vdim=24),
         (torch.randn(7, 2, 32), torch.randn(5, 2, 16), torch.randn(5, 2, 24))),
        ("mel", ta.transforms.MelSpectrogram(n_fft=400, n_mels=40), (torch.randn(1, 4000),)),
        ("mfcc", ta.transforms.MFCC(n_mfcc=13), (torch.randn(1, 4000),)),
        ("upsampling", nn.Sequential(nn.ConvTranspose2d(4, 8, 3, stride=2, groups=2, dilation=2),
                                     nn.Upsample(scale_factor=2, mode="bilinear"), nn.GroupNorm(2, 8),
                                     nn.InstanceNorm2d(8), nn.LocalResponseNorm(3)), (torch.randn(1, 4, 6, 6),)),
        ("pools", nn.Sequential(nn.Conv1d(3, 6, 5, padding=2, dilation=2), nn.MaxPool1d(3, 2, 1, ceil_mode=True),
                                nn.AvgPool1d(2), nn.LPPool1d(2, 2), nn.AdaptiveAvgPool1d(3), nn.Flatten(),
                                nn.Linear(18, 5), nn.Softmax(-1), nn.LogSoftmax(-1)), (torch.randn(2, 3, 40),)),
        ("activations", nn.Sequential(nn.Embedding(10, 6), nn.LayerNorm(6), nn.GELU(), nn.SiLU(), nn.Mish(),
                                      nn.Hardswish(), nn.ELU(), nn.Softplus(), nn.PReLU()),
         (torch.randint(0, 10, (2, 5)),)),
        ("training norms", nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU()).train(),
         (torch.randn(2, 3, 8, 8),)),
        ("bilinear", nn.Bilinear(4, 5, 6), (torch.randn(3, 4), torch.randn(3, 5))),
        ("grid sample", _Sampling(), (torch.randn(2, 3, 6, 6), torch.randn(2, 3, 3, 4, 5))),
        ("roi align", tv.ops.RoIAlign((2, 3), 0.5, sampling_ratio=2),
         (torch.randn(2, 4, 8, 8), torch.tensor([[0, 0.0, 0, 6, 6], [1, 2, 2, 9, 7]]))),
        ("ps roi align", tv.ops.PSRoIAlign((2, 2), 1.0, sampling_ratio=2),
         (torch.randn(1, 8, 6, 6), torch.tensor([[0, 0.0, 0, 4, 4], [0, 1, 1, 5, 4]]))),
        ("nms keeping every box", _Nms(), (torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]]),
                                           torch.tensor([0.9, 0.8, 0.7]))),
        ("deform conv", _Deform(), (torch.randn(2, 4, 5, 5),)),
        ("nms keeping one box", _Nms(), (torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 11], [0, 0, 11, 10]]),
                                         torch.tensor([0.9, 0.8, 0.7]))),
    ]
    return out


def test_every_substituted_line_evaluates_to_its_value():
    checked, wrong = 0, []
    for name, model, inputs in _zoo():
        report = torchcount.profile(model, inputs, warn=False)
        for row in (report.root, *report.layers):
            for term in row.terms:
                got = evaluate(term.substituted)
                checked += 1
                # a value from a non-integer formula (N·log2 N) is that number rounded
                if not (got == term.value or (got != int(got) and round(got) == term.value)):
                    wrong.append(f"{name} {row.name}: {term.what} = {term.formula} = {term.substituted} = "
                                 f"{term.value:,} (evaluates to {got:,})")
    assert not wrong, "\n".join(wrong[:20])
    assert checked > 2000  # the zoo ran the rules: thousands of lines


def test_every_count_is_a_whole_number_of_operations():
    """Every term's value and every row's cost category is an int: a count of operations or bytes. A
    true division slipped into a rule (n / 2 for n // 2) gave a float that compared equal to the int
    where it divided exactly, and passed every test."""
    floats = []
    for name, model, inputs in _zoo():
        report = torchcount.profile(model, inputs, warn=False)
        for row in (report.root, *report.layers):
            floats += [f"{name} {row.name}: {t.what} = {t.value!r}" for t in row.terms if type(t.value) is not int]
            floats += [f"{name} {row.name}: {field} = {value!r}" for cost in (row.cost, row.self_cost)
                       for field, value in zip(cost._fields[:9], cost) if type(value) is not int]
    assert not floats, "\n".join(floats[:20])


@pytest.mark.parametrize("text, value", [
    ("1×64×3×11×11×56×56", 72_855_552), ("⌊(227 − 11 + 2×2)/4⌋ + 1", 56), ("1×(128 + 2×128)×512", 196_608),
    ("2(3 − 1)", 4), ("min(2×48, 108)×(2 − 1)", 96), ("21×400×log2(400)", 21 * 400 * math.log2(400)),
    ("4×2×2×3×2²", 192),
])
def test_the_evaluator_itself(text, value):
    assert evaluate(text) == pytest.approx(value)
