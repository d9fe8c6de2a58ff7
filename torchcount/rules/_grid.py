"""The per-position terms F.grid_sample's forward (rules/elementwise.py, ``grid_sampler``) and its
backward (rules/backward.py, ``grid_sampler_2d_backward``/``grid_sampler_3d_backward``) share: the
CPU kernels compute them once per output position (grid point) and use them for every channel.
Both rules build them here, so that a forward and its backward price the same position alike.
torchvision's ``deform_conv2d`` and its backward (rules/vision.py) price their bilinear samples'
weights with the same lines (``corner_weights``): its ``bilinear_interpolate`` computes them as
the grid sampler does, but once per sample and channel.

- un-normalisation: each coordinate mapped from [−1, 1] to pixels, 2 mults + 1 add (the scalar
  kernels' ``((c + 1) / 2)·(size − 1)``, the halving as a multiplication: a simplification, as the
  unaligned form ``((c + 1)·size − 1) / 2`` has one subtraction more and the vectorised 2-D
  kernel's ``(c + 1)·s (− ½)`` one multiplication fewer);
- bilinear: the distances to the four sides, ``w = x − ⌊x⌋, e = 1 − w`` (and n, s), 4 adds, and the
  four corner weights ``nw = s·e, …``, 4 mults; trilinear: the six distances, 6 adds, and the eight
  corner weights, each a product of three, 16 mults;
- bicubic: the fractional parts ``t = x − ⌊x⌋`` (1 add per coordinate) and the 4 cubic convolution
  coefficients per coordinate (12 mults + 13 adds, as ``get_cubic_coefficients`` is written: its
  constants A + 2, 5·A, … not counted), and, for the backward, their 4 derivatives (8 mults + 10
  adds, ``get_cubic_coefficients_grad``).

Not counted, in either direction: the padding modes' clipping (border: 2 cmps per coordinate) and
reflection (an abs, a division, a truncation, a multiplication, subtractions and a min, then the
clipping) — bicubic clips or reflects each tap's coordinates again —, floors, rounding (nearest)
and the integer index arithmetic of the taps.
"""
from __future__ import annotations

from ..cost import Term, worked


def unnormalisation(coords: int, positions: int, per_position) -> list[Term]:
    """The grid's ``coords`` coordinates un-normalised: 2 mults + 1 add per coordinate and position."""
    return [Term("mults", "grid un-normalisation (2 per coordinate)", f"{2 * coords}·positions",
                 worked(f"{2 * coords}×{{}}", per_position), 2 * coords * positions),
            Term("adds", "grid un-normalisation (1 per coordinate)", f"{coords}·positions",
                 worked(f"{coords}×{{}}", per_position), coords * positions)]


def corner_weights(coords: int, positions: int, per_position, over: str = "positions",
                   where: str = "") -> list[Term]:
    """Bilinear (2 coordinates): 4 side distances + 4 corner weights per position; trilinear (3):
    6 face distances + 8 corner weights of 2 mults each. ``over`` names the count in the formula
    (torchvision's deform_conv2d computes them per sample: ``N·C·kh·kw·Ho·Wo``), ``where`` is added
    to each line's description."""
    if coords == 2:
        return [Term("adds", f"distances to the four sides{where}", f"4·{over}", worked("4×{}", per_position),
                     4 * positions),
                Term("mults", f"corner weights{where}", f"4·{over}", worked("4×{}", per_position), 4 * positions)]
    return [Term("adds", f"distances to the six faces{where}", f"6·{over}", worked("6×{}", per_position),
                 6 * positions),
            Term("mults", f"corner weights (8, 2 mults each){where}", f"16·{over}", worked("16×{}", per_position),
                 16 * positions)]


def cubic_coefficients(positions: int, per_position, derivatives: bool = False) -> list[Term]:
    """Bicubic (2-D only): per position the 2 fractional parts, the 4 cubic coefficients per
    coordinate (12 mults + 13 adds each) and, with ``derivatives`` (the backward), their 4
    derivatives per coordinate (8 mults + 10 adds each)."""
    terms = [Term("adds", "fractional parts", "2·positions", worked("2×{}", per_position), 2 * positions),
             Term("mults", "cubic coefficients (x and y)", "2·12·positions", worked("24×{}", per_position),
                  24 * positions),
             Term("adds", "cubic coefficients (x and y)", "2·13·positions", worked("26×{}", per_position),
                  26 * positions)]
    if derivatives:
        terms += [Term("mults", "cubic coefficients' derivatives (x and y)", "2·8·positions",
                       worked("16×{}", per_position), 16 * positions),
                  Term("adds", "cubic coefficients' derivatives (x and y)", "2·10·positions",
                       worked("20×{}", per_position), 20 * positions)]
    return terms
