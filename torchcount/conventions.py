"""Counting conventions: named, weighted views over one :class:`~torchcount.cost.Cost`.

Every convention is a weight per category; ``ops(cost) = Σ weight·count``. Adding a
convention never touches a rule.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from numbers import Integral
from typing import Mapping

from .cost import OP_CATEGORIES, Cost


class _ReadOnlyWeights(dict):
    """A convention's weights once checked: a dict to every reader (JSON, pandas,
    ``dataclasses.asdict``, pickle and copy), but one that cannot be changed, so that a convention's
    hash and its checked categories hold for as long as it lives."""

    __slots__ = ()

    def _read_only(self, *args, **kwargs):
        raise TypeError("a Convention's weights cannot be changed; make another Convention "
                        "(dataclasses.replace(convention, weights={...}))")

    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _read_only

    def __reduce__(self):  # (pickle and copy would fill the copy through the blocked __setitem__)
        return type(self), (dict(self),)


@dataclass(frozen=True)
class Convention:
    """A named weighting of the cost categories. Hashable (a dict key, a set member); two are equal
    when their name, unit, description and weights are, the weights compared as a mapping (their
    order does not matter)."""

    name: str
    unit: str
    description: str
    weights: Mapping[str, int]

    def __post_init__(self) -> None:
        # checked here, not when used: a misspelt category used to surface as "'Cost' object has no
        # attribute 'mac'" at the first table, and a name that is an attribute of Cost but not a
        # category ("ops", "bytes_read", "terms") was weighed silently or failed obscurely; a weight
        # given as text ("2") built a string of the count's length before failing
        for field_name in ("name", "unit", "description"):  # (printed, and hashed)
            value = getattr(self, field_name)
            if not isinstance(value, str):
                raise TypeError(f"convention {self.name!r}: {field_name} must be a str, got "
                                f"{type(value).__name__}: {value!r}")
        if not isinstance(self.weights, Mapping):
            raise TypeError(f"convention {self.name!r}: weights must be a mapping of category → weight, "
                            f"got {type(self.weights).__name__}")
        unknown = [c for c in self.weights if c not in OP_CATEGORIES]
        if unknown:
            raise ValueError(f"convention {self.name!r}: unknown categor{'y' if len(unknown) == 1 else 'ies'} "
                             f"{', '.join(map(repr, unknown))}; the categories are {', '.join(OP_CATEGORIES)} "
                             f"(one left out weighs 0)")
        weights = {}
        for c, w in self.weights.items():
            if isinstance(w, bool) or not isinstance(w, Integral) or w < 0:
                raise ValueError(f"convention {self.name!r}: the weight of {c!r} must be an int ≥ 0 (counts "
                                 f"are exact integers), got {w!r}")
            weights[c] = int(w)
        # a copy (the caller's dict may change later), read-only (so may not this one)
        object.__setattr__(self, "weights", _ReadOnlyWeights(weights))

    def __hash__(self) -> int:
        # (the generated hash would hash the weights dict, which is unhashable; frozenset: as equality,
        # blind to the weights' order)
        return hash((self.name, self.unit, self.description, frozenset(self.weights.items())))

    def ops(self, cost: Cost) -> int:
        return sum(w * getattr(cost, c) for c, w in self.weights.items())

    @property
    def is_macs(self) -> bool:
        """Whether its ops are the MACs, one each (a category weighed 0 weighs nothing): a table shows
        that count once."""
        return {c: w for c, w in self.weights.items() if w} == {"macs": 1}

    def formula(self) -> str:
        """e.g. ``2×MACs + 1×adds + …`` for the explanation of a layer."""
        return " + ".join(f"{w}×{c}" for c, w in self.weights.items())


_ALL_ONE = {c: 1 for c in OP_CATEGORIES}

CONVENTIONS: dict[str, Convention] = {
    c.name: c
    for c in (
        Convention(
            "flops", "FLOPs",
            "2 per multiply-accumulate plus 1 per other scalar op (bias add, activation, "
            "normalisation, pooling comparison, softmax exp/div, …); conditional assignments are free",
            {"macs": 2, "mults": 1, "adds": 1, "divs": 1, "cmps": 1, "transc": 1},
        ),
        Convention(
            "macs", "MACs",
            "multiply-accumulates of contractions (conv, linear, matmul, attention products, recurrent gates)",
            {"macs": 1},
        ),
        Convention(
            "torchvision", "MACs",
            "the convention of torchvision's weights.meta['_ops'] (published in G: this ÷ 1e9): MACs of "
            "conv/linear/matmul-like ops, "
            "biases, activations, norms and pooling ignored (numerically the same view as 'macs')",
            {"macs": 1},
        ),
        Convention(
            "worksheet", "ops",
            "the AI61002 worksheet: one op per MAC-block step (a MAC, or a bias add), per comparison "
            "and per assignment (ReLU = 2 per element), per other scalar op",
            dict(_ALL_ONE),
        ),
        Convention(
            "mults", "mults",
            "multiplications only: one per MAC plus stand-alone multiplications (squares, scalings)",
            {"macs": 1, "mults": 1},
        ),
        Convention(
            "2mac", "FLOPs",
            "2 per multiply-accumulate of contractions and nothing else (torch.utils.flop_counter's convention)",
            {"macs": 2},
        ),
    )
}


def get_convention(name: "str | Convention") -> Convention:
    if isinstance(name, Convention):
        return name
    try:
        return CONVENTIONS[name]
    except (KeyError, TypeError):
        if isinstance(name, str) and name.lower() in CONVENTIONS:  # "MACs", "FLOPs": as the CLI takes them
            return CONVENTIONS[name.lower()]
        close = difflib.get_close_matches(name.lower(), CONVENTIONS, n=1, cutoff=0.6) if isinstance(name, str) else []
        raise ValueError(
            f"unknown convention {name!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
            + f"; valid conventions: {', '.join(CONVENTIONS)}"
        ) from None
