"""Leave the user's model exactly as it was found.

:func:`preserved` snapshots what a forward pass may change — every module's training flag,
every parameter's ``requires_grad``, every buffer's value (BatchNorm running statistics,
``num_batches_tracked``, spectral-norm vectors ``_u``/``_v``), the grad mode — and restores
it on exit, also when the forward raises or is interrupted (``KeyboardInterrupt``).

Parameters are not copied by default (that would double the memory of every profile);
their version counters tell whether a forward wrote to one in place, which is reported
as :class:`ParameterModifiedError` since it cannot be undone. ``copy_params=True`` takes a
full copy of the parameters as well and restores them, bit for bit, instead of raising.

Lazy parameters (``nn.LazyLinear`` …) are materialised by the first forward, as they
would be by any forward; that change is kept and listed in :attr:`Preserved.lazy`.
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

import torch
from torch import nn
from torch.nn.parameter import is_lazy


class ParameterModifiedError(RuntimeError):
    """The forward wrote to a parameter in place and no copy was taken to undo it."""


@dataclass
class Preserved:
    """What :func:`preserved` found; filled in on exit."""

    #: names of lazy parameters the forward materialised (kept)
    lazy: list[str] = field(default_factory=list)
    #: names of parameters the forward wrote in place and that were restored from the copy
    restored_params: list[str] = field(default_factory=list)


@contextmanager
def preserved(model: nn.Module, copy_params: bool = False,
              modules: "list[tuple[str, nn.Module]] | None" = None) -> Iterator[Preserved]:
    state = Preserved()
    grad_mode = torch.is_grad_enabled()
    # one walk of the module tree, shared with the caller when it has one already
    all_modules = [m for _, m in modules] if modules is not None else list(model.modules())
    training = [(m, m.training) for m in all_modules]
    params = list(model.named_parameters(remove_duplicate=True))
    lazy = {id(p) for _, p in params if is_lazy(p)}
    state.lazy = [name for name, p in params if id(p) in lazy]
    requires_grad = [(p, p.requires_grad) for _, p in params]
    versions = [(name, p, p._version) for name, p in params if id(p) not in lazy]
    saved_params = {}
    if copy_params:
        saved_params = {id(p): p.detach().clone() for _, p, _ in versions if p.device.type != "meta"}
    buffers = []
    for owner in all_modules:
        for name, b in owner._buffers.items():  # direct dict access: named_buffers() is a slow generator
            if b is not None and not is_lazy(b):
                buffers.append((owner, name, b, b.detach().clone()))
    completed = False
    try:
        yield state
        completed = True
    finally:
        torch.set_grad_enabled(grad_mode)
        for m, flag in training:
            m.training = flag
        for p, flag in requires_grad:
            if not is_lazy(p) and p.requires_grad != flag:
                p.requires_grad_(flag)
        with torch.no_grad():
            for owner, name, original, saved in buffers:
                if getattr(owner, name, None) is not original:
                    setattr(owner, name, original)  # a forward that rebinds a buffer
                if original.device.type != "meta":
                    original.copy_(saved)
            changed = [(name, p) for name, p, v in versions if p._version != v]
            for name, p in changed:
                if id(p) in saved_params:
                    p.copy_(saved_params[id(p)])
                    state.restored_params.append(name)
        unrestored = [name for name, p in changed if id(p) not in saved_params]
        if unrestored:
            message = (f"the forward pass modified parameter(s) {', '.join(unrestored[:5])} in place; "
                       "torchcount cannot restore them (profile(..., copy_params=True) keeps a copy "
                       "and restores them)")
            if completed:
                raise ParameterModifiedError(message)
            failure = sys.exc_info()[1]  # the forward failed as well: say so on its exception
            if failure is not None and hasattr(failure, "add_note"):
                failure.add_note(f"torchcount: {message}")
