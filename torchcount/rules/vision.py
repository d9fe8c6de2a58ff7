"""Op rules for torchvision's detection ops, registered by name (torchvision need not be
imported for torchcount to load).

``roi_align`` (Mask/Faster R-CNN's box heads): each of the K·ph·pw output bins averages a
grid of s_h·s_w bilinear samples. Per sample: four corner weights from the fractional
position, as the CPU kernel computes them (ly = y − y_low, lx = x − x_low, hy = 1 − ly,
hx = 1 − lx: 4 subtractions; w1 = hy·hx … w4 = ly·lx: 4 multiplications; grid_sample's and
deform_conv2d's bilinear lines, rules/_grid.py), shared by the channels; per channel, the
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

``deform_conv2d`` (DCN v1, v2 with a mask) and ``_deform_conv2d_backward``: shape-determined, as
the CPU kernel computes them: bilinear samples of every input channel at every kernel tap and output
position (their weights the lines grid_sample's rules use, rules/_grid.py), a regular convolution's
GEMM MACs per weight group, the bias; the backward's col2im, offset and mask gradients, the weight's
GEMM after a second im2col, the bias's sum. Upper bounds where a sample or corner falls off the image.
"""
from __future__ import annotations

import math

from ..cost import Cost, Term, worked
from ._grid import corner_weights
from ._util import schema_arg
from .registry import op_rule, why_uncounted


_ADAPTIVE = ("its sampling_ratio ≤ 0 makes the grid adapt to each box: as many samples per bin as the box is "
             "large, which the boxes' values set (a call with sampling_ratio > 0 is counted)")
for _uncounted_op in ("torchvision.roi_align", "torchvision.ps_roi_align", "torchvision._roi_align_backward",
              "torchvision._ps_roi_align_backward"):
    why_uncounted(_uncounted_op, _ADAPTIVE)
for _uncounted_op in ("torchvision.roi_pool", "torchvision.ps_roi_pool", "torchvision._ps_roi_pool_backward"):
    why_uncounted(_uncounted_op, "a max or a mean over each bin's pixels, as many as the box covers: the boxes' values "
                         "set it (no formula)")


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
        Term("adds", "distances to the four sides (per sample)", "4·K·ph·pw·s²",
             worked("4×{}×{}×{}×{}²", k, ph, pw, ratio), 4 * samples),
        # (every symbol of a formula written out, in its order: 4×C×K×ph×pw×s², not 4×C×(K·ph·pw·s²))
        Term("mults", "weighted corners (per sample and channel)", "4·C·K·ph·pw·s²",
             worked("4×{}×{}×{}×{}×{}²", c, k, ph, pw, ratio), 4 * c * samples),
        Term("adds", "corner sums (per sample and channel)", "3·C·K·ph·pw·s²",
             worked("3×{}×{}×{}×{}×{}²", c, k, ph, pw, ratio), 3 * c * samples),
        Term("adds", "sample sums (mean)", "C·K·ph·pw·(s² − 1)", worked("{}×{}×{}×{}×({}² − 1)", c, k, ph, pw, ratio),
             outputs * (ratio * ratio - 1)),
        Term("divs", "divisions (mean)", "C·K·ph·pw", worked("{}×{}×{}×{}", c, k, ph, pw), outputs),
    )


def _bilinear_samples(outputs: int, ratio: int, c_over: str, c_sub) -> tuple:
    """The worked terms of ``outputs`` output elements, each the mean of s·s bilinear samples whose
    weights are computed per output element (``ps_roi_align``)."""
    n = outputs * ratio * ratio
    per = worked("{}×{}²", c_sub, ratio)
    return (
        Term("adds", "distances to the four sides (per output element and sample)", f"4·{c_over}·s²",
             worked("4×{}", per), 4 * n),
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
    output gradient and sample the corner weights (4 adds + 4 mults, as the forward), the shares
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
        Term("adds", "distances to the four sides (per output gradient and sample)", f"4·{samples}",
             worked("4×{}", per), 4 * n),
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


why_uncounted("torchvision.nms",
              "its IoU tests depend on which boxes suppress which. Of N boxes keeping K it costs N·(2 subs + 1 mult) "
              "for the areas, a sort of the scores, N − K assignments and P IoU tests of 7 cmps + 4 adds + 1 mult + "
              "1 div each, K(K − 1)/2 + N − K ≤ P ≤ K(K − 1)/2 + K(N − K) (a call with K = 1 or K = N is counted "
              "exactly; docs/coverage.md, Known limits)")


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


# ---- deformable convolution (DCN v1, and v2 with a modulation mask) ---------------------------
def _deform_sizes(op) -> tuple:
    """(N, C, K, G, D, kh, kw, Ho, Wo, use_mask) of a ``deform_conv2d`` or its backward: the input
    (N, C, H, W), the weight (K, C/G, kh, kw), the offset (N, 2·D·kh·kw, Ho, Wo)."""
    n, c = schema_arg(op, "input").shape[:2]
    k, _, kh, kw = schema_arg(op, "weight").shape
    ho, wo = schema_arg(op, "offset").shape[2:]
    return (n, c, k, int(schema_arg(op, "groups")), int(schema_arg(op, "offset_groups")), kh, kw, ho, wo,
            bool(schema_arg(op, "use_mask")))


#: the formula's name for the sample count: one per input channel, kernel tap and output position
_SAMPLES = "N·C·kh·kw·Ho·Wo"


def _deform_sampling(samples: int, per, use_mask: bool, where: str) -> list:
    """``deformable_im2col``: per sample (input channel, kernel tap, output position) the sampling
    point (the offset added to the tap's position: 2 adds), its bilinear weights (4 side distances +
    4 corner weights, as grid_sample's: rules/_grid.py), the 4 corners weighed and summed (4 mults +
    3 adds) and, with a mask, the value modulated (1 mult)."""
    return [Term("adds", f"sampling points (offset added, y and x){where}", f"2·{_SAMPLES}", worked("2×{}", per),
                 2 * samples),
            *corner_weights(2, samples, per, over=_SAMPLES, where=where),
            Term("mults", f"weighted corners v·w (4 per sample){where}", f"4·{_SAMPLES}", worked("4×{}", per),
                 4 * samples),
            Term("adds", f"corner sums (3 per sample){where}", f"3·{_SAMPLES}", worked("3×{}", per), 3 * samples),
            Term("mults", f"modulation m·v (mask){where}", _SAMPLES, per, samples) if use_mask else None]


def _deform_gemm(n, c, k, g, kh, kw, ho, wo, what: str) -> Term:
    """One of the kernel's GEMMs, per weight group (C/G·kh·kw by K/G by N·Ho·Wo): as many MACs as a
    regular convolution's."""
    return Term("macs", what, "N·K·(C/G)·kh·kw·Ho·Wo", worked("{}×{}×{}×{}×{}", n, k, c // g, (kh, kw), (ho, wo)),
                n * k * (c // g) * kh * kw * ho * wo)


@op_rule("torchvision::deform_conv2d")
def deform_conv2d(op) -> Cost:
    """``deform_conv2d(input (N, C, H, W), weight (K, C/G, kh, kw), offset (N, 2·D·kh·kw, Ho, Wo),
    mask (N, D·kh·kw, Ho, Wo), bias (K,), stride, padding, dilation, groups G, offset_groups D,
    use_mask)``, as torchvision's CPU kernel computes it: ``deformable_im2col`` samples every input
    channel at every kernel tap and output position (S = N·C·kh·kw·Ho·Wo samples; the point and its
    bilinear weights are recomputed per channel: channels of one offset group share the offsets,
    not the arithmetic): 2 adds for the point, 4 side distances + 4 corner weights (rules/_grid.py),
    4 mults + 3 adds for the corners, 1 mult for the mask (DCNv2); then a GEMM per weight group,
    N·K·(C/G)·kh·kw·Ho·Wo MACs (a regular convolution's), and the bias added (N·K·Ho·Wo adds: the
    kernel adds the bias tensor always, torchvision passes zeros when there is none).

    An upper bound: a sample outside (−1, H) × (−1, W) is 0 at once, and a corner off the image
    reads 0 but is weighed all the same; which samples fall outside, only the offsets tell. Not
    counted: the sample's bounds tests, floors and index arithmetic (as grid_sample), and the
    multiplication by 1 the kernel does in place of a mask when there is none."""
    n, c, k, g, d, kh, kw, ho, wo, use_mask = _deform_sizes(op)
    samples = n * c * kh * kw * ho * wo
    per = worked("{}", (n, c, kh, kw, ho, wo))
    return Cost.of(*_deform_sampling(samples, per, use_mask, ""),
                   _deform_gemm(n, c, k, g, kh, kw, ho, wo, "multiply-accumulates (GEMM per weight group)"),
                   Term("adds", "bias additions", "N·K·Ho·Wo", worked("{}×{}×{}", n, k, (ho, wo)), n * k * ho * wo))


@op_rule("torchvision::_deform_conv2d_backward")
def deform_conv2d_backward(op) -> Cost:
    """``_deform_conv2d_backward(grad (N, K, Ho, Wo), input, weight, offset, mask, bias, …)`` -> the
    gradients of the input, weight, offset, mask and bias, all computed whatever autograd needs, as
    torchvision's CPU kernel computes them (S = N·C·kh·kw·Ho·Wo samples, as the forward's):

    - the columns' gradient, Wᵀ·g per weight group: N·K·(C/G)·kh·kw·Ho·Wo MACs;
    - the offset's gradient (``compute_grad_offset_and_mask``), per sample and coordinate (2·S): the
      sampling point again (2 adds), the coordinate weight d·(v₁ − v₂) + (1 − d)·(v₃ − v₄) (5 adds +
      2 mults), times the column gradient (1 mult, and 1 more for the mask), summed over the C/D
      channels of its offset group (2·N·kh·kw·Ho·Wo·(C − D) adds);
    - with a mask, its gradient, per sample: the bilinear sample again (4 side distances + 4 corner
      weights, 4 mults + 3 adds: the forward's lines) times the column gradient (1 mult), summed over
      the offset group's channels (N·kh·kw·Ho·Wo·(C − D) adds);
    - the input's gradient (``compute_grad_input``, col2im), per sample: the point (2 adds), then per
      corner its weight (1 − |Δy|)·(1 − |Δx|) (4 adds + 1 mult: the kernel computes it per corner, not
      as the forward's shared side distances), the share w·g (1 mult, and 1 more for the mask),
      added into the input's gradient (1 add). 4 corners per sample is an upper bound: a corner off
      the image, or a sample on a pixel row or column, adds fewer; only the offsets tell;
    - the weight's gradient: ``deformable_im2col`` again (the forward's sampling lines) and g·colsᵀ
      per weight group, N·K·(C/G)·kh·kw·Ho·Wo MACs;
    - the bias's gradient, ``ones_like(bias) * grad.sum((0, 2, 3))``: K·(N·Ho·Wo − 1) adds, K mults.

    Not counted, as in the forward: bounds tests (col2im tests 9 neighbours per sample for the 4
    corners), floors, index arithmetic, the multiplications by the 1 that stands in for a missing mask."""
    n, c, k, g, d, kh, kw, ho, wo, use_mask = _deform_sizes(op)
    samples = n * c * kh * kw * ho * wo
    per = worked("{}", (n, c, kh, kw, ho, wo))
    points = n * kh * kw * ho * wo
    sums = points * (c - d)
    sums_text = worked("{}×({} − {})", (n, kh, kw, ho, wo), c, d)
    sums_formula = "N·kh·kw·Ho·Wo·(C − D)"
    products = 2 if use_mask else 1
    reduced = n * ho * wo
    terms = [
        _deform_gemm(n, c, k, g, kh, kw, ho, wo, "multiply-accumulates (columns' gradient, Wᵀ·g per weight group)"),
        # the offset's gradient: per sample and coordinate
        Term("adds", "sampling points (offset's gradient, per coordinate)", f"2·2·{_SAMPLES}", worked("4×{}", per),
             4 * samples),
        Term("adds", "coordinate weights d·(v₁ − v₂) + (1 − d)·(v₃ − v₄) (offset's gradient)", f"2·5·{_SAMPLES}",
             worked("10×{}", per), 10 * samples),
        Term("mults", "coordinate weights d·(v₁ − v₂) + (1 − d)·(v₃ − v₄) (offset's gradient)", f"2·2·{_SAMPLES}",
             worked("4×{}", per), 4 * samples),
        Term("mults", "products m·w·g (offset's gradient)" if use_mask else "products w·g (offset's gradient)",
             f"2·{products}·{_SAMPLES}", worked(f"{2 * products}×{{}}", per), 2 * products * samples),
        Term("adds", "sums over the offset group's channels (offset's gradient)", f"2·{sums_formula}",
             worked("2×{}", sums_text), 2 * sums),
    ]
    if use_mask:
        where = " (mask's gradient)"
        terms += [*corner_weights(2, samples, per, over=_SAMPLES, where=where),
                  Term("mults", f"weighted corners v·w (4 per sample){where}", f"4·{_SAMPLES}", worked("4×{}", per),
                       4 * samples),
                  Term("adds", f"corner sums (3 per sample){where}", f"3·{_SAMPLES}", worked("3×{}", per),
                       3 * samples),
                  Term("mults", f"products v·g{where}", _SAMPLES, per, samples),
                  Term("adds", f"sums over the offset group's channels{where}", sums_formula, sums_text, sums)]
    where = " (input's gradient)"
    terms += [
        Term("adds", f"sampling points (offset added, y and x){where}", f"2·{_SAMPLES}", worked("2×{}", per),
             2 * samples),
        Term("adds", f"corner weights (1 − |Δy|)·(1 − |Δx|), 4 per sample{where}", f"4·4·{_SAMPLES}",
             worked("16×{}", per), 16 * samples),
        Term("mults", f"corner weights (1 − |Δy|)·(1 − |Δx|), 4 per sample{where}", f"4·{_SAMPLES}",
             worked("4×{}", per), 4 * samples),
        Term("mults", f"shares m·w·g (4 corners){where}" if use_mask else f"shares w·g (4 corners){where}",
             f"4·{products}·{_SAMPLES}", worked(f"{4 * products}×{{}}", per), 4 * products * samples),
        Term("adds", f"additions into the 4 corners{where}", f"4·{_SAMPLES}", worked("4×{}", per), 4 * samples),
        *_deform_sampling(samples, per, use_mask, " (weight's gradient, im2col again)"),
        _deform_gemm(n, c, k, g, kh, kw, ho, wo, "multiply-accumulates (weight's gradient, g·colsᵀ per weight group)"),
        Term("adds", "sums over N·Ho·Wo (bias's gradient)", "K·(N·Ho·Wo − 1)", worked("{}×({} − 1)", k, (n, ho, wo)),
             k * (reduced - 1)) if reduced else None,
        Term("mults", "multiplications by ones_like(bias) (bias's gradient)", "K", k, k),
    ]
    return Cost.of(*terms)
