"""Memory: theoretical activation bytes per module, parameter/buffer bytes, measured peaks.

- **Activation bytes** of a call: the bytes of the *unique storages* of its outputs that are new —
  an output that is a view of an input or of a parameter, or an input modified in place, shares an
  existing storage and adds nothing; several outputs viewing one new storage (``chunk``) count it once.
  Its **own** activation bytes (a parent's "(self)" row) are those of the new storages that no
  module call inside it returned: a residual add's result, not the last child's output that a
  ``Sequential`` passes on.
- **CUDA**: the peak of ``torch.cuda.memory_allocated`` while each module runs. Nesting is handled
  by :class:`PeakTracker`: entering a module folds the allocator's peak so far into the parent's
  running maximum, then resets the allocator's peak; leaving it folds its own peak back into the
  parent. Host-side allocator queries only — no synchronisation.
- **CPU**: no per-module figure. The process's peak resident set size (``VmHWM``) for the run:
  reset through ``/proc/self/clear_refs`` where Linux allows it, else the peak since the process
  started (``resource.getrusage``) — said so in the report. It counts everything in the process.
"""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Callable, Iterator

import torch
from torch import nn
from torch.multiprocessing.reductions import StorageWeakRef
from torch.nn.parameter import UninitializedTensorMixin as _UNINITIALIZED

from .hooks import per_module_hooks

MiB = 1024 * 1024


class PeakTracker:
    """Per-module peak allocated memory, correct under nesting.

    ``allocated()`` gives the bytes allocated now, ``peak()`` the allocator's peak since the last
    ``reset()``. Each :meth:`enter` must be matched by an :meth:`exit`, which returns
    ``(allocated at entry, peak while the module ran)``.
    """

    def __init__(self, allocated: Callable[[], int], peak: Callable[[], int], reset: Callable[[], None]):
        self.allocated, self.peak, self.reset = allocated, peak, reset
        self._stack: list[list[int]] = []  # [allocated at entry, running max seen by earlier resets]

    def enter(self) -> None:
        if self._stack:
            self._stack[-1][1] = max(self._stack[-1][1], self.peak())
        self.reset()
        now = self.allocated()
        self._stack.append([now, now])

    def exit(self) -> tuple[int, int]:
        at_entry, carried = self._stack.pop()
        peak = max(carried, self.peak())
        if self._stack:
            self._stack[-1][1] = max(self._stack[-1][1], peak)
        return at_entry, peak


def cuda_tracker(device: torch.device) -> PeakTracker:
    return PeakTracker(lambda: torch.cuda.memory_allocated(device), lambda: torch.cuda.max_memory_allocated(device),
                       lambda: torch.cuda.reset_peak_memory_stats(device))


def _tensors(value, out: list) -> list:
    if isinstance(value, torch.Tensor):
        out.append(value)
    elif isinstance(value, (tuple, list)):
        for v in value:
            _tensors(v, out)
    elif isinstance(value, dict):
        for v in value.values():
            _tensors(v, out)
    elif hasattr(value, "to_tuple"):  # transformers ModelOutput
        _tensors(value.to_tuple(), out)
    return out


def _storage_key(t: torch.Tensor):
    try:
        return t.untyped_storage().data_ptr(), t.device
    except Exception:  # tensors without storage (sparse, nested, functional wrappers)
        return None


def new_output_storages(args, kwargs, output, module: nn.Module) -> dict:
    """``{storage key: tensor}``, one tensor per unique new storage among ``output``'s tensors (see
    the module docstring)."""
    existing = set()
    for t in _tensors((args, kwargs), []) + list(module.parameters()) + list(module.buffers()):
        key = _storage_key(t)
        if key is not None:
            existing.add(key)
    new: dict = {}
    for t in _tensors(output, []):
        key = _storage_key(t)
        if key is not None and key not in existing and key not in new:
            new[key] = t
    return new


def state_bytes(module: nn.Module, recurse: bool = True) -> tuple[int, int]:
    """Bytes of the unique parameters and buffers in ``module``'s subtree (``recurse=False``:
    its own only)."""
    # (a lazy module never called holds tensors with no size yet: none to count)
    params = {id(p): p for p in module.parameters(recurse) if not isinstance(p, _UNINITIALIZED)}
    buffers = {id(b): b for b in module.buffers(recurse) if not isinstance(b, _UNINITIALIZED)}
    return (sum(p.numel() * p.element_size() for p in params.values()),
            sum(b.numel() * b.element_size() for b in buffers.values()))


#: the key under which the memory pass's results name the module its forward raised in
FAILED_IN = "\x00failed in"


@contextmanager
def memory_hooks(model: nn.Module, device: torch.device, modules: "list | None" = None,
                 layers=None) -> Iterator[dict]:
    """Hook every module for one memory pass. Yields ``{path: {"act_bytes", "own_act_bytes", "peak",
    "at_entry"}}`` filled as modules run (``peak``/``at_entry`` on CUDA only). Hooks removed on exit."""
    results: dict[str, dict] = {}
    tracker = cuda_tracker(device) if device.type == "cuda" else None
    failed: dict = {}  # the exception whose innermost module is results[FAILED_IN]
    # per call in progress: {storage key: weak reference} of the new storages the calls inside it
    # returned (weak: holding them would change the memory measured; a storage freed since then may
    # have left its address to one the call made itself, which is then its own)
    returned_inside: list[dict] = []

    def hooks_for(path):
        def pre(module, args, kwargs):
            returned_inside.append({})
            if tracker is not None:
                tracker.enter()

        def post(module, args, kwargs, output):
            inside = returned_inside.pop()  # (pre and post are always paired)
            exc = sys.exc_info()[1]
            if output is None and exc is not None:  # the forward raised here (innermost first)
                if tracker is not None:
                    tracker.exit()  # balanced even if the forward catches it and goes on
                if failed.get("exc") is not exc:  # a new exception (not one the forward handled before)
                    failed["exc"] = exc
                    results[FAILED_IN] = path
                return
            if failed:  # a module returned after an exception: the forward handled it, nothing failed
                results.pop(FAILED_IN, None)
                failed.clear()
            entry = results.setdefault(path, {"act_bytes": 0, "own_act_bytes": 0, "peak": 0, "at_entry": None})
            if tracker is not None:
                at_entry, peak = tracker.exit()
                entry["peak"] = max(entry["peak"], peak)
                if entry["at_entry"] is None:
                    entry["at_entry"] = at_entry
            new = new_output_storages(args, kwargs, output, module)
            for key, t in new.items():
                nbytes = t.untyped_storage().nbytes()
                entry["act_bytes"] += nbytes
                ref = inside.get(key)
                if ref is None or ref.expired():
                    entry["own_act_bytes"] += nbytes
            if returned_inside:  # what this call returned, for the call it ran in
                returned_inside[-1].update((key, StorageWeakRef(t.untyped_storage())) for key, t in new.items())

        return pre, post

    with per_module_hooks(model, hooks_for, with_kwargs=True, modules=modules, layers=layers):
        yield results


# ---- CPU: the process's peak resident set size ------------------------------------------------
def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark for this process; False where not permitted."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_bytes() -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import resource
        import sys

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024
    except Exception:
        return None


def current_rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return None
