"""A cost check for CI: keep a model's profile as a JSON baseline and fail when a change makes the
model cost more than a tolerance allows.

Run: python examples/cost_check.py                       (a demonstration in a temporary folder)
     python examples/cost_check.py --baseline cost.json  (the first run writes it; later runs check)

The baseline is an ordinary export (``report.to_json(path)``, or ``torchcount MODEL --format json
--output cost.json``); ``torchcount.load_report`` reads it back as a report, and
``torchcount.compare`` puts today's profile beside it, layer by layer. The same from the command
line, without Python: ``torchcount cost.json --compare examples/cost_check.py:candidate --input 1x3x32x32``.

The demonstration profiles seed 003's LeNet-like network as the baseline, checks it again
(unchanged: pass), then checks a candidate whose FC4 is widened from 84 to 96 outputs: by hand
120·12 + 12·10 = 1,560 MACs more (FC4's new rows, FC5's new inputs), which the tolerance of 0.1 %
does not allow.
"""
import argparse
import sys
import tempfile
from pathlib import Path

from torch import nn

import torchcount
from lenet_params import lenet

INPUT = (1, 3, 32, 32)


def candidate() -> nn.Sequential:
    """The change under review: LeNet-like with FC4 widened from 84 to 96 outputs."""
    model = lenet()
    model[6], model[7] = nn.Linear(120, 96), nn.Linear(96, 10)
    return model.eval()


def check(baseline_path: Path, model: nn.Module, tolerance_percent: float, label: str) -> bool:
    """Profile ``model``, put it beside the saved baseline, and say whether its FLOPs grew by more
    than ``tolerance_percent``."""
    saved = torchcount.load_report(baseline_path)
    now = torchcount.profile(model, input_size=INPUT, name=label)
    comparison = torchcount.compare(saved, now, depth=1, names=("baseline", label))
    before, after = comparison.ops.a, comparison.ops.b
    growth = 100.0 * (after - before) / before
    ok = growth <= tolerance_percent and now.complete
    print(f"{label}: FLOPs {before:,} → {after:,} ({growth:+.2f} %), tolerance {tolerance_percent} %: "
          f"{'pass' if ok else 'fail'}")
    if not ok:
        print(comparison.table())
    return ok


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, help="the saved profile (written when it does not exist)")
    parser.add_argument("--tolerance", type=float, default=0.1, help="allowed FLOPs growth in %% (default 0.1)")
    args = parser.parse_args(argv)
    if args.baseline is not None:  # the CI form: write once, then check every run
        if not args.baseline.exists():
            torchcount.profile(lenet(), input_size=INPUT, name="LeNet-like (seed 003)").to_json(args.baseline)
            print(f"wrote the baseline {args.baseline}")
            return 0
        return 0 if check(args.baseline, candidate(), args.tolerance, "candidate") else 1

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cost.json"
        baseline = torchcount.profile(lenet(), input_size=INPUT, name="LeNet-like (seed 003)")
        baseline.to_json(path)
        print(f"baseline: {baseline.model_name}, {baseline.total.params:,} params, {baseline.total.macs:,} MACs, "
              f"{baseline.total.flops:,} FLOPs, saved as JSON")
        check(path, lenet(), args.tolerance, "unchanged")
        passed = check(path, candidate(), args.tolerance, "FC4 widened 84 → 96")
        extra = torchcount.profile(candidate(), input_size=INPUT).total.macs - baseline.total.macs
        print(f"by hand: 120·12 + 12·10 = {120 * 12 + 12 * 10:,} MACs more; torchcount: {extra:,}")
        print(f"in CI this check would exit {0 if passed else 1}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
