"""Small helpers shared by rule files: products, hyper-parameter tuples, op arguments by name.
(A worked term's product of sizes is written by ``cost.worked``: a tuple value is written
``64×3×11``.)"""
from __future__ import annotations

import math
from typing import Iterable

from ..cost import Term, worked


def prod(values: Iterable[int]) -> int:
    return math.prod(map(int, values))


def tup(value, n: int) -> tuple:
    """Normalise an int-or-tuple hyper-parameter to an n-tuple."""
    if isinstance(value, (tuple, list)):
        return tuple(value) if len(value) == n else tuple(value) * n if len(value) == 1 else tuple(value)
    return (value,) * n


def stored(module, name: str):
    """The tensor registered as ``module.<name>`` (a parameter, a buffer, or ``None``) without
    running a parametrization on it. Rules run after the model has been restored, and reading
    a parametrized weight computes it again: spectral norm's power iteration would update its
    buffers (in training) after they were put back. For a parametrized tensor this is the
    stored ``original``, whose dtype and presence are the weight's."""
    params = module._parameters
    if name in params:
        return params[name]
    parametrizations = module._modules.get("parametrizations")
    if parametrizations is not None and name in parametrizations:
        chain = parametrizations[name]
        return chain.original if hasattr(chain, "original") else chain.original0  # original0: a tuple right_inverse
    return getattr(module, name)


def schema_arg(op, name: str, default=None):
    """An op argument by its schema name, whether it was passed positionally or by keyword."""
    if name in op.kwargs:
        return op.kwargs[name]
    for i, arg in enumerate(op.op._schema.arguments):
        if arg.name == name:
            return op.args[i] if i < len(op.args) else default
    return default


def reduced(category: str, what: str, n_in: int, n_out: int, formula: str = "inputs − outputs"):
    """``n_in`` values reduced to ``n_out`` (``formula``, e.g. ``elements − 1`` with ``n_out`` = 1):
    n_in − n_out pairwise operations; none where the inputs are fewer than the outputs (an empty
    input: each output is the reduction's identity, no operation, not −n_out), the worked line then
    ``max(… − …, 0)``, so that it evaluates to its value."""
    if n_in >= n_out:
        return Term(category, what, formula, worked("{} − {}", n_in, n_out), n_in - n_out)
    return Term(category, what, f"max({formula}, 0)", worked("max({} − {}, 0)", n_in, n_out), 0)
