"""Hugging Face architectures from tiny configs (random weights, no downloads), eager attention:
torchcount's MACs equal torch.utils.flop_counter's FLOPs / 2 (with eager attention every
product is a matmul flop_counter counts), every op is counted, the parameters are the model's
unique ones, the table's rows add up at every depth and the model comes back as it was.
(About 6 s for the 31 on 2 cores, startup included.) benchmarks/hf_sweep.py runs every model type transformers registers
the same way (tests/test_hf_sweep.py, marked slow)."""
from __future__ import annotations

import warnings

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import torchcount
from torchcount.report import visible_rows

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()

V = 99
ENC = dict(vocab_size=V, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
           max_position_embeddings=64)
DEC = dict(ENC, num_key_value_heads=2, pad_token_id=0)
# experts run one by one (flop_counter has no formula for torch._grouped_mm, transformers' default;
# test_real_models checks that path against a closed form)
MOE = dict(DEC, intermediate_size=48, experts_implementation="eager")
S2S = dict(vocab_size=V, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
           decoder_attention_heads=4, encoder_ffn_dim=37, decoder_ffn_dim=37, max_position_embeddings=64,
           pad_token_id=1, decoder_start_token_id=2)
VIT = dict(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
           intermediate_size=37, num_channels=3)

ARCHITECTURES = {  # name: (model_type, config, inputs)
    "bert": ("bert", ENC, "text"),
    "gpt2": ("gpt2", dict(vocab_size=V, n_embd=32, n_layer=2, n_head=4, n_positions=64), "text"),
    "llama": ("llama", DEC, "text"),
    "mixtral": ("mixtral", dict(MOE, num_local_experts=4, num_experts_per_tok=2), "text"),
    "t5": ("t5", dict(vocab_size=V, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_decoder_layers=2,
                      num_heads=4, decoder_start_token_id=0), "s2s"),
    "whisper": ("whisper", dict(vocab_size=V, d_model=32, encoder_layers=2, decoder_layers=2,
                                encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=37,
                                decoder_ffn_dim=37, num_mel_bins=16, max_source_positions=16,
                                max_target_positions=32, pad_token_id=0, decoder_start_token_id=1), "whisper"),
}
MORE = {
    "roberta": ("roberta", dict(ENC, pad_token_id=1), "text"),
    "distilbert": ("distilbert", dict(vocab_size=V, dim=32, n_layers=2, n_heads=4, hidden_dim=37,
                                      max_position_embeddings=64), "text"),
    "albert": ("albert", dict(ENC, embedding_size=16), "text"),  # one layer shared by every step
    "electra": ("electra", dict(ENC, embedding_size=16), "text"),
    "gpt_neox": ("gpt_neox", dict(ENC, rotary_pct=0.5), "text"),
    "opt": ("opt", dict(vocab_size=V, hidden_size=32, num_hidden_layers=2, ffn_dim=37, num_attention_heads=4,
                        word_embed_proj_dim=32, max_position_embeddings=64, pad_token_id=1), "text"),
    "bloom": ("bloom", dict(vocab_size=V, hidden_size=32, n_layer=2, n_head=4), "text"),
    "falcon": ("falcon", dict(vocab_size=V, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                              new_decoder_architecture=True, num_kv_heads=2), "text"),
    "mistral": ("mistral", dict(DEC, sliding_window=4), "text"),
    "qwen2": ("qwen2", DEC, "text"),
    "qwen2_moe": ("qwen2_moe", dict(DEC, experts_implementation="eager", moe_intermediate_size=16,
                                    shared_expert_intermediate_size=24,
                                    num_experts=4, num_experts_per_tok=2, decoder_sparse_step=1,
                                    mlp_only_layers=[]), "text"),
    "gemma2": ("gemma2", dict(DEC, head_dim=8, sliding_window=4, query_pre_attn_scalar=8), "text"),
    "phi": ("phi", dict(DEC, partial_rotary_factor=0.5), "text"),
    "bart": ("bart", S2S, "s2s"),
    "marian": ("marian", dict(S2S, decoder_vocab_size=V), "s2s"),
    "vit": ("vit", VIT, "image"),
    "clip_vision": ("clip_vision_model", VIT, "image"),
    "wav2vec2": ("wav2vec2", dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                  intermediate_size=37, conv_dim=(16, 16), conv_stride=(4, 4), conv_kernel=(8, 8),
                                  num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, vocab_size=V),
                 "audio"),
    "mamba": ("mamba", dict(vocab_size=V, hidden_size=32, num_hidden_layers=2, state_size=8, expand=2,
                            conv_kernel=4), "text_nomask"),
    # Mamba-2: num_heads·head_dim = expand·hidden; its chunked scan runs in chunks of 4
    "mamba2": ("mamba2", dict(vocab_size=V, hidden_size=32, num_hidden_layers=2, num_heads=8, head_dim=8,
                              state_size=8, n_groups=1, expand=2, conv_kernel=4, chunk_size=4), "text"),
    # multi-head latent attention (low-rank q and kv), experts routed by group-limited top-k
    "deepseek_v3": ("deepseek_v3", dict(MOE, num_key_value_heads=4, q_lora_rank=16, kv_lora_rank=16,
                                        qk_rope_head_dim=8, qk_nope_head_dim=8, v_head_dim=8, n_routed_experts=4,
                                        num_experts_per_tok=2, n_group=2, topk_group=1, moe_intermediate_size=16,
                                        first_k_dense_replace=1), "text"),
    # a vision-language model fed an image: Conv3d patches, 2-D vision rotary, the 2×2 patch merger, the
    # image features scattered into the text at its image tokens, multimodal rotary (time, height, width)
    "qwen2_vl": ("qwen2_vl", dict(text_config=dict(DEC, rope_parameters=dict(
        rope_type="default", rope_theta=1e6, mrope_section=[1, 1, 2])), vision_config=dict(
        depth=2, embed_dim=32, hidden_size=32, num_heads=4, patch_size=4, temporal_patch_size=2, spatial_merge_size=2),
        image_token_id=V - 1), "qwen_vl"),
    # token mixing by a 2-D FFT (rules/fft.py): no MACs, so flop_counter's count is still all of them
    "fnet": ("fnet", dict(ENC, pad_token_id=0), "text_nomask"),
}
# Qwen3-Next: gated delta-rule linear attention (chunks of 64: the 8 tokens padded to one chunk) mixed with
# gated full attention, and a sparse MoE with a shared expert. flop_counter has no formula for
# torch.linalg.solve_triangular: each linear layer solves a unit lower-triangular 64×64 system twice (the
# values' and the keys' right-hand sides), n·(n − 1)/2 MACs per right-hand column, which ours counts on top.
NEXT = dict(MOE, head_dim=8, layer_types=["linear_attention", "full_attention"], linear_num_key_heads=2,
            linear_num_value_heads=4, linear_key_head_dim=8, linear_value_head_dim=6, linear_conv_kernel_dim=4,
            num_experts=4, num_experts_per_tok=2, moe_intermediate_size=16, shared_expert_intermediate_size=24)
UNSEEN = {  # name: MACs flop_counter cannot see, by hand
    "qwen3_next": 64 * 63 // 2 * 2 * 4 * (6 + 8),  # one linear layer: batch 2 · 4 value heads · (d_v + d_k) columns
}
MORE["qwen3_next"] = ("qwen3_next", NEXT, "text")
# Mimi (a neural audio codec): its residual vector quantizer finds each frame's nearest code with torch.cdist,
# whose matrix-product path (aten._euclidean_dist) flop_counter has no formula for: per quantizer, rows · codes ·
# (d + 2) MACs (the product of the rows padded with their norms). 2 clips of 2 frames (12.5 a second at 24 kHz:
# 3,840 samples), 4 quantizers of 64 codes of width 32.
MIMI = dict(hidden_size=32, num_filters=2, upsample_groups=32, codebook_dim=32, codebook_size=64,
            vector_quantization_hidden_dimension=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
            head_dim=8, intermediate_size=37, num_quantizers=4)
UNSEEN["mimi"] = 4 * (2 * 2) * 64 * (32 + 2)
MORE["mimi"] = ("mimi", MIMI, "audio_mono")
CASES = [pytest.param(name, spec, id=name) for name, spec in {**ARCHITECTURES, **MORE}.items()]


def _inputs(kind: str) -> dict:
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(3, V, (2, 8), generator=g)
    mask = torch.ones(2, 8, dtype=torch.long)
    mask[1, -2:] = 0  # the second sequence padded
    if kind == "text":
        return {"input_ids": ids, "attention_mask": mask}
    if kind == "text_nomask":
        return {"input_ids": ids}
    if kind == "s2s":
        return {"input_ids": ids, "attention_mask": mask, "decoder_input_ids": torch.randint(3, V, (2, 4), generator=g)}
    if kind == "whisper":
        return {"input_features": torch.randn(2, 16, 32, generator=g),
                "decoder_input_ids": torch.randint(3, V, (2, 4), generator=g)}
    if kind == "image":
        return {"pixel_values": torch.randn(2, 3, 32, 32, generator=g)}
    if kind == "qwen_vl":  # one image per sequence: a 1×4×4 grid of 4×4-pixel patches (2 frames), merged to 4 tokens
        image = torch.full((2, 4), V - 1)
        ids = torch.cat([image, ids], 1)
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "mm_token_type_ids": (ids == V - 1).long(),
                "pixel_values": torch.randn(2 * 16, 3 * 2 * 4 * 4, generator=g),
                "image_grid_thw": torch.tensor([[1, 4, 4]] * 2)}
    if kind == "audio":
        return {"input_values": torch.randn(2, 1600, generator=g)}
    if kind == "audio_mono":  # (batch, channels, samples)
        return {"input_values": torch.randn(2, 1, 2 * 1920, generator=g)}
    raise ValueError(kind)


@pytest.mark.parametrize("name, spec", CASES)
def test_hugging_face_architecture(name, spec):
    model_type, config, kind = spec
    torch.manual_seed(0)
    cfg = transformers.AutoConfig.for_model(model_type, **config)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = transformers.AutoModel.from_config(cfg, attn_implementation="eager").eval()
    inputs = _inputs(kind)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        with FlopCounterMode(display=False) as counter:
            model(**inputs)
        report = torchcount.profile(model, inputs, warn=False)
    assert report.complete, [(u.path, u.what) for u in report.uncounted]
    assert report.total.macs == counter.get_total_flops() // 2 + UNSEEN.get(name, 0)
    assert report.total.params == sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    for depth in (None, 1, 2, 3):
        rows = visible_rows(report.layers, depth)
        assert sum(((r.self_cost if own else r.cost) for r, own in rows), torchcount.Cost()) == \
            report.total.cost, depth
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert all("forward" not in m.__dict__ and not m._forward_hooks for m in model.modules())
