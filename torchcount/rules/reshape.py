"""Rules for layers that only move data: Identity, Flatten/Unflatten, padding layers,
PixelShuffle/PixelUnshuffle, ChannelShuffle, and the Dropout family (free in eval mode)."""
from __future__ import annotations

from torch import nn

from ..cost import Cost, Term, worked
from ._util import prod
from .registry import module_rule

_PADDING = tuple(
    getattr(nn, name) for name in (
        "ZeroPad1d", "ZeroPad2d", "ZeroPad3d", "ConstantPad1d", "ConstantPad2d", "ConstantPad3d",
        "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d",
        "ReplicationPad2d", "ReplicationPad3d", "CircularPad1d", "CircularPad2d", "CircularPad3d",
    ) if hasattr(nn, name)
)


@module_rule(nn.Identity, nn.Flatten, nn.Unflatten, nn.PixelShuffle, nn.PixelUnshuffle,
             nn.ChannelShuffle, *_PADDING)
def data_movement(m, call) -> Cost:
    return Cost()


_DROPOUT = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)


_CHANNEL_DIMS = {nn.Dropout1d: 1, nn.Dropout2d: 2, nn.Dropout3d: 3}


@module_rule(*_DROPOUT)
def dropout(m, call) -> Cost:
    if not call.training or m.p == 0:
        return Cost()  # eval mode: the identity
    shape = call.out.shape
    e = call.out.numel
    spatial = next((n for cls, n in _CHANNEL_DIMS.items() if isinstance(m, cls)), None)
    if spatial is not None:  # one draw per channel (the spatial dims share it)
        noise = prod(shape[:-spatial]) if len(shape) > spatial else 1
    elif isinstance(m, nn.FeatureAlphaDropout):
        noise = prod(shape[:2]) if len(shape) >= 2 else e
    else:
        noise = e
    return Cost.of(*dropout_terms(noise, e, "", alpha=isinstance(m, (nn.AlphaDropout, nn.FeatureAlphaDropout))))


def dropout_terms(noise: int, elements: int, what: str, alpha: bool = False) -> list[Term]:
    """Dropout as PyTorch's reference implementation runs it (and its fused kernels are
    counted alike): a keep/drop draw per noise element (per element, or per channel for
    Dropout2d …), the noise scaled by 1/(1 − p), the input multiplied by it. Alpha dropout
    makes an affine noise instead: per noise element a draw, 2 additions and 2 multiplications;
    per element a multiplication and an addition."""
    label = f" ({what})" if what else ""
    if alpha:
        return [Term("cmps", f"keep/drop draws{label}", "noise", noise, noise),
                Term("adds", f"affine noise additions{label}", "2·noise", worked("2×{}", noise), 2 * noise),
                Term("mults", f"affine noise multiplications{label}", "2·noise", worked("2×{}", noise), 2 * noise),
                Term("mults", f"multiplications by the noise{label}", "elements", elements, elements),
                Term("adds", f"noise offset additions{label}", "elements", elements, elements)]
    return [Term("cmps", f"keep/drop draws{label}", "noise", noise, noise),
            Term("divs", f"noise scaling 1/(1 − p){label}", "noise", noise, noise),
            Term("mults", f"multiplications by the noise{label}", "elements", elements, elements)]
