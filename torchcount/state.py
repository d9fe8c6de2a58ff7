"""Leave the user's model exactly as it was found.

:func:`preserved` snapshots what a forward pass may change — every module's training flag,
every parameter's ``requires_grad``, every buffer's value (BatchNorm running statistics,
``num_batches_tracked``, spectral-norm vectors ``_u``/``_v``; its shape too, if resized in place),
the grad mode, every parameter's ``.grad`` (which a backward in a profiled method sets or
accumulates into), torch's default random generators (which dropout, stochastic depth and sampling
advance) — and restores it on exit, also when the forward raises or is interrupted
(``KeyboardInterrupt``).

Parameters are not copied by default (that would double the memory of every profile);
their version counters tell whether a forward wrote to one in place, which is reported
as :class:`ParameterModifiedError` since it cannot be undone (a write through ``.data``
leaves the counter alone and is not seen without a copy). ``copy_params=True`` takes a
full copy of the parameters as well, compares every parameter with it afterwards, and
restores those that differ, bit for bit, instead of raising.

Lazy parameters (``nn.LazyLinear`` …) are materialised by the first forward, as they
would be by any forward; that change is kept and listed in :attr:`Preserved.lazy`. Lazy
buffers are kept as materialised, not as the forward then updated them (a ``LazyBatchNorm1d``'s
running statistics in training mode).

Which tensors each module holds is restored too: a forward that rebinds a parameter or a
buffer, fills a ``None`` slot (a cache), registers a new one or deletes one gets the
module's ``_parameters`` / ``_buffers`` put back as they were, listed in
:attr:`Preserved.restored_slots`. Submodules added by the forward are not removed; one it rebound,
deleted (``self.head = nn.Linear(...)``, a fresh layer in place of the trained one) or moved (deleted
and added again: last in ``_modules``, where a Sequential would call it last) is put back in its
place, listed in :attr:`Preserved.restored_modules`.
"""
from __future__ import annotations

from copy import deepcopy

import sys
import threading
import types
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch
from torch import nn
from torch.nn.parameter import is_lazy
from torch.utils.hooks import RemovableHandle

from .capture import _HELPER_DEPTH, FunctionMethod, _held_by

_UNINITIALIZED = torch.nn.parameter.UninitializedTensorMixin


class ParameterModifiedError(RuntimeError):
    """The forward wrote to a parameter in place and no copy was taken to undo it."""


@dataclass
class Preserved:
    """What :func:`preserved` found; filled in on exit."""

    #: names of lazy parameters the forward materialised (kept)
    lazy: list[str] = field(default_factory=list)
    #: names of parameters the forward wrote in place and that were restored from the copy
    restored_params: list[str] = field(default_factory=list)
    #: names of parameter / buffer slots the forward rebound, filled, added or deleted (put back)
    restored_slots: list[str] = field(default_factory=list)
    #: paths of submodules the forward rebound, deleted or moved (``self.head = nn.Linear(…)``; put back in place)
    restored_modules: list[str] = field(default_factory=list)
    #: torch's process-wide settings the forward changed and that were put back, as "torch.set_num_threads"
    #: (the default dtype, deterministic algorithms, threads, anomaly mode, matmul precision, autocast)
    restored_settings: list[str] = field(default_factory=list)
    #: where the forward registered hooks that were removed again, as "fc1 (forward hook)"
    removed_hooks: list[str] = field(default_factory=list)
    #: names of tensors the forward parametrized (``torch.nn.utils.parametrize.register_parametrization``;
    #: removed: the module back to its own class, the tensor back in its slot)
    removed_parametrizations: list[str] = field(default_factory=list)
    #: names of tensors whose parametrization (one the module had) the forward removed
    #: (``remove_parametrizations``; put back: the module's parametrized class, its ``parametrizations``)
    restored_parametrizations: list[str] = field(default_factory=list)
    #: where hooks were put back that the forward removed with slots that were put back
    #: (``remove_weight_norm``; the tensor the legacy hook computed too), as "lin (forward pre-hook)"
    restored_hooks: list[str] = field(default_factory=list)
    #: names of parameters whose ``.grad`` a backward pass (in a profiled method) set or changed (put back)
    restored_grads: list[str] = field(default_factory=list)
    #: names of parameters a profiled method converted or rebound (``self.half()``, ``p.data = …``; put back)
    restored_data: list[str] = field(default_factory=list)
    #: the optimizers a profiled method stepped, as "Adam ×2" (their state and parameters put back)
    stepped_optimizers: list[str] = field(default_factory=list)
    #: the learning-rate schedulers a profiled method stepped (their counters put back), as "StepLR"
    stepped_schedulers: list[str] = field(default_factory=list)
    #: the optimizers whose param groups a profiled method changed (``add_param_group``; put back)
    regrouped_optimizers: list[str] = field(default_factory=list)
    #: optimizers the method changed without stepping them (a learning rate set, an attribute left): put back
    retuned_optimizers: list[str] = field(default_factory=list)
    #: the AMP gradient scalers a profiled method used (their scale, growth tracker and per-optimizer
    #: stages put back), as "GradScaler"
    updated_scalers: list[str] = field(default_factory=list)
    #: puts the parameter/buffer slots and the buffers' values back as found, while still inside
    #: (the measured passes start from them: a cache the model holds would grow from pass to pass);
    #: its first call, before the first pass, only notes the buffers' versions
    reset_buffers: "Callable[[], None]" = field(default=lambda: None, repr=False)


@contextmanager
def preserved(model: nn.Module, copy_params: bool = False,
              modules: "list[tuple[str, nn.Module]] | None" = None, method: "str | None" = None,
              inputs: "tuple | list" = ()) -> Iterator[Preserved]:
    """``method``: a method of the model runs instead of its forward (a training step, ``generate``),
    which may also step an optimizer (and its LR scheduler and AMP gradient scaler) or convert the
    model (``self.half()``): both are undone too (``inputs``: the method's arguments, where an
    optimizer, a scheduler or a scaler may be given)."""
    state = Preserved()
    grad_mode = torch.is_grad_enabled()
    random_state = _random_state()
    settings = _settings()
    # the module list is shared with the caller when it has one already. List comprehensions
    # and list comparisons: the per-item work is a few attribute reads, so Python's loop overhead
    # is most of the cost, and a profile pays it twice (here and on exit)
    if modules is None:
        modules = list(model.named_modules())
    # (a frozen TorchScript module, ``torch.jit.freeze``, has no ``training`` attribute: None, left alone,
    # unless ``.eval()`` set one on its Python wrapper)
    training = [getattr(m, "training", None) for _, m in modules]
    # every module's slots as they are now (most modules have none): what a forward may rebind
    stores = [(path, m, tuple(m._parameters.items()), tuple(m._buffers.items()))
              for path, m in modules if m._parameters or m._buffers]
    # every parent's submodules as they are now: what a forward (or a method) may rebind or delete
    # (a TorchScript module's are not a dict, and cannot be rebound from Python; before torch 2.5 they are
    # an OrderedDict, a dict too), and its class (a parametrized module's, which removing its last
    # parametrization reverts: put back with it)
    children = [(path, m, tuple(m._modules.items()), type(m)) for path, m in modules
                if isinstance(m._modules, dict) and m._modules]
    child_ids = [id(child) for _, _, items, _ in children for _, child in items]
    # the hooks of the modules with slots that have forward pre-hooks (few): a forward that removes them
    # with the slots they work on (remove_weight_norm, remove_spectral_norm: their hooks, the weight they
    # compute) gets them back with those slots, which are put back (the module would be left with neither)
    hooked = [(path, m, tuple(pre.items()), tuple(m._forward_pre_hooks_with_kwargs.items()),
               tuple(m._state_dict_hooks.items()), tuple(m._load_state_dict_pre_hooks.items()))
              for path, m, _, _ in stores if (pre := m._forward_pre_hooks)]
    if hooked:  # (and the tensor each legacy hook computed, a plain attribute)
        hooked = [(*entry, _legacy_tensors(entry[1], entry[2])) for entry in hooked]
    slot_ids = [id(v) for _, _, items, _ in stores for _, v in items] + \
        [id(v) for _, _, _, items in stores for _, v in items]
    params = [(path, name, p) for path, _, items, _ in stores for name, p in items if p is not None]
    if len({id(p) for _, _, p in params}) != len(params):  # a parameter shared between modules: once
        unique: dict = {}
        for entry in params:
            unique.setdefault(id(entry[2]), entry)
        params = list(unique.values())
    requires_grad = [p.requires_grad for _, _, p in params]
    grads = [p.grad for _, _, p in params]  # a backward (a profiled training step) sets or accumulates them
    # the values of gradients already there: a backward may accumulate into them in place
    saved_grads = {i: g.detach().clone() for i, g in enumerate(grads) if g is not None and not g.is_meta} \
        if any(g is not None for g in grads) else {}
    grad_versions = {i: grads[i]._version for i in saved_grads}
    versions = _versions(params)  # None: lazy
    buffers = [b for _, _, _, items in stores for _, b in items if b is not None and not isinstance(b, _UNINITIALIZED)]
    buffers += _frozen_kept_buffers(modules)  # (a frozen TorchScript module's: in no _buffers)
    # (lazy ones: named on exit if the forward materialised them, which turns each into a plain one in place)
    lazy = [(_qualified(path, name), p) for (path, name, p), version in zip(params, versions) if version is None]
    saved_params = {}
    if copy_params:
        saved_params = {id(p): p.detach().clone() for (_, _, p), version in zip(params, versions)
                        if version is not None and not p.is_meta}
    else:  # weights their own module rewrites in every forward: copied anyway (only those)
        for _, m in modules:
            if isinstance(m, _RENORMED) and m.max_norm is not None and isinstance(m.weight, nn.Parameter) \
                    and not m.weight.is_meta and not is_lazy(m.weight):
                saved_params[id(m.weight)] = m.weight.detach().clone()
    saved_buffers = _BufferCopy(buffers)

    def current_slot_ids() -> list:
        return [id(v) for _, m in modules for v in m._parameters.values()] + \
            [id(v) for _, m in modules for v in m._buffers.values()]

    def buffer_versions() -> "list | None":  # (None: an inference tensor among them, which has none)
        try:
            return [b._version for b in buffers]
        except RuntimeError:
            return None

    # taken at the first reset_buffers() call, which measure makes before its first pass: counting,
    # which never calls it, does not pay for reading every buffer's version
    versions_now: list = []

    def children_changed() -> bool:
        return [id(child) for _, m, _, _ in children for child in m._modules.values()] != child_ids

    # id(parameter or buffer) → [the parametrized tensor's name, how many registrations set_() it, whether each
    # left its values as they were (no right_inverse)]: each measured pass may register it again
    set_by_registration: dict = {}

    def undo_parametrizations() -> list[str]:
        """Remove the parametrizations registered since (found only when a slot or a child differs);
        the names of the tensors parametrized."""
        registered = _undo_parametrizations(modules)
        for name, plist in registered:
            # (a buffer's too: named on exit like a parameter's, also when registered in an earlier pass only)
            if plist is not None and getattr(plist, "is_tensor", False):
                entry = set_by_registration.setdefault(id(plist.original), [name, 0, True])
                entry[1] += 1
                entry[2] = entry[2] and not any(hasattr(f, "right_inverse") for f in plist)
        return [name for name, _ in registered]

    # id(parameter) → [the parametrized tensor's name, how many removals (leave_parametrized=True) may
    # have set_() it to the parametrized value]: each measured pass may remove it again
    set_by_removal: dict = {}
    unrestorable: list = []  # what stopped one being put back
    removed: dict = {}  # the name of each tensor whose parametrization was put back → its module's path

    def put_back_parametrizations() -> list[str]:
        """Put back the parametrizations the model had that were removed since (found only when a
        child differs); the names of the tensors."""
        restored = _restore_parametrizations(children, unrestorable)
        for name, plist, path in restored:
            removed[name] = path
            original = plist._parameters.get("original") if getattr(plist, "is_tensor", False) else None
            if isinstance(original, nn.Parameter):
                set_by_removal.setdefault(id(original), [name, 0])[1] += 1
        return [name for name, _, _ in restored]

    def reset_buffers() -> None:
        if not versions_now:
            versions_now.append(buffer_versions())
            return
        slots_changed = current_slot_ids() != slot_ids
        rebound = children_changed()
        if (slots_changed or rebound) and undo_parametrizations() and datas is not None:
            _restore_data(params, datas)  # (a right_inverse's set_(): each pass from the data as found)
        if slots_changed:
            touched: set = set()
            _restore_slots(modules, stores, touched)
            if hooked:
                _put_back_hooks(hooked, touched)
        # a parametrization the model had, removed by the pass: back before the next one
        if rebound and put_back_parametrizations() and datas is not None:
            _restore_data(params, datas)  # (a removal's set_() to the parametrized value)
        # (the versions tell whether one was written since, without comparing values: on CUDA that
        # would synchronise before every pass, the energy loop's included)
        for copy in materialised:
            copy.restore()
        now = buffer_versions()
        if now is None or now != versions_now[0]:
            saved_buffers.restore()
            versions_now[0] = buffer_versions()  # (copying back bumps them)

    state.reset_buffers = reset_buffers
    # only for a method (a reference to every parameter's data is not worth taking in every profile;
    # a forward that converts its parameters is told by their dtypes, below): the data each parameter
    # holds, which .half() / .to() rebind without bumping a version, and the optimizers it steps
    datas = [None if v is None else p.data for (_, _, p), v in zip(params, versions)] if method else None
    # a forward that converts them (``self.half()``, ``.to(dtype)``) is told by their dtypes (an attribute
    # read per parameter): it cannot be undone without a copy, as an in-place write cannot
    dtypes = [p.dtype for _, _, p in params] if not method else None
    # (a function given as the method may hold its scheduler or scaler itself: its closure, defaults, the
    # globals it names, a bound method's object; FunctionMethod.held)
    # (and so may a method the model holds as a function of its own, ``model.step = step``, or one of its
    # class naming a global: what it holds is searched alike)
    held = method.held() if isinstance(method, FunctionMethod) else _held_by_method(model, method) if method else []
    stepped = _SteppedOptimizers([m for _, m in modules] + list(inputs) + held) if method else None
    # a lazy module's uninitialised buffers (LazyBatchNorm's running statistics), which its first forward
    # materialises and then updates (in training mode): copied as materialised, by its own materialising
    # pre-hook wrapped in place (no hook added), and put back on exit: the materialisation is kept, the
    # forward's update is not
    materialised: list = []
    lazy_hooks = [_copying_materialised(m, materialised) for _, m, _, items in stores
                  if any(isinstance(b, _UNINITIALIZED) for _, b in items)]
    # every hook handle torch makes takes the next of these ids: one read now and one comparison on exit
    # tell whether the forward registered any (ours are removed by then), the hook dicts are searched only then
    first_hook = RemovableHandle.next_id
    completed = False
    try:
        yield state
        completed = True
    finally:
        if lazy:
            state.lazy = [name for name, p in lazy if not isinstance(p, _UNINITIALIZED)]
        if stepped is not None:
            stepped.close()
        for hooks, key, hook in lazy_hooks:  # (gone once the module materialised: it removes itself)
            if key in hooks:
                hooks[key] = hook
        torch.set_grad_enabled(grad_mode)
        _set_random_state(random_state)
        if _settings() != settings:
            state.restored_settings = _restore_settings(settings)
        if RemovableHandle.next_id != first_hook:
            state.removed_hooks = _remove_hooks_since(first_hook, modules, params)
        for (_, m), flag in zip(modules, training):
            if flag is not None and m.training is not flag:
                m.training = flag
        # one comparison of ids (the originals are alive in ``stores``) tells whether any slot changed
        slots_changed = current_slot_ids() != slot_ids
        # (one comparison of ids, as for the slots; a submodule added makes it differ too, and is kept)
        rebound = children_changed()
        # a parametrization registered meanwhile (which moves the tensor out of its slot, swaps the
        # module's class and adds a ``parametrizations`` submodule) is removed first: found only when one
        # of the comparisons above differs
        if slots_changed or rebound:
            state.removed_parametrizations = undo_parametrizations()
        state.removed_parametrizations = sorted({*state.removed_parametrizations,
                                                 *(name for name, _, _ in set_by_registration.values())})
        if slots_changed:
            touched = set()
            state.restored_slots = [name for name in _restore_slots(modules, stores, touched)
                                    if name not in state.removed_parametrizations]
            if hooked:
                state.restored_hooks = _put_back_hooks(hooked, touched)
        if rebound:
            state.restored_modules = _restore_children(children)
            # a parametrization the model had that the forward removed (remove_parametrizations, which
            # reverts the module's class, deletes its property and puts the tensor in its slot): the
            # slot and the submodules are back by now, the class and the property are put back here
            put_back_parametrizations()
        if removed:
            state.restored_parametrizations = sorted(removed)
            # (the slot it left and the ``parametrizations`` submodules put back with it are told by its note)
            state.restored_slots = [name for name in state.restored_slots if name not in removed]
            within = {_qualified(path, "parametrizations") for path in removed.values()}
            state.restored_modules = [path for path in state.restored_modules
                                      if path not in within and path.rpartition(".")[0] not in within]
        saved_buffers.restore()
        for copy in materialised:
            copy.restore()
        if datas is not None:
            state.restored_data = _restore_data(params, datas)
            if set_by_removal:  # (its note tells it)
                skip = {_qualified(path, name) for path, name, p in params if id(p) in set_by_removal}
                state.restored_data = [name for name in state.restored_data if name not in skip]
        state.restored_grads = _restore_grads(params, grads, saved_grads, grad_versions)
        if [p.requires_grad for _, _, p in params] != requires_grad:
            for (_, _, p), flag in zip(params, requires_grad):
                if p.requires_grad is not flag:  # (the attribute: an uninitialised lazy one refuses requires_grad_())
                    p.requires_grad = flag
        if stepped is not None:
            if stepped.seen:
                state.stepped_optimizers = stepped.restore()
            # (also when no optimizer stepped: a GradScaler that found an inf skips the step, while
            # the scheduler is stepped and the scaler backs off regardless)
            state.stepped_schedulers = stepped.restore_schedulers()
            state.updated_scalers = stepped.restore_scalers()
            state.regrouped_optimizers, state.retuned_optimizers = stepped.restore_groups()
        changed = []
        now = _versions(params)
        rewritten = {}  # id(parameter) → the name of the parametrized tensor whose registration rewrote it
        unset = {}  # id(parameter) → the name of the parametrized tensor whose removal set_() it to its value
        if now != versions:
            # the parameters an optimizer stepped, put back from the copy its first step took: those the
            # method had not written before it (a SAM step's w + ε, or a rounding off w after − ε, would
            # be the copy: such a write is one that cannot be undone, as any; a parametrization's set_()
            # is told below)
            found = {id(p): version for (_, _, p), version in zip(params, versions)}
            put_back = set()
            for key, (_, _, _, version) in (stepped.copies.items() if stepped is not None else ()):
                start = found.get(key, version)
                # (the versions a parametrization's registration or removal added meanwhile: told below)
                set_ = (set_by_registration.get(key) or (0, 0))[1] + (set_by_removal.get(key) or (0, 0))[1]
                if not isinstance(start, int) or not isinstance(version, int) or start <= version <= start + set_:
                    put_back.add(key)
            # registering a parametrization set_()s the tensor to its right_inverse (itself where there is
            # none): one version. Its values are unchanged where there is none, or where the method's data
            # reference put the old data back (_restore_data); otherwise it is a write that cannot be undone
            explained = set()
            # (removing one the model had set_()s the tensor to the parametrized value, with
            # leave_parametrized=True: one version more, and a write unless the method's data reference
            # put the old data back)
            for (path, name, p), version, current in zip(params, versions, now):
                entry = set_by_registration.get(id(p))
                removal = set_by_removal.get(id(p))
                if entry is None and removal is None or version is None:
                    continue
                # (both, where a forward removes one and registers one again: each registration one
                # version, each removal one or none, as leave_parametrized was True or False)
                registered = entry[1] if entry is not None else 0
                if not version + registered <= current <= version + registered + (removal[1] if removal else 0) \
                        or current == version:
                    continue
                if datas is None and entry is not None and not entry[2]:
                    rewritten[id(p)] = entry[0]
                if datas is None and current > version + registered:
                    unset[id(p)] = removal[0]
                if id(p) not in rewritten and id(p) not in unset:
                    explained.add(id(p))
            changed = [(_qualified(path, name), p) for (path, name, p), version, current
                       in zip(params, versions, now) if version is not None and current != version
                       and id(p) not in put_back and id(p) not in explained]
        converted = set()
        if dtypes is not None and [p.dtype for _, _, p in params] != dtypes:
            converted = {id(p) for (_, _, p), dtype, version in zip(params, dtypes, versions)
                         if p.dtype is not dtype and version is not None}
            listed = {id(p) for _, p in changed}
            changed += [(_qualified(path, name), p) for path, name, p in params if id(p) in converted - listed]
        if saved_params:  # a write through .data leaves the version alone: the copy tells
            listed = {id(p) for _, p in changed}
            changed += [(_qualified(path, name), p) for path, name, p in params
                        if id(p) in saved_params and id(p) not in listed and not _same_bits(p.detach(), saved_params[id(p)])]
        with torch.no_grad():
            for name, p in changed:
                if id(p) in saved_params:
                    _put_back(p, saved_params[id(p)])
                    state.restored_params.append(name)
        # (a meta tensor holds no values: an in-place write to it bumps its version, changes nothing)
        unrestored = [name for name, p in changed if id(p) not in saved_params and not p.is_meta
                      and id(p) not in converted and id(p) not in rewritten and id(p) not in unset]
        parametrized = [rewritten[id(p)] for name, p in changed if id(p) in rewritten and id(p) not in saved_params
                        and not p.is_meta]
        unconverted = [name for name, p in changed if id(p) not in saved_params and not p.is_meta
                       and id(p) in converted]
        unparametrized = [unset[id(p)] for name, p in changed if id(p) in unset and id(p) not in saved_params
                          and not p.is_meta]
        if unrestorable:
            what = f"the {f'{method} call' if method else 'forward pass'}"
            message = f"{what} {' and '.join(unrestorable)}"
            if completed:
                raise RuntimeError(message)
            failure = sys.exc_info()[1]
            if failure is not None and hasattr(failure, "add_note"):
                failure.add_note(f"torchcount: {message}")
        if unrestored or unconverted or parametrized or unparametrized:
            what = f"the {f'{method} call' if method else 'forward pass'}"
            message = " and ".join(
                ([f"modified parameter(s) {_five(unrestored)} in place"] if unrestored else []) +
                ([f"converted parameter(s) {_five(unconverted)} to another dtype (.half(), .to())"]
                 if unconverted else []) +
                ([f"registered a parametrization on {_five(parametrized)} (torch.nn.utils.parametrize; "
                  "removed again), whose right_inverse rewrote the parameter's values"] if parametrized else []) +
                ([f"removed the parametrization on {_five(unparametrized)} (torch.nn.utils.parametrize."
                  "remove_parametrizations; put back), which set_() the tensor it parametrizes to its parametrized "
                  "values"] if unparametrized else []))
            message = (f"{what} {message}; torchcount cannot restore them (profile(..., copy_params=True) keeps a copy "
                       "and restores them)")
            if completed:
                raise ParameterModifiedError(message)
            failure = sys.exc_info()[1]  # the forward failed as well: say so on its exception
            if failure is not None and hasattr(failure, "add_note"):
                failure.add_note(f"torchcount: {message}")


def _copying_materialised(m: nn.Module, copies: list) -> tuple:
    """Wrap lazy module ``m``'s materialising pre-hook (``LazyModuleMixin._infer_parameters``) in place, so
    that it also appends to ``copies`` a copy of the uninitialised buffers it materialised (the same
    tensor objects, materialised in place); (the hook dict, the key, the hook) to put back, the key None
    where ``m`` has no such hook."""
    handle = m.__dict__.get("_initialize_hook")
    hooks = m._forward_pre_hooks
    if handle is None or handle.id not in hooks:
        return hooks, None, None
    hook = hooks[handle.id]
    lazy = [b for b in m._buffers.values() if isinstance(b, _UNINITIALIZED)]

    def materialising(module, *args):
        result = hook(module, *args)
        copies.append(_BufferCopy([b for b in lazy if not isinstance(b, _UNINITIALIZED)]))
        return result

    materialising._torchcount_hook = hook  # (what a copy made meanwhile holds: capture's _reduce_as_found)
    hooks[handle.id] = materialising
    return hooks, handle.id, hook


def _five(names: list) -> str:
    """The first five names, then " …" where there are more (an error naming all of them would not read)."""
    return ", ".join(names[:5]) + (" …" if len(names) > 5 else "")


def _random_state() -> tuple:
    """The states of torch's default random generators: the CPU's, and each CUDA device's once CUDA
    is initialised (before that, no forward of the caller's has drawn on one). A profile's forwards
    draw from them (dropout masks, stochastic depth, ``generate``'s sampling); put back, the caller's
    next draw is the one it would have made without the profile."""
    return torch.get_rng_state(), torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None


def _set_random_state(state: tuple) -> None:
    cpu, cuda = state
    torch.set_rng_state(cpu)
    if cuda is not None:
        torch.cuda.set_rng_state_all(cuda)
    elif torch.cuda.is_initialized():  # the profile initialised CUDA: each generator as initialising left it
        # (its seed, offset 0: the default one, or what torch.manual_seed queued before CUDA was up)
        for generator in torch.cuda.default_generators:
            generator.manual_seed(generator.initial_seed())


def _autocast_state(device_type: str) -> tuple:
    """Whether autocast is on for ``device_type``, and its dtype (torch 2.2 has per-device getters)."""
    try:
        return torch.is_autocast_enabled(device_type), torch.get_autocast_dtype(device_type)
    except (TypeError, AttributeError):
        if device_type == "cpu":
            return torch.is_autocast_cpu_enabled(), torch.get_autocast_cpu_dtype()
        return torch.is_autocast_enabled(), torch.get_autocast_gpu_dtype()


def _set_autocast_state(device_type: str, state: tuple) -> None:
    enabled, dtype = state
    try:
        torch.set_autocast_enabled(device_type, enabled)
        torch.set_autocast_dtype(device_type, dtype)
    except (TypeError, AttributeError):
        if device_type == "cpu":
            torch.set_autocast_cpu_enabled(enabled)
            torch.set_autocast_cpu_dtype(dtype)
        else:
            torch.set_autocast_enabled(enabled)
            torch.set_autocast_gpu_dtype(dtype)


def _autocast_nesting() -> int:
    """How many autocast regions the thread is in (torch has no getter: one in and out again; leaving
    the last one is what empties the cast-weight cache, which ``torch.autocast.__exit__`` does itself)."""
    level = torch.autocast_increment_nesting() - 1
    torch.autocast_decrement_nesting()
    return level


def _set_autocast_nesting(level: int) -> None:
    """Leave the regions entered since (a forward's region entered and never left), or enter again those
    left; at level 0 the cast-weight cache is emptied, as leaving the outermost region does."""
    now = _autocast_nesting()
    for _ in range(now - level):
        if torch.autocast_decrement_nesting() == 0:
            torch.clear_autocast_cache()
    for _ in range(level - now):
        torch.autocast_increment_nesting()


def _backend_owner(where: str, name: str):
    """The ``torch.backends`` object holding flag ``name`` (``where``: its dotted path below
    ``torch.backends``), or None where this torch has no such flag."""
    owner = torch.backends
    for part in filter(None, where.split(".")):
        owner = getattr(owner, part, None)
    try:
        getattr(owner, name)
    except AttributeError:  # (None's too)
        return None
    except RuntimeError:  # (there, unreadable now: the legacy TF32 flag once the new API set it apart)
        pass
    return owner


#: torch.backends' own globals (torch ≥ 2.9 puts a wrapper of the module in sys.modules), where
#: ``disable_global_flags()`` freezes the flags: empty where this torch keeps the freeze elsewhere
_BACKENDS_GLOBALS = getattr(getattr(torch.backends, "flags_frozen", None), "__globals__", {})
_FROZEN_KEY = "__allow_nonbracketed_mutation_flag"


def _set_backend_flag(owner, name: str, value) -> None:
    """Put a flag back, also where the flags are frozen (``disable_global_flags``, as torch's test
    harness does, and the forward changed it inside torch's own bracket): as ``torch.backends.cudnn.flags()``
    puts its flags back on leaving, inside ``__allow_nonbracketed_mutation()``."""
    bracket = _BACKENDS_GLOBALS.get("__allow_nonbracketed_mutation")
    if bracket is None or not torch.backends.flags_frozen():
        setattr(owner, name, value)
        return
    with bracket():
        setattr(owner, name, value)


def _flags_frozen_setting() -> "tuple | None":
    """The freeze of torch.backends' flags itself: a forward that calls ``disable_global_flags()`` changed
    a process-wide setting (every later assignment to a flag raises), put back as the others are."""
    if _FROZEN_KEY not in _BACKENDS_GLOBALS:  # pragma: no cover - a torch that keeps the freeze elsewhere
        return None
    return ("torch.backends.disable_global_flags", torch.backends.flags_frozen,
            lambda frozen: _BACKENDS_GLOBALS.__setitem__(_FROZEN_KEY, not frozen))


def _backend_flag(where: str, name: str) -> tuple:
    owner = _backend_owner(where, name)
    put = lambda value: _set_backend_flag(owner, name, value)  # noqa: E731
    if (where, name) == ("mkldnn", "fp32_precision"):
        # (torch 2.11's property reads oneDNN's own precision but sets the top one, which oneDNN's follows
        # only until it is set apart: set apart by ``mkldnn.flags(fp32_precision=…)`` entered and never left,
        # it stayed; set where it is read, as its leaves are, which frozen flags do not refuse either)
        put = lambda value: torch._C._set_fp32_precision_setter("mkldnn", "all", value)  # noqa: E731
    return (f"torch.backends.{where + '.' if where else ''}{name}", lambda: getattr(owner, name), put)


def _backend_switch(where: str, getter: str, setter: str) -> "tuple | None":
    """A ``torch.backends`` setting read and set by functions (``torch.backends.cuda.enable_flash_sdp``,
    ``flash_sdp_enabled``), or None where this torch has no such pair."""
    owner = torch.backends
    for part in filter(None, where.split(".")):
        owner = getattr(owner, part, None)
    get, put = getattr(owner, getter, None), getattr(owner, setter, None)
    return None if get is None or put is None else (f"torch.backends.{where}.{setter}", get, put)


#: torch's process-wide (or thread-wide) settings a forward may change and forget to set back:
#: (what sets it, its getter, its setter); two dozen C calls per profile, none per module
_SETTINGS = (
    ("torch.set_default_dtype", torch.get_default_dtype, torch.set_default_dtype),
    ("torch.use_deterministic_algorithms",
     lambda: (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()),
     lambda v: torch.use_deterministic_algorithms(v[0], warn_only=v[1])),
    ("torch.set_num_threads", torch.get_num_threads, torch.set_num_threads),
    ("torch.autograd.set_detect_anomaly",
     lambda: (torch.is_anomaly_enabled(), torch.is_anomaly_check_nan_enabled()),
     lambda v: torch.autograd.set_detect_anomaly(v[0], check_nan=v[1])),
    ("torch.set_float32_matmul_precision", torch.get_float32_matmul_precision, torch.set_float32_matmul_precision),
    ("autocast (cpu)", lambda: _autocast_state("cpu"), lambda v: _set_autocast_state("cpu", v)),
    ("autocast (cuda)", lambda: _autocast_state("cuda"), lambda v: _set_autocast_state("cuda", v)),
    ("torch.set_autocast_cache_enabled", torch.is_autocast_cache_enabled, torch.set_autocast_cache_enabled),
    # (a region entered and never left also keeps its level: the caller's regions then never emptied the
    # cache of cast weights on leaving, and reused casts of weights updated in place since)
    ("autocast (a region entered and not left)", _autocast_nesting, _set_autocast_nesting),
    *filter(None, [_flags_frozen_setting()]),
    # torch.backends' flags (a forward that turns on cuDNN's autotuner or TF32 for itself); the legacy TF32
    # flag before torch 2.9's fp32_precision ones, whose leaves it sets: put back first, the leaves then
    # differ only where they were set apart (reading it raises once they were: left alone)
    *(_backend_flag(where, name) for where, name in (
        ("cudnn", "enabled"), ("cudnn", "benchmark"), ("cudnn", "deterministic"), ("cudnn", "allow_tf32"),
        ("cuda.matmul", "allow_fp16_reduced_precision_reduction"),
        ("cuda.matmul", "allow_bf16_reduced_precision_reduction"), ("mkldnn", "enabled"),
        ("", "fp32_precision"), ("cuda.matmul", "fp32_precision"), ("cudnn", "fp32_precision"),
        ("cudnn.conv", "fp32_precision"), ("cudnn.rnn", "fp32_precision"), ("mkldnn", "fp32_precision"),
        # (oneDNN's leaves too: set_float32_matmul_precision sets mkldnn.matmul's, and putting the precision
        # back leaves it "ieee" where it was "none")
        ("mkldnn.matmul", "fp32_precision"), ("mkldnn.conv", "fp32_precision"), ("mkldnn.rnn", "fp32_precision"),
        ("mkldnn", "deterministic"), ("cuda.matmul", "allow_fp16_accumulation"))
      if _backend_owner(where, name) is not None),
    # (scaled-dot-product attention's kernels, which a forward may switch off for itself, or an
    # ``sdpa_kernel`` region it enters and never leaves; nn.MultiheadAttention's fast path)
    *(switch for switch in (_backend_switch(where, getter, setter) for where, getter, setter in (
        ("cuda", "flash_sdp_enabled", "enable_flash_sdp"), ("cuda", "mem_efficient_sdp_enabled", "enable_mem_efficient_sdp"),
        ("cuda", "math_sdp_enabled", "enable_math_sdp"), ("cuda", "cudnn_sdp_enabled", "enable_cudnn_sdp"),
        ("cuda", "fp16_bf16_reduction_math_sdp_allowed", "allow_fp16_bf16_reduction_math_sdp"),
        ("mha", "get_fastpath_enabled", "set_fastpath_enabled"))) if switch is not None),
    # (the two more an ``sdpa_kernel`` region sets, which torch.backends has no functions for: the backend of
    # out-of-tree devices, switched off by a region that leaves it out, and the kernels' order of preference,
    # set by ``set_priority=True``; a region entered and never left kept them for the caller's attention)
    *((name, getattr(torch._C, getter), getattr(torch._C, setter)) for name, getter, setter in (
        ("torch.nn.attention.sdpa_kernel (the overrideable backend)", "_get_overrideable_sdp_enabled",
         "_set_sdp_use_overrideable"),
        ("torch.nn.attention.sdpa_kernel (set_priority)", "_get_sdp_priority_order", "_set_sdp_priority_order"))
      if hasattr(torch._C, getter) and hasattr(torch._C, setter)),
)


_UNREADABLE = object()


def _read_setting(get):
    try:
        return get()
    except RuntimeError:  # (torch 2.9+: the matmul precision read after TF32 was set through both its APIs)
        return _UNREADABLE


def _settings() -> list:
    return [_read_setting(get) for _, get, _ in _SETTINGS]


def _restore_settings(saved: list) -> list[str]:
    """Put back each setting that differs from ``saved`` (one that could not be read is left alone);
    their names."""
    changed = []
    for (name, get, put), value in zip(_SETTINGS, saved):
        now = _read_setting(get)
        if value is not _UNREADABLE and now is not _UNREADABLE and now != value:
            try:
                put(value)
            except RuntimeError as error:  # (torch.backends.disable_global_flags() froze it since)
                changed.append(f"{name} (not put back: {error})")
                continue
            changed.append(name)
    return changed


#: a module's hook dicts, keyed by handle id (the last three say how the hook of that id is called)
_MODULE_HOOKS = (("_forward_pre_hooks", "forward pre-hook"), ("_forward_hooks", "forward hook"),
                 ("_backward_pre_hooks", "backward pre-hook"), ("_backward_hooks", "backward hook"),
                 ("_state_dict_pre_hooks", "state_dict pre-hook"), ("_state_dict_hooks", "state_dict hook"),
                 ("_load_state_dict_pre_hooks", "load_state_dict pre-hook"),
                 ("_load_state_dict_post_hooks", "load_state_dict post-hook"),
                 ("_forward_pre_hooks_with_kwargs", None), ("_forward_hooks_with_kwargs", None),
                 ("_forward_hooks_always_called", None))
#: torch's process-wide module hooks (``register_module_forward_hook`` …), as they are named in nn.modules.module
#: (the last two say how the forward hook of that id is called: not named in the note; the with_kwargs one only in newer torch)
_GLOBAL_HOOKS = ("_global_forward_pre_hooks", "_global_forward_hooks",
                 "_global_backward_pre_hooks", "_global_backward_hooks", "_global_buffer_registration_hooks",
                 "_global_module_registration_hooks", "_global_parameter_registration_hooks")
_GLOBAL_HOOK_FLAGS = ("_global_forward_hooks_always_called", "_global_forward_hooks_with_kwargs")


#: where the hooks a library installs once, on a first forward, and marks as installed on the model are
#: defined: they are kept, as a lazy module's materialisation is (removed, the mark stayed and the library
#: never installed them again: transformers' output capturing then returned no hidden states, no attentions)
_SET_UP_HOOKS = ("transformers.utils.output_capturing",)


def _set_up_hook(hook) -> bool:
    return getattr(hook, "__module__", None) in _SET_UP_HOOKS


def _remove_hooks_since(first: int, modules: list, params: list) -> list[str]:
    """Remove every hook registered since the handle id ``first`` was next (as its handle's ``remove``
    would) from the modules, their parameters (tensor hooks, post-accumulate-grad hooks) and torch's
    process-wide module hooks, but a library's set-up (``_SET_UP_HOOKS``); where they were, as
    "fc1 (forward hook)"."""
    import torch.nn.modules.module as module_globals

    removed = []

    def drop(hooks, where: "str | None", kept: "set | frozenset" = frozenset()) -> None:
        if isinstance(hooks, dict):
            new = [key for key in hooks if isinstance(key, int) and key >= first and key not in kept]
            for key in new:
                del hooks[key]
            if new and where is not None:
                removed.append(where)

    for path, m in modules:
        own = m.__dict__
        # (a kept hook's entries in the dicts that say how it is called stay too)
        kept = {key for name, kind in _MODULE_HOOKS if kind for hooks in (own.get(name),) if isinstance(hooks, dict)
                for key, hook in hooks.items() if isinstance(key, int) and key >= first and _set_up_hook(hook)}
        for name, kind in _MODULE_HOOKS:
            drop(own.get(name), f"{path or '(root)'} ({kind})" if kind else None, kept)
    for path, name, p in params:
        drop(p._backward_hooks, f"{_qualified(path, name)} (tensor hook)")
        drop(getattr(p, "_post_accumulate_grad_hooks", None), f"{_qualified(path, name)} (post-accumulate-grad hook)")
    for name in _GLOBAL_HOOKS:
        drop(getattr(module_globals, name, None), f"torch.nn.modules.module.{name}")
    for name in _GLOBAL_HOOK_FLAGS:
        drop(getattr(module_globals, name, None), None)
    return list(dict.fromkeys(removed))


def _frozen_kept_buffers(modules: list) -> list:
    """The buffers that freezing (``torch.jit.freeze``) kept as attributes of a frozen module's
    submodules, which its forward updates in place (``count.frozen_constants``): the frozen module
    lists no submodules, so no ``_buffers`` holds them."""
    # (the usual case: no ScriptModule, seen from the distinct types: an isinstance per module costs 4×)
    if not any(issubclass(kind, torch.jit.ScriptModule) for kind in {type(m) for _, m in modules}):
        return []
    from .count import frozen_constants, frozen_script

    return [t for _, m in modules if frozen_script(m) for t in frozen_constants(m).buffers]


#: modules whose forward renormalises the rows it looks up in place when ``max_norm`` is set
#: (``F.embedding``'s documented behaviour): their weight is copied and put back by default
_RENORMED = (nn.Embedding, nn.EmbeddingBag)


class _Untracked:
    """The version of an inference tensor (made under ``torch.inference_mode()``), which has no
    version counter; it cannot be written outside inference mode, and a write inside it is
    not seen (``copy_params=True`` compares the values instead)."""

    def __repr__(self) -> str:
        return "untracked"


_UNTRACKED = _Untracked()


def _versions(params: list) -> list:
    """Each parameter's version counter (None for a lazy one, :data:`_UNTRACKED` for an
    inference tensor)."""
    try:
        return [None if isinstance(p, _UNINITIALIZED) else p._version for _, _, p in params]
    except RuntimeError:  # an inference tensor among them: the slow path, one check per tensor
        return [None if isinstance(p, _UNINITIALIZED) else _UNTRACKED if p.is_inference() else p._version
                for _, _, p in params]


def _put_back(original: torch.Tensor, saved: torch.Tensor) -> None:
    """Write ``saved`` into ``original``: in place, or by rebinding its data where a conversion
    (``.half()``, ``.to()``) left it another dtype, device, shape or layout, which ``copy_`` would
    round into (not under autograd: callers hold ``torch.no_grad()``)."""
    if (original.dtype, original.device, original.shape, original.layout) != \
            (saved.dtype, saved.device, saved.shape, saved.layout):
        original.data = saved
    else:
        original.copy_(saved)


def _restore_data(params: list, datas: list) -> list[str]:
    """Rebind each parameter whose data a method replaced (``.half()``, ``.cuda()``, ``p.data = x``)
    to the data it held, values as they were then (unless written in place as well: a copy, when
    one was taken, is restored after this). Returns their names."""
    changed = []
    for (path, name, p), data in zip(params, datas):
        if data is not None and (p.dtype is not data.dtype or p.data_ptr() != data.data_ptr()
                                 or p.shape != data.shape):
            p.data = data
            changed.append(_qualified(path, name))
    return changed


class _SteppedOptimizers:
    """The optimizers a profiled method steps (a training step's ``optimizer.step()``), seen by a
    step pre-hook while the method runs in this thread: before an optimizer's first step its state
    (Adam's moments and step counts, momentum buffers), its hyper-parameters (which a scheduler
    inside the method may change) and every parameter it updates are copied (one in a param group the
    method adds later, before the step that first updates it); :meth:`restore` puts them back, so the
    next real step runs as if the profile had not. (Torch's only step hook for every optimizer is
    process-wide: steps in other threads are ignored.)

    ``owners``: objects whose attributes may hold optimizers (the modules; the method's inputs). An
    optimizer class whose ``step`` no longer runs the hooks (torch 2.2 strips them once dynamo has
    compiled anything) gets a wrapper in the instance's ``__dict__`` instead, removed on close."""

    def __init__(self, owners: "list | None" = None):
        from torch.optim import Optimizer
        from torch.optim.optimizer import register_optimizer_step_pre_hook

        self.thread = threading.get_ident()
        self.seen: dict = {}  # id(optimizer) → [optimizer, steps, its groups' and state's snapshots]
        self.copies: dict = {}  # id(parameter) → (parameter, the data its first step updated, a copy of it)
        self.handle = register_optimizer_step_pre_hook(self._hooked)
        self.inside: set = set()  # id(optimizer) of the wrapped steps running now (seen by the wrapper)
        self.wrapped: list = []
        hooked = Optimizer.profile_hook_step(_no_step).__code__
        #: (scheduler, a copy of its state_dict) of each learning-rate scheduler the owners hold: a
        #: method that steps one moves its epoch counter and last rates, which no step hook sees
        self.schedulers: list = []
        #: (scaler, its snapshot) of each AMP gradient scaler the owners hold: ``update`` writes its
        #: scale and growth tracker in place, ``unscale_``/``step`` advance its per-optimizer stages
        self.scalers: list = []
        #: (optimizer, its param groups, a snapshot of each group, its ``__dict__``, a snapshot of its
        #: state, a snapshot of its ``defaults``) of each optimizer the owners hold, as found: a method may
        #: add a group (``add_param_group``: unfreezing layers), set a learning rate before its first step
        #: (a warm-up, or a scheduler made there: LinearLR scales it at once and adds ``initial_lr``), leave
        #: attributes behind (a scheduler's wrapper of ``step``), clear its state (a momentum reset, stepped
        #: or not) or set a default in place (``opt.defaults["lr"] = …``, read by ``add_param_group``)
        self.groups: dict = {}
        for owner in owners or ():
            for value in _held(owner):
                if isinstance(value, Optimizer) and id(value) not in self.groups:
                    self.groups[id(value)] = (value, list(value.param_groups),
                                              [_snapshot(group, group=True) for group in value.param_groups],
                                              dict(vars(value)),
                                              {p: _snapshot(values) for p, values in value.state.items()},
                                              _snapshot(value.defaults) if isinstance(value.defaults, dict) else None)
                if isinstance(value, Optimizer) and not getattr(vars(value).get("step"), "_torchcount_step", False) \
                        and (getattr(type(value).step, "__code__", None) is not hooked or "step" in vars(value)):
                    # its class's step runs no hooks, or its instance has a step of its own: an LR scheduler's
                    # counting wrapper, which calls the class's step as it was when the scheduler was made
                    # (torch 2.2: stripped of its hooks once dynamo has compiled anything, while a deepcopy of
                    # an optimizer hooks the class again). Ours wraps it; the hook then stays quiet for it
                    self._wrap(value)
                elif _is_scheduler(value) and all(value is not s for s, _ in self.schedulers):
                    self.schedulers.append((value, deepcopy(value.state_dict())))
                elif _is_grad_scaler(value) and all(value is not s for s, _ in self.scalers):
                    self.scalers.append((value, _scaler_snapshot(value)))

    def _wrap(self, optimizer) -> None:
        step = optimizer.step

        def hooked_step(_optimizer, *args, **kwargs):
            self._before_step(optimizer, args, kwargs)
            self.inside.add(id(optimizer))
            try:
                return step(*args, **kwargs)
            finally:
                self.inside.discard(id(optimizer))

        hooked_step._torchcount_step = True
        # (an LR scheduler's wrapper carries this mark, which the scheduler's first step looks for: without
        # it torch warns that optimizer.step() "has been overridden after learning rate scheduler initialization".
        # Its name: _wrapped_by_lr_sched, and _with_counter before torch 2.3)
        for mark in _LR_SCHEDULER_MARKS:
            if getattr(step, mark, False):
                setattr(hooked_step, mark, True)
        self.wrapped.append((optimizer, vars(optimizer).get("step", _NO_STEP)))
        # (a bound method, as torch's own step is: an LR scheduler made meanwhile wraps it by its
        # __self__ and __func__)
        optimizer.step = types.MethodType(hooked_step, optimizer)

    def _hooked(self, optimizer, args, kwargs) -> None:
        if id(optimizer) not in self.inside:
            self._before_step(optimizer, args, kwargs)

    def _before_step(self, optimizer, args, kwargs) -> None:
        if threading.get_ident() != self.thread:
            return
        entry = self.seen.get(id(optimizer))
        if entry is not None:
            entry[1] += 1
        else:
            found = self.groups.get(id(optimizer))  # (its groups as found, where it was found before the method)
            groups = found[2] if found is not None else [_snapshot(group, group=True) for group in optimizer.param_groups]
            state = found[4] if found is not None else {p: _snapshot(values) for p, values in optimizer.state.items()}
            self.seen[id(optimizer)] = [optimizer, 1, groups, state]
        # each parameter before the first step that updates it: at the optimizer's first step, and at a later
        # one for a param group added since (``add_param_group`` after a step: unfreezing a layer)
        for group in optimizer.param_groups:
            for p in group["params"]:
                if id(p) not in self.copies and not p.is_meta:
                    # (with the data the step updates: a method that rebound it before the step, .half(),
                    # set_(), a parametrization's removal, has its own data put back by _restore_data; the
                    # copy goes back into what the step wrote, not over that), and its version then: one
                    # the method wrote before the step (SAM's w + ε) is not put back by the copy
                    self.copies[id(p)] = (p, p.data, p.detach().clone(), _versions([(None, None, p)])[0])

    def close(self) -> None:
        self.handle.remove()
        for optimizer, own_step in reversed(self.wrapped):
            if own_step is _NO_STEP:
                vars(optimizer).pop("step", None)
            else:
                optimizer.step = own_step

    def restore(self) -> list[str]:
        with torch.no_grad():
            for _, data, copy, _ in self.copies.values():
                if not _same_bits(data, copy):
                    data.copy_(copy)
            for optimizer, _, groups, state in self.seen.values():
                for group, snapshot in zip(optimizer.param_groups, groups):
                    _restore_snapshot(group, snapshot)
                for p in [p for p in optimizer.state if p not in state]:  # made by these steps
                    del optimizer.state[p]
                for p, snapshot in state.items():
                    _restore_snapshot(optimizer.state[p], snapshot)
        return [f"{type(optimizer).__name__} ×{steps}" for optimizer, steps, _, _ in self.seen.values()]


    def restore_schedulers(self) -> list[str]:
        """Put back the schedulers whose state the method changed; their class names."""
        changed = []
        for scheduler, saved in self.schedulers:
            try:
                same = _same_state(scheduler.state_dict(), saved)
            except Exception:  # (a state that cannot be compared) put back regardless
                same = False
            if not same:
                scheduler.load_state_dict(deepcopy(saved))
                changed.append(type(scheduler).__name__)
        return changed


    def restore_groups(self) -> tuple[list[str], list[str]]:
        """Put back the optimizers the owners hold as found (after :meth:`close`): their attributes (what
        the method added or rebound), their ``defaults`` (a default set in place), their param groups where the
        method added or removed one (the same list, the same group dicts), each group's contents (a learning
        rate set, stepped or not) and, of
        one not stepped, its state (a step puts it back from the same snapshot: :meth:`restore`).
        Returns the class names of those whose groups were added or removed, and of those otherwise
        changed that no step put back."""
        regrouped, changed = [], []
        for optimizer, groups, snapshots, attributes, state, defaults in self.groups.values():
            now = vars(optimizer)
            touched = now.keys() != attributes.keys() or any(now[k] is not v for k, v in attributes.items())
            if touched:
                for key in [k for k in now if k not in attributes]:
                    del now[key]
                now.update(attributes)
            if defaults is not None and not _as_snapshot(optimizer.defaults, defaults):
                with torch.no_grad():
                    _restore_snapshot(optimizer.defaults, defaults)  # (the dict found, rebound or not)
                touched = True
            now = optimizer.param_groups
            if len(now) != len(groups) or any(a is not b for a, b in zip(now, groups)):
                now[:] = groups
                regrouped.append(type(optimizer).__name__)
            for group, snapshot in zip(groups, snapshots):
                if not _as_snapshot(group, snapshot):
                    with torch.no_grad():
                        _restore_snapshot(group, snapshot)
                    touched = True
            if id(optimizer) not in self.seen and (optimizer.state.keys() != state.keys() or not all(
                    _as_snapshot(optimizer.state[p], snapshot) for p, snapshot in state.items())):
                for p in [p for p in optimizer.state if p not in state]:
                    del optimizer.state[p]
                with torch.no_grad():
                    for p, snapshot in state.items():
                        _restore_snapshot(optimizer.state[p], snapshot)
                touched = True
            if touched and id(optimizer) not in self.seen:
                changed.append(type(optimizer).__name__)
        return regrouped, changed

    def restore_scalers(self) -> list[str]:
        """Put back the gradient scalers the method changed; their class names."""
        changed = []
        for scaler, snapshot in self.scalers:
            if _restore_scaler(scaler, snapshot):
                changed.append(type(scaler).__name__)
        return changed


def _held_by_method(model: nn.Module, name: str) -> list:
    """What the model's method ``name`` holds besides the model (:meth:`FunctionMethod.held`): the
    closure, defaults and named globals of a function the instance holds, or of its class's method."""
    try:
        function = getattr(model, name, None)
    except Exception:  # (an attribute that raises: the method's own call reports it)
        return []
    if function is None:
        return []
    out: list = []
    _held_by(function, out, set(), _HELPER_DEPTH)
    return [value for _, value in out if value is not model]


_NO_STEP = object()  # an optimizer without a step of its own in its instance __dict__

#: the attribute an LR scheduler's wrapper of its optimizer's step carries (torch ≥ 2.3; before it, the second)
_LR_SCHEDULER_MARKS = ("_wrapped_by_lr_sched", "_with_counter")

#: the most items of a list, tuple or dict an owner holds that are searched for optimizers,
#: schedulers and scalers (a training loop keeps a few; a dataset's list is not theirs)
_FEW = 64


def _held(owner) -> Iterator:
    """What an owner holds that may be an optimizer, a scheduler or a scaler: the owner itself (a
    method's input), its attributes (a module's own, not those every module has), and two levels
    further: the items of short lists, tuples and dicts (``self.schedulers = [warmup, decay]``) and
    the attributes of plain objects (``self.trainer.scheduler``: a namespace or a class of the user's)."""
    if not hasattr(owner, "__dict__") or isinstance(owner, type):
        yield from _inside(owner, 2)
        return
    if not isinstance(owner, nn.Module):  # (a scheduler or a scaler given itself, or captured by a step function)
        yield owner
    skip = _MODULE_INTERNALS if isinstance(owner, nn.Module) else ()
    for name, value in vars(owner).items():
        if name not in skip:
            yield from _inside(value, 2)


def _inside(value, depth: int) -> Iterator:
    for _, item in _labelled_inside("", value, depth):
        yield item


def _labelled_inside(label: str, value, depth: int) -> Iterator[tuple[str, Any]]:
    """(where, what) of ``value`` and of what it holds, ``depth`` levels down: the items of short lists,
    tuples and dicts (``label[0]``, ``label['key']``) and the attributes of plain objects (``label.name``)."""
    yield label, value
    if depth == 0:
        return
    if isinstance(value, (list, tuple, dict)):
        if len(value) <= _FEW:
            for key, item in (value.items() if isinstance(value, dict) else enumerate(value)):
                yield from _labelled_inside(f"{label}[{key!r}]", item, depth - 1)
    elif _plain_object(value):
        for key, item in vars(value).items():
            yield from _labelled_inside(f"{label}.{key}", item, depth - 1)


#: the attributes every module has (its parameters, buffers, children and hooks): not searched
_MODULE_INTERNALS = frozenset(vars(nn.Module()))


def _plain_object(value) -> bool:
    """An instance of a user's class or a namespace: not a module (the owners include every module
    already), a tensor, a class, a function or an imported Python module."""
    return hasattr(value, "__dict__") and not isinstance(
        value, (nn.Module, torch.Tensor, type, types.ModuleType, types.FunctionType, types.MethodType))


def _is_grad_scaler(value) -> bool:
    """An AMP gradient scaler: ``torch.amp.GradScaler`` (torch ≥ 2.3; ``torch.cuda.amp.GradScaler`` and
    ``torch.cpu.amp.GradScaler`` are its subclasses there) or, before it, ``torch.cuda.amp.GradScaler``."""
    classes = tuple(c for c in (getattr(torch.amp, "GradScaler", None), getattr(torch.cuda.amp, "GradScaler", None))
                    if isinstance(c, type))
    return bool(classes) and isinstance(value, classes)


def _scaler_stages(states) -> "dict | None":
    """A scaler's per-optimizer stages (``_per_optimizer_states``: id(optimizer) → its stage)."""
    return None if states is None else {key: state.get("stage") for key, state in states.items()}


def _scaler_snapshot(scaler) -> tuple:
    """A GradScaler's attributes as they are (which ``update`` rebinds), a copy of each tensor among
    them (its scale and growth tracker, which ``update`` writes in place; unset before its first
    ``scale``, and then set by it) and a copy of its per-optimizer states (the stage of each
    optimizer and the found_inf flags, which ``unscale_`` and ``step`` advance in place). The
    scaler's ``state_dict`` would not do: it holds the scale as a float, and loading it moves the
    scale a lazy scaler starts from (``_init_scale``)."""
    items = dict(vars(scaler))
    tensors = {key: value.detach().clone() for key, value in items.items() if isinstance(value, torch.Tensor)}
    states = items.get("_per_optimizer_states")
    return items, tensors, deepcopy(states) if states is not None else None


def _restore_scaler(scaler, snapshot: tuple) -> bool:
    """Put a GradScaler back as :func:`_scaler_snapshot` found it: the same attributes (its scale and
    growth tracker the same tensors, their values as they were; unset again if the method set them),
    its per-optimizer states' contents. Returns whether anything differed."""
    items, tensors, states = snapshot
    now = vars(scaler)
    original = items.get("_per_optimizer_states")
    if now.keys() == items.keys() and all(now[key] is value for key, value in items.items()) and \
            all(_same_bits(items[key], copy) for key, copy in tensors.items()) and \
            _scaler_stages(original) == _scaler_stages(states):
        return False
    now.clear()
    now.update(items)
    with torch.no_grad():
        for key, copy in tensors.items():
            if not _same_bits(items[key], copy):
                _put_back(items[key], copy)
    if states is not None:
        original.clear()
        original.update(deepcopy(states))
    return True


def _is_scheduler(value) -> bool:
    """A torch.optim learning-rate scheduler (``ReduceLROnPlateau`` was not an ``LRScheduler`` before
    torch 2.3)."""
    from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

    return isinstance(value, (LRScheduler, ReduceLROnPlateau))


def _no_step(*args, **kwargs):
    """(what torch's step wrapper is made around, to tell its code object)"""


def _snapshot(values: dict, group: bool = False) -> tuple[dict, dict, dict]:
    """A dict's items as they are, a copy of each tensor among them (updated in place by a step), and
    of each list among them its items and a copy of their tensors (LBFGS appends to its history lists
    and writes their items in place). ``group``: a param group, whose ``params`` list is kept as it is,
    its parameters not copied (:class:`_SteppedOptimizers` copies them once, with the data they hold)."""
    lists = {k: (list(v), {} if group and k == "params" else
                 {i: t.detach().clone() for i, t in enumerate(v) if isinstance(t, torch.Tensor)})
             for k, v in values.items() if type(v) is list}
    return dict(values), {k: v.detach().clone() for k, v in values.items() if isinstance(v, torch.Tensor)}, lists


def _as_snapshot(values: dict, snapshot: tuple[dict, dict, dict]) -> bool:
    """Whether a dict still holds what :func:`_snapshot` saw: the same items, its tensors' values and
    its lists' items."""
    items, tensors, lists = snapshot
    return (values.keys() == items.keys() and all(values[k] is v for k, v in items.items())
            and all(_same_bits(items[k], copy) for k, copy in tensors.items())
            and all(len(items[k]) == len(entries) and all(a is b for a, b in zip(items[k], entries))
                    and all(_same_bits(entries[i], copy) for i, copy in copies.items())
                    for k, (entries, copies) in lists.items()))


def _restore_snapshot(values: dict, snapshot: tuple[dict, dict, dict]) -> None:
    items, tensors, lists = snapshot
    values.clear()
    values.update(items)
    for key, copy in tensors.items():
        _put_back(items[key], copy)
    for key, (entries, copies) in lists.items():
        items[key][:] = entries  # (the same list object, its items as they were)
        for i, copy in copies.items():
            _put_back(entries[i], copy)


def _restore_grads(params: list, grads: list, saved: dict, versions: dict) -> list[str]:
    """Put every parameter's ``.grad`` back: the same tensor (or None) as before, with its values as
    they were where a backward accumulated into it in place. Returns the names of those that changed."""
    changed = []
    for i, ((path, name, p), before) in enumerate(zip(params, grads)):
        now = p.grad
        if now is before and (i not in versions or now._version == versions[i]
                              and now.dtype is saved[i].dtype):  # (an accumulation bumps it; .half() does not)
            continue
        changed.append(_qualified(path, name))
        if now is not before:
            p.grad = before
        if i in saved and not _same_bits(before, saved[i]):
            with torch.no_grad():
                _put_back(before, saved[i])
    return changed


def _qualified(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _restore_slots(modules: list, stores: list, touched: "set | None" = None) -> list[str]:
    """Put every module's ``_parameters`` and ``_buffers`` back as they were (same dicts, same
    order), and drop a plain attribute that the forward set in a deleted slot's name; returns
    the names of the slots that differed (``touched``: gets the id of each module whose slots differed)."""
    before = {id(m): (params, buffers) for _, m, params, buffers in stores}
    changed = []
    for path, m in modules:
        params, buffers = before.get(id(m), ((), ()))
        for store, items in ((m._parameters, params), (m._buffers, buffers)):
            if not isinstance(store, dict):  # (a TorchScript module's: its own wrappers, not rebound from Python)
                continue
            if len(store) == len(items) and all(store.get(name, _GONE) is v for name, v in items):
                continue
            original = dict(items)
            changed += [_qualified(path, name) for name in {*store, *original}
                        if store.get(name, _GONE) is not original.get(name, _GONE)]
            store.clear()
            store.update(original)
            for name in original:
                m.__dict__.pop(name, None)  # e.g. ``self.b = x`` after ``del self.b``: a plain attribute
            if touched is not None:
                touched.add(id(m))
    return sorted(changed)


#: (the hook dicts :func:`_put_back_hooks` puts back, as named in the notes)
_PUT_BACK_HOOKS = (("_forward_pre_hooks", "forward pre-hook"), ("_forward_pre_hooks_with_kwargs", None),
                   ("_state_dict_hooks", "state_dict hook"), ("_load_state_dict_pre_hooks", "load_state_dict pre-hook"))


def _put_back_hooks(hooked: list, touched: set) -> list[str]:
    """Put back the hooks that a forward removed from a module whose slots were put back (``touched``):
    its forward pre-hooks, state_dict hooks and load_state_dict pre-hooks as they were (the same objects,
    in their order; those added since after them). The legacy ``torch.nn.utils.weight_norm`` and
    ``spectral_norm`` hook computes its tensor, a plain attribute, before each forward: the one it had
    computed is put back (``remove_weight_norm`` deleted it; the forward may have set another in its name).
    Returns where hooks were put back, as "lin (forward pre-hook)"."""
    put_back = []
    for path, m, *saved, tensors in hooked:
        if id(m) not in touched:
            continue
        for (name, kind), items in zip(_PUT_BACK_HOOKS, saved):
            hooks = getattr(m, name)
            if all(key in hooks for key, _ in items):
                continue
            now = dict(hooks)
            hooks.clear()
            hooks.update((key, now.pop(key, hook)) for key, hook in items)
            hooks.update(now)
            if kind is not None:
                put_back.append(f"{path or '(root)'} ({kind})")
        for name, tensor in tensors.items():  # (deleted, or another plain tensor set in its name)
            if name not in m._parameters and name not in m._buffers:
                m.__dict__[name] = tensor
    return put_back


def _legacy_tensors(m: nn.Module, hooks: tuple) -> dict:
    """The tensor each legacy ``torch.nn.utils.weight_norm`` / ``spectral_norm`` pre-hook of ``m`` computed
    before its last forward, a plain attribute of the module (``remove_weight_norm`` deletes it)."""
    from torch.nn.utils.spectral_norm import SpectralNorm
    from torch.nn.utils.weight_norm import WeightNorm

    return {hook.name: m.__dict__[hook.name] for _, hook in hooks
            if isinstance(hook, (WeightNorm, SpectralNorm)) and hook.name in m.__dict__}


_GONE = object()


def _undo_parametrizations(modules: list) -> list[tuple[str, nn.Module]]:
    """Remove every parametrization registered since ``modules`` were listed
    (``torch.nn.utils.parametrize.register_parametrization``), as ``remove_parametrizations`` with
    ``leave_parametrized=False`` would, but leaving the tensor's slot to :func:`_restore_slots`: the
    property on the module's class, the tensor's ``ParametrizationList`` (a parametrization appended to
    one that was there: that entry only), and, on a module that had none, its ``parametrizations``
    and the class ``register_parametrization`` swapped in. Returns (tensor name, its list) of each
    tensor parametrized anew, and the name (list None) of each whose list grew."""
    from torch.nn.utils.parametrize import ParametrizationList

    known = {id(m) for _, m in modules}
    undone = []
    for path, m in modules:
        found = m._modules.get("parametrizations") if isinstance(m._modules, dict) else None
        if not isinstance(found, nn.ModuleDict):
            continue
        fresh = id(found) not in known
        for name, plist in list(found.items()):
            # (parametrize puts only ParametrizationLists there: another module is one a forward added to a
            # dict of the model's own so named, kept as added submodules are; one the model had, in a new
            # dict the forward rebound, is the model's: the dict is put back as a rebound submodule)
            if id(plist) not in known and isinstance(plist, ParametrizationList):
                if isinstance(vars(type(m)).get(name), property):
                    delattr(type(m), name)
                del found[name]
                undone.append((_qualified(path, name), plist))
            elif isinstance(plist, ParametrizationList) and any(id(f) not in known for f in plist):
                kept = [f for f in plist if id(f) in known]
                plist._modules.clear()
                plist._modules.update((str(i), f) for i, f in enumerate(kept))
                undone.append((_qualified(path, name), None))
        if fresh and not found:
            del m._modules["parametrizations"]
            cls = type(m)
            base = cls.__bases__[0] if len(cls.__bases__) == 1 else None
            if base is not None and cls.__name__ == f"Parametrized{base.__name__}":
                m.__class__ = base
    return undone


def _restore_children(children: list) -> list[str]:
    """Put back every submodule a forward rebound, deleted or moved (deleted and added again, now after
    the others: a Sequential calls its children in that order) in its place in ``_modules``, keeping
    those it added (after the others); returns the paths of those put back."""
    changed = []
    for path, m, items, _ in children:
        store = m._modules
        place = {name: i for i, name in enumerate(name for name, _ in items)}
        now = [name for name in store if name in place]
        if all(store.get(name, _GONE) is child for name, child in items) and now == list(place):
            continue
        moved, latest = set(), -1  # (each found after one that was after it)
        for name in now:
            if place[name] < latest:
                moved.add(name)
            latest = max(latest, place[name])
        changed += [_qualified(path, name) for name, child in items
                    if store.get(name, _GONE) is not child or name in moved]
        added = {name: child for name, child in store.items() if name not in dict(items)}
        store.clear()
        store.update(items)
        store.update(added)
        for name, _ in items:
            m.__dict__.pop(name, None)  # (``self.x = y`` after ``del self.x``: a plain attribute)
    return changed


def _restore_parametrizations(children: list, problems: list) -> list[tuple[str, nn.Module, str]]:
    """Put back each parametrization a module had that was removed since ``children`` were listed
    (``torch.nn.utils.parametrize.remove_parametrizations``, which deletes the tensor's property from
    the module's class and its ``ParametrizationList`` from ``parametrizations``, puts the tensor in
    its slot and, with the module's last one, drops ``parametrizations`` and reverts the module's
    class): the module's ``parametrizations`` and their entries (the same objects, where they were),
    its parametrized class and the property. The slot is left to :func:`_restore_slots` (called
    first). Returns (tensor name, its ``ParametrizationList``, the module's path) of each put back; a
    module whose class the forward changed to another is left alone, and said so in ``problems``."""
    from torch.nn.utils import parametrize
    from torch.nn.utils.parametrize import ParametrizationList

    listed = {id(entry[1]): entry for entry in children}
    restored = []
    for path, m, items, cls in children:
        found = next((child for name, child in items if name == "parametrizations"), None)
        entries = listed.get(id(found))
        if not isinstance(found, nn.ModuleDict) or entries is None:
            continue
        # (a ModuleDict of the model's own named so holds no ParametrizationList: no property to put back)
        gone = [name for name, plist in entries[2] if isinstance(plist, ParametrizationList)
                and (not isinstance(vars(type(m)).get(name), property) or found._modules.get(name) is None)]
        if type(m) is cls and not gone and m._modules.get("parametrizations") is found:
            continue  # (as it was)
        if type(m) is not cls and type(m) is not cls.__bases__[0]:
            message = (f"changed the class of {path or 'the model'} from {cls.__name__} to {type(m).__name__} "
                       f"(torchcount cannot put back its parametrizations on {', '.join(n for n, _ in entries[2])})")
            if message not in problems:
                problems.append(message)
            continue
        _restore_children([entries, (path, m, items, cls)])  # (the same objects, in their places)
        m.__class__ = cls
        for name in gone:
            if isinstance(vars(cls).get(name), property):
                continue
            m.__dict__.pop(name, None)
            parametrize._inject_property(m, name)
            restored.append((_qualified(path, name), found._modules[name], path))
    return restored


class _BufferCopy:
    """A copy of many buffers, restored bit for bit into the same tensor objects.

    Buffers of one device, dtype and rank are copied into one flat tensor (one C++ call, not
    one clone per buffer); restoring splits it into views and copies them back with one
    ``_foreach_copy_``. A model with hundreds of BatchNorm layers has hundreds of small
    buffers, and per-buffer Python calls would cost more than the rest of the bookkeeping
    (the views are made only when restoring: making them up front cost as much again).
    Whether a group changed is decided by comparing its bits with the copy (as integers,
    so NaN payloads and −0.0 count), not by version counters, which miss writes made
    through ``.data``; an unchanged group (the usual case in eval mode) is not copied back.
    A buffer the forward resized in place (a growing cache) gets its shape back first (it
    comes back contiguous), then its values.
    """

    def __init__(self, buffers: list):
        groups: dict[tuple, list] = {}
        strided = torch.strided
        for b in buffers:
            if b.is_meta:
                continue  # no values to keep
            # (a quantized one too: joined with others, it would be requantized at the first one's scale)
            key = (b.get_device(), b.dtype, min(b.dim(), 2)) if b.layout is strided and not b.is_quantized \
                else ("clone", id(b))
            groups.setdefault(key, []).append(b)
        self.flat = []  # (originals, their rank class, one flat copy of them, their shapes)
        self.cloned = []  # (original, its own copy)
        for key, group in groups.items():
            if key[0] == "clone" or len(group) == 1:  # (flattening one tensor returns a view of it)
                self.cloned.extend((b, b.detach().clone()) for b in group)
                continue
            try:
                with torch.no_grad():
                    self.flat.append((group, key[2], _joined(group, key[2]), [b.shape for b in group]))
            except (RuntimeError, TypeError):  # a tensor subclass that cannot be flattened
                self.cloned.extend((b, b.detach().clone()) for b in group)

    def restore(self) -> None:
        with torch.no_grad():
            for originals, dims, flat, shapes in self.flat:
                if [b.shape for b in originals] != shapes:  # a forward that resized one in place
                    for b, shape in zip(originals, shapes):
                        if b.shape != shape:
                            b.resize_(shape)
                elif _same_bits(_joined(originals, dims), flat):
                    continue  # nothing changed (the usual case in eval mode): no copy back needed
                saved = torch._C._nn.unflatten_dense_tensors(flat, originals)
                try:
                    torch._foreach_copy_(originals, saved)
                except RuntimeError:  # inference tensors, outside inference mode: one by one
                    for original, value in zip(originals, saved):
                        _copy_back(original, value)
            for original, saved in self.cloned:
                if not original.is_nested and original.shape != saved.shape:  # (a nested tensor has no one shape)
                    original.resize_(saved.shape)
                elif _same_bits(original, saved):
                    continue
                _copy_back(original, saved)


def _copy_back(original: torch.Tensor, saved: torch.Tensor) -> None:
    """``original.copy_(saved)``; an inference tensor (made under ``torch.inference_mode()``)
    is only writable inside inference mode."""
    if original.is_inference() and not torch.is_inference_mode_enabled():
        with torch.inference_mode():
            original.copy_(saved)
    else:
        original.copy_(saved)


def _joined(group: list, dims: int) -> torch.Tensor:
    """One 1-D copy of every tensor of ``group`` (same device and dtype; all 0-D, all 1-D, or
    ``dims`` 2 for any), in order. ``cat`` and ``stack`` cost less per tensor than flattening,
    and BatchNorm's buffers are 1-D statistics and 0-D counters."""
    if dims == 1:
        return torch.cat(group)
    if dims == 0:
        return torch.stack(group)
    return torch._C._nn.flatten_dense_tensors(group)


_BITS = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


def _same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Bit for bit equal (NaN payloads, −0.0 vs 0.0), compared as integers of the same width."""
    if a.is_nested or (a.dtype, a.shape, a.layout) != (b.dtype, b.shape, b.layout) or a.layout is not torch.strided:
        return False  # nested (no one shape), converted, or sparse (no integer views): restore rather than decide
    if a.is_complex():
        a, b = torch.view_as_real(a), torch.view_as_real(b)
    bits = _BITS.get(a.element_size())
    if bits is None:
        return False  # no integer view of that width: restore rather than decide
    if a.is_quantized:  # (its integer views crash torch; equal compares its integers and its quantization)
        return torch.equal(a, b)
    try:
        return torch.equal(a.view(bits), b.view(bits))
    except (RuntimeError, TypeError):  # a layout or subclass without such views: compare values
        return torch.equal(a, b)


def _same_state(a: Any, b: Any) -> bool:
    """Two states (a scheduler's ``state_dict()``) equal, tensors and arrays among them compared whole:
    ``==`` on a dict compares a tensor of several elements element-wise, and its truth raises."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        # (bit for bit, as buffers are compared: a NaN kept in a state is the same NaN)
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and _same_bits(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same_state(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same_state(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:  # (NaN, both)
        return True
    if hasattr(a, "shape") and hasattr(a, "dtype") and hasattr(a, "tolist"):  # (a NumPy array; its NaNs as above)
        return hasattr(b, "tolist") and getattr(b, "shape", None) == a.shape and _same_state(a.tolist(), b.tolist())
    return bool(a == b)
