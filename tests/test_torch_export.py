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


class Grouped(nn.Module):
    """Layers in containers the forward never calls itself: a ModuleList of Linears (a holder in the graph:
    they have parameters) and a ModuleDict of a ReLU (nothing holds it there: no parameters)."""

    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([nn.Linear(4, 4) for _ in range(2)])
        self.acts = nn.ModuleDict({"relu": nn.ReLU()})

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return self.acts["relu"](x)


@pytest.mark.parametrize("how", ["export", "symbolic_trace", "unflatten"])
def test_a_container_never_called_has_a_row_that_holds_its_layers(how):
    """Each container the forward never calls gets its row, as in the eager table, so that a table cut at
    depth 1 adds up to the total: blocks 2·(2·4·4) = 64 MACs, 2·(64 + 8) = 144 FLOPs; acts the ReLU's
    2·4 = 8 comparisons. ep.module() holds no module for acts (none of its layers has parameters): its row
    was missing, and the depth-1 table summed to 144 of 152 FLOPs. The graph does not name a container
    no node ran in: its type is the module's that stands for it there (``Module``, ``InterpreterModule``)."""
    torch.manual_seed(0)
    model, x = Grouped().eval(), torch.randn(2, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = torch.fx.symbolic_trace(model) if how == "symbolic_trace" else torch.export.export(model, (x,))
    graph = torch.export.unflatten(graph) if how == "unflatten" else graph if how == "symbolic_trace" \
        else graph.module()
    eager, report = run(model, x), run(graph, x)
    assert (report.row("blocks").cost.macs, report.row("blocks").ops(), report.row("acts").cost.cmps) == (64, 144, 8)
    for row in eager.layers:
        other = report.row(row.path)
        assert (other.calls, other.params, other.cost.macs, other.ops()) == \
            (row.calls, row.params, row.cost.macs, row.ops()), row.path
    top = [r for r in report.layers if r.depth == 1]
    assert sum(r.ops() for r in top) + report.convention.ops(report.root.self_cost) == report.total.flops == 152
    assert report.row("acts").type in ("Module", "InterpreterModule")


class NestedGrouped(Grouped):
    """The ReLU two containers deep: acts (a ModuleDict) holds inner (another), which holds it."""

    def __init__(self):
        super().__init__()
        self.acts = nn.ModuleDict({"inner": nn.ModuleDict({"relu": nn.ReLU()})})

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return self.acts["inner"]["relu"](x)


@pytest.mark.parametrize("how", ["export", "symbolic_trace"])
def test_containers_never_called_two_deep_each_have_a_row(how):
    """As above with the ReLU in acts.inner: both containers get their rows, each holding the ReLU's 2·4 = 8
    comparisons, at depths 1 and 2 as in the eager table, and the depth-1 rows still add up to 152 FLOPs."""
    torch.manual_seed(0)
    model, x = NestedGrouped().eval(), torch.randn(2, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = torch.fx.symbolic_trace(model) if how == "symbolic_trace" else torch.export.export(model, (x,)).module()
    eager, report = run(model, x), run(graph, x)
    # (ep.module() has a _guards_fn submodule of its own on newer torch: a row the eager model lacks)
    assert [r.path for r in report.layers if r.path != "_guards_fn"] == [r.path for r in eager.layers]
    assert [(report.row(p).depth, report.row(p).cost.cmps) for p in ("acts", "acts.inner", "acts.inner.relu")] == \
        [(1, 8), (2, 8), (3, 8)]
    top = [r for r in report.layers if r.depth == 1]
    assert sum(r.ops() for r in top) + report.convention.ops(report.root.self_cost) == report.total.flops == 152


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


class Chol(nn.Module):
    def forward(self, a):
        return torch.linalg.cholesky(a)


class Gram(nn.Module):
    """A Linear, then a Cholesky factor of the Gram matrix (fails on a matrix that is not positive
    definite: the failing layer is ``chol``)."""

    def __init__(self):
        super().__init__()
        self.pre, self.chol = nn.Linear(3, 3), Chol()

    def forward(self, a):
        b = self.pre(a)
        return self.chol(b @ b.mT + torch.eye(3))


def test_a_failing_layer_is_named_and_the_module_left_as_found():
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


@pytest.mark.parametrize("name, layers", [("cnn", ["features.1 (BatchNorm2d)"]), ("mlp", ["body.2 (Dropout)"])])
def test_a_graph_exported_in_training_mode_says_which_layers_train(name, layers):
    """``ep.module()``'s ``training`` flag is True whatever the mode exported, and it refuses
    ``.eval()``: the mode is in its ops (``training``/``train`` fixed True). Exported in training
    mode, the note names the layers that run so, by their original types, as the eager note does;
    exported in eval mode, no note."""
    make, shape = CASES[name]
    x = torch.randn(shape)
    notes = {}
    for mode in (True, False):
        torch.manual_seed(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gm = torch.export.export(make().train(mode), (x,)).module()
        notes[mode] = [n for n in run(gm, x).notes if "training mode" in n]
    assert len(notes[True]) == 1 and notes[True][0].startswith(f"exported in training mode: {', '.join(layers)} run")
    assert notes[False] == []


class _Dropout(nn.Module):  # (a custom module: export and symbolic_trace inline its functional ops)
    def forward(self, x):
        return nn.functional.dropout(x, 0.2, self.training)


class _Attention(nn.Module):
    def forward(self, x):
        return nn.functional.scaled_dot_product_attention(x, x, x, dropout_p=0.1 if self.training else 0.0)


class _BatchNorm(nn.Module):
    def __init__(self, running: bool):
        super().__init__()
        self.register_buffer("mean", torch.zeros(4) if running else None)
        self.register_buffer("var", torch.ones(4) if running else None)

    def forward(self, x):
        return nn.functional.batch_norm(x, self.mean, self.var, training=self.training or self.mean is None)


class _Modes(nn.Module):
    """Layers whose ops depend on the mode (drop, attn, norm, inorm2) and layers whose ops are the
    same in both: statistics of the batch with no running ones (free, bnfree, inorm), an LSTM
    without dropout."""

    def __init__(self):
        super().__init__()
        self.conv, self.drop, self.attn = nn.Conv2d(3, 4, 3), _Dropout(), _Attention()
        self.norm, self.free = _BatchNorm(True), _BatchNorm(False)
        self.bnfree = nn.BatchNorm2d(4, track_running_stats=False)
        self.inorm, self.inorm2 = nn.InstanceNorm2d(4), nn.InstanceNorm2d(4, track_running_stats=True)
        self.lstm = nn.LSTM(6, 6, batch_first=True)

    def forward(self, x):
        x = self.inorm2(self.inorm(self.bnfree(self.free(self.norm(self.drop(self.conv(x)))))))
        return self.lstm(self.attn(x).flatten(2)[..., :6])[0]


_TRAINING_LAYERS = ["drop (_Dropout)", "norm (_BatchNorm)", "inorm2 (InstanceNorm2d)", "attn (_Attention)"]


@pytest.mark.parametrize("how", ["export", "run_decompositions", "symbolic_trace",
                                 pytest.param("strict", marks=needs("torch.export.export(strict=True)"))])
def test_the_layers_a_graph_runs_in_training_mode_are_those_whose_ops_the_mode_changes(how):
    """Statistics of the batch are the training mode's only with running statistics to update: a
    norm without them (BatchNorm(track_running_stats=False), InstanceNorm by default, whose
    decomposition is a batch_norm told training=True) runs so in eval mode too; an LSTM without
    dropout, told train=True, runs the same ops; attention's dropout is its dropout_p. Made in eval
    mode, no layer is named. symbolic_trace records torch.nn.functional's ops with their
    ``training`` argument (it inlines all but torch.nn's own modules: drop, attn, norm and free)."""
    x = torch.randn(2, 3, 8, 8)
    notes = {}
    for mode in (True, False):
        torch.manual_seed(0)
        model = _Modes().train(mode)
        if how == "symbolic_trace":
            gm = torch.fx.symbolic_trace(model)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ep = torch.export.export(model, (x,), **({"strict": True} if how == "strict" else {}))
            gm = (ep.run_decompositions() if how == "run_decompositions" else ep).module()
        notes[mode] = [n for n in run(gm, x).notes if n.startswith("exported in training mode")]
    expected = [n for n in _TRAINING_LAYERS if how != "symbolic_trace" or "InstanceNorm" not in n]
    # (the whole list: the LSTM, told train=True with dropout 0, runs the same ops, so is not named)
    assert len(notes[True]) == 1 and notes[True][0].startswith(f"exported in training mode: {', '.join(expected)} run ")
    assert notes[False] == []


class _DirectDropout(nn.Module):
    """Calls torch's builtin dropout itself (no ``training`` keyword to read, no signature to bind)."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 4)

    def forward(self, x):
        return torch.dropout(self.linear(x), 0.5, self.training)


def test_a_traced_call_of_torchs_builtin_dropout_says_its_mode():
    """symbolic_trace fixes ``torch.dropout(x, p, self.training)``'s third argument: traced in
    training mode the layer is named (by its original type), in eval mode not."""
    x = torch.randn(2, 4)
    notes = {}
    for mode in (True, False):
        gm = torch.fx.symbolic_trace(nn.Sequential(_DirectDropout()).train(mode))
        notes[mode] = [n for n in run(gm, x).notes if n.startswith("exported in training mode")]
    assert len(notes[True]) == 1 and notes[True][0].startswith("exported in training mode: 0 (_DirectDropout) run")
    assert notes[False] == []


def _spans(model, x, layers=None):
    """(path, parent path) of every span one stamped pass of ``model`` takes, in order."""
    from torchcount.measure.timing import CpuClock, timing_hooks

    clock = CpuClock()
    with torch.no_grad(), timing_hooks(model, clock, list(model.named_modules()), layers) as hooks:
        clock.start_pass()
        model(x)
    calls = hooks.calls
    return [(path, calls[parent][0] if parent >= 0 else None) for path, _, _, parent in calls]


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_measured_pass_spans_each_graph_layer_as_the_eager_model_nests_its_modules(name):
    """The graph's markers open and close a span per original layer: the eager model's spans, each
    under the same parent, in the same order (the graph adds only its guard function's)."""
    from torchcount.graph import graph_layers

    model, x, ep = _exported(name)
    gm = ep.module()
    eager = _spans(model, x)
    spans = [s for s in _spans(gm, x, graph_layers(gm, list(gm.named_modules()))) if s[0] != "_guards_fn"]
    assert spans == eager and len(eager) > 3
    # without the graph's layers, only the root's span (and its guard's) is taken
    assert {s[0] for s in _spans(gm, x)} == {"", "_guards_fn"}


def _children_fit_in_each_pass(report, parent, children):
    """In every timed pass, the children's spans lie inside the parent's: its inclusive time is at
    least theirs summed (pass by pass: medians over the passes need not add up)."""
    from torchcount.measure import details

    whole = details(report, parent)["inclusive_ns"]
    parts = [details(report, child)["inclusive_ns"] for child in children]
    assert len(whole) == len(parts[0]) > 0
    for i, total in enumerate(whole):
        assert sum(p[i] for p in parts) <= total, (parent, i)


def test_measuring_times_each_layer_of_the_graph():
    """``measure=True`` on ``ep.module()``: each original layer has its time and its activation bytes
    (the memory pass spans the layers too): a layer's output storage, 4 bytes a float32 element,
    as in the eager model's report; the times of a parent's children fit in its own."""
    model, x, ep = _exported("cnn")
    report = run(ep.module(), x, measure=True, warmup=0, repeat=3)
    eager = run(model, x, measure=True, warmup=0, repeat=1)
    assert not any("not timed" in note for note in report.notes)
    for path in ("features", "features.0", "features.1", "features.2", "features.3", "head"):
        extra = report.row(path).extra
        assert extra["time_ms"] > 0, path
        assert extra["act_MiB"] == eager.row(path).extra["act_MiB"], path
    assert report.row("features.0").extra["act_MiB"] * 2**20 == 2 * 8 * 8 * 8 * 4
    assert report.row("head").extra["act_MiB"] * 2**20 == 2 * 10 * 4
    _children_fit_in_each_pass(report, "features", [f"features.{i}" for i in range(4)])


_failing = [None]  # how many more calls may pass before each call fails; None: never fails


@torch.fx.wrap
def _fails_when_told(x):
    if _failing[0] is not None:
        if _failing[0] <= 0:
            raise ValueError("told to fail")
        _failing[0] -= 1
    return x


class _Gate(nn.Module):  # (no parameters: the traced GraphModule has no module at its path)
    def forward(self, x):
        return _fails_when_told(x)


class _Inner(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear, self.gate = nn.Linear(4, 4), _Gate()

    def forward(self, x):
        return self.gate(self.linear(x) * 2)


class _Outer(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner, self.head = _Inner(), nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.inner(x).relu())


def test_a_graph_that_raises_in_a_layer_closes_its_spans_and_names_the_layer():
    """symbolic_trace inlines ``inner`` and its ``gate`` (their ops carry their paths; the traced
    module has none at ``inner.gate``): a pass that raises in the gate closes the spans still open
    (the next pass nests as before), and the failure is the gate's, by its path and original type."""
    from torchcount.graph import graph_layers
    from torchcount.measure.timing import CpuClock, timing_hooks

    torch.manual_seed(0)
    gm = torch.fx.symbolic_trace(_Outer())
    x = torch.randn(3, 4)
    layers = graph_layers(gm, list(gm.named_modules()))
    before = _spans(gm, x, layers)
    assert {("inner", ""), ("inner.linear", "inner"), ("inner.gate", "inner")} <= set(before)
    assert not hasattr(gm.inner, "gate")
    clock = CpuClock()
    _failing[0] = 0
    try:
        with timing_hooks(gm, clock, list(gm.named_modules()), layers) as hooks:
            clock.start_pass()
            with pytest.raises(ValueError, match="told to fail"):
                gm(x)
        assert hooks.failed_in == "inner.gate" and all(end >= 0 for _, _, end, _ in hooks.calls)
        _failing[0] = None
        assert _spans(gm, x, layers) == before
        # through profile: the counting pass runs, the first measured one fails in the layer, named
        _failing[0] = 1
        with pytest.raises(torchcount.ForwardError, match=r"in module 'inner.gate' \(_Gate\): ValueError: told to fail"):
            run(gm, x, measure=True, warmup=0, repeat=1)
    finally:
        _failing[0] = None


class _Twice(nn.Module):
    def forward(self, x):
        y = x * 2
        return torch.sin(y) + 1


class _Cos(nn.Module):
    def forward(self, x):
        return torch.cos(x)


class _Both(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = _Twice(), _Cos()

    def forward(self, x):
        return self.a(x) + self.b(x)


def test_a_layer_whose_span_another_interrupts_is_timed_in_both_spans_and_returns_its_output_only():
    """A graph pass that moves ``b``'s cos between ``a``'s mul and sin: ``a``'s span is interrupted and
    goes on. Each span is stamped (two under the root, their times summed in one row), and ``a``'s
    activation is its output only, one 64×64 float32 tensor (16 KiB, as in the eager model), not also
    the product its resumed span reads."""
    from torchcount.graph import graph_layers
    from torchcount.measure.timing import CpuClock, analyse_pass, timing_hooks

    model, x = _Both(), torch.randn(64, 64)
    gm = torch.fx.symbolic_trace(model)
    cos = next(n for n in gm.graph.nodes if n.target is torch.cos)
    next(n for n in gm.graph.nodes if n.target is torch.sin).prepend(cos)
    gm.recompile()
    assert torch.equal(gm(x), model(x))
    layers = graph_layers(gm, list(gm.named_modules()))
    assert _spans(gm, x, layers) == [("", None), ("a", ""), ("b", ""), ("a", "")]
    clock = CpuClock()
    with torch.no_grad(), timing_hooks(gm, clock, list(gm.named_modules()), layers) as hooks:
        clock.start_pass()
        gm(x)
    stamps = clock.finish_pass()
    spans = [stamps[end] - stamps[start] for path, start, end, _ in hooks.calls if path == "a"]
    assert analyse_pass(hooks.calls, stamps, 0).inclusive["a"] == sum(spans) and len(spans) == 2
    report = run(gm, x, measure=True, warmup=0, repeat=1)
    assert report.row("a").extra["act_MiB"] * 2**20 == 64 * 64 * 4
    assert report.row("a").extra["act_MiB"] == run(model, x, measure=True, warmup=0, repeat=1).row("a").extra["act_MiB"]
    assert report.row("a").output_shapes == report.row("b").output_shapes


def test_the_graphs_copy_is_compiled_once_per_profile(monkeypatch):
    """The counting pass, 2 warm-up and 3 timed passes, each stamped, and the memory pass run the
    graph's copy with switches of their own: its code is compiled once, not per pass."""
    import torchcount.graph as graph

    compiled = []

    def counting_compile(source, filename, mode, *args, **kwargs):
        compiled.append(filename)
        return compile(source, filename, mode, *args, **kwargs)

    monkeypatch.setattr(graph, "compile", counting_compile, raising=False)
    model, x, ep = _exported("cnn")
    report = run(ep.module(), x, measure=True, warmup=2, repeat=3)
    assert report.row("features.0").extra["time_ms"] > 0
    assert compiled == ["<torchcount: the graph of GraphModule, with layer markers>"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_graph_exported_with_a_dynamic_batch_has_the_eager_models_rows(name):
    """With ``dynamic_shapes`` torch.export adds a ``sym_size`` node reading the batch, whose module
    stack is torch's placeholder frame ``_empty_nn_module_stack_from_metadata_hook`` (no module):
    it is the root's, not a row of its own. Profiled at another batch (5), the rows are the eager
    model's at that batch."""
    model, x, _ = _exported(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ep = torch.export.export(model, (x,), dynamic_shapes=({0: torch.export.Dim("batch", min=2, max=64)},))
    gm = ep.module()
    x5 = torch.randn(5, *x.shape[1:])
    exported = run(gm, x5)
    assert not any("_empty" in row.path for row in exported.layers)
    _same_rows(run(model, x5), exported)


def test_a_decomposed_training_mode_batch_norm_is_priced_as_the_eager_layer():
    """A training-mode export after ``run_decompositions()`` runs
    ``_native_batch_norm_legit_functional`` (its running statistics' update returned, not written in
    place): the eager rule's batch statistics, normalisation, affine and running-statistics update,
    plus the one addition to ``num_batches_tracked`` the graph runs as an op of the layer."""
    torch.manual_seed(0)
    model, x = CNN().train(), torch.randn(2, 3, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = torch.export.export(model, (x,)).run_decompositions().module()
    exported, eager = run(gm, x), run(model, x)
    assert not exported.uncounted
    bn, want = exported.row("features.1").cost, eager.row("features.1").cost
    for category in OP_CATEGORIES:
        assert getattr(bn, category) == getattr(want, category) + (1 if category == "adds" else 0), category



@pytest.mark.parametrize("training", [True, False])
def test_a_decomposed_export_of_rrelu_is_priced_as_the_eager_layer(training):
    """After ``run_decompositions()`` an RReLU runs ``rrelu_with_noise_functional`` (its noise
    returned, not written in place): the leaky-ReLU recipe per element, 1 comparison, 1
    multiplication (× the slope) and 1 assignment, 2·6 = 12 elements here, as the eager layer."""
    model, x = nn.Sequential(nn.Linear(4, 6), nn.RReLU()).train(training), torch.randn(2, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = torch.export.export(model, (x,)).run_decompositions().module()
    exported, eager = run(gm, x), run(model, x)
    assert not exported.uncounted
    assert {c: getattr(exported.row("1").cost, c) for c in ("cmps", "mults", "assigns")} == \
        {"cmps": 12, "mults": 12, "assigns": 12}
    for category in OP_CATEGORIES:
        assert getattr(exported.row("1").cost, category) == getattr(eager.row("1").cost, category), category


def test_a_decomposed_export_prices_activations_core_aten_writes_out_by_their_ops():
    """docs/coverage.md: core ATen writes Hardswish as x·clamp(clamp(x + 3, min=0), max=6)/6 and
    Softplus as where(βx > t, x, log1p(exp(βx))/β); their rows are those ops' counts. Per element:
    Hardswish 1 add, 2 × (1 cmp + 1 assignment), 1 mult, 1 div (the recipe: 1 assignment);
    Softplus 1 mult, exp and log1p, 1 div, 1 cmp, 1 assignment (the recipe: + 1 addition)."""
    x, n = torch.randn(2, 4), 8
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for module, by_ops, recipe_extra in [
                (nn.Hardswish(), {"adds": 1, "cmps": 2, "assigns": 2, "mults": 1, "divs": 1}, {"assigns": -1}),
                (nn.Softplus(), {"mults": 1, "transc": 2, "divs": 1, "cmps": 1, "assigns": 1}, {"adds": 1})]:
            gm = torch.export.export(nn.Sequential(module), (x,)).run_decompositions().module()
            exported, eager = run(gm, x).row("0").cost, run(module, x).total.cost
            assert {c: getattr(exported, c) for c in OP_CATEGORIES if getattr(exported, c)} == \
                {c: k * n for c, k in by_ops.items()}
            for category in OP_CATEGORIES:
                assert getattr(eager, category) == getattr(exported, category) + n * recipe_extra.get(category, 0)

class _Text(nn.Module):
    """Embedding, an eval-or-train TransformerEncoder with dropout, LSTM, GRU, LayerNorm, GroupNorm."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(50, 16)
        self.enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2, 32, dropout=0.1, batch_first=True), 2,
                                         enable_nested_tensor=False)
        self.lstm, self.gru = nn.LSTM(16, 8, batch_first=True), nn.GRU(8, 8, batch_first=True)
        self.ln, self.gn = nn.LayerNorm(8), nn.GroupNorm(2, 8)

    def forward(self, t):
        h, _ = self.lstm(self.enc(self.emb(t)))
        h, _ = self.gru(h)
        return self.gn(self.ln(h).transpose(1, 2))


def _zoo():
    import torchvision

    return {"resnet18": (torchvision.models.resnet18, (2, 3, 64, 64)),
            "mobilenet_v3_small": (torchvision.models.mobilenet_v3_small, (2, 3, 64, 64)),
            "vit": (lambda: torchvision.models.VisionTransformer(32, 8, 2, 2, 32, 64), (2, 3, 32, 32)),
            "text": (_Text, None)}


@pytest.mark.slow
@pytest.mark.parametrize("decompose", [False, True], ids=["export", "core-aten"])
@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small", "vit", "text"])
def test_an_exported_model_counts_what_the_eager_model_counts(name, training, decompose):
    """Exported in either mode, decomposed to core ATen or not: every op counted, and the eager
    model's MACs and parameters (references: the eager report, whose layers are priced by rules)."""
    make, shape = _zoo()[name]
    torch.manual_seed(0)
    model = make().train(training)
    x = torch.randint(0, 50, (2, 7)) if shape is None else torch.randn(shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ep = torch.export.export(model, (x,))
        if decompose:
            ep = ep.run_decompositions()
    exported, eager = run(ep.module(), x), run(model, x)
    assert exported.complete, sorted({u.what for u in exported.uncounted})
    assert (exported.total.cost.macs, exported.total.params) == (eager.total.cost.macs, eager.total.params)


class _Backbone(nn.Module):
    """An eager wrapper holding a graph as a submodule, with work of its own around it."""

    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone

    def forward(self, x):
        return self.backbone(x) * 2


def _nested_rows_match(bare, nested, prefix):
    """Every row of the bare GraphModule's report is a row of the nested one at ``prefix`` + its path
    (the root at ``prefix``), with the same type, calls, parameters, MACs, convention ops and shapes."""
    for row in [bare.root, *bare.layers]:
        if row is None:
            continue
        path = f"{prefix}.{row.path}" if row.path else prefix
        other = nested.row(path)
        assert other.type == row.type, path
        assert (other.calls, other.params, other.self_params) == (row.calls, row.params, row.self_params), path
        assert (other.cost.macs, other.ops(), other.self_cost.macs, other.self_cost.ops) == \
            (row.cost.macs, row.ops(), row.self_cost.macs, row.self_cost.ops), path
        assert (other.input_shapes, other.output_shapes) == (row.input_shapes, row.output_shapes), path
    assert not any("never called" in note for note in nested.notes)


@pytest.mark.parametrize("how", ["sequential", "wrapper", "symbolic_trace", "unflatten"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_a_graph_inside_an_eager_model_has_its_layers_rows_under_its_path(name, how):
    """``nn.Sequential(pre, ep.module())``, a wrapper's ``self.backbone = ep.module()``, a
    symbolic_trace'd or unflattened submodule: the graph's layers are rows under its path, as the bare
    graph's report has them (the original types, MACs, parameters; out_proj's in attn's row); the
    wrapper's own ×2 is its own (one multiply per output element), and the total is the bare graph's
    plus that."""
    model, x, ep = _exported(name)
    if how == "unflatten":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            graph = torch.export.unflatten(ep)
    else:
        graph = torch.fx.symbolic_trace(model) if how == "symbolic_trace" else ep.module()
    if how == "sequential":
        outer, prefix = nn.Sequential(nn.Identity(), graph), "1"
    else:
        outer, prefix = _Backbone(graph), "backbone"
    bare = run(graph, x)
    before = snapshot(outer)
    nested = run(outer, x)
    assert snapshot(outer) == before
    _nested_rows_match(bare, nested, prefix)
    extra = _sdpa_macs(2, 5, 16) if name == "block" else 0
    assert nested.total.cost.macs == bare.total.cost.macs == _flop_counter_macs(model, x) + extra
    if how != "sequential":
        assert nested.root.self_cost.mults == graph(x).numel()
        assert nested.total.cost.ops == bare.total.cost.ops + graph(x).numel()
    if name == "cnn":  # the ReLU, which no module of the GraphModule holds, by hand
        relu = nested.row(f"{prefix}.features.2")
        assert (relu.type, relu.cost.cmps) == ("ReLU", 2 * 8 * 8 * 8)
    if name == "block":
        assert nested.row(f"{prefix}.attn").params == 3 * 16 * 16 + 3 * 16 + 16 * 16 + 16
        assert f"{prefix}.attn.out_proj" not in [r.path for r in nested.layers]
    assert any(note.startswith(f"{prefix} (") and "nn_module_stack" in note for note in nested.notes)


def test_two_graphs_in_one_model_each_have_their_layers_rows():
    """Two exported modules side by side: each one's layers under its own path, its types; the
    training-mode note names the one exported in training mode by its path."""
    _, x_cnn, ep_cnn = _exported("cnn")
    torch.manual_seed(0)
    x_mlp = torch.randn(4, 16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlp = torch.export.export(MLP().train(), (x_mlp,)).module()

    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.cnn, self.mlp = ep_cnn.module(), mlp

        def forward(self, a, b):
            return self.cnn(a), self.mlp(b)

    report = run(Two(), x_cnn, x_mlp)
    _nested_rows_match(run(ep_cnn.module(), x_cnn), report, "cnn")
    assert (report.row("mlp.body.2").type, report.row("mlp.body.0").cost.macs) == ("Dropout", 4 * 16 * 32)
    training = [n for n in report.notes if n.startswith("exported in training mode")]
    assert len(training) == 1 and training[0].startswith("exported in training mode: mlp.body.2 (Dropout) run")


def test_measuring_times_the_layers_of_a_graph_inside_an_eager_model():
    """``measure=True`` on a wrapper of ``ep.module()``: each original layer under the path is timed,
    its children's times fit in its own, and its activation bytes are the bare graph's."""
    model, x, ep = _exported("cnn")
    outer = _Backbone(ep.module())
    before = snapshot(outer)
    report = run(outer, x, measure=True, warmup=0, repeat=3)
    bare = run(ep.module(), x, measure=True, warmup=0, repeat=1)
    assert snapshot(outer) == before
    assert not any("not timed" in note for note in report.notes)
    for path in ("features", "features.0", "features.1", "features.2", "features.3", "head"):
        extra = report.row(f"backbone.{path}").extra
        assert extra["time_ms"] > 0, path
        assert extra["act_MiB"] == bare.row(path).extra["act_MiB"], path
    _children_fit_in_each_pass(report, "backbone.features", [f"backbone.features.{i}" for i in range(4)])
    _children_fit_in_each_pass(report, "backbone", ["backbone.features", "backbone.head"])


def test_a_failing_layer_of_a_graph_inside_an_eager_model_is_named_by_its_path():
    """The failure of a layer inside a nested graph names it by its path in the whole model and its
    original type, counting (ep.module()'s Chol) and measuring (a symbolic_trace'd layer without a
    module of its own); the model is left as found."""
    outer = nn.Sequential(nn.Identity(), _Backbone(torch.export.export(Gram(), (torch.randn(3, 3),)).module()))
    before = snapshot(outer)
    with pytest.raises(torchcount.ForwardError) as err:
        run(outer, torch.full((3, 3), float("nan")) - torch.eye(3) * 1e9)
    assert err.value.path == "1.backbone.chol" and "'1.backbone.chol' (Chol)" in str(err.value)
    assert snapshot(outer) == before

    torch.manual_seed(0)
    outer = _Backbone(torch.fx.symbolic_trace(_Outer()))
    before = snapshot(outer)
    _failing[0] = 1  # (the counting pass runs, the first measured one fails in the gate)
    try:
        with pytest.raises(torchcount.ForwardError,
                           match=r"in module 'backbone.inner.gate' \(_Gate\): ValueError: told to fail"):
            run(outer, torch.randn(3, 4), measure=True, warmup=0, repeat=1)
    finally:
        _failing[0] = None
    assert snapshot(outer) == before


def test_a_forward_the_user_set_on_the_graph_module_is_the_one_run():
    """A GraphModule whose ``forward`` the user replaced on the instance (a wrapper that scales the
    graph's output) runs that forward, once, as it does without torchcount: its multiplication of the
    2×10 output (20 multiplications) is counted beside the graph's work, and the wrapper is put back."""
    model, x, ep = _exported("cnn")
    plain = run(ep.module(), x)
    gm = ep.module()
    graph_forward, calls = gm.forward, []

    def scaled(*args):
        calls.append(1)
        return graph_forward(*args) * 2

    gm.forward = scaled
    report = run(gm, x)
    assert calls == [1]
    assert gm.__dict__["forward"] is scaled
    assert report.total.cost.macs == plain.total.cost.macs
    assert report.total.cost.mults == plain.total.cost.mults + 2 * 10
    assert report.total.params == plain.total.params


class _NoGradInner(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner, self.out = nn.Linear(4, 4), nn.Linear(4, 4)

    def forward(self, x):
        with torch.no_grad():
            x = self.inner(x) * 3
        return self.out(x)


class _NoGrad(nn.Module):
    """Regions under ``torch.no_grad()``: export runs each as a subgraph (``submod_1``) that the
    ``wrap_with_set_grad_enabled`` higher-order op calls, whose nodes name the original layers."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.block, self.c = nn.Linear(4, 4), nn.Linear(4, 4), _NoGradInner(), nn.Linear(4, 2)

    def forward(self, x):
        x = self.a(x)
        with torch.no_grad():
            y = self.b(x).relu()
        return self.c(self.block(x + y))


def test_the_layers_of_a_no_grad_region_have_their_rows_as_in_the_eager_model():
    """The layers ``torch.no_grad()`` wraps (``b`` under the root, ``block.inner`` under ``block``) have
    the eager model's rows: one call each, 16 + 4 = 20 parameters and 2·4·4 = 32 MACs, where the
    region's GraphModule (``submod_1``) is no row; their parents' own work (the relu, the
    multiplication by 3) is theirs; the measured pass nests their spans as the eager model's (the
    region's call is no span)."""
    from torchcount.graph import graph_layers

    torch.manual_seed(0)
    model, x = _NoGrad().eval(), torch.randn(2, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = torch.export.export(model, (x,)).module()
    hops = {n.target.name() for n in gm.graph.nodes if isinstance(n.target, torch._ops.HigherOrderOperator)}
    hops |= {n.target.name() for n in gm.block.graph.nodes} if isinstance(getattr(gm, "block", None), torch.fx.GraphModule) else set()
    assert "wrap_with_set_grad_enabled" in hops
    before = snapshot(gm)
    eager, exported = run(model, x), run(gm, x)
    _same_rows(eager, exported)
    for path in ("b", "block.inner"):
        row = exported.row(path)
        assert (row.type, row.calls, row.params, row.cost.macs) == ("Linear", 1, 20, 32), path
    assert exported.row("block").self_cost.mults == 8  # (× 3)
    assert not [row.path for row in exported.layers if row.path.startswith("submod")]
    assert snapshot(gm) == before
    spans = [s for s in _spans(gm, x, graph_layers(gm, list(gm.named_modules()))) if s[0] != "_guards_fn"]
    assert spans == _spans(model, x)
    assert snapshot(gm) == before


_COND_EXPORT = """
import json, sys, torch, torchcount
from torch import nn

class Branches(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 8), nn.Linear(4, 8)

    def forward(self, x):
        return torch.cond(x.sum() > 0, lambda x: self.a(x), lambda x: self.b(x) * 2, (x,))

class Loop(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        from torch._higher_order_ops.while_loop import while_loop
        return while_loop(lambda i, x: i < 3, lambda i, x: (i + 1, self.lin(x)), (torch.tensor(0), x))[1]

model, loop, x = Branches().eval(), Loop().eval(), float(sys.argv[1]) * torch.ones(2, 4)
program = torch.export.export(model, (x,))  # (first: see the test)
looped = torch.export.export(loop, (x,))
graph = torchcount.profile(program.module(), x, warn=False)
eager = torchcount.profile(model, x, warn=False)
loop_graph = torchcount.profile(looped.module(), x, warn=False)
loop_eager = torchcount.profile(loop, x, warn=False)
print(json.dumps({"graph": list(graph.total.cost), "eager": list(eager.total.cost), "complete": graph.complete,
                  "rows": {row.path: [row.calls, row.cost.macs] for row in graph.layers},
                  "loop": [list(loop_graph.total.cost), list(loop_eager.total.cost), loop_graph.complete]}))
"""


@needs("torch.export naming each node's module by its path")
@needs("higher-order ops reaching a dispatch mode as one op")
@pytest.mark.parametrize("sign", [1, -1])
def test_an_exported_cond_counts_what_the_eager_model_counts(sign):
    """A torch.cond in an exported program runs the branch taken with op recording on: every category,
    bytes included, equals the eager model's (64 MACs of the layer taken; b's `* 2`: 16 mults), and
    the branch's work is its GraphModule's row (torch 2.11 names no layer in a branch's nodes); a
    while_loop's body and condition are counted as in the eager model. Run in
    a process of its own, exporting first: once torch.cond has run under a dispatch mode that takes
    higher-order ops (any other test's profile of a cond), torch 2.11 cannot export a cond model in
    that process (docs/coverage.md)."""
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _COND_EXPORT, str(sign)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["graph"] == result["eager"] and result["complete"]
    macs, mults = result["eager"][0], result["eager"][1]
    assert (macs, mults) == (64, 0 if sign > 0 else 16)
    taken = "true_graph_0" if sign > 0 else "false_graph_0"
    assert result["rows"][taken][1] == 64
    # a while_loop (i from 0 while i < 3, x = lin(x)), which export writes as while_loop_stack_output:
    # 3·2·4·4 = 96 MACs, 3·8 bias adds and 3 increments, 4 comparisons, as the eager model; its bytes
    # differ (the program also stacks each step's outputs)
    graph_loop, eager_loop, complete = result["loop"]
    assert complete and graph_loop[:7] == eager_loop[:7] and eager_loop[:7] == [96, 0, 27, 0, 4, 0, 0]


def _scaling_op():
    """A custom op that writes its input (x *= s), registered once per process; None where torch lacks
    torch.library.custom_op."""
    if not hasattr(torch.library, "custom_op"):
        return None
    if not hasattr(_scaling_op, "op"):
        @torch.library.custom_op("torchcount_test::scale_", mutates_args={"x"})
        def scale_(x: torch.Tensor, s: float) -> None:
            x.mul_(s)

        _scaling_op.op = scale_
    return _scaling_op.op


class _Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        y = self.lin(x)
        _scaling_op()(y, 2.0)
        return y


@needs("torch.export naming each node's module by its path")
@needs("higher-order ops reaching a dispatch mode as one op")
def test_a_custom_op_writing_its_input_is_named_in_an_exported_program_as_in_the_eager_model():
    """After run_decompositions a custom op that writes its input is wrapped in auto_functionalized(_v2),
    which runs it on a copy: that wrapper was the one uncounted op listed. It runs with recording on,
    so the custom op itself is listed, as in the eager model; the layer's 2·4·4 = 32 MACs either way."""
    if _scaling_op() is None:
        pytest.skip(f"torch {torch.__version__} lacks torch.library.custom_op")
    model, x = _Scaled().eval(), torch.ones(2, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.export.export(model, (x,)).run_decompositions()
    # (the program does wrap it: the test would pass vacuously otherwise)
    assert any("auto_functionalized" in str(n.target) for n in program.graph.nodes)
    graph = torchcount.profile(program.module(), x, warn=False)
    eager = torchcount.profile(model, x, warn=False)
    assert [(u.what, u.calls) for u in graph.uncounted] == [(u.what, u.calls) for u in eager.uncounted] \
        == [("torchcount_test.scale_.default", 1)]
    assert graph.total.macs == eager.total.macs == 32


@pytest.mark.parametrize("n", [4, 5])
def test_the_exported_training_mode_note_names_four_layers_then_an_ellipsis(n):
    """A Sequential of n Dropout(0.5) exported in training mode runs each one's dropout in its graph: the
    note names all four of 4 (0 … 3, each '(Dropout)') and ends there, and the same four then ' …' of 5,
    as the eager training-mode note does."""
    x = torch.randn(2, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = torch.export.export(nn.Sequential(*[nn.Dropout() for _ in range(n)]).train(), (x,)).module()
    (note,) = [note for note in run(gm, x).notes if "training mode" in note]
    named = ", ".join(f"{i} (Dropout)" for i in range(4))
    assert note.startswith(f"exported in training mode: {named}{' …' if n == 5 else ''} run their ops")
