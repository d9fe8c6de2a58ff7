"""Plots: inspect the returned matplotlib Figures (axes, series, scales, labels) and the files."""
import math

import pytest
import torch
from torch import nn

pytest.importorskip("matplotlib")
from matplotlib.container import BarContainer  # noqa: E402

import torchcount  # noqa: E402
from torchcount.analysis import scaling  # noqa: E402
from torchcount.analysis.plots import plot_layers, plot_roofline, plot_scaling  # noqa: E402


def cnn():
    return nn.Sequential(nn.Conv1d(2, 8, 3, padding=1), nn.ReLU(), nn.Conv1d(8, 8, 3, padding=1),
                         nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(8, 2))


@pytest.fixture
def report():
    return torchcount.profile(cnn(), torch.randn(1, 2, 32))


def _labels_top_down(ax):
    ticks = sorted(zip(ax.get_yticks(), [t.get_text() for t in ax.get_yticklabels()]), reverse=True)
    return [label for _, label in ticks]


def _bars(ax):
    return [c for c in ax.containers if isinstance(c, BarContainer)]


def _readable(ax):
    """Every text of the axes (title, tick labels, legend, point labels) at least 6 pt: matplotlib draws a
    fontsize=0 at 1 pt, there but unreadable."""
    texts = [ax.title, *ax.get_xticklabels(), *ax.get_yticklabels(), *ax.get_legend().get_texts(), *ax.texts]
    return min(t.get_fontsize() for t in texts) >= 6


def test_layer_bars_flops_only(report, tmp_path):
    fig = plot_layers(report, tmp_path / "layers.png")
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    bars = _bars(ax)
    assert len(bars) == 1  # no measured times: FLOPs only
    assert len(bars[0]) == len(report.layers)
    widths = [b.get_width() for b in bars[0]]
    assert sum(widths) == pytest.approx(100.0)
    # the first conv: 2·MACs + bias adds = 2·(8·2·3·32) + 8·32 over the model's FLOPs
    assert widths[0] == pytest.approx(100 * (2 * 8 * 2 * 3 * 32 + 8 * 32) / report.total.flops)
    assert _labels_top_down(ax) == [r.name for r in report.layers]  # first layer at the top
    assert "no measured times" in ax.get_title()
    assert (tmp_path / "layers.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_layer_bars_with_times(report, tmp_path):
    for i, row in enumerate(report.layers):  # stand-in measurements
        row.extra["time_ms"] = float(i + 1)
    fig = plot_layers(report, tmp_path / "layers.svg")
    ax = fig.axes[0]
    flops_bars, time_bars = _bars(ax)
    n = len(report.layers)
    assert [b.get_width() for b in time_bars] == pytest.approx([100 * (i + 1) / (n * (n + 1) / 2)
                                                                 for i in range(n)])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["FLOPs [flops] share", "measured time share"]
    assert "<svg" in (tmp_path / "layers.svg").read_text()[:2000]


def test_layer_bars_top(report):
    fig = plot_layers(report, top=2)
    assert len(_bars(fig.axes[0])[0]) == 2
    assert _labels_top_down(fig.axes[0]) == ["2", "0"]  # the two convs, largest first


def test_scaling_plot_log_log_with_slopes(tmp_path):
    res = scaling(cnn(), lambda t: torch.randn(1, 2, t), [16, 32, 64, 128])
    fig = plot_scaling(res, tmp_path / "scaling.png")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_xlabel() == "input size T"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    # total + the layers with a positive count (Flatten does no arithmetic)
    assert labels[0] == "total: slope 1.00"
    assert "5: slope 0.00" in labels and not any(l.startswith("4:") for l in labels)
    # one marker series and one fitted line per entry
    markers = [l for l in ax.get_lines() if l.get_linestyle() == "None"]
    fits = [l for l in ax.get_lines() if l.get_linestyle() == "-"]
    assert len(markers) == len(fits) == len(labels)
    # the fitted line's slope on log-log axes is the exponent
    x, y = fits[0].get_data()
    assert math.log(y[-1] / y[0]) / math.log(x[-1] / x[0]) == pytest.approx(res.exponent(None, "ops"))
    assert res.exponent(None, "ops") == pytest.approx(1.0, abs=0.005)  # the convs ∝ T, the Linear fixed
    assert list(markers[0].get_data()[1]) == res.get(None, "ops").values


def test_scaling_plot_chosen_layers_and_metric():
    res = scaling(nn.Conv2d(1, 2, 3, padding=1), lambda t: torch.randn(1, 1, t, t), [4, 8, 16])
    fig = plot_scaling(res, metric="macs", layers=[])
    ax = fig.axes[0]
    assert ax.get_ylabel() == "MACs"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["total: slope 2.00"]


class _LongOnly(nn.Module):
    """A Conv1d(2, 2, 3), then a Conv1d(2, 64, 1) head that runs only from T = 32 on."""

    def __init__(self):
        super().__init__()
        self.conv, self.head = nn.Conv1d(2, 2, 3), nn.Conv1d(2, 64, 1)

    def forward(self, x):
        y = self.conv(x)
        return self.head(y) if x.shape[-1] >= 32 else y


def test_scaling_plot_draws_a_large_layer_that_is_zero_at_some_sizes():
    # the head runs only from T = 32 on (it was left out of the default layers: no law to fit)
    res = scaling(_LongOnly(), lambda t: torch.randn(1, 2, t), [16, 32, 64], progress=False)
    labels = [t.get_text() for t in plot_scaling(res).axes[0].get_legend().get_texts()]
    assert "head" in labels  # markers, no slope: it has no law
    assert any(label.startswith("conv: slope") for label in labels)


def test_roofline(report, tmp_path):
    for row in report.layers:
        row.extra["time_ms"] = 0.5
    fig = plot_roofline(report, tmp_path / "roof.png", peak_flops=1e12, peak_bandwidth=1e11)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_xlabel() == "arithmetic intensity (FLOPs / byte)" and ax.get_ylabel() == "achieved FLOP/s"
    pts = ax.collections[0].get_offsets()
    counted = [r for r in report.layers if r.flops > 0 and r.cost.bytes > 0]
    assert len(pts) == len(counted)
    conv = report.layers[0]
    assert pts[0][0] == pytest.approx(conv.flops / conv.cost.bytes)
    assert pts[0][1] == pytest.approx(conv.flops / 0.5e-3)
    roof = ax.get_lines()[0].get_ydata()
    assert max(roof) == pytest.approx(1e12)  # the compute ceiling
    ridge = [l for l in ax.get_lines() if l.get_linestyle() == ":"][0].get_xdata()[0]
    assert ridge == pytest.approx(10.0)  # 1e12 FLOP/s / 1e11 B/s


def test_roofline_points_are_coloured_by_their_bound(report):
    """Each bound (the table's column) is one set of points in its colour, named with its count in the
    legend: the first layer latency-bound (red), the others overhead-bound (grey)."""
    from matplotlib.colors import to_rgba

    from torchcount.analysis.plots import BOUND_COLOURS

    counted = [r for r in report.layers if r.flops > 0 and r.cost.bytes > 0]
    for row in report.layers:
        row.extra["time_ms"] = 0.5
        row.extra["bound"] = "latency" if row is counted[0] else "overhead"
    ax = plot_roofline(report, peak_flops=1e12, peak_bandwidth=1e11).axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "latency (1 layer)" in labels and f"overhead ({len(counted) - 1} layers)" in labels
    red, grey = ax.collections
    assert len(red.get_offsets()) == 1 and len(grey.get_offsets()) == len(counted) - 1
    assert red.get_offsets()[0][0] == pytest.approx(counted[0].flops / counted[0].cost.bytes)
    assert tuple(red.get_facecolor()[0]) == to_rgba(BOUND_COLOURS["latency"])
    assert tuple(grey.get_facecolor()[0]) == to_rgba(BOUND_COLOURS["overhead"])


def test_roofline_peaks_from_report_extra(report):
    for row in report.layers:
        row.extra["time_ms"] = 0.5
    report.extra["peaks"] = {"fp32": 2e12, "bandwidth": 1e12}
    fig = plot_roofline(report)
    assert max(fig.axes[0].get_lines()[0].get_ydata()) == pytest.approx(2e12)


def test_roofline_roof_is_the_highest_peak_the_rows_were_judged_against(report):
    # an FP32 model measured with TF32 on: the rows with MACs were judged against TF32's peak
    # (measure's per-layer "peak_flops"), the others against FP32's; the roof is TF32's
    for row in report.layers:
        row.extra["time_ms"] = 0.5
    report.extra["peaks"] = {"fp32": 2e12, "tf32": 8e12, "bandwidth": 1e12}
    report.extra["dtype"] = "float32"
    report.extra["per_layer"] = {r.path: {"peak_flops": 8e12 if r.macs else 2e12} for r in report.layers}
    fig = plot_roofline(report)
    assert max(fig.axes[0].get_lines()[0].get_ydata()) == pytest.approx(8e12)


def test_roofline_needs_measurements(report):
    with pytest.raises(ValueError, match="measure=True"):
        plot_roofline(report)


def test_bad_path(report):
    with pytest.raises(ValueError, match=".png or .svg"):
        plot_layers(report, "plot.txt")


def test_scaling_plot_attention_terms():
    mha = nn.MultiheadAttention(8, 2, batch_first=True)

    def inputs(t):
        x = torch.randn(1, t, 8)
        return (x, x, x)

    res = scaling(mha, inputs, [4, 8, 16, 32])
    path = res.layer_order[0]
    fig = plot_scaling(res, metric="macs", layers=[], terms_of=path)
    ax = fig.axes[0]
    dashed = [l for l in ax.get_lines() if l.get_linestyle() == "--"]
    mac_terms = [s for (p, cat, _), s in res.terms.items() if p == path and cat == "macs"]
    assert len(dashed) == len(mac_terms) >= 3  # projections ∝ T, scores and weighted sum ∝ T²
    slopes = sorted(round(math.log(l.get_ydata()[-1] / l.get_ydata()[0]) / math.log(32 / 4), 6) for l in dashed)
    assert slopes[0] == pytest.approx(1.0) and slopes[-1] == pytest.approx(2.0)
    # each term's squares at (size, its MACs), its dashed law over the same sizes; both visible
    squares = [l for l in ax.get_lines() if l.get_marker() == "s"]
    for square, line, term in zip(squares, dashed, mac_terms):
        assert list(square.get_xdata()) == [4, 8, 16, 32] and list(square.get_ydata()) == term.values
        assert list(line.get_xdata()) == [4, 8, 16, 32] and square.get_markersize() > 0 and line.get_linewidth() > 0
    if path == "":  # the attention layer is the model itself: its terms are the root's, named so
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert "(root): scores Q·Kᵀ (MACs): slope 2.00" in labels  # was ": scores …"
    with pytest.raises(ValueError, match="no formula terms"):
        plot_scaling(res, terms_of="nope")


def test_roofline_points_are_flops_whatever_the_reports_convention(report):
    # on FLOP/s axes: a 'macs' report's points sat at half the table's GFLOP/s, ReLU missing
    from torchcount.conventions import CONVENTIONS

    macs_view = report.with_convention("macs")
    for row in macs_view.layers:
        row.extra["time_ms"] = 0.5
    pts = plot_roofline(macs_view, peak_flops=1e12, peak_bandwidth=1e11).axes[0].collections[0].get_offsets()
    flops = CONVENTIONS["flops"].ops
    counted = [r for r in macs_view.layers if flops(r.cost) > 0 and r.cost.bytes > 0]
    assert len(pts) == len(counted)
    for (x, y), r in zip(pts, counted):
        assert (x, y) == pytest.approx((flops(r.cost) / r.cost.bytes, flops(r.cost) / 0.5e-3))


def test_layers_plot_keeps_time_bars_when_a_row_has_no_time(report):
    # a never-called module's row (or a row cut at a depth) has no time: the other rows' bars stay
    for row in report.layers[:-1]:
        row.extra["time_ms"] = 0.5
    report.layers[-1].extra.pop("time_ms", None)
    ax = plot_layers(report).axes[0]
    assert len([c for c in ax.containers if isinstance(c, BarContainer)]) == 2


def test_top_time_bars_are_shares_of_the_whole_forward(report):
    """With top=, the time bars were shares of the bars shown (71 % + 29 %) while the FLOP bars
    stayed shares of the model: two bases on one axis."""
    for i, row in enumerate(report.layers):  # stand-in measurements
        row.extra["time_ms"] = float(i + 1)
    report.extra["time_ms"] = 100.0  # the measured forward
    fig = plot_layers(report, top=2)
    _, time_bars = _bars(fig.axes[0])
    by_name = {r.name: r.extra["time_ms"] for r in report.layers}
    shown = _labels_top_down(fig.axes[0])
    assert sorted(b.get_width() for b in time_bars) == pytest.approx(sorted(by_name[n] for n in shown))  # % of 100 ms


def test_scaling_terms_only_on_an_operation_axis():
    res = scaling(nn.MultiheadAttention(16, 2, batch_first=True), lambda t: (torch.randn(1, t, 16),) * 3, [4, 8, 16])
    with pytest.raises(ValueError, match="do not belong on a 'params' axis"):
        plot_scaling(res, metric="params", terms_of="")


def test_roofline_title_names_the_flops_it_plots():
    m = cnn()
    r = torchcount.profile(m, torch.randn(1, 2, 32), convention="mults", measure=True, warmup=0, repeat=1)
    fig = plot_roofline(r, peak_flops=1e11, peak_bandwidth=1e10)
    assert "FLOPs under 'flops'" in fig.axes[0].get_title() and "mults" not in fig.axes[0].get_title()


def test_layer_bars_mark_uncounted_work():
    # layer 1 runs an op with no formula: its 0 % bar is a lower bound, marked † (as in the table)
    class Bessel(nn.Module):
        def forward(self, x):
            return torch.special.chebyshev_polynomial_t(x, torch.full_like(x, 3.0))  # uncounted

    with pytest.warns(torchcount.UncountedWarning):
        rep = torchcount.profile(nn.Sequential(nn.Linear(4, 4), Bessel(), nn.Linear(4, 4)), torch.randn(2, 4))
    ax = plot_layers(rep).axes[0]
    assert _labels_top_down(ax) == ["0", "1 †", "2"]
    # the two Linears, 2·(2·4·4) + 2·4 = 72 FLOPs each, half of what was counted each
    assert [b.get_width() for b in _bars(ax)[0]] == pytest.approx([50.0, 0.0, 50.0])
    assert ax.get_title().endswith("† partially counted: no formula for aten.special_chebyshev_polynomial_t.default")


class _Residual(nn.Module):
    """Linear(4, 4) plus its input: the root's own work is 2·4 additions."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)

    def forward(self, x):
        return self.a(x) + x


def test_roofline_labels_a_rows_own_part():
    rep = torchcount.profile(_Residual(), torch.randn(2, 4))
    rep.root.extra.update(time_ms=1.0, self_ms=0.25)  # stand-ins for measure=True
    rep.row("a").extra["time_ms"] = 0.75
    ax = plot_roofline(rep).axes[0]
    labels = [t.get_text() for t in ax.texts]
    assert labels == ["(root) (self)", "a"]  # was "(root)": read as the whole model
    own = rep.root.self_cost
    x, y = ax.collections[0].get_offsets()[0]
    assert own.adds == 8 and x == pytest.approx(8 / own.bytes) and y == pytest.approx(8 / 0.25e-3)


def test_layer_bars_and_roofline_at_depth_0_are_the_whole_model(report):
    """At depth 0 the table shows one row, the whole model; the plots cut report.layers there, which
    holds the root only when it works itself, and raised "no operations to plot" for a model (a
    Sequential) with 16,418 FLOPs."""
    assert report.root not in report.layers  # (a Sequential does no work of its own)
    ax = plot_layers(report, depth=0).axes[0]
    (bars,) = _bars(ax)
    assert _labels_top_down(ax) == ["(root)"]
    assert [b.get_width() for b in bars] == pytest.approx([100.0])
    report.root.extra["time_ms"] = 2.0  # a stand-in for measure=True: the forward's time
    (x, y), = plot_roofline(report, depth=0).axes[0].collections[0].get_offsets()
    flops = torchcount.CONVENTIONS["flops"].ops(report.total.cost)
    assert (x, y) == pytest.approx((flops / report.total.cost.bytes, flops / 2e-3))


def test_layer_bars_of_named_rows_in_their_order(report):
    """rows= draws the table's rows by name, in the order given (a table sorted by another column)."""
    ax = plot_layers(report, rows=["2", "0", "5"]).axes[0]
    assert _labels_top_down(ax) == ["2", "0", "5"]
    flops = {r.path: r.flops for r in report.layers}
    assert [b.get_width() for b in _bars(ax)[0]] == pytest.approx([100 * flops[p] / report.total.flops
                                                                  for p in ("2", "0", "5")])
    with pytest.raises(ValueError, match="no row '9'"):
        plot_layers(report, rows=["0", "9"])


def test_layer_bars_by_type(report, tmp_path):
    """A bar per layer type: the two Conv1d layers in one bar, their FLOPs by hand."""
    fig = plot_layers(report, tmp_path / "types.png", by="type")
    ax = fig.axes[0]
    labels = _labels_top_down(ax)
    assert labels == [g.name for g in report.by_type().groups]  # largest first
    widths = dict(zip(labels, [b.get_width() for b in _bars(ax)[0]]))
    # conv 1: 2·(8·2·3·32) + 8·32; conv 2: 2·(8·8·3·32) + 8·32 (FLOPs: 2 per MAC plus the bias adds)
    conv = 2 * 8 * 2 * 3 * 32 + 8 * 32 + 2 * 8 * 8 * 3 * 32 + 8 * 32
    assert widths["Conv1d"] == pytest.approx(100 * conv / report.total.flops)
    assert sum(widths.values()) == pytest.approx(100.0)
    assert "by layer type" in ax.get_title()
    fig = plot_layers(report, by="type", rows=["Linear", "Conv1d"])
    assert _labels_top_down(fig.axes[0]) == ["Linear", "Conv1d"]
    with pytest.raises(ValueError, match="no row 'Conv2d' among the layer types"):
        plot_layers(report, by="type", rows=["Conv2d"])
    with pytest.raises(ValueError, match="depth cuts"):
        plot_layers(report, by="type", depth=1)
    with pytest.raises(ValueError, match="by is 'path'"):
        plot_layers(report, by="kind")


def _centres(bars):
    return [b.get_y() + b.get_height() / 2 for b in bars]


def test_each_bar_sits_at_its_rows_label_and_a_new_folder_is_made(report, tmp_path):
    """Untimed: each FLOPs bar is centred on its row's tick; timed: a row's FLOPs bar just above its tick
    and its time bar just below, the pair centred on it; the title says so. Saving into folders not yet
    made makes them."""
    fig = plot_layers(report, tmp_path / "new" / "deeper" / "layers.svg")
    assert (tmp_path / "new" / "deeper" / "layers.svg").stat().st_size > 0
    ax = fig.axes[0]
    ticks = list(ax.get_yticks())
    (bars,) = _bars(ax)
    assert _centres(bars) == pytest.approx(ticks) and len(set(ticks)) == len(report.layers)
    assert "vs time share" not in ax.get_title()
    for i, row in enumerate(report.layers):  # stand-in measurements
        row.extra["time_ms"] = float(i + 1)
    ax = plot_layers(report).axes[0]
    ticks = list(ax.get_yticks())
    flops_bars, time_bars = _bars(ax)
    for tick, up, down in zip(ticks, _centres(flops_bars), _centres(time_bars)):
        assert down < tick < up and (up + down) / 2 == pytest.approx(tick)
    assert "vs time share" in ax.get_title()


def test_layer_bars_leave_out_rows_their_parents_rule_prices_unless_named(ruled_block):
    """A rule-priced block (2·4·4 MACs, 64 FLOPs) and a Linear after it (64 + 8 bias adds): the block's
    child, priced by the block's rule, is no bar of its own unless rows= names it; rows= names a row's own
    part as the table does ('(root) (self)')."""
    rep = torchcount.profile(nn.Sequential(ruled_block(), nn.Linear(4, 4)), torch.randn(2, 4))
    assert rep.row("0.fc").status == "covered"
    ax = plot_layers(rep).axes[0]
    assert _labels_top_down(ax) == ["0 (self)", "1"]  # as the table names them
    assert [b.get_width() for b in _bars(ax)[0]] == pytest.approx([100 * 64 / 136, 100 * 72 / 136])
    ax = plot_layers(rep, rows=["0.fc", "1"]).axes[0]
    assert _labels_top_down(ax) == ["0.fc (in parent)", "1"]

    rep = torchcount.profile(_Residual(), torch.randn(2, 4))
    ax = plot_layers(rep, rows=["(root) (self)", "a"]).axes[0]
    assert _labels_top_down(ax) == ["(root) (self)", "a"]
    assert [b.get_width() for b in _bars(ax)[0]] == pytest.approx([100 * 8 / 80, 100 * 72 / 80])


def test_scaling_plot_picks_the_largest_layers_at_the_largest_size():
    """top=1 draws the layer largest at the largest size: a Linear(16, 16) (256·T MACs) and a module's own
    scores x·xᵀ (16·T² MACs) cross at T = 16, so at T = 8 the Linear is larger (2,048 > 1,024) and at T = 32
    the scores (16,384 > 8,192). Markers at the sizes and the values; only leaves and rule-priced layers are
    candidates (not the block holding them), at most depth deep."""
    class Scores(nn.Module):
        def forward(self, x):
            return x @ x.transpose(-1, -2)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin, self.scores = nn.Linear(16, 16), Scores()

        def forward(self, x):
            return self.scores(self.lin(x))

    res = scaling(nn.Sequential(Block()), lambda t: torch.randn(t, 16), [4, 8, 32], convention="macs")
    assert res.get("0.lin", "macs").values == [1_024, 2_048, 8_192]
    assert res.get("0.scores", "macs").values == [256, 1_024, 16_384]

    def legend(**kw):
        ax = plot_scaling(res, metric="macs", **kw).axes[0]
        return [t.get_text().split(":")[0] for t in ax.get_legend().get_texts()], ax

    assert legend(top=1)[0] == ["total", "0.scores"]
    names, ax = legend()
    assert names == ["total", "0.lin", "0.scores"]  # not the block "0" nor the root
    markers = [line for line in ax.get_lines() if line.get_linestyle() == "None"]
    assert [list(m.get_data()[0]) for m in markers] == [[4.0, 8.0, 32.0]] * 3
    assert list(markers[2].get_data()[1]) == [256, 1_024, 16_384]
    assert legend(depth=1)[0] == ["total"] and legend(depth=2)[0] == names
    assert plot_scaling(res, title="mine").axes[0].get_title() == "mine"


def test_scaling_plot_of_ones_and_of_nothing():
    """A single Linear runs 1 sequential step at every size: markers at 1 (a positive value); a model
    without parameters has nothing positive to plot on a parameters axis."""
    res = scaling(nn.Linear(4, 4), lambda t: torch.randn(t, 4), [2, 8])
    ax = plot_scaling(res, metric="steps", layers=[]).axes[0]
    (markers,) = [line for line in ax.get_lines() if line.get_linestyle() == "None"]
    assert list(markers.get_data()[1]) == [1, 1]
    res = scaling(nn.ReLU(), lambda t: torch.randn(t, 4), [2, 8])
    with pytest.raises(ValueError, match="nothing positive to plot for metric 'params'"):
        plot_scaling(res, metric="params")


def test_roofline_roof_from_the_peaks_and_refused_peaks(report):
    """The roof is min(peak FLOP/s, intensity × bandwidth) with both read from report.extra['peaks'];
    a peak of 0 is refused; a measured report cut where no row has a time says so (not 'measure=True')."""
    for row in report.layers:
        row.extra["time_ms"] = 0.5
    report.extra["peaks"] = {"fp32": 2e12, "bandwidth": 1e11}
    roof = plot_roofline(report).axes[0].get_lines()[0]
    x, y = roof.get_data()
    assert list(y) == pytest.approx([min(2e12, xi * 1e11) for xi in x]) and min(y) < 2e12
    for name in ("peak_flops", "peak_bandwidth"):
        with pytest.raises(ValueError, match=f"{name} must be a positive number"):
            plot_roofline(report, **{name: 0})
    for row in report.layers:
        del row.extra["time_ms"]
    report.extra["time_ms"] = 3.0
    with pytest.raises(ValueError, match="at depth 1 .*try depth=None") as info:
        plot_roofline(report, depth=1)
    assert "measure=True" not in str(info.value)


def test_roofline_with_one_peak_or_none_and_the_span_of_its_roof(report):
    """Only a compute peak: a flat roof at it; only a bandwidth: the line intensity × bandwidth; no peak
    at all: no roof and a title saying how to give one. The roof spans every point's intensity and the
    ridge (peak FLOP/s / bandwidth)."""
    for row in report.layers:
        row.extra["time_ms"] = 0.5
    ax = plot_roofline(report, peak_flops=1e12).axes[0]
    (roof,) = ax.get_lines()
    assert set(roof.get_data()[1]) == {1e12} and "no device peaks" not in ax.get_title()
    assert roof.get_linewidth() > 0 and ax.get_legend().get_texts()[0].get_text() == "peak 1 TFLOP/s"
    ax = plot_roofline(report, peak_bandwidth=1e11).axes[0]
    (roof,) = ax.get_lines()
    x, y = roof.get_data()
    assert list(y) == pytest.approx([xi * 1e11 for xi in x])
    assert roof.get_linewidth() > 0 and "no device peaks" not in ax.get_title()
    assert ax.get_legend().get_texts()[0].get_text() == "bandwidth 100 GB/s"
    ax = plot_roofline(report).axes[0]
    assert ax.get_lines() == [] and "no device peaks known" in ax.get_title()
    for peak_flops in (1e9, 1e15):  # a ridge left of the points, and right of them
        ax = plot_roofline(report, peak_flops=peak_flops, peak_bandwidth=1e11).axes[0]
        x = ax.get_lines()[0].get_data()[0]
        intensity = [p[0] for p in ax.collections[0].get_offsets()]
        assert min(x) <= min(intensity) and max(x) >= max(intensity)
        assert min(x) <= peak_flops / 1e11 <= max(x)


def test_scaling_plot_draws_a_layer_zero_at_the_next_to_largest_size():
    """The head runs only from T = 32 on; with sizes 16 and 64 it is zero at the smaller and the largest of
    the model's layers at 64 (64·2·64 MACs): drawn, as its value at the largest size decides."""
    res = scaling(_LongOnly(), lambda t: torch.randn(1, 2, t), [16, 64], progress=False, convention="macs")
    assert res.get("head", "macs").values == [0, 64 * 2 * 62]
    labels = [t.get_text() for t in plot_scaling(res, metric="macs", top=1).axes[0].get_legend().get_texts()]
    # the total: the conv's 2·2·3·14 = 168 MACs at 16, 2·2·3·62 + 7,936 = 8,680 at 64
    assert labels == [f"total: slope {math.log(8_680 / 168, 4):.2f}", "head"]


def test_layer_bars_under_the_convention_asked_for(report):
    """convention= prices the bars, not the report's own convention: under 'macs' the convs' 8·2·3·32 = 1,536
    and 8·8·3·32 = 6,144 MACs and the Linear's 8·2 = 16, of 7,696; the ReLU, the pooling and Flatten none.
    The legend and the title name the unit."""
    ax = plot_layers(report, convention="macs").axes[0]
    assert [b.get_width() for b in _bars(ax)[0]] == pytest.approx([100 * m / 7_696 for m in (1_536, 0, 6_144, 0, 0, 16)])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["MACs [macs] share"]
    assert ax.get_title() == "Sequential: MACs share (no measured times)"


def test_layer_bars_of_a_model_with_no_operations():
    """Flatten and Identity: two rows, and 0 FLOPs to share out between them: the error says so (it was a
    ZeroDivisionError where only an empty row list was checked)."""
    rep = torchcount.profile(nn.Sequential(nn.Flatten(), nn.Identity()), torch.randn(2, 4))
    assert len(rep.layers) == 2
    with pytest.raises(ValueError, match="Sequential: no operations to plot under 'flops'"):
        plot_layers(rep)


def test_time_bars_of_rows_without_a_time_and_of_short_or_unmeasured_forwards(report):
    """Time bars are shares of the measured forward (report.extra["time_ms"]) when it is positive, else of
    the rows' times summed; a row without a time gets no time (a 0 bar, not a share of the others'), and
    rows whose times are all 0 draw FLOPs only."""
    times = [1.0, 2.0, 3.0, 4.0, None, 10.0]  # Flatten (row 4) without a time
    for row, t in zip(report.layers, times):
        if t is not None:
            row.extra["time_ms"] = t
    # no forward time: shares of 1 + 2 + 3 + 4 + 10 = 20 ms
    _, time_bars = _bars(plot_layers(report).axes[0])
    assert [b.get_width() for b in time_bars] == pytest.approx([5.0, 10.0, 15.0, 20.0, 0.0, 50.0])
    report.extra["time_ms"] = 0.0  # a forward too short to read: shares of the rows' 20 ms all the same
    _, time_bars = _bars(plot_layers(report).axes[0])
    assert [b.get_width() for b in time_bars] == pytest.approx([5.0, 10.0, 15.0, 20.0, 0.0, 50.0])
    report.extra["time_ms"] = 0.8  # a forward under 1 ms (times in µs, say): shares of it, 1 / 0.8 = 125 %
    for row, t in zip(report.layers, times):
        if t is not None:
            row.extra["time_ms"] = t / 40  # 0.025 … 0.25 ms: 20 / 40 = 0.5 of the 0.8 ms forward
    _, time_bars = _bars(plot_layers(report).axes[0])
    assert [b.get_width() for b in time_bars] == pytest.approx([100 * t / 40 / 0.8 for t in (1, 2, 3, 4, 0, 10)])
    for row in report.layers:
        row.extra["time_ms"] = 0.0
    ax = plot_layers(report).axes[0]
    assert len(_bars(ax)) == 1 and "no measured times" in ax.get_title()


def test_layer_bars_figure_axes_and_labels(report):
    """The figure has room for its rows (wide, and at least an 8 pt label's height more per extra row), one
    axes filling it; the x axis says what the bars are, with grid lines; readable text; a row's bars (one untimed, two
    timed) stay within its unit of the y axis, clear of the next row's; title= replaces the title."""
    fig = plot_layers(report)
    six_rows = fig.get_size_inches()
    two_rows = plot_layers(report, top=2).get_size_inches()
    assert six_rows[0] >= 6 and (six_rows[1] - two_rows[1]) / 4 >= 8 / 72
    (ax,) = fig.axes
    box = ax.get_position()  # (a figure fraction)
    assert box.width > 0.6 and box.height > 0.6
    assert ax.get_xlabel() == "share of the model (%)" and _readable(ax)
    assert any(line.get_visible() for line in ax.get_xgridlines())
    assert all(b.get_height() <= 1 for b in _bars(ax)[0])
    for i, row in enumerate(report.layers):
        row.extra["time_ms"] = float(i + 1)
    ax = plot_layers(report, title="mine").axes[0]
    assert ax.get_title() == "mine"
    flops_bars, time_bars = _bars(ax)
    assert all(up.get_height() + down.get_height() <= 1 for up, down in zip(flops_bars, time_bars))


def test_layer_bars_title_names_three_ops_without_a_formula_and_says_there_are_more():
    """Four ops with no formula: the title names the first three in order and ends "…" (it listed three
    as if they were all), not the fourth, laguerre; three ops: the three, no "…"."""
    class NoFormula(nn.Module):
        def __init__(self, ops):
            super().__init__()
            self.ops = ops

        def forward(self, x):
            return sum(op(x, torch.full_like(x, 3.0)) for op in self.ops)

    special = torch.special
    three = (special.chebyshev_polynomial_t, special.chebyshev_polynomial_u, special.hermite_polynomial_h)
    named = ("\n† partially counted: no formula for aten.special_chebyshev_polynomial_t.default, "
             "aten.special_chebyshev_polynomial_u.default, aten.special_hermite_polynomial_h.default")
    for ops, ending in ((three + (special.laguerre_polynomial_l,), named + " …"), (three, named)):
        with pytest.warns(torchcount.UncountedWarning):
            rep = torchcount.profile(nn.Sequential(nn.Linear(4, 4), NoFormula(ops)), torch.randn(2, 4))
        title = plot_layers(rep).axes[0].get_title()
        assert title.endswith(ending) and "laguerre" not in title


def test_top_is_a_number_of_layers(report):
    """top= is how many layers to draw: top=0 drew an empty chart and top=-1 every layer but the smallest
    (5 of 6 bars), silently; a scaling plot's top=0 is the model alone (as layers=[])."""
    for top in (0, -1, True, 2.5):
        with pytest.raises(ValueError, match=rf"plot_layers: top must be None or an int ≥ 1, got {top!r}"):
            plot_layers(report, top=top)
    res = scaling(cnn(), lambda t: torch.randn(1, 2, t), [16, 32], progress=False)
    for top in (-1, True, 2.5):
        with pytest.raises(ValueError, match=rf"plot_scaling: top must be an int ≥ 0, got {top!r}"):
            plot_scaling(res, top=top)
    labels = [t.get_text() for t in plot_scaling(res, top=0).axes[0].get_legend().get_texts()]
    assert labels == ["total: slope 1.00"]
    assert _labels_top_down(plot_layers(report, top=1).axes[0]) == ["2"]  # the least top, the larger conv


def test_scaling_plot_figure_file_axes_and_lines(tmp_path):
    """The saved file; a figure with room and one axes filling it; x ticks at the sizes, labelled as
    numbers (no minor labels between them); the default title; readable text; grid lines; the total drawn thicker than
    any layer; each fitted law drawn from the smallest size to the largest in 20 equal steps on the log
    axis (factors of (128 / 16)^(1/20)), each point on c·T^e."""
    from matplotlib.ticker import NullFormatter

    res = scaling(cnn(), lambda t: torch.randn(1, 2, t), [16, 32, 64, 128], progress=False)
    fig = plot_scaling(res, tmp_path / "scaling.png")
    assert (tmp_path / "scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert min(fig.get_size_inches()) >= 4
    (ax,) = fig.axes
    assert ax.get_position().width > 0.6 and ax.get_position().height > 0.6
    assert list(ax.get_xticks()) == [16, 32, 64, 128]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["16", "32", "64", "128"]
    assert isinstance(ax.xaxis.get_minor_formatter(), NullFormatter)
    assert ax.get_title() == "Sequential: FLOPs [flops] vs T (log-log)" and _readable(ax)
    assert any(line.get_visible() for line in ax.get_xgridlines() + ax.get_ygridlines())
    total_marks, total_fit, *layer_lines = ax.get_lines()
    assert min(total_marks.get_linewidth(), total_fit.get_linewidth()) > max(l.get_linewidth() for l in layer_lines)
    fits = [line for line in ax.get_lines() if line.get_linestyle() == "-"]
    for line, key in zip(fits, [None, "0", "1", "2", "3", "5"]):  # (Flatten, layer 4, does no arithmetic)
        x, y = (list(v) for v in line.get_data())
        assert x == pytest.approx([16 * 8 ** (i / 20) for i in range(21)])
        fit = res.get(key, "ops").fit
        assert y == pytest.approx([fit.coefficient * xi ** fit.exponent for xi in x])


def test_scaling_plot_default_top_is_six():
    """Seven equal Linears: the default top draws six of them (the first six, their values tied)."""
    res = scaling(nn.Sequential(*[nn.Linear(4, 4) for _ in range(7)]), lambda t: torch.randn(t, 4), [2, 8],
                  progress=False)
    labels = [t.get_text().split(":")[0] for t in plot_scaling(res).axes[0].get_legend().get_texts()]
    assert labels == ["total", "0", "1", "2", "3", "4", "5"]
    with pytest.raises(ValueError, match="depth must be None or an int ≥ 0, got -1"):
        plot_scaling(res, depth=-1)


class _ShortOnly(nn.Module):
    """A Conv1d(2, 2, 3), then a Conv1d(2, 64, 1) head that runs only below T = 32."""

    def __init__(self):
        super().__init__()
        self.conv, self.head = nn.Conv1d(2, 2, 3), nn.Conv1d(2, 64, 1)

    def forward(self, x):
        y = self.conv(x)
        return self.head(y) if x.shape[-1] < 32 else y


def test_scaling_plot_layers_are_those_of_the_largest_size_with_a_positive_value_there():
    """The layers drawn by default are the largest size's, with a value above 0 there: a model one Linear(4, 4)
    deeper per size (n = 1, 2, 4) draws all four, layer 1 at n = 2 and 4 only (its value missing at n = 1);
    a head that runs only below T = 32 (0 FLOPs at 64) is left out; one step per Linear is a value
    (above 0, if not above 1); the root of a one-layer model is depth 0; a layer with no time at the largest
    size, and one never timed, are left out of a time plot."""
    from torchcount.analysis.scaling import fit_reports

    def legend(res, **kw):
        ax = plot_scaling(res, **kw).axes[0]
        return [t.get_text().split(":")[0] for t in ax.get_legend().get_texts()], ax

    deeper = [torchcount.profile(nn.Sequential(*[nn.Linear(4, 4) for _ in range(n)]), torch.randn(2, 4))
              for n in (1, 2, 4)]
    res = fit_reports(deeper, [1, 2, 4], var="n")
    assert res.get("1", "ops").values == [None, 72, 72]  # 2·(2·4·4) + 2·4 FLOPs where it exists
    names, ax = legend(res)
    assert names == ["total", "0", "1", "2", "3"]
    markers = [line for line in ax.get_lines() if line.get_linestyle() == "None"]
    assert [list(m.get_data()[0]) for m in markers] == [[1, 2, 4], [1, 2, 4], [2, 4], [4], [4]]

    res = scaling(_ShortOnly(), lambda t: torch.randn(1, 2, t), [16, 64], progress=False)
    assert res.get("head", "ops").values == [64 * 2 * 14 * 2 + 64 * 14, 0]  # 2 per MAC, a bias add per output
    assert legend(res)[0] == ["total", "conv"]

    res = scaling(nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4)), lambda t: torch.randn(t, 4), [2, 8], progress=False)
    assert res.get("0", "steps").values == [1, 1]
    assert legend(res, metric="steps")[0] == ["total", "0", "1"]
    res = scaling(nn.Linear(4, 4), lambda t: torch.randn(t, 4), [2, 8], progress=False)
    assert legend(res, depth=0)[0] == ["total", "(root) (self)"]

    timed = [torchcount.profile(cnn(), torch.randn(1, 2, t)) for t in (16, 32)]
    for rep, first, last, forward in zip(timed, (1.0, 2.0), (0.5, None), (4.0, 8.0)):  # stand-in measurements
        rep.layers[0].extra["time_ms"], rep.extra["time_ms"] = first, forward
        if last is not None:
            rep.layers[5].extra["time_ms"] = last
    res = fit_reports(timed, [16, 32])
    assert res.get("5", "time_ms").values == [0.5, None] and ("1", "time_ms") not in res.series
    assert legend(res, metric="time_ms")[0] == ["total", "0"]


def test_scaling_plot_leaves_out_terms_with_no_law():
    """An attention layer that runs only from T = 32 on: its terms are 0 at T = 16, no power law, so none is
    drawn (markers without a law have no slope to name); the total is."""
    class LongOnlyAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.MultiheadAttention(8, 2, batch_first=True)

        def forward(self, x):
            return self.attn(x, x, x)[0] if x.shape[1] >= 32 else x

    res = scaling(LongOnlyAttention(), lambda t: torch.randn(1, t, 8), [16, 32, 64], progress=False)
    terms = [s for (p, cat, _), s in res.terms.items() if p == "attn" and cat == "macs"]
    assert terms and all(s.values[0] == 0 and s.values[1] > 0 and s.fit.exponent is None for s in terms)
    ax = plot_scaling(res, metric="macs", layers=[], terms_of="attn").axes[0]
    assert [t.get_text().split(":")[0] for t in ax.get_legend().get_texts()] == ["total"]
    assert [l for l in ax.get_lines() if l.get_linestyle() == "--"] == []


def test_roofline_figure_lines_points_and_labels(report):
    """A figure with room and one axes filling it; the roof drawn in 100 equal steps on the log axis
    (x[i+1] / x[i] one factor), visible, as the ridge's line; the points visible and drawn over the
    lines, each labelled up and to the right of its point (3, 3 points off); the legend's peaks in
    TFLOP/s and GB/s; readable text; grid lines; title= replaces the title."""
    for row in report.layers:
        row.extra["time_ms"] = 0.5
    fig = plot_roofline(report, peak_flops=1e12, peak_bandwidth=1e11, title="mine")
    assert min(fig.get_size_inches()) >= 4
    (ax,) = fig.axes
    assert ax.get_position().width > 0.6 and ax.get_position().height > 0.6
    roof, ridge = ax.get_lines()
    x = list(roof.get_xdata())
    assert len(x) == 101 and [b / a for a, b in zip(x, x[1:])] == pytest.approx([(x[-1] / x[0]) ** 0.01] * 100)
    assert roof.get_linewidth() > 0 and ridge.get_linewidth() > 0
    (points,) = ax.collections
    assert min(points.get_sizes()) > 0 and points.get_zorder() > max(roof.get_zorder(), ridge.get_zorder())
    assert len(ax.texts) == len(points.get_offsets())
    # the legend in the units a user reads: 1e12 FLOP/s = 1 TFLOP/s, 1e11 B/s = 100 GB/s, ridge 1e12 / 1e11
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "roof: 1 TFLOP/s, 100 GB/s", "ridge 10 FLOP/B", "layers (measured)"]
    assert all(t.xyann[0] > 0 and t.xyann[1] > 0 for t in ax.texts) and _readable(ax)
    assert any(line.get_visible() for line in ax.get_xgridlines())
    assert ax.get_title() == "mine"


class _AddOne(nn.Module):
    def forward(self, x):
        return x + 1


def test_roofline_leaves_out_layers_without_a_rate_or_an_intensity():
    """A layer with 0 FLOPs (an Embedding's lookup: no intensity on a log axis) or a 0 ms time (no rate) is
    no point; a layer of 1 FLOP is: 1 FLOP over 8 bytes (a float read, one written), in 0.5 ms, 2,000 FLOP/s."""
    class Mixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.one, self.fc, self.fast = nn.Embedding(10, 4), _AddOne(), nn.Linear(4, 4), nn.Linear(4, 4)

        def forward(self, idx):
            self.one(torch.ones(1))
            return self.fast(self.fc(self.emb(idx)))

    rep = torchcount.profile(Mixed(), torch.tensor([[1, 2, 3]]))
    assert (rep.row("emb").flops, rep.row("one").flops, rep.row("one").cost.bytes) == (0, 1, 8)
    for row in rep.layers:  # stand-in measurements
        row.extra["time_ms"] = 0.0 if row.path == "fast" else 0.5
    ax = plot_roofline(rep, peak_flops=1e12, peak_bandwidth=1e11).axes[0]
    assert [t.get_text() for t in ax.texts] == ["one", "fc"]
    assert tuple(ax.collections[0].get_offsets()[0]) == pytest.approx((1 / 8, 1 / 0.5e-3))


def test_roofline_peaks_for_the_reports_dtype_and_given_in_report_extra(report):
    """The roof's compute peak is the one for the report's dtype in extra['peaks'] (bf16's for a bfloat16
    model), FP32's where the dtype has none; a peak_flops / peak_bandwidth in report.extra wins over
    extra['peaks'] (ridge 4e12 / 5e11 = 8 FLOP/B); a bool is no peak."""
    for row in report.layers:
        row.extra["time_ms"] = 0.5

    def roof_and_ridge():
        roof, ridge = plot_roofline(report).axes[0].get_lines()
        return max(roof.get_ydata()), ridge.get_xdata()[0]

    report.extra.update(dtype="bfloat16", peaks={"fp32": 2e12, "bf16": 8e12, "fp16": None, "bandwidth": 1e12})
    assert roof_and_ridge() == pytest.approx((8e12, 8.0))
    report.extra["dtype"] = "float16"  # (no fp16 figure for this device)
    assert roof_and_ridge() == pytest.approx((2e12, 2.0))
    report.extra.update(peak_flops=4e12, peak_bandwidth=5e11)
    assert roof_and_ridge() == pytest.approx((4e12, 8.0))
    with pytest.raises(ValueError, match="plot_roofline: peak_flops must be a positive number .*, got True"):
        plot_roofline(report, peak_flops=True)
