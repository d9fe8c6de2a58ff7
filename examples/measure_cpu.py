"""Theory beside measurement on the CPU: a small CNN profiled with measure=True.

    .venv/bin/python examples/measure_cpu.py

Prints the measured columns (time, share of time, achieved GFLOP/s, % of a measured ceiling,
arithmetic intensity, bound) and the summary lines: overhead, coverage, peaks, memory, energy
(unavailable on a CPU), time by bound and the layers whose share of time most exceeds their share
of FLOPs.

On one CPU thread the MaxPool2d takes most of the time for a fraction of a percent of the FLOPs,
and its bound is "latency": its time is neither its arithmetic, its traffic nor the cost of a call
(the per-call floor, measured in the model's forward after each module call). PyTorch's CPU max
pooling of an NCHW tensor is slow; the same pooling on a channels-last copy
(``x.contiguous(memory_format=torch.channels_last)``) runs about 17 times faster here. The Linear
and Flatten at the end are "overhead": their calls cost their time. Summed by layer type
(``report.by_type()``), the max pooling's time share stands beside its FLOPs share in one line.

Then a 4× nearest upsampling of the first convolution's output: 67 MB out, above glibc's largest
mapping threshold (32 MiB), so each call gets memory fresh from the system and faults once per
4 KiB page as it writes it (16,385 faults here). Counted in the floor-probing pass and priced at a
probed fault's time, the faults are more than half its time (its reason and the footer say so); the
bound is that of the rest: memory (docs/measure.md, "Page faults").
"""
import torch
from torch import nn

import torchcount
from torchcount.measure import details

torch.manual_seed(0)
torch.set_num_threads(1)  # steadier per-layer times on a shared machine
model = nn.Sequential(
    nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
    nn.MaxPool2d(2),
    nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10),
).eval()

report = torchcount.profile(model, torch.randn(8, 3, 64, 64), measure=True, warmup=3, repeat=10,
                            ceiling=True, energy=True)
print(report.table(columns=["#", "module", "type", "ops", "share", "time_ms", "self_ms", "time%", "GFLOP/s",
                            "%peak", "AI", "bound", "act_MiB"]))
print()
print("conv 4:", details(report, "4")["why"])
print("max pool 3:", details(report, "3")["why"])
print("linear 9:", details(report, "9")["why"])
print()
print(report.by_type())  # the same rows summed by layer type: time share beside FLOPs share

upsampling = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Upsample(scale_factor=4)).eval()
report = torchcount.profile(upsampling, torch.randn(8, 3, 64, 64), measure=True, warmup=3, repeat=10,
                            ceiling=True)
print()
print(report.table(columns=["#", "module", "type", "time_ms", "time%", "GFLOP/s", "AI", "bound"]))
print()
print("upsample 2:", details(report, "2")["page_faults"], "page faults;", details(report, "2")["why"])
