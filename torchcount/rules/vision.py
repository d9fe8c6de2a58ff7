"""Op rules for torchvision's detection ops, registered by name (torchvision need not be
imported for torchcount to load).

``roi_align`` (Mask/Faster R-CNN's box heads): each of the K·ph·pw output bins averages a
grid of s_h·s_w bilinear samples. Per sample: four corner weights from the fractional
position (2 subtractions, 4 multiplications), shared by the channels; per channel, the
weighted sum of four corners (4 multiplications, 3 additions). Per output element, the
samples' mean: s_h·s_w − 1 additions and a division. With ``sampling_ratio ≤ 0`` the grid
adapts to each box's size (⌈box/bins⌉), which only the box values tell: then the op is
reported uncounted.

``ps_roi_align`` (position-sensitive, R-FCN): the same bilinear samples, but the kernel
recomputes each sample's weights per output element (each output channel reads its own input
channel). ``_roi_pool_backward``: each output gradient added into its bin's argmax (an upper
bound, as max pooling's backward: an empty bin adds nothing). ``roi_pool``/``ps_roi_pool`` and
``_ps_roi_pool_backward`` take a max or a mean over each bin's pixels, and a bin's extent in
pixels follows from the box coordinates: no rule, they are listed uncounted.

``nms``: per call of N boxes keeping K (the output's length), the CPU kernel computes the areas
(2 subtractions + 1 multiplication per box), sorts the scores, and tests the IoU of P pairs
(4 cmps for the intersection's corners, 2 subtractions + 2 cmps for its clamped sides, 1 mult,
2 additions + 1 division for the IoU, 1 cmp with the threshold), marking each of the N − K
suppressed boxes once (an assignment). P depends on which boxes suppress which: every pair of
kept boxes is tested and each suppressed box at least once, at most once per kept box before
it, K·(K − 1)/2 + N − K ≤ P ≤ K·(K − 1)/2 + K·(N − K). The bounds meet when K = 1 or K = N: those
calls are counted exactly; any other call is uncounted (with a note giving the bounds).
"""
from __future__ import annotations

import math

from ..cost import Cost, Term, worked
from ._util import schema_arg
from .registry import op_rule


@op_rule("torchvision::roi_align")
def roi_align(op) -> Cost | None:
    x, rois = op.args[0], op.args[1]
    ph, pw, ratio = int(op.args[3]), int(op.args[4]), int(op.args[5])
    if ratio <= 0:
        return None  # an adaptive grid: as many samples as each box is large
    k, c = rois.shape[0], x.shape[1]
    bins = k * ph * pw
    samples = bins * ratio * ratio
    outputs = bins * c
    return Cost.of(
        Term("mults", "corner weights (per sample)", "4·K·ph·pw·s²", worked("4×{}×{}×{}×{}²", k, ph, pw, ratio),
             4 * samples),
        Term("adds", "fractional offsets (per sample)", "2·K·ph·pw·s²", worked("2×{}×{}×{}×{}²", k, ph, pw, ratio),
             2 * samples),
        Term("mults", "weighted corners (per sample and channel)", "4·C·K·ph·pw·s²",
             worked("4×{}×{}", c, samples), 4 * c * samples),
        Term("adds", "corner sums (per sample and channel)", "3·C·K·ph·pw·s²", worked("3×{}×{}", c, samples),
             3 * c * samples),
        Term("adds", "sample sums (mean)", "C·K·ph·pw·(s² − 1)", worked("{}×({}² − 1)", outputs, ratio),
             outputs * (ratio * ratio - 1)),
        Term("divs", "divisions (mean)", "C·K·ph·pw", outputs, outputs),
    )


def _bilinear_samples(outputs: int, ratio: int, c_over: str, c_sub) -> tuple:
    """The worked terms of ``outputs`` output elements, each the mean of s·s bilinear samples whose
    weights are computed per output element (``ps_roi_align``)."""
    n = outputs * ratio * ratio
    per = worked("{}×{}²", c_sub, ratio)
    return (
        Term("adds", "fractional offsets (per output element and sample)", f"2·{c_over}·s²", worked("2×{}", per),
             2 * n),
        Term("mults", "corner weights (per output element and sample)", f"4·{c_over}·s²", worked("4×{}", per), 4 * n),
        Term("mults", "weighted corners (per output element and sample)", f"4·{c_over}·s²", worked("4×{}", per),
             4 * n),
        Term("adds", "corner sums (per output element and sample)", f"3·{c_over}·s²", worked("3×{}", per), 3 * n),
        Term("adds", "sample sums (mean)", f"{c_over}·(s² − 1)", worked("{}×({}² − 1)", c_sub, ratio),
             outputs * (ratio * ratio - 1)),
        Term("divs", "divisions (mean)", c_over, c_sub, outputs),
    )


@op_rule("torchvision::ps_roi_align")
def ps_roi_align(op) -> Cost | None:
    """``ps_roi_align(input (N, C_out·ph·pw, H, W), rois (K, 5), scale, ph, pw, s) -> (K, C_out, ph, pw)``:
    per output element s·s bilinear samples of its own input channel, the weights recomputed per
    element (as the CPU kernel does), then their mean. An adaptive grid (s ≤ 0) is uncounted."""
    ratio = int(schema_arg(op, "sampling_ratio"))
    if ratio <= 0:
        return None  # an adaptive grid: as many samples as each box is large
    k, c, ph, pw = op.outputs[0].shape
    return Cost.of(*_bilinear_samples(k * c * ph * pw, ratio, "K·C_out·ph·pw", worked("{}×{}×{}×{}", k, c, ph, pw)))


@op_rule("torchvision::_ps_roi_align_backward")
def ps_roi_align_backward(op) -> Cost | None:
    """``_ps_roi_align_backward(grad (K, C_out, ph, pw), rois, channel_mapping, …, sampling_ratio, …)``: per
    output gradient and sample the corner weights (2 adds + 4 mults, as the forward), the shares
    g·w/count (4 mults + 4 divs), each added into its corner of the input gradient (4 adds; an
    upper bound: a sample off the map adds nothing), as ``_roi_align_backward``."""
    ratio = int(schema_arg(op, "sampling_ratio"))
    if ratio <= 0:
        return None
    grad = op.args[0]
    k, c, ph, pw = grad.shape
    n = grad.numel * ratio * ratio
    per = worked("{}×{}×{}×{}×{}²", k, c, ph, pw, ratio)
    samples = "K·C_out·ph·pw·s²"
    return Cost.of(
        Term("adds", "fractional offsets (per output gradient and sample)", f"2·{samples}", worked("2×{}", per),
             2 * n),
        Term("mults", "corner weights (per output gradient and sample)", f"4·{samples}", worked("4×{}", per), 4 * n),
        Term("mults", "multiplications g·w (4 corners)", f"4·{samples}", worked("4×{}", per), 4 * n),
        Term("divs", "divisions by the sample count (4 corners)", f"4·{samples}", worked("4×{}", per), 4 * n),
        Term("adds", "additions (into the 4 corners)", f"4·{samples}", worked("4×{}", per), 4 * n))


@op_rule("torchvision::_roi_pool_backward")
def roi_pool_backward(op) -> Cost:
    """``_roi_pool_backward(grad (K, C, ph, pw), rois, argmax, …)``: each output gradient added into
    the input gradient at its bin's argmax (an upper bound, as max pooling's backward: an empty
    bin, argmax −1, adds nothing)."""
    n = op.args[0].numel
    return Cost.of(Term("adds", "additions (into each bin's argmax)", "K·C·ph·pw", n, n))


#: what one IoU test of ``nms`` costs: (category, count, what)
NMS_PAIR = (("cmps", 7, "comparisons (intersection corners 4, clamps 2, threshold 1)"),
            ("adds", 4, "additions (intersection sides 2, union 2)"),
            ("mults", 1, "multiplications (intersection area)"),
            ("divs", 1, "divisions (IoU)"))


def nms_pair_bounds(n: int, k: int) -> tuple[int, int]:
    """How many IoU tests ``nms`` of n boxes keeping k runs, at least and at most."""
    if n <= 1:
        return 0, 0
    kept_pairs = k * (k - 1) // 2
    return kept_pairs + (n - k), kept_pairs + k * (n - k)


@op_rule("torchvision::nms")
def nms(op) -> Cost | None:
    """``nms(dets (N, 4), scores (N,), iou_threshold) -> keep (K,)``, as the CPU kernel computes it:
    the areas (2 subs + 1 mult per box), a sort of the scores (priced as ``sort``), P IoU tests
    (7 cmps, 4 adds, 1 mult, 1 div each) and N − K suppressions (1 assignment each). P is exact
    only when K = 1 (the best box suppresses every other: N − 1 tests) or K = N (nothing
    suppressed: N·(N − 1)/2 tests); otherwise it depends on the boxes and the call is uncounted."""
    n = op.args[0].shape[0]
    k = op.outputs[0].numel
    low, high = nms_pair_bounds(n, k)
    if low != high:
        return None  # which boxes suppress which: only the values tell
    pairs = low
    steps = max(1, math.ceil(math.log2(n))) if n > 1 else 0
    terms = [Term("adds", "subtractions (box sides, areas)", "2·N", worked("2×{}", n), 2 * n),
             Term("mults", "multiplications (areas)", "N", n, n),
             Term("cmps", "comparisons (sort of the scores)", "N·⌈log2 N⌉", worked("{}×{}", n, steps), n * steps)]
    formula = "N − 1" if k == 1 and n > 1 else "N·(N − 1)/2"
    text = worked("{} − 1", n) if formula == "N − 1" else worked("{}×({} − 1)/2", n, n)
    for category, per, what in NMS_PAIR:
        terms.append(Term(category, f"{what}, per IoU test", f"{per}·({formula})", worked("{}×({})", per, text),
                          per * pairs))
    terms.append(Term("assigns", "suppressions", "N − K", worked("{} − {}", n, k), n - k))
    return Cost.of(*terms)
