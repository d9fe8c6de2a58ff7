"""Measured cost (torchcount.measure) on CPU: timing, memory, bounds, peaks table, energy.

Timing assertions are about *structure* (inclusive ≥ exclusive, telescoping sums, guaranteed
lower bounds from time.sleep) or about gaps of several orders of magnitude in work, never about
absolute speed. The CPU tests run single-threaded: with two OpenMP threads on a loaded machine a
tiny op can stall for milliseconds waiting for a descheduled sibling thread.
"""
from __future__ import annotations

import re
import time

import pytest
import torch
from torch import nn

import torchcount
from torchcount.measure import Peaks, details, classify, lookup, measure_ceiling, peaks_for
from torchcount.measure.energy import co2e_grams, measure_energy
from torchcount.measure.memory import PeakTracker
from torchcount.measure.peaks import GPU_PEAKS
from torchcount.report import visible_rows
from torchcount.measure.timing import analyse_pass
from torchcount.conventions import get_convention

_FLOPS = get_convention("flops")

FAST = dict(warmup=1, repeat=5)


pytestmark = pytest.mark.usefixtures("one_thread")  # (conftest.py)


def tiny_with_one_large():
    # FLOPs (flops convention, batch 64): big Linear 2·64·1024·1024 + 64·1024 ≈ 134.3 M;
    # every other layer < 0.1 M — over three orders of magnitude less work.
    return nn.Sequential(
        nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 1024), nn.ReLU(),
        nn.Linear(1024, 1024),  # "4": the large one
        nn.ReLU(), nn.Linear(1024, 8), nn.Tanh(), nn.Linear(8, 8),
    )


@pytest.fixture(scope="module")
def dominated():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = tiny_with_one_large()
    try:
        yield torchcount.profile(model, torch.randn(64, 16), measure=True, warmup=2, repeat=7)
    finally:  # (it stayed 1 for every later test file: test_state's settings test then saw no change)
        torch.set_num_threads(threads)


def _rows(report):
    """Every row once: the root is among the layers when it has a (self) row (measured time of its own)."""
    return [*(r for r in report.layers if r is not report.root), report.root]


def _leaves(report):
    paths = [r.path for r in report.layers]
    return [r for r in report.layers if r is not report.root and not any(p.startswith(r.path + ".") for p in paths)]


def test_large_linear_dominates_measured_time(dominated):
    leaves = _leaves(dominated)
    slowest = max(leaves, key=lambda r: r.extra["time_ms"])
    assert slowest.path == "4"
    # 99.8% of the FLOPs. Compared with the sum of the other leaves' medians rather than with the
    # root's median: on a loaded machine a pass is often preempted for milliseconds somewhere, which
    # moves the root's median but not each layer's own median.
    others = sum(r.extra["time_ms"] for r in leaves if r.path != "4")
    assert slowest.extra["time_ms"] > others


def test_inclusive_at_least_exclusive_every_row_every_pass(dominated):
    rows = _rows(dominated)
    for r in rows:
        d = details(dominated, r.path)
        for inc, exc in zip(d["inclusive_ns"], d["exclusive_ns"]):
            assert inc >= exc >= 0, r.name
        assert r.extra["time_ms"] >= r.extra["self_ms"]
    # the root is a container: its children take time, so its inclusive time strictly exceeds its own
    root = details(dominated, "")
    assert all(i > e for i, e in zip(root["inclusive_ns"], root["exclusive_ns"]))


def test_exclusive_times_add_up_to_the_root(dominated):
    rows = _rows(dominated)
    n = len(details(dominated, "")["inclusive_ns"])
    assert n == 7
    for k in range(n):
        # per pass the identity is exact: Σ exclusive telescopes to the root's inclusive time
        # (CPU stamps are integer nanoseconds, so no rounding enters)
        total_exclusive = sum(details(dominated, r.path)["exclusive_ns"][k] for r in rows)
        assert total_exclusive == details(dominated, "")["inclusive_ns"][k]
    # Across passes the report shows medians, and the median of a sum is not the sum of medians:
    # a preemption of a few ms lands in a different layer in each pass, raising the root's median
    # but no single layer's. So only a one-sided, loose check applies to the medians: their sum
    # does not exceed the root's median by more than 25% (the exact identity is per pass, above).
    sum_medians = sum(r.extra["self_ms"] for r in rows)
    root_ms = dominated.root.extra["time_ms"]
    assert sum_medians <= root_ms * 1.25 + 0.05


def test_overhead_and_coverage_reported_and_printed(dominated):
    extra = dominated.extra
    # values depend on the machine's load (other processes share these cores), so only their
    # definitions are checked here; benchmarks/ records actual figures
    assert extra["overhead"] > 0 and extra["time_coverage"] > 0
    # the leaves' share of the hooked passes' model time: a share (it used to divide by the plain
    # passes' time, which could exceed 1)
    assert extra["time_coverage"] == pytest.approx(extra["leaf_ms"] / extra["root_ms"])
    assert 0 < extra["time_coverage"] <= 1
    # instrumented wall time = plain time × overhead, by definition
    assert extra["instrumented_ms"] == pytest.approx(extra["plain_ms"] * extra["overhead"])
    text = str(dominated)
    assert "overhead ×" in text and "coverage" in text and "forward without hooks" in text
    table = dominated.table(columns="measured")
    for col in ("time_ms", "time%", "GFLOP/s", "%peak", "bound"):
        assert col in table


def test_analyse_pass_by_hand():
    # stamps (ns): root 0..100, a 10..40 with child a.x 15..25, b 50..90; b called twice (60..70 nested? no:
    # a second top-level-in-root call of "b" at 92..98)
    stamps = [0, 10, 15, 25, 40, 50, 90, 92, 98, 100, 105]
    calls = [["", 0, 9, -1], ["a", 1, 4, 0], ["a.x", 2, 3, 1], ["b", 5, 6, 0], ["b", 7, 8, 0]]
    t = analyse_pass(calls, stamps, wall_ns=105)
    assert t.inclusive == {"": 100, "a": 30, "a.x": 10, "b": 46}
    assert t.exclusive == {"": 100 - 30 - 40 - 6, "a": 20, "a.x": 10, "b": 46}
    assert sum(t.exclusive.values()) == t.root_ns == 100
    assert t.leaf_ns == 10 + 40 + 6
    with pytest.raises(RuntimeError, match="'b'"):
        analyse_pass([["", 0, 9, -1], ["b", 5, -1, 0]], stamps, 105)


def test_analyse_pass_times_a_module_without_a_row_inside_its_caller():
    """``rows``: a call of a module with no row (never called in the counted pass, no parameters) is its
    caller's own time, and its children are its caller's children. Root 0..100 calls "a" 10..90, which
    calls the row-less "a.x" 20..80, which calls "a.x.y" (a row) 30..40."""
    stamps = [0, 10, 20, 30, 40, 80, 90, 100]
    calls = [["", 0, 7, -1], ["a", 1, 6, 0], ["a.x", 2, 5, 1], ["a.x.y", 3, 4, 2]]
    t = analyse_pass(calls, stamps, 100, rows={"", "a", "a.x.y"})
    assert t.inclusive == {"": 100, "a": 80, "a.x.y": 10}
    assert t.exclusive == {"": 20, "a": 70, "a.x.y": 10}  # (without rows=, "a" kept 20 and "a.x" had 50)
    assert sum(t.exclusive.values()) == t.root_ns == 100 and t.leaf_ns == 10
    assert analyse_pass(calls, stamps, 100).exclusive == {"": 20, "a": 20, "a.x": 50, "a.x.y": 10}
    # a row-less module called by the root itself: its time is the root's own
    t = analyse_pass(calls, stamps, 100, rows={"", "a.x.y"})
    assert t.inclusive == {"": 100, "a.x.y": 10} and t.exclusive == {"": 90, "a.x.y": 10}


def test_analyse_pass_takes_the_rows_of_their_own_out_of_a_rule_priced_calls_time():
    """``within``: the time of a call priced whole by a rule (or covered by one), less the outermost calls
    made inside it that counting priced as rows of their own (a child's forward hook calling a module
    held elsewhere, or one of the block's own that the hook calls). Root 0..100; rule row "r" 10..90
    calls its covered child "r.c" 20..80, whose hook calls "o" 30..70 (a rule row held elsewhere),
    which calls its covered child "o.k" 40..50 and, through a hook of its own, "r.d" 55..60 (back in
    r's tree, but a row of its own, and nested in o: o's time holds it, r's does not)."""
    stamps = [0, 10, 20, 30, 40, 50, 55, 60, 70, 80, 90, 100]
    calls = [["", 0, 11, -1], ["r", 1, 10, 0], ["r.c", 2, 9, 1], ["o", 3, 8, 2], ["o.k", 4, 5, 3],
             ["r.d", 6, 7, 3]]
    covered = {"r.c", "o.k"}
    whole = covered | {"r", "o", "r.d"}
    t = analyse_pass(calls, stamps, 100, whole, covered)
    assert t.inclusive == {"": 100, "r": 80, "r.c": 60, "o": 40, "o.k": 10, "r.d": 5}
    # r and r.c each lose o's 40 (o.k and r.d are inside o: not taken again); o loses r.d's 5
    assert t.within == {"r": 80 - 40, "r.c": 60 - 40, "o": 40 - 5}
    # the rule rows' own-tree times and the root's own time partition the root again
    assert t.within["r"] + t.within["o"] + t.inclusive["r.d"] + t.exclusive[""] == 100
    # a module of r's own tree that r.c's hook calls is a row of its own too: out of r's and r.c's time
    hooked = [["", 0, 11, -1], ["r", 1, 10, 0], ["r.c", 2, 9, 1], ["r.d", 3, 8, 2]]
    assert analyse_pass(hooked, stamps, 100, whole, covered).within == {"r": 80 - 40, "r.c": 60 - 40}
    # when r.d is covered (r.c's forward calls its sibling), r keeps its time; r.c, whose tree it is not
    # in, does not; nothing is taken out when nothing is priced whole
    assert analyse_pass(hooked, stamps, 100, whole, covered | {"r.d"}).within == {"r.c": 60 - 40}
    assert analyse_pass(calls, stamps, 100).within == {}
    # a covered module held elsewhere ("s", which r's own forward calls: counting covers it) is r's work
    # and time; only r.c, whose tree it is not in, gives it up
    held = [["", 0, 11, -1], ["r", 1, 10, 0], ["r.c", 2, 9, 1], ["s", 3, 8, 2]]
    assert analyse_pass(held, stamps, 100, whole | {"s"}, covered | {"s"}).within == {"r.c": 60 - 40}
    # the model itself priced by a rule: its span (0..100) holds its forward's call (10..90) of the same
    # path, which is its own work; only what r.c's hook calls (o, 30..70) is taken out, once
    rooted = [["", 0, 11, -1], ["", 1, 10, 0], ["r.c", 2, 9, 1], ["o", 3, 8, 2]]
    t = analyse_pass(rooted, stamps, 100, {"", "r.c", "o"}, {"r.c"})
    assert t.within == {"": 100 - 40, "r.c": 60 - 40}


class _CountedCalls(list):
    """A pass's calls that count how often they are read through in full."""

    reads = 0

    def __iter__(self):
        type(self).reads += 1
        return super().__iter__()


def test_analyse_pass_reads_its_calls_a_fixed_number_of_times_however_many_rule_rows_cross():
    """``within`` of many rule-priced rows, each of whose calls calls a module held elsewhere (a forward
    hook calling a shared module), is summed in one read of the pass's calls, not one per row (a 400-block
    model's pass took 16 ms, 4 times the blocks 13 times the time). Root 0..; block k 'b{k}' (a rule row)
    calls the shared row 's' for 1 of its 3 ns."""
    def build(blocks: int):
        stamps, calls = [], _CountedCalls([["", 0, -1, -1]])
        stamps.append(0)
        for k in range(blocks):
            b = len(calls)
            calls.append([f"b{k}", len(stamps), -1, 0])
            stamps.append(stamps[-1] + 1)
            calls.append(["s", len(stamps), len(stamps) + 1, b])
            stamps += [stamps[-1] + 1, stamps[-1] + 2]
            calls[b][2] = len(stamps)
            stamps.append(stamps[-1] + 1)
        calls[0][2] = len(stamps)
        stamps.append(stamps[-1] + 1)
        return calls, stamps, {f"b{k}" for k in range(blocks)}

    reads = []
    for blocks in (10, 300):
        calls, stamps, rules = build(blocks)
        _CountedCalls.reads = 0
        t = analyse_pass(calls, stamps, stamps[-1], rules, set())
        assert t.within == {f"b{k}": 3 - 1 for k in range(blocks)} and t.inclusive["s"] == blocks
        reads.append(_CountedCalls.reads)
    assert reads[0] == reads[1], reads


def test_the_per_call_floor_is_probed_after_every_module_call_in_a_pass_of_its_own(monkeypatch):
    """One extra pass calls the one-op probe right after each module call, so it runs with the caches
    each layer leaves; it is not one of the timed passes, whose stamps it would otherwise lengthen, and
    the floor is the median of its spans. With fewer than 16 modules each call is probed ⌈16 / modules⌉
    times: here the root and its three layers, 4 probes after each. (A fault's price is fixed at
    1.5 µs: a real probe reads None on a busy machine, and the fixed costs below add the faults'.)"""
    import importlib

    from torchcount.measure import timing

    monkeypatch.setattr(importlib.import_module("torchcount.measure"), "fault_cost_ns", lambda: 1500.0)
    probes, one_op = [], timing._OneOp.forward
    monkeypatch.setattr(timing._OneOp, "forward", lambda self, x: (probes.append(x.numel()), one_op(self, x))[1])
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    r = torchcount.profile(model, torch.randn(2, 4), measure=True, warmup=1, repeat=2)
    assert probes == [1] * 16
    assert r.extra["call_floor_us"] > 0
    # a layer's fixed cost is one floor per call; the root's whole time spans its own call and 3 more
    # (and the page faults its calls took, on a CPU: none expected here, but a heap that grows may)
    assert details(r, "0")["fixed_ms"] == pytest.approx(r.extra["call_floor_us"] / 1e3 + details(r, "0")["fault_ms"])
    assert details(r, "")["fixed_ms"] == pytest.approx(4 * r.extra["call_floor_us"] / 1e3 + details(r, "")["fault_ms"])
    assert len(details(r, "0")["inclusive_ns"]) == 2  # (the timed passes: repeat)
    probes.clear()
    torchcount.profile(nn.Sequential(*(nn.ReLU() for _ in range(20))), torch.randn(2, 4), measure=True,
                       warmup=1, repeat=2)
    assert len(probes) == 21  # (20 layers and the root: one probe each)


PAGE = 4096


def _touch_fresh_pages(pages: int) -> None:
    """Write one byte of each page of a new private anonymous mapping, as the allocator's large blocks
    are: the system maps each page at its first write, one minor page fault each."""
    import mmap

    memory = mmap.mmap(-1, pages * PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    if hasattr(mmap, "MADV_NOHUGEPAGE"):  # (a system with transparent huge pages always on: 4 KiB pages)
        memory.madvise(mmap.MADV_NOHUGEPAGE)
    data = torch.frombuffer(memory, dtype=torch.uint8)
    data[::PAGE].fill_(1)
    del data
    memory.close()


class FreshPages(nn.Module):
    """Takes ``pages`` page faults per call (memory fresh from the system), then adds 1."""

    def __init__(self, pages: int):
        super().__init__()
        self.pages = pages

    def forward(self, x):
        if self.pages:
            _touch_fresh_pages(self.pages)
        return x + 1


# (asked of the system, not of page_faults itself: a page_faults that wrongly said None would skip the
# tests that check it)
needs_fault_counts = pytest.mark.skipif(__import__("importlib.util").util.find_spec("resource") is None,
                                        reason="the system does not count page faults (Windows)")


@needs_fault_counts
def test_page_faults_count_each_fresh_page_written():
    from torchcount.measure.timing import cpu_wait_since, cpu_waits, fault_cost_ns, page_faults

    _touch_fresh_pages(8)  # (the code path itself, warm)
    before = page_faults()
    _touch_fresh_pages(300)
    # one per page; a few more where the interpreter's own heap grows meanwhile
    assert 300 <= page_faults() - before <= 310
    # A probe reads None on a machine busier than its cores, by design (fault_cost_ns's docstring: its
    # fills wait milliseconds for a CPU): the first of 20 probes that gives a price, which must be one
    # unless this process's threads waited over 1 ms for a CPU meanwhile (next to none on an idle machine).
    waits = cpu_waits()
    cost = next((c for c in (fault_cost_ns() for _ in range(20)) if c is not None), None)
    waited = cpu_wait_since(waits)
    assert (cost is not None and cost > 0) or (waited is not None and waited > 1e6), waited


@needs_fault_counts
def test_no_fault_price_where_no_memory_can_be_mapped(monkeypatch):
    """A container whose limit refuses the probe's 4 MiB mapping: no price (None) and no faults
    counted, and the profile goes on."""
    from torchcount.measure import timing

    def refuse(*args, **kwargs):
        raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(timing.mmap, "mmap", refuse)
    assert timing.fault_cost_ns() is None
    r = torchcount.profile(nn.Sequential(nn.Linear(4, 4)), torch.randn(2, 4), measure=True, warmup=1, repeat=2)
    assert r.extra["fault_cost_us"] is None and details(r, "0")["page_faults"] is None


def test_no_fault_price_where_the_system_counts_none(monkeypatch):
    from torchcount.measure import timing

    monkeypatch.setattr(timing, "resource", None)
    assert timing.page_faults() is None and timing.fault_cost_ns() is None
    r = torchcount.profile(nn.Sequential(nn.Linear(4, 4)), torch.randn(2, 4), measure=True, warmup=1, repeat=2)
    assert r.extra["page_faults"] is None and r.extra["fault_cost_us"] is None
    assert details(r, "0")["page_faults"] is None and details(r, "0")["fault_ms"] is None
    assert details(r, "0")["fixed_ms"] == pytest.approx(r.extra["call_floor_us"] / 1e3)


@needs_fault_counts
def test_a_rows_page_faults_are_counted_per_call_and_priced_into_its_fixed_cost(monkeypatch):
    """A module writing 64 fresh pages per call, called twice: 128 faults in its row (each call's own),
    all of them in its parent's whole time and none in the parent's own; each priced at the cost of
    one fault, in the row's fixed cost beside its per-call floors; the timed passes took them
    too (the forward's figure), and the footer and explain say so. The faults are the real ones; the
    price is fixed at 1.5 µs, as a probe could give it: a real probe reads None on a machine busier
    than its cores (``fault_cost_ns``'s docstring), which made this test fail under load."""
    import importlib

    monkeypatch.setattr(importlib.import_module("torchcount.measure"), "fault_cost_ns", lambda: 1500.0)

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.touch, self.relu = FreshPages(64), nn.ReLU()

        def forward(self, x):
            return self.relu(self.touch(self.touch(x)))

    model = nn.Sequential(Twice())
    r = torchcount.profile(model, torch.randn(2, 4), measure=True, warmup=1, repeat=3)
    faults, price_us = details(r, "0.touch")["page_faults"], r.extra["fault_cost_us"]
    assert 128 <= faults <= 134 and price_us == 1.5
    # (priced at the share the timed forwards took of the probing pass's faults, where they took fewer)
    scale = min(1, r.extra["page_faults"] / r.extra["page_faults_probed"])
    # (and never more than the row's measured time: the fixed 1.5 µs can be more than a fault costs here,
    # and 128 of them more than the row took; the test once read 0.174 ms, its time, against 0.192)
    priced_ms = min(faults * price_us * scale / 1e3, r.row("0.touch").extra["time_ms"])
    assert details(r, "0.touch")["fault_ms"] == pytest.approx(priced_ms, rel=1e-6, abs=1e-6)
    assert details(r, "0.relu")["page_faults"] <= 2
    assert faults <= details(r, "0")["page_faults"] <= faults + 4
    # the touching module ran two ops of its own (a slice's fill, the add) per call: 4 floors
    floor_ms = r.extra["call_floor_us"] / 1e3
    own_ops = r.row("0.touch").own_ops
    assert details(r, "0.touch")["fixed_ms"] == pytest.approx(max(2, own_ops) * floor_ms + priced_ms)
    assert 128 <= r.extra["page_faults"] <= 140 and 128 <= r.extra["page_faults_probed"] <= 140
    assert r.extra["page_faults_range"][0] <= r.extra["page_faults"] <= r.extra["page_faults_range"][1]
    if r.extra["page_faults"] * price_us / 1e3 >= 0.02 * r.extra["root_ms"]:
        assert any(line.startswith("page faults: ") and "per forward (median of the timed passes" in line
                   for line in r.extra["footer"])
    assert (f"  page faults: {faults:,} in its calls of one forward (the floor-probing pass's), priced at about "
            f"{details(r, '0.touch')['fault_ms']:.3g} ms ({price_us:.2g} µs a fault") in r.explain("0.touch")


@needs_fault_counts
def test_a_forward_mostly_overhead_names_page_faults_where_they_take_the_time(monkeypatch):
    """8,000 fresh pages per forward and next to no work, on one torch thread (so the probed price is a
    one-thread fault's, as this module's strided writes are): overhead, and the footer says most of
    it is page faults, not Python; the same forward without the pages is overhead from its calls."""
    import importlib

    # (a fault's price fixed at 1.2 µs, a one-thread fault's here: a real probe reads None on a machine
    # busier than its cores, and then no fault is priced or named; the faults counted are the real ones)
    monkeypatch.setattr(importlib.import_module("torchcount.measure"), "fault_cost_ns", lambda: 1200.0)
    fast = Peaks("toy device", 1e15, 1e15, 1e15, 1e15, 1e12, "a fast device for the test")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        faulting = torchcount.profile(nn.Sequential(FreshPages(8000)), torch.randn(2, 4), measure=True,
                                      peaks=fast, warmup=1, repeat=3)
        calls_only = torchcount.profile(nn.Sequential(FreshPages(0), *(nn.ReLU() for _ in range(8))),
                                        torch.randn(2, 4), measure=True, peaks=fast, warmup=1, repeat=3)
    finally:
        torch.set_num_threads(threads)
    line = next(line for line in faulting.extra["footer"] if line.startswith("time by bound"))
    # (on a loaded machine the probed price errs low, under half the overhead: then the line says the
    # calls are a sliver of it, not Python and dispatch)
    assert " — mostly overhead, page faults about " in line or " — mostly overhead, though the overhead rows' " \
        "calls (a module call's floor each) are only about 0." in line
    assert any(line.startswith("page faults: ") for line in faulting.extra["footer"])
    line = next(line for line in calls_only.extra["footer"] if line.startswith("time by bound"))
    assert " — mostly overhead: Python and dispatch outweigh" in line
    assert not any(line.startswith("page faults: ") for line in calls_only.extra["footer"])


def test_no_fault_price_where_the_probes_cannot_tell_fresh_memory_from_mapped(monkeypatch):
    """On a machine busier than its cores, a fill into mapped memory can take as long as one into
    fresh memory: a clock that gives every fill the same span makes each difference 0, and the price
    is None (not counted), not 0 (every fault free, none named)."""
    from torchcount.measure import timing

    ticks = iter(range(0, 10 ** 9, 1000))
    monkeypatch.setattr(timing.time, "perf_counter_ns", lambda: next(ticks))
    if timing.page_faults() is not None:
        assert timing.fault_cost_ns() is None


class _Probing:
    """Wraps measure's floor_probes so that a model can tell the floor-probing pass from the timed ones.
    A fault's price is fixed at 1.5 µs, as a probe could give it: a real probe reads None on a machine
    busier than its cores (``fault_cost_ns``'s docstring), and then no row has a fault count at all (the
    tests below failed so under load). The faults counted are still the real ones."""

    def __init__(self, monkeypatch):
        import contextlib

        import torchcount.measure as M

        monkeypatch.setattr(M, "fault_cost_ns", lambda: 1500.0)
        self.on, real = False, M.floor_probes

        @contextlib.contextmanager
        def probes(*args, **kwargs):
            with real(*args, **kwargs) as seen:
                self.on = True
                try:
                    yield seen
                finally:
                    self.on = False

        monkeypatch.setattr(M, "floor_probes", probes)


@needs_fault_counts
def test_a_row_the_probing_pass_did_not_call_has_no_page_fault_count(monkeypatch):
    """A module called in the timed passes but not in the floor-probing one: its faults are not known
    (None), not 0, and its fixed cost is its floors alone."""
    probing = _Probing(monkeypatch)

    class Sometimes(nn.Module):
        def __init__(self):
            super().__init__()
            self.always, self.rare = FreshPages(16), FreshPages(40)

        def forward(self, x):
            x = self.always(x)
            return x if probing.on else self.rare(x)

    r = torchcount.profile(Sometimes(), torch.randn(2, 4), measure=True, warmup=1, repeat=3, warn=False)
    assert 16 <= details(r, "always")["page_faults"] <= 20
    assert details(r, "rare")["page_faults"] is None and details(r, "rare")["fault_ms"] is None
    floor_ms = r.extra["call_floor_us"] / 1e3
    assert details(r, "rare")["fixed_ms"] == pytest.approx(max(2, r.row("rare").own_ops) * floor_ms)


@needs_fault_counts
def test_faults_only_the_probing_pass_took_are_not_priced_into_the_timed_rows(monkeypatch):
    """A module that writes 300 fresh pages in the floor-probing pass only, beside one that writes 300
    in the timed passes only. The rows' counts are the probing pass's (300 and 0), but the timed
    forwards took about as many, so the first row's price is held to its own measured time (a few
    µs of x + 1, not 300 faults' worth); with the second module gone, the timed forwards take none
    and neither the row's price, its reason nor the footer speak of faults."""
    probing = _Probing(monkeypatch)

    class Pair(nn.Module):
        def __init__(self, timed_too: bool):
            super().__init__()
            self.probed, self.timed, self.timed_too = FreshPages(300), FreshPages(300), timed_too

        def forward(self, x):
            self.probed.pages = 300 if probing.on else 0
            self.timed.pages = 0 if probing.on or not self.timed_too else 300
            return self.timed(self.probed(x))

    r = torchcount.profile(Pair(True), torch.randn(2, 4), measure=True, warmup=1, repeat=3, warn=False)
    assert 300 <= details(r, "probed")["page_faults"] <= 310 and details(r, "timed")["page_faults"] <= 4
    assert r.extra["page_faults"] >= 300  # (the timed forwards': the other module's)
    assert details(r, "probed")["fault_ms"] <= details(r, "probed")["inclusive_ms"] * (1 + 1e-9)
    # (its 300 faults' price held to the row's few µs: explain says so)
    assert ", held to what the timed passes took)" in r.explain("probed")

    r = torchcount.profile(Pair(False), torch.randn(2, 4), measure=True, warmup=1, repeat=3, warn=False)
    timed, price_us = r.extra["page_faults"], r.extra["fault_cost_us"]
    assert 300 <= details(r, "probed")["page_faults"] <= 310 and timed <= 10
    # (priced at no more than the timed forwards took: timed ÷ probed of its 300)
    assert details(r, "probed")["fault_ms"] <= timed * price_us / 1e3 + 1e-9
    assert "page faults" not in details(r, "probed")["why"]
    if timed * price_us / 1e3 < 0.02 * r.extra["root_ms"]:
        assert not any(line.startswith("page faults: ") for line in r.extra["footer"])


@needs_fault_counts
def test_page_faults_of_a_method_are_those_of_one_call_of_it(monkeypatch):
    """profile(method="encode"): encode calls the touching module twice, 100 fresh pages each."""

    class Coder(nn.Module):
        def __init__(self):
            super().__init__()
            self.touch = FreshPages(100)

        def forward(self, x):
            return self.touch(x)

        def encode(self, x):
            return self.touch(self.touch(x))

    import importlib

    # (a fault's price fixed at 1.5 µs: a real probe reads None on a busy machine, and then no row has a
    # fault count; the faults counted are the real ones)
    monkeypatch.setattr(importlib.import_module("torchcount.measure"), "fault_cost_ns", lambda: 1500.0)
    r = torchcount.profile(Coder(), torch.randn(2, 4), method="encode", measure=True, warmup=1, repeat=3)
    assert 200 <= details(r, "touch")["page_faults"] <= 206
    assert f"  page faults: {details(r, 'touch')['page_faults']:,} in its calls during one encode call" \
        in r.explain("touch")


def test_the_footer_blames_page_faults_for_overhead_only_where_the_overhead_rows_hold_them():
    """A forward 60 % overhead with faults priced at 30 % of it: where those faults are in the
    overhead-bound rows' time (at least half of it), the "time by bound" line says page faults; where
    they are in a row of another bound (an upsampling, latency- or memory-bound besides its faults),
    the overhead is the tiny layers' calls: Python and dispatch."""
    from torchcount.measure import _footer

    fast = Peaks("toy device", 1e15, 1e15, 1e15, 1e15, 1e12, "a fast device for the test")
    r = torchcount.profile(nn.Sequential(nn.ReLU()), torch.randn(2, 4), measure=True, peaks=fast, warmup=1,
                           repeat=2)
    extra = dict(r.extra, time_by_bound={"overhead": 60.0, "latency": 40.0}, root_ms=10.0, page_faults=3000,
                 page_faults_range=[3000, 3000], page_faults_probed=3000, fault_cost_us=1.0)

    def bound_line(**changes):
        return next(line for line in _footer({**extra, **changes}, fast) if line.startswith("time by bound"))

    assert " — mostly overhead, page faults about 30% of the forward (below)" in bound_line(**{"overhead_fault%": 30.0})
    assert " — mostly overhead: Python and dispatch" in bound_line(**{"overhead_fault%": 0.0})
    assert " — mostly overhead: Python and dispatch" in bound_line(**{"overhead_fault%": 29.0})  # (under half)


def test_the_footer_blames_python_and_dispatch_only_where_the_overhead_rows_calls_take_their_time():
    """One module writing 8,000 fresh pages: 24 ms a forward, of which its calls (3 floors of 4.8 µs)
    are 14 µs, 0.06 %, and its faults, priced at a probed 1.2 µs each where they cost about 3 µs on a
    loaded machine, 40 %: under half the overhead, so the line said "Python and dispatch outweigh the
    arithmetic and the traffic", of a forward whose calls are a thousandth of it. Where the overhead
    rows' floors are under a tenth of their time, it says what they are and that the time comes with the
    work; many tiny layers (floors half their time) are still Python and dispatch."""
    from torchcount.measure import _footer

    fast = Peaks("toy device", 1e15, 1e15, 1e15, 1e15, 1e12, "a fast device for the test")
    r = torchcount.profile(nn.Sequential(nn.ReLU()), torch.randn(2, 4), measure=True, peaks=fast, warmup=1,
                           repeat=2)
    extra = dict(r.extra, time_by_bound={"overhead": 100.0}, root_ms=24.0, page_faults=None)

    def bound_line(**changes):
        return next(line for line in _footer({**extra, **changes}, fast) if line.startswith("time by bound"))

    line = bound_line(**{"overhead_fault%": 40.0, "overhead_call%": 0.06})
    assert "Python and dispatch" not in line
    assert " — mostly overhead, though the overhead rows' calls (a module call's floor each) are only about 0.1% " \
           "of the forward and its priced page faults about 40% (a probed price, which errs low): the time comes " \
           "with the work" in line
    assert " — mostly overhead: Python and dispatch" in bound_line(**{"overhead_fault%": 0.0, "overhead_call%": 50.0})
    assert " — mostly overhead: Python and dispatch" in bound_line(**{"overhead_fault%": 0.0, "overhead_call%": None})
    assert "priced page faults" not in bound_line(**{"overhead_fault%": 0.0, "overhead_call%": 2.0})


def test_the_time_by_bound_line_says_where_its_shares_do_not_add_up_to_the_forward():
    """Each row's share is of its median time, and on a busy CPU the medians of 2-thread ResNet-18 rows
    summed to 119 % of the forward's: "compute 61%, latency 39%, overhead 20%" was printed as a partition
    with no word (by_type's footer says it of its groups). The line now says what they add up to and why;
    within 5 points of 100 it says nothing, nor where rows ran in only some passes (their time is in no
    bound: the footer's own line explains those)."""
    from torchcount.measure import _footer

    fast = Peaks("toy device", 1e15, 1e15, 1e15, 1e15, 1e12, "a fast device for the test")
    r = torchcount.profile(nn.Sequential(nn.ReLU()), torch.randn(2, 4), measure=True, peaks=fast, warmup=1,
                           repeat=2)
    extra = dict(r.extra, page_faults=None)

    def bound_line(by_bound, varied=False):
        return next(line for line in _footer({**extra, "time_by_bound": by_bound}, fast, varied=varied)
                    if line.startswith("time by bound"))

    line = bound_line({"compute": 60.7, "latency": 38.7, "overhead": 19.7})
    assert "compute 61%, latency 39%, overhead 20%; these shares add up to 119% of the forward, not 100%: each " \
           "row's time is a median over the passes, and medians need not add up" in line
    assert "add up to 13% of the forward" in bound_line({"memory": 3.9, "compute": 3.4, "cache": 5.6})
    assert "add up" not in bound_line({"compute": 93.6, "memory": 6.1})  # (99.7 %)
    assert "add up" not in bound_line({"compute": 60.7, "latency": 20.0}, varied=True)


def test_the_footer_never_prices_page_faults_above_the_forward():
    """16,385 faults at a price probed on a busy machine (5.3 µs) make 86.8 ms, more than the 66.7 ms
    forward that took them: the footer said "(130% of the forward)". A row's priced faults are held to
    its time; the footer's are held to the forward's, and it says the price is too high."""
    from torchcount.measure import _footer

    fast = Peaks("toy device", 1e15, 1e15, 1e15, 1e15, 1e12, "a fast device for the test")
    r = torchcount.profile(nn.Sequential(nn.ReLU()), torch.randn(2, 4), measure=True, peaks=fast, warmup=1,
                           repeat=2)
    extra = dict(r.extra, root_ms=66.7, page_faults=16385, page_faults_range=[16385, 16385],
                 page_faults_probed=16385, fault_cost_us=5.3)

    def fault_line(**changes):
        return next(line for line in _footer({**extra, **changes}, fast) if line.startswith("page faults: "))

    line = fault_line()
    assert "130%" not in line and "of the forward)" not in line
    assert line.startswith("page faults: 16,385 per forward (median of the timed passes), about all of the "
                           "forward's 66.7 ms (at the 5.3 µs a fault probed, 86.8 ms: more than the forward, "
                           "so that price is too high here): tensors land")
    # a price that fits the forward: 16,385 × 1 µs = 16.4 ms, 25 % of 66.7 ms
    assert "about 16.4 ms at 1 µs each (25% of the forward): tensors land" in fault_line(fault_cost_us=1.0)


def test_a_reason_names_page_faults_that_take_a_tenth_of_the_time():
    P, BW = 100e12, 1e12
    # 100 µs, 29 of them page faults and 0.9 µs one call's floor; the rest, 71 µs, is far from the 1 µs
    # roofline time, with a floor of 1.3 % of it: the bound is that of the time besides the faults,
    # latency (its kernel is slow, the faults come with fresh memory), and the reason names both
    v = classify(1e6, 1e6, 1e-4, P, BW, fixed_seconds=29.9e-6, fault_seconds=29e-6)
    assert v.bound == "latency" and "is 1.4% of the measured 71 µs besides page faults" in v.why
    assert "page faults take about 29 µs of its 100 µs (29%)" in v.why
    assert v.flops_per_s == pytest.approx(1e6 / 1e-4)  # (the rates: of the whole time)
    # the same time with the faults left out of the fixed cost would be overhead (30 % of calls)
    assert classify(1e6, 1e6, 1e-4, P, BW, fixed_seconds=30e-6).bound == "overhead"
    # a row whose time is all faults
    assert classify(1e6, 1e6, 1e-4, P, BW, fixed_seconds=101e-6, fault_seconds=1e-4).bound == "overhead"
    # a rate above the peak only once the faults' estimate is taken out: the whole time's bound stands
    v = classify(1.9e12, 1e6, 0.02, P, BW, fixed_seconds=0.015, fault_seconds=0.015)
    assert v.bound == "compute" and "page faults" in v.why
    # a memory-bound layer (1 ms of traffic in 2) with 1.2 ms of faults priced: 1 GB in the 0.8 ms
    # besides them would be 1.25 TB/s, above the 1 TB/s peak, which only the faults' estimate gives:
    # not cache, the whole time's memory bound stands (it read "1.25e+03 GB/s besides page faults is
    # above the memory's peak ... came from cache")
    v = classify(1e9, 1e9, 0.002, P, BW, fixed_seconds=1.3e-3, fault_seconds=1.2e-3)
    assert v.bound == "memory" and v.why.startswith("intensity 1 FLOP/B < ridge 100; page faults take about 1.2 ms")
    # a row whose work needs half its time at the peak (5 GFLOP at 100 TFLOP/s: 50 µs of 100) cannot
    # have spent all of it on faults: the whole time's bound, compute, as with faults priced at 99 µs
    # (it read overhead, "its time is about all page faults", at 100 µs and compute at 99)
    for faults in (0.99e-4, 1e-4, 3e-4):
        v = classify(5e9, 1e6, 1e-4, P, BW, fixed_seconds=faults + 1e-6, fault_seconds=faults)
        assert v.bound == "compute", faults
        assert v.why.startswith("intensity 5e+03 FLOP/B ≥ ridge 100; page faults take"), faults
    # faults given above the fixed cost that should hold them: the reason never quotes a negative cost
    v = classify(1e6, 1e6, 1e-4, P, BW, fixed_seconds=10e-6, fault_seconds=29e-6)
    assert "its calls' fixed cost 0 µs is 0.0%" in v.why and "-" not in v.why.split(";")[1]
    # a memory-bound layer (1 ms of traffic in 2) slowed by faults keeps its bound; the reason adds them
    v = classify(1e9, 1e9, 0.002, P, BW, fixed_seconds=0.5e-3, fault_seconds=0.4e-3)
    assert v.bound == "memory" and "page faults take about 400 µs of its 2 ms (20%)" in v.why
    # under a tenth: not named
    assert "page faults" not in classify(1e9, 1e9, 0.002, P, BW, fault_seconds=0.19e-3).why
    # without the device's peaks there is no bound, but the faults are still a share of the time
    v = classify(1e9, 1e9, 0.002, None, None, fault_seconds=0.4e-3)
    assert v.bound == "unknown" and "page faults take about 400 µs of its 2 ms (20%)" in v.why


class LetGoSlowly:
    """Takes 20 ms to be let go (as a CPU's large output, given back to the system, takes a few)."""

    def __del__(self):
        time.sleep(0.02)


def test_a_forward_is_timed_up_to_its_return_not_to_its_outputs_being_let_go():
    """Each measured pass keeps the model's output until its last stamp, so the root's time (and the
    plain forward's) is the forward's, not the freeing of what it returned afterwards."""

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.relu = nn.ReLU()

        def forward(self, x):
            return self.relu(x), LetGoSlowly()

    r = torchcount.profile(Net(), torch.randn(2, 4), measure=True, warmup=1, repeat=3)
    assert r.extra["root_ms"] < 20 and r.extra["plain_ms"] < 20
    assert details(r, "")["inclusive_ms"] < 20


@pytest.mark.skipif(__import__("torchcount.measure.timing", fromlist=["cpu_wait_ns"]).cpu_wait_ns() is None,
                    reason="the system keeps no scheduler statistics (/proc/self/task/*/schedstat)")
def test_busy_cpus_are_said_when_the_process_waited_for_them():
    """With one more spinning process than the CPUs this process may use, its threads wait on a run
    queue for much of each forward (CFS shares the CPUs among every runnable thread): the footer says
    the CPUs were busy, and how long the threads waited; an idle machine's threads wait next to none."""
    import os
    import subprocess
    import sys

    from torchcount.measure.timing import cpu_wait_ns

    before = cpu_wait_ns()
    assert isinstance(before, int) and before >= 0 and cpu_wait_ns() >= before
    model, x = nn.Sequential(nn.Linear(1024, 1024), nn.ReLU()), torch.randn(512, 1024)
    idle = torchcount.profile(model, x, measure=True, warmup=1, repeat=3)
    # each spinner says when it spins: on a loaded host a Python can take longer than any fixed sleep to
    # start (a full-suite run once timed the forwards before the spinners ran, and read no wait at all)
    spin = "import time\nt = time.time()\nprint('spinning', flush=True)\nwhile time.time() - t < 60: pass"
    spinners = [subprocess.Popen([sys.executable, "-c", spin], stdout=subprocess.PIPE, text=True)
                for _ in range(len(os.sched_getaffinity(0)) + 1)]
    try:
        assert all(p.stdout.readline() == "spinning\n" for p in spinners)
        time.sleep(0.1)
        r = torchcount.profile(model, x, measure=True, warmup=1, repeat=3)
    finally:
        for p in spinners:
            p.kill()
            p.wait()
            p.stdout.close()
    assert r.extra["cpus"] == len(os.sched_getaffinity(0))
    low, high = r.extra["cpu_wait_range_ms"]
    assert low <= r.extra["cpu_wait_ms"] <= high
    assert r.extra["cpu_wait_ms"] >= 0.05 * r.extra["root_ms"]
    line = next(line for line in r.extra["footer"] if line.startswith("busy CPUs: "))
    assert f"waited {r.extra['cpu_wait_ms']:.3g} ms for a CPU per forward" in line
    # (not the threads' running time, which an idle machine gives them more of). The first run is idle
    # only where nothing else runs: on a loaded host (other tests' processes) it says so itself, and
    # then only its own footer is checked
    if any(line.startswith("busy CPUs: ") for line in idle.extra["footer"]):
        assert idle.extra["cpu_wait_ms"] >= 0.05 * idle.extra["root_ms"]
    else:
        assert idle.extra["cpu_wait_ms"] < r.extra["cpu_wait_ms"] / 4



def _scripted_waits(monkeypatch, script):
    """measure's scheduler reads replaced by ``script``: a list of what each read returns, in turn,
    repeated (a dict of run-queue waits by thread id, ns, or None)."""
    import itertools

    import torchcount.measure as M

    reads = itertools.cycle(script)
    monkeypatch.setattr(M.timing, "cpu_waits", lambda: next(reads))
    monkeypatch.setattr(M, "cpu_waits", lambda: next(reads))


def test_a_thread_that_ends_in_a_pass_does_not_take_its_past_waits_from_the_others(monkeypatch):
    """Each instrumented pass reads the threads' waits before and after. Here thread 2, which had
    waited 1 s before the pass, ends in it, and thread 1 waits 2 ms: the pass waited 2 ms (the sum of
    the threads' counts fell by 998 ms, which read as a negative wait)."""
    _scripted_waits(monkeypatch, [{"1": 5_000_000, "2": 1_000_000_000}, {"1": 7_000_000}])
    r = torchcount.profile(nn.Linear(8, 8), torch.randn(2, 8), measure=True, warmup=1, repeat=3)
    assert r.extra["cpu_wait_ms"] == pytest.approx(2.0) and r.extra["cpu_wait_range_ms"] == pytest.approx([2.0, 2.0])
    # a thread started in the pass counts all of its waiting
    from torchcount.measure.timing import cpu_wait_since

    monkeypatch.setattr(torchcount.measure.timing, "cpu_waits", lambda: {"1": 7, "3": 40})
    assert cpu_wait_since({"1": 5, "2": 1000}) == 2 + 40
    assert cpu_wait_since({"1": 7, "3": 40}) == 0  # no thread waited since: 0, nothing per thread
    assert cpu_wait_since(None) is None


def test_a_pass_whose_scheduler_read_says_nothing_is_left_out_not_a_crash(monkeypatch):
    """A read that says nothing (no thread's file could be opened: out of file descriptors) after one
    that did used to raise a TypeError in the pass, reported as the model's failure. The pass is left
    out of cpu_wait_ms; where no pass says, it is None and the footer says nothing."""
    # before/after of each instrumented pass: (3 ms, None), (1 ms, 4 ms): the passes that say waited 3 ms
    _scripted_waits(monkeypatch, [{"1": 3_000_000}, None, {"1": 1_000_000}, {"1": 4_000_000}])
    r = torchcount.profile(nn.Linear(8, 8), torch.randn(2, 8), measure=True, warmup=2, repeat=4)
    assert r.extra["cpu_wait_ms"] == pytest.approx(3.0) and r.extra["cpu_wait_range_ms"] == pytest.approx([3.0, 3.0])
    _scripted_waits(monkeypatch, [None])
    r = torchcount.profile(nn.Linear(8, 8), torch.randn(2, 8), measure=True, warmup=1, repeat=3)
    assert r.extra["cpu_wait_ms"] is None and r.extra["cpu_wait_range_ms"] is None
    assert not any(line.startswith("busy CPUs") for line in r.extra["footer"])



def test_busy_cpus_from_more_torch_threads_than_cpus_say_so_and_how_to_fix_it(monkeypatch):
    """With more torch threads than the CPUs the process may use, its threads wait for each other on
    an idle machine too (torch.set_num_threads(4) on 2 CPUs: 5.6–8.2 ms per 8 ms forward): the line
    names torch's threads and the number to set, not only an idle machine. With no more threads than
    CPUs, it names other processes."""
    import os

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    _scripted_waits(monkeypatch, [{"1": 0}, {"1": 50_000_000}])  # 50 ms a pass: far above 5 % of it
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(cpus + 2)
        r = torchcount.profile(nn.Linear(8, 8), torch.randn(2, 8), measure=True, warmup=1, repeat=3)
        line = next(line for line in r.extra["footer"] if line.startswith("busy CPUs: "))
        assert f"torch runs {cpus + 2} threads on the {cpus} CPUs this process may use" in line
        assert line.endswith(f"measure again with torch.set_num_threads({cpus}) or fewer, the machine idle")
        torch.set_num_threads(cpus)
        r = torchcount.profile(nn.Linear(8, 8), torch.randn(2, 8), measure=True, warmup=1, repeat=3)
    finally:
        torch.set_num_threads(threads)
    line = next(line for line in r.extra["footer"] if line.startswith("busy CPUs: "))
    assert "waited 50 ms for a CPU per forward" in line and "torch runs" not in line
    assert f"than the {cpus} CPUs it may use: other processes'" in line
    assert line.endswith("measure again with the machine idle")

@pytest.mark.skipif(not __import__("os").path.isdir("/proc/self/task"), reason="no /proc/self/task (not Linux)")
def test_no_scheduler_statistics_is_none_not_zero(monkeypatch):
    """/proc unreadable, or a kernel that writes "0 0 0" for every thread (no statistics kept):
    None, not a wait of 0."""
    import builtins
    import os

    import torchcount.measure.timing as T

    real_open = builtins.open
    monkeypatch.setattr(T, "open", lambda path, *a, **k: __import__("io").StringIO("0 0 0\n")
                        if str(path).endswith("/schedstat") else real_open(path, *a, **k), raising=False)
    assert T.cpu_waits() is None and T.cpu_wait_ns() is None
    monkeypatch.setattr(T, "open", lambda path, *a, **k: __import__("io").StringIO("1500 250 3\n"), raising=False)
    assert T.cpu_wait_ns() == 250 * len(os.listdir("/proc/self/task"))
    monkeypatch.setattr(T.os, "listdir", lambda path: (_ for _ in ()).throw(PermissionError(path)))
    assert T.cpu_waits() is None

def test_input_layout_by_hand():
    from torchcount.measure.timing import input_layout

    x = torch.randn(2, 3, 4, 5)
    assert input_layout((x,)) == "contiguous"
    assert input_layout((x.contiguous(memory_format=torch.channels_last),)) == "channels_last"
    assert input_layout((torch.randn(1, 2, 3, 4, 5).contiguous(memory_format=torch.channels_last_3d),)) \
        == "channels_last_3d"
    a = torch.randn(6, 4)
    assert input_layout((a.t(),)) == "strided" and input_layout((a, a.t().t()[:, :2])) == "strided (1 of 2)"
    assert input_layout((a, x.contiguous(memory_format=torch.channels_last))) == "contiguous and channels_last"
    # (a 1-D tensor, a number: nothing a layout could change)
    assert input_layout((torch.randn(5), 3)) is None and input_layout(()) is None


def test_each_row_gives_the_layout_of_its_inputs_as_the_forward_passed_them():
    """Seen in the floor-probing pass, at each module's first call: a convolution given a channels-last
    input, and an addition of a transposed view and a contiguous tensor (as the Whisper encoder's
    residual adds, its hidden states transposed after its convolutions); explain says it beside the rates."""

    class Add(nn.Module):
        def forward(self, a, b):
            return a + b

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.add = nn.Conv2d(3, 4, 3), Add()

        def forward(self, x):
            y = self.conv(x).transpose(2, 3)  # (channels-last, transposed: neither layout)
            return self.add(y, y.contiguous())

    r = torchcount.profile(Net(), torch.randn(1, 3, 8, 8).contiguous(memory_format=torch.channels_last),
                           measure=True, **FAST)
    assert details(r, "conv")["input_layout"] == "channels_last"
    assert details(r, "add")["input_layout"] == "strided (1 of 2)"
    assert "  input layout: strided (1 of 2)" in r.explain("add")


def test_explain_of_a_parent_gives_the_bound_of_its_self_row_beside_that_of_its_whole_time():
    """The table shows a parent whose children are rows as "name (self)": its own time, rates and bound
    (a residual add's, memory or overhead). Explain gave only the whole row's rates and bound (the
    Linears', compute), unlabelled, so the table's "(root) (self) … memory" had no line in explain and
    read as contradicted by its "bound: compute". Now the whole row's are said to be with its children,
    and the self row's time, rates and bound follow, with its reason; a saved report says the same."""

    class Res(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(64, 64), nn.Linear(64, 64)

        def forward(self, x):
            return self.b(self.a(x) + x) + x

    r = torchcount.profile(Res(), torch.randn(32, 64), measure=True, peaks=Peaks(
        "toy device", 1e11, 1e11, 1e11, 1e11, 1e10, "a device for the test"), **FAST)
    root, d = r.row(""), details(r, "")
    own = root.self_extra
    assert d["own_bound"] == own["bound"] and d["own_why"]
    text = r.explain("")
    assert f"  bound with its children: {d['bound']} — {d['why']}" in text
    line = next(line for line in text.splitlines() if line.startswith("  own part"))
    # its own work: the two residual adds, 2 × 32 × 64 = 4,096 FLOPs over its own time
    assert _FLOPS.ops(root.self_cost) == 4096
    assert own["GFLOP/s"] is None or own["GFLOP/s"] == pytest.approx(4096 / own["time_ms"] / 1e6)
    assert line.startswith(f"  own part (the '(root) (self)' row): {own['time_ms']:.4g} ms; ")
    assert line.endswith(f"; bound: {own['bound']} — {d['own_why']}")
    rates = next(line for line in text.splitlines() if "GB/s over" in line)
    assert rates.startswith("  with its children: ")
    # a leaf: its rates and bound are its own, unlabelled, and no own part
    assert "own part" not in r.explain("a") and "  bound: " in r.explain("a")
    assert torchcount.load_report(r.to_json()).explain("") == text


class Sleeper(nn.Module):
    """No arithmetic at all, but at least 3 ms of wall time per call (time.sleep guarantees ≥)."""

    def forward(self, x):
        time.sleep(0.003)
        return x


def test_sleep_is_measured_and_flagged_as_time_without_flops():
    model = nn.Sequential(nn.Linear(32, 32), Sleeper(), nn.ReLU())
    r = torchcount.profile(model, torch.randn(4, 32), measure=True, warmup=1, repeat=3)
    sleeper = r.row("1")
    assert sleeper.extra["time_ms"] >= 3.0
    assert r.root.extra["time_ms"] >= 3.0
    worst = r.extra["time_vs_flops"][0]
    assert worst["path"] == "1" and worst["flops_share"] == 0.0 and worst["time_share"] > 50
    assert "time share ≫ FLOPs share" in str(r) and "1 (Sleeper)" in str(r)


def test_model_left_as_found():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.5),
                          nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    model.train()
    model[0].weight.requires_grad_(False)
    model[5].eval()
    before_state = {k: v.clone() for k, v in model.state_dict().items()}
    flags = [m.training for m in model.modules()]
    grads = [p.requires_grad for p in model.parameters()]
    with torch.enable_grad():
        torchcount.profile(model, torch.randn(2, 3, 8, 8), measure=True, **FAST)
        assert torch.is_grad_enabled()
    # train-mode BatchNorm updated its running stats in every pass; they must be back
    for k, v in model.state_dict().items():
        assert torch.equal(v, before_state[k]), k
    assert [m.training for m in model.modules()] == flags
    assert [p.requires_grad for p in model.parameters()] == grads
    for m in model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks and not m._forward_hooks_always_called


def test_memory_activation_and_param_bytes():
    # Linear(4, 8) on batch 5 writes a new 5×8 float32 tensor: 160 bytes. ReLU(inplace) and Flatten
    # of a 2-D tensor (a view) write no new storage: 0 bytes.
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(inplace=True), nn.Flatten(), nn.Linear(8, 2))
    r = torchcount.profile(model, torch.randn(5, 4), measure=True, **FAST)
    assert details(r, "0")["act_bytes"] == 5 * 8 * 4
    assert details(r, "1")["act_bytes"] == 0
    assert details(r, "2")["act_bytes"] == 0
    assert details(r, "3")["act_bytes"] == 5 * 2 * 4
    assert details(r, "0")["param_bytes"] == (4 * 8 + 8) * 4
    assert details(r, "")["param_bytes"] == ((4 * 8 + 8) + (8 * 2 + 2)) * 4
    mem = r.extra["memory"]
    assert mem["kind"] == "cpu" and mem["peak_rss"] > 0
    assert "peak resident set size of the whole process" in str(r)


class ChildAndOwnOutput(nn.Module):
    """Returns its child's output (4×16 float32: 256 bytes) and one of its own (x·2, 4×8: 128 bytes)."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 16)

    def forward(self, x):
        return self.lin(x), x * 2


def test_a_parents_own_row_shows_its_own_activation_bytes():
    """A parent's "(self)" row showed the act_MiB of the whole module, its children's outputs
    included; it shows the new storages among its outputs that no call inside it returned."""
    from torchcount.export import records

    model = nn.Sequential(ChildAndOwnOutput())  # the Sequential only passes its child's outputs on
    r = torchcount.profile(model, torch.randn(4, 8), measure=True, **FAST)
    MiB = 2 ** 20
    parent = r.row("0")
    assert details(r, "0")["act_bytes"] == 256 + 128 and details(r, "0")["own_act_bytes"] == 128
    assert parent.extra["act_MiB"] == (256 + 128) / MiB  # the module as a whole
    assert parent.shown_extra(True)["act_MiB"] == 128 / MiB  # its own part: x·2
    assert r.row("0.lin").extra["act_MiB"] == 256 / MiB
    assert details(r, "")["own_act_bytes"] == 0  # the Sequential created nothing itself
    by_row = {(rec["path"], rec["part"]): rec["act_MiB"] for rec in records(r)[1]}
    assert by_row[("0", "self")] == 128 / MiB and by_row[("0.lin", "all")] == 256 / MiB
    line = next(l for l in r.table(columns=["module", "act_MiB"]).splitlines() if "0 (self)" in l)
    assert line.split()[-1] == f"{128 / MiB:.3g}"


def test_peak_tracker_nesting_with_a_fake_allocator():
    state = {"cur": 0, "peak": 0}

    def alloc(n):
        state["cur"] += n
        state["peak"] = max(state["peak"], state["cur"])

    def reset():
        state["peak"] = state["cur"]

    t = PeakTracker(lambda: state["cur"], lambda: state["peak"], reset)
    t.enter()             # root, 0 allocated
    alloc(100)
    t.enter()             # child A at 100
    alloc(50)             # 150
    alloc(-50)
    assert t.exit() == (100, 150)
    alloc(-100)           # 0
    alloc(30)
    t.enter()             # child B at 30
    alloc(10)             # 40
    assert t.exit() == (30, 40)
    assert t.exit() == (0, 150)  # the root saw child A's 150 although A reset the allocator's peak


def test_bound_classification_synthetic():
    P, BW = 100e12, 1e12  # 100 TFLOP/s, 1 TB/s: ridge at 100 FLOP/B
    v = classify(1e12, 1e9, 0.02, P, BW)        # t_c = 10 ms, t_m = 1 ms, measured 20 ms
    assert v.bound == "compute" and v.pct_peak == pytest.approx(50.0) and v.intensity == 1000
    v = classify(1e9, 1e9, 0.002, P, BW)        # t_m = 1 ms ≫ t_c = 10 µs, measured 2 ms
    assert v.bound == "memory" and v.bytes_per_s == pytest.approx(5e11)
    v = classify(1e6, 1e6, 1e-4, P, BW)         # roofline 1 µs of a measured 100 µs: 1%
    assert v.bound == "overhead"
    # far below the roofline: the calls' fixed cost decides. Under 5 % of the time, and less than the
    # 1 µs the work itself needs at the roofline, the kernel is slow
    v = classify(1e6, 1e6, 1e-4, P, BW, fixed_seconds=0.9e-6)                          # 0.9 %
    assert v.bound == "latency" and "fixed cost 0.9 µs is 0.9%" in v.why
    assert classify(1e6, 1e6, 1e-4, P, BW, fixed_seconds=1e-6).bound == "latency"     # (work = fixed cost)
    # more work in the calls than in the kernel: what surrounds the work takes the time
    v = classify(1e6, 1e6, 1e-4, P, BW, fixed_seconds=2e-6)
    assert v.bound == "overhead" and "what comes with the work" in v.why
    # a larger share than 5 % (more than 1 in 20): the calls take the time
    v = classify(1e9, 1e9, 0.02, P, BW, fixed_seconds=1e-3)  # 1 ms of fixed cost in 20: 5 %, work 1 ms
    assert v.bound == "overhead" and "what comes with" not in v.why
    assert classify(1e9, 1e9, 0.02, P, BW, fixed_seconds=0.99e-3).bound == "latency"
    assert classify(0, 0, 1e-4, P, BW, fixed_seconds=1e-9).bound == "overhead"  # no work: nothing to be slow
    assert classify(1e9, 1e9, 0.002, P, BW, fixed_seconds=0.0).bound == "memory"  # near the roofline: as before
    assert classify(1e12, 1e6, 0.005, P, BW).bound == "invalid"   # 200 TFLOP/s > 100
    cached = classify(1e6, 1e10, 0.005, P, BW)   # 2 TB/s > 1 TB/s at 0.2 GFLOP/s: served from cache
    assert cached.bound == "cache" and cached.flops_per_s == pytest.approx(2e8) and "cache" in cached.why
    assert classify(1e13, 1e10, 0.005, P, BW).bound == "invalid"  # both above: the FLOP/s is impossible
    assert classify(1e12, 1e9, 0.0102, P, BW).bound == "compute"  # 98 TFLOP/s: within peak
    assert classify(1e9, 1e9, 0.002, None, None).bound == "unknown"
    with pytest.raises(ValueError):
        classify(-1, 0, 1, P, BW)


def test_rate_above_peak_is_never_shown_as_fact():
    tiny = Peaks("toy device", 1e3, 1e3, 1e3, 1e3, 1e3, "a 1 kFLOP/s, 1 kB/s device for the test")
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU())
    r = torchcount.profile(model, torch.randn(8, 64), measure=True, peaks=tiny, **FAST)
    for row in (r.row("0"), r.row("1")):
        assert row.extra["bound"] == "invalid"
        # left out, not the word "invalid" in a numeric column: bound says why
        assert row.extra["GFLOP/s"] is None and row.extra["%peak"] is None
        assert "above the peak" in details(r, row.path)["why"]
        assert details(r, row.path)["flops_per_s"] > 1e3 * 1.05  # the figure itself stays in the details
    # the table says "invalid" in both rate columns; the exports leave the numbers out
    line = next(l for l in r.table(columns="measured").splitlines() if l.split()[1:3] == ["0", "Linear"])
    assert line.split().count("invalid") == 3  # GFLOP/s, %peak, bound
    from torchcount.export import records
    rec = next(rec for rec in records(r)[1] if rec["path"] == "0")
    assert rec["GFLOP/s"] is None and rec["%peak"] is None and rec["bound"] == "invalid"
    import csv
    import io
    import json
    line0 = next(x for x in csv.DictReader(io.StringIO(r.to_csv())) if x["path"] == "0")
    assert (line0["GFLOP/s"], line0["%peak"], line0["bound"]) == ("", "", "invalid")
    row0 = next(x for x in json.loads(r.to_json())["layers"] if x["path"] == "0")["extra"]
    assert row0["GFLOP/s"] is None and row0["%peak"] is None and row0["bound"] == "invalid"


def test_bytes_above_the_bandwidth_are_cache_and_their_rate_is_shown():
    # 1 PFLOP/s of compute, 1 kB/s of memory: every layer's FLOP/s is within the peak, its bytes/s
    # above the bandwidth (its data came from cache)
    cached = Peaks("toy device", 1e15, 1e15, 1e15, 1e15, 1e3, "a device with almost no memory bandwidth")
    r = torchcount.profile(nn.Sequential(nn.Linear(64, 64)), torch.randn(8, 64), measure=True, peaks=cached, **FAST)
    row = r.row("0")
    assert row.extra["bound"] == "cache" and isinstance(row.extra["GFLOP/s"], float) and row.extra["GFLOP/s"] > 0
    # %peak a percentage as a number: the achieved rate over the 1 PFLOP/s peak, × 100
    assert row.extra["%peak"] == pytest.approx(100 * row.extra["GFLOP/s"] * 1e9 / 1e15)
    assert "came from cache" in details(r, "0")["why"]


def test_shares_export_as_numbers_and_print_as_percentages():
    """'time%' and '%peak' were text ("12.3%") in row.extra, so the JSON, CSV, records and DataFrame
    held strings that could not be sorted or averaged; they are percentages as floats (12.3 for
    12.3 %), the totals row's 100.0, and the table still prints "12.3%"."""
    import csv
    import io
    import json

    from torchcount.export import records

    fast = Peaks("fast device", 1e15, 1e15, 1e15, 1e15, 1e15, "a 1 PFLOP/s, 1 PB/s device for the test")
    r = torchcount.profile(nn.Sequential(nn.Linear(64, 64), nn.ReLU()), torch.randn(8, 64), measure=True,
                           peaks=fast, **FAST)
    root_ms = r.root.extra["time_ms"]
    lin = r.row("0").extra
    assert lin["time%"] == pytest.approx(100 * details(r, "0")["inclusive_ms"] / root_ms)
    assert lin["%peak"] == pytest.approx(100 * lin["GFLOP/s"] * 1e9 / 1e15)  # achieved ÷ the 1 PFLOP/s peak
    assert r.extra["time%"] == 100.0
    d = json.loads(r.to_json())
    row0 = next(x for x in d["layers"] if x["path"] == "0")["extra"]
    assert row0["time%"] == pytest.approx(lin["time%"]) and row0["%peak"] == pytest.approx(lin["%peak"])
    assert d["extra"]["time%"] == 100.0
    _, recs = records(r)
    assert all(isinstance(rec["time%"], float) for rec in recs)
    line0 = next(x for x in csv.DictReader(io.StringIO(r.to_csv())) if x["path"] == "0")
    assert float(line0["time%"]) == pytest.approx(lin["time%"]) and float(line0["%peak"]) == pytest.approx(lin["%peak"])
    pytest.importorskip("pandas")
    df = r.to_dataframe()
    assert df["time%"].dtype.kind == "f" and df["%peak"].dtype.kind == "f"
    # the rows' own times partition the root's each pass, so their shares add up to about 100
    assert 50 < df["time%"].sum() < 150
    table = r.table(columns="measured")
    line = next(l for l in table.splitlines() if l.split()[1:3] == ["0", "Linear"])
    assert f"{lin['time%']:.1f}%" in line.split() and f"{lin['%peak']:.1f}%" in line.split()
    assert "100.0%" in next(l for l in table.splitlines() if l.split()[:1] == ["total"]).split()


def test_dataframe_rate_columns_are_nan_where_no_row_has_a_peak():
    """On a CPU (no vendor peak) %peak is None in every row: the DataFrame held a column of Python
    Nones, dtype object, where docs/export-schema.md promises NaN, as for a rate left out in some rows."""
    pytest.importorskip("pandas")
    r = torchcount.profile(nn.Sequential(nn.Linear(16, 16), nn.ReLU()), torch.randn(4, 16), measure=True,
                           device="cpu", warmup=0, repeat=1)
    assert all(row.extra["%peak"] is None for row in r.layers)  # no peak known for a CPU
    df = r.to_dataframe()
    assert df["%peak"].dtype.kind == "f" and df["%peak"].isna().all()
    assert df.loc[df["path"] == "0", "GFLOP/s"].item() > 0  # a rate that is known stays


def test_peaks_table_datasheet_figures():
    # NVIDIA H100 datasheet (SXM): BF16 1,979 TFLOPS with sparsity → 989.4 dense; HBM3 3.35 TB/s
    h100 = lookup("NVIDIA H100 80GB HBM3")
    assert h100 is GPU_PEAKS["H100 SXM"]
    assert h100.bf16 == pytest.approx(989.4e12) and h100.bandwidth == pytest.approx(3.35e12)
    assert h100.tf32 == pytest.approx(494.7e12) and h100.fp32 == pytest.approx(67e12)
    assert lookup("NVIDIA H100 PCIe").bandwidth == pytest.approx(2.0e12)
    # H100 NVL: FP32 60, BF16 1,671* (sparse) TFLOPS, 3.9 TB/s
    h100_nvl = lookup("NVIDIA H100 NVL")
    assert h100_nvl is GPU_PEAKS["H100 NVL"] and h100_nvl.bandwidth == pytest.approx(3.9e12)
    assert h100_nvl.fp32 == pytest.approx(60e12) and h100_nvl.bf16 == pytest.approx(835.5e12)
    assert lookup("NVIDIA H200").bandwidth == pytest.approx(4.8e12)
    # H200 datasheet (2024): the NVL part runs at FP32 60, TF32 835* and BF16 1,671* (sparse) TFLOPS
    h200_nvl = lookup("NVIDIA H200 NVL")
    assert h200_nvl is GPU_PEAKS["H200 NVL"] and h200_nvl.bf16 == pytest.approx(835.5e12)
    assert h200_nvl.fp32 == pytest.approx(60e12) and lookup("NVIDIA H200").fp32 == pytest.approx(67e12)
    # Grace Hopper's GPU has no single datasheet row (96 or 144 GB, other bandwidths): unknown, not H200's
    assert lookup("NVIDIA GH200 480GB") is None
    # A100 datasheet: 312 TFLOPS BF16 dense, 19.5 FP32; 1,555 GB/s (40GB) and 2,039 GB/s (80GB SXM)
    assert lookup("NVIDIA A100-SXM4-40GB").bandwidth == pytest.approx(1.555e12)
    assert lookup("NVIDIA A100-SXM4-80GB").bandwidth == pytest.approx(2.039e12)
    assert lookup("NVIDIA A100 80GB PCIe").bandwidth == pytest.approx(1.935e12)
    assert lookup("NVIDIA A100-PCIE-40GB").bf16 == pytest.approx(312e12)
    # names that contain each other are not confused
    assert lookup("NVIDIA A10") is GPU_PEAKS["A10"]
    assert lookup("NVIDIA L4") is GPU_PEAKS["L4"] and lookup("NVIDIA L40S") is GPU_PEAKS["L40S"]
    assert lookup("NVIDIA L40") is GPU_PEAKS["L40"]
    # Turing/Volta have no BF16 or TF32 Tensor Cores
    t4 = lookup("Tesla T4")
    assert t4.bf16 is None and t4.tf32 is None and t4.fp16 == pytest.approx(65e12)
    assert t4.flops_for(torch.bfloat16) is None
    assert lookup("Tesla V100-SXM2-16GB").bandwidth == pytest.approx(0.9e12)
    assert lookup("NVIDIA GeForce GTX 1080") is None
    # FP32 work falls back to the CUDA-core rate unless TF32 is enabled
    assert h100.flops_for(torch.float32) == h100.fp32
    assert h100.flops_for(torch.float32, tf32=True) == h100.tf32


def test_peaks_table_is_internally_consistent():
    for key, p in GPU_PEAKS.items():
        assert p.source, key
        assert p.bandwidth and 0.1e12 < p.bandwidth < 10e12, key
        assert p.fp32 and 5e12 < p.fp32 < 100e12, key
        if p.tf32 and p.bf16:
            # on Ampere/Hopper/Ada/Blackwell Tensor Cores TF32 runs at half the BF16 rate (±5%)
            assert p.bf16 / p.tf32 == pytest.approx(2.0, rel=0.05), key
        if p.tf32:
            assert p.tf32 >= p.fp32, key


def test_cpu_has_no_vendor_peak_unless_measured():
    p = peaks_for(torch.device("cpu"))
    assert p.kind == "unknown" and p.fp32 is None and p.bandwidth is None
    c = measure_ceiling(torch.device("cpu"), n=256, copy_bytes=8 << 20, repeat=2)
    assert c.kind == "measured" and c.fp32 == c.tf32 and c.bf16 is None
    # a 256³ matmul on this 2-core machine: between 0.1 GFLOP/s and 10 TFLOP/s by any sane account
    assert 1e8 < c.fp32 < 1e13 and 1e8 < c.bandwidth < 1e13


def test_energy_unavailable_on_cpu_never_zero(monkeypatch, tmp_path):
    from torchcount.measure import energy as E

    monkeypatch.setattr(E, "POWERCAP", str(tmp_path))  # a machine without RAPL (as this VM)
    e = measure_energy(lambda: None, torch.device("cpu"), 1e-3)
    assert e["status"] == "unavailable" and "J_per_forward" not in e and "RAPL" in e["why"]
    model = nn.Sequential(nn.Linear(8, 8))
    r = torchcount.profile(model, torch.randn(2, 8), measure=True, energy=True, **FAST)
    assert r.extra["energy"]["status"] == "unavailable"
    assert "energy: unavailable" in str(r)
    # CO₂e: 1 kWh = 3.6 MJ at 480 g/kWh is 480 g; 1 J is 480 / 3.6e6 g
    assert co2e_grams(3.6e6, 480) == pytest.approx(480)
    assert co2e_grams(1.0, 300) == pytest.approx(300 / 3.6e6)


def test_bad_measure_options_are_clear_errors():
    model = nn.Linear(4, 4)
    with pytest.raises(ValueError, match="repeat"):
        torchcount.profile(model, torch.randn(1, 4), measure=True, repeat=0)
    with pytest.raises(ValueError, match="device='meta' has no time"):  # (not "move the model to meta")
        torchcount.profile(model, torch.randn(1, 4), measure=True, device="meta")
    with pytest.raises(ValueError, match="move the model first" if torch.cuda.is_available() else "not available"):
        torchcount.profile(model, torch.randn(1, 4), measure=True, device="cuda")
    with pytest.raises(TypeError):
        torchcount.profile(model, torch.randn(1, 4), measure=True, no_such_option=1)


class _CountsCalls(nn.Linear):
    def __init__(self):
        super().__init__(4, 4)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return super().forward(x)


@pytest.mark.parametrize("option, error, message", [
    (dict(no_such_option=1), TypeError, "unknown measurement option.*no_such_option.*takes warmup, repeat"),
    (dict(modules=[]), TypeError, "unknown measurement option.*modules"),  # internal: was "got multiple values"
    (dict(peaks=5), TypeError, "peaks must be a torchcount.measure.Peaks"),  # failed after every timed pass
    (dict(grid_intensity="x"), ValueError, "grid_intensity must be a non-negative number"),
    (dict(energy_seconds=-1), ValueError, "energy_seconds must be a positive number"),
    # NaN and infinity passed: math.ceil failed in the energy loop, after every timed pass
    (dict(energy_seconds=float("nan")), ValueError, "energy_seconds must be a positive number"),
    (dict(energy_seconds=float("inf")), ValueError, "energy_seconds must be a positive number"),
    (dict(grid_intensity=float("nan")), ValueError, "grid_intensity must be a non-negative number"),
    (dict(no_grad="no"), TypeError, "no_grad must be True or False"),
    (dict(repeat=True), ValueError, "repeat must be an int"),
    (dict(repeat=2.0), ValueError, r"repeat must be an int ≥ 1, got 2\.0"),
    (dict(repeat=0), ValueError, r"repeat must be an int ≥ 1, got 0"),
    (dict(warmup=1.0), ValueError, r"warmup must be an int ≥ 0, got 1\.0"),
    (dict(warmup=False), ValueError, r"warmup must be an int ≥ 0, got False"),
    (dict(warmup=-1), ValueError, r"warmup must be an int ≥ 0, got -1"),
    (dict(energy_layers=1.5), ValueError, r"energy_layers must be an int ≥ 0 .*, got 1\.5"),
    (dict(energy_layers=True), ValueError, r"energy_layers must be an int ≥ 0 .*, got True"),
    (dict(energy_layers=-1), ValueError, r"energy_layers must be an int ≥ 0 .*, got -1"),
    (dict(energy=1), TypeError, "energy must be True or False, got 1"),
    (dict(ceiling=0), TypeError, "ceiling must be True or False, got 0"),
    (dict(energy_seconds=0), ValueError, "energy_seconds must be a positive number, got 0"),
    (dict(energy_seconds=True), ValueError, "energy_seconds must be a positive number, got True"),
    (dict(energy_seconds="1"), ValueError, "energy_seconds must be a positive number, got '1'"),
    (dict(grid_intensity=-1), ValueError, "grid_intensity must be a non-negative number, got -1"),
    (dict(grid_intensity=float("inf")), ValueError, "grid_intensity must be a non-negative number, got inf"),
    # the given peaks were used and the ceiling, asked for, was silently not measured
    (dict(ceiling=True, peaks=GPU_PEAKS["H100 SXM"]), ValueError, "ceiling=True measures the peaks.*peaks= gives"),
])
def test_measurement_options_are_checked_before_any_forward(option, error, message):
    model = _CountsCalls()
    with pytest.raises(error, match=message):
        torchcount.profile(model, torch.randn(1, 4), measure=True, **option)
    assert model.calls == 0  # not even the counting pass
    with pytest.raises(ValueError, match="meta"):
        torchcount.profile(nn.Linear(4, 4, device="meta"), torch.randn(1, 4, device="meta"), measure=True)


def test_the_edge_values_of_the_measurement_options_are_taken():
    """The checks' edges are values a user may give: repeat=1, warmup=0, energy_layers=0, grid_intensity=0
    and energy_seconds=1e-3 all measure (one timed pass each)."""
    r = torchcount.profile(nn.Linear(4, 4), torch.randn(1, 4), measure=True, repeat=1, warmup=0, energy_layers=0,
                           grid_intensity=0, energy_seconds=1e-3)
    assert r.extra["repeat"] == 1 and r.extra["warmup"] == 0


def test_measure_called_directly_checks_its_options_before_any_forward():
    """torchcount.measure.measure (public, what profile calls) checks its options itself: repeat=0 is refused
    before the model runs."""
    from torchcount.measure import measure

    model, x = _CountsCalls(), torch.randn(1, 4)
    report = torchcount.profile(model, x)
    with pytest.raises(ValueError, match="repeat must be an int ≥ 1, got 0"):
        measure(report, model, (x,), {}, repeat=0)
    assert model.calls == 1  # the counting pass only


class _GradSeen(nn.Linear):
    """Counts its calls and records whether grad mode was on in each."""

    def __init__(self):
        super().__init__(4, 4)
        self.grad_modes = []

    def forward(self, x):
        self.grad_modes.append(torch.is_grad_enabled())
        return super().forward(x)


def test_measure_without_options_runs_the_documented_defaults():
    """docs/measure.md: warmup=3, repeat=10, no_grad=True, ceiling=False, energy=False, and 1 (counting) +
    2·warmup + 2·repeat + 1 (floor) + 1 (memory) forwards: 1 + 6 + 20 + 1 + 1 = 29, the measuring ones
    without grad, the counting one as the caller left it (on here)."""
    model = _GradSeen()
    r = torchcount.profile(model, torch.randn(1, 4), measure=True)
    assert (r.extra["warmup"], r.extra["repeat"]) == (3, 10) and len(model.grad_modes) == 29
    assert model.grad_modes[0] and not any(model.grad_modes[1:])
    assert r.extra["energy"] == {"status": "not requested"}
    assert r.extra["peaks"]["kind"] == "unknown"  # (no ceiling measured: a CPU has no datasheet peak)


def test_ceiling_best_of_two_is_fieldwise_max():
    from torchcount.measure.ceiling import best_of

    a = Peaks("cpu", 2e10, 2e10, None, None, 5e9, "measured here: run a", kind="measured")
    b = Peaks("cpu", 3e10, 3e10, None, None, 4e9, "measured here: run b", kind="measured")
    c = best_of(a, b)
    assert (c.fp32, c.tf32, c.bf16, c.bandwidth) == (3e10, 3e10, None, 5e9)
    assert "run a" in c.source and "run b" in c.source


def test_the_ceiling_source_does_not_call_the_second_runs_figures_the_best():
    """The footer quotes the source after the peaks: the second run's figures follow as measured,
    so they are not "the best" where the first run's were higher (here its copy, 5 against 4 GB/s)."""
    from torchcount.measure.ceiling import best_of

    a = Peaks("cpu", 2e10, 2e10, None, None, 5e9, "measured here: copy 5 GB/s", kind="measured")
    b = Peaks("cpu", 3e10, 3e10, None, None, 4e9, "measured here: copy 4 GB/s", kind="measured")
    c = best_of(a, b)
    assert c.bandwidth == 5e9
    assert "best of this" not in c.source
    assert c.source == ("measured here: copy 5 GB/s; a second run, after the timed passes: copy 4 GB/s "
                        "(each peak is the better of the two runs' figures)")
    # another dtype's kernels joined to the same run: no second run to speak of
    assert best_of(a, b, "and").source == "measured here: copy 5 GB/s; and: copy 4 GB/s"


def test_details_of_an_unmeasured_report_is_a_clear_error():
    r = torchcount.profile(nn.Linear(2, 2), torch.randn(1, 2))
    with pytest.raises(KeyError, match="measure=True"):
        details(r, "")
    m = torchcount.profile(nn.Sequential(nn.Linear(2, 2)), torch.randn(1, 2), measure=True, **FAST)
    with pytest.raises(KeyError, match="no measured module 'nope'"):
        details(m, "nope")


def test_details_takes_a_row_as_the_table_names_it():
    """report.row() takes "(root)" and "name (self)" as the measured table shows them; details()
    raised KeyError for both."""
    class Res(nn.Module):
        def __init__(self):
            super().__init__()
            self.blk = nn.Sequential(nn.Linear(4, 4), nn.ReLU())

        def forward(self, x):
            return self.blk(x) + x

    r = torchcount.profile(Res(), torch.randn(2, 4), measure=True, **FAST)
    assert details(r, "(root)") is details(r, "")
    assert details(r, "(root) (self)") is details(r, "")
    assert details(r, "blk (self)") is details(r, "blk")


def test_energy_arithmetic_with_a_fake_nvml_counter(monkeypatch):
    """The NVML path without a GPU: a fake counter that advances 250 mJ per forward."""
    from torchcount.measure import energy as E

    counter = {"mJ": 1_000_000}

    class FakeNVML:
        @staticmethod
        def nvmlDeviceGetTotalEnergyConsumption(handle):
            return counter["mJ"]

    def forward():
        counter["mJ"] += 250
        time.sleep(0.002)

    monkeypatch.setattr(E, "_nvml_handle", lambda device: (FakeNVML, object()))
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a, **k: None)
    e = E.measure_energy(forward, torch.device("cuda"), seconds_per_pass=0.002, grid_intensity=400,
                         min_seconds=0.05)
    assert e["status"] == "measured" and e["seconds"] >= 0.05
    assert e["joules"] == pytest.approx(0.25 * e["passes"])
    assert e["J_per_forward"] == pytest.approx(0.25)
    assert e["CO2e_g_per_forward"] == pytest.approx(0.25 / 3.6e6 * 400)
    # a counter that does not move is "unavailable", not 0 J
    monkeypatch.setattr(E, "_nvml_handle", lambda device: (FakeNVML, object()))
    e = E.measure_energy(lambda: time.sleep(0.002), torch.device("cuda"), 0.002, min_seconds=0.02)
    assert e["status"] == "unavailable" and "did not advance" in e["why"]
    # a counter that advanced a little (1 mJ a forward, well under a joule in all) is measured all the same

    def small():
        counter["mJ"] += 1
        time.sleep(0.002)
    e = E.measure_energy(small, torch.device("cuda"), 0.002, min_seconds=0.02)
    assert e["status"] == "measured" and e["J_per_forward"] == pytest.approx(1e-3) and e["joules"] < 1


def fake_powercap(root, zones):
    """A /sys/class/powercap tree: {directory: (name, energy_uj, max_energy_range_uj)}."""
    for directory, (name, energy, wrap) in zones.items():
        (root / directory).mkdir()
        (root / directory / "name").write_text(name + "\n")
        (root / directory / "energy_uj").write_text(f"{energy}\n")
        (root / directory / "max_energy_range_uj").write_text(f"{wrap}\n")


def test_energy_on_cpu_from_fake_rapl_counters(monkeypatch, tmp_path):
    """The RAPL path: two packages and a DRAM zone are summed; a core sub-zone (part of its
    package), psys (the whole platform) and the mmio copy of package 0 are not; a counter that
    wraps around its range is unwrapped."""
    from torchcount.measure import energy as E

    wrap = 262_143_328_850
    fake_powercap(tmp_path, {
        "intel-rapl:0": ("package-0", wrap - 100_000, wrap), "intel-rapl:0:0": ("core", 5, wrap),
        "intel-rapl:0:1": ("dram", 1_000, wrap), "intel-rapl:1": ("package-1", 7_000, wrap),
        "intel-rapl:2": ("psys", 9_000, wrap), "intel-rapl-mmio:0": ("package-0", 3, wrap)})
    monkeypatch.setattr(E, "POWERCAP", str(tmp_path))
    assert [name for name, _, _ in E.rapl_zones()] == ["package-0", "dram of intel-rapl:0", "package-1"]

    def forward():  # each pass: package 0 +300 mJ (wrapping past its range), DRAM +50 mJ, package 1 +150 mJ
        for directory, step in (("intel-rapl:0", 300_000), ("intel-rapl:0:1", 50_000), ("intel-rapl:1", 150_000)):
            energy = tmp_path / directory / "energy_uj"
            energy.write_text(str((int(energy.read_text()) + step) % wrap))
        time.sleep(0.002)

    e = measure_energy(forward, torch.device("cpu"), seconds_per_pass=0.002, grid_intensity=400, min_seconds=0.05)
    assert e["status"] == "measured" and e["seconds"] >= 0.05
    assert e["J_per_forward"] == pytest.approx(0.5)  # 300 + 50 + 150 mJ
    assert "package-0" in e["source"] and "psys" not in e["source"]
    assert e["CO2e_g_per_forward"] == pytest.approx(0.5 / 3.6e6 * 400)
    # counters that do not move are "unavailable", not 0 J
    e = measure_energy(lambda: time.sleep(0.002), torch.device("cpu"), 0.002, min_seconds=0.02)
    assert e["status"] == "unavailable" and "did not advance" in e["why"]


class _Meter(nn.Module):
    """Advances a fake RAPL counter by ``uj`` µJ per call and sleeps ``seconds`` (its time, so that the
    layers with the most time are known by hand)."""

    def __init__(self, counter, uj, seconds):
        super().__init__()
        self.counter, self.uj, self.seconds = counter, uj, seconds

    def forward(self, x):
        self.counter.write_text(str(int(self.counter.read_text()) + self.uj))
        time.sleep(self.seconds)
        return x


class _Twice(nn.Module):
    """A container calling its one layer twice: its own time is Python, no call of it alone repeats it."""

    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, x):
        return self.layer(self.layer(x))


class _Needy(nn.Module):
    """Raises unless its parent has set it up: a call of it alone fails."""

    ready = False

    def forward(self, x):
        if not self.ready:
            raise RuntimeError("called outside its parent")
        return x * 2


class _SetsUp(nn.Module):
    def __init__(self):
        super().__init__()
        self.needy = _Needy()

    def forward(self, x):
        self.needy.ready = True
        try:
            return self.needy(x)
        finally:
            self.needy.ready = False


def test_energy_per_layer_replays_the_layers_with_the_most_time(monkeypatch, tmp_path):
    """energy_layers=N: the N replayable rows with the most time, each called alone on a copy of its
    inputs against the counter; energy_mJ = mJ per call × its calls per forward. Here each layer moves
    the fake counter itself: 300 mJ a call for the one called twice (so 600 mJ per forward), 50 mJ for
    the other, so the figures are exact, and their sum is the forward's 650 mJ measured whole."""
    from torchcount.measure import energy as E

    fake_powercap(tmp_path, {"intel-rapl:0": ("package-0", 0, 10**15)})
    monkeypatch.setattr(E, "POWERCAP", str(tmp_path))
    counter = tmp_path / "intel-rapl:0" / "energy_uj"
    model = nn.Sequential(_Twice(_Meter(counter, 300_000, 0.01)), _Meter(counter, 50_000, 0.002), nn.Linear(4, 4),
                          _SetsUp())
    r = torchcount.profile(model, torch.randn(2, 4), measure=True, warmup=0, repeat=3, energy=True,
                           energy_seconds=0.05, energy_layers=3)
    # the most time: 0.layer (2 × 10 ms), then 1 (2 ms); 0 (the container) and the root are not replayable;
    # then the Linear or 3.needy, a few µs each
    assert r.row("0.layer").extra["energy_mJ"] == pytest.approx(2 * 300)
    assert r.row("1").extra["energy_mJ"] == pytest.approx(50)
    assert "energy_mJ" not in r.row("0").extra and "energy_mJ" not in r.row("0").self_extra
    summary = r.extra["energy_layers"]
    assert summary["layers"] == 3 and summary["mJ_per_forward"] == pytest.approx(650)
    assert summary["share_of_forward%"] == pytest.approx(100)
    line = r.extra["footer"][-1]
    assert line.startswith("energy by layer (3 with the most time") and "0.layer 600 mJ, 1 50 mJ" in line
    assert "together 650 mJ, 100% of the forward's 650 mJ measured whole" in line
    detail = r.extra["per_layer"]["1"]["energy"]
    assert detail["status"] == "measured" and detail["J_per_call"] == pytest.approx(0.05)
    # the third: a Linear moves no counter (the counter did not advance: unavailable, never 0 mJ), or the
    # layer that needs its parent fails alone (not replayable, with the reason; the profile goes on)
    third = next(path for path in ("2", "3.needy") if path in r.extra["per_layer"]
                 and "energy" in r.extra["per_layer"][path])
    assert "energy_mJ" not in r.row(third).extra
    # print(r) shows the column its footer points at, after the measured preset's
    header = next(line for line in str(r).splitlines() if line.lstrip().startswith("#")).split()
    assert header[-2:] == ["AI", "energy_mJ"]
    if third == "3.needy":
        assert "not replayable: 3.needy (RuntimeError: called outside its parent)" in line
    else:
        assert "did not advance" in r.extra["per_layer"]["2"]["energy"]["why"]
    # one layer: only the one with the most time, without energy=True no share of the forward
    r = torchcount.profile(model, torch.randn(2, 4), measure=True, warmup=0, repeat=3, energy_seconds=0.05,
                           energy_layers=1)
    assert [p for p, d in r.extra["per_layer"].items() if "energy" in d] == ["0.layer"]
    assert r.extra["energy_layers"]["share_of_forward%"] is None
    assert "together" not in r.extra["footer"][-1]


def test_energy_per_layer_leaves_the_state_a_replay_changes_as_found(monkeypatch, tmp_path):
    """A BatchNorm in training mode updates its running statistics at every replayed call: they are
    put back with the model's."""
    from torchcount.measure import energy as E

    fake_powercap(tmp_path, {"intel-rapl:0": ("package-0", 0, 10**15)})
    monkeypatch.setattr(E, "POWERCAP", str(tmp_path))
    counter = tmp_path / "intel-rapl:0" / "energy_uj"
    model = nn.Sequential(nn.BatchNorm1d(4), _Meter(counter, 1000, 0))
    model[0].register_forward_hook(lambda *_: counter.write_text(str(int(counter.read_text()) + 1000)) and None)
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    r = torchcount.profile(model, torch.randn(8, 4), measure=True, warmup=0, repeat=1, energy_seconds=0.02,
                           energy_layers=2)
    assert r.extra["per_layer"]["0"]["energy"]["passes"] > 1  # replayed again and again
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before) and model.training


class _Slow(nn.Module):
    """A custom leaf (no submodules) with ops of its own: symbolic_trace inlines it, leaving no module."""

    def forward(self, x):
        for _ in range(20):
            x = torch.tanh(x) * 1.01
        return x


def test_energy_per_layer_skips_rows_with_no_module_of_their_own(monkeypatch, tmp_path):
    """A GraphModule's original layers (a custom module symbolic_trace traced through) have rows but no
    module to call: they are not picked, so the N layers replayed are N that can be, not ones failing as
    'not called'."""
    from torchcount.measure import energy as E

    fake_powercap(tmp_path, {"intel-rapl:0": ("package-0", 0, 10**15)})
    monkeypatch.setattr(E, "POWERCAP", str(tmp_path))
    gm = torch.fx.symbolic_trace(nn.Sequential(nn.Linear(64, 64), _Slow(), nn.Linear(64, 64)))
    assert "1" not in dict(gm.named_modules())
    r = torchcount.profile(gm, torch.randn(32, 64), measure=True, warmup=1, repeat=2, energy_seconds=0.01,
                           energy_layers=2)
    assert r.row("1").extra["time_ms"] > r.row("0").extra["time_ms"]  # the most time, but no module
    replayed = sorted(p for p, d in r.extra["per_layer"].items() if "energy" in d)
    assert replayed == ["0", "2"]
    assert all("not called" not in d["energy"].get("why", "") for d in r.extra["per_layer"].values() if "energy" in d)


class _State:
    def __init__(self):
        self.items = []


class _Changes(nn.Module):
    """Notes what each call finds, moves the fake counter 200 mJ, then changes its inputs: x halved in
    place, the keyword tensor grown, the input object appended to."""

    def __init__(self, counter):
        super().__init__()
        self.counter, self.seen = counter, []

    def forward(self, x, y, *, cache, state):
        self.seen.append((x is y, float(x.sum()), float(cache.sum()), len(state.items)))
        self.counter.write_text(str(int(self.counter.read_text()) + 200_000))
        x.mul_(0.5)
        cache.add_(1)
        state.items.append(1)
        return x + cache


class _CallsChanges(nn.Module):
    def __init__(self, counter):
        super().__init__()
        self.layer = _Changes(counter)

    def forward(self, x):
        h = x * 1
        return self.layer(h, h, cache=torch.zeros(4), state=_State())


def test_energy_per_layer_replays_every_call_on_the_inputs_of_the_first(monkeypatch, tmp_path):
    """The inputs are kept before the call, keyword arguments included, a tensor given twice one tensor
    (self-attention's fast path tests q is k), an input object deep-copied; a layer that changes them
    gets them afresh at each replayed call (the copying, measured alone, taken off): every call computes
    what the pass's did, not on halved values, a grown cache or a longer list."""
    from torchcount.measure import energy as E

    fake_powercap(tmp_path, {"intel-rapl:0": ("package-0", 0, 10**15)})
    monkeypatch.setattr(E, "POWERCAP", str(tmp_path))
    counter = tmp_path / "intel-rapl:0" / "energy_uj"
    model = _CallsChanges(counter)
    r = torchcount.profile(model, torch.ones(2, 4), measure=True, warmup=0, repeat=1, energy_seconds=0.01,
                           energy_layers=1)
    seen = model.layer.seen
    assert len(seen) > 6 and set(seen) == {(True, 8.0, 0.0, 0)}
    detail = r.extra["per_layer"]["layer"]["energy"]
    assert detail["inputs_copied_each_call"] and detail["copy_J_per_call"] == 0  # (the copying moved no counter)
    assert r.row("layer").extra["energy_mJ"] == pytest.approx(200)


def test_energy_per_layer_casts_the_weights_at_every_replayed_call_under_autocast(monkeypatch, tmp_path):
    """Under autocast every timed pass starts a fresh region, so a layer casts its weights in each; a
    replay in one region would cast them once and then reuse the cache for every later call, leaving
    the casts out of its energy. Each replayed call starts from an empty cache, as a pass does."""
    from torchcount.measure import energy as E

    fake_powercap(tmp_path, {"intel-rapl:0": ("package-0", 0, 10**15)})
    monkeypatch.setattr(E, "POWERCAP", str(tmp_path))
    counter = tmp_path / "intel-rapl:0" / "energy_uj"
    model = nn.Sequential(nn.Linear(8, 8), _Meter(counter, 1000, 0))
    model[0].register_forward_hook(lambda *_: counter.write_text(str(int(counter.read_text()) + 1000)) and None)
    casts = []

    class Casts(torch.utils._python_dispatch.TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func is torch.ops.aten._to_copy.default and args[0].shape == (8, 8):
                casts.append(1)
            return func(*args, **(kwargs or {}))

    replays = []
    real = E.measure_energy

    def counting(run_once, *rest):  # the casts of the weight during each layer's replay loop
        casts.clear()
        with Casts():
            got = real(run_once, *rest)
        replays.append((got.get("passes"), len(casts)))
        return got

    monkeypatch.setattr(E, "measure_energy", counting)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        torchcount.profile(model, torch.randn(2, 8), measure=True, warmup=0, repeat=1, energy_seconds=0.01,
                           energy_layers=2)
    assert any(passes > 1 and n == passes for passes, n in replays), replays  # (the Linear's: a cast a call)


class _Shrinks(nn.Module):
    """Calls its layer on the whole batch, then on its first row (a prefill, then a decoding step)."""

    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, x):
        return self.layer(self.layer(x)[:1])


def test_energy_per_layer_says_when_the_calls_replayed_as_the_first_differ(monkeypatch, tmp_path):
    """energy_mJ is the first call's energy × the calls: where the calls' input shapes differ (a generate's
    prefill, then a token a step) that is not their energy, and the footer and the details say so; a
    layer called twice on the same shapes is not flagged."""
    from torchcount.measure import energy as E

    fake_powercap(tmp_path, {"intel-rapl:0": ("package-0", 0, 10**15)})
    monkeypatch.setattr(E, "POWERCAP", str(tmp_path))
    counter = tmp_path / "intel-rapl:0" / "energy_uj"
    model = nn.Sequential(_Shrinks(_Meter(counter, 1000, 0.002)), _Twice(_Meter(counter, 1000, 0.001)))
    r = torchcount.profile(model, torch.randn(4, 8), measure=True, warmup=0, repeat=1, energy_seconds=0.01,
                           energy_layers=2)
    details = r.extra["per_layer"]
    assert details["0.layer"]["energy"]["input_shapes_differ"] == 2
    assert "input_shapes_differ" not in details["1.layer"]["energy"]
    assert "0.layer called with other input shapes too (its first call's energy × its calls" in r.extra["footer"][-1]


def test_energy_per_layer_footer_names_the_layers_not_measured(monkeypatch, tmp_path):
    """A layer replayed whose loop the counter read no energy for is unavailable, never 0 mJ: the footer
    names it with why, as it names one whose replay raised, rather than leave it out unsaid."""
    from torchcount.measure import energy as E

    fake_powercap(tmp_path, {"intel-rapl:0": ("package-0", 0, 10**15)})
    monkeypatch.setattr(E, "POWERCAP", str(tmp_path))
    counter = tmp_path / "intel-rapl:0" / "energy_uj"
    model = nn.Sequential(_Meter(counter, 1000, 0.004), _Meter(counter, 0, 0.002))
    r = torchcount.profile(model, torch.randn(2, 4), measure=True, warmup=0, repeat=1, energy_seconds=0.01,
                           energy_layers=2)
    assert r.extra["energy_layers"]["measured"] == 1
    assert "; not measured: 1 (the RAPL energy counters did not advance" in r.extra["footer"][-1]


class _WritesInto(nn.Module):
    """Moves the fake counter 1000 µJ, writes its result into the tensor it is given and returns None."""

    def __init__(self, counter):
        super().__init__()
        self.counter = counter

    def forward(self, x, out):
        self.counter.write_text(str(int(self.counter.read_text()) + 1000))
        time.sleep(0.002)
        out.copy_(x * 2)


class _GivesOut(nn.Module):
    def __init__(self, counter):
        super().__init__()
        self.layer = _WritesInto(counter)

    def forward(self, x):
        out = torch.empty_like(x)
        self.layer(x, out)
        return out + 1


class _GivesOutInExcept(_GivesOut):
    def forward(self, x):
        try:
            raise ValueError("no fast path")
        except ValueError:
            return super().forward(x)


def test_energy_per_layer_replays_a_layer_that_returns_none(monkeypatch, tmp_path):
    """A layer that returns None (its result written into a tensor it is given) was called: it is
    replayed and measured, not reported 'not called in the pass that keeps the layers' inputs' (None was
    read as the output of a call that raised)."""
    from torchcount.measure import energy as E

    fake_powercap(tmp_path, {"intel-rapl:0": ("package-0", 0, 10**15)})
    monkeypatch.setattr(E, "POWERCAP", str(tmp_path))
    counter = tmp_path / "intel-rapl:0" / "energy_uj"
    r = torchcount.profile(_GivesOut(counter), torch.randn(2, 4), measure=True, warmup=0, repeat=1,
                           energy_seconds=0.01, energy_layers=1)
    detail = r.extra["per_layer"]["layer"]["energy"]
    assert detail["status"] == "measured", detail
    assert r.row("layer").extra["energy_mJ"] == pytest.approx(1)
    # called in an except block: the exception being handled as it starts is not one it raised
    r = torchcount.profile(_GivesOutInExcept(counter), torch.randn(2, 4), measure=True, warmup=0, repeat=1,
                           energy_seconds=0.01, energy_layers=1)
    assert r.extra["per_layer"]["layer"]["energy"]["status"] == "measured"


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_energy_layers_must_be_a_count(bad):
    with pytest.raises(ValueError, match="energy_layers must be an int ≥ 0"):
        torchcount.profile(nn.Linear(2, 2), torch.randn(1, 2), measure=True, energy_layers=bad)


def test_unreadable_rapl_counters_are_unavailable_and_say_why(monkeypatch, tmp_path):
    from torchcount.measure import energy as E

    fake_powercap(tmp_path, {"intel-rapl:0": ("package-0", 1, 10**9)})
    monkeypatch.setattr(E, "POWERCAP", str(tmp_path))
    real_read = E._read

    def root_only(path):  # as on kernels since 5.10, where energy_uj is root's alone
        if path.endswith("energy_uj"):
            raise PermissionError(13, "Permission denied", path)
        return real_read(path)

    monkeypatch.setattr(E, "_read", root_only)
    e = measure_energy(lambda: None, torch.device("cpu"), 1e-3)
    assert e["status"] == "unavailable" and "readable only by root" in e["why"]


def test_device_of_a_parameterless_model_comes_from_its_inputs():
    from torchcount.measure import resolve_device

    assert resolve_device(nn.ReLU(), None, ((torch.zeros(1),), {})).type == "cpu"
    # a keyword input on the meta device makes the parameterless model a meta model: refused
    with pytest.raises(ValueError, match="meta"):
        resolve_device(nn.ReLU(), None, ((), {"x": torch.zeros(1, device="meta")}))


def test_measure_a_torchscript_model():
    """ScriptModules cannot take hooks: measuring one times it as one row instead of crashing."""
    scripted = torch.jit.script(nn.Sequential(nn.Linear(8, 8), nn.ReLU()))
    report = torchcount.profile(scripted, torch.randn(2, 8), measure=True, warmup=1, repeat=3)
    (row,) = report.layers
    assert row.extra["time_ms"] > 0
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in scripted.modules())


class ScaledResidual(nn.Module):
    """A parent that works itself (a scale and a residual add) around a child that sleeps."""

    def __init__(self):
        super().__init__()
        self.slow = nn.Sequential(Sleeper(), nn.Linear(32, 32))
        self.scale = nn.Parameter(torch.ones(32))

    def forward(self, x):
        return x * self.scale + self.slow(x)


def test_a_parent_shown_by_its_own_part_shows_its_own_time():
    # a parent whose children are rows of their own stands for its own work: its time column is
    # its self time, not the time of everything it called (which holds the child's ≥ 3 ms sleep)
    r = torchcount.profile(ScaledResidual(), torch.randn(4, 32), measure=True, warmup=1, repeat=3)
    root = r.root
    assert root.extra["time_ms"] >= 3.0 > root.extra["self_ms"]
    own = root.shown_extra(True)
    assert own["time_ms"] == root.extra["self_ms"] and own["param_MiB"] == 32 * 4 / 2 ** 20
    # 4·32 multiplications + 4·32 additions of its own, over its self time
    seconds = details(r, "")["exclusive_ms"] / 1e3
    assert own["GFLOP/s"] == pytest.approx(2 * 4 * 32 / seconds / 1e9, rel=1e-6)
    assert own["time%"] == pytest.approx(100 * details(r, '')['exclusive_ms'] / root.extra['time_ms'])
    # the table: the "(root) (self)" line carries the self time, the sleeper's line ≥ 3 ms
    line = next(l for l in r.table(columns="measured").splitlines() if "(root) (self)" in l)
    assert f"{root.extra['self_ms']:.3g}" in line.split() and f"{root.extra['time_ms']:.3g}" not in line.split()
    # the CSV rows: the self part's time_ms is the self time, and the column adds up per pass
    from torchcount.export import records
    _, recs = records(r)
    mine = next(rec for rec in recs if rec["path"] == "" and rec["part"] == "self")
    assert mine["time_ms"] == root.extra["self_ms"] and mine["time_ms"] < 3.0
    # the JSON keeps both
    from torchcount.export import to_dict
    assert to_dict(r)["root"]["self_extra"]["time_ms"] == root.extra["self_ms"]


def test_cli_sort_by_time_ranks_a_parent_by_its_own_time():
    from torchcount.cli import select_rows
    r = torchcount.profile(ScaledResidual(), torch.randn(4, 32), measure=True, warmup=1, repeat=3)
    view, _ = select_rows(r, None, "time_ms", 1, r.convention)
    # the sleeper, not the root's own part (whose inclusive time holds the sleep too)
    assert [row.path for row in view.layers] == ["slow.0"]
    view, _ = select_rows(r, None, "time_ms", None, r.convention)
    mine = next(row for row in view.layers if row.path == "(root) (self)")
    assert mine.extra["time_ms"] == r.root.extra["self_ms"]


class FailsFrom(nn.Module):
    """Works for its first ``ok`` calls (the counting pass among them), then raises."""

    def __init__(self, ok: int):
        super().__init__()
        self.lin, self.ok, self.calls = nn.Linear(8, 8), ok, 0

    def forward(self, x):
        self.calls += 1
        if self.calls > self.ok:
            raise ValueError(f"call {self.calls}")
        return self.lin(x)


# fails in the first plain pass / in the first hooked pass / in the floor-probing pass (the counting
# pass, 2 warm-up and 6 timed passes before it) / in the memory pass (the last, after that one)
@pytest.mark.parametrize("ok", [1, 2, 9, 10])
def test_a_forward_failing_while_measured_names_the_module(ok):
    model = nn.Sequential(nn.ReLU(), FailsFrom(ok))
    with pytest.raises(torchcount.ForwardError, match=r"while measuring.*module '1' \(FailsFrom\).*ValueError") as e:
        torchcount.profile(model, torch.randn(2, 8), measure=True, warmup=1, repeat=3)
    assert e.value.path == "1"
    assert f"after the counting pass and {ok - 1} measuring pass(es) that completed" in str(e.value)
    for m in model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks and "forward" not in m.__dict__


class FailsOnce(nn.Module):
    """Raises on its ``n``-th call only: the hooked pass run to find the failing module succeeds."""

    def __init__(self, n: int):
        super().__init__()
        self.lin, self.n, self.calls = nn.Linear(8, 8), n, 0

    def forward(this, x):  # (its first argument not named 'self')
        this.calls += 1
        if this.calls == this.n:
            raise ValueError(f"call {this.calls}")
        return this.lin(x)


class CallsForward(nn.Module):
    def __init__(self, child: nn.Module):
        super().__init__()
        self.child = child

    def forward(self, x):
        return self.child.forward(x)


@pytest.mark.parametrize("direct", [False, True])
def test_a_forward_failing_once_in_a_pass_without_hooks_names_the_module(direct):
    """Its 2nd call is the first warm-up pass, without hooks; the hooked pass run after it to find
    the module did not fail, and the error named no module. It is read from the traceback (also
    for a child whose parent calls its forward directly)."""
    model = nn.Sequential(nn.ReLU(), CallsForward(FailsOnce(2)) if direct else FailsOnce(2))
    path = "1.child" if direct else "1"
    with pytest.raises(torchcount.ForwardError, match=rf"in module '{path}' \(FailsOnce\).*ValueError: call 2") as e:
        torchcount.profile(model, torch.randn(2, 8), measure=True, warmup=1, repeat=3)
    assert e.value.path == path
    for m in model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks and "forward" not in m.__dict__


def test_another_thread_calling_the_model_while_it_is_measured_runs_it_untimed():
    """Another thread calls the model (its Linear with a forward hook of the user's) again and again while
    it is measured: its calls run through the timing wrappers and span hooks untouched, each returning
    what the model returns unprofiled, and raising nothing; the measured thread's stamps stay consistent."""
    import threading

    model = nn.Sequential(nn.Linear(8, 8), Sleeper())
    user_hook = model[0].register_forward_hook(lambda m, args, out: None)  # (keeps the output)
    stop = threading.Event()
    x_other = torch.randn(2, 8)
    with torch.no_grad():
        expected = model(x_other)
    same, errors = [], []

    def other():
        while not stop.is_set():
            try:
                with torch.no_grad():
                    same.append(torch.equal(model(x_other), expected))
            except Exception as exc:  # noqa: BLE001 - a thread's exception would only be printed
                errors.append(exc)

    thread = threading.Thread(target=other)
    thread.start()
    try:
        # the other thread's calls fired the timing hooks too: "'(root)' has no end stamp"
        report = torchcount.profile(model, torch.randn(2, 8), measure=True, warmup=1, repeat=3)
    finally:
        stop.set()
        thread.join()
    assert not errors and same and all(same), errors
    for r in report.layers + [report.root]:
        for inc, exc in zip(details(report, r.path)["inclusive_ns"], details(report, r.path)["exclusive_ns"]):
            assert inc >= exc >= 0
    assert list(model[0]._forward_hooks) == [user_hook.id] and not model[0]._forward_pre_hooks
    user_hook.remove()
    for m in model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks


def test_plain_and_hooked_passes_of_an_eval_transformer_run_the_same_computation():
    # without hooks an eval TransformerEncoderLayer under no_grad takes its fused fast path (one
    # aten op per layer); with hooks it does not: the plain passes timed another computation
    layer = nn.TransformerEncoderLayer(16, 2, 32, batch_first=True)
    model = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False).eval()
    fused = []
    original = torch._transformer_encoder_layer_fwd

    def counting(*args, **kwargs):
        fused.append(1)
        return original(*args, **kwargs)

    torch._transformer_encoder_layer_fwd = counting
    try:
        torchcount.profile(model, torch.randn(2, 5, 16), measure=True, warmup=1, repeat=3)
    finally:
        torch._transformer_encoder_layer_fwd = original
    assert fused == []


def test_a_rule_priced_blocks_own_part_rates_its_whole_cost_over_its_whole_time():
    # a rule prices the whole block (its called children are 'covered', 0 FLOPs); shown by its own
    # part, its rate divided that whole cost by its self time (children's time excluded)
    from torchcount.cost import Cost, Term
    from torchcount.rules import registry

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(64, 64), nn.Linear(64, 64)

        def forward(self, x):
            return self.fc2(torch.relu(self.fc1(x)))

    @torchcount.module_rule(Block)
    def block_rule(m, call):
        rows = call.input.shape[0]
        return Cost.of(Term("macs", "two linears", "2·rows·64·64", 2 * rows * 4096, 2 * rows * 4096))

    try:
        model = nn.Sequential(Block(), nn.Linear(64, 2))
        report = torchcount.profile(model, torch.randn(32, 64), measure=True, warmup=1, repeat=3)
    finally:
        registry._MODULE_RULES.pop(Block, None)
        registry._lookup_cache.pop(Block, None)
    block = report.row("0")
    own = block.shown_extra(True)
    assert own["time_ms"] == block.extra["self_ms"]  # the time column still partitions the forward
    assert own["GFLOP/s"] == pytest.approx(block.extra["GFLOP/s"])  # the rate: one scope, the whole block


def test_the_roots_own_time_has_a_row_so_the_time_column_adds_up():
    """A root that only loops over its layers (no arithmetic, no parameters of its own) still spends
    time itself: its "(root) (self)" row is shown, and with it the rows' own times make up the total
    (each pass exactly: Σ exclusive = the root's inclusive; the medians nearly)."""

    class Loop(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList(nn.Linear(64, 64) for _ in range(3))

        def forward(self, x):
            for block in self.blocks:
                x = block(x)
            return x

    # (11 passes: with 5, a sum of medians once missed the median of sums by over 25 % on a loaded host)
    report = torchcount.profile(Loop(), torch.randn(8, 64), measure=True, warmup=1, repeat=11)
    assert report.layers[0] is report.root and report.root.self_extra["time_ms"] > 0
    assert "(root) (self)" in report.table(columns=["module", "time_ms", "time%"])
    shown = [(row, own) for row, own in visible_rows(report.layers, None)]
    assert [row.path for row, _ in shown] == ["", "blocks.0", "blocks.1", "blocks.2"]
    own_ms = sum(row.self_extra["time_ms"] if own else row.extra["time_ms"] for row, own in shown)
    assert own_ms == pytest.approx(report.extra["time_ms"], rel=0.25)


class _SlowUncounted(nn.Module):
    """Runs an op with no formula (an eigen-decomposition), then sleeps: its own time ≥ 3 ms."""

    def forward(self, x):
        time.sleep(0.003)
        return x + torch.linalg.eigvals(x[:4, :4]).real.sum()


def test_rows_with_uncounted_work_report_their_own_time(dominated):
    model = nn.Sequential(nn.Linear(8, 8), _SlowUncounted(), nn.ReLU())
    r = torchcount.profile(model, torch.randn(4, 8), measure=True, warn=False, **FAST)
    assert [(u.path, u.what) for u in r.uncounted] == [("1", "aten.linalg_eig.default")]
    # the measured counterpart of the item coverage: the own time of the † rows, here just '1',
    # which sleeps 3 ms (a guaranteed lower bound), out of the measured forward
    assert r.extra["uncounted_ms"] == pytest.approx(r.row("1").extra["self_ms"])
    assert r.extra["uncounted_ms"] >= 3.0
    assert r.extra["uncounted_time_share"] == pytest.approx(r.extra["uncounted_ms"] / r.extra["root_ms"])
    assert 0.5 < r.extra["uncounted_time_share"] <= 1
    assert "rows with uncounted work (†): " in str(r)
    # a complete count has none, and says nothing about it
    assert dominated.complete and dominated.extra["uncounted_ms"] == 0.0
    assert "rows with uncounted work" not in str(dominated)


def test_report_level_details_are_not_table_columns(dominated):
    # the footer's lines and the per-layer details are not one value a totals cell could show
    for name in ("per_layer", "footer", "memory", "peaks"):
        with pytest.raises(ValueError, match=f"unknown column.*'{name}'"):
            dominated.table(columns=["module", name])
    # a report-level figure that is one value is still allowed, shown in the totals row
    lines = dominated.table(columns=["module", "root_ms"]).splitlines()
    totals = next(line for line in lines if line.split()[:1] == ["total"])
    assert totals.split() == ["total", f"{dominated.extra['root_ms']:.3g}"]


def test_energy_without_a_powercap_tree_says_so(monkeypatch, tmp_path):
    """Where /sys/class/powercap does not exist at all (a container that does not mount it, as this
    machine), the reason said "no CPU package zone in" it, as if it had been listed."""
    from torchcount.measure import energy as E

    monkeypatch.setattr(E, "POWERCAP", str(tmp_path / "powercap"))
    why = measure_energy(lambda: None, torch.device("cpu"), 1e-3)["why"]
    assert f"{tmp_path / 'powercap'} does not exist" in why and "container" in why
    monkeypatch.setattr(E, "POWERCAP", str(tmp_path))  # there, but no package zone in it
    why = measure_energy(lambda: None, torch.device("cpu"), 1e-3)["why"]
    assert f"no CPU package zone (intel-rapl:N) in {tmp_path}" in why


def test_energy_of_a_method_is_per_call_of_it(monkeypatch, tmp_path):
    """With method="generate" each energy pass is one call of generate (three forwards here): the
    footer said "J per forward"."""
    from torchcount.measure import energy as E

    fake_powercap(tmp_path, {"intel-rapl:0": ("package-0", 0, 10**12)})
    monkeypatch.setattr(E, "POWERCAP", str(tmp_path))

    class Steps(nn.Linear):
        def generate(self, x):
            for _ in range(3):
                x = self(x)
            counter = tmp_path / "intel-rapl:0" / "energy_uj"
            counter.write_text(str(int(counter.read_text()) + 1000))
            return x

    r = torchcount.profile(Steps(4, 4), torch.randn(1, 4), method="generate", measure=True, energy=True,
                           energy_seconds=0.01, warmup=0, repeat=1)
    line = next(line for line in r.extra["footer"] if line.startswith("energy:"))
    assert line.startswith("energy: 0.001 J per generate call (") and "CO₂e" in line and "mg per generate call" in line


def test_energy_passes_run_the_forward_that_was_counted(monkeypatch, tmp_path):
    """A forward that sets ``self.forward`` to a fast path: every timed pass starts from the forward
    as found, but the energy loop ran the fast path the memory pass left, and measured another
    computation. Here only the counted forward advances the (fake) counter, 1 mJ a call."""
    from torchcount.measure import energy as E

    fake_powercap(tmp_path, {"intel-rapl:0": ("package-0", 0, 10**12)})
    monkeypatch.setattr(E, "POWERCAP", str(tmp_path))
    counter = tmp_path / "intel-rapl:0" / "energy_uj"

    class SwitchesToFastPath(nn.Module):
        def forward(self, x):
            self.forward = self._fast
            counter.write_text(str(int(counter.read_text()) + 1000))
            return x * 2

        def _fast(self, x):
            return x * 2

    model = SwitchesToFastPath()
    r = torchcount.profile(model, torch.zeros(2), measure=True, energy=True, energy_seconds=0.01, warmup=0, repeat=1)
    assert r.extra["energy"]["status"] == "measured"
    assert r.extra["energy"]["J_per_forward"] == pytest.approx(0.001)
    assert "forward" not in vars(model)


class _BumpsItsInput(nn.Module):
    """Notes its input's first element, advances a fake RAPL counter 1 mJ, then adds 1 to its input in place."""

    def __init__(self, counter, seen):
        super().__init__()
        self.counter, self.seen = counter, seen

    def forward(self, x):
        self.seen.append(float(x[0]))
        self.counter.write_text(str(int(self.counter.read_text()) + 1000))
        return x.add_(1)


@pytest.mark.parametrize("energy_layers", [0, 1])
def test_energy_passes_start_from_the_inputs_as_given(monkeypatch, tmp_path, energy_layers):
    """A forward that adds 1 to its input in place: every pass gets a fresh copy of the input as given,
    the energy loop's (energy=True) and the pass that keeps a layer's inputs for its replays
    (energy_layers=1) as the timed ones, so every forward sees 0 and each costs its 1 mJ."""
    from torchcount.measure import energy as E

    fake_powercap(tmp_path, {"intel-rapl:0": ("package-0", 0, 10**15)})
    monkeypatch.setattr(E, "POWERCAP", str(tmp_path))
    seen = []
    model = nn.Sequential(_BumpsItsInput(tmp_path / "intel-rapl:0" / "energy_uj", seen))
    x = torch.zeros(2)
    r = torchcount.profile(model, x, measure=True, energy=not energy_layers, energy_layers=energy_layers,
                           energy_seconds=0.01, warmup=0, repeat=1)
    assert len(seen) > 6 and set(seen) == {0.0}, seen
    assert x.tolist() == [0.0, 0.0]
    if energy_layers:
        assert r.row("0").extra["energy_mJ"] == pytest.approx(1)
    else:
        assert r.extra["energy"]["J_per_forward"] == pytest.approx(0.001)


def test_energy_passes_cast_the_weights_under_autocast_as_the_counted_one_did(monkeypatch, tmp_path):
    """Inside one autocast region a weight's bf16 copy is cached after its first cast: the energy loop's
    passes start a fresh region each, as the timed passes do, so each casts the Linear's (8, 8) weight
    once — the loop measures the forward that was counted, casts included. measure() returns the report
    it fills."""
    from conftest import CountsWeightCasts
    from torchcount.measure import energy as E, measure

    fake_powercap(tmp_path, {"intel-rapl:0": ("package-0", 0, 10**15)})
    monkeypatch.setattr(E, "POWERCAP", str(tmp_path))
    counter = tmp_path / "intel-rapl:0" / "energy_uj"
    model = CountsWeightCasts(each_call=lambda: counter.write_text(str(int(counter.read_text()) + 1000)))
    x, casts = torch.randn(2, 8), model.casts
    with torch.autocast("cpu", dtype=torch.bfloat16):
        report = torchcount.profile(model, x)
        casts.clear()
        # (measure itself, without profile's fresh copies of the inputs: autocast alone asks for a fresh region)
        assert measure(report, model, (x,), {}, energy=True, energy_seconds=0.01, warmup=0, repeat=1) is report
    passes = report.extra["energy"]["passes"]
    assert passes >= 1 and len(casts) == 4 + passes and set(casts) == {1}, casts  # (2 timed + floor + memory first)


def test_the_energy_loop_runs_as_many_forwards_as_fill_its_seconds(monkeypatch):
    """The loop's first batch is the energy seconds ÷ the plain forward's median: a forward that sleeps
    3 ms (its median ≥ 3 ms) over 0.029 s is at most ⌈0.029 / 0.003⌉ = 10 forwards, and 10 of them take
    ≥ 30 ms, so no second batch. (The median read as nanoseconds halved would double the batch: 20.)
    The counter is left out: the loop's length does not depend on it."""
    from torchcount.measure import energy as E

    runs = []

    def loop_only(run_once, seconds_per_pass, grid_intensity, min_seconds):
        runs.append(E._run_for(run_once, lambda: None, seconds_per_pass, min_seconds)[0])
        return E.unavailable("a test")

    monkeypatch.setattr(E, "_measure_rapl", loop_only)
    torchcount.profile(nn.Sequential(Sleeper()), torch.zeros(2), measure=True, energy=True, energy_seconds=0.029,
                       warmup=0, repeat=1)
    assert len(runs) == 1 and 1 <= runs[0] <= 10, runs


def test_the_pass_keeping_a_layers_inputs_runs_the_forward_as_found_after_the_energy_loop(monkeypatch, tmp_path):
    """A forward that rebinds ``self.forward`` to a fast path on each call, advancing the fake counter 1 mJ
    (the fast path: nothing). The energy loop's last pass leaves the fast path set, and the pass that keeps
    the layers' inputs (energy_layers) must run the forward as found, as every other pass does; so must each
    of the layer's replays, whose first call set the fast path for the rest: the layer read 1 mJ over all its
    replays (0.012 mJ a call over 85), not 1 mJ a call. The fast path never runs."""
    from torchcount.measure import energy as E

    fake_powercap(tmp_path, {"intel-rapl:0": ("package-0", 0, 10**15)})
    monkeypatch.setattr(E, "POWERCAP", str(tmp_path))
    counter = tmp_path / "intel-rapl:0" / "energy_uj"
    log = []

    class Rebinds(nn.Module):
        def forward(self, x):
            log.append("found")
            self.forward = self._fast
            counter.write_text(str(int(counter.read_text()) + 1000))
            return x * 2

        def _fast(self, x):
            log.append("fast")
            return x * 2

    model = nn.Sequential(Rebinds())
    r = torchcount.profile(model, torch.zeros(2), measure=True, energy=True, energy_layers=1, energy_seconds=0.01,
                           warmup=0, repeat=1)
    assert "fast" not in log and len(log) > 6
    assert r.extra["per_layer"]["0"]["energy"]["J_per_call"] == pytest.approx(0.001)
    assert r.row("0").extra["energy_mJ"] == pytest.approx(1)
    assert "forward" not in vars(model[0])


class _MeteredBlock(nn.Module):
    """A block whose Linear child a test-registered rule covers (conftest's products_rule), advancing a
    fake RAPL counter 1 mJ a call."""

    counter = None

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        type(self).counter.write_text(str(int(type(self).counter.read_text()) + 1000))
        return self.fc(x)


@pytest.fixture
def metered_block():
    from conftest import products_rule

    yield from products_rule(_MeteredBlock)


def test_a_ruled_blocks_own_row_shows_its_replayed_energy(monkeypatch, tmp_path, metered_block):
    """A block priced whole by its rule, with a child: its table row is '0 (self)' beside its covered child,
    and its own work is its whole work, so the row shows the 1 mJ a call its replays read (as a leaf's would)."""
    from torchcount.measure import energy as E

    fake_powercap(tmp_path, {"intel-rapl:0": ("package-0", 0, 10**15)})
    monkeypatch.setattr(E, "POWERCAP", str(tmp_path))
    metered_block.counter = tmp_path / "intel-rapl:0" / "energy_uj"
    r = torchcount.profile(nn.Sequential(metered_block(), nn.ReLU()), torch.randn(2, 4), measure=True,
                           energy_layers=1, energy_seconds=0.01, warmup=0, repeat=1)
    row = r.row("0")
    assert row.status == "rule" and row.extra["energy_mJ"] == pytest.approx(1)
    assert row.shown_extra(True)["energy_mJ"] == pytest.approx(1)
    assert row.self_extra["energy_mJ"] == pytest.approx(1)  # (row.self_extra: its own work's columns, as exported)
    line = next(line for line in r.table().splitlines() if "0 (self)" in line)
    assert line.split()[-1] == "1", line


def test_energy_by_layer_says_why_when_no_layer_was_measured(monkeypatch, tmp_path):
    """No RAPL zone at all: the footer's per-layer line is 'unavailable' with the counter's reason. A counter
    that only the root's own forward advances (1 mJ a forward, its Linear none): the forward is measured
    whole, its one replayed layer is not (the counter did not advance over its loop), so the layers' sum
    and its share of the forward are None, not 0 mJ and 0 %, and the line says why."""
    from torchcount.measure import energy as E

    monkeypatch.setattr(E, "POWERCAP", str(tmp_path))  # (empty: no zone)
    r = torchcount.profile(nn.Sequential(nn.Linear(4, 4)), torch.randn(2, 4), measure=True, energy_layers=1,
                           energy_seconds=0.01, warmup=0, repeat=1)
    assert "energy by layer: unavailable — no RAPL energy counter: no CPU package zone" in "\n".join(r.extra["footer"])

    fake_powercap(tmp_path, {"intel-rapl:0": ("package-0", 0, 10**15)})
    counter = tmp_path / "intel-rapl:0" / "energy_uj"

    class Root(nn.Sequential):
        def forward(self, x):
            counter.write_text(str(int(counter.read_text()) + 1000))
            return super().forward(x)

    r = torchcount.profile(Root(nn.Linear(4, 4)), torch.randn(2, 4), measure=True, energy=True, energy_layers=1,
                           energy_seconds=0.01, warmup=0, repeat=1)
    assert r.extra["energy"]["J_per_forward"] == pytest.approx(0.001)
    why = r.extra["per_layer"]["0"]["energy"]["why"]
    assert why.startswith("the RAPL") or "did not advance" in why, why
    assert r.extra["energy_layers"] == {"layers": 1, "measured": 0, "seconds_each": 0.01, "mJ_per_forward": None,
                                        "share_of_forward%": None}
    assert f"energy by layer: unavailable — {why}" in r.extra["footer"]


@pytest.mark.parametrize("once", [False, True])
def test_a_forward_failing_in_the_energy_loop_names_the_module(monkeypatch, tmp_path, once):
    """The energy loop's passes are measured passes too: a forward failing there raised its own
    exception, not a ForwardError naming the module (the CLI's one-line error, exit code 1). Its 13th
    call: after the counting pass, 2 warm-up, 6 timed passes, the memory pass and 2 energy passes."""
    from torchcount.measure import energy as E

    fake_powercap(tmp_path, {"intel-rapl:0": ("package-0", 0, 10**12)})
    monkeypatch.setattr(E, "POWERCAP", str(tmp_path))
    failing = FailsOnce(13) if once else FailsFrom(12)
    model = nn.Sequential(nn.ReLU(), failing)
    with pytest.raises(torchcount.ForwardError, match=r"after the counting pass and 11 measuring pass.*"
                                                      r"in module '1' \(Fails(Once|From)\).*ValueError") as e:
        torchcount.profile(model, torch.randn(2, 8), measure=True, energy=True, warmup=1, repeat=3)
    assert e.value.path == "1"
    for m in model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks and "forward" not in m.__dict__


def test_the_device_label_counts_its_threads_in_english(dominated):
    """The docs recommend one thread on a shared CPU, and the footer then said "CPU (1 threads)"."""
    assert dominated.extra["device_name"] == "CPU (1 thread)"  # (the fixture runs single-threaded)
    assert dominated.extra["footer"][0].startswith("measured on CPU (1 thread), float32:")


def test_time_by_bound_is_left_out_of_the_footer_where_no_peak_is_known():
    """Without peaks (a CPU without ceiling=True) every row's bound is 'unknown': the footer's peak
    line says so, and a 'time by bound: unknown 100%' line would say nothing more."""
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU())
    r = torchcount.profile(model, torch.randn(2, 8), measure=True, warmup=1, repeat=1)
    assert r.extra["time_by_bound"] == {"unknown": pytest.approx(100.0)}
    assert not [line for line in r.extra["footer"] if line.startswith("time by bound")]


# ---- the arithmetic of a measured report, on times given by hand (measure._fill) ---------------------
#: a device of 1 GFLOP/s and 0.1 GB/s: ridge point 10 FLOP/B
SLOW = Peaks("a slow test device", fp32=1e9, tf32=None, bf16=None, fp16=None, bandwidth=1e8, kind="datasheet")


def _filled(model, x, inclusive, peaks=SLOW, floor_ns=None, plain=None, faults=None, fault_ns=None, timed_faults=()):
    """``model`` counted on ``x``, then measure._fill on hand-given times: ``inclusive[path]`` is its
    inclusive ns in each timed pass (None: not called in that pass); a path's exclusive time is its
    inclusive less its children's, the forward's wall time the root's, a pass's leaf time the Σ of the
    leaves'. No clock runs: every figure follows from these numbers. ``faults``: per path [whole, own] page
    faults of the floor-probing pass, ``fault_ns`` the price of one, ``timed_faults`` those of each timed pass."""
    from torchcount.measure import _fill
    from torchcount.measure.timing import PassTiming

    report = torchcount.profile(model, x)
    passes = []
    for i in range(len(inclusive[""])):
        inc = {p: v[i] for p, v in inclusive.items() if v[i] is not None}
        children = {p: [c for c in inc if c != p and (c.rpartition(".")[0] == p if p else "." not in c)] for p in inc}
        exc = {p: inc[p] - sum(inc[c] for c in children[p]) for p in inc}
        leaves = sum(inc[p] for p in inc if p and not children[p])
        passes.append(PassTiming(inc, exc, inc[""], leaves, inc[""]))
    memory = {"kind": "cpu", "peak_rss": 1 << 20, "rss_before": 0, "peak_rss_reset": True}
    _fill(report, model, torch.device("cpu"), torch.float32, peaks, plain or [p.wall_ns for p in passes], passes, {},
          memory, None, 1, len(passes), {}, floor_ns, {}, faults or {}, fault_ns, list(timed_faults), [])
    return report


def test_measured_rates_shares_and_bounds_follow_from_the_times_by_hand():
    """Linear(4, 8) then ReLU on a (2, 4) input: the Linear 2·64 + 16 = 144 FLOPs over (8 + 32 + 8) · 4 read
    + 16 · 4 written = 256 bytes, the ReLU 16 FLOPs over 128 bytes. Four passes (an even count: a median
    is the mean of the middle two), a per-call floor of 0.5 µs; every column by hand."""
    r = _filled(nn.Sequential(nn.Linear(4, 8), nn.ReLU()), torch.randn(2, 4),
                {"": [30000, 29000, 32000, 31000], "0": [4000, 3000, 5000, 4500], "1": [20000, 21000, 19000, 22000]},
                floor_ns=500, plain=[25000, 26000, 24000, 27000])
    lin, relu, root = r.row("0"), r.row("1"), r.root
    # medians: (4000 + 4500) / 2, (20000 + 21000) / 2, (30000 + 31000) / 2; the root's own 30500 − 4250 − 20500
    assert lin.extra["time_ms"] == pytest.approx(4.25e-3) and relu.extra["time_ms"] == pytest.approx(20.5e-3)
    assert root.extra["time_ms"] == r.extra["time_ms"] == pytest.approx(30.5e-3)
    assert root.self_extra["time_ms"] == pytest.approx(5.5e-3)  # the median of its own 6000, 5000, 8000, 4500
    d = details(r, "0")  # quartiles, 'inclusive' method: 3000 + 0.75 · 1000 and 4500 + 0.25 · 500
    assert (d["inclusive_q1_ms"], d["inclusive_q3_ms"]) == (pytest.approx(3.75e-3), pytest.approx(4.625e-3))
    assert lin.extra["spread_ms"] == pytest.approx(0.875e-3)
    # achieved FLOP/s = FLOPs ÷ seconds; share of peak = achieved ÷ 1 GFLOP/s; intensity = FLOPs ÷ bytes
    assert d["flops_per_s"] == pytest.approx(144 / 4.25e-6) and d["bytes_per_s"] == pytest.approx(256 / 4.25e-6)
    assert lin.extra["GFLOP/s"] == pytest.approx(144 / 4.25e-6 / 1e9)
    assert lin.extra["%peak"] == pytest.approx(100 * 144 / 4.25e-6 / 1e9)
    assert lin.extra["AI"] == pytest.approx(144 / 256) and relu.extra["AI"] == pytest.approx(16 / 128)
    assert relu.extra["GFLOP/s"] == pytest.approx(16 / 20.5e-6 / 1e9)
    assert root.extra["GFLOP/s"] == pytest.approx(160 / 30.5e-6 / 1e9) and root.extra["AI"] == pytest.approx(160 / 384)
    # bounds: the Linear's memory time 256 B ÷ 0.1 GB/s = 2.56 µs is above a tenth of its 4.25 µs, and its
    # intensity below the ridge (10): memory; the ReLU's 1.28 µs is 6.2 % of its 20.5 µs, its one call's
    # floor 0.5 µs 2.4 % (below 5 %) and less than its roofline time: latency; the root's own 5.5 µs has
    # no work and one call's floor, 9.1 % of it: overhead; its whole 3.84 µs of traffic is 12.6 %: memory
    assert (lin.extra["bound"], relu.extra["bound"], root.self_extra["bound"], root.extra["bound"]) == \
        ("memory", "latency", "overhead", "memory")
    # the root's calls' fixed cost: its own call and its two layers' (3 floors)
    assert details(r, "")["fixed_ms"] == pytest.approx(3 * 0.5e-3) and d["fixed_ms"] == pytest.approx(0.5e-3)
    # time% of the forward; time by bound: each row's own time over the forward's
    assert lin.extra["time%"] == pytest.approx(100 * 4.25 / 30.5) and relu.extra["time%"] == pytest.approx(100 * 20.5 / 30.5)
    assert root.self_extra["time%"] == pytest.approx(100 * 5.5 / 30.5)
    assert r.extra["time_by_bound"] == {"latency": pytest.approx(100 * 20.5 / 30.5),
                                        "overhead": pytest.approx(100 * 5.5 / 30.5),
                                        "memory": pytest.approx(100 * 4.25 / 30.5)}
    assert list(r.extra["time_by_bound"]) == ["latency", "overhead", "memory"]  # most time first
    # coverage: the leaves' 24000, 24000, 24000, 26500 (median 24000) over the forward's 30500; overhead: the
    # stamped forward's 30500 over the plain one's median 25500
    assert r.extra["time_coverage"] == pytest.approx(24000 / 30500)
    assert r.extra["overhead"] == pytest.approx(30500 / 25500)
    assert r.extra["plain_ms"] == pytest.approx(25.5e-3) and r.extra["leaf_ms"] == pytest.approx(24e-3)
    # the overhead-bound rows' time: the root's own part, one call's floor 0.5 µs of the 30.5 µs forward; no
    # page fault was priced (no fault_ns, as on a GPU), so no share of faults at all, not 0 %
    assert r.extra["overhead_call%"] == pytest.approx(100 * 0.5 / 30.5) and r.extra["overhead_fault%"] is None
    assert "peaks (datasheet): a slow test device, FP32 0.001 TFLOP/s, 0.1 GB/s — " in r.extra["footer"]
    # time share ≫ FLOPs share: the ReLU 67.2 % of the time for 16 of 160 FLOPs, the root's own part 18.0 % for none
    assert [(t["path"], round(t["time_share"], 1), t["flops_share"]) for t in r.extra["time_vs_flops"]] == \
        [("1", 67.2, 10.0), ("(root)", 18.0, 0.0)]
    assert "0.0339 GFLOP/s, 3.39% of its peak 1 GFLOP/s (float32); 0.0602 GB/s over 256 bytes; intensity 0.562 FLOP/B" \
        in r.explain("0")
    assert "  own part (the '(root) (self)' row): 0.0055 ms; bound: overhead — roofline time 0 µs is 0.0% of the " \
           "measured 5.5 µs; its calls' fixed cost 0.5 µs is 9.1%" in r.explain("")
    assert "(a measured ceiling" not in details(r, "0")["why"]  # (datasheet peaks)


def test_a_row_called_in_some_passes_shows_its_mean_by_hand():
    """The ReLU called in passes 1 and 3 of 4: its time is the mean over all four, (20001 + 19002) / 4 ns,
    not rounded to whole nanoseconds; its rates are of the median of the passes that ran it (19501.5 ns)."""
    r = _filled(nn.Sequential(nn.Linear(4, 8), nn.ReLU()), torch.randn(2, 4),
                {"": [30000, 9000, 32000, 11000], "0": [4000, 3000, 5000, 4500], "1": [20001, None, 19002, None]},
                floor_ns=500)
    relu = r.row("1")
    assert relu.extra["time_ms"] == pytest.approx((20001 + 19002) / 4 / 1e6, rel=1e-12)
    assert relu.self_extra["time_ms"] == pytest.approx((20001 + 19002) / 4 / 1e6, rel=1e-12)  # (0 where not called)
    assert details(r, "1")["called_inclusive_ms"] == pytest.approx(19501.5e-6, rel=1e-12)
    assert relu.extra["GFLOP/s"] == pytest.approx(16 / 19501.5e-9 / 1e9)
    assert r.extra["time_ms"] == pytest.approx((30000 + 9000 + 32000 + 11000) / 4 / 1e6, rel=1e-12)
    assert relu.extra["time%"] == pytest.approx(100 * (20001 + 19002) / (30000 + 9000 + 32000 + 11000))


def _faulting(timed_faults):
    """Linear(4, 8) then ReLU timed over 300 µs (medians: the Linear 42.5 µs, the ReLU 205 µs, the forward
    305 µs), a per-call floor of 2 µs, a page fault priced at 1 µs; in the floor-probing pass the ReLU took
    180 faults, the forward no others."""
    return _filled(nn.Sequential(nn.Linear(4, 8), nn.ReLU()), torch.randn(2, 4),
                   {"": [300000, 290000, 320000, 310000], "0": [40000, 30000, 50000, 45000],
                    "1": [200000, 210000, 190000, 220000]},
                   floor_ns=2000, faults={"": [180, 0], "0": [0, 0], "1": [180, 180]}, fault_ns=1000,
                   timed_faults=timed_faults)


def test_page_faults_priced_into_a_rows_time_by_hand():
    """The ReLU's 180 faults at 1 µs: 180 µs of its 205 µs. Its time besides them, 25 µs, holds one call's
    floor (2 µs, 8 %, above 5 %) and more than ten times its roofline time (1.28 µs): overhead, the faults
    named. The timed forwards took 360 faults each, more than the probing pass's 180: the price stays that
    of the 180 (a row's faults are never priced above its own count), and the explain does not call it held."""
    r = _faulting([360, 360, 360, 360])
    relu = details(r, "1")
    assert relu["page_faults"] == 180 and relu["fault_ms"] == pytest.approx(0.18)
    assert relu["fixed_ms"] == pytest.approx(0.18 + 2e-3)  # the faults and the call's floor
    assert details(r, "")["fault_ms"] == pytest.approx(0.18)  # the forward's: all its calls' faults, not its own 0
    assert relu["bound"] == "overhead" and "page faults take about 180 µs of its 205 µs (88%)" in relu["why"]
    # the faults in the overhead rows' own time: the ReLU's 180 µs of the forward's 305 µs; their calls'
    # floors: the ReLU's and the root's own call's (no work of its own in its 57.5 µs), 2 µs each
    assert r.root.self_extra["bound"] == "overhead" and r.row("0").extra["bound"] == "latency"
    assert r.extra["overhead_fault%"] == pytest.approx(100 * 180 / 305)
    assert r.extra["overhead_call%"] == pytest.approx(100 * 4 / 305)
    assert r.extra["page_faults"] == 360 and r.extra["page_faults_probed"] == 180
    text = r.explain("1")
    assert "page faults: 180 in its calls of one forward (the floor-probing pass's), priced at about 0.18 ms " \
           "(1 µs a fault)" in text


def test_page_faults_the_timed_passes_did_not_take_are_priced_at_their_share_by_hand():
    """The timed forwards took 90 faults each, half the probing pass's 180: each row's faults are priced
    at that share, the ReLU's 180 at 90 µs, and the explain says the price is held."""
    r = _faulting([90, 90, 90, 90])
    relu = details(r, "1")
    assert relu["page_faults"] == 180 and relu["fault_ms"] == pytest.approx(0.09)
    assert "held to what the timed passes took" in r.explain("1")
    assert r.extra["page_faults"] == 90


def test_energy_footer_line_by_hand():
    """The footer's energy line on a measured loop's figures (3 J in 4 passes over 2.5 s): 0.75 J a forward,
    1 W (1.2, no decimals), CO₂e 0.75 / 3.6e6 · 480 g = 0.1 mg."""
    from torchcount.measure import _footer
    from torchcount.measure.energy import _measured

    r = _filled(nn.Sequential(nn.Linear(4, 8), nn.ReLU()), torch.randn(2, 4),
                {"": [30000, 29000, 32000, 31000], "0": [4000, 3000, 5000, 4500], "1": [20000, 21000, 19000, 22000]})
    lines = _footer({**r.extra, "energy": _measured("a counter", 3.0, 4, 2.5, 480.0)}, SLOW)
    assert "energy: 0.75 J per forward (a counter, 4 passes in 2.50 s, 1 W); CO₂e 0.1 mg per forward at 480 g/kWh" \
        in lines


class _Mixed(nn.Module):
    """Its own matmul in float64 (its first output), two float32 Linears beside it."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(8, 4), nn.Linear(8, 4)
        self.register_buffer("w", torch.randn(8, 8, dtype=torch.float64))

    def forward(self, x):
        return x.double() @ self.w, self.a(x), self.b(x)


def test_the_dtype_most_flops_ran_in_sums_every_row_once():
    """The model's dtype (its footer's, its ceiling's first) is the one most of its counted FLOPs ran in:
    the root's own float64 matmul 2 · 4·8·8 = 512 FLOPs, the two float32 Linears 2 · 4·8·4 + 16 = 272 each,
    544 together: float32. (The root, a row of its own here, is counted once.)"""
    from torchcount.measure import _compute_dtypes

    model = _Mixed()
    r = torchcount.profile(model, torch.randn(4, 8))
    assert [_FLOPS.ops(row.self_cost) for row in (r.root, r.row("a"), r.row("b"))] == [512, 272, 272]
    found, dtype = _compute_dtypes(r, model)
    assert found == {"": torch.float64, "a": torch.float32, "b": torch.float32} and dtype == torch.float32


def test_a_rows_parameter_memory_holds_its_buffers():
    """BatchNorm1d(8): weight and bias 2 · 8 · 4 = 64 bytes, running mean and variance 2 · 8 · 4 and the
    int64 batch count 8: 72 bytes of buffers; its param_MiB column is both, 136 bytes."""
    r = _filled(nn.Sequential(nn.BatchNorm1d(8)), torch.randn(4, 8), {"": [3000, 3100, 2900], "0": [2000, 2100, 1900]})
    d = details(r, "0")
    assert (d["param_bytes"], d["buffer_bytes"]) == (64, 72)
    assert r.row("0").extra["param_MiB"] == 136 / 2 ** 20


def test_the_footer_blames_calls_below_a_tenth_of_the_overhead_rows_time_not_at_it():
    """The 'mostly overhead' line says the calls are only a small part of the overhead rows' time where
    their floors are under a tenth of it: 4.9 % of the forward in rows taking 50 % is, 5 % is not."""
    from torchcount.measure import _footer

    r = _filled(nn.Sequential(nn.Linear(4, 8), nn.ReLU()), torch.randn(2, 4),
                {"": [30000, 29000, 32000, 31000], "0": [4000, 3000, 5000, 4500], "1": [20000, 21000, 19000, 22000]})

    def line(call_share):
        extra = {**r.extra, "time_by_bound": {"overhead": 50.0, "memory": 50.0}, "overhead_call%": call_share}
        return next(text for text in _footer(extra, SLOW) if text.startswith("time by bound"))
    assert "though the overhead rows' calls (a module call's floor each) are only about 4.9%" in line(4.9)
    assert "mostly overhead: Python and dispatch outweigh the arithmetic and the traffic" in line(5.0)


class _Eig(nn.Module):
    """x xᵀ (counted), then its eigenvalues (no formula: uncounted)."""

    def forward(self, x):
        return torch.linalg.eigvalsh(x @ x.T)


@pytest.mark.filterwarnings("ignore::torchcount.UncountedWarning")
def test_time_that_holds_uncounted_work_has_no_fixed_cost_by_hand():
    """A row that ran work no formula counts (†), and every row above it, get no per-call floor: their time
    may be that work's. The Linear beside it keeps its 0.5 µs. The footer gives the † rows' own time, 75 µs
    (the median of 60, 70, 80 and 90), and its share of the forward's 115 µs."""
    r = _filled(nn.Sequential(nn.Linear(4, 4), _Eig()), torch.randn(4, 4),
                {"": [100000, 110000, 120000, 130000], "0": [2000] * 4, "1": [60000, 70000, 80000, 90000]}, floor_ns=500)
    assert r.row("1").status == "partial"
    assert details(r, "1")["fixed_ms"] is None and details(r, "")["fixed_ms"] is None
    # (nor its own part: its reason quotes no fixed cost)
    assert details(r, "1")["own_bound"] == "overhead" and "fixed cost" not in details(r, "1")["own_why"]
    assert details(r, "0")["fixed_ms"] == pytest.approx(0.5e-3)
    assert r.extra["uncounted_ms"] == pytest.approx(0.075) and r.extra["uncounted_time_share"] == pytest.approx(75 / 115)
    assert "rows with uncounted work (†): 0.075 ms of their own time, 65.2% of the measured forward (an upper bound " \
           "on what has no formula)" in r.extra["footer"]
    assert r.extra["overhead_call%"] is None  # (the overhead rows' time may be the uncounted work's)
    # time share ≫ FLOPs share, the widest gap first: the root's own 38 µs for no FLOPs, then the row's 75 µs
    # for its x xᵀ, 2 · 64 = 128 FLOPs of the 128 + 144 (the Linear's)
    assert [(t["path"], round(t["time_share"], 2), round(t["flops_share"], 2)) for t in r.extra["time_vs_flops"]] == \
        [("(root)", round(100 * 38 / 115, 2), 0.0), ("1", round(100 * 75 / 115, 2), round(100 * 128 / 272, 2))]


def test_a_rate_above_a_measured_ceiling_says_the_true_peak_may_be_higher():
    """With a measured ceiling as the peaks, a row above it is invalid and its reason says the device's true
    peak may be higher; a row within it says nothing of the kind. The Linear's 144 FLOPs in 0.1 µs: 1.44
    GFLOP/s against a ceiling of 1 GFLOP/s; the ReLU's 16 in 20.5 µs: within."""
    from dataclasses import replace

    ceiling = replace(SLOW, bandwidth=1e13, kind="measured")
    r = _filled(nn.Sequential(nn.Linear(4, 8), nn.ReLU()), torch.randn(2, 4),
                {"": [30000, 29000, 32000, 31000], "0": [100] * 4, "1": [20000, 21000, 19000, 22000]}, peaks=ceiling)
    assert details(r, "0")["bound"] == "invalid"
    assert details(r, "0")["why"] == ("0.00144 TFLOP/s is above the peak 0.001 TFLOP/s (a measured ceiling: the "
                                      "device's true peak may be higher)")
    assert "measured ceiling" not in details(r, "1")["why"]


def test_the_tf32_peak_is_quoted_for_a_float32_model_only(monkeypatch):
    """The footer quotes the TF32 peak float32 contractions are rated against on a GPU whose switches are
    on (an H100 SXM: 494.7 TFLOP/s), and nothing for a bfloat16 model (its own peak applies) or on a CPU."""
    from torchcount.measure import _tf32_part
    import torchcount.measure as M

    monkeypatch.setattr(M, "uses_tf32", lambda device, conv=False, rnn=False: True)
    h100 = GPU_PEAKS["H100 SXM"]
    assert _tf32_part({"device": "cuda:0"}, h100, "FP32") == \
        " (float32 convolutions, recurrent layers, matmuls: TF32, on, 495 TFLOP/s)"
    assert _tf32_part({"device": "cuda:0"}, h100, "BF16") == ""
    assert _tf32_part({"device": "cpu"}, h100, "FP32") == ""


def test_no_page_fault_figures_without_a_price_of_one():
    """Where no fault could be priced (fault_ns None), the timed passes' fault counts are not given either."""
    r = _filled(nn.Sequential(nn.Linear(4, 8), nn.ReLU()), torch.randn(2, 4),
                {"": [30000, 29000, 32000, 31000], "0": [4000, 3000, 5000, 4500], "1": [20000, 21000, 19000, 22000]},
                timed_faults=[100] * 4)
    assert r.extra["page_faults"] is None and r.extra["page_faults_range"] is None
    assert details(r, "0")["page_faults"] is None and details(r, "0")["fault_ms"] is None


def test_a_peak_of_a_teraflop_or_more_is_quoted_in_tflop_per_s():
    """explain quotes a row's peak in TFLOP/s from 1 TFLOP/s on, in GFLOP/s below it."""
    from dataclasses import replace

    r = _filled(nn.Sequential(nn.Linear(4, 8), nn.ReLU()), torch.randn(2, 4),
                {"": [30000, 29000, 32000, 31000], "0": [4000, 3000, 5000, 4500], "1": [20000, 21000, 19000, 22000]},
                peaks=replace(SLOW, fp32=1e12))
    assert "of its peak 1 TFLOP/s (float32)" in r.explain("0")


def test_why_a_row_has_no_bound_names_the_ceiling_only_where_none_was_measured():
    """A float16 row on a device with no float16 peak: the reason suggests measuring a ceiling unless the peaks
    are a measured one already; a float64 one gets no such hint (no ceiling is measured for it)."""
    from dataclasses import replace

    from torchcount.measure import _unrated

    hint = "; ceiling=True (CLI: --ceiling) measures one"
    assert _unrated(torch.float16, None, SLOW).endswith(hint)
    assert not _unrated(torch.float16, None, replace(SLOW, kind="measured")).endswith(hint)
    assert not _unrated(torch.float64, None, SLOW).endswith(hint)
    assert _unrated(torch.float32, 1e9, SLOW).startswith("a row below it computes in a dtype with no rated peak")


def test_the_ceiling_kernels_rates_by_hand():
    """The ceiling's FLOP/s: a square n×n matmul 2n³ FLOPs, the 3×3 convolution (on a CPU 8 × 128 channels
    × 28²) 2·8·128²·9·28², each over the time the timer gives (a fake one: 0.3 s a kernel)."""
    from torchcount.measure.ceiling import _rates

    mm, conv = _rates(torch.device("cpu"), torch.float32, 16, 2, lambda fn: (fn(), 0.3)[1])
    assert mm == pytest.approx(8192 / 0.3)  # 27,306.7 FLOP/s
    assert conv == pytest.approx(2 * 8 * 128 * 128 * 9 * 28 * 28 / 0.3)


def test_energy_figures_of_a_measured_loop_by_hand():
    """3 J over 4 passes in 2.5 s: 0.75 J a pass, 1.2 W; CO₂e 0.75 J ÷ 3.6 MJ/kWh × 480 g/kWh = 0.1 mg."""
    from torchcount.measure.energy import _measured

    got = _measured("a counter", 3.0, 4, 2.5, 480.0)
    assert got["J_per_forward"] == 0.75 and got["watts"] == pytest.approx(1.2)
    assert got["CO2e_g_per_forward"] == pytest.approx(1e-4)
    assert (got["passes"], got["seconds"], got["joules"]) == (4, 2.5, 3.0)


def test_the_energy_loop_runs_one_pass_then_as_many_as_the_rest_of_the_time_takes(monkeypatch):
    """A fake clock, 0.125 s a pass, and an estimate of 2 s a pass: one pass first (not 0, not 2), then
    ⌈1 · (1 − 0.125) / 0.125⌉ = 7 more before the clock is read again: 8 passes in 1 s, two synchronisations."""
    from torchcount.measure import energy as E

    clock, events = [100.0], []  # (a clock that does not start at 0: elapsed is from the loop's start)
    monkeypatch.setattr(E.time, "perf_counter", lambda: clock[0])

    def run_once():
        clock[0] += 0.125
        events.append("run")

    assert E._run_for(run_once, lambda: events.append("sync"), 2.0, 1.0) == (8, 1.0)
    assert events == ["run", "sync"] + ["run"] * 7 + ["sync"]
    # an estimate of 0.4 s: ⌈1 / 0.4⌉ = 3 passes, then ⌈3 · 0.625 / 0.375⌉ = 5
    clock[0], events[:] = 100.0, []
    assert E._run_for(run_once, lambda: events.append("sync"), 0.4, 1.0) == (8, 1.0)
    assert events == ["run"] * 3 + ["sync"] + ["run"] * 5 + ["sync"]
    # an estimate of 0.15 s: ⌈1 / 0.15⌉ = 7 passes, then the one more ⌈7 · 0.125 / 0.875⌉ = 1 needs
    clock[0], events[:] = 100.0, []
    assert E._run_for(run_once, lambda: events.append("sync"), 0.15, 1.0) == (8, 1.0)
    assert events == ["run"] * 7 + ["sync", "run", "sync"]


def test_energy_by_layer_figures_and_footer_by_hand():
    """Each replayed layer's energy per forward is its J a call × its calls × 1000 (mJ); together they are a
    share of the forward's energy measured whole. The footer names the three with the most, "…" after a
    fourth; the layers called with other input shapes too, those not replayable and those not measured
    likewise three at most."""
    from torchcount.measure import _fill_layer_energy

    model = nn.Sequential(*(nn.Linear(4, 4) for _ in range(8)))
    r = torchcount.profile(model, torch.randn(2, 4))
    r.extra.update(footer=[], energy={"status": "measured", "J_per_forward": 0.03})
    measured = {str(i): {"status": "measured", "J_per_call": j} for i, j in enumerate((1e-3, 4e-3, 2e-3))}
    _fill_layer_energy(r, measured, 0.5)
    assert [r.row(str(i)).extra["energy_mJ"] for i in range(3)] == [pytest.approx(1), pytest.approx(4), pytest.approx(2)]
    summary = r.extra["energy_layers"]
    assert summary["mJ_per_forward"] == pytest.approx(7) and summary["share_of_forward%"] == pytest.approx(100 * 7 / 30)
    line = r.extra["footer"][-1]
    assert line.startswith("energy by layer (3 with the most time, each replayed alone on a copy of its inputs for "
                           "≥ 0.5 s; column energy_mJ, per forward): 1 4 mJ, 2 2 mJ, 0 1 mJ; together 7 mJ, 23% of")
    r.extra["footer"] = []
    four = {**measured, "3": {"status": "measured", "J_per_call": 0.5e-3}}
    for path in ("0", "1", "2"):
        four[path]["input_shapes_differ"] = 2
    failed = {str(i): {"status": "failed", "why": "a reason"} for i in range(4, 8)}
    _fill_layer_energy(r, {**four, **failed}, 0.5)
    line = r.extra["footer"][-1]
    assert "per forward): 1 4 mJ, 2 2 mJ, 0 1 mJ, …; together 7.5 mJ" in line
    assert "; 0, 1, 2 called with other input shapes too" in line
    assert line.endswith("; not replayable: 4, 5, 6 … (a reason)")


def test_a_measured_ceiling_by_hand(monkeypatch):
    """measure_ceiling with its kernels' rates given (20 and 30 GFLOP/s) and a timer that says 0.25 s a copy:
    the compute peak is the faster kernel's, the bandwidth 2 × 1 MiB (read and written) ÷ 0.25 s, and the
    source quotes each figure."""
    from torchcount.measure import ceiling

    monkeypatch.setattr(ceiling, "_compute_rates", lambda device, dtype, n, repeat, timed: (2e10, 3e10))
    monkeypatch.setattr(ceiling, "_timer", lambda device: lambda fn: (fn(), 0.25)[1])
    got = ceiling.measure_ceiling(torch.device("cpu"), torch.float32, copy_bytes=1 << 20, repeat=2)
    assert got.fp32 == got.tf32 == 3e10 and got.bf16 is None and got.kind == "measured"
    assert got.bandwidth == 2 * (1 << 20) / 0.25
    assert got.source == ("measured here: 1024×1024 float32 matmul 20 GFLOP/s, 3×3 conv 30 GFLOP/s, "
                          "1 MiB copy 0.00839 GB/s")


class _Faults(nn.Module):
    """Takes ``n`` page faults on a counter (``count``) standing for the process's."""

    def __init__(self, count: list, n: int):
        super().__init__()
        self.count, self.n = count, n

    def forward(self, x):
        self.count[0] += self.n
        return x


def test_the_probing_pass_counts_each_calls_page_faults_whole_and_own(monkeypatch):
    """The probing pass reads the process's page faults around every module call: a call's whole count,
    and its own, less those of the module calls inside it. A counter standing for the process's: 5 faults
    in '0', 7 and 11 in the two layers of '1', none outside them; the probes take none."""
    from torchcount.measure import timing

    count = [0]
    monkeypatch.setattr(timing, "page_faults", lambda: count[0])
    model = nn.Sequential(_Faults(count, 5), nn.Sequential(_Faults(count, 7), _Faults(count, 11)))
    with timing.floor_probes(model, timing.make_clock(torch.device("cpu")), torch.zeros(1), count_faults=True) as seen:
        model(torch.zeros(1))
    assert seen.faults == {"": [23, 0], "0": [5, 5], "1": [18, 0], "1.0": [7, 7], "1.1": [11, 11]}
    assert len(seen.spans) == 5 * 4  # ⌈16 / 5 modules⌉ probes after each call
    # without count_faults (a GPU's pass: its kernels' time holds no page faults) none are read or kept,
    # though the counter says some
    count[0] = 0
    with timing.floor_probes(model, timing.make_clock(torch.device("cpu")), torch.zeros(1)) as seen:
        model(torch.zeros(1))
    assert count[0] == 23 and seen.faults == {} and len(seen.spans) == 5 * 4


def test_the_price_of_a_page_fault_is_the_median_of_the_probes_that_took_some(monkeypatch):
    """Each probe: (faults, ns lost against the mapped fill). A probe that took none says nothing; the
    rest cost 1, 2, 4 and 8 µs a fault: the median of four is the mean of the middle two, 3 µs. One fault
    is a count too: with a probe of one fault at 2.5 µs, the median of five is 2.5 µs."""
    from torchcount.measure import timing

    probes = iter([(100, 100_000), (0, 0), (100, 200_000), (100, 400_000), (100, 800_000)])
    monkeypatch.setattr(timing, "page_faults", lambda: 0)
    monkeypatch.setattr(timing, "_fault_probe", lambda: next(probes))
    assert timing.fault_cost_ns(repeat=5) == 3000
    probes = iter([(100, 100_000), (1, 2_500), (100, 200_000), (100, 400_000), (100, 800_000)])
    assert timing.fault_cost_ns(repeat=5) == 2500
    # a probe whose second fill was the slower costs 0, never less: two of three such, a median of 0, is
    # no price (the probes could not tell fresh memory from mapped), not a negative one
    probes = iter([(100, -50_000), (100, -10_000), (100, 300_000)])
    assert timing.fault_cost_ns(repeat=3) is None


class _LinTwice(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin, self.unused = nn.Linear(4, 4), nn.Linear(4, 4)

    def forward(self, x):
        return self.lin(self.lin(x))


class _Priced(nn.Module):
    """A block a rule of its own prices whole: its Linear is 'covered'."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x)


def test_the_layers_replayed_for_energy_are_those_with_the_most_time_by_hand():
    """energy_layers=N replays the N rows with the most time per forward (the median of the passes') that a
    call of their own can repeat: a rule's row or a leaf, not a container (its own time is the Python
    between its children), a row a rule covers, or one never called. Each comes with its seconds per call."""
    from torchcount.cost import Cost, Term
    from torchcount.measure import _most_time
    from torchcount.measure.timing import PassTiming
    from torchcount.rules import registry

    @torchcount.module_rule(_Priced)
    def priced(m, call):
        return Cost.of(Term("macs", "one linear", "rows·16", 32, 32))

    model = nn.Sequential(nn.Linear(4, 4), _LinTwice(), _Priced())
    try:
        r = torchcount.profile(model, torch.randn(2, 4))
    finally:
        registry._MODULE_RULES.pop(_Priced, None)
        registry._lookup_cache.pop(_Priced, None)
    assert [(row.path, row.status) for row in r.layers] == [
        ("0", "rule"), ("1", "container"), ("1.unused", "not called"), ("1.lin", "rule"), ("2", "rule"),
        ("2.fc", "covered")]
    times = [{"": 300_000, "0": 30_000, "1": 80_000, "1.lin": 50_000, "2": 40_000, "2.fc": 39_000},
             {"": 290_000, "0": 20_000, "1": 90_000, "1.lin": 60_000, "2": 45_000, "2.fc": 44_000},
             {"": 310_000, "0": 25_000, "1": 70_000, "1.lin": 70_000, "2": 35_000, "2.fc": 34_000},
             {"": 305_000, "0": 22_000, "1": 60_000, "1.lin": 40_000, "2": 50_000, "2.fc": 49_000}]
    passes = [PassTiming(t, t, t[""], 0, t[""]) for t in times]
    paths = {path for path, _ in model.named_modules()}
    # medians per forward (of four: the middle two's mean): 1.lin 55 µs in its 2 calls (27.5 µs a call), 2 42.5 µs,
    # 0 23.5 µs
    assert _most_time(r, passes, 5, paths) == [("1.lin", pytest.approx(27.5e-6)), ("2", pytest.approx(42.5e-6)),
                                               ("0", pytest.approx(23.5e-6))]
    assert [path for path, _ in _most_time(r, passes, 2, paths)] == ["1.lin", "2"]
    # a row with no module the passes ran (a graph's layer) has nothing to call
    assert [path for path, _ in _most_time(r, passes, 5, paths - {"2"})] == ["1.lin", "0"]


def test_a_grid_intensity_of_zero_is_allowed():
    """A grid with no emissions (0 g/kWh) is a grid; below 0 is an error."""
    assert measure_energy(lambda: None, torch.device("meta"), 1e-3, grid_intensity=0.0)["status"] == "unavailable"
    with pytest.raises(ValueError, match="grid_intensity"):
        measure_energy(lambda: None, torch.device("meta"), 1e-3, grid_intensity=-1.0)


def test_peak_tracker_folds_a_peak_into_the_innermost_open_call():
    """Three levels: the root, A, and A's child A.1. A reaches 200 before A.1 starts (which resets the
    allocator's peak): that peak is A's, and so its parent's; A.1 saw only 60."""
    state = {"cur": 0, "peak": 0}

    def alloc(n):
        state["cur"] += n
        state["peak"] = max(state["peak"], state["cur"])

    t = PeakTracker(lambda: state["cur"], lambda: state["peak"], lambda: state.update(peak=state["cur"]))
    t.enter()             # root, 0 allocated
    alloc(10)
    t.enter()             # A at 10
    alloc(190)            # 200
    alloc(-150)           # 50
    t.enter()             # A.1 at 50
    alloc(10)             # 60
    assert t.exit() == (50, 60)
    assert t.exit() == (10, 200)
    assert t.exit() == (0, 200)
    # the root reaches 500 before A starts, A only 30: A's peak is its own 30, not the root's 500
    state.update(cur=0, peak=0)
    t.enter()             # root
    alloc(500)
    alloc(-490)           # 10
    t.enter()             # A at 10
    alloc(20)             # 30
    t.enter()             # A.1 at 30
    assert t.exit() == (30, 30)
    assert t.exit() == (10, 30)
    assert t.exit() == (0, 500)
    # four levels: A.1 reaches 100 before its child A.1.a resets the allocator's peak, so the peak A.1
    # returns (100) must reach A through A.1's exit: the allocator's own peak is A.1.a's 5 by then
    state.update(cur=0, peak=0)
    t.enter()             # root
    t.enter()             # A
    t.enter()             # A.1
    alloc(100)
    alloc(-100)
    t.enter()             # A.1.a
    alloc(5)
    alloc(-5)
    assert t.exit() == (0, 5)
    assert t.exit() == (0, 100)
    assert t.exit() == (0, 100)
    assert t.exit() == (0, 100)
    # three children of A in turn: the first's 100 stays A's though the next two reset the allocator's peak
    state.update(cur=0, peak=0)
    t.enter()             # A
    for n in (100, 5, 5):
        t.enter()
        alloc(n)
        alloc(-n)
        assert t.exit() == (0, n)
    assert t.exit() == (0, 100)


def test_measured_cells_print_as_the_table_shows_them():
    """A measured cell: a float to 3 significant digits below 999.5 and whole, grouped, from there (999.5
    rounds to 1,000, not "1e+03"); a count grouped; a percentage column with its "%"; a rate cell of an
    invalid row "invalid", any other cell of it as it is."""
    from torchcount.report import _extra, _extra_cell

    assert [_extra(v) for v in (0.0339, 999.4, 999.5, 1009.0, 278000.0)] == ["0.0339", "999", "1,000", "1,009", "278,000"]
    assert [_extra(v) for v in (1234, True, None, "memory")] == ["1,234", "True", "", "memory"]
    assert _extra_cell({"time%": 12.34}, "time%") == "12.3%" and _extra_cell({"time_ms": 12.34}, "time_ms") == "12.3"
    invalid = {"GFLOP/s": None, "%peak": None, "AI": None, "bound": "invalid"}
    assert [_extra_cell(invalid, c) for c in ("GFLOP/s", "%peak", "AI", "bound")] == ["invalid", "invalid", "", "invalid"]
    assert _extra_cell({"GFLOP/s": None, "bound": "memory"}, "GFLOP/s") == ""


def test_the_cache_reason_gives_the_rate_and_the_peak_in_gb_per_s():
    """1e10 bytes in 5 ms: 2e12 B/s, 2,000 GB/s, above a 1 TB/s memory (1,000 GB/s); 2.5e9 bytes in 1 s:
    2.5 GB/s, above 1 GB/s (not whole GB/s)."""
    v = classify(1e6, 1e10, 0.005, 1e14, 1e12)
    assert v.bound == "cache" and v.why.startswith("2e+03 GB/s is above the memory's peak 1e+03 GB/s")
    v = classify(1e6, 2.5e9, 1.0, 1e14, 1e9)
    assert v.bound == "cache" and v.why.startswith("2.5 GB/s is above the memory's peak 1 GB/s")


def test_the_averaged_rows_note_names_three_rows_and_four_holders():
    """The footer line for rows called in only some passes names at most three of them, and four of the
    rows holding their time, each list with "…" where there are more."""
    from types import SimpleNamespace

    from torchcount.measure import _averaged_note

    rows = [SimpleNamespace(name=f"b{i}", path=f"b{i}") for i in range(4)]
    per_layer = {f"b{i}": {"passes_called": i + 1} for i in range(4)}
    note = _averaged_note(rows[:3], {"", "x", "y", "z"}, per_layer, 5)
    assert note.startswith("called in only some of the measured passes: 'b0' (1 of 5), 'b1' (2 of 5), 'b2' (3 of 5); ")
    assert "the rows holding it ('(root)', 'x', 'y', 'z'): " in note and "mean per pass over all 5 passes" in note
    note = _averaged_note(rows, {"", "w", "x", "y", "z"}, per_layer, 5)
    assert "'b2' (3 of 5) …; " in note and "'b3'" not in note
    assert "the rows holding it ('(root)', 'w', 'x', 'y' …): " in note


def test_peak_rss_without_proc_comes_from_getrusage_in_bytes(monkeypatch):
    """Where /proc/self/status cannot be read, the peak RSS is getrusage's ru_maxrss, which Linux gives
    in KiB: × 1024."""
    import resource
    import sys

    from torchcount.measure import memory

    def no_proc(path, *args, **kwargs):
        raise OSError(path)

    monkeypatch.setattr(memory, "open", no_proc, raising=False)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    got = memory.peak_rss_bytes()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    unit = 1 if sys.platform == "darwin" else 1024
    assert before * unit <= got <= after * unit and got % unit == 0


def test_a_rate_at_the_tolerance_above_a_peak_is_still_a_fact():
    """A rate up to 5 % above the peak is tolerated (boost clocks, timer resolution): exactly 105 % is
    compute-bound with its share of peak, just as bytes/s at 105 % of the bandwidth is not 'cache'."""
    from torchcount.measure.bound import ABOVE_PEAK_TOLERANCE

    v = classify(1e12 * ABOVE_PEAK_TOLERANCE, 1e6, 1.0, 1e12, 1e12)
    assert v.bound == "compute" and v.pct_peak == pytest.approx(105)
    v = classify(1e6, 1e12 * ABOVE_PEAK_TOLERANCE, 1.0, 1e14, 1e12)
    assert v.bound == "memory"


class _Fallback(nn.Module):
    """Calls its Linear (which has a forward hook of its own) inside an ``except`` block."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 8)
        self.lin.register_forward_hook(lambda module, args, output: None)

    def forward(self, x):
        try:
            raise ValueError("no fast path")
        except ValueError:
            return self.lin(x)


def test_a_hooked_layer_called_in_an_except_block_is_measured_as_any_other():
    """The exception being handled when a call starts is not one it raised: the Linear called in the except
    block returned its output, a new storage of 2 · 8 · 4 = 64 bytes, and it is timed."""
    r = torchcount.profile(_Fallback(), torch.randn(2, 4), measure=True, warmup=1, repeat=2)
    assert details(r, "lin")["act_bytes"] == 64 and details(r, "lin")["inclusive_ms"] > 0


def test_the_footer_prices_page_faults_at_exactly_the_forwards_time_as_a_share_of_it():
    """100 faults at 1 µs are 0.1 ms: of a 0.1 ms forward, all of it, which is still a price the forward
    holds (100 %), not one above it that the footer calls too high."""
    from torchcount.measure import _footer

    r = _filled(nn.Sequential(nn.Linear(4, 8), nn.ReLU()), torch.randn(2, 4),
                {"": [30000, 29000, 32000, 31000], "0": [4000, 3000, 5000, 4500], "1": [20000, 21000, 19000, 22000]})

    def line(root_ms):
        extra = {**r.extra, "page_faults": 100, "page_faults_probed": 100, "fault_cost_us": 1.0, "root_ms": root_ms}
        return next(text for text in _footer(extra, SLOW) if text.startswith("page faults: "))
    assert "page faults: 100 per forward (median of the timed passes), about 0.1 ms at 1 µs each (100% of the " \
           "forward)" in line(0.1)
    assert "about all of the forward's 0.099 ms (at the 1 µs a fault probed, 0.1 ms: more than the forward" in line(0.099)


def test_a_measured_report_prints_its_measured_columns():
    """print(report), Markdown and HTML show a measured report's times without being asked, as the
    command line's --measure and Jupyter did; a report profiled without measure=True keeps the
    counting columns. (They printed the counting columns only, the times reachable through
    columns='measured' alone.)"""
    from torchcount import export
    from torchcount.report import COLUMN_PRESETS, DEFAULT_COLUMNS

    model, x = nn.Sequential(nn.Linear(8, 8), nn.ReLU()), torch.randn(2, 8)
    counted = torchcount.profile(model, x)
    measured = torchcount.profile(model, x, measure=True, warmup=0, repeat=1)
    assert counted.default_columns() == DEFAULT_COLUMNS
    # the preset's columns no row fills are left out: on a CPU no per-layer peak memory (CUDA only), and
    # with no known peaks no %peak nor bound (every row's "unknown"; the footer says why)
    assert COLUMN_PRESETS["measured"][-4:] == ["%peak", "AI", "bound", "peak_MiB"]
    assert measured.default_columns() == [c for c in COLUMN_PRESETS["measured"] if c not in ("%peak", "bound", "peak_MiB")]
    assert str(measured) == measured.table(columns=measured.default_columns())
    assert str(counted) == counted.table(columns=DEFAULT_COLUMNS)
    header = next(line for line in str(measured).splitlines() if line.lstrip().startswith("#")).split()
    assert header == ["#", "module", "type", "FLOPs", "[flops]", "share", "time_ms", "time%", "GFLOP/s", "AI"]
    assert "peaks: unknown for CPU" in str(measured)
    # asked for, the preset shows them all, blank
    full = next(line for line in measured.table(columns="measured").splitlines() if line.lstrip().startswith("#"))
    assert full.split()[-4:] == ["%peak", "AI", "bound", "peak_MiB"]
    # with the device's peaks given, %peak and bound are filled and shown; peak_MiB still not on a CPU
    rated = torchcount.profile(model, x, measure=True, warmup=0, repeat=1, peaks=SLOW)
    assert rated.default_columns() == COLUMN_PRESETS["measured"][:-1]
    assert {rated.row(p).extra["bound"] for p in ("0", "1")} <= {"compute", "memory", "overhead", "latency"}
    assert "time_ms" not in str(counted)
    # (one pass is said so: "median of 1 pass", in the footer and in explain, not "1 passes")
    assert "float32: median of 1 pass after 0 warm-up;" in str(measured)
    assert "measured on CPU (" in measured.explain("0") and "), median of 1 pass: " in measured.explain("0")
    assert re.search(r"\|\s*time_ms\s*\|", export.to_markdown(measured)) and "time_ms" not in export.to_markdown(counted)
    assert re.search(r"<th[^>]*>\s*time_ms</th>", export.to_html(measured))
    assert "time_ms" not in export.to_html(counted)
