"""torchcount/capture.py's recording wrappers, op recording and trace, checked by hand where no other
test file reads them (found by mutation testing: each test names what a surviving mutant changed)."""
from __future__ import annotations

import copy
import copyreg
import gc

import pytest
import torch
from torch import nn

import torchcount
from torchcount import capture as cap
from torchcount.capture import FunctionMethod, describe


class _WrapsLinear(nn.Module):
    """forward(x) = lin(x), with lin a Linear(n, n)."""

    def __init__(self, n: int):
        super().__init__()
        self.lin = nn.Linear(n, n)

    def forward(self, x):
        return self.lin(x)


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


def test_a_view_of_new_memory_is_not_aliased_to_an_input_that_views_other_memory():
    """An input that is itself a view (x[1:], a slice of the caller's tensor) shares its base's
    storage, not that of a tensor the call makes: (x·2)ᵀ, a view of the call's own product, is new
    memory, in describe and in the call's recorded output (reading 'or' in the check of an input
    view's base took every view input for one sharing the output's storage)."""
    from torchcount.rules import has_rule

    x = torch.randn(3, 4)
    y = x * 2
    assert not describe(y.t(), (x[1:],)).aliased and not describe(y.t(), (x.t(), x[0])).aliased
    assert describe(x[1:].t(), (x[1:],)).aliased  # (a view of the same base: aliased)

    class DoublesTransposed(nn.Module):
        def forward(self, v):
            return (v * 2).t()

    model = DoublesTransposed()
    with cap.capture(model, has_rule) as recorder:
        model(x[1:])
    (call,) = recorder.trace.calls
    assert call.output.shape == (4, 2) and call.output.aliased is False


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


def test_an_expanded_tensor_is_described_by_the_elements_it_stores():
    """A (1, 3) row expanded to (4, 3) holds 3 elements (stride 0 on its first dim): stored 3,
    nbytes 3·4 = 12 in float32, numel still 12; expanded again to (2, 4, 3), still 3; a plain or
    transposed tensor stores all of its elements (stored None: nbytes = numel·4), a 0-d one too."""
    row = torch.randn(1, 3)
    wide = describe(row.expand(4, 3))
    assert (wide.stored, wide.nbytes, wide.numel) == (3, 12, 12)
    assert describe(row.expand(2, 4, 3)).stored == 3
    col = describe(torch.randn(4, 1).expand(4, 5))
    assert (col.stored, col.nbytes) == (4, 16)
    for t in (torch.randn(4, 3), torch.randn(3, 4).t(), torch.tensor(1.0)):
        meta = describe(t)
        assert meta.stored is None and meta.nbytes == t.numel() * 4


def test_a_module_returning_a_sparse_tensor_records_what_it_stores():
    """A module returning a 4×4 matrix with 3 nonzeros as COO: its call's output is described by
    what it stores — layout 'coo', nnz 3, 3 values, indices 2·3 int64 = 48 bytes, coalesced — so
    nbytes = 3·4 + 48 = 60, not the dense 16·4 = 64 (numel stays 16). The plain-tensor shortcut
    taken for it lost the layout."""
    from torchcount.rules import has_rule

    class Sparsify(nn.Module):
        def forward(self, x):
            return x.to_sparse()

    class Root(nn.Module):
        def __init__(self):
            super().__init__()
            self.s = Sparsify()

        def forward(self, x):
            return self.s(x)

    x = torch.zeros(4, 4)
    x[0, 1], x[2, 2], x[3, 0] = 1.0, 2.0, 3.0
    model = Root()
    with cap.capture(model, has_rule) as recorder:
        model(x)
    out = recorder.trace.calls[1].output
    assert out.sparse == cap.SparseLayout("coo", 3, 3, 48, True)
    assert (out.numel, out.nbytes, out.aliased) == (16, 60, False)


def test_an_op_making_a_sparse_tensor_from_a_dense_one_records_what_it_stores():
    """The op to_sparse runs (aten._to_sparse on the 4×4 matrix with 3 nonzeros above, no keyword
    arguments) takes a dense tensor and returns a COO one: its recorded output is 'coo', nnz 3, 48
    index bytes (3·4 + 48 = 60 bytes), as describe() says for it. The dense-op shortcut taken for it,
    when only its arguments were checked for a dense layout, said sparse None (64 bytes)."""
    from torchcount.rules import has_rule

    class Sparsify(nn.Module):
        def forward(self, x):
            return x.to_sparse()

    x = torch.zeros(4, 4)
    x[0, 1], x[2, 2], x[3, 0] = 1.0, 2.0, 3.0
    model = nn.Sequential(Sparsify())
    with cap.capture(model, has_rule) as recorder:
        model(x)
    (op,) = recorder.trace.calls[1].ops
    assert op.name == "aten._to_sparse.default" and op.kwargs == {} and op.args[0].sparse is None
    assert op.output.sparse == cap.SparseLayout("coo", 3, 3, 48, True)
    assert (op.output.numel, op.output.nbytes) == (16, 60)


def test_a_sparse_op_writing_into_out_records_it_before_and_after_and_aliased():
    """torch.add(a, b, out=c) on 3×3 COO matrices, a and b with 2 nonzeros at the same places, c
    empty: the op is recorded with c as it was before (nnz 0: the arguments described before the op
    runs, since it changes what c stores) and its output as after (nnz 2, 2 values, indices 2·2 int64
    = 32 bytes), aliased: it is c, the out= argument (only the positional arguments read for that
    made it new memory)."""
    from torchcount.rules import has_rule

    class AddsInto(nn.Module):
        def forward(self, a, b, c):
            torch.add(a, b, out=c)
            return c

    x = torch.zeros(3, 3)
    x[0, 1], x[2, 0] = 1.0, 2.0
    model = AddsInto()
    with cap.capture(model, has_rule) as recorder:
        model(x.to_sparse(), (2 * x).to_sparse(), torch.zeros(3, 3).to_sparse())
    (op,) = recorder.trace.calls[0].ops
    assert op.name == "aten.add.out"
    assert op.kwargs["out"].sparse == cap.SparseLayout("coo", 0, 0, 0, True) and not op.kwargs["out"].aliased
    assert op.output.sparse == cap.SparseLayout("coo", 2, 2, 32, True) and op.output.aliased


def test_a_dense_op_writing_into_out_records_its_output_aliased():
    """torch.add(a, b, out=c) on dense 2×3 tensors (a keyword argument: not the usual op's shortcut):
    its output is c itself, the out= argument, so it is recorded aliased, as c's memory (reading only
    the positional arguments for that made it new memory); a + b beside it is new (not aliased)."""
    from torchcount.rules import has_rule

    class AddsInto(nn.Module):
        def forward(self, a, b, c):
            torch.add(a, b, out=c)
            return c + a

    model = AddsInto()
    with cap.capture(model, has_rule) as recorder:
        model(torch.ones(2, 3), torch.ones(2, 3), torch.empty(2, 3))
    into, plain = recorder.trace.calls[0].ops
    assert into.name == "aten.add.out" and into.output.shape == (2, 3) and into.output.aliased
    assert plain.name == "aten.add.Tensor" and not plain.output.aliased


def test_a_composite_op_the_recorder_is_handed_from_python_runs_as_its_parts():
    """A dispatch mode's handler may be called from Python (torch._library.utils.handle_dispatch_mode
    does, for pre-dispatch modes), where no dispatcher call is under way and there are no dispatch keys
    to restore (_native_composite_keys: None; no model found to reach it). A composite op handed over so (einsum
    'ij,jk->ik', priced by its parts) still runs its composite kernel: the product of arange(6) as 2×3
    and arange(12) as 3×4, row 0 = [20, 23, 26, 29], its bmm recorded among its parts, none on the
    dispatch stack after (returning None there lost the output)."""
    from torchcount.rules import has_rule, parts_split

    einsum = torch.ops.aten.einsum.default
    assert parts_split(einsum) is True and cap._native_composite_keys(einsum) is None
    recorder = cap._Recorder(has_rule, True, parts_split)
    x, y = torch.arange(6.0).reshape(2, 3), torch.arange(12.0).reshape(3, 4)
    out = recorder.mode.__torch_dispatch__(einsum, (), ("ij,jk->ik", [x, y]), {})
    assert torch.equal(out, x @ y) and out[0].tolist() == [20.0, 23.0, 26.0, 29.0]
    assert "aten.bmm.default" in [op.name for op in recorder.trace.stray_ops]
    assert "aten.einsum.default" not in [op.name for op in recorder.trace.stray_ops]
    assert torch._C._len_torch_dispatch_stack() == 0


def test_a_dense_op_writing_into_an_empty_out_records_it_as_after_the_op():
    """Dense ops writing into out= tensors given empty (0 elements; the op resizes them): torch.add of
    two 2×3 float32 into one (6 floats written, 24 bytes), torch.cat of them into another (4×3: 48 bytes).
    A dense out= is described after the op, as it was written (2×3), so the bytes add up by hand: 72
    written, 96 read (a and b, 24 bytes each, twice; out is only written). Describing every op that
    writes an argument before it runs (the sparse case's need) recorded out as 0 elements: 24 written."""
    class WritesInto(nn.Module):
        def forward(self, a, b, c, d):
            torch.add(a, b, out=c)
            torch.cat([a, b], out=d)
            return c, d

    model = WritesInto()
    args = (torch.ones(2, 3), torch.ones(2, 3), torch.empty(0), torch.empty(0))
    report = torchcount.profile(model, args)
    assert (report.total.cost.bytes_written, report.total.cost.bytes_read) == (72, 96)
    from torchcount.rules import has_rule

    args = (torch.ones(2, 3), torch.ones(2, 3), torch.empty(0), torch.empty(0))
    with cap.capture(model, has_rule) as recorder:
        model(*args)
    add, cat = recorder.trace.calls[0].ops
    assert (add.name, add.kwargs["out"].shape, cat.name, cat.kwargs["out"].shape) == \
        ("aten.add.out", (2, 3), "aten.cat.out", (4, 3))


def test_a_sparse_op_writing_in_place_records_its_output_as_its_first_argument():
    """a.add_(b) with a (3×3 COO, 2 nonzeros at (0,1), (2,0)) and b (1 nonzero at (1,1)): the op is
    recorded with a as it was before (nnz 2, 32 index bytes) and its output as after (the union:
    nnz 3, 3·2·8 = 48 index bytes), aliased, as it is a itself. Reading only the keyword arguments
    for what the output may alias made it new memory."""
    from torchcount.rules import has_rule

    class AddInPlace(nn.Module):
        def forward(self, a, b):
            return a.add_(b)

    a, b = torch.zeros(3, 3), torch.zeros(3, 3)
    a[0, 1], a[2, 0], b[1, 1] = 1.0, 2.0, 1.0
    model = AddInPlace()
    with cap.capture(model, has_rule) as recorder:
        model(a.to_sparse(), b.to_sparse())
    (op,) = recorder.trace.calls[0].ops
    assert op.name == "aten.add_.Tensor"
    assert op.args[0].sparse == cap.SparseLayout("coo", 2, 2, 32, True) and not op.args[0].aliased
    assert op.output.sparse == cap.SparseLayout("coo", 3, 3, 48, True) and op.output.aliased


def test_a_calls_inputs_are_its_positional_then_its_keyword_tensors():
    """Call.inputs lists every tensor argument, the positional ones first, then the keyword ones
    (a mask given as mask=…): here x (2×3), a list's tensor (3) and mask (2×3, bool), in that order;
    Call.input is the first (read before Call.inputs too), Call.out the output's first; a call given
    only a keyword tensor has it as its input, and one given only a list of tensors (torch.cat's
    [x, x[:1]]) has the list's tensors (2×3, 1×3), not the list."""
    from torchcount.rules import has_rule

    class Masked(nn.Module):
        def forward(self, x, extra=(), mask=None):
            return x.masked_fill(mask, 0) if mask is not None else x + 1

    class Cat(nn.Module):
        def forward(self, xs):
            return torch.cat(xs)

    class Root(nn.Module):
        def __init__(self):
            super().__init__()
            self.m, self.cat = Masked(), Cat()

        def forward(self, x):
            self.m(x, [x[0]], mask=x > 0)
            self.cat([x, x[:1]])
            return self.m(x=x)

    x = torch.randn(2, 3)
    model = Root()
    with cap.capture(model, has_rule) as recorder:
        model(x)
    first, listed, second = recorder.trace.calls[1:]
    # (input and out read first, before inputs and outputs have been computed)
    assert first.input.shape == (2, 3) and listed.input.shape == (2, 3) and listed.out.shape == (3, 3)
    assert [(t.shape, t.dtype) for t in first.inputs] == [((2, 3), torch.float32), ((3,), torch.float32),
                                                          ((2, 3), torch.bool)]
    assert first.input.shape == (2, 3) and first.input.dtype == torch.float32
    assert [t.shape for t in second.inputs] == [(2, 3)] and second.input.shape == (2, 3)
    assert [t.shape for t in listed.inputs] == [(2, 3), (1, 3)] and listed.input.shape == (2, 3)


# -------------------- the recording switch and hooks' ops


def test_op_recording_enters_the_dispatch_mode_once_and_exits_it_at_the_end():
    """The first switch on enters the OpRecorder (TorchDispatchMode.__enter__: torch's 'in a dispatch
    mode' flag set, the mode on its stack); later switches only pop and push it; the capture's end
    exits it (the flag back to False, the stack empty). A rule-less module's forward runs inside it;
    a Linear's (priced by its rule) with the mode popped. Only pushing it, never entered, left torch's
    flag False inside the forward. (torch 2.2 has no such flag, is_in_torch_dispatch_mode: there the
    mode's stack is checked alone.)"""
    from torch.utils import _python_dispatch
    from torch.utils._python_dispatch import _get_current_dispatch_mode

    from conftest import TESTED_TORCH
    from torchcount.rules import has_rule

    flag = getattr(_python_dispatch, "is_in_torch_dispatch_mode", None)
    assert flag is not None or not TESTED_TORCH

    seen = []

    class Probe(nn.Module):
        def forward(self, x):
            seen.append((type(self).__name__, flag and flag(), type(_get_current_dispatch_mode()).__name__))
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
    assert flag is None or not flag()
    with cap.capture(root, has_rule) as recorder:
        root(torch.randn(1, 3))
        assert recorder.entered
    assert seen == [("Probe", flag and True, "OpRecorder")] * 2
    assert [str(op.op) for op in recorder.trace.calls[1].ops] == ["aten.mul.Tensor"]
    assert recorder.trace.calls[2].ops is cap._NONE  # (the Linear: popped meanwhile)
    assert (flag is None or not flag()) and _get_current_dispatch_mode() is None
    assert not recorder.entered and not recorder.mode_on


def test_a_hook_that_calls_its_module_again_leaves_each_call_its_own_hook_ops():
    """A Linear's forward hook calls the Linear once more, then doubles what it returns; the second
    call's hook only doubles. The trace has the root's call, the Linear's first call and its second (made
    by the hook, after the first left the stack: the root's child), and each Linear call's hook_ops is
    the one mul its own hook ran. The watch keeps one pending entry per call in progress (the first's
    under the second's): the second's forward returning must open the second's hook region — reading the
    first entry gave both muls to the first call and none to the second."""
    from torchcount.rules import has_rule

    again = [True]

    def hook(module, args, out):
        if again.pop() if again else False:
            out = module(out)
        return out * 2

    model = _WrapsLinear(4)
    model.lin.register_forward_hook(hook)
    with cap.capture(model, has_rule) as recorder:
        model(torch.randn(2, 4))
    trace = recorder.trace
    assert [(c.path, c.parent_index) for c in trace.calls] == [("", None), ("lin", 0), ("lin", 0)]
    first, second = trace.calls[1], trace.calls[2]
    assert [str(op.op) for op in first.hook_ops] == ["aten.mul.Tensor"]
    assert [str(op.op) for op in second.hook_ops] == ["aten.mul.Tensor"]
    assert sorted(trace.hooked) == [1, 2]
    # after the capture, the Linear's hooks are its own again: the user's hook itself, none of ours
    assert list(model.lin._forward_hooks.values()) == [hook] and not model.lin._forward_pre_hooks
    assert trace.calls[0].ops is cap._NONE or not trace.calls[0].ops  # the root ran nothing itself


def test_whether_a_tuple_output_is_the_calls_own_is_read_through_the_tuple():
    """A rule-less module whose child returns a tuple (x·2, x + 1): passing the child's tuple on, its
    first output is the child's (its "(self)" activation 0, first_output_own False); returning (a·3, b),
    the first is its own (all 2·3 = 6 elements). Found by walking the tuples of both outputs: not
    walking them left it unknown (None, and no entry in the trace). The root returns its Sequential's
    output (not its own); the Sequential records no ops (it only calls its children: no entry, though
    it made a child call; recording switched on in it gave it one)."""
    class Child(nn.Module):
        def forward(self, x):
            return x * 2, x + 1

    class PassOn(nn.Module):
        def __init__(self):
            super().__init__()
            self.child = Child()

        def forward(self, x):
            a, b = self.child(x)
            b.neg()  # an op of its own: its ops are recorded
            return a, b

    class Makes(PassOn):
        def forward(self, x):
            a, b = self.child(x)
            return a * 3, b

    class Root(nn.Module):
        def __init__(self):
            super().__init__()
            self.p, self.m, self.seq = PassOn(), Makes(), nn.Sequential(nn.ReLU())

        def forward(self, x):
            return self.seq(self.p(x)[1] + self.m(x)[0])

    from torchcount.rules import has_rule

    model, x = Root(), torch.randn(2, 3)
    with cap.capture(model, has_rule) as recorder:
        model(x)
    paths = {c.index: c.path for c in recorder.trace.calls}
    assert {paths[i]: own for i, own in recorder.trace.first_output_own.items()} == {"": False, "p": False, "m": True}
    assert recorder.trace.calls[-2].path == "seq" and recorder.trace.calls[-2].ops is cap._NONE
    child = recorder.trace.calls[2]  # (the tuple it returned: both tensors are its outputs, in order)
    assert child.path == "p.child" and child.outputs == (cap.TensorMeta((2, 3), torch.float32),) * 2
    report = torchcount.profile(model, x)
    assert (report.row("p").self_activation, report.row("m").self_activation) == (0, 6)


def test_a_pre_hook_error_the_ruled_caller_handles_leaves_recording_off_in_it():
    """A Linear's pre-hook doubles its input (x·2: recorded, a hook region being open) and raises a
    ValueError; its caller, priced by a rule (has_rule says so here), catches it and adds 1. torch runs
    our always-called forward hook for the error: the call never entered its forward, so the hook ops
    stay where they ran (the caller's: [mul]) and recording is switched back off, so the caller's x + 1
    is not recorded. Taking the call for one that returned moved ops into a call that does not exist
    (AttributeError, which torch silences with a warning) and left recording on: [mul, add]."""
    import warnings

    class Catcher(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 4)

        def forward(self, x):
            try:
                self.lin(x)
            except ValueError:
                pass
            return x + 1

    def refuse(module, args):
        args[0] * 2
        raise ValueError("refused")

    model = nn.Sequential(Catcher())
    model[0].lin.register_forward_pre_hook(refuse)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with cap.capture(model, lambda m: isinstance(m, Catcher)) as recorder:
            model(torch.ones(2, 4))
    (catcher,) = recorder.trace.calls[1:]  # (the Linear's wrapped forward never ran: no call of it)
    assert catcher.path == "0" and [op.name for op in catcher.ops] == ["aten.mul.Tensor"]
    assert recorder.hook_depths == []
    assert not [w for w in caught if "silenced" in str(w.message)]


def test_a_hooked_modules_forward_called_directly_is_recorded_without_its_hooks():
    """A Linear(4, 4) with a forward hook (×2), called once through __call__ and once by its forward
    directly (self.lin.forward(x): torch runs no hook): two calls in its row, 2·(2·4·4) = 64 MACs and
    2·2·4 = 16 bias adds, and the hook's 2·4 = 8 mults once; the root adds the two (8 adds). The
    direct call meets the watch with no entry pending (a direct call must leave it alone: 'and' for
    'or' there raised IndexError)."""
    class Root(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 4)

        def forward(self, x):
            return self.lin.forward(x) + self.lin(x)

    model = Root()
    model.lin.register_forward_hook(lambda m, a, out: out * 2)
    report = torchcount.profile(model, torch.randn(2, 4))
    lin = report.row("lin")
    assert lin.calls == 2 and (lin.cost.macs, lin.cost.adds, lin.cost.mults) == (64, 16, 8)
    assert (report.row("").self_cost.adds, report.total.cost.mults) == (8, 8) and report.complete


def test_a_thread_that_ran_the_whole_model_then_calls_a_submodule_has_that_call_noted():
    """Another thread running the whole model during a capture is not part of the profiled forward
    (nothing noted); the same thread calling a submodule twice afterwards makes calls handed to a thread,
    noted in Trace.other_threads ({'lin': 2}: counted, not just marked). The thread's 'whole forward'
    mark must be cleared when that forward returns: left set, the later call went unnoted."""
    import threading

    from torchcount.rules import has_rule

    model, x = _WrapsLinear(4), torch.randn(2, 4)
    with cap.capture(model, has_rule) as recorder:
        def other():
            model(x)
            model.lin(x)
            model.lin(x)
        t = threading.Thread(target=other)
        t.start()
        t.join()
        model(x)
    assert recorder.trace.other_threads == {"lin": 2}
    assert [c.path for c in recorder.trace.calls] == ["", "lin"]


class _Retries(nn.Module):
    """Tries its Linear(4, 4) on a 2×3 slice (a shape error, handled), then on the whole 2×4 input."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        try:
            self.lin(x[:, :3])
        except RuntimeError:
            pass
        return self.lin(x)


def test_another_threads_call_of_a_hooked_module_opens_no_hook_region():
    """A thread calls a hooked Linear of the model while the capture is on: its hooks are not watched
    (the watch is the capturing thread's), so after it no hook region is open and recording is off,
    and the model's own call then records the Linear as usual (one call noted for the other
    thread). Checking the thread 'and' the capture being live opened a region the other thread
    never closed. The thread's call returns its 2×4 output: its always-called forward hook of ours
    leaves the watch alone there too (reading 'and' there popped an entry of none pending: IndexError)."""
    import threading

    from torchcount.rules import has_rule

    model = nn.Sequential(nn.Linear(4, 4))
    model[0].register_forward_hook(lambda m, args, out: None)
    got = []
    with cap.capture(model, has_rule) as recorder:
        thread = threading.Thread(target=lambda: got.append(model[0](torch.randn(2, 4))))
        thread.start()
        thread.join()
        assert recorder.hook_depths == [] and recorder.mode_on is False
        assert len(got) == 1 and got[0].shape == (2, 4)
        model(torch.randn(2, 4))
    assert [c.path for c in recorder.trace.calls] == ["", "0"] and recorder.trace.other_threads == {"0": 1}


def test_a_ruled_call_that_raised_under_autocast_says_why_it_is_priced_from_its_ops():
    """Under autocast a Linear records its ops (its casts), so a call of it that raised and was handled
    is priced from the ops it ran (the shape check fails before the matmul: 0 MACs) and its row counts
    the completed call's 2·4·4 = 32 MACs. The note gives why: the error its caller handled, not "cut
    short inside a backward" (checkpointing's reason, which it said, though no backward ran). Without
    autocast its ops are not recorded and the trace marks nothing (reading 'not (ruled and recorded)'
    marked that call too)."""
    from torchcount.rules import has_rule

    model, x = _Retries(), torch.randn(2, 4)
    with torch.autocast("cpu"):
        report = torchcount.profile(model, x)
    assert report.row("lin").calls == 2 and report.row("lin").cost.macs == 32
    assert any("raised an error its caller handled" in n and n.endswith(": lin") for n in report.notes)
    assert not any("backward" in n for n in report.notes)
    with cap.capture(model, has_rule) as recorder:
        model(x)
    calls = recorder.trace.calls
    assert recorder.trace.unruled == {} and [c.unruled for c in calls] == [False, False, False]
    assert isinstance(calls[1].failed, RuntimeError) and calls[2].failed is None


def test_a_ruled_call_that_raised_without_autocast_is_uncounted_not_priced_as_finished():
    """Without autocast the Linear's ops are not recorded, so its call on the 2×3 slice, which raised
    (and was handled), cannot be priced from them; its rule would price it as a finished call of 2 rows,
    2·4·4 = 32 MACs more (the row said 64). It is uncounted instead: the row holds the finished call's
    32 MACs and 2·32 + 2·4 = 72 FLOPs, and 2 of the 3 items (the finished call and the root's own op,
    the slice) are counted. (torch 2.2 runs x[:, :3] as two slices, the whole first dimension's too:
    3 of 4 items there.)"""
    from torch.utils._python_dispatch import TorchDispatchMode

    from conftest import TESTED_TORCH

    class Ops(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            ran.append(func)
            return func(*args, **(kwargs or {}))

    ran = []
    with Ops():
        torch.randn(2, 4)[:, :3]
    slices = len([op for op in ran if op is torch.ops.aten.slice.Tensor])
    assert slices == 1 or not TESTED_TORCH and slices == 2
    report = torchcount.profile(_Retries(), torch.randn(2, 4), warn=False)
    row = report.row("lin")
    assert row.calls == 2 and (row.cost.macs, row.flops) == (32, 72) and row.status == "partial"
    assert [(u.path, u.what, u.calls) for u in report.uncounted] == [
        ("lin", "Linear (raised an error its caller handled)", 1)]
    assert report.coverage == pytest.approx((1 + slices) / (2 + slices))


@pytest.mark.parametrize("direct", [False, True], ids=["called", "forward-called-directly"])
def test_an_interrupt_a_hooked_module_raises_leaves_recording_on_in_a_rule_less_catcher(direct):
    """A rule-less module catches the KeyboardInterrupt its hooked child's forward raises (torch then
    runs no always-called hook), then doubles its 2×4 input: those 8 mults are its own, recorded
    because the switch goes back to what it was before the child's pre-hooks (on). Restoring None
    (off) lost them: 0 mults, and the count still said complete. A hook of the child's that adds 1
    to a returned output never runs here. The same where the catcher calls the child's forward
    directly (no pre-hooks ran, no entry pending: the wrapper's own switch is restored; None
    returned for it lost the 8 mults too)."""
    class Boom(nn.Module):
        def forward(self, x):
            raise KeyboardInterrupt

    class Catcher(nn.Module):
        def __init__(self):
            super().__init__()
            self.boom = Boom()

        def forward(self, x):
            try:
                self.boom.forward(x) if direct else self.boom(x)
            except KeyboardInterrupt:
                pass
            return x * 2

    model = Catcher()
    model.boom.register_forward_hook(lambda m, a, out: out + 1)
    report = torchcount.profile(model, torch.randn(2, 4))
    assert report.row("").self_cost.mults == 8 and report.total.cost.adds == 0
    assert report.complete


def test_an_interrupt_in_a_call_a_modules_own_hook_made_closes_only_that_calls_entry():
    """A module's forward hook calls it again; that inner call raises KeyboardInterrupt, which the hook
    catches before returning out + 1. Two entries are pending then: the inner call's (last) is dropped,
    and the outer call keeps its hook's add as its own (hook_ops [add]; its row 8 mults, 8 adds on
    2×4), with no hook region left open after. Matching the first pending entry against the inner
    call left the inner entry, and the add landed in the root's row."""
    from torchcount.rules import has_rule

    class Flaky(nn.Module):
        boom = False

        def forward(self, x):
            if self.boom:
                raise KeyboardInterrupt
            return x * 2

    def hook(module, args, out):
        if not module.boom:
            module.boom = True
            try:
                module(out)
            except KeyboardInterrupt:
                pass
            finally:
                module.boom = False
        return out + 1

    model = nn.Sequential(Flaky())
    model[0].register_forward_hook(hook)
    with cap.capture(model, has_rule) as recorder:
        model(torch.randn(2, 4))
        assert recorder.hook_depths == []
    root, outer, inner = recorder.trace.calls
    assert [op.name for op in outer.hook_ops] == ["aten.add.Tensor"] and type(inner.failed) is KeyboardInterrupt
    report = torchcount.profile(model, torch.randn(2, 4))
    assert (report.row("0").cost.mults, report.row("0").cost.adds, report.row("").self_cost.adds) == (8, 8, 0)


def test_a_hooked_childs_output_as_its_hook_left_it_is_the_childs_not_the_callers():
    """A rule-less parent returns what its hooked child returned, which the child's forward hook made
    (its output ×2, a new tensor): the parent's first output is not its own (first_output_own False,
    "(self)" activation 0; the hook's 2·3 = 6 mults are the child's row). Only the output before the
    hook noted as the child's made it the parent's own (activation 6)."""
    from torchcount.rules import has_rule

    class Parent(nn.Module):
        def __init__(self):
            super().__init__()
            self.child = nn.Identity()

        def forward(self, x):
            x = x + 1
            return self.child(x)

    class Root(nn.Module):
        def __init__(self):
            super().__init__()
            self.parent = Parent()

        def forward(self, x):
            return self.parent(x).sum()

    model = Root()
    model.parent.child.register_forward_hook(lambda m, a, out: out * 2)
    x = torch.randn(2, 3)
    with cap.capture(model, has_rule) as recorder:
        model(x)
    paths = {c.index: c.path for c in recorder.trace.calls}
    assert {paths[i]: own for i, own in recorder.trace.first_output_own.items()} == {"": True, "parent": False}
    report = torchcount.profile(model, x)
    assert report.row("parent").self_activation == 0 and report.row("parent.child").cost.mults == 6


@pytest.mark.filterwarnings("ignore::UserWarning")  # nested tensors are a prototype API
def test_a_nested_tensor_made_in_the_forward_is_blamed_on_the_module_it_is_given_to():
    """A strided nested tensor has no sizes to record: the Linear it is passed to is the module
    named (ForwardError.path 'lin', its arguments unrecorded), not the root that made it, which is
    what the root's wrapper would name were the Linear's failure not recorded first."""
    class MakesOne(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(8, 16)

        def forward(self, a, b):
            return self.lin(torch.nested.nested_tensor([a, b]))

    with pytest.raises(torchcount.ForwardError, match=r"module 'lin' \(Linear\).*nested tensor") as caught:
        torchcount.profile(MakesOne(), (torch.randn(3, 8), torch.randn(5, 8)))
    assert caught.value.path == "lin"


@pytest.mark.parametrize("c_hooked", [True, False], ids=["hooked", "unhooked"])
def test_a_module_a_hook_calls_inside_a_ruled_block_is_not_covered_by_the_blocks_rule(ruled_block, c_hooked):
    """Hook regions at two depths: the root's Identity has a forward hook that calls a RuledBlock
    (its rule: rows·4·4 = 2·16 = 32 MACs on a 2×4 input, its Linear child covered), and that Linear's
    forward hook calls another Linear(4, 4), which has a hook of its own. That Linear is called by a
    hook, not by the block's forward: not covered, counted by its rule (2·4·4 = 32 MACs, 8 bias adds).
    Whether a call comes from a hook is read against the innermost open region (the Linear's hook,
    one level deeper than the Identity's): reading the outermost took it for the block's own call,
    covered, and the 32 MACs were lost. The same with no hook on that Linear (no watch of its own:
    the wrapper reads the open hook depths itself, where reading the outermost lost them too)."""
    class Root(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.d, self.c = nn.Identity(), ruled_block(), nn.Linear(4, 4)

        def forward(self, x):
            return self.a(x)

    model = Root()
    model.a.register_forward_hook(lambda m, args, out: model.d(out))
    model.d.fc.register_forward_hook(lambda m, args, out: model.c(out))
    if c_hooked:
        model.c.register_forward_hook(lambda m, args, out: None)
    report = torchcount.profile(model, torch.randn(2, 4))
    assert report.row("d.fc").status == "covered"
    assert (report.row("c").cost.macs, report.row("c").cost.adds, report.row("c").status) == (32, 8, "rule")
    assert report.total.macs == 64 and report.complete


def test_a_module_its_own_hook_reaches_again_through_a_ruled_block_is_covered(ruled_block):
    """The root calls a RuledBlock's Linear directly (counted by its rule: 2·4·4 = 32 MACs, 8 bias adds
    on a 2×4 input); that Linear's forward hook calls the block once (its rule: rows·4·4 = 32 MACs),
    whose forward calls the Linear again: called by the block's forward, not by a hook, so covered
    (total 64 MACs, 8 adds). Two calls of the Linear are pending then, the first entered, the second
    not: whether the second comes from a hook is read from the last pending entry; reading the
    first (entered) fell back to the open hook depths, which the second's own pre-hook region makes
    look like a hook's call: uncovered, and 32 MACs and 8 adds counted twice (96, 16)."""
    class Root(nn.Module):
        def __init__(self):
            super().__init__()
            self.p = ruled_block()

        def forward(self, x):
            return self.p.fc(x)

    model = Root()
    inside = []

    def hook(module, args, out):
        if not inside:  # (the block's own call of the Linear runs this hook again: no third call)
            inside.append(True)
            model.p(out)
            inside.pop()

    model.p.fc.register_forward_hook(hook)
    report = torchcount.profile(model, torch.randn(2, 4))
    assert (report.row("p").cost.macs, report.row("p.fc").cost.macs, report.row("p.fc").cost.adds) == (32, 32, 8)
    assert (report.total.macs, report.total.cost.adds) == (64, 8) and report.complete

def test_a_hooked_module_the_roots_own_hook_calls_is_counted():
    """The root's forward hook calls its hooked Linear(4, 4) again, outside any forward (no call on
    the stack: the root's hook's work is the root's stray ops): the Linear has 2 calls, 2·(2·4·4) = 64
    MACs. Its hook's output has no caller call to be noted for (reading the recording switch for the
    caller there raised AttributeError on None)."""
    model = _WrapsLinear(4)
    model.register_forward_hook(lambda m, args, out: m.lin(out))
    model.lin.register_forward_hook(lambda m, args, out: None)
    report = torchcount.profile(model, torch.randn(2, 4))
    assert report.row("lin").calls == 2 and report.total.macs == 64 and report.complete


def test_a_ruled_module_called_with_a_dense_keyword_tensor_keeps_its_rule():
    """A Linear called as lin(input=x) with a dense x is priced by its rule (status 'rule', nothing in
    Trace.unruled); with a sparse COO x (2 nonzeros of 2×4) given the same way it is priced from the
    sparse ops it ran ('called with a sparse input'). Reading a dense keyword tensor as sparse priced
    every such call from its ops."""
    from torchcount.rules import has_rule

    class Root(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 4)

        def forward(self, x):
            return self.lin(input=x)

    model = Root()
    x = torch.zeros(2, 4)
    x[0, 1], x[1, 3] = 1.0, 2.0
    for given, unruled in ((x, {}), (x.to_sparse(), {"lin": "called with a sparse input"})):
        with cap.capture(model, has_rule) as recorder:
            model(given)
        assert recorder.trace.unruled == unruled and recorder.trace.calls[1].unruled is bool(unruled)
    assert torchcount.profile(model, x).row("lin").status == "rule"


def test_a_covered_module_called_with_a_sparse_input_records_no_ops():
    """A block with a rule (rows·4·4 MACs) makes its 2×4 input sparse and gives it to its Linear:
    the Linear loses its own rule ('called with a sparse input') but is covered by the block's,
    so it records no ops (an empty tuple) and the total is the block's 2·16 = 32 MACs. Reading
    'record_ops or not covered or …' for it recorded the covered Linear's addmm."""
    from torchcount.cost import Cost, Term
    from torchcount.rules import has_rule, registry

    class SparseBlock(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return self.fc(x.to_sparse())

    @torchcount.module_rule(SparseBlock)
    def sparse_block(module, call):
        return Cost.of(Term("macs", "products", "rows·4·4", "", call.input.numel // 4 * 16))

    try:
        model = SparseBlock()
        x = torch.zeros(2, 4)
        x[0, 1] = 1.0
        with cap.capture(model, has_rule) as recorder:
            model(x)
        block, fc = recorder.trace.calls
        assert fc.path == "fc" and fc.covered and tuple(fc.ops) == ()
        assert recorder.trace.unruled == {"fc": "called with a sparse input"}
        assert torchcount.profile(model, x).total.macs == 32
    finally:
        registry._MODULE_RULES.pop(SparseBlock)
        registry._lookup_cache.clear()

def test_a_module_called_with_no_arguments_is_recorded():
    """A module called with no arguments (a learned 3×5 query, doubled) records a call with no inputs
    and its 3×5 output, new memory (not aliased); its op is 15 mults. (The one-tensor-in shortcut
    that reads args[0] must not be taken for no arguments: it raised IndexError.)"""
    class Query(nn.Module):
        def __init__(self):
            super().__init__()
            self.q = nn.Parameter(torch.randn(3, 5))

        def forward(self):
            return self.q * 2

    class Root(nn.Module):
        def __init__(self):
            super().__init__()
            self.query = Query()

        def forward(self, x):
            return self.query() @ x

    report = torchcount.profile(Root(), torch.randn(5, 2))
    row = report.row("query")
    assert row.calls == 1 and row.input_shapes == [] and row.output_shapes == [(3, 5)]
    assert (row.cost.mults, row.cost.bytes_written) == (15, 15 * 4)
    assert report.total.macs == 3 * 5 * 2


def test_ops_around_the_root_are_recorded_only_inside_around_root():
    """A root with a forward hook (+1 on its 2×3 output): around_root records the hook's add as a stray
    op (no call on the stack); after it, op recording is off again, and an op run before the capture
    ends (x·2) is recorded nowhere. Leaving it on after recorded that mul as the root's stray op too."""
    from torchcount.rules import has_rule

    model = nn.Linear(3, 3)
    model.register_forward_hook(lambda m, a, out: out + 1)
    x = torch.randn(2, 3)
    with cap.capture(model, has_rule) as recorder:
        with recorder.around_root(model):
            model(x)
        assert not recorder.mode_on
        x * 2
    assert [str(op.op) for op in recorder.trace.stray_ops] == ["aten.add.Tensor"]


def test_around_a_root_without_hooks_recording_stays_off():
    """A Linear root without hooks, of its own or torch's global ones, or a __call__ of its own: its
    calls record all its work, so around_root leaves op recording off (no switch per profile) and an op
    run beside the root's call there (x + 1) is no stray op of the root's. Switching it on for any
    root with record_ops recorded that add as the root's own."""
    from torchcount.rules import has_rule

    model, x = nn.Linear(3, 3), torch.randn(2, 3)
    with cap.capture(model, has_rule) as recorder:
        with recorder.around_root(model):
            assert not recorder.mode_on
            model(x)
            x + 1
    assert recorder.trace.stray_ops == [] and len(recorder.trace.calls) == 1


def test_under_autocast_a_ruled_module_records_its_casts_and_a_sequential_still_nothing():
    """Under CPU autocast (bfloat16) a Linear, priced by its rule, records its ops: autocast's casts of
    its input, weight and bias (3 _to_copy, bytes its rule cannot see) beside its matmul; the
    Sequential around it only calls it and records nothing (switching recording on in a module that
    runs no op of its own, as 'or' for 'and' did there, gave it ops and a first-output entry). The
    trace notes the dtype autocast was on with."""
    from torchcount.rules import has_rule

    class Root(nn.Module):
        def __init__(self):
            super().__init__()
            self.seq = nn.Sequential(nn.Linear(4, 4))

        def forward(self, x):
            return self.seq(x)

    model = Root()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        with cap.capture(model, has_rule) as recorder:
            model(torch.randn(2, 4))
    root, seq, lin = recorder.trace.calls
    assert seq.ops is cap._NONE and root.ops is cap._NONE
    assert [str(op.op) for op in lin.ops].count("aten._to_copy.default") == 3
    assert all(op.outputs[0].dtype == torch.bfloat16 for op in lin.ops)
    assert recorder.trace.first_output_own == {0: False}  # (the root passes its Sequential's output on)
    assert recorder.trace.autocast == {"cpu": [torch.bfloat16]}


def test_an_output_that_is_an_argument_passed_back_by_keyword_or_in_a_list_is_aliased():
    """A module returning the tensor it was given as a keyword (forward(x=t): return x) writes no
    new memory: its output is aliased (the trace) and its row writes 0 bytes, where the root's x·2
    writes 2·3·4 = 24. Only the positional arguments read for that left it 24 bytes written. Likewise a
    module given a one-element list returning its element (its one argument not a tensor itself)."""
    from torchcount.rules import has_rule

    class Passes(nn.Module):
        def forward(self, x=None):
            return x

    class First(nn.Module):
        def forward(self, xs):
            return xs[0]

    class Root(nn.Module):
        def __init__(self):
            super().__init__()
            self.passes, self.first = Passes(), First()

        def forward(self, x):
            return self.first([self.passes(x=x * 2)])

    model, x = Root(), torch.randn(2, 3)
    with cap.capture(model, has_rule) as recorder:
        model(x)
    assert recorder.trace.calls[1].output.aliased and recorder.trace.calls[2].output.aliased
    report = torchcount.profile(model, x)
    assert report.row("passes").cost.bytes_written == 0 and report.row("").self_cost.bytes_written == 24
    assert report.row("first").cost.bytes_written == 0


def test_a_tuple_output_holding_a_positional_argument_is_aliased_in_it():
    """A module given x (2×3) positionally and returning (x, x·2), a tuple (not the one-tensor shortcut):
    its recorded outputs are x itself (aliased: no memory written, which a rule's call's bytes read)
    and a new tensor (reading only the keyword arguments for what a tuple's tensors alias made x new)."""
    from torchcount.rules import has_rule

    class Pair(nn.Module):
        def forward(self, x):
            return x, x * 2

    class Root(nn.Module):
        def __init__(self):
            super().__init__()
            self.pair = Pair()

        def forward(self, x):
            return self.pair(x)

    model, x = Root(), torch.randn(2, 3)
    with cap.capture(model, has_rule) as recorder:
        model(x)
    assert [t.aliased for t in recorder.trace.calls[1].outputs] == [True, False]


def test_a_view_of_a_keyword_argument_returned_is_not_the_calls_own_activation():
    """A module given t = x·2 (2×3) by keyword that runs its Linear child on it and returns tᵀ, a view
    of its input, made no memory: its "(self)" activation is 0 (its whole activation the 6 elements of
    tᵀ), as when t is given positionally. Looking for what a view aliases among the positional
    arguments only made it new memory: a self activation of 6."""
    class Mid(nn.Module):
        def __init__(self, by_keyword: bool):
            super().__init__()
            self.lin, self.by_keyword = nn.Linear(3, 3), by_keyword

        def forward(self, x=None):
            self.lin(x)
            return x.t()

    class Root(nn.Module):
        def __init__(self, by_keyword: bool):
            super().__init__()
            self.mid = Mid(by_keyword)

        def forward(self, x):
            return self.mid(x=x * 2) if self.mid.by_keyword else self.mid(x * 2)

    for by_keyword in (True, False):
        row = torchcount.profile(Root(by_keyword), torch.randn(2, 3)).row("mid")
        assert (row.activation, row.self_activation, row.self_cost.bytes_written) == (6, 0, 0), by_keyword


def test_a_keyword_tensor_returned_beside_a_positional_one_is_aliased():
    """A module called pick(x, y=t), with t = x·2 (2×3 float32), returning t: the one-tensor shortcut
    (output is args[0]) is for calls without keyword arguments, so t is found among them — aliased, no
    memory written by the module (0 bytes), the root's x·2 writing its 24. Taking the shortcut for any
    one positional tensor made t new memory: 24 bytes written by pick."""
    from torchcount.rules import has_rule

    class Pick(nn.Module):
        def forward(self, x, y=None):
            return y

    class Root(nn.Module):
        def __init__(self):
            super().__init__()
            self.pick = Pick()

        def forward(self, x):
            return self.pick(x, y=x * 2)

    model, x = Root(), torch.randn(2, 3)
    with cap.capture(model, has_rule) as recorder:
        model(x)
    assert recorder.trace.calls[1].output.aliased
    report = torchcount.profile(model, x)
    assert report.row("pick").cost.bytes_written == 0 and report.row("").self_cost.bytes_written == 24


def test_work_a_roots_own_call_method_does_is_the_roots():
    """A root class with a __call__ of its own (here x·2 around nn.Module's call) does that work outside
    its forward: recorded as the root's own ops (2·3 = 6 mults beside its Linear's 2·3·3 = 18 MACs).
    A __call__ of torch's own (nn.Module's) is not such work. Reading a user's __call__ as torch's left
    the 6 mults unrecorded."""
    class Calls(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 3)

        def __call__(self, x):
            return super().__call__(x * 2)

        def forward(self, x):
            return self.lin(x)

    assert cap.own_call(Calls()) and not cap.own_call(nn.Linear(3, 3))
    report = torchcount.profile(Calls(), torch.randn(2, 3))
    assert report.total.cost.mults == 6 and report.total.macs == 18
    assert report.row("").self_cost.mults == 6


def test_whether_an_output_is_the_calls_own_follows_views_to_their_base():
    """A child returns a view ((x·2)ᵀ) of a tensor it made. A rule-less parent returning a view of
    that view (its transpose: the same base) passes the child's memory on (first_output_own False,
    "(self)" activation 0); one returning ((child's view)·3, child's view) owns its first output, though
    the child returned a view, alive here, of another base (True, 2·3 = 6; taking any view returned, or
    a view of another base, as the child's said False). The child's view is freed once the parent has
    viewed it again (the parent's output looks into the base, not into it): noted by a weak reference
    to it alone, it was dead by the time the parent returned, and the parent's view was taken for its
    own (activation 6)."""
    from torchcount.rules import has_rule

    class Child(nn.Module):
        def forward(self, x):
            return (x * 2).t()

    class Views(nn.Module):
        def __init__(self):
            super().__init__()
            self.child = Child()

        def forward(self, x):
            return self.child(x).t()

    class Scales(Views):
        def forward(self, x):
            view = self.child(x)
            return view * 3, view

    class Root(nn.Module):
        def __init__(self):
            super().__init__()
            self.v, self.s = Views(), Scales()

        def forward(self, x):
            return self.v(x).sum() + self.s(x)[0].sum()

    model = Root()
    with cap.capture(model, has_rule) as recorder:
        model(torch.randn(2, 3))
    paths = {c.index: c.path for c in recorder.trace.calls}
    assert {paths[i]: own for i, own in recorder.trace.first_output_own.items()} == {"": True, "v": False, "s": True}
    report = torchcount.profile(model, torch.randn(2, 3))
    assert (report.row("v").self_activation, report.row("s").self_activation) == (0, 6)


def test_a_view_of_a_view_a_child_returned_in_a_tuple_is_not_the_callers_own():
    """As above, with the child's view inside a tuple ((x·2)ᵀ,): a parent returning child(x)[0].t()
    passes the child's memory on (first_output_own False, "(self)" activation 0). The tuple and the
    view in it are freed once the parent has viewed it again, so only the noted base of the view
    ties the parent's output to the child (not noting it for a non-tensor output said True, 6)."""
    from torchcount.rules import has_rule

    class Child(nn.Module):
        def forward(self, x):
            return ((x * 2).t(),)

    class Views(nn.Module):
        def __init__(self):
            super().__init__()
            self.child = Child()

        def forward(self, x):
            return self.child(x)[0].t()

    model = nn.Sequential(Views())
    with cap.capture(model, has_rule) as recorder:
        model(torch.randn(2, 3))
    paths = {c.index: c.path for c in recorder.trace.calls}
    assert {paths[i]: own for i, own in recorder.trace.first_output_own.items()} == {"0": False}
    assert torchcount.profile(model, torch.randn(2, 3)).row("0").self_activation == 0


def test_whether_a_dict_or_dataclass_output_is_the_calls_own_is_read_through_it():
    """As with tuples: a rule-less module passing on its child's dict {'y': x·2} (or a dataclass
    holding x·2) returns the child's tensor (first_output_own False, "(self)" activation 0); one that
    returns {'y': its own y·3} owns it. Not walking the dict's values (or the dataclass's fields) left
    the first output unknown."""
    import dataclasses

    from torchcount.rules import has_rule

    @dataclasses.dataclass
    class Out:
        y: torch.Tensor

    class Child(nn.Module):
        def __init__(self, box):
            super().__init__()
            self.box = box

        def forward(self, x):
            return self.box(x * 2)

    class Parent(nn.Module):
        def __init__(self, box, own):
            super().__init__()
            self.child, self.box, self.own = Child(box), box, own

        def forward(self, x):
            out = self.child(x)
            y = out["y"] if isinstance(out, dict) else out.y
            return self.box(y * 3) if self.own else out

    class Root(nn.Module):
        def __init__(self):
            super().__init__()
            self.d = Parent(lambda y: {"y": y}, False)
            self.c = Parent(Out, False)
            self.o = Parent(lambda y: {"y": y}, True)

        def forward(self, x):
            return self.d(x)["y"] + self.c(x).y + self.o(x)["y"]

    model = Root()
    with cap.capture(model, has_rule) as recorder:
        model(torch.randn(2, 3))
    paths = {c.index: c.path for c in recorder.trace.calls}
    assert {paths[i]: own for i, own in recorder.trace.first_output_own.items()} == \
        {"": True, "d": False, "c": False, "o": True}


def test_a_lazy_modules_materialisation_hook_is_not_a_hook_of_its_own():
    """_has_own_hooks (which modules get a hook watch): a LazyLinear's one pre-hook is its
    materialisation, not the user's (False); with a pre-hook or a forward hook of the user's beside
    it, True; a plain Linear: none (False), one forward hook (True). Reading the lazy hook's key as
    absent called every unmaterialised lazy module hooked."""
    lazy = nn.LazyLinear(3)
    assert len(lazy._forward_pre_hooks) == 1 and not cap._has_own_hooks(lazy)
    handle = lazy.register_forward_pre_hook(lambda m, a: None)
    assert cap._has_own_hooks(lazy)
    handle.remove()
    lazy.register_forward_hook(lambda m, a, out: None)
    assert cap._has_own_hooks(lazy)
    plain = nn.Linear(2, 2)
    assert not cap._has_own_hooks(plain)
    plain.register_forward_hook(lambda m, a, out: None)
    assert cap._has_own_hooks(plain)


def test_a_lazy_modules_materialisation_hook_is_put_back_as_found_or_stays_gone():
    """A lazy module's materialisation pre-hook is wrapped during a capture (its work unrecorded) and
    put back after it: a LazyLinear the forward never calls has its one pre-hook, the very function
    it had, after the capture (not saving it left the wrapper); a LazyLinear the forward called removed
    its hook itself when it materialised, and has none after the capture (putting it back where it was
    absent, and not where it was present, survived)."""
    from torchcount.rules import has_rule

    class TwoLazy(nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.unused = nn.LazyLinear(3), nn.LazyLinear(3)

        def forward(self, x):
            return self.used(x)

    m = TwoLazy()
    (key, hook), = m.unused._forward_pre_hooks.items()
    with cap.capture(m, has_rule):
        m(torch.zeros(2, 4))
    assert m.used.weight.shape == (3, 4) and len(m.used._forward_pre_hooks) == 0
    assert list(m.unused._forward_pre_hooks) == [key] and m.unused._forward_pre_hooks[key] is hook


def test_a_forward_that_reads_its_childs_signature_sees_the_childs_own():
    """A model that passes its child a scale only where the child's forward takes one (as Hugging Face
    models read inspect.signature(layer.forward)): the wrapper keeps the child's signature
    (__wrapped__), so the child gets the scale and multiplies 2×3 elements by it, 6 mults in its row.
    A wrapper without __wrapped__ shows (*args, **kwargs): no scale passed, 0 mults."""
    import inspect

    class Scaled(nn.Module):
        def forward(self, x, scale=None):
            return x if scale is None else x * scale

    class Root(nn.Module):
        def __init__(self):
            super().__init__()
            self.child = Scaled()

        def forward(self, x):
            if "scale" in inspect.signature(self.child.forward).parameters:
                return self.child(x, scale=3.0)
            return self.child(x)

    report = torchcount.profile(Root(), torch.randn(2, 3))
    assert report.row("child").cost.mults == 6 and report.root.cost.mults == 6


def test_an_error_whose_cause_chain_is_a_cycle_is_named_not_followed_forever():
    """A forward that handles its probe child's KeyError, then raises 'first', then 'second' from it,
    then re-raises first from second: first → second → first, a cycle of causes (Python cuts only
    __context__ cycles). Whether first was raised from the probe's error follows that chain once round:
    no, so the error is the root's own, named as '(root)'. Following it without noting what it saw
    never ended (the profile runs in a thread here, so that such a loop fails the test, not the run)."""
    import threading

    class Fails(nn.Module):
        def forward(self, x):
            raise KeyError("probe")

    class Root(nn.Module):
        def __init__(self):
            super().__init__()
            self.probe, self.lin = Fails(), nn.Linear(3, 3)

        def forward(self, x):
            try:
                self.probe(x)
            except KeyError:
                pass
            self.lin(x)
            try:
                raise ValueError("first attempt")
            except ValueError as first:
                try:
                    raise RuntimeError("second attempt") from first
                except RuntimeError as second:
                    raise first from second

    raised = []

    def run():
        try:
            torchcount.profile(Root(), torch.randn(2, 3))
        except Exception as exc:  # (checked below)
            raised.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), "following the cause chain never ended"
    assert len(raised) == 1 and isinstance(raised[0], torchcount.ForwardError)
    assert "module '(root)' (Root)" in str(raised[0]) and "ValueError: first attempt" in str(raised[0])


# -------------------- wrappers' bookkeeping: copies made meanwhile, the collector


class _Cls(nn.Linear):
    pass


def test_nested_copies_as_found_take_their_reducer_out_only_when_the_outermost_ends():
    """copies_as_found counts how many open regions asked for a class's reducer (two profiles, or a
    measured pass inside a capture): the inner one's end leaves it in copyreg's table (1 left), the
    outer one's takes it out (0 left). Counting 1 − n for n − 1 left −1, then 2: an entry for good."""
    a, b = _Cls(2, 2), _Cls(2, 2)
    assert _Cls not in copyreg.dispatch_table
    with cap.copies_as_found([a]):
        assert copyreg.dispatch_table[_Cls] is cap._reduce_as_found and cap._copied_as_found[_Cls] == 1
        with cap.copies_as_found([b, a]):
            assert cap._copied_as_found[_Cls] == 2
        assert copyreg.dispatch_table[_Cls] is cap._reduce_as_found and cap._copied_as_found[_Cls] == 1
        with cap.copies_as_found([a]):
            assert cap._copied_as_found[_Cls] == 2
        assert cap._copied_as_found[_Cls] == 1
    assert _Cls not in copyreg.dispatch_table and _Cls not in cap._copied_as_found


def test_a_copy_made_inside_forwards_wrapped_has_its_own_modules_forward_as_found():
    """forwards_wrapped (the measured passes' wrappers) marks each wrapper with the forward the module
    had on its instance before: a deep copy made meanwhile gets that one (here the second module's
    ×3 forward; the first had none), not the wrapper, nor the first module's (none: the class's
    identity). After, the instance forward is back and the first module has none."""
    first, second = nn.Identity(), nn.Identity()
    triple = lambda x: x * 3  # noqa: E731
    second.forward = triple
    calls = []

    def wrap(module, forward):
        def wrapped(*args):
            calls.append(module)
            return forward(*args)
        return wrapped

    x = torch.ones(2)
    with cap.forwards_wrapped([first, second], wrap):
        copied = copy.deepcopy(second)
        assert copied.__dict__.get("forward") is triple
        assert torch.equal(copied(x), 3 * x) and calls == []
        assert torch.equal(second(x), 3 * x) and calls == [second]
    assert second.__dict__["forward"] is triple and "forward" not in first.__dict__


def test_a_parametrized_module_that_refers_to_itself_is_copied_once_while_wrapped():
    """While wrapped, a parametrized module's class copies it with _deepcopy_as_found, which must
    enter the copy in deepcopy's memo before copying the module's __dict__: a module that refers to
    itself there (here a list holding it, as a bound-method hook of its own does) then refers to its
    copy. Without it the list held a second copy of the module."""
    from torch.nn.utils import parametrize

    class Double(nn.Module):
        def forward(self, w):
            return 2 * w

    lin = nn.Linear(2, 2)
    parametrize.register_parametrization(lin, "weight", Double())
    lin.me = [lin]
    with cap.copies_as_found([lin]):
        assert type(lin).__deepcopy__ is cap._deepcopy_as_found
        copied = copy.deepcopy(lin)
    assert copied.me[0] is copied and copied is not lin
    assert torch.equal(copied.weight, 2 * lin.parametrizations.weight.original)


def test_a_parametrized_modules_deepcopy_called_again_with_its_memo_returns_the_same_copy():
    """A parent's own __deepcopy__ may call a shared child's __deepcopy__(memo) itself, twice for a child
    it holds twice (copy.deepcopy reads the memo first; a direct call does not): parametrize's own
    returns the copy its memo holds, the same object both times, and so must _deepcopy_as_found while
    the module is wrapped (returning None for a copy already made gave the parent None)."""
    from torch.nn.utils import parametrize

    class Double(nn.Module):
        def forward(self, w):
            return 2 * w

    lin = nn.Linear(2, 2)
    parametrize.register_parametrization(lin, "weight", Double())
    memo = {}
    outside = lin.__deepcopy__(memo)
    assert lin.__deepcopy__(memo) is outside is not lin
    memo = {}
    with cap.copies_as_found([lin]):
        first = lin.__deepcopy__(memo)
        assert lin.__deepcopy__(memo) is first is not lin
    assert torch.equal(first.weight, 2 * lin.parametrizations.weight.original)


class _Tagged(nn.Linear):
    __slots__ = ("tag",)


def test_a_parametrized_modules_slots_are_deep_copied_while_wrapped():
    """parametrize's own __deepcopy__ copies a module's slots beside its __dict__; _deepcopy_as_found,
    used while the module is wrapped, must too: a Linear subclass with a slot 'tag' holding [1]
    copies to one whose tag is an equal list, not the same one (not copying slots left none); and the
    class has parametrize's __deepcopy__ back after it (reading the saved one as None left ours)."""
    from torch.nn.utils import parametrize

    class Double(nn.Module):
        def forward(self, w):
            return 2 * w

    lin = _Tagged(2, 2)
    lin.tag = [1]
    parametrize.register_parametrization(lin, "weight", Double())
    outside = copy.deepcopy(lin)
    parametrize_deepcopy = type(lin).__dict__["__deepcopy__"]
    with cap.copies_as_found([lin]):
        copied = copy.deepcopy(lin)
    assert type(lin).__dict__["__deepcopy__"] is parametrize_deepcopy is not cap._deepcopy_as_found
    assert outside.tag == copied.tag == [1] and copied.tag is not lin.tag


class _Rebuilt(nn.Linear):
    """A Linear whose class reduces it without a state: (the class, (in, out)), as pickling's
    two-element form allows."""

    def __reduce__(self):
        return _Rebuilt, (self.in_features, self.out_features)


def test_a_module_whose_own_reducer_gives_no_state_is_copied_by_it_while_wrapped():
    """A class's own __reduce__ returning (callable, args), no state, is what a copy made while its
    module is wrapped uses, as outside: a new _Rebuilt(3, 2), its own weight (3 in, 2 out: 2×3). With
    no third element there is no state to edit (reading one where the tuple has 2 raised IndexError)."""
    lin = _Rebuilt(3, 2)
    with cap.forwards_wrapped([lin], lambda m, forward: lambda *args: forward(*args)):
        assert copyreg.dispatch_table[_Rebuilt] is cap._reduce_as_found
        copied = copy.deepcopy(lin)
        shallow = copy.copy(lin)
    for c in (copied, shallow):
        assert type(c) is _Rebuilt and c is not lin and "forward" not in c.__dict__
        assert c.weight.shape == (2, 3) and c.weight is not lin.weight


def test_a_shallow_copy_made_while_wrapped_shares_the_modules_own_hook_dicts_as_outside():
    """copy.copy of a module shares its __dict__'s values (its hook dicts too), outside a profile and
    inside one: a module with a hook of the user's only (none of ours to leave out) keeps the same
    hook dict in its copy; the forward wrapper is left out. (Rebuilding every non-empty hook dict gave
    the copy a dict of its own.)"""
    lin = nn.Linear(2, 2)
    lin.register_forward_hook(lambda m, a, out: out)
    outside = copy.copy(lin)
    assert outside._forward_hooks is lin._forward_hooks
    with cap.forwards_wrapped([lin], lambda m, forward: lambda *args: forward(*args)):
        inside = copy.copy(lin)
    assert inside._forward_hooks is lin._forward_hooks and inside._forward_pre_hooks is lin._forward_pre_hooks
    assert "forward" not in inside.__dict__


def test_a_shallow_copy_of_a_watched_module_shares_its_kwargs_flags_as_outside():
    """copy.copy shares a module's hook-flag dicts, outside a profile and inside one. A watched Linear
    whose forward hook takes kwargs (with_kwargs=True: a flag under its key) has our always-called
    forward hook beside it, left out of the copy with its flag; the kwargs flags hold none of ours and
    stay the module's own dict, as outside (rebuilding every non-empty flag dict gave the copy its own)."""
    from torchcount.rules import has_rule

    model = _WrapsLinear(2)
    model.lin.register_forward_hook(lambda m, args, kwargs, out: out, with_kwargs=True)
    flags = model.lin._forward_hooks_with_kwargs
    assert copy.copy(model.lin)._forward_hooks_with_kwargs is flags and len(flags) == 1
    with cap.capture(model, has_rule):
        assert len(model.lin._forward_hooks_always_called) == 1
        inside = copy.copy(model.lin)
    assert inside._forward_hooks_with_kwargs is flags and not inside._forward_hooks_always_called
    assert list(inside._forward_hooks) == list(flags)


def test_a_copy_made_during_a_capture_gets_the_submodules_own_instance_forward():
    """capture marks each wrapper with the forward that module had on its instance: a deep copy of the
    child made during the capture runs the child's own ×3 forward (not the wrapper, which ran the
    original's; nor the root's, which has none: an Identity's pass-through)."""
    from torchcount.rules import has_rule

    class Root(nn.Module):
        def __init__(self):
            super().__init__()
            self.child = nn.Identity()

        def forward(self, x):
            return self.child(x)

    model = Root()
    triple = lambda x: x * 3  # noqa: E731
    model.child.forward = triple
    x = torch.ones(2)
    with cap.capture(model, has_rule):
        copied = copy.deepcopy(model.child)
    assert copied.__dict__.get("forward") is triple and torch.equal(copied(x), 3 * x)
    assert model.child.__dict__["forward"] is triple and "forward" not in model.__dict__


def test_a_copy_of_a_watched_module_made_during_a_capture_has_only_its_own_hook():
    """A Linear with a forward hook of the user's is watched during a capture: our pre-hook and our
    always-called forward hook beside it, the user's hook guarded. A deep copy made meanwhile has the
    user's hook itself (unguarded) and none of ours, nor our hook's always-called flag (the flags
    left as they were kept that key: a flag for a hook the copy does not have)."""
    from torchcount.rules import has_rule

    model = _WrapsLinear(2)

    def hook(module, args, out):
        return out

    model.lin.register_forward_hook(hook)
    with cap.capture(model, has_rule):
        assert len(model.lin._forward_hooks) == 2 and len(model.lin._forward_hooks_always_called) == 1
        copied = copy.deepcopy(model.lin)
    assert list(copied._forward_hooks.values()) == [hook] and not copied._forward_pre_hooks
    assert not copied._forward_hooks_always_called and "forward" not in copied.__dict__
    assert list(model.lin._forward_hooks.values()) == [hook] and not model.lin._forward_hooks_always_called


def test_gc_paused_pauses_the_collector_and_restores_it_as_found():
    """gc_paused: the collector off inside (nested too), back on after only if it was on before."""
    assert gc.isenabled()
    with cap.gc_paused():
        assert not gc.isenabled()
        with cap.gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner one found it off: leaves it off
    assert gc.isenabled()
    gc.disable()
    try:
        with cap.gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
    with pytest.raises(ZeroDivisionError):
        with cap.gc_paused():
            1 / 0
    assert gc.isenabled()


def test_a_module_that_is_a_list_keeps_its_items_in_a_copy_made_while_wrapped():
    """A module that is also a list ([1, 2], its forward x·len(self)) and pickles by its live __dict__:
    its reduction is (constructor, arguments, state, list items, dict items), and a copy made during
    the capture (by the root's forward) keeps its items [1, 2] and none of our wrapper. Rebuilding the
    reduction around the edited state without the list items left the copy an empty list."""
    from torchcount.rules import has_rule

    class Taps(nn.Module, list):
        __hash__ = object.__hash__  # (a list's would make it unhashable, which named_modules needs)
        __eq__ = object.__eq__

        def __init__(self):
            nn.Module.__init__(self)
            list.__init__(self, [1, 2])

        def __getstate__(self):
            return self.__dict__

        def forward(self, x):
            return x * len(self)

    class Root(nn.Module):
        def __init__(self):
            super().__init__()
            self.taps = Taps()

        def forward(self, x):
            self.copied = copy.deepcopy(self.taps)
            return self.taps(x)

    model = Root()
    with cap.capture(model, has_rule):
        model(torch.randn(2))
    assert list(model.copied) == [1, 2] and "forward" not in model.copied.__dict__


# -------------------- FunctionMethod: what a profiled function holds


class _Token:
    pass


def _nested_step(levels: int, token):
    """A step function reaching ``token`` through ``levels`` helpers, each holding the next in its
    closure: levels = 0 holds it itself."""
    def holder():
        return token

    fn = holder
    for _ in range(levels):
        def helper(fn=fn):
            return fn()
        fn = helper
    return fn


def test_held_named_follows_helpers_two_levels_down_and_no_further():
    """_held_by follows _HELPER_DEPTH = 3 levels of functions: the step itself, the helpers it holds,
    and theirs. A token in the step's closure, or 1 or 2 helpers down, is found (by its variable's
    name, 'token'); 3 helpers down it is not. (helper's default argument 'fn' is a function: followed,
    not listed.)"""
    for levels, found in ((0, True), (1, True), (2, True), (3, False)):
        token = _Token()
        held = FunctionMethod(_nested_step(levels, token)).held_named()
        assert (("token", token) in held) is found, levels
        assert all(value is not token or name == "token" for name, value in held)


def test_held_named_lists_a_partials_bound_arguments_by_position_and_keyword():
    """A step given as functools.partial(step, a, opt=b) holds what the partial bound: a as 'args[0]',
    b as 'opt' (step itself holds nothing: it names no global or default). Not reading the partial's
    arguments listed nothing."""
    import functools

    def step(a, model, opt):
        return a, model, opt

    a, b = _Token(), _Token()
    assert FunctionMethod(functools.partial(step, a, opt=b)).held_named() == [("args[0]", a), ("opt", b)]


_HELD_TOKEN = _Token()


def test_held_named_leaves_out_the_modules_and_classes_a_step_names():
    """The globals a step's code names are held, but for modules and classes (imported code, not
    the user's objects): a step naming torch, nn, copy, _Token and _HELD_TOKEN holds _HELD_TOKEN
    only (reading 'and' for 'or' there listed the four others too)."""
    def step(model):
        _Token()
        copy.copy(model)
        return torch.zeros(1), nn.Identity(), _HELD_TOKEN

    assert FunctionMethod(step).held_named() == [("_HELD_TOKEN", _HELD_TOKEN)]


def test_held_named_does_not_look_inside_torchs_own_functions():
    """A step holding torch's F.relu (a default argument) holds nothing of the user's: torch's and
    torchcount's functions are not followed (reading every function's module as '' followed F.relu
    into its globals: torch's has_torch_function_unary and the like were listed as held)."""
    import torch.nn.functional as F

    def step(model, act=F.relu):
        return act(model)

    assert FunctionMethod(step).held_named() == []
    token = _Token()

    def step2(model, act=F.relu, opt=token):
        return act(model), opt

    assert FunctionMethod(step2).held_named() == [("opt", token)]


def test_storage_bytes_of_a_layout_torchcount_does_not_know_is_its_elements_times_their_size():
    """A mkldnn tensor is neither strided nor sparse (sparse_layout gives None): storage_bytes prices it
    as its elements times their size, 3·4 float32 = 12 × 4 = 48 bytes, and 2·5 bfloat16 = 10 × 2 = 20
    (adding the two, 12 + 4 = 16, or taking the element size alone, 4, survived)."""
    if not torch.backends.mkldnn.is_available():
        pytest.skip("this torch has no mkldnn")
    x = torch.randn(3, 4).to_mkldnn()
    assert x.layout is torch._mkldnn and cap.sparse_layout(x) is None
    assert cap.storage_bytes(x) == 48
    assert cap.storage_bytes(torch.randn(2, 5).to(torch.bfloat16).to_mkldnn()) == 20


def test_held_named_lists_what_a_helper_held_twice_holds_once():
    """A step holding one helper under two names (a, b) reaches the helper's closure once: held_named
    is [('token', token)], one entry (a helper not marked seen was followed again from b: the token
    listed twice)."""
    token = _Token()

    def helper():
        return token

    a = b = helper

    def step(model):
        return a(), b()

    assert FunctionMethod(step).held_named() == [("token", token)]


def test_a_wrapper_called_after_the_capture_runs_the_modules_forward_and_returns_its_output():
    """A reference to a module's forward taken while it is wrapped (a user's saved lin.forward) is the
    recording wrapper; called after the capture it runs the forward unrecorded and returns its output:
    lin(x) with weight I·2, bias 1 is 2x + 1 (returning nothing there gave None), and the trace
    still holds the one call made during the capture."""
    from torchcount.rules import has_rule

    lin = nn.Linear(3, 3)
    with torch.no_grad():
        lin.weight.copy_(2 * torch.eye(3))
        lin.bias.fill_(1)
    x = torch.tensor([[1.0, 2.0, 3.0]])
    with cap.capture(lin, has_rule) as recorder:
        saved = lin.forward
        lin(x)
    assert saved is not lin.forward and "forward" not in lin.__dict__
    assert torch.equal(saved(x), torch.tensor([[3.0, 5.0, 7.0]]))
    assert len(recorder.trace.calls) == 1


def test_a_plain_tensor_output_that_is_a_positional_argument_or_a_view_of_one_is_aliased():
    """A forward returning memory it was given positionally returns an aliased output: the first of
    two tensors, the second, or a view of the first (aᵀ; and of a one-tensor call's x, xᵀ); one
    returning a + b, or a view of it, (a + b)ᵀ, is new memory (comparing the output with the keyword
    arguments only, in the path for a plain tensor out, took a and b for new memory; for a view out,
    the views; taking two arguments for the usual one-tensor call compared b with a only)."""
    from torchcount.rules import has_rule

    class Out(nn.Module):
        def __init__(self, f):
            super().__init__()
            self.f = f

        def forward(self, *args):
            return self.f(*args)

    a, b = torch.randn(2, 3), torch.randn(2, 3)
    for f, args, aliased in ((lambda a, b: a, (a, b), True), (lambda a, b: b, (a, b), True),
                             (lambda a, b: a.t(), (a, b), True),
                             (lambda a: a.t(), (a,), True), (lambda a, b: a + b, (a, b), False),
                             (lambda a, b: (a + b).t(), (a, b), False)):
        model = Out(f)
        with cap.capture(model, has_rule) as recorder:
            out = model(*args)
        (call,) = recorder.trace.calls
        assert call.output.shape == tuple(out.shape) and call.output.aliased is aliased, (f, aliased)


def test_a_deepcopy_the_user_sets_on_a_parametrized_class_while_wrapped_is_kept():
    """copies_as_found puts parametrize's __deepcopy__ back on a parametrized class only where ours is
    still there: one the user set on the class meanwhile stays after (putting the saved one back
    whenever one was saved replaced the user's)."""
    from torch.nn.utils import parametrize

    class Double(nn.Module):
        def forward(self, w):
            return 2 * w

    lin = nn.Linear(2, 2)
    parametrize.register_parametrization(lin, "weight", Double())
    cls = type(lin)

    def users(self, memo):
        return self

    with cap.copies_as_found([lin]):
        assert cls.__deepcopy__ is cap._deepcopy_as_found
        cls.__deepcopy__ = users
    assert cls.__dict__["__deepcopy__"] is users and cls not in cap._deepcopies
