"""Spec §2 (seed 003): a LeNet-like parameter table with the activation-size column, and the
"2 FLOPs per MAC, bias not counted" convention ("2mac") on a small convnet.

Run: python examples/lenet_params.py
Prints the LeNet table (params 608, 3,216, 48,120, 10,164, 850; total 62,958) and the
2mac table of the 28×28×1 network (60,840 + 259,200 + 737,280 + 2,560 = 1,059,880 FLOPs; the
source and spec §2 add them up to 1,060,400, a slip: docs/conventions.md, "Slips in the sources").
"""
import torch
from torch import nn

import torchcount


def lenet() -> nn.Sequential:
    """32×32×3 → CONV1 (5×5, 8) → POOL1 → CONV2 (5×5, 16) → POOL2 → FC3 → FC4 → FC5 + softmax."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 5), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 5), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10), nn.Softmax(dim=1),
    ).eval()


def small_convnet() -> nn.Sequential:
    """28×28×1 → conv 5 filters 3×3 → conv 5 filters 3×3×5 → FC 2880→128 → FC 128→10."""
    return nn.Sequential(
        nn.Conv2d(1, 5, 3), nn.Conv2d(5, 5, 3), nn.Flatten(), nn.Linear(2880, 128), nn.Linear(128, 10),
    ).eval()


def main():
    params = torchcount.profile(lenet(), input_size=(1, 3, 32, 32), name="LeNet-like (seed 003)")
    print(params.table(columns=["#", "module", "type", "output", "activation", "params"]))
    _, c, h, w = params.root.input_shapes[0]  # the source's input row, 32×32×3
    print(f"input activation size: {h}×{w}×{c} = {h * w * c:,}")
    print()
    flops = torchcount.profile(small_convnet(), input_size=(1, 1, 28, 28), convention="2mac",
                               name="small convnet (seed 003, 2 FLOPs per MAC)")
    print(flops.table(columns=["#", "module", "type", "output", "MACs", "ops"]))
    print(f"total FLOPs (2 per MAC, bias not counted): {flops.total.flops:,}")
    return params, flops


if __name__ == "__main__":
    main()
