"""Complex arithmetic, counted in real operations.

Rules count an operation on complex numbers as they count it on real ones (a complex
matrix product is m·k·n MACs). What a machine does is real arithmetic, so every complex
count is expanded into the real operations that compute it (the textbook formulas):

=====================  =================================  ==================================
one complex …          both operands complex              one operand real (``z·r``, ``z/r``)
=====================  =================================  ==================================
multiply-accumulate    4 MACs                             2 MACs
multiplication         4 multiplications + 2 additions    2 multiplications
addition               2 additions                        1 addition
division               6 mults + 3 adds + 2 divisions     2 divisions
comparison             2 comparisons                      2 comparisons
assignment             1 assignment                       1 assignment
elementary function    3 transcendental + 2 mults         3 transcendental + 2 mults
=====================  =================================  ==================================

(z·w = (ac − bd) + (ad + bc)i; z/w = z·w̄ / |w|²; an elementary function is priced as
``exp`` is, e^a·(cos b + i·sin b): log, sqrt and the trigonometric functions differ by a
few operations.) A unary operation (``sum``, ``exp`` of one complex tensor) takes the
"both complex" column, except for the rules below that know better.

The expansion is applied after a rule has priced a call whose input tensors include a
complex one (or a complex Python number), unless the rule was registered
``complex_aware=True``: those price complex inputs themselves (the FFTs, ``abs``, ``angle``,
``polar``, ``sum``/``mean``, the vector norms, and the element-wise ops, which use
:func:`complex_mode` and :func:`in_real_ops` directly). Parameters and bytes are unchanged:
a complex parameter is one parameter (``numel``), and bytes already follow the element size.
"""
from __future__ import annotations

from ..cost import CATEGORY_NAMES, OP_CATEGORIES, Cost, Term, worked

#: mode → category → the real (category, factor) pairs one complex operation of that category costs
_EXPANSION = {
    "complex": {
        "macs": (("macs", 4),),
        "mults": (("mults", 4), ("adds", 2)),
        "adds": (("adds", 2),),
        "divs": (("mults", 6), ("adds", 3), ("divs", 2)),
        "cmps": (("cmps", 2),),
        "transc": (("transc", 3), ("mults", 2)),
    },
    "mixed": {
        "macs": (("macs", 2),),
        "mults": (("mults", 2),),
        "divs": (("divs", 2),),
        "cmps": (("cmps", 2),),
        "transc": (("transc", 3), ("mults", 2)),
    },
}
_WHY = {
    ("complex", "macs"): "a complex MAC is 4 real MACs",
    ("complex", "mults"): "a complex product is 4 real multiplications and 2 additions",
    ("complex", "adds"): "a complex addition is 2 real additions",
    ("complex", "divs"): "a complex division is 6 multiplications, 3 additions and 2 divisions",
    ("complex", "cmps"): "a complex comparison compares both parts",
    ("complex", "transc"): "a complex elementary function is priced as exp: e^a, cos b, sin b and 2 products",
    ("mixed", "macs"): "complex × real: 2 real MACs",
    ("mixed", "mults"): "complex × real: 2 real multiplications",
    ("mixed", "divs"): "complex ÷ real: 2 real divisions",
    ("mixed", "cmps"): "a complex comparison compares both parts",
    ("mixed", "transc"): "a complex elementary function is priced as exp: e^a, cos b, sin b and 2 products",
}


def complex_mode(tensors, scalars=()) -> "str | None":
    """``"complex"`` when the operands are all complex (or there is one), ``"mixed"`` when a
    complex tensor meets a real one (or a real number meets a complex tensor in ``scalars``),
    ``None`` when nothing is complex. ``tensors``: :class:`~torchcount.capture.TensorMeta`s."""
    complex_ = real = False
    for t in tensors:
        if t.dtype.is_complex:
            complex_ = True
        else:
            real = True
    for s in scalars:
        if isinstance(s, complex):
            complex_ = True
        elif isinstance(s, float):
            real = True
    if not complex_:
        return None
    return "mixed" if real else "complex"


def op_complex_mode(op) -> "str | None":
    """:func:`complex_mode` of a recorded aten op: its tensors, and the Python numbers it takes
    as operands (``self`` / ``other``: ``z + 1``, ``x * 1j``; not a dimension or an exponent)."""
    tensors = op.inputs
    if not any(t.dtype.is_complex for t in tensors) and not any(isinstance(a, complex) for a in op.args):
        return None
    schema = getattr(op.op, "_schema", None)
    names = [a.name for a in schema.arguments] if schema is not None else ()
    scalars = [float(v) if type(v) is int else v for name, v in zip(names, op.args)
               if name in ("self", "other") and type(v) in (int, float, complex)]
    return complex_mode(tensors, scalars)


def in_real_ops(cost: Cost, mode: str, overrides: "dict | None" = None) -> Cost:
    """``cost`` (counted as if the operands were real numbers) in real operations on complex
    ones, term by term (each term says why), bytes unchanged. ``overrides``: category → the
    (category, factor) pairs to use instead of the table's (``mean`` divides by a real count)."""
    table = _EXPANSION[mode]
    if cost.is_zero():
        return cost
    if not cost.terms:  # a sum of costs (no worked lines): the fields themselves
        totals = dict.fromkeys(OP_CATEGORIES, 0)
        for category, value in zip(totals, cost[:7]):
            for real_category, k in _expansion(category, table, overrides):
                totals[real_category] += k * value
        return tuple.__new__(Cost, (*totals.values(), cost.bytes_read, cost.bytes_written, ()))
    terms = []
    for term in cost.terms:
        if term.category not in table and not (overrides and term.category in overrides):
            terms.append(term)  # parameters, shapes, assignments: the same count
            continue
        pairs = _expansion(term.category, table, overrides)
        why = _WHY.get((mode, term.category), "complex operands") if not (overrides and term.category in overrides) \
            else "complex operands: " + ", ".join(f"{k} {CATEGORY_NAMES[c]}" for c, k in pairs) + " each"
        for category, k in pairs:
            what = term.what if category == term.category else f"{CATEGORY_NAMES[category]} within the complex {term.what}"
            terms.append(Term(category, f"{what}; {why}", f"{k}·({term.formula})" if k != 1 else term.formula,
                              worked("{}×{}", k, term.value) if k != 1 else term.value, k * term.value))
    return Cost.of(*terms, bytes_read=cost.bytes_read, bytes_written=cost.bytes_written)


def _expansion(category: str, table: dict, overrides: "dict | None") -> tuple:
    if overrides and category in overrides:
        return overrides[category]
    return table.get(category, ((category, 1),))
