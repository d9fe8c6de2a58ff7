"""A measured ceiling: what this device actually reaches on a large matmul, a 3×3 convolution and a
large copy.

Useful where no datasheet peak applies (a CPU, an unlisted GPU), and as a sanity check of the
datasheet where one does: a layer's achieved rate is then compared with what the same device,
library and dtype reach on the most favourable kernel of each kind.

- compute: the faster of ``C = A @ B`` for square ``n × n`` matrices (``2n³`` FLOPs) and a 3×3
  convolution (``2·N·C²·9·H·W`` FLOPs), best of ``repeat`` runs each;
- memory: ``dst.copy_(src)`` of ``size`` bytes, which reads and writes ``2 × size`` bytes, best of runs.
"""
from __future__ import annotations

import time
from dataclasses import replace

import torch

from .peaks import Peaks


def _timer(device: torch.device):
    if device.type == "cuda":
        def run(fn):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize(device)
            return start.elapsed_time(end) / 1e3
    else:
        def run(fn):
            t0 = time.perf_counter()
            fn()
            return time.perf_counter() - t0
    return run


def measure_ceiling(device: torch.device, dtype: torch.dtype = torch.float32, n: int | None = None,
                    copy_bytes: int | None = None, repeat: int = 8) -> Peaks:
    """Measured matmul FLOP/s (for ``dtype``) and copy bandwidth of ``device``."""
    gpu = device.type == "cuda"
    n = n or (8192 if gpu else 1024)
    copy_bytes = copy_bytes or ((1 << 30) if gpu else (64 << 20))
    timed = _timer(device)
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    out = torch.empty(n, n, device=device, dtype=dtype)
    torch.mm(a, b, out=out)  # warm-up (library initialisation, autotuning)
    t_mm = min(timed(lambda: torch.mm(a, b, out=out)) for _ in range(repeat))
    del a, b, out
    # a 3×3 convolution too: BLAS and the convolution library may use different vector paths
    # (MKL falls back to AVX2 on AMD CPUs where oneDNN uses AVX-512), and a layer must not look
    # "above peak" because the ceiling kernel was the slower library
    c, hw = (256, 56) if gpu else (128, 28)
    x = torch.randn(8, c, hw, hw, device=device).to(dtype)
    w = torch.randn(c, c, 3, 3, device=device).to(dtype)
    conv = torch.nn.functional.conv2d
    with torch.no_grad():
        conv(x, w, padding=1)
        t_conv = min(timed(lambda: conv(x, w, padding=1)) for _ in range(repeat))
    del x, w
    conv_flops = 2.0 * 8 * c * c * 9 * hw * hw / t_conv
    src = torch.empty(copy_bytes // 4, device=device, dtype=torch.float32).fill_(1.0)
    dst = torch.empty_like(src)
    dst.copy_(src)
    t_copy = min(timed(lambda: dst.copy_(src)) for _ in range(repeat))
    del src, dst
    mm_flops = 2.0 * n ** 3 / t_mm
    flops = max(mm_flops, conv_flops)
    bandwidth = 2.0 * copy_bytes / t_copy
    rates = {torch.float32: ("fp32", "tf32"), torch.bfloat16: ("bf16",), torch.float16: ("fp16",)}
    fields = dict.fromkeys(("fp32", "tf32", "bf16", "fp16"))
    for name in rates.get(dtype, ()):
        fields[name] = flops
    label = torch.cuda.get_device_name(device) if gpu else "CPU"
    return Peaks(f"{label} (measured ceiling)", bandwidth=bandwidth, kind="measured",
                 source=f"measured here: {n}×{n} {str(dtype).replace('torch.', '')} matmul "
                        f"{mm_flops / 1e9:.3g} GFLOP/s, 3×3 conv {conv_flops / 1e9:.3g} GFLOP/s, "
                        f"{copy_bytes >> 20} MiB copy {bandwidth / 1e9:.3g} GB/s",
                 **fields)


def best_of(a: Peaks, b: Peaks, joined: str = "best of this and a second run") -> Peaks:
    """Field-wise maximum of two measured ceilings (a ceiling is a best case by definition); a
    rate only one of them measured (another dtype) is kept as it is."""
    def mx(x, y):
        return y if x is None else x if y is None else max(x, y)
    return replace(a, fp32=mx(a.fp32, b.fp32), tf32=mx(a.tf32, b.tf32), bf16=mx(a.bf16, b.bf16),
                   fp16=mx(a.fp16, b.fp16), bandwidth=mx(a.bandwidth, b.bandwidth),
                   source=f"{a.source}; {joined}: " + b.source.replace("measured here: ", ""))
