"""measure/hooks.py's spans on a clock that ticks once per stamp: each module's [path, start, end,
parent] in a pass follows by hand from the order of the stamps, so a span closed late, early or twice
shows. Each test was written to fail on a mutant of torchcount/measure/hooks.py the others let pass."""
from __future__ import annotations

import pytest
import torch

from test_state import _CatchesInterrupts
from torchcount.measure import timing


class Ticks:
    """A clock whose stamps are 1, 2, 3, …: a span's end minus its start counts the stamps inside it."""

    def __init__(self):
        self.n = 0

    def stamp(self) -> int:
        self.n += 1
        return self.n


@pytest.mark.parametrize("where", ["forward", "pre-hook", "hook"])
def test_a_span_a_caught_interrupt_leaves_is_closed_where_the_interrupt_left(where):
    """``flaky`` (a module with a hook of its own) raises KeyboardInterrupt from its forward, its pre-hook
    or its forward hook; its parent catches it and calls ``fc``. Torch runs no always-called hook for a
    KeyboardInterrupt, so the span is closed by the interrupt's own path, right where it left: stamps
    1 (the model's forward), 2 (flaky opens), 3–4 (flaky.fc, where its forward runs), 5 (flaky closes),
    6–7 (fc), 8 (the model's forward ends); after a pre-hook's interrupt flaky.fc never runs, so flaky is
    2–3 and fc 4–5. Left open, flaky's span would take fc's close, and the model's its own; the stack is
    empty after the pass."""
    model = _CatchesInterrupts(where)
    with timing.timing_hooks(model, Ticks()) as hooks:
        hooks.open_model(0)
        model(torch.randn(2, 4))
        hooks.close_model(100)
    if where == "pre-hook":
        want = [["", 0, 100, -1], ["", 1, 6, 0], ["flaky", 2, 3, 1], ["fc", 4, 5, 1]]
    else:
        want = [["", 0, 100, -1], ["", 1, 8, 0], ["flaky", 2, 5, 1], ["flaky.fc", 3, 4, 2], ["fc", 6, 7, 1]]
    assert hooks.calls == want
    assert hooks._stack == []
