"""torch.export's programs, profiled per layer: ``ep.module()`` (one GraphModule whose submodules only
hold the original parameters), ``torch.export.unflatten(ep)``, and ``torch.fx.symbolic_trace``.

References: the eager model's own report (its layers priced by their rules, the exported ones from
the graph's aten ops: the same MACs and ops wherever the two agree), torch.utils.flop_counter on the
exported module, and closed forms written out here (for what flop_counter does not count: the
scaled-dot-product attention of a CPU run).
"""
import warnings

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import torchcount
from torchcount.cost import OP_CATEGORIES
from conftest import needs, run
from test_state import snapshot

pytestmark = needs("torch.export naming each node's module by its path")


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        return self.head(self.features(x).flatten(1))


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Dropout(0.1), nn.Linear(32, 32), nn.GELU())
        self.head = nn.Linear(32, 4)

    def forward(self, x):
        return self.head(self.body(x) + x.repeat(1, 2))  # (a residual: the root's own work)


class Block(nn.Module):
    """A pre-norm transformer block: attention (MultiheadAttention, whose forward uses ``out_proj``'s
    weights without calling it) and a feed-forward network, each with a residual."""

    def __init__(self, d=16, heads=2):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x):
        y = self.norm1(x)
        x = x + self.attn(y, y, y, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


CASES = {"cnn": (CNN, (2, 3, 8, 8)), "mlp": (MLP, (4, 16)), "block": (Block, (2, 5, 16))}


def _exported(name, strict=False):
    torch.manual_seed(0)
    make, shape = CASES[name]
    model, x = make().eval(), torch.randn(shape)
    kwargs = {"strict": True} if strict else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (torch's own deprecation warnings)
        return model, x, torch.export.export(model, (x,), **kwargs)


def _same_rows(eager, exported):
    """Every eager row has its exported row at the same path, with the same type, calls, parameters,
    MACs and convention ops; a row the eager model prices from its ops (the root's own work, a
    container's) is the same in every operation category."""
    for row in [eager.root, *eager.layers]:
        if row is None:
            continue
        other = exported.root if row is eager.root else exported.row(row.path)
        where = row.path or "(root)"
        if row is not eager.root:
            assert other.type == row.type, where
        assert (other.calls, other.params, other.self_params) == (row.calls, row.params, row.self_params), where
        assert (other.cost.macs, other.ops(), other.self_cost.macs) == (row.cost.macs, row.ops(), row.self_cost.macs), where
        if row.status in ("ops", "container"):
            for category in OP_CATEGORIES:
                assert getattr(other.self_cost, category) == getattr(row.self_cost, category), (where, category)
    assert exported.total.cost.macs == eager.total.cost.macs
    assert exported.total.params == eager.total.params


def _flop_counter_macs(module, x):
    with FlopCounterMode(display=False) as counter:
        module(x)
    return counter.get_total_flops() // 2


def _sdpa_macs(n, length, d):
    """MACs of the two products of attention over ``length`` positions, width ``d`` (all heads):
    scores Q·Kᵀ and the weighted sum A·V, N·L·S·E each (flop_counter counts neither on CPU)."""
    return 2 * n * length * length * d


@pytest.mark.parametrize("name", sorted(CASES))
def test_ep_module_has_the_eager_models_rows(name):
    model, x, ep = _exported(name)
    gm = ep.module()
    exported, eager = run(gm, x), run(model, x)
    _same_rows(eager, exported)
    extra = _sdpa_macs(2, 5, 16) if name == "block" else 0
    assert exported.total.cost.macs == _flop_counter_macs(gm, x) + extra
    # the rows add up: each parent's inclusive cost is its own plus its children's
    for row in exported.layers:
        children = [r for r in exported.layers if r.path and r.path.rpartition(".")[0] == row.path and r.calls]
        if row.calls and children:
            assert row.cost.macs == row.self_cost.macs + sum(r.cost.macs for r in children)
    assert any("nn_module_stack" in note for note in exported.notes)


def test_ep_module_cnn_rows_by_hand():
    """The convolution's MACs by hand, N·k·H·W·c·kh·kw; the ReLU has a row of its own (its type, its
    elements compared) though the GraphModule holds no module for it (it had no parameters)."""
    model, x, ep = _exported("cnn")
    gm = ep.module()
    report = run(gm, x)
    conv, relu, pool = (report.row(p) for p in ("features.0", "features.2", "features.3"))
    assert (conv.type, conv.cost.macs, conv.params) == ("Conv2d", 2 * 8 * 8 * 8 * 3 * 3 * 3, 8 * 3 * 3 * 3 + 8)
    assert (relu.type, relu.cost.cmps, relu.params) == ("ReLU", 2 * 8 * 8 * 8, 0)
    assert (pool.type, pool.input_shapes, pool.output_shapes) == ("MaxPool2d", [(2, 8, 8, 8)], [(2, 8, 4, 4)])
    assert not hasattr(gm.features, "2")
    assert report.row("features").cost.macs == conv.cost.macs
    assert "ReLU" in report.explain("features.2").splitlines()[0] and "Module()" not in report.explain("features.0")
    # a graph's layer is a span of the graph: whether a parent made its output is not checked, so its
    # "(self)" activation is blank (docs/export-schema.md), never a guessed 0; a leaf's is its output
    assert report.row("features").self_activation is None and conv.self_activation == 2 * 8 * 8 * 8  # (padding 1)


def test_a_module_the_graph_reads_but_never_calls_is_in_its_users_row():
    """MultiheadAttention's forward reads out_proj's weights without calling it: its row holds them
    (1,088 parameters: 3·16·16 + 3·16 in-projection, 16·16 + 16 out), as the eager rule's row does,
    not a 'never called' row of its own."""
    model, x, ep = _exported("block")
    report = run(ep.module(), x)
    assert report.row("attn").params == 3 * 16 * 16 + 3 * 16 + 16 * 16 + 16
    assert "attn.out_proj" not in [r.path for r in report.layers]
    assert not any("never called" in note for note in report.notes)


def test_a_reused_module_is_one_row_with_two_calls():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.pre = nn.Linear(3, 3)

        def forward(self, a):
            return self.pre(a) @ self.pre(a).mT

    model, x = Twice(), torch.randn(4, 3)
    gm = torch.export.export(model, (x,)).module()
    report = run(gm, x)
    pre = report.row("pre")
    assert (pre.calls, pre.cost.macs) == (2, 2 * 4 * 3 * 3)
    assert report.root.self_cost.macs == 4 * 3 * 4
    _same_rows(run(model, x), report)


@needs("torch.export.export(strict=True)")
def test_strict_export_has_the_same_rows():
    """Dynamo's export keys each frame by an object id, and leaves a never-called container out."""
    model, x, ep = _exported("cnn", strict=True)
    _same_rows(run(model, x), run(ep.module(), x))


def test_module_paths_in_dynamos_form_are_read():
    """Older torch wrote a strict export's paths as Python (``L['self'].features[0]``): the same rows."""
    model, x, ep = _exported("cnn")
    gm = ep.module()
    for node in gm.graph.nodes:
        stack = node.meta.get("nn_module_stack")
        if stack:
            node.meta["nn_module_stack"] = {
                key: ("L['self']" + "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in path.split(".") if p), kind)
                for key, (path, kind) in stack.items()}
    _same_rows(run(model, x), run(gm, x))


@pytest.mark.parametrize("name", sorted(CASES))
def test_unflatten_has_the_eager_models_rows_and_types(name):
    """``torch.export.unflatten`` rebuilds the module tree as InterpreterModules: recorded as any
    module; the rows show the original types."""
    model, x, ep = _exported(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        unflat = torch.export.unflatten(ep)
    report = run(unflat, x)
    _same_rows(run(model, x), report)
    extra = _sdpa_macs(2, 5, 16) if name == "block" else 0
    assert report.total.cost.macs == _flop_counter_macs(ep.module(), x) + extra
    assert {type(m).__name__ for _, m in unflat.named_modules()} >= {"InterpreterModule"}


def test_symbolic_trace_puts_a_containers_own_ops_in_its_row():
    """symbolic_trace keeps leaf modules and inlines the rest: a block's residual add is its row's
    (2 calls × 2·4 additions), not the root's, as in the eager model."""
    class Inner(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin, self.act = nn.Linear(4, 4), nn.ReLU()

        def forward(self, x):
            return self.act(self.lin(x)) + x

    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.b = Inner()

        def forward(self, x):
            return self.b(self.b(x)) * 2

    model, x = Outer(), torch.randn(2, 4)
    report = run(torch.fx.symbolic_trace(model), x)
    b = report.row("b")
    assert (b.type, b.calls, b.self_cost.adds) == ("Inner", 2, 2 * 2 * 4)
    assert report.root.self_cost.mults == 2 * 4
    _same_rows(run(model, x), report)


def test_a_failing_layer_is_named_and_the_module_left_as_found():
    class Chol(nn.Module):
        def forward(self, a):
            return torch.linalg.cholesky(a)

    class Gram(nn.Module):
        def __init__(self):
            super().__init__()
            self.pre, self.chol = nn.Linear(3, 3), Chol()

        def forward(self, a):
            b = self.pre(a)
            return self.chol(b @ b.mT + torch.eye(3))

    model = Gram()
    gm = torch.export.export(model, (torch.randn(3, 3),)).module()
    before = snapshot(gm)
    with pytest.raises(torchcount.ForwardError) as err:
        run(gm, torch.full((3, 3), float("nan")) - torch.eye(3) * 1e9)
    assert err.value.path == "chol" and "(Chol)" in str(err.value) and "3×3" in str(err.value)
    assert snapshot(gm) == before
    run(gm, torch.randn(3, 3))
    assert snapshot(gm) == before


def test_without_op_recording_every_layer_is_listed_as_uncounted():
    model, x, ep = _exported("cnn")
    report = run(ep.module(), x, record_ops=False)
    listed = {u.path for u in report.uncounted}
    assert {"features.0", "features.1", "features.2", "features.3", "head"} <= listed
    assert report.row("features.2").type == "ReLU"


def test_an_ordinary_graph_module_without_module_stacks_keeps_one_row():
    """A graph built by hand names no module: its work is the root's own, as before."""
    graph = torch.fx.Graph()
    x = graph.placeholder("x")
    graph.output(graph.call_function(torch.relu, (x,)))
    report = run(torch.fx.GraphModule(nn.Module(), graph), torch.randn(3, 5))
    assert report.root.self_cost.cmps == 15 and not report.layers[1:]
    assert not any("nn_module_stack" in note for note in report.notes)


def test_measuring_says_the_graphs_layers_are_not_timed():
    model, x, ep = _exported("mlp")
    report = run(ep.module(), x, measure=True, warmup=0, repeat=1)
    assert any("the layers of its graph are not timed" in note for note in report.notes)
    assert "time_ms" in report.root.extra and "time_ms" not in report.row("head").extra
