"""compare(): spec §3 bottleneck numbers, written out as the source computes them."""
import csv
import io
import re

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import torchcount
from torchcount.analysis import compare

# input 54×54×250, output 48 channels, 7×7 kernels, 'same' padding (output 54×54)
DIRECT = 7 * 7 * 250 * 54 * 54 * 48          # 12,250 mults per position × 2,916 positions × 48 kernels
REDUCE = 1 * 1 * 250 * 54 * 54 * 12          # 1×1 conv 250 → 12
EXPAND = 7 * 7 * 12 * 54 * 54 * 48           # 7×7 conv 12 → 48
X_SHAPE = (1, 250, 54, 54)


def direct():
    return nn.Conv2d(250, 48, 7, padding="same", bias=False)


def bottleneck():
    return nn.Sequential(nn.Conv2d(250, 12, 1, bias=False), nn.Conv2d(12, 48, 7, padding="same", bias=False))


def meta_input():
    return torch.empty(X_SHAPE, device="meta")


def test_closed_forms_match_the_spec_figures():
    assert DIRECT == 1_714_608_000 and REDUCE == 8_748_000 and EXPAND == 82_301_184
    assert REDUCE + EXPAND == 91_049_184


def test_spec_section3_bottleneck_models():
    c = compare(direct().to("meta"), bottleneck().to("meta"), meta_input(), convention="mults")
    assert c.ops.a == DIRECT
    assert c.ops.b == REDUCE + EXPAND
    assert c.ops.difference == DIRECT - (REDUCE + EXPAND) == 1_623_558_816
    assert c.reduction == pytest.approx(100 * (DIRECT - REDUCE - EXPAND) / DIRECT)
    assert f"{c.reduction:.2f}" == "94.69"
    text = c.table()
    assert "1,714,608,000" in text and "91,049,184" in text and "94.69 %" in text
    # per layer: B's two convs appear with their own figures
    by = {line.name: line for line in c.layers}
    assert by["0"].b == REDUCE and by["1"].b == EXPAND and by["0"].a is None
    # a layer only one variant has gets no per-layer reduction (it is not "100 % saved")
    assert by["(root)"].a == DIRECT and by["(root)"].reduction is None and by["0"].reduction is None


def test_with_bias_mults_are_unchanged_but_flops_differ():
    # a bias adds additions, not multiplications: 'mults' stays the spec figure
    d = nn.Conv2d(250, 48, 7, padding="same").to("meta")
    b = nn.Sequential(nn.Conv2d(250, 12, 1), nn.Conv2d(12, 48, 7, padding="same")).to("meta")
    c = compare(d, b, meta_input(), convention="mults")
    assert (c.ops.a, c.ops.b) == (DIRECT, REDUCE + EXPAND)
    f = compare(d, b, meta_input(), convention="flops")
    assert f.ops.a == 2 * DIRECT + 48 * 54 * 54
    assert f.ops.b == 2 * (REDUCE + EXPAND) + 12 * 54 * 54 + 48 * 54 * 54


def test_from_reports_and_params():
    a = torchcount.profile(direct().to("meta"), meta_input(), convention="mults")
    b = torchcount.profile(bottleneck().to("meta"), meta_input(), convention="mults")
    c = compare(a, b, names=("direct", "bottleneck"))
    assert (c.name_a, c.name_b) == ("direct", "bottleneck")
    assert c.totals["params"].a == 7 * 7 * 250 * 48
    assert c.totals["params"].b == 250 * 12 + 7 * 7 * 12 * 48
    assert c.totals["MACs"].a == DIRECT
    assert "direct" in str(c)


def test_agrees_with_torch_flop_counter():
    # an independent count: torch.utils.flop_counter reports 2 FLOPs per MAC of convolutions
    x = torch.randn(1, 250, 20, 20)
    models = [direct(), bottleneck()]
    ref = []
    for m in models:
        with FlopCounterMode(display=False) as fc:
            m(x)
        ref.append(fc.get_total_flops())
    c = compare(*models, x, convention="2mac")
    assert (c.ops.a, c.ops.b) == tuple(ref)


def test_different_inputs_for_b():
    c = compare(nn.Linear(8, 4), nn.Linear(8, 4), torch.randn(10, 8), inputs_b=torch.randn(5, 8),
                convention="macs")
    assert (c.ops.a, c.ops.b) == (10 * 8 * 4, 5 * 8 * 4)
    assert c.reduction == pytest.approx(50.0)
    # two models and input_size= instead of inputs: a (3, 8) input, 3·8·4 and 3·8·2 MACs
    sized = compare(nn.Linear(8, 4), nn.Linear(8, 2), input_size=(3, 8), convention="macs")
    assert (sized.ops.a, sized.ops.b) == (3 * 8 * 4, 3 * 8 * 2)


def test_bad_arguments():
    rep = torchcount.profile(nn.Linear(2, 2), torch.randn(1, 2))
    with pytest.raises(TypeError, match="two reports or two models"):
        compare(rep, nn.Linear(2, 2), torch.randn(1, 2))
    with pytest.raises(TypeError, match="two reports or two models"):
        compare(nn.Linear(2, 2), rep, torch.randn(1, 2))
    with pytest.raises(ValueError, match="need inputs"):
        compare(nn.Linear(2, 2), nn.Linear(2, 2))
    with pytest.raises(TypeError, match="expected a torchcount.Report"):
        compare(rep, "other")
    # two reports take no inputs nor profile options (they were profiled already)
    for extra in ({"inputs": torch.randn(1, 2)}, {"inputs_b": torch.randn(1, 2)}, {"warmup": 1}):
        with pytest.raises(TypeError, match="inputs and profile options only apply to models"):
            compare(rep, rep, **extra)
    # names: a pair of strings, nothing else
    for names in (("a",), ("a", 2), "ab", ("a", "b", "c")):
        with pytest.raises(TypeError, match="names is a pair of strings"):
            compare(rep, rep, names=names)
    assert compare(rep, rep, names=["small", "large"]).name_b == "large"


def test_partial_reports_are_flagged():
    class Bessel(nn.Module):
        def forward(self, x):
            return torch.special.chebyshev_polynomial_t(x, torch.full_like(x, 3.0))  # uncounted

    with pytest.warns(torchcount.UncountedWarning):
        ra = torchcount.profile(nn.Sequential(nn.Linear(4, 4), Bessel()), torch.randn(2, 4))
    rb = torchcount.profile(nn.Sequential(nn.Linear(4, 4), nn.ReLU()), torch.randn(2, 4))
    c = compare(ra, rb)
    assert "† A is partially counted" in c.table() and "† B" not in c.table()
    # A's work is a lower bound: its work totals and its Bessel layer's line are partial, no reduction;
    # parameters are counted whole (20 each: 0 % saved), and so is the layer's line when the metric is params
    assert c.totals["MACs"].partial and c.totals["MACs"].reduction is None and c.reduction is None
    assert not c.totals["params"].partial and c.totals["params"].reduction == 0.0
    assert [(line.name, line.partial) for line in c.layers if line.name == "1"] == [("1", True)]
    by_params = compare(ra, rb, metric="params")
    assert [(line.name, line.partial) for line in by_params.layers if line.name == "1"] == [("1", False)]
    assert all(not line.partial for line in compare(ra, rb, metric="params", by="type").layers)
    assert any(line.partial for line in compare(ra, rb, by="type").layers)
    # the same names on both sides are told apart as (A) and (B), unless the caller chose them
    assert (c.name_a, c.name_b) == ("Sequential (A)", "Sequential (B)")
    assert (compare(ra, rb, names=("x", "x")).name_a) == "x"


def test_a_block_replaced_by_one_layer_is_not_compared_own_work_against_everything():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(8, 8), nn.Linear(8, 8)

        def forward(self, x):
            return self.b(self.a(x)) + x  # its own work: one residual add, 2·8 additions

    a = nn.Sequential(Block(), nn.Linear(8, 8))
    b = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 8))
    c = torchcount.compare(a, b, torch.randn(2, 8))
    line = next(l for l in c.layers if l.name.startswith("0 "))
    assert line.name == "0 (A: own work only)" and not line.comparable
    linear = 2 * (2 * 8 * 8) + 2 * 8  # flops: 2 per MAC + the bias additions
    assert (line.a, line.b) == (2 * 8, linear)
    assert line.reduction is None  # was −1600 %: the block's residual add against a whole Linear
    # the lines of each side still add up to its total
    assert sum(l.a or 0 for l in c.layers) == c.ops.a and sum(l.b or 0 for l in c.layers) == c.ops.b


def test_compare_at_depth_zero_is_the_two_models_whole():
    a = torchcount.profile(nn.Sequential(nn.Linear(8, 8), nn.ReLU()), torch.randn(2, 8))
    b = torchcount.profile(nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 8)), torch.randn(2, 8))
    c = torchcount.compare(a, b, depth=0)
    assert [(line.name, line.a, line.b) for line in c.layers] == [("(root)", a.total.flops, b.total.flops)]


def test_a_dtype_change_shows_in_the_bytes_lines_and_a_measured_time_line():
    # fp32 → bf16: the same counts, half the bytes. Linear(8, 4) on 2 rows: params (8 + 1)·4 = 36;
    # bytes moved: input 2·8 + weights 36 read, output 2·4 written, elements × itemsize
    a = nn.Linear(8, 4)
    b = nn.Linear(8, 4).bfloat16()
    ra = torchcount.profile(a, torch.randn(2, 8))
    rb = torchcount.profile(b, torch.randn(2, 8, dtype=torch.bfloat16))
    c = compare(ra, rb)
    assert c.totals["MACs"].reduction == 0.0
    assert (c.totals["bytes"].a, c.totals["bytes"].b) == ((16 + 36 + 8) * 4, (16 + 36 + 8) * 2)
    assert (c.totals["param bytes"].a, c.totals["param bytes"].b) == (36 * 4, 36 * 2)
    assert c.totals["bytes"].reduction == 50.0
    assert "time_ms" not in c.totals  # neither is measured
    ra.extra["time_ms"], rb.extra["time_ms"] = 0.2, 0.15  # stand-ins for measure=True's medians
    timed = compare(ra, rb)
    assert timed.totals["time_ms"].reduction == pytest.approx(25.0)
    assert any(line.startswith("time (ms)") and "0.200" in line and "25.00 %" in line
               for line in timed.table().splitlines())
    # with units the counts are scaled (36 params) but a time stays in ms with its three decimals
    assert any(line.startswith("time (ms)") and "0.200" in line and "0.150" in line
               for line in timed.table(units=True).splitlines())


def test_an_uncounted_layer_is_marked_and_not_a_saving():
    # B's layer 1 runs an op with no formula: its 0 FLOPs are a lower bound, not "100 % saved"
    # against A's ReLU (2·4 = 8 FLOPs: one comparison per element)
    class Bessel(nn.Module):
        def forward(self, x):
            return torch.special.chebyshev_polynomial_t(x, torch.full_like(x, 3.0))  # uncounted

    torch.manual_seed(0)
    a = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
    b = nn.Sequential(nn.Linear(4, 4), Bessel())
    with pytest.warns(torchcount.UncountedWarning):
        c = compare(a, b, torch.randn(2, 4))
    by = {line.name: line for line in c.layers}
    assert (by["1"].a, by["1"].b) == (8, 0)
    assert by["1"].partial and by["1"].reduction is None  # was 100.00 %
    assert not by["0"].partial and by["0"].reduction == 0.0  # both Linears: 2·(2·4·4) + 2·4 = 72
    assert (by["0"].a, by["0"].b) == (72, 72)
    # the root, whole, holds the uncounted op too (depth 0)
    with pytest.warns(torchcount.UncountedWarning):
        whole = compare(a, b, torch.randn(2, 4), depth=0)
    assert whole.layers[0].partial and whole.layers[0].reduction is None
    # the totals are those same figures (A: 72 + 8 = 80 FLOPs, B: 72 counted): no "10 %" saved by the
    # uncounted op either; params are counted whole on both sides
    assert (c.ops.a, c.ops.b) == (80, 72) and c.ops.partial
    assert c.reduction is None and c.totals["MACs"].reduction is None and c.totals["bytes"].reduction is None
    assert c.totals["params"].reduction == 0.0 and not c.totals["params"].partial
    text = c.table()
    assert any(l.startswith("1 †") and l.rstrip().endswith("—") for l in text.splitlines())
    assert any(l.startswith("FLOPs [flops] †") for l in text.splitlines())


def test_own_work_on_one_side_only_is_labelled_self():
    # A's top-level forward adds the residual (2·4 = 8 additions); B's does nothing of its own
    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(4, 4)

        def forward(self, x):
            return self.a(x) + x

    class Plain(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(4, 4)

        def forward(self, x):
            return self.a(x)

    c = compare(Residual(), Plain(), torch.randn(2, 4))
    assert [(l.name, l.a, l.b) for l in c.layers] == [("(root) (self)", 8, None), ("a", 72, 72)]  # was "(root)"
    c = compare(Plain(), Residual(), torch.randn(2, 4))
    assert [(l.name, l.a, l.b) for l in c.layers] == [("a", 72, 72), ("(root) (self)", None, 8)]


def test_every_table_refuses_a_table_format_tabulate_does_not_know():
    """tabulate prints an unknown format name as its "simple" table, silently: a misspelt "githb"
    gave no Markdown and no error. Each view's table() names the bad format and lists the known ones,
    and still takes every format tabulate knows."""
    from torchcount.analysis import receptive_field, scaling

    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
    x = torch.randn(1, 1, 8, 8)
    report = torchcount.profile(model, x)
    views = [report.table, torchcount.compare(model, model, x).table, receptive_field(report).table,
             scaling(nn.Sequential(nn.Linear(4, 4)), lambda t: torch.randn(1, t, 4), [2, 4, 8]).table]
    for table in views:
        with pytest.raises(ValueError, match=r"unknown tablefmt 'githb'.*\bgithub\b"):
            table(tablefmt="githb")
        assert "|" in table(tablefmt="github") and "\t" in table(tablefmt="tsv")


def test_a_macs_convention_shows_the_macs_total_once():
    """Under 'macs' the convention's ops are the MACs: the totals table showed two lines of the same
    figures ('MACs' and 'MACs [macs]'); one is kept. Under 'flops' both stay (2·MACs + the rest)."""
    a = torchcount.profile(nn.Linear(8, 4), torch.randn(2, 8))
    b = torchcount.profile(nn.Linear(8, 2), torch.randn(2, 8))
    macs = torchcount.compare(a, b, convention="macs").table()
    plain_macs_line = re.compile(r"^MACs +64 +32", re.M)
    assert macs.count("MACs [macs]") == 2 and not plain_macs_line.search(macs)  # (the total, the layers' header)
    flops = torchcount.compare(a, b, convention="flops").table()
    assert plain_macs_line.search(flops) and "FLOPs [flops]" in flops


def test_the_per_layer_lines_compare_a_chosen_metric():
    """metric=: the lines compare parameters, MACs, bytes moved or the measured time instead of the
    convention's ops; a 3×3 convolution against a 1×1 then a 3×3 (docs/analyses.md's pair)."""
    a = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1))
    b = nn.Sequential(nn.Conv2d(16, 4, 1), nn.Conv2d(4, 16, 3, padding=1))
    ra, rb = (torchcount.profile(m, torch.randn(1, 16, 8, 8)) for m in (a, b))
    params = {line.name: (line.a, line.b) for line in torchcount.compare(ra, rb, metric="params").layers}
    assert params["0"] == (16 * 16 * 9 + 16, 16 * 4 + 4) and params["1"] == (None, 4 * 16 * 9 + 16)
    by_type = torchcount.compare(ra, rb, metric="MACs", by="type")
    assert [(line.name, line.a, line.b) for line in by_type.layers] == [("Conv2d", 147_456, 4_096 + 36_864)]
    assert "per layer type, MACs:" in by_type.table()
    moved = {line.name: (line.a, line.b) for line in torchcount.compare(ra, rb, metric="bytes").layers}
    # the 3×3 reads its 16×8×8 input and 2,320 weights and writes 16×8×8 outputs, 4 bytes each
    assert moved["0"][0] == 4 * (16 * 64 + 16 * 16 * 9 + 16 + 16 * 64)
    with pytest.raises(ValueError, match="A and B were not measured"):
        torchcount.compare(ra, rb, metric="time_ms")
    with pytest.raises(ValueError, match="metric is one of"):
        torchcount.compare(ra, rb, metric="flops")
    # any case, as the CLI's --metric (it raised for "macs")
    assert torchcount.compare(ra, rb, metric="macs", by="type").layers == by_type.layers
    assert torchcount.compare(ra, rb, metric="Params").metric == "params"
    # measured times (stand-ins for measure=True's medians): the lines compare each row's time
    for report, times in ((ra, [3.0]), (rb, [0.5, 1.5])):
        for row, t in zip(report.layers, times):
            row.extra["time_ms"] = t
        report.extra["time_ms"] = sum(times)
    timed = torchcount.compare(ra, rb, metric="time_ms", by="type")
    line = timed.layers[0]
    assert (line.name, line.a, line.b) == ("Conv2d", 3.0, 2.0) and line.reduction == pytest.approx(100 / 3)
    assert "per layer type, measured time (ms):" in timed.table()


def test_cli_metric(capsys, tmp_path):
    from torchcount.cli import main

    args = ["torch.nn:Conv2d(16, 16, 3, padding=1)", "--input", "1x16x8x8", "--compare", "torch.nn:Conv2d(16, 4, 1)"]
    assert main([*args, "--metric", "params", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr()[0])))
    line = next(r for r in rows if r["module"] == "(root)")
    assert (line["a"], line["b"], line["metric"]) == ("2320", "68", "params")  # 16·16·9 + 16, 16·4 + 4
    # 'flops' is another name for the convention's ops, as for --sort
    assert main([*args, "--metric", "flops", "--format", "csv"]) == 0
    flops = capsys.readouterr()[0]
    assert main([*args, "--metric", "ops", "--format", "csv"]) == 0
    assert capsys.readouterr()[0] == flops
    assert main([*args, "--metric", "time_ms"]) == 2
    assert "--metric time_ms compares measured times: add --measure" in capsys.readouterr()[1]
    assert main(args[:3] + ["--metric", "params"]) == 2
    assert "give --compare" in capsys.readouterr()[1]


def test_by_type_lines_by_bytes_are_ordered_by_bytes():
    """metric="bytes" by type: A's types largest first by the bytes they move, as every other metric's
    lines are by theirs (they came in the order of the operations). A 1×1 convolution 64 → 64 on 32×32
    (4,096 weights + 64 biases, 65,536 in and out: 4·(65,536·2 + 4,160) = 540,928 bytes, 8,388,608
    MACs) against a ReLU on the same tensor (no MACs, 4·65,536·2 = 524,288 bytes) and a max pooling
    whose window covers the whole map (65,536 read, 64 written: 262,400 bytes, 65,472 comparisons)."""
    a = nn.Sequential(nn.Conv2d(64, 64, 1), nn.ReLU(), nn.ReLU(), nn.MaxPool2d(32))
    ra = torchcount.profile(a, torch.randn(1, 64, 32, 32))
    moved = torchcount.compare(ra, ra, metric="bytes", by="type").layers
    assert [(line.name, line.a) for line in moved] == \
        [("ReLU", 2 * 524_288), ("Conv2d", 540_928), ("MaxPool2d", 262_400)]


def test_cli_metric_time_ms_refuses_an_unmeasured_saved_report_before_anything_runs(capsys, tmp_path, monkeypatch):
    """--metric time_ms with a saved report of a run without --measure: a usage error naming that side,
    before the other side is profiled (it profiled B, measured, and then said "add --measure" of A,
    which had been given), and without telling two saved reports to add --measure (a usage error there)."""
    from torchcount import cli

    saved = tmp_path / "plain.json"
    torchcount.profile(nn.Conv2d(16, 4, 1), torch.randn(1, 16, 8, 8)).to_json(saved)
    runs = []
    monkeypatch.setattr(cli, "_profile_on", lambda *a, **k: runs.append(a) or pytest.fail("profiled"))
    model = ["--compare", "torch.nn:Conv2d(16, 16, 3, padding=1)", "--input", "1x16x8x8"]
    assert cli.main([str(saved), *model, "--measure", "--device", "cpu", "--metric", "time_ms"]) == 2
    err = capsys.readouterr()[1]
    assert f"A = {saved}" in err and "not measured" in err and "add --measure" not in err and not runs
    assert cli.main([str(saved), "--compare", str(saved), "--metric", "time_ms"]) == 2
    err = capsys.readouterr()[1]
    assert f"A = {saved} and B = {saved} were not measured" in err and "add --measure" not in err


def test_cli_units_applies_to_the_comparison(capsys):
    """--units with --compare (table and Markdown) prints K/M/G as the one-model table does; it was
    silently ignored (thousands separators). Conv2d(64, 64, 3, padding=1) on 1×64×32×32: 64·64·9 =
    36,864 weights + 64 biases = 36,928 params, 36,864·1,024 = 37,748,736 MACs; Conv2d(64, 16, 1):
    1,040 params, 1,024·1,024 = 1,048,576 MACs."""
    from torchcount.cli import main

    args = ["torch.nn:Conv2d(64, 64, 3, padding=1)", "--input", "1x64x32x32", "--compare",
            "torch.nn:Conv2d(64, 16, 1)", "-c", "macs", "--metric", "params"]
    assert main(args) == 0
    plain = capsys.readouterr()[0]
    assert re.search(r"MACs \[macs\]\s+37,748,736\s+1,048,576\s+36,700,160", plain)
    for fmt in ("table", "markdown"):
        assert main([*args, "--units", "--format", fmt]) == 0
        out = capsys.readouterr()[0]
        assert re.search(r"MACs \[macs\]\s*\|?\s+37\.75 M\s*\|?\s+1\.05 M\s*\|?\s+36\.70 M", out), out
        assert re.search(r"params\s*\|?\s+36\.93 K\s*\|?\s+1\.04 K\s*\|?\s+35\.89 K", out), out
        assert re.search(r"\(root\)\s*\|?\s+Conv2d\s*\|?\s+36\.93 K\s*\|?\s+Conv2d\s*\|?\s+1\.04 K", out), out
        assert "37,748,736" not in out


def test_cli_sort_top_with_compare_name_the_option_given_and_no_depth_under_by_type(capsys):
    """--top with --compare is a usage error naming --top; under --by-type it does not send the user to
    --depth (itself a usage error with --by-type: every type of both models is a line)."""
    from torchcount.cli import main

    args = ["torch.nn:Linear(8, 4)", "--input", "2x8", "--compare", "torch.nn:Linear(8, 2)"]
    assert main([*args, "--top", "2"]) == 2
    err = capsys.readouterr()[1]
    assert err.startswith("torchcount: error: --top applies to one model's table") and "--depth" in err, err
    assert main([*args, "--by-type", "--sort", "params"]) == 2
    err = capsys.readouterr()[1]
    assert err.startswith("torchcount: error: --sort applies to one model's table") and "--depth" not in err, err
    assert main([*args, "--by-type", "--depth", "1"]) == 2  # (what the message used to suggest)
    assert "cannot be combined with --depth" in capsys.readouterr()[1]


def test_a_bar_in_a_type_name_is_escaped_in_markdown():
    """A "|" in a cell ends it in a Markdown table: escaped, as by_type's Markdown does."""
    Odd = type("A|B", (nn.Linear,), {})
    ra = torchcount.profile(nn.Sequential(Odd(4, 4)), torch.randn(1, 4))
    rb = torchcount.profile(nn.Sequential(nn.Linear(4, 4)), torch.randn(1, 4))
    for by in ("type", "path"):
        text = torchcount.compare(ra, rb, by=by).table(tablefmt="github")
        assert "A\\|B" in text and " A|B " not in text
    assert "A|B" in torchcount.compare(ra, rb, by="type").table()  # (plain text: as it is)


def test_the_compare_json_says_the_depth_its_lines_are_cut_at(capsys, tmp_path):
    """--compare --format json --depth N cut the per-layer lines at depth N (a block's line holds its layers)
    and the document did not say so: a line '0' read as the module alone. The document now has `depth`
    (null: every row a line), each path line its module's depth as a report row's `depth`, and so does
    compare(). By hand: Linear(4, 4) 16 MACs against Linear(4, 3) 12, then Linear(4, 2) 8 against Linear(3, 2) 6."""
    import json

    from torchcount.cli import main

    f = tmp_path / "tc_depth_pair.py"
    f.write_text("from torch import nn\n"
                 "def a():\n    return nn.Sequential(nn.Sequential(nn.Linear(4, 4), nn.ReLU()), nn.Linear(4, 2))\n"
                 "def b():\n    return nn.Sequential(nn.Sequential(nn.Linear(4, 3), nn.ReLU()), nn.Linear(3, 2))\n")
    args = [f"{f}:a", "--input", "1x4", "--compare", f"{f}:b", "--convention", "macs", "--format", "json"]
    seen = {}
    for depth in (None, 1, 0):
        assert main(args + ([] if depth is None else ["--depth", str(depth)])) == 0
        d = json.loads(capsys.readouterr()[0])
        assert d["depth"] == depth
        seen[depth] = [(l["module"], l["depth"], l["a"], l["b"]) for l in d["layers"]]
    assert seen[None] == [("0.0", 2, 16, 12), ("0.1", 2, 0, 0), ("1", 1, 8, 6)]
    assert seen[1] == [("0", 1, 16, 12), ("1", 1, 8, 6)]
    assert seen[0] == [("(root)", 0, 24, 18)]
    # the CSV keeps its columns (the table's); the depth is the JSON's
    assert main(args[:-1] + ["csv", "--depth", "1"]) == 0
    assert "depth" not in capsys.readouterr()[0].splitlines()[0].split(",")
    # compare() says it too; a line summed by type has no module depth
    ra = torchcount.profile(nn.Sequential(nn.Sequential(nn.Linear(4, 4), nn.ReLU()), nn.Linear(4, 2)), torch.randn(1, 4))
    rb = torchcount.profile(nn.Sequential(nn.Sequential(nn.Linear(4, 3), nn.ReLU()), nn.Linear(3, 2)), torch.randn(1, 4))
    c = compare(ra, rb, convention="macs", depth=1)
    assert c.depth == 1 and [(l.name, l.depth) for l in c.layers] == [("0", 1), ("1", 1)]
    assert compare(ra, rb).depth is None
    assert {l.depth for l in compare(ra, rb, by="type").layers} == {None}


def test_a_layer_one_variant_lacks_counts_as_zero_on_that_side():
    """A line only one side has: A − B is the other side's figure against 0 (B's two convolutions of the
    spec §3 pair: −REDUCE and −EXPAND; the root's direct conv: +DIRECT, B's root doing nothing itself),
    shown "—" on the absent side, also with units= (it was handed to the K/M/G formatter)."""
    c = compare(direct().to("meta"), bottleneck().to("meta"), meta_input(), convention="mults")
    assert [(line.name, line.a, line.b, line.difference) for line in c.layers] == [
        ("(root)", DIRECT, None, DIRECT), ("0", None, REDUCE, -REDUCE), ("1", None, EXPAND, -EXPAND)]
    text = c.table(units=True)
    assert re.search(r"^0\s+—\s+Conv2d\s+8\.75 M\s+-8\.75 M\s+—$", text, re.M), text
    assert re.search(r"^\(root\)\s+Conv2d\s+1\.71 G\s+—\s+1\.71 G\s+—$", text, re.M), text


def test_the_variants_are_told_apart_by_name_only_when_their_names_are_the_same():
    """Two variants of one class are "X (A)" and "X (B)"; two of different classes keep their names."""
    c = compare(direct().to("meta"), bottleneck().to("meta"), meta_input())
    assert (c.name_a, c.name_b) == ("Conv2d", "Sequential")
    c = compare(bottleneck().to("meta"), bottleneck().to("meta"), meta_input())
    assert (c.name_a, c.name_b) == ("Sequential (A)", "Sequential (B)")
    c = compare(bottleneck().to("meta"), bottleneck().to("meta"), meta_input(), names=("x", "y"))
    assert (c.name_a, c.name_b) == ("x", "y")


def test_a_time_line_needs_both_sides_measured():
    """Only A measured (a stand-in median): no time total, in the lines or the table (it was a line of
    A's time against "—" and an A − B of A's whole time)."""
    ra = torchcount.profile(nn.Linear(8, 4), torch.randn(2, 8))
    rb = torchcount.profile(nn.Linear(8, 2), torch.randn(2, 8))
    ra.extra["time_ms"] = 0.2
    for a, b in ((ra, rb), (rb, ra)):
        c = compare(a, b)
        assert "time_ms" not in c.totals and "time (ms)" not in c.table()


def test_a_type_only_one_variant_has_with_uncounted_work_is_marked():
    """by="type": B's Bessel layer runs an op with no formula; its line (A: none, B: 0 counted) is a lower
    bound, marked "†", while the Linear (2·(2·4·4) + 2·4 = 72 FLOPs each) and ReLU (2·4 = 8) lines that both
    sides count in full are not."""
    class Bessel(nn.Module):
        def forward(self, x):
            return torch.special.chebyshev_polynomial_t(x, torch.full_like(x, 3.0))  # uncounted

    a = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
    b = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), Bessel())
    with pytest.warns(torchcount.UncountedWarning):
        c = compare(a, b, torch.randn(2, 4), by="type")
    assert [(line.name, line.a, line.b, line.partial) for line in c.layers] == [
        ("Linear", 72, 72, False), ("ReLU", 8, 8, False), ("Bessel", None, 0, True)]
    for swapped in (False, True):
        if swapped:
            with pytest.warns(torchcount.UncountedWarning):
                c = compare(b, a, torch.randn(2, 4), by="type")
        body = c.table().split("per layer type")[1].splitlines()
        assert [line.split()[0] + (" †" if " † " in line else "") for line in body[3:6]] == \
            ["Linear", "ReLU", "Bessel †"]


def test_measured_times_keep_three_decimals_in_every_table():
    """Per-layer and per-type lines of measured times (stand-in medians: A's conv 3 ms, B's 0.5 + 1.5 ms)
    are printed as the totals are, 3.000 against 2.000 (tabulate's number parsing wrote 3 and 2)."""
    a = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1))
    b = nn.Sequential(nn.Conv2d(16, 4, 1), nn.Conv2d(4, 16, 3, padding=1))
    ra, rb = (torchcount.profile(m, torch.randn(1, 16, 8, 8)) for m in (a, b))
    for report, times in ((ra, [3.0]), (rb, [0.5, 1.5])):
        for row, t in zip(report.layers, times):
            row.extra["time_ms"] = t
        report.extra["time_ms"] = sum(times)
    by_type = compare(ra, rb, metric="time_ms", by="type").table()
    assert re.search(r"^Conv2d\s+3\.000\s+2\.000\s+1\.000\s+33\.33 %$", by_type, re.M), by_type
    by_path = compare(ra, rb, metric="time_ms").table()
    assert re.search(r"^0\s+Conv2d\s+3\.000\s+Conv2d\s+0\.500\s+2\.500\s+83\.33 %$", by_path, re.M), by_path
    assert re.search(r"^1\s+—\s+Conv2d\s+1\.500\s+-1\.500\s+—$", by_path, re.M), by_path


def test_a_comparisons_lines_are_frozen_values_and_its_repr_leaves_the_reports_out():
    """A Line is a value: it cannot be changed once the comparison made it, and it hashes as one (a line of
    the same figures is the same member of a set); a Comparison's repr names the variants and holds its lines
    but not the two reports (report_a and report_b are repr=False: each would print every row)."""
    import dataclasses

    from torchcount.analysis.compare import Line

    ra = torchcount.profile(nn.Linear(8, 4), torch.randn(2, 8))  # 8·4 + 4 = 36 parameters
    rb = torchcount.profile(nn.Linear(8, 2), torch.randn(2, 8))  # 8·2 + 2 = 18
    c = compare(ra, rb)
    line = c.totals["params"]
    assert (line.a, line.b, line.difference, line.reduction) == (36, 18, 18, 50.0)  # (36 − 18)/36 = 50 %
    with pytest.raises(dataclasses.FrozenInstanceError):
        line.b = 36
    assert {line, Line("params", 36, 18)} == {line}
    text = repr(c)
    assert text.startswith("Comparison(name_a='Linear (A)', name_b='Linear (B)', convention=")
    assert "report_a" not in text and "report_b" not in text and "totals={'params': Line(name='params'" in text
