"""Guarantee 3: odd but valid models are counted (or refused with a clear error), never a
crash and never a silent zero. Expected numbers are closed forms written in each test."""
from __future__ import annotations

import gc
import io
import math
import warnings

import pytest
import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm, weight_norm

import torchcount
from torchcount.cost import CATEGORIES, Cost, Term
from torchcount.report import visible_rows


def lin_macs(rows, n, k):
    return rows * n * k


def _quiet(model, inputs, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torchcount.UncountedWarning)
        return torchcount.profile(model, inputs, **kw)


# ---- sharing, reuse, recursion, containers -----------------------------------------------


def test_reused_module_is_one_row_with_calls_and_params_once():
    class Reuse(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(6, 6)

        def forward(self, x):
            for _ in range(3):
                x = self.lin(x)
            return x

    report = torchcount.profile(Reuse(), torch.randn(2, 6))
    row = report.row("lin")
    assert row.calls == 3
    assert row.macs == 3 * lin_macs(2, 6, 6)
    assert row.params == 6 * 6 + 6
    assert report.total.params == 6 * 6 + 6
    assert [r.path for r in report.layers] == ["lin"]


def test_module_shared_by_two_parents_is_one_row_params_once():
    shared = nn.Linear(5, 5)
    model = nn.Sequential(nn.Sequential(shared, nn.ReLU()), nn.Sequential(shared, nn.ReLU()))
    report = torchcount.profile(model, torch.randn(4, 5))
    assert report.total.params == 5 * 5 + 5
    lin_rows = [r for r in report.layers if r.type == "Linear"]
    assert len(lin_rows) == 1 and lin_rows[0].calls == 2
    assert report.total.macs == 2 * lin_macs(4, 5, 5)
    # each parent's subtree holds the shared Linear's parameters, once (the second parent used
    # to show 0, and the root the Linear twice before the fix)
    assert report.row("0").params == report.row("1").params == 5 * 5 + 5
    assert report.root.params == 5 * 5 + 5


def test_module_registered_twice_in_one_parent_counts_once_in_its_subtree():
    lin = nn.Linear(3, 3)
    inner = nn.Sequential(lin, nn.ReLU(), lin)
    model = nn.Sequential(inner, nn.Linear(3, 2))
    report = torchcount.profile(model, torch.randn(2, 3))
    assert report.row("0").params == 3 * 3 + 3  # not 24: lin is one module
    assert report.root.params == report.total.params == (3 * 3 + 3) + (3 * 2 + 2)
    assert report.total.macs == 2 * lin_macs(2, 3, 3) + lin_macs(2, 3, 2)


def test_a_hook_on_a_child_of_a_sequential_is_counted_in_the_childs_row():
    lin = nn.Linear(8, 8)
    lin.register_forward_pre_hook(lambda module, args: (args[0] @ torch.eye(8),))  # runs outside lin's forward
    model = nn.Sequential(lin)
    report = torchcount.profile(model, torch.randn(2, 8))
    # the Linear's 2·8·8 and the hook's 2×8 @ 8×8 product, both in the Linear's row
    assert report.row("0").macs == 2 * lin_macs(2, 8, 8)
    assert report.total.macs == 2 * lin_macs(2, 8, 8)
    assert report.root.self_cost.is_zero()
    assert report.complete
    assert any("forward hooks of 1 module(s) ran 2 op(s)" in n and "(0)" in n for n in report.notes)  # eye, mm


def test_hooks_of_a_child_covered_by_a_rule_are_counted_not_lost(ruled_block):
    # the enclosing rule covers the child's forward, not what the child's hooks run: those ops used
    # to go unrecorded (recording is off inside a ruled module), a silent 0 under "complete"
    model = nn.Sequential(ruled_block())
    model[0].fc.register_forward_pre_hook(lambda module, args: (args[0] + 1,))  # 2·4 additions
    model[0].fc.register_forward_hook(lambda module, args, out: out * 3)  # 2·4 multiplications
    report = torchcount.profile(model, torch.randn(2, 4))
    fc = report.row("0.fc")
    assert fc.status == "covered"
    assert (fc.cost.adds, fc.cost.mults, fc.cost.macs) == (8, 8, 0)
    assert report.row("0").self_cost.macs == 2 * 16 and report.row("0").cost.mults == 8
    assert report.total.cost.adds == 8 and report.total.cost.mults == 8 and report.total.macs == 32
    assert report.complete
    text = report.explain("0.fc")
    assert "except the ops its forward hooks ran around it" in text
    assert "forward hook: " in text


def test_a_modules_hooks_with_arithmetic_are_one_more_sequential_step(ruled_block):
    # a hook runs before or after its module's forward, not beside it: a covered row whose hooks
    # compute has 1 step (it had 0), a ruled row its rule's steps + 1; a hook without arithmetic adds none
    model = nn.Sequential(ruled_block(), nn.Linear(4, 4), nn.Linear(4, 4))
    model[0].fc.register_forward_hook(lambda module, args, out: out * 3)
    model[1].register_forward_pre_hook(lambda module, args: (args[0] + 1,))
    model[2].register_forward_hook(lambda module, args, out: out.view(2, 4))  # a view: no arithmetic
    report = torchcount.profile(model, torch.randn(2, 4))
    assert report.row("0.fc").extra["steps"] == 1
    assert report.row("1").extra["steps"] == 2
    assert report.row("2").extra["steps"] == 1


def test_a_covered_module_whose_hooks_work_in_a_later_call_only(ruled_block):
    from torchcount.analysis.plots import _leaf_rows

    block = ruled_block()
    model = nn.Sequential(block, block)  # one block called twice: its covered Linear twice
    calls = []

    def second_call_triples(module, args, out):
        calls.append(1)
        return out * 3 if len(calls) == 2 else None

    block.fc.register_forward_hook(second_call_triples)
    report = torchcount.profile(model, torch.randn(2, 4))
    fc = report.row("0.fc")
    assert (fc.calls, fc.status, fc.cost.mults) == (2, "covered", 2 * 4)  # the second call's tripling
    text = report.explain("0.fc")
    assert "except the ops its forward hooks ran around it (in calls after the first)" in text
    assert "total over 2 call(s): 8 FLOPs" in text
    assert "0.fc" in [row.path for row, _ in _leaf_rows(report, None)]  # plotted: it has work of its own


def test_a_module_a_hook_calls_inside_a_ruled_block_is_counted_not_covered(ruled_block):
    # a hook of a covered child runs outside the enclosing rule's forward: a module it calls is not the
    # rule's work (it used to be marked covered, a silent 0 under "complete")
    model = nn.Sequential(ruled_block())
    extra = model[0].extra = nn.Linear(4, 4)
    model[0].fc.register_forward_hook(lambda module, args, out: extra(out))
    report = torchcount.profile(model, torch.randn(2, 4))
    row = report.row("0.extra")
    assert row.status == "rule" and (row.cost.macs, row.cost.adds) == (lin_macs(2, 4, 4), 2 * 4)
    assert report.row("0").self_cost.macs == 2 * 16  # the block's rule, as before
    assert report.total.macs == 2 * 16 + lin_macs(2, 4, 4) and report.total.cost.adds == 8
    assert report.row("0.fc").cost.is_zero() and report.complete

    # the hooked module called again by its own forward hook: a second call, not the rule's either
    model = nn.Sequential(ruled_block())
    fc, depth = model[0].fc, []

    def again(module, args, out):
        if depth:
            return None
        depth.append(1)
        try:
            return module(out)
        finally:
            depth.pop()

    fc.register_forward_hook(again)
    report = torchcount.profile(model, torch.randn(2, 4))
    assert report.row("0.fc").calls == 2
    assert report.total.macs == 2 * 16 + lin_macs(2, 4, 4) and report.total.cost.adds == 8


def test_without_op_recording_a_childs_hooks_are_listed_as_uncounted():
    # with ops recorded the hook's 2·4 multiplications are the Linear's; without, they are unknown:
    # listed, never a silent 0 beside the Linear's rule (a Sequential's own ops are not flagged)
    model = nn.Sequential(nn.Linear(4, 4))
    model[0].register_forward_hook(lambda module, args, out: out * 3)
    assert torchcount.profile(model, torch.randn(2, 4)).row("0").cost.mults == 8
    report = torchcount.profile(model, torch.randn(2, 4), record_ops=False, warn=False)
    assert report.row("0").macs == lin_macs(2, 4, 4)
    assert not report.complete
    assert [(u.path, u.what, u.calls) for u in report.uncounted] == [
        ("0", "its forward hooks (not recorded: record_ops=False)", 1)]


def test_a_row_whose_hooks_ran_an_op_without_a_formula_is_marked_in_the_table(ruled_block):
    # the rows keep their status (rule, covered) but hold uncounted ops: the table marks them † as
    # its footnote says
    model = nn.Sequential(ruled_block(), nn.Linear(4, 4))
    for layer in (model[0].fc, model[1]):
        layer.register_forward_hook(lambda module, args, out: out + torch.linalg.svdvals(out).sum())
    report = _quiet(model, torch.randn(2, 4))
    assert sorted(u.path for u in report.uncounted) == ["0.fc", "1"] and not report.complete
    assert report.row("1").cost.adds == 8 + 1 + 8  # bias, the sum of 2 values, the add
    lines = report.table(columns=["module"]).splitlines()
    assert any(line.strip() == "0.fc (in parent) †" for line in lines)
    assert any(line.strip() == "1 †" for line in lines)


def test_process_wide_forward_hooks_are_counted_in_the_hooked_modules_rows(ruled_block):
    from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook

    model = nn.Sequential(ruled_block(), nn.Linear(4, 4))
    scale = register_module_forward_hook(lambda module, args, out: out * 3 if isinstance(module, nn.Linear) else None)
    try:
        report = torchcount.profile(model, torch.randn(2, 4))
    finally:
        scale.remove()
    # each Linear's output scaled: 2·4 multiplications in each Linear's row, the covered one's included
    assert report.row("0.fc").cost.mults == 8 and report.row("1").cost.mults == 8
    assert report.total.cost.mults == 16 and report.root.self_cost.is_zero()
    assert not any("pre-hooks" in n for n in report.notes)

    shift = register_module_forward_pre_hook(lambda module, args: (args[0] + 1,) if isinstance(module, nn.Linear) else None)
    try:
        report = torchcount.profile(model, torch.randn(2, 4))
    finally:
        shift.remove()
    # they run before any hook of torchcount's: the caller's, and not seen inside the ruled block, whose
    # covered child is listed as uncounted for it (never a silent 0 under 'complete')
    assert report.total.cost.adds == 2 * 4 + 2 * 4  # Linear 1's bias, and the shift of its input in the root
    assert any("process-wide forward pre-hooks are set" in n for n in report.notes)
    assert [(u.path, u.calls) for u in report.uncounted] == [("0.fc", 1)]
    assert "process-wide forward pre-hooks" in report.uncounted[0].what and not report.complete


def test_a_deprecated_hook_based_weight_norm_is_counted_in_its_layer():
    # torch.nn.utils.weight_norm (the old form) recomputes w = g·v/‖v‖ in a forward pre-hook
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        layer = torch.nn.utils.weight_norm(nn.Linear(6, 4))
    model = nn.Sequential(layer, nn.Linear(4, 4))
    report = torchcount.profile(model, torch.randn(3, 6))
    row = report.row("0").cost
    # the Linear: 3·6·4 MACs, 3·4 bias adds; the norm: 24 squares and 24 scalings, 4·5 additions,
    # 4 roots, 4 divisions
    assert (row.macs, row.mults, row.adds, row.transc, row.divs) == (72, 48, 12 + 20, 4, 4)
    assert report.root.self_cost.is_zero()
    assert any("forward hook: " in t.what for t in report.row("0").terms)


def test_hooks_that_call_the_module_again_and_a_raising_hook():
    lin = nn.Linear(4, 4)
    depth = []

    def again(module, args, out):  # a forward hook that runs the module once more (one level deep)
        if not depth:
            depth.append(1)
            try:
                return module(out) * 2
            finally:
                depth.pop()
        return None

    lin.register_forward_hook(again)
    model = nn.Sequential(lin)
    report = torchcount.profile(model, torch.randn(2, 4))
    row = report.row("0")
    assert row.calls == 2
    assert row.cost.macs == 2 * lin_macs(2, 4, 4) and row.cost.mults == 8  # the ×2 of the outer hook
    assert report.complete

    lin2 = nn.Linear(4, 4)

    def boom(module, args):
        raise ValueError("hook says no")

    lin2.register_forward_pre_hook(boom)
    pre, post = dict(lin2._forward_pre_hooks), dict(lin2._forward_hooks)
    with pytest.raises(Exception, match="hook says no"):
        torchcount.profile(nn.Sequential(lin2), torch.randn(2, 4))
    assert dict(lin2._forward_pre_hooks) == pre and dict(lin2._forward_hooks) == post  # ours removed
    assert not lin2._forward_hooks_always_called


def test_hooks_on_the_root_are_counted_as_its_own_work():
    # the root's hooks run around its forward, where no module call is on the stack: they were lost
    x = torch.randn(4, 8)
    lin = nn.Linear(8, 16)
    lin.register_forward_pre_hook(lambda module, args: (args[0] * 3,))  # 4·8 mults
    lin.register_forward_hook(lambda module, args, out: out.softmax(-1))  # per element: exp, add, div
    report = torchcount.profile(lin, x)
    assert report.complete
    assert report.total.macs == lin_macs(4, 8, 16)
    cost = report.total.cost
    assert (cost.mults, cost.divs, cost.transc) == (4 * 8, 4 * 16, 4 * 16)
    assert report.root.self_cost == report.total.cost and report.root.rule == "linear.linear"
    assert any("root's own hooks ran" in n for n in report.notes)
    # its worked solution lists the hooks' ops too, and adds up to the row
    flops_line = next(l for l in report.explain("").splitlines() if l.strip().startswith("FLOPs [flops] ="))
    assert flops_line.endswith(f"= {report.total.flops:,}")

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(8, 16)

        def forward(self, x):
            return self.lin(x)

    net = Net()
    net.register_forward_hook(lambda module, args, out: out * 2)
    report = torchcount.profile(net, x)
    assert report.total.cost.mults == 4 * 16 and report.row("").self_cost.mults == 4 * 16
    assert sum(r.self_cost.mults for r in report.layers) == 4 * 16  # the table adds up: a (root) row
    # without op recording the hooks' work is unknown: listed, never a silent zero
    report = torchcount.profile(net, x, record_ops=False, warn=False)
    assert not report.complete and any("root's hooks" in u.what for u in report.uncounted)


def test_a_root_with_a_call_of_its_own_has_that_work_counted():
    # a class that overrides __call__ runs work around its forward (or instead of it) that nn.Module's
    # call machinery never sees: it was lost, silently, with coverage 'complete'
    x = torch.randn(5, 4)

    class Around(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 2)

        def forward(self, x):
            return self.lin(x) * 2  # 5·2 mults

        def __call__(self, x):
            return super().__call__(x) + 1  # 5·2 adds, outside the forward

    class Instead(Around):
        def __call__(self, x):
            return self.lin(x) - 1  # the forward never runs: 5·2 adds

    report = torchcount.profile(Around(), x)
    assert report.complete
    assert (report.total.macs, report.total.cost.mults, report.total.cost.adds) == (5 * 4 * 2, 5 * 2, 5 * 2 + 5 * 2)
    assert report.root.self_cost.adds == 5 * 2 and report.root.self_cost.mults == 5 * 2
    assert any("own __call__ (" in n and "Around.__call__" in n for n in report.notes)
    report = torchcount.profile(Instead(), x)
    assert report.complete and report.total.cost.adds == 5 * 2 + 5 * 2  # the bias's and the __call__'s
    # the table adds up: a '(root)' row holds the __call__'s own work, beside the layer it called
    assert report.layers[0].path == "" and report.layers[0].self_cost.adds == 5 * 2
    assert sum(r.self_cost.adds for r in report.layers) == report.total.cost.adds
    # that row is the root's, first: '#' 0, depth 0, 1 call, the Linear's 4·2 + 2 = 10 parameters below
    # it and none of its own, no forward call's shapes to show
    assert [(r.index, r.path, r.depth, r.calls, r.params, r.self_params, r.input_shapes, r.output_shapes)
            for r in report.layers] == [(0, "", 0, 1, 10, 0, [], []), (1, "lin", 1, 1, 10, 10, [(5, 4)], [(5, 2)])]
    assert report.table(columns="#,module,params").splitlines()[4].split() == ["0", "(root)", "(self)", "0"]
    # steps: the Linear's 1, then the __call__'s subtraction, 1 more: 2 in the root's row, the total row
    # and the longest-chain note (the root's row read 0, so the table's total said 0 steps; Around:
    # Linear, ×2 in the forward, + 1 after it, 3, where the __call__'s step was left out)
    for model, steps, own in ((Around(), 3, 2), (Instead(), 2, 1)):
        report = torchcount.profile(model, x)
        assert (report.root.extra["steps"], report.root.self_extra["steps"]) == (steps, own)
        assert report.table(columns="module,steps").splitlines()[-4].split() == ["total", str(steps)]
        assert f"longest chain: {steps} sequential steps" in "\n".join(report.notes)
    # without op recording it is unknown: listed, never a silent zero
    for model in (Around(), Instead()):
        report = torchcount.profile(model, x, record_ops=False, warn=False)
        assert not report.complete and any("own __call__" in u.what for u in report.uncounted)
    # torch's own classes that set __call__ (a GraphModule's) are not taken for the model's own
    traced = torch.fx.symbolic_trace(nn.Sequential(nn.Linear(4, 2)))
    assert not any("__call__" in n for n in torchcount.profile(traced, x).notes)


def test_tied_weights_are_counted_once():
    emb = nn.Embedding(50, 8)
    head = nn.Linear(8, 50, bias=False)
    head.weight = emb.weight
    model = nn.Sequential(emb, head)
    report = torchcount.profile(model, torch.tensor([[1, 2, 3]]))
    assert report.total.params == 50 * 8
    assert report.total.macs == lin_macs(3, 8, 50)
    # each holder's row shows it, so the column adds up to twice the total: the notes say why
    assert report.row("0").params == report.row("1").params == 50 * 8
    assert any("shared between modules" in n and "0.weight = 1.weight" in n for n in report.notes)


def test_a_reused_module_is_not_reported_as_tied_weights():
    lin = nn.Linear(3, 3)
    report = torchcount.profile(nn.Sequential(lin, nn.ReLU(), lin), torch.randn(2, 3))
    assert not any("shared between modules" in n for n in report.notes)


class Recursive(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x, depth: int = 3):
        x = self.lin(x)
        return x if depth == 0 else self(x, depth - 1)


def test_recursion_through_the_same_module_is_not_double_counted():
    """Regression: a recursive module's row summed the inclusive cost of every nested call."""
    report = torchcount.profile(Recursive(), (torch.randn(2, 4), 3))
    expected = 4 * lin_macs(2, 4, 4)  # depth 3 → 4 calls of lin
    assert report.row("lin").calls == 4
    assert report.total.macs == expected
    assert report.root.calls == 4
    assert report.root.cost.macs == expected
    # four Linears one after another: 4 steps (the nested calls' chains are inside the outer one's;
    # the row summed every call's chain, 4 + 3 + 2 + 1)
    assert report.root.extra["steps"] == 4
    assert report.root.self_extra["steps"] == 0  # (it was −6: the nested calls subtracted as children)

    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.rec = Recursive()

        def forward(self, x):
            return self.rec(x, 2)

    report = torchcount.profile(Outer(), torch.randn(2, 4))
    assert report.row("rec").calls == 3
    assert report.row("rec").cost.macs == 3 * lin_macs(2, 4, 4)
    assert report.total.macs == 3 * lin_macs(2, 4, 4)


class _ThroughA(nn.Module):
    """Calls its owner back: Outer → a → Outer → a → Outer, a recursion through another module."""

    def __init__(self, owner):
        super().__init__()
        self.lin = nn.Linear(3, 3, bias=False)
        self.__dict__["owner"] = owner  # (not registered: the owner is its parent)

    def forward(self, x, depth):
        return self.owner(self.lin(x), depth - 1)


class _Outer(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = _ThroughA(self)

    def forward(self, x, depth=2):
        return x * 2.0 if depth == 0 else self.a(x, depth)


def test_recursion_through_another_module_counts_steps_once():
    """Two Linears and a multiplication one after another: 3 steps; the innermost call's
    multiplication is the root's own step, the a rows do nothing themselves (it was −2 for both)."""
    report = torchcount.profile(_Outer(), torch.randn(1, 3))
    assert report.root.calls == 3 and report.row("a").calls == 2
    assert report.total.macs == 2 * 9 and report.total.cost.mults == 3
    assert report.root.extra["steps"] == 3 and report.root.self_extra["steps"] == 1
    assert report.row("a").extra["steps"] == 3 and report.row("a").self_extra["steps"] == 0


def test_module_list_and_module_dict():
    class Containers(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList(nn.Linear(8, 8) for _ in range(3))
            self.heads = nn.ModuleDict({"a": nn.Linear(8, 2), "b": nn.Linear(8, 5)})

        def forward(self, x):
            for b in self.blocks:
                x = b(x)
            return {k: h(x) for k, h in self.heads.items()}

    report = torchcount.profile(Containers(), torch.randn(3, 8))
    assert report.total.macs == 3 * lin_macs(3, 8, 8) + lin_macs(3, 8, 2) + lin_macs(3, 8, 5)
    assert report.total.params == 3 * (64 + 8) + (16 + 2) + (40 + 5)
    assert report.row("heads.b").macs == lin_macs(3, 8, 5)
    assert report.row("blocks.2").calls == 1


def test_models_without_parameters_and_empty_sequential():
    report = torchcount.profile(nn.Sequential(), torch.randn(2, 3))
    assert report.total.params == 0 and report.total.cost.ops == 0 and report.complete
    report = torchcount.profile(nn.Sequential(nn.ReLU(), nn.MaxPool1d(2)), torch.randn(1, 2, 8))
    assert report.total.params == 0
    assert report.row("1").cost.cmps == (2 - 1) * 1 * 2 * 4  # (window − 1)·outputs
    assert report.row("0").cost.cmps == 16  # one comparison per element


# ---- parametrizations ---------------------------------------------------------------------


def test_weight_norm_counts_the_original_parameters():
    model = nn.Sequential(weight_norm(nn.Linear(6, 4)))
    report = torchcount.profile(model, torch.randn(3, 6))
    # weight_g (4×1) + weight_v (4×6) + bias (4): what the module stores
    assert report.total.params == 4 + 24 + 4
    assert report.total.macs == lin_macs(3, 6, 4)
    # w = g·v/‖v‖, run when the Linear reads its weight (not covered by the Linear's rule):
    # 4 row norms of 6 elements (24 squares, 4·5 additions, 4 roots), 4 divisions, 24 scalings
    cost = report.total.cost
    assert (cost.transc, cost.divs, cost.mults) == (4, 4, 24 + 24)
    assert cost.adds == 4 * 5 + 3 * 4  # norms, and the Linear's bias additions
    assert report.complete


def test_spectral_norm_in_train_mode_buffers_restored():
    model = nn.Sequential(spectral_norm(nn.Linear(6, 4)))
    model.train()
    p = model[0].parametrizations.weight[0]
    u, v = p._u.clone(), p._v.clone()
    report = torchcount.profile(model, torch.randn(3, 6))
    assert torch.equal(p._u, u) and torch.equal(p._v, v)
    # the power iteration runs when the Linear reads its weight, and is counted (it used to be
    # taken as covered by the Linear's rule): v = Wᵀu, u = Wv, σ = u·(Wv) on the 4×6 weight
    assert report.total.macs == lin_macs(3, 6, 4) + 3 * (4 * 6) + 4
    assert report.complete
    assert report.total.params == 4 * 6 + 4  # weight.original + bias
    model(torch.randn(3, 6))  # a plain forward does update them (so the check above means something)
    assert not torch.equal(p._u, u)


def test_counting_does_not_run_a_parametrization_after_the_restore():
    # the Embedding rule reads the weight's dtype: reading a parametrized weight runs the power
    # iteration again, after the buffers were put back (it updated _u in training)
    model = spectral_norm(nn.Embedding(10, 4)).train()
    p = model.parametrizations.weight[0]
    u, v = p._u.clone(), p._v.clone()
    report = torchcount.profile(model, torch.tensor([1, 2, 3]))
    assert torch.equal(p._u, u) and torch.equal(p._v, v)
    assert report.row("").rule == "embedding.embedding" and report.complete


# ---- TorchScript, compile, wrappers ---------------------------------------------------------


def _mlp():
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


MLP_MACS = lin_macs(2, 4, 8) + lin_macs(2, 8, 3)
MLP_PARAMS = 4 * 8 + 8 + 8 * 3 + 3


def test_torch_jit_script_is_counted_from_its_ops():
    scripted = torch.jit.script(_mlp())
    report = _quiet(scripted, torch.randn(2, 4))
    assert report.total.macs == MLP_MACS
    assert report.total.params == MLP_PARAMS
    assert report.model_name == "RecursiveScriptModule"
    assert report.root.type == "RecursiveScriptModule"
    assert any("TorchScript" in n for n in report.notes)
    assert all(not m._forward_hooks for m in scripted.modules())


def test_torch_jit_script_forward_error_names_the_scripted_type():
    scripted = torch.jit.script(_mlp())
    with pytest.raises(torchcount.ForwardError, match=r"'\(root\)' \(RecursiveScriptModule\) with input shapes 2×5"):
        _quiet(scripted, torch.randn(2, 5))


def test_torch_jit_trace_is_counted_from_its_ops():
    traced = torch.jit.trace(_mlp(), torch.randn(2, 4))
    report = _quiet(traced, torch.randn(2, 4))
    assert report.total.macs == MLP_MACS
    assert report.total.params == MLP_PARAMS
    assert any("TorchScript" in n for n in report.notes)


def test_frozen_torchscript_module_is_counted_not_refused():
    # torch.jit.freeze drops the module's `training` attribute (and inlines its parameters as
    # constants): profile raised AttributeError reading it. Counted from its ops, a note
    frozen = torch.jit.freeze(torch.jit.script(_mlp().eval()))
    report = _quiet(frozen, torch.randn(2, 4))
    assert report.total.macs == MLP_MACS
    assert any("torch.jit.freeze" in n for n in report.notes)


def _cnn():
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 4, 3), nn.Flatten(), nn.Linear(64, 5))


@pytest.mark.parametrize("build, shape", [(_mlp, (2, 4)), (_cnn, (1, 3, 8, 8))], ids=["linear-stack", "cnn"])
@pytest.mark.parametrize("optimized", [False, True], ids=["freeze", "optimize_for_inference"])
def test_a_frozen_torchscript_module_has_its_weight_constants_as_parameters(build, shape, optimized):
    """Freezing turns the weights into constants of the graph: the profile read 0 parameters. They are
    its (frozen) parameters now, the same count as the eager model's (optimize_for_inference's MKLDNN
    copies of the convolutions' weights included, the transposed copy of the Linear's it makes not)."""
    model = build().eval()
    scripted = torch.jit.script(model)
    frozen = torch.jit.optimize_for_inference(scripted) if optimized else torch.jit.freeze(scripted)
    report = _quiet(frozen, torch.randn(*shape))
    eager = sum(p.numel() for p in model.parameters())
    assert report.total.params == report.total.frozen_params == report.root.params == eager
    assert (report.total.trainable_params, report.total.buffers) == (0, 0)
    layers = len([m for m in model if isinstance(m, (nn.Linear, nn.Conv2d))])
    assert any(f"its {2 * layers} weight constant(s) ({eager:,} elements) are counted as its (frozen) parameters"
               in n for n in report.notes)


def test_a_frozen_batchnorm_keeps_its_statistics_as_buffers_unless_folded():
    """A BatchNorm freezing cannot fold (nothing before it) keeps weight and bias (parameters) and its
    running statistics (buffers: 2·4; num_batches_tracked, unused in eval, is gone). One after a
    convolution is folded into it: the frozen graph holds the convolution's weight and a new bias,
    3·8·3·3 + 8 = 224, not the eager 216 + 2·8 = 232, and the note says whose count it is."""
    first = nn.Sequential(nn.BatchNorm1d(4), nn.Linear(4, 3)).eval()
    with torch.no_grad():  # (freshly made, weight and running_var are all ones: pooled into one constant)
        for t in (first[0].weight, first[0].bias, first[0].running_mean, first[0].running_var):
            t.uniform_(1, 2)
    report = _quiet(torch.jit.freeze(torch.jit.script(first)), torch.randn(2, 4))
    assert (report.total.params, report.total.buffers) == (2 * 4 + 4 * 3 + 3, 2 * 4)
    assert (report.total.param_bytes, report.total.buffer_bytes) == (4 * (2 * 4 + 4 * 3 + 3), 4 * 2 * 4)  # float32
    folded = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU()).eval()
    report = _quiet(torch.jit.freeze(torch.jit.script(folded)), torch.randn(1, 3, 8, 8))
    assert (report.total.params, report.total.buffers) == (3 * 8 * 3 * 3 + 8, 0)
    assert any("freezing folded other layers into 0 (0.weight_fused_bn, 0.bias_fused_bn;" in n
               and "the count is the frozen graph's own, not the eager model's" in n for n in report.notes)


def test_the_layers_freezing_folded_into_are_named_six_then_an_ellipsis_without_torchs_name_suffixes():
    """Seven Conv2d(2, 2, 1, bias=False) each before a BatchNorm2d(2): freezing folds each BatchNorm into its
    convolution (a 2·2 weight and a new bias of 2 each: 7·6 = 42 parameters). TorchScript names every new bias
    after the first one's, with a suffix (0.bias_fused_bn.1, 0.bias_fused_bn.3, …): the layers named are the
    part before the '_fused_' constant, 0, 2, … 12 (seven), so six of them then '…' — the suffixed names were
    read as a layer '0.bias_fused_bn', and the ellipsis after six was pinned by no test."""
    layers = []
    for _ in range(7):
        layers += [nn.Conv2d(2, 2, 1, bias=False), nn.BatchNorm2d(2)]
    report = _quiet(torch.jit.freeze(torch.jit.script(nn.Sequential(*layers).eval())), torch.randn(1, 2, 4, 4))
    assert (report.total.params, report.total.buffers) == (7 * (2 * 2 + 2), 0)
    assert any("; freezing folded other layers into 0, 2, 4, 6, 8, 10 … (0.weight_fused_bn, 0.bias_fused_bn.1 …; "
               in n for n in report.notes), report.notes


class _Attention(nn.Module):
    """A MultiheadAttention (3·8·8 + 3·8 in_proj, 8·8 + 8 out_proj: 288 parameters) and a
    TransformerEncoderLayer (the same 288, linear1 8·16 + 16, linear2 16·8 + 8, two LayerNorms
    2·(8 + 8): 600): 888."""

    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.layer = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)

    def forward(self, x):
        return self.layer(self.attn(x, x, x, need_weights=False)[0])


@pytest.mark.parametrize("optimized", [False, True], ids=["freeze", "optimize_for_inference"])
def test_a_frozen_multihead_attention_keeps_its_in_projection_as_parameters_and_they_are_counted(optimized):
    """Freezing keeps MultiheadAttention's in_proj_weight and in_proj_bias as parameters of the
    submodule (read by prim::GetAttr), not as constants of the graph: a frozen transformer's count was
    short by 3·8·8 + 3·8 = 216 per attention (456 of 888 here). With every parameter drawn afresh
    (no two equal, so freezing pools none) the frozen count is the eager model's."""
    model = _Attention().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(1, 2)
    eager = sum(p.numel() for p in model.parameters())
    assert eager == 888
    scripted = torch.jit.script(model)
    frozen = torch.jit.optimize_for_inference(scripted) if optimized else torch.jit.freeze(scripted)
    report = _quiet(frozen, torch.randn(1, 4, 8))
    assert report.total.params == report.total.frozen_params == report.root.params == 888
    assert (report.total.trainable_params, report.total.buffers) == (0, 0)
    assert any("and the 4 parameter(s) of submodules freezing kept (attn.in_proj_" in n
               and "(888 elements) are counted as its (frozen) parameters" in n for n in report.notes)
    # freshly made, a TransformerEncoderLayer's LayerNorm weights (ones) are pooled into one constant,
    # their biases and out_proj's (zeros) into one: 600 − 8 − 2·8
    layer = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True).eval()
    assert _quiet(torch.jit.freeze(torch.jit.script(layer)), torch.randn(1, 4, 8)).total.params == 576


class _ThreeAttentions(nn.Module):
    """Three MultiheadAttention(4, 1) one after another: 3·(3·4·4 + 3·4 + 4·4 + 4) = 240 parameters."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = (nn.MultiheadAttention(4, 1, batch_first=True) for _ in range(3))

    def forward(self, x):
        x = self.a(x, x, x, need_weights=False)[0]
        x = self.b(x, x, x, need_weights=False)[0]
        return self.c(x, x, x, need_weights=False)[0]


def test_the_parameters_freezing_kept_are_named_four_then_an_ellipsis():
    """Freezing keeps each attention's in_proj_weight and in_proj_bias as parameters of the submodule: three
    attentions keep six, and the note counts six and names the first four (a's and b's, in the order the graph
    reads them) then '…' — the one test of that note had four, so the ellipsis after exactly four names survived
    a profile.py mutant."""
    model = _ThreeAttentions().eval()
    with torch.no_grad():  # (no two equal: freezing pools none)
        for p in model.parameters():
            p.uniform_(1, 2)
    report = _quiet(torch.jit.freeze(torch.jit.script(model)), torch.randn(1, 2, 4))
    assert report.total.params == report.total.frozen_params == 3 * (3 * 4 * 4 + 3 * 4 + 4 * 4 + 4) == 240
    assert any("and the 6 parameter(s) of submodules freezing kept (a.in_proj_bias, a.in_proj_weight, "
               "b.in_proj_bias, b.in_proj_weight …) (240 elements)" in n for n in report.notes), report.notes


def test_a_frozen_torchscript_module_put_in_eval_mode_is_still_counted_as_frozen():
    """``.eval()`` on a frozen module (the command line does it to every model) sets a Python attribute
    ``training`` on its wrapper, which torchcount took as "not frozen": its weight constants were not
    counted (0 parameters for the linear stack's 67) and the counter buffer freezing kept on a submodule
    was left changed by the profile's forward (1, not 0)."""
    frozen = torch.jit.freeze(torch.jit.script(_mlp().eval()))
    frozen.eval()
    report = _quiet(frozen, torch.randn(2, 4))
    assert report.total.params == report.total.frozen_params == MLP_PARAMS == 67
    assert any("its 4 weight constant(s) (67 elements) are counted as its (frozen) parameters" in n for n in report.notes)
    counting = torch.jit.freeze(torch.jit.script(nn.Sequential(_Counting()).eval()))
    counting.eval()
    calls = counting._c.getattr("0").getattr("calls")
    assert _quiet(counting, torch.randn(2, 4)).total.buffers == 1
    assert calls.item() == 0


def _saved_and_loaded(scripted):
    buffer = io.BytesIO()
    torch.jit.save(scripted, buffer)
    buffer.seek(0)
    return torch.jit.load(buffer)


def test_a_frozen_torchscript_module_read_from_a_file_has_its_weight_constants_as_parameters():
    """torch.jit.save keeps no constant's name (the frozen graph's self.0.weight is %3 once loaded): the
    loaded module read 0 parameters. With no constant named, each tensor constant is a (frozen) parameter:
    the linear stack's 4·8 + 8 + 8·3 + 3 = 67, the eager count; the _Attention pair's 888 (its two
    attentions' in-projections kept as submodule parameters, 2·216, among them), as in memory."""
    model = _mlp().eval()
    loaded = _saved_and_loaded(torch.jit.freeze(torch.jit.script(model)))
    report = _quiet(loaded, torch.randn(2, 4))
    assert report.total.params == report.total.frozen_params == MLP_PARAMS == 67
    assert report.total.macs == MLP_MACS
    assert any("none of them is named (torch.jit.save drops the names" in n and "its 4 tensor constant(s) (67 elements) "
               "are counted as its (frozen) parameters, any that freezing computed itself" in n for n in report.notes)
    attention = _Attention().eval()
    with torch.no_grad():  # (no two equal: freezing pools none)
        for p in attention.parameters():
            p.uniform_(1, 2)
    loaded = _saved_and_loaded(torch.jit.freeze(torch.jit.script(attention)))
    assert _quiet(loaded, torch.randn(1, 4, 8)).total.params == 888


class _Counting(nn.Module):
    """A Linear (4·4 + 4) whose forward counts its calls in a buffer (1 element) and in a plain
    tensor attribute (3 elements: neither a parameter nor a buffer)."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 4)
        self.register_buffer("calls", torch.zeros(()))
        self.tally = torch.zeros(3)

    def forward(self, x):
        self.calls.add_(1)
        self.tally.add_(1)
        return self.linear(x)


def test_a_buffer_a_frozen_submodule_mutates_is_counted_as_a_buffer():
    """Freezing keeps a buffer the forward updates in place as an attribute of its submodule (a plain
    tensor attribute likewise, which is no buffer in the eager model either): 1 buffer element, the
    Linear's 4·4 + 4 parameters, as eager; it was 0 buffers."""
    model = nn.Sequential(_Counting()).eval()
    frozen = torch.jit.freeze(torch.jit.script(model))
    report = _quiet(frozen, torch.randn(2, 4))
    assert (report.total.params, report.total.buffers) == (4 * 4 + 4, 1)
    assert any("the 1 buffer(s) of submodules freezing kept (0.calls; 1 elements) as buffers" in n
               for n in report.notes)


def test_a_buffer_a_frozen_submodule_mutates_is_left_as_found():
    """The profile's forward (and each measured pass) adds 1 to the frozen submodule's call counter: it
    was left at 1 (the frozen module lists no submodules, so the counter is in no ``_buffers``); it is
    put back to 0, as a buffer of an eager module is."""
    frozen = torch.jit.freeze(torch.jit.script(nn.Sequential(_Counting()).eval()))
    calls = frozen._c.getattr("0").getattr("calls")
    _quiet(frozen, torch.randn(2, 4))
    _quiet(frozen, torch.randn(2, 4), measure=True, warmup=1, repeat=2)
    assert calls.item() == 0 and frozen._c.getattr("0").getattr("calls") is calls


def test_a_frozen_modules_note_word_for_word_with_no_folding_and_with_no_weights():
    """A frozen MLP (Linear(4, 8), ReLU, Linear(8, 3)) holds its 4 weight constants, 32 + 8 + 24 + 3 = 67
    elements, none folded (no '_fused_' name: no 'folded' clause); a frozen ReLU holds none, and is not
    taken for a module read from a file (nothing unnamed either)."""
    note = next(n for n in _quiet(torch.jit.freeze(torch.jit.script(_mlp().eval())), torch.randn(2, 4)).notes
                if n.startswith("frozen TorchScript"))
    assert note == ("frozen TorchScript module (torch.jit.freeze): its weights are constants of its graph, not "
                    f"parameters; its 4 weight constant(s) ({MLP_PARAMS:,} elements) are counted as its (frozen) "
                    "parameters (constants of equal values are stored once)")
    report = _quiet(torch.jit.freeze(torch.jit.script(nn.Sequential(nn.ReLU()).eval())), torch.randn(2, 4))
    note = next(n for n in report.notes if n.startswith("frozen TorchScript"))
    assert note == ("frozen TorchScript module (torch.jit.freeze): its weights are constants of its graph, not "
                    "parameters; its 0 weight constant(s) (0 elements) are counted as its (frozen) parameters "
                    "(constants of equal values are stored once)")


class _RootCounting(nn.Module):
    """_Counting's counter on the root itself: a Linear (4·4 + 4) and a 1-element buffer it adds 1 to."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 4)
        self.register_buffer("calls", torch.zeros(()))

    def forward(self, x):
        self.calls.add_(1)
        return self.linear(x)


def test_a_buffer_the_frozen_roots_forward_mutates_is_its_own_not_a_submodules():
    """Freezing keeps the root's mutated buffer as an attribute of the root: it is the root's own (in its
    _buffers, 1 element), so the note names no buffer of a submodule freezing kept."""
    report = _quiet(torch.jit.freeze(torch.jit.script(_RootCounting().eval())), torch.randn(2, 4))
    assert (report.total.params, report.total.buffers) == (4 * 4 + 4, 1)
    note = next(n for n in report.notes if n.startswith("frozen TorchScript"))
    assert "submodules freezing kept" not in note


def test_a_frozen_batchnorm_read_from_a_file_has_its_statistics_as_buffers():
    """A frozen BatchNorm1d(3) with no layer before it to fold into keeps its weight and bias (3 + 3
    elements) and its running mean and variance (3 + 3) as constants: 6 parameters and 6 buffer elements
    (its num_batches_tracked, unused in eval, is gone); saved and loaded, none is named, yet the statistics
    are still told by their use: the same."""
    bn = nn.BatchNorm1d(3).eval()
    with torch.no_grad():  # four different values (freezing stores equal constants once: ones, zeros)
        for i, t in enumerate((bn.weight, bn.bias, bn.running_mean, bn.running_var)):
            t.copy_(torch.tensor([2.0, 3.0, 4.0]) + 10 * i)
    frozen = torch.jit.freeze(torch.jit.script(nn.Sequential(bn).eval()))
    assert [(r.total.params, r.total.buffers) for r in
            (_quiet(frozen, torch.randn(2, 3)), _quiet(_saved_and_loaded(frozen), torch.randn(2, 3)))] == [(6, 6)] * 2


def test_frozen_torchscript_weight_constants_are_not_compared_as_the_models_work():
    # under the recorder's dispatch mode TorchScript's executor re-optimized the frozen graph, its
    # constant pooling comparing the two same-shaped 4×4×3×3 weights with aten.equal (2·144 cmps,
    # 28.9 M in a frozen ResNet-18). Two convs: 2·4·4·3·3·6·6 MACs, their biases, the ReLU, no more
    model = nn.Sequential(nn.Conv2d(4, 4, 3), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU()).eval()
    frozen = torch.jit.freeze(torch.jit.script(model))
    cost = _quiet(frozen, torch.randn(1, 4, 8, 8)).total.cost
    assert (cost.macs, cost.adds, cost.cmps) == (2 * 4 * 4 * 3 * 3 * 36, 2 * 4 * 36, 4 * 36)
    assert torch._C._get_graph_executor_optimize()  # the caller's setting is back


def test_traced_transformer_layer_is_profiled():
    # the executor's passes under a dispatch mode called aten::equal with an int: a ForwardError
    layer = nn.TransformerEncoderLayer(16, 2, 32, batch_first=True).eval()
    x = torch.randn(1, 4, 16)
    traced = torch.jit.trace(layer, x, check_trace=False)
    assert _quiet(traced, x).total.macs == torchcount.profile(layer, x).total.macs


def test_optimize_for_inference_convolutions_are_listed_as_uncounted_not_a_silent_zero():
    # optimize_for_inference makes each convolution a prim::mkldnn_convolution, which the TorchScript
    # interpreter runs without dispatching an op: the recorder saw nothing and the MACs were 0 with
    # only aten.to_mkldnn named as uncounted. The two convolutions are now listed (2 calls)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3)).eval()
    optimized = torch.jit.optimize_for_inference(torch.jit.script(model))
    report = _quiet(optimized, torch.randn(1, 3, 8, 8))
    convs = [u for u in report.uncounted if u.what.startswith("prim::mkldnn_convolution")]
    assert [(u.path, u.type, u.calls) for u in convs] == [("", "RecursiveScriptModule", 2)]
    assert not report.complete and report.root.status == "partial"
    assert all(u.type == "RecursiveScriptModule" for u in report.uncounted)  # not the wrapper's type


def test_scripted_submodule_inside_an_eager_model():
    model = nn.Sequential(nn.Linear(4, 4), torch.jit.script(nn.Linear(4, 2)))
    report = _quiet(model, torch.randn(3, 4))
    assert report.total.macs == lin_macs(3, 4, 4) + lin_macs(3, 4, 2)
    # the scripted child's work is its parent's own (its ops), and so are its parameters: every
    # parameter is in a row (they used to be in none: the params column fell short of the total)
    assert report.root.self_params == 4 * 2 + 2
    shown = visible_rows(report.layers, None)
    assert sum(r.self_params if own else r.params for r, own in shown) == report.total.params


def test_torch_compile_profiles_the_original_module_with_a_note():
    model = _mlp()
    compiled = torch.compile(model)
    report = torchcount.profile(compiled, torch.randn(2, 4))
    assert report.total.macs == MLP_MACS
    assert report.model_name == "Sequential"
    assert [r.path for r in report.layers] == ["0", "1", "2"]  # not "_orig_mod.0"
    assert any("torch.compile" in n for n in report.notes)


class _WithCompiledParts(nn.Module):
    """An encoder and a head compiled in place (``model.encoder = torch.compile(model.encoder)``), the
    encoder registered twice and holding a compiled block of its own; never run compiled here."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(_mlp(), nn.ReLU())
        self.encoder[0] = torch.compile(self.encoder[0])
        self.encoder = torch.compile(self.encoder)
        self.again = self.encoder
        self.head = torch.compile(nn.Linear(3, 2))

    def forward(self, x):
        return self.head(self.encoder(x) + self.again(x))


def test_torch_compiled_submodules_are_profiled_eagerly_under_their_logical_paths():
    """A compiled submodule's rows read encoder._orig_mod.0._orig_mod.0, and the profile called dynamo's
    compiled wrapper: now encoder.0.0, the paths of the modules the user wrote, each run eagerly, in the
    counting and the measured passes, with one note; the wrappers are put back. MACs: the MLP twice
    (the encoder registered twice, called twice), then 2·3·2 for the head."""
    from test_state import snapshot

    model = _WithCompiledParts()
    keys, before = list(model.state_dict()), snapshot(model)
    report = _quiet(model, torch.randn(2, 4), measure=True, warmup=0, repeat=1)
    assert [r.path for r in report.layers] == ["", "encoder", "encoder.0", "encoder.0.0", "encoder.0.1", "encoder.0.2",
                                               "encoder.1", "head"]
    assert report.row("encoder.0.0").calls == 2 and report.row("encoder").type == "Sequential"
    assert report.total.macs == 2 * MLP_MACS + lin_macs(2, 3, 2)
    assert report.total.params == MLP_PARAMS + 3 * 2 + 2 == sum(p.numel() for p in model.parameters())
    assert report.row("encoder").params == MLP_PARAMS
    assert torchcount.measure.details(report, "encoder.0.2")["inclusive_ms"] > 0
    compiled = [n for n in report.notes if "torch.compile'd" in n]
    assert compiled == ["torch.compile'd submodule(s) encoder, encoder.0, head: each profiled as its original module, "
                        "eagerly, under the path shown (its state_dict keys keep '_orig_mod.'); compiled kernels "
                        "may fuse ops and run faster, the counts are the same"]
    assert type(model.encoder).__name__ == "OptimizedModule" and model.again is model.encoder
    assert list(model.state_dict()) == keys and snapshot(model) == before
    assert torch._dynamo.utils.counters["frames"]["total"] == 0  # nothing was compiled


def test_a_compiled_submodule_is_put_back_when_the_forward_raises():
    from test_state import snapshot

    model = _WithCompiledParts()
    model.head = torch.compile(nn.Linear(5, 2))  # a width mismatch: fails in head
    before = snapshot(model)
    with pytest.raises(torchcount.ForwardError, match="module 'head' \\(Linear\\)"):
        _quiet(model, torch.randn(2, 4))
    assert snapshot(model) == before and type(model.head).__name__ == "OptimizedModule"


def test_data_parallel_wrapper():
    wrapped = nn.DataParallel(_mlp())
    report = torchcount.profile(wrapped, torch.randn(2, 4))
    assert report.total.macs == MLP_MACS
    assert report.total.params == MLP_PARAMS
    assert report.complete
    assert any("DataParallel" in n for n in report.notes)


def test_distributed_data_parallel_wrapper_single_process_gloo():
    import torch.distributed as dist

    if not dist.is_available():
        pytest.skip("torch.distributed not available in this build")
    created = False
    if not dist.is_initialized():
        try:  # an in-process store: no port to find (a TCP store once hung a full run here for minutes)
            dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
        except Exception as exc:  # noqa: BLE001
            pytest.skip(f"cannot start a single-process gloo group: {exc}")
        created = True
    try:
        model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 3))
        ddp = nn.parallel.DistributedDataParallel(model)
        bn_before = model[1].running_mean.clone()
        report = torchcount.profile(ddp, torch.randn(2, 4))
        assert report.total.macs == MLP_MACS
        assert report.total.params == MLP_PARAMS + 2 * 8
        assert any("DistributedDataParallel" in n for n in report.notes)
        assert torch.equal(model[1].running_mean, bn_before)
    finally:
        # the DDP (its Reducer) freed while its process group lives: freed after destroy_process_group
        # (when this frame is cleared), the group's destructor deadlocked in gloo (a full run hung, 2026-12-04)
        ddp = report = None
        gc.collect()
        if created:
            dist.destroy_process_group()


# ---- quantized ------------------------------------------------------------------------------


def _dynamic_quantized(model, dtype=torch.qint8):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=dtype)


def test_dynamic_quantized_linear():
    q = _dynamic_quantized(nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 4)))
    rows = 5
    report = torchcount.profile(q, torch.randn(rows, 16))
    assert report.complete
    assert report.row("0").rule == "quantized.dynamic_quantized_linear"
    assert report.total.macs == lin_macs(rows, 16, 8) + lin_macs(rows, 8, 4)
    # packed int8 weights are parameters too (not nn.Parameter): 16·8 + 8 and 8·4 + 4
    assert report.total.params == 16 * 8 + 8 + 8 * 4 + 4
    cost = report.row("0").cost
    assert cost.cmps == 2 * rows * 16  # min and max of the input, for its scale
    assert cost.mults == rows * 16 + rows * 8  # quantize input, dequantize output
    assert cost.adds == rows * 8  # float bias
    # the flops convention: 2 per MAC + every other op
    assert report.row("0").flops == 2 * lin_macs(rows, 16, 8) + 2 * rows * 16 + rows * 16 + rows * 8 + rows * 8


def test_scripted_quantized_model_counts_its_packed_weights():
    # a TorchScript module's _weight_bias is its instance's method, not its type's: a scripted static
    # int8 model (a conv, a Linear) and a scripted dynamic int8 one read 0 parameters; the eager ones
    # 4·3·3·3 + 4 + 2·4 + 2 = 122 and 16·8 + 8 + 8·4 + 4 = 172
    import torch.ao.quantization as tq

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.quant, self.dequant = tq.QuantStub(), tq.DeQuantStub()
            self.conv, self.fc = nn.Conv2d(3, 4, 3), nn.Linear(4, 2)

        def forward(self, x):
            return self.dequant(self.fc(self.conv(self.quant(x)).mean((2, 3))))

    x = torch.randn(1, 3, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        static = Net().eval()
        static.qconfig = tq.get_default_qconfig("fbgemm")
        tq.prepare(static, inplace=True)
        static(x)
        tq.convert(static, inplace=True)
        scripted = torch.jit.script(static)
    assert torchcount.profile(static, x).total.params == 122
    report = _quiet(scripted, x)
    assert report.total.params == 122 and report.total.frozen_params == 122
    dynamic = _dynamic_quantized(nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 4)))
    assert _quiet(torch.jit.script(dynamic), torch.randn(2, 16)).total.params == 172
    # a scripted dynamic quantized LSTM does not export _weight_bias: 4·8·(5 + 8) + 2·4·8 = 480 (was 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lstm = torch.ao.quantization.quantize_dynamic(nn.Sequential(nn.LSTM(5, 8)), {nn.LSTM}, dtype=torch.qint8)
    assert _quiet(torch.jit.script(lstm), torch.randn(3, 1, 5)).total.params == 4 * 8 * (5 + 8) + 2 * 4 * 8


def test_pt2e_quantize_dequantize_ops_are_counted():
    # convert_pt2e's graphs run float ops between quantized_decomposed quantize/dequantize pairs: they
    # were uncounted (5 of the 6 ops here). One multiplication per element, as aten's
    # quantize_per_tensor / dequantize: 48 + 48 (input), 4·3·3·3 = 108 (weight), 16 + 16 (output 1×4×2×2)
    pytest.importorskip("torch.ao.quantization.fx._decomposed")  # registers the quantized_decomposed ops
    qd = torch.ops.quantized_decomposed

    class Pt2eConv(nn.Module):
        def __init__(self):
            super().__init__()
            w = torch.randn(4, 3, 3, 3)
            scale, zero = w.abs().amax((1, 2, 3)) / 127, torch.zeros(4, dtype=torch.int64)
            self.register_buffer("w_int8", qd.quantize_per_channel(w, scale, zero, 0, -128, 127, torch.int8))
            self.register_buffer("w_scale", scale)
            self.register_buffer("w_zero", zero)

        def forward(self, x):
            x = qd.dequantize_per_tensor(qd.quantize_per_tensor(x, 0.02, 128, 0, 255, torch.uint8),
                                         0.02, 128, 0, 255, torch.uint8)
            w = qd.dequantize_per_channel(self.w_int8, self.w_scale, self.w_zero, 0, -128, 127, torch.int8)
            y = nn.functional.conv2d(x, w)
            return qd.dequantize_per_tensor(qd.quantize_per_tensor(y, 0.05, 0, 0, 255, torch.uint8),
                                            0.05, 0, 0, 255, torch.uint8)

    report = torchcount.profile(Pt2eConv(), torch.randn(1, 3, 4, 4))
    assert report.complete, [u.what for u in report.uncounted]
    assert report.total.macs == 4 * 3 * 3 * 3 * 2 * 2
    assert report.total.cost.mults == 48 + 48 + 108 + 16 + 16


def test_dynamic_quantized_layers_each_count_their_packed_weights():
    # _weight_bias() unpacks new tensors on every call; when one was freed before the next
    # layer's was made, the id could repeat and that layer's weight was skipped as "shared"
    # (a 6-layer stack came out short in most of 20 profiles)
    for _ in range(10):
        q = _dynamic_quantized(nn.Sequential(*[nn.Linear(8, 8) for _ in range(6)]))
        report = torchcount.profile(q, torch.randn(2, 8))
        assert [report.row(str(i)).params for i in range(6)] == [8 * 8 + 8] * 6
        assert report.total.params == 6 * (8 * 8 + 8)
        assert report.total.param_bytes == 6 * (8 * 8 * 1 + 8 * 4)  # int8 weights, float32 biases


def test_packed_weights_of_a_dynamic_quantized_lstm_and_a_quantized_embedding_are_parameters():
    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(5, 8)
            self.lin = nn.Linear(8, 3)

        def forward(self, x):
            return self.lin(self.lstm(x)[0])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # quantize_dynamic's deprecation
        q = torch.ao.quantization.quantize_dynamic(Tagger(), {nn.LSTM, nn.Linear}, dtype=torch.qint8)
        report = torchcount.profile(q, torch.randn(4, 2, 5))
    lstm_params = 4 * 8 * (5 + 8) + 2 * 4 * 8  # W_ih, W_hh and both biases (were 0)
    assert report.row("lstm").params == lstm_params
    assert report.total.params == lstm_params + 8 * 3 + 3
    assert report.complete
    table = torch.ao.nn.quantized.Embedding(10, 4)
    report = torchcount.profile(table, torch.tensor([1, 2, 3]))
    assert report.total.params == 10 * 4
    assert report.total.param_bytes == 10 * 4  # quint8
    assert report.complete and report.row("").rule == "quantized.quantized_embedding"
    cost = report.total.cost
    assert (cost.mults, cost.adds) == (3 * 4, 3 * 4)  # q·scale + offset per element looked up


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_dynamic_quantized_rnn_is_the_float_layer_plus_its_quantization(kind):
    # the fused quantized_lstm / quantized_gru kernels were uncounted. Per layer, direction and
    # step, each of the two gate products quantizes its input (I, or the state H: 2 cmps + 1 mult
    # per element) and dequantizes its G·H results (1 mult each)
    T, N, I, H, layers, dirs = 6, 2, 5, 8, 2, 2
    G = {"LSTM": 4, "GRU": 3}[kind]
    # (quantize_dynamic swaps submodules only: the layer sits in a Sequential)
    float_model = nn.Sequential(getattr(nn, kind)(I, H, num_layers=layers, bidirectional=True)).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = torch.ao.quantization.quantize_dynamic(float_model, {getattr(nn, kind)}, dtype=torch.qint8)
        half = torch.ao.quantization.quantize_dynamic(float_model, {getattr(nn, kind)}, dtype=torch.float16)
    x = torch.randn(T, N, I)
    f, r, r16 = (torchcount.profile(m, x) for m in (float_model, q, half))
    assert r.complete and r16.complete
    assert r.row("0").rule == "quantized.dynamic_quantized_rnn"
    assert r.total.macs == f.total.macs == sum(dirs * G * H * (i + H) * T * N for i in (I, H * dirs))
    assert r.total.params == f.total.params == r16.total.params
    # fp16 weights: no activation quantization (only the bytes read differ: 2-byte weights)
    assert r16.total.cost.with_bytes(0, 0) == f.total.cost.with_bytes(0, 0)
    inputs = sum(dirs * (i + H) * T * N for i in (I, H * dirs))  # elements quantized, all layers
    results = layers * 2 * dirs * G * H * T * N
    assert r.total.cost.cmps - f.total.cost.cmps == 2 * inputs
    assert r.total.cost.mults - f.total.cost.mults == inputs + results
    assert r.row("0").extra["steps"] == f.row("0").extra["steps"] == layers * T


class _QuantizedFunctional(nn.Module):
    """Quantized ops called as functions (torch.ao.nn.quantized.functional; FX lowers F.linear and
    F.conv2d to the same ops, with the packed weight as an attribute): no module rule runs."""

    def __init__(self):
        super().__init__()
        self.conv_w = torch.quantize_per_channel(torch.randn(8, 3, 3, 3), torch.full((8,), 0.1),
                                                 torch.zeros(8, dtype=torch.long), 0, torch.qint8)
        self.fc_w = torch.quantize_per_tensor(torch.randn(5, 8 * 8 * 8), 0.1, 0, torch.qint8)
        self.fc = torch.ops.quantized.linear_prepack(self.fc_w, torch.zeros(5))

    def forward(self, qx):
        import torch.ao.nn.quantized.functional as qF

        y = qF.conv2d(qx, self.conv_w, torch.zeros(8), stride=2, padding=1, scale=0.1, zero_point=0)
        y = torch.ops.quantized.linear(y.reshape(1, -1), self.fc, 0.1, 0)
        return torch.ops.quantized.linear_dynamic(y.dequantize(), self.fc2)


def test_functional_quantized_conv_and_linear_ops():
    """Were uncounted (0 MACs). conv: 8·3·3·3 weights × 8·8 output positions, 8·8·8 bias adds and
    requantizations; static linear: 512·5 MACs, 5 bias adds, 5 requantizations; dynamic linear
    (int8, 5 → 4, no bias): 20 MACs, 2·5 range comparisons, 5 quantizations, 4 dequantizations."""
    engine = torch.backends.quantized.engine
    torch.backends.quantized.engine = "fbgemm" if "fbgemm" in torch.backends.quantized.supported_engines \
        else torch.backends.quantized.supported_engines[-1]
    try:
        model = _QuantizedFunctional()
        model.fc2 = torch.ops.quantized.linear_prepack(torch.quantize_per_tensor(torch.randn(4, 5), 0.1, 0, torch.qint8))
        qx = torch.quantize_per_tensor(torch.randn(1, 3, 16, 16), 0.1, 0, torch.quint8)
        report = torchcount.profile(model, qx)
    finally:
        torch.backends.quantized.engine = engine
    assert report.complete, report.uncounted
    conv_out = 8 * 8 * 8
    assert report.total.macs == 8 * 3 * 3 * 3 * 8 * 8 + 512 * 5 + 5 * 4
    cost = report.total.cost
    assert cost.adds == conv_out + 5
    assert cost.cmps == 2 * 5
    # requantizations (conv, static linear), dynamic quantization and dequantization, and the
    # explicit dequantize() between them
    assert cost.mults == conv_out + 5 + 5 + 4 + 5


class _QuantizedActivations(nn.Module):
    """Activations run on a quantized tensor, as torchvision's quantized MobileNetV3 runs its
    squeeze-excitation's nn.Hardsigmoid: as modules and as functions."""

    def __init__(self):
        super().__init__()
        self.hardsigmoid, self.sigmoid, self.relu = nn.Hardsigmoid(), nn.Sigmoid(), nn.ReLU()

    def forward(self, q):
        return self.hardsigmoid(q), self.sigmoid(q), self.relu(q), torch.tanh(q)


def test_activations_on_quantized_tensors_count_their_requantization():
    """ATen's qhardsigmoid, qsigmoid and qtanh kernels dequantize each element, apply the float
    function and quantize the result to a fixed output scale (1/256, 2/256 for tanh): one
    multiplication per output element besides the recipe, as quantized::hardswish counts it; qrelu
    compares the integers with the zero point and keeps the input's scale: no requantization. The
    recipes are the float ones (hardsigmoid 1 add + 2 cmps + 1 div, sigmoid 1 exp + 1 add + 1 div,
    tanh 1 transc). Until 2026-12-06 the three counted no multiplication at all (24 × 3 missing here)."""
    q = torch.quantize_per_tensor(torch.randn(2, 3, 4), 0.1, 128, torch.quint8)
    report = torchcount.profile(_QuantizedActivations(), q)
    assert report.complete
    n = 24
    assert report.row("hardsigmoid").cost.mults == n
    assert report.row("sigmoid").cost.mults == n
    assert report.row("relu").cost.mults == 0
    assert (report.total.cost.mults, report.total.cost.adds, report.total.cost.transc) == (3 * n, 2 * n, 2 * n)
    # the same float activations on a float tensor: no requantization
    assert torchcount.profile(_QuantizedActivations(), torch.randn(2, 3, 4)).total.cost.mults == 0


def test_quantized_add_mul_cat_and_their_relu_forms_by_hand():
    """quantized::add / add_relu / mul / mul_relu / cat / cat_relu on int8 tensors of n = 24 elements
    (48 for the concatenation): add 1 addition + 1 requantization per element, mul 1 multiplication +
    1 requantization, cat 1 requantization; the _relu forms add ReLU's 1 comparison + 1 assignment."""
    qops = torch.ops.quantized
    a = torch.quantize_per_tensor(torch.randn(2, 3, 4), 0.1, 128, torch.quint8)
    b = torch.quantize_per_tensor(torch.randn(2, 3, 4), 0.1, 128, torch.quint8)

    class Ops(nn.Module):
        def __init__(self, fn):
            super().__init__()
            self.fn = fn

        def forward(self, x, y):
            return self.fn(x, y)

    def ops(fn):
        report = torchcount.profile(Ops(fn), (a, b))
        assert report.complete, report.uncounted
        c = report.total.cost
        return {k: getattr(c, k) for k in ("adds", "mults", "cmps", "assigns") if getattr(c, k)}

    n, relu = 24, {"cmps": 24, "assigns": 24}
    assert ops(lambda x, y: qops.add(x, y, 0.2, 128)) == {"adds": n, "mults": n}
    assert ops(lambda x, y: qops.add_relu(x, y, 0.2, 128)) == {"adds": n, "mults": n, **relu}
    assert ops(lambda x, y: qops.mul(x, y, 0.2, 128)) == {"mults": 2 * n}
    assert ops(lambda x, y: qops.mul_relu(x, y, 0.2, 128)) == {"mults": 2 * n, **relu}
    assert ops(lambda x, y: qops.cat([x, y], 0, 0.2, 128)) == {"mults": 2 * n}
    assert ops(lambda x, y: qops.cat_relu([x, y], 0, 0.2, 128)) == {"mults": 2 * n, "cmps": 2 * n, "assigns": 2 * n}


def test_quantized_norm_ops_are_the_float_norms_plus_a_requantization():
    """quantized::group_norm, instance_norm and layer_norm (called as ops, no module rule): the float
    op's terms (F.group_norm's; instance norm is group norm with one channel per group) plus one
    requantization (1 mult) per element, n = 2·6·3·3 = 108."""
    qops = torch.ops.quantized
    x = torch.randn(2, 6, 3, 3)
    q = torch.quantize_per_tensor(x, 0.1, 128, torch.quint8)
    w, b = torch.rand(6), torch.rand(6)

    class Op(nn.Module):
        def __init__(self, fn):
            super().__init__()
            self.fn = fn

        def forward(self, t):
            return self.fn(t)

    def ops(fn, t):
        report = torchcount.profile(Op(fn), t)
        assert report.complete, report.uncounted
        c = report.total.cost
        return {k: getattr(c, k) for k in ("adds", "mults", "divs", "transc", "cmps", "assigns")}

    def plus_requantization(c):
        return {**c, "mults": c["mults"] + 108}

    F = torch.nn.functional
    assert ops(lambda t: qops.group_norm(t, 3, w, b, 1e-5, 0.1, 128), q) == \
        plus_requantization(ops(lambda t: F.group_norm(t, 3, w, b), x))
    assert ops(lambda t: qops.instance_norm(t, w, b, 1e-5, 0.1, 128), q) == \
        plus_requantization(ops(lambda t: F.group_norm(t, 6, w, b), x))
    assert ops(lambda t: qops.layer_norm(t, [3, 3], None, None, 1e-5, 0.1, 128), q) == \
        plus_requantization(ops(lambda t: F.layer_norm(t, [3, 3]), x))


def test_gelu_op_on_a_quantized_tensor_counts_its_requantization():
    """F.gelu on a quantized tensor (ATen's qgelu: dequantize, the float GELU, quantize): the float
    recipe, 0.5·x·(1 + erf(x/√2)) = 3 mults + 1 add + 1 erf per element, plus one requantization
    (1 mult) per element; on a float tensor none."""
    n = 24
    q = torch.quantize_per_tensor(torch.randn(2, 3, 4), 0.1, 128, torch.quint8)
    class Functional(nn.Module):
        def forward(self, t):
            return torch.nn.functional.gelu(t)

    for x, requantized in ((q, n), (torch.randn(2, 3, 4), 0)):
        report = torchcount.profile(Functional(), x)
        assert report.complete, report.uncounted
        c = report.total.cost
        assert (c.mults, c.adds, c.transc) == (3 * n + requantized, n, n)


def test_eager_int8_modules_with_ops_of_their_own_are_counted():
    """torch.ao.nn.quantized's other modules run quantized:: ops that were all uncounted until
    2026-12-06. Each is the float layer's terms plus one requantization (1 mult) per element, but for
    relu6, which clamps the integers. n = 2·3·4·4 = 96 elements, by hand: leaky_relu 1 cmp + 1 mult +
    1 assign; sigmoid 1 exp + 1 add + 1 div; relu6 2 cmps + 1 assign; softmax over the last dim (24 rows
    of 4) 24·3 cmps, 24·4 + 24·3 adds, 96 exps, 96 divs; LayerNorm([4]) 24 rows of 4: adds 24·3 (mean)
    + 96 (x − mean) + 24·3 (variance) + 24 (eps) + 96 (β), mults 96 (squares) + 96 (× 1/σ) + 96 (γ);
    eval BatchNorm2d(3): adds 3 (eps) + 96 (x − mean) + 96 (β), mults 96 + 96, 3 rsqrt;
    QFunctional.matmul (2, 3, 5) @ (2, 5, 4): 2·3·4·5 = 120 MACs, 24 requantizations."""
    import torch.ao.nn.quantized as nnq

    n = 96
    q = torch.quantize_per_tensor(torch.randn(2, 3, 4, 4), 0.1, 128, torch.quint8)

    def cost(module, *inputs):
        report = torchcount.profile(module.eval(), inputs if len(inputs) > 1 else inputs[0])
        assert report.complete, report.uncounted
        c = report.total.cost
        return {k: getattr(c, k) for k in ("macs", "mults", "adds", "divs", "cmps", "assigns", "transc")
                if getattr(c, k)}

    assert cost(nnq.LeakyReLU(0.1, 0, negative_slope=0.2), q) == {"mults": n + n, "cmps": n, "assigns": n}
    assert cost(nnq.Sigmoid(0.1, 0), q) == {"mults": n, "adds": n, "divs": n, "transc": n}
    assert cost(nnq.ReLU6(), q) == {"cmps": 2 * n, "assigns": n}
    assert cost(nnq.Softmax(dim=-1, scale=0.1, zero_point=0), q) == {
        "mults": n, "adds": 24 * 4 + 24 * 3, "divs": n, "cmps": 24 * 3, "transc": n}
    ones, zeros = nn.Parameter(torch.ones(4)), nn.Parameter(torch.zeros(4))
    assert cost(nnq.LayerNorm([4], ones, zeros, 0.1, 0), q) == {
        "mults": 3 * n + n, "adds": 24 * 3 + n + 24 * 3 + 24 + n, "divs": 2 * 24, "transc": 24}
    assert cost(nnq.BatchNorm2d(3), q) == {"mults": 2 * n + n, "adds": 3 + n + n, "transc": 3}

    class MatMul(nn.Module):
        def __init__(self):
            super().__init__()
            self.f = nnq.QFunctional()

        def forward(self, a, b):
            return self.f.matmul(a, b)

    a = torch.quantize_per_tensor(torch.randn(2, 3, 5), 0.1, 128, torch.quint8)
    b = torch.quantize_per_tensor(torch.randn(2, 5, 4), 0.1, 128, torch.quint8)
    assert cost(MatMul(), a, b) == {"macs": 2 * 3 * 4 * 5, "mults": 2 * 3 * 4}


@pytest.mark.skipif("onednn" not in torch.backends.quantized.supported_engines, reason="oneDNN's fused int8 ops")
def test_onednn_fused_int8_conv_add_and_linear_activations_are_counted():
    """oneDNN's fused modules run ops of their own, uncounted (0 MACs) until 2026-12-06:
    ConvAdd2d(4, 4, 3, padding=1) on 2×4×6×6 is 2·4·4·9·36 = 10,368 MACs, per output (288) a bias add,
    the accumulator's add and a requantization (ConvAddReLU2d: + the ReLU); LinearLeakyReLU(4, 5) and
    LinearTanh(4, 5) on 3 rows are 60 MACs, 15 bias adds, 15 requantizations and the activation
    (leaky: 1 cmp + 1 mult + 1 assign; tanh: 1 transc) per output."""
    import torch.ao.nn.intrinsic.quantized as nniq

    engine = torch.backends.quantized.engine
    torch.backends.quantized.engine = "onednn"
    try:
        q = torch.quantize_per_tensor(torch.randn(2, 4, 6, 6), 0.1, 128, torch.quint8)
        acc = torch.quantize_per_tensor(torch.randn(2, 4, 6, 6), 0.1, 128, torch.quint8)
        rows = torch.quantize_per_tensor(torch.randn(3, 4), 0.1, 128, torch.quint8)
        reports = [torchcount.profile(nniq.ConvAdd2d(4, 4, 3, padding=1).eval(), (q, acc)),
                   torchcount.profile(nniq.ConvAddReLU2d(4, 4, 3, padding=1).eval(), (q, acc)),
                   torchcount.profile(nniq.LinearLeakyReLU(4, 5, 0.1).eval(), rows),
                   torchcount.profile(nniq.LinearTanh(4, 5).eval(), rows)]
    finally:
        torch.backends.quantized.engine = engine
    assert all(r.complete for r in reports), [r.uncounted for r in reports]
    add, add_relu, leaky, tanh = (r.total.cost for r in reports)
    assert (add.macs, add.adds, add.mults, add.cmps) == (2 * 4 * 4 * 9 * 36, 2 * 288, 288, 0)
    assert (add_relu.macs, add_relu.adds, add_relu.mults, add_relu.cmps, add_relu.assigns) == (10_368, 576, 288, 288, 288)
    assert (leaky.macs, leaky.adds, leaky.mults, leaky.cmps, leaky.transc) == (60, 15, 15 + 15, 15, 0)
    assert (tanh.macs, tanh.adds, tanh.mults, tanh.cmps, tanh.transc) == (60, 15, 15, 0, 15)


def test_quantized_embedding_bag_dequantizes_each_row_looked_up_then_sums_each_bag():
    """nnq.EmbeddingBag(10, 4), 5 look-ups in 2 bags (offsets 0, 2): each of the 5·4 looked-up elements
    dequantized, q·scale + offset (20 mults, 20 adds), the bags summed ((5 − 2)·4 = 12 adds); with
    per-sample weights 20 mults more. Its op (quantized::embedding_bag_byte) was uncounted until
    2026-12-06."""
    import torch.ao.nn.quantized as nnq

    bag = nnq.EmbeddingBag(10, 4, mode="sum").eval()
    indices, offsets = torch.tensor([1, 2, 3, 4, 5]), torch.tensor([0, 2])
    plain = torchcount.profile(bag, (indices, offsets))
    weighted = torchcount.profile(bag, (indices, offsets, torch.rand(5)))
    assert plain.complete and weighted.complete
    assert (plain.total.cost.mults, plain.total.cost.adds, plain.total.params) == (20, 20 + 12, 40)
    assert (weighted.total.cost.mults, weighted.total.cost.adds) == (20 + 20, 32)


def test_dynamic_quantized_cells():
    N, I, H = 3, 5, 8
    for kind, G in (("LSTMCell", 4), ("GRUCell", 3), ("RNNCell", 1)):
        float_cell = getattr(nn, kind)(I, H)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            q = torch.ao.quantization.quantize_dynamic(nn.Sequential(float_cell), {getattr(nn, kind)},
                                                       dtype=torch.qint8)
        x = torch.randn(N, I)
        f, r = torchcount.profile(nn.Sequential(float_cell), x), torchcount.profile(q, x)
        assert r.complete, kind
        assert r.total.macs == f.total.macs == N * G * H * (I + H)
        assert r.total.params == f.total.params == G * H * (I + H) + 2 * G * H  # packed weights, both biases
        assert r.total.cost.cmps - f.total.cost.cmps == 2 * N * (I + H)
        assert r.total.cost.mults - f.total.cost.mults == N * (I + H) + 2 * N * G * H


def test_dynamic_quantized_fp16_linear_has_no_activation_quantization():
    q = _dynamic_quantized(nn.Sequential(nn.Linear(6, 3)), dtype=torch.float16)
    report = torchcount.profile(q, torch.randn(2, 6))
    cost = report.row("0").cost
    assert cost.macs == lin_macs(2, 6, 3)
    assert (cost.cmps, cost.mults, cost.adds) == (0, 0, 2 * 3)


# ---- memory formats and dtypes ----------------------------------------------------------------


def conv_macs(n, c_in, c_out, k, out_hw):
    return n * c_out * c_in * k * k * out_hw * out_hw


def test_channels_last():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU()).to(memory_format=torch.channels_last)
    x = torch.randn(2, 3, 10, 10).to(memory_format=torch.channels_last)
    report = torchcount.profile(model, x)
    assert report.row("0").macs == conv_macs(2, 3, 8, 3, 8)
    assert report.row("0").output_shapes == [(2, 8, 8, 8)]
    assert x.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("dtype, itemsize", [(torch.float16, 2), (torch.bfloat16, 2), (torch.float64, 8)])
def test_float_dtypes_same_counts_bytes_scale(dtype, itemsize):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 5)).to(dtype)
    report = torchcount.profile(model, torch.randn(1, 3, 6, 6, dtype=dtype))
    assert report.total.macs == conv_macs(1, 3, 4, 3, 4) + lin_macs(1, 64, 5)
    assert report.total.param_bytes == itemsize * (3 * 4 * 9 + 4 + 64 * 5 + 5)
    # the conv reads its input and weights, writes its output: bytes follow the dtype
    row = report.row("0")
    assert row.cost.bytes_written == itemsize * 4 * 4 * 4


def test_complex_tensors():
    model = nn.Sequential(nn.Linear(4, 3, dtype=torch.complex64))
    report = torchcount.profile(model, torch.randn(2, 4, dtype=torch.complex64))
    assert report.total.macs == 4 * lin_macs(2, 4, 3)  # a complex MAC is 4 real MACs (tests/test_complex.py)
    assert report.total.param_bytes == 8 * (4 * 3 + 3)


def test_rules_use_the_training_flag_of_the_call_not_the_one_after_the_forward():
    """A forward that flips a child's mode after calling it: the call ran in eval mode, so
    BatchNorm is priced with running statistics (per element 1 subtraction, 1 multiplication,
    plus the affine pair; per channel 1 eps-add and 1 rsqrt), and dropout as the identity."""
    class FlipsAfter(nn.Module):
        def __init__(self):
            super().__init__()
            self.bn = nn.BatchNorm1d(4)
            self.drop = nn.Dropout(0.5)

        def forward(self, x):
            y = self.drop(self.bn(x))
            self.bn.train()
            self.drop.train()
            return y

    model = FlipsAfter().eval()
    report = torchcount.profile(model, torch.randn(3, 4))
    elements, channels = 3 * 4, 4
    bn = report.row("bn").cost
    assert (bn.adds, bn.mults, bn.transc) == (channels + 2 * elements, 2 * elements, channels)
    assert report.row("drop").cost.ops == 0
    assert not model.bn.training  # and the flags are restored


def test_a_tensor_registered_twice_counts_once_in_every_total_and_row():
    """One Parameter under two names in one module, one buffer on two modules, one module
    under two parents: parameters, buffers and their bytes are each counted once."""
    class Tied(nn.Module):
        def __init__(self, table: torch.Tensor):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(4, 4))
            self.alias = self.weight  # the same Parameter again
            self.register_buffer("table", table)

        def forward(self, x):
            return x @ self.weight + self.table

    table = torch.zeros(4)
    shared = nn.Linear(4, 4)
    model = nn.Sequential(Tied(table), Tied(table), nn.Sequential(shared), nn.Sequential(shared))
    report = torchcount.profile(model, torch.randn(2, 4))
    assert report.total.params == 2 * 16 + (16 + 4)
    assert report.total.param_bytes == 4 * report.total.params
    assert report.total.buffers == 4 and report.total.buffer_bytes == 16
    assert report.row("0").params == 16 and report.row("2").params == 20
    assert report.row("").params == report.total.params


def test_a_child_called_through_its_forward_method_is_a_row_and_counted_once():
    """Calling ``self.lin.forward(x)`` skips ``nn.Module.__call__``; the recording wrapper sits
    in ``forward`` itself, so the call is still a row of its own, and its work is not counted
    again among the parent's own ops."""
    class CallsForward(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(8, 4)

        def forward(self, x):
            return self.lin.forward(x) * 2

    report = torchcount.profile(CallsForward(), torch.randn(3, 8))
    assert report.row("lin").calls == 1 and report.row("lin").macs == 3 * 8 * 4
    assert report.total.macs == 3 * 8 * 4
    assert report.row("").self_cost.mults == 3 * 4 and report.row("").self_cost.macs == 0
    assert report.complete


def test_a_submodule_the_forward_builds_and_calls_is_a_layer_of_its_own():
    """A layer built on the first call and called there (``if not hasattr(self, "head"): self.head =
    nn.Linear(8, 5)``) is wrapped as it is added: its row has its call, its rule and its 2·8·5 = 80
    MACs (2·80 + 10 = 170 FLOPs), not "never called" with its work in the row of the module that added
    it (until 2026-12-06), and the same as the next profile's, when it is there from the start. A
    block built whole and then attached (its two Linears already inside), and a Linear added to that
    block afterwards (``add_module``), are wrapped too, each row one call. The new layers' parameters
    are in the total, with a note naming them. Afterwards no wrapper is left on them, nor
    torchcount's registration hook in torch."""
    from torch.nn.modules import module as torch_module

    class BuildsItsHead(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Linear(4, 8)

        def forward(self, x):
            h = self.body(x)
            if not hasattr(self, "head"):
                self.head = nn.Linear(h.shape[-1], 5)
                block = nn.Sequential(nn.Linear(5, 5), nn.ReLU())
                self.tail = block
                block.add_module("last", nn.Linear(5, 3))
            return self.tail(self.head(h))

    hooks = dict(torch_module._global_module_registration_hooks)
    model = BuildsItsHead()
    first = torchcount.profile(model, torch.randn(2, 4))
    second = torchcount.profile(model, torch.randn(2, 4))
    for report in (first, second):
        head = report.row("head")
        assert (head.calls, head.rule, head.macs, head.flops) == (1, "linear.linear", 80, 170)
        assert [report.row(p).calls for p in ("tail", "tail.0", "tail.1", "tail.last")] == [1, 1, 1, 1]
        assert report.row("tail.last").macs == 2 * 5 * 3
        assert report.row("").self_cost.is_zero() and report.complete
        assert not [n for n in report.notes if n.startswith("never called")]
    # (the same work; the first also wrote the new layers' initial weights, bytes in the root's row)
    assert (first.total.macs, first.total.flops) == (second.total.macs, second.total.flops) == (
        2 * (4 * 8 + 8 * 5 + 5 * 5 + 5 * 3), 2 * 2 * (4 * 8 + 8 * 5 + 5 * 5 + 5 * 3) + 2 * (8 + 5 + 5 + 3) + 2 * 5)
    params = (4 * 8 + 8) + (8 * 5 + 5) + (5 * 5 + 5) + (5 * 3 + 3)  # the new layers' too
    assert first.total.params == first.root.params == params
    assert [n for n in first.notes if n.startswith("submodules added by the forward")] == [
        "submodules added by the forward (kept, their parameters counted): head, tail, tail.0, tail.1, tail.last"]
    assert all("forward" not in vars(m) for m in model.modules())
    assert dict(torch_module._global_module_registration_hooks) == hooks


def test_a_module_the_forward_builds_but_does_not_attach_is_not_a_layer():
    """A Linear(4, 3) the forward builds for a throwaway computation, never made a submodule, is
    another model's: not wrapped (it has no row, and nothing of torchcount's is left on it), its
    2·4·3 = 24 MACs in the row of the module that ran it. A forward that attaches a layer and then
    raises leaves no wrapper on it, nor the registration hook."""
    from torch.nn.modules import module as torch_module

    made = []

    class Throwaway(nn.Module):
        def forward(self, x):
            made.append(nn.Sequential(nn.Linear(4, 3)))
            return made[-1](x)

    report = torchcount.profile(Throwaway(), torch.randn(2, 4))
    assert [r.path for r in report.layers] == [""] and report.row("").self_cost.macs == 24
    assert all("forward" not in vars(m) for m in made[0].modules())

    class Raises(nn.Module):
        def forward(self, x):
            self.late = nn.Linear(4, 4)
            self.late(x)
            raise ValueError("no")

    hooks = dict(torch_module._global_module_registration_hooks)
    model = Raises()
    with pytest.raises(Exception, match="no"):
        torchcount.profile(model, torch.randn(2, 4))
    assert "forward" not in vars(model.late) and dict(torch_module._global_module_registration_hooks) == hooks


def test_static_int8_linear_and_conv_by_hand():
    """nnq.Linear(16, 32) on 4 rows: 4·16·32 MACs, a bias addition and a requantization per output
    (4·32 each), (16 + 1)·32 packed parameters; without a bias no addition, 16·32. nnq.Conv2d(3, 8, 3)
    on (2, 3, 8, 8): 2·8·6·6 = 576 outputs of 3·3·3 = 27 MACs, a bias addition and a requantization
    each, 8·27 + 8 parameters; without a bias 8·27. (Only MACs and parameter totals of a whole int8
    ResNet were checked: the bias and requantization lines and the explanation's parameter line were in
    no test.)"""
    import torch.ao.nn.quantized as nnq

    def q(*shape):
        return torch.quantize_per_tensor(torch.randn(*shape), 0.1, 128, torch.quint8)

    for module, x, expected, params in (
            (nnq.Linear(16, 32), q(4, 16), {"macs": 2048, "adds": 128, "mults": 128}, 17 * 32),
            (nnq.Linear(16, 32, bias_=False), q(4, 16), {"macs": 2048, "mults": 128}, 16 * 32),
            (nnq.Conv2d(3, 8, 3), q(2, 3, 8, 8), {"macs": 576 * 27, "adds": 576, "mults": 576}, 8 * 27 + 8),
            (nnq.Conv2d(3, 8, 3, bias=False), q(2, 3, 8, 8), {"macs": 576 * 27, "mults": 576}, 8 * 27)):
        report = torchcount.profile(module.eval(), x)
        c = report.total.cost
        assert report.complete and report.total.params == params
        # the explanation's parameter line says the same number
        assert [t.value for t in report.root.terms if t.category == "params"] == [params]
        assert {k: getattr(c, k) for k in ("macs", "mults", "adds", "divs", "cmps", "assigns", "transc")
                if getattr(c, k)} == expected, module


def test_static_int8_resnet18_is_counted_like_its_float_model():
    # torchvision's quantizable ResNet-18, fused (conv+bn+relu) and converted to int8: every
    # conv's MACs are the float model's; BatchNorm is folded into the convs (γ, β → a bias of k)
    from torchvision.models import quantization

    float_model = quantization.resnet18(weights=None, quantize=False).eval()
    model = quantization.resnet18(weights=None, quantize=False).eval()
    model.fuse_model()
    model.qconfig = torch.ao.quantization.get_default_qconfig("fbgemm")
    x = torch.randn(1, 3, 64, 64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.ao.quantization.prepare(model, inplace=True)
        model(x)  # calibration
        torch.ao.quantization.convert(model, inplace=True)
    report, reference = torchcount.profile(model, x), torchcount.profile(float_model, x)
    assert report.complete, [u.what for u in report.uncounted]
    assert report.total.macs == reference.total.macs
    folded = sum(m.num_features for m in float_model.modules() if isinstance(m, nn.BatchNorm2d))
    assert report.total.params == reference.total.params - folded
    assert report.row("conv1").rule == "quantized.quantized_conv"
    out = report.row("conv1").output_shapes[0]
    assert report.row("conv1").cost.cmps == math.prod(out)  # the fused ReLU


def test_a_module_called_from_outside_its_place_in_the_tree_is_noted():
    class Inner(nn.Module):
        def __init__(self, shared):
            super().__init__()
            self.shared, self.own = shared, nn.Linear(4, 4)

        def forward(self, x):
            return self.own(self.shared(x))

    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.shared = nn.Linear(4, 4)
            self.blk = Inner(self.shared)  # registered at "shared" and called inside "blk" too

        def forward(self, x):
            return self.blk(self.shared(x))

    report = torchcount.profile(Outer(), torch.randn(1, 4))
    assert report.row("shared").calls == 2 and report.total.macs == 3 * 4 * 4
    assert any("outside their place in the module tree: shared" in n for n in report.notes)
    # "blk" called shared (registered at the top): wherever shared is a row, blk's row leaves that
    # call out — its own work where its children are rows too, and at depth 1 (its child "own"
    # hidden) its whole cost less the call — so every depth's rows add up to the total
    assert report.row("shared").called_from == ("blk",)
    for depth in (None, 1, 2):
        shown = visible_rows(report.layers, depth)
        assert sum((r.self_cost if own else r.cost).macs for r, own in shown) == report.total.macs, depth
    blk = next(r for r, own in visible_rows(report.layers, 1) if r.path == "blk")
    assert blk.cost.macs == 4 * 4 and report.row("blk").cost.macs == 2 * 4 * 4  # "own" only; the row keeps both
    # steps: blk's own calls ran shared then own (a chain of 2, its row's), but the depth-1 row stands
    # for its module tree (own alone), which no call's chain holds: the cell is blank, not a wrong 2;
    # shared's row keeps its 2 steps (one per call, both of them its), the total the model's chain of 3
    assert report.row("blk").extra["steps"] == 2 and "steps" not in blk.extra
    table = report.table(depth=1, columns="module,steps").splitlines()
    cells = {line.split()[0]: line.split()[1:] for line in table[4:7]}
    assert cells == {"shared": ["2"], "blk": [], "total": ["3"]}, table


def test_a_module_shared_by_two_parents_or_held_by_reference_adds_up_in_the_table():
    shared = nn.Linear(8, 16)

    class Holder(nn.Module):
        def __init__(self, lin, registered=True):
            super().__init__()
            if registered:
                self.lin = lin
            else:
                self.refs = [lin]  # a plain reference: not a submodule

        def forward(self, x):
            return (self.lin if hasattr(self, "lin") else self.refs[0])(x)

    class Two(nn.Module):
        def __init__(self, registered):
            super().__init__()
            self.a, self.b = Holder(shared), Holder(shared, registered)

        def forward(self, x):
            return self.a(x) + self.b(x)

    for registered in (True, False):
        report = torchcount.profile(Two(registered), torch.randn(4, 8))
        assert report.total.macs == 2 * lin_macs(4, 8, 16)
        for depth in (None, 1, 2):
            rows = visible_rows(report.layers, depth)
            assert sum((r.self_cost if own else r.cost).macs for r, own in rows) == report.total.macs, depth
        # at full depth: the Linear's row holds both calls, b's row no second copy of them
        full = {r.path: (r.self_cost if own else r.cost).macs for r, own in visible_rows(report.layers, None)}
        assert full["a.lin"] == 2 * lin_macs(4, 8, 16) and full.get("b", 0) == 0


# ---- torch.func transforms ----------------------------------------------------------------------


def test_a_ruled_module_inside_vmap_is_priced_for_the_whole_batch():
    # inside torch.vmap a module sees one sample (8 features), so its rule priced one sample:
    # 8·16 = 128 MACs. Its ops see the batch: 4·8·16 = 512 MACs and 4·16 bias additions
    class PerSample(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(8, 16)
            self.act = nn.ReLU()

        def forward(self, x):
            return torch.vmap(lambda t: self.act(self.lin(t)))(x)

    report = torchcount.profile(PerSample(), torch.randn(4, 8))
    assert report.complete
    assert report.total.macs == lin_macs(4, 8, 16)
    assert report.total.cost.adds == 4 * 16
    assert report.total.cost.cmps == 4 * 16  # the ReLU on every element of the batch
    assert report.row("lin").status == "ops"
    assert any("called inside torch.vmap" in n and "act, lin" in n for n in report.notes)
    # nested: vmap over vmap, 3·4 samples
    class Nested(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(8, 2)

        def forward(self, x):
            return torch.vmap(torch.vmap(self.lin))(x)

    assert torchcount.profile(Nested(), torch.randn(3, 4, 8)).total.macs == lin_macs(3 * 4, 8, 2)
    # outside any transform the rule prices it as usual
    plain = torchcount.profile(nn.Linear(8, 16), torch.randn(4, 8))
    assert plain.row("").rule == "linear.linear" and plain.total.macs == lin_macs(4, 8, 16)


def test_a_ruled_module_whose_weights_vmap_batches_is_priced_for_every_model():
    # a model ensemble: functional_call under vmap over 3 stacked weight sets, the input shared
    # (not batched). The first Linear's input is a plain tensor, but its weight is batched: its
    # rule read one model's 8×8 weight and priced 2·8·8 = 128 MACs, not 3 models' 3·2·8·8 = 384
    from torch.func import functional_call, stack_module_state

    models = [nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 4)) for _ in range(3)]
    params, buffers = stack_module_state(models)

    class Ensemble(nn.Module):
        def __init__(self):
            super().__init__()
            self.base = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 4))

        def forward(self, x):
            return torch.vmap(lambda p, b: functional_call(self.base, (p, b), (x,)))(params, buffers)

    report = torchcount.profile(Ensemble(), torch.randn(2, 8))
    assert report.complete
    assert report.row("base.0").macs == 3 * lin_macs(2, 8, 8)
    assert report.total.macs == 3 * (lin_macs(2, 8, 8) + lin_macs(2, 8, 4))
    assert report.row("base.0").status == "ops"


def test_a_forward_set_on_an_instance_is_priced_from_its_ops_not_its_types_rule():
    # the Linear's rule priced 48 MACs and 12 bias adds and dropped the tanh and the scaling
    lin = nn.Linear(4, 4)
    lin.forward = lambda x: torch.tanh(nn.functional.linear(x, lin.weight, lin.bias)) * 3.0
    report = torchcount.profile(nn.Sequential(lin), torch.randn(3, 4))
    cost = report.total.cost
    assert (cost.macs, cost.adds, cost.transc, cost.mults) == (3 * 4 * 4, 3 * 4, 3 * 4, 3 * 4)
    assert report.row("0").status == "ops" and report.complete
    assert any("a forward set on the instance" in n for n in report.notes)
    assert lin.__dict__["forward"] is not None and "forward" in lin.__dict__  # the user's forward is kept


def test_a_subclass_overriding_the_convolution_it_delegates_to_has_no_conv_rule():
    # weight standardisation (BiT, timm's StdConv) overrides _conv_forward and keeps forward
    class StdConv(nn.Conv2d):
        def _conv_forward(self, x, w, b):
            mean = w.mean(dim=(1, 2, 3), keepdim=True)
            return super()._conv_forward(x, w - mean, b)

    report = torchcount.profile(StdConv(3, 4, 3, bias=False), torch.randn(1, 3, 6, 6))
    cost = report.total.cost
    assert cost.macs == 4 * 3 * 3 * 3 * 4 * 4  # the convolution, from its op
    # the mean: 4·26 additions and 4 divisions; w − mean: 4·27 subtractions (were dropped)
    assert (cost.adds, cost.divs) == (4 * 26 + 4 * 27, 4)
    assert report.row("").rule is None


def test_a_module_held_by_reference_inside_a_block_is_not_counted_twice_at_any_depth():
    # CoaT's pattern (timm): blocks call a shared positional encoder held by a plain reference,
    # then their own layers; at depths 1 and 2 the encoder's work was in both rows (+50 % here)
    class Block(nn.Module):
        def __init__(self, encoder):
            super().__init__()
            self.fc = nn.Linear(4, 4, bias=False)
            self.refs = [encoder]

        def forward(self, x):
            return self.fc(self.refs[0](x))

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.pe = nn.Sequential(nn.Linear(4, 4, bias=False))
            self.blocks = nn.Sequential(Block(self.pe), Block(self.pe))

        def forward(self, x):
            return self.blocks(x)

    report = torchcount.profile(Model(), torch.randn(1, 4))
    assert report.total.macs == 4 * 16
    for depth in (None, 1, 2, 3):
        rows = visible_rows(report.layers, depth)
        assert sum((r.self_cost if own else r.cost).macs for r, own in rows) == report.total.macs, depth
    table = report.table(depth=2, convention="macs")
    assert sum(float(line.split()[-1].rstrip("%")) for line in table.splitlines()[4:]
               if line.split() and line.split()[0].isdigit()) == pytest.approx(100.0)


def test_a_module_registered_in_two_blocks_is_named_in_a_note():
    shared = nn.Sequential(nn.Linear(8, 8), nn.ReLU())  # its Linear is listed twice too: named once
    model = nn.Sequential(nn.Sequential(shared, nn.ReLU()), nn.Sequential(shared, nn.GELU()))
    report = torchcount.profile(model, torch.randn(2, 8))
    notes = [n for n in report.notes if n.startswith("modules registered in more than one place")]
    assert len(notes) == 1 and notes[0].endswith(": 0.0 = 1.0")
    # the params column at depth 1 holds them in both blocks, as the note says; the cost adds up
    rows = visible_rows(report.layers, 1)
    assert sum(r.params for r, own in rows if not own) == 2 * (8 * 8 + 8) == 2 * report.total.params
    assert sum((r.self_cost if own else r.cost).macs for r, own in rows) == report.total.macs


class _LazyScale(nn.modules.lazy.LazyModuleMixin, nn.Module):
    """A lazy module whose materialisation computes something (as torchaudio's PitchShift
    builds its resampling kernel on its first call)."""

    def __init__(self):
        super().__init__()
        self.scale = nn.UninitializedParameter()

    def initialize_parameters(self, x):
        with torch.no_grad():
            self.scale.materialize(x.shape[-1:])
            self.scale.copy_(torch.arange(x.shape[-1], dtype=x.dtype).exp() * 2 + 1)  # set-up arithmetic

    def forward(self, x):
        return x * self.scale


def test_a_lazy_modules_materialisation_is_set_up_not_the_forwards_work():
    # its initialisation runs in a forward pre-hook: as the root's own hook (or in its parent's
    # frame) it was counted, so a first profile differed from every later one
    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.lazy = _LazyScale()

        def forward(self, x):
            return self.lazy(x) + 1

    for make, extra_adds in ((_LazyScale, 0), (Holder, 4 * 8)):
        model = make()
        first = torchcount.profile(model, torch.randn(4, 8))
        second = torchcount.profile(model, torch.randn(4, 8))
        assert first.total.cost == second.total.cost
        assert (first.total.cost.mults, first.total.cost.adds, first.total.cost.transc) == (4 * 8, extra_adds, 0)
        assert any("lazy parameters materialised" in n for n in first.notes)
        assert not model._forward_pre_hooks  # (the lazy hook removed itself, as it does)


def test_a_lazy_module_never_called_is_named_not_a_crash():
    # a lazy layer the forward never reaches keeps parameters with no size: numel() raises, and the
    # parameter walk failed with torch's "Attempted to use an uninitialized parameter"; now they count
    # 0, a note names them, and the note of materialised ones names only those the forward reached
    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.spare = nn.Linear(4, 4), nn.LazyLinear(3)
            self.late, self.norm = nn.LazyLinear(2), nn.LazyBatchNorm1d()  # (a lazy buffer too)

        def forward(self, x):
            return self.late(self.used(x))

    model = Holder()
    for measure in (False, True):
        options = {"measure": True, "repeat": 1, "warmup": 0} if measure else {}
        report = torchcount.profile(model, torch.randn(2, 4), **options)
        # used 4·4 + 4, late (materialised by the first forward) 4·2 + 2; spare and norm: unknown
        assert report.total.params == 20 + 10
        assert report.total.cost.macs == 2 * 4 * 4 + 2 * 4 * 2
        note = next(n for n in report.notes if "never materialised" in n)
        assert "spare.weight, spare.bias, norm.weight, norm.bias, norm.running_mean" in note
        materialised = [n for n in report.notes if "lazy parameters materialised" in n]
        assert materialised == (["lazy parameters materialised by this forward (kept): late.weight, late.bias"]
                                if not measure else [])  # (the first profile materialised them)
        assert isinstance(model.spare.weight, nn.parameter.UninitializedParameter)  # left as found
        assert "never materialised" in "\n".join(torchcount.load_report(report.to_json()).notes)


def test_a_root_hook_that_calls_a_submodule_is_inside_the_roots_work():
    class Hooked(nn.Module):
        def __init__(self):
            super().__init__()
            self.pre, self.fc = nn.Linear(16, 16), nn.Linear(16, 16)

        def forward(self, x):
            return self.fc(x)

    model = Hooked()
    model.register_forward_pre_hook(lambda module, args: (module.pre(args[0]),))
    report = torchcount.profile(model, torch.randn(4, 16), measure=True, warmup=1, repeat=3)
    assert report.total.macs == 2 * lin_macs(4, 16, 16)
    assert report.root.cost == report.total.cost  # the depth-0 row is the whole model
    from torchcount.measure import details
    per_layer = report.extra["per_layer"]
    for k in range(3):  # the root's time holds the hook's call too: Σ own times = the root's time
        assert sum(d["exclusive_ns"][k] for d in per_layer.values() if "exclusive_ns" in d) == \
            details(report, "")["inclusive_ns"][k]


def test_a_module_list_holding_only_a_module_registered_first_elsewhere():
    # the list's only layer is the one at "0": the list has no row of its own below it, only its
    # parameters (through registration) — the table cut by the module tree looked its figure up
    shared = nn.Linear(4, 4)

    class Loop(nn.Module):
        def __init__(self):
            super().__init__()
            self.items = nn.ModuleList([shared])

        def forward(self, x):
            for layer in self.items:
                x = layer(x)
            return x

    report = torchcount.profile(nn.Sequential(shared, Loop()), torch.randn(2, 4))
    for depth in (None, 1, 2, 3):
        rows = visible_rows(report.layers, depth)
        assert sum((r.self_cost if own else r.cost).macs for r, own in rows) == 2 * lin_macs(2, 4, 4), depth


def test_autocast_same_counts_output_bytes_in_its_dtype_and_a_note():
    """Under CPU autocast (bfloat16) the Linear runs in bf16: the same MACs (4·64·64), its output
    written as bf16 (4·64·2 bytes, not 4·64·4) beside the bf16 copies autocast's casts write of its
    input, weight and bias (tests/test_bytes.py), and a note says autocast was on."""
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU())
    x = torch.randn(4, 64)
    plain = torchcount.profile(model, x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = torchcount.profile(model, x)
    assert mixed.total.macs == plain.total.macs == 4 * 64 * 64
    assert plain.row("0").cost.bytes_written == 4 * 64 * 4
    assert mixed.row("0").cost.bytes_written == 4 * 64 * 2 + (4 * 64 + 64 * 64 + 64) * 2
    assert any(n.startswith("autocast was on (cpu, bfloat16)") for n in mixed.notes)
    assert not any("autocast" in n for n in plain.notes)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_autocast_changes_no_operation_count_and_matches_flop_counter(dtype):
    """Under CPU autocast every category but the bytes is the float32 profile's (layers with a rule
    record their casts there, which must add no operation), coverage stays complete, and the MACs are
    torch.utils.flop_counter's FLOPs ÷ 2 (of the float32 run) for the layers it counts (conv, linear,
    MHA's products)."""
    from torch.utils.flop_counter import FlopCounterMode

    torch.manual_seed(0)
    cases = [
        (nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 3, groups=2),
                       nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(32, 10), nn.Softmax(-1)).eval(),
         (torch.randn(2, 3, 12, 12),)),
        (nn.MultiheadAttention(16, 4, batch_first=True).eval(), (torch.randn(2, 5, 16),) * 3),
        (nn.Sequential(nn.LayerNorm(16), nn.Linear(16, 32), nn.GELU(), nn.Linear(32, 16)), (torch.randn(3, 7, 16),)),
    ]
    for model, xs in cases:
        plain = torchcount.profile(model, xs)
        with torch.autocast("cpu", dtype=dtype):
            mixed = torchcount.profile(model, xs)
        with FlopCounterMode(display=False) as counter:  # (with grad: MHA's fused eval path counts nothing)
            model(*xs)
        ops = [c for c in CATEGORIES if not c.startswith("bytes")]
        assert [getattr(mixed.total.cost, c) for c in ops] == [getattr(plain.total.cost, c) for c in ops]
        assert mixed.complete and plain.complete
        assert mixed.total.macs == counter.get_total_flops() // 2 > 0
        assert mixed.total.cost.bytes_read > plain.total.cost.bytes_read // 2  # (the casts' reads)


def test_autocast_entered_inside_the_forward_is_noted_too():
    """A model that turns autocast on in its own forward (the usual way to write mixed precision into
    a model) gets the same note as one profiled under autocast, naming each dtype it ran in: the note
    used to depend on autocast being on around profile(). Counts are those of the float32 model."""
    class Mixed(nn.Module):
        def __init__(self, dtype):
            super().__init__()
            self.dtype, self.a, self.b = dtype, nn.Linear(16, 16), nn.Linear(16, 4)

        def forward(self, x):
            with torch.autocast("cpu", dtype=self.dtype):
                h = self.a(x)
            with torch.autocast("cpu", dtype=torch.float16):
                return self.b(h)

    x = torch.randn(3, 16)
    from torchcount.capture import autocast_dtype

    with torch.autocast("cpu", dtype=torch.float16):  # (CPU autocast in float16 may be newer than torch 2.2)
        dtypes = "bfloat16, float16" if autocast_dtype("cpu") == torch.float16 else "bfloat16"
    plain = torchcount.profile(nn.Sequential(nn.Linear(16, 16), nn.Linear(16, 4)), x)
    mixed = torchcount.profile(Mixed(torch.bfloat16), x)
    assert mixed.total.macs == plain.total.macs == 3 * 16 * 16 + 3 * 16 * 4
    assert mixed.total.cost.macs == plain.total.cost.macs and mixed.total.flops == plain.total.flops
    noted = [n for n in mixed.notes if n.startswith("autocast was on")]
    assert len(noted) == 1 and noted[0].startswith(f"autocast was on (cpu, {dtypes}):")
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=False):  # off: no note
        assert not any("autocast" in n for n in torchcount.profile(nn.Linear(16, 4), x).notes)


def test_dynamic_quantized_recurrent_ops_are_counted_when_the_module_is_not_seen():
    # inside TorchScript, or held outside the module tree, a dynamic quantized LSTM/GRU or cell is
    # met as its ops (aten.quantized_lstm, quantized::quantized_lstm_cell_dynamic …): counted with
    # the float layer's contraction (they were uncounted). LSTM(16, 32, 2 layers, bidirectional)
    # on 5×2×16: 10 steps; layer 0 4·32·(16 + 32)·10 per direction, layer 1 4·32·(64 + 32)·10
    import torch.ao.quantization as tq
    from conftest import Hidden

    cases = [
        (nn.LSTM(16, 32, 2, bidirectional=True), torch.randn(5, 2, 16),
         2 * (4 * 32 * (16 + 32) * 10 + 4 * 32 * (64 + 32) * 10)),
        (nn.GRU(16, 32), torch.randn(5, 2, 16), 3 * 32 * (16 + 32) * 10),
        (nn.LSTMCell(16, 32), torch.randn(3, 16), 4 * 32 * (16 + 32) * 3),
        (nn.GRUCell(16, 32), torch.randn(3, 16), 3 * 32 * (16 + 32) * 3),
        (nn.RNNCell(16, 32), torch.randn(3, 16), 32 * (16 + 32) * 3),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for layer, x, macs in cases:
            q = tq.quantize_dynamic(nn.Sequential(layer))
            seen, unseen = (torchcount.profile(m, x, warn=False) for m in (q, Hidden(q)))
            assert seen.total.macs == unseen.total.macs == macs, type(layer).__name__
            assert unseen.complete
    # an empty batch (0 rows) steps no cell: nothing, as the module rules count it (the op rule
    # counted one row, 4·32·(16 + 32) = 6,144 MACs for the LSTM cell)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for layer in (nn.LSTMCell(16, 32), nn.GRUCell(16, 32), nn.RNNCell(16, 32, nonlinearity="relu")):
            q = tq.quantize_dynamic(nn.Sequential(layer))
            seen, unseen = (torchcount.profile(m, torch.randn(0, 16), warn=False) for m in (q, Hidden(q)))
            assert unseen.complete and (unseen.total.macs, unseen.total.flops) == (0, 0), type(layer).__name__
            assert (seen.total.macs, seen.total.flops) == (0, 0)


def test_a_module_registered_inside_itself_is_a_clear_error_not_a_recursion_error():
    """A child holding its parent as an attribute registers it as a submodule: a cycle, which
    named_modules() hides and the subtree-parameter walk recursed into until a RecursionError."""
    class Decoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 4)

        def forward(self, x):
            return self.lin(x)

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.dec = Decoder()
            self.dec.owner = self

        def forward(self, x):
            return self.dec(x)

    model = Model()
    with pytest.raises(ValueError, match=r"module 'dec.owner' is the Model at '\(root\)'.*cycle"):
        torchcount.profile(model, torch.randn(2, 4))
    for m in model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks and "forward" not in m.__dict__


def test_a_hook_registered_around_one_call_of_a_sequentials_child_is_counted():
    """A feature extractor registers a forward hook on a layer, runs the backbone, removes it. The
    hook's op runs in the Sequential's forward, where op recording was off (decided when the
    wrapper was made, before the hook existed): it was counted nowhere and the count said complete."""
    class Extractor(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = nn.Sequential(nn.Linear(8, 8), nn.ReLU())

        def forward(self, x):
            handle = self.backbone[1].register_forward_hook(lambda m, i, o: o * 2)
            try:
                return self.backbone(x)
            finally:
                handle.remove()

    r = torchcount.profile(Extractor(), torch.randn(2, 8))
    assert r.total.cost.mults == 16  # the hook's o * 2
    assert r.complete


@pytest.mark.parametrize("wrapper", ["DataParallel", "DistributedDataParallel"])
def test_a_data_parallel_wrapper_with_a_device_moves_the_inputs_there(wrapper):
    """With a GPU, ``nn.DataParallel(model)`` moves the model to its first GPU and its forward
    scatters a CPU batch there (DDP with ``device_ids`` likewise): profiling the wrapped module must
    move the inputs the same way. Seen on an H200, where ``test_data_parallel_wrapper`` failed with
    'mat1 is on cpu, different from other tensors on cuda:0'. Here the wrapper's device attributes
    are set as a GPU machine sets them, with meta standing in for the GPU: the model is on meta, the
    batch on CPU."""
    model = _mlp().to("meta")
    if wrapper == "DataParallel":
        wrapped = nn.DataParallel(model)
        wrapped.device_ids, wrapped.src_device_obj = [0], torch.device("meta")
    else:  # (built without __init__, which needs a process group; these are what the forward reads)
        wrapped = nn.parallel.DistributedDataParallel.__new__(nn.parallel.DistributedDataParallel)
        nn.Module.__init__(wrapped)
        wrapped.module, wrapped.device_ids, wrapped.device_type = model, [torch.device("meta")], "meta"
    x = torch.randn(2, 4)
    report = torchcount.profile(wrapped, x)
    assert report.total.macs == MLP_MACS and report.complete
    assert any("(meta: the inputs moved there" in n for n in report.notes)
    assert x.device.type == "cpu"  # the caller's tensor is not moved


def test_a_data_parallel_wrappers_measured_passes_get_the_moved_inputs_too(monkeypatch):
    """Every measured pass gets fresh copies of the inputs as given: with a wrapper that moves them
    (a GPU's DataParallel), each copy must be moved as the counted inputs were, or the measured passes
    give the GPU weights a CPU batch. The device is stood in by the CPU; the moves are counted."""
    import importlib

    P = importlib.import_module("torchcount.profile")  # (the package exports the function under that name)

    moves = []
    real = P._moved
    monkeypatch.setattr(P, "_scatter_device", lambda m: torch.device("cpu") if isinstance(m, nn.DataParallel) else None)
    monkeypatch.setattr(P, "_moved", lambda call, device: (moves.append(device), real(call, device))[1])
    report = torchcount.profile(nn.DataParallel(_mlp()), torch.randn(2, 4), measure=True, warmup=1, repeat=2)
    assert report.total.macs == MLP_MACS
    # the counted inputs, then one fresh copy per pass: 1 warm-up × 2 kinds, 2 repeats × 2 kinds, the
    # floor-probing pass, memory
    assert len(moves) == 1 + 2 * 1 + 2 * 2 + 1 + 1


@pytest.mark.parametrize("inside_first", [True, False])
def test_a_module_called_inside_a_ruled_parent_and_on_its_own_is_a_row_of_its_own_calls(ruled_block, inside_first):
    """The block's rule covers its fc's call inside it; the model also calls fc directly. Whichever
    came first, fc's row is priced by its own rule for the direct call (2×4 rows · 4 = 32 MACs, 2·4
    bias adds) and the block's row holds its rule's 32 MACs: the row read 'covered' (shown 'in parent')
    when the covered call came first, and by_type found no Linear layer."""
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = ruled_block()

        def forward(self, x):
            return self.block.fc(self.block(x)) if inside_first else self.block(self.block.fc(x))

    report = torchcount.profile(Model(), torch.randn(2, 4))
    fc, block = report.row("block.fc"), report.row("block")
    assert (fc.status, fc.calls, fc.cost.macs, fc.cost.adds) == ("rule", 2, 2 * 4 * 4, 2 * 4)
    assert (block.status, block.cost.macs) == ("rule", 2 * 16)
    assert report.total.macs == 2 * 4 * 4 + 2 * 16
    linear = next(g for g in report.by_type().groups if g.name == "Linear")
    assert (linear.layers, linear.calls, linear.params) == (1, 2, 4 * 4 + 4)
