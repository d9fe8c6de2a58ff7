"""measure=True figures derivable by hand: pass counts and orders, bytes, peaks chosen, the arithmetic
of the derived columns. Each test names how its expected value follows (a count of calls, a tensor's
numel × element size, a table lookup), never a speed: times come from an injected clock or are not
asserted. Each was written to fail on a mutant of torchcount/measure/ that the other tests let pass."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import torchcount
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


class FailsOnCall:
    """A forward pre-hook that raises on the n-th forward of the model (counting the counting pass)."""

    def __init__(self, n: int):
        self.n, self.seen = n, 0

    def __call__(self, module, args):
        self.seen += 1
        if self.seen == self.n:
            raise RuntimeError("broke")


def test_a_failure_after_the_memory_pass_counts_it_once():
    """energy_layers=1 runs one more forward after the memory pass, to keep the layers' inputs. With
    warmup=1, repeat=3 the measuring passes before it are 2·1 + 2·3 + 1 (floor) + 1 (memory) = 10; the
    model's 1 + 10 + 1 = 12th forward raises there, after 10 measuring passes."""
    model = nn.Sequential(nn.Linear(4, 4))
    model[0].register_forward_pre_hook(FailsOnCall(12))
    with pytest.raises(torchcount.ForwardError, match="after the counting pass and 10 measuring pass"):
        torchcount.profile(model, torch.randn(2, 4), measure=True, warmup=1, repeat=3, energy_layers=1)


class Fallback(nn.Module):
    """Runs its Linear inside an ``except`` block: the Linear's call starts and ends while an exception
    is being handled, and returns normally."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 8)

    def forward(self, x):
        try:
            raise KeyError("no fast path")
        except KeyError:
            return self.lin(x)


def test_a_layer_called_while_an_exception_is_handled_has_its_activation_bytes():
    """The memory pass took a call that returned while an exception was being handled for one that
    raised. The Linear's output is new: (2, 8) float32 = 2·8·4 = 64 bytes, its own, and the parent's
    (the same storage, returned by its child) 64 bytes, none of them its own."""
    r = torchcount.profile(Fallback(), torch.randn(2, 4), measure=True, warmup=0, repeat=1)
    assert details(r, "lin")["act_bytes"] == 64 and details(r, "lin")["own_act_bytes"] == 64
    assert details(r, "")["act_bytes"] == 64 and details(r, "")["own_act_bytes"] == 0


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
