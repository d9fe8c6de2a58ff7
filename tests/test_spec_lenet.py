"""Spec §2 (seed 003): the LeNet-like parameter table with activation sizes, and FLOPs at
2 per MAC with bias not counted (the "2mac" convention)."""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from conftest import run

# (layer, activation shape as the source writes it H×W×C, activation size, params) — spec §2
SPEC_TABLE = [
    ("CONV1", (28, 28, 8), 6_272, 608),
    ("POOL1", (14, 14, 8), 1_568, 0),
    ("CONV2", (10, 10, 16), 1_600, 3_216),
    ("POOL2", (5, 5, 16), 400, 0),
    ("FC3", (120,), 120, 48_120),
    ("FC4", (84,), 84, 10_164),
    ("FC5", (10,), 10, 850),
]


def lenet():
    return nn.Sequential(
        nn.Conv2d(3, 8, 5), nn.MaxPool2d(2), nn.Conv2d(8, 16, 5), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10), nn.Softmax(dim=1),
    ).eval()


def test_lenet_parameter_table():
    report = run(lenet(), torch.randn(1, 3, 32, 32))
    rows = [r for r in report.layers if r.type not in ("Flatten", "Softmax")]
    assert len(rows) == len(SPEC_TABLE)
    for row, (name, shape, size, params) in zip(rows, SPEC_TABLE):
        out = row.output_shapes[0][1:]
        hwc = (out[1], out[2], out[0]) if len(out) == 3 else tuple(out)
        assert (hwc, row.activation, row.params) == (shape, size, params), name
    # the source's formulas: conv (m·n·l + 1)·k, FC (n + 1)·m, pooling 0
    assert rows[0].params == (5 * 5 * 3 + 1) * 8
    assert rows[2].params == (5 * 5 * 8 + 1) * 16
    assert rows[4].params == (400 + 1) * 120
    assert report.total.params == 608 + 3_216 + 48_120 + 10_164 + 850 == 62_958
    # the input row of the source: 32×32×3 = 3,072 elements
    assert report.layers[0].input_shapes[0] == (1, 3, 32, 32)


def test_activation_column_in_the_table():
    report = run(lenet(), torch.randn(1, 3, 32, 32))
    text = report.table(columns=["module", "activation", "params"])
    assert "activation" in text.splitlines()[2]
    for number in ("6,272", "1,568", "1,600", "48,120", "10,164"):
        assert number in text


def small_convnet():
    return nn.Sequential(nn.Conv2d(1, 5, 3), nn.Conv2d(5, 5, 3), nn.Flatten(),
                         nn.Linear(2880, 128), nn.Linear(128, 10))


def test_two_flops_per_mac_bias_not_counted():
    report = run(small_convnet(), torch.randn(1, 1, 28, 28), convention="2mac")
    per_layer = [r.flops for r in report.layers if r.type != "Flatten"]
    assert per_layer == [
        2 * 5 * (3 * 3) * 26 * 26,        # 60,840
        2 * 5 * (3 * 3 * 5) * 24 * 24,    # 259,200
        2 * (24 * 24 * 5) * 128,          # 737,280
        2 * 128 * 10,                     # 2,560
    ] == [60_840, 259_200, 737_280, 2_560]
    # The source (and spec §2) add these four up to 1,060,400: an arithmetic slip of 520.
    # 60,840 + 259,200 + 737,280 + 2,560 = 1,059,880, which is what the tool reports.
    assert report.total.flops == 1_059_880
    assert report.total.flops != 1_060_400


def test_two_mac_convention_equals_torch_flop_counter():
    model, x = small_convnet(), torch.randn(1, 1, 28, 28)
    with FlopCounterMode(display=False) as counter:
        model(x)
    assert run(model, x, convention="2mac").total.flops == counter.get_total_flops() == 1_059_880


def test_conv_output_shape_and_pooling_operations():
    # a 10×10×1 input through one 3×3 filter gives an 8×8×1 output: (n − f + 2p)/s + 1
    report = run(nn.Conv2d(1, 1, 3), torch.randn(1, 1, 10, 10))
    assert report.layers[0].output_shapes[0] == (1, 1, (10 - 3) // 1 + 1, 8)
    # the source's pooling "operations" (H/stride)·(W/stride)·depth are the output elements:
    # POOL1 of the LeNet, 28/2 · 28/2 · 8 = 1,568 (the tool's comparisons are (2·2 − 1) per output)
    report = run(lenet(), torch.randn(1, 3, 32, 32))
    pool1 = report.row("1")
    assert pool1.activation == (28 // 2) * (28 // 2) * 8 == 1_568
    assert pool1.cost.cmps == (2 * 2 - 1) * 1_568
