"""Per-module hooks for measurement passes, removed on exit whatever happens."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import torch
from torch import nn


@contextmanager
def per_module_hooks(model: nn.Module, hooks_for: Callable[[str], tuple], with_kwargs: bool = False) -> Iterator[None]:
    """Register ``hooks_for(path) -> (pre, post)`` on every module of ``model`` (post hooks run
    also when the forward raises, so nested bookkeeping stays balanced). ScriptModules cannot
    take hooks and are skipped: their time falls to the enclosing module."""
    handles = []
    try:
        for path, module in model.named_modules():
            if isinstance(module, torch.jit.ScriptModule):
                continue
            pre, post = hooks_for(path)
            handles.append(module.register_forward_pre_hook(pre))
            # first among the module's post hooks (and after its pre hooks): a user's own hooks run
            # outside the timed span, where counting puts their work (in the caller)
            handles.append(module.register_forward_hook(post, with_kwargs=with_kwargs, always_call=True,
                                                        prepend=True))
        yield
    finally:
        for handle in handles:
            handle.remove()
