"""Small helpers shared by rule files: products and hyper-parameter tuples. (A worked term's
product of sizes is written by ``cost.worked``: a tuple value is written ``64×3×11``.)"""
from __future__ import annotations

import math
from typing import Iterable


def prod(values: Iterable[int]) -> int:
    return math.prod(map(int, values))


def tup(value, n: int) -> tuple:
    """Normalise an int-or-tuple hyper-parameter to an n-tuple."""
    if isinstance(value, (tuple, list)):
        return tuple(value) if len(value) == n else tuple(value) * n if len(value) == 1 else tuple(value)
    return (value,) * n
