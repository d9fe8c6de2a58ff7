"""Per-module stamps for measurement passes, taken by wrapping each module's ``forward``, and
removed on exit whatever happens."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import torch
from torch import nn

_NOTHING = object()  # "the module had no forward of its own in its __dict__"


@contextmanager
def per_module_hooks(model: nn.Module, hooks_for: Callable[[str], tuple], with_kwargs: bool = False) -> Iterator[None]:
    """Run ``hooks_for(path) -> (pre, post)`` around every module's ``forward``: ``pre(module, args)``
    right before it, ``post(module, args, output)`` (``post(module, args, kwargs, output)`` with
    ``with_kwargs``) right after it, and also when it raises (``output`` None, the exception being
    handled), so nested bookkeeping stays balanced.

    ``forward`` is wrapped (in the module's own ``__dict__``, as the capture does) rather than hooked
    with torch's forward hooks, so that a timed span is exactly the work counting gives the module:
    the module's own hooks and torch's global module hooks (``register_module_forward_hook``) run
    outside it, where counting puts their work (in the caller), and a parent that calls
    ``child.forward(x)`` directly still times the child, as it is counted. ``pre`` and ``post`` are
    always paired: a hook of the user's that raises before the forward leaves neither run.
    A forward the user had set on an instance is wrapped and put back. ScriptModules cannot be
    wrapped and are skipped: their time falls to the enclosing module.
    """
    wrapped: list = []  # (module, the instance's own 'forward' or _NOTHING)
    try:
        for path, module in model.named_modules():
            if isinstance(module, torch.jit.ScriptModule):
                continue
            pre, post = hooks_for(path)
            own = module.__dict__
            wrapped.append((module, own.get("forward", _NOTHING)))
            own["forward"] = _around(module, module.forward, pre, post, with_kwargs)
        yield
    finally:
        for module, before in reversed(wrapped):
            if before is _NOTHING:
                module.__dict__.pop("forward", None)
            else:
                module.__dict__["forward"] = before


def _around(module: nn.Module, forward: Callable, pre: Callable, post: Callable, with_kwargs: bool) -> Callable:
    def stamped_forward(*args, **kwargs):
        pre(module, args)
        try:
            output = forward(*args, **kwargs)
        except BaseException:
            if with_kwargs:
                post(module, args, kwargs, None)
            else:
                post(module, args, None)
            raise
        if with_kwargs:
            post(module, args, kwargs, output)
        else:
            post(module, args, output)
        return output

    stamped_forward.__wrapped__ = forward  # inspect.signature(module.forward) still works
    return stamped_forward
