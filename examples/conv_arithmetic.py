"""Spec §3 (seed 004): output size, parameters and multiplications of one convolution, and
the bottleneck comparison (multiplications only: the "mults" convention).

Run: python examples/conv_arithmetic.py
Prints: a 3×3/stride-2 conv on 38×38×22 with 224 kernels → 18×18×224, 44,352 params,
14,370,048 multiplications (the source wrote 635,299,392: an arithmetic slip); then a direct
7×7 conv 250→48 on 54×54×250 (1,714,608,000 multiplications) against a 1×1 250→12
bottleneck followed by a 7×7 12→48 conv (91,049,184): a 94.69 % reduction.
"""
import torch
from torch import nn

import torchcount


def single_conv():
    model = nn.Conv2d(22, 224, kernel_size=3, stride=2, padding=0, bias=False)
    report = torchcount.profile(model, input_size=(1, 22, 38, 38), convention="mults",
                                name="3×3 conv, stride 2, 38×38×22 → 224 channels")
    row = report.layers[0]
    _, c, h, w = row.output_shapes[0]
    print(report.table(columns=["module", "type", "input", "output", "params", "ops"]))
    print(f"output: {h}×{w}×{c}")
    print(f"params: 3·3·22·224 = {report.total.params:,}")
    print(f"multiplications: m′·n′·k·(k·k·c) = 18·18·224·198 = {report.total.flops:,}")
    print("(the source writes 635,299,392: an arithmetic slip; it wrote 18·18 as 1437, and "
          "1437·224·198 is 63,733,824, not 635,299,392 either)")
    print()
    print(report.explain(row.path))
    return report


def bottleneck_comparison():
    x = torch.randn(1, 250, 54, 54)
    direct = nn.Conv2d(250, 48, kernel_size=7, padding="same", bias=False)
    bottleneck = nn.Sequential(
        nn.Conv2d(250, 12, kernel_size=1, bias=False),
        nn.Conv2d(12, 48, kernel_size=7, padding="same", bias=False),
    )
    a = torchcount.profile(direct, x, convention="mults", name="direct 7×7 conv 250→48")
    b = torchcount.profile(bottleneck, x, convention="mults", name="1×1 250→12 then 7×7 12→48")
    print(b.table(columns=["module", "type", "input", "output", "params", "ops"]))
    print()
    if hasattr(torchcount, "compare"):
        print(torchcount.compare(a, b, convention="mults"))
        print()
    fewer = a.total.flops - b.total.flops
    reduction = fewer / a.total.flops
    print(f"direct:     {a.total.flops:,} multiplications")
    print(f"bottleneck: {b.layers[0].flops:,} + {b.layers[1].flops:,} = {b.total.flops:,} multiplications")
    print(f"reduction:  {reduction:.2%} ({fewer:,} fewer)")
    return a, b


def main():
    single_conv()
    print()
    bottleneck_comparison()


if __name__ == "__main__":
    main()
