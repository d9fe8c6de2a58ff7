"""Measured cost on CUDA: events in hooks, one synchronisation per pass, per-module peak memory,
datasheet peaks, energy. Skipped cleanly without a CUDA device."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import torchcount
from torchcount.measure import details

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def _model():
    return nn.Sequential(nn.Linear(256, 4096), nn.ReLU(), nn.Linear(4096, 4096), nn.ReLU(),
                         nn.Linear(4096, 16)).cuda()


def test_one_synchronisation_per_instrumented_pass(monkeypatch):
    from torchcount.measure.timing import CudaClock, analyse_pass, timing_hooks

    model = _model()
    x = torch.randn(64, 256, device="cuda")
    clock = CudaClock(torch.device("cuda"))
    calls = []
    real = torch.cuda.synchronize
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a, **k: (calls.append(1), real(*a, **k)))
    with torch.no_grad(), timing_hooks(model, clock) as hooks:
        for _ in range(3):
            hooks.reset()
            clock.start_pass()
            s = clock.stamp()
            model(x)
            e = clock.stamp()
            stamps = clock.finish_pass()
            t = analyse_pass(hooks.calls, stamps, stamps[e] - stamps[s])
            assert t.inclusive["2"] > 0
    assert len(calls) == 3  # one per pass, none inside hooks
    assert len(clock._pool) == 2 + 2 * 6  # events reused across passes: 2 outer + 2 per module call


def test_cuda_profile_measures_time_memory_and_peaks():
    model = _model()
    r = torchcount.profile(model, torch.randn(64, 256, device="cuda"), measure=True, warmup=2, repeat=5)
    big = r.row("2")
    assert big.extra["time_ms"] > 0 and big.extra["time_ms"] >= big.extra["self_ms"]
    # the 4096×4096 Linear has 2·64·4096² ≈ 2.1 GFLOP, ≥ 100× more than every other layer
    leaves = [r.row(p) for p in ("0", "1", "2", "3", "4")]
    assert max(leaves, key=lambda row: row.extra["time_ms"]).path == "2"
    # peak allocated while Linear "2" ran is at least its weights (64 MiB) plus its 64×4096 output
    assert details(r, big.path)["peak_allocated"] >= 4096 * 4096 * 4 + 64 * 4096 * 4
    assert r.extra["memory"]["pass_peak_allocated"] >= details(r, big.path)["peak_allocated"]
    assert r.extra["device"].startswith("cuda")
    if r.extra["peaks"]["kind"] == "datasheet":
        assert big.extra["bound"] in ("compute", "memory", "overhead")
    for row in leaves:
        assert row.extra["bound"] != "invalid", details(r, row.path)["why"]


def test_cuda_energy_is_measured_or_unavailable_never_zero():
    model = _model()
    r = torchcount.profile(model, torch.randn(64, 256, device="cuda"), measure=True, warmup=1, repeat=3,
                           energy=True, energy_seconds=1.0)
    e = r.extra["energy"]
    if e["status"] == "measured":
        assert e["seconds"] >= 1.0 and e["J_per_forward"] > 0 and e["watts"] > 10
    else:
        assert e["status"] == "unavailable" and e["why"]


@pytest.mark.skipif(torch.cuda.is_available() and torch.cuda.get_device_capability()[0] < 8,
                    reason="TF32 needs Ampere or later")
def test_cuda_ceiling_measures_fp32_and_tf32_apart():
    """The float32 ceiling took the faster of a matmul (FP32 by default) and a convolution (TF32 by
    default) as both the FP32 and the TF32 rate, holding FP32 layers to a TF32 ceiling. Dense TF32 is
    ≥ 7× FP32 on A100/H100/H200 datasheets; 2× leaves room for a busy device. The user's TF32
    switches come back as they were."""
    from torchcount.measure.ceiling import _compute_rates, _tf32, _timer, measure_ceiling

    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    got = measure_ceiling(torch.device("cuda"), torch.float32, n=4096, copy_bytes=1 << 28, repeat=3)
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before
    assert got.tf32 > got.fp32 and "TF32 on" in got.source, got.source
    # the matmuls alone (a Winograd FP32 convolution could count more FLOPs than it runs): TF32 ≫ FP32
    dev = torch.device("cuda")
    with _tf32(False):
        fp32_mm = _compute_rates(dev, torch.float32, 4096, 3, _timer(dev))[0]
    with _tf32(True):
        tf32_mm = _compute_rates(dev, torch.float32, 4096, 3, _timer(dev))[0]
    assert tf32_mm > 2 * fp32_mm, (tf32_mm, fp32_mm)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA devices")
def test_cuda_times_a_model_on_a_device_that_is_not_the_current_one():
    """Events were recorded on the current device's stream: a model on cuda:1 while cuda:0 is
    current was timed by host launch intervals. The 4096×4096 Linear must still dominate."""
    model = _model().to("cuda:1")
    assert torch.cuda.current_device() == 0
    r = torchcount.profile(model, torch.randn(64, 256, device="cuda:1"), measure=True, warmup=2, repeat=5)
    leaves = [r.row(p) for p in ("0", "1", "2", "3", "4")]
    assert max(leaves, key=lambda row: row.extra["time_ms"]).path == "2"
    assert r.extra["device"] == "cuda:1"


def test_cuda_measured_generation_times_each_generate_call():
    """profile(method="generate") on CUDA: each measured pass is one generate call (its forwards
    inside it), the root's own time is generate's loop, and the counts are the CPU's."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from test_method import ToyLM

    torch.manual_seed(0)
    model = ToyLM().cuda()
    ids = torch.zeros(1, 4, dtype=torch.long, device="cuda")
    report = torchcount.profile(model, ids, method="generate", measure=True, warmup=1, repeat=3, warn=False)
    cpu = torchcount.profile(ToyLM(), ids.cpu(), method="generate", warn=False)
    assert report.total.cost.macs == cpu.total.cost.macs and report.forward_calls == 3
    root = report.root.extra
    assert root["time_ms"] >= root["self_ms"] >= 0 and root["time_ms"] >= report.row("head").extra["time_ms"] > 0


@pytest.mark.skipif(not torch.cuda.is_available() or torch.cuda.get_device_capability()[0] < 8,
                    reason="TF32 needs Ampere or later")
def test_an_exported_convolution_is_held_to_the_tf32_peak_as_the_eager_one():
    """With cuDNN's TF32 switch on (torch's default), a float32 Conv2d row is held to the device's TF32 peak,
    in the eager model and in its torch.export program (whose layer is held by a plain nn.Module)."""
    from torchcount.measure import peaks_for

    if not hasattr(torch, "export"):
        pytest.skip("no torch.export")
    before = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = True
    try:
        model = nn.Sequential(nn.Conv2d(16, 16, 3), nn.Flatten()).cuda().eval()
        x = torch.randn(8, 16, 32, 32, device="cuda")
        eager = torchcount.profile(model, x, measure=True, warmup=1, repeat=2)
        exported = torchcount.profile(torch.export.export(model, (x,)).module(), x, measure=True, warmup=1, repeat=2)
    finally:
        torch.backends.cudnn.allow_tf32 = before
    tf32 = peaks_for(torch.device("cuda")).tf32
    if tf32 is None:
        pytest.skip(f"no TF32 peak listed for {torch.cuda.get_device_name()}")
    assert details(eager, "0")["peak_flops"] == details(exported, "0")["peak_flops"] == tf32
