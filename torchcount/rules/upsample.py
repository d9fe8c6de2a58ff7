"""Rules for nn.Upsample and its UpsamplingNearest2d / UpsamplingBilinear2d aliases.

Per output element: nearest copies (0 ops); linear interpolation along one dim is
a·(1 − t) + b·t (2 multiplications, 1 addition), applied 1× (linear), 3× (bilinear: two
rows then between them) or 7× (trilinear); bicubic combines 4 rows of 4 taps and then the
4 results (5 four-tap sums: 20 multiplications, 15 additions). Interpolation weights are
per output position and not counted. ``mode="area"`` is adaptive average pooling to the
output size, counted as the adaptive average pooling rule counts it (rules/pool.py).
"""
from __future__ import annotations

from torch import nn

from ..cost import Cost, Term, worked
from .pool import adaptive_avg_cost
from .registry import module_rule

_INTERPOLATIONS = {"linear": (2, 1, 1), "bilinear": (6, 3, 3), "trilinear": (14, 7, 7), "bicubic": (20, 15, 5)}


@module_rule(nn.Upsample)
def upsample(m: nn.Upsample, call) -> Cost:
    out = call.out.numel
    if m.mode in ("nearest", "nearest-exact"):
        return Cost()
    if m.mode == "area":  # F.interpolate runs adaptive_avg_pool{1,2,3}d to the output size
        return adaptive_avg_cost(call, len(call.out.shape) - 2)
    return Cost.of(*interpolation_terms(m.mode, out))


def interpolation_terms(mode: str, n: int, what: str | None = None) -> list[Term]:
    """``n`` outputs interpolated in ``mode`` (also what the upsample ops run: rules/elementwise.py;
    grid_sample shares its weights across channels and is priced there on its own)."""
    mults, adds, steps = _INTERPOLATIONS[mode]
    what = what or f"{mode}: {steps} interpolation step{'s' if steps != 1 else ''}"
    return [Term("mults", f"multiplications ({what})", f"{mults}·outputs", worked("{}×{}", mults, n), mults * n),
            Term("adds", f"additions ({what})", f"{adds}·outputs", worked("{}×{}", adds, n), adds * n)]
