"""measure/peaks.py against its sources: every row of the peaks table held to the figures its vendor's
datasheet prints (a starred, sparse Tensor-Core figure halved), the lookup of device names, and which
peak a dtype is held to. Each test was written to fail on a mutant of torchcount/measure/peaks.py that
the other tests let pass."""
from __future__ import annotations

import pytest
import torch

from torchcount.measure import peaks as P

#: key → (FP32, TF32, BF16, FP16 in TFLOP/s, dense; bandwidth in TB/s), as the datasheets print them:
#: a starred (2:4 sparse) Tensor-Core figure halved, or the dense figure where NVIDIA prints one
DATASHEETS = {
    # H100 datasheet: SXM FP32 67, 3.35 TB/s; PCIe 51, 2 TB/s; NVL 60, TF32 835*, BF16/FP16 1,671*, 3.9 TB/s.
    # The H100 whitepaper's dense Tensor figures (the datasheet's 989* / 1,979* and 756* / 1,513*):
    # SXM5 TF32 494.7, BF16/FP16 989.4; PCIe 378, 756
    "H100 SXM": (67, 494.7, 989.4, 989.4, 3.35),
    "H100 PCIe": (51, 378, 756, 756, 2.0),
    "H100 NVL": (60, 417.5, 835.5, 835.5, 3.9),
    # H200 datasheet: SXM as H100 SXM's rates (the same GH100) at 4.8 TB/s; NVL as H100 NVL's at 4.8 TB/s
    "H200": (67, 494.7, 989.4, 989.4, 4.8),
    "H200 NVL": (60, 417.5, 835.5, 835.5, 4.8),
    # HGX B200 (8 GPUs): FP32 600, TF32 18,000*, BF16/FP16 36,000* TFLOPS, 64 TB/s; ÷ 8, sparse ÷ 2. NVIDIA
    # quotes TF32 at 1.1–1.125 PFLOPS dense a GPU by power level (the table's 1,100): held within 3 %
    "B200": (75, 1125, 2250, 2250, 8.0),
    # A100 datasheet: FP32 19.5, TF32 312*, BF16/FP16 624*; 1,555 / 2,039 GB/s (SXM4 40 / 80 GB),
    # 1,555 / 1,935 GB/s (PCIe 40 / 80 GB)
    "A100 SXM 80GB": (19.5, 156, 312, 312, 2.039),
    "A100 SXM 40GB": (19.5, 156, 312, 312, 1.555),
    "A100 PCIe 80GB": (19.5, 156, 312, 312, 1.935),
    "A100 PCIe 40GB": (19.5, 156, 312, 312, 1.555),
    # A10: FP32 31.2, TF32 125*, BF16/FP16 250*, 600 GB/s
    "A10": (31.2, 62.5, 125, 125, 0.600),
    # L4: FP32 30.3, TF32 120*, BF16/FP16 242*, 300 GB/s
    "L4": (30.3, 60, 121, 121, 0.300),
    # L40S: FP32 91.6, TF32 183 | 366*, BF16/FP16 362.05 | 733*, 864 GB/s
    "L40S": (91.6, 183, 362.05, 362.05, 0.864),
    # L40: FP32 90.5, TF32 90.5 | 181*, BF16/FP16 181.05 | 362.1*, 864 GB/s
    "L40": (90.5, 90.5, 181.05, 181.05, 0.864),
    # Ada whitepaper appendix: RTX 6000 Ada FP32 91.1, TF32 182.1 | 364.2*, FP16 (FP32 accumulate)
    # 364.2 | 728.5*, 960 GB/s; RTX 4090 82.6, 82.6 | 165.2*, 165.2 | 330.4*, 1,008 GB/s
    "RTX 6000 Ada": (91.1, 182.1, 364.2, 364.2, 0.960),
    "RTX 4090": (82.6, 82.6, 165.2, 165.2, 1.008),
    # T4: FP32 8.1, mixed-precision FP16 65, 320 GB/s; V100 SXM2 15.7, 125, 900 GB/s; PCIe 14, 112: no TF32
    # or BF16 Tensor Cores
    "T4": (8.1, None, None, 65, 0.320),
    "V100 SXM2": (15.7, None, None, 125, 0.900),
    "V100 PCIe": (14, None, None, 112, 0.900),
}


def test_every_row_of_the_peaks_table_is_its_datasheets_dense_figures():
    """Each GPU's FP32, TF32, BF16 and FP16 peaks (FLOP/s) and bandwidth (bytes/s) are its datasheet's,
    in units of 10¹² (a vendor's TB is 10¹² bytes), to the figure's last printed digit (B200's TF32:
    within 3 %), None where the GPU has no such Tensor Cores; every row is a datasheet's ('datasheet' kind, a
    source named), and the table has no other row."""
    assert set(P.GPU_PEAKS) == set(DATASHEETS)
    for key, figures in DATASHEETS.items():
        peaks = P.GPU_PEAKS[key]
        got = (peaks.fp32, peaks.tf32, peaks.bf16, peaks.fp16, peaks.bandwidth)
        for name, want, value in zip(("fp32", "tf32", "bf16", "fp16", "bandwidth"), figures, got):
            if want is None:
                assert value is None, (key, name)
            else:
                rel = 0.03 if (key, name) == ("B200", "tf32") else 1e-6
                assert value == pytest.approx(want * 1e12, rel=rel), (key, name)
        assert peaks.kind == "datasheet" and peaks.source, key


def test_a_dtype_is_held_to_its_own_peak():
    """flops_for: bfloat16 to the BF16 peak, float16 to the FP16 one, float32 to the CUDA-core FP32 rate
    unless TF32 is on (then TF32's), and any other dtype (float64, int8) to none. An H100 SXM: 989.4,
    989.4, 67, 494.7 TFLOP/s, none; a T4 with TF32 on (it has no TF32 cores): its FP32 8.1."""
    h100, t4 = P.GPU_PEAKS["H100 SXM"], P.GPU_PEAKS["T4"]
    assert h100.flops_for(torch.bfloat16) == pytest.approx(989.4e12)
    assert h100.flops_for(torch.float16) == pytest.approx(989.4e12)
    assert h100.flops_for(torch.float32) == pytest.approx(67e12)
    assert h100.flops_for(torch.float32, tf32=True) == pytest.approx(494.7e12)
    assert h100.flops_for(torch.float64) is None and h100.flops_for(torch.int8) is None
    assert t4.flops_for(torch.float32, tf32=True) == pytest.approx(8.1e12)
    assert t4.flops_for(torch.float16) == pytest.approx(65e12) and t4.flops_for(torch.bfloat16) is None


def test_a_reports_peaks_are_the_given_ones_as_a_dict():
    """The report's extra['peaks'] is Peaks.as_dict: every field by name, as given (a made-up device:
    1 TFLOP/s FP32, none for TF32, 4 for BF16 and FP16, 0.1 TB/s), None kept as None. A Peaks is
    frozen: the table's rows are shared by every profile and cannot be changed in place."""
    import dataclasses

    peaks = P.Peaks("a test device", 1e12, None, 4e12, 4e12, 1e11, "given", kind="datasheet")
    assert peaks.as_dict() == {"name": "a test device", "fp32": 1e12, "tf32": None, "bf16": 4e12, "fp16": 4e12,
                               "bandwidth": 1e11, "source": "given", "kind": "datasheet"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        P.GPU_PEAKS["T4"].fp32 = 1.0


def test_a_gpu_the_table_lacks_has_unknown_peaks_and_a_listed_one_its_rows_under_its_own_name(monkeypatch):
    """peaks_for on CUDA: a GeForce GTX 1080 (no row) is unknown, its name kept and the reason given (not
    None, which every caller would trip on); an 'NVIDIA H100 80GB HBM3' is the H100 SXM row (67 TFLOP/s
    FP32), named as the table and as torch names it. A CPU: unknown, 'CPU'."""
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA GeForce GTX 1080")
    got = P.peaks_for(torch.device("cuda", 0))
    assert (got.kind, got.name, got.fp32, got.bandwidth) == ("unknown", "NVIDIA GeForce GTX 1080", None, None)
    assert "not in torchcount's peaks table" in got.source
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H100 80GB HBM3")
    got = P.peaks_for(torch.device("cuda", 0))
    assert got.name == "H100 SXM5 80GB (NVIDIA H100 80GB HBM3)" and got.fp32 == pytest.approx(67e12)
    assert got.kind == "datasheet"
    cpu = P.peaks_for(torch.device("cpu"))
    assert (cpu.kind, cpu.name, cpu.fp32) == ("unknown", "CPU", None)
