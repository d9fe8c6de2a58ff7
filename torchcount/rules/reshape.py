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


#: the input dims at which F.dropout1d / F.dropout3d take the input as batched; an input of other dims is
#: unbatched and gets a batch dim of 1 first. F.dropout2d adds none: a 3-d input is taken as a batched
#: 1-d one (N, C, L), as torch has done historically (pytorch#77081), a 2-d one (N, C) drops each element
_BATCHED_DIMS = {nn.Dropout1d: 3, nn.Dropout3d: 5}


@module_rule(*_DROPOUT)
def dropout(m, call) -> Cost:
    shape = call.out.shape
    e = call.out.numel
    if not call.training or m.p == 0 or e == 0:
        return Cost()  # eval mode (or nothing to drop): the identity
    batched = next((n for cls, n in _BATCHED_DIMS.items() if isinstance(m, cls)), None)
    if batched is not None or isinstance(m, nn.Dropout2d):
        # feature dropout: one draw per (sample, channel), the first two dims of what it is given
        # (an unbatched input gets a batch dim of 1: its first dim is the channels; torch refuses a 0-d one)
        noise = prod(shape[:2]) if batched is None or len(shape) == batched else shape[0]
    elif isinstance(m, nn.FeatureAlphaDropout):
        noise = prod(shape[:2])  # (torch refuses an input of fewer than 2 dims: no per-element case)
    else:
        noise = e
    return Cost.of(*dropout_terms(noise, e, "", alpha=isinstance(m, (nn.AlphaDropout, nn.FeatureAlphaDropout)),
                                  p=m.p))


def dropout_terms(noise: int, elements: int, what: str, alpha: bool = False, p: float | None = None) -> list[Term]:
    """Dropout as PyTorch's reference implementation runs it (and its fused kernels are
    counted alike): a keep/drop draw per noise element (per element, or per channel for
    Dropout2d …), the noise scaled by 1/(1 − p), the input multiplied by it. Alpha dropout
    makes an affine noise instead: per noise element a draw, 2 additions and 2 multiplications;
    per element a multiplication and an addition. With ``p`` = 1 (given by a caller that reaches
    ``at::dropout`` and its kin, not the fused kernels) it draws nothing: it multiplies the input
    by a zero (``_dropout_impl``), one multiplication per element."""
    label = f" ({what})" if what else ""
    if p == 1:
        return [Term("mults", f"multiplications by zero (p = 1: no noise drawn){label}", "elements",
                     elements, elements)]
    if alpha:
        return [Term("cmps", f"keep/drop draws{label}", "noise", noise, noise),
                Term("adds", f"affine noise additions{label}", "2·noise", worked("2×{}", noise), 2 * noise),
                Term("mults", f"affine noise multiplications{label}", "2·noise", worked("2×{}", noise), 2 * noise),
                Term("mults", f"multiplications by the noise{label}", "elements", elements, elements),
                Term("adds", f"noise offset additions{label}", "elements", elements, elements)]
    return [Term("cmps", f"keep/drop draws{label}", "noise", noise, noise),
            Term("divs", f"noise scaling 1/(1 − p){label}", "noise", noise, noise),
            Term("mults", f"multiplications by the noise{label}", "elements", elements, elements)]
