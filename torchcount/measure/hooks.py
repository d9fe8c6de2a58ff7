"""Per-module stamps for measurement passes, taken by wrapping each module's ``forward``, and
removed on exit whatever happens."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Callable, Iterator

from torch import nn

from ..capture import forwards_wrapped


@contextmanager
def per_module_hooks(model: nn.Module, hooks_for: Callable[[str], tuple], with_kwargs: bool = False,
                     modules: "list[tuple[str, nn.Module]] | None" = None) -> Iterator[None]:
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

    ``modules``: the modules counting saw (``profile`` passes them), so a submodule the forward
    creates is timed inside its creator, where its work was counted, not as a row of its own. Only
    the measuring thread is stamped, and only while this context is open: a wrapper another thread
    runs, or one the model saved and calls later, calls straight through.
    """
    modules = list(model.named_modules()) if modules is None else modules  # (each once, at its first path)
    paths = {id(module): path for path, module in modules}
    live = [True]
    thread = threading.get_ident()

    def wrap(module: nn.Module, forward: Callable) -> Callable:
        pre, post = hooks_for(paths[id(module)])
        return _around(module, forward, pre, post, with_kwargs, live, thread)

    try:
        with forwards_wrapped((module for _, module in modules), wrap):
            yield
    finally:
        live[0] = False


def _around(module: nn.Module, forward: Callable, pre: Callable, post: Callable, with_kwargs: bool,
            live: list, thread: int) -> Callable:
    this_thread = threading.get_ident

    def stamped_forward(*args, **kwargs):
        if not live[0] or this_thread() != thread:  # (a saved wrapper after the pass; another thread)
            return forward(*args, **kwargs)
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
