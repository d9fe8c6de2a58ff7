"""Op rules for torchvision's detection ops, registered by name (torchvision need not be
imported for torchcount to load).

``roi_align`` (Mask/Faster R-CNN's box heads): each of the K·ph·pw output bins averages a
grid of s_h·s_w bilinear samples. Per sample: four corner weights from the fractional
position (2 subtractions, 4 multiplications), shared by the channels; per channel, the
weighted sum of four corners (4 multiplications, 3 additions). Per output element, the
samples' mean: s_h·s_w − 1 additions and a division. With ``sampling_ratio ≤ 0`` the grid
adapts to each box's size (⌈box/bins⌉), which only the box values tell: then the op is
reported uncounted. ``nms`` is data-dependent too (how many boxes survive) and has no rule.
"""
from __future__ import annotations

from ..cost import Cost, Term, worked
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
