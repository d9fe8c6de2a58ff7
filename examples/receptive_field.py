"""Receptive field, jump and start offset per layer (spec §3, seed 004), plus a real network.

Run: python examples/receptive_field.py
1. The worksheet stack: three 4-wide kernels with strides 1, 2, 2 → receptive fields 4, 7, 13.
2. A dilated 1-D stack (WaveNet-like, kernel 2, dilations 1, 2, 4, 8) → 2, 4, 8, 16.
3. torchvision's VGG-11 features (2-D, padding 1, max-pooling), its average pool (7×7 to 7×7 at
   224×224: no change of field) and the first classifier layer, behind the flatten where the
   analysis says the field becomes the whole input; ResNet-18 (residual branches): 435×435.
4. ConvNeXt-Tiny, whose blocks permute to channels-last and back: its last depthwise conv sees
   1688×1688 input pixels (4 + 3·6·4 + 4 + 3·6·8 + 8 + 9·6·16 + 16 + 3·6·32), jump 32.
5. MobileNetV3-small, whose squeeze-and-excitation gates (a global mean) make every later layer see the
   whole input; along its windows alone, as textbooks count it, its last layer sees 639×639 pixels.
6. A U-Net (two 3×3 convolutions per level, two max-pool downs, two 2×2 stride-2 transposed-convolution
   ups, skips concatenated): the encoder gives 5, 14, 32 (jump 4). A transposed convolution k2 s2 puts
   its input's position ⌊x/2⌋ at x, so the first decoder's two convolutions read 2, then 3 of the
   bottleneck's positions (32 + 4 = 36, 40). After the second up, a convolution reads 2 of the first
   decoder's positions, which together cover 3 or 4 bottleneck positions: 40 or 44 by position. The
   next one reads 3, always 4 bottleneck positions: the output sees 32 + 3·4 = 44×44 pixels.
"""
import torch
from torch import nn

import torchcount


class DoubleConv(nn.Sequential):
    def __init__(self, c_in, c_out):
        super().__init__(nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(), nn.Conv2d(c_out, c_out, 3, padding=1),
                         nn.ReLU())


class UNet(nn.Module):
    """A small U-Net (Ronneberger et al. 2015, with padded convolutions): two max-pool downs, two
    transposed-convolution ups, skip connections concatenated."""

    def __init__(self, c=8):
        super().__init__()
        self.inc, self.down1, self.down2 = DoubleConv(1, c), DoubleConv(c, 2 * c), DoubleConv(2 * c, 4 * c)
        self.pool = nn.MaxPool2d(2)
        self.up1, self.up2 = nn.ConvTranspose2d(4 * c, 2 * c, 2, stride=2), nn.ConvTranspose2d(2 * c, c, 2, stride=2)
        self.dec1, self.dec2 = DoubleConv(4 * c, 2 * c), DoubleConv(2 * c, c)
        self.out = nn.Conv2d(c, 1, 1)

    def forward(self, x):
        x1 = self.inc(x)
        x2 = self.down1(self.pool(x1))
        x3 = self.down2(self.pool(x2))
        y = self.dec1(torch.cat([x2, self.up1(x3)], 1))
        y = self.dec2(torch.cat([x1, self.up2(y)], 1))
        return self.out(y)


def main():
    worksheet = nn.Sequential(nn.Conv2d(1, 1, 4, stride=1), nn.Conv2d(1, 1, 4, stride=2),
                              nn.Conv2d(1, 1, 4, stride=2))
    print(torchcount.receptive_field(worksheet, torch.randn(1, 1, 32, 32)), end="\n\n")

    dilated = nn.Sequential(*[nn.Conv1d(8, 8, 2, dilation=d) for d in (1, 2, 4, 8)])
    print(torchcount.receptive_field(dilated, torch.randn(1, 8, 100)), end="\n\n")

    # upsampling: fields position by position (a transposed convolution puts position ⌊x/2⌋ at x)
    unet = torchcount.receptive_field(UNet().eval(), torch.randn(1, 1, 64, 64))
    widths = sorted({hi - lo + 1 for lo, hi in (unet.row("dec2.0").box((x, 0))[0] for x in range(8))})
    print(f"U-Net: the output sees {unet.row('out').rf[0]}×{unet.row('out').rf[1]} input pixels, jump "
          f"{unet.row('out').jump[0]}; after the second up, the first convolution's field is "
          f"{' or '.join(map(str, widths))} pixels high, by position", end="\n\n")

    try:
        import torchvision
    except ImportError:
        return
    vgg = torchvision.models.vgg11()
    model = nn.Sequential(vgg.features, vgg.avgpool, nn.Flatten(), vgg.classifier[0]).eval()
    report = torchcount.profile(model, input_size=(1, 3, 224, 224))
    rf = torchcount.receptive_field(report)  # also adds RF/jump/start columns to the report
    print(rf)
    print()
    print(report.table(columns=["module", "type", "output", "RF", "jump", "start", "ops"], depth=2))

    # a branching network: residual downsamples are branches, block outputs merge them
    resnet = torchcount.receptive_field(torchvision.models.resnet18().eval(), input_size=(1, 3, 224, 224))
    last = [r for r in resnet.rows if r.kind == "window"][-1]
    print(f"\nResNet-18: the last convolution '{last.path}' sees {last.rf[0]}×{last.rf[1]} input pixels, "
          f"jump {last.jump[0]}")

    # the spatial axes are followed through permutes: each block's LayerNorm and Linears run on N×H×W×C
    convnext = torchcount.receptive_field(torchvision.models.convnext_tiny().eval(), input_size=(1, 3, 64, 64))
    last = [r for r in convnext.rows if r.kind == "window"][-1]
    print(f"ConvNeXt-Tiny: the last depthwise convolution '{last.path}' sees {last.rf[0]}×{last.rf[1]} input "
          f"pixels, jump {last.jump[0]}")

    # behind a gate computed from a global mean every element sees the whole input; the windows alone are said too
    mobilenet = torchcount.receptive_field(torchvision.models.mobilenet_v3_small().eval(), input_size=(1, 3, 64, 64))
    last = [r for r in mobilenet.rows if r.local_rf is not None][-1]
    print(f"MobileNetV3-small: '{last.path}' sees the whole input through its gates; along its windows alone "
          f"{last.local_rf[0]}×{last.local_rf[1]} pixels, jump {last.local_jump[0]}")


if __name__ == "__main__":
    main()
