"""capture.py and count.py, checked by hand where a mutant of either survived the other test files: what a
call records, the control-flow runners, the names and counts summarize gives (each test names the
mutant it pins)."""
from __future__ import annotations

import copy
import threading
import types

import torch
from torch import nn

import torchcount
from torchcount import capture as cap
from torchcount.conventions import get_convention
from torchcount.count import summarize
from torchcount.rules import has_rule

from conftest import needs


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


def test_a_modules_plain_tensor_arguments_are_described_as_the_slow_path_does():
    """_describe_args, the fast path for plain strided tensors, gives each argument's shape and dtype and
    aliased False (an argument is what the call was given, aliased to nothing), field for field as
    describe() does for the same arguments: a 2×3 float and a 4 long. (aliased True survived.)"""
    args = (torch.randn(2, 3), torch.arange(4))
    fast, slow = cap._describe_args(args), cap.describe(args)
    assert [(m.shape, m.dtype, m.aliased) for m in fast] == [((2, 3), torch.float32, False), ((4,), torch.int64, False)]
    assert [(m.shape, m.dtype, m.aliased, m.sparse) for m in fast] == \
        [(m.shape, m.dtype, m.aliased, m.sparse) for m in slow]


def test_an_lstm_given_a_packed_sequence_and_its_state_by_keyword_shows_all_three_inputs():
    """nn.LSTM(3, 4) on a sequence of lengths 5 and 3 packed (8 rows of 3) with hx=(h0, c0) by keyword:
    its inputs are the packed data 8×3 and then h0 and c0, 1×2×4 each, the keyword's tensors after the
    positional ones. (Dropping what follows the packed arguments, the keyword's two, survived.)"""
    from torch.nn.utils.rnn import pack_padded_sequence

    packed = pack_padded_sequence(torch.randn(5, 2, 3), [5, 3])
    hx = (torch.zeros(1, 2, 4), torch.zeros(1, 2, 4))
    report = torchcount.profile(nn.LSTM(3, 4), (packed,), kwargs={"hx": hx}, warn=False)
    assert report.root.input_shapes == [(8, 3), (1, 2, 4), (1, 2, 4)]


def test_a_modules_own_state_bytes_count_a_tensor_registered_twice_once_and_skip_none():
    """_own_state_bytes: a 4×4 float32 weight registered as both 'a' and 'b' is 64 bytes once, a bias
    slot set to None adds nothing, a 3-element float64 buffer 24: 88. (Counting a tensor seen before,
    or a None, survived.)"""
    from torchcount.count import _own_state_bytes

    m = nn.Module()
    w = nn.Parameter(torch.zeros(4, 4))
    m.a, m.b = w, w
    m.register_parameter("bias", None)
    m.register_buffer("stat", torch.zeros(3, dtype=torch.float64))
    assert _own_state_bytes(m) == 64 + 24


_LAMBDA_TOKEN = object()


def test_held_named_finds_a_global_named_only_in_a_nested_lambda():
    """A step whose only use of _LAMBDA_TOKEN is inside a lambda it builds (the name is in the lambda's
    own code object, not the step's) holds it. (Not searching nested code objects survived.)"""
    def step(model):
        get = lambda: _LAMBDA_TOKEN  # noqa: E731
        return get()

    assert cap.FunctionMethod(step).held_named() == [("_LAMBDA_TOKEN", _LAMBDA_TOKEN)]


def test_a_scripted_dynamic_quantized_rnn_cell_counts_its_packed_weights_as_the_eager_one():
    """A dynamic quantized RNNCell(3, 4), eager or scripted (whose methods are its instance's: its
    packed weights are found as the eager cell's are): 4×3 + 4×4 int8 weights and 4 + 4 float biases,
    36 parameters, 28 + 32 = 60 bytes. (A scripted cell read as holding no cell weights survived.)"""
    import warnings

    from torch.ao.nn.quantized.dynamic import RNNCell

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cell = RNNCell(3, 4)
        scripted = torch.jit.script(RNNCell(3, 4))
    for m in (cell, scripted):
        report = torchcount.profile(m, torch.randn(2, 3), warn=False)
        assert (report.total.params, report.total.param_bytes) == (36, 60)


def test_a_lazy_layer_never_called_beside_a_shared_one_has_0_parameters_in_its_row():
    """A Linear(4, 4) registered twice (used, alias: the shared walk) and a LazyLinear(3) the forward
    never reaches, with no size: the lazy layer holds 0 parameters, not 1 per unsized tensor (weight and
    bias: 2), so the root's subtree is the Linear's 4·4 + 4 = 20, once, as the total, and the table
    has the Linear's row only. (An unsized tensor counted as 1 survived: a 'spare' row of 2, the root 22.)"""
    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.used = nn.Linear(4, 4)
            self.alias = self.used
            self.spare = nn.LazyLinear(3)

        def forward(self, x):
            return self.used(x)

    report = torchcount.profile(Holder(), torch.randn(2, 4), warn=False)
    assert [(r.path, r.params, r.calls) for r in report.layers] == [("used", 20, 1)]
    assert report.total.params == 20 and report.root.params == 20


def test_a_scripted_child_is_its_callers_work_and_no_row_of_its_own():
    """A TorchScript block (Linear(4, 3), ReLU) cannot be wrapped: its work is its caller's, the
    root's own 2·4·3 = 24 MACs, beside head's 2·3·2 = 12; its 15 parameters are the root's (23 with
    head's 8), and it gets no 'never called' row or note. (Not marking the trace scripted listed
    block and block.0 as never called, their weights 'most likely read' by the root, survived.)"""
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = torch.jit.script(nn.Sequential(nn.Linear(4, 3), nn.ReLU()))
            self.head = nn.Linear(3, 2)

        def forward(self, x):
            return self.head(self.block(x))

    report = torchcount.profile(Net(), torch.randn(2, 4), warn=False)
    assert [(r.path, r.params, r.calls, r.cost.macs, r.self_cost.macs) for r in report.layers] == \
        [("", 23, 1, 36, 24), ("head", 8, 1, 12, 12)]
    assert not any("never called" in n for n in report.notes)


def test_own_call_is_a_users_class_call_not_nn_modules_nor_a_graph_modules():
    """own_call: a Linear subclass defining __call__ is its own (True); nn.Linear (nn.Module's) and an
    fx GraphModule (whose __call__ is torch's, torch.fx.graph_module) are not. ('or' for 'and' read the
    GraphModule's as the model's own __call__ survived.)"""
    import torch.fx

    class Mine(nn.Linear):
        def __call__(self, x):
            return super().__call__(x)

    graph = torch.fx.symbolic_trace(nn.Sequential(nn.Linear(2, 2)))
    assert [cap.own_call(m) for m in (Mine(2, 2), nn.Linear(2, 2), graph)] == [True, False, False]


def test_a_parameter_registered_twice_in_one_module_is_its_16_parameters_once():
    """A module holding one 4×4 Parameter as both 'a' and 'b' (and no buffer) holds 16 parameters of its
    own, 64 bytes, not 32: it is one tensor. (Deduplicating a module's own tensors only when it had
    more than one buffer survived: self_params 32.)"""
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Parameter(torch.ones(4, 4))
            self.b = self.a

        def forward(self, x):
            return x @ self.a @ self.b

    report = torchcount.profile(Twice(), torch.randn(1, 4), warn=False)
    assert (report.root.params, report.root.self_params) == (16, 16)
    assert (report.total.params, report.total.param_bytes) == (16, 64)


def test_the_tied_parameters_note_names_six_groups_without_an_ellipsis_and_seven_with_one():
    """k encoder Linears each tying its weight to a decoder Linear: k groups 'enc.i.weight = dec.i.weight'.
    The note names up to 6; 6 groups end with the sixth, 7 with the sixth and ' …'. (An ellipsis
    from 6 on survived.)"""
    class Tied(nn.Module):
        def __init__(self, k):
            super().__init__()
            self.enc = nn.ModuleList([nn.Linear(2, 2, bias=False) for _ in range(k)])
            self.dec = nn.ModuleList([nn.Linear(2, 2, bias=False) for _ in range(k)])
            for e, d in zip(self.enc, self.dec):
                d.weight = e.weight

        def forward(self, x):
            for e, d in zip(self.enc, self.dec):
                x = d(e(x))
            return x

    for k, end in ((6, "enc.5.weight = dec.5.weight"), (7, "enc.5.weight = dec.5.weight …")):
        report = torchcount.profile(Tied(k), torch.randn(1, 2), warn=False)
        (note,) = [n for n in report.notes if n.startswith("parameters shared between modules")]
        assert note.endswith(": " + "; ".join(f"enc.{i}.weight = dec.{i}.weight" for i in range(5)) + "; " + end)
        assert report.total.params == 4 * k  # (each tied 2×2 weight once)


def test_a_ruled_module_inside_vmap_on_unbatched_tensors_keeps_its_rule():
    """Inside torch.vmap over a 3×5 input, a Linear(4, 2) called on a 1×4 buffer (not a vmap-wrapped
    tensor, its weights not batched) computes the same thing for every sample, once: its rule prices it,
    1·4·2 = 8 MACs, with no 'called inside torch.vmap' note; t · that sum is 3·5 = 15 mults. (Every call
    under a functorch transform taken as transformed, priced from its ops with the note, survived.)"""
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 2)
            self.register_buffer("c", torch.ones(1, 4))

        def forward(self, x):
            return torch.vmap(lambda t: t * self.lin(self.c).sum())(x)

    report = torchcount.profile(M(), torch.randn(3, 5), warn=False)
    lin = report.row("lin")
    assert (lin.status, lin.rule, lin.cost.macs, lin.calls) == ("rule", "linear.linear", 8, 1)
    assert report.total.cost.mults == 15 and not any("torch.vmap" in n for n in report.notes)


def test_a_modules_none_argument_is_recorded_as_none():
    """A module called as block(x, None) (an optional mask left out) records its arguments as the 2×3
    tensor's TensorMeta and None itself, what a rule reading ``call.args[1] is None`` expects; a keyword
    mask=None likewise. (Taking only bool/int/float/complex/str as kept values made None '<NoneType>'.)"""
    class Masked(nn.Module):
        def forward(self, x, mask, scale=None):
            return x if mask is None else x * mask

    model = Masked()
    with cap.capture(model, has_rule) as recorder:
        model(torch.randn(2, 3), None, scale=None)
    (call,) = recorder.trace.calls
    assert call.args == (cap.TensorMeta((2, 3), torch.float32), None) and call.kwargs == {"scale": None}


def test_a_dataclass_class_given_or_returned_is_a_value_not_an_instance_with_fields():
    """A dataclass *class* passed to a module (a config type, not an instance of it) is described as a
    value, '<type>' (the class's class's name), as any other non-tensor object is; and a child returning
    (tensor, that class) to a caller that records its own ops yields no tensor from the class: the class
    has no field values (its field without a default is no attribute of it), so reading its fields as an
    instance's raised AttributeError in the forward. (Dropping 'not isinstance(value, type)' survived, in
    describe and in _output_tensors.)"""
    import dataclasses

    @dataclasses.dataclass
    class Config:
        width: int

    class Child(nn.Module):
        def forward(self, x, kind):
            return x + 1, kind

    class Parent(nn.Module):
        def __init__(self):
            super().__init__()
            self.child = Child()

        def forward(self, x):
            y, _ = self.child(x, Config)
            return y * 2

    model = Parent()
    with cap.capture(model, has_rule) as recorder:
        model(torch.randn(2, 3))
    root, child = recorder.trace.calls
    assert child.args == (cap.TensorMeta((2, 3), torch.float32), "<type>")
    assert child.output == (cap.TensorMeta((2, 3), torch.float32), "<type>")
    assert [op.name for op in root.ops] == ["aten.mul.Tensor"]
    assert cap._output_tensors((torch.zeros(1), Config), [])[0].shape == (1,)
    assert len(cap._output_tensors(Config, [])) == 0


def test_a_lazy_parameter_not_yet_materialised_is_described_as_uninitialized():
    """A LazyLinear's weight before its first call has no shape: handed to a module as an argument it is
    described as the text '<uninitialized>' (reading its shape raises), and returned by that module it is
    no output tensor (_output_tensors skips it). (Returning None for it survived: no test made one.)"""
    class Probe(nn.Module):
        def forward(self, w):
            return w

    lazy = nn.LazyLinear(2)
    probe = Probe()
    with cap.capture(probe, has_rule) as recorder:
        probe(lazy.weight)
    (call,) = recorder.trace.calls
    assert call.args == ("<uninitialized>",) and call.output == "<uninitialized>"
    assert cap.describe([lazy.weight, 1]) == ["<uninitialized>", 1]
    assert cap._output_tensors([lazy.weight], []) == []


def test_a_list_subclass_with_fields_stays_a_list():
    """Only a tuple with ``_fields`` is a namedtuple, rebuilt as its type from the described fields: a list
    subclass that happens to carry a ``_fields`` attribute is described as a plain list of what it holds,
    [TensorMeta 2×3, 5] (rebuilding it as its type, list(meta, 5), raised TypeError). (Dropping
    'isinstance(value, tuple)' from the namedtuple test survived.)"""
    class Row(list):
        _fields = ("t", "n")

    assert cap.describe(Row([torch.zeros(2, 3), 5])) == [cap.TensorMeta((2, 3), torch.float32), 5]


def test_a_module_returning_its_own_input_tensor_is_aliased_and_a_new_one_is_not():
    """One plain tensor in, one out (the wrapper's shortcut): nn.Identity and an in-place ReLU return the
    very tensor they were given (ReLU(inplace=True) returns relu_'s self), so their output is aliased, no
    new memory written; ReLU() and x * 2 return a new tensor: not aliased. (Reading 'output is not
    args[0]' there survived.)"""
    class Double(nn.Module):
        def forward(self, x):
            return x * 2

    for module, aliased in ((nn.Identity(), True), (nn.ReLU(inplace=True), True), (nn.ReLU(), False),
                            (Double(), False)):
        with cap.capture(module, has_rule) as recorder:
            module(torch.randn(2, 3))
        (call,) = recorder.trace.calls
        assert call.output == cap.TensorMeta((2, 3), torch.float32, aliased), module


def test_an_op_split_on_some_device_types_runs_as_its_parts_on_those_only():
    """decompose(op) may name the device types on which an op runs as its parts (rules.parts_split gives
    such a set for an op with a kernel of its own on some backends only: _fused_rms_norm, whole on CUDA).
    Under inference_mode einsum 'ij,jk->ik' reaches the recorder whole; on CPU tensors, split
    frozenset({'cpu'}) runs its composite kernel and records its parts (a bmm among them, no einsum),
    frozenset({'cuda'}) records the one einsum, as False does; the product is arange(6) as 2×3 times
    arange(12) as 3×4 each time (row 0: 20, 23, 26, 29). (Taking only split True, 'not in', or
    splitting on any device type of a set survived.)"""
    einsum = torch.ops.aten.einsum.default

    class Product(nn.Module):
        def forward(self, x, y):
            return torch.einsum("ij,jk->ik", x, y)

    x, y = torch.arange(6.0).reshape(2, 3), torch.arange(12.0).reshape(3, 4)
    names = {}
    for split in (frozenset({"cpu"}), frozenset({"cuda"}), False):
        model = Product()
        with torch.inference_mode(), cap.capture(model, has_rule, decompose=lambda op: split if op is einsum
                                                 else False) as recorder:
            out = model(x, y)
        assert out[0].tolist() == [20.0, 23.0, 26.0, 29.0] and torch.equal(out, x @ y)
        names[split] = [op.name for op in recorder.trace.calls[0].ops]
    assert "aten.bmm.default" in names[frozenset({"cpu"})] and "aten.einsum.default" not in names[frozenset({"cpu"})]
    assert names[frozenset({"cuda"})] == names[False] == ["aten.einsum.default"]


def test_a_profiled_method_is_priced_from_its_ops_on_a_ruled_root_and_on_a_sequential_one():
    """A function profiled as the method (fn(model, x) = model(x) + model(x)) runs other code than the
    forward: its call is the root's, priced from what it runs, never by the root's rule nor skipped as a
    container's. On a Linear(4, 3) root (a rule): its two forwards, 2 · 4·3 = 24 MACs, and the add of
    the two 1×3 outputs, 3 additions (the rule, reading the method call's 1×4 input and 1×3 output,
    gave one forward's 12 and no add), and no note of 'a forward set on the instance' (the wrapper in its
    __dict__ is ours); on Sequential(Linear(4, 3)) (whose forward only calls its child,
    so it records no ops there): the same 24 MACs and 3 additions (the add was lost). (Dropping 'not
    method' from the rule look-up or from the container's no-ops test survived.)"""
    def twice(model, x):
        return model(x) + model(x)

    for model in (nn.Linear(4, 3, bias=False), nn.Sequential(nn.Linear(4, 3, bias=False))):
        report = torchcount.profile(model, torch.randn(1, 4), method=twice, warn=False)
        assert (report.total.cost.macs, report.total.cost.adds) == (2 * 4 * 3, 3), type(model).__name__
        assert not any("a forward set on the instance" in note for note in report.notes)


def test_a_rule_less_module_with_a_forward_set_on_the_instance_gets_no_unruled_note():
    """'a forward set on the instance' is noted only for a module whose type has a rule (its rule is
    then not used): a plain nn.Module given a forward of its own has no rule to set aside, and its call
    is priced from its ops as any such module's, 2×3 multiplications for x * 2 on a 2×3 input, with no
    entry in trace.unruled; a Linear given one is noted. (Noting every module with an instance forward
    survived.)"""
    plain = nn.Module()
    plain.forward = lambda x: x * 2
    with cap.capture(plain, has_rule) as recorder:
        plain(torch.randn(2, 3))
    assert recorder.trace.unruled == {}
    assert [op.name for op in recorder.trace.calls[0].ops] == ["aten.mul.Tensor"]
    lin = nn.Linear(3, 2)
    lin.forward = lambda x: x * 2
    with cap.capture(lin, has_rule) as recorder:
        lin(torch.randn(2, 3))
    assert recorder.trace.unruled == {"": "a forward set on the instance"}


def test_a_rule_less_module_inside_vmap_gets_no_unruled_note():
    """Inside torch.vmap only a module with a rule is priced from its ops instead (the rule would see
    one sample): a rule-less module is priced from its ops anyway, with no 'called inside torch.vmap'
    entry in trace.unruled, while a Linear(4, 2) on the batched input gets one. (Noting every module
    called on a vmapped tensor survived.)"""
    class Double(nn.Module):
        def forward(self, x):
            return x * 2

    for module, unruled in ((Double(), {}), (nn.Linear(4, 2), {"": "called inside torch.vmap; one sample's shapes "
                                                                   "shown"})):
        with cap.capture(module, has_rule) as recorder:
            torch.vmap(module)(torch.randn(3, 4))
        assert recorder.trace.unruled == unruled, type(module).__name__


def test_a_sequentials_scripted_child_is_its_work():
    """A TorchScript child is not wrapped (its ops are its caller's): in nn.Sequential(Linear(4, 3),
    torch.jit.script(Linear(3, 2))) the Sequential records its ops, though its forward only calls its
    children: 4·3 + 3·2 = 18 MACs in all, 6 of them the Sequential's own. (A Sequential with a scripted
    child kept as one that records no ops lost the 6.)"""
    model = nn.Sequential(nn.Linear(4, 3), torch.jit.script(nn.Linear(3, 2)))
    report = torchcount.profile(model, torch.randn(1, 4), warn=False)
    assert report.total.cost.macs == 4 * 3 + 3 * 2 and report.root.self_cost.macs == 3 * 2


def test_a_global_pre_hooks_ops_before_a_sequentials_child_are_the_sequentials():
    """torch's process-wide forward pre-hooks run before any hook of ours, in the caller's forward: one
    that adds 1 to a module's 1×4 input does 4 additions before Sequential(Linear(4, 3, bias=False)) (the
    root: its own) and 4 before the Linear (in the Sequential's forward, which then records its ops, though
    it only calls its children): 8 additions in all, with the Linear's 4·3 = 12 MACs. (Leaving the
    global pre-hooks out of the container's no-ops test lost the second 4.)"""
    handle = torch.nn.modules.module.register_module_forward_pre_hook(lambda module, args: (args[0] + 1,))
    try:
        report = torchcount.profile(nn.Sequential(nn.Linear(4, 3, bias=False)), torch.randn(1, 4), warn=False)
    finally:
        handle.remove()
    assert (report.total.cost.adds, report.total.cost.macs) == (2 * 4, 4 * 3)


def test_without_op_recording_a_modules_own_activation_is_not_known():
    """With record_ops=False a rule-less module's own ops are not recorded, so whether its first output
    is one it made or its child's is not known: the root's "(self)" activation is None, for a root that
    returns its child's 1×3 output as for one that adds to it; with ops recorded, 0 for the first (its
    child's output passed on) and 3 for the second (the 1×3 sum it made); None too under autocast, where
    a call records its ops whatever its rule, but only with record_ops. (Switching the wrapper's op
    recording on where record_ops is False, in general and under autocast, took the first for its own: 3.)"""
    class Passes(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 3)

        def forward(self, x):
            return self.lin(x)

    class Adds(Passes):
        def forward(self, x):
            return self.lin(x) + 1

    for cls, own in ((Passes, 0), (Adds, 3)):
        assert torchcount.profile(cls(), torch.randn(1, 4), warn=False).root.self_activation == own
        report = torchcount.profile(cls(), torch.randn(1, 4), record_ops=False, warn=False)
        assert report.root.self_activation is None, cls.__name__
        with torch.autocast("cpu"):  # (where a call records its ops whatever its rule: not without record_ops)
            report = torchcount.profile(cls(), torch.randn(1, 4), record_ops=False, warn=False)
        assert report.root.self_activation is None, cls.__name__


def test_a_ruled_blocks_grandchild_is_covered_by_its_rule_too():
    """A block priced whole by its rule (rows·4·4 MACs: 16 for one 4-wide row) calls a Sequential that
    calls a Linear(4, 4): both are covered (their work is the rule's), the grandchild because its parent
    is covered, not ruled; the total is the rule's 16, not 16 more for the Linear priced again. (Taking
    only a ruled parent, not a covered one, as covering survived.)"""
    from conftest import products_rule

    class DeepBlock(nn.Module):
        def __init__(self):
            super().__init__()
            self.seq = nn.Sequential(nn.Linear(4, 4))

        def forward(self, x):
            return self.seq(x)

    rule = products_rule(DeepBlock)
    next(rule)
    try:
        model = DeepBlock()
        with cap.capture(model, has_rule) as recorder:
            model(torch.randn(1, 4))
        assert [(c.path, c.covered) for c in recorder.trace.calls] == [("", False), ("seq", True), ("seq.0", True)]
        assert torchcount.profile(DeepBlock(), torch.randn(1, 4), warn=False).total.cost.macs == 16
    finally:
        next(rule, None)


def test_the_global_pre_hooks_note_is_given_only_where_ops_are_recorded():
    """With torch's process-wide forward pre-hooks set, the note says their ops are counted in the calling
    module's row (and not inside a module priced by a rule): true where ops are recorded. With
    record_ops=False no op is recorded anywhere, and the note (and the per-covered-call uncounted entry
    it stands for) is left out. (Setting trace.global_pre_hooks without record_ops survived.)"""
    handle = torch.nn.modules.module.register_module_forward_pre_hook(lambda module, args: None)
    try:
        notes = {record: torchcount.profile(nn.Sequential(nn.Linear(4, 3)), torch.randn(1, 4), record_ops=record,
                                            warn=False).notes for record in (True, False)}
    finally:
        handle.remove()
    assert any(n.startswith("torch's process-wide forward pre-hooks are set") for n in notes[True])
    assert not any(n.startswith("torch's process-wide forward pre-hooks are set") for n in notes[False])


def test_a_forward_that_sets_a_submodule_to_none_runs_under_capture():
    """A forward that drops a layer once used (self.warm = None after calling it: torch tells the
    process-wide module-registration hooks, ours among them, of the None set in its place) runs as it
    does uncaptured: Linear(4, 3) counted, 4·3 = 12 MACs (and the model left as found, its layer put back). (Dropping
    'child is None' from the hook's early return made it read None's submodules: AttributeError.)"""
    class Warm(nn.Module):
        def __init__(self):
            super().__init__()
            self.warm = nn.Linear(4, 3, bias=False)

        def forward(self, x):
            out = self.warm(x)
            self.warm = None
            return out

    model = Warm()
    warm = model.warm
    report = torchcount.profile(model, torch.randn(1, 4), warn=False)
    assert report.total.cost.macs == 4 * 3 and model.warm is warm  # (the model left as found)


def test_a_global_forward_hooks_ops_are_the_hooked_calls_and_a_plain_capture_tracks_no_backward():
    """torch's process-wide forward hook (register_module_forward_hook) doubling every module's output
    runs after each forward, inside the region watched for the module's own hooks: for a root calling a
    Linear(4, 3, bias=False) on a 1×4 input, the Linear's row has its 12 MACs and its output's 3
    multiplications, the root's own row the 3 of its own output (not 6). capture() without track_backward
    (its default) notes no autograd spans. (Watching only modules with hooks of their own put the
    Linear's 3 in the root's row; a default of True filled the spans.)"""
    class Root(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 3, bias=False)

        def forward(self, x):
            return self.lin(x)

    model = Root()
    handle = torch.nn.modules.module.register_module_forward_hook(lambda module, args, out: out * 2)
    try:
        report = torchcount.profile(model, torch.randn(1, 4), warn=False)
    finally:
        handle.remove()
    lin = report.row("lin")
    assert (lin.cost.macs, lin.cost.mults, report.root.self_cost.mults) == (12, 3, 3)
    with cap.capture(model, has_rule) as recorder:
        model(torch.randn(1, 4))
    assert recorder.trace.spans == {} and recorder.trace.backward_nodes == {}


def test_copies_as_found_takes_its_reducer_out_on_exit_and_keeps_a_reducer_set_meanwhile():
    """copies_as_found puts _reduce_as_found in copyreg's dispatch table for each wrapped class while it
    runs, and takes it out on exit: nn.Linear has no entry after. A reducer the user sets for the class
    meanwhile is theirs, left in place on exit. (Deleting the entry only when it is not ours survived.)"""
    import copyreg

    class Mine(nn.Linear):
        pass

    def users_reducer(module):
        return Mine, (2, 2)

    assert Mine not in copyreg.dispatch_table
    with cap.copies_as_found([Mine(2, 2)]):
        assert copyreg.dispatch_table[Mine] is cap._reduce_as_found
    assert Mine not in copyreg.dispatch_table
    try:
        with cap.copies_as_found([Mine(2, 2)]):
            copyreg.dispatch_table[Mine] = users_reducer
        assert copyreg.dispatch_table[Mine] is users_reducer
    finally:
        copyreg.dispatch_table.pop(Mine, None)


def test_a_rule_less_module_that_raises_and_is_caught_gets_no_unruled_note():
    """A module without a rule whose forward raises a ValueError its caller catches is priced from its ops
    as always: no trace.unruled entry ('raised an error its caller handled; its ops were recorded' is for a
    module with a rule, recorded only because autocast was on or a backward re-ran it), and the call is
    marked failed. (Noting every call that recorded its ops and raised survived.)"""
    class Fails(nn.Module):
        def forward(self, x):
            x = x * 2
            raise ValueError("no")

    class Catches(nn.Module):
        def __init__(self):
            super().__init__()
            self.fails = Fails()

        def forward(self, x):
            try:
                return self.fails(x)
            except ValueError:
                return x + 1

    model = Catches()
    with cap.capture(model, has_rule) as recorder:
        model(torch.randn(2, 3))
    root, fails = recorder.trace.calls
    assert recorder.trace.unruled == {} and isinstance(fails.failed, ValueError) and not fails.unruled
    assert [op.name for op in fails.ops] == ["aten.mul.Tensor"] and [op.name for op in root.ops] == ["aten.add.Tensor"]


def test_a_copy_of_a_lazy_layer_made_during_the_capture_materialises_on_its_own_call():
    """A LazyLinear(3) not yet called, deep-copied inside the forward (an EMA or teacher copy), holds its
    own materialisation pre-hook, not our wrapper that runs it with recording off (ours, so a copy left it
    out, and the copy could never materialise): after the capture the copy, called on a 2×4 input, takes
    in_features 4 and returns a 2×3 output. (Unwrapping only our guards, not our marked wrappers,
    survived.)"""
    import copy

    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.lazy = nn.LazyLinear(3)
            self.copies = []

        def forward(self, x):
            self.copies.append(copy.deepcopy(self.lazy))
            return self.lazy(x)

    model = Holder()
    with cap.capture(model, has_rule):
        model(torch.randn(2, 4))
    (copied,) = model.copies
    assert len(copied._forward_pre_hooks) == 1
    assert copied(torch.randn(2, 4)).shape == (2, 3) and copied.in_features == 4


def test_held_named_gives_a_bound_methods_object_and_nothing_for_a_method_read_back_without_its_function():
    """held_named() lists what the profiled function can reach: for a bound method trainer.step, its object
    as ('self', trainer) first (where its optimizer is an attribute); for a FunctionMethod read back from a
    saved report (function None, its name kept) nothing at all. (Dropping the bound method's object, and
    the None check, which then listed ('self', None), survived.)"""
    class Trainer:
        def step(self, model, x):
            return model(x)

    trainer = Trainer()
    held = cap.FunctionMethod(trainer.step).held_named()
    assert held[0][0] == "self" and held[0][1] is trainer
    assert cap.FunctionMethod(None, "step").held_named() == [] and cap.FunctionMethod(None, "step") == "step"


_KW_TOKEN = object()


def test_held_named_finds_a_keyword_only_default():
    """A step written def step(model, x, *, opt=_KW_TOKEN) reaches its keyword-only default: held_named()
    has ('opt', _KW_TOKEN) (where `*, scheduler=scheduler` keeps a scheduler). (Leaving __kwdefaults__
    out survived.)"""
    def step(model, x, *, opt=_KW_TOKEN):
        return model(x)

    assert ("opt", _KW_TOKEN) in cap.FunctionMethod(step).held_named()


class _OwnCopy(nn.Linear):
    """A Linear whose class copies itself (copy.copy) with dicts of its own: copies_as_found leaves a class's
    own __copy__ alone, so a copy made during a profile keeps the hooks the module has then, ours too."""

    def __copy__(self):
        new = type(self).__new__(type(self))
        new.__dict__ = {k: type(v)(v) if isinstance(v, dict) else v for k, v in self.__dict__.items()}
        return new


def test_our_hooks_in_a_copy_made_during_a_profile_do_nothing_once_it_has_ended():
    """A watched Linear(4, 3) (a forward hook of the user's doubling its output) whose class's own __copy__
    keeps our pre-hook and forward hook in the copy the forward makes: called after the profile, the copy
    gives the Linear's output doubled, as the original does, and leaves no dispatch mode on torch's stack
    (our pre-hook switched op recording back on for a capture that had ended, and left it on, every later
    op recorded into a finished trace). The profile itself: 12 MACs, the hook's 3 multiplications. (Our
    pre-hook not checking that the capture is still live survived.)"""
    saved = []

    class Root(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = _OwnCopy(4, 3, bias=False)
            self.lin.register_forward_hook(lambda module, args, out: out * 2)

        def forward(self, x):
            saved.append(copy.copy(self.lin))
            return self.lin(x)

    model, x = Root(), torch.randn(2, 4)
    report = torchcount.profile(model, x[:1], warn=False)
    assert (report.row("lin").cost.macs, report.row("lin").cost.mults) == (12, 3)
    assert len(saved[0]._forward_pre_hooks) == 1  # (ours, kept by the class's own __copy__)
    out = saved[0](x)
    assert torch._C._len_torch_dispatch_stack() == 0
    assert torch.equal(out, x @ model.lin.weight.T * 2)


def test_a_hooked_childs_forward_a_hook_calls_directly_inside_a_ruled_block_is_counted(ruled_block):
    """A RuledBlock (its rule: rows·4·4 = 2·16 = 32 MACs on a 2×4 input) calls its Linear fc, covered; fc's
    forward hook calls another Linear(4, 4) c through c.forward (no pre-hook of c's runs, none of its
    calls pending), c having a hook of its own. c is called by a hook, not by the block's forward: not
    covered, counted by its rule (2·4·4 = 32 MACs, 8 bias adds), 64 MACs in all. (Reading c's last
    pending call with none pending, IndexError, survived.)"""
    model = ruled_block()
    c = nn.Linear(4, 4)
    model.c = c
    c.register_forward_hook(lambda m, args, out: None)
    model.fc.register_forward_hook(lambda m, args, out: c.forward(out))
    report = torchcount.profile(model, torch.randn(2, 4), warn=False)
    assert report.row("fc").status == "covered"
    assert (report.row("c").cost.macs, report.row("c").cost.adds, report.row("c").calls) == (32, 8, 1)
    assert report.total.macs == 64


def test_a_hooked_module_its_own_hook_calls_again_inside_a_ruled_block_is_counted_once_more(ruled_block):
    """A RuledBlock (rule: 2·16 = 32 MACs on a 2×4 input) calls its Linear(4, 4) fc, covered; fc's forward
    hook calls fc once more: that call is a hook's, not the block's forward's, so not covered, priced by
    the Linear's rule (2·4·4 = 32 MACs, 8 bias adds): 64 MACs in all, 2 calls of fc. Whether the second
    call comes from a hook is its own pending entry's (the last), not the first call's (made by the
    block's forward: reading it covered the second, and its 32 MACs were lost)."""
    model = ruled_block()
    inside = []

    def hook(module, args, out):
        if not inside:
            inside.append(True)
            module(out)
            inside.pop()

    model.fc.register_forward_hook(hook)
    report = torchcount.profile(model, torch.randn(2, 4), warn=False)
    fc = report.row("fc")
    assert (fc.calls, fc.cost.macs, fc.cost.adds) == (2, 32, 8)
    assert report.total.macs == 64


def test_a_hooked_child_a_ruled_block_calls_under_autocast_is_covered(ruled_block):
    """Under autocast (CPU, bfloat16) a RuledBlock records its ops (the casts its rule cannot see), so op
    recording is on when its forward calls its Linear fc, which has a forward hook of its own. fc is
    called by the block's forward, not by a hook: covered, and the total is the rule's 2·16 = 32 MACs on
    a 2×4 input, not 32 more for fc. (Taking the recording switch at fc's pre-hook for whether a hook
    made the call survived: fc uncovered, 64.)"""
    model = ruled_block()
    model.fc.register_forward_hook(lambda m, args, out: None)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        report = torchcount.profile(model, torch.randn(2, 4), warn=False)
    assert report.row("fc").status == "covered"
    assert report.total.macs == 32


def test_a_ruled_module_a_hook_calls_that_calls_its_own_forward_again_is_priced_once():
    """The root's Identity has a forward hook that calls a ruled module r (its rule: rows·4·4 = 2·16 = 32
    MACs on a 2×4 input; r has a hook of its own), whose forward calls its own forward once more
    (self.forward, not through __call__). That inner call is r's own forward's, not the hook's:
    covered by r's rule, and the total is 32 MACs, not 64. (Reading r's entered call's "called from a
    hook" for the inner call, which has no pending entry of its own, survived.)"""
    from conftest import products_rule

    class Recurses(nn.Module):
        def forward(self, x, again=True):
            return self.forward(x * 1.0, again=False) if again else x

    rule = products_rule(Recurses)
    next(rule)
    try:
        class Root(nn.Module):
            def __init__(self):
                super().__init__()
                self.a, self.r = nn.Identity(), Recurses()

            def forward(self, x):
                return self.a(x)

        model = Root()
        model.r.register_forward_hook(lambda m, args, out: None)
        model.a.register_forward_hook(lambda m, args, out: model.r(out))
        report = torchcount.profile(model, torch.randn(2, 4), warn=False)
        assert (report.row("r").calls, report.row("r").cost.macs) == (2, 32)
        assert report.total.macs == 32
    finally:
        next(rule, None)


def test_a_hooked_modules_pre_hook_work_is_its_own_row_not_its_callers():
    """A root calls its Linear(4, 3, bias=False) on a 2×4 input; the Linear's own pre-hook doubles the
    input (8 multiplications) before its forward (2·4·3 = 24 MACs): the 8 are the Linear's (its row: 24
    MACs, 8 multiplications), none the root's own. With a forward hook doubling its 2×3 output as well,
    the 6 are its too (8 + 6). (Leaving the pre-hook's ops in the caller's list when the forward starts
    survived: the root's own row had the 8; so did dropping the forward hook's ops of a call that
    already had its pre-hook's: the 6 were lost.)"""
    class Root(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 3, bias=False)

        def forward(self, x):
            return self.lin(x)

    model = Root()
    model.lin.register_forward_pre_hook(lambda module, args: (args[0] * 2,))
    report = torchcount.profile(model, torch.randn(2, 4), warn=False)
    assert (report.row("lin").cost.macs, report.row("lin").cost.mults) == (24, 8)
    assert report.root.self_cost.mults == 0 and report.total.cost.mults == 8
    model.lin.register_forward_hook(lambda module, args, out: out * 2)  # (2×3: 6 more, the call's too)
    report = torchcount.profile(model, torch.randn(2, 4), warn=False)
    assert (report.row("lin").cost.macs, report.row("lin").cost.mults) == (24, 8 + 6)
    assert report.root.self_cost.mults == 0 and report.total.cost.mults == 14


def test_a_hooked_module_whose_forward_calls_its_own_forward_hands_its_hook_to_the_outer_call(ruled_block):
    """t (no rule) has a forward hook doubling its output, and its forward calls its own forward once more
    (self.forward(x·3), not through __call__: no hook runs for it), which adds 1. On a 2×4 input: the
    hook ran once, for the call made through __call__ (the outer one), whose output it got: that call's
    hook ops are the one mul, the inner call has none; t's row: 8 + 8 = 16 multiplications, 8 adds.
    The root then calls a RuledBlock (rule: 2·16 = 32 MACs), whose Linear is covered by it: 32 MACs in
    all. (Taking the inner call for the hooked one gave it the hook's ops; opening a hook region for it
    too left one open after t returned, where the block's Linear looked called by a hook: uncovered,
    64 MACs. A capture without track_backward notes no autograd span, the hooked call's neither: testing
    the recording switch for None in its place noted one.)"""
    from torchcount.rules import has_rule

    class Twice(nn.Module):
        def forward(self, x, again=True):
            return self.forward(x * 3, again=False) if again else x + 1

    class Root(nn.Module):
        def __init__(self):
            super().__init__()
            self.t, self.d = Twice(), ruled_block()

        def forward(self, x):
            return self.d(self.t(x))

    model = Root()
    model.t.register_forward_hook(lambda module, args, out: out * 2)
    with cap.capture(model, has_rule) as recorder:
        model(torch.randn(2, 4))
    calls = recorder.trace.calls
    assert [c.path for c in calls] == ["", "t", "t", "d", "d.fc"]
    assert [[str(op.op) for op in c.hook_ops] for c in calls] == [[], ["aten.mul.Tensor"], [], [], []]
    assert recorder.hook_depths == [] and calls[4].covered
    assert recorder.trace.spans == {}  # (no track_backward: no autograd span noted, the hooked call's neither)
    report = torchcount.profile(model, torch.randn(2, 4), warn=False)
    t = report.row("t")
    assert (t.calls, t.cost.mults, t.cost.adds) == (2, 16, 8)
    assert report.row("d.fc").status == "covered" and report.total.macs == 32


def test_another_threads_call_a_hook_makes_leaves_the_hooked_calls_own_hook_work_its_own():
    """A root calls its Linear(4, 4, bias=False) on a 2×4 input (2·4·4 = 32 MACs); the Linear's forward
    hook first has another thread call the Linear (not counted: noted as run in another thread) and
    waits for it, then doubles the output (8 multiplications). The other thread's call runs our hooks
    too, which leave this thread's pending call alone: the 8 are the Linear's, none the root's own.
    (Our last forward hook not checking the thread popped this thread's entry there: the 8 landed in
    the root's own row.)"""
    main = threading.current_thread()

    def hook(module, args, out):
        if threading.current_thread() is main:
            thread = threading.Thread(target=module, args=(args[0],))
            thread.start()
            thread.join()
        return out * 2

    class Root(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 4, bias=False)

        def forward(self, x):
            return self.lin(x)

    model = Root()
    model.lin.register_forward_hook(hook)
    report = torchcount.profile(model, torch.randn(2, 4), warn=False)
    assert (report.row("lin").calls, report.row("lin").cost.macs, report.row("lin").cost.mults) == (1, 32, 8)
    assert report.root.self_cost.mults == 0


def test_a_forward_that_clears_a_hooked_childs_pre_hooks_is_profiled_and_its_hook_work_counted_once():
    """The root's forward clears its Linear(4, 4, bias=False)'s pre-hook dict (ours with it) before calling
    it on a 2×4 input; the Linear's forward hook doubles its output. Our forward hook then runs with
    none of the Linear's calls pending and leaves the watch alone: the profile completes, with the
    Linear's 2·4·4 = 32 MACs and the hook's 8 multiplications counted once (in the caller's row, where
    they ran). (Popping an entry with none pending, IndexError, survived.)"""
    class Root(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 4, bias=False)

        def forward(self, x):
            self.lin._forward_pre_hooks.clear()
            return self.lin(x)

    model = Root()
    model.lin.register_forward_hook(lambda module, args, out: out * 2)
    report = torchcount.profile(model, torch.randn(2, 4), warn=False)
    assert (report.row("lin").cost.macs, report.total.cost.mults) == (32, 8) and report.complete


def test_a_pre_hook_error_a_rule_less_caller_handles_leaves_the_hook_ops_the_callers_without_a_warning():
    """A Linear's pre-hook doubles its 2×4 input (8 multiplications) and raises a ValueError; its rule-less
    caller, which records its own ops, catches it and adds 1 (8 additions). torch runs our always-called
    forward hook for the error with no output: the Linear never entered its forward (no call of it), so
    the hook's mul stays where it ran, the caller's ops are [mul, add], and our hook raises nothing
    (torch would silence it with a warning). (Checking for the call after reading whether it is
    covered, or moving the ops of a call that never returned, raised AttributeError there.)"""
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
        with cap.capture(model, lambda m: False) as recorder:
            model(torch.ones(2, 4))
    assert [c.path for c in recorder.trace.calls] == ["", "0"]
    assert [op.name for op in recorder.trace.calls[1].ops] == ["aten.mul.Tensor", "aten.add.Tensor"]
    assert recorder.hook_depths == [] and recorder.mode_on is False
    assert not [w for w in caught if "silenced" in str(w.message)]


def test_a_covered_hooked_modules_hook_work_is_its_own_row_inside_a_ruled_block(ruled_block):
    """A RuledBlock (rule: rows·4·4 = 2·16 = 32 MACs on a 2×4 input) calls its Linear fc, covered; fc's
    forward hook doubles its 2×4 output: fc's row ("in parent") holds the hook's 8 multiplications and
    nothing else, the block's own row the rule's 32 MACs and none of them (docs/guarantees.md, "Your own
    forward hooks"). (Moving the hook's ops only where the caller records its own ops survived: the 8
    stayed in the block's list.)"""
    model = ruled_block()
    model.fc.register_forward_hook(lambda module, args, out: out * 2)
    report = torchcount.profile(model, torch.randn(2, 4), warn=False)
    fc = report.row("fc")
    assert (fc.status, fc.cost.macs, fc.cost.mults) == ("covered", 0, 8)
    assert (report.root.self_cost.macs, report.root.self_cost.mults) == (32, 0)


def test_an_interrupt_from_a_hooked_modules_own_forward_called_directly_leaves_its_call_its_hook():
    """t (no rule) has a forward hook doubling its output; its forward calls its own forward directly
    (self.forward: no hook of its runs, no entry of its own), which raises KeyboardInterrupt; t catches
    it and returns x·3. On a 2×4 input t's row has its 8 multiplications and the hook's 8, the root's
    own row none: the interrupt of the inner call left the pending entry of the outer one, made through
    __call__, alone. (Dropping the outer call's entry there survived: its hook's 8 landed in the root.)"""
    class Interrupts(nn.Module):
        def forward(self, x, inner=False):
            if inner:
                raise KeyboardInterrupt
            try:
                self.forward(x, inner=True)
            except KeyboardInterrupt:
                pass
            return x * 3

    class Root(nn.Module):
        def __init__(self):
            super().__init__()
            self.t = Interrupts()

        def forward(self, x):
            return self.t(x)

    model = Root()
    model.t.register_forward_hook(lambda module, args, out: out * 2)
    report = torchcount.profile(model, torch.randn(2, 4), warn=False)
    assert (report.row("t").calls, report.row("t").cost.mults) == (2, 16)
    assert report.root.self_cost.mults == 0


def test_a_capture_without_track_backward_notes_no_node_for_a_backward_the_forward_runs():
    """A root whose forward runs a backward itself (torch.autograd.grad of its Linear's summed output, as
    a gradient penalty does): the backward's ops run with only the root's call on the stack, inside an
    autograd node. capture() without track_backward notes no node for them (Trace.backward_nodes, which
    only a profiled method's backward needs, stays empty), nor any span. (Setting the recorder's node map
    whatever track_backward says survived.)"""
    from torchcount.rules import has_rule

    class Penalty(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 1)

        def forward(self, x):
            (grad,) = torch.autograd.grad(self.lin(x).sum(), x, create_graph=True)
            return grad

    model = Penalty()
    with cap.capture(model, has_rule) as recorder:
        out = model(torch.randn(2, 4, requires_grad=True))
    assert torch.equal(out, model.lin.weight.expand(2, 4))  # (d/dx of Σ w·x + b: w on each row)
    assert recorder.trace.backward_nodes == {} and recorder.trace.spans == {}
    assert recorder.trace.calls[0].ops  # (the backward's ops were recorded, as the root's own)


def test_a_lazy_modules_materialisation_is_not_recorded_and_its_callers_ops_after_it_are():
    """A LazyLinear(3) first called on a 2×4 input by an unpriced holder whose forward then doubles the
    result: the lazy pre-hook that makes its weight (3×4) and bias (3) — aten.empty, then the uniform_
    fills of kaiming and bias init — runs with op recording off, so the holder's own ops are exactly
    its forward's one aten.mul.Tensor, recorded after the hook switched recording back on; the layer
    itself is priced by its rule: 2·4·3 = 24 MACs, 6 bias adds, and the ×2 is 6 more FLOPs. (Not
    switching recording off around the hook, or switching it on there, recorded the init's empty and
    uniform_ ops as the holder's; not switching it back on after the hook lost the mul.)"""
    import warnings

    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.lazy = nn.LazyLinear(3)

        def forward(self, x):
            return self.lazy(x) * 2

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ("Lazy modules are a new feature" on older torch)
        model = Holder()
        with cap.capture(model, has_rule) as recorder:
            model(torch.randn(2, 4))
        root, lazy = recorder.trace.calls
        assert [op.name for op in root.ops] == ["aten.mul.Tensor"]
        assert lazy.path == "lazy" and tuple(model.lazy.weight.shape) == (3, 4)
        report = torchcount.profile(Holder(), torch.randn(2, 4), warn=False)
    assert report.total.macs == 24 and report.total.flops == 2 * 24 + 6 + 6


def test_a_roots_forward_pre_hook_alone_records_its_ops_as_the_roots_stray_ops():
    """A Linear(3, 3) root whose only hook is a forward pre-hook doubling its 2×3 input: around_root
    records that hook's one mul (it runs before the root's forward, with no call on the stack) as the
    root's stray op, and the Linear's own call records none (its rule prices it). (Leaving the root's
    pre-hooks out of around_root's test, so that only forward hooks or torch's global ones turned
    recording on, survived.)"""
    model = nn.Linear(3, 3)
    model.register_forward_pre_hook(lambda module, args: (args[0] * 2,))
    x = torch.randn(2, 3)
    with cap.capture(model, has_rule) as recorder:
        with recorder.around_root(model):
            assert recorder.mode_on
            model(x)
        assert not recorder.mode_on
    assert [str(op.op) for op in recorder.trace.stray_ops] == ["aten.mul.Tensor"]
    (call,) = recorder.trace.calls
    assert not call.ops


def test_control_flow_skips_an_op_this_torch_lacks_one_whose_kernels_cannot_be_read_and_a_plain_one(monkeypatch):
    """_control_flow over a namespace as an older torch has it: no while_loop (torch 2.2 has none: the
    first name looked up fails), a while_loop_stack_output whose py_kernels cannot be read, map_impl with
    its dense kernel, and auto_functionalized a plain HigherOrderOperator (its class is every such op's)
    that has one: the runners are exactly {MapImpl: its kernel}. (Dropping the ``continue`` after a failed
    look-up, which left the name before it, or none, to be registered under the failing op's class, or
    the check that an op is not a plain HigherOrderOperator, survived capture.py mutants 72 and 76.)"""
    key = torch._C.DispatchKey.CompositeExplicitAutograd

    def map_dense(*args):
        return args

    class Unreadable:
        @property
        def py_kernels(self):
            raise AttributeError("py_kernels")

    class MapImpl:
        py_kernels = {key: map_dense}

    class Plain:  # (stands for torch._ops.HigherOrderOperator)
        py_kernels = {key: map_dense}

    fake = types.SimpleNamespace(while_loop_stack_output=Unreadable(), map_impl=MapImpl(),
                                 auto_functionalized=Plain())
    monkeypatch.setattr(torch.ops, "higher_order", fake)
    monkeypatch.setattr(torch._ops, "HigherOrderOperator", Plain)
    assert cap._control_flow() == {MapImpl: map_dense}


def test_an_op_split_on_the_cpu_whose_first_argument_is_a_tensor_runs_as_its_parts_there():
    """Under inference_mode matmul reaches the recorder whole; split frozenset({'cpu'}) for it, on CPU
    tensors given directly as its first arguments (not in a list, as einsum's are), runs its composite
    kernel, which records one aten.mm, and frozenset({'cuda'}) the one aten.matmul; the product is
    arange(6) as 2×3 times arange(12) as 3×4 (row 0: 20, 23, 26, 29). (_device_type giving None for a
    tensor argument, so that no device type's split applied, survived capture.py mutant 58.)"""
    matmul = torch.ops.aten.matmul.default

    class Product(nn.Module):
        def forward(self, x, y):
            return torch.matmul(x, y)

    x, y = torch.arange(6.0).reshape(2, 3), torch.arange(12.0).reshape(3, 4)
    names = {}
    for split in (frozenset({"cpu"}), frozenset({"cuda"})):
        model = Product()
        with torch.inference_mode(), cap.capture(model, has_rule, decompose=lambda op: split if op is matmul
                                                 else False) as recorder:
            out = model(x, y)
        assert out[0].tolist() == [20.0, 23.0, 26.0, 29.0]
        names[split] = [op.name for op in recorder.trace.calls[0].ops]
    assert names == {frozenset({"cpu"}): ["aten.mm.default"], frozenset({"cuda"}): ["aten.matmul.default"]}


def test_autocast_dtype_without_per_device_functions_reads_the_cpus_and_cudas_own(monkeypatch):
    """torch < 2.4 reads autocast state by device-specific functions: torch.is_autocast_enabled() is
    CUDA's and takes no device type (a TypeError given one), the CPU's is is_autocast_cpu_enabled, and
    there is no get_autocast_dtype. Emulated so: autocast_dtype for cpu, cuda, xpu, mps gives None for
    each while both are off; the CPU's dtype (bfloat16) for cpu alone while the CPU's is on; CUDA's
    (float16) for cuda alone while CUDA's is on; other device types have no state there (None). (Any
    of the fallback's tests of the device type or of its state changed, or its dtypes dropped, survived
    capture.py mutants 94–107: the fallback runs on torch 2.2 only.)"""
    on = {"cpu": False, "cuda": False}

    def is_autocast_enabled(*device_type):
        if device_type:
            raise TypeError("is_autocast_enabled() takes 0 positional arguments but 1 was given")
        return on["cuda"]

    monkeypatch.setattr(torch, "is_autocast_enabled", is_autocast_enabled)
    monkeypatch.setattr(torch, "is_autocast_cpu_enabled", lambda: on["cpu"])
    monkeypatch.setattr(torch, "get_autocast_cpu_dtype", lambda: torch.bfloat16)
    monkeypatch.setattr(torch, "get_autocast_gpu_dtype", lambda: torch.float16)
    monkeypatch.delattr(torch, "get_autocast_dtype", raising=False)
    devices = ("cpu", "cuda", "xpu", "mps")
    assert [cap.autocast_dtype(d) for d in devices] == [None, None, None, None]
    on["cpu"] = True
    assert [cap.autocast_dtype(d) for d in devices] == [torch.bfloat16, None, None, None]
    on["cpu"], on["cuda"] = False, True
    assert [cap.autocast_dtype(d) for d in devices] == [None, torch.float16, None, None]


@needs("autocast on for the xpu device type alone, read per device type")
def test_autocast_on_for_another_device_type_alone_is_noted_with_its_dtype():
    """Autocast entered for the xpu device type alone, in bfloat16 (no XPU needed: the Linear(4, 3) runs
    on the CPU, in float32, untouched by it): the trace notes {'xpu': [bfloat16]}, and the Linear, priced
    by its rule, records its ops as under any autocast (its addmm among them). (Taking autocast to be on
    only where the CPU's or CUDA's is, torch 2.2's two functions, in place of torch's any-device-type
    test, survived capture.py mutants 80 and 81.)"""
    model = nn.Linear(4, 3)
    with torch.autocast("xpu", dtype=torch.bfloat16), cap.capture(model, has_rule) as recorder:
        out = model(torch.randn(2, 4))
    assert out.dtype is torch.float32
    assert recorder.trace.autocast == {"xpu": [torch.bfloat16]}
    assert "aten.addmm.default" in [op.name for op in recorder.trace.calls[0].ops]


def test_own_call_reads_a_call_whose_module_is_none_as_the_models_own():
    """A model class whose __call__ is a function with no module (``__module__`` None, as a function
    made by exec with bare globals has) is its own call: own_call gives True, as for any __call__ not
    nn.Module's nor torch's, and profiling it counts its Linear(4, 3) on a 2×4 input, 24 MACs. (Reading
    the None module without the '' it falls back to, which raised AttributeError, survived capture.py
    mutant 1204.)"""

    def call(self, *args):
        return nn.Module.__call__(self, *args)

    call.__module__ = None

    class Net(nn.Module):
        __call__ = call

        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 3)

        def forward(self, x):
            return self.lin(x)

    assert cap.own_call(Net()) is True
    assert torchcount.profile(Net(), torch.randn(2, 4), warn=False).total.macs == 24


def test_a_users_own_deepcopy_named_like_parametrizes_is_kept_while_wrapped():
    """copies_as_found replaces a class's __deepcopy__ only where it is torch.nn.utils.parametrize's
    default_deepcopy: a user's class whose own __deepcopy__ is also named default_deepcopy (written in
    the test's module) keeps it, and a deepcopy made while wrapped calls it once, returning what it
    returns. (Taking any function named default_deepcopy for parametrize's survived capture.py
    mutant 1239.)"""
    calls = []

    def default_deepcopy(self, memo):
        calls.append(self)
        return "the user's copy"

    class Net(nn.Linear):
        __deepcopy__ = default_deepcopy

    net = Net(2, 2)
    with cap.copies_as_found([net]):
        assert Net.__deepcopy__ is default_deepcopy
        assert copy.deepcopy(net) == "the user's copy"
    assert calls == [net] and Net.__dict__["__deepcopy__"] is default_deepcopy


def test_a_copy_or_a_pickle_of_a_function_method_keeps_its_name_not_its_function():
    """A FunctionMethod made of a lambda named 'step' (a function pickle cannot hold): copy.copy,
    copy.deepcopy and a pickle round trip each give a FunctionMethod equal to 'step' whose function is
    None, as one read back from a saved report. (A __reduce__ returning None, so that copying raised
    TypeError, survived capture.py mutant 1085.)"""
    import pickle

    method = cap.FunctionMethod(lambda model, x: model(x), "step")
    for copied in (copy.copy(method), copy.deepcopy(method), pickle.loads(pickle.dumps(method))):
        assert type(copied) is cap.FunctionMethod and copied == "step" and copied.function is None


def test_a_copy_made_while_wrapped_keeps_a_users_hook_whose_module_is_none():
    """A Linear(2, 2) with a forward hook of the user's that has no module (``__module__`` None, as a
    function made by exec with bare globals has), deep-copied while copies_as_found is on: the copy
    keeps that one hook, which is not ours, and runs it (the copy's call on a 1×2 input appends once).
    (Reading the None module without the '' it falls back to, which raised AttributeError in the copy,
    survived capture.py mutant 1260.)"""
    ran = []

    def hook(module, args, out):
        ran.append(module)

    hook.__module__ = None
    lin = nn.Linear(2, 2)
    lin.register_forward_hook(hook)
    with cap.copies_as_found([lin]):
        copied = copy.deepcopy(lin)
    assert list(copied._forward_hooks.values()) == [hook]
    copied(torch.randn(1, 2))
    assert ran == [copied]


def test_forwards_wrapped_leaves_a_script_module_unwrapped():
    """forwards_wrapped over a scripted Linear(2, 2) and a plain one wraps the plain one alone: wrap is
    called once, for it; the scripted module keeps its own ScriptMethod 'forward' in its __dict__ and
    runs it (x·Wᵀ + b), and the plain one runs through the wrapper, once. (Not skipping ScriptModules,
    which put a wrapper over the ScriptMethod, survived capture.py mutant 1181.)"""
    scripted, plain = torch.jit.script(nn.Linear(2, 2)), nn.Linear(2, 2)
    script_forward = scripted.__dict__["forward"]
    wrapped, ran = [], []

    def wrap(module, forward):
        wrapped.append(module)
        return lambda *args: ran.append(module) or forward(*args)

    x = torch.randn(1, 2)
    with cap.forwards_wrapped([scripted, plain], wrap):
        assert scripted.__dict__["forward"] is script_forward
        assert torch.allclose(scripted(x), x @ scripted.weight.T + scripted.bias)
        plain(x)
    assert wrapped == [plain] and ran == [plain] and "forward" not in plain.__dict__
    assert scripted.__dict__["forward"] is script_forward


def test_async_kind_sees_through_a_partial_and_a_callable_objects_call():
    """async_kind names what calling a function makes: an async function and an async generator
    function, also wrapped in functools.partial (read through to the function) or as a callable
    object's own ``async def __call__`` (read on its class), give 'async function' and 'async generator
    function'; a plain function, its partial and a callable object with a plain __call__ give None.
    (Reading a partial as a callable object, its class's __call__, or a callable object itself in
    place of its class's __call__ survived capture.py mutants 1160 and 1162.)"""
    import functools

    async def step(model, x):
        return model(x)

    async def stream(model, x):
        yield model(x)

    def plain(model, x):
        return model(x)

    class Step:
        async def __call__(self, model, x):
            return model(x)

    class Stream:
        async def __call__(self, model, x):
            yield model(x)

    class Plain:
        def __call__(self, model, x):
            return model(x)

    kinds = [cap.async_kind(f) for f in (step, functools.partial(step, None), Step(),
                                         stream, functools.partial(stream, None), Stream(),
                                         plain, functools.partial(plain, None), Plain())]
    assert kinds == ["async function"] * 3 + ["async generator function"] * 3 + [None] * 3


def test_a_plain_method_that_returns_a_coroutine_is_refused_and_the_coroutine_closed():
    """A plain function (not an async one: async_kind lets it through) that returns a coroutine, run by
    method_runner as the method of a Linear: TypeError 'step(Linear, ...) is an async function:
    torchcount runs a method synchronously; profile the synchronous method it awaits', word for word,
    and the coroutine is closed (CORO_CLOSED, so it never warns that it was not awaited); one that
    returns an async generator: '… is an async generator function: …'. (Letting a coroutine through,
    or leaving it unclosed, survived capture.py mutants 1173 and 1177.)"""
    import inspect

    import pytest

    made = []

    async def work(model, x):
        return model(x)

    async def stream(model, x):
        yield model(x)

    def step(model, x):
        made.append(work(model, x))
        return made[-1]

    def streaming(model, x):
        return stream(model, x)

    tail = ": torchcount runs a method synchronously; profile the synchronous method it awaits"
    run = cap.method_runner(nn.Linear(4, 3), cap.FunctionMethod(step))
    with pytest.raises(TypeError) as raised:
        run(torch.randn(2, 4))
    assert str(raised.value) == "step(Linear, ...) is an async function" + tail
    assert inspect.getcoroutinestate(made[0]) == inspect.CORO_CLOSED
    run = cap.method_runner(nn.Linear(4, 3), cap.FunctionMethod(streaming))
    with pytest.raises(TypeError) as raised:
        run(torch.randn(2, 4))
    assert str(raised.value) == "streaming(Linear, ...) is an async generator function" + tail
