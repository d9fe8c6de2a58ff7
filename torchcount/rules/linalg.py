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

- Householder QR of an m×n matrix (``geqrf``), p = min(m, n) reflectors: reflector k (a
  column of l = m − k ≥ 2 entries) costs l MACs and a square root for its norm, 2 additions,
  2 divisions and l − 1 multiplications to scale it; applying it to the c = n − k − 1 columns to
  its right costs 2·l·c MACs (w = vᵀC, C −= τ·v·wᵀ) and c multiplications (τ·w). Leading term
  2mn² − 2n³/3 FLOPs, within 0.01 % of LAPACK's own count (``dopla``) from 200×200 up.
- Forming Q from k reflectors (``householder_product``, ``orgqr``), m×q: each reflector applied
  to the columns right of it (2·l·c MACs, c mults), its column scaled by −τ (l − 1 mults) and
  its diagonal set to 1 − τ (1 add). Applying k reflectors to an m×r matrix (``ormqr``):
  2·l·r MACs and r mults each.

``linalg.qr`` is ``geqrf`` then Q formed (m×p for ``mode="reduced"``, m×m for ``"complete"``,
none for ``"r"``); ``lstsq`` with the ``gels``/``gelsy`` drivers is QR, Qᵀ·B, and the triangular
solve with R (``gelsy`` pivots columns as well, for a rank-deficient A: counted as ``gels``).

Not counted (uncounted, listed): eigen- and singular-value decompositions (and ``pinv``, and
``lstsq`` with the SVD drivers ``gelsd``/``gelss``) and ``matrix_exp``: iterative, or their
work depends on the values.
"""
from __future__ import annotations

from ..cost import Cost, Term, worked
from ._util import prod, schema_arg
from .registry import aten, op_rule, why_uncounted


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


@op_rule(aten.linalg_cholesky_ex, aten.cholesky)
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
    factor = op.inputs[1]
    n = factor.shape[-1]
    rhs = _rhs(op.outputs[0], n)
    return Cost.of(*triangular_terms(n, rhs, False, "L·y = b"), *triangular_terms(n, rhs, False, "Lᵀ·x = y"))


@op_rule(aten.cholesky_inverse)
def cholesky_inverse(op) -> Cost:
    factor = op.inputs[0]
    n, batch = factor.shape[-1], _batch(factor.shape)
    return Cost.of(*triangular_terms(n, batch * n, False, "L·Y = I"), *triangular_terms(n, batch * n, False, "Lᵀ·X = Y"))


@op_rule(aten.linalg_solve_triangular, aten.triangular_solve)
def solve_triangular(op) -> Cost:
    # linalg_solve_triangular(A, B, …); the legacy triangular_solve(B, A, …) → (X, a copy of A)
    legacy = op.op.overloadpacket is aten.triangular_solve
    a = op.inputs[1] if legacy else op.inputs[0]
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


def _reflector_steps(m: int, n: int, k: int):
    """(l, c) of each of the k Householder reflectors of an m-row matrix with n columns: the
    reflector's length and the number of columns right of it (a reflector of 1 entry is the
    identity: LAPACK skips it)."""
    return [(m - i, n - i - 1) for i in range(k) if m - i >= 2]


def householder_qr_terms(m: int, n: int, batch: int) -> list[Term]:
    """``geqrf``: the reflectors of ``batch`` m×n matrices and their application."""
    steps = _reflector_steps(m, n, min(m, n))
    norm_macs = sum(l for l, _ in steps)
    update_macs = sum(2 * l * c for l, c in steps)
    scale = sum(l - 1 for l, _ in steps)
    tau_w = sum(c for _, c in steps)
    r = len(steps)
    return [
        Term("macs", "QR: reflector norms", "batch·Σₖ l", worked("{}×{}", batch, norm_macs), batch * norm_macs),
        Term("transc", "QR: square roots (norms)", "batch·reflectors", worked("{}×{}", batch, r), batch * r),
        Term("adds", "QR: α − β and β − α", "batch·2·reflectors", worked("{}×2×{}", batch, r), batch * 2 * r),
        Term("divs", "QR: τ and 1/(α − β)", "batch·2·reflectors", worked("{}×2×{}", batch, r), batch * 2 * r),
        Term("mults", "QR: reflector scaling", "batch·Σₖ (l − 1)", worked("{}×{}", batch, scale), batch * scale),
        Term("macs", "QR: applying reflectors (w = vᵀC, C −= τ·v·wᵀ)", "batch·Σₖ 2·l·c",
             worked("{}×{}", batch, update_macs), batch * update_macs),
        Term("mults", "QR: τ·w", "batch·Σₖ c", worked("{}×{}", batch, tau_w), batch * tau_w),
    ]


def form_q_terms(m: int, q: int, k: int, batch: int) -> list[Term]:
    """``orgqr``: the m×q matrix Q from k reflectors, for ``batch`` matrices."""
    steps = _reflector_steps(m, q, k)
    update_macs = sum(2 * l * c for l, c in steps)
    mults = sum(c + l - 1 for l, c in steps)
    r = len(steps)
    return [
        Term("macs", "forming Q: applying reflectors", "batch·Σₖ 2·l·c", worked("{}×{}", batch, update_macs),
             batch * update_macs),
        Term("mults", "forming Q: τ·w and −τ·v", "batch·Σₖ (c + l − 1)", worked("{}×{}", batch, mults), batch * mults),
        Term("adds", "forming Q: 1 − τ", "batch·reflectors", worked("{}×{}", batch, r), batch * r),
    ]


def apply_q_terms(m: int, r: int, k: int, batch: int) -> list[Term]:
    """``ormqr``: k reflectors of length ≤ m applied to an m×r matrix, for ``batch`` matrices."""
    steps = _reflector_steps(m, 0, k)
    macs = sum(2 * l * r for l, _ in steps)
    n = len(steps) * r
    return [
        Term("macs", "applying Q (w = vᵀC, C −= τ·v·wᵀ)", "batch·Σₖ 2·l·r", worked("{}×{}", batch, macs), batch * macs),
        Term("mults", "applying Q: τ·w", "batch·reflectors·r", worked("{}×{}", batch, n), batch * n),
    ]


@op_rule(aten.geqrf)
def geqrf(op) -> Cost:
    a = op.inputs[0]
    return Cost.of(*householder_qr_terms(a.shape[-2], a.shape[-1], _batch(a.shape)))


@op_rule(aten.linalg_qr)
def qr(op) -> Cost:
    a = op.inputs[0]
    m, n, batch = a.shape[-2], a.shape[-1], _batch(a.shape)
    mode = schema_arg(op, "mode", "reduced")
    p = min(m, n)
    q_columns = {"reduced": p, "complete": m}.get(mode)
    return Cost.of(*householder_qr_terms(m, n, batch),
                   *(form_q_terms(m, q_columns, p, batch) if q_columns else ()))


@op_rule(aten.linalg_householder_product, aten.orgqr)
def householder_product(op) -> Cost:
    a, tau = op.inputs[0], op.inputs[1]
    return Cost.of(*form_q_terms(a.shape[-2], a.shape[-1], tau.shape[-1], _batch(a.shape)))


@op_rule(aten.ormqr)
def ormqr(op) -> Cost:
    a, tau, c = op.inputs[0], op.inputs[1], op.inputs[2]
    left = bool(schema_arg(op, "left", True))
    m = a.shape[-2]
    r = c.shape[-1] if left else c.shape[-2]
    return Cost.of(*apply_q_terms(m, r, tau.shape[-1], _batch(c.shape)))


@op_rule(aten.linalg_lstsq)
def lstsq(op) -> "Cost | None":
    """Least squares with the QR drivers: QR of A (or LQ of a wide A: the same count, m and n
    swapped), Qᵀ·B, and the triangular solve with R. The SVD drivers are iterative: None."""
    driver = schema_arg(op, "driver", None)
    a, b = op.inputs[0], op.inputs[1]
    if driver not in (None, "gels", "gelsy"):  # (None: gelsy on a CPU, gels on a GPU)
        return None
    m, n, batch = a.shape[-2], a.shape[-1], _batch(a.shape)
    tall, short = max(m, n), min(m, n)
    rhs = b.shape[-1] if len(b.shape) == len(a.shape) else 1
    return Cost.of(*householder_qr_terms(tall, short, batch), *apply_q_terms(tall, rhs, short, batch),
                   *triangular_terms(short, batch * rhs, False, "R·x = Qᵀ·b"))


# (no formula: the work of these depends on the values; the report's notes say so where they run)
_ITERATIVE = "iterative: how many sweeps it runs until it converges depends on the values (no formula)"
for _uncounted_op in ("aten.linalg_eig", "aten._linalg_eigh", "aten._linalg_svd", "aten.linalg_pinv"):
    why_uncounted(_uncounted_op, f"an eigen- or singular-value decomposition, {_ITERATIVE}")
why_uncounted("aten.linalg_lstsq", "the SVD drivers (gelsd, gelss) are " + _ITERATIVE.replace(" (no formula)", "")
              + "; the QR drivers (gels, gelsy) are counted")
why_uncounted("aten.linalg_matrix_exp", "a scaling and squaring whose degree and number of squarings depend "
                                        "on the matrix's norm (no formula)")
