"""What a CUDA timing stamp costs the host: the measured passes of ``profile(measure=True)`` take two
stamps per module call (a pooled ``torch.cuda.Event`` recorded on the device's current stream), and
on a launch-bound forward (batch 1 on an H200: gpu_checks_nvidia_h200_20261204.md) that host time
is the instrumentation overhead (×1.4–1.9 there). Each line is host time per call, median of 7
repeats of N calls, so that a change to ``CudaClock.stamp`` can be judged:

    PYTHONPATH=. python3 benchmarks/cuda_stamps.py --out "$OUT/"     # on the lent GPU machine

Without a CUDA device it exits, saying so.
"""
from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))

from torchcount.measure.timing import CudaClock, timing_hooks  # noqa: E402


def per_call_us(fn, n: int, repeats: int = 7) -> float:
    for _ in range(min(n, 200)):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        times.append((time.perf_counter() - t0) / n * 1e6)
    return statistics.median(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20000, help="calls per repeat")
    ap.add_argument("--modules", type=int, default=200, help="Identity modules in the stamped chain")
    ap.add_argument("--out", default=None, help="a folder (or file) for the markdown; default benchmarks/results/")
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        sys.exit("cuda_stamps: needs a CUDA device")
    dev = torch.device("cuda")
    event = torch.cuda.Event(enable_timing=True)
    stream = torch.cuda.current_stream(dev)
    clock = CudaClock(dev)

    def stamp():  # as a pass does: the pool reused, restarted every 1000 stamps
        if clock._n >= 1000:
            clock.start_pass()
        clock.stamp()

    rows = [
        ("torch.cuda.current_stream(device)", per_call_us(lambda: torch.cuda.current_stream(dev), args.n)),
        ("event.record(stream), the stream looked up once", per_call_us(lambda: event.record(stream), args.n)),
        ("event.record() (the current device's stream)", per_call_us(lambda: event.record(), args.n)),
        ("event.record(torch.cuda.current_stream(device))",
         per_call_us(lambda: event.record(torch.cuda.current_stream(dev)), args.n)),
        ("CudaClock.stamp() (what a stamp costs now)", per_call_us(stamp, args.n)),
    ]
    torch.cuda.synchronize(dev)
    # a chain of modules that launch nothing: a forward's host time with and without the stamps
    chain = nn.Sequential(*[nn.Identity() for _ in range(args.modules)]).to(dev)
    x = torch.zeros(1, device=dev)
    calls = max(args.n // args.modules, 20)
    plain = per_call_us(lambda: chain(x), calls)
    with torch.no_grad(), timing_hooks(chain, clock) as hooks:
        def stamped():
            hooks.reset()
            clock.start_pass()
            chain(x)
        hooked = per_call_us(stamped, calls)
    torch.cuda.synchronize(dev)
    rows.append((f"a stamped module call (two stamps and the hooks' work), over {args.modules} Identity modules",
                 (hooked - plain) / (args.modules + 1)))

    now = datetime.datetime.now(datetime.timezone.utc)
    name = torch.cuda.get_device_name(dev)
    text = "\n".join([
        "# Host cost of a CUDA timing stamp", "",
        f"Produced by `benchmarks/cuda_stamps.py`: host time per call, median of 7 repeats of {args.n} calls.", "",
        f"- date: {now:%Y-%m-%d %H:%M} UTC", f"- device: {name}",
        f"- versions: torch {torch.__version__}, CUDA {torch.version.cuda}", "",
        "| what | µs per call |", "|---|---:|",
        *[f"| {what} | {us:.2f} |" for what, us in rows], ""])
    print(text)
    slug = "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_")[:40]
    default = f"cuda_stamps_{slug}_{now:%Y%m%d}.md"
    out = Path(args.out) if args.out else ROOT / "results"
    path = out / default if (args.out is None or args.out.endswith("/") or out.is_dir()) else out
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(f"written: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
