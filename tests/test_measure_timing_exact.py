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


def test_summarize_gives_the_median_and_the_inclusive_quartiles():
    """summarize: the median and the quartiles of statistics.quantiles' inclusive method (linear between
    order statistics at (n − 1)·p). 1..5: median 3, quartiles 2 and 4, spread 2; 10 and 20: median 15,
    quartiles 12.5 and 17.5; one sample is its own median and quartiles; the samples are kept as given,
    a copy; no sample is an error."""
    s = timing.summarize([5.0, 1.0, 4.0, 2.0, 3.0])
    assert (s.median, s.q1, s.q3, s.spread) == (3.0, 2.0, 4.0, 2.0) and s.samples == [5.0, 1.0, 4.0, 2.0, 3.0]
    s = timing.summarize([10.0, 20.0])
    assert (s.median, s.q1, s.q3, s.spread) == (15.0, 12.5, 17.5, 5.0)
    given = [7.0]
    s = timing.summarize(given)
    assert (s.median, s.q1, s.q3, s.spread, s.samples) == (7.0, 7.0, 7.0, 0.0, [7.0]) and s.samples is not given
    with pytest.raises(ValueError, match=r"^no samples$"):
        timing.summarize([])


class Fails(torch.nn.Module):
    def __init__(self, message: str):
        super().__init__()
        self.message = message

    def forward(self, x):
        raise ValueError(self.message)


class Retries(torch.nn.Module):
    """Calls ``a``; where it raises, handles that and calls ``b``, which raises too (the same type)."""

    def __init__(self):
        super().__init__()
        self.a, self.b = Fails("one"), Fails("two")

    def forward(self, x):
        try:
            return self.a(x)
        except ValueError:
            return self.b(x)


def test_the_module_that_failed_is_the_innermost_of_the_exception_that_escaped():
    """failed_in names the innermost module of the exception the forward raised: 'a' raises "one", which
    the model handles and calls 'b', which raises "two", a new exception of the same type that escapes
    the model: 'b', not 'a' (whose exception was handled) and not the root (whose post hook sees "two"
    as it propagates, with 'b' already named)."""
    model = Retries()
    with timing.timing_hooks(model, timing.CpuClock()) as hooks:
        hooks.reset()
        with pytest.raises(ValueError, match="two"):
            model(torch.zeros(1))
    assert hooks.failed_in == "b"


class ReRaises(torch.nn.Module):
    """Handling an exception of its own, calls its Linear (which returns) and raises the exception again."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(1, 1)

    def forward(self, x):
        try:
            raise KeyError("mine")
        except KeyError:
            self.lin(x)
            raise


def test_a_module_that_returned_inside_an_except_block_is_not_the_one_that_failed():
    """The Linear's post hook runs while the model handles its KeyError (sys.exc_info() gives it), but the
    Linear returned: it did not fail. The KeyError escapes from the model's own forward: failed_in is
    the root, ''."""
    model = ReRaises()
    with timing.timing_hooks(model, timing.CpuClock()) as hooks:
        hooks.reset()
        with pytest.raises(KeyError, match="mine"):
            model(torch.zeros(1))
    assert hooks.failed_in == ""


class ReturnsNone(torch.nn.Module):
    def forward(self, x):
        return None


class RaisesLater(torch.nn.Module):
    """Catches what ``a`` raised, calls ``none`` (which returns None, no exception about), then raises
    what ``a`` raised."""

    def __init__(self):
        super().__init__()
        self.a, self.none = Fails("one"), ReturnsNone()

    def forward(self, x):
        try:
            self.a(x)
        except ValueError as e:
            err = e
        self.none(x)
        raise err


def test_a_module_returning_none_with_no_exception_about_has_not_failed():
    """A forward returning None (a module writing into a buffer) with no exception being handled did not
    fail: the exception that escapes, raised again by the model, is 'a''s, and failed_in stays 'a'."""
    model = RaisesLater()
    with timing.timing_hooks(model, timing.CpuClock()) as hooks:
        hooks.reset()
        with pytest.raises(ValueError, match="one"):
            model(torch.zeros(1))
    assert hooks.failed_in == "a"


def test_a_call_without_a_start_stamp_is_refused_naming_the_root_as_root():
    """analyse_pass refuses a call whose start stamp is missing (-1) as one whose end is: there is no time
    to take. The model's own path, '', is named '(root)'."""
    with pytest.raises(RuntimeError, match=r"module '\(root\)' has no end stamp"):
        timing.analyse_pass([["", -1, 1, -1]], [0, 10], 10)
    with pytest.raises(RuntimeError, match="module 'a' has no end stamp"):
        timing.analyse_pass([["", 0, 3, -1], ["a", -1, 2, 0]], [0, 10, 20, 30], 30)


def test_a_rule_rows_call_outside_its_tree_is_taken_out_also_when_a_later_call_makes_none():
    """analyse_pass: the rule row "r" (10..40) calls "o", a row held elsewhere (20..30): r's within time is
    30 − 10 = 20. The root then calls "z" (50..60), which crosses no tree; r's call elsewhere is still
    taken out, whatever the calls after it."""
    stamps = [0, 10, 20, 30, 40, 50, 60, 100]
    calls = [["", 0, 7, -1], ["r", 1, 4, 0], ["o", 2, 3, 1], ["z", 5, 6, 0]]
    t = timing.analyse_pass(calls, stamps, 100, {"r"}, set())
    assert t.within == {"r": 30 - 10} and t.inclusive == {"": 100, "r": 30, "o": 10, "z": 10}


def test_a_module_called_inside_itself_counts_its_outer_calls_time_once():
    """analyse_pass: a call of a module inside a call of the same module (recursion, or the model's own
    forward inside its span) adds nothing to its inclusive time, which would count the inner call twice;
    its exclusive time is each call's own, summed. Root 0..100 calls "r" 10..90, which calls "m" 20..80,
    which calls "r" again 30..70, which calls "x" 40..50: "r" 80 inclusive, 20 + 30 exclusive; "m" 60
    and 20; the exclusive times add up to the root's 100. The model's span "" (0..100) around its
    forward "" (10..90), which calls "a" (20..30): "" is 100 inclusive, 20 + 70 exclusive."""
    stamps = [0, 10, 20, 30, 40, 50, 70, 80, 90, 100]
    calls = [["", 0, 9, -1], ["r", 1, 8, 0], ["m", 2, 7, 1], ["r", 3, 6, 2], ["x", 4, 5, 3]]
    t = timing.analyse_pass(calls, stamps, 100)
    assert t.inclusive == {"": 100, "r": 80, "m": 60, "x": 10}
    assert t.exclusive == {"": 20, "r": 20 + 30, "m": 20, "x": 10}
    assert sum(t.exclusive.values()) == t.root_ns == 100 and t.leaf_ns == 10
    stamps = [0, 10, 20, 30, 90, 100]
    rooted = [["", 0, 5, -1], ["", 1, 4, 0], ["a", 2, 3, 1]]
    t = timing.analyse_pass(rooted, stamps, 100)
    assert t.inclusive == {"": 100, "a": 10} and t.exclusive == {"": 20 + 70, "a": 10}
    assert t.root_ns == 100 and t.leaf_ns == 10


def test_a_rule_rows_calls_that_stay_in_its_tree_keep_all_their_time():
    """analyse_pass: the rule row "r" is called twice; its first call (10..40) calls "o", held elsewhere
    (20..30), its second (50..60) nothing: its within time is (30 − 10) + 10 = 30 of its 40 inclusive,
    the second call losing nothing."""
    stamps = [0, 10, 20, 30, 40, 50, 60, 100]
    calls = [["", 0, 7, -1], ["r", 1, 4, 0], ["o", 2, 3, 1], ["r", 5, 6, 0]]
    t = timing.analyse_pass(calls, stamps, 100, {"r"}, set())
    assert t.inclusive["r"] == 40 and t.within == {"r": 30}


def test_calls_of_which_none_has_a_row_leave_the_top_level_call_alone():
    """analyse_pass's rows: a call with no row is timed inside its caller, and a top-level call is kept
    (the model's span). With no call's path among the rows, root 0..100 holds all of "a"'s 10..90 and
    "b"'s 20..30: one call, 100 ns inclusive and exclusive."""
    stamps = [0, 10, 20, 30, 90, 100]
    calls = [["", 0, 5, -1], ["a", 1, 4, 0], ["b", 2, 3, 1]]
    t = timing.analyse_pass(calls, stamps, 100, rows={"z"})
    assert t.inclusive == {"": 100} and t.exclusive == {"": 100} and t.leaf_ns == 100


def test_within_a_tree_is_the_module_itself_and_its_dotted_descendants():
    """_within(path, root): every path is within the model's root ''; a module is within itself and its
    descendants ('a.b', 'a.b.c') are within it, but 'ab' (a sibling with a longer name) is not. Through
    analyse_pass: a root covered by a rule whose covered child 'a' it calls is its own work: nothing is
    taken out of its time."""
    assert timing._within("a.b", "") and timing._within("", "")
    assert timing._within("a", "a") and timing._within("a.b", "a") and timing._within("a.b.c", "a")
    assert not timing._within("ab", "a") and not timing._within("a", "a.b")
    stamps = [0, 10, 90, 100]
    calls = [["", 0, 3, -1], ["a", 1, 2, 0]]
    assert timing.analyse_pass(calls, stamps, 100, {"", "a"}, {"", "a"}).within == {}
