"""measure=True figures derivable by hand: pass counts and orders, bytes, peaks chosen, the arithmetic
of the derived columns. Each test names how its expected value follows (a count of calls, a tensor's
numel × element size, a table lookup), never a speed: times come from an injected clock or are not
asserted. Each was written to fail on a mutant of torchcount/measure/ that the other tests let pass."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import torchcount
from conftest import needs, products_rule
from torchcount.measure import Peaks, details

pytestmark = pytest.mark.usefixtures("one_thread")  # (conftest.py)


class Records(nn.Module):
    """A Linear that records, at each call, whether its forward runs wrapped (a stamping or
    counting wrapper in its own ``__dict__``) or plain (no wrapper: a pass without hooks)."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.seen: list[str] = []

    def forward(self, x):
        self.seen.append("W" if "forward" in self.lin.__dict__ else "P")
        return self.lin(x)


def test_the_plain_and_instrumented_passes_alternate_their_order_each_repeat():
    """docs/measure.md: each repeat runs one plain and one instrumented forward, in alternating order
    from one repeat to the next; in all 1 (counting) + 2·warmup + 2·repeat + 1 (floor) + 1 (memory).
    With warmup=0 and repeat=4 (an even count: repeat=3 gives three plain passes even when every third
    repeat, not every second, puts its plain pass last): W, then P W, W P, P W, W P, then W W."""
    model = Records()
    torchcount.profile(model, torch.randn(2, 4), measure=True, warmup=0, repeat=4)
    assert model.seen == ["W"] + ["P", "W", "W", "P"] * 2 + ["W", "W"]


class Conv1D(nn.Module):
    """GPT-2's Conv1D (transformers.pytorch_utils): named a convolution, a Linear with its weight
    transposed — a matmul, which follows matmul's TF32 switch, not cuDNN's."""

    def __init__(self, nf: int, nx: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(nx, nf))
        self.bias = nn.Parameter(torch.zeros(nf))

    def forward(self, x):
        return torch.addmm(self.bias, x, self.weight)


def test_a_matmul_named_like_a_convolution_gets_matmuls_peak(monkeypatch):
    """A row's TF32 switch follows what its module is (a torch convolution: cuDNN's), not its type's
    name: GPT-2's Conv1D is a matmul. Simulated on CPU: uses_tf32 answers as on CUDA with cuDNN's
    TF32 on and matmul's off, so the Conv2d is rated at the TF32 peak (8e12) and the Conv1D at FP32's
    (1e12), as in the peaks given."""
    import torchcount.measure as tm

    monkeypatch.setattr(tm, "uses_tf32", lambda device, conv=False, rnn=False: conv or rnn)
    peaks = Peaks("fake", fp32=1e12, tf32=8e12, bf16=16e12, fp16=16e12, bandwidth=1e12, kind="datasheet")
    model = nn.Sequential(nn.Conv2d(2, 2, 1), nn.Flatten(), Conv1D(3, 2 * 4 * 4))
    r = torchcount.profile(model, torch.randn(1, 2, 4, 4), measure=True, peaks=peaks, warmup=0, repeat=1)
    assert details(r, "0")["peak_flops"] == 8e12
    assert details(r, "2")["peak_flops"] == 1e12


class Halves(nn.Module):
    """Writes its input in place (x.mul_(0.5)): each replayed call needs a fresh copy of it."""

    def forward(self, x):
        return x.mul_(0.5)


@pytest.mark.parametrize("layer_mj, copy_mj, expected", [(3.0, 1.0, 2.0), (2.0, 2.0, None), (2.0, 2.5, None)])
def test_a_layers_energy_is_less_its_input_copies_and_never_zero(monkeypatch, layer_mj, copy_mj, expected):
    """A layer that changes its inputs is replayed on a fresh copy each call, and the copying, measured
    alone, is taken off: a counter reading 3 mJ a call for the layer and 1 mJ for the copying leaves
    3 − 1 = 2 mJ; 2 − 2 = 0 (or less) is below what the counter resolves: unavailable, never 0 mJ.
    The counter is a fake: energy.measure_energy returns those figures (first the layer's loop, then
    the copying's), after one call of what it was given."""
    from torchcount.measure import energy as E

    figures = iter([layer_mj, copy_mj])

    def fake(run_once, device, seconds_per_pass, grid_intensity, min_seconds):
        run_once()
        return E._measured("fake counter", next(figures) * 4e-3, 4, 1.0, grid_intensity)

    monkeypatch.setattr(E, "measure_energy", fake)
    r = torchcount.profile(nn.Sequential(Halves()), torch.randn(2, 4), measure=True, warmup=0, repeat=1,
                           energy_layers=1)
    got = details(r, "0")["energy"]
    if expected is None:
        assert got["status"] == "unavailable" and "not above that of copying" in got["why"]
        assert f"afresh, which it changes ({copy_mj:g} mJ)" in got["why"]  # (the copying's, in mJ)
        assert "energy_mJ" not in r.row("0").extra
    else:
        assert got["status"] == "measured" and got["copy_J_per_call"] == pytest.approx(copy_mj * 1e-3)
        assert got["J_per_call"] == pytest.approx(expected * 1e-3)
        assert r.row("0").extra["energy_mJ"] == pytest.approx(expected)  # (one call per forward)


def test_the_timed_passes_page_faults_give_their_median_and_range():
    """The timed forwards' page faults 90, 120, 80, 100 (injected into measure._fill, as test_measure's
    _faulting gives them): median (90 + 100) / 2 = 95, range the fewest and the most, [80, 120]."""
    from test_measure import _faulting

    r = _faulting([90, 120, 80, 100])
    assert r.extra["page_faults"] == 95 and r.extra["page_faults_range"] == [80, 120]


@pytest.mark.parametrize("n_modules, per_call", [(1, 16), (3, 6), (16, 1), (17, 1)])
def test_each_module_call_is_probed_often_enough_for_sixteen_probes(n_modules, per_call):
    """floor_probes probes each module call ⌈FLOOR_PROBES / modules⌉ times, FLOOR_PROBES = 16: one
    module 16 times, three ⌈16/3⌉ = 6, sixteen or more once; a Sequential of n − 1 ReLUs has n modules,
    each called once per forward."""
    from torchcount.measure import timing

    model = nn.Sequential(*[nn.ReLU() for _ in range(n_modules - 1)])
    with timing.floor_probes(model, timing.make_clock(torch.device("cpu")), torch.zeros(1)) as seen:
        model(torch.zeros(2))
    assert timing.FLOOR_PROBES == 16 and len(seen.spans) == n_modules * per_call


def test_with_no_module_to_stamp_nothing_is_probed():
    """floor_probes given no module (modules=[]) stamps none, so no probe runs and none is counted
    (per call ⌈16 / max(0, 1)⌉, not a division by zero)."""
    from torchcount.measure import timing

    model = nn.Sequential(nn.ReLU())
    with timing.floor_probes(model, timing.make_clock(torch.device("cpu")), torch.zeros(1), modules=[]) as seen:
        model(torch.zeros(2))
    assert seen.spans == [] and seen.layouts == {}


def test_a_covered_call_inside_a_covered_row_of_its_own_tree_stays_in_its_time():
    """analyse_pass's ``within``: a rule row "r" covers "r.c" and "r.c.e"; r.c's forward calls r.c.e, in
    its own tree, so nothing is taken out of any time (no call crosses out of its tree). Stamps: root
    0..100, r 10..90, r.c 20..80, r.c.e 30..70; "within" holds only the paths that made such calls."""
    from torchcount.measure.timing import analyse_pass

    stamps = [0, 10, 20, 30, 70, 80, 90, 100]
    calls = [["", 0, 7, -1], ["r", 1, 6, 0], ["r.c", 2, 5, 1], ["r.c.e", 3, 4, 2]]
    covered = {"r.c", "r.c.e"}
    t = analyse_pass(calls, stamps, 100, covered | {"r"}, covered)
    assert t.within == {} and t.inclusive == {"": 100, "r": 80, "r.c": 60, "r.c.e": 40}
    # the same call into a covered module held outside r.c's tree ("r.e", r's): out of r.c's time only
    calls[3][0] = "r.e"
    t = analyse_pass(calls, stamps, 100, {"r", "r.c", "r.e"}, {"r.c", "r.e"})
    assert t.within == {"r.c": 60 - 40}


def test_a_bound_without_page_faults_quotes_the_measured_time_alone():
    """classify with no faults priced: the reason quotes the measured time, not the time 'besides page
    faults' (there are none). 1 MFLOP and 1 MB in 100 µs at 100 TFLOP/s and 1 TB/s: roofline 1 µs, 1.0 %;
    a fixed cost of 2 µs (2.0 %) is more than the work needs: overhead. And a rate above the peak
    (1 TFLOP in 5 ms: 200 TFLOP/s) is invalid even when faults are priced at all of its time."""
    from torchcount.measure import classify

    P, BW = 100e12, 1e12
    v = classify(1e6, 1e6, 1e-4, P, BW, fixed_seconds=2e-6)
    assert v.bound == "overhead"
    assert v.why.startswith("roofline time 1 µs is 1.0% of the measured 100 µs; its calls' fixed cost 2 µs is 2.0%, "
                            "and its work needs less than that")
    assert classify(1e12, 1e6, 0.005, P, BW, fault_seconds=0.005).bound == "invalid"


class Lookup(nn.Module):
    """Integer ids in, integer ids out (the argmax of a float16 table's rows): its only floating dtype
    is its parameter's."""

    def __init__(self):
        super().__init__()
        self.table = nn.Parameter(torch.randn(10, 6, dtype=torch.float16))

    def forward(self, ids):
        return self.table[ids].argmax(-1)


class LookupAndLinear(nn.Module):
    def __init__(self):
        super().__init__()
        self.lookup, self.lin = Lookup(), nn.Linear(8, 8)

    def forward(self, ids, x):
        return self.lookup(ids), self.lin(x)


def test_a_row_with_no_floating_input_or_output_computes_in_its_parameters_dtype():
    """_row_dtype: a row's first floating output, else input, else its first floating parameter. The
    lookup takes and returns int64, and holds a float16 table: float16, not the float32 most of the
    model's FLOPs (the Linear's) ran in."""
    r = torchcount.profile(LookupAndLinear(), (torch.tensor([1, 2]), torch.randn(2, 8)), measure=True, warmup=0,
                           repeat=1)
    assert details(r, "lookup")["dtype"] == "float16" and details(r, "lin")["dtype"] == "float32"
    assert r.extra["dtype"] == "float32"


def test_every_gpu_with_both_rates_one_bf16_and_fp16_figure():
    """Every datasheet in the peaks table (Ampere, Hopper, Ada, Blackwell: A100, H100/H200, A10, L4,
    L40/L40S, RTX 6000 Ada, RTX 4090, B200) prints one dense Tensor Core figure for BF16 and FP16 with
    FP32 accumulation; Turing and Volta (T4, V100) have no BF16. So a row's peak does not change between
    the two half precisions; and the A10's, from its datasheet: 125 TFLOPS (250* sparse), TF32 62.5."""
    from torchcount.measure.peaks import GPU_PEAKS

    for key, p in GPU_PEAKS.items():
        if p.bf16 is not None:
            assert p.fp16 == p.bf16, key
        else:
            assert key in ("T4", "V100 SXM2", "V100 PCIe"), key
    a10 = GPU_PEAKS["A10"]
    assert (a10.fp32, a10.tf32, a10.bf16, a10.bandwidth) == (31.2e12, 62.5e12, 125e12, 0.6e12)


def test_a_rule_rows_calls_outside_its_tree_are_all_taken_out_of_its_time():
    """analyse_pass: a rule row "r" (10..90) whose call calls "o", a row of its own held elsewhere, twice
    (20..30 and 40..60): its within time is 80 − 10 − 20 = 50, both calls taken out, not the last one."""
    from torchcount.measure.timing import analyse_pass

    stamps = [0, 10, 20, 30, 40, 60, 90, 100]
    calls = [["", 0, 7, -1], ["r", 1, 6, 0], ["o", 2, 3, 1], ["o", 4, 5, 1]]
    t = analyse_pass(calls, stamps, 100, {"r", "o"}, set())
    assert t.within == {"r": 80 - 10 - 20} and t.inclusive["o"] == 30


def test_a_five_dimensional_view_is_strided_not_channels_last_3d():
    """input_layout names a layout a tensor has: a 5-D tensor with two dims swapped is contiguous in no
    memory format (its strides are neither NCDHW's nor NDHWC's): strided; NDHWC's is channels_last_3d."""
    from torchcount.measure.timing import input_layout

    x = torch.randn(2, 3, 4, 5, 6)
    assert input_layout((x.transpose(2, 3),)) == "strided"
    assert input_layout((x.to(memory_format=torch.channels_last_3d),)) == "channels_last_3d"
    assert input_layout((x,)) == "contiguous"


class Float64Beside(nn.Module):
    """A float32 Linear and a float64 one side by side in one container."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(8, 8), nn.Linear(8, 8).double()

    def forward(self, x):
        return self.a(x), self.b(x.double())


def test_a_container_with_a_row_in_an_unrated_dtype_has_no_peak():
    """A container's peak is Σ FLOPs ÷ Σ FLOPs/peak of the rows below it; where one of them computes in a
    dtype with no rated peak (float64 on a device rated for float32), no sum can be formed: the
    container has no peak (not its own row's FP32 figure), and says why."""
    peaks = Peaks("a test device", 1e12, None, 4e12, 4e12, 1e11, "given", kind="datasheet")
    r = torchcount.profile(Float64Beside(), torch.randn(2, 8), measure=True, peaks=peaks, warmup=0, repeat=1)
    assert details(r, "a")["peak_flops"] == 1e12 and details(r, "b")["peak_flops"] is None
    root = details(r, "")
    assert root["peak_flops"] is None and root["bound"] == "unknown"
    assert root["why"].startswith("a row below it computes in a dtype with no rated peak")


def test_the_roofline_figures_are_not_rounded_to_whole_numbers():
    """classify's share of peak, intensity and ridge point are true quotients. 1 GFLOP over 0.3 GB in
    5 ms at 1 TFLOP/s and 0.3 TB/s: rate 0.2 TFLOP/s = 20 % of the peak; intensity 1e9 / 3e8 = 3.33
    FLOP/B, ridge 1e12 / 3e11 = 3.33. With 1 GB instead: 1 FLOP/B below the ridge, memory-bound
    (t_m = 3.33 ms ≥ a tenth of 5 ms), the reason quoting the ridge at 3.33, not 3; 1 GFLOP over 3 ms at
    100 TFLOP/s: 0.333… TFLOP/s is 1/3 % of the peak."""
    from torchcount.measure import classify

    v = classify(1e9, 3e8, 5e-3, 1e12, 3e11)
    assert v.intensity == pytest.approx(10 / 3) and v.pct_peak == pytest.approx(20.0)
    v = classify(1e9, 1e9, 5e-3, 1e12, 3e11)
    assert v.bound == "memory" and v.why == "intensity 1 FLOP/B < ridge 3.33"
    assert classify(1e9, 1e9, 3e-3, 100e12, 1e12).pct_peak == pytest.approx(1 / 3)


def test_page_faults_are_named_from_a_tenth_of_the_time():
    """FAULT_SHARE = 0.10: faults of 50 ms in 500 ms (exactly a tenth, 0.1 · 0.5 = 0.05 in binary too)
    are named in the reason; 49 ms are not."""
    from torchcount.measure import classify

    assert "page faults take about 50 ms of its 500 ms (10%)" in classify(1e9, 1e9, 0.5, None, None,
                                                                         fault_seconds=0.05).why
    assert "page faults" not in classify(1e9, 1e9, 0.5, None, None, fault_seconds=0.049).why


def test_the_cpu_clock_gives_each_stamp_in_ns_from_the_passs_first(monkeypatch):
    """CpuClock, as CudaClock: a pass's stamps are ns from its first stamp, the first 0. perf_counter_ns
    injected: 1000, 1500, 4000 give 0, 500, 3000; a new pass starts again from its own first stamp."""
    from torchcount.measure import timing

    now = iter([1000, 1500, 4000, 7000, 7100])
    monkeypatch.setattr(timing.time, "perf_counter_ns", lambda: next(now))
    clock = timing.CpuClock()
    clock.start_pass()
    assert [clock.stamp() for _ in range(3)] == [0, 1, 2]
    assert clock.finish_pass() == [0, 500, 3000]
    clock.start_pass()
    clock.stamp(), clock.stamp()
    assert clock.finish_pass() == [0, 100]


class ViewsAsHalf(nn.Module):
    """No arithmetic (a view of its float16 input), and a float32 parameter it does not use."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(3))

    def forward(self, x):
        return x.view(-1)


def test_a_model_that_does_no_floating_point_work_is_said_in_its_parameters_dtype():
    """measure's dtype is the one most of the counted FLOPs ran in, and where no row did floating-point
    work (0 FLOPs: a view), the model's first floating parameter's (float32), not the dtype of a row
    that computed nothing (the view's float16)."""
    r = torchcount.profile(ViewsAsHalf(), torch.randn(2, 3).half(), measure=True, warmup=0, repeat=1)
    assert r.total.cost.macs == 0 and r.extra["dtype"] == "float32"


def test_a_fault_probe_is_its_first_fill_less_its_second(monkeypatch):
    """_fault_probe: (faults of the first fill, its ns less the second's). Injected: the clock reads 100,
    600, 800 (first fill 500 ns, second 200 ns) and the fault count 10 then 14: (4, 500 − 200 = 300)."""
    from torchcount.measure import timing

    now, faults = iter([100, 600, 800]), iter([10, 14])
    monkeypatch.setattr(timing.time, "perf_counter_ns", lambda: next(now))
    monkeypatch.setattr(timing, "page_faults", lambda: next(faults))
    assert timing._fault_probe() == (4, 300)


class WritesInto(nn.Module):
    def forward(self, x, out):
        out.copy_(x)  # returns None


class GivesOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = WritesInto()

    def forward(self, x):
        out = torch.empty_like(x)
        self.inner(x, out)
        return out


def test_a_call_that_returns_none_is_followed_by_its_probes():
    """floor_probes probes after every module call that did not raise: one returning None (it writes into
    a tensor it is given) too. Two modules: ⌈16 / 2⌉ = 8 probes after each of the two calls, 16."""
    from torchcount.measure import timing

    model = GivesOut()
    with timing.floor_probes(model, timing.make_clock(torch.device("cpu")), torch.zeros(1)) as seen:
        model(torch.zeros(2))
    assert len(seen.spans) == 2 * 8


def test_the_page_faults_said_are_the_instrumented_passes_not_the_plain_ones(monkeypatch):
    """extra['page_faults'] is the median of the instrumented passes' faults (read before and after
    each, as their waits are), not of the plain ones'. A fake fault counter that the model's n-th
    forward advances by n² (n counting every forward, the counting pass's too): with warmup=0 and
    repeat=2 the forwards run W, P W, W P (docs/measure.md's order), so the instrumented ones are the
    2nd, 3rd and 4th forwards of the measured passes, the 3rd and 4th of all: 3² = 9 and 4² = 16
    faults, median 12.5, range [9, 16] (the plain passes, the 2nd and 5th: 4 and 25)."""
    import importlib

    M = importlib.import_module("torchcount.measure")
    count = {"faults": 0, "forwards": 0}

    class Faults(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 4)

        def forward(self, x):
            count["forwards"] += 1
            count["faults"] += count["forwards"] ** 2
            return self.lin(x)

    monkeypatch.setattr(M, "page_faults", lambda: count["faults"])
    monkeypatch.setattr(M, "fault_cost_ns", lambda: 1000.0)
    r = torchcount.profile(Faults(), torch.randn(2, 4), measure=True, warmup=0, repeat=2)
    assert count["forwards"] == 1 + 2 * 2 + 1 + 1
    assert r.extra["page_faults"] == 12.5 and r.extra["page_faults_range"] == [9, 16]


def test_the_cpu_wait_is_the_median_of_the_instrumented_passes_waits(monkeypatch):
    """Two instrumented passes (warmup=0, repeat=2) whose threads waited 2 ms and 6 ms for a CPU (the
    scheduler's reads scripted before and after each): cpu_wait_ms is their median, (2 + 6) / 2 = 4,
    its range [2, 6] — not the upper of the two middle values, 6."""
    from test_measure import _scripted_waits

    _scripted_waits(monkeypatch, [{"1": 0}, {"1": 2_000_000}, {"1": 10_000_000}, {"1": 16_000_000}])
    r = torchcount.profile(nn.Linear(4, 4), torch.randn(2, 4), measure=True, warmup=0, repeat=2)
    assert r.extra["cpu_wait_ms"] == pytest.approx(4.0) and r.extra["cpu_wait_range_ms"] == pytest.approx([2.0, 6.0])


def test_busy_cpus_are_said_from_five_percent_of_the_forward(monkeypatch):
    """The footer's 'busy CPUs' line appears where the threads waited at least CPU_WAIT_SHARE = 5 % of
    the forward for a CPU: of a 10 ms forward, a 1 ms wait (10 %) and a 0.5 ms one (5 %) are said, a
    0.4 ms one (4 %) is not."""
    from torchcount.measure import CPU_WAIT_SHARE, _footer

    fast = Peaks("toy device", 1e15, 1e15, 1e15, 1e15, 1e12, "a fast device for the test")
    r = torchcount.profile(nn.Linear(4, 4), torch.randn(2, 4), measure=True, peaks=fast, warmup=0, repeat=1)

    def busy(waited):
        extra = dict(r.extra, root_ms=10.0, cpu_wait_ms=waited, cpu_wait_range_ms=[waited, waited])
        return [line for line in _footer(extra, fast) if line.startswith("busy CPUs: ")]

    assert CPU_WAIT_SHARE == 0.05
    assert "waited 1 ms for a CPU per forward" in busy(1.0)[0] and "10% of it" in busy(1.0)[0]
    assert len(busy(0.5)) == 1 and busy(0.4) == []


def test_the_ceiling_convolution_computes_the_flops_its_rate_counts():
    """The ceiling's convolution rate counts 2·8·128²·9·28² FLOPs (a 3×3 kernel at every one of the 28²
    positions): the convolution it times must give a 28×28 output (padding 1), not 26×26, which would
    be (28/26)² = 16 % fewer FLOPs than counted. A fake timer sees each timed kernel's output."""
    from torchcount.measure.ceiling import _rates

    shapes = []
    _rates(torch.device("cpu"), torch.float32, 16, 2, lambda fn: (shapes.append(tuple(fn().shape)), 0.3)[1])
    assert shapes == [(16, 16)] * 2 + [(8, 128, 28, 28)] * 2


def test_a_row_not_timed_says_whether_the_counted_pass_called_it():
    """A row no measured pass ran says why: 'not called' where the counted pass did not call it either (a
    Linear the forward never uses, a row for its parameters, 0 calls), 'not called in the measured
    passes' where only the counted one did (a Linear run in the first forward only)."""
    class FirstOnly(nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.spare, self.once, self.calls = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 4), 0

        def forward(self, x):
            self.calls += 1
            return self.once(self.used(x)) if self.calls == 1 else self.used(x)

    r = torchcount.profile(FirstOnly(), torch.randn(2, 4), measure=True, warmup=0, repeat=1)
    assert r.row("spare").calls == 0 and r.row("once").calls == 1
    assert details(r, "spare")["status"] == "not timed (not called)"
    assert details(r, "once")["status"] == "not timed (not called in the measured passes)"
    assert "status" not in details(r, "used")


def test_the_peak_rss_is_in_bytes_between_the_current_rss_and_getrusages_peak():
    """/proc/self/status gives VmHWM in kB: × 1024 is bytes. The peak is about the resident set now or
    more (/proc/self/statm's pages × the page size, read independently) and about getrusage's ru_maxrss
    (KiB on Linux) or less, which a reset of VmHWM (clear_refs, as measure does) leaves as it was. The
    kernel updates these counters at different moments (VmHWM read 260 KiB under statm, and 260 KiB over
    ru_maxrss, in a 510 MiB process), so each bound is within a factor 2: KiB read as bytes is 1/1024."""
    import os
    import resource

    from torchcount.measure import memory

    if not os.path.exists("/proc/self/status"):
        pytest.skip("no /proc/self/status")
    now = memory.current_rss_bytes()
    peak = memory.peak_rss_bytes()
    most = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    assert now / 2 <= peak <= 2 * most and peak % 1024 == 0


class CastsThenAdds(nn.Module):
    """Casts its float32 input to bfloat16, then adds 1 to it (``adds`` elements) or nothing (0)."""

    def __init__(self, adds: bool):
        super().__init__()
        self.adds = adds

    def forward(self, x):
        return x.bfloat16() + 1 if self.adds else x.bfloat16()


def test_the_models_dtype_is_where_its_flops_ran_from_a_single_flop():
    """The report's dtype is the one most counted FLOPs ran in: one addition on one bfloat16 element (1 FLOP)
    makes it bfloat16, though the input is float32; with no FLOPs at all (the cast alone) it is the first
    floating input's, float32."""
    r = torchcount.profile(CastsThenAdds(True), torch.randn(1), measure=True, warmup=0, repeat=1)
    assert r.total.cost.adds == 1 and r.extra["dtype"] == "bfloat16"
    r = torchcount.profile(CastsThenAdds(False), torch.randn(1), measure=True, warmup=0, repeat=1)
    assert r.total.cost.adds == 0 and r.extra["dtype"] == "float32"


@pytest.mark.parametrize("n", [63, 64])
def test_a_rows_page_faults_are_named_from_sixty_four(n):
    """A row's reason (its whole row's and its own part's) names its page faults from FAULTS_NAMED = 64 of
    them: the ReLU of test_measure's _faulting times (205 µs, a 2 µs floor) with n faults at 1 µs in the
    probing pass, n = 64 its own: 'page faults take about 64 µs of its 205 µs (31%)', its time besides
    them 205 − 64 = 141 µs; the overhead rows' faults then 64 of the forward's 305 µs. With 63, none."""
    from test_measure import _filled

    from torchcount.measure import FAULTS_NAMED

    r = _filled(nn.Sequential(nn.Linear(4, 8), nn.ReLU()), torch.randn(2, 4),
                {"": [300000, 290000, 320000, 310000], "0": [40000, 30000, 50000, 45000],
                 "1": [200000, 210000, 190000, 220000]},
                floor_ns=2000, faults={"": [n, 0], "0": [0, 0], "1": [n, n]}, fault_ns=1000, timed_faults=[n] * 4)
    d = details(r, "1")
    named = "page faults take about 64 µs of its 205 µs (31%)"
    assert FAULTS_NAMED == 64 and d["bound"] == d["own_bound"] == "overhead"
    if n == 64:
        assert named in d["why"] and named in d["own_why"] and "measured 141 µs besides page faults" in d["own_why"]
        assert r.extra["overhead_fault%"] == pytest.approx(100 * 64 / 305)
    else:
        assert "page faults" not in d["why"] and "page faults" not in d["own_why"]
        assert r.extra["overhead_fault%"] == 0


def test_the_resident_set_before_the_passes_is_kept_in_bytes():
    """On a CPU, extra['memory']['rss_before'] is the process's resident set read before the measured
    passes (after the peak mark's reset), in bytes: more than 0, and within the kernel counters' slack (a
    factor 2, as in the peak RSS test) of the peak read after them."""
    import os

    if not os.path.exists("/proc/self/statm"):
        pytest.skip("no /proc/self/statm")
    m = torchcount.profile(nn.Linear(4, 4), torch.randn(2, 4), measure=True, warmup=0, repeat=1).extra["memory"]
    assert m["kind"] == "cpu" and isinstance(m["rss_before"], int)
    assert 0 < m["rss_before"] <= 2 * m["peak_rss"]


class AddsItself(nn.Module):
    """x + lin(x): the root adds 2·4 = 8 elements itself, work of its own, so it is a row of the table
    (count.py puts the root among the layers)."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        return x + self.lin(x)


def test_a_root_that_is_a_row_of_its_own_is_measured_once():
    """_fill takes the root among the rows once, also where it is already one of the layers (it does
    work of its own): its own time is in the time by bound once. Times by hand (measure._fill): the
    forward 10 µs, the Linear 4 µs, so the root's own 6 µs; the shares of the forward by bound add up
    to 4/10 + 6/10 = 100 %, and the root's own part is said once among the time-vs-FLOPs rows (60 % of
    the time for its 8 of the forward's 2·32 + 8 + 8 = 80 FLOPs: the Linear's MACs, bias adds, and the sum)."""
    from test_measure import _filled

    r = _filled(AddsItself(), torch.randn(2, 4), {"": [10000], "lin": [4000]}, floor_ns=500)
    assert [row.path for row in r.layers] == ["", "lin"]  # (not a second time, as the first of the layers)
    assert r.total.cost.adds == 8 + 8 and r.total.cost.macs == 2 * 4 * 4
    assert sum(r.extra["time_by_bound"].values()) == pytest.approx(100.0)
    assert [t["path"] for t in r.extra["time_vs_flops"]].count("(root)") == 1
    assert r.root.self_extra["time_ms"] == pytest.approx(6e-3)



def test_a_roots_own_time_gets_a_row_of_its_own_first():
    """The root of Sequential(Linear(4, 8), ReLU) does no counted work of its own, so counting gives it no
    row among the layers; measured (test_measure's by-hand times), its own time, the forward's 30.5 µs less
    its layers' 4.25 + 20.5, needs one, or the time column would not add up to the total: _fill puts it
    first, numbered 0, before the Linear (1) and the ReLU (2). Where the layers take all the forward's time
    (its own 0), it gets none. The per-call floor given, 500 ns, is the report's 0.5 µs."""
    from test_measure import _filled

    model, x = nn.Sequential(nn.Linear(4, 8), nn.ReLU()), torch.randn(2, 4)
    assert [row.path for row in torchcount.profile(model, x).layers] == ["0", "1"]
    r = _filled(model, x, {"": [30000, 29000, 32000, 31000], "0": [4000, 3000, 5000, 4500],
                           "1": [20000, 21000, 19000, 22000]}, floor_ns=500)
    assert [(row.path, row.index) for row in r.layers] == [("", 0), ("0", 1), ("1", 2)] and r.layers[0] is r.root
    table = [line.split() for line in r.table(columns=["#", "module", "time_ms"]).splitlines()]
    assert ["0", "(root)", "(self)", "0.0055"] in table and ["total", "0.0305"] in table
    assert r.extra["call_floor_us"] == pytest.approx(0.5)
    r = _filled(model, x, {"": [24000], "0": [4000], "1": [20000]})
    assert [row.path for row in r.layers] == ["0", "1"] and r.root.self_extra["time_ms"] == 0

class Stack(nn.Module):
    """A ModuleList of a Sequential(Linear, ReLU) and a ReLU, called by the root: "blocks" is a group
    (no call of its own), a row holding the time of the modules below it."""

    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([nn.Sequential(nn.Linear(4, 4), nn.ReLU()), nn.ReLU()])

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return x


def test_a_groups_page_faults_are_those_of_the_calls_below_it():
    """faults_of: a group with no call of its own holds the faults of the modules below it, each counted
    once: the own faults of blocks.0 (10), blocks.0.0 (20), blocks.0.1 (0) and blocks.1 (5), 35, which
    are its members' whole faults 30 + 5 (not the Σ of whole faults, 30 + 20 + 0 + 5 = 55, which counts
    blocks.0.0's twice). Priced at 1 µs a fault (the timed forwards took as many, 35: no share taken
    off), 35 µs, less than the group's time (the Σ of the own times below it, 50 + 50 + 100 + 60 µs)."""
    from test_measure import _filled

    r = _filled(Stack(), torch.randn(2, 4),
                {"": [300000], "blocks.0": [200000], "blocks.0.0": [50000], "blocks.0.1": [100000],
                 "blocks.1": [60000]},
                floor_ns=2000, fault_ns=1000, timed_faults=[35],
                faults={"": [35, 0], "blocks.0": [30, 10], "blocks.0.0": [20, 20], "blocks.0.1": [0, 0],
                        "blocks.1": [5, 5]})
    assert r.row("blocks").calls == 0 and r.row("blocks").extra["time_ms"] == pytest.approx(0.26)
    g = details(r, "blocks")
    assert g["page_faults"] == 35 and g["fault_ms"] == pytest.approx(0.035)


def _fill_passes(model, x, passes, peaks=None, floor_ns=None, mem=None, memory=None):
    """``model`` counted on ``x``, then measure._fill on the given timed passes (PassTiming, e.g. from
    analyse_pass on hand-given calls and stamps): no clock runs, every figure follows from them. The rows'
    dtypes are those measure finds (_compute_dtypes); ``mem`` per path and ``memory`` as memory_hooks and
    measure give them (default: none per path, a CPU's)."""
    from test_measure import SLOW

    from torchcount.measure import _compute_dtypes, _fill

    report = torchcount.profile(model, x)
    row_dtypes, dtype = _compute_dtypes(report, model)
    memory = memory or {"kind": "cpu", "peak_rss": 1 << 20, "rss_before": 0, "peak_rss_reset": True}
    _fill(report, model, torch.device("cpu"), dtype, peaks or SLOW, [p.wall_ns for p in passes], passes, mem or {},
          memory, None, 1, len(passes), row_dtypes, floor_ns, {}, {}, None, [], [])
    return report


class HookCallsOut(nn.Module):
    """A ruled block "r" whose covered child r.fc has a forward hook calling "o", a Linear held by the
    root: o is a row of its own, called from inside r's call."""

    def __init__(self, ruled_block):
        super().__init__()
        self.r, self.o = ruled_block(), nn.Linear(4, 4)
        self.r.fc.register_forward_hook(lambda module, args, out: self.o(out))

    def forward(self, x):
        return self.r(x)


def test_a_rule_rows_time_leaves_out_the_rows_its_calls_call(ruled_block):
    """A rule row's time is that of the work its rule prices: its within time, less the call of "o" (a row
    of its own) that its covered child's hook made. Stamps by hand: the forward 0..100 µs, r 10..90, r.fc
    20..80, o 30..60: r shows 80 − 30 = 50 µs, r.fc 60 − 30 = 30 µs, o 30 µs; the forward's time by bound
    is the root's own 20 µs, r's 50 µs and o's 30 µs (r.fc's is r's): 100 %, not 130 %."""
    from torchcount.measure.timing import analyse_pass

    model = HookCallsOut(ruled_block)
    calls = [["", 0, 7, -1], ["r", 1, 6, 0], ["r.fc", 2, 5, 1], ["o", 3, 4, 2]]
    stamps = [0, 10000, 20000, 30000, 60000, 80000, 90000, 100000]
    timed = analyse_pass(calls, stamps, 100000, {"r", "r.fc"}, {"r.fc"})
    r = _fill_passes(model, torch.randn(2, 4), [timed], floor_ns=500)
    assert (r.row("r").status, r.row("r.fc").status) == ("rule", "covered")
    assert r.row("r").extra["time_ms"] == pytest.approx(0.05) and r.row("r.fc").extra["time_ms"] == pytest.approx(0.03)
    assert r.row("o").extra["time_ms"] == pytest.approx(0.03) and r.root.extra["time_ms"] == pytest.approx(0.1)
    assert sum(r.extra["time_by_bound"].values()) == pytest.approx(100.0)
    # time vs FLOPs compares the same partition: the root's own 20 % of the time for none of the 136 FLOPs
    # (r's rule 2·2·4·4 = 64, o's Linear(4, 4) on 2 rows 2·32 + 8 = 72); not r.fc's 30 %, which is r's
    # (covered: no FLOPs of its own by design); nor r's 50 % for 64/136 = 47.1 %, 2.9 points over but
    # under 1.25 × 47.1 = 58.8 %: in proportion to its work
    assert [(t["path"], t["time_share"], t["flops_share"]) for t in r.extra["time_vs_flops"]] == \
        [("(root)", pytest.approx(20.0), 0.0)]


class RuledRoot(nn.Module):
    """A model priced whole by a rule (registered in the test): its fc is covered, and fc's forward hook
    calls "o", a Linear of its own tree that is a row of its own."""

    def __init__(self):
        super().__init__()
        self.fc, self.o = nn.Linear(4, 4), nn.Linear(4, 4)
        self.fc.register_forward_hook(lambda module, args, out: self.o(out))

    def forward(self, x):
        return self.fc(x)


@pytest.fixture
def ruled_root():
    yield from products_rule(RuledRoot)


def test_a_root_priced_by_a_rule_leaves_out_the_rows_its_calls_call(ruled_root):
    """The root's row, priced whole by a rule, is its within time as any rule row's: the forward 0..100 µs
    less the 30..60 µs call of "o" (a row of its own, called by fc's hook) is 70 µs, not the forward's
    100 µs; o 30 µs; the forward's time by bound, the root's 70 µs and o's 30 µs, is 100 %."""
    from torchcount.measure.timing import analyse_pass

    calls = [["", 0, 5, -1], ["fc", 1, 4, 0], ["o", 2, 3, 1]]
    stamps = [0, 10000, 30000, 60000, 90000, 100000]
    timed = analyse_pass(calls, stamps, 100000, {"", "fc"}, {"fc"})
    r = _fill_passes(ruled_root(), torch.randn(2, 4), [timed], floor_ns=500)
    assert (r.root.status, r.row("fc").status, r.row("o").status) == ("rule", "covered", "rule")
    assert r.root.extra["time_ms"] == pytest.approx(0.07) and r.row("o").extra["time_ms"] == pytest.approx(0.03)
    assert r.extra["time_ms"] == pytest.approx(0.1)  # (the forward's)
    assert sum(r.extra["time_by_bound"].values()) == pytest.approx(100.0)


class SometimesSecond(nn.Module):
    """A ModuleList group "blocks" of a Linear, always called, and a ReLU called in the counting pass and
    then only where ``runs`` says (a random path)."""

    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([nn.Linear(4, 4), nn.ReLU()])

    def forward(self, x):
        return self.blocks[1](self.blocks[0](x))


def test_a_group_holding_a_row_called_in_one_pass_of_three_shows_means():
    """Three passes; the Linear takes 40 µs in each, the ReLU 20 µs in the first only. The ReLU, called in
    1 of 3, shows its mean per pass 20/3 µs (not the median of 20, 0, 0: 0). Its group "blocks" (no call of
    its own) holds the own times below it, 60, 40 and 40 µs (0, not 1 ns, for the ReLU where it did not
    run): mean 140/3 µs; its own time 0. The forward, holding the ReLU, its mean (70 + 50 + 50) / 3 µs."""
    from test_measure import _filled

    r = _filled(SometimesSecond(), torch.randn(2, 4),
                {"": [70000, 50000, 50000], "blocks.0": [40000] * 3, "blocks.1": [20000, None, None]})
    group, relu = r.row("blocks"), r.row("blocks.1")
    assert group.calls == 0 and details(r, "blocks.1")["status"].startswith("called in 1 of 3 measured passes")
    assert relu.extra["time_ms"] == pytest.approx(20e-3 / 3, rel=1e-12)
    assert details(r, "blocks")["inclusive_ns"] == [60000, 40000, 40000]
    assert group.extra["time_ms"] == pytest.approx(140e-3 / 3, rel=1e-12) and group.extra["self_ms"] == 0
    assert r.extra["time_ms"] == pytest.approx(170e-3 / 3, rel=1e-12)


class SkipsBranch(nn.Module):
    """A Linear, then the branch "b" (a Sequential holding a Linear) only where ``branch`` is set: the
    counting pass (``branch`` False) does not call b, timed passes that set it do."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.branch = nn.Linear(4, 4), nn.Sequential(nn.Linear(4, 4)), False

    def forward(self, x):
        x = self.a(x)
        return self.b(x) if self.branch else x


def test_a_module_the_counting_pass_skipped_keeps_its_own_time():
    """A row with 0 counted calls that the timed passes did call (the branch b: 50 µs, its Linear b.0 20 µs
    of them) is no group: its time is its own calls' 50 µs and its own part 50 − 20 = 30 µs, not the Σ of
    the own times below it (20 µs) with none of its own."""
    from test_measure import _filled

    r = _filled(SkipsBranch(), torch.randn(2, 4),
                {"": [100000, 100000], "a": [30000, 30000], "b": [50000, 50000], "b.0": [20000, 20000]})
    b = r.row("b")
    assert b.calls == 0 and r.row("b.0").calls == 0
    assert b.extra["time_ms"] == pytest.approx(0.05) and b.extra["self_ms"] == pytest.approx(0.03)
    assert b.extra["bound"] == "unknown" and details(r, "b")["why"].startswith("not called in the counted pass")
    # nor compared with FLOPs it has none of: the time-vs-FLOPs rows are the root's own 20 % (for none of
    # a's 72 FLOPs), not b's 30 % or b.0's 20 %
    assert [(t["path"], t["time_share"], t["flops_share"]) for t in r.extra["time_vs_flops"]] == \
        [("(root)", pytest.approx(20.0), 0.0)]


class WholeThenPart(nn.Module):
    """Calls the block "b" (a Sequential holding a Linear) in its first forward, then b's Linear alone."""

    def __init__(self):
        super().__init__()
        self.b, self.calls = nn.Sequential(nn.Linear(4, 4)), 0

    def forward(self, x):
        self.calls += 1
        return self.b(x) if self.calls == 1 else self.b[0](x)


def test_a_row_called_only_in_the_counting_pass_is_not_timed_though_its_child_is():
    """b was called in the counting pass (1 call), not in the measured ones, which called its Linear b.0
    directly (20 µs): b is not timed ('not called in the measured passes'), not a group showing b.0's 20 µs."""
    from test_measure import _filled

    r = _filled(WholeThenPart(), torch.randn(2, 4), {"": [30000, 30000], "b.0": [20000, 20000]})
    assert r.row("b").calls == 1
    assert details(r, "b")["status"] == "not timed (not called in the measured passes)"
    assert "time_ms" not in r.row("b").extra and r.row("b.0").extra["time_ms"] == pytest.approx(0.02)


@pytest.mark.filterwarnings("ignore::torchcount.UncountedWarning")
def test_every_row_above_uncounted_work_has_no_fixed_cost():
    """The rows whose time holds work no formula counts get no per-call floor: the † row "0.1" (x xᵀ, then
    eigvalsh), its parent "0" and the root, two and one levels up; the Linear "0.0" beside it keeps one
    call's floor, 0.5 µs."""
    from test_measure import _Eig, _filled

    model = nn.Sequential(nn.Sequential(nn.Linear(4, 4), _Eig()))
    r = _filled(model, torch.randn(4, 4), {"": [100000], "0": [90000], "0.0": [2000], "0.1": [60000]}, floor_ns=500)
    assert r.row("0.1").status == "partial" and r.row("0").status != "partial"
    assert [details(r, p)["fixed_ms"] for p in ("0.1", "0", "")] == [None, None, None]
    assert details(r, "0.0")["fixed_ms"] == pytest.approx(0.5e-3)


def test_a_group_whose_members_ran_only_in_the_counting_pass_says_so():
    """A ModuleList group has no call of its own; its member ran in the counting pass, not in the measured
    ones: the group is 'not timed (not called in the measured passes)', as the member is, not 'not called'
    (which its 0 calls alone would say)."""
    from test_measure import _filled

    class FirstOnly(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks, self.calls = nn.ModuleList([nn.Linear(4, 4)]), 0

        def forward(self, x):
            self.calls += 1
            return self.blocks[0](x) if self.calls == 1 else x

    r = _filled(FirstOnly(), torch.randn(2, 4), {"": [10000, 10000]})
    assert r.row("blocks").calls == 0 and r.row("blocks").members == ("blocks.0",)
    assert details(r, "blocks")["status"] == details(r, "blocks.0")["status"] == \
        "not timed (not called in the measured passes)"


class AddsAroundABranch(nn.Module):
    """lin(x), then a ReLU where ``branch`` says (the counting pass runs it), then + x: the root adds 2·4 = 8
    elements itself. FLOPs: the Linear 2·32 + 8 (bias), the ReLU 8, the root's add 8: 88."""

    def __init__(self):
        super().__init__()
        self.lin, self.relu = nn.Linear(4, 4), nn.ReLU()

    def forward(self, x):
        return self.relu(self.lin(x)) + x


def test_the_rows_holding_a_branch_rate_their_flops_over_their_mean_time():
    """docs/measure.md: the rows holding a layer called in only some passes keep their rates of their
    counted FLOPs over their mean time; the layer's own rates are of its median over the passes it ran.
    Three passes: the Linear 40 µs each, the ReLU 20 µs in the first only, the forward 100, 70, 70 µs. The
    root: 88 FLOPs over its mean (100 + 70 + 70) / 3 = 80 µs (not its median 70); its own part, the add's 8
    FLOPs over its mean own time (40 + 30 + 30) / 3 µs (not the median 30). The ReLU: called_inclusive_ms
    and called_exclusive_ms both 0.02, its one pass's 20 µs (not 0 from the passes that skipped it)."""
    from test_measure import _filled

    r = _filled(AddsAroundABranch(), torch.randn(2, 4),
                {"": [100000, 70000, 70000], "lin": [40000] * 3, "relu": [20000, None, None]})
    assert r.total.cost.macs == 32 and _flops(r.root.cost) == 88 and _flops(r.root.self_cost) == 8
    assert r.root.extra["GFLOP/s"] == pytest.approx(88 / 80e-6 / 1e9)
    assert r.root.self_extra["GFLOP/s"] == pytest.approx(8 / (100e-6 / 3) / 1e9)
    d = details(r, "relu")
    assert d["called_inclusive_ms"] == pytest.approx(0.02) and d["called_exclusive_ms"] == pytest.approx(0.02)
    assert r.row("relu").extra["GFLOP/s"] == pytest.approx(8 / 20e-6 / 1e9)
    # the time by bound partitions the forward's mean 80 µs with each row's mean own time: every row is
    # overhead-bound here, the root's own 100 / 3 µs, the Linear's 40 and the ReLU's 20 / 3 (it ran in 1 of
    # 3 passes): 100 % (it left the ReLU out until 2026-12-07: 91.7 %). The time-vs-FLOPs line leaves the
    # ReLU out (its FLOPs are of one pass, its time a mean): only the root's own part is compared, 41.7 %
    # of the time for 8 of 88 FLOPs
    assert r.extra["time_ms"] == pytest.approx(0.08)
    assert r.extra["time_by_bound"] == pytest.approx({"overhead": 100 * (100 / 3 + 40 + 20 / 3) / 80})
    assert [(d["path"], d["time_share"], d["flops_share"]) for d in r.extra["time_vs_flops"]] == \
        [("(root)", pytest.approx(100 * (100 / 3) / 80), pytest.approx(100 * 8 / 88))]
    # a per-call floor of 1 µs makes the Linear latency-bound (its one call's floor, 1 µs, is 2.5 % of its
    # 40): half the forward; the overhead rows' floors are the root's 1 µs in every pass and the ReLU's 1 µs
    # in 1 of 3, (1 + 1/3) µs of the mean 80 (2 µs, 2.5 %, counted the ReLU's as if it ran in every pass)
    r = _filled(AddsAroundABranch(), torch.randn(2, 4),
                {"": [100000, 70000, 70000], "lin": [40000] * 3, "relu": [20000, None, None]}, floor_ns=1000)
    assert details(r, "")["fixed_ms"] == pytest.approx(0.003) and details(r, "relu")["fixed_ms"] == pytest.approx(0.001)
    assert r.extra["time_by_bound"] == pytest.approx({"overhead": 100 * (100 / 3 + 20 / 3) / 80,
                                                      "latency": 100 * 40 / 80})
    assert r.extra["overhead_call%"] == pytest.approx(100 * (1 + 1 / 3) / 80)
    # the ReLU's 90 page faults at 0.1 µs, 9 µs of its 20 (none elsewhere; the timed forwards took 90 each):
    # no floor probed, every row overhead-bound; the overhead rows' priced faults are the ReLU's 9 µs in 1 of
    # 3 passes, 3 µs of the mean 80 (3.75 %, not 11.25 % as if it ran in every pass)
    r = _filled(AddsAroundABranch(), torch.randn(2, 4),
                {"": [100000, 70000, 70000], "lin": [40000] * 3, "relu": [20000, None, None]},
                faults={"": [90, 0], "lin": [0, 0], "relu": [90, 90]}, fault_ns=100, timed_faults=[90] * 3)
    assert details(r, "relu")["fault_ms"] == pytest.approx(0.009) and details(r, "relu")["own_bound"] == "overhead"
    assert r.extra["overhead_fault%"] == pytest.approx(100 * (9 / 3) / 80)


def _flops(cost) -> int:
    return torchcount.CONVENTIONS["flops"].ops(cost)


class HookRunsUncounted(nn.Module):
    """A ruled block "r" whose covered child r.fc has a forward hook running eigvalsh (no formula): r.fc is
    'covered' with an uncounted op of its own."""

    def __init__(self, ruled_block):
        super().__init__()
        self.r = ruled_block()
        self.r.fc.register_forward_hook(lambda module, args, out: out + torch.linalg.eigvalsh(out.T @ out).sum())

    def forward(self, x):
        return self.r(x)


@pytest.mark.filterwarnings("ignore::torchcount.UncountedWarning")
def test_a_covered_row_with_uncounted_work_has_no_fixed_cost_of_its_own(ruled_block):
    """A covered row whose hook ran work no formula counts (†) gets no per-call floor for its own part either:
    its own time (80 µs) may be that work's, so its own reason quotes no fixed cost (its 7 own ops at a 2 µs
    floor would be 14 µs), as its whole row's has none (fixed_ms None)."""
    from test_measure import _filled

    r = _filled(HookRunsUncounted(ruled_block), torch.randn(2, 4), {"": [100000], "r": [90000], "r.fc": [80000]},
                floor_ns=2000)
    fc = r.row("r.fc")
    assert fc.status == "covered" and sum(fc.uncounted_ops.values()) == 1  # (eigvalsh's op)
    assert details(r, "r.fc")["fixed_ms"] is None and "fixed cost" not in details(r, "r.fc")["own_why"]


def test_a_rows_whole_fixed_cost_and_reason_hold_the_faults_of_its_calls_below():
    """The forward of test_measure's _faulting (305 µs) took no page fault itself, and its ReLU 180 at 1 µs:
    its whole row's fixed cost is its three calls' floors (its own, the Linear's, the ReLU's: 3 · 2 µs) and
    the 180 µs of faults in its time, 186 µs, and its reason names those faults, 180 of its 305 µs (59 %)."""
    from test_measure import _faulting

    r = _faulting([180] * 4)
    root = details(r, "")
    assert root["page_faults"] == 180 and root["fixed_ms"] == pytest.approx(0.186)
    assert "page faults take about 180 µs of its 305 µs (59%)" in root["why"]


def test_a_groups_rate_is_its_members_counted_flops_over_its_time():
    """A ModuleList group was not called itself, but its members were, in the counting pass too: it has their
    counted work (the Linear's 2·32 + 8, two ReLUs' 8 each: 88 FLOPs) and so a rate, 88 FLOPs over its time
    (the own times below it, 50 + 50 + 100 + 60 = 260 µs) — not the 'not called in the counted pass' verdict
    of a branch the counting pass skipped."""
    from test_measure import _filled

    r = _filled(Stack(), torch.randn(2, 4),
                {"": [300000], "blocks.0": [200000], "blocks.0.0": [50000], "blocks.0.1": [100000],
                 "blocks.1": [60000]})
    g = r.row("blocks")
    assert g.calls == 0 and _flops(g.cost) == 88
    assert g.extra["GFLOP/s"] == pytest.approx(88 / 260e-6 / 1e9)
    assert not details(r, "blocks")["why"].startswith("not called in the counted pass")


def test_a_row_without_a_peak_says_its_dtype_has_none_only_where_that_is_why():
    """The reason 'no float64 peak is rated for …' replaces classify's only where the row's bound is unknown
    for that reason: with no peaks at all (kind 'unknown') the Linear's reason is classify's 'device peaks
    unknown …'; a row of 0 ns (a clock too coarse for it) has 'no measured time' though its peak is known;
    and a float64 Linear (no peak) moving its hundreds of bytes in 4 µs, faster than a 1 kB/s memory, is 'cache', with
    classify's reason."""
    from test_measure import _filled

    from torchcount.measure.timing import analyse_pass

    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU())
    none = Peaks("a test device", None, None, None, None, None, "no peaks", kind="unknown")
    r = _filled(model, torch.randn(2, 4), {"": [30000], "0": [4000], "1": [20000]}, peaks=none)
    assert details(r, "0")["why"] == "device peaks unknown (use ceiling=True; CLI: --ceiling)"
    r = _filled(model, torch.randn(2, 4), {"": [30000], "0": [0], "1": [20000]})
    assert details(r, "0")["bound"] == "unknown" and details(r, "0")["why"] == "no measured time"
    slow_memory = Peaks("a test device", 1e12, None, 4e12, 4e12, 1e3, "given", kind="datasheet")
    timed = analyse_pass([["", 0, 5, -1], ["a", 1, 2, 0], ["b", 3, 4, 0]], [0, 1000, 5000, 6000, 10000, 30000], 30000)
    b = details(_fill_passes(Float64Beside(), torch.randn(2, 8), [timed], peaks=slow_memory), "b")
    assert b["peak_flops"] is None and b["bound"] == "cache" and "is above the memory's peak" in b["why"]


def test_a_rate_above_datasheet_peaks_does_not_blame_a_measured_ceiling():
    """A row above the peak is invalid; only where the peaks were measured (a ceiling run here) does its reason
    add that the device's true peak may be higher. The Linear's 144 FLOPs in 0.1 µs, 1.44 GFLOP/s, above the
    datasheet 1 GFLOP/s of test_measure's SLOW device: invalid, with no such remark."""
    from test_measure import _filled

    r = _filled(nn.Sequential(nn.Linear(4, 8), nn.ReLU()), torch.randn(2, 4), {"": [30000], "0": [100], "1": [20000]})
    d = details(r, "0")
    assert d["bound"] == "invalid" and "measured ceiling" not in d["why"]


def test_a_cuda_rows_peak_memory_is_shown_in_mib_where_it_was_read():
    """On CUDA, a row's peak allocated memory while it ran (memory_hooks' 'peak', bytes) is its peak_MiB, and
    details keep the bytes and those allocated at its entry; a row with no peak read shows none, and on a CPU
    (memory kind 'cpu') no row shows one. Given by hand: the Linear's peak 3 MiB (1 MiB at entry), its
    activations 2 MiB of which 1 MiB its own; the ReLU's none."""
    from torchcount.measure.memory import MiB
    from torchcount.measure.timing import analyse_pass

    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU())
    timed = analyse_pass([["", 0, 5, -1], ["0", 1, 2, 0], ["1", 3, 4, 0]], [0, 1000, 5000, 6000, 8000, 30000], 30000)
    mem = {"0": {"peak": 3 * MiB, "at_entry": MiB, "act_bytes": 2 * MiB, "own_act_bytes": MiB}, "1": {}}
    cuda = {"kind": "cuda", "pass_peak_allocated": 3 * MiB, "allocated_before": 0}
    r = _fill_passes(model, torch.randn(2, 4), [timed], mem=mem, memory=cuda)
    lin, d = r.row("0"), details(r, "0")
    assert lin.extra["peak_MiB"] == 3 and (d["peak_allocated"], d["allocated_at_entry"]) == (3 * MiB, MiB)
    assert lin.extra["act_MiB"] == 2 and lin.self_extra["act_MiB"] == 1 and lin.self_extra["peak_MiB"] is None
    assert "peak_MiB" not in r.row("1").extra and r.row("1").extra["act_MiB"] is None
    r = _fill_passes(model, torch.randn(2, 4), [timed], mem=mem)
    assert "peak_MiB" not in r.row("0").extra and "peak_allocated" not in details(r, "0")



class ScalesANorm(nn.Module):
    """A BatchNorm1d(4), then × a scale of 4 it holds itself."""

    def __init__(self):
        super().__init__()
        self.bn, self.scale = nn.BatchNorm1d(4), nn.Parameter(torch.ones(4))

    def forward(self, x):
        return self.bn(x) * self.scale


def test_the_parameter_memory_columns_are_a_rows_parameters_and_buffers_in_mib():
    """param_MiB is a row's parameters and buffers in MiB: a BatchNorm1d(4) holds a weight and a bias (8
    float32, 32 bytes) and running_mean, running_var (32 bytes) and num_batches_tracked (one int64, 8
    bytes): 72 / 2²⁰ MiB; the model holding it and a scale of 4 float32 (16 bytes), 88 / 2²⁰, of which its
    own part ('(self)') holds the scale's 16 / 2²⁰."""
    from torchcount.measure.timing import analyse_pass

    timed = analyse_pass([["", 0, 3, -1], ["bn", 1, 2, 0]], [0, 1000, 5000, 6000], 6000)
    r = _fill_passes(ScalesANorm().eval(), torch.randn(2, 4), [timed])
    assert r.row("bn").extra["param_MiB"] == pytest.approx(72 / 2**20)
    assert r.root.extra["param_MiB"] == pytest.approx(88 / 2**20)
    assert r.root.self_extra["param_MiB"] == pytest.approx(16 / 2**20)


def test_a_forward_timed_at_0_ns_has_no_time_shares():
    """A forward a coarse clock read as 0 ns (its layers too) has no share of its time to give: time% is None
    for the rows and their own parts, the time by bound is empty, and no share is divided by zero."""
    from test_measure import _filled

    r = _filled(nn.Sequential(nn.Linear(4, 8), nn.ReLU()), torch.randn(2, 4), {"": [0], "0": [0], "1": [0]})
    assert r.row("0").extra["time%"] is None and r.row("0").self_extra["time%"] is None
    assert r.root.extra["time%"] is None and r.extra["time_by_bound"] == {} and r.extra["time_ms"] == 0
    # (a forward of 1 ns has shares: the ReLU's 1 ns is 100 % of it)
    r = _filled(nn.Sequential(nn.Linear(4, 8), nn.ReLU()), torch.randn(2, 4), {"": [1], "0": [0], "1": [1]})
    assert r.row("1").extra["time%"] == r.row("1").self_extra["time%"] == 100 and r.row("0").extra["time%"] == 0
    # and every ratio of it: the leaves' 1 ns over the forward's 1 ns, the uncounted work's 0 of it, the
    # stamped forward over the plain one (both 1 ns), and the ReLU's 100 % of the time for 16 of 160 FLOPs
    assert r.extra["time_coverage"] == 1 and r.extra["uncounted_time_share"] == 0 and r.extra["overhead"] == 1
    assert [(t["path"], t["time_share"], t["flops_share"]) for t in r.extra["time_vs_flops"]] == [("1", 100, 10)]


class HoldsARuledBlock(nn.Module):
    def __init__(self, ruled_block):
        super().__init__()
        self.r = ruled_block()

    def forward(self, x):
        return self.r(x)


def test_a_rule_rows_own_part_is_judged_on_its_whole_time_faults_and_calls(ruled_block):
    """A rule prices its module whole (its covered fc's work included), so its own part is judged as its whole
    row: its rule's 2 · 2·4·4 = 64 FLOPs over its whole 250 µs, with the fixed cost of both calls (2 · 2 µs)
    and all the page faults of its call (100 at 1 µs, fc's 60 among them, not its own 40): the same bound and
    reason, which names those faults, 100 µs of its 250 µs (40 %)."""
    from test_measure import _filled

    r = _filled(HoldsARuledBlock(ruled_block), torch.randn(2, 4), {"": [300000], "r": [250000], "r.fc": [200000]},
                floor_ns=2000, faults={"": [100, 0], "r": [100, 40], "r.fc": [60, 60]}, fault_ns=1000,
                timed_faults=[100])
    d = details(r, "r")
    assert r.row("r").status == "rule" and _flops(r.row("r").self_cost) == 64
    assert d["fixed_ms"] == pytest.approx(0.104) and "its calls' fixed cost 4 µs" in d["why"]
    assert "page faults take about 100 µs of its 250 µs (40%)" in d["why"]
    assert (d["own_bound"], d["own_why"]) == (d["bound"], d["why"])
    assert r.row("r").self_extra["GFLOP/s"] == pytest.approx(64 / 250e-6 / 1e9)


def test_a_rows_own_part_names_only_its_own_page_faults():
    """The own part of a row that is not a rule is judged on its own faults: the forward took 10 itself and
    180 in its ReLU (test_measure's _faulting times, 1 µs a fault): its own 10 are fewer than FAULTS_NAMED
    (64), so its own reason names none, though its whole row's names all 190."""
    from test_measure import _filled

    r = _filled(nn.Sequential(nn.Linear(4, 8), nn.ReLU()), torch.randn(2, 4),
                {"": [300000, 290000, 320000, 310000], "0": [40000, 30000, 50000, 45000],
                 "1": [200000, 210000, 190000, 220000]},
                floor_ns=2000, faults={"": [190, 10], "0": [0, 0], "1": [180, 180]}, fault_ns=1000,
                timed_faults=[190] * 4)
    d = details(r, "")
    assert "page faults take about 190 µs" in d["why"] and "page faults" not in d["own_why"]
    # its own fixed cost: its one call's floor and its own 10 faults, 2 + 10 µs; the overhead rows' floors, in
    # % of the 305 µs forward: its 2 µs and the ReLU's 2 µs, the faults taken out (its own 10, not all 190)
    assert "its calls' fixed cost 12 µs" in d["own_why"] and d["own_bound"] == "overhead"
    assert r.extra["overhead_call%"] == pytest.approx(100 * 4 / 305)


def test_the_overhead_rows_faults_leave_out_a_memory_bound_rows_faults():
    """overhead_fault% holds the priced faults of the overhead-bound rows only: test_measure's by-hand
    times (Linear(4, 8) 4.25 µs, memory-bound: its 256 B at 0.1 GB/s, 2.56 µs, is above a tenth of it; the
    forward 30.5 µs) with 100 faults in the Linear and 70 in the root's own part, 10 ns each. The Linear's
    100 (1 µs, 24 % of its time, named) leave it memory-bound, its time besides them 3.25 µs; the root's own
    part (no work, 5.5 µs) is overhead: 0.7 µs of the 30.5, not the 1.7 µs of both."""
    from test_measure import _filled

    r = _filled(nn.Sequential(nn.Linear(4, 8), nn.ReLU()), torch.randn(2, 4),
                {"": [30000, 29000, 32000, 31000], "0": [4000, 3000, 5000, 4500], "1": [20000, 21000, 19000, 22000]},
                floor_ns=500, faults={"": [170, 70], "0": [100, 100], "1": [0, 0]}, fault_ns=10,
                timed_faults=[170] * 4)
    lin = details(r, "0")
    assert lin["bound"] == lin["own_bound"] == "memory" and lin["fault_ms"] == pytest.approx(1e-3)
    assert "page faults take about 1 µs of its 4.25 µs (24%)" in lin["why"]
    assert details(r, "")["own_bound"] == "overhead"
    assert r.extra["overhead_fault%"] == pytest.approx(100 * 0.7 / 30.5)


def test_a_containers_own_part_is_held_to_its_own_dtypes_peak():
    """A container's whole row has no peak where a row below it computes in an unrated dtype (Float64Beside:
    its float64 Linear), but its own part (the cast, no FLOPs, 192 bytes in its own 22 µs) computes in its
    own float32 and is held to the FP32 peak: a bound (its roofline time, 192 B at 100 GB/s, is 0.0 % of
    22 µs: overhead), not 'device peaks unknown'."""
    from torchcount.measure.timing import analyse_pass

    peaks = Peaks("a test device", 1e12, None, 4e12, 4e12, 1e11, "given", kind="datasheet")
    timed = analyse_pass([["", 0, 5, -1], ["a", 1, 2, 0], ["b", 3, 4, 0]], [0, 1000, 5000, 6000, 10000, 30000], 30000)
    r = _fill_passes(Float64Beside(), torch.randn(2, 8), [timed], peaks=peaks)
    d = details(r, "")
    assert d["peak_flops"] is None and d["bound"] == "unknown" and r.root.self_cost.bytes == 192
    assert d["own_bound"] == "overhead" and d["own_why"].startswith("roofline time 0.00192 µs is 0.0% of the measured 22 µs")


def test_a_float64_row_of_no_flops_with_known_peaks_says_no_float64_peak_is_rated():
    """A float64 row with no FLOPs (a Flatten after a float64 Linear) has no peak either: its bound is unknown
    because no float64 peak is rated for the device, as the Linear's is, not because 'device peaks unknown
    (use ceiling=True …)': the peaks are known, and a ceiling measures no float64 peak (test_measure_edges'
    float64 row, for a row of 0 FLOPs)."""
    from torchcount.measure.timing import analyse_pass

    peaks = Peaks("a test device", 1e12, None, 4e12, 4e12, 1e11, "given", kind="datasheet")
    model = nn.Sequential(nn.Linear(8, 8), nn.Flatten()).double()
    timed = analyse_pass([["", 0, 5, -1], ["0", 1, 2, 0], ["1", 3, 4, 0]], [0, 1000, 5000, 6000, 8000, 30000], 30000)
    r = _fill_passes(model, torch.randn(2, 8, dtype=torch.float64), [timed], peaks=peaks)
    flat = details(r, "1")
    assert _flops(r.row("1").cost) == 0 and flat["dtype"] == "float64" and flat["peak_flops"] is None
    assert flat["bound"] == "unknown" and flat["why"].startswith("no float64 peak is rated for a test device")
    assert details(r, "0")["why"].startswith("no float64 peak is rated for a test device")


def test_the_measured_own_columns_are_added_to_a_rows_counted_ones():
    """_fill adds its measured columns to a row's own part beside those counting put there (the root's own
    'steps', its longest chain of own ops), which stay as counted: x + lin(x)'s root, measured by hand."""
    from test_measure import _filled

    counted = torchcount.profile(AddsItself(), torch.randn(2, 4)).root.self_extra
    r = _filled(AddsItself(), torch.randn(2, 4), {"": [10000], "lin": [4000]})
    assert "steps" in counted and r.root.self_extra["steps"] == counted["steps"]
    assert r.root.self_extra["time_ms"] == pytest.approx(6e-3)


def test_a_model_of_one_flop_has_a_flops_share_to_compare():
    """A ReLU on one element, 1 FLOP in all: the time-vs-FLOPs rows are still compared (only 0 FLOPs have no
    share): of the 10 µs forward, the ReLU's 4 µs is 40 % of the time for 100 % of the FLOPs, the root's own
    6 µs 60 % for none."""
    from test_measure import _filled

    r = _filled(nn.Sequential(nn.ReLU()), torch.randn(1), {"": [10000], "0": [4000]})
    assert _flops(r.total.cost) == 1
    assert [(t["path"], t["time_share"], t["flops_share"]) for t in r.extra["time_vs_flops"]] == \
        [("(root)", pytest.approx(60.0), 0.0)]


@pytest.mark.parametrize("own_ns, listed", [(500, False), (1000, False), (1500, True)])
def test_a_row_is_time_heavy_from_more_than_a_point_above_its_flops_share(own_ns, listed):
    """time_vs_flops lists a row whose share of the time exceeds its share of the FLOPs by more than one
    point: Linear(4, 8) then ReLU on (2, 4), the Linear's 144 of 160 FLOPs (90 %), the ReLU's 16 (10 %). Of a
    100 µs forward, the ReLU 10 µs (10 % for 10 %), the root's own 0.5 µs and 1 µs are not listed (0.5 and
    exactly 1 point over its no FLOPs), its 1.5 µs is."""
    from test_measure import _filled

    r = _filled(nn.Sequential(nn.Linear(4, 8), nn.ReLU()), torch.randn(2, 4),
                {"": [100000], "0": [90000 - own_ns], "1": [10000]})
    rows = [(t["path"], t["time_share"], t["flops_share"]) for t in r.extra["time_vs_flops"]]
    assert rows == ([("(root)", pytest.approx(1.5), 0.0)] if listed else [])


@pytest.mark.parametrize("relu_ns, listed", [(12400, False), (12500, True)])
def test_a_row_is_time_heavy_from_a_quarter_above_its_flops_share(relu_ns, listed):
    """... and by at least a quarter of it: the same Linear and ReLU, no time of the root's own. The ReLU's
    10 % of the FLOPs: its 12.4 µs of 100 (2.4 points over, 1.24×) is in proportion to its work, its 12.5 µs
    (1.25×) is listed; the Linear's 87.5 % of the time for 90 % never is. (A block with 93 % of the time for
    89 % of the FLOPs was listed as 'time share ≫ FLOPs share' until 2026-12-07.)"""
    from test_measure import _filled

    r = _filled(nn.Sequential(nn.Linear(4, 8), nn.ReLU()), torch.randn(2, 4),
                {"": [100000], "0": [100000 - relu_ns], "1": [relu_ns]})
    rows = [(t["path"], t["time_share"], t["flops_share"]) for t in r.extra["time_vs_flops"]]
    assert rows == ([("1", 12.5, 10.0)] if listed else [])
    assert ("time share ≫ FLOPs share (self): 1 (ReLU) 12.5% of time for 10.0% of FLOPs" in r.extra["footer"]) == listed


def test_time_vs_flops_keeps_the_five_rows_most_above_their_flops_share_most_first():
    """Linear(4, 4) on (2, 4) (2·32 + 8 = 72 FLOPs), then six ReLUs (8 FLOPs each): 120 FLOPs. Of a 100 µs
    forward: the Linear 10 µs (10 % of the time for 60 % of the FLOPs), the ReLUs 9 to 14 µs (each 8/120 =
    6.7 % of the FLOPs), the root's own 21 µs (none): seven rows more than a point above their FLOPs share.
    time_vs_flops keeps five, most above first: the root's own (21 points), then the ReLUs of 14, 13, 12 and
    11 µs (7.3 to 4.3 points); not the 10 µs and 9 µs ones, nor the Linear."""
    from test_measure import _filled

    times = {"": [100000], "0": [10000]}
    times.update({str(i): [(8 + i) * 1000] for i in range(1, 7)})
    r = _filled(nn.Sequential(nn.Linear(4, 4), *[nn.ReLU() for _ in range(6)]), torch.randn(2, 4), times)
    assert _flops(r.total.cost) == 120
    assert [(t["path"], t["time_share"]) for t in r.extra["time_vs_flops"]] == \
        [("(root)", pytest.approx(21.0))] + [(str(i), pytest.approx(8.0 + i)) for i in (6, 5, 4, 3)]
    assert r.extra["time_vs_flops"][1]["flops_share"] == pytest.approx(100 * 8 / 120)


def test_the_time_by_bound_of_a_1_ns_forward_holds_its_one_timed_row():
    """A forward a coarse clock read as 1 ns, all of it in the ReLU (16 FLOPs in 1 ns, 16 GFLOP/s, above the
    1 GFLOP/s peak: invalid); the Linear and the root's own part read 0 ns: the time by bound is invalid
    100 %, the rows of 0 ns are in no share. No floor and no fault price: no share of faults or of calls."""
    from test_measure import _filled

    r = _filled(nn.Sequential(nn.Linear(4, 8), nn.ReLU()), torch.randn(2, 4), {"": [1], "0": [0], "1": [1]})
    assert r.row("1").extra["bound"] == "invalid" and r.row("0").extra["bound"] == "unknown"
    # (a rate above the peak is no fact to export: no GFLOP/s, no %peak)
    assert (r.row("1").extra["GFLOP/s"], r.row("1").extra["%peak"]) == (None, None)
    assert r.extra["time_by_bound"] == {"invalid": 100.0} and r.extra["time%"] == 100
    assert r.extra["overhead_fault%"] is None and r.extra["overhead_call%"] is None
    # with a floor (0.5 µs) and a fault price (1 µs) no row is overhead-bound: 0 % of calls and of faults;
    # at 0 ns, no share at all
    r = _filled(nn.Sequential(nn.Linear(4, 8), nn.ReLU()), torch.randn(2, 4), {"": [1], "0": [0], "1": [1]},
                floor_ns=500, fault_ns=1000, timed_faults=[0])
    assert r.extra["overhead_fault%"] == 0 and r.extra["overhead_call%"] == 0 and r.extra["fault_cost_us"] == 1
    r = _filled(nn.Sequential(nn.Linear(4, 8), nn.ReLU()), torch.randn(2, 4), {"": [0], "0": [0], "1": [0]},
                floor_ns=500, fault_ns=1000, timed_faults=[0])
    assert r.extra["overhead_fault%"] is None and r.extra["overhead_call%"] is None


@pytest.mark.filterwarnings("ignore::torchcount.UncountedWarning")
def test_uncounted_work_the_timed_passes_did_not_run_takes_none_of_their_time():
    """x xᵀ then eigvalsh (no formula: the † row "1") ran in the counting pass, not in the timed ones (only the
    Linear "0", 2 of the forward's 10 µs): the rows with uncounted work took 0 ms of the forward, 0 %."""
    from test_measure import _Eig, _filled

    r = _filled(nn.Sequential(nn.Linear(4, 4), _Eig()), torch.randn(4, 4), {"": [10000], "0": [2000], "1": [None]})
    assert r.row("1").status == "partial" and details(r, "1")["status"].startswith("not timed")
    assert r.extra["uncounted_ms"] == 0 and r.extra["uncounted_time_share"] == 0


def test_the_footer_notes_rows_called_in_some_passes_only_where_there_are_some():
    """The footer's line on mean times is there where a row ran in only some passes (the ReLU of
    AddsAroundABranch in 1 of 3, held by the root), and not where every row ran in every pass."""
    from test_measure import _filled

    def notes(relu):
        r = _filled(AddsAroundABranch(), torch.randn(2, 4), {"": [100000, 70000, 70000], "lin": [40000] * 3,
                                                             "relu": relu})
        return [line for line in r.extra["footer"] if line.startswith("called in only some")]

    assert notes([20000, None, None]) == [
        "called in only some of the measured passes: 'relu' (1 of 3); their time is the mean per pass over all 3 "
        "passes (0 where not called), and so is that of the rows holding it ('(root)'): means add up, medians do "
        "not; details() keeps each one's median over the passes it ran (called_inclusive_ms)"]
    assert notes([20000] * 3) == []


def test_the_footers_ratios_and_memory_line_by_hand():
    """test_measure's by-hand times: the stamped forward's median 30.5 µs over the plain one's 25.5 µs is
    ×1.20, the leaves' 24 µs over 30.5 µs a coverage of 79 %; the peak RSS given, 2²⁰ bytes, 1.0 MiB. Where
    the plain forward is the slower (its median 32.5 µs), the ratio ×0.94 is said to be run-to-run noise."""
    from test_measure import SLOW, _filled

    from torchcount.measure import _footer

    times = {"": [30000, 29000, 32000, 31000], "0": [4000, 3000, 5000, 4500], "1": [20000, 21000, 19000, 22000]}
    model, x = nn.Sequential(nn.Linear(4, 8), nn.ReLU()), torch.randn(2, 4)
    footer = _filled(model, x, times, floor_ns=500, plain=[25000, 26000, 24000, 27000]).extra["footer"]
    first = next(line for line in footer if line.startswith("measured on "))
    assert " with timing stamps 0.030 ms → overhead ×1.20; coverage 79% (Σ leaf exclusive ÷ the instrumented " \
           "forward; " in first
    assert "memory: peak resident set size of the whole process since this run (peak mark reset before it): " \
           "1.0 MiB (CPU: no per-layer figure)" in footer
    # (the root's own part does no FLOPs: overhead-bound, with no rate, not 0 GFLOP/s)
    r = _filled(model, x, times, floor_ns=500, plain=[32000, 33000, 32000, 33000])
    own = r.root.self_extra
    assert own["bound"] == "overhead" and (own["GFLOP/s"], own["%peak"]) == (None, None)
    first = next(line for line in r.extra["footer"] if line.startswith("measured on "))
    assert " → overhead ×0.94 (below 1: run-to-run noise); coverage 79% " in first
    # with no warm-up the first of the interleaved passes is a plain one, the model's first call: cold
    no_warmup = _footer({**r.extra, "warmup": 0}, SLOW)[0]
    assert no_warmup.startswith(first[:first.index(" after ")] + " after 0 warm-up; ")
    assert " → overhead ×0.94 (below 1: with no warm-up the first pass without hooks was the model's first " \
           "call, cold; or run-to-run noise); coverage 79% " in no_warmup
    # _footer's defaults: no uncounted work, every row in every pass
    lines = _footer(r.extra, SLOW)
    assert lines[0] == first and not [line for line in lines if line.startswith("rows with uncounted work")]
    # a plain forward as fast as the stamped one is no noise (×1.00), one timed at 0 ns has no ratio
    first = next(line for line in _filled(model, x, times, plain=[30000, 29000, 32000, 31000]).extra["footer"]
                 if line.startswith("measured on "))
    assert " → overhead ×1.00; coverage 79% " in first
    first = next(line for line in _filled(model, x, times, plain=[0] * 4).extra["footer"]
                 if line.startswith("measured on "))
    assert " → overhead unknown (a median time of 0); coverage 79% " in first


def test_no_tf32_peak_is_quoted_for_a_gpu_without_one(monkeypatch):
    """A float32 model on a GPU with no TF32 peak (a V100-like datasheet: tf32 None) gets no TF32 part in the
    footer's peaks line, whatever torch's switches say (they are on here)."""
    from dataclasses import replace

    import torchcount.measure as M
    from torchcount.measure import _tf32_part
    from torchcount.measure.peaks import GPU_PEAKS

    monkeypatch.setattr(M, "uses_tf32", lambda device, conv=False, rnn=False: True)
    assert _tf32_part({"device": "cuda:0"}, replace(GPU_PEAKS["H100 SXM"], tf32=None), "FP32") == ""


def test_no_cpu_wait_nor_page_faults_are_said_of_a_forward_timed_at_0_ms():
    """The threads' wait for a CPU and the page faults' price are said as shares of the forward: of a forward
    a coarse clock read as 0 ms there is no share, and no line (a 0.2 ms wait in a 1 ms forward, 20 %, is
    said, and 100 faults at 1 µs, 10 %)."""
    from test_measure import SLOW, _filled

    from torchcount.measure import _footer

    r = _filled(nn.Sequential(nn.Linear(4, 8), nn.ReLU()), torch.randn(2, 4), {"": [0], "0": [0], "1": [0]})
    extra = dict(r.extra, cpu_wait_ms=0.2, cpu_wait_range_ms=[0.2, 0.2])
    assert r.extra["root_ms"] == 0 and not [line for line in _footer(extra, SLOW) if line.startswith("busy CPUs: ")]
    busy = [line for line in _footer({**extra, "root_ms": 1.0}, SLOW) if line.startswith("busy CPUs: ")]
    assert len(busy) == 1 and "20% of it" in busy[0]
    # nor a share of page faults (100 at 1 µs: 0.1 ms), nor a time by bound (no row has a share of 0 ms)
    extra.update(page_faults=100, page_faults_range=[100, 100], page_faults_probed=100, fault_cost_us=1.0)
    assert r.extra["time_by_bound"] == {}
    assert not [line for line in _footer(extra, SLOW) if line.startswith(("page faults: ", "time by bound"))]
    faults = [line for line in _footer({**extra, "root_ms": 1.0}, SLOW) if line.startswith("page faults: ")]
    assert len(faults) == 1 and "about 0.1 ms at 1 µs each (10% of the forward)" in faults[0]


def test_the_busy_cpus_line_gives_the_waits_range_and_blames_torchs_threads_only_on_a_cpu(monkeypatch):
    """A 0.5 ms wait (median; 0.3 to 0.9 ms over the passes) in a 2 ms forward, 25 %: the line gives that
    range. torch running 4 threads on 2 usable CPUs is the cause named where the model ran on the CPU; on a
    GPU (its kernels not on those threads), and where the CPUs usable are not known, other threads are."""
    from dataclasses import replace

    from test_measure import SLOW, _filled

    from torchcount.measure import _footer

    r = _filled(nn.Sequential(nn.Linear(4, 8), nn.ReLU()), torch.randn(2, 4), {"": [2000000], "0": [0], "1": [0]})
    monkeypatch.setattr(torch, "get_num_threads", lambda: 4)

    def busy(peaks=SLOW, **changes):
        extra = {**r.extra, "cpu_wait_ms": 0.5, "cpu_wait_range_ms": [0.3, 0.9], "cpus": 2, **changes}
        return next(line for line in _footer(extra, peaks) if line.startswith("busy CPUs: "))

    assert "waited 0.5 ms for a CPU per forward (median of the timed passes, 0.3–0.9; 25% of it" in busy()
    assert "torch runs 4 threads on the 2 CPUs this process may use" in busy()
    assert "more threads wanted to run than the 2 CPUs it may use" in busy(device="cuda:0")
    assert "more threads wanted to run than the ? CPUs it may use" in busy(cpus=None)
    # (a ceiling measured meanwhile was slowed too: a row may read invalid; datasheet peaks were not)
    slowed = "reads latency or overhead (or invalid: a ceiling measured meanwhile was slowed too)"
    assert slowed in busy(peaks=replace(SLOW, kind="measured")) and "(or invalid" not in busy()


def test_the_footers_peaks_line_quotes_the_peak_of_the_models_dtype():
    """A device of 1 TFLOP/s FP32, 4 BF16, 2 FP16 and 100 GB/s: the peaks line quotes the model dtype's peak
    (BF16 for a bfloat16 model, FP16 for a float16 one), FP32 where the device has none for it, no figure
    for a float64 model (no float64 peak is rated: its rows get no %peak), nor where the FP32 one is unknown."""
    from dataclasses import replace

    from test_measure import _filled

    from torchcount.measure import _footer

    r = _filled(nn.Sequential(nn.Linear(4, 8), nn.ReLU()), torch.randn(2, 4), {"": [30000], "0": [4000], "1": [20000]})
    device = Peaks("a test device", 1e12, None, 4e12, 2e12, 1e11, "given", kind="datasheet")

    def line(dtype, peaks=device):
        return next(text for text in _footer({**r.extra, "dtype": dtype}, peaks) if text.startswith("peaks ("))

    assert line("float32") == "peaks (datasheet): a test device, FP32 1 TFLOP/s, 100 GB/s — given"
    assert line("bfloat16") == "peaks (datasheet): a test device, BF16 4 TFLOP/s, 100 GB/s — given"
    assert line("float16") == "peaks (datasheet): a test device, FP16 2 TFLOP/s, 100 GB/s — given"
    assert line("bfloat16", replace(device, bf16=None)) == \
        "peaks (datasheet): a test device, FP32 1 TFLOP/s, 100 GB/s — given"
    assert line("float64") == \
        "peaks (datasheet): a test device, no float64 peak (its rows get no %peak), 100 GB/s — given"
    assert line("float32", replace(device, fp32=None)) == "peaks (datasheet): a test device, 100 GB/s — given"


def test_the_time_by_bound_line_names_the_bounds_of_half_a_percent_or_more_and_only_with_known_peaks():
    """The footer's time by bound names each bound with 0.5 % of the forward or more (memory's 0.7 %, shown as
    1 %), not one below (cache's 0.4 %); with unknown peaks every row's bound is unknown: no such line."""
    from test_measure import SLOW, _filled

    from torchcount.measure import _footer

    r = _filled(nn.Sequential(nn.Linear(4, 8), nn.ReLU()), torch.randn(2, 4), {"": [30000], "0": [4000], "1": [20000]})
    extra = {**r.extra, "time_by_bound": {"latency": 98.9, "memory": 0.7, "cache": 0.4}}
    line = next(text for text in _footer(extra, SLOW) if text.startswith("time by bound"))
    assert "): latency 99%, memory 1% — mostly latency" in line and "cache" not in line
    # a bound named at exactly 0.5 % reads 1 %, not 0 % (Python rounds 0.5 half to even)
    exact = next(text for text in _footer({**extra, "time_by_bound": {"latency": 99.1, "memory": 0.5, "cache": 0.4}},
                                          SLOW) if text.startswith("time by bound"))
    assert "): latency 99%, memory 1% — mostly latency" in exact
    # the majority's word: latency or overhead from just over half the forward (50.5 %)
    for bound, word in (("latency", " — mostly latency: "), ("overhead", " — mostly overhead: Python and dispatch")):
        text = next(text for text in _footer({**extra, "time_by_bound": {bound: 50.5, "memory": 49.5}}, SLOW)
                    if text.startswith("time by bound"))
        assert f"): {bound} 50%, memory 50%{word}" in text  # (50.5 and 49.5 rounded half to even)
    unknown = Peaks("a device", None, None, None, None, None, "no datasheet", kind="unknown")
    assert not [text for text in _footer(extra, unknown) if text.startswith("time by bound")]


def test_the_page_faults_line_from_64_faults_costing_2_percent_of_the_forward():
    """The footer names page faults from 64 per forward (FAULTS_NAMED) whose probed price is 2 % of the
    forward or more: 64 faults at 0.3125 µs are 0.02 ms, exactly 2 % of a 1 ms forward (both binary-exact),
    so they are named; 63 at that price, or 64 at 0.3 µs (0.0192 ms, 1.92 %), are not. The line gives the
    range across the passes where one was recorded (50–80), none where none was."""
    from test_measure import SLOW, _filled

    from torchcount.measure import _footer

    r = _filled(nn.Sequential(nn.Linear(4, 8), nn.ReLU()), torch.randn(2, 4), {"": [1000000], "0": [0], "1": [0]})
    base = {k: v for k, v in r.extra.items() if k != "page_faults_range"}

    def faults_line(faults, fault_us):
        lines = [line for line in _footer({**base, "root_ms": 1.0, "page_faults": faults, "page_faults_probed": 70,
                                           "fault_cost_us": fault_us}, SLOW) if line.startswith("page faults: ")]
        assert len(lines) <= 1
        return lines[0] if lines else None

    line = faults_line(64, 0.3125)
    assert line is not None and line.startswith(
        "page faults: 64 per forward (median of the timed passes), about 0.02 ms at 0.31 µs each (2% of the forward)")
    assert "(70 in all)" in line
    assert faults_line(63, 0.3125) is None
    assert faults_line(64, 0.3) is None
    # with the passes' range recorded, the line gives it
    ranged = [line for line in _footer({**base, "root_ms": 1.0, "page_faults": 64, "page_faults_range": [50, 80],
                                        "page_faults_probed": 70, "fault_cost_us": 0.3125}, SLOW)
              if line.startswith("page faults: ")]
    assert ranged and ranged[0].startswith("page faults: 64 per forward (median of the timed passes; 50–80), ")


def test_the_note_that_bound_shares_do_not_add_up_comes_from_a_gap_of_more_than_5_points():
    """Medians need not add up: the time-by-bound line says so when its shares add up to more than 5 points
    away from 100 % (BOUND_SUM_GAP), and not at 95 % or 105 % exactly, nor when rows ran in some passes only
    (`varied`: another note covers it)."""
    from test_measure import SLOW, _filled

    from torchcount.measure import _footer

    r = _filled(nn.Sequential(nn.Linear(4, 8), nn.ReLU()), torch.randn(2, 4), {"": [30000], "0": [4000], "1": [20000]})

    def note(latency, memory, varied=False):
        line = next(text for text in _footer({**r.extra, "time_by_bound": {"latency": latency, "memory": memory}},
                                             SLOW, varied=varied) if text.startswith("time by bound"))
        return "these shares add up to" in line

    assert not note(60.0, 35.0) and not note(60.0, 45.0)
    assert note(60.0, 34.5) and note(60.0, 45.5)
    assert "these shares add up to 94% of the forward, not 100%" in next(
        text for text in _footer({**r.extra, "time_by_bound": {"latency": 60.0, "memory": 34.0}}, SLOW)
        if text.startswith("time by bound"))
    assert not note(60.0, 34.5, varied=True)


def test_the_time_share_over_flops_share_line_names_the_first_three():
    """The footer's "time share ≫ FLOPs share" line names the first three of the rows `time_vs_flops` lists
    (four given: the fourth is left out), each as path (type) time% of time for FLOPs% of FLOPs; none listed,
    no line."""
    from test_measure import SLOW, _filled

    from torchcount.measure import _footer

    r = _filled(nn.Sequential(nn.Linear(4, 8), nn.ReLU()), torch.randn(2, 4), {"": [30000], "0": [4000], "1": [20000]})
    rows = [{"path": f"layer{i}", "type": "ReLU", "time_share": 40.0 - i, "flops_share": 1.0 + i} for i in range(4)]
    lines = [text for text in _footer({**r.extra, "time_vs_flops": rows}, SLOW) if text.startswith("time share")]
    assert lines == ["time share ≫ FLOPs share (self): layer0 (ReLU) 40.0% of time for 1.0% of FLOPs; "
                     "layer1 (ReLU) 39.0% of time for 2.0% of FLOPs; layer2 (ReLU) 38.0% of time for 3.0% of FLOPs"]
    assert not [text for text in _footer({**r.extra, "time_vs_flops": []}, SLOW) if text.startswith("time share")]


class Gathers(nn.Module):
    """Looks rows of ``table`` up by the integer ``idx``: no arithmetic, no parameters."""

    def forward(self, idx, table=None):
        return table[idx]


@pytest.mark.parametrize("as_keyword", [False, True])
def test_a_model_without_flops_or_parameters_is_said_in_its_first_floating_inputs_dtype(as_keyword):
    """With no FLOPs and no parameter, measure's dtype is the first floating input's: a float64 table after
    an integer index, given positionally or as a keyword, is float64 (the index's int64 is not a float;
    float32 is only the default where no input floats at all)."""
    idx, table = torch.tensor([0, 2]), torch.randn(4, 3, dtype=torch.float64)
    inputs, kwargs = (idx, {"table": table}) if as_keyword else ((idx, table), None)
    r = torchcount.profile(Gathers(), inputs, kwargs=kwargs, measure=True, warmup=0, repeat=1)
    assert r.total.flops == 0 and r.extra["dtype"] == "float64"
    # an integer table: no row and no input floats
    inputs, kwargs = (idx, {"table": table.long()}) if as_keyword else ((idx, table.long()), None)
    r = torchcount.profile(Gathers(), inputs, kwargs=kwargs, measure=True, warmup=0, repeat=1)
    assert r.extra["dtype"] == "float32"


class CastAdds(nn.Module):
    def forward(self, x):
        return x.bfloat16() + 1


class AddsBesideItsLinear(nn.Module):
    """Its own work in bfloat16 (x·2 + the Linear's output, broadcast: 2·n·64 FLOPs) beside a float32
    Linear(64, 1) (2·64 + 1 FLOPs per row): 1 FLOP per row more in float32."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(64, 1)

    def forward(self, x):
        return x.bfloat16() * 2 + self.lin(x).bfloat16()


def test_each_rows_dtype_and_the_models_from_where_its_flops_ran():
    """_compute_dtypes: a Sequential root (no work of its own, so not a row of the table) gets a dtype as
    every row does, its first floating output's (bfloat16, from its last layer's cast), while the model's
    is float32, where most FLOPs ran (the Linear's 4·(2·64 + 8) = 544 against 4·8 = 32 bfloat16 adds). A root
    that does work itself is a row already and is counted once: 4·(2·64 + 1) = 516 float32 FLOPs beat its
    own 4·128 = 512 bfloat16 ones, which counted twice would win."""
    from torchcount.measure import _compute_dtypes

    model = nn.Sequential(nn.Linear(8, 8), CastAdds())
    found, dtype = _compute_dtypes(torchcount.profile(model, torch.randn(4, 8)), model)
    assert found == {"0": torch.float32, "1": torch.bfloat16, "": torch.bfloat16} and dtype == torch.float32
    model = AddsBesideItsLinear()
    report = torchcount.profile(model, torch.randn(4, 64))
    assert report.root in report.layers
    assert (report.row("").self_cost.mults + report.row("").self_cost.adds, report.row("lin").flops) == (512, 516)
    assert _compute_dtypes(report, model) == ({"": torch.bfloat16, "lin": torch.float32}, torch.float32)


def test_a_device_other_than_the_models_is_refused_naming_both():
    """resolve_device: a model whose parameters are on the CPU, asked to be timed on 'cuda', is refused with
    both devices named (torchcount never moves a model); asked for 'cpu', or not asked, it is timed where it
    is."""
    from torchcount.measure import resolve_device

    with pytest.raises(ValueError, match=r"the model's parameters are on cpu but device='cuda' was asked; "
                                         r"move the model first \(model.to\('cuda'\)\)"):
        resolve_device(nn.Linear(2, 2), "cuda")
    assert resolve_device(nn.Linear(2, 2), "cpu") == resolve_device(nn.Linear(2, 2), None) == torch.device("cpu")


class Ones(nn.Module):
    """Makes its tensor itself from a plain int: no parameter, no tensor input."""

    def forward(self, n):
        return torch.ones(n) * 2


def test_a_model_with_no_parameter_and_no_tensor_input_is_measured_on_the_cpu():
    """With no parameter and no tensor input to say where the model is, it is timed on the CPU (its 4
    multiplications by 2 counted as always)."""
    r = torchcount.profile(Ones(), (4,), measure=True, warmup=0, repeat=1)
    assert r.extra["device"] == "cpu" and r.total.cost.mults == 4


def _tf32_for_convolutions_and_rnns(monkeypatch):
    """uses_tf32 answering as on CUDA with cuDNN's TF32 switch on and matmul's off (torch's defaults), and
    peaks of 1 TFLOP/s FP32, 8 TF32."""
    import torchcount.measure as tm

    monkeypatch.setattr(tm, "uses_tf32", lambda device, conv=False, rnn=False: conv or rnn)
    return Peaks("fake", fp32=1e12, tf32=8e12, bf16=16e12, fp16=16e12, bandwidth=1e12, kind="datasheet")


@needs("torch.export naming each node's module by its path")
def test_an_exported_programs_convolution_gets_the_convolutions_tf32_peak(monkeypatch):
    """A torch.export program's layers are held by plain modules (``ep.module()``'s '0' is an nn.Module with
    the weight): its Conv2d row, which runs aten.convolution as the eager layer does, follows cuDNN's TF32
    switch as the eager Conv2d does (8e12, not FP32's 1e12: %peak would read 8× too high on a GPU)."""
    peaks = _tf32_for_convolutions_and_rnns(monkeypatch)
    model, x = nn.Sequential(nn.Conv2d(2, 2, 1), nn.Flatten()).eval(), torch.randn(1, 2, 4, 4)
    eager = torchcount.profile(model, x, measure=True, peaks=peaks, warmup=0, repeat=1)
    gm = torch.export.export(model, (x,)).module()
    exported = torchcount.profile(gm, x, measure=True, peaks=peaks, warmup=0, repeat=1)
    assert type(dict(gm.named_modules())["0"]) is nn.Module and exported.row("0").type == "Conv2d"
    assert details(eager, "0")["peak_flops"] == details(exported, "0")["peak_flops"] == 8e12


class ScalesItsConv(nn.Module):
    """A conv (2·2·16 = 64 MACs and 32 bias adds: 160 FLOPs) then its own 32 multiplications and 32 additions."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 1)

    def forward(self, x):
        return self.conv(x) * 3 + 1


def test_a_blocks_effective_peak_holds_its_own_work_beside_its_childrens(monkeypatch):
    """A block's peak is the rate at which all its FLOPs would run, each at its own peak: its own 64 FLOPs
    at FP32's 1e12 and its conv's 160 at TF32's 8e12 give 224 / (64/1e12 + 160/8e12) = 224/84 · 1e12, not the
    conv's 8e12 alone."""
    peaks = _tf32_for_convolutions_and_rnns(monkeypatch)
    r = torchcount.profile(nn.Sequential(ScalesItsConv()), torch.randn(1, 2, 4, 4), measure=True, peaks=peaks,
                           warmup=0, repeat=1)
    assert (_flops_of(r, "0", own=True), _flops_of(r, "0.conv")) == (64, 160)
    assert details(r, "0")["peak_flops"] == pytest.approx(224 / 84 * 1e12)
    assert details(r, "0.conv")["peak_flops"] == 8e12


def _flops_of(report, path, own=False):
    row = report.row(path)
    return torchcount.get_convention("flops").ops(row.self_cost if own else row.cost)
