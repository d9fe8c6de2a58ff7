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
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

import torchcount
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
    total = next(line for line in top.table().splitlines() if line.startswith("total"))
    assert f"{report.total.flops:,}" in total  # the totals stay the whole model's
    with pytest.raises(ValueError, match="cannot sort by 'bogus'.*ops, MACs, params"):
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
                           (["--sort", "bogus"], "--by-type sorts by")):
        code = cli.main(["torch.nn:Linear(8, 4)", "--input", "2x8", "--by-type", *extra])
        assert code == 2 and message in capsys.readouterr()[1]


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
