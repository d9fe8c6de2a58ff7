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
