"""rules/sparse.py by hand, on small COO tensors whose stored values can be counted: the 3×4 matrix S
below stores V = 4 values (float32, 2·4 int64 indices: 64 + 16 = 80 bytes)."""
from __future__ import annotations

import torch

import torchcount
from conftest import Fn, run, ops_cost as cost
from test_gnn import E, N, SpmmReduce, adj_t

INDICES = torch.tensor([[0, 1, 2, 2], [1, 0, 2, 3]])
V = 4


def _s() -> torch.Tensor:
    return torch.sparse_coo_tensor(INDICES, torch.tensor([1.0, 2.0, 3.0, 4.0]), (3, 4)).coalesce()


def test_a_dense_matrix_times_a_sparse_one_is_m_times_v_macs():
    """A dense 5×3 times S (3×4): each stored value S[k, j] multiplies column k of A, its 5 rows: m·V =
    5·4 = 20 MACs (not m + V = 9), nothing else."""
    c = cost(lambda a, s: torch.mm(a, s), torch.randn(5, 3), _s())
    assert (c.macs, c.mults, c.adds) == (5 * V, 0, 0)


def test_a_sparse_times_sparse_product_stays_uncounted():
    """S·Sᵀ (both sparse, COO or CSR): the work is Σ over k of the values in column k of S times those in
    row k of Sᵀ, which where the values lie decides: uncounted and named, not priced as sparse·dense."""
    for s, t in ((_s(), _s().t().coalesce()), (_s().to_sparse_csr(), _s().t().to_sparse_csr())):
        report = run(Fn(lambda s, t: torch.mm(s, t)), s, t)
        assert not report.complete and report.total.macs == 0
        assert [u.what for u in report.uncounted] == ["aten.mm.default (on sparse tensors)"]


def test_a_sparse_float32_tensor_times_a_float64_dense_one_writes_float64_values():
    """S (float32) times a float64 dense 3×4: V = 4 multiplications; read S (80 bytes) and the 4 dense
    elements at its indices (4·8 = 32); written the float64 sparse result, its indices and values
    (64 + 4·8 = 96 bytes, not S's 80)."""
    c = cost(lambda s, d: s * d, _s(), torch.randn(3, 4, dtype=torch.float64))
    assert (c.mults, c.adds) == (V, 0)
    assert (c.bytes_read, c.bytes_written) == (80 + V * 8, 64 + V * 8)


def test_a_sparse_tensor_to_a_power_between_zero_and_one_is_counted():
    """S ** 0.5 (0^0.5 = 0 keeps the zeros; torch refuses only exponents ≤ 0): the dense pow rule on the
    V = 4 stored values, 1 transcendental each."""
    c = cost(lambda s: s.pow(0.5), _s())
    assert (c.transc, c.mults) == (V, 0)


def test_the_gradient_of_a_sparse_mm_with_a_reduction_divides_only_for_a_mean():
    """A training step through torch.sparse.mm(adj_t, x, reduce) (N = 6 nodes, E = 10 stored values, each
    row storing one at least, F = 4 features): 'sum' divides nothing, forward or backward; 'mean'
    divides each row's N·F sums by its count in the forward, and in the backward the E stored values
    by their row's count before Aᵀ·G (E divisions)."""
    F, F_out = 4, 3
    divs = {}
    for reduce in ("sum", "mean"):
        x = torch.randn(N, F, requires_grad=True)
        report = torchcount.profile(SpmmReduce(F, F_out, reduce), (x, adj_t("csr"), torch.randn(N, F_out)),
                                    method="train_step")
        assert report.complete, report.uncounted
        divs[reduce] = report.total.cost.divs
    assert divs == {"sum": 0, "mean": N * F + E}


def test_the_sum_of_every_stored_value_is_v_minus_one_additions():
    """torch.sparse.sum(S) and S.sum(): the V = 4 stored values summed, 1 + 2 + 3 + 4: 3 additions."""
    for fn in (torch.sparse.sum, lambda s: s.sum()):
        c = cost(fn, _s())
        assert (c.adds, c.mults, c.cmps) == (V - 1, 0, 0)


def test_sspaddmm_with_its_default_beta_and_alpha_scales_nothing():
    """torch.sspaddmm(T, S, B) with β and α left at their defaults (1, 1): each of S's V = 4 stored
    values times a row of B (4×2): V·n = 8 MACs, no scaling (T's 2 values are kept as they are)."""
    t = torch.sparse_coo_tensor(torch.tensor([[0, 2], [1, 0]]), torch.ones(2), (3, 2)).coalesce()
    c = cost(lambda t, s, b: torch.sspaddmm(t, s, b), t, _s(), torch.randn(4, 2))
    assert (c.macs, c.mults, c.adds) == (V * 2, 0, 0)


def test_both_operands_uncoalesced_the_larger_ones_index_hashes_are_sorted():
    """u (5 stored values at 3 indices) times w (3 stored values at 2 indices), both uncoalesced: the
    hash intersection sorts the larger operand's 5 hashes, 5·⌈log2 5⌉ = 15 comparisons, in either order
    (not the smaller's 3·⌈log2 3⌉ = 6); one multiplication per output value (3)."""
    u = torch.sparse_coo_tensor(torch.tensor([[0, 1, 1, 2, 0], [1, 2, 2, 0, 1]]), torch.rand(5), (3, 3))
    w = torch.sparse_coo_tensor(torch.tensor([[0, 0, 2], [1, 1, 0]]), torch.rand(3), (3, 3))
    for a, b in ((u, w), (w, u)):
        c = cost(lambda a, b: a * b, a, b)
        assert (c.cmps, c.mults) == (5 * 3, 3)
