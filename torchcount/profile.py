"""``torchcount.profile``: capture → count (→ measure) → report, in one call."""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import difflib
import enum
import inspect
import linecache
import operator
import sys
import threading
import warnings
from contextlib import contextmanager
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn
from torch.utils._pytree import tree_leaves, tree_map

from .capture import (FunctionMethod, _has_own_hooks, _raw_tensors, async_kind, capture, fresh_autocast_region,
                      gc_paused, method_text, own_call, tensors_in)
from .conventions import Convention, get_convention
from .count import frozen_script, summarize
from .graph import graph_layers
from .report import Report
from .rules import has_rule, parts_split
from .state import _held, preserved


class ForwardError(RuntimeError):
    """The model's forward raised; names the innermost failing module and its inputs."""

    def __init__(self, message: str, path: str | None = None, input_shapes: list | None = None,
                 reason: str | None = None):
        super().__init__(message)
        self.path = path
        self.input_shapes = input_shapes
        #: what went wrong, as the message quotes it (``RuntimeError: …``); None where not known
        self.reason = reason


class UncountedWarning(UserWarning):
    pass


#: modules whose work differs in training mode (what a forgotten model.eval() changes)
_COUNTED_AS_TRAINING = (nn.modules.dropout._DropoutNd, nn.modules.batchnorm._BatchNorm, nn.RReLU)


def make_inputs(input_size, dtype: torch.dtype = torch.float32, device=None) -> tuple:
    """Random inputs from a shape (``(1, 3, 224, 224)``) or a list of shapes: normal values for a
    floating or complex ``dtype``, 0/1 for an integer one (token ids, indices), False for bool.
    Drawn from a generator of their own seeded 0, as the CLI's: the same call counts the same (a model
    may take another path for other values), and the caller's random stream is not advanced."""
    if isinstance(dtype, str) and isinstance(getattr(torch, dtype, None), torch.dtype):
        dtype = getattr(torch, dtype)  # "float16", as the CLI's suffixes
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"dtype must be a torch.dtype such as torch.float32, got {dtype!r}")
    if not isinstance(input_size, (tuple, list, torch.Size)) or len(input_size) == 0:
        raise TypeError(f"input_size must be a shape or a list of shapes, got {input_size!r}")
    shapes = list(input_size) if any(isinstance(s, (tuple, list, torch.Size)) for s in input_size) \
        else [input_size]
    for shape in shapes:
        if not isinstance(shape, (tuple, list, torch.Size)) or not all(_is_size(s) for s in shape):
            raise ValueError(f"input_size: {shape!r} is not a shape of non-negative ints, e.g. (1, 3, 224, 224)")
    generator = seeded_generator(device)
    out = []
    for shape in shapes:
        out.append(random_tensor(tuple(operator.index(s) for s in shape), dtype, device, generator))
    return tuple(out)


def seeded_generator(device=None) -> "torch.Generator | None":
    """A generator of its own seeded 0 on ``device`` (None on meta, which draws no values): random inputs are
    the same for the same call, and the caller's random stream is not advanced."""
    return None if str(device) == "meta" else torch.Generator(device=device or "cpu").manual_seed(0)


def random_tensor(shape: tuple, dtype: torch.dtype, device=None, generator: "torch.Generator | None" = None):
    """A tensor of ``shape``: normal values for a floating or complex dtype, 0/1 for an integer
    one (token ids, indices), False for bool; on meta, no values to draw."""
    if dtype == torch.bool:
        return torch.zeros(shape, dtype=dtype, device=device)
    if str(device) == "meta":
        return torch.empty(shape, dtype=dtype, device=device)
    if dtype.is_floating_point or dtype.is_complex:
        return torch.randn(shape, dtype=dtype, device=device, generator=generator)
    return torch.randint(0, 2, shape, dtype=dtype, device=device, generator=generator)


def _asked_device(device: Any, model: nn.Module, makes_inputs: bool, measure: bool) -> torch.device:
    """``device=`` checked: one torch knows and this machine has, and not one it would ignore."""
    try:
        target = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device={device!r} is not a device ('cpu', 'cuda', 'cuda:1', 'meta'): {exc}") from None
    if target.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} is not available here (torch.cuda.is_available() is False)")
    here = model_device(model)
    if not makes_inputs and not measure and (target.type, target.index or 0) != (here.type, here.index or 0):
        raise ValueError(f"device={device!r} places input_size='s random inputs and measure=True's passes; "
                         f"with inputs given and no measurement the forward runs where the model is ({here}): "
                         f"move the model and its inputs (model.to({str(target)!r})) and leave device= out")
    return target


def _is_size(s: Any) -> bool:
    """A dimension: a non-negative int (NumPy's too), not a bool or a float."""
    if isinstance(s, bool) or not hasattr(s, "__index__"):
        return False
    return operator.index(s) >= 0


def as_call(inputs: Any) -> tuple[tuple, dict]:
    """A tensor → one argument; a tuple → positional arguments; a dict, or any other mapping (a
    tokenizer's ``BatchEncoding``, as ``model(**enc)`` takes it) → keyword arguments; anything else (a
    list, a number, None) → one argument."""
    if isinstance(inputs, tuple) and not hasattr(inputs, "_fields"):
        return inputs, {}
    if isinstance(inputs, Mapping):
        return (), dict(inputs)
    return (inputs,), {}


def model_device(model: nn.Module) -> torch.device:
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")


def uncounted_message(report, name: str, when: str = "") -> str:
    """What a partial report leaves out, in one sentence (the warning of ``profile``; the command line's
    note for a saved report)."""
    missing = sorted({u.what for u in report.uncounted})
    return (f"no formula for {len(missing)} op(s) in {name}: {', '.join(missing[:10])}; coverage "
            f"{report.coverage:.1%}{when}. They are listed in report.uncounted and marked † in the table.")


def _required_arguments(function) -> bool:
    """Whether ``function`` cannot be called with no arguments (a parameter without a default)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in parameters)


def profile(
    model: nn.Module,
    inputs: Any = None,
    *,
    input_size: Sequence | None = None,
    dtype: torch.dtype = torch.float32,
    device: "str | torch.device | None" = None,
    convention: "str | Convention" = "flops",
    kwargs: dict | None = None,
    record_ops: bool = True,
    warn: bool = True,
    name: str | None = None,
    measure: bool = False,
    copy_params: bool = False,
    method: "str | Callable | None" = None,
    **measure_options: Any,
) -> Report:
    """Profile one forward pass of ``model``.

    ``inputs``: a tensor, a tuple of positional inputs, or a dict of keyword inputs (a list
    is one argument); or ``input_size=`` a shape / list of shapes for random inputs of
    ``dtype`` on ``device`` (default: the model's; ``device=`` elsewhere than the model is an
    error unless it places those inputs or the measurement). ``kwargs`` adds keyword inputs to
    positional ones. ``convention`` picks how ``flops`` are counted (see
    ``torchcount.CONVENTIONS``). ``measure=True`` also times the layers (``device``,
    ``warmup``, ``repeat``, … go to :func:`torchcount.measure.measure`).

    The model is left as it was found: hooks removed, training flags, ``requires_grad``,
    buffers, grad mode and torch's random generators restored, also when the forward raises. Parameters are not
    copied: a forward that writes one in place raises :class:`ParameterModifiedError`,
    unless ``copy_params=True`` (a full copy, restored bit for bit). A ``torch.compile``'d
    model is profiled through its original module (a compiled submodule too, eagerly, under its
    logical path: ``encoder.layer1``, not ``encoder._orig_mod.layer1``), a ``DataParallel`` /
    ``DistributedDataParallel`` wrapper through the module it wraps, and a TorchScript
    module from the aten ops it runs (one row); each with a note in ``report.notes``.

    ``method="generate"`` profiles one call of ``model.generate(*inputs, **kwargs)`` instead of
    the forward (any method of the model: ``encode``, ``decode``, ``generate``): every forward
    call it makes is counted (the root row's ``calls``), and the work it does outside them
    (picking the next token, concatenating ids) is the root's own. ``method=train_step``, a function,
    profiles one call of ``train_step(model, *inputs, **kwargs)`` the same way: a training step or a
    generation loop written outside the model.
    """
    if not isinstance(model, nn.Module):
        hint = "; a torch.export program is profiled as its module: profile(ep.module(), …)" \
            if type(model).__name__ == "ExportedProgram" and callable(getattr(model, "module", None)) else ""
        if isinstance(model, type) and issubclass(model, nn.Module):
            hint = f"; that is the class, not a model: build one first, {model.__name__}(…)"
        elif inspect.isfunction(model) and _required_arguments(model):
            # a builder that takes arguments, or a function of the inputs (lambda x: x * 2)
            hint = (f"; if {model.__name__}(…) builds the model, call it with its arguments: "
                    f"profile({model.__name__}(…), …); if it computes on the inputs, call it in the forward "
                    f"of an nn.Module and profile that module")
        elif inspect.isfunction(model):
            hint = f"; if {model.__name__}() builds the model, call it: profile({model.__name__}(), …)"
        raise TypeError(f"torchcount.profile expects a torch.nn.Module, got {type(model).__name__}: "
                        f"{_short_repr(model)}{hint}")
    conv = get_convention(convention)
    if kwargs is not None and not isinstance(kwargs, dict):
        raise TypeError(f"kwargs= is a dict of keyword inputs ({{'attention_mask': mask}}), got {type(kwargs).__name__}")
    for flag, value in (("record_ops", record_ops), ("measure", measure), ("copy_params", copy_params), ("warn", warn)):
        if not isinstance(value, bool):
            raise TypeError(f"{flag} must be True or False, got {value!r}")
    if measure_options and not measure:
        raise TypeError(f"unexpected keyword argument(s) {', '.join(measure_options)} "
                        "(measurement options need measure=True)")
    # method=model.generate: the method of that name (of the module a torch.compile or data-parallel
    # wrapper wraps too: compiled.generate is the original module's)
    if inspect.ismethod(method) and (method.__self__ is model or method.__self__ is _unwrap(model)[0]):
        method = method.__name__
    if method is not None and not isinstance(method, str):
        if not callable(method) or isinstance(method, (nn.Module, type)):
            raise TypeError(f"method= is the name of a method of the model ('generate') or a function called as "
                            f"method(model, *inputs), got {type(method).__name__}: {_short_repr(method)}")
        method = FunctionMethod(method)
    if inputs is None and input_size is None and not kwargs:
        raise ValueError("torchcount.profile needs inputs (a tensor, tuple or dict) or input_size=")
    if inputs is not None and input_size is not None:
        raise ValueError("give either inputs or input_size, not both")
    target = _asked_device(device, model, input_size is not None, measure) if device is not None \
        else model_device(model)
    if input_size is not None:
        inputs = make_inputs(input_size, dtype, target)
    args, kw = as_call(inputs) if inputs is not None else ((), {})
    if kwargs:
        kw = {**kw, **kwargs}
    if measure:  # its options and device checked before the counting pass, not after it
        from .measure import check_options, resolve_device

        check_options(measure_options)
        resolve_device(model, device, (args, kw))
    given = (args, kw)
    objects = _InputObjects(model)
    args, kw = _protect_inputs(args, kw, objects)
    scatter_to = _scatter_device(model)
    model, notes = _unwrap(model)
    if scatter_to is not None:  # as the wrapper's own forward would: its module is there already
        args, kw = _moved((args, kw), scatter_to)
    sparse = sorted({str(t.layout).removeprefix("torch.") for t in _raw_tensors((args, kw))
                     if t.layout is not torch.strided})
    if sparse:
        notes.append(f"sparse input(s) ({', '.join(sparse)}): priced on the values they store (a layer given one is "
                     "priced from the sparse ops it ran, not its type's rule); sparse ops without a formula are listed "
                     "as uncounted")
    autocast_note_at = len(notes)  # (the note on autocast, if it was on, goes here: known after the forward)
    if method == "forward" and not isinstance(method, FunctionMethod):
        method = None
    if method is not None:
        _check_method(model, method, len(args), kw)
    counted = _ScriptedRoot(model) if isinstance(model, torch.jit.ScriptModule) else model
    if counted is not model:
        notes.append(f"{type(model).__name__} (TorchScript): its submodules cannot be hooked, so it is "
                     "counted as one row from the aten ops it ran")
        if frozen_script(model):  # torch.jit.freeze turns its parameters into constants
            notes.append(_frozen_note(model))
        # (named as it is, not as its stand-in; a function given as the method names it below)
        name = name or (None if method is not None else type(model).__name__)

    named = list(counted.named_modules())  # one walk of the module tree for every stage below
    # the distinct module types: a check for a kind of module (TorchScript, compiled, transformer layers,
    # training-mode layers) looks at these (a dozen types on MobileNetV2's 213 modules), not at each module
    kinds = {type(m) for _, m in named}
    compiled: list = []  # (filled as each wrapper is swapped out: put back whatever happens next)
    try:
        # a torch.compile'd submodule runs its original module eagerly meanwhile, under its logical path
        if _compiled_submodules_eager(named, compiled, kinds):
            named = list(counted.named_modules())
            kinds = {type(m) for _, m in named}
            notes.append(_compiled_note(compiled, named))
        # a GraphModule from torch.export (or torch.fx), the root or a submodule: its graph names the
        # module each op came from
        layers = graph_layers(counted, named)
        if layers is not None:
            by_path = dict(named) if any(layers.where) else {}
            graphs = [f"{path} ({type(by_path[path]).__name__})" if path else type(model).__name__
                      for path in layers.where]
            notes.append(f"{', '.join(graphs[:4])}{' …' if len(graphs) > 4 else ''}: "
                         f"{'a graph' if len(graphs) == 1 else 'graphs'} from torch.export or torch.fx; "
                         "its rows are the original modules its nodes name (nn_module_stack, below its path), with "
                         "their types, each priced from the aten ops it ran, not by its type's rule (docs/coverage.md)")
        # a method may also train or convert modules given as its inputs (a distillation step's
        # teacher head): their state is kept as the model's is
        inputs_modules = _input_modules(given, named) if method is not None else []
        # (and those a function given as the method holds itself: a teacher it closes over)
        held_modules, held_tops = _held_modules(method, named + inputs_modules) \
            if isinstance(method, FunctionMethod) else ([], [])
        inputs_modules += held_modules
        # (and those the model's modules keep outside the module tree: an EMA copy in a plain list)
        kept_modules, kept_tops = _kept_modules(named, named + inputs_modules) if method is not None else ([], [])
        inputs_modules += kept_modules
        guarded = named + inputs_modules
        with gc_paused():
            with _exclusive(model, named if counted is model else None), \
                    preserved(counted, copy_params=copy_params, modules=guarded, method=method,
                              inputs=[*args, *kw.values()]) as kept:
                with _transformer_layers_unfused(counted, named, kinds) as unnested, \
                        capture(counted, has_rule, record_ops=record_ops, modules=named,
                                decompose=parts_split, track_backward=method is not None,
                                layers=layers) as recorder:
                    run = recorder.method_call(counted, method) if method is not None else counted
                    try:
                        fresh_autocast_region()  # (the count does not depend on what ran before in the region)
                        with recorder.around_root(counted), _unoptimized_script(kinds):
                            run(*args, **kw)
                    except Exception as exc:
                        on_meta = target.type == "meta" or any(t.is_meta for t in _raw_tensors((args, kw)))
                        raise _forward_error(exc, recorder, counted, on_meta, (args, kw)) from exc
            # counted once the model is restored: the restore then follows the wrappers' removal
            # while the modules are still in the CPU caches, and the trace holds all counting needs
            report = summarize(counted, recorder.trace, conv, name or (
                (f"{method}({type(model).__name__})" if isinstance(method, FunctionMethod) else
                 f"{type(model).__name__}.{method}") if method else None), modules=named)
            report.method = method
            if method is not None:  # every recorded call of the root but the method's own
                report.forward_calls = sum(1 for call in recorder.trace.calls if call.module is counted) - 1
        autocast = recorder.trace.autocast.get(target.type)
        if autocast:  # around the profile, or entered inside the forward (seen at module calls)
            notes.insert(autocast_note_at, f"autocast was on ({target.type}, "
                         f"{', '.join(str(d).removeprefix('torch.') for d in autocast)}): the ops it "
                         "covers ran in that dtype; operation counts do not change; bytes include its casts "
                         "(each reads a tensor at its stored dtype and writes a copy the layer reads), in a "
                         "layer with a rule as in one priced from its ops")
        # (a step that ends with zero_grad(), or calls torch.autograd.grad, leaves no .grad changed)
        ran_backward = bool(kept.restored_grads or recorder.trace.backward_nodes)
        if counted is not model:  # the TorchScript module's row shows its own type, not the wrapper's
            for row in {id(r): r for r in [report.root, *report.layers] if r is not None}.values():
                if row.module is counted:
                    row.type = type(model).__name__
            report.uncounted = [dataclasses.replace(u, type=type(model).__name__) if u.type == type(counted).__name__
                                else u for u in report.uncounted]
            _flag_interpreted(report, model, counted, notes)
        if not record_ops:
            _flag_unrecorded(report, counted)
        training = [path or "(root)" for path, m in named if isinstance(m, _COUNTED_AS_TRAINING) and m.training] \
            if any(issubclass(k, _COUNTED_AS_TRAINING) for k in kinds) else []
        if training:  # (the CLI calls .eval(); the Python API counts the model as it is given)
            notes.append(f"in training mode: {', '.join(training[:4])}" + (" …" if len(training) > 4 else "")
                         + " (dropout masks, batch statistics and running-stat updates are counted); call "
                           "model.eval() first for inference figures")
        exported_training = [f"{path or '(root)'} ({kind})" for path, kind in getattr(layers, "training", ())]
        if exported_training:  # (a graph's mode is its ops', fixed when it was made: ep.module() refuses .eval())
            notes.append(f"exported in training mode: {', '.join(exported_training[:4])}"
                         + (" …" if len(exported_training) > 4 else "") + " run their ops in training mode (dropout "
                         "masks, batch statistics and running-stat updates are counted, as the graph runs them); "
                         "export (or trace) after model.eval() for inference figures")
        if unnested:
            dense = _masked_dense(recorder.trace, unnested)
            if dense:
                notes.append(f"{', '.join(dense[:6])}: TransformerEncoder given a src_key_padding_mask in eval mode "
                             "with no gradient recorded (no_grad, or no weight requiring grad), where PyTorch runs "
                             "on nested tensors that skip the padded positions (a mask that pads at the end); "
                             "counted dense, padded positions included (an upper bound of that work; the same as "
                             "in training)")
        if kept.lazy:
            notes.append(f"lazy parameters materialised by this forward (kept): {', '.join(kept.lazy[:6])}"
                         + (" …" if len(kept.lazy) > 6 else ""))
        if kept.restored_settings:
            # (one whose setter raised is named with why it was not put back)
            put = [n for n in kept.restored_settings if " (not put back: " not in n]
            left = [n for n in kept.restored_settings if " (not put back: " in n]
            notes.append(f"the {f'{method} call' if method else 'forward'} changed torch's process-wide setting(s) "
                         + "; and ".join(([f"{', '.join(put)}; put back as found"] if put else []) + left))
        if kept.removed_hooks:
            notes.append(f"the {f'{method} call' if method else 'forward'} registered hook(s), removed again: "
                         f"{', '.join(kept.removed_hooks[:6])}" + (" …" if len(kept.removed_hooks) > 6 else ""))
        if kept.removed_parametrizations:
            notes.append(f"the {f'{method} call' if method else 'forward'} registered parametrization(s) "
                         f"(torch.nn.utils.parametrize) on {', '.join(kept.removed_parametrizations[:6])}"
                         + (" …" if len(kept.removed_parametrizations) > 6 else "") + "; removed: each module is "
                         "back to its own class and tensors")
        if kept.restored_parametrizations:
            notes.append(f"the {f'{method} call' if method else 'forward'} removed parametrization(s) "
                         f"(torch.nn.utils.parametrize) on {', '.join(kept.restored_parametrizations[:6])}"
                         + (" …" if len(kept.restored_parametrizations) > 6 else "") + "; put back as found: each "
                         "module is back to its parametrized class, with its parametrizations")
        if kept.restored_slots:
            notes.append(f"the {f'{method} call' if method else 'forward'} rebound, added or removed parameter/buffer "
                         f"slot(s); put back: "
                         f"{', '.join(kept.restored_slots[:6])}" + (" …" if len(kept.restored_slots) > 6 else ""))
        if kept.restored_hooks:
            notes.append(f"the {f'{method} call' if method else 'forward'} removed hook(s) of module(s) whose "
                         f"parameter/buffer slots it changed (remove_weight_norm, remove_spectral_norm); put back "
                         f"with the slots: {', '.join(kept.restored_hooks[:6])}"
                         + (" …" if len(kept.restored_hooks) > 6 else ""))
        if kept.restored_modules:
            notes.append(f"the {f'{method} call' if method else 'forward'} rebound or deleted submodule(s); put "
                         f"back: {', '.join(kept.restored_modules[:6])}" + (" …" if len(kept.restored_modules) > 6 else ""))
        if kept.restored_grads:
            notes.append(f"a backward pass set or changed the .grad of {len(kept.restored_grads)} parameter(s) "
                         f"({', '.join(kept.restored_grads[:4])}" + (" …" if len(kept.restored_grads) > 4 else "")
                         + "); put back as found")
        if kept.stepped_optimizers:
            notes.append(f"{method} stepped optimizer(s) {', '.join(kept.stepped_optimizers)}: their arithmetic is "
                         "counted (the root's own row); their state and the parameters they updated are put back "
                         "as found")
        if kept.stepped_schedulers:
            notes.append(f"{method} stepped learning-rate scheduler(s) {', '.join(kept.stepped_schedulers)}; "
                         "put back as found")
        if kept.regrouped_optimizers:
            notes.append(f"{method} added or removed param groups of optimizer(s) {', '.join(kept.regrouped_optimizers)} "
                         "(add_param_group); put back as found")
        if kept.retuned_optimizers:
            notes.append(f"{method} changed optimizer(s) {', '.join(kept.retuned_optimizers)} without stepping them "
                         "(a learning rate, an attribute, its state); put back as found")
        if kept.updated_scalers:
            notes.append(f"{method} used AMP gradient scaler(s) {', '.join(kept.updated_scalers)}: their scale, growth "
                         "tracker and per-optimizer stages put back as found")
        if kept.restored_data:
            notes.append(f"{method} converted or rebound the data of parameter(s) {', '.join(kept.restored_data[:6])}"
                         + (" …" if len(kept.restored_data) > 6 else "") + " (.half(), .to()); put back as found")
        if kept.restored_params:
            notes.append(f"the {f'{method} call' if method else 'forward'} wrote parameter(s) in place; restored "
                         f"from the copy: "
                         f"{', '.join(kept.restored_params[:6])}" + (" …" if len(kept.restored_params) > 6 else ""))
        if objects:
            notes.append(f"input object(s) copied (deep) before the forward, which may change them (a KV cache "
                         f"grows): {', '.join(sorted(set(objects.names)))}; yours are as they were"
                         + ("; each measured pass gets fresh copies (made outside the timed region)" if measure else ""))
        if method is not None:
            forwards = report.forward_calls
            own = {id(m) for _, m in named}
            others = sorted({f"{k}={type(v).__name__}" if k else type(v).__name__ for k, v in
                             [*(("", a) for a in given[0]), *given[1].items()] if isinstance(v, nn.Module) and id(v) not in own})
            if others:  # an assistant model for assisted generation: not hooked, not in the total
                notes.append(f"module(s) given as inputs of {method}: {', '.join(others)}; not part of the profiled model, "
                             f"so whatever {method} ran of them is counted from its ops in the root's own row, and "
                             "their parameters are not in the total; their state (training flags, buffers, .grad) is "
                             "put back as the model's is")
            held = [f"{path}={type(m).__name__}" for path, m in held_tops]
            if held:  # a teacher the function closes over, an EMA copy it updates
                notes.append(f"module(s) held by {method}: {', '.join(held)}; not part of the profiled model, so "
                             f"whatever {method} ran of them is counted from its ops in the root's own row, and "
                             "their parameters are not in the total; their state (training flags, buffers, .grad) "
                             "is put back as the model's is")
            kept_out = [f"{path}={type(m).__name__}" for path, m in kept_tops]
            if kept_out:  # an EMA copy the model keeps in a plain list, out of its state_dict
                notes.append(f"module(s) the model keeps outside its module tree: {', '.join(kept_out)}; not part of "
                             f"the profiled model, so whatever {method} ran of them is counted from its ops in the "
                             "root's own row, and their parameters are not in the total; their state (training "
                             "flags, buffers, .grad) is put back as the model's is")
            notes.append(f"profiled one call of {method_text(type(model).__name__, method)}, not the forward: the root's forward "
                         f"ran {forwards} time{'s' if forwards != 1 else ''} inside it"
                         + (" (the root row's calls)" if forwards else "") + f"; what {method} computed outside any "
                         "module is the root's own work")
        report.notes.extend(notes)

        if warn and report.uncounted:
            warnings.warn(f"torchcount: {uncounted_message(report, type(model).__name__)}", UncountedWarning,
                          stacklevel=2)
        if measure:
            from .measure import measure as run_measure

            if ran_backward and "no_grad" not in measure_options:
                # the method runs a backward (a training step): timed under no_grad it would fail
                measure_options = {**measure_options, "no_grad": False}
                report.notes.append("measured with autograd on (no_grad=False): the method runs a backward")
            # still one profile at a time of these modules: the timing hooks are theirs meanwhile
            with _exclusive(model, named if counted is model else None):
                # every pass gets the inputs as given: a forward that changes them (a KV cache object, a
                # list it appends to, a tensor written in place) would otherwise time a changing workload
                fresh = lambda: _protect_inputs(*given, _InputObjects(model))  # noqa: E731
                if scatter_to is not None:  # (moved as the counted ones were)
                    fresh = lambda: _moved(_protect_inputs(*given, _InputObjects(model)), scatter_to)  # noqa: E731
                run_measure(report, counted, args, kw, device=device, copy_params=copy_params, fresh_inputs=fresh,
                            modules=named, method=method, layers=layers, inputs_modules=inputs_modules,
                            **measure_options)
            if any(isinstance(m, nn.TransformerEncoderLayer) and not m.training for _, m in named):
                report.notes.append("nn.TransformerEncoderLayer was measured unfused (a row per submodule; every "
                                    "pass, hooked or not, runs the same ops): PyTorch's fused fast path, which an "
                                    "eval forward under no_grad takes without hooks, may run faster than the "
                                    "times shown")
        return report
    finally:
        _compiled_put_back(compiled)


_ABSENT = object()


def _input_modules(given: tuple, named: list) -> list:
    """The modules among a method's inputs that are not the model's (an assistant model, a teacher
    head), each module of them named after the input: ``head.weight``, ``args[1].0.bias``."""
    args, kw = given
    return _modules_among([*((f"args[{i}]", a) for i, a in enumerate(args)), *kw.items()], named)


def _held_modules(method: FunctionMethod, named: list) -> tuple[list, list]:
    """The modules a function given as the method holds (:meth:`FunctionMethod.held_named`: a teacher
    it closes over, an EMA copy it names as a global), or that an object it holds keeps as an
    attribute (``self.teacher`` of a trainer whose bound method it is), and that are not among
    ``named``; each module of them named after where it is held: ``teacher.0``, ``self.teacher``.
    Also those held themselves (not as a submodule of another), for the note."""
    from .state import _plain_object

    candidates = []
    for label, value in method.held_named():
        candidates.append((label, value))
        if not isinstance(value, nn.Module) and _plain_object(value):
            candidates += [(f"{label}.{key}", item) for key, item in vars(value).items()]
    found = _modules_among(candidates, named)
    labels = {label for label, _ in candidates}
    return found, [(path, m) for path, m in found if path in labels]


def _kept_modules(named: list, others: list) -> tuple[list, list]:
    """The modules the model's modules keep outside the module tree, not among ``others``: in an
    attribute that is not a submodule (``self._ema = [copy.deepcopy(self.net)]``, an EMA copy kept out
    of the state_dict), two levels into short lists, tuples and dicts and plain objects, where
    optimizers are looked for (:func:`torchcount.state._held`); each module of them named after where it
    is held: ``_ema[0].fc1``. Also those held themselves (not as a submodule of another), for the note."""
    from .state import _MODULE_INTERNALS, _labelled_inside

    candidates = [entry for path, m in named for key, value in vars(m).items() if key not in _MODULE_INTERNALS
                  for entry in _labelled_inside(f"{path}.{key}" if path else key, value, 2)]
    found = _modules_among(candidates, others)
    labels = {label for label, _ in candidates}
    return found, [(path, m) for path, m in found if path in labels]


def _modules_among(values: list, named: list) -> list:
    """(name, module) for every module of each (label, value) whose value is a module not in
    ``named``, named ``label.path``."""
    own = {id(m) for _, m in named}
    found, seen = [], set()
    for label, value in values:
        if isinstance(value, nn.Module) and id(value) not in own:
            for path, m in value.named_modules():
                if id(m) not in own and id(m) not in seen:
                    seen.add(id(m))
                    found.append((f"{label}.{path}" if path else label, m))
    return found


def _check_method(model: nn.Module, method: str, positional: int = 0, keywords: "dict | None" = None) -> None:
    """``method=`` names a method of an eager model (TorchScript modules run only their forward here)
    whose signature takes ``keywords`` after ``positional`` inputs (else it would raise at call time,
    after the profile had started: a TypeError wrapped in a ForwardError, the CLI's exit 1)."""
    if isinstance(method, FunctionMethod):  # (a function given the model first: any model, TorchScript too)
        _check_synchronous(method.function, method_text(type(model).__name__, method), f"method={method}: ")
        _check_arguments(method.function, f"{method}()", positional + 1, keywords or {}, f"method={method}: ")
        return
    if isinstance(model, torch.jit.ScriptModule):
        raise TypeError(f"method={method!r}: {type(model).__name__} is a TorchScript module, which torchcount "
                        "profiles through its forward only; profile the eager model")
    if hasattr(nn.Module, method):  # .to, .eval, .register_forward_hook: they change the model, not compute
        raise ValueError(f"method={method!r} is a method of every nn.Module, not a computation of "
                         f"{type(model).__name__}'s to profile; name one of its own, such as generate")
    found = getattr(model, method, _ABSENT)
    if not callable(found) or isinstance(found, nn.Module):
        what = "has no attribute" if found is _ABSENT else f"has a {type(found).__name__}, not a method, named"
        names = [n for n in dir(type(model)) if not n.startswith("_") and inspect.isroutine(getattr(type(model), n, None))]
        close = difflib.get_close_matches(method, names, n=3, cutoff=0.6)
        raise AttributeError(f"method={method!r}: {type(model).__name__} {what} {method!r}"
                             + (f"; did you mean {' or '.join(close)}?" if close else ""))
    _check_synchronous(found, method_text(type(model).__name__, method), f"method={method!r}: ")
    # (no hook stands between the call and the method, as a forward pre-hook may take inputs off a forward's)
    _check_positional(found, f"{type(model).__name__}.{method}()", positional, f"method={method!r}: ")
    if keywords:
        _check_keywords(found, f"{type(model).__name__}.{method}()", positional, keywords, f"method={method!r}: ")


class TooManyInputs(TypeError):
    """More positional inputs than a forward or method takes (:func:`_check_positional`)."""


def _check_positional(function, name: str, positional: int, prefix: str = "") -> None:
    """A :class:`TooManyInputs` for more positional inputs than ``function`` takes (one without ``*args``):
    called, it raised a TypeError inside the profile, a ForwardError (the CLI's exit 1, as if the model had
    failed). Fewer are left to the call (a default fills them). Nothing for a signature Python cannot read."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return
    kinds = inspect.Parameter
    if any(p.kind is kinds.VAR_POSITIONAL for p in parameters):
        return
    takes = [p.name for p in parameters if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)]
    if positional > len(takes):
        raise TooManyInputs(f"{prefix}{name} takes {len(takes)} positional input(s) ({', '.join(takes) or 'none'}), "
                            f"not {positional}")


def _check_synchronous(function, called: str, prefix: str) -> None:
    """A ``TypeError`` where ``function`` is async (a coroutine or async generator function): calling it
    would run none of its body."""
    kind = async_kind(function)
    if kind is not None:
        raise TypeError(f"{prefix}{called} is an {kind}: torchcount runs a method synchronously; profile the "
                        "synchronous method it awaits")


def _check_arguments(function, name: str, positional: int, keywords: dict, prefix: str = "") -> None:
    """A ``TypeError`` where ``function`` cannot take ``positional`` arguments and ``keywords`` (the
    model and the inputs of a function given as ``method=``): too many or too few, or a keyword it
    has no parameter for. Nothing for a signature Python cannot read."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # a builtin or an extension's callable: it says so when called
        return
    _check_keywords(function, name, positional, keywords, prefix)
    try:
        signature.bind(*range(positional), **keywords)
    except TypeError as exc:
        raise TypeError(f"{prefix}{name} is called as {name[:-2]}(model"
                        + ", input" * (positional - 1) + "".join(f", {k}=…" for k in keywords)
                        + f"), which its signature {name[:-2]}{signature} cannot take: {exc}") from None


def _check_keywords(function, name: str, positional: int, keywords: dict, prefix: str = "") -> None:
    """A ``TypeError`` naming the first of ``keywords`` that ``function``'s signature cannot take after
    ``positional`` arguments: one it has no parameter for (and no ``**kwargs``), a positional-only
    one, or one the positional arguments fill already. Nothing for a signature Python cannot read."""
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):  # a builtin or an extension's callable: it says so when called
        return
    kinds = inspect.Parameter
    any_keyword = any(p.kind is kinds.VAR_KEYWORD for p in parameters.values())
    ordered = [p.name for p in parameters.values() if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)]
    filled = set(ordered[:positional])
    for keyword in keywords:
        parameter = parameters.get(keyword)
        if parameter is not None and parameter.kind in (kinds.POSITIONAL_OR_KEYWORD, kinds.KEYWORD_ONLY):
            if keyword in filled:
                raise TypeError(f"{prefix}{name} is given {keyword!r} twice: as its input number "
                                f"{ordered.index(keyword) + 1} and as a keyword")
        elif not any_keyword:
            takes = [p.name for p in parameters.values() if p.kind in (kinds.POSITIONAL_OR_KEYWORD, kinds.KEYWORD_ONLY)
                     and p.name not in filled]
            close = difflib.get_close_matches(keyword, takes, n=1, cutoff=0.6)
            why = "positional only" if parameter is not None and parameter.kind is kinds.POSITIONAL_ONLY \
                else "not a keyword it takes"
            raise TypeError(f"{prefix}{name} takes no keyword argument {keyword!r} ({why}; it takes "
                            f"{', '.join(takes) or 'none'}" + (f"; did you mean {close[0]}?" if close else "") + ")")


_ACTIVE: dict[int, tuple] = {}  # id → (path, model type) of every module being profiled right now (any thread)
_ACTIVE_LOCK = threading.Lock()


@contextmanager
def _exclusive(model: nn.Module, modules: "list | None" = None):
    """One profile at a time of any given module: two captures hooking the same modules
    (the same model twice, or two models sharing a submodule) would record each other's calls."""
    owner = type(model).__name__
    mine = {id(m): (path, owner) for path, m in (modules if modules is not None else model.named_modules())}
    with _ACTIVE_LOCK:
        clash = next((key for key in mine if key in _ACTIVE), None)
        if clash is not None:
            path, (held_path, held_by) = mine[clash][0], _ACTIVE[clash]
            raise RuntimeError(f"module '{path or '(root)'}' of {owner} is already being profiled, as "
                               f"'{held_path or '(root)'}' of {held_by} (in another thread, or from inside "
                               "a forward that profile is running); profile one copy per thread")
        _ACTIVE.update(mine)
    try:
        yield
    finally:
        with _ACTIVE_LOCK:
            for key in mine:
                _ACTIVE.pop(key, None)


#: TorchScript nodes the interpreter runs itself, without dispatching an aten op that the recorder could
#: see: ``torch.jit.optimize_for_inference``'s MKLDNN convolutions and element-wise ops, fusion groups
_INTERPRETED = ("prim::mkldnn_", "prim::MKLDNN", "prim::TensorExprGroup", "prim::FusionGroup",
                "prim::CudaFusionGroup", "prim::oneDNNFusionGroup")
# (the MKLDNN nodes that compute nothing, prim::ConstantMKLDNNTensor and prim::BroadcastMKLDNNTensors,
# begin with none of these)


def _flag_interpreted(report: Report, scripted: nn.Module, counted: nn.Module, notes: list) -> None:
    """A TorchScript graph's nodes that compute outside PyTorch's dispatcher are listed as uncounted:
    the forward ran them, but no op reached the recorder (``optimize_for_inference`` turned every
    convolution into ``prim::mkldnn_convolution``, and its MACs were a silent 0). Each node is counted
    once per forward (a node in a loop body runs more often)."""
    from collections import Counter

    from .report import Uncounted

    try:
        graph = scripted.inlined_graph
    except (AttributeError, RuntimeError):  # pragma: no cover - a ScriptModule without a forward graph
        return
    found: Counter = Counter()

    def walk(block) -> None:
        for node in block.nodes():
            kind = node.kind()
            if kind.startswith(_INTERPRETED):
                found[kind] += 1
            for inner in node.blocks():
                walk(inner)

    walk(graph)
    if not found:
        return
    row = report.root
    for kind, n in sorted(found.items()):
        what = f"{kind} (run by the TorchScript interpreter, outside the dispatcher: not recorded)"
        report.uncounted.append(Uncounted(row.path, type(scripted).__name__, what, n))
        row.uncounted_ops = {**row.uncounted_ops, what: n}
    row.status = "partial"
    notes.append(f"{type(scripted).__name__}: its graph runs {', '.join(sorted(found))} in the TorchScript "
                 "interpreter itself, where no op is dispatched, so their work is not counted (as "
                 "torch.jit.optimize_for_inference makes them); profile the module before that for these layers")


def _frozen_note(scripted: nn.Module) -> str:
    """What a frozen TorchScript module's parameters are (:func:`count.frozen_constants`)."""
    from .count import frozen_constants

    found = frozen_constants(scripted)
    elements = sum(t.numel() for t in found.weights)
    weight_ids = {id(t) for t in found.weights}
    kept_params = [name for name, t in found.kept.items() if id(t) in weight_ids]
    kept_buffers = [name for name in found.kept if name not in kept_params]
    kept_ids = {id(t) for t in found.kept.values()}
    text = (f"frozen TorchScript module (torch.jit.freeze): its weights are constants of its graph, not parameters; "
            f"its {sum(id(t) not in kept_ids for t in found.weights)} weight constant(s) ")
    if found.unnamed:  # (torch.jit.save keeps no constant's name: which ones were attributes is not known)
        text = (f"frozen TorchScript module (torch.jit.freeze): its weights are constants of its graph, not parameters, "
                f"and none of them is named (torch.jit.save drops the names: a module read by torch.jit.load); its "
                f"{sum(id(t) not in kept_ids for t in found.weights)} tensor constant(s) ")
    if kept_params:  # (freezing keeps MultiheadAttention's in_proj_weight and in_proj_bias as attributes)
        text += f"and the {len(kept_params)} parameter(s) of submodules freezing kept ({_first_names(kept_params)}) "
    text += f"({elements:,} elements) are counted as its (frozen) parameters"
    if found.unnamed:
        text += (", any that freezing computed itself (a folded expression, a transposed copy) among them, and a "
                 "BatchNorm it folded into the convolution or Linear before it has none of its own")
    if found.statistics:
        text += (f", its {len(found.statistics)} normalisation running statistic(s) "
                 f"({sum(t.numel() for t in found.statistics):,} elements) as buffers")
    if kept_buffers:
        text += (f", the {len(kept_buffers)} buffer(s) of submodules freezing kept ({_first_names(kept_buffers)}; "
                 f"{sum(t.numel() for t in found.buffers):,} elements) as buffers")
    if found.folded:
        # (the layer is the path before its '_fused_' constant: TorchScript may add a suffix to the name,
        # 0.bias_fused_bn.1, naming a later folded bias after the first; a bias folding made from none,
        # %5_fused_bn, is named after a graph value, which names no layer)
        layers = list(dict.fromkeys(name.partition("_fused_")[0].rpartition(".")[0] or "(root)"
                                    for name in found.folded if not name.startswith("%")))
        into = f" into {', '.join(layers[:6])}" + (" …" if len(layers) > 6 else "") if layers else ""
        text += (f"; freezing folded other layers{into} ({', '.join(found.folded[:2])}"
                 + (" …" if len(found.folded) > 2 else "") + "; a BatchNorm "
                 "folded into the convolution or Linear before it leaves no constants of its own), so the count is "
                 "the frozen graph's own, not the eager model's")
    return text + " (constants of equal values are stored once)"


def _first_names(names: list) -> str:
    return ", ".join(names[:4]) + (" …" if len(names) > 4 else "")


def _unoptimized_script(kinds: set):
    """TorchScript's graph executor optimizes a graph again when a dispatch mode (the recorder) is on,
    and its passes run ops of their own: constant pooling calls aten.equal on every pair of a frozen
    graph's weight constants (28.9 M comparisons counted as a frozen ResNet-18's, 90 times its own),
    and fails on a traced TransformerEncoderLayer (aten::equal given an int). A model with TorchScript
    in it is run with the executor's optimizations off (this thread only): its graph's ops as they
    stand, the eager ops it stands for. ``kinds``: the model's module types."""
    if any(issubclass(k, torch.jit.ScriptModule) for k in kinds):
        return torch.jit.optimized_execution(False)
    return contextlib.nullcontext()


class _ScriptedRoot(nn.Module):
    """A plain module around a TorchScript module, which cannot take hooks: its ops are
    recorded as this root's own ops (``capture`` skips ScriptModules)."""

    def __init__(self, scripted: nn.Module):
        super().__init__()
        self.scripted = scripted

    def forward(self, *args, **kwargs):
        return self.scripted(*args, **kwargs)


def _unwrap(model: nn.Module) -> tuple[nn.Module, list[str]]:
    """Peel ``torch.compile`` and data-parallel wrappers off ``model``, with a note for each."""
    notes: list[str] = []
    while True:
        orig = getattr(model, "_orig_mod", None)
        if isinstance(orig, nn.Module) and type(model).__name__ == "OptimizedModule":
            notes.append(f"torch.compile'd model: profiled the original module ({type(orig).__name__}, "
                         "eager); compiled kernels may fuse ops and run faster, the counts are the same")
            model = orig
        elif isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            to = _scatter_device(model)
            notes.append(f"{type(model).__name__} wrapper: profiled the wrapped module "
                         f"({type(model.module).__name__}) for the whole batch on one device"
                         + (f" ({to}: the inputs moved there, as its forward would)" if to is not None else ""))
            model = model.module
        else:
            return model, notes


def _moved(call: tuple, device: torch.device) -> tuple:
    """``(args, kwargs)`` with every tensor in them on ``device`` (a data-parallel wrapper's)."""
    return tree_map(lambda x: x.to(device) if isinstance(x, torch.Tensor) else x, call)


def _scatter_device(model: nn.Module) -> "torch.device | None":
    """Where a data-parallel wrapper's forward would put the inputs before calling its module, or
    ``None``: ``DataParallel`` with a GPU scatters the batch to its devices (one GPU: all of it to the
    first, where its constructor has moved the module), ``DistributedDataParallel`` with
    ``device_ids`` moves it to its device; without a GPU (no ``device_ids``) neither moves anything.
    Profiling the wrapped module directly must move them the same way, or a CPU batch meets the GPU
    weights."""
    if isinstance(model, nn.DataParallel) and model.device_ids:
        return torch.device(model.src_device_obj)
    if isinstance(model, nn.parallel.DistributedDataParallel) and getattr(model, "device_ids", None):
        first = model.device_ids[0]
        return first if isinstance(first, torch.device) else torch.device(model.device_type, first)
    return None


def _compiled_submodules_eager(named: list, swapped: list, kinds: set) -> list:
    """Every ``torch.compile``'d submodule (an ``OptimizedModule`` registered in the tree) replaced in
    its parent's ``_modules`` by the module it compiled, until :func:`_compiled_put_back`: the forward
    then runs it eagerly (recorded, with no compilation), and every path, row and measured time is the
    logical one (``encoder.layer1``, not ``encoder._orig_mod.layer1``), as for a compiled root.
    Appends (parent, name, wrapper, original) to ``swapped`` for each, and returns it. Nothing is
    looked at when dynamo was never imported (no module can be compiled then)."""
    eval_frame = sys.modules.get("torch._dynamo.eval_frame")
    optimized = getattr(eval_frame, "OptimizedModule", None)
    if optimized is None or not any(issubclass(k, optimized) for k in kinds):  # (kinds: named's types)
        return swapped
    found = []
    for _, m in named:
        for child_name, child in m._modules.items():
            if isinstance(child, optimized):
                original = child
                while isinstance(original, optimized):  # (a module compiled twice)
                    original = original._orig_mod
                found.append((m, child_name, child, original))
    for parent, child_name, wrapper, original in found:
        swapped.append((parent, child_name, wrapper, original))
        parent._modules[child_name] = original
    return swapped


def _compiled_put_back(swapped: list) -> None:
    """Each compiled wrapper back in its parent (unless the forward registered another module there)."""
    for parent, child_name, wrapper, original in reversed(swapped):
        if parent._modules.get(child_name) is original:
            parent._modules[child_name] = wrapper


def _compiled_note(swapped: list, named: list) -> str:
    """The note on compiled submodules, by their paths in the tree as profiled (``named``)."""
    originals = {id(original) for *_, original in swapped}
    hooked = {id(original) for _, _, wrapper, original in swapped
              if wrapper._forward_hooks or wrapper._forward_pre_hooks}
    paths = [path for path, m in named if id(m) in originals]  # (in tree order; one registered twice, once)
    hooked = [path for path, m in named if id(m) in hooked]
    return (f"torch.compile'd submodule(s) {', '.join(paths[:6])}" + (" …" if len(paths) > 6 else "")
            + ": each profiled as its original module, eagerly, under the path shown (its state_dict keys keep "
              "'_orig_mod.'); compiled kernels may fuse ops and run faster, the counts are the same"
            + (f"; hooks registered on the compiled wrapper of {', '.join(hooked)} itself did not run"
               if hooked else ""))


#: what a module without a rule did itself, when op recording is off (never a silent zero)
UNRECORDED = "own ops (not recorded: record_ops=False)"
UNRECORDED_HOOKS = "the root's hooks (not recorded: record_ops=False)"
UNRECORDED_CALL = "the root's own __call__ (not recorded: record_ops=False)"
#: what a module's own forward hooks and pre-hooks computed, counted in its row when ops are recorded
UNRECORDED_OWN_HOOKS = "its forward hooks (not recorded: record_ops=False)"
_CONTAINER_FORWARDS = (nn.Sequential.forward,)


def _flag_unrecorded(report: Report, model: nn.Module) -> None:
    """With ``record_ops=False`` a module without a rule is priced from its children only;
    whatever it computed itself is unknown, so it is listed as uncounted (and so is what the
    root's own hooks computed), in the report and in its row (a "(self)" row is marked † by its
    own uncounted ops: not a silent 0 where its children are rows of their own)."""
    from .report import Uncounted

    def flag(row, what: str, calls: int) -> None:
        report.uncounted.append(Uncounted(row.path, row.type, what, calls))
        row.uncounted_ops = {**row.uncounted_ops, what: row.uncounted_ops.get(what, 0) + calls}
        if row.status in ("ops", "container"):
            row.status = "partial"

    if (model._forward_hooks or model._forward_pre_hooks) and report.root is not None:
        flag(report.root, UNRECORDED_HOOKS, 1)
    if own_call(model):  # (its work around the forward, or instead of it: with no row where it never ran it)
        if report.root is not None:
            flag(report.root, UNRECORDED_CALL, 1)
        else:
            report.uncounted.append(Uncounted("", type(model).__name__, UNRECORDED_CALL, 1))

    seen = set()
    for row in [report.root, *report.layers]:
        if row is None or id(row) in seen or row.module is None or row.calls == 0:
            continue  # (a row for a module never called: it ran nothing)
        seen.add(id(row))
        if row is not report.root and _has_own_hooks(row.module):
            # its hooks' work is its row's (capture._HookWatch), unknown here: not a silent 0 beside its rule
            flag(row, UNRECORDED_OWN_HOOKS, row.calls)
        if row.status in ("ops", "partial", "container") and (
                getattr(type(row.module), "forward", None) not in _CONTAINER_FORWARDS
                or row is report.root and report.method is not None):  # (the method's own code ran too)
            flag(row, UNRECORDED, row.calls)


class _InputObjects:
    """The input objects :func:`_copied` deep-copied (their type names), and what their copies
    share with the caller: the model's modules, parameters and buffers, which an input object
    may refer to (copying them would duplicate the model and break identity checks)."""

    def __init__(self, model: nn.Module):
        self.names: list[str] = []
        self.model = model
        self._memo: "dict | None" = None
        #: id of a tensor given → its copy: a tensor passed twice (``mha(x, x, x)``) is one tensor
        #: in the forward too (self-attention's fast path, and any ``q is k`` test, depend on it)
        self.tensors: dict = {}

    def __bool__(self) -> bool:
        return bool(self.names)

    def memo(self) -> dict:
        if self._memo is None:  # built once, and only when an input object is copied
            model = self.model
            self._memo = {id(o): o for o in (*model.modules(), *model.parameters(), *model.buffers())}
        return self._memo


def _protect_inputs(args: tuple, kwargs: dict, objects: "_InputObjects | None" = None) -> tuple[tuple, dict]:
    """Copy tensor inputs so an in-place first layer cannot modify the caller's tensors, and input
    objects that may hold state (a KV cache the forward appends to), deep; ``objects`` collects
    the type names of the latter."""
    objects = _InputObjects(nn.Module()) if objects is None else objects
    return _copied(args, objects), _copied(kwargs, objects)


def _stateful(x) -> bool:
    """An input object (not a tensor, container, number, module, type or function) whose
    attributes a forward may change: a Hugging Face ``Cache``, a user's state object. Not an optimizer:
    a step puts it back (its step hook, ``state._SteppedOptimizers``), and a deep copy keeps only what
    its ``__getstate__`` names (LBFGS lost ``_params``, a wrapper optimizer its base, every optimizer
    its own step hooks, whose work went uncounted)."""
    return (hasattr(x, "__dict__") or bool(getattr(type(x), "__slots__", None))) and not callable(x) and \
        not isinstance(x, (nn.Module, type, enum.Enum, torch.dtype, torch.device, torch.layout, torch.memory_format,
                           torch.optim.Optimizer)) \
        and not _is_streamer(x)


def _is_streamer(x) -> bool:
    """A Hugging Face ``generate(streamer=...)``: an output channel, which a copy would leave empty
    (found by its base class's name: transformers is not imported for it)."""
    return any(c.__name__ == "BaseStreamer" and c.__module__.startswith("transformers") for c in type(x).__mro__)


def _copied(x, objects: "_InputObjects"):
    """``x`` with every tensor in it copied, and every stateful object deep-copied (its name
    appended to ``objects.names``). A module-level function: a recursive closure would be a reference
    cycle left for the garbage collector after every profile."""
    if isinstance(x, torch.Tensor):
        if x.is_nested:
            raise TypeError(
                "torchcount counts dense tensors, and an input is a nested tensor (ragged shapes: "
                f"{_components(x)}); profile it padded (x.to_padded_tensor(0.0): an upper bound, every "
                "padded position counted) or each component on its own (x.unbind(): a sum)")
        meta = x.device.type == "meta"
        if meta and not x.requires_grad:
            return x  # (no values to protect)
        duplicate = objects.tensors.get(id(x))
        if duplicate is None:
            # a leaf of its own, also for a tensor computed with grad: a backward in a profiled method
            # stops there, setting no .grad of the caller's and running none of their graph's nodes
            duplicate = objects.tensors[id(x)] = (x.detach() if meta else x.detach().clone()).requires_grad_(
                x.requires_grad)
        return duplicate
    if isinstance(x, tuple) and not hasattr(x, "_fields"):
        return tuple(_copied(v, objects) for v in x)
    if isinstance(x, list):
        return [_copied(v, objects) for v in x]
    if isinstance(x, (tuple, dict)):  # namedtuples (PackedSequence …), dict subclasses: keep the type
        try:
            if isinstance(x, tuple):
                return type(x)(*(_copied(v, objects) for v in x))
            items = {k: _copied(v, objects) for k, v in x.items()}
            return items if type(x) is dict else type(x)(items)
        except Exception:  # a type that cannot be rebuilt this way: passed as it is
            return x
    if _stateful(x):
        try:
            # the model's own objects are shared, not copied; a tensor also given directly is its one copy;
            # an optimizer it holds is shared too, as one given directly is (see _stateful): found by the
            # search that finds the optimizers to put back, so every one put back is the caller's own
            held = {id(o): o for o in _held(x) if isinstance(o, torch.optim.Optimizer)}
            duplicate = copy.deepcopy(x, {**objects.memo(), **objects.tensors, **held})
        except Exception:  # cannot be copied (a lock, a handle): passed as it is
            return x
        objects.names.append(type(x).__name__)
        return duplicate
    return x


def _components(nested: torch.Tensor) -> str:
    try:
        shapes = ["×".join(map(str, t.shape)) for t in nested.unbind()]
    except Exception:  # pragma: no cover - a layout that cannot be unbound
        return "unknown"
    return ", ".join(shapes[:4]) + (" …" if len(shapes) > 4 else "")


def _hook_failure(exc: BaseException, model: nn.Module) -> "tuple[str, nn.Module, str, list] | None":
    """(path, module, "pre-hook" or "hook", input shapes) when ``exc`` came from a forward hook of a
    module of ``model`` (one the user registered, or a lazy module's initialisation), not from its
    forward: the wrappers see forwards only, so their innermost failing call would be its caller.
    Read from the traceback's frames of ``Module._call_impl``; None where they are not as expected.

    An exception raised again (a hook's ``raise stored`` of an error its module's forward raised and the
    caller handled) carries the traceback of its first raise after the frames it passed through since,
    from the frame that caught it (one already in the traceback): the frames before each such seam are
    read in turn, the latest raise's first, where a hook raising it is found (also when a forward caught
    the hook's raise and raised it again, a seam before the hook's); else the whole traceback, as for one
    raised once."""
    try:
        frames, lines, seams = [], [], []
        tb = exc.__traceback__
        while tb is not None:
            if any(tb.tb_frame is f for f in frames):
                seams.append(len(frames))
            frames.append(tb.tb_frame)
            lines.append(tb.tb_lineno)
            tb = tb.tb_next
        for seam in seams:
            found = _hook_failure_in(frames[:seam], lines[:seam], model)
            if found is not None:
                return found
        return _hook_failure_in(frames, lines, model)
    except Exception:  # noqa: BLE001 - a torch whose frames differ: the message without it
        return None


def _hook_failure_in(frames: list, lines: list, model: nn.Module) -> "tuple[str, nn.Module, str, list] | None":
    """:func:`_hook_failure` read from these frames of a traceback (outermost first) and their lines."""
    at = None
    for i, frame in enumerate(frames):
        code = frame.f_code
        if code.co_name in ("_call_impl", "inner") and code.co_filename.replace("\\", "/").endswith(
                "torch/nn/modules/module.py") and isinstance(frame.f_locals.get("self"), nn.Module):
            at = i
    if at is None:
        return None
    if at + 1 == len(frames) and not _refused_pre_hook_result(frames[at].f_locals):
        return None  # (raised by torch's own code there, or by a C++ forward: a TorchScript submodule's)
    module = frames[at].f_locals["self"]
    own_forward = getattr(type(module).forward, "__code__", None)
    if any(f.f_code.co_name == "recorded_forward" or f.f_code is own_forward for f in frames[at + 1:]):
        return None  # its forward ran and raised: the wrappers saw it
    paths = {id(m): p for p, m in model.named_modules()}
    if id(module) not in paths:
        return None
    stage = _hook_stage(frames[at], lines[at])
    shapes = [tuple(t.shape) for t in tree_leaves(frames[at].f_locals.get("args", ()))
              if isinstance(t, torch.Tensor)]
    return paths[id(module)], module, stage, shapes


def _hook_stage(frame, lineno: int) -> str:
    """"hook" or "pre-hook": which of ``Module._call_impl``'s hook calls the traceback passed through, read
    from that line of its source (a forward hook is given the forward's result; a forward that returned
    None leaves ``result`` None as before it ran, so the local alone cannot tell)."""
    line = linecache.getline(frame.f_code.co_filename, lineno)
    if "hook(self, args" in line:
        return "hook" if "result)" in line.split("hook(self, args", 1)[1] else "pre-hook"
    return "pre-hook" if frame.f_locals.get("result") is None else "hook"  # (a torch whose lines differ)


def _refused_pre_hook_result(local: dict) -> bool:
    """Module._call_impl's own check failed: a pre-hook registered ``with_kwargs=True`` returned something
    other than None or an (args, kwargs) pair (torch raises there, after the hook's frame has returned)."""
    value = local.get("args_kwargs_result")
    return value is not None and not (isinstance(value, tuple) and len(value) == 2)


_SCRIPT_FAILURE = "The following operation failed in the TorchScript interpreter."


def _error_text(exc: BaseException, op_error: "BaseException | None" = None) -> str:
    """``RuntimeError: …``: an exception as a ForwardError quotes it. The TorchScript interpreter's error
    leads with the traceback of the module's code and says what went wrong on its last line: that line
    comes first here, then the innermost call the interpreter ran (the line its traceback marks). Under
    the op recorder (a Python dispatch mode) that last line has lost its message (``RuntimeError: ``):
    ``op_error``, the exception the failing op raised, says it instead."""
    text = str(exc)
    if not text.startswith(_SCRIPT_FAILURE):
        return f"{type(exc).__name__}: {text}"
    lines = [line for line in text.splitlines() if line.strip()]
    reason = lines[-1].strip()
    kind, colon, said = reason.partition(":")
    if not colon or not kind.replace(".", "").isidentifier():
        reason = f"{type(exc).__name__}: {reason}"  # (the last line says what went wrong without its type)
    elif not said.strip() and op_error is not None:
        reason = _error_text(op_error)
    call = None
    for i, line in enumerate(lines):
        if line.startswith("Traceback of TorchScript, original code"):
            break  # (the first traceback is the code the interpreter ran: serialized, or the scripted source)
        if line.rstrip().endswith("<--- HERE") and i > 0:
            call = _cut_open_call(lines[i - 1].strip())
    return reason + (f" (in TorchScript, at {_short(call, 120)})" if call else "")


def _cut_open_call(line: str) -> str:
    """A line whose call continues on the next lines, cut after its first unclosed parenthesis:
    ``return F.conv2d(…)`` for ``return F.conv2d(`` and for torch 2.2's ``return F.conv2d(input, weight,``."""
    opened = []
    for i, char in enumerate(line):
        if char == "(":
            opened.append(i)
        elif char == ")" and opened:
            opened.pop()
    return line[:opened[0] + 1] + "…)" if opened else line


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _input_shapes_text(shapes: list) -> str:
    return "input shapes " + ", ".join("×".join(map(str, s)) or "scalar" for s in shapes)


def _forward_error(exc: Exception, recorder, model: nn.Module, on_meta: bool = False, inputs: Any = ()) -> Exception:
    """``on_meta``: the model or its inputs are on the meta device; ``inputs``: what the forward was given."""
    failed = recorder.failure
    reason = _error_text(exc, recorder.mode.last_error if recorder.mode is not None else None)
    hint = _OLD_TORCH_HOP_HINT if any(text in str(exc) for text in _OLD_TORCH_HOP_ERRORS) else ""
    given_args = inputs[0] if inputs else ()
    if len(given_args) == 1 and not inputs[1] and type(given_args[0]) is list and "list" in str(exc):
        # (as_call: a list is one input, as a detection model's list of images; a tuple is the arguments)
        hint += (" — a list is one input, given to the forward as its one argument: pass a tuple, "
                 "profile(model, (a, b)), for several positional inputs")
    apart = _devices_apart(model, inputs) if "device" in str(exc) else ""
    if apart:  # (not the meta hint's values: the model and its inputs were given on different devices)
        hint += apart
    elif on_meta and needs_real_values(exc):
        hint += META_HINT
    hooked = _hook_failure(exc, model)
    # (a pre-hook of the module whose forward failed: its own failure where it raised this very exception, as
    # a GraphModule's pre-hook calling it again, whose wrapper cut the forward's frames from the traceback;
    # an error of the pre-hook's own, though raised from or while handling an earlier call's, is the pre-hook's)
    if hooked is not None and (failed is None or hooked[1] is not failed.module or hooked[2] == "hook"
                               or exc is not failed.failed):
        path, module, stage, shapes = hooked
        given = _input_shapes_text(shapes) if shapes else "no tensor input"
        return ForwardError(
            f"forward failed in a forward {stage} of module '{path or '(root)'}' ({_type_name(module)}) with "
            f"{given}: {reason}{hint}", path, shapes, reason)
    if failed is None:
        return ForwardError(f"{_type_name(model)} forward failed before any module ran: "
                            f"{reason}{hint}", reason=reason)
    shapes = [tuple(t.shape) for t in tensors_in((failed.args, failed.kwargs))]
    path = failed.path or "(root)"
    if shapes:
        given = _input_shapes_text(shapes)
    else:  # say what it was given instead
        # (an object the capture does not describe is kept as "<its type>")
        kinds = [a[1:-1] if isinstance(a, str) and a[:1] == "<" and a[-1:] == ">" else type(a).__name__
                 for a in (*failed.args, *failed.kwargs.values())]
        given = f"no tensor input ({', '.join(kinds) or 'no arguments'})"
        if "ndarray" in kinds:
            hint += " — a NumPy array: pass torch.from_numpy(x)"
        if len(kinds) > 1 and all(k == "int" for k in kinds) and failed.parent_index is None:
            # profile(model, (1, 3, 227, 227)), as torchinfo takes it: a shape, not a tensor
            hint += (f" — a shape was given where a tensor is expected: pass torch.randn{tuple(failed.args)} "
                     f"or input_size={tuple(failed.args)}")
    method = recorder.trace.method
    where = f"{method_text(_type_name(model), method)} failed outside any module's forward" \
        if method is not None and failed.index == 0 else \
        f"forward failed in module '{path}' ({recorder.trace.layer_types.get(failed.path) or _type_name(failed.module)})"
    return ForwardError(f"{where} with {given}: {reason}{hint}", failed.path, shapes, reason)


def _devices_apart(model: nn.Module, inputs: Any) -> str:
    """A hint where every weight of the model is on one device and the inputs are on others (a model
    built on meta given CPU inputs, a CUDA model given CPU ones): torch names only the first op's two."""
    held = {t.device for t in (*model.parameters(), *model.buffers())}
    given = {t.device for t in _raw_tensors(inputs)}
    if len(held) != 1 or not given or held & given:
        return ""
    (device,) = held
    return (f" — hint: the model's weights are on {device}, its inputs on {', '.join(sorted(map(str, given)))}: "
            f"make the inputs there (x.to({str(device)!r}), torchcount.make_inputs(shape, device={str(device)!r})) "
            "or move the model (model.to(...))")


def needs_real_values(exc: BaseException) -> bool:
    """The forward failed because the meta device has no values or no kernel for an op (x.item(),
    data-dependent shapes, an op without a meta/fake implementation such as quantized kernels),
    not because of the model or its inputs (those fail on the CPU alike). Also a tensor the forward
    made on the CPU (``torch.tensor(x)`` without a device) meeting meta tensors: PyTorch's meta kernels
    refuse it, where the CPU has nothing to mix and a GPU takes a CPU scalar (SEW-D's ``masked_fill``
    with ``torch.tensor(finfo.min)``). ``exc``: what the forward raised, or the :class:`ForwardError`
    made of it (the CLI's question: count on the CPU instead?)."""
    cause = exc.__cause__ or exc
    text = str(exc).lower()
    if "meta" in text and ("should be the same" in text or "expected" in text and "dtype" in text):
        return False  # a dtype mismatch (MetaComplexFloatType vs MetaFloatType): it fails on the CPU alike
    return any(phrase in text for phrase in (
        "cannot be called on meta tensors", "meta tensor", "on the meta device", "'meta' backend",
        "meta backend", "data-dependent", "fake impl", "fake tensor", "meta function", "meta kernel",
        "no meta", "meta implementation", "item()", "copy out of meta", "torch.nonzero", "meta device type",
        "on device cpu is not on the expected device meta",
        "on device meta is not on the expected device cpu", "expected `value` to be on same device as `a`",
    )) or (isinstance(cause, NotImplementedError) and "could not run" in text)


#: added to a forward error on meta tensors that :func:`needs_real_values` recognises
META_HINT = (" — hint: meta tensors have no values, so an op whose result depends on them (.item(), an `if` "
             "on a tensor, nonzero, a boolean mask, unique), that has no meta kernel or that meets a tensor the "
             "forward made on the CPU cannot run on them; count "
             "with small real inputs, or give that step static shapes "
             "(docs/performance.md, \"Counting on the meta device\")")


#: what an older torch (2.2, 2.5) raises when a higher-order op (torch.cond, flex_attention) runs
#: under a dispatch mode that registered no handler for it, as torchcount's op recorder
_OLD_TORCH_HOP_ERRORS = ("Current active mode", "no rule registered for HOP")  # (torch 2.2, 2.5)
_OLD_TORCH_HOP_HINT = (
    f" (torch {torch.__version__} cannot run a higher-order op such as torch.cond or flex_attention "
    "while torchcount records a module's own ops; a newer torch can, and lists it as uncounted "
    "where no rule prices it; or profile(..., record_ops=False))")


def _type_name(module: nn.Module) -> str:
    return type(module.scripted if isinstance(module, _ScriptedRoot) else module).__name__


def _short_repr(obj: Any) -> str:
    text = repr(obj)
    return text if len(text) <= 80 else text[:77] + "..."


@contextmanager
def _transformer_layers_unfused(model: nn.Module, modules: "list | None" = None, kinds: "set | None" = None):
    """Run nn.TransformerEncoder(Layer) the unfused way while counting, so that the table has a
    row for every submodule (self_attn, linear1, norm1, …) and matches the rows the
    measurement pass times (it hooks modules, which also turns the fused path off).

    - nn.TransformerEncoder turns a padded batch into a nested tensor in eval mode under
      no_grad (with src_key_padding_mask); nested tensors have no shape to record, so the
      dense computation is counted (every position, padded ones included, as in training).
    - nn.TransformerEncoderLayer takes its fused fast path (one aten op for the whole layer)
      unless a forward hook is attached to it: a no-op hook is, meanwhile. Torch 2.2 takes it
      hooks or not, so the layer's flag ``activation_relu_or_gelu``, which only the fast path
      reads, is also set false meanwhile. The fused op has an op rule too, and gives the same
      counts (tests/test_attention.py).
    """
    encoders, handles, flagged = [], [], []
    if kinds is not None and not any(issubclass(k, _TRANSFORMER_TYPES) for k in kinds):
        yield encoders  # (``kinds``: the types of ``modules``; most models have neither)
        return
    for _, m in (modules if modules is not None else model.named_modules()):
        if not isinstance(m, _TRANSFORMER_TYPES):  # one check per module: most models have neither
            continue
        if isinstance(m, nn.TransformerEncoder):
            if getattr(m, "use_nested_tensor", False):
                encoders.append(m)
        else:
            handles.append(m.register_forward_hook(_no_op_hook))
            if m.__dict__.get("activation_relu_or_gelu"):
                flagged.append((m, m.activation_relu_or_gelu))
    for m in encoders:
        m.use_nested_tensor = False
    for m, _ in flagged:
        m.activation_relu_or_gelu = 0
    try:
        yield encoders
    finally:
        for m in encoders:
            m.use_nested_tensor = True
        for m, flag in flagged:
            m.activation_relu_or_gelu = flag
        for handle in handles:
            handle.remove()


_TRANSFORMER_TYPES = (nn.TransformerEncoder, nn.TransformerEncoderLayer)


def _masked_dense(trace, encoders: list) -> list[str]:
    """Paths of the encoders (among those whose nested-tensor path was turned off) called where
    PyTorch would have run nested (``TransformerEncoder.forward``'s checks that the trace and the
    module tell): a 3-D input with a padding mask and no ``mask``, the first layer in eval mode, no
    gradient recorded (no_grad, or none of the first layer's weights requiring grad), on a device
    with the fast path. The mask's left alignment (its values) is not checked."""
    ids = {id(m) for m in encoders}
    mha = getattr(torch.backends, "mha", None)
    if mha is not None and not mha.get_fastpath_enabled():
        return []
    found = []
    for c in trace.calls:
        if id(c.module) not in ids:
            continue
        first = c.module.layers[0]
        try:  # (the tensors PyTorch checks; a layer swapped in after construction may lack them)
            weights = [t for t in (first.self_attn.in_proj_weight, first.self_attn.in_proj_bias,
                                   first.self_attn.out_proj.weight, first.self_attn.out_proj.bias,
                                   first.norm1.weight, first.norm1.bias, first.norm2.weight, first.norm2.bias,
                                   first.linear1.weight, first.linear1.bias, first.linear2.weight,
                                   first.linear2.bias) if t is not None]
        except AttributeError:
            weights = list(first.parameters())
        if first.training or (c.grad_enabled and any(t.requires_grad for t in weights)) \
                or any(t.device.type not in ("cpu", "cuda", "xpu") for t in weights[:1]):
            continue
        kwargs = c.kwargs or {}
        # forward(src, mask, src_key_padding_mask, is_causal)
        src = kwargs.get("src", c.args[0] if c.args else None)
        attn_mask = kwargs.get("mask", c.args[1] if len(c.args) > 1 else None)
        padding = kwargs.get("src_key_padding_mask", c.args[2] if len(c.args) > 2 else None)
        if padding is None or attn_mask is not None or len(getattr(src, "shape", ())) != 3:
            continue
        if (c.path or "(root)") not in found:
            found.append(c.path or "(root)")
    return found


def _no_op_hook(module, args, output):
    return None
