"""The rule registry: module type → rule, aten op → rule.

A *module rule* ``fn(module, call) -> Cost`` covers everything the module's forward does.
Rules run after the model has been restored; one that needs a weight's presence or dtype reads
it with ``rules._util.stored(module, "weight")``, which does not run a parametrization on it
(``module.weight`` would, and spectral norm's would update its buffers).
An *op rule* ``fn(op_call) -> Cost`` covers one aten op run by a module without a rule; it may
return ``None`` when the call's shapes and arguments do not determine the work (a
data-dependent op), and the op is then listed as uncounted. Ops of libraries that may not be
imported (torchvision's) are registered by their qualified name, ``"torchvision::roi_align"``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from ..cost import Cost


class MissingOp:
    """An aten op this version of torch does not have (``aten._grouped_mm`` in torch 2.2): rules
    registered for it are skipped, so that one list of ops serves every supported torch."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __getattr__(self, overload: str) -> "MissingOp":  # its overloads (``.default``) are missing too
        if overload.startswith("__"):
            raise AttributeError(overload)
        return self

    def __repr__(self) -> str:
        return f"<aten.{self.name}: not in torch {torch.__version__}>"


class _AtenOps:
    """``torch.ops.aten``, but an op this torch lacks is a :class:`MissingOp` instead of an
    AttributeError at import (the rules name ops from torch 2.2 to the newest)."""

    def __getattr__(self, name: str):
        try:
            packet = getattr(torch.ops.aten, name)  # (dunder names too: aten.__lshift__ is an op)
        except (AttributeError, RuntimeError):
            packet = MissingOp(name)
        setattr(self, name, packet)  # looked up once
        return packet


#: what rule files register their op rules with (``@op_rule(aten.mm)``)
aten = _AtenOps()


def aten_ops(*names: str) -> list:
    """The aten packets of ``names`` (a MissingOp where this torch lacks one: registering skips it)."""
    return [getattr(aten, n) for n in names]


def present(namespace, *names: str) -> tuple:
    """The attributes of ``namespace`` (``torch.nn``) among ``names`` that this torch has:
    ``@module_rule(*present(nn, "RMSNorm"))`` registers nothing on a torch before 2.4."""
    return tuple(getattr(namespace, n) for n in names if hasattr(namespace, n))


@dataclass(frozen=True)
class Rule:
    fn: Callable
    name: str
    #: the rule prices complex operands itself; otherwise its count is expanded into real
    #: operations when an input is complex (``rules.complex``)
    complex_aware: bool = False
    #: a rule from outside torchcount (a user's): its costs are checked for negative counts
    checked: bool = False

    def __call__(self, *args) -> Cost:
        return self.fn(*args)


_MODULE_RULES: dict[type, Rule] = {}
_OP_RULES: dict[object, Rule] = {}  # OpOverloadPacket or OpOverload → rule
_NAMED_OP_RULES: dict[str, Rule] = {}  # "namespace::op" → rule, for ops of optional libraries
_SPARSE_OP_RULES: dict[object, Rule] = {}  # op packet or overload → rule, for calls with a sparse operand
#: ops that move or reinterpret data without arithmetic (views, copies, casts, indexing)
_ZERO_OPS: set = set()
_lookup_cache: dict[type, Rule | None] = {}


def _from_outside(fn: Callable) -> bool:
    return not str(getattr(fn, "__module__", "")).startswith("torchcount.")


def _rule_name(fn: Callable) -> str:
    return f"{fn.__module__.removeprefix('torchcount.rules.')}.{fn.__name__}"


def module_rule(*module_types: type, complex_aware: bool = False) -> Callable:
    """Register ``fn(module, call) -> Cost`` for ``module_types`` (and their subclasses
    that keep the base class's ``forward``). Users register rules for their own modules
    the same way::

        @torchcount.module_rule(MyBlock)
        def my_block(module, call):
            return Cost.of(Term("macs", "…", "…", "…", n))

    A rule counts as if the operands were real; for complex inputs its count is expanded
    into real operations (``torchcount.rules.complex``) unless ``complex_aware=True``.
    """
    # (no types at all is allowed: ``*present(nn, "RMSNorm")`` on a torch without that module)
    if not all(isinstance(t, type) and issubclass(t, nn.Module) for t in module_types):
        raise TypeError(f"module_rule takes nn.Module subclasses, got {module_types!r}")

    def register(fn: Callable) -> Callable:
        rule = Rule(fn, _rule_name(fn), complex_aware, _from_outside(fn))
        for t in module_types:
            _MODULE_RULES[t] = rule
        _lookup_cache.clear()
        return fn

    return register


_OP_TYPES = (torch._ops.OpOverload, torch._ops.OpOverloadPacket, torch._ops.HigherOrderOperator, MissingOp)


def op_rule(*ops, complex_aware: bool = False, sparse: bool = False) -> Callable:
    """Register ``fn(op_call) -> Cost`` for aten ops (a packet such as ``aten.mm`` covers
    every overload; an overload such as ``aten.mm.default`` only itself). ``complex_aware``:
    see :func:`module_rule`. ``sparse=True``: the rule for calls of these ops with a sparse
    operand (as torch dispatches them to other kernels); the other rules never see one."""
    for op in ops:
        if not (isinstance(op, _OP_TYPES) or isinstance(op, str) and "::" in op):
            raise TypeError(f"op_rule takes aten ops (torch.ops.aten.mm, torch.ops.aten.mm.default) or a "
                            f"qualified name ('torchvision::roi_align'), got {op!r}")

    def register(fn: Callable) -> Callable:
        rule = Rule(fn, _rule_name(fn), complex_aware, _from_outside(fn))
        for op in ops:
            if isinstance(op, MissingOp):
                continue
            if sparse:
                _SPARSE_OP_RULES[op] = rule
            elif isinstance(op, str):
                _NAMED_OP_RULES[op] = rule
            else:
                _OP_RULES[op] = rule
        return fn

    return register


#: "namespace.op" (as an uncounted op is named, its overload left off) → what the report says of its
#: uncounted calls: the op's rule returns None for some calls and says here why, and what they cost
_UNCOUNTED_WHY: dict[str, str] = {}


def why_uncounted(op_name: str, text: str) -> None:
    """Register the note the report gives when calls of ``op_name`` ("torchvision.nms") are uncounted:
    for an op whose rule prices some calls and not others (the work depends on the values)."""
    _UNCOUNTED_WHY[op_name] = text


def uncounted_why(what: str) -> "str | None":
    """The registered note for an uncounted op named ``what`` ("torchvision.nms.default"), or None."""
    return _UNCOUNTED_WHY.get(what.rsplit(".", 1)[0]) if _UNCOUNTED_WHY else None


def zero_ops(*ops) -> None:
    """Declare ops that do no arithmetic (views, reshapes, copies, casts, indexing)."""
    _ZERO_OPS.update(op for op in ops if not isinstance(op, MissingOp))


#: the methods whose override makes a subclass compute something its base's rule does not price
_COMPUTING_METHODS = ("forward", "_conv_forward")


def rule_for(module: nn.Module) -> Rule | None:
    """The rule of the module's type, or of the nearest base class whose ``forward`` it keeps."""
    cls = type(module)
    try:
        return _lookup_cache[cls]
    except KeyError:
        pass
    if isinstance(module, type):  # (checked here, once per type: the cached path stays one look-up)
        raise TypeError(f"rule_for takes a module instance, such as {module.__name__}(…), not the class "
                        f"{module.__name__}")
    found = _MODULE_RULES.get(cls)
    if found is None:
        for base in cls.__mro__[1:]:
            rule = _MODULE_RULES.get(base)
            if rule is not None:
                # a subclass that rewrites forward (or the method a forward delegates to, such as
                # a convolution's _conv_forward: weight standardisation) computes something else
                if all(getattr(cls, name, None) is getattr(base, name, None) for name in _COMPUTING_METHODS):
                    found = rule
                break
    _lookup_cache[cls] = found
    return found


def has_rule(module: nn.Module) -> bool:
    return rule_for(module) is not None


ZERO_OP = Rule(lambda op: Cost(), "zero (no arithmetic)")


_COMPOSITE = torch._C.DispatchKey.CompositeImplicitAutograd


#: device type → the dispatch key of its backend's kernels
_BACKEND_KEYS = {device: getattr(torch._C.DispatchKey, key) for device, key in (
    ("cpu", "CPU"), ("cuda", "CUDA"), ("mps", "MPS"), ("xpu", "XPU"), ("meta", "Meta"))
    if hasattr(torch._C.DispatchKey, key)}
#: kernels for every backend at once
_EVERY_BACKEND_KEYS = [getattr(torch._C.DispatchKey, k) for k in (
    "CompositeExplicitAutograd", "CompositeExplicitAutogradNonFunctional") if hasattr(torch._C.DispatchKey, k)]


def parts_split(op) -> "bool | frozenset":
    """Where the op recorder runs ``op`` as its parts (see :func:`priced_by_its_parts`): True (on every
    device), False (nowhere), or the device types on which it does, an op with kernels of its own for
    some backends only (``_fused_rms_norm``: a CUDA kernel; on the CPU its composite one is what runs)."""
    if not isinstance(op, torch._ops.OpOverload):
        return False
    name = op.name()
    # (the C++ registration: an op with a kernel of its own and a Python decomposition, such as
    # upsample_nearest2d, reaches a dispatch mode whole in every mode, and its kernel is what runs)
    if not torch._C._dispatch_has_kernel_for_dispatch_key(name, _COMPOSITE):
        return False
    rule = op_rule_for(op)
    if rule is None or rule is ZERO_OP:
        return True
    if _OP_RULES.get(op) is rule:
        return False
    if any(torch._C._dispatch_has_kernel_for_dispatch_key(name, k) for k in _EVERY_BACKEND_KEYS):
        return False
    composite_on = frozenset(device for device, key in _BACKEND_KEYS.items()
                             if not torch._C._dispatch_has_kernel_for_dispatch_key(name, key))
    return True if len(composite_on) == len(_BACKEND_KEYS) else composite_on or False


def priced_by_its_parts(op, device_type: "str | None" = None) -> bool:
    """An op that PyTorch defines as a composition of other ops (einsum, conv2d, layer_norm,
    isfinite, the one-argument ``where`` …): counted from the ops it is made of. Autograd breaks such
    ops up before they reach a dispatch mode; under ``torch.inference_mode`` they arrive whole, and
    are broken up the same way, so both modes count the same ops. That holds also where a rule is
    registered for the op's name (``aten.where``: the three-argument selection; its one-argument
    overload is ``nonzero``, which that rule would misprice, in inference mode only), unless the op
    also has a kernel of its own for the backend of ``device_type`` (its call's tensors'), which
    autograd mode runs whole too (``mish_backward``; ``_fused_rms_norm`` on CUDA, while on the CPU
    it runs as its parts); a device type not given or not known: a kernel of its own for any backend.
    A rule registered for the composite overload itself (``aten.foo.default``) prices it whole."""
    split = parts_split(op)
    if isinstance(split, bool):
        return split
    return device_type in split


def op_rule_for(op) -> Rule | None:
    """The rule of an aten op overload, ``ZERO_OP`` for a known-zero op, else None."""
    rule = _OP_RULES.get(op)
    if rule is not None:
        return rule
    packet = getattr(op, "overloadpacket", None)
    rule = _OP_RULES.get(packet)
    if rule is not None:
        return rule
    if op in _ZERO_OPS or packet in _ZERO_OPS:
        return ZERO_OP
    if _NAMED_OP_RULES:
        return _NAMED_OP_RULES.get(getattr(packet, "_qualified_op_name", None))
    return None


def sparse_op_rule_for(op) -> Rule | None:
    """The rule of an op called with a sparse operand: a rule registered with ``sparse=True``,
    ``ZERO_OP`` for a known-zero op (a copy, a cast, a view: no arithmetic on any layout), else
    None. The dense rules price ``numel`` elements, which a sparse kernel does not touch."""
    rule = _SPARSE_OP_RULES.get(op) or _SPARSE_OP_RULES.get(getattr(op, "overloadpacket", None))
    if rule is not None:
        return rule
    if op in _ZERO_OPS or getattr(op, "overloadpacket", None) in _ZERO_OPS:
        return ZERO_OP
    return None


def module_rules() -> dict[type, Rule]:
    return dict(_MODULE_RULES)


def op_rules() -> dict[object, Rule]:
    """Every op rule: by op packet or overload, and by qualified name for optional libraries."""
    return {**_OP_RULES, **_NAMED_OP_RULES}
