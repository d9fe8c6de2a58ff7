"""capture.py and count.py, checked by hand where a mutant of either survived the other test files: what a
call records, the control-flow runners, the names and counts summarize gives (each test names the
mutant it pins)."""
from __future__ import annotations

import types

import torch
from torch import nn

import torchcount
from torchcount import capture as cap
from torchcount.conventions import get_convention
from torchcount.count import summarize
from torchcount.rules import has_rule


def test_control_flow_runners_are_the_ops_dense_kernels_and_an_op_without_one_is_left_out(monkeypatch):
    """_control_flow maps each control-flow op's class to its CompositeExplicitAutograd kernel, as
    registered. Given a namespace of three such ops: while_loop with a kernel (kept, mapped to that
    kernel), map_impl with none (a version that registers none: left out, not mapped to None, which
    the recorder would then call) and cond a plain HigherOrderOperator (torch 2.2: left out), the
    runners are exactly {WhileLoop: its kernel}. ('dense is not None or …' survived.)"""
    key = torch._C.DispatchKey.CompositeExplicitAutograd

    def while_dense(*args):
        return args

    class WhileLoop:
        py_kernels = {key: while_dense}

    class MapImpl:
        py_kernels = {}

    class Plain:  # (stands for torch._ops.HigherOrderOperator, the class of every plain such op)
        py_kernels = {key: while_dense}

    fake = types.SimpleNamespace(while_loop=WhileLoop(), map_impl=MapImpl(), cond=Plain())
    monkeypatch.setattr(torch.ops, "higher_order", fake)
    monkeypatch.setattr(torch._ops, "HigherOrderOperator", Plain)
    assert cap._control_flow() == {WhileLoop: while_dense}


def test_a_calls_depth_is_the_number_of_dots_in_its_path_plus_one_and_the_roots_0():
    """Call.depth: the root '' is 0, 'body' 1, 'body.0' 2 (the path's dots + 1), as a report's rows
    count depth. (A depth of None survived.)"""
    model = nn.Module()
    model.body = nn.Sequential(nn.Linear(2, 2))
    model.forward = lambda x: model.body(x)
    with cap.capture(model, has_rule) as recorder:
        model(torch.randn(1, 2))
    assert [(c.path, c.depth) for c in recorder.trace.calls] == [("", 0), ("body", 1), ("body.0", 2)]


def test_summarize_without_a_name_names_the_report_after_the_models_class():
    """summarize(model, trace, convention) with no model_name: the report is named after the model's
    class, 'Sequential' (profile always passes a name, so a report named None survived)."""
    model = nn.Sequential(nn.Linear(3, 2))
    with cap.capture(model, has_rule) as recorder:
        model(torch.randn(1, 3))
    report = summarize(model, recorder.trace, get_convention("macs"))
    assert report.model_name == "Sequential"
    assert report.total.macs == 3 * 2  # (the same trace, priced: 1×3 by 3×2)


def test_the_roots_hooks_note_gives_their_op_count_and_says_where_they_are_counted():
    """A Linear profiled alone with a pre-hook (x + x: one add) and a forward hook (out · out: one mul)
    ran 2 ops around its forward; the note says so and that they are counted as its own work; a root
    whose __call__ adds 1 outside its forward ran 1. (The note cut before ': counted as its own work'
    survived.)"""
    lin = nn.Linear(4, 2)
    lin.register_forward_pre_hook(lambda module, args: (args[0] + args[0],))
    lin.register_forward_hook(lambda module, args, out: out * out)
    report = torchcount.profile(lin, torch.randn(1, 4), warn=False)
    assert "the root's own hooks ran 2 op(s) around its forward: counted as its own work" in report.notes

    class Around(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 2)

        def forward(self, x):
            return self.lin(x)

        def __call__(self, x):
            return super().__call__(x) + 1

    report = torchcount.profile(Around(), torch.randn(1, 4), warn=False)
    (note,) = [n for n in report.notes if n.startswith("the root's own __call__")]
    assert note.endswith(".Around.__call__) and hooks, if any, ran 1 op(s) outside its forward: "
                         "counted as its own work")
