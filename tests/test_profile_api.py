"""torchcount.profile's own arguments, the inputs it makes, how it reports a failing forward, and the rule
registry's look-ups: each checked on a value someone can derive by hand (a length, a count of calls, the
values a generator seeded 0 draws), found by mutation testing of profile.py and rules/registry.py."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import torchcount
from torchcount import ForwardError
from torchcount.profile import UNRECORDED, UNRECORDED_HOOKS, _cut_open_call, _short, _short_repr


# ---- argument handling ------------------------------------------------------------------------------


def test_a_non_module_is_shown_whole_up_to_80_characters_and_cut_to_80_beyond():
    """The TypeError for a model that is not a module shows its repr: a repr of 80 characters as it is,
    one of 81 as its first 77 and '...' (80 characters again)."""
    assert _short_repr("a" * 78) == repr("a" * 78)  # 80 characters with its quotes
    assert _short_repr("a" * 79) == "'" + "a" * 76 + "..."
    with pytest.raises(TypeError) as info:
        torchcount.profile("b" * 79, torch.randn(1, 2))
    assert str(info.value).endswith("got str: '" + "b" * 76 + "...")


def test_an_object_holding_its_model_as_module_gets_no_torch_export_hint():
    """The hint to profile ep.module() is for a torch.export program (type ExportedProgram with a module()
    method); a wrapper object that holds its model in .module (a callable Linear) is not one: the
    TypeError names it and ends with its repr."""

    class Wrapper:
        def __init__(self, module):
            self.module = module

        def __repr__(self):
            return "Wrapper()"

    with pytest.raises(TypeError) as info:
        torchcount.profile(Wrapper(nn.Linear(4, 3)), torch.randn(2, 4))
    assert str(info.value) == "torchcount.profile expects a torch.nn.Module, got Wrapper: Wrapper()"


@pytest.mark.parametrize("training", [False, True])
def test_a_transformer_layer_measured_is_noted_unfused_in_eval_mode_only(training):
    """PyTorch's fused TransformerEncoderLayer path runs in eval mode only (its forward checks not
    self.training): measured in eval mode, the note that it was measured unfused; in training mode, none."""
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True).train(training)
    with torch.no_grad():
        report = torchcount.profile(layer, torch.randn(1, 3, 8), measure=True, warmup=0, repeat=1)
    noted = [note for note in report.notes if note.startswith("nn.TransformerEncoderLayer was measured unfused")]
    assert len(noted) == (0 if training else 1)


def test_a_module_with_a_submodule_named_orig_mod_is_not_taken_for_a_compiled_one():
    """torch.compile's wrapper is an OptimizedModule holding the original in _orig_mod; a module of the
    user's that names its own Linear(4, 4) _orig_mod is not one: it is profiled as itself (Keeps, no
    compile note), its Linear 2·4·4 = 32 MACs, its own ×2 the root's 2·4 = 8 multiplications."""

    class Keeps(nn.Module):
        def __init__(self):
            super().__init__()
            self._orig_mod = nn.Linear(4, 4)

        def forward(self, x):
            return self._orig_mod(x) * 2

    report = torchcount.profile(Keeps(), torch.randn(2, 4), warn=False)
    assert report.model_name == "Keeps" and not any("torch.compile" in note for note in report.notes)
    assert report.row("_orig_mod").cost.macs == 32 and report.row("").self_cost.mults == 8


_GRAD_SEEN: list = []


class _GradWatch(nn.Module):
    """A Linear(4, 3) whose forward notes, in _GRAD_SEEN, whether autograd was on for that call."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 3)

    def forward(self, x):
        _GRAD_SEEN.append(torch.is_grad_enabled())
        return self.lin(x)


def test_a_forward_only_profile_measures_without_autograd():
    """measure=True's passes run under no_grad unless asked otherwise or a backward ran while counting
    (the autograd note): a plain forward is counted as called (autograd on here) and every measured pass
    after it runs with autograd off, with no note that it was on."""
    _GRAD_SEEN.clear()
    report = torchcount.profile(_GradWatch(), torch.randn(2, 4), measure=True, warmup=0, repeat=1)
    assert _GRAD_SEEN[0] is True and len(_GRAD_SEEN) > 1 and not any(_GRAD_SEEN[1:])
    assert not any("measured with autograd on" in note for note in report.notes)


def test_a_measurement_device_is_checked_before_the_forward_runs():
    """measure=True with device='meta' (no time or memory there) is refused before the counting pass, as
    measure's other options are: the ValueError comes and the model's forward never ran."""
    _GRAD_SEEN.clear()
    with pytest.raises(ValueError, match="measure: device='meta' has no time or memory to measure"):
        torchcount.profile(_GradWatch(), torch.randn(2, 4), measure=True, device="meta")
    assert _GRAD_SEEN == []


# ---- inputs made from input_size= -------------------------------------------------------------------


def test_made_inputs_are_a_generator_seeded_0_drawn_in_order_and_leave_the_callers_stream():
    """make_inputs draws from a generator of its own seeded 0, the shapes in order from that one generator:
    the same values as torch.Generator().manual_seed(0) gives randn (2, 3) then randn (4,), and the global
    random stream is where it was (the next torch.rand after seed 7 is the one it would have been)."""
    reference = torch.Generator().manual_seed(0)
    first, second = torch.randn(2, 3, generator=reference), torch.randn(4, generator=reference)
    torch.manual_seed(7)
    expected_next = torch.rand(3)
    torch.manual_seed(7)
    a, b = torchcount.make_inputs([(2, 3), (4,)])
    assert torch.rand(3).equal(expected_next)
    assert a.equal(first) and b.equal(second)
    assert torchcount.make_inputs((2, 3))[0].equal(first)  # one shape: the same first draw
    # bool: all False; meta: no values, the shape and dtype only
    (mask,) = torchcount.make_inputs((3, 2), "bool")
    assert mask.dtype == torch.bool and mask.shape == (3, 2) and not mask.any()
    (empty,) = torchcount.make_inputs((2, 5), torch.float16, device="meta")
    assert (empty.device.type, empty.dtype, tuple(empty.shape)) == ("meta", torch.float16, (2, 5))


def test_a_size_of_zero_is_a_shape():
    """0 is a non-negative size: input_size=(0, 4) gives an empty batch, 0 MACs through Linear(4, 3)."""
    (x,) = torchcount.make_inputs((0, 4))
    assert tuple(x.shape) == (0, 4)
    assert torchcount.profile(nn.Linear(4, 3), input_size=(0, 4)).total.macs == 0


# ---- a failing forward ------------------------------------------------------------------------------


def test_a_torchscript_call_quoted_is_cut_to_its_limit_with_an_ellipsis():
    """The innermost TorchScript call an error quotes is cut to 120 characters: 120 kept whole, 121 as its
    first 119 and '…' (120 again)."""
    assert _short("x" * 120, 120) == "x" * 120
    assert _short("x" * 121, 120) == "x" * 119 + "…"
    assert _short("abcdef", 4) == "abc…"


def test_a_torchscript_call_continued_on_the_next_lines_is_cut_after_its_first_open_parenthesis():
    """The line the interpreter marks may hold only the start of a call: torch 2.2's
    'return F.conv2d(input, weight,' (its first '(' at index 15) is 'return F.conv2d(…)'; a call closed
    inside it ('g(x)') does not count, nor one closing a call of the lines before ('bias) + …'); a line with
    every parenthesis closed is kept whole."""
    assert _cut_open_call("return F.conv2d(input, weight,") == "return F.conv2d(…)"
    assert _cut_open_call("return F.conv2d(") == "return F.conv2d(…)"
    assert _cut_open_call("y = f(g(x), (a,") == "y = f(…)"
    assert _cut_open_call("y = f(g(x))") == "y = f(g(x))"
    assert _cut_open_call("bias) + torch.relu(y,") == "bias) + torch.relu(…)"


def test_a_failing_torchscript_submodule_is_its_callers_failure_not_a_hooks():
    """A TorchScript submodule cannot be hooked (its ops are its caller's): its forward is C++, so the
    exception's traceback ends in Module._call_impl itself, which is no hook of it. The error names the
    caller, the root Net, given its 2×5 input (the scripted Linear(4, 3) cannot multiply 2×5 by 4×3)."""

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.sub = torch.jit.script(nn.Linear(4, 3))

        def forward(self, x):
            return self.sub(x)

    with pytest.raises(ForwardError) as info:
        torchcount.profile(Net(), torch.randn(2, 5))
    assert str(info.value).startswith("forward failed in module '(root)' (Net) with input shapes 2×5: RuntimeError")
    assert info.value.path == "" and info.value.input_shapes == [(2, 5)]


@pytest.mark.parametrize("refused", ["5", "0-tuple", "1-tuple", "3-tuple"])
def test_a_keyword_pre_hook_returning_what_torch_refuses_names_the_hooked_module(refused):
    """torch itself raises when a pre-hook registered with_kwargs=True returns neither None nor an (args,
    kwargs) pair, in Module._call_impl after the hook has returned: the error was blamed on the caller
    ('(root)', the Sequential), as if its forward had failed; it is the pre-hook of module '0', given 2×4.
    A tuple is refused too unless it has two items: (), (args,) and (args, kwargs, None)."""
    returned = {"5": lambda args, kwargs: 5, "0-tuple": lambda args, kwargs: (),
                "1-tuple": lambda args, kwargs: (args,), "3-tuple": lambda args, kwargs: (args, kwargs, None)}[refused]
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
    net[0].register_forward_pre_hook(lambda module, args, kwargs: returned(args, kwargs), with_kwargs=True)
    with pytest.raises(ForwardError) as info:
        torchcount.profile(net, torch.randn(2, 4))
    assert str(info.value).startswith("forward failed in a forward pre-hook of module '0' (Linear) with input "
                                      "shapes 2×4: RuntimeError: forward pre-hook must return None or a tuple")
    assert info.value.path == "0" and info.value.input_shapes == [(2, 4)]
    # an (args, kwargs) pair is taken: the hook doubles the input, the Linear runs on it
    net[0]._forward_pre_hooks.clear()
    net[0]._forward_pre_hooks_with_kwargs.clear()
    net[0].register_forward_pre_hook(lambda module, args, kwargs: ((args[0] * 2,), kwargs), with_kwargs=True)
    report = torchcount.profile(net, torch.randn(2, 4))
    assert report.total.macs == 2 * 4 * 3 and report.row("0").self_cost.mults == 2 * 4  # the hook's ×2 is its row's


def test_a_pre_hook_that_is_a_modules_method_is_named_the_pre_hook():
    """A pre-hook may be a method of a module (a guard's check): its own frame, the traceback's last, has an
    nn.Module for self, yet it is no Module._call_impl of torch's; the frame that is (Linear '0''s) names the
    pre-hook of module '0', given 2×4, not the Sequential calling it."""

    class Guard(nn.Module):
        def check(self, module, args):
            raise ValueError("refused by the guard")

    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
    net[0].register_forward_pre_hook(Guard().check)
    with pytest.raises(ForwardError) as info:
        torchcount.profile(net, torch.randn(2, 4))
    assert str(info.value) == ("forward failed in a forward pre-hook of module '0' (Linear) with input shapes 2×4: "
                               "ValueError: refused by the guard")
    assert info.value.path == "0" and info.value.input_shapes == [(2, 4)]


class _FirstCallFails(nn.Module):
    """Calls its Linear(4, 3) on a 2×5 input, which raises (in_features 4): it keeps the error in ``first``
    and goes on to call it on x, after the except block or (``while_handling``) inside it."""

    def __init__(self, while_handling: bool = False):
        super().__init__()
        self.lin = nn.Linear(4, 3)
        self.first, self.while_handling = None, while_handling

    def forward(self, x):
        try:
            self.lin(torch.randn(2, 5))
        except RuntimeError as exc:
            self.first = exc
            if self.while_handling:
                return self.lin(x)
        return self.lin(x)


def test_a_hook_raising_from_an_error_its_modules_forward_raised_before_is_the_hooks():
    """The Linear's first call (2×5 into in_features 4) raises and the forward handles it; its forward hook
    then raises from that error on the second call (1×4). The recorder still holds the first failure of
    the same module (this error is raised from it), but a forward hook raised: the error is the hook's,
    with the second call's 1×4, not the handled forward's 2×5."""

    net = _FirstCallFails()

    def hook(module, args, out):
        raise ValueError("hook says no") from net.first

    net.lin.register_forward_hook(hook)
    with pytest.raises(ForwardError) as info:
        torchcount.profile(net, torch.randn(1, 4))
    assert str(info.value) == ("forward failed in a forward hook of module 'lin' (Linear) with input shapes 1×4: "
                               "ValueError: hook says no")
    assert (info.value.path, info.value.input_shapes) == ("lin", [(1, 4)])


@pytest.mark.parametrize("old_traceback", ["kept", "dropped"])
def test_a_hook_raising_the_very_error_its_modules_forward_raised_before_is_the_hooks(old_traceback):
    """As above, but the forward hook raises the handled error itself, the same object the recorder holds as
    the Linear's failed first call: still the hook's, on the second call's 1×4, quoting that error (the 2×5
    by 4×3 product torch refused). Raised as it is, it keeps the traceback of its first raise after the
    hook's frames (the Linear's first call, through its forward: that was read as the failure, 2×5);
    with_traceback(None) drops it."""

    net = _FirstCallFails()

    def hook(module, args, out):
        raise net.first if old_traceback == "kept" else net.first.with_traceback(None)

    net.lin.register_forward_hook(hook)
    with pytest.raises(ForwardError) as info:
        torchcount.profile(net, torch.randn(1, 4))
    assert str(info.value) == ("forward failed in a forward hook of module 'lin' (Linear) with input shapes 1×4: "
                               "RuntimeError: mat1 and mat2 shapes cannot be multiplied (2x5 and 4x3)")
    assert (info.value.path, info.value.input_shapes) == ("lin", [(1, 4)])


class _CatchesAndRaisesAgain(nn.Module):
    """Calls its Linear(4, 3), whose pre-hook refuses, catches the error and raises it again: ``raise e`` in
    the frame that caught it, or from a helper method it calls."""

    def __init__(self, helper: bool):
        super().__init__()
        self.lin, self.helper = nn.Linear(4, 3), helper
        self.lin.register_forward_pre_hook(_refuses)

    def again(self, error):
        raise error

    def forward(self, x):
        try:
            return self.lin(x)
        except ValueError as error:
            if self.helper:
                self.again(error)
            raise error


def _refuses(module, args):
    raise ValueError("refused")


@pytest.mark.parametrize("helper", [False, True])
def test_a_pre_hooks_error_its_caller_catches_and_raises_again_is_still_the_pre_hooks(helper):
    """An error raised again carries its first traceback after the frames it passed through since; raised
    again by the forward that caught it (or a helper of it), the frames before that seam hold no hook, and
    the whole traceback is read: the pre-hook of Linear 'lin', given 2×4, not the catching root."""
    with pytest.raises(ForwardError) as info:
        torchcount.profile(_CatchesAndRaisesAgain(helper), torch.randn(2, 4))
    assert str(info.value) == ("forward failed in a forward pre-hook of module 'lin' (Linear) with input shapes 2×4: "
                               "ValueError: refused")


@pytest.mark.parametrize("while_handling", [False, True])
def test_a_pre_hook_raising_after_its_modules_forward_failed_and_was_handled_is_the_pre_hooks(while_handling):
    """As for a forward hook above, but a pre-hook: the Linear(4, 3)'s first call (2×5) raises and the forward
    handles it; its pre-hook raises on the second call (1×4), made after it and raising from that error, or
    made while handling it (the error its context). The recorder holds the first call's failure, of the
    same module, as this error comes from it: it was reported as that forward failing on 2×5."""

    net = _FirstCallFails(while_handling)

    def pre_hook(module, args):
        if net.first is not None:
            raise ValueError("pre-hook says no") from (None if while_handling else net.first)

    net.lin.register_forward_pre_hook(pre_hook)
    with pytest.raises(ForwardError) as info:
        torchcount.profile(net, torch.randn(1, 4))
    assert str(info.value) == ("forward failed in a forward pre-hook of module 'lin' (Linear) with input shapes "
                               "1×4: ValueError: pre-hook says no")
    assert (info.value.path, info.value.input_shapes) == ("lin", [(1, 4)])


def test_a_graph_module_called_again_by_its_own_pre_hook_and_failing_is_its_forwards_failure():
    """A GraphModule's call re-raises an error its generated code raised with the traceback cut there, so the
    forward's frames are gone and the traceback ends in the pre-hook that called it: the error is the one
    the forward raised (its graph's t[1] of the 1-tuple the pre-hook gave, 1×4), not the pre-hook's own
    with the outer call's 2×4, 2×4."""
    import operator

    from torch import fx

    graph = fx.Graph()
    graph.output(graph.call_function(operator.getitem, (graph.placeholder("t"), 1)))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.gm = fx.GraphModule(nn.Module(), graph)

        def forward(self, x):
            return self.gm((x, x))

    net = Net()

    def pre_hook(module, args):
        if not getattr(module, "inside", False):
            module.inside = True
            try:
                module((args[0][0][:1],))
            finally:
                module.inside = False

    net.gm.register_forward_pre_hook(pre_hook)
    with pytest.raises(ForwardError) as info:
        torchcount.profile(net, torch.randn(2, 4))
    assert str(info.value) == ("forward failed in module 'gm' (GraphModule) with input shapes 1×4: "
                               "IndexError: tuple index out of range")
    assert (info.value.path, info.value.input_shapes) == ("gm", [(1, 4)])


@pytest.mark.parametrize("with_kwargs", [False, True])
def test_a_forward_hook_raising_after_a_forward_that_returned_none_is_named_a_hook(with_kwargs):
    """A module whose forward returns None (it only looks at its 2×4 input) and a forward hook of it that
    raises: the hook ran after the forward, so it is 'a forward hook', not 'a forward pre-hook' (the
    stage was read from whether torch's `result` local was still None, which a forward returning None
    leaves it). A pre-hook of the same module that raises is still 'a forward pre-hook'."""
    class Looks(nn.Module):
        def forward(self, x):
            return None

    def fails(*args):
        raise ValueError("the hook fails")

    for stage in ("hook", "pre-hook"):
        model = nn.Sequential(Looks(), nn.Identity())
        if stage == "hook":
            model[0].register_forward_hook(fails, with_kwargs=with_kwargs)
        else:
            model[0].register_forward_pre_hook(fails, with_kwargs=with_kwargs)
        with pytest.raises(ForwardError) as info:
            torchcount.profile(model, torch.randn(2, 4))
        assert str(info.value) == (f"forward failed in a forward {stage} of module '0' (Looks) with input shapes "
                                   "2×4: ValueError: the hook fails")
        assert info.value.path == "0" and info.value.input_shapes == [(2, 4)]


def test_a_torchscript_failures_last_line_without_its_type_is_given_the_exceptions():
    """A TorchScript failure is quoted from its last line, 'Type: message'. A last line whose words before
    its first colon are no type name ('shape mismatch: 2 vs 3') is given the exception's type,
    'RuntimeError: shape mismatch: 2 vs 3', and so is one without a colon, though one word ('overflow'); one
    that is ('ValueError: bad') is quoted as it is."""
    from torchcount.profile import _SCRIPT_FAILURE, _error_text

    def failure(last):
        return RuntimeError(f"{_SCRIPT_FAILURE}\nTraceback of TorchScript (most recent call last):\n  ...\n{last}\n")

    assert _error_text(failure("shape mismatch: 2 vs 3")) == "RuntimeError: shape mismatch: 2 vs 3"
    assert _error_text(failure("overflow")) == "RuntimeError: overflow"
    assert _error_text(failure("ValueError: bad")) == "ValueError: bad"


# ---- record_ops=False -------------------------------------------------------------------------------


def test_the_roots_hooks_unrecorded_are_one_uncounted_call_per_forward():
    """With op recording off the root's forward hook is unknown work, listed once for the one forward
    (a Linear root with a hook: the rule prices the Linear, the hook's x·2 is the one uncounted entry)."""
    lin = nn.Linear(4, 3)
    lin.register_forward_hook(lambda module, args, out: out * 2)
    report = torchcount.profile(lin, torch.randn(2, 4), record_ops=False, warn=False)
    assert [(u.path, u.what, u.calls) for u in report.uncounted] == [("", UNRECORDED_HOOKS, 1)]
    assert report.root.uncounted_ops == {UNRECORDED_HOOKS: 1}


def test_a_roots_own_call_unrecorded_is_one_uncounted_call_per_profile():
    """A root class overriding __call__ runs work nn.Module never sees; with op recording off it is
    listed once, for the one call profiled (its Linear child is priced by its rule: 5·4·2 MACs)."""
    from torchcount.profile import UNRECORDED_CALL

    class Around(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 2)

        def forward(self, x):
            return self.lin(x)

        def __call__(self, x):
            return super().__call__(x) + 1

    report = torchcount.profile(Around(), torch.randn(5, 4), record_ops=False, warn=False)
    assert [(u.path, u.what, u.calls) for u in report.uncounted if u.what == UNRECORDED_CALL] == [("", UNRECORDED_CALL, 1)]
    assert report.root.uncounted_ops[UNRECORDED_CALL] == 1 and report.total.macs == 5 * 4 * 2


def test_one_int_given_is_not_taken_for_a_shape_two_are():
    """profile(model, (1, 4)), as torchinfo takes a shape, gets the hint to pass torch.randn(1, 4); one int
    (a count of steps, a class index) is not a shape, and its error gives no such hint."""
    with pytest.raises(ForwardError) as info:
        torchcount.profile(nn.Linear(4, 3), 5)
    assert "with no tensor input (int)" in str(info.value) and "a shape was given" not in str(info.value)
    with pytest.raises(ForwardError) as info:
        torchcount.profile(nn.Linear(4, 3), (1, 4))
    assert str(info.value).endswith(" — a shape was given where a tensor is expected: pass torch.randn(1, 4) or "
                                    "input_size=(1, 4)")


def test_a_models_own_device_ids_attribute_is_no_data_parallel_wrapper():
    """Only nn.DataParallel and DistributedDataParallel move the inputs to their device_ids' first; a
    model of the user's with an attribute of that name is profiled where it is (Linear(4, 3) on 2×4:
    24 MACs, on the CPU)."""

    class Sharded(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 3)
            self.device_ids = [1, 2]

        def forward(self, x):
            return self.lin(x)

    report = torchcount.profile(Sharded(), torch.randn(2, 4))
    assert report.total.macs == 2 * 4 * 3 and not any("wrapper" in n for n in report.notes)


def test_an_encoders_padding_mask_given_positionally_is_read_as_by_keyword():
    """TransformerEncoder.forward(src, mask, src_key_padding_mask): a padding mask given as the third
    positional input, in eval under no_grad, is where PyTorch runs nested; counted dense, noted, and the
    same count as the mask given by keyword. An attention mask given as the second is read there too."""
    T, d, N = 6, 16, 2
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(d, 2, 32, batch_first=True), 2).eval()
    x = torch.randn(N, T, d)
    pad = torch.zeros(N, T, dtype=torch.bool)
    pad[1, 4:] = True
    with torch.no_grad():
        positional = torchcount.profile(enc, (x, None, pad), warn=False)
        keyword = torchcount.profile(enc, x, kwargs={"src_key_padding_mask": pad}, warn=False)
    dense = [n for n in positional.notes if "counted dense, padded positions included" in n]
    assert len(dense) == 1 and dense[0].startswith("(root): TransformerEncoder given a src_key_padding_mask")
    assert positional.total.cost == keyword.total.cost and any("counted dense" in n for n in keyword.notes)
    # with an attention mask, its second positional input, PyTorch stays dense: no note
    with torch.no_grad():
        masked = torchcount.profile(enc, (x, torch.zeros(T, T, dtype=torch.bool)),
                                    kwargs={"src_key_padding_mask": pad}, warn=False)
    assert not any("padded positions" in n for n in masked.notes)


def test_an_encoder_called_twice_where_pytorch_would_run_nested_is_named_once():
    """One TransformerEncoder ('enc') that the forward calls twice, each time in eval mode under no_grad
    with a padding mask and no mask (where PyTorch would run nested tensors): the note on counting it dense
    names it once, 'enc: TransformerEncoder given …', not once per call."""

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, batch_first=True), 1)

        def forward(self, x, pad):
            return self.enc(self.enc(x, src_key_padding_mask=pad), src_key_padding_mask=pad)

    with torch.no_grad():
        report = torchcount.profile(Twice().eval(), (torch.randn(1, 3, 8), torch.tensor([[False, False, True]])),
                                    warn=False)
    (note,) = [n for n in report.notes if "src_key_padding_mask" in n]
    assert note.startswith("enc: TransformerEncoder given a src_key_padding_mask in eval mode")


def test_a_misspelt_method_is_offered_the_three_closest_names():
    """difflib's close matches of 'generat' among the model's public methods, at most 3: generate scores
    2·7/15 = 0.93, each of generated, generates and generator 2·7/16 = 0.875, a tie difflib breaks by the
    name, the greatest first: generate, generator, generates (generated, the fourth, left out)."""

    class LM(nn.Module):
        def forward(self, x):
            return x

        def generate(self, x):
            return x

        def generated(self, x):
            return x

        def generates(self, x):
            return x

        def generator(self, x):
            return x

    with pytest.raises(AttributeError) as info:
        torchcount.profile(LM(), torch.randn(2), method="generat")
    assert str(info.value) == ("method='generat': LM has no attribute 'generat'; did you mean generate or generator "
                               "or generates?")


def test_a_misspelt_method_is_offered_methods_only_not_other_attributes():
    """The close names offered are the class's public methods: decoder_name, a class attribute holding a
    string, is close to 'decoder' (difflib 2·7/19 = 0.74, above its 0.6 cutoff) but is no method to call;
    decode (2·6/13 = 0.92) is the one offered."""

    class LM(nn.Module):
        decoder_name = "transformer"

        def forward(self, x):
            return x

        def decode(self, x):
            return x

    with pytest.raises(AttributeError) as info:
        torchcount.profile(LM(), torch.randn(2), method="decoder")
    assert str(info.value) == "method='decoder': LM has no attribute 'decoder'; did you mean decode?"


def test_a_transformer_layers_own_no_op_hook_is_removed_by_its_handle_not_noted_as_the_forwards():
    """While counting, each TransformerEncoderLayer gets a no-op forward hook of torchcount's (the unfused
    path, a row per submodule) and its fast-path flag set 0; afterwards both are as found, no forward hook
    and activation_relu_or_gelu 1 (ReLU's), for a layer alone and for the two inside an encoder, and no
    note says the forward registered a hook (it registered none; the hooks a forward adds are noted)."""
    layer = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True).eval()
    encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, batch_first=True), 2).eval()
    with torch.no_grad():
        reports = [torchcount.profile(layer, torch.randn(1, 3, 8)),
                   torchcount.profile(encoder, torch.randn(1, 3, 8), warn=False)]
    for found in (layer, *encoder.layers):
        assert len(found._forward_hooks) == 0 and found.activation_relu_or_gelu == 1
    for report in reports:
        assert not any(note.startswith("the forward registered hook(s)") for note in report.notes)


def test_an_encoder_without_a_nested_tensor_flag_is_left_without_one():
    """An encoder pickled by an older torch has no use_nested_tensor attribute (torch's forward checks
    hasattr: never nested); the profile turns the flag off only where it is set, and sets none: the
    encoder's __dict__ is as it was, and the count the one with the flag off (2 layers alike)."""
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, batch_first=True), 2).eval()
    x = torch.randn(2, 5, 8)
    with torch.no_grad():
        flagged = torchcount.profile(enc, x, warn=False)
    del enc.use_nested_tensor
    keys = set(vars(enc))
    with torch.no_grad():
        report = torchcount.profile(enc, x, warn=False)
    assert set(vars(enc)) == keys and not hasattr(enc, "use_nested_tensor")
    assert report.total.cost == flagged.total.cost


_TEACHER = nn.Linear(4, 4)
_ALIAS = _TEACHER


def _step_with_a_teacher_named_twice(model, x):
    return model(x) + _TEACHER(x) + _ALIAS(x)


def test_a_module_a_step_function_holds_under_two_names_is_one_module():
    """The step function names one teacher Linear twice (two globals): it is one module held, put back
    once and named once in the note (either name), not twice."""
    report = torchcount.profile(nn.Linear(4, 4), torch.randn(2, 4), method=_step_with_a_teacher_named_twice,
                                warn=False)
    (note,) = [n for n in report.notes if n.startswith("module(s) held by")]
    held = note.split(": ", 1)[1].split(";")[0]
    assert held in ("_ALIAS=Linear", "_TEACHER=Linear")


def test_the_uncounted_warning_points_at_the_callers_line():
    """The warning for ops without a formula (eigvalsh here: aten._linalg_eigh) is raised with
    stacklevel 2: attributed to the line that called profile, in this file, not to torchcount's."""

    class Eigen(nn.Module):
        def forward(self, x):
            return torch.linalg.eigvalsh(x @ x.T)

    with pytest.warns(torchcount.UncountedWarning) as caught:
        line = _line() + 1
        torchcount.profile(Eigen(), torch.randn(3, 3))
    (warning,) = [w for w in caught if issubclass(w.category, torchcount.UncountedWarning)]
    assert (warning.filename, warning.lineno) == (__file__, line)
    assert str(warning.message).startswith("torchcount: no formula for 1 op(s) in Eigen: aten._linalg_eigh.default;")


def _line() -> int:
    import inspect

    return inspect.currentframe().f_back.f_lineno


def test_long_lists_in_the_notes_name_the_first_few_then_an_ellipsis():
    """The training-mode note names 4 modules, then '…' when there are more; the lazy-parameter note 6
    parameters, then '…'. 4 dropouts in training: named, no '…'; 5: the first 4 and '…'. 3 lazy Linears:
    6 parameters (weight, bias each), no '…'; a fourth without a bias: 7, the first 6 and '…'."""
    def training_note(n):
        report = torchcount.profile(nn.Sequential(*[nn.Dropout() for _ in range(n)]), torch.randn(2, 3))
        return next(note for note in report.notes if note.startswith("in training mode: "))

    assert training_note(4).startswith("in training mode: 0, 1, 2, 3 (dropout masks")
    assert training_note(5).startswith("in training mode: 0, 1, 2, 3 … (dropout masks")

    def lazy_note(*biases):
        report = torchcount.profile(nn.Sequential(*[nn.LazyLinear(3, bias=b) for b in biases]), torch.randn(2, 3))
        return next(note for note in report.notes if note.startswith("lazy parameters materialised"))

    assert lazy_note(True, True, True).endswith("(kept): 0.weight, 0.bias, 1.weight, 1.bias, 2.weight, 2.bias")
    # a fourth without a bias: 7 parameters
    assert lazy_note(True, True, True, False).endswith("(kept): 0.weight, 0.bias, 1.weight, 1.bias, 2.weight, "
                                                       "2.bias …")


class _Keep(nn.Module):
    def forward(self, w):
        return w


class _RegistersOnEachLinear(nn.Module):
    """n Linear(2, 2) in a chain; the forward calls ``register(lin)`` on each before calling it (giving
    it a parametrization or a hook: what a forward leaves behind and a profile must remove)."""

    def __init__(self, n, register):
        super().__init__()
        self.lins, self.register = nn.ModuleList(nn.Linear(2, 2) for _ in range(n)), register

    def forward(self, x):
        for lin in self.lins:
            self.register(lin)
            x = lin(x)
        return x


def _parametrize_weight(lin):
    torch.nn.utils.parametrize.register_parametrization(lin, "weight", _Keep())


def _add_forward_hook(lin):
    lin.register_forward_hook(lambda module, args, output: None)


def test_the_note_on_parametrizations_a_forward_registered_names_six_then_an_ellipsis():
    """A forward that parametrizes the weight of each of its Linears: the note names 6 (lins.0.weight …
    lins.5.weight), with '…' when there are 7, and each Linear is a plain Linear again afterwards."""
    def note(n):
        model = _RegistersOnEachLinear(n, _parametrize_weight)
        report = torchcount.profile(model, torch.randn(1, 2), warn=False)
        assert all(type(lin) is nn.Linear for lin in model.lins)
        return next(x for x in report.notes if x.startswith("the forward registered parametrization(s)"))

    named = ", ".join(f"lins.{i}.weight" for i in range(6))
    assert f"on {named}; removed" in note(6)
    assert f"on {named} …; removed" in note(7)


def _to_double(model, x):
    for p in model.parameters():
        p.data = p.data.double()
    return model(x.double())


def test_the_notes_on_hooks_a_forward_registered_and_data_a_method_converted_name_six_then_an_ellipsis():
    """The note on hooks a forward registered names 6 (lins.0 … lins.5, each '(forward hook)'), then '…'
    for a seventh; the note on parameter data a method converted (.double()) names 6 too: three
    Linear(2, 2) have 6 parameters, a fourth without a bias a seventh, its weight, left to '…'."""
    def hooks_note(n):
        report = torchcount.profile(_RegistersOnEachLinear(n, _add_forward_hook), torch.randn(1, 2), warn=False)
        return next(x for x in report.notes if x.startswith("the forward registered hook(s), removed again: "))

    hooked = ", ".join(f"lins.{i} (forward hook)" for i in range(6))
    assert hooks_note(6).endswith(hooked)
    assert hooks_note(7).endswith(hooked + " …")

    def data_note(n):
        model = nn.Sequential(*[nn.Linear(2, 2, bias=i < 3) for i in range(n)])
        report = torchcount.profile(model, torch.randn(1, 2), method=_to_double, warn=False)
        assert all(p.dtype == torch.float32 for p in model.parameters())
        return next(x for x in report.notes if x.startswith("_to_double converted or rebound the data"))

    converted = "0.weight, 0.bias, 1.weight, 1.bias, 2.weight, 2.bias"
    assert data_note(3).endswith(f"parameter(s) {converted} (.half(), .to()); put back as found")
    assert data_note(4).endswith(f"parameter(s) {converted} … (.half(), .to()); put back as found")


def _unparametrize_weight(lin):
    torch.nn.utils.parametrize.remove_parametrizations(lin, "weight", leave_parametrized=False)


def _new_bias(lin):
    lin.bias = nn.Parameter(torch.zeros(2))


def _fold_weight_norm(lin):
    torch.nn.utils.remove_weight_norm(lin)


def _bump_weight(lin):
    with torch.no_grad():
        lin.weight.add_(1)


class _RebindsEachLinear(nn.Module):
    """n Linear(2, 2) in a ModuleList; the forward replaces each with a fresh Linear(2, 2) before calling it."""

    def __init__(self, n):
        super().__init__()
        self.lins = nn.ModuleList(nn.Linear(2, 2) for _ in range(n))

    def forward(self, x):
        for i in range(len(self.lins)):
            self.lins[i] = nn.Linear(2, 2)
            x = self.lins[i](x)
        return x


def _parametrized_lins(n, register):
    model = _RegistersOnEachLinear(n, register)
    for lin in model.lins:
        torch.nn.utils.parametrize.register_parametrization(lin, "weight", _Keep())
    return model


def _weight_normed_lins(n, register):
    import warnings

    model = _RegistersOnEachLinear(n, register)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (weight_norm is deprecated for parametrizations.weight_norm)
        for lin in model.lins:
            torch.nn.utils.weight_norm(lin)
    return model


@pytest.mark.parametrize("make, start, each, options", [
    (lambda n: _parametrized_lins(n, _unparametrize_weight), "the forward removed parametrization(s)",
     "lins.{}.weight", {}),
    (lambda n: _RegistersOnEachLinear(n, _new_bias), "the forward rebound, added or removed parameter/buffer slot(s)",
     "lins.{}.bias", {}),
    (lambda n: _weight_normed_lins(n, _fold_weight_norm), "the forward removed hook(s) of module(s)",
     "lins.{} (forward pre-hook)", {}),
    (_RebindsEachLinear, "the forward rebound or deleted submodule(s)", "lins.{}", {}),
    (lambda n: _RegistersOnEachLinear(n, _bump_weight), "the forward wrote parameter(s) in place",
     "lins.{}.weight", {"copy_params": True}),
], ids=["parametrizations removed", "slots rebound", "hooks of folded weight norms", "submodules rebound",
        "parameters written in place"])
def test_the_notes_on_what_a_forward_changed_and_was_put_back_name_six_then_an_ellipsis(make, start, each, options):
    """A forward that does the same to each of its n Linears (removes its weight's parametrization,
    rebinds its bias, folds its weight norm, replaces it, adds 1 to its weight): the note that it was put
    back names all six of 6 (lins.0 … lins.5) and ends there, and the same six then ' …' of 7 — a
    reader sees that there were more than it names. The note on parameters written in place named
    the first six of 7 with nothing after them, as if only six had been written."""
    def note(n):
        report = torchcount.profile(make(n), torch.randn(1, 2), warn=False, **options)
        (found,) = [x for x in report.notes if x.startswith(start)]
        return found

    named = ", ".join(each.format(i) for i in range(6))
    six, seven = note(6), note(7)
    assert named in six and named + " …" not in six and named + ", " not in six
    assert named + " …" in seven
    assert six.replace(named, named + " …", 1) == seven


_GIVEN_TOO = nn.Linear(4, 4)


def _step_holding_its_input(model, x, teacher):
    return model(x) + _GIVEN_TOO(x) + teacher(x)


def test_a_module_a_step_function_holds_and_is_given_is_named_once_as_an_input():
    """The step function closes over the teacher it is also given as its input: one module, named in the
    inputs' note only (the held modules are looked for beyond the model's and the inputs' own)."""
    report = torchcount.profile(nn.Linear(4, 4), (torch.randn(2, 4), _GIVEN_TOO), method=_step_holding_its_input,
                                warn=False)
    assert [n.split(";")[0] for n in report.notes if n.startswith("module(s) ")] == \
        ["module(s) given as inputs of _step_holding_its_input: Linear"]


def test_a_frozen_modules_note_names_its_running_statistics_only_where_it_has_some():
    """A frozen BatchNorm1d(4) with nothing before it keeps its running mean and variance (2 statistics,
    2·4 = 8 elements), which the note names as buffers; one folded into the convolution before it
    leaves none, and the note says nothing of statistics."""
    import warnings

    kept = nn.Sequential(nn.BatchNorm1d(4), nn.Linear(4, 3)).eval()
    with torch.no_grad():
        for t in (kept[0].weight, kept[0].bias, kept[0].running_mean, kept[0].running_var):
            t.uniform_(1, 2)
    folded = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8)).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        notes = [next(n for n in torchcount.profile(torch.jit.freeze(torch.jit.script(m)), x, warn=False).notes
                      if n.startswith("frozen TorchScript module"))
                 for m, x in ((kept, torch.randn(2, 4)), (folded, torch.randn(1, 3, 6, 6)))]
    assert ", its 2 normalisation running statistic(s) (8 elements) as buffers" in notes[0]
    assert "running statistic" not in notes[1]


def test_profile_runs_without_importing_dynamo():
    """torch._dynamo is imported only where a model may be compiled: profile looks for compiled submodules
    only when it is already imported. In a fresh interpreter a profile works (Linear(4, 3) on 2×4: 24
    MACs) and leaves it unimported."""
    import subprocess
    import sys

    code = ("import sys, torch, torchcount; r = torchcount.profile(torch.nn.Linear(4, 3), torch.randn(2, 4)); "
            "print(r.total.macs, 'torch._dynamo.eval_frame' in sys.modules)")
    from pathlib import Path

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         cwd=Path(__file__).resolve().parents[1])  # (this checkout's torchcount first)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["24", "False"]


def test_a_root_whose_call_never_runs_its_forward_unrecorded_is_one_uncounted_call():
    """A root whose own __call__ calls its Linear and never its forward has no row of its own; with op
    recording off its __call__'s work (the '- 1') is listed once, under the root's path and type, beside
    the Linear's 5·4·2 = 40 MACs."""
    from torchcount.profile import UNRECORDED_CALL

    class Instead(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 2)

        def forward(self, x):
            return self.lin(x)

        def __call__(self, x):
            return self.lin(x) - 1

    report = torchcount.profile(Instead(), torch.randn(5, 4), record_ops=False, warn=False)
    assert report.root is None and report.total.macs == 40
    assert [(u.path, u.type, u.what, u.calls) for u in report.uncounted] == [("", "Instead", UNRECORDED_CALL, 1)]


def test_a_leaf_root_without_a_rule_unrecorded_is_one_uncounted_entry():
    """With record_ops=False a rule-less module with no children (x·2) is both the root row and its only
    layer row: its unrecorded own ops are listed once, one call, not once per list it is in."""

    class Doubles(nn.Module):
        def forward(self, x):
            return x * 2

    report = torchcount.profile(Doubles(), torch.randn(2, 4), record_ops=False, warn=False)
    assert [(u.path, u.what, u.calls) for u in report.uncounted] == [("", UNRECORDED, 1)]


# ---- method= ----------------------------------------------------------------------------------------


class _Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 3)

    def forward(self, x):
        return self.lin(x)

    def generate(self, x):  # forward, a 3×4 projection back, and lin again
        return self.lin(self(x) @ torch.ones(3, 4))


class _Trainer:
    def step(self, model, x):
        return model(x).sum() * 2


def test_a_bound_method_is_the_models_own_where_it_is_bound_to_the_wrapped_module_else_a_function():
    """method=m.generate given with DataParallel(m) is m's generate (a method of the module the wrapper
    wraps, called as generate(x)): on a 2×4 input, 2·4·3 = 24 MACs for each Linear call and 2·3·4 = 24
    for the product, 72, one forward. A bound method of another object (a trainer's step) is a function
    called as step(model, x): one forward, 24 MACs, named step(_Generator)."""
    model, x = _Generator(), torch.randn(2, 4)
    wrapped = torchcount.profile(nn.DataParallel(model), x, method=model.generate, warn=False)
    assert (wrapped.model_name, wrapped.total.macs, wrapped.forward_calls) == ("_Generator.generate", 72, 1)
    stepped = torchcount.profile(model, x, method=_Trainer().step, warn=False)
    assert (stepped.model_name, stepped.total.macs, stepped.forward_calls) == ("step(_Generator)", 24, 1)


def test_a_step_function_closing_over_the_model_holds_only_its_other_modules():
    """A step made by make_step(model) closes over the model itself and a teacher: the model is the one
    profiled, not a module held, so the note names the teacher only; 2·4·4 = 32 MACs each, 64."""
    teacher, model = nn.Linear(4, 4), nn.Linear(4, 4)

    def make_step(model):
        def step(m, x):
            return model(x) + teacher(x)
        return step

    report = torchcount.profile(model, torch.randn(2, 4), method=make_step(model), warn=False)
    (note,) = [n for n in report.notes if n.startswith("module(s) held by")]
    assert note.startswith("module(s) held by step: teacher=Linear;") and report.total.macs == 64


def _backward_step(model, x):
    model(x).sum().backward()


def test_a_meta_input_requiring_grad_is_given_to_the_method_as_a_leaf_of_its_own():
    """On the meta device no values need protecting, but an input that requires grad is still replaced by a
    leaf of its own: the step's backward leaves the caller's tensor without a .grad. Counted: the forward
    2·4·3 = 24 MACs, the backward's input and weight gradients 24 each, 72."""
    x = torch.randn(2, 4, device="meta", requires_grad=True)
    report = torchcount.profile(nn.Linear(4, 3, device="meta"), x, method=_backward_step, warn=False)
    assert x.grad is None and report.total.macs == 72


def _grad_step(model, x):
    (grad,) = torch.autograd.grad(model(x).sum(), model.weight)
    return grad


def test_a_step_taking_gradients_without_setting_grad_is_measured_with_autograd_on():
    """A step that takes its gradient with torch.autograd.grad sets no .grad, yet runs a backward: it is
    measured with autograd on (the note says so; under no_grad the call would raise), counted as the
    forward 2·4·3 = 24 MACs and the weight's gradient 24, 48; the Linear's .grad is None as before."""
    model = nn.Linear(4, 3)
    report = torchcount.profile(model, torch.randn(2, 4), method=_grad_step, measure=True, warmup=0, repeat=1,
                                warn=False)
    assert "measured with autograd on (no_grad=False): the method runs a backward" in report.notes
    assert report.total.macs == 48 and model.weight.grad is None


# ---- the rule registry ------------------------------------------------------------------------------


def test_a_rule_registered_after_a_look_up_is_found():
    """rule_for caches what it found per type, None too: registering a rule for the type afterwards must
    drop that, or the type stays unruled. A block of its own: no rule, then the one registered (10 MACs
    a call: 3 calls, 30)."""
    from torchcount.cost import Cost, Term
    from torchcount.rules.registry import rule_for

    class Block(nn.Module):
        def forward(self, x):
            return x * 2

    from torchcount.rules import registry

    assert rule_for(Block()) is None

    def block(module, call):
        return Cost.of(Term("macs", "ten", "10", "10", 10))

    try:
        torchcount.module_rule(Block)(block)
        assert rule_for(Block()).fn is block
        net = nn.Sequential(Block(), Block(), Block())
        assert torchcount.profile(net, torch.randn(2)).total.macs == 30
    finally:
        registry._MODULE_RULES.pop(Block, None)
        registry._lookup_cache.pop(Block, None)



def test_an_op_with_a_kernel_for_every_backend_is_run_whole_not_split():
    """silu_backward has a CompositeImplicitAutograd kernel and also one for every backend at once
    (CompositeExplicitAutograd or its NonFunctional key, in torch's dispatch table): torch runs that kernel,
    whole, as a dispatch mode of the test's own sees in SiLU's backward; so the recorder does not run it as
    its parts (parts_split False for both overloads)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    from torchcount.rules.registry import _COMPOSITE, parts_split

    name = "aten::silu_backward"
    assert torch._C._dispatch_has_kernel_for_dispatch_key(name, _COMPOSITE)
    assert any(torch._C._dispatch_has_kernel_for_dispatch_key(name, getattr(torch._C.DispatchKey, key))
               for key in ("CompositeExplicitAutograd", "CompositeExplicitAutogradNonFunctional"))

    class Seen(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.ops = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.ops.append(func)
            return func(*args, **(kwargs or {}))

    x = torch.randn(4, 8, requires_grad=True)
    with Seen() as seen:
        torch.nn.functional.silu(x).sum().backward()
    assert torch.ops.aten.silu_backward.default in seen.ops
    assert parts_split(torch.ops.aten.silu_backward.default) is False
    assert parts_split(torch.ops.aten.silu_backward.grad_input) is False


def test_a_composite_op_under_inference_mode_is_counted_from_its_parts():
    """einsum is a composition of other ops (CompositeImplicitAutograd): under inference_mode it reaches the
    recorder whole and is broken up as autograd would (parts_split True): 'ij,jk->ik' of 2×3 by 3×4 is
    2·3·4 = 24 MACs, nothing uncounted."""
    from torchcount.rules.registry import parts_split

    class Contracts(nn.Module):
        def forward(self, a, b):
            return torch.einsum("ij,jk->ik", a, b)

    assert parts_split(torch.ops.aten.einsum.default) is True
    with torch.inference_mode():
        report = torchcount.profile(Contracts(), (torch.randn(2, 3), torch.randn(3, 4)), warn=False)
    assert report.total.macs == 24 and report.uncounted == []
