"""Multi-tensor ``_foreach_*`` ops (gradient clipping's ``_foreach_norm``/``_foreach_mul_``, and the
optimizers' multi-tensor path, PyTorch's default for CUDA parameters): each is its per-tensor op
applied to every tensor of its lists, so it costs the sum of that op's cost over them, priced by
the per-tensor op's own rule (``_foreach_mul_.Scalar`` on [a, b] is ``mul_.Scalar`` on a plus on b;
``_foreach_norm`` is ``linalg_vector_norm`` per tensor, ``_foreach_powsum`` is ``linalg__powsum``:
Σ|x|^ord, the norm without its root). A ``_foreach_`` op whose per-tensor op has no rule stays
uncounted. An ``out=`` form (``_foreach_add.List_out``, met in functionalized graphs) is its functional
form's per-tensor op on each tensor, the ``out`` tensors its outputs: written, not read. The fused
optimizer kernels (``_fused_adam_`` & co.) are not foreach ops: rules/optimizer.py.
"""
from __future__ import annotations

import torch

from ..capture import OpCall, TensorMeta
from ..cost import Cost
from .registry import op_rule

#: the per-tensor op of a foreach op whose name is not its own
_PER_TENSOR_NAME = {"norm": "linalg_vector_norm", "powsum": "linalg__powsum", "zero": "zero_", "copy": "copy_"}
#: the per-tensor overload of each foreach overload, in order of preference
_PER_TENSOR_OVERLOAD = {"List": ("Tensor", "Tensor_Tensor", "default"), "ScalarList": ("Scalar", "default"),
                        "Scalar": ("Scalar", "default"), "Tensor": ("Tensor", "default"),
                        "ScalarAndTensor": ("Scalar",), "default": ("default",)}
# (an out= form, ``_foreach_add.List_out``: its functional overload's per-tensor op, writing each out tensor)
for _name in list(_PER_TENSOR_OVERLOAD):
    _PER_TENSOR_OVERLOAD[_name + "_out" if _name != "default" else "out"] = _PER_TENSOR_OVERLOAD[_name]


def _foreach_packets() -> list:
    names = sorted({name.split("::")[1].split(".")[0] for name in torch._C._dispatch_get_all_op_names()
                    if name.startswith("aten::_foreach_")})
    return [getattr(torch.ops.aten, name) for name in names]


_per_tensor_ops: dict = {}


def per_tensor_op(op):
    """The aten overload a foreach overload applies to each tensor (``aten.mul_.Scalar`` for
    ``aten._foreach_mul_.Scalar``), or None. An in-place foreach op whose per-tensor op has no
    in-place form (``_foreach_maximum_``: there is no ``maximum_``) gets the functional one, priced
    as writing into the tensor it updates (see :func:`foreach`)."""
    if op in _per_tensor_ops:
        return _per_tensor_ops[op]
    name = op.overloadpacket.__name__.removeprefix("_foreach_")
    in_place = name.endswith("_") and not name.endswith("__")
    base = name.rstrip("_")
    base = _PER_TENSOR_NAME.get(base, base + ("_" if in_place else ""))
    found = None
    packet = getattr(torch.ops.aten, base, None)
    if packet is None and in_place:
        packet = getattr(torch.ops.aten, base.rstrip("_"), None)
    if packet is not None:
        overloads = packet.overloads()
        for overload in _PER_TENSOR_OVERLOAD.get(op._overloadname, ()) + ("default",):
            if overload in overloads:
                found = getattr(packet, overload)
                break
    _per_tensor_ops[op] = found
    return found


def _updates_in_place(op) -> bool:
    return op.overloadpacket.__name__.endswith("_") and not op.overloadpacket.__name__.endswith("__")


def _nth(value, i: int, n: int):
    """The ``i``-th item of an argument given per tensor (a list of n tensors or scalars); any other
    argument (a scalar, one tensor for all) as it is."""
    if isinstance(value, (list, tuple)) and len(value) == n and not isinstance(value, TensorMeta):
        return value[i]
    return value


@op_rule(*_foreach_packets(), complex_aware=True)  # (each tensor's op is expanded by its own pricing)
def foreach(op) -> "Cost | None":
    from ..count import price_op  # (count imports the rules: imported here, at pricing time)

    single = per_tensor_op(op.op)
    if single is None:
        return None
    lists = [a for a in op.args if isinstance(a, (list, tuple)) and not isinstance(a, TensorMeta)]
    if not lists:
        return None
    n = len(lists[0])
    outputs = op.output if isinstance(op.output, (list, tuple)) and len(op.output) == n else None
    if outputs is None and _updates_in_place(op.op) and not _updates_in_place(single):
        outputs = lists[0]  # (the functional op stands for the in-place one: it writes each tensor updated)
    kwargs = op.kwargs
    if isinstance(kwargs.get("out"), (list, tuple)) and len(kwargs["out"]) == n:
        # an out= form: the functional op writing each out tensor as its output (written, not read)
        outputs, kwargs = kwargs["out"], {k: v for k, v in kwargs.items() if k != "out"}
    total, terms = Cost(), []
    for i in range(n):
        cost = price_op(OpCall(single, tuple(_nth(a, i, n) for a in op.args),
                               {k: _nth(v, i, n) for k, v in kwargs.items()},
                               outputs[i] if outputs is not None else None))
        if cost is None:
            return None
        total = total + cost
        terms.extend(cost.terms)  # (a sum drops them: kept, for explain to show each tensor's lines)
    return total._replace(terms=tuple(terms))
