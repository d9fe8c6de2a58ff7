"""rules/linalg.py's op rules at sizes where each count can be derived by hand: cases the mutation
round over the file found no test pinned."""
from __future__ import annotations

import torch

from conftest import Fn, run, nonzero_counts as counts


def ops_of(fn, *xs) -> dict:
    report = run(Fn(fn), *xs)
    assert report.complete, report.uncounted
    found = counts(report.total.cost)
    assert all(type(v) is int for v in found.values()), found  # whole numbers of operations
    return found


def test_householder_product_of_fewer_reflectors_than_columns():
    """Q (5×4) from k = 3 reflectors (tau of 3, not 4): reflectors of l = 5, 4, 3 entries with c = 3,
    2, 1 columns right of them — 2·(5·3 + 4·2 + 3·1) = 52 MACs, Σ(c + l − 1) = 7 + 5 + 3 = 15
    multiplications, 3 additions (1 − τ); the k is tau's length, not A's column count."""
    a, tau = torch.geqrf(torch.randn(5, 4, dtype=torch.float64))
    assert ops_of(lambda x, h: torch.linalg.householder_product(x, h), a, tau[:3].contiguous()) == \
        {"macs": 52, "mults": 15, "adds": 3}


def test_lu_solve_of_a_batch_reads_the_matrix_size_not_the_batch():
    """torch.linalg.lu_solve with LU factors (2, 3, 3) and B (2, 3, 4): n = 3, 2·4 = 8 right-hand
    sides; the unit-lower solve r·n(n − 1)/2 = 8·3 = 24 MACs, the upper one 24 MACs and r·n = 24
    divisions by the diagonal."""
    a = torch.randn(2, 3, 3, dtype=torch.float64) + 3 * torch.eye(3, dtype=torch.float64)
    lu, pivots = torch.linalg.lu_factor(a)
    b = torch.randn(2, 3, 4, dtype=torch.float64)
    assert ops_of(lambda f, p, y: torch.linalg.lu_solve(f, p, y), lu, pivots, b) == {"macs": 48, "divs": 24}


def test_empty_systems_cost_nothing():
    """A 0×0 system with 3 right-hand sides, and a batch of 0×0 matrices inverted: no operation (and
    no division by the zero size while counting the right-hand sides)."""
    e, rhs = torch.empty(0, 0), torch.empty(0, 3)
    assert ops_of(torch.linalg.solve, e, rhs) == {}
    assert ops_of(lambda a, b: torch.linalg.solve_triangular(a, b, upper=True), e, rhs) == {}
    assert ops_of(lambda a, b: torch.cholesky_solve(b, a), e, rhs) == {}
    assert ops_of(torch.linalg.inv, torch.empty(2, 0, 0)) == {}


def test_one_by_one_systems():
    """A 1×1 system with 3 right-hand sides: LU of one entry does nothing, the unit-lower solve
    nothing (n(n − 1)/2 = 0), the upper one a division per right-hand side (3); the inverse of a
    batch of two 1×1 matrices a division each (2)."""
    a, b = torch.tensor([[2.0]], dtype=torch.float64), torch.randn(1, 3, dtype=torch.float64)
    assert ops_of(torch.linalg.solve, a, b) == {"divs": 3}
    assert ops_of(torch.linalg.inv, torch.full((2, 1, 1), 2.0, dtype=torch.float64)) == {"divs": 2}


def test_householder_qr_skips_the_reflector_of_one_entry():
    """geqrf of a square 3×3: reflectors of l = 3 and 2 entries (c = 2 and 1 columns right of them);
    the third, of 1 entry, is the identity and LAPACK skips it. Per reflector l + 2·l·c MACs (15 + 6),
    (l − 1) + c multiplications (4 + 2), 2 additions, 2 divisions, a square root. A wide 2×4: one
    reflector of 2 entries with 3 columns right of it, 2 + 12 MACs, 1 + 3 multiplications."""
    assert ops_of(torch.geqrf, torch.randn(3, 3, dtype=torch.float64)) == \
        {"macs": 21, "mults": 6, "adds": 4, "divs": 4, "transc": 2}
    assert ops_of(torch.geqrf, torch.randn(2, 4, dtype=torch.float64)) == \
        {"macs": 14, "mults": 4, "adds": 2, "divs": 2, "transc": 1}


def test_det_and_slogdet_of_a_batch():
    """A batch of two 4×4 matrices: LU, per matrix n(n − 1)(2n − 1)/6 = 14 MACs, n(n − 1)/2 = 6
    divisions and 6 pivot comparisons (28, 12, 12 for the batch). det then multiplies U's diagonal,
    n − 1 = 3 multiplications each (6); slogdet takes |·| and the sign of each diagonal entry (8
    comparisons), its log (8), sums the logs (6 additions) and multiplies the signs (6)."""
    a = torch.randn(2, 4, 4, dtype=torch.float64) + 4 * torch.eye(4, dtype=torch.float64)
    lu = {"macs": 28, "divs": 12, "cmps": 12}
    assert ops_of(torch.linalg.det, a) == {**lu, "mults": 6}
    assert ops_of(lambda t: torch.linalg.slogdet(t).logabsdet, a) == \
        {**lu, "cmps": 12 + 8, "transc": 8, "adds": 6, "mults": 6}
