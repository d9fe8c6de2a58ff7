"""What quantization-aware training adds to a forward: seed 003's LeNet-like network
(examples/lenet_params.py) prepared by ``torch.ao.quantization.prepare_qat`` with the default x86
qconfig. Its contractions are unchanged (the same 849,320 MACs), but every weight and every
activation now goes through a fused fake quantizer (``FusedMovingAvgObsFakeQuantize``):

- its observer: a min and a max over each channel's elements, then moving averages, a scale and a
  zero point per channel: 2·(n − C) + 3·C comparisons, 2·C multiplications, 6·C additions and
  2·C divisions for n elements in C channels (weights: C = output channels; activations: C = 1);
- the fake quantization, round(x/s) + z clamped, minus z, times s, and the mask kept for the
  backward: per element 2 multiplications, 2 additions, 6 comparisons (and an assignment, free
  under the ``flops`` convention).

So one fake quantizer costs 12·n + 11·C FLOPs: FC3's weight (120×400, 120 channels)
12 × 48,000 + 11 × 120 = 577,320. For evaluation a QAT model usually stops its observers
(``disable_observer``): the fake quantization alone, 10·n FLOPs.

Run: ``.venv/bin/python examples/qat.py``
"""
import warnings

import torch
import torch.ao.quantization as tq
from torch import nn

import torchcount


class QATLeNet(nn.Module):
    """32×32×3 → CONV1 (5×5, 8) → POOL1 → CONV2 (5×5, 16) → POOL2 → FC3 → FC4 → FC5, between the
    quantize and dequantize stubs that eager-mode quantization needs."""

    def __init__(self):
        super().__init__()
        self.quant, self.dequant = tq.QuantStub(), tq.DeQuantStub()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 5), nn.MaxPool2d(2), nn.Conv2d(8, 16, 5), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10))

    def forward(self, x):
        return self.dequant(self.classifier(self.features(self.quant(x))))


def main():
    torch.manual_seed(0)
    x = torch.randn(1, 3, 32, 32)
    model = QATLeNet().train()
    float_report = torchcount.profile(model, x, name="float")
    model.qconfig = tq.get_default_qat_qconfig("x86")
    with warnings.catch_warnings():  # torch.ao.quantization's deprecation notice
        warnings.simplefilter("ignore")
        tq.prepare_qat(model, inplace=True)
    qat = torchcount.profile(model, x, name="prepared for QAT")
    print(qat.table(columns=["#", "module", "type", "output", "MACs", "FLOPs", "share"]))
    fake_quant = sum(row.flops for row in qat.layers if row.type == "FusedMovingAvgObsFakeQuantize")
    print(f"\nMACs: float {float_report.total.macs:,}, prepared for QAT {qat.total.macs:,}")
    print(f"FLOPs: float {float_report.total.flops:,}, prepared for QAT {qat.total.flops:,}; "
          f"fake quantizers {fake_quant:,} ({fake_quant / qat.total.flops:.1%} of the forward)")
    print(f"FC3's weight: {qat.row('classifier.1.weight_fake_quant').flops:,} FLOPs = 12 × 48,000 + 11 × 120")
    model.apply(tq.disable_observer)  # as for evaluating the QAT model
    evaluated = torchcount.profile(model, x, name="observers off")
    print(f"observers off: FC3's weight {evaluated.row('classifier.1.weight_fake_quant').flops:,} FLOPs "
          f"= 10 × 48,000; the forward {evaluated.total.flops:,} FLOPs; coverage {evaluated.coverage:.0%}")
    return float_report, qat, evaluated


if __name__ == "__main__":
    main()
