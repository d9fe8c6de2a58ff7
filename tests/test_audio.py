"""Audio front ends (issue 3, spec §4): the seed-000 mel graph (STFT as two Conv1d) and
torchaudio's FFT-based transforms, against closed forms."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from torchcount.cost import OP_CATEGORIES

from conftest import Fn, needs, run

torchaudio = pytest.importorskip("torchaudio")

N_FFT, HOP, N_MELS, BINS = 512, 256, 32, 257


class ConvMel(nn.Module):
    """The seed-000 graph: real and imaginary DFT bases as Conv1d (257 kernels of width 512),
    squares (Pow), a sum (Add) and a 257×32 mel filterbank (MatMul)."""

    def __init__(self):
        super().__init__()
        self.real = nn.Conv1d(1, BINS, N_FFT, stride=HOP, bias=False)
        self.imag = nn.Conv1d(1, BINS, N_FFT, stride=HOP, bias=False)
        self.register_buffer("mel", torch.rand(BINS, N_MELS))

    def forward(self, x):
        power = self.real(x) ** 2 + self.imag(x) ** 2      # (1, 257, frames)
        return power.transpose(1, 2) @ self.mel            # (1, frames, 32)


def frames_of(samples: int) -> int:
    return (samples - N_FFT) // HOP + 1


@pytest.mark.parametrize("frames", [1, 10])
def test_seed_000_multiplications_per_frame(frames):
    samples = N_FFT + (frames - 1) * HOP
    report = run(ConvMel(), torch.randn(1, 1, samples), convention="mults")
    assert report.complete, report.uncounted
    per_frame = 2 * 257 * 512 + 2 * 257 + 257 * 32
    assert per_frame == 271_906
    assert report.total.flops == 271_906 * frames
    # not the source's 4,734,336, which it gives as 257·512·36 (= 4,737,024; spec §4 names the slip)
    assert report.total.flops != 4_734_336 * frames


def test_melspectrogram_closed_form():
    samples = 16000
    frames = 1 + samples // HOP  # center=True: n_fft/2 reflection padding on each side
    t = torchaudio.transforms.MelSpectrogram(sample_rate=16000, n_fft=N_FFT, n_mels=N_MELS)
    report = run(t, torch.randn(1, samples))
    assert report.complete, report.uncounted
    c = report.total.cost
    window = frames * N_FFT
    fft_mults, fft_adds = frames * N_FFT * 9, frames * N_FFT * 9 * 3 // 2   # real FFT, N·log2 N = 512·9
    magnitude = BINS * frames                                               # |z| = √(re² + im²), then ²
    assert c.mults == window + fft_mults + 2 * magnitude + magnitude
    assert c.adds == fft_adds + magnitude
    assert c.transc == magnitude
    assert c.macs == frames * BINS * N_MELS                                  # the mel matmul


def test_fft_lines_write_the_factors_their_formula_names():
    # the real FFT's multiplications are transforms·N·log2 N: its line wrote "63×1×512×log2(512)",
    # a factor 1 the formula does not have, which reads as 63 transforms of batch 1
    samples = 16000
    frames = 1 + samples // HOP
    text = run(torchaudio.transforms.MelSpectrogram(n_fft=N_FFT, n_mels=N_MELS), torch.randn(1, samples),
               convention="mults").explain("spectrogram")
    assert (f"transforms·N·log2 N = {frames}×{N_FFT}×log2({N_FFT}) = {frames * N_FFT * 9:,}") in text
    assert (f"transforms·1.5·N·log2 N = {frames}×1.5×{N_FFT}×log2({N_FFT}) = {frames * N_FFT * 9 * 3 // 2:,}") in text
    # a complex FFT: transforms·2·N·log2 N and transforms·3·N·log2 N, factors written
    text = run(Fn(torch.fft.fft), torch.randn(3, 8, dtype=torch.complex64)).explain("")
    assert "transforms·2·N·log2 N = 3×2×8×log2(8) = 144" in text
    assert "transforms·3·N·log2 N = 3×3×8×log2(8) = 216" in text


def test_conv_graph_costs_far_more_than_the_fft():
    samples = 16000
    frames_conv = frames_of(samples + N_FFT)  # the same 63 frames once padded like center=True
    conv = run(ConvMel(), torch.randn(1, 1, samples + N_FFT), convention="mults").total.flops
    fft = run(torchaudio.transforms.MelSpectrogram(n_fft=N_FFT, n_mels=N_MELS), torch.randn(1, samples),
              convention="mults").total.flops
    assert frames_conv == 1 + samples // HOP
    assert conv == 271_906 * frames_conv
    assert conv > 15 * fft  # a direct DFT is O(N²) per frame, an FFT O(N log N)


def test_mfcc_and_amplitude_to_db():
    elements = N_MELS * 63
    db = run(torchaudio.transforms.AmplitudeToDB(top_db=80), torch.rand(1, N_MELS, 63)).total.cost
    # clamp(min) 1 cmp + 1 assign, log10, ×10, − ref, amax over all (n − 1 cmps), max(x, top) 1 cmp
    assert db.transc == elements and db.mults == elements
    assert db.cmps == elements + (elements - 1) + elements
    mfcc = run(torchaudio.transforms.MFCC(sample_rate=16000, n_mfcc=13,
                                          melkwargs={"n_fft": N_FFT, "n_mels": N_MELS}), torch.randn(1, 16000))
    assert mfcc.complete, mfcc.uncounted
    assert mfcc.total.macs == 63 * BINS * N_MELS + 63 * N_MELS * 13  # mel matmul + DCT matmul


@pytest.mark.parametrize("make", [
    lambda: torchaudio.transforms.MelSpectrogram(n_fft=N_FFT, n_mels=N_MELS),
    lambda: torchaudio.transforms.MFCC(n_mfcc=13, melkwargs={"n_fft": N_FFT, "n_mels": N_MELS}),
    lambda: torchaudio.transforms.Spectrogram(n_fft=400, power=None),
    lambda: torchaudio.transforms.Resample(16000, 8000),
    lambda: torchaudio.transforms.Preemphasis(),
    # (torchaudio 2.2's lfilter loop dispatches no op on CPU, while meta runs its Python form)
    pytest.param(lambda: torchaudio.transforms.Deemphasis(), marks=needs("torchaudio's lfilter loop as a dispatched op")),
])
def test_same_counts_on_meta_and_under_no_grad(make):
    t = make()
    x = torch.randn(2, 8000)
    base = run(t, x)
    assert base.complete, base.uncounted
    meta = run(make().to("meta"), x.to("meta"))
    with torch.no_grad():
        nograd = run(t, x)
    for c in OP_CATEGORIES:
        assert getattr(meta.total.cost, c) == getattr(base.total.cost, c) == getattr(nograd.total.cost, c)


def test_example_script_prints_both_forms():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, str(root / "examples" / "melspectrogram.py")], cwd=root,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    # 271,906 per frame × 63 frames; the FFT form: 63·(512 + 512·9 + 3·257) + 63·257·32
    fft_form = 63 * (512 + 512 * 9 + 3 * 257) + 63 * 257 * 32
    for text in ["271,906", f"{271_906 * 63:,}", f"{fft_form:,}", "4,734,336"]:
        assert text in result.stdout, result.stdout[-2000:]


@needs("torchaudio's lfilter loop as a dispatched op")
def test_iir_filter_loop_and_phase_ops():
    # lfilter = a grouped conv1d (the b coefficients) then torchaudio's recursive loop (the a
    # coefficients): per sample and channel n_order MACs each, the loop's subtraction, and the
    # default clamp to [−1, 1] (2 comparisons, 1 assignment). The loop was uncounted.
    channels, samples = 2, 1000
    b_coeffs, a_coeffs = torch.tensor([0.5, 0.3, 0.2]), torch.tensor([1.0, -0.4, 0.1])

    class Filter(nn.Module):
        def forward(self, x):
            return torchaudio.functional.lfilter(x, a_coeffs, b_coeffs)

    report = run(Filter(), torch.randn(channels, samples))
    assert report.complete
    n = channels * samples
    cost = report.total.cost
    assert cost.macs == n * 3 + n * 3  # the FIR conv and the IIR loop, order 3 each
    assert cost.adds == n  # the loop's subtractions
    assert (cost.cmps, cost.assigns) == (2 * n, n)  # the clamp
    # TimeStretch's phase vocoder: angle and polar of the complex spectrogram (were uncounted)
    stretch = nn.Sequential(torchaudio.transforms.Spectrogram(n_fft=64, power=None),
                            torchaudio.transforms.TimeStretch(n_freq=33, fixed_rate=1.2))
    assert run(stretch, torch.randn(1, 2000)).complete


def test_inverse_spectrogram_resample_and_deltas_closed_forms():
    import math

    n_fft, hop, frames, samples = 400, 160, 101, 16000
    spec = torchaudio.transforms.Spectrogram(n_fft=n_fft, hop_length=hop, power=None)(torch.randn(1, samples))
    report = run(torchaudio.transforms.InverseSpectrogram(n_fft=n_fft, hop_length=hop), spec)
    assert report.complete, report.uncounted
    c = report.total.cost
    fft = frames * n_fft * math.log2(n_fft)              # real FFT (c2r): N·log2 N mults, 1.5× adds
    covered = (frames - 1) * hop + n_fft                 # overlap-add: taps beyond the first into each position
    assert c.mults == round(fft) + frames * n_fft + frames * n_fft + n_fft  # FFT, 1/N, window, window²
    assert c.adds == round(1.5 * fft) + 2 * (frames * n_fft - covered)      # signal and window envelope
    assert c.divs == samples                                                 # ÷ envelope, after the centre cut
    # Resample 16 kHz → 8 kHz (gcd 8000: orig 2, new 1): width ⌈6·2/0.99⌉ = 13, kernel 2·13 + 2 = 28,
    # strided conv over 16000 + 13 + 15 samples: (16028 − 28)/2 + 1 = 8001 positions
    for method in ("sinc_interp_hann", "sinc_interp_kaiser"):
        resample = run(torchaudio.transforms.Resample(samples, 8000, resampling_method=method), torch.randn(1, samples))
        assert resample.complete and resample.total.macs == 28 * 8001
    # ComputeDeltas (win 5): a depthwise conv of 5 taps and one division per output
    deltas = run(torchaudio.transforms.ComputeDeltas(), torch.rand(1, 201, frames)).total.cost
    assert (deltas.macs, deltas.divs) == (5 * 201 * frames, 201 * frames)


def test_melspectrogram_module_equals_the_same_ops_written_out():
    # a plain module running torch.stft, |z|², and the filterbank matmul: the same count in every
    # category as the transform profiled as a module (there is no module rule; both are op-priced)
    class Plain(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("window", torch.hann_window(400))
            self.register_buffer("fb", torchaudio.functional.melscale_fbanks(201, 0.0, 8000.0, 80, 16000))

        def forward(self, x):
            z = torch.stft(x, 400, 160, window=self.window, center=True, pad_mode="reflect", return_complex=True)
            return torch.matmul(z.abs().pow(2.0).transpose(-1, -2), self.fb).transpose(-1, -2)

    x = torch.randn(2, 16000)
    module = run(torchaudio.transforms.MelSpectrogram(16000, n_fft=400, hop_length=160, n_mels=80), x)
    plain = run(Plain(), x)
    assert module.complete and plain.complete
    for c in OP_CATEGORIES:
        assert getattr(module.total.cost, c) == getattr(plain.total.cost, c), c
    assert module.total.macs == 2 * 101 * 201 * 80
