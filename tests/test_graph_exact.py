"""graph.py's markers, pinned by numbers and row paths one can check by hand against the same model
run eagerly: what a layer that returns two values gave (counted and measured), the inputs of a layer
(in a ``torch.no_grad()`` region its weights are the region's arguments, not the layer's; a view of
its input is no new storage), a region's op that names no module, the unpacking of a region's output,
holders a parent reads, a graph called from another thread, a traced leaf that raises, a strict
export's frames keyed by object ids, a module path in a form not read here, and the one graph a
program is.
"""
import threading
import warnings

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import torchcount
from conftest import needs, run
from test_state import snapshot
from test_torch_export import CNN, Block, _Both, _NoGrad, _NoGradInner, _spans

pytestmark = needs("torch.export naming each node's module by its path")


def _export(model, x):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.export.export(model, (x,)).module()


def _layers(gm):
    from torchcount.graph import graph_layers

    return graph_layers(gm, list(gm.named_modules()))


class _Split(nn.Module):
    def forward(self, x):
        return x[:, :2] * 2, x[:, 2:] + 1


class _Splits(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin, self.split = nn.Linear(4, 5), _Split()

    def forward(self, x):
        a, b = self.split(self.lin(x))
        return a.sum() + b.sum()


def test_a_layer_of_a_graph_that_returns_two_tensors_has_both_output_shapes():
    """``split`` returns the 2×5 input's first 2 columns and its last 3: its row's output shapes are
    [(2, 2), (2, 3)], as the eager module's; ``lin``'s one output is (2, 5), not a tuple of it."""
    torch.manual_seed(0)
    model, x = _Splits(), torch.randn(2, 4)
    eager = run(model, x)
    assert eager.row("split").output_shapes == [(2, 2), (2, 3)]
    for graph in (_export(model, x), torch.fx.symbolic_trace(model)):
        report = run(graph, x)
        assert report.row("split").output_shapes == [(2, 2), (2, 3)]
        assert (report.row("lin").input_shapes, report.row("lin").output_shapes) == ([(2, 4)], [(2, 5)])
        assert report.row("split").self_cost.mults == 2 * 2 and report.row("split").self_cost.adds == 2 * 3


def test_the_layers_of_a_no_grad_region_were_given_their_input_not_their_weights():
    """The region's op passes ``b``'s weight and bias after its input (wrap_with_set_grad_enabled(False,
    submod, x, w, b)): ``b`` was given the 2×4 activation only, as in the eager model; its weights are
    what it holds. ``block.inner`` likewise; ``block`` was given the 2×4 sum."""
    torch.manual_seed(0)
    model, x = _NoGrad().eval(), torch.randn(2, 4)
    report, eager = run(_export(model, x), x), run(model, x)
    for path in ("b", "block", "block.inner"):
        row = report.row(path)
        assert (row.input_shapes, row.output_shapes) == ([(2, 4)], [(2, 4)]), path
        assert (row.input_shapes, row.output_shapes) == (eager.row(path).input_shapes, eager.row(path).output_shapes)


class _Mid(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = _NoGradInner()

    def forward(self, x):
        return self.block(x)


class _Deep(nn.Module):
    """The no_grad region two modules deep: it is called with ``mid`` and ``mid.block`` open."""

    def __init__(self):
        super().__init__()
        self.mid = _Mid()

    def forward(self, x):
        return self.mid(x)


def test_an_op_of_a_nested_region_that_names_no_module_is_the_roots_and_its_layers_go_on():
    """A region's node whose stack names no module (as torch.export's ``sym_size`` of a dynamic
    dimension has none) is the root's own, as in the graph itself: with the region's ``* 3`` so
    stripped, its 2·4 = 8 multiplications are the root's, ``mid.block``'s own are 0, and the layers
    it interrupted go on: one call each of ``mid`` and ``mid.block``, ``block.inner`` 2·4·4 = 32 MACs,
    ``block.out`` 32, the total 64 MACs and 8 multiplications, as the eager model's."""
    torch.manual_seed(0)
    model, x = _Deep().eval(), torch.randn(2, 4)
    gm = _export(model, x)
    region = next(m for name, m in gm.named_modules() if name.startswith("submod") and isinstance(m, torch.fx.GraphModule))
    mul = next(n for n in region.graph.nodes if n.target is torch.ops.aten.mul.Tensor)
    assert [path for path, _ in mul.meta["nn_module_stack"].values()] == ["", "mid", "mid.block"]
    del mul.meta["nn_module_stack"]
    report = run(gm, x)
    assert report.root.self_cost.mults == 8 and report.row("mid.block").self_cost.mults == 0
    assert [(report.row(p).calls, report.row(p).cost.macs) for p in ("mid", "mid.block", "mid.block.inner",
                                                                       "mid.block.out")] == [(1, 64), (1, 64), (1, 32), (1, 32)]
    assert (report.total.cost.macs, report.total.cost.mults) == (64, 8) == \
        (run(model, x).total.cost.macs, run(model, x).total.cost.mults)


def test_the_unpacking_of_a_regions_output_is_done_where_the_region_ran():
    """The ``getitem`` taking the no_grad region's output runs no work: it is the region's op's, in
    ``block`` (a torch that wrote it no module stack, as here, must not split ``block``): ``block`` is
    one span, one call, 32 + 32 = 64 MACs and its × 3 (8 multiplications), as in the eager model."""
    torch.manual_seed(0)
    model, x = _NoGrad().eval(), torch.randn(2, 4)
    gm = _export(model, x)
    hop = next(n for n in gm.graph.nodes if n.op == "call_function" and "block" in
               [p for p, _ in (n.meta.get("nn_module_stack") or {}).values()] and n.target is not torch.ops.aten.linear.default)
    unpack = [u for u in hop.users if u.target.__name__ == "getitem"]
    assert len(unpack) == 1
    del unpack[0].meta["nn_module_stack"]
    report = run(gm, x)
    block = report.row("block")
    assert (block.calls, block.cost.macs, block.self_cost.mults) == (1, 64, 8)
    spans = [s for s in _spans(gm, x, _layers(gm)) if s[0] != "_guards_fn"]
    assert spans == _spans(model, x) and [s[0] for s in spans].count("block") == 1


class _AttentionThenRegion(nn.Module):
    def __init__(self):
        super().__init__()
        self.block, self.post = Block(), nn.Linear(16, 16)

    def forward(self, x):
        x = self.block(x)
        with torch.no_grad():
            x = self.post(x)
        return x


def test_the_holder_attention_reads_is_in_its_row_in_a_graph_with_a_region():
    """MultiheadAttention reads ``out_proj``'s weights without calling it: in a graph that also has a
    no_grad region (a subgraph read before the model's own), ``block.attn``'s row still holds them,
    3·16·16 + 3·16 + 16·16 + 16 = 1,088 parameters, as the eager row does; no 'never called' row."""
    torch.manual_seed(0)
    model, x = _AttentionThenRegion().eval(), torch.randn(2, 5, 16)
    gm = _export(model, x)
    assert any(isinstance(m, torch.fx.GraphModule) for name, m in gm.named_modules() if name.startswith("submod"))
    report = run(gm, x)
    assert report.row("block.attn").params == run(model, x).row("block.attn").params == 3 * 16 * 16 + 3 * 16 + 16 * 16 + 16
    assert "block.attn.out_proj" not in [r.path for r in report.layers]
    assert not any("never called" in note for note in report.notes)


def test_a_program_with_regions_is_one_graph():
    """The no_grad regions' GraphModules (``submod_1``, ``submod_3``) are parts of the root's graph,
    not graphs of their own: the note names one graph, the root's."""
    torch.manual_seed(0)
    model, x = _NoGrad().eval(), torch.randn(2, 4)
    gm = _export(model, x)
    notes = [n for n in run(gm, x).notes if "from torch.export or torch.fx" in n]
    assert len(notes) == 1 and notes[0].startswith("GraphModule: a graph from torch.export or torch.fx;"), notes
    assert _layers(gm).where == ("",)


class _Threaded(nn.Module):
    """Runs its graph once in another thread (joined before it goes on), then once itself."""

    def __init__(self, graph):
        super().__init__()
        self.g = graph

    def forward(self, x):
        out = []
        worker = threading.Thread(target=lambda: out.append(self.g(x)))
        worker.start()
        worker.join()
        return self.g(x) + out[0]


def test_a_graph_run_in_another_thread_is_not_counted_or_timed():
    """The other thread's run of the graph is not the profile's (as an eager module's is not): the
    conv's one call, 2·8·(8·8)·(3·3·3) = 27,648 MACs, the head's 2·128·10 = 2,560; the measured pass
    spans each layer once, as one run of the bare graph; the model is left as found."""
    torch.manual_seed(0)
    model, x = CNN().eval(), torch.randn(2, 3, 8, 8)
    gm = _export(model, x)
    outer = _Threaded(gm)
    before = snapshot(outer)
    report = run(outer, x)
    assert snapshot(outer) == before
    assert (report.row("g.features.0").calls, report.row("g.features.0").cost.macs) == (1, 27648)
    assert (report.row("g.head").calls, report.row("g.head").cost.macs) == (1, 2560)
    assert report.total.cost.macs == 27648 + 2560
    spans = [path for path, _ in _spans(outer, x, _layers(outer)) if not path.endswith("_guards_fn")]
    assert spans == ["", "g"] + [f"g.{path}" for path, _ in _spans(model, x) if path]


def test_a_module_path_in_a_form_not_read_here_leaves_the_graph_one_row():
    """A path in Python's indexing without Dynamo's root (``features[0]``) or with an empty part
    (``features..0``) is not read: the graph is not split into layers, its work is the GraphModule's
    own, 27,648 + 2,560 = 30,208 MACs (conv and head, by hand), and no row is a layer it names."""
    torch.manual_seed(0)
    model, x = CNN().eval(), torch.randn(2, 3, 8, 8)
    for bad in ("features[0]", "features..0"):
        gm = _export(model, x)
        for node in gm.graph.nodes:
            stack = node.meta.get("nn_module_stack")
            if stack:
                node.meta["nn_module_stack"] = {k: (bad if path == "features.0" else path, kind)
                                                for k, (path, kind) in stack.items()}
        report = run(gm, x)
        assert report.root.self_cost.macs == report.total.cost.macs == 30208, bad
        assert not any("nn_module_stack" in note for note in report.notes), bad
        assert not any(row.path in ("features.2", "features.3", bad) for row in report.layers), bad


class _Holder(nn.Module):  # (never called: a weight its parent reads, and a Linear below it)
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(4, 4))
        self.sub = nn.Linear(4, 4)


class _Reads(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = _Holder()

    def forward(self, x):
        return x @ self.proj.weight


class _ReadsOuter(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = _Reads()

    def forward(self, x):
        return self.inner(x)


def test_an_unflattened_holder_with_modules_below_it_keeps_its_never_called_row():
    """``inner`` reads ``proj.weight`` itself; ``proj`` also holds a Linear (``sub``) and neither is ever
    called. Unflattened, ``proj`` is not a holder only its reader's row takes in (it has a module below
    it): as in the eager model, ``proj`` and ``proj.sub`` are rows never called, 16 + 20 = 36 and 20
    parameters, both named in the note; ``inner`` 2·4·4 = 32 MACs."""
    torch.manual_seed(0)
    model, x = _ReadsOuter().eval(), torch.randn(2, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        unflat = torch.export.unflatten(torch.export.export(model, (x,)))
    report, eager = run(unflat, x), run(model, x)
    for path, want in (("inner", (1, 36, 32)), ("inner.proj", (0, 36, 0)), ("inner.proj.sub", (0, 20, 0))):
        row, other = report.row(path), eager.row(path)
        assert (row.calls, row.params, row.cost.macs) == want == (other.calls, other.params, other.cost.macs), path
    never = [n for n in report.notes if n.startswith("never called")]
    assert len(never) == 1 and never[0].endswith(": inner.proj, inner.proj.sub"), never


def test_a_measured_layer_of_a_graph_that_returns_two_tensors_made_both():
    """The memory pass sees both of ``split``'s outputs: 2·2 + 2·3 = 10 new float32 elements, 40
    bytes, as the eager module's (only the first would be 16)."""
    torch.manual_seed(0)
    model, x = _Splits(), torch.randn(2, 4)
    eager = run(model, x, measure=True, warmup=0, repeat=1)
    for graph in (_export(model, x), torch.fx.symbolic_trace(model)):
        report = run(graph, x, measure=True, warmup=0, repeat=1)
        assert report.row("split").extra["act_MiB"] * 2**20 == 40 == eager.row("split").extra["act_MiB"] * 2**20


def test_a_measured_layer_of_a_graph_returning_a_view_of_its_input_made_nothing():
    """``Flatten`` returns a view of the 2×4×6×6 convolution output it was given: no new storage, an
    activation of 0 bytes, as the eager module's; the convolution's own output is 2·4·6·6·4 = 1,152
    bytes. (The span's inputs are what the memory pass tells an output it made from one it was given.)"""
    torch.manual_seed(0)
    model, x = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(144, 2)).eval(), torch.randn(2, 3, 8, 8)
    eager = run(model, x, measure=True, warmup=0, repeat=1)
    report = run(_export(model, x), x, measure=True, warmup=0, repeat=1)
    assert [report.row(p).extra["act_MiB"] * 2**20 for p in ("0", "1")] == [1152, 0] == \
        [eager.row(p).extra["act_MiB"] * 2**20 for p in ("0", "1")]


class _Lin(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 4)

    def forward(self, x):
        return self.linear(x).relu()


class _LinOuter(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = _Lin()

    def forward(self, x):
        return self.inner(x) * 2


def test_a_leaf_module_of_a_traced_graph_that_raises_is_the_failing_layer():
    """symbolic_trace keeps ``inner.linear`` a module (its parent ``inner`` is a span of the graph):
    given 5 features for its 4, it raises, and the failure is its own, by path and type, as in the
    eager model, not the span ``inner`` it ran in."""
    torch.manual_seed(0)
    model, bad = _LinOuter(), torch.randn(3, 5)
    gm = torch.fx.symbolic_trace(model)
    before = snapshot(gm)
    for module in (model, gm):
        with pytest.raises(torchcount.ForwardError) as err:
            run(module, bad)
        assert err.value.path == "inner.linear" and "'inner.linear' (Linear)" in str(err.value)
    assert snapshot(gm) == before


class _ReadsCalled(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = _Holder()

    def forward(self, x):
        return self.proj.sub(x) @ self.proj.weight


class _ReadsCalledOuter(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = _ReadsCalled()

    def forward(self, x):
        return self.inner(x)


def test_a_holder_whose_weight_a_parent_reads_and_whose_child_runs_keeps_its_row():
    """``inner`` calls ``proj.sub`` and reads ``proj.weight`` itself: ``proj`` (never called, holding a
    layer that runs) keeps its row in ``ep.module()``'s report as in the eager one, 16 + 20 = 36
    parameters and its child's 2·4·4 = 32 MACs; ``inner`` 32 + 2·4·4 = 64."""
    torch.manual_seed(0)
    model, x = _ReadsCalledOuter().eval(), torch.randn(2, 4)
    report, eager = run(_export(model, x), x), run(model, x)
    for path, want in (("inner", (1, 36, 64)), ("inner.proj", (0, 36, 32)), ("inner.proj.sub", (1, 20, 32))):
        row, other = report.row(path), eager.row(path)
        assert (row.calls, row.params, row.cost.macs) == want == (other.calls, other.params, other.cost.macs), path


@needs("torch.export.export(strict=True)")
def test_an_interrupted_layer_of_a_strict_export_returns_its_output_only():
    """A strict export keys each module frame by an object id, not its path: ``a``'s span, interrupted
    by ``b``'s cos (moved between its mul and sin), still returns only its 64×64 float32 output
    (16 KiB measured), not also the product its resumed span reads, as in the eager model."""
    model, x = _Both(), torch.randn(64, 64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = torch.export.export(model, (x,), strict=True).module()
    keys = {k for n in gm.graph.nodes for k, (path, _) in (n.meta.get("nn_module_stack") or {}).items() if path == "a"}
    assert keys and "a" not in keys  # (the case this test is for)
    cos = next(n for n in gm.graph.nodes if n.target is torch.ops.aten.cos.default)
    next(n for n in gm.graph.nodes if n.target is torch.ops.aten.sin.default).prepend(cos)
    gm.recompile()
    assert torch.equal(gm(x), model(x))
    report = run(gm, x, measure=True, warmup=0, repeat=1)
    assert report.row("a").extra["act_MiB"] * 2**20 == 64 * 64 * 4
    assert report.row("a").output_shapes == [(64, 64)]


class _ReadsWeight(nn.Module):
    def forward(self, x, w):
        return torch.nn.functional.linear(x, w)


class _ReadsSibling(nn.Module):
    def __init__(self):
        super().__init__()
        self.r, self.rb, self.c = _ReadsWeight(), nn.Linear(4, 4), nn.Linear(4, 4)

    def forward(self, x):
        return self.r(x, self.rb.weight) + x @ self.c.weight


def test_a_holder_read_by_a_sibling_or_by_the_root_stays_a_module_never_called():
    """``r`` is given ``rb``'s weight (not its parent: ``rb`` is not below ``r``, its name only begins
    with ``r``), the root reads ``c``'s: neither holder is a layer's, so both keep their never-called
    rows of 4·4 + 4 = 20 parameters as in the eager model; ``r`` holds none and runs 2·4·4 = 32 MACs, the root 40 parameters and 64 MACs.
    The same below ``p``: ``p.rb`` is given to ``p.r``, the innermost layer of the op that reads it."""
    torch.manual_seed(0)
    model, x = _ReadsSibling().eval(), torch.randn(2, 4)
    report, eager = run(_export(model, x), x), run(model, x)
    for path, want in (("", (1, 40, 64)), ("r", (1, 0, 32)), ("rb", (0, 20, 0)), ("c", (0, 20, 0))):
        row, other = report.row(path), eager.row(path)
        assert (row.calls, row.params, row.cost.macs) == want == (other.calls, other.params, other.cost.macs), path
    # one level down, the op that reads ``p.rb``'s weight runs in ``p.r`` inside ``p``: its reader is the
    # innermost layer, ``p.r``, not ``p`` (which ``p.rb`` is below), so ``p.rb`` keeps its row
    model = nn.Sequential()
    model.add_module("p", _ReadsSibling().eval())
    report, eager = run(_export(model, x), x), run(model, x)
    for path, want in (("p.r", (1, 0, 32)), ("p.rb", (0, 20, 0))):
        row, other = report.row(path), eager.row(path)
        assert (row.calls, row.params, row.cost.macs) == want == (other.calls, other.params, other.cost.macs), path


def test_the_row_of_an_unflattened_module_is_of_its_own_type_its_layers_of_the_originals():
    """The nodes of ``torch.export.unflatten``'s graph name the exported CNN itself as their outermost
    module (path ""): the rows under it take the original types (``features.0`` a Conv2d, ``head`` a
    Linear, as in the eager CNN), but the unflattened module's own row is of its own type,
    ``UnflattenedModule`` (the module at that path), as an ``ep.module()`` there is a GraphModule's row."""
    model, x = CNN().eval(), torch.randn(1, 3, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        unflat = torch.export.unflatten(torch.export.export(model, (x,)))
    for outer, at in ((unflat, ""), (nn.Sequential(nn.Identity(), unflat), "1")):
        report = run(outer, x)
        row = report.row(at) if at else report.root
        assert row.type == type(unflat).__name__ == "UnflattenedModule"
        prefix = f"{at}." if at else ""
        assert (report.row(prefix + "features.0").type, report.row(prefix + "head").type) == ("Conv2d", "Linear")


class _Twice(nn.Module):
    def forward(self, x):
        return x * 2


class _LinTwice(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin, self.twice = nn.Linear(4, 3), _Twice()

    def forward(self, x):
        return self.twice(self.lin(x)).relu()


class _TwoGraphs(nn.Module):
    """Two traced graphs side by side, the path of one a prefix of the other's name: ``g`` and ``g2``."""

    def __init__(self):
        super().__init__()
        self.g, self.g2 = torch.fx.symbolic_trace(_LinTwice()), torch.fx.symbolic_trace(_LinTwice())

    def forward(self, x):
        return self.g(x) + self.g2(x)


def test_a_graph_whose_path_begins_with_another_graphs_is_read_too():
    """``g2`` is not below ``g`` (its path only begins with the same letter): both graphs are read, so
    each has its ``twice`` row (which symbolic_trace inlined) of 2·3 = 6 multiplies, its ``lin`` row of
    2·4·3 = 24 MACs and 4·3 + 3 = 15 parameters, and its own row holds the ReLU's 2·3 = 6
    comparisons and no multiply, as the eager ``_LinTwice`` has them."""
    torch.manual_seed(0)
    model, x = _TwoGraphs(), torch.randn(2, 4)
    report, eager = run(model, x), run(_LinTwice(), x)
    assert (eager.root.self_cost.mults, eager.root.self_cost.cmps, eager.row("twice").cost.mults) == (0, 6, 6)
    for at in ("g", "g2"):
        lin, twice, own = report.row(f"{at}.lin"), report.row(f"{at}.twice"), report.row(at)
        assert (lin.calls, lin.params, lin.cost.macs) == (1, 15, 24), at
        assert (twice.calls, twice.cost.mults) == (1, 2 * 3), at
        assert (own.self_cost.macs, own.self_cost.mults, own.self_cost.cmps) == (0, 0, 2 * 3), at


class _Recurrent(nn.Module):
    def __init__(self, dropout):
        super().__init__()
        self.lstm = nn.LSTM(4, 4, num_layers=2, dropout=dropout)

    def forward(self, x):
        return self.lstm(x)[0]


@pytest.mark.parametrize("dropout", [0.5, 0.0])
def test_an_lstm_exported_in_training_mode_runs_so_only_with_dropout_between_its_layers(dropout):
    """A two-layer LSTM exported in training mode is told train=True either way; with dropout 0.5
    between its layers its op is random (two eager runs differ), so the graph's ``lstm`` is named as
    run in training mode; with dropout 0 it runs as in eval mode (two runs agree) and is not."""
    torch.manual_seed(0)
    model, x = _Recurrent(dropout).train(), torch.randn(3, 2, 4)
    random = not torch.equal(model(x), model(x))
    assert random == (dropout > 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = torch.export.export(model, (x,)).module()
    assert _layers(gm).training == ((("lstm", "LSTM"),) if random else ())


class _Attend(nn.Module):
    def __init__(self, dropout_p):
        super().__init__()
        self.dropout_p = dropout_p

    def forward(self, x):  # (the aten op itself: symbolic_trace records its arguments as given, 0.0 too)
        return torch.ops.aten.scaled_dot_product_attention.default(x, x, x, None, self.dropout_p)


class _Attends(nn.Module):
    def __init__(self, dropout_p):
        super().__init__()
        self.attend = _Attend(dropout_p)

    def forward(self, x):
        return self.attend(x)


@pytest.mark.parametrize("dropout_p", [0.5, 0.0])
def test_attention_runs_in_training_mode_only_with_a_dropout_p_above_0(dropout_p):
    """Attention given dropout_p 0.5 is random (two eager runs differ): the graph's ``attend`` is
    named as run in training mode; given dropout_p 0 (written in a traced graph's node, left out of an
    exported one as the default) it is not (the runs agree)."""
    torch.manual_seed(0)
    model, x = _Attends(dropout_p).train(), torch.randn(1, 2, 5, 8)
    random = not torch.equal(model(x), model(x))
    assert random == (dropout_p > 0)
    for gm in (_export(model, x), torch.fx.symbolic_trace(model)):
        assert _layers(gm).training == ((("attend", "_Attend"),) if random else ())


class _KeywordDropout(nn.Module):
    """torch's builtin dropout given its mode by keyword: ``torch.dropout(x, 0.5, train=...)``."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 4)

    def forward(self, x):
        return torch.dropout(self.linear(x), 0.5, train=self.training)


def test_a_traced_builtin_dropout_given_its_mode_by_keyword_says_its_mode():
    """The traced node has two positional arguments and ``train`` by keyword: traced in training mode
    the layer is named (two eager runs differ), in eval mode not (they agree)."""
    x = torch.randn(2, 4)
    for mode in (True, False):
        torch.manual_seed(0)
        model = _KeywordDropout().train(mode)
        assert (not torch.equal(model(x), model(x))) == mode
        gm = torch.fx.symbolic_trace(nn.Sequential(model))
        assert [n.kwargs for n in gm.graph.nodes if n.target is torch.dropout] == [{"train": mode}]
        assert _layers(gm).training == ((("0", "_KeywordDropout"),) if mode else ())


def test_a_program_with_regions_inside_an_eager_model_is_one_graph():
    """``backbone`` is an ``ep.module()`` with no_grad regions (``backbone.submod_1``, ``backbone.submod_3``):
    they are parts of its graph, so the one graph read is at ``backbone``, and ``backbone.b`` was given
    the 2×4 activation, as in the eager model."""
    torch.manual_seed(0)
    model, x = _NoGrad().eval(), torch.randn(2, 4)
    outer = nn.Sequential()
    outer.add_module("backbone", _export(model, x))
    assert any(isinstance(m, torch.fx.GraphModule) for p, m in outer.named_modules() if p.startswith("backbone.submod"))
    assert _layers(outer).where == ("backbone",)
    row = run(outer, x).row("backbone.b")
    assert (row.input_shapes, row.output_shapes) == ([(2, 4)], [(2, 4)]) == (
        run(model, x).row("b").input_shapes, run(model, x).row("b").output_shapes)


def test_two_unflattened_modules_side_by_side_each_show_their_own_layers():
    """``u`` and ``u2`` (whose path begins with ``u``'s) are each an unflattened CNN: each row is of
    its own type, UnflattenedModule, and each has ``features.0`` a Conv2d of 3·8·3·3 + 8 = 224
    parameters and ``head`` a Linear, as the eager CNN's rows."""
    model, x = CNN().eval(), torch.randn(1, 3, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.export.export(model, (x,))
        pair = _Pair(torch.export.unflatten(program), torch.export.unflatten(program))
    report, eager = run(pair, x), run(model, x)
    assert eager.row("features.0").params == 3 * 8 * 3 * 3 + 8
    for at in ("u", "u2"):
        assert report.row(at).type == "UnflattenedModule", at
        conv, head = report.row(f"{at}.features.0"), report.row(f"{at}.head")
        assert (conv.type, conv.params, head.type) == ("Conv2d", 224, "Linear"), at
        assert (conv.cost.macs, head.cost.macs) == (eager.row("features.0").cost.macs, eager.row("head").cost.macs), at


class _Pair(nn.Module):
    def __init__(self, u, u2):
        super().__init__()
        self.u, self.u2 = u, u2

    def forward(self, x):
        return self.u(x) + self.u2(x)


class _HoldsLin(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)


class _SkipsALevel(nn.Module):
    """Calls its grandchild ``p.lin`` itself; ``p`` is never called."""

    def __init__(self):
        super().__init__()
        self.p = _HoldsLin()

    def forward(self, x):
        return self.p.lin(x) * 2


def test_a_container_whose_child_a_traced_layer_calls_directly_keeps_its_row():
    """symbolic_trace keeps ``outer.p.lin`` a module call, below ``outer.p``, which no node's stack
    names: ``outer.p`` is a container never called holding a called layer, and keeps
    its row (0 calls, 4·4 + 4 = 20 parameters) as in the eager model; it is no holder of parameters
    that ``outer`` reads."""
    model, x = nn.Sequential(), torch.randn(2, 4)
    model.add_module("outer", _SkipsALevel())
    report, eager = run(torch.fx.symbolic_trace(model), x), run(model, x)
    for path, want in (("outer", (1, 20)), ("outer.p", (0, 20)), ("outer.p.lin", (1, 20))):
        assert (report.row(path).calls, report.row(path).params) == want == (eager.row(path).calls, eager.row(path).params), path


class _ReadsBesideAPrefix(nn.Module):
    """Reads ``proj``'s weight itself and calls ``proj2``, whose name begins with ``proj``'s."""

    def __init__(self):
        super().__init__()
        self.proj, self.proj2 = nn.Linear(4, 4), nn.Linear(4, 4)

    def forward(self, x):
        return self.proj2(x) @ self.proj.weight


def test_a_holder_a_layer_reads_is_its_row_beside_a_layer_whose_name_begins_with_its():
    """``inner`` reads ``inner.proj``'s weight and calls ``inner.proj2`` (not below ``inner.proj``):
    ``inner.proj`` is a holder only ``inner`` reads, so ``inner``'s row holds it, 2 · (4·4 + 4) = 40
    parameters, with no row of its own (as MultiheadAttention's out_proj); ``inner.proj2`` runs 2·4·4 =
    32 MACs, ``inner`` 64 with its product."""
    model, x = nn.Sequential(), torch.randn(2, 4)
    model.add_module("inner", _ReadsBesideAPrefix())
    report = run(_export(model, x), x)
    assert (report.row("inner").params, report.row("inner").cost.macs, report.row("inner.proj2").cost.macs) == (40, 64, 32)
    assert "inner.proj" not in [r.path for r in report.layers]


class _FunctionalDropout(nn.Module):
    """A Linear, then dropout of ``p`` called as a function, told the module's mode."""

    def __init__(self, p, how):
        super().__init__()
        self.linear, self.p, self.how = nn.Linear(4, 4), p, how

    def forward(self, x):
        y = self.linear(x)
        if self.how == "F.dropout":
            return F.dropout(y, self.p, self.training)
        if self.how == "torch.dropout":
            return torch.dropout(y, self.p, train=self.training)
        if self.how == "F.alpha_dropout":
            return F.alpha_dropout(y, self.p, self.training)
        if self.how == "torch.native_dropout":
            return torch.native_dropout(y, self.p, self.training)[0]
        return torch.feature_alpha_dropout(y, self.p, self.training)


@pytest.mark.parametrize("how", ["F.dropout", "torch.dropout", "F.alpha_dropout", "torch.feature_alpha_dropout",
                                 "torch.native_dropout"])
@pytest.mark.parametrize("p", [0.5, 0.0])
def test_dropout_of_p_0_told_training_is_not_named_as_run_in_training_mode(how, p):
    """Dropout of p 0.5 told training=True is random (two eager runs differ): traced or exported,
    its layer is named as run in training mode. Of p 0 it returns its input in either mode (the runs
    agree, as in eval mode; ``native_dropout`` draws an all-ones mask, priced as the identity as the
    Dropout rule prices p 0), so it is not, though the graph still says training=True. Its 12
    keep/drop draws (3×4) are counted in eager and in the graph alike: 12 for p 0.5, none for p 0."""
    torch.manual_seed(0)
    model, x = nn.Sequential(_FunctionalDropout(p, how)).train(), torch.randn(3, 4)
    random = not torch.equal(model(x), model(x))
    assert random == (p > 0)
    draws = 12 if p > 0 else 0
    assert run(model, x).row("0").self_cost.cmps == draws
    for gm in (_export(model, x), torch.fx.symbolic_trace(model)):
        assert _layers(gm).training == ((("0", "_FunctionalDropout"),) if random else ())
        assert run(gm, x).row("0").self_cost.cmps == draws


class _AttentionFunction(nn.Module):
    """``F.multi_head_attention_forward`` called with a MultiheadAttention's weights, told the mode."""

    def __init__(self, dropout_p):
        super().__init__()
        self.mha, self.dropout_p = nn.MultiheadAttention(8, 2), dropout_p

    def forward(self, x):
        m = self.mha
        return F.multi_head_attention_forward(
            x, x, x, 8, 2, m.in_proj_weight, m.in_proj_bias, None, None, False, self.dropout_p,
            m.out_proj.weight, m.out_proj.bias, training=self.training, need_weights=False)[0]


@pytest.mark.parametrize("dropout_p", [0.5, 0.0])
def test_attention_told_training_with_dropout_p_0_is_not_named_as_run_in_training_mode(dropout_p):
    """symbolic_trace writes ``training=True`` into the function's node either way. With dropout_p
    0.5 two eager runs differ and the layer is named as run in training mode; with 0 they agree (its
    mode decides only its dropout) and it is not."""
    torch.manual_seed(0)
    model, x = nn.Sequential(_AttentionFunction(dropout_p)).train(), torch.randn(5, 1, 8)
    random = not torch.equal(model(x), model(x))
    assert random == (dropout_p > 0)
    gm = torch.fx.symbolic_trace(model)
    assert [n.kwargs["training"] for n in gm.graph.nodes if n.target is F.multi_head_attention_forward] == [True]
    assert _layers(gm).training == ((("0", "_AttentionFunction"),) if random else ())
