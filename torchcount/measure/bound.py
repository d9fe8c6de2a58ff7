"""Theory beside measurement: achieved rate, share of peak, arithmetic intensity and the bound.

Roofline reasoning (Williams, Waterman & Patterson, CACM 2009) with the "overhead" class of
He, *Making Deep Learning Go Brrrr From First Principles* (2022):

- ideal compute time  ``t_c = FLOPs / peak_flops``; ideal memory time ``t_m = bytes / peak_bandwidth``;
- the roofline time ``t_ideal = max(t_c, t_m)`` is the least the layer could take on this device;
- if the measured time is more than ``1 / overhead_threshold`` times ``t_ideal`` (default 10×), neither
  arithmetic nor memory traffic explains it. Then the per-call floor says why: the time of a stamped
  module call that does next to nothing, measured in the model's forward after each of its calls
  (``timing.floor_probes``). Counted once for each call the row's time spans, or for each op a row
  ran itself where it ran more (each comes with a dispatch), it gives the row's fixed cost; on a CPU
  that adds the page faults its calls took on memory fresh from the system, each at the price
  ``timing.fault_cost_ns`` probes (what comes with a large tensor, whatever the layer computes). The
  bound is then decided on the time besides the faults, and the reason names them.
  - Where that is under ``LATENCY_FIXED_SHARE`` of the time (5 %: more than 20 floors per call, since
    a real layer's call may cost a few) and the roofline time is at least that fixed cost, the
    layer's own kernels run far below the device's rates (a kernel without a fast path for this
    layout, dtype or device; small sequential steps that wait on each other): **latency-bound**, the
    name Nsight Compute gives a kernel that reaches neither roof.
  - A row with less work than its fixed cost (none at all: the Python between layers) spends its
    time on what comes with the work, not on its arithmetic or traffic: a library's set-up, Python in
    its forward, the allocator, caches as the layer before left them (on a CPU the first op after a
    large convolution took 30–420 µs, the next ones 6 µs). It is **overhead-bound**, as is a row
    whose fixed cost is a larger share of its time (launch, dispatch, Python: the time comes with
    the calls);
- otherwise it is **compute-bound** when ``t_c ≥ t_m`` (arithmetic intensity at or above the ridge point
  ``peak_flops / peak_bandwidth``) and **memory-bound** when not.

A measured FLOP/s above the peak (beyond a 5% tolerance for clock boost and timer resolution)
cannot be true: the row is marked **invalid** and its rate is not shown as a fact. The usual causes
are a FLOP count that overstates the kernel's work (an algorithmic shortcut such as Winograd/FFT
convolution, or work skipped) or a timing that missed asynchronous work. Bytes/s above the peak
bandwidth, with the FLOP/s within its peak, are real: the layer's data stayed in cache (a small
layer's weights and activations in L2/L3), so memory bandwidth does not bound it: **cache**, its
rate shown.
"""
from __future__ import annotations

from dataclasses import dataclass

#: a rate up to 5% above the datasheet peak is tolerated (boost clocks, timer resolution)
ABOVE_PEAK_TOLERANCE = 1.05
#: a layer whose roofline time is less than this fraction of its time is overhead- or latency-bound
OVERHEAD_THRESHOLD = 0.10
#: ... or latency-bound, where its calls' fixed cost is also less than this fraction of its time. The
#: floor is the cheapest call there is (one element-wise op); a layer's call may cost a few floors
#: (an op with more to set up, such as a BLAS call; two or three ops in one module), hence 20 floors
#: per call before the kernel is blamed
LATENCY_FIXED_SHARE = 0.05


@dataclass(frozen=True)
class Verdict:
    flops_per_s: float | None  # achieved, None if no time
    bytes_per_s: float | None
    intensity: float | None  # FLOPs / byte
    pct_peak: float | None  # achieved FLOP/s as % of the peak FLOP/s
    bound: str  # "compute", "memory", "overhead", "latency", "cache", "invalid", "unknown"
    why: str


def classify(flops: float, nbytes: float, seconds: float, peak_flops: float | None,
             peak_bandwidth: float | None, overhead_threshold: float = OVERHEAD_THRESHOLD,
             fixed_seconds: float | None = None, fault_seconds: float | None = None) -> Verdict:
    """Classify one measured layer. ``seconds`` is its measured time; peaks may be ``None`` (unknown).
    ``fixed_seconds``: what its calls cost whatever they compute (the per-call floor, once per call or
    per op it ran itself, and its page faults); without it a layer far below its roofline is
    overhead-bound. ``fault_seconds``: the part of that cost spent on page faults on memory fresh from
    the system (CPU). The bound is that of the time besides the faults, which come with fresh memory,
    not with the layer's kernels or calls: a slow kernel that also faults is latency-bound, not
    overhead-bound. The rates are of the whole time, and so are the invalid and cache bounds: a rate
    above a peak that only taking the faults out gives is the estimate's. A row whose priced faults
    are all its time is overhead, unless its work alone needs a tenth of it (compute- or memory-bound
    on the whole time), which its bound then stays. The reason names the faults where they take a
    tenth of the time or more."""
    whole = _classify(flops, nbytes, seconds, peak_flops, peak_bandwidth, overhead_threshold, fixed_seconds)
    faults = min(fault_seconds or 0.0, seconds or 0.0)
    if not faults or whole.bound in ("invalid", "cache", "unknown"):  # (about the rates: the whole time's)
        verdict = whole
    elif faults >= seconds:
        # (a row whose work needs a tenth of its time at the device's rates cannot have spent all of it
        # on faults: the price, an estimate, is too high, and the whole time's bound stands)
        verdict = whole if whole.bound in ("compute", "memory") else \
            Verdict(whole.flops_per_s, whole.bytes_per_s, whole.intensity, whole.pct_peak, "overhead",
                    "its time is about all page faults")
    else:
        rest = _classify(flops, nbytes, seconds - faults, peak_flops, peak_bandwidth, overhead_threshold,
                         max(fixed_seconds - faults, 0.0) if fixed_seconds is not None else None,
                         " besides page faults")
        # (a rate above the peak, FLOP/s or bytes/s, from the faults' estimate alone is the estimate's,
        # not the layer's: neither invalid nor cache)
        verdict = whole if rest.bound in ("invalid", "cache") else \
            Verdict(whole.flops_per_s, whole.bytes_per_s, whole.intensity, whole.pct_peak, rest.bound, rest.why)
    if faults and seconds and faults >= FAULT_SHARE * seconds and verdict.bound != "invalid":
        return Verdict(verdict.flops_per_s, verdict.bytes_per_s, verdict.intensity, verdict.pct_peak,
                       verdict.bound, verdict.why + "; " + _faults_part(faults, seconds))
    return verdict


#: page faults are named in a layer's reason where they take this share of its time or more
FAULT_SHARE = 0.10


def _faults_part(fault_seconds: float, seconds: float) -> str:
    return (f"page faults take about {_duration(fault_seconds)} of its {_duration(seconds)} "
            f"({fault_seconds / seconds:.0%}): its tensors land in memory the allocator took fresh from the "
            "system, mapped page by page as it is first written (a caching allocator keeps freed memory "
            "mapped: jemalloc or tcmalloc, preloaded)")


def _classify(flops, nbytes, seconds, peak_flops, peak_bandwidth, overhead_threshold, fixed_seconds,
              besides: str = "") -> Verdict:
    """The bound of ``seconds``; ``besides`` names what was taken out of the measured time, in the
    reason that quotes it (a rate above a peak is only ever judged on the whole time: ``classify``)."""
    if flops < 0 or nbytes < 0:
        raise ValueError(f"flops and bytes must be non-negative, got {flops}, {nbytes}")
    intensity = flops / nbytes if nbytes > 0 else None
    if seconds is None or seconds <= 0:
        return Verdict(None, None, intensity, None, "unknown", "no measured time")
    rate = flops / seconds
    bw = nbytes / seconds
    pct = 100.0 * rate / peak_flops if peak_flops else None
    if peak_flops and rate > peak_flops * ABOVE_PEAK_TOLERANCE:
        return Verdict(rate, bw, intensity, pct, "invalid",
                       f"{rate / 1e12:.3g} TFLOP/s is above the peak {peak_flops / 1e12:.3g} TFLOP/s")
    if peak_bandwidth and bw > peak_bandwidth * ABOVE_PEAK_TOLERANCE:
        return Verdict(rate, bw, intensity, pct, "cache",
                       f"{bw / 1e9:.3g} GB/s is above the memory's peak {peak_bandwidth / 1e9:.3g} GB/s: its data "
                       f"came from cache, so memory bandwidth does not bound it")
    if not peak_flops or not peak_bandwidth:
        return Verdict(rate, bw, intensity, pct, "unknown", "device peaks unknown (use ceiling=True; CLI: --ceiling)")
    t_c = flops / peak_flops
    t_m = nbytes / peak_bandwidth
    ideal = max(t_c, t_m)
    if ideal < overhead_threshold * seconds:
        why = f"roofline time {_duration(ideal)} is {ideal / seconds:.1%} of the measured {_duration(seconds)}{besides}"
        if fixed_seconds is None:
            return Verdict(rate, bw, intensity, pct, "overhead", why)
        why += f"; its calls' fixed cost {_duration(fixed_seconds)} is {fixed_seconds / seconds:.1%}"
        if fixed_seconds >= LATENCY_FIXED_SHARE * seconds:
            return Verdict(rate, bw, intensity, pct, "overhead", why)
        if ideal < fixed_seconds:  # (also: no counted work at all)
            return Verdict(rate, bw, intensity, pct, "overhead",
                           why + ", and its work needs less than that: at this size the time goes to what comes "
                           "with the work (a library's set-up, Python in its forward, the allocator, caches as "
                           "the layer before left them), not to its arithmetic or traffic")
        return Verdict(rate, bw, intensity, pct, "latency",
                       why + ": neither explains the time, its kernels run far below the device's rates")
    if t_c >= t_m:
        return Verdict(rate, bw, intensity, pct, "compute",
                       f"intensity {intensity:.3g} FLOP/B ≥ ridge {peak_flops / peak_bandwidth:.3g}"
                       if intensity is not None else "no memory traffic")
    return Verdict(rate, bw, intensity, pct, "memory",
                   f"intensity {intensity:.3g} FLOP/B < ridge {peak_flops / peak_bandwidth:.3g}")


def _duration(seconds: float) -> str:
    """A time as people write it: µs below a millisecond, ms above (3.55 ms, not 3.55e+03 µs)."""
    return f"{seconds * 1e3:.3g} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.3g} µs"
