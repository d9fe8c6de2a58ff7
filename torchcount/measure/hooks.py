"""Per-module stamps for measurement passes, taken by wrapping each module's ``forward``, and
removed on exit whatever happens."""
from __future__ import annotations

import sys
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

from torch import nn

from ..capture import _GLOBAL_FORWARD_HOOKS, GuardedHook, _has_own_hooks, forwards_wrapped


@contextmanager
def per_module_hooks(model: nn.Module, hooks_for: Callable[[str], tuple], with_kwargs: bool = False,
                     modules: "list[tuple[str, nn.Module]] | None" = None, layers=None) -> Iterator[None]:
    """Run ``hooks_for(path) -> (pre, post)`` around every module's ``forward``: ``pre(module, args)``
    (``pre(module, args, kwargs)`` with ``with_kwargs``) right before it, ``post(module, args, output)``
    (``post(module, args, kwargs, output)`` with ``with_kwargs``) right after it, and also when it raises (``output`` None, the exception being
    handled), so nested bookkeeping stays balanced.

    ``forward`` is wrapped (in the module's own ``__dict__``, as the capture does) rather than hooked
    with torch's forward hooks, so that a timed span is exactly the work counting gives the module,
    and a parent that calls ``child.forward(x)`` directly still times the child, as it is counted.
    A module with forward hooks of its own (or every module, while torch's process-wide forward hooks
    are set) is spanned from a pre-hook put before its own to a forward hook run after them, as the
    capture records them (``capture._HookWatch``): what its hooks compute is its row's, counted and
    timed; torch's process-wide *pre*-hooks run before that span, in the caller's, as counted. ``pre``
    and ``post`` are always paired, also when a hook raises.
    A forward the user had set on an instance is wrapped and put back. ScriptModules cannot be
    wrapped and are skipped: their time falls to the enclosing module.

    ``modules``: the modules counting saw (``profile`` passes them), so a submodule the forward
    creates is timed inside its creator, where its work was counted, not as a row of its own. Only
    the measuring thread is stamped, and only while this context is open: a wrapper another thread
    runs, or one the model saved and calls later, calls straight through.

    ``layers``: what the model's graphs say of their layers (``graph.LayerNames``, as counting read
    them): each GraphModule in ``layers.graphs`` (the root or a submodule) then runs its graph's copy
    whose markers open and close each layer's span, so the original layers, which no module of their
    own runs, are stamped as counting recorded them.
    """
    modules = list(model.named_modules()) if modules is None else modules  # (each once, at its first path)
    paths = {id(module): path for path, module in modules}
    live = [True]
    thread = threading.get_ident()

    handles: list = []  # the span hooks of modules that have hooks

    guarded: list = []  # (hook dict, key, the user's hook) of every hook wrapped by _span_hooks

    graphs = layers.graphs if layers is not None else None  # path → a GraphModule's graph.GraphLayers

    def wrap(module: nn.Module, forward: Callable) -> Callable:
        path = paths[id(module)]
        pre, post = hooks_for(path)
        if graphs and path in graphs:
            forward = graphs[path].spanned_forward(hooks_for, with_kwargs, live, thread, forward)
        opened = interrupted = None
        if _has_own_hooks(module) or _GLOBAL_FORWARD_HOOKS:
            opened = []
            interrupted = _span_hooks(module, pre, post, with_kwargs, live, thread, opened, handles, guarded)
        return _around(module, forward, pre, post, with_kwargs, live, thread, opened, interrupted)

    try:
        with forwards_wrapped((module for _, module in modules), wrap):
            yield
    finally:
        live[0] = False
        for handle in handles:
            handle.remove()
        for hooks, key, hook in guarded:
            if key in hooks:  # (unless it removed itself)
                hooks[key] = hook


def _span_hooks(module: nn.Module, pre: Callable, post: Callable, with_kwargs: bool, live: list, thread: int,
                opened: list, handles: list, guarded: list) -> Callable:
    """A pre-hook before the module's own and a forward hook after them (run also when the forward or
    a hook raises an ``Exception``) that open and close its span, appended to ``handles``; ``opened``
    holds, per call in progress, whether its wrapped forward has yet to start (the wrapper then
    leaves the stamping to these).

    Torch runs an always-called hook only for an ``Exception``: a ``KeyboardInterrupt`` (or
    ``SystemExit``, ``GeneratorExit``) leaving the module's forward or one of its hooks skips it, and
    a forward that catches it and carries on would time the rest of the pass inside a span never
    closed. The module's own hooks are wrapped meanwhile (``guarded``: what to put back) to close the
    span then; the returned function does it for the wrapped forward."""
    this_thread = threading.get_ident
    # per call in progress, the exception being handled when it started (a call made in an
    # ``except`` block). A new one at its end was raised in it: by a hook of its own after the
    # forward returned, where torch passes the forward's output, not None, to this always-called
    # hook; ``post`` is given None, as for a forward that raised, so the failure is this module's
    handled: list = []

    def before(module, args, kwargs=None):
        if live[0] and this_thread() == thread:
            opened.append(True)
            handled.append(sys.exc_info()[1])
            if with_kwargs:
                pre(module, args, kwargs)
            else:
                pre(module, args)

    def raised_here() -> bool:
        outer = handled.pop()  # (always: one per call, paired with its 'opened' entry)
        exc = sys.exc_info()[1]
        return exc is not None and exc is not outer

    if with_kwargs:
        def after(module, args, kwargs, output):
            if live[0] and this_thread() == thread and opened:
                opened.pop()
                post(module, args, kwargs, None if raised_here() else output)
    else:
        def after(module, args, output):
            if live[0] and this_thread() == thread and opened:
                opened.pop()
                post(module, args, None if raised_here() else output)

    def interrupted(args: tuple, kwargs: dict) -> None:
        """Close the innermost span as ``after`` would have, for a BaseException torch does not run it for."""
        if live[0] and this_thread() == thread and opened:
            opened.pop()
            handled.pop()
            if with_kwargs:
                post(module, args, kwargs, None)
            else:
                post(module, args, None)

    def guard(hook: Callable) -> Callable:
        # (post reads no keyword argument of a call that raised; a hook is called as hook(module, args, …))
        return GuardedHook(hook, lambda args: interrupted(args[1], {}))

    for hooks in (module._forward_pre_hooks, module._forward_hooks):
        for key, hook in list(hooks.items()):
            guarded.append((hooks, key, hook))
            hooks[key] = guard(hook)
    handles.append(module.register_forward_pre_hook(before, prepend=True, with_kwargs=with_kwargs))
    handles.append(module.register_forward_hook(after, with_kwargs=with_kwargs, always_call=True))
    return interrupted


def _around(module: nn.Module, forward: Callable, pre: Callable, post: Callable, with_kwargs: bool,
            live: list, thread: int, opened: "list | None" = None,
            interrupted: "Callable | None" = None) -> Callable:
    this_thread = threading.get_ident

    def stamped_forward(*args, **kwargs):
        if not live[0] or this_thread() != thread:  # (a saved wrapper after the pass; another thread)
            return forward(*args, **kwargs)
        if opened and opened[-1]:  # the span its pre-hook opened closes after its forward hooks
            opened[-1] = False
            try:
                return forward(*args, **kwargs)
            except Exception:
                raise
            except BaseException:  # (torch runs no always-called hook for it: see _span_hooks)
                interrupted(args, kwargs)
                raise
        if with_kwargs:
            pre(module, args, kwargs)
        else:
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
