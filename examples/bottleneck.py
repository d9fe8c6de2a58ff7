"""Spec §3 (seed 004): a 1×1 bottleneck before a 7×7 convolution, compared with the direct conv.

Run: python examples/bottleneck.py [--plot DIR]
Input 54×54×250, output 48 channels, 7×7 kernels, 'same' padding, multiplications only:
direct 7×7 conv 250→48: 1,714,608,000; 1×1 conv 250→12 (8,748,000) + 7×7 conv 12→48
(82,301,184) = 91,049,184; reduction 94.69 %. Runs on the meta device (no arithmetic is done).
"""
import argparse
from pathlib import Path

import torch
from torch import nn

import torchcount


def direct() -> nn.Module:
    return nn.Conv2d(250, 48, kernel_size=7, padding="same", bias=False)


def bottleneck() -> nn.Module:
    return nn.Sequential(nn.Conv2d(250, 12, kernel_size=1, bias=False),
                         nn.Conv2d(12, 48, kernel_size=7, padding="same", bias=False))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plot", type=Path, help="save per-layer share bars of both variants into this folder")
    args = ap.parse_args(argv)
    x = torch.empty(1, 250, 54, 54, device="meta")
    a = torchcount.profile(direct().to("meta"), x, convention="mults", name="direct 7×7")
    b = torchcount.profile(bottleneck().to("meta"), x, convention="mults", name="bottleneck 1×1 → 7×7")
    c = torchcount.compare(a, b)
    print(c)
    print(f"\nreduction in multiplications: {c.reduction:.2f} % ({c.ops.difference:,} fewer)")
    print()
    print(b.explain("1", convention="mults"))
    if args.plot:
        from torchcount.analysis.plots import plot_layers

        plot_layers(b, args.plot / "bottleneck_layers.png", convention="mults")
        print(f"\nplot written to {args.plot}/")
    return c


if __name__ == "__main__":
    main()
