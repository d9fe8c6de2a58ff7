"""The lecture's "tracking FLOPs in complex systems": a Whisper-tiny-shaped encoder-decoder
(d_model 384, 4 encoder + 4 decoder layers, 6 heads, 80 mel bins, 3000 frames = 30 s),
built from a transformers config with no download, on the meta device (no weights
allocated, no arithmetic done: shapes are all torchcount needs).

torch.utils.flop_counter (and ptflops, fvcore) see 13.44 G MACs for this model on CPU (the issue
quotes 13.39 G): they count 0 for scaled_dot_product_attention. torchcount prices SDPA from its
closed form (docs/coverage.md).

Run: ``.venv/bin/python examples/whisper.py``
"""
import warnings

import torch
from transformers import WhisperConfig, WhisperForConditionalGeneration

import torchcount

CONFIG = dict(d_model=384, encoder_layers=4, decoder_layers=4, encoder_attention_heads=6,
              decoder_attention_heads=6, encoder_ffn_dim=1536, decoder_ffn_dim=1536, num_mel_bins=80)


def main(tokens: int = 4):
    with torch.device("meta"):
        model = WhisperForConditionalGeneration(WhisperConfig(**CONFIG))
    model.eval()
    inputs = {"input_features": torch.zeros(1, 80, 3000, device="meta"),
              "decoder_input_ids": torch.zeros(1, tokens, dtype=torch.long, device="meta")}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = torchcount.profile(model, inputs, name=f"Whisper-tiny-shaped, 3000 frames, {tokens} tokens")
    # per-block table: encoder convs, each encoder/decoder layer, the LM head
    print(report.table(depth=4, units=True, columns=["#", "module", "type", "output", "params", "MACs", "ops",
                                                      "share"]))
    d, ffn, S = 384, 1536, 1500
    block = 4 * S * d * d + 2 * S * S * d + 2 * S * d * ffn
    print(f"\none encoder layer by hand: 4·S·d² + 2·S²·d + 2·S·d·ffn = {block:,} MACs "
          f"(S = {S}: attention products alone are 2·S²·d = {2 * S * S * d:,})")
    print(f"total: {report.total.macs / 1e9:.2f} G MACs, {report.total.flops / 1e9:.2f} G FLOPs, "
          f"{report.total.params / 1e6:.1f} M parameters")
    print(report.explain("model.encoder.layers.0.self_attn"))


if __name__ == "__main__":
    main()
