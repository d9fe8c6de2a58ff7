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


def _failed_in(model, error, match: str) -> str:
    """The module TimingHooks names as failed after ``model`` raised ``error`` (matching ``match``)."""
    with timing.timing_hooks(model, timing.CpuClock()) as hooks:
        hooks.reset()
        with pytest.raises(error, match=match):
            model(torch.zeros(1))
    return hooks.failed_in


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
    assert _failed_in(Retries(), ValueError, "two") == "b"


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
    assert _failed_in(ReRaises(), KeyError, "mine") == ""


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
    assert _failed_in(RaisesLater(), ValueError, "one") == "a"


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


def test_a_sparse_argument_is_left_out_of_the_layouts():
    """input_layout names how strided tensors lie (a kernel reads their strides); a sparse COO tensor has
    no strides to read: alone it gives None, as no tensor does, and beside a dense 3×3 the call is
    'contiguous', not 'strided (1 of 2)'."""
    dense = torch.randn(3, 3)
    sparse = dense.to_sparse()
    assert timing.input_layout((sparse,)) is None
    assert timing.input_layout((dense, sparse)) == "contiguous"


def _fake_proc(monkeypatch, files):
    """/proc/self/task as cpu_waits reads it: ``files`` maps a thread id to the text of its schedstat
    ('CPU ns, run-queue wait ns, timeslices'), or to None for a thread that ended after the listing."""
    import io

    listdir = timing.os.listdir
    monkeypatch.setattr(timing.os, "listdir", lambda p: list(files) if p == "/proc/self/task" else listdir(p))

    def fake_open(path, *args, **kwargs):
        tid = path.split("/")[4]  # /proc/self/task/<tid>/schedstat
        if files.get(tid) is None:
            raise FileNotFoundError(path)
        return io.StringIO(files[tid])

    monkeypatch.setattr(timing, "open", fake_open, raising=False)


def test_cpu_waits_are_each_threads_second_schedstat_field(monkeypatch):
    """cpu_waits reads each thread's run-queue wait, the second of schedstat's fields ('900 30 7': 30 ns
    waited, 900 on a CPU): threads 10 and 11 waited 30 and 45 ns (cpu_wait_ns: 75); a thread gone
    meanwhile (no file), an empty file or one of no numbers is skipped. The threads' CPU time is what
    tells a kernel keeping statistics (the reading thread itself has run): all '0 0 0', or a CPU time
    of 0 whatever else the file says, is None, as is a file giving a CPU time and no wait, and a
    system with no /proc/self/task."""
    _fake_proc(monkeypatch, {"10": "900 30 7\n", "11": "400 45 2\n", "12": None, "13": "", "14": "x y z\n"})
    assert timing.cpu_waits() == {"10": 30, "11": 45} and timing.cpu_wait_ns() == 75
    _fake_proc(monkeypatch, {"10": "0 0 0\n", "11": "0 0 0\n"})
    assert timing.cpu_waits() is None and timing.cpu_wait_ns() is None
    _fake_proc(monkeypatch, {"10": "0 30 1\n"})
    assert timing.cpu_waits() is None
    _fake_proc(monkeypatch, {"10": "500\n"})
    assert timing.cpu_waits() is None

    def no_proc(path):
        raise FileNotFoundError(path)

    monkeypatch.setattr(timing.os, "listdir", no_proc)
    assert timing.cpu_waits() is None and timing.cpu_wait_since({"10": 0}) is None


def test_a_fault_probe_fills_a_fresh_4_mib_mapping_and_takes_off_a_second_fill(monkeypatch):
    """_fault_probe maps FAULT_PROBE_BYTES, 4 MiB (1,024 pages of 4 KiB), private and anonymous (fileno
    -1, as the allocator's large blocks), fills it twice and gives the faults of the first fill and its
    time less the second's. A fake system: 5,000 faults before; the first fill takes 1,024 faults and
    3,000 ns, the refill none and 1,000 ns: (1024, 2000). Both fills ran, and the mapping was closed."""
    import mmap
    import types

    fake = types.SimpleNamespace(ns=10 ** 6, faults=5000, maps=[], fills=[])

    class Mapping(bytearray):
        closed = False

        def close(self):
            self.closed = True

    def new_mapping(fileno, length, flags=0, **kwargs):
        fake.maps.append((fileno, length, flags, Mapping(8)))
        return fake.maps[-1][3]

    class Data:
        touched = False

        def fill_(self, value):
            fake.fills.append(value)
            fake.ns += 1000 if self.touched else 3000
            fake.faults += 0 if self.touched else 1024
            self.touched = True

    monkeypatch.setattr(timing.mmap, "mmap", new_mapping)
    monkeypatch.setattr(timing, "torch", types.SimpleNamespace(frombuffer=lambda buf, dtype: Data(),
                                                                float32=torch.float32))
    monkeypatch.setattr(timing.time, "perf_counter_ns", lambda: fake.ns)
    monkeypatch.setattr(timing, "page_faults", lambda: fake.faults)
    assert timing._fault_probe() == (1024, 2000)
    (fileno, length, flags, mapping), = fake.maps
    assert (fileno, length, flags) == (-1, 4 * 1024 * 1024, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    assert len(fake.fills) == 2 and mapping.closed


class _Bad(torch.nn.Module):
    def forward(self, x):
        raise ValueError("bad")


class _Notes(torch.nn.Module):
    """Notes how many floor probes were taken when it is called."""

    def __init__(self, seen: dict):
        super().__init__()
        self.seen = seen

    def forward(self, x):
        self.seen["at"].append(len(self.seen["probes"].spans))
        return x


class _Handles(torch.nn.Module):
    def __init__(self, seen: dict):
        super().__init__()
        self.bad, self.inside, self.after = _Bad(), _Notes(seen), _Notes(seen)

    def forward(self, x):
        try:
            self.bad(x)
        except ValueError:
            x = self.inside(x)  # (returns while the exception is being handled)
        return self.after(x)


def test_the_floor_is_probed_after_each_call_that_returned_with_one_op_each():
    """floor_probes: with 4 modules, ⌈16 / 4⌉ = 4 probes after each call, each one aten op on the
    probe's one element (the least a layer does). The call that raised gets none (nothing to compare
    with); one returning inside the except block that handled it gets its 4, as do the next call and
    the root: 'inside' is called after 0 probes, 'after' after 4, 12 in all, 12 ops on the probe."""
    from torch.utils._python_dispatch import TorchDispatchMode

    seen: dict = {"at": []}
    model, probe = _Handles(seen), torch.zeros(1)
    ops = []

    class OnProbe(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if any(a is probe for a in args):
                ops.append(func)
            return func(*args, **(kwargs or {}))

    with timing.floor_probes(model, timing.CpuClock(), probe) as probes:
        seen["probes"] = probes
        with OnProbe():
            model(torch.zeros(2, 2))
    assert seen["at"] == [0, 4] and len(probes.spans) == 12 and len(ops) == 12
    assert all(start <= end for start, end in probes.spans)


def test_no_page_faults_are_read_where_the_system_counts_none(monkeypatch):
    """floor_probes asked to count faults (count_faults=True) on a system that counts none (no
    ``resource``: Windows) keeps none and still probes: a Linear and its ReLU in a Sequential, ⌈16 / 3⌉ =
    6 probes after each of the 3 calls."""
    monkeypatch.setattr(timing, "resource", None)
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU())
    with timing.floor_probes(model, timing.CpuClock(), torch.zeros(1), count_faults=True) as probes:
        model(torch.zeros(1, 2))
    assert probes.faults == {} and len(probes.spans) == 18
