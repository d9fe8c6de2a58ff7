"""Measurement edge cases found by an audit against torch.profiler (per-layer times agreed on
ResNet-18, an MLP with a shared Linear, LSTMs, an eval TransformerEncoder, residual blocks). Each
test checks structure or an invariant, never a speed: where a time matters it comes from a
``time.sleep`` (a guaranteed lower bound) placed where the attribution is decided."""

from __future__ import annotations

import functools
import re
import time

import pytest
import torch
from torch import nn

import torchcount
from torchcount.measure import Peaks, details

FAST = dict(warmup=1, repeat=3)


pytestmark = pytest.mark.usefixtures("one_thread")  # (conftest.py)


class Sleep(nn.Module):
    def __init__(self, ms: float):
        super().__init__()
        self.ms = ms

    def forward(self, x):
        time.sleep(self.ms / 1e3)
        return x


# ---- F1: time_vs_flops flags the children a rule covers ---------------------------------------
def test_time_vs_flops_does_not_flag_children_covered_by_a_rule():
    """F1. A rule prices the whole block; its children are 'covered' (0 own FLOPs by design) and do
    the block's work. time_vs_flops compared their self time with those 0 FLOPs and reported them as
    'time share ≫ FLOPs share' (while the block, holding all the FLOPs, looked fast)."""
    from torchcount.cost import Cost, Term
    from torchcount.rules import registry

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.slow = nn.Linear(64, 64), Sleep(3)

        def forward(self, x):
            return self.slow(torch.relu(self.fc1(x)))

    @torchcount.module_rule(Block)
    def block_rule(m, call):
        rows = call.input.shape[0]
        return Cost.of(Term("macs", "one linear", "rows·64·64", rows * 4096, rows * 4096))

    try:
        model = nn.Sequential(Block(), nn.ReLU())
        report = torchcount.profile(model, torch.randn(32, 64), measure=True, **FAST)
    finally:
        registry._MODULE_RULES.pop(Block, None)
        registry._lookup_cache.pop(Block, None)
    assert report.row("0.slow").status == "covered"
    # the block's time is its own tree's work, the covered child's calls in it (stamps nest: in each pass
    # the block's span holds its child's); not the block less its covered child, as for a call made outside it
    per_layer = report.extra["per_layer"]
    assert all(b >= s for b, s in zip(per_layer["0"]["inclusive_ns"], per_layer["0.slow"]["inclusive_ns"]))
    assert report.row("0").extra["time_ms"] >= report.row("0.slow").extra["time_ms"] > 0
    flagged = {t["path"] for t in report.extra["time_vs_flops"]}
    assert not flagged & {"0.fc1", "0.slow"}, report.extra["time_vs_flops"]


# ---- F2: inputs the forward changes are not refreshed unless an input is a stateful object ----
class InPlaceInput(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 8)
        self.seen: list[float] = []

    def forward(self, x):
        self.seen.append(float(x.sum()))
        x.mul_(2.0)  # changes its input
        return self.lin(x)


class ListCache(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 8)
        self.seen: list[int] = []

    def forward(self, x, cache: list):
        self.seen.append(len(cache))
        cache.append(x)  # a plain-list cache that grows
        return self.lin(torch.cat(cache))


def test_every_measured_pass_sees_the_inputs_as_given_tensor_changed_in_place():
    """F2. Only stateful *objects* were copied afresh per pass; a tensor the forward modifies in
    place was the same tensor in every pass (values ×2 each pass here: 8, 16, 32, …)."""
    model = InPlaceInput()
    torchcount.profile(model, torch.ones(1, 8), measure=True, **FAST)
    assert set(model.seen) == {8.0}, model.seen


def test_every_measured_pass_sees_the_inputs_as_given_list_appended_to():
    """F2. A list input the forward appends to grew pass after pass (0, 1, 2, …): the timed work
    grows with it while the counted work is that of the first call."""
    model = ListCache()
    torchcount.profile(model, (torch.ones(2, 8), []), measure=True, **FAST)
    assert set(model.seen) == {0}, model.seen


# ---- F3: an exception caught inside the forward is remembered as 'the' failing module ---------
class Fast(nn.Module):
    def forward(self, x):
        raise NotImplementedError("no fast kernel for this input")


class BreaksFrom(nn.Module):
    def __init__(self, ok: int):
        super().__init__()
        self.ok, self.n = ok, 0

    def forward(self, x):
        self.n += 1
        if self.n > self.ok:
            raise ValueError(f"call {self.n}")
        return x


class WithFallback(nn.Module):
    def __init__(self, ok: int):
        super().__init__()
        self.fast, self.slow, self.breaks = Fast(), nn.Linear(8, 8), BreaksFrom(ok)

    def forward(self, x):
        try:
            y = self.fast(x)
        except NotImplementedError:  # a fallback: a normal, handled exception
            y = self.slow(x)
        return self.breaks(y)


# ok=2: fails in the first hooked (warm-up) pass; ok=9: fails in the memory pass (the counting pass,
# 2 warm-up and 6 timed passes before it)
@pytest.mark.parametrize("ok", [2, 9])
def test_failing_module_is_not_one_whose_exception_was_handled(ok):
    """F3. The timing hook (and the memory hook) keep the first module whose forward hook ran while
    an exception was being handled, even when the forward caught it; the ForwardError then names
    'fast' instead of 'breaks'."""
    with pytest.raises(torchcount.ForwardError) as e:
        torchcount.profile(WithFallback(ok), torch.randn(2, 8), measure=True, **FAST)
    assert e.value.path == "breaks", str(e.value)


def test_cuda_memory_tracker_stays_balanced_when_a_child_raises_and_is_caught(monkeypatch):
    """F3 (CUDA path, with a fake allocator). The memory post-hook returns before tracker.exit()
    when a module raises; when the parent catches the exception, every later exit pops the wrong
    frame and the root's frame is left on the stack."""
    from torchcount.measure import memory
    from torchcount.measure.memory import PeakTracker

    trackers = []

    def fake_tracker(device):
        t = PeakTracker(lambda: 0, lambda: 0, lambda: None)
        trackers.append(t)
        return t

    monkeypatch.setattr(memory, "cuda_tracker", fake_tracker)
    model = WithFallback(ok=10)
    with torch.no_grad(), memory.memory_hooks(model, torch.device("cuda")) as results:
        model(torch.randn(2, 8))
    assert trackers[0]._stack == []
    assert memory.FAILED_IN not in results  # the forward did not fail


# ---- F4: a user's forward hook is timed in the module but counted in its parent ---------------
def test_a_users_forward_hook_is_timed_where_it_is_counted():
    """F4. What a module's own forward hooks compute is counted in its row (capture._HookWatch), and
    timed there: its span opens before its pre-hooks and closes after its forward hooks, so its GFLOP/s
    divides the FLOPs counted there by the time they took. It was the parent's, in both."""
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU())
    model[0].register_forward_pre_hook(lambda m, args: time.sleep(0.02))
    model[0].register_forward_hook(lambda m, args, out: (time.sleep(0.02), out * 2)[1])
    report = torchcount.profile(model, torch.randn(2, 8), measure=True, **FAST)
    assert report.row("0").cost.mults == 2 * 8  # the forward hook's doubling, counted in the Linear's row
    assert details(report, "0")["inclusive_ms"] >= 40.0  # both hooks' sleeps, timed there too
    assert details(report, "")["exclusive_ms"] < 20.0


# ---- F6: coverage is a share but can exceed 100 % ---------------------------------------------
class CostlyWhenHooked(nn.Module):
    """Stands for per-call stamping overhead: only instrumented passes pay it (they wrap the
    module's forward in its instance ``__dict__``)."""

    def forward(self, x):
        if "forward" in self.__dict__:
            time.sleep(0.005)
        return x + 1


def test_coverage_is_at_most_one():
    """F6. coverage = Σ leaf exclusive (instrumented passes) ÷ forward without hooks: hook overhead
    inside the leaves pushes it above 100 % (101–116 % seen on an LSTM); a share must compare
    like with like (Σ leaf ÷ root of the same instrumented passes)."""
    r = torchcount.profile(nn.Sequential(CostlyWhenHooked(), nn.ReLU()), torch.randn(4, 4), measure=True, **FAST)
    assert r.extra["time_coverage"] <= 1.0


def test_meta_inputs_measured_are_a_clear_error():
    """A parameter-less model with a meta input failed with a raw NotImplementedError ('Cannot copy
    out of meta tensor'); now a ValueError that says what to give instead."""
    with pytest.raises(ValueError, match="an input is on the meta device"):
        torchcount.profile(nn.ReLU(), torch.randn(2, 8, device="meta"), measure=True, device="cpu", repeat=2)


def test_meta_measured_says_what_is_on_the_meta_device():
    """Without device=, a parameter-less model with a meta input was said to be 'on the meta device';
    device='meta' for a CPU model said to move the model there, and device='cpu' for a meta model to
    move it to the CPU (which fails: a meta tensor has no values to copy)."""
    with pytest.raises(ValueError, match="an input is on the meta device"):
        torchcount.profile(nn.ReLU(), torch.randn(2, 8, device="meta"), measure=True, repeat=2)
    with pytest.raises(ValueError, match="device='meta' has no time"):
        torchcount.profile(nn.Linear(8, 8), torch.randn(2, 8), measure=True, device="meta", repeat=2)
    with pytest.raises(ValueError, match="the model is on the meta device"):
        torchcount.profile(nn.Linear(8, 8, device="meta"), torch.randn(2, 8), measure=True, device="cpu", repeat=2)


def test_ceiling_gives_a_peak_to_rows_of_another_dtype(monkeypatch):
    """ceiling=True measured the matmul/conv rate for the model's dtype only; a float32 row of a
    bfloat16 model got bound 'unknown' and was told to 'use ceiling=True'."""
    import torchcount.measure as tm
    from torchcount.measure.ceiling import measure_ceiling

    monkeypatch.setattr(tm, "measure_ceiling", functools.partial(measure_ceiling, n=128, copy_bytes=1 << 22, repeat=2))

    class Mixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(64, 64).to(torch.bfloat16)
            self.head = nn.Linear(64, 64)  # float32

        def forward(self, x):
            return self.head(self.fc(x).float())

    r = torchcount.profile(Mixed(), torch.randn(32, 64, dtype=torch.bfloat16), measure=True, ceiling=True, **FAST)
    head = details(r, "head")
    assert head["dtype"] == "float32"
    assert head["peak_flops"] is not None and head["bound"] != "unknown", head["why"]


def test_rows_under_autocast_are_rated_at_the_dtype_they_computed_in():
    """Under bf16 autocast a float32 model's Linear computes in bf16, yet each row's dtype (and so its
    peak) was its first parameter's: float32. On a GPU with the datasheet table a bf16 matmul runs far
    above the FP32 peak and was flagged 'invalid'; here the same with a toy device whose FP32 peak is
    1 GFLOP/s and BF16 1 PFLOP/s. The row's dtype is now its output's (bfloat16 for the Linear; float32
    for the Embedding, which autocast leaves alone), the model's the one most FLOPs ran in."""
    peaks = Peaks("toy", fp32=1e9, tf32=1e9, bf16=1e15, fp16=1e15, bandwidth=1e15, kind="datasheet")

    class Tokens(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.fc = nn.Embedding(100, 512), nn.Linear(512, 512)

        def forward(self, ids):
            return self.fc(self.emb(ids))

    class Inside(Tokens):  # autocast entered in the model's own forward
        def forward(self, ids):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return super().forward(ids)

    ids = torch.randint(0, 100, (1, 256))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        outside = torchcount.profile(Tokens().eval(), ids, measure=True, peaks=peaks, **FAST)
    inside = torchcount.profile(Inside().eval(), ids, measure=True, peaks=peaks, **FAST)
    for r in (outside, inside):
        fc, emb = details(r, "fc"), details(r, "emb")
        assert (fc["dtype"], fc["peak_flops"]) == ("bfloat16", 1e15)
        assert fc["bound"] != "invalid" and r.row("fc").extra["GFLOP/s"] != "invalid", fc["why"]
        assert (emb["dtype"], emb["peak_flops"]) == ("float32", 1e9)
        # (the peaks line: a "busy CPUs" line on a loaded machine comes before it)
        assert r.extra["dtype"] == "bfloat16" and "BF16" in next(line for line in r.extra["footer"]
                                                               if line.startswith("peaks"))
        assert details(r, "")["peak_flops"] == pytest.approx(1e15)  # (the root: all its FLOPs are the Linear's)
    plain = torchcount.profile(Tokens().eval(), ids, measure=True, peaks=peaks, **FAST)  # no autocast: FP32
    assert (details(plain, "fc")["dtype"], details(plain, "fc")["peak_flops"]) == ("float32", 1e9)
    assert plain.extra["dtype"] == "float32"


def test_every_measured_pass_casts_the_weights_under_autocast_as_the_counted_one_did():
    """Inside one autocast region torch caches a weight's bf16 copy after its first cast, so a second
    forward in the region skips the cast. The counted pass casts (profile starts a fresh region), so
    every measured pass must too, or the passes time less work than the row shows: each forward of a
    Linear(8, 8) under bf16 autocast casts its (8, 8) weight exactly once, counted by a dispatch mode
    the model's own forward enters; warmup 1 + repeat 3 runs more than four forwards."""
    from conftest import CountsWeightCasts

    model = CountsWeightCasts().eval()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model(torch.randn(2, 8))  # (a forward before profile: the region's cache now holds the bf16 weight)
        model.casts.clear()
        r = torchcount.profile(model, torch.randn(2, 8), measure=True, **FAST)
    assert r.row("fc").extra["time_ms"] > 0
    assert len(model.casts) > 4 and set(model.casts) == {1}, model.casts


def _recording_ceiling(monkeypatch):
    """measure's ceiling replaced by one that notes each dtype it is asked for and says 1 GFLOP/s for it."""
    import torchcount.measure as tm

    asked = []

    def fake(device, dtype):
        asked.append(dtype)
        rate = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]
        return Peaks("fake", **{**dict(fp32=None, tf32=None, bf16=None, fp16=None), rate: 1e9}, bandwidth=1e9,
                     source="measured here: fake", kind="measured")

    monkeypatch.setattr(tm, "measure_ceiling", fake)
    return asked


def test_the_ceiling_is_measured_for_the_dtypes_the_model_computes_in_and_no_other(monkeypatch):
    """ceiling=True times its kernels in each floating dtype the model computes in (its parameters' and its
    rows'), twice (before and after the timed passes, the better kept): a float32 Linear alone is timed in
    float32 only, not in bf16 and fp16 too; a parameter-free child that computes in float16 adds float16,
    though no parameter is float16."""
    asked = _recording_ceiling(monkeypatch)
    torchcount.profile(nn.Linear(8, 8), torch.randn(2, 8), measure=True, ceiling=True, **FAST)
    assert asked == [torch.float32, torch.float32]

    class Half(nn.Module):
        def forward(self, x):
            return x.half() * 2

    asked.clear()
    r = torchcount.profile(nn.Sequential(nn.Linear(64, 64), Half()), torch.randn(4, 64), measure=True,
                           ceiling=True, **FAST)
    assert details(r, "1")["dtype"] == "float16"
    assert asked == [torch.float32, torch.float16] * 2


def test_the_cpu_peak_rss_is_this_runs_where_the_kernel_lets_its_mark_be_reset():
    """On Linux the peak resident set's mark is reset before the measured passes (/proc/self/clear_refs),
    so the memory line's peak is this run's, and it says so; where the kernel refuses, the process's."""
    from torchcount.measure.memory import reset_peak_rss

    r = torchcount.profile(nn.Linear(8, 8), torch.randn(2, 8), measure=True, **FAST)
    line = next(line for line in r.extra["footer"] if line.startswith("memory"))
    if reset_peak_rss():
        assert "since this run (peak mark reset before it)" in line, line
    else:
        assert "since the process's start" in line, line


def test_a_module_a_ruled_layers_hook_calls_keeps_its_time_out_of_the_layers():
    """A Linear's forward hook calls a 40 ms Sleep held by the root: the Sleep is a row of its own with its
    40 ms, and the Linear's row — priced whole by its rule, its time that of its own tree's work — is its
    own microseconds, not the 40 ms it waited for a module outside its tree."""
    class Hooked(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.slow = nn.Linear(8, 8), Sleep(40)
            self.fc.register_forward_hook(lambda module, args, out: self.slow(out))

        def forward(self, x):
            return self.fc(x)

    r = torchcount.profile(Hooked(), torch.randn(2, 8), measure=True, warmup=1, repeat=3)
    assert r.row("fc").status == "rule"
    assert r.row("slow").extra["time_ms"] >= 40
    assert r.row("fc").extra["time_ms"] < 20


def test_the_ceiling_kernels_run_in_their_own_dtype_under_autocast(monkeypatch):
    """ceiling=True inside autocast timed the "float32" 3×3 convolution in bf16 (autocast cast it),
    so float32 layers were held to a bf16 ceiling. The kernels now run with autocast off."""
    from torchcount.capture import autocast_dtype
    from torchcount.measure.ceiling import measure_ceiling

    seen = []
    conv2d = torch.nn.functional.conv2d

    def spy(*args, **kwargs):
        out = conv2d(*args, **kwargs)
        seen.append(out.dtype)
        return out

    monkeypatch.setattr(torch.nn.functional, "conv2d", spy)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        peaks = measure_ceiling(torch.device("cpu"), torch.float32, n=64, copy_bytes=1 << 20, repeat=1)
        assert autocast_dtype("cpu") == torch.bfloat16  # (left on for what follows)
    assert seen and set(seen) == {torch.float32}
    assert peaks.fp32 and "float32 matmul" in peaks.source


def test_container_peak_follows_its_contents_not_its_type_name(monkeypatch):
    """The TF32 peak was chosen by ``"Conv" in row.type``: a Sequential (ResNet's BasicBlock,
    layer1, the root) whose every FLOP is a TF32 convolution was rated against the FP32 peak (7.4×
    lower on H100), and a container named 'Conv…' holding only Linears against the TF32 one. A
    row's peak now follows what runs in it: Σ FLOPs ÷ Σ FLOPs/peak of the rows below.
    Simulated on CPU: uses_tf32 as on CUDA with cudnn.allow_tf32 on, matmul TF32 off."""
    import torchcount.measure as tm

    monkeypatch.setattr(tm, "uses_tf32", lambda device, conv=False, rnn=False: conv or rnn)
    peaks = Peaks("fake", fp32=1e12, tf32=8e12, bf16=16e12, fp16=16e12, bandwidth=1e12, kind="datasheet")
    model = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1))
    r = torchcount.profile(model, torch.randn(1, 8, 16, 16), measure=True, peaks=peaks, **FAST)
    assert details(r, "0")["peak_flops"] == 8e12
    assert details(r, "")["peak_flops"] == pytest.approx(8e12)

    class ConvLooking(nn.Sequential):  # a container named like a convolution, holding a Linear
        pass

    mixed = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.Flatten(), ConvLooking(nn.Linear(8 * 16 * 16, 10)))
    r = torchcount.profile(mixed, torch.randn(1, 8, 16, 16), measure=True, peaks=peaks, **FAST)
    assert details(r, "2")["peak_flops"] == pytest.approx(1e12)  # a Linear: FP32 (matmul TF32 off)
    conv, linear = details(r, "0")["flops"], details(r, "2")["flops"]
    assert details(r, "")["peak_flops"] == pytest.approx((conv + linear) / (conv / 8e12 + linear / 1e12))


class Holder(nn.Module):
    def __init__(self, child):
        super().__init__()
        self.child = child

    def forward(self, x):
        return self.child(x)


class CrossCall(nn.Module):
    def __init__(self):
        super().__init__()
        shared = Sleep(3)
        self.p1 = Holder(shared)
        self.p2 = Holder(shared)  # one module in two places: its row is 'p1.child'

    def forward(self, x):
        return self.p2(self.p1(x))


def test_table_rows_do_not_count_a_shared_modules_time_twice():
    """visible_rows replaced a row's figures by its module-tree sums only when the *costs*
    differed; with a zero-cost callee (Dropout, Identity, a sleep, uncounted ops) 'p2' kept its
    inclusive time, which holds the call of 'p1.child' already shown in full in that row."""
    from torchcount.report import visible_rows

    r = torchcount.profile(CrossCall(), torch.randn(2, 4), measure=True, **FAST)
    visible = visible_rows(r.layers, None)
    shown = {row.path: row for row, own in visible}
    assert shown["p1.child"].extra["time_ms"] >= 6.0  # both calls
    p2 = shown["p2"].extra.get("time_ms")
    assert p2 is None or p2 < 3.0
    # (a parent shown as "name (self)" stands for its own time only)
    total = sum(row.shown_extra(own).get("time_ms") or 0.0 for row, own in visible)
    assert total <= r.extra["root_ms"] * 1.01


def test_an_eval_transformer_encoder_measured_unfused_says_so():
    layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, batch_first=True)
    model = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False).eval()
    report = torchcount.profile(model, torch.randn(1, 5, 16), measure=True, **FAST)
    assert any("measured unfused" in n for n in report.notes)
    plain = torchcount.profile(model, torch.randn(1, 5, 16))  # (counting only: nothing was timed)
    assert not any("measured unfused" in n for n in plain.notes)


# ---- a second audit (2026-12-02): the timed span against the counted one ----------------------
class SleepInLinear:
    """A global module forward hook (``register_module_forward_hook``) that sleeps after a Linear."""

    def __init__(self, ms: float):
        self.ms = ms

    def __call__(self, module, args, output):
        if isinstance(module, nn.Linear):
            time.sleep(self.ms / 1e3)
            return output * 2


def test_a_global_module_hook_is_timed_where_it_is_counted():
    """torch runs global forward hooks after a module's forward, before the module's own hooks: while
    they are set, every module's counted and timed span runs from before its pre-hooks to after its
    forward hooks, so a global hook's work is the hooked module's in both (it was the caller's)."""
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU())
    handle = nn.modules.module.register_module_forward_hook(SleepInLinear(10))
    try:
        report = torchcount.profile(model, torch.randn(2, 8), measure=True, **FAST)
    finally:
        handle.remove()
    assert report.row("0").cost.mults == 2 * 8  # the hook's doubling of the Linear's 2×8 output
    assert details(report, "0")["inclusive_ms"] >= 10.0
    assert details(report, "")["exclusive_ms"] < 10.0


class CallsForwardDirectly(nn.Module):
    def __init__(self):
        super().__init__()
        self.child = Sleep(5)

    def forward(self, x):
        return self.child.forward(x)  # not through __call__: torch's hooks do not run


def test_a_child_called_through_its_forward_is_timed_as_it_is_counted():
    report = torchcount.profile(CallsForwardDirectly(), torch.randn(2, 4), measure=True, **FAST)
    assert report.row("child").calls == 1  # counted as a call of its own
    assert details(report, "child")["inclusive_ms"] >= 5.0
    assert details(report, "")["exclusive_ms"] < 5.0


class OptionalBranch(nn.Module):
    """Calls a module whose pre-hook may raise, and carries on without it."""

    def __init__(self):
        super().__init__()
        self.a, self.optional, self.b = nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 8)
        self.pause = Sleep(5)

    def forward(self, x):
        x = self.a(x)
        try:
            x = self.optional(x)
        except RuntimeError:
            pass
        return self.b(self.pause(x))


def _raise_without_grad(module, args):
    if not torch.is_grad_enabled():  # the counting pass runs with grad on here; the timed ones without
        raise RuntimeError("not in inference")


def test_a_users_pre_hook_that_raises_leaves_the_timing_balanced():
    """A torch post-hook with ``always_call=True`` runs even when a pre-hook before it raised, so
    the timing post-hook popped its parent's entry: the block's time went to the root."""
    model = nn.Sequential(OptionalBranch())
    model[0].optional.register_forward_pre_hook(_raise_without_grad)
    with torch.enable_grad():
        report = torchcount.profile(model, torch.randn(2, 8), measure=True, no_grad=True, **FAST)
    assert details(report, "0")["inclusive_ms"] >= 5.0
    assert details(report, "")["exclusive_ms"] < 5.0


class SlowGlue(nn.Module):
    """A container that spends time between its children (Python glue) and computes nothing."""

    def __init__(self):
        super().__init__()
        self.inner = nn.Linear(8, 8)

    def forward(self, x):
        time.sleep(0.004)
        return self.inner(x)


def test_a_container_with_time_of_its_own_keeps_its_self_row():
    """A parent whose own cost is zero was dropped from the table even when most of the measured
    time was its own: the time column did not add up and the footer named a row not shown."""
    from torchcount.report import visible_rows

    report = torchcount.profile(nn.Sequential(SlowGlue(), nn.Linear(8, 8)), torch.randn(2, 8),
                                measure=True, **FAST)
    shown = {(row.path, own): row for row, own in visible_rows(report.layers, None)}
    assert ("0", True) in shown  # "0 (self)"
    assert shown["0", True].shown_extra(own=True)["time_ms"] >= 4.0
    assert "0 (self)" in report.table(columns=["module", "time_ms"])
    unmeasured = torchcount.profile(nn.Sequential(SlowGlue(), nn.Linear(8, 8)), torch.randn(2, 8))
    assert [(r.path, own) for r, own in visible_rows(unmeasured.layers, None)] == [("0.inner", False), ("1", False)]


def test_tf32_peak_only_for_rows_that_contract(monkeypatch):
    """With matmul TF32 on, every float32 row that was not a convolution got the TF32 peak:
    ReLU, LayerNorm, Flatten. TF32 runs contractions only. Simulated on CPU: uses_tf32 answers as
    on CUDA with both TF32 switches on."""
    import torchcount.measure as tm

    monkeypatch.setattr(tm, "uses_tf32", lambda device, conv=False, rnn=False: True)
    peaks = Peaks("fake", fp32=1e12, tf32=8e12, bf16=16e12, fp16=16e12, bandwidth=1e12, kind="datasheet")
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.LayerNorm(144), nn.Linear(144, 10))
    r = torchcount.profile(model, torch.randn(1, 3, 8, 8), measure=True, peaks=peaks, **FAST)
    assert details(r, "0")["peak_flops"] == 8e12  # the convolution
    assert details(r, "4")["peak_flops"] == 8e12  # the Linear
    for path in ("1", "3"):  # ReLU, LayerNorm: no multiply-accumulate
        assert details(r, path)["peak_flops"] == 1e12, path


class FailsOnCall:
    """A forward pre-hook that raises on the n-th forward of the model (counting the counting pass)."""

    def __init__(self, n: int):
        self.n, self.seen = n, 0

    def __call__(self, module, args):
        self.seen += 1
        if self.seen == self.n:
            raise RuntimeError("broke")


def test_a_measuring_failure_says_how_many_passes_completed():
    """The count left out the warm-up passes: a model that raised on its 5th forward was reported
    'after 1 completed pass(es)'. Here: the counting pass (1), warm-up plain (2) and instrumented (3),
    the first repeat's plain pass (4), then its instrumented one (5) raises: 3 measuring passes done."""
    model = nn.Sequential(nn.Linear(4, 4))
    model[0].register_forward_pre_hook(FailsOnCall(5))
    with pytest.raises(torchcount.ForwardError, match="after the counting pass and 3 measuring pass"):
        torchcount.profile(model, torch.randn(2, 4), measure=True, warmup=1, repeat=3)


def test_zero_median_times_give_a_report_not_a_type_error(monkeypatch):
    """overhead and time_coverage are None when a median time is 0 (CUDA events around a forward
    that ran no GPU work); the footer formatted them as numbers and raised TypeError. Simulated
    with a CPU clock that never advances."""
    from torchcount.measure import timing

    monkeypatch.setattr(timing.time, "perf_counter_ns", lambda: 0)
    r = torchcount.profile(nn.Sequential(nn.ReLU()), torch.randn(2, 4), measure=True, **FAST)
    assert r.extra["overhead"] is None and r.extra["time_coverage"] is None
    assert "overhead unknown (a median time of 0)" in "\n".join(r.extra["footer"])


def test_a_float64_ceiling_runs_no_float64_kernel(monkeypatch):
    """No float64 peak is rated, yet ceiling=True timed a float64 matmul and convolution (twice)
    for a float64 model and threw the rates away. Now only the bandwidth is measured for it."""
    from torchcount.measure import ceiling

    timed_dtypes = []
    real = ceiling._compute_rates
    monkeypatch.setattr(ceiling, "_compute_rates",
                        lambda device, dtype, n, repeat, timed: timed_dtypes.append(dtype) or real(device, dtype, 64, 1, timed))
    got = ceiling.measure_ceiling(torch.device("cpu"), torch.float64, copy_bytes=1 << 20, repeat=1)
    assert timed_dtypes == [] and got.fp32 is None and got.bandwidth > 0
    assert "no float64 compute rate" in got.source
    got = ceiling.measure_ceiling(torch.device("cpu"), torch.float32, copy_bytes=1 << 20, repeat=1)
    assert timed_dtypes == [torch.float32]  # on a CPU: once (no TF32 there)
    assert got.fp32 == got.tf32 > 0


# ---- a review of the stamping wrappers on odd models (2026-12-02) ------------------------------
class SwitchesToFastPath(nn.Module):
    """Sets ``self.forward`` to a fast path on its first call."""

    def forward(self, x):
        self.forward = self._fast
        time.sleep(0.01)
        return x * 2

    def _fast(self, x):
        return x * 2


def test_a_forward_that_rebinds_itself_is_timed_as_counted_and_put_back():
    """A plain pass left the fast path in the module's __dict__: later passes timed it (0.01 ms
    against the counted 10 ms), and it stayed on the model afterwards."""
    model = nn.Sequential(SwitchesToFastPath())
    report = torchcount.profile(model, torch.zeros(2), measure=True, **FAST)
    assert "forward" not in model[0].__dict__
    assert details(report, "0")["inclusive_ms"] >= 10.0


def test_every_measured_pass_runs_the_forward_as_found_never_the_one_a_pass_left():
    """A forward that rebinds ``self.forward`` to a fast path on each call: every pass — warm-up, plain,
    stamped, the floor probes' and the memory pass — starts from the forward as found, so the fast path
    never runs, whichever pass came before. 1 counted + 2·2 warm-up + 2·4 timed + 1 floor + 1 memory = 15
    forwards, all of them the found one."""
    log = []

    class Logs(nn.Module):
        def forward(self, x):
            log.append("found")
            self.forward = self._fast
            return x * 2

        def _fast(self, x):
            log.append("fast")
            return x * 2

    model = nn.Sequential(Logs())
    torchcount.profile(model, torch.zeros(2), measure=True, warmup=2, repeat=4)
    assert log == ["found"] * 15
    assert "forward" not in model[0].__dict__


def test_every_measured_pass_starts_from_the_buffers_as_found():
    """A buffer the forward advances in place (a step counter, a cache): each of the 15 forwards of
    warmup=2, repeat=4 — warm-up, plain, stamped, the floor probes' and the memory pass — sees it at 0, as
    the counted pass did, and the model keeps its 0 afterwards."""
    seen = []

    class Counts(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("n", torch.zeros(()))

        def forward(self, x):
            seen.append(int(self.n))
            self.n += 1
            return x * 2

    model = nn.Sequential(Counts())
    torchcount.profile(model, torch.zeros(2), measure=True, warmup=2, repeat=4)
    assert seen == [0] * 15 and int(model[0].n) == 0


class MakesAChild(nn.Module):
    def forward(self, x):
        if not hasattr(self, "late"):
            self.late = Sleep(10)  # created by the first forward (the counting pass)
        time.sleep(0.002)
        return self.late(x)


def test_a_submodule_the_forward_creates_is_timed_where_it_was_counted():
    """Counting priced the new submodule's work in its creator; the timed passes gave it a span of
    its own, under a path with no row, so its 10 ms were in no row."""
    model = nn.Sequential(MakesAChild())
    report = torchcount.profile(model, torch.zeros(2), measure=True, **FAST)
    assert details(report, "0")["exclusive_ms"] >= 10.0


def test_the_roots_own_hooks_are_timed_as_its_own_work():
    """Counting gives the root's own hooks' work to the root; their time was in no row."""
    model = nn.Sequential(Sleep(5))
    model.register_forward_pre_hook(lambda m, args: time.sleep(0.02))
    report = torchcount.profile(model, torch.zeros(2), measure=True, **FAST)
    assert details(report, "")["exclusive_ms"] >= 20.0 and details(report, "")["inclusive_ms"] >= 25.0


class SavesChildForward(nn.Module):
    def __init__(self):
        super().__init__()
        self.child, self.saved = nn.Linear(2, 2), None

    def forward(self, x):
        if self.saved is None:
            self.saved = self.child.forward  # saved during the counting pass: torchcount's wrapper
        return self.saved(x)


def test_a_wrapper_the_model_saved_records_nothing_after_the_profile():
    from torchcount.capture import capture
    from torchcount.rules import has_rule

    model = SavesChildForward()
    with capture(model, has_rule) as recorder:
        model(torch.zeros(1, 2))
    before = len(recorder.trace.calls)
    for _ in range(3):
        model(torch.zeros(1, 2))  # the saved wrapper, called after the capture ended
    assert len(recorder.trace.calls) == before


def test_the_memory_pass_ignores_other_threads():
    """The memory wrappers had no thread guard: another thread's output was added to act_MiB."""
    import threading

    from torchcount.measure.memory import memory_hooks

    model = nn.Sequential(nn.Linear(4, 256))
    with memory_hooks(model, torch.device("cpu")) as results:
        worker = threading.Thread(target=lambda: model(torch.zeros(8, 4)))
        worker.start()
        worker.join()
        model(torch.zeros(1, 4))
    assert results["0"]["act_bytes"] == 1 * 256 * 4  # this thread's output only


def test_own_activation_bytes_survive_a_reused_address():
    """A parent's own activation bytes leave out the storages its children returned, found by
    address. A child's output freed inside the parent's forward can hand its address to a tensor the
    parent makes itself (glibc does, for this size): that one is the parent's own, not the child's."""
    from torchcount.measure.memory import memory_hooks

    n = 4096

    class Reuses(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(8, n)

        def forward(self, x):
            y = self.lin(x)
            del y  # freed: its block may go to the next allocation of its size
            return torch.empty(4, n)

    model = Reuses()
    with torch.no_grad(), memory_hooks(model, torch.device("cpu")) as results:
        model(torch.randn(4, 8))
    assert results["lin"]["act_bytes"] == 4 * n * 4
    assert results[""]["act_bytes"] == results[""]["own_act_bytes"] == 4 * n * 4


def test_the_footer_names_the_peak_of_the_models_dtype():
    """A bfloat16 model is judged against the BF16 peak (%peak), but the footer printed only the
    FP32 figure, and nothing where the device has no FP32 rating."""
    from torchcount.measure import Peaks

    peaks = Peaks("a test device", 1e12, None, 4e12, 4e12, 1e11, "given", kind="datasheet")
    model = nn.Linear(8, 8).bfloat16()
    r = torchcount.profile(model, torch.randn(2, 8, dtype=torch.bfloat16), measure=True, peaks=peaks, **FAST)
    line = next(x for x in r.extra["footer"] if x.startswith("peaks"))
    assert "BF16 4 TFLOP/s" in line and "FP32" not in line
    r32 = torchcount.profile(nn.Linear(8, 8), torch.randn(2, 8), measure=True, peaks=peaks, **FAST)
    assert "FP32 1 TFLOP/s" in next(x for x in r32.extra["footer"] if x.startswith("peaks"))


# (3: the first hooked pass; 10: the memory pass, after the counting pass, 2 warm-up and 6 timed ones)
@pytest.mark.parametrize("n", [3, 10])
def test_a_forward_hook_that_raises_names_its_module_in_every_pass(n):
    """A module's own forward hook raising after its forward returned: torch calls the always-called
    span hook with the forward's output, not None, so the hooked and memory passes took the module
    as returned and named its parent (the root) instead."""
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
    failing = FailsOnCall(n)
    model[1].register_forward_hook(lambda module, args, output: failing(module, args))
    with pytest.raises(torchcount.ForwardError, match=r"in module '1' \(ReLU\)") as e:
        torchcount.profile(model, torch.randn(2, 4), measure=True, **FAST)
    assert e.value.path == "1"


def test_a_layer_called_in_some_measured_passes_says_in_how_many():
    """A random path (stochastic depth, a router): a layer skipped in some passes says in how many it
    ran; its status said 'not timed (not called)' when the counted pass had skipped it, though it ran in
    others. Its time is its mean per pass (test_a_layer_called_in_some_passes_shows_its_mean_time)."""
    class EveryOther(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.calls = nn.Linear(4, 4), nn.Linear(4, 4), 0

        def forward(self, x):
            self.calls += 1
            x = self.a(x)
            return self.b(x) if self.calls % 2 == 0 else x  # not in the first (counted) forward

    r = torchcount.profile(EveryOther(), torch.randn(2, 4), measure=True, warmup=1, repeat=4)
    assert "status" not in details(r, "a")
    found = re.fullmatch(r"called in (\d) of 4 measured passes, not in the counted one: time is the mean per "
                         r"pass over all 4, 0 where not called", details(r, "b")["status"])
    assert found and 0 < int(found.group(1)) < 4 and details(r, "b")["passes_called"] == int(found.group(1))
    assert r.row("b").calls == 0 and r.row("b").extra["time_ms"] > 0  # (no FLOPs: the counted pass had none)


def test_a_layer_the_counted_pass_skipped_has_no_bound_and_explain_shows_its_time():
    """A Linear the counting pass skipped and every timed pass ran: its row has no counted work (0 FLOPs, 0
    bytes) and no counted call, so its fixed cost was 0 floors, and "0 µs of work, fixed cost 0" made it
    latency-bound: "its kernels run far below the device's rates", of work never counted; it was also
    listed as "time share ≫ FLOPs share" against FLOPs that were not counted. Its bound is now unknown, with
    why; explain, which said "not called" and stopped, shows the time the table shows, as it does for a
    ModuleList (a group row, timed as its members), whose explain stopped the same way."""
    class SkipsTheFirst(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.calls = nn.Linear(4, 4), nn.Linear(4, 4), 0
            self.blocks = nn.ModuleList([nn.Linear(4, 4), nn.Linear(4, 4)])

        def forward(self, x):
            self.calls += 1
            x = self.a(x)
            for block in self.blocks:
                x = block(x)
            return self.b(x) if self.calls > 1 else x  # every forward but the first (counted) one

    fast = Peaks("toy device", 1e15, 1e15, 1e15, 1e15, 1e12, "a fast device for the test")
    r = torchcount.profile(SkipsTheFirst(), torch.randn(2, 4), measure=True, peaks=fast, **FAST)
    b = r.row("b")
    assert b.calls == 0 and b.extra["time_ms"] > 0 and "status" not in details(r, "b")  # (in all 3 timed passes)
    assert b.extra["bound"] == b.self_extra["bound"] == "unknown"
    assert b.extra["GFLOP/s"] is None and b.extra["%peak"] is None and b.extra["AI"] is None
    assert details(r, "b")["why"].startswith("not called in the counted pass: its work was not counted")
    assert "latency" not in r.extra["time_by_bound"]
    assert all(t["path"] != "b" for t in r.extra["time_vs_flops"])
    text = r.explain("b")
    assert "not called in the counted pass (a measured pass did call it: below)" in text
    assert f"measured on CPU (1 thread), median of 3 passes: {details(r, 'b')['inclusive_ms']:.4g} ms" in text
    assert text.endswith(f"  bound: unknown — {details(r, 'b')['why']}")
    group = r.explain("blocks")  # (never called itself: timed as the sum of its layers)
    assert r.row("blocks").members and "not called itself" in group
    assert f"median of 3 passes: {details(r, 'blocks')['inclusive_ms']:.4g} ms" in group
    assert torchcount.load_report(r.to_json()).explain("b").splitlines()[1:] == text.splitlines()[1:]


class Branch(nn.Module):
    def forward(self, x):
        time.sleep(0.004)
        return x * 2


class BranchOnOddCalls(nn.Module):
    """Runs its branch (a 4 ms sleep) on its odd calls only: the counted pass (its 1st call) and, with
    warmup=0 and repeat=4, the instrumented passes of calls 3 and 7 (plain and instrumented passes are
    interleaved, in alternating order: plain 2, timed 3, timed 4, plain 5, plain 6, timed 7, timed 8)."""

    def __init__(self):
        super().__init__()
        self.branch, self.calls = Branch(), 0

    def forward(self, x):
        self.calls += 1
        return self.branch(x) if self.calls % 2 else x + 1


def test_a_layer_called_in_some_passes_shows_its_mean_time():
    """A layer called in k of n measured passes had no time: its row was blank, and the time column did
    not add up to its parent's. It shows its mean per pass over all n (0 where not called), and so do
    the rows holding its time, so that a parent's time is its own plus its children's."""
    model = nn.Sequential(nn.Linear(4, 4), BranchOnOddCalls())
    r = torchcount.profile(model, torch.randn(2, 4), measure=True, warmup=0, repeat=4)
    branch, block = details(r, "1.branch"), details(r, "1")
    ran = [ns for ns in branch["inclusive_ns"] if ns]
    assert len(branch["inclusive_ns"]) == 4 and len(ran) == branch["passes_called"] == 2
    assert all(ns >= 4e6 for ns in ran)  # the sleeps
    assert branch["status"] == "called in 2 of 4 measured passes: time is the mean per pass over all 4, 0 where " \
                               "not called"
    assert branch["time_stat"] == block["time_stat"] == details(r, "")["time_stat"] == "mean"
    assert details(r, "0")["time_stat"] == "median"  # (a row that holds none of it)
    assert r.row("1.branch").extra["time_ms"] == pytest.approx(sum(ran) / 4 / 1e6)  # mean over all 4
    assert branch["called_inclusive_ms"] == pytest.approx(sorted(ran)[0] / 2e6 + sorted(ran)[1] / 2e6)
    # the parent's time is its own plus its child's (each pass exactly, so the means too)
    parent = r.row("1")
    assert parent.extra["time_ms"] == pytest.approx(parent.self_extra["time_ms"] + r.row("1.branch").extra["time_ms"],
                                                    rel=1e-9)
    assert parent.extra["time%"] == pytest.approx(parent.self_extra["time%"] + r.row("1.branch").extra["time%"],
                                                  rel=1e-9)
    assert r.extra["time_ms"] == r.root.extra["time_ms"] == pytest.approx(
        sum(details(r, "")["inclusive_ns"]) / 4 / 1e6)
    lines = r.table(columns=["module", "time_ms"]).splitlines()
    cell = next(line for line in lines if line.startswith("1.branch")).split()[-1]
    assert cell == f"{r.row('1.branch').extra['time_ms']:.3g}"
    note = next(line for line in r.extra["footer"] if line.startswith("called in only some"))
    assert "'1.branch' (2 of 4)" in note and "'1'" in note and "mean per pass over all 4 passes" in note
    # the overhead compares the medians of passes that may have taken different paths: said so (it
    # read "×0.00 (below 1: run-to-run noise)" where the plain passes happened to run the branch)
    measured = next(line for line in r.extra["footer"] if line.startswith("measured on"))
    assert "layers ran in only some passes: the passes with and without stamps may have taken different " \
           "paths" in measured and "run-to-run noise" not in measured


class SleepingBranch(nn.Module):
    """No parameters: a row only where the counted pass calls it."""

    def forward(self, x):
        time.sleep(0.02)
        return x * 2


class BranchOnEvenCalls(nn.Module):
    """Runs its branch (a 20 ms sleep) on its even calls: not in the counted pass (its 1st call); with
    warmup=0 and repeat=4, in the instrumented passes of calls 4 and 8 (of 3, 4, 7, 8)."""

    def __init__(self):
        super().__init__()
        self.branch, self.calls = SleepingBranch(), 0

    def forward(self, x):
        self.calls += 1
        return self.branch(x) if self.calls % 2 == 0 else x + 1


def test_a_branch_without_a_row_is_timed_in_its_callers_row():
    """A module without parameters that the counted pass did not call has no row; its calls in the
    measured passes were stamped all the same, so their time was taken out of its caller's own time and
    shown in no row: the caller's own time and by_type's groups held ~1 % of a forward of 10 ms."""
    model = nn.Sequential(nn.Linear(4, 4), BranchOnEvenCalls())
    r = torchcount.profile(model, torch.randn(2, 4), measure=True, warmup=0, repeat=4)
    assert "1.branch" not in {row.path for row in r.layers}
    own = details(r, "1")["exclusive_ns"]
    assert sum(ns >= 20e6 for ns in own) == 2  # the two sleeps, in the row of the module that called them
    assert r.row("1").self_extra["time_ms"] == pytest.approx(r.row("1").extra["time_ms"])
    b = r.by_type()
    summed = sum(g.time_ms for g in b.groups if g.time_ms is not None)
    # (medians of passes with and without a 20 ms sleep: each is ~10 ms ± the short passes' noise, which a
    # loaded host makes a few ms; the sleeps left out of every group gave ~1 % of the forward)
    assert 0.8 * r.extra["time_ms"] <= summed <= 1.2 * r.extra["time_ms"]


# ---- a module given to a method is left as found by the measured passes too -------------------
def test_a_module_given_to_a_measured_method_is_left_as_found():
    """A distillation step given a teacher with BatchNorm in training mode, which it sets to train and
    backpropagates through: the measured passes change its running statistics, training flag and .grad
    as the counting pass does, and all are put back, as they are for the model's own modules (they
    were after the counting pass only)."""

    class Student(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            return self.fc(x)

        def distill(self, x, teacher):
            teacher.train()
            (self(x) - teacher(x)).pow(2).mean().backward()

    teacher = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3)).eval()
    mean, count = teacher[1].running_mean.clone(), teacher[1].num_batches_tracked.clone()
    student = Student()
    torchcount.profile(student, (torch.randn(8, 4), teacher), method="distill", measure=True, **FAST)
    assert student.fc.weight.grad is None  # (the model's own modules are still left as found)
    assert not teacher.training and not teacher[1].training
    assert torch.equal(teacher[1].running_mean, mean) and torch.equal(teacher[1].num_batches_tracked, count)
    assert teacher[0].weight.grad is None


def test_a_float64_row_with_known_peaks_says_no_float64_peak_is_rated():
    """With the device's peaks given (or measured), a float64 row's bound was "unknown" because
    "device peaks unknown (use ceiling=True …)", which the peaks were not and which would not help;
    and the footer named the FP32 peak, against which no float64 row is rated."""
    peaks = Peaks("a test device", 1e12, None, 4e12, 4e12, 1e11, "given", kind="datasheet")
    model = nn.Linear(8, 8).double()
    r = torchcount.profile(model, torch.randn(2, 8, dtype=torch.float64), measure=True, peaks=peaks, **FAST)
    d = details(r, "")
    assert d["bound"] == "unknown" and d["peak_flops"] is None
    assert "no float64 peak" in d["why"] and "ceiling" not in d["why"]
    line = next(x for x in r.extra["footer"] if x.startswith("peaks"))
    assert "no float64 peak" in line and "FP32" not in line and "100 GB/s" in line


class GrowsItsCache(nn.Module):
    """Appends its input to a cache it holds as a buffer (rebinding it), and sleeps 1 ms per cached
    row: the cost of a call grows with the cache."""

    def __init__(self):
        super().__init__()
        self.register_buffer("kv", torch.zeros(0, 4))
        self.lengths = []

    def forward(self, x):
        self.kv = torch.cat([self.kv, x])
        self.lengths.append(len(self.kv))
        time.sleep(1e-3 * len(self.kv))
        return x @ self.kv.T


class FillsItsCache(nn.Module):
    """A static cache: writes its input at the next free row of a buffer, in place, and sleeps 1 ms
    per filled row."""

    def __init__(self):
        super().__init__()
        self.register_buffer("kv", torch.zeros(16, 4))
        self.register_buffer("filled", torch.zeros((), dtype=torch.long))
        self.lengths = []

    def forward(self, x):
        self.kv[self.filled] = x[0]
        self.filled += 1
        self.lengths.append(int(self.filled))
        time.sleep(1e-3 * int(self.filled))
        return x @ self.kv[:int(self.filled)].T


@pytest.mark.parametrize("cache", [GrowsItsCache, FillsItsCache])
def test_every_measured_pass_starts_from_the_buffers_as_found(cache):
    """A cache the model holds itself (a buffer the forward rebinds, or writes in place) grew from pass
    to pass: the counted call saw one row, the k-th measured one k+1, each timed against the FLOPs of
    the first. Every pass now starts from the slots and buffers as found, as the counting pass did."""
    model = cache()
    r = torchcount.profile(model, torch.randn(1, 4), measure=True, **FAST)
    # counting, warm-up, timed, floor-probing and memory passes
    assert model.lengths == [1] * (1 + 2 * 1 + 2 * 3 + 1 + 1)
    assert r.root.cost.macs == 4  # (one cached row: 1×4 by 4×1)


def test_a_time_or_rate_of_a_thousand_or_more_is_printed_whole_not_in_exponent_form():
    """Three significant digits wrote a 1009 ms forward as "1.01e+03" in the time_ms column and its total
    (Whisper-tiny on one loaded CPU thread), and a GPU layer's 278,000 GFLOP/s as "2.78e+05"; from 1,000
    on, a measured cell is a whole number with thousands separators. Stand-in figures."""
    report = torchcount.profile(nn.Sequential(nn.Linear(8, 8), nn.ReLU()), torch.randn(2, 8))
    report.row("0").extra.update({"time_ms": 1009.0, "GFLOP/s": 278000.4})
    report.row("1").extra.update({"time_ms": 0.0123, "GFLOP/s": 999.4})
    cells = {line.split()[0]: line.split()[1:] for line in
             report.table(columns=["module", "time_ms", "GFLOP/s"]).splitlines()[4:6]}
    assert cells == {"0": ["1,009", "278,000"], "1": ["0.0123", "999"]}
