"""A measured ceiling: what this device actually reaches on a large matmul, a 3×3 convolution and a
large copy.

Useful where no datasheet peak applies (a CPU, an unlisted GPU), and as a sanity check of the
datasheet where one does: a layer's achieved rate is then compared with what the same device,
library and dtype reach on the most favourable kernel of each kind.

- compute: the faster of ``C = A @ B`` for square ``n × n`` matrices (``2n³`` FLOPs) and a 3×3
  convolution (``2·N·C²·9·H·W`` FLOPs), best of ``repeat`` runs each (float32 on CUDA: once with
  TF32 off for the FP32 rate, once with it on for the TF32 rate);
- memory: ``dst.copy_(src)`` of ``size`` bytes, which reads and writes ``2 × size`` bytes, best of runs.
"""
from __future__ import annotations

import time
from contextlib import contextmanager, nullcontext
from dataclasses import replace

import torch

from .peaks import Peaks, _tf32_leaf, tf32_enabled


def _timer(device: torch.device):
    if device.type == "cuda":
        def run(fn):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            stream = torch.cuda.current_stream(device)  # the device's, not the current device's
            start.record(stream)
            fn()
            end.record(stream)
            torch.cuda.synchronize(device)
            return start.elapsed_time(end) / 1e3
    else:
        def run(fn):
            t0 = time.perf_counter()
            fn()
            return time.perf_counter() - t0
    return run


def _compute_rates(device: torch.device, dtype: torch.dtype, n: int, repeat: int, timed) -> tuple[float, float]:
    """FLOP/s of an ``n × n`` matmul and of a 3×3 convolution in ``dtype``, best of ``repeat`` each,
    with autocast off: a profile run under autocast would otherwise time the float32 convolution in
    autocast's dtype, and rate float32 layers against a bf16 ceiling."""
    with _no_autocast(device):
        return _rates(device, dtype, n, repeat, timed)


def _no_autocast(device: torch.device):
    try:
        return torch.autocast(device.type, enabled=False)
    except RuntimeError:  # a device type autocast does not know: it cannot be on there either
        return nullcontext()


def _rates(device: torch.device, dtype: torch.dtype, n: int, repeat: int, timed) -> tuple[float, float]:
    gpu = device.type == "cuda"
    # (a generator of its own: the caller's random stream is not advanced by a measurement)
    draw = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, device=device, generator=draw).to(dtype)
    b = torch.randn(n, n, device=device, generator=draw).to(dtype)
    out = torch.empty(n, n, device=device, dtype=dtype)
    torch.mm(a, b, out=out)  # warm-up (library initialisation, autotuning)
    t_mm = min(timed(lambda: torch.mm(a, b, out=out)) for _ in range(repeat))
    a = b = out = None  # freed before the convolution's buffers
    # a 3×3 convolution too: BLAS and the convolution library may use different vector paths
    # (MKL falls back to AVX2 on AMD CPUs where oneDNN uses AVX-512), and a layer must not look
    # "above peak" because the ceiling kernel was the slower library
    c, hw = (256, 56) if gpu else (128, 28)
    x = torch.randn(8, c, hw, hw, device=device, generator=draw).to(dtype)
    w = torch.randn(c, c, 3, 3, device=device, generator=draw).to(dtype)
    conv = torch.nn.functional.conv2d
    with torch.no_grad():
        conv(x, w, padding=1)
        t_conv = min(timed(lambda: conv(x, w, padding=1)) for _ in range(repeat))
    return 2.0 * n ** 3 / t_mm, 2.0 * 8 * c * c * 9 * hw * hw / t_conv


@contextmanager
def _tf32(on: bool):
    """Both of PyTorch's TF32 switches (matmuls, cuDNN convolutions) set to ``on``, then restored.

    Through the legacy flag (``allow_tf32``) where it can be read. From torch 2.9 on, a switch set
    through the new ``fp32_precision`` API alone makes reading the legacy flag raise, and a
    precision set on a parent (``torch.backends.fp32_precision = "tf32"``) can outrank the legacy
    flag: the new API's own setting is then set too. Both are put back as found."""
    found = []  # per switch: (conv, legacy flag or None where unreadable, fp32_precision or None before 2.9)
    for conv in (False, True):
        try:  # (matmul's legacy flag is float32_matmul_precision "highest" or not: "medium" kept too)
            legacy = torch.backends.cudnn.allow_tf32 if conv else torch.get_float32_matmul_precision()
        except RuntimeError:
            legacy = None
        leaf = _tf32_leaf(conv)
        found.append((conv, legacy, leaf.fp32_precision if leaf is not None else None))
    try:
        with _mutable_flags():
            for conv, legacy, _ in found:
                if legacy is not None:
                    _set_tf32(conv, "legacy", on)
                if tf32_enabled(conv) != on:  # (torch ≥ 2.9) the new API's setting decides
                    _set_tf32(conv, "new", "tf32" if on else "ieee")
        yield
    finally:
        with _mutable_flags():
            for conv, legacy, precision in found:
                if legacy is not None:
                    if conv:
                        _set_tf32(conv, "legacy", legacy)
                    else:
                        torch.set_float32_matmul_precision(legacy)
                if precision is not None and _tf32_leaf(conv).fp32_precision != precision:
                    _set_tf32(conv, "new", precision)


def _mutable_flags():
    """Setting torch.backends' flags where a process froze them (``torch.backends.disable_global_flags()``,
    which torch's own test harness calls on import): a change put back on exit, as torch's ``flags()``
    context managers make one."""
    allow = getattr(torch.backends, "__allow_nonbracketed_mutation", None)
    return allow() if allow is not None else nullcontext()


def _set_tf32(conv: bool, api: str, value) -> None:
    if api == "new":
        _tf32_leaf(conv).fp32_precision = value
    elif conv:
        torch.backends.cudnn.allow_tf32 = value
    else:
        torch.backends.cuda.matmul.allow_tf32 = value


def measure_ceiling(device: torch.device, dtype: torch.dtype = torch.float32, n: int | None = None,
                    copy_bytes: int | None = None, repeat: int = 8) -> Peaks:
    """Measured matmul and convolution FLOP/s (for ``dtype``) and copy bandwidth of ``device``.

    For float32 on CUDA the FP32 rate is measured with TF32 off and the TF32 rate with it on, each
    whatever the user's settings (a row's peak follows them: see ``peaks.uses_tf32``). With the
    default settings the matmul runs in FP32 but the convolution on TF32 cores, and the faster of
    the two would otherwise hold FP32 layers to a TF32 ceiling."""
    gpu = device.type == "cuda"
    n = n or (8192 if gpu else 1024)
    copy_bytes = copy_bytes or ((1 << 30) if gpu else (64 << 20))
    timed = _timer(device)
    fields = dict.fromkeys(("fp32", "tf32", "bf16", "fp16"))
    name = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype)
    short = str(dtype).replace("torch.", "")
    if name is None:  # (float64, integers): no peak of that kind is rated, so no kernel is timed for it
        kernels = f"no {short} compute rate (rated: float32, TF32, bfloat16, float16)"
    else:
        with _tf32(False) if gpu and dtype == torch.float32 else nullcontext():
            mm_flops, conv_flops = _compute_rates(device, dtype, n, repeat, timed)
        kernels = f"{n}×{n} {short} matmul {mm_flops / 1e9:.3g} GFLOP/s, 3×3 conv {conv_flops / 1e9:.3g} GFLOP/s"
        fields[name] = max(mm_flops, conv_flops)
    if dtype == torch.float32:
        if gpu:
            with _tf32(True):
                tf32_mm, tf32_conv = _compute_rates(device, dtype, n, repeat, timed)
            fields["tf32"] = max(tf32_mm, tf32_conv)
            kernels += f" (TF32 off); TF32 on: matmul {tf32_mm / 1e9:.3g}, conv {tf32_conv / 1e9:.3g} GFLOP/s"
        else:
            fields["tf32"] = fields["fp32"]  # no TF32 on a CPU: the same rate (never used there)
    src = torch.empty(copy_bytes // 4, device=device, dtype=torch.float32).fill_(1.0)
    dst = torch.empty_like(src)
    dst.copy_(src)
    t_copy = min(timed(lambda: dst.copy_(src)) for _ in range(repeat))
    src = dst = None
    bandwidth = 2.0 * copy_bytes / t_copy
    label = torch.cuda.get_device_name(device) if gpu else "CPU"
    return Peaks(f"{label} (measured ceiling)", bandwidth=bandwidth, kind="measured",
                 source=f"measured here: {kernels}, {copy_bytes >> 20} MiB copy {bandwidth / 1e9:.3g} GB/s",
                 **fields)


def best_of(a: Peaks, b: Peaks, joined: "str | None" = None) -> Peaks:
    """Field-wise maximum of two measured ceilings (a ceiling is a best case by definition); a
    rate only one of them measured (another dtype) is kept as it is. ``joined`` names what ``b`` is
    in the source (``"and"``: another dtype's kernels); by default a second run of the same kernels,
    and the source says that the peaks are the better of each figure: the second run's figures
    follow as measured, and one below the first run's is not the peak (a copy at 37.4 GB/s after
    one at 45.3 read "best of this and a second run: … 37.4 GB/s" beside a peak of 45.3 GB/s)."""
    def mx(x, y):
        return y if x is None else x if y is None else max(x, y)
    source = f"{a.source}; {joined or 'a second run, after the timed passes'}: " + \
        b.source.replace("measured here: ", "")
    if joined is None:
        source += " (each peak is the better of the two runs' figures)"
    return replace(a, fp32=mx(a.fp32, b.fp32), tf32=mx(a.tf32, b.tf32), bf16=mx(a.bf16, b.bf16),
                   fp16=mx(a.fp16, b.fp16), bandwidth=mx(a.bandwidth, b.bandwidth), source=source)
