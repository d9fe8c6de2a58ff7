"""torchaudio's model zoo (``torchaudio.models``), every builder and model class that builds offline,
against ``torch.utils.flop_counter``.

Each model runs at a small configuration, in eval mode under ``no_grad`` and in train mode (the
methods a user profiles instead of the forward too: ``Tacotron2.infer``, ``WaveRNN.infer``,
``Emformer.infer``, ``RNNT.transcribe_streaming``, ``RNNTBeamSearch``), and must give: coverage
complete; the parameters ``sum(p.numel() for p in model.parameters())``; the model back as found
(training flags, the state dict bit for bit, the same tensors, no hook left, no gradient); and MACs
equal to ``FlopCounterMode``'s FLOPs / 2 plus, for each call of the three CPU ops it has no formula
for (docs/coverage.md, "Against torch.utils.flop_counter"), a closed form of the op's arguments,
independent of torchcount (where a torch's flop_counter has one, its own is used; a training step of
nine of them, at the end, adds their backward kernels and flop_counter's grouped-convolution excess):

- ``_scaled_dot_product_flash_attention_for_cpu`` (SDPA's CPU kernel, which every attention here
  reaches in eval, and in train where its dropout is 0): Q·Kᵀ and A·V, B·H·L·S·(E + Ev) MACs, as
  flop_counter counts the SDPA kernels it knows;
- ``mkldnn_rnn_layer`` (nn.LSTM on the CPU, one op per layer and direction): every step multiplies
  its input by W_ih (4H×I) and its state by W_hh (4H×H), steps·(W_ih + W_hh elements) MACs;
- ``_transformer_encoder_layer_fwd`` (nn.TransformerEncoderLayer's fused eval path, SquimObjective's
  transformers): rows·(in-projection + out-projection + both feed-forward weights) + 2·N·L²·E MACs.

A model whose forward runs on the meta device also counts the same there, in every category
(SquimSubjective, whose wav2vec2_base is full size whatever its configuration, is checked only so). The
full-size builders (wav2vec2, HuBERT, WavLM, Squim, ConvTasNet, the Emformer RNN-T) are counted on
the meta device, against flop_counter there. ``conformer_rnnt_base`` lived in
``torchaudio.prototype``, which the tested torchaudio (2.11) no longer has: not probed."""
from __future__ import annotations

import math

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

import torchcount
from conftest import flop_counter_counts_transposed_backward_right
from torchcount.cost import OP_CATEGORIES

torchaudio = pytest.importorskip("torchaudio")

M = torchaudio.models
aten = torch.ops.aten


# ---- flop_counter, and the CPU ops it has no formula for -------------------------------------
def _cpu_sdpa_macs(query, key, value, *args, **kwargs) -> int:
    """Q·Kᵀ (B·H·L·S·E) and A·V (B·H·L·S·Ev), as flop_counter counts the SDPA kernels it knows."""
    *batch, length, e = query.shape
    return math.prod(batch) * length * key.shape[-2] * (e + value.shape[-1])


def _mkldnn_rnn_layer_macs(input, w_ih, w_hh, *args, **kwargs) -> int:
    steps = input.numel() // input.shape[-1]  # T·N
    return steps * (w_ih.numel() + w_hh.numel())


def _encoder_layer_fwd_macs(src, embed_dim, num_heads, qkv_weight, qkv_bias, proj_weight, proj_bias, use_gelu,
                            norm_first, eps, norm_weight_1, norm_bias_1, norm_weight_2, norm_bias_2,
                            ffn_weight_1, ffn_bias_1, ffn_weight_2, ffn_bias_2, *args, **kwargs) -> int:
    n, length, e = src.shape
    weights = qkv_weight.numel() + proj_weight.numel() + ffn_weight_1.numel() + ffn_weight_2.numel()
    return n * length * weights + 2 * n * length * length * e


def _cpu_sdpa_backward_macs(grad_out, query, key, value, *args, **kwargs) -> int:
    """Q·Kᵀ recomputed, dQ and dK (B·H·L·S·E each), dP and dV (B·H·L·S·Ev each): flop_counter's five
    products for the SDPA backward kernels it knows."""
    *batch, length, e = query.shape
    return math.prod(batch) * length * key.shape[-2] * (3 * e + 2 * value.shape[-1])


def _mkldnn_rnn_layer_backward_macs(input, w_ih, w_hh, *args, **kwargs) -> int:
    """dx = dG·W_ih, dW_ih = dGᵀ·x, dh = dG·W_hh, dW_hh = dGᵀ·h per step: twice the forward's products."""
    return 2 * _mkldnn_rnn_layer_macs(input, w_ih, w_hh)


# (by name: an older torch lacks some of these kernels, torch 2.2 the CPU flash attention's)
MISSED = {getattr(aten, name): macs for name, macs in {
    "_scaled_dot_product_flash_attention_for_cpu": _cpu_sdpa_macs,
    "mkldnn_rnn_layer": _mkldnn_rnn_layer_macs,
    "_transformer_encoder_layer_fwd": _encoder_layer_fwd_macs,
    "_scaled_dot_product_flash_attention_for_cpu_backward": _cpu_sdpa_backward_macs,
    "mkldnn_rnn_layer_backward": _mkldnn_rnn_layer_backward_macs}.items() if hasattr(aten, name)}


def _grouped_weight_gradient_excess(grad_output, input, weight, bias_sizes, stride, padding, dilation,
                                    transposed, output_padding, groups, output_mask) -> int:
    """flop_counter takes a grouped convolution's weight gradient as if ``groups`` were 1 (docs/coverage.md):
    ``groups`` times the N·C_out·(C_in/g)·∏kernel·∏output MACs it costs."""
    if groups == 1 or not output_mask[1]:
        return 0
    assert not transposed, "a grouped transposed convolution: its excess is not written out here"
    return (groups - 1) * grad_output.numel() * math.prod(weight.shape[1:])


class _Gap(TorchDispatchMode):
    """What flop_counter, run beside it, misses: the MACs of the ops of ``MISSED`` it has no formula for,
    less the excess of its grouped convolutions' weight gradients."""

    def __init__(self, known):
        super().__init__()
        self.known, self.macs = known, 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        packet = func._overloadpacket
        if packet in MISSED and packet not in self.known:
            self.macs += MISSED[packet](*args, **(kwargs or {}))
        elif packet is aten.convolution_backward:
            self.macs -= _grouped_weight_gradient_excess(*args, **(kwargs or {}))
        return func(*args, **(kwargs or {}))


def reference_macs(fn, args, kwargs=None) -> int:
    """flop_counter's FLOPs / 2, plus the closed forms of what it does not count."""
    counter = FlopCounterMode(display=False)
    known = getattr(counter, "flop_registry", None) or getattr(counter, "flop_mapping", {})
    with counter, _Gap(known) as gap:
        fn(*args, **(kwargs or {}))
    flops = counter.get_total_flops()
    assert flops % 2 == 0
    return flops // 2 + gap.macs


# ---- the model as found -------------------------------------------------------------------------
def snapshot(model: torch.nn.Module) -> dict:
    state = model.state_dict(keep_vars=True)
    return {
        "training": {n: m.training for n, m in model.named_modules()},
        "values": {k: v.detach().clone() for k, v in state.items()},
        "objects": {k: id(v) for k, v in state.items()},
        "hooks": {n: (dict(m._forward_hooks), dict(m._forward_pre_hooks), dict(m._backward_hooks))
                  for n, m in model.named_modules()},
        "grads": {n: p.grad for n, p in model.named_parameters()},
    }


def assert_as_found(before: dict, after: dict) -> None:
    assert after["training"] == before["training"]
    assert after["objects"] == before["objects"]
    assert after["hooks"] == before["hooks"]
    assert all(g is None for g in after["grads"].values())
    for name, value in before["values"].items():  # bit for bit (a NaN equals itself)
        assert torch.equal(after["values"][name].view(-1).view(torch.uint8), value.view(-1).view(torch.uint8)) \
            if value.is_floating_point() else torch.equal(after["values"][name], value), name


# ---- the zoo at small configurations -------------------------------------------------------------
def _w2v_config(**changes) -> dict:
    config = dict(extractor_mode="group_norm", extractor_conv_layer_config=[(32, 10, 5), (32, 3, 2), (32, 2, 2)],
                  extractor_conv_bias=False, encoder_embed_dim=32, encoder_projection_dropout=0.1,
                  encoder_pos_conv_kernel=8, encoder_pos_conv_groups=4, encoder_num_layers=2, encoder_num_heads=4,
                  encoder_attention_dropout=0.1, encoder_ff_interm_features=64, encoder_ff_interm_dropout=0.0,
                  encoder_dropout=0.1, encoder_layer_norm_first=False, encoder_layer_drop=0.0, aux_num_out=None)
    return {**config, **changes}


def _hubert_pretrain():
    config = _w2v_config(encoder_layer_norm_first=True)
    del config["aux_num_out"]
    return M.hubert_pretrain_model(
        **config, mask_prob=0.5, mask_selection="static", mask_other=0.0, mask_length=2, no_mask_overlap=False,
        mask_min_space=1, mask_channel_prob=0.5, mask_channel_selection="static", mask_channel_other=0.0,
        mask_channel_length=4, no_mask_channel_overlap=False, mask_channel_min_space=1, skip_masked=False,
        skip_nomask=False, num_classes=20, final_dim=16, feature_grad_mult=0.1)


def _emformer():
    return M.Emformer(input_dim=32, num_heads=4, ffn_dim=64, num_layers=2, segment_length=4, right_context_length=1,
                      left_context_length=8, max_memory_size=4)


def _rnnt():
    return M.emformer_rnnt_model(
        input_dim=20, encoding_dim=32, num_symbols=30, segment_length=4, right_context_length=2,
        time_reduction_input_dim=32, time_reduction_stride=2, transformer_num_heads=4, transformer_ffn_dim=64,
        transformer_num_layers=2, transformer_dropout=0.1, transformer_activation="gelu",
        transformer_left_context_length=8, transformer_max_memory_size=0,
        transformer_weight_init_scale_strategy="depthwise", transformer_tanh_on_mem=True, symbol_embedding_dim=16,
        num_lstm_layers=2, lstm_layer_norm=True, lstm_layer_norm_epsilon=1e-5, lstm_dropout=0.1)


def _tacotron2():
    return M.Tacotron2(n_mels=20, n_symbol=30, symbol_embedding_dim=32, encoder_embedding_dim=32,
                       encoder_n_convolution=2, encoder_kernel_size=5, decoder_rnn_dim=48, decoder_max_step=6,
                       attention_rnn_dim=48, attention_hidden_dim=16, attention_location_n_filter=8,
                       attention_location_kernel_size=7, prenet_dim=24, postnet_n_convolution=3,
                       postnet_kernel_size=5, postnet_embedding_dim=32, gate_threshold=2.0)  # (never stops early)


def _wavernn():
    return M.WaveRNN(upsample_scales=[2, 2, 3], n_classes=16, hop_length=12, n_res_block=2, n_rnn=32, n_fc=32,
                     kernel_size=5, n_freq=20, n_hidden=16, n_output=16)


def _beam_search():
    return M.RNNTBeamSearch(_rnnt(), blank=29, step_max_tokens=2)


def _lengths(*values):
    return torch.tensor(values)


#: name → (build, inputs, method, runs on meta). Inputs are made afresh for each run.
ZOO = {
    "wav2vec2_model": (lambda: M.wav2vec2_model(**_w2v_config(aux_num_out=16)),
                       lambda: (torch.randn(2, 1600), _lengths(1600, 1200)), None, True),
    "wav2vec2_model layer_norm": (lambda: M.wav2vec2_model(**_w2v_config(
        extractor_mode="layer_norm", extractor_conv_bias=True, encoder_layer_norm_first=True, encoder_layer_drop=0.5)),
        lambda: (torch.randn(2, 1600),), None, True),
    # (WavLM with lengths fails in torchaudio itself: its attention asserts that no mask is given)
    "wavlm_model": (lambda: M.wavlm_model(**_w2v_config(encoder_num_buckets=16, encoder_max_distance=50)),
                    lambda: (torch.randn(2, 1600),), None, True),
    # (its masks are drawn with numpy: not on meta)
    "hubert_pretrain_model": (_hubert_pretrain,
                              lambda: (torch.randn(2, 1600), torch.randint(0, 20, (2, 79)), _lengths(1600, 1200)),
                              None, False),
    # (lengths make a padding mask from their values: not on meta, and the same for the Emformers)
    "Conformer": (lambda: M.Conformer(input_dim=32, num_heads=4, ffn_dim=64, num_layers=2,
                                      depthwise_conv_kernel_size=7),
                  lambda: (torch.randn(2, 20, 32), _lengths(20, 15)), None, False),
    "Conformer group_norm, convolution first": (
        lambda: M.Conformer(input_dim=32, num_heads=4, ffn_dim=64, num_layers=1, depthwise_conv_kernel_size=7,
                            dropout=0.1, use_group_norm=True, convolution_first=True),
        lambda: (torch.randn(2, 20, 32), _lengths(20, 15)), None, False),
    "Emformer": (_emformer, lambda: (torch.randn(2, 13, 32), _lengths(13, 9)), None, False),
    "Emformer.infer": (_emformer, lambda: (torch.randn(2, 5, 32), _lengths(5, 5)), "infer", False),
    "emformer_rnnt_model": (_rnnt, lambda: (torch.randn(2, 18, 20), _lengths(18, 14), torch.randint(0, 30, (2, 5)),
                                            _lengths(5, 3)), None, False),
    "RNNT.transcribe_streaming": (_rnnt, lambda: (torch.randn(1, 6, 20), _lengths(6), None),
                                  "transcribe_streaming", False),
    "RNNTBeamSearch": (_beam_search, lambda: (torch.randn(1, 10, 20), _lengths(10), 2), None, False),
    "ConvTasNet": (lambda: M.ConvTasNet(num_sources=2, enc_kernel_size=16, enc_num_feats=32, msk_kernel_size=3,
                                        msk_num_feats=16, msk_num_hidden_feats=32, msk_num_layers=2, msk_num_stacks=2),
                   lambda: (torch.randn(2, 1, 400),), None, True),
    "DeepSpeech": (lambda: M.DeepSpeech(n_feature=40, n_hidden=32, n_class=29), lambda: (torch.randn(2, 1, 20, 40),),
                   None, True),
    "Wav2Letter waveform": (lambda: M.Wav2Letter(num_classes=20, input_type="waveform"),
                            lambda: (torch.randn(1, 1, 2400),), None, True),
    "Wav2Letter mfcc": (lambda: M.Wav2Letter(num_classes=20, input_type="mfcc", num_features=13),
                        lambda: (torch.randn(1, 13, 12),), None, True),
    # (its encoder packs the sequences by their lengths, read on the CPU: not on meta)
    "Tacotron2": (_tacotron2, lambda: (torch.randint(0, 30, (2, 5)), _lengths(5, 4), torch.randn(2, 20, 4),
                                       _lengths(4, 3)), None, False),
    "Tacotron2.infer": (_tacotron2, lambda: (torch.randint(0, 30, (2, 7)), _lengths(7, 5)), "infer", False),
    # (hop_length·(frames − kernel_size + 1) samples)
    "WaveRNN": (_wavernn, lambda: (torch.randn(2, 1, 24), torch.randn(2, 1, 20, 6)), None, True),
    "WaveRNN.infer": (_wavernn, lambda: (torch.randn(1, 20, 6),), "infer", True),
    # (istft checks its window envelope with aten.equal, which has no meta kernel)
    "HDemucs": (lambda: M.HDemucs(sources=["a", "b"], audio_channels=2, channels=4, depth=4, nfft=256, dconv_lstm=2,
                                  dconv_attn=2),
                lambda: (torch.randn(1, 2, 1024),), None, False),
    "squim_objective_model": (lambda: M.squim_objective_model(feat_dim=16, win_len=32, d_model=16, nhead=4,
                                                              hidden_dim=16, num_blocks=1, rnn_type="LSTM",
                                                              chunk_size=8),
                              lambda: (torch.randn(2, 800),), None, True),
    "squim_subjective_model": (lambda: M.squim_subjective_model(ssl_type="wav2vec2_base", feat_dim=768, proj_dim=16,
                                                                att_dim=8),
                               lambda: (torch.randn(1, 1600), torch.randn(1, 1600)), None, True),
}


#: (Tacotron2.infer's 'Reached max decoder steps'; an uncounted op would fail the coverage assertion)
quiet = pytest.mark.filterwarnings("ignore")


#: full size whatever its configuration (its wav2vec2_base, 94 M parameters): its count on the CPU is
#: compared with the meta one (below), and the meta one with flop_counter (the full-size builders)
CPU_ONLY_AGAINST_META = {"squim_subjective_model"}


@quiet
@pytest.mark.parametrize("mode", ["eval", "train"])
@pytest.mark.parametrize("name", [n for n in ZOO if n not in CPU_ONLY_AGAINST_META])
def test_torchaudio_model_against_flop_counter(name, mode):
    make, inputs, method, _ = ZOO[name]
    torch.manual_seed(0)
    model = make()
    getattr(model, mode)()
    fn = getattr(model, method) if method else model
    grad = torch.no_grad() if mode == "eval" else torch.enable_grad()
    with grad:
        torch.manual_seed(1)  # (the same dropout, layer drop and beam in both runs)
        before = snapshot(model)
        report = torchcount.profile(model, inputs(), method=method)
        assert_as_found(before, snapshot(model))
        torch.manual_seed(1)
        reference = reference_macs(fn, inputs())
    assert report.complete, report.uncounted
    assert report.total.params == sum(p.numel() for p in model.parameters())
    assert report.total.macs == reference
    assert report.total.macs > 0


@quiet
@pytest.mark.parametrize("name", [n for n, (*_, on_meta) in ZOO.items() if on_meta])
def test_torchaudio_model_same_on_meta(name):
    make, inputs, method, _ = ZOO[name]
    torch.manual_seed(0)
    model = make().eval()
    with torch.no_grad():
        cpu = torchcount.profile(model, inputs(), method=method)
    with torch.device("meta"):
        on_meta = make().eval()
    meta = torchcount.profile(on_meta, tuple(x.to("meta") if isinstance(x, torch.Tensor) else x for x in inputs()),
                              method=method)
    assert meta.complete, meta.uncounted
    assert {c: getattr(meta.total.cost, c) for c in OP_CATEGORIES} == \
        {c: getattr(cpu.total.cost, c) for c in OP_CATEGORIES}
    assert meta.total.params == cpu.total.params


FULL_SIZE = {n: (lambda n=n: getattr(M, n)()) for n in [
    "wav2vec2_base", "wav2vec2_large", "wav2vec2_large_lv60k", "wav2vec2_xlsr_300m", "wav2vec2_xlsr_1b",
    "wav2vec2_xlsr_2b", "hubert_base", "hubert_large", "hubert_xlarge", "wavlm_base", "wavlm_large",
    "squim_objective_base", "squim_subjective_base", "conv_tasnet_base"]}
FULL_SIZE["emformer_rnnt_base"] = lambda: M.emformer_rnnt_base(num_symbols=4097)
FULL_SIZE_INPUTS = {
    "squim_subjective_base": lambda: (torch.randn(1, 16000), torch.randn(1, 16000)),
    "conv_tasnet_base": lambda: (torch.randn(1, 1, 16000),),
    "emformer_rnnt_base": lambda: (torch.randn(1, 40, 80), _lengths(40), torch.randint(0, 4097, (1, 5)), _lengths(5)),
}


@quiet
@pytest.mark.parametrize("name", list(FULL_SIZE))
def test_torchaudio_builder_full_size_on_meta(name):
    """One second of audio (16,000 samples; the RNN-T 40 frames), on the meta device, where SDPA
    and nn.LSTM run as the decomposed ops flop_counter counts."""
    with torch.device("meta"):
        model = FULL_SIZE[name]().eval()
    inputs = tuple(x.to("meta") for x in FULL_SIZE_INPUTS.get(name, lambda: (torch.randn(1, 16000),))())
    report = torchcount.profile(model, inputs)
    with torch.no_grad():
        reference = reference_macs(model, inputs)
    assert report.complete, report.uncounted
    assert report.total.params == sum(p.numel() for p in model.parameters())
    assert report.total.macs == reference


def _first_float(output):
    if isinstance(output, torch.Tensor):
        return output if output.is_floating_point() else None
    if isinstance(output, (tuple, list)):
        return next((t for t in map(_first_float, output) if t is not None), None)
    return None


def train_step(model, *inputs):
    loss = _first_float(model(*inputs)).float().pow(2).mean()
    loss.backward()
    return loss


#: the models whose training step runs the backward ops of their own families: the grouped and
#: depthwise convolutions' gradients (wav2vec2's positional convolution, Conformer's, ConvTasNet's), SDPA's
#: CPU backward (Conformer, SquimObjective), nn.LSTM's (HDemucs, SquimObjective), LSTMCell's (Tacotron2),
#: GRU's (WaveRNN), the RNN-T's layer-normed LSTM, DeepSpeech's RNN, transposed convolutions (HDemucs)
TRAIN_STEPS = ["wav2vec2_model", "Conformer", "emformer_rnnt_model", "ConvTasNet", "DeepSpeech", "Tacotron2",
               "WaveRNN", "HDemucs", "squim_objective_model"]


@quiet
@pytest.mark.parametrize("name", TRAIN_STEPS)
def test_torchaudio_training_step_against_flop_counter(name):
    """``method=train_step`` (the first output's mean square, backward): complete, every gradient put back,
    MACs = flop_counter's plus the backward ops it has no formula for and less its grouped convolutions'
    weight-gradient excess (the closed forms above)."""
    make, inputs, method, _ = ZOO[name]
    assert method is None
    torch.manual_seed(0)
    model = make().train()
    torch.manual_seed(1)
    before = snapshot(model)
    report = torchcount.profile(model, inputs(), method=train_step)
    assert_as_found(before, snapshot(model))
    torch.manual_seed(1)
    reference = reference_macs(train_step, (model, *inputs()))
    model.zero_grad(set_to_none=True)
    assert report.complete, report.uncounted
    if not flop_counter_counts_transposed_backward_right() and any(
            isinstance(m, torch.nn.modules.conv._ConvTransposeNd) for m in model.modules()):
        pytest.skip(f"torch {torch.__version__}'s flop_counter overcounts a transposed convolution's weight gradient")
    assert report.total.macs == reference
