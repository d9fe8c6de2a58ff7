"""Compare two profiles (two variants of a model): totals and per-layer costs side by side,
with the reduction in %.

``reduction = (a − b) / a · 100``: positive when variant B is cheaper than variant A.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tabulate import tabulate
from torch import nn

from ..conventions import Convention, get_convention
from ..report import Report, check_tablefmt, shown_rows, shown_uncounted, uncounted_by_subtree


@dataclass(frozen=True)
class Line:
    """One compared quantity: a total or a layer, in A and in B (None: absent on that side)."""

    name: str
    a: int | float | None
    b: int | float | None
    type_a: str = ""
    type_b: str = ""
    #: False when one side shows the module's own work only (its children are lines of their
    #: own) and the other side everything it called: the two numbers are not like for like
    comparable: bool = True
    #: True when a side's figure leaves out work that had no formula (an op without a rule in this
    #: layer or below it): a lower bound, shown with "†", never a plain 0 against the other side
    partial: bool = False
    #: a per-layer line's module depth, as a report row's (dots in its path + 1, the root 0): a line cut at
    #: the comparison's ``depth`` holds what its submodules did; None for a total and a layer type's line
    depth: "int | None" = None

    @property
    def difference(self) -> int | float:
        """a − b, an absent side counting as 0."""
        return (self.a or 0) - (self.b or 0)

    @property
    def reduction(self) -> float | None:
        """(a − b)/a in %; None when a is 0, either side is absent (a layer only one variant has) or
        either side is partially counted (its uncounted work would read as savings)."""
        if not self.a or self.b is None or not self.comparable or self.partial:
            return None
        return 100.0 * (self.a - self.b) / self.a


@dataclass
class Comparison:
    name_a: str
    name_b: str
    convention: Convention
    report_a: Report = field(repr=False)
    report_b: Report = field(repr=False)
    #: "params", "MACs", "ops" (the convention's), "bytes" (moved, minimal traffic), "param bytes",
    #: and "time_ms" (the forward's median) when both reports were measured
    totals: dict[str, Line] = field(default_factory=dict)
    #: the ``metric``'s figures (default: ops under the convention), per layer (matched by module path), or
    #: per layer type with ``by="type"`` (the groups of ``Report.by_type``, matched by name)
    layers: list[Line] = field(default_factory=list)
    by: str = "path"
    #: what the per-layer lines compare: "ops" (the convention's), "MACs", "params", "bytes" or "time_ms"
    metric: str = "ops"
    #: the depth the per-layer lines are cut at (``compare(..., depth=)``, as ``Report.table``'s: a deeper
    #: module rolls up into its ancestor's line); None where every row is a line (and with ``by="type"``)
    depth: "int | None" = None

    @property
    def ops(self) -> Line:
        """Total operations under the comparison's convention."""
        return self.totals["ops"]

    @property
    def reduction(self) -> float | None:
        """Reduction in % of the total operations under the convention."""
        return self.ops.reduction

    def table(self, tablefmt: str = "simple", units: bool = False) -> str:
        """Totals and per-layer lines side by side (``units=True``: K/M/G instead of thousands
        separators; measured times stay in ms)."""
        check_tablefmt(tablefmt)
        _n = _n_units if units else _n_grouped
        conv = self.convention
        unit = f"{conv.unit} [{conv.name}]"
        what = METRIC_LABELS.get(self.metric, unit)
        head = [f"compare: A = {self.name_a}, B = {self.name_b}; convention '{conv.name}': "
                f"{conv.description}"]
        # the work totals of a partially counted side are lower bounds: marked, as in Report.table
        # (under a MACs-only convention its ops line repeats the MACs line: shown once)
        same = conv.is_macs
        tot = [[{"ops": unit}.get(k, l.name) + (" †" if l.partial else ""),
                _n(l.a), _n(l.b), _n(l.difference), _pct(l.reduction)] for k, l in self.totals.items()
               if not (same and k == "MACs")]
        head.append(tabulate(tot, headers=["total", "A", "B", "A − B", "reduction"], tablefmt=tablefmt,
                             disable_numparse=True, colalign=["left", "right", "right", "right", "right"]))
        # (a "|" in a type name, or a path's, would end its Markdown cell, as in by_type's table)
        cell = (lambda text: text.replace("|", "\\|")) if tablefmt in ("github", "pipe") else (lambda text: text)
        if self.by == "type":  # (a line is a type: no type columns)
            body = [[cell(l.name) + (" †" if l.partial else ""), _n(l.a), _n(l.b), _n(l.difference),
                     _pct(l.reduction)] for l in self.layers]
            head.append(f"\nper layer type, {what}:")
            head.append(tabulate(body, headers=["type", "A", "B", "A − B", "reduction"], tablefmt=tablefmt,
                                 disable_numparse=True, colalign=["left", "right", "right", "right", "right"]))
        else:
            body = [[cell(l.name) + (" †" if l.partial else ""), cell(l.type_a), _n(l.a), cell(l.type_b), _n(l.b),
                     _n(l.difference), _pct(l.reduction)] for l in self.layers]
            head.append(f"\nper layer, {what}:")
            head.append(tabulate(body, headers=["module", "type A", "A", "type B", "B", "A − B", "reduction"],
                                 tablefmt=tablefmt, disable_numparse=True,
                                 colalign=["left", "left", "right", "left", "right", "right", "right"]))
        for side, rep in (("A", self.report_a), ("B", self.report_b)):
            if not rep.complete:
                head.append(f"† {side} is partially counted: {rep.coverage_text()}")
        return "\n".join(head)

    def __str__(self) -> str:
        return self.table()


def _n_grouped(v: int | float | None) -> str:
    if isinstance(v, float):
        return f"{v:,.3f}"
    return "—" if v is None else f"{v:,}"


def _n_units(v: int | float | None) -> str:
    from ..report import _human

    if v is None or isinstance(v, float):  # (a measured time, in ms: as without units)
        return _n_grouped(v)
    return _human(v)


def _time_ms(report: Report) -> float | None:
    t = (report.extra or {}).get("time_ms")
    return float(t) if isinstance(t, (int, float)) else None


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f} %"


def compare(a: Any, b: Any, inputs: Any = None, *, inputs_b: Any = None,
            convention: "str | Convention | None" = None, depth: int | None = None,
            names: tuple[str, str] | None = None, by: str = "path", metric: str = "ops",
            **profile_options: Any) -> Comparison:
    """Compare two variants: ``compare(report_a, report_b)`` or ``compare(model_a, model_b, inputs)``
    (``inputs_b`` when B takes other inputs). ``convention`` (default: report A's) picks how
    operations are counted, e.g. ``"mults"`` for multiplications only. ``depth`` limits the
    per-layer lines as in ``Report.table``; layers are matched by module path, or with ``by="type"``
    summed by layer type (``Report.by_type``: two architectures whose paths differ), matched by type.
    ``metric``: what those lines compare, ``"ops"`` (the convention's), ``"MACs"``, ``"params"``,
    ``"bytes"`` (moved), or ``"time_ms"`` (each line's measured own time, as the table shows it: both
    reports profiled with ``measure=True``)."""
    if isinstance(metric, str):  # any case, as the CLI takes them ("flops" is refused: the ops are the
        # convention's, which under convention="macs" are not FLOPs)
        metric = {"macs": "MACs", "ops": "ops", "params": "params", "bytes": "bytes",
                  "time_ms": "time_ms"}.get(metric.lower(), metric)
    if metric not in METRIC_LABELS and metric != "ops":
        raise ValueError(f"compare: metric is one of ops, {', '.join(METRIC_LABELS)}, got {metric!r}")
    if by not in ("path", "type"):
        raise ValueError(f"compare: by is 'path' (layers matched by module path) or 'type' (summed by layer "
                         f"type), got {by!r}")
    if by == "type" and depth is not None:
        raise ValueError("compare: depth cuts the per-layer lines by path; by='type' sums every row by type")
    if isinstance(a, nn.Module) or isinstance(b, nn.Module):
        if not (isinstance(a, nn.Module) and isinstance(b, nn.Module)):
            raise TypeError("compare: give two reports or two models, not one of each")
        if inputs is None and "input_size" not in profile_options:
            raise ValueError("compare(model_a, model_b, inputs): the models need inputs (or input_size=)")
        from ..profile import profile

        opts = dict(profile_options)
        if convention is not None:
            opts["convention"] = convention
        from ..profile import ForwardError

        profiled = []
        for side, model, given in (("A", a, inputs), ("B", b, inputs if inputs_b is None else inputs_b)):
            try:
                profiled.append(profile(model, given, **opts))
            except ForwardError as exc:  # which variant failed, not only which module
                raise ForwardError(f"compare, variant {side}: {exc}", exc.path, exc.input_shapes, exc.reason) from exc
        a, b = profiled
    elif profile_options or inputs is not None or inputs_b is not None:
        raise TypeError("compare(report_a, report_b): inputs and profile options only apply to models")
    if names is not None and (not isinstance(names, (tuple, list)) or len(names) != 2
                              or not all(isinstance(n, str) for n in names)):
        raise TypeError(f"compare: names is a pair of strings (name_a, name_b), got {names!r}")
    for side, rep in (("A", a), ("B", b)):
        if not isinstance(rep, Report):
            raise TypeError(f"compare: variant {side} is a {type(rep).__name__}, expected a "
                            f"torchcount.Report or an nn.Module")
    conv = get_convention(convention or a.convention)
    name_a, name_b = names or (a.model_name, b.model_name)
    if name_a == name_b and names is None:
        name_a, name_b = f"{name_a} (A)", f"{name_b} (B)"
    # the work totals of a side with uncounted work are lower bounds: no reduction, as for a layer (the
    # root's line at depth 0, the same figures, said "—" while the total said "10.00 %" saved)
    partial = not (a.complete and b.complete)
    totals = {
        "params": Line("params", a.total.params, b.total.params),
        "MACs": Line("MACs", a.total.macs, b.total.macs, partial=partial),
        "ops": Line(conv.unit, conv.ops(a.total.cost), conv.ops(b.total.cost), partial=partial),
        # what a change of dtype, of layout or of caching changes while the counts stay the same
        "bytes": Line("bytes", a.total.cost.bytes, b.total.cost.bytes, partial=partial),
        "param bytes": Line("param bytes", a.total.param_bytes, b.total.param_bytes),
    }
    time_a, time_b = _time_ms(a), _time_ms(b)
    if time_a is not None and time_b is not None:  # both measured (measure=True): the forward's median
        totals["time_ms"] = Line("time (ms)", time_a, time_b)
    if metric == "time_ms" and "time_ms" not in totals:
        unmeasured = [side for side, t in (("A", time_a), ("B", time_b)) if t is None]
        raise ValueError(f"compare: metric='time_ms' compares measured times; {' and '.join(unmeasured)} "
                         f"{'was' if len(unmeasured) == 1 else 'were'} not measured (profile(..., measure=True))")
    if by == "type":
        return Comparison(name_a, name_b, conv, a, b, totals, _type_lines(a, b, conv, metric), by, metric)
    rows_a = {r.path: (r, own) for r, own in shown_rows(a, depth)}  # depth 0: the root, whole
    rows_b = {r.path: (r, own) for r, own in shown_rows(b, depth)}
    order = list(rows_a) + [p for p in rows_b if p not in rows_a]
    below_a, below_b = uncounted_by_subtree(a), uncounted_by_subtree(b)
    layers = []
    for path in order:
        ra, rb = rows_a.get(path), rows_b.get(path)
        va, vb = (_row_value(side, conv, metric) if side else None for side in (ra, rb))
        # "(self)" where every side that has the line shows its own work only: a residual add in A's
        # top-level forward, B having none, was labelled "(root)", as if it were all of A
        owns = [side[1] for side in (ra, rb) if side]  # never empty: the path is a row of A or of B
        name = (path or "(root)") + (" (self)" if all(owns) else "")
        comparable = not (ra and rb and ra[1] != rb[1])
        if not comparable:  # e.g. a block in A (its layers shown too) replaced by one layer in B
            name += f" ({'A' if ra[1] else 'B'}: own work only)"
        # (an uncounted layer used to show 0 here, and "100 % saved" against the other side's count)
        # (a parameter count or a measured time holds whatever ran: no formula is missing from it)
        part = metric in _WORK and (bool(ra and shown_uncounted(*ra, below_a)) or
                                    bool(rb and shown_uncounted(*rb, below_b)))
        layers.append(Line(name, va, vb, ra[0].type if ra else "", rb[0].type if rb else "", comparable, part,
                           (ra or rb)[0].depth))
    return Comparison(name_a, name_b, conv, a, b, totals, layers, by, metric, depth)


#: the per-layer metrics other than the convention's ops, as the table heads their lines
METRIC_LABELS = {"MACs": "MACs", "params": "params", "bytes": "bytes moved", "time_ms": "measured time (ms)"}
_WORK = ("ops", "MACs", "bytes")  # counted by formulas: a line with uncounted work is a lower bound


def _value(metric: str, conv: Convention, cost, params: int, time_ms: "float | None"):
    """A line's figure under ``metric``, from a row's or a type group's cost, parameters and time."""
    if metric == "params":
        return params
    if metric == "time_ms":
        return time_ms
    return conv.ops(cost) if metric == "ops" else cost.macs if metric == "MACs" else cost.bytes


def _row_value(side: tuple, conv: Convention, metric: str):
    row, own = side
    return _value(metric, conv, row.shown_cost(own), row.shown_params(own), row.shown_extra(own).get("time_ms"))


def _type_lines(a: Report, b: Report, conv: Convention, metric: str = "ops") -> list[Line]:
    """One line per layer type of either side (A's types first, largest first by ``metric``, then B's
    own), each side's groups adding up to its total."""
    groups_a, groups_b = ({g.name: g for g in side.by_type(conv, sort=metric).groups} for side in (a, b))

    def value(g):
        return None if g is None else _value(metric, conv, g.cost, g.params, g.time_ms)

    lines = []
    for name in list(groups_a) + [n for n in groups_b if n not in groups_a]:
        ga, gb = groups_a.get(name), groups_b.get(name)
        lines.append(Line(name, value(ga), value(gb),
                          partial=metric in _WORK and (bool(ga and ga.uncounted) or bool(gb and gb.uncounted))))
    return lines


__all__ = ["compare", "Comparison", "Line"]
