"""Exports of a :class:`~torchcount.report.Report`: dict/JSON, CSV, Markdown, pandas, HTML.

Nothing here counts. Every number comes from the report's rows and totals; a convention
only chooses the weights of the ``ops`` figure (see ``torchcount.conventions``).

- :func:`to_dict` / :func:`to_json` — everything in the report, in a versioned schema
  (``SCHEMA_VERSION``; documented in ``docs/export-schema.md``).
- :func:`to_csv` / :func:`to_dataframe` — the rows of the table: one row per shown module,
  a parent whose children are shown contributes its *self* part only, so every numeric
  column sums to the model's total (``params`` excepted for tied weights: a parameter
  registered on two modules is in both rows, and the report's notes say so).
- :func:`to_markdown` / :func:`to_html` — the table of :meth:`Report.table` as GitHub
  Markdown or HTML (the notebook repr).
"""
from __future__ import annotations

import csv
import dataclasses
import html
import io
import json
import math
import os
import re
from typing import TYPE_CHECKING, Any, Sequence

from .capture import FunctionMethod
from .conventions import CONVENTIONS, Convention, get_convention
from .cost import CATEGORIES, Cost

if TYPE_CHECKING:  # pragma: no cover
    from .report import Report, Row

#: Bumped when a field is removed or changes meaning; adding fields keeps the version.
SCHEMA_VERSION = 2
SCHEMA_NAME = "torchcount.report"


# ---- dict / JSON ---------------------------------------------------------------------------
def to_dict(report: "Report", convention: "str | Convention | None" = None) -> dict:
    """The whole report as plain Python data (ints, floats, strings, lists, dicts).

    ``convention`` chooses the weights of every ``ops`` field (default: the report's).
    The layout is described in ``docs/export-schema.md``.
    """
    from . import __version__

    conv = get_convention(convention or report.convention)
    t = report.total
    return {
        "schema": SCHEMA_NAME,
        "schema_version": SCHEMA_VERSION,
        "torchcount_version": __version__,
        "model": report.model_name,
        "method": report.method,
        # (a function given as method=, called with the model first, rather than a method of the model)
        "method_is_function": isinstance(report.method, FunctionMethod),
        "forward_calls": report.forward_calls,
        "convention": _convention_dict(conv),
        "total": {
            "params": t.params,
            "trainable_params": t.trainable_params,
            "frozen_params": t.frozen_params,
            "buffers": t.buffers,
            "param_bytes": t.param_bytes,
            "buffer_bytes": t.buffer_bytes,
            "macs": t.cost.macs,
            "ops": conv.ops(t.cost),
            "ops_by_convention": _ops_by_convention(t.cost, conv),
            "cost": _cost_dict(t.cost),
        },
        "coverage": {
            "complete": report.complete,
            "fraction": report.coverage,
            "counted_items": report.counted_items,
            "uncounted": [{"path": u.path, "type": u.type, "op": u.what, "calls": u.calls}
                          for u in report.uncounted],
        },
        "root": _row_dict(report.root, conv) if report.root is not None else None,
        "layers": [_row_dict(r, conv) for r in report.layers],
        "notes": list(report.notes),
        "extra": jsonable(report.extra),
    }


def to_json(report: "Report", convention: "str | Convention | None" = None, indent: int | None = 2,
            path: Any = None) -> str:
    """:func:`to_dict` as a JSON string (also written to ``path`` when given)."""
    text = json.dumps(to_dict(report, convention), indent=indent, ensure_ascii=False, allow_nan=False)
    if path is not None:
        _write(path, text + "\n")
    return text


def _ops_by_convention(cost: Cost, conv: Convention) -> dict:
    """``{name: ops}`` for every built-in convention and for the document's own, which takes its
    name's entry (a convention of your own named as a built-in one), so that the entry of
    ``convention.name`` is always the document's ``ops``."""
    return {**{name: c.ops(cost) for name, c in CONVENTIONS.items()}, conv.name: conv.ops(cost)}


def _convention_dict(conv: Convention) -> dict:
    return {"name": conv.name, "unit": conv.unit, "description": conv.description,
            "weights": dict(conv.weights)}


def _cost_dict(cost: Cost) -> dict:
    return {c: int(getattr(cost, c)) for c in CATEGORIES}


def _row_dict(row: "Row", conv: Convention) -> dict:
    return {
        "index": row.index,
        "path": row.path,
        "name": row.name,
        "type": row.type,
        "depth": row.depth,
        "calls": row.calls,
        "input_shapes": [list(s) for s in row.input_shapes],
        "output_shapes": [list(s) for s in row.output_shapes],
        "input_dtypes": list(row.input_dtypes),
        "output_dtypes": list(row.output_dtypes),
        "params": row.params,
        "self_params": row.self_params,
        "macs": row.cost.macs,
        "ops": conv.ops(row.cost),
        "self_macs": row.self_cost.macs,
        "self_ops": conv.ops(row.self_cost),
        "cost": _cost_dict(row.cost),
        "self_cost": _cost_dict(row.self_cost),
        "status": row.status,
        "rule": row.rule,
        "activation": row.activation,
        "self_activation": row.self_activation,
        "terms": [{"category": t.category, "what": t.what, "formula": t.formula,
                   "substituted": t.substituted, "value": int(t.value)} for t in row.terms],
        "uncounted_ops": dict(row.uncounted_ops),
        "extra": jsonable(row.extra),
        "self_extra": jsonable(row.self_extra or {}),
        "called_from": list(row.called_from),
        **_module_dict(row),
    }


def _module_dict(row: "Row") -> dict:
    """What ``explain`` shows of the row's module: its repr (``null`` where none is shown) and the
    parameters of its params line as ``"weight 64x3x11x11; bias 64"`` (``null`` where not known: no
    module). A field a loaded older file did not carry stays out, so that it is read back as not saved."""
    out = {}
    if row.saved_module is None or "module_repr" in row.saved_module:
        out["module_repr"] = row.module_repr()
    if row.saved_module is None or "param_shapes" in row.saved_module:
        shapes = row.param_shapes()
        out["param_shapes"] = None if shapes is None else "; ".join(
            f"{name} {_shape_text([shape])}" for name, shape in shapes)
    return out


def _parse_param_shapes(text: "str | None") -> "list | None":
    """``param_shapes`` as written by :func:`_module_dict`: ``[(name, shape)]``."""
    if text is None:
        return None
    out = []
    for item in text.split("; ") if text else ():
        name, _, shape = item.rpartition(" ")
        if not name or not re.fullmatch(r"scalar|\d+(x\d+)*", shape):
            raise _WrongKind(f"field 'param_shapes' holds {item!r}, not 'name shape' (as 'weight 64x3x3x3', "
                             f"'scale scalar'), items separated by '; '")
        out.append((name, () if shape == "scalar" else tuple(int(d) for d in shape.split("x"))))
    return out


def jsonable(value: Any) -> Any:
    """Measurement and analysis results as JSON-safe data: tensors and numpy scalars become
    numbers or lists, devices and dtypes strings, dataclasses dicts, NaN/inf ``None``."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)
                if f.repr}
    if hasattr(value, "tolist") and callable(value.tolist):  # torch / numpy
        return jsonable(value.tolist())
    if hasattr(value, "item") and callable(value.item):
        return jsonable(value.item())
    return str(value)


# ---- reading a JSON export back -------------------------------------------------------------
def load_report(source: Any) -> "Report":
    """A report saved with :func:`to_json` (a path, the JSON text, or :func:`to_dict`'s dict), as a
    :class:`~torchcount.report.Report`: its table, exports, other conventions (the file keeps every
    cost category) and comparisons (``torchcount.compare(saved, new)``) work as on the report that was
    saved. Rows have no ``module`` (the model is not loaded): ``explain`` shows the module's repr and
    parameters as the file holds them (``module_repr``, ``param_shapes``; a file of an earlier torchcount
    has neither, and explain says so). Nothing is recounted."""
    from .report import Report, Row, Total, Uncounted

    data = _document(source)
    version = data.get("schema_version")
    if data.get("schema") != SCHEMA_NAME or not isinstance(version, int) or isinstance(version, bool):
        # (what the document is, where it is one of torchcount's other outputs)
        hint = " (a --compare document holds two: load its \"a\" or \"b\")" \
            if data.get("schema") == "torchcount.comparison" else \
            " (a --by-type breakdown, report.by_type().to_dict(), holds its groups only: save the report " \
            "itself with report.to_json() or --format json without --by-type)" \
            if isinstance(data.get("groups"), list) and "sort" in data else ""
        raise ValueError(f"not a torchcount report: expected \"schema\": \"{SCHEMA_NAME}\" and an int "
                         f"\"schema_version\"{hint}")
    if version != SCHEMA_VERSION:
        raise ValueError(f"schema version {version} is not readable by this torchcount (it reads version "
                         f"{SCHEMA_VERSION}; docs/export-schema.md says what changed): "
                         + ("export the report again with this version" if version < SCHEMA_VERSION
                            else "written by a newer torchcount"))
    for key, kinds in _TOP_LEVEL_FIELDS.items():
        if key not in data:
            raise ValueError(f"not a torchcount report: field {key!r} missing")
        if not isinstance(data[key], kinds):
            raise ValueError(f"not a torchcount report: field {key!r} is {_json_kind(data[key])}, not "
                             f"{' or '.join(_json_kind(k()) for k in kinds)}")
    conv = _read("convention", lambda: _convention_of(data["convention"]))

    def cost(d: dict) -> Cost:
        return Cost(**{c: int(d.get(c, 0)) for c in CATEGORIES})

    def row(d: dict) -> "Row":
        from .cost import Term

        _check_kinds(d, _ROW_FIELDS)
        for t in d["terms"]:
            _check_kinds(t, _TERM_FIELDS, "a term's ")
        return Row(index=d["index"], path=d["path"], type=d["type"], depth=d["depth"], calls=d["calls"],
                   input_shapes=[tuple(s) for s in d["input_shapes"]],
                   output_shapes=[tuple(s) for s in d["output_shapes"]],
                   params=d["params"], self_params=d["self_params"], cost=cost(d["cost"]),
                   self_cost=cost(d["self_cost"]), status=d["status"], rule=d["rule"], convention=conv,
                   activation=d["activation"], self_activation=d.get("self_activation"),
                   terms=tuple(Term(t["category"], t["what"], t["formula"], t["substituted"], t["value"])
                               for t in d["terms"]),
                   uncounted_ops=dict(d["uncounted_ops"]), extra=dict(d["extra"]),
                   self_extra=dict(d["self_extra"]) or None, called_from=tuple(d["called_from"]),
                   input_dtypes=list(d.get("input_dtypes", [])), output_dtypes=list(d.get("output_dtypes", [])),
                   # (a file of an earlier torchcount has neither: explain says they were not saved)
                   saved_module={**({"module_repr": d["module_repr"]} if "module_repr" in d else {}),
                                 **({"param_shapes": _parse_param_shapes(d["param_shapes"])}
                                    if "param_shapes" in d else {})})

    layers = [_read(f"layers[{i}]" + (f" ({d['path']!r})" if isinstance(d, dict) and isinstance(d.get("path"), str)
                                      else ""), lambda d=d: row(d)) for i, d in enumerate(data["layers"])]
    root = None
    if data["root"] is not None:  # the root among the layers (working itself) is the same row object
        root = next((r for r, d in zip(layers, data["layers"]) if d == data["root"]), None) \
            or _read("root", lambda: row(data["root"]))
    _set_group_members(layers)
    if any(r.called_from for r in layers):  # (the own work below each row, what a table cut there shows:
        # sums of the saved own costs, as counting made them; nothing is priced)
        from .count import set_tree_costs

        set_tree_costs(layers)
    t, coverage = data["total"], data["coverage"]
    _read("total", lambda: _check_kinds(t, _TOTAL_FIELDS))
    _read("coverage", lambda: _check_kinds(coverage, _COVERAGE_FIELDS))
    for i, u in enumerate(_read("coverage", lambda: list(coverage["uncounted"]))):
        _read(f"coverage.uncounted[{i}]", lambda u=u: _check_kinds(u, _UNCOUNTED_FIELDS))
    odd = next((n for n in data["notes"] if not isinstance(n, str)), "")
    if not isinstance(odd, str):
        raise ValueError(f"not a torchcount report: field 'notes' holds {_json_kind(odd)}, not only strings")
    total = _read("total", lambda: Total(
        params=t["params"], trainable_params=t["trainable_params"], frozen_params=t["frozen_params"],
        buffers=t["buffers"], param_bytes=t["param_bytes"], buffer_bytes=t["buffer_bytes"], cost=cost(t["cost"]),
        convention=conv))
    uncounted = _read("coverage", lambda: [Uncounted(u["path"], u["type"], u["op"], u["calls"])
                                           for u in coverage["uncounted"]])
    return Report(model_name=data["model"], convention=conv, layers=layers, root=root, total=total,
                  uncounted=uncounted, counted_items=_read("coverage", lambda: coverage["counted_items"]),
                  notes=list(data["notes"]), extra=dict(data["extra"]),
                  method=_method_of(data), forward_calls=data.get("forward_calls"))


def _method_of(data: dict) -> "str | None":
    """The saved report's profiled method: a name, or (``method_is_function``) a function's name."""
    method = data.get("method")
    if method is not None and data.get("method_is_function"):
        return FunctionMethod(None, str(method))
    return method


#: the fields a report document must have, and the JSON kinds they hold
_TOP_LEVEL_FIELDS = {"model": (str,), "convention": (dict,), "total": (dict,), "coverage": (dict,),
                     "root": (dict, type(None)), "layers": (list,), "notes": (list,), "extra": (dict,)}


_NULL = type(None)
#: the kinds of the fields a row, a term, the total and the coverage read with no conversion: a number
#: given as a string (a hand-edited file) failed only when shown ("Cannot specify ',' with 's'.")
_ROW_FIELDS = {"index": (int,), "path": (str,), "type": (str,), "depth": (int,), "calls": (int,), "params": (int,),
               "self_params": (int,), "status": (str,), "rule": (str, _NULL), "activation": (int, _NULL),
               "module_repr": (str, _NULL), "param_shapes": (str, _NULL)}
_TERM_FIELDS = {"category": (str,), "what": (str,), "formula": (str,), "substituted": (str,), "value": (int, float)}
_TOTAL_FIELDS = {k: (int,) for k in ("params", "trainable_params", "frozen_params", "buffers", "param_bytes",
                                     "buffer_bytes")}
_COVERAGE_FIELDS = {"counted_items": (int,)}
_UNCOUNTED_FIELDS = {"path": (str,), "type": (str,), "op": (str,), "calls": (int,)}


class _WrongKind(ValueError):
    """A field of the wrong JSON kind, named (``_read`` says where)."""


def _check_kinds(d: dict, kinds: dict, owner: str = "") -> None:
    """Each field of ``kinds`` present in ``d`` holds one of its kinds (a bool is no number here);
    a missing one is left to the reader (a KeyError, named by ``_read``)."""
    for key, allowed in kinds.items():
        value = d[key] if key in d else None
        if key in d and (not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed)):
            shown = f" ({json.dumps(value)})" if isinstance(value, (str, int, float)) else ""
            wanted = " or ".join(dict.fromkeys(
                "a number" if k is float else "an integer" if k is int and float not in allowed else _json_kind(k())
                for k in allowed))
            raise _WrongKind(f"{owner}field {key!r} is {_json_kind(value)}{shown}, not {wanted}")


def _json_kind(value: Any) -> str:
    """What a JSON value is, in words ("an array", "null")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    kinds = {dict: "an object", list: "an array", str: "a string", int: "a number", float: "a number"}
    return next((word for kind, word in kinds.items() if isinstance(value, kind)), type(value).__name__)


def _read(where: str, build):
    """``build()``; a field it needs that is missing or of the wrong kind is a ValueError naming where
    in the document (a hand-edited or damaged file said "'NoneType' object is not iterable")."""
    try:
        return build()
    except _WrongKind as exc:
        raise ValueError(f"not a torchcount report: {where}: {exc}") from None
    except KeyError as exc:
        raise ValueError(f"not a torchcount report: {where}: field {exc.args[0]!r} missing") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"not a torchcount report: {where}: a field holds a value of the wrong kind ({exc})") from None


def _document(source: Any) -> dict:
    """The dict of a report given as a dict, JSON text, or a path to a JSON file."""
    if isinstance(source, dict):
        return source
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"load_report takes a path, JSON text or a dict (report.to_dict()), got {type(source).__name__}")
    text, where = str(source), ""
    if isinstance(source, os.PathLike) or not text.lstrip().startswith("{"):  # a path, not the JSON text itself
        where = f" in {text!r}"
        try:
            with open(source, encoding="utf-8") as f:
                text = f.read()
        except OSError as exc:
            raise ValueError(f"cannot read the report {text!r}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise ValueError(f"not JSON{where}: not UTF-8 text (a report is saved with to_json or "
                             f"--format json)") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON{where}: {exc}") from None
    if not isinstance(data, dict):  # (an array, a string: JSON, but no report)
        raise ValueError(f"not a torchcount report{where}: the JSON is {_json_kind(data)}, not an object "
                         f"(a report saved with to_json or --format json)")
    return data


def _convention_of(d: dict) -> Convention:
    """The built-in convention of that name when it is the file's (weights, unit, description), else the
    file's own."""
    saved = Convention(d["name"], d["unit"], d["description"], dict(d["weights"]))
    # (one of your own named as a built-in, with its weights but a unit or description of its own, is yours)
    return CONVENTIONS[saved.name] if CONVENTIONS.get(saved.name) == saved else saved


def _set_group_members(layers: list) -> None:
    """A group row's (``calls`` 0, status ``container``: a ModuleList its parent calls layer by layer)
    members: the called rows nearest below it, as counting found them."""
    groups = {r.path: r for r in layers if r.calls == 0 and r.status == "container"}
    if not groups:
        return
    members: dict = {path: [] for path in groups}
    called = {r.path for r in layers if r.calls}
    for r in layers:
        if not r.calls:
            continue
        path = r.path
        while path:
            path = path.rpartition(".")[0]
            if path in called or not path:
                break
            if path in members:
                members[path].append(r.path)
    for path, group in groups.items():
        group.members = tuple(members[path])


# ---- rows of the table: CSV and pandas -----------------------------------------------------
#: Columns of :func:`records` before the cost categories and the ``extra`` columns.
RECORD_COLUMNS = ["index", "path", "type", "depth", "part", "calls", "input_shapes", "output_shapes",
                  "params", "ops", "convention"]
TRAILING_COLUMNS = ["activation", "status", "rule", "input_dtypes", "output_dtypes", "uncounted"]


def records(report: "Report", convention: "str | Convention | None" = None,
            depth: int | None = None) -> tuple[list[str], list[dict]]:
    """The rows of the table as flat records, and their column names.

    ``part`` is ``"all"`` for a module shown with everything it called and ``"self"`` for a
    parent whose children are shown too (its own work only); with that, ``params``,
    ``ops`` and each cost category sum to the report's totals (``params`` counts a tied
    weight in each module that holds it; the notes list them). The root's own work (ops in
    the top-level ``forward``) is a ``(root)`` row when there is any. Scalar ``row.extra`` values
    (measurements) become columns; nested ones (raw samples, details) are in :func:`to_dict` only.
    """
    from .report import shown_rows, shown_uncounted, uncounted_by_subtree

    conv = get_convention(convention or report.convention)
    shown = shown_rows(report, depth)  # the root's own work is a row of report.layers; depth 0: the root
    extra_keys: list[str] = []
    nested: set[str] = set()  # measurement details (dicts, raw samples) stay in the JSON only
    for row, _ in shown:
        for k, v in row.extra.items():
            if isinstance(v, (dict, list, tuple, set)):
                nested.add(str(k))
            elif str(k) not in extra_keys:
                extra_keys.append(str(k))
    extra_keys = [k for k in extra_keys if k not in nested]
    below = uncounted_by_subtree(report)
    out = []
    for row, own in shown:
        cost = row.shown_cost(own)
        rec = {
            "index": row.index,
            "path": row.path,
            "type": row.type,
            "depth": row.depth,
            "part": "self" if own else "all",
            "calls": row.calls,
            "input_shapes": _shape_text(row.input_shapes),
            "output_shapes": _shape_text(row.output_shapes),
            "params": row.shown_params(own),
            "ops": conv.ops(cost),
            "convention": conv.name,
            **_cost_dict(cost),
            "activation": row.shown_activation(own),
            "status": row.status,
            "rule": row.rule or "",
            "input_dtypes": ";".join(row.input_dtypes),
            "output_dtypes": ";".join(row.output_dtypes),
            # op calls with no formula in what this row shows (its status says only whether its own ops
            # had one: a row cut at a depth above a partial one read "container", its figure complete)
            "uncounted": shown_uncounted(row, own, below),
        }
        extra = row.shown_extra(own)
        for k in extra_keys:
            rec[k] = _scalar(extra.get(k))
        out.append(rec)
    columns = RECORD_COLUMNS + list(CATEGORIES) + TRAILING_COLUMNS + extra_keys
    return columns, out


def to_csv(report: "Report", path: Any = None, convention: "str | Convention | None" = None,
           depth: int | None = None) -> str:
    """The rows of :func:`records` as CSV text with a header line (also written to ``path``)."""
    columns, rows = records(report, convention, depth)
    return csv_text(columns, rows, path)


def csv_text(columns: list, rows: list, path: Any = None) -> str:
    """Flat records as CSV text with a header line, None as an empty cell (also written to ``path``)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for rec in rows:
        writer.writerow({k: "" if v is None else v for k, v in rec.items()})
    text = buf.getvalue()
    if path is not None:
        _write(path, text)
    return text


def to_dataframe(report: "Report", convention: "str | Convention | None" = None, depth: int | None = None):
    """The rows of :func:`records` as a ``pandas.DataFrame`` (pandas is optional)."""
    try:
        import pandas as pd
    except ImportError:
        raise ImportError("Report.to_dataframe() needs pandas, which is not installed: "
                          "pip install pandas (or pip install 'torchcount[dataframe]')") from None
    columns, rows = records(report, convention, depth)
    df = pd.DataFrame(rows, columns=columns)
    for column in columns:
        values = [rec[column] for rec in rows]
        # a numeric column with no value in any row (%peak where no peak is known, as on a CPU) came
        # out as Python Nones of dtype object: NaN as where some rows have one, so that it sorts and sums
        if values and all(v is None for v in values):
            df[column] = df[column].astype("float64")
    df.attrs["model"] = report.model_name
    df.attrs["method"] = report.method
    df.attrs["convention"] = get_convention(convention or report.convention).name
    df.attrs["schema_version"] = SCHEMA_VERSION
    return df


# ---- Markdown and HTML ---------------------------------------------------------------------
def _split_table(report: "Report", conv: Convention, text: str) -> tuple[str, str, list[str]]:
    """Split :meth:`Report.table` output into (header, table body, footer lines)."""
    header = report.header(conv)
    footer = report.footer(conv)
    tail = "\n" + "\n".join(footer) if footer else ""
    if text.startswith(header + "\n") and text.endswith(tail):
        return header, text[len(header) + 1:len(text) - len(tail)], footer
    return "", text, []  # pragma: no cover - only if Report.table changes its layout


def to_markdown(report: "Report", convention: "str | Convention | None" = None, depth: int | None = None,
                columns: Sequence[str] | None = None, units: bool = False) -> str:
    """The table as GitHub-flavoured Markdown: a heading line, the table, the notes."""
    conv = get_convention(convention or report.convention)
    text = report.table(convention=conv, depth=depth, columns=columns, units=units, tablefmt="github")
    header, body, footer = _split_table(report, conv, text)
    parts = []
    if header:
        first, _, rest = header.partition("\n")
        parts.append(f"**{_md_escape(first)}**  \n{_md_escape(rest)}" if rest else f"**{_md_escape(first)}**")
    parts.append(body)
    if footer:
        parts.append("\n".join(f"- {_md_escape(line)}" for line in footer))
    return "\n\n".join(parts) + "\n"


def to_html(report: "Report", convention: "str | Convention | None" = None, depth: int | None = None,
            columns: Sequence[str] | None = None, units: bool = False) -> str:
    """The table as an HTML fragment (Jupyter shows this for a report); a measured report shows
    the measured columns by default."""
    conv = get_convention(convention or report.convention)
    text = report.table(convention=conv, depth=depth, columns=columns, units=units, tablefmt="html")
    header, body, footer = _split_table(report, conv, text)
    first, _, rest = header.partition("\n")
    head = f"<div><b>{html.escape(first)}</b></div>" + "".join(
        f"<div>{html.escape(line)}</div>" for line in rest.splitlines())
    foot = "".join(f"<div>{html.escape(line)}</div>" for line in footer)
    return (f'<div class="torchcount-report">{head}'
            f'<div style="max-height:40em;overflow:auto">{body}</div>{foot}</div>')


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("*", "\\*").replace("_", "\\_")


# ---- helpers -------------------------------------------------------------------------------
def _shape_text(shapes: list) -> str:
    return ";".join("x".join(str(d) for d in s) if len(s) else "scalar" for s in shapes)


def _scalar(value: Any) -> Any:
    v = jsonable(value)
    if isinstance(v, (list, dict)):
        return json.dumps(v)
    return v


def _write(path: Any, text: str) -> None:
    if not isinstance(path, (str, os.PathLike)):  # an int would be taken as an open file descriptor
        raise TypeError(f"path is a file name (a str or a pathlib.Path), got {type(path).__name__}: {path!r}")
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)


__all__ = ["SCHEMA_VERSION", "SCHEMA_NAME", "to_dict", "to_json", "to_csv", "to_dataframe", "to_markdown",
           "to_html", "records", "jsonable"]
