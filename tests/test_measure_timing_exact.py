"""measure/timing.py on made-up inputs: clocks driven by injected or fake time sources, analyse_pass on
hand-written call lists, summarize and input_layout on chosen values. Each expected figure follows by
hand from the inputs (a difference of stamps, a count of calls, a quartile by its definition), and each
test was written to fail on a mutant of torchcount/measure/timing.py that the other tests let pass."""
from __future__ import annotations

import pytest
import torch

from torchcount.measure import timing


class FakeEvents:
    """torch.cuda's Event, current_stream and synchronize for a CudaClock on a CPU: an event records the
    fake device's clock (ns) and the stream's device; elapsed_time is in ms, as torch's."""

    def __init__(self, monkeypatch):
        self.now_ns = 0
        self.made = 0
        self.records: list = []  # (device index of the stream, ns) per record
        self.syncs: list = []

        fake = self

        class Stream:
            def __init__(self, device):
                self.device = device

        class Event:
            def __init__(self, enable_timing=False):
                assert enable_timing, "an event that cannot be timed"
                fake.made += 1
                self.t = None

            def record(self, stream):
                self.t = fake.now_ns
                fake.records.append((stream.device.index, fake.now_ns))

            def elapsed_time(self, other):
                return (other.t - self.t) / 1e6

        monkeypatch.setattr(torch.cuda, "Event", Event)
        monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: Stream(device))
        monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: self.syncs.append(device))


def test_the_cuda_clock_gives_ns_from_the_passs_first_event_and_reuses_its_events(monkeypatch):
    """CudaClock, as CpuClock: a pass's stamps are ns from its first, the first 0.0; elapsed_time's ms
    × 1e6. Events at 1,000, 3,500 and 9,000 ns give 0, 2,500, 8,000; each recorded on the measured
    device's (cuda:1's) stream, and the pass synchronised once, that device. The next pass reuses the
    three events (none made for its two stamps) and starts again from its own first (7,000 and 7,250:
    0 and 250). A pass with no stamp gives [] (after its synchronisation), as a fresh clock's first
    stamp is 0 without a start_pass."""
    fake = FakeEvents(monkeypatch)
    cuda1 = torch.device("cuda", 1)
    clock = timing.CudaClock(cuda1)
    got = []
    for ns in (1000, 3500, 9000):
        fake.now_ns = ns
        got.append(clock.stamp())
    assert got == [0, 1, 2]
    assert clock.finish_pass() == pytest.approx([0.0, 2500.0, 8000.0])
    assert fake.records == [(1, 1000), (1, 3500), (1, 9000)] and fake.syncs == [cuda1] and fake.made == 3
    clock.start_pass()
    for ns in (7000, 7250):
        fake.now_ns = ns
        clock.stamp()
    assert clock.finish_pass() == pytest.approx([0.0, 250.0]) and fake.made == 3
    clock.start_pass()
    assert clock.finish_pass() == [] and fake.syncs == [cuda1] * 3


def test_make_clock_times_a_cuda_device_with_events_and_any_other_with_the_host_clock():
    """make_clock: a CUDA device is timed by events on its own stream (a CudaClock of that device), a CPU
    (or any device not CUDA) by perf_counter_ns (a CpuClock)."""
    clock = timing.make_clock(torch.device("cuda", 1))
    assert type(clock) is timing.CudaClock and clock.device == torch.device("cuda", 1)
    assert type(timing.make_clock(torch.device("cpu"))) is timing.CpuClock
    assert type(timing.make_clock(torch.device("meta"))) is timing.CpuClock


def test_timing_hooks_record_path_start_end_and_parent_per_call(monkeypatch):
    """TimingHooks without a model span (as tests/test_measure_cuda.py uses them): each call is
    [path, start stamp, end stamp, parent call], the outermost call's parent -1. perf_counter_ns
    injected as 0, 10, 20, ...: a Sequential of two Linears stamps 0 (root in), 1, 2 (first Linear), 3,
    4 (second), 5 (root out): inclusive 50 ns for the root, 10 for each Linear, the root's own 30.
    A pre hook whose post hook never ran (a hook removed mid-pass) leaves an end of -1, which
    analyse_pass refuses, naming the module."""
    now = iter(range(0, 1000, 10))
    monkeypatch.setattr(timing.time, "perf_counter_ns", lambda: next(now))
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2))
    clock = timing.CpuClock()
    with timing.timing_hooks(model, clock) as hooks:
        hooks.reset()
        clock.start_pass()
        model(torch.zeros(1, 2))
        stamps = clock.finish_pass()
    assert hooks.calls == [["", 0, 5, -1], ["0", 1, 2, 0], ["1", 3, 4, 0]]
    assert stamps == [0, 10, 20, 30, 40, 50]
    t = timing.analyse_pass(hooks.calls, stamps, 50)
    assert t.inclusive == {"": 50, "0": 10, "1": 10} and t.exclusive == {"": 30, "0": 10, "1": 10}
    lone = timing.TimingHooks(clock)
    lone.reset()
    clock.start_pass()
    pre, _ = lone.hooks_for("a")
    pre(None, ())
    assert lone.calls == [["a", 0, -1, -1]]
    with pytest.raises(RuntimeError, match="module 'a' has no end stamp"):
        timing.analyse_pass(lone.calls, [0], 0)
