"""Sweep of Hugging Face architectures: every model type transformers registers, built from a tiny
config (random weights, no downloads), eager attention, eager experts.

For each model type: build the base model (``AutoModel.from_config``) from its config class's
defaults shrunk by known attribute names (widths, depths, heads, vocabularies, image and audio
sizes; sub-configs likewise; ADJUST: per type, where a rule by name cannot work), make dummy inputs
from the forward's signature (INPUTS: per type, arguments the signature cannot tell: boxes, patches,
codebooks, masks), run the plain forward under ``torch.utils.flop_counter`` (a type whose plain
forward fails is skipped: not torchcount's business), then ``torchcount.profile``. Recorded per
type: ran / skipped (why) / torchcount error; coverage and the uncounted ops; MACs against
flop_counter's FLOPs / 2 (which counts only mm, bmm, addmm, convolutions, SDPA and a few more: a
difference is a lead, not a verdict); whether the model came back as it was (state, hooks); a
training step (the mean square of the first output with a gradient, backward) against flop_counter
over the same step; then the same forward on the meta device, compared with the CPU's count
category by category.

Counts, not timings. Run (about 4 min on 2 cores for every type)::

    PYTHONPATH=. .venv/bin/python benchmarks/hf_sweep.py             # every type
    PYTHONPATH=. .venv/bin/python benchmarks/hf_sweep.py bert llama  # some types, printed only
    PYTHONPATH=. .venv/bin/python benchmarks/hf_sweep.py --out benchmarks/results/x.md bert llama  # and written

The full run writes benchmarks/results/hf_sweep.md (and hf_sweep.json, one record per type).
tests/test_hf_sweep.py (marked ``slow``) runs it and fails on any torchcount error, a model not
restored, an uncounted op or a MAC difference it does not list with its reason.
"""
from __future__ import annotations

import dataclasses
import datetime
import inspect
import json
import platform
import re
import signal
import sys
import time
import traceback
import warnings
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

import torchcount

WIDTH, FFN, HEADS, KV_HEADS, HEAD_DIM, LAYERS, VOCAB, IMAGE, PATCH = 32, 64, 4, 2, 8, 2, 99, 32, 8
MAX_PARAMS = 20_000_000  # after shrinking; bigger ones are skipped (a width we do not know the name of)
TIMEOUT_S = 60
B, T, T_DEC = 2, 8, 4

# attribute name → value (ints), applied wherever a config class has a field of that name
SIZES = {
    **dict.fromkeys(["hidden_size", "d_model", "n_embd", "embed_dim", "dim", "d_embed", "word_embed_proj_dim",
                     "embedding_size", "text_embed_dim", "vision_embed_dim", "projection_dim", "hidden_dim",
                     "encoder_hidden_size", "decoder_hidden_size", "audio_embed_dim", "d_latent",
                     "embedding_dim", "model_dim", "n_embed", "emb_dim", "out_hidden_size"], WIDTH),
    **dict.fromkeys(["intermediate_size", "ffn_dim", "encoder_ffn_dim", "decoder_ffn_dim", "d_ff", "n_inner",
                     "mlp_dim", "ffn_hidden_size", "decoder_intermediate_size", "encoder_intermediate_size",
                     "dim_feedforward", "linear_units", "ff_dim"], FFN),
    **dict.fromkeys(["moe_intermediate_size", "expert_intermediate_size"], 16),
    **dict.fromkeys(["shared_expert_intermediate_size"], 24),
    **dict.fromkeys(["num_hidden_layers", "num_layers", "n_layer", "n_layers", "encoder_layers", "decoder_layers",
                     "num_decoder_layers", "num_encoder_layers", "depth", "encoder_depth", "decoder_depth",
                     "num_blocks", "decoder_num_layers", "encoder_num_layers"], LAYERS),
    **dict.fromkeys(["num_attention_heads", "n_head", "n_heads", "encoder_attention_heads",
                     "decoder_attention_heads", "num_heads", "encoder_num_attention_heads",
                     "decoder_num_attention_heads", "num_attention_heads_per_layer"], HEADS),
    **dict.fromkeys(["num_key_value_heads", "num_kv_heads", "multi_query_group_num", "n_kv_heads"], KV_HEADS),
    **dict.fromkeys(["head_dim", "attention_head_dim", "kv_channels", "d_kv", "v_head_dim", "qk_nope_head_dim",
                     "qk_rope_head_dim"], HEAD_DIM),
    **dict.fromkeys(["q_lora_rank", "kv_lora_rank"], 16),
    **dict.fromkeys(["num_experts", "num_local_experts", "n_routed_experts", "moe_num_experts"], 4),
    **dict.fromkeys(["num_experts_per_tok", "moe_topk", "top_k", "num_selected_experts", "moe_k"], 2),
    **dict.fromkeys(["image_size", "img_size"], IMAGE),
    **dict.fromkeys(["patch_size"], PATCH),
    **dict.fromkeys(["max_position_embeddings", "n_positions", "max_seq_len", "max_sequence_length"], 128),
    **dict.fromkeys(["first_k_dense_replace", "topk_group"], 1),
    **dict.fromkeys(["full_attention_interval", "num_frames", "tubelet_size"], 2),
    **dict.fromkeys(["n_group"], 2),
    **dict.fromkeys(["max_source_positions"], 16),
    **dict.fromkeys(["window_size"], 4),
    **dict.fromkeys(["rotary_dim"], 4),
    **dict.fromkeys(["max_target_positions"], 32),
    **dict.fromkeys(["state_size", "d_state", "ssm_state_size", "mamba_d_state"], 8),
}
DROP = ["layer_types", "mlp_only_layers", "sliding_window_pattern_layers"]  # derived from the depth in __post_init__

# Nemotron 3's diarization encoder projects values with every head (key/value heads = heads); its head reads the
# encoder's width under a name of its own
_DIARIZATION = {"audio_config": {"num_key_value_heads": HEADS},
                "head_config": {"audio_hidden_size": WIDTH, "hidden_size": WIDTH}}
_TRANSCRIBE_AUDIO = {"asr_config": {"num_key_value_heads": HEADS}, "diarization_config": _DIARIZATION}

# Swin: the last of 4 stages (8× fewer patches a side than the first) must hold a whole window (at full size
# 7 × 7 patches, one 7 × 7 window)
_SWIN = {"image_size": 2 * IMAGE, "patch_size": 4, "window_size": 2}

_QWEN4_TEXT = {"indexer_n_heads": 2, "indexer_kv_heads": 1, "indexer_head_dim": HEAD_DIM, "indexer_budget": 4,
               "indexer_compress_ratio": 2, "linear_num_key_heads": 2, "linear_num_value_heads": 4,
               "linear_key_head_dim": HEAD_DIM, "linear_value_head_dim": HEAD_DIM}

# Mimi-style codecs: a depthwise upsampling (groups = width), conv filters doubled at each downsampling, a
# residual vector quantizer of its own width
_MIMI = {"upsample_groups": WIDTH, "num_filters": 2, "codebook_dim": WIDTH, "codebook_size": 64,
         "vector_quantization_hidden_dimension": WIDTH}

# RT-DETR-style detectors: backbone stages 2–4 (as at full size) into a hybrid encoder that names their
# widths; 16 queries. The ResNet's stage widths, or HGNetV2's per-stage lists, shrunk together
_RT_DETR = {"encoder_hidden_dim": WIDTH, "decoder_in_channels": [WIDTH] * 3, "num_queries": 16}
_RESNET_234 = {"out_features": ["stage2", "stage3", "stage4"], "hidden_sizes": [16, 32, 32, 32]}
_HGNET = {"stem_channels": [3, 16, 16], "stage_in_channels": [16, 32, 64, 64], "stage_mid_channels": [16, 16, 32, 32],
          "stage_out_channels": [32, 64, 64, 128], "stage_num_blocks": [1, 1, 1, 1], "hidden_sizes": [32, 64, 64, 128],
          "stage_numb_of_layers": [2, 2, 2, 2]}

def _resnet_backbone(stages: list[int]):
    """transformers' own tiny ResNet (bottleneck blocks) in place of timm's ResNet-50, default of the DETR
    family (timm is not installed): the same architecture, built without timm."""
    import transformers
    return lambda: transformers.ResNetConfig(embedding_size=16, hidden_sizes=[32, 32, 64, 64], depths=[1, 1, 1, 1],
                                             layer_type="bottleneck", out_features=[f"stage{i}" for i in stages])


_SAM = {"vision_config": {"output_channels": WIDTH, "global_attn_indexes": [1], "num_pos_feats": WIDTH // 2,
                          "mlp_dim": FFN},
        "mask_decoder_config": {"iou_head_hidden_dim": WIDTH}}

# SAM 2's Hiera: 4 stages (1, 1, 2, 1 blocks) on a 64-pixel image (patches of 4: 16, 8, 4, 2 a side), windows
# that fit each stage, global attention in stage 3's second block (a stage's first block pools its queries, and
# cannot be global); the FPN reads the stages' widths and sizes
_HIERA = {"hidden_size": 8, "embed_dim_per_stage": [8, 16, 32, 64], "blocks_per_stage": [1, 1, 2, 1],
          "num_attention_heads_per_stage": [1, 1, 1, 1], "global_attention_blocks": [3],
          "window_size_per_stage": [4, 4, 2, 2], "window_positional_embedding_background_size": [4, 4],
          "image_size": [2 * IMAGE, 2 * IMAGE]}
_SAM2_VISION = {"backbone_config": _HIERA, "backbone_channel_list": [64, 32, 16, 8], "fpn_hidden_size": WIDTH,
                "backbone_feature_sizes": [[16, 16], [8, 8], [4, 4]]}
_SAM2 = {"vision_config": _SAM2_VISION, "prompt_encoder_config": {"image_size": 2 * IMAGE, "patch_size": 16},
         "mask_decoder_config": {"iou_head_hidden_dim": WIDTH}}

# SAM 3's ViT: 64-pixel images in patches of 8 (an 8 × 8 grid, windows of 4, position embeddings pretrained
# at 32 pixels), global attention at layer 1; its FPN at 4, 2 and 1 times the grid
_SAM3_VISION = {"backbone_config": {"image_size": 2 * IMAGE, "pretrain_image_size": IMAGE, "global_attn_indexes": [1]},
                "fpn_hidden_size": WIDTH, "backbone_feature_sizes": [[32, 32], [16, 16], [8, 8]]}

# per model type, where a rule by attribute name cannot work: attributes set after the rules (a sub-config's
# name maps to its own dict; "_after" is called with the built config)
ADJUST = {
    # widths and depths under names of their own
    **dict.fromkeys(["efficientnet"], {"width_coefficient": 0.25, "depth_coefficient": 1.0, "hidden_dim": 320,
                                       "num_block_repeats": [1] * 7}),  # EfficientNet-B7's multipliers
    # ALIGN: the image embedding is the last block's width, compared with the text's projection (32)
    "align": {"vision_config": {"width_coefficient": 0.1, "depth_coefficient": 1.0, "hidden_dim": 32,
                                "num_block_repeats": [1] * 7}},
    "funnel": {"d_inner": FFN, "d_head": HEAD_DIM},
    "llama4": {"vision_config": {"projector_input_dim": WIDTH, "projector_output_dim": WIDTH,
                                 "vision_output_dim": WIDTH,
                                 "intermediate_size": 4 * WIDTH},  # the pixel shuffle's 4 × width
               "text_config": {"intermediate_size_mlp": FFN}},
    "longcat_flash": {"zero_expert_num": 2, "expert_ffn_hidden_size": 16},
    "luke": {"entity_vocab_size": VOCAB, "entity_emb_size": 16},
    "muse_glimmer": {"projector_hidden_size": WIDTH},
    "muse_spark": {"projector_hidden_size": WIDTH, "text_config": {"moe_hidden_size": 16}},
    "perceiver": {"d_latents": WIDTH, "num_latents": 16},
    "vjepa2": {"pred_hidden_size": WIDTH, "pred_num_attention_heads": HEADS, "pred_num_hidden_layers": LAYERS,
               "crop_size": IMAGE, "frames_per_clip": 4},
    "dinov3_convnext": {"hidden_sizes": [16, 32, 32, 32], "depths": [1, 1, 1, 1]},
    "blt": {"encoder_hash_byte_group_vocab": VOCAB, "encoder_config": {"hidden_size_global": WIDTH},
            "decoder_config": {"hidden_size_global": WIDTH}},
    # Gemma 4's full-attention layers: heads of global_head_dim (512), a keyword its config pops
    "gemma4_text": {"vocab_size_per_layer_input": VOCAB, "hidden_size_per_layer_input": 8, "global_head_dim": HEAD_DIM},
    "gemma4": {"text_config": {"vocab_size_per_layer_input": VOCAB, "hidden_size_per_layer_input": 8,
                               "global_head_dim": HEAD_DIM}},
    "florence2": {"vision_config": {"embed_dim": [16, 32, 32, 32], "num_groups": [1, 2, 2, 2]}},
    **dict.fromkeys(["seamless_m4t", "seamless_m4t_v2"], {
        "t2u_encoder_ffn_dim": FFN, "t2u_decoder_ffn_dim": FFN, "speech_encoder_intermediate_size": FFN,
        "unit_embed_dim": WIDTH, "upsample_initial_channel": WIDTH, "t2u_vocab_size": VOCAB,
        "unit_hifi_gan_vocab_size": VOCAB, "lang_embed_dim": 8, "spkr_embed_dim": 8}),
    "janus": {"vision_config": {"num_image_tokens": (IMAGE // PATCH) ** 2},
              "vq_config": {"base_channels": 32,  # GroupNorm of 32 groups
                            "latent_channels": 8, "num_embeddings": 64, "embed_dim": 8,
                            "num_res_blocks": 1, "projection_dim": WIDTH, "image_token_embed_dim": WIDTH,
                            "num_patches": IMAGE // PATCH}},
    # Chameleon, Emu3: the tokenizer's map of image-code tokens is None by default (only the image placeholder
    # here: text alone runs); their image tokenizers (VQ-GANs, GroupNorm of 32 groups) at 32 base channels
    "chameleon": {"vocabulary_map": {"<image>": 5}, "vq_config": {
        "base_channels": 32, "num_res_blocks": 1, "latent_channels": 8, "embed_dim": 8, "num_embeddings": 64}},
    "emu3": {"vocabulary_map": {"<image>": 5, "<|extra_200|>": 6}, "vq_config": {
        "base_channels": 32, "num_res_blocks": 1, "codebook_size": 64}},
    "bit": {"hidden_sizes": [128] * 4},  # GroupNorm of 32 groups over bottlenecks of a quarter width
    "textnet": {"depths": [3, 4, 4, 4], "stem_out_channels": 16},  # depths fixed by per-block kernel lists
    # xLSTM's cache rounds the key and value widths (width × 0.5, width) up to multiples of 64, its layers do not
    "xlstm": {"hidden_size": 128, "embedding_dim": 128},
    # hybrids whose two layers would both be recurrent (no attention layer: the cache cannot say its length);
    # SSM heads (mamba_n_heads must divide expand × width), chunks of 8
    "bamba": {"attn_layer_indices": [1], "mamba_chunk_size": 8, "mamba_n_heads": HEADS},
    "granitemoehybrid": {"layer_types": ["mamba", "attention"], "mamba_chunk_size": 8, "shared_intermediate_size": 64,
                         "mamba_n_heads": HEADS},
    "jamba": {"attn_layer_period": 2, "attn_layer_offset": 1},
    "recurrent_gemma": {"block_types": ["recurrent", "attention"]},
    "lfm3": {"num_hidden_layers": 3, "layer_types": ["conv", "sliding_attention", "full_attention"]},
    "lfm3_vl": {"text_config": {"num_hidden_layers": 3,
                                "layer_types": ["conv", "sliding_attention", "full_attention"]}},
    "mamba2": {"head_dim": 16, "n_groups": 2, "chunk_size": 8},  # width × expand = heads × head_dim
    "nemo_speechlm": {"audio_config": _TRANSCRIBE_AUDIO,
                      "text_config": {"mamba_num_heads": HEADS, "mamba_head_dim": 16, "chunk_size": 8, "n_groups": 2,
                                      "moe_shared_expert_intermediate_size": FFN}},
    "dory": {"num_hidden_layers": 3, "n_input_layers": 1, "n_output_layers": 1},  # prelude, looped block, coda
    # Gemma 3n shares the key/value cache of its last layers with earlier ones of the same kind
    "gemma3n_text": {"num_hidden_layers": 4, "num_kv_shared_layers": 2,
                     "layer_types": ["sliding_attention", "full_attention"] * 2,
                     "vocab_size_per_layer_input": VOCAB, "hidden_size_per_layer_input": 8},
    # Qwen4-Exp's sparse attention indexer (one key head; 4 tokens kept, compressed by 2) and its gated delta
    # rule's heads (16 key and 32 value heads of 128)
    "qwen4_exp_text": _QWEN4_TEXT,
    "qwen4_exp": {"text_config": _QWEN4_TEXT},
    # key/value heads = heads (values projected with every head, or rotated before the heads are grouped)
    **dict.fromkeys(["nemotron3_diarization_audio", "nemotron3_5_transcribe_asr_audio",
                     "nemotron3_5_transcribe_word_timestamp", "granite_speech5_encoder"],
                    {"num_key_value_heads": HEADS}),
    "granite_speech5_ctc": {"encoder_config": {"num_key_value_heads": HEADS}},
    "nemotron3_diarization": _DIARIZATION,
    "nemotron3_5_transcribe_audio": _TRANSCRIBE_AUDIO,
    "exaone4_5_vision": {"num_key_value_heads": KV_HEADS},  # its heads are num_heads, not shrunk with them
    # sizes without a default (None): an expert count, a vocabulary (ESM's 33 amino-acid tokens), layer kinds
    "dots1": {"n_routed_experts": 4, "num_experts_per_tok": 2, "n_shared_experts": 1},
    "diffusion_gemma": {"text_config": {"num_experts": 4, "top_k_experts": 2, "moe_intermediate_size": 16,
                                        "global_head_dim": HEAD_DIM}, "canvas_length": T},
    "esm": {"vocab_size": 33, "pad_token_id": 1},
    "lfm2_moe": {"layer_types": ["conv", "full_attention"]},
    "deepseek_ocr2": {"text_config": {"mlp_layer_types": ["dense", "sparse"]}},
    # a forecast horizon (no default) and 3 lags of the series
    **dict.fromkeys(["informer", "time_series_transformer"], {
        "prediction_length": 4, "context_length": T, "lags_sequence": [1, 2, 3], "num_time_features": 1}),
    "autoformer": {"prediction_length": 4, "context_length": T, "lags_sequence": [1, 2, 3], "num_time_features": 1,
                   "label_length": 4},  # the decoder's start: the context's last 4 steps (10 by default)
    # values a default config lacks and its model reads (transformers 5.24): rotary parameters per layer kind,
    # DBRX's attention theta and clipping, Step3p7's window (its forward builds a sliding mask in any case), a
    # part's attribute its parent sets, Moonshine Streaming's key/value heads (= heads)
    "cohere_compass_text": {"_after": lambda c: setattr(c, "rope_parameters", {
        "full_attention": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 1, 1]}})},
    "cohere_compass": {"text_config": {"_after": lambda c: setattr(c, "rope_parameters", {
        "full_attention": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 1, 1]}})}},
    "dbrx": {"attn_config": {"rope_theta": 500000.0, "clip_qkv": 8.0}},  # DBRX's own values
    "step3p7": {"text_config": {"sliding_window": 4}},
    "t5gemma2_encoder": {"text_config": {"_after": lambda c: setattr(c, "dropout_rate", 0.0)}},
    "moonshine_streaming": {"_after": lambda c: setattr(c, "num_key_value_heads", c.num_attention_heads)},
    # multimodal rotary sections: PaddleOCR-VL's text config leaves them to the model's default (16, 24, 24: a
    # 128-wide head); ERNIE 4.5-VL interleaves its height and width sections, which must be equal
    "paddleocr_vl": {"text_config": {"rope_parameters": {"rope_theta": 500000.0, "rope_type": "default",
                                                         "mrope_section": [2, 1, 1]}}},
    "ernie4_5_vl_moe": {"text_config": {"_after": lambda c: c.rope_parameters.update(mrope_section=[1, 1, 2])}},
    # multimodal stacks whose adapters name the widths of the towers they join
    "fun_asr_nano": {"adaptor_config": {"intermediate_size": WIDTH // 4}},
    **dict.fromkeys(["inkling2", "inkling2_loop"], {"vision_config": {"text_hidden_size": WIDTH}}),
    "inkling2_vision": {"text_hidden_size": WIDTH},  # the projector's output: the language model's width
    "molmo2": {"adapter_config": {"vision_feature_layer": [-1, -2], "text_hidden_size": WIDTH}},
    "dots3_note": {"vision_config": {"mlp_layer_types": ["dense", "sparse"], "num_local_experts": 4,
                                     "moe_intermediate_size": 16, "adapter_in_dim": WIDTH, "adapter_out_dim": WIDTH,
                                     "per_layer_config": {1: {"num_local_experts": 4, "num_experts_per_tok": 2}}},
                   "audio_config": {"adapter_input_size": WIDTH, "adapter_out_dim": WIDTH,
                                    "downsample_hidden_size": 8}},
    "granite4_vision": {"deepstack_layer_map": [[-2, 0]], "spatial_target_layers": [1], "downsample_rate": "2/4",
                        "vision_config": {"hidden_size": 64}},  # its Q-Former has vision width / 64 heads
    "bridgetower": {"vision_config": {"hidden_size": 64}},  # vision width / 64 heads
    # the encoder's image tokens sit above a 262k vocabulary (the decoder's must be as large)
    "t5gemma2": {"image_token_index": 97, "encoder": {"mm_tokens_per_image": 4, "boi_token_index": 95,
                                                      "eoi_token_index": 96, "image_token_index": 97}},
    # Apertus 1.5's image and audio codes are appended to the vocabulary: their codebooks shrunk, the ranges
    # just above the text vocabulary
    "apertus1p5": {"image_token_offset": VOCAB, "audio_token_offset": VOCAB + 64, "vision_config": {
        "codebook_size": 64, "base_channels": 32, "latent_channels": 8, "num_res_blocks": 1},
                   "audio_config": {"codebook_size": 64, "codebook_dim": WIDTH}},
    # BLIP-2 family: no image token by default (a processor adds one); 4 query tokens stand for the image
    **dict.fromkeys(["blip-2", "instructblip"], {"num_query_tokens": 4, "image_token_index": 5}),
    "instructblipvideo": {"num_query_tokens": 4, "video_token_index": 5},
    "kosmos-2": {"latent_query_num": 4},  # image embeddings placed in the text
    # the decoder's cross-attention reads the encoder's width under names of its own
    "dia": {"decoder_config": {"cross_hidden_size": WIDTH, "cross_head_dim": HEAD_DIM,
                               "cross_num_attention_heads": HEADS, "cross_num_key_value_heads": HEADS}},
    "xclip": {"vision_config": {"mit_hidden_size": WIDTH, "mit_intermediate_size": FFN}},  # its frame transformer
    "tvp": {"max_img_size": 2 * IMAGE, "visual_prompt_size": 4},  # frames padded with a learned 4-pixel frame
    # layout and region inputs
    "lxmert": {"visual_feat_dim": 64},  # detector region features
    "lilt": {"hidden_size": 48},  # six box embeddings of width / 6, shrunk by 4 for the layout stream
    "layoutlmv3": {"coordinate_size": 6, "shape_size": 4, "input_size": IMAGE},  # 4 coordinates + 2 shapes = width
    "bros": {"hidden_size": 64},  # a box's sinusoid takes width / 4 / 8 corners, halved: 1 at width 32
    "seggpt": {"image_size": [2 * IMAGE, IMAGE]},  # the image above its prompt
    # audio
    "audio-spectrogram-transformer": {"max_length": 64},  # spectrogram frames
    "gemma3n_audio": {"sscp_conv_channel_size": [16, WIDTH]},
    "qwen3_asr_encoder": {"downsample_hidden_size": WIDTH},
    # the speech encoder reads the decoder's codes (8,194); the encoders rotate at least 32 dimensions of a head
    "clvp": {"speech_config": {"vocab_size": 8194, "num_attention_heads": 1},
             "text_config": {"num_attention_heads": 1}},
    "pe_audio": {"audio_config": {"dac_config": {"encoder_hidden_size": 2}}},  # DAC doubles it 4 times
    # CLAP's audio Swin (HTSAT): a spectrogram folded into a spec_size square (4 × 128 time frames of 32 bins),
    # whose last stage must keep as many frequency rows as the fold (4)
    "clap": {"audio_config": {"spec_size": 4 * IMAGE, "num_mel_bins": IMAGE, "window_size": 4,
                              "patch_embeds_hidden_size": WIDTH // 8}},
    # X-Codec's acoustic model (DAC) with X-Codec's own hop (320 samples, its semantic model's), not DAC's 512
    "xcodec": {"acoustic_model_config": {"downsampling_ratios": [8, 5, 4, 2], "upsampling_ratios": [8, 5, 4, 2],
                                         "hop_length": 320, "hidden_size": WIDTH, "encoder_hidden_size": 2}},
    # the quantizer takes the semantic and the acoustic features side by side; the acoustic encoder's width
    # doubles at each of 5 downsamplings
    **dict.fromkeys(["xcodec2", "neucodec"], {"quantization_dim": 2 * WIDTH, "num_key_value_heads": HEADS,
                                             "encoder_hidden_size": 2}),
    **dict.fromkeys(["mimi", "mimi_decoder", "pocket_tts_audio_tokenizer", "pocket_tts_audio_tokenizer_decoder"],
                    _MIMI),
    "csm": {"codec_config": _MIMI, "depth_decoder_config": {"backbone_hidden_size": WIDTH}},
    **dict.fromkeys(["vibevoice_acoustic_tokenizer", "vibevoice_acoustic_tokenizer_decoder",
                     "vibevoice_acoustic_tokenizer_encoder"], {"num_filters": 4, "downsampling_ratios": [2] * 6}),
    "vibevoice": {"audio_config": {"num_filters": 4, "downsampling_ratios": [2] * 6},
                  "semantic_model_config": {"num_filters": 4, "downsampling_ratios": [2] * 6},
                  "diffusion_head_config": {"frequency_embedding_size": 16}},
    "vibevoice_asr": {"acoustic_tokenizer_encoder_config": {"num_filters": 4, "downsampling_ratios": [2] * 6},
                      "semantic_tokenizer_encoder_config": {"num_filters": 4, "downsampling_ratios": [2] * 6}},
    # windows and backbones
    **dict.fromkeys(["swin", "donut-swin"], _SWIN),
    "mask2former": {"backbone_config": {**_SWIN, "out_features": ["stage1", "stage2", "stage3", "stage4"]},
                    "feature_size": WIDTH, "mask_feature_size": WIDTH, "encoder_feedforward_dim": FFN},
    "oneformer": {"backbone_config": {**_SWIN, "out_features": ["stage1", "stage2", "stage3", "stage4"]},
                  "num_queries": 16, "text_encoder_width": WIDTH, "text_encoder_vocab_size": VOCAB,
                  "conv_dim": WIDTH, "mask_dim": WIDTH, "encoder_feedforward_dim": FFN, "task_seq_len": T,
                  "text_encoder_context_length": T},
    # two-stage detectors keep num_queries of the encoder's tokens; Swin backbone stages 2–4, as at full size
    **dict.fromkeys(["grounding-dino", "mm-grounding-dino"], {
        "num_queries": 16, "backbone_config": {**_SWIN, "out_features": ["stage2", "stage3", "stage4"]}}),
    **dict.fromkeys(["detr", "conditional_detr", "dab-detr", "table-transformer"], {
        "backbone_config": _resnet_backbone([1, 2, 3, 4]), "num_queries": 16}),
    "deformable_detr": {"backbone_config": _resnet_backbone([2, 3, 4]), "num_queries": 16},
    **dict.fromkeys(["rt_detr", "rt_detr_v2"], {**_RT_DETR, "encoder_in_channels": [32, 32, 32],
                                                "backbone_config": _RESNET_234}),
    **dict.fromkeys(["d_fine", "deimv2", "pp_doclayout_v4"], {
        **_RT_DETR, "encoder_in_channels": [64, 64, 128],
        "backbone_config": {**_HGNET, "out_features": ["stage2", "stage3", "stage4"]}}),
    "pp_doclayout_v3": {**_RT_DETR, "encoder_in_channels": [64, 64, 128], "x4_feat_dim": 32,  # stage 1: its masks
                        "mask_feature_channels": [16, 16],
                        "backbone_config": {**_HGNET, "out_features": ["stage1", "stage2", "stage3", "stage4"]}},
    # LW-DETR's default has no projector level (its forward concatenates none): one level at scale 1 fed by 4
    # ViT layers (the windowed ones 0 and 2), as the released models have
    "lw_detr": {"projector_scale_factors": [1.0], "projector_in_channels": [4 * WIDTH], "num_feature_levels": 1,
                "projector_out_channels": WIDTH, "num_queries": 16, "group_detr": 1,
                "decoder_self_attention_heads": HEADS, "decoder_cross_attention_heads": HEADS,
                "backbone_config": {"num_hidden_layers": 4, "out_features": ["stage1", "stage2", "stage3", "stage4"],
                                    "window_block_indices": [0, 2], "image_size": 2 * IMAGE,
                                    "pretrain_image_size": IMAGE, "num_windows": 4, "num_windows_side": 2}},
    # keypoint matchers: SuperPoint's descriptors are LightGlue's width (at most 32 keypoints an image, all
    # 1,024 pixels by default); EfficientLoFTR's last stage is its width, its 2-D rotary table width / 4 =
    # 2 × head width (8 heads)
    "lightglue": {"descriptor_dim": WIDTH, "hidden_size": WIDTH, "intermediate_size": FFN, "keypoint_detector_config": {
        "descriptor_decoder_dim": WIDTH, "encoder_hidden_sizes": [8, 8, 16, 16], "decoder_hidden_size": WIDTH,
        "max_keypoints": 32}},
    "efficientloftr": {"stage_num_blocks": [1, 1, 1, 1], "out_features": [8, 8, 16, WIDTH], "hidden_size": WIDTH,
                       "num_attention_heads": 8},
    # Depth Pro: patches of its image model's size (32) cut from the image at 1/4, 1/2 and 1 scale (128 pixels);
    # hooks on its 2 layers
    "depth_pro": {"patch_size": IMAGE, "intermediate_hook_ids": [1, 0], "intermediate_feature_dims": [16, 16],
                  "scaled_images_feature_dims": [WIDTH, WIDTH, 16], "fusion_hidden_size": WIDTH},
    # Reformer: axial position embeddings (a 4 × 4 grid, widths adding up to the width), chunks of 4 tokens,
    # 2 hash buckets; one local and one LSH layer
    "reformer": {"axial_pos_shape": [4, 4], "axial_pos_embds_dim": [8, WIDTH - 8], "local_attn_chunk_length": 4,
                 "lsh_attn_chunk_length": 4, "num_buckets": 2, "attn_layers": ["local", "lsh"], "hash_seed": 0},
    # segment anything: the image encoder's neck outputs the mask decoder's width
    "sam": _SAM,
    "sam_hq": {**_SAM, "mask_decoder_config": {"iou_head_hidden_dim": WIDTH, "vit_dim": WIDTH}},  # HQ: ViT features
    "sam2_hiera_det_model": _HIERA,
    "sam2_vision_model": _SAM2_VISION,
    "sam2": _SAM2,
    # (their forward takes a video inference session, not tensors: shrunk only to be skipped for that)
    **dict.fromkeys(["sam2_video", "edgetam_video"], _SAM2),
    **dict.fromkeys(["sam3", "sam3_lite_text"], {"vision_config": _SAM3_VISION,
                                                 "detr_decoder_config": {"num_queries": 16}}),
    "sam3_tracker": {"vision_config": _SAM3_VISION, "prompt_encoder_config": {"image_size": 2 * IMAGE, "patch_size": 8},
                     "mask_decoder_config": {"iou_head_hidden_dim": WIDTH}},
    # Unlimited-OCR: SAM features (a 64-pixel image, patches of 4, two stride-2 convolutions to 4 × 4 tokens of
    # the CLIP encoder's width) take the place of the CLIP encoder's patches (16 pixels, patches of 4: 4 × 4)
    "unlimited_ocr": {"vision_config": {
        "sam_config": {"image_size": 2 * IMAGE, "patch_size": 4, "output_channels": 16,
                       "downsample_channels": [16, WIDTH], "global_attn_indexes": [1], "mlp_dim": FFN},
        "encoder_config": {"image_size": 16, "patch_size": 4}}, "text_config": {"num_key_value_heads": HEADS}},
}


def _fields(cls) -> dict:
    if dataclasses.is_dataclass(cls):
        return {f.name: f for f in dataclasses.fields(cls)}
    return {n: p for n, p in inspect.signature(cls.__init__).parameters.items() if n != "self"}


def _default(field):
    if isinstance(field, dataclasses.Field):
        if field.default is not dataclasses.MISSING:
            return field.default
        if field.default_factory is not dataclasses.MISSING:
            return field.default_factory()
        return None
    return None if field.default is inspect.Parameter.empty else field.default


def tiny_config(cls, depth: int = 0, adjust: dict | None = None):
    """The config class's defaults, shrunk by attribute name; sub-configs shrunk the same way. ``adjust``
    (one model type's entry of ADJUST) sets attributes after the rules by name: a sub-config's name maps to
    its own dict; ``"_after"`` is called with the built config."""
    adjust = adjust or {}
    fields = _fields(cls)
    kw = {}
    for name, field in fields.items():
        default = _default(field)
        if name == "window_size" and isinstance(default, int) and default > 16:
            continue  # in pixels (Qwen2.5-VL's vision windows), not in patches
        if name in SIZES and (isinstance(default, int) and not isinstance(default, bool) or default is None):
            if default is None and name not in ("num_key_value_heads", "head_dim", "num_experts_per_tok"):
                continue
            kw[name] = SIZES[name] if default is None or default > SIZES[name] else default
        elif name in ("depths", "num_layers_per_stage", "encoder_layers_per_stage") and \
                isinstance(default, (list, tuple)):
            kw[name] = type(default)([1] * len(default))
        elif name in ("hidden_sizes", "embed_dims", "channels", "stage_channels", "dims", "widths",
                      "neck_hidden_sizes", "conv_dim") and isinstance(default, (list, tuple)) and \
                all(isinstance(v, int) for v in default):
            kw[name] = type(default)([min(v, 16 * 2 ** min(i, 1)) for i, v in enumerate(default)])
        elif name in ("image_size", "img_size") and isinstance(default, (list, tuple)) and len(default) == 2:
            kw[name] = type(default)([IMAGE, IMAGE])
        elif name in ("num_attention_heads", "num_heads", "heads") and isinstance(default, (list, tuple)):
            kw[name] = type(default)([1] * len(default))
        elif name in DROP and default is not None:
            kw[name] = None
        elif name == "vocab_size" and isinstance(default, int):
            kw[name] = VOCAB
    # token ids must stay inside the vocabulary
    ids = [v for n, f in fields.items() if n.endswith("token_id") or n.endswith("token_index")
           for v in (lambda d: d if isinstance(d, list) else [d])(adjust.get(n, _default(f))) if isinstance(v, int)]
    if "vocab_size" in kw and ids and max(ids) >= VOCAB:
        kw["vocab_size"] = max(ids) + 1 if max(ids) < 300_000 else kw["vocab_size"]
    if "kv_lora_rank" in fields and "num_key_value_heads" in kw:  # multi-head latent attention: as many kv heads
        kw["num_key_value_heads"] = kw.get("num_attention_heads", HEADS)
    if "num_key_value_heads" in kw and "num_attention_heads" not in kw:
        kw.pop("num_key_value_heads")
    kw["experts_implementation"] = "eager"  # experts one by one, not torch._grouped_mm (flop_counter has no formula)
    subs = getattr(cls, "sub_configs", None) or {}
    if subs and depth < 3:
        try:
            default_cfg = cls()
        except Exception:  # noqa: BLE001
            default_cfg = None
        for name, sub in subs.items():
            # an AutoConfig entry: the default sub-config's own class
            sub = type(getattr(default_cfg, name, None) or sub) if default_cfg is not None else sub
            if name in fields and isinstance(sub, type) and _fields(sub):
                try:
                    kw[name] = tiny_config(sub, depth + 1, adjust.get(name))
                except Exception:  # noqa: BLE001 - keep the default sub-config
                    pass
    kw.update({k: v() if callable(v) else v for k, v in adjust.items()  # a callable: a sub-config to build
               if k != "_after" and not (k in subs and isinstance(v, dict))})
    text = kw.get("text_config")
    if ids and text is not None and getattr(text, "vocab_size", None) is not None and max(ids) < 300_000:
        text.vocab_size = max(text.vocab_size, max(ids) + 1)  # the image token of a vision-language model
    try:
        cfg = cls(**kw)
    except Exception:  # noqa: BLE001 - a combination the config rejects: drop one shrunk size after another
        cfg = None
        for drop in [k for k in kw if k in SIZES and k not in adjust]:
            try:
                cfg = cls(**{k: v for k, v in kw.items() if k != drop})
                break
            except Exception:  # noqa: BLE001
                continue
        if cfg is None:
            cfg = cls(**{k: v for k, v in kw.items() if k not in SIZES})
    layers = getattr(cfg, "layer_types", None)
    if isinstance(layers, list) and layers:  # a hybrid: keep one layer of each kind the full-size model has
        try:
            kinds = list(dict.fromkeys(cls().layer_types or ()))
        except Exception:  # noqa: BLE001
            kinds = []
        if len(kinds) > len(set(layers)) and len(kinds) <= len(layers):
            try:
                cfg.layer_types = kinds + kinds[-1:] * (len(layers) - len(kinds))
            except AttributeError:  # a property derived from other fields (Jamba): left as the depth made it
                pass
            rope, full = getattr(cfg, "rope_parameters", None), getattr(cls(), "rope_parameters", None)
            if isinstance(rope, dict) and isinstance(full, dict) and all(isinstance(v, dict) for v in rope.values()):
                # rotary parameters per layer kind are kept for the kinds the shallow config had: add the others'
                rope.update({k: dict(full[k]) for k in set(cfg.layer_types) - set(rope)
                             if isinstance(full.get(k), dict)})
    rope = getattr(cfg, "rope_parameters", None)
    if isinstance(rope, dict) and (isinstance(rope.get("mrope_section"), (list, tuple)) or
                                   "mrope_section" in getattr(cls, "ignore_keys_at_rope_validation", ())):
        # multimodal rotary sections (3: time, height, width) must add up to half the rotated head dimension
        head = getattr(cfg, "head_dim", None) or getattr(cfg, "hidden_size", WIDTH) // getattr(
            cfg, "num_attention_heads", HEADS)
        half = int(head * (rope.get("partial_rotary_factor") or getattr(cfg, "partial_rotary_factor", None) or 1)) // 2
        n = len(rope.get("mrope_section") or (0, 0, 0))
        rope["mrope_section"] = [half // n + (i < half % n) for i in range(n)]
    if "_after" in adjust:
        adjust["_after"](cfg)
    return cfg


def _ids(g, n, hi):
    return torch.randint(3, max(4, min(hi, VOCAB)), (B, n), generator=g)


def _candidates(model, cfg, model_type: str | None = None):
    """Input dicts to try, in order: the first whose plain forward runs is profiled. A type in INPUTS gets
    its own first."""
    sig = inspect.signature(model.forward).parameters
    main = getattr(model, "main_input_name", "input_ids")
    main = main[0] if isinstance(main, (list, tuple)) else main  # OneFormer names two
    g = torch.Generator().manual_seed(0)
    if model_type in INPUTS:
        return [*INPUTS[model_type](model, cfg, g), *_candidates(model, cfg)]
    enc_dec = bool(getattr(cfg, "is_encoder_decoder", False))
    vocab = getattr(cfg, "vocab_size", None) or getattr(getattr(cfg, "text_config", None), "vocab_size", VOCAB) or VOCAB
    sub = [getattr(cfg, n, None) for n in ("vision_config", "audio_config", "encoder_config")]
    base = {}
    if enc_dec and "decoder_input_ids" in sig:
        base["decoder_input_ids"] = _ids(g, T_DEC, vocab)
    out = _image_candidates(model, cfg, sig, g)  # a vision-language model: an image first, then text alone
    required = [n for n, p in sig.items() if p.default is inspect.Parameter.empty
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if "grid_thw" in required:  # a Qwen-style vision tower: flattened patches of a 1×4×4 grid per image
        m = getattr(cfg, "spatial_merge_size", 2)
        p, tp = getattr(cfg, "patch_size", 14), getattr(cfg, "temporal_patch_size", 2)
        c = getattr(cfg, "in_channels", None) or getattr(cfg, "num_channels", 3)
        side = 2 * m
        name = "hidden_states" if "hidden_states" in sig else "pixel_values"
        out.append({name: torch.randn(B * side * side, c * tp * p * p, generator=g),
                    "grid_thw": torch.tensor([[1, side, side]] * B)})
    if main == "past_values" or "past_values" in required:  # a time-series model
        n = getattr(cfg, "context_length", 32)
        out.append({"past_values": torch.randn(B, n, getattr(cfg, "num_input_channels", 1), generator=g)})
    if main == "input_ids" or (main not in sig and "input_ids" in sig):
        d = {"input_ids": _ids(g, T, vocab), **base}
        if "pixel_values" in sig:  # a dual encoder (CLIP-like): text and an image
            src = next((c for c in sub if c is not None and hasattr(c, "image_size")), None)
            if src is not None:
                size = src.image_size if isinstance(src.image_size, int) else src.image_size[0]
                out.append({**d, "pixel_values": torch.randn(B, getattr(src, "num_channels", 3), size, size,
                                                             generator=g)})
        if "attention_mask" in sig:  # the second sequence padded (an all-ones mask is often skipped)
            mask = torch.ones(B, T, dtype=torch.long)
            mask[1, -2:] = 0
            out.append({**d, "attention_mask": mask})
            out.append({**d, "attention_mask": torch.ones(B, T, dtype=torch.long)})
        out.append(d)
    elif main == "pixel_values" or main == "pixel_values_videos":
        src = next((c for c in [cfg, *sub] if c is not None and hasattr(c, "image_size")), cfg)
        size = getattr(src, "image_size", IMAGE)
        size = tuple(size) if isinstance(size, (list, tuple)) else (size, size)
        ch = getattr(src, "num_channels", 3)
        out += [{main: torch.randn(B, ch, *size, generator=g), **base},
                {main: torch.randn(B, ch, 64, 64, generator=g), **base},
                {main: torch.randn(B, ch, 224, 224, generator=g), **base}]
        if hasattr(src, "num_frames"):  # a video model: (batch, frames, channels, height, width)
            out.insert(0, {main: torch.randn(B, src.num_frames, ch, *size, generator=g), **base})
        if "input_ids" in sig and "input_ids" in [n for n, p in sig.items() if p.default is inspect.Parameter.empty]:
            out = [{**d, "input_ids": _ids(g, T, vocab)} for d in out]
    elif main == "input_features":
        src = next((c for c in [cfg, *sub] if c is not None and hasattr(c, "num_mel_bins")), cfg)
        mel = getattr(src, "num_mel_bins", None) or getattr(src, "feature_size", None) or \
            getattr(src, "input_feat_per_channel", 80)
        chans = getattr(src, "input_channels", 1)
        frames = 2 * getattr(src, "max_source_positions", 16) if hasattr(src, "max_source_positions") else 64
        out += [{main: torch.randn(B, mel, frames, generator=g), **base},
                {main: torch.randn(B, 64, mel * chans, generator=g), **base},
                {main: torch.randn(B, frames, mel, generator=g), **base}]
    elif main == "input_values":
        out += [{main: torch.randn(B, 1600, generator=g), **base},
                {main: torch.randn(B, 1, 1600, generator=g), **base},
                {main: torch.randn(B, 1, 128, 128, generator=g), **base}]
    else:
        out.append({**base})
    if "pixel_values" in required and not any("pixel_values" in d for d in out):  # a vision tower (SmolVLM's)
        size = getattr(cfg, "image_size", IMAGE)
        size = tuple(size) if isinstance(size, (list, tuple)) else (size, size)
        out.append({"pixel_values": torch.randn(B, getattr(cfg, "num_channels", 3), *size, generator=g)})
    # other required arguments we know how to make
    for d in out:
        for n in required:
            if n not in d and n == "input_ids":
                d[n] = _ids(g, T, vocab)
            elif n not in d and n == "decoder_input_ids":
                d[n] = _ids(g, T_DEC, vocab)
    return out


def _hooks(model) -> list:
    return [("forward" in m.__dict__, tuple(m._forward_hooks), tuple(m._forward_pre_hooks)) for m in model.modules()]


def _token(cfg, *names):
    for c in (cfg, getattr(cfg, "text_config", None)):
        for n in names:
            if isinstance(getattr(c, n, None), int):
                return getattr(c, n)
    return None


def _image_candidates(model, cfg, sig, g, temporal: int | None = None) -> list:
    """A vision-language model's inputs with one image per sequence: its image tokens, then 8 text tokens.
    Qwen-style (``image_grid_thw``): a 4×4 patch grid, flattened patches; otherwise a square image of the
    vision config's size, with as many image tokens as a first try's error message asks for (see _retry)."""
    img = _token(cfg, "image_token_id", "image_token_index")
    vis = getattr(cfg, "vision_config", None)
    if img is None or vis is None or "pixel_values" not in sig or "input_ids" not in sig:
        return []
    vocab = getattr(getattr(cfg, "text_config", None), "vocab_size", None) or getattr(cfg, "vocab_size", VOCAB)
    text = _ids(g, T, vocab)
    text[text == img] = 3
    if "image_grid_thw" in sig:
        m = getattr(vis, "spatial_merge_size", 2)
        p, tp = getattr(vis, "patch_size", 14), temporal or getattr(vis, "temporal_patch_size", 2)
        c = getattr(vis, "in_channels", None) or getattr(vis, "num_channels", 3)
        side = 2 * m
        k = side * side // (m * m)
        ids = torch.cat([torch.full((B, k), img), text], 1)
        d = {"input_ids": ids, "attention_mask": torch.ones_like(ids),
             "pixel_values": torch.randn(B * side * side, c * tp * p * p, generator=g),
             "image_grid_thw": torch.tensor([[1, side, side]] * B)}
        if "mm_token_type_ids" in sig:
            d["mm_token_type_ids"] = (ids == img).long()
        return [d]
    size = getattr(vis, "image_size", IMAGE)
    size = tuple(size) if isinstance(size, (list, tuple)) else (size, size)
    c = getattr(vis, "num_channels", 3)
    ids = torch.cat([torch.full((B, 1), img), text], 1)
    return [{"input_ids": ids, "pixel_values": torch.randn(B, c, *size, generator=g), "_image_token": img}]


def _retry(cand: dict, err: Exception) -> list:
    """An image-token count mismatch names the count it wants: retry with each number the message holds."""
    img = cand.get("_image_token")
    if img is None:
        return []
    text = cand["input_ids"][:, -T:]
    out = []
    numbers = list(dict.fromkeys(int(x) for x in re.findall(r"\d+", str(err))))
    for n in numbers:
        for k in dict.fromkeys((n, n // B)):
            if 1 < k <= 4096:
                ids = torch.cat([torch.full((B, k), img), text], 1)
                out.append({"input_ids": ids, "pixel_values": cand["pixel_values"]})
    out = out[:6]
    for n in numbers:  # a count of features' elements, not rows (Janus's message): B images × k rows × width
        k = n // (B * WIDTH)
        if 1 < k <= 4096 and n % (B * WIDTH) == 0:
            out.append({"input_ids": torch.cat([torch.full((B, k), img), text], 1),
                        "pixel_values": cand["pixel_values"]})
    return out[:8]


def _boxes(g, n: int, hi: int = 1000) -> torch.Tensor:
    """(B, n, 4) integer boxes x0, y0, x1, y1 with x0 ≤ x1, y0 ≤ y1 in [0, hi] (layout models' bbox)."""
    a, b = torch.randint(0, hi + 1, (2, B, n, 2), generator=g)
    return torch.cat([torch.minimum(a, b), torch.maximum(a, b)], -1)


# per model type: input dicts to try before the generic ones (arguments the signature cannot tell)
def _pi0(g, c) -> dict:
    """PI0: one camera image per sequence (batch, cameras, 3, h, w) with its mask, its image tokens then text,
    and 4 action steps (noisy actions, state and time, embedded: the action expert's width)."""
    vis = c.vlm_config.vision_config
    d = _image_tokens_then_text(g, c.vlm_config, (vis.image_size // vis.patch_size) ** 2)
    return {**d, "pixel_values": d["pixel_values"][:, None], "pixel_attention_mask": torch.ones(B, 1, dtype=torch.bool),
            "action_embeds": torch.randn(B, 4, c.dit_config.hidden_size, generator=g)}


def _image_tokens_then_text(g, cfg, k: int, **extra) -> dict:
    """k image tokens per sequence, then T text tokens, and one image of the vision config's size each."""
    img = _token(cfg, "image_token_id", "image_token_index")
    text = _ids(g, T, VOCAB)
    text[text == img] = 3
    vis = cfg.vision_config
    size = vis.image_size if isinstance(vis.image_size, int) else vis.image_size[0]
    ids = torch.cat([torch.full((B, k), img), text], 1)
    return {"input_ids": ids, "pixel_values": torch.randn(B, getattr(vis, "num_channels", 3), size, size, generator=g),
            **extra}


def _ones(*shape) -> torch.Tensor:
    return torch.ones(*shape, dtype=torch.long)


def _flat_patches(g, c, name: str = "pixel_values", temporal: int = 1, side: int = 4, **extra) -> dict:
    """A Qwen-style vision tower's input without the temporal patch: B images of side × side patches, each
    flattened to channels × patch × patch (× ``temporal``), and their (1, side, side) grids."""
    p, ch = c.patch_size, getattr(c, "num_channels", None) or getattr(c, "in_channels", 3)
    return {name: torch.randn(B * side * side, ch * temporal * p * p, generator=g),
            "grid_thw": torch.tensor([[1, side, side]] * B), **extra}


def _naflex(c, g) -> dict:
    """SigLIP 2's NaFlex input: 4 × 4 flattened patches per image, their mask and grid shape."""
    return {"pixel_values": torch.randn(B, 16, c.num_channels * c.patch_size ** 2, generator=g),
            "pixel_attention_mask": _ones(B, 16), "spatial_shapes": torch.tensor([[4, 4]] * B)}


def _patch_grid(side: int) -> torch.Tensor:
    """(B, side², 2) patch positions (x, y), row by row."""
    ys, xs = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    return torch.stack([xs.flatten(), ys.flatten()], -1).repeat(B, 1, 1)


def _features_and_mask(c, g, frames: int = 32, time_first: bool = False, mel: int | None = None) -> dict:
    """Mel features (batch, mel, frames) or (batch, frames, mel) and their all-valid frame mask."""
    mel = mel or c.num_mel_bins
    shape = (B, frames, mel) if time_first else (B, mel, frames)
    return {"input_features": torch.randn(*shape, generator=g), "input_features_mask": _ones(B, frames)}


def _query_tokens_then_text(g, c, token: int, frames: int = 0, **extra) -> dict:
    """num_query_tokens image tokens, then text; an image (or ``frames`` of them) of the vision config's size."""
    k = c.num_query_tokens * max(frames, 1)
    vis = c.vision_config
    shape = (B, *([frames] if frames else []), 3, vis.image_size, vis.image_size)
    return {"input_ids": torch.cat([torch.full((B, k), token), _ids(g, T, VOCAB)], 1),
            "pixel_values": torch.randn(*shape, generator=g), **extra}


def _paddle_image(g, c) -> dict:
    """PaddleOCR-VL: 4 image tokens (a 4 × 4 patch grid merged 2 × 2) then text; patches (N, C, p, p)."""
    vis, img = c.vision_config, c.image_token_id
    p = vis.patch_size
    text = _ids(g, T, VOCAB)
    ids = torch.cat([torch.full((B, 4), img), text], 1)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids),
            "pixel_values": torch.randn(B * 16, vis.num_channels, p, p, generator=g),
            "image_grid_thw": torch.tensor([[1, 4, 4]] * B), "mm_token_type_ids": (ids == img).long()}


def _video(c, g, frames: int, size: int, **extra) -> dict:
    """(batch, frames, 3, size, size) frames, with T text tokens."""
    return {"input_ids": _ids(g, T, VOCAB), "pixel_values": torch.randn(B, frames, 3, size, size, generator=g),
            **extra}


def _forecast(c, g) -> dict:
    """A Hugging Face forecaster's past (context + the largest lag) and future, one time feature each."""
    past, future = c.context_length + max(c.lags_sequence), c.prediction_length
    return {"past_values": torch.randn(B, past, generator=g),
            "past_time_features": torch.randn(B, past, 1, generator=g),
            "past_observed_mask": torch.ones(B, past), "future_values": torch.randn(B, future, generator=g),
            "future_time_features": torch.randn(B, future, 1, generator=g)}


INPUTS = {
    # 16 patches shuffled to 4 tokens an image (its forward then fails in transformers 5.24: the language model's
    # output has no image_outputs)
    "llama4": lambda m, c, g: [_image_tokens_then_text(g, c, 4)],
    # an image and a text prompt
    **dict.fromkeys(["sam3", "sam3_lite_text"], lambda m, c, g: [
        {"pixel_values": torch.randn(B, 3, s, s, generator=g), "input_ids": _ids(g, T, VOCAB)}
        for s in (IMAGE, 2 * IMAGE, 4 * IMAGE)]),
    "sam3_tracker": lambda m, c, g: [{
        "pixel_values": torch.randn(B, 3, s, s, generator=g), "input_points": torch.rand(B, 1, 1, 2, generator=g) * s,
        "input_labels": _ones(B, 1, 1)} for s in (IMAGE, 2 * IMAGE, 4 * IMAGE)],
    # one point prompt per image (x, y in pixels; label 1: foreground)
    **dict.fromkeys(["sam2"], lambda m, c, g: [{
        "pixel_values": torch.randn(B, 3, 2 * IMAGE, 2 * IMAGE, generator=g),
        "input_points": torch.rand(B, 1, 1, 2, generator=g) * 2 * IMAGE, "input_labels": _ones(B, 1, 1)}]),
    **dict.fromkeys(["sam", "sam_hq"], lambda m, c, g: [{
        "pixel_values": torch.randn(B, 3, c.vision_config.image_size, c.vision_config.image_size, generator=g),
        "input_points": torch.rand(B, 1, 1, 2, generator=g) * c.vision_config.image_size,
        "input_labels": _ones(B, 1, 1)}]),
    "depth_pro": lambda m, c, g: [{"pixel_values": torch.randn(B, 3, 4 * c.patch_size, 4 * c.patch_size, generator=g)}],
    # the task prompt ("the task is semantic"), tokenized
    "oneformer": lambda m, c, g: [{"pixel_values": torch.randn(B, 3, 2 * IMAGE, 2 * IMAGE, generator=g),
                                   "task_inputs": _ids(g, c.task_seq_len, VOCAB)}],
    # MusicGen's decoder: one row of codes per codebook, (batch × codebooks, steps)
    **dict.fromkeys(["musicgen", "musicgen_melody"], lambda m, c, g: [
        {"input_ids": torch.randint(0, c.vocab_size, (B * c.num_codebooks, T), generator=g)}]),
    # the codec decoders' latents (batch, width, frames)
    **dict.fromkeys(["mimi_decoder", "pocket_tts_audio_tokenizer_decoder"], lambda m, c, g: [
        {"latents": torch.randn(B, c.hidden_size, 4, generator=g)}]),
    **dict.fromkeys(["autoformer", "informer", "time_series_transformer"], lambda m, c, g: [_forecast(c, g)]),
    # a speculative-decoding drafter: a block of noise embeddings and the target model's states of earlier tokens
    # (one width per target layer it reads)
    "muse_glimmer_assistant": lambda m, c, g: [{
        "noise_embeds": torch.randn(B, c.block_size, c.hidden_size, generator=g),
        "context_hidden_states": torch.randn(B, T, c.hidden_size * len(c.target_layer_ids), generator=g)}],
    # the audio encoder's states, embedded
    "nemotron3_5_transcribe_word_timestamp": lambda m, c, g: [{"inputs_embeds": torch.randn(B, T, c.hidden_size,
                                                                                            generator=g)}],
    "pi0": lambda m, c, g: [_pi0(g, c)],
    # ERNIE 4.5-VL's patches have no temporal patch (its frames are merged later, temporal_merge_size)
    "ernie4_5_vl_moe": lambda m, c, g: _image_candidates(m, c, inspect.signature(m.forward).parameters, g, 1),
    "siglip2": lambda m, c, g: [{"input_ids": _ids(g, T, VOCAB), **_naflex(c.vision_config, g)}],
    # image pairs to match: (batch, 2, channels, height, width)
    **dict.fromkeys(["efficientloftr", "lightglue"], lambda m, c, g: [
        {"pixel_values": torch.randn(B, 2, 3, s, s, generator=g)} for s in (IMAGE, 2 * IMAGE, 4 * IMAGE)]),
    "paddleocr_vl": lambda m, c, g: [_paddle_image(g, c)],
    "xclip": lambda m, c, g: [_video(c, g, c.vision_config.num_frames, c.vision_config.image_size)],
    # one video: its column position embeddings are viewed with the batch size as a leading dimension
    # (transformers 5.24), which holds for a batch of one only
    "tvp": lambda m, c, g: [{"input_ids": _ids(g, T, VOCAB)[:1], "pixel_values": torch.randn(
        1, c.num_frames, 3, c.max_img_size, c.max_img_size, generator=g)}],
    "vilt": lambda m, c, g: [{"input_ids": _ids(g, T, VOCAB),
                              "pixel_values": torch.randn(B, 3, c.image_size, c.image_size, generator=g)}],
    # images per sequence (1) and which tokens see them
    "idefics": lambda m, c, g: [{"input_ids": _ids(g, T, VOCAB), "pixel_values": torch.randn(
        B, 1, 3, c.vision_config.image_size, c.vision_config.image_size, generator=g),
        "image_attention_mask": _ones(B, T, 1)}],
    "blip-2": lambda m, c, g: [_query_tokens_then_text(g, c, c.image_token_index)],
    "instructblip": lambda m, c, g: [_query_tokens_then_text(g, c, c.image_token_index,
                                                             qformer_input_ids=_ids(g, T, VOCAB))],
    "instructblipvideo": lambda m, c, g: [_query_tokens_then_text(g, c, c.video_token_index, frames=2,
                                                                  qformer_input_ids=_ids(g, T, VOCAB))],
    "kosmos-2": lambda m, c, g: [{"input_ids": _ids(g, c.latent_query_num + T, VOCAB),
                                  "pixel_values": torch.randn(B, 3, c.vision_config.image_size,
                                                              c.vision_config.image_size, generator=g),
                                  "image_embeds_position_mask": torch.cat([
                                      _ones(B, c.latent_query_num), torch.zeros(B, T, dtype=torch.long)], 1)}],
    # one text token per audio_length_per_tok (8) mel frames
    "voxtral_realtime": lambda m, c, g: [{"input_ids": _ids(g, T, VOCAB), "input_features": torch.randn(
        B, c.audio_config.num_mel_bins, T * c.audio_length_per_tok, generator=g)}],
    # a text stream and 32 audio codebooks per step
    "kyutai_speech_to_text": lambda m, c, g: [{"input_ids": torch.randint(3, VOCAB, (B, T, c.num_codebooks + 1),
                                                                          generator=g)}],
    "dia": lambda m, c, g: [{"input_ids": _ids(g, T, VOCAB), "decoder_input_ids": torch.randint(
        3, VOCAB, (B, T_DEC, c.decoder_config.num_channels), generator=g)}],  # (batch, steps, codebooks)
    "clvp": lambda m, c, g: [{"input_ids": _ids(g, T, VOCAB),  # text and the mel spectrogram it conditions on
                              "input_features": torch.randn(B, c.decoder_config.feature_size, 32, generator=g)}],
    "pe_audio": lambda m, c, g: [{"input_ids": _ids(g, T, VOCAB),  # 2 frames of DAC's 1,920 samples
                                  "input_values": torch.randn(B, 1, 2 * 1920, generator=g)}],
    "muse_spark_audio": lambda m, c, g: [{"input_values": torch.randn(B, 2 * 1920, generator=g)}],  # whole patches
    # no pre-nets in the bare model: the encoder and the decoder take hidden states
    "speecht5": lambda m, c, g: [{"input_values": torch.randn(B, T, c.hidden_size, generator=g),
                                  "decoder_input_values": torch.randn(B, T_DEC, c.hidden_size, generator=g)}],
    "clap": lambda m, c, g: [{"input_ids": _ids(g, T, VOCAB), "input_features": torch.randn(
        B, 1, 4 * c.audio_config.spec_size, c.audio_config.num_mel_bins, generator=g),
        "is_longer": torch.zeros(B, 1, dtype=torch.bool)}],
    # the waveform (320 samples a frame) and its semantic features, (batch, frames, 2 stacked frames of 80 bins)
    **dict.fromkeys(["xcodec2", "neucodec"], lambda m, c, g: [{
        "input_values": torch.randn(B, 1, 1600, generator=g),
        "input_features": torch.randn(B, 5, c.semantic_model_config.feature_projection_input_dim, generator=g)}]),
    "xcodec": lambda m, c, g: [{"input_values": torch.randn(B, 1, 1600, generator=g)}],  # mono: (batch, 1, samples)
    # audio encoders that need the frame mask
    "audioflamingo3_encoder": lambda m, c, g: [_features_and_mask(c, g, 2 * c.max_source_positions)],
    "qwen3_asr_encoder": lambda m, c, g: [_features_and_mask(c, g, 2 * c.n_window)],  # one window (fixed: 100)
    # features stacked by the processor, (batch, frames, mel bins × stack): Granite Speech 5's 4 frames,
    # wav2vec2-BERT's 2 frames of 80 bins; Gemma 4's 128 bins (its projection assumes them)
    **dict.fromkeys(["granite_speech5_encoder", "granite_speech5_ctc"], lambda m, c, g: [{
        "input_features": torch.randn(B, 32, 4 * getattr(c, "encoder_config", c).num_mel_bins, generator=g)}]),
    "wav2vec2-bert": lambda m, c, g: [{"input_features": torch.randn(B, 32, c.feature_projection_input_dim,
                                                                     generator=g)}],
    "gemma4_audio": lambda m, c, g: [{"input_features": torch.randn(B, 64, 128, generator=g)}],
    "fun_asr_nano_encoder": lambda m, c, g: [  # low-frame-rate stacking: mel bins × stacked frames
        _features_and_mask(c, g, time_first=True, mel=c.num_mel_bins * c.num_stacked_frames)],
    # vision towers fed patches: flattened without a temporal patch (Cosmos 3 Edge, HunyuanVL 4, GLM-Image,
    # VideoLLaMA 3 with its merge size per image), as single-patch images (Kimi K2.5), packed in one row
    # (MiniCPM: the grid per image in target_sizes), merged blocks (Inkling 2), or with positions (Gemma 4: a
    # 6 × 6 grid its 3 × 3 pooling takes to 4 tokens; SigLIP 2's NaFlex: 4 × 4 patches)
    **dict.fromkeys(["cosmos3_edge_vision", "hy_v4_vl_vision", "glm_image_vision"],
                    lambda m, c, g: [_flat_patches(g, c)]),
    "exaone4_5_vision": lambda m, c, g: [_flat_patches(g, c, "hidden_states", c.temporal_patch_size)],
    "video_llama_3_vision": lambda m, c, g: [_flat_patches(g, c, merge_sizes=torch.tensor([2] * B))],
    "kimi_k25_vision": lambda m, c, g: [{
        "pixel_values": torch.randn(B * 16, 3, c.patch_size, c.patch_size, generator=g),
        "grid_thw": torch.tensor([[1, 4, 4]] * B)}],
    **dict.fromkeys(["minicpm_ocr_vision", "minicpmv4_7_vision"], lambda m, c, g: [{
        "pixel_values": torch.randn(1, c.num_channels, c.patch_size, c.patch_size * 16 * B, generator=g),
        "target_sizes": torch.tensor([[4, 4]] * B, dtype=torch.int32)}]),
    "inkling2_vision": lambda m, c, g: [{
        "pixel_values": torch.randn(B * 4, c.patch_size * c.spatial_merge_size, c.patch_size * c.spatial_merge_size,
                                    c.num_channels, generator=g), "image_grid_thw": torch.tensor([[1, 2, 2]] * B)}],
    "gemma4_vision": lambda m, c, g: [{"pixel_values": torch.randn(B, 36, 3 * c.patch_size ** 2, generator=g),
                                       "pixel_position_ids": _patch_grid(6)}],
    "siglip2_vision_model": lambda m, c, g: [_naflex(c, g)],
    # layout models: one box per token, integer 0–1000 (LiLT, LayoutLMv3) or float 0–1 (UDOP; BROS: 4 corners)
    "lilt": lambda m, c, g: [{"input_ids": _ids(g, T, VOCAB), "bbox": _boxes(g, T)}],
    "layoutlmv3": lambda m, c, g: [{"input_ids": _ids(g, T, VOCAB), "bbox": _boxes(g, T),
                                    "pixel_values": torch.randn(B, c.num_channels, c.input_size, c.input_size,
                                                                generator=g)}],
    "udop": lambda m, c, g: [{"input_ids": _ids(g, T, VOCAB), "bbox": _boxes(g, T) / 1000,
                              "decoder_input_ids": _ids(g, T_DEC, VOCAB)}],
    "bros": lambda m, c, g: [{"input_ids": _ids(g, T, VOCAB),
                              "bbox": (_boxes(g, T)[..., [0, 1, 2, 1, 2, 3, 0, 3]] / 1000).float()}],
    "xmod": lambda m, c, g: [{"input_ids": _ids(g, T, VOCAB), "lang_ids": torch.zeros(B, dtype=torch.long)}],
    "decision_transformer": lambda m, c, g: [{
        "states": torch.randn(B, T, c.state_dim, generator=g), "actions": torch.randn(B, T, c.act_dim, generator=g),
        "rewards": torch.randn(B, T, 1, generator=g), "returns_to_go": torch.randn(B, T, 1, generator=g),
        "timesteps": torch.arange(T).repeat(B, 1), "attention_mask": _ones(B, T)}],
    "lxmert": lambda m, c, g: [{"input_ids": _ids(g, T, VOCAB), "visual_feats": torch.randn(B, 4, c.visual_feat_dim,
                                                                                            generator=g),
                                "visual_pos": torch.rand(B, 4, c.visual_pos_dim, generator=g)}],
    # 4 query tokens attending to 16 image features
    "blip_2_qformer": lambda m, c, g: [{"query_embeds": torch.randn(B, 4, c.hidden_size, generator=g),
                                        "encoder_hidden_states": torch.randn(B, 16, c.encoder_hidden_size,
                                                                             generator=g)}],
    # a series of whole patches, its padding flags and a frequency class per series
    "timesfm": lambda m, c, g: [{"past_values": torch.randn(B, 4 * c.patch_length, generator=g),
                                 "past_values_padding": torch.zeros(B, 4 * c.patch_length, dtype=torch.long),
                                 "freq": torch.zeros(B, 1, dtype=torch.long)}],
    "timesfm2_5": lambda m, c, g: [{"past_values": torch.randn(B, 4 * c.patch_length, generator=g)}],
    "seggpt": lambda m, c, g: [{n: torch.randn(B, c.num_channels, c.image_size[0] // 2, c.image_size[1], generator=g)
                                for n in ("pixel_values", "prompt_pixel_values", "prompt_masks")}],
    "audio-spectrogram-transformer": lambda m, c, g: [{"input_values": torch.randn(B, c.max_length, c.num_mel_bins,
                                                                                   generator=g)}],
    # (batch, frames, mel bins) and the padding mask (True: padding)
    "gemma3n_audio": lambda m, c, g: [{"audio_mel": torch.randn(B, 64, c.input_feat_size, generator=g),
                                       "audio_mel_mask": torch.zeros(B, 64, dtype=torch.bool)}],
    # (batch, frames, mel bins): the mel bins are the ASR encoder's
    "nemotron3_5_transcribe_audio": lambda m, c, g: [{"input_features": torch.randn(
        B, 64, c.asr_config.num_mel_bins, generator=g)}],
    # the waveform (batch, 1, samples), and the latents it encodes to (batch, width, frames)
    "vibevoice_acoustic_tokenizer_encoder": lambda m, c, g: [{"hidden_states": torch.randn(B, 1, 1600, generator=g)}],
    "vibevoice_acoustic_tokenizer_decoder": lambda m, c, g: [{"hidden_states": torch.randn(B, c.hidden_size, 25,
                                                                                           generator=g)}],
    # BLT's cache asks its config for a depth it lacks
    "blt": lambda m, c, g: [{"input_ids": _ids(g, T, VOCAB), "use_cache": False}],
    "perceiver": lambda m, c, g: [{"inputs": torch.randn(B, T, c.d_model, generator=g)}],  # no preprocessor: embeddings
    "vjepa2": lambda m, c, g: [{"pixel_values_videos": torch.randn(
        B, c.frames_per_clip, c.in_chans, c.crop_size, c.crop_size, generator=g)}],
}


class _Timeout(Exception):
    pass


def _alarm(*_):
    raise _Timeout(f"over {TIMEOUT_S} s")


def _short(e: BaseException) -> str:
    first = next((line.strip() for line in str(e).splitlines() if line.strip()), "")  # ImportError's starts blank
    return f"{type(e).__name__}: {first[:160]}"


def sweep_one(model_type: str) -> dict:
    t0 = time.perf_counter()
    rec = _sweep_one(model_type)
    rec["seconds"] = round(time.perf_counter() - t0, 2)
    return rec


def _sweep_one(model_type: str) -> dict:
    import transformers
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING
    from transformers.models.auto.modeling_auto import MODEL_MAPPING_NAMES

    name = MODEL_MAPPING_NAMES.get(model_type)
    rec = {"type": model_type, "model": name[0] if isinstance(name, tuple) else name}  # Funnel: two, the full one first
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(TIMEOUT_S)
    try:
        try:
            cfg = tiny_config(CONFIG_MAPPING[model_type], adjust=ADJUST.get(model_type))
            cls = getattr(transformers, rec["model"])
            want = getattr(cls, "config_class", None)
            if isinstance(want, type) and not isinstance(cfg, want):  # MusicGen's model is its decoder
                cfg = next((v for v in vars(cfg).values() if isinstance(v, want)), cfg)
        except Exception as e:  # noqa: BLE001
            return {**rec, "status": "skipped", "reason": "config: " + _short(e)}
        torch.manual_seed(0)
        try:
            with warnings.catch_warnings(), torch.device("meta"):
                warnings.simplefilter("ignore")
                n = sum(p.numel() for p in cls._from_config(cfg, attn_implementation="eager").parameters())
        except Exception:  # noqa: BLE001 - some models cannot be built on meta; build them for real
            n = 0
        if n > MAX_PARAMS:
            return {**rec, "status": "skipped", "reason": f"too big after shrinking ({n / 1e6:.0f} M parameters)"}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    model = cls._from_config(cfg, attn_implementation="eager").eval()
                except (ValueError, ImportError):
                    model = cls._from_config(cfg).eval()
        except Exception as e:  # noqa: BLE001
            return {**rec, "status": "skipped", "reason": "build: " + _short(e)}
        params = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
        if params > MAX_PARAMS:
            return {**rec, "status": "skipped", "reason": f"too big after shrinking ({params / 1e6:.0f} M parameters)"}
        inputs, err, flops = None, None, None
        todo = _candidates(model, cfg, model_type)
        while todo:
            cand = todo.pop(0)
            try:
                with torch.no_grad(), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model(**{k: v for k, v in cand.items() if not k.startswith("_")})
                inputs = {k: v for k, v in cand.items() if not k.startswith("_")}
                break
            except _Timeout:
                raise
            except Exception as e:  # noqa: BLE001
                err = err or e
                todo = _retry(cand, e) + todo
        if inputs is None:
            return {**rec, "status": "skipped", "reason": "forward: " + _short(err) if err else "no inputs"}
        rec["inputs"] = {k: list(v.shape) if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}
        rec["params"] = params
        # the same seed for every forward: some models draw noise that sets the output's length (VITS). Under
        # no_grad flop_counter's module tracker fails on a module that returns a parameter as it is (a leaf
        # without grad_fn: Perceiver's latents); the same forward with autograd on has the same FLOPs
        for grad in (False, True):
            try:
                torch.manual_seed(0)
                with torch.set_grad_enabled(grad), warnings.catch_warnings(), FlopCounterMode(display=False) as counter:
                    warnings.simplefilter("ignore")
                    model(**inputs)
                flops = counter.get_total_flops()
                rec.pop("flop_counter_error", None)
                if grad:
                    rec["fc_with_grad"] = True
                break
            except _Timeout:
                raise
            except Exception as e:  # noqa: BLE001
                rec["flop_counter_error"] = _short(e)
                if "Expected gradient function to be set" not in str(e):
                    break
        before = {k: v.clone() for k, v in model.state_dict().items()}
        hooks = _hooks(model)  # transformers installs hooks of its own (output capture): compare, not expect none
        try:
            torch.manual_seed(0)
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                report = torchcount.profile(model, inputs, warn=False)
        except _Timeout:
            raise
        except Exception as e:  # noqa: BLE001
            rec.update(status="error", error=_short(e), traceback=traceback.format_exc()[-3000:])
        else:
            rec.update(status="ran", complete=report.complete, macs=report.total.macs,
                       uncounted=sorted({u.what for u in report.uncounted}),
                       params_counted=report.total.params)
            if flops is not None:
                rec["fc_macs"] = flops // 2
        state = model.state_dict()
        rec["restored"] = state.keys() == before.keys() and all(
            torch.equal(v, before[k]) for k, v in state.items()) and _hooks(model) == hooks
        if rec["status"] == "ran":
            rec.update(_training_step(model, inputs))
            rec.update(_on_meta(model, inputs, report))
        return rec
    except _Timeout as e:
        return {**rec, "status": "skipped", "reason": f"timeout: {e}"}
    except Exception as e:  # noqa: BLE001 - anything outside the profile call is a skip
        return {**rec, "status": "skipped", "reason": "sweep: " + _short(e)}
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _conv_backward_by_hand(grad_out_shape, x_shape, w_shape, _bias, _stride, _padding, _dilation, transposed,
                           _output_padding, _groups, output_mask, out_shape=None) -> int:
    """FLOPs of convolution_backward: the input's and the weight's gradient (those ``output_mask`` asks for)
    each cost the forward's MACs, N·C_out·∏out·(C_in/groups)·∏kernel (w_shape[1] is C_in/groups; transposed,
    the input's size takes the output's place). flop_counter's own formula ignores ``groups`` (a depthwise
    convolution's gradients counted as dense ones)."""
    from math import prod
    macs = prod(x_shape if transposed else grad_out_shape) * prod(w_shape[1:])
    return 2 * macs * (bool(output_mask[0]) + bool(output_mask[1]))


def _tensors(out):
    """The output's tensors in order, nested tuples and model outputs flattened."""
    if isinstance(out, torch.Tensor):
        yield out
    elif hasattr(out, "to_tuple") or isinstance(out, (tuple, list)):
        for item in (out.to_tuple() if hasattr(out, "to_tuple") else out):
            yield from _tensors(item)


def _step(self, **inputs):
    """A training step: the mean square of the first output with a gradient (a codec's first output is its
    integer codes; InstructBLIP's is a tuple), backward."""
    out = list(_tensors(self(**inputs)))
    first = next((t for t in out if t.requires_grad), out[0])
    first.float().pow(2).mean().backward()


def _training_step(model, inputs) -> dict:
    """``profile(method="train_step")`` of :func:`_step` against flop_counter over the same step (its
    grouped-convolution gradients by hand). ``train``: "ran" (``train_complete``, ``train_macs``,
    ``train_fc_macs``, ``train_uncounted``), "skipped" (the plain step failed) or "error"."""
    import types
    model.train_step = types.MethodType(_step, model)
    try:
        try:
            torch.manual_seed(0)
            with warnings.catch_warnings(), FlopCounterMode(
                    display=False, custom_mapping={torch.ops.aten.convolution_backward: _conv_backward_by_hand}) as fc:
                warnings.simplefilter("ignore")
                model.train_step(**inputs)
            model.zero_grad(set_to_none=True)
        except _Timeout:
            raise
        except Exception as e:  # noqa: BLE001
            model.zero_grad(set_to_none=True)
            return {"train": "skipped", "train_error": _short(e)}
        try:
            torch.manual_seed(0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                step = torchcount.profile(model, inputs, method="train_step", warn=False)
        except _Timeout:
            raise
        except Exception as e:  # noqa: BLE001
            return {"train": "error", "train_error": _short(e)}
        return {"train": "ran", "train_complete": step.complete, "train_macs": step.total.macs,
                "train_fc_macs": fc.get_total_flops() // 2, "train_uncounted": sorted({u.what for u in step.uncounted}),
                "train_grads_restored": all(p.grad is None for p in model.parameters())}
    finally:
        del model.train_step


CATEGORIES = ("macs", "mults", "adds", "divs", "cmps", "assigns", "transc", "bytes_read", "bytes_written")


def _on_meta(model, inputs, report) -> dict:
    """The same forward with the model and inputs on the meta device (the model's weights are lost: last).
    ``meta``: "same" (every category and the parameters), "differs" (``meta_diff``: meta − CPU per category),
    "needs values" (an op needs real values; the error names it) or the error."""
    try:
        model.to("meta")
        params = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())  # .to may untie
        torch.manual_seed(0)
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            meta = torchcount.profile(model, {k: v.to("meta") if isinstance(v, torch.Tensor) else v
                                              for k, v in inputs.items()}, warn=False)
    except _Timeout:
        raise
    except Exception as e:  # noqa: BLE001
        from torchcount.profile import needs_real_values
        return {"meta": "needs values" if needs_real_values(e) else "error", "meta_error": _short(e)}
    diff = {k: getattr(meta.total.cost, k) - getattr(report.total.cost, k) for k in CATEGORIES
            if getattr(meta.total.cost, k) != getattr(report.total.cost, k)}
    if meta.total.params != params:
        diff["params"] = meta.total.params - params
    if not meta.complete:
        diff["uncounted"] = sorted({u.what for u in meta.uncounted})
    return {"meta": "differs" if diff else "same", "meta_diff": diff}


def all_types() -> list[str]:
    from transformers.models.auto.modeling_auto import MODEL_MAPPING_NAMES
    return sorted(MODEL_MAPPING_NAMES)


def _line(r: dict) -> str:
    if r["status"] != "ran":
        return f"{r['type']:28s} {r['status']:8s} {r.get('reason') or r.get('error')}"
    gap = "" if "fc_macs" not in r else f" fc {r['fc_macs']:,} ({r['macs'] - r['fc_macs']:+,})"
    train = r.get("train", "")
    if train == "ran":
        train = (f"{'complete' if r['train_complete'] else 'partial'} macs {r['train_macs']:,} fc "
                 f"{r['train_fc_macs']:,} ({r['train_macs'] - r['train_fc_macs']:+,}) {' '.join(r['train_uncounted'])}")
    elif r.get("train_error"):
        train += f" ({r['train_error'][:80]})"
    meta = r.get("meta", "")
    meta += f" {r['meta_diff']}" if r.get("meta_diff") else f" ({r['meta_error'][:80]})" if r.get("meta_error") else ""
    return (f"{r['type']:28s} ran      {'complete' if r['complete'] else 'partial '} macs {r['macs']:,}{gap}"
            f"{'' if r['restored'] else ' NOT RESTORED'} {' '.join(r['uncounted'])} train: {train} meta: {meta}")


def _train_cell(r: dict) -> str:
    if r.get("train") == "ran":
        return (f"{r['train_macs'] - r['train_fc_macs']:+,}{'' if r['train_complete'] else ' partial: '}"
                f"{', '.join(r['train_uncounted'])}")
    return f"{r.get('train', '')}: {r.get('train_error', '')}".replace("|", "/") if r.get("train") else ""


def _meta_cell(r: dict) -> str:
    if r.get("meta") == "differs":
        return "differs: " + ", ".join(f"{k} {v:+,}" if isinstance(v, int) else f"{k} {v}"
                                       for k, v in r["meta_diff"].items())
    if r.get("meta") == "error":
        return "error: " + r["meta_error"].replace("|", "/")
    return r.get("meta", "")


def write_markdown(records: list[dict], path: Path, scope: str = "every model type of `MODEL_MAPPING_NAMES`") -> None:
    import transformers
    ran = [r for r in records if r["status"] == "ran"]
    errors = [r for r in records if r["status"] == "error"]
    skipped = [r for r in records if r["status"] == "skipped"]
    complete = [r for r in ran if r["complete"]]
    equal = [r for r in ran if r.get("fc_macs") == r["macs"]]
    lines = [
        "# Hugging Face architectures swept: torchcount against the plain forward and flop_counter", "",
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}, {platform.node()}, torch "
        f"{torch.__version__}, transformers {transformers.__version__}; CPU, float32, eval, no_grad, batch {B}. "
        f"Written by benchmarks/hf_sweep.py: {scope}, its base model from the "
        "config class's defaults shrunk by attribute name, eager attention and experts. Counts, not timings.", "",
        f"- model types: {len(records)}; ran: {len(ran)}; skipped (no tiny config, build or plain forward "
        f"failed, too big): {len(skipped)}; torchcount errors: {len(errors)}",
        f"- complete coverage: {len(complete)} of {len(ran)}; MACs = flop_counter FLOPs / 2: {len(equal)} of "
        f"{sum('fc_macs' in r for r in ran)}; not restored: {sum(not r['restored'] for r in ran + errors)}",
        f"- a training step (the mean square of the first output with a gradient, backward; eval mode): ran for "
        f"{sum(r.get('train') == 'ran' for r in ran)}, complete for "
        f"{sum(r.get('train') == 'ran' and r['train_complete'] for r in ran)}, gradients put back for "
        f"{sum(r.get('train') == 'ran' and r['train_grads_restored'] for r in ran)}; MACs = flop_counter's "
        f"(grouped-convolution gradients by hand) for "
        f"{sum(r.get('train') == 'ran' and r['train_macs'] == r['train_fc_macs'] for r in ran)}; torchcount "
        f"errors: {sum(r.get('train') == 'error' for r in ran)}",
        f"- on the meta device: the same in every category for {sum(r.get('meta') == 'same' for r in ran)}; "
        f"differs for {sum(r.get('meta') == 'differs' for r in ran)} (MACs differ for "
        f"{sum('macs' in (r.get('meta_diff') or {}) for r in ran)}); an op needs real values for "
        f"{sum(r.get('meta') == 'needs values' for r in ran)}; other errors: "
        f"{sum(r.get('meta') == 'error' for r in ran)}", "",
        "On meta, a difference is the model doing other work on a new device, not a miscount: a result cached "
        "on the CPU by the plain forward (`lru_cache`d position embeddings, LeViT's attention-bias cache) is "
        "computed again; a host scalar or table is copied to the device (bytes only); a path chosen by the "
        "device; `.to(\"meta\")` untying shared weights (parameters compared with the model's own count "
        "after the move).", "",
        "A MAC difference is a lead, not a verdict: flop_counter counts only the ops it has a formula for (mm, "
        "bmm, addmm, baddbmm, convolutions, SDPA, …), not `_grouped_mm`, `aten.lstm` on CPU, triangular solves, "
        "cdist's `_euclidean_dist` or the CPU SDPA kernel called directly; and its convolution-gradient formula "
        "ignores `groups` (the training step uses the closed form instead). Every difference left was traced to "
        "one of these: docs/coverage.md, \"The Hugging Face sweep\".", "",
        "| model type | status | coverage | torchcount MACs | flop_counter FLOPs/2 | difference | uncounted ops / "
        "note | training step: MACs − flop_counter's | meta (meta − CPU) |", "|---|---|---|---:|---:|---:|---|---|---|"]
    for r in records:
        if r["status"] == "ran":
            fc = r.get("fc_macs")
            lines.append(f"| {r['type']} | ran{'' if r['restored'] else ' (not restored)'} | "
                         f"{'complete' if r['complete'] else 'partial'} | {r['macs']:,} | "
                         f"{'' if fc is None else f'{fc:,}'} | {'' if fc is None else format(r['macs'] - fc, '+,')} | "
                         f"{', '.join(r['uncounted']) or r.get('flop_counter_error', '')} | {_train_cell(r)} | "
                         f"{_meta_cell(r)} |")
        else:
            why = (r.get("reason") or r.get("error") or "").replace("|", "/")
            lines.append(f"| {r['type']} | {r['status']} | | | | | {why} | | |")
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str]) -> None:
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return
    import transformers
    transformers.logging.set_verbosity_error()
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    out = None
    if argv[:1] == ["--out"]:  # a subset's table, written
        out, argv = Path(argv[1]), argv[2:]
    if [a for a in argv if a.startswith("-")]:  # (it would be swept as a model type)
        sys.exit(f"hf_sweep.py: not a model type: {[a for a in argv if a.startswith('-')][0]} "
                 "(usage: hf_sweep.py [--help] [--out FILE.md] [TYPE ...])")
    types = argv or all_types()
    records = []
    for t in types:
        rec = sweep_one(t)
        records.append(rec)
        print(_line(rec), f"[{rec['seconds']} s]", flush=True)
        if rec["status"] == "error":
            print(rec["traceback"], flush=True)
    if out is not None:
        out.with_suffix(".json").write_text(json.dumps([{k: v for k, v in r.items() if k != "traceback"}
                                                        for r in records], indent=0) + "\n")
        write_markdown(records, out, f"the {len(records)} model types named on its command line")
        print(f"wrote {out}")
    elif not argv:
        out = Path(__file__).parent / "results"
        (out / "hf_sweep.json").write_text(json.dumps([{k: v for k, v in r.items() if k != "traceback"}
                                                       for r in records], indent=0) + "\n")
        write_markdown(records, out / "hf_sweep.md")
        print(f"wrote {out / 'hf_sweep.md'}")


if __name__ == "__main__":
    main(sys.argv[1:])
