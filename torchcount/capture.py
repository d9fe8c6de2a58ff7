"""Capture: what each module call saw, recorded by per-module hooks.

Hooks do as little as possible at call time: they describe the arguments and outputs
(shapes and dtypes, no tensor references kept) and push/pop a call stack. Ops that a
module runs itself (outside any child module) are recorded by :class:`OpRecorder`, a
``TorchDispatchMode`` that is switched on only while the innermost module has no rule
of its own, so modules with a rule pay nothing for op capture.
"""
from __future__ import annotations

import dataclasses
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, NamedTuple

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode


class TensorMeta(NamedTuple):
    """Shape and dtype of a tensor seen during capture (the tensor itself is not kept)."""

    shape: tuple[int, ...]
    dtype: torch.dtype
    #: True when this output shares storage with an input (in-place op) or is a view.
    aliased: bool = False

    @property
    def numel(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    @property
    def nbytes(self) -> int:
        return self.numel * _itemsize(self.dtype)


_ITEMSIZE: dict[torch.dtype, int] = {}
_UNINITIALIZED = torch.nn.parameter.UninitializedTensorMixin


def _itemsize(dtype: torch.dtype) -> int:
    size = _ITEMSIZE.get(dtype)
    if size is None:
        size = _ITEMSIZE[dtype] = torch.empty((), dtype=dtype, device="meta").element_size()
    return size


def describe(value: Any, inputs: tuple = ()) -> Any:
    """Replace every tensor in a (nested) structure by its :class:`TensorMeta`.

    ``inputs`` are tensors of the call's arguments; an output that *is* one of them
    (in-place op) or is a view is marked ``aliased``.
    """
    if isinstance(value, torch.Tensor):
        if isinstance(value, _UNINITIALIZED):  # a lazy parameter being materialised: no shape yet
            return "<uninitialized>"
        aliased = value._is_view() or any(value is t for t in inputs)
        return TensorMeta(tuple(value.shape), value.dtype, aliased)
    if isinstance(value, (tuple, list)):
        described = [describe(v, inputs) for v in value]
        if isinstance(value, tuple) and hasattr(value, "_fields"):  # namedtuple
            return type(value)(*described)
        return tuple(described) if isinstance(value, tuple) else described
    if isinstance(value, dict):
        return {k: describe(v, inputs) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: describe(getattr(value, f.name), inputs) for f in dataclasses.fields(value)}
    if value is None or isinstance(value, (bool, int, float, complex, str)):
        return value
    if isinstance(value, (torch.dtype, torch.device, torch.Size, slice)):
        return value
    if isinstance(value, torch.nn.utils.rnn.PackedSequence):  # a namedtuple, kept for rules
        return value
    return f"<{type(value).__name__}>"


def tensors_in(value: Any) -> list[TensorMeta]:
    """Every :class:`TensorMeta` in a described structure, in order."""
    found: list[TensorMeta] = []
    _collect(value, found)
    return found


def _collect(value: Any, found: list) -> None:
    if isinstance(value, TensorMeta):
        found.append(value)
    elif isinstance(value, (tuple, list)):
        for v in value:
            _collect(v, found)
    elif isinstance(value, dict):
        for v in value.values():
            _collect(v, found)


def _raw_tensors(value: Any) -> tuple:
    if isinstance(value, torch.Tensor):
        return (value,)
    if isinstance(value, (tuple, list)):
        return tuple(t for v in value for t in _raw_tensors(v))
    if isinstance(value, dict):
        return tuple(t for v in value.values() for t in _raw_tensors(v))
    return ()


@dataclass(eq=False)
class OpCall:
    """One aten op run by a module itself (not by one of its children)."""

    op: Any  # torch._ops.OpOverload
    args: tuple
    kwargs: dict
    output: Any

    @property
    def name(self) -> str:
        return str(self.op)

    @property
    def inputs(self) -> list[TensorMeta]:
        return tensors_in(self.args) + tensors_in(self.kwargs)

    @property
    def outputs(self) -> list[TensorMeta]:
        return tensors_in(self.output)


@dataclass(eq=False)
class Call:
    """One call of one module: what it received and returned (as :class:`TensorMeta`)."""

    module: nn.Module
    path: str
    index: int
    parent: "Call | None"
    args: tuple
    kwargs: dict
    training: bool
    grad_enabled: bool
    output: Any = None
    #: covered by the rule of an enclosing module: recorded for display, not counted again
    covered: bool = False
    children: list["Call"] = field(default_factory=list)
    ops: list[OpCall] = field(default_factory=list)
    failed: BaseException | None = None

    @property
    def depth(self) -> int:
        return 0 if not self.path else self.path.count(".") + 1

    @property
    def inputs(self) -> list[TensorMeta]:
        return tensors_in(self.args) + tensors_in(self.kwargs)

    @property
    def outputs(self) -> list[TensorMeta]:
        return tensors_in(self.output)

    @property
    def input(self) -> TensorMeta:
        """The first tensor argument (what most rules need)."""
        found = self.inputs
        if not found:
            raise ValueError(f"module '{self.path}' ({type(self.module).__name__}) received no tensor input")
        return found[0]

    @property
    def out(self) -> TensorMeta:
        """The first tensor of the output."""
        found = self.outputs
        if not found:
            raise ValueError(f"module '{self.path}' ({type(self.module).__name__}) returned no tensor")
        return found[0]


@dataclass
class Trace:
    """Every module call of one forward pass, in call order (pre-order)."""

    calls: list[Call] = field(default_factory=list)
    roots: list[Call] = field(default_factory=list)
    #: ops run outside any hooked module (should not happen while the root is hooked)
    stray_ops: list[OpCall] = field(default_factory=list)


class OpRecorder(TorchDispatchMode):
    """Records each aten op into the innermost module call on the stack."""

    def __init__(self, stack: list[Call]):
        super().__init__()
        self._stack = stack

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        raw_inputs = _raw_tensors(args) + _raw_tensors(kwargs)
        op = OpCall(func, describe(args), describe(kwargs), describe(out, raw_inputs))
        if self._stack:
            self._stack[-1].ops.append(op)
        return out


class _Recorder:
    """The hook pair shared by every module of one capture."""

    def __init__(self, has_rule: Callable[[nn.Module], bool], record_ops: bool):
        self.trace = Trace()
        self.stack: list[Call] = []
        self.has_rule = has_rule
        self.record_ops = record_ops
        self.mode = OpRecorder(self.stack) if record_ops else None
        self.mode_on = False
        # per call on the stack: whether op recording was on before it started
        self._mode_before: list[bool] = []
        self._exc_before: list[BaseException | None] = []
        self.failure: Call | None = None

    def _set_mode(self, on: bool) -> None:
        if on == self.mode_on or self.mode is None:
            return
        if on:
            self.mode.__enter__()
        else:
            self.mode.__exit__(None, None, None)
        self.mode_on = on

    def hooks_for(self, path: str):
        recorder = self
        ruled_cache: list = []

        def pre(module, args, kwargs):
            parent = recorder.stack[-1] if recorder.stack else None
            covered = parent is not None and (parent.covered or recorder._ruled(parent.module))
            call = Call(
                module, path, len(recorder.trace.calls), parent,
                describe(args), describe(kwargs), module.training, torch.is_grad_enabled(),
                covered=covered,
            )
            recorder.trace.calls.append(call)
            (parent.children if parent is not None else recorder.trace.roots).append(call)
            recorder.stack.append(call)
            recorder._mode_before.append(recorder.mode_on)
            recorder._exc_before.append(sys.exc_info()[1])
            recorder._set_mode(recorder.record_ops and not covered and not recorder._ruled(module))
            return None

        def post(module, args, kwargs, output):
            if not recorder.stack or recorder.stack[-1].module is not module:
                return None  # a hook added while the module was already running
            call = recorder.stack.pop()
            exc = sys.exc_info()[1]
            if exc is not None and exc is not recorder._exc_before[-1]:
                call.failed = exc
                if recorder.failure is None:
                    recorder.failure = call
            else:
                call.output = describe(output, _raw_tensors(args) + _raw_tensors(kwargs))
            recorder._exc_before.pop()
            recorder._set_mode(recorder._mode_before.pop())
            return None

        return pre, post

    def _ruled(self, module: nn.Module) -> bool:
        return self.has_rule(module)


@contextmanager
def capture(
    model: nn.Module,
    has_rule: Callable[[nn.Module], bool],
    record_ops: bool = True,
) -> Iterator[_Recorder]:
    """Hook every module of ``model`` for one or more forward passes.

    Every hook is removed on exit, also when the forward raises or is interrupted.
    """
    recorder = _Recorder(has_rule, record_ops)
    handles = []
    try:
        for path, module in model.named_modules():
            if isinstance(module, torch.jit.ScriptModule):
                continue  # cannot take hooks; its ops go to the enclosing (eager) module
            pre, post = recorder.hooks_for(path)
            handles.append(module.register_forward_pre_hook(pre, with_kwargs=True))
            handles.append(module.register_forward_hook(post, with_kwargs=True, always_call=True))
        yield recorder
    finally:
        for handle in handles:
            handle.remove()
        if recorder.mode_on:
            recorder._set_mode(False)
        recorder.stack.clear()
