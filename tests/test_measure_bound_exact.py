"""measure/bound.py's classify on made-up inputs: each bound and reason follows by hand from the FLOPs,
bytes, time and peaks given (t_c = FLOPs / peak, t_m = bytes / bandwidth, the 10 % roofline threshold,
the 5 % fixed-cost share, the 5 % tolerance above a peak). Each test was written to fail on a mutant
of torchcount/measure/bound.py that the other tests let pass."""
from __future__ import annotations

import pytest

from torchcount.measure import classify

#: 100 TFLOP/s and 1 TB/s: the ridge point at 100 FLOP/B
P, BW = 100e12, 1e12


def test_a_row_without_a_measured_time_is_unknown_also_with_page_faults_priced():
    """No time (None: a row no pass timed; 0 or less: no time to divide by) gives no rates and no
    bound: "unknown", "no measured time", also with page faults priced, which cannot be a share of a
    time there is none of."""
    for seconds in (None, 0, 0.0, -1e-6):
        for faults in (None, 1e-3):
            v = classify(1e6, 1e6, seconds, P, BW, fixed_seconds=1e-6, fault_seconds=faults)
            assert (v.flops_per_s, v.bytes_per_s, v.pct_peak, v.bound, v.why) == (
                None, None, None, "unknown", "no measured time"), (seconds, faults)
            assert v.intensity == 1.0  # (1e6 FLOPs over 1e6 bytes: no time needed)


def test_negative_flops_or_bytes_are_refused_and_one_byte_has_an_intensity():
    """A negative count is refused, FLOPs or bytes alone: ValueError naming both. The intensity is FLOPs
    per byte from the first byte: 8 FLOPs over 1 byte is 8 FLOP/B; over no bytes there is none (None),
    and a row that moves no bytes but computes is compute-bound, "no memory traffic"."""
    for flops, nbytes in ((-1, 0), (0, -1), (-1, 5), (5, -1), (-2, -3)):
        with pytest.raises(ValueError, match=f"flops and bytes must be non-negative, got {flops}, {nbytes}"):
            classify(flops, nbytes, 1e-3, P, BW)
    assert classify(8, 1, 1e-3, P, BW).intensity == 8.0
    assert classify(0, 0, 1e-3, P, BW).intensity is None
    v = classify(1e9, 0, 0.02, P, BW)  # t_c = 10 µs of 20 ms: 0.05 %, overhead
    assert v.intensity is None and v.bound == "overhead"
    v = classify(1e12, 0, 0.02, P, BW)  # t_c = 10 ms of 20 ms
    assert (v.intensity, v.bound, v.why) == (None, "compute", "no memory traffic")


def test_a_cache_or_unknown_bound_stands_when_faults_are_priced_at_all_of_the_time():
    """The cache and unknown bounds are of the whole time, faults or not. 1 MFLOP and 10 GB in 5 ms is
    2 TB/s, twice the 1 TB/s peak: cache, also with faults priced at all 5 ms (not overhead, "its time
    is about all page faults"). Without the device's peaks, 1 GFLOP and 1 GB in 2 ms with 2 ms of faults
    priced is unknown, and the reason names the faults: 2 ms of 2 ms, 100 %."""
    v = classify(1e6, 1e10, 0.005, P, BW, fixed_seconds=0.005, fault_seconds=0.005)
    assert v.bound == "cache" and v.why.startswith("2e+03 GB/s is above the memory's peak 1e+03 GB/s")
    assert v.bytes_per_s == pytest.approx(2e12)
    v = classify(1e9, 1e9, 0.002, None, None, fixed_seconds=0.002, fault_seconds=0.002)
    assert v.bound == "unknown"
    assert v.why.startswith("device peaks unknown (use ceiling=True; CLI: --ceiling); "
                            "page faults take about 2 ms of its 2 ms (100%)")


def test_a_memory_bound_row_keeps_its_bound_when_faults_are_priced_at_all_of_its_time():
    """1 GB of traffic at 1 TB/s needs 1 ms of a measured 2 ms: memory-bound (t_m = 1 ms ≫ t_c = 10 µs,
    intensity 1 FLOP/B under the ridge 100). With faults priced at all 2 ms the price is too high (the
    work alone needs half the time): the bound stays memory, not overhead, and the reason adds the
    faults, 2 ms of 2 ms (100 %). A row that needs 1 µs of 100 µs (1 %) with faults priced at all
    100 µs is overhead, for that reason."""
    v = classify(1e9, 1e9, 0.002, P, BW, fixed_seconds=0.002, fault_seconds=0.002)
    assert v.bound == "memory"
    assert v.why.startswith("intensity 1 FLOP/B < ridge 100; page faults take about 2 ms of its 2 ms (100%)")
    v = classify(1e6, 1e6, 1e-4, P, BW, fixed_seconds=101e-6, fault_seconds=1e-4)
    assert v.bound == "overhead"
    assert v.why.startswith("its time is about all page faults; page faults take about 100 µs of its 100 µs (100%): "
                            "its tensors land in memory the allocator took fresh from the system")


def test_a_roofline_time_above_a_tenth_of_the_measured_time_is_not_overhead():
    """OVERHEAD_THRESHOLD = 0.10: 1 GB at 1 TB/s needs 1 ms; measured in 8 ms that is 12.5 %, above a
    tenth: memory-bound, not overhead; measured in 12.5 ms it is 8 %, under a tenth: overhead, the reason
    quoting 8.0 % of 12.5 ms. Exactly a tenth (1 ms of 10 ms, 0.1 · 0.01 = 0.001 in binary too) is
    not under it: memory."""
    assert classify(1e9, 1e9, 0.008, P, BW).bound == "memory"
    v = classify(1e9, 1e9, 0.0125, P, BW)
    assert v.bound == "overhead" and v.why == "roofline time 1 ms is 8.0% of the measured 12.5 ms"
    assert 0.1 * 0.01 == 0.001 and classify(1e9, 1e9, 0.01, P, BW).bound == "memory"


def test_a_verdict_is_frozen():
    """Verdict is a frozen dataclass: a verdict handed to a report cannot be changed afterwards, and two
    equal verdicts hash alike."""
    import dataclasses

    v = classify(1e9, 1e9, 0.002, P, BW)
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.bound = "compute"
    assert hash(v) == hash(classify(1e9, 1e9, 0.002, P, BW))


def test_an_invalid_rate_is_reasoned_on_the_rate_alone_whatever_the_faults():
    """1 TFLOP in 5 ms is 200 TFLOP/s, twice the 100 TFLOP/s peak: invalid, the reason giving the rate
    and the peak and nothing else, even with faults priced at all 5 ms (the faults are no part of a
    count that overstates the work or a timing that missed some)."""
    for faults in (None, 0.001, 0.005):
        v = classify(1e12, 1e6, 0.005, P, BW, fixed_seconds=0.005, fault_seconds=faults)
        assert v.bound == "invalid" and v.why == "200 TFLOP/s is above the peak 100 TFLOP/s", faults
        assert v.flops_per_s == pytest.approx(2e14) and v.pct_peak == pytest.approx(200)


def test_one_peak_unknown_leaves_the_bound_unknown_with_the_rates_of_the_time():
    """A bound needs both peaks. 1 GFLOP and 1 GB in 2 ms: 0.5 TFLOP/s and 0.5 TB/s, below either peak
    known; with the bandwidth unknown (or 0, as unknown) or the FLOP/s peak unknown, the bound is
    unknown, its reason the device's peaks, and the share of peak is there only where the FLOP/s peak
    is: 0.5 of 100 TFLOP/s, 0.5 %."""
    for peak, bw in ((P, None), (P, 0.0), (None, BW), (0.0, BW), (None, None)):
        v = classify(1e9, 1e9, 0.002, peak, bw)
        assert v.bound == "unknown" and v.why == "device peaks unknown (use ceiling=True; CLI: --ceiling)", (peak, bw)
        assert v.flops_per_s == pytest.approx(5e11) and v.bytes_per_s == pytest.approx(5e11)
        assert v.pct_peak == (pytest.approx(0.5) if peak else None)


def test_a_row_at_the_ridge_point_is_compute_bound():
    """t_c ≥ t_m is compute-bound: 100 GFLOP and 1 GB have 100 FLOP/B, the ridge point of 100 TFLOP/s
    over 1 TB/s, and need 1 ms each (1e11 / 1e14 = 1e9 / 1e12 = 0.001 in binary too); in 2 ms that is
    compute-bound, "intensity 100 FLOP/B ≥ ridge 100"."""
    assert 1e11 / P == 1e9 / BW == 0.001
    v = classify(1e11, 1e9, 0.002, P, BW)
    assert v.bound == "compute" and v.why == "intensity 100 FLOP/B ≥ ridge 100"
