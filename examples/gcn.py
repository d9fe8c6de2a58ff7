"""What a graph convolutional network costs: Kipf & Welling's two-layer GCN, H' = Â·(H·W), with the
normalised adjacency Â = D^-½ (A + I) D^-½ kept as a sparse tensor.

The graph is a 10×10 grid: N = 100 nodes, E = 2·10·9 = 180 edges, so Â stores nnz = N + 2E = 460
values (each edge both ways, plus a self-loop per node). One layer from F_in to F_out features costs

    N·F_in·F_out MACs (H·W, dense)  +  nnz·F_out MACs (Â times it: each stored value times a row)

16 → 8 → 4 features: 100·16·8 + 460·8 + 100·8·4 + 460·4 = 12,800 + 3,680 + 3,200 + 1,840 = 21,520 MACs.
Counted as dense, Â·(H·W) would be N²·F_out: 100²·8 + 100²·4 = 120,000 MACs, 22 times the sparse
products' 5,520. torchcount prices the sparse kernels on the values they store (rules/sparse.py), in
COO and CSR alike.

Run: ``.venv/bin/python examples/gcn.py``
"""
import warnings

import torch
from torch import nn

import torchcount


def grid_adjacency(side: int) -> torch.Tensor:
    """Â of a side×side grid graph, sparse COO (coalesced)."""
    n = side * side
    node = torch.arange(n).reshape(side, side)
    right = torch.stack([node[:, :-1].reshape(-1), node[:, 1:].reshape(-1)])
    down = torch.stack([node[:-1, :].reshape(-1), node[1:, :].reshape(-1)])
    loops = torch.stack([torch.arange(n), torch.arange(n)])
    edges = torch.cat([right, down, right.flip(0), down.flip(0), loops], 1)
    degree = torch.bincount(edges[0], minlength=n).float()
    values = degree[edges[0]].rsqrt() * degree[edges[1]].rsqrt()
    return torch.sparse_coo_tensor(edges, values, (n, n)).coalesce()


class GCN(nn.Module):
    def __init__(self, adjacency: torch.Tensor, features=(16, 8, 4)):
        super().__init__()
        self.register_buffer("adjacency", adjacency)
        self.layer1 = nn.Linear(features[0], features[1], bias=False)
        self.layer2 = nn.Linear(features[1], features[2], bias=False)

    def forward(self, x):
        h = torch.relu(torch.sparse.mm(self.adjacency, self.layer1(x)))
        return torch.sparse.mm(self.adjacency, self.layer2(h))


def main():
    torch.manual_seed(0)
    warnings.filterwarnings("ignore", message=".*Sparse (CSR tensor support|invariant checks).*")
    adjacency = grid_adjacency(10)
    nodes, nnz = adjacency.shape[0], adjacency._nnz()
    x = torch.randn(nodes, 16)
    report = torchcount.profile(GCN(adjacency), x, convention="macs", name="GCN on a 10×10 grid")
    print(report.table(columns=["#", "module", "type", "output", "MACs"]))
    print()
    print(report.explain(""))
    closed = nodes * 16 * 8 + nnz * 8 + nodes * 8 * 4 + nnz * 4
    print(f"\nN = {nodes}, nnz(Â) = {nnz}")
    print(f"closed form: {nodes}·16·8 + {nnz}·8 + {nodes}·8·4 + {nnz}·4 = {closed:,} MACs; "
          f"torchcount: {report.total.macs:,}")
    csr = torchcount.profile(GCN(adjacency.to_sparse_csr()), x, convention="macs")
    print(f"the same adjacency as CSR: {csr.total.macs:,} MACs")
    dense = torchcount.profile(GCN(adjacency.to_dense()), x, convention="macs")
    sparse_products = report.row("").self_cost.macs
    dense_products = dense.row("").self_cost.macs
    print(f"Â·(H·W): sparse {sparse_products:,} MACs, as a dense matrix {dense_products:,} MACs "
          f"({dense_products / sparse_products:.0f}× as many); coverage {report.coverage:.0%}")
    return report


if __name__ == "__main__":
    main()
