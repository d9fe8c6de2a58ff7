"""Guarantee 1: after profile — on success, when the forward raises, on KeyboardInterrupt —
the model is as it was found: no hooks added, the same training flags, the same
requires_grad flags, bit-identical parameters and buffers, the caller's grad mode, and
the caller's input tensors untouched."""
import copy
import copyreg
import io
import warnings

from contextlib import contextmanager

import pytest
import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

import torchcount
from torchcount import ForwardError, ParameterModifiedError

from conftest import needs


def _bits(t: torch.Tensor) -> bytes:
    """The exact bytes of a tensor (NaN-safe, -0.0 ≠ 0.0)."""
    return t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def snapshot(model: nn.Module) -> dict:
    return {
        "hooks": {name: (dict(m._forward_hooks), dict(m._forward_pre_hooks),
                         dict(m._forward_hooks_with_kwargs), dict(m._forward_hooks_always_called),
                         dict(m._backward_hooks), m.__dict__.get("forward"))
                  for name, m in model.named_modules()},
        "attributes": {name: sorted(m.__dict__) for name, m in model.named_modules()},
        "training": {name: m.training for name, m in model.named_modules()},
        "requires_grad": {name: p.requires_grad for name, p in model.named_parameters()},
        "params": {name: (p.dtype, tuple(p.shape), _bits(p)) for name, p in model.named_parameters()},
        "buffers": {name: (b.dtype, tuple(b.shape), _bits(b)) for name, b in model.named_buffers()},
        "buffer_ids": {name: id(b) for name, b in model.named_buffers()},
    }


class Stateful(nn.Module):
    """Everything a forward can disturb: BatchNorm running stats in train mode, a
    spectral-norm power iteration (buffers _u/_v), a submodule in eval mode, a frozen
    parameter, a user's own hook; and a forward that flips flags and grad mode itself."""

    def __init__(self, fail: BaseException | None = None):
        super().__init__()
        self.fail = fail
        self.relu = nn.ReLU(inplace=True)  # first layer writes in place: the input must survive
        self.bn = nn.BatchNorm1d(4)
        self.sn = spectral_norm(nn.Linear(4, 4))
        self.frozen = nn.Linear(4, 4)
        self.frozen.requires_grad_(False)
        self.evaluated = nn.BatchNorm1d(4).eval()
        self.drop = nn.Dropout(0.5)
        self.user_calls = 0
        self.bn.register_forward_hook(self._user_hook)

    def _user_hook(self, module, args, output):
        self.user_calls += 1

    def forward(self, x):
        x = self.relu(x)
        x = self.bn(x)
        x = self.sn(x)
        self.evaluated.train()  # a forward that changes flags itself
        self.sn.parametrizations.weight.original.requires_grad_(False)
        torch.set_grad_enabled(not torch.is_grad_enabled())
        x = self.evaluated(self.frozen(x))
        if self.fail is not None:
            raise self.fail
        return self.drop(x)


def _input():
    torch.manual_seed(0)
    return torch.randn(8, 4)


def _run(model, x, expect):
    if expect is None:
        return torchcount.profile(model, x, warn=False)
    with pytest.raises(expect):
        torchcount.profile(model, x, warn=False)


CASES = [
    pytest.param(None, None, id="success"),
    pytest.param(ValueError("boom"), ForwardError, id="forward-raises"),
    pytest.param(KeyboardInterrupt(), KeyboardInterrupt, id="keyboard-interrupt"),
]


@pytest.mark.parametrize("fail, expect", CASES)
@pytest.mark.parametrize("grad", [True, False])
def test_model_left_as_found(fail, expect, grad):
    model = Stateful(fail)
    model.train()
    model.evaluated.eval()
    with torch.no_grad():  # non-trivial running stats, so a reset would show too
        model.bn(torch.randn(16, 4) * 3 + 1)
    assert int(model.bn.num_batches_tracked) == 1
    model.user_calls = 0
    before = snapshot(model)
    x = _input()
    x_before = _bits(x)
    torch.set_grad_enabled(grad)
    try:
        _run(model, x, expect)
        assert torch.is_grad_enabled() is grad
    finally:
        torch.set_grad_enabled(True)
    after = snapshot(model)
    for key in before:
        assert after[key] == before[key], key
    assert int(model.bn.num_batches_tracked) == 1
    assert _bits(x) == x_before  # ReLU(inplace=True) ran on a copy
    assert model.user_calls == 1  # the user's hook ran and is still there


def test_the_forward_really_disturbs_the_state():
    """The test above is only meaningful if the same forward, run bare, changes everything."""
    model = Stateful()
    before = snapshot(model)
    x = _input()
    x_before = _bits(x)
    model(x)
    after = snapshot(model)
    torch.set_grad_enabled(True)
    assert after["buffers"]["bn.running_mean"] != before["buffers"]["bn.running_mean"]
    assert after["buffers"]["bn.num_batches_tracked"] != before["buffers"]["bn.num_batches_tracked"]
    assert after["buffers"]["sn.parametrizations.weight.0._u"] != before["buffers"]["sn.parametrizations.weight.0._u"]
    assert after["training"]["evaluated"] is True and before["training"]["evaluated"] is False
    assert after["requires_grad"] != before["requires_grad"]
    assert _bits(x) != x_before


def test_hooks_removed_on_every_submodule_of_a_deep_model():
    model = nn.Sequential(*[nn.Sequential(nn.Linear(3, 3), nn.ReLU()) for _ in range(4)])
    before = snapshot(model)
    torchcount.profile(model, torch.randn(2, 3))
    assert snapshot(model)["hooks"] == before["hooks"]
    assert all(len(h[0]) == 0 and len(h[1]) == 0 for h in before["hooks"].values())


class Clamp(nn.Module):
    """A forward that writes its own weight in place (a weight clamp)."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 3)

    def forward(self, x):
        with torch.no_grad():
            self.lin.weight.clamp_(-0.1, 0.1)
        return self.lin(x)


class _WritesWeights(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(2, 2, bias=False) for _ in range(n))

    def forward(self, x):
        with torch.no_grad():
            for layer in self.layers:
                layer.weight.mul_(1.0)
        return x


@pytest.mark.parametrize("n", [5, 6])
def test_the_in_place_error_names_five_parameters_then_an_ellipsis(n):
    """A forward writing n weights in place: the error names layers.0.weight … layers.4.weight, and
    " …" only where a sixth is left out (with 6 and no ellipsis it read as if five were written)."""
    five = ", ".join(f"layers.{i}.weight" for i in range(5))
    with pytest.raises(ParameterModifiedError) as failure:
        torchcount.profile(_WritesWeights(n), torch.randn(1, 2))
    text = str(failure.value)
    assert f"modified parameter(s) {five}{' …' if n > 5 else ''} in place" in text
    assert "layers.5.weight" not in text


def test_in_place_parameter_write_is_an_error_by_default():
    model = Clamp()
    with torch.no_grad():
        model.lin.weight.fill_(0.5)
    with pytest.raises(ParameterModifiedError, match="lin.weight"):
        torchcount.profile(model, torch.randn(2, 3))
    # the documented limit: without a copy the write stays
    assert torch.all(model.lin.weight == 0.1)


def test_copy_params_restores_in_place_parameter_writes():
    model = Clamp()
    with torch.no_grad():
        model.lin.weight.fill_(0.5)
    before = snapshot(model)
    report = torchcount.profile(model, torch.randn(2, 3), copy_params=True)
    assert snapshot(model)["params"] == before["params"]
    assert any("restored" in n and "lin.weight" in n for n in report.notes)
    assert report.total.macs == 2 * 3 * 3  # rows·n·k


def test_lazy_module_is_materialised_with_a_note():
    model = nn.Sequential(nn.LazyLinear(5))
    report = torchcount.profile(model, torch.randn(2, 7))
    assert tuple(model[0].weight.shape) == (5, 7)
    assert report.total.params == 7 * 5 + 5
    assert report.total.macs == 2 * 7 * 5
    assert any("lazy" in n and "0.weight" in n for n in report.notes)


def test_rebound_buffer_is_put_back():
    class Rebind(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("count", torch.zeros(()))

        def forward(self, x):
            self.count = self.count + 1  # a new tensor bound to the buffer name
            return x * 2

    model = Rebind()
    original = model.count
    torchcount.profile(model, torch.randn(3))
    assert model.count is original and float(original) == 0.0


def test_parameter_and_buffer_slots_changed_by_the_forward_are_put_back():
    class Slots(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 3)
            self.register_buffer("cache", None)
            self.register_buffer("gone", torch.ones(3))

        def forward(self, x):
            self.lin.weight = nn.Parameter(self.lin.weight.detach() * 2)  # rebinds a parameter
            self.cache = x.detach()  # fills a None buffer slot
            del self.gone  # deletes a buffer ...
            self.gone = torch.zeros(3)  # ... and sets a plain attribute of that name
            self.lin.register_buffer("steps", torch.zeros(()))  # registers a new buffer
            return self.lin(x)

    model = Slots()
    weight, gone, before = model.lin.weight, model.gone, snapshot(model)
    order = (list(model._buffers), list(model.lin._parameters))
    report = torchcount.profile(model, torch.randn(2, 3))
    assert model.lin.weight is weight and model.cache is None and model.gone is gone
    assert "gone" not in model.__dict__ and "steps" not in model.lin._buffers
    assert (list(model._buffers), list(model.lin._parameters)) == order
    assert snapshot(model) == before
    assert list(model.state_dict()) == ["gone", "lin.weight", "lin.bias"]
    note = next(n for n in report.notes if "slot" in n)
    assert all(name in note for name in ("lin.weight", "cache", "gone", "lin.steps"))
    assert report.total.macs == 2 * 3 * 3


def test_copy_params_restores_a_write_through_data():
    class DataWrite(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 3)

        def forward(self, x):
            self.lin.weight.data.mul_(2)  # leaves the version counter alone
            return self.lin(x)

    model = DataWrite()
    before = snapshot(model)
    report = torchcount.profile(model, torch.randn(2, 3), copy_params=True)
    assert snapshot(model) == before
    assert any("restored" in n and "lin.weight" in n for n in report.notes)


def test_measure_passes_keep_copy_params():
    model = Clamp()
    with torch.no_grad():
        model.lin.weight.fill_(0.5)
    before = snapshot(model)
    torchcount.profile(model, torch.randn(2, 3), copy_params=True, measure=True, warmup=1, repeat=2)
    assert snapshot(model)["params"] == before["params"]


def test_meta_device_model_is_fine():
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(16, 8), nn.BatchNorm1d(8))
    model.train()
    report = torchcount.profile(model, torch.empty(4, 16, device="meta"))
    assert report.total.macs == 4 * 16 * 8
    assert all(len(m._forward_hooks) == 0 for m in model.modules())


@pytest.mark.skipif(not hasattr(BaseException, "add_note"), reason="exception notes need Python 3.11")
def test_in_place_parameter_write_then_failure_is_noted_on_the_error():
    class ClampThenFail(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 3)

        def forward(self, x):
            with torch.no_grad():
                self.lin.weight.mul_(2)
            raise RuntimeError("late failure")

    with pytest.raises(ForwardError) as info:
        torchcount.profile(ClampThenFail(), torch.randn(2, 3))
    assert any("lin.weight" in note for note in getattr(info.value, "__notes__", []))


def test_recording_wrappers_are_removed_and_a_patched_forward_is_kept():
    """Calls are recorded by a wrapper of each module's forward, set in the module's own
    __dict__: afterwards no module has one, and a forward the user had patched onto an
    instance is the same object again (and was the one that ran)."""
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    patched_calls = []

    def patched(x, _orig=model[1].forward):
        patched_calls.append(tuple(x.shape))
        return _orig(x)
    model[1].forward = patched
    before = snapshot(model)
    report = torchcount.profile(model, torch.randn(5, 3))
    assert snapshot(model) == before
    assert model[1].__dict__["forward"] is patched and "forward" not in model[0].__dict__
    assert patched_calls == [(5, 4)]
    assert report.row("1").calls == 1


def test_user_hooks_still_run_and_a_pre_hook_changes_what_is_recorded():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    seen = []
    model[1].register_forward_pre_hook(lambda m, args: (args[0][:2],))  # keeps 2 of 5 rows
    model[1].register_forward_hook(lambda m, args, out: seen.append(tuple(out.shape)))
    report = torchcount.profile(model, torch.randn(5, 3))
    assert seen == [(2, 2)]
    assert report.row("1").input_shapes == [(2, 4)]
    assert report.row("1").macs == 2 * 4 * 2  # the rows the layer really received


def test_buffers_of_every_dtype_are_restored_also_when_written_through_data():
    """`.data` writes do not bump the version counter, so buffers are restored without
    asking whether they changed; buffers of several dtypes are kept in one copy each."""
    class Writes(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("h16", torch.tensor([1.5, -0.0, float("nan")], dtype=torch.float16))
            self.register_buffer("mask", torch.tensor([True, False]))
            self.register_buffer("count", torch.tensor(7))
            self.register_buffer("strided", torch.arange(12.0).reshape(3, 4).t())  # not contiguous
            self.lin = nn.Linear(2, 2)

        def forward(self, x):
            self.h16.data.mul_(2)
            self.mask.data.logical_not_()
            self.count.data.add_(1)
            self.strided.data.zero_()
            return self.lin(x)

    model = Writes()
    before = snapshot(model)
    torchcount.profile(model, torch.randn(3, 2))
    assert snapshot(model) == before
    assert not model.strided.is_contiguous() and model.strided[1, 0].item() == 1.0


def test_a_change_of_sign_bit_only_is_restored():
    """Buffers are copied back when any bit differs: 0.0 → −0.0 compares equal as floats."""
    class FlipsZero(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("zero", torch.zeros(3))
            self.register_buffer("other", torch.ones(2))  # same dtype: one flat group
            self.lin = nn.Linear(3, 3)

        def forward(self, x):
            self.zero.data.neg_()
            return self.lin(x)

    model = FlipsZero()
    torchcount.profile(model, torch.randn(2, 3))
    assert _bits(model.zero) == _bits(torch.zeros(3))


def test_profile_leaves_no_garbage_cycles():
    """Calls point to their parents by index, and nothing else forms a cycle either:
    what a profile allocates is freed by reference counting, not left for the collector."""
    import gc

    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.Sequential(nn.Conv2d(4, 4, 1), nn.ReLU()), nn.Flatten(), nn.LazyLinear(2))
    x = torch.randn(1, 3, 8, 8)
    torchcount.profile(model, x)  # materialises the lazy layer, fills caches
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    # every object that exists now, held: only what the profile makes can be collected below (not
    # what other tests' tools left, which torch 2.5's FlopCounterMode does until something frees it)
    existing = gc.get_objects()
    try:
        report = torchcount.profile(model, x)
        assert report.total.params == 3 * 4 * 9 + 4 + 8 + 16 + 4 + 4 * 36 * 2 + 2
        del report
        assert gc.collect() == 0
    finally:
        del existing
        if was_enabled:
            gc.enable()


@needs("torch.export naming each node's module by its path")
def test_a_graph_modules_profile_leaves_only_torchs_own_garbage_cycles():
    """Profiling ``ep.module()`` (its layers timed and measured) leaves cycles that torch's own code
    makes, and only those: each call of the exported module leaves pytree's recursive closures, and
    ``Graph.python_code``, run once for the graph's copy, leaves its code generator's closures, which
    hold the namespace naming every node of that copy (so the copy's nodes and graph wait for the
    collector too). No function of torchcount, nor any object of its classes, is in a cycle."""
    import gc
    import os
    import warnings

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.head = nn.Conv2d(3, 4, 3), nn.Linear(4 * 6 * 6, 2)

        def forward(self, x):
            return self.head(self.conv(x).relu().flatten(1))

    x = torch.randn(1, 3, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = torch.export.export(Net().eval(), (x,)).module()
    torchcount.profile(gm, x, measure=True, warmup=0, repeat=1)
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    existing = gc.get_objects()
    torch_dir = os.path.dirname(torch.__file__)
    try:
        report = torchcount.profile(gm, x, measure=True, warmup=1, repeat=2)
        assert report.row("conv").extra["time_ms"] > 0
        del report
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        garbage = list(gc.garbage)
        gc.garbage.clear()
        functions = [o for o in garbage if type(o).__name__ == "function"]
        assert all(f.__code__.co_filename.startswith(torch_dir) for f in functions), \
            [f.__qualname__ for f in functions if not f.__code__.co_filename.startswith(torch_dir)]
        assert not [o for o in garbage if type(o).__module__.startswith("torchcount")]
        del garbage, functions
    finally:
        gc.set_debug(0)
        del existing
        if was_enabled:
            gc.enable()


@pytest.mark.parametrize("fail", [False, True])
def test_buffers_resized_in_place_are_put_back(fail):
    """A forward that resizes a buffer in place (a growing cache): shape and values come back,
    for buffers kept in one flat copy (same dtype) and for one copied alone (its own dtype)."""
    class Grows(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("cache", torch.arange(4.0))
            self.register_buffer("grid", torch.arange(4.0).reshape(2, 2))
            self.register_buffer("steps", torch.tensor([3, 1], dtype=torch.int64))
            self.register_buffer("scale", torch.ones(3))  # with cache: one flat copy of 1-D floats
            self.register_buffer("plane", torch.ones(3, 1))  # with grid: one of 2-D floats
            self.steps_alone = nn.Module()
            self.steps_alone.register_buffer("flag", torch.tensor(True))  # its dtype alone: a clone
            self.lin = nn.Linear(4, 4)

        def forward(self, x):
            self.steps_alone.flag.resize_(2, 2)
            self.cache.resize_(6).fill_(7.0)
            self.grid.resize_(3, 3).zero_()
            self.steps.resize_(1)
            if fail:
                raise ValueError("after the resize")
            return self.lin(x)

    model = Grows()
    # (not snapshot(): its .numpy() view makes a buffer's storage non-resizable)
    before = {name: b.clone() for name, b in model.named_buffers()}
    if fail:
        with pytest.raises(ForwardError):
            torchcount.profile(model, torch.randn(2, 4))
    else:
        assert torchcount.profile(model, torch.randn(2, 4)).total.macs == 2 * 4 * 4
    after = dict(model.named_buffers())
    assert after.keys() == before.keys()
    for name, b in before.items():
        assert after[name].shape == b.shape and torch.equal(after[name], b), name
    assert model.cache.tolist() == [0.0, 1.0, 2.0, 3.0] and model.grid.shape == (2, 2)
    assert model.steps.tolist() == [3, 1] and model.steps_alone.flag.shape == ()


def test_a_model_made_under_inference_mode_is_profiled_and_left_as_found():
    """Inference tensors have no version counter (reading one raised), and are writable only
    inside inference mode (restoring one raised)."""
    with torch.inference_mode():
        model = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16)).train()
    before = {name: b.clone() for name, b in model.state_dict().items()}
    # outside inference mode: counted (the forward cannot update the statistics there: clear error)
    # (under no_grad: autograd cannot save inference tensors, in a plain forward either)
    with torch.no_grad():
        eval_report = torchcount.profile(model.eval(), torch.randn(4, 8))
        assert eval_report.total.macs == 4 * 8 * 16
        model.train()
        with pytest.raises(ForwardError, match="'1' \\(BatchNorm1d\\).*[Ii]nference"):
            torchcount.profile(model, torch.randn(4, 8))
    # inside inference mode a train-mode forward updates the running statistics: put back
    with torch.inference_mode():
        assert torchcount.profile(model, torch.randn(4, 8)).total.macs == 4 * 8 * 16
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name]), name
    assert model[1].num_batches_tracked.item() == 0 and model.training


def test_embedding_with_max_norm_is_profiled_and_its_weight_put_back():
    # nn.Embedding(max_norm=…) renormalises the rows it looks up, in place, in every forward
    # (documented by F.embedding): its weight is copied by default and restored bit for bit,
    # where any other in-place parameter write raises ParameterModifiedError
    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(10, 4, max_norm=0.5), nn.EmbeddingBag(10, 4, max_norm=0.5))
    before = [p.detach().clone() for p in model.parameters()]
    versions = [p._version for p in model.parameters()]
    report = torchcount.profile(model[0], torch.tensor([[1, 2, 3]]), warn=False)
    torchcount.profile(model[1], torch.tensor([[1, 2, 3]]), warn=False)
    assert all(torch.equal(a, p) for a, p in zip(before, model.parameters()))
    assert [p._version for p in model.parameters()] != versions  # it was written, then put back
    assert any("restored from the copy: weight" in n for n in report.notes)
    # without max_norm no copy is taken: nothing is written
    plain = nn.Embedding(10, 4)
    version = plain.weight._version
    torchcount.profile(plain, torch.tensor([[1, 2, 3]]), warn=False)
    assert plain.weight._version == version


# ---- a profiled method's side effects beyond the forward (method="train_step") ----

class _Step(nn.Module):
    """A classifier with its optimizer, trained one step at a time."""

    def __init__(self, make_optimizer=None):
        super().__init__()
        self.fc, self.bn = nn.Linear(4, 3), nn.BatchNorm1d(3)
        self.opt = (make_optimizer or (lambda p: torch.optim.Adam(p, lr=0.1)))(self.parameters())

    def forward(self, x):
        return self.bn(self.fc(x))

    def train_step(self, x, y):
        self.opt.zero_grad()
        loss = nn.functional.cross_entropy(self(x), y)
        loss.backward()
        self.opt.step()
        return loss


_BATCH = (torch.randn(4, 4), torch.tensor([0, 1, 2, 0]))


def _optimizer_state(opt: torch.optim.Optimizer) -> dict:
    return {(i, k): (id(v), _bits(v)) if isinstance(v, torch.Tensor) else v
            for i, p in enumerate(opt.param_groups[0]["params"]) for k, v in opt.state.get(p, {}).items()} | \
        {("group", k): v for k, v in opt.param_groups[0].items() if k != "params"}


class _DecayingStep(_Step):
    """Halves the learning rate after each step (what a scheduler inside the step does to the groups)."""

    def train_step(self, x, y):
        loss = super().train_step(x, y)
        for group in self.opt.param_groups:
            group["lr"] *= 0.5
        return loss


class _UnhookedSGD(torch.optim.SGD):
    """An optimizer whose step runs no step hooks: what torch 2.2 makes of every optimizer class once
    dynamo has compiled anything (it strips the wrapper that runs them)."""


_UnhookedSGD.step = torch.no_grad()(torch.optim.SGD.step.__wrapped__)


_FUSED = needs("fused optimizers on CPU")


@pytest.mark.parametrize("optimizer", ["adam", "sgd_momentum", "adamw_decaying", "sgd_unhooked",
                                       *[pytest.param(name, marks=_FUSED) for name in
                                         ("adam_fused_amsgrad", "sgd_fused_nesterov", "adagrad_fused")]])
@pytest.mark.parametrize("measured", [False, True])
def test_an_optimizer_step_inside_the_method_is_undone(optimizer, measured):
    """opt.step() in a training step writes every parameter in place and grows the optimizer's state
    (Adam's moments and step count, a momentum buffer; the learning rate): all of it is put back,
    without copy_params, so the next real step runs as if the profile had not (counted and measured)."""
    make = {"adam": lambda p: torch.optim.Adam(p, lr=0.1),
            "sgd_momentum": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
            "adamw_decaying": lambda p: torch.optim.AdamW(p, lr=0.1),
            "sgd_unhooked": lambda p: _UnhookedSGD(p, lr=0.1, momentum=0.9),
            # the fused kernels (fused=True) update the parameters and the state in place too
            "adam_fused_amsgrad": lambda p: torch.optim.Adam(p, lr=0.1, fused=True, amsgrad=True),
            "sgd_fused_nesterov": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, fused=True),
            "adagrad_fused": lambda p: torch.optim.Adagrad(p, lr=0.1, fused=True)}[optimizer]
    model = (_DecayingStep if optimizer == "adamw_decaying" else _Step)(make)
    model.train_step(*_BATCH)  # a real step first: state that the profiled one would advance
    before, state = snapshot(model), _optimizer_state(model.opt)
    twin = copy.deepcopy(model)  # (its optimizer steps the twin's parameters)
    if optimizer == "sgd_unhooked":  # (its constructor and the deep copy hooked the class's step again)
        _UnhookedSGD.step = torch.no_grad()(torch.optim.SGD.step.__wrapped__)
    report = torchcount.profile(model, _BATCH, method="train_step", warn=False,
                                **(dict(measure=True, warmup=1, repeat=2) if measured else {}))
    assert snapshot(model) == before and _optimizer_state(model.opt) == state
    assert report.complete  # (the step's record_function markers cost nothing)
    name = type(model.opt).__name__
    assert f"stepped optimizer(s) {name} ×1" in " ".join(report.notes)
    assert "step" not in vars(model.opt)  # (the unhooked one's wrapper is gone)
    # and the next real steps equal those of an unprofiled twin
    for _ in range(2):
        model.train_step(*_BATCH), twin.train_step(*_BATCH)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), twin.parameters()))
    assert twin.opt.param_groups[0]["lr"] == model.opt.param_groups[0]["lr"]


class _ScheduledStep(_Step):
    """Steps an LR scheduler after the optimizer, as a training loop's step does."""

    def __init__(self, make):
        super().__init__(make)
        self.scheduler = torch.optim.lr_scheduler.StepLR(self.opt, step_size=1, gamma=0.5)

    def train_step(self, x, y):
        loss = super().train_step(x, y)
        self.scheduler.step()
        return loss


@pytest.mark.parametrize("unhooked", [False, True])
def test_a_scheduler_stepped_inside_the_method_is_put_back(unhooked):
    """A scheduler's epoch counter and last rates are put back with the optimizer's rate: the next
    real steps follow the schedule of an unprofiled twin. Unhooked (torch 2.2 once dynamo has compiled
    anything: test order made this fail there): the class's step runs no hooks and the scheduler has
    set a counting step on the instance, which torchcount's wrapper wraps and then gives back."""
    model = _ScheduledStep(lambda p: (_UnhookedSGD if unhooked else torch.optim.SGD)(p, lr=0.1))
    if unhooked:  # (an optimizer's constructor hooks its class's step again: strip it as dynamo does,
        # then schedule anew, so that the scheduler's counting step wraps the stripped one)
        _UnhookedSGD.step = torch.no_grad()(torch.optim.SGD.step.__wrapped__)
        del model.opt.step
        model.scheduler = torch.optim.lr_scheduler.StepLR(model.opt, step_size=1, gamma=0.5)
    own_step = vars(model.opt).get("step")  # (the scheduler's counting wrapper)
    model.train_step(*_BATCH)
    before = copy.deepcopy(model.scheduler.state_dict())
    twin = copy.deepcopy(model)
    report = torchcount.profile(model, _BATCH, method="train_step", warn=False)
    assert model.scheduler.state_dict() == before and model.scheduler.last_epoch == 1
    assert "stepped learning-rate scheduler(s) StepLR" in " ".join(report.notes)
    assert f"stepped optimizer(s) {type(model.opt).__name__} ×1" in " ".join(report.notes)  # (not twice)
    assert vars(model.opt).get("step") is own_step
    for _ in range(2):
        model.train_step(*_BATCH), twin.train_step(*_BATCH)
    assert model.opt.param_groups[0]["lr"] == twin.opt.param_groups[0]["lr"] == 0.1 * 0.5 ** 3
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), twin.parameters()))
    # a profile of the forward alone touches no scheduler and says nothing of one
    assert not any("scheduler" in note for note in torchcount.profile(model, _BATCH[0]).notes)


class _ScaledStep(_Step):
    """A mixed-precision step: the loss scaled by a GradScaler (the model's, or one given to the
    method), unscaled gradients, the step skipped on an inf, the scale updated; an LR scheduler
    stepped after it, as a training loop's step does."""

    def __init__(self, make=None, **scaler_options):
        super().__init__(make)
        self.scaler = torch.amp.GradScaler("cpu", **scaler_options)
        self.scheduler = torch.optim.lr_scheduler.StepLR(self.opt, step_size=1, gamma=0.5)

    def train_step(self, x, y, scaler=None):
        scaler = scaler or self.scaler
        self.opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = self(x)
        scaler.scale(nn.functional.cross_entropy(logits.float(), y)).backward()
        scaler.step(self.opt)
        scaler.update()
        self.scheduler.step()


def _scaler(scaler) -> tuple:
    """What a GradScaler holds: its scale and growth tracker (the tensors and their values, or None
    before its first ``scale``), its hyper-parameters and its per-optimizer stages."""
    tensors = [(id(t), _bits(t)) if t is not None else None for t in (scaler._scale, scaler._growth_tracker)]
    return (*tensors, scaler._init_scale, scaler._init_growth_tracker, scaler._growth_factor,
            scaler._backoff_factor, scaler._growth_interval, dict(scaler._per_optimizer_states))


@_FUSED
@needs("AMP's GradScaler on CPU")
@pytest.mark.parametrize("given", [False, True])
def test_a_grad_scaler_used_inside_the_method_is_put_back(given):
    """GradScaler.update writes its scale and growth tracker in place (the tracker counts successful
    steps; the scale grows every growth_interval of them): both are put back, the same tensors, so
    the next real steps grow the scale when an unprofiled twin's does. One given to the method as an
    argument is an input object, deep-copied before the method runs (the copy is updated)."""
    model = _ScaledStep(lambda p: torch.optim.Adam(p, lr=0.1, fused=True), growth_interval=2)
    scaler = model.scaler if not given else torch.amp.GradScaler("cpu", growth_interval=2)
    batch = (*_BATCH, scaler) if given else _BATCH
    model.train_step(*batch)
    assert scaler._growth_tracker.item() == 1  # (one more successful step grows the scale)
    before, state = _scaler(scaler), _optimizer_state(model.opt)
    twin = copy.deepcopy(model)
    twin_scaler = twin.scaler if not given else copy.deepcopy(scaler)
    report = torchcount.profile(model, batch, method="train_step", warn=False)
    assert report.complete
    assert _scaler(scaler) == before and _optimizer_state(model.opt) == state
    notes = " ".join(report.notes)
    assert ("input object(s) copied (deep) before the forward" if given else "used AMP gradient scaler(s)") in notes
    assert "GradScaler" in notes
    for _ in range(3):
        model.train_step(*_BATCH, scaler), twin.train_step(*_BATCH, twin_scaler)
        assert scaler.get_scale() == twin_scaler.get_scale()
    assert scaler.get_scale() == 2.0 ** 16 * 2 ** 2  # (grown on the 2nd and the 4th step)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), twin.parameters()))
    # a profile of the forward alone touches no scaler and says nothing of one
    assert not any("scaler" in note for note in torchcount.profile(model, _BATCH[0]).notes)


@needs("AMP's GradScaler on CPU")
@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step")
def test_a_grad_scaler_is_put_back_when_it_skips_the_step():
    """An inf in the gradients (an infinite scale) makes the scaler skip the optimizer's step and back
    off: no optimizer steps, yet the scaler and the scheduler the step advanced are put back."""
    model = _ScaledStep(lambda p: torch.optim.SGD(p, lr=0.1), init_scale=float("inf"))
    params = [p.detach().clone() for p in model.parameters()]
    model.train_step(*_BATCH)
    # (skipped: the parameters as they were, the growth tracker reset)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), params))
    assert model.scaler._growth_tracker.item() == 0
    model.scaler._growth_tracker.fill_(5)  # (so that the profiled step's reset shows)
    before, epoch = _scaler(model.scaler), model.scheduler.last_epoch
    report = torchcount.profile(model, _BATCH, method="train_step", warn=False)
    assert _scaler(model.scaler) == before and model.scaler._growth_tracker.item() == 5
    assert model.scheduler.last_epoch == epoch
    notes = " ".join(report.notes)
    assert "stepped optimizer" not in notes and "scheduler(s) StepLR" in notes and "GradScaler" in notes


@needs("AMP's GradScaler on CPU")
def test_a_fresh_grad_scaler_is_left_unset():
    """A scaler whose first ``scale`` is in the profiled method sets its scale tensors there: they are
    unset again, and the first real step starts from the initial scale."""
    model = _ScaledStep(lambda p: torch.optim.SGD(p, lr=0.1))
    assert model.scaler._scale is None
    before = _scaler(model.scaler)
    torchcount.profile(model, _BATCH, method="train_step", warn=False)
    assert _scaler(model.scaler) == before and model.scaler._scale is None
    model.train_step(*_BATCH)
    assert model.scaler.get_scale() == 2.0 ** 16 and model.scaler._growth_tracker.item() == 1


def test_the_method_is_named_when_it_writes_a_parameter_it_cannot_put_back():
    class Nudges(_Step):
        def train_step(self, x, y):
            with torch.no_grad():
                self.fc.weight.add_(1.0)

    with pytest.raises(ParameterModifiedError, match="the train_step call modified parameter"):
        torchcount.profile(Nudges(), _BATCH, method="train_step", warn=False)


def test_a_sparse_gradient_already_there_is_put_back():
    class Bag(nn.Module):
        def __init__(self):
            super().__init__()
            self.e = nn.Embedding(10, 4, sparse=True)

        def forward(self, i):
            return self.e(i)

        def step(self, i):
            self(i).sum().backward()

    model = Bag()
    grad = model.e.weight.grad = torch.sparse_coo_tensor([[0]], torch.ones(1, 4), (10, 4))
    torchcount.profile(model, torch.tensor([1, 2, 3]), method="step", warn=False)
    assert model.e.weight.grad is grad and torch.equal(grad.to_dense().sum(0), torch.ones(4))


def test_the_callers_tensors_and_modules_given_to_a_method_get_no_gradient():
    """A distillation step given a head module, and an input computed with grad from the caller's
    leaf: the backward stops at the profiled call (no .grad of the caller's set, none of their
    graph's nodes run or counted), and the head's training flag is put back too."""

    class Student(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            return self.fc(x)

        def distill(self, x, y, head):
            head.train()
            nn.functional.cross_entropy(head(self(x)), y).backward()

    head, leaf = nn.Linear(3, 3).eval(), torch.randn(4, 4, requires_grad=True)
    report = torchcount.profile(Student(), (leaf * 2, _BATCH[1]), kwargs={"head": head}, method="distill", warn=False)
    assert leaf.grad is None and head.weight.grad is None and not head.training
    # gradients: the head's input and weight (2·4·3·3), fc's weight and its input (the copy is a leaf
    # that requires grad: 2·4·4·3); the caller's ×2 is not the method's work
    assert report.extra["backward_MACs"] == 2 * 4 * 3 * 3 + 2 * 4 * 4 * 3
    assert "put back as the model's is" in " ".join(report.notes)


@pytest.mark.parametrize("copy_params", [False, True])
def test_a_method_that_converts_the_model_gets_it_back(copy_params):
    """self.half() inside a method rebinds each parameter's data (no version bump) and replaces each
    buffer: dtype and bits come back, with a note (a copy written into the fp16 data would round)."""

    class Halves(_Step):
        def generate_fp16(self, x):
            self.half()
            return self(x.half())

    model = _Step().eval()
    model.__class__ = Halves
    before = snapshot(model)
    report = torchcount.profile(model.eval(), _BATCH[0], method="generate_fp16", copy_params=copy_params, warn=False)
    assert snapshot(model) == before
    assert "converted or rebound the data of parameter(s) fc.weight, fc.bias" in " ".join(report.notes)


class _ConvertsItself(nn.Module):
    """A forward that converts its own parameters (``self.bfloat16()``: each parameter's data
    rebound, no version bump) and its buffers (replaced in their slots)."""

    def __init__(self):
        super().__init__()
        self.fc, self.bn = nn.Linear(4, 4), nn.BatchNorm1d(4)

    def forward(self, x):
        self.bfloat16()
        return self.bn(self.fc(x.bfloat16()))


def test_a_forward_that_converts_the_model_is_an_error_without_a_copy():
    """The forward converted the parameters to bfloat16 and the profile returned as if nothing
    happened: the buffers were put back (float32) and the parameters stayed bfloat16, a model half
    converted, silently. Like an in-place write, a conversion cannot be undone without a copy:
    ParameterModifiedError names them; copy_params=True restores dtype and bits."""
    model = _ConvertsItself().eval()
    with pytest.raises(ParameterModifiedError, match=r"converted parameter\(s\) fc.weight, fc.bias, bn.weight, bn.bias"):
        torchcount.profile(model, torch.randn(2, 4))
    model = _ConvertsItself().eval()
    before = snapshot(model)
    report = torchcount.profile(model, torch.randn(2, 4), copy_params=True)
    assert snapshot(model) == before
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert any("restored from the copy: fc.weight" in n for n in report.notes)
    assert report.total.macs == 2 * 4 * 4


def test_a_forward_that_raises_under_autocast_leaves_the_model_and_autocast_as_found():
    """Train mode, BatchNorm statistics updated in bf16 under autocast, a flag flipped, then a raise
    inside the autocast region: the model is as it was (flags, buffers, dtypes, hooks), the error
    names the module, and the caller's autocast state is unchanged."""
    class Boom(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn, self.fc = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Linear(4 * 8 * 8, 3)

        def forward(self, x):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                h = self.bn(self.conv(x)).flatten(1)
                self.fc.train(False)
                return self.fc(h[:, :5])  # wrong width: fails inside fc

    from torchcount.capture import autocast_dtype  # (torch 2.2 has no torch.is_autocast_enabled("cpu"))

    model = Boom().train()
    model.conv.register_forward_hook(lambda *args: None)
    before = snapshot(model)
    for outer in (False, True):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=outer):
            with pytest.raises(ForwardError, match="module 'fc'"):
                torchcount.profile(model, torch.randn(2, 3, 10, 10))
            assert autocast_dtype("cpu") == (torch.bfloat16 if outer else None)
        assert snapshot(model) == before


class _LoopState:
    """A training loop's own object, holding what the step advances (a user's plain class)."""

    def __init__(self, opt):
        self.schedulers = [torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)]
        self.scaler = torch.amp.GradScaler("cpu", growth_interval=1) if hasattr(torch.amp, "GradScaler") else None


class _NestedScheduleStep(_Step):
    """The scheduler in a list and the scaler in another object of the model's: found one level down."""

    def __init__(self):
        super().__init__(lambda p: torch.optim.SGD(p, lr=0.1))
        self.loop = _LoopState(self.opt)

    def train_step(self, x, y):
        self.opt.zero_grad()
        loss = nn.functional.cross_entropy(self(x), y)
        if self.loop.scaler is None:
            loss.backward()
            self.opt.step()
        else:
            self.loop.scaler.scale(loss).backward()
            self.loop.scaler.step(self.opt)
            self.loop.scaler.update()
        for scheduler in self.loop.schedulers:
            scheduler.step()
        return loss


def test_a_scheduler_and_a_scaler_held_one_level_down_are_put_back():
    """Until 2026-12-03 only the model's own attributes were searched: a scheduler in a list, or a
    scaler in a loop object, was left advanced by the profile (the rate halved once more)."""
    model = _NestedScheduleStep()
    model.train_step(*_BATCH)
    twin = copy.deepcopy(model)
    scheduler = model.loop.schedulers[0]
    before = copy.deepcopy(scheduler.state_dict())
    report = torchcount.profile(model, _BATCH, method="train_step", warn=False)
    assert scheduler.state_dict() == before and "scheduler(s) StepLR" in " ".join(report.notes)
    for _ in range(2):
        model.train_step(*_BATCH), twin.train_step(*_BATCH)
    assert model.opt.param_groups[0]["lr"] == twin.opt.param_groups[0]["lr"] == 0.1 * 0.5 ** 3
    if model.loop.scaler is not None:  # (growth_interval 1: the scale doubles at every finite step)
        assert model.loop.scaler.get_scale() == twin.loop.scaler.get_scale()
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), twin.parameters()))


# ---- BaseExceptions that are not Exceptions ----------------------------------------------------
class _FailsLater(Stateful):
    """Stateful, raising ``fail`` from its ``fail_from``-th forward on: 2 raises in the first measured pass."""

    def __init__(self, fail: BaseException, fail_from: int):
        super().__init__()
        self.to_raise, self.fail_from, self.forwards = fail, fail_from, 0

    def forward(self, x):
        self.forwards += 1
        self.fail = self.to_raise if self.forwards >= self.fail_from else None
        return super().forward(x)


def _process_state() -> tuple:
    """What a profile must leave as it was around the model: the modules it holds as being profiled,
    the dispatch-mode stack, the garbage collector, the grad mode."""
    import gc
    import sys

    return (dict(sys.modules["torchcount.profile"]._ACTIVE), torch._C._len_torch_dispatch_stack(), gc.isenabled(),
            torch.is_grad_enabled())


@pytest.mark.parametrize("fail", [KeyboardInterrupt(), SystemExit(3), GeneratorExit()], ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("measured", [False, True], ids=["counting", "measured"])
def test_a_base_exception_propagates_unchanged_and_the_model_is_left_as_found(fail, measured):
    """Not an Exception: nothing wraps it in a ForwardError (the same object reaches the caller, no
    cause attached), in the counting pass or in a measured pass, and every wrapper, hook, flag,
    parameter and buffer is as found, the user's hook back in its dict, nothing left registered."""
    model = _FailsLater(fail, fail_from=2 if measured else 1).train()
    model.evaluated.eval()
    before, around = snapshot(model), _process_state()
    options = {"measure": True, "warmup": 0, "repeat": 1} if measured else {}
    with pytest.raises(type(fail)) as raised:
        torchcount.profile(model, _input(), warn=False, **options)
    assert raised.value is fail and raised.value.__cause__ is None
    assert model.forwards == (2 if measured else 1)  # (measured: it failed in the first measured pass)
    assert snapshot(model) == before
    assert _process_state() == around


class _Interrupted(nn.Module):
    """A leaf whose forward or own hook raises KeyboardInterrupt when ``where`` says so."""

    def __init__(self, where: str):
        super().__init__()
        self.where = where
        self.fc = nn.Linear(4, 4)
        interrupt = lambda *args: (_ for _ in ()).throw(KeyboardInterrupt())  # noqa: E731
        if where == "pre-hook":
            self.register_forward_pre_hook(interrupt)
        elif where == "hook":
            self.register_forward_hook(interrupt)
        else:
            self.register_forward_hook(lambda *args: None)  # (a module with hooks of its own, watched)

    def forward(self, x):
        x = self.fc(x)
        if self.where == "forward":
            raise KeyboardInterrupt
        return x


class _CatchesInterrupts(nn.Module):
    """A block that calls ``_Interrupted``, catches its KeyboardInterrupt and carries on with ``fc``."""

    def __init__(self, where: str):
        super().__init__()
        self.flaky, self.fc = _Interrupted(where), nn.Linear(4, 4)

    def forward(self, x):
        try:
            self.flaky(x)
        except KeyboardInterrupt:
            pass
        return self.fc(x)


class _RuledCatcher(_CatchesInterrupts):
    pass


@torchcount.module_rule(_RuledCatcher)
def _ruled_catcher(module, call):
    from torchcount.cost import Cost, Term

    return Cost.of(Term("macs", "the block", "n", "1000", 1000))


@pytest.mark.parametrize("where", ["pre-hook", "hook"])
def test_an_interrupt_a_hook_raises_and_the_model_catches_leaves_the_count_right(where):
    """Torch runs an always-called forward hook (the capture's, which closes the region where a hook's
    calls are recorded) for an Exception only. A KeyboardInterrupt from a module's own hook, caught by
    the ruled block around it, left that region open: the block's next child, covered by its rule,
    was taken as called by a hook and counted again (1000 + 4·4·2 = 1,032 MACs, not 1000)."""
    model = nn.Sequential(_RuledCatcher(where))
    before = snapshot(model)
    report = torchcount.profile(model, torch.randn(2, 4), warn=False)
    assert report.total.macs == 1000
    assert report.row("0.fc").status == "covered"
    assert snapshot(model) == before


class _CastingCatcher(_CatchesInterrupts):
    """A ruled block that, after the interrupt it catches, casts its input to float64 and back."""

    def forward(self, x):
        try:
            self.flaky(x)
        except KeyboardInterrupt:
            pass
        return self.fc(x.double().float())


torchcount.module_rule(_CastingCatcher)(_ruled_catcher)


class _AutocastThenBlock(nn.Module):
    """A Linear run under CPU autocast (so counting looks for autocast's casts in ruled calls), then
    the block, outside autocast."""

    def __init__(self, where: str):
        super().__init__()
        self.pre, self.block = nn.Linear(4, 4), _CastingCatcher(where)

    def forward(self, x):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            x = self.pre(x)
        return self.block(x.float())


@pytest.mark.parametrize("where", ["forward", "pre-hook", "hook"])
def test_an_interrupt_a_hooked_forward_raises_leaves_no_recording_on_in_the_ruled_catcher(where):
    """A KeyboardInterrupt from the forward of a module with hooks of its own skipped the capture's
    always-called hook, which restores op recording to what it was before the module's pre-hooks: in
    the ruled block that caught it, recording stayed on until the block returned. Its own casts after
    the catch (float64 and back: 2·4·8 + 2·4·4 = 96 bytes) were recorded and priced as autocast's
    copies, read and written. The block's traffic is its rule's default: its input 2·4·4 floats and
    its two Linears' 2·(4·4 + 4) floats read, 2·4 floats written."""
    model = _AutocastThenBlock(where)
    before = snapshot(model)
    report = torchcount.profile(model, torch.randn(2, 4), warn=False)
    block = report.row("block").cost
    assert (block.bytes_read, block.bytes_written) == ((2 * 4 + 2 * (4 * 4 + 4)) * 4, 2 * 4 * 4)
    assert block.macs == 1000
    assert snapshot(model) == before


@pytest.mark.parametrize("where", ["forward", "pre-hook", "hook"])
def test_an_interrupt_the_model_catches_is_measured_through(where):
    """The measured passes' span of a module with hooks of its own is closed by an always-called forward
    hook, which torch skips for a KeyboardInterrupt: caught by the parent, the span stayed open and
    the pass failed ('module (root) has no end stamp'). Each pass now times every module; the
    count is flaky.fc's and fc's 2·4·4 MACs whatever the interrupt (flaky.fc does not run after a
    pre-hook's)."""
    model = _CatchesInterrupts(where)
    before = snapshot(model)
    report = torchcount.profile(model, torch.randn(2, 4), warn=False, measure=True, warmup=1, repeat=2)
    assert report.total.macs == (1 if where == "pre-hook" else 2) * 2 * 4 * 4
    assert report.row("fc").extra["time_ms"] > 0 and report.root.extra["time_ms"] > 0
    assert snapshot(model) == before


class _Draws(nn.Module):
    """Draws from torch's default generator in its forward: dropout in training mode, and a
    ``torch.rand`` of its own; raises after drawing when ``fail`` is set."""

    def __init__(self, fail: bool = False):
        super().__init__()
        self.fc, self.drop, self.fail = nn.Linear(4, 4), nn.Dropout(0.5), fail

    def forward(self, x):
        x = self.drop(self.fc(x)) + torch.rand(x.shape)
        if self.fail:
            raise ValueError("after drawing")
        return x

    def sample(self, x):  # a generate-like method: sampling advances the generator too
        return torch.multinomial(torch.softmax(self(x), -1), 1)


def _next_draws() -> torch.Tensor:
    return torch.rand(8)


@pytest.mark.parametrize("how", ["counting", "measured", "ceiling", "failing", "method", "input_size",
                                 "receptive_field"])
def test_the_callers_random_stream_is_where_it_was(how):
    """A profile draws (dropout masks, the forward's own rand, sampling, random inputs from
    input_size=, every measured pass, the ceiling's operands); the caller's next draw is the one it would have made without
    the profile. Reference: the same seed, then the draw, with no profile between."""
    torch.manual_seed(1234)
    expected = _next_draws()
    model = _Draws(fail=how == "failing").train()
    x = torch.ones(2, 4)
    convs = nn.Sequential(nn.Conv2d(1, 1, 3), nn.Dropout(0.5)).train()  # (built before the seed: init draws)
    torch.manual_seed(1234)
    if how == "failing":
        with pytest.raises(ForwardError, match="after drawing"):
            torchcount.profile(model, x, warn=False)
    elif how == "receptive_field":  # (its data-flow forward; a conv stack, which it needs)
        torchcount.receptive_field(convs, torch.ones(1, 1, 5, 5))
    else:
        options = {"counting": {}, "measured": dict(measure=True, warmup=1, repeat=2),
                   "ceiling": dict(measure=True, warmup=0, repeat=1, ceiling=True),  # (its operands are random)
                   "method": dict(method="sample"), "input_size": dict(input_size=(2, 4))}[how]
        torchcount.profile(model, None if how == "input_size" else x, warn=False, **options)
    assert torch.equal(_next_draws(), expected)


def test_random_inputs_from_input_size_are_the_same_whatever_the_callers_seed():
    """input_size= draws from a generator of its own seeded 0 (as the CLI's inputs): two profiles under
    different seeds see the same values, one stream for all the shapes."""
    seen = []

    class Sees(nn.Module):
        def forward(self, x, y):
            seen.append((x.clone(), y.clone()))
            return x.sum() + y.sum()

    for seed in (1, 2):
        torch.manual_seed(seed)
        torchcount.profile(Sees(), input_size=[(3, 5), (2, 7)], warn=False)
    draw = torch.Generator().manual_seed(0)
    first, second = torch.randn(3, 5, generator=draw), torch.randn(2, 7, generator=draw)
    for x, y in seen:
        assert torch.equal(x, first) and torch.equal(y, second)


class Parametrizes(nn.Module):
    """A forward that parametrizes its layer on its first call (with ``parametrization``)."""

    def __init__(self, parametrization: nn.Module):
        super().__init__()
        self.lin = nn.Linear(3, 3)
        self.parametrization = parametrization

    def forward(self, x):
        from torch.nn.utils import parametrize

        if not parametrize.is_parametrized(self.lin):
            parametrize.register_parametrization(self.lin, "weight", self.parametrization)
        return self.lin(x)


class Doubled(nn.Module):
    def forward(self, w):
        return 2 * w

    def right_inverse(self, w):  # (registering sets the weight to w / 2: a write)
        return w / 2


def test_a_parametrization_the_forward_registers_is_removed():
    """A forward that registers a parametrization was told as "modified parameter(s) lin.weight in
    place" and left the model parametrized. Without a right_inverse (the weight set_() to itself)
    the model comes back as found, with a note; with one, whose registration rewrites the weight,
    the error says what happened (the module is put back all the same) and copy_params=True
    restores the values."""
    from torch.nn.utils import parametrize

    model = Parametrizes(nn.Identity())
    weight, found = model.lin.weight, snapshot(model)
    report = torchcount.profile(model, torch.randn(2, 3))
    assert type(model.lin) is nn.Linear and model.lin.weight is weight and snapshot(model) == found
    assert any("registered parametrization(s) (torch.nn.utils.parametrize) on lin.weight; removed" in note
               for note in report.notes)

    model = Parametrizes(Doubled())
    with pytest.raises(ParameterModifiedError, match=r"registered a parametrization on lin.weight \(torch.nn.utils."
                                                     r"parametrize; removed again\), whose right_inverse rewrote"):
        torchcount.profile(model, torch.randn(2, 3))
    assert type(model.lin) is nn.Linear and not parametrize.is_parametrized(model.lin)

    model = Parametrizes(Doubled())
    found = snapshot(model)
    torchcount.profile(model, torch.randn(2, 3), copy_params=True)
    assert type(model.lin) is nn.Linear and snapshot(model) == found


class ChangesSettings(nn.Module):
    """A forward that changes torch's process-wide settings and leaves them changed (an autocast
    region entered and never left among them), then raises if told to."""

    def __init__(self, fail: bool = False):
        super().__init__()
        self.lin = nn.Linear(3, 3)
        self.fail = fail
        self.regions: list = []

    def forward(self, x):
        torch.set_default_dtype(torch.float64)
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.set_num_threads(torch.get_num_threads() % 2 + 1)  # (another number than the caller's: 1 ↔ 2)
        torch.autograd.set_detect_anomaly(True)
        torch.set_float32_matmul_precision("medium")
        region = torch.autocast("cpu", dtype=torch.bfloat16)
        region.__enter__()
        self.regions.append(region)
        y = self.lin(x.float())
        if self.fail:
            raise ValueError("after changing the settings")
        return y


def test_torch_settings_the_forward_changes_are_put_back():
    """torch.set_default_dtype, use_deterministic_algorithms, set_num_threads, anomaly mode,
    the float32 matmul precision and an autocast region entered and not left, set in a forward,
    stayed set in the caller's process after profile (also when the forward raised). They are put
    back, with a note naming them."""
    def settings():
        return (torch.get_default_dtype(), torch.are_deterministic_algorithms_enabled(),
                torch.is_deterministic_algorithms_warn_only_enabled(), torch.get_num_threads(),
                torch.is_anomaly_enabled(), torch.get_float32_matmul_precision(), autocast_dtype("cpu"))

    from torchcount.capture import autocast_dtype  # (torch 2.2 has no torch.is_autocast_enabled("cpu"))

    found = settings()
    assert found[:2] == (torch.float32, False) and not found[4] and found[6] is None
    model = ChangesSettings()
    report = torchcount.profile(model, torch.randn(2, 3))
    assert settings() == found
    assert any(note.startswith("the forward changed torch's process-wide setting(s) torch.set_default_dtype, "
                               "torch.use_deterministic_algorithms, torch.set_num_threads, "
                               "torch.autograd.set_detect_anomaly, torch.set_float32_matmul_precision, autocast (cpu)")
               for note in report.notes)
    with pytest.raises(ForwardError):
        torchcount.profile(ChangesSettings(fail=True), torch.randn(2, 3))
    assert settings() == found
    report = torchcount.profile(ChangesSettings(), torch.randn(2, 3), measure=True, warmup=1, repeat=2)
    assert settings() == found


def test_hugging_face_output_capturing_hooks_installed_in_the_profile_are_kept():
    """transformers installs its output-capturing forward hooks once, on the first forward asked for
    hidden states or attentions, and marks the model as hooked. A profile that was that first forward
    removed the hooks and left the mark: every later call returned no hidden states (an empty tuple).
    They are kept, as a first forward's set-up (a lazy module's materialisation is kept too)."""
    transformers = pytest.importorskip("transformers")
    transformers.logging.set_verbosity_error()
    config = transformers.LlamaConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                      num_key_value_heads=2, intermediate_size=37)
    ids = torch.randint(0, 99, (1, 5), generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    expected = transformers.LlamaForCausalLM(config).eval()(ids, output_hidden_states=True).hidden_states
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config).eval()
    report = torchcount.profile(model, {"input_ids": ids, "output_hidden_states": True}, warn=False)
    assert not any("hook" in note for note in report.notes), report.notes
    hidden = model(ids, output_hidden_states=True).hidden_states
    assert len(hidden) == len(expected) == 3 and all(torch.equal(a, b) for a, b in zip(hidden, expected))


@pytest.mark.skipif(not hasattr(nn.modules.module, "_global_forward_hooks_with_kwargs"),
                    reason="this torch has no process-wide hook with_kwargs")
def test_a_process_wide_hook_with_kwargs_the_forward_registers_leaves_no_entry():
    """A process-wide forward hook registered with_kwargs=True has an entry in torch's
    ``_global_forward_hooks_with_kwargs`` too, which stayed behind when the hook was removed."""
    module_globals = nn.modules.module
    found = dict(module_globals._global_forward_hooks_with_kwargs)

    class Registers(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 3)

        def forward(self, x):
            module_globals.register_module_forward_hook(lambda m, args, kwargs, out: None, with_kwargs=True)
            return self.lin(x)

    torchcount.profile(Registers(), torch.randn(2, 3), warn=False)
    assert dict(module_globals._global_forward_hooks_with_kwargs) == found


def test_an_autocast_region_the_forward_leaves_open_is_closed():
    """A forward that enters an autocast region and never leaves it had autocast turned off again, but
    the region's nesting level stayed: the caller's own regions then never reached level 0 on exit,
    where torch empties the cache of cast weights, so a later region reused the casts of weights
    updated in place since (an optimizer step between two autocast forwards computed with the old
    weights)."""
    torchcount.profile(ChangesSettings(), torch.randn(2, 3), warn=False)
    lin, x = nn.Linear(4, 4), torch.randn(2, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        lin(x)
    with torch.no_grad():
        lin.weight.mul_(10)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = lin(x)
    assert torch.equal(y, nn.functional.linear(x.bfloat16(), lin.weight.bfloat16(), lin.bias.bfloat16()))


class Scaled(nn.Module):
    """A parametrization with no right_inverse (registering leaves the tensor's values alone)."""

    def forward(self, w):
        return 3 * w


class RemovesParametrization(nn.Module):
    """A forward that removes a parametrization its layer had (folding it in, as an inference
    export does), on its first call only; ``names``: the tensors parametrized at construction."""

    def __init__(self, leave_parametrized: bool, names=("weight",), remove=("weight",)):
        super().__init__()
        from torch.nn.utils import parametrize

        self.lin = nn.Linear(3, 3)
        for name in names:
            parametrize.register_parametrization(self.lin, name, Scaled())
        self.leave_parametrized, self.remove = leave_parametrized, remove

    def forward(self, x):
        from torch.nn.utils import parametrize

        for name in self.remove:
            if parametrize.is_parametrized(self.lin, name):
                parametrize.remove_parametrizations(self.lin, name, leave_parametrized=self.leave_parametrized)
        return self.lin(x)


def _parametrized_as_found(model: RemovesParametrization, cls: type, plists: dict, found: dict) -> None:
    from torch.nn.utils import parametrize

    assert type(model.lin) is cls
    for name, plist in plists.items():
        assert parametrize.is_parametrized(model.lin, name)
        assert model.lin.parametrizations[name] is plist
        assert name not in model.lin._parameters
    assert snapshot(model) == found
    # the property computes the parametrized tensor from the original again
    assert torch.equal(model.lin.weight, 3 * model.lin.parametrizations.weight.original)


@pytest.mark.parametrize("names, remove", [(("weight",), ("weight",)), (("weight", "bias"), ("weight",)),
                                           (("weight", "bias"), ("weight", "bias"))],
                         ids=["its only one", "one of two", "both"])
@pytest.mark.parametrize("options", [{}, {"measure": True, "warmup": 1, "repeat": 2}], ids=["counted", "measured"])
def test_a_parametrization_the_forward_removes_is_put_back(names, remove, options):
    """A forward that removes a parametrization the model had (remove_parametrizations with
    leave_parametrized=False: the original put in the slot) left the caller's layer broken: the
    property gone from its class, ``parametrizations`` gone (or missing the entry), the slot put back
    empty by the slot restore, so ``model.lin.weight`` raised AttributeError. It is put back as found
    — class, ``parametrizations`` (the same objects), the property — with a note; measured passes
    each remove it again."""
    model = RemovesParametrization(False, names, remove)
    cls, plists = type(model.lin), {name: model.lin.parametrizations[name] for name in names}
    found = snapshot(model)
    report = torchcount.profile(model, torch.randn(2, 3), **options)
    _parametrized_as_found(model, cls, plists, found)
    assert any(note.startswith(f"the forward removed parametrization(s) (torch.nn.utils.parametrize) on "
                               f"{', '.join('lin.' + name for name in sorted(remove))}; put back") for note in report.notes)
    assert not any("rebound" in note or "slot" in note for note in report.notes), report.notes
    # each pass ran the same forward: the removal, then a plain Linear (no parametrization's 3·w)
    assert report.total.macs == 2 * 3 * 3


def test_a_parametrization_removed_leaving_its_value_is_put_back_and_the_write_told():
    """With leave_parametrized=True (the default) removing set_()s the original to the parametrized
    values (3·w): a write that cannot be undone without a copy. The structure is put back all the same
    and ParameterModifiedError says what happened; copy_params=True puts the values back too, and a
    method (which keeps a reference to each parameter's data) needs no copy."""
    model = RemovesParametrization(True)
    cls, plists = type(model.lin), {"weight": model.lin.parametrizations.weight}
    original = model.lin.parametrizations.weight.original
    with pytest.raises(ParameterModifiedError, match=r"removed the parametrization on lin.weight \(torch.nn.utils."
                                                     r"parametrize.remove_parametrizations; put back\)"):
        torchcount.profile(model, torch.randn(2, 3))
    assert type(model.lin) is cls and model.lin.parametrizations.weight is plists["weight"]
    assert model.lin.parametrizations.weight.original is original

    def run(model, x):  # (a function given as the method: the model's forward, with the data kept)
        return model(x)

    for options in ({"copy_params": True}, {"method": run}):
        model = RemovesParametrization(True)
        cls, plists = type(model.lin), {"weight": model.lin.parametrizations.weight}
        found = snapshot(model)
        report = torchcount.profile(model, torch.randn(2, 3), **options)
        _parametrized_as_found(model, cls, plists, found)
        assert any("removed parametrization(s) (torch.nn.utils.parametrize) on lin.weight; put back" in note
                   for note in report.notes)
        assert not any("modified" in note for note in report.notes), report.notes


def test_a_parametrized_module_whose_class_the_forward_changes_is_named():
    """A forward that removes a parametrization and then gives the layer a class of its own: the
    parametrized class cannot be put back over it, so the profile raises naming the module and what
    it could not put back (the module is left as the forward made it)."""
    class Folded(nn.Linear):
        pass

    class Refolds(RemovesParametrization):
        def forward(self, x):
            out = super().forward(x)
            self.lin.__class__ = Folded
            return out

    model = Refolds(False)
    with pytest.raises(RuntimeError, match=r"the forward pass changed the class of lin from ParametrizedLinear to "
                                           r"Folded \(torchcount cannot put back its parametrizations on weight\)"):
        torchcount.profile(model, torch.randn(2, 3))
    assert type(model.lin) is Folded


class ChangesBackendFlags(nn.Module):
    """A forward that turns on cuDNN's autotuner and deterministic mode, turns off TF32 for cuDNN,
    oneDNN and bf16 reduced-precision reductions, and leaves them so (``freeze``: flips the autotuner
    only, then freezes the flags, as torch's test harness does)."""

    def __init__(self, freeze: bool = False):
        super().__init__()
        self.lin = nn.Linear(3, 3)
        self.freeze = freeze

    def forward(self, x):
        b = torch.backends
        b.cudnn.benchmark = not b.cudnn.benchmark
        if self.freeze:  # (only that one flipped: the test puts it back itself)
            b.disable_global_flags()
            return self.lin(x)
        b.cudnn.deterministic = not b.cudnn.deterministic
        b.cudnn.allow_tf32 = not b.cudnn.allow_tf32
        b.mkldnn.enabled = not b.mkldnn.enabled
        b.cuda.matmul.allow_bf16_reduced_precision_reduction = \
            not b.cuda.matmul.allow_bf16_reduced_precision_reduction
        return self.lin(x)


def _backend_flags() -> tuple:
    b = torch.backends
    flags = (b.cudnn.benchmark, b.cudnn.deterministic, b.cudnn.allow_tf32, b.mkldnn.enabled,
             b.cuda.matmul.allow_bf16_reduced_precision_reduction)
    if hasattr(b, "fp32_precision"):  # (torch ≥ 2.9: cuDNN's legacy TF32 flag sets these two)
        flags += (b.cudnn.conv.fp32_precision, b.cudnn.rnn.fp32_precision)
    return flags


def test_torch_backends_flags_the_forward_changes_are_put_back():
    """torch.backends flags a forward flips (cuDNN's benchmark, deterministic and allow_tf32, oneDNN,
    reduced-precision reductions) stayed flipped in the caller's process. They are put back, with
    a note naming them, also after measured passes."""
    found = _backend_flags()
    for options in ({}, {"measure": True, "warmup": 1, "repeat": 2}):
        with _flags_mutable():
            report = torchcount.profile(ChangesBackendFlags(), torch.randn(2, 3), **options)
        assert _backend_flags() == found
        note = next(note for note in report.notes if note.startswith("the forward changed torch's process-wide"))
        for name in ("torch.backends.cudnn.benchmark", "torch.backends.cudnn.deterministic",
                     "torch.backends.cudnn.allow_tf32", "torch.backends.mkldnn.enabled",
                     "torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction"):
            assert name in note
        assert "fp32_precision" not in note  # (the legacy flag put back set its leaves back too)


@pytest.mark.skipif(not hasattr(torch.backends, "fp32_precision"), reason="torch < 2.9 has no fp32_precision API")
def test_tf32_set_through_the_new_api_in_the_forward_is_put_back():
    """torch ≥ 2.9: cuDNN's convolutions set apart through the new API (cudnn.conv.fp32_precision =
    "ieee") and CUDA matmuls switched to TF32 (cuda.matmul.fp32_precision) are put back; reading the
    legacy cuDNN flag, which then raises or disagrees, is left alone."""
    class NewAPI(nn.Linear):
        def forward(self, x):
            torch.backends.cudnn.conv.fp32_precision = "ieee"
            torch.backends.cuda.matmul.fp32_precision = "tf32"
            return super().forward(x)

    b = torch.backends
    found = (b.cudnn.conv.fp32_precision, b.cuda.matmul.fp32_precision, b.cudnn.rnn.fp32_precision)
    with _flags_mutable():
        report = torchcount.profile(NewAPI(3, 3), torch.randn(2, 3))
    assert (b.cudnn.conv.fp32_precision, b.cuda.matmul.fp32_precision, b.cudnn.rnn.fp32_precision) == found
    assert any("torch.backends.cudnn.conv.fp32_precision" in note and "torch.backends.cuda.matmul.fp32_precision"
               in note for note in report.notes)


@pytest.mark.skipif(not hasattr(torch.backends, "fp32_precision"), reason="torch < 2.9 has no fp32_precision API")
def test_the_matmul_precision_a_forward_sets_leaves_onednns_leaves_as_found():
    """torch ≥ 2.9: set_float32_matmul_precision("high") sets oneDNN's matmul leaf too, and setting the
    precision back to "highest" leaves that leaf "ieee" where it was "none": the leaves are read and put
    back as well; oneDNN's conv leaf, set apart by the forward, too."""
    class Precise(nn.Linear):
        def forward(self, x):
            torch.set_float32_matmul_precision("high")
            torch.backends.mkldnn.conv.fp32_precision = "bf16"
            return super().forward(x)

    m = torch.backends.mkldnn
    found = (torch.get_float32_matmul_precision(), m.matmul.fp32_precision, m.conv.fp32_precision, m.rnn.fp32_precision)
    with _flags_mutable():
        report = torchcount.profile(Precise(3, 3), torch.randn(2, 3))
    assert (torch.get_float32_matmul_precision(), m.matmul.fp32_precision, m.conv.fp32_precision,
            m.rnn.fp32_precision) == found
    assert any("torch.backends.mkldnn.conv.fp32_precision" in note for note in report.notes)


@pytest.mark.skipif(not hasattr(torch.backends, "fp32_precision"), reason="torch < 2.9 has no fp32_precision API")
def test_a_matmul_precision_unreadable_on_entry_is_left_alone_and_its_leaves_put_back():
    """torch ≥ 2.9: CUDA matmuls set to TF32 through the new API (cuda.matmul.fp32_precision = "tf32")
    make torch.get_float32_matmul_precision() raise (the legacy and new APIs mixed). A forward that then
    sets the precision ("highest", which makes it readable, and the matmul leaves "ieee"): the leaves are
    put back ("tf32", "none"), the precision, unreadable as found, is left alone and not named, and the
    profile completes. (Comparing a setting unreadable on entry with its value now set it to the
    placeholder for "unreadable": TypeError.)"""
    class Precise(nn.Linear):
        def forward(self, x):
            torch.set_float32_matmul_precision("highest")
            return super().forward(x)

    b = torch.backends
    leaves = (b.fp32_precision, b.cuda.matmul.fp32_precision, b.mkldnn.matmul.fp32_precision)
    try:
        with _flags_mutable():
            b.cuda.matmul.fp32_precision = "tf32"
            with pytest.raises(RuntimeError):
                torch.get_float32_matmul_precision()
            report = torchcount.profile(Precise(3, 3), torch.randn(2, 3))
            assert (b.cuda.matmul.fp32_precision, b.mkldnn.matmul.fp32_precision) == ("tf32", leaves[2])
            with pytest.raises(RuntimeError):
                torch.get_float32_matmul_precision()
            note = next(note for note in report.notes if "process-wide setting" in note)
            assert "torch.backends.cuda.matmul.fp32_precision" in note
            assert "torch.set_float32_matmul_precision" not in note
    finally:
        with _flags_mutable():
            b.fp32_precision, b.cuda.matmul.fp32_precision, b.mkldnn.matmul.fp32_precision = leaves
    assert torch.get_float32_matmul_precision() == "highest"


def test_a_flag_frozen_by_the_forward_is_put_back_and_the_flags_thawed_as_found():
    """A forward that flips cuDNN's autotuner and then freezes torch.backends' flags
    (disable_global_flags): both are process-wide settings the forward changed. The freeze is undone
    and the autotuner put back (until 2026-12-07 setting it back raised, and the note said it was not
    put back, the flags left frozen): the note names both, put back as found."""
    found, flags, frozen = torch.backends.cudnn.benchmark, _backend_flags(), torch.backends.flags_frozen()
    try:
        with _flags_mutable():
            report = torchcount.profile(ChangesBackendFlags(freeze=True), torch.randn(2, 3))
            assert torch.backends.flags_frozen() is False
        assert torch.backends.cudnn.benchmark is found
        note = next(note for note in report.notes if "process-wide setting" in note)
        assert note == ("the forward changed torch's process-wide setting(s) torch.backends.disable_global_flags, "
                        "torch.backends.cudnn.benchmark; put back as found")
    finally:
        with _flags_mutable():
            torch.backends.cudnn.benchmark = found
        _set_frozen(frozen)
    assert torch.backends.flags_frozen() is frozen and _backend_flags() == flags


class _FlipsInsideTheBracket(nn.Module):
    """Flips cuDNN's autotuner inside torch.backends' own ``__allow_nonbracketed_mutation()``, which
    lets a flag be set while the flags are frozen (torch's test harness freezes them)."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 3)

    def forward(self, x):
        with torch.backends.flags_frozen.__globals__["__allow_nonbracketed_mutation"]():
            torch.backends.cudnn.benchmark = not torch.backends.cudnn.benchmark
        return self.lin(x)


def test_a_flag_changed_inside_torchs_bracket_while_frozen_is_put_back_and_stays_frozen():
    """The flags frozen before the profile (as torch's test harness leaves them), and a forward that
    flips the autotuner inside torch's bracket: it is put back (inside the bracket, as
    torch.backends.cudnn.flags() does on leaving) and the flags stay frozen; the note names the autotuner
    alone (the freeze did not change)."""
    found, flags, frozen = torch.backends.cudnn.benchmark, _backend_flags(), torch.backends.flags_frozen()
    try:
        _set_frozen(True)
        report = torchcount.profile(_FlipsInsideTheBracket(), torch.randn(2, 3))
        assert torch.backends.flags_frozen() is True
        assert torch.backends.cudnn.benchmark is found
        note = next(note for note in report.notes if "process-wide setting" in note)
        assert note == ("the forward changed torch's process-wide setting(s) torch.backends.cudnn.benchmark; "
                        "put back as found")
    finally:
        with _flags_mutable():
            torch.backends.cudnn.benchmark = found
        _set_frozen(frozen)
    assert torch.backends.flags_frozen() is frozen and _backend_flags() == flags


_REFUSING = [0]


def _refuse(value) -> None:
    raise RuntimeError("this setting takes no assignment now")


class _ThreadsAndARefusedSetting(nn.Module):
    """One more thread, then a change to a setting whose setter raises (a stand-in for one torch
    refuses to set back)."""

    def forward(self, x):
        torch.set_num_threads(torch.get_num_threads() + 1)
        _REFUSING[0] += 1
        return x * 2


def test_a_setting_put_back_and_one_that_could_not_be_are_told_apart_in_the_note(monkeypatch):
    """One setting put back (the thread count) and one whose setter raises: the note says the first was
    put back as found and the second was not, with the setter's words — until 2026-12-07 it went on
    '; put back as found' after the one it said was not."""
    from torchcount import state

    monkeypatch.setattr(state, "_SETTINGS", (*state._SETTINGS, ("the refusing setting", lambda: _REFUSING[0], _refuse)))
    threads = torch.get_num_threads()
    try:
        report = torchcount.profile(_ThreadsAndARefusedSetting(), torch.randn(2, 3))
        assert torch.get_num_threads() == threads and _REFUSING[0] == 1
        note = next(note for note in report.notes if "process-wide setting" in note)
        assert note == ("the forward changed torch's process-wide setting(s) torch.set_num_threads; put back as "
                        "found; and the refusing setting (not put back: this setting takes no assignment now)")
        report = torchcount.profile(_ARefusedSettingAlone(), torch.randn(2, 3))
        note = next(note for note in report.notes if "process-wide setting" in note)
        assert note == ("the forward changed torch's process-wide setting(s) the refusing setting (not put back: "
                        "this setting takes no assignment now)")
    finally:
        torch.set_num_threads(threads)


class _ARefusedSettingAlone(nn.Module):
    def forward(self, x):
        _REFUSING[0] += 1
        return x * 2


@contextmanager
def _flags_mutable():
    """torch.backends' flags settable within, frozen again after if they were (tests/test_opinfo.py
    imports torch's test harness, which freezes them for the rest of the session)."""
    frozen = torch.backends.flags_frozen()
    _set_frozen(False)
    try:
        yield
    finally:
        _set_frozen(frozen)


def _set_frozen(frozen: bool) -> None:
    # (torch.backends is a wrapper of its module: the flag is in the module's own globals)
    torch.backends.flags_frozen.__globals__["__allow_nonbracketed_mutation_flag"] = not frozen



class Reparametrizes(RemovesParametrization):
    """A forward that removes its layer's parametrization and registers a fresh one on the same weight
    (a Scaled again, with no right_inverse: its registration leaves the values alone)."""

    def forward(self, x):
        from torch.nn.utils import parametrize

        out = super().forward(x)
        parametrize.register_parametrization(self.lin, "weight", Scaled())
        return out


def test_a_parametrization_removed_and_registered_again_is_told_by_what_wrote():
    """Removing a parametrization (leave_parametrized=True: one version, a write) and registering one
    again on the same weight (one version more, no write) added up to a version count neither
    explained alone: a method, whose data reference puts the values back, failed with
    "modified parameter(s) lin.parametrizations.weight.original in place" though the model came back
    as found, and a forward's error named an in-place write instead of the removal. Both are counted
    together now."""
    def run(model, x):
        return model(x)

    model = Reparametrizes(True)
    cls, plists, found = type(model.lin), {"weight": model.lin.parametrizations.weight}, snapshot(model)
    report = torchcount.profile(model, torch.randn(2, 3), method=run)
    _parametrized_as_found(model, cls, plists, found)
    assert any("registered parametrization(s) (torch.nn.utils.parametrize) on lin.weight" in note
               for note in report.notes)
    with pytest.raises(ParameterModifiedError, match=r"^the forward pass removed the parametrization on lin.weight "
                                                     r"\(torch.nn.utils.parametrize.remove_parametrizations; put back\)"):
        torchcount.profile(Reparametrizes(True), torch.randn(2, 3))
    model = Reparametrizes(False)  # (no write at all: nothing to say but the notes)
    found = snapshot(model)
    torchcount.profile(model, torch.randn(2, 3))
    assert snapshot(model) == found


class _TaggedHook:
    """A forward pre-hook of a class of its own (as the legacy weight_norm's WeightNorm), found by its type."""

    def __init__(self, tag: str):
        self.tag = tag
        self.calls = 0

    def __call__(self, module, args):
        self.calls += 1


class LooksUpItsHook(nn.Module):
    """A forward that looks its layer's hook up by type and attribute, as remove_weight_norm does."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 3)
        self.hook = _TaggedHook("scale")
        self.lin.register_forward_pre_hook(self.hook)

    def forward(self, x):
        found = [hook for hook in self.lin._forward_pre_hooks.values()
                 if isinstance(hook, _TaggedHook) and hook.tag == "scale"]
        if len(found) != 1:
            raise ValueError("hook 'scale' not found")
        return self.lin(x)


@pytest.mark.parametrize("options", [{}, {"measure": True, "warmup": 1, "repeat": 2}], ids=["counted", "measured"])
def test_a_forward_that_looks_its_hooks_up_by_type_finds_them(options):
    """While profiling (and timing), a module's own hooks are wrapped to close its call on a
    KeyboardInterrupt; the wrapper was a closure, so a forward that looks a hook up by its type
    (``remove_weight_norm``, ``remove_spectral_norm``: "weight_norm of 'weight' not found") failed
    under the profile only. The wrapper passes for the hook: its class, its attributes."""
    model = LooksUpItsHook()
    torchcount.profile(model, torch.randn(2, 3), warn=False, **options)
    assert model.hook.calls >= 1 and list(model.lin._forward_pre_hooks.values()) == [model.hook]


def test_a_legacy_weight_norm_a_forward_removes_is_not_a_failure():
    """remove_weight_norm in a forward (a fold before inference) found no WeightNorm among the
    wrapped hooks and failed the profile, which the same forward without it did not."""
    model = nn.Sequential(nn.utils.weight_norm(nn.Linear(3, 3)))

    class Folds(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = model

        def forward(self, x):
            nn.utils.remove_weight_norm(self.body[0])
            return self.body(x)

    torchcount.profile(Folds(), torch.randn(2, 3), warn=False)


class FoldsLegacyNorm(nn.Module):
    """A forward that folds its layer's legacy (hook-based) weight norm or spectral norm
    (``remove_weight_norm``: the hook removed, weight_g / weight_v replaced by a plain weight)."""

    def __init__(self, spectral: bool):
        super().__init__()
        torch.manual_seed(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # (torch.nn.utils.weight_norm is deprecated)
            self.lin = (nn.utils.spectral_norm if spectral else nn.utils.weight_norm)(nn.Linear(3, 3))
        self.spectral = spectral

    def forward(self, x):
        (nn.utils.remove_spectral_norm if self.spectral else nn.utils.remove_weight_norm)(self.lin)
        return self.lin(x)


@pytest.mark.parametrize("options", [{}, {"measure": True, "warmup": 1, "repeat": 2}, {"method": lambda m, x: m(x)}],
                         ids=["counted", "measured", "method"])
@pytest.mark.parametrize("spectral", [False, True], ids=["weight_norm", "spectral_norm"])
@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
def test_a_legacy_norm_the_forward_folds_is_put_back_with_its_hook(options, spectral, training):
    """Folding a legacy weight norm in the forward (remove_weight_norm, remove_spectral_norm) removes
    its hook, deletes the weight it computed (a plain attribute) and replaces weight_g / weight_v
    with a parameter ``weight``. The slots were put back, the hook was not: the layer was left with
    neither, ``model.lin.weight`` raised AttributeError and its next forward failed. The hook (and
    spectral norm's state_dict hook) removed from a module whose slots are put back come back with
    them, with the weight it had computed (the same tensor), and a note."""
    model = FoldsLegacyNorm(spectral).train(training)
    reference = FoldsLegacyNorm(spectral).train(training)
    hooks, weight = dict(model.lin._forward_pre_hooks), model.lin.weight
    state_hooks, found = dict(model.lin._state_dict_hooks), snapshot(model)
    report = torchcount.profile(model, torch.randn(2, 3), warn=False, **options)
    assert snapshot(model) == found
    assert dict(model.lin._forward_pre_hooks) == hooks and dict(model.lin._state_dict_hooks) == state_hooks
    assert model.lin.weight is weight
    assert any("removed hook(s) of module(s) whose parameter/buffer slots it changed" in note
               and "lin (forward pre-hook)" in note for note in report.notes), report.notes
    x = torch.randn(2, 3)
    assert torch.equal(model(x), reference(x))  # (each folds now, as the first forward does)
    assert model.lin.state_dict().keys() == reference.lin.state_dict().keys()


def _attention_switches() -> tuple:
    b = torch.backends
    return (b.cuda.flash_sdp_enabled(), b.cuda.mem_efficient_sdp_enabled(), b.cuda.math_sdp_enabled(),
            b.mha.get_fastpath_enabled(), b.mkldnn.deterministic)


@needs("torch.nn.attention.sdpa_kernel, the MHA fast-path switch and oneDNN's deterministic flag")
def test_attention_kernel_switches_the_forward_leaves_are_put_back():
    """A forward that switches scaled-dot-product attention's kernels off for itself (an ``sdpa_kernel``
    region entered and never left, ``enable_flash_sdp(False)``), nn.MultiheadAttention's fast path
    off, or oneDNN's deterministic mode on, left them so in the caller's process: torch.backends'
    flags were put back, these were not read. They are put back too, with a note naming them."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    class Switches(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 4)
            self.regions: list = []

        def forward(self, x):
            region = sdpa_kernel(SDPBackend.MATH)  # (flash and memory-efficient off)
            region.__enter__()
            self.regions.append(region)
            torch.backends.mha.set_fastpath_enabled(False)
            torch.backends.mkldnn.deterministic = True
            q = self.lin(x).unsqueeze(0)
            return nn.functional.scaled_dot_product_attention(q, q, q)

    found = _attention_switches()
    assert found == (True, True, True, True, False)
    with _flags_mutable():
        report = torchcount.profile(Switches(), torch.randn(3, 4))
    assert _attention_switches() == found
    note = next(note for note in report.notes if note.startswith("the forward changed torch's process-wide"))
    for name in ("torch.backends.cuda.enable_flash_sdp", "torch.backends.cuda.enable_mem_efficient_sdp",
                 "torch.backends.mha.set_fastpath_enabled", "torch.backends.mkldnn.deterministic"):
        assert name in note


def test_a_hook_wrapped_while_profiling_copies_and_pickles_as_the_hook():
    """A copy of a module's hook made in the forward (copy.deepcopy, pickle) is a copy of the hook
    itself, as outside the profile: the wrapper that passes for a hook while profiling recursed
    without end in deepcopy (its attribute lookup asked itself for the hook it had not yet got)."""
    import pickle

    class CopiesItsHooks(LooksUpItsHook):
        def forward(self, x):
            found = next(hook for hook in self.lin._forward_pre_hooks.values() if isinstance(hook, _TaggedHook))
            for copied in (copy.deepcopy(found), copy.copy(found), pickle.loads(pickle.dumps(found))):
                assert type(copied) is _TaggedHook and copied.tag == "scale"
            return super().forward(x)

    model = CopiesItsHooks()
    torchcount.profile(model, torch.randn(2, 3), warn=False)
    assert list(model.lin._forward_pre_hooks.values()) == [model.hook]


def _hook_of_yours(module, args):
    return None


class MakesACopy(nn.Module):
    """A forward that makes an EMA copy of its body on its first call (copy.deepcopy) and a shallow
    copy of it; the body has a hook of the user's."""

    def __init__(self, hooked: bool):
        super().__init__()
        self.body = nn.Linear(3, 3)
        if hooked:
            self.body.register_forward_pre_hook(_hook_of_yours)

    def forward(self, x):
        if not hasattr(self, "ema"):
            self.ema = copy.deepcopy(self.body)
            object.__setattr__(self, "shallow", copy.copy(self.body))  # (outside the module tree)
        return self.body(x) + self.ema(x)


@pytest.mark.parametrize("options", [{}, {"measure": True, "warmup": 1, "repeat": 2}], ids=["counted", "measured"])
@pytest.mark.parametrize("hooked", [False, True], ids=["plain", "hooked"])
def test_a_copy_of_a_module_made_in_the_forward_is_a_copy_as_found(options, hooked):
    """A copy of a submodule made in the forward (an EMA or teacher copy, copy.deepcopy) copied the
    recording wrapper in the module's __dict__, bound to the original: the copy ran the original's
    forward with the original's weights, during the profile and for good after it (and a module with
    hooks of its own could not be deep-copied at all: our hooks among them held the recorder). A copy
    made meanwhile is one of the module as found: its own forward, its own hooks, none of ours."""
    model, x = MakesACopy(hooked), torch.randn(2, 3)
    torchcount.profile(model, x, warn=False, **options)
    assert "__deepcopy__" not in vars(nn.Module) and "__copy__" not in vars(nn.Module)
    assert nn.Linear not in copyreg.dispatch_table and MakesACopy not in copyreg.dispatch_table
    hooks = [_hook_of_yours] if hooked else []
    for made in (model.ema, model.shallow, model.body):
        assert "forward" not in vars(made)
        assert list(made._forward_pre_hooks.values()) == hooks and not made._forward_hooks
    with torch.no_grad():
        model.ema.weight.zero_()
        model.ema.bias.zero_()
    assert torch.equal(model.ema(x), torch.zeros(2, 3))  # (its own weights, not the body's)


class SavesItsHead(nn.Module):
    """A forward that saves its head with torch.save (a checkpoint of one part) and loads it back."""

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(3, 2)
        self.loaded: list = []

    def forward(self, x):
        buffer = io.BytesIO()
        torch.save(self.head, buffer)
        buffer.seek(0)
        self.loaded.append(torch.load(buffer, weights_only=False))
        return self.head(x)


@pytest.mark.parametrize("options", [{}, {"measure": True, "warmup": 1, "repeat": 2}], ids=["counted", "measured"])
def test_a_module_saved_in_the_forward_is_saved_as_found(options):
    """torch.save of a submodule inside a profiled forward failed (the recording wrapper in its
    __dict__, a closure, cannot be pickled): it pickles as found, its own forward, its weights."""
    model = SavesItsHead()
    torchcount.profile(model, torch.randn(2, 3), **options)
    for loaded in model.loaded:
        assert "forward" not in vars(loaded) and torch.equal(loaded.weight, model.head.weight)
    assert nn.Linear not in copyreg.dispatch_table


def test_a_module_class_with_a_reducer_of_its_own_keeps_it():
    """A class the user registered with copyreg keeps its reducer during and after a profile (its copies
    made meanwhile are not helped); the others are taken out of the table again."""
    class Own(nn.Linear):
        pass

    def reducer(module):
        return module.__reduce_ex__(4)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.own, self.lin = Own(3, 3), nn.Linear(3, 3)
            self.seen: list = []

        def forward(self, x):
            self.seen.append((copyreg.dispatch_table.get(Own), nn.Linear in copyreg.dispatch_table))
            return self.lin(self.own(x))

    copyreg.dispatch_table[Own] = reducer
    try:
        model = Net()
        torchcount.profile(model, torch.randn(2, 3))
        assert model.seen == [(reducer, True)]
        assert copyreg.dispatch_table[Own] is reducer and nn.Linear not in copyreg.dispatch_table
    finally:
        del copyreg.dispatch_table[Own]


class _LiveState(nn.Linear):
    """A module class whose __getstate__ returns the instance's own __dict__ (not a copy)."""

    def __getstate__(self):
        return self.__dict__


class CopiesALiveStateLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.live = _LiveState(3, 3)
        self.handle = self.live.register_forward_hook(_hook_after)

    def forward(self, x):
        self.ema = copy.deepcopy(self.live)
        return self.live(x)


def _hook_after(module, args, output):
    return None


@pytest.mark.parametrize("options", [{}, {"measure": True, "warmup": 1, "repeat": 2}], ids=["counted", "measured"])
def test_a_copy_of_a_module_whose_state_is_its_own_dict_leaves_the_module_alone(options):
    """A class whose __getstate__ returns the live __dict__: the reducer that makes copies as found edited
    that dict itself, so a copy in the forward took the recording wrapper off the original (its call went
    unrecorded: 0 calls) and swapped its hook dicts for new ones (the user's handle then removed nothing)."""
    model = CopiesALiveStateLayer()
    hooks = model.live._forward_hooks
    report = torchcount.profile(model, torch.randn(2, 3), warn=False, **options)
    assert report.row("live").calls == 1
    assert model.live._forward_hooks is hooks and list(hooks.values()) == [_hook_after]
    assert "forward" not in vars(model.ema) and list(model.ema._forward_hooks.values()) == [_hook_after]
    model.handle.remove()
    assert not model.live._forward_hooks


class CopiesAParametrizedBody(nn.Module):
    """A forward that makes an EMA copy of a body whose layers are parametrized (weight_norm, as audio
    generators have; orthogonal), one with a hook of the user's, and a copy of one such layer alone."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.utils.parametrizations.weight_norm(nn.Linear(3, 3)),
                                  nn.utils.parametrizations.orthogonal(nn.Linear(3, 3)))
        self.body[0].register_forward_pre_hook(_hook_of_yours)

    def forward(self, x):
        if not hasattr(self, "ema"):
            self.ema = copy.deepcopy(self.body)
            object.__setattr__(self, "alone", copy.deepcopy(self.body[1]))  # (outside the module tree)
        return self.body(x) + self.ema(x)


@pytest.mark.parametrize("options", [{}, {"measure": True, "warmup": 1, "repeat": 2}], ids=["counted", "measured"])
def test_a_copy_of_a_parametrized_module_made_in_the_forward_is_a_copy_as_found(options):
    """A parametrized module's class (made by torch.nn.utils.parametrize) has a __deepcopy__ of its own,
    which copies the module's __dict__ as it is: a copy made in the forward, alone or within a plain parent,
    held the recording wrapper bound to the original and ran the original's forward and weights, for good
    (and our hooks, with the recorder, among its own). It is a copy as found now; the class's __deepcopy__
    is parametrize's again after the profile."""
    model, x = CopiesAParametrizedBody(), torch.randn(2, 3)
    own = [type(layer).__dict__["__deepcopy__"] for layer in model.body]
    torchcount.profile(model, x, warn=False, **options)
    assert [type(layer).__dict__["__deepcopy__"] for layer in model.body] == own
    for made, found in ((model.ema[0], model.body[0]), (model.ema[1], model.body[1]), (model.alone, model.body[1])):
        assert "forward" not in vars(made) and type(made) is type(found)
        assert list(made._forward_pre_hooks.values()) == list(found._forward_pre_hooks.values())
        assert not made._forward_hooks
    assert list(model.ema[0]._forward_pre_hooks.values()) == [_hook_of_yours]
    with torch.no_grad():  # (their own weights: weight_norm's magnitude, orthogonal's bias)
        model.ema[0].parametrizations.weight.original0.zero_()
        model.ema[0].bias.zero_()
        model.alone.bias.fill_(5.0)
    assert torch.equal(model.ema[0](x), torch.zeros(2, 3))
    assert torch.allclose(model.alone(x) - model.body[1](x), torch.full((2, 3), 5.0) - model.body[1].bias)
