"""A torch.export program counted and timed per original layer, as the eager model is.

``torch.export.export(model, args).module()`` is one GraphModule: its submodules only hold the
parameters, and the layers without any (ReLU, pooling) are gone. torchcount reads each node's
``nn_module_stack`` and gives every original layer its row again, priced from the aten ops it ran,
and with ``measure=True`` timed over its span of the graph (docs/coverage.md, "torch.export").

Run: ``.venv/bin/python examples/exported_program.py``. The closed forms checked here:
the convolution 2·8·8·8 outputs × 3·3·3 MACs each = 27,648; the Linear 2 × 128·10 = 2,560.
"""
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn

import torchcount
from torchcount.cli import main as main_cli


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        return self.head(self.features(x).flatten(1))


def export(model: nn.Module, x: torch.Tensor):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (torch's own deprecation warnings)
        return torch.export.export(model, (x,))


def main() -> None:
    torch.manual_seed(0)
    model, x = CNN().eval(), torch.randn(2, 3, 8, 8)
    program = export(model, x)
    eager = torchcount.profile(model, x)
    exported = torchcount.profile(program.module(), x)

    print(exported.table(columns=["module", "type", "input", "output", "params", "MACs"]))
    print()
    conv, head = exported.row("features.0").cost.macs, exported.row("head").cost.macs
    print(f"features.0 (Conv2d): 2·8·8·8 × 3·3·3 = {2 * 8 * 8 * 8 * 27:,} MACs; torchcount: {conv:,}")
    print(f"head (Linear): 2 × 128·10 = {2 * 128 * 10:,} MACs; torchcount: {head:,}")
    same = all(exported.row(r.path).cost.macs == r.cost.macs for r in eager.layers if r.path)
    print(f"eager {eager.total.cost.macs:,} MACs, exported {exported.total.cost.macs:,} MACs; "
          f"every layer the same: {same}")

    # the mode is fixed when a model is exported: ep.module() refuses .eval(), and a note says which
    # layers a training-mode export runs so
    trained = torchcount.profile(export(CNN().train(), x).module(), x)
    print(next(n for n in trained.notes if n.startswith("exported in training mode")).split(" run ")[0])

    # each original layer timed over its span of the graph
    timed = torchcount.profile(program.module(), x, measure=True, warmup=1, repeat=5)
    layers = [r for r in timed.layers if r.path.startswith(("features.", "head"))]
    print("timed per layer: " + ", ".join(f"{r.path} {r.extra['time_ms']:.3f} ms" for r in layers))

    # a saved program: the command counts it from the file, with the inputs it was exported with
    # (docs/cli.md); here `torchcount cnn.pt2 --depth 1`, its note on the inputs on stderr
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cnn.pt2"
        torch.export.save(program, path)
        print(f"$ torchcount {path.name} --depth 1")
        main_cli([str(path), "--depth", "1"])


if __name__ == "__main__":
    main()
