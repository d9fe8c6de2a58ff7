"""Guarantee 5: two threads profiling two different models at once get correct, unmixed
reports. Capture state lives in the per-profile recorder and in per-module hooks; the op
recorder is a TorchDispatchMode, and torch keeps the dispatch-mode stack per thread
(checked directly below), so one thread's ops never land in the other's trace."""
import threading

import pytest

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode, _get_current_dispatch_mode_stack

import torchcount


def test_dispatch_modes_are_thread_local():
    """The premise: a mode entered in one thread is not active in another."""
    entered, checked = threading.Event(), threading.Event()
    seen = {}

    class Mode(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            return func(*args, **(kwargs or {}))

    def other():
        entered.wait(10)
        seen["stack"] = list(_get_current_dispatch_mode_stack())
        checked.set()

    t = threading.Thread(target=other)
    t.start()
    with Mode():
        entered.set()
        checked.wait(10)
    t.join()
    assert seen["stack"] == []


class Functional(nn.Module):
    """No module rule: priced from the aten ops it runs itself (the op recorder is on)."""

    def __init__(self, n: int, k: int, depth: int):
        super().__init__()
        self.weights = nn.ParameterList(nn.Parameter(torch.randn(n if i == 0 else k, k)) for i in range(depth))

    def forward(self, x):
        for w in self.weights:
            x = torch.mm(x, w)
        return x


def _expected(rows, n, k, depth):
    return rows * n * k + (depth - 1) * rows * k * k


def test_two_threads_two_models_unmixed():
    specs = {"a": (3, 5, 7, 6), "b": (2, 11, 4, 9)}  # rows, n, k, depth
    models = {name: Functional(n, k, d) for name, (rows, n, k, d) in specs.items()}
    reports, errors = {name: [] for name in specs}, []
    start = threading.Barrier(len(specs))

    def work(name):
        rows, n, k, d = specs[name]
        try:
            start.wait(10)
            for _ in range(15):
                reports[name].append(torchcount.profile(models[name], torch.randn(rows, n), warn=False))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(name,)) for name in specs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for name, (rows, n, k, d) in specs.items():
        assert len(reports[name]) == 15
        for r in reports[name]:
            assert r.total.macs == _expected(rows, n, k, d)
            assert r.total.params == n * k + (d - 1) * k * k
            assert r.complete
            assert r.root.self_cost.macs == _expected(rows, n, k, d)
        assert all(not m._forward_hooks and not m._forward_pre_hooks for m in models[name].modules())


def test_threads_with_module_rules_and_layers():
    def convnet(c):
        return nn.Sequential(nn.Conv2d(3, c, 3), nn.ReLU(), nn.Flatten(), nn.Linear(c * 6 * 6, 10))

    specs = {"narrow": 4, "wide": 16}
    out, errors = {}, []
    barrier = threading.Barrier(2)

    def work(name):
        try:
            barrier.wait(10)
            out[name] = [torchcount.profile(convnet(specs[name]), torch.randn(2, 3, 8, 8)) for _ in range(5)]
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in specs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for name, c in specs.items():
        conv_macs = 2 * c * 3 * 3 * 3 * 6 * 6  # N·k·c·kh·kw·out_h·out_w
        lin_macs = 2 * c * 36 * 10
        for r in out[name]:
            assert [row.path for row in r.layers] == ["0", "1", "2", "3"]
            assert r.row("0").macs == conv_macs
            assert r.row("3").macs == lin_macs
            assert r.total.macs == conv_macs + lin_macs


def test_the_same_model_profiled_twice_at_once_is_a_clear_error():
    """Two captures hooking the same modules would record each other's calls: refused."""
    inner_error = []

    class Reentrant(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 3)

        def forward(self, x):
            if not inner_error:
                try:
                    torchcount.profile(self, x)
                except RuntimeError as exc:
                    inner_error.append(exc)
            return self.lin(x)

    model = Reentrant()
    report = torchcount.profile(model, torch.randn(2, 3))
    assert "already being profiled" in str(inner_error[0])
    assert report.total.macs == 2 * 3 * 3
    assert torchcount.profile(model, torch.randn(2, 3)).total.macs == 2 * 3 * 3  # released afterwards


def test_two_models_sharing_a_submodule_cannot_be_profiled_at_once():
    shared = nn.Linear(3, 3)
    other = nn.Sequential(nn.ReLU(), shared)
    seen = []

    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.shared = shared

        def forward(self, x):
            try:
                torchcount.profile(other, x)
            except RuntimeError as exc:
                seen.append(str(exc))
            return self.shared(x)

    report = torchcount.profile(Outer(), torch.randn(2, 3))
    assert "module '1' of Sequential is already being profiled, as 'shared' of Outer" in seen[0]
    assert report.total.macs == 2 * 3 * 3


def test_a_torchscript_submodule_profiled_while_its_holder_is_is_named_by_its_own_path():
    """A TorchScript Linear held as 'enc' of an eager model, profiled from inside that model's profiled
    forward: refused, the clash named as the scripted module's own root, '(root)' of RecursiveScriptModule,
    held as 'enc' of Outer — not by the path of torchcount's stand-in around it ('scripted'), which taking
    the stand-in's module list survived a profile.py mutant."""
    seen = []

    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = torch.jit.script(nn.Linear(3, 3))

        def forward(self, x):
            try:
                torchcount.profile(self.enc, x)
            except RuntimeError as exc:
                seen.append(str(exc))
            return self.enc(x)

    torchcount.profile(Outer(), torch.randn(2, 3))
    assert "module '(root)' of RecursiveScriptModule is already being profiled, as 'enc' of Outer" in seen[0], seen


class _Residual(nn.Module):
    """A block without a rule (its own add is recorded) around ruled children: op recording
    is switched off and on around each child."""

    def __init__(self, fail: bool = False):
        super().__init__()
        self.lin, self.act, self.fail = nn.Linear(4, 4), nn.ReLU(), fail

    def forward(self, x):
        y = self.act(self.lin(x))
        if self.fail:
            raise ValueError("boom")
        return x + y


class _Counting(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(func.overloadpacket.__name__)
        return func(*args, **(kwargs or {}))


@pytest.fixture
def no_mode_flag(monkeypatch):
    """torch's "a dispatch mode is active" flag is process-wide Python state, which the thread
    tests above can leave set: start from False, and restore it afterwards."""
    from torch.utils import _python_dispatch as pd
    monkeypatch.setattr(pd, "_is_in_torch_dispatch_mode", False, raising=False)  # (torch >= 2.3 has it)
    return pd


def _no_mode_left(pd):
    return torch._C._len_torch_dispatch_stack() == 0 and getattr(pd, "_is_in_torch_dispatch_mode", False) is False


def test_op_recording_leaves_no_dispatch_mode_behind_also_when_the_forward_raises(no_mode_flag):
    model = nn.Sequential(_Residual(), _Residual())
    report = torchcount.profile(model, torch.randn(2, 4))
    assert report.row("0").self_cost.adds == 2 * 4 and report.complete
    assert _no_mode_left(no_mode_flag)
    with pytest.raises(torchcount.ForwardError, match="boom"):
        torchcount.profile(nn.Sequential(_Residual(), _Residual(fail=True)), torch.randn(2, 4))
    assert _no_mode_left(no_mode_flag)


def test_a_users_dispatch_mode_around_profile_stays_on_and_sees_every_op(no_mode_flag):
    model = nn.Sequential(_Residual(), _Residual())
    with _Counting() as outer:
        report = torchcount.profile(model, torch.randn(2, 4))
        assert _get_current_dispatch_mode_stack() == [outer]
    assert outer.ops.count("addmm") == 2 and outer.ops.count("relu") == 2 and outer.ops.count("add") == 2
    assert report.row("1").self_cost.adds == 2 * 4
    assert _no_mode_left(no_mode_flag)


def test_a_mode_pushed_inside_the_forward_is_left_alone(no_mode_flag):
    class PushesAMode(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = _Residual()
            self.seen = None

        def forward(self, x):
            with _Counting() as inner:
                y = self.block(x) * 2
            self.seen = inner.ops
            return y

    model = PushesAMode()
    report = torchcount.profile(model, torch.randn(2, 4))
    assert model.seen.count("addmm") == 1 and model.seen.count("mul") == 1
    assert report.row("").self_cost.mults == 2 * 4 and report.row("block").self_cost.adds == 2 * 4
    assert report.total.macs == 2 * 4 * 4
    assert _no_mode_left(no_mode_flag)


def test_another_thread_calling_the_model_meanwhile_runs_it_unrecorded():
    """The wrappers are on the model's modules, so a plain forward of the same model in another
    thread passes through them while a profile is open: it runs as usual and is not recorded
    (it used to crash on the profiling thread's dispatch-mode switches, and add its calls)."""
    inside, go = threading.Event(), threading.Event()

    class Holds(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 4)

        def forward(self, x):
            if threading.current_thread().name == "profiling":
                inside.set()
                go.wait(10)  # the profile stays open while the main thread runs the model
            return self.lin(x) + 1

    model, x = Holds(), torch.randn(2, 4)
    expected = model(x)
    found = {}

    def work():
        found["report"] = torchcount.profile(model, x)

    t = threading.Thread(target=work, name="profiling")
    t.start()
    assert inside.wait(10)
    try:
        plain = model(x)  # the other thread's call, meanwhile
    finally:
        go.set()
        t.join()
    assert torch.equal(plain, expected)
    report = found["report"]
    assert report.row("lin").calls == 1
    assert report.total.macs == 2 * 4 * 4 and report.row("").self_cost.adds == 2 * 4
    assert "forward" not in model.__dict__ and "forward" not in model.lin.__dict__


def test_submodules_the_forward_runs_in_a_thread_pool_are_reported_as_not_counted():
    """The capture records the profiling thread only. Submodules the forward hands to worker
    threads used to be rows of 0 called "never called", with coverage complete: a silent 0."""
    from concurrent.futures import ThreadPoolExecutor

    class Ensemble(nn.Module):
        def __init__(self, pool):
            super().__init__()
            self.a, self.b, self.pool = nn.Linear(64, 64), nn.Linear(64, 64), pool

        def forward(self, x):
            fa, fb = self.pool.submit(self.a, x), self.pool.submit(self.b, x)
            return fa.result() + fb.result()

    with ThreadPoolExecutor(2) as pool:
        model = Ensemble(pool)
        with pytest.warns(torchcount.UncountedWarning, match="another thread"):
            report = torchcount.profile(model, torch.randn(4, 64))
    assert sorted((u.path, u.type, u.calls) for u in report.uncounted) == [("a", "Linear", 1), ("b", "Linear", 1)]
    assert not report.complete and report.coverage == pytest.approx(1 / 3)  # the root's add counted, a and b not
    assert report.total.cost.adds == 4 * 64 and report.total.macs == 0  # only what the profiling thread ran
    assert [report.row(p).status for p in "ab"] == ["partial", "partial"]
    assert any("called in another thread" in n and "a, b" in n for n in report.notes)
    assert not any(n.startswith("never called") for n in report.notes)
    assert "not called in the profiling thread" in report.explain("a")
    assert "forward" not in model.a.__dict__ and "forward" not in model.b.__dict__
