"""Spec §1 (seed 002): the AlexNet-like worksheet, row by row and in total, "worksheet" convention."""
from __future__ import annotations

import torch
from torch import nn

from conftest import run

# (type, output C×H×W or features, params, ops) — the spec's table, verbatim
SPEC_ROWS = [
    ("Conv2d", (64, 56, 56), 23_296, 73_056_256),
    ("ReLU", (64, 56, 56), 0, 401_408),
    ("MaxPool2d", (64, 28, 28), 0, 150_528),
    ("Conv2d", (192, 28, 28), 307_392, 240_995_328),
    ("ReLU", (192, 28, 28), 0, 301_056),
    ("MaxPool2d", (192, 14, 14), 0, 112_896),
    ("Conv2d", (384, 14, 14), 663_936, 130_131_456),
    ("ReLU", (384, 14, 14), 0, 150_528),
    ("Conv2d", (256, 14, 14), 884_992, 173_458_432),
    ("ReLU", (256, 14, 14), 0, 100_352),
    ("Conv2d", (256, 14, 14), 590_080, 115_655_680),
    ("ReLU", (256, 14, 14), 0, 100_352),
    ("MaxPool2d", (256, 6, 6), 0, 138_240),
    ("Dropout", (256, 6, 6), 0, 0),
    ("Linear", (4096,), 37_752_832, 37_752_832),
    ("ReLU", (4096,), 0, 8_192),
    ("Dropout", (4096,), 0, 0),
    ("Linear", (4096,), 16_781_312, 16_781_312),
    ("ReLU", (4096,), 0, 8_192),
    ("Linear", (1000,), 4_097_000, 4_097_000),
]
TOTAL_PARAMS, TOTAL_OPS = 61_100_840, 793_400_040


def worksheet_net() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(4, 2),
        nn.Dropout(), nn.Flatten(),
        nn.Linear(9216, 4096), nn.ReLU(), nn.Dropout(),
        nn.Linear(4096, 4096), nn.ReLU(),
        nn.Linear(4096, 1000),
    ).eval()


def _report(device="cpu"):
    with torch.device(device):
        model = worksheet_net()
    return run(model, torch.randn(1, 3, 227, 227, device=device), convention="worksheet")


def _check(report):
    rows = [r for r in report.layers if r.type != "Flatten"]  # the worksheet leaves the flatten implicit
    assert [(r.type, tuple(r.output_shapes[0][1:]), r.params, r.flops) for r in rows] == SPEC_ROWS
    flatten = next(r for r in report.layers if r.type == "Flatten")
    assert (flatten.params, flatten.flops) == (0, 0)
    assert report.total.params == TOTAL_PARAMS
    assert report.total.flops == TOTAL_OPS
    assert sum(r.flops for r in report.layers) == TOTAL_OPS
    assert report.complete


def test_worksheet_rows_and_total():
    _check(_report())


def test_worksheet_on_meta_tensors_gives_the_same_numbers():
    _check(_report("meta"))


def test_worksheet_rules_written_out():
    # conv: k·(c·w·h + 1)·H_out·W_out; linear: (n + 1)·k; ReLU 2/element; max-pool (w·h − 1)/output
    report = _report("meta")
    conv1, relu1, pool1 = report.layers[:3]
    assert conv1.flops == 64 * (3 * 11 * 11 + 1) * 56 * 56
    assert relu1.flops == 2 * 64 * 56 * 56
    assert pool1.flops == (2 * 2 - 1) * 64 * 28 * 28
    assert report.row("20").flops == (4096 + 1) * 1000
    # output size ⌊(M − w + 2p)/s⌋ + 1 of the first conv
    assert report.row("0").output_shapes[0][-1] == (227 - 11 + 2 * 2) // 4 + 1 == 56


def test_worksheet_explain_shows_the_worked_solution():
    text = _report("meta").explain("0")
    assert "((3×11×11) + 1)×64 = 23,296" in text
    assert "⌊(227 − 11 + 2×2)/4⌋ + 1 = 56" in text
    assert "73,056,256" in text
    assert "1×64×3×11×11×56×56 = 72,855,552" in text


def test_worksheet_explain_of_dropout_says_which_rule_made_it_zero():
    # a rule priced the eval-mode dropout; its explanation spoke of "the torch ops it ran"
    text = _report("meta").explain("13")
    assert "source: rule reshape.dropout" in text
    assert "params = 0" in text and "a dropout in eval mode" in text
    assert "the torch ops it ran" not in text


def test_worksheet_table_shows_the_spec_numbers():
    text = _report("meta").table()
    for number in ("23,296", "73,056,256", "240,995,328", "37,752,832", "61,100,840", "793,400,040"):
        assert number in text
    assert "[worksheet]" in text
