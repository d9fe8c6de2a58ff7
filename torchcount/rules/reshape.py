"""Rules for layers that only move data: Identity, Flatten/Unflatten, padding layers,
PixelShuffle/PixelUnshuffle, ChannelShuffle, and the Dropout family (free in eval mode)."""
from __future__ import annotations

from torch import nn

from ..cost import Cost, Term
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


@module_rule(*_DROPOUT)
def dropout(m, call) -> Cost:
    if not call.training or m.p == 0:
        return Cost()  # eval mode: the identity
    # train mode: draw a keep/drop decision per element (or per channel) and scale the kept ones
    e = call.out.numel
    return Cost.of(
        Term("cmps", "keep/drop decisions", "elements", e, e),
        Term("mults", "mask-and-scale multiplications", "elements", e, e),
    )
