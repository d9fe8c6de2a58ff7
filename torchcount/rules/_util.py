"""Small helpers shared by rule files: products, number formatting for worked terms."""
from __future__ import annotations

import math
from typing import Iterable, Sequence


def prod(values: Iterable[int]) -> int:
    return math.prod(map(int, values))


def times(values: Sequence) -> str:
    """``[64, 3, 11]`` → ``'64×3×11'`` (for the substituted line of a term)."""
    return "×".join(map(str, values)) if values else "1"


def tup(value, n: int) -> tuple:
    """Normalise an int-or-tuple hyper-parameter to an n-tuple."""
    if isinstance(value, (tuple, list)):
        return tuple(value) if len(value) == n else tuple(value) * n if len(value) == 1 else tuple(value)
    return (value,) * n
