"""Which layers a change of memory layout speeds up: ResNet-18 on the CPU in NCHW and in
channels_last, measured, and compared layer type by layer type.

    .venv/bin/python examples/channels_last.py

Both profiles count the same work (the totals' FLOPs, MACs and bytes are equal); only the measured
times differ. ``torchcount.compare(a, b, by="type", metric="time_ms")`` sets each layer type's own
time per forward side by side. On one thread of the 2-core AMD EPYC machine of 2026-12-06 (five runs,
other work running during some) the max pooling ran 15 to 17.5 times faster in channels_last
(6.1 → 0.35–0.40 ms: PyTorch's NCHW CPU max pooling has no fast kernel), while the convolutions ran
8 to 15 % slower and the batch norms 16 to 51 % slower; over the whole forward they nearly cancel
(the two forwards within 6 % of each other, either way). Times move with the machine; the comparison says where to look.

Saved reports compare the same way on the command line: after ``nchw.to_json("nchw.json")`` and
``nhwc.to_json("nhwc.json")``, ``torchcount nchw.json --compare nhwc.json --by-type --metric time_ms``.
"""
import torch
import torchvision

import torchcount

torch.manual_seed(0)
torch.set_num_threads(1)  # steadier per-layer times on a shared machine
model = torchvision.models.resnet18().eval()
x = torch.randn(4, 3, 112, 112)

nchw = torchcount.profile(model, x, measure=True, warmup=2, repeat=7, name="NCHW")
model = model.to(memory_format=torch.channels_last)
nhwc = torchcount.profile(model, x.contiguous(memory_format=torch.channels_last), measure=True, warmup=2,
                          repeat=7, name="channels_last")

print(torchcount.compare(nchw, nhwc, by="type", metric="time_ms"))
print()
print("the same work on both sides:", nchw.total.cost == nhwc.total.cost)
