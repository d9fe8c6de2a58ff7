"""What transcribing 30 s of audio costs: ``model.generate`` of a Whisper-tiny-shaped model
(d_model 384, 4 + 4 layers, 6 heads, 80 mel bins, 3000 frames), profiled with
``torchcount.profile(model, features, method="generate")``, against the closed form.

A forward pass counts the encoder and one decoder pass. Generation runs the encoder once and the
decoder once per token, with a KV cache: step t projects one token and attends to t + 1 cached
positions, and the cross-attention keys and values of the 1500 encoder positions are computed at
the first step only. Random weights (no download), so the tokens are noise; the number of steps is
fixed with ``min_new_tokens = max_new_tokens``. Generation reads token values (``.item()``), so it
runs on the CPU, not on the meta device: a few seconds.

Run: ``.venv/bin/python examples/whisper_generate.py [tokens]``
"""
import warnings

import torch
from transformers import WhisperConfig, WhisperForConditionalGeneration
from transformers.utils import logging

import torchcount

D, LAYERS, FFN, MELS, FRAMES, VOCAB = 384, 4, 1536, 80, 3000, 51865


def closed_form(steps: int) -> dict[str, int]:
    """MACs of generating ``steps`` tokens (biases, norms and softmax are not MACs)."""
    S = FRAMES // 2  # the encoder's second convolution has stride 2
    encoder = FRAMES * D * MELS * 3 + S * D * D * 3 + LAYERS * (4 * S * D * D + 2 * S * S * D + 2 * S * D * FFN)
    per_step = [LAYERS * (4 * D * D + 2 * (t + 1) * D       # self-attention: q, k, v, o; QKᵀ and A·V over t + 1
                          + 2 * D * D + 2 * S * D           # cross-attention: q, o; QKᵀ and A·V over S
                          + 2 * D * FFN)                    # feed-forward
                for t in range(steps)]
    decoder = sum(per_step) + LAYERS * 2 * S * D * D       # cross-attention k, v: once, then cached
    return {"encoder": encoder, "decoder": decoder, "head": steps * D * VOCAB}


def whisper_tiny_shaped() -> WhisperForConditionalGeneration:
    """The model, random weights (also the CLI's builder: ``examples/whisper_generate.py:whisper_tiny_shaped``)."""
    logging.set_verbosity_error()
    torch.manual_seed(0)
    config = WhisperConfig(d_model=D, encoder_layers=LAYERS, decoder_layers=LAYERS, encoder_attention_heads=6,
                           decoder_attention_heads=6, encoder_ffn_dim=FFN, decoder_ffn_dim=FFN, num_mel_bins=MELS)
    return WhisperForConditionalGeneration(config).eval()


def main(tokens: int = 8):
    model = whisper_tiny_shaped()
    features = torch.randn(1, MELS, FRAMES)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = torchcount.profile(model, features, method="generate",
                                    kwargs=dict(max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False),
                                    name=f"Whisper-tiny-shaped .generate, {tokens} tokens")
    print(report.table(depth=2, columns=["#", "module", "type", "calls", "output", "MACs", "ops", "share"]))
    expected = closed_form(tokens)
    print()
    for path, key in (("model.encoder", "encoder"), ("model.decoder", "decoder"), ("proj_out", "head")):
        got = report.row(path).cost.macs
        print(f"{path:14} torchcount {got:>15,} MACs   closed form {expected[key]:>15,}   "
              f"{'equal' if got == expected[key] else 'DIFFERENT'}")
    forward = report.root.calls
    print(f"\nthe decoder ran {forward} times (one token each); the encoder once: "
          f"{report.total.macs / 1e9:.2f} G MACs in all, {report.row('model.encoder').cost.macs / report.total.macs:.0%} "
          f"of them in the encoder")
    print(f"generate's own work outside the model's forward (picking each token, stopping checks): "
          f"{report.root.self_cost.cmps:,} comparisons")


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tokens", type=int, nargs="?", default=8, help="tokens to generate (default 8)")
    main(parser.parse_args().tokens)
