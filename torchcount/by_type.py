"""A report's rows summed by layer type: what the convolutions cost altogether, what the norms,
the activations, the parents' own work (residual adds, functional attention) — and, measured,
what share of the time each kind takes beside its share of the work.

Nothing here counts. The groups partition the report's rows the way measure partitions the
forward's time: every row but those a rule covers (their work is in the rule's row), a module a
rule prices taken whole, a parent by its own part only (``"Type (self)"``). So the costs of the
groups add up to the report's total exactly, and their times, in each timed pass, to that pass's
forward; the medians shown add up nearly (the footer says where they are more than 5 % off).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .conventions import Convention, get_convention
from .cost import CATEGORIES, CATEGORY_NAMES, OP_CATEGORIES, Cost
from .count import BACKWARD_MACS, own_extra

if TYPE_CHECKING:  # pragma: no cover
    from .report import Report, Row

#: the columns of the table and the CSV, in order; the measured ones only for a measured report
COLUMNS = ["type", "layers", "calls", "params", "MACs", "ops", "share"]
MEASURED_COLUMNS = ["time_ms", "time%", "GFLOP/s"]
_FLOPS = get_convention("flops")  # (measured rates are always FLOP/s, as measure's columns)


@dataclass
class TypeGroup:
    """The rows of one layer type (or of one type's own parts, ``"Type (self)"``), summed."""

    name: str
    #: the report's row paths in this group, in the report's order
    paths: list = field(default_factory=list)
    calls: int = 0
    #: parameters of its rows: a rule's row with its children's, a parent's own part its own ones;
    #: a weight tied between two rows is in both (as in the per-layer table)
    params: int = 0
    cost: Cost = field(default_factory=Cost)
    #: own time per forward summed over its rows (ms; a rule's row its whole time), None unmeasured
    time_ms: "float | None" = None
    #: calls of ops with no formula in its rows' work: its cost leaves that out (the table's †)
    uncounted: int = 0
    #: a training step's backward MACs its rows' forwards set up (their own ``backward_MACs``), or None
    #: where not tracked (no backward in a profiled method). The backward itself is counted where it ran
    #: (the root's own group): this says which layers' gradients it computed
    backward_macs: "int | None" = None

    #: each member row's share, in the report's order: what :meth:`TypeBreakdown.explain` adds up
    members: list = field(default_factory=list)
    #: ops that forward hooks ran around modules of this type inside a rule's call (their rows are
    #: the rule's otherwise): in ``cost``, not in ``layers``
    hooks: list = field(default_factory=list)

    @property
    def layers(self) -> int:
        return len(self.paths)


@dataclass(frozen=True)
class Member:
    """One row's part of a :class:`TypeGroup`: its own work (a rule's row: all it prices), the
    parameters the group counts for it, its own time per forward (ms; None unmeasured)."""

    path: str
    calls: int
    params: int
    cost: Cost
    time_ms: "float | None"


@dataclass
class TypeBreakdown:
    """:meth:`Report.by_type`'s result: ``groups`` (sorted), and views of them as a table, CSV,
    Markdown or plain data. ``print(report.by_type())`` prints the table."""

    report: "Report"
    convention: Convention
    #: every group, sorted
    groups: list
    #: the key they are sorted by (a column name)
    sort: str
    #: how many of them the views show (None: all); the totals stay the whole model's
    top: "int | None" = None

    @property
    def shown(self) -> list:
        return self.groups if self.top is None else self.groups[:self.top]

    @property
    def measured(self) -> bool:
        return any(g.time_ms is not None for g in self.groups)

    @property
    def layers(self) -> int:
        return sum(g.layers for g in self.groups)

    @property
    def calls(self) -> int:
        return sum(g.calls for g in self.groups)

    @property
    def has_backward(self) -> bool:
        return any(g.backward_macs is not None for g in self.groups)

    def columns(self) -> list:
        """The table's columns (the CSV has every key of :meth:`records`). Under a convention that counts
        MACs alone its ops column is the MACs column: shown once, as compare's totals do."""
        macs_only = self.convention.is_macs
        # (sorted by bytes: the figure it is sorted by is shown, read and written summed)
        return [c for c in COLUMNS if not (macs_only and c == "MACs")] + (["bytes"] if self.sort == "bytes" else []) \
            + (["backward_MACs"] if self.has_backward else []) + (MEASURED_COLUMNS if self.measured else [])

    def records(self) -> list[dict]:
        """One flat dict per shown group (the CSV's lines): the columns, each cost category, and the
        group's row paths joined by ``;`` (``(root)`` for the model's own part)."""
        total_ops = self.convention.ops(self.report.total.cost)
        root_ms = self.report.extra.get("time_ms")
        out = []
        for g in self.shown:
            ops = self.convention.ops(g.cost)
            rec = {"type": g.name, "layers": g.layers, "calls": g.calls, "params": g.params,
                   "MACs": g.cost.macs, "ops": ops, "convention": self.convention.name,
                   "share": 100 * ops / total_ops if total_ops else None,
                   **{c: getattr(g.cost, c) for c in CATEGORIES}, "bytes": g.cost.bytes, "uncounted": g.uncounted}
            if self.has_backward:
                rec["backward_MACs"] = g.backward_macs or 0
            if self.measured:
                rec["time_ms"] = g.time_ms
                rec["time%"] = 100 * g.time_ms / root_ms if g.time_ms is not None and root_ms else None
                # (None, blank, where the group did no FLOPs, as a row's: a rate of 0 says a slow kernel)
                flops = _FLOPS.ops(g.cost)
                rec["GFLOP/s"] = flops / g.time_ms / 1e6 if g.time_ms and flops else None
            rec["paths"] = ";".join(p or "(root)" for p in g.paths)
            out.append(rec)
        return out

    def table(self, tablefmt: str = "simple", units: bool = False) -> str:
        """The groups as a table (``units=True``: K/M/G instead of thousands separators), with a
        totals line (the whole model's), headed by the convention and coverage and followed by notes."""
        return "\n".join([self.header(), self._grid(tablefmt, units), *self.footer()])

    def _grid(self, tablefmt: str, units: bool) -> str:
        from tabulate import tabulate

        from .report import _extra, _grouped, _human, check_tablefmt

        check_tablefmt(tablefmt)
        fmt = _human if units else _grouped
        conv, report = self.convention, self.report
        columns = self.columns()
        body = []
        for rec in self.records():
            cells = {**rec, "type": rec["type"] + (" †" if rec["uncounted"] else ""),
                     "layers": f"{rec['layers']:,}", "calls": f"{rec['calls']:,}", "params": fmt(rec["params"]),
                     "MACs": fmt(rec["MACs"]), "ops": fmt(rec["ops"]), "share": _percent(rec["share"]),
                     "bytes": fmt(rec["bytes"])}
            if self.has_backward:
                cells["backward_MACs"] = fmt(rec["backward_MACs"])
            if self.measured:
                cells.update({"time_ms": _extra(rec["time_ms"]), "time%": _percent(rec["time%"]),
                              "GFLOP/s": _extra(rec["GFLOP/s"])})
            body.append([cells[c] for c in columns])
        total_ops = conv.ops(report.total.cost)
        totals = {"type": "total", "layers": f"{self.layers:,}", "calls": f"{self.calls:,}",
                  "params": fmt(report.total.params), "MACs": fmt(report.total.macs), "ops": fmt(total_ops),
                  "share": "100.0%" if total_ops else "—", "bytes": fmt(report.total.cost.bytes)}
        if self.has_backward:
            totals["backward_MACs"] = fmt(sum(g.backward_macs or 0 for g in self.groups))
        if self.measured:
            root_ms = report.extra.get("time_ms")
            totals.update({"time_ms": _extra(root_ms), "time%": "100.0%" if root_ms else "",
                           "GFLOP/s": _extra(_FLOPS.ops(report.total.cost) / root_ms / 1e6 if root_ms else None)})
        body.append([totals[c] for c in columns])
        headers = [f"{conv.unit} [{conv.name}]" if c == "ops" else c for c in columns]
        if tablefmt in ("github", "pipe"):  # (a "|" in a type name would end its cell)
            body = [[v.replace("|", "\\|") for v in line] for line in body]
        return tabulate(body, headers=headers, tablefmt=tablefmt, disable_numparse=True,
                        colalign=["left"] + ["right"] * (len(columns) - 1))

    def header(self) -> str:
        conv = self.convention
        return (f"{self.report.model_name} by layer type — convention '{conv.name}': {conv.description}\n"
                f"coverage: {self.report.coverage_text()}")

    def footer(self) -> list[str]:
        lines = [f"sorted by {self.sort}; 'layers': the modules of that type with a row (a module called "
                 "twice is one layer of two calls)"]
        if len(self.shown) < len(self.groups):
            lines.append(f"showing the top {len(self.shown)} of {len(self.groups)} groups by {self.sort}; the "
                         "total is the whole model's")
        if any(g.name.endswith(" (self)") for g in self.shown):
            idle = [g.name for g in self.shown if g.name.endswith(" (self)") and g.time_ms and g.cost.is_zero()
                    and not g.cost.bytes]
            lines.append("'Type (self)': what modules of that type computed themselves, outside their children "
                         "(residual adds, functional calls in their forward); their children are in their own types"
                         + (f". {', '.join(idle)}: no work of {'its' if len(idle) == 1 else 'their'} own, only measured "
                            "time, the Python that runs between the children (a container's loop, its calls)"
                            if idle else ""))
        # (MultiheadAttention: its out_proj is priced by its rule, called or not)
        above = _ancestors(self.report.layers)
        whole = sorted({r.type for r in self.report.layers if r.status == "rule" and (
            r.params != r.self_params or r.path in above)})
        if whole:
            lines.append(f"{', '.join(whole)}: priced whole by a rule, with the work and parameters of its "
                         "submodules, which are in no group of their own")
        # (Swin's qkv and proj Linears: their parent runs F.linear on their weights, they are never called)
        read = [r for r in self.report.layers if r.extra.get("weights_read_by") is not None]
        if read:
            types = {r.path: r.type for r in self.report.layers}
            if self.report.root is not None:
                types[""] = self.report.root.type
            by_type: dict = {}
            for r in read:
                by_type.setdefault(r.type, set()).add(types.get(r.extra["weights_read_by"], "(root)"))
            lines.append("; ".join(
                f"{name}: {sum(r.type == name for r in read)} of its layers never called as modules, their weights "
                f"most likely read by {' and '.join(sorted(readers))} itself (its '(self)' group holds that work)"
                for name, readers in by_type.items()))
        held = sum(g.params for g in self.groups)
        if held != self.report.total.params:
            lines.append(f"params: the groups hold {held:,} against the model's {self.report.total.params:,}: " + (
                "a weight tied between modules, or a module registered in two places, is in each holder's group "
                "(as in the per-layer table)" if held > self.report.total.params else
                "parameters no module with a row holds are in no group"))
        if any(g.uncounted for g in self.groups):
            lines.append("† the group's cost leaves out ops with no formula: " + "; ".join(
                f"{g.name} ({g.uncounted} call{'s' if g.uncounted != 1 else ''})" for g in self.groups if g.uncounted))
        # (work of a module with no row: one called only in another thread, with no parameters)
        rowless = sum(u.calls for u in self.report.uncounted) - sum(g.uncounted for g in self.groups)
        if rowless > 0:
            paths = {r.path for r in self.report.layers} | ({self.report.root.path} if self.report.root else set())
            where = sorted({f"{u.path or '(root)'}: {u.what}" for u in self.report.uncounted if u.path not in paths})
            lines.append(f"{rowless:,} call{'s' if rowless != 1 else ''} of work with no formula "
                         f"{'is' if rowless == 1 else 'are'} in no group (no row holds {'it' if rowless == 1 else 'them'}"
                         + (f": {'; '.join(where[:3])}{' …' if len(where) > 3 else ''}" if where else "") + ")")
        if self.has_backward:
            lines.append("backward_MACs: the backward's MACs by the layer type whose forward set them up; the backward "
                         "itself ran in the profiled method, so its cost is in that group's (the root's own)")
        if self.measured:
            per_layer = self.report.extra.get("per_layer") or {}
            averaged = sorted({g.name for g in self.groups for m in g.members
                               if (per_layer.get(m.path) or {}).get("time_stat") == "mean"})
            lines.append("time_ms: each layer's own time per forward (median of the timed passes; a module a rule "
                         "prices whole, its whole time), summed; time% of the measured forward; GFLOP/s: "
                         "FLOPs ['flops'] over that time"
                         + (f"; in {', '.join(averaged)}: a layer called in only some of the passes, or holding one, "
                            "has its mean per pass over all of them (0 where not called), as in the per-layer table"
                            if averaged else ""))
            root_ms = self.report.extra.get("time_ms")
            summed = sum(g.time_ms for g in self.groups if g.time_ms is not None)
            if isinstance(root_ms, (int, float)) and root_ms > 0 and abs(summed - root_ms) > 0.05 * root_ms:
                lines.append(f"the groups' times sum to {summed:.3g} ms, {100 * summed / root_ms:.1f}% of the measured "
                             f"forward ({root_ms:.3g} ms): each is a median over the passes, and medians need not add "
                             "up (each pass's own times do); a busy CPU, which slows some passes, widens the gap")
            # (whether the CPUs were busy decides whether these times can be trusted: the per-layer footer says
            # it, and --by-type prints no other footer)
            lines += [line for line in self.report.extra.get("footer") or [] if line.startswith("busy CPUs:")]
        return lines

    def to_csv(self, path: Any = None) -> str:
        """The groups as CSV (every column of :meth:`records`), also written to ``path``."""
        from .export import csv_text

        recs = self.records()
        return csv_text(list(recs[0]) if recs else self.columns(), recs, path)

    def to_markdown(self, units: bool = False) -> str:
        """The table as GitHub-flavoured Markdown: a heading line, the table, the notes."""
        from .export import _md_escape

        first, _, coverage = self.header().partition("\n")
        return "\n\n".join([f"**{_md_escape(first)}**  \n{_md_escape(coverage)}", self._grid("github", units),
                            "\n".join(f"- {_md_escape(line)}" for line in self.footer())]) + "\n"

    def _repr_html_(self) -> str:  # (Jupyter)
        import html

        head = "".join(f"<div>{html.escape(line)}</div>" for line in self.header().splitlines())
        foot = "".join(f"<div>{html.escape(line)}</div>" for line in self.footer())
        return f'<div class="torchcount-by-type">{head}{self._grid("html", False)}{foot}</div>'

    def to_dict(self) -> dict:
        return {"model": self.report.model_name, "convention": self.convention.name, "sort": self.sort,
                "top": self.top, "groups": self.records()}

    def explain(self, name: str) -> str:
        """One group's figures as the sum of its layers' (each layer's own work: a parent's own part, a
        module a rule prices whole with its submodules): what a student adds up to check the table."""
        group = next((g for g in self.groups if g.name == name), None)
        if group is None:
            import difflib

            names = [g.name for g in self.groups]
            close = difflib.get_close_matches(str(name), names, n=3, cutoff=0.5)
            raise KeyError(f"no layer type {name!r} in this breakdown; " + (
                f"did you mean {', '.join(map(repr, close))}?" if close else f"types are {', '.join(map(repr, names))}"))
        conv = self.convention
        unit = f"{conv.unit} [{conv.name}]"
        total_ops = conv.ops(self.report.total.cost)
        lines = [f"{group.name}: {group.layers} layer{'s' if group.layers != 1 else ''}, {group.calls} "
                 f"call{'s' if group.calls != 1 else ''}" + (" (a parent's own work: its children are in their "
                                                              "own types)" if group.name.endswith(" (self)") else "")]
        width = max((len(m.path or "(root)") for m in group.members), default=0)
        macs_only = conv.is_macs  # (its ops are the MACs: said once)
        for m in group.members:
            lines.append(f"  {(m.path or '(root)').ljust(width)}  {conv.ops(m.cost):>15,} {unit}  "
                         + ("" if macs_only else f"{m.cost.macs:>15,} MACs  ") + f"{m.params:>12,} params" + (
                             f"  {m.calls} calls" if m.calls != 1 else "")
                         + (f"  {m.time_ms:.3g} ms" if m.time_ms is not None else ""))
        for m in group.hooks:
            lines.append(f"  {m.path} (its forward hooks' ops, inside a rule's call): {conv.ops(m.cost):,} {unit}")
        parts = [conv.ops(m.cost) for m in [*group.members, *group.hooks]]
        summed = "" if len(parts) == 1 else " + ".join(f"{p:,}" for p in parts) + " = " if len(parts) <= 6 else \
            f"the sum of the {len(parts)} lines above = "
        ops = conv.ops(group.cost)
        lines.append(f"  {unit} = {summed}{ops:,}" + (
            f", {100 * ops / total_ops:.1f}% of the model's {total_ops:,}" if total_ops else ""))
        lines.append("  " + ("" if macs_only else f"MACs = {group.cost.macs:,}; ") + f"params = {group.params:,}; breakdown: " + (", ".join(
            f"{CATEGORY_NAMES[c]} {getattr(group.cost, c):,}" for c in OP_CATEGORIES if getattr(group.cost, c))
            or "no operations"))
        if group.time_ms is not None:
            root_ms = self.report.extra.get("time_ms")
            lines.append(f"  time = {group.time_ms:.3g} ms per forward, the sum of its layers' own times"
                         + (f", {100 * group.time_ms / root_ms:.1f}% of the measured {root_ms:.3g} ms" if root_ms else ""))
        if group.uncounted:
            lines.append(f"  † leaves out {group.uncounted} call{'s' if group.uncounted != 1 else ''} of ops with no "
                         "formula (the report's notes name them)")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def _percent(value: "float | None") -> str:
    return "" if value is None else f"{value:.1f}%"


def _group_params(rows: list, has_rows_below: set) -> dict:
    """``{id(row): parameters its group holds}``: a parent's own part those registered on it, a leaf its
    subtree's, a module a rule prices whole its subtree's less those of the rows below it that are
    groups' members themselves (a module a covered child's hook calls, one never called): each
    parameter in one group."""
    out = {}
    for row in rows:
        if row.status == "covered":
            out[id(row)] = 0
        elif row.status != "rule" and row.path in has_rows_below:
            out[id(row)] = row.self_params
        else:
            out[id(row)] = row.params
    # innermost rules first: a rule's row inside another's gives up its rows' parameters first
    for rule in sorted((r for r in rows if r.status == "rule" and r.path in has_rows_below),
                       key=lambda r: -r.depth):
        below = rule.path + "." if rule.path else ""
        out[id(rule)] -= sum(out[id(r)] for r in rows if r is not rule and r.path.startswith(below))
    return out


def _ancestors(rows: list) -> set:
    """Every proper ancestor path of a row's path ("" for the root): the rows that have rows below them."""
    out = set()
    for r in rows:
        path = r.path
        while path:
            path = path.rpartition(".")[0]
            out.add(path)
    return out


SORT_KEYS = ("ops", "MACs", "bytes", "params", "calls", "layers", "time_ms", "type")


def by_type(report: "Report", convention: "str | Convention | None" = None, sort: "str | None" = None,
            top: "int | None" = None) -> TypeBreakdown:
    """``report``'s rows summed by layer type (see :meth:`Report.by_type`)."""
    if top is not None and (not isinstance(top, int) or isinstance(top, bool) or top < 1):
        raise ValueError(f"top must be None or an int ≥ 1, got {top!r}")

    conv = get_convention(convention or report.convention)
    has_rows_below = _ancestors(report.layers)
    groups: dict[str, TypeGroup] = {}
    # (the root is a row of its own only where it works itself; parameters registered on it are its own part's)
    root = report.root
    rows = report.layers if root is None or any(r is root for r in report.layers) else [root, *report.layers]
    params_of = _group_params(rows, has_rows_below)
    for row in rows:
        # every row's own work (``self_cost``): a leaf's whole, a parent's own part, a rule's price. Not
        # ``cost``: a module's calls of modules whose rows are elsewhere (held by reference, registered in
        # two places), and what a covered child's hooks ran inside a rule's call, are in those rows
        cost = row.self_cost
        if row.status == "covered":
            # the rule above it holds its work, parameters and time; only ops its own forward hooks ran
            # around it are its own (count keeps them in its row)
            if cost.is_zero() and not cost.bytes and not row.uncounted_ops:
                continue
            group = groups.setdefault(row.type, TypeGroup(row.type))
            group.cost = group.cost + cost
            group.uncounted += sum(row.uncounted_ops.values())
            group.hooks.append(Member(row.path, row.calls, 0, cost, None))
            continue
        own = row.status != "rule" and row.path in has_rows_below
        params = params_of[id(row)]
        # its own time (children's calls excluded, wherever their rows are); a rule's row its whole time
        time_ms = row.shown_extra(row.status != "rule").get("time_ms")
        if own and cost.is_zero() and not cost.bytes and not params and not time_ms and not row.uncounted_ops:
            continue  # a pure container: its children's rows hold everything
        name = row.type + (" (self)" if own else "")
        group = groups.setdefault(name, TypeGroup(name))
        group.paths.append(row.path)
        group.members.append(Member(row.path, row.calls, params, cost, time_ms))
        group.calls += row.calls
        group.params += params
        group.cost = group.cost + cost
        group.uncounted += sum(row.uncounted_ops.values())
        if BACKWARD_MACS in row.extra:  # (its own: a parent's children give theirs to their own groups)
            group.backward_macs = (group.backward_macs or 0) + own_extra(row, BACKWARD_MACS)
        if time_ms is not None:
            group.time_ms = (group.time_ms or 0.0) + time_ms
    measured = any(g.time_ms is not None for g in groups.values())
    if sort is None:
        sort = "time_ms" if measured else "ops"
    keys = {k.lower(): k for k in SORT_KEYS}
    keys.update({"flops": "ops", "time": "time_ms", "time%": "time_ms", "share": "ops", "name": "type"})
    key = keys.get(str(sort).lower())
    if key is None or (key == "time_ms" and not measured):
        raise ValueError(f"cannot sort by {sort!r}; by_type sorts by "
                         f"{', '.join(k for k in SORT_KEYS if measured or k != 'time_ms')}"
                         + ("" if measured else " (time_ms needs profile(..., measure=True))"))
    value = {"ops": lambda g: conv.ops(g.cost), "MACs": lambda g: g.cost.macs, "bytes": lambda g: g.cost.bytes,
             "params": lambda g: g.params,
             "calls": lambda g: g.calls, "layers": lambda g: g.layers,
             "time_ms": lambda g: g.time_ms if g.time_ms is not None else -1.0}.get(key)
    ordered = sorted(groups.values(), key=lambda g: g.name) if key == "type" else \
        sorted(groups.values(), key=lambda g: (-value(g), g.name))
    return TypeBreakdown(report, conv, ordered, key, top)
