"""torchcount/capture.py's recording wrappers, op recording and trace, checked by hand where no other
test file reads them (found by mutation testing: each test names what a surviving mutant changed)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from torchcount import capture as cap
from torchcount.capture import describe


# -------------------- describe and Call: what a call's arguments and output are recorded as


def test_an_output_that_is_a_view_of_an_input_is_aliased_and_a_copy_is_not():
    """describe(t, inputs) marks t aliased when it is one of the inputs or looks into one's storage:
    x itself and x.t() (a view whose base is x) write no new memory; x.t().contiguous() and x + 0 are
    new tensors; a view of a tensor the call made itself (y = x + 0; y.t()) is new memory too."""
    x = torch.randn(3, 4)
    assert describe(x, (x,)).aliased
    assert describe(x.t(), (x,)).aliased
    assert describe(x[1:], (x,)).aliased
    assert describe(x.t()[0], (x,)).aliased  # a view of a view: the same base
    assert describe(x.t(), (x.view(12),)).aliased  # an input that is itself a view of the same base
    assert not describe(x.t().contiguous(), (x,)).aliased
    assert not describe(x + 0, (x,)).aliased
    y = x + 0
    assert not describe(y.t(), (x,)).aliased
    assert describe(x.t(), ()).aliased is False


def test_describe_keeps_a_namedtuple_type_and_lists_dicts_dataclasses_as_described():
    """A namedtuple output (a user's) is described as the same type with TensorMeta in its fields,
    so a rule can read its fields by name; a list stays a list, a tuple a tuple,
    a dict a dict and a dataclass a dict of its fields; other values are kept or named."""
    import dataclasses
    from collections import namedtuple

    Pair = namedtuple("Pair", "a b")
    x = torch.zeros(2, 3)
    out = describe(Pair(x, 5))
    assert type(out) is Pair and out.a == cap.TensorMeta((2, 3), torch.float32) and out.b == 5
    m = describe(torch.max(x, 1))  # (a structseq, no namedtuple: a plain tuple)
    assert m == (cap.TensorMeta((2,), torch.float32), cap.TensorMeta((2,), torch.int64))

    @dataclasses.dataclass
    class D:
        t: torch.Tensor
        n: int

    assert describe([x, (x,), {"k": D(x, 1)}]) == [cap.TensorMeta((2, 3), torch.float32),
                                                   (cap.TensorMeta((2, 3), torch.float32),),
                                                   {"k": {"t": cap.TensorMeta((2, 3), torch.float32), "n": 1}}]
    assert describe(torch.float16) is torch.float16 and describe(object()) == "<object>"


def test_a_calls_inputs_are_its_positional_then_its_keyword_tensors():
    """Call.inputs lists every tensor argument, the positional ones first, then the keyword ones
    (a mask given as mask=…): here x (2×3), a list's tensor (3) and mask (2×3, bool), in that order;
    Call.input is the first; a call given only a keyword tensor has it as its input."""
    from torchcount.rules import has_rule

    class Masked(nn.Module):
        def forward(self, x, extra=(), mask=None):
            return x.masked_fill(mask, 0) if mask is not None else x + 1

    class Root(nn.Module):
        def __init__(self):
            super().__init__()
            self.m = Masked()

        def forward(self, x):
            self.m(x, [x[0]], mask=x > 0)
            return self.m(x=x)

    x = torch.randn(2, 3)
    model = Root()
    with cap.capture(model, has_rule) as recorder:
        model(x)
    first, second = recorder.trace.calls[1], recorder.trace.calls[2]
    assert [(t.shape, t.dtype) for t in first.inputs] == [((2, 3), torch.float32), ((3,), torch.float32),
                                                          ((2, 3), torch.bool)]
    assert first.input.shape == (2, 3) and first.input.dtype == torch.float32
    assert [t.shape for t in second.inputs] == [(2, 3)] and second.input.shape == (2, 3)


# -------------------- the recording switch and hooks' ops


def test_op_recording_enters_the_dispatch_mode_once_and_exits_it_at_the_end():
    """The first switch on enters the OpRecorder (TorchDispatchMode.__enter__: torch's 'in a dispatch
    mode' flag set, the mode on its stack); later switches only pop and push it; the capture's end
    exits it (the flag back to False, the stack empty). A rule-less module's forward runs inside it;
    a Linear's (priced by its rule) with the mode popped. Only pushing it, never entered, left torch's
    flag False inside the forward."""
    from torch.utils._python_dispatch import _get_current_dispatch_mode, is_in_torch_dispatch_mode

    from torchcount.rules import has_rule

    seen = []

    class Probe(nn.Module):
        def forward(self, x):
            seen.append((type(self).__name__, is_in_torch_dispatch_mode(), type(_get_current_dispatch_mode()).__name__))
            return x * 2

    model = nn.ModuleList([Probe(), nn.Linear(3, 3), Probe()])

    class Root(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = model

        def forward(self, x):
            for m in self.body:
                x = m(x)
            return x

    root = Root()
    assert not is_in_torch_dispatch_mode()
    with cap.capture(root, has_rule) as recorder:
        root(torch.randn(1, 3))
        assert recorder.entered
    assert seen == [("Probe", True, "OpRecorder")] * 2
    assert [str(op.op) for op in recorder.trace.calls[1].ops] == ["aten.mul.Tensor"]
    assert recorder.trace.calls[2].ops is cap._NONE  # (the Linear: popped meanwhile)
    assert not is_in_torch_dispatch_mode() and _get_current_dispatch_mode() is None
    assert not recorder.entered and not recorder.mode_on


def test_a_hook_that_calls_its_module_again_leaves_each_call_its_own_hook_ops():
    """A Linear's forward hook calls the Linear once more, then doubles what it returns; the second
    call's hook only doubles. The trace has the root's call, the Linear's first call and its second (made
    by the hook, after the first left the stack: the root's child), and each Linear call's hook_ops is
    the one mul its own hook ran. The watch keeps one pending entry per call in progress (the first's
    under the second's): the second's forward returning must open the second's hook region — reading the
    first entry gave both muls to the first call and none to the second."""
    from torchcount.rules import has_rule

    class Root(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 4)

        def forward(self, x):
            return self.lin(x)

    again = [True]

    def hook(module, args, out):
        if again.pop() if again else False:
            out = module(out)
        return out * 2

    model = Root()
    model.lin.register_forward_hook(hook)
    with cap.capture(model, has_rule) as recorder:
        model(torch.randn(2, 4))
    trace = recorder.trace
    assert [(c.path, c.parent_index) for c in trace.calls] == [("", None), ("lin", 0), ("lin", 0)]
    first, second = trace.calls[1], trace.calls[2]
    assert [str(op.op) for op in first.hook_ops] == ["aten.mul.Tensor"]
    assert [str(op.op) for op in second.hook_ops] == ["aten.mul.Tensor"]
    assert sorted(trace.hooked) == [1, 2]
    assert trace.calls[0].ops is cap._NONE or not trace.calls[0].ops  # the root ran nothing itself
