"""The ``torchcount`` command: ``torchcount resnet50 --input 1x3x224x224``."""
from __future__ import annotations

import argparse
import sys

import torch


def _parse_shape(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(s) for s in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad shape {text!r}: expected e.g. 1x3x224x224") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="torchcount", description="Per-layer params, MACs and FLOPs of a model.")
    p.add_argument("model", help="a torchvision model builder name, e.g. resnet50")
    p.add_argument("--input", type=_parse_shape, action="append", help="input shape, e.g. 1x3x224x224")
    p.add_argument("--convention", default="flops")
    p.add_argument("--depth", type=int, default=None)
    return p


def main(argv: list[str] | None = None) -> int:
    from . import profile

    args = build_parser().parse_args(argv)
    import torchvision

    builder = getattr(torchvision.models, args.model, None)
    if builder is None:
        print(f"torchcount: unknown model {args.model!r}", file=sys.stderr)
        return 2
    with torch.device("meta"):
        model = builder().eval()
    shapes = args.input or [(1, 3, 224, 224)]
    report = profile(model, input_size=shapes if len(shapes) > 1 else shapes[0], convention=args.convention,
                     name=args.model)
    print(report.table(depth=args.depth))
    return 0


if __name__ == "__main__":
    sys.exit(main())
