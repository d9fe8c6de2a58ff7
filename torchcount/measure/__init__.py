"""Measured cost beside theoretical cost: time, memory and energy per layer (docs/measure.md).

:func:`measure` is called by ``torchcount.profile(..., measure=True)``. It writes per-row results
into ``row.extra`` and report-level results into ``report.extra``:

row.extra: ``time_ms`` (inclusive, median), ``self_ms`` (exclusive, median), ``spread_ms``
(interquartile range of the inclusive time), ``time%`` (inclusive share of the root, a percentage:
12.3 for 12.3 %; for a row called in only some passes, and the rows holding its time, the times are
means per pass over all passes, 0 where not called), ``GFLOP/s`` (achieved, ``flops`` convention),
``%peak`` (a percentage; both None where ``bound`` is "invalid"), ``AI`` (FLOPs per byte), ``bound``,
``act_MiB``, ``param_MiB``, ``peak_MiB`` (CUDA), ``energy_mJ`` (with ``energy_layers``: the rows replayed
against the energy counter, per forward). row.self_extra: the same columns for the module's own work
(self time, its self cost's rates and bound, its own activation bytes and parameters), shown where
its children are rows of their own.

report.extra: ``device``, ``peaks``, ``plain_ms``, ``instrumented_ms``, ``overhead``,
``time_coverage``, ``uncounted_ms`` and ``uncounted_time_share`` (own time of the rows with
uncounted work), ``memory``, ``energy``, ``energy_layers`` (with ``energy_layers=N``), ``time_vs_flops``, ``time_by_bound``, ``per_layer`` (per row path: a dict of
details and the raw per-pass samples, see :func:`details`), ``footer`` (summary lines printed
under the table) and ``time_ms``/``time%`` for the totals row.
"""
from __future__ import annotations

import math
import os
import statistics
from contextlib import contextmanager
from typing import Any, Iterator

import torch
from torch.utils._pytree import tree_leaves, tree_map_only
from torch import nn

from ..conventions import CONVENTIONS
from ..capture import autocast_on, fresh_autocast_region, method_runner, method_text, own_forwards, restore_forwards
from ..state import preserved
from .bound import Verdict, classify
from .ceiling import best_of, measure_ceiling
from .energy import DEFAULT_GRID_INTENSITY, layer_energy, measure_energy
from .memory import FAILED_IN, MiB, current_rss_bytes, memory_hooks, peak_rss_bytes, reset_peak_rss, state_bytes
from .peaks import GPU_PEAKS, Peaks, lookup, peaks_for, uses_tf32
from .timing import (TimingHooks, analyse_pass, cpu_wait_since, cpu_waits, fault_cost_ns, floor_probes, make_clock,
                     page_faults, summarize, timing_hooks)

__all__ = ["measure", "details", "GPU_PEAKS", "Peaks", "lookup", "peaks_for", "classify", "measure_ceiling",
           "measure_energy", "DEFAULT_GRID_INTENSITY"]

_FLOPS = CONVENTIONS["flops"]


def _model_device(model: nn.Module) -> torch.device | None:
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return None


def _same_device(a: torch.device, b: torch.device) -> bool:
    if a.type != b.type:
        return False
    if a.type != "cuda":
        return True
    ia = a.index if a.index is not None else torch.cuda.current_device()
    ib = b.index if b.index is not None else torch.cuda.current_device()
    return ia == ib


def _move(value: Any, device: torch.device) -> Any:
    """Tensors anywhere in a nested structure, moved to ``device``."""
    return tree_map_only(torch.Tensor, lambda t: t if t.device == device else t.to(device), value)


def _first_float_dtype(*things) -> torch.dtype | None:
    for thing in things:
        if isinstance(thing, nn.Module):
            for p in thing.parameters():
                if p.is_floating_point():
                    return p.dtype
        elif isinstance(thing, torch.Tensor) and thing.is_floating_point():
            return thing.dtype
        elif isinstance(thing, (tuple, list)):
            found = _first_float_dtype(*thing)
            if found is not None:
                return found
        elif isinstance(thing, dict):
            found = _first_float_dtype(*thing.values())
            if found is not None:
                return found
    return None


def _row_dtype(row, module: "nn.Module | None") -> torch.dtype | None:
    """The dtype a row's work ran in: its first call's first floating output (what it computed in:
    bfloat16 for a float32 Linear under bf16 autocast, float32 for an Embedding beside it), else its
    first floating input, else its first floating parameter; None for a row without any."""
    for name in (*row.output_dtypes, *row.input_dtypes):
        dtype = getattr(torch, name, None)
        if isinstance(dtype, torch.dtype) and dtype.is_floating_point:
            return dtype
    return _first_float_dtype(module) if module is not None else None


def _compute_dtypes(report, model: nn.Module) -> "tuple[dict, torch.dtype | None]":
    """Each row's dtype (:func:`_row_dtype`, by path), and the dtype most of the model's counted
    FLOPs ran in (None when no row did floating-point work)."""
    rows = list(report.layers)
    if report.root is not None and report.root not in rows:
        rows.append(report.root)
    modules = dict(model.named_modules())
    found, flops_by_dtype = {}, {}
    for row in rows:
        dtype = found[row.path] = _row_dtype(row, modules.get(row.path, row.module))
        if dtype is not None:
            flops_by_dtype[dtype] = flops_by_dtype.get(dtype, 0) + _FLOPS.ops(row.self_cost)
    most = max(flops_by_dtype.items(), key=lambda kv: kv[1]) if flops_by_dtype else None
    return found, most[0] if most is not None and most[1] > 0 else None


def _first_tensor_device(value) -> torch.device | None:
    if isinstance(value, torch.Tensor):
        return value.device
    items = value.values() if isinstance(value, dict) else value if isinstance(value, (tuple, list)) else ()
    for v in items:
        found = _first_tensor_device(v)
        if found is not None:
            return found
    return None


#: the measurement options ``profile(..., measure=True, **options)`` passes on (device and
#: copy_params are profile's own arguments)
OPTIONS = ("warmup", "repeat", "energy", "energy_seconds", "energy_layers", "grid_intensity", "ceiling", "no_grad",
           "peaks")


def check_options(options: dict) -> None:
    """The measurement options' names and values, checked before any forward runs (a wrong one
    used to fail after the counting pass, or after every timed pass)."""
    unknown = [k for k in options if k not in OPTIONS]
    if unknown:
        raise TypeError(f"unknown measurement option(s) {', '.join(unknown)}; measure=True takes "
                        f"{', '.join(OPTIONS)} (and device=, copy_params=)")
    _check_values(**options)


def _check_values(warmup: int = 3, repeat: int = 10, energy: bool = False, energy_seconds: float = 1.0,
                  grid_intensity: float = DEFAULT_GRID_INTENSITY, ceiling: bool = False, no_grad: bool = True,
                  peaks: "Peaks | None" = None, energy_layers: int = 0) -> None:
    if not isinstance(energy_layers, int) or isinstance(energy_layers, bool) or energy_layers < 0:
        raise ValueError(f"measure: energy_layers must be an int ≥ 0 (the number of layers, most time first, "
                         f"to replay against the energy counter), got {energy_layers!r}")
    if not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 1:
        raise ValueError(f"measure: repeat must be an int ≥ 1, got {repeat!r}")
    if not isinstance(warmup, int) or isinstance(warmup, bool) or warmup < 0:
        raise ValueError(f"measure: warmup must be an int ≥ 0, got {warmup!r}")
    for name, value in (("energy", energy), ("ceiling", ceiling), ("no_grad", no_grad)):
        if not isinstance(value, bool):
            raise TypeError(f"measure: {name} must be True or False, got {value!r}")
    for name, value in (("energy_seconds", energy_seconds), ("grid_intensity", grid_intensity)):
        # (NaN passes every comparison, and an infinite loop length made math.ceil fail after every timed pass)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0 or (
                name == "energy_seconds" and value == 0):
            raise ValueError(f"measure: {name} must be a {'positive' if name == 'energy_seconds' else 'non-negative'} "
                             f"number, got {value!r}")
    if peaks is not None and not isinstance(peaks, Peaks):
        raise TypeError(f"measure: peaks must be a torchcount.measure.Peaks (e.g. "
                        f"torchcount.measure.GPU_PEAKS['H100 SXM']), got {type(peaks).__name__}")
    if ceiling and peaks is not None:  # (peaks= won, and the ceiling asked for was not measured)
        raise ValueError(f"measure: ceiling=True measures the peaks on this device and peaks= gives them "
                         f"({peaks.name}); pass one of the two")


def resolve_device(model: nn.Module, device, inputs=()) -> torch.device:
    """The device to time on: the model's (a model without parameters: its inputs')."""
    own = _model_device(model)
    asked = torch.device(device) if device is not None else None
    if asked is not None and asked.type == "meta":  # (not "move the model to meta", which fails next)
        raise ValueError("measure: device='meta' has no time or memory to measure; profile without "
                         "measure=True, or measure on the device the model is on")
    if own is not None and own.type == "meta":
        raise ValueError("measure: the model is on the meta device, which has no time or memory to measure; "
                         "profile without measure=True, or materialise the model on a real device")
    if own is None:
        own = asked or _first_tensor_device(inputs) or torch.device("cpu")
    if asked is not None and not _same_device(own, asked):
        raise ValueError(f"measure: the model's parameters are on {own} but device={str(asked)!r} was asked; "
                         f"move the model first (model.to({str(asked)!r})) — torchcount does not move it")
    if any(t.device.type == "meta" for t in tree_leaves(inputs) if isinstance(t, torch.Tensor)):
        raise ValueError("measure: an input is on the meta device, which has no values to compute with; "
                         "give real inputs (torch.randn(shape)) to measure, or profile without measure=True")
    return own


def measure(report, model: nn.Module, args: tuple, kwargs: dict, *, device=None, warmup: int = 3,
            repeat: int = 10, energy: bool = False, grid_intensity: float = DEFAULT_GRID_INTENSITY,
            ceiling: bool = False, no_grad: bool = True, energy_seconds: float = 1.0,
            peaks: Peaks | None = None, copy_params: bool = False, fresh_inputs=None, energy_layers: int = 0,
            modules: "list[tuple[str, nn.Module]] | None" = None, method: str | None = None, layers=None,
            inputs_modules: "list[tuple[str, nn.Module]] | None" = None):
    """Time, memory (and optionally energy) of ``model(*args, **kwargs)``; results into ``report``.

    ``warmup`` passes are run and discarded, then ``repeat`` passes of each kind: plain (no hooks)
    and instrumented (timing hooks), interleaved so that drift affects both alike; then one pass that
    probes the per-call floor after every module call (``timing.floor_probes``), and one memory pass.
    ``no_grad`` (default) runs the passes without autograd. ``ceiling=True`` measures a large matmul,
    a 3×3 convolution and a large copy on the device and uses the best as peaks; ``peaks=`` overrides
    the table.
    ``energy=True`` runs the forward for ≥ ``energy_seconds`` against an energy counter (NVML's on
    an NVIDIA GPU, RAPL's on a Linux CPU). ``energy_layers=N`` (with or without it) also measures the
    energy of the N layers that take the most time, each replayed on its own, on a copy of its inputs
    in the pass, for ≥ ``energy_seconds`` (``energy.layer_energy``): a module priced whole by a rule, or
    one with no submodule rows.
    ``copy_params=True`` keeps a copy of the parameters and restores them after the passes (as
    ``profile(copy_params=True)``), for a forward that writes them in place. ``fresh_inputs()``,
    when given, returns new ``(args, kwargs)`` for each pass (inputs a forward changes, such as a
    KV cache): called before each pass's clock starts. ``modules``: the modules counting saw
    (``profile`` passes them): those are stamped. ``method``: a method of the model to time instead
    of its forward (``profile(method="generate")``), each pass one call of it. ``layers``: what the
    model's graphs say of their layers, as counting read them (``graph.graph_layers``): the original
    layers of each GraphModule (the root or a submodule) are stamped where its graph's markers say
    they begin and end. ``inputs_modules``: modules among a method's inputs (a distillation step's
    teacher, which every pass may train), left as found as the model's are.

    Every pass starts from the model's forwards as they were found: a forward that sets
    ``self.forward`` (a fast path after a first call) would otherwise run another computation in
    the next passes than the one counted, and stay set afterwards.
    """
    _check_values(warmup, repeat, energy, energy_seconds, grid_intensity, ceiling, no_grad, peaks, energy_layers)
    dev = resolve_device(model, device, (args, kwargs))
    args, kwargs = _move(args, dev), _move(kwargs, dev)
    clock = make_clock(dev)
    plain, passes = [], []
    timed_faults = []  # (CPU) the page faults of each instrumented pass
    timed_waits = []  # the time the process's threads waited for a CPU in each instrumented pass (None: not said)

    run = model if method is None else method_runner(model, method)

    def forward():
        return run(*args, **kwargs)

    kept_state = None  # what preserved() found, once it has

    def refresh() -> None:
        nonlocal args, kwargs
        if kept_state is not None:  # every pass starts from the buffers (a cache the model holds) as found
            kept_state.reset_buffers()
        # each pass casts its weights under autocast, as the counted one did
        fresh_autocast_region()
        if fresh_inputs is not None:
            new_args, new_kwargs = fresh_inputs()
            args, kwargs = _move(new_args, dev), _move(new_kwargs, dev)

    completed = [0]  # measuring forwards that returned (warm-up, plain and instrumented)
    named = modules if modules is not None else list(model.named_modules())
    forwards_found = own_forwards(m for _, m in named)

    def forwards_as_found() -> None:
        restore_forwards(forwards_found)

    def failed(exc: Exception, hooks: "TimingHooks | None") -> Exception:
        """The error of a measured pass that raised (``hooks``: its timing hooks; None for a pass
        without them), naming the module it failed in."""
        done = completed[0]  # (before the search pass, which may complete)
        hooked, path = (True, hooks.failed_in) if hooks is not None else \
            _failing_module(model, clock, one_pass, named, layers)
        if not hooked:  # a failure the hooked pass did not repeat (a forward that fails once, on
            # its 2nd call): the module is read from the exception's own frames instead
            path = _module_in_traceback(exc, named)
            hooked = path is not None
        return _measure_error(exc, model, path, done, hooked, method, layers)

    def one_pass(stamped: "TimingHooks | None" = None) -> tuple[list[float], float]:
        """One forward between two stamps taken outside any wrapper; one synchronisation. With
        ``stamped`` (an instrumented pass) the two stamps also make the model's own span."""
        refresh()
        faults = page_faults() if stamped is not None and dev.type == "cpu" else None
        waited = cpu_waits() if stamped is not None else None
        clock.start_pass()
        s = clock.stamp()
        if stamped is not None:
            stamped.open_model(s)
        # (the output is let go after the last stamp: a CPU gives a large one back to the system,
        # 3.8 ms for a 67 MB upsampling's output, which is not the forward's time)
        output = forward()
        completed[0] += 1
        e = clock.stamp()
        if stamped is not None:
            stamped.close_model(e)
        stamps = clock.finish_pass()
        del output
        if faults is not None:  # (read outside the timed span: a CPU's timed passes' page faults)
            timed_faults.append(page_faults() - faults)
        if stamped is not None:  # (one entry per instrumented pass, as the last `repeat` are kept)
            timed_waits.append(cpu_wait_since(waited))
        return stamps, stamps[e] - stamps[s]

    grad = torch.no_grad() if no_grad else torch.enable_grad()
    # the dtype each row computed in (under autocast not its weights'), and the one most FLOPs ran in
    row_dtypes, dtype = _compute_dtypes(report, model)
    dtype = dtype or _first_float_dtype(model, args, kwargs) or torch.float32
    # a ceiling measured once can land in a moment of contention; the better of two is kept
    # every floating dtype the model computes in gets its own rate (a bf16 model with float32 layers,
    # a float32 model's layers under bf16 autocast)
    ceiling_dtypes = [dtype] + sorted(({p.dtype for p in model.parameters()} | set(row_dtypes.values()))
                                      & set(_CEILING_DTYPES) - {dtype}, key=str)

    def measured_ceiling() -> Peaks:
        found = None
        for dt in ceiling_dtypes:
            got = measure_ceiling(dev, dt)
            found = got if found is None else best_of(found, got, "and")
        return found

    first_ceiling = measured_ceiling() if ceiling else None  # (check_options refused it beside peaks=)
    # after the ceiling's large buffers, so that the peak RSS is the model's run
    rss_reset = reset_peak_rss() if dev.type == "cpu" else False
    rss_before = current_rss_bytes() if dev.type == "cpu" else None
    hooks = None
    from ..profile import _transformer_layers_unfused

    # every pass, plain or hooked, runs the same computation: hooks turn TransformerEncoderLayer's
    # fused fast path off, so it is off in the plain passes too (as in the counting pass)
    kept = list(model.named_modules()) + inputs_modules if inputs_modules else None
    # the rows priced whole by a rule and those it covers: their time is their own tree's work (_fill)
    covered = {row.path for row in report.layers if row.status == "covered"}
    whole = covered | {row.path for row in report.layers if row.status == "rule"}
    # a module with no row (never called in the counted pass, no parameters: a random path's branch) is
    # timed inside its caller, whose row then shows its time; else no row would (analyse_pass)
    rows = {row.path for row in report.layers} | ({report.root.path} if report.root is not None else set())
    with preserved(model, copy_params=copy_params, modules=kept, method=method, inputs=[*args, *kwargs.values()]) \
            as kept_state, grad, _transformer_layers_unfused(model), _then(forwards_as_found):
        try:
            for _ in range(warmup):
                hooks = None
                forwards_as_found()
                one_pass()
                forwards_as_found()
                with timing_hooks(model, clock, named, layers) as hooks:
                    one_pass(hooks)
            for i in range(repeat):  # plain and instrumented interleaved, order alternating: drift and
                hooks = None          # cache state affect both alike
                if i % 2 == 0:
                    forwards_as_found()
                    plain.append(one_pass()[1])
                forwards_as_found()
                with timing_hooks(model, clock, named, layers) as hooks:  # (fresh hooks: no calls yet)
                    stamps, wall = one_pass(hooks)
                    passes.append(analyse_pass(hooks.calls, stamps, wall, whole, covered, rows))
                hooks = None
                if i % 2 == 1:
                    forwards_as_found()
                    plain.append(one_pass()[1])
            # one more pass: what a call costs that computes next to nothing, after each call of the model
            hooks = None
            # on a CPU, what a page fault on memory fresh from the system costs: that pass also counts
            # the faults each module call takes (a GPU kernel's time holds none)
            fault_ns = fault_cost_ns() if dev.type == "cpu" else None
            refresh()
            forwards_as_found()
            with floor_probes(model, clock, _move(torch.zeros(1), dev), named, layers,
                              count_faults=fault_ns is not None) as probed:
                clock.start_pass()
                forward()
                completed[0] += 1
                stamps = clock.finish_pass()
            # (None where no module could be wrapped: a TorchScript model is timed as a whole)
            floor_ns = statistics.median(stamps[e] - stamps[s] for s, e in probed.spans) if probed.spans else None
        except Exception as exc:  # the counting pass ran; a later one failed: say which module
            raise failed(exc, hooks) from exc
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
            torch.cuda.reset_peak_memory_stats(dev)
            base = torch.cuda.memory_allocated(dev)
        mem = {}
        refresh()
        forwards_as_found()
        try:
            with memory_hooks(model, dev, named, layers) as mem:
                forward()
            completed[0] += 1
        except Exception as exc:  # the memory pass (the last one) failed: say which module
            raise _measure_error(exc, model, mem.get(FAILED_IN), completed[0], True, method, layers) from exc
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
            # the per-module tracker resets the allocator's peak at every module entry; what it
            # folded into the root call (and anything after it) is the pass's peak
            pass_peak = max([torch.cuda.max_memory_allocated(dev)] + [m["peak"] for m in mem.values()])
            memory = {"kind": "cuda", "pass_peak_allocated": pass_peak, "allocated_before": base}
        else:
            memory = {"kind": "cpu", "peak_rss": peak_rss_bytes(), "rss_before": rss_before,
                      "peak_rss_reset": rss_reset}
        if peaks is not None:
            device_peaks = peaks
        elif ceiling:
            device_peaks = best_of(first_ceiling, measured_ceiling())
        else:
            device_peaks = peaks_for(dev)
        energy_result = None
        if energy:
            # (with inputs a forward changes, each energy pass copies them afresh: inside the
            # energy window, a small share of a pass next to the forward that reads them)
            fresh_each = fresh_inputs is not None or autocast_on()

            def energy_pass() -> None:
                forwards_as_found()  # as each timed pass does: the forward counted, not a fast path it set
                if fresh_each:
                    refresh()
                forward()
                completed[0] += 1

            try:
                energy_result = measure_energy(energy_pass, dev, summarize(plain).median / 1e9, grid_intensity,
                                               energy_seconds)
            except Exception as exc:  # a pass of the energy loop (without hooks) failed: say which module
                raise failed(exc, None) from exc
        by_layer = None
        if energy_layers:
            def input_pass() -> None:
                refresh()
                forward()
            picked = _most_time(report, passes, energy_layers, {path for path, _ in named})
            forwards_as_found()  # (before the input-keeping wrappers go on, as before each timed pass's)
            try:
                by_layer = layer_energy(model, named, [path for path, _ in picked], input_pass, dev,
                                        dict(picked), grid_intensity, energy_seconds)
            except Exception as exc:  # the pass that keeps the layers' inputs failed (a replay's failure is its row's)
                raise failed(exc, None) from exc
    _fill(report, model, dev, dtype, device_peaks, plain, passes, mem, memory, energy_result,
          warmup, repeat, row_dtypes, floor_ns, probed.layouts, probed.faults, fault_ns, timed_faults[-repeat:],
          [w for w in timed_waits[-repeat:] if w is not None])
    if by_layer is not None:
        _fill_layer_energy(report, by_layer, energy_seconds)
    return report


def _most_time(report, passes: list, n: int, callable_paths: set) -> "list[tuple[str, float]]":
    """The ``n`` rows that can be replayed on their own and take the most time per forward — a module
    priced whole by a rule, or one with no submodule rows (a container's own time is the Python
    between its children, which no call of it alone repeats) — each with its seconds per call.
    ``callable_paths``: the paths of the modules the passes ran; a row with no module there (a
    GraphModule's original layer, which symbolic_trace inlined into its graph) has nothing to call."""
    parents = {row.path.rpartition(".")[0] for row in report.layers if row.path}
    times = []
    for row in report.layers:
        if row.calls == 0 or row.status in ("covered", "not called") or row.members:
            continue
        if row.path not in callable_paths:
            continue
        if row.status != "rule" and row.path in parents:
            continue
        per_pass = [p.within.get(row.path, p.inclusive.get(row.path)) for p in passes]
        per_pass = [t for t in per_pass if t is not None]
        if per_pass:
            times.append((statistics.median(per_pass), row.path, row.calls))
    times.sort(key=lambda t: -t[0])
    return [(path, ns / 1e9 / calls) for ns, path, calls in times[:n]]


def _fill_layer_energy(report, by_layer: dict, seconds: float) -> None:
    """Each replayed row's energy per forward (``energy_mJ``: per call × its calls in a forward) into its
    columns, the details into ``per_layer``, a summary into ``extra["energy_layers"]`` and the footer."""
    extra = report.extra
    per_layer = extra.setdefault("per_layer", {})
    measured = {}
    for path, got in by_layer.items():
        row = report.row(path)
        per_layer.setdefault(path, {})["energy"] = got
        if got.get("status") != "measured":
            continue
        mj = got["J_per_call"] * row.calls * 1e3
        measured[path] = mj
        row.extra["energy_mJ"] = mj
        if row.self_extra is not None and row.status == "rule":  # (its own work is its whole work)
            row.self_extra["energy_mJ"] = mj
    whole = extra.get("energy") or {}
    total_mj = whole["J_per_forward"] * 1e3 if whole.get("status") == "measured" else None
    summary = {"layers": len(by_layer), "measured": len(measured), "seconds_each": seconds,
               "mJ_per_forward": sum(measured.values()) if measured else None,
               "share_of_forward%": 100 * sum(measured.values()) / total_mj if measured and total_mj else None}
    extra["energy_layers"] = summary
    per = "forward" if report.method is None else "call"
    if measured:
        top = sorted(measured.items(), key=lambda kv: -kv[1])
        line = (f"energy by layer ({len(by_layer)} with the most time, each replayed alone on a copy of its inputs "
                f"for ≥ {seconds:g} s; column energy_mJ, per {per}): "
                + ", ".join(f"{path or '(root)'} {mj:.4g} mJ" for path, mj in top[:3]) + (", …" if len(top) > 3 else ""))
        if summary["share_of_forward%"] is not None:
            line += (f"; together {summary['mJ_per_forward']:.4g} mJ, {summary['share_of_forward%']:.0f}% of the "
                     f"{per}'s {total_mj:.4g} mJ measured whole")
        def named(paths: list) -> str:
            return ", ".join(p or "(root)" for p in paths[:3]) + (" …" if len(paths) > 3 else "")
        differ = [p for p in measured if by_layer[p].get("input_shapes_differ")]
        if differ:
            line += (f"; {named(differ)} called with other input shapes too (its first call's energy × its calls: "
                     "a generate's first call is its prefill)")
        failed = [p for p, g in by_layer.items() if g.get("status") == "failed"]
        if failed:
            line += f"; not replayable: {named(failed)} ({by_layer[failed[0]]['why']})"
        unmeasured = [p for p, g in by_layer.items() if g.get("status") == "unavailable"]
        if unmeasured:  # (a counter that did not advance over one layer's loop; one below its copying)
            line += f"; not measured: {named(unmeasured)} ({by_layer[unmeasured[0]]['why']})"
        extra["footer"].append(line)
    else:
        why = next(iter(by_layer.values()), {}).get("why", "no layer to replay")
        extra["footer"].append(f"energy by layer: unavailable — {why}")


def _row_peaks(rows, modules: dict, dev, dtype, device_peaks: Peaks, row_dtypes: dict) -> tuple[dict, dict]:
    """Each row's own peak (its dtype; TF32 for a float32 convolution or matmul where CUDA runs them
    on TF32 cores) and its effective peak: for a row with rows below it, the rate at which all their
    FLOPs would run if each ran at its own peak (Σ FLOPs ÷ Σ FLOPs/peak), so a block of TF32
    convolutions is held to the TF32 peak, not to the FP32 one its type name would suggest.

    TF32 applies to contractions only: a float32 row whose own work has no multiply-accumulates
    (an activation, a norm, a softmax) keeps the FP32 peak whatever the TF32 switches say. A
    convolution (a torch conv module) follows cuDNN's switch, a recurrent layer (which cuDNN runs)
    cuDNN's too (its own since torch 2.9's fp32_precision API); any other contraction, matmul's."""
    own: dict[str, "float | None"] = {}
    for row in rows:
        module = modules.get(row.path, row.module)
        row_dtype = row_dtypes.get(row.path) or dtype
        tf32 = False
        if row.self_cost.macs:
            # (a torch.export layer's module is a plain holder of its parameters, and a GraphModule's inlined
            # layer has none: what it was is the type its row names)
            if module is not None and type(module).__name__ == row.type:
                conv, rnn = isinstance(module, nn.modules.conv._ConvNd), isinstance(module, nn.RNNBase)
            else:
                conv, rnn = row.type in _TORCH_CONVS, row.type in _TORCH_RNNS
            tf32 = uses_tf32(dev, conv, rnn)
        own[row.path] = device_peaks.flops_for(row_dtype, tf32=tf32)
    self_flops = {row.path: _FLOPS.ops(row.self_cost) for row in rows}
    effective: dict[str, "float | None"] = {}
    for row in rows:
        prefix = row.path + "." if row.path else ""
        members = [p for p in self_flops if p == row.path or p.startswith(prefix)] if row.status != "rule" \
            else [row.path]  # (a rule's row holds all its FLOPs; the rows below it are covered)
        work = sum(self_flops[p] for p in members)
        if len(members) == 1 or not work:
            effective[row.path] = own[row.path]
            continue
        at_peak = 0.0
        for p in members:
            if self_flops[p]:
                if own[p] is None:
                    at_peak = None
                    break
                at_peak += self_flops[p] / own[p]
        effective[row.path] = work / at_peak if at_peak else None if at_peak is None else own[row.path]
    return own, effective


_CEILING_DTYPES = (torch.float32, torch.bfloat16, torch.float16)

#: the type names of torch's convolutions and recurrent layers (cuDNN runs them: its TF32 switch), for a row
#: whose module is not at hand (GPT-2's Conv1D, a matmul, is not among them)
_TORCH_CONVS = frozenset(c.__name__ for c in (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
                                              nn.ConvTranspose3d))
_TORCH_RNNS = frozenset(c.__name__ for c in (nn.RNN, nn.LSTM, nn.GRU))


@contextmanager
def _then(fn) -> Iterator[None]:
    """``fn()`` on the way out, also on errors."""
    try:
        yield
    finally:
        fn()


def _failing_module(model: nn.Module, clock, one_pass, named: "list | None" = None,
                    layers=None) -> "tuple[bool, str | None]":
    """After a pass without hooks failed: one more pass, hooked, to find the module it fails in.
    (whether it failed again, the failing module's path or None: outside every module's forward)."""
    try:
        with timing_hooks(model, clock, named, layers) as hooks:
            one_pass(hooks)
    except Exception:
        return True, hooks.failed_in
    return False, None


def _module_in_traceback(exc: BaseException, named: "list[tuple[str, nn.Module]]") -> "str | None":
    """The path of the innermost module (among ``named``, those counting saw) whose call was in
    progress where ``exc`` was raised: a frame of ``Module._call_impl`` (hooks included, as the
    hooked passes span them) or a ``forward`` (a direct ``child.forward(x)``) whose first argument is that
    module. None when the exception came from outside every module's forward."""
    paths = {id(m): path for path, m in named}
    call_impl = getattr(nn.Module._call_impl, "__code__", None)
    found = None
    tb = exc.__traceback__
    while tb is not None:  # outermost frame first: the last match is the innermost module
        frame = tb.tb_frame
        code = frame.f_code
        if (code is call_impl or code.co_name == "forward") and code.co_argcount:
            me = frame.f_locals.get(code.co_varnames[0])  # (its first argument, whatever its name)
            if me is not None and id(me) in paths:
                found = paths[id(me)]
        tb = tb.tb_next
    return found


def _measure_error(exc: Exception, model: nn.Module, path: "str | None", passes_done: int, hooked: bool,
                   method: "str | None" = None, layers=None) -> Exception:
    """The forward failed in a measured pass, after the counting pass had run: a
    :class:`~torchcount.ForwardError` naming the module when a hooked pass failed (``hooked``),
    or the profiled method when it failed outside every module's forward. ``layers``: a graph's
    (``graph.LayerNames``), whose layers are named by their original types."""
    from ..profile import ForwardError, _error_text

    if path is not None:
        kind = layers.types.get(path) if layers is not None else None
        where = f"in module '{path or '(root)'}' ({kind or type(model.get_submodule(path)).__name__}): "
    elif not hooked:
        where = "(a pass without hooks, which did not fail again with hooks): "
    elif method is not None:
        where = f"in {method_text(type(model).__name__, method)}, outside any module's forward: "
    else:
        where = "outside any module's forward (in the root's own hooks): "
    hint = " (the measured passes run under torch.no_grad(): measure with no_grad=False)" \
        if "does not require grad" in str(exc) else ""
    return ForwardError(f"{'forward' if method is None else method} failed while measuring, after the counting "
                        f"pass and {passes_done} measuring pass(es) that completed (warm-up ones included), "
                        f"{where}{_error_text(exc)}{hint}", path, reason=_error_text(exc))


def details(report, path: str) -> dict:
    """The measurement details of one row: medians and quartiles, raw per-pass ``inclusive_ns`` /
    ``exclusive_ns``, FLOPs, bytes, dtype, peak used, achieved rates, bound and why, memory.
    ``path``: a module path, or the row's name as the table shows it (as :meth:`Report.row` takes it)."""
    per_layer = report.extra.get("per_layer")
    if per_layer is None:
        raise KeyError("this report was not measured: profile(..., measure=True)")
    if path in per_layer:
        return per_layer[path]
    try:  # a name as the table shows it, as report.row takes it: "(root)", "blk (self)"
        found = report.row(path).path
    except (KeyError, TypeError, AttributeError):
        found = None
    if found in per_layer:
        return per_layer[found]
    raise KeyError(f"no measured module '{path}'; measured paths are e.g. "
                   f"{', '.join(repr(p) for p in list(per_layer)[:5])}")


#: the footer says the CPUs were busy where the process's threads waited this share of the forward
#: for a CPU (summed over its threads) or more
CPU_WAIT_SHARE = 0.05
#: the "time by bound" line says its shares do not add up to 100 % where they are more than this many
#: points off (each row's share is of its median time: medians need not add up)
BOUND_SUM_GAP = 5.0
#: the "time by bound" line blames a mostly-overhead forward on Python and dispatch only where the overhead
#: rows' per-call floors are at least this share of their time (a row of 24 ms whose calls are 14 µs:
#: the time comes with its work, not its calls)
OVERHEAD_CALL_SHARE = 0.10
#: the footer names the forward's page faults where they take this share of its time or more
FAULT_FOOTER_SHARE = 0.02
#: ... and a row's reason or the footer only from this many (256 KiB written fresh): the interpreter's
#: own heap takes a few now and then, which in a call of a few µs would be a share
FAULTS_NAMED = 64
#: "time share ≫ FLOPs share" lists a row whose share of the forward's time exceeds its share of the FLOPs by
#: more than this many points ...
TIME_FLOPS_GAP = 1.0
#: ... and is at least this many times it: a block with 93 % of the time for 89 % of the FLOPs is in
#: proportion, not a layer slower than its work
TIME_FLOPS_RATIO = 1.25


def _usable_cpus() -> int:
    """The CPUs this process may run on (its affinity where the system says, else all of them)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _ms(ns: float) -> float:
    return ns / 1e6


def _call_units(rows) -> "tuple[dict, dict]":
    """Per path, the per-call floors a row's own time holds, and its whole time: one per call, or one
    per op it ran itself (each comes with a dispatch) where it ran more; its whole time adds those of
    every row below it in the module tree (a rule's covered children, a block's layers)."""
    own = {row.path: max(row.calls, row.own_ops) for row in rows}
    whole = dict(own)
    for path, units in own.items():
        while path:  # (each ancestor's time spans this row's calls)
            path = path.rpartition(".")[0]
            if path in whole:
                whole[path] += units
    return own, whole


def _fill(report, model, dev, dtype, device_peaks: Peaks, plain, passes, mem, memory, energy_result,
          warmup, repeat, row_dtypes: dict, floor_ns: "float | None", layouts: dict, faults: dict,
          fault_ns: "float | None", timed_faults: list, timed_waits: list) -> None:
    rows = list(report.layers)
    if report.root is not None and report.root not in rows:
        rows.append(report.root)
    modules = {p: m for p, m in model.named_modules()}
    plain_s = summarize(plain)
    wall_s = summarize([p.wall_ns for p in passes])
    root_s = summarize([p.root_ns for p in passes])
    leaf_s = summarize([p.leaf_ns for p in passes])
    total_flops = _FLOPS.ops(report.total.cost)
    shares = []
    per_layer: dict[str, dict] = {}
    timed = set().union(*(p.inclusive for p in passes))  # (a path called in any pass)
    own_peaks, peaks_by_path = _row_peaks(rows, modules, dev, dtype, device_peaks, row_dtypes)
    own_units, whole_units = _call_units(rows)
    if fault_ns is None:
        faults = {}

    def faults_of(path: str) -> "list | None":
        """[whole, own] page faults of a path's calls in one forward; a group (a ModuleList, no call of
        its own) holds those of the modules below it, as its time does; None for a path the
        floor-probing pass did not call, nor anything below it (a row called in only some passes)"""
        if path in faults:
            return faults[path]
        below = path + "." if path else ""
        inside = [f[1] for p, f in faults.items() if p.startswith(below)]
        return [sum(inside), 0] if inside else None
    # the rows' faults are those of one pass, the floor-probing one; where the timed passes took fewer
    # (the median of their forwards' faults), the allocator had more memory mapped in them, and the
    # rows' faults are priced at that share: a row's priced faults are never more than the timed
    # forwards took in all
    probed_total = sum(f[1] for f in faults.values())
    timed_median = statistics.median(timed_faults) if timed_faults else 0
    fault_scale = min(1.0, timed_median / probed_total) if probed_total else 1.0
    samples = {}  # path → (inclusive, exclusive) ns per pass, None in a pass that did not call it
    for row in rows:
        incl = [p.inclusive.get(row.path) for p in passes]
        if row.status in ("rule", "covered"):
            # a rule prices its module's own tree: calls made inside it to modules held elsewhere (a
            # child's forward hook calling one) are rows of their own, with their own time
            incl = [p.within.get(row.path, v) if v is not None else None for p, v in zip(passes, incl)]
        if row is report.root and all(v is not None for v in incl):
            # (modules its own hooks called are inside its work; a model priced whole by a rule: less
            # the calls made inside it that are rows of their own, as for any rule's row)
            incl = [p.within.get(row.path, p.root_ns) if row.status in ("rule", "covered") else p.root_ns
                    for p in passes]
        excl = [p.exclusive.get(row.path) for p in passes]
        if row.calls == 0 and row.path not in timed:  # a group (a ModuleList): the time of what is below it
            below = [m for m in timed if m.startswith(row.path + ".")]
            if below:  # own times summed: a member called from inside another is counted once
                incl = [sum(p.exclusive.get(m, 0.0) for m in below) for p in passes]
                excl = [0.0 for _ in passes]
        samples[row.path] = (incl, excl)
    # a row called in only some passes (a random path: stochastic depth, a router) has no median of
    # its time: it and the rows holding its time show the mean per pass over all passes, 0 in one
    # that did not call it (means add up, medians do not: a parent's median may hold none of it)
    partial = [row for row in rows if 0 < sum(v is not None for v in samples[row.path][0]) < len(passes)]
    averaged = {row.path for row in partial}
    for row in partial:
        path = row.path
        while path:
            path = path.rpartition(".")[0]
            averaged.add(path)
    # the measured forward (a rule-priced root's own row holds less: its within time)
    root_ns = _mean([p.root_ns for p in passes]) if report.root is not None and report.root.path in averaged \
        else root_s.median
    # the rows whose whole time holds work no formula counts (†: a row that ran it, and every row
    # above it): that time may be the uncounted work's, so no per-call floor can say it is slow
    uncounted_within = set()
    for u in report.uncounted:
        path = u.path
        while path not in uncounted_within:
            uncounted_within.add(path)
            if not path:
                break
            path = path.rpartition(".")[0]
    shown_self_ns = {}  # path → the own time its row shows
    by_bound: dict[str, float] = {}  # bound → the own time of the rows with that bound
    overhead_fault_ns = 0.0  # (CPU) the priced page faults in the own time of the overhead-bound rows
    overhead_call_ns = 0.0  # the per-call floors in the own time of the overhead-bound rows (each row's at most its time)
    for row in rows:
        incl, excl = samples[row.path]
        ran = sum(v is not None for v in incl)
        if ran == 0:
            status = "not timed (not called)" if row.calls == 0 and not row.members else \
                "not timed (not called in the measured passes)"
            per_layer[row.path] = {"status": status}
            continue
        mean = row.path in averaged
        called = [v for v in incl if v is not None]
        incl, excl = [0.0 if v is None else v for v in incl], [0.0 if v is None else v for v in excl]
        inc, exc = summarize(incl), summarize(excl)
        if mean:  # (the quartiles stay those of the per-pass values, 0 where not called)
            inc.median, exc.median = _mean(incl), _mean(excl)
        # a row called in some passes only: its rates are of the time it takes when it runs (its FLOPs
        # are of a pass that ran it, the counted one), the median over those passes
        when_called = summarize(called) if ran < len(passes) else inc
        own_when_called = summarize([e for e, v in zip(excl, samples[row.path][0]) if v is not None]) \
            if ran < len(passes) else exc
        shown_self_ns[row.path] = exc.median
        flops = _FLOPS.ops(row.cost)
        nbytes = row.cost.bytes
        module = modules.get(row.path, row.module)
        row_dtype = row_dtypes.get(row.path) or dtype
        peak_flops = peaks_by_path.get(row.path)
        # the fixed cost of the calls and ops a row's time spans; none for time that holds work no
        # formula counts, whose time may be that work's
        own_uncounted = row.status == "partial" or bool(row.uncounted_ops) or floor_ns is None
        floor_s = floor_ns / 1e9 if not own_uncounted and row.path not in uncounted_within else None
        # (on a CPU) what its calls spent on page faults, an estimate: faults × the probed price of one
        row_faults = faults_of(row.path) if fault_ns is not None else None
        # (and never more than the row's measured time: a count from that one pass above it was not
        # paid in the timed ones)
        fault_s = [min(n * fault_ns * fault_scale, t) / 1e9 for n, t in
                   zip(row_faults, (when_called.median, own_when_called.median))] \
            if row_faults is not None else [0.0, 0.0]
        fixed_s = whole_units[row.path] * floor_s + fault_s[0] if floor_s is not None else None
        verdict = classify(flops, nbytes, when_called.median / 1e9, peak_flops, device_peaks.bandwidth,
                           fixed_seconds=fixed_s,
                           fault_seconds=fault_s[0] if row_faults and row_faults[0] >= FAULTS_NAMED else None)
        # a module the counting pass did not call (a branch it skipped) but the timed passes did: its row has
        # no counted work, so its time has no rate, and no floor (no counted call) tells latency from
        # overhead: its bound is not known (it read "latency", a slow kernel, of a Linear never counted)
        not_counted = row.calls == 0 and not row.members
        if not_counted:
            verdict = _NOT_COUNTED
        why = verdict.why
        if verdict.bound == "unknown" and peak_flops is None and device_peaks.kind != "unknown":
            why = _unrated(row_dtype, own_peaks.get(row.path), device_peaks)  # (the peaks are known: not its dtype's)
        if verdict.bound == "invalid" and device_peaks.kind == "measured":
            why += " (a measured ceiling: the device's true peak may be higher)"
        m = mem.get(row.path, {})
        params_b, buffers_b = state_bytes(module) if module is not None else (0, 0)
        detail = {
            "inclusive_ms": _ms(inc.median), "inclusive_q1_ms": _ms(inc.q1), "inclusive_q3_ms": _ms(inc.q3),
            "exclusive_ms": _ms(exc.median), "exclusive_q1_ms": _ms(exc.q1), "exclusive_q3_ms": _ms(exc.q3),
            "inclusive_ns": incl, "exclusive_ns": excl, "flops": flops, "bytes": nbytes,
            "dtype": str(row_dtype).replace("torch.", ""), "peak_flops": peak_flops,
            "flops_per_s": verdict.flops_per_s, "bytes_per_s": verdict.bytes_per_s,
            "intensity": verdict.intensity, "pct_peak": verdict.pct_peak, "bound": verdict.bound,
            "why": why, "fixed_ms": fixed_s * 1e3 if fixed_s is not None else None,
            "page_faults": row_faults[0] if row_faults is not None else None,
            "fault_ms": fault_s[0] * 1e3 if row_faults is not None else None,
            "input_layout": layouts.get(row.path),
            "act_bytes": m.get("act_bytes"), "own_act_bytes": m.get("own_act_bytes"),
            "param_bytes": params_b,
            "buffer_bytes": buffers_b,
            "time_stat": "mean" if mean else "median",
        }
        if ran < len(passes):
            detail.update({
                "status": f"called in {ran} of {len(passes)} measured passes"
                          + (", not in the counted one" if row.calls == 0 else "")
                          + f": time is the mean per pass over all {len(passes)}, 0 where not called",
                "passes_called": ran,
                "called_inclusive_ms": _ms(when_called.median), "called_exclusive_ms": _ms(own_when_called.median)})
        ex = row.extra
        ex["time_ms"] = _ms(inc.median)
        ex["self_ms"] = _ms(exc.median)
        ex["spread_ms"] = _ms(inc.spread)
        ex["time%"] = 100 * inc.median / root_ns if root_ns > 0 else None
        ex["GFLOP/s"], ex["%peak"] = _rates(verdict, flops)
        ex["AI"] = verdict.intensity
        ex["bound"] = verdict.bound
        ex["act_MiB"] = m["act_bytes"] / MiB if m.get("act_bytes") is not None else None
        ex["param_MiB"] = (params_b + buffers_b) / MiB
        if memory["kind"] == "cuda" and m.get("peak") is not None:
            ex["peak_MiB"] = m["peak"] / MiB
            detail["peak_allocated"] = m["peak"]
            detail["allocated_at_entry"] = m.get("at_entry")
        # the same columns for the module's own work, shown where its children are rows of their
        # own: self time, and the rates and bound of its self cost over that time
        self_flops = _FLOPS.ops(row.self_cost)
        # a rule prices the whole module, its children's work included (their rows are 'covered',
        # 0 FLOPs): its rates are that cost over the time of everything it ran
        rate_ns = (when_called if row.status == "rule" else own_when_called).median
        own_faults = (row_faults[0] if row.status == "rule" else row_faults[1]) if row_faults else 0
        if row.status == "rule":  # (its own time is its whole time)
            own_fixed, own_fault_s = fixed_s, fault_s[0]
        else:
            own_fixed = own_units[row.path] * floor_ns / 1e9 + fault_s[1] if not own_uncounted else None
            own_fault_s = fault_s[1]
        own = classify(self_flops, row.self_cost.bytes, rate_ns / 1e9,
                       peak_flops if row.status == "rule" else own_peaks.get(row.path), device_peaks.bandwidth,
                       fixed_seconds=own_fixed, fault_seconds=own_fault_s if own_faults >= FAULTS_NAMED else None)
        if not_counted:
            own = _NOT_COUNTED
        own_state = sum(state_bytes(module, recurse=False)) if module is not None else 0
        own_gflops, own_pct_peak = _rates(own, self_flops)
        row.self_extra = {**(row.self_extra or {}),
                          "time_ms": ex["self_ms"], "spread_ms": _ms(exc.spread),
                          "time%": 100 * exc.median / root_ns if root_ns > 0 else None,
                          "GFLOP/s": own_gflops, "%peak": own_pct_peak,
                          "AI": own.intensity, "bound": own.bound,
                          # the new storages among its outputs that no call inside it returned
                          "act_MiB": m["own_act_bytes"] / MiB if m.get("own_act_bytes") is not None else None,
                          "param_MiB": own_state / MiB,
                          "peak_MiB": None}  # a peak while it ran includes its children's
        # (the bound and reason of its own part, which its "(self)" row shows: explain quotes them)
        detail["own_bound"], detail["own_why"] = own.bound, own.why
        per_layer[row.path] = detail
        # time share vs FLOPs share: both partition the root. A rule's row takes its whole time
        # (its FLOPs include its children's), and the children it covers are not compared (0 FLOPs
        # by design, their time is the rule's)
        # (a row called in some passes only is not compared: its FLOPs are of one pass, its time a mean)
        if row.status != "covered":  # (the same partition of the root's time)
            # a row called in k of n passes adds its mean per pass over all n, as its row shows (the
            # root's time is then a mean too: means add up); its bound is that of its work when it runs,
            # and its priced faults and call floors, those of a pass that ran it, count k/n times
            called_share = ran / len(passes)
            by_bound[own.bound] = by_bound.get(own.bound, 0.0) + (inc if row.status == "rule" else exc).median
            if own.bound == "overhead" and own_faults >= FAULTS_NAMED:
                overhead_fault_ns += own_fault_s * 1e9 * called_share
            if own.bound == "overhead" and own_fixed is not None:
                overhead_call_ns += min(max(own_fixed - own_fault_s, 0.0) * 1e9, rate_ns) * called_share
        if root_ns > 0 and total_flops > 0 and row.status != "covered" and ran == len(passes) and not not_counted:
            shares.append((100 * rate_ns / root_ns - 100 * self_flops / total_flops,
                           row, 100 * rate_ns / root_ns, 100 * self_flops / total_flops))

    root = report.root
    if root is not None and report.layers and report.layers[0] is not root and (root.self_extra or {}).get("time_ms"):
        # time the root spends itself (Python between its children, a method's own loop) needs its
        # "(self)" row, as its own work does (count.summarize): the time column adds up to the total
        root.index = 0
        report.layers.insert(0, root)
    shares.sort(key=lambda s: s[0], reverse=True)
    time_vs_flops = [{"path": r.name, "type": r.type, "time_share": t, "flops_share": f}
                     for d, r, t, f in shares if d > TIME_FLOPS_GAP and t >= TIME_FLOPS_RATIO * f][:5]
    # the share of the hooked forward's time spent inside leaf modules (both from the same passes:
    # a share, at most 1; the hooks' own cost is in the overhead figure)
    coverage = leaf_s.median / root_s.median if root_s.median > 0 else None
    # the counting coverage is a share of items; this is its measured counterpart: the own time of
    # the rows that ran something with no formula (an upper bound: their other own work is in it)
    uncounted_paths = {u.path for u in report.uncounted}
    uncounted_ns = sum(shown_self_ns.get(path, 0.0) for path in uncounted_paths)
    uncounted_share = uncounted_ns / root_s.median if root_s.median > 0 else None
    overhead = wall_s.median / plain_s.median if plain_s.median > 0 else None
    label = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU ({torch.get_num_threads()} thread{'s' if torch.get_num_threads() != 1 else ''})"
    extra = report.extra
    extra.update({
        "device": str(dev), "device_name": label, "dtype": str(dtype).replace("torch.", ""),
        "warmup": warmup, "repeat": repeat, "peaks": device_peaks.as_dict(),
        "plain_ms": _ms(plain_s.median), "plain_spread_ms": _ms(plain_s.spread),
        "instrumented_ms": _ms(wall_s.median), "overhead": overhead, "call_floor_us": floor_ns / 1e3 if floor_ns is not None else None,
        # (CPU) the page faults of a timed forward (median, and the fewest and most over the passes),
        # those of the module calls of the floor-probing pass (the rows' figures), the price of one
        "page_faults": statistics.median(timed_faults) if fault_ns is not None and timed_faults else None,
        "page_faults_range": [min(timed_faults), max(timed_faults)] if fault_ns is not None and timed_faults
        else None,
        "page_faults_probed": probed_total if fault_ns is not None else None,
        "fault_cost_us": fault_ns / 1e3 if fault_ns is not None else None,
        # the time the process's threads waited for a CPU during a timed forward, all threads together
        # (median, fewest and most; None where the system does not say), and the CPUs it may use
        "cpu_wait_ms": _ms(statistics.median(timed_waits)) if timed_waits else None,
        "cpu_wait_range_ms": [_ms(min(timed_waits)), _ms(max(timed_waits))] if timed_waits else None,
        "cpus": _usable_cpus(),
        "time_coverage": coverage,
        "root_ms": _ms(root_s.median), "leaf_ms": _ms(leaf_s.median),
        "uncounted_ms": _ms(uncounted_ns), "uncounted_time_share": uncounted_share,
        "time_ms": _ms(root_ns), "time%": 100.0,
        "memory": memory, "time_vs_flops": time_vs_flops, "per_layer": per_layer,
        # % of the forward's time in rows of each bound (each row's own time and own work's bound)
        "time_by_bound": {b: 100 * ns / root_ns for b, ns in sorted(by_bound.items(), key=lambda kv: -kv[1])
                          if ns > 0} if root_ns > 0 else {},
        # the page faults' price in the overhead-bound rows' time, % of the forward (CPU; "its time is
        # about all page faults"): the footer blames faults, not Python, where they are most of it
        "overhead_fault%": 100 * overhead_fault_ns / root_ns if root_ns > 0 and fault_ns is not None else None,
        # the per-call floors in the overhead-bound rows' time, % of the forward (None where no floor was
        # probed, or an overhead row's time holds uncounted work): the footer blames Python and dispatch
        # only where they are a good part of that time
        "overhead_call%": 100 * overhead_call_ns / root_ns if root_ns > 0 and floor_ns is not None
        and not uncounted_within else None,
        "energy": energy_result if energy_result is not None else {"status": "not requested"},
    })
    extra["footer"] = list(extra.get("footer", [])) + _footer(extra, device_peaks, report.method, bool(report.uncounted),
                                                             varied=bool(partial))
    if partial:
        extra["footer"].append(_averaged_note(partial, averaged - {r.path for r in partial}, per_layer, len(passes)))


#: the verdict of a row the counting pass did not call, timed in the measured passes
_NOT_COUNTED = Verdict(None, None, None, None, "unknown",
                       "not called in the counted pass: its work was not counted, so its time has no rate and no "
                       "bound (the rows holding it have its time, not its FLOPs)")


def _unrated(dtype: torch.dtype, own_peak: "float | None", peaks: Peaks) -> str:
    """Why a row with FLOPs has no bound though the device's peaks are known: its dtype has no rated
    peak there (float64; bfloat16 on a GPU without it), or a row below it has none."""
    if own_peak is not None:
        return "a row below it computes in a dtype with no rated peak, so its work has no rate to be held to"
    hint = "; ceiling=True (CLI: --ceiling) measures one" if dtype in _CEILING_DTYPES and peaks.kind != "measured" \
        else ""
    return (f"no {str(dtype).replace('torch.', '')} peak is rated for {peaks.name} (rated: float32, TF32, "
            f"bfloat16, float16, where the device has them){hint}")


def _mean(values: list) -> float:
    """The mean per pass, 0 in a pass that did not call the module (None)."""
    return sum(v for v in values if v is not None) / len(values)


def _averaged_note(partial: list, holding: set, per_layer: dict, n: int) -> str:
    """The footer line naming the rows whose time is a mean (see :func:`_fill`)."""
    def names(paths, most):
        paths = list(paths)
        return ", ".join(f"'{p or '(root)'}'" for p in paths[:most]) + (" …" if len(paths) > most else "")

    called = ", ".join(f"'{r.name}' ({per_layer[r.path]['passes_called']} of {n})" for r in partial[:3]) + \
        (" …" if len(partial) > 3 else "")
    return (f"called in only some of the measured passes: {called}; their time is the mean per pass over all "
            f"{n} passes (0 where not called), and so is that of the rows holding it ({names(sorted(holding), 4)}): "
            f"means add up, medians do not; details() keeps each one's median over the passes it ran "
            f"(called_inclusive_ms)")


def _rates(verdict, flops: int) -> "tuple[float | None, float | None]":
    """A row's ``GFLOP/s`` and ``%peak`` (a percentage: 12.3 for 12.3 %): None where it did no FLOPs,
    and where the rate is above the device's peak (bound "invalid"), which is no fact to export or
    average; the table prints "invalid" there, details() keeps the figure and why."""
    if verdict.bound == "invalid" or not flops:
        return None, None
    return (verdict.flops_per_s / 1e9 if verdict.flops_per_s is not None else None), verdict.pct_peak


def _mib(n) -> str:
    return "unknown" if n is None else f"{n / MiB:,.1f} MiB"


def _ratio(x) -> str:
    # None when a median time was 0 (CUDA events around a forward that ran no GPU work)
    return "unknown (a median time of 0)" if x is None else f"×{x:.2f}"


def _share(x, digits: int = 0) -> str:
    return "unknown (a median time of 0)" if x is None else f"{x:.{digits}%}"


def _tf32_part(extra: dict, peaks: Peaks, label: str) -> str:
    """For a float32 model on a GPU whose TF32 switches are on: the TF32 peak its contractions of
    that kind are rated against (``_row_peaks``), so that a convolution's % of peak is not read
    against the FP32 figure (on an H200, 495 TFLOP/s, not 67)."""
    device = str(extra.get("device", ""))
    if label != "FP32" or not peaks.tf32 or not device.startswith("cuda"):
        return ""
    dev = torch.device(device)
    kinds = [name for name, on in (("convolutions", uses_tf32(dev, conv=True)),
                                   ("recurrent layers", uses_tf32(dev, rnn=True)),
                                   ("matmuls", uses_tf32(dev))) if on]
    if not kinds:
        return ""
    return f" (float32 {', '.join(kinds)}: TF32, on, {peaks.tf32 / 1e12:.3g} TFLOP/s)"


def _footer(extra: dict, peaks: Peaks, method: "str | None" = None, uncounted: bool = False,
            varied: bool = False) -> list[str]:
    """The summary lines under the table; ``varied``: some rows ran in only some of the timed passes."""
    lines = [
        f"measured on {extra['device_name']}, {extra['dtype']}: median of {extra['repeat']} "
        f"pass{'' if extra['repeat'] == 1 else 'es'} after "
        f"{extra['warmup']} warm-up; {'forward' if method is None else f'{method} call'} without hooks "
        f"{extra['plain_ms']:.3f} ms "
        f"(IQR {extra['plain_spread_ms']:.3f}), with timing stamps {extra['instrumented_ms']:.3f} ms → "
        f"overhead {_ratio(extra['overhead'])}"
        + (" (layers ran in only some passes: the passes with and without stamps may have taken different "
           "paths, so this ratio may compare different work)" if varied else
           (" (below 1: with no warm-up the first pass without hooks was the model's first call, cold; or "
            "run-to-run noise)" if extra["warmup"] == 0 else " (below 1: run-to-run noise)")
           if extra["overhead"] is not None and extra["overhead"] < 1 else "")
        + f"; coverage {_share(extra['time_coverage'])} (Σ leaf exclusive ÷ the instrumented "
        f"{'forward' if method is None else 'call'}; the "
        f"rest is time outside any leaf: containers' own work, in their '(self)' rows, such as functional "
        f"attention or residual adds, and the Python between layers)",
    ]
    waited, root_ms = extra.get("cpu_wait_ms"), extra.get("root_ms") or 0
    if waited is not None and root_ms and waited >= CPU_WAIT_SHARE * root_ms:
        low, high = extra.get("cpu_wait_range_ms") or (waited, waited)
        threads, cpus = torch.get_num_threads(), extra.get("cpus")
        # (a CPU's kernels run on torch's threads; more of them than CPUs wait for each other, idle machine or not)
        over = cpus is not None and threads > cpus and str(extra.get("device", "cpu")).startswith("cpu")
        cause = (f"torch runs {threads} threads on the {cpus} CPUs this process may use, so they wait for each "
                 f"other (and for any other process)" if over else
                 f"more threads wanted to run than the {cpus if cpus is not None else '?'} CPUs it may use: "
                 f"other processes', or its own besides torch's")
        lines.append(f"busy CPUs: this process's threads waited {waited:.3g} ms for a CPU per "
                     f"{'forward' if method is None else 'call'} (median of the timed passes, {low:.3g}–{high:.3g}; "
                     f"{waited / root_ms:.0%} of it, its threads summed): {cause}. Its times hold that waiting, "
                     f"and a layer slowed by it reads latency or overhead"
                     + (" (or invalid: a ceiling measured meanwhile was slowed too)" if peaks.kind == "measured" else "")
                     + ("; measure again with torch.set_num_threads({}) or fewer, the machine idle".format(cpus)
                        if over else "; measure again with the machine idle"))
    if uncounted:
        lines.append(f"rows with uncounted work (†): {extra['uncounted_ms']:.3f} ms of their own time, "
                     f"{_share(extra['uncounted_time_share'], 1)} of the measured "
                     f"{'forward' if method is None else 'call'} (an upper bound on what has no formula)")
    if peaks.kind == "unknown":
        lines.append(f"peaks: unknown for {peaks.name} — {peaks.source}; %peak and bound not given")
    else:
        # the peak of the model's dtype (a bfloat16 model is judged against BF16's)
        dtype = getattr(torch, str(extra.get("dtype")), torch.float32)
        label = {torch.bfloat16: "BF16", torch.float16: "FP16"}.get(dtype, "FP32")
        flops = peaks.flops_for(dtype) if label != "FP32" else None
        if flops is None:
            label, flops = "FP32", peaks.flops_for(torch.float32)
        # (a float64 model's rows are rated against no peak: the FP32 one would read as theirs)
        rated = dtype in _CEILING_DTYPES
        lines.append(f"peaks ({peaks.kind}): {peaks.name}" + (
            f", {label} {flops / 1e12:.3g} TFLOP/s" if flops and rated else "") + (
            "" if rated else f", no {extra.get('dtype')} peak (its rows get no %peak)") +
            (_tf32_part(extra, peaks, label) if rated else "") + (
            f", {peaks.bandwidth / 1e9:.4g} GB/s" if peaks.bandwidth else "") + f" — {peaks.source}")
    mem = extra["memory"]
    if mem["kind"] == "cuda":
        lines.append(f"memory: peak allocated during the pass {_mib(mem['pass_peak_allocated'])} "
                     f"({_mib(mem['allocated_before'])} allocated before it); peak_MiB per layer is the "
                     "peak allocated while it ran")
    else:
        since = "this run (peak mark reset before it)" if mem["peak_rss_reset"] else "the process's start"
        lines.append(f"memory: peak resident set size of the whole process since {since}: "
                     f"{_mib(mem['peak_rss'])} (CPU: no per-layer figure)")
    e = extra["energy"]
    if e.get("status") == "measured":  # (each energy pass is one call of the method profiled)
        per = "forward" if method is None else f"{method} call"
        lines.append(f"energy: {e['J_per_forward']:.4g} J per {per} ({e['source']}, {e['passes']} passes in "
                     f"{e['seconds']:.2f} s, {e['watts']:.0f} W); CO₂e {e['CO2e_g_per_forward'] * 1e3:.4g} mg "
                     f"per {per} at {e['grid_intensity_g_per_kWh']:g} g/kWh")
    elif e.get("status") == "unavailable":
        lines.append(f"energy: unavailable — {e['why']}")
    faults, probed, fault_us = extra.get("page_faults"), extra.get("page_faults_probed"), extra.get("fault_cost_us")
    root_ms = extra.get("root_ms") or 0
    per = "forward" if method is None else "call"
    by_bound = extra.get("time_by_bound") or {}
    if by_bound and peaks.kind != "unknown":  # (unknown peaks: every row's bound is "unknown", said above)
        floor = extra.get("call_floor_us")
        line = ("time by bound (each row's own time" + (f"; a module call costs {floor:.3g} µs doing next to "
                                                          "nothing" if floor is not None else "") + "): " + ", ".join(
                    f"{b} {max(share, 1):.0f}%" for b, share in by_bound.items() if share >= 0.5))  # (0.5 → 1%)
        if by_bound.get("latency", 0) >= 50:
            line += (" — mostly latency: kernels run far below the device's rates, and neither their "
                     "arithmetic, their traffic nor the cost of their calls explains it (a kernel without "
                     "a fast path for this layout, dtype or device; small sequential steps); see the "
                     "latency rows' 'why' (torchcount.measure.details)")
        elif by_bound.get("overhead", 0) >= 50:
            line += (" — launch-bound: the GPU waits on the host (Python, dispatch, kernel launches), so "
                     "per-layer times are mostly launches; a larger batch, CUDA graphs or torch.compile "
                     "would show the kernels" if str(extra.get("device", "")).startswith("cuda") else
                     f" — mostly overhead, page faults about {extra['overhead_fault%']:.0f}% of the {per} "
                     "(below): memory fresh from the system takes the time, not the arithmetic or the traffic"
                     if (extra.get("overhead_fault%") or 0) >= by_bound["overhead"] / 2 else
                     f" — mostly overhead, though the overhead rows' calls (a module call's floor each) are only about "
                     f"{extra['overhead_call%']:.1f}% of the {per}"
                     + (f" and its priced page faults about {extra['overhead_fault%']:.0f}% (a probed price, "
                        "which errs low)" if extra.get("overhead_fault%") else "")
                     + ": the time comes with the work, not with its arithmetic, its traffic or its calls "
                     "(fresh memory's page faults, the allocator, a library's set-up, caches); see the "
                     "overhead rows' 'why' (torchcount.measure.details)"
                     if extra.get("overhead_call%") is not None
                     and extra["overhead_call%"] < OVERHEAD_CALL_SHARE * by_bound["overhead"] else
                     " — mostly overhead: Python and dispatch outweigh the arithmetic and the traffic; "
                     "a larger input would show the kernels")
        summed = sum(by_bound.values())
        if not varied and abs(summed - 100) > BOUND_SUM_GAP:  # (as by_type's footer says of its groups)
            line += (f"; these shares add up to {summed:.0f}% of the {per}, not 100%: each row's time is a median "
                     "over the passes, and medians need not add up (each pass's own times do); a busy CPU, which "
                     "slows some passes, widens the gap")
        lines.append(line)
    if fault_us and root_ms and (faults or 0) >= FAULTS_NAMED \
            and faults * fault_us / 1e3 >= FAULT_FOOTER_SHARE * root_ms:
        low, high = extra.get("page_faults_range") or (faults, faults)
        priced = faults * fault_us / 1e3
        # (the price is one probe's, and a busy machine slows it: never more than the forward, as a row's
        # priced faults are never more than its time)
        cost = (f"about {priced:.3g} ms at {fault_us:.2g} µs each ({priced / root_ms:.0%} of the {per})"
                if priced <= root_ms else
                f"about all of the {per}'s {root_ms:.3g} ms (at the {fault_us:.2g} µs a fault probed, "
                f"{priced:.3g} ms: more than the {per}, so that price is too high here)")
        lines.append(f"page faults: {faults:,.0f} per {per} (median of the timed passes"
                     + (f"; {low:,}–{high:,}" if low != high else "") + f"), {cost}: tensors "
                     "land in memory the allocator took fresh from the system, mapped page by page as it is first "
                     "written; a caching allocator keeps freed memory mapped (jemalloc or tcmalloc, preloaded); "
                     f"per row as the floor-probing pass took them ({probed:,} in all): "
                     "details(report, path)['page_faults']")
    if extra["time_vs_flops"]:
        lines.append("time share ≫ FLOPs share (self): " + "; ".join(
            f"{t['path']} ({t['type']}) {t['time_share']:.1f}% of time for {t['flops_share']:.1f}% of FLOPs"
            for t in extra["time_vs_flops"][:3]))
    return lines
