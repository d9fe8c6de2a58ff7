"""Spec §3 (seed 004) without the receptive field: output size, parameters and
multiplications of one convolution, and the bottleneck comparison ("mults" convention)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from conftest import run


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_single_conv_output_params_multiplications(device):
    with torch.device(device):
        conv = nn.Conv2d(22, 224, kernel_size=3, stride=2, padding=0, bias=False)
    report = run(conv, torch.randn(1, 22, 38, 38, device=device), convention="mults")
    _, c, h, w = report.layers[0].output_shapes[0]
    m = (38 - 3 + 2 * 0) // 2 + 1
    assert (h, w, c) == (m, m, 224) == (18, 18, 224)
    assert report.total.params == 3 * 3 * 22 * 224 == 44_352
    assert report.total.flops == 18 * 18 * 224 * (3 * 3 * 22) == 14_370_048
    # the source writes 18·18 as 1437 and 1437·224·198 as 635,299,392 (it is 63,733,824): slips the
    # tool must not repeat
    assert report.total.flops != 635_299_392
    assert report.total.macs == report.total.flops  # no bias: multiplications are the MACs


def _bottleneck_reports():
    x = torch.randn(1, 250, 54, 54, device="meta")
    with torch.device("meta"):
        direct = nn.Conv2d(250, 48, 7, padding="same", bias=False)
        bottleneck = nn.Sequential(nn.Conv2d(250, 12, 1, bias=False),
                                   nn.Conv2d(12, 48, 7, padding="same", bias=False))
    return run(direct, x, convention="mults"), run(bottleneck, x, convention="mults")


def test_bottleneck_multiplications():
    a, b = _bottleneck_reports()
    assert a.total.flops == 54 * 54 * 48 * (7 * 7 * 250) == 1_714_608_000
    assert [r.flops for r in b.layers] == [54 * 54 * 12 * 250, 54 * 54 * 48 * (7 * 7 * 12)] \
        == [8_748_000, 82_301_184]
    assert b.total.flops == 91_049_184
    assert a.layers[0].output_shapes[0] == b.layers[1].output_shapes[0] == (1, 48, 54, 54)


def test_bottleneck_reduction():
    a, b = _bottleneck_reports()
    fewer = a.total.flops - b.total.flops
    assert fewer == 1_623_558_816
    assert f"{fewer / a.total.flops:.2%}" == "94.69%"


def test_bottleneck_reduction_via_compare():
    import torchcount

    a, b = _bottleneck_reports()
    comparison = torchcount.compare(a, b, convention="mults")
    assert comparison.ops.difference == 1_623_558_816
    assert round(comparison.reduction, 2) == 94.69  # in %
