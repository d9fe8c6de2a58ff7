"""Leave the user's model exactly as it was found.

:func:`preserved` snapshots what a forward pass may change — every module's training flag,
every parameter's ``requires_grad``, every buffer's value (BatchNorm running statistics,
``num_batches_tracked``, spectral-norm vectors), the grad mode — and restores it on exit,
also when the forward raises or is interrupted. Parameters are not copied (that would
double the memory of every profile); their version counters tell whether a forward wrote
to one in place, which is reported as an error since it cannot be undone.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn


class ParameterModifiedError(RuntimeError):
    pass


@contextmanager
def preserved(model: nn.Module) -> Iterator[None]:
    grad_mode = torch.is_grad_enabled()
    training = [(m, m.training) for m in model.modules()]
    params = list(model.named_parameters(remove_duplicate=True))
    requires_grad = [(p, p.requires_grad) for _, p in params]
    versions = [(name, p, p._version) for name, p in params]
    buffers = []
    for owner in model.modules():
        for name, b in owner.named_buffers(recurse=False):
            if b is not None:
                buffers.append((owner, name, b, b.detach().clone()))
    completed = False
    try:
        yield
        completed = True
    finally:
        torch.set_grad_enabled(grad_mode)
        for m, flag in training:
            m.training = flag
        for p, flag in requires_grad:
            p.requires_grad_(flag)
        with torch.no_grad():
            for owner, name, original, saved in buffers:
                if getattr(owner, name, None) is not original:
                    setattr(owner, name, original)  # a forward that rebinds a buffer
                if original.device.type != "meta":
                    original.copy_(saved)
        changed = [name for name, p, v in versions if p._version != v]
        if changed and completed:
            raise ParameterModifiedError(
                f"the forward pass modified parameter(s) {', '.join(changed[:5])} in place; "
                "torchcount cannot restore them")
