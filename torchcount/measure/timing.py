"""Per-layer wall-clock time from a stamp before and after each module's ``forward``.

Each module's ``forward`` is wrapped (:func:`.hooks.per_module_hooks`) so that a *stamp* is taken
right before and right after it, also when it raises; a stamp is ``time.perf_counter_ns()`` on
CPU and a pooled ``torch.cuda.Event`` recorded on the device's current stream on CUDA — no host
synchronisation inside a stamp. After the pass the clock synchronises once and turns stamps into
nanoseconds.

From the stamps of one pass: inclusive time of a call = end − start; exclusive (self) time =
inclusive − Σ inclusive of its direct child calls. Per module, calls of one pass are summed. Σ of
all exclusive times of one pass equals the inclusive time of the root call exactly (a telescoping
sum), on CPU in integer nanoseconds.
"""
from __future__ import annotations

import mmap
import os
import statistics
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

import torch
from torch import nn

from .hooks import per_module_hooks

try:
    import resource  # (POSIX: the process's page-fault count)
except ImportError:  # Windows
    resource = None


class CpuClock:
    """Host timestamps in integer nanoseconds."""

    def __init__(self):
        self._stamps: list[int] = []

    def start_pass(self) -> None:
        self._stamps.clear()

    def stamp(self) -> int:
        self._stamps.append(time.perf_counter_ns())
        return len(self._stamps) - 1

    def finish_pass(self) -> list[float]:
        first = self._stamps[0] if self._stamps else 0
        return [s - first for s in self._stamps]


class CudaClock:
    """CUDA events recorded on the device's current stream, reused across passes; one sync per pass.

    The stream is the measured device's (``torch.cuda.current_stream(device)``), not the current
    device's: a model on ``cuda:1`` while ``cuda:0`` is current runs its kernels on ``cuda:1``'s
    stream, and events recorded on ``cuda:0`` would time only the host's launches."""

    def __init__(self, device: torch.device):
        self.device = device
        self._pool: list = []
        self._n = 0

    def start_pass(self) -> None:
        self._n = 0

    def stamp(self) -> int:
        if self._n == len(self._pool):
            self._pool.append(torch.cuda.Event(enable_timing=True))
        self._pool[self._n].record(torch.cuda.current_stream(self.device))  # no synchronisation
        self._n += 1
        return self._n - 1

    def finish_pass(self) -> list[float]:
        torch.cuda.synchronize(self.device)  # the one synchronisation of the pass
        if not self._n:
            return []
        first = self._pool[0]
        return [0.0] + [first.elapsed_time(self._pool[i]) * 1e6 for i in range(1, self._n)]


def make_clock(device: torch.device):
    return CudaClock(device) if device.type == "cuda" else CpuClock()


class TimingHooks:
    """The pre/post hook pair of every module; records ``[path, start, end, parent]`` per call."""

    def __init__(self, clock):
        self.clock = clock
        self.calls: list[list] = []
        self._stack: list[int] = []

    def reset(self) -> None:
        self.calls = []
        self._stack = []
        self.failed_in = None
        self._failed_exc = None

    def open_model(self, stamp: int) -> None:
        """A span for the model as called, around its wrapped forward: the root's own hooks (and
        torch's global hooks on it) run there, and counting gives their work to the root, so their
        time is the root's own too (a second '' call, nested around the wrapped one)."""
        self._stack.append(len(self.calls))
        self.calls.append(["", stamp, -1, -1])

    def close_model(self, stamp: int) -> None:
        if self._stack:
            self.calls[self._stack.pop()][2] = stamp

    #: the path of the innermost module whose forward raised (its post hook, always called, sees
    #: the exception being handled), or None
    failed_in: "str | None" = None
    _failed_exc: "BaseException | None" = None  # the exception failed_in belongs to

    def hooks_for(self, path: str):
        clock = self.clock
        me = self

        # (only the measuring thread reaches these: the wrapper calls other threads straight through)
        def pre(module, args):
            parent = me._stack[-1] if me._stack else -1
            me._stack.append(len(me.calls))
            me.calls.append([path, -1, -1, parent])
            me.calls[-1][1] = clock.stamp()  # last thing before the module runs

        def post(module, args, output):
            end = clock.stamp()  # first thing after it returns
            if me._stack:
                me.calls[me._stack.pop()][2] = end
            exc = sys.exc_info()[1]
            if output is None and exc is not None and exc is not me._failed_exc:
                # the innermost module of this exception (post hooks run innermost first as it
                # propagates); an exception the forward caught and handled is superseded by a new one
                me.failed_in, me._failed_exc = path, exc

        return pre, post


@contextmanager
def timing_hooks(model: nn.Module, clock, modules: "list | None" = None, layers=None) -> Iterator[TimingHooks]:
    """Stamp every module (``modules``: those counting saw) for timing; every wrapper is removed on
    exit, also on error."""
    hooks = TimingHooks(clock)
    with per_module_hooks(model, hooks.hooks_for, modules=modules, layers=layers):
        yield hooks


@dataclass
class PassTiming:
    """One instrumented pass: per module path, inclusive and exclusive ns summed over its calls."""

    inclusive: dict[str, float]
    exclusive: dict[str, float]
    root_ns: float  # Σ inclusive of the top-level calls (the root module's call)
    leaf_ns: float  # Σ exclusive (= inclusive) of calls that called no hooked module
    wall_ns: float  # the whole instrumented forward, stamped outside the hooks
    #: per path priced whole (``analyse_pass``'s ``whole``), inclusive less the calls made inside it
    #: that are rows of their own (a child's forward hook calling a module held elsewhere): the time
    #: of the work a rule prices; only paths that made such calls
    within: dict[str, float] = field(default_factory=dict)


def analyse_pass(calls: list[list], stamps: list[float], wall_ns: float, whole: "frozenset | set" = frozenset(),
                 covered: "frozenset | set" = frozenset(), rows: "frozenset | set | None" = None) -> PassTiming:
    """``whole``: the paths whose time is that of their own module tree's work (priced whole by a rule,
    or covered by one); ``covered``: those covered by a rule. A call made inside one of ``whole`` to a
    module that is not a covered part of its tree (one held elsewhere, or one a hook calls, priced
    as a row of its own) is taken out of its ``within`` time.

    ``rows``: the paths the report has a row for (None: every path). A call of a module with no row (one
    the counted pass never called and that holds no parameters, called in a measured pass: a random
    path's branch) is timed inside its caller, as if not stamped: its time is its caller's own, not
    taken out of every row and shown in none."""
    if rows is not None:
        calls = _without_rowless(calls, rows)
    n = len(calls)
    incl = [0.0] * n
    has_child = [False] * n
    for i, (_, s, e, _) in enumerate(calls):
        if s < 0 or e < 0:
            raise RuntimeError(f"module '{calls[i][0] or '(root)'}' has no end stamp: its forward hook did "
                               "not run (the forward raised or a hook was removed mid-pass)")
        incl[i] = stamps[e] - stamps[s]
    excl = list(incl)

    def elsewhere(path: str, top: str) -> bool:
        # a module whose every call counting covered is priced by the rule whose call it is in, wherever
        # it is held (a rule's forward calling a module held by its parent); the time of a covered row
        # is its own tree's
        # (a call of the module itself, such as the root's forward inside the model's span, is its own)
        return path != top and not (path in covered and (top not in covered or _within(path, top)))

    crossing = False
    for i, (path, _, _, parent) in enumerate(calls):
        if parent >= 0:
            excl[parent] -= incl[i]
            has_child[parent] = True
            top = calls[parent][0]
            crossing = crossing or (top in whole and elsewhere(path, top))

    outside: dict[int, float] = {}  # call index → the time of the calls it made outside its own tree
    if crossing:  # (else no call of ``whole`` made one: every call's ancestors are its own tree's)
        for i, (path, _, _, parent) in enumerate(calls):
            between: list[str] = []  # the paths of the calls between i and ancestor a
            a = parent
            while a >= 0:
                top = calls[a][0]
                # only the outermost such call counts, or nested ones would be taken out twice
                if top in whole and elsewhere(path, top) and not any(elsewhere(b, top) for b in between):
                    outside[a] = outside.get(a, 0.0) + incl[i]
                between.append(top)
                a = calls[a][3]
    inclusive: dict[str, float] = {}
    exclusive: dict[str, float] = {}
    # the paths that made calls outside their own tree: their within time, summed in the same loop
    # (one sum per path over all calls would be quadratic: a 400-block model's pass took 16 ms)
    within: dict[str, float] = dict.fromkeys({calls[i][0] for i in outside}, 0.0)
    root = leaf = 0.0
    for i, (path, _, _, parent) in enumerate(calls):
        # a module re-entered inside itself (recursion) would count its inner call twice inclusively
        nested = _is_inside_same(calls, i)
        if not nested:
            inclusive[path] = inclusive.get(path, 0.0) + incl[i]
            if path in within:
                within[path] += incl[i] - outside.get(i, 0.0)
        else:
            inclusive.setdefault(path, 0.0)
        exclusive[path] = exclusive.get(path, 0.0) + excl[i]
        if parent < 0:
            root += incl[i]
        if not has_child[i]:
            leaf += incl[i]
    return PassTiming(inclusive, exclusive, root, leaf, wall_ns, within)


def _without_rowless(calls: list[list], rows: "frozenset | set") -> list[list]:
    """``calls`` less those of paths not in ``rows``, whose children become their caller's."""
    if all(call[0] in rows for call in calls):
        return calls
    kept: list[list] = []
    index: list[int] = []  # call index → the index in ``kept`` of it, or of its nearest kept caller (-1)
    for path, s, e, parent in calls:
        host = index[parent] if parent >= 0 else -1
        if path in rows or host < 0:  # (a top-level call is kept: the model's span)
            index.append(len(kept))
            kept.append([path, s, e, host])
        else:
            index.append(host)
    return kept


def _within(path: str, root: str) -> bool:
    return not root or path == root or path.startswith(root + ".")


def _is_inside_same(calls: list[list], i: int) -> bool:
    path = calls[i][0]
    p = calls[i][3]
    while p >= 0:
        if calls[p][0] == path:
            return True
        p = calls[p][3]
    return False


@dataclass
class Summary:
    median: float
    q1: float
    q3: float
    samples: list[float] = field(default_factory=list)

    @property
    def spread(self) -> float:
        """Interquartile range."""
        return self.q3 - self.q1


def summarize(samples: list[float]) -> Summary:
    if not samples:
        raise ValueError("no samples")
    if len(samples) == 1:
        return Summary(samples[0], samples[0], samples[0], list(samples))
    q1, _, q3 = statistics.quantiles(samples, n=4, method="inclusive")
    return Summary(statistics.median(samples), q1, q3, list(samples))


class _OneOp(nn.Module):
    """The least a layer does: one element-wise op on one element."""

    def forward(self, x):
        return x + 1


#: the least number of probes of the per-call floor in its pass: a model with fewer module calls
#: gets several probes after each
FLOOR_PROBES = 16


def input_layout(args: tuple) -> "str | None":
    """How a call's tensor arguments lie in memory, as a kernel sees them: ``"contiguous"``,
    ``"channels_last"`` (4-D, NHWC order; ``"channels_last_3d"`` 5-D), or ``"strided (k of n)"``
    where k of its n tensors are neither (a transposed or sliced view): the same op can run another
    kernel, or the same one at another speed, for each. None where it got no tensor."""
    tensors = [a for a in args if isinstance(a, torch.Tensor) and a.layout == torch.strided and a.dim() > 1]
    if not tensors:
        return None
    kinds = []
    for t in tensors:
        if t.is_contiguous():
            kinds.append("contiguous")
        elif t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last):
            kinds.append("channels_last")
        elif t.dim() == 5 and t.is_contiguous(memory_format=torch.channels_last_3d):
            kinds.append("channels_last_3d")
        else:
            kinds.append("strided")
    if "strided" in kinds:
        return f"strided ({kinds.count('strided')} of {len(kinds)})" if len(kinds) > 1 else "strided"
    return kinds[0] if len(set(kinds)) == 1 else " and ".join(dict.fromkeys(kinds))


def cpu_waits() -> "dict[str, int] | None":
    """How long each of the process's threads has waited for a CPU while it could run (ns), by thread
    id: the second field of its ``/proc/self/task/<tid>/schedstat``, the time it spent on a run queue
    (the first is its time on a CPU). Next to none on an idle machine whatever the threads compute; it
    grows where more threads want to run than there are cores (other processes, or more torch threads
    than cores). None where the system does not keep it: not Linux, no ``/proc``, or a kernel that
    keeps no scheduler statistics (it has no such file, or writes "0 0 0" for every thread, though
    this one has run)."""
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return None
    waits, ran = {}, 0
    for tid in tasks:
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as stats:
                fields = stats.read().split()
            ran += int(fields[0])
            waits[tid] = int(fields[1])
        except (OSError, IndexError, ValueError):  # (a thread that has just ended)
            continue
    return waits if waits and ran else None


def cpu_wait_ns() -> "int | None":
    """How long the process's threads now running have waited, all together, for a CPU (ns): the sum
    of :func:`cpu_waits`; None where the system does not say."""
    waits = cpu_waits()
    return sum(waits.values()) if waits is not None else None


def cpu_wait_since(before: "dict[str, int] | None") -> "int | None":
    """How long the process's threads waited for a CPU since ``before`` (a :func:`cpu_waits`), all
    together (ns): each thread's wait since then, a thread started since then with all of its own. A
    thread that ended since then is left out, with what it waited meanwhile (its count went with it),
    rather than taking what it had waited before from the others'. None where either read says
    nothing."""
    after = cpu_waits() if before is not None else None
    if after is None:
        return None
    return sum(max(ns - before.get(tid, 0), 0) for tid, ns in after.items())


def page_faults() -> "int | None":
    """The minor page faults the process has taken so far, all its threads together (a kernel's work
    is split over torch's threads, and each faults on the pages it writes first); None where the
    system does not count them (Windows)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt if resource is not None else None


#: the mapping :func:`fault_cost_ns` fills: 1,024 pages of 4 KiB
FAULT_PROBE_BYTES = 4 << 20


def fault_cost_ns(repeat: int = 7) -> "float | None":
    """What a page fault on memory fresh from the system costs here, in wall nanoseconds, as a kernel
    pays it: a new anonymous mapping of ``FAULT_PROBE_BYTES`` is filled by torch (on its threads, as a
    layer's output is written), the same fill of the now-mapped memory is subtracted, and the rest is
    divided by the faults the process took. Median of ``repeat`` mappings. None where faults are not
    counted, none were taken (a system that maps such memory up front), or the probes could not tell
    them apart: on a machine busier than its cores a fill on torch's threads waits for a thread the
    system put aside (milliseconds, against the 0.2 ms of a 4 MiB fill), the mapped fill as often as
    the fresh one, and the median difference came out 0 (with another process running torch on both
    cores of this project's VM, 23 of 30 probes), where a profile priced 248,000 faults a forward at
    nothing and named none.

    The allocator hands a layer's large tensors out of such mappings when it has given freed memory
    back to the system (glibc does for blocks above its mapping threshold), so the layer faults once
    per page it writes. On this project's 2-core VM a probe fault cost 1.17 µs on one torch thread and
    0.85 µs of wall time on two (``benchmarks/results/page_faults.md``). Ops writing fresh memory lost,
    per fault, over their time into the same memory mapped: a GELU's 9.2 MB, a multiply's 25.7 MB and a
    batched matmul's 54 MB output 1.44–1.69 µs on one thread and 0.88–0.92 µs on two. The estimate
    says how much, low by up to a third on one thread, not to the microsecond."""
    if page_faults() is None:
        return None
    costs = []
    try:
        for _ in range(repeat):
            faults, lost = _fault_probe()
            if faults > 0:
                costs.append(max(lost, 0) / faults)
    except (OSError, BufferError, ValueError, RuntimeError):  # (no mapping to be had: a container's limit)
        return None
    cost = statistics.median(costs) if costs else None
    return cost if cost else None  # (not 0: no fault is free; the probes could not tell)


def _fault_probe() -> "tuple[int, int]":
    """(faults, ns): the page faults a fill of a new mapping took, and its time less a second fill's."""
    # (private, as the allocator's: a shared anonymous mapping is backed by shared memory, whose
    # faults cost half as much again; and without madvise: where transparent huge pages are "always",
    # the allocator's mappings fault 2 MiB at a time too, so a fault is priced as the layers' are)
    memory = mmap.mmap(-1, FAULT_PROBE_BYTES, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    data = None
    try:
        data = torch.frombuffer(memory, dtype=torch.float32)
        before = page_faults()
        start = time.perf_counter_ns()
        data.fill_(1)
        first = time.perf_counter_ns()
        faults = page_faults() - before
        data.fill_(2)
        second = time.perf_counter_ns()
    finally:
        del data  # (the mapping cannot be closed while a tensor holds it)
        memory.close()
    return faults, (first - start) - (second - first)


class FloorProbes:
    """What the floor-probing pass saw: the (start, end) stamps of each probe, the layout of each
    module's inputs at its first call (:func:`input_layout`), and where page faults are counted, the
    page faults each module's calls took: ``faults[path] = [whole, own]``, summed over its calls in
    the pass, ``own`` less those of the module calls inside it (as a row's own time is)."""

    def __init__(self):
        self.spans: list = []
        self.layouts: dict = {}
        self.faults: dict = {}


@contextmanager
def floor_probes(model: nn.Module, clock, probe: torch.Tensor, modules: "list | None" = None,
                 layers=None, count_faults: bool = False) -> Iterator[FloorProbes]:
    """While open, right after every module call of ``model`` a module that does next to nothing (one
    element-wise op on ``probe``, one element on the measured device) is called between two stamps;
    yields a :class:`FloorProbes` holding those (start, end) stamps, and the layout of each module's
    inputs (at no cost to a timed pass). The median span is the per-call floor: the part of
    any layer's time that comes with the call itself (Python, dispatch, on a GPU the launch), whatever
    it computes, taken where the layers' own calls run, with caches as the layer before left them
    (a loop of such calls on its own, caches warm, runs faster: 1.1 to 2.7 times on a 2-core CPU).
    ``bound.classify`` holds a row's time against it to tell a layer slowed by its calls from one
    whose kernels are slow.

    A single probe can take far longer than the rest: on a CPU the first op after a 2-layer LSTM took
    16–190 µs, the next ones 4 µs. With fewer than ``FLOOR_PROBES`` modules, each call is therefore
    probed several times in a row, so that the median is not one such probe.

    ``count_faults`` (on a CPU, where page faults take a kernel's time): the process's page faults are
    read before and after every module call (:func:`page_faults`), into ``FloorProbes.faults``."""
    one = _OneOp()
    seen = FloorProbes()
    spans, layouts, faults = seen.spans, seen.layouts, seen.faults
    modules = list(model.named_modules()) if modules is None else modules
    per_call = -(-FLOOR_PROBES // max(len(modules), 1))
    count_faults = count_faults and page_faults() is not None
    open_calls: list = []  # per open module call: [faults at its start, faults of the calls inside it]

    def hooks_for(path: str):
        def pre(module, args):
            if path not in layouts:
                layouts[path] = input_layout(args)
            if count_faults:
                open_calls.append([page_faults(), 0])

        def post(module, args, output):
            if count_faults:  # (pre and post are always paired, also when the forward raises)
                start, inside = open_calls.pop()
                whole = page_faults() - start
                counted = faults.setdefault(path, [0, 0])
                counted[0] += whole
                counted[1] += whole - inside
                if open_calls:
                    open_calls[-1][1] += whole
            if output is None and sys.exc_info()[1] is not None:
                return  # (the forward raised: nothing to compare with)
            for _ in range(per_call):
                start = clock.stamp()
                one(probe)
                spans.append((start, clock.stamp()))

        return pre, post

    with per_module_hooks(model, hooks_for, modules=modules, layers=layers):
        yield seen
