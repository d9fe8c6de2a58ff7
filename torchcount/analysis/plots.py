"""Plots (matplotlib, the ``plot`` extra, imported only here and only when a plot is made).

- :func:`plot_layers`   per-layer bars: share of FLOPs, and share of measured time when the rows
  have it (``row.extra["time_ms"]``, written by ``measure=True``);
- :func:`plot_scaling`  a :func:`torchcount.scaling` sweep on log-log axes with the fitted slopes;
- :func:`plot_roofline` achieved FLOP/s vs arithmetic intensity (FLOPs per byte) per layer, under
  the compute and bandwidth ceilings (needs measured times).

Each returns the ``matplotlib.figure.Figure`` and, given ``path``, saves it (PNG, SVG or PDF by suffix).
Figures are built without pyplot and rendered with Agg, so no display is needed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence



def _figure(**kw):
    """A Figure not registered with pyplot (nothing global: no backend switch, no figure to close);
    saving it renders with Agg."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("torchcount plots need matplotlib: pip install 'torchcount[plot]'") from exc
    return Figure(**kw)


def _save(fig, path) -> None:
    if path is None:
        return
    path = Path(path)
    if path.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise ValueError(f"plot path {str(path)!r}: use a .png or .svg (or .pdf) file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")


def _expect_report(report, what: str) -> None:
    from ..report import Report

    if not isinstance(report, Report):
        raise TypeError(f"{what} expects a torchcount.Report (report = torchcount.profile(model, inputs)), "
                        f"got {type(report).__name__}")


def _time(row, own: bool = False) -> float | None:
    """Measured time of a row (ms): inclusive (``time_ms``), or its self part (``self_ms``) when the
    row stands for its own work only."""
    v = row.extra.get("self_ms" if own else "time_ms")
    return float(v) if isinstance(v, (int, float)) else None


def _leaf_rows(report, depth: int | None):
    from ..report import shown_rows

    # (the table's rows: at depth 0 the whole model in one row, which report.layers holds only when
    # the root works itself; cutting report.layers there left nothing, "no operations to plot")
    # a covered row's work is its enclosing rule's, except what its own hooks computed (its cost then)
    return [(r, own) for r, own in shown_rows(report, depth)
            if r.status != "covered" or not r.shown_cost(own).is_zero()]


def plot_layers(report, path=None, *, convention=None, depth: int | None = None, top: int | None = None,
                rows: Sequence[str] | None = None, title: str | None = None, by: str = "path"):
    """Horizontal bars per layer: its share of the model's operations (under ``convention``), and
    beside it its share of the measured time when the rows carry times. ``top`` keeps the largest
    layers by operations; ``rows`` draws these rows of the table at ``depth``, in this order, named
    as the table names them (``"layer1.0.conv1"``, ``"layer1.0 (self)"``, ``"(root)"``): a table
    sorted by another column, as ``torchcount --sort params --top 5 --plot``. ``by="type"``: a bar
    per layer type (``Report.by_type``'s groups, ``rows`` naming groups such as ``"Conv2d"``)."""
    from ..conventions import get_convention

    _expect_report(report, "plot_layers")

    conv = get_convention(convention or report.convention)
    from ..report import shown_rows, shown_uncounted, uncounted_by_subtree

    if by not in ("path", "type"):
        raise ValueError(f"plot_layers: by is 'path' (a bar per row) or 'type' (per layer type), got {by!r}")
    if by == "type" and depth is not None:
        raise ValueError("plot_layers: depth cuts the rows by path; by='type' sums every row by type")
    # (top=0 drew an empty chart, top=-1 all but the smallest layer, top=True one: silently)
    if top is not None and (not isinstance(top, int) or isinstance(top, bool) or top < 1):
        raise ValueError(f"plot_layers: top must be None or an int ≥ 1, got {top!r}")
    below = uncounted_by_subtree(report)
    data, names = [], []  # (label, ops, time) per row; the row's name in the table
    # (rows= may name a row priced by its enclosing rule, which the table shows "(in parent)")
    for r, own in ([] if by == "type" else _leaf_rows(report, depth) if rows is None else shown_rows(report, depth)):
        cost = r.shown_cost(own)
        # a bar that leaves out work with no formula is a lower bound (a 0 % bar for an uncounted
        # layer): marked †, as in the table
        mark = (" (in parent)" if r.status == "covered" else "") + (" †" if shown_uncounted(r, own, below) else "")
        data.append((r.name + (" (self)" if own else "") + mark, conv.ops(cost), _time(r, own)))
        names.append(r.name + (" (self)" if own else ""))
    for g in report.by_type(conv).groups if by == "type" else ():  # (they partition the model, as the rows)
        data.append((g.name + (" †" if g.uncounted else ""), conv.ops(g.cost), g.time_ms))
        names.append(g.name)
    total_ops = sum(d[1] for d in data)
    if not data or total_ops == 0:
        raise ValueError(f"{report.model_name}: no operations to plot under '{conv.name}'")
    if rows is not None:
        if isinstance(rows, str):
            raise TypeError(f"rows is a list of row names, e.g. ['conv1', 'layer1.0 (self)'], got the str {rows!r}")
        missing = [name for name in rows if name not in names]
        if missing:
            where = "among the layer types" if by == "type" else f"in the table at depth {depth}"
            raise ValueError(f"no row {', '.join(map(repr, missing))} {where}; rows are e.g. "
                             f"{', '.join(map(repr, names[:5]))}")
        data = [data[names.index(name)] for name in rows]
    if top is not None:
        data = sorted(data, key=lambda d: -d[1])[:top]
    # measured when any shown row carries a time (a row without one, never called or cut where its
    # figure is the module tree's, gets no time bar)
    timed = any(d[2] for d in data if d[2] is not None)
    # share of the whole forward's time when measured (the rest is untimed overhead), else of the bars
    model_time = (report.extra or {}).get("time_ms")
    # (with top= too: the FLOP bars are shares of the whole model, and so are the time bars)
    total_time = (model_time if isinstance(model_time, (int, float)) and model_time > 0
                  else sum(d[2] or 0.0 for d in data)) if timed else 0.0
    fig = _figure(figsize=(8, 0.35 * len(data) + 1.6))
    ax = fig.add_subplot(1, 1, 1)
    ys = list(range(len(data)))[::-1]
    h = 0.4 if timed else 0.7
    ax.barh([y + (h / 2 if timed else 0) for y in ys], [100 * d[1] / total_ops for d in data], height=h,
            label=f"{conv.unit} [{conv.name}] share", color="tab:blue")
    if timed:
        ax.barh([y - h / 2 for y in ys], [100 * (d[2] or 0.0) / total_time for d in data], height=h,
                label="measured time share", color="tab:orange")
    ax.set_yticks(ys)
    ax.set_yticklabels([d[0] for d in data], fontsize=8)
    ax.set_xlabel("share of the model (%)")
    no_formula = sorted({u.what for u in report.uncounted})  # (the first 3 named, "…" saying there are more)
    ax.set_title(title or f"{report.model_name}: {conv.unit} share" + (" vs time share" if timed else "")
                 + (" by layer type" if by == "type" else "")
                 + ("" if timed else " (no measured times)")
                 + ("" if report.complete else "\n† partially counted: no formula for "
                    + ", ".join(no_formula[:3]) + (" …" if len(no_formula) > 3 else "")))
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    _save(fig, path)
    return fig


def plot_scaling(result, path=None, *, metric: str = "ops", layers: Sequence[str] | None = None,
                 depth: int | None = None, top: int = 6, terms_of: str | None = None,
                 title: str | None = None):
    """The sweep on log-log axes: markers at the profiled sizes, the fitted power law as a line,
    its slope in the legend. One series for the model (``total``) and one per layer: ``layers``, or
    the ``top`` layers (leaves and rule-priced modules, at most ``depth`` deep) with the largest
    value at the largest size (one zero at some sizes has no law: markers without a line).
    ``terms_of``: also the layer's contraction (MAC) terms, dashed — e.g. an attention layer's T²
    scores next to its T projections."""
    from ..report import check_depth
    from .scaling import ScalingResult

    if not isinstance(result, ScalingResult):
        raise TypeError(f"plot_scaling expects the result of torchcount.scaling(model, make_inputs, sizes), "
                        f"got {type(result).__name__}")
    check_depth(depth)
    # (top=-1 drew all the layers but the smallest; 0 draws the model alone, as layers=[])
    if not isinstance(top, int) or isinstance(top, bool) or top < 0:
        raise ValueError(f"plot_scaling: top must be an int ≥ 0, got {top!r}")
    fig = _figure(figsize=(7, 5))
    ax = fig.add_subplot(1, 1, 1)
    if layers is None:
        units = {r.path for r in result.reports[-1].unit_rows()}
        candidates = [p for p in result.layer_order if p in units
                      and (depth is None or (p.count(".") + 1 if p else 0) <= depth)
                      # (a layer with no law, being zero at some sizes, is drawn all the same: markers only)
                      and (p, metric) in result.series and (result.series[(p, metric)].values[-1] or 0) > 0]
        candidates.sort(key=lambda p: -(result.series[(p, metric)].values[-1] or 0))
        layers = [p for p in result.layer_order if p in candidates[:top]]
    keys = [None, *layers]
    sizes = [float(s) for s in result.sizes]
    plotted = 0
    for key in keys:
        s = result.get(key, metric)
        pts = [(x, v) for x, v in zip(sizes, s.values) if v is not None and v > 0]
        if not pts:
            continue
        fit = s.fit
        label = s.name + (" †" if result.is_partial(key) else "") + (
            f": slope {fit.exponent:.2f}" if fit.exponent is not None else "")
        line = ax.plot([p[0] for p in pts], [p[1] for p in pts], "o", label=label,
                       linewidth=2.5 if key is None else 1.2)[0]
        if fit.exponent is not None:
            lo, hi = min(sizes), max(sizes)
            xs = [lo * (hi / lo) ** (i / 20) for i in range(21)]
            ax.plot(xs, [fit.coefficient * x ** fit.exponent for x in xs], "-", color=line.get_color(),
                    linewidth=2.5 if key is None else 1.2)
        plotted += 1
    if terms_of is not None:
        if metric not in ("macs", "ops"):
            raise ValueError(f"terms_of draws multiply-accumulate counts, which do not belong on a {metric!r} "
                             f"axis; use metric='macs' (or 'ops')")
        found = [(what, s) for (p, cat, what), s in result.terms.items() if p == terms_of and cat == "macs"]
        if not found:
            raise ValueError(f"no formula terms for layer {terms_of!r}; layers with terms: "
                             f"{', '.join(sorted({repr(p) for p, _, _ in result.terms})[:8]) or 'none'}")
        for what, s in found:
            pts = [(x, v) for x, v in zip(sizes, s.values) if v]
            if not pts or s.fit.exponent is None:
                continue
            line = ax.plot([p[0] for p in pts], [p[1] for p in pts], "s", markersize=4,
                           label=f"{terms_of or '(root)'}: {what} (MACs): slope {s.fit.exponent:.2f}")[0]
            ax.plot([p[0] for p in pts], [s.fit.coefficient * p[0] ** s.fit.exponent for p in pts], "--",
                    color=line.get_color(), linewidth=1)
    if plotted == 0:
        raise ValueError(f"nothing positive to plot for metric {metric!r}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    from matplotlib.ticker import NullFormatter

    ax.set_xticks(sizes)
    ax.set_xticklabels([f"{s:g}" for s in sizes])
    ax.xaxis.set_minor_formatter(NullFormatter())
    names = {"ops": f"{result.convention.unit} [{result.convention.name}]", "macs": "MACs",
             "params": "parameters", "steps": "sequential steps", "time_ms": "time (ms)"}
    ax.set_xlabel(f"input size {result.var}")
    ax.set_ylabel(names.get(metric, metric))
    ax.set_title(title or f"{result.model_name}: {names.get(metric, metric)} vs {result.var} (log-log)")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    _save(fig, path)
    return fig


def _peaks_from(report) -> tuple[float | None, float | None]:
    extra = report.extra or {}
    flops = extra.get("peak_flops")
    bw = extra.get("peak_bandwidth")
    if flops is None:
        # the peaks the measured rows were judged against (TF32's for FP32 matmuls where TF32 is on):
        # the roof is the highest of them
        judged = [d.get("peak_flops") for d in (extra.get("per_layer") or {}).values() if isinstance(d, dict)]
        flops = max((f for f in judged if f), default=None)
    peaks = extra.get("peaks")  # measure writes Peaks.as_dict(); a Peaks object works too
    if peaks is not None:
        get = peaks.get if isinstance(peaks, dict) else lambda k: getattr(peaks, k, None)
        key = {"bfloat16": "bf16", "float16": "fp16"}.get(str(extra.get("dtype", "")), "fp32")
        flops = flops or get(key) or get("fp32")
        bw = bw or get("bandwidth")
    return flops, bw


#: the colour of each bound's points on a roofline (unknown, and any other, purple)
BOUND_COLOURS = {"compute": "tab:blue", "memory": "tab:green", "cache": "tab:olive", "overhead": "tab:grey",
                 "latency": "tab:red", "invalid": "black"}


def plot_roofline(report, path=None, *, peak_flops: float | None = None, peak_bandwidth: float | None = None,
                  depth: int | None = None, title: str | None = None):
    """Roofline: each measured layer at (arithmetic intensity = FLOPs / bytes, achieved FLOP/s =
    FLOPs / time), with the ceilings min(peak FLOP/s, intensity × peak bytes/s). FLOPs are under
    the ``flops`` convention (as the measured GFLOP/s column, whatever the report's), bytes
    ``row.cost.bytes``, time ``row.extra["time_ms"]``.
    Peaks come from the arguments, else ``report.extra`` (``peak_flops``/``peak_bandwidth``, else
    the highest peak the measured rows were judged against, else ``peaks`` for the report's
    dtype); without peaks the points are drawn with no ceilings. Points are coloured by each row's
    bound (``BOUND_COLOURS``), one legend entry per bound with its number of layers."""
    from ..conventions import CONVENTIONS

    _expect_report(report, "plot_roofline")
    for name, value in (("peak_flops", peak_flops), ("peak_bandwidth", peak_bandwidth)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
            raise ValueError(f"plot_roofline: {name} must be a positive number (per second), got {value!r}")

    flops_of = CONVENTIONS["flops"].ops  # FLOP/s axes, as the measured columns, whatever the report's convention
    points = []
    for r, own in _leaf_rows(report, depth):
        t = _time(r, own)
        cost = r.shown_cost(own)
        flops = flops_of(cost)
        if t is None or t <= 0 or flops <= 0 or cost.bytes <= 0:
            continue
        # (a row shown by its own part, the root's residual add, is labelled so, as in plot_layers: "(root)"
        # alone read as the whole model)
        bound = r.shown_extra(own).get("bound")
        points.append((r.name + (" (self)" if own else ""), flops / cost.bytes, flops / (t / 1e3), bound))
    if not points:
        measured = isinstance((report.extra or {}).get("time_ms"), (int, float))
        raise ValueError(f"{report.model_name}: no layer has a measured time and nonzero FLOPs and bytes"
                         + (f" at depth {depth} (rows cut there may carry no measured columns); try "
                            "depth=None" if measured else "; profile with measure=True for a roofline"))
    pf, pb = _peaks_from(report)
    peak_flops, peak_bandwidth = peak_flops or pf, peak_bandwidth or pb
    fig = _figure(figsize=(7, 5))
    ax = fig.add_subplot(1, 1, 1)
    ai = [p[1] for p in points]
    lo, hi = min(ai) / 4, max(ai) * 4
    if peak_flops and peak_bandwidth:
        ridge = peak_flops / peak_bandwidth
        lo, hi = min(lo, ridge / 4), max(hi, ridge * 4)
        xs = [lo * (hi / lo) ** (i / 100) for i in range(101)]
        ax.plot(xs, [min(peak_flops, x * peak_bandwidth) for x in xs], "k-", linewidth=2,
                label=f"roof: {peak_flops / 1e12:.3g} TFLOP/s, {peak_bandwidth / 1e9:.3g} GB/s")
        ax.axvline(ridge, color="grey", linestyle=":", linewidth=1, label=f"ridge {ridge:.3g} FLOP/B")
    elif peak_flops:
        ax.axhline(peak_flops, color="k", linewidth=2, label=f"peak {peak_flops / 1e12:.3g} TFLOP/s")
    elif peak_bandwidth:
        xs = [lo, hi]
        ax.plot(xs, [x * peak_bandwidth for x in xs], "k--", linewidth=2,
                label=f"bandwidth {peak_bandwidth / 1e9:.3g} GB/s")
    # one colour per bound (measure's verdict, the table's 'bound' column), so the chart says why each
    # layer sits where it does; a report whose rows carry none has one set of points
    for bound in dict.fromkeys(p[3] for p in points):
        group = [p for p in points if p[3] == bound]
        ax.scatter([p[1] for p in group], [p[2] for p in group], s=30, zorder=3,
                   color=BOUND_COLOURS.get(bound, "tab:purple"),
                   label=f"{bound} ({len(group)} layer{'s' if len(group) != 1 else ''})" if bound
                   else "layers (measured)")
    for name, x, y, _ in points:
        ax.annotate(name, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOPs / byte)")
    ax.set_ylabel("achieved FLOP/s")
    ax.set_title(title or f"{report.model_name}: roofline (FLOPs under 'flops')" + (
        "" if peak_flops or peak_bandwidth else "\nno device peaks known: pass peak_flops=/peak_bandwidth= "
                                                "or measure with ceiling=True"), fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(True, which="both", alpha=0.3)
    _save(fig, path)
    return fig


__all__ = ["plot_layers", "plot_scaling", "plot_roofline"]
