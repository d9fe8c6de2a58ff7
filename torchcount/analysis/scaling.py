"""Cost vs input size: profile at several sizes and fit a power law per layer and for the model.

``scaling(model, make_inputs, sizes)`` profiles ``model(make_inputs(T))`` for each ``T`` in
``sizes`` and fits ``value ≈ c·T^e`` by least squares on log-log axes, for every layer and the
whole model, for each quantity:

- ``params``  parameters (weight sharing: fixed, e = 0, whatever the length);
- ``macs``    multiply-accumulates; ``ops`` operations under the convention (default FLOPs);
- ``steps``   sequential steps (``row.extra["steps"]``, from ``count.sequential_chains``: T·layers
  for a recurrent layer, 1 for other layers, summed along the chain);
- ``time_ms`` measured time, with ``measure=True`` (``row.extra["time_ms"]``).

Each layer's figures are inclusive (a block with everything it called); the root's line
(``"(root) (self)"``, path ``""``) is the work the top-level ``forward`` does itself, since the
total's line is everything.

For layers priced by formula terms (a rule, or the ops a leaf ran), every term is fitted too
(``result.terms``), so the T² of attention scores shows even where the layer as a whole mixes
T and T² parts.

``result.table()`` is the lecture's "complexity vs parameter count, time scaling" table:
parameters fixed, conv/linear ∝ T, attention scores ∝ T², recurrent sequential steps ∝ T.
"""
from __future__ import annotations

import math
import numbers
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from tabulate import tabulate
from torch import nn

from ..conventions import Convention, get_convention
from ..cost import OP_CATEGORIES
from ..report import check_tablefmt

METRICS = ("params", "macs", "ops", "steps", "time_ms")
#: the ``row.extra`` keys the measure and count stages write these figures under
TIME_KEYS = ("time_ms",)
STEP_KEYS = ("steps",)


@dataclass(frozen=True)
class Fit:
    """``value ≈ coefficient·size^exponent`` (least squares on log-log axes)."""

    exponent: float | None
    coefficient: float | None
    r2: float | None
    points: int
    note: str = ""

    def law(self, var: str = "T", tol: float = 0.05) -> str:
        """``fixed``, ``∝ T``, ``∝ T²`` … when the exponent is within ``tol`` of an integer."""
        if self.exponent is None:
            return self.note or "—"
        e = self.exponent
        k = round(e)
        if abs(e - k) <= tol:
            if k == 0:
                return "fixed"
            sup = {1: "", 2: "²", 3: "³", 4: "⁴"}.get(k, f"^{k}")
            return f"∝ {var}{sup}"
        return f"∝ {var}^{e:.2f}"

    def text(self, var: str = "T") -> str:
        if self.exponent is None:
            return self.note or "—"
        return f"{self.law(var)} (e={self.exponent:.2f})"


def fit_power_law(sizes: Sequence[float], values: Sequence[float | None]) -> Fit:
    """Least-squares fit of ``log value = log c + e·log size`` over the sizes where a value exists.

    All zero → no exponent ("zero"); some zero → no exponent (not a power law); fewer than two
    distinct sizes → no exponent."""
    pts = [(float(s), float(v)) for s, v in zip(sizes, values) if v is not None]
    if len(pts) < 2 or len({s for s, _ in pts}) < 2:
        return Fit(None, None, None, len(pts), "too few sizes")
    if all(v == 0 for _, v in pts):
        return Fit(None, None, None, len(pts), "zero")
    if any(v <= 0 for _, v in pts) or any(s <= 0 for s, _ in pts):
        return Fit(None, None, None, len(pts), "zero at some sizes")
    xs = [math.log(s) for s, _ in pts]
    ys = [math.log(v) for _, v in pts]
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    e = sxy / sxx
    b = my - e * mx
    ss_tot = sum((y - my) ** 2 for y in ys)
    ss_res = sum((y - (b + e * x)) ** 2 for x, y in zip(xs, ys))
    # a series constant to 1 part in 10⁹ (a count that does not depend on the size, up to float
    # rounding) is a flat law fitted exactly; its r² over such a spread would be noise
    flat = max(ys) - min(ys) < 1e-9
    if flat:
        e = 0.0
        b = my
    r2 = 1.0 if flat or ss_tot <= 1e-24 else 1.0 - ss_res / ss_tot
    if abs(e) < 1e-12:
        e = 0.0
    return Fit(e, math.exp(b), r2, n)


@dataclass
class Series:
    """One quantity of one layer (or of the model: ``path=None``) over the sizes."""

    path: str | None
    type: str
    metric: str
    values: list[float | None]
    fit: Fit

    @property
    def name(self) -> str:
        return "total" if self.path is None else (self.path or "(root) (self)")


@dataclass
class ScalingResult:
    model_name: str
    sizes: list
    convention: Convention
    reports: list = field(repr=False)
    #: (path, metric) → Series; path None is the whole model
    series: dict = field(default_factory=dict)
    #: (path, category, what) → Series, one per formula term of a layer (first call)
    terms: dict = field(default_factory=dict)
    layer_order: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    var: str = "T"
    #: paths of layers with uncounted ops at some size (their counts are lower bounds)
    partial: list = field(default_factory=list)

    def get(self, path: str | None, metric: str) -> Series:
        key = (path, metric)
        if key not in self.series:
            layers = ", ".join(repr(p) for p in self.layer_order[:8])
            raise KeyError(f"no series {metric!r} for {'the model' if path is None else repr(path)}; "
                           f"metrics: {', '.join(sorted({m for _, m in self.series}))}; layers: {layers}")
        return self.series[key]

    def is_partial(self, path: str | None) -> bool:
        """Whether a line's figures leave out work with no formula at some size: a layer in
        ``partial``, a block holding one (its figures are inclusive), or the total."""
        if path is None:
            return bool(self.partial)
        if path == "":  # the root's line is its own work only
            return "" in self.partial
        return any(p == path or p.startswith(path + ".") for p in self.partial)

    def fit(self, path: str | None = None, metric: str = "ops") -> Fit:
        """The fit of ``metric`` for a layer (``path``) or the whole model (``None``)."""
        return self.get(path, metric).fit

    def exponent(self, path: str | None = None, metric: str = "ops") -> float | None:
        return self.fit(path, metric).exponent

    def term_fits(self, path: str) -> dict[str, Fit]:
        """``what [category]`` → fit, for each formula term of a layer."""
        return {f"{what} [{cat}]": s.fit for (p, cat, what), s in self.terms.items() if p == path}

    def metrics(self) -> list[str]:
        return [m for m in METRICS if (None, m) in self.series]

    def table(self, depth: int | None = None, terms: "bool | None" = None, tablefmt: str = "simple") -> str:
        """The lecture's table "complexity vs parameter count, time scaling": per layer, the value at
        the smallest and largest size and the fitted law of each quantity. ``terms``: also a line per
        formula term (True: every layer; default: only layers whose operations mix laws, such as
        attention's T projections and T² scores)."""
        check_tablefmt(tablefmt)
        var, s0, s1 = self.var, self.sizes[0], self.sizes[-1]
        metrics = self.metrics()
        headers = ["module", "type", "params", "params ∝"]
        cols = [m for m in ("macs", "ops", "steps", "time_ms") if m in metrics]
        names = {"macs": "MACs", "ops": self.convention.unit, "steps": "seq. steps", "time_ms": "time ms"}
        for m in cols:
            headers += [f"{names[m]} @{var}={s0}", f"@{var}={s1}", f"{names[m]} ∝"]
        body = []
        paths = [p for p in self.layer_order if depth is None or _depth(p) <= depth]
        unweighted: set = set()  # categories of term lines left out: no column counts them
        for path in [*paths, None]:
            row_type = self.series[(path, "params")].type
            p = self.series[(path, "params")]
            # (a block is marked too: its inclusive figures hold its uncounted layer's lower bound)
            mark = " †" if self.is_partial(path) else ""
            line = [("total" if path is None else path or "(root) (self)") + mark, row_type, _num(p.values[-1]),
                    p.fit.law(var)]
            for m in cols:
                s = self.series.get((path, m))
                if s is None:
                    line += ["", "", ""]
                else:
                    line += [_num(s.values[0]), _num(s.values[-1]), s.fit.text(var)]
            body.append(line)
            ops_fit = self.series[(path, "ops")].fit if (path, "ops") in self.series else None
            mixed = ops_fit is not None and ops_fit.exponent is not None and \
                abs(ops_fit.exponent - round(ops_fit.exponent)) > 0.05
            if path is not None and (terms or (terms is None and mixed)):
                weights = self.convention.weights
                for (tp, cat, what), s in self.terms.items():
                    if tp == path:
                        # each column in its own unit, so a layer's lines add up to its row: a MAC term
                        # under MACs, every term under ops weighted by the convention (a [macs] term
                        # used to show its MACs under FLOPs); a factor leaves the law as it is
                        shown = [{"macs": 1 if cat == "macs" else 0, "ops": weights.get(cat, 0)}.get(m, 0)
                                 for m in cols]
                        if not any(shown):  # (ReLU's assignments under 'flops': a line of blanks)
                            unweighted.add(cat)
                            continue
                        tline = [f"  · {what} [{cat}]", "", "", ""]
                        for m, w in zip(cols, shown):
                            tline += [_num(_scaled(s.values[0], w)), _num(_scaled(s.values[-1], w)),
                                      s.fit.text(var)] if w else ["", "", ""]
                        body.append(tline)
        text = tabulate(body, headers=headers, tablefmt=tablefmt, disable_numparse=True)
        head = (f"{self.model_name} — complexity vs parameter count, time scaling; {var} = "
                f"{', '.join(map(str, self.sizes))}; fits value ≈ c·{var}^e (least squares, log-log); "
                f"ops under '{self.convention.name}'" + ("; · lines: the layer's formula terms (first call)" if terms is not False else "")
                + (f", except those '{self.convention.name}' weighs 0 ({', '.join(sorted(unweighted))})" if unweighted else ""))
        return "\n".join([head, text, *self.notes])

    def __str__(self) -> str:
        return self.table()


def _depth(path: str) -> int:
    return 0 if not path else path.count(".") + 1


def _scaled(v, w: int):
    return None if v is None else v * w


def _num(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, float) and not v.is_integer():
        return f"{v:.3g}"
    return f"{int(v):,}"


def _extra(row, keys, own: bool = False) -> float | None:
    """A row's figure under the first of ``keys`` it has (``own``: for its own work only)."""
    extra = row.shown_extra(own) if row is not None else {}
    for k in keys:
        v = getattr(row, k, None)
        if isinstance(v, (int, float)):
            return v
        v = extra.get(k)
        if isinstance(v, (int, float)):
            return v
    return None


class Progress:
    """A one-line progress bar on stderr; silent unless stderr is a terminal (or ``enabled=True``)."""

    def __init__(self, total: int, label: str = "", enabled: bool | None = None, stream=None, width: int = 24):
        self.stream = stream or sys.stderr
        self.total, self.label, self.width = max(total, 1), label, width
        self.enabled = (hasattr(self.stream, "isatty") and self.stream.isatty()) if enabled is None else enabled
        self.t0 = time.perf_counter()

    def update(self, done: int, what: str = "") -> None:
        if not self.enabled:
            return
        filled = int(self.width * done / self.total)
        elapsed = time.perf_counter() - self.t0
        self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{self.total} "
                          f"{what} {elapsed:.1f}s\x1b[K")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def scaling(model: nn.Module, make_inputs: Callable[[Any], Any], sizes: Sequence, *, measure: bool = False,
            convention: "str | Convention" = "flops", progress: bool | None = None, var: str = "T",
            name: str | None = None, **profile_options: Any) -> ScalingResult:
    """Profile ``model(make_inputs(size))`` at each size and fit power laws (see the module docstring).

    ``make_inputs(size)`` returns what ``torchcount.profile`` takes as inputs (a tensor, a tuple,
    a dict). ``measure=True`` also times each size (options such as ``repeat=`` go to the
    measurement). ``progress``: a bar on stderr (default: only when stderr is a terminal).
    """
    from ..profile import ForwardError, profile

    if not isinstance(model, nn.Module):
        raise TypeError(f"scaling expects an nn.Module, got {type(model).__name__}")
    if not callable(make_inputs):
        raise TypeError("scaling(model, make_inputs, sizes): make_inputs must be a function size → inputs")
    try:
        sizes = list(sizes)
    except TypeError:
        raise TypeError(f"scaling(model, make_inputs, sizes): sizes is a list of sizes such as [64, 128, 256], "
                        f"got {type(sizes).__name__}") from None
    if len(sizes) < 2:
        raise ValueError(f"scaling needs at least two sizes to fit a power law, got {sizes!r}")
    _check_sizes(sizes)
    conv = get_convention(convention)
    bar = Progress(len(sizes), f"torchcount.scaling {name or type(model).__name__}", progress)
    reports = []
    try:
        for i, size in enumerate(sizes):
            bar.update(i, f"{var}={size}")
            try:
                inputs = make_inputs(size)
            except Exception as exc:
                raise ValueError(f"scaling: make_inputs({size!r}) raised {type(exc).__name__}: {exc}") from exc
            try:
                reports.append(profile(model, inputs, convention=conv, measure=measure, warn=False,
                                       name=name, **profile_options))
            except ForwardError as exc:  # which size failed, not only which module
                raise ForwardError(f"scaling at {var}={size}: {exc}", exc.path, exc.input_shapes, exc.reason) from exc
        bar.update(len(sizes), "done")
    finally:
        bar.close()
    return fit_reports(reports, sizes, conv, var=var)


def _check_sizes(sizes: Sequence) -> None:
    if any(isinstance(s, bool) or not isinstance(s, numbers.Real) or not s > 0 for s in sizes):
        raise ValueError(f"sizes must be positive numbers, got {list(sizes)!r}")


def fit_reports(reports: Sequence, sizes: Sequence, convention: "str | Convention | None" = None,
                var: str = "T") -> ScalingResult:
    """Fit power laws over reports already profiled at ``sizes`` (what :func:`scaling` does after
    profiling). The result keeps sizes and reports in increasing order of size, so its table's
    first and last columns are the smallest and the largest size."""
    from ..report import Report

    if len(reports) != len(sizes):
        raise ValueError(f"{len(reports)} reports for {len(sizes)} sizes")
    if not reports or not all(isinstance(r, Report) for r in reports):
        raise TypeError("fit_reports(reports, sizes): reports are torchcount.Report objects, one per size, "
                        f"got {[type(r).__name__ for r in reports]}")
    _check_sizes(sizes)
    conv = get_convention(convention or reports[0].convention)
    ranked = sorted(range(len(sizes)), key=lambda i: sizes[i])
    sizes, reports = [sizes[i] for i in ranked], [reports[i] for i in ranked]
    result = ScalingResult(reports[0].model_name, sizes, conv, list(reports), var=var)
    order: list[str] = []
    by_path: list[dict] = []
    for rep in reports:
        rows = {r.path: r for r in rep.layers}
        by_path.append(rows)
        order += [p for p in rows if p not in order]
    result.layer_order = order

    def add(path, type_, metric, values):
        if all(v is None for v in values):
            return
        result.series[(path, metric)] = Series(path, type_, metric, values, fit_power_law(sizes, values))

    has_steps = has_time = False
    result.partial = sorted({u.path for rep in reports for u in rep.uncounted})
    if result.partial:
        missing = sorted({u.what for rep in reports for u in rep.uncounted})
        result.notes.append(f"† partially counted (no formula for {', '.join(missing[:6])}"
                            f"{' …' if len(missing) > 6 else ''}): the counts and fits of "
                            f"{', '.join(repr(p or '(root)') for p in result.partial[:6])}, of the blocks holding them "
                            f"and of the total "
                            f"cover only what was counted")
    for path in order:
        rows = [m.get(path) for m in by_path]
        type_ = next(r.type for r in rows if r is not None)
        # the root's row is its own work (a residual add, attention scores written in its forward):
        # everything it called is the total's line already
        own = path == ""
        add(path, type_, "params", [r.shown_params(own) if r else None for r in rows])
        add(path, type_, "macs", [r.shown_cost(own).macs if r else None for r in rows])
        add(path, type_, "ops", [conv.ops(r.shown_cost(own)) if r else None for r in rows])
        # a layer not called at some size ran no steps there (as it did no MACs): 0, not a gap to fit over
        steps = [(0 if r.status == "not called" else _extra(r, STEP_KEYS, own)) if r else None for r in rows]
        # likewise no time in a measured forward that did not call it (not a gap: the fit over the other
        # sizes alone read as "fixed")
        times = [(0.0 if r.status == "not called" and _model_time(rep) is not None else _extra(r, TIME_KEYS, own))
                 if r else None for r, rep in zip(rows, reports)]
        has_steps |= any(v is not None for v in steps)
        has_time |= any(v is not None for v in times)
        add(path, type_, "steps", steps)
        add(path, type_, "time_ms", times)
        # formula terms of the first call (per call), summed per (category, what)
        per_term: dict[tuple[str, str], list] = {}
        for i, r in enumerate(rows):
            if r is None or r.status == "covered":
                continue
            for t in r.terms:
                if t.category in OP_CATEGORIES:
                    vals = per_term.setdefault((t.category, t.what), [0 if rr is not None else None
                                                                      for rr in rows])
                    vals[i] += t.value
        if len(per_term) > 1:
            for (cat, what), vals in per_term.items():
                result.terms[(path, cat, what)] = Series(path, type_, f"term:{what}", vals,
                                                         fit_power_law(sizes, vals))
    model_type = reports[0].root.type if reports[0].root is not None else result.model_name
    add(None, model_type, "params", [rep.total.params for rep in reports])
    add(None, model_type, "macs", [rep.total.macs for rep in reports])
    add(None, model_type, "ops", [conv.ops(rep.total.cost) for rep in reports])
    if has_steps:
        add(None, model_type, "steps", [_model_steps(rep) for rep in reports])
    else:
        result.notes.append("sequential steps: not in these reports (row.extra['steps']), so none are fitted")
    if has_time:
        add(None, model_type, "time_ms", [_model_time(rep) for rep in reports])
    return result




def _model_steps(report) -> float | None:
    """Sequential steps of the model: the root's figure, else the sum over the layers (a chain)."""
    if report.root is not None and _extra(report.root, STEP_KEYS) is not None:
        return _extra(report.root, STEP_KEYS)
    vals = [_extra(r, STEP_KEYS) for r in report.unit_rows()]
    vals = [v for v in vals if v is not None]
    return sum(vals) if vals else None


def _model_time(report) -> float | None:
    for source in (report.extra, getattr(report.root, "extra", {}) or {}):
        for k in TIME_KEYS:
            if isinstance(source.get(k), (int, float)):
                return source[k]
    return None


__all__ = ["scaling", "fit_reports", "fit_power_law", "ScalingResult", "Series", "Fit", "Progress"]
