"""Graph neural networks written in plain torch, as PyTorch Geometric runs them (no torch_geometric
needed): message passing over an ``edge_index`` with index_select and a scatter-add, GAT's softmax over
each node's incoming edges as scatter ops, the same over CSR segments (``torch._segment_reduce``), and
``torch.sparse.mm(adj_t, x, reduce)``. Each against a closed form of its kernels' work, eval and a
training step.

The graph: N = 6 nodes, E = 10 directed edges, every node with at least one incoming edge."""
from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import torchcount
from torchcount.capture import OpCall, describe
from torchcount.rules.registry import op_rule_for

warnings.filterwarnings("ignore", message=".*Sparse (CSR tensor support|invariant checks).*")

N, E = 6, 10
SRC = torch.tensor([0, 1, 2, 3, 4, 5, 0, 2, 4, 1])
DST = torch.tensor([1, 2, 3, 4, 5, 0, 3, 5, 1, 4])  # in-degrees 1, 3, 1, 2, 2, 2


def edge_index() -> torch.Tensor:
    return torch.stack([SRC, DST])


def adj_t(layout: str = "csr") -> torch.Tensor:
    """The transposed adjacency PyG multiplies with (row = target, column = source), ones."""
    a = torch.sparse_coo_tensor(torch.stack([DST, SRC]), torch.ones(E), (N, N)).coalesce()
    return a.to_sparse_csr() if layout == "csr" else a


def count(report) -> dict:
    c = report.total.cost
    return {k: v for k, v in c.as_dict().items() if v and not k.startswith("bytes")}


class MessagePassing(nn.Module):
    """GraphConv-style: x' = lin(Σ_{j→i} w_ji·x_j), gathered with index_select, scattered with
    scatter_add_ along a broadcast index (PyG's ``scatter(reduce="sum")``)."""

    def __init__(self, f_in: int, f_out: int):
        super().__init__()
        self.lin = nn.Linear(f_in, f_out, bias=False)

    def forward(self, x, edge_index, weight):
        src, dst = edge_index
        msg = x.index_select(0, src) * weight.view(-1, 1)                        # E·F mults
        index = dst.view(-1, 1).expand_as(msg)
        out = x.new_zeros(x.shape).scatter_add_(0, index, msg)                    # E·F adds
        return self.lin(out)                                                      # N·F·F_out MACs

    def train_step(self, x, edge_index, weight, target):
        loss = ((self(x, edge_index, weight) - target) ** 2).sum()
        loss.backward()
        return loss


def test_scatter_message_passing_against_its_closed_form():
    """E·F multiplications by the edge weights, E·F additions for the scatter-add, N·F·F_out MACs."""
    F, F_out = 4, 3
    report = torchcount.profile(MessagePassing(F, F_out), (torch.randn(N, F), edge_index(), torch.rand(E)))
    assert report.coverage == 1.0
    assert count(report) == {"macs": N * F * F_out, "mults": E * F, "adds": E * F}


def test_scatter_message_passing_training_step_is_covered():
    """The backward of the scatter-add is a gather (free), of index_select an index_add (E·F adds into
    x's gradient), of the weighting two products per message element and a row sum per edge."""
    F, F_out = 4, 3
    x = torch.randn(N, F, requires_grad=True)
    w = torch.rand(E, requires_grad=True)
    report = torchcount.profile(MessagePassing(F, F_out), (x, edge_index(), w, torch.randn(N, F_out)),
                                method="train_step")
    assert report.coverage == 1.0 and not report.uncounted
    assert report.total.cost.macs == 2 * N * F * F_out + N * F * F_out  # forward, weight and input gradients


class ScatterSoftmax(nn.Module):
    """GAT's attention normalised over each node's incoming edges, as ``torch_geometric.utils.softmax``
    runs it given an index: the max by scatter_reduce(amax, include_self=False), gathered back,
    subtracted, exponentiated, summed by scatter_add, gathered back, divided."""

    def forward(self, scores, dst):
        h = scores.shape[1]
        index = dst.view(-1, 1).expand(-1, h)
        top = scores.new_zeros(N, h).scatter_reduce_(0, index, scores.detach(), "amax", include_self=False)
        e = (scores - top.index_select(0, dst)).exp()
        total = scores.new_zeros(N, h).scatter_add_(0, index, e) + 1e-16
        return e / total.index_select(0, dst)


def test_gat_scatter_softmax_against_its_closed_form():
    """Per edge and head: a comparison (the max), a subtraction, an exponential, an addition (the sum)
    and a division; per node and head an addition (+ 1e-16)."""
    H = 2
    report = torchcount.profile(ScatterSoftmax(), (torch.randn(E, H), DST))
    assert report.coverage == 1.0
    assert count(report) == {"cmps": E * H, "adds": E * H + E * H + N * H, "transc": E * H, "divs": E * H}


class SegmentSoftmax(nn.Module):
    """The same softmax over CSR segments (``torch_geometric.utils.softmax`` given ``ptr``): the max and
    the sum by ``torch._segment_reduce`` ("amax" is PyG's name for max), repeated back per edge."""

    def forward(self, scores, ptr):
        count = ptr[1:] - ptr[:-1]
        top = torch._segment_reduce(scores.detach(), "amax", offsets=ptr)
        e = (scores - top.repeat_interleave(count, dim=0, output_size=scores.shape[0])).exp()
        total = torch._segment_reduce(e, "sum", offsets=ptr) + 1e-16
        return e / total.repeat_interleave(count, dim=0, output_size=scores.shape[0])

    def train_step(self, scores, ptr, target):
        loss = (self(scores, ptr) * target).sum()
        loss.backward()
        return loss


def ptr() -> torch.Tensor:
    """CSR row pointers of the edges sorted by target (in-degrees 1, 3, 1, 2, 2, 2)."""
    return torch.tensor([0, 1, 4, 5, 7, 9, 11])


def test_segment_softmax_against_its_closed_form():
    """The segment max: E − N comparisons per head (L − 1 per segment), the sum E − N additions; then
    per edge a subtraction, an exponential and a division, per node an addition (+ 1e-16), and the
    segment lengths ptr[1:] − ptr[:-1] (N subtractions). The edge count here is 11 (one more than E),
    as ptr says."""
    H, e = 2, 11
    report = torchcount.profile(SegmentSoftmax(), (torch.randn(e, H), ptr()))
    assert report.coverage == 1.0
    assert count(report) == {"cmps": (e - N) * H, "adds": e * H + (e - N) * H + N * H + N, "transc": e * H,
                             "divs": e * H}


def test_segment_softmax_training_step_is_covered():
    """_segment_reduce_backward of a sum copies each node's gradient to its edges: no arithmetic."""
    H, e = 2, 11
    report = torchcount.profile(SegmentSoftmax(), (torch.randn(e, H, requires_grad=True), ptr(),
                                                   torch.randn(e, H)), method="train_step")
    assert report.coverage == 1.0 and not report.uncounted


@pytest.mark.parametrize("reduce", ["sum", "mean", "max", "min", "prod"])
def test_segment_reduce_backward_by_hand(reduce):
    """Segments of 2, 3 and 1 rows of 4 (n = 24 inputs, m = 12 outputs): a sum's gradient is copied,
    a mean's divided by the segment length (m divisions), max/min compare every input with its
    result (n comparisons), prod multiplies by the output (m) and divides by each input (n, after a
    test for zero)."""
    x, lengths = torch.randn(6, 4, dtype=torch.float64), torch.tensor([2, 3, 1])
    out = torch.segment_reduce(x, reduce, lengths=lengths)
    g = torch.randn_like(out)
    call = OpCall(torch.ops.aten._segment_reduce_backward.default, (describe(g), describe(out), describe(x), reduce),
                  {"lengths": describe(lengths)}, describe(torch.empty_like(x)))
    cost = op_rule_for(call.op)(call)
    expected = {"sum": {}, "mean": {"divs": 12}, "max": {"cmps": 24}, "min": {"cmps": 24},
                "prod": {"mults": 12, "cmps": 24, "divs": 24}}[reduce]
    assert {k: v for k, v in cost.as_dict().items() if v and not k.startswith("bytes")} == expected


class SpmmReduce(nn.Module):
    """SAGE-style aggregation through ``torch.sparse.mm(adj_t, x, reduce)`` (PyG's ``spmm`` of an
    ``adj_t``), then a linear layer."""

    def __init__(self, f_in: int, f_out: int, reduce: str):
        super().__init__()
        self.reduce = reduce
        self.lin = nn.Linear(f_in, f_out, bias=False)

    def forward(self, x, adj):
        return self.lin(torch.sparse.mm(adj, x, self.reduce))

    def train_step(self, x, adj, target):
        loss = ((self(x, adj) - target) ** 2).sum()
        loss.backward()
        return loss


@pytest.mark.parametrize("reduce", ["sum", "mean", "amax", "amin"])
def test_sparse_mm_with_a_reduction(reduce):
    """V = E stored values, F features: sum E·F MACs, mean the same plus F divisions per row that
    stores a value (every node has a neighbour: N·F), amax/amin E·F multiplications and E·F
    comparisons; then the linear layer's N·F·F_out MACs."""
    F, F_out = 4, 3
    report = torchcount.profile(SpmmReduce(F, F_out, reduce), (torch.randn(N, F), adj_t("csr")))
    assert report.coverage == 1.0
    lin = N * F * F_out
    expected = {"sum": {"macs": E * F + lin}, "mean": {"macs": E * F + lin, "divs": N * F},
                "amax": {"macs": lin, "mults": E * F, "cmps": E * F},
                "amin": {"macs": lin, "mults": E * F, "cmps": E * F}}[reduce]
    assert count(report) == expected


@pytest.mark.parametrize("reduce", ["sum", "mean", "amax"])
def test_sparse_mm_with_a_reduction_training_step(reduce):
    """The gradient of x through adj_t: sum Aᵀ·G (E·F MACs), mean the same after E divisions of the
    stored values by their row's count, amax N·F multiplications and additions (each output's gradient
    into the row its maximum came from); the adjacency needs no gradient."""
    F, F_out = 4, 3
    x = torch.randn(N, F, requires_grad=True)
    report = torchcount.profile(SpmmReduce(F, F_out, reduce), (x, adj_t("csr"), torch.randn(N, F_out)),
                                method="train_step")
    assert report.coverage == 1.0 and not report.uncounted
    lin = N * F * F_out
    forward = {"sum": E * F, "mean": E * F, "amax": 0}[reduce] + lin
    backward = {"sum": E * F, "mean": E * F, "amax": 0}[reduce] + 2 * lin  # + the linear's two gradients
    assert report.total.cost.macs == forward + backward


class SparseChecks(nn.Module):
    """What PyG's GCN normalisation asks of a sparse ``adj_t`` before it multiplies: nnz, whether it is
    coalesced, its CSR form (COO row indices compressed: index arithmetic)."""

    def forward(self, x, adj):
        assert adj._nnz() == E and adj.is_coalesced()
        return torch.sparse.mm(adj.to_sparse_csr(), x)


def test_sparse_metadata_and_index_conversion_are_free():
    report = torchcount.profile(SparseChecks(), (torch.randn(N, 4), adj_t("coo")))
    assert report.coverage == 1.0 and not report.uncounted
    assert count(report) == {"macs": E * 4}


@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_amax_counts_every_value(include_self):
    """include_self=False first sets each named position to −inf (a write), then compares every value
    into it, as with include_self=True: E·F comparisons either way."""
    F = 3
    fn = nn.Module()
    fn.forward = lambda src: torch.zeros(N, F).scatter_reduce(0, DST.view(-1, 1).expand(-1, F), src, "amax",
                                                              include_self=include_self)
    report = torchcount.profile(fn, torch.randn(E, F))
    assert count(report) == {"cmps": E * F}
