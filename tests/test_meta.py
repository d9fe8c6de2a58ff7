"""Counting on the meta device gives the same numbers as counting on real tensors.

Each model is counted twice on the same input shape: once with real CPU tensors (small
inputs, so this stays fast), once with the model on ``meta`` (built under
``torch.device("meta")`` or moved with ``.to("meta")``) and a meta input. Every cost
category (MACs, additions, …, bytes), the parameter totals and every row must agree.
A few meta counts are also pinned to an independent closed form or published figure, so
the two sides cannot both be wrong in the same way unnoticed.
"""
from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import torchcount
from torchcount.cost import CATEGORIES

from conftest import needs, rope_macs


def _count(model, *inputs, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torchcount.UncountedWarning)
        with torch.no_grad():
            return torchcount.profile(model, inputs if len(inputs) != 1 else inputs[0], **kw)


def _meta(x):
    return torch.empty(x.shape, dtype=x.dtype, device="meta")


def _assert_same(real: torchcount.Report, meta: torchcount.Report):
    assert meta.total.params == real.total.params
    assert meta.total.buffers == real.total.buffers
    for cat in CATEGORIES:
        assert getattr(meta.total.cost, cat) == getattr(real.total.cost, cat), cat
    assert [r.path for r in meta.layers] == [r.path for r in real.layers]
    for r_meta, r_real in zip(meta.layers, real.layers):
        assert r_meta.cost == r_real.cost, r_meta.path
        assert r_meta.input_shapes == r_real.input_shapes, r_meta.path
        assert r_meta.output_shapes == r_real.output_shapes, r_meta.path
    assert sorted(meta.uncounted, key=str) == sorted(real.uncounted, key=str)
    assert real.total.macs > 0  # a check that compares two zeros proves nothing


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 16, 3)
        self.fc = nn.Linear(16 * 6 * 6, 10)

    def forward(self, x):
        x = self.pool(torch.relu(self.bn(self.conv1(x))))  # relu as a function: an op rule
        x = torch.relu(self.conv2(x))
        return self.fc(x.flatten(1))


def test_small_cnn_meta_equals_real_and_closed_form():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 16, 16)
    real = _count(SmallCNN().eval(), x)
    with torch.device("meta"):
        meta_model = SmallCNN().eval()
    meta = _count(meta_model, _meta(x))
    _assert_same(real, meta)
    # closed form, written out: conv1 2·16·16 positions × 8 out × 3·3·3; conv2 2·6·6 × 16 × 8·3·3;
    # fc 2 rows × 576 × 10
    macs = 2 * 16 * 16 * 8 * 27 + 2 * 6 * 6 * 16 * 72 + 2 * 576 * 10
    assert meta.total.macs == macs
    params = (8 * 27 + 8) + 2 * 8 + (16 * 72 + 16) + (576 * 10 + 10)
    assert meta.total.params == params


def test_resnet18_meta_equals_real():
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    x = torch.randn(1, 3, 64, 64)
    real = _count(torchvision.models.resnet18().eval(), x)
    meta = _count(torchvision.models.resnet18().eval().to("meta"), _meta(x))
    _assert_same(real, meta)


def test_resnet18_meta_at_224_matches_torchvision_published_ops():
    torchvision = pytest.importorskip("torchvision")
    weights = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    with torch.device("meta"):
        model = torchvision.models.resnet18().eval()
    report = _count(model, torch.empty(1, 3, 224, 224, device="meta"), convention="torchvision")
    assert report.total.params == weights.meta["num_params"]
    # torchvision publishes GMACs rounded to 3 decimals
    assert abs(report.total.flops / 1e9 - weights.meta["_ops"]) <= 0.0005 + 1e-9


def test_transformer_encoder_meta_equals_real():
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64, batch_first=True)
    # eval mode; both sides run without the fused CPU fast path (it is not taken for meta tensors,
    # and profile turns it off for the real side, so both run the same ops)
    real_model = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False).eval()
    x = torch.randn(2, 10, 32)
    with torch.no_grad():  # where the fast path would be taken
        real = _count(real_model, x)
        meta = _count(real_model.to("meta"), _meta(x))
    _assert_same(real, meta)
    # the contractions, closed form per layer: q,k,v,out projections 4·rows·d·d, QKᵀ and A·V
    # 2·batch·heads·T·T·d_h each... written out: rows = 2·10, d = 32, T = 10, d_h = 8, ffn 2·rows·d·64
    rows, d, T, heads, d_h = 20, 32, 10, 4, 8
    per_layer = 4 * rows * d * d + 2 * (2 * heads * T * T * d_h) + 2 * rows * d * 64
    assert meta.total.macs == 2 * per_layer


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU])
def test_recurrent_meta_equals_real(cls):
    torch.manual_seed(0)
    x = torch.randn(5, 3, 8)  # (T, batch, features)
    real = _count(cls(8, 16, num_layers=2), x)
    with torch.device("meta"):
        meta_model = cls(8, 16, num_layers=2)
    meta = _count(meta_model, _meta(x))
    _assert_same(real, meta)
    # gate contractions, closed form: per step and sequence element, gates·hidden·(input + hidden)
    gates = 4 if cls is nn.LSTM else 3
    macs = 5 * 3 * gates * 16 * (8 + 16) + 5 * 3 * gates * 16 * (16 + 16)
    assert meta.total.macs == macs


@pytest.mark.parametrize("copy_params", [False, True])
def test_an_embedding_with_max_norm_on_meta_equals_real(copy_params):
    """Its forward renormalises the rows it looks up in place: on meta that bumped the weight's
    version with nothing to restore, and raised ParameterModifiedError."""
    idx = torch.tensor([[1, 2, 3, 2]])
    real = _count(nn.Embedding(10, 4, max_norm=1.0), idx, copy_params=copy_params)
    meta = _count(nn.Embedding(10, 4, max_norm=1.0, device="meta"), idx.to("meta"), copy_params=copy_params)
    # the renorm of every row looked up (an upper bound, as rules/embedding.py prices it): no MACs
    assert meta.total.cost == real.total.cost and real.total.flops > 0 and meta.total.params == 40


def test_meta_linear_never_allocates():
    """A model on meta with a meta input never touches real memory: the count of a large
    Linear (4096×4096, 64 MiB of weights if real) is its closed form."""
    with torch.device("meta"):
        big = nn.Linear(4096, 4096)
    report = _count(big, torch.empty(8, 4096, device="meta"))
    assert report.total.macs == 8 * 4096 * 4096
    assert report.total.params == 4096 * 4096 + 4096


@needs("nn.RMSNorm")  # (the example is written with it)
def test_llama_example_small_config_matches_its_closed_form():
    """examples/llama70b_meta.py at a toy size: on meta, the 2-per-MAC total equals the closed
    form 2·N_lin·T + 4·L·T²·d exactly, and the parameters equal their closed form (written out
    here again for this size, independently of the example's own function)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / "llama70b_meta.py"
    spec = importlib.util.spec_from_file_location("llama70b_meta", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    cfg = dict(layers=2, d_model=64, heads=4, kv_heads=2, ffn=96, vocab=100, seq=16,
               rope_theta=10000.0, eps=1e-5)
    out = example.main(cfg, write=False)
    L, d, kv, f, V, T = 2, 64, 2 * 16, 96, 100, 16
    n_lin = L * (2 * d * d + 2 * d * kv + 3 * d * f) + d * V
    assert out["params"] == n_lin + V * d + L * 2 * d + d
    assert out["flops_2mac"] == 2 * n_lin * T + 4 * L * T * T * d
    assert out["uncounted"] == []
    # by layer type, the two terms of the closed form apart: the Linear layers hold the weights' term
    # (and every linear parameter), the attention's own work the scores' and weighted sums' MACs
    with torch.device("meta"):
        model = example.Llama(cfg).eval()
    with torch.no_grad():
        report = torchcount.profile(model, torch.zeros(1, T, dtype=torch.long, device="meta"))
    groups = {g.name: g for g in report.by_type(convention="2mac").groups}
    assert (groups["Linear"].params, groups["Linear"].cost.macs) == (n_lin, n_lin * T)
    assert groups["Attention (self)"].cost.macs == 2 * L * T * T * d


def _example(name: str):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    return example


@needs("nn.RMSNorm")
@needs("torch._grouped_mm on CPU and meta in bfloat16, with offs")
def test_moe_example_small_config_meta_equals_cpu_and_its_closed_form():
    """examples/moe_meta.py (a Mixtral-shaped MoE, experts dispatched by torch._grouped_mm) at a toy
    size: on meta every cost category — bytes included: both devices run the same ops, and the
    grouped products read every expert's weights on both — and every row equal the CPU's; the
    2-per-MAC total equals the closed form exactly, with k experts per token, not E (written out
    here again for this size, independently of the example's own function)."""
    example = _example("moe_meta")
    cfg = dict(layers=2, d_model=64, heads=4, kv_heads=2, ffn=96, experts=4, top_k=2, vocab=100, seq=16,
               rope_theta=10000.0, eps=1e-5)
    torch.manual_seed(0)
    ids = torch.randint(0, 100, (1, 16))
    real = _count(example.build(cfg, "cpu"), ids)
    meta = _count(example.build(cfg, "meta"), _meta(ids))
    _assert_same(real, meta)
    assert meta.uncounted == [] and meta.total.cost.bytes_read > 0

    L, d, kv, f, E, k, V, T = 2, 64, 2 * 16, 96, 4, 2, 100, 16
    attention = 2 * d * d + 2 * d * kv  # q, o; k, v
    assert meta.total.params == L * (attention + d * E + E * 3 * d * f + 2 * d) + 2 * V * d + d
    n_active = L * (attention + d * E + k * 3 * d * f) + d * V
    assert meta.with_convention("2mac").total.flops == 2 * n_active * T + 4 * L * T * T * d
    # the experts: T·k (token, expert) pairs through 3 matrices of d·f each, whatever the router chose
    for i in range(L):
        assert {r.path: r for r in meta.layers}[f"layers.{i}.moe.experts"].macs == T * k * 3 * d * f
    out = example.main(cfg, write=False)  # the example's own figures, as it prints them
    assert out["flops_2mac"] == out["closed_form"]["flops"] == 2 * n_active * T + 4 * L * T * T * d
    assert out["params"] == out["closed_form"]["params"] == meta.total.params


_DEC = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            max_position_embeddings=64, pad_token_id=0)
#: toy MoE decoders of transformers (as tests/test_hf_zoo.py's), 4 experts, 2 per token
_HF_MOE = {
    "mixtral": dict(_DEC, intermediate_size=48, num_local_experts=4, num_experts_per_tok=2),
    "qwen2_moe": dict(_DEC, intermediate_size=37, moe_intermediate_size=16, shared_expert_intermediate_size=24,
                      num_experts=4, num_experts_per_tok=2, decoder_sparse_step=1, mlp_only_layers=[]),
    "qwen3_moe": dict(_DEC, intermediate_size=37, moe_intermediate_size=16, num_experts=4, num_experts_per_tok=2,
                      decoder_sparse_step=1, mlp_only_layers=[]),
    # multi-head latent attention, experts routed by group-limited top-k, a dense first layer
    "deepseek_v3": dict(_DEC, num_key_value_heads=4, intermediate_size=48, q_lora_rank=16, kv_lora_rank=16,
                        qk_rope_head_dim=8, qk_nope_head_dim=8, v_head_dim=8, n_routed_experts=4,
                        num_experts_per_tok=2, n_group=2, topk_group=1, moe_intermediate_size=16,
                        first_k_dense_replace=1),
}


def _hf_moe_on(device: str, model_type: str, attention: str):
    """A toy transformers MoE decoder in bfloat16 with its experts through torch._grouped_mm, counted on
    ``device`` for a batch of 2 × 8 token ids; skipped where transformers cannot build it so."""
    transformers = pytest.importorskip("transformers")
    try:
        cfg = transformers.AutoConfig.for_model(model_type, **_HF_MOE[model_type], experts_implementation="grouped_mm",
                                                attn_implementation=attention)
    except ValueError as exc:  # an older transformers: no such model type
        pytest.skip(f"transformers {transformers.__version__}: {exc}")
    if getattr(cfg, "_experts_implementation", None) != "grouped_mm":
        pytest.skip(f"transformers {transformers.__version__} has no experts_implementation")
    torch.manual_seed(0)
    with warnings.catch_warnings(), torch.device(device):
        warnings.simplefilter("ignore")
        model = transformers.AutoModelForCausalLM.from_config(cfg).eval().to(torch.bfloat16)
    return _count(model, torch.randint(3, 99, (2, 8), device=device))


@needs("torch._grouped_mm on CPU and meta in bfloat16, with offs")
@pytest.mark.parametrize("model_type", sorted(_HF_MOE))
def test_transformers_moe_with_grouped_mm_in_bfloat16_on_meta_equals_cpu(model_type):
    """transformers' MoE decoders count on meta with experts_implementation="grouped_mm" in bfloat16
    (their "eager" experts call nonzero; torch._grouped_mm's meta kernel takes bfloat16 only). With
    eager attention both devices run the same ops: every category, bytes included, and every row agree."""
    _assert_same(_hf_moe_on("cpu", model_type, "eager"), _hf_moe_on("meta", model_type, "eager"))


@needs("torch._grouped_mm on CPU and meta in bfloat16, with offs")
def test_transformers_mixtral_with_sdpa_on_meta_differs_in_its_attention_bytes_only():
    """With SDPA (transformers' default) the CPU runs one fused kernel and meta its math fallback, op
    by op (docs/performance.md, "Limits of meta counting"): every operation count still agrees, and
    equals the closed form; only the attention rows (and those holding them) move other bytes, more on
    meta (the float32 copies, the causal mask, the repeated k/v heads and the L×S scores)."""
    cpu, meta = _hf_moe_on("cpu", "mixtral", "sdpa"), _hf_moe_on("meta", "mixtral", "sdpa")
    assert meta.uncounted == cpu.uncounted == []
    no_bytes = dict(bytes_read=0, bytes_written=0)
    assert [r.path for r in meta.layers] == [r.path for r in cpu.layers]
    for r_meta, r_cpu in zip(meta.layers, cpu.layers):
        assert r_meta.cost._replace(**no_bytes) == r_cpu.cost._replace(**no_bytes), r_meta.path
    # layers × (T·(q, k, v, o, router) + the attention products + T·k·3·d·f) + the head; T = 16 tokens,
    # 4 query heads of dim 8 (2 kv heads), 4 experts of FFN 48, 2 per token
    T, d = 16, 32
    layer = T * (d * d + 2 * d * 16 + d * d + d * 4) + 2 * 4 * 2 * 8 * 8 * 8 + T * 2 * 3 * d * 48
    from transformers.models.mixtral.modeling_mixtral import MixtralRotaryEmbedding
    assert meta.total.macs == 2 * layer + T * d * 99 + rope_macs(MixtralRotaryEmbedding, 8, 8)  # (8 positions)
    differ = {r.path for r_cpu, r in zip(cpu.layers, meta.layers) if r.cost != r_cpu.cost}
    attention = {f"model.layers.{i}.self_attn" for i in range(2)}
    assert differ == attention | {"model", "model.layers", "model.layers.0", "model.layers.1"}
    for path in attention:
        r_cpu, r_meta = (next(r for r in rep.layers if r.path == path) for rep in (cpu, meta))
        assert r_meta.cost.bytes_read > r_cpu.cost.bytes_read
        assert r_meta.cost.bytes_written > r_cpu.cost.bytes_written
