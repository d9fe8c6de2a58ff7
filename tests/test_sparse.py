"""Sparse operands: what the sparse kernels compute (the stored values), not the dense size.

Every expected number is a closed form in nnz (the stored values V), worked out in the comment beside
it; the dense rules would price numel elements instead (the first test shows the difference)."""
import warnings

import pytest
import torch
from torch import nn

import torchcount
from torchcount.capture import describe

warnings.filterwarnings("ignore", message=".*Sparse CSR tensor support is in beta.*")
warnings.filterwarnings("ignore", message=".*Sparse invariant checks.*")


def ring_adjacency(n: int) -> torch.Tensor:
    """A ring of n nodes with self-loops, normalised as Kipf & Welling's Â = D^-½ (A + I) D^-½
    (every degree is 3, so every stored value is 1/3): 3n stored values, coalesced."""
    rows = torch.arange(n).repeat_interleave(3)
    cols = torch.stack([torch.arange(n), (torch.arange(n) + 1) % n, (torch.arange(n) - 1) % n], 1).reshape(-1)
    return torch.sparse_coo_tensor(torch.stack([rows, cols]), torch.full((3 * n,), 1 / 3), (n, n)).coalesce()


class GCN(nn.Module):
    """Two graph-convolution layers, H' = Â·(H·W) (Kipf & Welling), with a ReLU between them."""

    def __init__(self, adjacency: torch.Tensor, sizes=(5, 4, 3)):
        super().__init__()
        self.register_buffer("adjacency", adjacency)
        self.w1 = nn.Linear(sizes[0], sizes[1], bias=False)
        self.w2 = nn.Linear(sizes[1], sizes[2], bias=False)

    def forward(self, x):
        h = torch.relu(torch.sparse.mm(self.adjacency, self.w1(x)))
        return self.adjacency @ self.w2(h)


@pytest.mark.parametrize("layout", ["coo", "csr"])
def test_graph_convolution_counts_the_stored_values(layout):
    a = ring_adjacency(6)
    a = a if layout == "coo" else a.to_sparse_csr()
    model = GCN(a)
    x = torch.randn(6, 5)
    report = torchcount.profile(model, x, convention="macs")
    # N·F_in·F_out per layer (the Linears) plus nnz(Â)·F_out per sparse product:
    # 6·5·4 + 18·4 + 6·4·3 + 18·3 = 120 + 72 + 72 + 54 = 318
    assert report.total.macs == 318
    assert report.row("").self_cost.macs == 18 * 4 + 18 * 3
    # the ReLU on the dense 6×4 product: 24 comparisons
    assert report.row("").self_cost.cmps == 24
    assert report.coverage == 1.0
    # the same graph dense: N·N·F_out per product, 6·6·4 + 6·6·3 = 252 instead of 126
    dense = torchcount.profile(GCN(ring_adjacency(6).to_dense()), x, convention="macs")
    assert dense.row("").self_cost.macs == 6 * 6 * 4 + 6 * 6 * 3


def test_sparse_bytes_are_values_and_indices():
    a = ring_adjacency(6)  # 18 float32 values, COO indices 2×18 int64
    meta = describe(a)
    assert (meta.sparse.layout, meta.sparse.nnz, meta.shape) == ("coo", 18, (6, 6))
    assert meta.nbytes == 18 * 4 + 2 * 18 * 8
    csr = describe(a.to_sparse_csr())  # 18 values, 7 row pointers and 18 column indices (int64)
    assert csr.sparse.layout == "csr" and csr.nbytes == 18 * 4 + (7 + 18) * 8
    # what an op reads of a sparse operand: sum of the 18 values reads the values and the indices
    report = torchcount.profile(Reader(), a)
    assert report.total.cost.bytes_read >= 18 * 4 + 2 * 18 * 8
    # a sparse buffer's bytes: what it stores (its element count stays the dense size, as numel())
    report = torchcount.profile(GCN(a), torch.randn(6, 5))
    assert report.total.buffer_bytes == 18 * 4 + 2 * 18 * 8 and report.total.buffers == 36


class Reader(nn.Module):
    def forward(self, x):
        return x * 3


class Ops(nn.Module):
    def __init__(self, adjacency):
        super().__init__()
        self.register_buffer("adjacency", adjacency)

    def forward(self, dense):
        a = self.adjacency
        return a * 2, a * dense, dense + a, torch.tanh(a), a / 4


def test_element_wise_ops_on_the_stored_values():
    a = ring_adjacency(5)  # V = 15
    report = torchcount.profile(Ops(a), torch.randn(5, 5))
    cost = report.total.cost
    # a·2, a·dense (V each), a/4 (V divisions), dense + a (V additions), tanh (V transcendentals)
    assert (cost.mults, cost.divs, cost.adds, cost.transc) == (2 * 15, 15, 15, 15)
    assert report.coverage == 1.0
    assert "multiplications (mul) — on the 15 stored values" in report.explain("")


def test_sparse_gradient_into_a_dense_weight():
    """nn.Embedding(sparse=True): the gradient holds one row per looked-up token (repeats too, uncoalesced),
    and SGD adds it into the weight: V additions and V multiplications by −lr, V = 4 tokens × 8."""

    class Emb(nn.Module):
        def __init__(self):
            super().__init__()
            self.e = nn.Embedding(100, 8, sparse=True)
            self.opt = torch.optim.SGD(self.parameters(), lr=0.1)

        def forward(self, ids):
            return self.e(ids)

        def step(self, ids):
            self.opt.zero_grad()
            loss = self(ids).sum()
            loss.backward()
            self.opt.step()
            return loss

    model = Emb()
    before = model.e.weight.detach().clone()
    report = torchcount.profile(model, torch.tensor([[1, 2, 3, 2]]), method="step")
    own = report.row("").self_cost
    # sum of the 4×8 output: 31 additions; the update: 32 additions and 32 multiplications
    assert (own.adds, own.mults) == (31 + 32, 32)
    assert report.coverage == 1.0
    assert torch.equal(model.e.weight, before) and model.e.weight.grad is None


def test_sparse_plus_sparse_and_coalesce():
    a = ring_adjacency(4)  # 12 values, coalesced

    class Sum(nn.Module):
        def forward(self, x, y):
            return x + y

    # two coalesced operands storing the same 12 indices: merged index by index, 12 + 12 − 12 = 12 additions
    report = torchcount.profile(Sum(), (a, a * 2))
    assert report.total.cost.adds == 12
    twice = torch.sparse_coo_tensor(torch.cat([a.indices(), a.indices()], 1), torch.cat([a.values(), a.values()]),
                                    a.shape)

    class Coalesce(nn.Module):
        def forward(self, x):
            return x.coalesce()

    # 24 stored values, each index twice, into 12: the sort's 24·⌈log2 24⌉ = 120 comparisons, 12 additions
    report = torchcount.profile(Coalesce(), twice)
    assert (report.total.cost.cmps, report.total.cost.adds, report.coverage) == (24 * 5, 12, 1.0)


def test_sums_over_some_dimensions():
    # 6 stored values in a 3×3 matrix; rows 0, 1, 2 store 1, 2, 3 of them, columns 0, 1, 2 store 3, 1, 2
    indices = torch.tensor([[0, 1, 1, 2, 2, 2], [0, 0, 2, 1, 2, 0]])
    a = torch.sparse_coo_tensor(indices, torch.randn(6), (3, 3)).coalesce()
    # hybrid: each stored index holds 4 values (V = 24)
    h = torch.sparse_coo_tensor(indices, torch.randn(6, 4), (3, 3, 4)).coalesce()

    def summed(x, dims, sparse_sum=True):
        class Sum(nn.Module):
            def forward(self, t):
                return torch.sparse.sum(t, dims) if sparse_sum else t.sum(dims)
        report = torchcount.profile(Sum(), x)
        assert report.complete, report.coverage_text()
        return report.total.cost.adds, report.total.cost.cmps

    # a row sum keeps 3 indices of 6: the kept indices sorted (6·⌈log2 6⌉ = 18 comparisons, as coalesce
    # counts them) and 6 − 3 = 3 additions; the same by A.sum(1) and over the columns
    assert summed(a, 1) == summed(a, 1, sparse_sum=False) == summed(a, 0) == (3, 18)
    # every dimension: a dense scalar, 6 − 1 additions, no sorting
    assert summed(a, (0, 1)) == (5, 0)
    # hybrid, the dense dimension only: 6·4 values into 6·1, then the 6 indices sorted (none repeats)
    assert summed(h, 2) == (24 - 6, 18)
    # hybrid, a sparse and the dense dimension: 24 − 6 within each index, then 6 − 3 merging = 21 in all
    assert summed(h, (0, 2)) == (21, 18)
    # both sparse dimensions: a dense 4-vector, 24 − 4 additions
    assert summed(h, (0, 1)) == (20, 0)
    # CSR rows are grouped already: 6 − 3 additions, nothing to sort
    class RowSums(nn.Module):
        def forward(self, t):
            return t.sum(1, keepdim=True)
    report = torchcount.profile(RowSums(), a.to_sparse_csr())
    assert (report.total.cost.adds, report.total.cost.cmps, report.complete) == (3, 0, True)

    # trained: the sum's backward copies the gradient to the stored indices (no arithmetic); the
    # sparse_mask of that sparse gradient by the uncoalesced input is left uncounted, with why
    class Weighted(nn.Module):
        def __init__(self):
            super().__init__()
            self.values = nn.Parameter(torch.randn(6))

        def forward(self, x):
            return torch.sparse.sum(torch.sparse_coo_tensor(indices, self.values, (3, 3)), 1).to_dense() * x

        def train_step(self, x):
            loss = self(x).sum()
            loss.backward()
            return loss

    report = torchcount.profile(Weighted(), torch.randn(3), method="train_step", warn=False)
    assert {u.what for u in report.uncounted} == {"aten.sparse_mask.default (on sparse tensors)"}
    assert any(n.startswith("aten.sparse_mask ×1 uncounted: a sparse tensor masked by another") for n in report.notes)


def test_a_sparse_tensor_added_into_in_place_is_priced_on_what_it_stored_before():
    # A stores the diagonal (3 values), B 4 values of which one, (1, 1), is on the diagonal: the sum
    # stores 6 indices, and one addition is made (3 + 4 − 6 = 1); in place, A's nnz goes 3 → 6, and its
    # rule used to see the 6 (6 + 4 − 6 = 4 additions)
    a = torch.sparse_coo_tensor(torch.tensor([[0, 1, 2], [0, 1, 2]]), torch.ones(3), (3, 3)).coalesce()
    b = torch.sparse_coo_tensor(torch.tensor([[0, 1, 2, 0], [1, 1, 0, 2]]), torch.ones(4), (3, 3)).coalesce()

    class Sum(nn.Module):
        def __init__(self, in_place):
            super().__init__()
            self.in_place = in_place

        def forward(self, x, y):
            return x.add_(y) if self.in_place else x + y

    for in_place in (False, True):
        cost = torchcount.profile(Sum(in_place), (a.clone(), b)).total.cost
        # read: A's 3 float32 values and 2×3 int64 indices, B's 4 and 2×4; written: the sum's 6 and 2×6
        assert (cost.adds, cost.bytes_read, cost.bytes_written) == (1, (3 * 4 + 48) + (4 * 4 + 64), 6 * 4 + 96), in_place


def test_ops_without_a_sparse_rule_are_uncounted_and_named():
    a = ring_adjacency(4)

    class Softmax(nn.Module):
        def forward(self, x):
            return torch.sparse.softmax(x, 1)

    with pytest.warns(torchcount.UncountedWarning, match="on sparse tensors"):
        report = torchcount.profile(Softmax(), a)
    assert report.coverage < 1.0
    assert any("_sparse_softmax" in name and "(on sparse tensors)" in name for name in [u.what for u in report.uncounted])
    # a module rule (nn.ReLU's) prices dense elements: a layer given a sparse input is priced from the
    # ops it ran instead, here relu on the 12 stored values (not 16 comparisons), with a note
    report = torchcount.profile(nn.ReLU(), a)
    assert (report.total.cost.cmps, report.coverage) == (12, 1.0)
    assert any("called with a sparse input" in n for n in report.notes)


class ListOfTensors(nn.Module):
    def forward(self, xs):
        return xs[0] * 1


def test_a_rule_never_prices_a_sparse_operand_it_cannot_see_coming():
    """A sparse tensor inside a list reaches a ruled module's call unseen by the capture's check: its
    rule (which would price the dense 4×4) is set aside and the call is uncounted, named, once; it is
    the report's only item and not a counted one (coverage 0, not 1 of 2)."""
    a = ring_adjacency(4)

    @torchcount.module_rule(ListOfTensors)
    def dense_elements(module, call):
        n = call.inputs[0].numel
        return torchcount.Cost.of(torchcount.Term("mults", "multiplications", "elements", n, n))

    try:
        assert torchcount.profile(ListOfTensors(), ([torch.ones(4, 4)],)).total.cost.mults == 16
        with pytest.warns(torchcount.UncountedWarning, match="on sparse tensors"):
            report = torchcount.profile(ListOfTensors(), ([a],))
        # its one call is the one item, uncounted once: nothing counted (its ops are its rule's, unrecorded)
        assert report.total.cost.mults == 0 and report.coverage == 0.0
        assert [(u.what, u.calls) for u in report.uncounted] == [("ListOfTensors (on sparse tensors)", 1)]
    finally:
        from torchcount.rules import registry
        registry._MODULE_RULES.pop(ListOfTensors, None)
        registry._lookup_cache.clear()


def test_a_sparse_weight_in_a_linear_layer():
    """A pruned weight kept as CSR: F.linear-style W @ xᵀ costs nnz(W) per column of xᵀ."""
    torch.manual_seed(0)
    w = torch.randn(16, 32) * (torch.rand(16, 32) < 0.25)
    nnz = int((w != 0).sum())

    class SparseLinear(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("w", w.to_sparse_csr())

        def forward(self, x):  # x: batch × 32
            return (self.w @ x.t()).t()

    report = torchcount.profile(SparseLinear(), torch.randn(3, 32), convention="macs")
    assert report.total.macs == nnz * 3


def test_sampled_addmm_computes_only_the_masked_products():
    """torch.sparse.sampled_addmm(S, A, B, β, α): a length-k dot product per value S stores, then
    β·S + α·(…) on those values (V multiplications each for α ≠ 1 and β ∉ {0, 1}, V additions)."""
    torch.manual_seed(0)
    mask = (torch.rand(6, 5) < 0.4).float()
    v = int(mask.sum())

    class Sampled(nn.Module):
        def forward(self, s, a, b):
            return torch.sparse.sampled_addmm(s, a, b, beta=0.5, alpha=2.0), torch.sparse.sampled_addmm(s, a, b)

    report = torchcount.profile(Sampled(), (mask.to_sparse_csr(), torch.randn(6, 3), torch.randn(3, 5)))
    cost = report.total.cost
    assert (cost.macs, cost.mults, cost.adds) == (2 * v * 3, 2 * v, 2 * v)
    assert report.coverage == 1.0


class GCNStep(GCN):
    def train_step(self, x, labels):
        loss = nn.functional.cross_entropy(self(x), labels)
        loss.backward()
        return loss


@pytest.mark.parametrize("layout", ["coo", "csr"])
def test_a_graph_convolution_training_step(layout):
    """The backward of Â·Y is Âᵀ·G (a sparse product again, nnz·F MACs); the Linears' as for dense
    layers (the first one's input gradient is not needed). Ring of 8 nodes, nnz = 24, 5 → 4 → 3:
    forward 8·5·4 + 24·4 + 8·4·3 + 24·3 = 160 + 96 + 96 + 72 = 424;
    backward Âᵀ·G₂ 24·3 + w2 (input and weight gradients) 2·96 + Âᵀ·G₁ 24·4 + w1 (weight gradient) 160 = 520."""
    a = ring_adjacency(8)
    model = GCNStep(a if layout == "coo" else a.to_sparse_csr())
    report = torchcount.profile(model, (torch.randn(8, 5), torch.randint(0, 3, (8,))), method="train_step",
                                convention="macs")
    assert report.total.macs == 424 + 520
    assert report.coverage == 1.0 and all(p.grad is None for p in model.parameters())


class Apply(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *args):
        return self.fn(*args)


def _cost(fn, *inputs):
    report = torchcount.profile(Apply(fn), inputs if len(inputs) > 1 else inputs[0])
    assert report.coverage == 1.0
    return report.total.cost


def test_hybrid_block_empty_and_uncoalesced_operands():
    # hybrid COO: 2 of 4 rows stored, each a dense 6×2 block: V = 2·12 = 24 values
    h = torch.zeros(4, 6, 2)
    h[0], h[2] = torch.randn(6, 2), torch.randn(6, 2)
    hybrid = h.to_sparse(1)
    assert (hybrid._nnz(), describe(hybrid).sparse.values) == (2, 24)
    assert _cost(lambda x: x * 2, hybrid).mults == 24
    assert _cost(lambda x, y: y + x, hybrid, torch.randn(4, 6, 2)).adds == 24
    # BSR with 2×2 blocks, 4 blocks stored (V = 16) times a 6×3 dense: V·n = 48 MACs; addmm adds the bias
    # to each of the 4×3 outputs: 12 additions
    d = torch.randn(4, 6)
    d[:2, :2], d[2:, 4:] = 0, 0
    bsr = d.to_sparse_bsr((2, 2))
    assert describe(bsr).sparse.values == 16
    assert _cost(lambda x, y: x @ y, bsr, torch.randn(6, 3)).macs == 48
    cost = _cost(torch.addmm, torch.randn(4, 3), bsr, torch.randn(6, 3))
    assert (cost.macs, cost.adds) == (48, 12)
    # nnz = 0: nothing to multiply or add (the sum of no values is 0 additions, not −1)
    empty = torch.sparse_coo_tensor(torch.zeros(2, 0, dtype=torch.long), torch.zeros(0), (4, 6))
    assert _cost(torch.sparse.mm, empty, torch.randn(6, 3)).macs == 0
    cost = _cost(torch.sparse.sum, empty)
    assert (cost.adds, cost.mults) == (0, 0)
    from test_worked_terms import evaluate  # Tensor.sum of a sparse tensor: its own rule, its line max(0 − 1, 0)
    report = torchcount.profile(Apply(lambda x: x.sum()), empty)
    assert report.total.cost.adds == 0 and report.coverage == 1.0
    assert all(evaluate(t.substituted) == t.value for t in report.root.terms)
    # uncoalesced, 5 stored values at 3 indices: a product and a scaling touch all 5 (duplicates too);
    # torch.sparse.sum coalesces first (5·⌈log2 5⌉ = 15 comparisons, 5 − 3 = 2 additions), then sums 3 − 1
    u = torch.sparse_coo_tensor(torch.tensor([[0, 1, 1, 2, 0], [1, 2, 2, 0, 1]]), torch.randn(5), (3, 3))
    assert _cost(torch.mm, u, torch.randn(3, 4)).macs == 5 * 4
    assert _cost(lambda x: x * 2, u).mults == 5
    cost = _cost(torch.sparse.sum, u)
    assert (cost.cmps, cost.adds) == (15, 2 + 2)


def test_complex_sparse_values_are_expanded_once():
    """A complex sparse tensor's element-wise ops cost what the dense op costs on its stored values:
    |z| = √(re² + im²) is 2 multiplications, 1 addition and 1 root per value (not expanded twice)."""
    a = torch.sparse_coo_tensor(torch.tensor([[0, 1, 2, 2], [1, 2, 0, 1]]), torch.randn(4, dtype=torch.cfloat),
                                (3, 3)).coalesce()
    cost = _cost(torch.abs, a)
    assert (cost.mults, cost.adds, cost.transc) == (2 * 4, 4, 4)
    dense = _cost(torch.abs, a.values())
    assert (cost.mults, cost.adds, cost.transc) == (dense.mults, dense.adds, dense.transc)
    # z·2: a complex value times a real scalar, 2 multiplications each
    assert _cost(lambda x: x * 2, a).mults == 2 * 4 == _cost(lambda x: x * 2, a.values()).mults


def test_the_gradient_of_a_sparse_coo_operand():
    """torch.sparse.mm(A, B) with A (COO, V = 4 values) and B (3×4) both requiring gradients: forward
    V·n = 16 MACs; B's gradient Aᵀ·G, 16 MACs; A's gradient G·Bᵀ dense (3·4·3 = 36 MACs), then
    sparse_mask keeps its V entries (the kernel multiplies them by a mask of ones: 4 multiplications)."""
    a = torch.sparse_coo_tensor(torch.tensor([[0, 1, 2, 2], [1, 2, 0, 1]]), torch.randn(4), (3, 3)).coalesce()

    def step(a, b):
        a, b = a.detach().requires_grad_(), b.detach().requires_grad_()
        out = torch.sparse.mm(a, b)
        out.sum().backward()
        return out

    cost = _cost(step, a, torch.randn(3, 4))
    assert (cost.macs, cost.mults) == (16 + 16 + 36, 4)


def _uncoalesced():
    """5 stored values at 3 indices ((0, 1) and (1, 2) twice each), uncoalesced."""
    return torch.sparse_coo_tensor(torch.tensor([[0, 1, 1, 2, 0], [1, 2, 2, 0, 1]]), torch.rand(5) * 0.5, (3, 3))


def test_non_linear_ops_coalesce_an_uncoalesced_input_first():
    """relu, tanh, abs, … (not linear: f(a) + f(b) ≠ f(a + b)) coalesce an uncoalesced COO input inside
    their kernel, no coalesce op recorded: the sort's nnz·⌈log2 nnz⌉ = 5·3 = 15 comparisons and the
    nnz_in − nnz_out = 5 − 3 = 2 additions, then the op on the 3 coalesced values. Negation and scaling
    by a scalar map every stored value as it is (5 each), and a coalesced input is not sorted again."""
    u = _uncoalesced()
    assert describe(u).sparse.coalesced is False and describe(u.coalesce()).sparse.coalesced is True
    assert describe(u.to_sparse_csr()).sparse.coalesced is None
    cost = _cost(torch.relu, u)  # 15 sort comparisons + 3 relu comparisons
    assert (cost.cmps, cost.adds) == (15 + 3, 2)
    cost = _cost(torch.tanh, u)  # tanh on the 3 coalesced values
    assert (cost.cmps, cost.adds, cost.transc) == (15, 2, 3)
    cost = _cost(lambda x: torch.div(x, 2, rounding_mode="floor"), u)  # floor(a/2) + floor(b/2) ≠ floor((a+b)/2)
    assert (cost.cmps, cost.adds, cost.divs) == (15, 2, 3)
    assert (_cost(torch.neg, u).mults, _cost(lambda x: x * 2, u).mults, _cost(lambda x: x / 2, u).divs) == (5, 5, 5)
    assert _cost(torch.neg, u).cmps == 0
    cost = _cost(torch.relu, u.coalesce())  # coalesced already: the 3 comparisons only
    assert (cost.cmps, cost.adds) == (3, 0)


def test_sparse_times_a_dense_tensor_of_its_shape_reads_the_dense_one_where_it_stores():
    """A (COO, 4 values at 4 indices of a 3×3) times a dense 3×3, either way round (multiplication
    commutes): 4 multiplications; bytes read: A's indices (2·4 int64, 64) and values (4 float32, 16)
    and the 4 dense elements at those indices (16) — not the dense tensor's 36 —; written: the sparse
    output, 80."""
    a = torch.sparse_coo_tensor(torch.tensor([[0, 1, 2, 2], [1, 2, 0, 1]]), torch.randn(4), (3, 3)).coalesce()
    d = torch.randn(3, 3)
    for fn, inputs in ((lambda x, y: x * y, (a, d)), (lambda x, y: x * y, (d, a))):
        cost = _cost(fn, *inputs)
        assert (cost.mults, cost.bytes_read, cost.bytes_written) == (4, 64 + 16 + 16, 80)


def test_coalescing_and_merging_hybrid_values_count_whole_values_per_index():
    """Hybrid COO, 2 values per index (a dense dim of 2), 5 stored indices of which 3 differ: coalescing
    (the op, or relu's kernel first) sorts the 5 (5·3 = 15 comparisons) and adds (5 − 3)·2 = 4 values;
    relu then compares the 3·2 = 6 coalesced values. c + c·2 merges 3 + 3 − 3 = 3 indices of 2
    values: 6 additions. An empty operand (nnz 0) plus c merges none: (0 + 3 − 3)·2 = 0, its line
    substituting c's 2 values per index. Worked lines read whole numbers (values // nnz)."""
    u = torch.sparse_coo_tensor(torch.tensor([[0, 1, 1, 2, 0], [1, 2, 2, 0, 1]]), torch.rand(5, 2), (3, 3, 2))
    c = u.coalesce()
    empty = torch.sparse_coo_tensor(torch.zeros(2, 0, dtype=torch.long), torch.zeros(0, 2), (3, 3, 2))

    def lines(fn, *xs):
        report = torchcount.profile(Apply(fn), xs if len(xs) > 1 else xs[0])
        assert report.complete
        return report.total.cost, [t.substituted for t in report.root.terms]

    for fn, cmps in ((torch.relu, 15 + 6), (lambda x: x.coalesce(), 15)):
        cost, worked = lines(fn, u)
        assert (cost.cmps, cost.adds) == (cmps, 4) and "(5 − 3)×2" in worked
    cost, worked = lines(lambda x, y: x + y * 2, c, c)
    assert cost.adds == 6 and "(3 + 3 − 3)×2" in worked
    cost, worked = lines(lambda x, y: x + y, empty, c)
    assert cost.adds == 0 and worked == ["(0 + 3 − 3)×2"]


def test_sparse_times_sparse_multiplies_where_both_store():
    """Sparse × sparse (an intersection): one multiplication per output value. c (coalesced, 3 indices)
    times d (coalesced, (0, 1) and (2, 1)): merged, 1 index in common, 1 multiplication; c × c: 3; CSR
    operands run as coalesced COO: 1. With an uncoalesced operand the kernel (a hash intersection)
    keeps the searched-for operand's 5 stored values: 5 multiplications; both uncoalesced (u × u), the
    larger's 5 index hashes are sorted first, 5·⌈log2 5⌉ = 15 comparisons."""
    u = _uncoalesced()
    c = u.coalesce()
    d = torch.sparse_coo_tensor(torch.tensor([[0, 2], [1, 1]]), torch.ones(2), (3, 3)).coalesce()

    def times(x, y):
        return x * y

    assert (_cost(times, c, d).mults, _cost(times, c, c).mults) == (1, 3)
    assert _cost(times, c.to_sparse_csr(), d.to_sparse_csr()).mults == 1
    assert (_cost(times, c, u).mults, _cost(times, u, c).mults, _cost(times, c, u).cmps) == (5, 5, 0)
    cost = _cost(times, u, u)
    assert (cost.mults, cost.cmps) == (5, 15)


def test_sspaddmm_pow_and_index_select_on_sparse():
    """c: 3 stored values (coalesced), B dense 3×n. torch.smm(c, B (3×4)): V·n = 3·4 = 12 MACs, nothing
    scaled (β = 0 on an empty S, α = 1). torch.sspaddmm(c, c, B (3×3), β = 2, α = 3): 3·3 = 9 MACs, α on
    each of the V = 3 stored values (3 mults), β on the value buffer, nnz_S + V·n = 3 + 9 = 12 mults; no
    additions (the output keeps S's entries and the product's side by side). pow on the stored values:
    c³ 2 mults each (6), u² coalesces the 5 values to 3 first (15 cmps, 2 adds), then 3 mults.
    index_select: a search of the indices and a gather, no arithmetic."""
    u = _uncoalesced()
    c = u.coalesce()
    cost = _cost(torch.smm, c, torch.randn(3, 4))
    assert (cost.macs, cost.mults, cost.adds) == (12, 0, 0)
    cost = _cost(lambda s, b: torch.sspaddmm(s, s, b, beta=2, alpha=3), c, torch.randn(3, 3))
    assert (cost.macs, cost.mults, cost.adds) == (9, 3 + 12, 0)
    assert _cost(lambda x: x.pow(3), c).mults == 2 * 3
    cost = _cost(lambda x: x.pow(2), u)
    assert (cost.cmps, cost.adds, cost.mults) == (15, 2, 3)
    cost = _cost(lambda x: x.index_select(1, torch.tensor([0, 1])), c)
    assert cost.is_zero() and cost.bytes_read > 0


def test_sparse_mask_reads_only_the_masked_elements():
    """dense.sparse_mask(mask), mask COO with V = 4 float32 values at 2×4 int64 indices (16 + 64 = 80
    bytes): 4 multiplications; read the mask (80 bytes) and the 4 dense elements at its indices (16), not
    the dense 30×3 tensor (360); written the sparse output, 80 bytes."""
    mask = torch.sparse_coo_tensor(torch.tensor([[0, 1, 2, 2], [1, 2, 0, 1]]), torch.randn(4), (30, 3)).coalesce()
    cost = _cost(lambda d, m: d.sparse_mask(m), torch.randn(30, 3), mask)
    assert (cost.mults, cost.bytes_read, cost.bytes_written) == (4, 80 + 16, 80)


def test_a_sparse_tensor_plus_itself_is_merged():
    """u + u (the same object twice): add_out_sparse_cpu has no same-tensor shortcut (no scaling by 2):
    it merges the two index lists as for any two operands, one addition per index both store,
    nnz_a + nnz_b − nnz_out = 5 + 5 − 5 = 5, as u + u.clone()."""
    u = _uncoalesced()
    assert (_cost(lambda x: x + x, u).adds, _cost(lambda x: x + x, u).mults) == (5, 0)
    assert _cost(lambda x: x + x.clone(), u).adds == 5
