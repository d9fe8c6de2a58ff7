"""The one cost breakdown every rule returns.

A :class:`Cost` counts scalar operations by category plus the bytes a call moves.
Conventions (``torchcount.conventions``) are weighted views over these fields; no
rule ever computes "FLOPs" directly.
"""
from __future__ import annotations

from typing import NamedTuple

#: Arithmetic categories, in display order.
#: ``macs``    multiply-accumulates of contractions (conv, linear, matmul, attention products);
#: ``mults``   stand-alone multiplications (scaling, squaring, gating);
#: ``adds``    stand-alone additions and subtractions (bias, residual, sums);
#: ``divs``    divisions (means, softmax normalisation);
#: ``cmps``    comparisons (ReLU, max-pooling, clamps);
#: ``assigns`` conditional assignments that follow a comparison (the worksheet's ReLU "assignment");
#: ``transc``  transcendental functions (exp, log, tanh, erf, sqrt, rsqrt, sin, cos, pow by a non-integer).
OP_CATEGORIES = ("macs", "mults", "adds", "divs", "cmps", "assigns", "transc")
BYTE_CATEGORIES = ("bytes_read", "bytes_written")
CATEGORIES = OP_CATEGORIES + BYTE_CATEGORIES

CATEGORY_NAMES = {
    "macs": "multiply-accumulates",
    "mults": "multiplications",
    "adds": "additions",
    "divs": "divisions",
    "cmps": "comparisons",
    "assigns": "assignments",
    "transc": "transcendental ops",
    "bytes_read": "bytes read",
    "bytes_written": "bytes written",
    "params": "parameters",
    "shape": "output size",
}


_TERM_CATEGORIES = frozenset(CATEGORIES) | {"params", "shape"}
_INDEX = {c: i for i, c in enumerate(CATEGORIES)}


class Worked(tuple):
    """A term's substituted line, kept as a template and its numbers and written out only
    when it is shown (``str()``): formatting the numbers of every term cost a rule more
    than its arithmetic, and a table or a total never shows them. Build one with
    :func:`worked`."""

    __slots__ = ()

    def __str__(self) -> str:
        template = self[0]
        return template.format(*[_product(v) if isinstance(v, (tuple, list)) and type(v) is not Worked else v
                                 for v in self[1:]])

    def __repr__(self) -> str:
        return f"worked({str(self)!r})"


def worked(template: str, *values) -> Worked:
    """The substituted line of a :class:`Term`, formatted only when shown:
    ``worked("{}×({} − 1)", rows, n)``. A tuple or list value is written as a product
    (``(3, 3)`` → ``3×3``); a :class:`Worked` value is written out in place. A term may also
    give a plain string, or a bare number."""
    return tuple.__new__(Worked, (template, *values))


def _product(values) -> str:
    return "×".join(map(str, values)) if values else "1"


class _TermFields(NamedTuple):
    category: str
    what: str
    formula: str
    #: as the rule gave it: a string, a bare number or a :class:`Worked` template (text: ``Term.substituted``)
    raw_substituted: object
    value: int


class Term(_TermFields):
    """One line of a worked solution: ``what = formula = substituted = value``.

    ``category`` is a field of :class:`Cost`, or ``"params"`` / ``"shape"`` for lines
    that explain the layer without being an operation count. ``substituted`` is the
    formula with the numbers put in; a rule gives it as a string, a bare number, or
    :func:`worked` (formatted only when shown). Immutable (a named tuple: rules build
    several per call, so construction must be cheap).
    """

    __slots__ = ()

    def __new__(cls, category: str, what: str, formula: str, substituted, value: int) -> "Term":
        if category not in _TERM_CATEGORIES:
            raise ValueError(f"unknown cost category {category!r}; expected one of {CATEGORIES}")
        return tuple.__new__(cls, (category, what, formula, substituted, value))

    @property
    def substituted(self) -> str:
        """The formula with the numbers put in, as text (a string, a number or a :class:`Worked`)."""
        return str(self[3])


class _CostFields(NamedTuple):
    macs: int = 0
    mults: int = 0
    adds: int = 0
    divs: int = 0
    cmps: int = 0
    assigns: int = 0
    transc: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    #: The worked-solution lines that produced these numbers (kept for one call; dropped by sums).
    terms: tuple = ()


class Cost(_CostFields):
    """Operation counts by category and bytes moved, for one call or a sum of calls.

    Immutable. A named tuple underneath (built once per priced call and per sum, so
    construction must be cheap), but used as a value: ``+``, ``-`` and ``*`` are arithmetic
    field by field (not tuple concatenation), and equality and hashing ignore ``terms``.
    """

    __slots__ = ()

    @classmethod
    def of(cls, *terms: Term | None, bytes_read: int = 0, bytes_written: int = 0) -> "Cost":
        """Build a cost from worked-solution terms; ``None`` terms are skipped."""
        totals = [0] * len(CATEGORIES)
        kept = []
        index = _INDEX
        for term in terms:
            if term is None:
                continue
            kept.append(term)
            i = index.get(term.category)
            if i is not None:
                totals[i] += int(term.value)
        totals[7] += int(bytes_read)
        totals[8] += int(bytes_written)
        return tuple.__new__(cls, (*totals, tuple(kept)))

    def __add__(self, other: "Cost") -> "Cost":
        if not isinstance(other, Cost):
            return NotImplemented
        # positional, field by field: summing costs is the inner loop of counting a large model
        return tuple.__new__(Cost, (self[0] + other[0], self[1] + other[1], self[2] + other[2],
                                    self[3] + other[3], self[4] + other[4], self[5] + other[5],
                                    self[6] + other[6], self[7] + other[7], self[8] + other[8], ()))

    __radd__ = __add__

    def __mul__(self, n: int) -> "Cost":
        if not isinstance(n, int) or isinstance(n, bool):
            return NotImplemented
        return tuple.__new__(Cost, (*(v * n for v in self[:9]), ()))

    __rmul__ = __mul__

    def __sub__(self, other: "Cost") -> "Cost":
        if not isinstance(other, Cost):
            return NotImplemented
        return tuple.__new__(Cost, (*(a - b for a, b in zip(self[:9], other[:9])), ()))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Cost):
            return NotImplemented
        return self[:9] == other[:9]

    def __ne__(self, other: object) -> bool:
        if not isinstance(other, Cost):
            return NotImplemented
        return self[:9] != other[:9]

    def __hash__(self) -> int:
        return hash(self[:9])

    def __repr__(self) -> str:
        return "Cost(" + ", ".join(f"{c}={v}" for c, v in zip(CATEGORIES, self[:9])) + ")"

    @property
    def ops(self) -> int:
        """Every scalar operation counted once (a MAC as one)."""
        return sum(self[:7])

    @property
    def bytes(self) -> int:
        return self.bytes_read + self.bytes_written

    def is_zero(self) -> bool:
        return not any(self[:7])

    def with_bytes(self, bytes_read: int, bytes_written: int) -> "Cost":
        return tuple.__new__(Cost, (*self[:7], int(bytes_read), int(bytes_written), self[9]))

    def as_dict(self) -> dict[str, int]:
        return dict(zip(CATEGORIES, self[:9]))


ZERO = Cost()
