"""rules/foreach.py by hand: a foreach op costs its per-tensor op on each tensor of its lists, with the
traffic of the per-tensor op it stands for (an in-place one writing each tensor it updates). Two float32
tensors of 2·3 and 4 elements: n = 10 elements, 40 bytes per list."""
from __future__ import annotations

import pytest
import torch

from conftest import ops_cost as cost

N, NBYTES = 10, 40


def counts(c) -> tuple:
    return c.mults, c.adds, c.divs, c.cmps, c.transc, c.assigns


def _lists():
    torch.manual_seed(0)
    return torch.randn(2, 3), torch.randn(4), torch.randn(2, 3), torch.randn(4)


def test_foreach_zero_and_copy_in_place_read_only_what_their_per_tensor_op_reads():
    """``_foreach_zero_`` is ``zero_`` per tensor: no arithmetic, nothing read, each tensor written (40
    bytes); ``_foreach_copy_`` is ``copy_``: the sources read (40 bytes) and the destinations written
    (40), the destinations' old values not read. Their functional per-tensor ops (``zero``, ``copy``)
    would read the updated tensors too: 40 bytes more each."""
    a, b, x, y = _lists()
    c = cost(lambda a, b: torch._foreach_zero_([a, b]), a, b)
    assert counts(c) == (0, 0, 0, 0, 0, 0)
    assert (c.bytes_read, c.bytes_written) == (0, NBYTES)
    c = cost(lambda a, b, x, y: torch._foreach_copy_([a, b], [x, y]), a, b, x, y)
    assert counts(c) == (0, 0, 0, 0, 0, 0)
    assert (c.bytes_read, c.bytes_written) == (NBYTES, NBYTES)


def test_foreach_pow_of_a_scalar_base_is_pow_per_tensor():
    """``_foreach_pow(2.0, [a, b])`` (``.ScalarAndTensor``: the scalar first, the list second) is
    ``pow(2.0, t)`` on each tensor: 2^t, 1 transcendental per element (10), each exponent read (40
    bytes) and each power written (40) — the same as the two ``pow`` calls."""
    a, b, _, _ = _lists()
    c = cost(lambda a, b: torch._foreach_pow(2.0, [a, b]), a, b)
    assert counts(c) == (0, 0, 0, 0, N, 0)
    assert (c.bytes_read, c.bytes_written) == (NBYTES, NBYTES)
    assert c == cost(lambda a, b: (torch.pow(2.0, a), torch.pow(2.0, b)), a, b)


def test_the_out_forms_cost_their_functional_forms_the_out_tensors_written_not_read():
    """``_foreach_abs.out([a, b], out=[x, y])`` (functionalized graphs' form) is ``abs`` per tensor: 1
    comparison + 1 assignment per element (10 each), a and b read (40 bytes), x and y written (40) — not
    read, as the out tensors were (80 read, 0 written, until 2026-12-06). ``_foreach_add.List_out`` with
    alpha 2: a + 2·x, 10 mults + 10 adds, a and x read (80), out written (40).
    ``_foreach_lerp.List_out`` (uncounted until 2026-12-06: no per-tensor overload was found) costs
    what its functional form does."""
    aten = torch.ops.aten
    a, b, x, y = _lists()
    c = cost(lambda a, b, x, y: aten._foreach_abs.out([a, b], out=[x, y]), a, b, x, y)
    assert counts(c) == (0, 0, 0, N, 0, N)
    assert (c.bytes_read, c.bytes_written) == (NBYTES, NBYTES)
    c = cost(lambda a, b, x, y: aten._foreach_add.List_out([a, b], [x, y], alpha=2, out=[x, y]), a, b, x, y)
    assert counts(c) == (N, N, 0, 0, 0, 0)
    assert (c.bytes_read, c.bytes_written) == (2 * NBYTES, NBYTES)
    lerp = cost(lambda a, b, x, y: aten._foreach_lerp.List_out([a, b], [x, y], [a, b], out=[x, y]), a, b, x, y)
    assert lerp == cost(lambda a, b, x, y: aten._foreach_lerp.List([a, b], [x, y], [a, b]), a, b, x, y)


@pytest.mark.skipif(not hasattr(torch.ops.aten, "_foreach_max"), reason="torch before 2.4 has no _foreach_max")
def test_the_max_out_form_costs_its_functional_form():
    """``_foreach_max.out`` (max over each tensor's elements: 5 + 3 comparisons, one 4-byte float
    written per tensor) costs what its functional form does."""
    aten = torch.ops.aten
    a, b, _, _ = _lists()
    s, t = torch.zeros(()), torch.zeros(())
    c = cost(lambda a, b, s, t: aten._foreach_max.out([a, b], out=[s, t]), a, b, s, t)
    assert counts(c) == (0, 0, 0, 5 + 3, 0, 0)
    assert (c.bytes_read, c.bytes_written) == (NBYTES, 2 * 4)
    assert c == cost(lambda a, b: aten._foreach_max([a, b]), a, b)
