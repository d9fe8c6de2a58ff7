"""Peak throughput and memory bandwidth of the device a model is measured on.

A reviewed table of *dense* (no 2:4 sparsity) vendor peaks for current NVIDIA data-centre and
workstation GPUs. Vendor datasheets usually print Tensor-Core figures *with* sparsity (marked
``*``); every figure here is the dense one (half the starred figure). Units: FLOP/s and bytes/s.

``fp32`` is the CUDA-core (non-Tensor-Core) FP32 rate; ``tf32`` the Tensor-Core rate PyTorch uses
for FP32 matmuls/convolutions when ``torch.backends.cuda.matmul.allow_tf32`` /
``torch.backends.cudnn.allow_tf32`` are on; ``bf16``/``fp16`` the Tensor-Core rate with FP32
accumulation. ``None`` means "not supported by this GPU" (e.g. BF16 on T4/V100).

A CPU has no entry: its peaks are unknown unless measured (``ceiling=True`` measures a large
matmul, a 3×3 convolution and a large copy on the device itself, see :func:`torchcount.measure.ceiling.measure_ceiling`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

import torch

T = 1e12  # TFLOP/s
TB = 1e12  # TB/s (vendor TB = 10^12 bytes)


@dataclass(frozen=True)
class Peaks:
    """Peak rates of one device. FLOP/s per precision (``None``: unsupported or unknown), bytes/s."""

    name: str
    fp32: float | None
    tf32: float | None
    bf16: float | None
    fp16: float | None
    bandwidth: float | None
    source: str = ""
    #: "datasheet" (vendor figure), "measured" (ceiling run on this machine) or "unknown"
    kind: str = "datasheet"

    def flops_for(self, dtype: torch.dtype, tf32: bool = False) -> float | None:
        """The peak that applies to matmul-like work in ``dtype`` (``tf32``: FP32 runs on TF32 cores)."""
        if dtype == torch.bfloat16:
            return self.bf16
        if dtype == torch.float16:
            return self.fp16
        if dtype == torch.float32:
            return (self.tf32 or self.fp32) if tf32 else self.fp32
        return None

    def as_dict(self) -> dict:
        return {"name": self.name, "fp32": self.fp32, "tf32": self.tf32, "bf16": self.bf16,
                "fp16": self.fp16, "bandwidth": self.bandwidth, "source": self.source, "kind": self.kind}


def _p(name, fp32, tf32, bf16, fp16, bw, source):
    return Peaks(name, fp32 and fp32 * T, tf32 and tf32 * T, bf16 and bf16 * T, fp16 and fp16 * T,
                 bw * TB, source)


_H100_SRC = "NVIDIA H100 Tensor Core GPU datasheet (2023): starred (sparse) Tensor figures halved"
_H200_SRC = "NVIDIA H200 Tensor Core GPU datasheet (2024): starred (sparse) Tensor figures halved"
_A100_SRC = "NVIDIA A100 Tensor Core GPU datasheet (2021): starred (sparse) Tensor figures halved"
_ADA_SRC = "NVIDIA Ada Lovelace GPU architecture whitepaper v2.1, appendix (dense figures)"

#: key → peaks. Reviewed against the named datasheets; all Tensor-Core figures dense.
GPU_PEAKS: dict[str, Peaks] = {
    # Hopper
    "H100 SXM": _p("H100 SXM5 80GB", 67, 494.7, 989.4, 989.4, 3.35, _H100_SRC),
    "H100 PCIe": _p("H100 PCIe 80GB", 51, 378, 756, 756, 2.0, _H100_SRC),
    "H100 NVL": _p("H100 NVL 94GB", 60, 417.5, 835.5, 835.5, 3.9, _H100_SRC),
    "H200": _p("H200 SXM 141GB", 67, 494.7, 989.4, 989.4, 4.8, _H200_SRC),
    "H200 NVL": _p("H200 NVL 141GB", 60, 417.5, 835.5, 835.5, 4.8, _H200_SRC),
    # Blackwell (HGX B200 at 1000 W; platform figures ÷ 8 GPUs, sparse ÷ 2)
    "B200": _p("B200 (HGX, 1000 W)", 75, 1100, 2250, 2250, 8.0,
               "NVIDIA HGX B200 platform specifications and Blackwell technical brief: 8-GPU totals ÷ 8, "
               "sparse ÷ 2 (preliminary: NVIDIA quotes slightly different FP32/TF32 rates by power level)"),
    # Ampere
    "A100 SXM 80GB": _p("A100 SXM4 80GB", 19.5, 156, 312, 312, 2.039, _A100_SRC),
    "A100 SXM 40GB": _p("A100 SXM4 40GB", 19.5, 156, 312, 312, 1.555, _A100_SRC),
    "A100 PCIe 80GB": _p("A100 PCIe 80GB", 19.5, 156, 312, 312, 1.935, _A100_SRC),
    "A100 PCIe 40GB": _p("A100 PCIe 40GB", 19.5, 156, 312, 312, 1.555, _A100_SRC),
    "A10": _p("A10 24GB", 31.2, 62.5, 125, 125, 0.600,
              "NVIDIA A10 Tensor Core GPU datasheet: starred (sparse) Tensor figures halved"),
    # Ada
    "L4": _p("L4 24GB", 30.3, 60, 121, 121, 0.300,
             "NVIDIA L4 Tensor Core GPU datasheet: TF32 120*, BF16/FP16 242* (sparse) halved"),
    "L40S": _p("L40S 48GB", 91.6, 183, 362.05, 362.05, 0.864,
               "NVIDIA L40S datasheet: TF32 366*, BF16/FP16 733* (sparse) halved"),
    "L40": _p("L40 48GB", 90.5, 90.5, 181.05, 181.05, 0.864,
              "NVIDIA L40 datasheet: TF32 181*, BF16/FP16 362.1* (sparse) halved"),
    "RTX 6000 Ada": _p("RTX 6000 Ada 48GB", 91.1, 182.1, 364.2, 364.2, 0.960,
                       "NVIDIA RTX 6000 Ada datasheet and " + _ADA_SRC),
    "RTX 4090": _p("GeForce RTX 4090", 82.6, 82.6, 165.2, 165.2, 1.008,
                   _ADA_SRC + ": GeForce FP16/BF16 with FP32 accumulate runs at half the FP16-accumulate rate"),
    # Turing / Volta: no TF32, no BF16 Tensor Cores
    "T4": _p("T4 16GB", 8.1, None, None, 65, 0.320,
             "NVIDIA T4 datasheet: FP32 8.1, mixed-precision FP16/FP32 65 TFLOPS"),
    "V100 SXM2": _p("V100 SXM2", 15.7, None, None, 125, 0.900,
                    "NVIDIA V100 datasheet (SXM2): FP32 15.7, Tensor 125 TFLOPS, 900 GB/s"),
    "V100 PCIe": _p("V100 PCIe", 14, None, None, 112, 0.900,
                    "NVIDIA V100 datasheet (PCIe): FP32 14, Tensor 112 TFLOPS, 900 GB/s"),
}

# (pattern over torch.cuda.get_device_name(), key) — the first match wins, so specific before general.
_NAME_PATTERNS: list[tuple[str, str]] = [
    # a MIG slice ("NVIDIA A100-SXM4-40GB MIG 1g.5gb"): a fraction of the GPU's SMs and memory
    # bandwidth, which no datasheet row gives; the whole GPU's peaks would understate its %peak
    (r"\bMIG\b", ""),
    (r"H100.*NVL", "H100 NVL"),
    (r"H100.*PCIe", "H100 PCIe"),
    (r"H100", "H100 SXM"),  # "NVIDIA H100 80GB HBM3" is the SXM part
    (r"GH200", ""),  # Grace Hopper: its GPU comes with 96 or 144 GB at other bandwidths; no one datasheet row
    (r"H200.*NVL", "H200 NVL"),
    (r"H200", "H200"),
    (r"GB200", ""),  # Grace Blackwell: its GPU runs at 1200 W, above the HGX B200 (1000 W) row
    (r"B200", "B200"),
    (r"A100.*PCI[Ee].*80|A100.*80.*PCI[Ee]", "A100 PCIe 80GB"),
    (r"A100.*PCI[Ee]", "A100 PCIe 40GB"),
    (r"A100.*80", "A100 SXM 80GB"),
    (r"A100", "A100 SXM 40GB"),
    (r"\bA10\b(?!0)", "A10"),
    (r"L40S", "L40S"),
    (r"\bL40\b", "L40"),
    (r"\bL4\b", "L4"),
    (r"RTX 6000 Ada", "RTX 6000 Ada"),
    (r"RTX 4090", "RTX 4090"),
    (r"\bT4\b", "T4"),
    (r"V100.*PCI[Ee]", "V100 PCIe"),
    (r"V100", "V100 SXM2"),
]


def lookup(device_name: str) -> Peaks | None:
    """Datasheet peaks for a CUDA device name (``torch.cuda.get_device_name()``), or ``None``."""
    for pattern, key in _NAME_PATTERNS:
        if re.search(pattern, device_name):
            return GPU_PEAKS[key] if key else None
    return None


def unknown(name: str, why: str) -> Peaks:
    return Peaks(name, None, None, None, None, None, why, kind="unknown")


def peaks_for(device: torch.device) -> Peaks:
    """Datasheet peaks of ``device``; for a CPU or an unlisted GPU, peaks marked unknown."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        found = lookup(name)
        if found is not None:
            return replace(found, name=f"{found.name} ({name})")
        if re.search(r"\bMIG\b", name):
            return unknown(name, "a MIG slice (a fraction of the GPU's SMs and memory bandwidth), which no datasheet "
                                 "row gives; use ceiling=True (CLI: --ceiling) to measure one")
        return unknown(name, "GPU not in torchcount's peaks table; use ceiling=True (CLI: --ceiling) to measure one")
    return unknown(device.type.upper(), "no vendor peak for a CPU; use ceiling=True (CLI: --ceiling) to measure one")


def uses_tf32(device: torch.device, conv: bool = False, rnn: bool = False) -> bool:
    """Whether FP32 work of this kind runs on TF32 Tensor Cores: cuDNN's convolutions (``conv``) and
    recurrent layers (``rnn``) follow ``torch.backends.cudnn.allow_tf32`` (on by default), matmuls
    ``torch.backends.cuda.matmul.allow_tf32`` (off by default;
    ``torch.set_float32_matmul_precision("high")`` turns it on)."""
    if device.type != "cuda":
        return False
    return tf32_enabled(conv, rnn)


def _tf32_leaf(conv: bool, rnn: bool = False):
    """What holds the ``fp32_precision`` setting (torch ≥ 2.9) of cuDNN convolutions, of cuDNN's
    recurrent layers (``rnn``) or of CUDA matmuls; None before torch 2.9."""
    leaf = getattr(torch.backends.cudnn, "rnn" if rnn else "conv", None) if conv or rnn else torch.backends.cuda.matmul
    try:
        leaf.fp32_precision
    except (AttributeError, RuntimeError):
        return None
    return leaf


def tf32_enabled(conv: bool = False, rnn: bool = False) -> bool:
    """PyTorch's TF32 switch for cuDNN convolutions (``conv``), cuDNN recurrent layers (``rnn``) or
    CUDA matmuls. The legacy flag (``allow_tf32``, one for both of cuDNN's) where it can be read;
    from torch 2.9 on, a switch set through the new ``fp32_precision`` API alone
    (``torch.backends.cuda.matmul.fp32_precision = "tf32"``, the API PyTorch recommends; cuDNN's
    ``conv`` and ``rnn`` set apart) makes reading the legacy flag raise ("mix of the legacy and new
    APIs"), and the new setting is read instead."""
    try:
        return bool(torch.backends.cudnn.allow_tf32 if conv or rnn else torch.backends.cuda.matmul.allow_tf32)
    except RuntimeError:
        leaf = _tf32_leaf(conv, rnn)
        if leaf is None:
            raise
        return leaf.fp32_precision == "tf32"
