"""The worked examples of docs/*.md print figures: each is run here, must give the figure the
doc shows, and that figure is also written out from the layers' definitions (a closed form), so
neither the code nor the doc can drift alone. (tests/test_readme.py runs the README's console
blocks; tests/test_examples.py the examples, and the scaling table docs/analyses.md copies.)"""
from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path

import pytest
import torch
from torch import nn

import torchcount

from conftest import needs

DOCS = Path(__file__).resolve().parents[1] / "docs"


def doc(name: str) -> str:
    return (DOCS / name).read_text()


def prose(name: str) -> str:
    """The doc with its line breaks and runs of spaces as single spaces (a figure may wrap)."""
    return " ".join(doc(name).split())


def _conventions_example():
    """docs/conventions.md, "One worked example, six views"."""
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),
                          nn.Linear(8 * 6 * 6, 10), nn.Softmax(-1)).eval()
    return torchcount.profile(model, torch.randn(1, 3, 8, 8))


def test_conventions_worked_example_six_views():
    report, text = _conventions_example(), doc("conventions.md")
    out = 8 * 6 * 6  # the convolution's outputs, 8 channels of 6×6
    breakdown = {
        "macs": 8 * 3 * 3 * 3 * 6 * 6 + out * 10,  # conv, then Linear 288→10
        "mults": out + out,  # BatchNorm: × 1/σ, × γ
        "adds": out + (8 + out + out) + 10 + (10 + 9),  # conv bias; BN eps, x − μ, β; Linear bias; softmax
        "divs": 10,  # softmax
        "cmps": out + 9,  # ReLU; softmax's max over 10
        "assigns": out,  # ReLU
        "transc": 8 + 10,  # BN's rsqrt per channel; softmax's exps
    }
    assert {k: getattr(report.total.cost, k) for k in breakdown} == breakdown
    assert "; ".join(f"{k} {v:,}" for k, v in breakdown.items()) in text
    b = breakdown
    views = {"flops": 2 * b["macs"] + b["mults"] + b["adds"] + b["divs"] + b["cmps"] + b["transc"],
             "macs": b["macs"], "torchvision": b["macs"],
             "worksheet": sum(b.values()), "mults": b["macs"] + b["mults"], "2mac": 2 * b["macs"]}
    for name, value in views.items():
        assert report.total.ops(name) == value, name
        assert re.search(rf"^\| `{name}` \| .* \| \*\*{value:,}\*\* \|$", text, re.M), name
    assert (views["flops"], views["worksheet"]) == (23_114, 12_746)  # the doc's bold figures, by hand


def test_conventions_convention_of_ones_own():
    report, text = _conventions_example(), doc("conventions.md")
    no_cmps = torchcount.Convention(name="nocmp", unit="FLOPs", description="flops, but comparisons free",
                                    weights={"macs": 2, "mults": 1, "adds": 1, "divs": 1, "transc": 1})
    flops, cmps = report.total.ops("flops"), report.total.cost.cmps
    assert report.total.ops(no_cmps) == flops - cmps == 22_817
    assert f"# {flops - cmps:,} = {flops:,} − {cmps} comparisons" in text
    assert report.row("2").ops(no_cmps) == 0  # the ReLU: comparisons and assignments only
    assert "FLOPs [nocmp]" in report.table(convention=no_cmps)
    assert "[cmps, weight 0]" in report.explain("2", convention=no_cmps)


def test_export_schema_example():
    import json

    r = torchcount.profile(nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)), input_size=(1, 4))
    d = json.loads(r.to_json())
    params, macs = (4 * 3 + 3) + (3 * 2 + 2), 4 * 3 + 3 * 2
    ops = 2 * macs + (3 + 2) + 3  # 2 per MAC, the bias adds, the ReLU's comparisons
    assert (d["total"]["params"], d["total"]["macs"], d["total"]["ops"]) == (params, macs, ops)
    assert f"# ({params}, {macs}, {ops})" in doc("export-schema.md")


def test_analyses_compare_example():
    a = nn.Conv2d(16, 16, 3, padding=1)
    b = nn.Sequential(nn.Conv2d(16, 4, 1), nn.Conv2d(4, 16, 3, padding=1))
    c = torchcount.compare(a, b, torch.randn(1, 16, 8, 8), convention="macs", names=("3×3", "bottleneck"))
    macs_a, macs_b = 16 * 16 * 9 * 8 * 8, 16 * 4 * 8 * 8 + 4 * 16 * 9 * 8 * 8
    reduction = round(100 * (macs_a - macs_b) / macs_a, 2)
    assert (c.ops.a, c.ops.b, round(c.reduction, 2)) == (macs_a, macs_b, reduction)
    assert f"# ({macs_a}, {macs_b}, {reduction})" in doc("analyses.md")
    assert "compare: A = 3×3, B = bottleneck" in c.table(tablefmt="github")


def test_analyses_bottleneck_table_is_what_compare_prints():
    """Spec §3's table in docs/analyses.md (its multiplications are pinned by test_examples.py)."""
    # loaded under a name of its own: as `bottleneck` it would shadow the package of that name, which
    # pandas probes for (and then fails to import: "Can't determine version for bottleneck")
    spec = importlib.util.spec_from_file_location("_docs_example_bottleneck",
                                                  DOCS.parent / "examples" / "bottleneck.py")
    bottleneck = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bottleneck)
    x = torch.empty(1, 250, 54, 54, device="meta")
    a = torchcount.profile(bottleneck.direct().to("meta"), x, convention="mults")
    b = torchcount.profile(bottleneck.bottleneck().to("meta"), x, convention="mults")
    shown = re.search(r"\n\n((?: {4}total .*\n)(?: {4}.*\n)+)", doc("analyses.md")).group(1)
    printed = str(torchcount.compare(a, b)).splitlines()
    for line in shown.splitlines():
        assert line[4:] in printed, line


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


@needs("torch._grouped_mm on CPU and meta in bfloat16, with offs")
def test_performance_meta_bytes_of_transformers_sdpa_in_bfloat16():
    """docs/performance.md, limits of meta counting: a toy Mixtral in bfloat16 with SDPA attention
    moves more bytes on meta (the math fallback: float32 copies, the causal mask, repeated k/v heads),
    by the shares the doc gives; tests/test_meta.py checks that only the attention rows differ."""
    from test_meta import _hf_moe_on
    from test_readme import _unpinned

    if _unpinned():  # another torch or transformers may run other ops
        pytest.skip(f"not the tested set: {', '.join(_unpinned())}")
    cpu = _hf_moe_on("cpu", "mixtral", "sdpa").total.cost
    meta = _hf_moe_on("meta", "mixtral", "sdpa").total.cost
    read = 100 * (meta.bytes_read / cpu.bytes_read - 1)
    written = 100 * (meta.bytes_written / cpu.bytes_written - 1)
    assert f"bytes read +{read:.1f} %, written +{written:.1f} %" in prose("performance.md")


def test_performance_moe_example_figures_are_its_closed_form():
    """docs/performance.md's Mixtral-8x7B figures and benchmarks/results/moe_meta.md (the full-size
    count, which takes a few seconds: not rerun here) give the closed form at the example's config."""
    spec = importlib.util.spec_from_file_location("_docs_moe_meta", DOCS.parent / "examples" / "moe_meta.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    ref = example.closed_form(example.CONFIG)
    # Mixtral-8x7B's published size, 46.7 B parameters, ~12.9 B active per token
    assert round(ref["params"] / 1e9, 1) == 46.7 and round(ref["active_params"] / 1e9, 1) == 12.9
    text, results = prose("performance.md"), (DOCS.parent / "benchmarks" / "results" / "moe_meta.md").read_text()
    for figure in (ref["params"], ref["active_params"], ref["flops"]):
        assert f"{figure:,}" in text and f"{figure:,}" in results
    assert f"| FLOPs, `2mac` convention (torchcount) | {ref['flops']:,} |" in results
    assert f"| parameters (torchcount) | {ref['params']:,} |" in results


def test_gpu_checks_script_is_valid_shell_and_names_files_that_exist():
    """benchmarks/gpu_checks.sh is run only on a lent GPU machine, minutes at a time: a renamed test
    file or benchmark would cost a run. It parses, and every path it names is in the repo."""
    root = DOCS.parent
    script = root / "benchmarks" / "gpu_checks.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    named = re.findall(r"\b((?:tests|benchmarks)/[\w/]+\.py)\b", script.read_text())
    assert "tests/test_cuda_counts.py" in named and "benchmarks/gpu_profile.py" in named
    assert [p for p in named if not (root / p).is_file()] == []


def test_gpu_checks_script_passes_only_options_its_commands_take():
    """The same for options: each ``$PY benchmarks/X.py`` and ``$PY -m torchcount`` command of
    benchmarks/gpu_checks.sh passes only options its ``--help`` lists (a renamed one fails there only)."""
    import os
    import sys

    root = DOCS.parent
    text = (root / "benchmarks" / "gpu_checks.sh").read_text().replace("\\\n", " ")
    commands = re.findall(r"\$PY (benchmarks/\w+\.py|-m torchcount)\b([^\n>]*)", text)
    assert {c for c, _ in commands} >= {"benchmarks/gpu_profile.py", "benchmarks/cuda_stamps.py", "-m torchcount"}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    for command, rest in commands:
        argv = [sys.executable, *(command.split() if command.startswith("-m") else [str(root / command)]), "--help"]
        usage = subprocess.run(argv, capture_output=True, text=True, cwd=root, env=env, timeout=120).stdout
        unknown = [o for o in re.findall(r"(?<!\S)(--[\w-]+)", rest) if not re.search(rf"{o}(?![\w-])", usage)]
        assert "usage:" in usage and unknown == [], (command, unknown)
