"""Report: rows and totals of one profile, and every way of showing them.

Nothing here counts: rows arrive priced (``torchcount.count``); a convention is a view
applied when a number is shown.
"""
from __future__ import annotations

import math

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Sequence

from tabulate import tabulate

from .conventions import CONVENTIONS, Convention, get_convention
from .cost import CATEGORY_NAMES, OP_CATEGORIES, Cost


class _Counted:
    """What a row and the totals both show of their ``cost`` under a convention."""

    __slots__ = ()  # (Row keeps its slots)

    @property
    def macs(self) -> int:
        return self.cost.macs

    @property
    def flops(self) -> int:
        """Operations under the report's convention (MACs under ``macs``: the name is historical)."""
        return self.convention.ops(self.cost)

    def ops(self, convention: "str | Convention | None" = None) -> int:
        """Operations under ``convention`` (default: the report's)."""
        return get_convention(convention or self.convention).ops(self.cost)


@dataclass(slots=True)  # compact: one per module, built right after the forward pass
class Row(_Counted):
    """One module of the model, over every call it received."""

    index: int
    path: str
    type: str
    depth: int
    calls: int
    input_shapes: list
    output_shapes: list
    params: int  # unique parameters in this module's subtree
    self_params: int  # parameters registered directly on this module
    cost: Cost  # inclusive: this module and everything it called, summed over calls
    self_cost: Cost  # what the module did outside its children
    status: str  # "rule", "ops", "partial", "container", "covered", "not called"
    rule: str | None
    convention: Convention
    activation: int = 0  # elements of the output (first call): the worksheet's "activation size"
    #: the elements of that output the module made itself, what its "(self)" row shows: 0 where it
    #: passes on an output a child call returned (a Sequential's is its last child's) or its input,
    #: all of them where it made it (a residual add's result); None where unknown (``record_ops=False``, a graph's layer)
    self_activation: "int | None" = 0
    terms: tuple = ()
    uncounted_ops: dict = field(default_factory=dict)
    #: columns added by later stages (measure, analyses), keyed by column name
    extra: dict = field(default_factory=dict)
    module: Any = field(default=None, repr=False, compare=False)
    #: the columns of ``extra`` that differ for the module's own work (its children excluded):
    #: self time and the rates and bound that follow from it, own steps. Shown instead of
    #: ``extra``'s where the row stands for its own part (a parent whose children are shown);
    #: ``None`` when no stage wrote any
    self_extra: dict | None = None
    #: paths of the modules that called this one from outside its place in the module tree (a
    #: module registered in two places, or called through a plain reference): where this row is
    #: shown, theirs stand for their own work only, as a parent's does
    called_from: tuple = ()
    #: a group row's members (a module never called itself: the rows it sums, every call of theirs)
    members: tuple = ()
    #: only where some call crosses the module tree (a row has ``called_from``): the own work of
    #: every row at or below this path, what a table cut here shows; ``None`` elsewhere
    tree_cost: Cost | None = None
    #: the ``extra`` counts summed the same way (a training step's ``backward_MACs``), or ``None``
    tree_extra: dict | None = None
    #: dtype names of the tensors of ``input_shapes`` / ``output_shapes`` (the first call's, in the same
    #: order): what the module received and computed in, e.g. ``"bfloat16"`` under autocast
    input_dtypes: list = field(default_factory=list)
    output_dtypes: list = field(default_factory=list)
    #: the torch ops the module ran itself (outside its children, its hooks' included), over all its
    #: calls, as recorded: 0 where a rule priced it (no op is recorded there) and in a saved report.
    #: What measuring holds its own time against (each op comes with a dispatch)
    own_ops: int = field(default=0, repr=False, compare=False)
    #: a row read from a saved report (``load_report``), whose module is not loaded: what the file holds
    #: of it, ``"module_repr"`` and ``"param_shapes"`` as :meth:`module_repr` and :meth:`param_shapes`
    #: give them (a key is absent where the file did not carry it: written by an earlier torchcount);
    #: None for a profiled row, whose ``module`` gives them
    saved_module: "dict | None" = field(default=None, repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.path or "(root)"

    def module_repr(self) -> "str | None":
        """The module's repr as ``explain`` shows it after the type: of a module with no submodules (a
        container's would be its whole subtree); None where none is shown (a module with submodules, a
        torch.export layer, whose row names another type than its holder's) or it is not known (a saved
        report whose file did not carry it: ``saved_module``)."""
        if self.saved_module is not None:
            return self.saved_module.get("module_repr")
        m = self.module
        if m is None or next(m.children(), None) is not None or type(m).__name__ != self.type:
            return None
        try:
            return repr(m)
        except Exception as exc:  # (a module's own extra_repr that fails: every export writes it, say so there)
            return f"(its repr raised {type(exc).__name__}: {exc})"

    def param_shapes(self) -> "list | None":
        """``(name, shape)`` of each parameter ``explain`` lists on the row's params line: those registered
        on the module, or, where a rule prices it with its submodules (MultiheadAttention's ``out_proj``:
        ``params`` ≠ ``self_params``), those of its subtree (dotted names); None where not known (no module,
        a saved report whose file did not carry them)."""
        if self.saved_module is not None:
            return self.saved_module.get("param_shapes")
        if self.module is None:
            return None
        recurse = self.status == "rule" and self.params != self.self_params
        return [(name, tuple(p.shape)) for name, p in self.module.named_parameters(recurse=recurse)]

    def shown_cost(self, own: bool = False) -> Cost:
        """The cost as shown for the whole module, or (``own``) for its own part only."""
        return self.self_cost if own else self.cost

    def shown_params(self, own: bool = False) -> int:
        """The parameters as shown for the whole module, or (``own``) those registered on it."""
        return self.self_params if own else self.params

    def shown_activation(self, own: bool = False) -> "int | None":
        """The ``activation`` as shown for the whole module, or (``own``) for its own part."""
        return self.self_activation if own else self.activation

    def shown_extra(self, own: bool = False) -> dict:
        """The ``extra`` columns as shown for the whole module, or (``own``) for its own part:
        ``extra`` with ``self_extra``'s values in place (an inclusive time never stands beside
        a self cost)."""
        if own and self.self_extra:
            return {**self.extra, **self.self_extra}
        return self.extra


@dataclass
class Total(_Counted):
    params: int
    trainable_params: int
    frozen_params: int
    buffers: int
    param_bytes: int
    buffer_bytes: int
    cost: Cost
    convention: Convention


@dataclass(frozen=True)
class Uncounted:
    """Something that did work we have no formula for."""

    path: str
    type: str
    what: str  # an aten op name
    calls: int


@dataclass
class Report:
    model_name: str
    convention: Convention
    layers: list[Row]
    root: Row
    total: Total
    uncounted: list[Uncounted]
    counted_items: int
    notes: list[str] = field(default_factory=list)
    #: results of later stages (measure: overhead, coverage, device, ...)
    extra: dict = field(default_factory=dict)
    #: the model's method profiled instead of its forward (``profile(method="generate")``), or None
    method: "str | None" = None
    #: with a method: how many times the root's forward ran inside it (the root row's ``calls`` is
    #: that too, but 1 where it is 0: the row was called, through the method)
    forward_calls: "int | None" = None

    # ---- views -------------------------------------------------------------------------
    def with_convention(self, name: "str | Convention") -> "Report":
        conv = get_convention(name)
        rows = [dataclasses.replace(r, convention=conv) for r in self.layers]
        # the root is also a row of the table when it does work itself: keep it one object
        root = next((new for old, new in zip(self.layers, rows) if old is self.root), None) \
            or dataclasses.replace(self.root, convention=conv)
        return dataclasses.replace(self, convention=conv, layers=rows, root=root,
                                   total=dataclasses.replace(self.total, convention=conv))

    def row(self, path: str) -> Row:
        if not isinstance(path, str):
            raise TypeError(f"a row is found by its module path, a str such as 'features.0' ('' for the "
                            f"whole model), got {type(path).__name__}: {path!r}")
        if path.endswith(" (self)"):  # as a table names a parent shown for its own work
            path = path[:-len(" (self)")]
        for r in self.layers:
            if r.path == path:
                return r
        if path in ("", "(root)", self.root.path):
            return self.root
        import difflib

        paths = [r.path for r in self.layers]
        close = difflib.get_close_matches(path, paths, n=3, cutoff=0.6)
        raise KeyError(f"no module '{path}' in this report; " + (
            f"did you mean {', '.join(map(repr, close))}?" if close else
            f"paths are e.g. {', '.join(map(repr, paths[:5]))}" + (" ('' is the whole model)" if "" in paths[:5] else "")))

    @property
    def complete(self) -> bool:
        return not self.uncounted

    @property
    def coverage(self) -> float:
        """Share of priced work items (module rules and ops) that had a formula."""
        missing = sum(u.calls for u in self.uncounted)
        total = self.counted_items + missing
        return 1.0 if total == 0 else self.counted_items / total

    def unit_rows(self) -> list[Row]:
        """The rows that act on the data themselves, in order: leaves, and modules a rule prices as
        a whole (their children are covered by it). What a chain of layers is made of."""
        rows = [r for r in self.layers if r.status != "covered"]
        has_rows_below = set()  # every proper ancestor path of a row ("" for the root)
        for r in rows:
            path = r.path
            while path:
                path = path.rpartition(".")[0]
                has_rows_below.add(path)
        return [r for r in rows if r.status == "rule" or r.path not in has_rows_below]

    def coverage_text(self) -> str:
        if self.complete:
            return f"complete ({self.counted_items:,} module calls and ops counted)"
        names = sorted({u.what for u in self.uncounted})
        return (f"partial, {self.coverage:.1%} of {self.counted_items + sum(u.calls for u in self.uncounted):,} "
                f"items counted; no formula for: {', '.join(names)}")

    # ---- table -------------------------------------------------------------------------
    def table(self, convention: "str | Convention | None" = None, depth: int | None = None,
              columns: Sequence[str] | None = None, units: bool = False, tablefmt: str = "simple") -> str:
        """The per-layer table. ``depth`` limits the rows shown (deeper rows roll up into their
        ancestors); a module whose children are shown contributes its *self* cost only, so
        every column adds up to the totals row (params: a tied weight is in each holder's row,
        as the notes say). ``columns`` may add ``"bytes"`` (the bytes its ops read and write as
        counted, ``cost.bytes``: docs/measure.md says what a call reads and writes), ``"activation"``
        (a "(self)" row's: the elements of the output it made itself, see ``Row.self_activation``),
        ``"dtype"`` (the first
        call's output dtypes: what the layer computed in) or any key of ``row.extra``; the measured ones
        (the preset ``"measured"``) need ``profile(..., measure=True)``, an unknown or empty list is a
        ``ValueError``; left out, they are :meth:`default_columns` (a measured report's: the measured
        preset); ``units=True`` prints K/M/G instead of thousands separators."""
        check_tablefmt(tablefmt)
        conv = get_convention(convention or self.convention)
        rows = shown_rows(self, depth)
        total_ops = conv.ops(self.total.cost)
        if isinstance(columns, str):  # a preset, or "module,type,ops" as on the command line
            columns = COLUMN_PRESETS.get(columns) or [c.strip() for c in columns.split(",") if c.strip()]
        cols = list(columns) if columns is not None else self.default_columns()
        # (a report-level result is a column for its totals cell only when it is one value: not the
        # footer's lines or the per-layer details)
        scalar_extra = (k for k, v in self.extra.items() if not isinstance(v, (dict, list, tuple)))
        known = {*DEFAULT_COLUMNS, "bytes", "calls", "activation", "dtype", *scalar_extra,
                 *(c for p in COLUMN_PRESETS.values() for c in p),
                 *(k for r in [self.root, *self.layers] if r is not None for k in r.extra)}
        by_case = {k.lower(): k for k in known if isinstance(k, str)}
        by_case.setdefault("flops", "ops")
        cols = [c if c in known else by_case.get(c.lower(), c) if isinstance(c, str) else c for c in cols]
        unknown = [c for c in cols if c not in known]
        if unknown:
            raise ValueError(f"unknown column(s) {', '.join(map(repr, unknown))}; columns are "
                             f"{', '.join(sorted(known, key=str))} (and the presets {', '.join(COLUMN_PRESETS)})")
        if not cols:  # (a table of no columns printed its title and footer around nothing)
            raise ValueError("columns is empty; e.g. columns=['module', 'params', 'ops'] or columns='module,params,ops'")
        # a preset's column no row has is blank by design where measured (peak_MiB off CUDA); in a
        # report that was never measured the whole column would be blank, as if measured as nothing
        held = {*self.extra, *(k for r in [self.root, *self.layers] if r is not None for k in r.extra)}
        measured_only = {c for p in COLUMN_PRESETS.values() for c in p} - {*DEFAULT_COLUMNS, *held}
        unmeasured = [c for c in cols if c in measured_only] if "time_ms" not in held else []
        if unmeasured:
            raise ValueError(f"column(s) {', '.join(map(repr, unmeasured))} are measured: this report was not "
                             f"(torchcount.profile(..., measure=True))")
        fmt = _human if units else _grouped
        below = uncounted_by_subtree(self)
        body = []
        for row, own in rows:
            cost, params = row.shown_cost(own), row.shown_params(own)
            extra = row.shown_extra(own)
            ops = conv.ops(cost)
            marker = " (in parent)" if row.status == "covered" else ""
            # † wherever the figure shown leaves out work with no formula: a row's own ops (or its forward
            # hooks'), or, for a row standing for its whole subtree (a table cut at a depth), any row below
            # it (a container above a partial row read as complete)
            if below and shown_uncounted(row, own, below):
                marker += " †"
            values = {
                "#": row.index,
                "module": row.name + (" (self)" if own else "") + marker,
                "type": row.type,
                "input": _shapes(row.input_shapes),
                "output": _shapes(row.output_shapes),
                "params": fmt(params),
                "MACs": fmt(cost.macs),
                "ops": fmt(ops),
                "share": f"{ops / total_ops:.1%}" if total_ops else "—",
                "bytes": fmt(cost.bytes),
                "calls": row.calls,
                "activation": _count_cell(fmt, row.shown_activation(own)),
                "dtype": _dtypes(row.output_dtypes),
            }
            body.append([values[c] if c in values else _extra_cell(extra, c) for c in cols])
        totals = {"#": "", "module": "total", "type": "", "input": "", "output": "",
                  "params": fmt(self.total.params), "MACs": fmt(self.total.macs), "ops": fmt(total_ops),
                  "share": "100.0%" if total_ops else "—", "bytes": fmt(self.total.cost.bytes),
                  "calls": "", "activation": "", "dtype": ""}
        if self.root is not None and "steps" in self.root.extra:  # the model's longest chain
            totals["steps"] = _extra(self.root.extra["steps"])
        body.append([totals.get(c, _extra_cell(self.extra, c)) for c in cols])
        headers = [f"{conv.unit} [{conv.name}]" if c == "ops" else c for c in cols]
        if tablefmt in ("github", "pipe"):  # (to_markdown) a "|" in a cell (a ModuleDict key, a convention's
            # name) would end the cell early and shift the rest of the row into the wrong columns
            body = [[v.replace("|", "\\|") if isinstance(v, str) else v for v in line] for line in body]
            headers = [h.replace("|", "\\|") for h in headers]
        text = tabulate(body, headers=headers, tablefmt=tablefmt, disable_numparse=True,
                        colalign=[_ALIGN.get(c, "right") for c in cols])
        return "\n".join([self.header(conv), text, *self.footer(conv)])

    def header(self, conv: Convention | None = None) -> str:
        conv = conv or self.convention
        return (f"{self.model_name} — convention '{conv.name}': {conv.description}\n"
                f"coverage: {self.coverage_text()}")

    def footer(self, conv: Convention | None = None) -> list[str]:
        t = self.total
        lines = [f"params: {t.params:,} ({t.trainable_params:,} trainable, {t.frozen_params:,} frozen); "
                 f"buffers: {t.buffers:,} elements"]
        if not self.complete:
            lines.append("† partially counted: " + "; ".join(
                f"{u.what} ×{u.calls} in '{u.path or '(root)'}'" for u in self.uncounted[:8])
                + (" …" if len(self.uncounted) > 8 else ""))
        lines.extend(self.notes)
        lines.extend(self.extra.get("footer", ()))  # summary lines of later stages (measure)
        return lines

    def default_columns(self) -> list[str]:
        """The table's columns when none are asked for: ``DEFAULT_COLUMNS``, or for a measured report
        (``profile(..., measure=True)``) the preset ``"measured"``, with ``energy_mJ`` where
        ``energy_layers`` replayed layers: what ``print(report)``, Jupyter and the command line show.
        The preset's columns that no row fills are left out (``peak_MiB`` off CUDA, ``%peak`` and
        ``bound`` where the device's peaks are unknown: the footer says why); ``columns="measured"``
        shows them all."""
        rows = [r for r in (self.root, *self.layers) if r is not None]
        if not any("time_ms" in r.extra for r in rows):
            return list(DEFAULT_COLUMNS)
        values = [extra for r in rows for extra in (r.extra, r.self_extra or {})]
        filled = {col for col in ("%peak", "bound", "peak_MiB")
                  if any(extra.get(col) not in (None, "unknown") for extra in values)}
        return [col for col in COLUMN_PRESETS["measured"] if col in filled or col not in ("%peak", "bound", "peak_MiB")] \
            + (["energy_mJ"] if any("energy_mJ" in r.extra for r in rows) else [])

    def __str__(self) -> str:
        return self.table()

    def __repr__(self) -> str:
        return (f"<torchcount.Report {self.model_name}: {self.total.params:,} params, "
                f"{self.total.macs:,} MACs, {self.total.flops:,} {self.convention.unit} "
                f"[{self.convention.name}], {len(self.layers)} rows>")

    def by_type(self, convention: "str | Convention | None" = None, sort: "str | None" = None,
                top: "int | None" = None):
        """The rows summed by layer type (``torchcount/by_type.py``): a :class:`~torchcount.by_type.TypeBreakdown`
        whose ``groups`` partition the total (a parent's own work is its type's ``"(self)"`` group; a module a
        rule prices whole holds its submodules'), and which prints as a table. ``sort``: ``"ops"`` (the
        default), ``"MACs"``, ``"bytes"``, ``"params"``, ``"calls"``, ``"layers"``, ``"type"``, or ``"time_ms"`` (the
        default for a measured report); ``top``: show the first N groups only (the totals stay the model's)."""
        from .by_type import by_type
        return by_type(self, convention, sort, top)

    # ---- exports (torchcount/export.py; schema in docs/export-schema.md) ----------------
    def to_dict(self, convention=None) -> dict:
        from . import export
        return export.to_dict(self, convention)

    def to_json(self, path=None, convention=None, indent: int | None = 2) -> str:
        from . import export
        return export.to_json(self, convention, indent, path)

    def to_csv(self, path=None, convention=None, depth: int | None = None) -> str:
        from . import export
        return export.to_csv(self, path, convention, depth)

    def to_markdown(self, convention=None, depth: int | None = None, columns=None, units: bool = False) -> str:
        from . import export
        return export.to_markdown(self, convention, depth, columns, units)

    def to_dataframe(self, convention=None, depth: int | None = None):
        from . import export
        return export.to_dataframe(self, convention, depth)

    def _repr_html_(self) -> str:
        from . import export
        return export.to_html(self)

    # ---- explain -----------------------------------------------------------------------
    def _has_children(self, row: Row) -> bool:
        """Whether the row has rows below its path: read from the rows, not the module, so that a report
        loaded from JSON (no modules) says the same, and a module whose only submodules are TorchScript
        (no rows of their own: their ops are its own) is not said to leave work to its children's rows."""
        below = row.path + "." if row.path else ""
        return any(r is not row and r.path.startswith(below) for r in self.layers)

    def explain(self, path: str, convention: "str | Convention | None" = None) -> str:
        """The worked solution for one layer: formula, numbers substituted, result. A line its ops
        repeat (a loop's steps) is written once, with how many times it ran."""
        conv = get_convention(convention or self.convention)
        row = self.row(path)
        text = row.module_repr()
        lines = [f"{row.name}: {row.type}" + (f"  {text}" if text is not None else "")
                 # (a saved report's file without it: say so, where a leaf would have shown it)
                 + (f"  ({_NOT_SAVED.format('its repr is')})" if _not_saved(row, "module_repr")
                    and not self._has_children(row) else "")]
        method_root = self.method is not None and row is self.root
        if row.calls == 0:  # never called itself
            if row.members:
                lines.append("not called itself; its submodules were (by its parent, as a ModuleList's layers, "
                             "or by its own methods): its cost is the sum of theirs")
            elif row.uncounted_ops:  # (count's "another thread" entry)
                lines.append("not called in the profiling thread: " + ", ".join(
                    f"{k} ×{v}" for k, v in row.uncounted_ops.items()) + "; its work is not counted, its "
                    "parameters are in the total")
            elif "inclusive_ms" in ((self.extra.get("per_layer") or {}).get(row.path) or {}):
                lines.append("not called in the counted pass (a measured pass did call it: below): no work is "
                             "counted here; its parameters are in the total")
            else:
                lines.append("not called: no work is counted here; its parameters are in the total")
            lines.append(f"  params = {row.params:,}")
            lines.append(f"  total: {conv.ops(row.cost):,} {conv.unit} [{conv.name}], {row.cost.macs:,} MACs")
            lines.append("  breakdown: " + (", ".join(f"{CATEGORY_NAMES[c]} {getattr(row.cost, c):,}"
                                                     for c in OP_CATEGORIES if getattr(row.cost, c)) or "none"))
            # (a group's time is its members', a branch the counting pass skipped may have run in the timed
            # ones: the table shows their measured columns, and so does explain)
            lines += self._measured_lines(row)
            return "\n".join(lines)
        calls = f"one {self.method} call, the forward run {self.forward_calls} time(s) in it" if method_root \
            else f"{row.calls} call{'s' if row.calls != 1 else ''}"
        lines.append(f"input {_shapes(row.input_shapes)} → output {_shapes(row.output_shapes)}; {calls}")
        if row.status == "covered":
            if not row.terms and row.cost.is_zero():
                lines.append("counted by the rule of an enclosing module")
                return "\n".join(lines)
            lines.append("counted by the rule of an enclosing module, except the ops its forward hooks ran around it"
                         + ("" if row.terms else " (in calls after the first)"))
        if row.status in ("rule", "ops", "partial", "covered") and row.terms:
            per_call = " (per call; first call shown)" if row.calls > 1 and not method_root else ""
            own = "its own ops, outside its children (whose rows hold their cost)" if (
                row.status != "rule" and self._has_children(row)) else "the ops it ran"
            if row.status == "covered":
                source = "its forward hooks' ops"
            elif method_root:  # the terms are the method's own ops; its forward calls' own work is in the total
                from .capture import method_text

                source = f"the ops {method_text(row.type, self.method)} ran outside any module's forward" + (
                    f"; what its forward did itself ({'rule ' + row.rule if row.rule else 'its own ops'}, "
                    f"{self.forward_calls} call(s)) is in the total below" if self.forward_calls else "")
            else:
                source = "rule " + row.rule if row.rule else own
            lines.append(f"source: {source}{per_call}")
            for term in row.terms:
                if term.category == "shape":
                    same = term.substituted == str(term.value)  # ('same' padding: M = 10, not M = 10 = 10)
                    lines.append(f"  {term.what} = {term.formula} = " + ("" if same else f"{term.substituted} = ")
                                 + f"{term.value:,}")
            params_terms = [t for t in row.terms if t.category == "params"]
            # (the rule's formula where it agrees with the row: its own parameters, or with its children's
            # where the rule covers them: a quantized Linear's are in its packed-params child)
            if params_terms and params_terms[0].value in (row.self_params, row.params):
                t = params_terms[0]
                lines.append(f"  params = {t.formula} = {t.substituted} = {t.value:,}")
            elif row.status == "rule" and row.params != row.self_params:
                # the rule covers its children (MHA's out_proj): their parameters are its too, as in the table
                lines.append(f"  params = {row.params:,}" + _param_listing(row, row.params))
            else:
                lines.append(f"  params = {row.self_params:,}" + _param_listing(row, row.self_params)
                             + (f" (registered on it; {row.params:,} with its children)"
                                if row.params != row.self_params else ""))
            weighted = []
            for term, times in _same_terms_once(row.terms):
                w = conv.weights.get(term.category, 0)
                # a bare count needs no "= 32256 = 32,256" step
                substituted = "" if term.substituted == str(term.value) else f"{term.substituted} = "
                lines.append(f"  {term.what} [{term.category}, weight {w}] = {term.formula} = "
                             f"{substituted}{term.value:,}" + (f", {times} times = {times * term.value:,}"
                                                               if times > 1 else ""))
                if w:
                    weighted.append((w, times * term.value))
            # the number is the convention's own view of these terms; the expression only writes it out
            first_ops = conv.ops(Cost.of(*row.terms))
            expr = " + ".join(f"{v:,}" if w == 1 else f"{w}×{v:,}" for w, v in weighted) or "0"
            if expr == f"{first_ops:,}":  # one term of weight 1: no "= 1,600 = 1,600"
                lines.append(f"  {conv.unit} [{conv.name}] = {first_ops:,}")
            else:
                lines.append(f"  {conv.unit} [{conv.name}] = {expr} = {first_ops:,}")
        elif row.status == "covered":
            pass  # (its hooks' ops, in later calls only: their total follows)
        elif row.status == "container" or self._has_children(row):
            lines.append(f"a container: its cost is the sum of its children"
                         f"{' plus its own ops' if not row.self_cost.is_zero() else ''}")
        elif row.status == "rule" and row.rule and row.cost.is_zero() and not row.uncounted_ops:
            # a rule priced it (no ops were recorded): say which, not what ops it "ran"
            lines.append(f"source: rule {row.rule}")
            lines.append(f"  params = {row.params:,}")
            lines.append("no arithmetic: its rule counts no operation for this call: the data is passed on "
                         "unchanged or only moved (an identity, a flatten, a padding, a nearest-neighbour "
                         "upsampling, a dropout in eval mode)")
        elif row.cost.is_zero() and not row.uncounted_ops:
            lines.append("no arithmetic: the torch ops it ran only move or reshape data (views, copies, indexing); "
                         "work outside torch (NumPy, Python numbers) is not seen")
        else:
            lines.append("priced from the ops it ran itself")
        if method_root:
            own_ops, method_ops = conv.ops(row.self_cost), conv.ops(Cost.of(*row.terms))
            if own_ops != method_ops:  # the root's row in the table is its own work, its forward's own ops
                # included: say so, or its figure is on no line here (only the method's part and the total)
                lines.append(f"  own work (the '(root)' row): {method_ops:,} of the {self.method} call + "
                             f"{own_ops - method_ops:,} of its forward's own work = {own_ops:,} {conv.unit} [{conv.name}]")
            lines.append(f"  total of the {self.method} call: {conv.ops(row.cost):,} {conv.unit} [{conv.name}], "
                         f"{row.cost.macs:,} MACs")
        elif row.status not in ("rule", "container") and row.cost != row.self_cost and self._has_children(row):
            # a parent priced from its own ops: the lines above are its own work (its "(self)" row), and
            # the row's figure holds its children's too; one "total" would read as the sum of those lines
            name = "(root)" if not row.path else row.path
            lines.append(f"  own work over {row.calls} call(s) (the '{name} (self)' row): {conv.ops(row.self_cost):,} "
                         f"{conv.unit} [{conv.name}], {row.self_cost.macs:,} MACs")
            lines.append(f"  with its children (the '{name}' row): {conv.ops(row.cost):,} {conv.unit} "
                         f"[{conv.name}], {row.cost.macs:,} MACs")
        elif row.calls > 1 or row.status not in ("rule",) or row.cost != row.self_cost:
            # (a rule row's cost holds more than its own where a child ran work its rule does not cover:
            # a covered child's hooks, a module a hook called, a parametrization)
            lines.append(f"  total over {row.calls} call(s): {conv.ops(row.cost):,} {conv.unit} "
                         f"[{conv.name}], {row.cost.macs:,} MACs")
        if row.uncounted_ops:
            lines.append("  uncounted ops: " + ", ".join(f"{k} ×{v}" for k, v in row.uncounted_ops.items()))
        below = [u for u in self.uncounted if u.path != row.path and _within(u.path, row.path)]
        if below:  # (its total leaves them out: say so here too, not only in the rows below it)
            lines.append("  uncounted ops below it (not in its total): " + ", ".join(
                f"{u.what} ×{u.calls} in '{u.path}'" for u in below[:8]) + (" …" if len(below) > 8 else ""))
        with_children = row.status not in ("rule", "container") and row.cost != row.self_cost \
            and not method_root and self._has_children(row)
        lines.append(f"  breakdown{' with its children' if with_children else ''}: " + (", ".join(
            f"{CATEGORY_NAMES[c]} {getattr(row.cost, c):,}" for c in OP_CATEGORIES if getattr(row.cost, c)) or "none"))
        if "backward_MACs" in row.extra:  # a training step (profile(method=...) running loss.backward())
            lines.append(f"  backward: {row.extra['backward_MACs']:,} MACs of gradients this module's forward set up "
                         "(computed by the backward, counted in the row that ran it: the root's own)")
        lines += self._measured_lines(row)
        return "\n".join(lines)

    def _measured_lines(self, row: Row) -> list[str]:
        """What measuring found for ``row`` (``profile(measure=True)``), beside the worked count: its
        time, the rates its counted work ran at, and its bound with the reason (torchcount.measure)."""
        detail = (self.extra.get("per_layer") or {}).get(row.path)
        if detail is None:
            return []
        where = f"measured on {self.extra.get('device_name', '?')}"
        if "inclusive_ms" not in detail:  # (not timed: never called in the measured passes)
            return [f"{where}: {detail.get('status', 'not timed')}"]
        stat = detail.get("time_stat", "median")
        repeat = self.extra.get("repeat", "?")
        lines = [f"{where}, {stat} of {repeat} pass{'' if repeat == 1 else 'es'}: {detail['inclusive_ms']:.4g} ms "
                 f"(IQR {detail['inclusive_q1_ms']:.4g}–{detail['inclusive_q3_ms']:.4g})"
                 + (f", {row.extra['time%']:.1f}% of the {'forward' if self.method is None else 'call'}"
                    if row.extra.get("time%") is not None else "")
                 + (f"; its own time {detail['exclusive_ms']:.4g} ms" if detail["exclusive_ms"] != detail["inclusive_ms"]
                    else "")]
        if detail.get("status"):
            lines.append(f"  {detail['status']}")
        rates = []
        if detail.get("flops_per_s") is not None and detail.get("flops"):
            rates.append(f"{detail['flops_per_s'] / 1e9:.3g} GFLOP/s" + (
                f", {detail['pct_peak']:.3g}% of its peak " + (
                    f"{detail['peak_flops'] / 1e12:.4g} TFLOP/s" if detail["peak_flops"] >= 1e12
                    else f"{detail['peak_flops'] / 1e9:.4g} GFLOP/s") + f" ({detail['dtype']})"
                if detail.get("pct_peak") is not None and detail.get("peak_flops") else ""))
        if detail.get("bytes_per_s") is not None and detail.get("bytes"):
            rates.append(f"{detail['bytes_per_s'] / 1e9:.3g} GB/s over {detail['bytes']:,} bytes")
        if detail.get("intensity") is not None:
            rates.append(f"intensity {detail['intensity']:.3g} FLOP/B")
        # a parent whose children are rows: the table shows its own part ("name (self)"), with the rates
        # and bound of its own work over its own time; the lines above are of its whole time and cost
        own = row.status != "rule" and bool(row.self_extra) and row.self_extra.get("time_ms") is not None \
            and self._has_children(row)
        whole = "with its children: " if own else ""
        if rates:
            lines.append("  " + whole + "; ".join(rates))
        if detail.get("input_layout"):  # (the same op may run another kernel for another layout)
            lines.append(f"  input layout: {detail['input_layout']}")
        if detail.get("page_faults"):  # (CPU: memory fresh from the system, mapped as it is first written)
            price_us = self.extra.get("fault_cost_us") or 0
            # (a count above what the timed passes took, or above its time, is priced less: measure._fill)
            held = detail["fault_ms"] < 0.999 * detail["page_faults"] * price_us / 1e3
            lines.append(f"  page faults: {detail['page_faults']:,} in its calls "
                         + ("of one forward" if self.method is None else f"during one {self.method} call")
                         + f" (the floor-probing pass's), priced at about {detail['fault_ms']:.3g} ms "
                         f"({price_us:.2g} µs a fault"
                         + (", held to what the timed passes took" if held else "") + ")")
        lines.append(f"  bound{' with its children' if own else ''}: {detail.get('bound')} — {detail.get('why')}")
        if own:
            se = row.self_extra
            name = f"{row.path or '(root)'} (self)"
            part = []
            if se.get("GFLOP/s") is not None:
                part.append(f"{se['GFLOP/s']:.3g} GFLOP/s" + (f", {se['%peak']:.3g}% of its peak"
                                                              if se.get("%peak") is not None else ""))
            if se.get("AI") is not None:
                part.append(f"intensity {se['AI']:.3g} FLOP/B")
            lines.append(f"  own part (the '{name}' row): {se['time_ms']:.4g} ms"
                         + (f"; {'; '.join(part)}" if part else "")
                         + f"; bound: {se.get('bound')}"
                         + (f" — {detail['own_why']}" if detail.get("own_why") else ""))
        return lines


DEFAULT_COLUMNS = ["#", "module", "type", "input", "output", "params", "MACs", "ops", "share"]
#: named column sets for ``table(columns=...)``; "measured" needs ``profile(..., measure=True)``
COLUMN_PRESETS = {"measured": ["#", "module", "type", "ops", "share", "time_ms", "time%", "GFLOP/s", "%peak",
                               "AI", "bound", "peak_MiB"]}
#: measured columns that hold a percentage as a number (12.3 for 12.3 %, so that exports sort and
#: average it); the table prints "12.3%"
PERCENT_COLUMNS = ("time%", "%peak")
#: measured rates left out (None) where the row's ``bound`` is "invalid" (above the device's peak);
#: the table prints "invalid" there
RATE_COLUMNS = ("GFLOP/s", "%peak")
_ALIGN = {"module": "left", "type": "left", "input": "left", "output": "left", "dtype": "left"}


def _same_terms_once(terms) -> list:
    """The operation terms, each line once with how many times it occurs (in order of first
    occurrence): a module that runs its ops in a loop (a hand-written RNN's time steps) repeats
    the same few lines once per step."""
    seen: dict = {}
    for term in terms:
        if term.category in OP_CATEGORIES:
            key = (term.category, term.what, term.formula, term.substituted, term.value)
            found = seen.get(key)
            seen[key] = (term, 1) if found is None else (found[0], found[1] + 1)
    return list(seen.values())


def _dtypes(names: list) -> str:
    """Dtype names as one cell ("bfloat16", "float32, int64"); consecutive repeats once ("float32 ×3")."""
    groups: list[list] = []
    for name in names:
        if groups and groups[-1][0] == name:
            groups[-1][1] += 1
        else:
            groups.append([name, 1])
    return ", ".join(name if n == 1 else f"{name} ×{n}" for name, n in groups)


def shown_rows(report: "Report", depth: int | None) -> list[tuple[Row, bool]]:
    """The rows of ``report`` at a depth limit (see :func:`visible_rows`); at depth 0, the root
    (the whole model in one row), which is in ``report.layers`` only when it works itself."""
    check_depth(depth)
    if depth == 0 and report.root is not None:
        return [(report.root, False)]
    return visible_rows(report.layers, depth)


def uncounted_by_subtree(report: "Report") -> dict:
    """``{path: calls}``: calls of ops with no formula at or below each path (once per view, not
    a scan of ``report.uncounted`` per row)."""
    below: dict = {}
    for u in report.uncounted:
        path = u.path
        while True:
            below[path] = below.get(path, 0) + u.calls
            if not path:
                break
            path = path.rpartition(".")[0]
    return below


def shown_uncounted(row: Row, own: bool, below: dict) -> int:
    """Calls of ops with no formula inside what ``row`` shows: its own (``own``: a ``(self)``
    row), or those of every module at or below its path (``below``: :func:`uncounted_by_subtree`;
    the row as a whole, also where a table cut at a depth hides the rows that ran them)."""
    return sum(row.uncounted_ops.values()) if own else below.get(row.path, 0)


def check_tablefmt(tablefmt: Any) -> None:
    """A table format tabulate knows (every view's ``table(tablefmt=...)``): tabulate prints an
    unknown name as its "simple" format, silently (a misspelt "githb" gave no Markdown)."""
    from tabulate import TableFormat, tabulate_formats

    if not isinstance(tablefmt, TableFormat) and tablefmt not in tabulate_formats:
        raise ValueError(f"unknown tablefmt {tablefmt!r}; tabulate's formats are {', '.join(sorted(tabulate_formats))}")


def check_depth(depth: Any) -> None:
    # (every view cuts its rows through here: table, exports, compare, plots)
    if depth is not None and (not isinstance(depth, int) or isinstance(depth, bool) or depth < 0):
        raise ValueError(f"depth must be None or an int ≥ 0, got {depth!r}")


def visible_rows(layers: list[Row], depth: int | None) -> list[tuple[Row, bool]]:
    """Rows to show at a depth limit, each with whether it stands for its *self* part only
    (because some of its descendants are shown too)."""
    check_depth(depth)
    shown = [r for r in layers if depth is None or r.depth <= depth]
    # every proper ancestor of a shown path (one pass, not a prefix scan per row)
    ancestors = set()
    for r in shown:
        parts = r.path.split(".") if r.path else []
        ancestors.update(".".join(parts[:i]) for i in range(1, len(parts)))
    # a module called from outside its place in the tree is in its callers' rows and in its own:
    # then a row cut at the depth stands for what its submodules did, wherever called from
    # (``Row.tree_cost``, set by counting)
    crossing = any(r.called_from for r in layers)
    # (caller, callee) of each such call: a row whose calls reach outside its subtree holds time
    # that the callee's own row shows too, even when the callee costs nothing (a Dropout, a sleep)
    foreign = [(c, x.path) for x in layers for c in x.called_from] if crossing else []
    out = []
    for r in shown:
        has_shown_child = r.path in ancestors if r.path else len(shown) > 1
        if has_shown_child:
            if r.self_cost.is_zero() and not r.self_cost.bytes and r.self_params == 0 and not r.uncounted_ops \
                    and not (r.self_extra and (r.self_extra.get("time_ms") or r.self_extra.get("backward_MACs"))):
                # a pure container: its children carry everything (a cat of its own moves bytes; work of
                # its own with no formula is a "(self) †" row, never hidden); one with measured time of its
                # own (Python between its children, a sleep) keeps its "(self)" row, or the time column
                # would not add up to the total
                continue
            out.append((r, True))
        else:
            if crossing and r.tree_cost is not None and (r.tree_cost != r.cost or _reaches_out(r.path, foreign)):
                # (none below a not-called row) the row as its module tree: the costs of what is below
                # it (and their backward_MACs), and no time (its measured time holds calls shown in
                # other rows)
                r = dataclasses.replace(r, cost=r.tree_cost, tree_cost=None, extra=dict(r.tree_extra or {}),
                                        self_extra=None)
            out.append((r, False))
    return out


def _within(path: str, root: str) -> bool:
    return not root or path == root or path.startswith(root + ".")


def _reaches_out(path: str, foreign: list) -> bool:
    """A call made at or below ``path`` goes to a module outside ``path``'s subtree."""
    return any(_within(caller, path) and not _within(callee, path) for caller, callee in foreign)


def _shapes(shapes: list) -> str:
    if not shapes:
        return ""
    parts = ["×".join(str(s) for s in shape) if shape else "scalar" for shape in shapes[:3]]
    return ", ".join(parts) + (" …" if len(shapes) > 3 else "")


def _grouped(n: int) -> str:
    return f"{n:,}"


def _human(n: int | float) -> str:
    units = (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3))
    for i, (unit, scale) in enumerate(units):
        if abs(n) >= scale:
            if i and f"{abs(n) / scale:.2f}" == "1000.00":  # 999,999,999 is "1.00 G", not "1000.00 M"
                unit, scale = units[i - 1]
            return f"{n / scale:.2f} {unit}"
    return f"{n:g}" if isinstance(n, float) else str(n)


def _count_cell(fmt, value: "int | None") -> str:
    return "" if value is None else fmt(value)  # (None: not known, blank as a measured cell is)


def _extra_cell(extra: dict, column: str) -> str:
    """A cell of an ``extra`` column: a percentage with its "%", a rate above the peak as "invalid"."""
    value = extra.get(column)
    if value is None:
        return "invalid" if column in RATE_COLUMNS and extra.get("bound") == "invalid" else ""
    if column in PERCENT_COLUMNS and isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:.1f}%"
    return _extra(value)


def _extra(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        # (3 significant digits; from 1,000 on, whole numbers: a 1009 ms forward read "1.01e+03", a GPU
        # layer's 278,000 GFLOP/s "2.78e+05")
        return f"{value:,.0f}" if math.isfinite(value) and abs(value) >= 999.5 else f"{value:.3g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"  # (steps, backward_MACs: counts, grouped as the cost columns are)
    return str(value)


#: what a saved report's explain says of a field its file did not carry
_NOT_SAVED = "{} not in the saved file, written by an earlier torchcount: profile the model and save it again to have it"


def _not_saved(row: Row, key: str) -> bool:
    """A saved report's row whose file did not carry ``key`` of its module (``Row.saved_module``)."""
    return row.saved_module is not None and key not in row.saved_module


def _param_listing(row: Row, count: int) -> str:
    """The parameters of the row's params line, ``(name shape = numel; …)``, of :meth:`Row.param_shapes`."""
    shapes = row.param_shapes()
    if shapes is None:
        return f"  ({_NOT_SAVED.format('their names and shapes are')})" \
            if count and _not_saved(row, "param_shapes") else ""
    parts = [f"{name} {'×'.join(map(str, shape)) or 'scalar'} = {math.prod(shape):,}" for name, shape in shapes]
    return f"  ({'; '.join(parts)})" if parts else ""


__all__ = ["Report", "Row", "Total", "Uncounted", "CONVENTIONS", "visible_rows"]
