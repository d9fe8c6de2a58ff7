"""measure/hooks.py's spans on a clock that ticks once per stamp: each module's [path, start, end,
parent] in a pass follows by hand from the order of the stamps, so a span closed late, early or twice
shows. Each test was written to fail on a mutant of torchcount/measure/hooks.py the others let pass."""
from __future__ import annotations

import pytest
import torch
from torch import nn

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


class _Recursive(nn.Module):
    """A module with a forward hook of its own that calls itself ``depth`` more times after its Linear."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.register_forward_hook(lambda module, args, output: None)

    def forward(self, x, depth=2):
        x = self.fc(x)
        return self(x, depth - 1) if depth > 0 else x


class _CallsRecursive(nn.Module):
    def __init__(self):
        super().__init__()
        self.rec = _Recursive()

    def forward(self, x):
        return self.rec(x, 2)


def test_a_hooked_module_that_calls_itself_has_one_nested_span_per_call():
    """rec calls itself twice (depth 2, 1, 0): three nested spans of rec, each opened by its pre-hook and
    closed after its forward hook, each holding its own Linear's: the model 1–14, rec 2–13 (fc 3–4),
    rec 5–12 (fc 6–7), rec 8–11 (fc 9–10), each rec the parent of the next. The per-module flag that
    hands a hooked call's span to its hooks is the innermost call's; the outer one's (or a flag left set
    after its forward started) nested the spans wrongly."""
    model = _CallsRecursive()
    with timing.timing_hooks(model, Ticks()) as hooks:
        hooks.open_model(0)
        model(torch.randn(2, 4))
        hooks.close_model(100)
    assert hooks.calls == [["", 0, 100, -1], ["", 1, 14, 0], ["rec", 2, 13, 1], ["rec.fc", 3, 4, 2],
                           ["rec", 5, 12, 2], ["rec.fc", 6, 7, 4], ["rec", 8, 11, 4], ["rec.fc", 9, 10, 6]]
    assert hooks._stack == []
