"""The same model counted on CUDA and on CPU: the count is a property of the model and its input, not
of the device, so every row must agree in every category, bytes included. On a GPU the forward takes
other kernels (cuDNN's LSTM and convolutions, the transformer fast path's CUDA kernels, the
memory-efficient or flash attention kernel, cuFFT): a rule that reads a kernel's schema or outputs
differently from the CPU one shows up here as a row that differs. Skipped without a CUDA device."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import torchcount
from torchcount.cost import CATEGORIES

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def _torchvision(name, size=224):
    tv = pytest.importorskip("torchvision")
    return lambda: (getattr(tv.models, name)(), (torch.randn(2, 3, size, size),))


def _encoder():
    layer = nn.TransformerEncoderLayer(64, 4, 128, batch_first=True)
    # eval + no_grad: the fast path (torch._transformer_encoder_layer_fwd on both devices)
    return nn.TransformerEncoder(layer, 2, enable_nested_tensor=False), (torch.randn(2, 10, 64),)


def _lstm():
    return nn.LSTM(32, 48, num_layers=2, batch_first=True), (torch.randn(3, 7, 32),)


def _gru():
    return nn.GRU(32, 48, num_layers=2, bidirectional=True), (torch.randn(7, 3, 32),)


def _melspectrogram():
    ta = pytest.importorskip("torchaudio")
    return ta.transforms.MelSpectrogram(16000, n_fft=400, hop_length=160, n_mels=80), (torch.randn(2, 16000),)


def _whisper():
    tr = pytest.importorskip("transformers")
    cfg = tr.WhisperConfig(d_model=64, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                           decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128,
                           num_mel_bins=80, max_source_positions=50, max_target_positions=32,
                           vocab_size=500, pad_token_id=0, bos_token_id=1, eos_token_id=2,
                           decoder_start_token_id=1, attn_implementation="sdpa")
    return tr.WhisperModel(cfg), {"input_features": torch.randn(2, 80, 100),
                                  "decoder_input_ids": torch.randint(0, 500, (2, 6))}


MODELS = {
    "resnet18": _torchvision("resnet18", 64),
    "mobilenet_v2": _torchvision("mobilenet_v2", 64),
    "vit_b_16": _torchvision("vit_b_16"),
    "transformer_encoder": _encoder,
    "lstm": _lstm,
    "gru": _gru,
    "melspectrogram": _melspectrogram,
    "whisper_sdpa": _whisper,
}


def _to(x, device):
    if isinstance(x, dict):
        return {k: _to(v, device) for k, v in x.items()}
    if isinstance(x, tuple):
        return tuple(_to(v, device) for v in x)
    return x.to(device)


def _attention_bytes(cpu: torchcount.Report, heads: int) -> dict:
    """What SDPA moves on CPU beyond CUDA, per row (Σ over the attention modules at or below it), in
    float32 bytes, read and written. CPU's flash kernel writes its logsumexp (B·H·L floats); CUDA's
    memory-efficient kernel, asked for none in inference, writes an empty one and two 8-byte philox
    values. CUDA's kernel returns its output already laid out (B, L, H, E), so the model's
    ``transpose(1, 2).contiguous()`` copies nothing there; on CPU it copies the B·L·D output (read once,
    written once)."""
    per_module = {}
    rows = [cpu.root, *cpu.layers]
    for row in rows:
        if row.type == "WhisperAttention":
            B, L, D = row.output_shapes[0]
            copy = B * L * D * 4
            per_module[row.path] = (copy, copy + B * heads * L * 4 - 16)
    return {row.path: tuple(sum(v[i] for p, v in per_module.items()
                                if not row.path or p == row.path or p.startswith(row.path + "."))
                            for i in (0, 1))
            for row in rows}


def _differences(cpu: torchcount.Report, gpu: torchcount.Report, extra_cpu_bytes: dict | None = None) -> list[str]:
    gpu_rows = {r.path: r for r in (gpu.root, *gpu.layers)}
    out = []
    for row in (cpu.root, *cpu.layers):
        other = gpu_rows.get(row.path)
        if other is None:
            out.append(f"{row.path or '(root)'}: no row on CUDA")
            continue
        read, written = (extra_cpu_bytes or {}).get(row.path, (0, 0))
        for category in CATEGORIES:
            a, b = getattr(row.cost, category), getattr(other.cost, category)
            b += {"bytes_read": read, "bytes_written": written}.get(category, 0)
            if a != b:
                out.append(f"{row.path or '(root)'} [{row.type}] {category}: cpu {a} cuda {b} (expected)")
    out += [f"{p}: no row on CPU" for p in gpu_rows.keys() - {r.path for r in (cpu.root, *cpu.layers)}]
    return out


@pytest.mark.parametrize("name", list(MODELS))
def test_cuda_count_equals_the_cpu_count(name):
    torch.manual_seed(0)
    model, inputs = MODELS[name]()
    model.eval()
    with torch.no_grad():
        cpu = torchcount.profile(model, inputs, warn=False)
        gpu = torchcount.profile(copy.deepcopy(model).cuda(), _to(inputs, "cuda"), warn=False)
    assert cpu.complete and gpu.complete, (cpu.uncounted, gpu.uncounted)
    assert gpu.total.macs > 0
    # every operation count is the same; bytes too, but for Whisper's attention (``_attention_bytes``)
    extra = _attention_bytes(cpu, heads=4) if name == "whisper_sdpa" else None
    if extra:
        assert extra[""][0] > 0
    diff = _differences(cpu, gpu, extra)
    assert not diff, "\n".join(diff[:40])


@pytest.mark.parametrize("measured", [False, True], ids=["counting", "measured"])
def test_the_cuda_random_stream_is_where_it_was(measured):
    """Dropout on the GPU draws from the CUDA generator (in every measured pass too); the caller's next
    CUDA draw is the one it would have made without the profile."""
    model = nn.Sequential(nn.Linear(64, 64), nn.Dropout(0.5)).cuda().train()
    x = torch.ones(8, 64, device="cuda")
    torch.cuda.manual_seed(99)
    expected = torch.rand(16, device="cuda")
    torch.cuda.manual_seed(99)
    options = dict(measure=True, warmup=1, repeat=2) if measured else {}
    torchcount.profile(model, x, warn=False, **options)
    assert torch.equal(torch.rand(16, device="cuda"), expected)


def test_a_profile_that_initialises_cuda_leaves_its_random_stream_as_initialising_left_it():
    """CUDA not yet initialised when profile starts (a CPU model whose forward draws on the GPU): afterwards
    the caller's first CUDA draw is the one a fresh process seeded the same way makes. Run in a fresh
    process, where CUDA is not initialised."""
    import subprocess
    import sys

    code = """
import torch, torchcount
from torch import nn
class Draws(nn.Module):
    def forward(self, x):
        return x + torch.rand(4, device="cuda").sum().cpu()
torch.manual_seed(5)
assert not torch.cuda.is_initialized()
torchcount.profile(Draws(), torch.ones(2), warn=False)
print(torch.rand(4, device="cuda").tolist())
"""
    fresh = "import torch\ntorch.manual_seed(5)\nprint(torch.rand(4, device='cuda').tolist())\n"
    run = [subprocess.run([sys.executable, "-c", c], capture_output=True, text=True, timeout=300) for c in (code, fresh)]
    assert run[0].returncode == 0, run[0].stderr[-2000:]
    assert run[0].stdout == run[1].stdout
