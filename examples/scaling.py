"""The lecture's table "complexity vs parameter count, time scaling" (seed 001), from profiles.

Run: python examples/scaling.py [--measure] [--plot DIR]
Profiles an MLP applied per frame, a 1-D CNN, a 2-D CNN (T×T images), an RNN (LSTM) and a
transformer encoder at sequence lengths T = 16 … 256 and fits value ≈ c·T^e per quantity:
parameters are fixed (e = 0: weight sharing), MLP/CNN-1-D/RNN compute ∝ T, CNN-2-D ∝ T² (area),
attention scores ∝ T² (so a transformer layer as a whole lies between T and T²), and only the
RNN needs ∝ T sequential steps. ``--measure`` adds measured CPU time per size (disturbed by
whatever else runs on the machine); ``--plot DIR`` saves the log-log sweeps as PNG.
"""
import argparse
from pathlib import Path

import torch
from torch import nn
from tabulate import tabulate

import torchcount

SIZES = [16, 32, 64, 128, 256]
D = 32  # channels / features / model width


class LSTMLast(nn.Module):
    """An LSTM over T steps followed by a classifier on every step."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(D, D, batch_first=True)
        self.head = nn.Linear(D, 10)

    def forward(self, x):
        return self.head(self.rnn(x)[0])


def models():
    mlp = nn.Sequential(nn.Linear(D, 64), nn.ReLU(), nn.Linear(64, 10))
    cnn1 = nn.Sequential(nn.Conv1d(D, D, 5, padding=2), nn.ReLU(), nn.Conv1d(D, D, 5, padding=2))
    cnn2 = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1))
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(D, 4, 64, batch_first=True), 2,
                                enable_nested_tensor=False)
    seq = lambda t: torch.randn(1, t, D)  # noqa: E731
    return [
        ("DNN (MLP per frame)", mlp.eval(), seq),
        ("CNN (1-D)", cnn1.eval(), lambda t: torch.randn(1, D, t)),
        ("CNN (2-D, T×T image)", cnn2.eval(), lambda t: torch.randn(1, 3, t, t)),
        ("RNN (LSTM)", LSTMLast().eval(), seq),
        ("Attention (transformer encoder)", enc.eval(), seq),
    ]


def scores_fit(result):
    """The fit of the attention-score terms (Q·Kᵀ) of the first attention layer, if any."""
    for (path, cat, what), series in result.terms.items():
        if cat == "macs" and "score" in what.lower():
            return series.fit
    return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--measure", action="store_true", help="also time each size on this machine")
    ap.add_argument("--plot", type=Path, help="save log-log plots of each sweep into this folder")
    args = ap.parse_args(argv)
    summary = []
    results = {}
    for name, model, make in models():
        opts = {"repeat": 5, "warmup": 2} if args.measure else {}
        res = torchcount.scaling(model, make, SIZES, measure=args.measure, name=name, **opts)
        results[name] = res
        scores = scores_fit(res)
        line = [name, f"{res.get(None, 'params').values[-1]:,}", res.fit(None, "params").law(),
                res.fit(None, "macs").text(), scores.text() if scores else "",
                res.fit(None, "steps").text()]
        if args.measure:
            line.append(res.fit(None, "time_ms").text())
        summary.append(line)
    headers = ["model", "params", "parameter count", "compute (MACs)", "attention scores", "sequential steps"]
    if args.measure:
        headers.append("measured time")
    print(f"Complexity vs parameter count, time scaling — fitted over T = {', '.join(map(str, SIZES))}")
    print(tabulate(summary, headers=headers, disable_numparse=True))
    for name, res in results.items():
        print()
        print(res.table())
    if args.plot:
        from torchcount.analysis.plots import plot_scaling

        args.plot.mkdir(parents=True, exist_ok=True)
        for i, (name, res) in enumerate(results.items()):
            attn = next((p for (p, cat, what) in res.terms if "score" in what.lower()), None)
            plot_scaling(res, args.plot / f"scaling_{i}.png", metric="macs", terms_of=attn,
                         top=3 if attn is not None else 6, title=f"{name}: MACs vs T")
        print(f"\nplots written to {args.plot}/")
    return results


if __name__ == "__main__":
    main()
