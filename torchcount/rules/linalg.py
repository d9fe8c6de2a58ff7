"""Op rules for dense linear algebra (``torch.linalg``): the textbook counts of the direct
algorithms LAPACK runs, per matrix of a batch.

- LU with partial pivoting of an m×n matrix, p = min(m, n) steps: at step k the pivot search
  compares m − k entries, the column below it is divided by the pivot (m − k divisions) and
  the trailing block is updated (m − k)·(n − k) multiply-accumulates. Square n:
  n(n − 1)(2n − 1)/6 MACs, n(n − 1)/2 divisions, n(n − 1)/2 comparisons.
- A triangular solve with r right-hand sides: r·n(n − 1)/2 MACs, and r·n divisions by the
  diagonal (none for a unit triangle, such as LU's L).
- Cholesky of n×n: (n³ − n)/6 MACs, n square roots, n(n − 1)/2 divisions.

``solve`` is LU then two triangular solves; ``inv`` solves for the n columns of the identity;
``det`` multiplies U's diagonal (n − 1 mults), ``slogdet`` sums the logs of its absolute values
(n comparisons for |·|, n logs, n − 1 adds, n − 1 sign mults); ``cholesky_solve``/``lu_solve``
are two triangular solves; ``cholesky_inverse`` solves for the n columns of the identity.

Not counted (uncounted, listed): eigen- and singular-value decompositions, ``qr``, ``lstsq``,
``pinv``, ``matrix_exp``: iterative, or their work depends on the values.
"""
from __future__ import annotations

import torch

from ..cost import Cost, Term, worked
from ._util import prod, schema_arg
from .registry import op_rule

aten = torch.ops.aten


def _batch(shape) -> int:
    return prod(shape[:-2])


def lu_terms(m: int, n: int, batch: int, pivot: bool = True) -> list[Term]:
    """LU factorisation (partial pivoting) of ``batch`` m×n matrices."""
    p = min(m, n)
    below = p * m - p * (p + 1) // 2  # Σ_k (m − k)
    macs = p * m * n - (m + n) * p * (p + 1) // 2 + p * (p + 1) * (2 * p + 1) // 6  # Σ_k (m − k)(n − k)
    return [
        Term("macs", "LU: trailing updates", "batch·Σₖ(m − k)(n − k)", worked("{}×{}", batch, macs), batch * macs),
        Term("divs", "LU: multipliers (÷ pivot)", "batch·Σₖ(m − k)", worked("{}×{}", batch, below), batch * below),
        Term("cmps", "LU: pivot search", "batch·Σₖ(m − k)", worked("{}×{}", batch, below), batch * below)
        if pivot else None,
    ]


def triangular_terms(n: int, rhs: int, unit: bool, label: str) -> list[Term]:
    """Solving an n×n triangular system for ``rhs`` right-hand sides in all (the batch included)."""
    half = n * (n - 1) // 2
    return [
        Term("macs", f"{label}: substitutions", "rhs·n(n − 1)/2", worked("{}×{}", rhs, half), rhs * half),
        None if unit else Term("divs", f"{label}: ÷ diagonal", "rhs·n", worked("{}×{}", rhs, n), rhs * n),
    ]


def _rhs(out, n: int) -> int:
    """Right-hand-side columns in all, from the solution's size (n rows each)."""
    return out.numel // max(n, 1)


@op_rule(aten._linalg_solve_ex)
def solve(op) -> Cost:
    a = op.inputs[0]
    n = a.shape[-1]
    return Cost.of(*lu_terms(n, n, _batch(a.shape)),
                   *triangular_terms(n, _rhs(op.outputs[0], n), True, "forward (L)"),
                   *triangular_terms(n, _rhs(op.outputs[0], n), False, "backward (U)"))


@op_rule(aten.linalg_inv_ex)
def inv(op) -> Cost:
    a = op.inputs[0]
    n, batch = a.shape[-1], _batch(a.shape)
    return Cost.of(*lu_terms(n, n, batch),
                   *triangular_terms(n, batch * n, True, "forward (L), n columns"),
                   *triangular_terms(n, batch * n, False, "backward (U), n columns"))


@op_rule(aten._linalg_det)
def det(op) -> Cost:
    a = op.inputs[0]
    n, batch = a.shape[-1], _batch(a.shape)
    return Cost.of(*lu_terms(n, n, batch),
                   Term("mults", "product of U's diagonal", "batch·(n − 1)", worked("{}×({} − 1)", batch, n),
                        batch * max(n - 1, 0)))


@op_rule(aten._linalg_slogdet)
def slogdet(op) -> Cost:
    a = op.inputs[0]
    n, batch = a.shape[-1], _batch(a.shape)
    d = batch * n
    return Cost.of(*lu_terms(n, n, batch),
                   Term("cmps", "|diagonal| and signs", "batch·n", worked("{}×{}", batch, n), d),
                   Term("transc", "logs of |diagonal|", "batch·n", worked("{}×{}", batch, n), d),
                   Term("adds", "sum of the logs", "batch·(n − 1)", worked("{}×({} − 1)", batch, n),
                        batch * max(n - 1, 0)),
                   Term("mults", "product of the signs", "batch·(n − 1)", worked("{}×({} − 1)", batch, n),
                        batch * max(n - 1, 0)))


@op_rule(aten.linalg_cholesky_ex)
def cholesky(op) -> Cost:
    a = op.inputs[0]
    n, batch = a.shape[-1], _batch(a.shape)
    macs = (n ** 3 - n) // 6
    return Cost.of(
        Term("macs", "Cholesky: dot products", "batch·(n³ − n)/6", worked("{}×({}³ − {})/6", batch, n, n), batch * macs),
        Term("transc", "Cholesky: square roots", "batch·n", worked("{}×{}", batch, n), batch * n),
        Term("divs", "Cholesky: ÷ diagonal", "batch·n(n − 1)/2", worked("{}×{}×({} − 1)/2", batch, n, n),
             batch * n * (n - 1) // 2))


@op_rule(aten.cholesky_solve)
def cholesky_solve(op) -> Cost:
    b, factor = op.inputs[0], op.inputs[1]
    n = factor.shape[-1]
    rhs = _rhs(op.outputs[0], n)
    return Cost.of(*triangular_terms(n, rhs, False, "L·y = b"), *triangular_terms(n, rhs, False, "Lᵀ·x = y"))


@op_rule(aten.cholesky_inverse)
def cholesky_inverse(op) -> Cost:
    factor = op.inputs[0]
    n, batch = factor.shape[-1], _batch(factor.shape)
    return Cost.of(*triangular_terms(n, batch * n, False, "L·Y = I"), *triangular_terms(n, batch * n, False, "Lᵀ·X = Y"))


@op_rule(aten.linalg_solve_triangular)
def solve_triangular(op) -> Cost:
    a = op.inputs[0]
    n = a.shape[-1]
    unit = bool(schema_arg(op, "unitriangular", False))
    return Cost.of(*triangular_terms(n, _rhs(op.outputs[0], n), unit, "triangular solve"))


@op_rule(aten.linalg_lu_factor_ex, aten.linalg_lu)
def lu(op) -> Cost:
    a = op.inputs[0]
    m, n = a.shape[-2], a.shape[-1]
    return Cost.of(*lu_terms(m, n, _batch(a.shape), bool(schema_arg(op, "pivot", True))))


@op_rule(aten.linalg_lu_solve)
def lu_solve(op) -> Cost:
    factors = op.inputs[0]
    n = factors.shape[-1]
    rhs = _rhs(op.outputs[0], n)
    return Cost.of(*triangular_terms(n, rhs, True, "forward (L)"), *triangular_terms(n, rhs, False, "backward (U)"))
