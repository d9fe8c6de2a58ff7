"""``Report.by_type()``: the rows summed by layer type.

Expected numbers are closed forms written out here (a convolution's MACs, a Linear's
parameters, a residual add's elements), torchvision's published parameter counts, and the
partition itself: the groups' costs must add up to the report's total, their times to the
rows' own times.
"""
import csv
import io
import json
import math
import time
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

import torchcount
from torchcount.measure import details
from torchcount import cli

ROOT = Path(__file__).resolve().parents[1]


class Block(nn.Module):
    """conv → ReLU → conv, plus a residual add (the block's own work)."""

    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.act = nn.ReLU()
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)

    def forward(self, x):
        return self.conv2(self.act(self.conv1(x))) + x


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.blocks = nn.Sequential(Block(8), Block(8))
        self.shared = nn.Linear(8, 8)  # called twice
        self.head = nn.Linear(8, 4)
        self.scale = nn.Parameter(torch.ones(8))  # the root's own parameter, used in its forward

    def forward(self, x):
        h = self.blocks(self.stem(x)).mean((2, 3)) * self.scale
        h = self.shared(self.shared(h))
        return self.head(h)


def _net_report(**kwargs):
    torch.manual_seed(0)
    return torchcount.profile(Net(), torch.randn(2, 3, 6, 6), **kwargs)


def _sum(groups):
    return sum((g.cost for g in groups), torchcount.Cost())


def test_groups_by_hand():
    b = _net_report().by_type(convention="macs")
    g = {x.name: x for x in b.groups}
    # stem: 8 outputs × 6×6 positions × 3×3×3 taps, batch 2; each block conv: 8 × 36 × 8×3×3, ×4 convs
    assert g["Conv2d"].cost.macs == 2 * 8 * 36 * 27 + 4 * 2 * 8 * 36 * 72
    assert g["Conv2d"].params == (3 * 9 * 8 + 8) + 4 * 8 * 8 * 9
    assert (g["Conv2d"].layers, g["Conv2d"].calls) == (5, 5)
    # the shared Linear is one layer of two calls; the head another layer
    assert (g["Linear"].layers, g["Linear"].calls) == (2, 3)
    assert g["Linear"].params == (8 * 8 + 8) + (8 * 4 + 4)
    assert g["Linear"].cost.macs == 2 * 2 * 8 * 8 + 2 * 8 * 4
    # each block's own work is its residual add: 2×8×6×6 additions, two blocks
    assert g["Block (self)"].cost.adds == 2 * 2 * 8 * 36
    assert g["Block (self)"].cost.macs == 0 and g["Block (self)"].layers == 2
    # the root's own part: its parameter, the mean's and the scaling's work
    assert g["Net (self)"].params == 8
    assert g["Net (self)"].cost.mults == 2 * 8  # h * scale
    # the plain Sequential does nothing itself: no group
    assert "Sequential (self)" not in g and "Sequential" not in g
    assert b.groups[0].name == "Conv2d"  # sorted by the convention's ops, largest first
    assert _sum(b.groups) == b.report.total.cost
    assert sum(x.params for x in b.groups) == b.report.total.params == 3 * 9 * 8 + 8 + 4 * 576 + 72 + 36 + 8


def test_table_columns_add_up_and_name_the_convention():
    b = _net_report().by_type(convention="macs")
    text = b.table()
    assert "Net by layer type — convention 'macs'" in text
    lines = text.splitlines()
    total = next(line for line in lines if line.startswith("total"))
    assert f"{b.report.total.macs:,}" in total and "100.0%" in total
    assert "'Type (self)'" in text
    # under 'macs' the ops column is the MACs column: headed once; under 'flops' both
    assert lines[2].split() == ["type", "layers", "calls", "params", "MACs", "[macs]", "share"]
    assert _net_report().by_type().table().splitlines()[2].split()[4:7] == ["MACs", "FLOPs", "[flops]"]
    # a convention of one MAC each and additions weighed 0 counts the MACs too (its ops are the same
    # figure): headed once, and so in compare's totals
    mine = torchcount.Convention("mine", "MACs", "MACs; additions weighed 0", {"macs": 1, "adds": 0})
    assert _net_report().by_type(convention=mine).table().splitlines()[2].split() == \
        ["type", "layers", "calls", "params", "MACs", "[mine]", "share"]
    totals = torchcount.compare(nn.Linear(4, 3), nn.Linear(4, 2), torch.randn(1, 4), convention=mine).table()
    assert [line.split()[0] for line in totals.splitlines() if line.startswith(("MACs", "params"))] == \
        ["params", "MACs"]
    # the type left-aligned, every figure right-aligned: the lines of the grid end together, and a group's
    # parameters (108, the Linears') end where the total's (2,644) do
    grid = lines[2:lines.index(total) + 1]
    assert len({len(line.rstrip()) for line in grid}) == 1
    linear = next(line for line in lines if line.startswith("Linear "))
    assert linear.index(" 108 ") + 4 == total.index(" 2,644 ") + 6
    recs = b.records()
    assert sum(r["ops"] for r in recs) == b.report.total.macs
    assert math.isclose(sum(r["share"] for r in recs), 100.0)


@pytest.mark.parametrize("name, size", [("mobilenet_v2", 224), ("resnet50", 224), ("vit_b_16", 224),
                                        ("inception_v3", 299), ("convnext_tiny", 224)])
def test_partition_of_torchvision_models_on_meta(name, size):
    with torch.device("meta"):
        model = torchvision.models.get_model(name, **({"init_weights": False} if name == "inception_v3" else {}))
    report = torchcount.profile(model.eval(), torch.zeros(1, 3, size, size, device="meta"))
    b = report.by_type()
    assert _sum(b.groups) == report.total.cost
    # every parameter of these models sits in exactly one group (no weight is tied)
    assert sum(g.params for g in b.groups) == report.total.params
    published = {"mobilenet_v2": 3_504_872, "resnet50": 25_557_032, "vit_b_16": 86_567_656,
                 "inception_v3": 27_161_264, "convnext_tiny": 28_589_128}[name]
    if name != "inception_v3":  # (built here with its auxiliary classifier: more than the published count)
        assert report.total.params == published


def test_a_rule_priced_whole_holds_its_submodules():
    with torch.device("meta"):
        model = torchvision.models.vit_b_16().eval()
    b = torchcount.profile(model, torch.zeros(1, 3, 224, 224, device="meta")).by_type()
    g = {x.name: x for x in b.groups}
    d = 768
    # in_proj (3d×d + 3d) and out_proj (d×d + d) in each of the 12 attention layers
    assert g["MultiheadAttention"].params == 12 * (4 * d * d + 4 * d)
    # out_proj is in MultiheadAttention's group, not Linear's: 2 MLP Linears per layer and the head
    assert g["Linear"].layers == 25
    assert any("MultiheadAttention: priced whole by a rule" in line for line in b.footer())


def test_tied_weights_are_in_each_holders_group():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(50, 16)
            self.out = nn.Linear(16, 50, bias=False)
            self.out.weight = self.emb.weight

        def forward(self, ids):
            return self.out(self.emb(ids))

    report = torchcount.profile(Tied(), torch.zeros(1, 7, dtype=torch.long))
    b = report.by_type()
    assert report.total.params == 50 * 16
    assert sum(g.params for g in b.groups) == 2 * 50 * 16
    assert any("tied between modules" in line for line in b.footer())
    assert _sum(b.groups) == report.total.cost


def test_recurrent_and_uncounted_work():
    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(4, 6, num_layers=2)

        def forward(self, x):
            y, _ = self.lstm(x)
            return torch.linalg.eigvalsh(y[..., :3].transpose(-1, -2) @ y[..., :3])  # no formula for eigvalsh

    with pytest.warns(torchcount.UncountedWarning):
        report = torchcount.profile(Odd(), torch.randn(5, 1, 4))
    b = report.by_type(convention="macs")
    g = {x.name: x for x in b.groups}
    # 2-layer LSTM, 5 steps, batch 1: 4 gates × (input + hidden) × hidden per step and layer
    assert g["LSTM"].cost.macs == 5 * (4 * 6 * (4 + 6) + 4 * 6 * (6 + 6))
    assert g["Odd (self)"].uncounted == 1 and g["LSTM"].uncounted == 0
    assert "Odd (self) †" in b.table()
    assert any(line.startswith("† the group's cost leaves out") and "Odd (self) (1 call)" in line
               for line in b.footer())


def test_sort_top_and_errors():
    report = _net_report()
    b = report.by_type(sort="params")
    assert [x.params for x in b.groups] == sorted((x.params for x in b.groups), reverse=True)
    assert [x.name for x in report.by_type(sort="type").groups] == sorted(x.name for x in b.groups)
    top = report.by_type(top=2)
    assert len(top.shown) == 2 and len(top.records()) == 2 and len(top.groups) == len(b.groups)
    assert "showing the top 2 of" in top.table()
    # every group shown (no top, or a top of as many groups or more): no such line
    assert not any("showing the top" in line for by in (report.by_type(), report.by_type(top=len(b.groups)))
                   for line in by.footer())
    total = next(line for line in top.table().splitlines() if line.startswith("total"))
    assert f"{report.total.flops:,}" in total  # the totals stay the whole model's
    with pytest.raises(ValueError, match="cannot sort by 'bogus'.*ops, MACs, bytes, params"):
        report.by_type(sort="bogus")
    with pytest.raises(ValueError, match="time_ms needs profile"):
        report.by_type(sort="time_ms")
    with pytest.raises(ValueError, match="top must be"):
        report.by_type(top=0)


def test_measured_times_are_the_rows_own_times():
    report = _net_report(measure=True, warmup=1, repeat=3)
    b = report.by_type()
    assert b.sort == "time_ms"
    times = [x.time_ms for x in b.groups]
    assert times == sorted(times, reverse=True)
    g = {x.name: x for x in b.groups}
    # the Linear group: the shared layer's time (both calls) and the head's
    linear = report.row("shared").extra["time_ms"] + report.row("head").extra["time_ms"]
    assert math.isclose(g["Linear"].time_ms, linear)
    # a parent's own part: its own time (children excluded)
    block = sum(report.row(f"blocks.{i}").self_extra["time_ms"] for i in range(2))
    assert math.isclose(g["Block (self)"].time_ms, block)
    rec = {r["type"]: r for r in b.records()}
    root_ms = report.extra["time_ms"]
    assert math.isclose(rec["Conv2d"]["time%"], 100 * g["Conv2d"].time_ms / root_ms)
    flops = torchcount.get_convention("flops").ops(g["Conv2d"].cost)
    assert math.isclose(rec["Conv2d"]["GFLOP/s"], flops / g["Conv2d"].time_ms / 1e6)
    assert "time_ms" in b.table() and "GFLOP/s" in b.table()
    # the total row's rate: the model's FLOPs over its measured forward (the table's last line and column)
    from torchcount.report import _extra
    total_flops = torchcount.get_convention("flops").ops(report.total.cost)
    total_row = next(line for line in b.table().splitlines() if line.startswith("total "))
    assert total_row.split()[-1] == _extra(total_flops / root_ms / 1e6)


def test_exports_and_a_saved_report(tmp_path):
    report = _net_report()
    b = report.by_type()
    rows = list(csv.DictReader(io.StringIO(b.to_csv(tmp_path / "types.csv"))))
    assert (tmp_path / "types.csv").read_text() == b.to_csv()
    assert sum(int(r["ops"]) for r in rows) == report.total.flops
    assert sum(int(r["macs"]) for r in rows) == report.total.macs
    assert next(r for r in rows if r["type"] == "Linear")["paths"] == "shared;head"
    md = b.to_markdown()
    assert md.startswith("**Net by layer type") and "| Conv2d" in md
    assert json.loads(json.dumps(b.to_dict()))["groups"][0]["type"] == b.groups[0].name
    assert "<table>" in b._repr_html_()
    # a report read back from its JSON has no modules; its rows give the same groups
    loaded = torchcount.load_report(report.to_json())
    assert loaded.by_type().records() == b.records()



def test_a_saved_by_type_breakdown_is_named_when_read_as_a_report(tmp_path, capsys):
    """A --by-type JSON ({model, convention, sort, top, groups}) holds no rows: read as a report it is
    refused with what it is and what to save instead (it was told it might be a --compare document)."""
    path = tmp_path / "types.json"
    assert cli.main(["torch.nn:Linear(8, 4)", "--input", "2x8", "--by-type", "--format", "json",
                     "--output", str(path)]) == 0
    with pytest.raises(ValueError, match=r"a --by-type breakdown.*save the report itself") as info:
        torchcount.load_report(path)
    assert "--compare" not in str(info.value)
    capsys.readouterr()
    assert cli.main([str(path), "--by-type"]) == 2
    err = capsys.readouterr().err
    assert "types.json: not a torchcount report" in err and "a --by-type breakdown" in err

def test_cli_by_type(capsys):
    code = cli.main(["torch.nn:Linear(8, 4)", "--input", "2x8", "--by-type"])
    out, _ = capsys.readouterr()
    assert code == 0
    line = next(x for x in out.splitlines() if x.split()[:2] == ["Linear", "1"])  # (the title names the model)
    assert "36" in line.split() and "64" in line.split()  # params 8×4 + 4; FLOPs 2×(2×8×4) = 128 → MACs 64
    code = cli.main(["torch.nn:Linear(8, 4)", "--input", "2x8", "--by-type", "--format", "csv"])
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr()[0])))
    assert [(r["type"], r["params"], r["MACs"]) for r in rows] == [("Linear", "36", "64")]
    for extra, message in ((["--columns", "type"], "--columns"), (["--depth", "1"], "--depth"),
                           (["--sort", "bogus"], "--by-type sorts by"),
                           (["--sort", "time_ms"], "time_ms needs --measure")):
        code = cli.main(["torch.nn:Linear(8, 4)", "--input", "2x8", "--by-type", *extra])
        err = capsys.readouterr()[1]
        assert code == 2 and message in err and "profile(" not in err  # (the command line's words)


def test_compare_by_type_matches_types_not_paths():
    # docs/analyses.md's pair: a 3×3 convolution against a 1×1 bottleneck then a 3×3, and a ReLU in B only
    a = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1))                        # 16·16·9·8·8 = 147,456 MACs
    b = nn.Sequential(nn.Conv2d(16, 4, 1), nn.Conv2d(4, 16, 3, padding=1), nn.ReLU())  # 4,096 + 36,864
    c = torchcount.compare(a, b, torch.randn(1, 16, 8, 8), convention="macs", by="type")
    lines = {line.name: line for line in c.layers}
    assert (lines["Conv2d"].a, lines["Conv2d"].b) == (147_456, 40_960)
    assert round(lines["Conv2d"].reduction, 2) == round(100 * (147_456 - 40_960) / 147_456, 2) == 72.22
    assert (lines["ReLU"].a, lines["ReLU"].b, lines["ReLU"].reduction) == (None, 0, None)
    text = c.table()
    assert "per layer type, MACs [macs]:" in text and "type A" not in text
    # by path the same pair lines up '0' with '0': a 3×3 against a 1×1, which is no variant of it
    by_path = {line.name: line for line in torchcount.compare(a, b, torch.randn(1, 16, 8, 8),
                                                             convention="macs").layers}
    assert (by_path["0"].a, by_path["0"].b) == (147_456, 4_096)
    with pytest.raises(ValueError, match="by is 'path'"):
        torchcount.compare(c.report_a, c.report_b, by="types")
    with pytest.raises(ValueError, match="depth cuts"):
        torchcount.compare(c.report_a, c.report_b, by="type", depth=1)


def test_cli_compare_by_type(capsys):
    code = cli.main(["torch.nn:Conv2d(16, 16, 3, padding=1)", "--input", "1x16x8x8", "-c", "macs", "--by-type",
                     "--compare", "torch.nn:Conv2d(16, 4, 1)", "--format", "csv"])
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr()[0])))
    assert code == 0
    conv = next(r for r in rows if r["type"] == "Conv2d")
    assert (conv["a"], conv["b"]) == ("147456", "4096")  # 16·16·9·64 against 16·4·64


def test_docs_resnet50_against_mobilenet_v2_by_type():
    """docs/analyses.md quotes this comparison's Conv2d line; each model's Conv2d FLOPs are also 2 × its
    convolutions' MACs, which (with the rest) make torchvision's published totals (4.09 and 0.30 GMACs)."""
    reports = []
    for name in ("resnet50", "mobilenet_v2"):
        with torch.device("meta"):
            model = torchvision.models.get_model(name).eval()
        reports.append(torchcount.profile(model, torch.zeros(1, 3, 224, 224, device="meta")))
    c = torchcount.compare(*reports, by="type")
    conv = next(line for line in c.layers if line.name == "Conv2d")
    doc = " ".join((ROOT / "docs" / "analyses.md").read_text().split())
    assert f"Conv2d {conv.a:,} against {conv.b:,} FLOPs ({conv.reduction:.2f} % fewer)" in doc
    bn = next(line for line in c.layers if line.name == "BatchNorm2d")
    assert f"BatchNorm2d {bn.reduction:.2f} % fewer" in doc
    assert round(reports[0].total.macs / 1e9, 2) == 4.09 and round(reports[1].total.macs / 1e9, 2) == 0.30


def test_cli_by_type_plot_draws_the_groups_of_its_table(capsys, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from torchcount.analysis import plots

    drawn = {}
    monkeypatch.setattr(plots, "plot_layers", lambda report, path, **kw: drawn.update(kw))
    code = cli.main(["resnet18", "--input", "1x3x32x32", "--by-type", "--sort", "calls", "--top", "2",
                     "--plot", str(tmp_path / "p.png")])
    out = capsys.readouterr()[0]
    assert code == 0 and drawn["by"] == "type"
    # by calls: BatchNorm2d and Conv2d, 20 each (by name on a tie), ahead of ReLU's 17 (9 modules: each
    # BasicBlock's called twice, the stem's once); the plot draws the groups the table shows
    assert drawn["rows"] == ["BatchNorm2d", "Conv2d"] and "showing the top 2 of 7 groups by calls" in out
    assert cli.main(["resnet18", "--input", "1x3x32x32", "--by-type", "--sort", "calls"]) == 0
    relu = next(line for line in capsys.readouterr()[0].splitlines() if line.startswith("ReLU "))
    assert relu.split()[1:3] == ["9", "17"]


class _Holder(nn.Module):
    """Calls a Linear it holds by a plain reference (not a submodule): the Linear's row is elsewhere."""

    def __init__(self, lin):
        super().__init__()
        self.refs = [lin]

    def forward(self, x):
        return self.refs[0](x)


class _CallsAcross(nn.Module):
    """The Linear is registered at "lin" and called there and from inside "b" (CoaT's pattern)."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 16)
        self.b = _Holder(self.lin)

    def forward(self, x):
        return self.lin(x) + self.b(x)


def test_a_module_called_from_outside_its_place_in_the_tree_is_in_one_group_only():
    # two calls of the 8→16 Linear on 4 rows: 2·4·8·16 MACs, all in the Linear's row; "b" did nothing itself
    # (its row's cost holds the call it made: summing rows' inclusive costs counted it twice, share 148.6 %)
    report = torchcount.profile(_CallsAcross(), torch.randn(4, 8))
    assert report.row("lin").called_from == ("b",)
    b = report.by_type(convention="macs")
    g = {x.name: x for x in b.groups}
    assert g["Linear"].cost.macs == 2 * 4 * 8 * 16 == report.total.macs
    assert g["_Holder"].cost.is_zero() and g["_Holder"].cost.bytes == 0
    assert g["_CallsAcross (self)"].cost.adds == 4 * 16  # the sum of the two results
    assert _sum(b.groups) == report.total.cost
    assert math.isclose(sum(r["share"] for r in b.records()), 100.0)


def test_a_module_called_from_outside_its_place_in_the_tree_holds_its_own_time_only():
    torch.manual_seed(0)
    report = torchcount.profile(_CallsAcross(), torch.randn(4, 8), measure=True, warmup=1, repeat=3)
    g = {x.name: x for x in report.by_type().groups}
    holder = report.row("b")
    # "b"'s time is the Python around its call of the Linear, whose time is in the Linear's group:
    # its own (exclusive) time, less than its whole time by that call's
    assert math.isclose(g["_Holder"].time_ms, holder.self_extra["time_ms"])
    assert g["_Holder"].time_ms < holder.extra["time_ms"]
    assert math.isclose(g["Linear"].time_ms, report.row("lin").extra["time_ms"])


def test_the_hooks_of_a_covered_child_are_counted_once(ruled_block):
    # the covered Linear's hooks add 1 to its 2×4 input and triple its output: 8 additions, 8
    # multiplications, its own work (the block's rule prices 2·16 MACs); they were in the block's group too
    model = nn.Sequential(ruled_block())
    model[0].fc.register_forward_pre_hook(lambda module, args: (args[0] + 1,))
    model[0].fc.register_forward_hook(lambda module, args, out: out * 3)
    report = torchcount.profile(model, torch.randn(2, 4))
    g = {x.name: x for x in report.by_type().groups}
    block, hooks = g["RuledBlock"].cost, g["Linear"].cost
    assert (block.macs, block.adds, block.mults) == (2 * 16, 0, 0)
    assert (hooks.macs, hooks.adds, hooks.mults) == (0, 8, 8)
    assert g["RuledBlock"].params == 4 * 4 + 4 and g["Linear"].params == 0
    assert _sum(g.values()) == report.total.cost


def test_a_module_a_covered_childs_hook_calls_is_in_its_own_group_once(ruled_block):
    # the hook calls another Linear(4, 4) registered on the block: not covered by the rule, a row of its
    # own (2·4·4 MACs, 8 bias adds, 20 parameters); it was in the block's group as well
    model = nn.Sequential(ruled_block())
    extra = model[0].extra = nn.Linear(4, 4)
    model[0].fc.register_forward_hook(lambda module, args, out: extra(out))
    report = torchcount.profile(model, torch.randn(2, 4))
    assert report.row("0.extra").status == "rule"
    b = report.by_type(convention="macs")
    g = {x.name: x for x in b.groups}
    assert (g["Linear"].cost.macs, g["Linear"].cost.adds, g["Linear"].params) == (2 * 4 * 4, 2 * 4, 4 * 4 + 4)
    assert (g["RuledBlock"].cost.macs, g["RuledBlock"].params) == (2 * 16, 4 * 4 + 4)  # its rule, its fc
    assert _sum(b.groups) == report.total.cost
    assert sum(x.params for x in b.groups) == report.total.params == 2 * (4 * 4 + 4)


class _Sleeps(nn.Module):
    """No arithmetic, at least 30 ms a call (time.sleep guarantees ≥)."""

    def forward(self, x):
        time.sleep(0.03)
        return x


@pytest.mark.parametrize("held", ["by the block", "elsewhere"])
def test_a_module_a_covered_childs_hook_calls_keeps_its_time_out_of_the_rules_row(ruled_block, held):
    # the hook's call is a row of its own (not covered: the rule does not price it), so its 30 ms are its
    # own, not also the rule-priced block's (whose whole time held them: the groups summed to ~2× the
    # forward), nor its covered child's
    model = nn.Sequential(ruled_block())
    sleeper = _Sleeps()
    if held == "by the block":
        model[0].extra = sleeper
    else:
        model.append(nn.Identity())
        model[1].sleeper = sleeper
    model[0].fc.register_forward_hook(lambda module, args, out: sleeper(out))
    report = torchcount.profile(model, torch.randn(2, 4), measure=True, warmup=1, repeat=3)
    path = "0.extra" if held == "by the block" else "1.sleeper"
    assert report.row(path).extra["time_ms"] >= 30
    assert report.row("0").status == "rule" and report.row("0.fc").status == "covered"
    # a 2×4 by 4×4 product, a call's Python and a wrapper's: far less than the 30 ms sleep
    assert report.row("0").extra["time_ms"] < 15 and report.row("0.fc").extra["time_ms"] < 15
    b = report.by_type()
    summed = sum(g.time_ms for g in b.groups if g.time_ms is not None)
    assert summed <= 1.05 * report.extra["time_ms"]
    # (the footer says the medians need not add up only where they fall short: a busy CPU's passes, not a
    # time held twice)
    assert ("need not add up" in b.table()) == (summed < 0.95 * report.extra["time_ms"])


def test_a_model_priced_by_a_rule_keeps_the_time_of_what_its_childs_hook_calls_out_of_its_own(ruled_block):
    """The model itself priced whole by a rule, a hook of its covered child calling a module of its own
    row: the root's row took the whole forward's time (the root's is), holding the hook's 30 ms a second
    time beside that module's row, and the groups summed to ~2× the forward."""
    model = ruled_block()
    model.extra = _Sleeps()
    model.fc.register_forward_hook(lambda module, args, out: model.extra(out))
    report = torchcount.profile(model, torch.randn(2, 4), measure=True, warmup=1, repeat=3)
    assert report.root.status == "rule" and report.row("extra").extra["time_ms"] >= 30
    assert report.extra["time_ms"] >= 30  # (the forward's)
    assert report.root.extra["time_ms"] < 15  # (a 2×4 by 4×4 product and its calls' Python)
    b = report.by_type()
    summed = sum(g.time_ms for g in b.groups if g.time_ms is not None)
    assert summed <= 1.05 * report.extra["time_ms"]
    # (the footer says the medians need not add up only where they fall short: a busy CPU's passes, not a
    # time held twice)
    assert ("need not add up" in b.table()) == (summed < 0.95 * report.extra["time_ms"])


def test_a_module_held_elsewhere_that_a_rules_forward_calls_keeps_its_time_in_the_rules_row():
    """A ruled block whose forward calls a module held by its parent: counting covers that call (the
    rule prices it), but its 30 ms were taken out of the rule's row as if it were a row of its own, and
    by_type, which leaves covered rows out, held none of it (the groups summed to ~1 % of the forward)."""
    from torchcount.cost import Cost, Term
    from torchcount.rules import registry

    class CallsHeld(nn.Module):
        def __init__(self, held):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.__dict__["held"] = held  # (not registered: held by the parent)

        def forward(self, x):
            return self.held(self.fc(x))

    class Parent(nn.Module):
        def __init__(self):
            super().__init__()
            self.sleeper = _Sleeps()
            self.block = CallsHeld(self.sleeper)

        def forward(self, x):
            return self.block(x)

    torchcount.module_rule(CallsHeld)(lambda module, call: Cost.of(
        Term("macs", "products", "rows·4·4", "", call.input.numel // 4 * 16)))
    try:
        report = torchcount.profile(Parent(), torch.randn(2, 4), measure=True, warmup=1, repeat=3)
    finally:
        registry._MODULE_RULES.pop(CallsHeld)
        registry._lookup_cache.clear()
    assert report.row("block").status == "rule" and report.row("sleeper").status == "covered"
    b = report.by_type()
    group = next(g for g in b.groups if g.name == "CallsHeld")
    assert group.time_ms >= 30
    summed = sum(g.time_ms for g in b.groups if g.time_ms is not None)
    assert summed <= 1.05 * report.extra["time_ms"]
    # (the footer says the medians need not add up only where they fall short: a busy CPU's passes, not a
    # time held twice)
    assert ("need not add up" in b.table()) == (summed < 0.95 * report.extra["time_ms"])


def test_an_op_without_a_formula_in_a_covered_childs_hook_is_counted_once(ruled_block):
    model = nn.Sequential(ruled_block())
    model[0].fc.register_forward_hook(lambda module, args, out: (torch.linalg.eigvalsh(out.T @ out), out)[1])
    with pytest.warns(torchcount.UncountedWarning):
        report = torchcount.profile(model, torch.randn(2, 4))
    assert sum(u.calls for u in report.uncounted) == 1
    b = report.by_type(convention="macs")
    assert sum(x.uncounted for x in b.groups) == 1
    assert _sum(b.groups) == report.total.cost
    # the hook's 4×2 @ 2×4 product (32 MACs) is the covered Linear's own work, beside the rule's 2·16
    assert {x.name: x.cost.macs for x in b.groups} == {"RuledBlock": 2 * 16, "Linear": 4 * 2 * 4}
    # every uncounted call is in a group: no line for work that no row holds (mutated to ≥ 0, it read "0 calls …")
    assert not any("of work with no formula" in line for line in b.footer())


def test_work_with_no_formula_that_no_row_holds_is_named_in_the_footer():
    # a ReLU run in another thread: listed as uncounted at "act", but it has no row (never called in the
    # profiling thread, no parameters), so no group holds it; the † line listed no group (it ended ": ")
    from concurrent.futures import ThreadPoolExecutor

    class Threaded(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.act = nn.Linear(4, 4), nn.ReLU()

        def forward(self, x):
            with ThreadPoolExecutor(1) as pool:
                y = pool.submit(self.act, x).result()
            return self.fc(x) + y

    with pytest.warns(torchcount.UncountedWarning):
        report = torchcount.profile(Threaded(), torch.randn(2, 4))
    assert [(u.path, u.calls) for u in report.uncounted] == [("act", 1)]
    b = report.by_type()
    assert sum(g.uncounted for g in b.groups) == 0 and "†" not in b.table()
    footer = b.footer()
    assert not any(line.startswith("†") for line in footer)
    assert any(line.startswith("1 call of work with no formula is in no group") and "act" in line for line in footer)


def test_a_module_registered_in_two_places_is_named_where_the_parameters_exceed_the_model():
    # the Linear(8, 16) (136 parameters) is registered at "a.lin" (its row) and at "b.lin", called from both;
    # "b" has no row below it, so its row (and group) holds the Linear's parameters by registration, as
    # the per-layer table's: 272 against 136, which the footer put down to a tied weight only
    class Holder(nn.Module):
        def __init__(self, lin):
            super().__init__()
            self.lin = lin

        def forward(self, x):
            return self.lin(x)

    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            lin = nn.Linear(8, 16)
            self.a, self.b = Holder(lin), Holder(lin)

        def forward(self, x):
            return self.a(x) + self.b(x)

    report = torchcount.profile(Two(), torch.randn(4, 8))
    b = report.by_type(convention="macs")
    assert report.total.params == 8 * 16 + 16
    assert sum(g.params for g in b.groups) == 2 * (8 * 16 + 16)
    assert _sum(b.groups) == report.total.cost and report.total.macs == 2 * 4 * 8 * 16
    line = next(x for x in b.footer() if x.startswith("params: the groups hold 288 against the model's 144"))
    assert "registered in two places" in line


def test_a_training_steps_backward_by_the_layer_type_that_set_it_up():
    """tests/test_backward.py's classifier step: the backward's MACs by type: the first convolution's
    weight gradient only (26·26·5·9), the second's input and weight gradients (2 × 24·24·5·45), each
    Linear's 2 × its forward (2880·128 and 128·10); they add up to the backward's MACs, which are
    counted in the root's own group (the method ran it)."""
    from test_backward import ClassifierStep

    model = nn.Sequential(nn.Conv2d(1, 5, 3), nn.Conv2d(5, 5, 3), nn.Flatten(), nn.Linear(2880, 128),
                          nn.Linear(128, 10))
    report = torchcount.profile(ClassifierStep(model), (torch.randn(1, 1, 28, 28), torch.tensor([3])),
                                method="train_step", warn=False)
    b = report.by_type(convention="macs")
    g = {x.name: x for x in b.groups}
    assert g["Conv2d"].backward_macs == 26 * 26 * 5 * 9 + 2 * 24 * 24 * 5 * 45
    assert g["Linear"].backward_macs == 2 * (2880 * 128 + 128 * 10)
    backward = sum(x.backward_macs or 0 for x in b.groups)
    assert backward == report.extra["backward_MACs"] == g["ClassifierStep (self)"].cost.macs
    assert _sum(b.groups) == report.total.cost
    assert "backward_MACs" in b.table().splitlines()[2] and "backward_MACs" in b.to_csv().splitlines()[0]
    # the total row's backward_MACs: the groups' sum, 30,420 + 259,200 + 739,840 by hand
    # (its last column, unmeasured)
    assert b.table().splitlines()[2].split()[-1] == "backward_MACs" and backward == 1_029_460
    total_row = next(line for line in b.table().splitlines() if line.startswith("total "))
    assert total_row.split()[-1] == "1,029,460"
    # the records (CSV, JSON) carry each group's figure, 0 for a group whose forward set up no backward (Flatten)
    rec = {r["type"]: r["backward_MACs"] for r in b.records()}
    assert (rec["Linear"], rec["Flatten"]) == (2 * (2880 * 128 + 128 * 10), 0)


def test_cli_by_type_json_takes_sort_and_top(capsys):
    code = cli.main(["resnet18", "--input", "1x3x32x32", "--by-type", "--sort", "params", "--top", "2",
                     "--format", "json"])
    doc = json.loads(capsys.readouterr()[0])
    assert code == 0 and (doc["sort"], doc["top"]) == ("params", 2)
    # the two types with the most parameters: the 20 convolutions, then the 512 → 1000 classifier. The
    # convolutions hold torchvision's published 11,689,512 less the classifier's and the 20 BatchNorms'
    # (a weight and a bias per channel: 64 in the stem, 4 × 64, 4 × 128 + 128, 4 × 256 + 256, 4 × 512 + 512)
    classifier = 512 * 1000 + 1000
    norms = 2 * (64 + 4 * 64 + 5 * 128 + 5 * 256 + 5 * 512)
    assert [(g["type"], g["params"]) for g in doc["groups"]] == [("Conv2d", 11_689_512 - classifier - norms),
                                                                 ("Linear", classifier)]
    assert cli.main(["resnet18", "--input", "1x3x32x32", "--sort", "params", "--format", "json"]) == 2


def test_the_footer_says_when_the_groups_times_do_not_add_up_to_the_forwards():
    """Each time is a median over the passes, and medians need not add up: where the groups' times
    sum to more than 5 % off the measured forward (the total line's time), the footer says by how much
    (the time% column summed to 75 % on two busy CPU cores, with no word why). Stand-in times: 1.5 +
    4.5 = 6 ms of a 10 ms forward is 60 %; of a 6.2 ms forward, 97 %: no line."""
    report = torchcount.profile(nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 4)), torch.randn(2, 8))
    for row, t in zip(report.layers, (1.5, 4.5)):
        row.extra["time_ms"] = t
    report.extra["time_ms"] = 10.0
    b = report.by_type()
    assert [(g.name, g.time_ms) for g in b.groups] == [("Linear", 6.0)]
    assert "the groups' times sum to 6 ms, 60.0% of the measured forward (10 ms)" in b.table()
    report.extra["time_ms"] = 6.2
    assert "the groups' times sum to" not in report.by_type().table()
    # exactly 5 % off (9.5 of 10 ms, 10.5 of 10 ms) is not more than 5 %: no line
    for times in ((4.0, 5.5), (5.0, 5.5)):
        for row, t in zip(report.layers, times):
            row.extra["time_ms"] = t
        report.extra["time_ms"] = 10.0
        assert "the groups' times sum to" not in report.by_type().table()
    # a small model's forward takes under a millisecond: 0.15 + 0.45 = 0.6 ms of a 0.8 ms forward, 75 %
    for row, t in zip(report.layers, (0.15, 0.45)):
        row.extra["time_ms"] = t
    report.extra["time_ms"] = 0.8
    assert "the groups' times sum to 0.6 ms, 75.0% of the measured forward (0.8 ms)" in report.by_type().table()


def test_the_footer_repeats_the_measurements_busy_cpus_line():
    """The groups' times hold what the process's threads waited for a CPU (the per-layer footer's "busy
    CPUs" line); by_type, and the CLI's --measure --by-type, which prints no other footer, said only that
    "a busy CPU … widens the gap", not whether it was busy. Stand-in times and footer, as above."""
    report = torchcount.profile(nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 4)), torch.randn(2, 8))
    for row, t in zip(report.layers, (1.5, 4.5)):
        row.extra["time_ms"] = t
    report.extra["time_ms"] = 10.0
    busy = ("busy CPUs: this process's threads waited 159 ms for a CPU per forward (median of the timed passes, "
            "0–192; 148% of it, its threads summed): …; measure again with the machine idle")
    report.extra["footer"] = ["measured on CPU (2 threads), float32: …", busy, "memory: …"]
    footer = report.by_type().footer()
    assert footer[-1] == busy and footer[-2].startswith("the groups' times sum to 6 ms")
    report.extra["footer"] = ["measured on CPU (2 threads), float32: …", "memory: …"]
    assert not any(line.startswith("busy CPUs") for line in report.by_type().footer())
    assert torchcount.load_report(report.to_json()).by_type().footer() == report.by_type().footer()


def test_the_footer_says_which_groups_hold_mean_times():
    """A layer called in only some of the timed passes (a branch taken on odd calls: the counted one, and
    with warmup=0 and repeat=4 the timed passes are calls 3, 4, 7, 8, so 2 of 4) shows its mean per pass over all of
    them, and so does its parent's own time; the footer called every group's time a "median of the
    timed passes". It now names the groups that hold such means."""
    class OddCalls(nn.Module):
        def __init__(self):
            super().__init__()
            self.always, self.branch, self.calls = nn.Linear(4, 4), nn.ReLU(), 0

        def forward(self, x):
            self.calls += 1
            x = self.always(x)
            return self.branch(x) if self.calls % 2 else x

    report = torchcount.profile(OddCalls(), torch.randn(2, 4), measure=True, warmup=0, repeat=4)
    assert details(report, "branch")["passes_called"] == 2 and details(report, "always")["time_stat"] == "median"
    line = next(line for line in report.by_type().footer() if line.startswith("time_ms: "))
    assert line.endswith("; in OddCalls (self), ReLU: a layer called in only some of the passes, or holding one, "
                         "has its mean per pass over all of them (0 where not called), as in the per-layer table")
    plain = torchcount.profile(nn.Sequential(nn.Linear(4, 4)), torch.randn(2, 4), measure=True, warmup=0, repeat=2)
    assert next(line for line in plain.by_type().footer() if line.startswith("time_ms: ")).endswith("over that time")


def test_a_group_with_no_flops_has_no_rate_as_a_row_has_none():
    """The per-layer table leaves GFLOP/s blank (None) for a row that did no FLOPs (docs/measure.md); by
    type, the same rows read "0" (Dropout, Flatten, a container's own Python: "Sequential (self) … 0"), a
    rate that reads as a slow kernel. Now blank and None, as the rows' are. Stand-in times."""
    report = torchcount.profile(nn.Sequential(nn.Linear(8, 8), nn.Flatten()), torch.randn(2, 8))
    for row, t in zip(report.layers, (2.0, 0.5)):
        row.extra["time_ms"] = t
    report.extra["time_ms"] = 2.5
    assert report.row("1").extra.get("GFLOP/s") is None
    b = report.by_type()
    rec = {r["type"]: r for r in b.records()}
    assert rec["Flatten"]["time_ms"] == 0.5 and rec["Flatten"]["GFLOP/s"] is None
    assert rec["Linear"]["GFLOP/s"] == pytest.approx((2 * 2 * 8 * 8 + 2 * 8) / 2.0 / 1e6)
    line = next(line for line in b.table().splitlines() if line.startswith("Flatten"))
    assert line.split()[-1] == "20.0%" and not line.rstrip().endswith(" 0")
    # the total line: the model's 272 FLOPs (2·8·8 MACs × 2 + 16 bias adds) over its 2.5 ms forward, 100 % of it
    total = next(line for line in b.table().splitlines() if line.startswith("total"))
    assert total.split() == ["total", "2", "2", "72", "128", "272", "100.0%", "2.5", "100.0%", "0.000109"]


def test_explain_a_group_as_the_sum_of_its_layers(capsys):
    b = _net_report().by_type(convention="macs")
    text = b.explain("Linear")
    # the shared Linear's two calls (2 rows × 8×8 each) and the head (2 rows × 8×4): one line each
    assert "Linear: 2 layers, 3 calls" in text
    # a layer called more than once says how often; one called once says nothing
    shared, head = text.splitlines()[1:3]
    assert shared.split()[0] == "shared" and shared.endswith("72 params  2 calls")
    assert head.split()[0] == "head" and head.endswith("36 params")
    assert "MACs [macs] = 256 + 64 = 320, " in text
    assert "params = 108;" in text  # (8·8 + 8) + (8·4 + 4)
    assert "  MACs = " not in text  # (under 'macs' the ops line is the MACs line)
    assert "MACs = 320;" in _net_report().by_type().explain("Linear")
    # each layer's figures start in one column, however long its path (stem … blocks.1.conv2)
    convs = b.explain("Conv2d").splitlines()[1:6]
    assert [line.split()[0] for line in convs] == ["stem", "blocks.0.conv1", "blocks.0.conv2", "blocks.1.conv1",
                                                    "blocks.1.conv2"]
    assert len({line.index(" MACs [macs]") for line in convs}) == 1
    own = b.explain("Block (self)").splitlines()
    assert own[0].startswith("Block (self): 2 layers, 2 calls (a parent's own work")
    assert [line.split()[0] for line in own[1:3]] == ["blocks.0", "blocks.1"]
    assert "breakdown: additions 1,152" in own[-1]  # the two residual adds, 2×8×6×6 each
    with pytest.raises(KeyError, match="did you mean 'Linear'"):
        b.explain("linear")
    assert cli.main(["torch.nn:Linear(8, 4)", "--input", "2x8", "--by-type", "--explain", "Linear"]) == 0
    out = capsys.readouterr()[0]
    assert "Linear: 1 layer, 1 call" in out and "params = 36;" in out
    assert cli.main(["torch.nn:Linear(8, 4)", "--input", "2x8", "--by-type", "--explain", "ReLU"]) == 2
    assert "no layer type 'ReLU'" in capsys.readouterr()[1]


def test_cli_explain_an_unknown_type_with_compare_names_both_sides(capsys):
    """--by-type --compare --explain TYPE that neither model has: one line naming --explain and each
    side's types (it listed A's alone, 'types are Linear, ReLU', though B's GELU is as valid a name)."""
    args = ["torch.nn:Linear(8, 4)", "--input", "2x8", "--by-type", "--compare", "torch.nn:GELU", "--explain"]
    assert cli.main([*args, "GELU"]) == 0  # B's type: B explains it (a GELU on 2×8: 16 transcendental ops)
    out = capsys.readouterr()[0]
    assert "B = torch.nn:GELU: GELU: 1 layer, 1 call" in out and "A = " not in out.split("per layer type")[1]
    assert cli.main([*args, "Nope"]) == 2
    err = capsys.readouterr()[1]
    assert len(err.strip().splitlines()) == 1 and err.startswith("torchcount: error: --explain 'Nope': "), err
    assert "A: no layer type 'Nope'" in err and "'Linear'" in err
    assert "B: no layer type 'Nope'" in err and "'GELU'" in err
    # one model: the option named, the message as before
    assert cli.main(["torch.nn:Linear(8, 4)", "--input", "2x8", "--by-type", "--explain", "ReLU"]) == 2
    err = capsys.readouterr()[1]
    assert err.startswith("torchcount: error: --explain 'ReLU': no layer type 'ReLU'"), err


def test_a_measured_container_with_no_work_is_said_to_be_its_python():
    """A Sequential does nothing itself, so an unmeasured breakdown has no 'Sequential (self)' group;
    measured, the time between its children is its own, and the footer says that is all it is."""
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    plain = torchcount.profile(model, torch.randn(2, 8)).by_type()
    assert "Sequential (self)" not in {g.name for g in plain.groups}
    report = torchcount.profile(model, torch.randn(2, 8), measure=True, warmup=1, repeat=3)
    b = report.by_type()
    own = next(g for g in b.groups if g.name == "Sequential (self)")
    assert own.cost.is_zero() and own.time_ms > 0
    assert any("Sequential (self): no work of its own, only measured time, the Python" in line for line in b.footer())
    # its time is the root's own time, as the per-layer table shows it
    assert math.isclose(own.time_ms, report.row("").self_extra["time_ms"])


def test_sorted_by_bytes_the_table_shows_the_bytes_it_is_sorted_by():
    """sort="bytes" sorted by a figure the table did not show (the CSV had bytes_read and bytes_written
    only): a bytes column, each group's read + written, the totals line the model's."""
    report = torchcount.profile(Net(), torch.randn(1, 3, 8, 8))
    b = report.by_type(sort="bytes")
    assert "bytes" in b.columns() and "bytes" not in report.by_type().columns()
    recs = b.records()
    assert [r["bytes"] for r in recs] == sorted((r["bytes"] for r in recs), reverse=True)
    assert all(r["bytes"] == r["bytes_read"] + r["bytes_written"] for r in recs)
    assert sum(r["bytes"] for r in recs) == report.total.cost.bytes
    assert f"{report.total.cost.bytes:,}" in next(line for line in b.table().splitlines() if line.startswith("total"))
    assert next(csv.DictReader(io.StringIO(report.by_type().to_csv())))["bytes"]


def test_layers_whose_weights_another_type_reads_are_named_in_the_footer():
    """A group of Linears whose layers outnumber their calls: two of three are never called, their
    weights read by the attention that holds them (F.linear on qkv's weight, as in torchvision's Swin).
    The footer says which and by whom, where the table alone showed 'layers 3, calls 1'."""
    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = nn.Linear(4, 12)

        def forward(self, x):
            return nn.functional.linear(x, self.qkv.weight, self.qkv.bias)[..., :4]

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.Sequential(Attention(), Attention())
            self.head = nn.Linear(4, 2)

        def forward(self, x):
            return self.head(self.blocks(x))

    b = torchcount.profile(Net(), torch.randn(3, 4)).by_type()
    linear = next(g for g in b.groups if g.name == "Linear")
    assert (linear.layers, linear.calls, linear.params) == (3, 1, 2 * (12 * 4 + 12) + 4 * 2 + 2)
    assert next(g for g in b.groups if g.name == "Attention (self)").cost.macs == 2 * 3 * 12 * 4
    assert ("Linear: 2 of its layers never called as modules, their weights most likely read by Attention itself "
            "(its '(self)' group holds that work)") in b.footer()


def test_a_rule_with_covered_rows_below_holds_its_subtrees_parameters_beside_other_groups(ruled_block):
    # RuledBlock's rule prices its Linear(4, 4) (a covered row below it): its group holds that Linear's
    # 4·4 + 4 = 20 parameters; the Linear(4, 2) beside it, 4·2 + 2 = 10, is the Linear group's. The rule's
    # parameters give up only those of rows below its own path (every other row's left it at 20 − 10 = 10)
    report = torchcount.profile(nn.Sequential(ruled_block(), nn.Linear(4, 2)), torch.randn(3, 4))
    b = report.by_type()
    assert {g.name: g.params for g in b.groups} == {"RuledBlock": 20, "Linear": 10}
    assert sum(g.params for g in b.groups) == report.total.params == 30


def test_a_rule_whose_path_begins_a_siblings_gives_up_only_its_own_rows_parameters(ruled_block):
    """A ruled block at "blk" beside a Linear(4, 2) at "blk2": the rule's group holds its subtree's 4·4 + 4 = 20
    parameters less those of the rows below "blk." (its covered fc's: 0), not those of "blk2", whose path
    merely begins with "blk" (20 − 10 = 10 read as prefix). Its covered fc, which did nothing of its own
    (no hooks), is in no group: the Linear group is blk2 alone, with no hooks' member."""
    from collections import OrderedDict

    model = nn.Sequential(OrderedDict(blk=ruled_block(), blk2=nn.Linear(4, 2)))
    report = torchcount.profile(model, torch.randn(3, 4))
    assert report.row("blk.fc").status == "covered"
    b = report.by_type()
    assert {g.name: g.params for g in b.groups} == {"RuledBlock": 20, "Linear": 10}
    linear = next(g for g in b.groups if g.name == "Linear")
    assert ([m.path for m in linear.members], linear.hooks) == (["blk2"], [])
    assert "forward hooks" not in b.explain("Linear")


def test_top_one_shows_the_largest_group_alone():
    """top=1 is the smallest top allowed (≥ 1): the Conv2d group alone (181,440 of the 181,760 MACs, as in
    test_groups_by_hand), the totals still the model's."""
    b = _net_report().by_type(convention="macs", top=1)
    assert [r["type"] for r in b.records()] == ["Conv2d"] and b.records()[0]["MACs"] == 181_440
    assert "showing the top 1 of 5 groups by ops" in b.table()


def test_a_covered_childs_hook_work_adds_to_its_types_group(ruled_block):
    """A Linear(4, 4) on 2 rows (32 MACs, 8 bias additions), then a ruled block whose covered Linear's forward
    hook triples its 2×4 output (8 multiplications, the covered row's own work): the Linear group holds both,
    32 MACs, 8 additions and 8 multiplications, the rule's 2·16 MACs in RuledBlock's."""
    model = nn.Sequential(nn.Linear(4, 4), ruled_block())
    model[1].fc.register_forward_hook(lambda module, args, out: out * 3)
    report = torchcount.profile(model, torch.randn(2, 4))
    g = {x.name: x for x in report.by_type().groups}
    linear = g["Linear"].cost
    assert (linear.macs, linear.adds, linear.mults) == (2 * 4 * 4, 2 * 4, 2 * 4)
    assert ([m.path for m in g["Linear"].members], [m.path for m in g["Linear"].hooks]) == (["0"], ["1.fc"])
    assert g["RuledBlock"].cost.macs == 2 * 16
    assert _sum(g.values()) == report.total.cost


def test_a_group_with_no_time_of_its_own_has_no_time_share(ruled_block):
    """Measured (stand-in times): the ruled block's row 2 ms of a 4 ms forward, 50 %; its covered Linear's
    hook (tripling the 2×4 output, 8 multiplications) is the Linear group's work but no row's time there:
    its time, time% and rate are blank (None). A forward timed at 0 ms (a clock too coarse) gives no
    group a time% and the footer no 'the groups' times sum to' line (each would divide by 0)."""
    model = nn.Sequential(ruled_block())
    model[0].fc.register_forward_hook(lambda module, args, out: out * 3)
    report = torchcount.profile(model, torch.randn(2, 4))
    report.row("0").extra["time_ms"] = 2.0
    report.extra["time_ms"] = 4.0
    rec = {r["type"]: r for r in report.by_type().records()}
    assert (rec["RuledBlock"]["time_ms"], rec["RuledBlock"]["time%"]) == (2.0, 50.0)
    assert rec["Linear"]["mults"] == 8 and (rec["Linear"]["time_ms"], rec["Linear"]["time%"]) == (None, None)
    assert rec["Linear"]["GFLOP/s"] is None
    report.extra["time_ms"] = 0.0
    b = report.by_type()
    assert [r["time%"] for r in b.records()] == [None, None]
    assert not any("times sum to" in line for line in b.footer())


def test_weights_the_root_reads_without_a_row_of_its_own_name_the_roots_type():
    """The root reads an uncalled Linear(3, 5)'s weight (a view of it, which costs nothing: the root has no row
    of its own) and calls fc: the footer names the reader by the root's type, R, not '(root)'."""
    class R(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.unused = nn.Linear(4, 4), nn.Linear(3, 5, bias=False)

        def forward(self, x):
            self.unused.weight.view(-1)
            return self.fc(x)

    report = torchcount.profile(R(), torch.randn(2, 4))
    assert not any(r is report.root for r in report.layers)
    assert report.row("unused").extra["weights_read_by"] == ""
    assert any(line.startswith("Linear: 1 of its layers never called as modules, their weights most likely read "
                               "by R itself") for line in report.by_type().footer())


def test_explain_writes_out_a_sum_of_up_to_six_layers():
    """Six Linear(4, 4) on 2 rows, 2·4·4 = 32 MACs each: the sum is written out, 32 + … + 32 = 192; a
    seventh makes it 'the sum of the 7 lines above = 224'; one alone is its 32, no sum."""
    one = torchcount.profile(nn.Sequential(nn.Linear(4, 4)), torch.randn(2, 4))
    assert "  MACs [macs] = 32, 100.0% of the model's 32\n" in one.by_type(convention="macs").explain("Linear")
    six = torchcount.profile(nn.Sequential(*[nn.Linear(4, 4) for _ in range(6)]), torch.randn(2, 4))
    assert "MACs [macs] = 32 + 32 + 32 + 32 + 32 + 32 = 192, 100.0% of the model's 192" in \
        six.by_type(convention="macs").explain("Linear")
    seven = torchcount.profile(nn.Sequential(*[nn.Linear(4, 4) for _ in range(7)]), torch.randn(2, 4))
    assert "MACs [macs] = the sum of the 7 lines above = 224, 100.0%" in seven.by_type(convention="macs").explain("Linear")


def test_a_bar_in_a_type_name_is_escaped_in_markdown_only():
    """A "|" in a cell ends it in a Markdown table: 'A\\|B' there (github, pipe), 'A|B' as it is in plain text."""
    Odd = type("A|B", (nn.Linear,), {})
    b = torchcount.profile(nn.Sequential(Odd(4, 4)), torch.randn(1, 4)).by_type()
    assert "| A\\|B " in b.to_markdown() and "A\\|B" in b.table(tablefmt="pipe")
    assert next(line for line in b.table().splitlines() if line.startswith("A")).split()[0] == "A|B"
