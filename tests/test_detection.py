"""torchvision's detection ops by hand (nms, ps_roi_align and its gradient, roi_pool's gradient) and
detection models end to end: eval and a training step (the loss dict summed, ``.backward()``),
counted but for nms and the adaptive roi_align of Mask R-CNN's mask targets, the model left as
found. The sweep of docs/coverage.md ("Detection and segmentation") at 128×128 inputs.
"""
from __future__ import annotations

import pytest
import torch
import torchvision
from torchvision.models import detection
from torchvision.ops import nms, ps_roi_align, roi_pool

from conftest import Fn, run

NMS = "torchvision.nms.default"


def _complete(fn, *inputs):
    report = run(Fn(fn), *inputs)
    assert report.complete, report.uncounted
    return report.total.cost


# ---- nms -------------------------------------------------------------------------------------
def test_nms_keeping_every_box_is_counted_exactly():
    """N = 3 disjoint boxes, all kept (K = N): areas 2·3 subs + 3 mults, the sort 3·⌈log2 3⌉ = 6 cmps,
    every pair tested once, 3·2/2 = 3 IoU tests of 7 cmps + 4 adds + 1 mult + 1 div, no suppression."""
    boxes = torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]])
    c = _complete(lambda b, s: nms(b, s, 0.5), boxes, torch.tensor([0.9, 0.8, 0.7]))
    assert (c.adds, c.mults, c.divs, c.cmps, c.assigns) == (6 + 3 * 4, 3 + 3, 3, 6 + 3 * 7, 0)


def test_nms_keeping_one_box_is_counted_exactly():
    """N = 4 overlapping boxes, the best suppresses the other three (K = 1): N − 1 = 3 IoU tests, 3
    suppressions; the sort 4·2 = 8 cmps."""
    boxes = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 11], [0, 0, 11, 10], [1, 0, 10, 10]])
    c = _complete(lambda b, s: nms(b, s, 0.5), boxes, torch.tensor([0.9, 0.8, 0.7, 0.6]))
    assert (c.adds, c.mults, c.divs, c.cmps, c.assigns) == (8 + 3 * 4, 4 + 3, 3, 8 + 3 * 7, 3)


def test_nms_of_one_box_and_of_none():
    """N = 1: its area (2 subs + 1 mult), nothing to sort (1 score: no comparison), no IoU test, no
    suppression; N = 0: nothing at all."""
    c = _complete(lambda b, s: nms(b, s, 0.5), torch.tensor([[0.0, 0, 10, 10]]), torch.tensor([0.9]))
    assert (c.adds, c.mults, c.divs, c.cmps, c.assigns) == (2, 1, 0, 0, 0)
    assert _complete(lambda b, s: nms(b, s, 0.5), torch.zeros(0, 4), torch.zeros(0)).is_zero()


def test_nms_with_some_boxes_suppressed_is_uncounted_and_the_note_gives_the_bounds():
    """Two clusters of two boxes (N = 4, K = 2): between 2·1/2 + 2 = 3 and 1 + 2·2 = 5 IoU tests (here
    4: the first kept box tests all three, the second none left), which only the boxes tell: listed
    uncounted, never a partial count, with a note on what it would cost."""
    boxes = torch.tensor([[0.0, 0, 10, 10], [40, 40, 50, 50], [0, 0, 10, 11], [40, 40, 50, 51]])
    report = run(Fn(lambda b, s: nms(b, s, 0.5)), boxes, torch.tensor([0.9, 0.8, 0.7, 0.6]))
    assert [u.what for u in report.uncounted] == [NMS]
    assert report.total.cost.is_zero()
    note = [n for n in report.notes if n.startswith("torchvision.nms ×1 uncounted")]
    assert note and "K(K − 1)/2 + N − K ≤ P ≤ K(K − 1)/2 + K(N − K)" in note[0]
    from torchcount.rules.vision import nms_pair_bounds
    assert nms_pair_bounds(4, 2) == (3, 5)
    assert nms_pair_bounds(4, 1) == (3, 3) and nms_pair_bounds(4, 4) == (6, 6) and nms_pair_bounds(1, 1) == (0, 0)


def test_batched_nms_of_one_box_per_class_is_counted():
    """batched_nms offsets each class's boxes apart (counted aten ops), then one nms: with a box per
    class every box is kept (K = N), so the call is exact."""
    boxes = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 11], [0, 0, 11, 10]])
    report = run(Fn(lambda b, s, i: torchvision.ops.batched_nms(b, s, i, 0.5)), boxes,
                 torch.tensor([0.9, 0.8, 0.7]), torch.tensor([0, 1, 2]))
    assert report.complete, report.uncounted


# ---- position-sensitive RoI align, RoI pooling -----------------------------------------------
def test_ps_roi_align_by_hand():
    """K = 2 boxes, C_out = 2, 2×2 bins (8 input channels), s = 2: 16 output elements of 4 samples.
    Per sample 4 adds + 4 mults (weights, recomputed per element) + 4 mults + 3 adds (corners); per
    element 3 adds + 1 div (the mean). An adaptive grid is uncounted."""
    x = torch.randn(1, 8, 6, 6)
    rois = torch.tensor([[0, 0.0, 0, 4, 4], [0, 1, 1, 5, 4]])
    c = _complete(lambda x, r: ps_roi_align(x, r, 2, 1.0, 2), x, rois)
    n = 16 * 4
    assert (c.adds, c.mults, c.divs) == (4 * n + 3 * n + 16 * 3, 8 * n, 16)
    report = run(Fn(lambda x, r: ps_roi_align(x, r, 2, 1.0, -1)), x, rois)
    assert [u.what for u in report.uncounted] == ["torchvision.ps_roi_align.default"]


def test_ps_roi_align_gradient_by_hand():
    """As _roi_align_backward, per output gradient (16) and sample (4): 4 + 4 adds, 4 + 4 mults, 4 divs."""
    x = torch.randn(1, 8, 6, 6)
    rois = torch.tensor([[0, 0.0, 0, 4, 4], [0, 1, 1, 5, 4]])
    _, mapping = torch.ops.torchvision.ps_roi_align(x, rois, 1.0, 2, 2, 2)
    backward = torch.ops.torchvision._ps_roi_align_backward
    c = _complete(lambda g, r, m: backward(g, r, m, 1.0, 2, 2, 2, 1, 8, 6, 6), torch.randn(2, 2, 2, 2), rois, mapping)
    n = 16 * 4
    assert (c.adds, c.mults, c.divs) == (8 * n, 8 * n, 4 * n)


def test_roi_pool_is_uncounted_and_its_gradient_one_add_per_output():
    """roi_pool's max runs over as many pixels as each box covers (only the boxes tell): uncounted.
    Its gradient adds each of the K·C·ph·pw = 2·3·2·2 output gradients into its argmax."""
    x = torch.randn(1, 3, 6, 6, requires_grad=True)
    rois = torch.tensor([[0, 0.0, 0, 4, 4], [0, 1, 1, 5, 4]])
    report = run(Fn(lambda x, r: roi_pool(x, r, 2, 1.0)), x.detach(), rois)
    assert [u.what for u in report.uncounted] == ["torchvision.roi_pool.default"]
    _, argmax = torch.ops.torchvision.roi_pool(x.detach(), rois, 1.0, 2, 2)
    backward = torch.ops.torchvision._roi_pool_backward
    c = _complete(lambda g, r, a: backward(g, r, a, 1.0, 2, 2, 1, 3, 6, 6), torch.randn(2, 3, 2, 2), rois, argmax)
    assert (c.adds, c.mults, c.divs) == (24, 0, 0)


# ---- whole detection models ------------------------------------------------------------------
def _targets(n, masks=False):
    out = []
    for _ in range(n):
        t = {"boxes": torch.tensor([[10.0, 20, 70, 90], [30, 30, 100, 110]]), "labels": torch.tensor([1, 2])}
        if masks:
            m = torch.zeros(2, 128, 128, dtype=torch.uint8)
            m[0, 20:90, 10:70] = 1
            m[1, 30:110, 30:100] = 1
            t["masks"] = m
        out.append(t)
    return out


class Detector(torch.nn.Module):
    def __init__(self, model, targets):
        super().__init__()
        self.model, self.targets = model, targets

    def forward(self, images):
        return self.model(images)

    def train_step(self, images):
        loss = sum(self.model(images, self.targets).values())
        loss.backward()
        return loss


def _state(module):
    return module.training, {k: v.clone() for k, v in module.state_dict().items()}


def _left_as_found(module, state):
    training, saved = state
    assert module.training == training
    assert all(torch.equal(saved[k], v) for k, v in module.state_dict().items())
    assert all(p.grad is None for p in module.parameters())


def _profile(build, train, masks=False, **kwargs):
    torch.manual_seed(0)
    model = build(weights=None, weights_backbone=None, min_size=128, max_size=128, **kwargs)
    step = Detector(model, _targets(2, masks)).train(train)
    images = [torch.rand(3, 128, 128) for _ in range(2 if train else 1)]
    state = _state(step)
    if train:
        report = run(step, (images,), method="train_step")
    else:
        with torch.no_grad():
            report = run(step, (images,))
    _left_as_found(step, state)
    return report


def test_fcos_eval_and_training_step_are_counted_completely():
    """FCOS at 128×128 (random weights: no score passes the threshold, nms sees no box): everything
    counted, the training step too (sigmoid focal loss, GIoU loss, centerness BCE)."""
    for train in (False, True):
        report = _profile(detection.fcos_resnet50_fpn, train)
        assert report.complete, report.uncounted


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fasterrcnn_mobilenet_v3_large_320_fpn", "fasterrcnn_resnet50_fpn",
                                  "retinanet_resnet50_fpn", "maskrcnn_resnet50_fpn"])
def test_detection_training_steps_leave_only_nms_and_mask_targets_uncounted(name):
    """A training step of two 128×128 images: uncounted only nms (RPN proposals) and, for Mask R-CNN,
    the roi_align that projects each matched ground-truth mask onto its proposal (sampling_ratio −1,
    an adaptive grid: ⌈box/bins⌉ samples, only the boxes tell); its MACs equal to flop_counter's."""
    from torch.utils.flop_counter import FlopCounterMode

    build = getattr(detection, name)
    masks = name.startswith("mask")
    report = _profile(build, True, masks=masks)
    allowed = {NMS} | ({"torchvision.roi_align.default"} if masks else set())
    assert {u.what for u in report.uncounted} <= allowed
    torch.manual_seed(0)
    step = Detector(build(weights=None, weights_backbone=None, min_size=128, max_size=128), _targets(2, masks))
    with FlopCounterMode(display=False) as counter:
        step.train_step([torch.rand(3, 128, 128) for _ in range(2)])
    if "mobilenet" not in name:  # flop_counter takes a depthwise convolution's weight gradient as groups 1
        assert counter.get_total_flops() == 2 * report.total.macs


@pytest.mark.parametrize("op, fn", [
    ("torchvision.roi_align", lambda x, boxes: torchvision.ops.roi_align(x, boxes, 2, sampling_ratio=-1)),
    ("torchvision.ps_roi_align", lambda x, boxes: ps_roi_align(x, boxes, 2, sampling_ratio=0)),
    ("torchvision.roi_pool", lambda x, boxes: roi_pool(x, boxes, 2)),
])
def test_box_pooling_the_boxes_size_is_uncounted_with_a_note_saying_why(op, fn):
    """An adaptive roi_align grid and roi_pool's bins take as many pixels as each box covers: no formula,
    listed, and a note says why (a positive sampling_ratio is counted: the tests above)."""
    report = run(Fn(fn), torch.randn(1, 8, 6, 6), torch.tensor([[0, 0.0, 0.0, 3.0, 3.0]]))
    assert [u.what.rsplit(".", 1)[0] for u in report.uncounted] == [op]
    assert any(n.startswith(f"{op} ×1 uncounted: ") and "box" in n for n in report.notes)


def test_roi_align_sample_weights_are_the_kernels_four_subtractions_and_four_products():
    """One box, one bin, one sample (s = 1), one channel. torchvision's CPU kernel
    (roi_align_common.h) computes ly = y − y_low, lx = x − x_low, hy = 1 − ly, hx = 1 − lx (4 subtractions)
    and w1..w4 = hy·hx, hy·lx, ly·hx, ly·lx (4 mults), then w1·v1 + … + w4·v4 (4 mults + 3 adds) and
    the mean of one sample (0 adds, 1 div): 7 adds, 8 mults, 1 div. The same point through bilinear
    grid_sample weighs its corners with the same 4 side distances (rules/_grid.py). Read 5 adds until
    2026-12-06 (hy and hx were not counted)."""
    box = torch.tensor([[0, 0.7, 1.2, 2.9, 3.4]])
    c = _complete(lambda x, b: torchvision.ops.roi_align(x, b, 1, sampling_ratio=1), torch.randn(1, 1, 6, 6), box)
    assert (c.adds, c.mults, c.divs) == (7, 8, 1)
    report = run(Fn(lambda x, b: torchvision.ops.roi_align(x, b, 1, sampling_ratio=1)), torch.randn(1, 1, 6, 6), box)
    grid = run(Fn(lambda x, g: torch.nn.functional.grid_sample(x, g, align_corners=False)), torch.randn(1, 1, 6, 6),
               torch.zeros(1, 1, 1, 2))
    sides = [t.value for t in report.root.terms if t.what.startswith("distances to the four sides")]
    assert sides == [t.value for t in grid.root.terms if t.what.startswith("distances to the four sides")] == [4]
    # the backward recomputes them per output element, as does position-sensitive roi_align
    g = _complete(lambda gr, b: torch.ops.torchvision._roi_align_backward(gr, b, 1.0, 1, 1, 1, 1, 6, 6, 1, False),
                  torch.randn(1, 1, 1, 1), box)
    assert (g.adds, g.mults, g.divs) == (4 + 4, 4 + 4, 4)


def test_roi_aligns_worked_lines_write_every_symbol():
    """C = 4 channels, K = 3 boxes, 2×2 bins, s = 2: weighted corners 4·C·K·ph·pw·s² = 768, written
    4×4×3×2×2×2² (it read 4×4×48, the samples pre-multiplied), the mean's divisions C·K·ph·pw = 48."""
    boxes = torch.tensor([[0, 0, 0, 3.0, 3.0], [0, 1, 1, 4.0, 4.0], [0, 0, 0, 5.0, 5.0]])
    report = run(Fn(lambda x, b: torchvision.ops.roi_align(x, b, 2, sampling_ratio=2)), torch.randn(1, 4, 6, 6), boxes)
    lines = {t.what: (t.substituted, t.value) for t in report.root.terms}
    assert lines["weighted corners (per sample and channel)"] == ("4×4×3×2×2×2²", 768)
    assert lines["corner sums (per sample and channel)"] == ("3×4×3×2×2×2²", 576)
    assert lines["sample sums (mean)"] == ("4×3×2×2×(2² − 1)", 144)
    assert lines["divisions (mean)"] == ("4×3×2×2", 48)
