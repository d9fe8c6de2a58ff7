"""Each example of issue 2 runs as a script and prints the spec's numbers."""
from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import needs

ROOT = Path(__file__).resolve().parents[1]


def _doc_block(doc: str, after: str) -> list[str]:
    """The lines of the indented block that follows ``after`` in docs/``doc`` (what a doc says a script prints)."""
    text = (ROOT / "docs" / doc).read_text()
    block = text[text.index(after):].split("\n\n")[1]
    return [line[4:] for line in block.splitlines()]


def _count_columns(lines: list[str]) -> list[str]:
    """Each line of a measured table up to its share column: the counts, not the times."""
    end = lines[0].index("share") + len("share")
    return [line[:end] for line in lines]

EXPECTED = {
    # spec §1: per-layer params and ops, totals, and the worked solution of the first conv
    "worksheet_alexnet.py": [
        "23,296", "73,056,256", "401,408", "150,528", "307,392", "240,995,328", "663,936", "130,131,456",
        "884,992", "173,458,432", "590,080", "115,655,680", "138,240", "37,752,832", "16,781,312",
        "4,097,000", "61,100,840", "793,400,040", "((3×11×11) + 1)×64 = 23,296",
    ],
    # spec §2: the parameter table with activation sizes, and 2 FLOPs per MAC
    "lenet_params.py": [
        "6,272", "608", "1,568", "3,216", "48,120", "10,164", "850", "62,958", "input activation size: 32×32×3 = 3,072",
        "60,840", "259,200", "737,280", "2,560", "total FLOPs (2 per MAC, bias not counted): 1,059,880",
    ],
    # spec §3: output size, params, multiplications, bottleneck
    "conv_arithmetic.py": [
        "output: 18×18×224", "params: 3·3·22·224 = 44,352", "= 14,370,048", "635,299,392",
        "direct:     1,714,608,000 multiplications",
        "bottleneck: 8,748,000 + 82,301,184 = 91,049,184 multiplications",
        "reduction:  94.69% (1,623,558,816 fewer)",
    ],
    # seed 003's small convnet trained one step: forward 26²·5·9 + 24²·5·45 + 2880·128 + 128·10 MACs
    # (twice it is spec §2's 1,059,880 FLOPs); the backward twice that, less conv 1's input gradient
    "train_step.py": [
        "forward:  529,940 MACs", "backward: 1,029,460 MACs = 2 × 529,940 − 30,420",
        "training step: 1,559,400 MACs = 2.94 forwards; coverage 100%",
        "gradients put back: True; weights put back: True; optimizer state put back: True",
        # its backward_MACs column: conv 1's weight gradient only, every other contraction 2 × its forward
        "30,420           30,420", "129,600          259,200", "368,640          737,280", "1,280            2,560",
        # the same step as a function given the model: the same MACs, the weights put back again
        "as a function, train_step(SmallConvNet): 1,559,400 MACs; weights put back: True",
    ],
    # seed 003's LeNet prepared for QAT: the float MACs 28²·8·75 + 10²·16·200 + 400·120 + 120·84 + 84·10;
    # one fused fake quantizer of n elements in C channels is 12·n + 11·C FLOPs, 10·n with its observer off
    "qat.py": [
        "MACs: float 849,320, prepared for QAT 849,320",
        "FC3's weight: 577,320 FLOPs = 12 × 48,000 + 11 × 120",
        "observers off: FC3's weight 480,000 FLOPs = 10 × 48,000",
        "coverage 100%",
    ],
    # a two-layer GCN on a 10×10 grid (N = 100, nnz(Â) = N + 2·180 = 460), 16 → 8 → 4 features:
    # N·16·8 + nnz·8 + N·8·4 + nnz·4; the dense Â·(H·W) would be N²·8 + N²·4
    "gcn.py": [
        "N = 100, nnz(Â) = 460",
        "closed form: 100·16·8 + 460·8 + 100·8·4 + 460·4 = 21,520 MACs; torchcount: 21,520",
        "the same adjacency as CSR: 21,520 MACs",
        "Â·(H·W): sparse 5,520 MACs, as a dense matrix 120,000 MACs (22× as many); coverage 100%",
    ],
    # the lecture's table (seed 001), as docs/analyses.md shows it: params fixed under weight sharing;
    # MACs ∝ T (MLP, 1-D CNN, LSTM), ∝ T² (2-D CNN on T×T), attention scores ∝ T²; the LSTM's steps ∝ T
    "scaling.py": _doc_block("analyses.md", "What `examples/scaling.py` prints"),
    # a torch.export program per original layer: the conv 2·8·8·8 × 27 MACs, the Linear 2 × 128·10, the
    # eager model's rows; the training-mode note; the command reading the saved file with its own inputs
    "exported_program.py": [
        "features.0 (Conv2d): 2·8·8·8 × 3·3·3 = 27,648 MACs; torchcount: 27,648",
        "head (Linear): 2 × 128·10 = 2,560 MACs; torchcount: 2,560",
        "eager 30,208 MACs, exported 30,208 MACs; every layer the same: True",
        "exported in training mode: features.1 (BatchNorm2d)",
        "timed per layer: features.0 ", "$ torchcount cnn.pt2 --depth 1",
        "     total                                         1,530  30,208           67,364   100.0%",
    ],
    # a saved baseline read back and compared: seed 003's LeNet-like (spec §2's 62,958 params; MACs
    # 28²·8·75 + 10²·16·200 + 400·120 + 120·84 + 84·10), then FC4 widened 84 → 96: FC4's FLOPs
    # 2·120·84 + 84 = 20,244 → 2·120·96 + 96 = 23,136, 1,560 MACs more in all
    "cost_check.py": [
        "baseline: LeNet-like (seed 003), 62,958 params, 849,320 MACs",
        "unchanged: FLOPs 1,712,678 → 1,712,678 (+0.00 %), tolerance 0.1 %: pass",
        "FC4 widened 84 → 96: FLOPs 1,712,678 → 1,715,810 (+0.18 %), tolerance 0.1 %: fail",
        "Linear      20,244  Linear      23,136", "by hand: 120·12 + 12·10 = 1,560 MACs more; torchcount: 1,560",
        "in CI this check would exit 1",
    ],
    # spec §3's chain (4, 7, 13), WaveNet's dilations (2, 4, 8, 16); ResNet-18's last conv 435; ConvNeXt-Tiny's
    # last depthwise conv 4 + 3·6·4 + 4 + 3·6·8 + 8 + 9·6·16 + 16 + 3·6·32 = 1688, through its permutes
    "receptive_field.py": [
        "4×4                1×1     1.5×1.5", "7×7                2×2     3×3", "13×13              4×4     6×6",
        "16                 1       7.5",
        "ResNet-18: the last convolution 'layer4.1.conv2' sees 435×435 input pixels, jump 32",
        "ConvNeXt-Tiny: the last depthwise convolution 'features.7.2.block.0' sees 1688×1688 input pixels, jump 32",
        # (its SE gates' field by the windows alone: that of the network without them, tests/test_receptive_field.py)
        "MobileNetV3-small: 'features.12.2' sees the whole input through its gates; along its windows alone "
        "639×639 pixels, jump 32",
        # the U-Net: 32 (jump 4) at the bottleneck; after the ups, 4 of its positions: 32 + 3·4 (the docstring)
        "U-Net: the output sees 44×44 input pixels, jump 1; after the second up, the first convolution's field is "
        "40 or 44 pixels high, by position",
    ],
    # measured, so only what does not move with the machine: the table's lines and the equal counts
    "channels_last.py": [
        "per layer type, measured time (ms):", "MaxPool2d", "Conv2d", "the same work on both sides: True",
    ],
    # measured, so only the counts: docs/analyses.md's by-type table of it, each row up to its share column
    # (the rows are sorted by time, so each is looked for alone); the upsampling's line comes after it
    "measure_cpu.py": [*_count_columns(_doc_block("analyses.md", "The small CNN of `examples/measure_cpu.py`")),
                       "time by bound", "upsample 2: "],
    # a user's op rule for a torch.library.custom_op (soft thresholding: 3 operations per element) on an
    # 8×64 input after nn.Linear(64, 64): 3·512 FLOPs, and 2·8·64·64 + 8·64 + 3·512 in all; its bytes its
    # operand's and output's, 512 float32 each; uncounted (1 of 2 items) before the rule
    "custom_op_rule.py": [
        "without a rule: coverage 50%, uncounted: torchcount_example.soft_threshold.default ×1 in '(root)'",
        "soft_threshold on 8×64: 3 · 512 = 1,536 FLOPs by hand; torchcount: 1,536",
        "by hand: 2 · 32,768 + 512 + 1,536 = 67,584 FLOPs; torchcount: 67,584; coverage 100%",
        "read 2,048 = 512 × 4, written 2,048",
        "  comparisons |x| > t [cmps, weight 1] = n = 512",
        "on the meta device: 67,584 FLOPs",
    ],
    # spec §4: 63 frames of the conv graph's 271,906 multiplications; the FFT form per frame
    "melspectrogram.py": [
        "frames: 63", "271,906 multiplications per frame × 63 = 17,130,078; torchcount: 17,130,078",
        "FFT form: 889,245 multiplications (14,115 per frame)",
    ],
}


def _run(script):
    return subprocess.run([sys.executable, str(ROOT / "examples" / script)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


# Every example started together (two at a time) when the first test needs one: each costs a
# Python + torch start-up of about 4 s, mostly single-threaded, so two overlap on CI's 2 cores.
_futures = {}


def finished(script):
    if not _futures:
        pool = ThreadPoolExecutor(max_workers=2)
        for name in sorted(EXPECTED):
            _futures[name] = pool.submit(_run, name)
        pool.shutdown(wait=False)
    return _futures[script].result()


#: examples that need a feature newer than torch 2.2 (the oldest supported)
NEEDS = {"exported_program.py": "torch.export naming each node's module by its path",
         "custom_op_rule.py": "torch.library.custom_op"}


@pytest.mark.parametrize("script", [pytest.param(s, marks=needs(NEEDS[s])) if s in NEEDS else s
                                    for s in sorted(EXPECTED)])
def test_example_prints_the_spec_numbers(script):
    result = finished(script)
    assert result.returncode == 0, result.stderr[-2000:]
    missing = [s for s in EXPECTED[script] if s not in result.stdout]
    assert missing == [], result.stdout[-3000:]
    assert "Traceback" not in result.stderr


def test_the_cost_check_writes_its_baseline_then_fails_ci_on_the_wider_candidate(tmp_path):
    """examples/cost_check.py --baseline: the first run writes the file (exit 0), the next checks the
    candidate against it and exits 1 (its FLOPs grew 0.18 %, over the 0.1 % tolerance), and 0 with a
    tolerance of 1 %."""
    script, baseline = ROOT / "examples" / "cost_check.py", tmp_path / "cost.json"

    def run(*extra):
        return subprocess.run([sys.executable, str(script), "--baseline", str(baseline), *extra], cwd=ROOT,
                              capture_output=True, text=True, timeout=300)

    first = run()
    assert first.returncode == 0 and "wrote the baseline" in first.stdout and baseline.exists()
    assert run().returncode == 1
    assert run("--tolerance", "1").returncode == 0
