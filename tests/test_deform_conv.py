"""torchvision's deformable convolution (``torchvision.ops.deform_conv2d``, ``DeformConv2d``) by hand:
the forward with and without a modulation mask, groups and offset groups, its GEMM MACs against a
regular convolution's (torchcount's Conv2d rule and torch.utils.flop_counter), the backward op by
hand, and a DeformConv2d training step counted completely with every worked line consistent.

S = N·C·kh·kw·Ho·Wo samples (every input channel at every kernel tap and output position), M =
N·K·(C/G)·kh·kw·Ho·Wo MACs (a convolution's), P = N·kh·kw·Ho·Wo sampling points per offset group.
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

torchvision = pytest.importorskip("torchvision")
from torchvision.ops import DeformConv2d, deform_conv2d  # noqa: E402

from conftest import Fn, run  # noqa: E402
from test_worked_terms import evaluate  # noqa: E402


def _complete(fn, *inputs):
    report = run(Fn(fn), *inputs)
    assert report.complete, report.uncounted
    return report.total.cost


def _sizes(n, c, k, g, d, kh, kw, ho, wo):
    return n * c * kh * kw * ho * wo, n * k * (c // g) * kh * kw * ho * wo, n * kh * kw * ho * wo


# ---- forward ---------------------------------------------------------------------------------
def test_deform_conv2d_without_mask_by_hand():
    """N = 1, C = 2, 4×4, K = 3, a 2×2 kernel: Ho = Wo = 3, S = 1·2·2·2·3·3 = 72 samples. Per sample
    2 adds (the point), 4 adds + 4 mults (side distances, corner weights), 4 mults + 3 adds (the
    corners); M = 1·3·2·2·2·3·3 = 216 MACs; the bias (zeros when none is given, added all the same)
    1·3·3·3 = 27 adds."""
    x, w, off = torch.randn(1, 2, 4, 4), torch.randn(3, 2, 2, 2), torch.randn(1, 8, 3, 3)
    c = _complete(lambda x, o, w: deform_conv2d(x, o, w), x, off, w)
    assert (c.macs, c.mults, c.adds, c.divs, c.cmps) == (216, 8 * 72, 9 * 72 + 27, 0, 0)


def test_deform_conv2d_with_mask_adds_one_mult_per_sample():
    """DCNv2: the same shapes, each sample modulated by its mask value: 72 mults more."""
    x, w, off, m = torch.randn(1, 2, 4, 4), torch.randn(3, 2, 2, 2), torch.randn(1, 8, 3, 3), torch.rand(1, 4, 3, 3)
    c = _complete(lambda x, o, w, m: deform_conv2d(x, o, w, mask=m), x, off, w, m)
    assert (c.macs, c.mults, c.adds) == (216, 9 * 72, 9 * 72 + 27)


def test_deform_conv2d_groups_offset_groups_bias_stride_padding():
    """N = 2, C = 4, 5×5, K = 6, G = 2, D = 2, a 3×3 kernel, stride 2, padding 1: Ho = Wo = 3,
    S = 2·4·9·9 = 648 (the offset groups share offsets, not the arithmetic: per channel), M =
    2·6·2·9·9 = 1944, bias 2·6·9 = 108 adds; with the mask 9 mults per sample, else 8."""
    x, w, b = torch.randn(2, 4, 5, 5), torch.randn(6, 2, 3, 3), torch.randn(6)
    off, m = torch.randn(2, 2 * 2 * 9, 3, 3), torch.rand(2, 2 * 9, 3, 3)
    s, macs, _ = _sizes(2, 4, 6, 2, 2, 3, 3, 3, 3)
    assert (s, macs) == (648, 1944)
    c = _complete(lambda x, o, w, b, m: deform_conv2d(x, o, w, b, stride=2, padding=1, mask=m), x, off, w, b, m)
    assert (c.macs, c.mults, c.adds) == (macs, 9 * s, 9 * s + 108)
    c = _complete(lambda x, o, w, b: deform_conv2d(x, o, w, b, stride=2, padding=1), x, off, w, b)
    assert (c.macs, c.mults, c.adds) == (macs, 8 * s, 9 * s + 108)


@pytest.mark.parametrize("c_in, c_out, k, stride, padding, dilation, groups, offset_groups", [
    (3, 8, 3, 1, 1, 1, 1, 1), (4, 6, 3, 2, 0, 1, 2, 2), (8, 8, (3, 2), (1, 2), (1, 0), (2, 1), 4, 1),
    (6, 4, 1, 1, 0, 1, 2, 3)])
def test_deform_conv2d_gemm_macs_equal_a_convolutions(c_in, c_out, k, stride, padding, dilation, groups,
                                                       offset_groups):
    """The GEMM per weight group has a regular convolution's MACs: torchcount's Conv2d rule and
    torch.utils.flop_counter (2 FLOPs a MAC) on an nn.Conv2d of the same shapes agree with it."""
    from torch.utils.flop_counter import FlopCounterMode

    torch.manual_seed(0)
    conv = nn.Conv2d(c_in, c_out, k, stride, padding, dilation, groups)
    deform = DeformConv2d(c_in, c_out, k, stride, padding, dilation, groups)
    x = torch.randn(2, c_in, 9, 8)
    with torch.no_grad():
        y = conv(x)
    kh, kw = deform.weight.shape[2:]
    off = torch.randn(2, 2 * offset_groups * kh * kw, *y.shape[2:])
    conv_macs = run(conv, x).total.macs
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        conv(x)
    report = run(deform, x, off)
    assert report.complete, report.uncounted
    n, c, k_out, (ho, wo) = 2, c_in, c_out, y.shape[2:]
    assert report.total.macs == conv_macs == counter.get_total_flops() // 2 == \
        _sizes(n, c, k_out, groups, offset_groups, kh, kw, ho, wo)[1]


# ---- backward --------------------------------------------------------------------------------
@pytest.mark.parametrize("use_mask", [True, False])
def test_deform_conv2d_backward_by_hand(use_mask):
    """N = 2, C = 4, 5×5, K = 6, G = 2, D = 2, 3×3 kernel, padding 1: Ho = Wo = 5, S = 2·4·9·25 = 1800,
    M = 2·6·2·9·25 = 5400, P = 2·9·25 = 450, sums P·(C − D) = 900. Two GEMMs (2·M MACs). Per sample:
    the offset's gradient per coordinate 2 + 5 adds, 2 + 1 (+1 mask) mults, the input's 2 + 16 + 4 adds,
    4 + 4 (+4) mults, the im2col again 9 adds, 8 (+1) mults, the mask's 7 adds, 9 mults; then the
    offset's sums 2·900, the mask's 900, the bias's 6·(2·25 − 1) adds and 6 mults (ones_like ×)."""
    x, w, b = torch.randn(2, 4, 5, 5), torch.randn(6, 2, 3, 3), torch.randn(6)
    off, m, g = torch.randn(2, 36, 5, 5), torch.rand(2, 18, 5, 5) if use_mask else torch.zeros(2, 1), \
        torch.randn(2, 6, 5, 5)
    backward = torch.ops.torchvision._deform_conv2d_backward
    c = _complete(lambda g, x, w, o, m, b: backward(g, x, w, o, m, b, 1, 1, 1, 1, 1, 1, 2, 2, use_mask),
                  g, x, w, off, m, b)
    s, macs, p = _sizes(2, 4, 6, 2, 2, 3, 3, 5, 5)
    assert (s, macs, p) == (1800, 5400, 450)
    sums, bias_adds = p * (4 - 2), 6 * (2 * 25 - 1)
    if use_mask:
        adds, mults = 52 * s + 3 * sums + bias_adds, 38 * s + 6
    else:
        adds, mults = 45 * s + 2 * sums + bias_adds, 22 * s + 6
    assert (c.macs, c.adds, c.mults, c.divs, c.cmps) == (2 * macs, adds, mults, 0, 0)


class _Dcn(nn.Module):
    """A DCNv2 block as detectors build it: the offsets and the mask predicted by a convolution."""

    def __init__(self, c_in=4, c_out=6, groups=2, offset_groups=2):
        super().__init__()
        self.offset_groups = offset_groups
        self.predict = nn.Conv2d(c_in, 3 * offset_groups * 9, 3, padding=1)
        self.deform = DeformConv2d(c_in, c_out, 3, padding=1, groups=groups)

    def forward(self, x):
        o1, o2, mask = torch.chunk(self.predict(x), 3, dim=1)
        return self.deform(x, torch.cat((o1, o2), dim=1), torch.sigmoid(mask))

    def train_step(self, x):
        loss = self(x).square().mean()
        loss.backward()
        return loss


def test_deform_conv2d_training_step_is_counted_completely():
    """A training step of a DCNv2 block: every op counted (coverage 1.0), the deformable convolution's
    three GEMMs (forward, columns' and weight's gradients) among its MACs, every worked line consistent."""
    torch.manual_seed(0)
    block = _Dcn()
    report = run(block, torch.randn(2, 4, 5, 5), method="train_step")
    assert report.complete and report.coverage == 1.0, report.uncounted
    assert all(p.grad is None for p in block.parameters())
    _, macs, _ = _sizes(2, 4, 6, 2, 2, 3, 3, 5, 5)
    rows = {id(row): row for row in (report.root, *report.layers)}.values()  # the root may be a layer row too
    terms = [t for row in rows for t in row.terms]
    deform_macs = sum(t.value for t in terms if t.category == "macs" and "weight group" in t.what)
    assert deform_macs == 3 * macs
    wrong = [f"{t.what}: {t.substituted} = {t.value}" for t in terms if evaluate(t.substituted) != t.value]
    assert not wrong, wrong
