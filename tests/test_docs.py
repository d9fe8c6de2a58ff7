"""Figures the docs (docs/*.md) give are what the code gives, so neither can drift alone.
(tests/test_readme.py runs the README's console blocks.)"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

import torchcount

DOCS = Path(__file__).resolve().parents[1] / "docs"


def doc(name: str) -> str:
    return (DOCS / name).read_text()


def prose(name: str) -> str:
    """The doc with its line breaks and runs of spaces as single spaces (a figure may wrap)."""
    return " ".join(doc(name).split())


def test_performance_meta_bytes_of_a_direct_sdpa_call():
    """docs/performance.md, limits of meta counting: wav2vec2-base's attention calls
    F.scaled_dot_product_attention, one fused op on the CPU and its math fallback on meta. Every
    operation count agrees; the bytes differ by the fallback's L×S intermediates, by the shares
    the doc gives for one second of audio."""
    torchaudio = pytest.importorskip("torchaudio")
    from test_readme import _unpinned

    if _unpinned():  # another torch may run another SDPA kernel on the CPU
        pytest.skip(f"not the tested set: {', '.join(_unpinned())}")
    model, x = torchaudio.models.wav2vec2_base().eval(), torch.randn(1, 16000)
    with torch.no_grad():  # (the same ops, and faster)
        cpu = torchcount.profile(model, x).total.cost
        meta = torchcount.profile(model.to("meta"), x.to("meta")).total.cost
    assert cpu._replace(bytes_read=0, bytes_written=0) == meta._replace(bytes_read=0, bytes_written=0)
    # at least the 12 layers' 12 heads of 49×49 float32 scores, written and read once more
    scores = 12 * 12 * 49 * 49 * 4
    assert meta.bytes_read - cpu.bytes_read > scores and meta.bytes_written - cpu.bytes_written > scores
    read = 100 * (meta.bytes_read / cpu.bytes_read - 1)
    written = 100 * (meta.bytes_written / cpu.bytes_written - 1)
    assert f"bytes read +{read:.1f} %, bytes written +{written:.1f} %" in prose("performance.md")
