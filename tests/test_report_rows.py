"""The table's rows add up to the total, also when the root module does work itself."""
import pytest
import torch
from torch import nn

import torchcount
from torchcount.report import visible_rows


class ResidualTop(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.scale = nn.Parameter(torch.ones(4))  # a parameter of the root itself

    def forward(self, x):
        return self.fc(x) + x * self.scale  # one multiplication and one addition per element, in the root


def test_root_self_work_has_a_row_and_rows_add_up():
    report = torchcount.profile(ResidualTop(), torch.randn(2, 4))
    # by hand, batch 2: linear 2·4·4 = 32 MACs (64 FLOPs) + 2·4 = 8 bias adds;
    # root: 8 multiplications + 8 additions
    assert report.total.flops == 64 + 8 + 8 + 8
    root = report.layers[0]
    assert root.path == "" and root.self_cost.mults == 8 and root.self_cost.adds == 8
    shown = visible_rows(report.layers, None)
    ops = sum((r.self_cost if own else r.cost).adds + (r.self_cost if own else r.cost).mults
              + 2 * (r.self_cost if own else r.cost).macs for r, own in shown)
    assert ops == report.total.flops
    params = sum(r.self_params if own else r.params for r, own in shown)
    assert params == 4 * 4 + 4 + 4 == report.total.params


class FunctionalTop(nn.Module):
    """The root does all the work with its child's weights; the child itself never runs."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return nn.functional.linear(x, self.fc.weight, self.fc.bias)


def test_a_root_that_is_the_only_row_called_has_index_0_like_any_root_row():
    # docs/export-schema.md: index 0 for the root's row when it is among the layers for its own work;
    # here it read 1 (and the never-called fc 2), where the same root with fc called reads 0
    report = torchcount.profile(FunctionalTop(), torch.randn(2, 4))
    assert [(r.path, r.index, r.status) for r in report.layers] == [("", 0, "ops"), ("fc", 1, "not called")]
    assert report.root.cost.macs == 2 * 4 * 4
    assert [line.split()[:2] for line in report.table(columns="#,module").splitlines()[4:6]] == [
        ["0", "(root)"], ["1", "fc"]]
    assert [d["index"] for d in report.to_dict()["layers"]] == [0, 1]


def test_depth_zero_shows_the_root_with_everything():
    report = torchcount.profile(ResidualTop(), torch.randn(2, 4))
    table = report.table(depth=0, columns=["module", "ops"])
    root_line = next(line for line in table.splitlines() if line.startswith("(root)"))
    assert root_line.split()[-1] == f"{64 + 8 + 8 + 8:,}"


def test_pure_container_root_has_no_row():
    report = torchcount.profile(nn.Sequential(nn.Linear(3, 2), nn.ReLU()), torch.randn(1, 3))
    assert [r.path for r in report.layers] == ["0", "1"]


def test_table_refuses_a_negative_depth_and_unknown_columns_and_explains_the_root_by_its_shown_name():
    report = torchcount.profile(nn.Sequential(nn.Linear(4, 3), nn.ReLU()), torch.randn(1, 4))
    with pytest.raises(ValueError, match="depth must be None or an int ≥ 0, got -1"):
        report.table(depth=-1)
    with pytest.raises(ValueError, match="unknown column.*'bogus'"):
        report.table(columns=["module", "bogus"])
    assert report.explain("(root)") == report.explain("")  # the table's name for the root


class Stack(nn.Module):
    """Layers in a ModuleList (never called itself: the forward calls each layer), as in most
    transformer implementations, and a head."""

    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([nn.Sequential(nn.Linear(4, 4), nn.ReLU()) for _ in range(3)])
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return self.head(x)


def test_a_module_list_gets_a_row_so_that_a_depth_cut_keeps_its_layers():
    report = torchcount.profile(Stack(), torch.randn(2, 4))
    group = report.row("blocks")
    assert group.calls == 0 and group.type == "ModuleList" and group.status == "container"
    # one level below the root, as the head beside it and one above its layers (a depth cut and the exports read it)
    assert (group.depth, report.row("head").depth, report.row("blocks.0").depth) == (1, 1, 2)
    assert report.root.path == "" and report.root.depth == 0
    assert group.cost.macs == 3 * 2 * 4 * 4 and group.params == 3 * (4 * 4 + 4)
    # every depth's rows add up to the total (at depth 1 the blocks were missing: 3/4 of the MACs)
    for depth in (None, 1, 2, 3):
        rows = visible_rows(report.layers, depth)
        assert sum(((r.self_cost if own else r.cost) for r, own in rows), torchcount.Cost()) == \
            report.total.cost, depth
        assert sum(r.self_params if own else r.params for r, own in rows) == report.total.params, depth
    assert [r.path for r, _ in visible_rows(report.layers, 1)] == ["blocks", "head"]
    assert "blocks" not in [r.path for r, _ in visible_rows(report.layers, None)]  # its layers are the rows
    assert "not called itself" in report.explain("blocks")


def test_a_module_list_is_timed_as_the_sum_of_its_layers():
    report = torchcount.profile(Stack(), torch.randn(2, 4), measure=True, warmup=1, repeat=3)
    group = report.row("blocks")
    layers = [report.row(f"blocks.{i}") for i in range(3)]
    assert group.extra["time_ms"] == pytest.approx(sum(r.extra["time_ms"] for r in layers), rel=0.5)
    d = torchcount.measure.details(report, "blocks")
    for k in range(3):  # per pass the sum is exact
        assert d["inclusive_ns"][k] == sum(torchcount.measure.details(report, r.path)["inclusive_ns"][k]
                                           for r in layers)


def _params_shown(report, depth):
    return sum(r.self_params if own else r.params for r, own in visible_rows(report.layers, depth))


def test_a_never_called_module_has_a_row_with_its_parameters_and_a_note():
    class Spare(nn.Module):
        def __init__(self):
            super().__init__()
            self.used = nn.Linear(4, 4)
            self.unused = nn.Linear(4, 4)  # never called
            self.skip = torch.ao.nn.quantized.FloatFunctional()  # its .add() runs, not its forward

        def forward(self, x):
            return self.skip.add(self.used(x), x)

    report = torchcount.profile(Spare(), torch.randn(1, 4))
    row = report.row("unused")
    assert (row.calls, row.params, row.status, row.cost.is_zero()) == (0, 20, "not called", True)
    # its parameters were in the total and in no row (and the promised note never appeared)
    for depth in (None, 1):
        assert _params_shown(report, depth) == report.total.params == 40, depth
    assert any(n.startswith("never called") and "unused" in n for n in report.notes)
    assert "not called: no work is counted here" in report.explain("unused")
    assert "breakdown: none" in report.explain("skip")  # the FloatFunctional: its observer ran


class ReadsItsChildsWeights(nn.Module):
    """Swin's attention in small: its qkv Linear is never called, its forward runs
    F.linear(x, self.qkv.weight, self.qkv.bias); ``spare`` is unused."""

    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(4, 12)
        self.spare = nn.Linear(5, 7)

    def forward(self, x):
        return nn.functional.linear(x, self.qkv.weight, self.qkv.bias)


def test_weights_the_parent_reads_itself_are_told_apart_from_unused_ones():
    """A module never called whose parent runs ops on tensors of its parameters' shapes (qkv: 12×4
    and 12) was listed as "never called (no work counted)" beside a truly unused one, though its
    weights did the parent's 2×12×4 = 96 MACs. It is named apart, with the parent that reads them;
    the unused Linear(5, 7) (7×5 and 7: in no op) stays "never called"."""
    report = torchcount.profile(ReadsItsChildsWeights(), torch.randn(2, 4))
    assert report.root.self_cost.macs == 2 * 12 * 4
    assert report.row("qkv").extra["weights_read_by"] == "" and "weights_read_by" not in report.row("spare").extra
    read = next(n for n in report.notes if n.startswith("never called as modules"))
    assert read.endswith("that work is in its row: qkv (read by (root))")
    assert any(n.startswith("never called (no work counted") and n.endswith(": spare") for n in report.notes)


def test_weights_read_by_a_parent_whose_ops_read_nothing_else_are_told_apart():
    # the parent's one op, x @ lin.weight on a 4×4 x, reads tensors of exactly the never-called Linear's
    # shapes ({4×4}: no bias): all of its weights' shapes are among them, so it is "read by (root)" too
    # (a proper-subset test missed it: no shape of the parent's beyond the child's)
    class ReadsOnlyTheWeight(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 4, bias=False)

        def forward(self, x):
            return x @ self.lin.weight

    report = torchcount.profile(ReadsOnlyTheWeight(), torch.randn(4, 4))
    assert report.root.self_cost.macs == 4 * 4 * 4
    assert report.row("lin").extra["weights_read_by"] == ""
    assert not any(n.startswith("never called (no work counted") for n in report.notes)


def test_weights_a_parent_rule_reads_are_not_called_out_as_unused():
    # MultiheadAttention's rule reads out_proj's weights; out_proj is never called itself
    report = torchcount.profile(nn.MultiheadAttention(8, 2), (torch.randn(3, 1, 8),) * 3)
    assert "out_proj" not in [r.path for r in report.layers]  # the rule's row holds its parameters
    assert not any(n.startswith("never called") for n in report.notes)
    for depth in (None, 0, 1):
        shown = [(report.root, False)] if depth == 0 else visible_rows(report.layers, depth)
        assert sum(r.self_params if own else r.params for r, own in shown) == report.total.params, depth


def test_a_scripted_block_in_a_module_list_is_its_callers_work_and_parameters():
    # the root calls the scripted layer (its ops are the root's): its parameters were shown under
    # the ModuleList's own part while its work was the root's
    class Layers(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(8, 8), torch.jit.script(nn.Linear(8, 8))])

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return x

    report = torchcount.profile(Layers(), torch.randn(2, 8))
    assert report.root.self_params == 8 * 8 + 8 and report.root.self_cost.macs == 2 * 8 * 8
    assert report.row("layers").params == 8 * 8 + 8
    for depth in (None, 1, 2):
        assert _params_shown(report, depth) == report.total.params, depth


def test_explain_of_a_rule_that_covers_its_children_lists_their_parameters_too():
    """MultiheadAttention's rule covers out_proj: the table's params (4·E² + 4·E) and explain's
    'params =' line disagreed, explain giving only the module's own in_proj (3·E² + 3·E)."""
    e = 32
    report = torchcount.profile(nn.MultiheadAttention(e, 4, batch_first=True), (torch.randn(1, 5, e),) * 3)
    text = report.explain("")
    assert f"params = {4 * e * e + 4 * e:,}" in text
    assert "out_proj.weight 32×32 = 1,024" in text


def test_the_total_row_of_the_steps_column_is_the_longest_chain():
    # two stacked Linears (1 step each) then a 2-layer LSTM over 6 steps (6·2 = 12): 14 in a chain
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.rnn = nn.Linear(4, 4), nn.Linear(4, 4), nn.LSTM(4, 4, 2)

        def forward(self, x):
            return self.rnn(self.b(self.a(x)))[0]

    report = torchcount.profile(Net(), torch.randn(6, 1, 4))
    last = report.table(columns=["module", "steps"]).splitlines()
    total = next(line for line in last if line.startswith("total"))
    assert total.split() == ["total", "14"]


def test_a_model_left_in_training_mode_is_noted():
    """A student who forgot model.eval() got dropout counted (AlexNet worksheet total 793,439,976
    against 793,400,040) and no word about it."""
    model = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.5), nn.BatchNorm1d(8), nn.ReLU())
    trained = torchcount.profile(model, torch.randn(4, 8))
    assert any("in training mode: 1, 2" in n and "model.eval()" in n for n in trained.notes)
    assert not any("training mode" in n for n in torchcount.profile(model.eval(), torch.randn(4, 8)).notes)


class FunctionalNet(nn.Module):
    """The PyTorch-tutorial style: ReLU and pooling as functions in the forward."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)

    def forward(self, x):
        return torch.nn.functional.max_pool2d(torch.relu(self.conv(x)), 2)


def test_explain_shows_a_containers_own_functional_ops():
    """The root's own ReLU and pooling (a student's F.relu / F.max_pool2d) had no worked line:
    explain said only 'a container: its cost is the sum of its children plus its own ops', and
    the table's '(root) (self)' was not a path explain accepted."""
    report = torchcount.profile(FunctionalNet(), torch.randn(1, 1, 8, 8), convention="worksheet")
    text = report.explain("(root) (self)")
    assert "its own ops, outside its children" in text
    # conv output 1×4×6×6 = 144 elements: ReLU 144 comparisons + 144 assignments; pool 2×2 → 36 outputs,
    # 3 comparisons each = 108
    assert "comparisons (relu) [cmps, weight 1] = elements = 144" in text
    assert "(∏kernel − 1)·outputs = (2×2 − 1)×36 = 108" in text
    assert "ops [worksheet] = 144 + 144 + 108 = 396" in text


def test_activation_lines_write_the_shape_out():
    text = torchcount.profile(nn.ReLU(), torch.randn(1, 64, 5, 5)).explain("")
    assert "comparisons (relu) [cmps, weight 1] = elements = 1×64×5×5 = 1,600" in text
    # one term of weight 1 in the total: no "= 1,600 = 1,600"
    assert "FLOPs [flops] = 1,600\n" in text + "\n" and "= 1,600 = 1,600" not in text


def test_table_columns_as_on_the_command_line():
    """The CLI took 'module,type,macs'; Python wanted a list and 'MACs'."""
    report = torchcount.profile(nn.Linear(3, 4), torch.randn(2, 3))
    assert report.table(columns="module,type,macs,flops") == report.table(columns=["module", "type", "MACs", "ops"])
    with pytest.raises(ValueError, match="unknown column"):
        report.table(columns="module,speed")


def test_explain_gives_each_spatial_dimension_its_output_size():
    """Only the first spatial dimension was shown: a 3×5 kernel with stride (1, 2) on 20×31 read
    'output size = … = 20' for a 20×14 output; 'same' padding had no line at all."""
    model = nn.Sequential(nn.Conv2d(3, 4, (3, 5), stride=(1, 2), padding=(1, 0)), nn.MaxPool2d((2, 3)),
                          nn.Conv2d(4, 4, 3, padding="same"))
    report = torchcount.profile(model, torch.randn(1, 3, 20, 31))
    conv = report.explain("0")
    assert "output height = ⌊(M − w + 2p)/s⌋ + 1 = ⌊(20 − 3 + 2×1)/1⌋ + 1 = 20" in conv
    assert "output width = ⌊(M − w + 2p)/s⌋ + 1 = ⌊(31 − 5 + 2×0)/2⌋ + 1 = 14" in conv
    pool = report.explain("1")
    assert "output height = ⌊(M − w + 2p)/s⌋ + 1 = ⌊(20 − 2 + 2×0)/2⌋ + 1 = 10" in pool
    assert "output width = ⌊(M − w + 2p)/s⌋ + 1 = ⌊(14 − 3 + 2×0)/3⌋ + 1 = 4" in pool
    assert "output height = M (padding 'same') = 10" in report.explain("2")
    # a square image and kernel keep the single line the worksheet writes
    square = torchcount.profile(nn.Conv2d(3, 4, 3), torch.randn(1, 3, 8, 8)).explain("")
    assert "output size = ⌊(M − w + 2p)/s⌋ + 1 = ⌊(8 − 3 + 2×0)/1⌋ + 1 = 6" in square and "height" not in square


def test_unit_rows_are_the_leaves_and_the_modules_a_rule_prices_whole():
    class Attend(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.MultiheadAttention(8, 2, batch_first=True)

        def forward(self, x):
            return self.attn(x, x, x, need_weights=False)[0]

    model = nn.Sequential(nn.Linear(8, 8), nn.Sequential(nn.ReLU(), nn.Linear(8, 8)), Attend())
    report = torchcount.profile(model.eval(), torch.randn(1, 3, 8))
    # not the containers "1" and "2", and not MultiheadAttention's out_proj (inside its rule)
    assert [r.path for r in report.unit_rows()] == ["0", "1.0", "1.1", "2.attn"]


class _HandRNN(nn.Module):
    """A student's Elman RNN from raw ops: T steps of h = tanh(x_t·Wx + h·Wh + b)."""

    def __init__(self, n_in=8, hidden=16):
        super().__init__()
        self.wx = nn.Parameter(torch.randn(n_in, hidden))
        self.wh = nn.Parameter(torch.randn(hidden, hidden))
        self.b = nn.Parameter(torch.zeros(hidden))

    def forward(self, x):
        h = torch.zeros(x.shape[1], self.wh.shape[0])
        for x_t in x:
            h = torch.tanh(x_t @ self.wx + h @ self.wh + self.b)
        return h


def test_explain_writes_a_loops_repeated_line_once_with_its_count():
    """A loop's ops gave one identical line per step (25 lines for 5 steps); each is written once with
    how many times it ran, and the total sums those (the lecture's (I·H + H·H)·T MACs)."""
    T, B, I, H = 5, 2, 8, 16
    text = torchcount.profile(_HandRNN(I, H), torch.randn(T, B, I), convention="macs").explain("")
    assert f"(mm) [macs, weight 1] = m·k·n = {B}×{I}×{H} = 256, {T} times = {T * B * I * H:,}" in text
    assert f"(mm) [macs, weight 1] = m·k·n = {B}×{H}×{H} = 512, {T} times = {T * B * H * H:,}" in text
    assert f"additions (add) [adds, weight 0] = elements = {B * H}, {2 * T} times = {2 * T * B * H}" in text
    assert f"MACs [macs] = 1,280 + 2,560 = {T * B * (I * H + H * H):,}\n" in text
    assert text.count("(mm)") == 2


def test_a_products_formula_names_each_size_it_substitutes():
    """A 2-D product (mm, addmm) has no batch: its line read "batch·m·k·n = 3×16×4", four symbols for
    three sizes, so that m = 3 read as the batch. Each symbol of the formula now stands for one size
    of the substitution, in order: m·k·n = 3×16×4 (CLIP's a @ bᵀ), batch·m·k·n for bmm."""
    class Products(nn.Module):
        def forward(self, a, b, bias):
            return a @ b, torch.addmm(bias, a, b), torch.bmm(a[None].expand(2, -1, -1), b[None].expand(2, -1, -1))

    report = torchcount.profile(Products(), (torch.randn(3, 16), torch.randn(16, 4), torch.randn(4)))
    lines = {(t.what, t.formula, t.substituted, t.value) for t in report.root.terms}
    assert ("multiply-accumulates (mm)", "m·k·n", "3×16×4", 3 * 16 * 4) in lines
    assert ("multiply-accumulates (addmm)", "m·k·n", "3×16×4", 3 * 16 * 4) in lines
    assert ("additions (+ M)", "m·n", "12", 3 * 4) in lines
    assert ("multiply-accumulates (bmm)", "batch·m·k·n", "2×3×16×4", 2 * 3 * 16 * 4) in lines


def test_an_op_without_a_formula_is_a_step_of_its_module():
    # the root's own op has no formula (a custom op): uncounted, but it ran after the Linear, so the
    # chain is 2 steps (it read 1: a call's own step needed counted arithmetic)
    from test_rules_core import Mystery

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return Mystery.forward(self, self.fc(x))

    with pytest.warns(torchcount.UncountedWarning):
        report = torchcount.profile(Net(), torch.randn(2, 4))
    assert [u.what for u in report.uncounted] == ["torchcount_tests.mystery.default"]
    assert report.root.extra["steps"] == 2


class PassesOn(nn.Module):
    """Returns its child's output (4×16) and owns a parameter, so that it has a "(self)" row."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 16)
        self.gain = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return self.lin(x)


class AddsResidual(nn.Module):
    """x + lin(x): the sum (4×8 = 32 elements) is its own."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 8)

    def forward(self, x):
        return x + self.lin(x)


class ViewsChild(nn.Module):
    """A view of its child's output (4×8 seen as 32): no new elements of its own."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 8)
        self.gain = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return self.lin(x).view(-1)


class MakesAfterFreeing(nn.Module):
    """Frees its child's output, then makes a tensor of the same shape (4×8), which may take the freed
    tensor's address: it is the module's own all the same."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 8)

    def forward(self, x):
        y = self.lin(x)
        rows = y.shape[0]
        del y
        return torch.zeros(rows, 8) + 1


@pytest.mark.parametrize("block, own", [(PassesOn, 0), (AddsResidual, 4 * 8), (ViewsChild, 0),
                                        (MakesAfterFreeing, 4 * 8)])
def test_a_parents_own_row_shows_the_activation_it_made_itself(block, own):
    """A parent shown for its own part ("0 (self)") showed the activation of its whole output, though
    the output may be its child's, passed on (a Sequential's is its last child's); it shows the
    elements of the output it made itself (a residual add's result), 0 where it passes one on."""
    from torchcount.export import records

    report = torchcount.profile(nn.Sequential(block(), nn.ReLU()), torch.randn(4, 8))
    parent = report.row("0")
    whole = parent.activation
    assert whole == (4 * 16 if block is PassesOn else 4 * 8)  # the whole module's: its first output
    assert parent.self_activation == own and parent.shown_activation(True) == own
    assert report.root.self_activation == 0  # the Sequential passes its last child's output on
    by_part = {(rec["path"], rec["part"]): rec["activation"] for rec in records(report)[1]}
    assert by_part[("0", "self")] == own and by_part[("0.lin", "all")] == parent.activation
    line = next(line for line in report.table(columns=["module", "activation"]).splitlines()
                if line.startswith("0 (self)"))
    assert line.split()[-1] == f"{own:,}"
    layer = next(d for d in report.to_dict()["layers"] if d["path"] == "0")
    assert (layer["activation"], layer["self_activation"]) == (whole, own)
    csv_line = next(line for line in report.to_csv().splitlines() if line.startswith(f"{parent.index},0,"))
    assert csv_line.split(",")[report.to_csv().splitlines()[0].split(",").index("activation")] == str(own)


class Sink(nn.Module):
    """Sums its input and returns nothing (a tensor it made is dropped, not returned)."""

    def forward(self, x):
        x.sum()


class FeedsSink(nn.Module):
    def __init__(self):
        super().__init__()
        self.sink = Sink()

    def forward(self, x):
        self.sink(x)
        return x * 2


def test_a_call_that_returns_no_tensor_made_no_activation():
    """sink returns None: no output, so its activation and its own are 0 (not unknown, not 1), while its
    sum of 4·8 elements (31 additions) is counted."""
    report = torchcount.profile(FeedsSink(), torch.randn(4, 8))
    row = report.row("sink")
    assert (row.activation, row.self_activation, row.output_shapes, row.cost.adds) == (0, 0, [], 31)


def test_own_activation_is_blank_where_own_ops_were_not_recorded():
    """With record_ops=False a parent's own ops are not seen, so whether it made its output is not
    known: its "(self)" activation is blank, not a guessed 0 (a Sequential's is 0: it runs no op)."""
    block = AddsResidual()
    block.gain = nn.Parameter(torch.ones(1))  # a parameter of its own: it has a "(self)" row
    report = torchcount.profile(nn.Sequential(block), torch.randn(4, 8), record_ops=False, warn=False)
    assert report.row("0").self_activation is None and report.row("0").activation == 4 * 8
    assert report.root.self_activation == 0
    line = next(line for line in report.table(columns=["module", "activation"]).splitlines()
                if line.startswith("0 (self)"))
    assert line.split() == ["0", "(self)", "†"]  # blank (and marked: its own work is not counted)
    assert next(line for line in report.to_csv().splitlines() if line.startswith("1,0,AddsResidual,")) \
        .split(",")[report.to_csv().splitlines()[0].split(",").index("activation")] == ""


def test_own_activation_of_a_child_whose_hook_replaces_its_output():
    """A forward hook's work is its module's (docs/guarantees.md): the tensor it returns in place of
    the output is that module's, and a parent passing it on made nothing itself."""
    block = PassesOn()
    block.lin.register_forward_hook(lambda module, args, output: output * 2)
    report = torchcount.profile(nn.Sequential(block), torch.randn(4, 8))
    assert report.row("0.lin").cost.mults == 4 * 16  # the hook's multiplication, in its module's row
    assert report.row("0").self_activation == 0


def test_table_refuses_no_columns_and_measured_columns_of_an_unmeasured_report():
    """columns=[] printed a table of nothing between its title and footer, and columns="measured" on a
    report profiled without measure=True printed seven blank columns, as if measured as nothing (the
    command line refuses both)."""
    report = torchcount.profile(nn.Sequential(nn.Linear(4, 3), nn.ReLU()), torch.randn(1, 4))
    for empty in ([], ""):
        with pytest.raises(ValueError, match="columns is empty"):
            report.table(columns=empty)
    for measured in ("measured", ["module", "time_ms"]):
        with pytest.raises(ValueError, match="'time_ms'.* measured: this report was not .*measure=True"):
            report.to_markdown(columns=measured)
    # a count column of the rows is not a measured one: steps (the longest chain) is 2, Linear then ReLU
    lines = report.table(columns="module,steps").splitlines()
    assert next(line for line in lines if line.startswith("total")).split() == ["total", "2"]


def test_units_carry_a_figure_that_rounds_to_1000_into_the_next_unit():
    """units=True printed 999,999 as "1000.00 K"."""
    report = torchcount.profile(nn.Linear(999_999, 1, bias=False), torch.randn(1, 999_999))
    assert report.total.params == report.total.macs == 999_999  # one output, 999,999 weights
    line = next(line for line in report.table(units=True, columns="module,params,macs").splitlines()
                if line.startswith("total"))
    assert line.split() == ["total", "1.00", "M", "1.00", "M"]


def test_explaining_a_parent_gives_its_own_work_and_with_its_children_apart():
    """A BasicBlock priced from its own ops (the residual add) explains that add, and says which figure is
    its '(self)' row and which its whole row. By hand, ResNet-18 on 1×3×64×64, layer1.0: the add is
    64·16·16 = 16,384 elements; its two 3×3 convolutions 2·64·64·9·16·16 = 18,874,368 MACs; parameters
    0 on the block itself, 2·64·64·9 + 2·2·64 = 73,984 with its children."""
    from torchvision.models import resnet18

    report = torchcount.profile(resnet18().eval(), input_size=(1, 3, 64, 64))
    row = report.row("layer1.0")
    text = report.explain("layer1.0 (self)")
    assert text == report.explain("layer1.0")
    assert "  params = 0 (registered on it; 73,984 with its children)" in text
    assert "  own work over 1 call(s) (the 'layer1.0 (self)' row): 16,384 FLOPs [flops], 0 MACs" in text
    assert f"  with its children (the 'layer1.0' row): {row.flops:,} FLOPs [flops], 18,874,368 MACs" in text
    assert "total over" not in text and "  breakdown with its children: multiply-accumulates 18,874,368" in text
    assert row.self_cost.adds == 16_384 and row.params == 73_984


def test_a_parents_own_work_with_no_formula_is_a_marked_self_row():
    """The root's own forward runs only an op with no formula (eigvalsh), its children the rest: its
    '(root) (self) †' row was hidden as a pure container, so no row carried the † and the CSV's uncounted
    column summed to 0 against coverage's 1. By hand: two Linear(4, 4) on 4 rows, 64 MACs each."""
    import csv
    import io
    import warnings

    class Eig(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.blk = nn.Linear(4, 4), nn.Sequential(nn.Linear(4, 4))

        def forward(self, x):
            torch.linalg.eigvalsh(x)
            return self.blk(self.fc(x))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = torchcount.profile(Eig(), torch.randn(4, 4))
    assert "(root) (self) †" in report.table() and report.total.macs == 2 * 64
    rows = list(csv.DictReader(io.StringIO(report.to_csv())))
    assert sum(int(r["uncounted"]) for r in rows) == sum(u.calls for u in report.uncounted) == 1
    assert [r["path"] for r in rows if r["uncounted"] != "0"] == [""]


def test_uncounted_calls_are_summed_over_every_module_below_a_shown_row():
    """Two sibling blocks each run one op with no formula (eigvalsh): cut at depth 0 the root's row
    stands for both, 2 uncounted calls; at depth 1 each block's row for its own 1 (a mutant that kept
    the last entry's calls for an ancestor, not the sum, gave the root 1)."""
    import warnings

    from torchcount.export import records

    class Eig(nn.Module):
        def forward(self, x):
            torch.linalg.eigvalsh(x)
            return x

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = torchcount.profile(nn.Sequential(Eig(), Eig()), torch.randn(3, 3))
    assert sorted((u.path, u.calls) for u in report.uncounted) == [("0", 1), ("1", 1)]
    assert [(r["path"], r["uncounted"]) for r in records(report, depth=0)[1]] == [("", 2)]
    assert [(r["path"], r["uncounted"]) for r in records(report, depth=1)[1]] == [("0", 1), ("1", 1)]
    # coverage: counted items over counted + uncounted calls; here 0 of 2, one Eig alone 0 of 1 (not
    # taken for an empty model's 1.0), before a Linear 1 of 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        alone = torchcount.profile(Eig(), torch.randn(3, 3))
        half = torchcount.profile(nn.Sequential(Eig(), nn.Linear(3, 3)), torch.randn(3, 3))
    assert (report.coverage, alone.coverage, half.coverage) == (0.0, 0.0, 0.5)
    # the footer names each uncounted op where it ran; a complete report has no such line
    assert [line for line in report.footer() if line.startswith("†")] == [
        "† partially counted: aten._linalg_eigh.default ×1 in '0'; aten._linalg_eigh.default ×1 in '1'"]
    assert not any(line.startswith("†") for line in torchcount.profile(nn.Linear(3, 3), torch.randn(3, 3)).footer())


def test_a_hook_on_a_layer_that_computes_nothing_is_its_only_step():
    """nn.Flatten's rule prices a view: 0 steps; a forward hook on it that doubles the output is one
    step of its own, so the layer's chain is 1 (not Flatten's rule step + the hook's, 2) and the model's
    Linear (1) then Flatten (1): 2."""
    flat = nn.Flatten()
    flat.register_forward_hook(lambda module, args, output: output * 2)
    report = torchcount.profile(nn.Sequential(nn.Linear(4, 4), flat), torch.randn(2, 4))
    row = report.row("1")
    assert row.status == "rule" and row.self_cost.mults == 2 * 4  # the hook's 8 multiplications
    assert row.extra["steps"] == 1
    assert report.root.extra["steps"] == 2
    # the same hook on the Linear, whose rule computes: its step, then the hook's, 2; the model's 2 + 0
    lin = nn.Linear(4, 4)
    lin.register_forward_hook(lambda module, args, output: output * 2)
    report = torchcount.profile(nn.Sequential(lin, nn.Flatten()), torch.randn(2, 4))
    assert report.row("0").extra["steps"] == 2 and report.row("1").extra["steps"] == 0
    assert report.root.extra["steps"] == 2
    # coverage counts the hook's op beside the two calls the rules price: 3 items (without the hook, 2)
    assert report.counted_items == 3 and report.coverage_text() == "complete (3 module calls and ops counted)"


def test_large_counts_are_written_in_units_from_the_unit_itself():
    from torchcount.report import _human

    # 1,000 is 1.00 K (not "1000"), 10⁹ 1.00 G; below 1,000 the number as it is
    assert [_human(n) for n in (999, 1000, 1500, 10**6, 10**9, 10**12)] == \
        ["999", "1.00 K", "1.50 K", "1.00 M", "1.00 G", "1.00 T"]


def test_a_container_with_measured_time_of_its_own_keeps_its_self_row():
    # a parent that does nothing counted itself but has time of its own (Python between its children):
    # its "(self)" row stays, or the time column would not add up; without that time it is hidden
    report = torchcount.profile(Stack(), torch.randn(2, 4))
    block = report.row("blocks.0")
    assert block.self_cost.is_zero() and block.self_params == 0
    assert (block, True) not in visible_rows(report.layers, None)
    block.self_extra = {**(block.self_extra or {}), "time_ms": 0.25}
    assert (block, True) in visible_rows(report.layers, None)


class _Eig(nn.Module):
    """An op with no formula (eigvalsh): one uncounted entry where it runs."""

    def forward(self, x):
        torch.linalg.eigvalsh(x)
        return x


def _profile_quietly(model, x):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torchcount.profile(model, x)


def test_shape_cells_write_each_shape_a_scalar_and_at_most_three():
    """The input and output cells: a Linear(4, 3) on 2×4 reads '2×4' → '2×3'; a module returning the sum
    (a 0-d tensor, 'scalar'), then three 2×3 tensors writes three of its four outputs and '…'; one
    returning exactly three writes all three, no '…' (swapping 'scalar' for the sizes, negating the
    empty check, or '>=' for '> 3' survived)."""

    class Outs(nn.Module):
        def __init__(self, n):
            super().__init__()
            self.n = n

        def forward(self, x):
            return (x.sum(), x + 1, x * 2, x - 1)[:self.n]

    for n, shown in ((4, "scalar, 2×3, 2×3 …"), (3, "scalar, 2×3, 2×3")):
        report = torchcount.profile(nn.Sequential(nn.Linear(4, 3), Outs(n)), torch.randn(2, 4))
        lines = report.table(columns="module,input,output", tablefmt="tsv").splitlines()
        assert [[cell.strip() for cell in line.split("\t")] for line in lines[3:5]] == [
            ["0", "2×4", "2×3"], ["1", "2×3", shown]]


def test_the_footer_and_explain_name_eight_uncounted_entries_then_an_ellipsis():
    """Nine blocks each run one eigvalsh: the footer's '† partially counted' line and the root's explain
    name the first eight ('0'…'7') and end with '…'; eight blocks are named all, with no '…' (slicing
    nine for eight survived, in both)."""
    for n in (9, 8):
        report = _profile_quietly(nn.Sequential(*[_Eig() for _ in range(n)]), torch.randn(3, 3))
        footer = next(line for line in report.footer() if line.startswith("†"))
        named = [f"aten._linalg_eigh.default ×1 in '{i}'" for i in range(8)]
        assert footer == "† partially counted: " + "; ".join(named) + (" …" if n == 9 else "")
        below = next(line for line in report.explain("").splitlines() if "uncounted ops below it" in line)
        assert below == "  uncounted ops below it (not in its total): " + ", ".join(named) + (" …" if n == 9 else "")


def test_partial_coverage_counts_the_counted_and_the_uncounted_items():
    """A Linear and a ReLU (2 items a rule prices) beside one eigvalsh (1 with no formula): 2 of 3 items,
    66.7% ('-' for '+' in the items named, 2 − 1 = 1, survived)."""
    report = _profile_quietly(nn.Sequential(_Eig(), nn.Linear(3, 3), nn.ReLU()), torch.randn(3, 3))
    assert (report.counted_items, sum(u.calls for u in report.uncounted)) == (2, 1)
    assert report.coverage_text() == "partial, 66.7% of 3 items counted; no formula for: aten._linalg_eigh.default"
    assert report.header().splitlines()[1] == "coverage: " + report.coverage_text()


def test_a_row_whose_call_reaches_a_free_module_elsewhere_shows_no_time_cut_at_its_depth():
    """a calls b (an Identity the root holds) through a plain reference: cut at depth 1, a's row is its
    subtree's work (fc: 2·4·4 = 32 MACs, its cost too, b costing nothing), and no time, since a's time
    holds b's call, shown in b's own row (stand-in times 0.5 and 0.25 ms: 0.5 beside 0.25 would count
    b's call twice). A Linear c beside them, whose calls stay in its subtree, keeps its time (0.125). Leaving
    out the calls that reach outside the row kept a's 0.5; reading any call into another subtree as
    reaching out ('or' for 'and') dropped c's."""

    class A(nn.Module):
        def __init__(self, other):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.__dict__["other"] = other  # a plain reference, not a submodule

        def forward(self, x):
            return self.other(self.fc(x))

    class Top(nn.Module):
        def __init__(self):
            super().__init__()
            self.b = nn.Identity()
            self.a = A(self.b)
            self.c = nn.Linear(4, 2)

        def forward(self, x):
            return self.c(self.a(x))

    report = torchcount.profile(Top(), torch.randn(2, 4))
    a, b, c = report.row("a"), report.row("b"), report.row("c")
    assert b.called_from == ("a",) and a.cost == a.tree_cost and a.cost.macs == 32 and c.cost == c.tree_cost
    a.extra["time_ms"], b.extra["time_ms"], c.extra["time_ms"] = 0.5, 0.25, 0.125
    shown = {r.path: (own, r.cost.macs, r.extra.get("time_ms")) for r, own in visible_rows(report.layers, 1)}
    assert shown == {"a": (False, 32, None), "b": (False, 0, 0.25), "c": (False, 2 * 4 * 2, 0.125)}


def test_measured_lines_write_a_peak_in_tflops_or_gflops_with_four_digits():
    """explain's rate line from a row's measured detail (stand-in values): 9.75e12 FLOP/s against a peak
    of 19.5e12 is '9.75e+03 GFLOP/s, 50% of its peak 19.5 TFLOP/s'; a peak under 10¹² in GFLOP/s
    (400e9: '400 GFLOP/s'). Floor-dividing the peak by 10¹² wrote '19 TFLOP/s'."""
    report = torchcount.profile(nn.Sequential(nn.Linear(4, 4)), torch.randn(2, 4))
    base = dict(inclusive_ms=1.0, inclusive_q1_ms=0.9, inclusive_q3_ms=1.1, exclusive_ms=1.0, flops=72,
                dtype="float32", bound="compute", why="stand-in")
    report.extra.update(device_name="stand-in", repeat=5)
    for rate, peak, pct, text in ((9.75e12, 19.5e12, 50.0, "9.75e+03 GFLOP/s, 50% of its peak 19.5 TFLOP/s (float32)"),
                                  (100e9, 400e9, 25.0, "100 GFLOP/s, 25% of its peak 400 GFLOP/s (float32)")):
        report.extra["per_layer"] = {"0": dict(base, flops_per_s=rate, peak_flops=peak, pct_peak=pct)}
        lines = report.explain("0").splitlines()
        assert "measured on stand-in, median of 5 passes: 1 ms (IQR 0.9–1.1)" in lines
        assert "  " + text in lines


def test_a_model_with_no_work_items_is_completely_counted():
    """A forward that returns its input runs no op and no rule prices it: 0 items, of which all (none) have
    a formula: coverage 1.0 — a share, never above 1 (2.0 for an empty model survived)."""

    class PassOn(nn.Module):
        def forward(self, x):
            return x

    report = torchcount.profile(PassOn(), torch.randn(2, 3))
    assert (report.counted_items, report.uncounted, report.coverage) == (0, [], 1.0)
    assert report.coverage_text() == "complete (0 module calls and ops counted)"


def test_explain_of_a_ruled_layer_totals_its_calls_only_where_it_has_several():
    """Linear(4, 3) on 2×4, by hand: 2·4·3 = 24 MACs and 6 bias adds, 54 FLOPs a call. Called once, the
    worked line is the total: no 'total over 1 call(s)' line ('>=' for '> 1' added one) and its source is
    not 'per call'; called twice the worked lines are the first call's, said so on the source line, and the
    total over both is 108 FLOPs, 48 MACs."""
    fc = nn.Linear(4, 3)

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = fc

        def forward(self, x):
            return self.fc(x) + self.fc(x)

    once = torchcount.profile(nn.Sequential(fc), torch.randn(2, 4)).explain("0").splitlines()
    assert once[1] == "input 2×4 → output 2×3; 1 call"
    assert once[0] == "0: Linear  Linear(in_features=4, out_features=3, bias=True)"  # (a live leaf's repr, no note)
    assert once[2] == "source: rule linear.linear"  # one call: nothing is 'per call'
    assert once[4] == "  multiply-accumulates [macs, weight 2] = rows·n·k = 2×4×3 = 24"  # (no ', 1 times')
    assert "  FLOPs [flops] = 2×24 + 6 = 54" in once
    assert not any(line.startswith("  total over") for line in once)
    twice = torchcount.profile(Twice(), torch.randn(2, 4)).explain("fc").splitlines()
    assert twice[1] == "input 2×4 → output 2×3; 2 calls"  # (the plural swapped survived)
    assert twice[2] == "source: rule linear.linear (per call; first call shown)"
    assert "  total over 2 call(s): 108 FLOPs [flops], 48 MACs" in twice


def test_the_dtype_cell_writes_consecutive_repeats_once_with_their_count():
    """A module returning three float32 tensors, an int64 one, a float32 again, then two int64: its dtype
    cell is 'float32 ×3, int64, float32, int64 ×2' (repeats counted only where consecutive; not adding up a
    run wrote 'float32, int64, float32, int64', adding every repeat to the first run 'float32 ×4, …')."""

    class Outs(nn.Module):
        def forward(self, x):
            return x + 1, x * 2, x - 1, x.long(), x / 2, x.long(), x.long()

    report = torchcount.profile(nn.Sequential(Outs()), torch.randn(2, 3))
    assert report.row("0").output_dtypes == ["float32"] * 3 + ["int64", "float32", "int64", "int64"]
    line = report.table(columns="module,dtype", tablefmt="tsv").splitlines()[3]
    assert [cell.strip() for cell in line.split("\t")] == ["0", "float32 ×3, int64, float32, int64 ×2"]


def test_a_saved_report_without_steps_prints_its_table(tmp_path):
    """A file written before the steps column (no 'steps' in any row's extra) loads and prints, its total
    line without a steps figure: Linear(4, 3) then ReLU on 2×4, by hand 24 MACs, 2·24 + 6 = 54 FLOPs and
    6 comparisons (reading the root's steps whenever there is a root raised KeyError)."""
    import json

    report = torchcount.profile(nn.Sequential(nn.Linear(4, 3), nn.ReLU()), torch.randn(2, 4))
    saved = report.to_dict()
    for row in (saved["root"], *saved["layers"]):
        row["extra"].pop("steps")
        row["self_extra"].pop("steps", None)
    path = tmp_path / "old.json"
    path.write_text(json.dumps(saved))
    loaded = torchcount.load_report(path)
    assert "steps" not in loaded.root.extra
    lines = loaded.table(columns="module,MACs,ops", tablefmt="tsv").splitlines()
    assert [[cell.strip() for cell in line.split("\t")] for line in lines[3:6]] == [
        ["0", "24", "54"], ["1", "0", "6"], ["total", "24", "60"]]


def test_units_carry_a_rounded_figure_into_the_next_unit_at_every_step_and_floats_keep_six_digits():
    """999,999,999 rounds to 1000.00 M: it is written '1.00 G', and 999,995,000,000 (1000.00 G) '1.00 T' —
    each the unit above, not one further off ('1 - i' for 'i - 1' wrote 999,999,999 in K). A float below
    1,000 keeps six significant digits (0.1 + 0.2 is '0.3', not its repr; the branches swapped survived)."""
    from torchcount.report import _human

    assert [_human(n) for n in (999_999_999, 999_995_000_000, 999_999)] == ["1.00 G", "1.00 T", "1.00 M"]
    assert (_human(0.1 + 0.2), _human(12.5), _human(7)) == ("0.3", "12.5", "7")


def test_the_share_column_is_a_dash_where_the_model_does_no_operations():
    """A Linear(4, 3) on 2×4 (54 FLOPs) is 100.0% of the total; a Flatten alone does no operation, so its
    row and the total have no share to give: '—' (the total's branches swapped survived)."""
    for model, shares in ((nn.Sequential(nn.Linear(4, 3)), ["100.0%", "100.0%"]),
                          (nn.Sequential(nn.Flatten()), ["—", "—"])):
        report = torchcount.profile(model, torch.randn(2, 4))
        lines = report.table(columns="module,share", tablefmt="tsv").splitlines()[3:5]
        assert [line.split("\t")[-1].strip() for line in lines] == shares


def test_explain_of_a_covered_child_without_hooks_says_only_that_its_parents_rule_counts_it(ruled_block):
    """A Linear inside a block whose rule prices the whole block (conftest's ruled_block: rows·4·4 MACs)
    ran nothing of its own: no terms, zero cost. Its explanation is its header, its call, and that the
    enclosing rule counts it — three lines, no source, total or breakdown (reading 'no terms' the other way
    went on to 'except the ops its forward hooks ran' and a breakdown of none)."""
    report = torchcount.profile(nn.Sequential(ruled_block()), torch.randn(2, 4))
    fc = report.row("0.fc")
    assert (fc.status, fc.terms, fc.cost.is_zero()) == ("covered", (), True)
    lines = report.explain("0.fc").splitlines()
    assert lines[1:] == ["input 2×4 → output 2×4; 1 call", "counted by the rule of an enclosing module"]


def test_explain_of_a_parent_whose_own_ops_only_reshape_calls_it_a_container():
    """A parent that calls Linear(4, 4) on 2×4 and views the result as 8 values: its own ops are a view
    (status 'ops', no terms) and its children hold the work, 2·4·4 = 32 MACs and 8 bias adds, 72 FLOPs.
    explain calls it a container whose cost is its children's, never 'priced from the ops it ran itself'
    (requiring both 'container' status and children wrote that), and gives its own 0 apart from the 72."""

    class Flat(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return self.fc(x).view(8)

    report = torchcount.profile(nn.Sequential(Flat()), torch.randn(2, 4))
    assert (report.row("0").status, report.row("0").terms, report.row("0").module_repr()) == ("ops", (), None)
    lines = report.explain("0").splitlines()
    assert lines[0] == "0: Flat"  # (a module with children: its repr would be its whole subtree, not shown)
    assert lines[1:5] == ["input 2×4 → output 8; 1 call", "a container: its cost is the sum of its children",
                          "  own work over 1 call(s) (the '0 (self)' row): 0 FLOPs [flops], 0 MACs",
                          "  with its children (the '0' row): 72 FLOPs [flops], 32 MACs"]


def test_measured_lines_of_a_parent_give_its_whole_time_and_rates_then_its_own_part():
    """explain's measured lines for a root with work of its own (ResidualTop: its Linear(4, 4) on 2×4 is
    2·32 + 8 = 72 FLOPs, its own multiply and add 8 + 8, so 88 FLOPs in all), from stand-in values set on
    the report: the whole forward's share is written 'of the forward' (not 'of the call': no method); its
    rates are 'with its children'; 87.5 GFLOP/s against a peak of 437.5 GFLOP/s is 20% (a peak written
    whole, not floored to '437'), and with no % known no peak is named at all; 100 page faults with no
    fault price known are priced at 0 µs each and not 'held', at 2 µs each 0.2 ms, so a row priced at 0.1 ms
    was held (the price left out of that comparison held neither); the own part is the '(root) (self)' row's
    stand-in figures, its %peak included. A rate over bytes is written only with both figures (1,000,000 bytes
    at 1e9 B/s: '1 GB/s')."""
    report = torchcount.profile(ResidualTop(), torch.randn(2, 4))
    root = report.root
    assert (root.path, root.status, root.flops) == ("", "ops", 88)
    root.extra["time%"] = 100.0
    root.self_extra.update({"time_ms": 0.25, "GFLOP/s": 1.5, "%peak": 12.5, "AI": 0.75, "bound": "memory"})
    report.extra.update(device_name="stand-in", repeat=5, fault_cost_us=None)
    base = dict(inclusive_ms=1.0, inclusive_q1_ms=0.9, inclusive_q3_ms=1.1, exclusive_ms=0.25, flops=88,
                flops_per_s=87.5e9, peak_flops=437.5e9, dtype="float32", bound="compute", why="stand-in",
                own_why="stand-in own", page_faults=100, fault_ms=0.0)
    report.extra["per_layer"] = {"": dict(base, pct_peak=20.0)}
    lines = report.explain("(root)").splitlines()
    measured = lines[lines.index("  breakdown with its children: multiply-accumulates 32, multiplications 8, "
                                 "additions 16") + 1:]
    assert measured == [
        "measured on stand-in, median of 5 passes: 1 ms (IQR 0.9–1.1), 100.0% of the forward; "
        "its own time 0.25 ms",
        "  with its children: 87.5 GFLOP/s, 20% of its peak 437.5 GFLOP/s (float32)",
        "  page faults: 100 in its calls of one forward (the floor-probing pass's), priced at about 0 ms "
        "(0 µs a fault)",
        "  bound with its children: compute — stand-in",
        "  own part (the '(root) (self)' row): 0.25 ms; 1.5 GFLOP/s, 12.5% of its peak; "
        "intensity 0.75 FLOP/B; bound: memory — stand-in own"]
    report.extra["per_layer"] = {"": dict(base, pct_peak=None)}
    assert "  with its children: 87.5 GFLOP/s" in report.explain("(root)").splitlines()
    # 1,000,000 bytes in its 1 ms: 1 GB/s; a byte count without a rate (or a rate over no bytes) says nothing
    for nbytes, rate, text in ((1_000_000, 1e9, "; 1 GB/s over 1,000,000 bytes"), (1_000_000, None, ""), (0, 1e9, "")):
        report.extra["per_layer"] = {"": dict(base, pct_peak=None, bytes=nbytes, bytes_per_s=rate)}
        assert "  with its children: 87.5 GFLOP/s" + text in report.explain("(root)").splitlines()
    # a price of 2 µs a fault: 100 faults are 0.2 ms; priced at 0.1 ms, the row's figure was held
    report.extra["fault_cost_us"] = 2.0
    for fault_ms, held in ((0.1, ", held to what the timed passes took"), (0.2, "")):
        report.extra["per_layer"] = {"": dict(base, pct_peak=20.0, fault_ms=fault_ms)}
        assert (f"  page faults: 100 in its calls of one forward (the floor-probing pass's), priced at about "
                f"{fault_ms} ms (2 µs a fault{held})") in report.explain("(root)").splitlines()


def test_a_report_level_figure_is_a_column_for_the_totals_cell_only_where_it_is_one_value():
    """A report-level result in ``extra`` that is one number (a stand-in plain_ms = 1.5) is a column
    whose totals cell holds it (Linear(4, 3) on 2×4 beside it: 2·24 + 6 = 54 FLOPs); one that is a dict
    (per_layer) is no column, refused by name (taking only the dicts, lists and tuples as columns refused
    the number and accepted the dict)."""
    report = torchcount.profile(nn.Sequential(nn.Linear(4, 3)), torch.randn(2, 4))
    report.extra.update(plain_ms=1.5, per_layer={"0": {}})
    cells = [[c.strip() for c in line.split("\t")]
             for line in report.table(columns="module,ops,plain_ms", tablefmt="tsv").splitlines()]
    assert ["0", "54"] in cells and ["total", "54", "1.5"] in cells  # (tsv drops the empty last cell)
    with pytest.raises(ValueError, match="unknown column\\(s\\) 'per_layer'"):
        report.table(columns="module,per_layer")


def test_explain_names_a_leafs_ops_as_the_ones_it_ran_and_a_parents_as_its_own():
    """A leaf with no rule that doubles a 2×3 input ran 6 multiplications: its source is 'the ops it ran';
    a root with a child (ResidualTop) is priced from 'its own ops, outside its children' (calling any
    row not priced by a rule 'outside its children', or any row with children so, survived)."""

    class Double(nn.Module):
        def forward(self, x):
            return x * 2

    lines = torchcount.profile(nn.Sequential(Double()), torch.randn(2, 3)).explain("0").splitlines()
    assert lines[2:6] == ["source: the ops it ran", "  params = 0",
                          "  multiplications (mul) [mults, weight 1] = elements = 6", "  FLOPs [flops] = 6"]
    root = torchcount.profile(ResidualTop(), torch.randn(2, 4)).explain("(root)").splitlines()
    assert root[2] == "source: its own ops, outside its children (whose rows hold their cost)"


def test_explain_lists_the_uncounted_ops_below_a_row_only_from_its_own_subtree():
    """One eigvalsh (no formula) in block '0.0', a Linear '1' beside: the parent '0' lists it as below it,
    the block itself as its own uncounted op, priced from its ops (its 0 is no formula's, not 'no
    arithmetic', which reading either condition alone wrote), the Linear not at all (listing every entry
    outside the row too named '0.0' under the Linear)."""
    report = _profile_quietly(nn.Sequential(nn.Sequential(_Eig()), nn.Linear(3, 3)), torch.randn(3, 3))
    entry = "aten._linalg_eigh.default ×1"
    assert f"  uncounted ops below it (not in its total): {entry} in '0.0'" in report.explain("0").splitlines()
    own = report.explain("0.0").splitlines()
    assert f"  uncounted ops: {entry}" in own and not any("below it" in line for line in own)
    assert own[2] == "priced from the ops it ran itself"  # (its cost is 0 for want of a formula, not 'no arithmetic')
    assert not any("uncounted" in line for line in report.explain("1").splitlines())


def test_explain_writes_an_op_run_twice_once_with_its_count():
    """A leaf multiplying a 2×3 input by 2 twice ran two identical lines of 6 multiplications: written
    once, '6, 2 times = 12' (a count written only from three times on left the 2 out: 'elements = 6')."""

    class Quad(nn.Module):
        def forward(self, x):
            return x * 2 * 2

    lines = torchcount.profile(nn.Sequential(Quad()), torch.randn(2, 3)).explain("0").splitlines()
    assert lines[4:6] == ["  multiplications (mul) [mults, weight 1] = elements = 6, 2 times = 12",
                          "  FLOPs [flops] = 12"]


class _Stepper(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x).relu()

    def step(self, x):  # two forwards, then ×3 and a sum outside any module's forward
        return (self(self(x)) * 3).sum()

    def shrink(self, x):  # no forward at all
        return x * 0.5


def test_explain_of_a_method_root_says_where_its_forwards_own_work_is_only_where_it_ran_one():
    """profile(method=...): the root's source line names the method's own ops, and, where the method ran
    the forward (step: twice on 3×4), that the forward's own work (its ReLU, 'its own ops', 2 calls) is in
    the total — 2·(3·4·4 = 48 MACs, 12 bias adds, 12 comparisons) + 12 mults + 11 adds = 263 FLOPs; a
    method that never calls it (shrink: 2×4 × 0.5, 8 multiplications) says nothing of a forward (the two
    cases swapped survived)."""
    step = torchcount.profile(_Stepper(), torch.randn(3, 4), method="step").explain("").splitlines()
    assert step[1:3] == ["input 3×4 → output scalar; one step call, the forward run 2 time(s) in it",
                         "source: the ops _Stepper.step(...) ran outside any module's forward; what its forward did "
                         "itself (its own ops, 2 call(s)) is in the total below"]
    assert "  total of the step call: 263 FLOPs [flops], 96 MACs" in step
    shrink = torchcount.profile(_Stepper(), torch.randn(2, 4), method="shrink").explain("").splitlines()
    assert shrink[1:3] == ["input 2×4 → output 2×4; one shrink call, the forward run 0 time(s) in it",
                           "source: the ops _Stepper.shrink(...) ran outside any module's forward"]
    assert "  total of the shrink call: 8 FLOPs [flops], 0 MACs" in shrink


def test_rows_of_modules_never_called_themselves_made_no_output_and_hold_no_call_floor():
    """A Linear the forward never calls and a ModuleList (never called itself; its two ReLUs are): each made
    no output (activation and own activation 0, also as exported) and ran no call, so measuring holds no
    per-call floor against its own time (0 units; the ModuleList's whole time spans its two layers' calls:
    2), where each called layer holds one (a row's defaults of 1 for these gave a never-called row an
    output element and a call floor)."""
    from torchcount.measure import _call_units

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.unused = nn.Linear(4, 4), nn.Linear(4, 2)
            self.blocks = nn.ModuleList([nn.ReLU(), nn.ReLU()])

        def forward(self, x):
            x = self.fc(x)
            for block in self.blocks:
                x = block(x)
            return x

    report = torchcount.profile(Net(), torch.randn(2, 4))
    exported = {d["path"]: (d["status"], d["calls"], d["activation"], d["self_activation"])
                for d in report.to_dict()["layers"]}
    assert exported == {"fc": ("rule", 1, 8, 8), "blocks": ("container", 0, 0, 0), "blocks.0": ("rule", 1, 8, 8),
                        "blocks.1": ("rule", 1, 8, 8), "unused": ("not called", 0, 0, 0)}
    own, whole = _call_units(report.layers)
    assert own == {"fc": 1, "blocks": 0, "blocks.0": 1, "blocks.1": 1, "unused": 0}
    assert whole == {"fc": 1, "blocks": 2, "blocks.0": 1, "blocks.1": 1, "unused": 0}


def test_a_path_not_in_the_report_is_refused_with_at_most_three_close_paths():
    """Five ReLUs layer1…layer5, asked for 'layer': each path is as close (2·5/11 = 0.91), and the error
    suggests three of them, no more (four survived)."""
    import re

    class Five(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer1, self.layer2, self.layer3, self.layer4, self.layer5 = (nn.ReLU() for _ in range(5))

        def forward(self, x):
            for i in range(1, 6):
                x = getattr(self, f"layer{i}")(x)
            return x

    report = torchcount.profile(Five(), torch.randn(2, 4))
    with pytest.raises(KeyError, match="no module 'layer' in this report; did you mean ") as info:
        report.row("layer")
    named = re.findall(r"'(layer\d)'", str(info.value))
    assert len(named) == 3 and set(named) <= {f"layer{i}" for i in range(1, 6)}


class _Concatenates(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 4)

    def forward(self, x):
        return torch.cat([self.a(x), self.b(x)], 1)


class _Scale(nn.Module):
    def forward(self, x, w):
        return x * w


class _HoldsAWeight(nn.Module):
    """Holds a weight it never computes with itself: its child multiplies by it."""

    def __init__(self):
        super().__init__()
        self.w, self.s = nn.Parameter(torch.ones(4)), _Scale()

    def forward(self, x):
        return self.s(x, self.w)


def test_a_root_that_only_moves_data_or_only_holds_a_weight_has_its_own_row_numbered_0():
    """A root whose own work is a torch.cat of its Linears' 2×4 outputs: no arithmetic, but 2·2·4 floats read
    and 2·8 written (64 and 64 bytes), so its '(root) (self)' row, numbered 0 as everywhere, makes the rows'
    bytes add up to the total (64 + 2·112 read, 64 + 2·32 written). A root holding a 4-element weight that its
    child multiplies by: its row holds the 4 parameters, so the params column adds up to the total's 4."""
    r = torchcount.profile(_Concatenates(), torch.randn(2, 4))
    assert [(row.index, row.name) for row in r.layers] == [(0, "(root)"), (1, "a"), (2, "b")]
    own = r.layers[0].self_cost
    assert (own.is_zero(), own.bytes_read, own.bytes_written) == (True, 64, 64)
    assert sum(row.shown_cost(own=row is r.root).bytes_read for row in r.layers) == r.total.cost.bytes_read == 288
    assert sum(row.shown_cost(own=row is r.root).bytes_written for row in r.layers) == r.total.cost.bytes_written == 128
    assert r.table().splitlines()[4].split()[:3] == ["0", "(root)", "(self)"]

    r = torchcount.profile(_HoldsAWeight(), torch.randn(2, 4))
    assert [(row.index, row.name, row.shown_params(own=row is r.root)) for row in r.layers] == \
        [(0, "(root)", 4), (1, "s", 0)]
    assert r.total.params == 4 and r.root.self_cost.is_zero()



def test_the_bytes_column_is_each_rows_counted_traffic_and_adds_up_to_the_total():
    """``columns=[..., "bytes"]`` shows what each row's ops read and write as counted, float32 here:
    Linear(8, 4) on 2×8 reads its input (16·4 = 64 B), weight (32·4 = 128 B) and bias (4·4 = 16 B) and
    writes 2×4 (32 B): 240; the ReLU reads and writes 2×4: 64; the total 304. Cut at depth 0 the root
    stands for both (304). With ``units``, Linear(16, 16) without bias on 11×16 reads 704 + 1,024 and
    writes 704 bytes: 2.43 K."""
    def cells(report, **kw):
        return {line.split()[0]: line.split()[1:] for line in report.table(**kw).splitlines()}

    report = torchcount.profile(nn.Sequential(nn.Linear(8, 4), nn.ReLU()), torch.randn(2, 8))
    shown = cells(report, columns=["module", "bytes"])
    assert (shown["0"], shown["1"], shown["total"]) == (["240"], ["64"], ["304"])
    assert report.row("0").cost.bytes == 240 and report.total.cost.bytes == 304
    # any case, as the other columns; a depth-0 table's root row is the whole model
    rolled = cells(report, columns="module,BYTES", depth=0)
    assert rolled["(root)"] == rolled["total"] == ["304"]
    wide = torchcount.profile(nn.Linear(16, 16, bias=False), torch.randn(11, 16))
    assert cells(wide, columns=["module", "bytes"], units=True)["total"] == ["2.43", "K"]
