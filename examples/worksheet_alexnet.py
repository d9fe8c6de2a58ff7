"""Spec §1 (seed 002): the AI61002 worksheet's AlexNet-like network on a 3×227×227 input.

Run: python examples/worksheet_alexnet.py
Prints the worksheet convention table (params and ops per layer: 61,100,840 params and
793,400,040 ops in total) and the worked solution of the first convolution.
"""
import torch
from torch import nn

import torchcount


def worksheet_alexnet() -> nn.Sequential:
    """The worksheet's 20 layers (plus the Flatten the worksheet leaves implicit)."""
    return nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(4, 2),
        nn.Dropout(), nn.Flatten(),
        nn.Linear(9216, 4096), nn.ReLU(), nn.Dropout(),
        nn.Linear(4096, 4096), nn.ReLU(),
        nn.Linear(4096, 1000),
    ).eval()


def main() -> torchcount.Report:
    model = worksheet_alexnet()
    report = torchcount.profile(model, input_size=(1, 3, 227, 227), convention="worksheet",
                                name="AlexNet-like (worksheet, seed 002)")
    print(report.table(columns=["#", "module", "type", "output", "params", "ops"]))
    print()
    print(report.explain("0"))
    return report


if __name__ == "__main__":
    main()
