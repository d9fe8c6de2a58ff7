"""Energy per forward pass from a hardware energy counter, and its CO₂e.

NVIDIA GPUs (Volta and later) expose a cumulative board energy counter through NVML
(``nvmlDeviceGetTotalEnergyConsumption``, millijoules; package ``nvidia-ml-py``). The forward is
run in a loop of at least ``min_seconds`` (default 1 s, well above the counter's update period),
the counter is read before and after, and the difference is divided by the number of passes.
It is the whole board's energy, idle power included, during the loop.

On a CPU under Linux, RAPL's cumulative energy counters (``/sys/class/powercap/intel-rapl:*``,
microjoules; Intel since Sandy Bridge, and AMD's Zen CPUs on recent kernels through the same driver) are read the same
way: every CPU package and its DRAM zone where it has one, summed. It is the whole packages'
energy, other processes' and idle power included. Recent kernels let only root read them.

Where there is no counter — RAPL absent or unreadable, a GPU older than Volta, NVML missing — the
result is ``{"status": "unavailable", "why": ...}``: never 0.

CO₂e = energy [kWh] × grid intensity [g CO₂e/kWh]. The default intensity is the world average
of electricity generation in 2023, 480 g/kWh (Ember, *Global Electricity Review 2024*); pass
``grid_intensity=`` for your grid.
"""
from __future__ import annotations

import math
import os
import sys
import time
from typing import Callable

import torch

#: g CO₂e per kWh: world average 2023 (Ember, Global Electricity Review 2024)
DEFAULT_GRID_INTENSITY = 480.0
J_PER_KWH = 3.6e6


def unavailable(why: str) -> dict:
    return {"status": "unavailable", "why": why}


def co2e_grams(joules: float, grid_intensity: float) -> float:
    """Grams of CO₂e for ``joules`` of electricity at ``grid_intensity`` g/kWh."""
    return joules / J_PER_KWH * grid_intensity


def _nvml_handle(device: torch.device):
    import pynvml  # nvidia-ml-py

    pynvml.nvmlInit()
    index = device.index if device.index is not None else torch.cuda.current_device()
    props = torch.cuda.get_device_properties(index)
    bus = getattr(props, "pci_bus_id", None)
    if bus is not None:  # CUDA and NVML may number devices differently (CUDA_VISIBLE_DEVICES)
        domain = getattr(props, "pci_domain_id", 0)
        dev = getattr(props, "pci_device_id", 0)
        try:
            return pynvml, pynvml.nvmlDeviceGetHandleByPciBusId(f"{domain:08X}:{bus:02X}:{dev:02X}.0".encode())
        except Exception:  # NVMLError, or a binding that wants str: fall back to the index
            pass
    return pynvml, pynvml.nvmlDeviceGetHandleByIndex(_nvml_index(index))


def _nvml_index(index: int) -> int:
    """NVML's index of CUDA device ``index``: NVML numbers every GPU of the machine, CUDA only those
    CUDA_VISIBLE_DEVICES shows (``CUDA_VISIBLE_DEVICES=2,3``: cuda:1 is NVML's 3). Where torch
    cannot map it (a private helper of torch.cuda's, present from 2.2 on), the CUDA index."""
    to_nvml = getattr(torch.cuda, "_get_nvml_device_index", None)
    if to_nvml is not None:
        try:
            return int(to_nvml(index))
        except Exception:  # (UUIDs in CUDA_VISIBLE_DEVICES that NVML cannot list, …)
            pass
    return index


def measure_energy(run_once: Callable[[], None], device: torch.device, seconds_per_pass: float,
                   grid_intensity: float = DEFAULT_GRID_INTENSITY, min_seconds: float = 1.0) -> dict:
    """Joules per call of ``run_once`` (one forward) on ``device``, over a loop of ≥ ``min_seconds``."""
    if grid_intensity < 0:
        raise ValueError(f"grid_intensity must be ≥ 0 g/kWh, got {grid_intensity}")
    if device.type == "cpu":
        return _measure_rapl(run_once, seconds_per_pass, grid_intensity, min_seconds)
    if device.type != "cuda":
        return unavailable(f"no energy counter for {device.type} (NVIDIA GPUs via NVML and CPUs via RAPL "
                           f"are read)")
    try:
        pynvml, handle = _nvml_handle(device)
    except ImportError:
        return unavailable("nvidia-ml-py is not installed (pip install nvidia-ml-py)")
    except Exception as exc:  # NVML library missing, driver too old, …
        return unavailable(f"NVML unavailable: {exc}")
    try:
        pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
    except Exception as exc:
        return unavailable(f"this GPU has no NVML energy counter ({exc}); it needs Volta or later")
    torch.cuda.synchronize(device)
    start_mj = pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
    passes, elapsed = _run_for(run_once, lambda: torch.cuda.synchronize(device), seconds_per_pass, min_seconds)
    end_mj = pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
    joules = (end_mj - start_mj) / 1000.0
    if joules <= 0:
        return unavailable(f"the NVML energy counter did not advance over {elapsed:.2f} s")
    return _measured("NVML total energy counter (whole board)", joules, passes, elapsed, grid_intensity)


def _run_for(run_once: Callable[[], None], sync: Callable[[], None], seconds_per_pass: float,
             min_seconds: float) -> tuple[int, float]:
    """Run ``run_once`` for at least ``min_seconds``: (passes, seconds)."""
    n = max(1, math.ceil(min_seconds / max(seconds_per_pass, 1e-6)))
    passes = 0
    t0 = time.perf_counter()
    while True:
        for _ in range(n):
            run_once()
        passes += n
        sync()
        elapsed = time.perf_counter() - t0
        if elapsed >= min_seconds:
            return passes, elapsed
        n = max(1, math.ceil(n * (min_seconds - elapsed) / max(elapsed, 1e-6)))


def _measured(source: str, joules: float, passes: int, elapsed: float, grid_intensity: float) -> dict:
    per_pass = joules / passes
    return {
        "status": "measured", "source": source,
        "passes": passes, "seconds": elapsed, "joules": joules, "watts": joules / elapsed,
        "J_per_forward": per_pass, "grid_intensity_g_per_kWh": grid_intensity,
        "CO2e_g_per_forward": co2e_grams(per_pass, grid_intensity),
    }


#: Linux's power-capping tree, where the RAPL driver (``intel_rapl``, which serves AMD's too) puts its
#: counters: a zone per CPU package, ``intel-rapl:<package>``, with sub-zones ``intel-rapl:<package>:<k>``
POWERCAP = "/sys/class/powercap"


def _read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def rapl_zones(root: "str | None" = None) -> list[tuple[str, str, int]]:
    """``(name, energy file, wrap-around range in µJ)`` of each zone whose energy a forward is charged:
    each package, and its DRAM sub-zone where it has one (the core and uncore sub-zones are parts of
    the package's; ``psys``, a laptop's whole platform, would count the packages again)."""
    root = POWERCAP if root is None else root
    zones = []
    try:
        entries = sorted(os.listdir(root))
    except OSError:
        return zones
    for entry in entries:
        parts = entry.split(":")
        if parts[0] != "intel-rapl" or len(parts) not in (2, 3):  # (intel-rapl-mmio repeats a package)
            continue
        path = os.path.join(root, entry)
        try:
            name = _read(os.path.join(path, "name"))
        except OSError:
            continue
        if (len(parts) == 2 and name.startswith("package")) or (len(parts) == 3 and name == "dram"):
            label = name if len(parts) == 2 else f"dram of intel-rapl:{parts[1]}"
            try:
                wrap = int(_read(os.path.join(path, "max_energy_range_uj")))
            except (OSError, ValueError):
                wrap = 0
            zones.append((label, os.path.join(path, "energy_uj"), wrap))
    return zones


def _measure_rapl(run_once: Callable[[], None], seconds_per_pass: float, grid_intensity: float,
                  min_seconds: float) -> dict:
    zones = rapl_zones()
    if not zones and not os.path.isdir(POWERCAP):
        return unavailable(f"no RAPL energy counter: {POWERCAP} does not exist (not Linux, or a container or "
                           f"virtual machine that does not expose it)")
    if not zones:
        return unavailable(f"no RAPL energy counter: no CPU package zone (intel-rapl:N) in {POWERCAP} (a virtual "
                           f"machine, a CPU without RAPL, or the intel_rapl driver not loaded)")
    try:
        start = [int(_read(energy)) for _, energy, _ in zones]
    except PermissionError:
        return unavailable(f"the RAPL energy counters ({zones[0][1]}) are readable only by root on this system "
                           f"(run as root, or make energy_uj readable)")
    except (OSError, ValueError) as exc:
        return unavailable(f"the RAPL energy counters could not be read ({exc})")
    passes, elapsed = _run_for(run_once, lambda: None, seconds_per_pass, min_seconds)
    end = [int(_read(energy)) for _, energy, _ in zones]
    # a counter wraps around at its range (every ~60 s to hours, depending on the CPU)
    microjoules = sum(b - a if b >= a else b + wrap - a for a, b, (_, _, wrap) in zip(start, end, zones))
    joules = microjoules / 1e6
    if joules <= 0:
        return unavailable(f"the RAPL energy counters did not advance over {elapsed:.2f} s")
    names = ", ".join(name for name, _, _ in zones)
    return _measured(f"RAPL energy counters ({names}; whole CPU packages)", joules, passes, elapsed,
                     grid_intensity)


def layer_energy(model, named: list, paths: list, run_pass: Callable[[], None], device: torch.device,
                 seconds_per_call: dict, grid_intensity: float = DEFAULT_GRID_INTENSITY,
                 min_seconds: float = 1.0) -> dict:
    """Joules per call of each layer in ``paths``, each replayed on its own: one pass (``run_pass``)
    keeps a copy of the inputs of each one's first call (``input_shapes_differ``: how many input shapes
    its calls in the pass had, where more than one), made before the call and as ``profile``
    copies the model's inputs (keyword arguments included, a tensor given twice one copy, its
    ``requires_grad`` kept, an input object such as a KV cache deep-copied), then each is called again
    and again on that copy for ≥ ``min_seconds`` against the energy counter (``measure_energy``). A
    counter reads the whole board or package, so a layer's figure is that of the time it runs, idle
    power included: a layer alone, not beside its neighbours in the pass (the caches it finds differ).

    A layer that changes its inputs (a tensor written in place, an input object it may change) gets a
    fresh copy of them at each call, so that every call computes what the first did, not on what the
    previous call left (``x.mul_(0.5)`` would reach denormals, a cache would grow); the copying is then
    measured alone on the same counter and taken off (``copy_J_per_call``).

    Returns path → ``measure_energy``'s dict (with ``J_per_call`` for ``J_per_forward``), or
    ``{"status": "unavailable"|"failed", "why": ...}`` for a layer that could not be replayed."""
    from torch.utils._pytree import tree_leaves

    from ..capture import autocast_on, fresh_autocast_region, own_forwards, restore_forwards
    from ..profile import _InputObjects, _protect_inputs
    from .hooks import per_module_hooks

    wanted = set(paths)
    pending: dict = {}  # path → (the copied args, kwargs, objects copied, tensor versions) of the call in progress
    kept: dict = {}  # path → (module, args, kwargs, whether the call changed its inputs) of its first call

    shapes: dict = {}  # path → the input shapes and dtypes of each of its calls in the pass

    def versions(args, kwargs) -> list:
        return [t._version for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]

    def hooks_for(path: str):
        def pre(module, args, kwargs):
            shapes.setdefault(path, set()).add(tuple((tuple(t.shape), t.dtype) for t in tree_leaves((args, kwargs))
                                                     if isinstance(t, torch.Tensor)))
            if path not in kept and path not in pending:  # (before the call: an in-place layer changes its input)
                objects = _InputObjects(model)
                args_copy, kwargs_copy = _protect_inputs(args, kwargs, objects)
                # (and the exception being handled as it starts: a call made in an except block)
                pending[path] = (args_copy, kwargs_copy, bool(objects), versions(args, kwargs), sys.exc_info()[1])

        def post(module, args, kwargs, output):
            entry = pending.pop(path, None) if path not in kept else None
            if entry is None:
                return
            args_copy, kwargs_copy, objects, before, outer = entry
            # a call that raised gets output None with a new exception being handled; a layer that
            # returns None (one that writes its result into a tensor it is given) was called all the same
            if output is None and sys.exc_info()[1] not in (None, outer):
                return
            kept[path] = (module, args_copy, kwargs_copy, objects or versions(args, kwargs) != before)
        return pre, post

    # each layer's forwards as found (the passes start from them): a forward that sets ``self.forward`` to a
    # fast path at its first call would otherwise have every replay after the first run that path
    found = {p: own_forwards(m.modules()) for p, m in named if p in wanted}
    with per_module_hooks(model, hooks_for, with_kwargs=True, modules=[(p, m) for p, m in named if p in wanted]):
        run_pass()
    results = {}
    for path in paths:
        if path not in kept:
            results[path] = {"status": "failed", "why": "not called in the pass that keeps the layers' inputs"}
            continue
        module, args, kwargs, changes = kept[path]
        objects = _InputObjects(model)

        def fresh(args=args, kwargs=kwargs, objects=objects) -> tuple:
            objects.tensors, objects.names = {}, []  # (each call its own copies)
            return _protect_inputs(args, kwargs, objects)

        # under autocast each call starts a fresh region, as each timed pass does: it casts its weights as
        # there, where one region would cast them at the first call and reuse the copies after
        new_region = fresh_autocast_region if autocast_on() else (lambda: None)
        as_found = found[path]
        if changes:
            def call(module=module, fresh=fresh, new_region=new_region, as_found=as_found) -> None:
                new_region()
                restore_forwards(as_found)
                a, k = fresh()
                module(*a, **k)
        else:
            def call(module=module, args=args, kwargs=kwargs, new_region=new_region, as_found=as_found) -> None:
                new_region()
                restore_forwards(as_found)
                module(*args, **kwargs)
        seconds = seconds_per_call.get(path, 1e-3)
        try:
            got = measure_energy(call, device, seconds, grid_intensity, min_seconds)
            copying = measure_energy(fresh, device, seconds, grid_intensity, min_seconds) \
                if changes and got.get("status") == "measured" else None
        except Exception as exc:  # (a layer that needs its neighbours' state, a cache the pass filled …)
            results[path] = {"status": "failed", "why": f"{type(exc).__name__}: {exc}"}
            continue
        if got.get("status") == "measured":
            got["J_per_call"] = got.pop("J_per_forward")
            got.pop("CO2e_g_per_forward", None)
            if copying is not None:
                # (a counter that did not advance over the copying alone read no energy for it)
                copy_j = copying["J_per_forward"] if copying.get("status") == "measured" else 0.0
                got["inputs_copied_each_call"] = True
                got["copy_J_per_call"] = copy_j
                got["J_per_call"] -= copy_j
                if got["J_per_call"] <= 0:
                    got = unavailable(f"its energy per call was not above that of copying its inputs afresh, which "
                                      f"it changes ({copy_j * 1e3:.4g} mJ): below what the counter resolves")
            if got.get("status") == "measured":
                got["CO2e_g_per_call"] = co2e_grams(got["J_per_call"], grid_intensity)
        if len(shapes.get(path, ())) > 1:  # (a generate's prefill, then a token a step: the first call's is not theirs)
            got["input_shapes_differ"] = len(shapes[path])
        results[path] = got  # (unavailable without a counter: each layer's call says so at once, running nothing)
    return results
