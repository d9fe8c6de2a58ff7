"""The one cost breakdown every rule returns.

A :class:`Cost` counts scalar operations by category plus the bytes a call moves.
Conventions (``torchcount.conventions``) are weighted views over these fields; no
rule ever computes "FLOPs" directly.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields

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


@dataclass(frozen=True)
class Term:
    """One line of a worked solution: ``what = formula = substituted = value``.

    ``category`` is a field of :class:`Cost`, or ``"params"`` / ``"shape"`` for lines
    that explain the layer without being an operation count.
    """

    category: str
    what: str
    formula: str
    substituted: str
    value: int

    def __post_init__(self):
        if self.category not in CATEGORIES and self.category not in ("params", "shape"):
            raise ValueError(f"unknown cost category {self.category!r}; expected one of {CATEGORIES}")


@dataclass(frozen=True)
class Cost:
    """Operation counts by category and bytes moved, for one call or a sum of calls."""

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
    terms: tuple[Term, ...] = field(default=(), compare=False, repr=False)

    @classmethod
    def of(cls, *terms: Term | None, bytes_read: int = 0, bytes_written: int = 0) -> "Cost":
        """Build a cost from worked-solution terms; ``None`` terms are skipped."""
        totals = dict.fromkeys(CATEGORIES, 0)
        kept = []
        for term in terms:
            if term is None:
                continue
            kept.append(term)
            if term.category in totals:
                totals[term.category] += int(term.value)
        totals["bytes_read"] += int(bytes_read)
        totals["bytes_written"] += int(bytes_written)
        return cls(**totals, terms=tuple(kept))

    def __add__(self, other: "Cost") -> "Cost":
        if not isinstance(other, Cost):
            return NotImplemented
        # positional, field by field: summing costs is the inner loop of counting a large model
        return Cost(self.macs + other.macs, self.mults + other.mults, self.adds + other.adds,
                    self.divs + other.divs, self.cmps + other.cmps, self.assigns + other.assigns,
                    self.transc + other.transc, self.bytes_read + other.bytes_read,
                    self.bytes_written + other.bytes_written)

    __radd__ = __add__

    def __mul__(self, n: int) -> "Cost":
        return Cost(**{c: getattr(self, c) * n for c in CATEGORIES})

    __rmul__ = __mul__

    def __sub__(self, other: "Cost") -> "Cost":
        return Cost(**{c: getattr(self, c) - getattr(other, c) for c in CATEGORIES})

    @property
    def ops(self) -> int:
        """Every scalar operation counted once (a MAC as one)."""
        return sum(getattr(self, c) for c in OP_CATEGORIES)

    @property
    def bytes(self) -> int:
        return self.bytes_read + self.bytes_written

    def is_zero(self) -> bool:
        return not (self.macs or self.mults or self.adds or self.divs or self.cmps or self.assigns
                    or self.transc)

    def with_bytes(self, bytes_read: int, bytes_written: int) -> "Cost":
        # direct construction: dataclasses.replace costs ~5 µs, once per priced call
        return Cost(self.macs, self.mults, self.adds, self.divs, self.cmps, self.assigns, self.transc,
                    int(bytes_read), int(bytes_written), self.terms)

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "terms"}


ZERO = Cost()
