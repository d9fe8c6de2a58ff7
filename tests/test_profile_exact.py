"""torchcount.profile called as a user calls it, each result checkable by reading the model: the errors for
what it is given (the exact text), the counts of the forward it runs, the inputs it leaves as they were.
Found by mutation testing of profile.py (tools/mutants.py): each test kills a mutant the suite let live."""
from __future__ import annotations

import enum
import re
from typing import NamedTuple

import pytest
import torch
from torch import nn

import torchcount


# ---- what is given as the model ---------------------------------------------------------------------


def test_a_class_that_is_not_a_module_gets_no_hint_to_build_it():
    """profile(int, x): a class, but not a module class, so not 'that is the class, not a model: build one
    first' (that hint is for nn.Linear given for nn.Linear(…)); the error names the type and its repr only."""
    with pytest.raises(TypeError) as info:
        torchcount.profile(int, torch.randn(1, 2))
    assert str(info.value) == "torchcount.profile expects a torch.nn.Module, got type: <class 'int'>"


def test_an_object_named_exported_program_without_a_module_method_gets_no_export_hint():
    """The hint to profile ep.module() needs a module() to call: an object of a class that is merely named
    ExportedProgram, with none, gets the plain error."""

    class ExportedProgram:
        def __repr__(self):
            return "ExportedProgram()"

    with pytest.raises(TypeError) as info:
        torchcount.profile(ExportedProgram(), torch.randn(1, 2))
    assert str(info.value) == "torchcount.profile expects a torch.nn.Module, got ExportedProgram: ExportedProgram()"


# ---- inputs made from input_size= -------------------------------------------------------------------


@pytest.mark.parametrize("dtype, make", [
    (torch.int64, lambda shape, g: torch.randint(0, 2, shape, dtype=torch.int64, generator=g)),
    ("int32", lambda shape, g: torch.randint(0, 2, shape, dtype=torch.int32, generator=g)),
    (torch.complex64, lambda shape, g: torch.randn(shape, dtype=torch.complex64, generator=g)),
    ("float64", lambda shape, g: torch.randn(shape, dtype=torch.float64, generator=g)),
])
def test_made_inputs_of_each_dtype_are_the_draws_of_a_generator_seeded_0(dtype, make):
    """An integer dtype (by name too) draws 0/1 with randint(0, 2), a complex or floating one normal values
    with randn, each from a generator of its own seeded 0: the same values torch gives for those calls."""
    (x,) = torchcount.make_inputs((3, 5), dtype)
    expected = make((3, 5), torch.Generator().manual_seed(0))
    assert x.dtype == expected.dtype and torch.equal(x, expected)


@pytest.mark.parametrize("input_size, dtype, error, text", [
    ((), torch.float32, TypeError, "input_size must be a shape or a list of shapes, got ()"),
    ("2x3", torch.float32, TypeError, "input_size must be a shape or a list of shapes, got '2x3'"),
    ((2, 3), "flaot32", TypeError, "dtype must be a torch.dtype such as torch.float32, got 'flaot32'"),
    ((2, 3), "Tensor", TypeError, "dtype must be a torch.dtype such as torch.float32, got 'Tensor'"),
    ((2, True), torch.float32, ValueError,
     "input_size: (2, True) is not a shape of non-negative ints, e.g. (1, 3, 224, 224)"),
    ((2, 3.0), torch.float32, ValueError,
     "input_size: (2, 3.0) is not a shape of non-negative ints, e.g. (1, 3, 224, 224)"),
    ([(2, 3), (4, -1)], torch.float32, ValueError,
     "input_size: (4, -1) is not a shape of non-negative ints, e.g. (1, 3, 224, 224)"),
    ([(2, 3), 4], torch.float32, ValueError,
     "input_size: 4 is not a shape of non-negative ints, e.g. (1, 3, 224, 224)"),
])
def test_a_size_or_dtype_that_is_not_one_is_refused_in_these_words(input_size, dtype, error, text):
    """An empty shape, a string for a shape, a dtype name torch has not (or has, but not a dtype: Tensor),
    a bool or a float for a size, a negative size in the second shape, a bare int among shapes."""
    with pytest.raises(error) as info:
        torchcount.make_inputs(input_size, dtype)
    assert type(info.value) is error and str(info.value) == text


def test_one_dimension_a_torch_size_and_a_list_of_sizes_are_shapes():
    """(4,) is one shape of one dimension; [torch.Size([2, 3])] a list of one shape; [[1], (2, 2)] two."""
    assert [tuple(t.shape) for t in torchcount.make_inputs((4,))] == [(4,)]
    assert [tuple(t.shape) for t in torchcount.make_inputs([torch.Size([2, 3])])] == [(2, 3)]
    assert [tuple(t.shape) for t in torchcount.make_inputs([[1], (2, 2)])] == [(1,), (2, 2)]


class _Scaled(nn.Module):
    """x times a buffer of 4 ones: no parameter, so the buffer says where the model is."""

    def __init__(self, device=None):
        super().__init__()
        self.register_buffer("scale", torch.ones(4, device=device))

    def forward(self, x):
        return x * self.scale


def test_inputs_are_made_where_the_models_buffers_are_when_it_has_no_parameters():
    """A model with a meta buffer and no parameter: input_size= makes its inputs on meta (the model's
    device read from the buffer), and x·scale on 2×4 is 8 multiplications. A model with neither counts on
    the CPU: a bare ReLU on 2×4."""
    report = torchcount.profile(_Scaled("meta"), input_size=(2, 4))
    assert report.total.cost.mults == 8 and report.row("").input_shapes == [(2, 4)]
    assert torchcount.profile(nn.ReLU(), input_size=(2, 4)).row("").input_shapes == [(2, 4)]


class _AB(NamedTuple):
    a: torch.Tensor
    b: torch.Tensor


class _Multiplies(nn.Module):
    """Takes one namedtuple and multiplies its two fields."""

    def forward(self, pair):
        return pair.a * pair.b


def test_a_namedtuple_given_as_the_inputs_is_one_argument_not_the_positional_ones():
    """A tuple is the positional arguments, but a namedtuple is one input (as a PackedSequence is an
    LSTM's): the forward gets the pair, 2×3 times 2×3 is 6 multiplications, its input shapes both fields'."""
    report = torchcount.profile(_Multiplies(), _AB(torch.randn(2, 3), torch.randn(2, 3)))
    assert report.total.cost.mults == 6 and report.row("").input_shapes == [(2, 3), (2, 3)]


def test_device_cpu_0_with_inputs_given_is_where_a_cpu_model_is():
    """device='cpu:0' names the CPU the model is on (index 0 as no index): with inputs given and no
    measurement it is no other device, so no error; the Linear(4, 3) on 2×4 counts 24 MACs. device='meta'
    with inputs given is elsewhere, refused."""
    assert torchcount.profile(nn.Linear(4, 3), torch.randn(2, 4), device="cpu:0").total.macs == 24
    with pytest.raises(ValueError, match=r"^device='meta' places input_size='s random inputs"):
        torchcount.profile(nn.Linear(4, 3), torch.randn(2, 4), device="meta")


class _SeesDevice(nn.Module):
    """No parameter or buffer (so on the CPU as far as profile can tell): keeps the device its input was on."""

    def forward(self, x):
        self.seen = x.device.type
        return x * 2


def test_device_meta_places_the_inputs_input_size_makes_away_from_a_cpu_model():
    """device= places input_size='s inputs, wherever the model is (the refusal is for inputs given): a
    model on the CPU (no parameters) gets its 2×4 input on meta, and x·2 is 8 multiplications."""
    model = _SeesDevice()
    report = torchcount.profile(model, input_size=(2, 4), device="meta")
    assert model.seen == "meta" and report.total.cost.mults == 8 and report.row("").input_shapes == [(2, 4)]


def test_the_uncounted_message_names_ten_ops_sorted_and_the_coverage():
    """uncounted_message (the warning's and the command line's sentence) names the distinct ops without
    a formula sorted, at most ten of them (twelve here, op00 … op11, one twice), with the coverage to one
    decimal of a percent."""
    from types import SimpleNamespace

    from torchcount.profile import uncounted_message

    ops = [f"op{i:02d}" for i in (11, 3, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)]
    report = SimpleNamespace(uncounted=[SimpleNamespace(what=w) for w in ops], coverage=0.875)
    assert uncounted_message(report, "Net", " (saved)") == (
        "no formula for 12 op(s) in Net: op00, op01, op02, op03, op04, op05, op06, op07, op08, op09; coverage "
        "87.5% (saved). They are listed in report.uncounted and marked † in the table.")


# ---- method= ----------------------------------------------------------------------------------------


def test_the_wrappers_own_bound_forward_as_the_method_is_the_forward():
    """method=dp.forward, the DataParallel wrapper's own bound forward, is the forward (named as the
    model's method, not called as a function given the model): profiled as a plain forward of the Linear
    it wraps, 2·4·3 = 24 MACs, no method on the report and no note of a method's call."""
    dp = nn.DataParallel(nn.Linear(4, 3))
    report = torchcount.profile(dp, torch.randn(2, 4), method=dp.forward)
    assert (report.method, report.total.macs) == (None, 24)
    assert not any(note.startswith("profiled one call of") for note in report.notes)


def test_a_function_named_forward_is_a_step_function_and_the_name_forward_the_forward():
    """method='forward' is the forward itself: profiled as a plain forward (model_name Sequential, no method).
    A function given as the method is called as function(model, x) whatever its name, also one named
    forward: a Sequential holding a Linear(4, 3), on 2×4 (2·4·3 = 24 MACs), called once inside it, and its ×2
    on the 2×3 output the root's own 6 multiplications, the report named forward(Sequential)."""
    model, x = nn.Sequential(nn.Linear(4, 3)), torch.randn(2, 4)
    plain = torchcount.profile(model, x, method="forward")
    assert (plain.model_name, plain.method, plain.total.macs) == ("Sequential", None, 24)

    def forward(model, x):  # a step function that happens to be named forward
        return model(x) * 2

    step = torchcount.profile(model, x, method=forward)
    assert (step.model_name, step.method, step.forward_calls, step.total.macs) == ("forward(Sequential)", "forward", 1, 24)
    assert step.row("").self_cost.mults == 6


class _WithHead(nn.Module):
    """A Linear(4, 4) body and a Linear(4, 2) head; refine(x, head) runs the body, then the head it is given."""

    def __init__(self):
        super().__init__()
        self.body, self.head = nn.Linear(4, 4), nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.body(x))

    def refine(self, x, head):
        return head(self.body(x))


def test_the_models_own_submodule_given_to_its_method_is_not_noted_as_another_module():
    """model.refine(x, model.head): the head given as an input is the model's own, hooked and in the total
    (2·4·4 = 32 + 2·4·2 = 16, 48 MACs), so no note of 'module(s) given as inputs'; a Linear(4, 2) of
    its own given in its place is one, named by its type."""
    model, x = _WithHead(), torch.randn(2, 4)
    own = torchcount.profile(model, (x, model.head), method="refine")
    assert own.total.macs == 48
    assert not any(note.startswith("module(s) given as inputs") for note in own.notes)
    other = torchcount.profile(model, (x, nn.Linear(4, 2)), method="refine", warn=False)
    assert any(note.startswith("module(s) given as inputs of refine: Linear;") for note in other.notes)


class _Pair(nn.Module):
    """A Linear(4, 3) and methods of several signatures, to check what profile(method=…) refuses before
    the profile starts (else a TypeError inside the forward, reported as the model's failure)."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 3)

    def forward(self, x):
        return self.lin(x)

    def pair(self, a, b=None):
        return self.lin(a) if b is None else self.lin(a) + self.lin(b)

    def first(self, a, /, b=None):
        return self.lin(a)

    def anything(self, a, **options):
        return self.lin(a)

    def nothing(self):
        return self.lin(torch.ones(1, 4))

    async def later(self, a):
        return self.lin(a)

    def many(self, *rest):
        return self.lin(rest[0])

    def _pairs(self):  # a private helper: not offered for a misspelt method
        return []


@pytest.mark.parametrize("inputs, kwargs, method, error, text", [
    # three inputs for pair(a, b)
    ("xxx", None, "pair", "TooManyInputs", "method='pair': _Pair.pair() takes 2 positional input(s) (a, b), not 3"),
    # one input for nothing(): 'none' named
    ("x", None, "nothing", "TooManyInputs", "method='nothing': _Pair.nothing() takes 0 positional input(s) (none), "
                                             "not 1"),
    # a is the first input and a keyword too
    ("x", {"a": 1}, "pair", "TypeError", "method='pair': _Pair.pair() is given 'a' twice: as its input number 1 and "
                                         "as a keyword"),
    # bb is close to b, the one left after a
    ("x", {"bb": 1}, "pair", "TypeError", "method='pair': _Pair.pair() takes no keyword argument 'bb' (not a keyword "
                                          "it takes; it takes b; did you mean b?)"),
    # a is positional only
    ("", {"a": 1}, "first", "TypeError", "method='first': _Pair.first() takes no keyword argument 'a' (positional "
                                         "only; it takes b)"),
    # nothing close to zzz among a, b (none filled): no guess
    ("", {"zzz": 1}, "pair", "TypeError", "method='pair': _Pair.pair() takes no keyword argument 'zzz' (not a keyword "
                                          "it takes; it takes a, b)"),
    ("x", None, "later", "TypeError", "method='later': _Pair.later(...) is an async function: torchcount runs a "
                                      "method synchronously; profile the synchronous method it awaits"),
    # rest is the name of *rest, which no keyword fills: not positional only either
    ("", {"rest": 1}, "many", "TypeError", "method='many': _Pair.many() takes no keyword argument 'rest' (not a "
                                           "keyword it takes; it takes none)"),
    # a submodule is callable, but not a method of the model
    ("x", None, "lin", "AttributeError", "method='lin': _Pair has a Linear, not a method, named 'lin'"),
    # misspelt: the public method close to it offered, not the private _pairs
    ("x", None, "pairr", "AttributeError", "method='pairr': _Pair has no attribute 'pairr'; did you mean pair?"),
])
def test_a_method_that_cannot_take_the_inputs_is_refused_naming_its_signature(inputs, kwargs, method, error, text):
    """profile(model, inputs, method=…) checks the method's signature first: too many positional inputs
    (TooManyInputs, a TypeError), a keyword given twice, one it has no parameter for (with the closest
    name left, where one is close), a positional-only one given by keyword, an async method; and a name
    that is a submodule, or no public method (a misspelling: the closest public method offered)."""
    x = torch.randn(2, 4)
    given = tuple(x for _ in inputs) if inputs else None
    with pytest.raises((TypeError, AttributeError)) as info:
        torchcount.profile(_Pair(), given, method=method, kwargs=kwargs)
    assert type(info.value).__name__ == error and str(info.value) == text


def test_a_method_with_keyword_options_takes_any_keyword_and_one_input_fewer_than_it_could():
    """anything(a, **options) takes any keyword (2·4·3 = 24 MACs), pair(a, b=None) one input of two."""
    x = torch.randn(2, 4)
    assert torchcount.profile(_Pair(), x, method="anything", kwargs={"scale": 2}).total.macs == 24
    assert torchcount.profile(_Pair(), (x,), method="pair").total.macs == 24
    assert torchcount.profile(_Pair(), (x, x), method="pair").total.macs == 48


def _step(model, x, scale=1.0):
    return model(x) * scale


def test_a_function_given_as_the_method_that_cannot_take_the_inputs_is_refused_naming_the_call():
    """A function given as the method is called function(model, *inputs, **kwargs): _step(model, x,
    scale=1.0) given three inputs would be _step(model, input, input, input); given a keyword it has not
    after one input, the keyword is named with what is left to give by keyword (scale: model and x are
    filled)."""
    x = torch.randn(2, 4)
    with pytest.raises(TypeError) as info:
        torchcount.profile(nn.Linear(4, 3), (x, x, x), method=_step)
    assert str(info.value) == ("method=_step: _step() is called as _step(model, input, input, input), which its "
                               "signature _step(model, x, scale=1.0) cannot take: too many positional arguments")
    with pytest.raises(TypeError) as info:
        torchcount.profile(nn.Linear(4, 3), x, method=_step, kwargs={"y": x})
    assert str(info.value) == ("method=_step: _step() takes no keyword argument 'y' (not a keyword it takes; it "
                               "takes scale)")


def _step_with_options(model, x, y, *, a=1, b=2):
    return model(x) * a + y * b


def test_a_function_method_its_inputs_fall_short_of_is_refused_naming_each_keyword_given():
    """_step_with_options(model, x, y, *, a=1, b=2) given one input and the keywords a and b: both are its
    keywords, but y is missing, so the call is refused before the profile, written out as it would be made,
    each keyword named in turn."""
    with pytest.raises(TypeError) as info:
        torchcount.profile(nn.Linear(4, 3), torch.randn(2, 4), method=_step_with_options, kwargs={"a": 2, "b": 3})
    assert str(info.value) == ("method=_step_with_options: _step_with_options() is called as _step_with_options(model, "
                               "input, a=…, b=…), which its signature _step_with_options(model, x, y, *, a=1, b=2) "
                               "cannot take: missing a required argument: 'y'")


async def _async_step(model, x):
    return model(x)


def test_an_async_function_given_as_the_method_is_refused():
    """Calling an async function runs none of its body (it makes a coroutine): refused before the profile,
    named as the profiled call is written, _async_step(Linear, ...)."""
    with pytest.raises(TypeError) as info:
        torchcount.profile(nn.Linear(4, 3), torch.randn(2, 4), method=_async_step)
    assert str(info.value) == ("method=_async_step: _async_step(Linear, ...) is an async function: torchcount runs a "
                               "method synchronously; profile the synchronous method it awaits")


class _Runs(nn.Module):
    """A Linear(4, 3), four methods run1, run12, run123, run1234 and a class attribute runs (a number)."""

    runs = 3

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 3)

    def forward(self, x):
        return self.lin(x)

    def run1(self, x):
        return self.lin(x)

    run12 = run123 = run1234 = run1


def test_a_misspelt_method_is_offered_three_methods_close_to_it_not_a_fourth_nor_an_attribute():
    """method='run' (no such attribute): the public methods close to it by difflib's ratio 2·M/T (M the
    matching characters, T both lengths) are run1 (6/7), run12 (6/8), run123 (6/9) and run1234 (6/10, just at
    the 0.6 cutoff): the three best are offered, best first, not the fourth. The class attribute runs (6/7 too)
    is a number, not a method to profile: not offered."""
    with pytest.raises(AttributeError) as info:
        torchcount.profile(_Runs(), torch.randn(2, 4), method="run")
    assert str(info.value) == "method='run': _Runs has no attribute 'run'; did you mean run1 or run12 or run123?"


# ---- a failing forward ------------------------------------------------------------------------------


class _MovesItsInput(nn.Module):
    """A Linear(4, 4) whose forward moves its input to the weight's device itself, then scales by a value
    read with .item(): meta has no value to read."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        y = self.lin(x.to(self.lin.weight.device))
        return y * y.sum().item()


def test_a_model_on_meta_given_cpu_inputs_it_moves_itself_gets_the_meta_hint():
    """The model is on meta and its forward moves the CPU batch there: .item() fails for want of values,
    which the meta hint explains although no input was a meta tensor (the model's device says meta). On the
    CPU the same model counts 2·4·4 = 32 MACs (the hint is no excuse for a bug)."""
    assert torchcount.profile(_MovesItsInput(), torch.randn(2, 4)).total.macs == 32
    with pytest.raises(torchcount.ForwardError) as info:
        torchcount.profile(_MovesItsInput().to("meta"), torch.randn(2, 4))
    assert str(info.value).count("hint: meta tensors have no values") == 1


def test_a_hook_reading_an_attribute_its_module_lacks_is_named_the_hook():
    """A forward hook of Linear '0' reads module.scale, which it lacks: the AttributeError is raised in
    Module.__getattr__, a frame of torch's module.py whose self is the Linear, yet no Module._call_impl;
    the one that is (Linear '0''s) names the hook, given 2×4, not the Sequential calling it."""
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
    net[0].register_forward_hook(lambda module, args, out: module.scale * out)
    with pytest.raises(torchcount.ForwardError) as info:
        torchcount.profile(net, torch.randn(2, 4))
    assert str(info.value) == ("forward failed in a forward hook of module '0' (Linear) with input shapes 2×4: "
                               "AttributeError: 'Linear' object has no attribute 'scale'")
    assert (info.value.path, info.value.input_shapes) == ("0", [(2, 4)])


class _Guard(nn.Module):
    def inner(self, module, args):
        raise ValueError("refused by the guard")


def test_a_pre_hook_that_is_a_modules_method_named_inner_is_named_the_pre_hook():
    """A pre-hook that is a module's method named 'inner' (as the function nested in torch's
    Module._call_impl is): its frame, the traceback's last, has an nn.Module for self, but it is the user's
    code, not torch's module.py; Linear '0''s _call_impl names the pre-hook, given 2×4."""
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
    net[0].register_forward_pre_hook(_Guard().inner)
    with pytest.raises(torchcount.ForwardError) as info:
        torchcount.profile(net, torch.randn(2, 4))
    assert str(info.value) == ("forward failed in a forward pre-hook of module '0' (Linear) with input shapes 2×4: "
                               "ValueError: refused by the guard")


def test_a_zero_dimensional_input_of_the_failing_module_is_named_a_scalar():
    """A Linear(4, 3) given a 0-d tensor fails (linear needs at least 1-D): its input shape is (), named
    'scalar' in the message, not left an empty string."""
    with pytest.raises(torchcount.ForwardError) as info:
        torchcount.profile(nn.Sequential(nn.Linear(4, 3)), torch.tensor(2.0))
    assert str(info.value).startswith("forward failed in module '0' (Linear) with input shapes scalar: RuntimeError: ")
    assert (info.value.path, info.value.input_shapes) == ("0", [()])


class _Two(nn.Module):
    """forward(a, b=None): Linear(4, 4) of a, plus b."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, a, b=None):
        return self.lin(a) + (0 if b is None else b)


class _WantsList(nn.Module):
    def forward(self, images):
        if not isinstance(images, list):
            raise TypeError("images must be a list of tensors")
        return images


class _EachImage(nn.Module):
    """A Linear(4, 4) on each image of a list (as a detection model takes its images)."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, images):
        return [self.lin(x) for x in images]


_X = torch.randn(2, 4)


@pytest.mark.parametrize("model, inputs, kwargs, start", [
    # a list, but keywords given too: not the one argument alone
    (_Two(), [_X, _X], {"b": _X}, "forward failed in module 'lin' (Linear) with input shapes 2×4, 2×4: TypeError: "),
    # a list as the first of two positional inputs: a tuple was given
    (_Two(), ([_X, _X], _X), None, "forward failed in module 'lin' (Linear) with input shapes 2×4, 2×4: TypeError: "),
    # an error that speaks of a list, given a tensor
    (_WantsList(), _X, None, "forward failed in module '(root)' (_WantsList) with input shapes 2×4: TypeError: images "
                             "must be a list of tensors"),
    # a list of images the forward takes, failing for another reason (5 features, not 4)
    (_EachImage(), [torch.randn(2, 5)], None, "forward failed in module 'lin' (Linear) with input shapes 2×5: "
                                              "RuntimeError: mat1 and mat2 shapes cannot be multiplied (2x5 and 4x4)"),
])
def test_the_hint_to_pass_a_tuple_is_only_for_a_list_given_alone_that_the_forward_refused_as_a_list(
        model, inputs, kwargs, start):
    """The hint 'a list is one input … pass a tuple' is for profile(model, [a, b]) alone, failing on the
    list: not with keywords given too, nor for a list among several inputs, nor a tensor given to a forward
    whose own error speaks of a list, nor a list the forward takes that failed for another reason."""
    with pytest.raises(torchcount.ForwardError) as info:
        torchcount.profile(model, inputs, kwargs=kwargs)
    assert str(info.value).startswith(start) and "a list is one input" not in str(info.value)


class _HookRaisesTheHandledErrorAndForwardRaisesItAgain(nn.Module):
    """Calls its Linear(4, 3) on a 2×5 input, which raises (in_features 4), and keeps that error; then calls
    it on x, whose forward hook raises the kept error itself, and the forward catches that and raises it
    again: the error has been raised three times, each raise's frames before the last's."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 3)
        self.first = None
        self.lin.register_forward_hook(self._raises_first)

    def _raises_first(self, module, args, out):
        raise self.first

    def forward(self, x):
        try:
            self.lin(torch.randn(2, 5))
        except RuntimeError as exc:
            self.first = exc
        try:
            return self.lin(x)
        except RuntimeError as again:
            raise again


def test_a_hooks_raise_of_a_handled_error_raised_again_by_the_forward_is_still_the_hooks():
    """The forward hook of 'lin' raises the error of the Linear's handled first call (2×5 by 4×3), on the
    second call (1×4), and the forward raises it again: the hook's, given 1×4, as without the forward's
    raise (tests/test_profile_api.py), not the handled first call's failure on 2×5. Only the frames before
    the first seam (the forward's raise) were read, then the whole traceback, whose last module call is
    the first one."""
    with pytest.raises(torchcount.ForwardError) as info:
        torchcount.profile(_HookRaisesTheHandledErrorAndForwardRaisesItAgain(), torch.randn(1, 4))
    assert str(info.value) == ("forward failed in a forward hook of module 'lin' (Linear) with input shapes 1×4: "
                               "RuntimeError: mat1 and mat2 shapes cannot be multiplied (2x5 and 4x3)")
    assert (info.value.path, info.value.input_shapes) == ("lin", [(1, 4)])


class _PreHookCallsItsLinear(nn.Module):
    """A Linear(4, 3) that the root's own forward pre-hook calls on a 2×5 input (in_features 4: it fails)."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 3)
        self.register_forward_pre_hook(lambda module, args: module.lin(torch.randn(2, 5)) and None)

    def forward(self, x):
        return self.lin(x)


def test_a_submodule_failing_in_its_forward_called_from_the_roots_pre_hook_is_named_not_the_pre_hook():
    """The root's pre-hook calls its Linear on 2×5, whose forward raises (4 features expected): the error is
    the Linear 'lin''s forward given 2×5, as its frames after its _call_impl show, not a pre-hook of the root
    (a frame read as a raise's seam where no frame came twice)."""
    with pytest.raises(torchcount.ForwardError) as info:
        torchcount.profile(_PreHookCallsItsLinear(), torch.randn(1, 4))
    assert str(info.value) == ("forward failed in module 'lin' (Linear) with input shapes 2×5: "
                               "RuntimeError: mat1 and mat2 shapes cannot be multiplied (2x5 and 4x3)")
    assert (info.value.path, info.value.input_shapes) == ("lin", [(2, 5)])


def _script_failure(last: str) -> RuntimeError:
    """A TorchScript interpreter's error, as torch words it, whose last line is ``last``."""
    from torchcount.profile import _SCRIPT_FAILURE

    return RuntimeError(f"{_SCRIPT_FAILURE}\nTraceback of TorchScript (most recent call last):\n  ...\n{last}\n")


def test_a_torchscript_failures_last_line_is_quoted_and_the_failing_ops_error_only_where_it_lost_its_message():
    """The op recorder's error (the failing op's, 'op_error') stands in for a last line that lost its message
    under the recorder ('RuntimeError: ', quoted as 'RuntimeError:' where there is none); a last line that
    says what went wrong ('ValueError: bad') is quoted as it is, whatever op failed before."""
    from torchcount.profile import _error_text

    op_error = RuntimeError("mat1 and mat2 shapes cannot be multiplied (2x5 and 4x3)")
    assert _error_text(_script_failure("RuntimeError: "), op_error) == (
        "RuntimeError: mat1 and mat2 shapes cannot be multiplied (2x5 and 4x3)")
    assert _error_text(_script_failure("RuntimeError: ")) == "RuntimeError:"
    assert _error_text(_script_failure("ValueError: bad"), op_error) == "ValueError: bad"


def test_a_torchscript_failure_quotes_the_call_of_the_code_the_interpreter_ran_not_of_the_original_source():
    """A TorchScript failure may hold two tracebacks, the serialized code the interpreter ran, then the
    'original code': the call quoted is the first's marked line ('x0 = torch.conv2d(x, w)'), not the
    original source's ('return F.conv2d(x, self.w)'), after the last line, what went wrong."""
    from torchcount.profile import _SCRIPT_FAILURE, _error_text

    failure = RuntimeError(
        f"{_SCRIPT_FAILURE}\nTraceback of TorchScript, serialized code (most recent call last):\n"
        "  File \"code/__torch__.py\", line 10, in forward\n    x0 = torch.conv2d(x, w)\n"
        "         ~~~~~~~~~~~~ <--- HERE\n\n"
        "Traceback of TorchScript, original code (most recent call last):\n"
        "  File \"net.py\", line 5, in forward\n    return F.conv2d(x, self.w)\n           ~~~~~~~~ <--- HERE\n"
        "RuntimeError: bad conv\n")
    assert _error_text(failure) == "RuntimeError: bad conv (in TorchScript, at x0 = torch.conv2d(x, w))"


# ---- the uncounted warning --------------------------------------------------------------------------


class _Eigen(nn.Module):
    """eigvalsh, an op without a formula (aten._linalg_eigh), after a 3×3 product."""

    def forward(self, x):
        return torch.linalg.eigvalsh(x @ x.T)


@pytest.mark.parametrize("model, warn, warned", [
    (_Eigen(), True, 1),  # uncounted, warn on: the warning
    (_Eigen(), False, 0),  # uncounted, warn off: none
    (nn.Linear(3, 3), True, 0),  # everything counted: nothing to warn of
])
def test_the_uncounted_warning_comes_where_an_op_is_uncounted_and_warn_is_on(model, warn, warned):
    """UncountedWarning is raised when something went uncounted and warn=True (the default): eigvalsh has
    no formula, a Linear has one; warn=False silences it. The one warning names the op and the model."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torchcount.profile(model, torch.randn(3, 3), warn=warn)
    texts = [str(w.message) for w in caught if issubclass(w.category, torchcount.UncountedWarning)]
    assert len(texts) == warned
    assert all(text.startswith("torchcount: no formula for 1 op(s) in _Eigen: aten._linalg_eigh.default;")
               for text in texts)
    # the sentence ends on the coverage, nothing appended to it (a saved report's " when it was saved" is the CLI's)
    assert all(re.search(r"; coverage \d+\.\d%\. They are listed in report\.uncounted and marked † in the table\.$",
                         text) for text in texts)


# ---- measure=True -----------------------------------------------------------------------------------


def _backward_step(model, x):
    model(x).sum().backward()


def test_a_training_step_unrecorded_is_still_measured_with_autograd_on():
    """record_ops=False records no op, so no backward node either: the .grad the step's backward set (and
    profile put back) is what tells that a backward ran. Measured with autograd on (the note), as under
    no_grad the backward would raise; the Linear's .grad is None again afterwards."""
    model = nn.Linear(4, 3)
    report = torchcount.profile(model, torch.randn(2, 4), method=_backward_step, record_ops=False, measure=True,
                                warmup=0, repeat=1, warn=False)
    assert "measured with autograd on (no_grad=False): the method runs a backward" in report.notes
    assert model.weight.grad is None


def test_an_eval_model_without_a_transformer_layer_measured_gets_no_note_on_one():
    """The note that nn.TransformerEncoderLayer was measured unfused is for such a layer in eval mode: an
    eval Linear measured gets none."""
    report = torchcount.profile(nn.Linear(4, 3).eval(), torch.randn(2, 4), measure=True, warmup=0, repeat=1)
    assert not any("TransformerEncoderLayer" in note for note in report.notes)


# ---- the notes --------------------------------------------------------------------------------------


def test_a_plain_forward_gets_no_note_but_its_longest_chain():
    """A Linear(4, 3) on a 2×4 tensor, in eval mode, nothing wrapped, changed or copied: one note, the
    longest chain (one step: the Linear). Each other note is for something this profile did not meet (a
    setting, hook, parametrization, slot, .grad or parameter changed, an input object copied, a method)."""
    report = torchcount.profile(nn.Linear(4, 3).eval(), torch.randn(2, 4))
    assert [note for note in report.notes if not note.startswith("longest chain: 1 sequential step")] == []


def test_only_the_layers_left_in_training_mode_are_noted_and_no_export_note_without_a_graph():
    """model.eval() then model[1].train(): of Linear, Dropout, BatchNorm1d and Dropout, only the Dropout at
    1 still counts as in training (its mask is counted); the BatchNorm and the other Dropout are in eval
    mode and not named. A model that was never exported gets no note on an exported graph's mode."""
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(), nn.BatchNorm1d(4), nn.Dropout()).eval()
    model[1].train()
    report = torchcount.profile(model, torch.randn(2, 4))
    training = [note for note in report.notes if "training mode" in note]
    assert len(training) == 1 and training[0].startswith("in training mode: 1 (dropout masks")
    model[1].eval()
    assert not any("training mode" in note for note in torchcount.profile(model, torch.randn(2, 4)).notes)


def test_a_root_in_training_mode_is_named_root():
    """A Dropout profiled on its own, in training mode (as built): its path is '', named '(root)'."""
    report = torchcount.profile(nn.Dropout(), torch.randn(2, 4))
    assert any(note.startswith("in training mode: (root) (dropout masks") for note in report.notes)


class _Slotted:
    """A state object with __slots__ and no __dict__, as a small cache class may be."""
    __slots__ = ("n",)

    def __init__(self):
        self.n = 0


class _Counting:
    """A callable object with a __dict__: a callback the caller gives the forward."""

    def __init__(self):
        self.calls = 0

    def __call__(self, x):
        self.calls += 1
        return x


class _Scale(enum.Enum):
    THREE = 3


class _TakesObject(nn.Module):
    def forward(self, x, obj):
        if isinstance(obj, _Scale):
            return x * obj.value
        if isinstance(obj, _Slotted):
            obj.n += 1  # (a forward that advances a state object it is given)
        elif isinstance(obj, int):
            return x * obj
        else:
            x = obj(x)  # (a callback, or a loss module outside the model)
        return x * 2


def test_a_slotted_state_object_is_copied_and_a_callable_or_a_number_is_passed_as_it_is():
    """An input object the forward changes is deep-copied, also one with __slots__ and no __dict__ (its n
    stays 0, its type named in the note); a callable object (a callback) and a module outside the model
    are the caller's own, called as given (their calls 1, no note); a number is no object to copy (x·3 on
    2×4: 8 multiplications, no note), nor is an Enum member, which has a __dict__ (no note)."""
    slotted = _Slotted()
    report = torchcount.profile(_TakesObject(), (torch.ones(2, 4), slotted))
    assert slotted.n == 0
    assert any(note.startswith("input object(s) copied (deep) before the forward, which may change them (a KV "
                               "cache grows): _Slotted; yours are as they were") for note in report.notes)
    callback = _Counting()
    report = torchcount.profile(_TakesObject(), (torch.ones(2, 4), callback))
    assert callback.calls == 1 and not any("input object(s) copied" in note for note in report.notes)
    loss = nn.Identity()
    loss.calls = 0
    loss.register_forward_hook(lambda m, args, out: setattr(m, "calls", m.calls + 1))
    report = torchcount.profile(_TakesObject(), (torch.ones(2, 4), loss))
    assert loss.calls == 1 and not any("input object(s) copied" in note for note in report.notes)
    report = torchcount.profile(_TakesObject(), (torch.ones(2, 4), 3))
    assert report.total.cost.mults == 2 * 4
    assert not any("input object(s) copied" in note for note in report.notes)
    # an Enum member (it has a __dict__) is a constant, not state: not copied, not named
    report = torchcount.profile(_TakesObject(), (torch.ones(2, 4), _Scale.THREE))
    assert report.total.cost.mults == 2 * 4
    assert not any("input object(s) copied" in note for note in report.notes)


class _Locked:
    """A state object holding a lock: deepcopy cannot copy it ("cannot pickle '_thread.lock'")."""

    def __init__(self):
        import threading

        self.lock = threading.Lock()
        self.n = 0


class BaseStreamer:
    """A class named as Hugging Face's streamer base, but not transformers' (its module is this file)."""

    def __init__(self):
        self.n = 0


class _Advances(nn.Module):
    def forward(self, x, obj):
        obj.n += 1
        return x * 2


def test_an_input_object_that_cannot_be_copied_is_passed_as_it_is_and_a_streamer_by_name_only_is_copied():
    """An object holding a lock cannot be deep-copied, so the forward gets the caller's own (its n is 1
    after, no note: nothing was copied), not None; a class merely named BaseStreamer outside transformers
    is ordinary state, copied (its n stays 0, named in the note); x·2 on 2×4 is 8 multiplications both times."""
    locked = _Locked()
    report = torchcount.profile(_Advances(), (torch.ones(2, 4), locked))
    assert locked.n == 1 and report.total.cost.mults == 8
    assert not any("input object(s) copied" in note for note in report.notes)
    streamer = BaseStreamer()
    report = torchcount.profile(_Advances(), (torch.ones(2, 4), streamer))
    assert streamer.n == 0 and report.total.cost.mults == 8
    assert any("(a KV cache grows): BaseStreamer; yours are as they were" in note for note in report.notes)


class _Config(dict):
    """A dict subclass whose constructor takes its fields by name: type(x)(items) cannot rebuild it."""

    def __init__(self, scale, shift):
        super().__init__(scale=scale, shift=shift)


class _Configured(nn.Module):
    def forward(self, x, config):
        return x * config["scale"] + config["shift"]


def test_a_dict_subclass_that_cannot_be_rebuilt_is_passed_as_it_is():
    """A dict subclass whose constructor wants (scale, shift): its tensors cannot be copied into a new one
    of its type, so the forward gets the caller's own (the same object), not None: x·2 + 1 on 2×4, 8
    multiplications and 8 additions."""
    config = _Config(2.0, 1.0)
    report = torchcount.profile(_Configured(), (torch.ones(2, 4), config))
    assert (report.total.cost.mults, report.total.cost.adds) == (8, 8)


class _Holder:
    """A plain object of a user's training loop, holding what it is given."""

    def __init__(self, **fields):
        self.__dict__.update(fields)


def _deep_lbfgs_step(model, x, y, trainer):
    optimizer = trainer.loop.state.optimizer

    def closure():
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        return loss
    return optimizer.step(closure)


def test_an_lbfgs_three_levels_inside_an_input_object_is_shared_not_copied():
    """An input object is deep-copied, but an optimizer it holds is shared (a copy keeps only what
    Optimizer.__getstate__ names: LBFGS loses ``_params``, and its step raised AttributeError). One three
    levels down, trainer.loop.state.optimizer, is within the reach state.py searches a method's input for
    an optimizer (the input's attributes and two levels further): shared too, so it steps (the model's
    2×3 @ 3×4 linear, at least 24 multiplications) and is put back (no state, the weight as it was), and
    the caller's trainer still holds it. Looking two levels down only, as before, copied it and failed."""
    torch.manual_seed(0)
    model = nn.Linear(3, 4)
    optimizer = torch.optim.LBFGS(model.parameters(), max_iter=1)
    trainer = _Holder(loop=_Holder(state=_Holder(optimizer=optimizer)))
    weight = model.weight.detach().clone()
    report = torchcount.profile(model, (torch.randn(2, 3), torch.zeros(2, 4), trainer), method=_deep_lbfgs_step)
    assert report.total.cost.mults >= 2 * 3 * 4
    assert optimizer.state_dict()["state"] == {} and torch.equal(model.weight, weight)
    assert trainer.loop.state.optimizer is optimizer


class _Scales(nn.Module):
    """Linear(4, 4) of torch.ones(2, 4) · k: its input tensor is made by the forward, on the CPU."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, k):
        return self.lin(torch.ones(2, 4) * k)


def test_a_model_on_meta_meeting_a_tensor_its_forward_made_on_the_cpu_gets_the_meta_hint_only():
    """Given k = 3 (no tensor), the forward makes its 2×4 input on the CPU: on the CPU that counts 2·4·4 = 32
    MACs; on meta the Linear meets the CPU tensor ('Tensor on device meta is not on the expected device
    cpu!'), which meta cannot run where the CPU can: the meta hint, once. No input was given on a device of
    its own, so no hint about where the inputs are ('weights are on …, its inputs on' nothing)."""
    assert torchcount.profile(_Scales(), (3,)).total.macs == 2 * 4 * 4
    with pytest.raises(torchcount.ForwardError) as info:
        torchcount.profile(_Scales().to("meta"), (3,))
    text = str(info.value)
    assert text.startswith("forward failed in module 'lin' (Linear) with input shapes 2×4: RuntimeError: ")
    assert "weights are on" not in text
    if "Tensor on device meta is not on the expected device cpu!" in text:  # (this torch's words)
        assert text.count("hint: meta tensors have no values") == 1


class _RefusesItsCall(nn.Module):
    """A module whose own __call__ raises before it reaches its forward (or any submodule's)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def __call__(self, x):
        raise ValueError("no call today")

    def forward(self, x):
        return self.fc(x)


def test_a_model_whose_own_call_fails_before_any_module_ran_is_named_by_its_type():
    """No module's forward had started when the error came (the root's own __call__ raised), so there is no
    module path nor input shapes to name: the error is 'M forward failed before any module ran: ' and what
    went wrong, its path and shapes None."""
    with pytest.raises(torchcount.ForwardError) as info:
        torchcount.profile(_RefusesItsCall(), torch.randn(2, 4))
    assert str(info.value) == "_RefusesItsCall forward failed before any module ran: ValueError: no call today"
    assert (info.value.path, info.value.input_shapes, info.value.reason) == (
        None, None, "ValueError: no call today")


class _Doubles(nn.Module):
    def forward(self, n):
        return n * 2


class _TimesDoubled(nn.Module):
    """x · times(3): the submodule is given a Python int, no tensor."""

    def __init__(self):
        super().__init__()
        self.times = _Doubles()

    def forward(self, x):
        return x * self.times(3)


def _refuse(module, args):
    raise ValueError("refused")


def test_a_pre_hook_failing_on_a_module_given_no_tensor_says_no_tensor_input():
    """The pre-hook of 'times' raised, and 'times' was called with 3, an int: there are no input shapes to
    name, so the error says 'no tensor input' where the shapes would be, and its input_shapes are []."""
    model = _TimesDoubled()
    model.times.register_forward_pre_hook(_refuse)
    with pytest.raises(torchcount.ForwardError) as info:
        torchcount.profile(model, torch.ones(2, 4))
    assert str(info.value) == ("forward failed in a forward pre-hook of module 'times' (_Doubles) with no tensor "
                               "input: ValueError: refused")
    assert (info.value.path, info.value.input_shapes) == ("times", [])


class _Modes(nn.Module):
    def forward(self, a, b):
        raise ValueError("unknown modes")


class _Moded(nn.Module):
    """x · mode(a, b): the failing submodule is given two objects and no tensor."""

    def __init__(self, a, b):
        super().__init__()
        self.a, self.b = a, b
        self.mode = _Modes()

    def forward(self, x):
        return x * self.mode(self.a, self.b)


class _Opaque:
    """An object the capture does not describe: kept as '<_Opaque>', named by its type."""


def test_a_module_failing_on_strings_names_their_type_and_an_object_its_class():
    """Given no tensor, the error names the types of what the failing module was given instead: the strings
    '<up' and 'down>' are 'str, str' (each has one angle bracket only, not the '<type>' form the capture keeps
    for an object it does not describe); an object of a class of the user's is named by its class, '_Opaque'."""
    for a, b, kinds in (("<up", "down>", "str, str"), (_Opaque(), "up", "_Opaque, str")):
        with pytest.raises(torchcount.ForwardError) as info:
            torchcount.profile(_Moded(a, b), torch.ones(2, 4))
        assert str(info.value) == (f"forward failed in module 'mode' (_Modes) with no tensor input ({kinds}): "
                                   "ValueError: unknown modes")


class _Refuses(nn.Module):
    def forward(self, *args):
        raise ValueError("no")


class _GivesInts(nn.Module):
    """x · f(2, 3): a submodule given two ints, as a layer may be given sizes."""

    def __init__(self):
        super().__init__()
        self.f = _Refuses()

    def forward(self, x):
        return x * self.f(2, 3)


def test_the_shape_hint_is_for_ints_given_to_the_model_itself_only():
    """profile(model, (2, 3)) gives the forward a shape where it wants a tensor: the error says so and how to
    pass one (torch.randn(2, 3) or input_size=(2, 3)). Two floats given to the model, or two ints a submodule
    'f' is given by its parent, are no shape the user passed: the error names the types given, no hint."""
    expected = {(2, 3): "(int, int): ValueError: no — a shape was given where a tensor is expected: pass "
                        "torch.randn(2, 3) or input_size=(2, 3)",
                (2.5, 3.5): "(float, float): ValueError: no"}
    for given, said in expected.items():
        with pytest.raises(torchcount.ForwardError) as info:
            torchcount.profile(_Refuses(), given)
        assert str(info.value) == f"forward failed in module '(root)' (_Refuses) with no tensor input {said}"
    with pytest.raises(torchcount.ForwardError) as info:
        torchcount.profile(_GivesInts(), torch.ones(2))
    assert str(info.value) == "forward failed in module 'f' (_Refuses) with no tensor input (int, int): ValueError: no"


def test_which_errors_need_real_values_a_dtype_mismatch_and_a_users_could_not_run_do_not():
    """needs_real_values, the command line's question (count on the CPU instead?), read off its rule: a dtype
    mismatch on meta fails on the CPU alike, so it needs no real values even where its words also name meta
    tensors ('… should be the same', or 'expected' with 'dtype'); one that names a dtype without 'expected'
    is no mismatch (an op with no meta kernel for bool tensors); a "could not run" is meta's only as the
    dispatcher's NotImplementedError, not a model's own RuntimeError; and a ForwardError made of an error is
    read by its cause. (Messages made up in those words: where PyTorch's own have them, the rule is this.)"""
    from torchcount.profile import needs_real_values

    assert not needs_real_values(RuntimeError(
        "Input type (MetaHalfType) and weight type (MetaFloatType) of the meta tensors should be the same"))
    assert not needs_real_values(RuntimeError("expected meta tensors of one dtype, got Float and Half"))
    assert needs_real_values(RuntimeError("aten::nonzero of a meta tensor of dtype bool: no meta kernel"))
    dispatcher = NotImplementedError("Could not run 'aten::mm' with arguments from the 'SparseMeta' backend")
    assert needs_real_values(dispatcher)
    assert not needs_real_values(RuntimeError("could not run the solver: no convergence"))
    made = torchcount.ForwardError("forward failed in module 'gcn' (GCN) with input shapes 3×4: "
                                   f"NotImplementedError: {dispatcher}", "gcn")
    made.__cause__ = dispatcher
    assert needs_real_values(made)


class _SeesItsHooks(nn.Module):
    """Records how many forward hooks and pre-hooks it has when called (its user registered none)."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append(len(self._forward_hooks) + len(self._forward_pre_hooks))
        return x


class _LayerThenWatcher(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)
        self.watch = _SeesItsHooks()

    def forward(self, x):
        return self.watch(self.layer(x))


def test_only_the_transformer_layers_get_the_no_op_hook_that_keeps_them_unfused():
    """While counting, torchcount hooks each TransformerEncoderLayer (a no-op forward hook: no fused fast path,
    a row for each of its submodules); a module beside it is called with the hooks its user gave it, none,
    and the layer has none again after."""
    model = _LayerThenWatcher().eval()
    with torch.no_grad():
        torchcount.profile(model, torch.randn(1, 3, 8))
    assert model.watch.seen == [0] and len(model.layer._forward_hooks) == 0


def test_no_dense_note_where_pytorch_stays_dense_unbatched_or_on_meta_and_one_for_src_by_keyword():
    """A TransformerEncoder (2 layers, d = 8, feed-forward 16) in eval mode under no_grad given a padding
    mask runs nested in PyTorch, so its dense count is noted, also with the input given by keyword, src=x.
    PyTorch stays dense (torch's TransformerEncoder.forward) without a padding mask (None given as the third
    positional input), in training mode, for an unbatched 3×8 input and on meta (not a device of its fast
    path): no note there. Each count is the dense one, the unbatched one half the batch of 2's."""
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, batch_first=True), 2).eval()
    x, pad = torch.randn(2, 3, 8), torch.tensor([[False, False, True], [False, False, False]])

    def noted(report):
        return any("counted dense, padded positions included" in note for note in report.notes)

    with torch.no_grad():
        batched = torchcount.profile(enc, x, kwargs={"src_key_padding_mask": pad}, warn=False)
        by_keyword = torchcount.profile(enc, (), kwargs={"src": x, "src_key_padding_mask": pad}, warn=False)
        unbatched = torchcount.profile(enc, x[0], kwargs={"src_key_padding_mask": pad[0]}, warn=False)
        unmasked = torchcount.profile(enc, (x, None, None), warn=False)
        training = torchcount.profile(enc.train(), x, kwargs={"src_key_padding_mask": pad}, warn=False)
        enc.eval()
        on_meta = torchcount.profile(enc.to("meta"), x.to("meta"), kwargs={"src_key_padding_mask": pad.to("meta")},
                                     warn=False)
    assert noted(batched) and noted(by_keyword) and not noted(unbatched) and not noted(training)
    assert not noted(on_meta) and not noted(unmasked)
    assert by_keyword.total.macs == on_meta.total.macs == batched.total.macs == 2 * unbatched.total.macs


class _EncodesTwice(nn.TransformerEncoder):
    def twice(self, x, pad):
        return self(self(x, src_key_padding_mask=pad), src_key_padding_mask=pad)


def test_the_root_encoder_called_twice_where_pytorch_would_run_nested_is_named_once():
    """The model itself is the TransformerEncoder, and its method calls it twice in eval mode under no_grad
    with a padding mask (where PyTorch runs nested): the note names it once, '(root): TransformerEncoder
    given …', as a submodule called twice is."""
    model = _EncodesTwice(nn.TransformerEncoderLayer(8, 2, 16, batch_first=True), 1).eval()
    with torch.no_grad():
        report = torchcount.profile(model, (torch.randn(1, 3, 8), torch.tensor([[False, False, True]])),
                                    method="twice", warn=False)
    (note,) = [note for note in report.notes if "src_key_padding_mask" in note]
    assert note.startswith("(root): TransformerEncoder given a src_key_padding_mask in eval mode")


class _TakesTwo(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, a, b=None):
        return self.lin(a) + (0 if b is None else b)


def test_the_list_and_numpy_hints_end_the_error_in_these_words():
    """The hint after what went wrong, whole: a list given for two inputs is one input ('… pass a tuple,
    profile(model, (a, b)), for several positional inputs'), and a NumPy array given to a Linear is no
    tensor ('… no tensor input (ndarray): …', then ' — a NumPy array: pass torch.from_numpy(x)')."""
    import numpy as np

    with pytest.raises(torchcount.ForwardError) as info:
        torchcount.profile(_TakesTwo(), [torch.randn(2, 4), torch.randn(2, 4)])
    assert str(info.value).endswith(" — a list is one input, given to the forward as its one argument: pass a "
                                    "tuple, profile(model, (a, b)), for several positional inputs")
    with pytest.raises(torchcount.ForwardError) as info:
        torchcount.profile(nn.Sequential(nn.Linear(4, 4)), np.zeros((1, 4), "float32"))
    text = str(info.value)
    assert text.startswith("forward failed in module '0' (Linear) with no tensor input (ndarray): ")
    assert text.endswith(" — a NumPy array: pass torch.from_numpy(x)")


_TEACHER_MODEL = nn.Sequential(nn.Linear(4, 3))
_TEACHER = nn.Sequential(_TEACHER_MODEL[0], nn.Linear(3, 2))  # shares the model's Linear
_TEACHER_ALIAS = _TEACHER


def _distill_twice(model, x):
    return _TEACHER(x).sum() + model(x).sum() + _TEACHER_ALIAS(x).sum()


def test_a_module_a_method_holds_under_two_names_is_named_once():
    """A function method reads one teacher under two global names: the note of modules it holds names
    that teacher once (one '=Sequential'), not once per name; its work is counted per call all the same:
    the model's Linear(4, 3) runs three times (3 · 2·4·3 = 72 MACs, its row) and the teacher's
    Linear(3, 2) twice in the root's own row (2 · 2·3·2 = 24), 96 in all."""
    report = torchcount.profile(_TEACHER_MODEL, torch.randn(2, 4), method=_distill_twice)
    held = [note for note in report.notes if note.startswith("module(s) held by _distill_twice: ")]
    assert len(held) == 1 and held[0].split(";")[0].count("=Sequential") == 1, held
    assert (report.total.macs, report.row("0").macs) == (96, 72)


# ---- TorchScript ------------------------------------------------------------------------------------


class _Gate(nn.Module):
    """A Conv2d(4, 4, 3, padding=1) run only where flag is true: in TorchScript, inside a prim::If block."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x, flag: bool):
        if flag:
            x = self.conv(x)
        return x


_MKLDNN_CONV = "prim::mkldnn_convolution (run by the TorchScript interpreter, outside the dispatcher: not recorded)"


def test_an_interpreted_convolution_inside_an_if_block_is_the_one_uncounted_node_of_the_graph():
    """torch.jit.optimize_for_inference makes the gated Conv2d a prim::mkldnn_convolution, inside the graph's
    prim::If block, which the TorchScript interpreter runs without dispatching an op: it is listed as uncounted,
    once (one forward, flag true), in the report, in the root's row (partial) and in a note naming it. It is the
    only prim:: node listed: not the block's own prim::If nor prim::Constant, nor the two
    prim::ConstantMKLDNNTensor (its weight and bias) beside it, which compute nothing."""
    scripted = torch.jit.optimize_for_inference(torch.jit.script(_Gate().eval()))
    report = torchcount.profile(scripted, (torch.randn(1, 4, 6, 6), True), warn=False)
    assert [(u.path, u.type, u.what, u.calls) for u in report.uncounted if u.what.startswith("prim::")] == [
        ("", "RecursiveScriptModule", _MKLDNN_CONV, 1)]
    assert report.root.uncounted_ops[_MKLDNN_CONV] == 1 and report.root.status == "partial"
    assert [n for n in report.notes if "TorchScript interpreter" in n] == [
        "RecursiveScriptModule: its graph runs prim::mkldnn_convolution in the TorchScript interpreter itself, where "
        "no op is dispatched, so their work is not counted (as torch.jit.optimize_for_inference makes them); profile "
        "the module before that for these layers"]


def test_an_interpreted_hardswish_after_an_interpreted_convolution_is_listed_and_named_too():
    """optimize_for_inference runs a Conv2d(3, 4, 3) then Hardswish as prim::mkldnn_convolution and
    prim::MKLDNNHardSwish_ (the hardswish in place on the MKLDNN tensor), neither dispatched: both listed
    uncounted once, and the note names both, sorted (upper case first)."""
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Hardswish()).eval()
    scripted = torch.jit.optimize_for_inference(torch.jit.script(model))
    report = torchcount.profile(scripted, torch.randn(1, 3, 6, 6), warn=False)
    hardswish = "prim::MKLDNNHardSwish_ (run by the TorchScript interpreter, outside the dispatcher: not recorded)"
    assert [(u.what, u.calls) for u in report.uncounted if u.what.startswith("prim::")] == [
        (hardswish, 1), (_MKLDNN_CONV, 1)]
    assert any(n.startswith("RecursiveScriptModule: its graph runs prim::MKLDNNHardSwish_, prim::mkldnn_convolution "
                            "in the TorchScript interpreter itself") for n in report.notes), report.notes


class _MulAdd(nn.Module):
    def forward(self, x, y):
        return x * y + x


def test_a_tensorexpr_fusion_group_torchs_fuser_puts_in_the_graph_is_listed_uncounted():
    """torch's TensorExpr fuser (its own pass, run here on the scripted module's graph, shapes first) makes
    x·y + x one prim::TensorExprGroup node, whose mul and add NNC computes without dispatching an op: the
    graph's reading lists it uncounted once, in the root's row, and the note names it. (The fused module
    itself fails to run on the CPU in torch 2.11, so the graph is read after a profile of it unfused.)"""
    from torchcount.profile import _flag_interpreted

    x, y = torch.randn(2, 3), torch.randn(2, 3)
    scripted = torch.jit.script(_MulAdd())
    report = torchcount.profile(scripted, (x, y), warn=False)
    assert report.uncounted == [] and report.total.cost.mults == 6  # (2·3 products, unfused, recorded)
    graph = scripted.forward.graph
    torch._C._jit_pass_complete_shape_analysis(graph, (scripted._c, x, y), False)
    cpu = torch._C._jit_can_fuse_on_cpu()
    torch._C._jit_override_can_fuse_on_cpu(True)
    try:
        torch._C._jit_pass_fuse_tensorexprs(graph)
    finally:
        torch._C._jit_override_can_fuse_on_cpu(cpu)
    if "prim::TensorExprGroup" not in str(scripted.inlined_graph):
        pytest.skip("this torch's fuser made no TensorExpr group of x * y + x")
    notes = []
    _flag_interpreted(report, scripted, scripted, notes)
    group = "prim::TensorExprGroup (run by the TorchScript interpreter, outside the dispatcher: not recorded)"
    assert [(u.path, u.what, u.calls) for u in report.uncounted] == [("", group, 1)]
    assert report.root.uncounted_ops == {group: 1} and report.root.status == "partial"
    assert notes == ["RecursiveScriptModule: its graph runs prim::TensorExprGroup in the TorchScript interpreter "
                     "itself, where no op is dispatched, so their work is not counted (as "
                     "torch.jit.optimize_for_inference makes them); profile the module before that for these layers"]


class _ConvBatchNormRoot(nn.Module):
    """The root's own 2×3×1×1 weight in a functional conv2d, a BatchNorm2d(2), then a Conv2d(2, 2, 1) and
    another BatchNorm2d(2): freezing folds each BatchNorm into the convolution before it."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(2, 3, 1, 1))
        self.bn = nn.BatchNorm2d(2)
        self.conv = nn.Conv2d(2, 2, 1)
        self.bn2 = nn.BatchNorm2d(2)

    def forward(self, x):
        return self.bn2(self.conv(self.bn(torch.nn.functional.conv2d(x, self.weight))))


def test_the_layers_and_constants_freezing_folded_are_named_the_root_by_name_and_up_to_six_and_two():
    """The folded constants' names, before '_fused_', are the layer's path then the attribute's: the root's
    own weight's is weight_fused_bn (no path: the layer is named '(root)'); the functional conv2d had no bias,
    so folding made one, named after the graph's None value (%5_fused_bn), which names no layer; then conv's
    conv.weight_fused_bn and conv.bias_fused_bn — four, so two are named then '…'. The frozen graph's
    parameters: 2·3 + 2 for the root's folded convolution, 2·2 + 2 for conv's: 14 (the eager model's are
    6 + 4 + 6 + 4 = 20). Six Conv2d(2, 2, 1, bias=False), each before a BatchNorm2d(2), are folded into
    layers 0, 2, … 10: all six named, no '…' after them."""
    frozen = torch.jit.freeze(torch.jit.script(_ConvBatchNormRoot().eval()))
    report = torchcount.profile(frozen, torch.randn(1, 3, 4, 4), warn=False)
    (note,) = [n for n in report.notes if n.startswith("frozen TorchScript")]
    assert report.total.params == 2 * 3 + 2 + 2 * 2 + 2
    assert "its 4 weight constant(s) (14 elements)" in note
    assert "; freezing folded other layers into (root), conv (weight_fused_bn, %5_fused_bn …; a BatchNorm " \
           "folded into" in note
    layers = []
    for _ in range(6):
        layers += [nn.Conv2d(2, 2, 1, bias=False), nn.BatchNorm2d(2)]
    frozen = torch.jit.freeze(torch.jit.script(nn.Sequential(*layers).eval()))
    (note,) = [n for n in torchcount.profile(frozen, torch.randn(1, 2, 4, 4), warn=False).notes
               if n.startswith("frozen TorchScript")]
    assert "; freezing folded other layers into 0, 2, 4, 6, 8, 10 (0.weight_fused_bn, " in note



def test_a_bias_folding_made_for_a_functional_convolution_without_one_is_counted_as_the_modules_is():
    """A root running F.conv2d(x, self.weight) with no bias, then a BatchNorm2d(2): freezing folds the
    BatchNorm into the convolution and gives it a bias, a constant named after the graph's None value
    (%5_fused_bn, not self.…). The frozen graph's parameters are the 2×3×1×1 weight and the 2 biases: 8,
    as for nn.Sequential(Conv2d(3, 2, 1, bias=False), BatchNorm2d(2)) frozen, whose made bias is named
    self.0.bias_fused_bn. Before, the unnamed one was taken for a constant freezing computed, and the
    root's count read 6."""

    class Root(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(2, 3, 1, 1))
            self.bn = nn.BatchNorm2d(2)

        def forward(self, x):
            return self.bn(torch.nn.functional.conv2d(x, self.weight))

    x = torch.randn(1, 3, 4, 4)
    sequential = nn.Sequential(nn.Conv2d(3, 2, 1, bias=False), nn.BatchNorm2d(2))
    for model in (Root(), sequential):
        report = torchcount.profile(torch.jit.freeze(torch.jit.script(model.eval())), x, warn=False)
        assert report.total.params == 2 * 3 + 2
        assert report.total.buffers == 0  # (the running statistics were folded in: none are left)
        (note,) = [n for n in report.notes if n.startswith("frozen TorchScript")]
        assert "its 2 weight constant(s) (8 elements)" in note


def test_a_folding_of_a_weight_the_forward_computes_names_no_layer():
    """F.conv2d(x, self.weight * 2) then a BatchNorm2d(2): freezing computes the doubled weight, folds the
    BatchNorm into it and makes a bias, and both constants are named after graph values (%55_fused_bn,
    %5_fused_bn), so no layer can be named: the note says 'freezing folded other layers (' with no 'into'
    and no empty list. The parameters are the frozen graph's 2·3 + 2 = 8."""

    class Doubled(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(2, 3, 1, 1))
            self.bn = nn.BatchNorm2d(2)

        def forward(self, x):
            return self.bn(torch.nn.functional.conv2d(x, self.weight * 2))

    report = torchcount.profile(torch.jit.freeze(torch.jit.script(Doubled().eval())), torch.randn(1, 3, 4, 4),
                                warn=False)
    assert report.total.params == 2 * 3 + 2
    (note,) = [n for n in report.notes if n.startswith("frozen TorchScript")]
    assert "; freezing folded other layers (%" in note and "_fused_bn, %" in note
    assert "into  (" not in note and "none of them is named" not in note

class _Tally(nn.Module):
    """Doubles its input and counts its calls in a one-element buffer, which its forward adds 1 to."""

    def __init__(self):
        super().__init__()
        self.register_buffer("calls", torch.zeros(()))

    def forward(self, x):
        self.calls.add_(1)
        return x * 2


def test_the_buffers_freezing_kept_are_named_four_at_most_then_an_ellipsis():
    """Freezing keeps a buffer the forward updates in place as an attribute of its submodule: four _Tally
    layers keep four (0.calls … 3.calls, one element each), all named with no '…'; five keep five, of which
    the first four are named, then '…'."""
    notes = {}
    for n in (4, 5):
        frozen = torch.jit.freeze(torch.jit.script(nn.Sequential(*(_Tally() for _ in range(n))).eval()))
        report = torchcount.profile(frozen, torch.randn(2, 3), warn=False)
        assert report.total.buffers == n
        (notes[n],) = [note for note in report.notes if note.startswith("frozen TorchScript")]
    assert "the 4 buffer(s) of submodules freezing kept (0.calls, 1.calls, 2.calls, 3.calls; 4 elements)" in notes[4]
    assert "the 5 buffer(s) of submodules freezing kept (0.calls, 1.calls, 2.calls, 3.calls …; 5 elements)" in notes[5]


# ---- torch.compile'd submodules ---------------------------------------------------------------------


def _compiled_chain(n: int) -> nn.Sequential:
    """n torch.compile'd Linear(2, 2)s in a Sequential (never run compiled here: profile runs them eagerly)."""
    return nn.Sequential(*(torch.compile(nn.Linear(2, 2)) for _ in range(n)))


_COMPILED_NOTE = (": each profiled as its original module, eagerly, under the path shown (its state_dict keys keep "
                  "'_orig_mod.'); compiled kernels may fuse ops and run faster, the counts are the same")


def test_six_compiled_submodules_are_all_named_and_a_seventh_after_an_ellipsis():
    """The note names the compiled submodules by their paths, six at most then '…': six Linear(2, 2)s are
    0 … 5 with no ellipsis, seven the same six then '…'; each counted eagerly, 2·2 = 4 MACs on a 1×2 input."""
    six = torchcount.profile(_compiled_chain(6), torch.randn(1, 2), warn=False)
    seven = torchcount.profile(_compiled_chain(7), torch.randn(1, 2), warn=False)
    assert (six.total.macs, seven.total.macs) == (6 * 4, 7 * 4)
    assert [n for n in six.notes if n.startswith("torch.compile'd")] == [
        "torch.compile'd submodule(s) 0, 1, 2, 3, 4, 5" + _COMPILED_NOTE]
    assert [n for n in seven.notes if n.startswith("torch.compile'd")] == [
        "torch.compile'd submodule(s) 0, 1, 2, 3, 4, 5 …" + _COMPILED_NOTE]


def test_hooks_on_a_compiled_wrapper_do_not_run_and_the_note_names_its_path():
    """A forward hook on the compiled wrapper of submodule 1 and a forward pre-hook on that of 2 (the
    wrapper is set aside while its module runs eagerly): neither runs, and the note names both, 1 and 2 —
    not 0, which has none; the three Linear(2, 2)s still count 3·4 = 12 MACs."""
    model, ran = _compiled_chain(3), []
    model[1].register_forward_hook(lambda module, args, out: ran.append("hook"))
    model[2].register_forward_pre_hook(lambda module, args: ran.append("pre-hook"))
    report = torchcount.profile(model, torch.randn(1, 2), warn=False)
    assert report.total.macs == 12 and ran == []
    assert [n for n in report.notes if n.startswith("torch.compile'd")] == [
        "torch.compile'd submodule(s) 0, 1, 2" + _COMPILED_NOTE + "; hooks registered on the compiled wrapper of 1, "
        "2 itself did not run"]


# ---- wrappers ---------------------------------------------------------------------------------------


def test_a_users_module_class_named_optimized_module_without_a_compiled_module_is_profiled_as_itself():
    """Only torch.compile's wrapper is unwrapped: an OptimizedModule holding a module in _orig_mod. A user's
    class of that name with no module there (_orig_mod a string here) is the model itself: its Linear(4, 3)
    counted, 2·4·3 = 24 MACs, under its own name, with no note of a compiled model."""

    class OptimizedModule(nn.Module):
        _orig_mod = "not a module"

        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 3)

        def forward(self, x):
            return self.lin(x)

    report = torchcount.profile(OptimizedModule(), torch.randn(2, 4), warn=False)
    assert (report.model_name, report.total.macs) == ("OptimizedModule", 24)
    assert not any("torch.compile" in note for note in report.notes)


@pytest.mark.skipif(torch.cuda.is_available(), reason="with a GPU, DataParallel moves its module there")
def test_a_data_parallel_wrapper_without_a_gpu_is_noted_in_these_words_with_no_device():
    """Without a GPU, DataParallel(Linear(4, 3)) has no device to scatter to: its Linear is profiled on the
    batch as given (2·4·3 = 24 MACs) and the note says so, naming no device."""
    report = torchcount.profile(nn.DataParallel(nn.Linear(4, 3)), torch.randn(2, 4), warn=False)
    assert report.total.macs == 24
    assert [n for n in report.notes if "wrapper" in n] == [
        "DataParallel wrapper: profiled the wrapped module (Linear) for the whole batch on one device"]


# ---- record_ops=False -------------------------------------------------------------------------------


def test_a_roots_pre_hook_alone_unrecorded_is_one_uncounted_call_of_its_hooks():
    """With op recording off the root's hooks are unknown work, a forward pre-hook alone as well as a forward
    hook: a Linear(4, 3) root whose only hook is a pre-hook doubling its 2×4 input gets one uncounted entry
    for its hooks (one forward), beside its rule's 2·4·3 = 24 MACs."""
    from torchcount.profile import UNRECORDED_HOOKS

    lin = nn.Linear(4, 3)
    lin.register_forward_pre_hook(lambda module, args: (args[0] * 2,))
    report = torchcount.profile(lin, torch.randn(2, 4), record_ops=False, warn=False)
    assert [(u.path, u.what, u.calls) for u in report.uncounted] == [("", UNRECORDED_HOOKS, 1)]
    assert report.root.uncounted_ops == {UNRECORDED_HOOKS: 1} and report.total.macs == 24


class _Instead(nn.Module):
    """A Linear(4, 2) its own __call__ runs, minus 1, never through nn.Module's call (nor its forward)."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 2)

    def forward(self, x):
        return self.lin(x)

    def __call__(self, x):
        return self.lin(x) - 1


def test_a_hooked_root_whose_call_never_runs_them_unrecorded_lists_its_call_not_its_hooks():
    """A root whose own __call__ never goes through nn.Module's (no row of its own) runs none of its hooks:
    with op recording off its __call__'s work is the one uncounted entry, under its path and type, beside
    the Linear's 5·4·2 = 40 MACs; its forward hook, which never ran, is not listed (nor does a root row
    missing fail it)."""
    from torchcount.profile import UNRECORDED_CALL

    model, ran = _Instead(), []
    model.register_forward_hook(lambda module, args, out: ran.append(1))
    report = torchcount.profile(model, torch.randn(5, 4), record_ops=False, warn=False)
    assert report.root is None and report.total.macs == 40 and ran == []
    assert [(u.path, u.type, u.what, u.calls) for u in report.uncounted] == [("", "_Instead", UNRECORDED_CALL, 1)]


class _Skips(nn.Module):
    """Two Linear(4, 3)s, used and unused: the forward calls used only."""

    def __init__(self):
        super().__init__()
        self.used, self.unused = nn.Linear(4, 3), nn.Linear(4, 3)

    def forward(self, x):
        return self.used(x)


def test_a_submodule_never_called_is_not_listed_as_unrecorded_work_though_it_has_hooks():
    """With op recording off, a module's own hooks are unknown work for each of its calls: the unused
    Linear's forward hook never ran (its row: 0 calls), so only the rule-less root's own ops are listed,
    once; the used Linear's rule counts 2·4·3 = 24 MACs."""
    from torchcount.profile import UNRECORDED

    model = _Skips()
    model.unused.register_forward_hook(lambda module, args, out: out * 2)
    report = torchcount.profile(model, torch.randn(2, 4), record_ops=False, warn=False)
    assert report.row("unused").calls == 0 and report.total.macs == 24
    assert [(u.path, u.what, u.calls) for u in report.uncounted] == [("", UNRECORDED, 1)]


class _WithBody(nn.Module):
    """A Sequential body holding a Linear(4, 3); twice(x) is the body's output times 2."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 3))

    def forward(self, x):
        return self.body(x)

    def twice(self, x):
        return self.body(x) * 2


def test_a_profiled_methods_own_code_is_unrecorded_work_of_the_root_only_not_of_a_sequential_inside():
    """With op recording off and method='twice', the root's method ran code of its own (the × 2): listed
    once as the root's. The Sequential body it calls only chains its Linear (priced by its rule, 2·4·3 = 24
    MACs), so it is not listed: a method being profiled does not make every Sequential's forward unknown."""
    from torchcount.profile import UNRECORDED

    report = torchcount.profile(_WithBody(), torch.randn(2, 4), method="twice", record_ops=False, warn=False)
    assert report.total.macs == 24 and report.row("body").status == "container"
    assert [(u.path, u.what, u.calls) for u in report.uncounted] == [("", UNRECORDED, 1)]


class _AllUnknown(nn.Module):
    """A Linear(4, 3), its output × 2 in the forward, + 1 in a __call__ of its own."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 3)

    def forward(self, x):
        return self.lin(x) * 2

    def __call__(self, x):
        return super().__call__(x) + 1


def test_each_kind_of_unrecorded_work_is_listed_in_these_words_and_marks_the_root_partial():
    """With op recording off, what no rule prices is listed, in the words a reader sees: the root's forward
    hook (− 1), its own __call__ (+ 1), its forward's own ops (× 2; the root was partial already, by its
    hooks, and is listed all the same) and the Linear's forward hook (× 3), once each for the one call; the
    Linear's rule counts 2·4·3 = 24 MACs. The rule-less root is partial."""
    model = _AllUnknown()
    model.register_forward_hook(lambda module, args, out: out - 1)
    model.lin.register_forward_hook(lambda module, args, out: out * 3)
    report = torchcount.profile(model, torch.randn(2, 4), record_ops=False, warn=False)
    assert [(u.path, u.type, u.what, u.calls) for u in report.uncounted] == [
        ("", "_AllUnknown", "the root's hooks (not recorded: record_ops=False)", 1),
        ("", "_AllUnknown", "the root's own __call__ (not recorded: record_ops=False)", 1),
        ("", "_AllUnknown", "own ops (not recorded: record_ops=False)", 1),
        ("lin", "Linear", "its forward hooks (not recorded: record_ops=False)", 1)]
    assert report.total.macs == 24 and report.root.status == "partial"


class _Halves(nn.Module):
    """No parameters and no children: x / 2."""

    def forward(self, x):
        return x / 2


def test_a_leaf_without_a_rule_unrecorded_is_partial_not_a_complete_count_of_ops():
    """With op recording off, a rule-less leaf root (x / 2 on 2×4) has its own ops unknown: listed once and
    its row marked partial — not 'ops', which would read as a count of ops it ran."""
    from torchcount.profile import UNRECORDED

    report = torchcount.profile(_Halves(), torch.randn(2, 4), record_ops=False, warn=False)
    assert [(u.path, u.what, u.calls) for u in report.uncounted] == [("", UNRECORDED, 1)]
    assert report.root.status == "partial" and not report.complete
